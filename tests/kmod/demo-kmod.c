// SPDX-License-Identifier: GPL-2.0
/*
 * demo-kmod: a guided tour of gpumux.ko, run inside the VM by `make demo`.
 *
 * Plays the daemon's part by hand: registers a virtual GPU, creates two
 * tenants, splits the GPU's CUs between them, shares a pinned buffer
 * read-only, moves CUs from one tenant to the other through the
 * revoke/acknowledge protocol, fences a tenant that ignores a revocation,
 * and shows a killed tenant's lease being reclaimed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmtest.h"

static int ctl;

static void die(const char *what, int err)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror(-err));
	exit(1);
}

static int must(const char *what, int ret)
{
	if (ret < 0)
		die(what, ret);
	return ret;
}

static const char *const state_name[] = { "stable", "REVOKING", "GROWING" };

/* "0-151" style ranges of a mask. */
static void ranges(const __u64 *m, char *out, size_t len)
{
	int i, start = -1;
	size_t o = 0;

	out[0] = '\0';
	for (i = 0; i <= GPUMUX_MAX_CUS; i++) {
		int set = i < GPUMUX_MAX_CUS && (m[i / 64] >> (i % 64)) & 1;

		if (set && start < 0)
			start = i;
		if (!set && start >= 0) {
			o += snprintf(out + o, len - o, "%s%d", o ? "," : "",
				      start);
			if (i - 1 > start)
				o += snprintf(out + o, len - o, "-%d", i - 1);
			start = -1;
		}
		if (o >= len)
			break;
	}
	if (!out[0])
		snprintf(out, len, "-");
}

static void show_ledger(const char *title, unsigned int gpu_cus)
{
	struct gpumux_tenant_info ti[16];
	struct gpumux_part_info pi[64];
	struct gpumux_list lt = { .kind = GPUMUX_LIST_TENANTS,
				  .entry_size = sizeof(ti[0]),
				  .addr = (uintptr_t)ti, .capacity = 16 };
	struct gpumux_list lp = { .kind = GPUMUX_LIST_PARTITIONS,
				  .entry_size = sizeof(pi[0]),
				  .addr = (uintptr_t)pi, .capacity = 64 };
	unsigned int i, j;

	must("list tenants", GM_CMD(ctl, GPUMUX_CMD_LIST, &lt, GM_URING));
	must("list partitions", GM_CMD(ctl, GPUMUX_CMD_LIST, &lp, GM_URING));
	printf("\n  -- %s --\n", title);
	printf("  %-4s %-10s %-7s %-8s %-5s %-12s %-12s %s\n", "id", "tenant",
	       "fenced", "state", "gen", "active", "target", "pinned");
	for (i = 0; i < lt.count; i++) {
		char a[64] = "-", t[64] = "-";
		const char *st = "-";
		unsigned long long gen = 0;
		unsigned int act = 0;

		for (j = 0; j < lp.count; j++) {
			if (pi[j].tenant_id != ti[i].tenant_id)
				continue;
			ranges(pi[j].active, a, sizeof(a));
			ranges(pi[j].target, t, sizeof(t));
			st = state_name[pi[j].state % 3];
			gen = pi[j].generation;
			act = gm_mask_weight(pi[j].active);
		}
		printf("  %-4u %-10s %-7s %-8s %-5llu %-12s %-12s %llu KiB\n",
		       ti[i].tenant_id, ti[i].name,
		       ti[i].flags & GPUMUX_TENANT_FENCED ? "yes" : "no", st,
		       gen, a, t, (unsigned long long)ti[i].pinned_used >> 10);
		printf("       [");
		for (j = 0; j < 40; j++)
			putchar(j < act * 40 / gpu_cus ? '#' : '.');
		printf("] %u/%u CUs\n", act, gpu_cus);
	}
}

static const char *event_name(unsigned int type)
{
	static const char *const n[] = {
		[GPUMUX_EVENT_TENANT_GONE] = "TENANT_GONE",
		[GPUMUX_EVENT_PART_ACKED] = "PART_ACKED",
		[GPUMUX_EVENT_PART_FENCED] = "PART_FENCED",
		[GPUMUX_EVENT_PART_GRANTED] = "PART_GRANTED",
		[GPUMUX_EVENT_PART_CHANGED] = "PART_CHANGED",
		[GPUMUX_EVENT_FENCED] = "FENCED",
		[GPUMUX_EVENT_GRANT_REVOKED] = "GRANT_REVOKED",
		[GPUMUX_EVENT_GRANT_ADDED] = "GRANT_ADDED",
		[GPUMUX_EVENT_OVERFLOW] = "OVERFLOW",
	};

	return type < sizeof(n) / sizeof(n[0]) && n[type] ? n[type] : "?";
}

static void drain_events(const char *who, int fd)
{
	struct gpumux_event ev[32];
	int i, n = gm_events(fd, ev, 32, GM_IOCTL);

	for (i = 0; i < n; i++) {
		printf("  event to %-7s %-13s tenant=%u", who,
		       event_name(ev[i].type), ev[i].tenant_id);
		if (ev[i].buf_id)
			printf(" buf=%u access=%s\n", ev[i].buf_id,
			       ev[i].arg ? "rw" : "ro");
		else if (ev[i].gpu_id)
			printf(" gpu=%u gen=%llu\n", ev[i].gpu_id,
			       (unsigned long long)ev[i].generation);
		else
			printf("\n");
	}
}

static void step(const char *text)
{
	printf("\n== %s\n", text);
	fflush(stdout);
}

int main(void)
{
	const unsigned int cus = 304, half = 152;
	unsigned int gpu, ta, tb, tc, buf;
	struct gpumux_part_info pi;
	struct gpumux_part_ack ack = { 0 };
	uint64_t off, gen;
	int fa, fb, fc;
	char *pa, *pb;
	pid_t child;
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl = must("open /dev/gpumux", gm_open_control(O_NONBLOCK));

	step("The daemon registers a virtual GPU with 304 CUs (an MI300X's count)");
	gpu = must("gpu add", gm_gpu_add(ctl, cus, "virtual:0", GM_URING));
	printf("  gpu %u: virtual:0, %u CUs\n", gpu, cus);

	step("Two tenants attach: each gets a tenant fd, its lease");
	fa = must("tenant a", gm_tenant_create(ctl, "llama-a", cus, 64 << 20,
					       &ta, GM_URING));
	fb = must("tenant b", gm_tenant_create(ctl, "llama-b", cus, 64 << 20,
					       &tb, GM_URING));
	must("part a", gm_part_set_range(ctl, ta, gpu, 0, half, 0, 0, NULL,
					 GM_URING));
	must("part b", gm_part_set_range(ctl, tb, gpu, half, cus - half, 0, 0,
					 NULL, GM_URING));
	show_ledger("exclusive halves", cus);

	step("llama-a pins 16 MiB (zeroed) and writes to it; llama-b gets a read-only grant");
	must("alloc", gm_buf_alloc(fa, 16 << 20, &buf, &off, GM_IOCTL));
	pa = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fa, off);
	if (pa == MAP_FAILED)
		die("mmap a", -errno);
	strcpy(pa, "LoRA adapter weights, loaded once");
	{
		struct gpumux_grant g = { .buf_id = buf, .tenant_id = tb,
					  .access = GPUMUX_ACCESS_RO };

		must("grant", GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, GM_URING));
	}
	pb = mmap(NULL, 16 << 20, PROT_READ, MAP_SHARED, fb, off);
	if (pb == MAP_FAILED)
		die("mmap b", -errno);
	printf("  llama-b reads the same pages: \"%s\"\n", pb);
	printf("  llama-b asks to write them: mprotect -> %s\n",
	       mprotect(pb, 4096, PROT_READ | PROT_WRITE) ? strerror(errno) :
								  "allowed (BUG)");
	drain_events("llama-b", fb);

	step("Rebalance: llama-a shrinks to 100 CUs, llama-b grows to 204");
	must("shrink a", gm_part_set_range(ctl, ta, gpu, 0, 100, 0, 2000, &gen,
					   GM_URING));
	must("grow b", gm_part_set_range(ctl, tb, gpu, 100, cus - 100, 0, 0,
					 NULL, GM_URING));
	show_ledger("llama-a must acknowledge before llama-b gets CUs 100-151",
		    cus);
	drain_events("llama-a", fa);
	printf("  llama-a moves its streams to CUs 0-99 and acknowledges gen %llu\n",
	       (unsigned long long)gen);
	ack.gpu_id = gpu;
	ack.generation = gen;
	must("ack", GM_CMD(fa, GPUMUX_CMD_PART_ACK, &ack, GM_IOCTL));
	show_ledger("acknowledged: the freed CUs went to llama-b at once", cus);
	drain_events("daemon", ctl);

	step("llama-b is told to give back 104 CUs within 300 ms and does not answer");
	must("shrink b", gm_part_set_range(ctl, tb, gpu, 100, 100, 0, 300, NULL,
					   GM_URING));
	usleep(700 * 1000);
	show_ledger("past the deadline: llama-b is fenced, holds nothing", cus);
	drain_events("daemon", ctl);
	must("part get", gm_part_get(ctl, ta, gpu, &pi, GM_IOCTL));

	step("A third tenant runs in a child process, pins memory, and is killed");
	fc = must("tenant c", gm_tenant_create(ctl, "crashy", 64, 8 << 20, &tc,
					       GM_IOCTL));
	must("part c", gm_part_set_range(ctl, tc, gpu, 200, 64, 0, 0, NULL,
					 GM_IOCTL));
	child = fork();
	if (child == 0) {
		char *p;

		if (gm_buf_alloc(fc, 8 << 20, NULL, &off, GM_IOCTL))
			_exit(1);
		p = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fc,
			 off);
		if (p == MAP_FAILED)
			_exit(1);
		memset(p, 0xab, 8 << 20);
		pause();
		_exit(0);
	}
	close(fc); /* the child holds the only reference now */
	usleep(300 * 1000);
	show_ledger("crashy holds 64 CUs and 8 MiB", cus);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	printf("  child killed (SIGKILL)\n");
	drain_events("daemon", ctl);
	show_ledger("its CUs and memory are back in the pools", cus);

	step("Everyone closes: leases end, memory is freed");
	munmap(pa, 16 << 20);
	munmap(pb, 16 << 20);
	close(fa);
	close(fb);
	drain_events("daemon", ctl);
	must("gpu remove", gm_gpu_remove(ctl, gpu, GM_IOCTL));
	printf("  pinned bytes now: %lld, tenant objects: %lld\n",
	       gm_counter("pinned_bytes"), gm_counter("tenants"));
	close(ctl);
	return 0;
}
