// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd's view of the ledger and how policy plans reach the module.
 *
 * The module is the authority: after every change the daemon reads the
 * partitions back (LIST) rather than trusting what it asked for.  A plan is
 * applied in two phases so that no exclusive target ever overlaps another
 * (the module refuses that with EBUSY): first every partition that loses
 * CUs is set to what it keeps (the CUs stay the tenant's until it acks, or
 * its deadline passes and it is fenced), then every partition that gains
 * CUs is set to its full target (granted as soon as the CUs are free).
 *
 * Tenants pinned by SetPartition are outside the policy: their CUs are
 * removed from the GPU the policy sees (the policy plans on the CUs left,
 * renumbered 0..n-1, and its masks are mapped back), so the policy code
 * stays pure and unaware of pins.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"

/* ------------------------------------------------------------ lookup */

struct gm_gpu *gm_gpu_find(struct gm_ctx *ctx, uint32_t id)
{
	size_t i;

	for (i = 0; i < ctx->nr_gpus; i++)
		if (ctx->gpus[i].id == id)
			return &ctx->gpus[i];
	return NULL;
}

static size_t tenant_pos(struct gm_ctx *ctx, uint32_t id)
{
	size_t lo = 0, hi = ctx->nr_tenants;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ctx->tenants[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct gm_tenant *gm_tenant_find(struct gm_ctx *ctx, uint32_t id)
{
	size_t i = tenant_pos(ctx, id);

	if (i < ctx->nr_tenants && ctx->tenants[i]->id == id)
		return ctx->tenants[i];
	return NULL;
}

int gm_tenant_insert(struct gm_ctx *ctx, struct gm_tenant *t)
{
	size_t i;

	if (gm_tenant_find(ctx, t->id))
		return -EEXIST;
	if (ctx->nr_tenants == ctx->cap_tenants) {
		size_t cap = ctx->cap_tenants ? ctx->cap_tenants * 2 : 16;
		struct gm_tenant **n;

		n = realloc(ctx->tenants, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ctx->tenants = n;
		ctx->cap_tenants = cap;
	}
	i = tenant_pos(ctx, t->id);
	memmove(&ctx->tenants[i + 1], &ctx->tenants[i],
		(ctx->nr_tenants - i) * sizeof(*ctx->tenants));
	ctx->tenants[i] = t;
	ctx->nr_tenants++;
	snprintf(t->path, sizeof(t->path), GM_BUS_TENANT_PREFIX "/%u", t->id);
	return 0;
}

void gm_tenant_remove(struct gm_ctx *ctx, struct gm_tenant *t)
{
	size_t i = tenant_pos(ctx, t->id);

	if (i < ctx->nr_tenants && ctx->tenants[i] == t) {
		memmove(&ctx->tenants[i], &ctx->tenants[i + 1],
			(ctx->nr_tenants - i - 1) * sizeof(*ctx->tenants));
		ctx->nr_tenants--;
	}
	free(t);
}

/* ------------------------------------------------------------ GPUs */

/* A GPU the daemon wants: discovered with libdrm, or configured. */
struct want_gpu {
	char ident[GPUMUX_IDENT_LEN];
	char driver[32];
	uint32_t cus;
	uint64_t vram;
};

struct wanted {
	struct want_gpu *g;
	size_t n;
};

static int want_gpu(void *data, const char *ident, const char *driver,
		    uint32_t cus, uint64_t vram)
{
	struct wanted *w = data;
	struct want_gpu *n;
	size_t i;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->g[i].ident, ident))
			return 0;
	n = realloc(w->g, (w->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	w->g = n;
	n = &w->g[w->n++];
	memset(n, 0, sizeof(*n));
	snprintf(n->ident, sizeof(n->ident), "%s", ident);
	snprintf(n->driver, sizeof(n->driver), "%s", driver);
	n->cus = cus;
	n->vram = vram;
	return 0;
}

static struct gm_gpu *gpu_push(struct gm_ctx *ctx, uint32_t id,
			       const char *ident, const char *driver,
			       uint32_t cus, uint64_t vram)
{
	struct gm_gpu *g = &ctx->gpus[ctx->nr_gpus++];

	memset(g, 0, sizeof(*g));
	g->id = id;
	snprintf(g->ident, sizeof(g->ident), "%s", ident);
	snprintf(g->driver, sizeof(g->driver), "%s", driver);
	g->cus = cus;
	g->vram = vram;
	snprintf(g->path, sizeof(g->path), GM_BUS_GPU_PREFIX "/%u", id);
	return g;
}

static bool gpu_in_use(const struct gpumux_part_info *parts, size_t n,
		       uint32_t gpu_id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (parts[i].gpu_id == gpu_id)
			return true;
	return false;
}

/*
 * The GPUs: those discovered and configured (or the default virtual one),
 * reconciled with what the module has from a previous daemon.  A GPU of the
 * module that is no longer wanted, or whose size changed, is removed (and
 * registered again at its new size) when no tenant holds CUs on it, and
 * kept as it is, with a warning, when one does: a restart never takes CUs
 * away.
 */
int gm_gpus_setup(struct gm_ctx *ctx)
{
	struct gpumux_gpu_info *known;
	struct gpumux_part_info *inuse;
	struct wanted w = { 0 };
	size_t nk, np, i, j;
	void *buf;
	int ret;

	if (ctx->conf.drm) {
		ret = gm_discover_drm(want_gpu, &w);
		if (ret < 0)
			gm_warn("GPU discovery with libdrm: %s",
				strerror(-ret));
	}
	for (i = 0; i < ctx->conf.nr_vgpus; i++) {
		const struct gm_vgpu_conf *v = &ctx->conf.vgpus[i];
		char ident[GPUMUX_IDENT_LEN];

		snprintf(ident, sizeof(ident), "virtual:%s", v->name);
		ret = want_gpu(&w, ident, "virtual", v->cus, v->vram);
		if (ret < 0)
			goto out_w;
	}
	if (!w.n) {
		gm_info("no GPU found and none configured: using virtual:virtual0 (304 CUs, 192 GiB)");
		ret = want_gpu(&w, "virtual:virtual0", "virtual", 304,
			       192ULL << 30);
		if (ret < 0)
			goto out_w;
	}

	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_GPUS, sizeof(*known), &buf,
			   &nk);
	if (ret < 0)
		goto out_w;
	known = buf;
	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_PARTITIONS, sizeof(*inuse),
			   &buf, &np);
	if (ret < 0)
		goto out_known;
	inuse = buf;
	ctx->gpus = calloc(nk + w.n + 1, sizeof(*ctx->gpus));
	if (!ctx->gpus) {
		ret = -ENOMEM;
		goto out_parts;
	}

	for (i = 0; i < nk; i++) {
		struct gpumux_gpu_info *k = &known[i];
		struct want_gpu *wg = NULL;
		struct gpumux_gpu_remove rm = { .gpu_id = k->gpu_id };
		bool busy = gpu_in_use(inuse, np, k->gpu_id);

		k->ident[sizeof(k->ident) - 1] = '\0';
		for (j = 0; j < w.n; j++)
			if (!strcmp(w.g[j].ident, k->ident))
				wg = &w.g[j];
		if (wg && wg->cus == k->cus) {
			gpu_push(ctx, k->gpu_id, k->ident, wg->driver, k->cus,
				 k->vram_bytes);
			wg->cus = 0; /* done */
			gm_info("GPU %u: %s (%s), %u CUs: adopted from the module",
				k->gpu_id, k->ident, wg->driver, k->cus);
			continue;
		}
		if (busy) {
			gpu_push(ctx, k->gpu_id, k->ident,
				 strncmp(k->ident, "virtual:", 8) ? "unknown" :
								    "virtual",
				 k->cus, k->vram_bytes);
			if (wg)
				wg->cus = 0;
			gm_warn("GPU %u: %s, %u CUs: %s, but tenants hold CUs on it: kept as it is",
				k->gpu_id, k->ident, k->cus,
				wg ? "its size changed" :
				     "no longer found or configured");
			continue;
		}
		ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_GPU_REMOVE, &rm,
				  sizeof(rm));
		if (ret < 0) {
			gm_warn("GPU %u: %s: removing it: %s: kept", k->gpu_id,
				k->ident, strerror(-ret));
			gpu_push(ctx, k->gpu_id, k->ident, "unknown", k->cus,
				 k->vram_bytes);
			continue;
		}
		gm_info("GPU %u: %s, %u CUs: removed (%s)", k->gpu_id, k->ident,
			k->cus, wg ? "its size changed" : "no longer wanted");
	}

	for (j = 0; j < w.n; j++) {
		struct gpumux_gpu_add add;
		struct want_gpu *wg = &w.g[j];

		if (!wg->cus)
			continue;
		memset(&add, 0, sizeof(add));
		add.cus = wg->cus;
		add.vram_bytes = wg->vram;
		snprintf(add.ident, sizeof(add.ident), "%s", wg->ident);
		ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_GPU_ADD, &add,
				  sizeof(add));
		if (ret < 0) {
			gm_err("registering GPU %s (%u CUs) in the module: %s",
			       wg->ident, wg->cus, strerror(-ret));
			continue;
		}
		gpu_push(ctx, add.gpu_id, wg->ident, wg->driver, wg->cus,
			 wg->vram);
		gm_info("GPU %u: %s (%s), %u CUs, %llu MiB", add.gpu_id,
			wg->ident, wg->driver, wg->cus,
			(unsigned long long)(wg->vram >> 20));
	}
	ret = ctx->nr_gpus ? 0 : -ENODEV;
out_parts:
	free(inuse);
out_known:
	free(known);
out_w:
	free(w.g);
	return ret;
}

/* ------------------------------------------------------------ refresh */

static bool masks_equal(const uint64_t *a, const uint64_t *b)
{
	return !memcmp(a, b, GM_MASK_WORDS * sizeof(uint64_t));
}

int gm_refresh(struct gm_ctx *ctx)
{
	struct gpumux_part_info *np;
	struct gpumux_tenant_info *ti;
	size_t n, nt, i, j;
	void *buf;
	int ret;

	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_PARTITIONS, sizeof(*np),
			   &buf, &n);
	if (ret < 0)
		return ret;
	np = buf;
	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_TENANTS, sizeof(*ti), &buf,
			   &nt);
	if (ret < 0) {
		free(np);
		return ret;
	}
	ti = buf;
	free(ctx->parts);
	ctx->parts = calloc(n ? n : 1, sizeof(*ctx->parts));
	if (!ctx->parts) {
		ctx->nr_parts = 0;
		free(np);
		free(ti);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		ctx->parts[i].tenant_id = np[i].tenant_id;
		ctx->parts[i].gpu_id = np[i].gpu_id;
		ctx->parts[i].state = np[i].state;
		ctx->parts[i].generation = np[i].generation;
		memcpy(ctx->parts[i].target, np[i].target,
		       sizeof(ctx->parts[i].target));
		memcpy(ctx->parts[i].active, np[i].active,
		       sizeof(ctx->parts[i].active));
	}
	free(np);
	ctx->nr_parts = n;

	for (i = 0; i < nt; i++) {
		struct gm_tenant *t = gm_tenant_find(ctx, ti[i].tenant_id);
		bool f = ti[i].flags & GPUMUX_TENANT_FENCED;

		if (t && t->fenced != f) {
			t->fenced = f;
			gm_bus_partition_changed(ctx, t);
		}
	}
	free(ti);

	for (i = 0; i < ctx->nr_tenants; i++) {
		struct gm_tenant *t = ctx->tenants[i];
		const struct gm_part *best = NULL;

		for (j = 0; j < ctx->nr_parts; j++) {
			const struct gm_part *p = &ctx->parts[j];

			if (p->tenant_id != t->id)
				continue;
			/* The GPU it is going to, else the one it leaves. */
			if (!gm_mask_empty(p->target) ||
			    (!best && !gm_mask_empty(p->active)))
				best = p;
		}
		if (best) {
			if (t->gpu == best->gpu_id &&
			    t->generation == best->generation &&
			    t->part_state == best->state &&
			    masks_equal(t->target, best->target) &&
			    masks_equal(t->active, best->active))
				continue;
			t->gpu = best->gpu_id;
			t->generation = best->generation;
			t->part_state = best->state;
			memcpy(t->target, best->target, sizeof(t->target));
			memcpy(t->active, best->active, sizeof(t->active));
		} else {
			if (!t->gpu && gm_mask_empty(t->target) &&
			    gm_mask_empty(t->active))
				continue;
			t->gpu = 0;
			t->part_state = GPUMUX_PART_STABLE;
			memset(t->target, 0, sizeof(t->target));
			memset(t->active, 0, sizeof(t->active));
		}
		if (!t->detached)
			gm_bus_partition_changed(ctx, t);
	}

	for (i = 0; i < ctx->nr_gpus; i++) {
		struct gm_gpu *g = &ctx->gpus[i];
		uint64_t used[GM_MASK_WORDS] = { 0 };
		unsigned int w, u;

		for (j = 0; j < ctx->nr_parts; j++)
			if (ctx->parts[j].gpu_id == g->id)
				for (w = 0; w < GM_MASK_WORDS; w++)
					used[w] |= ctx->parts[j].active[w];
		u = gm_mask_count(used);
		if (u != g->used_cus) {
			g->used_cus = u;
			gm_bus_gpu_changed(ctx, g);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ planning */

/* A GPU as the policy sees it: the CUs no pinned tenant holds. */
struct vgpu {
	uint32_t id;
	uint32_t cus; /* CUs left */
	uint16_t to_real[GPUMUX_MAX_CUS]; /* policy CU -> real CU */
	int16_t to_virt[GPUMUX_MAX_CUS]; /* real CU -> policy CU, or -1 */
};

static bool in_policy(const struct gm_tenant *t)
{
	return !t->fenced && !t->detached && !t->pinned;
}

static void map_mask(const uint64_t *src, uint64_t *dst, const struct vgpu *v,
		     bool to_virt, uint32_t real_cus)
{
	uint32_t cu, n = to_virt ? real_cus : v->cus;

	memset(dst, 0, GM_MASK_WORDS * sizeof(uint64_t));
	for (cu = 0; cu < n; cu++) {
		if (!gpumux_policy_mask_test(src, cu))
			continue;
		if (to_virt) {
			if (v->to_virt[cu] >= 0)
				gpumux_policy_mask_set(
					dst, (unsigned)v->to_virt[cu]);
		} else {
			gpumux_policy_mask_set(dst, v->to_real[cu]);
		}
	}
}

struct plan {
	struct vgpu *vg;
	size_t nr_vg;
	struct gpumux_policy_gpu *gpus;
	struct gpumux_policy_tenant *ten;
	size_t nr_ten;
	struct gpumux_policy_part *in_parts;
	size_t nr_in;
	struct gpumux_policy_part *out_parts;
	struct gpumux_policy_output out;
};

static void plan_free(struct plan *p)
{
	free(p->vg);
	free(p->gpus);
	free(p->ten);
	free(p->in_parts);
	free(p->out_parts);
}

static struct vgpu *vgpu_of(struct plan *p, uint32_t id)
{
	size_t i;

	for (i = 0; i < p->nr_vg; i++)
		if (p->vg[i].id == id)
			return &p->vg[i];
	return NULL;
}

/* Build the policy's input from the ledger (+ @extra) and run it. */
/*
 * With @relax, minimums are dropped (a plan that keeps every tenant
 * running on its share when the minimums cannot all be met: after a restart
 * with a changed configuration, say), else a minimum that cannot be placed
 * makes the plan infeasible (-EINVAL).
 */
static int plan_run(struct gm_ctx *ctx, const struct gm_tenant *extra,
		    struct plan *p, bool relax)
{
	struct gpumux_policy_input in = { 0 };
	size_t i, j, nt = ctx->nr_tenants + (extra ? 1 : 0);

	memset(p, 0, sizeof(*p));
	p->vg = calloc(ctx->nr_gpus ? ctx->nr_gpus : 1, sizeof(*p->vg));
	p->gpus = calloc(ctx->nr_gpus ? ctx->nr_gpus : 1, sizeof(*p->gpus));
	p->ten = calloc(nt ? nt : 1, sizeof(*p->ten));
	p->in_parts = calloc(ctx->nr_parts + nt + 1, sizeof(*p->in_parts));
	p->out_parts =
		calloc(ctx->nr_parts + 2 * nt + 1, sizeof(*p->out_parts));
	if (!p->vg || !p->gpus || !p->ten || !p->in_parts || !p->out_parts)
		return -ENOMEM;

	for (i = 0; i < ctx->nr_gpus; i++) {
		const struct gm_gpu *g = &ctx->gpus[i];
		uint64_t pinned[GM_MASK_WORDS] = { 0 };
		struct vgpu *v = &p->vg[p->nr_vg];
		uint32_t cu;

		for (j = 0; j < ctx->nr_tenants; j++) {
			const struct gm_tenant *t = ctx->tenants[j];
			unsigned int w;

			if (t->pinned && !t->fenced && !t->detached &&
			    t->pin_gpu == g->id)
				for (w = 0; w < GM_MASK_WORDS; w++)
					pinned[w] |= t->pin_mask[w];
		}
		v->id = g->id;
		for (cu = 0; cu < g->cus; cu++) {
			if (gpumux_policy_mask_test(pinned, cu)) {
				v->to_virt[cu] = -1;
				continue;
			}
			v->to_virt[cu] = (int16_t)v->cus;
			v->to_real[v->cus++] = (uint16_t)cu;
		}
		if (!v->cus)
			continue; /* all pinned: not the policy's */
		p->gpus[p->nr_vg].id = g->id;
		p->gpus[p->nr_vg].cus = v->cus;
		p->nr_vg++;
	}

	for (i = 0; i < nt; i++) {
		const struct gm_tenant *t =
			i < ctx->nr_tenants ? ctx->tenants[i] : extra;
		struct gpumux_policy_tenant *pt = &p->ten[p->nr_ten];
		uint32_t max;

		if (!in_policy(t))
			continue;
		/*
		 * No GPU for it (its GPU, or every GPU, is all pinned):
		 * nothing for it, which only a minimum forbids.
		 */
		if (!p->nr_vg ||
		    (t->preferred_gpu && !vgpu_of(p, t->preferred_gpu))) {
			if (t->min_cus && !relax)
				return -EINVAL;
			continue;
		}
		max = t->max_cus ? t->max_cus : GPUMUX_POLICY_MAX_CUS;
		if (max > t->kernel_max_cus)
			max = t->kernel_max_cus;
		pt->id = t->id;
		pt->weight = t->weight;
		pt->max_cus = max;
		pt->min_cus = relax ? 0 : t->min_cus < max ? t->min_cus : max;
		pt->preferred_gpu = t->preferred_gpu;
		p->nr_ten++;

		/* Its partitions now, in the policy's CU numbering. */
		bool placed = false;

		for (j = 0; j < ctx->nr_parts; j++) {
			const struct gm_part *mp = &ctx->parts[j];
			struct gpumux_policy_part *pp;
			struct vgpu *v;

			if (mp->tenant_id != t->id)
				continue;
			v = vgpu_of(p, mp->gpu_id);
			if (!v)
				continue;
			pp = &p->in_parts[p->nr_in++];
			pp->tenant_id = t->id;
			pp->gpu_id = mp->gpu_id;
			pp->flags = GPUMUX_POLICY_EXCLUSIVE;
			map_mask(mp->target, pp->mask, v, true,
				 gm_gpu_find(ctx, mp->gpu_id)->cus);
			placed = true;
		}
		if (!placed && t->placed_gpu && vgpu_of(p, t->placed_gpu)) {
			struct gpumux_policy_part *pp =
				&p->in_parts[p->nr_in++];

			pp->tenant_id = t->id;
			pp->gpu_id = t->placed_gpu;
		}
	}

	in.gpus = p->gpus;
	in.nr_gpus = p->nr_vg;
	in.tenants = p->ten;
	in.nr_tenants = p->nr_ten;
	in.parts = p->in_parts;
	in.nr_parts = p->nr_in;
	p->out.parts = p->out_parts;
	p->out.max_parts = ctx->nr_parts + 2 * nt + 1;
	if (!p->nr_ten)
		return 0; /* nothing to plan: pins and releases only */
	return gpumux_policy_plan(&ctx->policy, &in, &p->out);
}

int gm_plan_fits(struct gm_ctx *ctx, const struct gm_tenant *extra)
{
	struct plan p;
	int ret = plan_run(ctx, extra, &p, false);

	plan_free(&p);
	return ret == -EINVAL ? -ENOSPC : ret;
}

/* One PART_SET; errors are logged: the refresh shows what happened. */
static void part_set(struct gm_ctx *ctx, uint32_t tenant, uint32_t gpu,
		     const uint64_t *mask)
{
	struct gpumux_part_set ps;
	int ret;

	memset(&ps, 0, sizeof(ps));
	ps.tenant_id = tenant;
	ps.gpu_id = gpu;
	ps.flags = GPUMUX_PART_EXCLUSIVE;
	ps.deadline_ms = ctx->conf.ack_deadline_ms;
	memcpy(ps.mask, mask, sizeof(ps.mask));
	ret = gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_PART_SET, &ps, sizeof(ps));
	if (ret < 0 && ret != -EPERM && ret != -ENOENT)
		gm_warn("tenant %u GPU %u: setting %u CUs: %s", tenant, gpu,
			gm_mask_count(mask), strerror(-ret));
	else
		gm_debug("tenant %u GPU %u: target %u CUs (%d)", tenant, gpu,
			 gm_mask_count(mask), ret);
}

/* A wanted (tenant, GPU, real mask) of the plan. */
struct want {
	uint32_t tenant, gpu;
	uint64_t mask[GM_MASK_WORDS];
};

static const uint64_t *current_target(struct gm_ctx *ctx, uint32_t tenant,
				      uint32_t gpu)
{
	static const uint64_t none[GM_MASK_WORDS];
	size_t i;

	for (i = 0; i < ctx->nr_parts; i++)
		if (ctx->parts[i].tenant_id == tenant &&
		    ctx->parts[i].gpu_id == gpu)
			return ctx->parts[i].target;
	return none;
}

static void rebalance_retry(struct gm_ctx *ctx, uint64_t delay_us);

/* A re-plan that failed is tried again, backing off up to 5 s. */
static int rebalance_failed(struct gm_ctx *ctx, int ret)
{
	unsigned int n = ctx->rebalance_failures++;
	uint64_t delay = 50000ULL << (n < 7 ? n : 7);

	rebalance_retry(ctx, delay < 5000000 ? delay : 5000000);
	return ret;
}

int gm_rebalance(struct gm_ctx *ctx)
{
	struct want *w = NULL;
	size_t nw = 0, i, j, cap;
	struct plan p;
	int ret, phase;

	if (ctx->rebalance_timer)
		sd_event_source_set_enabled(ctx->rebalance_timer, SD_EVENT_OFF);
	ctx->rebalance_queued = false;
	ret = gm_refresh(ctx);
	if (ret < 0) {
		gm_warn("reading the partitions back: %s", strerror(-ret));
		return rebalance_failed(ctx, ret);
	}
	ret = plan_run(ctx, NULL, &p, false);
	if (ret == -EINVAL) {
		gm_warn("policy %s: the minimums do not all fit: planning without them",
			ctx->policy.ops->name);
		plan_free(&p);
		ret = plan_run(ctx, NULL, &p, true);
	}
	if (ret < 0) {
		gm_warn("policy %s: no plan: %s", ctx->policy.ops->name,
			strerror(-ret));
		plan_free(&p);
		return rebalance_failed(ctx, ret);
	}
	cap = p.out.nr_parts + ctx->nr_parts + ctx->nr_tenants + 1;
	w = calloc(cap, sizeof(*w));
	if (!w) {
		plan_free(&p);
		return -ENOMEM;
	}
	/* The policy's partitions, in real CU numbers. */
	for (i = 0; i < p.out.nr_parts; i++) {
		const struct gpumux_policy_part *op = &p.out.parts[i];
		struct gm_tenant *t = gm_tenant_find(ctx, op->tenant_id);
		struct vgpu *v = vgpu_of(&p, op->gpu_id);

		if (!t || !v)
			continue;
		w[nw].tenant = op->tenant_id;
		w[nw].gpu = op->gpu_id;
		map_mask(op->mask, w[nw].mask, v, false, 0);
		if (!gm_mask_empty(op->mask))
			t->placed_gpu = op->gpu_id;
		else if (!t->placed_gpu || t->placed_gpu == op->gpu_id)
			t->placed_gpu = op->gpu_id;
		nw++;
	}
	/*
	 * Pinned tenants get their pin; everyone loses what it holds on GPUs
	 * the plan does not name for it (a pinned tenant elsewhere, a
	 * tenant whose GPU became all pinned).
	 */
	for (i = 0; i < ctx->nr_tenants; i++) {
		struct gm_tenant *t = ctx->tenants[i];

		if (t->pinned && !t->fenced && !t->detached) {
			w[nw].tenant = t->id;
			w[nw].gpu = t->pin_gpu;
			memcpy(w[nw].mask, t->pin_mask, sizeof(w[nw].mask));
			nw++;
		}
	}
	for (i = 0; i < ctx->nr_parts; i++) {
		const struct gm_part *mp = &ctx->parts[i];
		struct gm_tenant *t = gm_tenant_find(ctx, mp->tenant_id);
		bool named = false;

		if (!t || t->fenced || gm_mask_empty(mp->target))
			continue;
		for (j = 0; j < nw; j++)
			if (w[j].tenant == mp->tenant_id &&
			    w[j].gpu == mp->gpu_id)
				named = true;
		if (!named && nw < cap) {
			w[nw].tenant = mp->tenant_id;
			w[nw].gpu = mp->gpu_id;
			memset(w[nw].mask, 0, sizeof(w[nw].mask));
			nw++;
		}
	}
	plan_free(&p);

	/* Phase 0 shrinks to old & new; phase 1 grows to new. */
	for (phase = 0; phase < 2; phase++) {
		for (i = 0; i < nw; i++) {
			const uint64_t *cur =
				current_target(ctx, w[i].tenant, w[i].gpu);
			uint64_t keep[GM_MASK_WORDS];
			unsigned int k;

			for (k = 0; k < GM_MASK_WORDS; k++)
				keep[k] = cur[k] & w[i].mask[k];
			if (phase == 0 && !masks_equal(keep, cur))
				part_set(ctx, w[i].tenant, w[i].gpu, keep);
			if (phase == 1 && !masks_equal(keep, w[i].mask))
				part_set(ctx, w[i].tenant, w[i].gpu, w[i].mask);
		}
	}
	free(w);
	ctx->counters.rebalances++;
	ctx->rebalance_failures = 0;
	gm_bus_counters_changed(ctx);
	return gm_refresh(ctx);
}

static int on_rebalance_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct gm_ctx *ctx = data;

	(void)s;
	(void)usec;
	gm_rebalance(ctx);
	return 0;
}

static void rebalance_retry(struct gm_ctx *ctx, uint64_t delay)
{
	int ret;

	if (!ctx->event)
		return;
	if (!ctx->rebalance_timer) {
		ret = sd_event_add_time_relative(ctx->event,
						 &ctx->rebalance_timer,
						 CLOCK_MONOTONIC, delay, 1000,
						 on_rebalance_timer, ctx);
		if (ret < 0) {
			gm_err("re-planning timer: %s", strerror(-ret));
			return;
		}
	} else {
		sd_event_source_set_time_relative(ctx->rebalance_timer, delay);
	}
	sd_event_source_set_enabled(ctx->rebalance_timer, SD_EVENT_ONESHOT);
	ctx->rebalance_queued = true;
}

void gm_rebalance_later(struct gm_ctx *ctx)
{
	if (ctx->rebalance_queued)
		return;
	rebalance_retry(ctx, ctx->conf.rebalance_delay_ms * 1000ULL);
}

/* ------------------------------------------------------------ events */

static void tenant_gone(struct gm_ctx *ctx, struct gm_tenant *t)
{
	if (!t->detached) {
		gm_info("tenant %u (%s): lease closed", t->id, t->name);
		ctx->counters.gone++;
		gm_bus_tenant_gone(ctx, t, GM_GONE_EXITED);
	}
	gm_tenant_remove(ctx, t);
	gm_bus_counters_changed(ctx);
}

/* After an overflow: what the module no longer has is gone. */
static int resync(struct gm_ctx *ctx)
{
	struct gpumux_tenant_info *ti;
	size_t nt, i, j;
	void *buf;
	int ret;

	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_TENANTS, sizeof(*ti), &buf,
			   &nt);
	if (ret < 0)
		return ret;
	ti = buf;
	for (i = 0; i < ctx->nr_tenants;) {
		struct gm_tenant *t = ctx->tenants[i];
		bool alive = false;

		for (j = 0; j < nt; j++)
			if (ti[j].tenant_id == t->id)
				alive = true;
		if (alive) {
			i++;
			continue;
		}
		tenant_gone(ctx, t);
	}
	free(ti);
	return 0;
}

int gm_handle_events(struct gm_ctx *ctx, const struct gpumux_event *ev,
		     size_t n)
{
	bool changed = false, save = false;
	struct gm_tenant *t;
	size_t i;

	for (i = 0; i < n; i++) {
		gm_debug("event %u tenant %u gpu %u gen %llu arg %llu",
			 ev[i].type, ev[i].tenant_id, ev[i].gpu_id,
			 (unsigned long long)ev[i].generation,
			 (unsigned long long)ev[i].arg);
		switch (ev[i].type) {
		case GPUMUX_EVENT_TENANT_GONE:
			t = gm_tenant_find(ctx, ev[i].tenant_id);
			if (t) {
				tenant_gone(ctx, t);
				changed = save = true;
			}
			break;
		case GPUMUX_EVENT_PART_FENCED:
			t = gm_tenant_find(ctx, ev[i].tenant_id);
			if (t && !t->detached) {
				gm_warn("tenant %u (%s): missed its ack deadline: fenced",
					t->id, t->name);
				ctx->counters.fences++;
				changed = true;
			}
			break;
		case GPUMUX_EVENT_PART_ACKED:
		case GPUMUX_EVENT_PART_GRANTED:
			break;
		case GPUMUX_EVENT_OVERFLOW:
			gm_warn("module event queue overflowed (%llu lost): resynchronizing",
				(unsigned long long)ev[i].arg);
			resync(ctx);
			changed = save = true;
			break;
		default:
			break;
		}
	}
	if (save)
		gm_state_save(ctx);
	gm_refresh(ctx);
	if (changed)
		gm_rebalance_later(ctx);
	return 0;
}

/* ------------------------------------------------------------ adoption */

/* What the state file says of tenant @t->id, if anything. */
static bool state_apply(struct gm_tenant *t, const struct gm_tenant *saved,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct gm_tenant *s = &saved[i];

		if (s->id != t->id)
			continue;
		/* The module's name wins: it is the same unless truncated. */
		t->uid = s->uid;
		t->pid = s->pid;
		t->weight = s->weight;
		t->min_cus = s->min_cus;
		t->max_cus = s->max_cus;
		t->preferred_gpu = s->preferred_gpu;
		t->detached = s->detached;
		t->pinned = s->pinned;
		t->pin_gpu = s->pin_gpu;
		memcpy(t->pin_mask, s->pin_mask, sizeof(t->pin_mask));
		return true;
	}
	return false;
}

int gm_adopt(struct gm_ctx *ctx)
{
	struct gpumux_tenant_info *ti;
	struct gm_tenant *saved;
	size_t nt, ns, i;
	void *buf;
	int ret;

	ret = gm_kmod_list(&ctx->kmod, GPUMUX_LIST_TENANTS, sizeof(*ti), &buf,
			   &nt);
	if (ret < 0)
		return ret;
	ti = buf;
	ret = gm_state_load(ctx, &saved, &ns);
	if (ret < 0) {
		gm_warn("state file in %s: %s: tenants adopted with defaults",
			ctx->state_dir, strerror(-ret));
		saved = NULL;
		ns = 0;
	}
	for (i = 0; i < nt; i++) {
		struct gm_tenant *t = calloc(1, sizeof(*t));

		if (!t) {
			ret = -ENOMEM;
			break;
		}
		t->id = ti[i].tenant_id;
		memcpy(t->name, ti[i].name, sizeof(t->name));
		t->name[sizeof(t->name) - 1] = '\0';
		t->weight = GM_WEIGHT_DEFAULT;
		t->kernel_max_cus = ti[i].max_cus;
		t->max_cus = ti[i].max_cus < GPUMUX_MAX_CUS ? ti[i].max_cus : 0;
		t->pinned_quota = ti[i].pinned_quota;
		t->fenced = ti[i].flags & GPUMUX_TENANT_FENCED;
		t->uid = 0;
		if (!state_apply(t, saved, ns))
			gm_warn("tenant %u (%s): not in the state file: adopted with defaults (weight %u, owner root)",
				t->id, t->name, t->weight);
		if (t->preferred_gpu && !gm_gpu_find(ctx, t->preferred_gpu))
			t->preferred_gpu = 0;
		if (t->pinned && !gm_gpu_find(ctx, t->pin_gpu))
			t->pinned = false;
		ret = gm_tenant_insert(ctx, t);
		if (ret < 0) {
			free(t);
			break;
		}
		if (!t->detached)
			ctx->counters.adopted++;
		gm_info("tenant %u (%s): adopted%s", t->id, t->name,
			t->detached ?
				" (detached, waiting for its lease to close)" :
				"");
	}
	free(saved);
	free(ti);
	if (ret < 0)
		return ret;
	/* Not fatal: the next change tries again (and says so). */
	gm_state_save(ctx);
	return 0;
}

uint64_t gm_tenant_pinned_bytes(struct gm_ctx *ctx, struct gm_tenant *t)
{
	struct gpumux_tenant_info ti;
	struct gpumux_list l;

	memset(&l, 0, sizeof(l));
	l.kind = GPUMUX_LIST_TENANTS;
	l.entry_size = sizeof(ti);
	l.addr = (uint64_t)(uintptr_t)&ti;
	l.capacity = 1;
	l.start_id = t->id;
	if (gm_kmod_cmd(&ctx->kmod, GPUMUX_CMD_LIST, &l, sizeof(l)) < 0 ||
	    l.count != 1 || ti.tenant_id != t->id)
		return 0;
	return ti.pinned_used;
}
