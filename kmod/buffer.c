// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: pinned buffers, their mappings, and grants between tenants.
 *
 * A buffer is an array of ordinary pages, allocated zeroed and held by the
 * module until the buffer's last reference goes.  They are mapped by a
 * fault handler that hands out the page itself (no VM_PFNMAP/VM_IO), so a
 * GPU runtime can pin them for DMA with get_user_pages (hipHostRegister).
 *
 * Each tenant file has an inode of its own on a private pseudo filesystem,
 * so the mappings made through one tenant's file can be torn down without
 * touching anyone else's: that is how a grant is revoked.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "gpumux.h"
#include "gpumux_trace.h"

#define GPUMUX_FS_MAGIC 0x67706d78 /* "gpmx" */

/*
 * Orders a grant's revocation (write) against faults on its mappings
 * (read): see gm_vm_fault().  Taken inside gm.lock and mmap_lock.
 */
static DECLARE_RWSEM(gm_revoke_rwsem);

static struct vfsmount *gm_mnt;
static int gm_mnt_count;

static int gm_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, GPUMUX_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type gm_fs_type = {
	.name = "gpumux",
	.owner = THIS_MODULE,
	.init_fs_context = gm_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

/*
 * Make the tenant's file: a new inode on our pseudo filesystem (pinned
 * while any tenant file exists).  The file owns the tenant reference the
 * caller passes in; it is dropped in the file's release.
 */
struct file *gm_tenant_file(struct gm_tenant *t)
{
	struct inode *inode;
	struct file *file;
	int ret;

	ret = simple_pin_fs(&gm_fs_type, &gm_mnt, &gm_mnt_count);
	if (ret)
		return ERR_PTR(ret);
	inode = alloc_anon_inode(gm_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		file = ERR_CAST(inode);
		goto err_unpin;
	}
	/* The file's fops reference: __fput() drops it, alloc_file doesn't take it. */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, gm_mnt, "gpumux-tenant", O_RDWR,
				 &gm_tenant_fops);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		iput(inode);
		goto err_unpin;
	}
	file->private_data = t;
	t->inode = inode;
	return file;

err_unpin:
	simple_release_fs(&gm_mnt, &gm_mnt_count);
	return file;
}

/* The tenant file is being released: drop our pin on the filesystem. */
void gm_tenant_file_released(void)
{
	simple_release_fs(&gm_mnt, &gm_mnt_count);
}

/* ---- buffers ---- */

static void gm_buf_release(struct kref *ref)
{
	struct gm_buf *b = container_of(ref, struct gm_buf, ref);
	unsigned long i;

	for (i = 0; b->pages && i < b->nr_pages; i++) {
		if (!b->pages[i])
			break; /* allocation failed here */
		__free_page(b->pages[i]);
		atomic_long_dec(&gm_cnt.pages);
	}
	atomic64_sub(b->size, &b->owner->pinned_used);
	atomic64_sub(b->size, &gm.pinned_used);
	trace_gpumux_buf_free(b->id, b->owner->id, b->size);
	kvfree(b->pages);
	gm_tenant_put(b->owner);
	kfree(b);
	atomic_dec(&gm_cnt.buffers);
}

static void gm_buf_put(struct gm_buf *b)
{
	kref_put(&b->ref, gm_buf_release);
}

void gm_buf_fill_info(const struct gm_buf *b, const struct gm_tenant *viewer,
		      struct gpumux_buf_info *o)
{
	const struct gm_grant *gr;

	memset(o, 0, sizeof(*o));
	o->buf_id = b->id;
	o->owner_id = b->owner->id;
	o->size = b->size;
	o->mmap_offset = (u64)b->id << GM_BUF_OFFSET_SHIFT;
	o->nr_grants = b->nr_grants;
	o->access = GPUMUX_ACCESS_RW;
	if (viewer && viewer != b->owner) {
		list_for_each_entry(gr, &b->grants, buf_node)
			if (gr->t == viewer)
				o->access = gr->access;
	}
}

/* Reserve @size bytes against the tenant's quota and the global limit. */
static int gm_charge(struct gm_tenant *t, u64 size)
{
	u64 used = atomic64_read(&t->pinned_used);
	u64 all = atomic64_read(&gm.pinned_used);
	u64 limit = READ_ONCE(gm.pinned_limit);

	/*
	 * Charges are made under gm.lock, uncharges (which only lower the
	 * counts) anywhere: check, then add, and no reader ever sees a
	 * charge that is about to be taken back.
	 */
	lockdep_assert_held(&gm.lock);
	if (size > t->pinned_quota || used > t->pinned_quota - size)
		return -EDQUOT;
	if (size > limit || all > limit - size)
		return -ENOSPC;
	atomic64_add(size, &gm.pinned_used);
	atomic64_add(size, &t->pinned_used);
	return 0;
}

static void gm_uncharge(struct gm_tenant *t, u64 size)
{
	atomic64_sub(size, &t->pinned_used);
	atomic64_sub(size, &gm.pinned_used);
}

int gm_cmd_buf_alloc(struct gm_ctx *c, struct gpumux_buf_alloc *a)
{
	struct gm_tenant *t = c->t;
	struct gm_buf *b;
	unsigned long i;
	int ret;

	/* Over 1 TiB is more than an mmap offset encodes. */
	if (!a->size || !PAGE_ALIGNED(a->size) ||
	    a->size > 1ULL << GM_BUF_OFFSET_SHIFT || a->flags ||
	    a->reserved[0] || a->reserved[1])
		return -EINVAL;

	/* Checked again under the lock; this keeps absurd sizes away. */
	if (a->size > t->pinned_quota)
		return -EDQUOT;

	mutex_lock(&gm.lock);
	ret = -EPERM;
	if (t->fenced)
		goto err_unlock;
	ret = -ENOSPC;
	if (t->nr_buffers >= GM_MAX_BUFS_PER_TENANT)
		goto err_unlock;
	ret = gm_charge(t, a->size);
	if (ret)
		goto err_unlock;
	t->nr_buffers++; /* reserves the slot too */
	mutex_unlock(&gm.lock);

	ret = -ENOMEM;
	b = kzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b)
		goto err_uncharge;
	atomic_inc(&gm_cnt.buffers);
	kref_init(&b->ref);
	b->size = a->size;
	b->nr_pages = a->size >> PAGE_SHIFT;
	INIT_LIST_HEAD(&b->grants);
	kref_get(&t->ref);
	b->owner = t;
	b->pages = kvcalloc(b->nr_pages, sizeof(*b->pages), GFP_KERNEL_ACCOUNT);
	if (!b->pages)
		goto err_buf;
	for (i = 0; i < b->nr_pages; i++) {
		b->pages[i] =
			alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT |
				   __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
		if (!b->pages[i])
			goto err_buf;
		atomic_long_inc(&gm_cnt.pages);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto err_buf;
		}
		cond_resched();
	}

	mutex_lock(&gm.lock);
	/* Fenced while the pages were allocated: publish nothing. */
	ret = -EPERM;
	if (!t->fenced)
		ret = xa_alloc_cyclic(&gm.bufs, &b->id, b,
				      XA_LIMIT(1, GM_BUF_MAX_ID), &gm.next_buf,
				      GFP_KERNEL);
	if (ret < 0) {
		mutex_unlock(&gm.lock);
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto err_buf;
	}
	b->live = true;
	list_add_tail(&b->tenant_node, &t->bufs);
	mutex_unlock(&gm.lock);

	trace_gpumux_buf_alloc(b->id, t->id, b->size);
	a->buf_id = b->id;
	a->mmap_offset = (u64)b->id << GM_BUF_OFFSET_SHIFT;
	return 0;

err_buf:
	/* The release uncharges what the buffer was charged with. */
	gm_buf_put(b);
	mutex_lock(&gm.lock);
	t->nr_buffers--;
	mutex_unlock(&gm.lock);
	return ret;
err_uncharge:
	gm_uncharge(t, a->size);
	mutex_lock(&gm.lock);
	t->nr_buffers--;
err_unlock:
	mutex_unlock(&gm.lock);
	return ret;
}

static void gm_grant_release(struct kref *ref)
{
	struct gm_grant *gr = container_of(ref, struct gm_grant, ref);

	gm_buf_put(gr->buf);
	kfree(gr);
	atomic_dec(&gm_cnt.grants);
}

static void gm_grant_put(struct gm_grant *gr)
{
	kref_put(&gr->ref, gm_grant_release);
}

/* Take a live grant out of the ledger (mappings made under it stay). */
void gm_grant_unlink(struct gm_grant *gr)
{
	lockdep_assert_held(&gm.lock);
	gr->live = false;
	list_del(&gr->buf_node);
	list_del(&gr->tenant_node);
	gr->buf->nr_grants--;
	gm.nr_grants--;
	gm_grant_put(gr);
}

/* The owner drops buffer @b: out of the ledger, with every grant of it. */
static void gm_buf_unlink(struct gm_buf *b)
{
	struct gm_grant *gr, *tmp;

	lockdep_assert_held(&gm.lock);
	list_for_each_entry_safe(gr, tmp, &b->grants, buf_node) {
		/* Its mappings stay valid; it may not map the buffer again. */
		gm_tenant_event(gr->t, GPUMUX_EVENT_GRANT_REVOKED, 0, b->id, 0,
				gr->access);
		gm_grant_unlink(gr);
	}
	b->live = false;
	xa_erase(&gm.bufs, b->id);
	list_del(&b->tenant_node);
	b->owner->nr_buffers--;
	gm_buf_put(b);
}

int gm_cmd_buf_free(struct gm_ctx *c, struct gpumux_buf_free *a)
{
	struct gm_buf *b;
	int ret;

	if (a->reserved)
		return -EINVAL;
	ret = gm_lock(c);
	if (ret)
		return ret;
	b = a->buf_id ? xa_load(&gm.bufs, a->buf_id) : NULL;
	if (!b || b->owner != c->t) {
		ret = -ENOENT;
	} else {
		gm_buf_unlink(b);
		ret = 0;
	}
	gm_unlock();
	return ret;
}

/* Tenant @t is gone: drop its handles on its buffers. */
void gm_tenant_drop_buffers(struct gm_tenant *t)
{
	struct gm_buf *b, *tmp;

	list_for_each_entry_safe(b, tmp, &t->bufs, tenant_node)
		gm_buf_unlink(b);
}

/* End grant @gr now: the grantee's mappings of the buffer go with it. */
static void gm_grant_revoke_locked(struct gm_grant *gr)
{
	struct gm_buf *b = gr->buf;

	lockdep_assert_held(&gm.lock);
	down_write(&gm_revoke_rwsem);
	/* Later faults on the grantee's mappings get SIGBUS ... */
	gr->revoked = true;
	/* ... and what is mapped now goes. */
	unmap_mapping_range(gr->t->inode->i_mapping,
			    (loff_t)b->id << GM_BUF_OFFSET_SHIFT, b->size, 1);
	up_write(&gm_revoke_rwsem);
	trace_gpumux_grant(b->id, gr->t->id, gr->access, true);
	gm_tenant_event(gr->t, GPUMUX_EVENT_GRANT_REVOKED, 0, b->id, 0,
			gr->access);
	gm_grant_unlink(gr);
}

int gm_cmd_grant(struct gm_ctx *c, struct gpumux_grant *a)
{
	struct gm_grant *gr, *fresh;
	struct gm_tenant *t;
	struct gm_buf *b;
	int ret;

	if (a->access > GPUMUX_ACCESS_RW || a->reserved)
		return -EINVAL;
	fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	if (!fresh)
		return -ENOMEM;

	ret = gm_lock(c);
	if (ret)
		goto out_free;
	b = a->buf_id ? xa_load(&gm.bufs, a->buf_id) : NULL;
	t = a->tenant_id ? xa_load(&gm.tenants, a->tenant_id) : NULL;
	ret = -ENOENT;
	if (!b || !t)
		goto out_unlock;
	ret = -EINVAL;
	if (b->owner == t)
		goto out_unlock;
	ret = -EPERM;
	if (t->fenced)
		goto out_unlock;

	list_for_each_entry(gr, &b->grants, buf_node) {
		if (gr->t != t)
			continue;
		ret = 0;
		if (gr->access == a->access)
			goto out_unlock; /* nothing changes */
		if (a->access == GPUMUX_ACCESS_RW) {
			/* An upgrade: read-only mappings made before stay so. */
			gr->access = a->access;
			goto out_event;
		}
		/* A downgrade: no writable mapping may outlive the old grant. */
		gm_grant_revoke_locked(gr);
		break;
	}
	ret = -ENOSPC;
	if (gm.nr_grants >= GM_MAX_GRANTS)
		goto out_unlock;
	gr = fresh;
	fresh = NULL;
	atomic_inc(&gm_cnt.grants);
	kref_init(&gr->ref);
	kref_get(&b->ref);
	gr->buf = b;
	gr->t = t;
	gr->access = a->access;
	gr->live = true;
	list_add_tail(&gr->buf_node, &b->grants);
	list_add_tail(&gr->tenant_node, &t->grants);
	b->nr_grants++;
	gm.nr_grants++;
	ret = 0;
out_event:
	trace_gpumux_grant(b->id, t->id, a->access, false);
	gm_tenant_event(t, GPUMUX_EVENT_GRANT_ADDED, 0, b->id, 0, a->access);
out_unlock:
	gm_unlock();
out_free:
	kfree(fresh);
	return ret;
}

int gm_cmd_grant_revoke(struct gm_ctx *c, struct gpumux_grant_revoke *a)
{
	struct gm_grant *gr, *found = NULL;
	struct gm_buf *b;
	int ret;

	ret = gm_lock(c);
	if (ret)
		return ret;
	b = a->buf_id ? xa_load(&gm.bufs, a->buf_id) : NULL;
	if (b) {
		list_for_each_entry(gr, &b->grants, buf_node) {
			if (gr->t->id == a->tenant_id) {
				found = gr;
				break;
			}
		}
	}
	if (!found) {
		gm_unlock();
		return -ENOENT;
	}
	gm_grant_revoke_locked(found);
	gm_unlock();
	return 0;
}

/* ---- mappings ---- */

/* One mapping (shared by the VMAs a split or fork makes of it). */
struct gm_vmap {
	refcount_t ref;
	struct gm_buf *buf; /* holds a reference */
	struct gm_grant *grant; /* NULL for the owner's; holds a reference */
};

static void gm_vmap_put(struct gm_vmap *m)
{
	if (!refcount_dec_and_test(&m->ref))
		return;
	if (m->grant)
		gm_grant_put(m->grant);
	gm_buf_put(m->buf);
	kfree(m);
}

static void gm_vm_open(struct vm_area_struct *vma)
{
	struct gm_vmap *m = vma->vm_private_data;

	refcount_inc(&m->ref);
}

static void gm_vm_close(struct vm_area_struct *vma)
{
	gm_vmap_put(vma->vm_private_data);
}

/*
 * The fault installs the PTE itself, under gm_revoke_rwsem: a revoke (which
 * sets ->revoked and zaps under the write side) can then never miss a PTE
 * that a racing fault installs after checking ->revoked.  vm_insert_page()
 * maps the page as an ordinary one (not special), so get_user_pages works.
 */
static vm_fault_t gm_vm_fault(struct vm_fault *vmf)
{
	struct gm_vmap *m = vmf->vma->vm_private_data;
	unsigned long idx = vmf->pgoff & ((1UL << GM_BUF_PGOFF_SHIFT) - 1);
	vm_fault_t ret = VM_FAULT_NOPAGE;
	int err;

	if (idx >= m->buf->nr_pages)
		return VM_FAULT_SIGBUS;
	down_read(&gm_revoke_rwsem);
	if (m->grant && m->grant->revoked) {
		ret = VM_FAULT_SIGBUS;
	} else {
		err = vm_insert_page(vmf->vma, vmf->address,
				     m->buf->pages[idx]);
		/* -EBUSY: another thread mapped it first. */
		if (err && err != -EBUSY)
			ret = vmf_error(err);
	}
	up_read(&gm_revoke_rwsem);
	return ret;
}

static int gm_vm_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct gm_vm_ops = {
	.open = gm_vm_open,
	.close = gm_vm_close,
	.fault = gm_vm_fault,
	.mremap = gm_vm_mremap,
};

int gm_tenant_mmap(struct gm_tenant *t, struct vm_area_struct *vma)
{
	unsigned long id = vma->vm_pgoff >> GM_BUF_PGOFF_SHIFT;
	unsigned long first = vma->vm_pgoff & ((1UL << GM_BUF_PGOFF_SHIFT) - 1);
	unsigned long npages = vma_pages(vma);
	struct gm_grant *gr, *grant = NULL;
	struct gm_vmap *m;
	struct gm_buf *b;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;

	mutex_lock(&gm.lock);
	b = id && id <= GM_BUF_MAX_ID ? xa_load(&gm.bufs, id) : NULL;
	ret = -ENOENT;
	if (!b)
		goto err_unlock;
	if (b->owner != t) {
		list_for_each_entry(gr, &b->grants, buf_node) {
			if (gr->t == t) {
				grant = gr;
				break;
			}
		}
		ret = -EACCES;
		if (!grant)
			goto err_unlock;
	}
	ret = -EINVAL;
	if (first > b->nr_pages || npages > b->nr_pages - first)
		goto err_unlock;
	if (grant && grant->access == GPUMUX_ACCESS_RO) {
		ret = -EACCES;
		if (vma->vm_flags & VM_WRITE)
			goto err_unlock;
		/* Never writable, mprotect() included. */
		gm_vm_flags_clear(vma, VM_MAYWRITE);
	}
	refcount_set(&m->ref, 1);
	kref_get(&b->ref);
	m->buf = b;
	if (grant) {
		kref_get(&grant->ref);
		m->grant = grant;
	}
	mutex_unlock(&gm.lock);

	/* VM_MIXEDMAP: the fault inserts pages itself (vm_insert_page). */
	gm_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_MIXEDMAP);
	vma->vm_private_data = m;
	vma->vm_ops = &gm_vm_ops;
	return 0;

err_unlock:
	mutex_unlock(&gm.lock);
	kfree(m);
	return ret;
}
