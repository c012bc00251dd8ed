// SPDX-License-Identifier: GPL-2.0
/*
 * test-stress: processes and threads at /dev/gpumux at once, for a bounded
 * time (default 20 s).
 *
 * The parent is the daemon.  It registers GPUs, and its threads:
 *  - broker: creates tenants and hands their fds to child processes over
 *    unix sockets (SCM_RIGHTS), closing its own copy; forwards fds that a
 *    child gives away to another child;
 *  - events: keeps one uring EVENT_FETCH armed on the control file;
 *  - two controllers: resize partitions (shrinks with short deadlines,
 *    growth, release; exclusive and shared), grant and revoke buffers,
 *    fence and clear tenants, add and remove a GPU, over ioctl and uring;
 *  - checker: reads debugfs gpumux/state every 50 ms and checks the
 *    invariants that hold in any snapshot: exclusive active masks on a GPU
 *    pairwise disjoint and disjoint from shared ones, targets likewise,
 *    state names matching the masks, no CU past the GPU's count, targets
 *    within max_cus, a fenced tenant holding nothing, used >= the tenant's
 *    live buffers and <= its quota, grants= and buffers= matching the lines;
 * and its main thread SIGKILLs a child now and then (and asks another to
 * exit), checks it is gone within 10 s although it had a uring fetch
 * armed, and starts a new one.
 *
 * Each child (this program again, re-executed: a clean address space) has
 * an acker (polls its tenant files, acknowledges shrinks, mostly in time),
 * an armer (keeps a uring EVENT_FETCH armed on one tenant file), and two
 * workers (allocate, map, write, verify, unmap, free -- also while mapped --,
 * map buffers granted to them, give tenant fds away and close them).
 *
 * At the end, quiescent (controllers stopped, every child has unmapped
 * everything and acknowledged every shrink): each tenant's used= equals the
 * sum of its live buffers, and the counters match the state file.  Then
 * the children exit and the leak counters must come back to the baseline.
 *
 * Usage: test-stress [-t SECONDS] [-p CHILDREN] [-s SEED]
 * or the environment: GM_STRESS_SECS, GM_STRESS_PROCS, GM_STRESS_SEED.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

#define DEBUGFS "/sys/kernel/debug/gpumux"
#define MAXCHILD 8
#define CT_TENANTS 4 /* tenants a child holds at most */
#define NWORKERS 2

static uint64_t pg;

/* ------------------------------------------------------------ random */

static __thread uint64_t rng;

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

/* ------------------------------------------------------------ shared */

enum {
	V_ERRNO, /* a result outside the documented set */
	V_DATA, /* own buffer mappings */
	V_INVAR, /* checker, during the run */
	V_EXIT, /* children that do not go away */
	V_EVENT, /* events of the wrong kind or tenant */
	V_QUIET, /* the quiescent checks */
	V_NR
};

static const char *const v_title[V_NR] = {
	"every command result is >= 0 or a documented -errno",
	"own buffers: mappings never fault, data written is read back",
	"debugfs invariants hold in every snapshot during the run",
	"killed and exiting children (uring fetch armed) are gone within 10 s",
	"events: right kind for the file, right tenant",
	"quiescent: used= is the sum of live buffers, counters match state",
};

static const char *const v_tag[V_NR] = { "errno", "data",  "invariant",
					 "exit",  "event", "quiescent" };

enum {
	S_CMDS,
	S_ALLOC,
	S_FREE,
	S_FREE_MAPPED,
	S_MAP,
	S_VERIFY,
	S_GRANTED_MAP,
	S_GRANTED_SIGBUS,
	S_ACK,
	S_ACK_LATE,
	S_EVENTS,
	S_ARMED_DONE,
	S_GIVE,
	S_CLOSE,
	S_PART_SET,
	S_PART_OK,
	S_GRANT,
	S_REVOKE,
	S_FENCE,
	S_GPU_CHURN,
	S_KILLS,
	S_EXITS,
	S_CHECKS,
	S_TENANTS_MADE,
	S_NR
};

static const char *const s_name[S_NR] = {
	"commands",  "allocs",	   "frees",	   "frees-while-mapped",
	"maps",	     "verifies",   "granted-maps", "granted-sigbus",
	"acks",	     "acks-stale", "events",	   "armed-fetches-done",
	"fds-given", "fds-closed", "part-sets",	   "part-sets-ok",
	"grants",    "revokes",	   "fences",	   "gpu-add/remove",
	"kills",     "exits",	   "snapshots",	   "tenants-made",
};

struct shared {
	atomic_ulong s[S_NR];
	atomic_ulong v[V_NR];
	atomic_ulong printed;
	atomic_int armed[MAXCHILD]; /* a uring fetch is held by that child */
	char first[V_NR][400];
};

static struct shared *sh;
static int my_slot = -1; /* child slot, -1 in the parent */

static void viol(int cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void viol(int cat, const char *fmt, ...)
{
	char msg[360];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_fetch_add(&sh->v[cat], 1) == 0)
		snprintf(sh->first[cat], sizeof(sh->first[cat]), "%s%s",
			 my_slot >= 0 ? "child: " : "", msg);
	if (atomic_fetch_add(&sh->printed, 1) < 40)
		printf("  stress %s%d: [%s] %s\n", my_slot >= 0 ? "child " : "",
		       my_slot >= 0 ? my_slot : getpid(), v_tag[cat], msg);
	fflush(stdout);
}

static void stat_inc(int s)
{
	atomic_fetch_add(&sh->s[s], 1);
}

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
	return "?";
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
	case GPUMUX_CMD_BUF_FREE:
	case GPUMUX_CMD_GRANT_REVOKE:
		return e == ENOENT;
	case GPUMUX_CMD_PART_SET:
		return e == ENOENT || e == EDQUOT || e == EBUSY || e == EXDEV;
	case GPUMUX_CMD_PART_ACK:
		return e == ENOENT || e == ESTALE || e == EALREADY;
	case GPUMUX_CMD_BUF_ALLOC:
		return e == EDQUOT || e == ENOSPC;
	case GPUMUX_CMD_GRANT:
		return e == ENOENT || e == ENOSPC;
	case GPUMUX_CMD_LIST:
		return e == EOVERFLOW;
	case GPUMUX_CMD_EVENT_FETCH:
		return e == EAGAIN || e == EINTR;
	}
	return false;
}

/*
 * Issue a command by a random path; check the result is documented.  In
 * this test every struct is valid, so EINVAL and EFAULT are wrong too.
 */
static int cmd(int fd, unsigned int op, void *arg, size_t len)
{
	enum gm_path p = chance(50) ? GM_URING : GM_IOCTL;
	int r = gm_cmd(fd, op, arg, len, p);

	stat_inc(S_CMDS);
	if (r < 0 && (!errno_documented(op, -r) || r == -EINVAL ||
		      r == -EFAULT || (p == GM_URING && r == -EAGAIN)))
		viol(V_ERRNO, "%s via %s: %s", op_name(op), gm_path_name[p],
		     strerror(-r));
	return r;
}
#define CMD(fd, op, argp) cmd((fd), (op), (argp), sizeof(*(argp)))

/* ------------------------------------------------------------ messages */

enum { M_TENANT = 1, M_WANT, M_GIVE, M_QUIESCE, M_QUIET, M_EXIT };

struct smsg {
	int type;
	unsigned int id;
	int arg;
};

static int send_msg(int sock, int type, unsigned int id, int arg, int fd,
		    int flags)
{
	struct smsg m = { .type = type, .id = id, .arg = arg };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | flags) < 0 ? -errno : 0;
}

/* Returns bytes read (0 at EOF) or -errno; *fd gets a passed fd or -1. */
static int recv_msg(int sock, struct smsg *m, int *fd, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);

	*fd = -1;
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k, nfd = (int)((c->cmsg_len - CMSG_LEN(0)) /
					   sizeof(int));

			for (k = 0; k < nfd; k++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + k * sizeof(int),
				       sizeof(int));
				if (*fd < 0)
					*fd = f;
				else
					close(f);
			}
		}
	}
	return (int)n;
}

/* ------------------------------------------------------------ events */

static void check_events(const struct gpumux_event *ev, int n, bool control,
			 unsigned int me)
{
	int i;

	for (i = 0; i < n; i++) {
		unsigned int t = ev[i].type;
		bool ok = control ? (t == GPUMUX_EVENT_TENANT_GONE ||
				     t == GPUMUX_EVENT_PART_ACKED ||
				     t == GPUMUX_EVENT_PART_FENCED ||
				     t == GPUMUX_EVENT_PART_GRANTED ||
				     t == GPUMUX_EVENT_OVERFLOW) :
				    (t == GPUMUX_EVENT_PART_CHANGED ||
				     t == GPUMUX_EVENT_FENCED ||
				     t == GPUMUX_EVENT_GRANT_REVOKED ||
				     t == GPUMUX_EVENT_GRANT_ADDED ||
				     t == GPUMUX_EVENT_OVERFLOW);

		stat_inc(S_EVENTS);
		if (!ok)
			viol(V_EVENT, "event type %u on a %s file", t,
			     control ? "control" : "tenant");
		else if (!control && t != GPUMUX_EVENT_OVERFLOW &&
			 ev[i].tenant_id != me)
			viol(V_EVENT,
			     "tenant %u's file got an event (type %u) of tenant %u",
			     me, t, ev[i].tenant_id);
	}
}

/* ------------------------------------------------------------ the child */

struct ctn {
	unsigned int id; /* 0: free */
	int fd;
	int refs;
	bool closing;
	bool armed_one; /* the armer's: never closed by workers */
};

static struct ctn ct[CT_TENANTS];
static pthread_mutex_t ct_lock = PTHREAD_MUTEX_INITIALIZER;
static int csock = -1;
static pthread_mutex_t csock_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int c_pause, c_paused, c_stop;
static atomic_int c_want_pending;

/* Take a reference on a random usable tenant; -1 if none. */
static int ct_get(bool allow_armed)
{
	int idx[CT_TENANTS], n = 0, i;

	pthread_mutex_lock(&ct_lock);
	for (i = 0; i < CT_TENANTS; i++)
		if (ct[i].id && !ct[i].closing &&
		    (allow_armed || !ct[i].armed_one))
			idx[n++] = i;
	i = n ? idx[rn(n)] : -1;
	if (i >= 0)
		ct[i].refs++;
	pthread_mutex_unlock(&ct_lock);
	return i;
}

static void ct_put(int i)
{
	int fd = -1;

	pthread_mutex_lock(&ct_lock);
	if (!--ct[i].refs && ct[i].closing) {
		fd = ct[i].fd;
		ct[i].id = 0;
		ct[i].closing = false;
	}
	pthread_mutex_unlock(&ct_lock);
	if (fd >= 0) {
		close(fd);
		stat_inc(S_CLOSE);
	}
}

static int ct_count(void)
{
	int i, n = 0;

	pthread_mutex_lock(&ct_lock);
	for (i = 0; i < CT_TENANTS; i++)
		n += ct[i].id && !ct[i].closing;
	pthread_mutex_unlock(&ct_lock);
	return n;
}

static void ct_add(unsigned int id, int fd)
{
	int i;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	pthread_mutex_lock(&ct_lock);
	for (i = 0; i < CT_TENANTS; i++) {
		if (ct[i].id)
			continue;
		ct[i].id = id;
		ct[i].fd = fd;
		ct[i].refs = 0;
		ct[i].closing = false;
		ct[i].armed_one = false;
		break;
	}
	pthread_mutex_unlock(&ct_lock);
	if (i == CT_TENANTS)
		close(fd);
}

static void child_send(int type, unsigned int id, int arg, int fd)
{
	pthread_mutex_lock(&csock_lock);
	send_msg(csock, type, id, arg, fd, 0);
	pthread_mutex_unlock(&csock_lock);
}

static void want_tenant(void)
{
	if (atomic_exchange(&c_want_pending, 1) == 0)
		child_send(M_WANT, 0, 0, -1);
}

/* Acknowledge every shrink of tenant @i that waits for it. */
static void ack_all(int i)
{
	struct gpumux_part_info parts[16];
	struct gpumux_list l = { .kind = GPUMUX_LIST_PARTITIONS,
				 .entry_size = sizeof(parts[0]),
				 .addr = (uintptr_t)parts,
				 .capacity = 16 };
	unsigned int k;

	if (CMD(ct[i].fd, GPUMUX_CMD_LIST, &l) < 0)
		return;
	for (k = 0; k < l.count; k++) {
		struct gpumux_part_ack a = { .gpu_id = parts[k].gpu_id,
					     .generation =
						     parts[k].generation };

		if (parts[k].state != GPUMUX_PART_REVOKING)
			continue;
		if (CMD(ct[i].fd, GPUMUX_CMD_PART_ACK, &a) == 0)
			stat_inc(S_ACK_LATE);
	}
}

/* React to events of tenant @i: acknowledge shrinks (mostly). */
static void handle_events(int i, const struct gpumux_event *ev, int n)
{
	int k;

	check_events(ev, n, false, ct[i].id);
	for (k = 0; k < n; k++) {
		struct gpumux_part_ack a = { .gpu_id = ev[k].gpu_id,
					     .generation = ev[k].generation };
		int r;

		if (ev[k].type == GPUMUX_EVENT_OVERFLOW) {
			ack_all(i);
			continue;
		}
		if (ev[k].type != GPUMUX_EVENT_PART_CHANGED ||
		    ev[k].arg != GPUMUX_PART_REVOKING)
			continue;
		/* Now and then too late: the deadline fences the tenant. */
		if (chance(8) && !atomic_load(&c_pause))
			continue;
		r = CMD(ct[i].fd, GPUMUX_CMD_PART_ACK, &a);
		if (!r)
			stat_inc(S_ACK);
		else if (r == -ESTALE)
			ack_all(i);
	}
}

static void *armer(void *unused)
{
	struct gpumux_event ev[16];
	struct gpumux_event_fetch f;
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)&f,
				       .len = sizeof(f) };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int i = -1, r;

	(void)unused;
	rng ^= (uint64_t)pthread_self();
	if (io_uring_queue_init(4, &ring, 0))
		return NULL;
	while (!atomic_load(&c_stop)) {
		struct __kernel_timespec ts = { .tv_nsec = 100000000 };
		struct io_uring_sqe *sqe;

		if (i < 0) {
			/* Adopt a tenant: ours for good (never closed). */
			pthread_mutex_lock(&ct_lock);
			for (r = 0; r < CT_TENANTS; r++)
				if (ct[r].id && !ct[r].closing) {
					ct[r].armed_one = true;
					ct[r].refs++;
					i = r;
					break;
				}
			pthread_mutex_unlock(&ct_lock);
			if (i < 0) {
				usleep(10000);
				continue;
			}
		}
		memset(&f, 0, sizeof(f));
		f.addr = (uintptr_t)ev;
		f.capacity = ARRAY_SIZE(ev);
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, ct[i].fd, NULL, 0,
				 0);
		sqe->cmd_op = GPUMUX_CMD_EVENT_FETCH;
		memcpy(sqe->cmd, &uc, sizeof(uc));
		atomic_store(&sh->armed[my_slot], 1);
		io_uring_submit(&ring);
		for (;;) {
			r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
			if (r == 0 || atomic_load(&c_stop))
				break;
		}
		if (r)
			break; /* stopping with the fetch armed: the exit cancels it */
		r = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		atomic_store(&sh->armed[my_slot], 0);
		stat_inc(S_ARMED_DONE);
		if (r < 0) {
			viol(V_ERRNO,
			     "armed EVENT_FETCH on tenant %u completed with %s",
			     ct[i].id, strerror(-r));
			usleep(10000);
			continue;
		}
		if ((unsigned int)r != f.count || r > (int)ARRAY_SIZE(ev) || !r)
			viol(V_ERRNO, "armed EVENT_FETCH: res %d, count %u", r,
			     f.count);
		handle_events(i, ev, MIN(r, (int)ARRAY_SIZE(ev)));
	}
	/* Leave the ring and the fetch to the exit. */
	for (;;)
		pause();
	return NULL;
}

/* One buffer of a worker. */
struct wbuf {
	unsigned int tid, bid;
	int ti; /* ct index when taken, for BUF_FREE */
	uint64_t off, size;
	char *map;
	size_t maplen;
	bool freed, granted, rw;
	uint64_t tag;
};

static __thread sigjmp_buf fault_jmp;
static __thread volatile sig_atomic_t fault_armed;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (fault_armed)
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run @fn(@p) and return 0, or the signal it took. */
static int guarded_read(const volatile uint64_t *p, uint64_t *out)
{
	int sig;

	fault_armed = 1;
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		*out = *p;
	fault_armed = 0;
	return sig;
}

static int guarded_write(volatile uint64_t *p, uint64_t v)
{
	int sig;

	fault_armed = 1;
	sig = sigsetjmp(fault_jmp, 1);
	if (!sig)
		*p = v;
	fault_armed = 0;
	return sig;
}

static void wb_fill(struct wbuf *b)
{
	size_t off;

	for (off = 0; off < b->maplen; off += pg) {
		int sig = guarded_write((volatile uint64_t *)(b->map + off),
					b->tag ^ off);

		if (sig) {
			viol(V_DATA,
			     "write to own buffer %u of tenant %u at +%zu: %s",
			     b->bid, b->tid, off, strsignal(sig));
			return;
		}
	}
}

static void wb_verify(struct wbuf *b)
{
	size_t off;
	uint64_t v;

	stat_inc(S_VERIFY);
	for (off = 0; off < b->maplen; off += pg) {
		int sig = guarded_read((volatile uint64_t *)(b->map + off), &v);

		if (sig) {
			viol(V_DATA,
			     "read of own buffer %u of tenant %u%s at +%zu: %s",
			     b->bid, b->tid, b->freed ? " (freed, mapped)" : "",
			     off, strsignal(sig));
			return;
		}
		if (v != (b->tag ^ off)) {
			viol(V_DATA,
			     "own buffer %u of tenant %u%s at +%zu reads %#llx, wrote %#llx",
			     b->bid, b->tid, b->freed ? " (freed, mapped)" : "",
			     off, (unsigned long long)v,
			     (unsigned long long)(b->tag ^ off));
			return;
		}
	}
}

static void wb_unmap(struct wbuf *b)
{
	if (!b->map)
		return;
	if (!b->granted)
		wb_verify(b);
	munmap(b->map, b->maplen);
	b->map = NULL;
}

#define WB 12

static void worker_op(struct wbuf *wb, int *nwb)
{
	unsigned int r = rn(100);
	int i, k;

	if (r < 25 && *nwb < WB) {
		/* Allocate, usually map and fill. */
		struct gpumux_buf_alloc a = { .size = pg * (1 + rn(8)) };
		struct wbuf *b = &wb[*nwb];

		i = ct_get(true);
		if (i < 0)
			return;
		if (CMD(ct[i].fd, GPUMUX_CMD_BUF_ALLOC, &a) == 0) {
			stat_inc(S_ALLOC);
			memset(b, 0, sizeof(*b));
			b->tid = ct[i].id;
			b->bid = a.buf_id;
			b->off = a.mmap_offset;
			b->size = a.size;
			b->rw = true;
			b->tag = rnd();
			if (chance(75)) {
				b->map = mmap(NULL, a.size,
					      PROT_READ | PROT_WRITE,
					      MAP_SHARED, ct[i].fd,
					      (off_t)a.mmap_offset);
				if (b->map == MAP_FAILED) {
					viol(V_DATA,
					     "mmap of new buffer %u of tenant %u: %s",
					     b->bid, b->tid, strerror(errno));
					b->map = NULL;
				} else {
					stat_inc(S_MAP);
					b->maplen = a.size;
					wb_fill(b);
				}
			}
			(*nwb)++;
		}
		ct_put(i);
	} else if (r < 45 && *nwb) {
		/* Free one (perhaps still mapped), or unmap one. */
		struct wbuf *b = &wb[rn(*nwb)];

		if (!b->freed && !b->granted && chance(60)) {
			struct gpumux_buf_free f = { .buf_id = b->bid };

			pthread_mutex_lock(&ct_lock);
			for (i = 0; i < CT_TENANTS; i++)
				if (ct[i].id == b->tid && !ct[i].closing)
					break;
			if (i < CT_TENANTS)
				ct[i].refs++;
			pthread_mutex_unlock(&ct_lock);
			if (i < CT_TENANTS) {
				int ret =
					CMD(ct[i].fd, GPUMUX_CMD_BUF_FREE, &f);

				if (!ret) {
					stat_inc(S_FREE);
					if (b->map)
						stat_inc(S_FREE_MAPPED);
				}
				ct_put(i);
			}
			/* Gone from the ledger either way (freed or its tenant went). */
			b->freed = true;
		} else {
			wb_unmap(b);
		}
		/* Done with it: freed (or granted) and no longer mapped. */
		if ((b->freed || b->granted) && !b->map)
			*b = wb[--(*nwb)];
	} else if (r < 65) {
		/* Verify a mapping; sometimes map an unmapped buffer again. */
		if (!*nwb)
			return;
		k = (int)rn(*nwb);
		if (wb[k].map && !wb[k].granted) {
			wb_verify(&wb[k]);
		} else if (!wb[k].map && !wb[k].freed && !wb[k].granted) {
			pthread_mutex_lock(&ct_lock);
			for (i = 0; i < CT_TENANTS; i++)
				if (ct[i].id == wb[k].tid && !ct[i].closing)
					break;
			if (i < CT_TENANTS)
				ct[i].refs++;
			pthread_mutex_unlock(&ct_lock);
			if (i == CT_TENANTS) {
				wb[k].freed = true; /* tenant went: dropped */
				wb[k] = wb[--(*nwb)];
				return;
			}
			wb[k].map = mmap(NULL, wb[k].size,
					 PROT_READ | PROT_WRITE, MAP_SHARED,
					 ct[i].fd, (off_t)wb[k].off);
			ct_put(i);
			if (wb[k].map == MAP_FAILED) {
				viol(V_DATA,
				     "mmap of live buffer %u of tenant %u: %s",
				     wb[k].bid, wb[k].tid, strerror(errno));
				wb[k].map = NULL;
				return;
			}
			stat_inc(S_MAP);
			wb[k].maplen = wb[k].size;
			wb_fill(&wb[k]);
		}
	} else if (r < 80 && *nwb < WB) {
		/* Map a buffer granted to one of our tenants and read it. */
		struct gpumux_buf_info bl[16];
		struct gpumux_list l = { .kind = GPUMUX_LIST_BUFFERS,
					 .entry_size = sizeof(bl[0]),
					 .addr = (uintptr_t)bl,
					 .capacity = 16 };
		struct wbuf *b = &wb[*nwb];
		unsigned int n, j;
		uint64_t v;
		int sig;

		i = ct_get(true);
		if (i < 0)
			return;
		if (CMD(ct[i].fd, GPUMUX_CMD_LIST, &l) == 0) {
			for (n = 0, j = 0; j < l.count; j++)
				if (bl[j].owner_id != ct[i].id)
					bl[n++] = bl[j];
			if (n) {
				j = rn(n);
				memset(b, 0, sizeof(*b));
				b->granted = true;
				b->tid = ct[i].id;
				b->bid = bl[j].buf_id;
				b->size = bl[j].size;
				b->rw = bl[j].access == GPUMUX_ACCESS_RW;
				b->map = mmap(NULL, bl[j].size,
					      PROT_READ |
						      (b->rw ? PROT_WRITE : 0),
					      MAP_SHARED, ct[i].fd,
					      (off_t)bl[j].mmap_offset);
				if (b->map != MAP_FAILED) {
					stat_inc(S_GRANTED_MAP);
					b->maplen = bl[j].size;
					/* A revoke may race us: SIGBUS is fine. */
					sig = guarded_read(
						(volatile uint64_t *)b->map,
						&v);
					if (sig == SIGBUS)
						stat_inc(S_GRANTED_SIGBUS);
					else if (sig)
						viol(V_DATA,
						     "read of granted buffer %u: %s",
						     b->bid, strsignal(sig));
					(*nwb)++;
				}
			}
		}
		ct_put(i);
	} else if (r < 85) {
		/* Give a tenant away, or close it; then ask for another. */
		i = ct_get(false);
		if (i < 0) {
			if (ct_count() < 2)
				want_tenant();
			return;
		}
		if (chance(50)) {
			stat_inc(S_GIVE);
			child_send(M_GIVE, ct[i].id, 0, ct[i].fd);
		}
		pthread_mutex_lock(&ct_lock);
		ct[i].closing = true;
		pthread_mutex_unlock(&ct_lock);
		ct_put(i);
		want_tenant();
	} else {
		/* Cheap queries. */
		struct gpumux_info in = { 0 };

		i = ct_get(true);
		if (i < 0) {
			want_tenant();
			return;
		}
		if (CMD(ct[i].fd, GPUMUX_CMD_GET_INFO, &in) == 0 &&
		    (in.tenant_id != ct[i].id ||
		     in.file_kind != GPUMUX_FILE_TENANT))
			viol(V_ERRNO,
			     "GET_INFO on tenant %u's file: tenant %u, kind %u",
			     ct[i].id, in.tenant_id, in.file_kind);
		ct_put(i);
	}
}

static void *worker(void *unused)
{
	struct wbuf wb[WB];
	int nwb = 0, k;

	(void)unused;
	rng ^= (uint64_t)pthread_self() * 31;
	while (!atomic_load(&c_stop)) {
		if (atomic_load(&c_pause)) {
			for (k = 0; k < nwb; k++)
				wb_unmap(&wb[k]);
			nwb = 0;
			atomic_fetch_add(&c_paused, 1);
			while (!atomic_load(&c_stop))
				usleep(10000);
			break;
		}
		worker_op(wb, &nwb);
		if (chance(20))
			usleep(rn(2000));
	}
	for (;;)
		pause();
	return NULL;
}

static int child_main(int sock, int shmfd, int slot, uint64_t seed)
{
	struct sigaction sa = { 0 };
	pthread_t th;
	int i;

	my_slot = slot;
	csock = sock;
	rng = seed;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, shmfd,
		  0);
	if (sh == MAP_FAILED)
		return 1;
	close(shmfd);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	want_tenant();
	pthread_create(&th, NULL, armer, NULL);
	for (i = 0; i < NWORKERS; i++)
		pthread_create(&th, NULL, worker, NULL);

	/* The acker: tenant files and the parent's socket. */
	for (;;) {
		struct pollfd pf[CT_TENANTS + 1];
		int map[CT_TENANTS + 1], n = 0, r;
		static double last_want;

		/* A request may have been lost with a forwarded fd: ask again. */
		if (!atomic_load(&c_pause) && ct_count() < 2 &&
		    gm_now_s() - last_want > 0.5) {
			last_want = gm_now_s();
			atomic_store(&c_want_pending, 0);
			want_tenant();
		}

		pf[n].fd = sock;
		pf[n].events = POLLIN;
		map[n++] = -1;
		pthread_mutex_lock(&ct_lock);
		for (i = 0; i < CT_TENANTS; i++) {
			if (!ct[i].id || ct[i].closing || ct[i].armed_one)
				continue;
			ct[i].refs++;
			pf[n].fd = ct[i].fd;
			pf[n].events = POLLIN;
			map[n++] = i;
		}
		pthread_mutex_unlock(&ct_lock);
		r = poll(pf, (nfds_t)n, 20);
		for (i = 1; i < n; i++) {
			struct gpumux_event ev[16];
			ssize_t got;

			if (r > 0 && (pf[i].revents & POLLIN)) {
				got = read(pf[i].fd, ev, sizeof(ev));
				if (got > 0)
					handle_events(
						map[i], ev,
						(int)(got / sizeof(ev[0])));
				else if (got < 0 && errno != EAGAIN)
					viol(V_ERRNO,
					     "read() of tenant %u's events: %s",
					     ct[map[i]].id, strerror(errno));
			}
			ct_put(map[i]);
		}
		if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP))) {
			struct smsg m;
			int fd;

			r = recv_msg(sock, &m, &fd, MSG_DONTWAIT);
			if (r == 0)
				_exit(0); /* the parent went */
			if (r < 0)
				continue;
			switch (m.type) {
			case M_TENANT:
				atomic_store(&c_want_pending, 0);
				if (fd >= 0)
					ct_add(m.id, fd);
				if (ct_count() < 2)
					want_tenant();
				break;
			case M_QUIESCE: {
				double end = gm_now_s() + 10;

				atomic_store(&c_pause, 1);
				while (atomic_load(&c_paused) < NWORKERS &&
				       gm_now_s() < end)
					usleep(5000);
				for (i = 0; i < CT_TENANTS; i++) {
					if (!ct[i].id)
						continue;
					pthread_mutex_lock(&ct_lock);
					ct[i].refs++;
					pthread_mutex_unlock(&ct_lock);
					ack_all(i);
					ct_put(i);
				}
				child_send(M_QUIET, 0, atomic_load(&c_paused),
					   -1);
				break;
			}
			case M_EXIT:
				/* Everything still open, a fetch still armed. */
				_exit(0);
			default:
				if (fd >= 0)
					close(fd);
			}
		}
	}
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
	__u64 act[GPUMUX_MASK_WORDS], tgt[GPUMUX_MASK_WORDS];
};
struct sbuf {
	unsigned int id, owner, grants;
	uint64_t size;
};
struct sgrant {
	unsigned int buf, t;
};

static const char *const ctr_names[] = { "tenants", "buffers",
					 "pages",   "pinned_bytes",
					 "grants",  "pending_cmds",
					 "gpus" };
enum {
	C_TENANTS,
	C_BUFFERS,
	C_PAGES,
	C_PINNED,
	C_GRANTS,
	C_PENDING,
	C_GPUS,
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

static char *read_file(const char *path)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap), *nb;
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
			nb = realloc(b, cap);
			if (!nb)
				break;
			b = nb;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = 0;
	return b;
}

static void read_counters(struct snap *S)
{
	char *txt = read_file(DEBUGFS "/counters"), *line, *save = NULL;
	int i;

	for (i = 0; i < C_NR; i++)
		S->ctr[i] = -1;
	if (!txt)
		return;
	for (line = strtok_r(txt, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		long long v;

		if (sscanf(line, "%63s %lld", key, &v) != 2)
			continue;
		for (i = 0; i < C_NR; i++)
			if (!strcmp(key, ctr_names[i]))
				S->ctr[i] = v;
	}
	free(txt);
}

static int read_state(struct snap *S)
{
	char *txt = read_file(DEBUGFS "/state"), *line, *save = NULL;

	if (!txt)
		return -1;
	S->ngpu = S->nten = S->npart = S->nbuf = S->ngrant = S->nbad = 0;
	for (line = strtok_r(txt, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char head[160], *tok[16], *s2 = NULL, *t;
		int n = 0;

		snprintf(head, sizeof(head), "%s", line);
		for (t = strtok_r(line, " ", &s2); t && n < 16;
		     t = strtok_r(NULL, " ", &s2))
			tok[n++] = t;
		if (n < 2)
			continue;
		if (!strcmp(tok[0], "gpu") && S->ngpu < 256) {
			const char *c = gm_kv(tok, n, "cus");
			struct sgpu *g = &S->gpu[S->ngpu++];

			g->id = (unsigned int)strtoul(tok[1], NULL, 10);
			g->cus = c ? (unsigned int)strtoul(c, NULL, 10) : 0;
		} else if (!strcmp(tok[0], "tenant") && S->nten < SMAX) {
			const char *f = gm_kv(tok, n, "fenced"),
				   *mc = gm_kv(tok, n, "max_cus"),
				   *q = gm_kv(tok, n, "quota"),
				   *u = gm_kv(tok, n, "used"),
				   *nb = gm_kv(tok, n, "buffers");
			struct sten *x = &S->ten[S->nten];

			if (!f || !mc || !q || !u || !nb) {
				if (!S->nbad++)
					snprintf(S->bad, sizeof(S->bad), "%s",
						 head);
				continue;
			}
			x->id = (unsigned int)strtoul(tok[1], NULL, 10);
			x->fenced = atoi(f);
			x->max_cus = (unsigned int)strtoul(mc, NULL, 10);
			x->quota = strtoull(q, NULL, 10);
			x->used = strtoull(u, NULL, 10);
			x->nbuf = (unsigned int)strtoul(nb, NULL, 10);
			S->nten++;
		} else if (!strcmp(tok[0], "part") && n >= 3 &&
			   S->npart < SMAX) {
			const char *fl = gm_kv(tok, n, "flags"),
				   *st = gm_kv(tok, n, "state"),
				   *ac = gm_kv(tok, n, "active"),
				   *tg = gm_kv(tok, n, "target");
			struct spart *p = &S->part[S->npart];

			if (!fl || !st || !ac || !tg ||
			    gm_parse_ranges(ac, p->act) ||
			    gm_parse_ranges(tg, p->tgt)) {
				if (!S->nbad++)
					snprintf(S->bad, sizeof(S->bad), "%s",
						 head);
				continue;
			}
			p->t = (unsigned int)strtoul(tok[1], NULL, 10);
			p->g = (unsigned int)strtoul(tok[2], NULL, 10);
			p->flags = (unsigned int)strtoul(fl, NULL, 0);
			snprintf(p->state, sizeof(p->state), "%s", st);
			S->npart++;
		} else if (!strcmp(tok[0], "buf") && S->nbuf < SMAX * 4) {
			const char *o = gm_kv(tok, n, "owner"),
				   *sz = gm_kv(tok, n, "size"),
				   *gr = gm_kv(tok, n, "grants");
			struct sbuf *b = &S->buf[S->nbuf];

			if (!o || !sz || !gr) {
				if (!S->nbad++)
					snprintf(S->bad, sizeof(S->bad), "%s",
						 head);
				continue;
			}
			b->id = (unsigned int)strtoul(tok[1], NULL, 10);
			b->owner = (unsigned int)strtoul(o, NULL, 10);
			b->size = strtoull(sz, NULL, 10);
			b->grants = (unsigned int)strtoul(gr, NULL, 10);
			S->nbuf++;
		} else if (!strcmp(tok[0], "grant") && n >= 3 &&
			   S->ngrant < SMAX * 4) {
			struct sgrant *g = &S->grant[S->ngrant++];

			g->buf = (unsigned int)strtoul(tok[1], NULL, 10);
			g->t = (unsigned int)strtoul(tok[2], NULL, 10);
		}
	}
	free(txt);
	return 0;
}

static const struct sten *s_ten(const struct snap *S, unsigned int id)
{
	int i;

	for (i = 0; i < S->nten; i++)
		if (S->ten[i].id == id)
			return &S->ten[i];
	return NULL;
}

static const struct sgpu *s_gpu(const struct snap *S, unsigned int id)
{
	int i;

	for (i = 0; i < S->ngpu; i++)
		if (S->gpu[i].id == id)
			return &S->gpu[i];
	return NULL;
}

/*
 * Invariants of one snapshot of the state file (printed under the ledger's
 * lock).  @strict: also those that only hold when quiescent.  Returns the
 * number of problems; if @report, reports at most a few through @cat.
 */
static int check_snapshot(const struct snap *S, int cat, bool strict,
			  bool report)
{
	int i, j, bad = 0;

#define INV(...)                                \
	do {                                    \
		if (bad++ < 4 && report)        \
			viol(cat, __VA_ARGS__); \
	} while (0)

	if (S->nbad)
		INV("state: unparsable line \"%s\"", S->bad);
	for (i = 0; i < S->npart; i++) {
		const struct spart *p = &S->part[i];
		const struct sten *t = s_ten(S, p->t);
		const struct sgpu *g = s_gpu(S, p->g);
		bool sub = gm_mask_subset(p->act, p->tgt),
		     eq = sub && gm_mask_subset(p->tgt, p->act);

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
			if (!gm_mask_subset(p->act, lim) || !gm_mask_subset(p->tgt, lim))
				INV("part %u %u: CUs past the GPU's %u", p->t,
				    p->g, g->cus);
		}
		if (gm_mask_weight(p->tgt) > t->max_cus)
			INV("part %u %u: target %u CUs, max_cus %u", p->t, p->g,
			    gm_mask_weight(p->tgt), t->max_cus);
		if (strcmp(p->state, !sub ? "revoking" :
				     !eq  ? "growing" :
					    "stable"))
			INV("part %u %u: state %s, active %s target", p->t,
			    p->g, p->state,
			    eq	? "==" :
			    sub ? "<" :
				  "not <=");
		if (t->fenced && !gm_mask_empty(p->act))
			INV("part %u %u: fenced tenant holds %u CUs", p->t,
			    p->g, gm_mask_weight(p->act));
		for (j = i + 1; j < S->npart; j++) {
			const struct spart *q = &S->part[j];
			bool excl = !(p->flags & GPUMUX_PART_SHARED) ||
				    !(q->flags & GPUMUX_PART_SHARED);

			if (q->g != p->g)
				continue;
			if (q->t == p->t) {
				INV("tenant %u: two partitions on gpu %u", p->t,
				    p->g);
				continue;
			}
			if (excl && gm_mask_intersects(p->act, q->act))
				INV("gpu %u: CUs held by tenants %u (%s) and %u (%s) at once",
				    p->g, p->t,
				    p->flags ? "shared" : "exclusive", q->t,
				    q->flags ? "shared" : "exclusive");
			if (excl && gm_mask_intersects(p->tgt, q->tgt))
				INV("gpu %u: targets of tenants %u (%s) and %u (%s) overlap",
				    p->g, p->t,
				    p->flags ? "shared" : "exclusive", q->t,
				    q->flags ? "shared" : "exclusive");
		}
	}
	for (i = 0; i < S->nten; i++) {
		const struct sten *t = &S->ten[i];
		uint64_t live = 0;
		unsigned int nb = 0;

		for (j = 0; j < S->nbuf; j++)
			if (S->buf[j].owner == t->id) {
				live += S->buf[j].size;
				nb++;
			}
		if (t->used < live || t->used > t->quota)
			INV("tenant %u: used %llu, live buffers %llu, quota %llu",
			    t->id, (unsigned long long)t->used,
			    (unsigned long long)live,
			    (unsigned long long)t->quota);
		if (strict && t->used != live)
			INV("tenant %u: used=%llu, but its live buffers add up to %llu (nothing mapped anywhere)",
			    t->id, (unsigned long long)t->used,
			    (unsigned long long)live);
		/* An allocation under way counts in buffers= before its line. */
		if (strict ? t->nbuf != nb : t->nbuf < nb)
			INV("tenant %u: buffers=%u but %u buf lines", t->id,
			    t->nbuf, nb);
	}
	for (i = 0; i < S->nbuf; i++) {
		unsigned int ng = 0;

		if (!s_ten(S, S->buf[i].owner))
			INV("buf %u: owner %u not a live tenant", S->buf[i].id,
			    S->buf[i].owner);
		for (j = 0; j < S->ngrant; j++)
			if (S->grant[j].buf == S->buf[i].id)
				ng++;
		if (ng != S->buf[i].grants)
			INV("buf %u: grants=%u but %u grant lines",
			    S->buf[i].id, S->buf[i].grants, ng);
	}
	for (i = 0; i < S->ngrant; i++)
		if (!s_ten(S, S->grant[i].t))
			INV("grant %u %u: grantee not a live tenant",
			    S->grant[i].buf, S->grant[i].t);
	return bad;
#undef INV
}

/* ------------------------------------------------------------ the parent */

static int ctl;
static atomic_int stop_run, stop_broker, stop_events;
static unsigned int gpu_ids[3];
static unsigned int gpu_cus[3] = { 64, 128, 32 };
static pthread_mutex_t gpu_lock = PTHREAD_MUTEX_INITIALIZER;
static long long base_ctr[C_NR];

struct child {
	pid_t pid;
	int sock; /* -1: no child in this slot */
	bool quiet;
	bool gone; /* its socket closed: dead or dying */
};

static struct child kids[MAXCHILD];
static int nkids;
static pthread_mutex_t kids_lock = PTHREAD_MUTEX_INITIALIZER;
static int shmfd;
static char self_exe[256];
/* Sockets of children that went: closed at the end, so no fd is reused. */
static int graveyard[256], ngrave;

/* Tenants alive, as far as the daemon knows. */
#define REG 64
struct reg {
	unsigned int id; /* 0: free */
	unsigned int max_cus;
	int slot; /* child it went to */
};
static struct reg reg[REG];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static void reg_add(unsigned int id, unsigned int max_cus, int slot)
{
	int i;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < REG; i++)
		if (!reg[i].id) {
			reg[i].id = id;
			reg[i].max_cus = max_cus;
			reg[i].slot = slot;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
}

static void reg_del(unsigned int id)
{
	int i;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < REG; i++)
		if (reg[i].id == id)
			reg[i].id = 0;
	pthread_mutex_unlock(&reg_lock);
}

static unsigned int reg_pick(unsigned int *max_cus)
{
	unsigned int idx[REG], n = 0, i, id = 0;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < REG; i++)
		if (reg[i].id)
			idx[n++] = i;
	if (n) {
		i = idx[rn(n)];
		id = reg[i].id;
		if (max_cus)
			*max_cus = reg[i].max_cus;
	}
	pthread_mutex_unlock(&reg_lock);
	return id;
}

static int spawn_child(int slot)
{
	char a_sock[16], a_shm[16], a_slot[16], a_seed[32];
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	snprintf(a_sock, sizeof(a_sock), "%d", sv[1]);
	snprintf(a_shm, sizeof(a_shm), "%d", shmfd);
	snprintf(a_slot, sizeof(a_slot), "%d", slot);
	snprintf(a_seed, sizeof(a_seed), "%llu", (unsigned long long)rnd());
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (!pid) {
		/* Only these two survive the exec. */
		fcntl(sv[1], F_SETFD, 0);
		fcntl(shmfd, F_SETFD, 0);
		execl(self_exe, "test-stress", "--child", a_sock, a_shm, a_slot,
		      a_seed, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	atomic_store(&sh->armed[slot], 0);
	pthread_mutex_lock(&kids_lock);
	kids[slot].pid = pid;
	kids[slot].sock = sv[0];
	kids[slot].quiet = false;
	kids[slot].gone = false;
	pthread_mutex_unlock(&kids_lock);
	return 0;
}

/* Make tenant for child @slot and send it over; closes our copy. */
static void give_tenant(int slot)
{
	static const unsigned int mc[] = { 4, 8, 16, 32, 64 };
	unsigned int id, max_cus = mc[rn(ARRAY_SIZE(mc))];
	char name[32];
	int fd, sock;

	snprintf(name, sizeof(name), "st%d-%u", slot, (unsigned int)rn(100000));
	fd = gm_tenant_create(ctl, name, max_cus, pg * (64 + rn(192)), &id,
			      chance(50) ? GM_URING : GM_IOCTL);
	if (fd < 0) {
		if (fd != -EMFILE && fd != -ENOSPC && fd != -ENOMEM)
			viol(V_ERRNO, "TENANT_CREATE: %s", strerror(-fd));
		return;
	}
	stat_inc(S_TENANTS_MADE);
	reg_add(id, max_cus, slot);
	pthread_mutex_lock(&kids_lock);
	sock = kids[slot].gone ? -1 : kids[slot].sock;
	if (sock >= 0)
		send_msg(sock, M_TENANT, id, 0, fd, MSG_DONTWAIT);
	pthread_mutex_unlock(&kids_lock);
	close(fd);
}

static void *broker(void *unused)
{
	(void)unused;
	rng ^= 0x1234567;
	while (!atomic_load(&stop_broker)) {
		struct pollfd pf[MAXCHILD];
		int slot[MAXCHILD], n = 0, i, r;

		pthread_mutex_lock(&kids_lock);
		for (i = 0; i < nkids; i++) {
			if (kids[i].sock < 0 || kids[i].gone)
				continue;
			pf[n].fd = kids[i].sock;
			pf[n].events = POLLIN;
			slot[n++] = i;
		}
		pthread_mutex_unlock(&kids_lock);
		r = poll(pf, (nfds_t)n, 20);
		if (r <= 0)
			continue;
		for (i = 0; i < n; i++) {
			struct smsg m;
			int fd, k, got;

			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = recv_msg(pf[i].fd, &m, &fd, MSG_DONTWAIT);
			if (got == -EAGAIN)
				continue;
			if (got <= 0) {
				pthread_mutex_lock(&kids_lock);
				kids[slot[i]].gone = true;
				pthread_mutex_unlock(&kids_lock);
				continue;
			}
			switch (m.type) {
			case M_WANT:
				if (!atomic_load(&stop_run))
					give_tenant(slot[i]);
				else
					send_msg(pf[i].fd, M_TENANT, 0, 0, -1,
						 MSG_DONTWAIT);
				break;
			case M_GIVE:
				/* Forward to another child that lives. */
				pthread_mutex_lock(&kids_lock);
				for (k = 0; k < nkids; k++) {
					int o = (slot[i] + 1 + k) % nkids;

					if (o != slot[i] && kids[o].sock >= 0 &&
					    !kids[o].gone) {
						send_msg(kids[o].sock, M_TENANT,
							 m.id, 0, fd,
							 MSG_DONTWAIT);
						break;
					}
				}
				pthread_mutex_unlock(&kids_lock);
				break;
			case M_QUIET:
				pthread_mutex_lock(&kids_lock);
				kids[slot[i]].quiet = true;
				pthread_mutex_unlock(&kids_lock);
				break;
			}
			if (fd >= 0)
				close(fd);
		}
	}
	return NULL;
}

static void *events_thread(void *unused)
{
	struct gpumux_event ev[32];
	struct gpumux_event_fetch f;
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)&f,
				       .len = sizeof(f) };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int r, i;

	(void)unused;
	if (io_uring_queue_init(4, &ring, 0)) {
		viol(V_ERRNO, "io_uring_queue_init failed");
		return NULL;
	}
	while (!atomic_load(&stop_events)) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		memset(&f, 0, sizeof(f));
		f.addr = (uintptr_t)ev;
		f.capacity = ARRAY_SIZE(ev);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, ctl, NULL, 0, 0);
		sqe->cmd_op = GPUMUX_CMD_EVENT_FETCH;
		memcpy(sqe->cmd, &uc, sizeof(uc));
		io_uring_submit(&ring);
		r = io_uring_wait_cqe(&ring, &cqe);
		if (r) {
			viol(V_ERRNO, "control fetch: wait: %s", strerror(-r));
			break;
		}
		r = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (r < 0) {
			viol(V_ERRNO,
			     "armed EVENT_FETCH on the control file: %s",
			     strerror(-r));
			usleep(10000);
			continue;
		}
		check_events(ev, MIN(r, (int)ARRAY_SIZE(ev)), true, 0);
		for (i = 0; i < MIN(r, (int)ARRAY_SIZE(ev)); i++)
			if (ev[i].type == GPUMUX_EVENT_TENANT_GONE)
				reg_del(ev[i].tenant_id);
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

static void part_change(void)
{
	struct gpumux_part_set s = { 0 };
	unsigned int max_cus = 8, g, cus, n, a, i;
	int r;

	s.tenant_id = reg_pick(&max_cus);
	if (!s.tenant_id)
		return;
	pthread_mutex_lock(&gpu_lock);
	g = rn(3);
	s.gpu_id = gpu_ids[g];
	cus = gpu_cus[g];
	pthread_mutex_unlock(&gpu_lock);
	if (!s.gpu_id)
		return;
	/* Odd tenants shared, even exclusive; now and then the other. */
	s.flags = ((s.tenant_id & 1) ^ chance(4)) ? GPUMUX_PART_SHARED : 0;
	if (chance(15)) {
		n = 0; /* release */
	} else {
		n = 1 + rn(MIN(max_cus, 16U));
		a = rn(cus);
		for (i = a; i < a + n && i < cus; i++)
			gm_set_bit64(s.mask, i);
	}
	switch (rn(10)) {
	case 0:
		s.deadline_ms = 10000;
		break;
	case 1:
	case 2:
	case 3:
		s.deadline_ms = 1000 + rn(4000);
		break;
	default:
		s.deadline_ms = 20 + rn(280); /* short */
		break;
	}
	stat_inc(S_PART_SET);
	r = CMD(ctl, GPUMUX_CMD_PART_SET, &s);
	if (!r)
		stat_inc(S_PART_OK);
	else if (r == -ENOENT)
		reg_del(s.tenant_id);
}

static void grant_op(bool revoke)
{
	if (!revoke) {
		struct gpumux_buf_info bl[32];
		struct gpumux_list l = { .kind = GPUMUX_LIST_BUFFERS,
					 .entry_size = sizeof(bl[0]),
					 .addr = (uintptr_t)bl,
					 .capacity = 32,
					 .start_id = rn(4) ? 0 : rn(1000) };
		struct gpumux_grant g = { 0 };

		unsigned int k;

		if (CMD(ctl, GPUMUX_CMD_LIST, &l) || !l.count)
			return;
		k = rn(l.count);
		g.buf_id = bl[k].buf_id;
		g.tenant_id = reg_pick(NULL);
		g.access = rn(2);
		/* Granting to the owner is EINVAL: not what we test here. */
		if (!g.tenant_id || g.tenant_id == bl[k].owner_id)
			return;
		if (!CMD(ctl, GPUMUX_CMD_GRANT, &g))
			stat_inc(S_GRANT);
	} else {
		struct gpumux_grant_info gl[32];
		struct gpumux_list l = { .kind = GPUMUX_LIST_GRANTS,
					 .entry_size = sizeof(gl[0]),
					 .addr = (uintptr_t)gl,
					 .capacity = 32 };
		struct gpumux_grant_revoke rv;
		unsigned int k;

		if (CMD(ctl, GPUMUX_CMD_LIST, &l) || !l.count)
			return;
		k = rn(l.count);
		rv.buf_id = gl[k].buf_id;
		rv.tenant_id = gl[k].tenant_id;
		if (!CMD(ctl, GPUMUX_CMD_GRANT_REVOKE, &rv))
			stat_inc(S_REVOKE);
	}
}

static void gpu_churn(void)
{
	int r;

	pthread_mutex_lock(&gpu_lock);
	if (!gpu_ids[2]) {
		r = gm_gpu_add(ctl, gpu_cus[2], "stress:churn",
			       chance(50) ? GM_URING : GM_IOCTL);
		if (r > 0)
			gpu_ids[2] = (unsigned int)r;
		else if (r != -EEXIST)
			viol(V_ERRNO, "GPU_ADD: %s", strerror(-r));
	} else {
		r = gm_gpu_remove(ctl, gpu_ids[2],
				  chance(50) ? GM_URING : GM_IOCTL);
		if (!r)
			gpu_ids[2] = 0;
		else if (r != -EBUSY)
			viol(V_ERRNO, "GPU_REMOVE: %s", strerror(-r));
	}
	stat_inc(S_GPU_CHURN);
	pthread_mutex_unlock(&gpu_lock);
}

static void *controller(void *arg)
{
	rng ^= (uint64_t)(uintptr_t)arg * 0x51ed27;
	while (!atomic_load(&stop_run)) {
		unsigned int r = rn(100);

		if (r < 55) {
			part_change();
		} else if (r < 68) {
			grant_op(false);
		} else if (r < 76) {
			grant_op(true);
		} else if (r < 80) {
			struct gpumux_tenant_fence f = { .tenant_id = reg_pick(
								 NULL) };

			if (f.tenant_id &&
			    !CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &f))
				stat_inc(S_FENCE);
		} else if (r < 90) {
			struct gpumux_tenant_fence f = {
				.tenant_id = reg_pick(NULL),
				.flags = GPUMUX_FENCE_CLEAR
			};

			if (f.tenant_id)
				CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &f);
		} else if (r < 93) {
			gpu_churn();
		} else {
			struct gpumux_info in = { 0 };

			CMD(ctl, GPUMUX_CMD_GET_INFO, &in);
		}
		usleep(200 + rn(1500));
	}
	return NULL;
}

static struct snap *snap_run;

static void *checker(void *unused)
{
	(void)unused;
	while (!atomic_load(&stop_run)) {
		if (read_state(snap_run) == 0) {
			check_snapshot(snap_run, V_INVAR, false, true);
			stat_inc(S_CHECKS);
		} else {
			viol(V_INVAR, "cannot read " DEBUGFS "/state");
		}
		usleep(50000);
	}
	return NULL;
}

/* Wait up to @secs for child @slot to be reaped; false if it is not. */
static bool reap(int slot, double secs)
{
	double end = gm_now_s() + secs;
	int st;

	while (gm_now_s() < end) {
		pid_t r = waitpid(kids[slot].pid, &st, WNOHANG);

		if (r == kids[slot].pid || (r < 0 && errno == ECHILD))
			return true;
		usleep(20000);
	}
	return false;
}

/* A child that will not go: queue events for its tenants (unsticks a fetch). */
static void unstick(int slot)
{
	int i;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < REG; i++) {
		struct gpumux_tenant_fence f = { .tenant_id = reg[i].id };

		if (!reg[i].id || reg[i].slot != slot)
			continue;
		gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f), GM_IOCTL);
		f.flags = GPUMUX_FENCE_CLEAR;
		gm_cmd(ctl, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f), GM_IOCTL);
	}
	pthread_mutex_unlock(&reg_lock);
}

/* End child @slot: SIGKILL or M_EXIT; it must be gone within 10 s. */
static void end_child(int slot, bool kill_it)
{
	bool armed = atomic_load(&sh->armed[slot]);
	int sock;

	pthread_mutex_lock(&kids_lock);
	sock = kids[slot].sock;
	if (kill_it)
		kill(kids[slot].pid, SIGKILL);
	else
		send_msg(sock, M_EXIT, 0, 0, -1, MSG_DONTWAIT);
	kids[slot].gone = true;
	pthread_mutex_unlock(&kids_lock);
	stat_inc(kill_it ? S_KILLS : S_EXITS);
	if (!reap(slot, 10)) {
		viol(V_EXIT,
		     "child %d (pid %d, %s, uring fetch %s) not gone 10 s after %s",
		     slot, kids[slot].pid, kill_it ? "killed" : "told to exit",
		     armed ? "armed" : "not armed",
		     kill_it ? "SIGKILL" : "M_EXIT");
		unstick(slot);
		kill(kids[slot].pid, SIGKILL);
		if (!reap(slot, 20))
			viol(V_EXIT,
			     "child %d still there after its tenants got events",
			     slot);
	}
	atomic_store(&sh->armed[slot], 0);
	pthread_mutex_lock(&kids_lock);
	if (ngrave < (int)ARRAY_SIZE(graveyard))
		graveyard[ngrave++] = sock;
	else
		close(sock);
	kids[slot].sock = -1;
	pthread_mutex_unlock(&kids_lock);
}

static bool leak_at_baseline(char *why, size_t n, double secs)
{
	static const int leak[] = { C_TENANTS, C_BUFFERS, C_PAGES, C_PINNED,
				    C_GRANTS,  C_PENDING, C_GPUS };
	struct snap *S = snap_run;
	double end = gm_now_s() + secs;
	unsigned int i;

	for (;;) {
		bool ok = true;

		read_counters(S);
		why[0] = 0;
		for (i = 0; i < ARRAY_SIZE(leak); i++)
			if (S->ctr[leak[i]] != base_ctr[leak[i]]) {
				snprintf(why, n, "%s %lld, baseline %lld",
					 ctr_names[leak[i]], S->ctr[leak[i]],
					 base_ctr[leak[i]]);
				ok = false;
				break;
			}
		if (ok)
			return true;
		if (gm_now_s() > end)
			return false;
		usleep(100000);
	}
}

/* The quiescent checks of snapshot @S; @armed: fetches held now. */
static int quiet_check(const struct snap *S, long long armed, bool report)
{
	long long sum = 0;
	int i, bad = 0;

#define Q(cond, ...)                                        \
	do {                                                \
		if (!(cond)) {                              \
			bad++;                              \
			if (report)                         \
				viol(V_QUIET, __VA_ARGS__); \
		}                                           \
	} while (0)

	for (i = 0; i < S->nten; i++)
		sum += (long long)S->ten[i].used;
	Q(S->ctr[C_TENANTS] - base_ctr[C_TENANTS] == S->nten,
	  "counter tenants %lld (baseline %lld), %d tenant lines",
	  S->ctr[C_TENANTS], base_ctr[C_TENANTS], S->nten);
	Q(S->ctr[C_BUFFERS] - base_ctr[C_BUFFERS] == S->nbuf,
	  "counter buffers %lld (baseline %lld), %d buf lines",
	  S->ctr[C_BUFFERS], base_ctr[C_BUFFERS], S->nbuf);
	Q(S->ctr[C_GRANTS] - base_ctr[C_GRANTS] == S->ngrant,
	  "counter grants %lld (baseline %lld), %d grant lines",
	  S->ctr[C_GRANTS], base_ctr[C_GRANTS], S->ngrant);
	Q(S->ctr[C_PINNED] - base_ctr[C_PINNED] == sum,
	  "counter pinned_bytes %lld (baseline %lld), tenants' used= add up to %lld",
	  S->ctr[C_PINNED], base_ctr[C_PINNED], sum);
	Q((S->ctr[C_PAGES] - base_ctr[C_PAGES]) * (long long)pg ==
		  S->ctr[C_PINNED] - base_ctr[C_PINNED],
	  "counter pages %lld x %llu != pinned_bytes %lld", S->ctr[C_PAGES],
	  (unsigned long long)pg, S->ctr[C_PINNED]);
	Q(S->ctr[C_PENDING] - base_ctr[C_PENDING] == armed,
	  "counter pending_cmds %lld (baseline %lld), %lld fetches armed",
	  S->ctr[C_PENDING], base_ctr[C_PENDING], armed);
#undef Q
	return bad + check_snapshot(S, V_QUIET, true, report);
}

/*
 * Quiescent: nothing maps anything, no allocation is under way, no shrink
 * waits.  Counters are read before and after the state; only a snapshot
 * with the same counters on both sides counts.  Retried for 5 s (an armed
 * fetch re-arms, deferred releases finish), then reported.
 */
static void check_quiescent(int base_armed)
{
	struct snap *S = snap_run;
	long long before[C_NR], armed;
	double end = gm_now_s() + 5;
	int i;

	for (;;) {
		bool last = gm_now_s() > end;

		read_counters(S);
		memcpy(before, S->ctr, sizeof(before));
		if (read_state(S)) {
			viol(V_QUIET, "cannot read state");
			return;
		}
		read_counters(S);
		if (memcmp(before, S->ctr, sizeof(before)) && !last) {
			usleep(50000);
			continue;
		}
		armed = base_armed;
		for (i = 0; i < MAXCHILD; i++)
			armed += atomic_load(&sh->armed[i]);
		if (!quiet_check(S, armed, false))
			return;
		if (last) {
			quiet_check(S, armed, true);
			return;
		}
		usleep(100000);
	}
}

int main(int argc, char **argv)
{
	unsigned long secs = gm_env_ul("GM_STRESS_SECS", 20);
	unsigned long procs = gm_env_ul("GM_STRESS_PROCS", 4);
	uint64_t seed = gm_env_ul("GM_STRESS_SEED", 0);
	pthread_t th_broker, th_events, th_ctl[2], th_check;
	double t0, next_kill;
	char why[200];
	int i, opt, tfd;
	unsigned int id;

	pg = (uint64_t)sysconf(_SC_PAGESIZE);
	if (argc == 6 && !strcmp(argv[1], "--child"))
		return child_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
				  strtoull(argv[5], NULL, 0));
	while ((opt = getopt(argc, argv, "t:p:s:")) != -1) {
		switch (opt) {
		case 't':
			secs = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			procs = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-t SECONDS] [-p CHILDREN] [-s SEED]\n",
				argv[0]);
			return 2;
		}
	}
	if (!procs || procs > MAXCHILD)
		procs = 4;
	if (!seed)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	rng = seed;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("stress: seed=%llu, %lu s, %lu children of %d threads, parent 5 threads\n",
	       (unsigned long long)seed, secs, procs, NWORKERS + 2);

	t_begin("stress: setup");
	if (access(DEBUGFS "/counters", R_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1) <= 0)
		snprintf(self_exe, sizeof(self_exe), "%s", argv[0]);
	shmfd = memfd_create("stress-shared", MFD_CLOEXEC);
	if (shmfd < 0 || ftruncate(shmfd, sizeof(struct shared))) {
		t_fail(__FILE__, __LINE__, "memfd: %s", strerror(errno));
		t_end();
		return t_status();
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, shmfd,
		  0);
	snap_run = calloc(1, sizeof(*snap_run));
	ctl = gm_open_control(0);
	if (sh == MAP_FAILED || !snap_run || ctl < 0) {
		t_fail(__FILE__, __LINE__, "setup: control %d", ctl);
		t_end();
		return t_status();
	}
	read_counters(snap_run);
	memcpy(base_ctr, snap_run->ctr, sizeof(base_ctr));
	for (i = 0; i < C_NR; i++)
		if (base_ctr[i] < 0)
			t_fail(__FILE__, __LINE__, "no counter %s",
			       ctr_names[i]);
	for (i = 0; i < 2; i++) {
		char ident[32];
		int r;

		snprintf(ident, sizeof(ident), "stress:%d:%d", getpid(), i);
		r = gm_gpu_add(ctl, gpu_cus[i], ident, GM_IOCTL);
		if (r <= 0)
			t_fail(__FILE__, __LINE__, "GPU_ADD: %s", strerror(-r));
		else
			gpu_ids[i] = (unsigned int)r;
	}
	for (i = 0; i < MAXCHILD; i++)
		kids[i].sock = -1;
	nkids = (int)procs;
	for (i = 0; i < nkids; i++)
		if (spawn_child(i))
			t_fail(__FILE__, __LINE__, "spawn: %s",
			       strerror(errno));
	t_end();

	pthread_create(&th_events, NULL, events_thread, NULL);
	pthread_create(&th_broker, NULL, broker, NULL);
	pthread_create(&th_ctl[0], NULL, controller, (void *)1);
	pthread_create(&th_ctl[1], NULL, controller, (void *)2);
	pthread_create(&th_check, NULL, checker, NULL);

	t0 = gm_now_s();
	next_kill = t0 + 1 + rn(1000) / 1000.0;
	while (gm_now_s() - t0 < (double)secs) {
		usleep(50000);
		if (gm_now_s() < next_kill)
			continue;
		next_kill = gm_now_s() + 0.8 + rn(1500) / 1000.0;
		i = (int)rn((uint32_t)nkids);
		end_child(i, chance(75));
		if (spawn_child(i))
			viol(V_EXIT, "respawn: %s", strerror(errno));
	}

	/* Quiesce. */
	atomic_store(&stop_run, 1);
	pthread_join(th_ctl[0], NULL);
	pthread_join(th_ctl[1], NULL);
	pthread_join(th_check, NULL);
	pthread_mutex_lock(&kids_lock);
	for (i = 0; i < nkids; i++)
		if (kids[i].sock >= 0 && !kids[i].gone)
			send_msg(kids[i].sock, M_QUIESCE, 0, 0, -1,
				 MSG_DONTWAIT);
	pthread_mutex_unlock(&kids_lock);
	{
		double end = gm_now_s() + 15;
		bool all;

		do {
			usleep(20000);
			all = true;
			pthread_mutex_lock(&kids_lock);
			for (i = 0; i < nkids; i++)
				if (kids[i].sock >= 0 && !kids[i].gone &&
				    !kids[i].quiet)
					all = false;
			pthread_mutex_unlock(&kids_lock);
		} while (!all && gm_now_s() < end);
		if (!all)
			viol(V_QUIET, "children did not quiesce within 15 s");
	}
	/* Let revocations acknowledged just now settle. */
	usleep(200000);
	check_quiescent(1);

	/* The children go, fetches armed and all; they must not hang. */
	atomic_store(&stop_broker, 1);
	pthread_join(th_broker, NULL);
	for (i = 0; i < nkids; i++)
		if (kids[i].sock >= 0)
			end_child(i, i % 2);
	/* Tenant fds still in flight in them go with them. */
	for (i = 0; i < ngrave; i++)
		close(graveyard[i]);

	/* Our own armed fetch: complete it with an event, then go. */
	atomic_store(&stop_events, 1);
	tfd = gm_tenant_create(ctl, "stress-bye", 0, 0, &id, GM_IOCTL);
	if (tfd >= 0)
		close(tfd);
	pthread_join(th_events, NULL);
	/*
	 * A ring is torn down in a workqueue after its task exits, so the last
	 * reference to a tenant file can go a moment after the child: wait for
	 * the tenants to go, then the GPUs must be free.
	 */
	{
		double end = gm_now_s() + 10;

		do
			read_counters(snap_run);
		while (snap_run->ctr[C_TENANTS] != base_ctr[C_TENANTS] &&
		       gm_now_s() < end && !usleep(50000));
	}
	for (i = 0; i < 3; i++) {
		int r = gpu_ids[i] ? gm_gpu_remove(ctl, gpu_ids[i], GM_IOCTL) :
				     0;

		if (r) {
			viol(V_QUIET,
			     "GPU_REMOVE of gpu %u after every child went: %s (tenants %lld, baseline %lld)",
			     gpu_ids[i], strerror(-r), snap_run->ctr[C_TENANTS],
			     base_ctr[C_TENANTS]);
			if (!read_state(snap_run))
				for (int k = 0; k < snap_run->npart && k < 10;
				     k++)
					printf("  stress: left: part %u %u state %s\n",
					       snap_run->part[k].t,
					       snap_run->part[k].g,
					       snap_run->part[k].state);
		}
	}

	printf("stress: %.1f s;", gm_now_s() - t0);
	for (i = 0; i < S_NR; i++)
		printf(" %s=%lu", s_name[i], atomic_load(&sh->s[i]));
	printf("\n");
	for (i = 0; i < V_NR; i++) {
		unsigned long n = atomic_load(&sh->v[i]);

		t_begin("stress: %s", v_title[i]);
		if (n)
			t_fail(__FILE__, __LINE__, "%lu problem(s); first: %s",
			       n, sh->first[i]);
		t_end();
	}
	t_begin("stress: activity (partition changes, acks, allocs, maps, grants, kills)");
	if (!atomic_load(&sh->s[S_PART_OK]) || !atomic_load(&sh->s[S_ACK]) ||
	    !atomic_load(&sh->s[S_ALLOC]) || !atomic_load(&sh->s[S_MAP]) ||
	    !atomic_load(&sh->s[S_GRANT]) ||
	    (secs >= 5 && !atomic_load(&sh->s[S_KILLS])))
		t_fail(__FILE__, __LINE__,
		       "too little happened to mean anything");
	t_end();
	t_begin("stress: leak counters back to the baseline after every child exits");
	close(ctl);
	if (!leak_at_baseline(why, sizeof(why), 10))
		t_fail(__FILE__, __LINE__, "%s", why);
	t_end();
	return t_status();
}
