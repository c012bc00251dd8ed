// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libgpumux: tenants.  Attaching over D-Bus, adopting an inherited lease,
 * detaching and closing, and what a tenant handle holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bus-api.h"
#include "internal.h"

_Static_assert(GPUMUX_CU_MAX == GPUMUX_MAX_CUS, "CU limit");
_Static_assert(GPUMUX_CU_MASK_WORDS == GPUMUX_MASK_WORDS, "mask words");
_Static_assert(GM_NAME_MAX == GPUMUX_NAME_LEN - 1, "name length");

struct gpumux_attach_params gpumux_attach_default_params(void)
{
	struct gpumux_attach_params p;

	memset(&p, 0, sizeof(p));
	return p;
}

struct gpumux_adopt_params gpumux_adopt_default_params(void)
{
	struct gpumux_adopt_params p;

	memset(&p, 0, sizeof(p));
	return p;
}

struct gpumux_tenant *gm_tenant_get(struct gpumux_tenant *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

static void gm_tenant_release(struct gpumux_tenant *t)
{
	if (t->fd >= 0)
		close(t->fd);
	sd_bus_flush_close_unref(t->bus);
	pthread_mutex_destroy(&t->bus_lock);
	pthread_mutex_destroy(&t->cb_lock);
	pthread_mutex_destroy(&t->dispatch_lock);
	free(t->path);
	free(t->bus_address);
	free(t);
}

void gm_tenant_put(struct gpumux_tenant *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		gm_tenant_release(t);
}

int gm_tenant_ioctl(struct gpumux_tenant *t, unsigned long op, void *arg)
{
	if (t->fd < 0)
		return -EBADF;
	return ioctl(t->fd, op, arg) < 0 ? -errno : 0;
}

int gm_parse_fd(const char *s, int *fd)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

/*
 * Check that @fd is a tenant file and learn its id; make it FD_CLOEXEC and
 * O_NONBLOCK.  Nothing is changed when it is not a tenant file.
 */
static int gm_lease_check(int fd, uint32_t *id)
{
	struct gpumux_info info;
	int fl;

	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, GPUMUX_CMD_GET_INFO, &info) < 0)
		return errno == EBADF ? -EBADF : -ENOTTY;
	if (info.file_kind != GPUMUX_FILE_TENANT || !info.tenant_id)
		return -ENOTTY;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	*id = info.tenant_id;
	return 0;
}

/*
 * A new tenant of lease @fd (already checked, id @id).  Takes @path and
 * @bus (either may be NULL) on success only.
 */
static int gm_tenant_new(int fd, uint32_t id, char *path,
			 const char *bus_address, uint64_t timeout_usec,
			 sd_bus *bus, struct gpumux_tenant **out)
{
	struct gpumux_tenant *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (!path) {
		if (asprintf(&t->path, GM_BUS_TENANT_PREFIX "/%u", id) < 0) {
			free(t);
			return -ENOMEM;
		}
	}
	if (bus_address) {
		t->bus_address = strdup(bus_address);
		if (!t->bus_address) {
			free(t->path);
			free(t);
			return -ENOMEM;
		}
	}
	if (path)
		t->path = path;
	atomic_init(&t->refs, 1);
	t->fd = fd;
	t->id = id;
	t->timeout_usec = timeout_usec;
	t->bus = bus;
	pthread_mutex_init(&t->bus_lock, NULL);
	pthread_mutex_init(&t->cb_lock, NULL);
	pthread_mutex_init(&t->dispatch_lock, NULL);
	*out = t;
	return 0;
}

int gpumux_tenant_attach(const struct gpumux_attach_params *p,
			 struct gpumux_tenant **out)
{
	struct gpumux_attach_params def = gpumux_attach_default_params();
	sd_bus *bus = NULL;
	char *path = NULL;
	uint32_t id;
	int fd = -1, r;

	if (!out)
		return -EINVAL;
	if (!p)
		p = &def;
	r = gm_attach_params_check(p);
	if (r < 0)
		return r;
	r = gm_bus_open(p->bus_address, p->timeout_usec, &bus);
	if (r < 0)
		return r;
	r = gm_bus_attach(bus, p, &path, &fd);
	if (r < 0)
		goto err;
	/* Not a lease: closing it is all we can do (it ends the tenant). */
	if (gm_lease_check(fd, &id) < 0 || !sd_bus_object_path_is_valid(path)) {
		r = -EPROTO;
		goto err;
	}
	r = gm_tenant_new(fd, id, path, p->bus_address, p->timeout_usec, bus,
			  out);
	if (r < 0)
		goto err;
	return 0;
err:
	if (fd >= 0)
		close(fd);
	free(path);
	sd_bus_flush_close_unref(bus);
	return r;
}

int gpumux_tenant_adopt_fd(int fd, const struct gpumux_adopt_params *p,
			   struct gpumux_tenant **out)
{
	struct gpumux_adopt_params def = gpumux_adopt_default_params();
	char *path = NULL;
	uint32_t id;
	size_t i;
	int r;

	if (!out)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	if (!p)
		p = &def;
	for (i = 0; i < 4; i++)
		if (p->reserved[i])
			return -EINVAL;
	if (p->object_path && !sd_bus_object_path_is_valid(p->object_path))
		return -EINVAL;
	r = gm_lease_check(fd, &id);
	if (r < 0)
		return r;
	if (p->object_path) {
		path = strdup(p->object_path);
		if (!path)
			return -ENOMEM;
	}
	r = gm_tenant_new(fd, id, path, p->bus_address, p->timeout_usec, NULL,
			  out);
	if (r < 0)
		free(path);
	return r;
}

int gpumux_tenant_from_env(const struct gpumux_adopt_params *p,
			   struct gpumux_tenant **out)
{
	struct gpumux_adopt_params q = gpumux_adopt_default_params();
	const char *s;
	int fd, r;

	if (!out)
		return -EINVAL;
	if (p)
		q = *p;
	s = getenv(GPUMUX_ENV_LEASE_FD);
	if (!s || !*s)
		return -ENOENT;
	r = gm_parse_fd(s, &fd);
	if (r < 0)
		return r;
	s = getenv(GPUMUX_ENV_TENANT);
	if (s && *s)
		q.object_path = s;
	return gpumux_tenant_adopt_fd(fd, &q, out);
}

int gpumux_tenant_close(struct gpumux_tenant *t)
{
	if (!t)
		return 0;
	/* Buffer handles may keep the struct: the lease goes now. */
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	pthread_mutex_lock(&t->bus_lock);
	t->bus = sd_bus_flush_close_unref(t->bus);
	pthread_mutex_unlock(&t->bus_lock);
	gm_tenant_put(t);
	return 0;
}

int gpumux_tenant_detach(struct gpumux_tenant *t)
{
	int r;

	if (!t)
		return -EINVAL;
	r = gm_bus_detach(t);
	gpumux_tenant_close(t);
	return r;
}

int gpumux_tenant_fd(const struct gpumux_tenant *t)
{
	if (!t)
		return -EINVAL;
	return t->fd >= 0 ? t->fd : -EBADF;
}

int gpumux_tenant_id(const struct gpumux_tenant *t)
{
	if (!t)
		return -EINVAL;
	return (int)t->id;
}

int gpumux_tenant_object_path(const struct gpumux_tenant *t, const char **path)
{
	if (!t || !path)
		return -EINVAL;
	*path = t->path;
	return 0;
}

struct gpumux_load gpumux_load_default_params(void)
{
	struct gpumux_load l;

	memset(&l, 0, sizeof(l));
	l.fields = GPUMUX_LOAD_ALL;
	return l;
}

int gpumux_tenant_report_load(struct gpumux_tenant *t,
			      const struct gpumux_load *load)
{
	int r;

	if (!t || !load)
		return -EINVAL;
	r = gm_load_check(load);
	if (r < 0)
		return r;
	if (t->fd < 0)
		return -EBADF;
	return gm_bus_report_load(t, load);
}
