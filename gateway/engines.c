// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-gateway: the engines, their loads, and placement.
 *
 * Each engine has a poller thread that reads its /metrics every poll_ms
 * over a keep-alive connection: requests running and waiting, KV blocks
 * used and total, tokens per block.  A poll that fails (refused, timed out,
 * malformed) marks the engine down until one succeeds; an engine whose last
 * good poll is older than stale_ms is stale for the scheduler, which gives
 * it nothing (gpumux_gsched_candidate()).
 *
 * Placement builds a gpumux_gsched_input from the last polls and asks the
 * policy (gsched ops: "llumnix", "roundrobin", "leastload").  Engines
 * report counts, not requests, so the input's requests are stand-ins:
 * `running` requests sharing kv_used blocks, `waiting` requests of one
 * block each, and the requests this gateway placed there since the poll
 * began, as running requests holding their estimated prompt blocks (an
 * engine with room admits them at its next step), so a burst between two
 * polls does not all go to the same engine.  Stand-in ids have bit 63 set;
 * gateway request ids never do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

#define STANDIN_ID(eng, j) ((1ULL << 63) | ((uint64_t)(eng) << 32) | (j))

/* ---- /metrics --------------------------------------------------------- */

static const struct {
	const char *name;
	size_t off;
	bool required;
} engine_gauges[] = {
	{ "gpumux_engine_requests_running", offsetof(struct gw_engine, running),
	  true },
	{ "gpumux_engine_requests_waiting", offsetof(struct gw_engine, waiting),
	  true },
	{ "gpumux_engine_kv_blocks_used", offsetof(struct gw_engine, kv_used),
	  true },
	{ "gpumux_engine_kv_blocks_total", offsetof(struct gw_engine, kv_total),
	  true },
	{ "gpumux_engine_kv_block_tokens",
	  offsetof(struct gw_engine, block_tokens), true },
	{ "gpumux_engine_slots_in_use",
	  offsetof(struct gw_engine, slots_in_use), false },
	{ "gpumux_engine_slots_total", offsetof(struct gw_engine, slots_total),
	  false },
};
#define N_GAUGES (sizeof(engine_gauges) / sizeof(engine_gauges[0]))

int gw_parse_engine_metrics(const char *text, size_t len, struct gw_engine *e)
{
	unsigned int seen = 0;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *le = nl ? nl : end;
		size_t nlen = strcspn(p, " {\n");

		if (*p != '#' && p + nlen < le && p[nlen] == ' ') {
			for (size_t i = 0; i < N_GAUGES; i++) {
				const char *name = engine_gauges[i].name;
				char num[32], *ep;
				size_t vl = le - (p + nlen + 1);
				double v;

				if (strlen(name) != nlen ||
				    memcmp(p, name, nlen) || vl >= sizeof(num))
					continue;
				memcpy(num, p + nlen + 1, vl);
				num[vl] = '\0';
				v = strtod(num, &ep);
				if (ep == num || *ep || !(v >= 0 && v < 1e9))
					return -EBADMSG;
				*(int32_t *)((char *)e + engine_gauges[i].off) =
					(int32_t)v;
				seen |= 1U << i;
			}
		}
		p = le + 1;
	}
	for (size_t i = 0; i < N_GAUGES; i++)
		if (engine_gauges[i].required && !(seen & (1U << i)))
			return -EBADMSG;
	if (e->kv_total <= 0 || e->block_tokens <= 0)
		return -EBADMSG;
	return 0;
}

/* ---- polling ---------------------------------------------------------- */

/* GET /metrics on the keep-alive connection: body in out.  0 or -errno */
static int fetch_metrics(struct gw_engine *e, struct cm_buf *out, char *why,
			 size_t whylen)
{
	const struct gw_options *o = e->gw->opt;
	double deadline = cm_now() + o->poll_timeout_ms / 1000.0;
	struct gw_resp resp = { 0 };
	struct cm_buf head = { 0 };
	char rbuf[8192];
	bool fresh = false;
	int rc;

again:
	if (e->poll_fd < 0) {
		e->poll_fd = gw_connect(&e->ep, o->poll_timeout_ms);
		if (e->poll_fd < 0) {
			rc = e->poll_fd;
			snprintf(why, whylen, "connect: %s", strerror(-rc));
			goto out;
		}
		fresh = true;
	}
	head.len = 0;
	rc = cm_buf_printf(&head,
			   "GET /metrics HTTP/1.1\r\nHost: %s\r\n"
			   "User-Agent: gpumux-gateway\r\n\r\n",
			   e->ep.host_hdr);
	if (!rc)
		rc = gw_write_all(e->poll_fd, head.p, head.len,
				  o->poll_timeout_ms);
	gw_resp_init(&resp, false);
	out->len = 0;
	while (!rc && !gw_resp_done(&resp)) {
		int left = (int)((deadline - cm_now()) * 1000);
		ssize_t n;

		if (left <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		n = gw_read_some(e->poll_fd, rbuf, sizeof(rbuf), left, -1);
		if (n < 0) {
			rc = n;
		} else if (!n) {
			rc = gw_resp_eof(&resp);
		} else {
			ssize_t used = gw_resp_feed(&resp, rbuf, n, out);

			if (used < 0)
				rc = used;
			else if ((size_t)used < (size_t)n)
				rc = -EBADMSG; /* bytes after the response */
			if (!rc && out->len > (1 << 20))
				rc = -E2BIG;
		}
	}
	if (rc && !fresh && !resp.head_bytes &&
	    (rc == -EPIPE || rc == -ECONNRESET)) {
		/* the engine closed our idle connection: once more */
		close(e->poll_fd);
		e->poll_fd = -1;
		goto again;
	}
	if (rc)
		snprintf(why, whylen, "GET /metrics: %s", strerror(-rc));
	else if (resp.status != 200)
		snprintf(why, whylen, "GET /metrics: HTTP %d", resp.status);
	if (!rc && resp.status != 200)
		rc = -EIO;
	if (rc || resp.close) {
		close(e->poll_fd);
		e->poll_fd = -1;
	}
out:
	gw_resp_free(&resp);
	cm_buf_free(&head);
	return rc;
}

static void poll_engine(struct gw_engine *e)
{
	struct gw *gw = e->gw;
	struct gw_engine snap;
	struct cm_buf body = { 0 };
	uint64_t sent, blocks;
	char why[128] = "";
	int rc;

	pthread_mutex_lock(&gw->lock);
	sent = e->sent;
	blocks = e->sent_blocks;
	pthread_mutex_unlock(&gw->lock);
	memset(&snap, 0, sizeof(snap));
	rc = fetch_metrics(e, &body, why, sizeof(why));
	if (!rc) {
		rc = gw_parse_engine_metrics(body.p ? body.p : "", body.len,
					     &snap);
		if (rc)
			snprintf(why, sizeof(why),
				 "GET /metrics: not a gpumux engine's metrics");
	}
	pthread_mutex_lock(&gw->lock);
	e->polls++;
	if (!rc) {
		if (e->state != GW_ENGINE_UP && gw->opt->verbose)
			fprintf(stderr, "gpumux-gateway: engine %s is up\n",
				e->ep.url);
		e->state = GW_ENGINE_UP;
		e->report_ms = cm_now_ms();
		e->running = snap.running;
		e->waiting = snap.waiting;
		e->kv_used = snap.kv_used;
		e->kv_total = snap.kv_total;
		e->block_tokens = snap.block_tokens;
		e->slots_in_use = snap.slots_in_use;
		e->slots_total = snap.slots_total;
		e->sent_at_poll = sent;
		e->blocks_at_poll = blocks;
		e->error[0] = '\0';
	} else {
		e->poll_failures++;
		if (e->state != GW_ENGINE_DOWN || strcmp(e->error, why)) {
			if (e->state != GW_ENGINE_DOWN)
				fprintf(stderr,
					"gpumux-gateway: engine %s is down: %s\n",
					e->ep.url, why);
			e->state = GW_ENGINE_DOWN;
			snprintf(e->error, sizeof(e->error), "%s", why);
		}
	}
	pthread_mutex_unlock(&gw->lock);
	cm_buf_free(&body);
}

static void *poller_main(void *arg)
{
	struct gw_engine *e = arg;
	struct gw *gw = e->gw;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&gw->lock);
	while (!gw->stop) {
		ts.tv_nsec += (long)gw->opt->poll_ms * 1000000L;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!gw->stop &&
		       pthread_cond_timedwait(&gw->stop_cv, &gw->lock, &ts) !=
			       ETIMEDOUT)
			;
		if (gw->stop)
			break;
		pthread_mutex_unlock(&gw->lock);
		poll_engine(e);
		pthread_mutex_lock(&gw->lock);
		/* a slow poll does not make the next ones pile up */
		{
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > ts.tv_sec + 1)
				ts = now;
		}
	}
	pthread_mutex_unlock(&gw->lock);
	return NULL;
}

int gw_engines_init(struct gw *gw)
{
	const struct gw_options *o = gw->opt;
	struct gpumux_gsched_params p = gpumux_gsched_default_params();
	char err[320];
	int rc;

	gw->engines = calloc(o->n_engines, sizeof(*gw->engines));
	if (!gw->engines)
		return -ENOMEM;
	gw->n_engines = o->n_engines;
	for (int i = 0; i < o->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];

		e->gw = gw;
		e->id = i + 1;
		e->poll_fd = -1;
		rc = gw_endpoint_parse(o->engines[i], &e->ep, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "gpumux-gateway: %s\n", err);
			return rc;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(gw->engines[j].ep.url, e->ep.url)) {
				fprintf(stderr,
					"gpumux-gateway: engine %s given twice\n",
					e->ep.url);
				return -EINVAL;
			}
	}
	p.stale_ms = o->stale_ms;
	rc = gpumux_gsched_init(&gw->gs, o->policy, &p);
	if (rc) {
		fprintf(stderr, "gpumux-gateway: policy '%s': %s\n", o->policy,
			rc == -ENOENT ? "no such policy" : strerror(-rc));
		return rc;
	}
	return 0;
}

int gw_engines_start(struct gw *gw)
{
	for (int i = 0; i < gw->n_engines; i++)
		poll_engine(&gw->engines[i]);
	for (int i = 0; i < gw->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];

		if (pthread_create(&e->poller, NULL, poller_main, e))
			return -EAGAIN;
		e->poller_started = true;
	}
	return 0;
}

void gw_engines_stop(struct gw *gw)
{
	pthread_mutex_lock(&gw->lock);
	gw->stop = true;
	pthread_cond_broadcast(&gw->stop_cv);
	pthread_mutex_unlock(&gw->lock);
	for (int i = 0; i < gw->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];

		if (e->poller_started)
			pthread_join(e->poller, NULL);
		e->poller_started = false;
	}
}

void gw_engines_fini(struct gw *gw)
{
	for (int i = 0; gw->engines && i < gw->n_engines; i++)
		if (gw->engines[i].poll_fd >= 0)
			close(gw->engines[i].poll_fd);
	free(gw->engines);
	gw->engines = NULL;
	gpumux_gsched_fini(&gw->gs);
}

void gw_engine_failed(struct gw_engine *e, const char *why)
{
	struct gw *gw = e->gw;

	pthread_mutex_lock(&gw->lock);
	e->failures++;
	if (e->state != GW_ENGINE_DOWN)
		fprintf(stderr, "gpumux-gateway: engine %s failed: %s\n",
			e->ep.url, why);
	e->state = GW_ENGINE_DOWN;
	snprintf(e->error, sizeof(e->error), "%s", why);
	pthread_mutex_unlock(&gw->lock);
}

/* ---- placement -------------------------------------------------------- */

static bool excluded(const struct gw_engine *e, struct gw_engine *const *ex,
		     int n)
{
	for (int i = 0; i < n; i++)
		if (ex[i] == e)
			return true;
	return false;
}

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/* the stand-in requests of e, see the top of the file; locked */
static size_t fill_instance(struct gw_engine *e, uint64_t now,
			    struct gpumux_gsched_instance *in,
			    struct gpumux_gsched_request *rq)
{
	uint32_t total = e->kv_total, used = min_u32(e->kv_used, total);
	uint64_t pend = e->sent - e->sent_at_poll;
	uint32_t pend_b =
		pend ? min_u32((e->sent_blocks - e->blocks_at_poll) / pend,
			       total) :
		       0;
	size_t k = 0, nr = e->running > 0 ? e->running : 0;
	size_t nw = e->waiting > 0 ? e->waiting : 0;

	if (pend && !pend_b)
		pend_b = 1;
	*in = (struct gpumux_gsched_instance){
		.id = e->id,
		.block_tokens = e->block_tokens,
		.kv_total = total,
		.kv_used = used,
		.report_ms = e->report_ms < now ? e->report_ms : now,
		.running = rq,
		.nr_running = nr + pend,
	};
	for (size_t j = 0; j < nr; j++, k++) {
		uint32_t b = used / nr + (j < used % nr);

		rq[k] = (struct gpumux_gsched_request){
			.id = STANDIN_ID(e->id, k),
			.blocks = b,
			.tokens = b * e->block_tokens,
		};
	}
	/* placed since the poll: soon running, with their prompt's blocks */
	for (uint64_t j = 0; j < pend; j++, k++) {
		rq[k] = (struct gpumux_gsched_request){
			.id = STANDIN_ID(e->id, k),
			.blocks = pend_b,
			.tokens = pend_b * e->block_tokens,
		};
		in->kv_used = min_u32((uint64_t)in->kv_used + pend_b, total);
	}
	in->waiting = rq + k;
	in->nr_waiting = nw;
	for (size_t j = 0; j < nw; j++, k++)
		rq[k] = (struct gpumux_gsched_request){
			.id = STANDIN_ID(e->id, k),
			.blocks = 1,
			.tokens = e->block_tokens,
		};
	return k;
}

int gw_place(struct gw *gw, uint64_t id, uint32_t prompt_tokens,
	     struct gw_engine *const *exclude, int n_exclude,
	     struct gw_place *out)
{
	struct gpumux_gsched_new_request req = { .id = id };
	struct gpumux_gsched_instance *inst = NULL;
	struct gpumux_gsched_request *rq = NULL;
	struct gpumux_gsched_placement pl;
	struct gpumux_gsched_input in = { 0 };
	uint64_t cap = UINT32_MAX;
	size_t nreq = 0, ni = 0, k = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&gw->lock);
	in.now_ms = cm_now_ms();
	for (int i = 0; i < gw->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];

		if (e->state != GW_ENGINE_UP || excluded(e, exclude, n_exclude))
			continue;
		nreq += (e->running > 0 ? e->running : 0) +
			(e->waiting > 0 ? e->waiting : 0) +
			(e->sent - e->sent_at_poll);
		ni++;
	}
	if (!ni) {
		out->verdict = GPUMUX_GSCHED_REFUSE;
		goto out;
	}
	inst = calloc(ni, sizeof(*inst));
	rq = calloc(nreq + 1, sizeof(*rq));
	if (!inst || !rq) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < gw->n_engines; i++) {
		struct gw_engine *e = &gw->engines[i];
		uint64_t c;

		if (e->state != GW_ENGINE_UP || excluded(e, exclude, n_exclude))
			continue;
		k += fill_instance(e, in.now_ms, &inst[in.nr_instances++],
				   rq + k);
		c = (uint64_t)e->kv_total * e->block_tokens;
		if (c < cap)
			cap = c;
	}
	in.instances = inst;
	/* an estimate: the engine itself refuses what does not fit */
	req.prompt_tokens = min_u32(prompt_tokens ? prompt_tokens : 1, cap);
	rc = gpumux_gsched_dispatch(&gw->gs, &in, &req, &pl);
	if (rc)
		goto out;
	out->verdict = pl.verdict;
	if (pl.verdict == GPUMUX_GSCHED_PLACE) {
		struct gw_engine *e = &gw->engines[pl.instance_id - 1];

		out->engine = e;
		e->sent++;
		e->sent_blocks += pl.blocks ? pl.blocks : 1;
	}
out:
	pthread_mutex_unlock(&gw->lock);
	free(inst);
	free(rq);
	return rc;
}
