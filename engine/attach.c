// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-engine serve --attach: the engine as a gpumux tenant.
 *
 * The lease.  With $GPUMUX_LEASE_FD set (`gpumuxctl attach` started us)
 * the engine adopts that lease; otherwise it attaches over D-Bus with the
 * --attach options.  The KV pool is one pinned buffer of the tenant, sized
 * to the pinned quota when that is smaller than what was asked.
 *
 * Threads.  The engine thread never waits for the daemon.  A lease thread
 * of our own polls the lease fd (partition changes, fences) and an eventfd
 * (load reports, stop), and makes every D-Bus call (ReportLoad, property
 * reads), so a slow or restarting daemon delays nothing but reports.  On a
 * partition change it reads the partition, turns the CUs it may use into a
 * thread count and posts it to the server; the engine thread applies it
 * between two steps (joining the workers a shrink removes) and calls
 * applied(), which acknowledges the change with an ioctl on the lease:
 * the ack says exactly what it should, the engine no longer computes with
 * more than its new share.
 *
 * The thread rule: threads = max(1, round(cpus * usable / gpu_cus)), where
 * usable = |active & target| (during a shrink the revoked CUs are already
 * not counted; during a growth the CUs not free yet are not), gpu_cus is
 * the GPU's ComputeUnits property (when unreadable, the most CUs this
 * tenant ever saw) and cpus is --threads or the CPUs we may run on.  No
 * CUs, or fenced: the engine does not step; requests wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gpumux/client.h>
#include <systemd/sd-bus.h>

#include "attach.h"
#include "bus-api.h"

#define CALL_TIMEOUT_USEC (5 * 1000000ull) /* Attach, Detach, properties */
#define REPORT_TIMEOUT_USEC (2 * 1000000ull) /* ReportLoad */
#define MAX_PARTS 8

struct gma {
	struct gms_host_ops ops;
	struct gma_options o;
	char desc[160]; /* ops.name */
	struct gpumux_tenant *t;
	bool adopted;
	const char *path; /* the tenant's object path */
	struct gpumux_buffer *kv;
	sd_bus *bus; /* property reads: acquire(), then the lease thread */
	int cpus;

	/* lease thread only */
	struct gms_server *srv;
	uint32_t gpu_id; /* of gpu_cus */
	int32_t gpu_cus; /* -1: unknown */
	int32_t max_seen; /* most CUs held or promised so far */
	bool dirty; /* the partition may have changed */
	bool lease_gone; /* POLLHUP/POLLERR on the lease */
	bool report_failing; /* logged once until it works again */
	pthread_t thread;
	bool thread_started;
	int wake_fd; /* eventfd: a report is pending, or stop */

	pthread_mutex_t lock; /* the fields below */
	bool fenced;
	bool stop;
	bool load_pending;
	struct gms_load load;
	uint32_t ack_gpu; /* the change applied() acknowledges */
	uint64_t ack_generation;
	bool ack_wanted;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logf_(const char *fmt, ...)
{
	va_list ap;

	fputs("gpumux-engine: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- D-Bus property reads (our own connection) ------------------------ */

static sd_bus *bus_open(void)
{
	const char *address = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	sd_bus *bus = NULL;

	if (!address || !*address)
		address = "unix:path=/run/dbus/system_bus_socket";
	if (sd_bus_new(&bus) < 0)
		return NULL;
	if (sd_bus_set_address(bus, address) < 0 ||
	    sd_bus_set_bus_client(bus, 1) < 0 ||
	    sd_bus_set_method_call_timeout(bus, CALL_TIMEOUT_USEC) < 0 ||
	    sd_bus_start(bus) < 0)
		return sd_bus_unref(bus);
	return bus;
}

/* a 'u', 't' or 'b' property of object path; 0 or -errno */
static int get_prop(struct gma *g, const char *path, const char *iface,
		    const char *member, char type, void *out)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	if (!g->bus)
		g->bus = bus_open();
	if (!g->bus)
		return -ENOTCONN;
	r = sd_bus_get_property_trivial(g->bus, GM_BUS_NAME, path, iface,
					member, &e, type, out);
	sd_bus_error_free(&e);
	if (r == -ENOTCONN || r == -ECONNRESET)
		g->bus = sd_bus_flush_close_unref(g->bus); /* reopen next */
	return r < 0 ? r : 0;
}

static int32_t read_gpu_cus(struct gma *g, uint32_t gpu_id)
{
	char path[128];
	uint32_t cus;

	snprintf(path, sizeof(path), GM_BUS_GPU_PREFIX "/%" PRIu32, gpu_id);
	if (get_prop(g, path, GM_BUS_IFACE_GPU, "ComputeUnits", 'u', &cus) ||
	    !cus || cus > GPUMUX_CU_MAX)
		return -1;
	return cus;
}

/* ---- the partition ---------------------------------------------------- */

static void on_event(struct gpumux_tenant *t,
		     const struct gpumux_tenant_event *ev, void *data)
{
	struct gma *g = data;

	(void)t;
	switch (ev->type) {
	case GPUMUX_TENANT_EVENT_FENCED:
		pthread_mutex_lock(&g->lock);
		g->fenced = ev->arg != 0;
		pthread_mutex_unlock(&g->lock);
		if (g->o.verbose)
			logf_("tenant %s", ev->arg ? "fenced" : "unfenced");
		g->dirty = true;
		break;
	case GPUMUX_TENANT_EVENT_PARTITION_CHANGED:
	case GPUMUX_TENANT_EVENT_OVERFLOW:
		g->dirty = true;
		break;
	default:
		break;
	}
}

static int count_and(const uint64_t *a, const uint64_t *b)
{
	int n = 0;

	for (int i = 0; i < GPUMUX_CU_MASK_WORDS; i++)
		n += __builtin_popcountll(a[i] & b[i]);
	return n;
}

/*
 * Read the partition and compute what the engine should run with; note
 * the generation to acknowledge.  Fills c; false when the lease cannot
 * be read.  Lease thread (and acquire()).
 */
static bool read_compute(struct gma *g, struct gms_compute *c)
{
	struct gpumux_partition parts[MAX_PARTS];
	const struct gpumux_partition *p = NULL;
	size_t n = 0;
	int32_t total;
	int r;

	r = gpumux_tenant_partitions(g->t, parts, MAX_PARTS, &n);
	if (r < 0 && r != -ENOBUFS) {
		logf_("cannot read the partition: %s", strerror(-r));
		return false;
	}
	if (n > MAX_PARTS)
		n = MAX_PARTS;
	/* one GPU per tenant: the one it holds (or is promised) CUs on */
	for (size_t i = 0; i < n && !p; i++)
		if (gpumux_mask_count(parts[i].active) ||
		    gpumux_mask_count(parts[i].target))
			p = &parts[i];
	*c = (struct gms_compute){ .cus = 0, .gpu_cus = g->gpu_cus };
	if (p) {
		int a = gpumux_mask_count(p->active);
		int tg = gpumux_mask_count(p->target);

		c->cus = count_and(p->active, p->target);
		c->generation = p->generation;
		if (a > g->max_seen)
			g->max_seen = a;
		if (tg > g->max_seen)
			g->max_seen = tg;
		if (g->gpu_cus < 0 || g->gpu_id != p->gpu_id) {
			g->gpu_id = p->gpu_id;
			g->gpu_cus = read_gpu_cus(g, p->gpu_id);
		}
		c->gpu_cus = g->gpu_cus;
	}
	total = g->gpu_cus > 0 ? g->gpu_cus : g->max_seen;
	c->n_threads = gma_threads_for(g->cpus, c->cus, total);
	pthread_mutex_lock(&g->lock);
	c->fenced = g->fenced;
	g->ack_wanted = p && p->state == GPUMUX_PARTITION_REVOKING;
	g->ack_gpu = p ? p->gpu_id : 0;
	g->ack_generation = c->generation;
	pthread_mutex_unlock(&g->lock);
	return true;
}

static void post_compute(struct gma *g)
{
	struct gms_compute c;

	/* a failed read is tried again a second later (unless the lease
	 * is gone) */
	g->dirty = false;
	if (!read_compute(g, &c)) {
		g->dirty = !g->lease_gone;
		return;
	}
	if (g->o.verbose)
		logf_("partition: %d of %d CUs, generation %" PRIu64
		      "%s: %d threads",
		      c.cus, c.gpu_cus, c.generation,
		      c.fenced ? ", fenced" : "", c.n_threads);
	gms_server_set_compute(g->srv, &c);
}

/* ---- host callbacks --------------------------------------------------- */

static int cpus_allowed(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static int take_lease(struct gma *g, char *err, size_t errlen)
{
	struct gpumux_adopt_params ap = gpumux_adopt_default_params();
	struct gpumux_attach_params at = gpumux_attach_default_params();
	int r;

	ap.timeout_usec = CALL_TIMEOUT_USEC;
	r = gpumux_tenant_from_env(&ap, &g->t);
	if (!r) {
		g->adopted = true;
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(err, errlen, "cannot adopt the lease in $%s=%s: %s",
			 GPUMUX_ENV_LEASE_FD, getenv(GPUMUX_ENV_LEASE_FD),
			 strerror(-r));
		return r;
	}
	at.name = g->o.name;
	at.weight = g->o.weight;
	at.min_cus = g->o.min_cus;
	at.max_cus = g->o.max_cus;
	at.pinned_quota = g->o.pinned_quota;
	at.timeout_usec = CALL_TIMEOUT_USEC;
	r = gpumux_tenant_attach(&at, &g->t);
	if (r < 0)
		snprintf(err, errlen, "cannot attach as '%s': %s%s", g->o.name,
			 strerror(-r),
			 r == -EHOSTUNREACH || r == -ENOENT ||
					 r == -ECONNREFUSED ?
				 " (is gpumuxd running?)" :
				 "");
	return r;
}

/*
 * The KV pool: blocks of res->kv_block_bytes, as many as asked when the
 * pinned quota allows, else as many as fit, at least kv_min_bytes.
 */
static int alloc_kv(struct gma *g, size_t kv_bytes, struct gms_resources *res,
		    char *err, size_t errlen)
{
	size_t bb = res->kv_block_bytes, page = sysconf(_SC_PAGESIZE);
	size_t want = kv_bytes / bb, min = (res->kv_min_bytes + bb - 1) / bb;
	size_t blocks = want, size;
	uint64_t quota = 0, used = 0;
	void *addr;
	int r = -EDQUOT;

	if (!get_prop(g, g->path, GM_BUS_IFACE_TENANT, "PinnedQuota", 't',
		      &quota) &&
	    !get_prop(g, g->path, GM_BUS_IFACE_TENANT, "PinnedBytes", 't',
		      &used) &&
	    quota > used) {
		/* whole pages are charged */
		uint64_t fit = ((quota - used) / page * page) / bb;

		if (fit < blocks)
			blocks = fit;
	}
	if (blocks < min)
		blocks = min;
	for (;;) {
		size = blocks * bb;
		r = gpumux_buffer_alloc(g->t, size, &g->kv);
		if (r != -EDQUOT && r != -ENOSPC && r != -ENOMEM)
			break;
		if (blocks == min)
			break;
		blocks = blocks / 2 > min ? blocks / 2 : min;
	}
	if (r < 0) {
		snprintf(
			err, errlen,
			"cannot allocate the KV pool as pinned memory (%zu bytes: %zu blocks of %zu, the least for one sequence): %s%s",
			size, blocks, bb, strerror(-r),
			r == -EDQUOT ?
				"; raise the tenant's pinned quota (--pinned-quota)" :
				"");
		return r;
	}
	r = gpumux_buffer_map(g->kv, PROT_READ | PROT_WRITE, &addr);
	if (r < 0) {
		snprintf(err, errlen, "cannot map the KV pool: %s",
			 strerror(-r));
		gpumux_buffer_free(g->kv);
		g->kv = NULL;
		return r;
	}
	if (blocks < want)
		logf_("KV pool shrunk to %zu blocks (%zu bytes) to fit the pinned quota%s (%" PRIu64
		      " bytes, %" PRIu64 " in use); %zu were asked for",
		      blocks, size, quota ? "" : " or the global limit", quota,
		      used, want);
	res->kv_pool = addr;
	res->kv_pool_size = size;
	return 0;
}

static int gma_acquire(void *ctx, size_t kv_bytes, struct gms_resources *res,
		       char *err, size_t errlen)
{
	struct gma *g = ctx;
	struct gms_compute c;
	uint32_t fenced = 0;
	int r;

	r = take_lease(g, err, errlen);
	if (r)
		return r;
	gpumux_tenant_object_path(g->t, &g->path);
	g->cpus = g->o.cpus > 0 ? g->o.cpus : cpus_allowed();
	if (!get_prop(g, g->path, GM_BUS_IFACE_TENANT, "Fenced", 'b', &fenced))
		g->fenced = fenced != 0;
	r = alloc_kv(g, kv_bytes, res, err, errlen);
	if (r)
		goto fail;
	if (!read_compute(g, &c)) {
		snprintf(err, errlen, "cannot read the lease's partition");
		r = -EIO;
		goto fail;
	}
	res->n_threads = c.n_threads;
	res->max_threads = g->cpus;
	snprintf(g->desc, sizeof(g->desc),
		 "gpumux tenant %d %s(%s), %d of %d CUs, %d of %d threads",
		 gpumux_tenant_id(g->t), g->adopted ? "adopted " : "", g->path,
		 c.cus, c.gpu_cus, c.n_threads, g->cpus);
	return 0;
fail:
	gpumux_buffer_free(g->kv);
	g->kv = NULL;
	gpumux_tenant_close(g->t);
	g->t = NULL;
	return r;
}

static void send_load(struct gma *g)
{
	struct gpumux_load l = gpumux_load_default_params();
	struct gms_load load;
	int r;

	pthread_mutex_lock(&g->lock);
	load = g->load;
	g->load_pending = false;
	pthread_mutex_unlock(&g->lock);
	l.running = load.running > 0 ? load.running : 0;
	l.waiting = load.waiting > 0 ? load.waiting : 0;
	l.kv_blocks_total = load.kv_total > 0 ? load.kv_total : 0;
	l.kv_blocks_used = load.kv_used > 0 ? load.kv_used : 0;
	if (l.kv_blocks_used > l.kv_blocks_total)
		l.kv_blocks_used = l.kv_blocks_total;
	l.tokens_per_s = load.tokens_per_s >= 0 && load.tokens_per_s < 1e12 ?
				 load.tokens_per_s :
				 0;
	r = gpumux_tenant_report_load(g->t, &l);
	if (r < 0 && !g->report_failing) {
		logf_("load reports to gpumuxd fail (%s); the server goes on and retries quietly",
		      strerror(-r));
		g->report_failing = true;
	} else if (!r && g->report_failing) {
		logf_("load reports to gpumuxd work again");
		g->report_failing = false;
	}
}

static void *lease_main(void *arg)
{
	struct gma *g = arg;
	struct pollfd pf[2];
	bool stop, pending;
	uint64_t v;
	int r;

	post_compute(g);
	for (;;) {
		pf[0] = (struct pollfd){ .fd = g->wake_fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = g->lease_gone ?
						       -1 :
						       gpumux_tenant_fd(g->t),
					 .events = POLLIN };
		r = poll(pf, 2, g->dirty ? 1000 : -1);
		if (r < 0 && errno != EINTR) {
			logf_("lease thread: poll: %s", strerror(errno));
			break;
		}
		if (pf[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			logf_("the gpumux lease ended (POLLHUP); serving on with %s",
			      "the threads it has");
			g->lease_gone = true;
		} else if (pf[1].revents & POLLIN) {
			r = gpumux_tenant_dispatch(g->t, 0, NULL);
			if (r < 0 && r != -EINTR)
				logf_("lease events: %s", strerror(-r));
		}
		if (g->dirty)
			post_compute(g);
		if (pf[0].revents & POLLIN) {
			if (read(g->wake_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				logf_("lease thread: read: %s",
				      strerror(errno));
		}
		pthread_mutex_lock(&g->lock);
		stop = g->stop;
		pending = g->load_pending;
		pthread_mutex_unlock(&g->lock);
		if (stop)
			break;
		if (pending)
			send_load(g);
	}
	return NULL;
}

static void wake(struct gma *g)
{
	uint64_t one = 1;

	if (write(g->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		logf_("lease thread: cannot wake it: %s", strerror(errno));
}

static int gma_start(void *ctx, struct gms_server *srv, char *err,
		     size_t errlen)
{
	struct gma *g = ctx;
	int r;

	g->srv = srv;
	g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	gpumux_tenant_set_partition_callback(g->t, on_event, g);
	r = pthread_create(&g->thread, NULL, lease_main, g);
	if (r) {
		snprintf(err, errlen, "cannot start the lease thread: %s",
			 strerror(r));
		close(g->wake_fd);
		g->wake_fd = -1;
		return -r;
	}
	g->thread_started = true;
	return 0;
}

/* engine thread, between steps: the engine computes as c says now */
static void gma_applied(void *ctx, const struct gms_compute *c)
{
	struct gma *g = ctx;
	uint64_t gen;
	uint32_t gpu;
	bool want;
	int r;

	pthread_mutex_lock(&g->lock);
	want = g->ack_wanted && g->ack_generation == c->generation;
	gpu = g->ack_gpu;
	gen = g->ack_generation;
	if (want)
		g->ack_wanted = false;
	pthread_mutex_unlock(&g->lock);
	if (!want)
		return;
	/* an ioctl on the lease: no D-Bus round trip in the engine thread */
	r = gpumux_tenant_ack(g->t, gpu, gen);
	if (g->o.verbose ||
	    (r < 0 && r != -ESTALE && r != -EALREADY && r != -EPERM))
		logf_("ack of partition generation %" PRIu64 ": %s", gen,
		      r < 0 ? strerror(-r) : "done");
}

/* engine thread, about once a second: hand it to the lease thread */
static void gma_report(void *ctx, const struct gms_load *load)
{
	struct gma *g = ctx;

	pthread_mutex_lock(&g->lock);
	g->load = *load;
	g->load_pending = true;
	pthread_mutex_unlock(&g->lock);
	wake(g);
}

static void gma_stop(void *ctx)
{
	struct gma *g = ctx;

	if (!g->thread_started)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_mutex_unlock(&g->lock);
	wake(g);
	pthread_join(g->thread, NULL);
	g->thread_started = false;
	gpumux_tenant_set_partition_callback(g->t, NULL, NULL);
	close(g->wake_fd);
	g->wake_fd = -1;
}

static void gma_release(void *ctx, struct gms_resources *res)
{
	struct gma *g = ctx;
	int r;

	res->kv_pool = NULL;
	gpumux_buffer_free(g->kv);
	g->kv = NULL;
	if (!g->t)
		return;
	/* detach ends the tenant at once; when it fails, closing does */
	r = gpumux_tenant_detach(g->t);
	g->t = NULL;
	if (r < 0 && g->o.verbose)
		logf_("detach: %s (the lease is closed anyway)", strerror(-r));
}

int gma_host_new(const struct gma_options *o, struct gms_host_ops **out)
{
	struct gma *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->o = *o;
	g->gpu_cus = -1;
	g->wake_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	snprintf(g->desc, sizeof(g->desc), "gpumux tenant '%s'", o->name);
	g->ops = (struct gms_host_ops){
		.name = g->desc,
		.acquire = gma_acquire,
		.start = gma_start,
		.applied = gma_applied,
		.report = gma_report,
		.stop = gma_stop,
		.release = gma_release,
		.ctx = g,
	};
	*out = &g->ops;
	return 0;
}

void gma_host_free(struct gms_host_ops *ops)
{
	struct gma *g;

	if (!ops)
		return;
	g = ops->ctx;
	gma_stop(g);
	gpumux_buffer_free(g->kv);
	gpumux_tenant_close(g->t);
	sd_bus_flush_close_unref(g->bus);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
