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
	int max_threads; /* most threads gms_server_set_compute() will ask
			  * for; <= n_threads: n_threads */
	/* given to acquire(): */
	size_t kv_block_bytes; /* one KV block */
	size_t kv_min_bytes; /* the least pool the engine runs with */
};

/*
 * How the engine computes, as the host wants it (gms_server_set_compute()):
 * the engine thread applies it between two steps, then calls the host's
 * applied().  /health and /metrics show it.
 */
struct gms_compute {
	int n_threads; /* compute threads, 1..max_threads */
	bool fenced; /* the tenant is fenced: no steps */
	int32_t cus; /* CUs the tenant may use; 0: no steps; -1: n/a */
	int32_t gpu_cus; /* CUs of its GPU; -1: n/a */
	uint64_t generation; /* the partition's, for the host's ack */
};

/* The running server, as the host's start() gets it. */
struct gms_server;

/*
 * Post how the engine is to compute from now on.  Thread-safe; wakes the
 * engine thread, which applies it between steps (and calls applied()).
 * A newer post replaces one not applied yet.
 */
void gms_server_set_compute(struct gms_server *srv,
			    const struct gms_compute *c);

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
 * --attach (attach.c, libgpumux) the KV pool is a gpumux pinned buffer,
 * the thread count follows the tenant's partition and load goes to the
 * daemon.  Every callback gets ctx.  Order: acquire, start, (applied and
 * report from the engine thread), stop, release.
 */
struct gms_host_ops {
	const char *name;
	/*
	 * Called once before the engine is created.  kv_bytes is what the
	 * options ask for (kv blocks x block bytes); a kv_pool may be
	 * smaller, down to res->kv_min_bytes, in whole blocks.  Fill res
	 * (its n_threads holds --threads) and return 0, or -errno with a
	 * reason in err.
	 */
	int (*acquire)(void *ctx, size_t kv_bytes, struct gms_resources *res,
		       char *err, size_t errlen);
	/*
	 * Called once the engine exists, before the engine thread starts;
	 * the host may start its own threads and post the compute state
	 * (until it does, the engine runs res->n_threads, unfenced).
	 * 0, or -errno with a reason in err.  May be NULL.
	 */
	int (*start)(void *ctx, struct gms_server *srv, char *err,
		     size_t errlen);
	/*
	 * From the engine thread, between steps, once the engine computes
	 * as c says (e.g. acknowledge a shrink now).  Must not block long.
	 * May be NULL.
	 */
	void (*applied)(void *ctx, const struct gms_compute *c);
	/*
	 * From the engine thread, about once a second, idle or not.  Must
	 * not block (hand it to another thread).  May be NULL.
	 */
	void (*report)(void *ctx, const struct gms_load *load);
	/* after the engine thread ended (start() succeeded); may be NULL */
	void (*stop)(void *ctx);
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
