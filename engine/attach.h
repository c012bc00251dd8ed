/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumux-engine serve --attach: the server's host as a gpumux tenant
 * (attach.c, on libgpumux).  See engine/README.md, "serve --attach".
 */
#ifndef GPUMUX_ENGINE_ATTACH_H
#define GPUMUX_ENGINE_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "server.h"

struct gma_options {
	const char *name; /* tenant name for Attach */
	uint32_t weight; /* 0: the daemon's default */
	uint32_t min_cus;
	uint32_t max_cus; /* 0: no cap */
	uint64_t pinned_quota; /* bytes; 0: the daemon's default */
	/*
	 * Threads when holding the whole GPU (--threads); 0: the CPUs this
	 * process may run on.  The partition's share of the GPU's CUs scales
	 * it: threads = max(1, round(cpus * CUs held / CUs of the GPU)).
	 */
	int cpus;
	bool verbose;
};

/*
 * Threads for a partition of cus CUs of a GPU of gpu_cus CUs, out of cpus:
 * max(1, round(cpus * cus / gpu_cus)) (halves round up), at most cpus.
 */
static inline int gma_threads_for(int cpus, int32_t cus, int32_t gpu_cus)
{
	int64_t n;

	if (cpus < 1)
		cpus = 1;
	if (cus <= 0 || gpu_cus <= 0)
		return 1;
	if (cus > gpu_cus)
		cus = gpu_cus;
	n = (2 * (int64_t)cpus * cus + gpu_cus) / (2 * (int64_t)gpu_cus);
	return n < 1 ? 1 : n > cpus ? cpus : (int)n;
}

/*
 * The host for gms_serve(): acquire() takes the lease (the one in
 * $GPUMUX_LEASE_FD when set, as `gpumuxctl attach` passes it, else
 * Attach over D-Bus), allocates the KV pool as a pinned buffer; start()
 * runs the lease thread (partition changes, load reports); release()
 * frees the buffer and detaches.  0 or -ENOMEM.
 */
int gma_host_new(const struct gma_options *o, struct gms_host_ops **out);
void gma_host_free(struct gms_host_ops *ops);

#endif /* GPUMUX_ENGINE_ATTACH_H */
