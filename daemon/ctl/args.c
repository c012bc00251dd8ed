// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: parsing and classifying command-line arguments.
 */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Decimal digits at *p into *v (limit max); advances *p past the digits. */
static int parse_digits(const char **p, uint64_t max, uint64_t *v)
{
	const char *s = *p;
	uint64_t n = 0;
	int r = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (n > (max - d) / 10)
			r = -ERANGE; /* keep scanning: syntax errors first */
		else
			n = n * 10 + d;
	}
	*p = s;
	*v = n;
	return r;
}

int ctl_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	int r;

	r = parse_digits(&s, UINT64_MAX, &v);
	if (r == -EINVAL || *s)
		return -EINVAL;
	if (r)
		return r;
	*out = v;
	return 0;
}

int ctl_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	int r;

	r = parse_digits(&s, UINT32_MAX, &v);
	if (r == -EINVAL || *s)
		return -EINVAL;
	if (r)
		return r;
	*out = (uint32_t)v;
	return 0;
}

int ctl_parse_bytes(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	const char *u;
	unsigned int shift = 0;
	uint64_t v;
	int r;

	r = parse_digits(&s, UINT64_MAX, &v);
	if (r == -EINVAL)
		return r;
	if (*s) {
		u = strchr(units, toupper((unsigned char)*s));
		if (u) {
			shift = 10 * (unsigned int)(u - units + 1);
			s++;
			if (*s == 'i' && s[1] == 'B')
				s += 2;
			else if (*s == 'B')
				s++;
		} else if (*s == 'B') {
			s++;
		}
		if (*s)
			return -EINVAL;
	}
	if (r)
		return r;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

void ctl_format_bytes(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";
	unsigned int i = 0;
	uint64_t div = 1;

	while (i < sizeof(units) - 1 && v / div >= 1024) {
		div <<= 10;
		i++;
	}
	if (!i) {
		snprintf(buf, size, "%llu", (unsigned long long)v);
	} else if (v % div == 0 || v / div >= 100) {
		snprintf(buf, size, "%llu%c", (unsigned long long)(v / div),
			 units[i - 1]);
	} else {
		/* One decimal, rounded down: never claim more than there is. */
		uint64_t tenths = (v % div) * 10 / div; /* v % div < 2^60 */

		snprintf(buf, size, "%llu.%llu%c",
			 (unsigned long long)(v / div),
			 (unsigned long long)tenths, units[i - 1]);
	}
}

static bool path_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

bool ctl_object_path_valid(const char *s)
{
	const char *p;

	if (s[0] != '/')
		return false;
	if (s[1] == '\0')
		return true;
	for (p = s + 1; *p; p++) {
		if (*p == '/') {
			if (p[-1] == '/' || p[1] == '\0')
				return false;
		} else if (!path_char(*p)) {
			return false;
		}
	}
	return true;
}

enum ctl_tenant_kind ctl_tenant_classify(const char *s, uint32_t *id)
{
	const unsigned char *p;
	uint32_t v;

	if (!s[0])
		return CTL_TENANT_INVALID;
	if (s[0] >= '0' && s[0] <= '9' &&
	    strspn(s, "0123456789") == strlen(s)) {
		if (ctl_parse_u32(s, &v) || v == 0)
			return CTL_TENANT_INVALID;
		*id = v;
		return CTL_TENANT_ID;
	}
	if (s[0] == '/')
		return ctl_object_path_valid(s) ? CTL_TENANT_PATH :
						  CTL_TENANT_INVALID;
	if (strlen(s) > CTL_NAME_MAX)
		return CTL_TENANT_INVALID;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return CTL_TENANT_INVALID;
	return CTL_TENANT_NAME;
}

uint32_t ctl_path_id(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	uint32_t id;

	if (strncmp(path, prefix, n) || path[n] != '/')
		return 0;
	if (ctl_parse_u32(path + n + 1, &id))
		return 0;
	return id;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

int ctl_error_exit(const char *name, int err)
{
	static const char *const unreachable[] = {
		"org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.NoServer",
		"org.freedesktop.DBus.Error.NoNetwork",
		"org.freedesktop.DBus.Error.Disconnected",
		"org.freedesktop.DBus.Error.NoReply",
		"org.freedesktop.DBus.Error.Timeout",
		"org.freedesktop.DBus.Error.TimedOut",
	};
	static const char *const denied[] = {
		"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
		"org.gpumux.Scheduler1.Error.NotOwner",
	};
	size_t i;

	if (name && strncmp(name, "System.Error.", 13)) {
		for (i = 0; i < sizeof(unreachable) / sizeof(*unreachable); i++)
			if (!strcmp(name, unreachable[i]))
				return CTL_EXIT_UNREACHABLE;
		/* Activation failed: the daemon cannot be started. */
		if (!strncmp(name, "org.freedesktop.DBus.Error.Spawn.", 33))
			return CTL_EXIT_UNREACHABLE;
		for (i = 0; i < sizeof(denied) / sizeof(*denied); i++)
			if (!strcmp(name, denied[i]))
				return CTL_EXIT_DENIED;
		if (ends_with(name, ".AccessDenied"))
			return CTL_EXIT_DENIED;
		return CTL_EXIT_ERROR;
	}

	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case ENOTCONN:
	case ENOENT:
	case ENXIO:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ESHUTDOWN:
	case EPIPE:
	case ETIMEDOUT:
		return CTL_EXIT_UNREACHABLE;
	case EACCES:
	case EPERM:
		return CTL_EXIT_DENIED;
	default:
		return CTL_EXIT_ERROR;
	}
}

const char *ctl_error_short(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : name;
}
