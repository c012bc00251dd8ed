// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: a small streaming JSON writer (RFC 8259), compact output.
 */
#include "ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void ctl_json_escape(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_seq(s);
			if (!n) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		s++;
	}
	fputc('"', f);
}

void ctl_json_init(struct ctl_json *j, FILE *f)
{
	*j = (struct ctl_json){ .f = f };
}

/* Before any value: the comma, and a check that a key came first. */
static bool value_start(struct ctl_json *j)
{
	if (j->err)
		return false;
	if (j->depth > 0 && j->in_object[j->depth - 1]) {
		if (!j->after_key) {
			j->err = -EINVAL; /* a value in an object needs a key */
			return false;
		}
		j->after_key = false;
		return true;
	}
	if (j->depth == 0 && j->need_comma[0]) {
		j->err = -EINVAL; /* one document only */
		return false;
	}
	if (j->depth > 0 && j->need_comma[j->depth - 1])
		fputc(',', j->f);
	if (j->depth > 0)
		j->need_comma[j->depth - 1] = true;
	else
		j->need_comma[0] = true;
	return true;
}

static void begin(struct ctl_json *j, bool object)
{
	if (!value_start(j))
		return;
	if (j->depth >= CTL_JSON_DEPTH - 1) {
		j->err = -E2BIG;
		return;
	}
	fputc(object ? '{' : '[', j->f);
	j->depth++;
	j->in_object[j->depth - 1] = object;
	j->need_comma[j->depth - 1] = false;
}

static void end(struct ctl_json *j, bool object)
{
	if (j->err)
		return;
	if (j->depth == 0 || j->in_object[j->depth - 1] != object ||
	    j->after_key) {
		j->err = -EINVAL;
		return;
	}
	fputc(object ? '}' : ']', j->f);
	j->depth--;
	if (j->depth == 0)
		j->need_comma[0] = true;
}

void ctl_json_begin_object(struct ctl_json *j)
{
	begin(j, true);
}

void ctl_json_end_object(struct ctl_json *j)
{
	end(j, true);
}

void ctl_json_begin_array(struct ctl_json *j)
{
	begin(j, false);
}

void ctl_json_end_array(struct ctl_json *j)
{
	end(j, false);
}

void ctl_json_key(struct ctl_json *j, const char *key)
{
	if (j->err)
		return;
	if (j->depth == 0 || !j->in_object[j->depth - 1] || j->after_key) {
		j->err = -EINVAL;
		return;
	}
	if (j->need_comma[j->depth - 1])
		fputc(',', j->f);
	j->need_comma[j->depth - 1] = true;
	ctl_json_escape(j->f, key);
	fputc(':', j->f);
	j->after_key = true;
}

void ctl_json_string(struct ctl_json *j, const char *s)
{
	if (value_start(j))
		ctl_json_escape(j->f, s ? s : "");
}

void ctl_json_u64(struct ctl_json *j, uint64_t v)
{
	if (value_start(j))
		fprintf(j->f, "%" PRIu64, v);
}

void ctl_json_i64(struct ctl_json *j, int64_t v)
{
	if (value_start(j))
		fprintf(j->f, "%" PRId64, v);
}

void ctl_json_double(struct ctl_json *j, double v)
{
	if (!value_start(j))
		return;
	if (isfinite(v)) {
		char buf[32];

		/* The shortest of 15 or 17 digits that reads back the same. */
		snprintf(buf, sizeof(buf), "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof(buf), "%.17g", v);
		fputs(buf, j->f);
	} else {
		fputs("null", j->f); /* JSON has no NaN or infinity */
	}
}

void ctl_json_bool(struct ctl_json *j, bool v)
{
	if (value_start(j))
		fputs(v ? "true" : "false", j->f);
}

void ctl_json_null(struct ctl_json *j)
{
	if (value_start(j))
		fputs("null", j->f);
}

int ctl_json_finish(struct ctl_json *j)
{
	if (!j->err && (j->depth || j->after_key || !j->need_comma[0]))
		j->err = -EINVAL;
	if (!j->err)
		fputc('\n', j->f);
	if (fflush(j->f) && !j->err)
		j->err = -errno;
	return j->err;
}
