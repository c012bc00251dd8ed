/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pieces shared by gpumux-engine serve and gpumux-gateway that need no
 * library: growable buffers, clocks, Prometheus histograms, a hash for
 * salts, and small parsers.  Linked by engine/engine.mk and
 * gateway/gateway.mk.
 */
#ifndef GPUMUX_COMMON_UTIL_H
#define GPUMUX_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A growable byte buffer, always NUL terminated once allocated. */
struct cm_buf {
	char *p;
	size_t len, cap;
};

int cm_buf_reserve(struct cm_buf *b, size_t extra);
int cm_buf_add(struct cm_buf *b, const void *data, size_t n);
int cm_buf_str(struct cm_buf *b, const char *s);
__attribute__((format(printf, 2, 3))) int cm_buf_printf(struct cm_buf *b,
							const char *fmt, ...);
/* drop the first n bytes */
void cm_buf_consume(struct cm_buf *b, size_t n);
void cm_buf_free(struct cm_buf *b);

double cm_now(void); /* CLOCK_MONOTONIC, seconds */
uint64_t cm_now_ms(void); /* CLOCK_MONOTONIC, ms */

/* splitmix64's finalizer */
uint64_t cm_mix64(uint64_t x);
/* a per-process salt for request ids and seeds */
uint64_t cm_salt(time_t started);

/* cumulative histogram with Prometheus "le" buckets */
#define CM_HISTO_MAX 16
struct cm_histo {
	const double *le; /* (n_le) upper bounds */
	int n_le; /* at most CM_HISTO_MAX */
	uint64_t count[CM_HISTO_MAX + 1]; /* count[n_le] is +Inf */
	uint64_t n;
	double sum;
};

void cm_histo_add(struct cm_histo *h, double v);

/* Has the peer of fd hung up (POLLRDHUP)?  false for fd < 0. */
bool cm_peer_gone(int fd);

/* s as a whole decimal number in min..max */
bool cm_parse_long(const char *s, long min, long max, long *out);

#endif /* GPUMUX_COMMON_UTIL_H */
