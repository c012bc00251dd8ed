// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the policy layer (daemon/policy.h) and of the "fairshare"
 * policy, with check.  Each test builds an input, plans, and checks the
 * output against the contract: exact sums, bounds, weights, contiguity,
 * stability and how few CUs move.  Masks are examined with this file's own
 * bit helpers, not the header's.
 *
 * Exit status: 0 all passed, 1 a test failed, 77 skipped (the suite could
 * not be set up).
 */
#include "policy.h"
#include "ckmain.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_T 512
#define MAX_P 1024
#define NOCAP UINT32_MAX

/* One scenario: the input being built, and the last output. */
struct sc {
	struct gpumux_policy pol;
	struct gpumux_policy_gpu gpus[8];
	struct gpumux_policy_tenant ten[MAX_T];
	struct gpumux_policy_part cur[MAX_P];
	struct gpumux_policy_part out[MAX_P];
	struct gpumux_policy_input in;
	struct gpumux_policy_output o;
};

static struct sc *S;

static void setup(void)
{
	S = calloc(1, sizeof(*S));
	ck_assert_ptr_nonnull(S);
	ck_assert_int_eq(gpumux_policy_init(&S->pol, "fairshare"), 0);
	S->in.gpus = S->gpus;
	S->in.tenants = S->ten;
	S->in.parts = S->cur;
	S->o.parts = S->out;
	S->o.max_parts = MAX_P;
}

static void teardown(void)
{
	gpumux_policy_fini(&S->pol);
	free(S);
	S = NULL;
}

/* --- building inputs --- */

static void add_gpu(uint32_t id, uint32_t cus)
{
	S->gpus[S->in.nr_gpus++] = (struct gpumux_policy_gpu){ id, cus };
}

static struct gpumux_policy_tenant *add_tenant(uint32_t id, uint32_t weight,
					       uint32_t min, uint32_t max)
{
	struct gpumux_policy_tenant *t = &S->ten[S->in.nr_tenants++];

	*t = (struct gpumux_policy_tenant){
		.id = id, .weight = weight, .min_cus = min, .max_cus = max
	};
	return t;
}

static struct gpumux_policy_tenant *ten_of(uint32_t id)
{
	size_t i;

	for (i = 0; i < S->in.nr_tenants; i++)
		if (S->ten[i].id == id)
			return &S->ten[i];
	ck_abort_msg("no such tenant: %u", id);
	return NULL;
}

/* Removes tenant @id and its current parts (a detach). */
static void del_tenant(uint32_t id)
{
	size_t i, j = 0;

	for (i = 0; i < S->in.nr_tenants; i++)
		if (S->ten[i].id != id)
			S->ten[j++] = S->ten[i];
	ck_assert_uint_eq(j + 1, S->in.nr_tenants);
	S->in.nr_tenants = j;
	for (i = j = 0; i < S->in.nr_parts; i++)
		if (S->cur[i].tenant_id != id)
			S->cur[j++] = S->cur[i];
	S->in.nr_parts = j;
}

static uint32_t gpu_cus(uint32_t gpu_id)
{
	size_t i;

	for (i = 0; i < S->in.nr_gpus; i++)
		if (S->gpus[i].id == gpu_id)
			return S->gpus[i].cus;
	ck_abort_msg("no GPU %u", gpu_id);
	return 0;
}

/* --- masks --- */

static int bit(const uint64_t *m, unsigned int cu)
{
	return (m[cu / 64] >> (cu % 64)) & 1;
}

static unsigned int count(const uint64_t *m)
{
	unsigned int cu, n = 0;

	for (cu = 0; cu < 1024; cu++)
		n += bit(m, cu);
	return n;
}

/* Maximal runs of set bits. */
static unsigned int runs(const uint64_t *m)
{
	unsigned int cu, n = 0;

	for (cu = 0; cu < 1024; cu++)
		if (bit(m, cu) && (cu == 0 || !bit(m, cu - 1)))
			n++;
	return n;
}

static unsigned int common(const uint64_t *a, const uint64_t *b)
{
	unsigned int cu, n = 0;

	for (cu = 0; cu < 1024; cu++)
		n += bit(a, cu) && bit(b, cu);
	return n;
}

/* --- planning and reading the output --- */

static int plan(void)
{
	return gpumux_policy_plan(&S->pol, &S->in, &S->o);
}

static void plan_ok(void)
{
	int ret = plan();

	ck_assert_msg(ret == 0, "plan: %d (%s)", ret, strerror(-ret));
}

/* The tenant section of the output: one entry per input tenant, last. */
static const struct gpumux_policy_part *out_of(uint32_t id)
{
	size_t base, i;

	ck_assert_uint_ge(S->o.nr_parts, S->in.nr_tenants);
	base = S->o.nr_parts - S->in.nr_tenants;
	for (i = 0; i < S->in.nr_tenants; i++)
		if (S->ten[i].id == id) {
			ck_assert_uint_eq(S->out[base + i].tenant_id, id);
			return &S->out[base + i];
		}
	ck_abort_msg("tenant %u not planned", id);
	return NULL;
}

static unsigned int cus_of(uint32_t id)
{
	return count(out_of(id)->mask);
}

static size_t nr_releases(void)
{
	return S->o.nr_parts - S->in.nr_tenants;
}

/* The current part of (@tenant, @gpu), or NULL. */
static const struct gpumux_policy_part *cur_of(uint32_t tenant_id,
					       uint32_t gpu_id)
{
	size_t i;

	for (i = 0; i < S->in.nr_parts; i++)
		if (S->cur[i].tenant_id == tenant_id &&
		    S->cur[i].gpu_id == gpu_id)
			return &S->cur[i];
	return NULL;
}

/* CUs given to a tenant that it did not hold there: what moved. */
static unsigned int moved(void)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < S->in.nr_tenants; i++) {
		const struct gpumux_policy_part *q = out_of(S->ten[i].id);
		const struct gpumux_policy_part *p =
			cur_of(q->tenant_id, q->gpu_id);

		n += count(q->mask) - (p ? common(q->mask, p->mask) : 0);
	}
	return n;
}

/*
 * The output becomes the current state (the module applied it): its
 * tenant entries, empty ones included, as policy.h advises.
 */
static void apply(void)
{
	size_t i;

	S->in.nr_parts = 0;
	for (i = nr_releases(); i < S->o.nr_parts; i++)
		S->cur[S->in.nr_parts++] = S->out[i];
}

/*
 * The contract for every output: releases first (for pairs the input
 * holds), then one entry per tenant in input order; masks within the GPU,
 * the cus field right, no CU given twice, every share within its bounds,
 * and each GPU's shares summing to min(cus, sum of caps).
 */
static void check_output(void)
{
	size_t i, j, rel = nr_releases();

	for (i = 0; i < rel; i++) {
		ck_assert_uint_eq(count(S->out[i].mask), 0);
		ck_assert_ptr_nonnull(
			cur_of(S->out[i].tenant_id, S->out[i].gpu_id));
	}
	for (j = 0; j < S->in.nr_gpus; j++) {
		uint64_t seen[16] = { 0 };
		uint32_t c = S->gpus[j].cus, sum = 0, want = 0, cu;

		for (i = 0; i < S->in.nr_tenants; i++) {
			const struct gpumux_policy_tenant *t = &S->ten[i];
			const struct gpumux_policy_part *q = &S->out[rel + i];
			uint32_t hi = t->max_cus < c ? t->max_cus : c;
			unsigned int n = count(q->mask);

			ck_assert_uint_eq(q->tenant_id, t->id);
			ck_assert_uint_eq(q->cus, n);
			ck_assert_uint_eq(q->flags, GPUMUX_POLICY_EXCLUSIVE);
			if (t->preferred_gpu)
				ck_assert_uint_eq(q->gpu_id, t->preferred_gpu);
			if (q->gpu_id != S->gpus[j].id)
				continue;
			ck_assert_uint_ge(n, t->min_cus);
			ck_assert_uint_le(n, hi);
			for (cu = 0; cu < 1024; cu++) {
				if (!bit(q->mask, cu))
					continue;
				ck_assert_msg(cu < c, "CU %u past %u", cu, c);
				ck_assert_msg(!bit(seen, cu), "CU %u twice",
					      cu);
				seen[cu / 64] |= 1ULL << (cu % 64);
			}
			sum += n;
			want += hi;
		}
		ck_assert_uint_eq(sum, want < c ? want : c);
	}
}

/*
 * Independent check of the weighting: lambda by bisection in doubles;
 * every share is within one CU of clamp(lambda * weight, min, cap).
 */
static void check_weights(void)
{
	size_t i, j, rel = nr_releases();

	for (j = 0; j < S->in.nr_gpus; j++) {
		uint32_t c = S->gpus[j].cus;
		double lo = 0, hi = 1024, sum_hi = 0, p;
		int it;

		for (i = 0; i < S->in.nr_tenants; i++)
			if (S->out[rel + i].gpu_id == S->gpus[j].id)
				sum_hi += S->ten[i].max_cus < c ?
						  S->ten[i].max_cus :
						  c;
		p = sum_hi < c ? sum_hi : c;
		for (it = 0; it < 200; it++) {
			double mid = (lo + hi) / 2, f = 0;

			for (i = 0; i < S->in.nr_tenants; i++) {
				const struct gpumux_policy_tenant *t =
					&S->ten[i];
				double x = mid * t->weight;
				double cap = t->max_cus < c ? t->max_cus : c;

				if (S->out[rel + i].gpu_id != S->gpus[j].id)
					continue;
				x = x < t->min_cus ? t->min_cus : x;
				f += x > cap ? cap : x;
			}
			if (f < p)
				lo = mid;
			else
				hi = mid;
		}
		for (i = 0; i < S->in.nr_tenants; i++) {
			const struct gpumux_policy_tenant *t = &S->ten[i];
			double x = hi * t->weight;
			double cap = t->max_cus < c ? t->max_cus : c;
			unsigned int n = count(S->out[rel + i].mask);

			if (S->out[rel + i].gpu_id != S->gpus[j].id)
				continue;
			x = x < t->min_cus ? t->min_cus : x;
			x = x > cap ? cap : x;
			ck_assert_msg(fabs(n - x) < 1 + 1e-6,
				      "tenant %u: %u CUs, ideal %.3f", t->id, n,
				      x);
		}
	}
}

/* Nobody lost a CU its new share lets it keep. */
static void check_movement(void)
{
	size_t i;

	for (i = 0; i < S->in.nr_tenants; i++) {
		const struct gpumux_policy_part *q = out_of(S->ten[i].id);
		const struct gpumux_policy_part *p =
			cur_of(q->tenant_id, q->gpu_id);
		unsigned int n = count(q->mask), held;

		if (!p)
			continue;
		held = count(p->mask);
		ck_assert_uint_eq(common(q->mask, p->mask),
				  n < held ? n : held);
	}
}

/* Re-planning what was just applied changes nothing. */
static void check_stable(void)
{
	struct gpumux_policy_part *before;
	size_t nr = S->o.nr_parts, i;

	before = malloc(sizeof(S->out));
	ck_assert_ptr_nonnull(before);
	memcpy(before, S->out, sizeof(S->out));
	apply();
	plan_ok();
	ck_assert_uint_eq(nr_releases(), 0);
	for (i = 0; i < S->in.nr_tenants; i++) {
		const struct gpumux_policy_part *q = out_of(S->ten[i].id);
		const struct gpumux_policy_part *b =
			&before[nr - S->in.nr_tenants + i];

		ck_assert_uint_eq(q->gpu_id, b->gpu_id);
		ck_assert_mem_eq(q->mask, b->mask, sizeof(q->mask));
	}
	ck_assert_uint_eq(moved(), 0);
	free(before);
}

/* --- the registry --- */

START_TEST(test_lookup)
{
	const struct gpumux_policy_ops *ops = gpumux_policy_find("fairshare");
	struct gpumux_policy pol;

	ck_assert_ptr_nonnull(ops);
	ck_assert_str_eq(ops->name, "fairshare");
	ck_assert_ptr_nonnull(ops->plan);
	ck_assert_ptr_eq(gpumux_policy_nth(0), ops);
	ck_assert_ptr_null(gpumux_policy_nth(1));
	ck_assert_ptr_null(gpumux_policy_find("fairshar"));
	ck_assert_ptr_null(gpumux_policy_find(""));
	ck_assert_ptr_null(gpumux_policy_find(NULL));
	ck_assert_int_eq(gpumux_policy_init(&pol, "nope"), -ENOENT);
	ck_assert_int_eq(gpumux_policy_init(&pol, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_policy_init(NULL, "fairshare"), -EINVAL);
	ck_assert_int_eq(gpumux_policy_init(&pol, "fairshare"), 0);
	ck_assert_ptr_eq(pol.ops, ops);
	gpumux_policy_fini(&pol);
	ck_assert_ptr_null(pol.ops);
	gpumux_policy_fini(&pol); /* twice is harmless */
}
END_TEST

START_TEST(test_empty)
{
	add_gpu(1, 304);
	plan_ok();
	ck_assert_uint_eq(S->o.nr_parts, 0);
	S->in.nr_gpus = 0;
	plan_ok();
	ck_assert_uint_eq(S->o.nr_parts, 0);
	/* Tenants but nowhere to put them. */
	add_tenant(1, 1, 0, NOCAP);
	ck_assert_int_eq(plan(), -EINVAL);
}
END_TEST

/* --- shares --- */

START_TEST(test_equal_split)
{
	unsigned int a, b, c;

	add_gpu(1, 304);
	add_tenant(1, 5, 0, NOCAP);
	add_tenant(2, 5, 0, NOCAP);
	add_tenant(3, 5, 0, NOCAP);
	add_tenant(4, 5, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(S->o.nr_parts, 4);
	ck_assert_uint_eq(cus_of(1), 76);
	ck_assert_uint_eq(cus_of(2), 76);
	ck_assert_uint_eq(cus_of(3), 76);
	ck_assert_uint_eq(cus_of(4), 76);

	/* 304 / 3: one tenant gets the extra CU, the sum is exact. */
	S->in.nr_tenants = 3;
	plan_ok();
	check_output();
	a = cus_of(1);
	b = cus_of(2);
	c = cus_of(3);
	ck_assert_uint_eq(a + b + c, 304);
	ck_assert_uint_eq(a, 102); /* the lowest id breaks the tie */
	ck_assert_uint_eq(b, 101);
	ck_assert_uint_eq(c, 101);
}
END_TEST

START_TEST(test_weights_1_3)
{
	unsigned int a, b;

	add_gpu(1, 304);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 3, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 76);
	ck_assert_uint_eq(cus_of(2), 228);

	/* 303: 75.75 and 227.25 */
	S->gpus[0].cus = 303;
	plan_ok();
	check_output();
	a = cus_of(1);
	b = cus_of(2);
	ck_assert_uint_eq(a + b, 303);
	ck_assert_uint_eq(a, 76); /* the larger remainder */
	ck_assert_uint_eq(b, 227);
	check_weights();
}
END_TEST

START_TEST(test_minimums)
{
	add_gpu(1, 100);
	add_tenant(1, 1, 30, NOCAP);
	add_tenant(2, 9, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 30); /* 10 by weight, 30 by minimum */
	ck_assert_uint_eq(cus_of(2), 70);

	/* The rest is shared 1:8 by the others: 75 -> 8.33 and 66.67. */
	S->in.nr_tenants = 0;
	add_tenant(1, 1, 25, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	add_tenant(3, 8, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 25);
	ck_assert_uint_eq(cus_of(2), 8);
	ck_assert_uint_eq(cus_of(3), 67);
	check_weights();

	/* Minimums that fill the GPU exactly. */
	S->in.nr_tenants = 0;
	add_tenant(1, 1, 60, NOCAP);
	add_tenant(2, 50, 40, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 60);
	ck_assert_uint_eq(cus_of(2), 40);
}
END_TEST

START_TEST(test_caps)
{
	add_gpu(1, 300);
	add_tenant(1, 1, 0, 50);
	add_tenant(2, 1, 0, NOCAP);
	add_tenant(3, 1, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 50);
	/* The 50 a cap frees go to the others. */
	ck_assert_uint_eq(cus_of(2), 125);
	ck_assert_uint_eq(cus_of(3), 125);

	/* Caps below demand: each gets its cap, the rest stays free. */
	S->in.nr_tenants = 0;
	add_tenant(1, 1, 0, 10);
	add_tenant(2, 9, 0, 20);
	add_tenant(3, 1, 0, 0); /* may hold nothing */
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1), 10);
	ck_assert_uint_eq(cus_of(2), 20);
	ck_assert_uint_eq(cus_of(3), 0);
	ck_assert_uint_eq(out_of(3)->gpu_id, 1);

	/* A cap and a minimum both binding, on different tenants. */
	S->in.nr_tenants = 0;
	add_tenant(1, 100, 0, 40);
	add_tenant(2, 1, 100, NOCAP);
	add_tenant(3, 10, 0, NOCAP);
	plan_ok();
	check_output();
	check_weights();
	ck_assert_uint_eq(cus_of(1), 40);
	ck_assert_uint_eq(cus_of(2), 100);
	ck_assert_uint_eq(cus_of(3), 160);
}
END_TEST

/* --- layout --- */

START_TEST(test_contiguous_fresh)
{
	uint32_t id;

	add_gpu(1, 304);
	for (id = 1; id <= 5; id++)
		add_tenant(id, id, 0, NOCAP);
	plan_ok();
	check_output();
	check_weights();
	for (id = 1; id <= 5; id++)
		ck_assert_uint_eq(runs(out_of(id)->mask), 1);
	/* Largest first from CU 0. */
	ck_assert(bit(out_of(5)->mask, 0));
	ck_assert(bit(out_of(1)->mask, 303));
}
END_TEST

START_TEST(test_contiguous_detach)
{
	add_gpu(1, 304);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	add_tenant(3, 1, 0, NOCAP);
	plan_ok();
	apply();
	del_tenant(2); /* the middle one */
	plan_ok();
	check_output();
	check_movement();
	ck_assert_uint_eq(cus_of(1), 152);
	ck_assert_uint_eq(cus_of(3), 152);
	ck_assert_uint_eq(runs(out_of(1)->mask), 1);
	ck_assert_uint_eq(runs(out_of(3)->mask), 1);
	/* Only the freed CUs moved. */
	ck_assert_uint_eq(moved(), 101);
}
END_TEST

START_TEST(test_contiguous_attach)
{
	add_gpu(1, 304);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	plan_ok();
	apply();
	add_tenant(3, 1, 0, NOCAP);
	plan_ok();
	check_output();
	check_movement();
	/* Both give up the ends that meet: the newcomer gets one range. */
	ck_assert_uint_eq(runs(out_of(1)->mask), 1);
	ck_assert_uint_eq(runs(out_of(2)->mask), 1);
	ck_assert_uint_eq(runs(out_of(3)->mask), 1);
	ck_assert_uint_eq(moved(), cus_of(3));
}
END_TEST

/* --- stability and movement --- */

START_TEST(test_stable)
{
	uint32_t id;

	add_gpu(1, 304);
	add_gpu(2, 120);
	for (id = 1; id <= 7; id++)
		add_tenant(id, id * 3 % 7 + 1, id % 3, id == 4 ? 20 : NOCAP);
	ten_of(6)->preferred_gpu = 2;
	plan_ok();
	check_output();
	check_weights();
	check_stable();
	check_stable(); /* and again */
}
END_TEST

START_TEST(test_order_independent)
{
	struct gpumux_policy_part first[8];
	struct gpumux_policy_tenant t;
	uint32_t id;
	size_t i;

	add_gpu(1, 304);
	for (id = 1; id <= 8; id++)
		add_tenant(id * 7, id, 0, NOCAP);
	plan_ok();
	memcpy(first, S->out, sizeof(first));
	for (i = 0; i < 4; i++) {
		t = S->ten[i];
		S->ten[i] = S->ten[7 - i];
		S->ten[7 - i] = t;
	}
	plan_ok();
	for (i = 0; i < 8; i++)
		ck_assert_mem_eq(out_of(first[i].tenant_id)->mask,
				 first[i].mask, sizeof(first[i].mask));
}
END_TEST

START_TEST(test_attach_moves_few)
{
	uint32_t id, share;
	size_t i;

	add_gpu(1, 304);
	for (id = 1; id <= 4; id++)
		add_tenant(id, id, 0, NOCAP);
	plan_ok();
	apply();
	add_tenant(5, 2, 0, NOCAP);
	plan_ok();
	check_output();
	check_weights();
	check_movement();
	share = cus_of(5);
	ck_assert_uint_eq(share, 51); /* 304 * 2 / 12 = 50.67 */
	/* What moved is what the newcomer got; nobody else gained. */
	ck_assert_uint_le(moved(), share + 4);
	ck_assert_uint_eq(moved(), share);
	for (i = 0; i < 4; i++) {
		const struct gpumux_policy_part *q = out_of(S->ten[i].id);

		ck_assert_uint_eq(common(q->mask,
					 cur_of(q->tenant_id, 1)->mask),
				  count(q->mask));
	}
}
END_TEST

START_TEST(test_weight_change)
{
	unsigned int before;

	add_gpu(1, 300);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	add_tenant(3, 1, 0, NOCAP);
	plan_ok();
	apply();
	before = cus_of(2);
	ck_assert_uint_eq(before, 100);
	ten_of(2)->weight = 2;
	plan_ok();
	check_output();
	check_movement();
	ck_assert_uint_eq(cus_of(2), 150);
	ck_assert_uint_eq(moved(), 50); /* only the growth moved */
	ck_assert_uint_eq(runs(out_of(2)->mask), 1);
}
END_TEST

/* A small deterministic generator, so failures reproduce. */
static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rnd_state >> 33) % n;
}

START_TEST(test_random)
{
	unsigned int round, step;

	rnd_state = 42;
	for (round = 0; round < 150; round++) {
		uint32_t smallest = 1024, id, g, next_id;

		S->in.nr_gpus = S->in.nr_tenants = S->in.nr_parts = 0;
		for (g = 1, smallest = 1024; g <= 1 + rnd(3); g++) {
			uint32_t c = rnd(4) ? 1 + rnd(1024) : 1 + rnd(8);

			add_gpu(g * 10, c);
			smallest = c < smallest ? c : smallest;
		}
		next_id = 1 + rnd(40);
		for (id = 1; id < next_id; id++) {
			uint32_t min = rnd(smallest / (2 * next_id) + 1);
			uint32_t max = rnd(5) ? min + rnd(600) : NOCAP;
			struct gpumux_policy_tenant *t;

			t = add_tenant(id, 1 + rnd(1000), min, max);
			if (!rnd(6))
				t->preferred_gpu =
					10 * (1 + rnd(S->in.nr_gpus));
		}
		plan_ok();
		check_output();
		check_weights();
		for (step = 0; step < 6; step++) {
			struct gpumux_policy_tenant *t;

			apply();
			switch (rnd(4)) {
			case 0:
				if (S->in.nr_tenants) {
					t = &S->ten[rnd(S->in.nr_tenants)];
					del_tenant(t->id);
					break;
				}
				/* fall through */
			case 1:
				add_tenant(next_id++, 1 + rnd(1000), 0,
					   rnd(2) ? NOCAP : rnd(300));
				break;
			case 2:
				if (S->in.nr_tenants) {
					t = &S->ten[rnd(S->in.nr_tenants)];
					t->weight = 1 + rnd(1000);
				}
				break;
			default:
				if (S->in.nr_tenants) {
					t = &S->ten[rnd(S->in.nr_tenants)];
					t->max_cus = t->min_cus + rnd(400);
				}
				break;
			}
			plan_ok();
			check_output();
			check_weights();
			check_movement();
			check_stable();
		}
	}
}
END_TEST

/* --- bad input --- */

/* @ret, and neither the output array nor its count touched. */
static void plan_fails(int ret)
{
	static struct gpumux_policy_part sentinel[MAX_P];

	memset(sentinel, 0xa5, sizeof(sentinel));
	memcpy(S->out, sentinel, sizeof(sentinel));
	S->o.nr_parts = 12345;
	ck_assert_int_eq(plan(), ret);
	ck_assert_uint_eq(S->o.nr_parts, 12345);
	ck_assert_mem_eq(S->out, sentinel, sizeof(sentinel));
}

START_TEST(test_infeasible)
{
	add_gpu(1, 100);
	add_tenant(1, 1, 60, NOCAP);
	add_tenant(2, 1, 41, NOCAP);
	plan_fails(-EINVAL); /* 101 minimum CUs on 100 */
	ten_of(2)->min_cus = 40;
	plan_ok();

	ten_of(1)->max_cus = 59; /* min > max */
	plan_fails(-EINVAL);
	ten_of(1)->max_cus = 60;
	ten_of(2)->weight = 0;
	plan_fails(-EINVAL);
	ten_of(2)->weight = GPUMUX_POLICY_MAX_WEIGHT + 1;
	plan_fails(-EINVAL);
	ten_of(2)->weight = GPUMUX_POLICY_MAX_WEIGHT;
	plan_ok();

	/* Two GPUs: minimums that fit neither after the first. */
	add_gpu(2, 50);
	add_tenant(3, 1, 51, NOCAP);
	plan_fails(-EINVAL);
	ten_of(3)->min_cus = 50;
	plan_ok();
	ck_assert_uint_eq(out_of(3)->gpu_id, 2);
	ten_of(3)->preferred_gpu = 1; /* there, minimums overflow */
	plan_fails(-EINVAL);
	ten_of(1)->preferred_gpu = 1; /* only preferences on GPU 1 */
	ten_of(2)->preferred_gpu = 2;
	ten_of(2)->min_cus = 0;
	ten_of(3)->min_cus = 41;
	plan_fails(-EINVAL);
	ten_of(3)->min_cus = 40;
	plan_ok();
}
END_TEST

START_TEST(test_bad_input)
{
	add_gpu(1, 64);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	S->cur[0] = (struct gpumux_policy_part){ .tenant_id = 1, .gpu_id = 1 };
	S->cur[0].mask[0] = 0xff;
	S->in.nr_parts = 1;
	plan_ok();

	ten_of(2)->id = 1; /* id twice */
	plan_fails(-EINVAL);
	S->ten[1].id = 0;
	plan_fails(-EINVAL);
	S->ten[1].id = 2;
	ten_of(2)->reserved = 1;
	plan_fails(-EINVAL);
	ten_of(2)->reserved = 0;
	ten_of(2)->preferred_gpu = 9;
	plan_fails(-ENOENT);
	ten_of(2)->preferred_gpu = 0;

	S->gpus[0].cus = 0;
	plan_fails(-EINVAL);
	S->gpus[0].cus = 1025;
	plan_fails(-EINVAL);
	S->gpus[0].cus = 8;
	plan_ok();
	S->gpus[0].cus = 7; /* CU 7 is held but no longer exists */
	plan_fails(-EINVAL);
	S->gpus[0].cus = 64;
	add_gpu(1, 64); /* GPU id twice */
	plan_fails(-EINVAL);
	S->in.nr_gpus = 1;

	S->cur[0].tenant_id = 3; /* unknown tenant */
	plan_fails(-EINVAL);
	S->cur[0].tenant_id = 1;
	S->cur[0].gpu_id = 2; /* unknown GPU */
	plan_fails(-EINVAL);
	S->cur[0].gpu_id = 1;
	S->cur[0].flags = 4;
	plan_fails(-EINVAL);
	S->cur[0].flags = 0;
	S->cur[1] = S->cur[0]; /* the same pair twice */
	S->in.nr_parts = 2;
	plan_fails(-EINVAL);
	S->in.nr_parts = 1;

	S->o.max_parts = 1; /* two tenants */
	plan_fails(-ENOSPC);
	S->o.max_parts = 2;
	plan_ok();

	S->in.parts = NULL;
	plan_fails(-EINVAL);
	S->in.parts = S->cur;
	ck_assert_int_eq(gpumux_policy_plan(&S->pol, NULL, &S->o), -EINVAL);
	ck_assert_int_eq(gpumux_policy_plan(&S->pol, &S->in, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_policy_plan(NULL, &S->in, &S->o), -EINVAL);
	S->in.nr_gpus = GPUMUX_POLICY_MAX_GPUS + 1;
	plan_fails(-E2BIG);
}
END_TEST

/* --- edges --- */

START_TEST(test_1024_cus)
{
	unsigned int w;

	add_gpu(1, 1024);
	add_tenant(1, 7, 0, NOCAP);
	plan_ok();
	check_output();
	for (w = 0; w < 16; w++)
		ck_assert_uint_eq(out_of(1)->mask[w], ~0ULL);
	ck_assert_uint_eq(out_of(1)->cus, 1024);
	check_stable();

	add_tenant(2, 7, 0, 2000); /* a cap above the GPU: no cap */
	add_tenant(3, 7, 0, NOCAP);
	plan_ok();
	check_output();
	check_movement();
	ck_assert_uint_eq(cus_of(1) + cus_of(2) + cus_of(3), 1024);
	ck_assert_uint_eq(cus_of(1), 342); /* keeps the extra: it holds it */
	ck_assert_uint_eq(cus_of(2), 341);
	ck_assert_uint_eq(cus_of(3), 341);
	ck_assert_uint_eq(runs(out_of(1)->mask), 1);
	ck_assert(bit(out_of(1)->mask, 0));
	ck_assert_uint_eq(moved(), 682);
	check_stable();
}
END_TEST

START_TEST(test_1_cu)
{
	add_gpu(1, 1);
	add_tenant(1, 1, 0, NOCAP);
	plan_ok();
	ck_assert_uint_eq(out_of(1)->mask[0], 1);
	add_tenant(2, 1, 0, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(1) + cus_of(2), 1);
	ck_assert_uint_eq(cus_of(1), 1); /* it holds it already */
	check_stable();

	/* The one with the minimum gets it, whatever the weights. */
	S->in.nr_parts = 0;
	ten_of(2)->min_cus = 1;
	ten_of(1)->weight = 1000;
	plan_ok();
	check_output();
	ck_assert_uint_eq(cus_of(2), 1);
	ck_assert_uint_eq(cus_of(1), 0);
	ten_of(1)->min_cus = 1;
	plan_fails(-EINVAL);

	/* A tie goes to the tenant holding the CU, not the lower id. */
	ten_of(1)->min_cus = 0;
	ten_of(2)->min_cus = 0;
	ten_of(1)->weight = 1;
	ten_of(2)->weight = 1;
	S->cur[0] = (struct gpumux_policy_part){ .tenant_id = 2, .gpu_id = 1 };
	S->cur[0].mask[0] = 1;
	S->in.nr_parts = 1;
	plan_ok();
	ck_assert_uint_eq(cus_of(2), 1);
	ck_assert_uint_eq(cus_of(1), 0);
	ck_assert_uint_eq(moved(), 0);
}
END_TEST

START_TEST(test_many_tenants)
{
	uint64_t all[16] = { 0 };
	unsigned int two = 0, w;
	uint32_t id;

	add_gpu(1, 304);
	for (id = 1; id <= 300; id++)
		add_tenant(id, 1, 1, NOCAP);
	plan_ok();
	check_output();
	for (id = 1; id <= 300; id++) {
		const struct gpumux_policy_part *q = out_of(id);
		unsigned int n = count(q->mask);

		ck_assert_uint_ge(n, 1);
		ck_assert_uint_le(n, 2);
		two += n == 2;
		ck_assert_uint_eq(runs(q->mask), 1);
		for (w = 0; w < 16; w++) {
			ck_assert_uint_eq(all[w] & q->mask[w], 0);
			all[w] |= q->mask[w];
		}
	}
	ck_assert_uint_eq(two, 4);
	ck_assert_uint_eq(count(all), 304);
	check_stable();

	/* One more: 301 tenants, each keeps at least its one CU. */
	add_tenant(301, 1, 1, NOCAP);
	plan_ok();
	check_output();
	check_movement();
	ck_assert_uint_le(moved(), 1 + 4);
	check_stable();

	/* 305 minimums of one CU on 304. */
	for (id = 302; id <= 305; id++)
		add_tenant(id, 1, 1, NOCAP);
	plan_fails(-EINVAL);
}
END_TEST

/* --- several GPUs --- */

START_TEST(test_placement)
{
	add_gpu(1, 304);
	add_gpu(2, 120);
	add_tenant(1, 1, 0, NOCAP)->preferred_gpu = 1;
	add_tenant(2, 1, 0, NOCAP)->preferred_gpu = 1;
	add_tenant(3, 1, 0, NOCAP); /* 120 on GPU 2 beats 101 on GPU 1 */
	plan_ok();
	check_output();
	ck_assert_uint_eq(out_of(3)->gpu_id, 2);
	ck_assert_uint_eq(cus_of(3), 120);
	ck_assert_uint_eq(cus_of(1), 152);

	add_tenant(4, 1, 0, NOCAP); /* 101.3 on GPU 1 beats 60 on GPU 2 */
	plan_ok();
	check_output();
	ck_assert_uint_eq(out_of(4)->gpu_id, 1);

	/* A minimum that only GPU 1 can hold. */
	add_tenant(5, 1, 150, NOCAP);
	plan_ok();
	check_output();
	ck_assert_uint_eq(out_of(5)->gpu_id, 1);
	ck_assert_uint_eq(cus_of(5), 150);
	apply();

	/* Tenants stay where they hold CUs, even when GPU 1 empties. */
	del_tenant(1);
	del_tenant(2);
	del_tenant(4);
	del_tenant(5);
	plan_ok();
	check_output();
	ck_assert_uint_eq(nr_releases(), 0);
	ck_assert_uint_eq(out_of(3)->gpu_id, 2);
	apply();

	/* A new preference moves it: its old partition is released first. */
	ten_of(3)->preferred_gpu = 1;
	plan_ok();
	check_output();
	ck_assert_uint_eq(nr_releases(), 1);
	ck_assert_uint_eq(S->out[0].tenant_id, 3);
	ck_assert_uint_eq(S->out[0].gpu_id, 2);
	ck_assert_uint_eq(count(S->out[0].mask), 0);
	ck_assert_uint_eq(out_of(3)->gpu_id, 1);
	ck_assert_uint_eq(cus_of(3), 304);
	ck_assert_uint_eq(gpu_cus(out_of(3)->gpu_id), 304);
}
END_TEST

START_TEST(test_best_fit)
{
	/* Free: CUs 0-9 and 20-49.  The newcomer fills the small gap. */
	add_gpu(1, 60);
	add_tenant(1, 1, 0, 10);
	add_tenant(2, 1, 0, 10);
	add_tenant(3, 1, 0, 10);
	S->cur[0] = (struct gpumux_policy_part){ .tenant_id = 1, .gpu_id = 1 };
	S->cur[0].mask[0] = 0x3ffULL << 10;
	S->cur[1] = (struct gpumux_policy_part){ .tenant_id = 2, .gpu_id = 1 };
	S->cur[1].mask[0] = 0x3ffULL << 50;
	S->in.nr_parts = 2;
	plan_ok();
	check_output();
	ck_assert_uint_eq(moved(), 10);
	ck_assert_uint_eq(out_of(3)->mask[0], 0x3ff);
}
END_TEST

START_TEST(test_overlapping_current)
{
	/* Shared current masks: the lower id owns what both claim. */
	add_gpu(1, 16);
	add_tenant(1, 1, 0, NOCAP);
	add_tenant(2, 1, 0, NOCAP);
	S->cur[0] = (struct gpumux_policy_part){
		.tenant_id = 2, .gpu_id = 1, .flags = GPUMUX_POLICY_SHARED
	};
	S->cur[0].mask[0] = 0xffff;
	S->cur[1] = S->cur[0];
	S->cur[1].tenant_id = 1;
	S->in.nr_parts = 2;
	plan_ok();
	check_output();
	ck_assert_uint_eq(out_of(1)->mask[0], 0x00ff);
	ck_assert_uint_eq(out_of(2)->mask[0], 0xff00);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("registry");
	tcase_add_test(tc, test_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("fairshare");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_equal_split);
	tcase_add_test(tc, test_weights_1_3);
	tcase_add_test(tc, test_minimums);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_contiguous_fresh);
	tcase_add_test(tc, test_contiguous_detach);
	tcase_add_test(tc, test_contiguous_attach);
	tcase_add_test(tc, test_stable);
	tcase_add_test(tc, test_order_independent);
	tcase_add_test(tc, test_attach_moves_few);
	tcase_add_test(tc, test_weight_change);
	tcase_add_test(tc, test_random);
	tcase_add_test(tc, test_infeasible);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_1024_cus);
	tcase_add_test(tc, test_1_cu);
	tcase_add_test(tc, test_many_tenants);
	tcase_add_test(tc, test_placement);
	tcase_add_test(tc, test_best_fit);
	tcase_add_test(tc, test_overlapping_current);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ckmain_run(policy_suite(), "policy");
}
