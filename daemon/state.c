// SPDX-License-Identifier: GPL-2.0
/*
 * What the module does not keep about a tenant (who attached it, weight,
 * limits, pin, preferred GPU, whether it was detached), in
 * STATE_DIR/tenants: rewritten whole (a temporary file, fsync'ed, renamed
 * over the old one) after every change, read when the daemon starts, so a
 * daemon killed at any point restarts with every tenant as it was.  The
 * state directory is systemd's RuntimeDirectory= (RuntimeDirectoryPreserve=
 * yes): it lives as long as the boot, like the module's tenants.
 *
 * One line per tenant, space-separated key=value, the name last (it may hold
 * spaces):
 *   gpumuxd-state 1
 *   tenant id=3 uid=1000 pid=4242 weight=100 min=0 max=0 gpu=0
 *	quota=1073741824 detached=0 pinned=0 pin_gpu=0 pin=<16 hex words>
 *	name=engine a
 */
#include "gpumuxd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "gpumuxd-state 1"

static int state_path(struct gm_ctx *ctx, char *buf, size_t len,
		      const char *suffix)
{
	int n = snprintf(buf, len, "%s/tenants%s", ctx->state_dir, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gm_state_save(struct gm_ctx *ctx)
{
	char path[4096], tmp[4096];
	size_t i;
	FILE *f;
	int fd, ret, w;

	if (state_path(ctx, path, sizeof(path), "") ||
	    state_path(ctx, tmp, sizeof(tmp), ".tmp"))
		return -ENAMETOOLONG;
	if (mkdir(ctx->state_dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		gm_err("state directory %s: %s", ctx->state_dir,
		       strerror(errno));
		return ret;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		gm_err("%s: %s", tmp, strerror(errno));
		return ret;
	}
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		unlink(tmp);
		return ret;
	}
	fprintf(f, STATE_MAGIC "\n");
	for (i = 0; i < ctx->nr_tenants; i++) {
		const struct gm_tenant *t = ctx->tenants[i];

		fprintf(f,
			"tenant id=%u uid=%u pid=%d weight=%u min=%u max=%u gpu=%u quota=%" PRIu64
			" detached=%d pinned=%d pin_gpu=%u pin=",
			t->id, (unsigned int)t->uid, (int)t->pid, t->weight,
			t->min_cus, t->max_cus, t->preferred_gpu,
			t->pinned_quota, t->detached, t->pinned, t->pin_gpu);
		for (w = 0; w < GM_MASK_WORDS; w++)
			fprintf(f, "%s%016" PRIx64, w ? "," : "",
				t->pin_mask[w]);
		fprintf(f, " name=%s\n", t->name);
	}
	/* ferror: a failed write glibc already dropped from its buffer. */
	errno = 0;
	if (fflush(f) || ferror(f) || fsync(fileno(f))) {
		ret = errno ? -errno : -EIO;
		fclose(f);
		unlink(tmp);
		gm_err("%s: %s", tmp, strerror(-ret));
		return ret;
	}
	if (fclose(f)) {
		ret = -errno;
		unlink(tmp);
		return ret;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		gm_err("rename %s: %s", path, strerror(errno));
		unlink(tmp);
		return ret;
	}
	return 0;
}

/* Parse one "tenant ..." line into @t; false if malformed. */
static bool parse_line(char *line, struct gm_tenant *t)
{
	char *name = strstr(line, " name=");
	unsigned int uid, detached, pinned;
	int pid, off = 0, w;
	char *p;

	if (!name)
		return false;
	*name = '\0';
	name += 6;
	if (sscanf(line,
		   "tenant id=%u uid=%u pid=%d weight=%u min=%u max=%u gpu=%u quota=%" SCNu64
		   " detached=%u pinned=%u pin_gpu=%u pin=%n",
		   &t->id, &uid, &pid, &t->weight, &t->min_cus, &t->max_cus,
		   &t->preferred_gpu, &t->pinned_quota, &detached, &pinned,
		   &t->pin_gpu, &off) != 11 ||
	    !off)
		return false;
	p = line + off;
	for (w = 0; w < GM_MASK_WORDS; w++) {
		char *end;

		t->pin_mask[w] = strtoull(p, &end, 16);
		if (end == p || (w < GM_MASK_WORDS - 1 && *end != ','))
			return false;
		p = end + 1;
	}
	t->uid = uid;
	t->pid = pid;
	t->detached = detached;
	t->pinned = pinned;
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t->weight >= 1 && t->weight <= GPUMUX_POLICY_MAX_WEIGHT;
}

int gm_state_load(struct gm_ctx *ctx, struct gm_tenant **out, size_t *nr)
{
	char path[4096], line[1024];
	struct gm_tenant *arr = NULL, *na;
	size_t n = 0, cap = 0;
	unsigned int lineno = 0;
	FILE *f;

	*out = NULL;
	*nr = 0;
	if (state_path(ctx, path, sizeof(path), ""))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (lineno == 1) {
			if (strcmp(line, STATE_MAGIC)) {
				gm_warn("%s: not a state file of this version: ignored",
					path);
				break;
			}
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				free(arr);
				fclose(f);
				return -ENOMEM;
			}
			arr = na;
		}
		memset(&arr[n], 0, sizeof(arr[n]));
		if (!parse_line(line, &arr[n])) {
			gm_warn("%s:%u: malformed: ignored", path, lineno);
			continue;
		}
		n++;
	}
	fclose(f);
	*out = arr;
	*nr = n;
	return 0;
}
