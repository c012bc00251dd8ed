/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux: small shims over kernel APIs that changed after 6.1.
 *
 * The module is built and tested against Debian 12's 6.1 (dkms.conf limits
 * it to 6.1.*).  These shims cover the changes met so far; the pending-fetch
 * monitor (events.c) reads io_uring internals of 6.1 (req->task, ctx->refs)
 * and is the part to revisit first on a newer kernel, where cancelable
 * uring_cmds (6.7) replace it.
 */
#ifndef GPUMUX_COMPAT_H
#define GPUMUX_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#include <linux/io_uring/cmd.h>
#else
#include <linux/io_uring.h>
#endif

/* vm_flags became read-only with accessors in 6.3. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void gm_vm_flags_set(struct vm_area_struct *vma,
				   unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void gm_vm_flags_clear(struct vm_area_struct *vma,
				     unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#else
#define gm_vm_flags_set vm_flags_set
#define gm_vm_flags_clear vm_flags_clear
#endif

#endif /* GPUMUX_COMPAT_H */
