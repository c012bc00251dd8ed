/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxd global scheduler: where a new request goes, and which running
 * requests move between model instances (Llumnix, OSDI'24).
 *
 * Like the CU policies (policy.h) a global scheduler is pure logic: it
 * reads a snapshot of the instances (struct gpumux_gsched_input) and
 * returns decisions.  No I/O, no system calls (it may allocate memory),
 * time only as passed in, deterministic: the same parameters and the same
 * input always give the same output ("roundrobin" also remembers where it
 * dispatched last: the same sequence of calls gives the same answers).
 * gpumuxd carries the decisions out (the migration handshake itself is the
 * state machine in migration.h); the cluster simulator in bench/ drives
 * the same code.
 *
 * Design note
 * -----------
 * Units.  KV memory is counted in blocks of the instance's own block size
 * (block_tokens tokens per block, which may differ between instances);
 * time in milliseconds of one monotonic clock (CLOCK_MONOTONIC), passed in
 * as now_ms.
 *
 * Virtual usage (blocks) of an instance, as Llumnix defines it:
 *	kv_used - migrating out          physical blocks in use, less those of
 *	                                 running requests migrating away (a
 *	                                 migrating request counts where it
 *	                                 goes, so a plan does not move the
 *	                                 same load twice)
 *	+ head-of-line demand            blocks the first waiting request needs
 *	                                 to be prefilled (the queue's head, so
 *	                                 a big request that does not fit makes
 *	                                 its instance look full: that is what
 *	                                 drives migrations out of it and lets
 *	                                 the request in: de-fragmentation)
 *	+ high-priority headroom         params.high_headroom_blocks, once per
 *	                                 instance holding a high-priority
 *	                                 request (running or waiting): room
 *	                                 kept free so those run at full speed
 *	                                 (Llumnix spreads the headroom over the
 *	                                 class's requests; the sum is this)
 *	+ pending migration blocks       blocks an incoming migration still has
 *	                                 to allocate (migration dst_blocks)
 * and infinite for an instance being drained.
 *
 * Freeness (tokens per running request, rounded down, may be negative):
 *	freeness = (kv_total - virtual usage) * block_tokens / B
 * where B, the batch size, is the number of running requests not
 * migrating out, or 1 when there is none (an idle instance's freeness is
 * its whole free capacity).  In words: how many more decode steps every
 * request of the batch could take before the instance runs out of KV
 * memory, which is comparable across instances of different block sizes.
 * A draining instance has freeness GPUMUX_GSCHED_FREENESS_MIN.
 *
 * Thresholds ("llumnix").  Load balancing pairs instances whose freeness
 * is below params.src_freeness (sources, least free first; default 64
 * tokens) with instances above params.dst_freeness (destinations, most
 * free first; default 512 tokens); src_freeness < dst_freeness, and the
 * gap is the hysteresis band where nothing moves.  A move is made only if
 * it narrows the gap between the two without reversing it (Llumnix's
 * "balanced" rule), so a plan never asks for the move back.  A request
 * that migrated less than params.cooldown_ms ago is not chosen again
 * (except to drain an instance).  De-fragmentation has no threshold: it
 * acts when a queue's head cannot start for want of free blocks.  See
 * gsched-llumnix.c for the planning order.
 *
 * What the daemon must feed in, and how often: every instance's report
 * (KV blocks total and used, block size, its running requests and its
 * queue, each with blocks, tokens, priority and, if known, tokens left)
 * at least every 50 ms, its own draining flags, the migrations in flight,
 * when each request last migrated, and the time.  An instance whose
 * report is older than params.stale_ms (default 250 ms: five missed
 * reports) gets no new request and takes no part in migrations.  The
 * daemon calls dispatch for each new request and migrate_plan on each
 * scheduling tick (at most every rebalance_delay_ms), then starts the
 * planned migrations; the plan counts the ones in flight against its
 * limits.
 *
 * Use:
 *	struct gpumux_gsched_params p = gpumux_gsched_default_params();
 *	struct gpumux_gsched gs;
 *	int ret = gpumux_gsched_init(&gs, "llumnix", &p);
 *	...
 *	ret = gpumux_gsched_dispatch(&gs, &in, &req, &where);
 *	ret = gpumux_gsched_migrate_plan(&gs, &in, &plan);
 *	...
 *	gpumux_gsched_fini(&gs);
 *
 * Every function returning int returns 0 or a negative errno.
 */
#ifndef GPUMUX_DAEMON_GSCHED_H
#define GPUMUX_DAEMON_GSCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of one input. */
#define GPUMUX_GSCHED_MAX_INSTANCES 4096
#define GPUMUX_GSCHED_MAX_REQUESTS (1U << 20) /* running + waiting, all */
#define GPUMUX_GSCHED_MAX_BLOCK_TOKENS 65536

/* Request priority classes. */
#define GPUMUX_GSCHED_NORMAL 0
#define GPUMUX_GSCHED_HIGH 1

/*
 * Request flags.  A running request is migrating out of its instance when
 * it has GPUMUX_GSCHED_REQ_MIGRATING or a migration in flight names it
 * with that instance as src; either way no plan moves it again.
 */
#define GPUMUX_GSCHED_REQ_MIGRATING (1U << 0) /* in a migration now */

/* Instance flags. */
#define GPUMUX_GSCHED_INST_DRAINING (1U << 0) /* gpumuxctl drain */

/* Virtual usage and freeness of a draining instance. */
#define GPUMUX_GSCHED_INFINITE UINT64_MAX
#define GPUMUX_GSCHED_FREENESS_MIN INT64_MIN

/*
 * A request on an instance: running (it holds KV blocks) or waiting (not
 * prefilled yet: it needs blocks).  Ids are unique in the whole input.
 */
struct gpumux_gsched_request {
	uint64_t id; /* > 0 */
	/* Tokens so far: prompt and generated (waiting: the prompt). */
	uint32_t tokens;
	/* Running: KV blocks it holds; waiting: blocks it needs to start. */
	uint32_t blocks; /* <= the instance's kv_total */
	uint32_t tokens_left; /* still to generate if known, 0 unknown */
	uint8_t priority; /* GPUMUX_GSCHED_NORMAL or GPUMUX_GSCHED_HIGH */
	uint8_t flags; /* GPUMUX_GSCHED_REQ_* */
	uint16_t reserved; /* must be zero */
	/* When its last migration ended (now_ms clock), 0 never. */
	uint64_t migrated_ms;
};

/* A model instance (an engine) and its last report. */
struct gpumux_gsched_instance {
	uint32_t id; /* > 0, unique in the input */
	uint32_t block_tokens; /* tokens per KV block, 1..MAX_BLOCK_TOKENS */
	uint32_t kv_total; /* KV blocks it has, > 0 */
	uint32_t kv_used; /* KV blocks in use, <= kv_total */
	uint32_t flags; /* GPUMUX_GSCHED_INST_* */
	uint32_t reserved; /* must be zero */
	uint64_t report_ms; /* when its last report arrived, <= now_ms */
	const struct gpumux_gsched_request *running; /* the batch */
	size_t nr_running;
	/* The queue in service order: waiting[0] is the head of the line. */
	const struct gpumux_gsched_request *waiting;
	size_t nr_waiting;
};

/* A migration in flight (started by the daemon, not finished yet). */
struct gpumux_gsched_migration {
	uint64_t request_id; /* > 0, at most one migration per request */
	uint32_t src, dst; /* instance ids of the input, different */
	/*
	 * Blocks the destination still has to allocate for it and that its
	 * kv_used does not show yet (0 once the reservation is reported).
	 */
	uint32_t dst_blocks;
	uint32_t reserved; /* must be zero */
};

/*
 * What a scheduler decides from.  An array may be NULL when its count is
 * 0.  gpumux_gsched_validate() states the rules.
 */
struct gpumux_gsched_input {
	uint64_t now_ms; /* monotonic, ms */
	const struct gpumux_gsched_instance *instances;
	size_t nr_instances; /* 0..GPUMUX_GSCHED_MAX_INSTANCES */
	const struct gpumux_gsched_migration *migrations;
	size_t nr_migrations;
};

/* A request to place. */
struct gpumux_gsched_new_request {
	uint64_t id; /* > 0, not in the input */
	uint32_t prompt_tokens; /* it needs ceil(prompt / block_tokens) blocks,
				 * at least 1, to start */
	uint8_t priority; /* GPUMUX_GSCHED_NORMAL or GPUMUX_GSCHED_HIGH */
	uint8_t reserved[3]; /* must be zero */
};

enum gpumux_gsched_verdict {
	GPUMUX_GSCHED_PLACE = 0, /* send it to instance_id */
	/*
	 * Every instance that could run it is full (its queue holds
	 * max_waiting requests) or has not reported lately: hold it and ask
	 * again once loads change.
	 */
	GPUMUX_GSCHED_QUEUE,
	/*
	 * No instance can run it: none, all draining, or it needs more KV
	 * blocks than any live instance has.
	 */
	GPUMUX_GSCHED_REFUSE,
};

struct gpumux_gsched_placement {
	uint32_t verdict; /* enum gpumux_gsched_verdict */
	uint32_t instance_id; /* GPUMUX_GSCHED_PLACE: where; else 0 */
	uint32_t blocks; /* blocks it needs there to start; else 0 */
	uint32_t reserved;
};

/* Why a move was planned. */
enum gpumux_gsched_reason {
	GPUMUX_GSCHED_REASON_DRAIN = 1, /* its instance is being drained */
	GPUMUX_GSCHED_REASON_BALANCE, /* from a loaded instance to a free one */
	GPUMUX_GSCHED_REASON_DEFRAG, /* makes room for a queued request */
	GPUMUX_GSCHED_REASON_OPERATOR, /* gpumuxctl migrate */
};

/* Move flags. */
#define GPUMUX_GSCHED_MOVE_WAITING (1U << 0) /* waiting: metadata only */

/* One planned migration. */
struct gpumux_gsched_move {
	uint64_t request_id;
	uint32_t src, dst; /* instance ids */
	uint32_t blocks; /* KV blocks to copy now (0 for a waiting one) */
	uint32_t reason; /* enum gpumux_gsched_reason */
	uint32_t flags; /* GPUMUX_GSCHED_MOVE_* */
	uint32_t reserved;
};

/*
 * A migration plan: the caller's array of @max_moves entries, of which the
 * scheduler fills the first @nr_moves, in the order to start them.  The
 * plan never names a request twice, nor one already migrating.  A plan
 * holds at most min(@max_moves, params.max_migrations - in flight) moves:
 * a short array only shortens the plan.
 */
struct gpumux_gsched_plan {
	struct gpumux_gsched_move *moves;
	size_t max_moves;
	size_t nr_moves;
};

/* Migration modes, params.mode (flags; drain is always on). */
#define GPUMUX_GSCHED_MODE_BALANCE (1U << 0)
#define GPUMUX_GSCHED_MODE_DEFRAG (1U << 1)

/* Which running request of a source moves first, params.order. */
enum gpumux_gsched_order {
	/* Fewest KV blocks first (cheapest to move); ties: the lower id. */
	GPUMUX_GSCHED_SHORTEST = 0,
	GPUMUX_GSCHED_LONGEST, /* most KV blocks first; ties: the lower id */
	/* Normal priority before high, each shortest first. */
	GPUMUX_GSCHED_HIGH_LAST,
	/* A pseudo-random order, fixed by params.seed and the request ids. */
	GPUMUX_GSCHED_RANDOM,
};

/*
 * Parameters of a scheduler; gpumux_gsched_default_params() gives the
 * defaults shown.  The simple baselines use stale_ms and max_waiting only.
 */
struct gpumux_gsched_params {
	uint32_t stale_ms; /* 250: a report older than this is stale */
	/* 0: an instance whose queue holds this many waiting is full. */
	uint32_t max_waiting;
	uint32_t high_headroom_blocks; /* 0: see the design note */
	uint32_t mode; /* BALANCE | DEFRAG */
	int64_t src_freeness; /* 64 tokens: below, an instance sheds load */
	int64_t dst_freeness; /* 512 tokens: above, it takes load */
	uint32_t order; /* GPUMUX_GSCHED_SHORTEST */
	uint32_t max_migrations; /* 4: in flight at once, all instances */
	/* 1: in flight at once per instance, as source or destination. */
	uint32_t max_per_instance;
	uint32_t cooldown_ms; /* 2000: no second move sooner (hysteresis) */
	/*
	 * 16: a running request known to finish within this many tokens is
	 * not worth moving (balance and defrag; drain moves it anyway).
	 */
	uint32_t min_tokens_left;
	uint32_t reserved; /* must be zero */
	uint64_t seed; /* 0: for GPUMUX_GSCHED_RANDOM */
};

struct gpumux_gsched;

/*
 * A scheduler backend.  @init, @fini and @migrate_plan may be NULL (no
 * state; never migrates).  @dispatch and @migrate_plan get an input that
 * gpumux_gsched_validate() accepted and leave their output untouched
 * unless they return 0.
 */
struct gpumux_gsched_ops {
	const char *name; /* what gpumux_gsched_find() matches */
	const char *description; /* one line, for humans */
	int (*init)(struct gpumux_gsched *gs);
	void (*fini)(struct gpumux_gsched *gs);
	int (*dispatch)(struct gpumux_gsched *gs,
			const struct gpumux_gsched_input *in,
			const struct gpumux_gsched_new_request *req,
			struct gpumux_gsched_placement *out);
	int (*migrate_plan)(struct gpumux_gsched *gs,
			    const struct gpumux_gsched_input *in,
			    struct gpumux_gsched_plan *out);
};

/* An instance of a scheduler; owned by its caller, set up by *_init(). */
struct gpumux_gsched {
	const struct gpumux_gsched_ops *ops;
	struct gpumux_gsched_params params;
	void *priv; /* the backend's own state, or NULL */
};

/* Load of one instance, as the Llumnix definitions above. */
struct gpumux_gsched_load {
	uint64_t virtual_usage; /* blocks, GPUMUX_GSCHED_INFINITE: draining */
	int64_t freeness; /* tokens per request, or FREENESS_MIN */
	uint32_t batch; /* B: running requests, at least 1 */
	uint32_t hol_blocks; /* the head of the line's demand */
	uint32_t headroom_blocks; /* reserved for high priority */
	uint32_t pending_blocks; /* incoming migrations, not in kv_used */
	uint32_t out_blocks; /* of running requests migrating out */
	uint32_t nr_out; /* running requests migrating out */
	bool draining;
	bool stale;
};

/* The defaults (see struct gpumux_gsched_params). */
struct gpumux_gsched_params gpumux_gsched_default_params(void);

/*
 * gpumux_gsched_check_params() - 0, or -EINVAL: unknown mode bits or order,
 * src_freeness >= dst_freeness, reserved field set.
 */
int gpumux_gsched_check_params(const struct gpumux_gsched_params *p);

/* The backend called @name, or NULL (also for @name NULL). */
const struct gpumux_gsched_ops *gpumux_gsched_find(const char *name);

/* The @n-th backend, from 0, or NULL past the last: for listing them. */
const struct gpumux_gsched_ops *gpumux_gsched_nth(size_t n);

/*
 * gpumux_gsched_init() - set up @gs as an instance of the backend @name
 * with a copy of @params (NULL: the defaults).  Returns 0, -EINVAL (@gs
 * or @name NULL, bad parameters), -ENOENT (no such backend), -ENOMEM.  On
 * error @gs needs no fini.
 */
int gpumux_gsched_init(struct gpumux_gsched *gs, const char *name,
		       const struct gpumux_gsched_params *params);

/* gpumux_gsched_fini() - release @gs; it may be set up again. */
void gpumux_gsched_fini(struct gpumux_gsched *gs);

/*
 * gpumux_gsched_validate() - check @in.  Returns 0, -EINVAL (NULL array
 * with a count; an instance id 0 or repeated, block_tokens 0 or too big,
 * kv_total 0, kv_used > kv_total, report_ms > now_ms, unknown flags,
 * reserved field set; a request id 0 or repeated anywhere in the input,
 * blocks > its instance's kv_total, unknown priority or flags, migrated_ms
 * > now_ms, reserved set; a migration with request id 0 or repeated, src
 * = dst, an instance not in the input, reserved set), -E2BIG (more
 * instances or requests than the limits), -ENOMEM.
 */
int gpumux_gsched_validate(const struct gpumux_gsched_input *in);

/*
 * gpumux_gsched_load() - the load of @in->instances[@idx] under @gs's
 * parameters.  @in must be valid.  Returns 0 or -EINVAL (NULL, @idx out of
 * range).
 */
int gpumux_gsched_load(const struct gpumux_gsched *gs,
		       const struct gpumux_gsched_input *in, size_t idx,
		       struct gpumux_gsched_load *out);

/*
 * gpumux_gsched_freeness() - (@total - @vu) * @block_tokens / max(@batch, 1),
 * rounded toward minus infinity; GPUMUX_GSCHED_FREENESS_MIN for @vu
 * GPUMUX_GSCHED_INFINITE.  @total and @vu below 2^40.
 */
int64_t gpumux_gsched_freeness(uint64_t total, uint64_t vu,
			       uint32_t block_tokens, uint32_t batch);

/* KV blocks @tokens need with @block_tokens per block, at least 1. */
static inline uint32_t gpumux_gsched_blocks(uint32_t tokens,
					    uint32_t block_tokens)
{
	uint64_t b = ((uint64_t)tokens + block_tokens - 1) / block_tokens;

	return b ? (uint32_t)b : 1;
}

/*
 * Blocks request @r of instance @from needs on instance @to: its blocks
 * when both have the same block size, else its tokens in @to's blocks.
 */
static inline uint32_t
gpumux_gsched_blocks_on(const struct gpumux_gsched_request *r,
			const struct gpumux_gsched_instance *from,
			const struct gpumux_gsched_instance *to)
{
	if (from->block_tokens == to->block_tokens)
		return r->blocks;
	return gpumux_gsched_blocks(r->tokens, to->block_tokens);
}

/*
 * gpumux_gsched_dispatch() - validate @in and @req, then pick where @req
 * goes.  Returns 0 with @out filled, gpumux_gsched_validate()'s errors,
 * -EINVAL also for NULL arguments or a bad @req, -EEXIST (@req's id is in
 * @in), -ENOMEM.  On error @out is unchanged.
 */
int gpumux_gsched_dispatch(struct gpumux_gsched *gs,
			   const struct gpumux_gsched_input *in,
			   const struct gpumux_gsched_new_request *req,
			   struct gpumux_gsched_placement *out);

/*
 * gpumux_gsched_migrate_plan() - validate @in, then plan migrations into
 * @out (0 moves for a backend that never migrates).  Returns 0,
 * gpumux_gsched_validate()'s errors, -EINVAL also for NULL arguments or
 * @out->moves NULL with max_moves, -ENOMEM.  On error @out is unchanged.
 */
int gpumux_gsched_migrate_plan(struct gpumux_gsched *gs,
			       const struct gpumux_gsched_input *in,
			       struct gpumux_gsched_plan *out);

/*
 * gpumux_gsched_check_move() - may the operator move request @request_id
 * to instance @dst now (gpumuxctl migrate REQUEST --to INSTANCE)?  The
 * cooldown and the thresholds do not apply; the limits do.  Fills @move
 * (reason OPERATOR) and returns 0, or gpumux_gsched_validate()'s errors,
 * -EINVAL (NULL), -ENOENT (no such request, no such instance), -EALREADY
 * (it is on @dst already), -EBUSY (it is migrating, or a limit on
 * migrations is reached), -EHOSTDOWN (@dst's or the source's report is
 * stale), -ESHUTDOWN (@dst is draining), -ENOSPC (no room on @dst: its
 * free blocks, less its head of line's demand, or its queue is full).
 */
int gpumux_gsched_check_move(const struct gpumux_gsched *gs,
			     const struct gpumux_gsched_input *in,
			     uint64_t request_id, uint32_t dst,
			     struct gpumux_gsched_move *move);

/* Names for humans and gpumuxctl: "drain", "place"... ("?" if unknown). */
const char *gpumux_gsched_reason_name(uint32_t reason);
const char *gpumux_gsched_verdict_name(uint32_t verdict);
const char *gpumux_gsched_order_name(uint32_t order);
/* The order called @name ("shortest", "longest", "high-last", "random"). */
int gpumux_gsched_order_parse(const char *name, uint32_t *order);

/*
 * For backends: may instance @idx take a new request of @blocks blocks?
 * GPUMUX_GSCHED_CAND_OK yes; _BUSY not now (stale report, queue full);
 * _NEVER no (draining, fewer KV blocks than @blocks).
 */
enum {
	GPUMUX_GSCHED_CAND_OK,
	GPUMUX_GSCHED_CAND_BUSY,
	GPUMUX_GSCHED_CAND_NEVER
};
int gpumux_gsched_candidate(const struct gpumux_gsched *gs,
			    const struct gpumux_gsched_input *in, size_t idx,
			    uint32_t blocks);

/* The backends, for gpumux_gsched_find(). */
extern const struct gpumux_gsched_ops gpumux_gsched_llumnix_ops;
extern const struct gpumux_gsched_ops gpumux_gsched_roundrobin_ops;
extern const struct gpumux_gsched_ops gpumux_gsched_leastload_ops;

#endif /* GPUMUX_DAEMON_GSCHED_H */
