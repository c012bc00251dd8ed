// SPDX-License-Identifier: GPL-2.0
/*
 * The baselines of the cluster benchmark: "roundrobin" and "leastload".
 * Neither ever migrates (no migrate_plan: a draining instance only stops
 * getting requests).  Both send requests only where
 * gpumux_gsched_candidate() says an instance can take one now, and answer
 * QUEUE or REFUSE as "llumnix" does.  Pure logic: see gsched.h.
 *
 * roundrobin: cycles through the instances that can take the request, by
 * id: the next one after the instance it dispatched to last (wrapping
 * around).  It remembers that id (its only state), so the same sequence
 * of calls gives the same answers.
 *
 * leastload: the instance with the fewest used and queued blocks:
 * kv_used + every waiting request's blocks + incoming migrations' pending
 * blocks; ties: the lower id.
 */
#include "gsched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rr_state {
	uint32_t last; /* instance id dispatched to last, 0 none */
};

static int rr_init(struct gpumux_gsched *gs)
{
	gs->priv = calloc(1, sizeof(struct rr_state));
	return gs->priv ? 0 : -ENOMEM;
}

static void rr_fini(struct gpumux_gsched *gs)
{
	free(gs->priv);
}

static void set_verdict(struct gpumux_gsched_placement *out, uint32_t id,
			uint32_t blocks, bool busy)
{
	memset(out, 0, sizeof(*out));
	if (id) {
		out->verdict = GPUMUX_GSCHED_PLACE;
		out->instance_id = id;
		out->blocks = blocks;
	} else {
		out->verdict = busy ? GPUMUX_GSCHED_QUEUE :
				      GPUMUX_GSCHED_REFUSE;
	}
}

static int rr_dispatch(struct gpumux_gsched *gs,
		       const struct gpumux_gsched_input *in,
		       const struct gpumux_gsched_new_request *req,
		       struct gpumux_gsched_placement *out)
{
	struct rr_state *st = gs->priv;
	uint32_t next = 0, first = 0, next_need = 0, first_need = 0;
	bool busy = false;
	size_t i;

	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];
		uint32_t need = gpumux_gsched_blocks(req->prompt_tokens,
						     s->block_tokens);
		int c = gpumux_gsched_candidate(gs, in, i, need);

		if (c == GPUMUX_GSCHED_CAND_BUSY)
			busy = true;
		if (c != GPUMUX_GSCHED_CAND_OK)
			continue;
		/* The smallest id of all, and the smallest after last. */
		if (!first || s->id < first) {
			first = s->id;
			first_need = need;
		}
		if (s->id > st->last && (!next || s->id < next)) {
			next = s->id;
			next_need = need;
		}
	}
	if (!next) {
		next = first;
		next_need = first_need;
	}
	set_verdict(out, next, next_need, busy);
	if (next)
		st->last = next;
	return 0;
}

static int ll_dispatch(struct gpumux_gsched *gs,
		       const struct gpumux_gsched_input *in,
		       const struct gpumux_gsched_new_request *req,
		       struct gpumux_gsched_placement *out)
{
	uint64_t best_load = 0;
	uint32_t best = 0, best_need = 0;
	bool busy = false;
	size_t i, j;

	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];
		uint32_t need = gpumux_gsched_blocks(req->prompt_tokens,
						     s->block_tokens);
		int c = gpumux_gsched_candidate(gs, in, i, need);
		uint64_t load = s->kv_used;

		if (c == GPUMUX_GSCHED_CAND_BUSY)
			busy = true;
		if (c != GPUMUX_GSCHED_CAND_OK)
			continue;
		for (j = 0; j < s->nr_waiting; j++)
			load += s->waiting[j].blocks;
		for (j = 0; j < in->nr_migrations; j++)
			if (in->migrations[j].dst == s->id)
				load += in->migrations[j].dst_blocks;
		if (!best || load < best_load ||
		    (load == best_load && s->id < best)) {
			best = s->id;
			best_need = need;
			best_load = load;
		}
	}
	set_verdict(out, best, best_need, busy);
	return 0;
}

const struct gpumux_gsched_ops gpumux_gsched_roundrobin_ops = {
	.name = "roundrobin",
	.description = "dispatch in turn to each live instance; no migration",
	.init = rr_init,
	.fini = rr_fini,
	.dispatch = rr_dispatch,
};

const struct gpumux_gsched_ops gpumux_gsched_leastload_ops = {
	.name = "leastload",
	.description = "dispatch to the fewest used and queued KV blocks; "
		       "no migration",
	.dispatch = ll_dispatch,
};
