// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd.conf: an ini file.  "[daemon]" holds the daemon's keys, each
 * "[gpu.NAME]" a virtual GPU.  '#' and ';' start comments; blank lines are
 * ignored; every key is optional (gpumuxd.conf(5)).  Anything unknown or
 * out of range is an error naming the line, so a typo never passes as the
 * default.  Pure parsing, unit-tested in tests/unit/test-config.c.
 */
#include "gpumuxd.h"
#include "bus-api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gm_config_defaults(struct gm_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->policy, sizeof(c->policy), "fairshare");
	c->ack_deadline_ms = 2000;
	c->rebalance_delay_ms = 20;
	c->default_pinned_quota = 1ULL << 30;
	c->max_tenants = 256;
	c->max_tenants_per_uid = 16;
	c->drm = true;
}

int gm_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int gm_parse_bytes(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGTP";
	unsigned long long v;
	const char *p;
	char *end;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		p = strchr(suffixes, toupper((unsigned char)*end));
		if (!p || !*p)
			return -EINVAL;
		shift = 10 * (int)(p - suffixes + 1);
		end++;
		/* "1G", "1GB", "1GiB" */
		if (*end == 'i')
			end++;
		if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

bool gm_name_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; *s; s++, n++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return n >= 1 && n <= GM_NAME_MAX;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1") ||
	    !strcmp(s, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0") ||
	    !strcmp(s, "off")) {
		*out = false;
		return true;
	}
	return false;
}

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool vgpu_name_valid(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return n >= 1 && n < sizeof(((struct gm_vgpu_conf *)0)->name);
}

#define FAIL(...)                                                 \
	do {                                                      \
		snprintf(err, errlen, "line %u: ", lineno);       \
		snprintf(err + strlen(err), errlen - strlen(err), \
			 __VA_ARGS__);                            \
		ret = -EINVAL;                                    \
		goto out;                                         \
	} while (0)

static int daemon_key(struct gm_config *c, const char *key, const char *val,
		      unsigned int lineno, char *err, size_t errlen)
{
	int ret = 0;

	if (!strcmp(key, "policy")) {
		if (!gpumux_policy_find(val))
			FAIL("policy: no policy named '%s'", val);
		snprintf(c->policy, sizeof(c->policy), "%s", val);
	} else if (!strcmp(key, "ack_deadline_ms")) {
		if (gm_parse_u32(val, 1, 600000, &c->ack_deadline_ms))
			FAIL("ack_deadline_ms: '%s' is not 1..600000", val);
	} else if (!strcmp(key, "rebalance_delay_ms")) {
		if (gm_parse_u32(val, 0, 60000, &c->rebalance_delay_ms))
			FAIL("rebalance_delay_ms: '%s' is not 0..60000", val);
	} else if (!strcmp(key, "default_pinned_quota")) {
		if (gm_parse_bytes(val, &c->default_pinned_quota) ||
		    !c->default_pinned_quota)
			FAIL("default_pinned_quota: '%s' is not a size > 0 (e.g. 1G)",
			     val);
	} else if (!strcmp(key, "max_tenants")) {
		if (gm_parse_u32(val, 1, 65536, &c->max_tenants))
			FAIL("max_tenants: '%s' is not 1..65536", val);
	} else if (!strcmp(key, "max_tenants_per_uid")) {
		if (gm_parse_u32(val, 1, 65536, &c->max_tenants_per_uid))
			FAIL("max_tenants_per_uid: '%s' is not 1..65536", val);
	} else if (!strcmp(key, "drm")) {
		if (!parse_bool(val, &c->drm))
			FAIL("drm: '%s' is not yes or no", val);
	} else {
		FAIL("unknown key '%s' in [daemon]", key);
	}
out:
	return ret;
}

static int gpu_key(struct gm_vgpu_conf *g, const char *key, const char *val,
		   unsigned int lineno, char *err, size_t errlen)
{
	int ret = 0;

	if (!strcmp(key, "cus")) {
		if (gm_parse_u32(val, 1, GPUMUX_MAX_CUS, &g->cus))
			FAIL("cus: '%s' is not 1..%u", val, GPUMUX_MAX_CUS);
	} else if (!strcmp(key, "vram")) {
		if (gm_parse_bytes(val, &g->vram))
			FAIL("vram: '%s' is not a size (e.g. 192G)", val);
	} else {
		FAIL("unknown key '%s' in [gpu.%s]", key, g->name);
	}
out:
	return ret;
}

int gm_config_parse(struct gm_config *c, const char *buf, char *err,
		    size_t errlen)
{
	enum { NONE, DAEMON, GPU } section = NONE;
	struct gm_vgpu_conf *gpu = NULL;
	char *copy, *line, *next, *p, *key, *val;
	unsigned int lineno = 0;
	size_t i;
	int ret = 0;

	if (errlen)
		err[0] = '\0';
	copy = strdup(buf);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		p = strpbrk(line, "#;");
		if (p)
			*p = '\0';
		p = strip(line);
		if (!*p)
			continue;
		if (*p == '[') {
			char *end = strchr(p, ']');

			if (!end || end[1])
				FAIL("bad section header '%s'", p);
			*end = '\0';
			p = strip(p + 1);
			if (!strcmp(p, "daemon")) {
				section = DAEMON;
				continue;
			}
			if (strncmp(p, "gpu.", 4) || !vgpu_name_valid(p + 4))
				FAIL("unknown section [%s] (want [daemon] or [gpu.NAME], NAME of letters, digits, - and _)",
				     p);
			for (i = 0; i < c->nr_vgpus; i++)
				if (!strcmp(c->vgpus[i].name, p + 4))
					FAIL("[%s] given twice", p);
			if (c->nr_vgpus == GM_MAX_VGPUS)
				FAIL("more than %d [gpu.*] sections",
				     GM_MAX_VGPUS);
			gpu = &c->vgpus[c->nr_vgpus++];
			memset(gpu, 0, sizeof(*gpu));
			snprintf(gpu->name, sizeof(gpu->name), "%s", p + 4);
			gpu->cus = 304;
			gpu->vram = 192ULL << 30;
			section = GPU;
			continue;
		}
		val = strchr(p, '=');
		if (!val)
			FAIL("expected 'key = value', got '%s'", p);
		*val++ = '\0';
		key = strip(p);
		val = strip(val);
		if (!*key || !*val)
			FAIL("empty key or value");
		switch (section) {
		case NONE:
			FAIL("'%s' outside a section", key);
		case DAEMON:
			ret = daemon_key(c, key, val, lineno, err, errlen);
			break;
		case GPU:
			ret = gpu_key(gpu, key, val, lineno, err, errlen);
			break;
		}
		if (ret)
			goto out;
	}
out:
	free(copy);
	return ret;
}

int gm_config_load(struct gm_config *c, const char *path, char *err,
		   size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return ret;
	}
	for (;;) {
		if (len + 1 >= cap) {
			char *nb;

			cap = cap ? cap * 2 : 4096;
			if (cap > (1 << 20)) {
				snprintf(err, errlen, "larger than 1 MiB");
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		snprintf(err, errlen, "contains a NUL byte");
		ret = -EINVAL;
		goto out;
	}
	ret = gm_config_parse(c, buf, err, errlen);
out:
	free(buf);
	close(fd);
	return ret;
}

const char *gm_limits_check(uint32_t min_cus, uint32_t max_cus,
			    uint32_t kernel_max, char *msg, size_t msglen)
{
	if (max_cus > GPUMUX_MAX_CUS || min_cus > GPUMUX_MAX_CUS) {
		snprintf(msg, msglen, "min_cus and max_cus must be 0..%u",
			 GPUMUX_MAX_CUS);
		return GM_ERROR_INVALID_VALUE;
	}
	if (max_cus && min_cus > max_cus) {
		snprintf(msg, msglen, "min_cus %u is above max_cus %u", min_cus,
			 max_cus);
		return GM_ERROR_INVALID_VALUE;
	}
	if (max_cus > kernel_max || (!max_cus && kernel_max < GPUMUX_MAX_CUS)) {
		snprintf(
			msg, msglen,
			"max_cus cannot go above %u, the cap the lease was created with",
			kernel_max);
		return GM_ERROR_INVALID_VALUE;
	}
	if (min_cus > kernel_max) {
		snprintf(msg, msglen,
			 "min_cus %u is above the lease's cap of %u CUs",
			 min_cus, kernel_max);
		return GM_ERROR_INVALID_VALUE;
	}
	return NULL;
}

const char *gm_attach_check(const struct gm_attach_req *r, uint32_t gpu_cus,
			    uint64_t pinned_limit, char *msg, size_t msglen)
{
	const char *e;

	if (!gm_name_valid(r->name)) {
		snprintf(msg, msglen,
			 "name must be 1..%d printable ASCII characters",
			 GM_NAME_MAX);
		return GM_ERROR_INVALID_VALUE;
	}
	if (r->weight < 1 || r->weight > GM_WEIGHT_MAX) {
		snprintf(msg, msglen, "weight %u is not 1..%u", r->weight,
			 GM_WEIGHT_MAX);
		return GM_ERROR_INVALID_VALUE;
	}
	e = gm_limits_check(r->min_cus, r->max_cus, GPUMUX_MAX_CUS, msg,
			    msglen);
	if (e)
		return e;
	if (r->gpu && !gpu_cus) {
		snprintf(msg, msglen, "no GPU %u", r->gpu);
		return GM_ERROR_NO_SUCH_GPU;
	}
	if (r->min_cus > gpu_cus) {
		snprintf(msg, msglen, "min_cus %u: %s has only %u CUs",
			 r->min_cus, r->gpu ? "the GPU" : "the largest GPU",
			 gpu_cus);
		return GM_ERROR_NO_CAPACITY;
	}
	if (!r->pinned_quota || r->pinned_quota > pinned_limit) {
		snprintf(
			msg, msglen,
			"pinned_quota %llu is not 1..%llu (the host's pinned-memory limit)",
			(unsigned long long)r->pinned_quota,
			(unsigned long long)pinned_limit);
		return GM_ERROR_INVALID_VALUE;
	}
	return NULL;
}
