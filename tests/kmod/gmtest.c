// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the module's test programs; see gmtest.h. */
#include "gmtest.h"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const char *const gm_path_name[2] = { "ioctl", "uring" };

int gm_open_control(int flags)
{
	int fd = open(GPUMUX_DEVICE_PATH, O_RDWR | O_CLOEXEC | flags);

	return fd < 0 ? -errno : fd;
}

static __thread struct io_uring gm_ring;
static __thread int gm_ring_ready;

/* A forked child must not share its parent's ring: it makes its own. */
static void gm_atfork_child(void)
{
	gm_ring_ready = 0;
}

__attribute__((constructor)) static void gm_init_atfork(void)
{
	pthread_atfork(NULL, NULL, gm_atfork_child);
}

static int gm_uring_cmd(int fd, unsigned int op, void *arg, size_t len)
{
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)arg, .len = len };
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	if (!gm_ring_ready) {
		ret = io_uring_queue_init(64, &gm_ring, 0);
		if (ret < 0)
			return ret;
		gm_ring_ready = 1;
	}
	sqe = io_uring_get_sqe(&gm_ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	sqe->user_data = 1;
	ret = io_uring_submit_and_wait(&gm_ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(&gm_ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&gm_ring, cqe);
	return ret;
}

int gm_cmd(int fd, unsigned int op, void *arg, size_t len, enum gm_path path)
{
	int ret;

	if (path == GM_URING)
		return gm_uring_cmd(fd, op, arg, len);
	ret = ioctl(fd, op, arg);
	return ret < 0 ? -errno : ret;
}

int gm_gpu_add(int ctl, unsigned int cus, const char *ident, enum gm_path p)
{
	struct gpumux_gpu_add a = { .cus = cus, .vram_bytes = 1ULL << 34 };
	int ret;

	snprintf(a.ident, sizeof(a.ident), "%s", ident);
	ret = GM_CMD(ctl, GPUMUX_CMD_GPU_ADD, &a, p);
	return ret < 0 ? ret : (int)a.gpu_id;
}

int gm_gpu_remove(int ctl, unsigned int gpu_id, enum gm_path p)
{
	struct gpumux_gpu_remove r = { .gpu_id = gpu_id };

	return GM_CMD(ctl, GPUMUX_CMD_GPU_REMOVE, &r, p);
}

int gm_tenant_create(int ctl, const char *name, unsigned int max_cus,
		     uint64_t quota, unsigned int *id, enum gm_path p)
{
	struct gpumux_tenant_create c = {
		.flags = GPUMUX_TENANT_CLOEXEC,
		.max_cus = max_cus,
		.pinned_quota = quota,
	};
	int ret;

	snprintf(c.name, sizeof(c.name), "%s", name);
	ret = GM_CMD(ctl, GPUMUX_CMD_TENANT_CREATE, &c, p);
	if (ret < 0)
		return ret;
	if (id)
		*id = c.tenant_id;
	return c.fd;
}

int gm_part_set_range(int ctl, unsigned int tenant, unsigned int gpu,
		      unsigned int first, unsigned int n, unsigned int flags,
		      unsigned int deadline_ms, uint64_t *gen, enum gm_path p)
{
	struct gpumux_part_set s = {
		.tenant_id = tenant,
		.gpu_id = gpu,
		.flags = flags,
		.deadline_ms = deadline_ms,
	};
	unsigned int i;
	int ret;

	for (i = first; i < first + n && i < GPUMUX_MAX_CUS; i++)
		s.mask[i / 64] |= 1ULL << (i % 64);
	ret = GM_CMD(ctl, GPUMUX_CMD_PART_SET, &s, p);
	if (ret >= 0 && gen)
		*gen = s.generation;
	return ret;
}

int gm_part_get(int fd, unsigned int tenant, unsigned int gpu,
		struct gpumux_part_info *out, enum gm_path p)
{
	struct gpumux_part_info parts[64];
	struct gpumux_list l = {
		.kind = GPUMUX_LIST_PARTITIONS,
		.entry_size = sizeof(parts[0]),
		.addr = (uintptr_t)parts,
		.capacity = 64,
		.start_id = tenant,
	};
	unsigned int i;
	int ret;

	ret = GM_CMD(fd, GPUMUX_CMD_LIST, &l, p);
	if (ret < 0)
		return ret;
	for (i = 0; i < l.count; i++) {
		if (parts[i].tenant_id == tenant && parts[i].gpu_id == gpu) {
			*out = parts[i];
			return 0;
		}
	}
	return -ENOENT;
}

int gm_buf_alloc(int tfd, uint64_t size, unsigned int *buf_id,
		 uint64_t *off, enum gm_path p)
{
	struct gpumux_buf_alloc a = { .size = size };
	int ret = GM_CMD(tfd, GPUMUX_CMD_BUF_ALLOC, &a, p);

	if (ret < 0)
		return ret;
	if (buf_id)
		*buf_id = a.buf_id;
	if (off)
		*off = a.mmap_offset;
	return 0;
}

int gm_buf_free(int tfd, unsigned int buf_id, enum gm_path p)
{
	struct gpumux_buf_free f = { .buf_id = buf_id };

	return GM_CMD(tfd, GPUMUX_CMD_BUF_FREE, &f, p);
}

int gm_events(int fd, struct gpumux_event *ev, unsigned int cap,
	      enum gm_path p)
{
	struct gpumux_event_fetch f = { .addr = (uintptr_t)ev, .capacity = cap };
	int ret;

	if (p == GM_URING) {
		/* A uring fetch would stay pending: read() is the poll. */
		ssize_t n = read(fd, ev, cap * sizeof(*ev));

		if (n < 0)
			return -errno;
		return (int)(n / sizeof(*ev));
	}
	ret = GM_CMD(fd, GPUMUX_CMD_EVENT_FETCH, &f, p);
	return ret < 0 ? ret : (int)f.count;
}

long long gm_counter(const char *name)
{
	FILE *f = fopen("/sys/kernel/debug/gpumux/counters", "r");
	char key[64];
	long long v, found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2) {
		if (!strcmp(key, name)) {
			found = v;
			break;
		}
	}
	fclose(f);
	return found;
}

const char *const gm_counter_names[GM_NR_CNT] = {
	[GM_C_TENANTS] = "tenants",	 [GM_C_BUFFERS] = "buffers",
	[GM_C_PAGES] = "pages",		 [GM_C_PINNED] = "pinned_bytes",
	[GM_C_GRANTS] = "grants",	 [GM_C_GPUS] = "gpus",
	[GM_C_PENDING] = "pending_cmds",
};

void gm_counters_get(long long *v)
{
	size_t i;

	for (i = 0; i < GM_NR_CNT; i++)
		v[i] = gm_counter(gm_counter_names[i]);
}

void gm_t_leaks(const long long *base)
{
	long long now[GM_NR_CNT];
	int tries;
	size_t i;

	t_begin("leaks");
	if (base[0] < 0) {
		t_skip("no /sys/kernel/debug/gpumux/counters");
		t_end();
		return;
	}
	for (tries = 0; tries < 50; tries++) {
		gm_counters_get(now);
		if (!memcmp(now, base, sizeof(now)))
			break;
		usleep(100000);
	}
	for (i = 0; i < GM_NR_CNT; i++)
		if (now[i] != base[i])
			t_fail(__FILE__, __LINE__,
			       "counter %s = %lld, was %lld",
			       gm_counter_names[i], now[i], base[i]);
	t_end();
}

int64_t gm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double gm_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int gm_wait_event(int fd, unsigned int type, unsigned int tenant, int ms,
		  struct gpumux_event *out)
{
	int64_t end = gm_now_ns() + ms * 1000000LL;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct gpumux_event ev;
	ssize_t n;

	for (;;) {
		int64_t left = (end - gm_now_ns()) / 1000000;

		if (left < 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) <= 0 || !(pfd.revents & POLLIN))
			continue;
		n = read(fd, &ev, sizeof(ev));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n != sizeof(ev))
			return -EIO;
		if (ev.type == type && (!tenant || ev.tenant_id == tenant)) {
			if (out)
				*out = ev;
			return 0;
		}
	}
}

int gm_drain(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct gpumux_event ev[64];
	int n = 0;
	ssize_t r;

	while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
		r = read(fd, ev, sizeof(ev));
		if (r <= 0)
			break;
		n += r / sizeof(ev[0]);
	}
	return n;
}

int gm_list(int fd, unsigned int kind, void *buf, size_t esize,
	    unsigned int cap, unsigned int start, unsigned int *total,
	    enum gm_path p)
{
	struct gpumux_list l = {
		.kind = kind,
		.entry_size = esize,
		.addr = (uintptr_t)buf,
		.capacity = cap,
		.start_id = start,
	};
	int ret = GM_CMD(fd, GPUMUX_CMD_LIST, &l, p);

	if (ret < 0)
		return ret;
	if (total)
		*total = l.total;
	return (int)l.count;
}

int gm_tenant_info(int fd, unsigned int id, struct gpumux_tenant_info *ti,
		   enum gm_path p)
{
	int n = gm_list(fd, GPUMUX_LIST_TENANTS, ti, sizeof(*ti), 1, id, NULL,
			p);

	if (n < 0)
		return n;
	if (n == 0 || ti->tenant_id != id)
		return -ENOENT;
	return 0;
}

int gm_gpu_info(int fd, unsigned int id, struct gpumux_gpu_info *gi,
		enum gm_path p)
{
	int n = gm_list(fd, GPUMUX_LIST_GPUS, gi, sizeof(*gi), 1, id, NULL, p);

	if (n < 0)
		return n;
	if (n == 0 || gi->gpu_id != id)
		return -ENOENT;
	return 0;
}

int gm_buf_info(int fd, unsigned int id, struct gpumux_buf_info *bi,
		enum gm_path p)
{
	int n = gm_list(fd, GPUMUX_LIST_BUFFERS, bi, sizeof(*bi), 1, id, NULL,
			p);

	if (n < 0)
		return n;
	if (n == 0 || bi->buf_id != id)
		return -ENOENT;
	return 0;
}

int gm_get_info(int fd, struct gpumux_info *info, enum gm_path p)
{
	memset(info, 0, sizeof(*info));
	return GM_CMD(fd, GPUMUX_CMD_GET_INFO, info, p);
}

int gm_fence(int ctl, unsigned int tenant, unsigned int flags, enum gm_path p)
{
	struct gpumux_tenant_fence f = { .tenant_id = tenant, .flags = flags };

	return GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &f, p);
}

void *gm_map(int fd, size_t len, int prot, uint64_t off)
{
	return mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);
}

int gm_state_line(const char *prefix, char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/debug/gpumux/state", "r");
	char line[1024];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, prefix, strlen(prefix))) {
			size_t n = strcspn(line, "\n");

			if (n >= len)
				n = len - 1;
			memcpy(buf, line, n);
			buf[n] = 0;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int gm_uring_submit_fetch(struct io_uring *ring, int fd,
			  struct gpumux_event_fetch *f, uint64_t tag)
{
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)f,
				       .len = sizeof(*f) };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = GPUMUX_CMD_EVENT_FETCH;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	sqe->user_data = tag;
	ret = io_uring_submit(ring);
	return ret == 1 ? 0 : (ret < 0 ? ret : -EIO);
}

int gm_uring_wait(struct io_uring *ring, int ms, int *res, uint64_t *tag)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000LL,
	};
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret < 0)
		return ret;
	*res = cqe->res;
	if (tag)
		*tag = cqe->user_data;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

void gm_set_bit64(__u64 *m, unsigned int b)
{
	m[b / 64] |= 1ULL << (b % 64);
}

int gm_parse_ranges(const char *s, __u64 *m)
{
	memset(m, 0, GPUMUX_MASK_WORDS * 8);
	while (*s) {
		char *e;
		unsigned long a = strtoul(s, &e, 10), b = a, i;

		if (e == s)
			return -1;
		if (*e == '-') {
			s = e + 1;
			b = strtoul(s, &e, 10);
			if (e == s)
				return -1;
		}
		if (a > b || b >= GPUMUX_MAX_CUS)
			return -1;
		for (i = a; i <= b; i++)
			gm_set_bit64(m, (unsigned int)i);
		if (*e == ',')
			e++;
		else if (*e)
			return -1;
		s = e;
	}
	return 0;
}

const char *gm_kv(char **tok, int n, const char *key)
{
	size_t kl = strlen(key);
	int i;

	for (i = 0; i < n; i++)
		if (!strncmp(tok[i], key, kl) && tok[i][kl] == '=')
			return tok[i] + kl + 1;
	return NULL;
}

unsigned long gm_env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

int gm_t_open_control(int flags)
{
	int ctl = gm_open_control(flags);

	if (ctl < 0) {
		t_begin("open/control");
		t_fail(__FILE__, __LINE__, "open %s: %s", GPUMUX_DEVICE_PATH,
		       strerror(-ctl));
		t_end();
	}
	return ctl;
}

static char t_name[256];
static int t_failed_now, t_any_failed, t_skipped_now, t_active;

void t_begin(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t_name, sizeof(t_name), fmt, ap);
	va_end(ap);
	t_failed_now = 0;
	t_skipped_now = 0;
	t_active = 1;
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	/* Only the first failure of a sub-test gets the FAIL line. */
	if (!t_failed_now) {
		printf("FAIL: %s: %s:%d: ", t_name, file, line);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	} else {
		printf("  also: %s:%d: ", file, line);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	t_failed_now = 1;
	t_any_failed = 1;
}

void t_skip(const char *why)
{
	printf("SKIP: %s: %s\n", t_name, why);
	fflush(stdout);
	t_skipped_now = 1;
}

int t_end(void)
{
	if (!t_active)
		return 0;
	t_active = 0;
	if (t_failed_now)
		return -1;
	if (!t_skipped_now)
		printf("PASS: %s\n", t_name);
	fflush(stdout);
	return 0;
}

int t_status(void)
{
	return t_any_failed ? 1 : 0;
}

bool gm_mask_intersects(const __u64 *a, const __u64 *b)
{
	unsigned int i;

	for (i = 0; i < GPUMUX_MASK_WORDS; i++)
		if (a[i] & b[i])
			return true;
	return false;
}

bool gm_mask_subset(const __u64 *a, const __u64 *b)
{
	unsigned int i;

	for (i = 0; i < GPUMUX_MASK_WORDS; i++)
		if (a[i] & ~b[i])
			return false;
	return true;
}

bool gm_mask_empty(const __u64 *a)
{
	unsigned int i;

	for (i = 0; i < GPUMUX_MASK_WORDS; i++)
		if (a[i])
			return false;
	return true;
}

unsigned int gm_mask_weight(const __u64 *a)
{
	unsigned int i, n = 0;

	for (i = 0; i < GPUMUX_MASK_WORDS; i++)
		n += (unsigned int)__builtin_popcountll(a[i]);
	return n;
}
