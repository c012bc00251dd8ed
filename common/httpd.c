// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP front shared by gpumux-engine serve and gpumux-gateway (see
 * httpd.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "httpd.h"

/* ---- responses -------------------------------------------------------- */

static void count_http(struct httpd *hd, unsigned status)
{
	int i = 0;

	while (i < hd->n_codes - 1 && hd->codes[i] != status)
		i++;
	pthread_mutex_lock(&hd->lock);
	hd->http[i]++;
	pthread_mutex_unlock(&hd->lock);
}

enum MHD_Result httpd_queue(struct MHD_Connection *c, struct httpd_conn *cn,
			    unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret = MHD_queue_response(c, status, resp);

	MHD_destroy_response(resp);
	cn->status = status;
	count_http(cn->hd, status);
	return ret;
}

static void add_header(struct MHD_Response *r, const char *name,
		       const char *value)
{
	if (value && *value)
		MHD_add_response_header(r, name, value);
}

enum MHD_Result httpd_reply(struct MHD_Connection *c, struct httpd_conn *cn,
			    unsigned status, const char *ctype, char *body,
			    size_t len, const struct httpd_header *hdrs)
{
	struct MHD_Response *r;
	bool retry_after = false;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	add_header(r, MHD_HTTP_HEADER_ALLOW, cn->allow);
	for (; hdrs && hdrs->name; hdrs++) {
		if (!hdrs->value || !*hdrs->value)
			continue;
		MHD_add_response_header(r, hdrs->name, hdrs->value);
		if (!strcasecmp(hdrs->name, MHD_HTTP_HEADER_RETRY_AFTER))
			retry_after = true;
	}
	if (!retry_after && (status == 429 || status == 503))
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	return httpd_queue(c, cn, status, r);
}

enum MHD_Result httpd_reply_json(struct MHD_Connection *c,
				 struct httpd_conn *cn, unsigned status,
				 json_t *j, const struct httpd_header *hdrs)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct cm_buf b = { 0 };

	json_decref(j);
	if (!txt || cm_buf_str(&b, txt) || cm_buf_str(&b, "\n")) {
		free(txt);
		cm_buf_free(&b);
		return MHD_NO;
	}
	free(txt);
	return httpd_reply(c, cn, status, "application/json", b.p, b.len, hdrs);
}

static void vfail(struct httpd_error *e, unsigned status, const char *param,
		  const char *code, const char *fmt, va_list ap)
{
	e->status = status;
	e->type = status >= 500 ? "server_error" :
		  status == 429 ? "rate_limit_error" :
				  "invalid_request_error";
	e->param = param;
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int httpd_fail(struct httpd_error *e, unsigned status, const char *param,
	       const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, status, param, code, fmt, ap);
	va_end(ap);
	return -1;
}

json_t *httpd_error_json(const struct httpd_error *e)
{
	return json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", e->msg,
			 "type", e->type, "param", e->param, "code", e->code);
}

enum MHD_Result httpd_reply_herr(struct MHD_Connection *c,
				 struct httpd_conn *cn,
				 const struct httpd_error *e)
{
	return httpd_reply_json(c, cn, e->status, httpd_error_json(e), NULL);
}

enum MHD_Result httpd_reply_error(struct MHD_Connection *c,
				  struct httpd_conn *cn, unsigned status,
				  const char *param, const char *code,
				  const char *fmt, ...)
{
	struct httpd_error e;
	va_list ap;

	va_start(ap, fmt);
	vfail(&e, status, param, code, fmt, ap);
	va_end(ap);
	return httpd_reply_herr(c, cn, &e);
}

/* ---- Prometheus text -------------------------------------------------- */

int httpd_metric(struct cm_buf *b, const char *prefix, const char *name,
		 const char *type, const char *help)
{
	return cm_buf_printf(b,
			     "# HELP %s%s %s\n"
			     "# TYPE %s%s %s\n",
			     prefix, name, help, prefix, name, type);
}

int httpd_metric_value(struct cm_buf *b, const char *prefix, const char *name,
		       const char *type, const char *help, const char *fmt, ...)
{
	int ret = httpd_metric(b, prefix, name, type, help);
	va_list ap;
	int n;

	ret |= cm_buf_printf(b, "%s%s ", prefix, name);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || cm_buf_reserve(b, n + 1))
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
	return ret | cm_buf_str(b, "\n");
}

int httpd_metric_histo(struct cm_buf *b, const char *prefix, const char *name,
		       const char *help, const struct cm_histo *h)
{
	uint64_t cum = 0;
	int ret = httpd_metric(b, prefix, name, "histogram", help);

	for (int i = 0; i < h->n_le; i++) {
		cum += h->count[i];
		ret |= cm_buf_printf(b, "%s%s_bucket{le=\"%g\"} %" PRIu64 "\n",
				     prefix, name, h->le[i], cum);
	}
	ret |= cm_buf_printf(b,
			     "%s%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
			     "%s%s_sum %.6f\n"
			     "%s%s_count %" PRIu64 "\n",
			     prefix, name, h->n, prefix, name, h->sum, prefix,
			     name, h->n);
	return ret;
}

int httpd_metric_http(struct cm_buf *b, const char *prefix, struct httpd *hd)
{
	uint64_t http[HTTPD_MAX_CODES];
	int ret;

	pthread_mutex_lock(&hd->lock);
	memcpy(http, hd->http, sizeof(http));
	pthread_mutex_unlock(&hd->lock);
	ret = httpd_metric(b, prefix, "http_responses_total", "counter",
			   "HTTP responses by status code.");
	for (int i = 0; i < hd->n_codes; i++) {
		if (hd->codes[i])
			ret |= cm_buf_printf(
				b,
				"%shttp_responses_total{code=\"%u\"} %" PRIu64
				"\n",
				prefix, hd->codes[i], http[i]);
		else
			ret |= cm_buf_printf(
				b,
				"%shttp_responses_total{code=\"other\"} %" PRIu64
				"\n",
				prefix, http[i]);
	}
	return ret;
}

/* ---- routing ---------------------------------------------------------- */

static enum MHD_Result too_large(struct MHD_Connection *c,
				 struct httpd_conn *cn)
{
	return httpd_reply_error(c, cn, 413, NULL, "request_too_large",
				 "the request body is larger than %zu bytes",
				 cn->hd->max_body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct httpd *hd = cls;
	struct httpd_conn *cn = *con_cls;
	const struct httpd_route *r = NULL;
	const char *cl;

	(void)version;
	if (!cn) {
		cn = calloc(1, sizeof(*cn));
		if (!cn)
			return MHD_NO;
		cn->hd = hd;
		*con_cls = cn;
		for (int i = 0; i < hd->n_routes; i++)
			if (!strcmp(url, hd->routes[i].path))
				r = &hd->routes[i];
		if (!r)
			return httpd_reply_error(
				c, cn, 404, NULL, "not_found",
				"no such endpoint; try /v1/completions, /v1/models, /health or /metrics");
		if (r->post ? strcmp(method, "POST") :
			      strcmp(method, "GET") && strcmp(method, "HEAD")) {
			cn->allow = r->post ? "POST" : "GET, HEAD";
			return httpd_reply_error(
				c, cn, 405, NULL, "method_not_allowed",
				"method not allowed here; use %s",
				r->post ? "POST" : "GET");
		}
		cn->route = r;
		if (!r->post)
			return r->fn(hd->ctx, c, cn);
		cl = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > hd->max_body)
			return too_large(c, cn);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!cn->too_large &&
		    cn->body.len + *upload_size > hd->max_body)
			cn->too_large = true;
		if (!cn->too_large &&
		    cm_buf_add(&cn->body, upload, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (cn->too_large)
		return too_large(c, cn);
	return cn->route->fn(hd->ctx, c, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct httpd *hd = cls;
	struct httpd_conn *cn = *con_cls;

	(void)c;
	if (!cn)
		return;
	if (hd->verbose)
		fprintf(stderr, "%s: %s %u%s\n", hd->name,
			cn->route ? cn->route->path : "-", cn->status,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
				"" :
				" (terminated)");
	cm_buf_free(&cn->body);
	free(cn);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *hd = cls;

	if (!hd->verbose)
		return;
	fprintf(stderr, "%s: httpd: ", hd->name);
	vfprintf(stderr, fmt, ap);
}

/* ---- listening -------------------------------------------------------- */

static int listen_unix(const char *path, int backlog, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "bad unix socket path '%s'", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* a socket left by a previous run is replaced; any other file is not */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, backlog))
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "cannot listen on unix:%s: %s", path,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* HOST:PORT or [V6]:PORT; desc gets the bound address (port 0 resolved) */
static int listen_inet(const char *addr, int backlog, bool v6only, char *desc,
		       size_t desclen, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char host[256], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *port, *h = addr;
	int fd = -1, one = 1, rc;
	size_t hl;

	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || rb[1] != ':')
			goto bad;
		h++;
		hl = rb - h;
		port = rb + 2;
	} else {
		port = strrchr(h, ':');
		if (!port)
			goto bad;
		hl = port - h;
		port++;
	}
	if (!hl || hl >= sizeof(host) || !*port || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s' port '%s': %s", host,
			 port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6only && res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl))
		goto fail;
	freeaddrinfo(res);
	if (getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof(hbuf), pbuf,
			sizeof(pbuf), NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(desc, desclen, "?");
	else
		snprintf(desc, desclen,
			 ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", hbuf,
			 pbuf);
	return fd;
bad:
	snprintf(err, errlen,
		 "bad listen address '%s' (HOST:PORT, [V6]:PORT or unix:PATH)",
		 addr);
	return -1;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
	if (res)
		freeaddrinfo(res);
	if (fd >= 0)
		close(fd);
	return -1;
}

int httpd_listen(struct httpd *hd, const char *spec, int backlog, bool v6only,
		 char *err, size_t errlen)
{
	if (!strncmp(spec, "unix:", 5)) {
		hd->fd = listen_unix(spec + 5, backlog, err, errlen);
		if (hd->fd >= 0)
			hd->unix_path = spec + 5;
		snprintf(hd->desc, sizeof(hd->desc), "%s", spec);
	} else {
		hd->fd = listen_inet(spec, backlog, v6only, hd->desc,
				     sizeof(hd->desc), err, errlen);
	}
	return hd->fd < 0 ? -1 : 0;
}

/* ---- the daemon ------------------------------------------------------- */

void httpd_init(struct httpd *hd)
{
	pthread_mutex_init(&hd->lock, NULL);
	hd->fd = -1;
}

int httpd_start(struct httpd *hd, unsigned int max_connections,
		unsigned int timeout_s)
{
	unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			     MHD_USE_ERROR_LOG;

	hd->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, hd,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, hd,
		MHD_OPTION_LISTEN_SOCKET, hd->fd, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, hd, MHD_OPTION_CONNECTION_LIMIT, max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_END);
	if (!hd->mhd) {
		fprintf(stderr, "%s: cannot start the HTTP server\n", hd->name);
		return -1;
	}
	return 0;
}

void httpd_fini(struct httpd *hd)
{
	if (hd->mhd)
		MHD_stop_daemon(hd->mhd);
	hd->mhd = NULL;
	if (hd->fd >= 0)
		close(hd->fd);
	hd->fd = -1;
	if (hd->unix_path)
		unlink(hd->unix_path);
	hd->unix_path = NULL;
	pthread_mutex_destroy(&hd->lock);
}

void httpd_block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int httpd_wait_signal(const struct httpd *hd, const sigset_t *sigs)
{
	int sig;

	while (sigwait(sigs, &sig))
		;
	fprintf(stderr, "%s: %s: shutting down\n", hd->name, strsignal(sig));
	return sig;
}
