/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Engine test harness: each test prints PASS, FAIL or SKIP and its name;
 * run-tests.sh counts them.  Also a reference llama2.c forward pass that
 * shares no code with the engine, and seeded random checkpoints written by
 * the engine's own generator (ckpt-gen.c, as `init-random` writes them).
 */
#ifndef GPUMUX_ETEST_H
#define GPUMUX_ETEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern int et_fail;
extern bool et_skipped;

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			printf("  %s:%d: check failed: %s\n", __FILE__, \
			       __LINE__, #cond);                        \
			et_fail++;                                      \
		}                                                       \
	} while (0)

#define CHECK_INT(a, b)                                                      \
	do {                                                                 \
		long long _a = (a), _b = (b);                                \
		if (_a != _b) {                                              \
			printf("  %s:%d: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, _a, #b, _b);          \
			et_fail++;                                           \
		}                                                            \
	} while (0)

struct et_test {
	const char *name;
	void (*fn)(void);
};

int et_main(const struct et_test *tests, int n, int argc, char **argv);
void et_skip(const char *why);
/* a fresh temporary directory for this process, removed at exit */
const char *et_tmpdir(void);
char *et_path(const char *name); /* in et_tmpdir(); static buffer */

/* ---- checkpoints ------------------------------------------------------ */

struct et_cfg {
	int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
		seq_len; /* vocab_size < 0: separate classifier */
};

/* write a checkpoint with seeded random weights (gme_ckpt_write); 0 or -1 */
int et_write_checkpoint(const char *path, const struct et_cfg *c,
			uint64_t seed);
/* write raw bytes */
int et_write_file(const char *path, const void *data, size_t len);
/* number of floats a v0 checkpoint with this header holds */
uint64_t et_checkpoint_floats(const struct et_cfg *c);

/* ---- reference forward (plain llama2.c, contiguous KV cache) ---------- */

struct ref_model;

struct ref_model *ref_load(const char *path);
void ref_free(struct ref_model *r);
int ref_seq_len(const struct ref_model *r);
/* greedy continuation as llama2.c's generate(); returns tokens written */
int ref_greedy(struct ref_model *r, const int32_t *prompt, int n_prompt,
	       int n_new, int32_t *out);

/* ---- engine helpers --------------------------------------------------- */

struct gme_engine;
struct gme_model;
struct gme_engine_params;
struct gme_sampling_params;

struct et_req {
	const int32_t *prompt;
	int n_prompt;
	float temperature, top_p;
	uint64_t seed;
	int max_new;
	int32_t out[1024]; /* generated tokens */
	int n_out;
	int n_preemptions;
	uint64_t logit_hash; /* FNV-1a of every logits vector's bits */
};

/*
 * Run reqs through one engine made with params p, all submitted at once.
 * Returns the total of preemptions seen in step stats, or -1 on error.
 */
int et_run(struct gme_model *m, const struct gme_engine_params *p,
	   struct et_req *reqs, int n);
/*
 * The same, calling gme_engine_set_threads(sched[k % n_sched]) before
 * step k (sched NULL, n_sched 0: never).
 */
int et_run_threads(struct gme_model *m, const struct gme_engine_params *p,
		   struct et_req *reqs, int n, const int *sched, int n_sched);
/* each request alone in a fresh engine with params p */
int et_run_alone(struct gme_model *m, const struct gme_engine_params *p,
		 struct et_req *reqs, int n);
bool et_same(const struct et_req *a, const struct et_req *b, int n);

#endif
