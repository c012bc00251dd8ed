/* SPDX-License-Identifier: GPL-2.0 */
/* gpumux-engine internals: shared by the engine's own .c files only. */
#ifndef GPUMUX_ENGINE_INTERNAL_H
#define GPUMUX_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "engine.h"

/* Weights, all pointing into the mapped checkpoint. */
struct gme_weights {
	const float *token_embedding; /* (vocab_size, dim) */
	const float *rms_att; /* (n_layers, dim) */
	const float *wq; /* (n_layers, dim, dim) */
	const float *wk; /* (n_layers, kv_dim, dim) */
	const float *wv; /* (n_layers, kv_dim, dim) */
	const float *wo; /* (n_layers, dim, dim) */
	const float *rms_ffn; /* (n_layers, dim) */
	const float *w1; /* (n_layers, hidden_dim, dim) */
	const float *w2; /* (n_layers, dim, hidden_dim) */
	const float *w3; /* (n_layers, hidden_dim, dim) */
	const float *rms_final; /* (dim) */
	const float *wcls; /* (vocab_size, dim) */
};

struct gme_model {
	struct gme_config config;
	struct gme_weights w;
	void *map; /* the whole file, read-only */
	size_t map_size;
};

/* ---- thread pool ------------------------------------------------------ */

/* fn(ctx, task, tid): tid in [0, n_threads), 0 is the calling thread */
typedef void (*gme_task_fn)(void *ctx, int task, int tid);

struct gme_pool {
	int n_threads; /* including the caller */
	pthread_t *threads; /* (n_threads - 1) workers */
	pthread_mutex_t lock; /* protects gen, active, stop, fn, ctx */
	pthread_cond_t wake; /* gen changed or stop */
	pthread_cond_t done; /* active dropped to 0 */
	unsigned long gen;
	int active; /* workers still in the current region */
	bool stop;
	gme_task_fn fn;
	void *ctx;
	int n_tasks;
	atomic_int next; /* next task to hand out */
};

int gme_pool_init(struct gme_pool *p, int n_threads);
void gme_pool_destroy(struct gme_pool *p);
/* Run fn over tasks [0, n_tasks); serial when parallel is false. */
void gme_pool_run(struct gme_pool *p, gme_task_fn fn, void *ctx, int n_tasks,
		  bool parallel);

/* ---- paged KV cache --------------------------------------------------- */

struct gme_kv {
	float *pool; /* per block: K of each layer, (kv_dim, block_size),
		      * i.e. transposed, so attention scores of consecutive
		      * positions are SIMD lanes; then V of each layer,
		      * (block_size, kv_dim) */
	bool owned; /* pool allocated by us */
	int32_t n_blocks;
	int32_t block_size;
	int32_t n_layers;
	int32_t kv_dim;
	size_t block_floats; /* 2 * n_layers * block_size * kv_dim */
	int32_t *free_list; /* (n_blocks) stack of free block ids */
	int32_t n_free;
};

int gme_kv_init(struct gme_kv *kv, const struct gme_config *c,
		int32_t block_size, int32_t n_blocks, void *pool,
		size_t pool_size);
void gme_kv_destroy(struct gme_kv *kv);
int32_t gme_kv_alloc(struct gme_kv *kv); /* -1 when none is free */
void gme_kv_release(struct gme_kv *kv, int32_t block);

/* K of a layer in a block: element (c, off) at [c * block_size + off] */
static inline float *gme_kv_keys(const struct gme_kv *kv, int32_t block,
				 int32_t layer)
{
	return kv->pool + (size_t)block * kv->block_floats +
	       (size_t)layer * kv->block_size * kv->kv_dim;
}

/* V of a layer at one position of a block: (kv_dim) */
static inline float *gme_kv_value(const struct gme_kv *kv, int32_t block,
				  int32_t layer, int32_t off)
{
	return kv->pool + (size_t)block * kv->block_floats +
	       ((size_t)(kv->n_layers + layer) * kv->block_size + off) *
		       kv->kv_dim;
}

/* ---- forward pass ----------------------------------------------------- */

/* For the top-p sort. */
struct gme_prob {
	float prob;
	int32_t index;
};

struct gme_kernels; /* forward.c */

/*
 * Buffers for one step of at most max_rows tokens from at most max_seqs
 * requests.  Allocated once by gme_engine_create().
 */
struct gme_run_state {
	float *x; /* (max_rows, dim) residual stream */
	float *xb; /* (max_rows, dim) */
	float *xb2; /* (max_rows, dim) */
	float *hb; /* (max_rows, hidden_dim) */
	float *hb2; /* (max_rows, hidden_dim) */
	float *q; /* (max_rows, dim) */
	float *k; /* (max_rows, kv_dim) before it goes to KV */
	float *v; /* (max_rows, kv_dim) */
	float *att; /* (n_threads, n_heads, seq_len) scores per thread */
	float *xt; /* (ceil(max_rows / GME_LANES), max(dim, hidden_dim),
		    * GME_LANES) a matmul's input rows, transposed in
		    * groups of GME_LANES rows (zero padded) */
	float *xf; /* (max_seqs, dim) rows that need logits */
	float *logits; /* (max_seqs, vocab_size) */
	struct gme_prob *probindex; /* (vocab_size) top-p scratch */
	float *rope_cos; /* (seq_len, head_size / 2) */
	float *rope_sin; /* (seq_len, head_size / 2) */
	/* the batch of one step */
	int32_t *row_token; /* (max_rows) */
	int32_t *row_pos; /* (max_rows) */
	const int32_t **row_blocks; /* (max_rows) block table of its request */
	int32_t *out_rows; /* (max_seqs) rows whose logits are wanted */
	int32_t n_rows;
	int32_t n_out;
	const struct gme_kernels *kern; /* gme_forward_set_isa() */
	void (*expf_n)(float *x, int32_t n); /* expf() in place, SIMD */
};

/* ---- requests and the engine ------------------------------------------ */

struct gme_request {
	uint64_t id;
	struct gme_request *prev, *next; /* in the waiting queue */
	struct gme_request *all_next; /* every request, by id */
	int32_t *tokens; /* (seq_len) prompt, then generated tokens */
	int32_t n_prompt;
	int32_t n_tokens;
	int32_t n_computed; /* tokens whose K/V are in blocks[] */
	int32_t *blocks; /* (max_blocks_per_seq) block table */
	int32_t n_blocks;
	uint64_t rng_state;
	struct gme_sampling_params sp;
	enum gme_finish_reason finish;
	bool running;
	bool waiting;
	int32_t n_preemptions;
	int32_t step_chunk; /* tokens scheduled in the current step */
};

struct gme_engine {
	struct gme_model *model;
	struct gme_engine_params params;
	struct gme_pool pool;
	struct gme_kv kv;
	struct gme_run_state s;
	int32_t max_rows; /* params.max_batch_tokens */
	int32_t max_blocks_per_seq; /* ceil(seq_len / block_size) */
	struct gme_request **running; /* (max_seqs) in admission order */
	int32_t n_running;
	struct gme_request *wait_head, *wait_tail;
	int32_t n_waiting;
	struct gme_request *all;
	uint64_t next_id;
	struct gme_request **sched; /* (max_seqs) batch of this step */
};

/*
 * Kernels of the forward pass.  Every choice gives bitwise the same
 * results (each output is the same sequential sum, only computed in
 * different SIMD lanes), so this is about speed only.  The batched matmul
 * puts GME_LANES batch rows side by side in SIMD lanes.
 */
#define GME_LANES 16

enum gme_isa {
	GME_ISA_BEST = -1, /* the widest this CPU runs (the default) */
	GME_ISA_SCALAR = 0, /* no SIMD: the plain loops */
	GME_ISA_VEC4, /* 4-wide generic vectors (SSE2 on x86-64) */
	GME_ISA_AVX2, /* x86-64 with AVX2 (no FMA: rounding as scalar) */
	GME_ISA_AVX512, /* x86-64 with AVX-512F */
	GME_ISA_COUNT
};

/*
 * gme_run_state_init() picks GME_ISA_BEST, or what the environment
 * variable GPUMUX_ENGINE_ISA names (gme_isa_name(): scalar, vec4, avx2,
 * avx512) when this CPU runs it: for tests and measurements.
 */
bool gme_forward_isa_runs(int isa);
/* 0, or -ENOTSUP when this CPU or build cannot run isa */
int gme_forward_set_isa(struct gme_run_state *s, int isa);
int gme_forward_isa(const struct gme_run_state *s);
const char *gme_isa_name(int isa);

void gme_forward(struct gme_engine *e);
int gme_run_state_init(struct gme_run_state *s, const struct gme_config *c,
		       int32_t max_rows, int32_t max_seqs, int n_threads);
void gme_run_state_free(struct gme_run_state *s);

int32_t gme_sample(float *logits, int32_t n, float temperature, float top_p,
		   uint64_t *rng_state, struct gme_prob *probindex);

void gme_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* GPUMUX_ENGINE_INTERNAL_H */
