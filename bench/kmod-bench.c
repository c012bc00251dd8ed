// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-bench: what a gpumux command costs, by ioctl() and by uring_cmd.
 *
 *   kmod-bench CSV_FILE
 *
 * Operations:
 *   get_info  GPUMUX_CMD_GET_INFO on the control file: the cheapest query.
 *   part_set  GPUMUX_CMD_PART_SET on one tenant's exclusive partition of a
 *             GPU of its own, alternating its target between CUs 0-31 and
 *             CUs 0-63.  Going up grows into free CUs at once; going down
 *             revokes 32 CUs (the partition becomes REVOKING, a deadline is
 *             armed, the tenant gets GPUMUX_EVENT_PART_CHANGED), and the
 *             next step up cancels that revocation.  So every operation is
 *             a real partition change: the masks move, the generation is
 *             bumped, an event is queued.  The tenant's event queue is
 *             drained now and then, outside the timed part.
 *
 * Paths:
 *   ioctl      one ioctl() per operation.
 *   uring N    N SQEs (each its own struct) per io_uring_submit_and_wait(),
 *              then N CQEs reaped; N = 1, 16, 64.  The control file is a
 *              registered (fixed) file.
 *
 * For each operation the four paths are measured in 7 interleaved rounds
 * (a noisy neighbour then hits them alike), each round a throughput phase
 * (ops/s: the rate of the median chunk of 256 operations, the clock read
 * around each chunk only) and a latency phase (the clock read around every
 * operation, or every batch: for a batch of N the per-operation latency is
 * the batch's time / N, so p50/p99 are of that; the cost of one clock read,
 * measured first, is taken off each interval -- about 1 us with the hpet
 * clocksource the TCG guest uses).  ops/s is the median over
 * the rounds; the uring/ioctl ratio is the median of the per-round ratios.
 * Prints a table, and writes CSV_FILE with the header
 * op,path,batch,ops_per_s,p50_us,p99_us.
 *
 * Environment: KMOD_BENCH_SECS, seconds of throughput per path and
 * operation over all rounds (default 2.5; latency takes half that again);
 * KMOD_BENCH_RING=0|1|2 (DEFER_TASKRUN, COOP_TASKRUN, no flags);
 * KMOD_BENCH_FIXED=0 (plain fd instead of a registered file);
 * KMOD_BENCH_PART_MODE=same|einval (diagnostics: part_set with the same
 * mask every time, or failing its first check -- what the handler costs
 * beyond dispatch and the struct copies).
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#define MAXB 64
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CHUNK 256 /* ops between clock reads in the throughput phase */
#define DRAIN_EVERY 128 /* part_set: drain the tenant's events this often */

enum op { OP_GET_INFO, OP_PART_SET, OP_NR };
static const char *const op_name[OP_NR] = { "get_info", "part_set" };

struct result {
	enum op op;
	int uring;
	unsigned int batch;
	double ops_per_s, p50, p99;
	unsigned long n;
};

static int ctl, tfd;
static unsigned int tenant_id, gpu_id;
static double phase_secs = 2.5;
static struct io_uring ring;
static const char *ring_flags = "";
static bool fixed_file = true;
/*
 * KMOD_BENCH_PART_MODE (diagnostics): "same" sets the same mask every time
 * (no revocation, no deadline), "einval" makes every PART_SET fail its
 * first check (a reserved word set): dispatch and struct copies only.
 */
static int part_mode;
static double clk_us; /* what one clock read adds to a measured interval */
static unsigned long n_errors;
static int first_error;

/* Per-slot argument structs: a batch's SQEs never share one. */
static struct gpumux_info infos[MAXB];
static struct gpumux_part_set sets[MAXB];
static unsigned long op_serial; /* which mask the next part_set gets */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note_error(int r)
{
	if (part_mode == 2 && r == -EINVAL)
		return;
	if (!n_errors++)
		first_error = r;
}

static void fill_arg(enum op op, unsigned int slot)
{
	if (op == OP_GET_INFO) {
		memset(&infos[slot], 0, sizeof(infos[slot]));
		return;
	}
	/* Only the mask changes between operations. */
	sets[slot].mask[0] = op_serial++ & 1 || part_mode == 1 ? ~0ULL :
								 0xffffffffULL;
	sets[slot].reserved[0] = part_mode == 2;
}

static void *arg_of(enum op op, unsigned int slot)
{
	return op == OP_GET_INFO ? (void *)&infos[slot] : (void *)&sets[slot];
}

static unsigned int cmd_of(enum op op)
{
	return op == OP_GET_INFO ? GPUMUX_CMD_GET_INFO : GPUMUX_CMD_PART_SET;
}

static int fd_of(enum op op)
{
	(void)op;
	return ctl;
}

/* The tenant's event queue fills with PART_CHANGED: empty it. */
static void drain(void)
{
	struct gpumux_event ev[256];

	while (read(tfd, ev, sizeof(ev)) > 0)
		;
}

static void do_ioctl(enum op op)
{
	int r;

	fill_arg(op, 0);
	r = ioctl(fd_of(op), cmd_of(op), arg_of(op, 0));
	if (r < 0)
		note_error(-errno);
}

static void do_batch(enum op op, unsigned int n)
{
	struct io_uring_cqe *cqe;
	unsigned int i, seen;
	int r;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct gpumux_uring_cmd uc = {
			.addr = (uintptr_t)arg_of(op, i),
			.len = op == OP_GET_INFO ? sizeof(infos[0]) :
						   sizeof(sets[0]),
		};

		fill_arg(op, i);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fixed_file ? 0 : ctl,
				 NULL, 0, 0);
		if (fixed_file)
			sqe->flags |= IOSQE_FIXED_FILE;
		sqe->cmd_op = cmd_of(op);
		memcpy(sqe->cmd, &uc, sizeof(uc));
		sqe->user_data = i;
	}
	r = io_uring_submit_and_wait(&ring, n);
	if (r < 0) {
		note_error(r);
		return;
	}
	for (seen = 0; seen < n; seen++) {
		r = io_uring_wait_cqe(&ring, &cqe);
		if (r < 0) {
			note_error(r);
			return;
		}
		if (cqe->res < 0)
			note_error(cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
}

/* One unit of work: an op by ioctl, or a batch of @batch by uring. */
static void unit(enum op op, int uring, unsigned int batch)
{
	if (uring)
		do_batch(op, batch);
	else
		do_ioctl(op);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 7

/* Latency samples of one configuration, over all rounds. */
struct samples {
	double *v;
	unsigned long n, cap;
};

static void add_sample(struct samples *s, double us)
{
	if (s->n == s->cap) {
		unsigned long cap = s->cap ? 2 * s->cap : 1 << 16;
		double *nv = realloc(s->v, cap * sizeof(double));

		if (!nv)
			return;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = us;
}

static double median(double *v, unsigned int n);

/*
 * Throughput for @secs: the time of each chunk of CHUNK operations; the
 * rate of the median chunk (robust to the VM being preempted now and then
 * on a busy host).
 */
static double run_throughput(const struct result *res, double secs)
{
	unsigned int per = res->uring ? res->batch : 1, i, nc = 0;
	unsigned int units = CHUNK / per + !!(CHUNK % per);
	unsigned long since_drain = 0;
	static double rate[1 << 16];
	double t0, t, end;

	if (res->op == OP_PART_SET)
		drain();
	end = now() + secs;
	for (;;) {
		t0 = now();
		for (i = 0; i < units; i++)
			unit(res->op, res->uring, res->batch);
		t = now();
		if (nc < ARRAY_SIZE(rate))
			rate[nc++] = units * per / (t - t0);
		since_drain += units * per;
		if (t >= end)
			break;
		if (res->op == OP_PART_SET && since_drain >= DRAIN_EVERY) {
			drain();
			since_drain = 0;
		}
	}
	return median(rate, nc);
}

/* Latency for @secs: the clock around every operation or batch. */
static void run_latency(const struct result *res, double secs,
			struct samples *s)
{
	unsigned int per = res->uring ? res->batch : 1;
	unsigned long since_drain = 0;
	double end = now() + secs;

	if (res->op == OP_PART_SET)
		drain();
	for (;;) {
		double a = now(), b;

		unit(res->op, res->uring, res->batch);
		b = now();
		/* Less the clock's own cost, once per interval. */
		add_sample(s, ((b - a) * 1e6 - clk_us > 0 ?
				       (b - a) * 1e6 - clk_us :
				       0) /
				      per);
		since_drain += per;
		if (b >= end)
			break;
		if (res->op == OP_PART_SET && since_drain >= DRAIN_EVERY) {
			drain();
			since_drain = 0;
		}
	}
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/*
 * Measure the 4 configurations of @op (ioctl, uring 1, 16, 64) in ROUNDS
 * interleaved rounds, so that a noisy neighbour hits them alike: ops/s is
 * the median over the rounds, the ratio to ioctl the median of the
 * per-round ratios, p50/p99 over all latency samples.
 */
static double spread[OP_NR]; /* ioctl ops/s: best round / worst round */
static int iowq_seen[OP_NR]; /* io-wq workers (iou-wrk-*) seen at the end */

/*
 * io_uring's worker threads of this process: a command issued
 * non-blocking that returns -EAGAIN is re-issued from one of them.
 */
static int count_iowq(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fgets(comm, sizeof(comm), f) &&
			    !strncmp(comm, "iou-wrk", 7))
				n++;
			fclose(f);
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void measure_op(struct result *res, double *ratio)
{
	double thr[4][ROUNDS], rat[4][ROUNDS], lo = 1e30, hi = 0;
	struct samples lat[4] = { { 0 } };
	unsigned int r, k, c;
	double end;

	for (k = 0; k < 4; k++) {
		/* Warm up (and settle the partition's state). */
		end = now() + 0.05;
		while (now() < end)
			unit(res[k].op, res[k].uring, res[k].batch);
	}
	for (r = 0; r < ROUNDS; r++) {
		for (c = 0; c < 4; c++) {
			k = (c + r) % 4; /* rotate the order */
			thr[k][r] =
				run_throughput(&res[k], phase_secs / ROUNDS);
			run_latency(&res[k], phase_secs / ROUNDS / 2, &lat[k]);
		}
		for (k = 0; k < 4; k++)
			rat[k][r] = thr[k][r] / thr[0][r];
		lo = thr[0][r] < lo ? thr[0][r] : lo;
		hi = thr[0][r] > hi ? thr[0][r] : hi;
	}
	spread[res[0].op] = hi / lo;
	iowq_seen[res[0].op] = count_iowq();
	for (k = 0; k < 4; k++) {
		res[k].ops_per_s = median(thr[k], ROUNDS);
		ratio[k] = median(rat[k], ROUNDS);
		if (lat[k].n) {
			qsort(lat[k].v, lat[k].n, sizeof(double), cmp_double);
			res[k].p50 = lat[k].v[(lat[k].n - 1) / 2];
			res[k].p99 = lat[k].v[(size_t)((lat[k].n - 1) * 0.99)];
		}
		res[k].n = lat[k].n;
		free(lat[k].v);
	}
}

static int setup_ring(void)
{
	static const struct {
		unsigned int flags;
		const char *name;
	} tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		  "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ 0, "none" },
	};
	const char *e = getenv("KMOD_BENCH_RING");
	unsigned int i = e ? (unsigned int)atoi(e) % 3 : 0;
	int r = -EINVAL;

	for (; i < ARRAY_SIZE(tries); i++) {
		struct io_uring_params p = { .flags = tries[i].flags };

		r = io_uring_queue_init_params(MAXB * 2, &ring, &p);
		if (!r) {
			ring_flags = tries[i].name;
			break;
		}
	}
	if (r)
		return r;
	e = getenv("KMOD_BENCH_FIXED");
	fixed_file = !e || atoi(e);
	return fixed_file ? io_uring_register_files(&ring, &ctl, 1) : 0;
}

static void clocksource(char *buf, size_t n)
{
	FILE *f = fopen(
		"/sys/devices/system/clocksource/clocksource0/current_clocksource",
		"r");

	snprintf(buf, n, "?");
	if (f) {
		if (fgets(buf, (int)n, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	static const unsigned int batches[] = { 1, 16, 64 };
	struct result res[OP_NR * 4];
	double ratios[OP_NR * 4];
	const char *env = getenv("KMOD_BENCH_SECS");
	double t_start = now(), tclk;
	unsigned int nres = 0, i, k;
	char ident[64], cs[64];
	int op, r;
	FILE *csv;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CSV_FILE\n", argv[0]);
		return 2;
	}
	if (env && atof(env) > 0)
		phase_secs = atof(env);
	env = getenv("KMOD_BENCH_PART_MODE");
	part_mode = !env		   ? 0 :
		    !strcmp(env, "same")   ? 1 :
		    !strcmp(env, "einval") ? 2 :
					     0;
	setvbuf(stdout, NULL, _IOLBF, 0);

	ctl = gm_open_control(0);
	if (ctl < 0) {
		fprintf(stderr, "kmod-bench: open %s: %s\n", GPUMUX_DEVICE_PATH,
			strerror(-ctl));
		return 1;
	}
	snprintf(ident, sizeof(ident), "bench:%d", getpid());
	r = gm_gpu_add(ctl, 128, ident, GM_IOCTL);
	if (r <= 0) {
		fprintf(stderr, "kmod-bench: GPU_ADD: %s\n", strerror(-r));
		return 1;
	}
	gpu_id = (unsigned int)r;
	tfd = gm_tenant_create(ctl, "bench", 128, 0, &tenant_id, GM_IOCTL);
	if (tfd < 0) {
		fprintf(stderr, "kmod-bench: TENANT_CREATE: %s\n",
			strerror(-tfd));
		return 1;
	}
	fcntl(tfd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < MAXB; i++) {
		sets[i].tenant_id = tenant_id;
		sets[i].gpu_id = gpu_id;
		sets[i].flags = GPUMUX_PART_EXCLUSIVE;
		sets[i].deadline_ms = 600000;
	}
	r = setup_ring();
	if (r) {
		fprintf(stderr, "kmod-bench: io_uring setup: %s\n",
			strerror(-r));
		return 1;
	}

	/* One CPU: no migrations in the middle of a measurement. */
	{
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	/*
	 * What reading the clock costs (hpet under TCG: microseconds): the
	 * median of back-to-back intervals is taken off each latency sample.
	 */
	{
		static double d[2001];

		for (i = 0; i < 2001; i++) {
			double a = now();

			d[i] = (now() - a) * 1e6;
		}
		clk_us = median(d, 2001);
		tclk = clk_us * 1000;
	}
	clocksource(cs, sizeof(cs));
	printf("kmod-bench: %.1f s per phase; ring flags %s, %s file; clocksource %s, one clock read %.0f ns (taken off latencies)%s\n",
	       phase_secs, ring_flags, fixed_file ? "fixed" : "plain", cs, tclk,
	       part_mode == 1 ? "; part_set: SAME mask each time" :
	       part_mode == 2 ? "; part_set: EINVAL (reserved set)" :
				"");

	for (op = 0; op < OP_NR; op++) {
		for (k = 0; k < 4; k++) {
			struct result *x = &res[nres + k];

			memset(x, 0, sizeof(*x));
			x->op = (enum op)op;
			x->uring = k > 0;
			x->batch = k ? batches[k - 1] : 1;
		}
		measure_op(&res[nres], &ratios[nres]);
		nres += 4;
	}

	printf("\nkmod-bench results: ops/s = median over %d interleaved rounds of the median rate of\n"
	       "256-op chunks; x ioctl = median of the per-round ratios; latency per op (batch of N:\n"
	       "batch time / N), one clock read included\n",
	       ROUNDS);
	printf("%-9s %-6s %5s %12s %9s %9s %9s\n", "op", "path", "batch",
	       "ops/s", "p50_us", "p99_us", "x ioctl");
	for (i = 0; i < nres; i++) {
		struct result *x = &res[i];

		printf("%-9s %-6s %5u %12.0f %9.2f %9.2f %8.2fx\n",
		       op_name[x->op], x->uring ? "uring" : "ioctl", x->batch,
		       x->ops_per_s, x->p50, x->p99, ratios[i]);
	}
	printf("\nkmod-bench: part_set = one real change each (exclusive partition, target 0-31 <-> 0-63: "
	       "grow into free CUs, or shrink to REVOKING with an event; the next grow cancels it)\n");
	for (op = 0; op < OP_NR; op++) {
		double best = 0;
		unsigned int bb = 0;

		for (k = 2; k < 4; k++)
			if (ratios[op * 4 + k] > best) {
				best = ratios[op * 4 + k];
				bb = res[op * 4 + k].batch;
			}
		printf("kmod-bench: goal batched uring >= 2x ioctl: %s: %.2fx at batch %u: %s (noise: ioctl rounds vary %.2fx; io-wq workers after: %d)\n",
		       op_name[op], best, bb, best >= 2 ? "met" : "NOT met",
		       spread[op], iowq_seen[op]);
	}

	csv = fopen(argv[1], "w");
	if (!csv) {
		fprintf(stderr, "kmod-bench: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	fprintf(csv, "op,path,batch,ops_per_s,p50_us,p99_us\n");
	for (i = 0; i < nres; i++)
		fprintf(csv, "%s,%s,%u,%.0f,%.3f,%.3f\n", op_name[res[i].op],
			res[i].uring ? "uring" : "ioctl", res[i].batch,
			res[i].ops_per_s, res[i].p50, res[i].p99);
	fclose(csv);

	/* Leave nothing behind. */
	io_uring_queue_exit(&ring);
	close(tfd);
	for (i = 0; i < 50 && gm_gpu_remove(ctl, gpu_id, GM_IOCTL) == -EBUSY;
	     i++)
		usleep(100000);
	close(ctl);
	printf("kmod-bench: %.1f s in all; %lu command errors%s%s\n",
	       now() - t_start, n_errors, n_errors ? ", first: " : "",
	       n_errors ? strerror(-first_error) : "");
	return n_errors ? 1 : 0;
}
