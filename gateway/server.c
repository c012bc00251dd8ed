// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-gateway: the HTTP server (libmicrohttpd) and the relay.
 *
 * Threads.  libmicrohttpd runs a thread per client connection, so a
 * handler may block on its engine: it places the request (gw_place()),
 * connects, forwards the body as it came and reads the engine's response
 * head.  A response that is not an event stream is read whole (it is one
 * JSON object) and sent on with the engine's status, Content-Type, Allow
 * and Retry-After.  An event stream is relayed event by event from a
 * libmicrohttpd content reader: each call reads what the engine sent,
 * frames events and hands each to gw_stream_event(), and returns as soon
 * as one is ready, so the client gets every event when the engine sends it
 * and the gateway holds at most one event and a read buffer.
 *
 * Every read from an engine also watches the client's socket: a client
 * that leaves is seen at once, the engine connection is closed, and the
 * engine cancels the request (it watches its own client, us).
 *
 * Failures.  An engine that cannot be reached, breaks the connection or
 * answers 429/503 before the client got anything: the request goes to
 * another engine, once (gateway_retries_total).  An engine that breaks a
 * stream after tokens were sent: the stream ends with an error event and
 * [DONE].  The migration issue turns that into a re-attach; the relay is
 * built for it (see relay_attach() and gw_relay_reattach()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/httpd.h"
#include "gateway.h"

#define MAX_TRIES 2 /* the first engine, and one retry */
#define MAX_JSON_BODY (64u << 20) /* a non-stream response from an engine */
#define MAX_EVENT (1u << 20) /* one server-sent event */
#define CONNECTION_TIMEOUT_S 120u /* idle keep-alive client connections */

#define HISTO_BUCKETS 14
static const double ttft_le[HISTO_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01,
					       0.025, 0.05,   0.1,   0.25,
					       0.5,   1,      2.5,   5,
					       10,    30 };
static const double dur_le[HISTO_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25,  0.5,  1,	  2.5,	5,
					      10,    30,   60,	  120 };

static const unsigned http_codes[] = { 200, 400, 404, 405, 413,
				       429, 500, 502, 503, 0 /* other */ };
#define N_HTTP_CODES (sizeof(http_codes) / sizeof(http_codes[0]))

static const char *const err_names[GW_N_ERR] = {
	[GW_ERR_CONNECT] = "connect",
	[GW_ERR_UPSTREAM] = "upstream",
	[GW_ERR_NO_ENGINE] = "no_engine",
	[GW_ERR_STREAM_BROKEN] = "stream_broken",
	[GW_ERR_CLIENT_GONE] = "client_gone",
	[GW_ERR_BAD_RESPONSE] = "bad_response",
};

static void count_err(struct gw *gw, enum gw_err_kind k)
{
	pthread_mutex_lock(&gw->lock);
	gw->m.errors[k]++;
	pthread_mutex_unlock(&gw->lock);
}

/* ---- the relay -------------------------------------------------------- */

struct gw_relay {
	struct gw *gw;
	struct gw_relay *prev, *next; /* gw->relays, under gw->lock */
	uint64_t id; /* the placement's request id */
	char id_str[40]; /* X-Gpumux-Request-Id */
	struct cm_buf head; /* the upstream request's head, Host: aside */
	struct cm_buf body; /* its body */
	bool completion; /* counted per engine (not /v1/models) */
	bool stream_req; /* the client asked for a stream */
	uint32_t prompt_est; /* prompt tokens, estimated */
	int client_fd;
	double t0;
	struct gw_engine *eng; /* the current upstream */
	struct gw_engine *tried[MAX_TRIES + 1]; /* placements to avoid */
	int n_tried;
	int retries;
	int fd; /* the current upstream connection, -1 */
	struct gw_resp resp;
	struct cm_buf in; /* decoded body bytes not consumed yet */
	struct cm_buf out; /* for the client */
	size_t out_off;
	uint64_t bytes_down;
	struct gw_stream st;
	bool finished; /* the stream's last event is in out */
	/* under gw->lock: the migration hook */
	bool streaming; /* relaying an event stream */
	int hook_fd; /* fd, for the hook's shutdown(); -1 */
	bool move; /* a re-attach is asked */
	uint32_t move_to;
	uint64_t move_from;
};

static struct gw_relay *relay_new(struct gw *gw, int client_fd)
{
	struct gw_relay *r = calloc(1, sizeof(*r));
	uint64_t n;

	if (!r)
		return NULL;
	r->gw = gw;
	r->fd = -1;
	r->hook_fd = -1;
	r->client_fd = client_fd;
	r->t0 = cm_now();
	gw_resp_init(&r->resp, false);
	pthread_mutex_lock(&gw->lock);
	n = ++gw->next_id;
	r->id = n;
	snprintf(r->id_str, sizeof(r->id_str), "gw-%08" PRIx32 "-%" PRIu64,
		 (uint32_t)gw->salt, n);
	r->next = gw->relays;
	if (gw->relays)
		gw->relays->prev = r;
	gw->relays = r;
	gw->m.in_flight++;
	pthread_mutex_unlock(&gw->lock);
	return r;
}

static void relay_close_upstream(struct gw_relay *r)
{
	pthread_mutex_lock(&r->gw->lock);
	r->hook_fd = -1;
	pthread_mutex_unlock(&r->gw->lock);
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static void relay_free(struct gw_relay *r)
{
	struct gw *gw = r->gw;

	relay_close_upstream(r);
	pthread_mutex_lock(&gw->lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		gw->relays = r->next;
	if (r->next)
		r->next->prev = r->prev;
	gw->m.in_flight--;
	gw->m.bytes_down += r->bytes_down;
	cm_histo_add(&gw->m.duration, cm_now() - r->t0);
	pthread_mutex_unlock(&gw->lock);
	gw_resp_free(&r->resp);
	cm_buf_free(&r->head);
	cm_buf_free(&r->body);
	cm_buf_free(&r->in);
	cm_buf_free(&r->out);
	free(r);
}

/*
 * Read the client's body just enough to place it: stream or not, the
 * prompt's size, whether it asks for token ids.  A stream that does not
 * say gets "return_token_ids":true inserted after its opening brace (the
 * relay counts tokens with them, and removes them again); everything else
 * is forwarded byte for byte, valid or not: the engine judges it.
 */
static int relay_build_request(struct gw_relay *r, const char *body, size_t len)
{
	static const char inject[] = "\"return_token_ids\":true,";
	size_t brace = 0;
	bool strip = false;
	json_t *root, *v;
	int rc;

	r->prompt_est = 1;
	root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root)) {
		r->stream_req = json_is_true(json_object_get(root, "stream"));
		v = json_object_get(root, "prompt");
		if (json_is_array(v) && json_array_size(v) == 1 &&
		    json_is_string(json_array_get(v, 0)))
			v = json_array_get(v, 0);
		if (json_is_string(v))
			/* BPE tokens are a few bytes each, and there is BOS */
			r->prompt_est = json_string_length(v) / 3 + 2;
		else if (json_is_array(v))
			r->prompt_est = json_array_size(v) + 1;
		if (r->stream_req &&
		    !json_object_get(root, "return_token_ids")) {
			while (brace < len && strchr(" \t\r\n", body[brace]))
				brace++;
			strip = brace < len && body[brace] == '{';
		}
	}
	json_decref(root);
	gw_stream_init(&r->st, strip);
	rc = cm_buf_printf(&r->head,
			   "POST /v1/completions HTTP/1.1\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: %zu\r\n"
			   "Connection: close\r\n"
			   "User-Agent: gpumux-gateway\r\n"
			   "X-Gpumux-Request-Id: %s\r\n",
			   len + (strip ? sizeof(inject) - 1 : 0), r->id_str);
	if (!rc && r->stream_req)
		rc = cm_buf_str(&r->head, "Accept: text/event-stream\r\n");
	if (!rc && strip)
		rc = cm_buf_add(&r->body, body, brace + 1) ||
		     cm_buf_str(&r->body, inject) ||
		     cm_buf_add(&r->body, body + brace + 1, len - brace - 1);
	else if (!rc)
		rc = cm_buf_add(&r->body, body ? body : "", len);
	return rc ? -ENOMEM : 0;
}

/* connect to e, send the request, read the response head */
static int relay_exchange(struct gw_relay *r, struct gw_engine *e, char *why,
			  size_t whylen)
{
	const struct gw_options *o = r->gw->opt;
	struct cm_buf msg = { 0 };
	char rbuf[16384];
	int fd, rc;

	fd = gw_connect(&e->ep, o->connect_timeout_ms);
	if (fd < 0) {
		snprintf(why, whylen, "connect: %s", strerror(-fd));
		count_err(r->gw, GW_ERR_CONNECT);
		return fd;
	}
	pthread_mutex_lock(&r->gw->lock);
	r->fd = fd;
	r->hook_fd = fd;
	e->requests += r->completion;
	rc = r->gw->stop ? -ESHUTDOWN : 0;
	pthread_mutex_unlock(&r->gw->lock);
	if (rc) {
		snprintf(why, whylen, "the gateway is shutting down");
		return rc;
	}
	if (cm_buf_add(&msg, r->head.p, r->head.len) ||
	    cm_buf_printf(&msg, "Host: %s\r\n\r\n", e->ep.host_hdr) ||
	    cm_buf_add(&msg, r->body.p, r->body.len)) {
		cm_buf_free(&msg);
		return -ENOMEM;
	}
	rc = gw_write_all(fd, msg.p, msg.len, o->upstream_timeout_ms);
	pthread_mutex_lock(&r->gw->lock);
	r->gw->m.bytes_up += msg.len;
	pthread_mutex_unlock(&r->gw->lock);
	cm_buf_free(&msg);
	/*
	 * A write that fails may be an engine that answered early (a 413)
	 * and closed: its answer counts, if there is one.
	 */
	if (rc == -ETIMEDOUT || rc == -ENOMEM) {
		snprintf(why, whylen, "sending the request: %s", strerror(-rc));
		count_err(r->gw, GW_ERR_CONNECT);
		return rc;
	}
	gw_resp_init(&r->resp, false);
	r->in.len = 0;
	while (!r->resp.headers_done) {
		ssize_t n = gw_read_some(fd, rbuf, sizeof(rbuf),
					 o->upstream_timeout_ms, r->client_fd);

		if (n == -ECANCELED)
			return n;
		if (n > 0)
			n = gw_resp_feed(&r->resp, rbuf, n, &r->in);
		else if (!n)
			n = gw_resp_eof(&r->resp);
		if (n < 0 && rc) {
			snprintf(why, whylen, "sending the request: %s",
				 strerror(-rc));
			count_err(r->gw, GW_ERR_CONNECT);
			return rc;
		}
		if (n < 0) {
			snprintf(why, whylen, "reading the response: %s",
				 n == -EPIPE ? "connection closed" :
					       strerror(-n));
			count_err(r->gw, n == -EBADMSG ? GW_ERR_BAD_RESPONSE :
							 GW_ERR_UPSTREAM);
			return n;
		}
	}
	return 0;
}

/*
 * Place the request (on forced, when given) and exchange with that engine.
 * 0: r->eng answered, r->resp has its head; -ECANCELED: the client left;
 * -ENODEV: no engine can take it; -EIO: the engine failed (it is marked
 * down), another may do.
 */
static int relay_open(struct gw_relay *r, struct gw_engine *forced)
{
	struct gw *gw = r->gw;
	const struct gw_options *o = gw->opt;
	double deadline = cm_now() + o->queue_timeout_ms / 1000.0;
	struct gw_engine *e = forced;
	char why[160];
	int rc;

	relay_close_upstream(r);
	pthread_mutex_lock(&gw->lock);
	rc = gw->stop;
	pthread_mutex_unlock(&gw->lock);
	if (rc)
		return -ENODEV;
	while (!e) {
		struct gw_place pl;
		struct pollfd p = { .fd = r->client_fd, .events = POLLRDHUP };

		rc = gw_place(gw, r->id, r->prompt_est, r->tried, r->n_tried,
			      &pl);
		if (rc)
			return -ENODEV;
		if (pl.verdict == GPUMUX_GSCHED_PLACE) {
			e = pl.engine;
			break;
		}
		if (pl.verdict == GPUMUX_GSCHED_REFUSE || cm_now() > deadline)
			return -ENODEV;
		/* QUEUE: every engine is busy or stale; ask again shortly */
		if (poll(&p, r->client_fd >= 0, o->poll_ms) > 0)
			return -ECANCELED;
	}
	if (r->n_tried < MAX_TRIES + 1)
		r->tried[r->n_tried++] = e;
	r->eng = e;
	rc = relay_exchange(r, e, why, sizeof(why));
	if (rc == -ECANCELED || !rc)
		return rc;
	relay_close_upstream(r);
	if (rc == -ENOMEM || rc == -ESHUTDOWN)
		return -ENODEV;
	gw_engine_failed(e, why);
	return -EIO;
}

/* read the rest of a (non-stream) response into r->in */
static int relay_read_body(struct gw_relay *r)
{
	const struct gw_options *o = r->gw->opt;
	char rbuf[16384];
	char why[160];

	while (!gw_resp_done(&r->resp)) {
		ssize_t n = gw_read_some(r->fd, rbuf, sizeof(rbuf),
					 o->upstream_timeout_ms, r->client_fd);

		if (n == -ECANCELED)
			return n;
		if (n > 0)
			n = gw_resp_feed(&r->resp, rbuf, n, &r->in);
		else if (!n)
			n = gw_resp_eof(&r->resp);
		if (n >= 0 && r->in.len > MAX_JSON_BODY)
			n = -E2BIG;
		if (n < 0) {
			snprintf(why, sizeof(why), "reading the response: %s",
				 n == -EPIPE ? "connection closed" :
					       strerror(-n));
			count_err(r->gw, n == -EBADMSG ? GW_ERR_BAD_RESPONSE :
							 GW_ERR_UPSTREAM);
			relay_close_upstream(r);
			gw_engine_failed(r->eng, why);
			return -EIO;
		}
	}
	relay_close_upstream(r);
	return 0;
}

static bool is_event_stream(const struct gw_resp *resp)
{
	return resp->status == 200 &&
	       !strncasecmp(resp->content_type, "text/event-stream", 17);
}

/* an error event like the engine's, then [DONE]: the stream ends */
__attribute__((format(printf, 3, 4))) static void
stream_error(struct gw_relay *r, const char *code, const char *fmt, ...)
{
	char msg[256], *txt;
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = json_pack("{s:{s:s,s:s,s:n,s:s}}", "error", "message", msg, "type",
		      "server_error", "param", "code", code);
	txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (txt)
		cm_buf_printf(&r->out, "data: %s\n\n", txt);
	free(txt);
	cm_buf_str(&r->out, "data: [DONE]\n\n");
	r->finished = true;
	relay_close_upstream(r);
	if (r->gw->opt->verbose)
		fprintf(stderr, "gpumux-gateway: %s: stream ends: %s\n",
			r->id_str, msg);
}

/*
 * Attach the stream to a new upstream (forced, or the policy's choice),
 * starting at token k, text offset text_off (the splice).  0, -ECANCELED,
 * or another -errno with the stream ended by an error event.
 */
static int relay_attach(struct gw_relay *r, struct gw_engine *forced,
			uint64_t k, uint64_t text_off)
{
	int rc;

	relay_close_upstream(r);
	r->in.len = 0; /* a partial event of the old upstream */
	if (r->st.events && !r->st.countable) {
		stream_error(
			r, "upstream_failed",
			"the engine failed after %" PRIu64
			" events, and this stream's tokens cannot be counted to continue it elsewhere",
			r->st.events);
		return -EPROTO;
	}
	rc = gw_splice_attach(&r->st.splice, k, text_off);
	if (rc) {
		stream_error(r, "upstream_failed",
			     "cannot continue the stream at token %" PRIu64
			     " after %" PRIu64 " tokens",
			     k, r->st.splice.delivered);
		return rc;
	}
	rc = relay_open(r, forced);
	if (rc == -ECANCELED)
		return rc;
	if (!rc && !is_event_stream(&r->resp)) {
		rc = -EIO;
		relay_close_upstream(r);
	}
	if (rc) {
		count_err(r->gw, r->st.events ? GW_ERR_STREAM_BROKEN :
						GW_ERR_NO_ENGINE);
		stream_error(
			r, "upstream_failed",
			"the engine serving the stream failed after %" PRIu64
			" tokens, and no other engine could take it",
			r->st.splice.delivered);
	}
	return rc;
}

/* the upstream broke (why): retry, or end the stream; -ECANCELED */
static int relay_broken(struct gw_relay *r, const char *why)
{
	struct gw *gw = r->gw;
	bool stopping;

	relay_close_upstream(r);
	pthread_mutex_lock(&gw->lock);
	stopping = gw->stop;
	pthread_mutex_unlock(&gw->lock);
	if (stopping) {
		stream_error(r, "shutting_down",
			     "the gateway is shutting down");
		return 0;
	}
	gw_engine_failed(r->eng, why);
	if (!r->st.events && r->retries < MAX_TRIES - 1) {
		/* nothing sent yet: the request starts over elsewhere */
		r->retries++;
		pthread_mutex_lock(&gw->lock);
		gw->m.retries++;
		pthread_mutex_unlock(&gw->lock);
		return relay_attach(r, NULL, 1, 0) == -ECANCELED ? -ECANCELED :
								   0;
	}
	/*
	 * Tokens were sent.  The migration issue continues the stream on
	 * another engine here (relay_attach() at delivered + 1); until
	 * engines can resume a request, the stream ends with an error.
	 */
	count_err(gw, GW_ERR_STREAM_BROKEN);
	stream_error(r, "upstream_failed",
		     "the engine serving the stream failed after %" PRIu64
		     " tokens: %s",
		     r->st.splice.delivered, why);
	return 0;
}

/* the hook asked to move the stream; -ECANCELED */
static int relay_move(struct gw_relay *r)
{
	struct gw *gw = r->gw;
	uint32_t to;
	uint64_t from;

	pthread_mutex_lock(&gw->lock);
	to = r->move_to;
	from = r->move_from;
	r->move = false;
	pthread_mutex_unlock(&gw->lock);
	if (gw->opt->verbose)
		fprintf(stderr,
			"gpumux-gateway: %s: moving to %s at token %" PRIu64
			" (%" PRIu64 " delivered)\n",
			r->id_str, gw->engines[to - 1].ep.url, from,
			r->st.splice.delivered);
	/* a re-run from the start repeats the text the client has: cut it */
	return relay_attach(r, &gw->engines[to - 1], from,
			    from == 1 ? 0 : r->st.splice.text_delivered) ==
			       -ECANCELED ?
		       -ECANCELED :
		       0;
}

static bool move_pending(struct gw_relay *r)
{
	bool m;

	pthread_mutex_lock(&r->gw->lock);
	m = r->move;
	pthread_mutex_unlock(&r->gw->lock);
	return m;
}

/* events from r->in to r->out; -EPROTO ends the stream */
static int relay_frame(struct gw_relay *r)
{
	struct gw *gw = r->gw;
	uint64_t tokens = 0;
	size_t off = 0, len;
	int rc = 0;

	while (!r->finished &&
	       (len = gw_sse_event_len(r->in.p + off, r->in.len - off))) {
		uint64_t ev0 = r->st.events, tok0 = r->st.tokens, ntok;

		rc = gw_stream_event(&r->st, r->in.p + off, len, &r->out,
				     &ntok);
		off += len;
		if (rc)
			break;
		tokens += ntok;
		/* the first event with tokens (or any, when uncounted) */
		if ((!tok0 && ntok) ||
		    (!ev0 && r->st.events && !r->st.countable)) {
			pthread_mutex_lock(&gw->lock);
			cm_histo_add(&gw->m.ttft, cm_now() - r->t0);
			pthread_mutex_unlock(&gw->lock);
		}
		if (r->st.done) {
			r->finished = true;
			relay_close_upstream(r);
		}
	}
	cm_buf_consume(&r->in, off);
	if (tokens) {
		pthread_mutex_lock(&gw->lock);
		gw->m.tokens += tokens;
		pthread_mutex_unlock(&gw->lock);
	}
	if (rc == -EPROTO) {
		count_err(gw, GW_ERR_STREAM_BROKEN);
		stream_error(
			r, "upstream_failed",
			"the stream cannot be continued exactly after %" PRIu64
			" tokens",
			r->st.splice.delivered);
		return 0;
	}
	if (!rc && !r->finished && r->in.len > MAX_EVENT)
		return relay_broken(r, "an event too large");
	return rc;
}

/*
 * Wait until r->out has events for the client, or the stream is over.
 * -ECANCELED: the client left.
 */
static int relay_fill(struct gw_relay *r)
{
	const struct gw_options *o = r->gw->opt;
	char rbuf[16384], why[160];
	ssize_t n;
	int rc;

	for (;;) {
		rc = relay_frame(r);
		if (rc)
			return rc;
		if (r->finished || r->out.len)
			return 0;
		if (move_pending(r)) {
			rc = relay_move(r);
			if (rc)
				return rc;
			continue;
		}
		if (r->fd < 0 || gw_resp_done(&r->resp)) {
			rc = relay_broken(r, "the stream ended without [DONE]");
			if (rc)
				return rc;
			continue;
		}
		n = gw_read_some(r->fd, rbuf, sizeof(rbuf),
				 o->upstream_timeout_ms, r->client_fd);
		if (n == -ECANCELED)
			return n;
		if (n > 0)
			n = gw_resp_feed(&r->resp, rbuf, n, &r->in);
		else if (!n)
			n = gw_resp_eof(&r->resp);
		if (n >= 0)
			continue;
		if (move_pending(r))
			continue;
		snprintf(why, sizeof(why), "%s",
			 n == -EPIPE   ? "the connection closed mid-stream" :
			 n == -EBADMSG ? "a malformed response" :
					 strerror(-n));
		count_err(r->gw, n == -EBADMSG ? GW_ERR_BAD_RESPONSE :
						 GW_ERR_UPSTREAM);
		rc = relay_broken(r, why);
		if (rc)
			return rc;
	}
}

/* MHD_ContentReaderCallback: in the client connection's thread */
static ssize_t relay_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct gw_relay *r = cls;
	size_t n;

	(void)pos;
	if (r->out_off == r->out.len) {
		if (r->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
		r->out.len = r->out_off = 0;
		if (relay_fill(r)) {
			/* the client left: closing the upstream cancels */
			count_err(r->gw, GW_ERR_CLIENT_GONE);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (r->out.len == 0 && r->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = r->out.len - r->out_off;
	if (n > max)
		n = max;
	memcpy(buf, r->out.p + r->out_off, n);
	r->out_off += n;
	r->bytes_down += n;
	return n;
}

/* MHD_ContentReaderFreeCallback: the response is gone, done or not */
static void relay_read_free(void *cls)
{
	relay_free(cls);
}

int gw_relay_reattach(struct gw *gw, uint64_t id, uint32_t engine_id,
		      uint64_t resume_from)
{
	struct gw_relay *r;
	int rc = -ENOENT;

	if (!resume_from)
		return -EINVAL;
	if (resume_from != 1)
		return -EOPNOTSUPP;
	if (!engine_id || engine_id > (uint32_t)gw->n_engines)
		return -ENOENT;
	pthread_mutex_lock(&gw->lock);
	for (r = gw->relays; r; r = r->next) {
		if (r->id != id || !r->streaming)
			continue;
		r->move = true;
		r->move_to = engine_id;
		r->move_from = resume_from;
		/* wake the relay from its read; the engine cancels */
		if (r->hook_fd >= 0)
			shutdown(r->hook_fd, SHUT_RDWR);
		rc = 0;
	}
	pthread_mutex_unlock(&gw->lock);
	return rc;
}

/* ---- HTTP: responses -------------------------------------------------- */

/* the engine's response, as it came */
static enum MHD_Result reply_relayed(struct gw_relay *r,
				     struct MHD_Connection *c,
				     struct httpd_conn *cn)
{
	const struct httpd_header x[] = {
		{ MHD_HTTP_HEADER_ALLOW, r->resp.allow },
		{ MHD_HTTP_HEADER_RETRY_AFTER, r->resp.retry_after },
		{ "X-Gpumux-Request-Id", r->id_str },
		{ "X-Gpumux-Engine", r->eng ? r->eng->ep.url : NULL },
		{ NULL, NULL },
	};
	char *body = malloc(r->in.len + 1);

	if (!body)
		return MHD_NO;
	memcpy(body, r->in.p ? r->in.p : "", r->in.len);
	r->bytes_down += r->in.len;
	return httpd_reply(c, cn, r->resp.status, r->resp.content_type, body,
			   r->in.len, x);
}

/* ---- HTTP: /v1/completions -------------------------------------------- */

static enum MHD_Result start_stream(struct gw_relay *r,
				    struct MHD_Connection *c,
				    struct httpd_conn *cn)
{
	struct gw *gw = r->gw;
	struct MHD_Response *resp;

	pthread_mutex_lock(&gw->lock);
	r->streaming = true;
	pthread_mutex_unlock(&gw->lock);
	gw_splice_attach(&r->st.splice, 1, 0);
	resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 16384, relay_read, r, relay_read_free);
	if (!resp) {
		relay_free(r);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->resp.content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-cache");
	MHD_add_response_header(resp, "X-Gpumux-Request-Id", r->id_str);
	MHD_add_response_header(resp, "X-Gpumux-Engine", r->eng->ep.url);
	/* relay_read_free runs when it is sent */
	return httpd_queue(c, cn, MHD_HTTP_OK, resp);
}

/* a 429 or 503 answer kept while another engine is tried */
struct fallback {
	int status;
	char content_type[128], retry_after[32], allow[64];
	struct gw_engine *eng;
	struct cm_buf body;
};

static void fallback_swap(struct gw_relay *r, struct fallback *f)
{
	struct cm_buf b = r->in;
	struct gw_engine *e = r->eng;
	int st = r->resp.status;
	struct fallback t;

	memcpy(t.content_type, r->resp.content_type, sizeof(t.content_type));
	memcpy(t.retry_after, r->resp.retry_after, sizeof(t.retry_after));
	memcpy(t.allow, r->resp.allow, sizeof(t.allow));
	memcpy(r->resp.content_type, f->content_type, sizeof(t.content_type));
	memcpy(r->resp.retry_after, f->retry_after, sizeof(t.retry_after));
	memcpy(r->resp.allow, f->allow, sizeof(t.allow));
	memcpy(f->content_type, t.content_type, sizeof(t.content_type));
	memcpy(f->retry_after, t.retry_after, sizeof(t.retry_after));
	memcpy(f->allow, t.allow, sizeof(t.allow));
	r->in = f->body;
	r->eng = f->eng;
	r->resp.status = f->status;
	f->body = b;
	f->eng = e;
	f->status = st;
}

static void count_retry(struct gw_relay *r)
{
	r->retries++;
	pthread_mutex_lock(&r->gw->lock);
	r->gw->m.retries++;
	pthread_mutex_unlock(&r->gw->lock);
}

static enum MHD_Result do_completion(void *ctx, struct MHD_Connection *c,
				     struct httpd_conn *cn)
{
	struct gw *gw = ctx;
	const union MHD_ConnectionInfo *ci;
	struct fallback fb = { 0 };
	struct gw_relay *r;
	enum MHD_Result ret;
	bool draining;
	int rc;

	pthread_mutex_lock(&gw->lock);
	draining = gw->draining;
	gw->m.requests++;
	pthread_mutex_unlock(&gw->lock);
	if (draining)
		return httpd_reply_error(c, cn, 503, NULL, "shutting_down",
					 "the gateway is shutting down");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	r = relay_new(gw, ci ? ci->connect_fd : -1);
	if (!r)
		return MHD_NO;
	r->completion = true;
	if (relay_build_request(r, cn->body.p, cn->body.len)) {
		relay_free(r);
		return MHD_NO;
	}
	for (;;) {
		rc = relay_open(r, NULL);
		if (!rc && is_event_stream(&r->resp)) {
			cm_buf_free(&fb.body);
			return start_stream(r, c, cn); /* r is the stream's */
		}
		if (!rc)
			rc = relay_read_body(r);
		if (rc == -ECANCELED)
			break;
		if (!rc && (r->resp.status == 429 || r->resp.status == 503) &&
		    r->retries < MAX_TRIES - 1) {
			/* full or stopping: another engine may take it */
			fallback_swap(r, &fb);
			count_retry(r);
			continue;
		}
		if (rc == -EIO && r->retries < MAX_TRIES - 1) {
			/* nothing was sent to the client: start over */
			count_retry(r);
			continue;
		}
		if (rc && fb.status) {
			/* the retry failed: the first engine's answer stands */
			fallback_swap(r, &fb);
			rc = 0;
		}
		break;
	}
	cm_buf_free(&fb.body);
	if (rc == -ECANCELED) {
		/* the client left: the engine connection is closed */
		count_err(gw, GW_ERR_CLIENT_GONE);
		ret = MHD_NO;
	} else if (!rc) {
		ret = reply_relayed(r, c, cn);
	} else if (rc == -ENODEV) {
		count_err(gw, GW_ERR_NO_ENGINE);
		ret = httpd_reply_error(c, cn, 503, NULL, "no_engine",
					"no engine can take the request now");
	} else {
		ret = httpd_reply_error(c, cn, 502, NULL, "upstream_failed",
					"the engines failed to answer");
	}
	relay_free(r);
	return ret;
}

/* ---- HTTP: the other endpoints ---------------------------------------- */

/* GET /v1/models from the first engine that answers */
static enum MHD_Result do_models(void *ctx, struct MHD_Connection *c,
				 struct httpd_conn *cn)
{
	struct gw *gw = ctx;
	const union MHD_ConnectionInfo *ci;
	enum MHD_Result ret;
	struct gw_relay *r;
	int rc = -ENODEV;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	r = relay_new(gw, ci ? ci->connect_fd : -1);
	if (!r)
		return MHD_NO;
	if (cm_buf_str(&r->head, "GET /v1/models HTTP/1.1\r\n"
				 "Connection: close\r\n"
				 "User-Agent: gpumux-gateway\r\n")) {
		relay_free(r);
		return MHD_NO;
	}
	for (int i = 0; i < gw->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];
		char why[160];
		bool up;

		pthread_mutex_lock(&gw->lock);
		up = e->state == GW_ENGINE_UP;
		pthread_mutex_unlock(&gw->lock);
		if (!up)
			continue;
		r->eng = e;
		rc = relay_exchange(r, e, why, sizeof(why));
		if (!rc)
			rc = relay_read_body(r);
		else if (rc != -ECANCELED)
			gw_engine_failed(e, why);
		relay_close_upstream(r);
		if (!rc || rc == -ECANCELED)
			break;
	}
	if (rc == -ECANCELED)
		ret = MHD_NO;
	else if (!rc)
		ret = reply_relayed(r, c, cn);
	else
		ret = httpd_reply_error(c, cn, 503, NULL, "no_engine",
					"no engine answers");
	relay_free(r);
	return ret;
}

static const char *engine_state_name(const struct gw *gw,
				     const struct gw_engine *e, uint64_t now)
{
	if (e->state == GW_ENGINE_DOWN)
		return "down";
	if (e->state == GW_ENGINE_UNKNOWN)
		return "unknown";
	if (now - e->report_ms > (uint64_t)gw->opt->stale_ms)
		return "stale";
	return "up";
}

/*
 * 200 {"status": "ok"} when every engine is up, "degraded" when some are;
 * 503 "no_engines" when none is, "draining" at exit.  With each engine's
 * state and last load.
 */
static enum MHD_Result do_health(void *ctx, struct MHD_Connection *c,
				 struct httpd_conn *cn)
{
	struct gw *gw = ctx;
	json_t *list = json_array(), *j;
	uint64_t now = cm_now_ms();
	int up = 0;
	bool draining;

	pthread_mutex_lock(&gw->lock);
	draining = gw->draining;
	for (int i = 0; list && i < gw->n_engines; i++) {
		const struct gw_engine *e = &gw->engines[i];
		const char *st = engine_state_name(gw, e, now);

		up += !strcmp(st, "up");
		j = json_pack("{s:i,s:s,s:s,s:s?,s:I,s:i,s:i,s:i,s:i,s:I}",
			      "id", (int)e->id, "url", e->ep.url, "state", st,
			      "error", e->error[0] ? e->error : NULL, "age_ms",
			      e->report_ms ? (json_int_t)(now - e->report_ms) :
					     (json_int_t)-1,
			      "running", (int)e->running, "waiting",
			      (int)e->waiting, "kv_blocks_used",
			      (int)e->kv_used, "kv_blocks_total",
			      (int)e->kv_total, "requests",
			      (json_int_t)e->requests);
		if (!j || json_array_append_new(list, j)) {
			json_decref(list);
			list = NULL;
		}
	}
	pthread_mutex_unlock(&gw->lock);
	if (!list)
		return MHD_NO;
	return httpd_reply_json(c, cn, draining || !up ? 503 : 200,
				json_pack("{s:s,s:s,s:o}", "status",
					  draining	     ? "draining" :
					  !up		     ? "no_engines" :
					  up < gw->n_engines ? "degraded" :
							       "ok",
					  "policy", gw->opt->policy, "engines",
					  list),
				NULL);
}

#define PREFIX "gpumux_gateway_"
#define METRIC(b, name, type, help, fmt, val) \
	httpd_metric_value(b, PREFIX, name, type, help, fmt, val)

/* a label value: backslash, quote and newline escaped */
static void label(char *dst, size_t cap, const char *v)
{
	size_t k = 0;

	for (; *v && k + 3 < cap; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			dst[k++] = '\\';
			dst[k++] = *v == '\n' ? 'n' : *v;
		} else {
			dst[k++] = *v;
		}
	}
	dst[k] = '\0';
}

/* what per_engine() prints of each engine */
enum engine_value {
	EV_REQUESTS,
	EV_FAILURES,
	EV_UP,
	EV_RUNNING,
	EV_WAITING,
	EV_KV_USED,
	EV_KV_TOTAL,
	EV_POLLS,
	EV_POLL_FAILURES,
};

static int64_t engine_value(const struct gw *gw, const struct gw_engine *e,
			    enum engine_value v)
{
	switch (v) {
	case EV_REQUESTS:
		return e->requests;
	case EV_FAILURES:
		return e->failures;
	case EV_UP:
		return !strcmp(engine_state_name(gw, e, cm_now_ms()), "up");
	case EV_RUNNING:
		return e->running;
	case EV_WAITING:
		return e->waiting;
	case EV_KV_USED:
		return e->kv_used;
	case EV_KV_TOTAL:
		return e->kv_total;
	case EV_POLLS:
		return e->polls;
	case EV_POLL_FAILURES:
		return e->poll_failures;
	}
	return 0;
}

/* one line per engine: name{engine="URL"[,policy="P"]} value */
static int per_engine(struct cm_buf *b, const struct gw *gw, const char *name,
		      const char *type, const char *help, bool policy,
		      enum engine_value v)
{
	char l[600];
	int ret = httpd_metric(b, PREFIX, name, type, help);

	for (int i = 0; i < gw->n_engines; i++) {
		const struct gw_engine *e = &gw->engines[i];

		label(l, sizeof(l), e->ep.url);
		if (policy)
			ret |= cm_buf_printf(
				b,
				"gpumux_gateway_%s{engine=\"%s\",policy=\"%s\"} %" PRId64
				"\n",
				name, l, gw->opt->policy,
				engine_value(gw, e, v));
		else
			ret |= cm_buf_printf(
				b,
				"gpumux_gateway_%s{engine=\"%s\"} %" PRId64
				"\n",
				name, l, engine_value(gw, e, v));
	}
	return ret;
}

static enum MHD_Result do_metrics(void *ctx, struct MHD_Connection *c,
				  struct httpd_conn *cn)
{
	struct gw *gw = ctx;
	struct cm_buf b = { 0 };
	struct gw_metrics *m = &gw->m;
	int err = 0;

	pthread_mutex_lock(&gw->lock);
	err |= METRIC(&b, "requests_total", "counter",
		      "Completion requests received.", "%" PRIu64, m->requests);
	err |= per_engine(
		&b, gw, "engine_requests_total", "counter",
		"Requests sent to each engine (retries included), by policy.",
		true, EV_REQUESTS);
	err |= httpd_metric_http(&b, PREFIX, gw->hd);
	err |= METRIC(&b, "requests_in_flight", "gauge",
		      "Requests being placed, forwarded or relayed.",
		      "%" PRId64, m->in_flight);
	err |= httpd_metric(&b, PREFIX, "errors_total", "counter",
			    "Errors, by kind.");
	for (int i = 0; i < GW_N_ERR; i++)
		err |= cm_buf_printf(
			&b,
			"gpumux_gateway_errors_total{kind=\"%s\"} %" PRIu64
			"\n",
			err_names[i], m->errors[i]);
	err |= METRIC(
		&b, "retries_total", "counter",
		"Requests sent to a second engine after the first failed or was full.",
		"%" PRIu64, m->retries);
	err |= httpd_metric(
		&b, PREFIX, "relay_bytes_total", "counter",
		"Bytes relayed: request bytes to engines, response bytes to clients.");
	err |= cm_buf_printf(
		&b,
		"gpumux_gateway_relay_bytes_total{direction=\"to_engine\"} %" PRIu64
		"\n"
		"gpumux_gateway_relay_bytes_total{direction=\"to_client\"} %" PRIu64
		"\n",
		m->bytes_up, m->bytes_down);
	err |= METRIC(&b, "stream_tokens_total", "counter",
		      "Tokens relayed in streams.", "%" PRIu64, m->tokens);
	err |= per_engine(
		&b, gw, "engine_up", "gauge",
		"1 when the engine's last poll answered and is fresh.", false,
		EV_UP);
	err |= per_engine(&b, gw, "engine_failures_total", "counter",
			  "Forwards to the engine that failed.", false,
			  EV_FAILURES);
	err |= per_engine(&b, gw, "engine_polls_total", "counter",
			  "Polls of the engine's /metrics.", false, EV_POLLS);
	err |= per_engine(&b, gw, "engine_poll_failures_total", "counter",
			  "Polls that failed.", false, EV_POLL_FAILURES);
	err |= per_engine(&b, gw, "engine_requests_running", "gauge",
			  "Requests running on the engine, last poll.", false,
			  EV_RUNNING);
	err |= per_engine(&b, gw, "engine_requests_waiting", "gauge",
			  "Requests waiting on the engine, last poll.", false,
			  EV_WAITING);
	err |= per_engine(&b, gw, "engine_kv_blocks_used", "gauge",
			  "KV blocks in use on the engine, last poll.", false,
			  EV_KV_USED);
	err |= per_engine(&b, gw, "engine_kv_blocks_total", "gauge",
			  "KV blocks of the engine, last poll.", false,
			  EV_KV_TOTAL);
	err |= httpd_metric_histo(
		&b, PREFIX, "time_to_first_token_seconds",
		"Streams: from the request's arrival to its first token relayed.",
		&m->ttft);
	err |= httpd_metric_histo(
		&b, PREFIX, "request_duration_seconds",
		"From the request's arrival to its response's end.",
		&m->duration);
	err |= METRIC(&b, "start_time_seconds", "gauge",
		      "Unix time the gateway started.", "%lld",
		      (long long)gw->started);
	pthread_mutex_unlock(&gw->lock);
	if (err) {
		cm_buf_free(&b);
		return MHD_NO;
	}
	return httpd_reply(c, cn, MHD_HTTP_OK,
			   "text/plain; version=0.0.4; charset=utf-8", b.p,
			   b.len, NULL);
}

/*
 * POST /admin/reattach {"id": "gw-...", "engine": N}: the migration hook,
 * by hand (--admin only): move a stream to engine N (1-based, --engine
 * order), re-run there from its start; the splice cuts what the client has.
 */
static enum MHD_Result do_reattach(void *ctx, struct MHD_Connection *c,
				   struct httpd_conn *cn)
{
	struct gw *gw = ctx;
	json_t *root =
		json_loadb(cn->body.p ? cn->body.p : "", cn->body.len, 0, NULL);
	const char *id = json_string_value(json_object_get(root, "id"));
	json_t *eng = json_object_get(root, "engine");
	enum MHD_Result ret;
	uint64_t num = 0;
	struct gw_relay *r;
	int rc;

	if (!id || !json_is_integer(eng) || json_integer_value(eng) < 1 ||
	    json_integer_value(eng) > gw->n_engines) {
		json_decref(root);
		return httpd_reply_error(
			c, cn, 400, NULL, NULL,
			"expected {\"id\": \"gw-...\", \"engine\": 1..%d}",
			gw->n_engines);
	}
	pthread_mutex_lock(&gw->lock);
	for (r = gw->relays; r; r = r->next)
		if (!strcmp(r->id_str, id))
			num = r->id;
	pthread_mutex_unlock(&gw->lock);
	rc = num ? gw_relay_reattach(gw, num, json_integer_value(eng), 1) :
		   -ENOENT;
	if (rc)
		ret = httpd_reply_error(c, cn, rc == -ENOENT ? 404 : 400, "id",
					NULL, "cannot re-attach '%s': %s", id,
					strerror(-rc));
	else
		ret = httpd_reply_json(
			c, cn, 200, json_pack("{s:s}", "status", "ok"), NULL);
	json_decref(root);
	return ret;
}

/* the admin route last: served only with --admin */
static const struct httpd_route routes[] = {
	{ "/v1/completions", true, do_completion },
	{ "/v1/models", false, do_models },
	{ "/health", false, do_health },
	{ "/metrics", false, do_metrics },
	{ "/admin/reattach", true, do_reattach },
};

/* ---- setup and teardown ----------------------------------------------- */

/* wait for in-flight requests, at most timeout s (or a second signal) */
static void drain(struct gw *gw, const sigset_t *sigs, double timeout)
{
	const struct timespec tick = { 0, 50 * 1000000L };
	double end = cm_now() + timeout;
	int64_t n;

	for (;;) {
		pthread_mutex_lock(&gw->lock);
		n = gw->m.in_flight;
		pthread_mutex_unlock(&gw->lock);
		if (!n || cm_now() >= end)
			break;
		if (sigtimedwait(sigs, NULL, &tick) > 0) {
			fprintf(stderr,
				"gpumux-gateway: second signal: cancelling\n");
			break;
		}
	}
	if (n)
		fprintf(stderr,
			"gpumux-gateway: cancelling %" PRId64 " requests\n", n);
}

/* end every relay's upstream: streams end with an error event */
static void cut_relays(struct gw *gw)
{
	pthread_mutex_lock(&gw->lock);
	gw->stop = true;
	pthread_cond_broadcast(&gw->stop_cv);
	for (struct gw_relay *r = gw->relays; r; r = r->next)
		if (r->hook_fd >= 0)
			shutdown(r->hook_fd, SHUT_RDWR);
	pthread_mutex_unlock(&gw->lock);
}

int gw_serve(const struct gw_options *opt)
{
	struct httpd hd = {
		.name = "gpumux-gateway",
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]) - !opt->admin,
		.max_body = opt->max_body,
		.verbose = opt->verbose,
		.codes = http_codes,
		.n_codes = N_HTTP_CODES,
	};
	struct gw gw = { .opt = opt, .hd = &hd };
	pthread_condattr_t ca;
	char err[512];
	int ret = 1;
	sigset_t sigs;

	hd.ctx = &gw;
	httpd_init(&hd);
	gw.started = time(NULL);
	gw.salt = cm_salt(gw.started);
	gw.m.ttft = (struct cm_histo){ .le = ttft_le, .n_le = HISTO_BUCKETS };
	gw.m.duration =
		(struct cm_histo){ .le = dur_le, .n_le = HISTO_BUCKETS };
	pthread_mutex_init(&gw.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&gw.stop_cv, &ca);
	pthread_condattr_destroy(&ca);

	/* before any thread exists: they all inherit it */
	httpd_block_signals(&sigs);

	if (gw_engines_init(&gw))
		goto out;
	if (httpd_listen(&hd, opt->listen, 256, false, err, sizeof(err))) {
		fprintf(stderr, "gpumux-gateway: %s\n", err);
		goto out;
	}
	if (gw_engines_start(&gw)) {
		fprintf(stderr, "gpumux-gateway: cannot start a thread\n");
		goto out;
	}
	if (httpd_start(&hd, opt->max_connections, CONNECTION_TIMEOUT_S))
		goto out;
	{
		int up = 0;

		pthread_mutex_lock(&gw.lock);
		for (int i = 0; i < gw.n_engines; i++)
			up += gw.engines[i].state == GW_ENGINE_UP;
		pthread_mutex_unlock(&gw.lock);
		printf("gpumux-gateway: serving on %s (%d engines, %d up, policy %s)\n",
		       hd.desc, gw.n_engines, up, opt->policy);
		fflush(stdout);
	}

	httpd_wait_signal(&hd, &sigs);
	pthread_mutex_lock(&gw.lock);
	gw.draining = true;
	pthread_mutex_unlock(&gw.lock);
	MHD_quiesce_daemon(hd.mhd);
	drain(&gw, &sigs, opt->drain_timeout);
	ret = 0;
out:
	cut_relays(&gw);
	httpd_fini(&hd);
	gw_engines_stop(&gw);
	gw_engines_fini(&gw);
	pthread_cond_destroy(&gw.stop_cv);
	pthread_mutex_destroy(&gw.lock);
	return ret;
}
