// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: lifetimes.  The tenant file is the lease: the tenant is gone only
 * when its last fd and its last mapping are; an fd passed over a unix
 * socket keeps it alive.  A process killed while holding partitions,
 * buffers, mappings, grants and a pending uring_cmd EVENT_FETCH leaves
 * nothing behind; pending fetches never hang an exiting task, a closing
 * ring or a closing control file, and complete with ECANCELED when their
 * issuing task exits.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

#define PG 4096ULL
/* Longest a teardown may take before it counts as a hang. */
#define HANG_MS 10000

static int ctl; /* O_NONBLOCK */

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

/*
 * Wait up to @ms for every counter to be back to @base; on failure, fail
 * the sub-test naming the counters that are not.
 */
static void expect_counters(const long long *base, int ms, const char *when)
{
	long long now[GM_NR_CNT];
	int64_t end = gm_now_ns() + ms * 1000000LL;
	size_t i;

	if (base[0] < 0)
		return;
	for (;;) {
		gm_counters_get(now);
		if (!memcmp(now, base, sizeof(now)) || gm_now_ns() > end)
			break;
		usleep(20000);
	}
	for (i = 0; i < GM_NR_CNT; i++)
		if (now[i] != base[i])
			t_fail(__FILE__, __LINE__,
			       "%s: counter %s = %lld, was %lld", when,
			       gm_counter_names[i], now[i], base[i]);
}

static void t_leaks(const long long *base)
{
	t_begin("leaks");
	if (base[0] < 0)
		t_skip("no /sys/kernel/debug/gpumux/counters");
	else
		expect_counters(base, 5000, "at exit");
	t_end();
}

/*
 * Wait up to @ms for child @pid.  Returns its wait status, or -ETIMEDOUT
 * (after which it is SIGKILLed and reaped if it can be).
 */
static int wait_child(pid_t pid, int ms)
{
	int64_t end = gm_now_ns() + ms * 1000000LL;
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0)
			return -errno;
		if (gm_now_ns() > end)
			break;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	for (end = gm_now_ns() + 2000000000LL; gm_now_ns() < end; usleep(10000))
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
	return -ETIMEDOUT;
}

/* One byte over a pipe, with a timeout: 0, -ETIMEDOUT or -EPIPE. */
static int pipe_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) <= 0)
		return -ETIMEDOUT;
	return read(fd, &c, 1) == 1 ? 0 : -EPIPE;
}

/* Child-side command: ioctl only (the parent's ring is not ours). */
static int cioctl(int fd, unsigned long op, void *arg)
{
	return ioctl(fd, op, arg) < 0 ? -errno : 0;
}

/* ---- a child killed with everything held --------------------------------- */

struct held {
	int tfd;
	unsigned int granted_buf;
	uint64_t granted_off;
	int ready_w;
};

static struct gpumux_event child_ev[4];
static struct gpumux_event_fetch child_f;

/* The child: buffers, mappings, a granted mapping, a pending fetch. */
static int child_hold(struct held *h)
{
	struct gpumux_buf_alloc a = { .size = 8 * PG };
	struct io_uring ring;
	unsigned char *m1, *m2, *g;

	if (cioctl(h->tfd, GPUMUX_CMD_BUF_ALLOC, &a))
		return 10;
	m1 = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, h->tfd,
		  (off_t)a.mmap_offset);
	if (m1 == MAP_FAILED)
		return 11;
	memset(m1, 0x31, 8 * PG);
	memset(&a, 0, sizeof(a));
	a.size = 2 * PG;
	if (cioctl(h->tfd, GPUMUX_CMD_BUF_ALLOC, &a))
		return 12;
	m2 = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, h->tfd,
		  (off_t)a.mmap_offset);
	if (m2 == MAP_FAILED)
		return 13;
	m2[0] = 1;
	g = mmap(NULL, PG, PROT_READ, MAP_SHARED, h->tfd,
		 (off_t)h->granted_off);
	if (g == MAP_FAILED || g[0] != 0x44)
		return 14;
	if (io_uring_queue_init(8, &ring, 0))
		return 15;
	/* Take what is queued (GRANT_ADDED, PART_CHANGED): the fetch waits. */
	fcntl(h->tfd, F_SETFL, O_NONBLOCK);
	while (read(h->tfd, child_ev, sizeof(child_ev)) > 0)
		;
	child_f.addr = (uintptr_t)child_ev;
	child_f.capacity = 4;
	if (gm_uring_submit_fetch(&ring, h->tfd, &child_f, 1))
		return 16;
	if (write(h->ready_w, "r", 1) != 1)
		return 17;
	for (;;)
		pause();
	return 0;
}

static void t_sigkill(enum gm_path p)
{
	long long base[GM_NR_CNT], now[GM_NR_CNT];
	struct gpumux_tenant_info ti;
	struct gpumux_part_info pi;
	struct gpumux_grant gr = { 0 };
	struct gpumux_event ev;
	struct held h = { 0 };
	unsigned int tid = 0, oid = 0, nid = 0, obuf = 0;
	uint64_t ooff = 0, gen = 0;
	unsigned char *om;
	char ident[64];
	int gpu, ofd, nfd, pfd[2], st;
	pid_t pid;

	t_begin("lifetime/sigkill_with_everything/%s", PN(p));
	gm_drain(ctl);
	gm_counters_get(base);
	snprintf(ident, sizeof(ident), "test:lifetime:%d:kill:%s", getpid(),
		 PN(p));
	gpu = T_OK(gm_gpu_add(ctl, 16, ident, p));
	/* An owner whose buffer is granted to the doomed tenant. */
	ofd = T_OK(gm_tenant_create(ctl, "life-owner", 0, 16 * PG, &oid, p));
	T_EQ(gm_buf_alloc(ofd, PG, &obuf, &ooff, p), 0);
	om = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ofd,
		  (off_t)ooff);
	T_ASSERT(om != MAP_FAILED);
	if (om != MAP_FAILED) {
		om[0] = 0x44;
		munmap(om, PG);
	}
	h.tfd = T_OK(
		gm_tenant_create(ctl, "life-doomed", 16, 64 * PG, &tid, p));
	gr.buf_id = obuf;
	gr.tenant_id = tid;
	gr.access = GPUMUX_ACCESS_RO;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GRANT, &gr, p), 0);
	/* An exclusive partition being revoked, and a shared one. */
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 8, 0, 0, NULL, p), 0);
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 4, 0, 60000, &gen, p), 0);
	if (gpu < 0 || h.tfd < 0 || pipe(pfd)) {
		t_end();
		return;
	}
	h.granted_buf = obuf;
	h.granted_off = ooff;
	h.ready_w = pfd[1];
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		close(ofd);
		_exit(child_hold(&h));
	}
	close(pfd[1]);
	close(h.tfd);
	T_ASSERT(pid > 0);
	if (pipe_wait(pfd[0], HANG_MS)) {
		t_fail(__FILE__, __LINE__, "child not ready (exit code %d)",
		       (st = wait_child(pid, 1000)) >= 0 && WIFEXITED(st) ?
			       WEXITSTATUS(st) :
			       -1);
		close(pfd[0]);
		close(ofd);
		gm_gpu_remove(ctl, gpu, p);
		t_end();
		return;
	}
	close(pfd[0]);
	/* Alive, holding it all. */
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.nr_buffers, 2);
	T_EQ(ti.pinned_used, 10 * PG);
	if (base[0] >= 0) {
		gm_counters_get(now);
		T_ASSERT(now[GM_C_PENDING] >= base[GM_C_PENDING] + 1);
	}
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 100, &ev),
	     -ETIMEDOUT);

	kill(pid, SIGKILL);
	st = wait_child(pid, HANG_MS);
	T_ASSERT(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	T_EQ(ev.tenant_id, tid);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), -ENOENT);
	T_EQ(gm_part_get(ctl, tid, gpu, &pi, p), -ENOENT);

	/* Its CUs are free: all 16 at once, no waiting. */
	nfd = T_OK(gm_tenant_create(ctl, "life-next", 16, 0, &nid, p));
	T_EQ(gm_part_set_range(ctl, nid, gpu, 0, 16, 0, 0, NULL, p), 0);
	T_EQ(gm_part_get(ctl, nid, gpu, &pi, p), 0);
	T_EQ(pi.state, GPUMUX_PART_STABLE);
	T_EQ(pi.active[0], 0xffff);
	if (nfd >= 0)
		close(nfd);
	/* The owner's buffer survives the grantee, grant gone. */
	if (ofd >= 0) {
		struct gpumux_buf_info bi[2];

		T_EQ(gm_list(ofd, GPUMUX_LIST_BUFFERS, bi, sizeof(bi[0]), 2, 0,
			     NULL, p),
		     1);
		T_EQ(bi[0].nr_grants, 0);
		close(ofd);
	}
	T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
	expect_counters(base, HANG_MS, "after the kill");
	gm_drain(ctl);
	t_end();
}

/* ---- pending fetches and exits ------------------------------------------- */

/* A child exits (normally) with fetches pending on a tenant and control. */
static void t_child_exit_pending(void)
{
	long long base[GM_NR_CNT];
	struct gpumux_event ev;
	unsigned int tid = 0;
	int tfd, st;
	pid_t pid;

	t_begin("lifetime/child_exit_with_pending_fetch");
	gm_drain(ctl);
	gm_counters_get(base);
	tfd = T_OK(gm_tenant_create(ctl, "life-exit", 0, 0, &tid, GM_IOCTL));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct io_uring ring;

		if (io_uring_queue_init(8, &ring, 0))
			_exit(10);
		child_f.addr = (uintptr_t)child_ev;
		child_f.capacity = 4;
		if (gm_uring_submit_fetch(&ring, tfd, &child_f, 1) ||
		    gm_uring_submit_fetch(&ring, ctl, &child_f, 2))
			_exit(11);
		usleep(100000);
		_exit(0);
	}
	close(tfd);
	st = wait_child(pid, HANG_MS);
	if (st == -ETIMEDOUT)
		t_fail(__FILE__, __LINE__,
		       "child with pending fetches did not exit in %d ms",
		       HANG_MS);
	else
		T_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	expect_counters(base, HANG_MS, "after the exit");
	t_end();
}

/* A ring closed with a fetch pending on a control file closed before it. */
static void t_control_close_pending(void)
{
	long long base[GM_NR_CNT];
	static struct gpumux_event ev[4];
	static struct gpumux_event_fetch f;
	struct io_uring ring;
	int c2, st;
	pid_t pid;

	t_begin("lifetime/control_closed_with_pending_fetch");
	gm_counters_get(base);
	c2 = T_OK(gm_open_control(O_NONBLOCK));
	T_EQ(io_uring_queue_init(8, &ring, 0), 0);
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	if (c2 >= 0) {
		T_EQ(gm_uring_submit_fetch(&ring, c2, &f, 1), 0);
		close(c2);
	}
	io_uring_queue_exit(&ring);
	expect_counters(base, HANG_MS, "after closing file and ring");
	t_end();

	t_begin("lifetime/control_closed_with_pending_fetch_child");
	gm_counters_get(base);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int c = open(GPUMUX_DEVICE_PATH, O_RDWR | O_CLOEXEC);

		if (c < 0 || io_uring_queue_init(8, &ring, 0))
			_exit(10);
		if (gm_uring_submit_fetch(&ring, c, &f, 1))
			_exit(11);
		close(c);
		io_uring_queue_exit(&ring);
		_exit(0);
	}
	st = wait_child(pid, HANG_MS);
	if (st == -ETIMEDOUT)
		t_fail(__FILE__, __LINE__, "child hung closing (%d ms)",
		       HANG_MS);
	else
		T_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	expect_counters(base, HANG_MS, "after the child");
	t_end();
}

/* The issuing thread exits: its pending fetch completes with ECANCELED. */
struct issuer {
	struct io_uring *ring;
	int fd;
	int ret;
};

static struct gpumux_event th_ev[4];
static struct gpumux_event_fetch th_f;

static void *issue_and_exit(void *arg)
{
	struct issuer *is = arg;

	th_f.addr = (uintptr_t)th_ev;
	th_f.capacity = 4;
	is->ret = gm_uring_submit_fetch(is->ring, is->fd, &th_f, 7);
	return NULL;
}

static void t_task_exit_cancels(void)
{
	long long base[GM_NR_CNT];
	struct gpumux_event ev;
	struct io_uring ring;
	struct issuer is;
	struct timespec ts;
	pthread_t th;
	int res = 0, id, tfd;
	unsigned int tid = 0;

	t_begin("lifetime/issuer_exit_ecanceled");
	gm_drain(ctl);
	gm_counters_get(base);
	T_EQ(io_uring_queue_init(8, &ring, 0), 0);
	is.ring = &ring;
	is.fd = ctl;
	is.ret = -1;
	pthread_create(&th, NULL, issue_and_exit, &is);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_MS / 1000;
	if (pthread_timedjoin_np(th, NULL, &ts)) {
		t_fail(__FILE__, __LINE__, "issuing thread did not exit");
		t_end();
		return;
	}
	T_EQ(is.ret, 0);
	T_EQ(gm_uring_wait(&ring, HANG_MS, &res, NULL), 0);
	T_EQ(res, -ECANCELED);
	if (base[0] >= 0)
		T_EQ(gm_counter("pending_cmds"), base[GM_C_PENDING]);
	t_end();

	t_begin("lifetime/cancel_loses_no_event");
	/* An event after the cancel lands in the queue, not in the void. */
	tfd = gm_tenant_create(ctl, "life-cancel", 0, 0, &tid, GM_IOCTL);
	T_OK(tfd);
	if (tfd >= 0)
		close(tfd);
	id = (int)tid;
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, id, 5000, &ev), 0);
	t_end();

	t_begin("lifetime/issuer_exit_tenant_file");
	tfd = T_OK(gm_tenant_create(ctl, "life-cancel2", 0, 0, &tid, GM_IOCTL));
	is.fd = tfd;
	is.ret = -1;
	pthread_create(&th, NULL, issue_and_exit, &is);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_MS / 1000;
	if (pthread_timedjoin_np(th, NULL, &ts)) {
		t_fail(__FILE__, __LINE__, "issuing thread did not exit");
		t_end();
		return;
	}
	T_EQ(is.ret, 0);
	T_EQ(gm_uring_wait(&ring, HANG_MS, &res, NULL), 0);
	T_EQ(res, -ECANCELED);
	/* The ring's request held the tenant file: now it can go. */
	if (tfd >= 0)
		close(tfd);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	io_uring_queue_exit(&ring);
	expect_counters(base, HANG_MS, "after the cancels");
	t_end();
}

/* A ring torn down with a fetch pending: ECANCELED inside, nothing leaks. */
static void t_ring_teardown(void)
{
	long long base[GM_NR_CNT];
	static struct gpumux_event ev[4];
	static struct gpumux_event_fetch f;
	struct gpumux_event e;
	struct io_uring ring;
	unsigned int tid = 0;
	int tfd;

	t_begin("lifetime/ring_exit_with_pending_tenant_fetch");
	gm_drain(ctl);
	gm_counters_get(base);
	tfd = T_OK(gm_tenant_create(ctl, "life-ring", 0, 0, &tid, GM_IOCTL));
	T_EQ(io_uring_queue_init(8, &ring, 0), 0);
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	if (tfd >= 0)
		T_EQ(gm_uring_submit_fetch(&ring, tfd, &f, 1), 0);
	close(tfd);
	/* The pending request holds the file: the tenant lives on. */
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &e),
	     -ETIMEDOUT);
	io_uring_queue_exit(&ring);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &e), 0);
	expect_counters(base, HANG_MS, "after the ring");
	t_end();
}

/* ---- fd passing ---------------------------------------------------------- */

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char b = 'f';
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char b;
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * The creator hands the tenant fd to another process and closes its own:
 * the lease lives on there, and ends when that process closes it.
 */
static void t_scm_rights(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_event ev;
	unsigned int tid = 0;
	int sv[2], tfd, st;
	char go = 'g', res = 0;
	pid_t pid;

	t_begin("lifetime/scm_rights_keeps_lease/%s", PN(p));
	gm_drain(ctl);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		t_fail(__FILE__, __LINE__, "socketpair: %s", strerror(errno));
		t_end();
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct gpumux_info info = { 0 };
		struct gpumux_buf_alloc a = { .size = PG };
		int fd;

		close(sv[0]);
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(10);
		/* Wait until the creator has closed its copy. */
		if (read(sv[1], &go, 1) != 1)
			_exit(11);
		res = 'y';
		if (cioctl(fd, GPUMUX_CMD_GET_INFO, &info) ||
		    info.file_kind != GPUMUX_FILE_TENANT)
			res = 'i';
		else if (cioctl(fd, GPUMUX_CMD_BUF_ALLOC, &a))
			res = 'a';
		if (write(sv[1], &res, 1) != 1)
			_exit(12);
		/* Hold it until told to let go. */
		if (read(sv[1], &go, 1) != 1)
			_exit(13);
		close(fd);
		_exit(0);
	}
	close(sv[1]);
	tfd = T_OK(gm_tenant_create(ctl, "life-scm", 0, 4 * PG, &tid, p));
	T_EQ(send_fd(sv[0], tfd), 0);
	close(tfd);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &ev),
	     -ETIMEDOUT);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(write(sv[0], &go, 1), 1);
	T_EQ(read(sv[0], &res, 1), 1);
	T_EQ(res, 'y');
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.nr_buffers, 1);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 100, &ev),
	     -ETIMEDOUT);
	T_EQ(write(sv[0], &go, 1), 1);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), -ENOENT);
	st = wait_child(pid, HANG_MS);
	T_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(sv[0]);
	t_end();
}

/* An fd in flight in a socket holds the lease; a dropped one ends it. */
static void t_in_flight(enum gm_path p)
{
	struct gpumux_tenant_info ti;
	struct gpumux_info info;
	struct gpumux_event ev;
	unsigned int tid = 0;
	int sv[2], tfd, fd;

	t_begin("lifetime/fd_in_flight/%s", PN(p));
	gm_drain(ctl);
	T_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	tfd = T_OK(gm_tenant_create(ctl, "life-flight", 0, 0, &tid, p));
	T_EQ(send_fd(sv[0], tfd), 0);
	close(tfd);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &ev),
	     -ETIMEDOUT);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	fd = recv_fd(sv[1]);
	T_ASSERT(fd >= 0);
	if (fd >= 0) {
		memset(&info, 0, sizeof(info));
		T_EQ(GM_CMD(fd, GPUMUX_CMD_GET_INFO, &info, p), 0);
		T_EQ(info.tenant_id, tid);
		close(fd);
	}
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	t_end();

	t_begin("lifetime/fd_in_flight_dropped/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "life-dropped", 0, 0, &tid, p));
	T_EQ(send_fd(sv[0], tfd), 0);
	close(tfd);
	close(sv[0]);
	close(sv[1]);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	t_end();
}

/* ---- mappings hold the lease --------------------------------------------- */

static void t_mmap_lease(enum gm_path p)
{
	long long base[GM_NR_CNT];
	struct gpumux_tenant_info ti;
	struct gpumux_event ev;
	unsigned int tid = 0, buf = 0;
	uint64_t off = 0;
	unsigned char *m1, *m2;
	char ident[64];
	int tfd, gpu;

	t_begin("lifetime/last_fd_and_last_mmap/%s", PN(p));
	gm_drain(ctl);
	gm_counters_get(base);
	snprintf(ident, sizeof(ident), "test:lifetime:%d:mmap:%s", getpid(),
		 PN(p));
	gpu = T_OK(gm_gpu_add(ctl, 8, ident, p));
	tfd = T_OK(gm_tenant_create(ctl, "life-mmap", 8, 16 * PG, &tid, p));
	if (tfd < 0 || gpu < 0) {
		t_end();
		return;
	}
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 8, 0, 0, NULL, p), 0);
	T_EQ(gm_buf_alloc(tfd, 4 * PG, &buf, &off, p), 0);
	m1 = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, tfd,
		  (off_t)off);
	m2 = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, tfd, (off_t)off);
	T_ASSERT(m1 != MAP_FAILED && m2 != MAP_FAILED);
	close(tfd);
	if (m1 == MAP_FAILED || m2 == MAP_FAILED) {
		gm_gpu_remove(ctl, gpu, p);
		t_end();
		return;
	}
	/* fd closed, two mappings: alive, data usable, CUs still held. */
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &ev),
	     -ETIMEDOUT);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), 0);
	T_EQ(ti.pinned_used, 4 * PG);
	m1[100] = 0x5c;
	T_EQ(m2[100], 0x5c);
	T_EQ(gm_gpu_remove(ctl, gpu, p), -EBUSY);
	munmap(m1, 4 * PG);
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200, &ev),
	     -ETIMEDOUT);
	T_EQ(m2[100], 0x5c);
	munmap(m2, 4 * PG);
	/* The last mapping went: the tenant with it. */
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	T_EQ(gm_tenant_info(ctl, tid, &ti, p), -ENOENT);
	T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
	expect_counters(base, HANG_MS, "after the last munmap");
	t_end();
}

/* A freed buffer's mapping alone still holds the lease. */
static void t_freed_mapping_lease(enum gm_path p)
{
	long long base[GM_NR_CNT];
	struct gpumux_event ev;
	unsigned int tid = 0, buf = 0;
	uint64_t off = 0;
	unsigned char *m;
	int tfd;

	t_begin("lifetime/freed_buffer_mapping_holds_lease/%s", PN(p));
	gm_drain(ctl);
	gm_counters_get(base);
	tfd = T_OK(gm_tenant_create(ctl, "life-freed", 0, 16 * PG, &tid, p));
	if (tfd < 0) {
		t_end();
		return;
	}
	T_EQ(gm_buf_alloc(tfd, 2 * PG, &buf, &off, p), 0);
	m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, tfd,
		 (off_t)off);
	T_ASSERT(m != MAP_FAILED);
	T_EQ(gm_buf_free(tfd, buf, p), 0);
	close(tfd);
	if (m != MAP_FAILED) {
		T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, 200,
				   &ev),
		     -ETIMEDOUT);
		m[0] = 1;
		T_EQ(m[0], 1);
		munmap(m, 2 * PG);
	}
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_TENANT_GONE, tid, HANG_MS, &ev),
	     0);
	expect_counters(base, HANG_MS, "after the munmap");
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
		t_mmap_lease(p);
		t_freed_mapping_lease(p);
		t_in_flight(p);
		t_scm_rights(p);
		t_sigkill(p);
	}
	t_child_exit_pending();
	t_control_close_pending();
	t_ring_teardown();
	t_task_exit_cancels();
	t_leaks(base);
	close(ctl);
	return t_status();
}
