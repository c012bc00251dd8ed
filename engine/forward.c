// SPDX-License-Identifier: GPL-2.0
/*
 * The batched forward pass.  One call computes every row (one token of
 * one request at one position) of a step.  Each row's arithmetic is done
 * in the same order as llama2.c's single-token forward(), whatever the
 * batch, its split into chunks or the thread count: matmul rows are
 * independent sequential dot products, attention of a row reads its own
 * request's cache positions 0..pos in order.  Nothing here allocates.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- buffers ---------------------------------------------------------- */

int gme_run_state_init(struct gme_run_state *s, const struct gme_config *c,
		       int32_t max_rows, int32_t max_seqs, int n_threads)
{
	size_t R = max_rows, dim = c->dim, hid = c->hidden_dim;
	size_t kv_dim = dim * c->n_kv_heads / c->n_heads;
	size_t hs = dim / c->n_heads, half = hs / 2;

	memset(s, 0, sizeof(*s));
	s->x = calloc(R * dim, sizeof(float));
	s->xb = calloc(R * dim, sizeof(float));
	s->xb2 = calloc(R * dim, sizeof(float));
	s->hb = calloc(R * hid, sizeof(float));
	s->hb2 = calloc(R * hid, sizeof(float));
	s->q = calloc(R * dim, sizeof(float));
	s->k = calloc(R * kv_dim, sizeof(float));
	s->v = calloc(R * kv_dim, sizeof(float));
	s->att = calloc((size_t)n_threads * c->seq_len, sizeof(float));
	s->xf = calloc((size_t)max_seqs * dim, sizeof(float));
	s->logits = calloc((size_t)max_seqs * c->vocab_size, sizeof(float));
	s->probindex = calloc(c->vocab_size, sizeof(*s->probindex));
	s->rope_cos = calloc((size_t)c->seq_len * half, sizeof(float));
	s->rope_sin = calloc((size_t)c->seq_len * half, sizeof(float));
	s->row_token = calloc(R, sizeof(*s->row_token));
	s->row_pos = calloc(R, sizeof(*s->row_pos));
	s->row_blocks = calloc(R, sizeof(*s->row_blocks));
	s->out_rows = calloc(max_seqs, sizeof(*s->out_rows));
	if (!s->x || !s->xb || !s->xb2 || !s->hb || !s->hb2 || !s->q || !s->k ||
	    !s->v || !s->att || !s->xf || !s->logits || !s->probindex ||
	    !s->rope_cos || !s->rope_sin || !s->row_token || !s->row_pos ||
	    !s->row_blocks || !s->out_rows) {
		gme_run_state_free(s);
		return -ENOMEM;
	}
	/* the same expressions as llama2.c evaluates at every step */
	for (int32_t pos = 0; pos < c->seq_len; pos++) {
		for (size_t i = 0; i < hs; i += 2) {
			float freq = 1.0f / powf(10000.0f, i / (float)hs);
			float val = pos * freq;

			s->rope_cos[pos * half + i / 2] = cosf(val);
			s->rope_sin[pos * half + i / 2] = sinf(val);
		}
	}
	return 0;
}

void gme_run_state_free(struct gme_run_state *s)
{
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->hb);
	free(s->hb2);
	free(s->q);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->xf);
	free(s->logits);
	free(s->probindex);
	free(s->rope_cos);
	free(s->rope_sin);
	free(s->row_token);
	free(s->row_pos);
	free(s->row_blocks);
	free(s->out_rows);
	memset(s, 0, sizeof(*s));
}

/* ---- kernels ---------------------------------------------------------- */

static void rmsnorm(float *o, const float *x, const float *weight, int32_t size)
{
	float ss = 0.0f;

	for (int32_t j = 0; j < size; j++)
		ss += x[j] * x[j];
	ss /= size;
	ss += 1e-5f;
	ss = 1.0f / sqrtf(ss);
	for (int32_t j = 0; j < size; j++)
		o[j] = weight[j] * (ss * x[j]);
}

static void softmax(float *x, int32_t size)
{
	float max = x[0], sum = 0.0f;

	for (int32_t i = 1; i < size; i++)
		if (x[i] > max)
			max = x[i];
	for (int32_t i = 0; i < size; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (int32_t i = 0; i < size; i++)
		x[i] /= sum;
}

/*
 * out (rows, d) = x (rows, n) @ w (d, n)^T for outputs [i0, i1).  Every
 * output is one sequential sum over j = 0..n-1, as in llama2.c; speed
 * comes from running independent sums side by side: four weight rows
 * (read once per step, then from cache) times two batch rows.
 */
static void matmul_range(float *out, const float *x, const float *w,
			 int32_t rows, int32_t n, int32_t d, int32_t i0,
			 int32_t i1)
{
	int32_t i = i0;

	for (; i + 4 <= i1; i += 4) {
		const float *w0 = w + (size_t)i * n;
		const float *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
		int32_t b = 0;

		for (; b + 2 <= rows; b += 2) {
			const float *xa = x + (size_t)b * n, *xc = xa + n;
			float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
			float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
			float *oa = out + (size_t)b * d + i, *oc = oa + d;

			for (int32_t j = 0; j < n; j++) {
				a0 += w0[j] * xa[j];
				a1 += w1[j] * xa[j];
				a2 += w2[j] * xa[j];
				a3 += w3[j] * xa[j];
				c0 += w0[j] * xc[j];
				c1 += w1[j] * xc[j];
				c2 += w2[j] * xc[j];
				c3 += w3[j] * xc[j];
			}
			oa[0] = a0;
			oa[1] = a1;
			oa[2] = a2;
			oa[3] = a3;
			oc[0] = c0;
			oc[1] = c1;
			oc[2] = c2;
			oc[3] = c3;
		}
		for (; b < rows; b++) {
			const float *xa = x + (size_t)b * n;
			float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
			float *oa = out + (size_t)b * d + i;

			for (int32_t j = 0; j < n; j++) {
				a0 += w0[j] * xa[j];
				a1 += w1[j] * xa[j];
				a2 += w2[j] * xa[j];
				a3 += w3[j] * xa[j];
			}
			oa[0] = a0;
			oa[1] = a1;
			oa[2] = a2;
			oa[3] = a3;
		}
	}
	for (; i < i1; i++) {
		const float *wi = w + (size_t)i * n;

		for (int32_t b = 0; b < rows; b++) {
			const float *xa = x + (size_t)b * n;
			float s = 0.0f;

			for (int32_t j = 0; j < n; j++)
				s += wi[j] * xa[j];
			out[(size_t)b * d + i] = s;
		}
	}
}

/* Up to three matmuls sharing an input run as one parallel region. */
#define MM_MAX 3

struct mm_job {
	float *out;
	const float *x;
	const float *w;
	int32_t n, d;
};

struct mm_region {
	struct mm_job job[MM_MAX];
	int n_jobs;
	int32_t rows;
	int32_t chunk; /* output rows per task */
	int first_task[MM_MAX + 1];
};

static void mm_task(void *ctx, int task, int tid)
{
	struct mm_region *r = ctx;
	const struct mm_job *j;
	int k = 0;
	int32_t i0, i1;

	(void)tid;
	while (task >= r->first_task[k + 1])
		k++;
	j = &r->job[k];
	i0 = (task - r->first_task[k]) * r->chunk;
	i1 = i0 + r->chunk < j->d ? i0 + r->chunk : j->d;
	matmul_range(j->out, j->x, j->w, r->rows, j->n, j->d, i0, i1);
}

static void mm_run(struct gme_engine *e, struct mm_region *r)
{
	int64_t work = 0;
	int nt = e->pool.n_threads;

	/* a multiple of 4 outputs; about 4 tasks per thread */
	r->chunk = 4;
	for (int k = 0; k < r->n_jobs; k++)
		if (r->job[k].d / (nt * 4) > r->chunk)
			r->chunk = r->job[k].d / (nt * 4);
	r->chunk = (r->chunk + 3) & ~3;
	r->first_task[0] = 0;
	for (int k = 0; k < r->n_jobs; k++) {
		r->first_task[k + 1] = r->first_task[k] +
				       (r->job[k].d + r->chunk - 1) / r->chunk;
		work += (int64_t)r->rows * r->job[k].d * r->job[k].n;
	}
	gme_pool_run(&e->pool, mm_task, r, r->first_task[r->n_jobs],
		     work >= e->params.min_parallel_work);
}

static void matmul(struct gme_engine *e, float *out, const float *x,
		   const float *w, int32_t rows, int32_t n, int32_t d)
{
	struct mm_region r = {
		.job[0] = { .out = out, .x = x, .w = w, .n = n, .d = d },
		.n_jobs = 1,
		.rows = rows,
	};

	mm_run(e, &r);
}

/* ---- attention -------------------------------------------------------- */

struct att_ctx {
	struct gme_engine *e;
	int32_t layer;
};

/* task = row * n_heads + head */
static void att_task(void *ctx, int task, int tid)
{
	const struct att_ctx *a = ctx;
	struct gme_engine *e = a->e;
	const struct gme_config *c = &e->model->config;
	struct gme_run_state *s = &e->s;
	const struct gme_kv *kv = &e->kv;
	int32_t hs = c->dim / c->n_heads, kv_mul = c->n_heads / c->n_kv_heads;
	int32_t row = task / c->n_heads, h = task % c->n_heads;
	int32_t pos = s->row_pos[row], bs = kv->block_size;
	const int32_t *blocks = s->row_blocks[row];
	const float *q = s->q + (size_t)row * c->dim + (size_t)h * hs;
	float *att = s->att + (size_t)tid * c->seq_len;
	float *xb = s->xb + (size_t)row * c->dim + (size_t)h * hs;
	size_t koff = (size_t)(h / kv_mul) * hs;

	/* walk the block table: block b holds positions b * bs .. + bs - 1 */
	for (int32_t t0 = 0, b = 0; t0 <= pos; t0 += bs, b++) {
		int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
		const float *k = gme_kv_key(kv, blocks[b], a->layer, 0) + koff;

		for (int32_t o = 0; o < n; o++, k += kv->kv_dim) {
			float score = 0.0f;

			for (int32_t i = 0; i < hs; i++)
				score += q[i] * k[i];
			score /= sqrtf(hs);
			att[t0 + o] = score;
		}
	}
	softmax(att, pos + 1);
	memset(xb, 0, hs * sizeof(float));
	for (int32_t t0 = 0, b = 0; t0 <= pos; t0 += bs, b++) {
		int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
		const float *v =
			gme_kv_value(kv, blocks[b], a->layer, 0) + koff;

		for (int32_t o = 0; o < n; o++, v += kv->kv_dim) {
			float w = att[t0 + o];

			for (int32_t i = 0; i < hs; i++)
				xb[i] += w * v[i];
		}
	}
}

/* ---- the pass --------------------------------------------------------- */

static void rope(const struct gme_run_state *s, float *vec, int32_t n,
		 int32_t hs, int32_t pos)
{
	const float *fcr = s->rope_cos + (size_t)pos * (hs / 2);
	const float *fci = s->rope_sin + (size_t)pos * (hs / 2);

	for (int32_t i = 0; i < n; i += 2) {
		int32_t f = (i % hs) / 2;
		float v0 = vec[i], v1 = vec[i + 1];

		vec[i] = v0 * fcr[f] - v1 * fci[f];
		vec[i + 1] = v0 * fci[f] + v1 * fcr[f];
	}
}

void gme_forward(struct gme_engine *e)
{
	const struct gme_config *c = &e->model->config;
	const struct gme_weights *w = &e->model->w;
	struct gme_run_state *s = &e->s;
	struct gme_kv *kv = &e->kv;
	int32_t R = s->n_rows, dim = c->dim, hid = c->hidden_dim;
	int32_t kv_dim = dim * c->n_kv_heads / c->n_heads;
	int32_t hs = dim / c->n_heads, bs = kv->block_size;
	int64_t att_work = 0;

	for (int32_t r = 0; r < R; r++) {
		memcpy(s->x + (size_t)r * dim,
		       w->token_embedding + (size_t)s->row_token[r] * dim,
		       dim * sizeof(float));
		att_work += (int64_t)(s->row_pos[r] + 1) * dim * 2;
	}

	for (int32_t l = 0; l < c->n_layers; l++) {
		size_t lw = (size_t)l * dim * dim;
		size_t lkv = (size_t)l * kv_dim * dim;
		size_t lh = (size_t)l * hid * dim;
		struct att_ctx actx = { .e = e, .layer = l };
		struct mm_region qkv = {
			.job = { { s->q, s->xb, w->wq + lw, dim, dim },
				 { s->k, s->xb, w->wk + lkv, dim, kv_dim },
				 { s->v, s->xb, w->wv + lkv, dim, kv_dim } },
			.n_jobs = 3,
			.rows = R,
		};
		struct mm_region ffn = {
			.job = { { s->hb, s->xb, w->w1 + lh, dim, hid },
				 { s->hb2, s->xb, w->w3 + lh, dim, hid } },
			.n_jobs = 2,
			.rows = R,
		};

		for (int32_t r = 0; r < R; r++)
			rmsnorm(s->xb + (size_t)r * dim, s->x + (size_t)r * dim,
				w->rms_att + (size_t)l * dim, dim);
		mm_run(e, &qkv);

		/* RoPE, then K and V into the request's block */
		for (int32_t r = 0; r < R; r++) {
			int32_t pos = s->row_pos[r];
			int32_t blk = s->row_blocks[r][pos / bs];
			float *k = s->k + (size_t)r * kv_dim;
			float *v = s->v + (size_t)r * kv_dim;

			rope(s, s->q + (size_t)r * dim, dim, hs, pos);
			rope(s, k, kv_dim, hs, pos);
			memcpy(gme_kv_key(kv, blk, l, pos % bs), k,
			       kv_dim * sizeof(float));
			memcpy(gme_kv_value(kv, blk, l, pos % bs), v,
			       kv_dim * sizeof(float));
		}

		gme_pool_run(&e->pool, att_task, &actx, R * c->n_heads,
			     att_work >= e->params.min_parallel_work);

		matmul(e, s->xb2, s->xb, w->wo + lw, R, dim, dim);
		for (size_t i = 0; i < (size_t)R * dim; i++)
			s->x[i] += s->xb2[i];

		for (int32_t r = 0; r < R; r++)
			rmsnorm(s->xb + (size_t)r * dim, s->x + (size_t)r * dim,
				w->rms_ffn + (size_t)l * dim, dim);
		mm_run(e, &ffn);
		for (size_t i = 0; i < (size_t)R * hid; i++) {
			float val = s->hb[i];

			val *= (1.0f / (1.0f + expf(-val)));
			val *= s->hb2[i];
			s->hb[i] = val;
		}
		matmul(e, s->xb, s->hb, w->w2 + (size_t)l * dim * hid, R, hid,
		       dim);
		for (size_t i = 0; i < (size_t)R * dim; i++)
			s->x[i] += s->xb[i];
	}

	/* logits only for the rows that are sampled */
	for (int32_t o = 0; o < s->n_out; o++)
		rmsnorm(s->xf + (size_t)o * dim,
			s->x + (size_t)s->out_rows[o] * dim, w->rms_final, dim);
	if (s->n_out)
		matmul(e, s->logits, s->xf, w->wcls, s->n_out, dim,
		       c->vocab_size);
}
