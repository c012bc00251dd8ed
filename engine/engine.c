// SPDX-License-Identifier: GPL-2.0
/*
 * The engine object and its scheduler: continuous batching with chunked
 * prefill under a per-step token budget, a FIFO waiting queue admitted by
 * free KV blocks, and preemption by recompute when the KV pool runs out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_SEED 0x9E3779B97F4A7C15ull

struct gme_engine_params gme_engine_default_params(void)
{
	return (struct gme_engine_params){
		.n_threads = 0,
		.block_size = 16,
		.n_blocks = 0,
		.max_batch_tokens = 256,
		.max_seqs = 32,
		.min_parallel_work = 1 << 18,
	};
}

struct gme_sampling_params gme_sampling_default_params(void)
{
	return (struct gme_sampling_params){
		.temperature = 0.0f,
		.top_p = 1.0f,
		.seed = DEFAULT_SEED,
		.max_new_tokens = 256,
	};
}

size_t gme_kv_block_bytes(const struct gme_model *m, int32_t block_size)
{
	const struct gme_config *c = &m->config;

	return (size_t)2 * c->n_layers * block_size *
	       (c->dim / c->n_heads * c->n_kv_heads) * sizeof(float);
}

static int32_t blocks_for(const struct gme_engine *e, int32_t tokens)
{
	return (tokens + e->kv.block_size - 1) / e->kv.block_size;
}

int gme_engine_create(struct gme_model *m,
		      const struct gme_engine_params *params,
		      struct gme_engine **out, char *err, size_t errlen)
{
	const struct gme_config *c = &m->config;
	struct gme_engine *e;
	struct gme_engine_params p = params ? *params :
					      gme_engine_default_params();
	int ret;

	*out = NULL;
	if (p.n_threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		p.n_threads = n > 0 ? (n > 256 ? 256 : n) : 1;
	}
	if (p.max_threads < p.n_threads)
		p.max_threads = p.n_threads;
	if (p.max_threads > 1024 || p.block_size <= 0 ||
	    p.block_size > c->seq_len || p.max_batch_tokens <= 0 ||
	    p.max_batch_tokens > (1 << 20) || p.max_seqs <= 0 ||
	    p.max_seqs > (1 << 16) || p.n_blocks < 0 ||
	    p.min_parallel_work < 0) {
		gme_seterr(err, errlen, "invalid engine parameters");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->model = m;
	e->max_rows = p.max_batch_tokens;
	e->max_blocks_per_seq = (c->seq_len + p.block_size - 1) / p.block_size;
	if (!p.n_blocks && !p.kv_pool) {
		int64_t nb = (int64_t)p.max_seqs * e->max_blocks_per_seq;

		p.n_blocks = nb > INT32_MAX ? INT32_MAX : nb;
	}
	e->params = p;
	e->next_id = 1;
	ret = gme_kv_init(&e->kv, c, p.block_size, p.n_blocks, p.kv_pool,
			  p.kv_pool_size);
	if (ret) {
		gme_seterr(
			err, errlen,
			"cannot set up the KV pool (%d blocks of %zu bytes, pool %zu bytes): %s",
			p.n_blocks, gme_kv_block_bytes(m, p.block_size),
			p.kv_pool_size, strerror(-ret));
		free(e);
		return ret;
	}
	e->running = calloc(p.max_seqs, sizeof(*e->running));
	e->sched = calloc(p.max_seqs, sizeof(*e->sched));
	if (!e->running || !e->sched)
		goto nomem_kv;
	/* per-thread buffers for as many threads as set_threads may ask */
	ret = gme_run_state_init(&e->s, c, e->max_rows, p.max_seqs,
				 p.max_threads);
	if (ret)
		goto nomem_kv;
	ret = gme_pool_init(&e->pool, p.n_threads);
	if (ret) {
		gme_run_state_free(&e->s);
		goto nomem_kv;
	}
	*out = e;
	return 0;

nomem_kv:
	free(e->running);
	free(e->sched);
	gme_kv_destroy(&e->kv);
	free(e);
nomem:
	gme_seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

static void request_free(struct gme_request *r)
{
	free(r->tokens);
	free(r->blocks);
	free(r);
}

void gme_engine_free(struct gme_engine *e)
{
	struct gme_request *r, *next;

	if (!e)
		return;
	for (r = e->all; r; r = next) {
		next = r->all_next;
		request_free(r);
	}
	gme_pool_destroy(&e->pool);
	gme_run_state_free(&e->s);
	gme_kv_destroy(&e->kv);
	free(e->running);
	free(e->sched);
	free(e);
}

int gme_engine_set_threads(struct gme_engine *e, int n_threads)
{
	int ret, n;

	if (!e || n_threads < 1 || n_threads > e->params.max_threads)
		return -EINVAL;
	if (n_threads == e->pool.n_threads)
		return 0;
	/*
	 * Between steps the pool is idle: stop every worker and start the
	 * new count.  Rare (partition changes), so simplicity wins over
	 * parking workers; joining them makes a shrink effective at once.
	 */
	gme_pool_destroy(&e->pool);
	ret = gme_pool_init(&e->pool, n_threads);
	/* gme_pool_init() cleans up after a failure: try fewer */
	for (n = n_threads / 2; ret && n >= 1; n /= 2)
		if (!gme_pool_init(&e->pool, n))
			break;
	if (ret && n < 1) {
		/* not even one: run serially (a pool of 1 has no workers) */
		e->pool.n_threads = 1;
		e->pool.threads = NULL;
	}
	e->params.n_threads = e->pool.n_threads;
	return ret;
}

int gme_engine_threads(const struct gme_engine *e)
{
	return e->pool.n_threads;
}

void gme_engine_kv_usage(const struct gme_engine *e, int32_t *used,
			 int32_t *total)
{
	*used = e->kv.n_blocks - e->kv.n_free;
	*total = e->kv.n_blocks;
}

/* ---- queues ----------------------------------------------------------- */

static void wait_push(struct gme_engine *e, struct gme_request *r, bool front)
{
	r->waiting = true;
	if (front) {
		r->prev = NULL;
		r->next = e->wait_head;
		if (e->wait_head)
			e->wait_head->prev = r;
		else
			e->wait_tail = r;
		e->wait_head = r;
	} else {
		r->next = NULL;
		r->prev = e->wait_tail;
		if (e->wait_tail)
			e->wait_tail->next = r;
		else
			e->wait_head = r;
		e->wait_tail = r;
	}
	e->n_waiting++;
}

static void wait_remove(struct gme_engine *e, struct gme_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		e->wait_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		e->wait_tail = r->prev;
	r->prev = r->next = NULL;
	r->waiting = false;
	e->n_waiting--;
}

static void release_blocks(struct gme_engine *e, struct gme_request *r)
{
	/* in reverse, so a re-admitted request gets the same ids back */
	while (r->n_blocks)
		gme_kv_release(&e->kv, r->blocks[--r->n_blocks]);
	r->n_computed = 0;
}

static void running_remove(struct gme_engine *e, int32_t i)
{
	struct gme_request *r = e->running[i];

	memmove(&e->running[i], &e->running[i + 1],
		(e->n_running - i - 1) * sizeof(*e->running));
	e->n_running--;
	r->running = false;
}

/* Preempt by recompute: drop the KV, keep the tokens, requeue in front. */
static void preempt(struct gme_engine *e, int32_t i)
{
	struct gme_request *r = e->running[i];

	running_remove(e, i);
	release_blocks(e, r);
	r->n_preemptions++;
	wait_push(e, r, true);
}

/* ---- requests --------------------------------------------------------- */

static struct gme_request *find(const struct gme_engine *e, uint64_t id)
{
	struct gme_request *r;

	for (r = e->all; r; r = r->all_next)
		if (r->id == id)
			return r;
	return NULL;
}

static int check_sampling(const struct gme_sampling_params *sp)
{
	if (!(sp->temperature >= 0.0f && sp->temperature <= 1e6f) ||
	    !(sp->top_p >= 0.0f && sp->top_p <= 1.0f) || sp->max_new_tokens < 0)
		return -EINVAL;
	return 0;
}

static struct gme_request *request_new(struct gme_engine *e)
{
	const struct gme_config *c = &e->model->config;
	struct gme_request *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->tokens = calloc(c->seq_len, sizeof(*r->tokens));
	r->blocks = calloc(e->max_blocks_per_seq, sizeof(*r->blocks));
	if (!r->tokens || !r->blocks) {
		request_free(r);
		return NULL;
	}
	r->id = e->next_id++;
	return r;
}

static void request_add(struct gme_engine *e, struct gme_request *r)
{
	r->all_next = e->all;
	e->all = r;
	wait_push(e, r, false);
}

/* tokens the request will ever hold in KV: all but the last one sampled */
static int32_t max_kv_tokens(const struct gme_engine *e,
			     const struct gme_request *r)
{
	int64_t n = (int64_t)r->n_prompt + r->sp.max_new_tokens - 1;

	if (n > e->model->config.seq_len - 1)
		n = e->model->config.seq_len - 1;
	return n < r->n_tokens ? r->n_tokens : n;
}

int gme_engine_submit(struct gme_engine *e, const int32_t *prompt,
		      int32_t n_prompt, const struct gme_sampling_params *sp,
		      uint64_t *id)
{
	const struct gme_config *c = &e->model->config;
	struct gme_sampling_params def = gme_sampling_default_params();
	struct gme_request *r;

	if (!sp)
		sp = &def;
	if (!prompt || n_prompt <= 0 || check_sampling(sp))
		return -EINVAL;
	if (n_prompt >= c->seq_len)
		return -E2BIG;
	for (int32_t i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || prompt[i] >= c->vocab_size)
			return -EINVAL;
	r = request_new(e);
	if (!r)
		return -ENOMEM;
	memcpy(r->tokens, prompt, n_prompt * sizeof(*prompt));
	r->n_prompt = r->n_tokens = n_prompt;
	r->sp = *sp;
	r->rng_state = sp->seed ? sp->seed : DEFAULT_SEED;
	if (blocks_for(e, max_kv_tokens(e, r)) > e->kv.n_blocks) {
		request_free(r);
		e->next_id--;
		return -ENOSPC;
	}
	if (!sp->max_new_tokens)
		r->finish = GME_FINISH_LENGTH;
	request_add(e, r);
	if (r->finish)
		wait_remove(e, r);
	*id = r->id;
	return 0;
}

int gme_engine_request_info(const struct gme_engine *e, uint64_t id,
			    struct gme_request_info *info)
{
	const struct gme_request *r = find(e, id);

	if (!r)
		return -ENOENT;
	info->id = r->id;
	info->finish = r->finish;
	info->running = r->running;
	info->n_prompt = r->n_prompt;
	info->n_generated = r->n_tokens - r->n_prompt;
	info->generated = r->tokens + r->n_prompt;
	info->n_preemptions = r->n_preemptions;
	return 0;
}

int gme_engine_request_release(struct gme_engine *e, uint64_t id)
{
	struct gme_request **pp, *r;

	for (pp = &e->all; *pp; pp = &(*pp)->all_next)
		if ((*pp)->id == id)
			break;
	r = *pp;
	if (!r)
		return -ENOENT;
	if (r->running) {
		for (int32_t i = 0; i < e->n_running; i++)
			if (e->running[i] == r)
				running_remove(e, i);
	}
	if (r->waiting)
		wait_remove(e, r);
	release_blocks(e, r);
	*pp = r->all_next;
	request_free(r);
	return 0;
}

size_t gme_seq_state_size(const struct gme_engine *e)
{
	return sizeof(struct gme_seq_state) +
	       ((size_t)e->model->config.seq_len + e->max_blocks_per_seq) *
		       sizeof(int32_t);
}

int gme_engine_request_export(const struct gme_engine *e, uint64_t id,
			      struct gme_seq_state *st, size_t size)
{
	const struct gme_request *r = find(e, id);

	if (!r)
		return -ENOENT;
	if (size <
	    sizeof(*st) + ((size_t)r->n_tokens + r->n_blocks) * sizeof(int32_t))
		return -ENOSPC;
	*st = (struct gme_seq_state){
		.magic = GME_SEQ_STATE_MAGIC,
		.version = GME_SEQ_STATE_VERSION,
		.id = r->id,
		.rng_state = r->rng_state,
		.temperature = r->sp.temperature,
		.top_p = r->sp.top_p,
		.max_new_tokens = r->sp.max_new_tokens,
		.n_prompt = r->n_prompt,
		.n_tokens = r->n_tokens,
		.n_computed = r->n_computed,
		.block_size = e->kv.block_size,
		.n_blocks = r->n_blocks,
		.finish = r->finish,
		.n_preemptions = r->n_preemptions,
	};
	memcpy(st->data, r->tokens, r->n_tokens * sizeof(int32_t));
	memcpy(st->data + r->n_tokens, r->blocks,
	       r->n_blocks * sizeof(int32_t));
	return 0;
}

int gme_engine_request_import(struct gme_engine *e,
			      const struct gme_seq_state *st, size_t size,
			      uint64_t *id)
{
	const struct gme_config *c = &e->model->config;
	struct gme_request *r;

	if (size < sizeof(*st) || st->magic != GME_SEQ_STATE_MAGIC ||
	    st->version != GME_SEQ_STATE_VERSION || st->n_prompt <= 0 ||
	    st->n_tokens < st->n_prompt || st->n_tokens > c->seq_len ||
	    st->n_blocks < 0 || st->finish < GME_FINISH_NONE ||
	    st->finish > GME_FINISH_SEQ_LEN ||
	    size < sizeof(*st) + ((size_t)st->n_tokens + st->n_blocks) *
					 sizeof(int32_t))
		return -EINVAL;
	r = request_new(e);
	if (!r)
		return -ENOMEM;
	r->sp = (struct gme_sampling_params){
		.temperature = st->temperature,
		.top_p = st->top_p,
		.seed = st->rng_state,
		.max_new_tokens = st->max_new_tokens,
	};
	if (check_sampling(&r->sp))
		goto inval;
	for (int32_t i = 0; i < st->n_tokens; i++) {
		if (st->data[i] < 0 || st->data[i] >= c->vocab_size)
			goto inval;
		r->tokens[i] = st->data[i];
	}
	r->n_prompt = st->n_prompt;
	r->n_tokens = st->n_tokens;
	r->rng_state = st->rng_state;
	r->finish = st->finish;
	r->n_preemptions = st->n_preemptions;
	if (!r->finish && st->n_tokens == c->seq_len)
		goto inval;
	if (!r->finish && blocks_for(e, max_kv_tokens(e, r)) > e->kv.n_blocks)
		goto nospc;
	request_add(e, r);
	if (r->finish)
		wait_remove(e, r);
	*id = r->id;
	return 0;
nospc:
	request_free(r);
	e->next_id--;
	return -ENOSPC;
inval:
	request_free(r);
	e->next_id--;
	return -EINVAL;
}

/* ---- the step --------------------------------------------------------- */

/* Admit the head of the waiting queue if its tokens fit in free blocks. */
static struct gme_request *admit(struct gme_engine *e)
{
	struct gme_request *r = e->wait_head;

	if (!r || e->n_running >= e->params.max_seqs ||
	    blocks_for(e, r->n_tokens) > e->kv.n_free)
		return NULL;
	wait_remove(e, r);
	r->running = true;
	e->running[e->n_running++] = r;
	return r;
}

/* Append a token; returns the finish reason it causes. */
static enum gme_finish_reason append(struct gme_engine *e,
				     struct gme_request *r, int32_t tok)
{
	r->tokens[r->n_tokens++] = tok;
	if (tok == GME_TOKEN_BOS)
		return GME_FINISH_STOP;
	if (r->n_tokens - r->n_prompt >= r->sp.max_new_tokens)
		return GME_FINISH_LENGTH;
	if (r->n_tokens >= e->model->config.seq_len)
		return GME_FINISH_SEQ_LEN;
	return GME_FINISH_NONE;
}

int gme_engine_step(struct gme_engine *e, struct gme_step_stats *stats)
{
	struct gme_run_state *s = &e->s;
	struct gme_step_stats st = { 0 };
	int32_t budget = e->max_rows, n_sched = 0, bs = e->kv.block_size;
	int32_t i = 0;

	s->n_rows = 0;
	s->n_out = 0;

	/*
	 * Oldest first: each running request takes what it still has to
	 * compute (1 token when decoding, a chunk of its prompt otherwise)
	 * up to the budget; then the waiting queue is admitted in order.
	 */
	while (budget > 0) {
		struct gme_request *r;
		int32_t chunk, fit;

		if (i == e->n_running) {
			if (st.n_preempted || !admit(e))
				break;
			st.n_admitted++;
		}
		r = e->running[i];
		chunk = r->n_tokens - r->n_computed;
		if (chunk > budget)
			chunk = budget;
		/* positions that fit in its blocks plus the free ones */
		for (;;) {
			fit = (r->n_blocks + e->kv.n_free) * bs - r->n_computed;
			if (fit > 0 || i == e->n_running - 1)
				break;
			preempt(e, e->n_running - 1); /* the newest */
			st.n_preempted++;
		}
		if (fit <= 0) {
			preempt(e, i);
			st.n_preempted++;
			break;
		}
		if (chunk > fit)
			chunk = fit;
		while (r->n_blocks * bs < r->n_computed + chunk)
			r->blocks[r->n_blocks++] = gme_kv_alloc(&e->kv);
		for (int32_t k = 0; k < chunk; k++) {
			int32_t row = s->n_rows++;

			s->row_token[row] = r->tokens[r->n_computed + k];
			s->row_pos[row] = r->n_computed + k;
			s->row_blocks[row] = r->blocks;
		}
		r->step_chunk = chunk;
		if (r->n_computed + chunk == r->n_tokens)
			s->out_rows[s->n_out++] = s->n_rows - 1;
		e->sched[n_sched++] = r;
		budget -= chunk;
		i++;
	}

	if (s->n_rows)
		gme_forward(e);

	/* sample in batch order; requests finishing leave the running set */
	for (int32_t k = 0, o = 0; k < n_sched; k++) {
		struct gme_request *r = e->sched[k];
		const struct gme_config *c = &e->model->config;
		enum gme_finish_reason fin;
		int32_t tok;

		r->n_computed += r->step_chunk;
		r->step_chunk = 0;
		if (r->n_computed != r->n_tokens)
			continue;
		if (e->params.on_logits)
			e->params.on_logits(e->params.user, r->id,
					    s->logits +
						    (size_t)o * c->vocab_size,
					    c->vocab_size);
		tok = gme_sample(s->logits + (size_t)o * c->vocab_size,
				 c->vocab_size, r->sp.temperature, r->sp.top_p,
				 &r->rng_state, s->probindex);
		o++;
		st.n_sampled++;
		fin = append(e, r, tok);
		if (e->params.on_token)
			e->params.on_token(e->params.user, r->id, tok, fin);
		if (fin) {
			r->finish = fin;
			for (int32_t j = 0; j < e->n_running; j++)
				if (e->running[j] == r)
					running_remove(e, j);
			release_blocks(e, r);
		}
	}

	st.n_rows = s->n_rows;
	st.n_seqs = n_sched;
	st.n_running = e->n_running;
	st.n_waiting = e->n_waiting;
	gme_engine_kv_usage(e, &st.kv_used, &st.kv_total);
	if (stats)
		*stats = st;
	return e->n_running + e->n_waiting;
}
