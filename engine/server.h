/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux-engine serve: the OpenAI-compatible HTTP front end (server.c).
 *
 * gms_serve() loads the model and tokenizer, gets its KV pool memory and
 * thread count from a host (struct gms_host_ops), runs the engine thread
 * and the libmicrohttpd daemon until SIGTERM or SIGINT, and returns the
 * process exit status.
 */
#ifndef GPUMUX_ENGINE_SERVER_H
#define GPUMUX_ENGINE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the host gives the server to run on. */
struct gms_resources {
	void *kv_pool; /* NULL: the engine allocates its KV pool */
	size_t kv_pool_size; /* bytes at kv_pool */
	int n_threads; /* compute threads; <= 0: all online cores */
};

/* Load figures a scheduler needs, sent about once a second. */
struct gms_load {
	int32_t running; /* requests in the batch (holding KV) */
	int32_t waiting; /* requests queued for admission */
	int32_t kv_used; /* KV blocks */
	int32_t kv_total;
	double tokens_per_s; /* generated, over the last interval */
};

/*
 * Where the server's KV memory and threads come from.  Standalone
 * (gms_host_standalone): plain memory and the --threads count.  With
 * --attach (libgpumux, later) the KV pool is a gpumux pinned buffer, the
 * thread count follows the tenant's partition and load goes to the daemon.
 * Every callback gets ctx.
 */
struct gms_host_ops {
	const char *name;
	/*
	 * Called once before the engine is created.  kv_bytes is what the
	 * options ask for (kv blocks x block bytes); fill res (its
	 * n_threads holds --threads) and return 0, or -errno with a reason
	 * in err.
	 */
	int (*acquire)(void *ctx, size_t kv_bytes, struct gms_resources *res,
		       char *err, size_t errlen);
	/* from the engine thread, about once a second; may be NULL */
	void (*report)(void *ctx, const struct gms_load *load);
	/* called once after the engine is freed; may be NULL */
	void (*release)(void *ctx, struct gms_resources *res);
	void *ctx;
};

extern const struct gms_host_ops gms_host_standalone;

struct gms_options {
	const char *model_path;
	const char *tokenizer_path;
	const char *listen; /* HOST:PORT, [V6]:PORT or unix:PATH */
	int n_threads; /* <= 0: all online cores */
	int32_t max_seqs; /* requests running at once */
	int32_t max_waiting; /* queued beyond max_seqs before 429 */
	int32_t max_batch_tokens; /* per-step token budget */
	int32_t block_size; /* tokens per KV block */
	int32_t kv_blocks; /* 0: max_seqs full sequences */
	size_t max_body; /* request body limit in bytes (413) */
	int max_connections; /* 0: max_seqs + max_waiting + 32 */
	double drain_timeout; /* seconds in-flight requests get at exit */
	bool verbose; /* one stderr line per request */
	const struct gms_host_ops *host; /* NULL: gms_host_standalone */
};

struct gms_options gms_default_options(void);

/* Serve until SIGTERM/SIGINT; returns 0, or 1 after a runtime error. */
int gms_serve(const struct gms_options *opt);

#endif /* GPUMUX_ENGINE_SERVER_H */
