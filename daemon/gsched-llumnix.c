// SPDX-License-Identifier: GPL-2.0
/*
 * "llumnix": dispatch by freeness, and live migration to drain, balance and
 * de-fragment (Llumnix, OSDI'24).  Pure logic: see gsched.h, whose design
 * note defines virtual usage and freeness.
 *
 * Dispatch.  Among the instances that can take the request now
 * (gpumux_gsched_candidate()), a normal request goes to the freest (ties:
 * the lower id).  A high-priority one goes to the freest where it fits
 * with the headroom: kv_total - virtual usage - its blocks - the headroom
 * (unless the instance already reserves it) >= 0; where none has that
 * room, to the freest, as a normal one.
 *
 * Migration plan, in three phases over a working copy of the loads that
 * every planned move updates (the source loses the request, its blocks
 * and its place in the batch; the destination gains them as pending
 * blocks), so later choices see earlier ones:
 *  1. Drain: every draining instance (by id) sends its waiting requests
 *     (queue order, metadata only), then its running ones (params.order),
 *     each to the freest destination with room for it, thresholds and
 *     cooldown ignored.
 *  2. De-fragmentation (MODE_DEFRAG): an instance whose head-of-line
 *     request cannot start for want of free blocks (but could on an empty
 *     instance) is blocked; blocked instances go smallest deficit first.
 *     If another instance has room for the request now, the request
 *     itself moves there (metadata only).  Otherwise running requests
 *     (params.order) move off it to instances with room, as many as
 *     cover the deficit; if the others cannot take that much, none moves
 *     (moving some would not let the request in).  Limits may cut a
 *     covering set short: the rest follows in later plans, as moves in
 *     flight count as gone from their source.
 *  3. Balance (MODE_BALANCE): rounds.  Sources (freeness below
 *     src_freeness) least free first and destinations (above
 *     dst_freeness) most free first are paired by rank; each pair moves
 *     the first request (params.order) that the destination has room for
 *     and whose move narrows the pair's freeness gap without reversing it
 *     (Llumnix's "balanced" rule).  Rounds repeat until one moves nothing.
 * "Room" on a destination: its free blocks (kv_total - used - pending)
 * less its head of line's demand hold the request, so no move blocks
 * another queue.  Destinations are never draining or stale and, for a
 * high-priority request, preferably have the headroom (as dispatch).
 * Every phase respects the limits: max_migrations in flight and planned,
 * max_per_instance per instance (as source or destination), and the
 * plan's array.  A request already migrating, or planned, is never
 * chosen; phases 2 and 3 also skip one in its cooldown or about to finish
 * (tokens_left < min_tokens_left).
 */
#include "gsched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Working load of one instance. */
struct lx_inst {
	const struct gpumux_gsched_instance *s;
	bool stale, draining;
	int64_t used; /* kv_used less what migrates or is planned out */
	int64_t pending; /* blocks coming in, not in kv_used */
	int64_t batch; /* running requests staying, and planned in */
	int64_t nr_high; /* high-priority requests staying or coming */
	int64_t nr_wait; /* waiting requests staying, and planned in */
	size_t hol; /* first own waiting request not planned out */
	uint32_t in_first; /* demand of the first waiting one planned in */
	uint32_t busy; /* migrations in flight or planned, either side */
	bool *run_out; /* per running request: planned out */
	bool *wait_out; /* per waiting request: planned out */
	size_t *order; /* running request indexes in choice order */
};

struct lx {
	const struct gpumux_gsched_params *p;
	const struct gpumux_gsched_input *in;
	struct lx_inst *x; /* by id */
	size_t n;
	uint64_t *inflight; /* request ids of migrations in flight, sorted */
	size_t nr_inflight;
	uint64_t busy; /* migrations in flight and planned */
	struct gpumux_gsched_move *moves; /* the plan so far */
	size_t nr, max;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_inst_id(const void *a, const void *b)
{
	const struct lx_inst *x = a, *y = b;

	return (x->s->id > y->s->id) - (x->s->id < y->s->id);
}

static uint32_t hol_blocks(const struct lx_inst *x)
{
	return x->hol < x->s->nr_waiting ? x->s->waiting[x->hol].blocks :
					   x->in_first;
}

static uint64_t vu(const struct lx *l, const struct lx_inst *x)
{
	int64_t v;

	if (x->draining)
		return GPUMUX_GSCHED_INFINITE;
	v = x->used + hol_blocks(x) + x->pending +
	    (x->nr_high > 0 ? l->p->high_headroom_blocks : 0);
	return v > 0 ? (uint64_t)v : 0;
}

static int64_t freeness(const struct lx *l, const struct lx_inst *x)
{
	return gpumux_gsched_freeness(x->s->kv_total, vu(l, x),
				      x->s->block_tokens,
				      x->batch > 0 ? (uint32_t)x->batch : 1);
}

/* Physically free blocks. */
static int64_t free_blocks(const struct lx_inst *x)
{
	return (int64_t)x->s->kv_total - x->used - x->pending;
}

/* Room for @b more blocks without blocking its own head of line. */
static bool room(const struct lx_inst *x, uint32_t b)
{
	return free_blocks(x) - hol_blocks(x) >= (int64_t)b;
}

/* Would a high-priority request of @b blocks fit with the headroom? */
static bool fits_headroom(const struct lx *l, const struct lx_inst *x,
			  uint32_t b)
{
	int64_t h = x->nr_high > 0 ? 0 : l->p->high_headroom_blocks;

	return (int64_t)x->s->kv_total - (int64_t)vu(l, x) - b - h >= 0;
}

static bool in_flight(const struct lx *l, uint64_t id)
{
	return l->nr_inflight &&
	       bsearch(&id, l->inflight, l->nr_inflight, sizeof(id), cmp_u64);
}

/* May @r be planned (@drain: to empty a draining instance)? */
static bool movable(const struct lx *l, const struct gpumux_gsched_request *r,
		    bool running, bool drain)
{
	if ((r->flags & GPUMUX_GSCHED_REQ_MIGRATING) || in_flight(l, r->id))
		return false;
	if (drain)
		return true;
	if (r->migrated_ms &&
	    l->in->now_ms - r->migrated_ms < l->p->cooldown_ms)
		return false;
	if (running && r->tokens_left && r->tokens_left < l->p->min_tokens_left)
		return false;
	return true;
}

static bool can_plan(const struct lx *l)
{
	return l->nr < l->max;
}

static bool free_slot(const struct lx *l, const struct lx_inst *x)
{
	return x->busy < l->p->max_per_instance;
}

/* Keys for the choice order. */
struct lx_key {
	uint64_t k1, k2;
	size_t idx;
};

static int cmp_key(const void *a, const void *b)
{
	const struct lx_key *x = a, *y = b;

	if (x->k1 != y->k1)
		return x->k1 < y->k1 ? -1 : 1;
	return (x->k2 > y->k2) - (x->k2 < y->k2);
}

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Sets @x->order: its running requests in params.order. */
static int make_order(const struct lx *l, struct lx_inst *x)
{
	size_t n = x->s->nr_running, i;
	struct lx_key *k;

	if (x->order)
		return 0;
	x->order = malloc((n + 1) * sizeof(*x->order));
	k = malloc((n + 1) * sizeof(*k));
	if (!x->order || !k) {
		free(k);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct gpumux_gsched_request *r = &x->s->running[i];

		k[i].idx = i;
		k[i].k2 = r->id;
		switch (l->p->order) {
		case GPUMUX_GSCHED_LONGEST:
			k[i].k1 = ~(uint64_t)r->blocks;
			break;
		case GPUMUX_GSCHED_HIGH_LAST:
			k[i].k1 = (uint64_t)r->priority << 32 | r->blocks;
			break;
		case GPUMUX_GSCHED_RANDOM:
			k[i].k1 = mix64(l->p->seed ^ mix64(r->id));
			break;
		default:
			k[i].k1 = r->blocks;
			break;
		}
	}
	qsort(k, n, sizeof(*k), cmp_key);
	for (i = 0; i < n; i++)
		x->order[i] = k[i].idx;
	free(k);
	return 0;
}

/*
 * The best destination in @xs (the working loads, real or simulated) for
 * request @r of @xs[@si], or -1.  @waiting: a waiting request; @start_now:
 * it must have room to start there at once.  @limits: skip instances
 * with no free migration slot.
 */
static long pick_dst(const struct lx *l, const struct lx_inst *xs, size_t si,
		     const struct gpumux_gsched_request *r, bool waiting,
		     bool start_now, bool limits)
{
	bool high = r->priority == GPUMUX_GSCHED_HIGH;
	bool best_head = false;
	int64_t best_f = 0;
	long best = -1;
	size_t j;

	for (j = 0; j < l->n; j++) {
		const struct lx_inst *d = &xs[j];
		uint32_t need;
		bool head;
		int64_t f;

		if (j == si || d->stale || d->draining ||
		    (limits && !free_slot(l, d)))
			continue;
		need = gpumux_gsched_blocks_on(r, xs[si].s, d->s);
		if (waiting) {
			if (need > d->s->kv_total ||
			    (l->p->max_waiting &&
			     d->nr_wait >= (int64_t)l->p->max_waiting))
				continue;
			if (start_now && !room(d, need))
				continue;
		} else if (!room(d, need)) {
			continue;
		}
		head = high && fits_headroom(l, d, need);
		f = freeness(l, d);
		if (best < 0 || (head && !best_head) ||
		    (head == best_head && f > best_f)) {
			best = (long)j;
			best_f = f;
			best_head = head;
		}
	}
	return best;
}

/*
 * Moves running request @ri (or waiting request @ri with @waiting) of
 * @xs[@si] to @xs[@di] in the working loads @xs; @mark: these are the
 * real loads (not a simulation): record it as planned.
 */
static void apply(struct lx *l, struct lx_inst *xs, size_t si, size_t ri,
		  bool waiting, size_t di, bool mark)
{
	struct lx_inst *s = &xs[si], *d = &xs[di];
	const struct gpumux_gsched_request *r = waiting ? &s->s->waiting[ri] :
							  &s->s->running[ri];
	uint32_t need = gpumux_gsched_blocks_on(r, s->s, d->s);
	bool high = r->priority == GPUMUX_GSCHED_HIGH;

	if (waiting) {
		s->nr_wait--;
		d->nr_wait++;
		if (!d->in_first && d->hol >= d->s->nr_waiting)
			d->in_first = need;
		if (mark) {
			s->wait_out[ri] = true;
			while (s->hol < s->s->nr_waiting && s->wait_out[s->hol])
				s->hol++;
		} else if (ri == s->hol) {
			/* Simulations move only running requests. */
			s->hol++;
		}
	} else {
		s->used -= r->blocks;
		if (s->used < 0)
			s->used = 0;
		s->batch--;
		d->pending += need;
		d->batch++;
		if (mark)
			s->run_out[ri] = true;
	}
	if (high) {
		s->nr_high--;
		d->nr_high++;
	}
	s->busy++;
	d->busy++;
	if (mark)
		l->busy++;
}

static void emit(struct lx *l, size_t si, size_t ri, bool waiting, size_t di,
		 uint32_t reason)
{
	const struct lx_inst *s = &l->x[si];
	const struct gpumux_gsched_request *r = waiting ? &s->s->waiting[ri] :
							  &s->s->running[ri];
	struct gpumux_gsched_move *m = &l->moves[l->nr++];

	memset(m, 0, sizeof(*m));
	m->request_id = r->id;
	m->src = s->s->id;
	m->dst = l->x[di].s->id;
	m->blocks = waiting ? 0 : r->blocks;
	m->reason = reason;
	m->flags = waiting ? GPUMUX_GSCHED_MOVE_WAITING : 0;
	apply(l, l->x, si, ri, waiting, di, true);
}

/* Phase 1: empty the draining instances. */
static int drain(struct lx *l)
{
	size_t i, j;
	int ret;

	for (i = 0; i < l->n && can_plan(l); i++) {
		struct lx_inst *s = &l->x[i];

		if (!s->draining || s->stale)
			continue;
		for (j = 0; j < s->s->nr_waiting; j++) {
			const struct gpumux_gsched_request *r =
				&s->s->waiting[j];
			long d;

			if (!can_plan(l) || !free_slot(l, s))
				break;
			if (s->wait_out[j] || !movable(l, r, false, true))
				continue;
			d = pick_dst(l, l->x, i, r, true, false, true);
			if (d >= 0)
				emit(l, i, j, true, (size_t)d,
				     GPUMUX_GSCHED_REASON_DRAIN);
		}
		ret = make_order(l, s);
		if (ret)
			return ret;
		for (j = 0; j < s->s->nr_running; j++) {
			size_t ri = s->order[j];
			const struct gpumux_gsched_request *r =
				&s->s->running[ri];
			long d;

			if (!can_plan(l) || !free_slot(l, s))
				break;
			if (s->run_out[ri] || !movable(l, r, true, true))
				continue;
			d = pick_dst(l, l->x, i, r, false, false, true);
			if (d >= 0)
				emit(l, i, ri, false, (size_t)d,
				     GPUMUX_GSCHED_REASON_DRAIN);
		}
	}
	return 0;
}

/* How many blocks the head of @x's own queue lacks to start, or 0. */
static int64_t deficit(const struct lx_inst *x)
{
	int64_t need, f;

	if (x->draining || x->stale || x->hol >= x->s->nr_waiting)
		return 0;
	need = x->s->waiting[x->hol].blocks;
	f = free_blocks(x);
	if (need > (int64_t)x->s->kv_total || need <= f)
		return 0;
	return need - f;
}

struct lx_blocked {
	int64_t deficit;
	uint32_t id;
	size_t idx;
};

static int cmp_blocked(const void *a, const void *b)
{
	const struct lx_blocked *x = a, *y = b;

	if (x->deficit != y->deficit)
		return x->deficit < y->deficit ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/*
 * Phase 2 for blocked instance @bi: move its head of line where it
 * starts now, or move running requests off it to cover its deficit.
 * @sim: scratch for a copy of the loads; @pick: scratch of
 * (request, destination) pairs.
 */
static int unblock(struct lx *l, size_t bi, struct lx_inst *sim, size_t *pick)
{
	struct lx_inst *b = &l->x[bi];
	int64_t def = deficit(b), freed = 0;
	const struct gpumux_gsched_request *h;
	size_t j, k = 0, i;
	long d;
	int ret;

	if (def <= 0)
		return 0;
	h = &b->s->waiting[b->hol];
	if (free_slot(l, b) && movable(l, h, false, false)) {
		d = pick_dst(l, l->x, bi, h, true, true, true);
		if (d >= 0) {
			emit(l, bi, b->hol, true, (size_t)d,
			     GPUMUX_GSCHED_REASON_DEFRAG);
			return 0;
		}
	}

	/* Which requests would cover the deficit, limits aside? */
	ret = make_order(l, b);
	if (ret)
		return ret;
	memcpy(sim, l->x, l->n * sizeof(*sim));
	for (j = 0; j < b->s->nr_running && freed < def; j++) {
		size_t ri = b->order[j];
		const struct gpumux_gsched_request *r = &b->s->running[ri];

		if (b->run_out[ri] || !movable(l, r, true, false))
			continue;
		d = pick_dst(l, sim, bi, r, false, false, false);
		if (d < 0)
			continue;
		apply(l, sim, bi, ri, false, (size_t)d, false);
		pick[2 * k] = ri;
		pick[2 * k + 1] = (size_t)d;
		k++;
		freed += r->blocks;
	}
	if (freed < def)
		return 0;
	for (i = 0; i < k; i++) {
		size_t ri = pick[2 * i], di = pick[2 * i + 1];
		uint32_t need = gpumux_gsched_blocks_on(&b->s->running[ri],
							b->s, l->x[di].s);

		if (!can_plan(l) || !free_slot(l, b) ||
		    !free_slot(l, &l->x[di]) || !room(&l->x[di], need))
			break;
		emit(l, bi, ri, false, di, GPUMUX_GSCHED_REASON_DEFRAG);
	}
	return 0;
}

static int defrag(struct lx *l)
{
	struct lx_blocked *bl;
	struct lx_inst *sim;
	size_t i, nb = 0, most = 0, *pick;
	int ret = 0;

	for (i = 0; i < l->n; i++)
		if (l->x[i].s->nr_running > most)
			most = l->x[i].s->nr_running;
	bl = malloc((l->n + 1) * sizeof(*bl));
	sim = malloc((l->n + 1) * sizeof(*sim));
	pick = malloc((2 * most + 1) * sizeof(*pick));
	if (!bl || !sim || !pick) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		int64_t def = deficit(&l->x[i]);

		if (def > 0)
			bl[nb++] = (struct lx_blocked){ def, l->x[i].s->id, i };
	}
	qsort(bl, nb, sizeof(*bl), cmp_blocked);
	for (i = 0; i < nb && can_plan(l) && !ret; i++)
		ret = unblock(l, bl[i].idx, sim, pick);
out:
	free(pick);
	free(sim);
	free(bl);
	return ret;
}

/* Has source @x a request phase 3 may move? */
static bool has_movable(const struct lx *l, const struct lx_inst *x)
{
	size_t j;

	for (j = 0; j < x->s->nr_running; j++)
		if (!x->run_out[j] &&
		    movable(l, &x->s->running[j], true, false))
			return true;
	return false;
}

struct lx_rank {
	int64_t f;
	uint32_t id;
	size_t idx;
};

static int cmp_rank_up(const void *a, const void *b)
{
	const struct lx_rank *x = a, *y = b;

	if (x->f != y->f)
		return x->f < y->f ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_rank_down(const void *a, const void *b)
{
	const struct lx_rank *x = a, *y = b;

	if (x->f != y->f)
		return x->f > y->f ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Moves one request from @si to @di if it narrows their gap; true if so. */
static bool balance_pair(struct lx *l, size_t si, size_t di)
{
	struct lx_inst *s = &l->x[si], *d = &l->x[di];
	int64_t gap = freeness(l, d) - freeness(l, s);
	size_t j;

	for (j = 0; j < s->s->nr_running; j++) {
		size_t ri = s->order[j];
		const struct gpumux_gsched_request *r = &s->s->running[ri];
		struct lx_inst pair[2];
		int64_t after;

		if (s->run_out[ri] || !movable(l, r, true, false) ||
		    !room(d, gpumux_gsched_blocks_on(r, s->s, d->s)))
			continue;
		pair[0] = *s;
		pair[1] = *d;
		apply(l, pair, 0, ri, false, 1, false);
		after = freeness(l, &pair[1]) - freeness(l, &pair[0]);
		if (after > 0 && after < gap) {
			emit(l, si, ri, false, di,
			     GPUMUX_GSCHED_REASON_BALANCE);
			return true;
		}
	}
	return false;
}

static int balance(struct lx *l)
{
	struct lx_rank *src, *dst;
	bool moved = true;
	int ret = 0;
	size_t i;

	src = malloc((l->n + 1) * sizeof(*src));
	dst = malloc((l->n + 1) * sizeof(*dst));
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out;
	}
	while (moved && can_plan(l)) {
		size_t ns = 0, nd = 0;

		moved = false;
		for (i = 0; i < l->n; i++) {
			struct lx_inst *x = &l->x[i];
			int64_t f;

			if (x->draining || x->stale || !free_slot(l, x))
				continue;
			f = freeness(l, x);
			if (f < l->p->src_freeness && x->batch > 0 &&
			    has_movable(l, x)) {
				ret = make_order(l, x);
				if (ret)
					goto out;
				src[ns++] = (struct lx_rank){ f, x->s->id, i };
			} else if (f > l->p->dst_freeness) {
				dst[nd++] = (struct lx_rank){ f, x->s->id, i };
			}
		}
		qsort(src, ns, sizeof(*src), cmp_rank_up);
		qsort(dst, nd, sizeof(*dst), cmp_rank_down);
		for (i = 0; i < ns && i < nd && can_plan(l); i++)
			if (balance_pair(l, src[i].idx, dst[i].idx))
				moved = true;
	}
out:
	free(dst);
	free(src);
	return ret;
}

static void lx_free(struct lx *l)
{
	size_t i;

	for (i = 0; l->x && i < l->n; i++) {
		free(l->x[i].run_out);
		free(l->x[i].wait_out);
		free(l->x[i].order);
	}
	free(l->x);
	free(l->inflight);
	free(l->moves);
}

static int lx_setup(struct lx *l, struct gpumux_gsched *gs,
		    const struct gpumux_gsched_input *in, size_t max_moves)
{
	uint64_t limit = gs->params.max_migrations;
	size_t i, j;

	memset(l, 0, sizeof(*l));
	l->p = &gs->params;
	l->in = in;
	l->n = in->nr_instances;
	l->busy = in->nr_migrations;
	l->max = limit > l->busy ? (size_t)(limit - l->busy) : 0;
	if (l->max > max_moves)
		l->max = max_moves;
	l->x = calloc(l->n + 1, sizeof(*l->x));
	l->inflight = malloc((in->nr_migrations + 1) * sizeof(*l->inflight));
	l->moves = malloc((l->max + 1) * sizeof(*l->moves));
	if (!l->x || !l->inflight || !l->moves)
		return -ENOMEM;
	for (i = 0; i < in->nr_migrations; i++)
		l->inflight[i] = in->migrations[i].request_id;
	l->nr_inflight = in->nr_migrations;
	qsort(l->inflight, l->nr_inflight, sizeof(*l->inflight), cmp_u64);

	for (i = 0; i < l->n; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];
		struct lx_inst *x = &l->x[i];
		struct gpumux_gsched_load ld;

		gpumux_gsched_load(gs, in, i, &ld);
		x->s = s;
		x->stale = ld.stale;
		x->draining = ld.draining;
		x->used = (int64_t)s->kv_used - ld.out_blocks;
		x->pending = ld.pending_blocks;
		x->batch = (int64_t)s->nr_running - ld.nr_out;
		x->nr_wait = (int64_t)s->nr_waiting;
		for (j = 0; j < s->nr_waiting; j++)
			x->nr_high += s->waiting[j].priority ==
				      GPUMUX_GSCHED_HIGH;
		for (j = 0; j < s->nr_running; j++)
			x->nr_high += s->running[j].priority ==
					      GPUMUX_GSCHED_HIGH &&
				      !(s->running[j].flags &
					GPUMUX_GSCHED_REQ_MIGRATING) &&
				      !in_flight(l, s->running[j].id);
		x->run_out = calloc(s->nr_running + 1, sizeof(bool));
		x->wait_out = calloc(s->nr_waiting + 1, sizeof(bool));
		if (!x->run_out || !x->wait_out)
			return -ENOMEM;
	}
	for (i = 0; i < in->nr_migrations; i++)
		for (j = 0; j < l->n; j++)
			if (l->x[j].s->id == in->migrations[i].src ||
			    l->x[j].s->id == in->migrations[i].dst)
				l->x[j].busy++;
	qsort(l->x, l->n, sizeof(*l->x), cmp_inst_id);
	return 0;
}

static int llumnix_plan(struct gpumux_gsched *gs,
			const struct gpumux_gsched_input *in,
			struct gpumux_gsched_plan *out)
{
	struct lx l;
	int ret;

	ret = lx_setup(&l, gs, in, out->max_moves);
	if (!ret)
		ret = drain(&l);
	if (!ret && (gs->params.mode & GPUMUX_GSCHED_MODE_DEFRAG))
		ret = defrag(&l);
	if (!ret && (gs->params.mode & GPUMUX_GSCHED_MODE_BALANCE))
		ret = balance(&l);
	if (!ret) {
		if (l.nr)
			memcpy(out->moves, l.moves, l.nr * sizeof(*l.moves));
		out->nr_moves = l.nr;
	}
	lx_free(&l);
	return ret;
}

static int llumnix_dispatch(struct gpumux_gsched *gs,
			    const struct gpumux_gsched_input *in,
			    const struct gpumux_gsched_new_request *req,
			    struct gpumux_gsched_placement *out)
{
	bool high = req->priority == GPUMUX_GSCHED_HIGH, busy = false;
	bool best_head = false;
	uint32_t best_id = 0, best_need = 0;
	int64_t best_f = 0;
	size_t i;

	for (i = 0; i < in->nr_instances; i++) {
		const struct gpumux_gsched_instance *s = &in->instances[i];
		uint32_t need = gpumux_gsched_blocks(req->prompt_tokens,
						     s->block_tokens);
		struct gpumux_gsched_load ld;
		bool head = false;
		int c;

		c = gpumux_gsched_candidate(gs, in, i, need);
		if (c == GPUMUX_GSCHED_CAND_BUSY)
			busy = true;
		if (c != GPUMUX_GSCHED_CAND_OK)
			continue;
		gpumux_gsched_load(gs, in, i, &ld);
		if (high)
			head = (int64_t)s->kv_total -
				       (int64_t)ld.virtual_usage - need -
				       (ld.headroom_blocks ?
						0 :
						gs->params.high_headroom_blocks) >=
			       0;
		if (!best_id || (head && !best_head) ||
		    (head == best_head &&
		     (ld.freeness > best_f ||
		      (ld.freeness == best_f && s->id < best_id)))) {
			best_id = s->id;
			best_f = ld.freeness;
			best_need = need;
			best_head = head;
		}
	}
	memset(out, 0, sizeof(*out));
	if (best_id) {
		out->verdict = GPUMUX_GSCHED_PLACE;
		out->instance_id = best_id;
		out->blocks = best_need;
	} else {
		out->verdict = busy ? GPUMUX_GSCHED_QUEUE :
				      GPUMUX_GSCHED_REFUSE;
	}
	return 0;
}

const struct gpumux_gsched_ops gpumux_gsched_llumnix_ops = {
	.name = "llumnix",
	.description = "dispatch by freeness; migrate to drain, balance, "
		       "de-fragment",
	.dispatch = llumnix_dispatch,
	.migrate_plan = llumnix_plan,
};
