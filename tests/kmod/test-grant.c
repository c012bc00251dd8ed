// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: cross-tenant buffer grants.  GRANT and GRANT_REVOKE with every
 * invalid field on its own; read-only grants cannot be mapped or made
 * writable; read-write grants share data both ways; a revoked grant's
 * mappings fault with SIGBUS and the grantee hears GRANT_REVOKED; freeing
 * or closing the owner leaves the grantee's mappings valid; LIST of
 * grants.  Every sub-test runs over ioctl and over uring_cmd.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

#define PG 4096ULL

static int ctl;

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

/* The grant of @buf to @tenant as @fd lists it; -ENOENT if none. */
static int grant_info(int fd, unsigned int buf, unsigned int tenant,
		      struct gpumux_grant_info *gi, enum gm_path p)
{
	struct gpumux_grant_info all[64];
	int n, i;

	n = gm_list(fd, GPUMUX_LIST_GRANTS, all, sizeof(all[0]), 64, buf, NULL,
		    p);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (all[i].buf_id == buf && all[i].tenant_id == tenant) {
			*gi = all[i];
			return 0;
		}
	}
	return -ENOENT;
}

/* Wait up to 2 s for the counters to be back to @base. */
static int counters_back(const long long *base)
{
	long long now[GM_NR_CNT];
	int tries;

	if (base[0] < 0)
		return 1;
	for (tries = 0; tries < 40; tries++) {
		gm_counters_get(now);
		if (!memcmp(now, base, sizeof(now)))
			return 1;
		usleep(50000);
	}
	return 0;
}

static void t_leaks(const long long *base)
{
	long long now[GM_NR_CNT];
	size_t i;

	t_begin("leaks");
	if (base[0] < 0) {
		t_skip("no /sys/kernel/debug/gpumux/counters");
		t_end();
		return;
	}
	counters_back(base);
	gm_counters_get(now);
	for (i = 0; i < GM_NR_CNT; i++)
		if (now[i] != base[i])
			t_fail(__FILE__, __LINE__,
			       "counter %s = %lld, was %lld",
			       gm_counter_names[i], now[i], base[i]);
	t_end();
}

static int grant(unsigned int buf, unsigned int tenant, unsigned int access,
		 enum gm_path p)
{
	struct gpumux_grant g = {
		.buf_id = buf,
		.tenant_id = tenant,
		.access = access,
	};

	return GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, p);
}

static int grant_revoke(unsigned int buf, unsigned int tenant, enum gm_path p)
{
	struct gpumux_grant_revoke r = { .buf_id = buf, .tenant_id = tenant };

	return GM_CMD(ctl, GPUMUX_CMD_GRANT_REVOKE, &r, p);
}

/* ---- touching memory that may fault -------------------------------------- */

static sigjmp_buf fault_jb;
static volatile sig_atomic_t fault_sig;

static void on_fault(int sig)
{
	fault_sig = sig;
	siglongjmp(fault_jb, 1);
}

/*
 * Read (or write, if @write) one byte at @addr.  Returns 0 if it worked,
 * else the signal it raised (SIGBUS, SIGSEGV).
 */
static int touch(volatile unsigned char *addr, int write, unsigned char *val)
{
	struct sigaction sa = { .sa_handler = on_fault }, obus, osegv;
	int ret = 0;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &obus);
	sigaction(SIGSEGV, &sa, &osegv);
	fault_sig = 0;
	if (sigsetjmp(fault_jb, 1) == 0) {
		if (write)
			*addr = val ? *val : 0x5a;
		else if (val)
			*val = *addr;
		else
			(void)*addr;
	} else {
		ret = fault_sig;
	}
	sigaction(SIGBUS, &obus, NULL);
	sigaction(SIGSEGV, &osegv, NULL);
	return ret;
}

/* ---- fixture: an owner with a buffer, and two other tenants -------------- */

struct fx {
	int fd[3];
	unsigned int tid[3];
	unsigned int buf;
	uint64_t off;
	size_t size;
	unsigned char *own; /* the owner's mapping */
};

static int fx_setup(struct fx *f, enum gm_path p)
{
	static const char *const names[3] = { "grant-owner", "grant-b",
					      "grant-c" };
	int i, ok = 1;

	memset(f, 0, sizeof(*f));
	f->size = 4 * PG;
	f->own = MAP_FAILED;
	for (i = 0; i < 3; i++) {
		f->fd[i] = gm_tenant_create(ctl, names[i], 0, 64 * PG,
					    &f->tid[i], p);
		if (f->fd[i] < 0) {
			t_fail(__FILE__, __LINE__, "tenant_create: %s",
			       strerror(-f->fd[i]));
			ok = 0;
		} else {
			fcntl(f->fd[i], F_SETFL, O_NONBLOCK);
		}
	}
	if (!ok)
		return 0;
	if (gm_buf_alloc(f->fd[0], f->size, &f->buf, &f->off, p)) {
		t_fail(__FILE__, __LINE__, "buf_alloc failed");
		return 0;
	}
	f->own = gm_map(f->fd[0], f->size, PROT_READ | PROT_WRITE, f->off);
	if (f->own == MAP_FAILED) {
		t_fail(__FILE__, __LINE__, "owner mmap: %s", strerror(errno));
		return 0;
	}
	memset(f->own, 0x11, f->size);
	return 1;
}

static void fx_teardown(struct fx *f)
{
	int i;

	if (f->own != MAP_FAILED)
		munmap(f->own, f->size);
	f->own = MAP_FAILED;
	for (i = 0; i < 3; i++)
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	gm_drain(ctl);
}

/* ---- read-only ----------------------------------------------------------- */

static void t_ro(enum gm_path p)
{
	long long c0[GM_NR_CNT], c1[GM_NR_CNT];
	struct gpumux_grant_info gi;
	struct gpumux_buf_info bi;
	struct gpumux_event ev;
	char prefix[64], line[1024], want[128];
	unsigned char *m;
	struct fx f;
	void *w;

	t_begin("grant/ro/%s", PN(p));
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	gm_counters_get(c0);
	gm_drain(f.fd[1]);
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RO, p), 0);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_ADDED, 0, 5000, &ev), 0);
	T_EQ(ev.buf_id, f.buf);
	T_EQ(ev.arg, GPUMUX_ACCESS_RO);
	/* The grantee lists it, with its own access. */
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), 0);
	T_EQ(bi.owner_id, f.tid[0]);
	T_EQ(bi.size, f.size);
	T_EQ(bi.mmap_offset, f.off);
	T_EQ(bi.access, GPUMUX_ACCESS_RO);
	T_EQ(gm_buf_info(f.fd[0], f.buf, &bi, p), 0);
	T_EQ(bi.nr_grants, 1);
	T_EQ(bi.access, GPUMUX_ACCESS_RW);
	T_EQ(grant_info(f.fd[1], f.buf, f.tid[1], &gi, p), 0);
	T_EQ(gi.owner_id, f.tid[0]);
	T_EQ(gi.access, GPUMUX_ACCESS_RO);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), 0);
	/* A third tenant sees neither the buffer nor the grant. */
	T_EQ(gm_buf_info(f.fd[2], f.buf, &bi, p), -ENOENT);
	T_EQ(grant_info(f.fd[2], f.buf, f.tid[1], &gi, p), -ENOENT);
	if (c0[0] >= 0) {
		gm_counters_get(c1);
		T_EQ(c1[GM_C_GRANTS], c0[GM_C_GRANTS] + 1);
	}
	snprintf(prefix, sizeof(prefix), "grant %u %u ", f.buf, f.tid[1]);
	snprintf(want, sizeof(want), "grant %u %u access=ro", f.buf, f.tid[1]);
	if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
	    strcmp(line, want))
		t_fail(__FILE__, __LINE__, "state '%s', want '%s'", line, want);
	snprintf(prefix, sizeof(prefix), "buf %u ", f.buf);
	if (gm_state_line(prefix, line, sizeof(line)) == 0)
		T_ASSERT(strstr(line, " grants=1") != NULL);
	t_end();

	t_begin("grant/ro_map_read/%s", PN(p));
	m = gm_map(f.fd[1], f.size, PROT_READ, f.off);
	T_ASSERT(m != MAP_FAILED);
	if (m != MAP_FAILED) {
		T_EQ(m[0], 0x11);
		f.own[100] = 0x22;
		T_EQ(m[100], 0x22);
	}
	t_end();

	t_begin("grant/ro_map_write_refused/%s", PN(p));
	w = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
	T_ASSERT(w == MAP_FAILED);
	if (w != MAP_FAILED)
		munmap(w, f.size);
	else
		T_ASSERT(errno == EACCES || errno == EPERM);
	w = gm_map(f.fd[1], f.size, PROT_WRITE, f.off);
	T_ASSERT(w == MAP_FAILED);
	if (w != MAP_FAILED)
		munmap(w, f.size);
	t_end();

	t_begin("grant/ro_mprotect_refused/%s", PN(p));
	if (m != MAP_FAILED) {
		T_EQ(mprotect(m, f.size, PROT_READ | PROT_WRITE), -1);
		T_EQ(mprotect(m, PG, PROT_WRITE), -1);
		/* Still read-only: a write faults. */
		T_EQ(touch(m, 1, NULL), SIGSEGV);
		T_EQ(f.own[0], 0x11);
	}
	t_end();

	t_begin("grant/rw_upgrade/%s", PN(p));
	gm_drain(f.fd[1]);
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), 0);
	T_EQ(bi.access, GPUMUX_ACCESS_RW);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), 0);
	T_EQ(gi.access, GPUMUX_ACCESS_RW);
	/* Still one grant, not two. */
	T_EQ(gm_buf_info(f.fd[0], f.buf, &bi, p), 0);
	T_EQ(bi.nr_grants, 1);
	/* The read-only mapping made before stays read-only. */
	if (m != MAP_FAILED)
		T_EQ(mprotect(m, f.size, PROT_READ | PROT_WRITE), -1);
	w = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
	T_ASSERT(w != MAP_FAILED);
	if (w != MAP_FAILED) {
		((unsigned char *)w)[7] = 0x77;
		T_EQ(f.own[7], 0x77);
		munmap(w, f.size);
	}
	t_end();

	if (m != MAP_FAILED)
		munmap(m, f.size);
	fx_teardown(&f);
}

/* ---- read-write and revocation ------------------------------------------- */

static void t_rw_revoke(enum gm_path p)
{
	long long c0[GM_NR_CNT];
	struct gpumux_grant_info gi;
	struct gpumux_buf_info bi;
	struct gpumux_event ev;
	unsigned char *b, *c, v = 0;
	struct fx f;

	t_begin("grant/rw_shared_both_ways/%s", PN(p));
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	gm_counters_get(c0);
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	T_EQ(grant(f.buf, f.tid[2], GPUMUX_ACCESS_RO, p), 0);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_ADDED, 0, 5000, &ev), 0);
	T_EQ(ev.buf_id, f.buf);
	T_EQ(ev.arg, GPUMUX_ACCESS_RW);
	b = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
	c = gm_map(f.fd[2], f.size, PROT_READ, f.off);
	T_ASSERT(b != MAP_FAILED && c != MAP_FAILED);
	if (b == MAP_FAILED || c == MAP_FAILED) {
		fx_teardown(&f);
		t_end();
		return;
	}
	T_EQ(b[0], 0x11);
	b[1] = 0xb1;
	T_EQ(f.own[1], 0xb1);
	T_EQ(c[1], 0xb1);
	f.own[2] = 0xa2;
	T_EQ(b[2], 0xa2);
	T_EQ(gm_buf_info(f.fd[0], f.buf, &bi, p), 0);
	T_EQ(bi.nr_grants, 2);
	t_end();

	t_begin("grant_revoke/valid/%s", PN(p));
	gm_drain(f.fd[1]);
	T_EQ(grant_revoke(f.buf, f.tid[1], p), 0);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_REVOKED, 0, 5000, &ev),
	     0);
	T_EQ(ev.buf_id, f.buf);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), -ENOENT);
	T_EQ(grant_info(f.fd[1], f.buf, f.tid[1], &gi, p), -ENOENT);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), -ENOENT);
	T_EQ(gm_buf_info(f.fd[0], f.buf, &bi, p), 0);
	T_EQ(bi.nr_grants, 1);
	t_end();

	t_begin("grant_revoke/sigbus/%s", PN(p));
	T_EQ(touch(b, 0, &v), SIGBUS);
	T_EQ(touch(b + 3 * PG, 1, NULL), SIGBUS);
	t_end();

	t_begin("grant_revoke/others_unharmed/%s", PN(p));
	T_EQ(touch(f.own, 0, &v), 0);
	T_EQ(v, 0x11);
	T_EQ(touch(c + 1, 0, &v), 0);
	T_EQ(v, 0xb1);
	f.own[9] = 0x99;
	T_EQ(c[9], 0x99);
	t_end();

	t_begin("grant_revoke/no_new_mapping/%s", PN(p));
	{
		void *w = gm_map(f.fd[1], f.size, PROT_READ, f.off);

		T_ASSERT(w == MAP_FAILED);
		if (w != MAP_FAILED)
			munmap(w, f.size);
	}
	t_end();

	t_begin("grant_revoke/twice/%s", PN(p));
	T_EQ(grant_revoke(f.buf, f.tid[1], p), -ENOENT);
	t_end();

	t_begin("grant_revoke/counters/%s", PN(p));
	munmap(b, f.size);
	munmap(c, f.size);
	T_EQ(grant_revoke(f.buf, f.tid[2], p), 0);
	if (c0[0] >= 0)
		T_ASSERT(counters_back(c0));
	t_end();
	fx_teardown(&f);
}

/* ---- invalid ------------------------------------------------------------- */

static void t_invalid(enum gm_path p)
{
	struct gpumux_grant g = { 0 };
	struct gpumux_grant_revoke r = { 0 };
	struct gpumux_tenant_fence fe = { 0 };
	struct gpumux_buf_info bi;
	unsigned int gone_tid = 0, freed = 0;
	int gone_fd;
	struct fx f;

	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		return;
	}

	t_begin("grant/to_owner/%s", PN(p));
	T_EQ(grant(f.buf, f.tid[0], GPUMUX_ACCESS_RO, p), -EINVAL);
	T_EQ(grant(f.buf, f.tid[0], GPUMUX_ACCESS_RW, p), -EINVAL);
	t_end();

	t_begin("grant/unknown_access/%s", PN(p));
	T_EQ(grant(f.buf, f.tid[1], 2, p), -EINVAL);
	T_EQ(grant(f.buf, f.tid[1], 0xffffffffu, p), -EINVAL);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), -ENOENT);
	t_end();

	t_begin("grant/reserved/%s", PN(p));
	g.buf_id = f.buf;
	g.tenant_id = f.tid[1];
	g.access = GPUMUX_ACCESS_RO;
	g.reserved = 1;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, p), -EINVAL);
	g.reserved = 1U << 31;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, p), -EINVAL);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), -ENOENT);
	t_end();

	t_begin("grant/unknown_buffer/%s", PN(p));
	T_EQ(grant(0, f.tid[1], GPUMUX_ACCESS_RO, p), -ENOENT);
	T_EQ(grant(0xffffffffu, f.tid[1], GPUMUX_ACCESS_RO, p), -ENOENT);
	T_EQ(gm_buf_alloc(f.fd[0], PG, &freed, NULL, p), 0);
	T_EQ(gm_buf_free(f.fd[0], freed, p), 0);
	T_EQ(grant(freed, f.tid[1], GPUMUX_ACCESS_RO, p), -ENOENT);
	t_end();

	t_begin("grant/unknown_tenant/%s", PN(p));
	T_EQ(grant(f.buf, 0, GPUMUX_ACCESS_RO, p), -ENOENT);
	T_EQ(grant(f.buf, 0xffffffffu, GPUMUX_ACCESS_RO, p), -ENOENT);
	gone_fd = gm_tenant_create(ctl, "grant-gone", 0, 0, &gone_tid, p);
	T_OK(gone_fd);
	if (gone_fd >= 0)
		close(gone_fd);
	T_EQ(grant(f.buf, gone_tid, GPUMUX_ACCESS_RO, p), -ENOENT);
	t_end();

	t_begin("grant/fenced_grantee/%s", PN(p));
	fe.tenant_id = f.tid[1];
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, p), 0);
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RO, p), -EPERM);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), -ENOENT);
	fe.flags = GPUMUX_FENCE_CLEAR;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, p), 0);
	t_end();

	t_begin("grant/from_tenant/%s", PN(p));
	g.reserved = 0;
	T_EQ(GM_CMD(f.fd[0], GPUMUX_CMD_GRANT, &g, p), -EPERM);
	T_EQ(GM_CMD(f.fd[1], GPUMUX_CMD_GRANT, &g, p), -EPERM);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), -ENOENT);
	t_end();

	t_begin("grant_revoke/from_tenant/%s", PN(p));
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RO, p), 0);
	r.buf_id = f.buf;
	r.tenant_id = f.tid[1];
	T_EQ(GM_CMD(f.fd[0], GPUMUX_CMD_GRANT_REVOKE, &r, p), -EPERM);
	T_EQ(GM_CMD(f.fd[1], GPUMUX_CMD_GRANT_REVOKE, &r, p), -EPERM);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), 0);
	t_end();

	t_begin("grant_revoke/enoent/%s", PN(p));
	T_EQ(grant_revoke(f.buf, f.tid[2], p), -ENOENT);
	T_EQ(grant_revoke(f.buf, f.tid[0], p), -ENOENT);
	T_EQ(grant_revoke(0, f.tid[1], p), -ENOENT);
	T_EQ(grant_revoke(0xffffffffu, f.tid[1], p), -ENOENT);
	T_EQ(grant_revoke(f.buf, 0, p), -ENOENT);
	T_EQ(grant_revoke(f.buf, 0xffffffffu, p), -ENOENT);
	T_EQ(gm_buf_info(f.fd[1], f.buf, &bi, p), 0);
	t_end();

	t_begin("list_grants/entry_size/%s", PN(p));
	{
		struct gpumux_grant_info gi[2];

		T_EQ(gm_list(ctl, GPUMUX_LIST_GRANTS, gi, sizeof(gi[0]) - 8, 2,
			     0, NULL, p),
		     -EINVAL);
		T_EQ(gm_list(f.fd[1], GPUMUX_LIST_GRANTS, gi, sizeof(gi[0]) + 8,
			     2, 0, NULL, p),
		     -EINVAL);
		T_EQ(gm_list(ctl, GPUMUX_LIST_GRANTS, gi, sizeof(gi[0]), 2,
			     f.buf, NULL, p),
		     1);
		T_EQ(gm_list(f.fd[1], GPUMUX_LIST_GRANTS, (void *)(uintptr_t)8,
			     sizeof(gi[0]), 2, 0, NULL, p),
		     -EFAULT);
	}
	t_end();

	fx_teardown(&f);
}

/* ---- lifetimes ----------------------------------------------------------- */

/* The owner frees the buffer: the grant ends, the grantee's pages stay. */
static void t_owner_free(enum gm_path p)
{
	long long c0[GM_NR_CNT];
	struct gpumux_grant_info gi;
	struct gpumux_event ev;
	unsigned char *b, v = 0;
	struct fx f;

	t_begin("grant/owner_free_mapping_stays/%s", PN(p));
	gm_counters_get(c0);
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	b = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
	T_ASSERT(b != MAP_FAILED);
	if (b == MAP_FAILED) {
		fx_teardown(&f);
		t_end();
		return;
	}
	munmap(f.own, f.size);
	f.own = MAP_FAILED;
	gm_drain(f.fd[1]);
	T_EQ(gm_buf_free(f.fd[0], f.buf, p), 0);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_REVOKED, 0, 5000, &ev),
	     0);
	T_EQ(ev.buf_id, f.buf);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), -ENOENT);
	T_EQ(touch(b + 5, 0, &v), 0);
	T_EQ(v, 0x11);
	T_EQ(touch(b + 5, 1, NULL), 0);
	munmap(b, f.size);
	fx_teardown(&f);
	T_ASSERT(counters_back(c0));
	t_end();
}

/*
 * Granting read-only over a read-write grant ends the old grant: no
 * writable mapping survives the downgrade.  The same access again is a
 * no-op that leaves mappings alone.
 */
static void t_downgrade(enum gm_path p)
{
	long long c0[GM_NR_CNT];
	struct gpumux_grant_info gi;
	struct gpumux_event ev;
	unsigned char *w, *r, v = 0;
	struct fx f;

	t_begin("grant/same_access_again_noop/%s", PN(p));
	gm_counters_get(c0);
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	w = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
	T_ASSERT(w != MAP_FAILED);
	if (w == MAP_FAILED) {
		fx_teardown(&f);
		t_end();
		return;
	}
	gm_drain(f.fd[1]);
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	T_EQ(gm_drain(f.fd[1]), 0);
	T_EQ(touch(w + 3, 1, NULL), 0);
	T_EQ(f.own[3], 0x5a);
	t_end();

	t_begin("grant/downgrade_revokes_writable/%s", PN(p));
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RO, p), 0);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_REVOKED, 0, 5000, &ev),
	     0);
	T_EQ(ev.buf_id, f.buf);
	T_EQ(ev.arg, GPUMUX_ACCESS_RW);
	T_EQ(gm_wait_event(f.fd[1], GPUMUX_EVENT_GRANT_ADDED, 0, 5000, &ev), 0);
	T_EQ(ev.arg, GPUMUX_ACCESS_RO);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), 0);
	T_EQ(gi.access, GPUMUX_ACCESS_RO);
	/* The writable mapping is gone: reads and writes fault. */
	T_EQ(touch(w + 3, 1, NULL), SIGBUS);
	T_EQ(touch(w + 3, 0, &v), SIGBUS);
	T_EQ(f.own[3], 0x5a);
	/* A new mapping is read-only and sees the data. */
	r = gm_map(f.fd[1], f.size, PROT_READ, f.off);
	T_ASSERT(r != MAP_FAILED);
	if (r != MAP_FAILED) {
		T_EQ(touch(r + 3, 0, &v), 0);
		T_EQ(v, 0x5a);
		T_EQ(mprotect(r, f.size, PROT_READ | PROT_WRITE), -1);
		munmap(r, f.size);
	}
	munmap(w, f.size);
	fx_teardown(&f);
	T_ASSERT(counters_back(c0));
	t_end();
}

/* A thread that keeps dropping and re-faulting the grantee's pages. */
struct refaulter {
	unsigned char *map;
	size_t size;
	int zero_fd;
	volatile int stop;
};

static void *refault_loop(void *arg)
{
	struct refaulter *r = arg;
	size_t off;

	while (!r->stop) {
		madvise(r->map, r->size, MADV_DONTNEED);
		/*
		 * Fault each page in for writing from inside read(): a
		 * revoked mapping makes it fail with EFAULT, no signal.
		 */
		for (off = 0; off < r->size && !r->stop; off += PG)
			if (read(r->zero_fd, r->map + off, 1) < 0)
				break;
	}
	return NULL;
}

/*
 * Revoking while another thread re-faults the mapping: afterwards no page
 * may still be mapped (a fault racing the revoke must not install a PTE
 * after the zap).
 */
static void t_revoke_race(enum gm_path p)
{
	long long c0[GM_NR_CNT];
	struct refaulter r;
	pthread_t th;
	int round, page, mapped = 0;
	struct fx f;

	t_begin("grant_revoke/racing_faults_leave_nothing_mapped/%s", PN(p));
	gm_counters_get(c0);
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	r.zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	T_ASSERT(r.zero_fd >= 0);
	for (round = 0; round < 50 && r.zero_fd >= 0; round++) {
		T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
		r.map = gm_map(f.fd[1], f.size, PROT_READ | PROT_WRITE, f.off);
		r.size = f.size;
		r.stop = 0;
		T_ASSERT(r.map != MAP_FAILED);
		if (r.map == MAP_FAILED)
			break;
		T_EQ(pthread_create(&th, NULL, refault_loop, &r), 0);
		usleep(1000 + (round % 7) * 300);
		T_EQ(grant_revoke(f.buf, f.tid[1], p), 0);
		r.stop = 1;
		pthread_join(th, NULL);
		for (page = 0; page < (int)(f.size / PG); page++)
			if (touch(r.map + page * PG, 0, NULL) != SIGBUS)
				mapped++;
		munmap(r.map, f.size);
		gm_drain(f.fd[1]);
	}
	T_EQ(mapped, 0);
	if (r.zero_fd >= 0)
		close(r.zero_fd);
	fx_teardown(&f);
	T_ASSERT(counters_back(c0));
	t_end();
}

/* The owner goes away; the grantee's mapping outlives it. */
static void t_owner_gone(enum gm_path p)
{
	long long c0[GM_NR_CNT];
	struct gpumux_event ev;
	unsigned char *b, v = 0;
	struct fx f;

	t_begin("grant/owner_gone_mapping_stays/%s", PN(p));
	gm_counters_get(c0);
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RO, p), 0);
	b = gm_map(f.fd[1], f.size, PROT_READ, f.off);
	T_ASSERT(b != MAP_FAILED);
	if (b == MAP_FAILED) {
		fx_teardown(&f);
		t_end();
		return;
	}
	munmap(f.own, f.size);
	f.own = MAP_FAILED;
	gm_drain(ctl);
	close(f.fd[0]);
	f.fd[0] = -1;
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, f.tid[0], 5000, &ev),
	     0);
	T_EQ(touch(b + PG, 0, &v), 0);
	T_EQ(v, 0x11);
	munmap(b, f.size);
	fx_teardown(&f);
	T_ASSERT(counters_back(c0));
	t_end();
}

/* The grantee goes away: its grants go with it. */
static void t_grantee_gone(enum gm_path p)
{
	struct gpumux_grant_info gi;
	struct gpumux_buf_info bi;
	struct gpumux_event ev;
	struct fx f;

	t_begin("grant/grantee_gone/%s", PN(p));
	if (!fx_setup(&f, p)) {
		fx_teardown(&f);
		t_end();
		return;
	}
	T_EQ(grant(f.buf, f.tid[1], GPUMUX_ACCESS_RW, p), 0);
	gm_drain(ctl);
	close(f.fd[1]);
	f.fd[1] = -1;
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, f.tid[1], 5000, &ev),
	     0);
	T_EQ(grant_info(ctl, f.buf, f.tid[1], &gi, p), -ENOENT);
	T_EQ(gm_buf_info(f.fd[0], f.buf, &bi, p), 0);
	T_EQ(bi.nr_grants, 0);
	T_EQ(grant_revoke(f.buf, f.tid[1], p), -ENOENT);
	fx_teardown(&f);
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
		t_ro(p);
		t_rw_revoke(p);
		t_invalid(p);
		t_owner_free(p);
		t_downgrade(p);
		t_revoke_race(p);
		t_owner_gone(p);
		t_grantee_gone(p);
	}
	t_leaks(base);
	close(ctl);
	return t_status();
}
