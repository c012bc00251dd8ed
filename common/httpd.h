/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP front shared by gpumux-engine serve and gpumux-gateway, on
 * libmicrohttpd and jansson: the listening socket (HOST:PORT, [V6]:PORT or
 * unix:PATH), the daemon (a thread per connection), routing with 404 and
 * 405, request bodies up to a size (413), OpenAI-style JSON errors,
 * responses counted by status, Prometheus text helpers, and the
 * SIGTERM/SIGINT handling of both.  Linked by engine/engine.mk and
 * gateway/gateway.mk.
 */
#ifndef GPUMUX_COMMON_HTTPD_H
#define GPUMUX_COMMON_HTTPD_H

#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct httpd_conn;

/* a route's handler; ctx is struct httpd's */
typedef enum MHD_Result (*httpd_handler)(void *ctx, struct MHD_Connection *c,
					 struct httpd_conn *cn);

struct httpd_route {
	const char *path;
	bool post; /* POST with a body (up to max_body), else GET/HEAD */
	httpd_handler fn;
};

#define HTTPD_MAX_CODES 16

struct httpd {
	/* set by the caller before httpd_start() */
	const char *name; /* the program: log and error prefix */
	const struct httpd_route *routes;
	int n_routes;
	size_t max_body;
	bool verbose;
	void *ctx; /* for the handlers */
	/* responses are counted by these, the last one 0 (any other) */
	const unsigned *codes;
	int n_codes;
	/* run time */
	pthread_mutex_t lock; /* http */
	uint64_t http[HTTPD_MAX_CODES]; /* responses, by codes[] */
	struct MHD_Daemon *mhd;
	int fd; /* the listening socket, -1 */
	const char *unix_path; /* unlinked at the end */
	char desc[NI_MAXHOST + NI_MAXSERV + 8]; /* the bound address */
};

/* per request (con_cls) */
struct httpd_conn {
	struct httpd *hd;
	const struct httpd_route *route;
	struct cm_buf body;
	bool too_large;
	unsigned status; /* of the response queued */
	const char *allow; /* the Allow header of a 405 */
};

/* An HTTP error being built: OpenAI's {"error": {...}} */
struct httpd_error {
	unsigned status;
	const char *type;
	const char *param;
	const char *code;
	char msg[256];
};

/* an extra response header; a NULL or empty value is left out */
struct httpd_header {
	const char *name, *value;
};

/* name, routes, max_body, verbose, ctx, codes set; fd -1 */
void httpd_init(struct httpd *hd);
/*
 * Listen on spec (HOST:PORT, [V6]:PORT or unix:PATH) with this backlog,
 * IPv6 sockets only for IPv6 when v6only; hd->desc gets the bound address
 * (port 0 resolved).  0, or -1 with err set.
 */
int httpd_listen(struct httpd *hd, const char *spec, int backlog, bool v6only,
		 char *err, size_t errlen);
/* Serve on the listening socket; 0, or -1 (said on stderr). */
int httpd_start(struct httpd *hd, unsigned int max_connections,
		unsigned int timeout_s);
/* Stop the daemon, close and unlink the socket, free what init made. */
void httpd_fini(struct httpd *hd);

/*
 * SIGTERM and SIGINT into sigs, blocked (call before any thread exists:
 * they inherit it); SIGPIPE ignored.
 */
void httpd_block_signals(sigset_t *sigs);
/* Wait for one of sigs and say so: "NAME: SIGNAL: shutting down". */
int httpd_wait_signal(const struct httpd *hd, const sigset_t *sigs);

/* Queue resp (and destroy it) with status; the response is counted. */
enum MHD_Result httpd_queue(struct MHD_Connection *c, struct httpd_conn *cn,
			    unsigned status, struct MHD_Response *resp);
/*
 * Queue body (malloc'ed, taken) as the response with Content-Type ctype
 * (none when NULL or empty), the Allow of a 405, the headers hdrs (up to
 * one whose name is NULL; may be NULL), and Retry-After: 1 on a 429 or 503
 * that has none.
 */
enum MHD_Result httpd_reply(struct MHD_Connection *c, struct httpd_conn *cn,
			    unsigned status, const char *ctype, char *body,
			    size_t len, const struct httpd_header *hdrs);
/* j (taken) as an application/json line */
enum MHD_Result httpd_reply_json(struct MHD_Connection *c,
				 struct httpd_conn *cn, unsigned status,
				 json_t *j, const struct httpd_header *hdrs);

/*
 * Fill e: type from the status (server_error, rate_limit_error,
 * invalid_request_error); param and code may be NULL.  Returns -1.
 */
__attribute__((format(printf, 5, 6))) int
httpd_fail(struct httpd_error *e, unsigned status, const char *param,
	   const char *code, const char *fmt, ...);
json_t *httpd_error_json(const struct httpd_error *e);
enum MHD_Result httpd_reply_herr(struct MHD_Connection *c,
				 struct httpd_conn *cn,
				 const struct httpd_error *e);
__attribute__((format(printf, 6, 7))) enum MHD_Result
httpd_reply_error(struct MHD_Connection *c, struct httpd_conn *cn,
		  unsigned status, const char *param, const char *code,
		  const char *fmt, ...);

/* Prometheus text: prefix is the metrics' common start ("gpumux_x_") */
int httpd_metric(struct cm_buf *b, const char *prefix, const char *name,
		 const char *type, const char *help);
/* HELP and TYPE, then one sample "PREFIXNAME VALUE" (fmt formats it) */
__attribute__((format(printf, 6, 7))) int
httpd_metric_value(struct cm_buf *b, const char *prefix, const char *name,
		   const char *type, const char *help, const char *fmt, ...);
int httpd_metric_histo(struct cm_buf *b, const char *prefix, const char *name,
		       const char *help, const struct cm_histo *h);
/* PREFIXhttp_responses_total{code="..."}: the responses counted */
int httpd_metric_http(struct cm_buf *b, const char *prefix, struct httpd *hd);

#endif /* GPUMUX_COMMON_HTTPD_H */
