// SPDX-License-Identifier: GPL-2.0
/*
 * Paged KV cache: a pool of fixed-size blocks, each holding block_size
 * positions of K and V for every layer, and a stack of free block ids.
 * The pool is either ours or memory handed in by the caller (later: a
 * gpumux pinned buffer shared with another instance for migration).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int gme_kv_init(struct gme_kv *kv, const struct gme_config *c,
		int32_t block_size, int32_t n_blocks, void *pool,
		size_t pool_size)
{
	size_t bytes;

	kv->block_size = block_size;
	kv->n_layers = c->n_layers;
	kv->kv_dim = c->dim / c->n_heads * c->n_kv_heads;
	kv->block_floats = (size_t)2 * c->n_layers * block_size * kv->kv_dim;
	if (pool) {
		if ((uintptr_t)pool % sizeof(float))
			return -EINVAL;
		if (!n_blocks) {
			bytes = pool_size / (kv->block_floats * sizeof(float));
			n_blocks = bytes > INT32_MAX ? INT32_MAX : bytes;
		}
		if (n_blocks <= 0)
			return -EINVAL;
		if ((uint64_t)n_blocks * kv->block_floats * sizeof(float) >
		    pool_size)
			return -EINVAL;
		kv->pool = pool;
		kv->owned = false;
	} else {
		if (n_blocks <= 0)
			return -EINVAL;
		if (__builtin_mul_overflow((size_t)n_blocks,
					   kv->block_floats * sizeof(float),
					   &bytes))
			return -EOVERFLOW;
		kv->pool = malloc(bytes ? bytes : 1);
		if (!kv->pool)
			return -ENOMEM;
		kv->owned = true;
	}
	kv->n_blocks = n_blocks;
	kv->free_list = malloc((size_t)n_blocks * sizeof(*kv->free_list));
	if (!kv->free_list)
		goto err;
	/* hand out low block ids first */
	for (int32_t i = 0; i < n_blocks; i++)
		kv->free_list[i] = n_blocks - 1 - i;
	kv->n_free = n_blocks;
	return 0;
err:
	if (kv->owned)
		free(kv->pool);
	kv->pool = NULL;
	return -ENOMEM;
}

void gme_kv_destroy(struct gme_kv *kv)
{
	if (kv->owned)
		free(kv->pool);
	kv->pool = NULL;
	free(kv->free_list);
	kv->free_list = NULL;
}

int32_t gme_kv_alloc(struct gme_kv *kv)
{
	if (!kv->n_free)
		return -1;
	return kv->free_list[--kv->n_free];
}

void gme_kv_release(struct gme_kv *kv, int32_t block)
{
	kv->free_list[kv->n_free++] = block;
}
