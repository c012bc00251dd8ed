// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: CU masks.  On D-Bus a mask is "ay", a little-endian bitmap:
 * bit n of byte n / 8 is CU n.  On the command line it is a list of CUs
 * and ranges, "0-15,32-47", or "none".
 */
#include "ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Reads a decimal CU number at *p; advances *p.  -ERANGE past the limit. */
static int parse_cu(const char **p, unsigned int *cu)
{
	const char *s = *p;
	unsigned int v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned int)(*s - '0');
		if (v >= CTL_MAX_CUS) {
			/* Skip the rest of the number: the error is range. */
			while (*s >= '0' && *s <= '9')
				s++;
			*p = s;
			return -ERANGE;
		}
	}
	*p = s;
	*cu = v;
	return 0;
}

int ctl_mask_parse(const char *s, uint8_t *mask, size_t *len)
{
	const char *p = s;
	int range_err = 0;
	size_t n;

	memset(mask, 0, CTL_MASK_BYTES);
	*len = 0;
	if (!strcmp(s, "none"))
		return 0;

	for (;;) {
		unsigned int a, b, cu;
		int r;

		r = parse_cu(&p, &a);
		if (r == -EINVAL)
			return r;
		if (r == -ERANGE)
			range_err = r;
		b = a;
		if (*p == '-') {
			p++;
			r = parse_cu(&p, &b);
			if (r == -EINVAL)
				return r;
			if (r == -ERANGE)
				range_err = r;
			else if (!range_err && b < a)
				return -EINVAL;
		}
		if (!range_err)
			for (cu = a; cu <= b; cu++)
				mask[cu / 8] |= (uint8_t)(1U << (cu % 8));
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	if (range_err)
		return range_err;

	for (n = CTL_MASK_BYTES; n > 0 && !mask[n - 1]; n--)
		;
	*len = n;
	return 0;
}

static bool bit(const uint8_t *mask, size_t len, size_t i)
{
	return i / 8 < len && (mask[i / 8] >> (i % 8)) & 1;
}

unsigned int ctl_mask_count(const uint8_t *mask, size_t len)
{
	unsigned int n = 0;
	size_t i;

	for (i = 0; i < len; i++)
		n += (unsigned int)__builtin_popcount(mask[i]);
	return n;
}

/* Appends like snprintf into buf at *off, counting what would be written. */
static void put(char *buf, size_t size, size_t *off, const char *fmt, size_t a,
		size_t b)
{
	char tmp[48];
	int n;

	n = snprintf(tmp, sizeof(tmp), fmt, a, b);
	if (n < 0)
		return;
	if (*off < size) {
		size_t room = size - *off;

		memcpy(buf + *off, tmp, (size_t)n < room ? (size_t)n : room);
	}
	*off += (size_t)n;
}

size_t ctl_mask_format(const uint8_t *mask, size_t len, char *buf, size_t size)
{
	size_t nbits = len * 8, off = 0, i = 0;
	bool first = true;

	while (i < nbits) {
		size_t start;

		if (!bit(mask, len, i)) {
			i++;
			continue;
		}
		start = i;
		while (i < nbits && bit(mask, len, i))
			i++;
		if (!first)
			put(buf, size, &off, ",", 0, 0);
		first = false;
		if (i - 1 == start)
			put(buf, size, &off, "%zu", start, 0);
		else
			put(buf, size, &off, "%zu-%zu", start, i - 1);
	}
	if (first)
		put(buf, size, &off, "none", 0, 0);
	if (size)
		buf[off < size ? off : size - 1] = '\0';
	return off;
}

char *ctl_mask_to_string(const uint8_t *mask, size_t len)
{
	size_t n = ctl_mask_format(mask, len, NULL, 0);
	char *s = malloc(n + 1);

	if (s)
		ctl_mask_format(mask, len, s, n + 1);
	return s;
}
