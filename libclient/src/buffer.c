// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libgpumux: pinned buffers.  Allocated and freed with GPUMUX_CMD_BUF_ALLOC
 * and GPUMUX_CMD_BUF_FREE on the lease, mapped with mmap() on the lease at
 * the buffer's offset (its id << 40); granted buffers are found with
 * GPUMUX_LIST_BUFFERS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

_Static_assert(GPUMUX_BUFFER_RO == GPUMUX_ACCESS_RO, "access");
_Static_assert(GPUMUX_BUFFER_RW == GPUMUX_ACCESS_RW, "access");

#define GM_BUF_MAX_SIZE (1ULL << 40) /* the module's limit: 1 TiB */
#define GM_LIST_CHUNK 256 /* buffer entries per GPUMUX_CMD_LIST */

static void gm_buf_info_from(struct gpumux_buffer_info *o,
			     const struct gpumux_buf_info *bi)
{
	memset(o, 0, sizeof(*o));
	o->buf_id = bi->buf_id;
	o->owner_id = bi->owner_id;
	o->size = bi->size;
	o->access = bi->access;
	o->nr_grants = bi->nr_grants;
}

static int gm_buffer_new(struct gpumux_tenant *t, struct gpumux_buffer **out)
{
	struct gpumux_buffer *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->t = gm_tenant_get(t);
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

static void gm_buffer_release(struct gpumux_buffer *b)
{
	pthread_mutex_destroy(&b->lock);
	gm_tenant_put(b->t);
	free(b);
}

int gpumux_buffer_alloc(struct gpumux_tenant *t, uint64_t size,
			struct gpumux_buffer **out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct gpumux_buf_alloc a;
	struct gpumux_buf_free f;
	struct gpumux_buffer *b;
	int r;

	if (!t || !out || !size || size > GM_BUF_MAX_SIZE)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = (size + page - 1) & ~(page - 1);
	r = gm_tenant_ioctl(t, GPUMUX_CMD_BUF_ALLOC, &a);
	if (r < 0)
		return r;
	r = gm_buffer_new(t, &b);
	if (r < 0) {
		memset(&f, 0, sizeof(f));
		f.buf_id = a.buf_id;
		gm_tenant_ioctl(t, GPUMUX_CMD_BUF_FREE, &f);
		return r;
	}
	b->info.buf_id = a.buf_id;
	b->info.owner_id = t->id;
	b->info.size = a.size;
	b->info.access = GPUMUX_BUFFER_RW;
	b->mmap_offset = a.mmap_offset;
	b->allocated = true;
	*out = b;
	return 0;
}

/* The tenant's view of buffer @id: 0, -ENOENT or -errno. */
static int gm_buf_lookup(struct gpumux_tenant *t, uint32_t id,
			 struct gpumux_buf_info *bi)
{
	struct gpumux_list l;
	int r;

	memset(&l, 0, sizeof(l));
	memset(bi, 0, sizeof(*bi));
	l.kind = GPUMUX_LIST_BUFFERS;
	l.entry_size = sizeof(*bi);
	l.addr = (uintptr_t)bi;
	l.capacity = 1;
	l.start_id = id;
	r = gm_tenant_ioctl(t, GPUMUX_CMD_LIST, &l);
	if (r < 0)
		return r;
	return l.count == 1 && bi->buf_id == id ? 0 : -ENOENT;
}

int gpumux_buffer_open_granted(struct gpumux_tenant *t, uint32_t buf_id,
			       struct gpumux_buffer **out)
{
	struct gpumux_buf_info bi;
	struct gpumux_buffer *b;
	int r;

	if (!t || !out || !buf_id)
		return -EINVAL;
	r = gm_buf_lookup(t, buf_id, &bi);
	if (r < 0)
		return r;
	r = gm_buffer_new(t, &b);
	if (r < 0)
		return r;
	gm_buf_info_from(&b->info, &bi);
	b->mmap_offset = bi.mmap_offset;
	*out = b;
	return 0;
}

int gpumux_buffer_map(struct gpumux_buffer *b, int prot, void **addr)
{
	void *p;
	int r = 0;

	if (!b || !addr)
		return -EINVAL;
	if (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE))
		return -EINVAL;
	if ((prot & PROT_WRITE) && b->info.access != GPUMUX_BUFFER_RW)
		return -EACCES;
	pthread_mutex_lock(&b->lock);
	if (b->addr) {
		if (b->prot == prot)
			*addr = b->addr;
		else
			r = -EBUSY;
		goto out;
	}
	if (b->t->fd < 0) {
		r = -EBADF;
		goto out;
	}
	p = mmap(NULL, b->info.size, prot, MAP_SHARED, b->t->fd,
		 (off_t)b->mmap_offset);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	b->addr = p;
	b->prot = prot;
	*addr = p;
out:
	pthread_mutex_unlock(&b->lock);
	return r;
}

int gpumux_buffer_unmap(struct gpumux_buffer *b)
{
	int r = 0;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (b->addr) {
		if (munmap(b->addr, b->info.size) < 0)
			r = -errno;
		else
			b->addr = NULL;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

int gpumux_buffer_free(struct gpumux_buffer *b)
{
	struct gpumux_buf_free f;
	int r = 0;

	if (!b)
		return 0;
	if (b->addr)
		munmap(b->addr, b->info.size);
	/* A closed lease took its buffers with it. */
	if (b->allocated && b->t->fd >= 0) {
		memset(&f, 0, sizeof(f));
		f.buf_id = b->info.buf_id;
		r = gm_tenant_ioctl(b->t, GPUMUX_CMD_BUF_FREE, &f);
	}
	gm_buffer_release(b);
	return r;
}

int gpumux_buffer_id(const struct gpumux_buffer *b)
{
	if (!b)
		return -EINVAL;
	return (int)b->info.buf_id;
}

int gpumux_buffer_info(const struct gpumux_buffer *b,
		       struct gpumux_buffer_info *info)
{
	struct gpumux_buf_info bi;

	if (!b || !info)
		return -EINVAL;
	*info = b->info;
	if (b->t->fd >= 0 && !gm_buf_lookup(b->t, b->info.buf_id, &bi))
		info->nr_grants = bi.nr_grants;
	return 0;
}

int gpumux_tenant_buffers(struct gpumux_tenant *t,
			  struct gpumux_buffer_info *bufs, size_t cap,
			  size_t *n)
{
	struct gpumux_buf_info *bi;
	struct gpumux_list l;
	uint32_t start = 0;
	size_t k = 0;
	unsigned int i;
	int r;

	if (!t || !n || (cap && !bufs))
		return -EINVAL;
	bi = calloc(GM_LIST_CHUNK, sizeof(*bi));
	if (!bi)
		return -ENOMEM;
	for (;;) {
		memset(&l, 0, sizeof(l));
		l.kind = GPUMUX_LIST_BUFFERS;
		l.entry_size = sizeof(*bi);
		l.addr = (uintptr_t)bi;
		l.capacity = GM_LIST_CHUNK;
		l.start_id = start;
		r = gm_tenant_ioctl(t, GPUMUX_CMD_LIST, &l);
		if (r < 0)
			goto out;
		for (i = 0; i < l.count && i < GM_LIST_CHUNK; i++, k++)
			if (k < cap)
				gm_buf_info_from(&bufs[k], &bi[i]);
		if (!l.count || l.count >= l.total ||
		    bi[l.count - 1].buf_id == UINT32_MAX)
			break;
		start = bi[l.count - 1].buf_id + 1;
	}
	*n = k;
	r = k > cap ? -ENOBUFS : 0;
out:
	free(bi);
	return r;
}
