// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-gateway: a small HTTP/1.1 client for engines on this host.
 *
 * Engines are local (loopback TCP or a unix socket), so this is plain
 * sockets: a non-blocking connect with a timeout, writes and reads that
 * poll with a timeout (a read also watches the client's socket, so a
 * client that leaves is seen at once), and a response parser fed with
 * whatever a read returned: any split of the bytes gives the same result
 * (the unit test feeds one byte at a time).  Bodies are decoded as they
 * come (Content-Length, chunked, or until the connection closes) into the
 * caller's buffer; nothing waits for a whole message.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway.h"

/* ---- endpoints -------------------------------------------------------- */

int gw_endpoint_parse(const char *url, struct gw_endpoint *ep, char *err,
		      size_t errlen)
{
	const char *rest, *port, *end;
	size_t hl, ul = strlen(url);

	memset(ep, 0, sizeof(*ep));
	if (ul >= sizeof(ep->url))
		goto bad;
	memcpy(ep->url, url, ul + 1);
	if (!strncmp(url, "unix:", 5)) {
		rest = url + 5;
		if (!*rest || strlen(rest) >= sizeof(ep->path))
			goto bad;
		ep->is_unix = true;
		strcpy(ep->path, rest);
		strcpy(ep->host_hdr, "localhost");
		return 0;
	}
	if (strncmp(url, "http://", 7))
		goto bad;
	rest = url + 7;
	end = rest + strlen(rest);
	if (end > rest && end[-1] == '/')
		end--;
	if (*rest == '[') {
		const char *rb = memchr(rest, ']', end - rest);

		if (!rb)
			goto bad;
		hl = rb - rest - 1;
		memcpy(ep->host, rest + 1, hl < sizeof(ep->host) ? hl : 0);
		if (rb + 1 == end) {
			port = NULL;
		} else if (rb[1] == ':') {
			port = rb + 2;
		} else {
			goto bad;
		}
	} else {
		const char *colon = memchr(rest, ':', end - rest);

		hl = (colon ? colon : end) - rest;
		port = colon ? colon + 1 : NULL;
		memcpy(ep->host, rest, hl < sizeof(ep->host) ? hl : 0);
	}
	if (!hl || hl >= sizeof(ep->host) ||
	    strcspn(ep->host, "/?#@ []") != strlen(ep->host))
		goto bad;
	if (port) {
		size_t pl = end - port;

		if (!pl || pl > 5 || strspn(port, "0123456789") < pl)
			goto bad;
		memcpy(ep->port, port, pl);
		if (atoi(ep->port) < 1 || atoi(ep->port) > 65535)
			goto bad;
	} else {
		strcpy(ep->port, "80");
	}
	snprintf(ep->host_hdr, sizeof(ep->host_hdr),
		 strchr(ep->host, ':') ? "[%s]:%s" : "%s:%s", ep->host,
		 ep->port);
	return 0;
bad:
	snprintf(err, errlen,
		 "bad engine address '%s' (http://HOST:PORT or unix:PATH)",
		 url);
	return -EINVAL;
}

/* ---- sockets ---------------------------------------------------------- */

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc ? 0 : -ETIMEDOUT;
}

static int connect_one(int family, const struct sockaddr *sa, socklen_t len,
		       int timeout_ms)
{
	int fd, one = 1, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!connect(fd, sa, len))
		return fd;
	if (errno != EINPROGRESS) {
		rc = -errno;
		goto fail;
	}
	rc = wait_fd(fd, POLLOUT, timeout_ms);
	if (rc)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl)) {
		rc = -errno;
		goto fail;
	}
	if (soerr) {
		rc = -soerr;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

int gw_connect(const struct gw_endpoint *ep, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int fd = -EHOSTUNREACH;

	if (ep->is_unix) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, ep->path);
		return connect_one(AF_UNIX, (struct sockaddr *)&sa, sizeof(sa),
				   timeout_ms);
	}
	if (getaddrinfo(ep->host, ep->port, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
				 timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

int gw_write_all(int fd, const void *p, size_t n, int timeout_ms)
{
	const char *c = p;
	ssize_t w;
	int rc;

	while (n) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w > 0) {
			c += w;
			n -= w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -errno;
		rc = wait_fd(fd, POLLOUT, timeout_ms);
		if (rc)
			return rc;
	}
	return 0;
}

ssize_t gw_read_some(int fd, void *buf, size_t cap, int timeout_ms,
		     int watch_fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = watch_fd, .events = POLLRDHUP },
	};
	ssize_t n;
	int rc;

	for (;;) {
		n = recv(fd, buf, cap, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		do
			rc = poll(p, watch_fd >= 0 ? 2 : 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc < 0)
			return -errno;
		if (!rc)
			return -ETIMEDOUT;
		if (watch_fd >= 0 &&
		    (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
			return -ECANCELED;
	}
}

/* ---- the response parser ---------------------------------------------- */

void gw_resp_init(struct gw_resp *r, bool head)
{
	struct cm_buf line = r->line;

	memset(r, 0, sizeof(*r));
	line.len = 0;
	r->line = line;
	r->head = head;
	r->state = GW_RESP_STATUS;
}

void gw_resp_free(struct gw_resp *r)
{
	cm_buf_free(&r->line);
}

/* field = "token" characters (RFC 9110) */
static bool is_token(const char *s, size_t n)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (!isalnum(c) && (!c || !strchr(extra, c)))
			return false;
	}
	return true;
}

static void copy_field(char *dst, size_t cap, const char *v)
{
	snprintf(dst, cap, "%s", v);
}

/* does the comma-separated list v hold token t (case-insensitive)? */
static bool list_has(const char *v, const char *t)
{
	size_t tl = strlen(t);

	while (*v) {
		size_t n;

		v += strspn(v, " \t,");
		n = strcspn(v, ",");
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == tl && !strncasecmp(v, t, tl))
			return true;
		v += strcspn(v, ",");
	}
	return false;
}

static int parse_status(struct gw_resp *r, const char *l)
{
	if (strncmp(l, "HTTP/1.", 7) || !isdigit((unsigned char)l[7]) ||
	    l[8] != ' ' || !isdigit((unsigned char)l[9]) ||
	    !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
	    (l[12] && l[12] != ' '))
		return -EBADMSG;
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (r->status < 100 || r->status > 599)
		return -EBADMSG;
	/* HTTP/1.0 closes unless told otherwise; we never ask it to stay */
	r->close = l[7] == '0';
	r->state = GW_RESP_HEADERS;
	return 0;
}

static int parse_header(struct gw_resp *r, char *l)
{
	char *colon = strchr(l, ':'), *v, *end;

	/* obsolete line folding, or no name */
	if (l[0] == ' ' || l[0] == '\t' || !colon || !is_token(l, colon - l))
		return -EBADMSG;
	*colon = '\0';
	v = colon + 1;
	v += strspn(v, " \t");
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!strcasecmp(l, "content-length")) {
		uint64_t n = 0;

		if (!*v || strspn(v, "0123456789") != strlen(v) ||
		    strlen(v) > 15)
			return -EBADMSG;
		n = strtoull(v, NULL, 10);
		if (r->has_length && r->length != n)
			return -EBADMSG;
		r->has_length = true;
		r->length = n;
	} else if (!strcasecmp(l, "transfer-encoding")) {
		/* chunked is the only coding engines use */
		if (strcasecmp(v, "chunked"))
			return -EBADMSG;
		r->chunked = true;
	} else if (!strcasecmp(l, "connection")) {
		if (list_has(v, "close"))
			r->close = true;
		else if (list_has(v, "keep-alive"))
			r->close = false;
	} else if (!strcasecmp(l, "content-type")) {
		copy_field(r->content_type, sizeof(r->content_type), v);
	} else if (!strcasecmp(l, "retry-after")) {
		copy_field(r->retry_after, sizeof(r->retry_after), v);
	} else if (!strcasecmp(l, "allow")) {
		copy_field(r->allow, sizeof(r->allow), v);
	}
	return 0;
}

static int end_of_headers(struct gw_resp *r)
{
	if (r->status < 200) {
		/* 1xx: an interim response; the real one follows */
		if (r->status == 101)
			return -EBADMSG;
		gw_resp_init(r, r->head);
		return 0;
	}
	r->headers_done = true;
	if (r->head || r->status == 204 || r->status == 304) {
		r->state = GW_RESP_DONE;
	} else if (r->chunked) {
		r->state = GW_RESP_CHUNK_SIZE;
	} else if (r->has_length) {
		r->remaining = r->length;
		r->state = r->length ? GW_RESP_BODY : GW_RESP_DONE;
	} else {
		r->state = GW_RESP_BODY_EOF;
		r->close = true;
	}
	return 0;
}

static int parse_chunk_size(struct gw_resp *r, const char *l)
{
	uint64_t n = 0;
	size_t i = 0;

	for (; isxdigit((unsigned char)l[i]); i++) {
		if (i >= 15)
			return -EBADMSG;
		n = n * 16 +
		    (isdigit((unsigned char)l[i]) ?
			     l[i] - '0' :
			     (tolower((unsigned char)l[i]) - 'a' + 10));
	}
	if (!i)
		return -EBADMSG;
	i += strspn(l + i, " \t");
	if (l[i] && l[i] != ';')
		return -EBADMSG;
	if (n) {
		r->remaining = n;
		r->state = GW_RESP_CHUNK_DATA;
	} else {
		r->state = GW_RESP_TRAILERS;
	}
	return 0;
}

/* A complete line (without its LF, CR stripped) in r->line. */
static int handle_line(struct gw_resp *r)
{
	char *l = r->line.p;

	if (memchr(l, '\0', r->line.len))
		return -EBADMSG;
	switch (r->state) {
	case GW_RESP_STATUS:
		return parse_status(r, l);
	case GW_RESP_HEADERS:
		if (!*l)
			return end_of_headers(r);
		return parse_header(r, l);
	case GW_RESP_CHUNK_SIZE:
		return parse_chunk_size(r, l);
	case GW_RESP_CHUNK_END:
		if (*l)
			return -EBADMSG;
		r->state = GW_RESP_CHUNK_SIZE;
		return 0;
	case GW_RESP_TRAILERS:
		if (!*l)
			r->state = GW_RESP_DONE;
		else if (!strchr(l, ':'))
			return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}

static bool line_state(enum gw_resp_state s)
{
	return s == GW_RESP_STATUS || s == GW_RESP_HEADERS ||
	       s == GW_RESP_CHUNK_SIZE || s == GW_RESP_CHUNK_END ||
	       s == GW_RESP_TRAILERS;
}

ssize_t gw_resp_feed(struct gw_resp *r, const char *in, size_t n,
		     struct cm_buf *body)
{
	size_t i = 0, take;
	int rc;

	while (i < n && r->state != GW_RESP_DONE) {
		if (r->state == GW_RESP_ERROR)
			return -EBADMSG;
		if (line_state(r->state)) {
			const char *nl = memchr(in + i, '\n', n - i);
			bool head = r->state == GW_RESP_STATUS ||
				    r->state == GW_RESP_HEADERS;

			take = nl ? (size_t)(nl - (in + i)) + 1 : n - i;
			if (r->line.len + take > GW_RESP_LINE_MAX ||
			    (head && r->head_bytes + take > GW_RESP_HEAD_MAX))
				goto bad;
			if (head)
				r->head_bytes += take;
			if (cm_buf_add(&r->line, in + i, take))
				return -ENOMEM;
			i += take;
			if (!nl)
				break;
			r->line.len--; /* the LF */
			if (r->line.len && r->line.p[r->line.len - 1] == '\r')
				r->line.len--;
			r->line.p[r->line.len] = '\0';
			rc = handle_line(r);
			r->line.len = 0;
			if (rc)
				goto bad;
			continue;
		}
		take = n - i;
		if (r->state != GW_RESP_BODY_EOF && take > r->remaining)
			take = r->remaining;
		if (cm_buf_add(body, in + i, take))
			return -ENOMEM;
		i += take;
		if (r->state == GW_RESP_BODY_EOF)
			continue;
		r->remaining -= take;
		if (!r->remaining)
			r->state = r->state == GW_RESP_BODY ? GW_RESP_DONE :
							      GW_RESP_CHUNK_END;
	}
	if (r->state == GW_RESP_ERROR)
		return -EBADMSG;
	return i;
bad:
	r->state = GW_RESP_ERROR;
	return -EBADMSG;
}

int gw_resp_eof(struct gw_resp *r)
{
	if (r->state == GW_RESP_BODY_EOF)
		r->state = GW_RESP_DONE;
	return r->state == GW_RESP_DONE ? 0 : -EPIPE;
}
