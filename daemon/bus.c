// SPDX-License-Identifier: GPL-2.0
/*
 * org.gpumux.Scheduler1 on D-Bus, the way systemd's own services do it: one
 * vtable per interface (properties, then methods with named arguments, then
 * signals); a method reads its arguments, validates them, checks the
 * caller's authorization, acts, emits PropertiesChanged and replies.  The
 * contract is org.gpumux.Scheduler1.xml; the test suite checks the live
 * introspection against it.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-api.h"

const sd_bus_error_map gm_bus_errors[] = {
	GM_BUS_ERROR_MAP_ENTRIES,
	SD_BUS_ERROR_MAP_END
};

/* ------------------------------------------------------------ helpers */

static uint32_t path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	uint32_t id;

	if (strncmp(path, prefix, n) || path[n] != '/' || path[n + 1] == '0')
		return 0;
	if (gm_parse_u32(path + n + 1, 1, UINT32_MAX, &id))
		return 0;
	return id;
}

/* A live (not detached) tenant by object path, or an error in @error. */
static struct gm_tenant *tenant_by_path(struct gm_ctx *ctx, const char *path,
					sd_bus_error *error)
{
	struct gm_tenant *t;
	uint32_t id = path_id(path, GM_BUS_TENANT_PREFIX);

	t = id ? gm_tenant_find(ctx, id) : NULL;
	if (!t || t->detached) {
		sd_bus_error_setf(error, GM_ERROR_NO_SUCH_TENANT,
				  "No tenant %s", path);
		return NULL;
	}
	return t;
}

/* Bytes of a CU mask on a GPU of @cus CUs. */
static int append_mask(sd_bus_message *m, const uint64_t *mask, uint32_t cus)
{
	uint8_t bytes[GPUMUX_MAX_CUS / 8];
	size_t n = (cus + 7) / 8, i;

	for (i = 0; i < n; i++)
		bytes[i] = (uint8_t)(mask[i / 8] >> ((i % 8) * 8));
	return sd_bus_message_append_array(m, 'y', bytes, n);
}

static uint32_t gpu_cus(struct gm_ctx *ctx, uint32_t id)
{
	struct gm_gpu *g = gm_gpu_find(ctx, id);

	return g ? g->cus : 0;
}

static int module_error(sd_bus_error *error, int ret, const char *what)
{
	switch (ret) {
	case -ENOSPC:
		return sd_bus_error_setf(error, GM_ERROR_TOO_MANY_TENANTS,
					 "%s: the module is full", what);
	case -EDQUOT:
		return sd_bus_error_setf(error, GM_ERROR_QUOTA_EXCEEDED,
					 "%s: over quota", what);
	case -ENOENT:
		return sd_bus_error_setf(error, GM_ERROR_NO_SUCH_TENANT,
					 "%s: gone", what);
	default:
		return sd_bus_error_setf(error, GM_ERROR_MODULE, "%s: %s", what,
					 strerror(-ret));
	}
}

/*
 * Read an a{sv} of options.  @cb gets each key and must read the variant
 * (it is positioned on it), or return 0 for an unknown key.  Each key at
 * most once.
 */
struct opt_spec {
	const char *key;
	const char *type;
	void *out; /* uint32_t, uint64_t, double, or char[GPUMUX_NAME_LEN] */
	bool seen;
};

static int read_options(sd_bus_message *m, struct opt_spec *spec, size_t n,
			sd_bus_error *error)
{
	const char *key, *contents;
	char type;
	size_t i;
	int ret;

	ret = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (ret < 0)
		return ret;
	while ((ret = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		struct opt_spec *s = NULL;

		ret = sd_bus_message_read(m, "s", &key);
		if (ret < 0)
			return ret;
		for (i = 0; i < n; i++)
			if (!strcmp(spec[i].key, key))
				s = &spec[i];
		if (!s)
			return sd_bus_error_setf(error, GM_ERROR_INVALID_OPTION,
						 "Unknown option '%s'", key);
		if (s->seen)
			return sd_bus_error_setf(error, GM_ERROR_INVALID_OPTION,
						 "Option '%s' given twice",
						 key);
		s->seen = true;
		ret = sd_bus_message_peek_type(m, &type, &contents);
		if (ret < 0)
			return ret;
		if (strcmp(contents, s->type))
			return sd_bus_error_setf(
				error, GM_ERROR_INVALID_OPTION,
				"Option '%s' must be of type '%s', not '%s'",
				key, s->type, contents);
		if (!strcmp(s->type, "s")) {
			const char *str;

			ret = sd_bus_message_read(m, "v", "s", &str);
			if (ret < 0)
				return ret;
			if (strlen(str) >= GPUMUX_NAME_LEN)
				return sd_bus_error_setf(
					error, GM_ERROR_INVALID_VALUE,
					"Option '%s' is longer than %d characters",
					key, GM_NAME_MAX);
			snprintf(s->out, GPUMUX_NAME_LEN, "%s", str);
		} else {
			ret = sd_bus_message_read(m, "v", s->type, s->out);
			if (ret < 0)
				return ret;
		}
		ret = sd_bus_message_exit_container(m);
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return sd_bus_message_exit_container(m);
}

/* ------------------------------------------------------------ signals */

void gm_bus_tenant_added(struct gm_ctx *ctx, struct gm_tenant *t)
{
	sd_bus_emit_signal(ctx->bus, GM_BUS_PATH, GM_BUS_IFACE_MANAGER,
			   "TenantAttached", "os", t->path, t->name);
	sd_bus_emit_object_added(ctx->bus, t->path);
}

void gm_bus_tenant_gone(struct gm_ctx *ctx, struct gm_tenant *t,
			const char *reason)
{
	sd_bus_emit_signal(ctx->bus, GM_BUS_PATH, GM_BUS_IFACE_MANAGER,
			   "TenantGone", "oss", t->path, t->name, reason);
	sd_bus_emit_object_removed(ctx->bus, t->path);
	if (t->gpu) {
		struct gm_gpu *g = gm_gpu_find(ctx, t->gpu);

		if (g)
			sd_bus_emit_properties_changed(ctx->bus, g->path,
						       GM_BUS_IFACE_GPU,
						       "Tenants", NULL);
	}
}

void gm_bus_partition_changed(struct gm_ctx *ctx, struct gm_tenant *t)
{
	sd_bus_message *m = NULL;
	uint32_t cus = gpu_cus(ctx, t->gpu);
	int ret;

	if (!ctx->bus || t->detached)
		return;
	ret = sd_bus_message_new_signal(ctx->bus, &m, GM_BUS_PATH,
					GM_BUS_IFACE_MANAGER,
					"PartitionChanged");
	if (ret >= 0)
		ret = sd_bus_message_append(m, "out", t->path, t->gpu,
					    t->generation);
	if (ret >= 0)
		ret = append_mask(m, t->target, cus);
	if (ret >= 0)
		ret = append_mask(m, t->active, cus);
	if (ret >= 0)
		ret = sd_bus_send(ctx->bus, m, NULL);
	if (ret < 0)
		gm_warn("PartitionChanged: %s", strerror(-ret));
	sd_bus_message_unref(m);
	sd_bus_emit_properties_changed(ctx->bus, t->path, GM_BUS_IFACE_TENANT,
				       "GPU", "TargetMask", "ActiveMask",
				       "ComputeUnits", "Generation", "Fenced",
				       NULL);
}

void gm_bus_gpu_changed(struct gm_ctx *ctx, struct gm_gpu *g)
{
	if (ctx->bus)
		sd_bus_emit_properties_changed(ctx->bus, g->path,
					       GM_BUS_IFACE_GPU,
					       "UsedComputeUnits", "Tenants",
					       NULL);
}

void gm_bus_counters_changed(struct gm_ctx *ctx)
{
	if (ctx->bus)
		sd_bus_emit_properties_changed(ctx->bus, GM_BUS_PATH,
					       GM_BUS_IFACE_MANAGER, "NTenants",
					       "Attaches", "Detaches",
					       "TenantsGone", "Rebalances",
					       "Fences", NULL);
}

/* ------------------------------------------------------------ Manager */

static size_t live_tenants(struct gm_ctx *ctx)
{
	size_t i, n = 0;

	for (i = 0; i < ctx->nr_tenants; i++)
		n += !ctx->tenants[i]->detached;
	return n;
}

static int prop_manager(sd_bus *bus, const char *path, const char *iface,
			const char *prop, sd_bus_message *reply, void *data,
			sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	const struct gm_counters *c = &ctx->counters;

	(void)bus;
	(void)path;
	(void)iface;
	(void)error;
	if (!strcmp(prop, "Version"))
		return sd_bus_message_append(reply, "s", GPUMUXD_VERSION);
	if (!strcmp(prop, "Policy"))
		return sd_bus_message_append(reply, "s", ctx->policy.ops->name);
	if (!strcmp(prop, "ModuleVersion"))
		return sd_bus_message_append(reply, "u",
					     ctx->kmod.info.version);
	if (!strcmp(prop, "ModuleFeatures"))
		return sd_bus_message_append(reply, "t",
					     ctx->kmod.info.features);
	if (!strcmp(prop, "PinnedLimit") || !strcmp(prop, "PinnedUsed")) {
		struct gpumux_info info = { 0 };
		int ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_GET_INFO, &info,
				      sizeof(info));

		if (ret < 0)
			return ret;
		return sd_bus_message_append(
			reply, "t",
			prop[6] == 'L' ? info.pinned_limit : info.pinned_used);
	}
	if (!strcmp(prop, "NGPUs"))
		return sd_bus_message_append(reply, "u",
					     (uint32_t)ctx->nr_gpus);
	if (!strcmp(prop, "NTenants"))
		return sd_bus_message_append(reply, "u",
					     (uint32_t)live_tenants(ctx));
	if (!strcmp(prop, "Attaches"))
		return sd_bus_message_append(reply, "t", c->attaches);
	if (!strcmp(prop, "Detaches"))
		return sd_bus_message_append(reply, "t", c->detaches);
	if (!strcmp(prop, "TenantsGone"))
		return sd_bus_message_append(reply, "t", c->gone);
	if (!strcmp(prop, "Rebalances"))
		return sd_bus_message_append(reply, "t", c->rebalances);
	if (!strcmp(prop, "Fences"))
		return sd_bus_message_append(reply, "t", c->fences);
	if (!strcmp(prop, "Adopted"))
		return sd_bus_message_append(reply, "u", c->adopted);
	return -ENOENT;
}

static int method_attach(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	struct gm_attach_req r = { .weight = GM_WEIGHT_DEFAULT };
	struct opt_spec spec[] = {
		{ GM_OPT_NAME, "s", r.name, false },
		{ GM_OPT_WEIGHT, "u", &r.weight, false },
		{ GM_OPT_MIN_CUS, "u", &r.min_cus, false },
		{ GM_OPT_MAX_CUS, "u", &r.max_cus, false },
		{ GM_OPT_PINNED_QUOTA, "t", &r.pinned_quota, false },
		{ GM_OPT_GPU, "u", &r.gpu, false },
	};
	struct gpumux_tenant_create tc;
	struct gm_tenant *t = NULL;
	struct gpumux_info info = { 0 };
	const char *ename;
	char msg[256];
	uint32_t cus = 0;
	size_t i;
	uid_t uid;
	pid_t pid = 0;
	int ret;

	ret = read_options(m, spec, sizeof(spec) / sizeof(spec[0]), error);
	if (ret < 0 || sd_bus_error_is_set(error))
		return ret;
	ret = gm_sender_creds(m, &uid, &pid);
	if (ret < 0)
		return sd_bus_error_setf(error, GM_ERROR_ACCESS_DENIED,
					 "Cannot tell who the caller is: %s",
					 strerror(-ret));
	if (!spec[0].seen)
		snprintf(r.name, sizeof(r.name), "pid-%d", (int)pid);
	if (r.gpu) {
		cus = gpu_cus(ctx, r.gpu);
	} else {
		for (i = 0; i < ctx->nr_gpus; i++)
			if (ctx->gpus[i].cus > cus)
				cus = ctx->gpus[i].cus;
	}
	ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_GET_INFO, &info, sizeof(info));
	if (ret < 0)
		return module_error(error, ret, "Reading the module's limits");
	/* The default never asks for more than the host allows. */
	if (!spec[4].seen)
		r.pinned_quota = ctx->conf.default_pinned_quota <
						 info.pinned_limit ?
					 ctx->conf.default_pinned_quota :
					 info.pinned_limit;
	ename = gm_attach_check(&r, cus, info.pinned_limit, msg, sizeof(msg));
	if (ename)
		return sd_bus_error_set(error, ename, msg);
	if (ctx->nr_tenants >= ctx->conf.max_tenants)
		return sd_bus_error_setf(error, GM_ERROR_TOO_MANY_TENANTS,
					 "%u tenants already (max_tenants)",
					 ctx->conf.max_tenants);
	if (uid != 0) {
		uint32_t mine = 0;

		for (i = 0; i < ctx->nr_tenants; i++)
			mine += ctx->tenants[i]->uid == uid;
		if (mine >= ctx->conf.max_tenants_per_uid)
			return sd_bus_error_setf(
				error, GM_ERROR_TOO_MANY_TENANTS,
				"uid %u has %u tenants already (max_tenants_per_uid)",
				(unsigned int)uid, mine);
		/*
		 * More than the default share, or a guarantee, is taken from
		 * everyone else: an administrator's decision.
		 */
		if (r.weight > GM_WEIGHT_DEFAULT || r.min_cus) {
			ret = gm_auth_admin(ctx, m, method_attach, error);
			if (ret <= 0)
				return ret ? ret : 1; /* polkit calls again */
		}
	}

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", r.name);
	t->id = UINT32_MAX; /* for the trial plan */
	t->uid = uid;
	t->pid = pid;
	t->weight = r.weight;
	t->min_cus = r.min_cus;
	t->max_cus = r.max_cus;
	t->kernel_max_cus = r.max_cus ? r.max_cus : GPUMUX_MAX_CUS;
	t->preferred_gpu = r.gpu;
	t->pinned_quota = r.pinned_quota;
	ret = gm_plan_fits(ctx, t);
	if (ret < 0) {
		free(t);
		if (ret == -ENOSPC)
			return sd_bus_error_setf(
				error, GM_ERROR_NO_CAPACITY,
				"min_cus %u does not fit beside the minimums of the tenants there",
				r.min_cus);
		return sd_bus_error_setf(error, GM_ERROR_MODULE, "Policy: %s",
					 strerror(-ret));
	}

	memset(&tc, 0, sizeof(tc));
	snprintf(tc.name, sizeof(tc.name), "%s", r.name);
	tc.flags = GPUMUX_TENANT_CLOEXEC;
	tc.max_cus = t->kernel_max_cus;
	tc.pinned_quota = r.pinned_quota;
	ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_TENANT_CREATE, &tc,
			  sizeof(tc));
	if (ret < 0) {
		free(t);
		return module_error(error, ret, "Creating the tenant");
	}
	t->id = tc.tenant_id;
	ret = gm_tenant_insert(ctx, t);
	if (ret < 0) {
		close(tc.fd);
		free(t);
		return ret;
	}
	ctx->counters.attaches++;
	gm_info("tenant %u (%s): attached by uid %u pid %d, weight %u, CUs %u..%u%s",
		t->id, t->name, (unsigned int)uid, (int)pid, t->weight,
		t->min_cus, t->max_cus, t->max_cus ? "" : " (no cap)");
	gm_state_save(ctx);
	gm_bus_tenant_added(ctx, t);
	gm_rebalance(ctx);
	/* The reply holds its own copy of the fd. */
	ret = sd_bus_reply_method_return(m, "oh", t->path, tc.fd);
	close(tc.fd);
	gm_bus_counters_changed(ctx);
	return ret;
}

/* May the caller act on @t as its owner?  1 yes, 0 polkit asked, < 0 no. */
static int owner_or_admin(struct gm_ctx *ctx, sd_bus_message *m,
			  struct gm_tenant *t, sd_bus_message_handler_t handler,
			  sd_bus_error *error)
{
	uid_t uid;
	int ret;

	ret = gm_sender_creds(m, &uid, NULL);
	if (ret < 0)
		return sd_bus_error_setf(error, GM_ERROR_ACCESS_DENIED,
					 "Cannot tell who the caller is: %s",
					 strerror(-ret));
	if (uid == 0 || uid == t->uid)
		return 1;
	return gm_auth_admin(ctx, m, handler, error);
}

static int method_detach(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	struct gpumux_tenant_fence f = { 0 };
	struct gm_tenant *t;
	const char *path;
	int ret;

	ret = sd_bus_message_read(m, "o", &path);
	if (ret < 0)
		return ret;
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	ret = owner_or_admin(ctx, m, t, method_detach, error);
	if (ret <= 0)
		return ret ? ret : 1; /* 0: polkit will call again */
	/* It loses every CU now; the lease ends when its holder closes it. */
	f.tenant_id = t->id;
	ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f));
	if (ret < 0 && ret != -ENOENT)
		return module_error(error, ret, "Fencing the tenant");
	ctx->counters.detaches++;
	gm_info("tenant %u (%s): detached", t->id, t->name);
	gm_bus_tenant_gone(ctx, t, GM_GONE_DETACHED);
	t->detached = true;
	t->fenced = true;
	gm_state_save(ctx);
	gm_rebalance(ctx);
	gm_bus_counters_changed(ctx);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_list_gpus(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	sd_bus_message *reply = NULL;
	size_t i;
	int ret;

	(void)error;
	ret = gm_refresh(ctx);
	if (ret < 0)
		return ret;
	ret = sd_bus_message_new_method_return(m, &reply);
	if (ret < 0)
		return ret;
	ret = sd_bus_message_open_container(reply, 'a', "(uosuut)");
	for (i = 0; ret >= 0 && i < ctx->nr_gpus; i++) {
		const struct gm_gpu *g = &ctx->gpus[i];

		ret = sd_bus_message_append(reply, "(uosuut)", g->id, g->path,
					    g->ident, g->cus, g->used_cus,
					    g->vram);
	}
	if (ret >= 0)
		ret = sd_bus_message_close_container(reply);
	if (ret >= 0)
		ret = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return ret;
}

static int method_list_tenants(sd_bus_message *m, void *data,
			       sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	sd_bus_message *reply = NULL;
	size_t i;
	int ret;

	(void)error;
	ret = sd_bus_message_new_method_return(m, &reply);
	if (ret < 0)
		return ret;
	ret = sd_bus_message_open_container(reply, 'a', "(uosuuuub)");
	for (i = 0; ret >= 0 && i < ctx->nr_tenants; i++) {
		const struct gm_tenant *t = ctx->tenants[i];

		if (t->detached)
			continue;
		ret = sd_bus_message_append(reply, "(uosuuuub)", t->id, t->path,
					    t->name, (uint32_t)t->uid,
					    (uint32_t)t->pid, t->gpu,
					    gm_mask_count(t->active),
					    (int)t->fenced);
	}
	if (ret >= 0)
		ret = sd_bus_message_close_container(reply);
	if (ret >= 0)
		ret = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return ret;
}

static void tenant_props_changed(struct gm_ctx *ctx, struct gm_tenant *t)
{
	sd_bus_emit_properties_changed(ctx->bus, t->path, GM_BUS_IFACE_TENANT,
				       "Weight", "MinComputeUnits",
				       "MaxComputeUnits", "Pinned", NULL);
}

static int method_set_weight(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	struct gm_tenant *t;
	const char *path;
	uint32_t weight;
	int ret;

	ret = sd_bus_message_read(m, "ou", &path, &weight);
	if (ret < 0)
		return ret;
	if (weight < 1 || weight > GM_WEIGHT_MAX)
		return sd_bus_error_setf(error, GM_ERROR_INVALID_VALUE,
					 "weight %u is not 1..%u", weight,
					 GM_WEIGHT_MAX);
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	ret = gm_auth_admin(ctx, m, method_set_weight, error);
	if (ret <= 0)
		return ret ? ret : 1; /* 0: polkit will call again */
	t->weight = weight;
	gm_info("tenant %u (%s): weight %u", t->id, t->name, weight);
	gm_state_save(ctx);
	tenant_props_changed(ctx, t);
	gm_rebalance(ctx);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_set_limits(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	uint32_t min_cus, max_cus, old_min, old_max;
	struct gm_tenant *t;
	const char *path, *ename;
	char msg[256];
	int ret;

	ret = sd_bus_message_read(m, "ouu", &path, &min_cus, &max_cus);
	if (ret < 0)
		return ret;
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	ename = gm_limits_check(min_cus, max_cus, t->kernel_max_cus, msg,
				sizeof(msg));
	if (ename)
		return sd_bus_error_set(error, ename, msg);
	ret = gm_auth_admin(ctx, m, method_set_limits, error);
	if (ret <= 0)
		return ret ? ret : 1; /* 0: polkit will call again */
	old_min = t->min_cus;
	old_max = t->max_cus;
	t->min_cus = min_cus;
	t->max_cus = max_cus;
	ret = gm_plan_fits(ctx, NULL);
	if (ret < 0) {
		t->min_cus = old_min;
		t->max_cus = old_max;
		return sd_bus_error_setf(
			error, GM_ERROR_NO_CAPACITY,
			"min_cus %u does not fit beside the other tenants' minimums",
			min_cus);
	}
	gm_info("tenant %u (%s): CUs %u..%u", t->id, t->name, min_cus, max_cus);
	gm_state_save(ctx);
	tenant_props_changed(ctx, t);
	gm_rebalance(ctx);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_set_partition(sd_bus_message *m, void *data,
				sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	uint64_t mask[GM_MASK_WORDS] = { 0 }, old_mask[GM_MASK_WORDS];
	uint32_t gpu, old_gpu, cus;
	bool old_pinned;
	struct gm_tenant *t;
	const uint8_t *bytes;
	const char *path;
	size_t len, i;
	unsigned int w;
	int ret;

	ret = sd_bus_message_read(m, "ou", &path, &gpu);
	if (ret < 0)
		return ret;
	ret = sd_bus_message_read_array(m, 'y', (const void **)&bytes, &len);
	if (ret < 0)
		return ret;
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	if (len > GPUMUX_MAX_CUS / 8)
		return sd_bus_error_setf(
			error, GM_ERROR_INVALID_VALUE,
			"mask of %zu bytes: at most %d CUs (%d bytes)", len,
			GPUMUX_MAX_CUS, GPUMUX_MAX_CUS / 8);
	for (i = 0; i < len; i++)
		mask[i / 8] |= (uint64_t)bytes[i] << (i % 8 * 8);
	if (!gm_mask_empty(mask)) {
		cus = gpu_cus(ctx, gpu);
		if (!cus)
			return sd_bus_error_setf(error, GM_ERROR_NO_SUCH_GPU,
						 "No GPU %u", gpu);
		for (i = 0; i < len; i++) {
			unsigned int b;

			for (b = 0; b < 8; b++)
				if ((bytes[i] >> b) & 1 && i * 8 + b >= cus)
					return sd_bus_error_setf(
						error, GM_ERROR_INVALID_VALUE,
						"CU %zu is past GPU %u's %u CUs",
						i * 8 + b, gpu, cus);
		}
		if (gm_mask_count(mask) > t->kernel_max_cus)
			return sd_bus_error_setf(
				error, GM_ERROR_INVALID_VALUE,
				"%u CUs is above the lease's cap of %u",
				gm_mask_count(mask), t->kernel_max_cus);
		for (i = 0; i < ctx->nr_tenants; i++) {
			const struct gm_tenant *o = ctx->tenants[i];

			if (o == t || !o->pinned || o->detached ||
			    o->pin_gpu != gpu)
				continue;
			for (w = 0; w < GM_MASK_WORDS; w++)
				if (o->pin_mask[w] & mask[w])
					return sd_bus_error_setf(
						error, GM_ERROR_BUSY,
						"CUs overlap those pinned to tenant %u (%s)",
						o->id, o->name);
		}
	} else if (len && gpu && !gpu_cus(ctx, gpu)) {
		return sd_bus_error_setf(error, GM_ERROR_NO_SUCH_GPU,
					 "No GPU %u", gpu);
	}
	ret = gm_auth_admin(ctx, m, method_set_partition, error);
	if (ret <= 0)
		return ret ? ret : 1; /* 0: polkit will call again */
	old_pinned = t->pinned;
	old_gpu = t->pin_gpu;
	memcpy(old_mask, t->pin_mask, sizeof(old_mask));
	t->pinned = !gm_mask_empty(mask);
	t->pin_gpu = t->pinned ? gpu : 0;
	memcpy(t->pin_mask, mask, sizeof(mask));
	ret = gm_plan_fits(ctx, NULL);
	if (ret < 0) {
		t->pinned = old_pinned;
		t->pin_gpu = old_gpu;
		memcpy(t->pin_mask, old_mask, sizeof(old_mask));
		return sd_bus_error_setf(
			error, GM_ERROR_NO_CAPACITY,
			"The CUs left do not hold the other tenants' minimums");
	}
	gm_info("tenant %u (%s): %s", t->id, t->name,
		t->pinned ? "pinned by SetPartition" : "back to the policy");
	gm_state_save(ctx);
	tenant_props_changed(ctx, t);
	gm_rebalance(ctx);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_fence(sd_bus_message *m, void *data, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	struct gpumux_tenant_fence f = { 0 };
	struct gm_tenant *t;
	const char *path;
	int fenced, ret;

	ret = sd_bus_message_read(m, "ob", &path, &fenced);
	if (ret < 0)
		return ret;
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	ret = gm_auth_admin(ctx, m, method_fence, error);
	if (ret <= 0)
		return ret ? ret : 1; /* 0: polkit will call again */
	if (!fenced && t->fenced) {
		/* Its minimum must fit again beside the others'. */
		t->fenced = false;
		ret = gm_plan_fits(ctx, NULL);
		t->fenced = true;
		if (ret < 0)
			return sd_bus_error_setf(
				error, GM_ERROR_NO_CAPACITY,
				"min_cus %u of tenant %u does not fit beside the other tenants' minimums: lower it first",
				t->min_cus, t->id);
	}
	f.tenant_id = t->id;
	f.flags = fenced ? 0 : GPUMUX_FENCE_CLEAR;
	ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_TENANT_FENCE, &f, sizeof(f));
	if (ret < 0)
		return module_error(error, ret, "Fencing the tenant");
	if (fenced && !t->fenced)
		ctx->counters.fences++;
	gm_info("tenant %u (%s): %s", t->id, t->name,
		fenced ? "fenced" : "fence lifted");
	/* The refresh in the rebalance sees the flag and signals it. */
	gm_rebalance(ctx);
	gm_bus_counters_changed(ctx);
	return sd_bus_reply_method_return(m, NULL);
}

static int method_report_load(sd_bus_message *m, void *data,
			      sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	struct gm_load l = { 0 };
	struct opt_spec spec[] = {
		{ GM_LOAD_RUNNING, "u", &l.running, false },
		{ GM_LOAD_WAITING, "u", &l.waiting, false },
		{ GM_LOAD_KV_USED, "u", &l.kv_used, false },
		{ GM_LOAD_KV_TOTAL, "u", &l.kv_total, false },
		{ GM_LOAD_TOKENS_PER_S, "d", &l.tokens_per_s, false },
	};
	struct gm_tenant *t;
	const char *path;
	uid_t uid;
	int ret;

	ret = sd_bus_message_read(m, "o", &path);
	if (ret < 0)
		return ret;
	ret = read_options(m, spec, sizeof(spec) / sizeof(spec[0]), error);
	if (ret < 0 || sd_bus_error_is_set(error))
		return ret;
	if ((spec[2].seen && spec[3].seen && l.kv_used > l.kv_total) ||
	    !(l.tokens_per_s >= 0) || l.tokens_per_s > 1e12)
		return sd_bus_error_setf(
			error, GM_ERROR_INVALID_VALUE,
			"kv_blocks_used above kv_blocks_total, or tokens_per_s not a rate");
	t = tenant_by_path(ctx, path, error);
	if (!t)
		return -ESRCH;
	ret = gm_sender_creds(m, &uid, NULL);
	if (ret < 0)
		return ret;
	if (uid != 0 && uid != t->uid)
		return sd_bus_error_setf(error, GM_ERROR_NOT_OWNER,
					 "Tenant %s belongs to uid %u", path,
					 (unsigned int)t->uid);
	l.valid = true;
	sd_event_now(ctx->event, CLOCK_MONOTONIC, &l.at_usec);
	t->load = l;
	return sd_bus_reply_method_return(m, NULL);
}

#define MGR_PROP(name, sig, flags) \
	SD_BUS_PROPERTY(name, sig, prop_manager, 0, flags)

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	MGR_PROP("Version", "s", SD_BUS_VTABLE_PROPERTY_CONST),
	MGR_PROP("Policy", "s", SD_BUS_VTABLE_PROPERTY_CONST),
	MGR_PROP("ModuleVersion", "u", SD_BUS_VTABLE_PROPERTY_CONST),
	MGR_PROP("ModuleFeatures", "t", SD_BUS_VTABLE_PROPERTY_CONST),
	MGR_PROP("PinnedLimit", "t", 0),
	MGR_PROP("PinnedUsed", "t", 0),
	MGR_PROP("NGPUs", "u", SD_BUS_VTABLE_PROPERTY_CONST),
	MGR_PROP("NTenants", "u", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("Attaches", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("Detaches", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("TenantsGone", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("Rebalances", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("Fences", "t", SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	MGR_PROP("Adopted", "u", SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_METHOD_WITH_ARGS("Attach", SD_BUS_ARGS("a{sv}", options),
				SD_BUS_RESULT("o", tenant, "h", lease),
				method_attach, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Detach", SD_BUS_ARGS("o", tenant),
				SD_BUS_NO_RESULT, method_detach,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListGPUs", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a(uosuut)", gpus),
				method_list_gpus, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ListTenants", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a(uosuuuub)", tenants),
				method_list_tenants,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetWeight",
				SD_BUS_ARGS("o", tenant, "u", weight),
				SD_BUS_NO_RESULT, method_set_weight,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetLimits",
				SD_BUS_ARGS("o", tenant, "u", min_cus, "u",
					    max_cus),
				SD_BUS_NO_RESULT, method_set_limits,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetPartition",
				SD_BUS_ARGS("o", tenant, "u", gpu, "ay", mask),
				SD_BUS_NO_RESULT, method_set_partition,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Fence", SD_BUS_ARGS("o", tenant, "b", fenced),
				SD_BUS_NO_RESULT, method_fence,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ReportLoad",
				SD_BUS_ARGS("o", tenant, "a{sv}", load),
				SD_BUS_NO_RESULT, method_report_load,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_SIGNAL_WITH_ARGS("TenantAttached",
				SD_BUS_ARGS("o", tenant, "s", name), 0),
	SD_BUS_SIGNAL_WITH_ARGS("PartitionChanged",
				SD_BUS_ARGS("o", tenant, "u", gpu, "t",
					    generation, "ay", target, "ay",
					    active),
				0),
	SD_BUS_SIGNAL_WITH_ARGS(
		"TenantGone", SD_BUS_ARGS("o", tenant, "s", name, "s", reason),
		0),
	SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------ GPU */

static int gpu_find(sd_bus *bus, const char *path, const char *iface,
		    void *data, void **found, sd_bus_error *error)
{
	struct gm_gpu *g = gm_gpu_find(data, path_id(path, GM_BUS_GPU_PREFIX));

	(void)bus;
	(void)iface;
	(void)error;
	if (!g)
		return 0;
	*found = g;
	return 1;
}

static int gpu_enum(sd_bus *bus, const char *prefix, void *data, char ***nodes,
		    sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	char **l;
	size_t i;

	(void)bus;
	(void)prefix;
	(void)error;
	l = calloc(ctx->nr_gpus + 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (i = 0; i < ctx->nr_gpus; i++) {
		l[i] = strdup(ctx->gpus[i].path);
		if (!l[i]) {
			while (i--)
				free(l[i]);
			free(l);
			return -ENOMEM;
		}
	}
	*nodes = l;
	return 0;
}

/* The GPU objects' properties; @data is the gm_gpu, found by gpu_find. */
static struct gm_ctx *the_ctx;

static int prop_gpu(sd_bus *bus, const char *path, const char *iface,
		    const char *prop, sd_bus_message *reply, void *data,
		    sd_bus_error *error)
{
	struct gm_gpu *g = data;
	size_t i;
	int ret;

	(void)bus;
	(void)path;
	(void)iface;
	(void)error;
	if (!strcmp(prop, "Name"))
		return sd_bus_message_append(reply, "s", g->ident);
	if (!strcmp(prop, "Driver"))
		return sd_bus_message_append(reply, "s", g->driver);
	if (!strcmp(prop, "Tenants")) {
		ret = sd_bus_message_open_container(reply, 'a', "o");
		for (i = 0; ret >= 0 && i < the_ctx->nr_tenants; i++) {
			const struct gm_tenant *t = the_ctx->tenants[i];

			if (!t->detached && t->gpu == g->id)
				ret = sd_bus_message_append(reply, "o",
							    t->path);
		}
		return ret < 0 ? ret : sd_bus_message_close_container(reply);
	}
	return -ENOENT;
}

static const sd_bus_vtable gpu_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "u", NULL, offsetof(struct gm_gpu, id),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Name", "s", prop_gpu, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Driver", "s", prop_gpu, 0,
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("ComputeUnits", "u", NULL, offsetof(struct gm_gpu, cus),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("VRAM", "t", NULL, offsetof(struct gm_gpu, vram),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("UsedComputeUnits", "u", NULL,
			offsetof(struct gm_gpu, used_cus),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Tenants", "ao", prop_gpu, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------ Tenant */

static int tenant_find(sd_bus *bus, const char *path, const char *iface,
		       void *data, void **found, sd_bus_error *error)
{
	struct gm_tenant *t =
		gm_tenant_find(data, path_id(path, GM_BUS_TENANT_PREFIX));

	(void)bus;
	(void)iface;
	(void)error;
	if (!t || t->detached)
		return 0;
	*found = t;
	return 1;
}

static int tenant_enum(sd_bus *bus, const char *prefix, void *data,
		       char ***nodes, sd_bus_error *error)
{
	struct gm_ctx *ctx = data;
	size_t i, n = 0;
	char **l;

	(void)bus;
	(void)prefix;
	(void)error;
	l = calloc(ctx->nr_tenants + 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (i = 0; i < ctx->nr_tenants; i++) {
		if (ctx->tenants[i]->detached)
			continue;
		l[n] = strdup(ctx->tenants[i]->path);
		if (!l[n]) {
			while (n--)
				free(l[n]);
			free(l);
			return -ENOMEM;
		}
		n++;
	}
	*nodes = l;
	return 0;
}

static int prop_tenant(sd_bus *bus, const char *path, const char *iface,
		       const char *prop, sd_bus_message *reply, void *data,
		       sd_bus_error *error)
{
	struct gm_tenant *t = data;
	uint32_t cus = gpu_cus(the_ctx, t->gpu);
	int ret;

	(void)bus;
	(void)path;
	(void)iface;
	(void)error;
	if (!strcmp(prop, "Name"))
		return sd_bus_message_append(reply, "s", t->name);
	if (!strcmp(prop, "TargetMask"))
		return append_mask(reply, t->target, cus);
	if (!strcmp(prop, "ActiveMask"))
		return append_mask(reply, t->active, cus);
	if (!strcmp(prop, "ComputeUnits"))
		return sd_bus_message_append(reply, "u",
					     gm_mask_count(t->active));
	if (!strcmp(prop, "Pinned"))
		return sd_bus_message_append(reply, "b", (int)t->pinned);
	if (!strcmp(prop, "Fenced"))
		return sd_bus_message_append(reply, "b", (int)t->fenced);
	if (!strcmp(prop, "PinnedBytes"))
		return sd_bus_message_append(
			reply, "t", gm_tenant_pinned_bytes(the_ctx, t));
	if (!strcmp(prop, "Load")) {
		ret = sd_bus_message_open_container(reply, 'a', "{sv}");
		if (ret >= 0 && t->load.valid)
			ret = sd_bus_message_append(
				reply, "{sv}{sv}{sv}{sv}{sv}", GM_LOAD_RUNNING,
				"u", t->load.running, GM_LOAD_WAITING, "u",
				t->load.waiting, GM_LOAD_KV_USED, "u",
				t->load.kv_used, GM_LOAD_KV_TOTAL, "u",
				t->load.kv_total, GM_LOAD_TOKENS_PER_S, "d",
				t->load.tokens_per_s);
		return ret < 0 ? ret : sd_bus_message_close_container(reply);
	}
	return -ENOENT;
}

#define T_OFF(field) offsetof(struct gm_tenant, field)

static const sd_bus_vtable tenant_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "u", NULL, T_OFF(id),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Name", "s", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("UID", "u", NULL, T_OFF(uid),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("PID", "u", NULL, T_OFF(pid),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Weight", "u", NULL, T_OFF(weight),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("MinComputeUnits", "u", NULL, T_OFF(min_cus),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("MaxComputeUnits", "u", NULL, T_OFF(max_cus),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("PreferredGPU", "u", NULL, T_OFF(preferred_gpu),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("GPU", "u", NULL, T_OFF(gpu),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("TargetMask", "ay", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ActiveMask", "ay", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("ComputeUnits", "u", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Generation", "t", NULL, T_OFF(generation),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Pinned", "b", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("Fenced", "b", prop_tenant, 0,
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_PROPERTY("PinnedQuota", "t", NULL, T_OFF(pinned_quota),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("PinnedBytes", "t", prop_tenant, 0, 0),
	SD_BUS_PROPERTY("Load", "a{sv}", prop_tenant, 0, 0),
	SD_BUS_VTABLE_END
};

/* ------------------------------------------------------------ setup */

int gm_bus_setup(struct gm_ctx *ctx)
{
	int ret;

	the_ctx = ctx;
	ret = sd_bus_error_add_map(gm_bus_errors);
	if (ret < 0)
		return ret;
	ret = sd_bus_open_system(&ctx->bus);
	if (ret < 0) {
		gm_err("connecting to the system bus: %s", strerror(-ret));
		return ret;
	}
	ret = sd_bus_add_object_vtable(ctx->bus, NULL, GM_BUS_PATH,
				       GM_BUS_IFACE_MANAGER, manager_vtable,
				       ctx);
	if (ret >= 0)
		ret = sd_bus_add_fallback_vtable(ctx->bus, NULL,
						 GM_BUS_GPU_PREFIX,
						 GM_BUS_IFACE_GPU, gpu_vtable,
						 gpu_find, ctx);
	if (ret >= 0)
		ret = sd_bus_add_node_enumerator(
			ctx->bus, NULL, GM_BUS_GPU_PREFIX, gpu_enum, ctx);
	if (ret >= 0)
		ret = sd_bus_add_fallback_vtable(
			ctx->bus, NULL, GM_BUS_TENANT_PREFIX,
			GM_BUS_IFACE_TENANT, tenant_vtable, tenant_find, ctx);
	if (ret >= 0)
		ret = sd_bus_add_node_enumerator(
			ctx->bus, NULL, GM_BUS_TENANT_PREFIX, tenant_enum, ctx);
	if (ret >= 0)
		ret = sd_bus_add_object_manager(ctx->bus, NULL, GM_BUS_PATH);
	if (ret < 0) {
		gm_err("registering the D-Bus objects: %s", strerror(-ret));
		return ret;
	}
	ret = sd_bus_attach_event(ctx->bus, ctx->event,
				  SD_EVENT_PRIORITY_NORMAL);
	if (ret < 0)
		return ret;
	/*
	 * Losing the bus ends the loop with a failure: systemd restarts the
	 * daemon, which adopts every tenant.
	 */
	ret = sd_bus_set_exit_on_disconnect(ctx->bus, 1);
	if (ret < 0)
		return ret;
	ret = sd_bus_request_name(ctx->bus, GM_BUS_NAME, 0);
	if (ret < 0) {
		gm_err("taking the name %s: %s", GM_BUS_NAME, strerror(-ret));
		return ret;
	}
	return 0;
}
