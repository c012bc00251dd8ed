// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd policies: the table of backends, lookup by name, and the input
 * checks every backend relies on.  Pure logic: see policy.h.
 */
#include "policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/gpumux.h>

_Static_assert(GPUMUX_POLICY_MAX_CUS == GPUMUX_MAX_CUS, "CUs per GPU");
_Static_assert(GPUMUX_POLICY_MASK_WORDS == GPUMUX_MASK_WORDS, "mask words");
_Static_assert(GPUMUX_POLICY_MAX_GPUS >= GPUMUX_MAX_GPUS, "GPUs");
_Static_assert(GPUMUX_POLICY_EXCLUSIVE == GPUMUX_PART_EXCLUSIVE, "flag");
_Static_assert(GPUMUX_POLICY_SHARED == GPUMUX_PART_SHARED, "flag");

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct gpumux_policy_ops *const backends[] = {
	&gpumux_policy_fairshare_ops,
};

const struct gpumux_policy_ops *gpumux_policy_nth(size_t n)
{
	return n < ARRAY_SIZE(backends) ? backends[n] : NULL;
}

const struct gpumux_policy_ops *gpumux_policy_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

int gpumux_policy_init(struct gpumux_policy *pol, const char *name)
{
	const struct gpumux_policy_ops *ops;
	int ret;

	if (!pol || !name)
		return -EINVAL;
	ops = gpumux_policy_find(name);
	if (!ops)
		return -ENOENT;
	pol->ops = ops;
	pol->priv = NULL;
	if (ops->init) {
		ret = ops->init(pol);
		if (ret) {
			pol->ops = NULL;
			return ret;
		}
	}
	return 0;
}

void gpumux_policy_fini(struct gpumux_policy *pol)
{
	if (!pol || !pol->ops)
		return;
	if (pol->ops->fini)
		pol->ops->fini(pol);
	pol->ops = NULL;
	pol->priv = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Index of GPU @id in @in, or -1. */
static int gpu_index(const struct gpumux_policy_input *in, uint32_t id)
{
	size_t i;

	for (i = 0; i < in->nr_gpus; i++)
		if (in->gpus[i].id == id)
			return (int)i;
	return -1;
}

/* Is @id in the sorted @ids[@n]? */
static bool has_id(const uint64_t *ids, size_t n, uint32_t id)
{
	uint64_t key = id;

	return n && bsearch(&key, ids, n, sizeof(*ids), cmp_u64);
}

/* No two equal values in the sorted @v[@n]. */
static bool all_distinct(const uint64_t *v, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return false;
	return true;
}

static int check_gpus(const struct gpumux_policy_input *in)
{
	size_t i, j;

	for (i = 0; i < in->nr_gpus; i++) {
		const struct gpumux_policy_gpu *g = &in->gpus[i];

		if (!g->id || !g->cus || g->cus > GPUMUX_POLICY_MAX_CUS)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (in->gpus[j].id == g->id)
				return -EINVAL;
	}
	return 0;
}

/* Sorts the tenant ids into @ids. */
static int check_tenants(const struct gpumux_policy_input *in, uint64_t *ids)
{
	size_t i;

	for (i = 0; i < in->nr_tenants; i++) {
		const struct gpumux_policy_tenant *t = &in->tenants[i];

		if (!t->id || !t->weight ||
		    t->weight > GPUMUX_POLICY_MAX_WEIGHT ||
		    t->min_cus > t->max_cus || t->reserved)
			return -EINVAL;
		if (t->preferred_gpu && gpu_index(in, t->preferred_gpu) < 0)
			return -ENOENT;
		ids[i] = t->id;
	}
	qsort(ids, in->nr_tenants, sizeof(*ids), cmp_u64);
	return all_distinct(ids, in->nr_tenants) ? 0 : -EINVAL;
}

/* @ids: the sorted tenant ids; @pairs: room for nr_parts keys. */
static int check_parts(const struct gpumux_policy_input *in,
		       const uint64_t *ids, uint64_t *pairs)
{
	size_t i;
	unsigned int w;

	for (i = 0; i < in->nr_parts; i++) {
		const struct gpumux_policy_part *p = &in->parts[i];
		uint32_t cus;
		int g;

		if (p->flags & ~GPUMUX_POLICY_SHARED)
			return -EINVAL;
		if (!has_id(ids, in->nr_tenants, p->tenant_id))
			return -EINVAL;
		g = gpu_index(in, p->gpu_id);
		if (g < 0)
			return -EINVAL;
		cus = in->gpus[g].cus;
		for (w = 0; w < GPUMUX_POLICY_MASK_WORDS; w++) {
			uint64_t valid;

			if (cus >= (w + 1) * 64)
				continue;
			valid = cus > w * 64 ? ~0ULL >> (64 - (cus - w * 64)) :
					       0;
			if (p->mask[w] & ~valid)
				return -EINVAL;
		}
		pairs[i] = (uint64_t)p->tenant_id << 32 | p->gpu_id;
	}
	qsort(pairs, in->nr_parts, sizeof(*pairs), cmp_u64);
	return all_distinct(pairs, in->nr_parts) ? 0 : -EINVAL;
}

int gpumux_policy_validate(const struct gpumux_policy_input *in)
{
	uint64_t *ids, *pairs;
	int ret;

	if (!in || (in->nr_gpus && !in->gpus) ||
	    (in->nr_tenants && !in->tenants) || (in->nr_parts && !in->parts))
		return -EINVAL;
	if (in->nr_gpus > GPUMUX_POLICY_MAX_GPUS ||
	    in->nr_tenants > GPUMUX_POLICY_MAX_TENANTS)
		return -E2BIG;
	/* Each tenant has at most one part per GPU. */
	if (in->nr_parts > in->nr_tenants * in->nr_gpus)
		return -EINVAL;
	ret = check_gpus(in);
	if (ret)
		return ret;

	ids = malloc((in->nr_tenants + in->nr_parts + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	pairs = ids + in->nr_tenants;
	ret = check_tenants(in, ids);
	if (!ret)
		ret = check_parts(in, ids, pairs);
	free(ids);
	return ret;
}

int gpumux_policy_plan(struct gpumux_policy *pol,
		       const struct gpumux_policy_input *in,
		       struct gpumux_policy_output *out)
{
	int ret;

	if (!pol || !pol->ops || !out || (out->max_parts && !out->parts))
		return -EINVAL;
	ret = gpumux_policy_validate(in);
	if (ret)
		return ret;
	return pol->ops->plan(pol, in, out);
}
