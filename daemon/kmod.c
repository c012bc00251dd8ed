// SPDX-License-Identifier: GPL-2.0
/*
 * The io_uring channel to the module.  Commands are IORING_OP_URING_CMD
 * SQEs whose 16 command bytes point at the same struct the ioctl takes; one
 * helper fills, submits and waits for each (they take microseconds; those
 * the module punts to a worker, milliseconds).  One EVENT_FETCH is always
 * armed: it completes when the module has an event, and the ring's
 * registered eventfd wakes the sd-event loop.
 *
 * user_data says what a completion is: TAG_FETCH for the fetch, else the
 * sequence number of a command.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TAG_FETCH (~0ULL)
#define RING_ENTRIES 16

static void prep_cmd(struct io_uring_sqe *sqe, int fd, unsigned int op,
		     void *arg, size_t len)
{
	struct gpumux_uring_cmd uc = {
		.addr = (uint64_t)(uintptr_t)arg,
		.len = (uint32_t)len,
	};

	/* prep_rw zeroes what cmd_op and the command bytes share. */
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, &uc, sizeof(uc));
}

static struct io_uring_sqe *get_sqe(struct gm_kmod *k)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);

	if (!sqe) {
		io_uring_submit(&k->ring);
		sqe = io_uring_get_sqe(&k->ring);
	}
	return sqe;
}

/* Note a completion that is not the one being waited for. */
static void note_cqe(struct gm_kmod *k, struct io_uring_cqe *cqe)
{
	if (cqe->user_data == TAG_FETCH) {
		k->fetch_armed = false;
		k->fetch_done = true;
		k->fetch_res = cqe->res;
	}
	/* Anything else: a command that gave up waiting; nothing to do. */
}

int gm_kmod_cmd(struct gm_kmod *k, unsigned int op, void *arg, size_t len)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	uint64_t seq;
	int ret;

	if (k->broken)
		return -EIO;
	sqe = get_sqe(k);
	if (!sqe)
		return -EBUSY;
	seq = ++k->seq;
	if (seq == TAG_FETCH)
		seq = k->seq = 1;
	prep_cmd(sqe, k->fd, op, arg, len);
	sqe->user_data = seq;
	ret = io_uring_submit(&k->ring);
	if (ret < 0) {
		/*
		 * The SQE stays in the ring, pointing at the caller's struct:
		 * it must never be submitted later.  Give up on the ring.
		 */
		k->broken = true;
		gm_err("io_uring submit: %s: the ring is unusable",
		       strerror(-ret));
		return -EIO;
	}
	for (;;) {
		ret = io_uring_wait_cqe(&k->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			/* In flight, writing to the caller's struct: stop. */
			gm_err("io_uring wait: %s: exiting", strerror(-ret));
			_exit(EXIT_FAILURE);
		}
		if (cqe->user_data == seq) {
			ret = cqe->res;
			io_uring_cqe_seen(&k->ring, cqe);
			return ret;
		}
		note_cqe(k, cqe);
		io_uring_cqe_seen(&k->ring, cqe);
	}
}

int gm_kmod_arm(struct gm_kmod *k)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (k->broken)
		return -EIO;
	if (k->fetch_armed || k->fetch_done)
		return 0;
	sqe = get_sqe(k);
	if (!sqe)
		return -EBUSY;
	memset(&k->fetch, 0, sizeof(k->fetch));
	k->fetch.addr = (uint64_t)(uintptr_t)k->events;
	k->fetch.capacity = sizeof(k->events) / sizeof(k->events[0]);
	prep_cmd(sqe, k->fd, GPUMUX_CMD_EVENT_FETCH, &k->fetch,
		 sizeof(k->fetch));
	sqe->user_data = TAG_FETCH;
	ret = io_uring_submit(&k->ring);
	if (ret < 0) {
		k->broken = true;
		return -EIO;
	}
	k->fetch_armed = true;
	return 0;
}

int gm_kmod_reap(struct gm_kmod *k)
{
	struct io_uring_cqe *cqe;
	uint64_t v;
	int ret;

	/* Clear the eventfd first: a completion after this re-signals it. */
	if (read(k->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	while (io_uring_peek_cqe(&k->ring, &cqe) == 0) {
		note_cqe(k, cqe);
		io_uring_cqe_seen(&k->ring, cqe);
	}
	if (!k->fetch_done)
		return 0;
	k->fetch_done = false;
	ret = k->fetch_res;
	if (ret < 0)
		return ret;
	if ((uint32_t)ret > k->fetch.capacity)
		return -EPROTO;
	return ret;
}

int gm_kmod_list(struct gm_kmod *k, uint32_t kind, size_t entry_size,
		 void **out, size_t *nr)
{
	struct gpumux_list l;
	char *arr = NULL, *na;
	size_t n = 0, cap = 0;
	uint32_t start = 0;
	bool grow = false;
	int ret;

	for (;;) {
		/*
		 * The module returns whole objects only (all the partitions
		 * of a tenant, up to one per GPU), and EOVERFLOW when the
		 * next does not fit: keep room for GPUMUX_MAX_GPUS entries.
		 */
		if (cap - n < GPUMUX_MAX_GPUS || grow) {
			cap = cap ? cap * 2 : 4 * GPUMUX_MAX_GPUS;
			grow = false;
			na = realloc(arr, cap * entry_size);
			if (!na) {
				ret = -ENOMEM;
				goto fail;
			}
			arr = na;
		}
		memset(&l, 0, sizeof(l));
		l.kind = kind;
		l.entry_size = (uint32_t)entry_size;
		l.addr = (uint64_t)(uintptr_t)(arr + n * entry_size);
		l.capacity = (uint32_t)(cap - n < 1024 ? cap - n : 1024);
		l.start_id = start;
		ret = gm_kmod_cmd(k, GPUMUX_CMD_LIST, &l, sizeof(l));
		if (ret == -EOVERFLOW && l.capacity < 1024) {
			grow = true; /* not with the room kept above */
			continue;
		}
		if (ret < 0)
			goto fail;
		if (l.count > l.capacity) {
			ret = -EPROTO;
			goto fail;
		}
		n += l.count;
		if (l.count == 0 || l.count >= l.total)
			break;
		/* Next page: past the last id returned (first field). */
		memcpy(&start, arr + (n - 1) * entry_size, sizeof(start));
		start++;
	}
	*out = arr;
	*nr = n;
	return 0;
fail:
	free(arr);
	return ret;
}

int gm_kmod_open(struct gm_kmod *k, const char *path)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->efd = -1;
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		k->fd = -1;
		return ret;
	}
	ret = io_uring_queue_init(RING_ENTRIES, &k->ring, 0);
	if (ret < 0)
		goto fail;
	k->ring_ok = true;
	k->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = io_uring_register_eventfd(&k->ring, k->efd);
	if (ret < 0)
		goto fail;
	ret = gm_kmod_cmd(k, GPUMUX_CMD_GET_INFO, &k->info, sizeof(k->info));
	if (ret < 0)
		goto fail;
	if (k->info.version != GPUMUX_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	return 0;
fail:
	gm_kmod_close(k);
	return ret;
}

void gm_kmod_close(struct gm_kmod *k)
{
	if (k->ring_ok)
		io_uring_queue_exit(&k->ring);
	k->ring_ok = false;
	if (k->efd >= 0)
		close(k->efd);
	if (k->fd >= 0)
		close(k->fd);
	k->efd = k->fd = -1;
}
