/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gpumux: the user/kernel contract of /dev/gpumux.
 *
 * The module is the single authority over which tenant owns which GPU
 * compute units (CUs on AMD, SMs on NVIDIA) and how much pinned host
 * memory.  Two kinds of file speak this interface:
 *
 *  - the control file, /dev/gpumux, opened with CAP_SYS_ADMIN by the
 *    scheduler daemon.  It registers GPUs, creates tenants, sets partitions,
 *    grants buffers and receives ledger events.  Closing it ends nothing:
 *    tenants live on and a restarted daemon lists them back.
 *
 *  - a tenant file, an anonymous file created by GPUMUX_CMD_TENANT_CREATE
 *    and handed to the tenant (e.g. over D-Bus fd passing).  The file is
 *    the lease: when its last reference goes (every fd closed and every
 *    mapping unmapped), the tenant's CUs and pinned memory return to the
 *    pools and the control files get a GPUMUX_EVENT_TENANT_GONE.
 *
 * Every command is one _IOWR() number, used both as an ioctl() request
 * (argument: a pointer to the command's struct) and as the cmd_op of an
 * IORING_OP_URING_CMD (the SQE's command bytes hold a struct
 * gpumux_uring_cmd that points at the same struct).  The kernel reads the
 * command struct once, validates every field, and on success writes the
 * fields marked "out" back.  Reserved fields and unknown flags must be zero
 * (-EINVAL otherwise), so they can be given a meaning later.  All pointers
 * are __u64.  Field comments say who writes them: "in" (caller), "out"
 * (kernel) or "in/out".
 *
 * Errors are negative errno values (ioctl: -1 and errno; uring_cmd: the
 * CQE's res).  Those common to all commands:
 *   ENOTTY     unknown command
 *   EPERM      a control command on a tenant file or vice versa, or a
 *              command a fenced tenant may not issue
 *   EINVAL     a malformed field, non-zero reserved field or unknown flag
 *   EFAULT     a bad user pointer
 *   EAGAIN     (uring_cmd, internal) re-issued from a worker; never seen
 *
 * Compatibility: GPUMUX_CMD_GET_INFO returns the interface version and a
 * 64-bit feature mask.  A new feature gets a new bit; a struct only grows
 * into its reserved fields.
 */
#ifndef _UAPI_LINUX_GPUMUX_H
#define _UAPI_LINUX_GPUMUX_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define GPUMUX_DEVICE_PATH "/dev/gpumux"
#define GPUMUX_VERSION 1

/* Limits. */
#define GPUMUX_MAX_CUS 1024 /* CUs per GPU */
#define GPUMUX_MASK_WORDS (GPUMUX_MAX_CUS / 64)
#define GPUMUX_IDENT_LEN 64 /* GPU identity string, NUL-terminated */
#define GPUMUX_NAME_LEN 32 /* tenant name, NUL-terminated */
#define GPUMUX_MAX_GPUS 64 /* GPUs registered at once */

/* Feature bits, reported by GPUMUX_CMD_GET_INFO. */
#define GPUMUX_F_URING_CMD (1ULL << 0) /* commands via IORING_OP_URING_CMD */
#define GPUMUX_F_EVENTS (1ULL << 1) /* read/poll/EVENT_FETCH event channel */
#define GPUMUX_F_SHARED_PARTITIONS (1ULL << 2) /* GPUMUX_PART_SHARED */
#define GPUMUX_F_GRANTS (1ULL << 3) /* cross-tenant buffer grants */
#define GPUMUX_F_LIST (1ULL << 4) /* GPUMUX_CMD_LIST */
#define GPUMUX_F_FENCE (1ULL << 5) /* GPUMUX_CMD_TENANT_FENCE */

/*
 * uring_cmd command bytes: the first 16 bytes of the SQE's cmd area (so an
 * ordinary 64-byte-SQE ring works).  @addr points at the command's struct,
 * exactly as the ioctl argument would, and @len must be its size.
 */
struct gpumux_uring_cmd {
	__u64 addr; /* in: pointer to the command struct */
	__u32 len; /* in: sizeof(the command struct) */
	__u32 reserved; /* in: must be zero */
};

/* Which file a command came from, in struct gpumux_info.file_kind. */
#define GPUMUX_FILE_CONTROL 1
#define GPUMUX_FILE_TENANT 2

/* GPUMUX_CMD_GET_INFO: either file. */
struct gpumux_info {
	__u32 version; /* out: GPUMUX_VERSION */
	__u32 file_kind; /* out: GPUMUX_FILE_* */
	__u64 features; /* out: GPUMUX_F_* */
	__u32 max_cus; /* out: GPUMUX_MAX_CUS */
	__u32 max_gpus; /* out: GPUs that may be registered at once */
	__u32 max_tenants; /* out: tenants that may exist at once */
	__u32 tenant_id; /* out: own id on a tenant file, else 0 */
	__u64 pinned_limit; /* out: global pinned-memory limit, bytes */
	__u64 pinned_used; /* out: pinned bytes in use, all tenants */
	__u32 nr_gpus; /* out: GPUs registered now */
	__u32 nr_tenants; /* out: live tenants now */
	__u64 reserved[4]; /* in: must be zero */
};

/*
 * GPUMUX_CMD_GPU_ADD: control.  Registers a GPU (from libdrm discovery, or
 * a virtual one).  Errors: EINVAL (cus 0 or > GPUMUX_MAX_CUS, ident empty
 * or not NUL-terminated), EEXIST (same ident registered), ENOSPC (max_gpus
 * reached).
 */
struct gpumux_gpu_add {
	__u32 cus; /* in: compute units, 1..GPUMUX_MAX_CUS */
	__u32 gpu_id; /* out: id, > 0 */
	__u64 vram_bytes; /* in: device memory, informational */
	char ident[GPUMUX_IDENT_LEN]; /* in: "0000:c1:00.0", "virtual:0" */
	__u64 reserved[2]; /* in: must be zero */
};

/*
 * GPUMUX_CMD_GPU_REMOVE: control.  Errors: ENOENT (no such GPU), EBUSY (a
 * tenant still holds or is promised CUs on it).
 */
struct gpumux_gpu_remove {
	__u32 gpu_id; /* in */
	__u32 reserved; /* in: must be zero */
};

/* Flags of struct gpumux_tenant_create. */
#define GPUMUX_TENANT_CLOEXEC (1U << 0) /* the returned fd is O_CLOEXEC */

/*
 * GPUMUX_CMD_TENANT_CREATE: control.  Creates a tenant and installs its
 * tenant file as a new fd in the calling process.  Errors: EINVAL (name
 * empty or not NUL-terminated, max_cus > GPUMUX_MAX_CUS), ENOSPC
 * (max_tenants reached), EMFILE/ENFILE, ENOMEM.
 */
struct gpumux_tenant_create {
	char name[GPUMUX_NAME_LEN]; /* in: human name, for state and traces */
	__u32 flags; /* in: GPUMUX_TENANT_* */
	__u32 max_cus; /* in: most CUs it may hold on any one GPU; 0: none */
	__u64 pinned_quota; /* in: most pinned bytes it may hold; 0: none */
	__u32 tenant_id; /* out: id, > 0, not reused soon */
	__s32 fd; /* out: the tenant file */
	__u64 reserved[2]; /* in: must be zero */
};

/* Flags of struct gpumux_tenant_fence. */
#define GPUMUX_FENCE_CLEAR (1U << 0) /* lift the fence instead */

/*
 * GPUMUX_CMD_TENANT_FENCE: control.  Fencing takes every CU the tenant
 * holds at once (no deadline), drops its pending growth and refuses it new
 * partitions and buffers until the fence is cleared.  Its buffers and
 * mappings stay.  The tenant gets GPUMUX_EVENT_FENCED.  Errors: ENOENT.
 */
struct gpumux_tenant_fence {
	__u32 tenant_id; /* in */
	__u32 flags; /* in: GPUMUX_FENCE_* */
};

/* Flags of a partition (struct gpumux_part_set and gpumux_part_info). */
#define GPUMUX_PART_EXCLUSIVE 0 /* no other tenant may hold these CUs */
#define GPUMUX_PART_SHARED (1U << 0) /* may overlap other shared partitions */

/*
 * GPUMUX_CMD_PART_SET: control.  Sets the tenant's target CU mask on a GPU.
 *
 *  - CUs in the active mask but not in the new target are revoked: the
 *    tenant gets GPUMUX_EVENT_PART_CHANGED and must acknowledge
 *    (GPUMUX_CMD_PART_ACK) once its streams run on the smaller mask.  Until
 *    then the CUs stay its own.  If no acknowledgment comes within
 *    @deadline_ms, the CUs are taken back anyway and the tenant is fenced
 *    (as by GPUMUX_CMD_TENANT_FENCE: it loses every partition), and the
 *    control files get GPUMUX_EVENT_PART_FENCED.
 *  - CUs in the target but not active are granted as soon as no other
 *    partition holds them (at once if free).
 *  - An empty mask releases the GPU (after the revocation).
 *
 * Every change of the active or target mask bumps the tenant's partition
 * generation on that GPU.  Errors: ENOENT (no such tenant or GPU), EINVAL
 * (a CU at or past the GPU's count, unknown flags, deadline_ms 0 or over
 * 600000 while revoking), EDQUOT (more CUs than the tenant's max_cus),
 * EBUSY (an exclusive target overlaps another tenant's target, or a
 * shared one overlaps an exclusive target), EPERM (tenant fenced and mask
 * not empty), EXDEV (changing exclusive/shared while CUs are held: release
 * first).
 */
struct gpumux_part_set {
	__u32 tenant_id; /* in */
	__u32 gpu_id; /* in */
	__u32 flags; /* in: GPUMUX_PART_* */
	__u32 deadline_ms; /* in: time the tenant has to acknowledge a shrink */
	__u64 generation; /* out: the tenant's generation after the change */
	__u64 mask[GPUMUX_MASK_WORDS]; /* in: target CUs, bit n = CU n */
	__u64 reserved[2]; /* in: must be zero */
};

/*
 * GPUMUX_CMD_PART_ACK: tenant.  Acknowledges the partition change of
 * @generation on @gpu_id: the tenant no longer uses revoked CUs.  Errors:
 * ENOENT (no partition on that GPU), ESTALE (the generation is not the
 * current one: read the partition again), EALREADY (nothing to
 * acknowledge), EPERM (fenced).
 */
struct gpumux_part_ack {
	__u32 gpu_id; /* in */
	__u32 reserved; /* in: must be zero */
	__u64 generation; /* in */
};

/* States of a partition, in struct gpumux_part_info.state. */
#define GPUMUX_PART_STABLE 0 /* active == target */
#define GPUMUX_PART_REVOKING 1 /* waiting for the tenant's ack */
#define GPUMUX_PART_GROWING 2 /* target CUs still held by others */

/* One partition: an entry of GPUMUX_LIST_PARTITIONS. */
struct gpumux_part_info {
	__u32 tenant_id;
	__u32 gpu_id;
	__u32 flags; /* GPUMUX_PART_* */
	__u32 state; /* GPUMUX_PART_STABLE/REVOKING/GROWING */
	__u64 generation;
	__u64 deadline_ns; /* CLOCK_MONOTONIC deadline while REVOKING */
	__u64 active[GPUMUX_MASK_WORDS]; /* CUs the tenant may use now */
	__u64 target[GPUMUX_MASK_WORDS]; /* CUs it will have */
};

/* Flags of a buffer or grant access. */
#define GPUMUX_ACCESS_RO 0
#define GPUMUX_ACCESS_RW 1

/*
 * GPUMUX_CMD_BUF_ALLOC: tenant.  Allocates zeroed, pinned pages, charged to
 * the tenant's quota and the global limit.  Map them with
 * mmap(NULL, size, prot, MAP_SHARED, tenant_fd, mmap_offset).  The offset
 * is the buffer id shifted by 40 bits: 32-bit processes, whose mmap
 * offsets are limited to 2^44 bytes, can map only buffer ids below 16.  Errors:
 * EINVAL (size 0, not a multiple of the page size, or over 1 TiB),
 * EDQUOT (over the tenant's quota), ENOSPC (over the global limit or too many buffers),
 * ENOMEM, EPERM (fenced).
 */
struct gpumux_buf_alloc {
	__u64 size; /* in: bytes, a multiple of the page size */
	__u32 flags; /* in: must be zero */
	__u32 buf_id; /* out: id, > 0, unique among all tenants */
	__u64 mmap_offset; /* out: offset for mmap() on a tenant file */
	__u64 reserved[2]; /* in: must be zero */
};

/*
 * GPUMUX_CMD_BUF_FREE: tenant.  Drops the tenant's buffer and every grant
 * of it (each grantee gets GPUMUX_EVENT_GRANT_REVOKED, but keeps what it
 * has mapped).  Pages still mapped (by this or a grantee) stay valid, and
 * stay charged to the owner, until the last mapping goes.  Errors: ENOENT (no
 * such buffer of this tenant, or already freed).
 */
struct gpumux_buf_free {
	__u32 buf_id; /* in */
	__u32 reserved; /* in: must be zero */
};

/*
 * GPUMUX_CMD_GRANT: control.  Lets @tenant_id map buffer @buf_id of another
 * tenant, read-only or read-write; it maps it with the buffer's
 * mmap_offset on its own tenant file.  A read-only mapping can never be
 * made writable (mprotect included).  Granting again: the same access
 * changes nothing; read-write upgrades the grant for new mappings (those
 * made before stay read-only); read-only ends the old grant as
 * GPUMUX_CMD_GRANT_REVOKE does (its mappings fault with SIGBUS) and starts a
 * new one, so a downgraded tenant keeps no writable mapping.
 * Errors: ENOENT (no such buffer or tenant), EINVAL (the owner itself,
 * unknown access), EPERM (grantee fenced), ENOSPC (too many grants).
 */
struct gpumux_grant {
	__u32 buf_id; /* in */
	__u32 tenant_id; /* in: the grantee */
	__u32 access; /* in: GPUMUX_ACCESS_RO or GPUMUX_ACCESS_RW */
	__u32 reserved; /* in: must be zero */
};

/*
 * GPUMUX_CMD_GRANT_REVOKE: control.  Ends a grant: the grantee's mappings
 * of the buffer are torn down (a later access faults with SIGBUS) and it
 * gets GPUMUX_EVENT_GRANT_REVOKED.  Errors: ENOENT (no such grant).
 */
struct gpumux_grant_revoke {
	__u32 buf_id; /* in */
	__u32 tenant_id; /* in */
};

/* One GPU: an entry of GPUMUX_LIST_GPUS. */
struct gpumux_gpu_info {
	__u32 gpu_id;
	__u32 cus;
	__u64 vram_bytes;
	char ident[GPUMUX_IDENT_LEN];
	__u32 cus_exclusive; /* CUs held by exclusive partitions */
	__u32 cus_shared; /* CUs held by shared partitions, and not exclusive */
};

/* Flags of struct gpumux_tenant_info. */
#define GPUMUX_TENANT_FENCED (1U << 0)

/* One tenant: an entry of GPUMUX_LIST_TENANTS. */
struct gpumux_tenant_info {
	__u32 tenant_id;
	__u32 flags; /* GPUMUX_TENANT_FENCED */
	char name[GPUMUX_NAME_LEN];
	__u32 max_cus;
	__u32 nr_buffers;
	__u64 pinned_quota;
	__u64 pinned_used; /* bytes charged to it, freed buffers still mapped included */
	__s32 creator_pid; /* thread group of the creator, in the caller's pid ns */
	__u32 creator_uid; /* in the caller's user ns */
};

/* One buffer: an entry of GPUMUX_LIST_BUFFERS. */
struct gpumux_buf_info {
	__u32 buf_id;
	__u32 owner_id; /* owning tenant */
	__u64 size;
	__u64 mmap_offset;
	__u32 nr_grants;
	__u32 access; /* on a tenant file: its own access (RW if owner) */
};

/* One grant: an entry of GPUMUX_LIST_GRANTS. */
struct gpumux_grant_info {
	__u32 buf_id;
	__u32 owner_id;
	__u32 tenant_id; /* grantee */
	__u32 access; /* GPUMUX_ACCESS_* */
};

/* Kinds of GPUMUX_CMD_LIST. */
#define GPUMUX_LIST_GPUS 1 /* struct gpumux_gpu_info; control only */
#define GPUMUX_LIST_TENANTS \
	2 /* struct gpumux_tenant_info; a tenant sees itself */
#define GPUMUX_LIST_PARTITIONS \
	3 /* struct gpumux_part_info; a tenant: its own */
#define GPUMUX_LIST_BUFFERS \
	4 /* struct gpumux_buf_info; a tenant: own + granted */
#define GPUMUX_LIST_GRANTS 5 /* struct gpumux_grant_info; a tenant: to it */

/*
 * GPUMUX_CMD_LIST: either file.  Copies out entries in increasing id order
 * (partitions: tenant id, then GPU id) starting at @start_id, at most 1024
 * per call; to page through, call again with @start_id one past the last
 * id returned.  For partitions @start_id is a tenant id and a call returns
 * a tenant's partitions whole (GPUMUX_MAX_GPUS entries always hold one
 * tenant's).  Errors: EINVAL (unknown kind, entry_size not the kernel's),
 * EPERM (a tenant asking for GPUs), EOVERFLOW (@capacity cannot hold the
 * first tenant's partitions).
 */
struct gpumux_list {
	__u32 kind; /* in: GPUMUX_LIST_* */
	__u32 entry_size; /* in: sizeof the entry struct */
	__u64 addr; /* in: array of @capacity entries */
	__u32 capacity; /* in: entries the array holds; 0 just counts */
	__u32 count; /* out: entries written */
	__u32 start_id; /* in: first id to return */
	__u32 total; /* out: entries at or after start_id */
	__u64 reserved[2]; /* in: must be zero */
};

/* Event types. */
#define GPUMUX_EVENT_TENANT_GONE 1 /* control: last reference closed */
#define GPUMUX_EVENT_PART_ACKED 2 /* control: tenant acknowledged a shrink */
#define GPUMUX_EVENT_PART_FENCED 3 /* control: deadline passed, tenant fenced */
#define GPUMUX_EVENT_PART_GRANTED 4 /* control: pending growth applied */
#define GPUMUX_EVENT_PART_CHANGED 5 /* tenant: its partition changed */
#define GPUMUX_EVENT_FENCED 6 /* tenant: it was fenced (or cleared, arg 0) */
#define GPUMUX_EVENT_GRANT_REVOKED 7 /* tenant: a grant to it ended */
#define GPUMUX_EVENT_GRANT_ADDED 8 /* tenant: a buffer was granted to it */
#define GPUMUX_EVENT_OVERFLOW 9 /* either: events were dropped; re-list */

/* One event, as read() returns them and GPUMUX_CMD_EVENT_FETCH copies. */
struct gpumux_event {
	__u32 type; /* GPUMUX_EVENT_* */
	__u32 tenant_id;
	__u32 gpu_id; /* partition events */
	__u32 buf_id; /* grant events */
	__u64 generation; /* partition events */
	__u64 arg; /* type-specific: access, fenced flag, dropped count */
	__u64 timestamp_ns; /* CLOCK_MONOTONIC */
};

/*
 * GPUMUX_CMD_EVENT_FETCH: either file.  Copies up to @capacity queued
 * events to @addr and returns (ioctl: in @count; uring_cmd: also as the
 * CQE result) how many.  Through ioctl it blocks until one is queued
 * unless the file is O_NONBLOCK (then EAGAIN).  Through uring_cmd it stays
 * pending until one is queued: the daemon keeps one armed.  A pending
 * fetch reads @addr and @capacity again when it completes, so the struct
 * must stay valid (and is best left unchanged) while it is pending.  A pending
 * fetch completes with ECANCELED if the issuing task exits or the ring is
 * torn down; queued events are never lost by that.  Errors: EINVAL
 * (capacity 0), EINTR (ioctl, signal).
 */
struct gpumux_event_fetch {
	__u64 addr; /* in: array of struct gpumux_event */
	__u32 capacity; /* in: entries the array holds, > 0 */
	__u32 count; /* out: entries written */
	__u64 reserved[2]; /* in: must be zero */
};

#define GPUMUX_IOC_MAGIC 0xB8

#define GPUMUX_CMD_GET_INFO _IOWR(GPUMUX_IOC_MAGIC, 0x00, struct gpumux_info)
#define GPUMUX_CMD_GPU_ADD _IOWR(GPUMUX_IOC_MAGIC, 0x01, struct gpumux_gpu_add)
#define GPUMUX_CMD_GPU_REMOVE \
	_IOWR(GPUMUX_IOC_MAGIC, 0x02, struct gpumux_gpu_remove)
#define GPUMUX_CMD_TENANT_CREATE \
	_IOWR(GPUMUX_IOC_MAGIC, 0x03, struct gpumux_tenant_create)
#define GPUMUX_CMD_TENANT_FENCE \
	_IOWR(GPUMUX_IOC_MAGIC, 0x04, struct gpumux_tenant_fence)
#define GPUMUX_CMD_PART_SET \
	_IOWR(GPUMUX_IOC_MAGIC, 0x05, struct gpumux_part_set)
#define GPUMUX_CMD_PART_ACK \
	_IOWR(GPUMUX_IOC_MAGIC, 0x06, struct gpumux_part_ack)
#define GPUMUX_CMD_BUF_ALLOC \
	_IOWR(GPUMUX_IOC_MAGIC, 0x07, struct gpumux_buf_alloc)
#define GPUMUX_CMD_BUF_FREE \
	_IOWR(GPUMUX_IOC_MAGIC, 0x08, struct gpumux_buf_free)
#define GPUMUX_CMD_GRANT _IOWR(GPUMUX_IOC_MAGIC, 0x09, struct gpumux_grant)
#define GPUMUX_CMD_GRANT_REVOKE \
	_IOWR(GPUMUX_IOC_MAGIC, 0x0a, struct gpumux_grant_revoke)
#define GPUMUX_CMD_LIST _IOWR(GPUMUX_IOC_MAGIC, 0x0b, struct gpumux_list)
#define GPUMUX_CMD_EVENT_FETCH \
	_IOWR(GPUMUX_IOC_MAGIC, 0x0c, struct gpumux_event_fetch)

#endif /* _UAPI_LINUX_GPUMUX_H */
