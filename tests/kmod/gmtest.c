// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the module's test programs; see gmtest.h. */
#include "gmtest.h"

#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
