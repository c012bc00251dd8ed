// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: event queues, and uring_cmd event fetches that wait for them.
 *
 * Each control file and each tenant has a bounded queue.  When it fills,
 * its last slot becomes a GPUMUX_EVENT_OVERFLOW event counting what was
 * dropped, so a reader learns that it must list the ledger again.
 *
 * A GPUMUX_CMD_EVENT_FETCH issued by uring_cmd on an empty queue is parked
 * on gm_pending_list and completed (in the issuer's task, where its buffer
 * can be written) when an event arrives.  On 6.1 io_uring cannot cancel a
 * command a driver holds, so a task that exits or a ring that is torn down
 * with one parked would wait for it forever: the monitor (run from the
 * tick work every GM_MONITOR_MS while anything is parked) completes such
 * commands with -ECANCELED, as ublk's monitor does.  No event is lost by
 * that: events leave the queue only once copied to the reader.
 */
#include <linux/io_uring_types.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "gpumux.h"

/* A parked fetch, kept in the command's pdu. */
struct gm_pending {
	struct list_head node; /* gm_pending_list */
	struct gm_evq *q;
	u64 uaddr; /* the user's struct gpumux_event_fetch */
};

static LIST_HEAD(gm_pending_list);
static DEFINE_SPINLOCK(gm_pending_lock); /* protects gm_pending_list */

static inline struct gm_pending *gm_pdu(struct io_uring_cmd *ioucmd)
{
	BUILD_BUG_ON(sizeof(struct gm_pending) > sizeof(ioucmd->pdu));
	return (struct gm_pending *)ioucmd->pdu;
}

static inline struct io_uring_cmd *gm_pdu_cmd(struct gm_pending *p)
{
	return container_of((void *)p, struct io_uring_cmd, pdu);
}

int gm_evq_init(struct gm_evq *q, unsigned int size)
{
	q->ring = kvcalloc(size, sizeof(*q->ring), GFP_KERNEL_ACCOUNT);
	if (!q->ring)
		return -ENOMEM;
	q->size = size;
	q->head = 0;
	q->len = 0;
	spin_lock_init(&q->lock);
	mutex_init(&q->read_mutex);
	init_waitqueue_head(&q->wait);
	return 0;
}

void gm_evq_destroy(struct gm_evq *q)
{
	kvfree(q->ring);
	q->ring = NULL;
	mutex_destroy(&q->read_mutex);
}

/* Complete parked fetches on @q in their tasks; they pop the events. */
static void gm_wake_pending(struct gm_evq *q);

void gm_evq_push(struct gm_evq *q, const struct gpumux_event *ev)
{
	unsigned long flags;
	struct gpumux_event *slot;

	spin_lock_irqsave(&q->lock, flags);
	if (q->len == q->size) {
		/* Full: the last slot is the overflow event; count one more. */
		slot = &q->ring[(q->head + q->len - 1) % q->size];
		slot->arg++;
		atomic64_inc(&gm_cnt.events_dropped);
	} else {
		slot = &q->ring[(q->head + q->len) % q->size];
		q->len++;
		*slot = *ev;
		if (q->len == q->size) {
			/* This one took the last slot: it becomes the marker. */
			memset(slot, 0, sizeof(*slot));
			slot->type = GPUMUX_EVENT_OVERFLOW;
			slot->arg = 1;
			slot->timestamp_ns = ev->timestamp_ns;
			atomic64_inc(&gm_cnt.events_dropped);
		}
	}
	spin_unlock_irqrestore(&q->lock, flags);

	wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM);
	gm_wake_pending(q);
}

/* Called with gm.lock held: every open control file gets the event. */
void gm_ctl_event(const struct gpumux_event *ev)
{
	struct gm_ctl *ctl;

	lockdep_assert_held(&gm.lock);
	list_for_each_entry(ctl, &gm.ctls, node)
		gm_evq_push(&ctl->evq, ev);
}

void gm_tenant_event(struct gm_tenant *t, u32 type, u32 gpu_id, u32 buf_id,
		     u64 generation, u64 arg)
{
	struct gpumux_event ev = {
		.type = type,
		.tenant_id = t->id,
		.gpu_id = gpu_id,
		.buf_id = buf_id,
		.generation = generation,
		.arg = arg,
		.timestamp_ns = ktime_get_ns(),
	};

	gm_evq_push(&t->evq, &ev);
}

static bool gm_evq_empty(struct gm_evq *q)
{
	unsigned long flags;
	bool empty;

	spin_lock_irqsave(&q->lock, flags);
	empty = q->len == 0;
	spin_unlock_irqrestore(&q->lock, flags);
	return empty;
}

/*
 * Copy up to @max events to @dst, popping each only once it is copied.
 * Returns the number copied, or -EFAULT if not even the first one could be.
 * Caller holds q->read_mutex (so nobody else pops) and may sleep.
 */
static int gm_evq_pop_to_user(struct gm_evq *q, struct gpumux_event __user *dst,
			      unsigned int max)
{
	struct gpumux_event ev;
	unsigned long flags;
	unsigned int n;

	lockdep_assert_held(&q->read_mutex);
	for (n = 0; n < max; n++) {
		spin_lock_irqsave(&q->lock, flags);
		if (!q->len) {
			spin_unlock_irqrestore(&q->lock, flags);
			break;
		}
		ev = q->ring[q->head];
		spin_unlock_irqrestore(&q->lock, flags);

		if (copy_to_user(&dst[n], &ev, sizeof(ev)))
			return n ? n : -EFAULT;

		/*
		 * Only readers pop and writers only touch the tail (an overflow
		 * marker grows only while the queue is full, so never at the
		 * head): the slot copied is still the head.
		 */
		spin_lock_irqsave(&q->lock, flags);
		q->head = (q->head + 1) % q->size;
		q->len--;
		spin_unlock_irqrestore(&q->lock, flags);
	}
	return n;
}

/* Pop into @dst, waiting for an event unless @nonblock. */
static int gm_evq_wait_pop(struct gm_evq *q, struct gpumux_event __user *dst,
			   unsigned int max, bool nonblock)
{
	int ret;

	for (;;) {
		if (nonblock) {
			if (!mutex_trylock(&q->read_mutex))
				return -EAGAIN;
		} else if (mutex_lock_interruptible(&q->read_mutex)) {
			return -EINTR;
		}
		ret = gm_evq_pop_to_user(q, dst, max);
		mutex_unlock(&q->read_mutex);
		if (ret)
			return ret;
		if (nonblock)
			return -EAGAIN;
		if (wait_event_interruptible(q->wait, !gm_evq_empty(q)))
			return -EINTR;
	}
}

ssize_t gm_evq_read(struct gm_evq *q, char __user *buf, size_t count,
		    bool nonblock)
{
	size_t max = count / sizeof(struct gpumux_event);
	int ret;

	if (!max)
		return -EINVAL;
	ret = gm_evq_wait_pop(q, (struct gpumux_event __user *)buf,
			      min_t(size_t, max, INT_MAX), nonblock);
	return ret < 0 ? ret : (ssize_t)ret * sizeof(struct gpumux_event);
}

__poll_t gm_evq_poll(struct gm_evq *q, struct file *file, poll_table *pt)
{
	poll_wait(file, &q->wait, pt);
	return gm_evq_empty(q) ? 0 : EPOLLIN | EPOLLRDNORM;
}

struct gm_evq *gm_ctx_evq(struct gm_ctx *c)
{
	return c->ctl ? &c->ctl->evq : &c->t->evq;
}

static int gm_fetch_check(const struct gpumux_event_fetch *a)
{
	if (a->reserved[0] || a->reserved[1] || !a->capacity)
		return -EINVAL;
	return 0;
}

/* GPUMUX_CMD_EVENT_FETCH through ioctl: like read(). */
int gm_cmd_event_fetch(struct gm_ctx *c, struct gpumux_event_fetch *a)
{
	int ret = gm_fetch_check(a);

	if (ret)
		return ret;
	ret = gm_evq_wait_pop(gm_ctx_evq(c), u64_to_user_ptr(a->addr),
			      min_t(u32, a->capacity, INT_MAX),
			      c->file->f_flags & O_NONBLOCK);
	if (ret < 0)
		return ret;
	a->count = ret;
	return ret;
}

/*
 * Deliver to the user's struct: read it again (the caller's memory, in the
 * caller's task), pop events to its array and write the count.  Returns the
 * count, 0 when the queue was empty, or -errno.
 */
static int gm_fetch_deliver(struct gm_evq *q, u64 uaddr, bool nonblock)
{
	struct gpumux_event_fetch __user *up = u64_to_user_ptr(uaddr);
	struct gpumux_event_fetch a;
	int ret;

	if (copy_from_user(&a, up, sizeof(a)))
		return -EFAULT;
	ret = gm_fetch_check(&a);
	if (ret)
		return ret;
	/* Events popped are gone: make sure the count can be written first. */
	if (put_user(0U, &up->count))
		return -EFAULT;
	if (nonblock) {
		if (!mutex_trylock(&q->read_mutex))
			return -EAGAIN;
	} else if (mutex_lock_killable(&q->read_mutex)) {
		return -EINTR;
	}
	ret = gm_evq_pop_to_user(q, u64_to_user_ptr(a.addr),
				 min_t(u32, a.capacity, INT_MAX));
	mutex_unlock(&q->read_mutex);
	if (ret > 0 && put_user((u32)ret, &up->count))
		return -EFAULT;
	return ret;
}

/* Park @ioucmd unless @q has events; called with nothing held. */
static bool gm_park(struct io_uring_cmd *ioucmd, struct gm_evq *q, u64 uaddr)
{
	struct gm_pending *p = gm_pdu(ioucmd);
	unsigned long flags;
	bool parked = false;

	/*
	 * Check and park under q->lock: gm_evq_push() queues under it before
	 * it looks for parked commands, so an event is never missed.
	 */
	spin_lock_irqsave(&q->lock, flags);
	if (!q->len) {
		p->q = q;
		p->uaddr = uaddr;
		spin_lock(&gm_pending_lock);
		list_add_tail(&p->node, &gm_pending_list);
		spin_unlock(&gm_pending_lock);
		atomic_inc(&gm_cnt.pending_cmds);
		parked = true;
	}
	spin_unlock_irqrestore(&q->lock, flags);
	if (parked)
		gm_tick_schedule(0);
	return parked;
}

/*
 * Will @task never reap a parked command?  True when it exits, when it is
 * a kworker running io_uring's fallback work, and during exec (which waits
 * for the task's io_uring requests).  Reads of another task's flags race;
 * the next tick looks again.
 */
static bool gm_task_gone(struct task_struct *task)
{
	return (task->flags & (PF_EXITING | PF_KTHREAD)) || task->in_execve;
}

/* Task work: runs in the issuer's task (or a kworker if it is exiting). */
static void gm_fetch_tw(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	struct gm_pending *p = gm_pdu(ioucmd);
	int ret;

	if (gm_task_gone(current)) {
		io_uring_cmd_done(ioucmd, -ECANCELED, 0, issue_flags);
		return;
	}
	for (;;) {
		ret = gm_fetch_deliver(p->q, p->uaddr, false);
		if (ret)
			break;
		/* Another reader took them: wait for the next one. */
		if (gm_park(ioucmd, p->q, p->uaddr))
			return;
	}
	io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
}

static void gm_wake_pending(struct gm_evq *q)
{
	struct gm_pending *p, *tmp;
	LIST_HEAD(ready);
	unsigned long flags;

	spin_lock_irqsave(&gm_pending_lock, flags);
	list_for_each_entry_safe(p, tmp, &gm_pending_list, node) {
		if (p->q == q)
			list_move_tail(&p->node, &ready);
	}
	spin_unlock_irqrestore(&gm_pending_lock, flags);

	list_for_each_entry_safe(p, tmp, &ready, node) {
		list_del_init(&p->node);
		atomic_dec(&gm_cnt.pending_cmds);
		io_uring_cmd_complete_in_task(gm_pdu_cmd(p), gm_fetch_tw);
	}
}

/* GPUMUX_CMD_EVENT_FETCH through uring_cmd. */
int gm_uring_event_fetch(struct io_uring_cmd *ioucmd, struct gm_evq *q,
			 u64 uaddr, unsigned int issue_flags)
{
	int ret;

	for (;;) {
		ret = gm_fetch_deliver(q, uaddr,
				       issue_flags & IO_URING_F_NONBLOCK);
		if (ret > 0) {
			/*
			 * 6.1's io_uring treats a positive return from
			 * ->uring_cmd as a failure inline and never completes
			 * it from io-wq: complete it ourselves.
			 */
			io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
			return -EIOCBQUEUED;
		}
		if (ret)
			return ret;
		if (gm_park(ioucmd, q, uaddr))
			return -EIOCBQUEUED;
	}
}

bool gm_have_pending(void)
{
	return atomic_read(&gm_cnt.pending_cmds) > 0;
}

/* Complete parked fetches whose task exits or whose ring is going away. */
void gm_monitor_pending(void)
{
	struct gm_pending *p, *tmp;
	LIST_HEAD(dead);
	unsigned long flags;

	spin_lock_irqsave(&gm_pending_lock, flags);
	list_for_each_entry_safe(p, tmp, &gm_pending_list, node) {
		struct io_kiocb *req = cmd_to_io_kiocb(gm_pdu_cmd(p));

		if (gm_task_gone(req->task) ||
		    percpu_ref_is_dying(&req->ctx->refs))
			list_move_tail(&p->node, &dead);
	}
	spin_unlock_irqrestore(&gm_pending_lock, flags);

	list_for_each_entry_safe(p, tmp, &dead, node) {
		list_del_init(&p->node);
		atomic_dec(&gm_cnt.pending_cmds);
		io_uring_cmd_done(gm_pdu_cmd(p), -ECANCELED, 0,
				  IO_URING_F_UNLOCKED);
	}
}
