// SPDX-License-Identifier: GPL-2.0
/*
 * "fairshare": CUs shared between tenants by weight, with guaranteed
 * minimums and caps, in contiguous ranges where possible, moving as few
 * CUs as possible from one plan to the next.  Pure logic: see policy.h.
 *
 * Placement: every tenant is placed on exactly one GPU, in three passes.
 *  1. A tenant with a preferred GPU goes there.
 *  2. Otherwise a tenant with a current part goes back to the GPU where it
 *     holds the most CUs (ties: the lower GPU id), if its minimum still
 *     fits there: tenants are not migrated between GPUs to rebalance.  A
 *     part with an empty mask counts too, so a tenant whose share was 0
 *     stays put when the caller passes the last plan back.
 *     (policy.h: the tenant entries of an output are the next input.)
 *  3. The rest, by minimum (largest first), then weight (largest first),
 *     then id, each go to the GPU where their weighted share
 *     cus * weight / (weights already there + weight) is largest, among
 *     those where the minimums placed so far plus its own fit (ties: the
 *     lower GPU id).
 * Infeasible minimums (pass 1 or 3 finds no room) make the plan fail with
 * -EINVAL; the passes are greedy, so a tight input that a different
 * packing would fit can be refused.
 *
 * Shares on one GPU of C CUs: P = min(C, sum of caps) CUs are handed out
 * (all of them whenever the caps allow), tenant i getting
 * clamp(lambda * weight_i, min_i, cap_i) with the one lambda that makes
 * them sum to P (water-filling), rounded by largest remainder (ties: the
 * tenant that already holds the extra CU, then the lower id), so the
 * shares sum exactly to P.
 *
 * Masks: movement comes first, contiguity second.
 *  - Every tenant keeps min(share, held) of the CUs it holds on its GPU: a
 *    tenant is revoked only what its share forces, and only CUs it holds
 *    are kept (a CU claimed by several current masks belongs to the lowest
 *    tenant id).  A shrinking tenant keeps its longest runs; of a run it
 *    keeps in part, it gives up the end next to free CUs, then next to a
 *    growing tenant, then next to another shrinking one (ties: the top).
 *  - A growing tenant first extends its runs into adjacent free CUs, then
 *    (largest need first) takes the smallest free run that holds all it
 *    still needs, from its low end, or else the largest free runs whole.
 * So a fresh GPU is laid out in one range per tenant, largest first from
 * CU 0, and each later plan keeps what contiguity it can without revoking
 * more.
 *
 * Output: first an empty mask for every current, non-empty partition on a
 * GPU the tenant is no longer placed on (in the order of in->parts, flags
 * as they were), then one exclusive partition per tenant on its GPU, in
 * the order of in->tenants (empty when its share is 0).
 */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORDS GPUMUX_POLICY_MASK_WORDS

struct fs_tenant {
	const struct gpumux_policy_tenant *t;
	size_t idx; /* in in->tenants */
	int home; /* GPU index it holds the most CUs on, or -1 */
	uint32_t home_cus; /* CUs held there */
	int gpu; /* GPU index it is placed on, or -1 */
	const struct gpumux_policy_part *part; /* its part there, or NULL */
	uint32_t lo, hi; /* bounds of its share on that GPU */
	uint32_t held; /* CUs of cur[] */
	uint32_t share; /* CUs it is to hold */
	uint32_t need; /* CUs it still has to be given */
	bool fixed; /* share fixed at lo or hi by water-filling */
	uint64_t rem; /* remainder of its share, for rounding */
	uint64_t cur[WORDS]; /* CUs it holds on its GPU, owned by it */
	uint64_t mask[WORDS]; /* CUs it is to hold */
};

/* One GPU being laid out. */
struct fs_gpu {
	uint32_t cus;
	struct fs_tenant **list; /* the tenants on it, by id */
	size_t n;
	int32_t owner[GPUMUX_POLICY_MAX_CUS]; /* list index holding it now */
	uint64_t taken[WORDS]; /* CUs given out in the plan */
};

struct fs_run {
	uint32_t start, len;
};

static int cmp_id(const void *a, const void *b)
{
	const struct fs_tenant *x = a, *y = b;

	return (x->t->id > y->t->id) - (x->t->id < y->t->id);
}

static int cmp_key_id(const void *key, const void *b)
{
	uint32_t id = *(const uint32_t *)key;
	const struct fs_tenant *y = b;

	return (id > y->t->id) - (id < y->t->id);
}

static struct fs_tenant *find_tenant(struct fs_tenant *ft, size_t n,
				     uint32_t id)
{
	return bsearch(&id, ft, n, sizeof(*ft), cmp_key_id);
}

static int gpu_index(const struct gpumux_policy_input *in, uint32_t id)
{
	size_t i;

	for (i = 0; i < in->nr_gpus; i++)
		if (in->gpus[i].id == id)
			return (int)i;
	return -1;
}

static bool mask_empty(const uint64_t *mask)
{
	unsigned int w;

	for (w = 0; w < WORDS; w++)
		if (mask[w])
			return false;
	return true;
}

/* Maximal runs of @mask below @cus, in address order; returns how many. */
static size_t mask_runs(const uint64_t *mask, uint32_t cus, struct fs_run *runs)
{
	size_t n = 0;
	uint32_t cu = 0;

	while (cu < cus) {
		uint32_t start;

		if (!gpumux_policy_mask_test(mask, cu)) {
			cu++;
			continue;
		}
		start = cu;
		while (cu < cus && gpumux_policy_mask_test(mask, cu))
			cu++;
		runs[n].start = start;
		runs[n].len = cu - start;
		n++;
	}
	return n;
}

/* Placement, pass 3 order: minimum, weight (both descending), id. */
static int cmp_place(const void *a, const void *b)
{
	const struct fs_tenant *x = *(struct fs_tenant *const *)a;
	const struct fs_tenant *y = *(struct fs_tenant *const *)b;

	if (x->t->min_cus != y->t->min_cus)
		return x->t->min_cus > y->t->min_cus ? -1 : 1;
	if (x->t->weight != y->t->weight)
		return x->t->weight > y->t->weight ? -1 : 1;
	return cmp_id(x, y);
}

/*
 * Places every tenant (see the comment at the top); @tmp has room for
 * every tenant.  Returns 0 or -EINVAL.
 */
static int place(const struct gpumux_policy_input *in, struct fs_tenant *ft,
		 size_t n, struct fs_tenant **tmp)
{
	uint64_t gmin[GPUMUX_POLICY_MAX_GPUS] = { 0 };
	uint64_t gw[GPUMUX_POLICY_MAX_GPUS] = { 0 };
	size_t i, k = 0, g;

	for (i = 0; i < n; i++) {
		struct fs_tenant *t = &ft[i];
		int p;

		t->gpu = -1;
		if (!t->t->preferred_gpu)
			continue;
		p = gpu_index(in, t->t->preferred_gpu);
		if (gmin[p] + t->t->min_cus > in->gpus[p].cus)
			return -EINVAL;
		t->gpu = p;
		gmin[p] += t->t->min_cus;
		gw[p] += t->t->weight;
	}
	for (i = 0; i < n; i++) {
		struct fs_tenant *t = &ft[i];

		if (t->t->preferred_gpu)
			continue;
		if (t->home >= 0 &&
		    gmin[t->home] + t->t->min_cus <= in->gpus[t->home].cus) {
			t->gpu = t->home;
			gmin[t->gpu] += t->t->min_cus;
			gw[t->gpu] += t->t->weight;
			continue;
		}
		tmp[k++] = t;
	}
	qsort(tmp, k, sizeof(*tmp), cmp_place);
	for (i = 0; i < k; i++) {
		struct fs_tenant *t = tmp[i];
		uint64_t w = t->t->weight;
		int best = -1;

		for (g = 0; g < in->nr_gpus; g++) {
			uint64_t c = in->gpus[g].cus;

			if (gmin[g] + t->t->min_cus > c)
				continue;
			/* c / (gw[g] + w) against the best's */
			if (best < 0 ||
			    c * (gw[best] + w) >
				    in->gpus[best].cus * (gw[g] + w) ||
			    (c * (gw[best] + w) ==
				     in->gpus[best].cus * (gw[g] + w) &&
			     in->gpus[g].id < in->gpus[best].id))
				best = (int)g;
		}
		if (best < 0)
			return -EINVAL;
		t->gpu = best;
		gmin[best] += t->t->min_cus;
		gw[best] += t->t->weight;
	}
	return 0;
}

/* Rounding order: remainder (descending), holds the extra CU, id. */
static int cmp_round(const void *a, const void *b)
{
	const struct fs_tenant *x = *(struct fs_tenant *const *)a;
	const struct fs_tenant *y = *(struct fs_tenant *const *)b;
	bool xe = x->held > x->share, ye = y->held > y->share;

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	if (xe != ye)
		return xe ? -1 : 1;
	return cmp_id(x, y);
}

/*
 * Sets every share on @gs by water-filling and largest remainder.  @tmp
 * has room for gs->n pointers.  Needs lo <= hi and sum(lo) <= cus.
 */
static void compute_shares(struct fs_gpu *gs, struct fs_tenant **tmp)
{
	uint64_t sum_hi = 0, r, left, wsum, over, under;
	size_t i, k;

	for (i = 0; i < gs->n; i++) {
		struct fs_tenant *t = gs->list[i];

		t->lo = t->t->min_cus;
		t->hi = t->t->max_cus < gs->cus ? t->t->max_cus : gs->cus;
		t->fixed = false;
		sum_hi += t->hi;
	}
	r = sum_hi < gs->cus ? sum_hi : gs->cus;

	/*
	 * lambda0 = r / wsum spreads r over the free tenants by weight.  If
	 * the CUs it puts over caps outweigh those it leaves under minimums,
	 * the true lambda is at least lambda0, so every tenant over its cap
	 * stays there: fix them at the cap.  Otherwise the true lambda is
	 * below lambda0: fix every tenant under its minimum at the minimum.
	 * Each round fixes one tenant or more.  All values are scaled by
	 * wsum (< 2^32): products stay below 2^42, sums below 2^58.
	 */
	for (;;) {
		bool caps;

		wsum = 0;
		for (i = 0; i < gs->n; i++)
			if (!gs->list[i]->fixed)
				wsum += gs->list[i]->t->weight;
		if (!wsum)
			break;
		over = under = 0;
		for (i = 0; i < gs->n; i++) {
			struct fs_tenant *t = gs->list[i];
			uint64_t x = r * t->t->weight;

			if (t->fixed)
				continue;
			if (x > t->hi * wsum)
				over += x - t->hi * wsum;
			else if (x < t->lo * wsum)
				under += t->lo * wsum - x;
		}
		if (!over && !under)
			break;
		caps = over >= under;
		for (i = 0; i < gs->n; i++) {
			struct fs_tenant *t = gs->list[i];
			uint64_t x = r * t->t->weight;

			if (t->fixed)
				continue;
			if (caps && x > t->hi * wsum)
				t->share = t->hi;
			else if (!caps && x < t->lo * wsum)
				t->share = t->lo;
			else
				continue;
			t->fixed = true;
			r -= t->share;
		}
	}
	if (!wsum)
		return;

	k = 0;
	left = r;
	for (i = 0; i < gs->n; i++) {
		struct fs_tenant *t = gs->list[i];
		uint64_t x = r * t->t->weight;

		if (t->fixed)
			continue;
		t->share = (uint32_t)(x / wsum);
		t->rem = x % wsum;
		left -= t->share;
		tmp[k++] = t;
	}
	/* left < k now, and more than left of them have a remainder. */
	qsort(tmp, k, sizeof(*tmp), cmp_round);
	for (i = 0; i < left; i++)
		tmp[i]->share++;
}

/* How much to prefer giving up CUs next to CU @cu (-1 or cus: an edge). */
static int release_score(const struct fs_gpu *gs, long cu)
{
	const struct fs_tenant *o;

	if (cu < 0 || cu >= (long)gs->cus)
		return 0;
	if (gs->owner[cu] < 0)
		return 3;
	o = gs->list[gs->owner[cu]];
	if (o->share > o->held)
		return 2;
	if (o->share < o->held)
		return 1;
	return 0;
}

static void set_range(uint64_t *mask, uint32_t start, uint32_t len)
{
	uint32_t cu;

	for (cu = start; cu < start + len; cu++)
		gpumux_policy_mask_set(mask, cu);
}

static int cmp_run_len(const void *a, const void *b)
{
	const struct fs_run *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return (x->start > y->start) - (x->start < y->start);
}

/* A shrinking tenant keeps @t->share of its CUs: its longest runs. */
static void keep_shrinking(const struct fs_gpu *gs, struct fs_tenant *t,
			   struct fs_run *runs)
{
	size_t n = mask_runs(t->cur, gs->cus, runs), i;
	uint32_t left = t->share;

	qsort(runs, n, sizeof(*runs), cmp_run_len);
	for (i = 0; i < n && left; i++) {
		uint32_t s = runs[i].start, e = s + runs[i].len;

		if (runs[i].len <= left) {
			set_range(t->mask, s, runs[i].len);
			left -= runs[i].len;
			continue;
		}
		/* Give up the end with the better neighbour. */
		if (release_score(gs, (long)e) >=
		    release_score(gs, (long)s - 1))
			set_range(t->mask, s, left);
		else
			set_range(t->mask, e - left, left);
		left = 0;
	}
}

static bool is_free(const struct fs_gpu *gs, long cu)
{
	return cu >= 0 && cu < (long)gs->cus &&
	       !gpumux_policy_mask_test(gs->taken, (unsigned int)cu);
}

static void take(struct fs_gpu *gs, struct fs_tenant *t, uint32_t cu)
{
	gpumux_policy_mask_set(gs->taken, cu);
	gpumux_policy_mask_set(t->mask, cu);
	t->need--;
}

/* Is a free run of @len better than the best so far (@best, 0: none)? */
static bool better_fit(uint32_t len, uint32_t best, uint32_t need)
{
	if (!len)
		return false;
	if (!best)
		return true;
	if (len >= need)
		return best < need || len < best;
	return best < need && len > best;
}

/* Extends @t's runs into adjacent free CUs, best fit first. */
static void grow_adjacent(struct fs_gpu *gs, struct fs_tenant *t,
			  struct fs_run *runs)
{
	while (t->need) {
		size_t n = mask_runs(t->mask, gs->cus, runs), i;
		uint32_t best = 0, edge = 0;
		bool up = false;

		for (i = 0; i < n; i++) {
			uint32_t s = runs[i].start, e = s + runs[i].len;
			uint32_t below = 0, above = 0;

			while (is_free(gs, (long)s - 1 - below))
				below++;
			while (is_free(gs, (long)e + above))
				above++;
			if (better_fit(below, best, t->need)) {
				best = below;
				edge = s;
				up = false;
			}
			if (better_fit(above, best, t->need)) {
				best = above;
				edge = e;
				up = true;
			}
		}
		if (!best)
			return;
		if (best > t->need)
			best = t->need;
		for (i = 0; i < best; i++)
			take(gs, t,
			     up ? edge + (uint32_t)i : edge - 1 - (uint32_t)i);
	}
}

/* Gives @t what it still needs from the free runs, best fit first. */
static void grow_anywhere(struct fs_gpu *gs, struct fs_tenant *t,
			  struct fs_run *runs)
{
	while (t->need) {
		uint64_t free_mask[WORDS];
		size_t n, i, best = 0;
		uint32_t len, cu;

		for (i = 0; i < WORDS; i++)
			free_mask[i] = ~gs->taken[i];
		n = mask_runs(free_mask, gs->cus, runs);
		if (!n)
			return; /* cannot happen: shares fit */
		for (i = 1; i < n; i++)
			if (better_fit(runs[i].len, runs[best].len, t->need))
				best = i;
		len = runs[best].len < t->need ? runs[best].len : t->need;
		for (cu = runs[best].start; cu < runs[best].start + len; cu++)
			take(gs, t, cu);
	}
}

/* Phase 2 order: need (descending), id. */
static int cmp_need(const void *a, const void *b)
{
	const struct fs_tenant *x = *(struct fs_tenant *const *)a;
	const struct fs_tenant *y = *(struct fs_tenant *const *)b;

	if (x->need != y->need)
		return x->need > y->need ? -1 : 1;
	return cmp_id(x, y);
}

/* Lays out the masks of the tenants on @gs; @tmp has room for gs->n. */
static void layout(struct fs_gpu *gs, struct fs_tenant **tmp)
{
	struct fs_run runs[GPUMUX_POLICY_MAX_CUS / 2 + 1];
	size_t i, k = 0;
	uint32_t cu;

	/* Who holds what now: the lowest id wins a CU claimed twice. */
	for (cu = 0; cu < gs->cus; cu++)
		gs->owner[cu] = -1;
	for (i = 0; i < gs->n; i++) {
		struct fs_tenant *t = gs->list[i];

		memset(t->cur, 0, sizeof(t->cur));
		memset(t->mask, 0, sizeof(t->mask));
		if (t->part)
			for (cu = 0; cu < gs->cus; cu++)
				if (gs->owner[cu] < 0 &&
				    gpumux_policy_mask_test(t->part->mask,
							    cu)) {
					gs->owner[cu] = (int32_t)i;
					gpumux_policy_mask_set(t->cur, cu);
				}
		t->held = gpumux_policy_mask_count(t->cur);
	}

	compute_shares(gs, tmp);

	/* Keep. */
	memset(gs->taken, 0, sizeof(gs->taken));
	for (i = 0; i < gs->n; i++) {
		struct fs_tenant *t = gs->list[i];
		unsigned int w;

		if (t->held <= t->share)
			memcpy(t->mask, t->cur, sizeof(t->mask));
		else
			keep_shrinking(gs, t, runs);
		for (w = 0; w < WORDS; w++)
			gs->taken[w] |= t->mask[w];
		t->need = t->share - gpumux_policy_mask_count(t->mask);
	}

	/* Grow next to what is kept, then anywhere. */
	for (i = 0; i < gs->n; i++)
		if (gs->list[i]->need)
			grow_adjacent(gs, gs->list[i], runs);
	for (i = 0; i < gs->n; i++)
		if (gs->list[i]->need)
			tmp[k++] = gs->list[i];
	qsort(tmp, k, sizeof(*tmp), cmp_need);
	for (i = 0; i < k; i++)
		grow_anywhere(gs, tmp[i], runs);
}

static int fairshare_plan(struct gpumux_policy *pol,
			  const struct gpumux_policy_input *in,
			  struct gpumux_policy_output *out)
{
	size_t n = in->nr_tenants, i, g, nr_release = 0, o;
	struct fs_tenant *ft;
	struct fs_tenant **tmp;
	struct fs_gpu *gs;
	int ret;

	(void)pol;
	ft = calloc(n + 1, sizeof(*ft));
	tmp = calloc(2 * n + 1, sizeof(*tmp)); /* a GPU's list, scratch */
	gs = calloc(1, sizeof(*gs));
	if (!ft || !tmp || !gs) {
		ret = -ENOMEM;
		goto out_free;
	}

	for (i = 0; i < n; i++) {
		ft[i].t = &in->tenants[i];
		ft[i].idx = i;
		ft[i].home = -1;
	}
	qsort(ft, n, sizeof(*ft), cmp_id);

	/* Where each tenant holds the most CUs now. */
	for (i = 0; i < in->nr_parts; i++) {
		const struct gpumux_policy_part *p = &in->parts[i];
		struct fs_tenant *t = find_tenant(ft, n, p->tenant_id);
		uint32_t c = gpumux_policy_mask_count(p->mask);
		int gi = gpu_index(in, p->gpu_id);

		if (t->home < 0 || c > t->home_cus ||
		    (c == t->home_cus && p->gpu_id < in->gpus[t->home].id)) {
			t->home = gi;
			t->home_cus = c;
		}
	}

	ret = place(in, ft, n, tmp);
	if (ret)
		goto out_free;

	for (i = 0; i < in->nr_parts; i++) {
		const struct gpumux_policy_part *p = &in->parts[i];
		struct fs_tenant *t = find_tenant(ft, n, p->tenant_id);

		if (gpu_index(in, p->gpu_id) == t->gpu)
			t->part = p;
		else if (!mask_empty(p->mask))
			nr_release++;
	}
	if (nr_release + n > out->max_parts) {
		ret = -ENOSPC;
		goto out_free;
	}

	for (g = 0; g < in->nr_gpus; g++) {
		gs->cus = in->gpus[g].cus;
		gs->list = tmp;
		gs->n = 0;
		for (i = 0; i < n; i++)
			if (ft[i].gpu == (int)g)
				tmp[gs->n++] = &ft[i];
		if (gs->n)
			layout(gs, tmp + n);
	}

	/* Nothing failed: write the output. */
	o = 0;
	for (i = 0; i < in->nr_parts; i++) {
		const struct gpumux_policy_part *p = &in->parts[i];
		struct fs_tenant *t = find_tenant(ft, n, p->tenant_id);
		struct gpumux_policy_part *q = &out->parts[o];

		if (t->part == p || mask_empty(p->mask))
			continue;
		memset(q, 0, sizeof(*q));
		q->tenant_id = p->tenant_id;
		q->gpu_id = p->gpu_id;
		q->flags = p->flags;
		o++;
	}
	for (i = 0; i < n; i++) {
		const struct fs_tenant *t = &ft[i];
		struct gpumux_policy_part *q = &out->parts[o + t->idx];

		memset(q, 0, sizeof(*q));
		q->tenant_id = t->t->id;
		q->gpu_id = in->gpus[t->gpu].id;
		q->flags = GPUMUX_POLICY_EXCLUSIVE;
		memcpy(q->mask, t->mask, sizeof(q->mask));
		q->cus = gpumux_policy_mask_count(q->mask);
	}
	out->nr_parts = o + n;
	ret = 0;

out_free:
	free(gs);
	free(tmp);
	free(ft);
	return ret;
}

const struct gpumux_policy_ops gpumux_policy_fairshare_ops = {
	.name = "fairshare",
	.description = "CUs by weight, with minimums and caps, contiguous",
	.plan = fairshare_plan,
};
