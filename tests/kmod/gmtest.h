/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the module's test programs, which run inside the VM.
 *
 * Every command goes through gm_cmd(), which issues it either by ioctl()
 * or by IORING_OP_URING_CMD, so each test can run over both paths.  A
 * program reports sub-tests as lines the VM runner counts:
 *
 *   PASS: <name>
 *   FAIL: <name>: <why>
 *   SKIP: <name>: <why>
 *
 * and exits 0 when nothing failed, 1 otherwise.
 */
#ifndef GPUMUX_GMTEST_H
#define GPUMUX_GMTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/gpumux.h>

enum gm_path {
	GM_IOCTL = 0,
	GM_URING = 1,
};

extern const char *const gm_path_name[2];

/* Open /dev/gpumux (O_RDWR | O_CLOEXEC | @flags); -errno on failure. */
int gm_open_control(int flags);

/*
 * Issue command @op with argument @arg (of @len bytes) on @fd by @path.
 * Returns the command's result: >= 0 on success, -errno on failure.
 * The uring path uses one ring per thread, set up on first use.
 */
int gm_cmd(int fd, unsigned int op, void *arg, size_t len, enum gm_path path);
#define GM_CMD(fd, op, argp, path) gm_cmd((fd), (op), (argp), sizeof(*(argp)), (path))

/* Convenience wrappers (return -errno, or the id / fd they produce). */
int gm_gpu_add(int ctl, unsigned int cus, const char *ident, enum gm_path p);
int gm_gpu_remove(int ctl, unsigned int gpu_id, enum gm_path p);
/* Returns the tenant fd; *id gets the tenant id when @id is not NULL. */
int gm_tenant_create(int ctl, const char *name, unsigned int max_cus,
		     uint64_t quota, unsigned int *id, enum gm_path p);
/* Sets bits [first, first + n) as the target mask. */
int gm_part_set_range(int ctl, unsigned int tenant, unsigned int gpu,
		      unsigned int first, unsigned int n, unsigned int flags,
		      unsigned int deadline_ms, uint64_t *gen, enum gm_path p);
int gm_part_get(int tfd_or_ctl, unsigned int tenant, unsigned int gpu,
		struct gpumux_part_info *out, enum gm_path p);
int gm_buf_alloc(int tfd, uint64_t size, unsigned int *buf_id,
		 uint64_t *off, enum gm_path p);
int gm_buf_free(int tfd, unsigned int buf_id, enum gm_path p);
/* Non-blocking: fetch queued events (needs the fd O_NONBLOCK for ioctl). */
int gm_events(int fd, struct gpumux_event *ev, unsigned int cap,
	      enum gm_path p);

/* Read a counter from /sys/kernel/debug/gpumux/counters; -1 if absent. */
long long gm_counter(const char *name);

/* Sub-test reporting. */
void t_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void t_skip(const char *why);
/* Ends the current sub-test, printing PASS or FAIL; returns 0 if passed. */
int t_end(void);
/* Exit status for main(): 0 if every sub-test passed, else 1. */
int t_status(void);

#define T_ASSERT(cond)                                                   \
	do {                                                             \
		if (!(cond))                                             \
			t_fail(__FILE__, __LINE__, "assertion '%s'", #cond); \
	} while (0)

/* Expect expression @e (an int result in -errno convention) to equal @want. */
#define T_EQ(e, want)                                                     \
	do {                                                              \
		long long _g = (long long)(e), _w = (long long)(want);    \
		if (_g != _w)                                             \
			t_fail(__FILE__, __LINE__, "%s = %lld, want %lld", \
			       #e, _g, _w);                               \
	} while (0)

/* Expect a result >= 0. */
#define T_OK(e)                                                             \
	({                                                                  \
		long long _r = (long long)(e);                              \
		if (_r < 0)                                                 \
			t_fail(__FILE__, __LINE__, "%s failed: %lld (%s)", #e, \
			       _r, strerror((int)-_r));                     \
		_r;                                                         \
	})

#endif /* GPUMUX_GMTEST_H */
