// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: the event channel.  read() and poll() on control and tenant
 * files, O_NONBLOCK, blocking and EINTR; EVENT_FETCH through ioctl and
 * through uring_cmd (a pending fetch completes when an event arrives, from
 * this process or another, with the right contents); every invalid field
 * of EVENT_FETCH; overflow of a queue gives GPUMUX_EVENT_OVERFLOW with the
 * dropped count.
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

/* The queue length the brief gives; overflow tests go well past it. */
#define QUEUE_LEN 4096

static int ctl; /* O_NONBLOCK */

/* ---- helpers (the shared ones are in gmtest.c) --------------------------- */

static int readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0 && (pfd.revents & POLLIN);
}

/* Make one TENANT_GONE: create a tenant and close it.  Its id, or -errno. */
static int make_gone(int c, enum gm_path p)
{
	unsigned int id = 0;
	int fd = gm_tenant_create(c, "ev-gone", 0, 0, &id, p);

	if (fd < 0)
		return fd;
	close(fd);
	return (int)id;
}

static int readable(int fd, int ms);

/*
 * EVENT_FETCH through @p; the fd must be O_NONBLOCK for ioctl.  Through
 * uring an empty queue would leave gm_cmd() waiting for good: -EAGAIN.
 */
static int fetch(int fd, struct gpumux_event *ev, unsigned int cap,
		 enum gm_path p)
{
	struct gpumux_event_fetch f = {
		.addr = (uintptr_t)ev,
		.capacity = cap,
	};
	int ret;

	if (p == GM_URING && !readable(fd, 0))
		return -EAGAIN;
	ret = GM_CMD(fd, GPUMUX_CMD_EVENT_FETCH, &f, p);

	if (ret < 0)
		return ret;
	if (p == GM_URING && (unsigned int)ret != f.count)
		return -EPROTO; /* the CQE result and @count disagree */
	return (int)f.count;
}

/* ---- a ring of our own, for fetches that stay pending -------------------- */

static struct io_uring pr;
static int pr_ready;

static int pend_submit(int fd, struct gpumux_event_fetch *f, uint64_t tag)
{
	int ret;

	if (!pr_ready) {
		ret = io_uring_queue_init(16, &pr, 0);
		if (ret < 0)
			return ret;
		pr_ready = 1;
	}
	return gm_uring_submit_fetch(&pr, fd, f, tag);
}

/* ---- read() and poll() --------------------------------------------------- */

static void t_read_basic(void)
{
	struct gpumux_event ev[4];
	int64_t t0, t1;
	ssize_t n;
	int id;

	t_begin("read/control_event/contents");
	gm_drain(ctl);
	T_ASSERT(!readable(ctl, 0));
	t0 = gm_now_ns();
	id = T_OK(make_gone(ctl, GM_IOCTL));
	t1 = gm_now_ns();
	T_ASSERT(readable(ctl, 5000));
	n = read(ctl, ev, sizeof(ev));
	T_EQ(n, sizeof(ev[0]));
	if (n == sizeof(ev[0])) {
		T_EQ(ev[0].type, GPUMUX_EVENT_TENANT_GONE);
		T_EQ(ev[0].tenant_id, id);
		T_ASSERT(ev[0].timestamp_ns >= (uint64_t)t0);
		T_ASSERT(ev[0].timestamp_ns <= (uint64_t)t1);
	}
	T_ASSERT(!readable(ctl, 0));
	t_end();

	t_begin("read/nonblock_eagain");
	errno = 0;
	T_EQ(read(ctl, ev, sizeof(ev)), -1);
	T_EQ(errno, EAGAIN);
	t_end();

	t_begin("read/short_buffer_einval");
	T_OK(make_gone(ctl, GM_IOCTL));
	T_ASSERT(readable(ctl, 5000));
	errno = 0;
	T_EQ(read(ctl, ev, sizeof(ev[0]) - 1), -1);
	T_EQ(errno, EINVAL);
	/* The event is still there for a big enough read. */
	T_EQ(read(ctl, ev, sizeof(ev[0])), sizeof(ev[0]));
	t_end();

	t_begin("read/whole_events_fifo");
	{
		int ids[3], k;

		for (k = 0; k < 3; k++)
			ids[k] = make_gone(ctl, GM_IOCTL);
		/* Room for 2.5 events: 2 come, whole. */
		n = read(ctl, ev, sizeof(ev[0]) * 5 / 2);
		T_EQ(n, 2 * sizeof(ev[0]));
		if (n == 2 * sizeof(ev[0])) {
			T_EQ(ev[0].tenant_id, ids[0]);
			T_EQ(ev[1].tenant_id, ids[1]);
			T_ASSERT(ev[0].timestamp_ns <= ev[1].timestamp_ns);
		}
		n = read(ctl, ev, sizeof(ev));
		T_EQ(n, sizeof(ev[0]));
		if (n == sizeof(ev[0]))
			T_EQ(ev[0].tenant_id, ids[2]);
	}
	t_end();
}

static void t_read_tenant(enum gm_path p)
{
	struct gpumux_event ev;
	unsigned int tid = 0;
	int tfd;

	t_begin("read/tenant_event/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "ev-tenant", 0, 0, &tid, p));
	if (tfd < 0) {
		t_end();
		return;
	}
	fcntl(tfd, F_SETFL, O_NONBLOCK);
	T_ASSERT(!readable(tfd, 0));
	errno = 0;
	T_EQ(read(tfd, &ev, sizeof(ev)), -1);
	T_EQ(errno, EAGAIN);
	T_EQ(gm_fence(ctl, tid, 0, p), 0);
	T_ASSERT(readable(tfd, 5000));
	T_EQ(read(tfd, &ev, sizeof(ev)), sizeof(ev));
	T_EQ(ev.type, GPUMUX_EVENT_FENCED);
	T_EQ(ev.tenant_id, tid);
	T_EQ(ev.arg, 1);
	T_EQ(gm_fence(ctl, tid, GPUMUX_FENCE_CLEAR, p), 0);
	T_EQ(gm_wait_event(tfd, GPUMUX_EVENT_FENCED, 0, 5000, &ev), 0);
	T_EQ(ev.arg, 0);
	/* Tenant events do not go to the control file. */
	T_EQ(gm_wait_event(ctl, GPUMUX_EVENT_FENCED, tid, 100, &ev),
	     -ETIMEDOUT);
	close(tfd);
	gm_drain(ctl);
	t_end();
}

/* ---- blocking and EINTR -------------------------------------------------- */

struct later {
	int ctl;
	int delay_ms;
	int id;
};

static void *make_gone_later(void *arg)
{
	struct later *l = arg;

	usleep(l->delay_ms * 1000);
	l->id = make_gone(l->ctl, GM_IOCTL);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Arm a one-shot SIGALRM in @ms, with a handler that does not restart. */
static void alarm_ms(int ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = {
		.it_value = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 },
	};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void t_blocking(void)
{
	struct gpumux_event_fetch f = { 0 };
	struct gpumux_event ev[2];
	struct later l;
	pthread_t th;
	int cb, ret;
	int64_t t0;
	ssize_t n;

	cb = gm_open_control(0);
	t_begin("read/blocks_until_event");
	T_OK(cb);
	if (cb < 0) {
		t_end();
		return;
	}
	l.ctl = ctl;
	l.delay_ms = 200;
	l.id = 0;
	t0 = gm_now_ns();
	pthread_create(&th, NULL, make_gone_later, &l);
	n = read(cb, ev, sizeof(ev));
	pthread_join(th, NULL);
	T_EQ(n, sizeof(ev[0]));
	T_ASSERT(gm_now_ns() - t0 >= 150 * 1000000LL);
	T_EQ(ev[0].type, GPUMUX_EVENT_TENANT_GONE);
	T_EQ(ev[0].tenant_id, l.id);
	t_end();

	t_begin("fetch/ioctl_blocks_until_event");
	l.id = 0;
	t0 = gm_now_ns();
	pthread_create(&th, NULL, make_gone_later, &l);
	f.addr = (uintptr_t)ev;
	f.capacity = 2;
	ret = GM_CMD(cb, GPUMUX_CMD_EVENT_FETCH, &f, GM_IOCTL);
	pthread_join(th, NULL);
	/* The count is in @count; a return of 0 or the count will do. */
	T_ASSERT(ret == 0 || ret == 1);
	T_EQ(f.count, 1);
	T_ASSERT(gm_now_ns() - t0 >= 150 * 1000000LL);
	T_EQ(ev[0].type, GPUMUX_EVENT_TENANT_GONE);
	T_EQ(ev[0].tenant_id, l.id);
	t_end();

	t_begin("read/eintr");
	gm_drain(cb);
	alarm_ms(200);
	errno = 0;
	n = read(cb, ev, sizeof(ev));
	T_EQ(n, -1);
	T_EQ(errno, EINTR);
	t_end();

	t_begin("fetch/ioctl_eintr");
	alarm_ms(200);
	f.count = 0;
	T_EQ(GM_CMD(cb, GPUMUX_CMD_EVENT_FETCH, &f, GM_IOCTL), -EINTR);
	t_end();

	t_begin("poll/wakes_on_event");
	{
		struct pollfd pfd = { .fd = cb, .events = POLLIN };

		l.id = 0;
		pthread_create(&th, NULL, make_gone_later, &l);
		ret = poll(&pfd, 1, 5000);
		pthread_join(th, NULL);
		T_EQ(ret, 1);
		T_ASSERT(pfd.revents & POLLIN);
		gm_drain(cb);
	}
	t_end();
	close(cb);
	gm_drain(ctl);
}

/* ---- EVENT_FETCH --------------------------------------------------------- */

static void t_fetch(enum gm_path p)
{
	struct gpumux_event_fetch f;
	struct gpumux_event ev[8];
	int ids[3], k, n;
	unsigned int i;

	t_begin("fetch/contents/%s", PN(p));
	gm_drain(ctl);
	for (k = 0; k < 3; k++)
		ids[k] = T_OK(make_gone(ctl, p));
	n = fetch(ctl, ev, 8, p);
	T_EQ(n, 3);
	for (k = 0; k < n && k < 3; k++) {
		T_EQ(ev[k].type, GPUMUX_EVENT_TENANT_GONE);
		T_EQ(ev[k].tenant_id, ids[k]);
		T_EQ(ev[k].gpu_id, 0);
		T_EQ(ev[k].buf_id, 0);
	}
	t_end();

	t_begin("fetch/capacity_limits/%s", PN(p));
	for (k = 0; k < 3; k++)
		ids[k] = make_gone(ctl, p);
	memset(ev, 0x5a, sizeof(ev));
	n = fetch(ctl, ev, 2, p);
	T_EQ(n, 2);
	T_EQ(ev[0].tenant_id, ids[0]);
	T_EQ(ev[1].tenant_id, ids[1]);
	/* Nothing written past the capacity. */
	T_EQ(ev[2].type, 0x5a5a5a5a);
	n = fetch(ctl, ev, 8, p);
	T_EQ(n, 1);
	T_EQ(ev[0].tenant_id, ids[2]);
	t_end();

	if (p == GM_IOCTL) {
		t_begin("fetch/ioctl_nonblock_eagain");
		T_EQ(fetch(ctl, ev, 8, p), -EAGAIN);
		t_end();
	}

	t_begin("fetch/capacity_zero/%s", PN(p));
	memset(&f, 0, sizeof(f));
	f.addr = (uintptr_t)ev;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_EVENT_FETCH, &f, p), -EINVAL);
	t_end();

	for (i = 0; i < 2; i++) {
		t_begin("fetch/reserved%u/%s", i, PN(p));
		memset(&f, 0, sizeof(f));
		f.addr = (uintptr_t)ev;
		f.capacity = 8;
		f.reserved[i] = 1;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_EVENT_FETCH, &f, p), -EINVAL);
		f.reserved[i] = 1ULL << 63;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_EVENT_FETCH, &f, p), -EINVAL);
		t_end();
	}

	t_begin("fetch/efault_addr/%s", PN(p));
	make_gone(ctl, p);
	T_ASSERT(readable(ctl, 5000));
	memset(&f, 0, sizeof(f));
	f.addr = 8;
	f.capacity = 8;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_EVENT_FETCH, &f, p), -EFAULT);
	gm_drain(ctl);
	t_end();

	t_begin("fetch/tenant_file/%s", PN(p));
	{
		unsigned int tid = 0;
		int tfd =
			T_OK(gm_tenant_create(ctl, "ev-fetch", 0, 0, &tid, p));

		if (tfd >= 0) {
			fcntl(tfd, F_SETFL, O_NONBLOCK);
			if (p == GM_IOCTL)
				T_EQ(fetch(tfd, ev, 8, p), -EAGAIN);
			T_EQ(gm_fence(ctl, tid, 0, p), 0);
			T_EQ(gm_fence(ctl, tid, GPUMUX_FENCE_CLEAR, p), 0);
			T_ASSERT(readable(tfd, 5000));
			n = fetch(tfd, ev, 8, p);
			T_EQ(n, 2);
			T_EQ(ev[0].type, GPUMUX_EVENT_FENCED);
			T_EQ(ev[0].arg, 1);
			T_EQ(ev[1].type, GPUMUX_EVENT_FENCED);
			T_EQ(ev[1].arg, 0);
			memset(&f, 0, sizeof(f));
			f.addr = (uintptr_t)ev;
			T_EQ(GM_CMD(tfd, GPUMUX_CMD_EVENT_FETCH, &f, p),
			     -EINVAL);
			close(tfd);
		}
	}
	gm_drain(ctl);
	t_end();
}

/* ---- pending uring_cmd fetches ------------------------------------------- */

static void t_pending(void)
{
	/* Static: a fetch left pending by a failure writes here later. */
	static struct gpumux_event ev[4], ev2[4];
	static struct gpumux_event_fetch f, f2;
	long long pend0 = gm_counter("pending_cmds");
	uint64_t tag = 0;
	int res = 0, id, id2;

	t_begin("fetch/uring_pending_completes");
	gm_drain(ctl);
	memset(&f, 0, sizeof(f));
	memset(ev, 0, sizeof(ev));
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	T_EQ(pend_submit(ctl, &f, 1), 0);
	T_EQ(gm_uring_wait(&pr, 300, &res, &tag), -ETIME);
	if (pend0 >= 0)
		T_EQ(gm_counter("pending_cmds"), pend0 + 1);
	id = make_gone(ctl, GM_IOCTL);
	T_EQ(gm_uring_wait(&pr, 5000, &res, &tag), 0);
	T_EQ(tag, 1);
	T_EQ(res, 1);
	T_EQ(f.count, 1);
	T_EQ(ev[0].type, GPUMUX_EVENT_TENANT_GONE);
	T_EQ(ev[0].tenant_id, id);
	T_ASSERT(ev[0].timestamp_ns > 0);
	/* The event went to the fetch, not also to the queue. */
	T_ASSERT(!readable(ctl, 0));
	if (pend0 >= 0)
		T_EQ(gm_counter("pending_cmds"), pend0);
	t_end();

	t_begin("fetch/uring_immediate_when_queued");
	id = make_gone(ctl, GM_IOCTL);
	id2 = make_gone(ctl, GM_IOCTL);
	memset(&f, 0, sizeof(f));
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	T_EQ(pend_submit(ctl, &f, 2), 0);
	T_EQ(gm_uring_wait(&pr, 2000, &res, &tag), 0);
	T_EQ(tag, 2);
	T_EQ(res, 2);
	T_EQ(ev[0].tenant_id, id);
	T_EQ(ev[1].tenant_id, id2);
	t_end();

	t_begin("fetch/uring_two_pending");
	memset(&f, 0, sizeof(f));
	memset(&f2, 0, sizeof(f2));
	memset(ev, 0, sizeof(ev));
	memset(ev2, 0, sizeof(ev2));
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	f2.addr = (uintptr_t)ev2;
	f2.capacity = 4;
	T_EQ(pend_submit(ctl, &f, 3), 0);
	T_EQ(pend_submit(ctl, &f2, 4), 0);
	T_EQ(gm_uring_wait(&pr, 200, &res, &tag), -ETIME);
	id = make_gone(ctl, GM_IOCTL);
	T_EQ(gm_uring_wait(&pr, 5000, &res, &tag), 0);
	T_EQ(res, 1);
	T_ASSERT(tag == 3 || tag == 4);
	/* One event, one completion: the other still waits. */
	T_EQ(gm_uring_wait(&pr, 300, &res, &tag), -ETIME);
	id2 = make_gone(ctl, GM_IOCTL);
	T_EQ(gm_uring_wait(&pr, 5000, &res, &tag), 0);
	T_EQ(res, 1);
	T_ASSERT((ev[0].tenant_id == (unsigned int)id &&
		  ev2[0].tenant_id == (unsigned int)id2) ||
		 (ev2[0].tenant_id == (unsigned int)id &&
		  ev[0].tenant_id == (unsigned int)id2));
	t_end();

	t_begin("fetch/uring_pending_tenant");
	{
		unsigned int tid = 0;
		int tfd = T_OK(
			gm_tenant_create(ctl, "ev-pend", 0, 0, &tid, GM_IOCTL));

		memset(&f, 0, sizeof(f));
		memset(ev, 0, sizeof(ev));
		f.addr = (uintptr_t)ev;
		f.capacity = 4;
		if (tfd >= 0) {
			T_EQ(pend_submit(tfd, &f, 5), 0);
			T_EQ(gm_uring_wait(&pr, 200, &res, &tag), -ETIME);
			T_EQ(gm_fence(ctl, tid, 0, GM_IOCTL), 0);
			T_EQ(gm_uring_wait(&pr, 5000, &res, &tag), 0);
			T_EQ(tag, 5);
			T_ASSERT(res >= 1);
			T_EQ(ev[0].type, GPUMUX_EVENT_FENCED);
			T_EQ(ev[0].tenant_id, tid);
			T_EQ(ev[0].arg, 1);
			close(tfd);
		}
	}
	gm_drain(ctl);
	t_end();
}

/*
 * The event that completes a pending fetch happens in another process:
 * the completion still lands in this one's memory.
 */
static void t_pending_other_process(void)
{
	static struct gpumux_event_fetch f;
	static struct gpumux_event ev[4];
	unsigned int tid = 0;
	uint64_t tag = 0;
	int res = 0, tfd, st, go[2];
	pid_t pid;
	char c = 'g';

	t_begin("fetch/uring_completed_by_other_process");
	gm_drain(ctl);
	tfd = T_OK(gm_tenant_create(ctl, "ev-other", 0, 0, &tid, GM_IOCTL));
	if (tfd < 0 || pipe(go)) {
		t_end();
		return;
	}
	memset(ev, 0, sizeof(ev));
	memset(&f, 0, sizeof(f));
	f.addr = (uintptr_t)ev;
	f.capacity = 4;
	T_EQ(pend_submit(ctl, &f, 6), 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* Hold the tenant until told, then end it from here. */
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		close(tfd);
		_exit(0);
	}
	close(go[0]);
	close(tfd);
	T_EQ(gm_uring_wait(&pr, 200, &res, &tag), -ETIME);
	T_EQ(write(go[1], &c, 1), 1);
	close(go[1]);
	T_EQ(gm_uring_wait(&pr, 5000, &res, &tag), 0);
	T_EQ(tag, 6);
	T_EQ(res, 1);
	T_EQ(ev[0].type, GPUMUX_EVENT_TENANT_GONE);
	T_EQ(ev[0].tenant_id, tid);
	if (pid > 0)
		waitpid(pid, &st, 0);
	t_end();
}

/* ---- overflow ------------------------------------------------------------ */

/*
 * Everything queued on @fd, read through @p.  Counts the events of @type,
 * and notes the OVERFLOW event's position and dropped count.
 */
struct tally {
	unsigned int n, of_type, overflows;
	uint64_t dropped;
	unsigned int last_tenant; /* of the last event of the type */
	int err;
};

static void tally_all(int fd, unsigned int type, enum gm_path p,
		      struct tally *t)
{
	struct gpumux_event ev[256];
	int n, i;

	memset(t, 0, sizeof(*t));
	while (readable(fd, 0)) {
		n = fetch(fd, ev, 256, p);
		if (n <= 0) {
			t->err = n;
			break;
		}
		for (i = 0; i < n; i++) {
			if (ev[i].type == type) {
				t->of_type++;
				t->last_tenant = ev[i].tenant_id;
			} else if (ev[i].type == GPUMUX_EVENT_OVERFLOW) {
				t->overflows++;
				t->dropped += ev[i].arg;
			}
		}
		t->n += n;
	}
}

/*
 * One control event, cheaply (a tenant create and close is slow on a
 * debug kernel): revoke one CU of @tenant's partition, acknowledge it
 * (PART_ACKED to the control files), and grow back.
 */
static int make_acked(int tfd, unsigned int tenant, unsigned int gpu,
		      enum gm_path p)
{
	struct gpumux_part_ack a = { .gpu_id = gpu };
	uint64_t gen = 0;
	int ret;

	ret = gm_part_set_range(ctl, tenant, gpu, 0, 1, 0, 60000, &gen, p);
	if (ret)
		return ret;
	a.generation = gen;
	ret = GM_CMD(tfd, GPUMUX_CMD_PART_ACK, &a, p);
	if (ret)
		return ret;
	return gm_part_set_range(ctl, tenant, gpu, 0, 2, 0, 0, NULL, p);
}

static void t_overflow_control(enum gm_path p)
{
	const unsigned int total = QUEUE_LEN + 100;
	long long drop0 = gm_counter("events_dropped");
	unsigned int i, tid = 0;
	struct tally t;
	char ident[64];
	int c2, id, gpu, tfd;

	t_begin("overflow/control/%s", PN(p));
	snprintf(ident, sizeof(ident), "test:events:%d:overflow:%s", getpid(),
		 PN(p));
	gpu = T_OK(gm_gpu_add(ctl, 2, ident, p));
	tfd = T_OK(gm_tenant_create(ctl, "ev-overflow-ctl", 2, 0, &tid, p));
	c2 = T_OK(gm_open_control(O_NONBLOCK));
	if (c2 < 0 || gpu < 0 || tfd < 0)
		goto out;
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 2, 0, 0, NULL, p), 0);
	gm_drain(c2);
	for (i = 0; i < total; i++)
		if (make_acked(tfd, tid, gpu, p) < 0)
			break;
	T_EQ(i, total);
	tally_all(c2, GPUMUX_EVENT_PART_ACKED, p, &t);
	T_EQ(t.err, 0);
	T_EQ(t.overflows, 1);
	T_ASSERT(t.n <= QUEUE_LEN);
	T_ASSERT(t.dropped > 0);
	/* Every event is either delivered or counted as dropped. */
	T_EQ(t.of_type + t.dropped, total);
	if (drop0 >= 0)
		T_ASSERT(gm_counter("events_dropped") >=
			 drop0 + (long long)t.dropped);
	/* After the overflow, events flow again. */
	id = make_gone(ctl, p);
	T_ASSERT(readable(c2, 5000));
	tally_all(c2, GPUMUX_EVENT_TENANT_GONE, p, &t);
	T_EQ(t.n, 1);
	T_EQ(t.of_type, 1);
	T_EQ(t.overflows, 0);
	T_EQ(t.last_tenant, id);
out:
	if (c2 >= 0)
		close(c2);
	if (tfd >= 0)
		close(tfd);
	if (gpu > 0)
		T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
	gm_drain(ctl);
	t_end();
}

static void t_overflow_tenant(enum gm_path p)
{
	const unsigned int cycles = QUEUE_LEN / 2 + 100;
	unsigned int tid = 0, i;
	struct tally t;
	int tfd;

	t_begin("overflow/tenant/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "ev-overflow", 0, 0, &tid, p));
	if (tfd < 0) {
		t_end();
		return;
	}
	fcntl(tfd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < cycles; i++) {
		if (gm_fence(ctl, tid, 0, p) ||
		    gm_fence(ctl, tid, GPUMUX_FENCE_CLEAR, p))
			break;
	}
	T_EQ(i, cycles);
	tally_all(tfd, GPUMUX_EVENT_FENCED, p, &t);
	T_EQ(t.err, 0);
	T_EQ(t.overflows, 1);
	T_ASSERT(t.dropped > 0);
	T_EQ(t.of_type + t.dropped, 2 * cycles);
	T_EQ(gm_fence(ctl, tid, 0, p), 0);
	T_ASSERT(readable(tfd, 5000));
	tally_all(tfd, GPUMUX_EVENT_FENCED, p, &t);
	T_EQ(t.of_type, 1);
	T_EQ(t.overflows, 0);
	close(tfd);
	gm_drain(ctl);
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
	t_read_basic();
	t_blocking();
	for_each_path(p) {
		t_read_tenant(p);
		t_fetch(p);
	}
	t_pending();
	t_pending_other_process();
	for_each_path(p) {
		t_overflow_control(p);
		t_overflow_tenant(p);
	}
	if (pr_ready)
		io_uring_queue_exit(&pr);
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
