// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: pinned buffers.  BUF_ALLOC and BUF_FREE with every invalid field
 * on its own, quota and global limit, zeroed pages, mmap of one's own
 * buffer (and refusal of wrong offsets and lengths), a freed buffer that
 * stays valid and charged while mapped, LIST of buffers.  Every sub-test
 * runs over ioctl and over uring_cmd.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

#define PG 4096ULL

static int ctl;

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

static int have_counters(void)
{
	return gm_counter("pages") >= 0;
}

static int alloc_raw(int tfd, struct gpumux_buf_alloc *a, enum gm_path p)
{
	return GM_CMD(tfd, GPUMUX_CMD_BUF_ALLOC, a, p);
}

static int alloc(int tfd, uint64_t size, unsigned int *id, uint64_t *off,
		 enum gm_path p)
{
	return gm_buf_alloc(tfd, size, id, off, p);
}

static int all_zero(const unsigned char *m, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (m[i])
			return 0;
	return 1;
}

struct tn {
	int fd;
	unsigned int id;
};

static int tn_new(struct tn *t, const char *name, uint64_t quota,
		  enum gm_path p)
{
	t->id = 0;
	t->fd = gm_tenant_create(ctl, name, 0, quota, &t->id, p);
	if (t->fd < 0)
		t_fail(__FILE__, __LINE__, "tenant_create: %s",
		       strerror(-t->fd));
	return t->fd >= 0;
}

static void tn_close(struct tn *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/*
 * Sizes over 1 TiB are EINVAL, and may also be over the quota (EDQUOT) or
 * the global limit (ENOSPC): the header does not order those, so any of
 * the ones that apply will do, never success.
 */
#define T_HUGE(e, other)                                                    \
	do {                                                                \
		int _r = (e);                                               \
		if (_r != -EINVAL && _r != (other))                         \
			t_fail(__FILE__, __LINE__, "%s = %d (%s), want %s", \
			       #e, _r, strerror(-_r), "EINVAL or " #other); \
	} while (0)

/* ---- BUF_ALLOC ----------------------------------------------------------- */

static void t_alloc_valid(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_buf_info bi;
	struct gpumux_info i0, i1;
	struct gpumux_buf_alloc a = { .size = 4 * PG };
	long long c0[GM_NR_CNT], c1[GM_NR_CNT];
	char prefix[32], line[512], want[256];
	struct tn t;

	t_begin("buf_alloc/valid/%s", PN(p));
	if (!tn_new(&t, "buf-valid", 64 * PG, p)) {
		t_end();
		return;
	}
	gm_counters_get(c0);
	T_EQ(gm_get_info(ctl, &i0, p), 0);
	a.buf_id = 0xdead; /* out fields: whatever comes in */
	a.mmap_offset = 1;
	T_EQ(alloc_raw(t.fd, &a, p), 0);
	T_ASSERT(a.buf_id > 0 && a.buf_id != 0xdead);
	T_EQ(a.mmap_offset % PG, 0);
	T_EQ(gm_get_info(ctl, &i1, p), 0);
	T_EQ(i1.pinned_used, i0.pinned_used + 4 * PG);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.nr_buffers, 1);
	T_EQ(ti.pinned_used, 4 * PG);
	T_EQ(gm_buf_info(t.fd, a.buf_id, &bi, p), 0);
	T_EQ(bi.owner_id, t.id);
	T_EQ(bi.size, 4 * PG);
	T_EQ(bi.mmap_offset, a.mmap_offset);
	T_EQ(bi.nr_grants, 0);
	T_EQ(bi.access, GPUMUX_ACCESS_RW);
	T_EQ(gm_buf_info(ctl, a.buf_id, &bi, p), 0);
	T_EQ(bi.owner_id, t.id);
	T_EQ(bi.size, 4 * PG);
	if (have_counters()) {
		gm_counters_get(c1);
		T_EQ(c1[GM_C_BUFFERS], c0[GM_C_BUFFERS] + 1);
		T_EQ(c1[GM_C_PAGES], c0[GM_C_PAGES] + 4);
		T_EQ(c1[GM_C_PINNED], c0[GM_C_PINNED] + (long long)(4 * PG));
	}
	snprintf(prefix, sizeof(prefix), "buf %u ", a.buf_id);
	snprintf(want, sizeof(want), "buf %u owner=%u size=%llu grants=0",
		 a.buf_id, t.id, 4 * PG);
	if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
	    strcmp(line, want))
		t_fail(__FILE__, __LINE__, "state '%s', want '%s'", line, want);
	t_end();

	t_begin("buf_free/valid/%s", PN(p));
	T_EQ(gm_buf_free(t.fd, a.buf_id, p), 0);
	T_EQ(gm_buf_info(t.fd, a.buf_id, &bi, p), -ENOENT);
	T_EQ(gm_buf_info(ctl, a.buf_id, &bi, p), -ENOENT);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.nr_buffers, 0);
	T_EQ(ti.pinned_used, 0);
	T_EQ(gm_get_info(ctl, &i1, p), 0);
	T_EQ(i1.pinned_used, i0.pinned_used);
	if (have_counters()) {
		gm_counters_get(c1);
		T_EQ(c1[GM_C_BUFFERS], c0[GM_C_BUFFERS]);
		T_EQ(c1[GM_C_PAGES], c0[GM_C_PAGES]);
		T_EQ(c1[GM_C_PINNED], c0[GM_C_PINNED]);
	}
	T_ASSERT(gm_state_line(prefix, line, sizeof(line)) != 0);
	t_end();

	t_begin("buf_free/double/%s", PN(p));
	T_EQ(gm_buf_free(t.fd, a.buf_id, p), -ENOENT);
	t_end();
	tn_close(&t);
}

static void t_alloc_sizes(enum gm_path p)
{
	static const uint64_t bad[] = {
		0, 1, PG - 1, PG + 1, 3 * PG + 17, ~0ULL
	};
	struct gpumux_buf_alloc a;
	struct gpumux_tenant_info ti;
	unsigned int i, id = 0;
	struct tn t;

	if (!tn_new(&t, "buf-sizes", 1 << 20, p))
		return;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		t_begin("buf_alloc/size_%llx/%s", (unsigned long long)bad[i],
			PN(p));
		T_EQ(alloc(t.fd, bad[i], NULL, NULL, p), -EINVAL);
		t_end();
	}

	t_begin("buf_alloc/size_2_63/%s", PN(p));
	T_HUGE(alloc(t.fd, 1ULL << 63, NULL, NULL, p), -EDQUOT);
	T_HUGE(alloc(t.fd, 1ULL << 40, NULL, NULL, p), -EDQUOT);
	t_end();

	t_begin("buf_alloc/size_wraps_quota/%s", PN(p));
	/* used + size wraps to 0: still over the quota. */
	T_EQ(alloc(t.fd, PG, &id, NULL, p), 0);
	T_HUGE(alloc(t.fd, 0ULL - PG, NULL, NULL, p), -EDQUOT);
	T_HUGE(alloc(t.fd, 0ULL - 2 * PG, NULL, NULL, p), -EDQUOT);
	/* Under 1 TiB, over the quota: EDQUOT and nothing else. */
	T_EQ(alloc(t.fd, (1ULL << 40) - PG, NULL, NULL, p), -EDQUOT);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.pinned_used, PG);
	T_EQ(ti.nr_buffers, 1);
	T_EQ(gm_buf_free(t.fd, id, p), 0);
	t_end();

	t_begin("buf_alloc/unknown_flags/%s", PN(p));
	memset(&a, 0, sizeof(a));
	a.size = PG;
	a.flags = 1;
	T_EQ(alloc_raw(t.fd, &a, p), -EINVAL);
	a.flags = 1U << 31;
	T_EQ(alloc_raw(t.fd, &a, p), -EINVAL);
	t_end();

	for (i = 0; i < 2; i++) {
		t_begin("buf_alloc/reserved%u/%s", i, PN(p));
		memset(&a, 0, sizeof(a));
		a.size = PG;
		a.reserved[i] = 1;
		T_EQ(alloc_raw(t.fd, &a, p), -EINVAL);
		a.reserved[i] = 1ULL << 63;
		T_EQ(alloc_raw(t.fd, &a, p), -EINVAL);
		t_end();
	}

	t_begin("buf_alloc/invalid_left_nothing/%s", PN(p));
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.nr_buffers, 0);
	T_EQ(ti.pinned_used, 0);
	t_end();
	tn_close(&t);
}

/* With a quota no allocation reaches, the global limit answers ENOSPC. */
static void t_alloc_global(enum gm_path p)
{
	struct gpumux_info info;
	struct gpumux_tenant_info ti;
	unsigned int id = 0;
	uint64_t size;
	struct tn t;

	t_begin("buf_alloc/enospc_global/%s", PN(p));
	if (!tn_new(&t, "buf-global", ~0ULL, p)) {
		t_end();
		return;
	}
	T_EQ(gm_get_info(ctl, &info, p), 0);
	if (info.pinned_limit >= (1ULL << 40) - 2 * PG) {
		/* Past the limit is past 1 TiB too: EINVAL may come first. */
		t_skip("pinned_limit too large to exceed below 1 TiB");
	} else {
		size = (info.pinned_limit - info.pinned_used + PG) & ~(PG - 1);
		T_EQ(alloc(t.fd, size, NULL, NULL, p), -ENOSPC);
		T_HUGE(alloc(t.fd, 1ULL << 63, NULL, NULL, p), -ENOSPC);
		T_EQ(alloc(t.fd, (info.pinned_limit + PG) & ~(PG - 1), NULL,
			   NULL, p),
		     -ENOSPC);
		/* used + size wraps: over the quota or the limit, no more. */
		T_EQ(alloc(t.fd, PG, &id, NULL, p), 0);
		{
			int r = alloc(t.fd, 0ULL - PG, NULL, NULL, p);

			if (r != -ENOSPC && r != -EDQUOT && r != -EINVAL)
				t_fail(__FILE__, __LINE__,
				       "alloc 2^64-4096 after 4096: %d (%s), want ENOSPC, EDQUOT or EINVAL",
				       r, strerror(-r));
		}
		T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
		T_EQ(ti.pinned_used, PG);
		T_EQ(gm_buf_free(t.fd, id, p), 0);
		T_EQ(gm_get_info(ctl, &info, p), 0);
	}
	t_end();
	tn_close(&t);
}

static void t_edquot(enum gm_path p)
{
	unsigned int ids[8], extra = 0, i;
	struct gpumux_tenant_info ti;
	struct tn t;

	t_begin("buf_alloc/edquot/%s", PN(p));
	if (!tn_new(&t, "buf-quota", 8 * PG, p)) {
		t_end();
		return;
	}
	for (i = 0; i < 4; i++)
		T_EQ(alloc(t.fd, 2 * PG, &ids[i], NULL, p), 0);
	T_EQ(alloc(t.fd, PG, &extra, NULL, p), -EDQUOT);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.pinned_used, 8 * PG);
	T_EQ(ti.nr_buffers, 4);
	T_EQ(gm_buf_free(t.fd, ids[0], p), 0);
	T_EQ(alloc(t.fd, 4 * PG, &extra, NULL, p), -EDQUOT);
	T_EQ(alloc(t.fd, 2 * PG, &ids[0], NULL, p), 0);
	for (i = 0; i < 4; i++)
		T_EQ(gm_buf_free(t.fd, ids[i], p), 0);
	T_EQ(alloc(t.fd, 8 * PG, &ids[0], NULL, p), 0);
	T_EQ(gm_buf_free(t.fd, ids[0], p), 0);
	t_end();
	tn_close(&t);

	t_begin("buf_alloc/edquot_zero_quota/%s", PN(p));
	if (tn_new(&t, "buf-quota0", 0, p))
		T_EQ(alloc(t.fd, PG, NULL, NULL, p), -EDQUOT);
	tn_close(&t);
	t_end();
}

static void t_wrong_file(enum gm_path p)
{
	struct gpumux_buf_alloc a = { .size = PG };
	struct gpumux_buf_free f = { 0 };
	struct gpumux_buf_info bi;
	struct tn t, u;
	unsigned int id = 0, uid = 0;

	if (!tn_new(&t, "buf-owner", 16 * PG, p))
		return;
	if (!tn_new(&u, "buf-other", 16 * PG, p)) {
		tn_close(&t);
		return;
	}
	T_EQ(alloc(t.fd, PG, &id, NULL, p), 0);
	T_EQ(alloc(u.fd, PG, &uid, NULL, p), 0);

	t_begin("buf_alloc/from_control/%s", PN(p));
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_BUF_ALLOC, &a, p), -EPERM);
	t_end();

	t_begin("buf_free/from_control/%s", PN(p));
	f.buf_id = id;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_BUF_FREE, &f, p), -EPERM);
	T_EQ(gm_buf_info(t.fd, id, &bi, p), 0);
	t_end();

	t_begin("buf_free/other_tenant/%s", PN(p));
	T_EQ(gm_buf_free(u.fd, id, p), -ENOENT);
	T_EQ(gm_buf_info(t.fd, id, &bi, p), 0);
	T_EQ(gm_buf_free(t.fd, uid, p), -ENOENT);
	T_EQ(gm_buf_info(u.fd, uid, &bi, p), 0);
	t_end();

	t_begin("buf_free/unknown_id/%s", PN(p));
	T_EQ(gm_buf_free(t.fd, 0, p), -ENOENT);
	T_EQ(gm_buf_free(t.fd, 0xffffffffu, p), -ENOENT);
	t_end();

	t_begin("buf_free/reserved/%s", PN(p));
	f.buf_id = id;
	f.reserved = 1;
	T_EQ(GM_CMD(t.fd, GPUMUX_CMD_BUF_FREE, &f, p), -EINVAL);
	f.reserved = 1U << 31;
	T_EQ(GM_CMD(t.fd, GPUMUX_CMD_BUF_FREE, &f, p), -EINVAL);
	T_EQ(gm_buf_info(t.fd, id, &bi, p), 0);
	t_end();

	t_begin("buf_alloc/ids_unique_across_tenants/%s", PN(p));
	T_ASSERT(id > 0 && uid > 0 && id != uid);
	t_end();

	t_begin("list_buffers/tenant_sees_own/%s", PN(p));
	T_EQ(gm_buf_info(t.fd, uid, &bi, p) == 0 && bi.buf_id == uid, 0);
	T_EQ(gm_buf_info(u.fd, id, &bi, p) == 0 && bi.buf_id == id, 0);
	T_EQ(gm_buf_info(ctl, id, &bi, p), 0);
	T_EQ(gm_buf_info(ctl, uid, &bi, p), 0);
	t_end();

	t_begin("list_buffers/entry_size/%s", PN(p));
	T_EQ(gm_list(t.fd, GPUMUX_LIST_BUFFERS, &bi, sizeof(bi) - 8, 1, 0, NULL,
		     p),
	     -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_BUFFERS, &bi, sizeof(bi) + 8, 1, 0, NULL,
		     p),
	     -EINVAL);
	t_end();

	t_begin("list_buffers/efault/%s", PN(p));
	T_EQ(gm_list(t.fd, GPUMUX_LIST_BUFFERS, (void *)(uintptr_t)8,
		     sizeof(bi), 1, 0, NULL, p),
	     -EFAULT);
	t_end();

	t_begin("buf_alloc/fenced/%s", PN(p));
	{
		struct gpumux_tenant_fence fe = { .tenant_id = t.id };

		T_EQ(GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, p), 0);
		T_EQ(alloc(t.fd, PG, NULL, NULL, p), -EPERM);
		/* Freeing is still allowed. */
		T_EQ(gm_buf_free(t.fd, id, p), 0);
		fe.flags = GPUMUX_FENCE_CLEAR;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, p), 0);
	}
	t_end();

	gm_buf_free(u.fd, uid, p);
	tn_close(&t);
	tn_close(&u);
}

/* ---- mmap ---------------------------------------------------------------- */

static void t_zeroed(enum gm_path p)
{
	unsigned int id = 0, round;
	uint64_t off = 0;
	unsigned char *m;
	struct tn t;

	t_begin("buf_alloc/zeroed/%s", PN(p));
	if (!tn_new(&t, "buf-zero", 256 * PG, p)) {
		t_end();
		return;
	}
	for (round = 0; round < 3; round++) {
		T_EQ(alloc(t.fd, 64 * PG, &id, &off, p), 0);
		m = gm_map(t.fd, 64 * PG, PROT_READ | PROT_WRITE, off);
		T_ASSERT(m != MAP_FAILED);
		if (m == MAP_FAILED)
			break;
		T_ASSERT(all_zero(m, 64 * PG));
		/* Dirty them so a reuse without clearing would show. */
		memset(m, 0xa5, 64 * PG);
		munmap(m, 64 * PG);
		T_EQ(gm_buf_free(t.fd, id, p), 0);
	}
	t_end();
	tn_close(&t);
}

static void t_mmap_rw(enum gm_path p)
{
	unsigned int id = 0, id2 = 0, i;
	uint64_t off = 0, off2 = 0;
	unsigned char *m, *m2, *r;
	struct tn t;

	t_begin("buf_mmap/rw/%s", PN(p));
	if (!tn_new(&t, "buf-mmap", 64 * PG, p)) {
		t_end();
		return;
	}
	T_EQ(alloc(t.fd, 8 * PG, &id, &off, p), 0);
	T_EQ(alloc(t.fd, 4 * PG, &id2, &off2, p), 0);
	T_ASSERT(off != off2);
	m = gm_map(t.fd, 8 * PG, PROT_READ | PROT_WRITE, off);
	m2 = gm_map(t.fd, 4 * PG, PROT_READ | PROT_WRITE, off2);
	r = gm_map(t.fd, 8 * PG, PROT_READ, off);
	T_ASSERT(m != MAP_FAILED && m2 != MAP_FAILED && r != MAP_FAILED);
	if (m != MAP_FAILED && m2 != MAP_FAILED && r != MAP_FAILED) {
		for (i = 0; i < 8 * PG; i++)
			m[i] = (unsigned char)(i * 7 + 3);
		memset(m2, 0x3c, 4 * PG);
		/* Two mappings, one buffer; two buffers, two memories. */
		for (i = 0; i < 8 * PG; i++)
			if (r[i] != (unsigned char)(i * 7 + 3))
				break;
		T_EQ(i, 8 * PG);
		T_EQ(m2[0], 0x3c);
		T_EQ(m[0], 3);
	}
	if (r != MAP_FAILED)
		munmap(r, 8 * PG);
	if (m != MAP_FAILED)
		munmap(m, 8 * PG);
	/* Map again: the data is still there. */
	m = gm_map(t.fd, 8 * PG, PROT_READ, off);
	T_ASSERT(m != MAP_FAILED);
	if (m != MAP_FAILED) {
		T_EQ(m[8 * PG - 1], (unsigned char)((8 * PG - 1) * 7 + 3));
		munmap(m, 8 * PG);
	}
	if (m2 != MAP_FAILED)
		munmap(m2, 4 * PG);
	T_EQ(gm_buf_free(t.fd, id, p), 0);
	T_EQ(gm_buf_free(t.fd, id2, p), 0);
	t_end();
	tn_close(&t);
}

static void expect_map_fails(int fd, size_t len, int prot, uint64_t off,
			     const char *what)
{
	void *m = gm_map(fd, len, prot, off);

	if (m != MAP_FAILED) {
		t_fail(__FILE__, __LINE__,
		       "mmap %s (len %zu off 0x%llx) worked", what, len,
		       (unsigned long long)off);
		munmap(m, len);
	}
}

static void t_mmap_bad(enum gm_path p)
{
	unsigned int id = 0, uid = 0, fid = 0;
	uint64_t off = 0, uoff = 0, foff = 0;
	struct tn t, u;

	if (!tn_new(&t, "buf-badmap", 64 * PG, p))
		return;
	if (!tn_new(&u, "buf-badmap2", 64 * PG, p)) {
		tn_close(&t);
		return;
	}
	T_EQ(alloc(t.fd, 4 * PG, &id, &off, p), 0);
	T_EQ(alloc(u.fd, 4 * PG, &uid, &uoff, p), 0);

	t_begin("buf_mmap/bad_offset/%s", PN(p));
	expect_map_fails(t.fd, 4 * PG, PROT_READ, off + PG, "off+page");
	expect_map_fails(t.fd, 4 * PG, PROT_READ, off + 4 * PG, "off+size");
	expect_map_fails(t.fd, PG, PROT_READ, 0, "offset 0");
	expect_map_fails(t.fd, PG, PROT_READ, 1ULL << 46, "offset 2^46");
	expect_map_fails(t.fd, PG, PROT_READ, 0x7ffffffffffff000ULL,
			 "offset max");
	t_end();

	t_begin("buf_mmap/bad_length/%s", PN(p));
	expect_map_fails(t.fd, 5 * PG, PROT_READ, off, "size+page");
	expect_map_fails(t.fd, 64 * PG, PROT_READ, off, "16*size");
	t_end();

	t_begin("buf_mmap/other_tenant/%s", PN(p));
	/* No grant: another tenant's offset maps nothing on this file. */
	expect_map_fails(t.fd, 4 * PG, PROT_READ, uoff, "other's buffer");
	expect_map_fails(u.fd, 4 * PG, PROT_READ, off, "other's buffer");
	t_end();

	t_begin("buf_mmap/freed/%s", PN(p));
	T_EQ(alloc(t.fd, 2 * PG, &fid, &foff, p), 0);
	T_EQ(gm_buf_free(t.fd, fid, p), 0);
	expect_map_fails(t.fd, 2 * PG, PROT_READ, foff, "freed buffer");
	t_end();

	t_begin("buf_mmap/control_file/%s", PN(p));
	expect_map_fails(ctl, 4 * PG, PROT_READ, off, "control file");
	t_end();

	gm_buf_free(t.fd, id, p);
	gm_buf_free(u.fd, uid, p);
	tn_close(&t);
	tn_close(&u);
}

/* Freed while mapped: valid and charged until the last munmap. */
static void t_free_mapped(enum gm_path p)
{
	long long c0[GM_NR_CNT], c1[GM_NR_CNT];
	struct gpumux_tenant_info ti;
	struct gpumux_info i0, i1;
	struct gpumux_buf_info bi;
	unsigned int id = 0, id2 = 0;
	uint64_t off = 0;
	unsigned char *m, *m2;
	struct tn t;

	t_begin("buf_free/mapped_stays_valid/%s", PN(p));
	if (!tn_new(&t, "buf-freemap", 4 * PG, p)) {
		t_end();
		return;
	}
	gm_counters_get(c0);
	T_EQ(gm_get_info(ctl, &i0, p), 0);
	T_EQ(alloc(t.fd, 4 * PG, &id, &off, p), 0);
	m = gm_map(t.fd, 4 * PG, PROT_READ | PROT_WRITE, off);
	m2 = gm_map(t.fd, 4 * PG, PROT_READ, off);
	T_ASSERT(m != MAP_FAILED && m2 != MAP_FAILED);
	if (m == MAP_FAILED || m2 == MAP_FAILED) {
		t_end();
		tn_close(&t);
		return;
	}
	memset(m, 0x42, 4 * PG);
	T_EQ(gm_buf_free(t.fd, id, p), 0);
	/* Gone from the ledger... */
	T_EQ(gm_buf_info(t.fd, id, &bi, p), -ENOENT);
	T_EQ(gm_buf_free(t.fd, id, p), -ENOENT);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.nr_buffers, 0);
	/* ...but the pages are valid, shared and still charged. */
	T_EQ(m2[4 * PG - 1], 0x42);
	m[5] = 0x99;
	T_EQ(m2[5], 0x99);
	T_EQ(ti.pinned_used, 4 * PG);
	T_EQ(gm_get_info(ctl, &i1, p), 0);
	T_EQ(i1.pinned_used, i0.pinned_used + 4 * PG);
	T_EQ(alloc(t.fd, PG, &id2, NULL, p), -EDQUOT);
	if (have_counters()) {
		gm_counters_get(c1);
		T_EQ(c1[GM_C_PAGES], c0[GM_C_PAGES] + 4);
		T_EQ(c1[GM_C_PINNED], c0[GM_C_PINNED] + (long long)(4 * PG));
	}
	/* A new mapping of the freed buffer is refused. */
	expect_map_fails(t.fd, 4 * PG, PROT_READ, off, "freed, mapped");
	munmap(m, 4 * PG);
	T_EQ(m2[0], 0x42);
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.pinned_used, 4 * PG);
	munmap(m2, 4 * PG);
	/* The last mapping went: uncharged. */
	T_EQ(gm_tenant_info(ctl, t.id, &ti, p), 0);
	T_EQ(ti.pinned_used, 0);
	T_EQ(gm_get_info(ctl, &i1, p), 0);
	T_EQ(i1.pinned_used, i0.pinned_used);
	if (have_counters()) {
		gm_counters_get(c1);
		T_EQ(c1[GM_C_PAGES], c0[GM_C_PAGES]);
		T_EQ(c1[GM_C_PINNED], c0[GM_C_PINNED]);
		T_EQ(c1[GM_C_BUFFERS], c0[GM_C_BUFFERS]);
	}
	T_EQ(alloc(t.fd, 4 * PG, &id2, NULL, p), 0);
	T_EQ(gm_buf_free(t.fd, id2, p), 0);
	t_end();
	tn_close(&t);
}

#define NB 16

static void t_many(enum gm_path p)
{
	struct gpumux_buf_info bi[NB + 4];
	unsigned int ids[NB], i, k, total = 0;
	uint64_t offs[NB];
	unsigned char *m[NB];
	struct tn t;
	int n;

	t_begin("buf_alloc/many/%s", PN(p));
	if (!tn_new(&t, "buf-many", NB * 2 * PG, p)) {
		t_end();
		return;
	}
	for (i = 0; i < NB; i++) {
		ids[i] = 0;
		m[i] = MAP_FAILED;
		T_EQ(alloc(t.fd, (1 + i % 2) * PG, &ids[i], &offs[i], p), 0);
		for (k = 0; k < i; k++)
			T_ASSERT(ids[k] != ids[i] && offs[k] != offs[i]);
	}
	for (i = 0; i < NB; i++) {
		m[i] = gm_map(t.fd, (1 + i % 2) * PG, PROT_READ | PROT_WRITE,
			      offs[i]);
		T_ASSERT(m[i] != MAP_FAILED);
		if (m[i] != MAP_FAILED)
			memset(m[i], i + 1, (1 + i % 2) * PG);
	}
	for (i = 0; i < NB; i++)
		if (m[i] != MAP_FAILED)
			T_EQ(m[i][(1 + i % 2) * PG - 1], i + 1);
	t_end();

	t_begin("list_buffers/paging/%s", PN(p));
	n = gm_list(t.fd, GPUMUX_LIST_BUFFERS, bi, sizeof(bi[0]), NB + 4, 0,
		    &total, p);
	T_EQ(n, NB);
	T_EQ(total, NB);
	for (i = 1; i < (unsigned int)(n > 0 ? n : 0); i++)
		T_ASSERT(bi[i - 1].buf_id < bi[i].buf_id);
	n = gm_list(t.fd, GPUMUX_LIST_BUFFERS, bi, sizeof(bi[0]), 5, 0, &total,
		    p);
	T_EQ(n, 5);
	T_EQ(total, NB);
	if (n == 5) {
		n = gm_list(t.fd, GPUMUX_LIST_BUFFERS, bi, sizeof(bi[0]),
			    NB + 4, bi[4].buf_id + 1, &total, p);
		T_EQ(n, NB - 5);
		T_EQ(total, NB - 5);
	}
	t_end();

	for (i = 0; i < NB; i++) {
		if (m[i] != MAP_FAILED)
			munmap(m[i], (1 + i % 2) * PG);
		if (ids[i])
			gm_buf_free(t.fd, ids[i], p);
	}
	tn_close(&t);
}

/* A buffer left allocated goes with its tenant. */
static void t_close_frees(enum gm_path p)
{
	long long c0[GM_NR_CNT], c1[GM_NR_CNT];
	struct gpumux_info i0, i1;
	struct tn t;
	int tries;

	t_begin("buf/tenant_close_frees/%s", PN(p));
	gm_counters_get(c0);
	T_EQ(gm_get_info(ctl, &i0, p), 0);
	if (tn_new(&t, "buf-close", 64 * PG, p)) {
		T_EQ(alloc(t.fd, 16 * PG, NULL, NULL, p), 0);
		T_EQ(alloc(t.fd, 16 * PG, NULL, NULL, p), 0);
		tn_close(&t);
	}
	T_EQ(gm_get_info(ctl, &i1, p), 0);
	T_EQ(i1.pinned_used, i0.pinned_used);
	if (have_counters()) {
		for (tries = 0; tries < 20; tries++) {
			gm_counters_get(c1);
			if (!memcmp(c0, c1, sizeof(c0)))
				break;
			usleep(50000);
		}
		T_EQ(c1[GM_C_PAGES], c0[GM_C_PAGES]);
		T_EQ(c1[GM_C_BUFFERS], c0[GM_C_BUFFERS]);
	}
	t_end();
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
		t_alloc_valid(p);
		t_alloc_sizes(p);
		t_alloc_global(p);
		t_edquot(p);
		t_wrong_file(p);
		t_zeroed(p);
		t_mmap_rw(p);
		t_mmap_bad(p);
		t_free_mapped(p);
		t_many(p);
		t_close_frees(p);
	}
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
