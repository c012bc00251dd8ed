// SPDX-License-Identifier: GPL-2.0
/*
 * engine-bench: throughput and time to first token of gpumux-engine,
 * in process (the engine API, no HTTP), in one run:
 *  - a single-request loop: an engine with max_seqs 1 serving one request
 *    at a time, the baseline;
 *  - the batched engine (max_seqs = the largest level) with 1, 4, 16 and
 *    64 requests kept in flight (closed loop: a finished request is
 *    replaced at once by the next one).
 * Each level runs --rounds times for --seconds, the levels interleaved,
 * and the best round counts (the machine may be shared: the best round is
 * the one least disturbed).  Tokens/s counts every sampled token; TTFT
 * runs from submission to the end of the step that samples the first
 * token.  Prints a table and writes CSV (concurrency,tokens_per_s,
 * ttft_ms_p50,ttft_ms_p99) for the batched levels.  Reported, not asserted.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static const char *const prompts[] = {
	"Once upon a time",    "The little robot",
	"In a small town",     "She looked at the sky",
	"The data whispered",  "A cat sat",
	"Every morning",       "Far away, beyond the hills",
	"The network learned", "He opened the door",
	"Patterns emerge",     "It was a quiet night",
};
#define N_PROMPTS (sizeof(prompts) / sizeof(prompts[0]))

static const int levels[] = { 1, 4, 16, 64 };
#define N_LEVELS (sizeof(levels) / sizeof(levels[0]))

struct req {
	double t_submit;
	double t_first; /* 0 until the first token */
};

struct run {
	struct req *reqs; /* indexed by engine request id */
	size_t n_reqs;
	uint64_t *done; /* (max in flight) ids finished in the step */
	int n_done;
	uint64_t *first; /* (max in flight) ids with a first token */
	int n_first;
	uint64_t tokens;
	double t_step; /* start of the current step */
	double *ttft; /* (n_reqs) */
	size_t n_ttft;
};

struct result {
	const char *mode;
	int concurrency;
	uint64_t requests, tokens;
	double seconds, tokens_per_s, p50, p99;
	double cpu_tokens_per_s; /* per second of process CPU time */
	int32_t kv_peak, kv_total;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static void on_token(void *user, uint64_t id, int32_t token,
		     enum gme_finish_reason fin)
{
	struct run *r = user;
	struct req *q = &r->reqs[id];

	(void)token;
	r->tokens++;
	if (!q->t_first) {
		/* the step ends right after the callbacks: timed then */
		q->t_first = -1;
		r->first[r->n_first++] = id;
	}
	if (fin)
		r->done[r->n_done++] = id;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* prompts, tokenized once */
struct prompt_set {
	int32_t *tok[N_PROMPTS];
	int32_t n[N_PROMPTS];
};

static int run_level(struct gme_model *m, const struct prompt_set *ps,
		     const char *mode, int concurrency, int max_seqs,
		     int threads, int max_tokens, double seconds,
		     struct result *res)
{
	struct gme_engine_params ep = gme_engine_default_params();
	struct run r = { 0 };
	struct gme_engine *e;
	struct gme_step_stats st;
	size_t cap = 4096, next = 0;
	int in_flight = 0, ret = -1;
	double t0, t_end, t, cpu0;
	char err[256];

	r.reqs = calloc(cap, sizeof(*r.reqs));
	r.done = calloc(max_seqs + concurrency, sizeof(*r.done));
	r.first = calloc(max_seqs + concurrency, sizeof(*r.first));
	if (!r.reqs || !r.done || !r.first)
		goto out;
	ep.n_threads = threads;
	ep.max_seqs = max_seqs;
	ep.on_token = on_token;
	ep.user = &r;
	if (gme_engine_create(m, &ep, &e, err, sizeof(err))) {
		fprintf(stderr, "engine-bench: %s\n", err);
		goto out;
	}
	*res = (struct result){ .mode = mode, .concurrency = concurrency };
	t0 = now();
	cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	t_end = t0 + seconds;
	for (t = t0; t < t_end;) {
		while (in_flight < concurrency) {
			struct gme_sampling_params sp =
				gme_sampling_default_params();
			size_t p = next % N_PROMPTS;
			uint64_t id;

			sp.temperature = 0.8f;
			sp.top_p = 0.9f;
			sp.seed = next + 1;
			sp.max_new_tokens = max_tokens;
			if (gme_engine_submit(e, ps->tok[p], ps->n[p], &sp,
					      &id))
				goto out_engine;
			if (id >= cap) {
				struct req *nr =
					realloc(r.reqs, 2 * cap * sizeof(*nr));

				if (!nr)
					goto out_engine;
				memset(nr + cap, 0, cap * sizeof(*nr));
				r.reqs = nr;
				cap *= 2;
			}
			r.reqs[id].t_submit = now();
			next++;
			in_flight++;
		}
		r.n_done = r.n_first = 0;
		gme_engine_step(e, &st);
		t = now();
		if (st.kv_used > res->kv_peak)
			res->kv_peak = st.kv_used;
		res->kv_total = st.kv_total;
		for (int i = 0; i < r.n_first; i++)
			r.reqs[r.first[i]].t_first = t;
		for (int i = 0; i < r.n_done; i++) {
			gme_engine_request_release(e, r.done[i]);
			in_flight--;
		}
	}
	res->seconds = t - t0;
	res->tokens = r.tokens;
	res->requests = next;
	res->tokens_per_s = r.tokens / res->seconds;
	res->cpu_tokens_per_s =
		r.tokens / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
	r.ttft = calloc(next + 1, sizeof(*r.ttft));
	if (!r.ttft)
		goto out_engine;
	for (size_t i = 1; i <= next && i < cap; i++)
		if (r.reqs[i].t_first > 0)
			r.ttft[r.n_ttft++] =
				(r.reqs[i].t_first - r.reqs[i].t_submit) * 1e3;
	qsort(r.ttft, r.n_ttft, sizeof(*r.ttft), cmp_double);
	res->p50 = percentile(r.ttft, r.n_ttft, 50);
	res->p99 = percentile(r.ttft, r.n_ttft, 99);
	ret = 0;
out_engine:
	gme_engine_free(e);
out:
	free(r.reqs);
	free(r.done);
	free(r.first);
	free(r.ttft);
	return ret;
}

static void print_row(const struct result *r, const struct result *base)
{
	printf("%-22s %5d %8llu %9llu %10.0f %9.3f %9.3f %8.2f %10.0f\n",
	       r->mode, r->concurrency, (unsigned long long)r->requests,
	       (unsigned long long)r->tokens, r->tokens_per_s, r->p50, r->p99,
	       r->tokens_per_s / base->tokens_per_s, r->cpu_tokens_per_s);
}

static void usage(void)
{
	fputs("usage: engine-bench --model FILE --tokenizer FILE [--seconds S]\n"
	      "                    [--threads N] [--max-tokens N] [--csv FILE]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "tokenizer", required_argument, NULL, 'z' },
		{ "seconds", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 'T' },
		{ "max-tokens", required_argument, NULL, 'n' },
		{ "csv", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{}
	};
	const char *model = NULL, *tokp = NULL, *csv = "build/bench-engine.csv";
	double seconds = 1.5;
	int threads = 0, max_tokens = 96, opt, max_level = 0, rounds = 3;
	struct result base = { 0 }, res[N_LEVELS] = { 0 }, cur;
	struct gme_tokenizer *tok;
	struct prompt_set ps = { 0 };
	const struct gme_config *c;
	struct gme_model *m;
	char err[512];
	size_t kvb;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			model = optarg;
			break;
		case 'z':
			tokp = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'T':
			threads = atoi(optarg);
			break;
		case 'n':
			max_tokens = atoi(optarg);
			break;
		case 'c':
			csv = optarg;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!model || !tokp || seconds <= 0 || max_tokens <= 0 || rounds < 1)
		usage();
	if (gme_model_load(model, &m, err, sizeof(err))) {
		fprintf(stderr, "engine-bench: %s\n", err);
		return 1;
	}
	c = gme_model_config(m);
	if (gme_tokenizer_load(tokp, c->vocab_size, &tok, err, sizeof(err))) {
		fprintf(stderr, "engine-bench: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < N_PROMPTS; i++) {
		size_t len = strlen(prompts[i]) + 3;

		ps.tok[i] = malloc(len * sizeof(int32_t));
		if (!ps.tok[i])
			return 1;
		ps.n[i] = gme_tokenizer_encode(tok, prompts[i], true, false,
					       ps.tok[i], len);
		if (ps.n[i] <= 0 || ps.n[i] >= c->seq_len)
			return 1;
	}
	for (size_t i = 0; i < N_LEVELS; i++)
		if (levels[i] > max_level)
			max_level = levels[i];
	kvb = gme_kv_block_bytes(m, gme_engine_default_params().block_size);

	printf("gpumux-engine benchmark: in-process engine API (no HTTP)\n"
	       "model %s: dim %d, %d layers, %d heads (%d kv), vocab %d, seq_len %d\n"
	       "threads %d (0: all cores), best of %d rounds of %.1f s per level, max_tokens %d,\n"
	       "temperature 0.8, top_p 0.9, 12 prompts of 4-8 tokens\n\n",
	       model, c->dim, c->n_layers, c->n_heads, c->n_kv_heads,
	       c->vocab_size, c->seq_len, threads, rounds, seconds, max_tokens);
	for (int round = 0; round < rounds; round++) {
		if (run_level(m, &ps, "single-request loop", 1, 1, threads,
			      max_tokens, seconds, &cur))
			return 1;
		if (cur.tokens_per_s > base.tokens_per_s)
			base = cur;
		for (size_t i = 0; i < N_LEVELS; i++) {
			if (run_level(m, &ps, "batched", levels[i], max_level,
				      threads, max_tokens, seconds, &cur))
				return 1;
			if (cur.tokens_per_s > res[i].tokens_per_s)
				res[i] = cur;
		}
		fprintf(stderr, "round %d of %d done\n", round + 1, rounds);
	}
	printf("%-22s %5s %8s %9s %10s %9s %9s %8s %10s\n", "mode", "conc",
	       "requests", "tokens", "tokens/s", "ttft p50", "ttft p99",
	       "x single", "tok/cpu-s");
	printf("%-22s %5s %8s %9s %10s %9s %9s %8s %10s\n", "", "", "", "", "",
	       "ms", "ms", "", "");
	print_row(&base, &base);
	for (size_t i = 0; i < N_LEVELS; i++)
		print_row(&res[i], &base);
	printf("\nKV cache: %zu bytes per token (blocks of %d tokens, %zu bytes); at 64 concurrent, peak %d of %d blocks in use\n",
	       kvb / gme_engine_default_params().block_size,
	       gme_engine_default_params().block_size, kvb,
	       res[N_LEVELS - 1].kv_peak, res[N_LEVELS - 1].kv_total);
	for (size_t i = 0; i < N_LEVELS; i++) {
		if (levels[i] != 16)
			continue;
		printf("aggregate at 16 concurrent: %.2fx the single-request loop, %.2fx batched at 1 (goal >= 3x)\n",
		       res[i].tokens_per_s / base.tokens_per_s,
		       res[i].tokens_per_s / res[0].tokens_per_s);
	}
	f = fopen(csv, "w");
	if (!f) {
		fprintf(stderr, "engine-bench: %s: %s\n", csv, strerror(errno));
		return 1;
	}
	fprintf(f, "concurrency,tokens_per_s,ttft_ms_p50,ttft_ms_p99\n");
	for (size_t i = 0; i < N_LEVELS; i++)
		fprintf(f, "%d,%.1f,%.3f,%.3f\n", levels[i],
			res[i].tokens_per_s, res[i].p50, res[i].p99);
	if (fclose(f)) {
		fprintf(stderr, "engine-bench: %s: %s\n", csv, strerror(errno));
		return 1;
	}
	printf("CSV: %s\n", csv);
	for (size_t i = 0; i < N_PROMPTS; i++)
		free(ps.tok[i]);
	gme_tokenizer_free(tok);
	gme_model_free(m);
	return 0;
}
