// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the live-migration state machine (daemon/migration.h),
 * with check.  Each test drives one migration event by event, as gpumuxd
 * does, and checks the action it gets back, the state, the outcome and
 * the counters: the multi-stage path, single-stage stop-and-copy, too many
 * stages, every failure in every state, timeouts, out-of-order and late
 * events, and a random walk that must keep the invariants.
 *
 * Exit status: 0 all passed, 1 a test failed, 77 skipped (the suite could
 * not be set up).
 */
#include "migration.h"
#include "ckmain.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1000000 /* start time, us */
#define BLOCK_BYTES 4096

static struct gpumux_mig M;
static struct gpumux_mig_action A;
static uint64_t now;

static const struct gpumux_mig_desc desc100 = {
	.id = 7,
	.request_id = 42,
	.src = 1,
	.dst = 2,
	.blocks = 100,
	.block_bytes = BLOCK_BYTES,
};

static void start(const struct gpumux_mig_params *p,
		  const struct gpumux_mig_desc *d)
{
	now = T0;
	ck_assert_int_eq(gpumux_mig_start(&M, p, d, now, &A), 0);
	ck_assert_uint_eq(M.state, GPUMUX_MIG_PROPOSED);
	ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_RESERVE);
}

static int ev(uint32_t type, uint32_t blocks, uint32_t src_blocks,
	      uint64_t dt_us)
{
	struct gpumux_mig_event e = {
		.type = type,
		.blocks = blocks,
		.src_blocks = src_blocks,
	};

	now += dt_us;
	e.now_us = now;
	return gpumux_mig_step(&M, &e, &A);
}

static void ev_ok(uint32_t type, uint32_t blocks, uint32_t src_blocks,
		  uint64_t dt_us)
{
	int ret = ev(type, blocks, src_blocks, dt_us);

	ck_assert_msg(ret == 0, "%s in %s: %d", gpumux_mig_event_name(type),
		      gpumux_mig_state_name(M.state), ret);
}

static void expect(uint32_t state, uint32_t action)
{
	ck_assert_msg(M.state == state, "state %s, expected %s",
		      gpumux_mig_state_name(M.state),
		      gpumux_mig_state_name(state));
	ck_assert_msg(A.type == action, "action %s, expected %s",
		      gpumux_mig_action_name(A.type),
		      gpumux_mig_action_name(action));
}

static void expect_end(uint32_t state, uint32_t outcome, uint32_t reason)
{
	ck_assert_msg(
		M.state == state && M.outcome == outcome && M.reason == reason,
		"ended %s/%s/%s, expected %s/%s/%s",
		gpumux_mig_state_name(M.state),
		gpumux_mig_outcome_name(M.outcome),
		gpumux_mig_reason_name(M.reason), gpumux_mig_state_name(state),
		gpumux_mig_outcome_name(outcome),
		gpumux_mig_reason_name(reason));
	ck_assert(gpumux_mig_finished(&M));
	ck_assert_uint_eq(M.stats.end_us, now);
	ck_assert_uint_eq(M.stats.total_us, now - T0);
	ck_assert_uint_eq(gpumux_mig_deadline(&M), 0);
}

/* Where a test can stop on the way. */
enum stop {
	AT_PROPOSED,
	AT_RESERVED,
	AT_COPYING,
	AT_FINAL, /* paused, copying the rest */
	AT_COMMIT_ASKED, /* paused, rest copied, commit asked */
	AT_COMMITTED,
	NR_STOPS,
};

static const char *const stop_names[] = { "proposed",	  "reserved",
					  "copying",	  "final",
					  "commit-asked", "committed" };

/* Drives a 100-block migration (defaults) to @stop; 1 ms per step. */
static void drive_to(enum stop stop)
{
	start(NULL, &desc100);
	if (stop == AT_PROPOSED)
		return;
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 1000);
	expect(GPUMUX_MIG_DEST_RESERVED, GPUMUX_MIG_ACT_SETUP);
	if (stop == AT_RESERVED)
		return;
	ev_ok(GPUMUX_MIG_EV_READY, 0, 100, 1000);
	expect(GPUMUX_MIG_COPYING, GPUMUX_MIG_ACT_COPY);
	if (stop == AT_COPYING)
		return;
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 100, 101, 1000);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	if (stop == AT_FINAL)
		return;
	ev_ok(GPUMUX_MIG_EV_FINAL_DONE, 2, 0, 1000);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_COMMIT);
	if (stop == AT_COMMIT_ASKED)
		return;
	ev_ok(GPUMUX_MIG_EV_COMMITTED, 0, 0, 1000);
	expect(GPUMUX_MIG_COMMITTED, GPUMUX_MIG_ACT_FREE_SOURCE);
}

START_TEST(test_start)
{
	struct gpumux_mig_params p = gpumux_mig_default_params();
	struct gpumux_mig_desc d = desc100;

	ck_assert_uint_eq(p.last_stage_blocks, 2);
	ck_assert_uint_eq(p.max_stages, 8);
	ck_assert_uint_eq(p.reserve_extra_blocks, 4);
	ck_assert_uint_eq(p.final_timeout_ms, 500);

	start(NULL, &d);
	ck_assert_uint_eq(A.blocks, 104);
	ck_assert_uint_eq(M.outcome, GPUMUX_MIG_PENDING);
	ck_assert_uint_eq(M.reason, GPUMUX_MIG_R_NONE);
	ck_assert_uint_eq(M.stats.start_us, T0);
	ck_assert(!gpumux_mig_finished(&M));
	ck_assert_uint_eq(gpumux_mig_deadline(&M), T0 + 1000 * 1000);

	p.reserve_extra_blocks = 0;
	start(&p, &d);
	ck_assert_uint_eq(A.blocks, 100);
	d.blocks = UINT32_MAX;
	p.reserve_extra_blocks = 10;
	start(&p, &d);
	ck_assert_uint_eq(A.blocks, UINT32_MAX);

	d = desc100;
	ck_assert_int_eq(gpumux_mig_start(NULL, NULL, &d, 0, &A), -EINVAL);
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, NULL, 0, &A), -EINVAL);
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, NULL), -EINVAL);
	d.id = 0;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	d.request_id = 0;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	d.dst = d.src;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	d.src = 0;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	d.dst = 0;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	d.reserved = 1;
	ck_assert_int_eq(gpumux_mig_start(&M, NULL, &d, 0, &A), -EINVAL);
	d = desc100;
	p = gpumux_mig_default_params();
	p.max_stages = 0;
	ck_assert_int_eq(gpumux_mig_start(&M, &p, &d, 0, &A), -EINVAL);
	p.max_stages = 1001;
	ck_assert_int_eq(gpumux_mig_start(&M, &p, &d, 0, &A), -EINVAL);
	p.max_stages = 1000;
	ck_assert_int_eq(gpumux_mig_start(&M, &p, &d, 0, &A), 0);
}
END_TEST

/* The request keeps decoding: each stage finds a few more blocks. */
START_TEST(test_multistage)
{
	start(NULL, &desc100);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 500);
	expect(GPUMUX_MIG_DEST_RESERVED, GPUMUX_MIG_ACT_SETUP);
	ck_assert_uint_eq(M.reserved_blocks, 104);

	ev_ok(GPUMUX_MIG_EV_READY, 0, 100, 500);
	expect(GPUMUX_MIG_COPYING, GPUMUX_MIG_ACT_COPY);
	ck_assert_uint_eq(A.stage, 1);
	ck_assert_uint_eq(A.first, 0);
	ck_assert_uint_eq(A.blocks, 100);
	ck_assert_uint_eq(gpumux_mig_deadline(&M), now + 2000 * 1000);

	/* Stage 1 took 20 ms: 10 more blocks completed meanwhile. */
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 100, 110, 20000);
	expect(GPUMUX_MIG_COPYING, GPUMUX_MIG_ACT_COPY);
	ck_assert_uint_eq(A.stage, 2);
	ck_assert_uint_eq(A.first, 100);
	ck_assert_uint_eq(A.blocks, 10);
	ck_assert_uint_eq(M.stats.stages, 1);
	ck_assert_uint_eq(M.stats.pause_us, 0);

	/* Stage 2: 3 more. */
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 10, 113, 2000);
	expect(GPUMUX_MIG_COPYING, GPUMUX_MIG_ACT_COPY);
	ck_assert_uint_eq(A.stage, 3);
	ck_assert_uint_eq(A.first, 110);
	ck_assert_uint_eq(A.blocks, 3);

	/* Stage 3: 1 more: 1 <= 2 left: pause and copy the rest. */
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 3, 114, 600);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	ck_assert_uint_eq(A.stage, 4);
	ck_assert_uint_eq(A.first, 113);
	ck_assert_uint_eq(M.stats.pause_us, now);
	ck_assert_uint_eq(gpumux_mig_deadline(&M), now + 500 * 1000);

	/* The rest: the last complete block and the partial one. */
	ev_ok(GPUMUX_MIG_EV_FINAL_DONE, 2, 0, 300);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_COMMIT);
	ck_assert(M.final_copied);
	ev_ok(GPUMUX_MIG_EV_COMMITTED, 0, 0, 200);
	expect(GPUMUX_MIG_COMMITTED, GPUMUX_MIG_ACT_FREE_SOURCE);
	ck_assert_uint_eq(M.stats.downtime_us, 500);
	/* A cancel now goes to the destination: nothing changes here. */
	ev_ok(GPUMUX_MIG_EV_CANCELLED, 0, 0, 10);
	expect(GPUMUX_MIG_COMMITTED, GPUMUX_MIG_ACT_NONE);
	ev_ok(GPUMUX_MIG_EV_SOURCE_FREED, 0, 0, 100);
	expect(GPUMUX_MIG_DONE, GPUMUX_MIG_ACT_FINISH);
	expect_end(GPUMUX_MIG_DONE, GPUMUX_MIG_MIGRATED, GPUMUX_MIG_R_NONE);

	ck_assert_uint_eq(M.stats.stages, 4);
	ck_assert_uint_eq(M.stats.blocks, 115);
	ck_assert_uint_eq(M.copied, 115);
	ck_assert_uint_eq(M.stats.bytes, 115ULL * BLOCK_BYTES);
	ck_assert_uint_eq(M.stats.downtime_us, 500);
	ck_assert_uint_eq(M.stats.total_us, 500 + 500 + 20000 + 2000 + 600 +
						    300 + 200 + 10 + 100);
}
END_TEST

/* Bytes as reported, when the source reports them (state included). */
START_TEST(test_bytes_reported)
{
	struct gpumux_mig_event e = { .type = GPUMUX_MIG_EV_FINAL_DONE };

	drive_to(AT_FINAL);
	ck_assert_uint_eq(M.stats.bytes, 100ULL * BLOCK_BYTES);
	e.blocks = 1;
	e.bytes = 12345;
	e.now_us = now;
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), 0);
	ck_assert_uint_eq(M.stats.bytes, 100ULL * BLOCK_BYTES + 12345);
	ck_assert_uint_eq(M.stats.blocks, 101);
}
END_TEST

START_TEST(test_single_stage)
{
	struct gpumux_mig_params p = gpumux_mig_default_params();
	struct gpumux_mig_desc d = desc100;

	/* Few blocks: straight to the final stage. */
	d.blocks = 2;
	start(NULL, &d);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 6, 0, 100);
	ev_ok(GPUMUX_MIG_EV_READY, 0, 2, 100);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	ck_assert_uint_eq(A.stage, 1);
	ck_assert_uint_eq(A.first, 0);

	/* A waiting request: metadata only, 0 blocks. */
	d.blocks = 0;
	start(NULL, &d);
	ck_assert_uint_eq(A.blocks, 4);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 0, 0, 100);
	ev_ok(GPUMUX_MIG_EV_READY, 0, 0, 100);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	ev_ok(GPUMUX_MIG_EV_FINAL_DONE, 0, 0, 100);
	ev_ok(GPUMUX_MIG_EV_COMMITTED, 0, 0, 100);
	ev_ok(GPUMUX_MIG_EV_SOURCE_FREED, 0, 0, 100);
	expect_end(GPUMUX_MIG_DONE, GPUMUX_MIG_MIGRATED, GPUMUX_MIG_R_NONE);
	ck_assert_uint_eq(M.stats.blocks, 0);
	ck_assert_uint_eq(M.stats.stages, 1);

	/* Stop-and-copy for everything: the baseline of the benchmark. */
	p.last_stage_blocks = UINT32_MAX;
	start(&p, &desc100);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 100);
	ev_ok(GPUMUX_MIG_EV_READY, 0, 100, 100);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	ev_ok(GPUMUX_MIG_EV_FINAL_DONE, 101, 0, 40000);
	ev_ok(GPUMUX_MIG_EV_COMMITTED, 0, 0, 1000);
	ck_assert_uint_eq(M.stats.downtime_us, 41000);
	ck_assert_uint_eq(M.stats.stages, 1);
}
END_TEST

START_TEST(test_too_many_stages)
{
	struct gpumux_mig_params p = gpumux_mig_default_params();
	uint32_t src = 100, k;

	p.max_stages = 3;
	start(&p, &desc100);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 100);
	ev_ok(GPUMUX_MIG_EV_READY, 0, src, 100);
	/* The request grows as fast as it copies. */
	for (k = 1; k <= 2; k++) {
		uint32_t n = A.blocks;

		src += 10;
		ev_ok(GPUMUX_MIG_EV_STAGE_DONE, n, src, 1000);
		expect(GPUMUX_MIG_COPYING, GPUMUX_MIG_ACT_COPY);
		ck_assert_uint_eq(A.stage, k + 1);
	}
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, A.blocks, src + 10, 1000);
	expect(GPUMUX_MIG_ABORTED, GPUMUX_MIG_ACT_ABORT);
	ck_assert(!A.resume_source); /* it was never paused */
	expect_end(GPUMUX_MIG_ABORTED, GPUMUX_MIG_CONTINUE_ON_SOURCE,
		   GPUMUX_MIG_R_TOO_MANY_STAGES);
	ck_assert_uint_eq(M.failed_state, GPUMUX_MIG_COPYING);
	ck_assert_uint_eq(M.stats.stages, 3);
	ck_assert_uint_eq(M.stats.downtime_us, 0);

	/* The same growth that ends within the limit is fine. */
	p.max_stages = 4;
	start(&p, &desc100);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 100);
	ev_ok(GPUMUX_MIG_EV_READY, 0, 100, 100);
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 100, 110, 100);
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 10, 120, 100);
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 10, 130, 100);
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 10, 132, 100);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
}
END_TEST

/* What a failure event does in each state. */
struct fail_case {
	enum stop at;
	uint32_t event;
	int ret;
	uint32_t state, outcome, reason, action;
	bool resume;
};

#define ST(x) GPUMUX_MIG_##x
#define ABORT_(o, r, res) 0, ST(ABORTED), ST(o), ST(R_##r), ST(ACT_ABORT), res
#define RECOMP_(st, r) \
	0, ST(st), ST(RECOMPUTE), ST(R_##r), ST(ACT_RECOMPUTE), false

static const struct fail_case fail_cases[] = {
	/* The destination refuses or dies: the request runs on. */
	{ AT_PROPOSED, ST(EV_REFUSED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_REFUSED, false) },
	{ AT_RESERVED, ST(EV_REFUSED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_REFUSED, false) },
	{ AT_COPYING, ST(EV_REFUSED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_REFUSED, false) },
	{ AT_FINAL, ST(EV_REFUSED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_REFUSED, true) },
	{ AT_COMMIT_ASKED, ST(EV_REFUSED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_REFUSED, true) },
	{ AT_PROPOSED, ST(EV_DEST_DIED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_DIED, false) },
	{ AT_RESERVED, ST(EV_DEST_DIED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_DIED, false) },
	{ AT_COPYING, ST(EV_DEST_DIED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_DIED, false) },
	{ AT_FINAL, ST(EV_DEST_DIED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_DIED, true) },
	{ AT_COMMIT_ASKED, ST(EV_DEST_DIED),
	  ABORT_(CONTINUE_ON_SOURCE, DEST_DIED, true) },
	/* After the commit the request lived on the destination. */
	{ AT_COMMITTED, ST(EV_DEST_DIED), RECOMP_(DONE, DEST_DIED) },
	{ AT_COMMITTED, ST(EV_REFUSED), -EPROTO, 0, 0, 0, 0, false },
	/* The source finishes or the client cancels: dest frees. */
	{ AT_PROPOSED, ST(EV_SOURCE_FINISHED),
	  ABORT_(DEST_FREES, SOURCE_FINISHED, false) },
	{ AT_RESERVED, ST(EV_SOURCE_FINISHED),
	  ABORT_(DEST_FREES, SOURCE_FINISHED, false) },
	{ AT_COPYING, ST(EV_SOURCE_FINISHED),
	  ABORT_(DEST_FREES, SOURCE_FINISHED, false) },
	{ AT_FINAL, ST(EV_SOURCE_FINISHED),
	  ABORT_(DEST_FREES, SOURCE_FINISHED, false) },
	{ AT_COMMITTED, ST(EV_SOURCE_FINISHED), -EPROTO, 0, 0, 0, 0, false },
	{ AT_PROPOSED, ST(EV_CANCELLED), ABORT_(DEST_FREES, CANCELLED, false) },
	{ AT_RESERVED, ST(EV_CANCELLED), ABORT_(DEST_FREES, CANCELLED, false) },
	{ AT_COPYING, ST(EV_CANCELLED), ABORT_(DEST_FREES, CANCELLED, false) },
	{ AT_FINAL, ST(EV_CANCELLED), ABORT_(DEST_FREES, CANCELLED, false) },
	{ AT_COMMIT_ASKED, ST(EV_CANCELLED),
	  ABORT_(DEST_FREES, CANCELLED, false) },
	{ AT_COMMITTED, ST(EV_CANCELLED), 0, ST(COMMITTED), ST(PENDING),
	  ST(R_NONE), ST(ACT_NONE), false },
	/* The source dies: recompute before the commit, else nothing. */
	{ AT_PROPOSED, ST(EV_SOURCE_DIED), RECOMP_(ABORTED, SOURCE_DIED) },
	{ AT_RESERVED, ST(EV_SOURCE_DIED), RECOMP_(ABORTED, SOURCE_DIED) },
	{ AT_COPYING, ST(EV_SOURCE_DIED), RECOMP_(ABORTED, SOURCE_DIED) },
	{ AT_FINAL, ST(EV_SOURCE_DIED), RECOMP_(ABORTED, SOURCE_DIED) },
	{ AT_COMMIT_ASKED, ST(EV_SOURCE_DIED), RECOMP_(ABORTED, SOURCE_DIED) },
	{ AT_COMMITTED, ST(EV_SOURCE_DIED), 0, ST(DONE), ST(NOTHING_LOST),
	  ST(R_SOURCE_DIED), ST(ACT_FINISH), false },
	/* The daemon gives up: only before the commit. */
	{ AT_PROPOSED, ST(EV_ABORT),
	  ABORT_(CONTINUE_ON_SOURCE, ABORTED, false) },
	{ AT_COPYING, ST(EV_ABORT),
	  ABORT_(CONTINUE_ON_SOURCE, ABORTED, false) },
	{ AT_COMMIT_ASKED, ST(EV_ABORT),
	  ABORT_(CONTINUE_ON_SOURCE, ABORTED, true) },
	{ AT_COMMITTED, ST(EV_ABORT), -EBUSY, 0, 0, 0, 0, false },
};

START_TEST(test_failures)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fail_cases); i++) {
		const struct fail_case *c = &fail_cases[i];
		struct gpumux_mig before;
		uint32_t was;
		int ret;

		drive_to(c->at);
		was = M.state;
		before = M;
		ret = ev(c->event, 0, 0, 3000);
		ck_assert_msg(ret == c->ret, "case %zu: %s at %s: %d, not %d",
			      i, gpumux_mig_event_name(c->event),
			      stop_names[c->at], ret, c->ret);
		if (ret) {
			/* Nothing changed. */
			ck_assert_mem_eq(&before, &M, sizeof(M));
			ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_NONE);
			continue;
		}
		ck_assert_msg(M.state == c->state && M.outcome == c->outcome &&
				      M.reason == c->reason &&
				      A.type == c->action &&
				      A.resume_source == c->resume,
			      "case %zu: %s at %s: %s/%s/%s/%s%s", i,
			      gpumux_mig_event_name(c->event),
			      stop_names[c->at], gpumux_mig_state_name(M.state),
			      gpumux_mig_outcome_name(M.outcome),
			      gpumux_mig_reason_name(M.reason),
			      gpumux_mig_action_name(A.type),
			      A.resume_source ? " resume" : "");
		if (!gpumux_mig_finished(&M))
			continue;
		ck_assert_uint_eq(M.failed_state, was);
		ck_assert_uint_eq(M.stats.end_us, now);
		/* A pause that ended without a commit is downtime. */
		if (was == GPUMUX_MIG_FINAL)
			ck_assert_uint_eq(M.stats.downtime_us,
					  now - M.stats.pause_us);
		else if (was != GPUMUX_MIG_COMMITTED)
			ck_assert_uint_eq(M.stats.downtime_us, 0);
		/* Finished: only ticks are taken, the rest is late. */
		ck_assert_int_eq(ev(GPUMUX_MIG_EV_COMMITTED, 0, 0, 1), -ESTALE);
		ck_assert_int_eq(ev(GPUMUX_MIG_EV_SOURCE_DIED, 0, 0, 1),
				 -ESTALE);
		ck_assert_int_eq(ev(GPUMUX_MIG_EV_TICK, 0, 0, 10000000), 0);
		ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_NONE);
		ck_assert_uint_eq(M.stats.end_us + 10000002, now);
	}
}
END_TEST

/* Each state times out at its deadline, not before. */
START_TEST(test_timeouts)
{
	static const struct {
		enum stop at;
		uint32_t timeout_ms;
		uint32_t state, outcome, action;
		bool resume;
	} cases[] = {
		{ AT_PROPOSED, 1000, ST(ABORTED), ST(CONTINUE_ON_SOURCE),
		  ST(ACT_ABORT), false },
		{ AT_RESERVED, 1000, ST(ABORTED), ST(CONTINUE_ON_SOURCE),
		  ST(ACT_ABORT), false },
		{ AT_COPYING, 2000, ST(ABORTED), ST(CONTINUE_ON_SOURCE),
		  ST(ACT_ABORT), false },
		{ AT_FINAL, 500, ST(ABORTED), ST(CONTINUE_ON_SOURCE),
		  ST(ACT_ABORT), true },
		{ AT_COMMIT_ASKED, 500, ST(ABORTED), ST(CONTINUE_ON_SOURCE),
		  ST(ACT_ABORT), true },
		{ AT_COMMITTED, 2000, ST(DONE), ST(MIGRATED), ST(ACT_FINISH),
		  false },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t dl, entered;

		drive_to(cases[i].at);
		entered = M.entered_us;
		/* FINAL's deadline runs from the pause, not the last step. */
		if (cases[i].at == AT_COMMIT_ASKED)
			ck_assert_uint_eq(entered, M.stats.pause_us);
		dl = gpumux_mig_deadline(&M);
		ck_assert_uint_eq(dl, entered + cases[i].timeout_ms * 1000ULL);
		ev_ok(GPUMUX_MIG_EV_TICK, 0, 0, dl - 1 - now);
		ck_assert(!gpumux_mig_finished(&M));
		ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_NONE);
		ev_ok(GPUMUX_MIG_EV_TICK, 0, 0, 1);
		ck_assert_msg(M.state == cases[i].state &&
				      M.outcome == cases[i].outcome &&
				      A.type == cases[i].action &&
				      A.resume_source == cases[i].resume,
			      "timeout at %s: %s/%s/%s",
			      stop_names[cases[i].at],
			      gpumux_mig_state_name(M.state),
			      gpumux_mig_outcome_name(M.outcome),
			      gpumux_mig_action_name(A.type));
		ck_assert_uint_eq(M.reason, GPUMUX_MIG_R_TIMEOUT);
		ck_assert(gpumux_mig_finished(&M));
		/* A late commit after a timed-out pause is refused. */
		ck_assert_int_eq(ev(GPUMUX_MIG_EV_COMMITTED, 0, 0, 1), -ESTALE);
	}
}
END_TEST

START_TEST(test_no_timeouts)
{
	struct gpumux_mig_params p = gpumux_mig_default_params();

	p.reserve_timeout_ms = 0;
	p.stage_timeout_ms = 0;
	start(&p, &desc100);
	ck_assert_uint_eq(gpumux_mig_deadline(&M), 0);
	ev_ok(GPUMUX_MIG_EV_TICK, 0, 0, 1000000000ULL);
	ck_assert_uint_eq(M.state, GPUMUX_MIG_PROPOSED);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 104, 0, 1);
	ev_ok(GPUMUX_MIG_EV_READY, 0, 100, 1);
	ev_ok(GPUMUX_MIG_EV_TICK, 0, 0, 1000000000ULL);
	ck_assert_uint_eq(M.state, GPUMUX_MIG_COPYING);
	/* A reply after the deadline but before the tick is taken. */
	drive_to(AT_COPYING);
	ev_ok(GPUMUX_MIG_EV_STAGE_DONE, 100, 100, 5000000);
	expect(GPUMUX_MIG_FINAL, GPUMUX_MIG_ACT_FINAL);
	ck_assert_uint_eq(gpumux_mig_deadline(NULL), 0);
}
END_TEST

/* Events a state does not expect change nothing. */
START_TEST(test_out_of_order)
{
	static const uint32_t own[NR_STOPS][3] = {
		[AT_PROPOSED] = { ST(EV_RESERVED) },
		[AT_RESERVED] = { ST(EV_READY) },
		[AT_COPYING] = { ST(EV_STAGE_DONE) },
		[AT_FINAL] = { ST(EV_FINAL_DONE) },
		[AT_COMMIT_ASKED] = { ST(EV_COMMITTED) },
		[AT_COMMITTED] = { ST(EV_SOURCE_FREED) },
	};
	static const uint32_t protocol[] = {
		ST(EV_RESERVED),   ST(EV_READY),     ST(EV_STAGE_DONE),
		ST(EV_FINAL_DONE), ST(EV_COMMITTED), ST(EV_SOURCE_FREED),
	};
	int s;
	size_t e;

	for (s = 0; s < NR_STOPS; s++)
		for (e = 0; e < ARRAY_SIZE(protocol); e++) {
			struct gpumux_mig before;
			int ret;

			if (protocol[e] == own[s][0])
				continue;
			drive_to((enum stop)s);
			before = M;
			ret = ev(protocol[e], 200, 200, 1);
			ck_assert_msg(ret == -EPROTO, "%s at %s: %d",
				      gpumux_mig_event_name(protocol[e]),
				      stop_names[s], ret);
			ck_assert_mem_eq(&before, &M, sizeof(M));
			ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_NONE);
		}
}
END_TEST

START_TEST(test_bad_replies)
{
	struct gpumux_mig before;
	struct gpumux_mig_event e = { .type = GPUMUX_MIG_EV_TICK };

	/* A reservation smaller than the request. */
	drive_to(AT_PROPOSED);
	ck_assert_int_eq(ev(GPUMUX_MIG_EV_RESERVED, 99, 0, 1), -EPROTO);
	ev_ok(GPUMUX_MIG_EV_RESERVED, 100, 0, 1);

	/* A stage reply with other blocks than asked. */
	drive_to(AT_COPYING);
	before = M;
	ck_assert_int_eq(ev(GPUMUX_MIG_EV_STAGE_DONE, 99, 120, 1), -EPROTO);
	ck_assert_int_eq(ev(GPUMUX_MIG_EV_STAGE_DONE, 101, 120, 1), -EPROTO);
	/* Fewer blocks on the source than copied. */
	ck_assert_int_eq(ev(GPUMUX_MIG_EV_STAGE_DONE, 100, 99, 1), -EPROTO);
	before.last_us = M.last_us; /* only the clock may differ */
	ck_assert_int_eq(memcmp(&before, &M, sizeof(M)), 0);
	/* The daemon then gives up. */
	ev_ok(GPUMUX_MIG_EV_ABORT, 0, 0, 1);
	ck_assert_uint_eq(M.reason, GPUMUX_MIG_R_ABORTED);

	/* Two final replies. */
	drive_to(AT_COMMIT_ASKED);
	ck_assert_int_eq(ev(GPUMUX_MIG_EV_FINAL_DONE, 1, 0, 1), -EPROTO);

	/* Bad events. */
	drive_to(AT_COPYING);
	before = M;
	e.now_us = now - 1; /* time going back */
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), -EINVAL);
	e.now_us = now;
	e.type = 0;
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), -EINVAL);
	e.type = GPUMUX_MIG_EV_TICK + 1;
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), -EINVAL);
	e.type = GPUMUX_MIG_EV_TICK;
	e.reserved = 1;
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), -EINVAL);
	e.reserved = 0;
	ck_assert_int_eq(gpumux_mig_step(NULL, &e, &A), -EINVAL);
	ck_assert_int_eq(gpumux_mig_step(&M, NULL, &A), -EINVAL);
	ck_assert_int_eq(gpumux_mig_step(&M, &e, NULL), -EINVAL);
	ck_assert_mem_eq(&before, &M, sizeof(M));
	/* The same time again is fine. */
	ck_assert_int_eq(gpumux_mig_step(&M, &e, &A), 0);
}
END_TEST

START_TEST(test_names)
{
	uint32_t i;

	for (i = GPUMUX_MIG_PROPOSED; i <= GPUMUX_MIG_ABORTED; i++)
		ck_assert_str_ne(gpumux_mig_state_name(i), "?");
	for (i = GPUMUX_MIG_PENDING; i <= GPUMUX_MIG_RECOMPUTE; i++)
		ck_assert_str_ne(gpumux_mig_outcome_name(i), "?");
	for (i = GPUMUX_MIG_R_NONE; i <= GPUMUX_MIG_R_ABORTED; i++)
		ck_assert_str_ne(gpumux_mig_reason_name(i), "?");
	for (i = GPUMUX_MIG_EV_RESERVED; i <= GPUMUX_MIG_EV_TICK; i++)
		ck_assert_str_ne(gpumux_mig_event_name(i), "?");
	for (i = GPUMUX_MIG_ACT_NONE; i <= GPUMUX_MIG_ACT_FINISH; i++)
		ck_assert_str_ne(gpumux_mig_action_name(i), "?");
	ck_assert_str_eq(gpumux_mig_state_name(GPUMUX_MIG_FINAL), "final");
	ck_assert_str_eq(gpumux_mig_outcome_name(GPUMUX_MIG_NOTHING_LOST),
			 "nothing-lost");
	ck_assert_str_eq(gpumux_mig_state_name(99), "?");
	ck_assert_str_eq(gpumux_mig_outcome_name(99), "?");
	ck_assert_str_eq(gpumux_mig_reason_name(99), "?");
	ck_assert_str_eq(gpumux_mig_event_name(0), "?");
	ck_assert_str_eq(gpumux_mig_action_name(99), "?");
}
END_TEST

/*
 * A random walk: random events (plausible ones more often) must keep the
 * invariants: a known state, finished states final, a commit only after
 * the rest was copied, copied blocks = the counter, the clock monotonic.
 */
START_TEST(test_random_walk)
{
	uint32_t rng = 12345;
	int run, step;

	for (run = 0; run < 2000; run++) {
		uint32_t src = 0;

		start(NULL, &desc100);
		src = 100;
		for (step = 0; step < 60; step++) {
			struct gpumux_mig before = M;
			uint32_t type, blocks = 0;
			int ret;

			rng = rng * 1103515245 + 12345;
			type = 1 + (rng >> 16) % GPUMUX_MIG_EV_TICK;
			rng = rng * 1103515245 + 12345;
			/* Mostly the expected event, with the right blocks. */
			if ((rng >> 16) % 3) {
				switch (M.state) {
				case GPUMUX_MIG_PROPOSED:
					type = GPUMUX_MIG_EV_RESERVED;
					blocks = 104;
					break;
				case GPUMUX_MIG_DEST_RESERVED:
					type = GPUMUX_MIG_EV_READY;
					break;
				case GPUMUX_MIG_COPYING:
					type = GPUMUX_MIG_EV_STAGE_DONE;
					blocks = M.stage_blocks;
					src += (rng >> 20) % 8;
					break;
				case GPUMUX_MIG_FINAL:
					type = M.final_copied ?
						       GPUMUX_MIG_EV_COMMITTED :
						       GPUMUX_MIG_EV_FINAL_DONE;
					blocks = src - M.copied + 1;
					break;
				case GPUMUX_MIG_COMMITTED:
					type = GPUMUX_MIG_EV_SOURCE_FREED;
					break;
				}
			}
			ret = ev(type, blocks, src, (rng >> 8) % 300000);
			ck_assert(ret == 0 || ret == -EPROTO || ret == -EBUSY ||
				  ret == -ESTALE);
			ck_assert_uint_le(M.state, GPUMUX_MIG_ABORTED);
			ck_assert_uint_eq(M.stats.blocks, M.copied);
			if (ret) {
				ck_assert_uint_eq(A.type, GPUMUX_MIG_ACT_NONE);
				ck_assert_uint_eq(M.state, before.state);
			}
			if (gpumux_mig_finished(&before))
				ck_assert_mem_eq(&before.stats, &M.stats,
						 sizeof(M.stats));
			if (M.state == GPUMUX_MIG_COMMITTED)
				ck_assert(M.final_copied);
			if (M.outcome == GPUMUX_MIG_MIGRATED) {
				ck_assert_uint_eq(M.state, GPUMUX_MIG_DONE);
				ck_assert_uint_le(M.stats.downtime_us,
						  M.stats.total_us);
			}
			ck_assert(gpumux_mig_finished(&M) ==
				  (M.outcome != GPUMUX_MIG_PENDING));
			ck_assert_uint_le(M.stage, 8);
		}
	}
}
END_TEST

static Suite *migration_suite(void)
{
	Suite *s = suite_create("migration");
	TCase *tc;

	tc = tcase_create("migration");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_start);
	tcase_add_test(tc, test_multistage);
	tcase_add_test(tc, test_bytes_reported);
	tcase_add_test(tc, test_single_stage);
	tcase_add_test(tc, test_too_many_stages);
	tcase_add_test(tc, test_failures);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_no_timeouts);
	tcase_add_test(tc, test_out_of_order);
	tcase_add_test(tc, test_bad_replies);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_random_walk);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ckmain_run(migration_suite(), "migration");
}
