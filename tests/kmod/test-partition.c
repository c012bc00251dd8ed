// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: CU partitions.  PART_SET and PART_ACK with every invalid field
 * on its own; exclusive targets never overlap; shared may overlap shared
 * but not exclusive; a shrink is a revocation the tenant acknowledges
 * (with the current generation) or that fences it at the deadline; growth
 * waits for the CUs to be free and is announced with PART_GRANTED; LIST of
 * partitions.  Every sub-test runs over ioctl and over uring_cmd.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

static int ctl;

/* ---- masks --------------------------------------------------------------- */

typedef __u64 mask_t[GPUMUX_MASK_WORDS];

static void mask_set(__u64 *m, unsigned int first, unsigned int n)
{
	unsigned int i;

	for (i = first; i < first + n && i < GPUMUX_MAX_CUS; i++)
		m[i / 64] |= 1ULL << (i % 64);
}

/* @m holds exactly CUs [first, first + n). */
static int mask_is(const __u64 *m, unsigned int first, unsigned int n)
{
	mask_t want = { 0 };

	mask_set(want, first, n);
	return !memcmp(m, want, sizeof(want));
}

static int mask_empty(const __u64 *m)
{
	mask_t zero = { 0 };

	return !memcmp(m, zero, sizeof(zero));
}

static void mask_str(const __u64 *m, char *buf, size_t len)
{
	unsigned int i, w = 0;

	buf[0] = 0;
	for (i = 0; i < GPUMUX_MASK_WORDS; i++)
		w += snprintf(buf + w, w < len ? len - w : 0, "%016llx",
			      (unsigned long long)m[GPUMUX_MASK_WORDS - 1 - i]);
}

#define T_MASK(m, first, n)                                      \
	do {                                                     \
		if (!mask_is((m), (first), (n))) {               \
			char _s[GPUMUX_MASK_WORDS * 16 + 1];     \
			mask_str((m), _s, sizeof(_s));           \
			t_fail(__FILE__, __LINE__,               \
			       "%s = ...%s, want CUs %u-%u", #m, \
			       _s + sizeof(_s) - 17, (first),    \
			       (first) + (n)-1);                 \
		}                                                \
	} while (0)

static int pset_mask(unsigned int tenant, unsigned int gpu, const __u64 *mask,
		     unsigned int flags, unsigned int deadline_ms,
		     uint64_t *gen, enum gm_path p)
{
	struct gpumux_part_set s = {
		.tenant_id = tenant,
		.gpu_id = gpu,
		.flags = flags,
		.deadline_ms = deadline_ms,
	};
	int ret;

	memcpy(s.mask, mask, sizeof(s.mask));
	ret = GM_CMD(ctl, GPUMUX_CMD_PART_SET, &s, p);
	if (ret >= 0 && gen)
		*gen = s.generation;
	return ret;
}

static int pset(unsigned int tenant, unsigned int gpu, unsigned int first,
		unsigned int n, unsigned int flags, unsigned int deadline_ms,
		uint64_t *gen, enum gm_path p)
{
	return gm_part_set_range(ctl, tenant, gpu, first, n, flags, deadline_ms,
				 gen, p);
}

static int ack(int tfd, unsigned int gpu, uint64_t gen, enum gm_path p)
{
	struct gpumux_part_ack a = { .gpu_id = gpu, .generation = gen };

	return GM_CMD(tfd, GPUMUX_CMD_PART_ACK, &a, p);
}

/* A partition that holds nothing: gone from the list, or empty masks. */
static int part_gone_or_empty(unsigned int tenant, unsigned int gpu,
			      enum gm_path p)
{
	struct gpumux_part_info pi;
	int ret = gm_part_get(ctl, tenant, gpu, &pi, p);

	if (ret == -ENOENT)
		return 1;
	return ret == 0 && mask_empty(pi.active) && mask_empty(pi.target);
}

/* ---- fixture: one GPU and a few tenants ---------------------------------- */

#define NTEN 3

struct fx {
	int gpu;
	unsigned int tid[NTEN];
	int tfd[NTEN];
};

static int fx_setup(struct fx *f, unsigned int cus, unsigned int max_cus,
		    const char *what, enum gm_path p)
{
	char ident[64], name[32];
	int i, ok = 1;

	memset(f, 0, sizeof(*f));
	snprintf(ident, sizeof(ident), "test:partition:%d:%s:%s", getpid(),
		 what, PN(p));
	f->gpu = gm_gpu_add(ctl, cus, ident, p);
	if (f->gpu < 0) {
		t_fail(__FILE__, __LINE__, "gpu_add %s: %s", ident,
		       strerror(-f->gpu));
		ok = 0;
	}
	for (i = 0; i < NTEN; i++) {
		snprintf(name, sizeof(name), "part-%c", 'a' + i);
		f->tfd[i] = gm_tenant_create(ctl, name, max_cus, 1 << 20,
					     &f->tid[i], p);
		if (f->tfd[i] < 0) {
			t_fail(__FILE__, __LINE__, "tenant_create: %s",
			       strerror(-f->tfd[i]));
			ok = 0;
		} else {
			fcntl(f->tfd[i], F_SETFL, O_NONBLOCK);
		}
	}
	gm_drain(ctl);
	return ok;
}

static void fx_teardown(struct fx *f, enum gm_path p)
{
	int i, ret;

	for (i = 0; i < NTEN; i++) {
		if (f->tfd[i] >= 0) {
			gm_fence(ctl, f->tid[i], GPUMUX_FENCE_CLEAR, p);
			close(f->tfd[i]);
		}
	}
	if (f->gpu > 0) {
		ret = gm_gpu_remove(ctl, f->gpu, p);
		if (ret)
			t_fail(__FILE__, __LINE__, "gpu_remove at teardown: %s",
			       strerror(-ret));
	}
	gm_drain(ctl);
}

/* ---- PART_SET: granting and conflicts ------------------------------------ */

static void t_set_valid(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_gpu_info gi;
	struct fx f;
	mask_t m = { 0 };
	uint64_t gen = 0, gen2 = 0;
	char prefix[64], line[1024], want[512];

	t_begin("part_set/grant_free/%s", PN(p));
	if (fx_setup(&f, 64, 18, "valid", p)) {
		mask_set(m, 0, 16);
		mask_set(m, 32, 1);
		T_EQ(pset_mask(f.tid[0], f.gpu, m, GPUMUX_PART_EXCLUSIVE, 0,
			       &gen, p),
		     0);
		T_ASSERT(gen > 0);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.tenant_id, f.tid[0]);
		T_EQ(pi.gpu_id, f.gpu);
		T_EQ(pi.flags, GPUMUX_PART_EXCLUSIVE);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_EQ(pi.generation, gen);
		T_EQ(memcmp(pi.active, m, sizeof(m)), 0);
		T_EQ(memcmp(pi.target, m, sizeof(m)), 0);
		T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
		T_EQ(gi.cus_exclusive, 17);
		T_EQ(gi.cus_shared, 0);
		snprintf(prefix, sizeof(prefix), "part %u %d ", f.tid[0],
			 f.gpu);
		snprintf(
			want, sizeof(want),
			"part %u %d flags=0 state=stable gen=%llu active=0-15,32 target=0-15,32",
			f.tid[0], f.gpu, (unsigned long long)gen);
		if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
		    strcmp(line, want))
			t_fail(__FILE__, __LINE__, "state '%s', want '%s'",
			       line, want);
	}
	t_end();

	t_begin("part_set/grow_bumps_generation/%s", PN(p));
	mask_set(m, 16, 1);
	T_EQ(pset_mask(f.tid[0], f.gpu, m, 0, 0, &gen2, p), 0);
	T_ASSERT(gen2 > gen);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_STABLE);
	T_EQ(pi.generation, gen2);
	T_EQ(memcmp(pi.active, m, sizeof(m)), 0);
	t_end();

	t_begin("part_set/shrink_needs_deadline/%s", PN(p));
	/* Dropping CU 32 is a revocation: deadline 0 is refused. */
	T_EQ(pset(f.tid[0], f.gpu, 0, 17, 0, 0, NULL, p), -EINVAL);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_STABLE);
	T_EQ(pi.generation, gen2);
	T_EQ(memcmp(pi.target, m, sizeof(m)), 0);
	t_end();

	t_begin("part_set/from_tenant/%s", PN(p));
	memset(m, 0, sizeof(m));
	mask_set(m, 40, 4);
	{
		struct gpumux_part_set s = {
			.tenant_id = f.tid[0],
			.gpu_id = f.gpu,
		};

		memcpy(s.mask, m, sizeof(m));
		T_EQ(GM_CMD(f.tfd[0], GPUMUX_CMD_PART_SET, &s, p), -EPERM);
		s.tenant_id = f.tid[1];
		T_EQ(GM_CMD(f.tfd[0], GPUMUX_CMD_PART_SET, &s, p), -EPERM);
	}
	T_EQ(part_gone_or_empty(f.tid[1], f.gpu, p), 1);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.generation, gen2);
	t_end();

	fx_teardown(&f, p);
}

static void t_overlap(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_gpu_info gi;
	struct fx f;

	t_begin("part_set/overlap_exclusive/%s", PN(p));
	if (fx_setup(&f, 64, 64, "overlap", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[1], f.gpu, 4, 8, 0, 0, NULL, p), -EBUSY);
		T_EQ(pset(f.tid[1], f.gpu, 7, 1, 0, 0, NULL, p), -EBUSY);
		T_EQ(pset(f.tid[1], f.gpu, 0, 64, 0, 0, NULL, p), -EBUSY);
		T_EQ(part_gone_or_empty(f.tid[1], f.gpu, p), 1);
		/* Adjacent is fine. */
		T_EQ(pset(f.tid[1], f.gpu, 8, 8, 0, 0, NULL, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 8, 8);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_MASK(pi.active, 0, 8);
		/* A grown target of the second may not reach the first. */
		T_EQ(pset(f.tid[1], f.gpu, 6, 10, 0, 0, NULL, p), -EBUSY);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_MASK(pi.target, 8, 8);
		T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
		T_EQ(gi.cus_exclusive, 16);
	}
	fx_teardown(&f, p);
	t_end();

	t_begin("part_set/shared_overlaps_shared/%s", PN(p));
	if (fx_setup(&f, 64, 64, "shared", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     0);
		T_EQ(pset(f.tid[1], f.gpu, 4, 8, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.flags, GPUMUX_PART_SHARED);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 4, 8);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_MASK(pi.active, 0, 8);
		T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
		T_EQ(gi.cus_shared, 12);
		T_EQ(gi.cus_exclusive, 0);
	}
	t_end();

	t_begin("part_set/exclusive_over_shared/%s", PN(p));
	T_EQ(pset(f.tid[2], f.gpu, 10, 4, GPUMUX_PART_EXCLUSIVE, 0, NULL, p),
	     -EBUSY);
	T_EQ(pset(f.tid[2], f.gpu, 0, 1, GPUMUX_PART_EXCLUSIVE, 0, NULL, p),
	     -EBUSY);
	T_EQ(part_gone_or_empty(f.tid[2], f.gpu, p), 1);
	T_EQ(pset(f.tid[2], f.gpu, 12, 4, GPUMUX_PART_EXCLUSIVE, 0, NULL, p),
	     0);
	t_end();

	t_begin("part_set/shared_over_exclusive/%s", PN(p));
	/* The first tenant's shared target may not grow onto 12-15. */
	T_EQ(pset(f.tid[0], f.gpu, 0, 13, GPUMUX_PART_SHARED, 0, NULL, p),
	     -EBUSY);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_MASK(pi.target, 0, 8);
	T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
	T_EQ(gi.cus_exclusive, 4);
	T_EQ(gi.cus_shared, 12);
	t_end();
	fx_teardown(&f, p);
}

static void t_set_invalid(enum gm_path p)
{
	struct gpumux_part_set s;
	struct gpumux_part_info pi;
	struct fx f, small;
	mask_t m = { 0 };
	unsigned int i;
	int gone_fd;
	unsigned int gone_tid = 0;

	if (!fx_setup(&f, 64, 64, "invalid", p)) {
		fx_teardown(&f, p);
		return;
	}
	T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 0, NULL, p), 0);

	t_begin("part_set/cu_past_gpu/%s", PN(p));
	T_EQ(pset(f.tid[1], f.gpu, 64, 1, 0, 0, NULL, p), -EINVAL);
	T_EQ(pset(f.tid[1], f.gpu, 60, 8, 0, 0, NULL, p), -EINVAL);
	T_EQ(pset(f.tid[1], f.gpu, GPUMUX_MAX_CUS - 1, 1, 0, 0, NULL, p),
	     -EINVAL);
	T_EQ(part_gone_or_empty(f.tid[1], f.gpu, p), 1);
	/* The last CU is fine. */
	T_EQ(pset(f.tid[1], f.gpu, 63, 1, 0, 0, NULL, p), 0);
	t_end();

	t_begin("part_set/cu_past_small_gpu/%s", PN(p));
	if (fx_setup(&small, 5, 64, "small", p)) {
		T_EQ(pset(small.tid[0], small.gpu, 5, 1, 0, 0, NULL, p),
		     -EINVAL);
		T_EQ(pset(small.tid[0], small.gpu, 0, 6, 0, 0, NULL, p),
		     -EINVAL);
		T_EQ(pset(small.tid[0], small.gpu, 0, 5, 0, 0, NULL, p), 0);
		/* Shrinking to a bad mask is refused as well. */
		T_EQ(pset(small.tid[0], small.gpu, 3, 3, 0, 1000, NULL, p),
		     -EINVAL);
		T_EQ(gm_part_get(ctl, small.tid[0], small.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 0, 5);
	}
	fx_teardown(&small, p);
	t_end();

	t_begin("part_set/unknown_flags/%s", PN(p));
	T_EQ(pset(f.tid[2], f.gpu, 20, 4, 1U << 1, 0, NULL, p), -EINVAL);
	T_EQ(pset(f.tid[2], f.gpu, 20, 4, GPUMUX_PART_SHARED | (1U << 31), 0,
		  NULL, p),
	     -EINVAL);
	T_EQ(part_gone_or_empty(f.tid[2], f.gpu, p), 1);
	t_end();

	for (i = 0; i < 2; i++) {
		t_begin("part_set/reserved%u/%s", i, PN(p));
		memset(&s, 0, sizeof(s));
		s.tenant_id = f.tid[2];
		s.gpu_id = f.gpu;
		mask_set(s.mask, 20, 4);
		s.reserved[i] = 1;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_PART_SET, &s, p), -EINVAL);
		s.reserved[i] = 1ULL << 63;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_PART_SET, &s, p), -EINVAL);
		T_EQ(part_gone_or_empty(f.tid[2], f.gpu, p), 1);
		t_end();
	}

	t_begin("part_set/unknown_tenant/%s", PN(p));
	T_EQ(pset(0, f.gpu, 20, 4, 0, 0, NULL, p), -ENOENT);
	T_EQ(pset(0xffffffffu, f.gpu, 20, 4, 0, 0, NULL, p), -ENOENT);
	gone_fd = gm_tenant_create(ctl, "part-gone", 8, 0, &gone_tid, p);
	T_OK(gone_fd);
	if (gone_fd >= 0)
		close(gone_fd);
	T_EQ(pset(gone_tid, f.gpu, 20, 4, 0, 0, NULL, p), -ENOENT);
	t_end();

	t_begin("part_set/unknown_gpu/%s", PN(p));
	T_EQ(pset(f.tid[2], 0, 0, 4, 0, 0, NULL, p), -ENOENT);
	T_EQ(pset(f.tid[2], 0xffffffffu, 0, 4, 0, 0, NULL, p), -ENOENT);
	t_end();

	t_begin("part_set/empty_mask_new/%s", PN(p));
	/* Releasing what one does not hold changes nothing. */
	T_EQ(pset_mask(f.tid[2], f.gpu, m, 0, 0, NULL, p), 0);
	T_EQ(part_gone_or_empty(f.tid[2], f.gpu, p), 1);
	t_end();

	fx_teardown(&f, p);
}

static void t_edquot(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct fx f;
	char ident[64];
	int gpu2;

	t_begin("part_set/edquot/%s", PN(p));
	if (fx_setup(&f, 64, 8, "edquot", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 9, 0, 0, NULL, p), -EDQUOT);
		T_EQ(pset(f.tid[0], f.gpu, 0, 64, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EDQUOT);
		T_EQ(part_gone_or_empty(f.tid[0], f.gpu, p), 1);
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		/* Growing past it from a held partition: refused, unchanged. */
		T_EQ(pset(f.tid[0], f.gpu, 0, 9, 0, 0, NULL, p), -EDQUOT);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_MASK(pi.target, 0, 8);
		/* max_cus counts per GPU: another GPU has its own. */
		snprintf(ident, sizeof(ident), "test:partition:%d:edquot2:%s",
			 getpid(), PN(p));
		gpu2 = T_OK(gm_gpu_add(ctl, 16, ident, p));
		if (gpu2 > 0) {
			T_EQ(pset(f.tid[0], gpu2, 0, 8, 0, 0, NULL, p), 0);
			T_EQ(pset(f.tid[0], gpu2, 0, 9, 0, 0, NULL, p),
			     -EDQUOT);
		}
		fx_teardown(&f, p);
		if (gpu2 > 0)
			T_EQ(gm_gpu_remove(ctl, gpu2, p), 0);
	} else {
		fx_teardown(&f, p);
	}
	t_end();

	t_begin("part_set/edquot_zero_max/%s", PN(p));
	if (fx_setup(&f, 8, 0, "edquot0", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 1, 0, 0, NULL, p), -EDQUOT);
		T_EQ(pset(f.tid[0], f.gpu, 0, 1, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EDQUOT);
	}
	fx_teardown(&f, p);
	t_end();
}

static void t_all_cus(enum gm_path p)
{
	struct gpumux_part_info pi;
	char prefix[64], line[1024];
	struct fx f;

	t_begin("part_set/all_1024_cus/%s", PN(p));
	if (fx_setup(&f, GPUMUX_MAX_CUS, GPUMUX_MAX_CUS, "all", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, GPUMUX_MAX_CUS, 0, 0, NULL, p),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_MASK(pi.active, 0, GPUMUX_MAX_CUS);
		snprintf(prefix, sizeof(prefix), "part %u %d ", f.tid[0],
			 f.gpu);
		if (gm_state_line(prefix, line, sizeof(line)) == 0)
			T_ASSERT(strstr(line, " active=0-1023 target=0-1023"));
		T_EQ(pset(f.tid[1], f.gpu, 1023, 1, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EBUSY);
	}
	fx_teardown(&f, p);
	t_end();
}

/* ---- revocation ---------------------------------------------------------- */

static void t_revoke_ack(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	struct gpumux_gpu_info gi;
	uint64_t g0 = 0, g1 = 0;
	int64_t t0, t1;
	char prefix[64], line[1024], want[512];
	struct fx f;

	t_begin("part_revoke/changed_event/%s", PN(p));
	if (!fx_setup(&f, 64, 16, "revoke", p)) {
		fx_teardown(&f, p);
		t_end();
		return;
	}
	T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, &g0, p), 0);
	gm_drain(f.tfd[0]);
	t0 = gm_now_ns();
	T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 60000, &g1, p), 0);
	t1 = gm_now_ns();
	T_ASSERT(g1 > g0);
	T_EQ(gm_wait_event(f.tfd[0], GPUMUX_EVENT_PART_CHANGED, 0, 5000, &ev),
	     0);
	T_EQ(ev.tenant_id, f.tid[0]);
	T_EQ(ev.gpu_id, f.gpu);
	T_EQ(ev.generation, g1);
	t_end();

	t_begin("part_revoke/revoking_state/%s", PN(p));
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	T_EQ(pi.generation, g1);
	/* Until acknowledged the CUs stay the tenant's. */
	T_MASK(pi.active, 0, 8);
	T_MASK(pi.target, 0, 4);
	T_ASSERT(pi.deadline_ns >= (uint64_t)t0 + 60000ULL * 1000000 - 1000000);
	T_ASSERT(pi.deadline_ns <= (uint64_t)t1 + 60000ULL * 1000000 + 1000000);
	T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
	T_EQ(gi.cus_exclusive, 8);
	/* The tenant sees the same from its own file. */
	T_EQ(gm_part_get(f.tfd[0], f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	snprintf(prefix, sizeof(prefix), "part %u %d ", f.tid[0], f.gpu);
	snprintf(
		want, sizeof(want),
		"part %u %d flags=0 state=revoking gen=%llu active=0-7 target=0-3",
		f.tid[0], f.gpu, (unsigned long long)g1);
	if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
	    strcmp(line, want))
		t_fail(__FILE__, __LINE__, "state '%s', want '%s'", line, want);
	/* Revoked CUs are not free for others until the ack. */
	T_EQ(pset(f.tid[1], f.gpu, 4, 4, 0, 0, NULL, p), 0);
	T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_GROWING);
	T_ASSERT(mask_empty(pi.active));
	T_EQ(pset(f.tid[1], f.gpu, 0, 0, 0, 0, NULL, p), 0);
	t_end();

	t_begin("part_ack/estale/%s", PN(p));
	T_EQ(ack(f.tfd[0], f.gpu, g1 - 1, p), -ESTALE);
	T_EQ(ack(f.tfd[0], f.gpu, g1 + 1, p), -ESTALE);
	T_EQ(ack(f.tfd[0], f.gpu, g0, p), -ESTALE);
	T_EQ(ack(f.tfd[0], f.gpu, 0, p), -ESTALE);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	t_end();

	t_begin("part_ack/valid/%s", PN(p));
	gm_drain(ctl);
	T_EQ(ack(f.tfd[0], f.gpu, g1, p), 0);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_STABLE);
	T_MASK(pi.active, 0, 4);
	T_MASK(pi.target, 0, 4);
	T_ASSERT(pi.generation > g1);
	T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
	T_EQ(gi.cus_exclusive, 4);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_ACKED, f.tid[0], 5000, &ev),
	     0);
	T_EQ(ev.gpu_id, f.gpu);
	T_ASSERT(ev.generation >= g1);
	t_end();

	t_begin("part_ack/ealready/%s", PN(p));
	T_EQ(ack(f.tfd[0], f.gpu, pi.generation, p), -EALREADY);
	t_end();

	fx_teardown(&f, p);
}

static void t_ack_invalid(enum gm_path p)
{
	struct gpumux_part_ack a = { 0 };
	struct gpumux_part_info pi;
	uint64_t g = 0;
	char ident[64];
	struct fx f;
	int gpu2;

	if (!fx_setup(&f, 16, 16, "ackinv", p)) {
		fx_teardown(&f, p);
		return;
	}
	T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
	T_EQ(pset(f.tid[0], f.gpu, 0, 2, 0, 60000, &g, p), 0);

	t_begin("part_ack/reserved/%s", PN(p));
	a.gpu_id = f.gpu;
	a.generation = g;
	a.reserved = 1;
	T_EQ(GM_CMD(f.tfd[0], GPUMUX_CMD_PART_ACK, &a, p), -EINVAL);
	a.reserved = 1U << 31;
	T_EQ(GM_CMD(f.tfd[0], GPUMUX_CMD_PART_ACK, &a, p), -EINVAL);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	t_end();

	t_begin("part_ack/from_control/%s", PN(p));
	a.reserved = 0;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_PART_ACK, &a, p), -EPERM);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	t_end();

	t_begin("part_ack/other_tenant/%s", PN(p));
	/* Another tenant has no partition on that GPU. */
	T_EQ(ack(f.tfd[1], f.gpu, g, p), -ENOENT);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	t_end();

	t_begin("part_ack/enoent/%s", PN(p));
	T_EQ(ack(f.tfd[0], 0, g, p), -ENOENT);
	T_EQ(ack(f.tfd[0], 0xffffffffu, g, p), -ENOENT);
	snprintf(ident, sizeof(ident), "test:partition:%d:ackinv2:%s", getpid(),
		 PN(p));
	gpu2 = T_OK(gm_gpu_add(ctl, 8, ident, p));
	if (gpu2 > 0) {
		T_EQ(ack(f.tfd[0], gpu2, g, p), -ENOENT);
		T_EQ(gm_gpu_remove(ctl, gpu2, p), 0);
	}
	t_end();

	t_begin("part_ack/ealready_stable/%s", PN(p));
	T_EQ(ack(f.tfd[0], f.gpu, g, p), 0);
	T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
	T_EQ(ack(f.tfd[0], f.gpu, pi.generation, p), -EALREADY);
	/* Growing is not acknowledged either. */
	T_EQ(pset(f.tid[0], f.gpu, 0, 6, 0, 0, &g, p), 0);
	T_EQ(ack(f.tfd[0], f.gpu, g, p), -EALREADY);
	t_end();

	t_begin("part_ack/fenced/%s", PN(p));
	T_EQ(pset(f.tid[0], f.gpu, 0, 3, 0, 60000, &g, p), 0);
	T_EQ(gm_fence(ctl, f.tid[0], 0, p), 0);
	T_EQ(ack(f.tfd[0], f.gpu, g, p), -EPERM);
	T_EQ(gm_fence(ctl, f.tid[0], GPUMUX_FENCE_CLEAR, p), 0);
	t_end();

	fx_teardown(&f, p);
}

static void t_deadline_arg(enum gm_path p)
{
	struct gpumux_part_info pi;
	uint64_t g = 0;
	struct fx f;

	t_begin("part_set/deadline_bounds/%s", PN(p));
	if (fx_setup(&f, 16, 16, "deadline", p)) {
		/* Growing needs no deadline. */
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 0, NULL, p), -EINVAL);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 600001, NULL, p), -EINVAL);
		T_EQ(pset(f.tid[0], f.gpu, 0, 0, 0, 0xffffffffu, NULL, p),
		     -EINVAL);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.target, 0, 8);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 600000, &g, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_REVOKING);
		T_EQ(ack(f.tfd[0], f.gpu, g, p), 0);
		/* Shrinking with 1 ms is allowed (and the ack may lose). */
		T_EQ(pset(f.tid[0], f.gpu, 0, 2, 0, 1, NULL, p), 0);
	}
	fx_teardown(&f, p);
	t_end();
}

static void t_exdev(enum gm_path p)
{
	struct gpumux_part_info pi;
	uint64_t g = 0;
	struct fx f;

	t_begin("part_set/exdev/%s", PN(p));
	if (fx_setup(&f, 16, 16, "exdev", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, GPUMUX_PART_EXCLUSIVE, 0, NULL,
			  p),
		     0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EXDEV);
		T_EQ(pset(f.tid[0], f.gpu, 4, 4, GPUMUX_PART_SHARED, 1000, NULL,
			  p),
		     -EXDEV);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.flags, GPUMUX_PART_EXCLUSIVE);
		T_MASK(pi.active, 0, 4);
		/* Release first, then the other kind is fine. */
		T_EQ(pset(f.tid[0], f.gpu, 0, 0, GPUMUX_PART_EXCLUSIVE, 1000,
			  &g, p),
		     0);
		T_EQ(ack(f.tfd[0], f.gpu, g, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.flags, GPUMUX_PART_SHARED);
		T_MASK(pi.active, 0, 4);
		/* And back: shared -> exclusive while held is EXDEV too. */
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, GPUMUX_PART_EXCLUSIVE, 0, NULL,
			  p),
		     -EXDEV);
	}
	fx_teardown(&f, p);
	t_end();
}

static void t_release(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_gpu_info gi;
	struct gpumux_event ev;
	uint64_t g = 0;
	struct fx f;

	t_begin("part_release/empty_mask/%s", PN(p));
	if (fx_setup(&f, 16, 16, "release", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		gm_drain(f.tfd[0]);
		T_EQ(pset(f.tid[0], f.gpu, 0, 0, 0, 5000, &g, p), 0);
		T_EQ(gm_wait_event(f.tfd[0], GPUMUX_EVENT_PART_CHANGED, 0, 5000,
				   &ev),
		     0);
		T_EQ(ev.generation, g);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_REVOKING);
		T_MASK(pi.active, 0, 8);
		T_ASSERT(mask_empty(pi.target));
		T_EQ(ack(f.tfd[0], f.gpu, g, p), 0);
		T_EQ(part_gone_or_empty(f.tid[0], f.gpu, p), 1);
		T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
		T_EQ(gi.cus_exclusive, 0);
		/* The GPU is free for someone else. */
		T_EQ(pset(f.tid[1], f.gpu, 0, 16, 0, 0, NULL, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
	}
	fx_teardown(&f, p);
	t_end();
}

/* No acknowledgement: at the deadline the tenant loses everything. */
static void t_deadline_fence(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_gpu_info gi;
	struct gpumux_event ev;
	uint64_t g = 0;
	int64_t t0;
	struct fx f;
	char ident[64];
	int gpu2 = -1;

	t_begin("part_revoke/deadline_fences/%s", PN(p));
	if (fx_setup(&f, 16, 16, "dlfence", p)) {
		snprintf(ident, sizeof(ident), "test:partition:%d:dlfence2:%s",
			 getpid(), PN(p));
		gpu2 = T_OK(gm_gpu_add(ctl, 8, ident, p));
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		if (gpu2 > 0)
			T_EQ(pset(f.tid[0], gpu2, 0, 4, GPUMUX_PART_SHARED, 0,
				  NULL, p),
			     0);
		gm_drain(f.tfd[0]);
		t0 = gm_now_ns();
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 300, &g, p), 0);
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_FENCED, f.tid[0],
				   10000, &ev),
		     0);
		/* Not before the deadline. */
		T_ASSERT(gm_now_ns() - t0 >= 300 * 1000000LL);
		T_ASSERT(ev.timestamp_ns >= (uint64_t)t0 + 300 * 1000000ULL);
		T_EQ(ev.gpu_id, f.gpu);
		T_EQ(gm_wait_event(f.tfd[0], GPUMUX_EVENT_FENCED, 0, 5000, &ev),
		     0);
		T_EQ(ev.arg, 1);
		T_EQ(gm_tenant_info(ctl, f.tid[0], &ti, p), 0);
		T_EQ(ti.flags & GPUMUX_TENANT_FENCED, GPUMUX_TENANT_FENCED);
		/* Every partition is lost, the other GPU's too. */
		T_EQ(part_gone_or_empty(f.tid[0], f.gpu, p), 1);
		if (gpu2 > 0) {
			T_EQ(part_gone_or_empty(f.tid[0], gpu2, p), 1);
			T_EQ(gm_gpu_info(ctl, gpu2, &gi, p), 0);
			T_EQ(gi.cus_shared, 0);
		}
		T_EQ(gm_gpu_info(ctl, f.gpu, &gi, p), 0);
		T_EQ(gi.cus_exclusive, 0);
		/* Too late to acknowledge. */
		T_EQ(ack(f.tfd[0], f.gpu, g, p), -EPERM);
		/* The CUs are free for others at once. */
		T_EQ(pset(f.tid[1], f.gpu, 0, 16, 0, 0, NULL, p), 0);
		T_EQ(gm_fence(ctl, f.tid[0], GPUMUX_FENCE_CLEAR, p), 0);
	}
	fx_teardown(&f, p);
	if (gpu2 > 0)
		T_EQ(gm_gpu_remove(ctl, gpu2, p), 0);
	t_end();
}

/* ---- growth -------------------------------------------------------------- */

enum grow_how { BY_ACK, BY_DEADLINE, BY_CLOSE, BY_FENCE };

static void t_grow(enum gm_path p, enum grow_how how, const char *name)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	uint64_t ga = 0, gb = 0;
	struct fx f;

	t_begin("part_grow/%s/%s", name, PN(p));
	if (!fx_setup(&f, 16, 16, name, p)) {
		fx_teardown(&f, p);
		t_end();
		return;
	}
	T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
	gm_drain(ctl);
	T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, how == BY_DEADLINE ? 300 : 60000,
		  &ga, p),
	     0);
	/* B wants 4-7, which A holds until it lets go. */
	T_EQ(pset(f.tid[1], f.gpu, 4, 4, 0, 0, &gb, p), 0);
	T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_GROWING);
	T_MASK(pi.target, 4, 4);
	T_ASSERT(mask_empty(pi.active));
	T_EQ(pi.generation, gb);

	switch (how) {
	case BY_ACK:
		T_EQ(ack(f.tfd[0], f.gpu, ga, p), 0);
		break;
	case BY_DEADLINE:
		break;
	case BY_CLOSE:
		close(f.tfd[0]);
		f.tfd[0] = -1;
		break;
	case BY_FENCE:
		T_EQ(gm_fence(ctl, f.tid[0], 0, p), 0);
		break;
	}
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_GRANTED, f.tid[1], 10000,
			   &ev),
	     0);
	T_EQ(ev.gpu_id, f.gpu);
	T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_STABLE);
	T_MASK(pi.active, 4, 4);
	T_MASK(pi.target, 4, 4);
	T_ASSERT(pi.generation > gb);
	T_EQ(ev.generation, pi.generation);
	fx_teardown(&f, p);
	t_end();
}

/* Free CUs of a target come at once; held ones when they are let go. */
static void t_grow_partial(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	uint64_t ga = 0;
	struct fx f;

	t_begin("part_grow/free_part_at_once/%s", PN(p));
	if (fx_setup(&f, 16, 16, "partial", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 60000, &ga, p), 0);
		/* 4-7 held by A, 8-11 free. */
		T_EQ(pset(f.tid[1], f.gpu, 4, 8, 0, 0, NULL, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_GROWING);
		T_MASK(pi.target, 4, 8);
		T_ASSERT(!(pi.active[0] & 0xf0));
		T_EQ(pi.active[0] & 0xf00, 0xf00);
		gm_drain(ctl);
		T_EQ(ack(f.tfd[0], f.gpu, ga, p), 0);
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_GRANTED, f.tid[1],
				   5000, &ev),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 4, 8);
	}
	fx_teardown(&f, p);
	t_end();
}

/* A shared partition waits for an exclusive one's revoked CUs too. */
static void t_grow_shared(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	uint64_t ga = 0;
	struct fx f;

	t_begin("part_grow/shared_waits_exclusive/%s", PN(p));
	if (fx_setup(&f, 16, 16, "growshared", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 0, 0, 60000, &ga, p), 0);
		T_EQ(pset(f.tid[1], f.gpu, 0, 8, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     0);
		T_EQ(pset(f.tid[2], f.gpu, 4, 8, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_GROWING);
		T_ASSERT(mask_empty(pi.active));
		gm_drain(ctl);
		T_EQ(ack(f.tfd[0], f.gpu, ga, p), 0);
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_GRANTED, f.tid[1],
				   5000, &ev),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 0, 8);
		T_EQ(gm_part_get(ctl, f.tid[2], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 4, 8);
	}
	fx_teardown(&f, p);
	t_end();
}

/* Targets conflict, not active masks: a third party sees B's promise. */
static void t_target_conflict(enum gm_path p)
{
	uint64_t ga = 0;
	struct fx f;

	t_begin("part_set/overlap_pending_target/%s", PN(p));
	if (fx_setup(&f, 16, 16, "pending", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 60000, &ga, p), 0);
		T_EQ(pset(f.tid[1], f.gpu, 4, 4, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[2], f.gpu, 4, 4, 0, 0, NULL, p), -EBUSY);
		T_EQ(pset(f.tid[2], f.gpu, 6, 1, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EBUSY);
		/* A's remaining target is still its own. */
		T_EQ(pset(f.tid[2], f.gpu, 0, 1, 0, 0, NULL, p), -EBUSY);
		T_EQ(pset(f.tid[2], f.gpu, 8, 8, 0, 0, NULL, p), 0);
		T_EQ(part_gone_or_empty(f.tid[2], f.gpu, p), 0);
	}
	fx_teardown(&f, p);
	t_end();
}

/* Fencing drops pending growth: no PART_GRANTED comes later. */
static void t_fence_drops_growth(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	uint64_t ga = 0;
	struct fx f;

	t_begin("tenant_fence/drops_growth/%s", PN(p));
	if (fx_setup(&f, 16, 16, "dropgrow", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 8, 0, 0, NULL, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 60000, &ga, p), 0);
		T_EQ(pset(f.tid[1], f.gpu, 4, 4, 0, 0, NULL, p), 0);
		T_EQ(gm_fence(ctl, f.tid[1], 0, p), 0);
		T_EQ(part_gone_or_empty(f.tid[1], f.gpu, p), 1);
		gm_drain(ctl);
		T_EQ(ack(f.tfd[0], f.gpu, ga, p), 0);
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_PART_GRANTED, f.tid[1],
				   500, &ev),
		     -ETIMEDOUT);
		T_EQ(part_gone_or_empty(f.tid[1], f.gpu, p), 1);
		/* The freed CUs are anyone's. */
		T_EQ(pset(f.tid[2], f.gpu, 4, 12, 0, 0, NULL, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[2], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
	}
	fx_teardown(&f, p);
	t_end();
}

static void t_fenced_set(enum gm_path p)
{
	struct fx f;

	t_begin("part_set/fenced/%s", PN(p));
	if (fx_setup(&f, 16, 16, "fenced", p)) {
		T_EQ(gm_fence(ctl, f.tid[0], 0, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 0, NULL, p), -EPERM);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, GPUMUX_PART_SHARED, 0, NULL,
			  p),
		     -EPERM);
		T_EQ(part_gone_or_empty(f.tid[0], f.gpu, p), 1);
		T_EQ(pset(f.tid[0], f.gpu, 0, 0, 0, 0, NULL, p), 0);
		T_EQ(gm_fence(ctl, f.tid[0], GPUMUX_FENCE_CLEAR, p), 0);
		T_EQ(pset(f.tid[0], f.gpu, 0, 4, 0, 0, NULL, p), 0);
	}
	fx_teardown(&f, p);
	t_end();
}

/* A tenant that goes away gives its CUs back at once. */
static void t_close_frees(enum gm_path p)
{
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	struct fx f;

	t_begin("part/close_frees_cus/%s", PN(p));
	if (fx_setup(&f, 16, 16, "closefree", p)) {
		T_EQ(pset(f.tid[0], f.gpu, 0, 16, 0, 0, NULL, p), 0);
		close(f.tfd[0]);
		f.tfd[0] = -1;
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, f.tid[0],
				   5000, &ev),
		     0);
		T_EQ(gm_part_get(ctl, f.tid[0], f.gpu, &pi, p), -ENOENT);
		T_EQ(pset(f.tid[1], f.gpu, 0, 16, 0, 0, NULL, p), 0);
		T_EQ(gm_part_get(ctl, f.tid[1], f.gpu, &pi, p), 0);
		T_EQ(pi.state, GPUMUX_PART_STABLE);
		T_MASK(pi.active, 0, 16);
	}
	fx_teardown(&f, p);
	t_end();
}

/* ---- LIST of partitions -------------------------------------------------- */

static void t_list_parts(enum gm_path p)
{
	struct gpumux_part_info pi[3 * GPUMUX_MAX_GPUS];
	unsigned int total = 0, i, n_a;
	int gpus[3] = { -1, -1, -1 };
	char ident[64];
	struct fx f;
	int n, k;

	if (!fx_setup(&f, 16, 16, "list", p)) {
		fx_teardown(&f, p);
		return;
	}
	for (k = 0; k < 3; k++) {
		snprintf(ident, sizeof(ident), "test:partition:%d:list%d:%s",
			 getpid(), k, PN(p));
		gpus[k] = gm_gpu_add(ctl, 8, ident, p);
	}
	/* Tenant a: the fixture GPU and three more; b: two; c: none. */
	pset(f.tid[0], f.gpu, 0, 2, 0, 0, NULL, p);
	for (k = 0; k < 3; k++)
		pset(f.tid[0], gpus[k], 0, 2, GPUMUX_PART_SHARED, 0, NULL, p);
	pset(f.tid[1], gpus[0], 0, 4, GPUMUX_PART_SHARED, 0, NULL, p);
	pset(f.tid[1], gpus[2], 4, 4, 0, 0, NULL, p);

	t_begin("list_parts/order/%s", PN(p));
	for (k = 0; k < 3; k++)
		T_ASSERT(gpus[k] > 0);
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]),
		    3 * GPUMUX_MAX_GPUS, f.tid[0], &total, p);
	T_ASSERT(n >= 6);
	for (k = 1; k < n; k++)
		T_ASSERT(pi[k - 1].tenant_id < pi[k].tenant_id ||
			 (pi[k - 1].tenant_id == pi[k].tenant_id &&
			  pi[k - 1].gpu_id < pi[k].gpu_id));
	for (k = 0, n_a = 0; k < n; k++)
		n_a += pi[k].tenant_id == f.tid[0];
	T_EQ(n_a, 4);
	T_EQ(total, n);
	t_end();

	t_begin("list_parts/whole_tenants/%s", PN(p));
	/* Room for 5: a's 4 fit, b's 2 would not: only a's come. */
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 5, f.tid[0],
		    &total, p);
	T_EQ(n, 4);
	for (k = 0; k < n && k < 4; k++)
		T_EQ(pi[k].tenant_id, f.tid[0]);
	T_ASSERT(total >= 6);
	/* The next page starts one past a. */
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 5,
		    f.tid[0] + 1, &total, p);
	T_ASSERT(n >= 2);
	T_ASSERT(n < 1 || pi[0].tenant_id > f.tid[0]);
	t_end();

	t_begin("list_parts/eoverflow/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 3, f.tid[0],
		    &total, p);
	T_EQ(n, -EOVERFLOW);
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 1, f.tid[0],
		    &total, p);
	T_EQ(n, -EOVERFLOW);
	/* Counting needs no room. */
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 0, f.tid[0],
		    &total, p);
	T_EQ(n, 0);
	T_ASSERT(total >= 6);
	t_end();

	t_begin("list_parts/tenant_sees_own/%s", PN(p));
	n = gm_list(f.tfd[1], GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]),
		    3 * GPUMUX_MAX_GPUS, 0, &total, p);
	T_EQ(n, 2);
	T_EQ(total, 2);
	for (k = 0; k < n && k < 2; k++)
		T_EQ(pi[k].tenant_id, f.tid[1]);
	n = gm_list(f.tfd[2], GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]),
		    3 * GPUMUX_MAX_GPUS, 0, &total, p);
	T_EQ(n, 0);
	T_EQ(total, 0);
	t_end();

	t_begin("list_parts/entry_size/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]) - 8, 8, 0,
		     NULL, p),
	     -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]) + 8, 8, 0,
		     NULL, p),
	     -EINVAL);
	T_EQ(gm_list(f.tfd[0], GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]) - 8, 8,
		     0, NULL, p),
	     -EINVAL);
	t_end();

	t_begin("list_parts/efault/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_PARTITIONS, (void *)(uintptr_t)8,
		     sizeof(pi[0]), 8, f.tid[0], NULL, p),
	     -EFAULT);
	t_end();

	t_begin("list_parts/fields/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_PARTITIONS, pi, sizeof(pi[0]), 8, f.tid[1],
		    &total, p);
	T_ASSERT(n >= 2);
	for (i = 0; n >= 2 && i < 2; i++) {
		T_EQ(pi[i].tenant_id, f.tid[1]);
		if (pi[i].gpu_id == (unsigned int)gpus[0]) {
			T_EQ(pi[i].flags, GPUMUX_PART_SHARED);
			T_MASK(pi[i].active, 0, 4);
		} else {
			T_EQ(pi[i].gpu_id, gpus[2]);
			T_EQ(pi[i].flags, GPUMUX_PART_EXCLUSIVE);
			T_MASK(pi[i].active, 4, 4);
		}
		T_EQ(pi[i].state, GPUMUX_PART_STABLE);
	}
	t_end();

	fx_teardown(&f, p);
	for (k = 0; k < 3; k++)
		if (gpus[k] > 0)
			gm_gpu_remove(ctl, gpus[k], p);
}

int main(void)
{
	long long base[GM_NR_CNT];
	enum gm_path p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl = gm_t_open_control(O_NONBLOCK);
	if (ctl < 0)
		return 1;
	gm_counters_get(base);
	for_each_path(p) {
		t_set_valid(p);
		t_overlap(p);
		t_set_invalid(p);
		t_edquot(p);
		t_all_cus(p);
		t_revoke_ack(p);
		t_ack_invalid(p);
		t_deadline_arg(p);
		t_exdev(p);
		t_release(p);
		t_deadline_fence(p);
		t_grow(p, BY_ACK, "after_ack");
		t_grow(p, BY_DEADLINE, "after_deadline");
		t_grow(p, BY_CLOSE, "after_close");
		t_grow(p, BY_FENCE, "after_fence");
		t_grow_partial(p);
		t_grow_shared(p);
		t_target_conflict(p);
		t_fence_drops_growth(p);
		t_fenced_set(p);
		t_close_frees(p);
		t_list_parts(p);
	}
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
