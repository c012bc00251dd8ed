// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: reading the Manager, GPUs and tenants, and the verbs that show
 * them: status, tenants, gpus.
 */
#include "gpumuxctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Longest formatted mask: 512 runs of "dddd-dddd," at most, and more. */
#define MASK_STR_MAX 8192

#define BAR_MAX 64 /* characters in a GPU's CU bar */

/* --- properties --- */

enum prop_type { PT_U32, PT_U64, PT_BOOL, PT_STR, PT_MASK, PT_PATHS, PT_LOAD };

struct prop_map {
	const char *name;
	const char *sig;
	enum prop_type type;
	size_t off;
};

#define P(n, s, t, st, f)                \
	{                                \
		n, s, t, offsetof(st, f) \
	}

static const struct prop_map manager_map[] = {
	P("Version", "s", PT_STR, struct manager_info, version),
	P("Policy", "s", PT_STR, struct manager_info, policy),
	P("ModuleVersion", "u", PT_U32, struct manager_info, module_version),
	P("ModuleFeatures", "t", PT_U64, struct manager_info, module_features),
	P("PinnedLimit", "t", PT_U64, struct manager_info, pinned_limit),
	P("PinnedUsed", "t", PT_U64, struct manager_info, pinned_used),
	P("NGPUs", "u", PT_U32, struct manager_info, ngpus),
	P("NTenants", "u", PT_U32, struct manager_info, ntenants),
	P("Attaches", "t", PT_U64, struct manager_info, attaches),
	P("Detaches", "t", PT_U64, struct manager_info, detaches),
	P("TenantsGone", "t", PT_U64, struct manager_info, tenants_gone),
	P("Rebalances", "t", PT_U64, struct manager_info, rebalances),
	P("Fences", "t", PT_U64, struct manager_info, fences),
	P("Adopted", "u", PT_U32, struct manager_info, adopted),
	{}
};

static const struct prop_map gpu_map[] = {
	P("Driver", "s", PT_STR, struct gpu_info, driver),
	P("Tenants", "ao", PT_PATHS, struct gpu_info, tenants),
	{}
};

static const struct prop_map tenant_map[] = {
	P("Weight", "u", PT_U32, struct tenant_info, weight),
	P("MinComputeUnits", "u", PT_U32, struct tenant_info, min_cus),
	P("MaxComputeUnits", "u", PT_U32, struct tenant_info, max_cus),
	P("PreferredGPU", "u", PT_U32, struct tenant_info, preferred_gpu),
	P("TargetMask", "ay", PT_MASK, struct tenant_info, target),
	P("ActiveMask", "ay", PT_MASK, struct tenant_info, active),
	P("Generation", "t", PT_U64, struct tenant_info, generation),
	P("Pinned", "b", PT_BOOL, struct tenant_info, pinned),
	P("Fenced", "b", PT_BOOL, struct tenant_info, fenced),
	P("PinnedQuota", "t", PT_U64, struct tenant_info, pinned_quota),
	P("PinnedBytes", "t", PT_U64, struct tenant_info, pinned_bytes),
	P("Load", "a{sv}", PT_LOAD, struct tenant_info, load),
	{}
};

static void load_free(struct tenant_info *t)
{
	size_t i;

	for (i = 0; i < t->nload; i++) {
		free(t->load[i].key);
		if (t->load[i].type == 's')
			free(t->load[i].v.s);
	}
	t->nload = 0;
}

/* One basic value of type into item (the integer types widened). */
static int read_load_value(sd_bus_message *m, char type, struct load_item *item)
{
	union bus_basic v;
	int r;

	r = sd_bus_message_read_basic(m, type, &v);
	if (r < 0)
		return r;
	switch (type) {
	case 'y':
		item->type = 'u';
		item->v.u = v.y;
		break;
	case 'q':
		item->type = 'u';
		item->v.u = v.q;
		break;
	case 'u':
		item->type = 'u';
		item->v.u = v.u;
		break;
	case 't':
		item->type = 'u';
		item->v.u = v.t;
		break;
	case 'n':
		item->type = 'i';
		item->v.i = v.n;
		break;
	case 'i':
		item->type = 'i';
		item->v.i = v.i;
		break;
	case 'x':
		item->type = 'i';
		item->v.i = v.x;
		break;
	case 'd':
		item->type = 'd';
		item->v.d = v.d;
		break;
	case 'b':
		item->type = 'b';
		item->v.u = !!v.b;
		break;
	default: /* 's', 'o', 'g' */
		item->type = 's';
		item->v.s = strdup(v.s);
		if (!item->v.s)
			return -ENOMEM;
		break;
	}
	return 0;
}

/* Load (a{sv}): the entries with basic values; others are skipped. */
static int read_load(sd_bus_message *m, struct tenant_info *t)
{
	int r;

	load_free(t);
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		struct load_item *item = &t->load[t->nload];
		const char *key, *contents;
		char type;

		r = sd_bus_message_read(m, "s", &key);
		if (r >= 0)
			r = sd_bus_message_peek_type(m, &type, &contents);
		if (r < 0)
			return r;
		if (t->nload < MAX_LOAD_ITEMS && strlen(contents) == 1 &&
		    strchr("ynqiuxtdbsog", contents[0])) {
			r = sd_bus_message_enter_container(m, 'v', contents);
			if (r >= 0)
				r = read_load_value(m, contents[0], item);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
			if (r < 0)
				return r;
			item->key = strdup(key);
			if (!item->key) {
				if (item->type == 's')
					free(item->v.s);
				return -ENOMEM;
			}
			t->nload++;
		} else {
			r = sd_bus_message_skip(m, "v");
			if (r < 0)
				return r;
		}
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static void paths_free(struct gpu_info *g)
{
	size_t i;

	for (i = 0; i < g->ntenants; i++)
		free(g->tenants[i]);
	free(g->tenants);
	g->tenants = NULL;
	g->ntenants = 0;
}

/* A GPU's Tenants (ao). */
static int read_paths(sd_bus_message *m, struct gpu_info *g)
{
	const char *path;
	char **v;
	int r;

	paths_free(g);
	r = sd_bus_message_enter_container(m, 'a', "o");
	while (r >= 0 && (r = sd_bus_message_read(m, "o", &path)) > 0) {
		v = reallocarray(g->tenants, g->ntenants + 1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->tenants = v;
		v[g->ntenants] = strdup(path);
		if (!v[g->ntenants])
			return -ENOMEM;
		g->ntenants++;
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int read_prop(sd_bus_message *m, const struct prop_map *p, void *obj)
{
	char *field = (char *)obj + p->off;
	const void *data;
	const char *s;
	size_t n;
	int b, r;

	switch (p->type) {
	case PT_U32:
		return sd_bus_message_read(m, "u", (uint32_t *)field);
	case PT_U64:
		return sd_bus_message_read(m, "t", (uint64_t *)field);
	case PT_BOOL:
		r = sd_bus_message_read(m, "b", &b);
		*(bool *)field = b;
		return r;
	case PT_STR:
		r = sd_bus_message_read(m, "s", &s);
		if (r < 0)
			return r;
		free(*(char **)field);
		*(char **)field = strdup(s);
		return *(char **)field ? 0 : -ENOMEM;
	case PT_MASK: {
		struct mask *mask = (struct mask *)field;

		r = sd_bus_message_read_array(m, 'y', &data, &n);
		if (r < 0)
			return r;
		/* No CU past CTL_MAX_CUS exists: drop what cannot be. */
		mask->len = n < CTL_MASK_BYTES ? n : CTL_MASK_BYTES;
		memset(mask->bits, 0, sizeof(mask->bits));
		if (mask->len)
			memcpy(mask->bits, data, mask->len);
		return 0;
	}
	case PT_PATHS:
		return read_paths(m, obj);
	case PT_LOAD:
		return read_load(m, obj);
	}
	return -EINVAL;
}

/* GetAll of iface on path into obj; -errno, with error set by the call. */
static int get_all(const char *path, const char *iface,
		   const struct prop_map *map, void *obj, sd_bus_error *error)
{
	sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_call_method(bus, GM_BUS_NAME, path, PROPERTIES_IFACE,
			       "GetAll", error, &reply, "s", iface);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{sv}");
	while (r >= 0 &&
	       (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
		const struct prop_map *p;
		const char *name, *contents = NULL;
		char type;

		r = sd_bus_message_read(reply, "s", &name);
		if (r >= 0)
			r = sd_bus_message_peek_type(reply, &type, &contents);
		if (r < 0)
			break;
		for (p = map; p->name; p++)
			if (!strcmp(p->name, name))
				break;
		if (p->name && !strcmp(contents, p->sig)) {
			r = sd_bus_message_enter_container(reply, 'v',
							   contents);
			if (r >= 0)
				r = read_prop(reply, p, obj);
			if (r >= 0)
				r = sd_bus_message_exit_container(reply);
		} else {
			/* Unknown, or not the type we know: ignored. */
			r = sd_bus_message_skip(reply, "v");
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(reply);
	sd_bus_message_unref(reply);
	return r < 0 ? r : 0;
}

/*
 * GetAll of an object that may have gone since it was listed: 1 when it
 * was read, 0 when it is gone (its error is not worth an exit), or an
 * exit status.
 */
static int get_all_listed(const char *path, const char *iface,
			  const struct prop_map *map, void *obj)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r, code;

	r = get_all(path, iface, map, obj, &error);
	if (r >= 0)
		return 1;
	code = ctl_error_exit(sd_bus_error_is_set(&error) ? error.name : NULL,
			      -r);
	if (!sd_bus_error_is_set(&error) || code != CTL_EXIT_ERROR)
		r = -report_bus_error(&error, r, "GetAll");
	else
		r = 0;
	sd_bus_error_free(&error);
	return r;
}

int get_manager(struct manager_info *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	memset(m, 0, sizeof(*m));
	r = bus_connect();
	if (r)
		return r;
	r = get_all(GM_BUS_PATH, GM_BUS_IFACE_MANAGER, manager_map, m, &error);
	if (r < 0)
		r = report_bus_error(&error, r, "GetAll");
	sd_bus_error_free(&error);
	return r;
}

void manager_info_free(struct manager_info *m)
{
	free(m->version);
	free(m->policy);
	memset(m, 0, sizeof(*m));
}

/* Calls a Manager List* method; *reply is entered into its array. */
static int list_call(const char *member, const char *sig,
		     sd_bus_message **reply)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	r = bus_connect();
	if (r)
		return r;
	r = sd_bus_call_method(bus, GM_BUS_NAME, GM_BUS_PATH,
			       GM_BUS_IFACE_MANAGER, member, &error, reply, "");
	if (r >= 0)
		r = sd_bus_message_enter_container(*reply, 'a', sig);
	if (r < 0) {
		r = report_bus_error(&error, r, member);
		*reply = sd_bus_message_unref(*reply);
	} else {
		r = 0;
	}
	sd_bus_error_free(&error);
	return r;
}

/* Grows *v (of *n elements of size) by one zeroed element; NULL: ENOMEM. */
static void *grow(void *v, size_t *n, size_t size)
{
	char *p = reallocarray(v, *n + 1, size);

	if (!p)
		return NULL;
	memset(p + *n * size, 0, size);
	(*n)++;
	return p;
}

/* What a Manager List* method lists: GPUs or tenants. */
struct list_kind {
	const char *member; /* "ListGPUs" */
	const char *sig; /* of one entry: "(uosuut)" */
	size_t size; /* of one object: struct gpu_info */
	/* One entry into a zeroed object: 0 or -errno. */
	int (*read)(sd_bus_message *m, void *obj);
	int (*cmp)(const void *a, const void *b); /* by id, for qsort */
	void (*free)(void *objs, size_t n);
	/* GetAll of each, on request: the object's path and have_props. */
	const char *iface;
	const struct prop_map *map;
	size_t path_off, props_off;
};

/*
 * The objects of a List* method, sorted by id, each with its GetAll when
 * props: 0, or an exit status once reported.
 */
static int list_objects(const struct list_kind *k, void **ret, size_t *ret_n,
			bool props)
{
	sd_bus_message *reply = NULL;
	char *objs = NULL, *o;
	size_t n = 0, i;
	int r;

	r = list_call(k->member, k->sig, &reply);
	if (r)
		return r;
	while ((r = sd_bus_message_at_end(reply, false)) == 0) {
		o = grow(objs, &n, k->size);
		if (!o) {
			r = -ENOMEM;
			break;
		}
		objs = o;
		r = k->read(reply, objs + (n - 1) * k->size);
		if (r < 0)
			break;
	}
	sd_bus_message_unref(reply);
	if (r < 0) {
		k->free(objs, n);
		return r == -ENOMEM ? fail(r, k->member) :
				      report_bus_error(NULL, r, k->member);
	}
	qsort(objs, n, k->size, k->cmp);
	for (i = 0; props && i < n; i++) {
		o = objs + i * k->size;
		r = get_all_listed(*(char **)(o + k->path_off), k->iface,
				   k->map, o);
		if (r < 0) {
			k->free(objs, n);
			return -r;
		}
		*(bool *)(o + k->props_off) = r;
	}
	*ret = objs;
	*ret_n = n;
	return 0;
}

static int read_gpu(sd_bus_message *m, void *obj)
{
	struct gpu_info *g = obj;
	const char *path, *name;
	int r;

	r = sd_bus_message_read(m, "(uosuut)", &g->id, &path, &name, &g->cus,
				&g->used, &g->vram);
	if (r < 0)
		return r;
	g->path = strdup(path);
	g->name = strdup(name);
	return g->path && g->name ? 0 : -ENOMEM;
}

static int cmp_gpu(const void *a, const void *b)
{
	const struct gpu_info *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void free_gpus(void *gpus, size_t n)
{
	gpus_free(gpus, n);
}

static const struct list_kind gpu_list = {
	.member = "ListGPUs",
	.sig = "(uosuut)",
	.size = sizeof(struct gpu_info),
	.read = read_gpu,
	.cmp = cmp_gpu,
	.free = free_gpus,
	.iface = GM_BUS_IFACE_GPU,
	.map = gpu_map,
	.path_off = offsetof(struct gpu_info, path),
	.props_off = offsetof(struct gpu_info, have_props),
};

int list_gpus(struct gpu_info **ret, size_t *ret_n, bool props)
{
	void *gpus;
	int r;

	r = list_objects(&gpu_list, &gpus, ret_n, props);
	if (!r)
		*ret = gpus;
	return r;
}

void gpus_free(struct gpu_info *gpus, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(gpus[i].path);
		free(gpus[i].name);
		free(gpus[i].driver);
		paths_free(&gpus[i]);
	}
	free(gpus);
}

static int read_tenant(sd_bus_message *m, void *obj)
{
	struct tenant_info *t = obj;
	const char *path, *name;
	int fenced, r;

	r = sd_bus_message_read(m, "(uosuuuub)", &t->id, &path, &name, &t->uid,
				&t->pid, &t->gpu, &t->cus, &fenced);
	if (r < 0)
		return r;
	t->fenced = fenced;
	t->path = strdup(path);
	t->name = strdup(name);
	return t->path && t->name ? 0 : -ENOMEM;
}

static int cmp_tenant(const void *a, const void *b)
{
	const struct tenant_info *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void free_tenants(void *ts, size_t n)
{
	tenants_free(ts, n);
}

static const struct list_kind tenant_list = {
	.member = "ListTenants",
	.sig = "(uosuuuub)",
	.size = sizeof(struct tenant_info),
	.read = read_tenant,
	.cmp = cmp_tenant,
	.free = free_tenants,
	.iface = GM_BUS_IFACE_TENANT,
	.map = tenant_map,
	.path_off = offsetof(struct tenant_info, path),
	.props_off = offsetof(struct tenant_info, have_props),
};

int list_tenants(struct tenant_info **ret, size_t *ret_n, bool props)
{
	void *ts;
	int r;

	r = list_objects(&tenant_list, &ts, ret_n, props);
	if (!r)
		*ret = ts;
	return r;
}

void tenants_free(struct tenant_info *ts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(ts[i].path);
		free(ts[i].name);
		load_free(&ts[i]);
	}
	free(ts);
}

/* --- output helpers --- */

static const char *mask_str(const struct mask *m, char *buf)
{
	ctl_mask_format(m->bits, m->len, buf, MASK_STR_MAX);
	return buf;
}

/* Bits of a not in b. */
static bool mask_has_extra(const struct mask *a, const struct mask *b)
{
	size_t i;

	for (i = 0; i < a->len; i++)
		if (a->bits[i] & ~(i < b->len ? b->bits[i] : 0))
			return true;
	return false;
}

/* "running", "fenced,pinned", "shrinking", ... */
static void tenant_state(const struct tenant_info *t, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
#define ADD(s)                                                           \
	(off += (size_t)snprintf(buf + off, off < size ? size - off : 0, \
				 "%s%s", off ? "," : "", s))
	if (!t->have_props) {
		ADD("gone");
		return;
	}
	if (t->fenced)
		ADD("fenced");
	if (t->pinned)
		ADD("pinned");
	if (mask_has_extra(&t->active, &t->target))
		ADD("shrinking");
	if (mask_has_extra(&t->target, &t->active))
		ADD("growing");
	if (!off)
		ADD(t->cus ? "running" : "waiting");
#undef ADD
}

static void json_mask(struct ctl_json *j, const char *key, const struct mask *m)
{
	char buf[MASK_STR_MAX];

	ctl_json_key(j, key);
	ctl_json_string(j, mask_str(m, buf));
}

static void json_kv_u64(struct ctl_json *j, const char *key, uint64_t v)
{
	ctl_json_key(j, key);
	ctl_json_u64(j, v);
}

static void json_kv_str(struct ctl_json *j, const char *key, const char *v)
{
	ctl_json_key(j, key);
	ctl_json_string(j, v);
}

static void json_kv_bool(struct ctl_json *j, const char *key, bool v)
{
	ctl_json_key(j, key);
	ctl_json_bool(j, v);
}

static void json_load(struct ctl_json *j, const struct tenant_info *t)
{
	size_t i;

	ctl_json_begin_object(j);
	for (i = 0; i < t->nload; i++) {
		const struct load_item *l = &t->load[i];

		ctl_json_key(j, l->key);
		switch (l->type) {
		case 'u':
			ctl_json_u64(j, l->v.u);
			break;
		case 'i':
			ctl_json_i64(j, l->v.i);
			break;
		case 'd':
			ctl_json_double(j, l->v.d);
			break;
		case 'b':
			ctl_json_bool(j, l->v.u);
			break;
		default:
			ctl_json_string(j, l->v.s);
			break;
		}
	}
	ctl_json_end_object(j);
}

/* A tenant: its D-Bus properties by name, and Object, its path. */
static void json_tenant(struct ctl_json *j, const void *obj)
{
	const struct tenant_info *t = obj;

	ctl_json_begin_object(j);
	json_kv_u64(j, "Id", t->id);
	json_kv_str(j, "Object", t->path);
	json_kv_str(j, "Name", t->name);
	json_kv_u64(j, "UID", t->uid);
	json_kv_u64(j, "PID", t->pid);
	json_kv_u64(j, "GPU", t->gpu);
	json_kv_u64(j, "ComputeUnits", t->cus);
	json_kv_bool(j, "Fenced", t->fenced);
	if (t->have_props) {
		json_kv_u64(j, "Weight", t->weight);
		json_kv_u64(j, "MinComputeUnits", t->min_cus);
		json_kv_u64(j, "MaxComputeUnits", t->max_cus);
		json_kv_u64(j, "PreferredGPU", t->preferred_gpu);
		json_mask(j, "TargetMask", &t->target);
		json_mask(j, "ActiveMask", &t->active);
		json_kv_u64(j, "Generation", t->generation);
		json_kv_bool(j, "Pinned", t->pinned);
		json_kv_u64(j, "PinnedQuota", t->pinned_quota);
		json_kv_u64(j, "PinnedBytes", t->pinned_bytes);
		ctl_json_key(j, "Load");
		json_load(j, t);
	}
	ctl_json_end_object(j);
}

/* A GPU: its D-Bus properties by name, and Object, its path. */
static void json_gpu(struct ctl_json *j, const void *obj)
{
	const struct gpu_info *g = obj;
	size_t i;

	ctl_json_begin_object(j);
	json_kv_u64(j, "Id", g->id);
	json_kv_str(j, "Object", g->path);
	json_kv_str(j, "Name", g->name);
	if (g->have_props)
		json_kv_str(j, "Driver", g->driver);
	json_kv_u64(j, "ComputeUnits", g->cus);
	json_kv_u64(j, "UsedComputeUnits", g->used);
	json_kv_u64(j, "VRAM", g->vram);
	if (g->have_props) {
		ctl_json_key(j, "Tenants");
		ctl_json_begin_array(j);
		for (i = 0; i < g->ntenants; i++)
			ctl_json_string(j, g->tenants[i]);
		ctl_json_end_array(j);
	}
	ctl_json_end_object(j);
}

static void json_manager(struct ctl_json *j, const struct manager_info *m)
{
	ctl_json_begin_object(j);
	json_kv_str(j, "Version", m->version);
	json_kv_str(j, "Policy", m->policy);
	json_kv_u64(j, "ModuleVersion", m->module_version);
	json_kv_u64(j, "ModuleFeatures", m->module_features);
	json_kv_u64(j, "PinnedLimit", m->pinned_limit);
	json_kv_u64(j, "PinnedUsed", m->pinned_used);
	json_kv_u64(j, "NGPUs", m->ngpus);
	json_kv_u64(j, "NTenants", m->ntenants);
	json_kv_u64(j, "Attaches", m->attaches);
	json_kv_u64(j, "Detaches", m->detaches);
	json_kv_u64(j, "TenantsGone", m->tenants_gone);
	json_kv_u64(j, "Rebalances", m->rebalances);
	json_kv_u64(j, "Fences", m->fences);
	json_kv_u64(j, "Adopted", m->adopted);
	ctl_json_end_object(j);
}

/* An array of n objects of size bytes, each written by one. */
static void json_array(struct ctl_json *j, const void *objs, size_t n,
		       size_t size,
		       void (*one)(struct ctl_json *j, const void *obj))
{
	size_t i;

	ctl_json_begin_array(j);
	for (i = 0; i < n; i++)
		one(j, (const char *)objs + i * size);
	ctl_json_end_array(j);
}

static int json_finish(struct ctl_json *j)
{
	int r = ctl_json_finish(j);

	return r ? fail(r, "cannot write the JSON output") : 0;
}

/* Formats a number, or "-" for 0 when zero_dash. */
static const char *num(char *buf, size_t size, uint64_t v, bool zero_dash)
{
	if (zero_dash && !v)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/*
 * The tenants or gpus verb: the objects listed, with their properties, as
 * JSON or a table of cols, a row of each by row, and a count of the nouns
 * listed.
 */
static int verb_list(const struct list_kind *k,
		     const struct ctl_table_col *cols, size_t ncols,
		     void (*row)(struct ctl_table *tab, const void *obj),
		     void (*json)(struct ctl_json *j, const void *obj),
		     const char *noun)
{
	struct ctl_table tab;
	void *objs;
	size_t n, i;
	int r;

	r = list_objects(k, &objs, &n, true);
	if (r)
		return r;
	if (arg_json) {
		struct ctl_json j;

		ctl_json_init(&j, stdout);
		json_array(&j, objs, n, k->size, json);
		r = json_finish(&j);
		k->free(objs, n);
		return r;
	}

	ctl_table_init(&tab, cols, ncols);
	for (i = 0; i < n; i++)
		row(&tab, (const char *)objs + i * k->size);
	if (n || !arg_legend)
		r = ctl_table_print(&tab, stdout, arg_legend);
	if (!r && arg_legend)
		printf("%s%zu %s%s listed.\n", n ? "\n" : "", n, noun,
		       n == 1 ? "" : "s");
	ctl_table_free(&tab);
	k->free(objs, n);
	return r ? fail(r, "cannot print the table") : 0;
}

/* --- tenants --- */

static const struct ctl_table_col tenant_cols[] = {
	{ "ID", CTL_RIGHT },  { "NAME", CTL_LEFT },    { "UID", CTL_RIGHT },
	{ "PID", CTL_RIGHT }, { "GPU", CTL_RIGHT },    { "CUS", CTL_RIGHT },
	{ "MASK", CTL_LEFT }, { "WEIGHT", CTL_RIGHT }, { "MIN", CTL_RIGHT },
	{ "MAX", CTL_RIGHT }, { "PINNED", CTL_RIGHT }, { "STATE", CTL_LEFT },
};

/* One row of tenant_cols. */
static void tenant_row(struct ctl_table *tab, const void *obj)
{
	const struct tenant_info *t = obj;
	char id[16], uid[16], pid[16], gpu[16], cus[16], weight[16], min[16],
		max[16], used[32], quota[32], mem[80], state[64];
	char *mask = NULL;
	const char *cells[12];
	size_t c = 0;

	if (t->have_props) {
		mask = ctl_mask_to_string(t->active.bits, t->active.len);
		ctl_format_bytes(t->pinned_bytes, used, sizeof(used));
		ctl_format_bytes(t->pinned_quota, quota, sizeof(quota));
		snprintf(mem, sizeof(mem), "%s/%s", used, quota);
	}
	tenant_state(t, state, sizeof(state));
	cells[c++] = num(id, sizeof(id), t->id, false);
	cells[c++] = t->name;
	cells[c++] = num(uid, sizeof(uid), t->uid, false);
	cells[c++] = num(pid, sizeof(pid), t->pid, false);
	cells[c++] = num(gpu, sizeof(gpu), t->gpu, true);
	cells[c++] = num(cus, sizeof(cus), t->cus, false);
	cells[c++] = mask ? mask : "-";
	cells[c++] = t->have_props ?
			     num(weight, sizeof(weight), t->weight, false) :
			     "-";
	cells[c++] = t->have_props ? num(min, sizeof(min), t->min_cus, false) :
				     "-";
	cells[c++] = t->have_props ? num(max, sizeof(max), t->max_cus, true) :
				     "-";
	cells[c++] = t->have_props ? mem : "-";
	cells[c++] = state;
	ctl_table_add(tab, cells);
	if (!mask && t->have_props)
		tab->err = -ENOMEM;
	free(mask);
}

int verb_tenants(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return verb_list(&tenant_list, tenant_cols, ARRAY_SIZE(tenant_cols),
			 tenant_row, json_tenant, "tenant");
}

/* --- gpus --- */

static const struct ctl_table_col gpu_cols[] = {
	{ "ID", CTL_RIGHT },   { "NAME", CTL_LEFT },	 { "DRIVER", CTL_LEFT },
	{ "CUS", CTL_RIGHT },  { "USED", CTL_RIGHT },	 { "FREE", CTL_RIGHT },
	{ "VRAM", CTL_RIGHT }, { "TENANTS", CTL_RIGHT },
};

/* One row of gpu_cols. */
static void gpu_row(struct ctl_table *tab, const void *obj)
{
	const struct gpu_info *g = obj;
	char id[16], cus[16], used[16], free_[16], vram[32], nt[16];
	const char *cells[8] = {
		num(id, sizeof(id), g->id, false),
		g->name,
		g->have_props ? g->driver : "-",
		num(cus, sizeof(cus), g->cus, false),
		num(used, sizeof(used), g->used, false),
		num(free_, sizeof(free_),
		    g->cus > g->used ? g->cus - g->used : 0, false),
		vram,
		g->have_props ? num(nt, sizeof(nt), g->ntenants, false) : "-",
	};

	ctl_format_bytes(g->vram, vram, sizeof(vram));
	ctl_table_add(tab, cells);
}

int verb_gpus(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return verb_list(&gpu_list, gpu_cols, ARRAY_SIZE(gpu_cols), gpu_row,
			 json_gpu, "GPU");
}

/* --- status --- */

static char tenant_letter(size_t i)
{
	if (i < 26)
		return (char)('A' + i);
	if (i < 52)
		return (char)('a' + i - 26);
	if (i < 62)
		return (char)('0' + i - 52);
	return '#';
}

static bool mask_bit(const struct mask *m, size_t cu)
{
	return cu / 8 < m->len && (m->bits[cu / 8] >> (cu % 8)) & 1;
}

/*
 * The CU bar of a GPU: one character per group of CUs, the letter of the
 * tenant that holds (ActiveMask) most CUs of the group, '.' when none.
 */
static void print_bar(const struct gpu_info *g, struct tenant_info **on,
		      size_t non)
{
	size_t group, ngroups, k, i, cu;

	if (!g->cus)
		return;
	group = (g->cus + BAR_MAX - 1) / BAR_MAX;
	ngroups = (g->cus + group - 1) / group;
	fputs("  [", stdout);
	for (k = 0; k < ngroups; k++) {
		size_t end = (k + 1) * group, best = 0, bestn = 0;

		if (end > g->cus)
			end = g->cus;
		for (i = 0; i < non; i++) {
			size_t cnt = 0;

			if (!on[i]->have_props)
				continue;
			for (cu = k * group; cu < end; cu++)
				cnt += mask_bit(&on[i]->active, cu);
			if (cnt > bestn) {
				bestn = cnt;
				best = i;
			}
		}
		putchar(bestn ? tenant_letter(best) : '.');
	}
	fputs("]\n", stdout);
	if (arg_legend) {
		if (group > 1)
			printf("  1 character = %zu CUs, '.' = free\n", group);
		else
			printf("  1 character = 1 CU, '.' = free\n");
	}
}

static const struct ctl_table_col legend_cols[] = {
	{ "", CTL_LEFT },	 { "ID", CTL_RIGHT },	  { "NAME", CTL_LEFT },
	{ "CUS", CTL_RIGHT },	 { "WEIGHT", CTL_RIGHT }, { "MASK", CTL_LEFT },
	{ "PINNED", CTL_RIGHT }, { "STATE", CTL_LEFT },	  { "LOAD", CTL_LEFT },
};

/* The last load reported: "running=3,waiting=1,tokens_per_s=41.5". */
static void load_text(const struct tenant_info *t, char *buf, size_t size)
{
	size_t off = 0, i;

	snprintf(buf, size, "-");
	for (i = 0; i < t->nload && off < size; i++) {
		const struct load_item *l = &t->load[i];
		const char *sep = i ? "," : "";
		int n;

		switch (l->type) {
		case 'u':
			n = snprintf(buf + off, size - off, "%s%s=%llu", sep,
				     l->key, (unsigned long long)l->v.u);
			break;
		case 'i':
			n = snprintf(buf + off, size - off, "%s%s=%lld", sep,
				     l->key, (long long)l->v.i);
			break;
		case 'd':
			n = snprintf(buf + off, size - off, "%s%s=%.1f", sep,
				     l->key, l->v.d);
			break;
		case 'b':
			n = snprintf(buf + off, size - off, "%s%s=%s", sep,
				     l->key, l->v.u ? "true" : "false");
			break;
		default:
			n = snprintf(buf + off, size - off, "%s%s=%s", sep,
				     l->key, l->v.s);
			break;
		}
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* The tenants on a GPU, each with its letter in the bar. */
static int print_legend(struct tenant_info **on, size_t non, bool letters)
{
	struct ctl_table tab;
	size_t i;
	int r;

	ctl_table_init(&tab, legend_cols, ARRAY_SIZE(legend_cols));
	for (i = 0; i < non; i++) {
		const struct tenant_info *t = on[i];
		char letter[8], id[16], cus[16], weight[16], state[64];
		char used[32], quota[32], mem[80], load[256];
		char *mask = NULL;
		const char *cells[9];

		snprintf(letter, sizeof(letter), "  %c",
			 letters ? tenant_letter(i) : ' ');
		if (t->have_props) {
			mask = ctl_mask_to_string(t->active.bits,
						  t->active.len);
			if (!mask)
				tab.err = -ENOMEM;
			ctl_format_bytes(t->pinned_bytes, used, sizeof(used));
			ctl_format_bytes(t->pinned_quota, quota, sizeof(quota));
			snprintf(mem, sizeof(mem), "%s/%s", used, quota);
		}
		tenant_state(t, state, sizeof(state));
		load_text(t, load, sizeof(load));
		cells[0] = letter;
		cells[1] = num(id, sizeof(id), t->id, false);
		cells[2] = t->name;
		cells[3] = num(cus, sizeof(cus), t->cus, false);
		cells[4] = t->have_props ? num(weight, sizeof(weight),
					       t->weight, false) :
					   "-";
		cells[5] = mask ? mask : "-";
		cells[6] = t->have_props ? mem : "-";
		cells[7] = state;
		cells[8] = load;
		ctl_table_add(&tab, cells);
		free(mask);
	}
	r = ctl_table_print(&tab, stdout, true);
	ctl_table_free(&tab);
	return r;
}

/* {"Manager": {...}, "GPUs": [...], "Tenants": [...]} */
static int json_status(const struct manager_info *m,
		       const struct gpu_info *gpus, size_t ngpus,
		       const struct tenant_info *ts, size_t nts)
{
	struct ctl_json j;

	ctl_json_init(&j, stdout);
	ctl_json_begin_object(&j);
	ctl_json_key(&j, "Manager");
	json_manager(&j, m);
	ctl_json_key(&j, "GPUs");
	json_array(&j, gpus, ngpus, sizeof(*gpus), json_gpu);
	ctl_json_key(&j, "Tenants");
	json_array(&j, ts, nts, sizeof(*ts), json_tenant);
	ctl_json_end_object(&j);
	return json_finish(&j);
}

static void print_manager(const struct manager_info *m)
{
	char used[32], limit[32];

	printf("gpumuxd %s, policy %s, module uapi %u (features %#llx)\n",
	       m->version ? m->version : "?", m->policy ? m->policy : "?",
	       m->module_version, (unsigned long long)m->module_features);
	printf("Tenants: %u; attaches %llu, detaches %llu, gone %llu, ",
	       m->ntenants, (unsigned long long)m->attaches,
	       (unsigned long long)m->detaches,
	       (unsigned long long)m->tenants_gone);
	printf("rebalances %llu, fences %llu, adopted %u\n",
	       (unsigned long long)m->rebalances, (unsigned long long)m->fences,
	       m->adopted);
	ctl_format_bytes(m->pinned_used, used, sizeof(used));
	ctl_format_bytes(m->pinned_limit, limit, sizeof(limit));
	printf("Pinned memory: %s used of %s\n", used, limit);
}

int verb_status(int argc, char **argv)
{
	struct manager_info m;
	struct gpu_info *gpus = NULL;
	struct tenant_info *ts = NULL, **on = NULL;
	size_t ngpus = 0, nts = 0, non, i, k;
	int r;

	(void)argc;
	(void)argv;
	r = get_manager(&m);
	if (!r)
		r = list_gpus(&gpus, &ngpus, true);
	if (!r)
		r = list_tenants(&ts, &nts, true);
	if (r)
		goto out;
	if (arg_json) {
		r = json_status(&m, gpus, ngpus, ts, nts);
		goto out;
	}

	on = calloc(nts ? nts : 1, sizeof(*on));
	if (!on) {
		r = fail(-ENOMEM, "status");
		goto out;
	}
	print_manager(&m);
	if (!ngpus)
		printf("\nNo GPUs.\n");
	for (i = 0; i < ngpus; i++) {
		const struct gpu_info *g = &gpus[i];
		char vram[32];

		non = 0;
		for (k = 0; k < nts; k++)
			if (ts[k].gpu == g->id)
				on[non++] = &ts[k];
		ctl_format_bytes(g->vram, vram, sizeof(vram));
		printf("\nGPU %u %s%s%s%s: %u CUs, %u used, %u free, VRAM %s, %zu tenant%s\n",
		       g->id, g->name, g->have_props ? " (" : "",
		       g->have_props ? g->driver : "", g->have_props ? ")" : "",
		       g->cus, g->used, g->cus > g->used ? g->cus - g->used : 0,
		       vram, non, non == 1 ? "" : "s");
		print_bar(g, on, non);
		if (arg_legend && non)
			r = print_legend(on, non, true);
		if (r)
			goto out_print;
	}

	/* Tenants on no GPU listed (not placed yet, or fenced off). */
	non = 0;
	for (k = 0; k < nts; k++) {
		for (i = 0; i < ngpus; i++)
			if (ts[k].gpu == gpus[i].id)
				break;
		if (i == ngpus)
			on[non++] = &ts[k];
	}
	if (non) {
		printf("\nOn no GPU: %zu tenant%s\n", non, non == 1 ? "" : "s");
		if (arg_legend)
			r = print_legend(on, non, false);
	}
out_print:
	if (r)
		r = fail(r, "cannot print the status");
out:
	free(on);
	tenants_free(ts, nts);
	gpus_free(gpus, ngpus);
	manager_info_free(&m);
	return r;
}
