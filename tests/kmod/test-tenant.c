// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: TENANT_CREATE, TENANT_FENCE and LIST of tenants, with every
 * invalid field on its own, over ioctl and uring_cmd; the tenant file as
 * the lease (TENANT_GONE on close), and what a fenced tenant may still do.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

static int ctl;

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

static int create_raw(struct gpumux_tenant_create *c, enum gm_path p)
{
	return GM_CMD(ctl, GPUMUX_CMD_TENANT_CREATE, c, p);
}

static void fill_create(struct gpumux_tenant_create *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->flags = GPUMUX_TENANT_CLOEXEC;
	c->max_cus = 8;
	c->pinned_quota = 1 << 20;
}

/* ---- TENANT_CREATE ------------------------------------------------------- */

static void t_create_valid(enum gm_path p)
{
	struct gpumux_info before, after, info;
	struct gpumux_tenant_create c;
	struct gpumux_tenant_info ti;
	struct gpumux_event ev;
	char line[1024], want[512], prefix[32];

	t_begin("tenant_create/valid/%s", PN(p));
	gm_drain(ctl);
	T_EQ(gm_get_info(ctl, &before, p), 0);
	fill_create(&c, "tenant-valid");
	c.max_cus = 12;
	c.pinned_quota = 3 << 20;
	c.tenant_id = 0xdead; /* out fields: whatever comes in */
	c.fd = -7;
	T_EQ(create_raw(&c, p), 0);
	T_ASSERT(c.tenant_id > 0 && c.tenant_id != 0xdead);
	T_ASSERT(c.fd >= 0);
	if (c.fd < 0) {
		t_end();
		return;
	}
	T_EQ(gm_get_info(c.fd, &info, p), 0);
	T_EQ(info.file_kind, GPUMUX_FILE_TENANT);
	T_EQ(info.tenant_id, c.tenant_id);
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_tenants, before.nr_tenants + 1);
	T_EQ(gm_tenant_info(ctl, c.tenant_id, &ti, p), 0);
	T_EQ(ti.tenant_id, c.tenant_id);
	T_EQ(ti.flags, 0);
	T_EQ(strcmp(ti.name, "tenant-valid"), 0);
	T_EQ(ti.max_cus, 12);
	T_EQ(ti.nr_buffers, 0);
	T_EQ(ti.pinned_quota, 3 << 20);
	T_EQ(ti.pinned_used, 0);
	T_EQ(ti.creator_pid, getpid());
	T_EQ(ti.creator_uid, getuid());
	snprintf(prefix, sizeof(prefix), "tenant %u ", c.tenant_id);
	snprintf(
		want, sizeof(want),
		"tenant %u name=tenant-valid fenced=0 max_cus=12 quota=%u used=0 buffers=0",
		c.tenant_id, 3 << 20);
	if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
	    strcmp(line, want))
		t_fail(__FILE__, __LINE__, "state '%s', want '%s'", line, want);
	t_end();

	t_begin("tenant_close/gone_event/%s", PN(p));
	T_EQ(close(c.fd), 0);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, c.tenant_id, 5000,
			   &ev),
	     0);
	T_EQ(ev.tenant_id, c.tenant_id);
	T_EQ(gm_tenant_info(ctl, c.tenant_id, &ti, p), -ENOENT);
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_tenants, before.nr_tenants);
	T_ASSERT(gm_state_line(prefix, line, sizeof(line)) != 0);
	t_end();
}

static void t_create_cloexec(enum gm_path p)
{
	struct gpumux_tenant_create c;
	int fl;

	t_begin("tenant_create/cloexec/%s", PN(p));
	fill_create(&c, "tenant-cloexec");
	T_EQ(create_raw(&c, p), 0);
	fl = fcntl(c.fd, F_GETFD);
	T_ASSERT(fl >= 0 && (fl & FD_CLOEXEC));
	close(c.fd);
	t_end();

	t_begin("tenant_create/no_cloexec/%s", PN(p));
	fill_create(&c, "tenant-nocloexec");
	c.flags = 0;
	T_EQ(create_raw(&c, p), 0);
	fl = fcntl(c.fd, F_GETFD);
	T_ASSERT(fl >= 0 && !(fl & FD_CLOEXEC));
	close(c.fd);
	t_end();
}

static void t_create_invalid(enum gm_path p)
{
	struct gpumux_info before, after;
	struct gpumux_tenant_create c;
	unsigned int i;

	gm_get_info(ctl, &before, p);

	t_begin("tenant_create/name_empty/%s", PN(p));
	fill_create(&c, "");
	T_EQ(create_raw(&c, p), -EINVAL);
	c.name[1] = 'x';
	T_EQ(create_raw(&c, p), -EINVAL);
	t_end();

	t_begin("tenant_create/name_unterminated/%s", PN(p));
	fill_create(&c, "x");
	memset(c.name, 'n', sizeof(c.name));
	T_EQ(create_raw(&c, p), -EINVAL);
	t_end();

	t_begin("tenant_create/name_31_chars/%s", PN(p));
	fill_create(&c, "x");
	memset(c.name, 'n', sizeof(c.name) - 1);
	T_EQ(create_raw(&c, p), 0);
	if (c.fd >= 0)
		close(c.fd);
	t_end();

	t_begin("tenant_create/max_cus_too_many/%s", PN(p));
	fill_create(&c, "tenant-maxcus");
	c.max_cus = GPUMUX_MAX_CUS + 1;
	T_EQ(create_raw(&c, p), -EINVAL);
	c.max_cus = 0xffffffffu;
	T_EQ(create_raw(&c, p), -EINVAL);
	t_end();

	t_begin("tenant_create/max_cus_bounds/%s", PN(p));
	fill_create(&c, "tenant-maxcus");
	c.max_cus = GPUMUX_MAX_CUS;
	T_EQ(create_raw(&c, p), 0);
	if (c.fd >= 0)
		close(c.fd);
	fill_create(&c, "tenant-maxcus0");
	c.max_cus = 0;
	c.pinned_quota = 0;
	T_EQ(create_raw(&c, p), 0);
	if (c.fd >= 0)
		close(c.fd);
	fill_create(&c, "tenant-bigquota");
	c.pinned_quota = ~0ULL;
	T_EQ(create_raw(&c, p), 0);
	if (c.fd >= 0)
		close(c.fd);
	t_end();

	t_begin("tenant_create/unknown_flags/%s", PN(p));
	fill_create(&c, "tenant-flags");
	c.flags = 1U << 1;
	T_EQ(create_raw(&c, p), -EINVAL);
	c.flags = GPUMUX_TENANT_CLOEXEC | (1U << 31);
	T_EQ(create_raw(&c, p), -EINVAL);
	t_end();

	for (i = 0; i < 2; i++) {
		t_begin("tenant_create/reserved%u/%s", i, PN(p));
		fill_create(&c, "tenant-reserved");
		c.reserved[i] = 1;
		T_EQ(create_raw(&c, p), -EINVAL);
		fill_create(&c, "tenant-reserved");
		c.reserved[i] = 1ULL << 63;
		T_EQ(create_raw(&c, p), -EINVAL);
		t_end();
	}

	t_begin("tenant_create/invalid_leaves_nothing/%s", PN(p));
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_tenants, before.nr_tenants);
	t_end();
}

static void t_create_ids(enum gm_path p)
{
	unsigned int a = 0, b = 0, c = 0;
	int fa, fb, fc;

	t_begin("tenant_create/ids_distinct_not_reused/%s", PN(p));
	fa = T_OK(gm_tenant_create(ctl, "tenant-ida", 0, 0, &a, p));
	fb = T_OK(gm_tenant_create(ctl, "tenant-idb", 0, 0, &b, p));
	T_ASSERT(a > 0 && b > 0 && a != b);
	if (fa >= 0)
		close(fa);
	fc = T_OK(gm_tenant_create(ctl, "tenant-idc", 0, 0, &c, p));
	T_ASSERT(c > 0 && c != a && c != b);
	if (fb >= 0)
		close(fb);
	if (fc >= 0)
		close(fc);
	t_end();
}

static void t_create_from_tenant(enum gm_path p)
{
	struct gpumux_tenant_create c;
	struct gpumux_info before, after;
	int tfd;

	t_begin("tenant_create/from_tenant/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "tenant-eperm", 0, 0, NULL, p));
	gm_get_info(ctl, &before, p);
	fill_create(&c, "tenant-child");
	if (tfd >= 0)
		T_EQ(GM_CMD(tfd, GPUMUX_CMD_TENANT_CREATE, &c, p), -EPERM);
	gm_get_info(ctl, &after, p);
	T_EQ(after.nr_tenants, before.nr_tenants);
	if (tfd >= 0)
		close(tfd);
	t_end();
}

/* The tenant limit: ENOSPC, and room again once one goes. */
static void t_create_enospc(enum gm_path p)
{
	struct gpumux_tenant_create c;
	struct gpumux_info info;
	struct rlimit rl, old;
	unsigned int room, n = 0, i;
	int *fds, ret = 0;

	t_begin("tenant_create/enospc/%s", PN(p));
	T_EQ(gm_get_info(ctl, &info, p), 0);
	room = info.max_tenants - info.nr_tenants;
	if (room > 16384) {
		t_skip("max_tenants too large to fill");
		t_end();
		return;
	}
	getrlimit(RLIMIT_NOFILE, &old);
	rl.rlim_cur = rl.rlim_max = room + 256;
	if (rl.rlim_max < old.rlim_max)
		rl.rlim_max = old.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		t_skip("cannot raise RLIMIT_NOFILE");
		t_end();
		return;
	}
	fds = calloc(room + 1, sizeof(*fds));
	for (i = 0; fds && i <= room; i++) {
		fill_create(&c, "tenant-full");
		c.max_cus = 0;
		c.pinned_quota = 0;
		ret = create_raw(&c, p);
		if (ret < 0)
			break;
		fds[n++] = c.fd;
	}
	T_EQ(n, room);
	T_EQ(ret, -ENOSPC);
	T_EQ(gm_get_info(ctl, &info, p), 0);
	T_EQ(info.nr_tenants, info.max_tenants);
	t_end();

	/* With that many tenants: one LIST call returns at most 1024. */
	t_begin("list_tenants/at_most_1024/%s", PN(p));
	if (info.nr_tenants > 1024) {
		struct gpumux_tenant_info *ti = calloc(2048, sizeof(*ti));
		unsigned int total = 0;
		int cnt;

		cnt = ti ? gm_list(ctl, GPUMUX_LIST_TENANTS, ti, sizeof(*ti),
				   2048, 0, &total, p) :
			   -ENOMEM;
		T_EQ(cnt, 1024);
		T_EQ(total, info.nr_tenants);
		if (cnt == 1024)
			T_ASSERT(ti[1022].tenant_id < ti[1023].tenant_id);
		free(ti);
	} else {
		t_skip("max_tenants not above 1024");
	}
	t_end();

	t_begin("tenant_create/enospc_room_again/%s", PN(p));
	if (n > 0) {
		close(fds[--n]);
		fill_create(&c, "tenant-room");
		T_EQ(create_raw(&c, p), 0);
		if (c.fd >= 0)
			close(c.fd);
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	setrlimit(RLIMIT_NOFILE, &old);
	gm_drain(ctl);
	t_end();
}

/* No fd left: EMFILE, and no tenant was left behind. */
static void t_create_emfile(enum gm_path p)
{
	struct gpumux_tenant_create c;
	struct gpumux_info before, after;
	struct rlimit rl, old;
	int lowest;

	t_begin("tenant_create/emfile/%s", PN(p));
	/* Make sure the uring path's ring exists before fds run out. */
	T_EQ(gm_get_info(ctl, &before, p), 0);
	lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
	T_ASSERT(lowest >= 0);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &old);
	rl = old;
	rl.rlim_cur = lowest;
	T_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	fill_create(&c, "tenant-emfile");
	T_EQ(create_raw(&c, p), -EMFILE);
	setrlimit(RLIMIT_NOFILE, &old);
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_tenants, before.nr_tenants);
	t_end();
}

/* ---- TENANT_FENCE -------------------------------------------------------- */

static void t_fence(enum gm_path p)
{
	struct gpumux_part_ack ack = { 0 };
	struct gpumux_tenant_info ti;
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	struct gpumux_info info;
	char ident[64], line[1024], prefix[32];
	unsigned int tid = 0, buf = 0, buf2 = 0;
	uint64_t off = 0, gen = 0;
	int tfd, gpu;
	char *map = MAP_FAILED;

	t_begin("tenant_fence/valid/%s", PN(p));
	snprintf(ident, sizeof(ident), "test:tenant:%d:fence:%s", getpid(),
		 PN(p));
	gpu = T_OK(gm_gpu_add(ctl, 16, ident, p));
	tfd = T_OK(gm_tenant_create(ctl, "tenant-fence", 8, 1 << 20, &tid, p));
	if (tfd < 0 || gpu < 0) {
		t_end();
		return;
	}
	fcntl(tfd, F_SETFL, O_NONBLOCK);
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 8, 0, 0, &gen, p), 0);
	T_EQ(gm_buf_alloc(tfd, 8192, &buf, &off, p), 0);
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, off);
	T_ASSERT(map != MAP_FAILED);
	if (map != MAP_FAILED)
		memset(map, 0x77, 8192);
	gm_drain(tfd);
	T_EQ(gm_fence(ctl, tid, 0, p), 0);
	T_EQ(gm_wait_event(tfd, GPUMUX_EVENT_FENCED, 0, 5000, &ev), 0);
	T_EQ(ev.tenant_id, tid);
	T_EQ(ev.arg, 1);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.flags & GPUMUX_TENANT_FENCED, GPUMUX_TENANT_FENCED);
	/* Every CU taken at once, no deadline. */
	if (gm_part_get(ctl, tid, gpu, &pi, p) == 0) {
		unsigned int w;
		uint64_t any = 0;

		for (w = 0; w < GPUMUX_MASK_WORDS; w++)
			any |= pi.active[w] | pi.target[w];
		T_EQ(any, 0);
	}
	snprintf(prefix, sizeof(prefix), "tenant %u ", tid);
	if (gm_state_line(prefix, line, sizeof(line)) == 0)
		T_ASSERT(strstr(line, " fenced=1 ") != NULL);
	t_end();

	t_begin("tenant_fence/buffers_and_mappings_stay/%s", PN(p));
	if (map != MAP_FAILED)
		T_EQ(map[8191], 0x77);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.nr_buffers, 1);
	T_EQ(ti.pinned_used, 8192);
	t_end();

	t_begin("tenant_fence/refuses_buf_alloc/%s", PN(p));
	T_EQ(gm_buf_alloc(tfd, 4096, &buf2, NULL, p), -EPERM);
	t_end();

	t_begin("tenant_fence/refuses_part_set/%s", PN(p));
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 4, 0, 0, NULL, p), -EPERM);
	/* An empty mask is allowed. */
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 0, 0, 1000, NULL, p), 0);
	t_end();

	t_begin("tenant_fence/refuses_part_ack/%s", PN(p));
	ack.gpu_id = gpu;
	ack.generation = gen;
	T_EQ(GM_CMD(tfd, GPUMUX_CMD_PART_ACK, &ack, p), -EPERM);
	t_end();

	t_begin("tenant_fence/allows_info_list_free/%s", PN(p));
	T_EQ(gm_get_info(tfd, &info, p), 0);
	T_EQ(gm_tenant_info(tfd, tid, &ti, p), 0);
	T_EQ(gm_buf_free(tfd, buf, p), 0);
	if (map != MAP_FAILED)
		T_EQ(map[0], 0x77);
	t_end();

	t_begin("tenant_fence/clear/%s", PN(p));
	gm_drain(tfd);
	T_EQ(gm_fence(ctl, tid, GPUMUX_FENCE_CLEAR, p), 0);
	T_EQ(gm_wait_event(tfd, GPUMUX_EVENT_FENCED, 0, 5000, &ev), 0);
	T_EQ(ev.arg, 0);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.flags & GPUMUX_TENANT_FENCED, 0);
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 4, 0, 0, NULL, p), 0);
	T_EQ(gm_buf_alloc(tfd, 4096, &buf2, NULL, p), 0);
	T_EQ(gm_buf_free(tfd, buf2, p), 0);
	if (gm_state_line(prefix, line, sizeof(line)) == 0)
		T_ASSERT(strstr(line, " fenced=0 ") != NULL);
	t_end();

	if (map != MAP_FAILED)
		munmap(map, 8192);
	close(tfd);
	T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
}

static void t_fence_invalid(enum gm_path p)
{
	struct gpumux_tenant_fence f = { 0 };
	struct gpumux_tenant_info ti;
	unsigned int tid = 0;
	int tfd;

	tfd = gm_tenant_create(ctl, "tenant-fence-inv", 0, 0, &tid, p);

	t_begin("tenant_fence/enoent/%s", PN(p));
	T_EQ(gm_fence(ctl, 0, 0, p), -ENOENT);
	T_EQ(gm_fence(ctl, 0xffffffffu, 0, p), -ENOENT);
	T_EQ(gm_fence(ctl, 0xffffffffu, GPUMUX_FENCE_CLEAR, p), -ENOENT);
	t_end();

	t_begin("tenant_fence/unknown_flags/%s", PN(p));
	T_OK(tfd);
	T_EQ(gm_fence(ctl, tid, 1U << 1, p), -EINVAL);
	T_EQ(gm_fence(ctl, tid, GPUMUX_FENCE_CLEAR | (1U << 31), p), -EINVAL);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.flags, 0);
	t_end();

	t_begin("tenant_fence/from_tenant/%s", PN(p));
	f.tenant_id = tid;
	if (tfd >= 0)
		T_EQ(GM_CMD(tfd, GPUMUX_CMD_TENANT_FENCE, &f, p), -EPERM);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.flags, 0);
	t_end();

	t_begin("tenant_fence/gone_tenant/%s", PN(p));
	if (tfd >= 0)
		close(tfd);
	T_EQ(gm_fence(ctl, tid, 0, p), -ENOENT);
	t_end();
}

/* ---- LIST of tenants ----------------------------------------------------- */

#define NT 4

static void t_list_tenants(enum gm_path p)
{
	struct gpumux_tenant_info ti[NT + 8];
	unsigned int ids[NT], total = 0, start, found, i, k;
	int fds[NT], n;
	char name[32];

	for (i = 0; i < NT; i++) {
		snprintf(name, sizeof(name), "tenant-list%u", i);
		fds[i] = gm_tenant_create(ctl, name, i, 4096 * (i + 1), &ids[i],
					  p);
	}

	t_begin("list_tenants/paging/%s", PN(p));
	for (i = 0; i < NT; i++)
		T_OK(fds[i]);
	start = ids[0];
	found = 0;
	for (k = 0; k < 64; k++) {
		n = gm_list(ctl, GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]), 3,
			    start, &total, p);
		T_ASSERT(n >= 0 && n <= 3);
		if (n <= 0)
			break;
		T_ASSERT(total >= (unsigned int)n);
		for (i = 0; i < (unsigned int)n; i++) {
			T_ASSERT(ti[i].tenant_id >= start);
			if (i)
				T_ASSERT(ti[i - 1].tenant_id < ti[i].tenant_id);
			if (found < NT && ti[i].tenant_id == ids[found]) {
				snprintf(name, sizeof(name), "tenant-list%u",
					 found);
				T_EQ(strcmp(ti[i].name, name), 0);
				T_EQ(ti[i].max_cus, found);
				T_EQ(ti[i].pinned_quota, 4096 * (found + 1));
				found++;
			}
		}
		start = ti[n - 1].tenant_id + 1;
	}
	T_EQ(found, NT);
	t_end();

	t_begin("list_tenants/count_only/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_TENANTS, NULL, sizeof(ti[0]), 0, ids[0],
		    &total, p);
	T_EQ(n, 0);
	T_ASSERT(total >= NT);
	t_end();

	t_begin("list_tenants/tenant_sees_itself/%s", PN(p));
	if (fds[1] >= 0) {
		n = gm_list(fds[1], GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]),
			    NT + 8, 0, &total, p);
		T_EQ(n, 1);
		T_EQ(total, 1);
		T_EQ(ti[0].tenant_id, ids[1]);
		/* Past its own id: nothing. */
		n = gm_list(fds[1], GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]),
			    NT + 8, ids[1] + 1, &total, p);
		T_EQ(n, 0);
		T_EQ(total, 0);
	}
	t_end();

	t_begin("list_tenants/entry_size/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]) - 8, 2, 0,
		     NULL, p),
	     -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]) + 8, 2, 0,
		     NULL, p),
	     -EINVAL);
	if (fds[0] >= 0)
		T_EQ(gm_list(fds[0], GPUMUX_LIST_TENANTS, ti, sizeof(ti[0]) + 8,
			     2, 0, NULL, p),
		     -EINVAL);
	t_end();

	t_begin("list_tenants/efault/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_TENANTS, (void *)(uintptr_t)8,
		     sizeof(ti[0]), 2, ids[0], NULL, p),
	     -EFAULT);
	t_end();

	for (i = 0; i < NT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/*
 * Closing a control file ends nothing: a new control file lists the
 * tenants and partitions back, and every open control file hears of a
 * tenant's end.
 */
static void t_control_close(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_part_info pi;
	struct gpumux_event ev;
	unsigned int tid = 0;
	char ident[64];
	int c1, c2, tfd, gpu;

	t_begin("control_close/tenants_live_on/%s", PN(p));
	snprintf(ident, sizeof(ident), "test:tenant:%d:ctlclose:%s", getpid(),
		 PN(p));
	gpu = T_OK(gm_gpu_add(ctl, 8, ident, p));
	c1 = T_OK(gm_open_control(O_NONBLOCK));
	tfd = -1;
	if (c1 >= 0) {
		tfd = T_OK(gm_tenant_create(c1, "tenant-ctlclose", 4, 4096,
					    &tid, p));
		T_EQ(gm_part_set_range(c1, tid, gpu, 0, 4, 0, 0, NULL, p), 0);
		close(c1);
	}
	c2 = T_OK(gm_open_control(O_NONBLOCK));
	if (c2 >= 0) {
		T_EQ(gm_tenant_info(c2, tid, &ti, p), 0);
		T_EQ(strcmp(ti.name, "tenant-ctlclose"), 0);
		T_EQ(gm_part_get(c2, tid, gpu, &pi, p), 0);
		T_EQ(pi.active[0], 0xf);
	}
	t_end();

	t_begin("control_close/gone_to_every_control/%s", PN(p));
	gm_drain(ctl);
	if (tfd >= 0)
		close(tfd);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 5000, &ev), 0);
	if (c2 >= 0) {
		T_EQ(gm_wait_event(c2, GPUMUX_EVENT_TENANT_GONE, tid, 5000,
				   &ev),
		     0);
		close(c2);
	}
	if (gpu > 0)
		T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
	t_end();
}

/* A dup()ed tenant fd is the same lease: gone only after both close. */
static void t_dup_lease(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_event ev;
	unsigned int tid = 0;
	int tfd, d;

	t_begin("tenant_close/dup_keeps_lease/%s", PN(p));
	gm_drain(ctl);
	tfd = T_OK(gm_tenant_create(ctl, "tenant-dup", 0, 0, &tid, p));
	if (tfd < 0) {
		t_end();
		return;
	}
	d = dup(tfd);
	close(tfd);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &ev),
	     -ETIMEDOUT);
	close(d);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 5000, &ev), 0);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), -ENOENT);
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
		t_create_valid(p);
		t_create_cloexec(p);
		t_create_invalid(p);
		t_create_ids(p);
		t_create_from_tenant(p);
		t_create_emfile(p);
		t_fence(p);
		t_fence_invalid(p);
		t_list_tenants(p);
		t_control_close(p);
		t_dup_lease(p);
		t_create_enospc(p);
		gm_drain(ctl);
	}
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
