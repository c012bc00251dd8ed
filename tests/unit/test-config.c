// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd's pure checks: the configuration file parser, sizes and numbers,
 * tenant names, and what Attach and SetLimits accept (daemon/config.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-api.h"
#include "gpumuxd.h"

static struct gm_config c;
static char err[512];

static int parse(const char *text)
{
	gm_config_defaults(&c);
	return gm_config_parse(&c, text, err, sizeof(err));
}

START_TEST(defaults)
{
	ck_assert_int_eq(parse(""), 0);
	ck_assert_str_eq(c.policy, "fairshare");
	ck_assert_uint_eq(c.ack_deadline_ms, 2000);
	ck_assert_uint_eq(c.rebalance_delay_ms, 20);
	ck_assert_uint_eq(c.default_pinned_quota, 1ULL << 30);
	ck_assert_uint_eq(c.max_tenants, 256);
	ck_assert_uint_eq(c.max_tenants_per_uid, 16);
	ck_assert(c.drm);
	ck_assert_uint_eq(c.nr_vgpus, 0);
}
END_TEST

START_TEST(full_file)
{
	ck_assert_int_eq(parse("# comment\n"
			       "[daemon]\n"
			       "policy = fairshare ; trailing comment\n"
			       "  ack_deadline_ms=500\n"
			       "rebalance_delay_ms = 0\n"
			       "default_pinned_quota = 64M\n"
			       "max_tenants = 8\n"
			       "max_tenants_per_uid = 2\n"
			       "drm = no\n"
			       "\n"
			       "[gpu.virtual0]\n"
			       "cus = 304\n"
			       "vram = 192G\n"
			       "[ gpu.small-1 ]\n"
			       "cus = 8\n"),
			 0);
	ck_assert_uint_eq(c.ack_deadline_ms, 500);
	ck_assert_uint_eq(c.rebalance_delay_ms, 0);
	ck_assert_uint_eq(c.default_pinned_quota, 64ULL << 20);
	ck_assert_uint_eq(c.max_tenants, 8);
	ck_assert_uint_eq(c.max_tenants_per_uid, 2);
	ck_assert(!c.drm);
	ck_assert_uint_eq(c.nr_vgpus, 2);
	ck_assert_str_eq(c.vgpus[0].name, "virtual0");
	ck_assert_uint_eq(c.vgpus[0].cus, 304);
	ck_assert_uint_eq(c.vgpus[0].vram, 192ULL << 30);
	ck_assert_str_eq(c.vgpus[1].name, "small-1");
	ck_assert_uint_eq(c.vgpus[1].cus, 8);
	/* vram defaults when not given */
	ck_assert_uint_eq(c.vgpus[1].vram, 192ULL << 30);
}
END_TEST

/* Each bad file is refused, naming the line. */
static const struct {
	const char *text, *line;
} bad_files[] = {
	{ "policy = fairshare\n", "line 1" },
	{ "[daemon]\npolicy = nosuch\n", "line 2" },
	{ "[daemon]\nack_deadline_ms = 0\n", "line 2" },
	{ "[daemon]\nack_deadline_ms = 600001\n", "line 2" },
	{ "[daemon]\nack_deadline_ms = -1\n", "line 2" },
	{ "[daemon]\nack_deadline_ms = 10ms\n", "line 2" },
	{ "[daemon]\nrebalance_delay_ms = 60001\n", "line 2" },
	{ "[daemon]\ndefault_pinned_quota = 0\n", "line 2" },
	{ "[daemon]\ndefault_pinned_quota = 1X\n", "line 2" },
	{ "[daemon]\ndefault_pinned_quota = 99999999999P\n", "line 2" },
	{ "[daemon]\nmax_tenants = 0\n", "line 2" },
	{ "[daemon]\nmax_tenants_per_uid = 0\n", "line 2" },
	{ "[daemon]\ndrm = maybe\n", "line 2" },
	{ "[daemon]\nunknown = 1\n", "line 2" },
	{ "[daemon]\nno equals sign\n", "line 2" },
	{ "[daemon]\nkey =\n", "line 2" },
	{ "[daemon\n", "line 1" },
	{ "[daemon] x\n", "line 1" },
	{ "[gpus]\n", "line 1" },
	{ "[gpu.]\n", "line 1" },
	{ "[gpu.a/b]\n", "line 1" },
	{ "[gpu.a]\ncus = 0\n", "line 2" },
	{ "[gpu.a]\ncus = 1025\n", "line 2" },
	{ "[gpu.a]\nvram = lots\n", "line 2" },
	{ "[gpu.a]\nweight = 1\n", "line 2" },
	{ "[gpu.a]\n[gpu.a]\n", "line 2" },
};

START_TEST(bad_file)
{
	ck_assert_int_eq(parse(bad_files[_i].text), -EINVAL);
	ck_assert_msg(!strncmp(err, bad_files[_i].line,
			       strlen(bad_files[_i].line)),
		      "'%s': error '%s' does not start with '%s'",
		      bad_files[_i].text, err, bad_files[_i].line);
}
END_TEST

START_TEST(too_many_gpus)
{
	char text[4096] = "";
	int i;

	for (i = 0; i <= GM_MAX_VGPUS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "[gpu.g%d]\n", i);
	ck_assert_int_eq(parse(text), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
}
END_TEST

START_TEST(bytes)
{
	uint64_t v;

	ck_assert_int_eq(gm_parse_bytes("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(gm_parse_bytes("1K", &v), 0);
	ck_assert_uint_eq(v, 1024);
	ck_assert_int_eq(gm_parse_bytes("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ULL << 30);
	ck_assert_int_eq(gm_parse_bytes("3m", &v), 0);
	ck_assert_uint_eq(v, 3ULL << 20);
	ck_assert_int_eq(gm_parse_bytes("8191P", &v), 0);
	ck_assert_int_eq(gm_parse_bytes("16384P", &v), -ERANGE);
	ck_assert_int_eq(gm_parse_bytes("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(gm_parse_bytes("", &v), -EINVAL);
	ck_assert_int_eq(gm_parse_bytes("-1", &v), -EINVAL);
	ck_assert_int_eq(gm_parse_bytes("1GX", &v), -EINVAL);
	ck_assert_int_eq(gm_parse_bytes("G", &v), -EINVAL);
	ck_assert_int_eq(gm_parse_bytes(" 1", &v), -EINVAL);
}
END_TEST

START_TEST(names)
{
	ck_assert(gm_name_valid("engine-a"));
	ck_assert(gm_name_valid("with space"));
	ck_assert(gm_name_valid("1234567890123456789012345678901"));
	ck_assert(!gm_name_valid("12345678901234567890123456789012"));
	ck_assert(!gm_name_valid(""));
	ck_assert(!gm_name_valid("tab\there"));
	ck_assert(!gm_name_valid("nl\n"));
	ck_assert(!gm_name_valid("\xc3\xa9"));
	ck_assert(!gm_name_valid(NULL));
}
END_TEST

static struct gm_attach_req req(void)
{
	struct gm_attach_req r = { .weight = 100, .pinned_quota = 1 << 20 };

	snprintf(r.name, sizeof(r.name), "t");
	return r;
}

START_TEST(attach_checks)
{
	struct gm_attach_req r = req();
	char msg[256];

	ck_assert_ptr_null(
		gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)));
	r.weight = 0;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_ptr_nonnull(strstr(msg, "weight"));
	r.weight = 65536;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	r = req();
	r.min_cus = 10;
	r.max_cus = 5;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_ptr_nonnull(strstr(msg, "min_cus"));
	r.max_cus = 0; /* no cap: min 10 is fine */
	ck_assert_ptr_null(
		gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)));
	r.max_cus = 2000;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	r = req();
	r.min_cus = 305;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_NO_CAPACITY);
	r = req();
	r.gpu = 7;
	ck_assert_str_eq(gm_attach_check(&r, 0, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_NO_SUCH_GPU);
	r = req();
	r.pinned_quota = 1ULL << 63;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_ptr_nonnull(strstr(msg, "pinned_quota"));
	r.pinned_quota = 0;
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	r = req();
	r.name[0] = '\0';
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	r.name[0] = '\x01';
	ck_assert_str_eq(gm_attach_check(&r, 304, 1ULL << 30, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
}
END_TEST

START_TEST(limits_checks)
{
	char msg[256];

	ck_assert_ptr_null(
		gm_limits_check(0, 0, GPUMUX_MAX_CUS, msg, sizeof(msg)));
	ck_assert_ptr_null(gm_limits_check(4, 8, 8, msg, sizeof(msg)));
	/* above the lease's kernel cap, or "no cap" when it has one */
	ck_assert_str_eq(gm_limits_check(4, 9, 8, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_str_eq(gm_limits_check(4, 0, 8, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_str_eq(gm_limits_check(9, 8, 8, msg, sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
	ck_assert_str_eq(gm_limits_check(2000, 0, GPUMUX_MAX_CUS, msg,
					 sizeof(msg)),
			 GM_ERROR_INVALID_VALUE);
}
END_TEST

START_TEST(load_file)
{
	char path[] = "/tmp/test-config-XXXXXX";
	int fd = mkstemp(path);
	const char text[] = "[daemon]\nmax_tenants = 3\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1),
			 (int)sizeof(text) - 1);
	close(fd);
	gm_config_defaults(&c);
	ck_assert_int_eq(gm_config_load(&c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.max_tenants, 3);
	/* a NUL byte inside is refused */
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "\0x", 2), 2);
	close(fd);
	ck_assert_int_eq(gm_config_load(&c, path, err, sizeof(err)), -EINVAL);
	unlink(path);
	/* a missing file is all defaults */
	gm_config_defaults(&c);
	ck_assert_int_eq(gm_config_load(&c, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.max_tenants, 256);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gpumuxd-config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_loop_test(tc, bad_file, 0,
			    sizeof(bad_files) / sizeof(bad_files[0]));
	tcase_add_test(tc, too_many_gpus);
	tcase_add_test(tc, bytes);
	tcase_add_test(tc, names);
	tcase_add_test(tc, attach_checks);
	tcase_add_test(tc, limits_checks);
	tcase_add_test(tc, load_file);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
