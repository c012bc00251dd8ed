// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: the arbiter of GPU compute units and pinned host memory.
 *
 * /dev/gpumux is the control file; tenant files come from
 * GPUMUX_CMD_TENANT_CREATE.  Both take the commands of
 * <linux/gpumux.h> through ioctl() and IORING_OP_URING_CMD, served by one
 * dispatch function.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "gpumux.h"

#define CREATE_TRACE_POINTS
#include "gpumux_trace.h"

struct gm_state gm;
struct gm_counters gm_cnt;

unsigned int gm_max_tenants = 4096;
module_param_named(max_tenants, gm_max_tenants, uint, 0644);
MODULE_PARM_DESC(max_tenants, "Most tenants that may exist at once");

static unsigned long long gm_pinned_limit_param;
module_param_named(pinned_limit, gm_pinned_limit_param, ullong, 0444);
MODULE_PARM_DESC(pinned_limit, "Pinned bytes for all tenants (0: RAM/4)");

/*
 * Which file takes a command (GM_CTL, GM_TEN); GM_SLOW: it allocates a lot
 * or sleeps, so it never runs inline on a non-blocking io_uring issue;
 * GM_OUT: it has fields the kernel writes back; GM_QUERY: it changes
 * nothing, so the struct need not be known writable before it runs.
 */
#define GM_CTL BIT(0)
#define GM_TEN BIT(1)
#define GM_SLOW BIT(2)
#define GM_OUT BIT(3)
#define GM_QUERY BIT(4)

struct gm_cmd_desc {
	unsigned int op;
	u8 flags;
	int (*fn)(struct gm_ctx *c, void *arg);
};

static int gm_cmd_get_info(struct gm_ctx *c, struct gpumux_info *a)
{
	if (memchr_inv(a->reserved, 0, sizeof(a->reserved)))
		return -EINVAL;
	a->version = GPUMUX_VERSION;
	a->file_kind = c->ctl ? GPUMUX_FILE_CONTROL : GPUMUX_FILE_TENANT;
	a->features = GPUMUX_F_URING_CMD | GPUMUX_F_EVENTS |
		      GPUMUX_F_SHARED_PARTITIONS | GPUMUX_F_GRANTS |
		      GPUMUX_F_LIST | GPUMUX_F_FENCE;
	a->max_cus = GPUMUX_MAX_CUS;
	a->max_gpus = GPUMUX_MAX_GPUS;
	a->max_tenants = READ_ONCE(gm_max_tenants);
	a->tenant_id = c->t ? c->t->id : 0;
	a->pinned_limit = READ_ONCE(gm.pinned_limit);
	a->pinned_used = atomic64_read(&gm.pinned_used);
	/* Racy snapshots, fine for a report. */
	a->nr_gpus = READ_ONCE(gm.nr_gpus);
	a->nr_tenants = READ_ONCE(gm.nr_tenants);
	return 0;
}

#define GM_CMD(nr, cmd, fl, handler) \
	[nr] = { .op = (cmd),        \
		 .flags = (fl),      \
		 .fn = (int (*)(struct gm_ctx *, void *))(handler) }

static const struct gm_cmd_desc gm_cmds[] = {
	GM_CMD(0x00, GPUMUX_CMD_GET_INFO, GM_CTL | GM_TEN | GM_OUT | GM_QUERY,
	       gm_cmd_get_info),
	GM_CMD(0x01, GPUMUX_CMD_GPU_ADD, GM_CTL | GM_OUT, gm_cmd_gpu_add),
	GM_CMD(0x02, GPUMUX_CMD_GPU_REMOVE, GM_CTL, gm_cmd_gpu_remove),
	GM_CMD(0x03, GPUMUX_CMD_TENANT_CREATE, GM_CTL | GM_SLOW | GM_OUT,
	       gm_cmd_tenant_create),
	GM_CMD(0x04, GPUMUX_CMD_TENANT_FENCE, GM_CTL, gm_cmd_tenant_fence),
	GM_CMD(0x05, GPUMUX_CMD_PART_SET, GM_CTL | GM_OUT, gm_cmd_part_set),
	GM_CMD(0x06, GPUMUX_CMD_PART_ACK, GM_TEN, gm_cmd_part_ack),
	GM_CMD(0x07, GPUMUX_CMD_BUF_ALLOC, GM_TEN | GM_SLOW | GM_OUT,
	       gm_cmd_buf_alloc),
	GM_CMD(0x08, GPUMUX_CMD_BUF_FREE, GM_TEN, gm_cmd_buf_free),
	GM_CMD(0x09, GPUMUX_CMD_GRANT, GM_CTL, gm_cmd_grant),
	GM_CMD(0x0a, GPUMUX_CMD_GRANT_REVOKE, GM_CTL, gm_cmd_grant_revoke),
	GM_CMD(0x0b, GPUMUX_CMD_LIST, GM_CTL | GM_TEN | GM_OUT | GM_QUERY,
	       gm_cmd_list),
	GM_CMD(0x0c, GPUMUX_CMD_EVENT_FETCH, GM_CTL | GM_TEN | GM_OUT,
	       gm_cmd_event_fetch),
};

/* Largest command struct: the argument buffer on the stack. */
union gm_arg {
	struct gpumux_info info;
	struct gpumux_gpu_add gpu_add;
	struct gpumux_gpu_remove gpu_remove;
	struct gpumux_tenant_create tenant_create;
	struct gpumux_tenant_fence tenant_fence;
	struct gpumux_part_set part_set;
	struct gpumux_part_ack part_ack;
	struct gpumux_buf_alloc buf_alloc;
	struct gpumux_buf_free buf_free;
	struct gpumux_grant grant;
	struct gpumux_grant_revoke grant_revoke;
	struct gpumux_list list;
	struct gpumux_event_fetch event_fetch;
};

static const struct gm_cmd_desc *gm_cmd_lookup(unsigned int op)
{
	unsigned int nr = _IOC_NR(op);

	if (_IOC_TYPE(op) != GPUMUX_IOC_MAGIC || nr >= ARRAY_SIZE(gm_cmds))
		return NULL;
	nr = array_index_nospec(nr, ARRAY_SIZE(gm_cmds));
	if (gm_cmds[nr].op != op)
		return NULL;
	return &gm_cmds[nr];
}

/*
 * The one dispatch function: ioctl and uring_cmd both land here with the
 * command number and the user's pointer to the command struct.
 */
static long gm_dispatch(struct gm_ctx *c, unsigned int op, void __user *uarg)
{
	const struct gm_cmd_desc *d = gm_cmd_lookup(op);
	size_t size = _IOC_SIZE(op);
	union gm_arg arg;
	long ret;

	if (!d)
		return -ENOTTY;
	if (!(d->flags & (c->ctl ? GM_CTL : GM_TEN)))
		return -EPERM;
	if (gm_nonblock(c) && (d->flags & GM_SLOW))
		return -EAGAIN; /* io_uring re-issues it from a worker */
	BUILD_BUG_ON(sizeof(arg) > 256);
	if (WARN_ON_ONCE(size > sizeof(arg)))
		return -EINVAL;
	if (copy_from_user(&arg, uarg, size))
		return -EFAULT;
	/*
	 * A command whose results cannot be written back must not act: check
	 * the struct is writable (by writing back what was read) first.
	 */
	if ((d->flags & (GM_OUT | GM_QUERY)) == GM_OUT &&
	    copy_to_user(uarg, &arg, size))
		return -EFAULT;

	ret = d->fn(c, &arg);
	if (ret < 0 || !(d->flags & GM_OUT))
		goto out;
	if (copy_to_user(uarg, &arg, size))
		ret = -EFAULT;
out:
	if (c->new_file) {
		/* TENANT_CREATE: publish the fd only once the id is out. */
		if (ret < 0) {
			put_unused_fd(c->new_fd);
			fput(c->new_file);
		} else {
			fd_install(c->new_fd, c->new_file);
		}
		c->new_file = NULL;
	}
	return ret;
}

static void gm_ctx_init(struct gm_ctx *c, struct file *file)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	if (file->f_op == &gm_tenant_fops)
		c->t = file->private_data;
	else
		c->ctl = file->private_data;
}

static long gm_ioctl(struct file *file, unsigned int op, unsigned long arg)
{
	struct gm_ctx c;

	gm_ctx_init(&c, file);
	atomic64_inc(&gm_cnt.ops_ioctl);
	return gm_dispatch(&c, op, (void __user *)arg);
}

static int gm_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	const struct gpumux_uring_cmd *ucp = ioucmd->cmd;
	struct gpumux_uring_cmd uc;
	unsigned int op = READ_ONCE(ioucmd->cmd_op);
	struct gm_ctx c;
	long ret;

	/* The SQE is shared with userspace: read the command once. */
	uc.addr = READ_ONCE(ucp->addr);
	uc.len = READ_ONCE(ucp->len);
	uc.reserved = READ_ONCE(ucp->reserved);

	gm_ctx_init(&c, ioucmd->file);
	c.uring = true;
	c.issue_flags = issue_flags;
	atomic64_inc(&gm_cnt.ops_uring);

	if (!gm_cmd_lookup(op))
		return -ENOTTY;
	if (uc.reserved || uc.len != _IOC_SIZE(op))
		return -EINVAL;
	if (op == GPUMUX_CMD_EVENT_FETCH)
		return gm_uring_event_fetch(ioucmd, gm_ctx_evq(&c), uc.addr,
					    issue_flags);
	ret = gm_dispatch(&c, op, u64_to_user_ptr(uc.addr));
	if (WARN_ON_ONCE(ret > 0)) {
		/* Not completed by 6.1 from io-wq: never return one. */
		io_uring_cmd_done(ioucmd, ret, 0, issue_flags);
		return -EIOCBQUEUED;
	}
	return ret;
}

/* ---- the control file ---- */

static int gm_ctl_open(struct inode *inode, struct file *file)
{
	struct gm_ctl *ctl;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	ctl = kzalloc(sizeof(*ctl), GFP_KERNEL_ACCOUNT);
	if (!ctl)
		return -ENOMEM;
	ret = gm_evq_init(&ctl->evq, GM_CTL_EVQ_LEN);
	if (ret) {
		kfree(ctl);
		return ret;
	}
	mutex_lock(&gm.lock);
	list_add_tail(&ctl->node, &gm.ctls);
	mutex_unlock(&gm.lock);
	file->private_data = ctl;
	return stream_open(inode, file);
}

static int gm_ctl_release(struct inode *inode, struct file *file)
{
	struct gm_ctl *ctl = file->private_data;

	/* Closing the control file ends no tenant: they live on. */
	mutex_lock(&gm.lock);
	list_del(&ctl->node);
	mutex_unlock(&gm.lock);
	gm_evq_destroy(&ctl->evq);
	kfree(ctl);
	return 0;
}

static ssize_t gm_ctl_read(struct file *file, char __user *buf, size_t count,
			   loff_t *ppos)
{
	struct gm_ctl *ctl = file->private_data;

	return gm_evq_read(&ctl->evq, buf, count, file->f_flags & O_NONBLOCK);
}

static __poll_t gm_ctl_poll(struct file *file, poll_table *pt)
{
	struct gm_ctl *ctl = file->private_data;

	return gm_evq_poll(&ctl->evq, file, pt);
}

static const struct file_operations gm_ctl_fops = {
	.owner = THIS_MODULE,
	.open = gm_ctl_open,
	.release = gm_ctl_release,
	.read = gm_ctl_read,
	.poll = gm_ctl_poll,
	.unlocked_ioctl = gm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.uring_cmd = gm_uring_cmd,
	.llseek = no_llseek,
};

static struct miscdevice gm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gpumux",
	.fops = &gm_ctl_fops,
	.mode = 0600,
};

/* ---- tenant files ---- */

static int gm_tenant_release_file(struct inode *inode, struct file *file)
{
	gm_tenant_release(file->private_data);
	gm_tenant_file_released();
	return 0;
}

static ssize_t gm_tenant_read(struct file *file, char __user *buf, size_t count,
			      loff_t *ppos)
{
	struct gm_tenant *t = file->private_data;

	return gm_evq_read(&t->evq, buf, count, file->f_flags & O_NONBLOCK);
}

static __poll_t gm_tenant_poll(struct file *file, poll_table *pt)
{
	struct gm_tenant *t = file->private_data;

	return gm_evq_poll(&t->evq, file, pt);
}

static int gm_tenant_mmap_file(struct file *file, struct vm_area_struct *vma)
{
	return gm_tenant_mmap(file->private_data, vma);
}

const struct file_operations gm_tenant_fops = {
	.owner = THIS_MODULE,
	.release = gm_tenant_release_file,
	.read = gm_tenant_read,
	.poll = gm_tenant_poll,
	.mmap = gm_tenant_mmap_file,
	.unlocked_ioctl = gm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.uring_cmd = gm_uring_cmd,
	.llseek = no_llseek,
};

/* ---- the tick: revocation deadlines and the pending-fetch monitor ---- */

static DEFINE_SPINLOCK(gm_tick_lock); /* protects gm_tick_at */
static u64 gm_tick_at = U64_MAX; /* when the tick is due; U64_MAX: idle */

static void gm_tick_fn(struct work_struct *work)
{
	u64 now = ktime_get_ns(), next;
	unsigned long flags;

	spin_lock_irqsave(&gm_tick_lock, flags);
	gm_tick_at = U64_MAX;
	spin_unlock_irqrestore(&gm_tick_lock, flags);

	/* Scan the ledger only when a deadline is due. */
	next = READ_ONCE(gm.deadline_next);
	if (next <= now)
		gm_deadlines_run(now, &next);
	gm_monitor_pending();
	if (gm_have_pending())
		gm_tick_schedule(0);
	if (next != U64_MAX)
		gm_tick_schedule(next);
}

/*
 * Make sure the tick runs by @when_ns (0: within GM_MONITOR_MS, for a newly
 * parked fetch).  Only ever brings it forward, whoever calls.
 */
void gm_tick_schedule(u64 when_ns)
{
	u64 now = ktime_get_ns();
	unsigned long flags, delay;

	if (!when_ns)
		when_ns = now + GM_MONITOR_MS * NSEC_PER_MSEC;
	delay = nsecs_to_jiffies(when_ns > now ? when_ns - now : 0) + 1;
	spin_lock_irqsave(&gm_tick_lock, flags);
	if (when_ns < gm_tick_at) {
		gm_tick_at = when_ns;
		mod_delayed_work(system_wq, &gm.tick, delay);
	}
	spin_unlock_irqrestore(&gm_tick_lock, flags);
}

/* ---- module ---- */

/* The uapi is fixed: sizes and the offsets of fields after padding. */
static void __init gm_check_uapi_layout(void)
{
	BUILD_BUG_ON(sizeof(struct gpumux_uring_cmd) != 16);
	BUILD_BUG_ON(sizeof(struct gpumux_info) != 88);
	BUILD_BUG_ON(offsetof(struct gpumux_info, pinned_limit) != 32);
	BUILD_BUG_ON(offsetof(struct gpumux_info, reserved) != 56);
	BUILD_BUG_ON(sizeof(struct gpumux_gpu_add) != 96);
	BUILD_BUG_ON(offsetof(struct gpumux_gpu_add, ident) != 16);
	BUILD_BUG_ON(sizeof(struct gpumux_gpu_remove) != 8);
	BUILD_BUG_ON(sizeof(struct gpumux_tenant_create) != 72);
	BUILD_BUG_ON(offsetof(struct gpumux_tenant_create, pinned_quota) != 40);
	BUILD_BUG_ON(offsetof(struct gpumux_tenant_create, fd) != 52);
	BUILD_BUG_ON(sizeof(struct gpumux_tenant_fence) != 8);
	BUILD_BUG_ON(sizeof(struct gpumux_part_set) != 168);
	BUILD_BUG_ON(offsetof(struct gpumux_part_set, mask) != 24);
	BUILD_BUG_ON(sizeof(struct gpumux_part_ack) != 16);
	BUILD_BUG_ON(sizeof(struct gpumux_part_info) != 288);
	BUILD_BUG_ON(offsetof(struct gpumux_part_info, active) != 32);
	BUILD_BUG_ON(offsetof(struct gpumux_part_info, target) != 160);
	BUILD_BUG_ON(sizeof(struct gpumux_buf_alloc) != 40);
	BUILD_BUG_ON(sizeof(struct gpumux_buf_free) != 8);
	BUILD_BUG_ON(sizeof(struct gpumux_grant) != 16);
	BUILD_BUG_ON(sizeof(struct gpumux_grant_revoke) != 8);
	BUILD_BUG_ON(sizeof(struct gpumux_gpu_info) != 88);
	BUILD_BUG_ON(sizeof(struct gpumux_tenant_info) != 72);
	BUILD_BUG_ON(offsetof(struct gpumux_tenant_info, pinned_quota) != 48);
	BUILD_BUG_ON(sizeof(struct gpumux_buf_info) != 32);
	BUILD_BUG_ON(sizeof(struct gpumux_grant_info) != 16);
	BUILD_BUG_ON(sizeof(struct gpumux_list) != 48);
	BUILD_BUG_ON(offsetof(struct gpumux_list, start_id) != 24);
	BUILD_BUG_ON(sizeof(struct gpumux_event) != 40);
	BUILD_BUG_ON(sizeof(struct gpumux_event_fetch) != 32);
}

static int __init gm_init(void)
{
	int ret;

	gm_check_uapi_layout();
	mutex_init(&gm.lock);
	xa_init_flags(&gm.gpus, XA_FLAGS_ALLOC1);
	xa_init_flags(&gm.tenants, XA_FLAGS_ALLOC1);
	xa_init_flags(&gm.bufs, XA_FLAGS_ALLOC1);
	INIT_LIST_HEAD(&gm.ctls);
	INIT_DELAYED_WORK(&gm.tick, gm_tick_fn);
	gm.deadline_next = U64_MAX;
	atomic64_set(&gm.pinned_used, 0);
	gm.pinned_limit = gm_pinned_limit_param ?:
				  ((u64)totalram_pages() << PAGE_SHIFT) / 4;

	ret = misc_register(&gm_misc);
	if (ret) {
		pr_err("cannot register /dev/gpumux: %d\n", ret);
		return ret;
	}
	gm_debugfs_init();
	pr_info("ready: interface %u, pinned limit %llu MiB\n", GPUMUX_VERSION,
		gm.pinned_limit >> 20);
	return 0;
}

static void __exit gm_exit(void)
{
	gm_debugfs_exit();
	misc_deregister(&gm_misc);
	cancel_delayed_work_sync(&gm.tick);
	gm_ledger_destroy();
	mutex_destroy(&gm.lock);
}

module_init(gm_init);
module_exit(gm_exit);

MODULE_DESCRIPTION("gpumux: GPU compute-unit and pinned-memory arbiter");
MODULE_AUTHOR("The gpumux developers");
MODULE_LICENSE("GPL");
