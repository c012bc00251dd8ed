// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: debugfs, /sys/kernel/debug/gpumux/.
 *
 *   state     the ledger, one object a line (see the format below)
 *   counters  "name value" lines: object counts (leak checks) and activity
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "gpumux.h"

static struct dentry *gm_debugfs_dir;

/*
 * gpu <id> cus=<n> vram=<bytes> ident=<s>
 * tenant <id> name=<s> fenced=<0|1> max_cus=<n> quota=<b> used=<b> buffers=<n>
 * part <tenant> <gpu> flags=<f> state=<s> gen=<g> active=<list> target=<list>
 * buf <id> owner=<t> size=<b> grants=<n>
 * grant <buf> <tenant> access=<ro|rw>
 */
static int gm_state_show(struct seq_file *s, void *unused)
{
	struct gm_tenant *t;
	struct gm_gpu *g;
	struct gm_buf *b;
	unsigned long idx;

	mutex_lock(&gm.lock);
	xa_for_each(&gm.gpus, idx, g)
		seq_printf(s, "gpu %u cus=%u vram=%llu ident=%s\n", g->id,
			   g->cus, g->vram, g->ident);
	xa_for_each(&gm.tenants, idx, t) {
		struct gm_part *p;

		seq_printf(s, "tenant %u name=%s fenced=%d max_cus=%u", t->id,
			   t->name, t->fenced, t->max_cus);
		seq_printf(s, " quota=%llu used=%lld buffers=%u\n",
			   t->pinned_quota, atomic64_read(&t->pinned_used),
			   t->nr_buffers);
		list_for_each_entry(p, &t->parts, tenant_node) {
			seq_printf(s, "part %u %u flags=%u state=%s gen=%llu",
				   t->id, p->g->id, p->flags,
				   gm_part_state_name(p), p->generation);
			seq_printf(s, " active=%*pbl target=%*pbl\n",
				   GPUMUX_MAX_CUS, p->active, GPUMUX_MAX_CUS,
				   p->target);
		}
	}
	xa_for_each(&gm.bufs, idx, b) {
		struct gm_grant *gr;

		seq_printf(s, "buf %u owner=%u size=%llu grants=%u\n", b->id,
			   b->owner->id, b->size, b->nr_grants);
		list_for_each_entry(gr, &b->grants, buf_node)
			seq_printf(s, "grant %u %u access=%s\n", b->id,
				   gr->t->id, gr->access ? "rw" : "ro");
	}
	mutex_unlock(&gm.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gm_state);

static int gm_counters_show(struct seq_file *s, void *unused)
{
	seq_printf(s, "tenants %d\n", atomic_read(&gm_cnt.tenants));
	seq_printf(s, "buffers %d\n", atomic_read(&gm_cnt.buffers));
	seq_printf(s, "pages %ld\n", atomic_long_read(&gm_cnt.pages));
	seq_printf(s, "pinned_bytes %lld\n", atomic64_read(&gm.pinned_used));
	seq_printf(s, "grants %d\n", atomic_read(&gm_cnt.grants));
	seq_printf(s, "pending_cmds %d\n", atomic_read(&gm_cnt.pending_cmds));
	seq_printf(s, "gpus %u\n", READ_ONCE(gm.nr_gpus));
	seq_printf(s, "live_tenants %u\n", READ_ONCE(gm.nr_tenants));
	seq_printf(s, "pinned_limit %llu\n", READ_ONCE(gm.pinned_limit));
	seq_printf(s, "events_dropped %lld\n",
		   atomic64_read(&gm_cnt.events_dropped));
	seq_printf(s, "fences %lld\n", atomic64_read(&gm_cnt.fences));
	seq_printf(s, "ops_ioctl %lld\n", atomic64_read(&gm_cnt.ops_ioctl));
	seq_printf(s, "ops_uring %lld\n", atomic64_read(&gm_cnt.ops_uring));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gm_counters);

void gm_debugfs_init(void)
{
	gm_debugfs_dir = debugfs_create_dir("gpumux", NULL);
	debugfs_create_file("state", 0400, gm_debugfs_dir, NULL,
			    &gm_state_fops);
	debugfs_create_file("counters", 0444, gm_debugfs_dir, NULL,
			    &gm_counters_fops);
}

void gm_debugfs_exit(void)
{
	debugfs_remove_recursive(gm_debugfs_dir);
}
