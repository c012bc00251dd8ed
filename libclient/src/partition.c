// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libgpumux: partitions, their events and acknowledgments, through the
 * lease fd (GPUMUX_CMD_LIST, read(), GPUMUX_CMD_PART_ACK).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

_Static_assert(GPUMUX_PARTITION_STABLE == GPUMUX_PART_STABLE, "state");
_Static_assert(GPUMUX_PARTITION_REVOKING == GPUMUX_PART_REVOKING, "state");
_Static_assert(GPUMUX_PARTITION_GROWING == GPUMUX_PART_GROWING, "state");
_Static_assert(GPUMUX_PARTITION_SHARED == GPUMUX_PART_SHARED, "flag");
_Static_assert(GPUMUX_TENANT_EVENT_PARTITION_CHANGED ==
		       GPUMUX_EVENT_PART_CHANGED,
	       "event");
_Static_assert(GPUMUX_TENANT_EVENT_FENCED == GPUMUX_EVENT_FENCED, "event");
_Static_assert(GPUMUX_TENANT_EVENT_GRANT_REVOKED == GPUMUX_EVENT_GRANT_REVOKED,
	       "event");
_Static_assert(GPUMUX_TENANT_EVENT_GRANT_ADDED == GPUMUX_EVENT_GRANT_ADDED,
	       "event");
_Static_assert(GPUMUX_TENANT_EVENT_OVERFLOW == GPUMUX_EVENT_OVERFLOW, "event");

/* Events read per read() call, and read() calls per dispatch at most. */
#define GM_EVENT_BATCH 16
#define GM_EVENT_READS 16

static void gm_part_from_info(struct gpumux_partition *p,
			      const struct gpumux_part_info *pi)
{
	memset(p, 0, sizeof(*p));
	p->gpu_id = pi->gpu_id;
	p->flags = pi->flags;
	p->state = pi->state;
	p->generation = pi->generation;
	p->deadline_ns = pi->deadline_ns;
	memcpy(p->active, pi->active, sizeof(p->active));
	memcpy(p->target, pi->target, sizeof(p->target));
}

/*
 * The tenant's partitions into a new array (*@out, free() it), *@n of
 * them.  A tenant's partitions always fit GPUMUX_MAX_GPUS entries.
 */
static int gm_list_parts(struct gpumux_tenant *t, struct gpumux_part_info **out,
			 size_t *n)
{
	struct gpumux_part_info *pi;
	struct gpumux_list l;
	size_t i, k = 0;
	int r;

	pi = calloc(GPUMUX_MAX_GPUS, sizeof(*pi));
	if (!pi)
		return -ENOMEM;
	memset(&l, 0, sizeof(l));
	l.kind = GPUMUX_LIST_PARTITIONS;
	l.entry_size = sizeof(*pi);
	l.addr = (uintptr_t)pi;
	l.capacity = GPUMUX_MAX_GPUS;
	l.start_id = t->id;
	r = gm_tenant_ioctl(t, GPUMUX_CMD_LIST, &l);
	if (r < 0) {
		free(pi);
		return r;
	}
	for (i = 0; i < l.count && i < GPUMUX_MAX_GPUS; i++)
		if (pi[i].tenant_id == t->id)
			pi[k++] = pi[i];
	*out = pi;
	*n = k;
	return 0;
}

int gpumux_tenant_partitions(struct gpumux_tenant *t,
			     struct gpumux_partition *parts, size_t cap,
			     size_t *n)
{
	struct gpumux_part_info *pi;
	size_t i, k;
	int r;

	if (!t || !n || (cap && !parts))
		return -EINVAL;
	r = gm_list_parts(t, &pi, &k);
	if (r < 0)
		return r;
	for (i = 0; i < k && i < cap; i++)
		gm_part_from_info(&parts[i], &pi[i]);
	free(pi);
	*n = k;
	return k > cap ? -ENOBUFS : 0;
}

int gpumux_tenant_partition(struct gpumux_tenant *t, uint32_t gpu_id,
			    struct gpumux_partition *out)
{
	struct gpumux_part_info *pi;
	size_t i, k;
	int r;

	if (!t || !out)
		return -EINVAL;
	r = gm_list_parts(t, &pi, &k);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (i = 0; i < k; i++) {
		if (pi[i].gpu_id == gpu_id) {
			gm_part_from_info(out, &pi[i]);
			r = 0;
			break;
		}
	}
	free(pi);
	return r;
}

int gpumux_tenant_ack(struct gpumux_tenant *t, uint32_t gpu_id,
		      uint64_t generation)
{
	struct gpumux_part_ack a;

	if (!t)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.gpu_id = gpu_id;
	a.generation = generation;
	return gm_tenant_ioctl(t, GPUMUX_CMD_PART_ACK, &a);
}

int gpumux_tenant_set_partition_callback(struct gpumux_tenant *t,
					 gpumux_partition_cb cb, void *userdata)
{
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->cb_lock);
	t->cb = cb;
	t->cb_data = cb ? userdata : NULL;
	pthread_mutex_unlock(&t->cb_lock);
	return 0;
}

/* The tenant whose events this thread is dispatching now, if any. */
static __thread struct gpumux_tenant *gm_dispatching;

static void gm_deliver(struct gpumux_tenant *t, const struct gpumux_event *e)
{
	struct gpumux_tenant_event ev;
	gpumux_partition_cb cb;
	void *data;

	memset(&ev, 0, sizeof(ev));
	ev.type = e->type;
	ev.gpu_id = e->gpu_id;
	ev.buf_id = e->buf_id;
	ev.generation = e->generation;
	ev.arg = e->arg;
	ev.timestamp_ns = e->timestamp_ns;
	pthread_mutex_lock(&t->cb_lock);
	cb = t->cb;
	data = t->cb_data;
	pthread_mutex_unlock(&t->cb_lock);
	if (cb)
		cb(t, &ev, data);
}

/* Read and deliver queued events; the caller holds t->dispatch_lock. */
static int gm_read_events(struct gpumux_tenant *t, unsigned int *count)
{
	struct gpumux_event evs[GM_EVENT_BATCH];
	struct gpumux_tenant *prev = gm_dispatching;
	unsigned int reads, i, got;
	ssize_t n;
	int r = 0;

	gm_dispatching = t;
	for (reads = 0; reads < GM_EVENT_READS; reads++) {
		n = read(t->fd, evs, sizeof(evs));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* The lease is O_NONBLOCK: EAGAIN means drained. */
			if (errno != EAGAIN)
				r = -errno;
			break;
		}
		got = (unsigned int)(n / (ssize_t)sizeof(evs[0]));
		for (i = 0; i < got; i++)
			gm_deliver(t, &evs[i]);
		*count += got;
		if (got < GM_EVENT_BATCH)
			break;
	}
	gm_dispatching = prev;
	return r;
}

int gpumux_tenant_dispatch(struct gpumux_tenant *t, int timeout_ms,
			   unsigned int *n_events)
{
	unsigned int count = 0;
	int r;

	if (n_events)
		*n_events = 0;
	if (!t)
		return -EINVAL;
	if (gm_dispatching == t)
		return -EDEADLK;
	if (t->fd < 0)
		return -EBADF;
	if (timeout_ms) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

		r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		if (pfd.revents & POLLNVAL)
			return -EBADF;
	}
	pthread_mutex_lock(&t->dispatch_lock);
	r = gm_read_events(t, &count);
	pthread_mutex_unlock(&t->dispatch_lock);
	if (n_events)
		*n_events = count;
	return r;
}
