// SPDX-License-Identifier: GPL-2.0
/*
 * Engine tests on checkpoints and tokenizers generated here (seeded random
 * weights in a temporary directory): correctness against the reference
 * forward pass, batching/chunking/thread invariance, KV preemption,
 * migration state, malformed inputs.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "etest.h"
#include "internal.h" /* the forward pass's SIMD kernels */

/* GQA: 6 query heads over 2 KV heads, shared classifier */
static const struct et_cfg gqa_cfg = { 48, 96, 2, 6, 2, 64, 64 };
/* separate classifier (negative vocab_size), MHA */
static const struct et_cfg wcls_cfg = { 32, 64, 3, 4, 4, -80, 48 };
/* sizes no SIMD width divides: head size 10, hidden 70, vocab 77 */
static const struct et_cfg odd_cfg = { 40, 70, 2, 4, 2, -77, 50 };
/* head size 32, three query heads on one KV head */
static const struct et_cfg mqa_cfg = { 96, 40, 1, 3, 1, 40, 70 };

static struct gme_model *load_cfg(const struct et_cfg *c, const char *name,
				  uint64_t seed)
{
	struct gme_model *m;
	char err[256];
	char *p = et_path(name);

	if (et_write_checkpoint(p, c, seed)) {
		printf("  cannot write %s\n", p);
		return NULL;
	}
	if (gme_model_load(p, &m, err, sizeof(err))) {
		printf("  %s\n", err);
		return NULL;
	}
	return m;
}

static struct gme_engine_params params(int threads, int budget)
{
	struct gme_engine_params p = gme_engine_default_params();

	p.n_threads = threads;
	p.max_batch_tokens = budget;
	p.block_size = 4;
	p.min_parallel_work = 0; /* parallel even for tiny matmuls */
	return p;
}

static int32_t prompts[8][12];

/* 8 requests with different prompts, lengths and sampling */
static void make_reqs(struct et_req *r, int32_t vocab, int n)
{
	uint64_t s = 7;

	memset(r, 0, sizeof(*r) * n);
	for (int i = 0; i < n; i++) {
		r[i].n_prompt = 1 + (i * 5) % 12;
		prompts[i][0] = GME_TOKEN_BOS;
		for (int k = 1; k < r[i].n_prompt; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			prompts[i][k] = 3 + (s >> 33) % (vocab - 3);
		}
		r[i].prompt = prompts[i];
		r[i].temperature = i % 3 == 0 ? 0.0f : 0.8f + 0.1f * i;
		r[i].top_p = i % 3 == 2 ? 0.9f : 1.0f;
		r[i].seed = 1000 + i;
		r[i].max_new = 10 + 3 * i;
	}
}

static void check_vs_reference(const struct et_cfg *c, const char *name)
{
	struct gme_model *m = load_cfg(c, name, 42);
	struct ref_model *ref;
	struct et_req reqs[3];
	int32_t want[128];
	int n_want;

	CHECK(m);
	if (!m)
		return;
	CHECK_INT(gme_model_config(m)->shared_classifier, c->vocab_size > 0);
	CHECK_INT(gme_model_config(m)->vocab_size, abs(c->vocab_size));
	ref = ref_load(et_path(name));
	make_reqs(reqs, abs(c->vocab_size), 3);
	for (int i = 0; i < 3; i++) {
		reqs[i].temperature = 0.0f;
		reqs[i].max_new = 1000; /* up to seq_len */
	}
	{
		struct gme_engine_params p = params(2, 5);

		CHECK(et_run(m, &p, reqs, 3) >= 0);
	}
	for (int i = 0; i < 3; i++) {
		n_want = ref_greedy(ref, reqs[i].prompt, reqs[i].n_prompt, 1000,
				    want);
		CHECK(n_want > 0);
		CHECK_INT(reqs[i].n_out, n_want);
		CHECK(!memcmp(reqs[i].out, want, n_want * sizeof(int32_t)));
	}
	ref_free(ref);
	gme_model_free(m);
}

static void test_gqa_matches_reference(void)
{
	check_vs_reference(&gqa_cfg, "gqa.bin");
}

static void test_wcls_matches_reference(void)
{
	check_vs_reference(&wcls_cfg, "wcls.bin");
}

static void test_batching_invariance(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct et_req alone[8], batched[8];
	struct gme_engine_params p = params(2, 64);

	CHECK(m);
	if (!m)
		return;
	make_reqs(alone, 64, 8);
	make_reqs(batched, 64, 8);
	CHECK(et_run_alone(m, &p, alone, 8) == 0);
	CHECK(et_run(m, &p, batched, 8) == 0);
	CHECK(et_same(alone, batched, 8));
	/* sampled requests really differ from each other */
	CHECK(alone[1].n_out != alone[2].n_out ||
	      memcmp(alone[1].out, alone[2].out, 4 * alone[1].n_out));
	gme_model_free(m);
}

static void test_chunked_prefill_invariance(void)
{
	struct gme_model *m = load_cfg(&wcls_cfg, "wcls.bin", 43);
	struct et_req base[8], r[8];
	const int budgets[] = { 1, 3, 1000 };

	CHECK(m);
	if (!m)
		return;
	make_reqs(base, 80, 8);
	{
		struct gme_engine_params p = params(1, 1000);

		p.max_seqs = 1; /* one at a time, whole prompts */
		CHECK(et_run(m, &p, base, 8) == 0);
	}
	for (int b = 0; b < 3; b++) {
		struct gme_engine_params p = params(2, budgets[b]);

		make_reqs(r, 80, 8);
		CHECK(et_run(m, &p, r, 8) >= 0);
		CHECK(et_same(base, r, 8));
	}
	gme_model_free(m);
}

static void test_thread_invariance(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct et_req base[8], r[8];
	const int threads[] = { 2, 4 };

	CHECK(m);
	if (!m)
		return;
	make_reqs(base, 64, 8);
	{
		struct gme_engine_params p = params(1, 7);

		CHECK(et_run(m, &p, base, 8) >= 0);
	}
	for (int t = 0; t < 2; t++) {
		struct gme_engine_params p = params(threads[t], 7);

		make_reqs(r, 64, 8);
		CHECK(et_run(m, &p, r, 8) >= 0);
		CHECK(et_same(base, r, 8));
	}
	gme_model_free(m);
}

static void test_kv_exhaustion_preempts(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct et_req alone[8], r[8];
	struct gme_engine_params p = params(2, 32);
	int preempted;

	CHECK(m);
	if (!m)
		return;
	make_reqs(alone, 64, 8);
	for (int i = 0; i < 8; i++)
		alone[i].max_new = 40;
	memcpy(r, alone, sizeof(r));
	CHECK(et_run_alone(m, &p, alone, 8) == 0);
	/* 16 blocks of 4 positions: room for one full sequence and a bit */
	p.n_blocks = 16;
	preempted = et_run(m, &p, r, 8);
	CHECK(preempted > 0);
	CHECK(et_same(alone, r, 8));
	{
		int total = 0;

		for (int i = 0; i < 8; i++)
			total += r[i].n_preemptions;
		CHECK_INT(total, preempted);
	}
	gme_model_free(m);
}

static void test_external_kv_pool(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct et_req a[4], b[4];
	struct gme_engine_params p = params(2, 16);
	struct gme_engine *e;
	size_t bb;
	float *pool;
	char err[256];

	CHECK(m);
	if (!m)
		return;
	bb = gme_kv_block_bytes(m, p.block_size);
	/* 2 layers * 2 (K, V) * 4 positions * kv_dim 16 * 4 bytes */
	CHECK_INT(bb, 2 * 2 * 4 * 16 * 4);
	pool = malloc(bb * 20 + 8);
	make_reqs(a, 64, 4);
	make_reqs(b, 64, 4);
	CHECK(et_run(m, &p, a, 4) >= 0);
	p.kv_pool = pool;
	p.kv_pool_size = bb * 20 + 8; /* 20 whole blocks */
	CHECK(et_run(m, &p, b, 4) >= 0);
	CHECK(et_same(a, b, 4));
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), 0);
	{
		int32_t used, total;

		gme_engine_kv_usage(e, &used, &total);
		CHECK_INT(used, 0);
		CHECK_INT(total, 20);
	}
	gme_engine_free(e);
	/* too small for one block, misaligned */
	p.kv_pool_size = bb - 1;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), -EINVAL);
	p.kv_pool = (char *)pool + 1;
	p.kv_pool_size = bb * 4;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), -EINVAL);
	/* more blocks asked than the pool holds */
	p.kv_pool = pool;
	p.n_blocks = 21;
	p.kv_pool_size = bb * 20;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), -EINVAL);
	free(pool);
	gme_model_free(m);
}

static void test_export_import(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct gme_engine_params p = params(2, 4);
	struct gme_sampling_params sp = gme_sampling_default_params();
	struct gme_engine *e1, *e2;
	struct gme_request_info info;
	struct gme_seq_state *st;
	struct et_req want[2];
	uint64_t id, id2;
	size_t size;
	char err[256];

	CHECK(m);
	if (!m)
		return;
	make_reqs(want, 64, 2);
	/* a seed whose continuation is long enough to be cut in two */
	for (uint64_t seed = 77; seed < 200; seed++) {
		want[0] = (struct et_req){ .prompt = prompts[1],
					   .n_prompt = 6,
					   .temperature = 0.9f,
					   .top_p = 0.95f,
					   .seed = seed,
					   .max_new = 30 };
		CHECK(et_run(m, &p, want, 1) >= 0);
		if (want[0].n_out >= 20)
			break;
	}
	CHECK(want[0].n_out >= 20);

	CHECK_INT(gme_engine_create(m, &p, &e1, err, sizeof(err)), 0);
	CHECK_INT(gme_engine_create(m, &p, &e2, err, sizeof(err)), 0);
	sp.temperature = 0.9f;
	sp.top_p = 0.95f;
	sp.seed = want[0].seed;
	sp.max_new_tokens = 30;
	CHECK_INT(gme_engine_submit(e1, prompts[1], 6, &sp, &id), 0);
	for (int i = 0; i < 8; i++)
		gme_engine_step(e1, NULL);
	size = gme_seq_state_size(e1);
	st = malloc(size);
	CHECK_INT(gme_engine_request_export(e1, id, st, 8), -ENOSPC);
	CHECK_INT(gme_engine_request_export(e1, id + 100, st, size), -ENOENT);
	CHECK_INT(gme_engine_request_export(e1, id, st, size), 0);
	CHECK_INT(st->magic, GME_SEQ_STATE_MAGIC);
	CHECK(st->n_tokens > st->n_prompt); /* some generated already */
	CHECK(st->n_blocks > 0);
	CHECK_INT(gme_engine_request_release(e1, id), 0);
	{
		int32_t used, total;

		gme_engine_kv_usage(e1, &used, &total);
		CHECK_INT(used, 0);
	}
	/* corrupt copies are refused */
	st->magic ^= 1;
	CHECK_INT(gme_engine_request_import(e2, st, size, &id2), -EINVAL);
	st->magic ^= 1;
	st->data[0] = 1 << 20;
	CHECK_INT(gme_engine_request_import(e2, st, size, &id2), -EINVAL);
	st->data[0] = GME_TOKEN_BOS;
	CHECK_INT(gme_engine_request_import(e2, st, size, &id2), 0);
	while (gme_engine_step(e2, NULL) > 0)
		;
	CHECK_INT(gme_engine_request_info(e2, id2, &info), 0);
	CHECK_INT(info.n_generated, want[0].n_out);
	CHECK(info.n_generated == want[0].n_out &&
	      !memcmp(info.generated, want[0].out, 4 * info.n_generated));
	free(st);
	gme_engine_free(e1);
	gme_engine_free(e2);
	gme_model_free(m);
}

static void test_submit_errors(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct gme_engine_params p = params(1, 16);
	struct gme_sampling_params sp = gme_sampling_default_params();
	struct gme_engine *e;
	int32_t toks[64] = { 1 };
	uint64_t id;
	char err[256];

	CHECK(m);
	if (!m)
		return;
	p.n_blocks = 8; /* 32 positions */
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), 0);
	CHECK_INT(gme_engine_submit(e, toks, 0, &sp, &id), -EINVAL);
	toks[1] = 64;
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), -EINVAL);
	toks[1] = -1;
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), -EINVAL);
	toks[1] = 5;
	CHECK_INT(gme_engine_submit(e, toks, 64, &sp, &id), -E2BIG);
	sp.max_new_tokens = 100; /* needs 63 positions > 32 */
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), -ENOSPC);
	sp.max_new_tokens = 20;
	sp.temperature = -1.0f;
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), -EINVAL);
	sp.temperature = 0.0f;
	sp.top_p = 2.0f;
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), -EINVAL);
	sp.top_p = 1.0f;
	CHECK_INT(gme_engine_submit(e, toks, 2, &sp, &id), 0);
	CHECK_INT(gme_engine_request_release(e, id + 1), -ENOENT);
	CHECK_INT(gme_engine_request_release(e, id), 0);
	gme_engine_free(e);
	p.max_batch_tokens = 0;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), -EINVAL);
	gme_model_free(m);
}

static void test_finish_reasons(void)
{
	struct gme_model *m = load_cfg(&gqa_cfg, "gqa.bin", 42);
	struct gme_engine_params p = params(1, 16);
	struct gme_sampling_params sp = gme_sampling_default_params();
	struct gme_request_info info;
	struct gme_engine *e;
	int32_t toks[64] = { 1, 5, 6, 7 };
	uint64_t a, b, c;
	char err[256];

	CHECK(m);
	if (!m)
		return;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), 0);
	sp.max_new_tokens = 5;
	CHECK_INT(gme_engine_submit(e, toks, 4, &sp, &a), 0);
	sp.max_new_tokens = 1000;
	CHECK_INT(gme_engine_submit(e, toks, 4, &sp, &b), 0);
	sp.max_new_tokens = 0;
	CHECK_INT(gme_engine_submit(e, toks, 4, &sp, &c), 0);
	while (gme_engine_step(e, NULL) > 0)
		;
	CHECK_INT(gme_engine_request_info(e, a, &info), 0);
	CHECK_INT(info.finish, GME_FINISH_LENGTH);
	CHECK_INT(info.n_generated, 5);
	CHECK_INT(gme_engine_request_info(e, b, &info), 0);
	CHECK(info.finish == GME_FINISH_SEQ_LEN ||
	      info.finish == GME_FINISH_STOP);
	if (info.finish == GME_FINISH_SEQ_LEN)
		CHECK_INT(info.n_prompt + info.n_generated, gqa_cfg.seq_len);
	CHECK_INT(gme_engine_request_info(e, c, &info), 0);
	CHECK_INT(info.finish, GME_FINISH_LENGTH);
	CHECK_INT(info.n_generated, 0);
	gme_engine_free(e);
	gme_model_free(m);
}

/* ---- malformed checkpoints ------------------------------------------- */

static int load_header(const int32_t h[7], uint64_t extra_floats,
		       int64_t delta_bytes)
{
	struct et_cfg c;
	struct gme_model *m = NULL;
	uint64_t n = extra_floats;
	size_t len;
	char *buf, err[256] = "";
	int ret;

	memcpy(&c, h, sizeof(c));
	len = 28 + n * 4 + delta_bytes;
	buf = calloc(1, len + 28);
	memcpy(buf, h, len < 28 ? len : 28);
	et_write_file(et_path("bad.bin"), buf, len);
	free(buf);
	ret = gme_model_load(et_path("bad.bin"), &m, err, sizeof(err));
	if (ret) {
		CHECK(m == NULL);
		CHECK(err[0] != '\0');
		printf("  refused (%d): %s\n", ret, err);
	}
	gme_model_free(m);
	return ret;
}

static void test_ckpt_truncated(void)
{
	const int32_t h[7] = { 48, 96, 2, 6, 2, 64, 64 };
	uint64_t n = et_checkpoint_floats(&gqa_cfg);

	CHECK_INT(load_header(h, n, 0), 0); /* the control */
	CHECK_INT(load_header(h, 0, -28), -EINVAL); /* empty */
	CHECK_INT(load_header(h, 0, -10), -EINVAL); /* half a header */
	CHECK_INT(load_header(h, 0, 0), -EINVAL); /* header only */
	CHECK_INT(load_header(h, n, -4), -EINVAL); /* one float short */
	CHECK_INT(load_header(h, n, -1), -EINVAL);
}

static void test_ckpt_size_mismatch(void)
{
	const int32_t h[7] = { 48, 96, 2, 6, 2, 64, 64 };
	int32_t sep[7] = { 48, 96, 2, 6, 2, -64, 64 };
	uint64_t n = et_checkpoint_floats(&gqa_cfg);

	CHECK_INT(load_header(h, n, 4), -EINVAL); /* trailing float */
	CHECK_INT(load_header(h, n, 3), -EINVAL);
	/* a separate classifier needs vocab * dim more floats */
	CHECK_INT(load_header(sep, n, 0), -EINVAL);
	CHECK_INT(load_header(sep, n + 64 * 48, 0), 0);
	/* mismatch against another header's size */
	CHECK_INT(load_header((const int32_t[7]){ 48, 96, 3, 6, 2, 64, 64 }, n,
			      0),
		  -EINVAL);
}

static void test_ckpt_bad_dims(void)
{
	static const int32_t bad[][7] = {
		{ 0, 96, 2, 6, 2, 64, 64 }, /* zero dim */
		{ -48, 96, 2, 6, 2, 64, 64 }, /* negative dim */
		{ 48, 0, 2, 6, 2, 64, 64 },
		{ 48, -1, 2, 6, 2, 64, 64 },
		{ 48, 96, 0, 6, 2, 64, 64 },
		{ 48, 96, -2, 6, 2, 64, 64 },
		{ 48, 96, 2, 0, 2, 64, 64 },
		{ 48, 96, 2, 6, 0, 64, 64 },
		{ 48, 96, 2, 6, -2, 64, 64 },
		{ 48, 96, 2, 6, 2, 0, 64 }, /* zero vocab */
		{ 48, 96, 2, 6, 2, INT32_MIN, 64 },
		{ 48, 96, 2, 6, 2, 64, 0 }, /* zero seq_len */
		{ 48, 96, 2, 6, 2, 64, -64 },
		{ 48, 96, 2, 5, 1, 64, 64 }, /* dim % n_heads */
		{ 48, 96, 2, 6, 4, 64, 64 }, /* n_heads % n_kv_heads */
		{ 48, 96, 2, 6, 12, 64, 64 }, /* more kv heads than heads */
		{ 48, 96, 2, 96, 96, 64, 64 }, /* more heads than dim */
		{ 48, 96, 2, 16, 2, 64, 64 }, /* odd head size 3 */
		{ INT32_MAX, INT32_MAX, INT32_MAX, 1, 1, INT32_MAX,
		  INT32_MAX }, /* overflow */
		{ 1 << 16, 1 << 20, 1024, 1, 1, -(1 << 24), 1 << 20 },
		/* huge but in range */
	};
	const int n = sizeof(bad) / sizeof(bad[0]);

	for (int i = 0; i < n; i++) {
		int ret = load_header(bad[i], 1000, 0);

		if (ret != -EINVAL && ret != -EOVERFLOW) {
			printf("  header %d accepted (%d)\n", i, ret);
			et_fail++;
		}
	}
}

static void test_ckpt_missing(void)
{
	struct gme_model *m;
	char err[256];

	CHECK_INT(gme_model_load(et_path("does-not-exist.bin"), &m, err,
				 sizeof(err)),
		  -ENOENT);
	CHECK(strstr(err, "does-not-exist.bin") != NULL);
	CHECK_INT(gme_model_load(et_tmpdir(), &m, err, sizeof(err)), -EINVAL);
}

/* ---- tokenizer -------------------------------------------------------- */

struct tokbuf {
	char data[16384];
	size_t len;
};

static void tb_put(struct tokbuf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void tb_token(struct tokbuf *b, float score, const char *s)
{
	int32_t len = strlen(s);

	tb_put(b, &score, 4);
	tb_put(b, &len, 4);
	tb_put(b, s, len);
}

/* vocab: <unk> <s> </s> <0x00>..<0xFF> " " "a" "b" "ab" " ab" "c" */
#define SYN_VOCAB 264

static void syn_tokenizer(struct tokbuf *b)
{
	int32_t max_len = 8;
	char piece[16];

	b->len = 0;
	tb_put(b, &max_len, 4);
	tb_token(b, 0.0f, "<unk>");
	tb_token(b, 0.0f, "<s>");
	tb_token(b, 0.0f, "</s>");
	for (int i = 0; i < 256; i++) {
		snprintf(piece, sizeof(piece), "<0x%02X>", i);
		tb_token(b, 0.0f, piece);
	}
	tb_token(b, -1.0f, " "); /* 259 */
	tb_token(b, -2.0f, "a"); /* 260 */
	tb_token(b, -3.0f, "b"); /* 261 */
	tb_token(b, -4.0f, "ab"); /* 262 */
	tb_token(b, -5.0f, " ab"); /* 263 */
}

static struct gme_tokenizer *syn_load(struct tokbuf *b, int32_t vocab, int *ret)
{
	struct gme_tokenizer *t = NULL;
	char err[256] = "";

	et_write_file(et_path("tok.bin"), b->data, b->len);
	*ret = gme_tokenizer_load(et_path("tok.bin"), vocab, &t, err,
				  sizeof(err));
	if (*ret) {
		CHECK(err[0]);
		printf("  refused (%d): %s\n", *ret, err);
	}
	return t;
}

static void test_tokenizer_encode_decode(void)
{
	struct tokbuf b;
	struct gme_tokenizer *t;
	int32_t toks[64];
	int ret, n;
	char text[64] = "";

	syn_tokenizer(&b);
	t = syn_load(&b, SYN_VOCAB, &ret);
	CHECK_INT(ret, 0);
	if (!t)
		return;
	/* " " + "a" + "b" -> "ab" -> " ab" */
	n = gme_tokenizer_encode(t, "ab", true, false, toks, 64);
	CHECK_INT(n, 2);
	CHECK_INT(toks[0], GME_TOKEN_BOS);
	CHECK_INT(toks[1], 263);
	/* unknown characters fall back to bytes, é is c3 a9 */
	n = gme_tokenizer_encode(t,
				 "\xc3\xa9"
				 "ab",
				 false, true, toks, 64);
	CHECK_INT(n, 5);
	CHECK_INT(toks[0], 259);
	CHECK_INT(toks[1], 0xc3 + 3);
	CHECK_INT(toks[2], 0xa9 + 3);
	CHECK_INT(toks[3], 262);
	CHECK_INT(toks[4], GME_TOKEN_EOS);
	/* empty text: BOS only, no dummy prefix */
	CHECK_INT(gme_tokenizer_encode(t, "", true, false, toks, 64), 1);
	CHECK_INT(gme_tokenizer_encode(t, "abab", true, false, toks, 2),
		  -ENOSPC);
	/* decode: leading space dropped after BOS, bytes restored */
	n = gme_tokenizer_encode(t, "\xc3\xa9 ab aab", true, false, toks, 64);
	CHECK(n > 0);
	for (int i = 1; i < n; i++)
		strcat(text, gme_tokenizer_decode(t, toks[i - 1], toks[i]));
	CHECK(!strcmp(text, "\xc3\xa9 ab aab"));
	CHECK(gme_tokenizer_decode(t, 1, SYN_VOCAB) == NULL);
	CHECK(gme_tokenizer_decode(t, 1, -1) == NULL);
	CHECK(!strcmp(gme_tokenizer_decode(t, 5, 263), " ab"));
	CHECK(!strcmp(gme_tokenizer_decode(t, 1, 263), "ab"));
	gme_tokenizer_free(t);
}

static void test_tokenizer_malformed(void)
{
	struct tokbuf b;
	struct gme_tokenizer *t;
	int ret;
	int32_t v;

	syn_tokenizer(&b);
	t = syn_load(&b, SYN_VOCAB, &ret);
	CHECK_INT(ret, 0); /* the control */
	gme_tokenizer_free(t);

	/* vocab mismatch: more tokens in the file, or fewer */
	CHECK(!syn_load(&b, SYN_VOCAB - 1, &ret) && ret == -EINVAL);
	CHECK(!syn_load(&b, SYN_VOCAB + 1, &ret) && ret == -EINVAL);
	CHECK(!syn_load(&b, 0, &ret) && ret == -EINVAL);
	/* truncated in the middle of the last piece, of a length, empty */
	b.len -= 2;
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	b.len -= 5;
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	b.len = 2;
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	/* bad max_token_length */
	syn_tokenizer(&b);
	v = 0;
	memcpy(b.data, &v, 4);
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	v = -5;
	memcpy(b.data, &v, 4);
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	/* token longer than max_token_length */
	v = 2;
	memcpy(b.data, &v, 4);
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	/* negative length of token 0 */
	syn_tokenizer(&b);
	v = -1;
	memcpy(b.data + 8, &v, 4);
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	/* huge length */
	v = INT32_MAX;
	memcpy(b.data + 8, &v, 4);
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	/* embedded NUL in token 0 "<unk>" */
	syn_tokenizer(&b);
	b.data[12 + 1] = '\0';
	CHECK(!syn_load(&b, SYN_VOCAB, &ret) && ret == -EINVAL);
	CHECK_INT(gme_tokenizer_load(et_path("nope"), 10, &t, NULL, 0),
		  -ENOENT);
}

#define ISA_ENV "GPUMUX_ENGINE_ISA"

/*
 * Every kernel set this CPU runs (4-wide, AVX2, AVX-512) gives the same
 * tokens and logits, bit for bit, as the scalar loops, on shapes that
 * leave tails everywhere: head sizes 8, 10 and 32, hidden 70, vocab 77,
 * block sizes below, at and above the vector widths, chunked prefill.
 */
static void test_isa_invariance(void)
{
	const struct et_cfg *cfgs[] = { &gqa_cfg, &wcls_cfg, &odd_cfg,
					&mqa_cfg };
	const int bss[] = { 4, 13, 16, 20 };
	static struct et_req base[8], r[8];

	for (int c = 0; c < 4; c++) {
		struct gme_model *m = load_cfg(cfgs[c], "isa.bin", 50 + c);
		int vocab = abs(cfgs[c]->vocab_size);

		CHECK(m);
		if (!m)
			continue;
		for (int b = 0; b < 4; b++) {
			struct gme_engine_params p = params(2, 7);

			p.block_size = bss[b];
			setenv(ISA_ENV, "scalar", 1);
			make_reqs(base, vocab, 8);
			CHECK(et_run(m, &p, base, 8) >= 0);
			for (int isa = GME_ISA_VEC4; isa < GME_ISA_COUNT;
			     isa++) {
				if (!gme_forward_isa_runs(isa))
					continue;
				setenv(ISA_ENV, gme_isa_name(isa), 1);
				make_reqs(r, vocab, 8);
				CHECK(et_run(m, &p, r, 8) >= 0);
				if (!et_same(base, r, 8)) {
					printf("  %s differs from scalar: config %d, block_size %d\n",
					       gme_isa_name(isa), c, bss[b]);
					et_fail++;
				}
			}
		}
		unsetenv(ISA_ENV);
		gme_model_free(m);
	}
}

/*
 * 1..17 requests in one engine (the matmul puts 16 rows in SIMD lanes:
 * partial groups, one full, one and a bit), each bitwise what it gives
 * alone.
 */
static void test_batch_sizes(void)
{
	struct gme_model *m = load_cfg(&odd_cfg, "odd.bin", 44);
	static struct et_req alone[17], r[17];
	static int32_t pr[17][12];
	struct gme_engine_params p = params(2, 256);
	uint64_t seed = 11;

	CHECK(m);
	if (!m)
		return;
	p.block_size = 16;
	memset(alone, 0, sizeof(alone));
	for (int i = 0; i < 17; i++) {
		alone[i].n_prompt = 1 + (i * 7) % 12;
		pr[i][0] = GME_TOKEN_BOS;
		for (int k = 1; k < alone[i].n_prompt; k++) {
			seed = seed * 6364136223846793005ull +
			       1442695040888963407ull;
			pr[i][k] = 3 + (seed >> 33) % (77 - 3);
		}
		alone[i].prompt = pr[i];
		alone[i].temperature = i % 2 ? 0.9f : 0.0f;
		alone[i].top_p = i % 4 == 1 ? 0.8f : 1.0f;
		alone[i].seed = 500 + i;
		alone[i].max_new = 5 + i;
	}
	CHECK(et_run_alone(m, &p, alone, 17) == 0);
	for (int n = 1; n <= 17; n++) {
		memcpy(r, alone, n * sizeof(r[0]));
		CHECK(et_run(m, &p, r, n) >= 0);
		if (!et_same(alone, r, n)) {
			printf("  %d requests batched differ from alone\n", n);
			et_fail++;
		}
	}
	gme_model_free(m);
}

/* The SIMD expf() is libm's expf(), bit for bit (sampled; specials) */
static void test_expf_matches_libm(void)
{
	static const float special[] = {
		0.0f,		-0.0f,		 1.0f,	   -1.0f,     88.0f,
		-88.0f,		88.72f,		 89.0f,	   -103.0f,   -103.5f,
		-104.0f,	-150.0f,	 1e-30f,   -1e-30f,   1e-45f,
		0x1.04845ep+5f, -0x1.f8cbb2p+5f, INFINITY, -INFINITY, NAN,
		-NAN,
	};
	static float x[4096], y[4096];
	struct gme_run_state s0 = { 0 };

	CHECK(!gme_forward_set_isa(&s0, GME_ISA_SCALAR));
	for (int isa = 0; isa < GME_ISA_COUNT; isa++) {
		struct gme_run_state s = { 0 };
		uint64_t bits = 0, bad = 0;
		int n = 0;

		if (!gme_forward_isa_runs(isa))
			continue;
		CHECK(!gme_forward_set_isa(&s, isa));
		CHECK_INT(gme_forward_isa(&s), isa);
		if (isa >= GME_ISA_AVX2 && s.expf_n == s0.expf_n)
			printf("  note: %s calls libm's expf (a libm this build does not match)\n",
			       gme_isa_name(isa));
		for (size_t i = 0; i < sizeof(special) / sizeof(special[0]);
		     i++)
			x[n++] = special[i];
		/* every 4093rd float, all signs and exponents; odd lengths */
		while (bits < (1ull << 32)) {
			int end = 4096 - (int)(bits % 7);

			for (; n < end && bits < (1ull << 32); bits += 4093) {
				uint32_t u = bits;

				memcpy(&x[n++], &u, sizeof(u));
			}
			memcpy(y, x, n * sizeof(float));
			s.expf_n(y, n);
			for (int i = 0; i < n; i++) {
				float want = expf(x[i]);

				if (memcmp(&want, &y[i], sizeof(want)) &&
				    bad++ < 5)
					printf("  %s: expf(%a) = %a, libm %a\n",
					       gme_isa_name(isa), x[i], y[i],
					       want);
			}
			n = 0;
		}
		CHECK_INT(bad, 0);
	}
}

static const struct et_test tests[] = {
	{ "gqa_matches_reference", test_gqa_matches_reference },
	{ "wcls_matches_reference", test_wcls_matches_reference },
	{ "batching_invariance", test_batching_invariance },
	{ "chunked_prefill_invariance", test_chunked_prefill_invariance },
	{ "thread_invariance", test_thread_invariance },
	{ "isa_invariance", test_isa_invariance },
	{ "batch_sizes", test_batch_sizes },
	{ "expf_matches_libm", test_expf_matches_libm },
	{ "kv_exhaustion_preempts", test_kv_exhaustion_preempts },
	{ "external_kv_pool", test_external_kv_pool },
	{ "export_import", test_export_import },
	{ "submit_errors", test_submit_errors },
	{ "finish_reasons", test_finish_reasons },
	{ "ckpt_truncated", test_ckpt_truncated },
	{ "ckpt_size_mismatch", test_ckpt_size_mismatch },
	{ "ckpt_bad_dims", test_ckpt_bad_dims },
	{ "ckpt_missing", test_ckpt_missing },
	{ "tokenizer_encode_decode", test_tokenizer_encode_decode },
	{ "tokenizer_malformed", test_tokenizer_malformed },
};

int main(int argc, char **argv)
{
	return et_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
