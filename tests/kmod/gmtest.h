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
#include <stdbool.h>
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
 * gm_open_control() for a test program's main(): on failure it reports
 * the sub-test "open/control" as failed and returns -errno.
 */
int gm_t_open_control(int flags);

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

/* The counters a test checks for leaks, in the order of gm_counter_names. */
enum {
	GM_C_TENANTS,
	GM_C_BUFFERS,
	GM_C_PAGES,
	GM_C_PINNED,
	GM_C_GRANTS,
	GM_C_GPUS,
	GM_C_PENDING,
	GM_NR_CNT,
};

extern const char *const gm_counter_names[GM_NR_CNT];

/* Read every counter of gm_counter_names into @v[GM_NR_CNT] (-1 if absent). */
void gm_counters_get(long long *v);

/*
 * The "leaks" sub-test: wait up to 5 s (50 reads, 100 ms apart) for the
 * counters to be back to @base (from gm_counters_get() at the start), then
 * fail naming each one that is not.  SKIP when there are no counters.
 */
void gm_t_leaks(const long long *base);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t gm_now_ns(void);
/* CLOCK_MONOTONIC in seconds. */
double gm_now_s(void);

/*
 * Wait up to @ms for an event of @type (of @tenant unless 0) on @fd,
 * reading one event at a time and dropping the others.  0 with *@out
 * filled (when @out is not NULL), -ETIMEDOUT, or -errno.
 */
int gm_wait_event(int fd, unsigned int type, unsigned int tenant, int ms,
		  struct gpumux_event *out);
/* Read and drop whatever events are queued on @fd; returns how many. */
int gm_drain(int fd);

/*
 * LIST @kind into @buf (@cap entries of @esize bytes) from id @start.
 * Returns the entry count, or -errno; *@total gets the total unless NULL.
 */
int gm_list(int fd, unsigned int kind, void *buf, size_t esize,
	    unsigned int cap, unsigned int start, unsigned int *total,
	    enum gm_path p);
/* The tenant, GPU or buffer @id as @fd lists it: 0, -ENOENT or -errno. */
int gm_tenant_info(int fd, unsigned int id, struct gpumux_tenant_info *ti,
		   enum gm_path p);
int gm_gpu_info(int fd, unsigned int id, struct gpumux_gpu_info *gi,
		enum gm_path p);
int gm_buf_info(int fd, unsigned int id, struct gpumux_buf_info *bi,
		enum gm_path p);
/* GET_INFO on @fd into @info (zeroed first). */
int gm_get_info(int fd, struct gpumux_info *info, enum gm_path p);
/* TENANT_FENCE of @tenant with @flags on control fd @ctl. */
int gm_fence(int ctl, unsigned int tenant, unsigned int flags, enum gm_path p);
/* mmap(MAP_SHARED) @len bytes of @fd at @off; MAP_FAILED on failure. */
void *gm_map(int fd, size_t len, int prot, uint64_t off);

/*
 * Copy the first line of /sys/kernel/debug/gpumux/state that starts with
 * @prefix into @buf (@len bytes, without the newline, truncated to fit).
 * 0, -ENOENT when no line matches, or -errno.
 */
int gm_state_line(const char *prefix, char *buf, size_t len);

struct io_uring;

/*
 * Submit an EVENT_FETCH of @f on @fd through @ring, tagged @tag, without
 * waiting for it (it stays pending until an event comes).  0 or -errno.
 */
int gm_uring_submit_fetch(struct io_uring *ring, int fd,
			  struct gpumux_event_fetch *f, uint64_t tag);
/*
 * Wait up to @ms for a completion on @ring: 0 with *@res (and *@tag unless
 * NULL), -ETIME if none came, or -errno.
 */
int gm_uring_wait(struct io_uring *ring, int ms, int *res, uint64_t *tag);

/* Set bit @b of the CU mask @m. */
void gm_set_bit64(__u64 *m, unsigned int b);
/* CU masks of GPUMUX_MASK_WORDS words: any CU in both; all of @a in @b. */
bool gm_mask_intersects(const __u64 *a, const __u64 *b);
bool gm_mask_subset(const __u64 *a, const __u64 *b);
/* No CU set; the number of CUs set. */
bool gm_mask_empty(const __u64 *a);
unsigned int gm_mask_weight(const __u64 *a);
/*
 * Parse a CU list like "0-3,8,10-11" into mask @m (GPUMUX_MASK_WORDS
 * words, cleared first).  0, or -1 when it is malformed or out of range.
 */
int gm_parse_ranges(const char *s, __u64 *m);
/* The value of "@key=value" among the @n tokens @tok, or NULL. */
const char *gm_kv(char **tok, int n, const char *key);
/* Environment variable @name as an unsigned long, or @def if unset/empty. */
unsigned long gm_env_ul(const char *name, unsigned long def);

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
