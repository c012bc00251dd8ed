// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd live migration of one request: the state machine.  Pure logic:
 * see migration.h for the states, events, actions and outcomes.
 */
#include "migration.h"

#include <errno.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_STAGES 1000

struct gpumux_mig_params gpumux_mig_default_params(void)
{
	return (struct gpumux_mig_params){
		.last_stage_blocks = 2,
		.max_stages = 8,
		.reserve_extra_blocks = 4,
		.reserve_timeout_ms = 1000,
		.stage_timeout_ms = 2000,
		.final_timeout_ms = 500,
		.free_timeout_ms = 2000,
	};
}

static void enter(struct gpumux_mig *m, uint32_t state, uint64_t now)
{
	m->state = state;
	m->entered_us = now;
}

int gpumux_mig_start(struct gpumux_mig *m,
		     const struct gpumux_mig_params *params,
		     const struct gpumux_mig_desc *desc, uint64_t now_us,
		     struct gpumux_mig_action *act)
{
	struct gpumux_mig_params p;
	uint64_t reserve;

	if (!m || !desc || !act)
		return -EINVAL;
	p = params ? *params : gpumux_mig_default_params();
	if (!p.max_stages || p.max_stages > MAX_STAGES)
		return -EINVAL;
	if (!desc->id || !desc->request_id || !desc->src || !desc->dst ||
	    desc->src == desc->dst || desc->reserved)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->params = p;
	m->desc = *desc;
	m->src_blocks = desc->blocks;
	m->last_us = now_us;
	m->stats.start_us = now_us;
	enter(m, GPUMUX_MIG_PROPOSED, now_us);

	reserve = (uint64_t)desc->blocks + p.reserve_extra_blocks;
	memset(act, 0, sizeof(*act));
	act->type = GPUMUX_MIG_ACT_RESERVE;
	act->blocks = reserve > UINT32_MAX ? UINT32_MAX : (uint32_t)reserve;
	return 0;
}

static uint64_t ms_to_us(uint32_t ms)
{
	return (uint64_t)ms * 1000;
}

uint64_t gpumux_mig_deadline(const struct gpumux_mig *m)
{
	uint32_t ms;

	if (!m)
		return 0;
	switch (m->state) {
	case GPUMUX_MIG_PROPOSED:
	case GPUMUX_MIG_DEST_RESERVED:
		ms = m->params.reserve_timeout_ms;
		break;
	case GPUMUX_MIG_COPYING:
		ms = m->params.stage_timeout_ms;
		break;
	case GPUMUX_MIG_FINAL:
		ms = m->params.final_timeout_ms;
		break;
	case GPUMUX_MIG_COMMITTED:
		ms = m->params.free_timeout_ms;
		break;
	default:
		return 0;
	}
	return ms ? m->entered_us + ms_to_us(ms) : 0;
}

/* Ends @m in @state with @outcome and @reason at @now. */
static void finish(struct gpumux_mig *m, uint32_t state, uint32_t outcome,
		   uint32_t reason, uint64_t now)
{
	if (reason != GPUMUX_MIG_R_NONE)
		m->failed_state = m->state;
	/* A pause that ends without a commit is downtime too. */
	if (m->state == GPUMUX_MIG_FINAL && m->stats.pause_us)
		m->stats.downtime_us = now - m->stats.pause_us;
	m->outcome = outcome;
	m->reason = reason;
	m->stats.end_us = now;
	m->stats.total_us = now - m->stats.start_us;
	enter(m, state, now);
}

/* Aborts before the commit; fills @act. */
static void abort_mig(struct gpumux_mig *m, uint32_t outcome, uint32_t reason,
		      uint64_t now, struct gpumux_mig_action *act)
{
	bool paused = m->state == GPUMUX_MIG_FINAL;

	finish(m, GPUMUX_MIG_ABORTED, outcome, reason, now);
	if (outcome == GPUMUX_MIG_RECOMPUTE) {
		act->type = GPUMUX_MIG_ACT_RECOMPUTE;
	} else {
		act->type = GPUMUX_MIG_ACT_ABORT;
		/* Only a request that runs on resumes. */
		act->resume_source = paused &&
				     outcome == GPUMUX_MIG_CONTINUE_ON_SOURCE;
	}
}

/* Starts the final stop-and-copy; fills @act. */
static void go_final(struct gpumux_mig *m, uint64_t now,
		     struct gpumux_mig_action *act)
{
	enter(m, GPUMUX_MIG_FINAL, now);
	m->stats.pause_us = now;
	m->final_copied = false;
	m->stage_blocks = 0;
	act->type = GPUMUX_MIG_ACT_FINAL;
	act->stage = m->stats.stages + 1;
	act->first = m->copied;
}

/*
 * The source holds @complete blocks and @m has copied m->copied: the final
 * stage, another copy stage, or too many stages.
 */
static void next_stage(struct gpumux_mig *m, uint32_t complete, uint64_t now,
		       struct gpumux_mig_action *act)
{
	uint32_t left = complete - m->copied;

	m->src_blocks = complete;
	if (left <= m->params.last_stage_blocks) {
		go_final(m, now, act);
		return;
	}
	if (m->stage >= m->params.max_stages) {
		abort_mig(m, GPUMUX_MIG_CONTINUE_ON_SOURCE,
			  GPUMUX_MIG_R_TOO_MANY_STAGES, now, act);
		return;
	}
	enter(m, GPUMUX_MIG_COPYING, now);
	m->stage++;
	m->stage_blocks = left;
	act->type = GPUMUX_MIG_ACT_COPY;
	act->stage = m->stage;
	act->first = m->copied;
	act->blocks = left;
}

static void count_copy(struct gpumux_mig *m, const struct gpumux_mig_event *ev)
{
	m->copied += ev->blocks;
	m->stats.stages++;
	m->stats.blocks += ev->blocks;
	m->stats.bytes += ev->bytes ?
				  ev->bytes :
				  (uint64_t)ev->blocks * m->desc.block_bytes;
}

/* Failures common to every state before the commit. */
static int fail_before_commit(struct gpumux_mig *m, uint32_t type, uint64_t now,
			      struct gpumux_mig_action *act)
{
	switch (type) {
	case GPUMUX_MIG_EV_REFUSED:
		abort_mig(m, GPUMUX_MIG_CONTINUE_ON_SOURCE,
			  GPUMUX_MIG_R_DEST_REFUSED, now, act);
		return 0;
	case GPUMUX_MIG_EV_DEST_DIED:
		abort_mig(m, GPUMUX_MIG_CONTINUE_ON_SOURCE,
			  GPUMUX_MIG_R_DEST_DIED, now, act);
		return 0;
	case GPUMUX_MIG_EV_SOURCE_FINISHED:
		abort_mig(m, GPUMUX_MIG_DEST_FREES,
			  GPUMUX_MIG_R_SOURCE_FINISHED, now, act);
		return 0;
	case GPUMUX_MIG_EV_CANCELLED:
		abort_mig(m, GPUMUX_MIG_DEST_FREES, GPUMUX_MIG_R_CANCELLED, now,
			  act);
		return 0;
	case GPUMUX_MIG_EV_SOURCE_DIED:
		abort_mig(m, GPUMUX_MIG_RECOMPUTE, GPUMUX_MIG_R_SOURCE_DIED,
			  now, act);
		return 0;
	case GPUMUX_MIG_EV_ABORT:
		abort_mig(m, GPUMUX_MIG_CONTINUE_ON_SOURCE,
			  GPUMUX_MIG_R_ABORTED, now, act);
		return 0;
	case GPUMUX_MIG_EV_TICK: {
		uint64_t dl = gpumux_mig_deadline(m);

		if (dl && now >= dl)
			abort_mig(m, GPUMUX_MIG_CONTINUE_ON_SOURCE,
				  GPUMUX_MIG_R_TIMEOUT, now, act);
		return 0;
	}
	}
	return -EPROTO;
}

static int step_committed(struct gpumux_mig *m, uint32_t type, uint64_t now,
			  struct gpumux_mig_action *act)
{
	uint64_t dl;

	switch (type) {
	case GPUMUX_MIG_EV_SOURCE_FREED:
		finish(m, GPUMUX_MIG_DONE, GPUMUX_MIG_MIGRATED,
		       GPUMUX_MIG_R_NONE, now);
		act->type = GPUMUX_MIG_ACT_FINISH;
		return 0;
	case GPUMUX_MIG_EV_SOURCE_DIED:
		/* Its blocks go back with its lease. */
		finish(m, GPUMUX_MIG_DONE, GPUMUX_MIG_NOTHING_LOST,
		       GPUMUX_MIG_R_SOURCE_DIED, now);
		act->type = GPUMUX_MIG_ACT_FINISH;
		return 0;
	case GPUMUX_MIG_EV_DEST_DIED:
		finish(m, GPUMUX_MIG_DONE, GPUMUX_MIG_RECOMPUTE,
		       GPUMUX_MIG_R_DEST_DIED, now);
		act->type = GPUMUX_MIG_ACT_RECOMPUTE;
		return 0;
	case GPUMUX_MIG_EV_CANCELLED:
		/* The destination runs it now; the cancel goes there. */
		return 0;
	case GPUMUX_MIG_EV_ABORT:
		return -EBUSY;
	case GPUMUX_MIG_EV_TICK:
		dl = gpumux_mig_deadline(m);
		if (dl && now >= dl) {
			/* It runs on the destination all the same. */
			finish(m, GPUMUX_MIG_DONE, GPUMUX_MIG_MIGRATED,
			       GPUMUX_MIG_R_TIMEOUT, now);
			act->type = GPUMUX_MIG_ACT_FINISH;
		}
		return 0;
	}
	return -EPROTO;
}

int gpumux_mig_step(struct gpumux_mig *m, const struct gpumux_mig_event *ev,
		    struct gpumux_mig_action *act)
{
	uint64_t now;

	if (!m || !ev || !act)
		return -EINVAL;
	memset(act, 0, sizeof(*act));
	if (!ev->type || ev->type > GPUMUX_MIG_EV_TICK || ev->reserved ||
	    ev->now_us < m->last_us)
		return -EINVAL;
	now = ev->now_us;
	if (gpumux_mig_finished(m)) {
		if (ev->type != GPUMUX_MIG_EV_TICK)
			return -ESTALE;
		m->last_us = now;
		return 0;
	}

	switch (m->state) {
	case GPUMUX_MIG_PROPOSED:
		if (ev->type != GPUMUX_MIG_EV_RESERVED)
			break;
		if (ev->blocks < m->desc.blocks)
			return -EPROTO;
		m->reserved_blocks = ev->blocks;
		enter(m, GPUMUX_MIG_DEST_RESERVED, now);
		act->type = GPUMUX_MIG_ACT_SETUP;
		goto done;
	case GPUMUX_MIG_DEST_RESERVED:
		if (ev->type != GPUMUX_MIG_EV_READY)
			break;
		next_stage(m, ev->src_blocks, now, act);
		goto done;
	case GPUMUX_MIG_COPYING:
		if (ev->type != GPUMUX_MIG_EV_STAGE_DONE)
			break;
		if (ev->blocks != m->stage_blocks ||
		    ev->src_blocks < m->copied + ev->blocks)
			return -EPROTO;
		count_copy(m, ev);
		next_stage(m, ev->src_blocks, now, act);
		goto done;
	case GPUMUX_MIG_FINAL:
		if (ev->type == GPUMUX_MIG_EV_FINAL_DONE) {
			if (m->final_copied)
				return -EPROTO;
			count_copy(m, ev);
			m->final_copied = true;
			act->type = GPUMUX_MIG_ACT_COMMIT;
			goto done;
		}
		if (ev->type == GPUMUX_MIG_EV_COMMITTED) {
			if (!m->final_copied)
				return -EPROTO;
			m->stats.downtime_us = now - m->stats.pause_us;
			enter(m, GPUMUX_MIG_COMMITTED, now);
			act->type = GPUMUX_MIG_ACT_FREE_SOURCE;
			goto done;
		}
		break;
	case GPUMUX_MIG_COMMITTED: {
		int ret = step_committed(m, ev->type, now, act);

		if (ret)
			return ret;
		goto done;
	}
	}

	/* Not the state's own event: a failure, a tick, or out of order. */
	if (fail_before_commit(m, ev->type, now, act))
		return -EPROTO;
done:
	m->last_us = now;
	if (!gpumux_mig_finished(m))
		m->stats.total_us = now - m->stats.start_us;
	return 0;
}

static const char *const state_names[] = {
	[GPUMUX_MIG_PROPOSED] = "proposed",
	[GPUMUX_MIG_DEST_RESERVED] = "dest-reserved",
	[GPUMUX_MIG_COPYING] = "copying",
	[GPUMUX_MIG_FINAL] = "final",
	[GPUMUX_MIG_COMMITTED] = "committed",
	[GPUMUX_MIG_DONE] = "done",
	[GPUMUX_MIG_ABORTED] = "aborted",
};

static const char *const outcome_names[] = {
	[GPUMUX_MIG_PENDING] = "pending",
	[GPUMUX_MIG_MIGRATED] = "migrated",
	[GPUMUX_MIG_CONTINUE_ON_SOURCE] = "continue-on-source",
	[GPUMUX_MIG_DEST_FREES] = "dest-frees",
	[GPUMUX_MIG_NOTHING_LOST] = "nothing-lost",
	[GPUMUX_MIG_RECOMPUTE] = "recompute",
};

static const char *const reason_names[] = {
	[GPUMUX_MIG_R_NONE] = "none",
	[GPUMUX_MIG_R_DEST_REFUSED] = "dest-refused",
	[GPUMUX_MIG_R_DEST_DIED] = "dest-died",
	[GPUMUX_MIG_R_SOURCE_FINISHED] = "source-finished",
	[GPUMUX_MIG_R_CANCELLED] = "cancelled",
	[GPUMUX_MIG_R_SOURCE_DIED] = "source-died",
	[GPUMUX_MIG_R_TOO_MANY_STAGES] = "too-many-stages",
	[GPUMUX_MIG_R_TIMEOUT] = "timeout",
	[GPUMUX_MIG_R_ABORTED] = "aborted",
};

static const char *const event_names[] = {
	[GPUMUX_MIG_EV_RESERVED] = "reserved",
	[GPUMUX_MIG_EV_REFUSED] = "refused",
	[GPUMUX_MIG_EV_READY] = "ready",
	[GPUMUX_MIG_EV_STAGE_DONE] = "stage-done",
	[GPUMUX_MIG_EV_FINAL_DONE] = "final-done",
	[GPUMUX_MIG_EV_COMMITTED] = "committed",
	[GPUMUX_MIG_EV_SOURCE_FREED] = "source-freed",
	[GPUMUX_MIG_EV_SOURCE_FINISHED] = "source-finished",
	[GPUMUX_MIG_EV_CANCELLED] = "cancelled",
	[GPUMUX_MIG_EV_SOURCE_DIED] = "source-died",
	[GPUMUX_MIG_EV_DEST_DIED] = "dest-died",
	[GPUMUX_MIG_EV_ABORT] = "abort",
	[GPUMUX_MIG_EV_TICK] = "tick",
};

static const char *const action_names[] = {
	[GPUMUX_MIG_ACT_NONE] = "none",
	[GPUMUX_MIG_ACT_RESERVE] = "reserve",
	[GPUMUX_MIG_ACT_SETUP] = "setup",
	[GPUMUX_MIG_ACT_COPY] = "copy",
	[GPUMUX_MIG_ACT_FINAL] = "final",
	[GPUMUX_MIG_ACT_COMMIT] = "commit",
	[GPUMUX_MIG_ACT_FREE_SOURCE] = "free-source",
	[GPUMUX_MIG_ACT_ABORT] = "abort",
	[GPUMUX_MIG_ACT_RECOMPUTE] = "recompute",
	[GPUMUX_MIG_ACT_FINISH] = "finish",
};

#define NAME(table, i) \
	((i) < ARRAY_SIZE(table) && (table)[i] ? (table)[i] : "?")

const char *gpumux_mig_state_name(uint32_t state)
{
	return NAME(state_names, state);
}

const char *gpumux_mig_outcome_name(uint32_t outcome)
{
	return NAME(outcome_names, outcome);
}

const char *gpumux_mig_reason_name(uint32_t reason)
{
	return NAME(reason_names, reason);
}

const char *gpumux_mig_event_name(uint32_t type)
{
	return NAME(event_names, type);
}

const char *gpumux_mig_action_name(uint32_t type)
{
	return NAME(action_names, type);
}
