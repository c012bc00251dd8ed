// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd global scheduler: the table of backends, lookup by name, the
 * parameters, the input checks every backend relies on, the Llumnix load
 * of an instance, and the operator's manual move.  Pure logic: see
 * gsched.h.
 */
#include "gsched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct gpumux_gsched_ops *const backends[] = {
	&gpumux_gsched_llumnix_ops,
	&gpumux_gsched_roundrobin_ops,
	&gpumux_gsched_leastload_ops,
};

const struct gpumux_gsched_ops *gpumux_gsched_nth(size_t n)
{
	return n < ARRAY_SIZE(backends) ? backends[n] : NULL;
}

const struct gpumux_gsched_ops *gpumux_gsched_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

struct gpumux_gsched_params gpumux_gsched_default_params(void)
{
	return (struct gpumux_gsched_params){
		.stale_ms = 250,
		.max_waiting = 0,
		.high_headroom_blocks = 0,
		.mode = GPUMUX_GSCHED_MODE_BALANCE | GPUMUX_GSCHED_MODE_DEFRAG,
		.src_freeness = 64,
		.dst_freeness = 512,
		.order = GPUMUX_GSCHED_SHORTEST,
		.max_migrations = 4,
		.max_per_instance = 1,
		.cooldown_ms = 2000,
		.min_tokens_left = 16,
		.seed = 0,
	};
}

int gpumux_gsched_check_params(const struct gpumux_gsched_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->mode & ~(GPUMUX_GSCHED_MODE_BALANCE | GPUMUX_GSCHED_MODE_DEFRAG))
		return -EINVAL;
	if (p->order > GPUMUX_GSCHED_RANDOM || p->reserved)
		return -EINVAL;
	if (p->src_freeness >= p->dst_freeness)
		return -EINVAL;
	return 0;
}

int gpumux_gsched_init(struct gpumux_gsched *gs, const char *name,
		       const struct gpumux_gsched_params *params)
{
	const struct gpumux_gsched_ops *ops;
	struct gpumux_gsched_params p;
	int ret;

	if (!gs || !name)
		return -EINVAL;
	p = params ? *params : gpumux_gsched_default_params();
	ret = gpumux_gsched_check_params(&p);
	if (ret)
		return ret;
	ops = gpumux_gsched_find(name);
	if (!ops)
		return -ENOENT;
	gs->ops = ops;
	gs->params = p;
	gs->priv = NULL;
	if (ops->init) {
		ret = ops->init(gs);
		if (ret) {
			gs->ops = NULL;
			return ret;
		}
	}
	return 0;
}

void gpumux_gsched_fini(struct gpumux_gsched *gs)
{
	if (!gs || !gs->ops)
		return;
	if (gs->ops->fini)
		gs->ops->fini(gs);
	gs->ops = NULL;
	gs->priv = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static bool all_distinct(const uint64_t *v, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return false;
	return true;
}

static int check_requests(const struct gpumux_gsched_input *in,
			  const struct gpumux_gsched_instance *inst,
			  const struct gpumux_gsched_request *r, size_t n,
			  uint64_t *ids, size_t *k)
{
	size_t i;

	if (n && !r)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!r[i].id || r[i].blocks > inst->kv_total ||
		    r[i].priority > GPUMUX_GSCHED_HIGH ||
		    (r[i].flags & ~GPUMUX_GSCHED_REQ_MIGRATING) ||
		    r[i].reserved || r[i].migrated_ms > in->now_ms)
			return -EINVAL;
		ids[(*k)++] = r[i].id;
	}
	return 0;
}

/* Index of instance @id in @in, or -1. */
static long inst_index(const struct gpumux_gsched_input *in, uint32_t id)
{
	size_t i;

	for (i = 0; i < in->nr_instances; i++)
		if (in->instances[i].id == id)
			return (long)i;
	return -1;
}

int gpumux_gsched_validate(const struct gpumux_gsched_input *in)
{
	size_t i, nreq = 0, k = 0;
	uint64_t *ids;
	int ret = 0;

	if (!in || (in->nr_instances && !in->instances) ||
	    (in->nr_migrations && !in->migrations))
		return -EINVAL;
	if (in->nr_instances > GPUMUX_GSCHED_MAX_INSTANCES)
		return -E2BIG;
	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];

		if (s->nr_running > GPUMUX_GSCHED_MAX_REQUESTS ||
		    s->nr_waiting > GPUMUX_GSCHED_MAX_REQUESTS)
			return -E2BIG;
		nreq += s->nr_running + s->nr_waiting;
		if (nreq > GPUMUX_GSCHED_MAX_REQUESTS)
			return -E2BIG;
	}
	if (in->nr_migrations > GPUMUX_GSCHED_MAX_REQUESTS)
		return -E2BIG;

	/* Instance ids, then every request id, then migration ids. */
	ids = malloc((in->nr_instances + nreq + in->nr_migrations + 1) *
		     sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];

		if (!s->id || !s->block_tokens ||
		    s->block_tokens > GPUMUX_GSCHED_MAX_BLOCK_TOKENS ||
		    !s->kv_total || s->kv_used > s->kv_total ||
		    s->report_ms > in->now_ms ||
		    (s->flags & ~GPUMUX_GSCHED_INST_DRAINING) || s->reserved) {
			ret = -EINVAL;
			goto out;
		}
		ids[i] = s->id;
	}
	qsort(ids, in->nr_instances, sizeof(*ids), cmp_u64);
	if (!all_distinct(ids, in->nr_instances)) {
		ret = -EINVAL;
		goto out;
	}

	for (i = 0; i < in->nr_instances && !ret; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];

		ret = check_requests(in, s, s->running, s->nr_running, ids, &k);
		if (!ret)
			ret = check_requests(in, s, s->waiting, s->nr_waiting,
					     ids, &k);
	}
	if (ret)
		goto out;
	qsort(ids, k, sizeof(*ids), cmp_u64);
	if (!all_distinct(ids, k)) {
		ret = -EINVAL;
		goto out;
	}

	for (i = 0; i < in->nr_migrations; i++) {
		const struct gpumux_gsched_migration *m = &in->migrations[i];

		if (!m->request_id || m->src == m->dst || m->reserved ||
		    inst_index(in, m->src) < 0 || inst_index(in, m->dst) < 0) {
			ret = -EINVAL;
			goto out;
		}
		ids[i] = m->request_id;
	}
	qsort(ids, in->nr_migrations, sizeof(*ids), cmp_u64);
	if (!all_distinct(ids, in->nr_migrations))
		ret = -EINVAL;
out:
	free(ids);
	return ret;
}

/* a / b rounded toward minus infinity, b > 0. */
static int64_t div_floor(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b && a < 0) ? q - 1 : q;
}

int64_t gpumux_gsched_freeness(uint64_t total, uint64_t vu,
			       uint32_t block_tokens, uint32_t batch)
{
	if (vu == GPUMUX_GSCHED_INFINITE)
		return GPUMUX_GSCHED_FREENESS_MIN;
	return div_floor(((int64_t)total - (int64_t)vu) * block_tokens,
			 batch ? batch : 1);
}

/* Is running request @r of instance @s migrating out of it? */
static bool migrating_out(const struct gpumux_gsched_input *in,
			  const struct gpumux_gsched_instance *s,
			  const struct gpumux_gsched_request *r)
{
	size_t i;

	if (r->flags & GPUMUX_GSCHED_REQ_MIGRATING)
		return true;
	for (i = 0; i < in->nr_migrations; i++)
		if (in->migrations[i].request_id == r->id &&
		    in->migrations[i].src == s->id)
			return true;
	return false;
}

/* Does @s hold a high-priority request (not migrating out)? */
static bool has_high(const struct gpumux_gsched_input *in,
		     const struct gpumux_gsched_instance *s)
{
	size_t i;

	for (i = 0; i < s->nr_waiting; i++)
		if (s->waiting[i].priority == GPUMUX_GSCHED_HIGH)
			return true;
	for (i = 0; i < s->nr_running; i++)
		if (s->running[i].priority == GPUMUX_GSCHED_HIGH &&
		    !migrating_out(in, s, &s->running[i]))
			return true;
	return false;
}

int gpumux_gsched_load(const struct gpumux_gsched *gs,
		       const struct gpumux_gsched_input *in, size_t idx,
		       struct gpumux_gsched_load *out)
{
	const struct gpumux_gsched_instance *s;
	uint64_t pending = 0, out_blocks = 0, used;
	size_t i, nr_out = 0;

	if (!gs || !in || !out || idx >= in->nr_instances)
		return -EINVAL;
	s = &in->instances[idx];
	for (i = 0; i < in->nr_migrations; i++)
		if (in->migrations[i].dst == s->id)
			pending += in->migrations[i].dst_blocks;
	for (i = 0; i < s->nr_running; i++)
		if (migrating_out(in, s, &s->running[i])) {
			out_blocks += s->running[i].blocks;
			nr_out++;
		}
	/* Blocks of requests may be shared (prefixes): clamp. */
	if (out_blocks > s->kv_used)
		out_blocks = s->kv_used;
	used = s->kv_used - out_blocks;

	memset(out, 0, sizeof(*out));
	out->draining = s->flags & GPUMUX_GSCHED_INST_DRAINING;
	out->stale = in->now_ms - s->report_ms > gs->params.stale_ms;
	out->out_blocks = (uint32_t)out_blocks;
	out->nr_out = (uint32_t)nr_out;
	out->batch =
		s->nr_running > nr_out ? (uint32_t)(s->nr_running - nr_out) : 1;
	out->hol_blocks = s->nr_waiting ? s->waiting[0].blocks : 0;
	if (has_high(in, s))
		out->headroom_blocks = gs->params.high_headroom_blocks;
	out->pending_blocks = pending > UINT32_MAX ? UINT32_MAX :
						     (uint32_t)pending;
	if (out->draining) {
		out->virtual_usage = GPUMUX_GSCHED_INFINITE;
		out->freeness = GPUMUX_GSCHED_FREENESS_MIN;
		return 0;
	}
	out->virtual_usage =
		used + out->hol_blocks + out->headroom_blocks + pending;
	out->freeness = gpumux_gsched_freeness(s->kv_total, out->virtual_usage,
					       s->block_tokens, out->batch);
	return 0;
}

int gpumux_gsched_candidate(const struct gpumux_gsched *gs,
			    const struct gpumux_gsched_input *in, size_t idx,
			    uint32_t blocks)
{
	const struct gpumux_gsched_instance *s = &in->instances[idx];

	if ((s->flags & GPUMUX_GSCHED_INST_DRAINING) || blocks > s->kv_total)
		return GPUMUX_GSCHED_CAND_NEVER;
	if (in->now_ms - s->report_ms > gs->params.stale_ms)
		return GPUMUX_GSCHED_CAND_BUSY;
	if (gs->params.max_waiting && s->nr_waiting >= gs->params.max_waiting)
		return GPUMUX_GSCHED_CAND_BUSY;
	return GPUMUX_GSCHED_CAND_OK;
}

/* Is @id anywhere in @in (running, waiting)? */
static bool request_known(const struct gpumux_gsched_input *in, uint64_t id)
{
	size_t i, j;

	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];

		for (j = 0; j < s->nr_running; j++)
			if (s->running[j].id == id)
				return true;
		for (j = 0; j < s->nr_waiting; j++)
			if (s->waiting[j].id == id)
				return true;
	}
	return false;
}

int gpumux_gsched_dispatch(struct gpumux_gsched *gs,
			   const struct gpumux_gsched_input *in,
			   const struct gpumux_gsched_new_request *req,
			   struct gpumux_gsched_placement *out)
{
	int ret;

	if (!gs || !gs->ops || !req || !out)
		return -EINVAL;
	if (!req->id || req->priority > GPUMUX_GSCHED_HIGH ||
	    req->reserved[0] || req->reserved[1] || req->reserved[2])
		return -EINVAL;
	ret = gpumux_gsched_validate(in);
	if (ret)
		return ret;
	if (request_known(in, req->id))
		return -EEXIST;
	return gs->ops->dispatch(gs, in, req, out);
}

int gpumux_gsched_migrate_plan(struct gpumux_gsched *gs,
			       const struct gpumux_gsched_input *in,
			       struct gpumux_gsched_plan *out)
{
	int ret;

	if (!gs || !gs->ops || !out || (out->max_moves && !out->moves))
		return -EINVAL;
	ret = gpumux_gsched_validate(in);
	if (ret)
		return ret;
	if (!gs->ops->migrate_plan) {
		out->nr_moves = 0;
		return 0;
	}
	return gs->ops->migrate_plan(gs, in, out);
}

/* Migrations in flight that involve instance @id. */
static uint32_t inflight_of(const struct gpumux_gsched_input *in, uint32_t id)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < in->nr_migrations; i++)
		n += in->migrations[i].src == id || in->migrations[i].dst == id;
	return n;
}

static bool inflight_request(const struct gpumux_gsched_input *in, uint64_t id)
{
	size_t i;

	for (i = 0; i < in->nr_migrations; i++)
		if (in->migrations[i].request_id == id)
			return true;
	return false;
}

int gpumux_gsched_check_move(const struct gpumux_gsched *gs,
			     const struct gpumux_gsched_input *in,
			     uint64_t request_id, uint32_t dst,
			     struct gpumux_gsched_move *move)
{
	const struct gpumux_gsched_request *r = NULL;
	const struct gpumux_gsched_instance *s = NULL, *d;
	struct gpumux_gsched_load dl;
	bool waiting = false;
	size_t i, j;
	long di;
	int ret;

	if (!gs || !gs->ops || !move)
		return -EINVAL;
	ret = gpumux_gsched_validate(in);
	if (ret)
		return ret;
	for (i = 0; i < in->nr_instances && !r; i++) {
		const struct gpumux_gsched_instance *t = &in->instances[i];

		for (j = 0; j < t->nr_running && !r; j++)
			if (t->running[j].id == request_id) {
				r = &t->running[j];
				s = t;
			}
		for (j = 0; j < t->nr_waiting && !r; j++)
			if (t->waiting[j].id == request_id) {
				r = &t->waiting[j];
				s = t;
				waiting = true;
			}
	}
	di = inst_index(in, dst);
	if (!r || di < 0)
		return -ENOENT;
	d = &in->instances[di];
	if (s == d)
		return -EALREADY;
	if ((r->flags & GPUMUX_GSCHED_REQ_MIGRATING) ||
	    inflight_request(in, request_id))
		return -EBUSY;
	if (in->nr_migrations >= gs->params.max_migrations ||
	    inflight_of(in, s->id) >= gs->params.max_per_instance ||
	    inflight_of(in, d->id) >= gs->params.max_per_instance)
		return -EBUSY;
	if (in->now_ms - d->report_ms > gs->params.stale_ms ||
	    in->now_ms - s->report_ms > gs->params.stale_ms)
		return -EHOSTDOWN;
	if (d->flags & GPUMUX_GSCHED_INST_DRAINING)
		return -ESHUTDOWN;
	gpumux_gsched_load(gs, in, (size_t)di, &dl);
	if (waiting) {
		if (r->blocks > d->kv_total ||
		    (gs->params.max_waiting &&
		     d->nr_waiting >= gs->params.max_waiting))
			return -ENOSPC;
	} else {
		uint64_t need = gpumux_gsched_blocks_on(r, s, d);
		uint64_t used = (uint64_t)d->kv_used + dl.pending_blocks +
				dl.hol_blocks;

		if (used > d->kv_total || need > d->kv_total - used)
			return -ENOSPC;
	}
	memset(move, 0, sizeof(*move));
	move->request_id = request_id;
	move->src = s->id;
	move->dst = d->id;
	move->blocks = waiting ? 0 : r->blocks;
	move->reason = GPUMUX_GSCHED_REASON_OPERATOR;
	move->flags = waiting ? GPUMUX_GSCHED_MOVE_WAITING : 0;
	return 0;
}

const char *gpumux_gsched_reason_name(uint32_t reason)
{
	switch (reason) {
	case GPUMUX_GSCHED_REASON_DRAIN:
		return "drain";
	case GPUMUX_GSCHED_REASON_BALANCE:
		return "balance";
	case GPUMUX_GSCHED_REASON_DEFRAG:
		return "defrag";
	case GPUMUX_GSCHED_REASON_OPERATOR:
		return "operator";
	}
	return "?";
}

const char *gpumux_gsched_verdict_name(uint32_t verdict)
{
	switch (verdict) {
	case GPUMUX_GSCHED_PLACE:
		return "place";
	case GPUMUX_GSCHED_QUEUE:
		return "queue";
	case GPUMUX_GSCHED_REFUSE:
		return "refuse";
	}
	return "?";
}

static const char *const order_names[] = {
	[GPUMUX_GSCHED_SHORTEST] = "shortest",
	[GPUMUX_GSCHED_LONGEST] = "longest",
	[GPUMUX_GSCHED_HIGH_LAST] = "high-last",
	[GPUMUX_GSCHED_RANDOM] = "random",
};

const char *gpumux_gsched_order_name(uint32_t order)
{
	return order < ARRAY_SIZE(order_names) ? order_names[order] : "?";
}

int gpumux_gsched_order_parse(const char *name, uint32_t *order)
{
	uint32_t i;

	if (!name || !order)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(order_names); i++)
		if (!strcmp(order_names[i], name)) {
			*order = i;
			return 0;
		}
	return -ENOENT;
}
