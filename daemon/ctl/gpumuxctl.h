/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gpumuxctl: what its files share (the bus, the options, the objects read
 * from gpumuxd).  The pure helpers are in ctl.h.
 */
#ifndef GPUMUXCTL_H
#define GPUMUXCTL_H

#include "ctl.h"
#include "bus-api.h"

#include <systemd/sd-bus.h>

#ifndef GPUMUXCTL_VERSION
#define GPUMUXCTL_VERSION "0.1.0"
#endif

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

/* Global options. */
extern bool arg_json;
extern bool arg_legend;
extern const char *arg_address;

/* The connection, opened by bus_connect(). */
extern sd_bus *bus;

/*
 * The helpers below return an exit status: 0, or not 0 once the error has
 * been reported on stderr.
 */
int bus_connect(void);
/* Reports a failed bus operation (error may be NULL or unset). */
int report_bus_error(const sd_bus_error *error, int r, const char *what);
/* Reports a usage error and the hint; returns CTL_EXIT_USAGE. */
int usage_error(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reports a local failure (r: -errno); returns CTL_EXIT_ERROR. */
int fail(int r, const char *what);

struct mask {
	uint8_t bits[CTL_MASK_BYTES];
	size_t len;
};

/* One entry of a tenant's Load (a{sv}; basic values only). */
struct load_item {
	char *key;
	char type; /* 'u' (unsigned), 'i' (signed), 'd', 'b', 's' */
	union {
		uint64_t u;
		int64_t i;
		double d;
		char *s;
	} v;
};

#define MAX_LOAD_ITEMS 16

/* A basic D-Bus value, as sd_bus_message_read_basic() stores it. */
union bus_basic {
	uint8_t y;
	int16_t n;
	uint16_t q;
	int32_t i;
	uint32_t u;
	int64_t x;
	uint64_t t;
	double d;
	int b;
	const char *s;
};

struct manager_info {
	char *version;
	char *policy;
	uint32_t module_version;
	uint64_t module_features;
	uint64_t pinned_limit, pinned_used;
	uint32_t ngpus, ntenants;
	uint64_t attaches, detaches, tenants_gone, rebalances, fences;
	uint32_t adopted;
};

struct gpu_info {
	/* ListGPUs */
	uint32_t id;
	char *path, *name;
	uint32_t cus, used;
	uint64_t vram;
	/* GetAll, when have_props */
	bool have_props;
	char *driver;
	char **tenants; /* object paths */
	size_t ntenants;
};

struct tenant_info {
	/* ListTenants */
	uint32_t id;
	char *path, *name;
	uint32_t uid, pid, gpu, cus;
	bool fenced;
	/* GetAll, when have_props (not when it went away meanwhile) */
	bool have_props;
	uint32_t weight, min_cus, max_cus, preferred_gpu;
	struct mask target, active;
	uint64_t generation, pinned_quota, pinned_bytes;
	bool pinned;
	struct load_item load[MAX_LOAD_ITEMS];
	size_t nload;
};

/* list.c */
int get_manager(struct manager_info *m);
void manager_info_free(struct manager_info *m);
int list_gpus(struct gpu_info **gpus, size_t *n, bool props);
void gpus_free(struct gpu_info *gpus, size_t n);
int list_tenants(struct tenant_info **tenants, size_t *n, bool props);
void tenants_free(struct tenant_info *tenants, size_t n);
int verb_status(int argc, char **argv);
int verb_tenants(int argc, char **argv);
int verb_gpus(int argc, char **argv);

/* watch.c */
int verb_watch(int argc, char **argv);

#endif /* GPUMUXCTL_H */
