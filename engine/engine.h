/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux-engine: reference CPU inference engine for llama2.c checkpoints.
 *
 * Public API in the style of llama.cpp's llama.h: opaque handles,
 * gme_*_default_params() returning a struct, gme_<object>_<verb> names.
 * Every function returning int returns 0 (or a count) on success and a
 * negative errno on failure; nothing here calls exit().  Functions taking
 * (err, errlen) write a one-line human readable reason there on failure.
 *
 * See engine/README.md for the design.
 */
#ifndef GPUMUX_ENGINE_H
#define GPUMUX_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GME_TOKEN_BOS 1
#define GME_TOKEN_EOS 2

/* Hyperparameters of a checkpoint (the llama2.c "v0" header). */
struct gme_config {
	int32_t dim; /* transformer width */
	int32_t hidden_dim; /* FFN width */
	int32_t n_layers;
	int32_t n_heads; /* query heads */
	int32_t n_kv_heads; /* key/value heads (< n_heads: GQA) */
	int32_t vocab_size; /* always positive here */
	int32_t seq_len; /* maximum sequence length */
	int32_t shared_classifier; /* 1: wcls is the token embedding */
};

struct gme_model;
struct gme_tokenizer;
struct gme_engine;

/* ---- model ------------------------------------------------------------ */

/*
 * Map a llama2.c v0 checkpoint.  Returns 0, -errno from open/mmap,
 * -EINVAL for a malformed header or a file whose size does not match it,
 * -EOVERFLOW for dimensions whose sizes overflow.
 */
int gme_model_load(const char *path, struct gme_model **out, char *err,
		   size_t errlen);
void gme_model_free(struct gme_model *m);
const struct gme_config *gme_model_config(const struct gme_model *m);

/* ---- tokenizer -------------------------------------------------------- */

/*
 * Load a llama2.c tokenizer.bin holding exactly vocab_size tokens.
 * Returns 0, -errno from open/read, -EINVAL for a malformed file.
 */
int gme_tokenizer_load(const char *path, int32_t vocab_size,
		       struct gme_tokenizer **out, char *err, size_t errlen);
void gme_tokenizer_free(struct gme_tokenizer *t);
int32_t gme_tokenizer_vocab_size(const struct gme_tokenizer *t);

/*
 * BPE-encode text as llama2.c does (dummy space prefix, byte fallback
 * <0xXX> tokens, merges by score).  Writes at most max_tokens ids; returns
 * the number of tokens, -ENOSPC if max_tokens is too small (strlen(text)
 * + 3 is always enough), -EINVAL for bad arguments, -ENOMEM.
 */
int gme_tokenizer_encode(const struct gme_tokenizer *t, const char *text,
			 bool bos, bool eos, int32_t *tokens,
			 int32_t max_tokens);

/*
 * The text of token after prev_token (a leading space after BOS is dropped,
 * <0xXX> becomes the byte).  NULL for an out of range token.  The string is
 * owned by the tokenizer.
 */
const char *gme_tokenizer_decode(const struct gme_tokenizer *t,
				 int32_t prev_token, int32_t token);

/* ---- engine ----------------------------------------------------------- */

enum gme_finish_reason {
	GME_FINISH_NONE = 0, /* still running or waiting */
	GME_FINISH_LENGTH, /* max_new_tokens generated */
	GME_FINISH_STOP, /* BOS token sampled (llama2.c's delimiter) */
	GME_FINISH_SEQ_LEN, /* the model's seq_len reached */
};

struct gme_engine_params {
	int n_threads; /* <= 0: all online cores */
	int max_threads; /* most gme_engine_set_threads() may set;
				 * <= n_threads: n_threads */
	int32_t block_size; /* tokens per KV block */
	int32_t n_blocks; /* KV blocks; 0: from kv_pool_size, or
				 * enough for max_seqs full sequences */
	void *kv_pool; /* NULL: allocated by the engine */
	size_t kv_pool_size; /* bytes at kv_pool (float aligned) */
	int32_t max_batch_tokens; /* token budget per step (chunk size) */
	int32_t max_seqs; /* requests running at once */
	int64_t min_parallel_work; /* MACs below which a region is serial */
	/* called from gme_engine_step() for every sampled token */
	void (*on_token)(void *user, uint64_t id, int32_t token,
			 enum gme_finish_reason finished);
	/* optional: the raw logits (vocab_size) each token is sampled from,
	 * called just before sampling (for logprobs; tests hash them) */
	void (*on_logits)(void *user, uint64_t id, const float *logits,
			  int32_t n);
	void *user;
};

struct gme_sampling_params {
	float temperature; /* 0: greedy */
	float top_p; /* in (0, 1) enables nucleus sampling */
	uint64_t seed; /* xorshift state; 0 picks a fixed seed */
	int32_t max_new_tokens;
};

struct gme_engine_params gme_engine_default_params(void);
struct gme_sampling_params gme_sampling_default_params(void);

/* Bytes of one KV block of block_size tokens for model m. */
size_t gme_kv_block_bytes(const struct gme_model *m, int32_t block_size);

/*
 * Create an engine over model m (which must outlive it).  Returns 0,
 * -EINVAL for bad params (e.g. a kv_pool too small for one sequence),
 * -ENOMEM.
 */
int gme_engine_create(struct gme_model *m,
		      const struct gme_engine_params *params,
		      struct gme_engine **out, char *err, size_t errlen);
void gme_engine_free(struct gme_engine *e);

/*
 * Queue a request.  The prompt (at least one token, e.g. BOS) is copied.
 * Returns 0 and the request id in *id; -EINVAL for bad tokens/params,
 * -E2BIG if the prompt leaves no room in seq_len, -ENOSPC if the request
 * could never fit in the KV pool, -ENOMEM.
 */
int gme_engine_submit(struct gme_engine *e, const int32_t *prompt,
		      int32_t n_prompt, const struct gme_sampling_params *sp,
		      uint64_t *id);

struct gme_step_stats {
	int32_t n_rows; /* tokens computed in this step */
	int32_t n_seqs; /* requests in the batch */
	int32_t n_sampled; /* tokens sampled */
	int32_t n_admitted; /* requests moved from waiting to running */
	int32_t n_preempted; /* requests preempted (recompute) */
	int32_t n_running; /* after the step */
	int32_t n_waiting; /* after the step */
	int32_t kv_used; /* blocks in use after the step */
	int32_t kv_total;
};

/*
 * Run one iteration over the batch.  Returns the number of unfinished
 * requests (running + waiting) after it.  Never allocates.
 */
int gme_engine_step(struct gme_engine *e, struct gme_step_stats *stats);

struct gme_request_info {
	uint64_t id;
	enum gme_finish_reason finish;
	bool running; /* holds KV blocks */
	int32_t n_prompt;
	int32_t n_generated;
	const int32_t *generated; /* valid until the next step/release */
	int32_t n_preemptions;
};

int gme_engine_request_info(const struct gme_engine *e, uint64_t id,
			    struct gme_request_info *info);
/* Forget a request (finished or not), freeing its KV blocks. */
int gme_engine_request_release(struct gme_engine *e, uint64_t id);

void gme_engine_kv_usage(const struct gme_engine *e, int32_t *used,
			 int32_t *total);

/*
 * Run the following steps with n_threads compute threads (the caller plus
 * n_threads - 1 workers), 1..max_threads.  Call it between steps only,
 * from the thread that steps (not concurrently with gme_engine_step()).
 * Workers beyond the new count are stopped and joined before it returns,
 * so a shrink has taken effect then.  Results do not depend on the count.
 * Returns 0, -EINVAL (out of range), -EAGAIN or -ENOMEM when threads could
 * not be started: the engine then runs with fewer (gme_engine_threads()),
 * at least 1.
 */
int gme_engine_set_threads(struct gme_engine *e, int n_threads);
/* The number of compute threads the engine runs with. */
int gme_engine_threads(const struct gme_engine *e);

/*
 * Per-request state as a plain, self-contained struct: what a migration
 * needs besides the KV blocks themselves.  data[] holds n_tokens token ids
 * then n_blocks block ids (block ids are only meaningful inside the
 * exporting engine's pool).
 */
#define GME_SEQ_STATE_MAGIC 0x676d6573u /* "gmes" */
#define GME_SEQ_STATE_VERSION 1u

struct gme_seq_state {
	uint32_t magic;
	uint32_t version;
	uint64_t id;
	uint64_t rng_state;
	float temperature;
	float top_p;
	int32_t max_new_tokens;
	int32_t n_prompt;
	int32_t n_tokens; /* prompt + generated */
	int32_t n_computed; /* tokens whose K/V are in the blocks */
	int32_t block_size;
	int32_t n_blocks;
	int32_t finish; /* enum gme_finish_reason */
	int32_t n_preemptions;
	int32_t data[];
};

size_t gme_seq_state_size(const struct gme_engine *e);

/* Copy request id's state into st (size bytes).  -ENOENT, -ENOSPC. */
int gme_engine_request_export(const struct gme_engine *e, uint64_t id,
			      struct gme_seq_state *st, size_t size);

/*
 * Queue a request from an exported state.  Its KV is recomputed (the
 * imported request re-prefills its tokens), which gives bitwise the same
 * continuation.  *id is the new request's id.
 */
int gme_engine_request_import(struct gme_engine *e,
			      const struct gme_seq_state *st, size_t size,
			      uint64_t *id);

#ifdef __cplusplus
}
#endif

#endif /* GPUMUX_ENGINE_H */
