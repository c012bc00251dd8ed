/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux: internal definitions shared by the module's files.
 *
 * Locking, outermost first:
 *   evq->read_mutex    readers of one event queue (held while copying
 *                      events to user memory, so outside mmap_lock)
 *   mmap_lock (taken by the mm core around mmap, fault and munmap)
 *   gm.lock            the ledger: GPUs, tenants, partitions, buffers, grants
 *   gm_revoke_rwsem    a grant's revocation against faults on its mappings
 *   i_mmap_rwsem       (unmap_mapping_range, when a grant is revoked)
 *   evq->lock          one event queue's ring
 *   gm_pending_lock    the list of pending uring_cmd event fetches
 *
 * Never copy to or from user memory with gm.lock held: a fault would take
 * mmap_lock inside gm.lock, the reverse of the mmap and fault paths.
 *
 * Lifetimes: a tenant's file is its lease.  The struct gm_tenant is
 * reference counted: its file holds one reference and each of its buffers
 * holds one (a freed-but-mapped buffer stays charged to its owner).  A
 * buffer is reference counted: its owner's handle (until BUF_FREE or the
 * owner's release), each live grant and each mapping hold one.
 */
#ifndef GPUMUX_INTERNAL_H
#define GPUMUX_INTERNAL_H

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <linux/gpumux.h>

#include "compat.h"

#define GM_MAX_GPUS 64
#define GM_MAX_BUFS_PER_TENANT 4096
#define GM_MAX_GRANTS 65536
#define GM_MAX_DEADLINE_MS 600000
#define GM_LIST_MAX 1024 /* entries one GPUMUX_CMD_LIST call returns */
#define GM_CTL_EVQ_LEN 4096
#define GM_TENANT_EVQ_LEN 256
/* mmap offsets: buffer id in the bits above GM_BUF_OFFSET_SHIFT. */
#define GM_BUF_OFFSET_SHIFT 40
#define GM_BUF_MAX_ID ((1U << 20) - 1)
#define GM_BUF_PGOFF_SHIFT (GM_BUF_OFFSET_SHIFT - PAGE_SHIFT)
/* How often pending event fetches are checked for a dead issuer. */
#define GM_MONITOR_MS 100

/* One queue of events: per control file and per tenant. */
struct gm_evq {
	spinlock_t lock; /* protects ring, head, len */
	struct gpumux_event *ring;
	unsigned int size; /* entries in ring */
	unsigned int head; /* oldest entry */
	unsigned int len; /* entries queued */
	struct mutex read_mutex; /* one reader at a time pops */
	wait_queue_head_t wait; /* read() and poll() */
};

struct gm_gpu {
	u32 id;
	u32 cus;
	u64 vram;
	char ident[GPUMUX_IDENT_LEN];
	struct list_head parts; /* gm_part.gpu_node */
};

struct gm_tenant {
	struct kref ref;
	u32 id;
	u32 max_cus;
	u64 pinned_quota;
	atomic64_t pinned_used; /* bytes charged: live and freed-but-mapped */
	char name[GPUMUX_NAME_LEN];
	struct pid *creator; /* thread group that created it */
	kuid_t creator_uid;
	/* Below: protected by gm.lock. */
	bool gone; /* file released: no longer in the ledger */
	bool fenced;
	u64 generation; /* bumped on every change of any partition */
	u32 nr_buffers; /* live buffers (not freed) */
	struct list_head parts; /* gm_part.tenant_node, by gpu id */
	struct list_head bufs; /* gm_buf.tenant_node, live buffers */
	struct list_head grants; /* gm_grant.tenant_node, grants to it */
	struct inode *inode; /* its own, so its mappings can be zapped */
	struct gm_evq evq;
};

struct gm_part {
	struct gm_tenant *t;
	struct gm_gpu *g;
	struct list_head tenant_node;
	struct list_head gpu_node;
	u32 flags; /* GPUMUX_PART_SHARED or 0 */
	u64 generation; /* the tenant's generation at the last change */
	u64 deadline_ns; /* while revoking */
	DECLARE_BITMAP(active, GPUMUX_MAX_CUS);
	DECLARE_BITMAP(target, GPUMUX_MAX_CUS);
};

struct gm_buf {
	struct kref ref;
	u32 id;
	u64 size;
	unsigned long nr_pages;
	struct page **pages; /* nr_pages, each pinned and zeroed */
	struct gm_tenant *owner; /* holds a reference, for accounting */
	/* Below: protected by gm.lock. */
	bool live; /* in gm.bufs: not freed by its owner */
	struct list_head tenant_node; /* owner's bufs, while live */
	struct list_head grants; /* gm_grant.buf_node */
	u32 nr_grants;
};

struct gm_grant {
	struct kref ref; /* the ledger's (while live) and each mapping's */
	struct gm_buf *buf; /* holds a reference */
	struct gm_tenant *t; /* grantee: valid while live */
	u32 access; /* GPUMUX_ACCESS_* */
	bool live; /* protected by gm.lock */
	bool revoked; /* set once under gm_revoke_rwsem: mappings SIGBUS */
	struct list_head buf_node;
	struct list_head tenant_node;
};

/* What a file is. */
struct gm_ctl {
	struct gm_evq evq;
	struct list_head node; /* gm.ctls */
};

struct gm_state {
	struct mutex lock; /* the ledger; see the top of this file */
	struct xarray gpus; /* id -> gm_gpu */
	struct xarray tenants; /* id -> gm_tenant, live ones */
	struct xarray bufs; /* id -> gm_buf, live ones */
	u32 next_gpu, next_tenant, next_buf; /* cyclic id allocation */
	u32 nr_gpus;
	u32 nr_tenants;
	u32 nr_grants;
	struct list_head ctls; /* open control files, for events */
	struct delayed_work tick; /* deadlines and the pending-fetch monitor */
	u64 deadline_next; /* earliest revocation deadline (or earlier) */
	atomic64_t pinned_used; /* all tenants, bytes */
	u64 pinned_limit;
};

extern struct gm_state gm;

/* Leak and activity counters, shown in debugfs. */
struct gm_counters {
	atomic_t tenants; /* gm_tenant objects allocated */
	atomic_t buffers; /* gm_buf objects allocated */
	atomic_long_t pages; /* pinned pages allocated */
	atomic_t grants; /* gm_grant objects allocated */
	atomic_t pending_cmds; /* uring_cmd event fetches held */
	atomic64_t events_dropped;
	atomic64_t ops_ioctl;
	atomic64_t ops_uring;
	atomic64_t fences;
};

extern struct gm_counters gm_cnt;
extern unsigned int gm_max_tenants;
extern const struct file_operations gm_tenant_fops;

/* Who issued a command. */
struct gm_ctx {
	struct file *file;
	struct gm_ctl *ctl; /* set for the control file */
	struct gm_tenant *t; /* set for a tenant file */
	unsigned int issue_flags; /* io_uring issue flags; 0 for ioctl */
	bool uring;
	/* TENANT_CREATE: fd reserved and file made, installed after copy-out */
	int new_fd;
	struct file *new_file;
};

static inline bool gm_nonblock(const struct gm_ctx *c)
{
	return c->uring && (c->issue_flags & IO_URING_F_NONBLOCK);
}

/* Take gm.lock; when issued non-blocking, only if it is free. */
static inline int gm_lock(const struct gm_ctx *c)
{
	if (gm_nonblock(c)) {
		if (!mutex_trylock(&gm.lock))
			return -EAGAIN;
		return 0;
	}
	mutex_lock(&gm.lock);
	return 0;
}

static inline void gm_unlock(void)
{
	mutex_unlock(&gm.lock);
}

/* ledger.c */
int gm_cmd_gpu_add(struct gm_ctx *c, struct gpumux_gpu_add *a);
int gm_cmd_gpu_remove(struct gm_ctx *c, struct gpumux_gpu_remove *a);
int gm_cmd_tenant_create(struct gm_ctx *c, struct gpumux_tenant_create *a);
int gm_cmd_tenant_fence(struct gm_ctx *c, struct gpumux_tenant_fence *a);
int gm_cmd_part_set(struct gm_ctx *c, struct gpumux_part_set *a);
int gm_cmd_part_ack(struct gm_ctx *c, struct gpumux_part_ack *a);
int gm_cmd_list(struct gm_ctx *c, struct gpumux_list *a);
void gm_tenant_release(struct gm_tenant *t);
void gm_tenant_put(struct gm_tenant *t);
void gm_deadlines_run(u64 now, u64 *next);
void gm_ledger_destroy(void);
void gm_part_fill_info(const struct gm_part *p, struct gpumux_part_info *o);
const char *gm_part_state_name(const struct gm_part *p);

/* buffer.c */
int gm_cmd_buf_alloc(struct gm_ctx *c, struct gpumux_buf_alloc *a);
int gm_cmd_buf_free(struct gm_ctx *c, struct gpumux_buf_free *a);
int gm_cmd_grant(struct gm_ctx *c, struct gpumux_grant *a);
int gm_cmd_grant_revoke(struct gm_ctx *c, struct gpumux_grant_revoke *a);
int gm_tenant_mmap(struct gm_tenant *t, struct vm_area_struct *vma);
void gm_tenant_drop_buffers(struct gm_tenant *t);
void gm_buf_fill_info(const struct gm_buf *b, const struct gm_tenant *viewer,
		      struct gpumux_buf_info *o);
struct file *gm_tenant_file(struct gm_tenant *t);
void gm_tenant_file_released(void);
void gm_grant_unlink(struct gm_grant *gr);

/* events.c */
int gm_evq_init(struct gm_evq *q, unsigned int size);
void gm_evq_destroy(struct gm_evq *q);
void gm_evq_push(struct gm_evq *q, const struct gpumux_event *ev);
void gm_ctl_event(const struct gpumux_event *ev);
void gm_tenant_event(struct gm_tenant *t, u32 type, u32 gpu_id, u32 buf_id,
		     u64 generation, u64 arg);
ssize_t gm_evq_read(struct gm_evq *q, char __user *buf, size_t count,
		    bool nonblock);
__poll_t gm_evq_poll(struct gm_evq *q, struct file *file, poll_table *pt);
struct gm_evq *gm_ctx_evq(struct gm_ctx *c);
int gm_cmd_event_fetch(struct gm_ctx *c, struct gpumux_event_fetch *a);
int gm_uring_event_fetch(struct io_uring_cmd *ioucmd, struct gm_evq *q,
			 u64 uaddr, unsigned int issue_flags);
void gm_monitor_pending(void);
bool gm_have_pending(void);
void gm_tick_schedule(u64 deadline_ns);

/* debugfs.c */
void gm_debugfs_init(void);
void gm_debugfs_exit(void);

#endif /* GPUMUX_INTERNAL_H */
