/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxd: the scheduler daemon.  One thread, one sd-event loop:
 *
 *  - kmod.c     the io_uring channel to /dev/gpumux (commands, and one
 *               EVENT_FETCH always armed; completions signal an eventfd
 *               the loop watches)
 *  - sched.c    the view of GPUs, tenants and partitions; the policy
 *               (daemon/policy*.c, pure logic) and how its plan is applied
 *               through the module's revoke/ack/deadline protocol
 *  - bus.c      org.gpumux.Scheduler1 on D-Bus (sd-bus), polkit.c for the
 *               admin methods
 *  - state.c    what the module does not keep (owner, weight, limits),
 *               in the state directory, so a restarted daemon adopts every
 *               tenant
 *  - config.c   /etc/gpumux/gpumuxd.conf; discover.c the GPUs (libdrm)
 *
 * Every function returning int returns 0 (or a count) or a negative errno.
 */
#ifndef GPUMUXD_H
#define GPUMUXD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <liburing.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <linux/gpumux.h>

#include "policy.h"

#define GPUMUXD_VERSION "0.1.0"

#define GM_MASK_WORDS GPUMUX_MASK_WORDS
#define GM_MAX_VGPUS 16 /* [gpu.NAME] sections */

/* ------------------------------------------------------------ config */

struct gm_vgpu_conf {
	char name[32]; /* the NAME of [gpu.NAME]; ident "virtual:NAME" */
	uint32_t cus;
	uint64_t vram;
};

struct gm_config {
	char policy[32];
	uint32_t ack_deadline_ms; /* 1..600000 */
	uint32_t rebalance_delay_ms; /* 0..60000 */
	uint64_t default_pinned_quota; /* bytes, > 0 */
	uint32_t max_tenants; /* 1..65536 */
	uint32_t max_tenants_per_uid; /* 1..65536, callers other than root */
	bool drm; /* discover GPUs with libdrm */
	struct gm_vgpu_conf vgpus[GM_MAX_VGPUS];
	size_t nr_vgpus;
};

void gm_config_defaults(struct gm_config *c);
/*
 * Parse the text @buf (NUL-terminated) of a config file into @c (which has
 * the defaults).  On error returns -EINVAL and writes "LINE: what" into
 * @err (of @errlen bytes).
 */
int gm_config_parse(struct gm_config *c, const char *buf, char *err,
		    size_t errlen);
/* Read and parse @path; a missing file is not an error (returns 0). */
int gm_config_load(struct gm_config *c, const char *path, char *err,
		   size_t errlen);
/* "1G", "512M", "4096": bytes, with K M G T P suffixes (powers of 1024). */
int gm_parse_bytes(const char *s, uint64_t *out);
/* A decimal u32 in [min, max]. */
int gm_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
/* A tenant name: 1..GM_NAME_MAX printable ASCII characters. */
bool gm_name_valid(const char *s);

/*
 * What Attach asks for, after its options were read (defaults filled in),
 * and its checks: pure, so the unit tests cover them.
 */
struct gm_attach_req {
	char name[GPUMUX_NAME_LEN];
	uint32_t weight, min_cus, max_cus, gpu;
	uint64_t pinned_quota;
};

/*
 * Check @r against the GPUs (@gpu_cus: the CU count of GPU @r->gpu, or of
 * the largest GPU when @r->gpu is 0; 0 when @r->gpu does not exist) and
 * the module's pinned limit.  Returns 0, or one of the GM_ERROR_* names of
 * bus-api.h with a message in @msg.
 */
const char *gm_attach_check(const struct gm_attach_req *r, uint32_t gpu_cus,
			    uint64_t pinned_limit, char *msg, size_t msglen);
/* The same for SetLimits: 0 max means no cap. */
const char *gm_limits_check(uint32_t min_cus, uint32_t max_cus,
			    uint32_t kernel_max, char *msg, size_t msglen);

/* ------------------------------------------------------------ kmod */

struct gm_kmod {
	int fd; /* /dev/gpumux, the control file */
	struct io_uring ring;
	bool ring_ok;
	bool broken; /* a submission failed: never submit again */
	int efd; /* eventfd the ring signals */
	uint64_t seq; /* user_data of the last command */
	/* The armed EVENT_FETCH. */
	struct gpumux_event events[64];
	struct gpumux_event_fetch fetch;
	bool fetch_armed; /* submitted, not completed */
	bool fetch_done; /* completed, not processed */
	int fetch_res;
	struct gpumux_info info;
};

int gm_kmod_open(struct gm_kmod *k, const char *path);
void gm_kmod_close(struct gm_kmod *k);
/*
 * Run one command through the ring and wait for it: returns the CQE's
 * result (>= 0 or -errno).  A completion of the armed fetch seen meanwhile
 * is kept for gm_kmod_reap().
 */
int gm_kmod_cmd(struct gm_kmod *k, unsigned int op, void *arg, size_t len);
/* Arm the event fetch unless it is armed. */
int gm_kmod_arm(struct gm_kmod *k);
/*
 * Reap completions; when the fetch completed, returns the number of events
 * in k->events (and clears fetch_done), else 0.  Negative: the fetch
 * failed.
 */
int gm_kmod_reap(struct gm_kmod *k);
/*
 * LIST @kind into a malloc'ed array (*out, *nr entries of @entry_size),
 * every page of it.
 */
int gm_kmod_list(struct gm_kmod *k, uint32_t kind, size_t entry_size,
		 void **out, size_t *nr);

/* ------------------------------------------------------------ state */

struct gm_gpu {
	uint32_t id;
	char ident[GPUMUX_IDENT_LEN];
	char driver[32];
	uint32_t cus;
	uint64_t vram;
	uint32_t used_cus; /* CUs in active masks */
	char path[64];
};

struct gm_load {
	bool valid;
	uint32_t running, waiting, kv_used, kv_total;
	double tokens_per_s;
	uint64_t at_usec; /* CLOCK_MONOTONIC of the report */
};

struct gm_tenant {
	uint32_t id;
	char name[GPUMUX_NAME_LEN];
	uid_t uid; /* the D-Bus caller who attached it */
	pid_t pid;
	uint32_t weight, min_cus, max_cus; /* max_cus: 0 = no cap */
	uint32_t kernel_max_cus; /* the module's cap, set at attach */
	uint32_t preferred_gpu;
	uint64_t pinned_quota;
	bool detached; /* Detach'ed: fenced, waiting for its lease to close */
	bool fenced; /* by Fence() or a missed deadline */
	bool pinned; /* by SetPartition */
	uint32_t pin_gpu;
	uint64_t pin_mask[GM_MASK_WORDS];
	/* From the module (sched.c refreshes it). */
	uint32_t gpu; /* the GPU of its non-empty partition, else 0 */
	uint32_t placed_gpu; /* where the policy placed it last */
	uint64_t target[GM_MASK_WORDS], active[GM_MASK_WORDS];
	uint64_t generation;
	uint32_t part_state;
	struct gm_load load;
	char path[64];
};

/*
 * A partition as the module listed it at the last refresh, masks copied
 * into uint64_t (the uapi's __u64 is another type).
 */
struct gm_part {
	uint32_t tenant_id, gpu_id, state;
	uint64_t generation;
	uint64_t target[GM_MASK_WORDS], active[GM_MASK_WORDS];
};

struct gm_counters {
	uint64_t attaches, detaches, gone, rebalances, fences;
	uint32_t adopted;
};

struct gm_pending_auth; /* polkit.c */

struct gm_ctx {
	struct gm_config conf;
	const char *config_path;
	const char *device;
	const char *state_dir;
	bool verbose;

	sd_event *event;
	sd_bus *bus;
	sd_event_source *kmod_src;
	sd_event_source *rebalance_timer;
	struct gm_kmod kmod;
	struct gpumux_policy policy;

	struct gm_gpu *gpus;
	size_t nr_gpus;
	struct gm_part *parts; /* the module's, at the last gm_refresh() */
	size_t nr_parts;
	struct gm_tenant **tenants; /* sorted by id */
	size_t nr_tenants, cap_tenants;
	struct gm_counters counters;

	struct gm_pending_auth *auths; /* polkit checks in flight */
	bool rebalance_queued;
	unsigned int rebalance_failures; /* in a row: the retry backs off */
	unsigned int fetch_failures; /* in a row */
};

/* log.c-ish: to stderr with a syslog priority prefix (journald reads it). */
void gm_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern bool gm_verbose;
#define gm_debug(...)                           \
	do {                                    \
		if (gm_verbose)                 \
			gm_log(7, __VA_ARGS__); \
	} while (0)
#define gm_info(...) gm_log(6, __VA_ARGS__)
#define gm_warn(...) gm_log(4, __VA_ARGS__)
#define gm_err(...) gm_log(3, __VA_ARGS__)

/* sched.c */
struct gm_gpu *gm_gpu_find(struct gm_ctx *ctx, uint32_t id);
struct gm_tenant *gm_tenant_find(struct gm_ctx *ctx, uint32_t id);
int gm_tenant_insert(struct gm_ctx *ctx, struct gm_tenant *t);
void gm_tenant_remove(struct gm_ctx *ctx, struct gm_tenant *t);
int gm_gpus_setup(struct gm_ctx *ctx);
int gm_adopt(struct gm_ctx *ctx);
/* Re-plan now; returns -EINVAL when the minimums do not fit. */
int gm_rebalance(struct gm_ctx *ctx);
/* Re-plan after conf.rebalance_delay_ms (coalesces bursts). */
void gm_rebalance_later(struct gm_ctx *ctx);
/*
 * Plan with @extra added (not yet a tenant), without applying: 0 when its
 * minimum fits, -ENOSPC when not.
 */
int gm_plan_fits(struct gm_ctx *ctx, const struct gm_tenant *extra);
/* Read partitions back from the module, signal what changed. */
int gm_refresh(struct gm_ctx *ctx);
int gm_handle_events(struct gm_ctx *ctx, const struct gpumux_event *ev,
		     size_t n);
uint64_t gm_tenant_pinned_bytes(struct gm_ctx *ctx, struct gm_tenant *t);

/* state.c */
int gm_state_save(struct gm_ctx *ctx);
/*
 * Read the state file once: its well-formed entries into a malloc'ed array
 * (*out, *nr; only the fields the file holds are set).  A missing file is
 * no entry.
 */
int gm_state_load(struct gm_ctx *ctx, struct gm_tenant **out, size_t *nr);

/* discover.c: call @add for every DRM GPU found; its error stops it. */
int gm_discover_drm(int (*add)(void *data, const char *ident,
			       const char *driver, uint32_t cus, uint64_t vram),
		    void *data);

/* bus.c */
int gm_bus_setup(struct gm_ctx *ctx);
void gm_bus_tenant_added(struct gm_ctx *ctx, struct gm_tenant *t);
void gm_bus_tenant_gone(struct gm_ctx *ctx, struct gm_tenant *t,
			const char *reason);
void gm_bus_partition_changed(struct gm_ctx *ctx, struct gm_tenant *t);
void gm_bus_gpu_changed(struct gm_ctx *ctx, struct gm_gpu *g);
void gm_bus_counters_changed(struct gm_ctx *ctx);
extern const sd_bus_error_map gm_bus_errors[];

/* polkit.c */
/*
 * May the sender of @m do an admin action?  1: yes, go on; 0: asked
 * polkit, the method will be called again with the same message when it
 * answers (the method returns 1 without a reply: handled, for now); < 0: error set in
 * @error (AccessDenied).  @handler is the method itself.
 */
int gm_auth_admin(struct gm_ctx *ctx, sd_bus_message *m,
		  sd_bus_message_handler_t handler, sd_bus_error *error);
void gm_auth_cancel_all(struct gm_ctx *ctx);
/* The caller's uid (euid, else uid) and pid. */
int gm_sender_creds(sd_bus_message *m, uid_t *uid, pid_t *pid);

/* Mask helpers. */
static inline unsigned int gm_mask_count(const uint64_t *m)
{
	unsigned int i, n = 0;

	for (i = 0; i < GM_MASK_WORDS; i++)
		n += (unsigned int)__builtin_popcountll(m[i]);
	return n;
}

static inline bool gm_mask_empty(const uint64_t *m)
{
	return gm_mask_count(m) == 0;
}

#endif /* GPUMUXD_H */
