// SPDX-License-Identifier: LGPL-2.1-or-later
/* libgpumux: CU mask helpers (pure functions). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int gpumux_mask_count(const uint64_t *mask)
{
	unsigned int i;
	int n = 0;

	if (!mask)
		return -EINVAL;
	for (i = 0; i < GPUMUX_CU_MASK_WORDS; i++)
		n += __builtin_popcountll(mask[i]);
	return n;
}

int gpumux_mask_test(const uint64_t *mask, unsigned int cu)
{
	if (!mask || cu >= GPUMUX_CU_MAX)
		return -EINVAL;
	return (int)((mask[cu / 64] >> (cu % 64)) & 1);
}

int gpumux_mask_next(const uint64_t *mask, unsigned int from)
{
	unsigned int w;
	uint64_t bits;

	if (!mask)
		return -EINVAL;
	if (from >= GPUMUX_CU_MAX)
		return -ENOENT;
	w = from / 64;
	bits = mask[w] & (~0ULL << (from % 64));
	for (;;) {
		if (bits)
			return (int)(w * 64 + __builtin_ctzll(bits));
		if (++w == GPUMUX_CU_MASK_WORDS)
			return -ENOENT;
		bits = mask[w];
	}
}

int gpumux_mask_format(const uint64_t *mask, char *buf, size_t len)
{
	size_t pos = 0;
	int first, last, n;

	if (!mask || !buf)
		return -EINVAL;
	if (len)
		buf[0] = '\0';
	for (first = gpumux_mask_next(mask, 0); first >= 0;
	     first = gpumux_mask_next(mask, (unsigned int)last + 1)) {
		last = first;
		while (last + 1 < GPUMUX_CU_MAX &&
		       gpumux_mask_test(mask, (unsigned int)last + 1) == 1)
			last++;
		if (last == first)
			n = snprintf(buf + pos, len > pos ? len - pos : 0,
				     "%s%d", pos ? "," : "", first);
		else
			n = snprintf(buf + pos, len > pos ? len - pos : 0,
				     "%s%d-%d", pos ? "," : "", first, last);
		if (n < 0)
			return -EINVAL;
		if (pos + (size_t)n >= len) {
			/* End after the last item that fit. */
			if (len)
				buf[pos] = '\0';
			return -ENOBUFS;
		}
		pos += (size_t)n;
	}
	if (pos >= len)
		return -ENOBUFS; /* len 0: not even the NUL fits */
	return (int)pos;
}
