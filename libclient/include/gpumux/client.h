/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libgpumux: the client library of gpumux, for tenants (inference engines)
 * that share GPUs through gpumuxd.
 *
 * A tenant attaches to the scheduler daemon over D-Bus and receives a
 * lease: a file descriptor of the gpumux kernel module.  Through the lease
 * it learns which compute units (CUs) it may use on which GPU, is told when
 * that changes (and acknowledges shrinks), and allocates and maps pinned
 * host memory.  Closing the lease (and unmapping every buffer) ends the
 * tenant.
 *
 * Conventions:
 *  - Handles (struct gpumux_tenant, struct gpumux_buffer) are opaque.
 *  - Parameter structs come from gpumux_*_default_params(); set the fields
 *    you need and leave the rest (reserved fields must stay zero).
 *  - Every function returns 0 on success, or a non-negative value where its
 *    comment says so, and a negative errno value on failure.  -EINVAL is
 *    returned for NULL handles or pointers that must not be NULL.  The
 *    library never prints, never exits and installs no signal handlers.
 *  - Each function's comment states its thread safety.  In general a tenant
 *    handle may be used from several threads at once, except that
 *    gpumux_tenant_close() and gpumux_tenant_detach() must not run
 *    concurrently with any other call on the tenant or on its buffers.
 *  - After fork(), the child must not use the parent's handles except to
 *    close them.
 *
 * Errors that D-Bus calls return, besides those listed per function:
 *   ENOENT, ECONNREFUSED  the bus socket is missing or nobody listens
 *   EHOSTUNREACH          gpumuxd is not running (the name has no owner)
 *   ETIMEDOUT             no reply within the call timeout
 *   EACCES, EPERM         refused by the daemon or the bus policy
 *   and the errno of each org.gpumux.Scheduler1.Error.* name:
 *   InvalidOption EINVAL, InvalidValue ERANGE, NoSuchTenant ESRCH,
 *   NoSuchGPU ENODEV, NotOwner EPERM, AccessDenied EACCES, NoCapacity
 *   ENOSPC, QuotaExceeded EDQUOT, TooManyTenants EUSERS, Busy EBUSY,
 *   ModuleFailed EIO.
 *
 * Link with `pkg-config --cflags --libs gpumux`.  Man pages: gpumux(3) and
 * one per function.
 */
#ifndef GPUMUX_CLIENT_H
#define GPUMUX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this interface (the library's symbol version is GPUMUX_0.1). */
#define GPUMUX_CLIENT_VERSION_MAJOR 0
#define GPUMUX_CLIENT_VERSION_MINOR 1

/* Most CUs of one GPU, and the 64-bit words of a CU mask. */
#define GPUMUX_CU_MAX 1024
#define GPUMUX_CU_MASK_WORDS (GPUMUX_CU_MAX / 64)

/* Environment variables by which `gpumuxctl attach` passes a lease. */
#define GPUMUX_ENV_LEASE_FD "GPUMUX_LEASE_FD" /* the fd number, decimal */
#define GPUMUX_ENV_TENANT "GPUMUX_TENANT" /* the tenant's object path */

struct gpumux_tenant;
struct gpumux_buffer;

/* ------------------------------------------------------------- attaching */

/*
 * Options of gpumux_tenant_attach().  A zero (or NULL) field is not sent,
 * so the daemon's default applies.
 */
struct gpumux_attach_params {
	const char *name; /* 1..31 printable characters; default "pid-<pid>" */
	uint32_t weight; /* share of the CUs, 1..65535; default 100 */
	uint32_t min_cus; /* guaranteed CUs on its GPU; default 0 */
	uint32_t max_cus; /* cap on CUs on its GPU; default: the whole GPU */
	uint32_t gpu; /* the GPU id it must run on; default: any */
	uint64_t pinned_quota; /* most pinned bytes; default: daemon config */
	/*
	 * D-Bus address of the bus to use, e.g. "unix:path=/run/x/bus";
	 * NULL: the system bus ($DBUS_SYSTEM_BUS_ADDRESS when set).
	 */
	const char *bus_address;
	uint64_t timeout_usec; /* per D-Bus call; 0: sd-bus default (25 s) */
	uint64_t reserved[4]; /* must be zero */
};

/*
 * Options of gpumux_tenant_adopt_fd() and gpumux_tenant_from_env().
 */
struct gpumux_adopt_params {
	/*
	 * The tenant's D-Bus object path; NULL: derived from the tenant id
	 * the lease reports (/org/gpumux/Scheduler1/tenant/ID).
	 */
	const char *object_path;
	const char *bus_address; /* as in struct gpumux_attach_params */
	uint64_t timeout_usec; /* as in struct gpumux_attach_params */
	uint64_t reserved[4]; /* must be zero */
};

/*
 * Default attach options: everything zero (daemon defaults, system bus).
 * Thread-safe.
 */
struct gpumux_attach_params gpumux_attach_default_params(void);

/*
 * Default adopt options: everything zero.  Thread-safe.
 */
struct gpumux_adopt_params gpumux_adopt_default_params(void);

/*
 * Attach to gpumuxd (org.gpumux.Scheduler1.Manager.Attach) and take the
 * lease.  @p may be NULL for the defaults.  The lease fd is O_CLOEXEC and
 * O_NONBLOCK.  On success *@out is the new tenant.
 * Errors: EINVAL (bad name, reserved field set, @out NULL), ERANGE (weight
 * over 65535, CUs over GPUMUX_CU_MAX, min_cus > max_cus), EPROTO (the reply
 * is not a lease), ENOMEM, and the D-Bus errors above (ENODEV: no such
 * GPU, ENOSPC: not enough CUs for min_cus, EUSERS: too many tenants).
 * Thread-safe.
 */
int gpumux_tenant_attach(const struct gpumux_attach_params *p,
			 struct gpumux_tenant **out);

/*
 * Make a tenant of a lease fd this process already holds (inherited, or
 * received some other way).  On success the tenant owns @fd (it is closed
 * by gpumux_tenant_close()) and sets FD_CLOEXEC and O_NONBLOCK on it; on
 * failure @fd is left alone.  @p may be NULL.  Makes no D-Bus call.
 * Errors: EBADF (@fd not open), ENOTTY (not a gpumux tenant file), EINVAL
 * (bad object path, reserved field set, @out NULL), ENOMEM.  Thread-safe.
 */
int gpumux_tenant_adopt_fd(int fd, const struct gpumux_adopt_params *p,
			   struct gpumux_tenant **out);

/*
 * gpumux_tenant_adopt_fd() of the lease named by the environment:
 * $GPUMUX_LEASE_FD (the fd) and, when set, $GPUMUX_TENANT (the object path,
 * which takes precedence over @p->object_path).  The environment is not
 * changed.  Errors: ENOENT ($GPUMUX_LEASE_FD unset or empty), EINVAL (not a
 * decimal fd number, or a bad $GPUMUX_TENANT), and those of
 * gpumux_tenant_adopt_fd().  Thread-safe as getenv() is (no concurrent
 * setenv()).
 */
int gpumux_tenant_from_env(const struct gpumux_adopt_params *p,
			   struct gpumux_tenant **out);

/*
 * End the tenant: call Manager.Detach, then release the handle as
 * gpumux_tenant_close() does.  The handle is released even when the call
 * fails; the lease then ends anyway once its fd and mappings are gone.
 * Returns 0 or the D-Bus error (ESRCH: the daemon no longer knows it).
 * Not thread-safe: no other call on @t or its buffers may run concurrently.
 */
int gpumux_tenant_detach(struct gpumux_tenant *t);

/*
 * Release the handle: close the lease fd and the D-Bus connection.  The
 * tenant ends once the fd and every mapping of its buffers are gone.
 * Buffer handles stay valid until gpumux_buffer_free(); their mappings stay
 * usable.  @t NULL is allowed (returns 0).  Not thread-safe: no other call
 * on @t or its buffers may run concurrently.
 */
int gpumux_tenant_close(struct gpumux_tenant *t);

/*
 * The lease fd, to poll() for POLLIN: readable when events are queued (see
 * gpumux_tenant_dispatch()).  Do not read from it or close it yourself.
 * Returns the fd (>= 0), EINVAL, or EBADF after close.  Thread-safe.
 */
int gpumux_tenant_fd(const struct gpumux_tenant *t);

/*
 * The module's id of the tenant.  Returns the id (> 0) or EINVAL.
 * Thread-safe.
 */
int gpumux_tenant_id(const struct gpumux_tenant *t);

/*
 * The tenant's D-Bus object path, valid while @t is.  Returns 0 with
 * *@path set, or EINVAL.  Thread-safe.
 */
int gpumux_tenant_object_path(const struct gpumux_tenant *t, const char **path);

/* ------------------------------------------------------------ partitions */

/* States of a partition. */
enum gpumux_partition_state {
	GPUMUX_PARTITION_STABLE = 0, /* active == target */
	GPUMUX_PARTITION_REVOKING = 1, /* a shrink waits for the ack */
	GPUMUX_PARTITION_GROWING = 2, /* target CUs still held by others */
};

/* Flags of a partition. */
#define GPUMUX_PARTITION_SHARED (1U << 0) /* may overlap other shared ones */

/* The tenant's partition on one GPU. */
struct gpumux_partition {
	uint32_t gpu_id;
	uint32_t flags; /* GPUMUX_PARTITION_SHARED */
	uint32_t state; /* enum gpumux_partition_state */
	uint32_t reserved;
	uint64_t generation; /* bumped by every change; what an ack names */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC ack deadline while REVOKING */
	uint64_t active[GPUMUX_CU_MASK_WORDS]; /* CUs it may use now */
	uint64_t target[GPUMUX_CU_MASK_WORDS]; /* CUs it will have */
};

/*
 * The tenant's partitions, one per GPU it holds or is promised CUs on,
 * in GPU id order.  Fills up to @cap entries of @parts and sets *@n to the
 * number the tenant has.  Returns 0, ENOBUFS (more than @cap: the first
 * @cap are filled, *@n tells how many there are), EINVAL (@parts NULL with
 * @cap > 0, @n NULL), EBADF (closed), or the module's errno.  Thread-safe.
 */
int gpumux_tenant_partitions(struct gpumux_tenant *t,
			     struct gpumux_partition *parts, size_t cap,
			     size_t *n);

/*
 * The tenant's partition on GPU @gpu_id.  Returns 0, ENOENT (none), or as
 * gpumux_tenant_partitions().  Thread-safe.
 */
int gpumux_tenant_partition(struct gpumux_tenant *t, uint32_t gpu_id,
			    struct gpumux_partition *out);

/*
 * Acknowledge partition change @generation on @gpu_id: the tenant no longer
 * uses the revoked CUs.  Errors: ENOENT (no partition on that GPU), ESTALE
 * (not the current generation: read the partition again), EALREADY
 * (nothing to acknowledge), EPERM (fenced), EBADF (closed).  Thread-safe.
 */
int gpumux_tenant_ack(struct gpumux_tenant *t, uint32_t gpu_id,
		      uint64_t generation);

/* Types of events, in struct gpumux_tenant_event.type. */
enum gpumux_event_type {
	/* The partition on gpu_id changed (generation: the new one). */
	GPUMUX_TENANT_EVENT_PARTITION_CHANGED = 5,
	/* The tenant was fenced (arg 1) or the fence lifted (arg 0). */
	GPUMUX_TENANT_EVENT_FENCED = 6,
	/* The grant of buf_id ended; its mappings fault (SIGBUS). */
	GPUMUX_TENANT_EVENT_GRANT_REVOKED = 7,
	/* Buffer buf_id was granted (arg: enum gpumux_buffer_access). */
	GPUMUX_TENANT_EVENT_GRANT_ADDED = 8,
	/* arg events were dropped: list partitions and buffers again. */
	GPUMUX_TENANT_EVENT_OVERFLOW = 9,
};

/* One event.  Types not listed above may appear later: ignore them. */
struct gpumux_tenant_event {
	uint32_t type; /* enum gpumux_event_type */
	uint32_t gpu_id; /* partition events */
	uint32_t buf_id; /* grant events */
	uint32_t reserved;
	uint64_t generation; /* partition events */
	uint64_t arg; /* type-specific, see enum gpumux_event_type */
	uint64_t timestamp_ns; /* CLOCK_MONOTONIC */
};

/*
 * Called by gpumux_tenant_dispatch() for each event, in the thread that
 * dispatches.  It may call any function of this library except
 * gpumux_tenant_dispatch(), gpumux_tenant_close() and gpumux_tenant_detach()
 * on the same tenant.
 */
typedef void (*gpumux_partition_cb)(struct gpumux_tenant *t,
				    const struct gpumux_tenant_event *ev,
				    void *userdata);

/*
 * Set (or with @cb NULL, clear) the function gpumux_tenant_dispatch() calls
 * for each event (partition changes, fences, grants, overflow).  Returns 0
 * or EINVAL.  Thread-safe; a dispatch running now may still use the old
 * callback for the events it already read.
 */
int gpumux_tenant_set_partition_callback(struct gpumux_tenant *t,
					 gpumux_partition_cb cb,
					 void *userdata);

/*
 * Wait up to @timeout_ms (0: do not wait; -1: no limit) for events on the
 * lease, then read every queued event and pass each to the callback (events
 * are dropped when there is none).  *@n_events (unless NULL) gets the
 * number dispatched; 0 means the timeout passed.  Returns 0, EINTR (a
 * signal arrived while waiting), EDEADLK (called from the callback), EBADF
 * (closed).  Thread-safe: concurrent calls on one tenant take turns.
 */
int gpumux_tenant_dispatch(struct gpumux_tenant *t, int timeout_ms,
			   unsigned int *n_events);

/* -------------------------------------------------------------- CU masks */

/*
 * Helpers for CU masks of GPUMUX_CU_MASK_WORDS words (bit n of word n / 64
 * is CU n), such as struct gpumux_partition's active and target.  All are
 * pure functions: thread-safe.
 */

/* The number of CUs set (>= 0), or EINVAL (@mask NULL). */
int gpumux_mask_count(const uint64_t *mask);

/* 1 if CU @cu is set, 0 if not; EINVAL (@mask NULL, @cu >= GPUMUX_CU_MAX). */
int gpumux_mask_test(const uint64_t *mask, unsigned int cu);

/*
 * The first CU set at or after @from (>= 0); ENOENT (none), EINVAL (@mask
 * NULL).  Iterate with
 *	for (cu = gpumux_mask_next(m, 0); cu >= 0;
 *	     cu = gpumux_mask_next(m, cu + 1))
 */
int gpumux_mask_next(const uint64_t *mask, unsigned int from);

/*
 * Write the CUs set as a list of ranges, e.g. "0-3,8,10-11" ("" when
 * empty), NUL-terminated, into @buf of @len bytes.  Returns the length
 * written (>= 0, without the NUL), ENOBUFS (too small; when @len > 0, @buf
 * holds the ranges that fit, terminated), EINVAL (@mask or @buf NULL).
 */
int gpumux_mask_format(const uint64_t *mask, char *buf, size_t len);

/* --------------------------------------------------------------- buffers */

/* What a tenant may do with a buffer. */
enum gpumux_buffer_access {
	GPUMUX_BUFFER_RO = 0, /* map read-only */
	GPUMUX_BUFFER_RW = 1, /* map read-write (own buffers are RW) */
};

/* A buffer the tenant can map: its own or one granted to it. */
struct gpumux_buffer_info {
	uint32_t buf_id;
	uint32_t owner_id; /* owning tenant (gpumux_tenant_id() if own) */
	uint64_t size; /* bytes */
	uint32_t access; /* enum gpumux_buffer_access */
	uint32_t nr_grants; /* grants of it to other tenants */
};

/*
 * Allocate zeroed, pinned host memory of @size bytes (rounded up to the
 * page size), charged to the tenant's pinned quota.  On success *@out is
 * the new buffer, unmapped.  Errors: EINVAL (@size 0 or over 1 TiB),
 * EDQUOT (over the tenant's quota), ENOSPC (over the global limit), ENOMEM,
 * EPERM (fenced), EBADF (closed).  Thread-safe.
 */
int gpumux_buffer_alloc(struct gpumux_tenant *t, uint64_t size,
			struct gpumux_buffer **out);

/*
 * Open buffer @buf_id that another tenant granted to this one (or one of
 * its own), to map it with the access it was granted.  Freeing this handle
 * never frees the buffer itself.  Errors: ENOENT (not visible to this
 * tenant), EINVAL, ENOMEM, EBADF (closed).  Thread-safe.
 */
int gpumux_buffer_open_granted(struct gpumux_tenant *t, uint32_t buf_id,
			       struct gpumux_buffer **out);

/*
 * Map the whole buffer (MAP_SHARED) with @prot, PROT_READ or
 * PROT_READ | PROT_WRITE.  A handle holds at most one mapping: mapping again
 * with the same @prot returns the same address.  Errors: EINVAL (other
 * @prot), EACCES (PROT_WRITE on a read-only grant, or the grant ended),
 * EBUSY (mapped with another @prot: unmap first), ENOENT (freed by its
 * owner and not mapped), EBADF (tenant closed), ENOMEM.  Thread-safe.
 */
int gpumux_buffer_map(struct gpumux_buffer *b, int prot, void **addr);

/*
 * Unmap the handle's mapping, if any.  Returns 0 or EINVAL.  Thread-safe,
 * but no thread may still use the mapping.
 */
int gpumux_buffer_unmap(struct gpumux_buffer *b);

/*
 * Unmap and release the handle.  For a buffer from gpumux_buffer_alloc()
 * this also frees the buffer in the module (its grantees keep what they
 * mapped); for one from gpumux_buffer_open_granted() it does not.  The
 * handle is released even on failure.  @b NULL is allowed (returns 0).
 * Returns 0 or the module's errno.  Not thread-safe: no other call on @b
 * may run concurrently.
 */
int gpumux_buffer_free(struct gpumux_buffer *b);

/* The buffer id (> 0), or EINVAL.  Thread-safe. */
int gpumux_buffer_id(const struct gpumux_buffer *b);

/*
 * The buffer's id, owner, size and this tenant's access, as of when the
 * handle was made (nr_grants as of now when the tenant is open).
 * Returns 0 or EINVAL.  Thread-safe.
 */
int gpumux_buffer_info(const struct gpumux_buffer *b,
		       struct gpumux_buffer_info *info);

/*
 * The buffers the tenant can map, own and granted, in id order.  Fills up
 * to @cap entries and sets *@n to how many there are; returns 0, ENOBUFS
 * (more than @cap), EINVAL, EBADF (closed).  Thread-safe.
 */
int gpumux_tenant_buffers(struct gpumux_tenant *t,
			  struct gpumux_buffer_info *bufs, size_t cap,
			  size_t *n);

/* ------------------------------------------------------------------ load */

/* Which fields of struct gpumux_load are sent. */
#define GPUMUX_LOAD_RUNNING (1U << 0)
#define GPUMUX_LOAD_WAITING (1U << 1)
#define GPUMUX_LOAD_KV_BLOCKS_USED (1U << 2)
#define GPUMUX_LOAD_KV_BLOCKS_TOTAL (1U << 3)
#define GPUMUX_LOAD_TOKENS_PER_S (1U << 4)
#define GPUMUX_LOAD_ALL 0x1fU

/* An engine's load, as the scheduler reads it. */
struct gpumux_load {
	uint32_t fields; /* GPUMUX_LOAD_*: the fields to send */
	uint32_t running; /* requests being decoded or prefilled */
	uint32_t waiting; /* requests queued, not admitted yet */
	uint32_t kv_blocks_used; /* KV cache blocks in use */
	uint32_t kv_blocks_total; /* KV cache blocks in the pool */
	uint32_t reserved0;
	double tokens_per_s; /* generated tokens per second, recent */
	uint64_t reserved[4]; /* must be zero */
};

/*
 * A load report with every field selected (GPUMUX_LOAD_ALL) and zero.
 * Thread-safe.
 */
struct gpumux_load gpumux_load_default_params(void);

/*
 * Send a load report (Manager.ReportLoad): shown in the tenant's Load
 * property and used by the policies.  The daemon keeps the last report
 * only: fields not sent in it count as 0.  One D-Bus round trip: call it
 * from a thread that may block for a moment, a few times a second at most.
 * Errors: EINVAL (unknown field bits, reserved set, tokens_per_s negative
 * or not finite, kv_blocks_used > kv_blocks_total when both are sent), the
 * D-Bus errors above (EPERM: not the tenant's owner), EBADF (closed).
 * Thread-safe (D-Bus calls of one tenant are serialized).
 */
int gpumux_tenant_report_load(struct gpumux_tenant *t,
			      const struct gpumux_load *load);

#ifdef __cplusplus
}
#endif

#endif /* GPUMUX_CLIENT_H */
