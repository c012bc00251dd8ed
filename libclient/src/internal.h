/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libgpumux internals, shared by the library's files and its unit tests
 * (which link the static archive).  Nothing here is exported from the
 * shared library: libgpumux.sym lists what is.
 */
#ifndef GPUMUX_CLIENT_INTERNAL_H
#define GPUMUX_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/gpumux.h>
#include <systemd/sd-bus.h>

#include "gpumux/client.h"

/*
 * A tenant.  Reference counted: the user's handle holds one reference and
 * each buffer handle one, so buffer handles outlive gpumux_tenant_close().
 */
struct gpumux_tenant {
	atomic_int refs;
	/*
	 * The lease; -1 once closed.  Written only by gpumux_tenant_close(),
	 * which the caller keeps exclusive of every other call.
	 */
	int fd;
	uint32_t id; /* the module's tenant id */
	char *path; /* D-Bus object path */
	char *bus_address; /* NULL: the system bus */
	uint64_t timeout_usec; /* D-Bus call timeout, 0: sd-bus default */

	pthread_mutex_t bus_lock; /* protects bus */
	sd_bus *bus; /* opened on first use, NULL until then */

	pthread_mutex_t cb_lock; /* protects cb and cb_data */
	gpumux_partition_cb cb;
	void *cb_data;

	pthread_mutex_t dispatch_lock; /* one reader of events at a time */
};

/* A buffer handle. */
struct gpumux_buffer {
	struct gpumux_tenant *t; /* holds a reference */
	struct gpumux_buffer_info info;
	uint64_t mmap_offset;
	bool allocated; /* from gpumux_buffer_alloc(): free it in the module */

	pthread_mutex_t lock; /* protects addr and prot */
	void *addr; /* the mapping, NULL when unmapped */
	int prot;
};

/* tenant.c */
struct gpumux_tenant *gm_tenant_get(struct gpumux_tenant *t);
void gm_tenant_put(struct gpumux_tenant *t);
/* Issue module command @op on the lease: 0 or -errno (EBADF if closed). */
int gm_tenant_ioctl(struct gpumux_tenant *t, unsigned long op, void *arg);
/*
 * Parse a lease fd number as $GPUMUX_LEASE_FD holds it: decimal, no sign,
 * no spaces, at most INT_MAX.  0 with *@fd, or -EINVAL.
 */
int gm_parse_fd(const char *s, int *fd);
/*
 * A valid tenant name for Attach: 1..GM_NAME_MAX printable ASCII
 * characters.
 */
bool gm_name_valid(const char *name);

/* bus.c */
/* Register the library's error map with sd-bus (once per process). */
void gm_bus_errors_init(void);
/* The errno of D-Bus error @e as the library reports it (> 0). */
int gm_bus_error_errno(const sd_bus_error *e);
/* Open a bus connection: @address, or the system bus when NULL. */
int gm_bus_open(const char *address, uint64_t timeout_usec, sd_bus **out);
/* Validate attach params: 0, -EINVAL or -ERANGE. */
int gm_attach_params_check(const struct gpumux_attach_params *p);
/* Validate a load report: 0 or -EINVAL. */
int gm_load_check(const struct gpumux_load *l);
/*
 * Call Manager.Attach on @bus with @p's options; on success *@path
 * (malloc'ed) and *@fd (a new O_CLOEXEC fd) are set.
 */
int gm_bus_attach(sd_bus *bus, const struct gpumux_attach_params *p,
		  char **path, int *fd);
/* Call Manager.Detach / Manager.ReportLoad for @t (takes bus_lock). */
int gm_bus_detach(struct gpumux_tenant *t);
int gm_bus_report_load(struct gpumux_tenant *t, const struct gpumux_load *l);

#endif /* GPUMUX_CLIENT_INTERNAL_H */
