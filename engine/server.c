// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-engine serve: an OpenAI-compatible HTTP server on libmicrohttpd.
 *
 * Threads.  libmicrohttpd runs one thread per connection, so handlers may
 * block.  One engine thread owns the gme_engine and runs the continuous
 * batching step loop.  They meet in struct gms_server, under srv->lock:
 *  - a completion request takes a free slot (preallocated, with prompt and
 *    token arrays of seq_len), fills it and pushes it on the submit ring;
 *  - between two steps the engine thread publishes what the last step
 *    produced (tokens, finishes, metrics; one lock per step), takes new
 *    slots and cancellations, then, unlocked, submits and releases them in
 *    the engine and runs the next step;
 *  - the HTTP thread waits on its slot's condition variable and turns the
 *    published tokens into text (a JSON body or server-sent events).
 * The rings hold at most one entry per slot, so every queue is bounded by
 * the slot count (max_seqs + max_waiting); no slot free means 429.  The
 * engine thread allocates nothing except in gme_engine_submit() (one
 * request's arrays).
 *
 * A slot is freed when both sides are done with it: the engine (finished,
 * failed, cancelled) and the HTTP side (response sent, or client gone).
 * A client that disconnects cancels its request: the engine thread
 * releases it, which frees its KV blocks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/httpd.h"
#include "engine.h"
#include "server.h"

#define DEFAULT_MAX_TOKENS 16 /* OpenAI's default for completions */
#define DEFAULT_KV_CAP ((size_t)1 << 30) /* default KV pool bound */
#define WAIT_POLL_MS 50 /* how often a waiting handler checks its client */
#define CONNECTION_TIMEOUT_S 120u /* idle keep-alive connections */
#define REPORT_INTERVAL_S 1.0

/* ---- UTF-8 ------------------------------------------------------------ */

/*
 * The UTF-8 sequence at s (n bytes available): its length when valid, 0
 * when cut short but valid so far, -1 when invalid (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF).
 */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xbf;
	int len;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return -1;
	}
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (s[i] < lo || s[i] > hi)
			return -1;
		lo = 0x80;
		hi = 0xbf;
	}
	return len;
}

/*
 * Move the text at the start of raw into out as valid UTF-8: invalid
 * bytes become U+FFFD; a sequence cut short at the end stays in raw for
 * the next token's bytes, unless final.  Token pieces split multi-byte
 * characters (byte fallback tokens), so text is only ever sent whole.
 */
static int utf8_drain(struct cm_buf *raw, struct cm_buf *out, bool final)
{
	size_t i = 0;

	while (i < raw->len) {
		int n = utf8_seq((const unsigned char *)raw->p + i,
				 raw->len - i);

		if (!n && !final)
			break;
		if (n <= 0) {
			if (cm_buf_str(out, "\xef\xbf\xbd"))
				return -ENOMEM;
			i++;
			continue;
		}
		if (cm_buf_add(out, raw->p + i, n))
			return -ENOMEM;
		i += n;
	}
	if (i) {
		memmove(raw->p, raw->p + i, raw->len - i);
		raw->len -= i;
		raw->p[raw->len] = '\0';
	}
	return 0;
}

/* a token's text, filtered as `generate` prints it (llama2.c's safe_printf) */
static int add_piece(struct cm_buf *raw, const char *piece)
{
	if (!piece || !piece[0])
		return 0;
	if (!piece[1]) {
		unsigned char b = piece[0];

		if (!(b >= 0x20 && b < 0x7f) && b != '\n' && b != '\t' &&
		    b != '\r' && b < 0x80)
			return 0;
	}
	return cm_buf_str(raw, piece);
}

/* ---- state ------------------------------------------------------------ */

enum slot_state {
	SLOT_FREE,
	SLOT_QUEUED, /* on the submit ring */
	SLOT_TAKEN, /* being submitted by the engine thread */
	SLOT_ACTIVE, /* in the engine */
	SLOT_DONE, /* the engine is done with it; see finish and err */
};

struct slot {
	pthread_cond_t cv; /* state or n_pub changed (with srv->lock) */
	/* written by the claiming HTTP thread under srv->lock, then fixed */
	int32_t *prompt; /* (seq_len) */
	int32_t n_prompt;
	struct gme_sampling_params sp;
	double t_queued;
	/* engine thread only */
	uint64_t id; /* the engine's request id */
	int sub_err; /* gme_engine_submit's result */
	int32_t n_out; /* tokens written to tokens[] */
	enum gme_finish_reason fin_out;
	bool touched; /* in srv->touched this step */
	/* under srv->lock */
	enum slot_state state;
	int err; /* DONE without finishing: -errno */
	enum gme_finish_reason finish; /* DONE and finished */
	int32_t n_pub; /* tokens[0, n_pub) are published, fixed */
	int32_t *tokens; /* (seq_len) generated tokens, stop token excluded */
	bool cancel; /* the HTTP side is gone; release it */
	bool http_done;
};

/* Prometheus "le" buckets */
#define HISTO_BUCKETS 13
static const double ttft_le[HISTO_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
static const double e2e_le[HISTO_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
					      0.25,  0.5,  1,	  2.5,	5,
					      10,    30,   60 };

enum fin_label {
	FIN_STOP,
	FIN_LENGTH,
	FIN_CANCELLED,
	FIN_SHUTDOWN,
	FIN_ERROR,
	N_FIN
};
static const char *const fin_names[N_FIN] = { "stop", "length", "cancelled",
					      "shutdown", "error" };

static const unsigned http_codes[] = { 200, 400, 404, 405, 413,
				       429, 500, 503, 0 /* other */ };
#define N_HTTP_CODES (sizeof(http_codes) / sizeof(http_codes[0]))

struct metrics {
	uint64_t requests; /* completions queued */
	uint64_t finished[N_FIN];
	uint64_t prompt_tokens, gen_tokens;
	uint64_t steps, step_rows, preemptions;
	int32_t running, waiting, kv_used, kv_total;
	struct cm_histo ttft, e2e;
};

struct gms_server {
	const struct gms_options *opt;
	const struct gms_host_ops *host;
	struct gms_resources res;
	struct gme_model *model;
	struct gme_tokenizer *tok;
	struct gme_engine *eng;
	const struct gme_config *cfg;
	char model_id[128];
	size_t max_piece; /* longest token text, bytes */
	size_t kv_block_bytes;
	int32_t block_size;
	time_t started;
	uint64_t salt; /* for request ids and default seeds */
	struct httpd hd;
	pthread_t engine_thread;
	bool engine_started;

	pthread_mutex_t lock; /* everything below, and slot fields so marked */
	pthread_cond_t engine_cv; /* work for the engine thread, or stop */
	pthread_cond_t idle_cv; /* a slot was freed */
	struct slot *slots; /* (n_slots) */
	int n_slots;
	int *free_stack; /* (n_slots) free slot indexes */
	int n_free;
	struct slot **sub_ring; /* (n_slots) QUEUED slots, FIFO */
	int sub_head, sub_n;
	struct slot **can_ring; /* (n_slots) ACTIVE slots to cancel */
	int can_head, can_n;
	bool draining; /* refuse new completions (503) */
	bool stop; /* engine thread: abort everything and exit */
	uint64_t counter; /* requests seen, for ids */
	struct metrics m;
	struct gms_compute posted; /* by the host, not applied yet */
	uint64_t posted_seq; /* bumped by every post */
	uint64_t applied_seq; /* the post the engine thread applied */
	struct gms_compute shown; /* applied, for /health and /metrics */
	int threads; /* the engine's compute threads now */
	bool paused; /* no CUs: the engine thread does not step */
	bool attached; /* the host posts compute states */
	uint64_t compute_changes; /* posts applied */

	/* engine thread only */
	struct slot **active; /* (n_slots) slots in the engine */
	int n_active;
	struct slot **fresh; /* (n_slots) taken from sub_ring */
	int n_fresh;
	struct slot **cancelled; /* (n_slots) taken from can_ring */
	int n_cancelled;
	struct slot **touched; /* (n_slots) got tokens in the step */
	int n_touched;
	int unfinished; /* the engine's running + waiting */
	struct gme_step_stats st;
	uint64_t step_tokens; /* sampled in the last step, stop included */
	double t_step; /* when the last step ended */
	bool host_started; /* host->start() succeeded */
};

void gms_server_set_compute(struct gms_server *s, const struct gms_compute *c)
{
	pthread_mutex_lock(&s->lock);
	s->posted = *c;
	s->posted_seq++;
	s->attached = true;
	pthread_cond_signal(&s->engine_cv);
	pthread_mutex_unlock(&s->lock);
}

/* ---- the engine thread ------------------------------------------------ */

static struct slot *active_find(struct gms_server *s, uint64_t id)
{
	for (int i = 0; i < s->n_active; i++)
		if (s->active[i]->id == id)
			return s->active[i];
	return NULL;
}

static void active_remove(struct gms_server *s, struct slot *sl)
{
	for (int i = 0; i < s->n_active; i++) {
		if (s->active[i] == sl) {
			s->active[i] = s->active[--s->n_active];
			return;
		}
	}
}

/* gme_engine_params.on_token: from gme_engine_step(), engine thread */
static void on_token(void *user, uint64_t id, int32_t token,
		     enum gme_finish_reason fin)
{
	struct gms_server *s = user;
	struct slot *sl = active_find(s, id);

	s->step_tokens++;
	if (!sl)
		return;
	/* at most seq_len - n_prompt tokens: tokens[] never overflows */
	if (fin != GME_FINISH_STOP && sl->n_out < s->cfg->seq_len)
		sl->tokens[sl->n_out++] = token;
	sl->fin_out = fin;
	if (!sl->touched) {
		sl->touched = true;
		s->touched[s->n_touched++] = sl;
	}
}

static void slot_free_locked(struct gms_server *s, struct slot *sl)
{
	sl->state = SLOT_FREE;
	s->free_stack[s->n_free++] = sl - s->slots;
	pthread_cond_broadcast(&s->idle_cv);
}

/* the engine is done with sl: tell its HTTP thread, or free it */
static void slot_done_locked(struct gms_server *s, struct slot *sl, int err,
			     enum fin_label label)
{
	sl->state = SLOT_DONE;
	sl->err = err;
	s->m.finished[label]++;
	if (sl->t_queued > 0)
		cm_histo_add(&s->m.e2e, s->t_step - sl->t_queued);
	if (sl->http_done)
		slot_free_locked(s, sl);
	else
		pthread_cond_signal(&sl->cv);
}

static void cancel_push_locked(struct gms_server *s, struct slot *sl)
{
	s->can_ring[(s->can_head + s->can_n++) % s->n_slots] = sl;
	pthread_cond_signal(&s->engine_cv);
}

/* Make the last iteration's results visible.  Engine thread, locked. */
static void publish_locked(struct gms_server *s)
{
	struct metrics *m = &s->m;

	for (int i = 0; i < s->n_fresh; i++) {
		struct slot *sl = s->fresh[i];

		if (sl->sub_err) {
			slot_done_locked(s, sl, sl->sub_err, FIN_ERROR);
			continue;
		}
		sl->state = SLOT_ACTIVE;
		m->prompt_tokens += sl->n_prompt;
		if (sl->cancel)
			cancel_push_locked(s, sl);
		else
			pthread_cond_signal(&sl->cv);
	}
	s->n_fresh = 0;
	for (int i = 0; i < s->n_touched; i++) {
		struct slot *sl = s->touched[i];

		sl->touched = false;
		if (!sl->n_pub && sl->n_out)
			cm_histo_add(&m->ttft, s->t_step - sl->t_queued);
		m->gen_tokens += sl->n_out - sl->n_pub;
		sl->n_pub = sl->n_out;
		if (sl->fin_out) {
			if (!sl->n_pub)
				cm_histo_add(&m->ttft,
					     s->t_step - sl->t_queued);
			sl->finish = sl->fin_out;
			slot_done_locked(s, sl, 0,
					 sl->fin_out == GME_FINISH_STOP ?
						 FIN_STOP :
						 FIN_LENGTH);
		} else {
			pthread_cond_signal(&sl->cv);
		}
	}
	s->n_touched = 0;
	for (int i = 0; i < s->n_cancelled; i++)
		slot_done_locked(s, s->cancelled[i], -ECANCELED, FIN_CANCELLED);
	s->n_cancelled = 0;
	m->steps += s->st.n_rows > 0;
	m->step_rows += s->st.n_rows;
	m->preemptions += s->st.n_preempted;
	m->running = s->st.n_running;
	m->waiting = s->st.n_waiting;
	m->kv_used = s->st.kv_used;
	m->kv_total = s->st.kv_total;
}

/* Take new slots and cancellations.  Engine thread, locked. */
static void take_locked(struct gms_server *s)
{
	while (s->sub_n) {
		struct slot *sl = s->sub_ring[s->sub_head];

		s->sub_head = (s->sub_head + 1) % s->n_slots;
		s->sub_n--;
		if (sl->cancel) {
			slot_done_locked(s, sl, -ECANCELED, FIN_CANCELLED);
			continue;
		}
		sl->state = SLOT_TAKEN;
		s->fresh[s->n_fresh++] = sl;
	}
	/*
	 * A slot leaves ACTIVE only in publish_locked(), just before this,
	 * under the same lock: entries for slots no longer ACTIVE are stale
	 * (finished meanwhile) and the slot cannot have been reused yet.
	 */
	while (s->can_n) {
		struct slot *sl = s->can_ring[s->can_head];

		s->can_head = (s->can_head + 1) % s->n_slots;
		s->can_n--;
		if (sl->state == SLOT_ACTIVE)
			s->cancelled[s->n_cancelled++] = sl;
	}
}

static void report_load(struct gms_server *s, double *t_last,
			uint64_t *tok_last, uint64_t tokens)
{
	struct gms_load load;
	double t = s->t_step;

	if (!s->host->report || t - *t_last < REPORT_INTERVAL_S * 0.999)
		return;
	load = (struct gms_load){
		.running = s->st.n_running,
		.waiting = s->st.n_waiting,
		.kv_used = s->st.kv_used,
		.kv_total = s->st.kv_total,
		.tokens_per_s = (tokens - *tok_last) / (t - *t_last),
	};
	s->host->report(s->host->ctx, &load);
	*t_last = t;
	*tok_last = tokens;
}

/*
 * Wait until there is work or stop.  With a host that takes load reports,
 * true when one is due meanwhile (reports go on while idle).
 */
static bool idle_wait(struct gms_server *s, double t_report)
{
	struct timespec ts;
	double t = t_report + REPORT_INTERVAL_S;

	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
	while (!s->stop && !s->sub_n && !s->can_n &&
	       (!s->unfinished || s->paused) &&
	       s->posted_seq == s->applied_seq) {
		if (!s->host->report)
			pthread_cond_wait(&s->engine_cv, &s->lock);
		else if (pthread_cond_timedwait(&s->engine_cv, &s->lock, &ts) ==
			 ETIMEDOUT)
			return true;
	}
	return false;
}

/*
 * Apply the host's latest compute state, between steps: the thread count
 * (a shrink has taken effect when gme_engine_set_threads() returns), and
 * whether to step at all.  Then tell the host, which may acknowledge the
 * partition change now.  Called locked; unlocks around the work.
 */
static void apply_compute_locked(struct gms_server *s)
{
	struct gms_compute c = s->posted;
	int n = c.n_threads, rc;

	s->applied_seq = s->posted_seq;
	pthread_mutex_unlock(&s->lock);
	if (n < 1)
		n = 1;
	if (n > s->res.max_threads)
		n = s->res.max_threads;
	rc = gme_engine_set_threads(s->eng, n);
	if (rc)
		fprintf(stderr,
			"gpumux-engine: cannot run %d compute threads (%s): running %d\n",
			n, strerror(-rc), gme_engine_threads(s->eng));
	if (s->opt->verbose)
		fprintf(stderr,
			"gpumux-engine: compute: %d threads, %d of %d CUs%s\n",
			gme_engine_threads(s->eng), c.cus, c.gpu_cus,
			c.fenced ? ", fenced" : "");
	if (s->host->applied)
		s->host->applied(s->host->ctx, &c);
	pthread_mutex_lock(&s->lock);
	s->shown = c;
	s->threads = gme_engine_threads(s->eng);
	s->paused = c.fenced || !c.cus;
	s->compute_changes++;
}

/*
 * While paused no step runs, so the step stats would go stale: count the
 * requests in the engine from their info instead.  Engine thread.
 */
static void paused_stats(struct gms_server *s)
{
	struct gme_request_info info;

	s->st.n_running = 0;
	s->st.n_waiting = 0;
	for (int i = 0; i < s->n_active; i++) {
		if (gme_engine_request_info(s->eng, s->active[i]->id, &info) ||
		    info.finish)
			continue;
		if (info.running)
			s->st.n_running++;
		else
			s->st.n_waiting++;
	}
	s->unfinished = s->st.n_running + s->st.n_waiting;
	gme_engine_kv_usage(s->eng, &s->st.kv_used, &s->st.kv_total);
	s->st.n_rows = 0;
	s->st.n_preempted = 0;
}

static void *engine_main(void *arg)
{
	struct gms_server *s = arg;
	double t_report = cm_now();
	uint64_t tokens = 0, tok_report = 0;
	struct gme_request_info info;
	bool paused;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		publish_locked(s);
		if (s->posted_seq != s->applied_seq)
			apply_compute_locked(s);
		if (idle_wait(s, t_report)) {
			/* idle, and a load report is due */
			pthread_mutex_unlock(&s->lock);
			s->t_step = cm_now();
			report_load(s, &t_report, &tok_report, tokens);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->stop)
			break;
		if (s->posted_seq != s->applied_seq)
			apply_compute_locked(s);
		paused = s->paused;
		take_locked(s);
		pthread_mutex_unlock(&s->lock);

		for (int i = 0; i < s->n_cancelled; i++) {
			struct slot *sl = s->cancelled[i];

			gme_engine_request_release(s->eng, sl->id);
			active_remove(s, sl);
		}
		for (int i = 0; i < s->n_fresh; i++) {
			struct slot *sl = s->fresh[i];

			sl->n_out = 0;
			sl->fin_out = GME_FINISH_NONE;
			sl->sub_err = gme_engine_submit(s->eng, sl->prompt,
							sl->n_prompt, &sl->sp,
							&sl->id);
			if (sl->sub_err)
				continue;
			s->active[s->n_active++] = sl;
			/* max_tokens 0: finished at submit, no step sees it */
			if (!gme_engine_request_info(s->eng, sl->id, &info) &&
			    info.finish) {
				sl->fin_out = info.finish;
				sl->touched = true;
				s->touched[s->n_touched++] = sl;
			}
		}
		s->step_tokens = 0;
		if (paused)
			paused_stats(s); /* no CUs: requests wait */
		else
			s->unfinished = gme_engine_step(s->eng, &s->st);
		s->t_step = cm_now();
		tokens += s->step_tokens;
		for (int i = 0; i < s->n_touched; i++) {
			struct slot *sl = s->touched[i];

			if (sl->fin_out) {
				gme_engine_request_release(s->eng, sl->id);
				active_remove(s, sl);
			}
		}
		report_load(s, &t_report, &tok_report, tokens);
		pthread_mutex_lock(&s->lock);
	}
	/* stop: abort whatever is left */
	s->t_step = cm_now();
	while (s->n_active) {
		struct slot *sl = s->active[0];

		gme_engine_request_release(s->eng, sl->id);
		active_remove(s, sl);
		sl->n_pub = sl->n_out;
		slot_done_locked(s, sl, -ESHUTDOWN, FIN_SHUTDOWN);
	}
	while (s->sub_n) {
		struct slot *sl = s->sub_ring[s->sub_head];

		s->sub_head = (s->sub_head + 1) % s->n_slots;
		s->sub_n--;
		slot_done_locked(s, sl, -ESHUTDOWN, FIN_SHUTDOWN);
	}
	s->can_n = 0;
	gme_engine_kv_usage(s->eng, &s->m.kv_used, &s->m.kv_total);
	s->m.running = s->m.waiting = 0;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- slots, HTTP side ------------------------------------------------- */

struct creq {
	int32_t *prompt; /* malloc'ed */
	int32_t n_prompt;
	struct gme_sampling_params sp;
	bool stream;
	bool include_usage; /* stream_options.include_usage */
	bool return_ids; /* return_token_ids (vLLM's extension) */
};

static struct slot *slot_claim(struct gms_server *s, const struct creq *q,
			       struct httpd_error *e)
{
	struct slot *sl;

	pthread_mutex_lock(&s->lock);
	if (s->draining) {
		pthread_mutex_unlock(&s->lock);
		httpd_fail(e, 503, NULL, "shutting_down",
			   "the server is shutting down");
		return NULL;
	}
	if (!s->n_free) {
		pthread_mutex_unlock(&s->lock);
		httpd_fail(
			e, 429, NULL, "queue_full",
			"the server is overloaded: %d requests in flight, try again later",
			s->n_slots);
		return NULL;
	}
	sl = &s->slots[s->free_stack[--s->n_free]];
	memcpy(sl->prompt, q->prompt, q->n_prompt * sizeof(*q->prompt));
	sl->n_prompt = q->n_prompt;
	sl->sp = q->sp;
	sl->t_queued = cm_now();
	sl->state = SLOT_QUEUED;
	sl->err = 0;
	sl->finish = GME_FINISH_NONE;
	sl->n_pub = 0;
	sl->cancel = false;
	sl->http_done = false;
	s->sub_ring[(s->sub_head + s->sub_n++) % s->n_slots] = sl;
	s->m.requests++;
	pthread_cond_signal(&s->engine_cv);
	pthread_mutex_unlock(&s->lock);
	return sl;
}

/* The HTTP side is done with sl: free it, or have the engine cancel it. */
static void slot_release(struct gms_server *s, struct slot *sl)
{
	pthread_mutex_lock(&s->lock);
	sl->http_done = true;
	if (sl->state == SLOT_DONE) {
		slot_free_locked(s, sl);
	} else if (!sl->cancel) {
		sl->cancel = true;
		if (sl->state == SLOT_ACTIVE)
			cancel_push_locked(s, sl);
	}
	pthread_mutex_unlock(&s->lock);
}

struct slot_view {
	int32_t n; /* tokens published */
	bool done;
	int err;
	enum gme_finish_reason finish;
};

/*
 * Wait until sl has more than n tokens published or the engine is done
 * with it.  -ECONNRESET when the client went away meanwhile.
 */
static int slot_wait(struct gms_server *s, struct slot *sl, int32_t n, int fd,
		     struct slot_view *v)
{
	struct timespec ts;

	/* the client is checked every WAIT_POLL_MS, wakeups or not */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&s->lock);
	while (sl->n_pub <= n && sl->state != SLOT_DONE) {
		ts.tv_nsec += WAIT_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (sl->n_pub <= n && sl->state != SLOT_DONE)
			if (pthread_cond_timedwait(&sl->cv, &s->lock, &ts) ==
			    ETIMEDOUT)
				break;
		if (sl->n_pub > n || sl->state == SLOT_DONE)
			break;
		pthread_mutex_unlock(&s->lock);
		if (cm_peer_gone(fd))
			return -ECONNRESET;
		pthread_mutex_lock(&s->lock);
	}
	v->n = sl->n_pub;
	v->done = sl->state == SLOT_DONE;
	v->err = sl->err;
	v->finish = sl->finish;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Wait until the engine thread has taken (and submitted) sl: 0, or the
 * -errno it failed with.  Not interrupted by the client leaving: this
 * takes one engine step.
 */
static int slot_wait_taken(struct gms_server *s, struct slot *sl)
{
	int err;

	pthread_mutex_lock(&s->lock);
	while (sl->state == SLOT_QUEUED || sl->state == SLOT_TAKEN)
		pthread_cond_wait(&sl->cv, &s->lock);
	err = sl->err;
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* ---- HTTP: /v1/completions -------------------------------------------- */

/* a field that is present and not null, else NULL */
static json_t *field(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static int parse_prompt(struct gms_server *s, json_t *p, struct creq *q,
			struct httpd_error *e)
{
	const int32_t seq_len = s->cfg->seq_len;
	size_t n;

	if (!p)
		return httpd_fail(e, 400, "prompt",
				  "missing_required_parameter",
				  "'prompt' is required");
	if (json_is_array(p) && json_array_size(p) == 1 &&
	    json_is_string(json_array_get(p, 0)))
		p = json_array_get(p, 0);
	if (json_is_string(p)) {
		const char *text = json_string_value(p);
		size_t len = json_string_length(p);
		int rc;

		if (strlen(text) != len)
			return httpd_fail(e, 400, "prompt", NULL,
					  "'prompt' must not contain NUL");
		/* every token covers at most max_piece bytes */
		if (len > (size_t)seq_len * s->max_piece)
			return httpd_fail(
				e, 400, "prompt", "context_length_exceeded",
				"This model's maximum context length is %d tokens; the prompt (%zu bytes) is longer",
				seq_len, len);
		q->prompt = malloc((len + 3) * sizeof(*q->prompt));
		if (!q->prompt)
			return httpd_fail(e, 503, NULL, NULL, "out of memory");
		rc = gme_tokenizer_encode(s->tok, text, true, false, q->prompt,
					  len + 3);
		if (rc < 0)
			return httpd_fail(e, 400, "prompt", NULL,
					  "cannot encode the prompt: %s",
					  strerror(-rc));
		q->n_prompt = rc;
	} else if (json_is_array(p)) {
		n = json_array_size(p);
		if (!n)
			return httpd_fail(e, 400, "prompt", NULL,
					  "'prompt' must not be empty");
		if (json_is_string(json_array_get(p, 0)))
			return httpd_fail(
				e, 400, "prompt", NULL,
				"only one prompt per request is supported");
		if (n >= (size_t)seq_len)
			return httpd_fail(
				e, 400, "prompt", "context_length_exceeded",
				"This model's maximum context length is %d tokens; the prompt is %zu tokens",
				seq_len, n);
		q->prompt = malloc(n * sizeof(*q->prompt));
		if (!q->prompt)
			return httpd_fail(e, 503, NULL, NULL, "out of memory");
		for (size_t i = 0; i < n; i++) {
			json_t *t = json_array_get(p, i);
			json_int_t v;

			if (!json_is_integer(t))
				return httpd_fail(
					e, 400, "prompt", NULL,
					"'prompt' must be a string or an array of token ids");
			v = json_integer_value(t);
			if (v < 0 || v >= s->cfg->vocab_size)
				return httpd_fail(
					e, 400, "prompt", NULL,
					"token id %" JSON_INTEGER_FORMAT
					" is outside the vocabulary (0..%d)",
					v, s->cfg->vocab_size - 1);
			q->prompt[i] = v;
		}
		q->n_prompt = n;
	} else {
		return httpd_fail(
			e, 400, "prompt", NULL,
			"'prompt' must be a string or an array of token ids");
	}
	if (q->n_prompt >= seq_len)
		return httpd_fail(
			e, 400, "prompt", "context_length_exceeded",
			"This model's maximum context length is %d tokens; the prompt is %d tokens",
			seq_len, q->n_prompt);
	return 0;
}

static int parse_bool(json_t *root, const char *key, bool *out,
		      struct httpd_error *e)
{
	json_t *v = field(root, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return httpd_fail(e, 400, key, NULL, "'%s' must be a boolean",
				  key);
	*out = json_is_true(v);
	return 0;
}

static int parse_number(json_t *root, const char *key, double lo, double hi,
			bool lo_open, float *out, struct httpd_error *e)
{
	json_t *v = field(root, key);
	double d;

	if (!v)
		return 0;
	if (!json_is_number(v))
		return httpd_fail(e, 400, key, NULL, "'%s' must be a number",
				  key);
	d = json_number_value(v);
	if (!(d >= lo && d <= hi) || (lo_open && d == lo))
		return httpd_fail(e, 400, key, NULL,
				  "'%s' must be in %c%g, %g]", key,
				  lo_open ? '(' : '[', lo, hi);
	*out = d;
	return 0;
}

static int parse_completion(struct gms_server *s, const struct cm_buf *body,
			    struct creq *q, struct httpd_error *e)
{
	json_error_t je;
	json_t *root, *v;
	int ret = -1;

	root = json_loadb(body->p ? body->p : "", body->len,
			  JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return httpd_fail(e, 400, NULL, "invalid_json",
				  "invalid JSON (line %d, column %d): %s",
				  je.line, je.column, je.text);
	if (!json_is_object(root)) {
		httpd_fail(e, 400, NULL, "invalid_json",
			   "the request body must be a JSON object");
		goto out;
	}
	v = field(root, "model");
	if (v && !json_is_string(v)) {
		httpd_fail(e, 400, "model", NULL, "'model' must be a string");
		goto out;
	}
	if (v && strcmp(json_string_value(v), s->model_id)) {
		httpd_fail(e, 404, "model", "model_not_found",
			   "The model does not exist; this server serves '%s'",
			   s->model_id);
		goto out;
	}
	v = field(root, "n");
	if (v && (!json_is_integer(v) || json_integer_value(v) != 1)) {
		httpd_fail(e, 400, "n", NULL, "only 'n': 1 is supported");
		goto out;
	}
	q->sp = gme_sampling_default_params();
	q->sp.temperature = 1.0f;
	q->sp.top_p = 1.0f;
	q->sp.max_new_tokens = DEFAULT_MAX_TOKENS;
	v = field(root, "max_tokens");
	if (v) {
		json_int_t n;

		if (!json_is_integer(v)) {
			httpd_fail(e, 400, "max_tokens", NULL,
				   "'max_tokens' must be an integer");
			goto out;
		}
		n = json_integer_value(v);
		if (n < 0) {
			httpd_fail(e, 400, "max_tokens", NULL,
				   "'max_tokens' must not be negative");
			goto out;
		}
		/* more than the context allows: generation ends at seq_len */
		q->sp.max_new_tokens = n > s->cfg->seq_len ? s->cfg->seq_len :
							     (int32_t)n;
	}
	if (parse_number(root, "temperature", 0, 2, false, &q->sp.temperature,
			 e) ||
	    parse_number(root, "top_p", 0, 1, true, &q->sp.top_p, e))
		goto out;
	v = field(root, "seed");
	if (v) {
		if (!json_is_integer(v)) {
			httpd_fail(e, 400, "seed", NULL,
				   "'seed' must be an integer");
			goto out;
		}
		q->sp.seed = (uint64_t)json_integer_value(v);
	} else {
		pthread_mutex_lock(&s->lock);
		q->sp.seed =
			cm_mix64(s->salt ^ (s->counter * 0x2545f4914f6cdd1d) ^
				 (uint64_t)(cm_now() * 1e9)) |
			1;
		pthread_mutex_unlock(&s->lock);
	}
	if (parse_bool(root, "stream", &q->stream, e) ||
	    parse_bool(root, "return_token_ids", &q->return_ids, e))
		goto out;
	v = field(root, "stream_options");
	if (v) {
		if (!json_is_object(v)) {
			httpd_fail(e, 400, "stream_options", NULL,
				   "'stream_options' must be an object");
			goto out;
		}
		if (parse_bool(v, "include_usage", &q->include_usage, e))
			goto out;
	}
	ret = parse_prompt(s, field(root, "prompt"), q, e);
out:
	json_decref(root);
	return ret;
}

static const char *finish_name(enum gme_finish_reason f)
{
	return f == GME_FINISH_STOP ? "stop" : "length";
}

static void request_id(struct gms_server *s, char *id, size_t len)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = ++s->counter;
	pthread_mutex_unlock(&s->lock);
	snprintf(id, len, "cmpl-%016" PRIx64, cm_mix64(s->salt + n));
}

static json_t *usage_json(int32_t n_prompt, int32_t n_gen)
{
	return json_pack("{s:i,s:i,s:i}", "prompt_tokens", (int)n_prompt,
			 "completion_tokens", (int)n_gen, "total_tokens",
			 (int)(n_prompt + n_gen));
}

static json_t *ids_json(const int32_t *ids, int32_t n)
{
	json_t *a = json_array();

	for (int32_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_integer(ids[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/*
 * One completion object: choices is one choice with text, or none when
 * text is NULL (the usage-only stream chunk).  extra (token ids) is
 * merged into the choice; usage may be NULL.  Both are taken.
 */
static json_t *completion_json(struct gms_server *s, const char *id,
			       time_t created, const struct cm_buf *text,
			       const char *finish, json_t *extra, json_t *usage)
{
	json_t *j, *choices, *choice = NULL;

	choices = json_array();
	if (text) {
		choice = json_pack("{s:s%,s:i,s:n,s:s?}", "text",
				   text->p ? text->p : "", text->len, "index",
				   0, "logprobs", "finish_reason", finish);
		if (choice && extra && json_object_update(choice, extra)) {
			json_decref(choice);
			choice = NULL;
		}
		if (!choice || json_array_append_new(choices, choice)) {
			json_decref(choices);
			choices = NULL;
		}
	}
	json_decref(extra);
	j = json_pack("{s:s,s:s,s:I,s:s,s:o*}", "id", id, "object",
		      "text_completion", "created", (json_int_t)created,
		      "model", s->model_id, "choices", choices);
	if (j && usage && json_object_set_new(j, "usage", usage)) {
		json_decref(j);
		return NULL;
	}
	if (!j)
		json_decref(usage);
	return j;
}

/* the text of tokens[from, to) after token prev */
static int tokens_text(struct gms_server *s, const int32_t *tokens,
		       int32_t from, int32_t to, int32_t *prev,
		       struct cm_buf *raw)
{
	for (int32_t i = from; i < to; i++) {
		if (add_piece(raw,
			      gme_tokenizer_decode(s->tok, *prev, tokens[i])))
			return -ENOMEM;
		*prev = tokens[i];
	}
	return 0;
}

/* ---- streaming (server-sent events) ----------------------------------- */

struct stream {
	struct gms_server *s;
	struct slot *sl;
	int fd; /* the client's socket, to see it leave */
	int32_t n_done; /* tokens turned into text */
	int32_t prev; /* the last of them */
	bool include_usage, return_ids, finished;
	time_t created;
	char id[40];
	struct cm_buf raw; /* token bytes not yet valid UTF-8 */
	struct cm_buf out; /* events not yet handed to libmicrohttpd */
	size_t out_off;
};

static int sse_event(struct cm_buf *out, json_t *j)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int ret = -ENOMEM;

	json_decref(j);
	if (txt)
		ret = cm_buf_printf(out, "data: %s\n\n", txt);
	free(txt);
	return ret;
}

/* Wait for tokens and format the next events into st->out. */
static int stream_fill(struct stream *st)
{
	struct gms_server *s = st->s;
	struct slot *sl = st->sl;
	struct cm_buf text = { 0 };
	struct slot_view v;
	json_t *extra = NULL;
	int ret = -ENOMEM;

	for (;;) {
		if (cm_peer_gone(st->fd) ||
		    slot_wait(s, sl, st->n_done, st->fd, &v))
			return -ECONNRESET;
		if (v.err) {
			struct httpd_error e;

			httpd_fail(&e, 503, NULL, "shutting_down",
				   "the server is shutting down");
			if (sse_event(&st->out, httpd_error_json(&e)) ||
			    cm_buf_str(&st->out, "data: [DONE]\n\n"))
				return -ENOMEM;
			st->finished = true;
			return 0;
		}
		if (tokens_text(s, sl->tokens, st->n_done, v.n, &st->prev,
				&st->raw) ||
		    utf8_drain(&st->raw, &text, v.done))
			goto out;
		if (st->return_ids) {
			extra = json_pack("{s:o*}", "token_ids",
					  ids_json(sl->tokens + st->n_done,
						   v.n - st->n_done));
			if (!extra)
				goto out;
		}
		st->n_done = v.n;
		if (text.len || v.done || extra)
			break;
	}
	if (sse_event(&st->out,
		      completion_json(s, st->id, st->created, &text,
				      v.done ? finish_name(v.finish) : NULL,
				      extra, NULL)))
		goto out;
	if (v.done) {
		if (st->include_usage &&
		    sse_event(&st->out,
			      completion_json(s, st->id, st->created, NULL,
					      NULL, NULL,
					      usage_json(sl->n_prompt, v.n))))
			goto out;
		if (cm_buf_str(&st->out, "data: [DONE]\n\n"))
			goto out;
		st->finished = true;
	}
	ret = 0;
out:
	cm_buf_free(&text);
	return ret;
}

/* MHD_ContentReaderCallback: runs in the connection's thread */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t n;

	(void)pos;
	if (st->out_off == st->out.len) {
		if (st->finished)
			return MHD_CONTENT_READER_END_OF_STREAM;
		st->out.len = st->out_off = 0;
		/* an error ends the response: the connection is closed */
		if (stream_fill(st))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = st->out.len - st->out_off;
	if (n > max)
		n = max;
	memcpy(buf, st->out.p + st->out_off, n);
	st->out_off += n;
	return n;
}

/* MHD_ContentReaderFreeCallback: the response is gone, done or not */
static void stream_free(void *cls)
{
	struct stream *st = cls;

	slot_release(st->s, st->sl);
	cm_buf_free(&st->raw);
	cm_buf_free(&st->out);
	free(st);
}

static enum MHD_Result start_stream(struct gms_server *s,
				    struct MHD_Connection *c,
				    struct httpd_conn *cn, struct slot *sl,
				    const struct creq *q, const char *id,
				    time_t created, int fd)
{
	struct MHD_Response *r;
	struct stream *st;

	st = calloc(1, sizeof(*st));
	if (!st) {
		slot_release(s, sl);
		return MHD_NO;
	}
	st->s = s;
	st->sl = sl;
	st->fd = fd;
	st->prev = q->prompt[q->n_prompt - 1];
	st->include_usage = q->include_usage;
	st->return_ids = q->return_ids;
	st->created = created;
	snprintf(st->id, sizeof(st->id), "%s", id);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
					      stream_read, st, stream_free);
	if (!r) {
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	/* stream_free runs when it is sent */
	return httpd_queue(c, cn, MHD_HTTP_OK, r);
}

static enum MHD_Result do_completion(void *ctx, struct MHD_Connection *c,
				     struct httpd_conn *cn)
{
	struct gms_server *s = ctx;
	const union MHD_ConnectionInfo *ci;
	struct creq q = { 0 };
	struct httpd_error e = { 0 };
	struct cm_buf raw = { 0 }, text = { 0 };
	struct slot_view v;
	enum MHD_Result ret;
	json_t *extra = NULL;
	struct slot *sl;
	char id[40];
	time_t created = time(NULL);
	int32_t prev;
	int fd;

	if (parse_completion(s, &cn->body, &q, &e)) {
		free(q.prompt);
		return httpd_reply_herr(c, cn, &e);
	}
	sl = slot_claim(s, &q, &e);
	if (!sl) {
		free(q.prompt);
		return httpd_reply_herr(c, cn, &e);
	}
	v.err = slot_wait_taken(s, sl);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	fd = ci ? ci->connect_fd : -1;
	request_id(s, id, sizeof(id));
	if (!v.err && q.stream) {
		ret = start_stream(s, c, cn, sl, &q, id, created, fd);
		free(q.prompt);
		return ret;
	}
	if (!v.err && slot_wait(s, sl, INT32_MAX, fd, &v)) {
		/* the client left: cancel, and close the connection */
		slot_release(s, sl);
		free(q.prompt);
		return MHD_NO;
	}
	if (v.err) {
		slot_release(s, sl);
		free(q.prompt);
		switch (v.err) {
		case -E2BIG:
			httpd_fail(&e, 400, "prompt", "context_length_exceeded",
				   "the prompt leaves no room in the context");
			break;
		case -ENOSPC:
			httpd_fail(
				&e, 400, "max_tokens", NULL,
				"the request can never fit in the KV cache; lower max_tokens");
			break;
		case -EINVAL:
			httpd_fail(&e, 400, NULL, NULL, "invalid request");
			break;
		case -ESHUTDOWN:
			httpd_fail(&e, 503, NULL, "shutting_down",
				   "the server is shutting down");
			break;
		default:
			httpd_fail(&e, 503, NULL, NULL,
				   "cannot run the request: %s",
				   strerror(-v.err));
		}
		return httpd_reply_herr(c, cn, &e);
	}
	prev = q.prompt[q.n_prompt - 1];
	ret = MHD_NO;
	if (tokens_text(s, sl->tokens, 0, v.n, &prev, &raw) ||
	    utf8_drain(&raw, &text, true))
		goto out;
	if (q.return_ids) {
		extra = json_pack("{s:o*,s:o*}", "prompt_token_ids",
				  ids_json(q.prompt, q.n_prompt), "token_ids",
				  ids_json(sl->tokens, v.n));
		if (!extra)
			goto out;
	}
	ret = httpd_reply_json(c, cn, MHD_HTTP_OK,
			       completion_json(s, id, created, &text,
					       finish_name(v.finish), extra,
					       usage_json(q.n_prompt, v.n)),
			       NULL);
out:
	slot_release(s, sl);
	cm_buf_free(&raw);
	cm_buf_free(&text);
	free(q.prompt);
	return ret;
}

/* ---- HTTP: the other endpoints ---------------------------------------- */

static enum MHD_Result do_models(void *ctx, struct MHD_Connection *c,
				 struct httpd_conn *cn)
{
	struct gms_server *s = ctx;
	return httpd_reply_json(
		c, cn, MHD_HTTP_OK,
		json_pack("{s:s,s:[{s:s,s:s,s:I,s:s,s:i}]}", "object", "list",
			  "data", "id", s->model_id, "object", "model",
			  "created", (json_int_t)s->started, "owned_by",
			  "gpumux", "max_model_len", (int)s->cfg->seq_len),
		NULL);
}

/*
 * 200 {"status": "ok"} standalone.  Attached, also "ok" when stepping,
 * "fenced" or "no_cus" while requests wait for CUs (still 200: the server
 * is up and queues), with the compute state; 503 "draining" at exit.
 */
static enum MHD_Result do_health(void *ctx, struct MHD_Connection *c,
				 struct httpd_conn *cn)
{
	struct gms_server *s = ctx;
	struct gms_compute sh;
	bool draining, attached;
	const char *status;
	int threads;

	pthread_mutex_lock(&s->lock);
	draining = s->draining;
	attached = s->attached;
	sh = s->shown;
	threads = s->threads;
	pthread_mutex_unlock(&s->lock);
	status = draining  ? "draining" :
		 sh.fenced ? "fenced" :
		 !sh.cus   ? "no_cus" :
			     "ok";
	if (!attached)
		return httpd_reply_json(c, cn, draining ? 503 : 200,
					json_pack("{s:s}", "status", status),
					NULL);
	return httpd_reply_json(
		c, cn, draining ? 503 : 200,
		json_pack("{s:s,s:i,s:b,s:i,s:i}", "status", status,
			  "compute_threads", threads, "fenced", (int)sh.fenced,
			  "cus", (int)sh.cus, "gpu_cus", (int)sh.gpu_cus),
		NULL);
}

#define PREFIX "gpumux_engine_"
#define METRIC(b, name, type, help, fmt, val) \
	httpd_metric_value(b, PREFIX, name, type, help, fmt, val)

static enum MHD_Result do_metrics(void *ctx, struct MHD_Connection *c,
				  struct httpd_conn *cn)
{
	struct gms_server *s = ctx;
	struct metrics m;
	struct cm_buf b = { 0 };
	struct gms_compute sh;
	int in_use, threads, err = 0;
	uint64_t changes;
	bool paused;

	pthread_mutex_lock(&s->lock);
	m = s->m;
	in_use = s->n_slots - s->n_free;
	sh = s->shown;
	threads = s->threads;
	paused = s->paused;
	changes = s->compute_changes;
	pthread_mutex_unlock(&s->lock);

	err |= METRIC(&b, "requests_total", "counter",
		      "Completion requests accepted into the queue.",
		      "%" PRIu64, m.requests);
	err |= httpd_metric(
		&b, PREFIX, "requests_finished_total", "counter",
		"Completion requests that left the engine, by reason.");
	for (int i = 0; i < N_FIN; i++)
		err |= cm_buf_printf(
			&b,
			"gpumux_engine_requests_finished_total{reason=\"%s\"} %" PRIu64
			"\n",
			fin_names[i], m.finished[i]);
	err |= httpd_metric_http(&b, PREFIX, &s->hd);
	err |= METRIC(&b, "prompt_tokens_total", "counter",
		      "Prompt tokens of requests admitted to the engine.",
		      "%" PRIu64, m.prompt_tokens);
	err |= METRIC(&b, "generation_tokens_total", "counter",
		      "Tokens generated (stop tokens excluded).", "%" PRIu64,
		      m.gen_tokens);
	err |= METRIC(&b, "steps_total", "counter",
		      "Engine iterations that computed tokens.", "%" PRIu64,
		      m.steps);
	err |= METRIC(
		&b, "step_rows_total", "counter",
		"Tokens computed by the forward pass (prefill and decode).",
		"%" PRIu64, m.step_rows);
	err |= METRIC(&b, "preemptions_total", "counter",
		      "Requests preempted (by recompute) when KV ran out.",
		      "%" PRIu64, m.preemptions);
	err |= METRIC(&b, "requests_running", "gauge",
		      "Requests in the batch (holding KV blocks).", "%d",
		      (int)m.running);
	err |= METRIC(&b, "requests_waiting", "gauge",
		      "Requests waiting for admission.", "%d", (int)m.waiting);
	err |= METRIC(
		&b, "slots_in_use", "gauge",
		"Requests in flight in the server (queued, running, or being sent).",
		"%d", in_use);
	err |= METRIC(&b, "slots_total", "gauge",
		      "Requests the server holds before answering 429.", "%d",
		      s->n_slots);
	err |= METRIC(&b, "kv_blocks_used", "gauge", "KV cache blocks in use.",
		      "%d", (int)m.kv_used);
	err |= METRIC(&b, "kv_blocks_total", "gauge", "KV cache blocks.", "%d",
		      (int)m.kv_total);
	err |= METRIC(&b, "kv_block_tokens", "gauge",
		      "Token positions per KV block.", "%d",
		      (int)s->block_size);
	err |= METRIC(&b, "kv_bytes_per_token", "gauge",
		      "KV cache bytes per token position.", "%zu",
		      s->kv_block_bytes / s->block_size);
	err |= METRIC(&b, "kv_pool_bytes", "gauge",
		      "Bytes of the KV cache pool (pinned when attached).",
		      "%zu",
		      s->res.kv_pool ? s->res.kv_pool_size :
				       (size_t)m.kv_total * s->kv_block_bytes);
	err |= METRIC(&b, "compute_threads", "gauge",
		      "Threads computing the forward pass.", "%d", threads);
	err |= METRIC(&b, "paused", "gauge",
		      "1 while the engine does not step for want of CUs.", "%d",
		      (int)paused);
	err |= METRIC(&b, "fenced", "gauge",
		      "1 while the gpumux tenant is fenced.", "%d",
		      (int)sh.fenced);
	err |= METRIC(&b, "partition_cus", "gauge",
		      "CUs the gpumux tenant may use (-1: not attached).", "%d",
		      (int)sh.cus);
	err |= METRIC(&b, "gpu_cus", "gauge",
		      "CUs of the tenant's GPU (-1: not attached or unknown).",
		      "%d", (int)sh.gpu_cus);
	err |= METRIC(&b, "compute_changes_total", "counter",
		      "Partition changes the engine applied.", "%" PRIu64,
		      changes);
	err |= httpd_metric_histo(&b, PREFIX, "time_to_first_token_seconds",
				  "From queueing to the first generated token.",
				  &m.ttft);
	err |= httpd_metric_histo(&b, PREFIX, "request_duration_seconds",
				  "From queueing to leaving the engine.",
				  &m.e2e);
	err |= METRIC(&b, "start_time_seconds", "gauge",
		      "Unix time the server started.", "%lld",
		      (long long)s->started);
	if (err) {
		cm_buf_free(&b);
		return MHD_NO;
	}
	return httpd_reply(c, cn, MHD_HTTP_OK,
			   "text/plain; version=0.0.4; charset=utf-8", b.p,
			   b.len, NULL);
}

static const struct httpd_route routes[] = {
	{ "/v1/completions", true, do_completion },
	{ "/v1/models", false, do_models },
	{ "/health", false, do_health },
	{ "/metrics", false, do_metrics },
};

/* ---- the host: standalone --------------------------------------------- */

static int standalone_acquire(void *ctx, size_t kv_bytes,
			      struct gms_resources *res, char *err,
			      size_t errlen)
{
	(void)ctx;
	(void)kv_bytes;
	(void)err;
	(void)errlen;
	res->kv_pool = NULL; /* the engine mallocs it */
	res->kv_pool_size = 0;
	return 0;
}

const struct gms_host_ops gms_host_standalone = {
	.name = "standalone",
	.acquire = standalone_acquire,
};

/* ---- setup and teardown ----------------------------------------------- */

struct gms_options gms_default_options(void)
{
	return (struct gms_options){
		.listen = "127.0.0.1:8000",
		.max_seqs = 64,
		.max_waiting = 256,
		.max_batch_tokens = 256,
		.block_size = 16,
		.max_body = 1 << 20,
		.drain_timeout = 10.0,
	};
}

static void srv_free(struct gms_server *s)
{
	if (s->slots) {
		for (int i = 0; i < s->n_slots; i++) {
			free(s->slots[i].prompt);
			free(s->slots[i].tokens);
			pthread_cond_destroy(&s->slots[i].cv);
		}
	}
	free(s->slots);
	free(s->free_stack);
	free(s->sub_ring);
	free(s->can_ring);
	free(s->active);
	free(s->fresh);
	free(s->cancelled);
	free(s->touched);
	gme_engine_free(s->eng);
	if (s->host && s->host->release)
		s->host->release(s->host->ctx, &s->res);
	gme_tokenizer_free(s->tok);
	gme_model_free(s->model);
	pthread_cond_destroy(&s->engine_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->lock);
}

static int srv_init_slots(struct gms_server *s)
{
	int32_t seq_len = s->cfg->seq_len;
	pthread_condattr_t ca;
	int n = s->n_slots;

	s->slots = calloc(n, sizeof(*s->slots));
	s->free_stack = calloc(n, sizeof(*s->free_stack));
	s->sub_ring = calloc(n, sizeof(*s->sub_ring));
	s->can_ring = calloc(n, sizeof(*s->can_ring));
	s->active = calloc(n, sizeof(*s->active));
	s->fresh = calloc(n, sizeof(*s->fresh));
	s->cancelled = calloc(n, sizeof(*s->cancelled));
	s->touched = calloc(n, sizeof(*s->touched));
	if (!s->slots || !s->free_stack || !s->sub_ring || !s->can_ring ||
	    !s->active || !s->fresh || !s->cancelled || !s->touched) {
		s->n_slots = 0;
		return -ENOMEM;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (int i = 0; i < n; i++) {
		struct slot *sl = &s->slots[i];

		pthread_cond_init(&sl->cv, &ca);
		sl->prompt = calloc(seq_len, sizeof(*sl->prompt));
		sl->tokens = calloc(seq_len, sizeof(*sl->tokens));
		s->free_stack[s->n_free++] = n - 1 - i;
		if (!sl->prompt || !sl->tokens) {
			pthread_condattr_destroy(&ca);
			return -ENOMEM;
		}
	}
	pthread_condattr_destroy(&ca);
	return 0;
}

/* model id: the checkpoint's file name without .bin */
static void set_model_id(struct gms_server *s, const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".bin"))
		n -= 4;
	if (n >= sizeof(s->model_id))
		n = sizeof(s->model_id) - 1;
	memcpy(s->model_id, base, n);
	s->model_id[n] = '\0';
}

/* model, tokenizer, host resources, engine, slots */
static int srv_setup(struct gms_server *s)
{
	const struct gms_options *o = s->opt;
	struct gme_engine_params ep = gme_engine_default_params();
	int32_t per_seq;
	int64_t n_blocks;
	char err[512];
	int rc;

	rc = gme_model_load(o->model_path, &s->model, err, sizeof(err));
	if (!rc) {
		s->cfg = gme_model_config(s->model);
		rc = gme_tokenizer_load(o->tokenizer_path, s->cfg->vocab_size,
					&s->tok, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		return -1;
	}
	set_model_id(s, o->model_path);
	for (int32_t i = 0; i < s->cfg->vocab_size; i++) {
		const char *p = gme_tokenizer_decode(s->tok, 0, i);
		size_t n = p ? strlen(p) : 0;

		if (n > s->max_piece)
			s->max_piece = n;
	}
	if (!s->max_piece)
		s->max_piece = 1;
	if (o->block_size <= 0 || o->block_size > s->cfg->seq_len) {
		fprintf(stderr,
			"gpumux-engine: --block-size must be in 1..%d (seq_len)\n",
			s->cfg->seq_len);
		return -1;
	}
	s->block_size = o->block_size;
	s->kv_block_bytes = gme_kv_block_bytes(s->model, o->block_size);
	per_seq = (s->cfg->seq_len + o->block_size - 1) / o->block_size;
	n_blocks = o->kv_blocks;
	if (!n_blocks) {
		/* max_seqs full sequences, at most DEFAULT_KV_CAP bytes */
		int64_t cap = DEFAULT_KV_CAP / s->kv_block_bytes;

		n_blocks = (int64_t)o->max_seqs * per_seq;
		if (n_blocks > cap)
			n_blocks = cap > per_seq ? cap : per_seq;
	}
	s->res.n_threads = o->n_threads;
	s->res.kv_block_bytes = s->kv_block_bytes;
	s->res.kv_min_bytes = (size_t)per_seq * s->kv_block_bytes;
	rc = s->host->acquire(s->host->ctx, n_blocks * s->kv_block_bytes,
			      &s->res, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gpumux-engine: %s: %s\n", s->host->name, err);
		s->host = NULL; /* nothing to release */
		return -1;
	}
	ep.n_threads = s->res.n_threads;
	ep.max_threads = s->res.max_threads;
	ep.block_size = o->block_size;
	ep.kv_pool = s->res.kv_pool;
	ep.kv_pool_size = s->res.kv_pool_size;
	ep.n_blocks = s->res.kv_pool ? 0 : n_blocks;
	ep.max_batch_tokens = o->max_batch_tokens;
	ep.max_seqs = o->max_seqs;
	ep.on_token = on_token;
	ep.user = s;
	rc = gme_engine_create(s->model, &ep, &s->eng, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		return -1;
	}
	s->threads = gme_engine_threads(s->eng);
	if (s->res.max_threads < s->threads)
		s->res.max_threads = s->threads;
	s->shown = (struct gms_compute){
		.n_threads = s->threads,
		.cus = -1,
		.gpu_cus = -1,
	};
	gme_engine_kv_usage(s->eng, &s->st.kv_used, &s->st.kv_total);
	s->m.kv_used = s->st.kv_used;
	s->m.kv_total = s->st.kv_total;
	s->n_slots = o->max_seqs + o->max_waiting;
	if (srv_init_slots(s)) {
		fprintf(stderr, "gpumux-engine: out of memory\n");
		return -1;
	}
	return 0;
}

/* Wait for in-flight requests to finish, at most timeout s (or a signal). */
static void drain(struct gms_server *s, const sigset_t *sigs, double timeout)
{
	const struct timespec zero = { 0 };
	double end = cm_now() + timeout;
	struct timespec ts;

	pthread_mutex_lock(&s->lock);
	while (s->n_free < s->n_slots && cm_now() < end) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->idle_cv, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
		if (sigtimedwait(sigs, NULL, &zero) > 0) {
			fprintf(stderr,
				"gpumux-engine: second signal: cancelling\n");
			pthread_mutex_lock(&s->lock);
			break;
		}
		pthread_mutex_lock(&s->lock);
	}
	if (s->n_free < s->n_slots)
		fprintf(stderr, "gpumux-engine: cancelling %d requests\n",
			s->n_slots - s->n_free);
	pthread_mutex_unlock(&s->lock);
}

int gms_serve(const struct gms_options *opt)
{
	struct gms_server s = { .opt = opt };
	pthread_condattr_t ca;
	sigset_t sigs;
	char err[512];
	int ret = 1;
	int32_t kv_total;

	s.host = opt->host ? opt->host : &gms_host_standalone;
	s.started = time(NULL);
	s.salt = cm_salt(s.started);
	pthread_mutex_init(&s.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.engine_cv, &ca);
	pthread_cond_init(&s.idle_cv, &ca);
	pthread_condattr_destroy(&ca);
	s.m.ttft = (struct cm_histo){ .le = ttft_le, .n_le = HISTO_BUCKETS };
	s.m.e2e = (struct cm_histo){ .le = e2e_le, .n_le = HISTO_BUCKETS };
	s.hd = (struct httpd){
		.name = "gpumux-engine",
		.routes = routes,
		.n_routes = sizeof(routes) / sizeof(routes[0]),
		.max_body = opt->max_body,
		.verbose = opt->verbose,
		.ctx = &s,
		.codes = http_codes,
		.n_codes = N_HTTP_CODES,
	};
	httpd_init(&s.hd);

	/* before any thread exists (the engine's pool too): they inherit it */
	httpd_block_signals(&sigs);

	if (srv_setup(&s))
		goto out;
	if (httpd_listen(&s.hd, opt->listen, 128, true, err, sizeof(err))) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		goto out;
	}
	kv_total = s.m.kv_total;
	if (s.host->start) {
		if (s.host->start(s.host->ctx, &s, err, sizeof(err))) {
			fprintf(stderr, "gpumux-engine: %s: %s\n", s.host->name,
				err);
			goto out;
		}
		s.host_started = true;
	}
	if (pthread_create(&s.engine_thread, NULL, engine_main, &s)) {
		fprintf(stderr, "gpumux-engine: cannot start a thread\n");
		goto out;
	}
	s.engine_started = true;
	if (httpd_start(&s.hd,
			(unsigned int)(opt->max_connections ?
					       opt->max_connections :
					       s.n_slots + 32),
			CONNECTION_TIMEOUT_S))
		goto out;
	printf("gpumux-engine: serving %s on %s (%d slots, %d KV blocks of %d tokens, %s)\n",
	       s.model_id, s.hd.desc, s.n_slots, kv_total, s.block_size,
	       s.host->name);
	fflush(stdout);

	httpd_wait_signal(&s.hd, &sigs);
	pthread_mutex_lock(&s.lock);
	s.draining = true;
	pthread_mutex_unlock(&s.lock);
	MHD_quiesce_daemon(s.hd.mhd);
	drain(&s, &sigs, opt->drain_timeout);
	ret = 0;
out:
	if (s.engine_started) {
		pthread_mutex_lock(&s.lock);
		s.draining = true;
		s.stop = true;
		pthread_cond_signal(&s.engine_cv);
		pthread_mutex_unlock(&s.lock);
		pthread_join(s.engine_thread, NULL);
	}
	if (s.host_started && s.host->stop)
		s.host->stop(s.host->ctx);
	httpd_fini(&s.hd);
	srv_free(&s);
	return ret;
}
