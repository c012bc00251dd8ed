// SPDX-License-Identifier: GPL-2.0
/*
 * The module's tracepoints fire with the right fields: partition changes,
 * fences, buffer alloc/free and grants.  Uses tracefs (mounted here if the
 * guest has not).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmtest.h"

static char tracing[64];

static int write_file(const char *name, const char *text)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", tracing, name);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The trace buffer so far, NUL-terminated (malloc'd), or NULL. */
static char *read_trace(void)
{
	size_t cap = 1 << 20, len = 0;
	char path[128], *buf = malloc(cap);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/trace", tracing);
	fd = open(path, O_RDONLY);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

static int find_tracing(void)
{
	static const char *const dirs[] = { "/sys/kernel/tracing",
					    "/sys/kernel/debug/tracing" };
	char probe[128];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(probe, sizeof(probe), "%s/events/gpumux", dirs[i]);
		if (!access(probe, F_OK)) {
			snprintf(tracing, sizeof(tracing), "%s", dirs[i]);
			return 0;
		}
	}
	/* Not mounted yet: mount tracefs where the kernel expects it. */
	if (mount("tracefs", dirs[0], "tracefs", 0, NULL))
		return -errno;
	snprintf(tracing, sizeof(tracing), "%s", dirs[0]);
	snprintf(probe, sizeof(probe), "%s/events/gpumux", dirs[0]);
	return access(probe, F_OK) ? -ENOENT : 0;
}

int main(void)
{
	long long base[GM_NR_CNT];
	unsigned int gpu, tid, buf, tid2;
	char *trace, want[160];
	uint64_t off, gen;
	int ctl, tfd, tfd2, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	gm_counters_get(base);
	ctl = gm_t_open_control(0);
	if (ctl < 0)
		return t_status();

	t_begin("trace/events_present");
	ret = find_tracing();
	T_EQ(ret, 0);
	if (ret) {
		t_end();
		close(ctl);
		return t_status();
	}
	T_EQ(write_file("trace", ""), 0);
	T_EQ(write_file("events/gpumux/enable", "1"), 0);
	t_end();

	gpu = T_OK(gm_gpu_add(ctl, 64, "test:trace:1", GM_IOCTL));
	tfd = T_OK(
		gm_tenant_create(ctl, "tracee", 64, 1 << 20, &tid, GM_IOCTL));
	tfd2 = T_OK(
		gm_tenant_create(ctl, "tracee2", 64, 1 << 20, &tid2, GM_IOCTL));
	T_OK(gm_part_set_range(ctl, tid, gpu, 0, 16, 0, 0, &gen, GM_IOCTL));
	T_OK(gm_buf_alloc(tfd, 8192, &buf, &off, GM_URING));
	{
		struct gpumux_grant g = { .buf_id = buf,
					  .tenant_id = tid2,
					  .access = GPUMUX_ACCESS_RO };
		struct gpumux_grant_revoke r = { .buf_id = buf,
						 .tenant_id = tid2 };
		struct gpumux_tenant_fence f = { .tenant_id = tid };

		T_OK(GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, GM_IOCTL));
		T_OK(GM_CMD(ctl, GPUMUX_CMD_GRANT_REVOKE, &r, GM_IOCTL));
		T_OK(gm_buf_free(tfd, buf, GM_IOCTL));
		T_OK(GM_CMD(ctl, GPUMUX_CMD_TENANT_FENCE, &f, GM_IOCTL));
	}
	write_file("events/gpumux/enable", "0");
	trace = read_trace();

	t_begin("trace/part_change");
	T_ASSERT(trace);
	snprintf(
		want, sizeof(want),
		"gpumux_part_change: tenant=%u gpu=%u gen=%llu state=0 active=16 target=16",
		tid, gpu, (unsigned long long)gen);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	t_end();

	t_begin("trace/buf_alloc_free");
	snprintf(want, sizeof(want),
		 "gpumux_buf_alloc: buf=%u tenant=%u size=8192", buf, tid);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	snprintf(want, sizeof(want),
		 "gpumux_buf_free: buf=%u tenant=%u size=8192", buf, tid);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	t_end();

	t_begin("trace/grant_revoke");
	snprintf(want, sizeof(want), "gpumux_grant: buf=%u tenant=%u access=ro",
		 buf, tid2);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	snprintf(want, sizeof(want),
		 "gpumux_grant: buf=%u tenant=%u access=ro revoked", buf, tid2);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	t_end();

	t_begin("trace/fence");
	snprintf(want, sizeof(want), "gpumux_fence: tenant=%u why=daemon", tid);
	if (trace && !strstr(trace, want))
		t_fail(__FILE__, __LINE__, "no '%s' in the trace", want);
	t_end();

	free(trace);
	close(tfd);
	close(tfd2);
	T_OK(gm_gpu_remove(ctl, gpu, GM_IOCTL));
	close(ctl);
	gm_t_leaks(base);
	return t_status();
}
