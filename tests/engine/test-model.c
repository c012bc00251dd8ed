// SPDX-License-Identifier: GPL-2.0
/*
 * Engine tests on the shared aidreams260K model and its tok512 tokenizer,
 * read from $GPUMUX_MODEL_DIR (default ../shared/models).  Exits 77 when
 * they are not there.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "etest.h"

static char model_path[1024], tok_path[1024];
static struct gme_model *model;
static struct gme_tokenizer *tok;

static const char *texts[] = {
	"Once upon a time, there was a little girl named Lily.",
	"The cat sat on the mat.",
	"Hello world",
	"a",
	"  two  spaces and\ttabs\nand a newline",
	"Caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 snowman and emoji",
	"Tom and Sue went to the park to play with their ball.",
	"12345 + 678 = ?",
};
#define N_TEXTS (int)(sizeof(texts) / sizeof(texts[0]))

static int encode(const char *text, int32_t *toks)
{
	return gme_tokenizer_encode(tok, text, true, false, toks,
				    strlen(text) + 3);
}

static void test_greedy_matches_reference(void)
{
	struct ref_model *ref = ref_load(model_path);
	struct gme_engine_params p = gme_engine_default_params();
	struct et_req reqs[N_TEXTS];
	int32_t prompts[N_TEXTS][256], want[256];

	memset(reqs, 0, sizeof(reqs));
	for (int i = 0; i < N_TEXTS; i++) {
		reqs[i].n_prompt = encode(texts[i], prompts[i]);
		CHECK(reqs[i].n_prompt > 0);
		reqs[i].prompt = prompts[i];
		reqs[i].max_new = 1000; /* up to seq_len */
	}
	CHECK(et_run(model, &p, reqs, N_TEXTS) >= 0);
	for (int i = 0; i < N_TEXTS; i++) {
		int n = ref_greedy(ref, prompts[i], reqs[i].n_prompt, 1000,
				   want);

		CHECK(n > 10);
		CHECK_INT(reqs[i].n_out, n);
		if (reqs[i].n_out != n ||
		    memcmp(reqs[i].out, want, n * sizeof(int32_t)))
			printf("  prompt %d differs from the reference\n", i);
		CHECK(reqs[i].n_out == n &&
		      !memcmp(reqs[i].out, want, n * sizeof(int32_t)));
	}
	/* BOS alone, as `generate` without a prompt */
	{
		int32_t bos = GME_TOKEN_BOS;
		struct et_req r = { .prompt = &bos,
				    .n_prompt = 1,
				    .max_new = 1000 };
		int n = ref_greedy(ref, &bos, 1, 1000, want);

		CHECK(et_run(model, &p, &r, 1) >= 0);
		CHECK_INT(r.n_out, n);
		CHECK(!memcmp(r.out, want, n * sizeof(int32_t)));
	}
	ref_free(ref);
}

static void test_tokenizer_round_trip(void)
{
	int32_t toks[256];
	char buf[1024];

	for (int i = 0; i < N_TEXTS; i++) {
		int n = encode(texts[i], toks);

		CHECK(n > 1);
		CHECK_INT(toks[0], GME_TOKEN_BOS);
		buf[0] = '\0';
		for (int k = 1; k < n; k++) {
			const char *piece =
				gme_tokenizer_decode(tok, toks[k - 1], toks[k]);
			CHECK(piece != NULL);
			if (piece)
				strcat(buf, piece);
		}
		if (strcmp(buf, texts[i]))
			printf("  '%s' came back as '%s'\n", texts[i], buf);
		CHECK(!strcmp(buf, texts[i]));
	}
	/* merges happen: fewer tokens than bytes */
	printf("  %d tokens for %zu bytes\n", encode(texts[0], toks),
	       strlen(texts[0]));
	CHECK(encode(texts[0], toks) < (int)strlen(texts[0]) * 3 / 4);
	/* the emoji is not in a 512 vocab: byte fallback, 4 byte tokens */
	{
		int n = gme_tokenizer_encode(tok, "\xf0\x9f\x98\x80", false,
					     false, toks, 16);
		int bytes = 0;

		for (int k = 0; k < n; k++)
			bytes += toks[k] >= 3 && toks[k] < 259;
		CHECK_INT(bytes, 4);
	}
}

static void test_batching_invariance(void)
{
	struct gme_engine_params p = gme_engine_default_params();
	struct et_req alone[8], batched[8];
	int32_t prompts[8][256];

	memset(alone, 0, sizeof(alone));
	for (int i = 0; i < 8; i++) {
		alone[i].n_prompt = encode(texts[i], prompts[i]);
		alone[i].prompt = prompts[i];
		alone[i].temperature = i % 2 ? 1.0f : 0.0f;
		alone[i].top_p = i % 4 == 1 ? 0.9f : 1.0f;
		alone[i].seed = 31 + i;
		alone[i].max_new = 40 + 10 * i;
	}
	memcpy(batched, alone, sizeof(alone));
	p.max_batch_tokens = 16;
	p.n_threads = 2;
	p.min_parallel_work = 0;
	CHECK(et_run_alone(model, &p, alone, 8) == 0);
	p.n_blocks = 12; /* also force preemptions */
	CHECK(et_run(model, &p, batched, 8) > 0);
	CHECK(et_same(alone, batched, 8));
}

static const struct et_test tests[] = {
	{ "model_greedy_matches_reference", test_greedy_matches_reference },
	{ "model_tokenizer_round_trip", test_tokenizer_round_trip },
	{ "model_batching_invariance", test_batching_invariance },
};

int main(int argc, char **argv)
{
	const char *dir = getenv("GPUMUX_MODEL_DIR");
	char err[512];
	int ret;

	if (!dir || !*dir)
		dir = "../shared/models";
	snprintf(model_path, sizeof(model_path),
		 "%s/aidreams260K/aidreams260K.bin", dir);
	snprintf(tok_path, sizeof(tok_path), "%s/aidreams260K/tok512.bin", dir);
	if (access(model_path, R_OK) || access(tok_path, R_OK)) {
		printf("SKIP test-model: %s or %s not found (set GPUMUX_MODEL_DIR)\n",
		       model_path, tok_path);
		return 77;
	}
	if (gme_model_load(model_path, &model, err, sizeof(err)) ||
	    gme_tokenizer_load(tok_path, gme_model_config(model)->vocab_size,
			       &tok, err, sizeof(err))) {
		printf("FAIL load: %s\n", err);
		return 1;
	}
	ret = et_main(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
	gme_tokenizer_free(tok);
	gme_model_free(model);
	return ret;
}
