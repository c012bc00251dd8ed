/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux-gateway: an OpenAI-compatible front door for several engines.
 *
 * Pieces, each in its own file:
 *  - http.c:    the upstream HTTP/1.1 client: endpoints (http://HOST:PORT,
 *               unix:PATH), connect/write/read with timeouts, and an
 *               incremental response parser (chunked, Content-Length,
 *               close-delimited bodies) that never needs a whole message;
 *  - sse.c:     server-sent event framing, and the stream "splice" that
 *               lets a stream continue from another upstream without
 *               repeating a token (the migration hook);
 *  - engines.c: the engine table, one poller thread per engine reading
 *               its /metrics, and placement through the gsched ops;
 *  - server.c:  the HTTP server (libmicrohttpd) and the relay;
 *  - main.c:    the command line.
 * Buffers, clocks and histograms are common/util.c's, the HTTP server
 * frame (listening, routing, errors, metrics text) common/httpd.c's.
 * Pure pieces (http parser, sse) are unit-tested by
 * tests/gateway/test-gwunit.c.
 */
#ifndef GPUMUX_GATEWAY_H
#define GPUMUX_GATEWAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/util.h"
#include "gsched.h"

/* Buffers, clocks and histograms are common/util.h's. */

/* ---- http.c: the upstream client -------------------------------------- */

/* An engine's address: http://HOST:PORT[/] or unix:PATH. */
struct gw_endpoint {
	char url[256]; /* as given: labels, logs */
	bool is_unix;
	char path[108]; /* unix socket path */
	char host[256]; /* without brackets */
	char port[8];
	char host_hdr[272]; /* the Host: header */
};

int gw_endpoint_parse(const char *url, struct gw_endpoint *ep, char *err,
		      size_t errlen);

/* A connected, non-blocking socket, or -errno (-ETIMEDOUT). */
int gw_connect(const struct gw_endpoint *ep, int timeout_ms);
/* Write all of p; 0 or -errno (-ETIMEDOUT, -EPIPE...). */
int gw_write_all(int fd, const void *p, size_t n, int timeout_ms);
/*
 * Read what is there (waiting at most timeout_ms, -1 forever): > 0 bytes,
 * 0 at end of stream, -ETIMEDOUT, -ECANCELED when watch_fd (>= 0, the
 * client's socket) was hung up meanwhile, or -errno.
 */
ssize_t gw_read_some(int fd, void *buf, size_t cap, int timeout_ms,
		     int watch_fd);

enum gw_resp_state {
	GW_RESP_STATUS, /* the status line */
	GW_RESP_HEADERS,
	GW_RESP_BODY, /* Content-Length bytes */
	GW_RESP_BODY_EOF, /* until the connection closes */
	GW_RESP_CHUNK_SIZE,
	GW_RESP_CHUNK_DATA,
	GW_RESP_CHUNK_END, /* the CRLF after a chunk's data */
	GW_RESP_TRAILERS,
	GW_RESP_DONE,
	GW_RESP_ERROR,
};

#define GW_RESP_LINE_MAX 8192 /* a status, header or chunk-size line */
#define GW_RESP_HEAD_MAX 65536 /* status line and headers together */

/*
 * An HTTP/1.x response being parsed, fed in pieces of any size.  Body bytes
 * (de-chunked) go to the caller's buffer as they come.
 */
struct gw_resp {
	enum gw_resp_state state;
	bool head; /* the request was HEAD: no body */
	bool headers_done;
	int status;
	bool chunked, has_length, close;
	uint64_t length; /* Content-Length */
	uint64_t remaining; /* of the body, or of the current chunk */
	size_t head_bytes; /* status line and headers so far */
	char content_type[128];
	char retry_after[32];
	char allow[64];
	struct cm_buf line; /* a line being assembled */
};

void gw_resp_init(struct gw_resp *r, bool head);
void gw_resp_free(struct gw_resp *r);
/*
 * Parse in[0, n): body bytes are appended to body.  Returns the bytes
 * consumed (less than n only once the response is complete: the rest
 * belongs to the next one), or -EBADMSG for a malformed response (the
 * parser then stays in GW_RESP_ERROR), -ENOMEM.
 */
ssize_t gw_resp_feed(struct gw_resp *r, const char *in, size_t n,
		     struct cm_buf *body);
/* The peer closed: 0 if that completes the response, else -EPIPE. */
int gw_resp_eof(struct gw_resp *r);
static inline bool gw_resp_done(const struct gw_resp *r)
{
	return r->state == GW_RESP_DONE;
}

/* ---- sse.c: server-sent events and the splice ------------------------- */

/*
 * Length of the first complete event in p[0, n), its terminating blank
 * line included (LF or CRLF line ends), or 0 when it is not complete yet.
 */
size_t gw_sse_event_len(const char *p, size_t n);
/*
 * The data of an event: its data: lines joined by "\n" (one optional space
 * after the colon dropped).  Returns 1 with data set, 0 when the event has
 * no data line (a comment), -ENOMEM.
 */
int gw_sse_data(const char *ev, size_t len, struct cm_buf *data);

/*
 * The splice: a stream's tokens are numbered from 1, its text is a byte
 * string.  The client has tokens 1..delivered and the first text_delivered
 * bytes of the text.  An upstream is attached at token k, text byte offset
 * text_off: its first event carries token k and continues the text at
 * that offset; from then on its events carry consecutive tokens and text.
 * It may start anywhere in 1..delivered + 1 (and 0..text_delivered): what
 * the client has is cut from its events; k > delivered + 1 would lose
 * tokens and is refused.  This is how a stream continues on another
 * engine: after a migration at k = delivered + 1, text_off =
 * text_delivered; after a re-run from the start (recompute) at 1, 0, which
 * is exact because the engine's tokens, and so its text bytes, do not
 * depend on batching (engine/README.md), whatever the events' boundaries.
 */
struct gw_splice {
	uint64_t delivered; /* tokens the client has */
	uint64_t text_delivered; /* text bytes the client has */
	uint64_t next; /* number of the attached upstream's next token */
	uint64_t text_next; /* offset of its next text byte */
	bool attached;
};

void gw_splice_init(struct gw_splice *s);
/*
 * Attach an upstream starting at token k >= 1 and text offset text_off:
 * 0, -EINVAL (k 0), -EPROTO (k > delivered + 1, text_off > text_delivered).
 */
int gw_splice_attach(struct gw_splice *s, uint64_t k, uint64_t text_off);
/*
 * An event of n tokens and text_len text bytes from the attached upstream:
 * *skip and *skip_text are how many of its first tokens and bytes the
 * client has already; delivered and text_delivered advance past the rest.
 * -EINVAL when nothing is attached.
 */
int gw_splice_event(struct gw_splice *s, uint64_t n, uint64_t text_len,
		    uint64_t *skip, uint64_t *skip_text);

/* What the relay knows of one stream (see gw_stream_event()). */
struct gw_stream {
	struct gw_splice splice;
	bool strip_ids; /* the gateway asked for token_ids: remove them */
	bool countable; /* events carry token_ids: tokens are counted */
	char cmpl_id[64]; /* the first upstream's completion id */
	uint64_t events; /* completion events forwarded */
	uint64_t tokens; /* tokens forwarded (when countable) */
	bool done; /* [DONE] forwarded */
	bool errored; /* an error event forwarded */
};

void gw_stream_init(struct gw_stream *st, bool strip_ids);
/*
 * Relay one upstream event (raw, as framed by gw_sse_event_len()): append
 * what the client gets to out (nothing, when the client has all of it
 * already).  Events are forwarded byte for byte unless something changes:
 * token_ids the client did not ask for are removed, a re-attached
 * upstream's completion id is replaced by the first one's, and tokens and
 * text the client has are cut.  Sets *ntok to the tokens forwarded.
 * Returns 0, -EPROTO (a re-attached upstream whose tokens cannot be
 * counted, text that cannot be cut), -ENOMEM.
 */
int gw_stream_event(struct gw_stream *st, const char *ev, size_t len,
		    struct cm_buf *out, uint64_t *ntok);

/* ---- engines.c -------------------------------------------------------- */

enum gw_engine_state {
	GW_ENGINE_UNKNOWN, /* not polled yet */
	GW_ENGINE_UP, /* its last poll answered */
	GW_ENGINE_DOWN, /* its last poll (or a forward) failed */
};

struct gw;

/* One engine behind the gateway. */
struct gw_engine {
	struct gw *gw;
	uint32_t id; /* 1.., the gsched instance id */
	struct gw_endpoint ep;
	pthread_t poller;
	bool poller_started;
	int poll_fd; /* the poller's keep-alive connection, -1 */
	/* under gw->lock */
	enum gw_engine_state state;
	uint64_t report_ms; /* when its last good poll ended */
	int32_t running, waiting, kv_used, kv_total, block_tokens;
	int32_t slots_in_use, slots_total;
	uint64_t sent; /* requests placed on it, ever */
	uint64_t sent_blocks; /* their estimated prompt blocks */
	uint64_t sent_at_poll, blocks_at_poll; /* the two when it was polled */
	char error[128]; /* why it is down */
	/* counters, under gw->lock */
	uint64_t requests; /* upstream requests sent (retries included) */
	uint64_t failures; /* upstream failures (connect, broken, 5xx) */
	uint64_t polls, poll_failures;
};

struct gw_options {
	const char *listen;
	const char **engines;
	int n_engines;
	const char *policy;
	int poll_ms;
	int stale_ms;
	int poll_timeout_ms;
	int connect_timeout_ms;
	int upstream_timeout_ms; /* no byte from an engine for this long */
	int queue_timeout_ms; /* no engine can take a request: wait this */
	size_t max_body;
	unsigned int max_connections;
	double drain_timeout;
	bool admin; /* POST /admin/reattach */
	bool verbose;
};

#define GW_MAX_ENGINES 64

/* gateway metrics, under gw->lock */
enum gw_err_kind {
	GW_ERR_CONNECT, /* an engine could not be reached */
	GW_ERR_UPSTREAM, /* an engine failed mid-response */
	GW_ERR_NO_ENGINE, /* no engine could take the request */
	GW_ERR_STREAM_BROKEN, /* failed after tokens: an error event */
	GW_ERR_CLIENT_GONE, /* the client left; the upstream was closed */
	GW_ERR_BAD_RESPONSE, /* an engine's response was malformed */
	GW_N_ERR
};

struct gw_metrics {
	uint64_t requests; /* completions received */
	uint64_t errors[GW_N_ERR];
	uint64_t retries;
	uint64_t bytes_up, bytes_down; /* to engines, to clients */
	uint64_t tokens; /* stream tokens relayed (countable streams) */
	int64_t in_flight;
	struct cm_histo ttft, duration;
};

struct gw_relay;
struct httpd;

struct gw {
	const struct gw_options *opt;
	struct gw_engine *engines; /* (n_engines) */
	int n_engines;
	pthread_mutex_t lock; /* all the state marked so, and below */
	pthread_cond_t stop_cv;
	bool stop; /* pollers: exit */
	bool draining; /* 503 to new completions */
	struct gpumux_gsched gs;
	uint64_t next_id; /* gateway request ids */
	uint64_t salt;
	struct gw_relay *relays; /* in flight, a list */
	struct gw_metrics m;
	time_t started;
	struct httpd *hd;
};

int gw_engines_init(struct gw *gw);
/* one synchronous poll of every engine, then the poller threads */
int gw_engines_start(struct gw *gw);
void gw_engines_stop(struct gw *gw);
void gw_engines_fini(struct gw *gw);
/*
 * Parse an engine's /metrics text into e (locked by the caller): 0, or
 * -EBADMSG when a gauge the gateway needs is missing.
 */
int gw_parse_engine_metrics(const char *text, size_t len, struct gw_engine *e);

/* the placement's answer */
struct gw_place {
	uint32_t verdict; /* enum gpumux_gsched_verdict */
	struct gw_engine *engine; /* GPUMUX_GSCHED_PLACE */
};

/*
 * Where request id goes, with about prompt_tokens tokens, not on any of
 * exclude[0, n_exclude): the policy's choice from the polled loads.
 * Counts it as sent there.  0 or -errno.
 */
int gw_place(struct gw *gw, uint64_t id, uint32_t prompt_tokens,
	     struct gw_engine *const *exclude, int n_exclude,
	     struct gw_place *out);
/* An engine failed a forward: down until its next good poll. */
void gw_engine_failed(struct gw_engine *e, const char *why);

/* ---- server.c --------------------------------------------------------- */

int gw_serve(const struct gw_options *opt);

/*
 * The migration hook: move the stream of gateway request id to engine
 * engine_id, whose stream starts at token resume_from (1-based).  The
 * relay closes its upstream (the engine cancels the request there),
 * attaches the new one, and the splice makes sure the client gets no token
 * twice and none lost.  Engines can only re-run a request from its start
 * today (recompute, resume_from 1: exact for greedy and seeded requests);
 * a migration will attach at delivered + 1.  Returns 0, -ENOENT (no such
 * stream or engine), -EINVAL, -EOPNOTSUPP (resume_from other than 1).
 * See README.md.
 */
int gw_relay_reattach(struct gw *gw, uint64_t id, uint32_t engine_id,
		      uint64_t resume_from);

#endif /* GPUMUX_GATEWAY_H */
