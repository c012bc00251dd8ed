/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxd policies: who gets which compute units.
 *
 * A policy is pure logic.  It reads a snapshot of the GPUs, the tenants and
 * their current partitions (struct gpumux_policy_input) and writes the
 * target partitions (struct gpumux_policy_output).  It does no I/O, makes
 * no system calls (it may allocate memory), keeps no global state and is
 * deterministic: the same input always gives the same output.  gpumuxd
 * applies the output through the module's revoke/ack/deadline protocol
 * (GPUMUX_CMD_PART_SET); the simulator in bench/ drives the same code.
 *
 * Policies are backends behind an ops table, looked up by name:
 *
 *	struct gpumux_policy pol;
 *	int ret = gpumux_policy_init(&pol, "fairshare");
 *	...
 *	ret = gpumux_policy_plan(&pol, &in, &out);
 *	...
 *	gpumux_policy_fini(&pol);
 *
 * Every function returning int returns 0 or a negative errno.
 */
#ifndef GPUMUX_DAEMON_POLICY_H
#define GPUMUX_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; the CU ones equal the module's (checked in policy.c). */
#define GPUMUX_POLICY_MAX_CUS 1024 /* CUs per GPU */
#define GPUMUX_POLICY_MASK_WORDS (GPUMUX_POLICY_MAX_CUS / 64)
#define GPUMUX_POLICY_MAX_GPUS 64 /* GPUs in one input */
#define GPUMUX_POLICY_MAX_TENANTS 65536 /* tenants in one input */
#define GPUMUX_POLICY_MAX_WEIGHT 65535 /* weights are 1..this */

/* Partition flags, the same values as the module's GPUMUX_PART_*. */
#define GPUMUX_POLICY_EXCLUSIVE 0 /* no other tenant holds these CUs */
#define GPUMUX_POLICY_SHARED (1U << 0) /* may overlap other shared ones */

/* A GPU. */
struct gpumux_policy_gpu {
	uint32_t id; /* > 0, unique in the input (the module's gpu_id) */
	uint32_t cus; /* CUs 0..cus-1 exist: 1..GPUMUX_POLICY_MAX_CUS */
};

/* A tenant and what it asked for. */
struct gpumux_policy_tenant {
	uint32_t id; /* > 0, unique in the input (the module's tenant_id) */
	uint32_t weight; /* share of the CUs, 1..GPUMUX_POLICY_MAX_WEIGHT */
	uint32_t min_cus; /* guaranteed CUs on its GPU; <= max_cus */
	/* Cap on its GPU, as the module's: 0 none at all, > cus no cap. */
	uint32_t max_cus;
	uint32_t preferred_gpu; /* a GPU id it must run on, or 0: any GPU */
	uint32_t reserved; /* must be zero */
};

/*
 * A partition: the CUs one tenant holds (input) or is to hold (output) on
 * one GPU.  Bit n of @mask (word n / 64, bit n % 64) is CU n.
 */
struct gpumux_policy_part {
	uint32_t tenant_id;
	uint32_t gpu_id;
	uint32_t flags; /* GPUMUX_POLICY_EXCLUSIVE or GPUMUX_POLICY_SHARED */
	uint32_t cus; /* output: CUs set in @mask; ignored on input */
	uint64_t mask[GPUMUX_POLICY_MASK_WORDS];
};

/*
 * What a policy plans from.  @parts are the current partitions (the
 * module's target masks), at most one per (tenant, GPU) pair, naming only
 * tenants and GPUs of this input, no CU at or past the GPU's count.  Parts
 * with empty masks may be passed: the tenant entries of the last output
 * (not its releases) are the best next input, as they also say where a
 * tenant with no CUs was placed.  An array may be NULL when its count is 0.
 */
struct gpumux_policy_input {
	const struct gpumux_policy_gpu *gpus;
	size_t nr_gpus; /* 0..GPUMUX_POLICY_MAX_GPUS */
	const struct gpumux_policy_tenant *tenants;
	size_t nr_tenants; /* 0..GPUMUX_POLICY_MAX_TENANTS */
	const struct gpumux_policy_part *parts;
	size_t nr_parts;
};

/*
 * What a policy plans: the caller's array of @max_parts entries, of which
 * the policy fills the first @nr_parts.  Each entry is a target mask for a
 * (tenant, GPU) pair; an empty mask releases that GPU.  A (tenant, GPU)
 * pair of the input that the output does not name keeps its partition.
 * An array of nr_tenants + nr_parts entries always suffices for the
 * policies here; the output never names a pair twice.
 */
struct gpumux_policy_output {
	struct gpumux_policy_part *parts;
	size_t max_parts;
	size_t nr_parts;
};

struct gpumux_policy;

/*
 * A policy backend.  @init and @fini may be NULL.  @plan gets an input that
 * gpumux_policy_validate() accepted and must leave @out untouched unless
 * it returns 0.
 */
struct gpumux_policy_ops {
	const char *name; /* what gpumux_policy_find() matches */
	const char *description; /* one line, for humans */
	int (*init)(struct gpumux_policy *pol);
	void (*fini)(struct gpumux_policy *pol);
	int (*plan)(struct gpumux_policy *pol,
		    const struct gpumux_policy_input *in,
		    struct gpumux_policy_output *out);
};

/* An instance of a policy; owned by its caller, set up by *_init(). */
struct gpumux_policy {
	const struct gpumux_policy_ops *ops;
	void *priv; /* the backend's own state, or NULL */
};

/*
 * gpumux_policy_find() - the backend called @name ("fairshare"), or NULL
 * when there is none (or @name is NULL).
 */
const struct gpumux_policy_ops *gpumux_policy_find(const char *name);

/*
 * gpumux_policy_nth() - the @n-th backend, from 0, or NULL past the last:
 * for listing them.
 */
const struct gpumux_policy_ops *gpumux_policy_nth(size_t n);

/*
 * gpumux_policy_init() - set up @pol as an instance of the backend @name.
 * Returns 0, -EINVAL (@pol or @name NULL), -ENOENT (no such backend), or
 * the backend's init error (-ENOMEM).  On error @pol needs no fini.
 */
int gpumux_policy_init(struct gpumux_policy *pol, const char *name);

/* gpumux_policy_fini() - release @pol; it may be set up again. */
void gpumux_policy_fini(struct gpumux_policy *pol);

/*
 * gpumux_policy_validate() - check @in against the rules every policy
 * relies on (see the structs above).  Returns 0, -EINVAL (NULL array with
 * a count, id 0 or repeated, cus 0 or too many, weight 0 or too big,
 * min_cus > max_cus, reserved field set, unknown flags, a part naming an
 * unknown tenant or GPU or a pair twice, a CU at or past the GPU's count),
 * -E2BIG (more GPUs or tenants than the limits), -ENOENT (a preferred GPU
 * not in the input), -ENOMEM.
 */
int gpumux_policy_validate(const struct gpumux_policy_input *in);

/*
 * gpumux_policy_plan() - validate @in, then let @pol's backend plan the
 * target partitions into @out.  On error @out is unchanged.  Returns 0,
 * gpumux_policy_validate()'s errors, -EINVAL also for @pol, @in or @out
 * NULL, an input the backend finds infeasible (fairshare: the minimums do
 * not fit), -ENOSPC (@out->max_parts too small), -ENOMEM.
 */
int gpumux_policy_plan(struct gpumux_policy *pol,
		       const struct gpumux_policy_input *in,
		       struct gpumux_policy_output *out);

/* Bitmap helpers for struct gpumux_policy_part masks. */
static inline bool gpumux_policy_mask_test(const uint64_t *mask,
					   unsigned int cu)
{
	return (mask[cu / 64] >> (cu % 64)) & 1;
}

static inline void gpumux_policy_mask_set(uint64_t *mask, unsigned int cu)
{
	mask[cu / 64] |= 1ULL << (cu % 64);
}

static inline void gpumux_policy_mask_clear(uint64_t *mask, unsigned int cu)
{
	mask[cu / 64] &= ~(1ULL << (cu % 64));
}

static inline unsigned int gpumux_policy_mask_count(const uint64_t *mask)
{
	unsigned int i, n = 0;

	for (i = 0; i < GPUMUX_POLICY_MASK_WORDS; i++)
		n += (unsigned int)__builtin_popcountll(mask[i]);
	return n;
}

/* The backends, for gpumux_policy_find(). */
extern const struct gpumux_policy_ops gpumux_policy_fairshare_ops;

#endif /* GPUMUX_DAEMON_POLICY_H */
