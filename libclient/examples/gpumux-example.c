// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpumux-example: a minimal libgpumux tenant.
 *
 * Attaches to gpumuxd (or adopts the lease `gpumuxctl attach` passes),
 * prints its partitions, allocates and maps a pinned buffer and writes to
 * it, reports a load, waits for one partition event (acknowledging a
 * shrink), and detaches.
 *
 *   gpumux-example [NAME [TIMEOUT_MS]]
 *
 * Build:
 *   cc -o gpumux-example gpumux-example.c \
 *      $(pkg-config --cflags --libs gpumux)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <gpumux/client.h>

static void print_partition(const struct gpumux_partition *p)
{
	static const char *const states[] = { "stable", "revoking", "growing" };
	char active[512], target[512];

	if (gpumux_mask_format(p->active, active, sizeof(active)) < 0)
		snprintf(active, sizeof(active), "(long)");
	if (gpumux_mask_format(p->target, target, sizeof(target)) < 0)
		snprintf(target, sizeof(target), "(long)");
	printf("  gpu %u: %d CUs [%s], target %d CUs [%s], %s, generation %llu\n",
	       p->gpu_id, gpumux_mask_count(p->active), active,
	       gpumux_mask_count(p->target), target,
	       p->state < 3 ? states[p->state] : "?",
	       (unsigned long long)p->generation);
}

/* Called by gpumux_tenant_dispatch() for each event. */
static void on_event(struct gpumux_tenant *t,
		     const struct gpumux_tenant_event *ev, void *data)
{
	struct gpumux_partition p;
	int *seen = data;

	if (ev->type != GPUMUX_TENANT_EVENT_PARTITION_CHANGED) {
		printf("event %u (buffer %u, arg %llu)\n", ev->type, ev->buf_id,
		       (unsigned long long)ev->arg);
		return;
	}
	(*seen)++;
	printf("partition changed on gpu %u, generation %llu:\n", ev->gpu_id,
	       (unsigned long long)ev->generation);
	if (gpumux_tenant_partition(t, ev->gpu_id, &p) < 0)
		return;
	print_partition(&p);
	/* An engine would first move its streams onto the new mask. */
	if (p.state == GPUMUX_PARTITION_REVOKING)
		printf("  ack: %s\n",
		       strerror(-gpumux_tenant_ack(t, p.gpu_id, p.generation)));
}

int main(int argc, char **argv)
{
	struct gpumux_attach_params ap = gpumux_attach_default_params();
	struct gpumux_load load = gpumux_load_default_params();
	struct gpumux_partition parts[8];
	struct gpumux_buffer *buf = NULL;
	struct gpumux_tenant *t = NULL;
	int timeout_ms = argc > 2 ? atoi(argv[2]) : 5000;
	int seen = 0, r;
	unsigned int n_ev;
	const char *path;
	size_t n = 0, i;
	void *addr;

	/* Started by `gpumuxctl attach`?  Then the lease is inherited. */
	r = gpumux_tenant_from_env(NULL, &t);
	if (r == 0) {
		printf("adopted the lease from $%s\n", GPUMUX_ENV_LEASE_FD);
	} else if (r == -ENOENT) {
		ap.name = argc > 1 ? argv[1] : "gpumux-example";
		r = gpumux_tenant_attach(&ap, &t);
	}
	if (r < 0) {
		fprintf(stderr, "gpumux-example: cannot attach: %s\n",
			strerror(-r));
		return 1;
	}
	gpumux_tenant_object_path(t, &path);
	printf("tenant %d: %s\n", gpumux_tenant_id(t), path);

	r = gpumux_tenant_partitions(t, parts, 8, &n);
	if (r < 0 && r != -ENOBUFS)
		fprintf(stderr, "partitions: %s\n", strerror(-r));
	printf("%zu partition(s)%s\n", n, n ? ":" : " (not placed yet)");
	for (i = 0; i < n && i < 8; i++)
		print_partition(&parts[i]);

	r = gpumux_buffer_alloc(t, 1 << 20, &buf);
	if (r == 0)
		r = gpumux_buffer_map(buf, PROT_READ | PROT_WRITE, &addr);
	if (r < 0) {
		fprintf(stderr, "buffer: %s\n", strerror(-r));
	} else {
		snprintf(addr, 64, "hello from tenant %d", gpumux_tenant_id(t));
		printf("buffer %d mapped at %p: \"%s\"\n",
		       gpumux_buffer_id(buf), addr, (char *)addr);
	}

	load.running = 1;
	load.waiting = 0;
	load.kv_blocks_used = 16;
	load.kv_blocks_total = 256;
	load.tokens_per_s = 42.0;
	r = gpumux_tenant_report_load(t, &load);
	printf("load report: %s\n", r < 0 ? strerror(-r) : "sent");

	/*
	 * Wait for one partition event.  An event loop would poll
	 * gpumux_tenant_fd() for POLLIN and call gpumux_tenant_dispatch(t, 0).
	 */
	gpumux_tenant_set_partition_callback(t, on_event, &seen);
	r = gpumux_tenant_dispatch(t, timeout_ms, &n_ev);
	if (r < 0)
		fprintf(stderr, "dispatch: %s\n", strerror(-r));
	else if (!n_ev)
		printf("no event within %d ms\n", timeout_ms);

	gpumux_buffer_free(buf);
	r = gpumux_tenant_detach(t);
	printf("detach: %s\n", r < 0 ? strerror(-r) : "done");
	return r < 0 ? 1 : 0;
}
