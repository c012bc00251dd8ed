// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the global scheduler layer (daemon/gsched.h), the
 * "llumnix" scheduler and the "roundrobin" and "leastload" baselines, with
 * check.  Each test crafts instance loads, asks for a placement or a
 * migration plan, and checks it against the rules of gsched.h: freeness
 * arithmetic, freest first, priority headroom, draining, balance and
 * de-fragmentation, request choice, limits, no ping-pong, validation and
 * determinism.  Every plan is also checked against the invariants every
 * plan must keep (check_plan()).
 *
 * Exit status: 0 all passed, 1 a test failed, 77 skipped (the suite could
 * not be set up).
 */
#include "gsched.h"
#include "ckmain.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_I 16
#define MAX_R 128
#define MAX_M 256
#define NOW 100000

/* One scenario: the instances being built, the scheduler, the plan. */
struct sc {
	struct gpumux_gsched gs;
	struct gpumux_gsched_params p;
	struct gpumux_gsched_instance inst[MAX_I];
	struct gpumux_gsched_request run[MAX_I][MAX_R];
	struct gpumux_gsched_request wait[MAX_I][MAX_R];
	struct gpumux_gsched_migration mig[MAX_M];
	struct gpumux_gsched_input in;
	struct gpumux_gsched_move moves[MAX_M];
	struct gpumux_gsched_plan plan;
	bool inited;
};

static struct sc *S;

static void setup(void)
{
	S = calloc(1, sizeof(*S));
	ck_assert_ptr_nonnull(S);
	S->p = gpumux_gsched_default_params();
	S->in.now_ms = NOW;
	S->in.instances = S->inst;
	S->in.migrations = S->mig;
	S->plan.moves = S->moves;
	S->plan.max_moves = MAX_M;
}

static void teardown(void)
{
	if (S->inited)
		gpumux_gsched_fini(&S->gs);
	free(S);
	S = NULL;
}

/* (Re)starts the scheduler @name with S->p. */
static void use(const char *name)
{
	int ret;

	if (S->inited)
		gpumux_gsched_fini(&S->gs);
	ret = gpumux_gsched_init(&S->gs, name, &S->p);
	ck_assert_msg(ret == 0, "init %s: %d", name, ret);
	S->inited = true;
}

/* --- building inputs --- */

static size_t idx_of(uint32_t id)
{
	size_t i;

	for (i = 0; i < S->in.nr_instances; i++)
		if (S->inst[i].id == id)
			return i;
	ck_abort_msg("no instance %u", id);
	return 0;
}

static struct gpumux_gsched_instance *inst_of(uint32_t id)
{
	return &S->inst[idx_of(id)];
}

static struct gpumux_gsched_instance *add_inst(uint32_t id, uint32_t total,
					       uint32_t block_tokens)
{
	size_t i = S->in.nr_instances++;
	struct gpumux_gsched_instance *s = &S->inst[i];

	ck_assert_uint_lt(i, MAX_I);
	*s = (struct gpumux_gsched_instance){
		.id = id,
		.block_tokens = block_tokens,
		.kv_total = total,
		.report_ms = NOW,
		.running = S->run[i],
		.waiting = S->wait[i],
	};
	return s;
}

/* A running request holding @blocks full blocks; kv_used grows. */
static struct gpumux_gsched_request *add_run(uint32_t inst, uint64_t id,
					     uint32_t blocks, uint8_t prio)
{
	size_t i = idx_of(inst);
	struct gpumux_gsched_instance *s = &S->inst[i];
	struct gpumux_gsched_request *r = &S->run[i][s->nr_running++];

	ck_assert_uint_le(s->nr_running, MAX_R);
	*r = (struct gpumux_gsched_request){
		.id = id,
		.tokens = blocks * s->block_tokens,
		.blocks = blocks,
		.priority = prio,
	};
	s->kv_used += blocks;
	return r;
}

/* A waiting request needing @blocks blocks, at the queue's tail. */
static struct gpumux_gsched_request *add_wait(uint32_t inst, uint64_t id,
					      uint32_t blocks, uint8_t prio)
{
	size_t i = idx_of(inst);
	struct gpumux_gsched_instance *s = &S->inst[i];
	struct gpumux_gsched_request *r = &S->wait[i][s->nr_waiting++];

	ck_assert_uint_le(s->nr_waiting, MAX_R);
	*r = (struct gpumux_gsched_request){
		.id = id,
		.tokens = blocks * s->block_tokens,
		.blocks = blocks,
		.priority = prio,
	};
	return r;
}

static void add_mig(uint64_t req, uint32_t src, uint32_t dst,
		    uint32_t dst_blocks)
{
	S->mig[S->in.nr_migrations++] =
		(struct gpumux_gsched_migration){ .request_id = req,
						  .src = src,
						  .dst = dst,
						  .dst_blocks = dst_blocks };
}

/* Finds request @id: its instance index, and whether it waits. */
static struct gpumux_gsched_request *find_req(uint64_t id, size_t *ii,
					      bool *waiting)
{
	size_t i, j;

	for (i = 0; i < S->in.nr_instances; i++) {
		for (j = 0; j < S->inst[i].nr_running; j++)
			if (S->run[i][j].id == id) {
				*ii = i;
				*waiting = false;
				return &S->run[i][j];
			}
		for (j = 0; j < S->inst[i].nr_waiting; j++)
			if (S->wait[i][j].id == id) {
				*ii = i;
				*waiting = true;
				return &S->wait[i][j];
			}
	}
	return NULL;
}

/* --- asking --- */

static struct gpumux_gsched_load load_of(uint32_t id)
{
	struct gpumux_gsched_load ld;

	ck_assert_int_eq(gpumux_gsched_load(&S->gs, &S->in, idx_of(id), &ld),
			 0);
	return ld;
}

static struct gpumux_gsched_placement place(uint64_t id, uint32_t tokens,
					    uint8_t prio)
{
	struct gpumux_gsched_new_request r = { .id = id,
					       .prompt_tokens = tokens,
					       .priority = prio };
	struct gpumux_gsched_placement o;
	int ret = gpumux_gsched_dispatch(&S->gs, &S->in, &r, &o);

	ck_assert_msg(ret == 0, "dispatch: %d", ret);
	return o;
}

static uint32_t place_id(uint64_t id, uint32_t tokens, uint8_t prio)
{
	struct gpumux_gsched_placement o = place(id, tokens, prio);

	ck_assert_uint_eq(o.verdict, GPUMUX_GSCHED_PLACE);
	return o.instance_id;
}

/*
 * The invariants of every plan: limits, no request twice, none already
 * migrating, the right source, a live destination other than the source
 * with room for all that the plan sends it.
 */
static void check_plan(void)
{
	const struct gpumux_gsched_params *p = &S->gs.params;
	uint32_t per[MAX_I] = { 0 };
	int64_t extra[MAX_I] = { 0 };
	size_t i, j;

	ck_assert_uint_le(S->plan.nr_moves, S->plan.max_moves);
	ck_assert_uint_le(S->in.nr_migrations + S->plan.nr_moves,
			  p->max_migrations > S->in.nr_migrations ?
				  p->max_migrations :
				  S->in.nr_migrations);
	for (i = 0; i < S->in.nr_migrations; i++) {
		per[idx_of(S->mig[i].src)]++;
		per[idx_of(S->mig[i].dst)]++;
	}
	for (i = 0; i < S->plan.nr_moves; i++) {
		const struct gpumux_gsched_move *m = &S->moves[i];
		const struct gpumux_gsched_request *r;
		const struct gpumux_gsched_instance *d;
		size_t si, di;
		bool waiting;

		r = find_req(m->request_id, &si, &waiting);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq(S->inst[si].id, m->src);
		ck_assert_uint_ne(m->src, m->dst);
		ck_assert(!(r->flags & GPUMUX_GSCHED_REQ_MIGRATING));
		for (j = 0; j < S->in.nr_migrations; j++)
			ck_assert(S->mig[j].request_id != m->request_id);
		for (j = 0; j < i; j++)
			ck_assert(S->moves[j].request_id != m->request_id);
		ck_assert_uint_eq(!!(m->flags & GPUMUX_GSCHED_MOVE_WAITING),
				  waiting);
		ck_assert_uint_eq(m->blocks, waiting ? 0 : r->blocks);
		ck_assert(m->reason >= GPUMUX_GSCHED_REASON_DRAIN &&
			  m->reason <= GPUMUX_GSCHED_REASON_DEFRAG);
		di = idx_of(m->dst);
		d = &S->inst[di];
		ck_assert(!(d->flags & GPUMUX_GSCHED_INST_DRAINING));
		ck_assert_uint_le(S->in.now_ms - d->report_ms, p->stale_ms);
		ck_assert_uint_le(S->in.now_ms - S->inst[si].report_ms,
				  p->stale_ms);
		per[si]++;
		per[di]++;
		if (!waiting)
			extra[di] +=
				gpumux_gsched_blocks_on(r, &S->inst[si], d);
		if (m->reason != GPUMUX_GSCHED_REASON_DRAIN && !waiting) {
			ck_assert(!r->migrated_ms ||
				  S->in.now_ms - r->migrated_ms >=
					  p->cooldown_ms);
		}
	}
	for (i = 0; i < S->in.nr_instances; i++) {
		uint32_t inflight = 0;

		for (j = 0; j < S->in.nr_migrations; j++)
			inflight += S->mig[j].src == S->inst[i].id ||
				    S->mig[j].dst == S->inst[i].id;
		/* Planned moves only where a slot was free. */
		if (per[i] > inflight)
			ck_assert_uint_le(per[i], p->max_per_instance);
		ck_assert_int_le((int64_t)S->inst[i].kv_used + extra[i],
				 S->inst[i].kv_total);
	}
}

/* Plans, checks the invariants and that planning again is the same. */
static size_t plan_ok(void)
{
	struct gpumux_gsched_move again[MAX_M];
	struct gpumux_gsched_plan p2 = { again, MAX_M, 0 };
	int ret;

	S->plan.nr_moves = 0;
	ret = gpumux_gsched_migrate_plan(&S->gs, &S->in, &S->plan);
	ck_assert_msg(ret == 0, "plan: %d", ret);
	check_plan();
	ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in, &p2), 0);
	ck_assert_uint_eq(p2.nr_moves, S->plan.nr_moves);
	if (p2.nr_moves)
		ck_assert_mem_eq(again, S->moves,
				 p2.nr_moves * sizeof(again[0]));
	return S->plan.nr_moves;
}

static const struct gpumux_gsched_move *move_of(uint64_t req)
{
	size_t i;

	for (i = 0; i < S->plan.nr_moves; i++)
		if (S->moves[i].request_id == req)
			return &S->moves[i];
	return NULL;
}

/*
 * Carries out the plan at once: every moved request leaves its source and
 * joins its destination (running at the tail of the batch, waiting at the
 * tail of the queue) with migrated_ms = now.
 */
static void complete_plan(void)
{
	size_t k;

	for (k = 0; k < S->plan.nr_moves; k++) {
		const struct gpumux_gsched_move *m = &S->moves[k];
		struct gpumux_gsched_request r;
		struct gpumux_gsched_instance *s, *d;
		size_t si, di, j, n;
		bool waiting;
		struct gpumux_gsched_request *arr;

		r = *find_req(m->request_id, &si, &waiting);
		s = &S->inst[si];
		di = idx_of(m->dst);
		d = &S->inst[di];
		arr = waiting ? S->wait[si] : S->run[si];
		n = waiting ? s->nr_waiting : s->nr_running;
		for (j = 0; j < n && arr[j].id != r.id; j++)
			;
		ck_assert_uint_lt(j, n);
		for (; j + 1 < n; j++)
			arr[j] = arr[j + 1];
		r.migrated_ms = S->in.now_ms;
		if (waiting) {
			s->nr_waiting--;
			S->wait[di][d->nr_waiting++] = r;
		} else {
			s->nr_running--;
			s->kv_used -= r.blocks;
			r.blocks = gpumux_gsched_blocks_on(&r, s, d);
			S->run[di][d->nr_running++] = r;
			d->kv_used += r.blocks;
		}
	}
	S->plan.nr_moves = 0;
}

/* --- the registry, parameters, names --- */

START_TEST(test_lookup)
{
	struct gpumux_gsched gs;
	struct gpumux_gsched_params p = gpumux_gsched_default_params();
	const char *names[] = { "llumnix", "roundrobin", "leastload" };
	uint32_t o;
	size_t i;

	for (i = 0; i < 3; i++) {
		const struct gpumux_gsched_ops *ops =
			gpumux_gsched_find(names[i]);

		ck_assert_ptr_nonnull(ops);
		ck_assert_str_eq(ops->name, names[i]);
		ck_assert_ptr_nonnull(ops->dispatch);
		ck_assert_ptr_nonnull(ops->description);
		ck_assert_ptr_eq(gpumux_gsched_nth(i), ops);
		ck_assert_int_eq(gpumux_gsched_init(&gs, names[i], NULL), 0);
		ck_assert_ptr_eq(gs.ops, ops);
		gpumux_gsched_fini(&gs);
		ck_assert_ptr_null(gs.ops);
		gpumux_gsched_fini(&gs); /* twice is fine */
	}
	ck_assert_ptr_null(gpumux_gsched_nth(3));
	ck_assert_ptr_null(gpumux_gsched_find("llumni"));
	ck_assert_ptr_null(gpumux_gsched_find(""));
	ck_assert_ptr_null(gpumux_gsched_find(NULL));
	ck_assert_ptr_nonnull(gpumux_gsched_find("llumnix")->migrate_plan);
	ck_assert_ptr_null(gpumux_gsched_find("roundrobin")->migrate_plan);
	ck_assert_ptr_null(gpumux_gsched_find("leastload")->migrate_plan);
	ck_assert_int_eq(gpumux_gsched_init(&gs, "nope", NULL), -ENOENT);
	ck_assert_int_eq(gpumux_gsched_init(&gs, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_gsched_init(NULL, "llumnix", NULL), -EINVAL);

	/* Parameters. */
	ck_assert_int_eq(gpumux_gsched_check_params(&p), 0);
	ck_assert_int_eq(gpumux_gsched_check_params(NULL), -EINVAL);
	p.mode = 4;
	ck_assert_int_eq(gpumux_gsched_init(&gs, "llumnix", &p), -EINVAL);
	p = gpumux_gsched_default_params();
	p.order = GPUMUX_GSCHED_RANDOM + 1;
	ck_assert_int_eq(gpumux_gsched_check_params(&p), -EINVAL);
	p = gpumux_gsched_default_params();
	p.src_freeness = p.dst_freeness;
	ck_assert_int_eq(gpumux_gsched_check_params(&p), -EINVAL);
	p = gpumux_gsched_default_params();
	p.reserved = 1;
	ck_assert_int_eq(gpumux_gsched_check_params(&p), -EINVAL);
	p = gpumux_gsched_default_params();
	p.mode = 0; /* drain only */
	ck_assert_int_eq(gpumux_gsched_check_params(&p), 0);

	/* Defaults as documented. */
	p = gpumux_gsched_default_params();
	ck_assert_uint_eq(p.stale_ms, 250);
	ck_assert_uint_eq(p.order, GPUMUX_GSCHED_SHORTEST);
	ck_assert_uint_eq(p.mode, GPUMUX_GSCHED_MODE_BALANCE |
					  GPUMUX_GSCHED_MODE_DEFRAG);
	ck_assert_int_lt(p.src_freeness, p.dst_freeness);

	/* Names. */
	ck_assert_str_eq(gpumux_gsched_reason_name(GPUMUX_GSCHED_REASON_DRAIN),
			 "drain");
	ck_assert_str_eq(
		gpumux_gsched_reason_name(GPUMUX_GSCHED_REASON_OPERATOR),
		"operator");
	ck_assert_str_eq(gpumux_gsched_reason_name(0), "?");
	ck_assert_str_eq(gpumux_gsched_verdict_name(GPUMUX_GSCHED_QUEUE),
			 "queue");
	ck_assert_str_eq(gpumux_gsched_verdict_name(9), "?");
	for (i = 0; i <= GPUMUX_GSCHED_RANDOM; i++) {
		ck_assert_int_eq(gpumux_gsched_order_parse(
					 gpumux_gsched_order_name(i), &o),
				 0);
		ck_assert_uint_eq(o, i);
	}
	ck_assert_str_eq(gpumux_gsched_order_name(99), "?");
	ck_assert_int_eq(gpumux_gsched_order_parse("fastest", &o), -ENOENT);
	ck_assert_int_eq(gpumux_gsched_order_parse(NULL, &o), -EINVAL);
}
END_TEST

/* --- freeness --- */

START_TEST(test_freeness_math)
{
	struct gpumux_gsched_load ld;

	ck_assert_int_eq(gpumux_gsched_freeness(100, 40, 16, 4), 240);
	ck_assert_int_eq(gpumux_gsched_freeness(100, 40, 16, 0), 960);
	ck_assert_int_eq(gpumux_gsched_freeness(100, 40, 16, 1), 960);
	ck_assert_int_eq(gpumux_gsched_freeness(100, 100, 16, 3), 0);
	/* Rounded toward minus infinity: -10 * 16 / 3 = -53.33 */
	ck_assert_int_eq(gpumux_gsched_freeness(100, 110, 16, 3), -54);
	ck_assert_int_eq(gpumux_gsched_freeness(100, 99, 16, 3), 5);
	ck_assert_int_eq(gpumux_gsched_freeness(100, GPUMUX_GSCHED_INFINITE, 16,
						3),
			 GPUMUX_GSCHED_FREENESS_MIN);

	S->p.high_headroom_blocks = 8;
	use("llumnix");
	/* Idle: its whole capacity. */
	add_inst(1, 100, 16);
	ld = load_of(1);
	ck_assert_uint_eq(ld.virtual_usage, 0);
	ck_assert_uint_eq(ld.batch, 1);
	ck_assert_int_eq(ld.freeness, 1600);
	ck_assert(!ld.draining && !ld.stale);

	/* 4 running, 40 blocks, head of line 10 (the second waiting 30 does
	 * not count), a high-priority request: 8 headroom. */
	add_run(1, 11, 10, GPUMUX_GSCHED_NORMAL);
	add_run(1, 12, 10, GPUMUX_GSCHED_NORMAL);
	add_run(1, 13, 10, GPUMUX_GSCHED_NORMAL);
	add_run(1, 14, 10, GPUMUX_GSCHED_HIGH);
	add_wait(1, 15, 10, GPUMUX_GSCHED_NORMAL);
	add_wait(1, 16, 30, GPUMUX_GSCHED_NORMAL);
	ld = load_of(1);
	ck_assert_uint_eq(ld.hol_blocks, 10);
	ck_assert_uint_eq(ld.headroom_blocks, 8);
	ck_assert_uint_eq(ld.virtual_usage, 58);
	ck_assert_uint_eq(ld.batch, 4);
	ck_assert_int_eq(ld.freeness, (100 - 58) * 16 / 4);

	/* A high-priority request only waiting also reserves headroom. */
	S->run[0][3].priority = GPUMUX_GSCHED_NORMAL;
	ck_assert_uint_eq(load_of(1).headroom_blocks, 0);
	S->wait[0][1].priority = GPUMUX_GSCHED_HIGH;
	ck_assert_uint_eq(load_of(1).headroom_blocks, 8);
	S->wait[0][1].priority = GPUMUX_GSCHED_NORMAL;

	/* Incoming migration: pending blocks count; one migrating out
	 * counts on its destination only. */
	add_inst(2, 200, 32);
	add_run(2, 21, 20, GPUMUX_GSCHED_NORMAL);
	add_run(2, 22, 30, GPUMUX_GSCHED_NORMAL);
	add_mig(11, 1, 2, 5);
	ld = load_of(2);
	ck_assert_uint_eq(ld.pending_blocks, 5);
	ck_assert_uint_eq(ld.virtual_usage, 55);
	ck_assert_int_eq(ld.freeness, (200 - 55) * 32 / 2);
	ld = load_of(1);
	ck_assert_uint_eq(ld.out_blocks, 10);
	ck_assert_uint_eq(ld.nr_out, 1);
	ck_assert_uint_eq(ld.batch, 3);
	ck_assert_uint_eq(ld.virtual_usage, 30 + 10);
	ck_assert_int_eq(ld.freeness, 60 * 16 / 3);
	/* The flag alone says the same. */
	S->in.nr_migrations = 0;
	S->run[0][0].flags = GPUMUX_GSCHED_REQ_MIGRATING;
	ck_assert_uint_eq(load_of(1).nr_out, 1);
	ck_assert_uint_eq(load_of(2).pending_blocks, 0);
	S->run[0][0].flags = 0;

	/* Over capacity: negative. */
	add_wait(2, 23, 190, GPUMUX_GSCHED_NORMAL);
	ld = load_of(2);
	ck_assert_uint_eq(ld.virtual_usage, 240);
	ck_assert_int_eq(ld.freeness, -40 * 32 / 2);

	/* Draining: infinite. */
	inst_of(2)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ld = load_of(2);
	ck_assert(ld.draining);
	ck_assert_uint_eq(ld.virtual_usage, GPUMUX_GSCHED_INFINITE);
	ck_assert_int_eq(ld.freeness, GPUMUX_GSCHED_FREENESS_MIN);

	/* Stale past stale_ms, not at it. */
	inst_of(1)->report_ms = NOW - 250;
	ck_assert(!load_of(1).stale);
	inst_of(1)->report_ms = NOW - 251;
	ck_assert(load_of(1).stale);

	ck_assert_int_eq(gpumux_gsched_load(&S->gs, &S->in, 2, &ld), -EINVAL);
	ck_assert_int_eq(gpumux_gsched_load(NULL, &S->in, 0, &ld), -EINVAL);
	ck_assert_int_eq(gpumux_gsched_load(&S->gs, &S->in, 0, NULL), -EINVAL);
}
END_TEST

/* --- dispatch --- */

START_TEST(test_dispatch_freest)
{
	struct gpumux_gsched_placement o;

	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	add_run(1, 11, 50, 0); /* F = 50 * 16 = 800 */
	add_run(2, 21, 10, 0); /* F = 60 * 16 / 4 = 240 */
	add_run(2, 22, 10, 0);
	add_run(2, 23, 10, 0);
	add_run(2, 24, 10, 0);
	add_run(3, 31, 30, 0); /* F = 40 * 16 / 2 = 320 */
	add_run(3, 32, 30, 0);
	o = place(100, 64, GPUMUX_GSCHED_NORMAL);
	ck_assert_uint_eq(o.verdict, GPUMUX_GSCHED_PLACE);
	ck_assert_uint_eq(o.instance_id, 1);
	ck_assert_uint_eq(o.blocks, 4);

	/* Queued demand makes instance 1 less free: F = 10 * 16 = 160. */
	add_wait(1, 12, 40, 0);
	ck_assert_uint_eq(place_id(100, 64, 0), 3);

	/* Ties: the lower id, wherever it is in the input. */
	S->in.nr_instances = 0;
	add_inst(7, 100, 16);
	add_inst(5, 100, 16);
	add_inst(6, 100, 16);
	ck_assert_uint_eq(place_id(100, 1, 0), 5);

	/* Freeness in tokens: a bigger block size is worth more. */
	S->in.nr_instances = 0;
	add_inst(1, 100, 16);
	add_inst(2, 100, 32);
	add_run(1, 11, 20, 0);
	add_run(2, 21, 60, 0);
	/* 1: 80 * 16 = 1280; 2: 40 * 32 = 1280; tie -> 1 */
	ck_assert_uint_eq(place_id(100, 1, 0), 1);
	S->run[1][0].blocks = 59;
	inst_of(2)->kv_used = 59; /* 41 * 32 = 1312 */
	o = place(100, 100, 0);
	ck_assert_uint_eq(o.instance_id, 2);
	ck_assert_uint_eq(o.blocks, 4); /* 100 tokens of 32 */
	/* 0 tokens still need a block. */
	ck_assert_uint_eq(place(100, 0, 0).blocks, 1);
}
END_TEST

START_TEST(test_dispatch_verdicts)
{
	struct gpumux_gsched_placement o;

	use("llumnix");
	/* No instance at all. */
	o = place(100, 16, 0);
	ck_assert_uint_eq(o.verdict, GPUMUX_GSCHED_REFUSE);
	ck_assert_uint_eq(o.instance_id, 0);

	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	/* Larger than any instance can ever hold. */
	ck_assert_uint_eq(place(100, 101 * 16, 0).verdict,
			  GPUMUX_GSCHED_REFUSE);
	ck_assert_uint_eq(place(100, 100 * 16, 0).verdict, GPUMUX_GSCHED_PLACE);

	/* Draining instances get nothing; all draining: refuse. */
	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place_id(100, 16, 0), 2);
	ck_assert_uint_eq(place_id(100, 16, GPUMUX_GSCHED_HIGH), 2);
	inst_of(2)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place(100, 16, 0).verdict, GPUMUX_GSCHED_REFUSE);

	/* Stale: queue (it may report again). */
	inst_of(2)->flags = 0;
	inst_of(2)->report_ms = NOW - 300;
	ck_assert_uint_eq(place(100, 16, 0).verdict, GPUMUX_GSCHED_QUEUE);
	inst_of(2)->report_ms = NOW - 250;
	ck_assert_uint_eq(place_id(100, 16, 0), 2);

	/* Full queues: queue. */
	inst_of(1)->flags = 0;
	S->p.max_waiting = 2;
	use("llumnix");
	add_wait(1, 11, 1, 0);
	add_wait(1, 12, 1, 0);
	add_wait(2, 21, 1, 0);
	ck_assert_uint_eq(place_id(100, 16, 0), 2);
	add_wait(2, 22, 1, 0);
	ck_assert_uint_eq(place(100, 16, 0).verdict, GPUMUX_GSCHED_QUEUE);
	/* Queue beats refuse when a full instance could run it later. */
	inst_of(2)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place(100, 16, 0).verdict, GPUMUX_GSCHED_QUEUE);
}
END_TEST

START_TEST(test_dispatch_high_priority)
{
	S->p.high_headroom_blocks = 30;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 75, 0); /* F = 25 * 16 = 400 */
	add_run(2, 21, 4, 0); /* F = 60 * 16 / 10 = 96 */
	add_run(2, 22, 4, 0);
	add_run(2, 23, 4, 0);
	add_run(2, 24, 4, 0);
	add_run(2, 25, 4, 0);
	add_run(2, 26, 4, 0);
	add_run(2, 27, 4, 0);
	add_run(2, 28, 4, 0);
	add_run(2, 29, 4, 0);
	add_run(2, 30, 4, 0);
	ck_assert_int_eq(load_of(1).freeness, 400);
	ck_assert_int_eq(load_of(2).freeness, 96);
	/* Normal: the freest. */
	ck_assert_uint_eq(place_id(100, 160, GPUMUX_GSCHED_NORMAL), 1);
	/* High, 10 blocks: 1 has 25 free, not 10 + 30; 2 has 60. */
	ck_assert_uint_eq(place_id(100, 160, GPUMUX_GSCHED_HIGH), 2);
	/* An instance that already reserves the headroom needs no more:
	 * 1 with a high request: 100 - (75 + 30) < 10, still no room. */
	S->run[0][0].priority = GPUMUX_GSCHED_HIGH;
	ck_assert_uint_eq(place_id(100, 160, GPUMUX_GSCHED_HIGH), 2);
	/* 2 with a high one too: 100 - (40 + 30) - 10 = 20 >= 0. */
	S->run[1][0].priority = GPUMUX_GSCHED_HIGH;
	ck_assert_uint_eq(place_id(100, 160, GPUMUX_GSCHED_HIGH), 2);
	/* Nowhere with the headroom: the freest, as a normal request. */
	S->run[0][0].priority = GPUMUX_GSCHED_NORMAL;
	S->run[1][0].priority = GPUMUX_GSCHED_NORMAL;
	ck_assert_uint_eq(place_id(100, 61 * 16, GPUMUX_GSCHED_HIGH), 1);
}
END_TEST

/* --- draining --- */

START_TEST(test_drain_moves_everything)
{
	size_t rounds = 0;

	S->p.max_migrations = 3;
	S->p.max_per_instance = 3;
	S->p.cooldown_ms = 60000;
	S->p.mode = 0; /* drain only: nothing else may move */
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	add_run(1, 11, 5, 0);
	add_run(1, 12, 9, GPUMUX_GSCHED_HIGH);
	add_run(1, 13, 3, 0)->migrated_ms = NOW; /* cooling: moves anyway */
	add_run(1, 14, 7, 0)->tokens_left = 1; /* about done: anyway */
	add_wait(1, 15, 20, 0);
	add_run(2, 21, 10, 0);
	add_run(3, 31, 30, 0);
	/* Not draining: thresholds keep everything in place. */
	ck_assert_uint_eq(plan_ok(), 0);

	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place_id(100, 16, 0), 2);
	while (inst_of(1)->nr_running + inst_of(1)->nr_waiting) {
		size_t i, n = plan_ok();

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_le(n, 3);
		for (i = 0; i < n; i++) {
			ck_assert_uint_eq(S->moves[i].reason,
					  GPUMUX_GSCHED_REASON_DRAIN);
			ck_assert_uint_eq(S->moves[i].src, 1);
		}
		if (!rounds) {
			/* The waiting one first (metadata only), then the
			 * shortest running ones. */
			ck_assert_uint_eq(S->moves[0].request_id, 15);
			ck_assert_uint_eq(S->moves[0].flags,
					  GPUMUX_GSCHED_MOVE_WAITING);
			ck_assert_uint_eq(S->moves[1].request_id, 13);
			ck_assert_uint_eq(S->moves[2].request_id, 11);
		}
		complete_plan();
		S->in.now_ms += 50;
		ck_assert_uint_lt(++rounds, 10);
	}
	ck_assert_uint_eq(rounds, 2);
	ck_assert_uint_eq(inst_of(1)->kv_used, 0);
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

START_TEST(test_drain_limits_and_room)
{
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	use("llumnix");
	add_inst(1, 200, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	add_run(1, 11, 30, 0);
	add_run(1, 12, 40, 0);
	add_run(1, 13, 50, 0);
	add_run(2, 21, 60, 0); /* 40 free */
	add_run(3, 31, 50, 0); /* 50 free, head of line 15: 35 room */
	add_wait(3, 32, 15, 0);
	/* 11 (30) fits on 2 (room 40, F = 40 * 16 = 640) and on 3 (room
	 * 35, F = 35 * 16 = 560): the freer, 2; then 12 (40): 2 has 10
	 * left, 3 has 35: nowhere; 13 (50): nowhere. */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
	ck_assert_uint_eq(S->moves[0].dst, 2);

	/* A stale draining instance is left alone, and a stale
	 * destination gets nothing. */
	inst_of(1)->report_ms = NOW - 1000;
	ck_assert_uint_eq(plan_ok(), 0);
	inst_of(1)->report_ms = NOW;
	inst_of(2)->report_ms = NOW - 1000;
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
	ck_assert_uint_eq(S->moves[0].dst, 3);
	inst_of(2)->report_ms = NOW;

	/* Two draining: neither is a destination; 21 (60) has nowhere to
	 * go once 11 took 3's room. */
	inst_of(2)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
	ck_assert_uint_eq(S->moves[0].dst, 3);
	S->run[1][0].blocks = 5;
	inst_of(2)->kv_used = 5;
	ck_assert_uint_eq(plan_ok(), 2);
	ck_assert_uint_eq(S->moves[1].request_id, 21);
	ck_assert_uint_eq(S->moves[1].src, 2);
	ck_assert_uint_eq(S->moves[1].dst, 3);
	ck_assert_uint_eq(move_of(21)->reason, GPUMUX_GSCHED_REASON_DRAIN);
}
END_TEST

/* --- request choice --- */

/* One draining instance, one empty one, one move allowed: who goes? */
static uint64_t first_choice(uint32_t order, uint64_t seed)
{
	S->p.order = order;
	S->p.seed = seed;
	S->p.max_migrations = 1;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	return S->moves[0].request_id;
}

START_TEST(test_request_order)
{
	uint64_t seen[8] = { 0 };
	size_t nseen = 0, i, j;

	add_inst(1, 1000, 16);
	add_inst(2, 1000, 16);
	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	add_run(1, 11, 30, 0);
	add_run(1, 12, 5, GPUMUX_GSCHED_HIGH);
	add_run(1, 13, 50, 0);
	add_run(1, 14, 8, 0);
	add_run(1, 15, 50, 0);
	add_run(1, 16, 5, 0);

	/* Shortest: 5 blocks, ties by id: 12 before 16. */
	ck_assert_uint_eq(first_choice(GPUMUX_GSCHED_SHORTEST, 0), 12);
	/* Longest: 50, ties by id. */
	ck_assert_uint_eq(first_choice(GPUMUX_GSCHED_LONGEST, 0), 13);
	/* High last: the shortest normal one. */
	ck_assert_uint_eq(first_choice(GPUMUX_GSCHED_HIGH_LAST, 0), 16);

	/* The whole order, through a full drain. */
	S->p.order = GPUMUX_GSCHED_HIGH_LAST;
	S->p.max_migrations = 16;
	S->p.max_per_instance = 16;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 6);
	ck_assert_uint_eq(S->moves[0].request_id, 16);
	ck_assert_uint_eq(S->moves[1].request_id, 14);
	ck_assert_uint_eq(S->moves[2].request_id, 11);
	ck_assert_uint_eq(S->moves[3].request_id, 13);
	ck_assert_uint_eq(S->moves[4].request_id, 15);
	ck_assert_uint_eq(S->moves[5].request_id, 12);

	/* Random: fixed by the seed, and the seed matters. */
	for (i = 1; i <= 16; i++) {
		uint64_t a = first_choice(GPUMUX_GSCHED_RANDOM, i);

		ck_assert_uint_eq(first_choice(GPUMUX_GSCHED_RANDOM, i), a);
		for (j = 0; j < nseen && seen[j] != a; j++)
			;
		if (j == nseen)
			seen[nseen++] = a;
	}
	ck_assert_uint_ge(nseen, 3);
}
END_TEST

/* --- balance --- */

START_TEST(test_balance)
{
	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	S->p.max_migrations = 8;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	/* 1 overloaded: 95 used, 5 requests: F = 5 * 16 / 5 = 16 < 64. */
	add_run(1, 11, 25, 0);
	add_run(1, 12, 20, 0);
	add_run(1, 13, 10, 0);
	add_run(1, 14, 30, 0);
	add_run(1, 15, 10, 0);
	/* 2 idle-ish: F = 90 * 16 = 1440 > 512; 3 in the band. */
	add_run(2, 21, 10, 0);
	add_run(3, 31, 25, 0);
	add_run(3, 32, 25, 0); /* F = 50 * 16 / 2 = 400 */
	ck_assert_int_eq(load_of(1).freeness, 16);
	ck_assert_int_eq(load_of(3).freeness, 400);

	/* One source, one destination, one slot each: the shortest (ties:
	 * lower id) goes from 1 to 2. */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 13);
	ck_assert_uint_eq(S->moves[0].src, 1);
	ck_assert_uint_eq(S->moves[0].dst, 2);
	ck_assert_uint_eq(S->moves[0].reason, GPUMUX_GSCHED_REASON_BALANCE);
	ck_assert_uint_eq(S->moves[0].blocks, 10);

	/* More slots: more rounds, until 1 leaves the source range or 2
	 * the destination range. */
	S->p.max_per_instance = 8;
	use("llumnix");
	ck_assert_uint_ge(plan_ok(), 2);
	ck_assert_uint_eq(S->moves[0].request_id, 13);
	ck_assert_uint_eq(S->moves[1].request_id, 15);
	complete_plan();
	ck_assert_int_ge(load_of(1).freeness, 64);
	/* Balanced: nothing more. */
	ck_assert_uint_eq(plan_ok(), 0);

	/* In the hysteresis band, nothing moves at all. */
	S->in.nr_instances = 0;
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 60, 0);
	add_run(1, 12, 10, 0); /* F = 30 * 16 / 2 = 240 */
	ck_assert_uint_eq(plan_ok(), 0);
	/* Below the source threshold but no destination above its own. */
	add_run(2, 21, 70, 0); /* F = 30 * 16 = 480 */
	add_run(1, 13, 26, 0); /* F = 4 * 16 / 3 = 21 */
	ck_assert_uint_eq(plan_ok(), 0);
	/* A destination, but no request fits its room. */
	S->in.nr_instances = 0;
	add_inst(1, 150, 16);
	add_inst(2, 200, 16);
	add_run(1, 11, 45, 0);
	add_run(1, 12, 50, 0);
	add_run(1, 13, 50, 0); /* F = 5 * 16 / 3 = 26 */
	add_run(2, 21, 160, 0); /* F = 40 * 16 = 640, room 40 */
	ck_assert_uint_eq(plan_ok(), 0);
	S->run[1][0].blocks = 100;
	inst_of(2)->kv_used = 100; /* room 100 */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
	/* Queued demand on the destination takes room (and freeness). */
	add_wait(2, 22, 60, 0); /* room 40, F = 40 * 16 = 640 */
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

START_TEST(test_balance_pairs)
{
	size_t i;

	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	S->p.max_migrations = 2;
	use("llumnix");
	/* Two sources, two destinations: least free with most free. */
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	add_inst(4, 100, 16);
	for (i = 0; i < 4; i++)
		add_run(1, 10 + i, 24, 0); /* F = 4 * 16 / 4 = 16 */
	for (i = 0; i < 2; i++)
		add_run(2, 20 + i, 49, 0); /* F = 2 * 16 / 2 = 16: tie */
	add_run(2, 22, 1, 0); /* F = 1 * 16 / 3 = 5: least free */
	add_run(3, 30, 10, 0); /* F = 1440 */
	add_run(4, 40, 5, 0); /* F = 1520: most free */
	ck_assert_uint_eq(plan_ok(), 2);
	ck_assert_uint_eq(S->moves[0].src, 2);
	ck_assert_uint_eq(S->moves[0].dst, 4);
	ck_assert_uint_eq(S->moves[0].request_id, 22);
	ck_assert_uint_eq(S->moves[1].src, 1);
	ck_assert_uint_eq(S->moves[1].dst, 3);
	ck_assert_uint_eq(S->moves[1].request_id, 10);
}
END_TEST

START_TEST(test_balance_no_reversal)
{
	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	S->p.order = GPUMUX_GSCHED_LONGEST;
	S->p.cooldown_ms = 0;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 60, 0);
	add_run(1, 12, 35, 0); /* F = 5 * 16 / 2 = 40 */
	/* Moving 60 would leave 1 at 1040 and 2 at 640: reversed.  The 35
	 * leaves 640 and 1040: narrowed. */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 12);
	complete_plan();
	ck_assert_uint_eq(plan_ok(), 0);
	/* Only a reversing move left: none. */
	S->in.nr_instances = 0;
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 60, 0);
	add_run(1, 12, 35, 0);
	S->run[0][1].tokens_left = 1;
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

/* Migration destinations prefer the headroom for a high priority one. */
START_TEST(test_move_high_priority)
{
	S->p.high_headroom_blocks = 30;
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	S->p.mode = 0;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	add_run(1, 11, 10, GPUMUX_GSCHED_HIGH);
	add_run(1, 12, 10, GPUMUX_GSCHED_NORMAL);
	add_run(2, 21, 75, 0); /* F = 400, 25 free: no headroom */
	for (uint64_t i = 0; i < 10; i++)
		add_run(3, 30 + i, 4, 0); /* F = 96, 60 free */
	ck_assert_uint_eq(plan_ok(), 2);
	ck_assert_uint_eq(move_of(11)->dst, 3);
	ck_assert_uint_eq(move_of(12)->dst, 2);
}
END_TEST

/* --- de-fragmentation --- */

static void frag_load(void)
{
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 16);
	/* 1: 70 used, 30 free; a queued request needs 50: deficit 20. */
	add_run(1, 11, 12, 0);
	add_run(1, 12, 8, 0);
	add_run(1, 13, 30, 0);
	add_run(1, 14, 6, 0);
	add_run(1, 15, 14, 0);
	add_wait(1, 16, 50, 0);
	/* 2 and 3: 40 free each, none can take the 50 itself. */
	add_run(2, 21, 60, 0);
	add_run(3, 31, 30, 0);
	add_run(3, 32, 30, 0);
}

START_TEST(test_defrag_makes_room)
{
	int64_t freed = 0;
	size_t i, n;

	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	S->p.src_freeness = -100000; /* balance would not see it anyway */
	use("llumnix");
	frag_load();
	/* Shortest first until 20 blocks are free: 6, 8, 12 = 26. */
	n = plan_ok();
	ck_assert_uint_eq(n, 3);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(S->moves[i].src, 1);
		ck_assert_uint_eq(S->moves[i].reason,
				  GPUMUX_GSCHED_REASON_DEFRAG);
		freed += S->moves[i].blocks;
	}
	ck_assert_uint_eq(S->moves[0].request_id, 14);
	ck_assert_uint_eq(S->moves[1].request_id, 12);
	ck_assert_uint_eq(S->moves[2].request_id, 11);
	ck_assert_int_ge(freed, 20);
	complete_plan();
	/* The big request fits now; nothing more to do. */
	ck_assert_int_ge(100 - (int64_t)inst_of(1)->kv_used, 50);
	ck_assert_uint_eq(plan_ok(), 0);

	/* Longest first: one move (30) covers it. */
	S->in.nr_instances = 0;
	frag_load();
	S->p.order = GPUMUX_GSCHED_LONGEST;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 13);

	/* Limits cut the covering set short; moves in flight count as
	 * gone, so the next plan goes on where this one stopped. */
	S->p.order = GPUMUX_GSCHED_SHORTEST;
	S->p.max_per_instance = 1;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 14);
	add_mig(14, 1, S->moves[0].dst, 6);
	S->p.max_per_instance = 2;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 12);
}
END_TEST

START_TEST(test_defrag_vs_balance)
{
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	S->p.src_freeness = -100000;
	S->p.dst_freeness = 100;
	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	use("llumnix");
	frag_load();
	/* 1: vu 120, F = -20 * 16 / 5 = -64: not a balance source here. */
	ck_assert_int_eq(load_of(1).freeness, -64);
	ck_assert_uint_eq(plan_ok(), 0);
	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 3);

	/* Balanced but fragmented the other way: a balance source with no
	 * blocked queue moves under balance, not under defrag. */
	S->in.nr_instances = 0;
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 40, 0);
	add_run(1, 12, 50, 0); /* F = 80 */
	S->p.src_freeness = 100;
	S->p.dst_freeness = 200;
	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 0);
	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].reason, GPUMUX_GSCHED_REASON_BALANCE);
}
END_TEST

START_TEST(test_defrag_moves_queued_request)
{
	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	use("llumnix");
	frag_load();
	/* An instance where the 50 fit at once: the request goes there,
	 * metadata only, and nothing else moves. */
	add_inst(4, 100, 16);
	add_run(4, 41, 45, 0);
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 16);
	ck_assert_uint_eq(S->moves[0].dst, 4);
	ck_assert_uint_eq(S->moves[0].flags, GPUMUX_GSCHED_MOVE_WAITING);
	ck_assert_uint_eq(S->moves[0].blocks, 0);
	ck_assert_uint_eq(S->moves[0].reason, GPUMUX_GSCHED_REASON_DEFRAG);
	complete_plan();
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

/* Blocked instances go smallest deficit first, then by id. */
START_TEST(test_defrag_order)
{
	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	S->p.max_migrations = 1;
	use("llumnix");
	add_inst(2, 100, 16);
	add_inst(1, 100, 16);
	add_inst(3, 200, 16);
	add_run(1, 11, 30, 0);
	add_run(1, 12, 40, 0);
	add_wait(1, 13, 50, 0); /* deficit 20 */
	add_run(2, 21, 30, 0);
	add_run(2, 22, 50, 0);
	add_wait(2, 23, 25, 0); /* deficit 5 */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 23);
	ck_assert_uint_eq(S->moves[0].dst, 3);
	S->wait[0][0].blocks = 35; /* 2: deficit 15 */
	S->wait[1][0].blocks = 45; /* 1: deficit 15 */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 13);
	/* Both, once 3 has two slots. */
	S->p.max_migrations = 2;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	S->p.max_per_instance = 2;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 2);
	ck_assert_uint_eq(S->moves[1].request_id, 23);
}
END_TEST

START_TEST(test_defrag_infeasible)
{
	S->p.mode = GPUMUX_GSCHED_MODE_DEFRAG;
	S->p.max_migrations = 8;
	S->p.max_per_instance = 8;
	use("llumnix");
	frag_load();
	/* The others can take only 10 in all: moving some would not let
	 * the request in, so nothing moves. */
	add_run(2, 22, 35, 0);
	add_run(3, 33, 35, 0);
	ck_assert_uint_eq(plan_ok(), 0);
	/* A request needing the whole instance: everything moves off,
	 * given room for all of it (40 and 90 blocks for 6, 8, 12, 14, 30;
	 * with 40 and 40 the 30 would fit nowhere at the end). */
	S->in.nr_instances = 0;
	frag_load();
	S->wait[0][0].blocks = 100;
	ck_assert_uint_eq(plan_ok(), 0);
	inst_of(3)->kv_total = 150;
	ck_assert_uint_eq(plan_ok(), 5);
	complete_plan();
	ck_assert_uint_eq(inst_of(1)->kv_used, 0);
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

/* --- no ping-pong --- */

static uint32_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 1103515245 + 12345;
	return (rng_state >> 16) % n;
}

START_TEST(test_no_ping_pong)
{
	uint32_t left_from[4096] = { 0 };
	int seed;

	for (seed = 1; seed <= 40; seed++) {
		size_t i, k, rounds = 0;
		uint64_t id = 1;

		rng_state = (uint32_t)seed;
		memset(left_from, 0, sizeof(left_from));
		S->p = gpumux_gsched_default_params();
		S->p.cooldown_ms = 0; /* the rule alone must prevent it */
		S->p.max_migrations = 1 + rnd(6);
		S->p.max_per_instance = 1 + rnd(3);
		S->p.order = rnd(4);
		S->p.seed = (uint64_t)seed;
		use("llumnix");
		S->in.nr_instances = 0;
		S->in.nr_migrations = 0;
		S->in.now_ms = NOW;
		for (i = 0; i < 4; i++) {
			add_inst((uint32_t)i + 1, 200, 16);
			for (k = rnd(12); k > 0; k--) {
				uint32_t b = 1 + rnd(30);

				if (inst_of(i + 1)->kv_used + b > 200)
					break;
				add_run((uint32_t)i + 1, id++, b, rnd(2));
			}
			if (rnd(3) == 0)
				add_wait((uint32_t)i + 1, id++, 1 + rnd(60), 0);
		}
		/* Replan after each plan completes, until quiet. */
		while (plan_ok()) {
			for (k = 0; k < S->plan.nr_moves; k++) {
				const struct gpumux_gsched_move *m =
					&S->moves[k];

				ck_assert_uint_lt(m->request_id, 4096);
				/* Never straight back where it left. */
				ck_assert_msg(left_from[m->request_id] !=
						      m->dst,
					      "seed %d: %llu back to %u", seed,
					      (unsigned long long)m->request_id,
					      m->dst);
				left_from[m->request_id] = m->src;
			}
			complete_plan();
			S->in.now_ms += 50;
			ck_assert_msg(++rounds < 100, "seed %d: no end", seed);
		}
	}
}
END_TEST

START_TEST(test_cooldown)
{
	S->p.mode = GPUMUX_GSCHED_MODE_BALANCE;
	S->p.cooldown_ms = 1000;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 20, 0)->migrated_ms = NOW - 10;
	add_run(1, 12, 25, 0)->migrated_ms = NOW - 999;
	add_run(1, 13, 50, 0)->migrated_ms = NOW; /* F = 5 * 16 / 3 */
	/* Any would do; none moves while cooling. */
	ck_assert_uint_eq(plan_ok(), 0);
	S->run[0][1].migrated_ms = NOW - 1000;
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 12);
	S->run[0][0].migrated_ms = 0; /* never migrated */
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
	/* About to finish: not worth it. */
	S->run[0][0].tokens_left = 15;
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 12);
	S->run[0][0].tokens_left = 16;
	ck_assert_uint_eq(plan_ok(), 1);
	ck_assert_uint_eq(S->moves[0].request_id, 11);
}
END_TEST

/* --- limits --- */

START_TEST(test_limits)
{
	struct gpumux_gsched_move small[2];
	size_t i;

	S->p.max_migrations = 4;
	S->p.max_per_instance = 10;
	S->p.mode = 0;
	use("llumnix");
	add_inst(1, 1000, 16);
	add_inst(2, 1000, 16);
	add_inst(3, 1000, 16);
	inst_of(1)->flags = GPUMUX_GSCHED_INST_DRAINING;
	for (i = 0; i < 10; i++)
		add_run(1, 10 + i, 1 + i, 0);
	ck_assert_uint_eq(plan_ok(), 4);

	/* In flight counts against the total. */
	add_mig(10, 1, 2, 1);
	ck_assert_uint_eq(plan_ok(), 3);
	ck_assert_ptr_null(move_of(10));
	/* A flagged request is never planned either. */
	S->run[0][1].flags = GPUMUX_GSCHED_REQ_MIGRATING;
	ck_assert_uint_eq(plan_ok(), 3);
	ck_assert_ptr_null(move_of(11));
	add_mig(900, 2, 3, 0);
	add_mig(901, 3, 2, 0);
	add_mig(902, 2, 3, 0);
	ck_assert_uint_eq(plan_ok(), 0);
	S->in.nr_migrations = 1;

	/* Per instance: 2 slots on 1, one used by the migration. */
	S->p.max_per_instance = 2;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	/* Destinations fill their slots too. */
	S->in.nr_migrations = 0;
	S->run[0][1].flags = 0;
	S->p.max_per_instance = 1;
	S->p.max_migrations = 10;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 1);
	S->p.max_per_instance = 2;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 2);
	ck_assert_uint_ne(S->moves[0].dst, S->moves[1].dst);

	/* A short array shortens the plan. */
	S->p.max_per_instance = 10;
	use("llumnix");
	S->plan.moves = small;
	S->plan.max_moves = 2;
	ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in, &S->plan),
			 0);
	ck_assert_uint_eq(S->plan.nr_moves, 2);
	S->plan.max_moves = 0;
	ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in, &S->plan),
			 0);
	ck_assert_uint_eq(S->plan.nr_moves, 0);
	S->plan.moves = S->moves;
	S->plan.max_moves = MAX_M;

	/* max_migrations 0: migration off, drain included. */
	S->p.max_migrations = 0;
	use("llumnix");
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

/* --- validation --- */

static int validate(void)
{
	return gpumux_gsched_validate(&S->in);
}

START_TEST(test_bad_input)
{
	struct gpumux_gsched_new_request nr = { .id = 99, .prompt_tokens = 1 };
	struct gpumux_gsched_placement o = { .verdict = 77, .instance_id = 77 };
	struct gpumux_gsched_move mv;

	use("llumnix");
	ck_assert_int_eq(validate(), 0); /* empty is fine */
	ck_assert_int_eq(gpumux_gsched_validate(NULL), -EINVAL);
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_run(1, 11, 10, 0);
	add_wait(1, 12, 10, 0);
	add_run(2, 21, 10, 0);
	ck_assert_int_eq(validate(), 0);

#define BAD(stmt, undo, err)                                                   \
	do {                                                                   \
		stmt;                                                          \
		ck_assert_int_eq(validate(), err);                             \
		ck_assert_int_eq(                                              \
			gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o), err); \
		ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in,    \
							    &S->plan),         \
				 err);                                         \
		undo;                                                          \
		ck_assert_int_eq(validate(), 0);                               \
	} while (0)

	BAD(S->inst[0].id = 0, S->inst[0].id = 1, -EINVAL);
	BAD(S->inst[1].id = 1, S->inst[1].id = 2, -EINVAL);
	BAD(S->inst[0].block_tokens = 0, S->inst[0].block_tokens = 16, -EINVAL);
	BAD(S->inst[0].block_tokens = GPUMUX_GSCHED_MAX_BLOCK_TOKENS + 1,
	    S->inst[0].block_tokens = 16, -EINVAL);
	BAD(S->inst[0].kv_total = 0, S->inst[0].kv_total = 100, -EINVAL);
	BAD(S->inst[0].kv_used = 101, S->inst[0].kv_used = 20, -EINVAL);
	BAD(S->inst[0].report_ms = NOW + 1, S->inst[0].report_ms = NOW,
	    -EINVAL);
	BAD(S->inst[0].flags = 2, S->inst[0].flags = 0, -EINVAL);
	BAD(S->inst[0].reserved = 1, S->inst[0].reserved = 0, -EINVAL);
	BAD(S->inst[0].running = NULL, S->inst[0].running = S->run[0], -EINVAL);
	BAD(S->inst[0].waiting = NULL, S->inst[0].waiting = S->wait[0],
	    -EINVAL);
	BAD(S->in.instances = NULL, S->in.instances = S->inst, -EINVAL);
	BAD(S->in.nr_instances = GPUMUX_GSCHED_MAX_INSTANCES + 1,
	    S->in.nr_instances = 2, -E2BIG);
	BAD(S->inst[0].nr_running = GPUMUX_GSCHED_MAX_REQUESTS + 1,
	    S->inst[0].nr_running = 1, -E2BIG);
	/* Requests. */
	BAD(S->run[0][0].id = 0, S->run[0][0].id = 11, -EINVAL);
	BAD(S->run[0][0].id = 21, S->run[0][0].id = 11, -EINVAL);
	BAD(S->wait[0][0].id = 11, S->wait[0][0].id = 12, -EINVAL);
	BAD(S->run[0][0].blocks = 101, S->run[0][0].blocks = 10, -EINVAL);
	BAD(S->wait[0][0].blocks = 101, S->wait[0][0].blocks = 10, -EINVAL);
	BAD(S->run[0][0].priority = 2, S->run[0][0].priority = 0, -EINVAL);
	BAD(S->run[0][0].flags = 2, S->run[0][0].flags = 0, -EINVAL);
	BAD(S->run[0][0].reserved = 1, S->run[0][0].reserved = 0, -EINVAL);
	BAD(S->run[0][0].migrated_ms = NOW + 1, S->run[0][0].migrated_ms = 0,
	    -EINVAL);
	/* Migrations. */
	add_mig(11, 1, 2, 0);
	ck_assert_int_eq(validate(), 0);
	BAD(S->mig[0].request_id = 0, S->mig[0].request_id = 11, -EINVAL);
	BAD(S->mig[0].dst = 1, S->mig[0].dst = 2, -EINVAL);
	BAD(S->mig[0].dst = 3, S->mig[0].dst = 2, -EINVAL);
	BAD(S->mig[0].src = 0, S->mig[0].src = 1, -EINVAL);
	BAD(S->mig[0].reserved = 1, S->mig[0].reserved = 0, -EINVAL);
	BAD(S->in.migrations = NULL, S->in.migrations = S->mig, -EINVAL);
	add_mig(11, 2, 1, 0);
	BAD(, S->in.nr_migrations = 1, -EINVAL);
#undef BAD
	/* Nothing was written on error. */
	ck_assert_uint_eq(o.verdict, 77);
	ck_assert_uint_eq(o.instance_id, 77);

	/* Bad requests and arguments. */
	nr.id = 0;
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o),
			 -EINVAL);
	nr.id = 11;
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o),
			 -EEXIST);
	nr.id = 12;
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o),
			 -EEXIST);
	nr.id = 99;
	nr.priority = 2;
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o),
			 -EINVAL);
	nr.priority = 0;
	nr.reserved[1] = 1;
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, &o),
			 -EINVAL);
	nr.reserved[1] = 0;
	ck_assert_int_eq(gpumux_gsched_dispatch(NULL, &S->in, &nr, &o),
			 -EINVAL);
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, NULL, &nr, &o),
			 -EINVAL);
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, NULL, &o),
			 -EINVAL);
	ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in, &nr, NULL),
			 -EINVAL);
	ck_assert_uint_eq(o.verdict, 77);
	ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in, NULL),
			 -EINVAL);
	ck_assert_int_eq(gpumux_gsched_migrate_plan(NULL, &S->in, &S->plan),
			 -EINVAL);
	S->plan.moves = NULL;
	ck_assert_int_eq(gpumux_gsched_migrate_plan(&S->gs, &S->in, &S->plan),
			 -EINVAL);
	S->plan.moves = S->moves;
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 2, NULL),
			 -EINVAL);
	S->in.nr_migrations = 0;
	S->inst[0].id = 2;
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 2, &mv),
			 -EINVAL);
	S->inst[0].id = 1;
}
END_TEST

/* --- determinism --- */

START_TEST(test_deterministic)
{
	struct gpumux_gsched other;
	struct gpumux_gsched_move moves2[MAX_M];
	struct gpumux_gsched_plan p2 = { moves2, MAX_M, 0 };
	uint64_t id = 1;
	size_t i, k, r;

	for (r = 0; r < 20; r++) {
		rng_state = (uint32_t)r + 100;
		S->p = gpumux_gsched_default_params();
		S->p.max_migrations = 16;
		S->p.max_per_instance = 4;
		S->p.high_headroom_blocks = rnd(20);
		S->p.order = rnd(4);
		S->p.seed = r;
		use("llumnix");
		S->in.nr_instances = 0;
		S->in.nr_migrations = 0;
		for (i = 0; i < 6; i++) {
			add_inst((uint32_t)(6 - i), 150, 8 << rnd(3));
			if (rnd(5) == 0)
				S->inst[i].flags = GPUMUX_GSCHED_INST_DRAINING;
			for (k = rnd(10); k > 0; k--) {
				uint32_t b = 1 + rnd(25);

				if (S->inst[i].kv_used + b > 150)
					break;
				add_run(6 - (uint32_t)i, id++, b, rnd(2));
			}
			for (k = rnd(3); k > 0; k--)
				add_wait(6 - (uint32_t)i, id++, 1 + rnd(90),
					 rnd(2));
		}
		plan_ok(); /* plans twice and compares */
		/* The order of the instances in the input does not matter. */
		for (i = 0; i < 3; i++) {
			struct gpumux_gsched_instance t = S->inst[i];

			S->inst[i] = S->inst[5 - i];
			S->inst[5 - i] = t;
		}
		ck_assert_int_eq(
			gpumux_gsched_migrate_plan(&S->gs, &S->in, &p2), 0);
		ck_assert_uint_eq(p2.nr_moves, S->plan.nr_moves);
		if (p2.nr_moves)
			ck_assert_mem_eq(moves2, S->moves,
					 p2.nr_moves * sizeof(moves2[0]));
		ck_assert_int_eq(gpumux_gsched_init(&other, "llumnix", &S->p),
				 0);
		ck_assert_int_eq(
			gpumux_gsched_migrate_plan(&other, &S->in, &p2), 0);
		ck_assert_uint_eq(p2.nr_moves, S->plan.nr_moves);
		if (p2.nr_moves)
			ck_assert_mem_eq(moves2, S->moves,
					 p2.nr_moves * sizeof(moves2[0]));
		for (k = 0; k < 5; k++) {
			struct gpumux_gsched_new_request nr = {
				.id = 100000 + k,
				.prompt_tokens = rnd(400),
				.priority = (uint8_t)rnd(2)
			};
			struct gpumux_gsched_placement a, b;

			ck_assert_int_eq(gpumux_gsched_dispatch(&S->gs, &S->in,
								&nr, &a),
					 0);
			ck_assert_int_eq(gpumux_gsched_dispatch(&other, &S->in,
								&nr, &b),
					 0);
			ck_assert_mem_eq(&a, &b, sizeof(a));
		}
		gpumux_gsched_fini(&other);
	}
}
END_TEST

/* --- the operator's move --- */

START_TEST(test_check_move)
{
	struct gpumux_gsched_move mv;

	S->p.max_per_instance = 1;
	use("llumnix");
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	add_inst(3, 100, 32);
	add_run(1, 11, 10, 0)->migrated_ms = NOW; /* cooldown: no matter */
	add_wait(1, 12, 10, 0);
	add_run(2, 21, 85, 0);

	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 3, &mv),
			 0);
	ck_assert_uint_eq(mv.request_id, 11);
	ck_assert_uint_eq(mv.src, 1);
	ck_assert_uint_eq(mv.dst, 3);
	ck_assert_uint_eq(mv.blocks, 10);
	ck_assert_uint_eq(mv.reason, GPUMUX_GSCHED_REASON_OPERATOR);
	ck_assert_uint_eq(mv.flags, 0);
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 12, 2, &mv),
			 0);
	ck_assert_uint_eq(mv.flags, GPUMUX_GSCHED_MOVE_WAITING);
	ck_assert_uint_eq(mv.blocks, 0);

	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 99, 2, &mv),
			 -ENOENT);
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 9, &mv),
			 -ENOENT);
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 1, &mv),
			 -EALREADY);
	/* 15 free on 2: 10 fits, not with a queue of 10 ahead. */
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 2, &mv),
			 0);
	add_wait(2, 22, 10, 0);
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 2, &mv),
			 -ENOSPC);
	inst_of(3)->report_ms = NOW - 1000;
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 3, &mv),
			 -EHOSTDOWN);
	inst_of(3)->report_ms = NOW;
	inst_of(3)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 3, &mv),
			 -ESHUTDOWN);
	inst_of(3)->flags = 0;
	S->run[0][0].flags = GPUMUX_GSCHED_REQ_MIGRATING;
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 3, &mv),
			 -EBUSY);
	S->run[0][0].flags = 0;
	add_mig(21, 2, 3, 0); /* 3's only slot */
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 11, 3, &mv),
			 -EBUSY);
	ck_assert_int_eq(gpumux_gsched_check_move(&S->gs, &S->in, 21, 1, &mv),
			 -EBUSY);
}
END_TEST

/* --- the baselines --- */

START_TEST(test_roundrobin)
{
	uint64_t id = 100;

	S->p.max_waiting = 1;
	use("roundrobin");
	ck_assert_uint_eq(place(id++, 1, 0).verdict, GPUMUX_GSCHED_REFUSE);
	add_inst(3, 100, 16);
	add_inst(1, 100, 16);
	add_inst(2, 100, 16);
	ck_assert_uint_eq(place_id(id++, 1, 0), 1);
	ck_assert_uint_eq(place_id(id++, 1, 0), 2);
	ck_assert_uint_eq(place_id(id++, 1, 0), 3);
	ck_assert_uint_eq(place_id(id++, 1, 0), 1);
	/* Loads do not matter, only turns. */
	add_run(2, 21, 99, 0);
	ck_assert_uint_eq(place_id(id++, 1, 0), 2);
	/* Skips draining, stale and full instances. */
	inst_of(3)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place_id(id++, 1, 0), 1);
	inst_of(2)->report_ms = 0;
	ck_assert_uint_eq(place_id(id++, 1, 0), 1);
	add_wait(1, 11, 1, 0);
	ck_assert_uint_eq(place(id++, 1, 0).verdict, GPUMUX_GSCHED_QUEUE);
	inst_of(2)->report_ms = NOW;
	ck_assert_uint_eq(place_id(id++, 1, 0), 2);
	ck_assert_uint_eq(place_id(id++, 1, 0), 2);
	/* A request too big for some goes to the next that holds it. */
	inst_of(3)->flags = 0;
	inst_of(1)->nr_waiting = 0;
	inst_of(1)->kv_total = 10;
	ck_assert_uint_eq(place_id(id++, 50 * 16, 0), 3);
	ck_assert_uint_eq(place_id(id++, 50 * 16, 0), 2);
	/* An instance that goes away: the next id after it. */
	S->in.nr_instances = 1; /* only 3 */
	ck_assert_uint_eq(place_id(id++, 1, 0), 3);

	/* Never migrates, draining or not. */
	inst_of(3)->flags = GPUMUX_GSCHED_INST_DRAINING;
	add_inst(1, 100, 16);
	add_run(3, 31, 10, 0);
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

START_TEST(test_leastload)
{
	use("leastload");
	add_inst(1, 100, 16);
	add_inst(2, 200, 16);
	add_inst(3, 100, 16);
	ck_assert_uint_eq(place_id(100, 1, 0), 1);
	add_run(1, 11, 10, 0);
	ck_assert_uint_eq(place_id(100, 1, 0), 2);
	add_run(2, 21, 5, 0);
	add_run(3, 31, 4, 0);
	ck_assert_uint_eq(place_id(100, 1, 0), 3);
	/* Queued blocks count, every one of them. */
	add_wait(3, 32, 1, 0);
	add_wait(3, 33, 1, 0);
	ck_assert_uint_eq(place_id(100, 1, 0), 2);
	/* And incoming migrations. */
	add_mig(11, 1, 2, 3);
	ck_assert_uint_eq(place_id(100, 1, 0), 3); /* 6 vs 8: tie to 3 */
	inst_of(3)->flags = GPUMUX_GSCHED_INST_DRAINING;
	ck_assert_uint_eq(place_id(100, 1, 0), 2);
	ck_assert_uint_eq(plan_ok(), 0);
}
END_TEST

static Suite *gsched_suite(void)
{
	Suite *s = suite_create("gsched");
	TCase *tc;

	tc = tcase_create("gsched");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_freeness_math);
	tcase_add_test(tc, test_dispatch_freest);
	tcase_add_test(tc, test_dispatch_verdicts);
	tcase_add_test(tc, test_dispatch_high_priority);
	tcase_add_test(tc, test_drain_moves_everything);
	tcase_add_test(tc, test_drain_limits_and_room);
	tcase_add_test(tc, test_request_order);
	tcase_add_test(tc, test_balance);
	tcase_add_test(tc, test_balance_pairs);
	tcase_add_test(tc, test_balance_no_reversal);
	tcase_add_test(tc, test_move_high_priority);
	tcase_add_test(tc, test_defrag_makes_room);
	tcase_add_test(tc, test_defrag_vs_balance);
	tcase_add_test(tc, test_defrag_moves_queued_request);
	tcase_add_test(tc, test_defrag_order);
	tcase_add_test(tc, test_defrag_infeasible);
	tcase_add_test(tc, test_no_ping_pong);
	tcase_add_test(tc, test_cooldown);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_check_move);
	tcase_add_test(tc, test_roundrobin);
	tcase_add_test(tc, test_leastload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ckmain_run(gsched_suite(), "gsched");
}
