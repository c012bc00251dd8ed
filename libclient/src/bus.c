// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libgpumux: the D-Bus side.  Connects to the bus, calls the Manager's
 * Attach, Detach and ReportLoad, and maps org.gpumux.Scheduler1.Error.*
 * names to errno values.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-api.h"
#include "internal.h"

/*
 * The daemon's error names and errno values (daemon/bus-api.h); registered
 * with sd-bus so that sd_bus_call() and sd_bus_error_get_errno() return
 * these values.
 */
static const sd_bus_error_map gm_client_error_map[] = {
	GM_BUS_ERROR_MAP_ENTRIES,
	SD_BUS_ERROR_MAP_END
};

static pthread_once_t gm_errors_once = PTHREAD_ONCE_INIT;

static void gm_errors_register(void)
{
	/* Fails only for lack of memory; gm_bus_error_errno() copes. */
	(void)sd_bus_error_add_map(gm_client_error_map);
}

void gm_bus_errors_init(void)
{
	pthread_once(&gm_errors_once, gm_errors_register);
}

int gm_bus_error_errno(const sd_bus_error *e)
{
	const sd_bus_error_map *m;
	int r;

	gm_bus_errors_init();
	/* Our names first, in case registering the map failed. */
	if (e && e->name)
		for (m = gm_client_error_map; m->name; m++)
			if (!strcmp(m->name, e->name))
				return m->code;
	r = sd_bus_error_get_errno(e);
	return r > 0 ? r : EIO;
}

/* The system bus when $DBUS_SYSTEM_BUS_ADDRESS is unset (as sd-bus has it). */
#define GM_SYSTEM_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"

int gm_bus_open(const char *address, uint64_t timeout_usec, sd_bus **out)
{
	sd_bus *bus = NULL;
	int r;

	gm_bus_errors_init();
	/*
	 * The system bus as sd_bus_open_system() finds it, but set up by
	 * hand so the call timeout also covers the Hello sd_bus_start() sends.
	 */
	if (!address) {
		address = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
		if (!address || !*address)
			address = GM_SYSTEM_BUS_DEFAULT;
	}
	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sd_bus_set_address(bus, address);
	if (r < 0)
		goto err;
	r = sd_bus_set_bus_client(bus, 1);
	if (r < 0)
		goto err;
	r = sd_bus_negotiate_fds(bus, 1);
	if (r < 0)
		goto err;
	if (timeout_usec) {
		r = sd_bus_set_method_call_timeout(bus, timeout_usec);
		if (r < 0)
			goto err;
	}
	r = sd_bus_start(bus);
	if (r < 0)
		goto err;
	*out = bus;
	return 0;
err:
	sd_bus_unref(bus);
	return r;
}

bool gm_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > GM_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

static bool gm_reserved_zero(const uint64_t *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i])
			return false;
	return true;
}

int gm_attach_params_check(const struct gpumux_attach_params *p)
{
	if (!gm_reserved_zero(p->reserved, 4))
		return -EINVAL;
	if (p->name && !gm_name_valid(p->name))
		return -EINVAL;
	if (p->weight > GM_WEIGHT_MAX)
		return -ERANGE;
	if (p->min_cus > GPUMUX_CU_MAX || p->max_cus > GPUMUX_CU_MAX)
		return -ERANGE;
	if (p->max_cus && p->min_cus > p->max_cus)
		return -ERANGE;
	return 0;
}

int gm_load_check(const struct gpumux_load *l)
{
	if (l->fields & ~GPUMUX_LOAD_ALL)
		return -EINVAL;
	if (l->reserved0 || !gm_reserved_zero(l->reserved, 4))
		return -EINVAL;
	if ((l->fields & GPUMUX_LOAD_TOKENS_PER_S) &&
	    (!isfinite(l->tokens_per_s) || l->tokens_per_s < 0))
		return -EINVAL;
	if ((l->fields & GPUMUX_LOAD_KV_BLOCKS_USED) &&
	    (l->fields & GPUMUX_LOAD_KV_BLOCKS_TOTAL) &&
	    l->kv_blocks_used > l->kv_blocks_total)
		return -EINVAL;
	return 0;
}

/* Append "{sv}" with a u32 value when @v is not zero. */
static int gm_append_u(sd_bus_message *m, const char *key, uint32_t v)
{
	return v ? sd_bus_message_append(m, "{sv}", key, "u", v) : 0;
}

/* sd_bus_call(), with the error mapped by our table. */
static int gm_call(sd_bus *bus, sd_bus_message *m, sd_bus_message **reply)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call(bus, m, 0, &err, reply);
	if (r < 0 && sd_bus_error_is_set(&err))
		r = -gm_bus_error_errno(&err);
	sd_bus_error_free(&err);
	return r;
}

int gm_bus_attach(sd_bus *bus, const struct gpumux_attach_params *p,
		  char **path, int *fd)
{
	sd_bus_message *m = NULL, *reply = NULL;
	const char *obj;
	int lease, r;

	r = sd_bus_message_new_method_call(bus, &m, GM_BUS_NAME, GM_BUS_PATH,
					   GM_BUS_IFACE_MANAGER, "Attach");
	if (r < 0)
		return r;
	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		goto out;
	if (p->name) {
		r = sd_bus_message_append(m, "{sv}", GM_OPT_NAME, "s", p->name);
		if (r < 0)
			goto out;
	}
	r = gm_append_u(m, GM_OPT_WEIGHT, p->weight);
	if (r >= 0)
		r = gm_append_u(m, GM_OPT_MIN_CUS, p->min_cus);
	if (r >= 0)
		r = gm_append_u(m, GM_OPT_MAX_CUS, p->max_cus);
	if (r >= 0)
		r = gm_append_u(m, GM_OPT_GPU, p->gpu);
	if (r >= 0 && p->pinned_quota)
		r = sd_bus_message_append(m, "{sv}", GM_OPT_PINNED_QUOTA, "t",
					  p->pinned_quota);
	if (r < 0)
		goto out;
	r = sd_bus_message_close_container(m);
	if (r < 0)
		goto out;

	r = gm_call(bus, m, &reply);
	if (r < 0)
		goto out;
	r = sd_bus_message_read(reply, "oh", &obj, &lease);
	if (r < 0) {
		r = -EPROTO;
		goto out;
	}
	/* The fd belongs to the message: keep a copy of our own. */
	lease = fcntl(lease, F_DUPFD_CLOEXEC, 3);
	if (lease < 0) {
		r = -errno;
		goto out;
	}
	*path = strdup(obj);
	if (!*path) {
		close(lease);
		r = -ENOMEM;
		goto out;
	}
	*fd = lease;
	r = 0;
out:
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	return r;
}

/* The tenant's bus, opened on first use.  Caller holds t->bus_lock. */
static int gm_tenant_bus(struct gpumux_tenant *t, sd_bus **out)
{
	int r;

	if (t->bus && sd_bus_is_open(t->bus) > 0) {
		*out = t->bus;
		return 0;
	}
	/* Closed (the bus went away, or a fork): connect again. */
	t->bus = sd_bus_flush_close_unref(t->bus);
	r = gm_bus_open(t->bus_address, t->timeout_usec, &t->bus);
	if (r < 0)
		return r;
	*out = t->bus;
	return 0;
}

/* Appends a method's arguments after the tenant's object path. */
typedef int (*gm_fill_fn)(sd_bus_message *m, const void *arg);

/*
 * Call Manager.@member(o tenant, ...) for @t, @fill appending the rest.
 * A connection found broken is made again, and the call retried, once.
 */
static int gm_tenant_call(struct gpumux_tenant *t, const char *member,
			  gm_fill_fn fill, const void *arg)
{
	sd_bus_message *m = NULL;
	int attempt, r = 0;
	sd_bus *bus;

	pthread_mutex_lock(&t->bus_lock);
	for (attempt = 0; attempt < 2; attempt++) {
		r = gm_tenant_bus(t, &bus);
		if (r < 0)
			break;
		r = sd_bus_message_new_method_call(bus, &m, GM_BUS_NAME,
						   GM_BUS_PATH,
						   GM_BUS_IFACE_MANAGER,
						   member);
		if (r >= 0)
			r = sd_bus_message_append(m, "o", t->path);
		if (r >= 0 && fill)
			r = fill(m, arg);
		if (r >= 0)
			r = gm_call(bus, m, NULL);
		m = sd_bus_message_unref(m);
		if (r != -ENOTCONN && r != -ECONNRESET)
			break;
		t->bus = sd_bus_flush_close_unref(t->bus);
	}
	pthread_mutex_unlock(&t->bus_lock);
	return r < 0 ? r : 0;
}

int gm_bus_detach(struct gpumux_tenant *t)
{
	return gm_tenant_call(t, "Detach", NULL, NULL);
}

static int gm_fill_load(sd_bus_message *m, const void *arg)
{
	static const struct {
		uint32_t bit;
		const char *key;
		size_t off;
	} keys[] = {
		{ GPUMUX_LOAD_RUNNING, GM_LOAD_RUNNING,
		  offsetof(struct gpumux_load, running) },
		{ GPUMUX_LOAD_WAITING, GM_LOAD_WAITING,
		  offsetof(struct gpumux_load, waiting) },
		{ GPUMUX_LOAD_KV_BLOCKS_USED, GM_LOAD_KV_USED,
		  offsetof(struct gpumux_load, kv_blocks_used) },
		{ GPUMUX_LOAD_KV_BLOCKS_TOTAL, GM_LOAD_KV_TOTAL,
		  offsetof(struct gpumux_load, kv_blocks_total) },
	};
	const struct gpumux_load *l = arg;
	size_t i;
	int r;

	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint32_t v;

		if (!(l->fields & keys[i].bit))
			continue;
		memcpy(&v, (const char *)l + keys[i].off, sizeof(v));
		r = sd_bus_message_append(m, "{sv}", keys[i].key, "u", v);
		if (r < 0)
			return r;
	}
	if (l->fields & GPUMUX_LOAD_TOKENS_PER_S) {
		r = sd_bus_message_append(m, "{sv}", GM_LOAD_TOKENS_PER_S, "d",
					  l->tokens_per_s);
		if (r < 0)
			return r;
	}
	return sd_bus_message_close_container(m);
}

int gm_bus_report_load(struct gpumux_tenant *t, const struct gpumux_load *l)
{
	return gm_tenant_call(t, "ReportLoad", gm_fill_load, l);
}
