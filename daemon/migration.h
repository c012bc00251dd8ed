/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxd live migration of one request: the state machine (Llumnix,
 * OSDI'24: multi-stage copy while the request keeps decoding, then a short
 * stop-and-copy).
 *
 * Pure logic like the policies: no I/O, no system calls, no allocation;
 * time only as passed in (microseconds of CLOCK_MONOTONIC, never going
 * back).  The daemon owns a struct gpumux_mig per migration, feeds it what
 * happens (events: replies of the engines, the module's "tenant gone",
 * timer ticks) one at a time, and carries out the action each step
 * returns; the tests drive it the same way.  The data itself goes through
 * pinned buffers the module shares between the two engines, never through
 * the daemon.
 *
 *	PROPOSED --reserved--> DEST_RESERVED --ready--> COPYING (stage 1..k)
 *	   COPYING --stage done, <= last_stage_blocks left--> FINAL
 *	   COPYING --stage done, more left--> COPYING (stage k + 1)
 *	   FINAL --final done--> (commit asked) --committed--> COMMITTED
 *	   COMMITTED --source freed--> DONE
 *	any state before COMMITTED --failure--> ABORTED
 *
 * Stage k copies the blocks the request completed since stage k - 1
 * ([copied, complete blocks on the source now)); when the source reports
 * a stage done it also says how many complete blocks it holds by then.
 * Once at most params.last_stage_blocks remain, the source pauses the
 * request and copies the rest (the partial last block included) with the
 * request state (tokens, sampler RNG state, position): the FINAL stage;
 * the downtime runs from that pause to the destination's commit.  More
 * than params.max_stages copy stages: abort (the request grows faster than
 * it copies).  A request with few blocks (or a waiting one, 0 blocks)
 * goes straight to FINAL: one stop-and-copy; params.last_stage_blocks =
 * UINT32_MAX makes every migration that (the stop-and-copy baseline).
 *
 * Commit is decided by the daemon: the destination resumes the request
 * only when the daemon answers ACT_COMMIT; a commit that arrives after an
 * abort is refused (-ESTALE) and the destination must free.  So a request
 * never runs on both sides.
 *
 * Failures (event, state: outcome):
 *	destination refuses or dies, before COMMITTED:
 *		CONTINUE_ON_SOURCE (the destination frees; in FINAL the source
 *		resumes)
 *	source finishes, or the client cancels, before COMMITTED:
 *		DEST_FREES (the request ended on the source)
 *	source dies before COMMITTED: RECOMPUTE (the destination frees; the
 *		request is re-run on a survivor by recompute: the fallback)
 *	source dies in COMMITTED: NOTHING_LOST (it runs on the destination)
 *	destination dies in COMMITTED: RECOMPUTE
 *	too many stages, a timeout, EV_ABORT before COMMITTED:
 *		CONTINUE_ON_SOURCE
 * Timeouts (EV_TICK past gpumux_mig_deadline()) free the blocks a vanished
 * peer reserved or holds.  A client's cancel in COMMITTED changes nothing
 * (the request lives on the destination now).
 *
 * Every function returning int returns 0 or a negative errno.
 */
#ifndef GPUMUX_DAEMON_MIGRATION_H
#define GPUMUX_DAEMON_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>

enum gpumux_mig_state {
	GPUMUX_MIG_PROPOSED = 0, /* the destination is asked to reserve */
	GPUMUX_MIG_DEST_RESERVED, /* reserved; the data path is being set up */
	GPUMUX_MIG_COPYING, /* stage k: copying while the request decodes */
	GPUMUX_MIG_FINAL, /* paused: the rest and the state; then commit */
	GPUMUX_MIG_COMMITTED, /* runs on the destination; the source frees */
	GPUMUX_MIG_DONE, /* finished after a commit (see outcome) */
	GPUMUX_MIG_ABORTED, /* finished without a commit (see outcome) */
};

enum gpumux_mig_outcome {
	GPUMUX_MIG_PENDING = 0, /* not finished */
	GPUMUX_MIG_MIGRATED, /* it runs on the destination */
	GPUMUX_MIG_CONTINUE_ON_SOURCE, /* it runs on; the destination frees */
	GPUMUX_MIG_DEST_FREES, /* it ended on the source; dest frees */
	GPUMUX_MIG_NOTHING_LOST, /* source died after commit; on the dest */
	GPUMUX_MIG_RECOMPUTE, /* lost: re-run it on a survivor */
};

/* Why a migration did not end as MIGRATED. */
enum gpumux_mig_reason {
	GPUMUX_MIG_R_NONE = 0,
	GPUMUX_MIG_R_DEST_REFUSED, /* no memory, too many migrations */
	GPUMUX_MIG_R_DEST_DIED,
	GPUMUX_MIG_R_SOURCE_FINISHED,
	GPUMUX_MIG_R_CANCELLED, /* by the client */
	GPUMUX_MIG_R_SOURCE_DIED,
	GPUMUX_MIG_R_TOO_MANY_STAGES,
	GPUMUX_MIG_R_TIMEOUT, /* in the state failed_state */
	GPUMUX_MIG_R_ABORTED, /* EV_ABORT: operator, shutdown, bad reply */
};

enum gpumux_mig_event_type {
	/* The destination reserved @blocks blocks. */
	GPUMUX_MIG_EV_RESERVED = 1,
	/* It refused, or could not grow its reservation, or the commit. */
	GPUMUX_MIG_EV_REFUSED,
	/*
	 * The data path is set up (buffers granted to both): start.
	 * @src_blocks: complete blocks the request holds on the source.
	 */
	GPUMUX_MIG_EV_READY,
	/*
	 * The source copied the stage asked: @blocks (exactly those asked),
	 * @bytes (0: blocks * block_bytes); @src_blocks: complete blocks it
	 * holds now.
	 */
	GPUMUX_MIG_EV_STAGE_DONE,
	/* The source copied the rest and the state: @blocks, @bytes. */
	GPUMUX_MIG_EV_FINAL_DONE,
	GPUMUX_MIG_EV_COMMITTED, /* the destination resumed it */
	GPUMUX_MIG_EV_SOURCE_FREED, /* the source freed its blocks */
	GPUMUX_MIG_EV_SOURCE_FINISHED, /* it finished on the source */
	GPUMUX_MIG_EV_CANCELLED, /* the client cancelled it */
	GPUMUX_MIG_EV_SOURCE_DIED, /* the source engine is gone */
	GPUMUX_MIG_EV_DEST_DIED, /* the destination engine is gone */
	GPUMUX_MIG_EV_ABORT, /* the daemon gives up (operator, shutdown) */
	GPUMUX_MIG_EV_TICK, /* time passed: checks the deadline */
};

struct gpumux_mig_event {
	uint32_t type; /* enum gpumux_mig_event_type */
	uint32_t blocks; /* RESERVED, STAGE_DONE, FINAL_DONE */
	uint32_t src_blocks; /* READY, STAGE_DONE */
	uint32_t reserved; /* must be zero */
	uint64_t bytes; /* STAGE_DONE, FINAL_DONE */
	uint64_t now_us; /* monotonic, >= the previous event's */
};

/* What the daemon does next. */
enum gpumux_mig_action_type {
	GPUMUX_MIG_ACT_NONE = 0, /* wait for the next event */
	GPUMUX_MIG_ACT_RESERVE, /* ask the destination to reserve @blocks */
	GPUMUX_MIG_ACT_SETUP, /* grant the shared buffers; then EV_READY */
	/* The source copies [@first, @first + @blocks) as @stage, decoding. */
	GPUMUX_MIG_ACT_COPY,
	/* The source pauses, copies from @first to the end, and the state. */
	GPUMUX_MIG_ACT_FINAL,
	GPUMUX_MIG_ACT_COMMIT, /* the destination commits and resumes */
	/* The stream follows the destination; the source frees its blocks. */
	GPUMUX_MIG_ACT_FREE_SOURCE,
	/*
	 * Aborted (outcome CONTINUE_ON_SOURCE or DEST_FREES): the destination
	 * frees what it reserved, the grant is revoked; @resume_source: the
	 * source had paused the request and resumes it.
	 */
	GPUMUX_MIG_ACT_ABORT,
	/*
	 * Outcome RECOMPUTE: the surviving side frees what it holds, the
	 * grant is revoked, and the request is re-run on a survivor.
	 */
	GPUMUX_MIG_ACT_RECOMPUTE,
	/* Finished after a commit: revoke the grant, record the result. */
	GPUMUX_MIG_ACT_FINISH,
};

struct gpumux_mig_action {
	uint32_t type; /* enum gpumux_mig_action_type */
	uint32_t stage; /* COPY, FINAL: its number, from 1 */
	uint32_t first; /* COPY, FINAL: first block to copy */
	uint32_t blocks; /* RESERVE: to reserve; COPY: to copy */
	bool resume_source; /* ABORT */
};

/* Parameters; gpumux_mig_default_params() gives the defaults shown. */
struct gpumux_mig_params {
	/* 2: at most this many left, the final stop-and-copy. */
	uint32_t last_stage_blocks;
	uint32_t max_stages; /* 8: copy stages before the final, 1..1000 */
	uint32_t reserve_extra_blocks; /* 4: reserved beyond its blocks */
	/* Timeouts in ms, 0 none: */
	uint32_t reserve_timeout_ms; /* 1000: PROPOSED, DEST_RESERVED */
	uint32_t stage_timeout_ms; /* 2000: each COPYING stage */
	uint32_t final_timeout_ms; /* 500: FINAL (the request is paused) */
	uint32_t free_timeout_ms; /* 2000: COMMITTED */
};

/* What to migrate. */
struct gpumux_mig_desc {
	uint64_t id; /* the migration's id, > 0 */
	uint64_t request_id; /* > 0 */
	uint32_t src, dst; /* instance ids, > 0, different */
	uint32_t blocks; /* complete blocks it holds now (0: waiting) */
	uint32_t reserved; /* must be zero */
	uint64_t block_bytes; /* bytes of one KV block, all layers */
};

/* What happened, for gpumuxctl migrations and the D-Bus signals. */
struct gpumux_mig_stats {
	uint32_t stages; /* copy stages finished, the final one included */
	uint32_t blocks; /* blocks copied */
	uint64_t bytes; /* bytes copied */
	uint64_t downtime_us; /* paused: FINAL to commit (or abort) */
	uint64_t total_us; /* proposed to finished (to now while running) */
	uint64_t start_us; /* when proposed */
	uint64_t pause_us; /* when the source paused, 0 not yet */
	uint64_t end_us; /* when finished, 0 not yet */
};

/* One migration; owned by its caller, set up by gpumux_mig_start(). */
struct gpumux_mig {
	struct gpumux_mig_params params;
	struct gpumux_mig_desc desc;
	uint32_t state; /* enum gpumux_mig_state */
	uint32_t outcome; /* enum gpumux_mig_outcome */
	uint32_t reason; /* enum gpumux_mig_reason */
	uint32_t failed_state; /* the state it failed or timed out in */
	uint32_t stage; /* copy stage in progress (COPYING), or last one */
	uint32_t copied; /* blocks copied: the next one to copy */
	uint32_t stage_blocks; /* blocks the stage in progress copies */
	uint32_t src_blocks; /* complete blocks on the source, last known */
	uint32_t reserved_blocks; /* what the destination reserved */
	bool final_copied; /* FINAL: the rest is copied, commit asked */
	uint64_t entered_us; /* when it entered its state */
	uint64_t last_us; /* the latest event's time */
	struct gpumux_mig_stats stats;
};

/* The defaults (see struct gpumux_mig_params). */
struct gpumux_mig_params gpumux_mig_default_params(void);

/*
 * gpumux_mig_start() - set up @m for @desc with @params (NULL: the
 * defaults) at @now_us: state PROPOSED, and @act is ACT_RESERVE.  Returns
 * 0 or -EINVAL (NULL @m, @desc or @act, ids 0, src = dst, reserved set,
 * max_stages out of range).
 */
int gpumux_mig_start(struct gpumux_mig *m,
		     const struct gpumux_mig_params *params,
		     const struct gpumux_mig_desc *desc, uint64_t now_us,
		     struct gpumux_mig_action *act);

/*
 * gpumux_mig_step() - feed @ev to @m and get the next action in @act.
 * Returns 0; -EINVAL (NULL, unknown event, reserved set, time going back;
 * nothing changes), -EPROTO (an event the state does not expect, a stage
 * reply with other blocks than asked or fewer source blocks than copied;
 * nothing changes: the daemon may send EV_ABORT; a reservation smaller
 * than the request's blocks is one), -EBUSY (EV_ABORT after
 * the commit: too late), -ESTALE (an event after the migration finished,
 * but EV_TICK: a late commit is refused this way).  @act is ACT_NONE
 * unless 0 is returned with something to do.
 */
int gpumux_mig_step(struct gpumux_mig *m, const struct gpumux_mig_event *ev,
		    struct gpumux_mig_action *act);

/*
 * gpumux_mig_deadline() - when the current state times out (absolute
 * now_us clock): an EV_TICK at or after it fails the migration.  0: no
 * deadline (finished, or no timeout for the state).
 */
uint64_t gpumux_mig_deadline(const struct gpumux_mig *m);

/* Finished (DONE or ABORTED)? */
static inline bool gpumux_mig_finished(const struct gpumux_mig *m)
{
	return m->state == GPUMUX_MIG_DONE || m->state == GPUMUX_MIG_ABORTED;
}

/* Names for humans and gpumuxctl ("?" if unknown). */
const char *gpumux_mig_state_name(uint32_t state);
const char *gpumux_mig_outcome_name(uint32_t outcome);
const char *gpumux_mig_reason_name(uint32_t reason);
const char *gpumux_mig_event_name(uint32_t type);
const char *gpumux_mig_action_name(uint32_t type);

#endif /* GPUMUX_DAEMON_MIGRATION_H */
