// SPDX-License-Identifier: GPL-2.0
/*
 * test-fuzz: a bounded random-command fuzzer for /dev/gpumux.
 *
 * It issues COUNT commands (default 200000), chosen by a seeded generator,
 * over ioctl() and over IORING_OP_URING_CMD (submitted in batches of up to
 * 64 SQEs, on a 64-byte-SQE ring and on a 128-byte-SQE one), on the control
 * file and on tenant files.  Commands are built from a model of what
 * exists (GPUs, tenants, buffers, grants, mappings) and then mutated:
 * boundary values, non-zero reserved fields, unknown flags, stale ids,
 * ids of other tenants, bad pointers (NULL, kernel, read-only, straddling
 * an unmapped page), the wrong kind of file; plus near-valid and random
 * command numbers, and raw uring_cmd SQEs with garbage command bytes, a
 * wrong len or a non-zero reserved word.  Between commands it creates,
 * duplicates and closes tenant files, maps, touches, splits and unmaps
 * buffers, and reads events.
 *
 * What it checks:
 *  - every result is >= 0 or a -errno the header documents for that
 *    command (or for all commands); unknown numbers give ENOTTY;
 *  - what the header calls invalid never succeeds;
 *  - outputs of successful commands are sane, and a tenant file sees only
 *    its own objects (and buffers granted to it);
 *  - mappings: zeroed at first, coherent between mappings, SIGBUS after a
 *    grant is revoked, a read-only grant never becomes writable, no
 *    mapping of a buffer the tenant may not see;
 *  - every CHECK_EVERY commands: the invariants of debugfs gpumux/state,
 *    and state and counters against the model (exact: the fuzzer is the
 *    only user);
 *  - uring_cmd: an armed EVENT_FETCH completes on an event and is
 *    cancelled when its ring goes; TENANT_CREATE at the fd limit leaks
 *    nothing;
 *  - at the end, with everything closed, the leak counters are back to the
 *    baseline.
 *
 * Usage: test-fuzz [-n COUNT] [-s SEED] [-t MAX_SECONDS]
 * or the environment: GM_FUZZ_COUNT, GM_FUZZ_SEED, GM_FUZZ_MAX_SECS.
 * The run stops after MAX_SECONDS (default 200) whatever the count: that
 * fails on a normal kernel (200000 take about 10 s in the TCG VM), and is
 * expected on a debug (KASAN, lockdep) kernel.
 * The seed is printed first ("fuzz: seed=N"): the same seed replays the
 * same command stream as far as the module answers the same way (deadline
 * timers make that approximate).
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define DEFAULT_COUNT 200000UL
#define DEFAULT_MAX_SECS 200 /* under the VM rig's 300 s per program */
#define CHECK_EVERY 1000UL
#define NSLOT 64 /* uring batch */
#define SLOT_SIZE 8192UL
#define ARR_OFF 1024UL /* the list/event array inside a slot */
#define SINK_SIZE (512UL << 10)
#define KADDR 0xffff888000000000ULL

/* What the model tracks. */
#define MT 20 /* tenants */
#define MG 8 /* GPUs */
#define MB 160 /* buffers */
#define MGR 160 /* grants */
#define MM 128 /* mappings */
#define MP 160 /* partition generations */
#define MSTALE 64

#define DEBUGFS "/sys/kernel/debug/gpumux"

static uint64_t pg;
static int ctl, ctl2;
static unsigned long nstep;
static struct gpumux_info info0;

/* ------------------------------------------------------------ random */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static bool chance(unsigned int pct)
{
	return rn(100) < pct;
}

static uint64_t nz64(void)
{
	uint64_t v;

	do
		v = chance(50) ? 1ULL << rn(64) : rnd();
	while (!v);
	return v;
}

static void fill_rand(void *p, size_t n)
{
	uint8_t *b = p;
	uint64_t v;

	while (n >= 8) {
		v = rnd();
		memcpy(b, &v, 8);
		b += 8;
		n -= 8;
	}
	while (n--)
		*b++ = (uint8_t)rnd();
}

static uint32_t b32(void)
{
	static const uint32_t v[] = {
		0,     1,     2,	  3,	      31,	  32,
		33,    63,    64,	  65,	      127,	  128,
		1023,  1024,  1025,	  4095,	      4096,	  4097,
		65535, 65536, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff
	};

	return chance(85) ? v[rn(ARRAY_SIZE(v))] : (uint32_t)rnd();
}

static uint64_t b64(void)
{
	const uint64_t v[] = { 0,
			       1,
			       2,
			       pg - 1,
			       pg,
			       pg + 1,
			       2 * pg,
			       0x7fffffffULL,
			       0x80000000ULL,
			       0xffffffffULL,
			       0x100000000ULL,
			       0x100000000ULL + pg,
			       1ULL << 40,
			       1ULL << 62,
			       1ULL << 63,
			       (1ULL << 63) + pg,
			       ~0ULL,
			       ~0ULL - pg + 1,
			       ~0ULL << 12 };

	return chance(85) ? v[rn(ARRAY_SIZE(v))] : rnd();
}

/* A printable name of @len bytes or fewer, NUL-terminated. */
static void rand_str(char *s, size_t len)
{
	size_t n = 1 + rn(len - 1), i;

	for (i = 0; i < n; i++) {
		unsigned int c = 0x21 + rn(0x5e + 0x80);

		s[i] = (char)(c < 0x7f ? c : c + 1); /* 0x21-0x7e, 0x80-0xff */
	}
	memset(s + n, 0, len - n);
}

/* ------------------------------------------------------------ violations */

enum { V_ERRNO, V_MUSTFAIL, V_OUTPUT, V_MAP, V_INVAR, V_HANG, V_EFAULT, V_NR };

static const char *const v_title[V_NR] = {
	"results are documented (>= 0 or a -errno listed for the command)",
	"invalid input never succeeds",
	"outputs of successful commands, tenant isolation in LIST/events",
	"mappings: zeroed, coherent, SIGBUS after revoke, RO stays RO, isolation",
	"debugfs state/counters invariants and model agree",
	"uring commands complete (nothing invalid stays pending)",
	"read-only struct: no EFAULT without out fields, no side effect left by EFAULT",
};

static const char *const v_tag[V_NR] = { "errno", "mustfail",  "output",
					 "map",	  "invariant", "hang",
					 "efault" };

static unsigned long v_count[V_NR];
static char v_first[V_NR][600];
static unsigned long v_printed;

static void viol(int cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool quiet; /* count only: a check about to be retried */
static unsigned long quiet_count;

static void viol(int cat, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (quiet) {
		quiet_count++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!v_count[cat]++)
		snprintf(v_first[cat], sizeof(v_first[cat]), "%s", msg);
	if (v_printed++ < 60)
		printf("  fuzz: [%s] step %lu: %s\n", v_tag[cat], nstep, msg);
	fflush(stdout);
}

/* ------------------------------------------------------------ the model */

struct mten {
	unsigned int id; /* 0: free slot */
	int fd[4];
	int nfd;
	unsigned int max_cus;
	uint64_t quota;
	bool dead; /* released, but buffers of it are still mapped */
};

struct mgpu {
	unsigned int id;
	unsigned int cus;
	char ident[GPUMUX_IDENT_LEN];
};

struct mbuf {
	unsigned int id; /* 0: free slot */
	unsigned int owner;
	uint64_t size, off;
	bool freed; /* by BUF_FREE or its owner's release; still mapped */
	bool fresh; /* never written: reads see zeroes */
	bool probe;
	uint64_t poff, pval; /* last value written at offset poff */
};

struct mgrant {
	unsigned int buf, t; /* buf 0: free slot */
	bool rw;
	unsigned long inst; /* which grant object (for the grants counter) */
};

enum { MS_OK, MS_ZAPPED, MS_UNKNOWN };

struct mmapping {
	char *addr; /* NULL: free slot */
	size_t len;
	uint64_t boff; /* offset of addr inside the buffer */
	unsigned int buf, t; /* buffer; tenant whose file it was made on */
	bool rw, ro_grant;
	int st;
	unsigned long ginst; /* grant object it holds, 0 for the owner's */
};

struct mpart {
	unsigned int t, g;
	uint64_t gen;
};

static struct mten ten[MT];
static struct mgpu gpus[MG];
static struct mbuf bufs[MB];
static struct mgrant grants[MGR];
static struct mmapping maps[MM];
static struct mpart parts[MP];
static unsigned long grant_inst;

/* Recently gone ids (and the buffers' offsets), for stale-id commands. */
static unsigned int stale_t[MSTALE], stale_g[MSTALE], stale_b[MSTALE];
static uint64_t stale_boff[MSTALE];
static unsigned int nstale_t, nstale_g, nstale_b;

/* GPUs the fuzzer made but could not track, removed at the end. */
static unsigned int extra_gpus[64];
static unsigned int nextra_gpus;

/* Ids present before the fuzzer started. */
static unsigned int base_gpu_ids[256], nbase_gpus;
static unsigned int base_ten_ids[256], nbase_tens;

static bool is_base_tenant(unsigned int id)
{
	unsigned int i;

	for (i = 0; i < nbase_tens; i++)
		if (base_ten_ids[i] == id)
			return true;
	return false;
}

static bool is_base_gpu(unsigned int id)
{
	unsigned int i;

	for (i = 0; i < nbase_gpus; i++)
		if (base_gpu_ids[i] == id)
			return true;
	return false;
}

static int ten_find(unsigned int id)
{
	int i;

	for (i = 0; id && i < MT; i++)
		if (ten[i].id == id)
			return i;
	return -1;
}

static int gpu_find(unsigned int id)
{
	int i;

	for (i = 0; id && i < MG; i++)
		if (gpus[i].id == id)
			return i;
	return -1;
}

static int buf_find(unsigned int id)
{
	int i;

	for (i = 0; id && i < MB; i++)
		if (bufs[i].id == id)
			return i;
	return -1;
}

static int grant_find(unsigned int buf, unsigned int t)
{
	int i;

	for (i = 0; buf && i < MGR; i++)
		if (grants[i].buf == buf && grants[i].t == t)
			return i;
	return -1;
}

static struct mpart *part_find(unsigned int t, unsigned int g, bool make)
{
	int i, fr = -1;

	for (i = 0; i < MP; i++) {
		if (parts[i].t == t && parts[i].g == g)
			return &parts[i];
		if (!parts[i].t && fr < 0)
			fr = i;
	}
	if (!make || fr < 0)
		return NULL;
	parts[fr].t = t;
	parts[fr].g = g;
	parts[fr].gen = 0;
	return &parts[fr];
}

static void note_gen(unsigned int t, unsigned int g, uint64_t gen)
{
	struct mpart *p;

	if (ten_find(t) < 0 || gpu_find(g) < 0)
		return;
	p = part_find(t, g, true);
	if (p && gen > p->gen)
		p->gen = gen;
}

static void stale_add(unsigned int *arr, unsigned int *n, unsigned int id)
{
	arr[*n % MSTALE] = id;
	(*n)++;
}

static unsigned int stale_pick(const unsigned int *arr, unsigned int n)
{
	return n ? arr[rn(MIN(n, MSTALE))] : b32();
}

static int maps_of_tenant(unsigned int t)
{
	int i, n = 0;

	for (i = 0; i < MM; i++)
		if (maps[i].addr && maps[i].t == t)
			n++;
	return n;
}

static int maps_of_buf(unsigned int b)
{
	int i, n = 0;

	for (i = 0; i < MM; i++)
		if (maps[i].addr && maps[i].buf == b)
			n++;
	return n;
}

static int nten_alive(void)
{
	int i, n = 0;

	for (i = 0; i < MT; i++)
		if (ten[i].id && !ten[i].dead && ten[i].nfd)
			n++;
	return n;
}

static int ngpus(void)
{
	int i, n = 0;

	for (i = 0; i < MG; i++)
		n += gpus[i].id != 0;
	return n;
}

static int nbufs(void)
{
	int i, n = 0;

	for (i = 0; i < MB; i++)
		n += bufs[i].id != 0;
	return n;
}

static int ngrants(void)
{
	int i, n = 0;

	for (i = 0; i < MGR; i++)
		n += grants[i].buf != 0;
	return n;
}

static void grant_drop(int gi)
{
	grants[gi].buf = 0;
	grants[gi].t = 0;
}

/* A dead owner whose last orphan buffer went is gone for good. */
static void tenant_reap(int ti)
{
	int i;

	if (!ten[ti].dead)
		return;
	for (i = 0; i < MB; i++)
		if (bufs[i].id && bufs[i].owner == ten[ti].id)
			return;
	ten[ti].id = 0;
	ten[ti].dead = false;
}

/* Buffer @bi lost a reference: gone once freed and unmapped. */
static void buf_maybe_gone(int bi)
{
	unsigned int owner = bufs[bi].owner;
	int ti;

	if (!bufs[bi].freed || maps_of_buf(bufs[bi].id))
		return;
	stale_boff[nstale_b % MSTALE] = bufs[bi].off;
	stale_add(stale_b, &nstale_b, bufs[bi].id);
	bufs[bi].id = 0;
	ti = ten_find(owner);
	if (ti >= 0)
		tenant_reap(ti);
}

static void buf_mark_freed(int bi)
{
	int i;

	bufs[bi].freed = true;
	for (i = 0; i < MGR; i++)
		if (grants[i].buf == bufs[bi].id)
			grant_drop(i);
	buf_maybe_gone(bi);
}

/* Tenant @ti may have lost its last reference: its file is released. */
static void tenant_maybe_dead(int ti)
{
	unsigned int id = ten[ti].id;
	int i;

	if (!id || ten[ti].dead || ten[ti].nfd || maps_of_tenant(id))
		return;
	stale_add(stale_t, &nstale_t, id);
	for (i = 0; i < MGR; i++)
		if (grants[i].t == id)
			grant_drop(i);
	for (i = 0; i < MP; i++)
		if (parts[i].t == id)
			parts[i].t = 0;
	ten[ti].dead = true;
	for (i = 0; i < MB; i++)
		if (bufs[i].id && bufs[i].owner == id && !bufs[i].freed)
			buf_mark_freed(i);
	tenant_reap(ti);
}

static void tenant_close_fd(int ti, int k)
{
	close(ten[ti].fd[k]);
	ten[ti].fd[k] = ten[ti].fd[--ten[ti].nfd];
	tenant_maybe_dead(ti);
}

static int tenant_add(unsigned int id, int fd, unsigned int max_cus,
		      uint64_t quota)
{
	int i;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < MT; i++) {
		if (ten[i].id)
			continue;
		memset(&ten[i], 0, sizeof(ten[i]));
		ten[i].id = id;
		ten[i].fd[0] = fd;
		ten[i].nfd = 1;
		ten[i].max_cus = max_cus;
		ten[i].quota = quota;
		return i;
	}
	/* No room: let it go at once. */
	close(fd);
	stale_add(stale_t, &nstale_t, id);
	return -1;
}

static void map_drop(int mi)
{
	unsigned int b = maps[mi].buf, t = maps[mi].t;
	int bi, ti;

	maps[mi].addr = NULL;
	bi = buf_find(b);
	if (bi >= 0)
		buf_maybe_gone(bi);
	ti = ten_find(t);
	if (ti >= 0)
		tenant_maybe_dead(ti);
}

/* ------------------------------------------------------------ pickers */

static int pick_tenant(void)
{
	int idx[MT], n = 0, i;

	for (i = 0; i < MT; i++)
		if (ten[i].id && !ten[i].dead && ten[i].nfd)
			idx[n++] = i;
	return n ? idx[rn(n)] : -1;
}

static unsigned int pick_tid(void)
{
	unsigned int r = rn(100);
	int i;

	if (r < 78) {
		i = pick_tenant();
		if (i >= 0)
			return ten[i].id;
	}
	if (r < 90 && nstale_t)
		return stale_pick(stale_t, nstale_t);
	return chance(50) ? 0 : b32();
}

static int pick_gpu(void)
{
	int idx[MG], n = 0, i;

	for (i = 0; i < MG; i++)
		if (gpus[i].id)
			idx[n++] = i;
	return n ? idx[rn(n)] : -1;
}

static unsigned int pick_gid(void)
{
	unsigned int r = rn(100);
	int i;

	if (r < 85) {
		i = pick_gpu();
		if (i >= 0)
			return gpus[i].id;
	}
	if (r < 92 && nstale_g)
		return stale_pick(stale_g, nstale_g);
	return chance(50) ? 0 : b32();
}

/* A buffer index with @pred, or -1. */
static int pick_buf_where(unsigned int owner, int want_owner, int freed)
{
	int idx[MB], n = 0, i;

	for (i = 0; i < MB; i++) {
		if (!bufs[i].id)
			continue;
		if (want_owner == 1 && bufs[i].owner != owner)
			continue;
		if (want_owner == 0 && bufs[i].owner == owner)
			continue;
		if (freed >= 0 && bufs[i].freed != freed)
			continue;
		idx[n++] = i;
	}
	return n ? idx[rn(n)] : -1;
}

static int pick_grant_to(unsigned int t)
{
	int idx[MGR], n = 0, i;

	for (i = 0; i < MGR; i++)
		if (grants[i].buf && (!t || grants[i].t == t))
			idx[n++] = i;
	return n ? idx[rn(n)] : -1;
}

static int pick_map(void)
{
	int idx[MM], n = 0, i;

	for (i = 0; i < MM; i++)
		if (maps[i].addr)
			idx[n++] = i;
	return n ? idx[rn(n)] : -1;
}

/* ------------------------------------------------------------ commands */

enum { K_CTL, K_TEN, K_ANY };

static const char *op_name(unsigned int op)
{
	switch (op) {
	case GPUMUX_CMD_GET_INFO:
		return "GET_INFO";
	case GPUMUX_CMD_GPU_ADD:
		return "GPU_ADD";
	case GPUMUX_CMD_GPU_REMOVE:
		return "GPU_REMOVE";
	case GPUMUX_CMD_TENANT_CREATE:
		return "TENANT_CREATE";
	case GPUMUX_CMD_TENANT_FENCE:
		return "TENANT_FENCE";
	case GPUMUX_CMD_PART_SET:
		return "PART_SET";
	case GPUMUX_CMD_PART_ACK:
		return "PART_ACK";
	case GPUMUX_CMD_BUF_ALLOC:
		return "BUF_ALLOC";
	case GPUMUX_CMD_BUF_FREE:
		return "BUF_FREE";
	case GPUMUX_CMD_GRANT:
		return "GRANT";
	case GPUMUX_CMD_GRANT_REVOKE:
		return "GRANT_REVOKE";
	case GPUMUX_CMD_LIST:
		return "LIST";
	case GPUMUX_CMD_EVENT_FETCH:
		return "EVENT_FETCH";
	}
	return NULL;
}

static const unsigned int all_ops[] = {
	GPUMUX_CMD_GET_INFO,	 GPUMUX_CMD_GPU_ADD,
	GPUMUX_CMD_GPU_REMOVE,	 GPUMUX_CMD_TENANT_CREATE,
	GPUMUX_CMD_TENANT_FENCE, GPUMUX_CMD_PART_SET,
	GPUMUX_CMD_PART_ACK,	 GPUMUX_CMD_BUF_ALLOC,
	GPUMUX_CMD_BUF_FREE,	 GPUMUX_CMD_GRANT,
	GPUMUX_CMD_GRANT_REVOKE, GPUMUX_CMD_LIST,
	GPUMUX_CMD_EVENT_FETCH,
};

/* Commands that write "out" fields back on success. */
static bool op_has_out(unsigned int op)
{
	return op == GPUMUX_CMD_GET_INFO || op == GPUMUX_CMD_GPU_ADD ||
	       op == GPUMUX_CMD_TENANT_CREATE || op == GPUMUX_CMD_PART_SET ||
	       op == GPUMUX_CMD_BUF_ALLOC || op == GPUMUX_CMD_LIST ||
	       op == GPUMUX_CMD_EVENT_FETCH;
}

static bool errno_documented(unsigned int op, int e)
{
	if (e == EPERM || e == EINVAL || e == EFAULT || e == ENOMEM)
		return true;
	switch (op) {
	case GPUMUX_CMD_GPU_ADD:
		return e == EEXIST || e == ENOSPC;
	case GPUMUX_CMD_GPU_REMOVE:
		return e == ENOENT || e == EBUSY;
	case GPUMUX_CMD_TENANT_CREATE:
		return e == ENOSPC || e == EMFILE || e == ENFILE;
	case GPUMUX_CMD_TENANT_FENCE:
		return e == ENOENT;
	case GPUMUX_CMD_PART_SET:
		return e == ENOENT || e == EDQUOT || e == EBUSY || e == EXDEV;
	case GPUMUX_CMD_PART_ACK:
		return e == ENOENT || e == ESTALE || e == EALREADY;
	case GPUMUX_CMD_BUF_ALLOC:
		return e == EDQUOT || e == ENOSPC;
	case GPUMUX_CMD_BUF_FREE:
	case GPUMUX_CMD_GRANT_REVOKE:
		return e == ENOENT;
	case GPUMUX_CMD_GRANT:
		return e == ENOENT || e == ENOSPC;
	case GPUMUX_CMD_LIST:
		return e == EOVERFLOW;
	case GPUMUX_CMD_EVENT_FETCH:
		return e == EAGAIN || e == EINTR;
	}
	return false;
}

/* The wider set the brief calls plausible for any command. */
static bool errno_plausible(int e)
{
	switch (e) {
	case EINVAL:
	case ENOENT:
	case EPERM:
	case EBUSY:
	case EDQUOT:
	case ENOSPC:
	case ESTALE:
	case EALREADY:
	case EXDEV:
	case EEXIST:
	case ENOTTY:
	case EFAULT:
	case EAGAIN:
	case EMFILE:
	case ENOMEM:
	case ENODEV:
	case EOPNOTSUPP:
	case ECANCELED:
		return true;
	}
	return false;
}

struct cmd {
	unsigned int op;
	int fd;
	int kind; /* the file: K_CTL or K_TEN */
	int ti; /* tenant index of the file (K_TEN), or the one ids came from */
	int path; /* GM_IOCTL, GM_URING */
	bool sqe128;
	char *w; /* the slot: writable view of the struct */
	uint64_t argp; /* the pointer handed over */
	struct gpumux_uring_cmd uc; /* uring: the command bytes */
	bool known; /* op is a command and *w holds its struct */
	bool argw; /* argp == w: outputs can be read there */
	bool arrok; /* LIST/FETCH array is the slot's: parse it */
	bool bad_uc; /* uring: len/reserved/addr deliberately wrong */
	bool near; /* a near-valid or random number */
	bool wrongkind; /* sent to the other kind of file on purpose */
	bool ro; /* argp is the read-only alias of the slot */
	const char *mfs; /* must fail, unless another command of the batch ... */
	unsigned int mfs_dep; /* ... of this number changes the state */
	const char *mf; /* must fail: why */
	bool ms; /* must succeed */
	int res;
};

static struct cmd cmds[NSLOT];
static char *slotmem, *slotro, *edgemem, *sink, *xslot;
static struct io_uring ring64, ring128;
static bool have128;
static unsigned long n_ioctl, n_uring, n_batches, n_raw, n_near, n_ok, n_fail,
	n_nonc;
static unsigned long n_errno[256];
static unsigned long n_mapped, n_touched, n_zap_checked, n_splits, n_rogrant;
static bool batch_racy;

static void mf(struct cmd *c, const char *why)
{
	if (!c->mf)
		c->mf = why;
}

static void set_fd(struct cmd *c, int want)
{
	int ti = pick_tenant();
	int kind = want;

	if (want == K_ANY)
		kind = ti >= 0 && chance(55) ? K_TEN : K_CTL;
	else if (chance(5))
		kind = !want;
	if (kind == K_TEN && ti < 0)
		kind = K_CTL;
	c->kind = kind;
	c->ti = ti;
	if (kind == K_CTL)
		c->fd = chance(80) ? ctl : ctl2;
	else
		c->fd = ten[ti].fd[rn(ten[ti].nfd)];
	if (want != K_ANY && kind != want) {
		mf(c, "wrong kind of file");
		c->wrongkind = true;
	}
}

/* The array of a LIST or EVENT_FETCH: capacity and address. */
static void pick_arr(struct cmd *c, size_t esz, __u64 *addr, __u32 *cap)
{
	unsigned int slotcap = (SLOT_SIZE - ARR_OFF) / esz;
	unsigned int r = rn(100);

	c->arrok = false;
	if (r < 80) {
		*cap = chance(50) ? slotcap : rn(slotcap + 1);
		*addr = (uintptr_t)(c->w + ARR_OFF);
		c->arrok = true;
	} else if (r < 90) {
		*addr = (uintptr_t)sink;
		*cap = chance(50) ? b32() : (uint32_t)(SINK_SIZE / esz);
	} else {
		const uint64_t bad[] = {
			0,
			1,
			KADDR,
			~0ULL,
			(uintptr_t)sink + SINK_SIZE, /* the guard page */
			(uintptr_t)(slotro + (c->w - slotmem) + ARR_OFF),
			(uintptr_t)(c->w + ARR_OFF + 1), /* unaligned: fine */
		};

		*addr = bad[rn(ARRAY_SIZE(bad))];
		*cap = 1 + rn(4);
	}
}

/* The struct pointer: usually the slot, sometimes a bad one. */
static void pick_argp(struct cmd *c, size_t len)
{
	unsigned int r = rn(100);
	char *edge;

	c->argp = (uintptr_t)c->w;
	c->argw = true;
	if (r >= 6)
		return;
	c->argw = false;
	switch (r) {
	case 0:
		c->argp = 0;
		mf(c, "NULL struct pointer");
		break;
	case 1:
		c->argp = chance(50) ? KADDR : ~0ULL - 7;
		mf(c, "kernel struct pointer");
		break;
	case 2:
	case 3:
		/* The same bytes through a read-only mapping of the slot. */
		c->argp = (uintptr_t)(slotro + (c->w - slotmem));
		c->ro = true;
		if (op_has_out(c->op))
			mf(c, "read-only struct of a command with outputs");
		break;
	default: {
		/* Straddles into an unmapped page. */
		size_t k = 1 + rn((uint32_t)len - 1);

		edge = edgemem + (c->w - slotmem) / SLOT_SIZE * 2 * pg + pg - k;
		memcpy(edge, c->w, k);
		c->argp = (uintptr_t)edge;
		mf(c, "struct straddles an unmapped page");
		break;
	}
	}
}

static void gen_get_info(struct cmd *c)
{
	struct gpumux_info *a = (void *)c->w;

	set_fd(c, K_ANY);
	memset(a, 0, sizeof(*a));
	if (chance(30))
		fill_rand(a, offsetof(struct gpumux_info, reserved));
	if (chance(6)) {
		a->reserved[rn(4)] = nz64();
		mf(c, "reserved field set");
	} else {
		c->ms = true;
	}
}

static void gen_gpu_add(struct cmd *c)
{
	static unsigned int serial;
	struct gpumux_gpu_add *a = (void *)c->w;
	static const unsigned int cus[] = { 1,	2,   8,	  32,  64,
					    64, 128, 128, 256, 1024 };
	unsigned int r = rn(100);
	int gi;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	if (chance(30))
		a->gpu_id = (uint32_t)rnd();
	a->cus = chance(75) ? cus[rn(ARRAY_SIZE(cus))] : b32();
	if (!a->cus || a->cus > GPUMUX_MAX_CUS)
		mf(c, "cus 0 or over GPUMUX_MAX_CUS");
	a->vram_bytes = b64();
	gi = pick_gpu();
	if (r < 75 && ngpus() < 5) {
		snprintf(a->ident, sizeof(a->ident), "fuzz:%d:%u", getpid(),
			 serial++);
	} else if (r < 85 && gi >= 0) {
		memcpy(a->ident, gpus[gi].ident, sizeof(a->ident));
		c->mfs = "ident already registered";
		c->mfs_dep = GPUMUX_CMD_GPU_REMOVE;
	} else if (r < 90) {
		mf(c, "empty ident");
	} else if (r < 95) {
		memset(a->ident, 'x', sizeof(a->ident));
		mf(c, "ident not NUL-terminated");
	} else {
		rand_str(a->ident, sizeof(a->ident));
		if (ngpus() >= 5)
			a->ident[0] = 0, mf(c, "empty ident");
	}
	if (chance(5)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
	}
}

static void gen_gpu_remove(struct cmd *c)
{
	struct gpumux_gpu_remove *a = (void *)c->w;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	a->gpu_id = pick_gid();
	if (!a->gpu_id)
		mf(c, "GPU id 0");
	if (chance(6)) {
		a->reserved = (uint32_t)nz64() | 1;
		mf(c, "reserved field set");
	}
}

static void gen_tenant_create(struct cmd *c)
{
	static unsigned int serial;
	static const unsigned int mc[] = { 0, 1, 4, 8, 16, 16, 32, 64, 1024 };
	struct gpumux_tenant_create *a = (void *)c->w;
	unsigned int r = rn(100);
	const uint64_t q[] = { 0,	 pg,	   16 * pg,    64 * pg, 64 * pg,
			       256 * pg, 256 * pg, 1ULL << 63, ~0ULL,	pg - 1 };

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	if (chance(30)) {
		a->tenant_id = (uint32_t)rnd();
		a->fd = (int32_t)rnd();
	}
	if (r < 85) {
		snprintf(a->name, sizeof(a->name), "fz%u", serial++);
	} else if (r < 90) {
		mf(c, "empty name");
	} else if (r < 95) {
		memset(a->name, 'n', sizeof(a->name));
		mf(c, "name not NUL-terminated");
	} else {
		rand_str(a->name, sizeof(a->name));
	}
	a->flags = chance(90) ? (chance(50) ? GPUMUX_TENANT_CLOEXEC : 0) :
				b32();
	if (a->flags & ~GPUMUX_TENANT_CLOEXEC)
		mf(c, "unknown flag");
	a->max_cus = chance(80) ? mc[rn(ARRAY_SIZE(mc))] : b32();
	if (a->max_cus > GPUMUX_MAX_CUS)
		mf(c, "max_cus over GPUMUX_MAX_CUS");
	a->pinned_quota = chance(85) ? q[rn(ARRAY_SIZE(q))] : b64();
	if (chance(5)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
	}
	/* Keep the population bounded: most creates beyond it are invalid. */
	if (nten_alive() >= MT - 4 && !c->mf) {
		a->name[0] = 0;
		mf(c, "empty name");
	}
}

static void gen_fence(struct cmd *c)
{
	struct gpumux_tenant_fence *a = (void *)c->w;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	a->tenant_id = pick_tid();
	if (!a->tenant_id)
		mf(c, "tenant id 0");
	a->flags = chance(92) ? (chance(60) ? GPUMUX_FENCE_CLEAR : 0) : b32();
	if (a->flags & ~GPUMUX_FENCE_CLEAR)
		mf(c, "unknown flag");
}

/* @home: the tenant's slice, so most partitions do not collide. */
static void gen_mask(__u64 *m, unsigned int cus, unsigned int maxc, int home)
{
	unsigned int r = rn(100), i, a, n;

	memset(m, 0, GPUMUX_MASK_WORDS * 8);
	if (!cus || cus > GPUMUX_MAX_CUS)
		cus = 64;
	if (!maxc)
		maxc = 1;
	if (r < 15)
		return;
	if (r < 60) {
		n = 1 + rn(MIN(maxc, 8));
		a = ((home < 0 ? rn(16) : (unsigned int)home) * 8 + rn(3)) %
		    cus;
		for (i = a; i < a + n && i < cus; i++)
			gm_set_bit64(m, i);
	} else if (r < 75) {
		n = 1 + rn(MIN(maxc, 8));
		for (i = 0; i < n; i++)
			gm_set_bit64(m, rn(cus));
	} else if (r < 82) {
		for (i = 0; i < cus; i++)
			gm_set_bit64(m, i);
	} else if (r < 92) {
		const unsigned int bits[] = { 0, 63, 64, cus - 1, cus, 1023 };

		gm_set_bit64(m, MIN(bits[rn(ARRAY_SIZE(bits))], 1023U));
	} else {
		for (i = 0; i < GPUMUX_MASK_WORDS; i++)
			m[i] = chance(20) ? rnd() : 0;
	}
}

static void gen_part_set(struct cmd *c)
{
	struct gpumux_part_set *a = (void *)c->w;
	const uint32_t dl[] = { 0, 1, 600000, 600001, 0xffffffff };
	unsigned int cus = 64, maxc = 8;
	int ti, gi;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	if (chance(30))
		a->generation = rnd();
	a->tenant_id = pick_tid();
	a->gpu_id = pick_gid();
	ti = ten_find(a->tenant_id);
	gi = gpu_find(a->gpu_id);
	if (ti >= 0)
		maxc = ten[ti].max_cus;
	if (gi >= 0)
		cus = gpus[gi].cus;
	a->flags = chance(92) ? (chance(50) ? GPUMUX_PART_SHARED : 0) : b32();
	if (a->flags & ~GPUMUX_PART_SHARED)
		mf(c, "unknown flag");
	switch (rn(5)) {
	case 0:
	case 1:
		a->deadline_ms = 2000 + rn(600000 - 2000);
		break;
	case 2:
		a->deadline_ms = 1 + rn(20);
		break;
	case 3:
		a->deadline_ms = dl[rn(ARRAY_SIZE(dl))];
		break;
	default:
		a->deadline_ms = 50 + rn(1000);
		break;
	}
	gen_mask(a->mask, cus, maxc, ti);
	if (gi >= 0 && cus < GPUMUX_MAX_CUS) {
		unsigned int i;

		for (i = cus; i < GPUMUX_MAX_CUS; i++)
			if (a->mask[i / 64] >> (i % 64) & 1) {
				mf(c, "CU at or past the GPU's count");
				break;
			}
	}
	if (ti >= 0 && gm_mask_weight(a->mask) > ten[ti].max_cus)
		mf(c, "more CUs than max_cus");
	if (!a->tenant_id || !a->gpu_id)
		mf(c, "id 0");
	if (chance(5)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
	}
}

static void gen_part_ack(struct cmd *c)
{
	struct gpumux_part_ack *a = (void *)c->w;
	struct mpart *p = NULL;
	int i;

	set_fd(c, K_TEN);
	memset(a, 0, sizeof(*a));
	if (c->ti >= 0) {
		int idx[MP], n = 0;

		for (i = 0; i < MP; i++)
			if (parts[i].t == ten[c->ti].id)
				idx[n++] = i;
		if (n)
			p = &parts[idx[rn(n)]];
	}
	if (p && chance(85)) {
		a->gpu_id = p->g;
		switch (rn(10)) {
		case 0:
			a->generation = p->gen + 1;
			break;
		case 1:
			a->generation = p->gen - 1;
			break;
		case 2:
			a->generation = b64();
			break;
		default:
			a->generation = p->gen;
			break;
		}
	} else {
		a->gpu_id = pick_gid();
		a->generation = b64();
	}
	if (chance(5)) {
		a->reserved = (uint32_t)nz64() | 1;
		mf(c, "reserved field set");
	}
}

static void gen_buf_alloc(struct cmd *c)
{
	struct gpumux_buf_alloc *a = (void *)c->w;
	uint64_t quota = 0, lim = info0.pinned_limit;
	bool known = false;

	set_fd(c, K_TEN);
	memset(a, 0, sizeof(*a));
	if (chance(30)) {
		a->buf_id = (uint32_t)rnd();
		a->mmap_offset = rnd();
	}
	if (c->ti >= 0) {
		quota = ten[c->ti].quota;
		known = true;
	}
	switch (rn(10)) {
	case 0:
	case 1:
	case 2: {
		const uint64_t v[] = { 0,	   1,	       pg - 1,
				       pg + 1,	   quota,      quota + pg,
				       quota - pg, lim,	       lim + pg,
				       1ULL << 40, 1ULL << 63, ~0ULL,
				       ~0ULL << 12 };

		a->size = v[rn(ARRAY_SIZE(v))];
		break;
	}
	case 3:
		a->size = pg * (1 + rn(64));
		break;
	default:
		a->size = pg * (1 + rn(8));
		break;
	}
	if (!a->size || a->size % pg)
		mf(c, "size 0 or not page-aligned");
	if (known && a->size > quota)
		mf(c, "size over the tenant's quota");
	if (a->size > lim)
		mf(c, "size over the global limit");
	/* No big valid allocations: slow in the VM, and they pin memory. */
	if (!c->mf && a->size > 64 * pg)
		a->size = pg * (1 + rn(8));
	if (nbufs() > MB - 24 && !c->mf) {
		a->size = 0;
		mf(c, "size 0 or not page-aligned");
	}
	if (chance(4)) {
		a->flags = (uint32_t)nz64() | 1;
		mf(c, "flags set");
	}
	if (chance(4)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
	}
}

static void gen_buf_free(struct cmd *c)
{
	struct gpumux_buf_free *a = (void *)c->w;
	unsigned int me = 0;
	int bi;

	set_fd(c, K_TEN);
	memset(a, 0, sizeof(*a));
	if (c->ti >= 0)
		me = ten[c->ti].id;
	switch (rn(10)) {
	case 0:
		bi = pick_buf_where(me, 0, 0);
		if (bi >= 0) {
			a->buf_id = bufs[bi].id;
			if (c->kind == K_TEN)
				mf(c, "another tenant's buffer");
			break;
		}
		/* fallthrough */
	case 1:
		bi = pick_buf_where(me, -1, 1);
		if (bi >= 0) {
			a->buf_id = bufs[bi].id;
			mf(c, "buffer already freed");
			break;
		}
		/* fallthrough */
	case 2:
		a->buf_id = stale_pick(stale_b, nstale_b);
		if (nstale_b)
			mf(c, "buffer already freed");
		break;
	default:
		bi = pick_buf_where(me, 1, 0);
		a->buf_id = bi >= 0 ? bufs[bi].id : b32();
		break;
	}
	if (!a->buf_id)
		mf(c, "buffer id 0");
	if (chance(5)) {
		a->reserved = (uint32_t)nz64() | 1;
		mf(c, "reserved field set");
	}
}

static void gen_grant(struct cmd *c)
{
	struct gpumux_grant *a = (void *)c->w;
	int bi = pick_buf_where(0, -1, 0), ti;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	a->buf_id = bi >= 0 && chance(85) ? bufs[bi].id :
		    chance(50)		  ? stale_pick(stale_b, nstale_b) :
					    b32();
	if (bi >= 0 && a->buf_id == bufs[bi].id && chance(8)) {
		a->tenant_id = bufs[bi].owner;
		mf(c, "grant to the owner itself");
	} else {
		a->tenant_id = pick_tid();
		ti = ten_find(a->tenant_id);
		if (bi >= 0 && a->buf_id == bufs[bi].id && ti >= 0 &&
		    a->tenant_id == bufs[bi].owner)
			mf(c, "grant to the owner itself");
	}
	a->access = chance(92) ? rn(2) : b32();
	/* Keep the model's table from filling (a batch adds up to NSLOT). */
	if (ngrants() > MGR - NSLOT - 8)
		a->access = 2 + rn(100);
	if (a->access > GPUMUX_ACCESS_RW)
		mf(c, "unknown access");
	if (!a->buf_id || !a->tenant_id)
		mf(c, "id 0");
	if (chance(5)) {
		a->reserved = (uint32_t)nz64() | 1;
		mf(c, "reserved field set");
	}
}

static void gen_grant_revoke(struct cmd *c)
{
	struct gpumux_grant_revoke *a = (void *)c->w;
	int gi = pick_grant_to(0), bi;

	set_fd(c, K_CTL);
	memset(a, 0, sizeof(*a));
	if (gi >= 0 && chance(70)) {
		a->buf_id = grants[gi].buf;
		a->tenant_id = grants[gi].t;
	} else {
		bi = pick_buf_where(0, -1, -1);
		a->buf_id = bi >= 0 && chance(70) ?
				    bufs[bi].id :
				    stale_pick(stale_b, nstale_b);
		a->tenant_id = pick_tid();
		/* Grants change only through the fuzzer: this one is known. */
		if (!a->buf_id) {
			mf(c, "no such grant");
		} else if (buf_find(a->buf_id) >= 0 &&
			   grant_find(a->buf_id, a->tenant_id) < 0) {
			c->mfs = "no such grant";
			c->mfs_dep = GPUMUX_CMD_GRANT;
		}
	}
}

static size_t list_esz(uint32_t kind)
{
	switch (kind) {
	case GPUMUX_LIST_GPUS:
		return sizeof(struct gpumux_gpu_info);
	case GPUMUX_LIST_TENANTS:
		return sizeof(struct gpumux_tenant_info);
	case GPUMUX_LIST_PARTITIONS:
		return sizeof(struct gpumux_part_info);
	case GPUMUX_LIST_BUFFERS:
		return sizeof(struct gpumux_buf_info);
	case GPUMUX_LIST_GRANTS:
		return sizeof(struct gpumux_grant_info);
	}
	return 0;
}

static void gen_list(struct cmd *c)
{
	struct gpumux_list *a = (void *)c->w;
	size_t esz;
	bool valid = true;

	set_fd(c, K_ANY);
	memset(a, 0, sizeof(*a));
	if (chance(30)) {
		a->count = (uint32_t)rnd();
		a->total = (uint32_t)rnd();
	}
	a->kind = chance(88) ? 1 + rn(5) : b32();
	esz = list_esz(a->kind);
	if (!esz) {
		mf(c, "unknown kind");
		esz = 64;
		valid = false;
	}
	a->entry_size = chance(92) ? (uint32_t)esz : b32();
	if (a->entry_size != esz) {
		mf(c, "entry_size not the kernel's");
		valid = false;
	}
	if (a->kind == GPUMUX_LIST_GPUS && c->kind == K_TEN)
		mf(c, "a tenant asking for GPUs");
	pick_arr(c, esz, &a->addr, &a->capacity);
	a->start_id = chance(60) ? 0 : chance(50) ? 1 : b32();
	if (chance(5)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
		valid = false;
	}
	if (valid && !c->mf && c->arrok)
		c->ms = true;
}

static void gen_fetch(struct cmd *c, bool uring)
{
	struct gpumux_event_fetch *a = (void *)c->w;

	set_fd(c, K_ANY);
	memset(a, 0, sizeof(*a));
	if (chance(30))
		a->count = (uint32_t)rnd();
	pick_arr(c, sizeof(struct gpumux_event), &a->addr, &a->capacity);
	if (!a->capacity)
		mf(c, "capacity 0");
	if (chance(5)) {
		a->reserved[rn(2)] = nz64();
		mf(c, "reserved field set");
	}
	if (uring && !c->mf) {
		/* A valid uring fetch would stay pending: always a bad one. */
		if (chance(50)) {
			a->capacity = 0;
			mf(c, "capacity 0");
		} else {
			a->reserved[rn(2)] = nz64();
			mf(c, "reserved field set");
		}
	}
}

/* One command into slot @c, for @path. */
static void gen_cmd(struct cmd *c, int path)
{
	static const struct {
		unsigned int op;
		unsigned int w;
	} tab[] = {
		{ GPUMUX_CMD_GET_INFO, 4 },	{ GPUMUX_CMD_GPU_ADD, 3 },
		{ GPUMUX_CMD_GPU_REMOVE, 3 },	{ GPUMUX_CMD_TENANT_CREATE, 5 },
		{ GPUMUX_CMD_TENANT_FENCE, 4 }, { GPUMUX_CMD_PART_SET, 16 },
		{ GPUMUX_CMD_PART_ACK, 8 },	{ GPUMUX_CMD_BUF_ALLOC, 11 },
		{ GPUMUX_CMD_BUF_FREE, 8 },	{ GPUMUX_CMD_GRANT, 8 },
		{ GPUMUX_CMD_GRANT_REVOKE, 5 }, { GPUMUX_CMD_LIST, 8 },
		{ GPUMUX_CMD_EVENT_FETCH, 5 },	{ 0, 10 }, /* near/raw */
	};
	unsigned int total = 0, r, i;
	char *w = c->w;

	memset(c, 0, sizeof(*c));
	c->w = w;
	c->path = path;
	c->ti = -1;
	for (i = 0; i < ARRAY_SIZE(tab); i++)
		total += tab[i].w;
	r = rn(total);
	for (i = 0; r >= tab[i].w; i++)
		r -= tab[i].w;
	c->op = tab[i].op;
	/* Keep something to work on. */
	if (ngpus() < 2 && chance(30))
		c->op = GPUMUX_CMD_GPU_ADD;
	else if (nten_alive() < 4 && chance(30))
		c->op = GPUMUX_CMD_TENANT_CREATE;

	if (!c->op) {
		/* A number that is no command, or garbage command bytes. */
		unsigned int k = rn(100), op = all_ops[rn(ARRAY_SIZE(all_ops))];

		set_fd(c, K_ANY);
		fill_rand(c->w, 512);
		c->argp = (uintptr_t)c->w;
		if (path == GM_URING && k < 45) {
			/* A real number with bad command bytes. */
			c->op = op;
			c->bad_uc = true;
			n_raw++;
			switch (rn(3)) {
			case 0:
				fill_rand(&c->uc, sizeof(c->uc));
				mf(c, "garbage command bytes");
				break;
			case 1:
				c->uc.addr = (uintptr_t)c->w;
				do
					c->uc.len = chance(50) ?
							    b32() :
							    _IOC_SIZE(op) +
								    rn(17) - 8;
				while (c->uc.len == _IOC_SIZE(op));
				c->uc.reserved = chance(30) ? (uint32_t)rnd() :
							      0;
				mf(c, "uc.len not the struct's size");
				break;
			default:
				c->uc.addr = (uintptr_t)c->w;
				c->uc.len = _IOC_SIZE(op);
				c->uc.reserved = (uint32_t)nz64() | 1;
				mf(c, "uc.reserved set");
				break;
			}
			return;
		}
		/* Near-valid: right magic, wrong size or direction; or random. */
		do {
			if (k < 70) {
				unsigned int dir = rn(4), sz = _IOC_SIZE(op);

				if (chance(60))
					sz = chance(50) ? sz + rn(9) - 4 :
							  rn(1 << 14);
				c->op = _IOC(dir, GPUMUX_IOC_MAGIC, _IOC_NR(op),
					     sz & 0x3fff);
			} else if (k < 85) {
				c->op = _IOC(rn(4), GPUMUX_IOC_MAGIC,
					     0x0d + rn(0xf3), rn(1 << 14));
			} else {
				unsigned int t;

				c->op = (uint32_t)rnd();
				t = _IOC_TYPE(c->op);
				/* Types the VFS answers itself (FIONBIO...). */
				if (path == GM_IOCTL &&
				    (t == 0 || t == 'T' || t == 'X' ||
				     t == 'f' || t == 0x94 || t == 0x12))
					c->op = _IOC(rn(4), 0x42, rn(256), 0);
			}
		} while (op_name(c->op));
		mf(c, "not a command number");
		c->near = true;
		n_near++;
		c->uc.addr = (uintptr_t)c->w;
		c->uc.len = chance(50) ? _IOC_SIZE(c->op) : b32();
		return;
	}

	c->known = true;
	switch (c->op) {
	case GPUMUX_CMD_GET_INFO:
		gen_get_info(c);
		break;
	case GPUMUX_CMD_GPU_ADD:
		gen_gpu_add(c);
		break;
	case GPUMUX_CMD_GPU_REMOVE:
		gen_gpu_remove(c);
		break;
	case GPUMUX_CMD_TENANT_CREATE:
		gen_tenant_create(c);
		break;
	case GPUMUX_CMD_TENANT_FENCE:
		gen_fence(c);
		break;
	case GPUMUX_CMD_PART_SET:
		gen_part_set(c);
		break;
	case GPUMUX_CMD_PART_ACK:
		gen_part_ack(c);
		break;
	case GPUMUX_CMD_BUF_ALLOC:
		gen_buf_alloc(c);
		break;
	case GPUMUX_CMD_BUF_FREE:
		gen_buf_free(c);
		break;
	case GPUMUX_CMD_GRANT:
		gen_grant(c);
		break;
	case GPUMUX_CMD_GRANT_REVOKE:
		gen_grant_revoke(c);
		break;
	case GPUMUX_CMD_LIST:
		gen_list(c);
		break;
	case GPUMUX_CMD_EVENT_FETCH:
		gen_fetch(c, path == GM_URING);
		break;
	}
	pick_argp(c, _IOC_SIZE(c->op));
	if (!c->argw)
		c->ms = false;
	c->uc.addr = c->argp;
	c->uc.len = _IOC_SIZE(c->op);
	if (path == GM_URING && chance(3)) {
		c->bad_uc = true;
		if (chance(50)) {
			c->uc.reserved = (uint32_t)nz64() | 1;
			mf(c, "uc.reserved set");
		} else {
			c->uc.len += chance(50) ? 8 : -4;
			mf(c, "uc.len not the struct's size");
		}
		c->ms = false;
	}
}

static const char *kind_name(const struct cmd *c)
{
	return c->kind == K_CTL ? "control" : "tenant";
}

/* A short description of a command, for violation messages. */
static const char *describe(const struct cmd *c)
{
	static char s[300];
	const uint32_t *w = (const uint32_t *)c->w;

	snprintf(
		s, sizeof(s),
		"%s[0x%08x] via %s%s on %s file (argp %s%s) words %08x %08x %08x %08x %08x %08x",
		op_name(c->op) ? op_name(c->op) : "unknown", c->op,
		gm_path_name[c->path], c->sqe128 ? "/sqe128" : "", kind_name(c),
		c->argw ? "ok" : "bad", c->bad_uc ? ", bad uc" : "", w[0], w[1],
		w[2], w[3], w[4], w[5]);
	return s;
}

/* ------------------------------------------------------------ results */

static void check_events(const struct gpumux_event *ev, unsigned int n,
			 int kind, int ti, const char *via)
{
	unsigned int i, me = ti >= 0 ? ten[ti].id : 0;

	for (i = 0; i < n; i++) {
		const struct gpumux_event *e = &ev[i];
		bool ok;

		if (kind == K_CTL)
			ok = e->type == GPUMUX_EVENT_TENANT_GONE ||
			     e->type == GPUMUX_EVENT_PART_ACKED ||
			     e->type == GPUMUX_EVENT_PART_FENCED ||
			     e->type == GPUMUX_EVENT_PART_GRANTED ||
			     e->type == GPUMUX_EVENT_OVERFLOW;
		else
			ok = e->type == GPUMUX_EVENT_PART_CHANGED ||
			     e->type == GPUMUX_EVENT_FENCED ||
			     e->type == GPUMUX_EVENT_GRANT_REVOKED ||
			     e->type == GPUMUX_EVENT_GRANT_ADDED ||
			     e->type == GPUMUX_EVENT_OVERFLOW;
		if (!ok)
			viol(V_OUTPUT, "%s: event type %u on a %s file", via,
			     e->type, kind == K_CTL ? "control" : "tenant");
		if (kind == K_TEN && e->type != GPUMUX_EVENT_OVERFLOW &&
		    e->tenant_id != me)
			viol(V_OUTPUT,
			     "%s: tenant %u's file got an event of tenant %u (type %u)",
			     via, me, e->tenant_id, e->type);
		if (e->type == GPUMUX_EVENT_PART_CHANGED)
			note_gen(e->tenant_id, e->gpu_id, e->generation);
	}
}

static void check_list(struct cmd *c)
{
	struct gpumux_list *a = (void *)c->w;
	const char *arr = c->w + ARR_OFF;
	unsigned int me = c->kind == K_TEN ? ten[c->ti].id : 0, i;
	uint64_t prev = 0;

	if (a->count > a->capacity || a->count > a->total)
		viol(V_OUTPUT, "LIST kind %u: count %u, capacity %u, total %u",
		     a->kind, a->count, a->capacity, a->total);
	if (!c->arrok)
		return;
	for (i = 0; i < MIN(a->count, a->capacity); i++) {
		const void *e = arr + (size_t)i * a->entry_size;
		uint64_t key = 0;

		switch (a->kind) {
		case GPUMUX_LIST_GPUS: {
			const struct gpumux_gpu_info *g = e;

			key = g->gpu_id;
			if (g->cus_exclusive + g->cus_shared > g->cus)
				viol(V_OUTPUT,
				     "LIST GPUS: gpu %u: %u + %u CUs held of %u",
				     g->gpu_id, g->cus_exclusive, g->cus_shared,
				     g->cus);
			break;
		}
		case GPUMUX_LIST_TENANTS: {
			const struct gpumux_tenant_info *t = e;

			key = t->tenant_id;
			if (me && t->tenant_id != me)
				viol(V_OUTPUT,
				     "LIST TENANTS on tenant %u's file shows tenant %u",
				     me, t->tenant_id);
			if (t->pinned_used > t->pinned_quota)
				viol(V_OUTPUT,
				     "LIST TENANTS: tenant %u uses %llu over quota %llu",
				     t->tenant_id,
				     (unsigned long long)t->pinned_used,
				     (unsigned long long)t->pinned_quota);
			break;
		}
		case GPUMUX_LIST_PARTITIONS: {
			const struct gpumux_part_info *p = e;

			key = p->tenant_id;
			if (me && p->tenant_id != me)
				viol(V_OUTPUT,
				     "LIST PARTITIONS on tenant %u's file shows tenant %u's",
				     me, p->tenant_id);
			note_gen(p->tenant_id, p->gpu_id, p->generation);
			break;
		}
		case GPUMUX_LIST_BUFFERS: {
			const struct gpumux_buf_info *b = e;

			key = b->buf_id;
			if (me && b->owner_id != me && !batch_racy &&
			    grant_find(b->buf_id, me) < 0)
				viol(V_OUTPUT,
				     "LIST BUFFERS on tenant %u's file shows buffer %u of tenant %u, not granted",
				     me, b->buf_id, b->owner_id);
			if (b->size % pg || !b->size)
				viol(V_OUTPUT,
				     "LIST BUFFERS: buffer %u size %llu",
				     b->buf_id, (unsigned long long)b->size);
			break;
		}
		case GPUMUX_LIST_GRANTS: {
			const struct gpumux_grant_info *g = e;

			key = g->buf_id;
			if (me && g->tenant_id != me)
				viol(V_OUTPUT,
				     "LIST GRANTS on tenant %u's file shows a grant to %u",
				     me, g->tenant_id);
			if (g->owner_id == g->tenant_id)
				viol(V_OUTPUT,
				     "LIST GRANTS: buffer %u granted to its owner",
				     g->buf_id);
			break;
		}
		}
		if (key < a->start_id || key < prev)
			viol(V_OUTPUT,
			     "LIST kind %u: entry %u id %llu (start_id %u, previous %llu): not in increasing order",
			     a->kind, i, (unsigned long long)key, a->start_id,
			     (unsigned long long)prev);
		prev = key;
	}
}

static void unexpected_fd(int fd)
{
	struct gpumux_info in = { 0 };

	/* A tenant fd we did not expect: adopt it so it gets closed. */
	if (gm_cmd(fd, GPUMUX_CMD_GET_INFO, &in, sizeof(in), GM_IOCTL) == 0 &&
	    in.file_kind == GPUMUX_FILE_TENANT)
		tenant_add(in.tenant_id, fd, 0, 0);
	else
		close(fd);
}

/* Apply a successful command to the model and check its outputs. */
static void apply(struct cmd *c)
{
	int i;

	switch (c->op) {
	case GPUMUX_CMD_GET_INFO: {
		struct gpumux_info *a = (void *)c->w;

		if (!c->argw)
			break;
		if (a->version != GPUMUX_VERSION ||
		    a->file_kind != (c->kind == K_CTL ? GPUMUX_FILE_CONTROL :
							GPUMUX_FILE_TENANT) ||
		    a->max_cus != GPUMUX_MAX_CUS ||
		    a->tenant_id != (c->kind == K_TEN ? ten[c->ti].id : 0) ||
		    !(a->features & GPUMUX_F_URING_CMD) ||
		    a->pinned_used > a->pinned_limit)
			viol(V_OUTPUT,
			     "GET_INFO: version %u kind %u max_cus %u tenant %u features %llx used %llu limit %llu (%s file of tenant %u)",
			     a->version, a->file_kind, a->max_cus, a->tenant_id,
			     (unsigned long long)a->features,
			     (unsigned long long)a->pinned_used,
			     (unsigned long long)a->pinned_limit, kind_name(c),
			     c->kind == K_TEN ? ten[c->ti].id : 0);
		break;
	}
	case GPUMUX_CMD_GPU_ADD: {
		struct gpumux_gpu_add *a = (void *)c->w;

		if (!c->argw) {
			viol(V_OUTPUT,
			     "GPU_ADD succeeded without a place for gpu_id");
			break;
		}
		if (!a->gpu_id || gpu_find(a->gpu_id) >= 0 ||
		    is_base_gpu(a->gpu_id))
			viol(V_OUTPUT, "GPU_ADD: id %u is 0 or in use",
			     a->gpu_id);
		for (i = 0; i < MG; i++) {
			if (gpus[i].id)
				continue;
			gpus[i].id = a->gpu_id;
			gpus[i].cus = a->cus;
			memcpy(gpus[i].ident, a->ident, sizeof(a->ident));
			break;
		}
		if (i == MG && nextra_gpus < ARRAY_SIZE(extra_gpus))
			extra_gpus[nextra_gpus++] = a->gpu_id;
		break;
	}
	case GPUMUX_CMD_GPU_REMOVE: {
		struct gpumux_gpu_remove *a = (void *)c->w;

		i = gpu_find(a->gpu_id);
		if (i >= 0) {
			stale_add(stale_g, &nstale_g, a->gpu_id);
			gpus[i].id = 0;
		}
		for (i = 0; i < MP; i++)
			if (parts[i].g == a->gpu_id)
				parts[i].t = 0;
		break;
	}
	case GPUMUX_CMD_TENANT_CREATE: {
		struct gpumux_tenant_create *a = (void *)c->w;
		int fl;

		if (!c->argw) {
			viol(V_OUTPUT,
			     "TENANT_CREATE succeeded without a place for the fd");
			break;
		}
		fl = fcntl(a->fd, F_GETFD);
		if (a->fd < 0 || fl < 0) {
			viol(V_OUTPUT, "TENANT_CREATE: fd %d is not open",
			     a->fd);
			break;
		}
		if (!!(fl & FD_CLOEXEC) != !!(a->flags & GPUMUX_TENANT_CLOEXEC))
			viol(V_OUTPUT,
			     "TENANT_CREATE: FD_CLOEXEC %d, flags %#x",
			     !!(fl & FD_CLOEXEC), a->flags);
		if (!a->tenant_id || ten_find(a->tenant_id) >= 0 ||
		    is_base_tenant(a->tenant_id))
			viol(V_OUTPUT, "TENANT_CREATE: id %u is 0 or in use",
			     a->tenant_id);
		tenant_add(a->tenant_id, a->fd, a->max_cus, a->pinned_quota);
		break;
	}
	case GPUMUX_CMD_PART_SET: {
		struct gpumux_part_set *a = (void *)c->w;
		struct mpart *p = part_find(a->tenant_id, a->gpu_id, false);

		if (!c->argw)
			break;
		if (p && a->generation < p->gen && !batch_racy)
			viol(V_OUTPUT,
			     "PART_SET tenant %u gpu %u: generation went back from %llu to %llu",
			     a->tenant_id, a->gpu_id,
			     (unsigned long long)p->gen,
			     (unsigned long long)a->generation);
		note_gen(a->tenant_id, a->gpu_id, a->generation);
		break;
	}
	case GPUMUX_CMD_BUF_ALLOC: {
		struct gpumux_buf_alloc *a = (void *)c->w;
		struct gpumux_buf_free f = { 0 };

		if (!c->argw) {
			viol(V_OUTPUT,
			     "BUF_ALLOC succeeded without a place for buf_id");
			break;
		}
		if (!a->buf_id || buf_find(a->buf_id) >= 0 ||
		    a->mmap_offset % pg)
			viol(V_OUTPUT,
			     "BUF_ALLOC: id %u (0 or in use) or offset %#llx",
			     a->buf_id, (unsigned long long)a->mmap_offset);
		for (i = 0; i < MB; i++) {
			if (bufs[i].id)
				continue;
			memset(&bufs[i], 0, sizeof(bufs[i]));
			bufs[i].id = a->buf_id;
			bufs[i].owner = ten[c->ti].id;
			bufs[i].size = a->size;
			bufs[i].off = a->mmap_offset;
			bufs[i].fresh = true;
			break;
		}
		if (i == MB) {
			/* No room in the model: free it at once. */
			f.buf_id = a->buf_id;
			gm_cmd(c->fd, GPUMUX_CMD_BUF_FREE, &f, sizeof(f),
			       GM_IOCTL);
		}
		break;
	}
	case GPUMUX_CMD_BUF_FREE: {
		struct gpumux_buf_free *a = (void *)c->w;

		i = buf_find(a->buf_id);
		if (i >= 0 && !bufs[i].freed)
			buf_mark_freed(i);
		break;
	}
	case GPUMUX_CMD_GRANT: {
		struct gpumux_grant *a = (void *)c->w;
		int gi = grant_find(a->buf_id, a->tenant_id);

		if (gi >= 0) {
			if (grants[gi].rw && !a->access) {
				/*
				 * Access drops: the old grant is revoked, which
				 * zaps every mapping the grantee has of the
				 * buffer (read-only ones too), and the new one
				 * does not bring them back: unspecified.
				 */
				for (i = 0; i < MM; i++)
					if (maps[i].addr &&
					    maps[i].buf == a->buf_id &&
					    maps[i].t == a->tenant_id)
						maps[i].st = MS_UNKNOWN;
			}
			grants[gi].rw = a->access;
			break;
		}
		for (gi = 0; gi < MGR; gi++) {
			if (grants[gi].buf)
				continue;
			grants[gi].buf = a->buf_id;
			grants[gi].t = a->tenant_id;
			grants[gi].rw = a->access;
			grants[gi].inst = ++grant_inst;
			break;
		}
		/* Mappings zapped by an earlier revoke: unspecified now. */
		for (i = 0; i < MM; i++)
			if (maps[i].addr && maps[i].buf == a->buf_id &&
			    maps[i].t == a->tenant_id &&
			    maps[i].st == MS_ZAPPED)
				maps[i].st = MS_UNKNOWN;
		break;
	}
	case GPUMUX_CMD_GRANT_REVOKE: {
		struct gpumux_grant_revoke *a = (void *)c->w;
		int gi = grant_find(a->buf_id, a->tenant_id);

		if (gi >= 0)
			grant_drop(gi);
		for (i = 0; i < MM; i++)
			if (maps[i].addr && maps[i].buf == a->buf_id &&
			    maps[i].t == a->tenant_id && maps[i].ginst)
				maps[i].st = MS_ZAPPED;
		break;
	}
	case GPUMUX_CMD_LIST:
		if (c->argw)
			check_list(c);
		break;
	case GPUMUX_CMD_EVENT_FETCH: {
		struct gpumux_event_fetch *a = (void *)c->w;

		if (!c->argw)
			break;
		if (a->count > a->capacity ||
		    (c->path == GM_URING && (unsigned int)c->res != a->count) ||
		    (c->path == GM_IOCTL && c->res &&
		     (unsigned int)c->res != a->count))
			viol(V_OUTPUT,
			     "EVENT_FETCH via %s: returned %d, count %u, capacity %u",
			     gm_path_name[c->path], c->res, a->count,
			     a->capacity);
		if (c->arrok)
			check_events((void *)(c->w + ARR_OFF),
				     MIN(a->count, a->capacity), c->kind, c->ti,
				     "EVENT_FETCH");
		break;
	}
	}
}

static bool need_resync;

static void finish(struct cmd *c)
{
	int e = -c->res;
	const char *name = op_name(c->op);

	if (c->res == -EFAULT && c->ro) {
		/* The action may have happened all the same: look. */
		need_resync = true;
		if (!op_has_out(c->op))
			viol(V_EFAULT,
			     "%s: EFAULT for a read-only struct, though %s has no out field to write back",
			     describe(c), name);
	}
	if (c->res < 0) {
		n_fail++;
		n_errno[e & 255]++;
		if (!errno_plausible(e) &&
		    !(!c->near && name && errno_documented(c->op, e)))
			viol(V_ERRNO,
			     "%s: %s (%d), not even in the plausible set",
			     describe(c), strerror(e), c->res);
		else if (c->path == GM_URING && e == EAGAIN)
			viol(V_ERRNO, "%s: EAGAIN reached userspace",
			     describe(c));
		else if (c->near) {
			/* Not a command number: ENOTTY ("unknown command"). */
			if (e != ENOTTY &&
			    !(c->path == GM_URING && e == EINVAL &&
			      c->uc.len != _IOC_SIZE(c->op)))
				viol(V_ERRNO, "%s: %s (%d), want ENOTTY",
				     describe(c), strerror(e), c->res);
		} else if (!errno_documented(c->op, e)) {
			viol(V_ERRNO, "%s: %s (%d) is not documented for %s",
			     describe(c), strerror(e), c->res, name);
		} else if (e == EOVERFLOW && c->argw &&
			   (((struct gpumux_list *)c->w)->kind !=
				    GPUMUX_LIST_PARTITIONS ||
			    !((struct gpumux_list *)c->w)->capacity ||
			    ((struct gpumux_list *)c->w)->capacity >=
				    GPUMUX_MAX_GPUS)) {
			/* Only a capacity too small for one tenant's partitions. */
			viol(V_ERRNO,
			     "%s: EOVERFLOW, though not a PARTITIONS list with 0 < capacity < GPUMUX_MAX_GPUS",
			     describe(c));
		} else if (e == EOVERFLOW) {
			/* Documented: capacity below one tenant's partitions. */
		} else if (c->ms && e != ENOMEM &&
			   !(e == EAGAIN && c->op == GPUMUX_CMD_EVENT_FETCH)) {
			viol(V_ERRNO, "valid %s failed: %s", describe(c),
			     strerror(e));
		}
		return;
	}
	n_ok++;
	if (!c->mf && c->mfs)
		c->mf = c->mfs;
	if (c->mf) {
		viol(V_MUSTFAIL, "%s returned %d though %s", describe(c),
		     c->res, c->mf);
		/* An fd that should not exist: adopt it (closed at the end). */
		if (c->op == GPUMUX_CMD_TENANT_CREATE && c->argw) {
			struct gpumux_tenant_create *a = (void *)c->w;

			if (fcntl(a->fd, F_GETFD) >= 0)
				unexpected_fd(a->fd);
			return;
		}
	}
	if (!c->known || c->bad_uc || c->wrongkind)
		return;
	if (c->res > 0 && c->op != GPUMUX_CMD_EVENT_FETCH)
		viol(V_OUTPUT, "%s returned %d, not 0", describe(c), c->res);
	apply(c);
}

/* ------------------------------------------------------------ execution */

static void exec_ioctl(struct cmd *c)
{
	int r = ioctl(c->fd, c->op, (void *)(uintptr_t)c->argp);

	c->res = r < 0 ? -errno : r;
	n_ioctl++;
}

/* Make a stuck uring command complete: queue an event for its file. */
static void unstick(const struct cmd *c)
{
	struct gpumux_tenant_fence f = { 0 };
	unsigned int id;
	int fd;

	if (c->kind == K_TEN && c->ti >= 0) {
		f.tenant_id = ten[c->ti].id;
		gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f), GM_IOCTL);
		f.flags = GPUMUX_FENCE_CLEAR;
		gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f), GM_IOCTL);
	} else {
		fd = gm_tenant_create(ctl, "unstick", 0, 0, &id, GM_IOCTL);
		if (fd >= 0)
			close(fd);
	}
}

static bool fatal_hang;

static void exec_batch(int n, bool use128)
{
	struct io_uring *ring = use128 ? &ring128 : &ring64;
	struct io_uring_cqe *cqe;
	bool done[NSLOT] = { false };
	int i, got = 0, ret, waits = 0;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		cmds[i].sqe128 = use128;
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, cmds[i].fd, NULL, 0,
				 0);
		sqe->cmd_op = cmds[i].op;
		memcpy(sqe->cmd, &cmds[i].uc, sizeof(cmds[i].uc));
		if (use128)
			fill_rand(sqe->cmd + sizeof(cmds[i].uc), 64);
		sqe->user_data = (uint64_t)i;
	}
	ret = io_uring_submit(ring);
	if (ret != n) {
		viol(V_HANG, "io_uring_submit: %d of %d", ret, n);
		fatal_hang = true;
		return;
	}
	n_uring += n;
	n_batches++;
	while (got < n) {
		struct __kernel_timespec ts = { .tv_sec = 0,
						.tv_nsec = 250000000 };

		ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
		if (ret == -ETIME || ret == -EINTR) {
			if (++waits == 20) {
				/* 5 s: something stays pending.  Say what. */
				for (i = 0; i < n; i++) {
					if (done[i])
						continue;
					viol(V_HANG,
					     "%s: no completion after 5 s (%s)",
					     describe(&cmds[i]),
					     cmds[i].mf ? cmds[i].mf : "valid");
					unstick(&cmds[i]);
				}
			} else if (waits == 60) {
				viol(V_HANG,
				     "uring commands still pending after 15 s; giving up");
				fatal_hang = true;
				return;
			}
			continue;
		}
		if (ret < 0) {
			viol(V_HANG, "io_uring_wait_cqe: %s", strerror(-ret));
			fatal_hang = true;
			return;
		}
		i = (int)cqe->user_data;
		if (i >= 0 && i < n && !done[i]) {
			done[i] = true;
			cmds[i].res = cqe->res;
			got++;
		}
		io_uring_cqe_seen(ring, cqe);
	}
	/* A must-fail that depends on state another command may change. */
	for (i = 0; i < n; i++) {
		int j;

		for (j = 0; cmds[i].mfs && j < n; j++)
			if (j != i && cmds[j].known &&
			    cmds[j].op == cmds[i].mfs_dep)
				cmds[i].mfs = NULL;
	}
	batch_racy = false;
	for (i = 0; i < n; i++)
		if (cmds[i].op == GPUMUX_CMD_GRANT ||
		    cmds[i].op == GPUMUX_CMD_GRANT_REVOKE ||
		    cmds[i].op == GPUMUX_CMD_BUF_FREE ||
		    cmds[i].op == GPUMUX_CMD_PART_SET ||
		    cmds[i].op == GPUMUX_CMD_BUF_ALLOC)
			batch_racy = true;
	for (i = 0; i < n; i++)
		finish(&cmds[i]);
	batch_racy = false;
}

/* ------------------------------------------------------------ mappings */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (fault_armed)
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read (or write) 8 bytes at @p; returns 0 or the signal it took. */
static int touch(volatile uint64_t *p, bool write, uint64_t wval,
		 uint64_t *rval)
{
	int sig;

	fault_armed = 1;
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig) {
		if (write)
			*p = wval;
		else
			*rval = *p;
	}
	fault_armed = 0;
	return sig;
}

/* May tenant @t map buffer @bi now, and writably? */
static bool buf_visible(int bi, unsigned int t, bool *rw)
{
	int gi;

	if (bufs[bi].freed)
		return false;
	if (bufs[bi].owner == t) {
		*rw = true;
		return true;
	}
	gi = grant_find(bufs[bi].id, t);
	if (gi < 0)
		return false;
	*rw = grants[gi].rw;
	return true;
}

static void op_mmap(void)
{
	int ti = pick_tenant(), bi = -1, mi, gi;
	unsigned int me, r = rn(100);
	uint64_t off, size = pg, first = 0;
	size_t len;
	bool vis = false, rw = false, in_range = true, want_w, priv;
	int prot, fd;
	char *p;

	if (ti < 0)
		return;
	me = ten[ti].id;
	fd = ten[ti].fd[rn(ten[ti].nfd)];
	for (mi = 0; mi < MM && maps[mi].addr; mi++)
		;
	if (mi == MM)
		return;
	if (r < 50) {
		bi = pick_buf_where(me, 1, 0);
	} else if (r < 75) {
		gi = pick_grant_to(me);
		bi = gi >= 0 ? buf_find(grants[gi].buf) : -1;
	} else if (r < 85) {
		bi = pick_buf_where(me, 0, -1);
	} else if (r < 92) {
		bi = pick_buf_where(0, -1, 1);
	}
	if (bi >= 0 && bufs[bi].off == ~0ULL)
		return;
	if (bi >= 0) {
		off = bufs[bi].off;
		size = bufs[bi].size;
		vis = buf_visible(bi, me, &rw);
	} else if (nstale_b && chance(50)) {
		off = stale_boff[rn(MIN(nstale_b, MSTALE))];
	} else {
		off = (rnd() >> rn(24)) & ~(uint64_t)(pg - 1);
	}
	if (bi < 0) {
		/* An offset may still land in a buffer the model knows. */
		for (gi = 0; gi < MB; gi++)
			if (bufs[gi].id && off >= bufs[gi].off &&
			    off < bufs[gi].off + bufs[gi].size)
				break;
		if (gi < MB) {
			bi = gi;
			first = off - bufs[gi].off;
			off = bufs[gi].off;
			size = bufs[gi].size;
			vis = buf_visible(bi, me, &rw);
		}
	}
	len = size - first;
	switch (rn(10)) {
	case 0:
		if (size > (uint64_t)pg && !first) {
			first = pg * rn(size / pg);
			len = pg * (1 + rn((size - first) / pg));
		}
		break;
	case 1:
		len = size - first + pg;
		in_range = false;
		break;
	case 2:
		first = size;
		len = pg;
		in_range = false;
		break;
	default:
		break;
	}
	want_w = chance(50);
	priv = chance(4);
	prot = PROT_READ | (want_w ? PROT_WRITE : 0);
	p = mmap(NULL, len, prot, priv ? MAP_PRIVATE : MAP_SHARED, fd,
		 (off_t)(off + first));
	if (p == MAP_FAILED) {
		if (vis && in_range && !priv && (rw || !want_w) &&
		    errno != ENOMEM)
			viol(V_MAP,
			     "mmap of buffer %u (tenant %u, %s, len %zu at +%llu) failed: %s",
			     bufs[bi].id, me, want_w ? "rw" : "ro", len,
			     (unsigned long long)first, strerror(errno));
		return;
	}
	if (!vis) {
		viol(V_MAP, "tenant %u mapped offset %#llx (%s) it may not see",
		     me, (unsigned long long)(off + first),
		     bi >= 0 ? (bufs[bi].freed ? "a freed buffer" :
						 "another tenant's buffer") :
			       "no live buffer");
		munmap(p, len);
		return;
	}
	if (want_w && !rw) {
		viol(V_MAP,
		     "tenant %u mapped read-only grant of buffer %u writable",
		     me, bufs[bi].id);
		munmap(p, len);
		return;
	}
	if (!in_range) {
		uint64_t v;
		/* Past the buffer's end must not reach any page. */
		int sig = touch((volatile uint64_t *)(p + len - pg), false, 0,
				&v);

		if (sig != SIGBUS)
			viol(V_MAP,
			     "mapping past the end of buffer %u (len %zu at +%llu, size %llu): access gave %s",
			     bufs[bi].id, len, (unsigned long long)first,
			     (unsigned long long)size,
			     sig ? strsignal(sig) : "no fault");
		munmap(p, len);
		return;
	}
	if (priv) {
		/* MAP_PRIVATE: the header says nothing; just let it go. */
		munmap(p, len);
		return;
	}
	n_mapped++;
	maps[mi].addr = p;
	maps[mi].len = len;
	maps[mi].boff = first;
	maps[mi].buf = bufs[bi].id;
	maps[mi].t = me;
	maps[mi].rw = want_w;
	maps[mi].ro_grant = bufs[bi].owner != me && !rw;
	maps[mi].st = MS_OK;
	gi = grant_find(bufs[bi].id, me);
	maps[mi].ginst = bufs[bi].owner != me && gi >= 0 ? grants[gi].inst : 0;
}

static void op_munmap(void)
{
	int mi = pick_map(), k;
	struct mmapping *m;

	if (mi < 0)
		return;
	m = &maps[mi];
	if (m->len >= 3 * (size_t)pg && chance(15)) {
		/* Split: unmap one page in the middle. */
		for (k = 0; k < MM && maps[k].addr; k++)
			;
		if (k < MM) {
			size_t at = pg * (1 + rn(m->len / pg - 2));

			if (munmap(m->addr + at, pg))
				viol(V_MAP, "munmap of a middle page: %s",
				     strerror(errno));
			n_splits++;
			maps[k] = *m;
			maps[k].addr = m->addr + at + pg;
			maps[k].len = m->len - at - pg;
			maps[k].boff = m->boff + at + pg;
			m->len = at;
			return;
		}
	}
	if (m->len >= 2 * (size_t)pg && chance(15)) {
		/* Trim the first or the last page. */
		if (chance(50)) {
			munmap(m->addr, pg);
			m->addr += pg;
			m->boff += pg;
		} else {
			munmap(m->addr + m->len - pg, pg);
		}
		m->len -= pg;
		return;
	}
	if (munmap(m->addr, m->len))
		viol(V_MAP, "munmap: %s", strerror(errno));
	map_drop(mi);
}

static void op_touch(void)
{
	int mi = pick_map(), bi, sig;
	struct mmapping *m;
	struct mbuf *b;
	uint64_t v = 0, at;

	if (mi < 0)
		return;
	m = &maps[mi];
	bi = buf_find(m->buf);
	if (bi < 0 || m->st == MS_UNKNOWN)
		return;
	b = &bufs[bi];
	n_touched++;
	if (m->st == MS_ZAPPED) {
		n_zap_checked++;
		sig = touch((volatile uint64_t *)m->addr, false, 0, &v);
		if (sig != SIGBUS)
			viol(V_MAP,
			     "tenant %u's mapping of buffer %u after its grant was revoked: %s",
			     m->t, m->buf,
			     sig ? strsignal(sig) : "readable, no SIGBUS");
		return;
	}
	/* The probe, if this mapping covers it. */
	if (b->probe && b->poff >= m->boff && b->poff < m->boff + m->len) {
		sig = touch(
			(volatile uint64_t *)(m->addr + (b->poff - m->boff)),
			false, 0, &v);
		if (sig)
			viol(V_MAP,
			     "read of buffer %u through tenant %u's mapping: %s",
			     m->buf, m->t, strsignal(sig));
		else if (v != b->pval)
			viol(V_MAP,
			     "buffer %u at +%llu reads %#llx through tenant %u's mapping, %#llx was written",
			     m->buf, (unsigned long long)b->poff,
			     (unsigned long long)v, m->t,
			     (unsigned long long)b->pval);
	} else if (b->fresh) {
		at = (rn(m->len / 8)) * 8;
		sig = touch((volatile uint64_t *)(m->addr + at), false, 0, &v);
		if (sig)
			viol(V_MAP,
			     "read of buffer %u through tenant %u's mapping: %s",
			     m->buf, m->t, strsignal(sig));
		else if (v)
			viol(V_MAP, "new buffer %u not zeroed: %#llx at +%llu",
			     m->buf, (unsigned long long)v,
			     (unsigned long long)(m->boff + at));
	}
	if (m->rw && chance(60)) {
		at = (rn(m->len / 8)) * 8;
		v = rnd();
		sig = touch((volatile uint64_t *)(m->addr + at), true, v, NULL);
		if (sig) {
			viol(V_MAP,
			     "write to buffer %u through tenant %u's rw mapping: %s",
			     m->buf, m->t, strsignal(sig));
			return;
		}
		b->fresh = false;
		b->probe = true;
		b->poff = m->boff + at;
		b->pval = v;
	}
}

static void op_mprotect(void)
{
	int mi = pick_map(), bi;
	struct mmapping *m;

	if (mi < 0)
		return;
	m = &maps[mi];
	if (m->ro_grant) {
		n_rogrant++;
		if (!mprotect(m->addr, m->len, PROT_READ | PROT_WRITE)) {
			viol(V_MAP,
			     "mprotect made tenant %u's read-only grant mapping of buffer %u writable",
			     m->t, m->buf);
			mprotect(m->addr, m->len, PROT_READ);
		}
		return;
	}
	bi = buf_find(m->buf);
	if (m->rw) {
		if (!mprotect(m->addr, m->len, PROT_READ))
			m->rw = false;
	} else if (bi >= 0 && bufs[bi].owner == m->t && m->st == MS_OK) {
		if (!mprotect(m->addr, m->len, PROT_READ | PROT_WRITE))
			m->rw = true;
	}
}

/* read() or poll()+read() events from a file; ack what asks for it. */
static void op_events(void)
{
	struct gpumux_event ev[16];
	const size_t sizes[] = { 0,
				 1,
				 sizeof(ev[0]) - 1,
				 sizeof(ev[0]),
				 sizeof(ev[0]) + 1,
				 4 * sizeof(ev[0]),
				 sizeof(ev) };
	int ti = chance(70) ? pick_tenant() : -1,
	    kind = ti >= 0 ? K_TEN : K_CTL;
	int fd = ti >= 0 ? ten[ti].fd[0] : ctl;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t sz = sizes[rn(ARRAY_SIZE(sizes))];
	bool readable = false;
	ssize_t n;
	unsigned int i;

	if (chance(40)) {
		if (poll(&pfd, 1, 0) < 0) {
			viol(V_OUTPUT, "poll: %s", strerror(errno));
			return;
		}
		readable = pfd.revents & POLLIN;
		sz = sizeof(ev);
	}
	n = read(fd, ev, sz);
	if (n < 0) {
		if (errno == EAGAIN && readable)
			viol(V_OUTPUT,
			     "poll said readable, read() said EAGAIN");
		else if (errno != EAGAIN &&
			 !(errno == EINVAL && sz < sizeof(ev[0])))
			viol(V_OUTPUT, "read(%zu) of events: %s", sz,
			     strerror(errno));
		return;
	}
	if ((size_t)n > sz || n % sizeof(ev[0]) || (!n && sz >= sizeof(ev[0])))
		viol(V_OUTPUT, "read(%zu) of events returned %zd", sz, n);
	check_events(ev, (unsigned int)(n / sizeof(ev[0])), kind, ti, "read()");
	if (kind != K_TEN)
		return;
	for (i = 0; i < n / sizeof(ev[0]); i++) {
		struct gpumux_part_ack *a = (void *)xslot;
		struct cmd c = { 0 };

		if (ev[i].type != GPUMUX_EVENT_PART_CHANGED ||
		    ev[i].arg != GPUMUX_PART_REVOKING || chance(25))
			continue;
		memset(a, 0, sizeof(*a));
		a->gpu_id = ev[i].gpu_id;
		a->generation = ev[i].generation;
		c.op = GPUMUX_CMD_PART_ACK;
		c.kind = K_TEN;
		c.ti = ti;
		c.fd = fd;
		c.w = xslot;
		c.known = true;
		c.argw = true;
		c.argp = (uintptr_t)xslot;
		exec_ioctl(&c);
		finish(&c);
	}
}

static void op_fd(void)
{
	int ti = pick_tenant(), fd;

	if (ti < 0)
		return;
	if (ten[ti].nfd < 4 && chance(40)) {
		fd = fcntl(ten[ti].fd[0], F_DUPFD_CLOEXEC, 3);
		if (fd >= 0)
			ten[ti].fd[ten[ti].nfd++] = fd;
		return;
	}
	tenant_close_fd(ti, (int)rn(ten[ti].nfd));
}

static void nonc_op(void)
{
	unsigned int r = rn(100);

	n_nonc++;
	if (r < 22)
		op_mmap();
	else if (r < 40)
		op_munmap();
	else if (r < 68)
		op_touch();
	else if (r < 73)
		op_mprotect();
	else if (r < 88)
		op_events();
	else
		op_fd();
}

/* ------------------------------------------------------------ debugfs */

#define SMAX 1024

struct sgpu {
	unsigned int id, cus;
};
struct sten {
	unsigned int id, max_cus, nbuf;
	int fenced;
	uint64_t quota, used;
};
struct spart {
	unsigned int t, g, flags;
	char state[16];
	uint64_t gen;
	__u64 act[GPUMUX_MASK_WORDS], tgt[GPUMUX_MASK_WORDS];
};
struct sbuf {
	unsigned int id, owner, grants;
	uint64_t size;
};
struct sgrant {
	unsigned int buf, t;
	int rw;
};

static const char *const ctr_names[] = {
	"tenants",	"buffers", "pages",	     "pinned_bytes", "grants",
	"pending_cmds", "gpus",	   "events_dropped", "ops_ioctl",    "ops_uring"
};
enum {
	C_TENANTS,
	C_BUFFERS,
	C_PAGES,
	C_PINNED,
	C_GRANTS,
	C_PENDING,
	C_GPUS,
	C_DROPPED,
	C_OPS_IOCTL,
	C_OPS_URING,
	C_NR
};

struct snap {
	int ngpu, nten, npart, nbuf, ngrant, nbad;
	struct sgpu gpu[256];
	struct sten ten[SMAX];
	struct spart part[SMAX];
	struct sbuf buf[SMAX * 4];
	struct sgrant grant[SMAX * 4];
	long long ctr[C_NR];
	char bad[200];
};

static struct snap S;
static long long base_ctr[C_NR];

static char *read_file(const char *path, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !b) {
		free(b);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (n + 4096 > cap) {
			cap *= 2;
			b = realloc(b, cap);
			if (!b)
				break;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (b)
		b[n] = 0;
	*len = n;
	return b;
}

static void snap_bad(const char *line)
{
	if (!S.nbad++)
		snprintf(S.bad, sizeof(S.bad), "%s", line);
}

/* Read counters then state into S.  Returns -1 if debugfs is missing. */
static int snap_read(void)
{
	char *txt, *line, *save = NULL;
	size_t len;
	int i;

	memset(&S.ctr, 0xff, sizeof(S.ctr));
	txt = read_file(DEBUGFS "/counters", &len);
	if (!txt)
		return -1;
	for (line = strtok_r(txt, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		long long v;

		if (sscanf(line, "%63s %lld", key, &v) != 2)
			continue;
		for (i = 0; i < C_NR; i++)
			if (!strcmp(key, ctr_names[i]))
				S.ctr[i] = v;
	}
	free(txt);

	txt = read_file(DEBUGFS "/state", &len);
	if (!txt)
		return -1;
	S.ngpu = S.nten = S.npart = S.nbuf = S.ngrant = S.nbad = 0;
	save = NULL;
	for (line = strtok_r(txt, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char head[160], *tok[16], *s2 = NULL, *t;
		int n = 0;
		const char *v;

		/* Range lists can be long: tokenize the line in place. */
		snprintf(head, sizeof(head), "%s", line);
		for (t = strtok_r(line, " ", &s2); t && n < 16;
		     t = strtok_r(NULL, " ", &s2))
			tok[n++] = t;
		line = head;
		if (n < 2)
			continue;
		if (!strcmp(tok[0], "gpu") && S.ngpu < 256) {
			struct sgpu *g = &S.gpu[S.ngpu++];

			g->id = (unsigned int)strtoul(tok[1], NULL, 10);
			v = gm_kv(tok, n, "cus");
			g->cus = v ? (unsigned int)strtoul(v, NULL, 10) : 0;
			if (!v)
				snap_bad(line);
		} else if (!strcmp(tok[0], "tenant") && S.nten < SMAX) {
			struct sten *x = &S.ten[S.nten++];
			const char *f = gm_kv(tok, n, "fenced"),
				   *mc = gm_kv(tok, n, "max_cus"),
				   *q = gm_kv(tok, n, "quota"),
				   *u = gm_kv(tok, n, "used"),
				   *nb = gm_kv(tok, n, "buffers");

			x->id = (unsigned int)strtoul(tok[1], NULL, 10);
			if (!f || !mc || !q || !u || !nb) {
				snap_bad(line);
				continue;
			}
			x->fenced = atoi(f);
			x->max_cus = (unsigned int)strtoul(mc, NULL, 10);
			x->quota = strtoull(q, NULL, 10);
			x->used = strtoull(u, NULL, 10);
			x->nbuf = (unsigned int)strtoul(nb, NULL, 10);
		} else if (!strcmp(tok[0], "part") && n >= 3 &&
			   S.npart < SMAX) {
			struct spart *p = &S.part[S.npart++];
			const char *fl = gm_kv(tok, n, "flags"),
				   *st = gm_kv(tok, n, "state"),
				   *ge = gm_kv(tok, n, "gen"),
				   *ac = gm_kv(tok, n, "active"),
				   *tg = gm_kv(tok, n, "target");

			p->t = (unsigned int)strtoul(tok[1], NULL, 10);
			p->g = (unsigned int)strtoul(tok[2], NULL, 10);
			if (!fl || !st || !ge || !ac || !tg ||
			    gm_parse_ranges(ac, p->act) ||
			    gm_parse_ranges(tg, p->tgt)) {
				snap_bad(line);
				S.npart--;
				continue;
			}
			p->flags = (unsigned int)strtoul(fl, NULL, 0);
			snprintf(p->state, sizeof(p->state), "%s", st);
			p->gen = strtoull(ge, NULL, 10);
		} else if (!strcmp(tok[0], "buf") && S.nbuf < SMAX * 4) {
			struct sbuf *b = &S.buf[S.nbuf++];
			const char *o = gm_kv(tok, n, "owner"),
				   *sz = gm_kv(tok, n, "size"),
				   *gr = gm_kv(tok, n, "grants");

			b->id = (unsigned int)strtoul(tok[1], NULL, 10);
			if (!o || !sz || !gr) {
				snap_bad(line);
				continue;
			}
			b->owner = (unsigned int)strtoul(o, NULL, 10);
			b->size = strtoull(sz, NULL, 10);
			b->grants = (unsigned int)strtoul(gr, NULL, 10);
		} else if (!strcmp(tok[0], "grant") && n >= 3 &&
			   S.ngrant < SMAX * 4) {
			struct sgrant *g = &S.grant[S.ngrant++];
			const char *a = gm_kv(tok, n, "access");

			g->buf = (unsigned int)strtoul(tok[1], NULL, 10);
			g->t = (unsigned int)strtoul(tok[2], NULL, 10);
			if (!a || (strcmp(a, "ro") && strcmp(a, "rw"))) {
				snap_bad(line);
				continue;
			}
			g->rw = !strcmp(a, "rw");
		}
	}
	free(txt);
	return 0;
}

static const struct sten *snap_ten(unsigned int id)
{
	int i;

	for (i = 0; i < S.nten; i++)
		if (S.ten[i].id == id)
			return &S.ten[i];
	return NULL;
}

static const struct sgpu *snap_gpu(unsigned int id)
{
	int i;

	for (i = 0; i < S.ngpu; i++)
		if (S.gpu[i].id == id)
			return &S.gpu[i];
	return NULL;
}

static const struct sbuf *snap_buf(unsigned int id)
{
	int i;

	for (i = 0; i < S.nbuf; i++)
		if (S.buf[i].id == id)
			return &S.buf[i];
	return NULL;
}

/*
 * The invariants that hold in any consistent snapshot of the state file.
 * Reports through @report (category V_INVAR), at most a few per call.
 */
static int check_snapshot(void)
{
	int i, j, bad = 0;

#define INV(...)                                    \
	do {                                        \
		if (bad++ < 6)                      \
			viol(V_INVAR, __VA_ARGS__); \
	} while (0)

	if (S.nbad)
		INV("state: unparsable line \"%s\" (%d such)", S.bad, S.nbad);
	for (i = 0; i < S.npart; i++) {
		const struct spart *p = &S.part[i];
		const struct sten *t = snap_ten(p->t);
		const struct sgpu *g = snap_gpu(p->g);
		bool eq = gm_mask_subset(p->act, p->tgt) &&
			  gm_mask_subset(p->tgt, p->act);

		if (!t || !g) {
			INV("part %u %u: no such %s", p->t, p->g,
			    t ? "gpu" : "tenant");
			continue;
		}
		if (p->flags & ~GPUMUX_PART_SHARED)
			INV("part %u %u: flags %#x", p->t, p->g, p->flags);
		if (g->cus < GPUMUX_MAX_CUS) {
			__u64 lim[GPUMUX_MASK_WORDS] = { 0 };
			unsigned int b;

			for (b = 0; b < g->cus; b++)
				gm_set_bit64(lim, b);
			if (!gm_mask_subset(p->act, lim) ||
			    !gm_mask_subset(p->tgt, lim))
				INV("part %u %u: CUs past the GPU's %u", p->t,
				    p->g, g->cus);
		}
		if (gm_mask_weight(p->tgt) > t->max_cus)
			INV("part %u %u: target has %u CUs, max_cus %u", p->t,
			    p->g, gm_mask_weight(p->tgt), t->max_cus);
		if (strcmp(p->state, !gm_mask_subset(p->act, p->tgt) ? "revoking" :
				     !eq			  ? "growing" :
								    "stable"))
			INV("part %u %u: state %s, but active %s target (%u and %u CUs, first words %#llx %#llx)",
			    p->t, p->g, p->state,
			    eq				? "==" :
			    gm_mask_subset(p->act, p->tgt) ? "<" :
							  "not <=",
			    gm_mask_weight(p->act), gm_mask_weight(p->tgt),
			    (unsigned long long)p->act[0],
			    (unsigned long long)p->tgt[0]);
		if (t->fenced && !gm_mask_empty(p->act))
			INV("part %u %u: fenced tenant holds CUs", p->t, p->g);
		if (gm_mask_empty(p->act) && gm_mask_empty(p->tgt))
			INV("part %u %u: empty partition listed", p->t, p->g);
		for (j = i + 1; j < S.npart; j++) {
			const struct spart *q = &S.part[j];
			bool excl = !(p->flags & GPUMUX_PART_SHARED) ||
				    !(q->flags & GPUMUX_PART_SHARED);

			if (q->g != p->g)
				continue;
			if (q->t == p->t) {
				INV("tenant %u has two partitions on gpu %u",
				    p->t, p->g);
				continue;
			}
			if (excl && gm_mask_intersects(p->act, q->act))
				INV("gpu %u: active CUs of tenants %u (flags %u) and %u (flags %u) overlap",
				    p->g, p->t, p->flags, q->t, q->flags);
			if (excl && gm_mask_intersects(p->tgt, q->tgt))
				INV("gpu %u: targets of tenants %u (flags %u) and %u (flags %u) overlap",
				    p->g, p->t, p->flags, q->t, q->flags);
		}
	}
	for (i = 0; i < S.nten; i++) {
		const struct sten *t = &S.ten[i];
		uint64_t live = 0;
		unsigned int nb = 0;

		for (j = 0; j < S.nbuf; j++)
			if (S.buf[j].owner == t->id) {
				live += S.buf[j].size;
				nb++;
			}
		if (t->used < live || t->used > t->quota)
			INV("tenant %u: used %llu, live buffers %llu, quota %llu",
			    t->id, (unsigned long long)t->used,
			    (unsigned long long)live,
			    (unsigned long long)t->quota);
		if (t->nbuf != nb)
			INV("tenant %u: buffers=%u but %u buf lines", t->id,
			    t->nbuf, nb);
		if (t->max_cus > GPUMUX_MAX_CUS)
			INV("tenant %u: max_cus %u", t->id, t->max_cus);
	}
	for (i = 0; i < S.nbuf; i++) {
		const struct sbuf *b = &S.buf[i];
		unsigned int ng = 0;

		if (!snap_ten(b->owner))
			INV("buf %u: owner %u is not a live tenant", b->id,
			    b->owner);
		if (!b->size || b->size % pg)
			INV("buf %u: size %llu", b->id,
			    (unsigned long long)b->size);
		for (j = 0; j < S.ngrant; j++)
			if (S.grant[j].buf == b->id)
				ng++;
		if (ng != b->grants)
			INV("buf %u: grants=%u but %u grant lines", b->id,
			    b->grants, ng);
	}
	for (i = 0; i < S.ngrant; i++) {
		const struct sgrant *g = &S.grant[i];
		const struct sbuf *b = snap_buf(g->buf);

		if (!b || !snap_ten(g->t))
			INV("grant %u %u: no such %s", g->buf, g->t,
			    b ? "tenant" : "buffer");
		else if (b->owner == g->t)
			INV("grant %u %u: to the owner", g->buf, g->t);
	}
	return bad;
#undef INV
}

/* Compare debugfs with the model: exact, as the fuzzer is the only user. */
static void check_model(const char *when)
{
	long long want_t = 0, want_b = 0, want_g = 0, pinned = 0;
	unsigned long inst[MM];
	int i, j, ninst = 0, bad = 0;

#define MOD(...)                                           \
	do {                                               \
		if (bad++ < 6)                             \
			viol(V_INVAR, "%s: " __VA_ARGS__); \
	} while (0)

	for (i = 0; i < MT; i++) {
		const struct sten *s;
		uint64_t used = 0;

		if (!ten[i].id)
			continue;
		want_t++;
		s = snap_ten(ten[i].id);
		if (ten[i].dead) {
			if (s)
				MOD("tenant %u: released, still listed", when,
				    ten[i].id);
			continue;
		}
		if (!s) {
			MOD("tenant %u (%d fds, %d mappings) not listed", when,
			    ten[i].id, ten[i].nfd, maps_of_tenant(ten[i].id));
			continue;
		}
		for (j = 0; j < MB; j++)
			if (bufs[j].id && bufs[j].owner == ten[i].id)
				used += bufs[j].size;
		if (s->used != used)
			MOD("tenant %u: used=%llu, model says %llu (live and freed-but-mapped buffers)",
			    when, ten[i].id, (unsigned long long)s->used,
			    (unsigned long long)used);
		if (s->max_cus != ten[i].max_cus || s->quota != ten[i].quota)
			MOD("tenant %u: max_cus %u quota %llu, created with %u %llu",
			    when, ten[i].id, s->max_cus,
			    (unsigned long long)s->quota, ten[i].max_cus,
			    (unsigned long long)ten[i].quota);
	}
	for (i = 0; i < S.nten; i++)
		if (!is_base_tenant(S.ten[i].id) && ten_find(S.ten[i].id) < 0)
			MOD("tenant %u listed, unknown to the fuzzer", when,
			    S.ten[i].id);
	for (i = 0; i < MB; i++) {
		const struct sbuf *s;

		if (!bufs[i].id)
			continue;
		want_b++;
		pinned += (long long)bufs[i].size;
		s = snap_buf(bufs[i].id);
		if (bufs[i].freed && s)
			MOD("buffer %u: freed, still listed", when, bufs[i].id);
		if (!bufs[i].freed && (!s || s->size != bufs[i].size ||
				       s->owner != bufs[i].owner))
			MOD("buffer %u (owner %u, %llu bytes) listed as %s",
			    when, bufs[i].id, bufs[i].owner,
			    (unsigned long long)bufs[i].size,
			    s ? "something else" : "nothing");
	}
	for (i = 0; i < S.nbuf; i++)
		if (ten_find(S.buf[i].owner) >= 0 && buf_find(S.buf[i].id) < 0)
			MOD("buffer %u of tenant %u listed, unknown to the fuzzer",
			    when, S.buf[i].id, S.buf[i].owner);
	for (i = 0; i < MGR; i++) {
		if (!grants[i].buf)
			continue;
		want_g++;
		for (j = 0; j < S.ngrant; j++)
			if (S.grant[j].buf == grants[i].buf &&
			    S.grant[j].t == grants[i].t)
				break;
		if (j == S.ngrant || S.grant[j].rw != grants[i].rw)
			MOD("grant of buffer %u to %u (%s) %s", when,
			    grants[i].buf, grants[i].t,
			    grants[i].rw ? "rw" : "ro",
			    j == S.ngrant ? "not listed" :
					    "listed with another access");
	}
	for (i = 0; i < S.ngrant; i++)
		if (buf_find(S.grant[i].buf) >= 0 &&
		    grant_find(S.grant[i].buf, S.grant[i].t) < 0)
			MOD("grant of buffer %u to %u listed, unknown to the fuzzer",
			    when, S.grant[i].buf, S.grant[i].t);
	/* Grant objects that only mappings hold (revoked or unlinked). */
	for (i = 0; i < MM; i++) {
		bool live = false;

		if (!maps[i].addr || !maps[i].ginst)
			continue;
		for (j = 0; j < MGR; j++)
			if (grants[j].buf && grants[j].inst == maps[i].ginst)
				live = true;
		for (j = 0; j < ninst; j++)
			if (inst[j] == maps[i].ginst)
				live = true;
		if (!live)
			inst[ninst++] = maps[i].ginst;
	}
	want_g += ninst;
	for (i = 0; i < MG; i++)
		if (gpus[i].id && !snap_gpu(gpus[i].id))
			MOD("gpu %u not listed", when, gpus[i].id);

	if (S.ctr[C_TENANTS] - base_ctr[C_TENANTS] != want_t)
		MOD("counter tenants %lld (baseline %lld), model %lld", when,
		    S.ctr[C_TENANTS], base_ctr[C_TENANTS], want_t);
	if (S.ctr[C_BUFFERS] - base_ctr[C_BUFFERS] != want_b)
		MOD("counter buffers %lld (baseline %lld), model %lld", when,
		    S.ctr[C_BUFFERS], base_ctr[C_BUFFERS], want_b);
	if (S.ctr[C_GRANTS] - base_ctr[C_GRANTS] != want_g)
		MOD("counter grants %lld (baseline %lld), model %lld (live grants and those mappings hold)",
		    when, S.ctr[C_GRANTS], base_ctr[C_GRANTS], want_g);
	if (S.ctr[C_PINNED] - base_ctr[C_PINNED] != pinned)
		MOD("counter pinned_bytes %lld (baseline %lld), model %lld",
		    when, S.ctr[C_PINNED], base_ctr[C_PINNED], pinned);
	if ((S.ctr[C_PAGES] - base_ctr[C_PAGES]) * (long long)pg != pinned)
		MOD("counter pages %lld (baseline %lld) x %llu != model pinned %lld",
		    when, S.ctr[C_PAGES], base_ctr[C_PAGES],
		    (unsigned long long)pg, pinned);
	if (S.ctr[C_PENDING] != base_ctr[C_PENDING])
		MOD("counter pending_cmds %lld, baseline %lld", when,
		    S.ctr[C_PENDING], base_ctr[C_PENDING]);
	if (S.ctr[C_GPUS] != S.ngpu)
		MOD("counter gpus %lld, %d gpu lines", when, S.ctr[C_GPUS],
		    S.ngpu);
#undef MOD
}

static bool is_extra_gpu(unsigned int id)
{
	unsigned int i;

	for (i = 0; i < nextra_gpus; i++)
		if (extra_gpus[i] == id)
			return true;
	return false;
}

/*
 * A command with a read-only struct got EFAULT: its action may have
 * happened anyway.  Bring the model in line with the state file, and
 * report what a failed command left behind.
 */
static void resync(void)
{
	int i, j;

	need_resync = false;
	if (snap_read())
		return;
	for (i = 0; i < MB; i++)
		if (bufs[i].id && !bufs[i].freed && !snap_buf(bufs[i].id))
			buf_mark_freed(i);
	for (i = 0; i < S.nbuf; i++) {
		int ti = ten_find(S.buf[i].owner);

		if (ti < 0 || ten[ti].dead || buf_find(S.buf[i].id) >= 0)
			continue;
		viol(V_EFAULT,
		     "buffer %u (%llu bytes) of tenant %u exists though BUF_ALLOC returned EFAULT: allocated and charged, its id never returned",
		     S.buf[i].id, (unsigned long long)S.buf[i].size,
		     S.buf[i].owner);
		for (j = 0; j < MB; j++) {
			if (bufs[j].id)
				continue;
			memset(&bufs[j], 0, sizeof(bufs[j]));
			bufs[j].id = S.buf[i].id;
			bufs[j].owner = S.buf[i].owner;
			bufs[j].size = S.buf[i].size;
			bufs[j].off = ~0ULL; /* unknown: not mapped */
			break;
		}
	}
	for (j = 0; j < MGR; j++) {
		if (!grants[j].buf)
			continue;
		for (i = 0; i < S.ngrant; i++)
			if (S.grant[i].buf == grants[j].buf &&
			    S.grant[i].t == grants[j].t)
				break;
		if (i < S.ngrant) {
			grants[j].rw = S.grant[i].rw;
			continue;
		}
		/* Revoked after all. */
		for (i = 0; i < MM; i++)
			if (maps[i].addr && maps[i].ginst == grants[j].inst)
				maps[i].st = MS_ZAPPED;
		grant_drop(j);
	}
	for (i = 0; i < S.ngrant; i++) {
		if (buf_find(S.grant[i].buf) < 0 ||
		    grant_find(S.grant[i].buf, S.grant[i].t) >= 0)
			continue;
		for (j = 0; j < MGR; j++) {
			if (grants[j].buf)
				continue;
			grants[j].buf = S.grant[i].buf;
			grants[j].t = S.grant[i].t;
			grants[j].rw = S.grant[i].rw;
			grants[j].inst = ++grant_inst;
			break;
		}
		for (j = 0; j < MM; j++)
			if (maps[j].addr && maps[j].buf == S.grant[i].buf &&
			    maps[j].t == S.grant[i].t &&
			    maps[j].st == MS_ZAPPED)
				maps[j].st = MS_UNKNOWN;
	}
	for (i = 0; i < MG; i++) {
		if (!gpus[i].id || snap_gpu(gpus[i].id))
			continue;
		stale_add(stale_g, &nstale_g, gpus[i].id);
		for (j = 0; j < MP; j++)
			if (parts[j].g == gpus[i].id)
				parts[j].t = 0;
		gpus[i].id = 0;
	}
	for (i = 0; i < S.ngpu; i++) {
		if (is_base_gpu(S.gpu[i].id) || gpu_find(S.gpu[i].id) >= 0 ||
		    is_extra_gpu(S.gpu[i].id))
			continue;
		viol(V_EFAULT,
		     "gpu %u is registered though GPU_ADD returned EFAULT: its id never returned",
		     S.gpu[i].id);
		if (nextra_gpus < ARRAY_SIZE(extra_gpus))
			extra_gpus[nextra_gpus++] = S.gpu[i].id;
	}
}

static unsigned long n_checks;

/*
 * Files closed just now may be released a moment later (an io-wq worker
 * can hold the last reference for a while): a check that finds something
 * is retried quietly a few times before it reports.
 */
static void check_all(const char *when)
{
	struct gpumux_info in = { 0 };
	int attempt;

	n_checks++;
	for (attempt = 0; attempt < 5; attempt++) {
		quiet = attempt < 4;
		quiet_count = 0;
		if (snap_read()) {
			viol(V_INVAR, "%s: cannot read " DEBUGFS, when);
			continue;
		}
		check_snapshot();
		check_model(when);
		if (gm_cmd(ctl, GPUMUX_CMD_GET_INFO, &in, sizeof(in),
			   GM_IOCTL) == 0 &&
		    (in.nr_gpus != (unsigned int)S.ngpu ||
		     in.nr_tenants != (unsigned int)S.nten ||
		     (long long)in.pinned_used != S.ctr[C_PINNED]))
			viol(V_INVAR,
			     "%s: GET_INFO nr_gpus %u nr_tenants %u pinned_used %llu; state %d gpus %d tenants, pinned_bytes %lld",
			     when, in.nr_gpus, in.nr_tenants,
			     (unsigned long long)in.pinned_used, S.ngpu, S.nten,
			     S.ctr[C_PINNED]);
		if (!quiet_count)
			break;
		usleep(100000);
	}
	quiet = false;
}

/* ------------------------------------------------------------ sub-tests */

static bool counters_at_baseline(char *why, size_t n)
{
	static const int leak[] = { C_TENANTS, C_BUFFERS, C_PAGES, C_PINNED,
				    C_GRANTS,  C_PENDING, C_GPUS };
	double end = gm_now_s() + 5;
	unsigned int i;

	for (;;) {
		bool ok = snap_read() == 0;

		why[0] = 0;
		for (i = 0; ok && i < ARRAY_SIZE(leak); i++) {
			if (S.ctr[leak[i]] != base_ctr[leak[i]]) {
				snprintf(why, n, "%s %lld, baseline %lld",
					 ctr_names[leak[i]], S.ctr[leak[i]],
					 base_ctr[leak[i]]);
				ok = false;
			}
		}
		if (ok)
			return true;
		if (!why[0])
			snprintf(why, n, "cannot read " DEBUGFS);
		if (gm_now_s() > end)
			return false;
		usleep(100000);
	}
}

/* Remove every GPU that was not there at the start; -errno of the first failure. */
static int remove_new_gpus(void)
{
	struct gpumux_gpu_info gl[64];
	struct gpumux_list l = { .kind = GPUMUX_LIST_GPUS,
				 .entry_size = sizeof(gl[0]),
				 .addr = (uintptr_t)gl,
				 .capacity = 64 };
	int ret = 0, r;
	unsigned int i;

	r = gm_cmd(ctl, GPUMUX_CMD_LIST, &l, sizeof(l), GM_IOCTL);
	if (r)
		return r;
	for (i = 0; i < l.count; i++) {
		if (is_base_gpu(gl[i].gpu_id))
			continue;
		r = gm_gpu_remove(ctl, gl[i].gpu_id, GM_IOCTL);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

/* Is buffer @id listed in the state file now? */
static bool buf_listed(unsigned int id)
{
	return snap_read() == 0 && snap_buf(id);
}

/* Issue @op with its struct @arg copied into a read-only page. */
static int ro_cmd(int fd, unsigned int op, const void *arg, size_t len,
		  enum gm_path p)
{
	memcpy(xslot, arg, len);
	return gm_cmd(fd, op, slotro + NSLOT * SLOT_SIZE, len, p);
}

/*
 * The header: "on success [the kernel] writes the fields marked out back".
 * So a command without out fields works with a read-only struct, and one
 * with out fields fails with EFAULT -- and then must not have acted, or its
 * caller never learns the id of what it made.
 */
static void test_ro_struct(void)
{
	int path;

	for (path = 0; path < 2; path++) {
		enum gm_path p = (enum gm_path)path;
		struct gpumux_buf_free bf = { 0 };
		struct gpumux_grant gr = { .access = GPUMUX_ACCESS_RO };
		struct gpumux_grant_revoke rv = { 0 };
		struct gpumux_tenant_fence fe = { 0 };
		struct gpumux_gpu_remove grm = { 0 };
		struct gpumux_buf_alloc ba = { .size = pg };
		struct gpumux_gpu_add ga = { .cus = 8 };
		struct gpumux_tenant_create tc = { .max_cus = 8,
						   .pinned_quota = pg };
		struct gpumux_part_set ps = { .deadline_ms = 1000 };
		struct gpumux_part_info pi;
		unsigned int t1, t2, b1, b2, g, nb0;
		long long gpus0, tens0;
		int f1, f2, r, lowest;

		t_begin("fuzz: read-only struct, command without out fields succeeds (%s)",
			gm_path_name[path]);
		f1 = gm_tenant_create(ctl, "ro1", 8, 16 * pg, &t1, GM_IOCTL);
		f2 = gm_tenant_create(ctl, "ro2", 8, 16 * pg, &t2, GM_IOCTL);
		if (f1 < 0 || f2 < 0 ||
		    gm_buf_alloc(f1, pg, &b1, NULL, GM_IOCTL) ||
		    gm_buf_alloc(f1, pg, &b2, NULL, GM_IOCTL)) {
			t_fail(__FILE__, __LINE__, "setup failed");
			t_end();
			continue;
		}
		bf.buf_id = b1;
		r = ro_cmd(f1, GPUMUX_CMD_BUF_FREE, &bf, sizeof(bf), p);
		if (r)
			t_fail(__FILE__, __LINE__,
			       "BUF_FREE: %s, and buffer %u %s", strerror(-r),
			       b1,
			       buf_listed(b1) ? "is still there" :
						"was freed anyway");
		gr.buf_id = b2;
		gr.tenant_id = t2;
		r = ro_cmd(ctl, GPUMUX_CMD_GRANT, &gr, sizeof(gr), p);
		if (r) {
			t_fail(__FILE__, __LINE__, "GRANT: %s", strerror(-r));
			GM_CMD(ctl, GPUMUX_CMD_GRANT, &gr, GM_IOCTL);
		}
		rv.buf_id = b2;
		rv.tenant_id = t2;
		r = ro_cmd(ctl, GPUMUX_CMD_GRANT_REVOKE, &rv, sizeof(rv), p);
		if (r)
			t_fail(__FILE__, __LINE__, "GRANT_REVOKE: %s",
			       strerror(-r));
		fe.tenant_id = t2;
		r = ro_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, sizeof(fe), p);
		if (r)
			t_fail(__FILE__, __LINE__, "TENANT_FENCE: %s",
			       strerror(-r));
		g = (unsigned int)gm_gpu_add(ctl, 8, "fuzz:ro", GM_IOCTL);
		grm.gpu_id = g;
		r = ro_cmd(ctl, GPUMUX_CMD_GPU_REMOVE, &grm, sizeof(grm), p);
		if (r)
			t_fail(__FILE__, __LINE__, "GPU_REMOVE: %s",
			       strerror(-r));
		remove_new_gpus();
		t_end();

		t_begin("fuzz: read-only struct, EFAULT leaves nothing behind (%s)",
			gm_path_name[path]);
		snap_read();
		gpus0 = S.ctr[C_GPUS];
		tens0 = S.ctr[C_TENANTS];
		nb0 = snap_ten(t1) ? snap_ten(t1)->nbuf : 0;
		r = ro_cmd(f1, GPUMUX_CMD_BUF_ALLOC, &ba, sizeof(ba), p);
		T_EQ(r, -EFAULT);
		snap_read();
		if (snap_ten(t1) && snap_ten(t1)->nbuf != nb0)
			t_fail(__FILE__, __LINE__,
			       "BUF_ALLOC: %s, and tenant %u now has %u buffers, used=%llu (had %u)",
			       strerror(-r), t1, snap_ten(t1)->nbuf,
			       (unsigned long long)snap_ten(t1)->used, nb0);
		snprintf(ga.ident, sizeof(ga.ident), "fuzz:ro-add:%d", path);
		r = ro_cmd(ctl, GPUMUX_CMD_GPU_ADD, &ga, sizeof(ga), p);
		T_EQ(r, -EFAULT);
		if (gm_counter("gpus") != gpus0)
			t_fail(__FILE__, __LINE__,
			       "GPU_ADD: %s, and the GPU is registered (gpus %lld, was %lld)",
			       strerror(-r), gm_counter("gpus"), gpus0);
		g = (unsigned int)gm_gpu_add(ctl, 8, "fuzz:ro-part", GM_IOCTL);
		ps.tenant_id = t1;
		ps.gpu_id = g;
		ps.mask[0] = 0xf;
		r = ro_cmd(ctl, GPUMUX_CMD_PART_SET, &ps, sizeof(ps), p);
		T_EQ(r, -EFAULT);
		if (gm_part_get(ctl, t1, g, &pi, GM_IOCTL) == 0)
			t_fail(__FILE__, __LINE__,
			       "PART_SET: %s, and the partition was set (target %#llx)",
			       strerror(-r), (unsigned long long)pi.target[0]);
		lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
		close(lowest);
		snprintf(tc.name, sizeof(tc.name), "ro3");
		r = ro_cmd(ctl, GPUMUX_CMD_TENANT_CREATE, &tc, sizeof(tc), p);
		T_EQ(r, -EFAULT);
		if (fcntl(lowest, F_GETFD) >= 0) {
			t_fail(__FILE__, __LINE__,
			       "TENANT_CREATE: %s, and fd %d was installed",
			       strerror(-r), lowest);
			close(lowest);
		}
		T_EQ(gm_counter("tenants"), tens0);
		close(f1);
		close(f2);
		if (remove_new_gpus())
			t_fail(__FILE__, __LINE__,
			       "GPU_REMOVE after the tenants went failed");
		t_end();
	}
}

/* TENANT_CREATE with no fd free: EMFILE, and no tenant left behind. */
static void test_emfile(void)
{
	struct rlimit old, lim;
	int path, fd, lowest;
	unsigned int id;

	for (path = 0; path < 2; path++) {
		t_begin("fuzz: TENANT_CREATE at the fd limit gives EMFILE, leaks nothing (%s)",
			gm_path_name[path]);
		/* The uring path's ring must exist before the limit drops. */
		if (path == GM_URING) {
			struct gpumux_info in = { 0 };

			T_OK(gm_cmd(ctl, GPUMUX_CMD_GET_INFO, &in, sizeof(in),
				    GM_URING));
		}
		snap_read();
		lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
		close(lowest);
		getrlimit(RLIMIT_NOFILE, &old);
		lim = old;
		lim.rlim_cur = (rlim_t)lowest;
		if (setrlimit(RLIMIT_NOFILE, &lim)) {
			t_skip("setrlimit failed");
			t_end();
			continue;
		}
		fd = gm_tenant_create(ctl, "emfile", 4, pg, &id,
				      (enum gm_path)path);
		setrlimit(RLIMIT_NOFILE, &old);
		if (fd >= 0) {
			t_fail(__FILE__, __LINE__,
			       "TENANT_CREATE gave fd %d past the limit %d", fd,
			       lowest);
			close(fd);
		} else {
			T_EQ(fd, -EMFILE);
		}
		T_EQ(gm_counter("tenants"), base_ctr[C_TENANTS]);
		t_end();
	}
}

/* An armed uring EVENT_FETCH: completes on an event; cancelled by teardown. */
static void test_armed_fetch(void)
{
	struct gpumux_event ev[4];
	struct gpumux_event_fetch f = { .addr = (uintptr_t)ev, .capacity = 4 };
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)&f,
				       .len = sizeof(f) };
	struct gpumux_tenant_fence fe = { 0 };
	struct __kernel_timespec ts = { .tv_sec = 3 };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	unsigned int id;
	long long pend0 = gm_counter("pending_cmds");
	int tfd, ret;
	double end;

	t_begin("fuzz: armed uring EVENT_FETCH completes when an event comes");
	tfd = gm_tenant_create(ctl, "armed", 4, pg, &id, GM_IOCTL);
	if (tfd < 0 || io_uring_queue_init(8, &ring, 0)) {
		t_fail(__FILE__, __LINE__, "setup: %d", tfd);
		t_end();
		return;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, tfd, NULL, 0, 0);
	sqe->cmd_op = GPUMUX_CMD_EVENT_FETCH;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	io_uring_submit(&ring);
	usleep(50000);
	if (io_uring_peek_cqe(&ring, &cqe) == 0) {
		t_fail(__FILE__, __LINE__,
		       "completed at once with %d, no event queued", cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	T_EQ(gm_counter("pending_cmds"), pend0 + 1);
	fe.tenant_id = id;
	T_OK(gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, sizeof(fe), GM_IOCTL));
	ret = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
	if (ret) {
		t_fail(__FILE__, __LINE__,
		       "no completion 3 s after the fence: %s", strerror(-ret));
	} else {
		T_EQ(cqe->res, 1);
		T_EQ(f.count, 1);
		T_EQ(ev[0].type, GPUMUX_EVENT_FENCED);
		T_EQ(ev[0].tenant_id, id);
		io_uring_cqe_seen(&ring, cqe);
	}
	t_end();

	t_begin("fuzz: armed uring EVENT_FETCH is cancelled when its ring goes");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, tfd, NULL, 0, 0);
	sqe->cmd_op = GPUMUX_CMD_EVENT_FETCH;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	io_uring_submit(&ring);
	usleep(50000);
	T_EQ(gm_counter("pending_cmds"), pend0 + 1);
	io_uring_queue_exit(&ring);
	end = gm_now_s() + 5;
	while (gm_counter("pending_cmds") != pend0 && gm_now_s() < end)
		usleep(20000);
	if (gm_counter("pending_cmds") != pend0) {
		t_fail(__FILE__, __LINE__,
		       "pending_cmds still %lld 5 s after the ring was closed",
		       gm_counter("pending_cmds"));
		/* Let it complete so the tenant can go. */
		fe.flags = GPUMUX_FENCE_CLEAR;
		gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, sizeof(fe), GM_IOCTL);
	}
	/* Events queued after the cancel are still there for read(). */
	fe.flags = GPUMUX_FENCE_CLEAR;
	T_OK(gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &fe, sizeof(fe), GM_IOCTL));
	fcntl(tfd, F_SETFL, O_NONBLOCK);
	ret = (int)read(tfd, ev, sizeof(ev));
	T_ASSERT(ret >= (int)sizeof(ev[0]));
	if (ret >= (int)sizeof(ev[0]))
		T_EQ(ev[0].type, GPUMUX_EVENT_FENCED);
	close(tfd);
	end = gm_now_s() + 5;
	while (gm_counter("tenants") != base_ctr[C_TENANTS] && gm_now_s() < end)
		usleep(20000);
	T_EQ(gm_counter("tenants"), base_ctr[C_TENANTS]);
	t_end();
}

static void cleanup(void)
{
	struct dirent *d;
	unsigned int i;
	int k, strays = 0;
	DIR *dir;

	for (k = 0; k < MM; k++)
		if (maps[k].addr) {
			munmap(maps[k].addr, maps[k].len);
			map_drop(k);
		}
	for (k = 0; k < MT; k++)
		while (ten[k].id && ten[k].nfd)
			tenant_close_fd(k, 0);
	/* Tenant files nobody knew of (a command that should have failed). */
	dir = opendir("/proc/self/fd");
	while (dir && (d = readdir(dir))) {
		int fd = atoi(d->d_name);
		struct gpumux_info in = { 0 };

		if (fd <= 2 || fd == ctl || fd == ctl2 || fd == dirfd(dir))
			continue;
		if (ioctl(fd, GPUMUX_CMD_GET_INFO, &in) == 0 &&
		    in.file_kind == GPUMUX_FILE_TENANT) {
			strays++;
			close(fd);
		}
	}
	if (dir)
		closedir(dir);
	if (strays)
		viol(V_OUTPUT,
		     "%d tenant fd(s) the fuzzer never got from a successful TENANT_CREATE",
		     strays);
	i = (unsigned int)-remove_new_gpus();
	if (i)
		viol(V_INVAR, "cleanup: GPU_REMOVE with no tenant left: %s",
		     strerror((int)i));
}

int main(int argc, char **argv)
{
	unsigned long count = gm_env_ul("GM_FUZZ_COUNT", DEFAULT_COUNT);
	unsigned long max_secs =
		gm_env_ul("GM_FUZZ_MAX_SECS", DEFAULT_MAX_SECS);
	uint64_t seed = gm_env_ul("GM_FUZZ_SEED", 0);
	unsigned long ncmd = 0, next_check = CHECK_EVERY, next_report;
	struct sigaction sa = { 0 };
	struct io_uring_params pr = { 0 };
	double t0, t1;
	char why[200];
	int opt, memfd, i;

	while ((opt = getopt(argc, argv, "n:s:t:")) != -1) {
		switch (opt) {
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			max_secs = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-n COUNT] [-s SEED] [-t MAX_SECONDS]\n",
				argv[0]);
			return 2;
		}
	}
	if (!seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		       (uint64_t)getpid();
	}
	rng = seed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("fuzz: seed=%llu count=%lu (replay: test-fuzz -s %llu -n %lu)\n",
	       (unsigned long long)seed, count, (unsigned long long)seed,
	       count);
	pg = (uint64_t)sysconf(_SC_PAGESIZE);

	t_begin("fuzz: setup");
	if (access(DEBUGFS "/counters", R_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	ctl = gm_open_control(O_NONBLOCK);
	ctl2 = gm_open_control(O_NONBLOCK);
	if (ctl < 0 || ctl2 < 0) {
		t_fail(__FILE__, __LINE__, "open " GPUMUX_DEVICE_PATH ": %s",
		       strerror(-(ctl < 0 ? ctl : ctl2)));
		t_end();
		return t_status();
	}
	T_OK(gm_cmd(ctl, GPUMUX_CMD_GET_INFO, &info0, sizeof(info0), GM_IOCTL));
	if (snap_read()) {
		t_fail(__FILE__, __LINE__,
		       "cannot read " DEBUGFS "/counters and state");
		t_end();
		return t_status();
	}
	memcpy(base_ctr, S.ctr, sizeof(base_ctr));
	for (i = 0; i < S.ngpu && nbase_gpus < 256; i++)
		base_gpu_ids[nbase_gpus++] = S.gpu[i].id;
	for (i = 0; i < S.nten && nbase_tens < 256; i++)
		base_ten_ids[nbase_tens++] = S.ten[i].id;
	for (i = 0; i < C_NR; i++)
		if (base_ctr[i] < 0 && i != C_DROPPED)
			t_fail(__FILE__, __LINE__, "no counter %s",
			       ctr_names[i]);
	if (nbase_tens || base_ctr[C_BUFFERS])
		printf("fuzz: note: %u tenants and %lld buffers exist already\n",
		       nbase_tens, base_ctr[C_BUFFERS]);

	/* Slots, their read-only alias, the edge pages and the sink. */
	memfd = memfd_create("fuzz-slots", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (NSLOT + 1) * SLOT_SIZE)) {
		t_fail(__FILE__, __LINE__, "memfd: %s", strerror(errno));
		t_end();
		return t_status();
	}
	slotmem = mmap(NULL, (NSLOT + 1) * SLOT_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, memfd, 0);
	slotro = mmap(NULL, (NSLOT + 1) * SLOT_SIZE, PROT_READ, MAP_SHARED,
		      memfd, 0);
	edgemem = mmap(NULL, (NSLOT + 1) * 2 * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sink = mmap(NULL, SINK_SIZE + pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (slotmem == MAP_FAILED || slotro == MAP_FAILED ||
	    edgemem == MAP_FAILED || sink == MAP_FAILED) {
		t_fail(__FILE__, __LINE__, "mmap: %s", strerror(errno));
		t_end();
		return t_status();
	}
	for (i = 0; i <= NSLOT; i++)
		mprotect(edgemem + (2 * i + 1) * pg, pg, PROT_NONE);
	mprotect(sink + SINK_SIZE, pg, PROT_NONE);
	for (i = 0; i < NSLOT; i++)
		cmds[i].w = slotmem + i * SLOT_SIZE;
	xslot = slotmem + NSLOT * SLOT_SIZE;
	if (io_uring_queue_init(NSLOT, &ring64, 0)) {
		t_fail(__FILE__, __LINE__, "io_uring_queue_init failed");
		t_end();
		return t_status();
	}
	pr.flags = IORING_SETUP_SQE128;
	have128 = io_uring_queue_init_params(NSLOT, &ring128, &pr) == 0;
	if (!have128)
		printf("fuzz: note: no IORING_SETUP_SQE128 ring\n");
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	t_end();

	test_ro_struct();
	test_emfile();
	test_armed_fetch();

	/* The run. */
	t0 = gm_now_s();
	next_report = count / 10;
	while (ncmd < count && !fatal_hang) {
		unsigned int seg = rn(100), n, j;

		if (gm_now_s() - t0 > (double)max_secs)
			break;
		if (seg < 42) {
			n = chance(50) ? NSLOT : 1 + rn(NSLOT);
			if (n > count - ncmd)
				n = (unsigned int)(count - ncmd);
			for (j = 0; j < n; j++)
				gen_cmd(&cmds[j], GM_URING);
			exec_batch((int)n, have128 && chance(15));
			ncmd += n;
			if (need_resync)
				resync();
		} else if (seg < 84) {
			n = 1 + rn(48);
			for (j = 0; j < n && ncmd < count; j++) {
				nstep++;
				gen_cmd(&cmds[0], GM_IOCTL);
				exec_ioctl(&cmds[0]);
				finish(&cmds[0]);
				ncmd++;
				if (need_resync)
					resync();
				if (chance(25))
					nonc_op();
			}
		} else {
			n = 1 + rn(16);
			for (j = 0; j < n; j++)
				nonc_op();
		}
		nstep++;
		if (ncmd >= next_check) {
			check_all("periodic check");
			next_check += CHECK_EVERY;
		}
		if (ncmd >= next_report) {
			printf("fuzz: %lu/%lu commands, %.1f s\n", ncmd, count,
			       gm_now_s() - t0);
			next_report += count / 10;
		}
	}
	t1 = gm_now_s();
	if (!fatal_hang)
		check_all("final check before cleanup");

	printf("fuzz: %lu commands in %.1f s (%.0f/s): %lu ioctl, %lu uring in %lu batches "
	       "(%lu raw bad command bytes), %lu bad numbers; %lu ok, %lu failed; %lu other ops; %lu checks\n",
	       ncmd, t1 - t0, ncmd / (t1 - t0 > 0 ? t1 - t0 : 1), n_ioctl,
	       n_uring, n_batches, n_raw, n_near, n_ok, n_fail, n_nonc,
	       n_checks);
	printf("fuzz: mappings: %lu made, %lu touched, %lu revoked ones touched, %lu split, %lu mprotect of RO grants\n",
	       n_mapped, n_touched, n_zap_checked, n_splits, n_rogrant);
	printf("fuzz: errors:");
	for (i = 1; i < 256; i++)
		if (n_errno[i])
			printf(" %s=%lu",
			       strerrorname_np(i) ? strerrorname_np(i) : "?",
			       n_errno[i]);
	printf("\n");

	for (i = 0; i < V_NR; i++) {
		t_begin("fuzz: %s", v_title[i]);
		if (v_count[i])
			t_fail(__FILE__, __LINE__,
			       "%lu violation(s); first: %s", v_count[i],
			       v_first[i]);
		t_end();
	}

	t_begin("fuzz: %lu commands within the time bound (%lus)", count,
		max_secs);
	if (ncmd < count) {
		struct utsname u;

		/*
		 * A KASAN/lockdep kernel under TCG runs this some 30 times
		 * slower: there the bound is expected to cut the run short.
		 */
		if (!fatal_hang && !uname(&u) && strstr(u.release, "debug"))
			printf("fuzz: note: %s kernel: stopped at %lu of %lu commands after %.0f s\n",
			       u.release, ncmd, count, t1 - t0);
		else
			t_fail(__FILE__, __LINE__,
			       "only %lu of %lu commands in %.0f s%s", ncmd,
			       count, t1 - t0,
			       fatal_hang ? " (stopped: a command hung)" : "");
	}
	t_end();

	t_begin("fuzz: cleanup: leak counters back to the baseline");
	if (!fatal_hang) {
		unsigned long before = v_count[V_INVAR] + v_count[V_OUTPUT];

		cleanup();
		if (v_count[V_INVAR] + v_count[V_OUTPUT] != before)
			t_fail(__FILE__, __LINE__, "cleanup: %s",
			       v_count[V_INVAR] ? v_first[V_INVAR] :
						  v_first[V_OUTPUT]);
		if (!counters_at_baseline(why, sizeof(why)))
			t_fail(__FILE__, __LINE__, "%s", why);
		for (i = 0; i < S.nten; i++)
			if (!is_base_tenant(S.ten[i].id))
				t_fail(__FILE__, __LINE__,
				       "tenant %u still listed", S.ten[i].id);
	} else {
		t_skip("a uring command hung; its ring cannot be torn down");
	}
	t_end();
	io_uring_queue_exit(&ring64);
	if (have128)
		io_uring_queue_exit(&ring128);
	close(ctl);
	close(ctl2);
	return t_status();
}
