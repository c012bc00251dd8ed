// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: the ledger of GPUs, tenants and CU partitions.
 *
 * A partition is a tenant's claim on one GPU: a target mask (what the
 * daemon wants it to have) and an active mask (what it may use now).
 * Exclusive targets never overlap any other target on the GPU, and shared
 * targets never overlap exclusive ones, so every pending grow finishes once
 * the revocations before it do.  CUs leave the active mask only when the
 * tenant acknowledges, or at the deadline (which fences it); they enter it
 * as soon as no conflicting partition holds them.
 */
#include <linux/anon_inodes.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "gpumux.h"
#include "gpumux_trace.h"

static bool gm_reserved_zero(const void *p, size_t len)
{
	return !memchr_inv(p, 0, len);
}

/* A NUL-terminated, non-empty string that fills at most @len bytes. */
static bool gm_valid_str(const char *s, size_t len)
{
	size_t n = strnlen(s, len);

	return n > 0 && n < len;
}

static struct gm_gpu *gm_gpu_find(u32 id)
{
	lockdep_assert_held(&gm.lock);
	return id ? xa_load(&gm.gpus, id) : NULL;
}

static struct gm_tenant *gm_tenant_find(u32 id)
{
	lockdep_assert_held(&gm.lock);
	return id ? xa_load(&gm.tenants, id) : NULL;
}

static void gm_ctl_event_simple(u32 type, u32 tenant, u32 gpu, u64 gen, u64 arg)
{
	struct gpumux_event ev = {
		.type = type,
		.tenant_id = tenant,
		.gpu_id = gpu,
		.generation = gen,
		.arg = arg,
		.timestamp_ns = ktime_get_ns(),
	};

	gm_ctl_event(&ev);
}

/* ---- GPUs ---- */

int gm_cmd_gpu_add(struct gm_ctx *c, struct gpumux_gpu_add *a)
{
	struct gm_gpu *g, *other;
	unsigned long idx;
	int ret;

	if (!a->cus || a->cus > GPUMUX_MAX_CUS ||
	    !gm_valid_str(a->ident, sizeof(a->ident)) ||
	    !gm_reserved_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;

	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->cus = a->cus;
	g->vram = a->vram_bytes;
	strscpy(g->ident, a->ident, sizeof(g->ident));
	INIT_LIST_HEAD(&g->parts);

	ret = gm_lock(c);
	if (ret)
		goto err_free;
	ret = -ENOSPC;
	if (gm.nr_gpus >= GPUMUX_MAX_GPUS)
		goto err_unlock;
	ret = -EEXIST;
	xa_for_each(&gm.gpus, idx, other) {
		if (!strcmp(other->ident, g->ident))
			goto err_unlock;
	}
	ret = xa_alloc_cyclic(&gm.gpus, &g->id, g, XA_LIMIT(1, 0xffff),
			      &gm.next_gpu, GFP_KERNEL);
	if (ret < 0)
		goto err_unlock;
	gm.nr_gpus++;
	a->gpu_id = g->id;
	gm_unlock();
	return 0;

err_unlock:
	gm_unlock();
err_free:
	kfree(g);
	return ret;
}

int gm_cmd_gpu_remove(struct gm_ctx *c, struct gpumux_gpu_remove *a)
{
	struct gm_gpu *g;
	int ret;

	if (a->reserved)
		return -EINVAL;
	ret = gm_lock(c);
	if (ret)
		return ret;
	g = gm_gpu_find(a->gpu_id);
	if (!g) {
		ret = -ENOENT;
	} else if (!list_empty(&g->parts)) {
		ret = -EBUSY;
	} else {
		xa_erase(&gm.gpus, g->id);
		gm.nr_gpus--;
		kfree(g);
	}
	gm_unlock();
	return ret;
}

/* ---- partitions ---- */

const char *gm_part_state_name(const struct gm_part *p)
{
	if (!bitmap_subset(p->active, p->target, GPUMUX_MAX_CUS))
		return "revoking";
	if (!bitmap_equal(p->active, p->target, GPUMUX_MAX_CUS))
		return "growing";
	return "stable";
}

static u32 gm_part_state(const struct gm_part *p)
{
	if (!bitmap_subset(p->active, p->target, GPUMUX_MAX_CUS))
		return GPUMUX_PART_REVOKING;
	if (!bitmap_equal(p->active, p->target, GPUMUX_MAX_CUS))
		return GPUMUX_PART_GROWING;
	return GPUMUX_PART_STABLE;
}

void gm_part_fill_info(const struct gm_part *p, struct gpumux_part_info *o)
{
	memset(o, 0, sizeof(*o));
	o->tenant_id = p->t->id;
	o->gpu_id = p->g->id;
	o->flags = p->flags;
	o->state = gm_part_state(p);
	o->generation = p->generation;
	if (o->state == GPUMUX_PART_REVOKING)
		o->deadline_ns = p->deadline_ns;
	bitmap_to_arr64(o->active, p->active, GPUMUX_MAX_CUS);
	bitmap_to_arr64(o->target, p->target, GPUMUX_MAX_CUS);
}

static void gm_part_changed(struct gm_part *p)
{
	p->generation = ++p->t->generation;
	trace_gpumux_part_change(p->t->id, p->g->id, p->generation,
				 gm_part_state(p),
				 bitmap_weight(p->active, GPUMUX_MAX_CUS),
				 bitmap_weight(p->target, GPUMUX_MAX_CUS));
	gm_tenant_event(p->t, GPUMUX_EVENT_PART_CHANGED, p->g->id, 0,
			p->generation, gm_part_state(p));
}

/*
 * CUs of @g that partitions other than @self (which may be NULL) hold, as
 * active or as @targets, and that a partition with @flags may not share.
 */
static void gm_conflicts(struct gm_gpu *g, struct gm_part *self, u32 flags,
			 unsigned long *out, bool targets)
{
	struct gm_part *p;

	bitmap_zero(out, GPUMUX_MAX_CUS);
	list_for_each_entry(p, &g->parts, gpu_node) {
		if (p == self)
			continue;
		/* Shared partitions may overlap each other. */
		if ((flags & GPUMUX_PART_SHARED) &&
		    (p->flags & GPUMUX_PART_SHARED))
			continue;
		bitmap_or(out, out, targets ? p->target : p->active,
			  GPUMUX_MAX_CUS);
	}
}

/* Give @p whatever of its target is free.  Returns true if it grew. */
static bool gm_part_grow(struct gm_part *p)
{
	DECLARE_BITMAP(busy, GPUMUX_MAX_CUS);
	DECLARE_BITMAP(add, GPUMUX_MAX_CUS);

	if (!bitmap_andnot(add, p->target, p->active, GPUMUX_MAX_CUS))
		return false;
	gm_conflicts(p->g, p, p->flags, busy, false);
	if (!bitmap_andnot(add, add, busy, GPUMUX_MAX_CUS))
		return false;
	bitmap_or(p->active, p->active, add, GPUMUX_MAX_CUS);
	return true;
}

static void gm_part_free(struct gm_part *p)
{
	list_del(&p->tenant_node);
	list_del(&p->gpu_node);
	kfree(p);
}

/* A partition that holds nothing and wants nothing goes away. */
static void gm_part_free_if_empty(struct gm_part *p)
{
	if (bitmap_empty(p->active, GPUMUX_MAX_CUS) &&
	    bitmap_empty(p->target, GPUMUX_MAX_CUS))
		gm_part_free(p);
}

/* After CUs of @g were released: grow whoever waits for them. */
static void gm_gpu_regrow(struct gm_gpu *g)
{
	struct gm_part *p;

	list_for_each_entry(p, &g->parts, gpu_node) {
		if (!gm_part_grow(p))
			continue;
		gm_part_changed(p);
		gm_ctl_event_simple(GPUMUX_EVENT_PART_GRANTED, p->t->id, g->id,
				    p->generation,
				    bitmap_weight(p->active, GPUMUX_MAX_CUS));
	}
}

/* Drop every partition of @t at once (fence or release). */
static void gm_tenant_drop_parts(struct gm_tenant *t, bool notify)
{
	struct gm_part *p, *tmp;
	struct gm_gpu *gpus[GPUMUX_MAX_GPUS];
	unsigned int n = 0, i;

	list_for_each_entry_safe(p, tmp, &t->parts, tenant_node) {
		bool held = !bitmap_empty(p->active, GPUMUX_MAX_CUS);

		if (notify) {
			bitmap_zero(p->active, GPUMUX_MAX_CUS);
			bitmap_zero(p->target, GPUMUX_MAX_CUS);
			gm_part_changed(p);
		}
		if (held && n < ARRAY_SIZE(gpus))
			gpus[n++] = p->g;
		gm_part_free(p);
	}
	for (i = 0; i < n; i++)
		gm_gpu_regrow(gpus[i]);
}

static void gm_tenant_fence_locked(struct gm_tenant *t, const char *why)
{
	lockdep_assert_held(&gm.lock);
	t->fenced = true;
	atomic64_inc(&gm_cnt.fences);
	trace_gpumux_fence(t->id, why);
	gm_tenant_drop_parts(t, true);
	gm_tenant_event(t, GPUMUX_EVENT_FENCED, 0, 0, t->generation, 1);
}

static int gm_mask_check(const struct gm_gpu *g, const unsigned long *mask)
{
	/* No CU at or past the GPU's count. */
	if (g->cus < GPUMUX_MAX_CUS &&
	    find_next_bit(mask, GPUMUX_MAX_CUS, g->cus) < GPUMUX_MAX_CUS)
		return -EINVAL;
	return 0;
}

int gm_cmd_part_set(struct gm_ctx *c, struct gpumux_part_set *a)
{
	DECLARE_BITMAP(mask, GPUMUX_MAX_CUS);
	DECLARE_BITMAP(busy, GPUMUX_MAX_CUS);
	struct gm_part *p, *it, *fresh = NULL;
	struct gm_tenant *t;
	struct gm_gpu *g;
	bool revoking;
	int ret;

	if (a->flags & ~GPUMUX_PART_SHARED ||
	    !gm_reserved_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;
	bitmap_from_arr64(mask, a->mask, GPUMUX_MAX_CUS);

retry:
	p = NULL;
	ret = gm_lock(c);
	if (ret)
		goto out_free;
	t = gm_tenant_find(a->tenant_id);
	g = gm_gpu_find(a->gpu_id);
	ret = -ENOENT;
	if (!t || !g)
		goto out_unlock;
	ret = gm_mask_check(g, mask);
	if (ret)
		goto out_unlock;
	ret = -EDQUOT;
	if (bitmap_weight(mask, GPUMUX_MAX_CUS) > t->max_cus)
		goto out_unlock;
	ret = -EPERM;
	if (t->fenced && !bitmap_empty(mask, GPUMUX_MAX_CUS))
		goto out_unlock;

	list_for_each_entry(it, &t->parts, tenant_node) {
		if (it->g == g) {
			p = it;
			break;
		}
	}
	ret = -EXDEV;
	if (p && p->flags != a->flags &&
	    !bitmap_empty(p->active, GPUMUX_MAX_CUS))
		goto out_unlock;
	/* The new target may not collide with another partition's target. */
	gm_conflicts(g, p, a->flags, busy, true);
	ret = -EBUSY;
	if (bitmap_intersects(busy, mask, GPUMUX_MAX_CUS))
		goto out_unlock;
	revoking = p && !bitmap_subset(p->active, mask, GPUMUX_MAX_CUS);
	ret = -EINVAL;
	if (revoking &&
	    (!a->deadline_ms || a->deadline_ms > GM_MAX_DEADLINE_MS))
		goto out_unlock;

	ret = 0;
	if (!p) {
		if (bitmap_empty(mask, GPUMUX_MAX_CUS)) {
			/* Nothing held, nothing wanted. */
			a->generation = t->generation;
			goto out_unlock;
		}
		if (!fresh) {
			/* Only a new partition needs memory: get it unlocked. */
			gm_unlock();
			fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
			if (!fresh)
				return -ENOMEM;
			goto retry;
		}
		p = fresh;
		fresh = NULL;
		p->t = t;
		p->g = g;
		list_add_tail(&p->gpu_node, &g->parts);
		/* Keep the tenant's list sorted by GPU id, for LIST. */
		list_for_each_entry(it, &t->parts, tenant_node) {
			if (it->g->id > g->id)
				break;
		}
		list_add_tail(&p->tenant_node, &it->tenant_node);
	}
	p->flags = a->flags;
	bitmap_copy(p->target, mask, GPUMUX_MAX_CUS);
	if (revoking) {
		p->deadline_ns =
			ktime_get_ns() + (u64)a->deadline_ms * NSEC_PER_MSEC;
		if (p->deadline_ns < gm.deadline_next)
			WRITE_ONCE(gm.deadline_next, p->deadline_ns);
		gm_tick_schedule(p->deadline_ns);
	}
	gm_part_grow(p);
	gm_part_changed(p);
	a->generation = p->generation;
	gm_part_free_if_empty(p);
	/* A smaller target may have unblocked someone else's grow. */
	gm_gpu_regrow(g);
out_unlock:
	gm_unlock();
out_free:
	kfree(fresh);
	return ret;
}

int gm_cmd_part_ack(struct gm_ctx *c, struct gpumux_part_ack *a)
{
	struct gm_part *p = NULL, *it;
	struct gm_tenant *t = c->t;
	struct gm_gpu *g;
	int ret;

	if (a->reserved)
		return -EINVAL;
	ret = gm_lock(c);
	if (ret)
		return ret;
	ret = -EPERM;
	if (t->fenced)
		goto out;
	list_for_each_entry(it, &t->parts, tenant_node) {
		if (it->g->id == a->gpu_id) {
			p = it;
			break;
		}
	}
	ret = -ENOENT;
	if (!p)
		goto out;
	ret = -ESTALE;
	if (a->generation != p->generation)
		goto out;
	ret = -EALREADY;
	if (bitmap_subset(p->active, p->target, GPUMUX_MAX_CUS))
		goto out;

	g = p->g;
	bitmap_and(p->active, p->active, p->target, GPUMUX_MAX_CUS);
	gm_part_grow(p);
	gm_part_changed(p);
	gm_ctl_event_simple(GPUMUX_EVENT_PART_ACKED, t->id, g->id,
			    p->generation, 0);
	gm_part_free_if_empty(p);
	gm_gpu_regrow(g);
	ret = 0;
out:
	gm_unlock();
	return ret;
}

/* Fence tenants whose revocation deadline passed; *next gets the earliest
 * deadline still pending (U64_MAX if none).
 */
void gm_deadlines_run(u64 now, u64 *next)
{
	struct gm_tenant *t;
	unsigned long idx;

	*next = U64_MAX;
	mutex_lock(&gm.lock);
	xa_for_each(&gm.tenants, idx, t) {
		struct gm_part *p;
		bool expired = false;

		list_for_each_entry(p, &t->parts, tenant_node) {
			if (bitmap_subset(p->active, p->target, GPUMUX_MAX_CUS))
				continue;
			if (p->deadline_ns <= now) {
				expired = true;
				gm_ctl_event_simple(GPUMUX_EVENT_PART_FENCED,
						    t->id, p->g->id,
						    p->generation, 0);
			} else if (p->deadline_ns < *next) {
				*next = p->deadline_ns;
			}
		}
		if (expired)
			gm_tenant_fence_locked(t, "deadline");
	}
	WRITE_ONCE(gm.deadline_next, *next);
	mutex_unlock(&gm.lock);
}

int gm_cmd_tenant_fence(struct gm_ctx *c, struct gpumux_tenant_fence *a)
{
	struct gm_tenant *t;
	int ret;

	if (a->flags & ~GPUMUX_FENCE_CLEAR)
		return -EINVAL;
	ret = gm_lock(c);
	if (ret)
		return ret;
	t = gm_tenant_find(a->tenant_id);
	if (!t) {
		ret = -ENOENT;
	} else if (a->flags & GPUMUX_FENCE_CLEAR) {
		if (t->fenced) {
			t->fenced = false;
			trace_gpumux_fence(t->id, "cleared");
			gm_tenant_event(t, GPUMUX_EVENT_FENCED, 0, 0,
					t->generation, 0);
		}
	} else if (!t->fenced) {
		gm_tenant_fence_locked(t, "daemon");
	}
	gm_unlock();
	return ret;
}

/* ---- tenants ---- */

static void gm_tenant_free(struct kref *ref)
{
	struct gm_tenant *t = container_of(ref, struct gm_tenant, ref);

	WARN_ON_ONCE(atomic64_read(&t->pinned_used));
	gm_evq_destroy(&t->evq);
	put_pid(t->creator);
	kfree(t);
	atomic_dec(&gm_cnt.tenants);
}

void gm_tenant_put(struct gm_tenant *t)
{
	kref_put(&t->ref, gm_tenant_free);
}

int gm_cmd_tenant_create(struct gm_ctx *c, struct gpumux_tenant_create *a)
{
	struct gm_tenant *t;
	struct file *file;
	int flags, fd, ret;

	if (a->flags & ~GPUMUX_TENANT_CLOEXEC || a->max_cus > GPUMUX_MAX_CUS ||
	    !gm_valid_str(a->name, sizeof(a->name)) ||
	    !gm_reserved_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	atomic_inc(&gm_cnt.tenants);
	kref_init(&t->ref);
	strscpy(t->name, a->name, sizeof(t->name));
	t->max_cus = a->max_cus;
	t->pinned_quota = a->pinned_quota;
	t->creator = get_pid(task_tgid(current));
	t->creator_uid = current_uid();
	INIT_LIST_HEAD(&t->parts);
	INIT_LIST_HEAD(&t->bufs);
	INIT_LIST_HEAD(&t->grants);
	ret = gm_evq_init(&t->evq, GM_TENANT_EVQ_LEN);
	if (ret)
		goto err_put;

	flags = O_RDWR;
	if (a->flags & GPUMUX_TENANT_CLOEXEC)
		flags |= O_CLOEXEC;
	fd = get_unused_fd_flags(flags);
	if (fd < 0) {
		ret = fd;
		goto err_put;
	}

	/*
	 * The file (and its inode) first: once the tenant is in the ledger,
	 * other commands may grant to it or revoke from it.  The file takes
	 * over the reference kref_init() gave us.
	 */
	file = gm_tenant_file(t);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		put_unused_fd(fd);
		goto err_put;
	}

	mutex_lock(&gm.lock);
	ret = -ENOSPC;
	if (gm.nr_tenants < gm_max_tenants)
		ret = xa_alloc_cyclic(&gm.tenants, &t->id, t,
				      XA_LIMIT(1, INT_MAX), &gm.next_tenant,
				      GFP_KERNEL);
	if (ret < 0) {
		/* Never published: its release has nothing to undo. */
		t->gone = true;
		mutex_unlock(&gm.lock);
		fput(file);
		put_unused_fd(fd);
		return ret == -EBUSY ? -ENOSPC : ret;
	}
	gm.nr_tenants++;
	mutex_unlock(&gm.lock);

	a->tenant_id = t->id;
	a->fd = fd;
	c->new_fd = fd;
	c->new_file = file;
	return 0;

err_put:
	gm_tenant_put(t);
	return ret;
}

/* The tenant file's last reference is gone: the lease ends. */
void gm_tenant_release(struct gm_tenant *t)
{
	struct gm_grant *gr, *tmp;

	mutex_lock(&gm.lock);
	if (!t->gone) {
		t->gone = true;
		xa_erase(&gm.tenants, t->id);
		gm.nr_tenants--;
		gm_tenant_drop_parts(t, false);
		list_for_each_entry_safe(gr, tmp, &t->grants, tenant_node)
			gm_grant_unlink(gr);
		gm_tenant_drop_buffers(t);
		gm_ctl_event_simple(GPUMUX_EVENT_TENANT_GONE, t->id, 0,
				    t->generation, 0);
	}
	mutex_unlock(&gm.lock);
	gm_tenant_put(t);
}

/* ---- listing ---- */

static void gm_tenant_fill_info(const struct gm_tenant *t,
				struct gpumux_tenant_info *o)
{
	memset(o, 0, sizeof(*o));
	o->tenant_id = t->id;
	o->flags = t->fenced ? GPUMUX_TENANT_FENCED : 0;
	strscpy(o->name, t->name, sizeof(o->name));
	o->max_cus = t->max_cus;
	o->nr_buffers = t->nr_buffers;
	o->pinned_quota = t->pinned_quota;
	o->pinned_used = atomic64_read(&t->pinned_used);
	o->creator_pid = pid_vnr(t->creator);
	o->creator_uid = from_kuid_munged(current_user_ns(), t->creator_uid);
}

static void gm_gpu_fill_info(const struct gm_gpu *g, struct gpumux_gpu_info *o)
{
	DECLARE_BITMAP(excl, GPUMUX_MAX_CUS);
	DECLARE_BITMAP(shared, GPUMUX_MAX_CUS);
	const struct gm_part *p;

	bitmap_zero(excl, GPUMUX_MAX_CUS);
	bitmap_zero(shared, GPUMUX_MAX_CUS);
	list_for_each_entry(p, &g->parts, gpu_node)
		bitmap_or(p->flags & GPUMUX_PART_SHARED ? shared : excl,
			  p->flags & GPUMUX_PART_SHARED ? shared : excl,
			  p->active, GPUMUX_MAX_CUS);
	bitmap_andnot(shared, shared, excl, GPUMUX_MAX_CUS);
	memset(o, 0, sizeof(*o));
	o->gpu_id = g->id;
	o->cus = g->cus;
	o->vram_bytes = g->vram;
	strscpy(o->ident, g->ident, sizeof(o->ident));
	o->cus_exclusive = bitmap_weight(excl, GPUMUX_MAX_CUS);
	o->cus_shared = bitmap_weight(shared, GPUMUX_MAX_CUS);
}

static const size_t gm_list_entry_size[] = {
	[GPUMUX_LIST_GPUS] = sizeof(struct gpumux_gpu_info),
	[GPUMUX_LIST_TENANTS] = sizeof(struct gpumux_tenant_info),
	[GPUMUX_LIST_PARTITIONS] = sizeof(struct gpumux_part_info),
	[GPUMUX_LIST_BUFFERS] = sizeof(struct gpumux_buf_info),
	[GPUMUX_LIST_GRANTS] = sizeof(struct gpumux_grant_info),
};

/* Is @t (a tenant file's tenant, or NULL for control) allowed to see @b? */
static bool gm_buf_visible(const struct gm_buf *b, const struct gm_tenant *t)
{
	const struct gm_grant *gr;

	if (!t || b->owner == t)
		return true;
	list_for_each_entry(gr, &b->grants, buf_node)
		if (gr->t == t)
			return true;
	return false;
}

/* Fill @out (room for @cap entries) under gm.lock; see GPUMUX_CMD_LIST. */
static int gm_list_fill(struct gm_ctx *c, struct gpumux_list *a, void *out,
			u32 cap)
{
	u8 *dst = out;
	size_t esz = gm_list_entry_size[a->kind];
	unsigned long idx;
	u32 n = 0, total = 0;

	switch (a->kind) {
	case GPUMUX_LIST_GPUS: {
		struct gm_gpu *g;

		xa_for_each_start(&gm.gpus, idx, g, a->start_id) {
			if (n < cap)
				gm_gpu_fill_info(g, (void *)(dst + n++ * esz));
			total++;
		}
		break;
	}
	case GPUMUX_LIST_TENANTS: {
		struct gm_tenant *t;

		xa_for_each_start(&gm.tenants, idx, t, a->start_id) {
			if (c->t && c->t != t)
				continue;
			if (n < cap)
				gm_tenant_fill_info(t,
						    (void *)(dst + n++ * esz));
			total++;
		}
		break;
	}
	case GPUMUX_LIST_PARTITIONS: {
		struct gm_tenant *t;
		bool full = false;

		xa_for_each_start(&gm.tenants, idx, t, a->start_id) {
			struct gm_part *p;
			u32 k = 0;

			if (c->t && c->t != t)
				continue;
			list_for_each_entry(p, &t->parts, tenant_node)
				k++;
			total += k;
			if (full || n + k > cap) {
				/* Whole tenants only: the rest next call. */
				if (!n && k && cap)
					return -EOVERFLOW;
				full = true;
				continue;
			}
			list_for_each_entry(p, &t->parts, tenant_node)
				gm_part_fill_info(p, (void *)(dst + n++ * esz));
		}
		break;
	}
	case GPUMUX_LIST_BUFFERS: {
		struct gm_buf *b;

		xa_for_each_start(&gm.bufs, idx, b, a->start_id) {
			if (!gm_buf_visible(b, c->t))
				continue;
			if (n < cap)
				gm_buf_fill_info(b, c->t,
						 (void *)(dst + n++ * esz));
			total++;
		}
		break;
	}
	case GPUMUX_LIST_GRANTS: {
		struct gm_buf *b;
		struct gm_grant *gr;

		xa_for_each_start(&gm.bufs, idx, b, a->start_id) {
			list_for_each_entry(gr, &b->grants, buf_node) {
				struct gpumux_grant_info *o;

				if (c->t && gr->t != c->t)
					continue;
				total++;
				if (n >= cap)
					continue;
				o = (void *)(dst + n++ * esz);
				o->buf_id = b->id;
				o->owner_id = b->owner->id;
				o->tenant_id = gr->t->id;
				o->access = gr->access;
			}
		}
		break;
	}
	}
	a->count = n;
	a->total = total;
	return 0;
}

int gm_cmd_list(struct gm_ctx *c, struct gpumux_list *a)
{
	void *out = NULL;
	u32 cap;
	int ret;

	if (!a->kind || a->kind >= ARRAY_SIZE(gm_list_entry_size) ||
	    a->entry_size != gm_list_entry_size[a->kind] ||
	    !gm_reserved_zero(a->reserved, sizeof(a->reserved)))
		return -EINVAL;
	if (a->kind == GPUMUX_LIST_GPUS && c->t)
		return -EPERM;
	cap = min_t(u32, a->capacity, GM_LIST_MAX);
	if (cap) {
		out = kvcalloc(cap, a->entry_size, GFP_KERNEL);
		if (!out)
			return -ENOMEM;
	}
	ret = gm_lock(c);
	if (ret)
		goto out;
	ret = gm_list_fill(c, a, out, cap);
	gm_unlock();
	if (!ret && a->count &&
	    copy_to_user(u64_to_user_ptr(a->addr), out,
			 (size_t)a->count * a->entry_size))
		ret = -EFAULT;
out:
	kvfree(out);
	return ret;
}

void gm_ledger_destroy(void)
{
	struct gm_gpu *g;
	unsigned long idx;

	/* Tenants hold module references: none can be left here. */
	WARN_ON_ONCE(!xa_empty(&gm.tenants));
	xa_for_each(&gm.gpus, idx, g) {
		xa_erase(&gm.gpus, idx);
		kfree(g);
	}
	xa_destroy(&gm.gpus);
	xa_destroy(&gm.tenants);
	xa_destroy(&gm.bufs);
}
