// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: GPU_ADD, GPU_REMOVE and LIST of GPUs, with every invalid field
 * on its own, over ioctl and uring_cmd.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

static int ctl;

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

static void ident(char *buf, size_t len, const char *what, enum gm_path p)
{
	snprintf(buf, len, "test:gpu:%d:%s:%s", getpid(), what, PN(p));
}

static int gpu_add_raw(struct gpumux_gpu_add *a, enum gm_path p)
{
	return GM_CMD(ctl, GPUMUX_CMD_GPU_ADD, a, p);
}

static void fill_add(struct gpumux_gpu_add *a, unsigned int cus,
		     const char *what, enum gm_path p)
{
	memset(a, 0, sizeof(*a));
	a->cus = cus;
	a->vram_bytes = 8ULL << 30;
	ident(a->ident, sizeof(a->ident), what, p);
}

/* ---- GPU_ADD ------------------------------------------------------------- */

static void t_add_valid(enum gm_path p)
{
	struct gpumux_info before, after;
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;
	char want[256], line[1024], prefix[32];

	t_begin("gpu_add/valid/%s", PN(p));
	T_EQ(gm_get_info(ctl, &before, p), 0);
	fill_add(&a, 64, "valid", p);
	a.vram_bytes = 12345ULL << 20;
	a.gpu_id = 0xdeadbeef; /* an out field: whatever comes in */
	T_EQ(gpu_add_raw(&a, p), 0);
	T_ASSERT(a.gpu_id > 0 && a.gpu_id != 0xdeadbeef);
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_gpus, before.nr_gpus + 1);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	T_EQ(gi.gpu_id, a.gpu_id);
	T_EQ(gi.cus, 64);
	T_EQ(gi.vram_bytes, 12345ULL << 20);
	T_EQ(strncmp(gi.ident, a.ident, sizeof(gi.ident)), 0);
	T_EQ(gi.cus_exclusive, 0);
	T_EQ(gi.cus_shared, 0);
	snprintf(prefix, sizeof(prefix), "gpu %u ", a.gpu_id);
	snprintf(want, sizeof(want), "gpu %u cus=64 vram=%llu ident=%s",
		 a.gpu_id, 12345ULL << 20, a.ident);
	if (gm_state_line(prefix, line, sizeof(line)) == 0 &&
	    strcmp(line, want))
		t_fail(__FILE__, __LINE__, "state line '%s', want '%s'", line,
		       want);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), -ENOENT);
	T_EQ(gm_get_info(ctl, &after, p), 0);
	T_EQ(after.nr_gpus, before.nr_gpus);
	T_EQ(gm_state_line(prefix, line, sizeof(line)) == 0, 0);
	t_end();
}

static void t_add_bounds(enum gm_path p)
{
	static const unsigned int ok_cus[] = { 1, GPUMUX_MAX_CUS };
	static const unsigned int bad_cus[] = { 0, GPUMUX_MAX_CUS + 1, 4096,
						0xffffffffu };
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;
	size_t i;

	for (i = 0; i < 2; i++) {
		t_begin("gpu_add/cus_%u/%s", ok_cus[i], PN(p));
		fill_add(&a, ok_cus[i], "cus_ok", p);
		T_EQ(gpu_add_raw(&a, p), 0);
		T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
		T_EQ(gi.cus, ok_cus[i]);
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
		t_end();
	}
	for (i = 0; i < ARRAY_SIZE(bad_cus); i++) {
		t_begin("gpu_add/cus_%u/%s", bad_cus[i], PN(p));
		fill_add(&a, bad_cus[i], "cus_bad", p);
		T_EQ(gpu_add_raw(&a, p), -EINVAL);
		t_end();
	}
}

static void t_add_ident(enum gm_path p)
{
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;

	t_begin("gpu_add/ident_empty/%s", PN(p));
	fill_add(&a, 8, "x", p);
	memset(a.ident, 0, sizeof(a.ident));
	T_EQ(gpu_add_raw(&a, p), -EINVAL);
	/* Bytes after the NUL do not make it non-empty. */
	a.ident[1] = 'x';
	T_EQ(gpu_add_raw(&a, p), -EINVAL);
	t_end();

	t_begin("gpu_add/ident_unterminated/%s", PN(p));
	fill_add(&a, 8, "x", p);
	memset(a.ident, 'u', sizeof(a.ident));
	T_EQ(gpu_add_raw(&a, p), -EINVAL);
	t_end();

	t_begin("gpu_add/ident_63_chars/%s", PN(p));
	fill_add(&a, 8, "long", p);
	/* Pad the unique ident with 'l' to 63 characters and the NUL. */
	memset(a.ident + strlen(a.ident), 'l',
	       sizeof(a.ident) - 1 - strlen(a.ident));
	a.ident[sizeof(a.ident) - 1] = 0;
	T_EQ(strlen(a.ident), GPUMUX_IDENT_LEN - 1);
	T_EQ(gpu_add_raw(&a, p), 0);
	if (a.gpu_id) {
		T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
		T_EQ(memcmp(gi.ident, a.ident, GPUMUX_IDENT_LEN), 0);
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	}
	t_end();
}

static void t_add_reserved(enum gm_path p)
{
	struct gpumux_gpu_add a;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		t_begin("gpu_add/reserved%u/%s", i, PN(p));
		fill_add(&a, 8, "reserved", p);
		a.reserved[i] = 1;
		T_EQ(gpu_add_raw(&a, p), -EINVAL);
		fill_add(&a, 8, "reserved", p);
		a.reserved[i] = 1ULL << 63;
		T_EQ(gpu_add_raw(&a, p), -EINVAL);
		/* Nothing was registered under that ident. */
		fill_add(&a, 8, "reserved", p);
		T_EQ(gpu_add_raw(&a, p), 0);
		if (a.gpu_id > 0)
			T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
		t_end();
	}
}

static void t_add_eexist(enum gm_path p)
{
	struct gpumux_gpu_add a, b;

	t_begin("gpu_add/eexist/%s", PN(p));
	fill_add(&a, 16, "eexist", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	fill_add(&b, 32, "eexist", p);
	T_EQ(gpu_add_raw(&b, p), -EEXIST);
	if (a.gpu_id)
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	/* Once removed, the ident may be registered again. */
	fill_add(&b, 32, "eexist", p);
	T_EQ(gpu_add_raw(&b, p), 0);
	T_ASSERT(b.gpu_id > 0);
	if (b.gpu_id)
		T_EQ(gm_gpu_remove(ctl, b.gpu_id, p), 0);
	t_end();
}

static void t_add_ids_distinct(enum gm_path p)
{
	struct gpumux_gpu_add a, b;

	t_begin("gpu_add/ids_distinct/%s", PN(p));
	fill_add(&a, 4, "ida", p);
	fill_add(&b, 4, "idb", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	T_EQ(gpu_add_raw(&b, p), 0);
	T_ASSERT(a.gpu_id > 0 && b.gpu_id > 0 && a.gpu_id != b.gpu_id);
	if (a.gpu_id)
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	if (b.gpu_id)
		T_EQ(gm_gpu_remove(ctl, b.gpu_id, p), 0);
	t_end();
}

static void t_add_enospc(enum gm_path p)
{
	struct gpumux_info info;
	struct gpumux_gpu_add a;
	unsigned int *ids, n = 0, room, i;
	char what[32];
	int ret = 0;

	t_begin("gpu_add/enospc/%s", PN(p));
	T_EQ(gm_get_info(ctl, &info, p), 0);
	T_ASSERT(info.max_gpus >= 1 && info.max_gpus <= GPUMUX_MAX_GPUS);
	room = info.max_gpus - info.nr_gpus;
	ids = calloc(room + 1, sizeof(*ids));
	for (i = 0; ids && i <= room; i++) {
		snprintf(what, sizeof(what), "full%u", i);
		fill_add(&a, 4, what, p);
		ret = gpu_add_raw(&a, p);
		if (ret < 0)
			break;
		ids[n++] = a.gpu_id;
	}
	T_EQ(n, room);
	T_EQ(ret, -ENOSPC);
	T_EQ(gm_get_info(ctl, &info, p), 0);
	T_EQ(info.nr_gpus, info.max_gpus);
	for (i = 0; i < n; i++)
		T_EQ(gm_gpu_remove(ctl, ids[i], p), 0);
	free(ids);
	/* Room again. */
	fill_add(&a, 4, "after_full", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	if (a.gpu_id)
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	t_end();
}

/* Control commands on a tenant file: EPERM. */
static void t_gpu_from_tenant(enum gm_path p)
{
	struct gpumux_gpu_add a;
	struct gpumux_gpu_remove r = { 0 };
	struct gpumux_gpu_info gi[4];
	unsigned int gpu;
	int tfd;

	t_begin("gpu_add/from_tenant/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "gpu-eperm", 4, 0, NULL, p));
	fill_add(&a, 4, "eperm", p);
	if (tfd >= 0)
		T_EQ(GM_CMD(tfd, GPUMUX_CMD_GPU_ADD, &a, p), -EPERM);
	/* It registered nothing. */
	fill_add(&a, 4, "eperm", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	gpu = a.gpu_id;
	t_end();

	t_begin("gpu_remove/from_tenant/%s", PN(p));
	r.gpu_id = gpu;
	if (tfd >= 0)
		T_EQ(GM_CMD(tfd, GPUMUX_CMD_GPU_REMOVE, &r, p), -EPERM);
	T_EQ(gm_gpu_info(ctl, gpu, gi, p), 0);
	t_end();

	t_begin("list_gpus/from_tenant/%s", PN(p));
	if (tfd >= 0) {
		T_EQ(gm_list(tfd, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), 4, 0,
			     NULL, p),
		     -EPERM);
		T_EQ(gm_list(tfd, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), 0, 0,
			     NULL, p),
		     -EPERM);
	}
	t_end();

	if (tfd >= 0)
		close(tfd);
	if (gpu)
		T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
}

/* ---- GPU_REMOVE ---------------------------------------------------------- */

static void t_remove_enoent(enum gm_path p)
{
	struct gpumux_gpu_add a;

	t_begin("gpu_remove/enoent/%s", PN(p));
	T_EQ(gm_gpu_remove(ctl, 0, p), -ENOENT);
	T_EQ(gm_gpu_remove(ctl, 0xffffffffu, p), -ENOENT);
	fill_add(&a, 4, "enoent", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	if (a.gpu_id) {
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
		T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), -ENOENT);
	}
	t_end();
}

static void t_remove_reserved(enum gm_path p)
{
	struct gpumux_gpu_remove r = { 0 };
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;

	t_begin("gpu_remove/reserved/%s", PN(p));
	fill_add(&a, 4, "rm_reserved", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	r.gpu_id = a.gpu_id;
	r.reserved = 1;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GPU_REMOVE, &r, p), -EINVAL);
	r.reserved = 0x80000000u;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GPU_REMOVE, &r, p), -EINVAL);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	t_end();
}

static void t_remove_busy(enum gm_path p)
{
	struct gpumux_part_ack ack = { 0 };
	struct gpumux_part_info pi;
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;
	unsigned int tid = 0;
	uint64_t gen = 0;
	int tfd;

	t_begin("gpu_remove/ebusy_held/%s", PN(p));
	fill_add(&a, 16, "busy", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	tfd = T_OK(gm_tenant_create(ctl, "gpu-busy", 16, 0, &tid, p));
	T_EQ(gm_part_set_range(ctl, tid, a.gpu_id, 0, 4, GPUMUX_PART_EXCLUSIVE,
			       0, &gen, p),
	     0);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), -EBUSY);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	t_end();

	/* Released but not yet acknowledged: the tenant still holds them. */
	t_begin("gpu_remove/ebusy_revoking/%s", PN(p));
	T_EQ(gm_part_set_range(ctl, tid, a.gpu_id, 0, 0, GPUMUX_PART_EXCLUSIVE,
			       60000, &gen, p),
	     0);
	T_EQ(gm_part_get(ctl, tid, a.gpu_id, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_REVOKING);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), -EBUSY);
	t_end();

	/* Acknowledged: nothing held or promised, the tenant still lives. */
	t_begin("gpu_remove/after_release/%s", PN(p));
	ack.gpu_id = a.gpu_id;
	ack.generation = gen;
	if (tfd >= 0)
		T_EQ(GM_CMD(tfd, GPUMUX_CMD_PART_ACK, &ack, p), 0);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), -ENOENT);
	if (tfd >= 0)
		close(tfd);
	t_end();

	/* A tenant that holds CUs and goes away leaves the GPU free. */
	t_begin("gpu_remove/after_tenant_close/%s", PN(p));
	fill_add(&a, 16, "busy_close", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	tfd = T_OK(gm_tenant_create(ctl, "gpu-busy2", 16, 0, &tid, p));
	T_EQ(gm_part_set_range(ctl, tid, a.gpu_id, 0, 8, GPUMUX_PART_SHARED, 0,
			       &gen, p),
	     0);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), -EBUSY);
	if (tfd >= 0)
		close(tfd);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	t_end();
}

/* ---- LIST of GPUs -------------------------------------------------------- */

#define NLIST 5

static void t_list(enum gm_path p)
{
	struct gpumux_gpu_info gi[NLIST + 64], one;
	struct gpumux_gpu_add a;
	struct gpumux_list l;
	unsigned int ids[NLIST], total = 0, start, found, i, k;
	char what[32];
	int n;

	for (i = 0; i < NLIST; i++) {
		snprintf(what, sizeof(what), "list%u", i);
		fill_add(&a, 8 + i, what, p);
		ids[i] = gpu_add_raw(&a, p) ? 0 : a.gpu_id;
	}

	t_begin("list_gpus/all/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), NLIST + 64, 0,
		    &total, p);
	T_ASSERT(n >= NLIST);
	T_EQ(total, n);
	for (k = 1; k < (unsigned int)(n > 0 ? n : 0); k++)
		T_ASSERT(gi[k - 1].gpu_id < gi[k].gpu_id);
	for (i = 0; i < NLIST; i++) {
		T_ASSERT(ids[i] > 0);
		for (k = 0; k < (unsigned int)(n > 0 ? n : 0); k++)
			if (gi[k].gpu_id == ids[i])
				break;
		T_ASSERT(k < (unsigned int)n);
		if (k < (unsigned int)n)
			T_EQ(gi[k].cus, 8 + i);
	}
	t_end();

	t_begin("list_gpus/count_only/%s", PN(p));
	memset(&one, 0x5a, sizeof(one));
	n = gm_list(ctl, GPUMUX_LIST_GPUS, &one, sizeof(one), 0, ids[0], &total,
		    p);
	T_EQ(n, 0);
	T_ASSERT(total >= NLIST);
	/* Nothing written with capacity 0. */
	T_EQ(((unsigned char *)&one)[0], 0x5a);
	t_end();

	t_begin("list_gpus/paging/%s", PN(p));
	start = ids[0];
	found = 0;
	for (k = 0; k < 16; k++) {
		n = gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), 2, start,
			    &total, p);
		T_ASSERT(n >= 0 && n <= 2);
		if (n <= 0)
			break;
		T_ASSERT(gi[0].gpu_id >= start);
		if (n == 2)
			T_ASSERT(gi[0].gpu_id < gi[1].gpu_id);
		T_ASSERT(total >= (unsigned int)n);
		for (i = 0; i < (unsigned int)n; i++)
			if (found < NLIST && gi[i].gpu_id == ids[found])
				found++;
		start = gi[n - 1].gpu_id + 1;
	}
	T_EQ(found, NLIST);
	t_end();

	t_begin("list_gpus/start_past_end/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), 4, 0xffffffffu,
		    &total, p);
	T_EQ(n, 0);
	T_EQ(total, 0);
	t_end();

	t_begin("list_gpus/total_from_start/%s", PN(p));
	n = gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]), 1, ids[NLIST - 1],
		    &total, p);
	T_EQ(n, 1);
	T_EQ(gi[0].gpu_id, ids[NLIST - 1]);
	/* Ids are not promised to grow, so only ">= 1" is certain. */
	T_ASSERT(total >= 1);
	t_end();

	t_begin("list_gpus/entry_size/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]) - 8, 4, 0, NULL,
		     p),
	     -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_GPUS, gi, sizeof(gi[0]) + 8, 4, 0, NULL,
		     p),
	     -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_GPUS, gi, 0, 4, 0, NULL, p), -EINVAL);
	T_EQ(gm_list(ctl, GPUMUX_LIST_GPUS, gi,
		     sizeof(struct gpumux_tenant_info), 4, 0, NULL, p),
	     -EINVAL);
	t_end();

	t_begin("list_gpus/efault/%s", PN(p));
	T_EQ(gm_list(ctl, GPUMUX_LIST_GPUS, (void *)(uintptr_t)8, sizeof(gi[0]),
		     4, 0, NULL, p),
	     -EFAULT);
	t_end();

	t_begin("list/unknown_kind/%s", PN(p));
	T_EQ(gm_list(ctl, 0, gi, sizeof(gi[0]), 4, 0, NULL, p), -EINVAL);
	T_EQ(gm_list(ctl, 6, gi, sizeof(gi[0]), 4, 0, NULL, p), -EINVAL);
	T_EQ(gm_list(ctl, 0xffffffffu, gi, sizeof(gi[0]), 4, 0, NULL, p),
	     -EINVAL);
	t_end();

	for (i = 0; i < 2; i++) {
		t_begin("list/reserved%u/%s", i, PN(p));
		memset(&l, 0, sizeof(l));
		l.kind = GPUMUX_LIST_GPUS;
		l.entry_size = sizeof(gi[0]);
		l.addr = (uintptr_t)gi;
		l.capacity = 4;
		l.reserved[i] = 1;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_LIST, &l, p), -EINVAL);
		t_end();
	}

	for (i = 0; i < NLIST; i++)
		if (ids[i])
			gm_gpu_remove(ctl, ids[i], p);
}

/* cus_exclusive and cus_shared follow the partitions. */
static void t_cus_counts(enum gm_path p)
{
	struct gpumux_gpu_add a;
	struct gpumux_gpu_info gi;
	unsigned int ta = 0, tb = 0, tc = 0;
	int fa, fb, fc;

	t_begin("gpu_info/cus_counts/%s", PN(p));
	fill_add(&a, 64, "counts", p);
	T_EQ(gpu_add_raw(&a, p), 0);
	fa = T_OK(gm_tenant_create(ctl, "gpu-cnt-a", 64, 0, &ta, p));
	fb = T_OK(gm_tenant_create(ctl, "gpu-cnt-b", 64, 0, &tb, p));
	fc = T_OK(gm_tenant_create(ctl, "gpu-cnt-c", 64, 0, &tc, p));
	T_EQ(gm_part_set_range(ctl, ta, a.gpu_id, 0, 8, GPUMUX_PART_EXCLUSIVE,
			       0, NULL, p),
	     0);
	T_EQ(gm_part_set_range(ctl, tb, a.gpu_id, 8, 4, GPUMUX_PART_SHARED, 0,
			       NULL, p),
	     0);
	T_EQ(gm_part_set_range(ctl, tc, a.gpu_id, 10, 4, GPUMUX_PART_SHARED, 0,
			       NULL, p),
	     0);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	T_EQ(gi.cus_exclusive, 8);
	/* 8-11 and 10-13: six distinct CUs. */
	T_EQ(gi.cus_shared, 6);
	if (fc >= 0)
		close(fc);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	T_EQ(gi.cus_shared, 4);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	T_EQ(gm_gpu_info(ctl, a.gpu_id, &gi, p), 0);
	T_EQ(gi.cus_exclusive, 0);
	T_EQ(gi.cus_shared, 0);
	T_EQ(gm_gpu_remove(ctl, a.gpu_id, p), 0);
	t_end();
}

int main(void)
{
	long long base[GM_NR_CNT];
	enum gm_path p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl = gm_t_open_control(0);
	if (ctl < 0)
		return 1;
	gm_counters_get(base);
	for_each_path(p) {
		t_add_valid(p);
		t_add_bounds(p);
		t_add_ident(p);
		t_add_reserved(p);
		t_add_eexist(p);
		t_add_ids_distinct(p);
		t_add_enospc(p);
		t_gpu_from_tenant(p);
		t_remove_enoent(p);
		t_remove_reserved(p);
		t_remove_busy(p);
		t_list(p);
		t_cus_counts(p);
	}
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
