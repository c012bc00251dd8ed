// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt-gen.h"
#include "engine.h"
#include "etest.h"

int et_fail;
bool et_skipped;
static char *skip_why;
static char tmpdir[256];

void et_skip(const char *why)
{
	et_skipped = true;
	free(skip_why);
	skip_why = strdup(why);
}

static void rm_tmpdir(void)
{
	DIR *d;
	struct dirent *de;
	char p[512];

	if (!tmpdir[0])
		return;
	d = opendir(tmpdir);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
}

const char *et_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/gme-test-XXXXXX",
			 base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(rm_tmpdir);
	}
	return tmpdir;
}

char *et_path(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", et_tmpdir(), name);
	return buf;
}

int et_main(const struct et_test *tests, int n, int argc, char **argv)
{
	int failed = 0;

	for (int i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name))
			continue;
		et_fail = 0;
		et_skipped = false;
		tests[i].fn();
		if (et_fail) {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		} else if (et_skipped) {
			printf("SKIP %s: %s\n", tests[i].name, skip_why);
		} else {
			printf("PASS %s\n", tests[i].name);
		}
		fflush(stdout);
	}
	free(skip_why);
	return failed ? 1 : 0;
}

/* ---- checkpoints ------------------------------------------------------ */

/* the generator is the engine's own (ckpt-gen.c), as init-random uses it */
static struct gme_config gme_cfg(const struct et_cfg *c)
{
	return (struct gme_config){
		.dim = c->dim,
		.hidden_dim = c->hidden_dim,
		.n_layers = c->n_layers,
		.n_heads = c->n_heads,
		.n_kv_heads = c->n_kv_heads,
		.vocab_size = c->vocab_size < 0 ? -c->vocab_size :
						  c->vocab_size,
		.seq_len = c->seq_len,
		.shared_classifier = c->vocab_size > 0,
	};
}

uint64_t et_checkpoint_floats(const struct et_cfg *c)
{
	struct gme_config g = gme_cfg(c);

	return gme_ckpt_floats(&g);
}

int et_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) ? -1 : 0;
}

int et_write_checkpoint(const char *path, const struct et_cfg *c, uint64_t seed)
{
	struct gme_config g = gme_cfg(c);
	char err[256];

	if (gme_ckpt_write(path, &g, seed, err, sizeof(err))) {
		printf("  %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- reference forward ------------------------------------------------ */

struct ref_model {
	int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
	float *file;
	float *token_embedding_table, *rms_att_weight, *rms_ffn_weight;
	float *wq, *wk, *wv, *wo, *w1, *w2, *w3, *rms_final_weight, *wcls;
	float *x, *xb, *xb2, *hb, *hb2, *q, *k, *v, *att, *logits;
	float *key_cache, *value_cache;
};

struct ref_model *ref_load(const char *path)
{
	struct ref_model *r = calloc(1, sizeof(*r));
	int32_t h[7];
	FILE *f = fopen(path, "rb");
	long size;
	int shared, head_size, kv_dim;
	float *p;

	if (!f || fread(h, sizeof(h), 1, f) != 1)
		abort();
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, sizeof(h), SEEK_SET);
	r->file = malloc(size);
	if (fread(r->file, 1, size - sizeof(h), f) != size - sizeof(h))
		abort();
	fclose(f);
	r->dim = h[0];
	r->hidden_dim = h[1];
	r->n_layers = h[2];
	r->n_heads = h[3];
	r->n_kv_heads = h[4];
	shared = h[5] > 0;
	r->vocab_size = abs(h[5]);
	r->seq_len = h[6];
	head_size = r->dim / r->n_heads;
	kv_dim = r->dim * r->n_kv_heads / r->n_heads;
	unsigned long long n_layers = r->n_layers;

	p = r->file;
	r->token_embedding_table = p;
	p += r->vocab_size * r->dim;
	r->rms_att_weight = p;
	p += n_layers * r->dim;
	r->wq = p;
	p += n_layers * r->dim * (r->n_heads * head_size);
	r->wk = p;
	p += n_layers * r->dim * (r->n_kv_heads * head_size);
	r->wv = p;
	p += n_layers * r->dim * (r->n_kv_heads * head_size);
	r->wo = p;
	p += n_layers * (r->n_heads * head_size) * r->dim;
	r->rms_ffn_weight = p;
	p += n_layers * r->dim;
	r->w1 = p;
	p += n_layers * r->dim * r->hidden_dim;
	r->w2 = p;
	p += n_layers * r->hidden_dim * r->dim;
	r->w3 = p;
	p += n_layers * r->dim * r->hidden_dim;
	r->rms_final_weight = p;
	p += r->dim;
	p += r->seq_len * head_size / 2;
	p += r->seq_len * head_size / 2;
	r->wcls = shared ? r->token_embedding_table : p;

	r->x = calloc(r->dim, sizeof(float));
	r->xb = calloc(r->dim, sizeof(float));
	r->xb2 = calloc(r->dim, sizeof(float));
	r->hb = calloc(r->hidden_dim, sizeof(float));
	r->hb2 = calloc(r->hidden_dim, sizeof(float));
	r->q = calloc(r->dim, sizeof(float));
	r->key_cache = calloc(n_layers * r->seq_len * kv_dim, sizeof(float));
	r->value_cache = calloc(n_layers * r->seq_len * kv_dim, sizeof(float));
	r->att = calloc(r->n_heads * r->seq_len, sizeof(float));
	r->logits = calloc(r->vocab_size, sizeof(float));
	return r;
}

void ref_free(struct ref_model *r)
{
	free(r->file);
	free(r->x);
	free(r->xb);
	free(r->xb2);
	free(r->hb);
	free(r->hb2);
	free(r->q);
	free(r->key_cache);
	free(r->value_cache);
	free(r->att);
	free(r->logits);
	free(r);
}

int ref_seq_len(const struct ref_model *r)
{
	return r->seq_len;
}

static void rmsnorm(float *o, float *x, float *weight, int size)
{
	float ss = 0.0f;
	for (int j = 0; j < size; j++)
		ss += x[j] * x[j];
	ss /= size;
	ss += 1e-5f;
	ss = 1.0f / sqrtf(ss);
	for (int j = 0; j < size; j++)
		o[j] = weight[j] * (ss * x[j]);
}

static void softmax(float *x, int size)
{
	float max_val = x[0];
	for (int i = 1; i < size; i++)
		if (x[i] > max_val)
			max_val = x[i];
	float sum = 0.0f;
	for (int i = 0; i < size; i++) {
		x[i] = expf(x[i] - max_val);
		sum += x[i];
	}
	for (int i = 0; i < size; i++)
		x[i] /= sum;
}

static void matmul(float *xout, float *x, float *w, int n, int d)
{
	for (int i = 0; i < d; i++) {
		float val = 0.0f;
		for (int j = 0; j < n; j++)
			val += w[(size_t)i * n + j] * x[j];
		xout[i] = val;
	}
}

static float *ref_forward(struct ref_model *p, int token, int pos)
{
	float *x = p->x;
	int dim = p->dim;
	int kv_dim = (p->dim * p->n_kv_heads) / p->n_heads;
	int kv_mul = p->n_heads / p->n_kv_heads;
	int hidden_dim = p->hidden_dim;
	int head_size = dim / p->n_heads;

	memcpy(x, p->token_embedding_table + (size_t)token * dim,
	       dim * sizeof(*x));
	for (unsigned long long l = 0; l < (unsigned)p->n_layers; l++) {
		rmsnorm(p->xb, x, p->rms_att_weight + l * dim, dim);
		int loff = l * p->seq_len * kv_dim;
		p->k = p->key_cache + loff + pos * kv_dim;
		p->v = p->value_cache + loff + pos * kv_dim;
		matmul(p->q, p->xb, p->wq + l * dim * dim, dim, dim);
		matmul(p->k, p->xb, p->wk + l * dim * kv_dim, dim, kv_dim);
		matmul(p->v, p->xb, p->wv + l * dim * kv_dim, dim, kv_dim);
		for (int i = 0; i < dim; i += 2) {
			int head_dim = i % head_size;
			float freq = 1.0f / powf(10000.0f,
						 head_dim / (float)head_size);
			float val = pos * freq;
			float fcr = cosf(val);
			float fci = sinf(val);
			int rotn = i < kv_dim ? 2 : 1;
			for (int v = 0; v < rotn; v++) {
				float *vec = v == 0 ? p->q : p->k;
				float v0 = vec[i];
				float v1 = vec[i + 1];
				vec[i] = v0 * fcr - v1 * fci;
				vec[i + 1] = v0 * fci + v1 * fcr;
			}
		}
		for (int h = 0; h < p->n_heads; h++) {
			float *q = p->q + h * head_size;
			float *att = p->att + h * p->seq_len;
			for (int t = 0; t <= pos; t++) {
				float *k = p->key_cache + loff + t * kv_dim +
					   (h / kv_mul) * head_size;
				float score = 0.0f;
				for (int i = 0; i < head_size; i++)
					score += q[i] * k[i];
				score /= sqrtf(head_size);
				att[t] = score;
			}
			softmax(att, pos + 1);
			float *xb = p->xb + h * head_size;
			memset(xb, 0, head_size * sizeof(float));
			for (int t = 0; t <= pos; t++) {
				float *v = p->value_cache + loff + t * kv_dim +
					   (h / kv_mul) * head_size;
				float a = att[t];
				for (int i = 0; i < head_size; i++)
					xb[i] += a * v[i];
			}
		}
		matmul(p->xb2, p->xb, p->wo + l * dim * dim, dim, dim);
		for (int i = 0; i < dim; i++)
			x[i] += p->xb2[i];
		rmsnorm(p->xb, x, p->rms_ffn_weight + l * dim, dim);
		matmul(p->hb, p->xb, p->w1 + l * dim * hidden_dim, dim,
		       hidden_dim);
		matmul(p->hb2, p->xb, p->w3 + l * dim * hidden_dim, dim,
		       hidden_dim);
		for (int i = 0; i < hidden_dim; i++) {
			float val = p->hb[i];
			val *= (1.0f / (1.0f + expf(-val)));
			val *= p->hb2[i];
			p->hb[i] = val;
		}
		matmul(p->xb, p->hb, p->w2 + l * dim * hidden_dim, hidden_dim,
		       dim);
		for (int i = 0; i < dim; i++)
			x[i] += p->xb[i];
	}
	rmsnorm(x, x, p->rms_final_weight, dim);
	matmul(p->logits, x, p->wcls, p->dim, p->vocab_size);
	return p->logits;
}

int ref_greedy(struct ref_model *r, const int32_t *prompt, int n_prompt,
	       int n_new, int32_t *out)
{
	int token = prompt[0], pos = 0, n = 0;

	while (n < n_new && n_prompt + n < r->seq_len) {
		float *logits = ref_forward(r, token, pos);
		int next;

		if (pos < n_prompt - 1) {
			next = prompt[pos + 1];
		} else {
			next = 0;
			for (int i = 1; i < r->vocab_size; i++)
				if (logits[i] > logits[next])
					next = i;
			out[n++] = next;
			if (next == 1)
				break;
		}
		token = next;
		pos++;
	}
	return n;
}

/* ---- engine helpers --------------------------------------------------- */

static int submit_all(struct gme_engine *e, struct et_req *reqs, int n,
		      uint64_t *ids)
{
	for (int i = 0; i < n; i++) {
		struct gme_sampling_params sp = gme_sampling_default_params();

		sp.temperature = reqs[i].temperature;
		sp.top_p = reqs[i].top_p;
		sp.seed = reqs[i].seed;
		sp.max_new_tokens = reqs[i].max_new;
		if (gme_engine_submit(e, reqs[i].prompt, reqs[i].n_prompt, &sp,
				      &ids[i]))
			return -1;
	}
	return 0;
}

struct hash_ctx {
	struct et_req *reqs;
	uint64_t *ids;
	int n;
};

static void on_logits(void *user, uint64_t id, const float *logits, int32_t n)
{
	struct hash_ctx *h = user;
	const unsigned char *b = (const unsigned char *)logits;

	for (int i = 0; i < h->n; i++) {
		if (h->ids[i] != id)
			continue;
		for (size_t k = 0; k < n * sizeof(float); k++) {
			h->reqs[i].logit_hash ^= b[k];
			h->reqs[i].logit_hash *= 0x100000001b3ull;
		}
	}
}

int et_run(struct gme_model *m, const struct gme_engine_params *params,
	   struct et_req *reqs, int n)
{
	return et_run_threads(m, params, reqs, n, NULL, 0);
}

int et_run_threads(struct gme_model *m, const struct gme_engine_params *params,
		   struct et_req *reqs, int n, const int *sched, int n_sched)
{
	struct gme_engine_params pp = *params, *p = &pp;
	struct gme_engine *e;
	uint64_t ids[64];
	struct hash_ctx h = { reqs, ids, n };
	int preempted = 0, steps = 0;
	char err[256];

	for (int i = 0; i < n; i++) {
		reqs[i].logit_hash = 0xcbf29ce484222325ull;
		ids[i] = 0;
	}
	p->on_logits = on_logits;
	p->user = &h;
	if (n > 64 || gme_engine_create(m, p, &e, err, sizeof(err))) {
		printf("  engine: %s\n", err);
		return -1;
	}
	if (submit_all(e, reqs, n, ids))
		goto fail;
	for (;;) {
		struct gme_step_stats st;
		int left;

		if (n_sched) {
			int want = sched[steps % n_sched];

			if (gme_engine_set_threads(e, want) ||
			    gme_engine_threads(e) != want) {
				printf("  set_threads(%d) failed\n", want);
				goto fail;
			}
		}
		left = gme_engine_step(e, &st);

		preempted += st.n_preempted;
		if (st.kv_used > st.kv_total || st.n_rows > p->max_batch_tokens)
			goto fail;
		if (!left)
			break;
		if (++steps > 1000000 || (st.n_rows == 0 && !st.n_preempted))
			goto fail; /* no progress */
	}
	for (int i = 0; i < n; i++) {
		struct gme_request_info info;

		if (gme_engine_request_info(e, ids[i], &info) ||
		    info.n_generated > 1024)
			goto fail;
		memcpy(reqs[i].out, info.generated,
		       info.n_generated * sizeof(int32_t));
		reqs[i].n_out = info.n_generated;
		reqs[i].n_preemptions = info.n_preemptions;
	}
	{
		int32_t used, total;

		gme_engine_kv_usage(e, &used, &total);
		if (used != 0)
			goto fail;
	}
	gme_engine_free(e);
	return preempted;
fail:
	gme_engine_free(e);
	return -1;
}

int et_run_alone(struct gme_model *m, const struct gme_engine_params *p,
		 struct et_req *reqs, int n)
{
	for (int i = 0; i < n; i++)
		if (et_run(m, p, &reqs[i], 1) < 0)
			return -1;
	return 0;
}

bool et_same(const struct et_req *a, const struct et_req *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (a[i].n_out != b[i].n_out ||
		    memcmp(a[i].out, b[i].out, a[i].n_out * sizeof(int32_t)) ||
		    a[i].logit_hash != b[i].logit_hash) {
			printf("  request %d differs (%d vs %d tokens, logits %s)\n",
			       i, a[i].n_out, b[i].n_out,
			       a[i].logit_hash == b[i].logit_hash ? "same" :
								    "differ");
			return false;
		}
	}
	return true;
}
