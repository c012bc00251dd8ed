// SPDX-License-Identifier: GPL-2.0
/*
 * libgpumux end to end: a tenant attaches through the real gpumuxd, gets
 * its partition, allocates, maps and writes a pinned buffer, reports load
 * (seen in its Load property), follows the rebalance when a second tenant
 * attaches (PART_CHANGED, ack), maps a buffer granted to it, adopts a lease
 * as an inherited fd would be, and detaches.
 *
 * Run by tests/daemon/test-libgpumux.sh in the test VM (module loaded,
 * gpumuxd on the bus DBUS_SYSTEM_BUS_ADDRESS names, one virtual GPU).
 * Prints "PASS: PREFIX: name", "FAIL: PREFIX: name: why" or "SKIP: ..."
 * lines (PREFIX: $GMTEST_NAME, default test-libgpumux); exits 0 when all
 * passed, 1 when any failed, 77 when the daemon cannot be reached.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <gpumux/client.h>
#include <linux/gpumux.h>
#include <systemd/sd-bus.h>

#include "bus-api.h"

/* How long the daemon gets to apply a change (TCG guests are slow). */
#define WAIT_MS 20000

static const char *prefix = "test-libgpumux";
static int nfail;

/* The current sub-test. */
static const char *cur;
static bool cur_failed;

static void t_begin(const char *name)
{
	cur = name;
	cur_failed = false;
}

static void __attribute__((format(printf, 1, 2))) t_fail(const char *fmt, ...)
{
	va_list ap;

	if (cur_failed)
		return; /* the first reason is the one that counts */
	printf("FAIL: %s: %s: ", prefix, cur);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	cur_failed = true;
	nfail++;
}

static void t_end(void)
{
	if (!cur_failed)
		printf("PASS: %s: %s\n", prefix, cur);
	fflush(stdout);
}

static void t_skip(const char *name, const char *why)
{
	printf("SKIP: %s: %s: %s\n", prefix, name, why);
	fflush(stdout);
}

/* Expect @r (0 or -errno) to be 0; false (and the sub-test failed) if not. */
#define OK(e)                                                         \
	({                                                            \
		int _r = (e);                                         \
		if (_r < 0)                                           \
			t_fail("%s: %s (line %d)", #e, strerror(-_r), \
			       __LINE__);                             \
		_r >= 0;                                              \
	})
#define EXPECT(cond, ...)                    \
	({                                   \
		bool _c = (cond);            \
		if (!_c)                     \
			t_fail(__VA_ARGS__); \
		_c;                          \
	})

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- bus side */

static sd_bus *bus; /* the test's own connection, for properties */

static int prop_u32(const char *path, const char *iface, const char *name,
		    uint32_t *v)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_get_property_trivial(bus, GM_BUS_NAME, path, iface, name,
					&err, 'u', v);
	sd_bus_error_free(&err);
	return r;
}

struct load_prop {
	uint32_t running, waiting, kv_used, kv_total;
	double tps;
	unsigned int keys;
};

/* The tenant's Load property. */
static int prop_load(const char *path, struct load_prop *l)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *key;
	int r;

	memset(l, 0, sizeof(*l));
	r = sd_bus_get_property(bus, GM_BUS_NAME, path, GM_BUS_IFACE_TENANT,
				"Load", &err, &reply, "a{sv}");
	sd_bus_error_free(&err);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r > 0) {
		r = sd_bus_message_enter_container(reply, 'e', "sv");
		if (r <= 0)
			break;
		r = sd_bus_message_read(reply, "s", &key);
		if (r < 0)
			break;
		if (!strcmp(key, GM_LOAD_RUNNING))
			r = sd_bus_message_read(reply, "v", "u", &l->running);
		else if (!strcmp(key, GM_LOAD_WAITING))
			r = sd_bus_message_read(reply, "v", "u", &l->waiting);
		else if (!strcmp(key, GM_LOAD_KV_USED))
			r = sd_bus_message_read(reply, "v", "u", &l->kv_used);
		else if (!strcmp(key, GM_LOAD_KV_TOTAL))
			r = sd_bus_message_read(reply, "v", "u", &l->kv_total);
		else if (!strcmp(key, GM_LOAD_TOKENS_PER_S))
			r = sd_bus_message_read(reply, "v", "d", &l->tps);
		else
			r = sd_bus_message_skip(reply, "v");
		if (r < 0)
			break;
		l->keys++;
		r = sd_bus_message_exit_container(reply);
		if (r < 0)
			break;
		r = 1;
	}
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------ events */

/* What a tenant's partition callback saw and did. */
struct watch {
	const char *name;
	unsigned int changed, fenced, grant_added, grant_revoked, overflow;
	unsigned int revoking_seen, acks, ack_errors;
	uint32_t last_granted, last_revoked;
	int reentry; /* gpumux_tenant_dispatch() from the callback */
};

/*
 * The callback an engine would have: on a partition change, read the
 * partition; if it is shrinking, (move its streams and) acknowledge.
 */
static void on_event(struct gpumux_tenant *t,
		     const struct gpumux_tenant_event *ev, void *data)
{
	struct watch *w = data;
	struct gpumux_partition p;

	if (w->reentry == 1)
		w->reentry = gpumux_tenant_dispatch(t, 0, NULL);
	switch (ev->type) {
	case GPUMUX_TENANT_EVENT_PARTITION_CHANGED:
		w->changed++;
		if (gpumux_tenant_partition(t, ev->gpu_id, &p) < 0)
			break;
		if (p.state == GPUMUX_PARTITION_REVOKING) {
			int r = gpumux_tenant_ack(t, p.gpu_id, p.generation);

			w->revoking_seen++;
			if (r == 0)
				w->acks++;
			else if (r != -ESTALE && r != -EALREADY)
				w->ack_errors++;
		}
		break;
	case GPUMUX_TENANT_EVENT_FENCED:
		w->fenced++;
		break;
	case GPUMUX_TENANT_EVENT_GRANT_ADDED:
		w->grant_added++;
		w->last_granted = ev->buf_id;
		break;
	case GPUMUX_TENANT_EVENT_GRANT_REVOKED:
		w->grant_revoked++;
		w->last_revoked = ev->buf_id;
		break;
	case GPUMUX_TENANT_EVENT_OVERFLOW:
		w->overflow++;
		break;
	}
}

/* Dispatch events of every tenant in @ts for up to @ms (at least once). */
static void pump(struct gpumux_tenant **ts, int n, int ms)
{
	int64_t end = now_ms() + ms;
	int i;

	do {
		for (i = 0; i < n; i++)
			if (ts[i])
				gpumux_tenant_dispatch(ts[i], 10, NULL);
	} while (now_ms() < end);
}

/* The tenant's one partition (the test has one GPU); -ENOENT if none. */
static int part_of(struct gpumux_tenant *t, struct gpumux_partition *p)
{
	size_t n;
	int r;

	r = gpumux_tenant_partitions(t, p, 1, &n);
	if (r < 0)
		return r;
	return n == 1 ? 0 : -ENOENT;
}

/*
 * Dispatch events of @ts until @t's partition is stable with
 * @pred(count, arg) true, for up to WAIT_MS.  0 with *@p, or -ETIMEDOUT.
 */
static int wait_stable(struct gpumux_tenant **ts, int n,
		       struct gpumux_tenant *t, bool (*pred)(int, int), int arg,
		       struct gpumux_partition *p)
{
	int64_t end = now_ms() + WAIT_MS;

	for (;;) {
		/* Events first: the change may be done and its event queued. */
		pump(ts, n, 0);
		if (!part_of(t, p) && p->state == GPUMUX_PARTITION_STABLE &&
		    pred(gpumux_mask_count(p->active), arg))
			return 0;
		if (now_ms() > end)
			return -ETIMEDOUT;
		pump(ts, n, 20);
	}
}

static bool nonempty(int c, int arg)
{
	(void)arg;
	return c > 0;
}

static bool below(int c, int arg)
{
	return c > 0 && c < arg;
}

static bool equal(int c, int arg)
{
	return c == arg;
}

static const char *fmt_mask(const uint64_t *m)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	if (gpumux_mask_format(m, buf[i], sizeof(buf[i])) < 0)
		snprintf(buf[i], sizeof(buf[i]), "(%d CUs)",
			 gpumux_mask_count(m));
	return buf[i];
}

/* ------------------------------------------------------------ threads */

#define NTHREADS 4
#define NITER 10

struct worker {
	pthread_t thread;
	struct gpumux_tenant *t;
	unsigned int n;
	int err; /* the first failure, 0 if none */
	const char *what;
};

/* One tenant, used from several threads at once. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct gpumux_load l = gpumux_load_default_params();
	struct gpumux_partition p[4];
	struct gpumux_buffer *b;
	unsigned int i;
	size_t n;
	void *addr;
	int r;

#define STEP(e)                         \
	do {                            \
		r = (e);                \
		if (r < 0 && !w->err) { \
			w->err = r;     \
			w->what = #e;   \
		}                       \
	} while (0)
	for (i = 0; i < NITER; i++) {
		STEP(gpumux_tenant_partitions(w->t, p, 4, &n));
		l.running = w->n;
		l.waiting = i;
		STEP(gpumux_tenant_report_load(w->t, &l));
		b = NULL;
		STEP(gpumux_buffer_alloc(w->t, 64 << 10, &b));
		if (!b)
			continue;
		addr = NULL;
		STEP(gpumux_buffer_map(b, PROT_READ | PROT_WRITE, &addr));
		if (addr)
			memset(addr, (int)w->n, 64 << 10);
		STEP(gpumux_buffer_free(b));
	}
#undef STEP
	return NULL;
}

/* ------------------------------------------------------------ the test */

static struct gpumux_attach_params params(const char *name)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();

	p.name = name;
	p.timeout_usec = 30 * 1000000ULL;
	return p;
}

int main(void)
{
	struct gpumux_attach_params ap;
	struct gpumux_tenant *a = NULL, *b = NULL, *ad = NULL, *ae = NULL;
	struct gpumux_tenant *both[2];
	struct gpumux_buffer *buf = NULL, *gbuf = NULL;
	struct gpumux_buffer_info infos[8], bi;
	struct gpumux_partition pa, pb;
	struct watch wa = { .name = "a" }, wb = { .name = "b" };
	struct gpumux_load load;
	struct load_prop lp;
	const char *path_a = NULL, *path_b = NULL, *s;
	char path_a_copy[128] = "", path_b_copy[128] = "", num[16];
	uint32_t u, baseline = 0, buf_id = 0;
	int a_full = 0, ctl = -1, r, fd, i;
	unsigned int nev;
	uint64_t bufsize = 0;
	unsigned char *p8;
	void *addr, *addr2, *gaddr = NULL;
	size_t n;
	int64_t t0;

	s = getenv("GMTEST_NAME");
	if (s && *s)
		prefix = s;
	r = sd_bus_open_system(&bus);
	if (r < 0) {
		printf("SKIP: %s: no system bus: %s\n", prefix, strerror(-r));
		return 77;
	}
	r = prop_u32(GM_BUS_PATH, GM_BUS_IFACE_MANAGER, "NTenants", &baseline);
	if (r < 0) {
		printf("SKIP: %s: gpumuxd not on the bus: %s\n", prefix,
		       strerror(-r));
		return 77;
	}

	/* ---- attach */
	t_begin("attach");
	ap = params("libgm-a");
	ap.pinned_quota = 16 << 20;
	r = gpumux_tenant_attach(&ap, &a);
	if (!OK(r)) {
		t_end();
		printf("FAIL: %s: nothing else can run without a tenant\n",
		       prefix);
		return 1;
	}
	gpumux_tenant_set_partition_callback(a, on_event, &wa);
	OK(gpumux_tenant_object_path(a, &path_a));
	snprintf(path_a_copy, sizeof(path_a_copy), "%s", path_a);
	snprintf(num, sizeof(num), "/%d", gpumux_tenant_id(a));
	EXPECT(gpumux_tenant_id(a) > 0, "tenant id %d", gpumux_tenant_id(a));
	EXPECT(!strncmp(path_a, GM_BUS_TENANT_PREFIX "/",
			strlen(GM_BUS_TENANT_PREFIX "/")) &&
		       !strcmp(path_a + strlen(GM_BUS_TENANT_PREFIX), num),
	       "object path %s for tenant id %d", path_a, gpumux_tenant_id(a));
	fd = gpumux_tenant_fd(a);
	EXPECT(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) &&
		       (fcntl(fd, F_GETFL) & O_NONBLOCK),
	       "lease fd %d not CLOEXEC and NONBLOCK", fd);
	if (OK(prop_u32(path_a, GM_BUS_IFACE_TENANT, "Id", &u)))
		EXPECT(u == (uint32_t)gpumux_tenant_id(a),
		       "Id property %u, the lease says %d", u,
		       gpumux_tenant_id(a));
	t_end();

	t_begin("attach errors map to errno");
	ap = params("libgm-bad");
	ap.gpu = 9999;
	r = gpumux_tenant_attach(&ap, &b);
	EXPECT(r == -ENODEV, "gpu 9999: %d (%s), want -ENODEV", r,
	       strerror(-r));
	ap = params("bad\nname");
	r = gpumux_tenant_attach(&ap, &b);
	EXPECT(r == -EINVAL, "bad name: %d, want -EINVAL", r);
	EXPECT(!b, "a tenant came back from a failed attach");
	t_end();

	/* ---- its partition */
	t_begin("first partition");
	both[0] = a;
	both[1] = NULL;
	r = wait_stable(both, 1, a, nonempty, 0, &pa);
	if (OK(r)) {
		a_full = gpumux_mask_count(pa.active);
		EXPECT(!memcmp(pa.active, pa.target, sizeof(pa.active)),
		       "stable but active %s, target %s", fmt_mask(pa.active),
		       fmt_mask(pa.target));
		EXPECT(gpumux_tenant_partition(a, pa.gpu_id, &pb) == 0 &&
			       pb.generation == pa.generation,
		       "gpumux_tenant_partition disagrees");
		EXPECT(gpumux_tenant_partition(a, pa.gpu_id + 1000, &pb) ==
			       -ENOENT,
		       "a partition on a GPU that does not exist");
		EXPECT(wa.changed > 0, "no PARTITION_CHANGED event came");
		/* The daemon reads the ledger back: its view agrees. */
		t0 = now_ms();
		do {
			r = prop_u32(path_a, GM_BUS_IFACE_TENANT,
				     "ComputeUnits", &u);
		} while (r >= 0 && (int)u != a_full && now_ms() - t0 < 5000 &&
			 !usleep(50000));
		EXPECT(r >= 0 && (int)u == a_full,
		       "ComputeUnits property %u, the lease has %d CUs", u,
		       a_full);
	}
	printf("# tenant a: %d CUs (%s) on GPU %u, generation %llu\n", a_full,
	       fmt_mask(pa.active), pa.gpu_id,
	       (unsigned long long)pa.generation);
	t_end();

	t_begin("dispatch waits for the timeout");
	t0 = now_ms();
	r = gpumux_tenant_dispatch(a, 200, &nev);
	EXPECT(r == 0, "dispatch: %d", r);
	EXPECT(nev > 0 || now_ms() - t0 >= 190,
	       "returned after %lld ms with no event",
	       (long long)(now_ms() - t0));
	wa.reentry = 1;
	gpumux_tenant_dispatch(a, 0, NULL);
	t_end();

	/* ---- a pinned buffer */
	t_begin("pinned buffer");
	r = gpumux_buffer_alloc(a, (1 << 20) + 100, &buf);
	if (OK(r)) {
		OK(gpumux_buffer_info(buf, &bi));
		bufsize = bi.size;
		buf_id = (uint32_t)gpumux_buffer_id(buf);
		EXPECT(bi.size == (1 << 20) + (uint64_t)sysconf(_SC_PAGESIZE),
		       "size %llu not rounded up to a page",
		       (unsigned long long)bi.size);
		EXPECT(bi.owner_id == (uint32_t)gpumux_tenant_id(a) &&
			       bi.access == GPUMUX_BUFFER_RW && buf_id > 0,
		       "info: owner %u access %u id %u", bi.owner_id, bi.access,
		       buf_id);
	}
	if (buf && OK(gpumux_buffer_map(buf, PROT_READ | PROT_WRITE, &addr))) {
		p8 = addr;
		for (n = 0; n < bufsize; n++)
			EXPECT(p8[n] == 0, "byte %zu not zeroed", n);
		for (n = 0; n < bufsize; n++)
			p8[n] = (unsigned char)(n * 7 + 3);
		OK(gpumux_buffer_map(buf, PROT_READ | PROT_WRITE, &addr2));
		EXPECT(addr2 == addr, "mapping again gave another address");
		EXPECT(gpumux_buffer_map(buf, PROT_READ, &addr2) == -EBUSY,
		       "mapping with another prot is not EBUSY");
		OK(gpumux_buffer_unmap(buf));
		if (OK(gpumux_buffer_map(buf, PROT_READ, &addr))) {
			p8 = addr;
			for (n = 0; n < bufsize; n++)
				if (p8[n] != (unsigned char)(n * 7 + 3)) {
					t_fail("byte %zu lost after remap", n);
					break;
				}
		}
	}
	r = gpumux_tenant_buffers(a, infos, 8, &n);
	if (OK(r))
		EXPECT(n == 1 && infos[0].buf_id == buf_id &&
			       infos[0].size == bufsize,
		       "LIST BUFFERS: %zu buffers", n);
	t_end();

	t_begin("pinned quota");
	{
		struct gpumux_buffer *big = NULL;

		r = gpumux_buffer_alloc(a, 32 << 20, &big);
		EXPECT(r == -EDQUOT, "32 MiB on a 16 MiB quota: %d (%s)", r,
		       strerror(-r));
		EXPECT(!big, "a buffer came back from a failed alloc");
		if (r == 0)
			gpumux_buffer_free(big);
	}
	t_end();

	/* ---- load */
	t_begin("load report");
	load = gpumux_load_default_params();
	load.running = 3;
	load.waiting = 2;
	load.kv_blocks_used = 10;
	load.kv_blocks_total = 100;
	load.tokens_per_s = 123.5;
	if (OK(gpumux_tenant_report_load(a, &load)) &&
	    OK(prop_load(path_a, &lp)))
		EXPECT(lp.running == 3 && lp.waiting == 2 && lp.kv_used == 10 &&
			       lp.kv_total == 100 && lp.tps == 123.5 &&
			       lp.keys == 5,
		       "Load property: running %u waiting %u kv %u/%u tps %g (%u keys)",
		       lp.running, lp.waiting, lp.kv_used, lp.kv_total, lp.tps,
		       lp.keys);
	load.running = 4;
	load.tokens_per_s = 200.25;
	if (OK(gpumux_tenant_report_load(a, &load)) &&
	    OK(prop_load(path_a, &lp)))
		EXPECT(lp.running == 4 && lp.tps == 200.25,
		       "Load property not updated: running %u tps %g",
		       lp.running, lp.tps);
	load.tokens_per_s = NAN;
	EXPECT(gpumux_tenant_report_load(a, &load) == -EINVAL,
	       "NaN tokens/s accepted");
	load.tokens_per_s = 1;
	load.kv_blocks_used = 101;
	EXPECT(gpumux_tenant_report_load(a, &load) == -EINVAL,
	       "kv_blocks_used > kv_blocks_total accepted");
	t_end();

	t_begin("one tenant from several threads");
	{
		struct worker ws[NTHREADS];

		for (i = 0; i < NTHREADS; i++) {
			memset(&ws[i], 0, sizeof(ws[i]));
			ws[i].t = a;
			ws[i].n = (unsigned int)i + 1;
			r = pthread_create(&ws[i].thread, NULL, work, &ws[i]);
			EXPECT(r == 0, "pthread_create: %s", strerror(r));
			if (r)
				ws[i].t = NULL;
		}
		/* Meanwhile this thread dispatches events. */
		pump(both, 1, 50);
		for (i = 0; i < NTHREADS; i++) {
			if (!ws[i].t)
				continue;
			pthread_join(ws[i].thread, NULL);
			EXPECT(!ws[i].err, "thread %d: %s: %s", i, ws[i].what,
			       strerror(-ws[i].err));
		}
		r = gpumux_tenant_buffers(a, infos, 8, &n);
		EXPECT(r == 0 && n == 1, "%zu buffers left, want 1", n);
	}
	t_end();

	/* ---- a second tenant: the first one's partition shrinks */
	t_begin("rebalance on a second attach");
	ap = params("libgm-b");
	r = gpumux_tenant_attach(&ap, &b);
	if (OK(r) && a_full > 0) {
		gpumux_tenant_set_partition_callback(b, on_event, &wb);
		gpumux_tenant_object_path(b, &path_b);
		snprintf(path_b_copy, sizeof(path_b_copy), "%s", path_b);
		both[1] = b;
		r = wait_stable(both, 2, a, below, a_full, &pa);
		EXPECT(r == 0, "tenant a still has %d CUs (%s), state %u",
		       gpumux_mask_count(pa.active), fmt_mask(pa.active),
		       pa.state);
		EXPECT(wa.revoking_seen > 0 && wa.acks > 0,
		       "a saw %u shrinks, made %u acks", wa.revoking_seen,
		       wa.acks);
		EXPECT(!wa.ack_errors, "%u acks failed", wa.ack_errors);
		EXPECT(!wa.fenced, "tenant a was fenced");
		r = wait_stable(both, 2, b, nonempty, 0, &pb);
		EXPECT(r == 0, "tenant b got no CUs");
		for (i = 0; i < GPUMUX_CU_MASK_WORDS; i++)
			EXPECT(!(pa.active[i] & pb.active[i]),
			       "a (%s) and b (%s) overlap", fmt_mask(pa.active),
			       fmt_mask(pb.active));
		EXPECT(gpumux_mask_count(pa.active) +
				       gpumux_mask_count(pb.active) <=
			       a_full,
		       "a %d + b %d CUs > %d", gpumux_mask_count(pa.active),
		       gpumux_mask_count(pb.active), a_full);
		printf("# a: %s, b: %s, a acked %u shrink(s)\n",
		       fmt_mask(pa.active), fmt_mask(pb.active), wa.acks);
	}
	EXPECT(wa.reentry == -EDEADLK,
	       "dispatch from the callback: %d, want -EDEADLK", wa.reentry);
	t_end();

	/* ---- a buffer granted by the module to the second tenant */
	if (!b || !buf) {
		t_skip("granted buffer", "needs both tenants and a buffer");
	} else if ((ctl = open(GPUMUX_DEVICE_PATH, O_RDWR | O_CLOEXEC)) < 0) {
		t_skip("granted buffer", "cannot open the control file");
	} else {
		struct gpumux_grant g = { .buf_id = buf_id,
					  .tenant_id =
						  (uint32_t)gpumux_tenant_id(b),
					  .access = GPUMUX_ACCESS_RO };

		struct gpumux_buffer *none = NULL;

		t_begin("granted buffer");
		r = gpumux_buffer_open_granted(b, buf_id, &none);
		EXPECT(r == -ENOENT && !none,
		       "b opened a's buffer before the grant: %d", r);
		if (ioctl(ctl, GPUMUX_CMD_GRANT, &g) < 0) {
			t_fail("GPUMUX_CMD_GRANT: %s", strerror(errno));
		} else {
			t0 = now_ms();
			while (!wb.grant_added && now_ms() - t0 < 5000)
				gpumux_tenant_dispatch(b, 100, NULL);
			EXPECT(wb.grant_added && wb.last_granted == buf_id,
			       "no GRANT_ADDED event for buffer %u", buf_id);
			r = gpumux_buffer_open_granted(b, buf_id, &gbuf);
		}
		if (gbuf && OK(r) && OK(gpumux_buffer_info(gbuf, &bi))) {
			EXPECT(bi.access == GPUMUX_BUFFER_RO &&
				       bi.owner_id ==
					       (uint32_t)gpumux_tenant_id(a) &&
				       bi.size == bufsize,
			       "granted info: access %u owner %u size %llu",
			       bi.access, bi.owner_id,
			       (unsigned long long)bi.size);
			r = gpumux_buffer_map(gbuf, PROT_READ | PROT_WRITE,
					      &addr);
			EXPECT(r == -EACCES, "read-write map of a RO grant: %d",
			       r);
			if (OK(gpumux_buffer_map(gbuf, PROT_READ, &gaddr))) {
				p8 = gaddr;
				unsigned char last = (bufsize - 1) * 7 + 3;

				EXPECT(p8[0] == 3 && p8[bufsize - 1] == last,
				       "the grantee sees other bytes");
			}
		}
		/* The owner frees it: the grantee is told, keeps its map. */
		r = gpumux_buffer_free(buf);
		buf = NULL;
		OK(r);
		t0 = now_ms();
		while (!wb.grant_revoked && now_ms() - t0 < 5000)
			gpumux_tenant_dispatch(b, 100, NULL);
		EXPECT(wb.grant_revoked && wb.last_revoked == buf_id,
		       "no GRANT_REVOKED event after the owner freed it");
		if (gbuf) {
			if (gaddr)
				EXPECT(((unsigned char *)gaddr)[1] == 10,
				       "the kept mapping changed");
			OK(gpumux_buffer_free(gbuf));
			gbuf = NULL;
		}
		close(ctl);
		t_end();
	}
	if (buf) {
		gpumux_buffer_free(buf);
		buf = NULL;
	}

	/* ---- adopting a lease (what gpumuxctl attach hands a program) */
	t_begin("adopt an inherited lease");
	fd = fcntl(gpumux_tenant_fd(a), F_DUPFD, 3);
	r = gpumux_tenant_adopt_fd(fd, NULL, &ad);
	if (OK(r)) {
		EXPECT(gpumux_tenant_id(ad) == gpumux_tenant_id(a),
		       "adopted id %d, want %d", gpumux_tenant_id(ad),
		       gpumux_tenant_id(a));
		OK(gpumux_tenant_object_path(ad, &s));
		EXPECT(!strcmp(s, path_a_copy), "derived path %s, want %s", s,
		       path_a_copy);
		load = gpumux_load_default_params();
		load.fields = GPUMUX_LOAD_RUNNING | GPUMUX_LOAD_WAITING;
		load.running = 7;
		load.waiting = 9;
		if (OK(gpumux_tenant_report_load(ad, &load)) &&
		    OK(prop_load(path_a_copy, &lp)))
			EXPECT(lp.running == 7 && lp.waiting == 9,
			       "adopted report: running %u waiting %u",
			       lp.running, lp.waiting);
	} else {
		close(fd);
	}
	fd = fcntl(gpumux_tenant_fd(a), F_DUPFD, 3);
	snprintf(num, sizeof(num), "%d", fd);
	setenv(GPUMUX_ENV_LEASE_FD, num, 1);
	setenv(GPUMUX_ENV_TENANT, path_a_copy, 1);
	r = gpumux_tenant_from_env(NULL, &ae);
	if (OK(r)) {
		OK(gpumux_tenant_object_path(ae, &s));
		EXPECT(!strcmp(s, path_a_copy), "env path %s", s);
		EXPECT(gpumux_tenant_partitions(ae, &pb, 1, &n) == 0 && n == 1,
		       "the adopted lease lists no partition");
	} else {
		close(fd);
	}
	unsetenv(GPUMUX_ENV_LEASE_FD);
	unsetenv(GPUMUX_ENV_TENANT);
	/* Closing the extra handles leaves the tenant alone. */
	OK(gpumux_tenant_close(ad));
	OK(gpumux_tenant_close(ae));
	ad = ae = NULL;
	EXPECT(prop_u32(path_a_copy, GM_BUS_IFACE_TENANT, "Id", &u) >= 0,
	       "the tenant went with a dup of its lease");
	t_end();

	/* ---- detach: the other tenant grows back */
	t_begin("detach");
	if (b) {
		r = gpumux_tenant_detach(b);
		b = NULL;
		both[1] = NULL;
		OK(r);
		if (a_full > 0) {
			r = wait_stable(both, 1, a, equal, a_full, &pa);
			EXPECT(r == 0, "a has %d CUs after b left, want %d",
			       gpumux_mask_count(pa.active), a_full);
		}
		t0 = now_ms();
		while (prop_u32(path_b_copy, GM_BUS_IFACE_TENANT, "Id", &u) >=
			       0 &&
		       now_ms() - t0 < WAIT_MS)
			usleep(50000);
		EXPECT(prop_u32(path_b_copy, GM_BUS_IFACE_TENANT, "Id", &u) < 0,
		       "%s still on the bus", path_b_copy);
	} else {
		t_fail("no second tenant to detach");
	}
	t_end();

	/* ---- close: the lease ends, the daemon notices */
	t_begin("close ends the lease");
	OK(gpumux_tenant_close(a));
	a = NULL;
	t0 = now_ms();
	do {
		r = prop_u32(GM_BUS_PATH, GM_BUS_IFACE_MANAGER, "NTenants", &u);
	} while (r >= 0 && u != baseline && now_ms() - t0 < WAIT_MS &&
		 !usleep(50000));
	EXPECT(r >= 0 && u == baseline, "NTenants %u, was %u before", u,
	       baseline);
	EXPECT(prop_u32(path_a_copy, GM_BUS_IFACE_TENANT, "Id", &u) < 0,
	       "%s still on the bus", path_a_copy);
	t_end();

	sd_bus_flush_close_unref(bus);
	return nfail ? 1 : 0;
}
