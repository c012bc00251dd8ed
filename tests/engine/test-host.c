// SPDX-License-Identifier: GPL-2.0
/*
 * What serve --attach and init-random rest on, without a daemon: resizing
 * the compute thread pool between steps (bitwise the same tokens and
 * logits), the partition-share thread rule, and the seeded checkpoint and
 * tokenizer generator (same seed, same bytes; loads and runs, matching the
 * reference forward pass).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attach.h"
#include "ckpt-gen.h"
#include "engine.h"
#include "etest.h"

static const struct et_cfg gqa_cfg = { 48, 96, 2, 6, 2, 64, 64 };

static struct gme_model *load(const char *path)
{
	struct gme_model *m = NULL;
	char err[256];

	if (gme_model_load(path, &m, err, sizeof(err)))
		printf("  %s\n", err);
	return m;
}

static int32_t prompts[6][10];

static void make_reqs(struct et_req *r, int32_t vocab, int n)
{
	uint64_t s = 11;

	memset(r, 0, sizeof(*r) * n);
	for (int i = 0; i < n; i++) {
		r[i].n_prompt = 1 + (i * 3) % 10;
		prompts[i][0] = GME_TOKEN_BOS;
		for (int k = 1; k < r[i].n_prompt; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			prompts[i][k] = 3 + (s >> 33) % (vocab - 3);
		}
		r[i].prompt = prompts[i];
		r[i].temperature = i % 2 ? 0.9f : 0.0f;
		r[i].top_p = i % 3 == 2 ? 0.9f : 1.0f;
		r[i].seed = 500 + i;
		r[i].max_new = 12 + 2 * i;
	}
}

static struct gme_engine_params params(int threads, int max_threads)
{
	struct gme_engine_params p = gme_engine_default_params();

	p.n_threads = threads;
	p.max_threads = max_threads;
	p.block_size = 4;
	p.max_batch_tokens = 16; /* several steps of chunked prefill */
	p.min_parallel_work = 0; /* parallel even for tiny matmuls */
	return p;
}

/* tokens and logits do not change when the pool is resized between steps */
static void test_resize_invariance(void)
{
	static const int sched[] = { 1, 4, 2, 3, 1, 1, 4, 3 };
	struct gme_engine_params p1 = params(1, 0), pr = params(1, 4);
	struct et_req a[6], b[6];
	struct gme_model *m;

	if (et_write_checkpoint(et_path("gqa.bin"), &gqa_cfg, 42))
		return et_fail++, (void)0;
	m = load(et_path("gqa.bin"));
	CHECK(m != NULL);
	if (!m)
		return;
	make_reqs(a, 64, 6);
	make_reqs(b, 64, 6);
	CHECK(et_run(m, &p1, a, 6) >= 0);
	CHECK(et_run_threads(m, &pr, b, 6, sched, 8) >= 0);
	CHECK(et_same(a, b, 6));
	gme_model_free(m);
}

static void test_set_threads(void)
{
	struct gme_engine_params p = params(2, 3);
	struct gme_engine *e = NULL;
	struct gme_model *m;
	char err[256];

	if (et_write_checkpoint(et_path("gqa.bin"), &gqa_cfg, 42))
		return et_fail++, (void)0;
	m = load(et_path("gqa.bin"));
	if (!m)
		return et_fail++, (void)0;
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), 0);
	if (!e)
		goto out;
	CHECK_INT(gme_engine_threads(e), 2);
	CHECK_INT(gme_engine_set_threads(e, 0), -EINVAL);
	CHECK_INT(gme_engine_set_threads(e, 4), -EINVAL);
	CHECK_INT(gme_engine_set_threads(NULL, 1), -EINVAL);
	CHECK_INT(gme_engine_threads(e), 2);
	CHECK_INT(gme_engine_set_threads(e, 3), 0);
	CHECK_INT(gme_engine_threads(e), 3);
	CHECK_INT(gme_engine_set_threads(e, 3), 0);
	CHECK_INT(gme_engine_set_threads(e, 1), 0);
	CHECK_INT(gme_engine_threads(e), 1);
	gme_engine_free(e);
	/* max_threads below n_threads means n_threads */
	p = params(3, 1);
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), 0);
	if (e) {
		CHECK_INT(gme_engine_set_threads(e, 3), 0);
		CHECK_INT(gme_engine_set_threads(e, 4), -EINVAL);
		gme_engine_free(e);
	}
	p = params(1, 1025);
	CHECK_INT(gme_engine_create(m, &p, &e, err, sizeof(err)), -EINVAL);
out:
	gme_model_free(m);
}

static void test_threads_rule(void)
{
	/* max(1, round(cpus * cus / gpu_cus)), halves up, at most cpus */
	CHECK_INT(gma_threads_for(8, 64, 64), 8);
	CHECK_INT(gma_threads_for(8, 16, 64), 2);
	CHECK_INT(gma_threads_for(8, 48, 64), 6);
	CHECK_INT(gma_threads_for(2, 16, 64), 1); /* 0.5 rounds up */
	CHECK_INT(gma_threads_for(2, 48, 64), 2); /* 1.5 rounds up */
	CHECK_INT(gma_threads_for(2, 15, 64), 1); /* never 0 */
	CHECK_INT(gma_threads_for(16, 76, 304), 4);
	CHECK_INT(gma_threads_for(16, 228, 304), 12);
	CHECK_INT(gma_threads_for(4, 0, 64), 1);
	CHECK_INT(gma_threads_for(4, 100, 64), 4); /* capped */
	CHECK_INT(gma_threads_for(4, 10, -1), 1); /* unknown GPU size */
	CHECK_INT(gma_threads_for(0, 64, 64), 1);
	CHECK_INT(gma_threads_for(1024, 1, 1024), 1);
	CHECK_INT(gma_threads_for(1024, 1023, 1024), 1023);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 &&
	    !fseek(f, 0, SEEK_SET)) {
		p = malloc(n + 1);
		if (p && fread(p, 1, n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*len = n;
	}
	fclose(f);
	return p;
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *pa = slurp(a, &la), *pb = slurp(b, &lb);
	bool same = pa && pb && la == lb && !memcmp(pa, pb, la);

	free(pa);
	free(pb);
	return same;
}

static void test_ckpt_gen_deterministic(void)
{
	struct gme_config c = gme_ckpt_default_config();
	char a[512], b[512], x[512], err[256];
	struct stat st;

	snprintf(a, sizeof(a), "%s", et_path("a.bin"));
	snprintf(b, sizeof(b), "%s", et_path("b.bin"));
	snprintf(x, sizeof(x), "%s", et_path("x.bin"));
	CHECK_INT(gme_ckpt_write(a, &c, 7, err, sizeof(err)), 0);
	CHECK_INT(gme_ckpt_write(b, &c, 7, err, sizeof(err)), 0);
	CHECK_INT(gme_ckpt_write(x, &c, 8, err, sizeof(err)), 0);
	CHECK(same_file(a, b));
	CHECK(!same_file(a, x));
	CHECK(!stat(a, &st) &&
	      (uint64_t)st.st_size == 28 + 4 * gme_ckpt_floats(&c));
	CHECK((st.st_mode & 0777) == 0644);
	/* seed 0 is seed 1 */
	CHECK_INT(gme_ckpt_write(a, &c, 0, err, sizeof(err)), 0);
	CHECK_INT(gme_ckpt_write(b, &c, 1, err, sizeof(err)), 0);
	CHECK(same_file(a, b));
	/* a separate classifier: vocab * dim more floats, and it loads */
	c.shared_classifier = 0;
	CHECK_INT(gme_ckpt_write(x, &c, 7, err, sizeof(err)), 0);
	CHECK(!stat(x, &st) &&
	      (uint64_t)st.st_size == 28 + 4 * gme_ckpt_floats(&c));
	CHECK(gme_ckpt_floats(&c) ==
	      gme_ckpt_floats(&(struct gme_config){
		      c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
		      c.vocab_size, c.seq_len, 1 }) +
		      (uint64_t)c.vocab_size * c.dim);
	{
		struct gme_model *m = load(x);

		CHECK(m && !gme_model_config(m)->shared_classifier &&
		      gme_model_config(m)->vocab_size == c.vocab_size);
		gme_model_free(m);
	}
}

static void test_ckpt_gen_refuses(void)
{
	static const struct gme_config bad[] = {
		{ 0, 8, 1, 2, 2, 300, 16, 1 }, /* zero dim */
		{ 12, 8, 1, 4, 3, 300, 16, 1 }, /* 4 heads over 3 kv heads */
		{ 12, 8, 1, 4, 8, 300, 16, 1 }, /* more kv heads than heads */
		{ 12, 8, 1, 5, 5, 300, 16, 1 }, /* dim not a multiple */
		{ 12, 8, 1, 4, 4, 300, 16, 1 }, /* odd head size 3 */
		{ 16, 8, 1, 4, 4, 300, 0, 1 }, /* zero seq_len */
		{ 1 << 20, 1 << 20, 4096, 2, 2, 300, 16, 1 }, /* too big */
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_INT(gme_ckpt_write(et_path("bad.bin"), &bad[i], 1, err,
					 sizeof(err)),
			  -EINVAL);
		CHECK(err[0] != '\0');
		printf("  refused: %s\n", err);
	}
	CHECK(gme_ckpt_write("/nonexistent-dir/m.bin", &bad[0], 1, err,
			     sizeof(err)) == -EINVAL);
	{
		struct gme_config c = gme_ckpt_default_config();

		CHECK_INT(gme_ckpt_write("/nonexistent-dir/m.bin", &c, 1, err,
					 sizeof(err)),
			  -ENOENT);
		CHECK(strstr(err, "/nonexistent-dir/m.bin") != NULL);
	}
}

static void test_tokenizer_gen(void)
{
	char a[512], b[512], err[256];
	struct gme_tokenizer *t = NULL;
	int32_t toks[64];
	char text[256] = "";
	int n;

	snprintf(a, sizeof(a), "%s", et_path("tok-a.bin"));
	snprintf(b, sizeof(b), "%s", et_path("tok-b.bin"));
	CHECK_INT(gme_tokenizer_write(a, 512, err, sizeof(err)), 0);
	CHECK_INT(gme_tokenizer_write(b, 512, err, sizeof(err)), 0);
	CHECK(same_file(a, b));
	CHECK_INT(gme_tokenizer_write(b, 258, err, sizeof(err)), -EINVAL);
	CHECK_INT(gme_tokenizer_write(b, 16385, err, sizeof(err)), -EINVAL);
	/* the largest loads too: every piece is there, none is empty */
	CHECK_INT(gme_tokenizer_write(b, 16384, err, sizeof(err)), 0);
	CHECK_INT(gme_tokenizer_load(b, 16384, &t, err, sizeof(err)), 0);
	gme_tokenizer_free(t);
	t = NULL;
	CHECK_INT(gme_tokenizer_load(a, 512, &t, err, sizeof(err)), 0);
	if (!t)
		return;
	/* text round trips, with words as single tokens */
	n = gme_tokenizer_encode(t, "Once upon a time, the dog\xc3\xa9!", true,
				 false, toks, 64);
	CHECK(n > 1 && n < 20);
	for (int i = 1; i < n; i++)
		strcat(text, gme_tokenizer_decode(t, toks[i - 1], toks[i]));
	CHECK(!strcmp(text, "Once upon a time, the dog\xc3\xa9!"));
	printf("  %d tokens: '%s'\n", n, text);
	{
		bool upon = false;

		for (int i = 1; i < n; i++)
			upon |= !strcmp(gme_tokenizer_decode(t, 5, toks[i]),
					" upon");
		CHECK(upon); /* merged through " u", " up", " upo" */
	}
	gme_tokenizer_free(t);
}

/* what init-random writes runs, and matches the reference forward pass */
static void test_init_random_runs(void)
{
	struct gme_config c = gme_ckpt_default_config();
	struct gme_engine_params p = params(2, 0);
	struct gme_model *m;
	struct ref_model *ref;
	struct et_req r;
	int32_t want[40];
	char err[256];
	int n;

	CHECK_INT(gme_ckpt_write(et_path("model.bin"), &c, 42, err,
				 sizeof(err)),
		  0);
	m = load(et_path("model.bin"));
	if (!m)
		return et_fail++, (void)0;
	make_reqs(&r, c.vocab_size, 1);
	r.temperature = 0.0f;
	r.max_new = 40;
	CHECK(et_run(m, &p, &r, 1) >= 0);
	ref = ref_load(et_path("model.bin"));
	n = ref_greedy(ref, r.prompt, r.n_prompt, 40, want);
	CHECK(n > 0 && r.n_out == n &&
	      !memcmp(r.out, want, n * sizeof(int32_t)));
	/* byte tokens are rare in what it says */
	{
		int bytes = 0;

		for (int i = 0; i < r.n_out; i++)
			bytes += r.out[i] >= 3 && r.out[i] < 259;
		CHECK(bytes * 4 < r.n_out);
	}
	ref_free(ref);
	gme_model_free(m);
}

static const struct et_test tests[] = {
	{ "resize_invariance", test_resize_invariance },
	{ "set_threads", test_set_threads },
	{ "threads_rule", test_threads_rule },
	{ "ckpt_gen_deterministic", test_ckpt_gen_deterministic },
	{ "ckpt_gen_refuses", test_ckpt_gen_refuses },
	{ "tokenizer_gen", test_tokenizer_gen },
	{ "init_random_runs", test_init_random_runs },
};

int main(int argc, char **argv)
{
	return et_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
