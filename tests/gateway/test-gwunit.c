// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of gpumux-gateway's pure pieces (check): the HTTP response
 * parser (Content-Length, chunked, close-delimited bodies, interim
 * responses, every way of splitting the bytes, malformed input), engine
 * addresses, server-sent event framing, the splice and the stream relay's
 * event rewriting, the parser of an engine's /metrics, and placement
 * through the gsched policies from polled loads.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

/* ---- the response parser ---------------------------------------------- */

struct parsed {
	int rc; /* 0, or the first error */
	size_t used; /* bytes consumed */
	struct gw_resp r;
	struct cm_buf body;
};

/* feed msg in pieces of `step` bytes (0: all at once), then EOF if eof */
static void parse(struct parsed *p, const char *msg, size_t len, size_t step,
		  bool eof)
{
	size_t off = 0;

	memset(p, 0, sizeof(*p));
	gw_resp_init(&p->r, false);
	while (off < len && !gw_resp_done(&p->r)) {
		size_t n = step && step < len - off ? step : len - off;
		ssize_t used = gw_resp_feed(&p->r, msg + off, n, &p->body);

		if (used < 0) {
			p->rc = (int)used;
			return;
		}
		off += used;
		if ((size_t)used < n)
			break;
	}
	p->used = off;
	if (eof && !gw_resp_done(&p->r))
		p->rc = gw_resp_eof(&p->r);
}

static void parsed_free(struct parsed *p)
{
	gw_resp_free(&p->r);
	cm_buf_free(&p->body);
}

/* parse msg split at every step size: the same status and body each time */
static void check_all_splits(const char *msg, int status, const char *body,
			     bool eof)
{
	size_t len = strlen(msg);

	for (size_t step = 0; step <= len; step++) {
		struct parsed p;

		parse(&p, msg, len, step, eof);
		ck_assert_msg(!p.rc, "step %zu: rc %d", step, p.rc);
		ck_assert_msg(gw_resp_done(&p.r), "step %zu: not done", step);
		ck_assert_int_eq(p.r.status, status);
		ck_assert_uint_eq(p.body.len, strlen(body));
		ck_assert(
			!memcmp(p.body.p ? p.body.p : "", body, strlen(body)));
		parsed_free(&p);
	}
}

START_TEST(resp_content_length)
{
	const char *m = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			"Content-Length: 12\r\nX-Other: a:b\r\n\r\n"
			"{\"a\": \"b\"}\r\n";
	struct parsed p;

	check_all_splits(m, 200, "{\"a\": \"b\"}\r\n", false);
	parse(&p, m, strlen(m), 0, false);
	ck_assert_str_eq(p.r.content_type, "application/json");
	ck_assert(p.r.has_length && p.r.length == 12 && !p.r.close);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_chunked)
{
	/* upper and lower case hex, an extension, trailers, bare LF */
	const char *m = "HTTP/1.1 200 OK\r\n"
			"Transfer-Encoding: chunked\r\n"
			"content-type: text/event-stream\r\n\r\n"
			"5\r\nhello\r\n"
			"A;name=value\r\n, world! \n\r\n"
			"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			"0\r\nX-Trailer: yes\r\n\r\n";

	check_all_splits(m, 200, "hello, world! \nabcdefghijklmnopqrstuvwxyz",
			 false);
}
END_TEST

START_TEST(resp_chunked_lf_only)
{
	const char *m = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
			"3\nabc\n0\n\n";

	check_all_splits(m, 200, "abc", false);
}
END_TEST

START_TEST(resp_until_close)
{
	const char *m = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
			"all of it, until the end";
	struct parsed p;

	check_all_splits(m, 200, "all of it, until the end", true);
	/* without the EOF it is not complete */
	parse(&p, m, strlen(m), 0, false);
	ck_assert(!gw_resp_done(&p.r) && p.r.headers_done && p.r.close);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_no_body)
{
	struct parsed p;
	const char *m = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";

	check_all_splits(m, 204, "", false);
	check_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200,
			 "", false);
	/* HEAD: a Content-Length but no body */
	memset(&p, 0, sizeof(p));
	gw_resp_init(&p.r, true);
	ck_assert_int_eq(gw_resp_feed(&p.r,
				      "HTTP/1.1 200 OK\r\nContent-Length: 9"
				      "\r\n\r\n",
				      38, &p.body),
			 38);
	ck_assert(gw_resp_done(&p.r) && !p.body.len);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_interim)
{
	const char *m = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
			"Allow: POST\r\nContent-Length: 2\r\n\r\nno";
	struct parsed p;

	check_all_splits(m, 429, "no", false);
	parse(&p, m, strlen(m), 0, false);
	ck_assert_str_eq(p.r.retry_after, "1");
	ck_assert_str_eq(p.r.allow, "POST");
	parsed_free(&p);
}
END_TEST

START_TEST(resp_pipelined)
{
	/* bytes after a complete response are left for the next one */
	const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
			"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx";
	struct parsed p;
	ssize_t n;

	parse(&p, m, strlen(m), 0, false);
	ck_assert(!p.rc && gw_resp_done(&p.r));
	ck_assert_uint_eq(p.used, strlen(m) - 46);
	p.body.len = 0;
	gw_resp_init(&p.r, false);
	n = gw_resp_feed(&p.r, m + p.used, strlen(m) - p.used, &p.body);
	ck_assert_int_eq(n, 46);
	ck_assert(gw_resp_done(&p.r) && p.r.status == 404 && p.body.len == 1);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_connection_header)
{
	struct parsed p;
	const char *m = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n"
			"Content-Length: 0\r\n\r\n";

	parse(&p, m, strlen(m), 0, false);
	ck_assert(!p.rc && p.r.close);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_bad)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		"Content-Length: 6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 101 Switching\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1234567890abcdef0\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3 x\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabcX\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\nnot a trailer\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t step = 0; step < 4; step++) {
			struct parsed p;

			parse(&p, bad[i], strlen(bad[i]), step, false);
			ck_assert_msg(p.rc == -EBADMSG,
				      "case %zu step %zu: rc %d", i, step,
				      p.rc);
			/* it stays failed */
			ck_assert_int_eq(gw_resp_feed(&p.r, "x", 1, &p.body),
					 -EBADMSG);
			parsed_free(&p);
		}
	}
}
END_TEST

START_TEST(resp_nul_and_limits)
{
	char m[GW_RESP_HEAD_MAX + 100];
	struct parsed p;

	parse(&p, "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", 28, 0, false);
	ck_assert_int_eq(p.rc, -EBADMSG);
	parsed_free(&p);
	/* a line too long */
	memset(m, 'a', sizeof(m));
	memcpy(m, "HTTP/1.1 200 OK\r\nX: ", 20);
	parse(&p, m, GW_RESP_LINE_MAX + 50, 1000, false);
	ck_assert_int_eq(p.rc, -EBADMSG);
	parsed_free(&p);
	/* headers too big in all: many short lines */
	strcpy(m, "HTTP/1.1 200 OK\r\n");
	while (strlen(m) < GW_RESP_HEAD_MAX + 20)
		strcat(m, "X-A: b\r\n");
	parse(&p, m, strlen(m), 100, false);
	ck_assert_int_eq(p.rc, -EBADMSG);
	parsed_free(&p);
}
END_TEST

START_TEST(resp_truncated)
{
	static const char *const cut[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Le",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
		"",
	};

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		struct parsed p;

		parse(&p, cut[i], strlen(cut[i]), 1, true);
		ck_assert_msg(p.rc == -EPIPE, "case %zu: rc %d", i, p.rc);
		parsed_free(&p);
	}
}
END_TEST

/* ---- endpoints -------------------------------------------------------- */

START_TEST(endpoints)
{
	struct gw_endpoint ep;
	char err[300];

	ck_assert(!gw_endpoint_parse("http://127.0.0.1:8000", &ep, err,
				     sizeof(err)));
	ck_assert(!ep.is_unix && !strcmp(ep.host, "127.0.0.1") &&
		  !strcmp(ep.port, "8000"));
	ck_assert_str_eq(ep.host_hdr, "127.0.0.1:8000");
	ck_assert(!gw_endpoint_parse("http://[::1]:9/", &ep, err, sizeof(err)));
	ck_assert(!strcmp(ep.host, "::1") && !strcmp(ep.port, "9"));
	ck_assert_str_eq(ep.host_hdr, "[::1]:9");
	ck_assert(
		!gw_endpoint_parse("http://localhost", &ep, err, sizeof(err)));
	ck_assert_str_eq(ep.port, "80");
	ck_assert(
		!gw_endpoint_parse("unix:/run/e.sock", &ep, err, sizeof(err)));
	ck_assert(ep.is_unix && !strcmp(ep.path, "/run/e.sock"));
	for (const char *const *b =
		     (const char *const[]){
			     "127.0.0.1:80", "https://a:1", "http://",
			     "http://:80", "http://a:0", "http://a:65536",
			     "http://a:12x", "http://a:1/v1", "http://[::1",
			     "http://[::1]x", "unix:", "http://a@b:1", NULL };
	     *b; b++)
		ck_assert_msg(gw_endpoint_parse(*b, &ep, err, sizeof(err)) ==
				      -EINVAL,
			      "%s accepted", *b);
}
END_TEST

/* ---- server-sent events ----------------------------------------------- */

START_TEST(sse_framing)
{
	struct cm_buf d = { 0 };
	const char *s = "data: a\n\ndata: b\r\n\r\n: comment\n\ndata: c";

	ck_assert_uint_eq(gw_sse_event_len(s, strlen(s)), 9);
	ck_assert_uint_eq(gw_sse_event_len(s + 9, strlen(s) - 9), 11);
	ck_assert_uint_eq(gw_sse_event_len(s + 20, strlen(s) - 20), 11);
	ck_assert_uint_eq(gw_sse_event_len(s + 31, strlen(s) - 31), 0);
	ck_assert_uint_eq(gw_sse_event_len("data: x\n", 8), 0);
	ck_assert_uint_eq(gw_sse_event_len("", 0), 0);
	ck_assert_int_eq(gw_sse_data(s, 9, &d), 1);
	ck_assert_str_eq(d.p, "a");
	ck_assert_int_eq(gw_sse_data(s + 9, 11, &d), 1);
	ck_assert_str_eq(d.p, "b");
	ck_assert_int_eq(gw_sse_data(s + 20, 11, &d), 0);
	ck_assert_int_eq(gw_sse_data("data:x\ndata:  y\nid: 3\n\n", 23, &d), 1);
	ck_assert_str_eq(d.p, "x\n y");
	cm_buf_free(&d);
}
END_TEST

START_TEST(splice_rules)
{
	struct gw_splice s;
	uint64_t skip, skipt;

	gw_splice_init(&s);
	ck_assert_int_eq(gw_splice_event(&s, 1, 1, &skip, &skipt), -EINVAL);
	ck_assert_int_eq(gw_splice_attach(&s, 0, 0), -EINVAL);
	ck_assert_int_eq(gw_splice_attach(&s, 2, 0), -EPROTO);
	ck_assert_int_eq(gw_splice_attach(&s, 1, 1), -EPROTO);
	ck_assert(!gw_splice_attach(&s, 1, 0));
	/* the first upstream: tokens 1..3, 1 event each, then 4..5 */
	for (int i = 0; i < 3; i++) {
		ck_assert(!gw_splice_event(&s, 1, 2, &skip, &skipt));
		ck_assert(!skip && !skipt);
	}
	ck_assert(!gw_splice_event(&s, 2, 3, &skip, &skipt));
	ck_assert(!skip && !skipt);
	ck_assert(s.delivered == 5 && s.text_delivered == 9);
	/* a new upstream may not leave a gap */
	ck_assert_int_eq(gw_splice_attach(&s, 7, 9), -EPROTO);
	ck_assert_int_eq(gw_splice_attach(&s, 6, 10), -EPROTO);
	/* resume right after: nothing to cut */
	ck_assert(!gw_splice_attach(&s, 6, 9));
	ck_assert(!gw_splice_event(&s, 1, 1, &skip, &skipt));
	ck_assert(!skip && !skipt && s.delivered == 6);
	/* a re-run from the start: cut tokens 1..6, text bytes 0..9 */
	ck_assert(!gw_splice_attach(&s, 1, 0));
	ck_assert(!gw_splice_event(&s, 4, 7, &skip, &skipt));
	ck_assert(skip == 4 && skipt == 7 && s.delivered == 6);
	/* straddles: tokens 5..8, 3 of its 5 bytes are known */
	ck_assert(!gw_splice_event(&s, 4, 5, &skip, &skipt));
	ck_assert(skip == 2 && skipt == 3);
	ck_assert(s.delivered == 8 && s.text_delivered == 12);
	ck_assert(!gw_splice_event(&s, 1, 1, &skip, &skipt));
	ck_assert(!skip && !skipt && s.delivered == 9);
	/* an event of no tokens (a finish) */
	ck_assert(!gw_splice_event(&s, 0, 0, &skip, &skipt));
	ck_assert(!skip && !skipt && s.delivered == 9);
}
END_TEST

/* one event as the engine sends it */
static char *ev(const char *id, const char *text, const char *ids,
		const char *fin)
{
	char *s;

	if (asprintf(&s,
		     "data: {\"id\":\"%s\",\"object\":\"text_completion\","
		     "\"created\":1,\"model\":\"m\",\"choices\":[{\"text\":"
		     "\"%s\",\"index\":0,\"logprobs\":null,\"finish_reason\":"
		     "%s%s%s%s%s}]}\n\n",
		     id, text, fin ? "\"" : "null", fin ? fin : "",
		     fin ? "\"" : "", ids ? ",\"token_ids\":" : "",
		     ids ? ids : "") < 0)
		abort();
	return s;
}

/* relay e through st; returns what the client gets (malloc'ed) */
static char *relay(struct gw_stream *st, char *e, int *rc, uint64_t *ntok)
{
	struct cm_buf out = { 0 };
	char *s;

	*rc = gw_stream_event(st, e, strlen(e), &out, ntok);
	s = strdup(out.p ? out.p : "");
	cm_buf_free(&out);
	free(e);
	return s;
}

/* the text and token ids of an event the client got */
static void event_fields(const char *s, const char **text, json_t **root)
{
	ck_assert(!strncmp(s, "data: ", 6));
	*root = json_loads(s + 6, 0, NULL);
	ck_assert(*root);
	*text = json_string_value(json_object_get(
		json_array_get(json_object_get(*root, "choices"), 0), "text"));
}

START_TEST(stream_verbatim_and_strip)
{
	struct gw_stream st;
	uint64_t n;
	char *e, *out;
	int rc;

	/* the client asked for ids: forwarded byte for byte */
	gw_stream_init(&st, false);
	gw_splice_attach(&st.splice, 1, 0);
	e = ev("c1", "ab", "[5,6]", NULL);
	char *copy = strdup(e);

	out = relay(&st, e, &rc, &n);
	ck_assert(!rc && n == 2 && !strcmp(out, copy));
	free(out);
	free(copy);
	ck_assert(st.countable && st.tokens == 2 && st.events == 1);
	/* not asked: removed, and the event is otherwise the same bytes */
	gw_stream_init(&st, true);
	gw_splice_attach(&st.splice, 1, 0);
	out = relay(&st, ev("c1", "ab", "[5,6]", NULL), &rc, &n);
	e = ev("c1", "ab", NULL, NULL);
	ck_assert_msg(!rc && n == 2 && !strcmp(out, e), "%s", out);
	free(out);
	free(e);
	/* [DONE], comments, error events and non-JSON pass as they are */
	out = relay(&st, strdup("data: [DONE]\n\n"), &rc, &n);
	ck_assert(!rc && !strcmp(out, "data: [DONE]\n\n") && st.done);
	free(out);
	out = relay(&st, strdup(": ping\n\n"), &rc, &n);
	ck_assert(!rc && !strcmp(out, ": ping\n\n"));
	free(out);
	out = relay(&st, strdup("data: {\"error\":{\"code\":\"x\"}}\n\n"), &rc,
		    &n);
	ck_assert(!rc && st.errored && strstr(out, "\"error\""));
	free(out);
	out = relay(&st, strdup("data: not json\n\n"), &rc, &n);
	ck_assert(!rc && !strcmp(out, "data: not json\n\n"));
	free(out);
}
END_TEST

START_TEST(stream_reattach_rerun)
{
	struct gw_stream st;
	const char *text;
	json_t *root;
	uint64_t n;
	char *out;
	int rc;

	gw_stream_init(&st, true);
	gw_splice_attach(&st.splice, 1, 0);
	/* the first upstream: "Once" (1 token) " up" (1) "on a" (2) */
	out = relay(&st, ev("old", "Once", "[10]", NULL), &rc, &n);
	free(out);
	out = relay(&st, ev("old", " up", "[11]", NULL), &rc, &n);
	free(out);
	out = relay(&st, ev("old", "on a", "[12,13]", NULL), &rc, &n);
	free(out);
	ck_assert(st.splice.delivered == 4 && st.splice.text_delivered == 11);
	/* it fails; the request re-runs elsewhere from the start */
	ck_assert(!gw_splice_attach(&st.splice, 1, 0));
	out = relay(&st, ev("new", "Once up", "[10,11]", NULL), &rc, &n);
	ck_assert(!rc && !*out && n == 0); /* all known: dropped */
	free(out);
	/* straddles: tokens 3..5, "on a time"; the client lacks " time" */
	out = relay(&st, ev("new", "on a time", "[12,13,14]", NULL), &rc, &n);
	ck_assert(!rc && n == 1);
	event_fields(out, &text, &root);
	ck_assert_str_eq(text, " time");
	/* the client keeps one completion id, and gets no token ids */
	ck_assert_str_eq(json_string_value(json_object_get(root, "id")), "old");
	ck_assert(!json_object_get(
		json_array_get(json_object_get(root, "choices"), 0),
		"token_ids"));
	json_decref(root);
	free(out);
	out = relay(&st, ev("new", ",", "[15]", "length"), &rc, &n);
	ck_assert(!rc && n == 1);
	event_fields(out, &text, &root);
	ck_assert_str_eq(text, ",");
	json_decref(root);
	free(out);
	ck_assert(st.splice.delivered == 6 && st.tokens == 6);
}
END_TEST

START_TEST(stream_reattach_edge)
{
	struct gw_stream st;
	const char *text;
	json_t *root;
	uint64_t n;
	char *out;
	int rc;

	/* a finishing event the client has all of is kept, emptied */
	gw_stream_init(&st, false);
	gw_splice_attach(&st.splice, 1, 0);
	free(relay(&st, ev("a", "xy", "[1,2]", NULL), &rc, &n));
	gw_splice_attach(&st.splice, 1, 0);
	out = relay(&st, ev("b", "xy", "[1,2]", "stop"), &rc, &n);
	ck_assert(!rc && n == 0);
	event_fields(out, &text, &root);
	ck_assert_str_eq(text, "");
	ck_assert_uint_eq(
		json_array_size(json_object_get(
			json_array_get(json_object_get(root, "choices"), 0),
			"token_ids")),
		0);
	json_decref(root);
	free(out);
	/* multi-byte text is cut at the client's byte offset */
	gw_stream_init(&st, true);
	gw_splice_attach(&st.splice, 1, 0);
	free(relay(&st, ev("a", "\xc3\xa9t\xc3\xa9", "[1,2]", NULL), &rc, &n));
	gw_splice_attach(&st.splice, 1, 0);
	out = relay(&st,
		    ev("b", "\xc3\xa9t\xc3\xa9\xe2\x82\xac", "[1,2,3]", NULL),
		    &rc, &n);
	ck_assert(!rc && n == 1);
	event_fields(out, &text, &root);
	ck_assert_str_eq(text, "\xe2\x82\xac");
	json_decref(root);
	free(out);
	/* an upstream without token ids after one with them */
	out = relay(&st, ev("b", "x", NULL, NULL), &rc, &n);
	ck_assert_int_eq(rc, -EPROTO);
	free(out);
}
END_TEST

/* ---- engine metrics and placement ------------------------------------- */

static const char metrics_text[] =
	"# HELP gpumux_engine_requests_running Requests in the batch.\n"
	"# TYPE gpumux_engine_requests_running gauge\n"
	"gpumux_engine_requests_running 3\n"
	"gpumux_engine_requests_running_other 99\n"
	"gpumux_engine_requests_waiting 1\n"
	"gpumux_engine_http_responses_total{code=\"200\"} 5\n"
	"gpumux_engine_kv_blocks_used 24\n"
	"gpumux_engine_kv_blocks_total 512\n"
	"gpumux_engine_kv_block_tokens 16\n"
	"gpumux_engine_slots_in_use 4\n"
	"gpumux_engine_slots_total 320\n";

START_TEST(engine_metrics)
{
	struct gw_engine e = { 0 };
	char *t;

	ck_assert(!gw_parse_engine_metrics(metrics_text, strlen(metrics_text),
					   &e));
	ck_assert(e.running == 3 && e.waiting == 1 && e.kv_used == 24 &&
		  e.kv_total == 512 && e.block_tokens == 16 &&
		  e.slots_in_use == 4 && e.slots_total == 320);
	/* a required gauge missing, a bad number, no blocks */
	t = strdup(metrics_text);
	strstr(t, "kv_blocks_total")[0] = 'X';
	ck_assert_int_eq(gw_parse_engine_metrics(t, strlen(t), &e), -EBADMSG);
	free(t);
	t = strdup(metrics_text);
	strstr(t, "used 24")[5] = 'x';
	ck_assert_int_eq(gw_parse_engine_metrics(t, strlen(t), &e), -EBADMSG);
	free(t);
	ck_assert_int_eq(gw_parse_engine_metrics("", 0, &e), -EBADMSG);
}
END_TEST

static struct gw_options popt;
static const char *purls[] = { "http://127.0.0.1:1", "http://127.0.0.1:2",
			       "unix:/nonexistent/e3.sock" };

static void place_setup(struct gw *gw, const char *policy)
{
	memset(gw, 0, sizeof(*gw));
	popt = (struct gw_options){ .engines = purls,
				    .n_engines = 3,
				    .policy = policy,
				    .poll_ms = 50,
				    .stale_ms = 250 };
	gw->opt = &popt;
	pthread_mutex_init(&gw->lock, NULL);
	ck_assert(!gw_engines_init(gw));
	for (int i = 0; i < 3; i++) {
		struct gw_engine *e = &gw->engines[i];

		e->state = GW_ENGINE_UP;
		e->report_ms = cm_now_ms();
		e->kv_total = 512;
		e->block_tokens = 16;
	}
}

static int place_one(struct gw *gw, uint64_t id, struct gw_engine *const *ex,
		     int nex)
{
	struct gw_place pl;

	ck_assert(!gw_place(gw, id, 20, ex, nex, &pl));
	if (pl.verdict != GPUMUX_GSCHED_PLACE)
		return -(int)pl.verdict;
	return pl.engine->id;
}

START_TEST(place_roundrobin)
{
	struct gw gw;
	int count[4] = { 0 };

	place_setup(&gw, "roundrobin");
	for (int i = 0; i < 9; i++)
		count[place_one(&gw, i + 1, NULL, 0)]++;
	ck_assert(count[1] == 3 && count[2] == 3 && count[3] == 3);
	/* a down engine gets nothing; an excluded one neither */
	gw.engines[1].state = GW_ENGINE_DOWN;
	for (int i = 0; i < 4; i++)
		ck_assert_int_ne(place_one(&gw, 20 + i, NULL, 0), 2);
	{
		struct gw_engine *ex[] = { &gw.engines[0] };

		ck_assert_int_eq(place_one(&gw, 30, ex, 1), 3);
	}
	/* stale: queued, not refused */
	gw.engines[0].report_ms = gw.engines[2].report_ms = 1;
	ck_assert_int_eq(place_one(&gw, 40, NULL, 0), -GPUMUX_GSCHED_QUEUE);
	/* none up: refused */
	for (int i = 0; i < 3; i++)
		gw.engines[i].state = GW_ENGINE_DOWN;
	ck_assert_int_eq(place_one(&gw, 41, NULL, 0), -GPUMUX_GSCHED_REFUSE);
	gw_engines_fini(&gw);
	pthread_mutex_destroy(&gw.lock);
}
END_TEST

START_TEST(place_leastload)
{
	const char *policies[] = { "leastload", "llumnix" };

	for (int p = 0; p < 2; p++) {
		struct gw gw;

		place_setup(&gw, policies[p]);
		/* engines 1 and 3 are loaded, 2 is idle */
		gw.engines[0].running = 4;
		gw.engines[0].kv_used = 32;
		gw.engines[2].running = 2;
		gw.engines[2].kv_used = 16;
		gw.engines[2].waiting = 3;
		ck_assert_int_eq(place_one(&gw, 1, NULL, 0), 2);
		/*
		 * requests placed since the last poll count: a burst does not
		 * all land on the engine that was idle at the poll
		 */
		{
			int seen1 = 0;

			for (int i = 0; i < 40; i++)
				seen1 |= place_one(&gw, 2 + i, NULL, 0) != 2;
			ck_assert_msg(seen1, "%s: burst all on one engine",
				      policies[p]);
		}
		gw_engines_fini(&gw);
		pthread_mutex_destroy(&gw.lock);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gateway");
	TCase *t = tcase_create("pure");

	tcase_add_test(t, resp_content_length);
	tcase_add_test(t, resp_chunked);
	tcase_add_test(t, resp_chunked_lf_only);
	tcase_add_test(t, resp_until_close);
	tcase_add_test(t, resp_no_body);
	tcase_add_test(t, resp_interim);
	tcase_add_test(t, resp_pipelined);
	tcase_add_test(t, resp_connection_header);
	tcase_add_test(t, resp_bad);
	tcase_add_test(t, resp_nul_and_limits);
	tcase_add_test(t, resp_truncated);
	tcase_add_test(t, endpoints);
	tcase_add_test(t, sse_framing);
	tcase_add_test(t, splice_rules);
	tcase_add_test(t, stream_verbatim_and_strip);
	tcase_add_test(t, stream_reattach_rerun);
	tcase_add_test(t, stream_reattach_edge);
	tcase_add_test(t, engine_metrics);
	tcase_add_test(t, place_roundrobin);
	tcase_add_test(t, place_leastload);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
