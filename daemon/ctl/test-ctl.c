// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of gpumuxctl's pure parts (ctl.h), with check: CU masks,
 * numbers and byte sizes, TENANT arguments and object paths, the exit
 * status of D-Bus errors, JSON escaping and writing, tables.
 *
 * Exit status: 0 all passed, 1 a test failed, 77 skipped (the suite could
 * not be set up).
 */
#include "ctl.h"
#include "../../tests/unit/ckmain.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers --- */

/* A memstream the output functions write to; str() ends and returns it. */
struct buf {
	FILE *f;
	char *s;
	size_t n;
};

static void buf_open(struct buf *b)
{
	b->s = NULL;
	b->n = 0;
	b->f = open_memstream(&b->s, &b->n);
	ck_assert_ptr_nonnull(b->f);
}

static const char *buf_str(struct buf *b)
{
	ck_assert_int_eq(fclose(b->f), 0);
	b->f = NULL;
	return b->s;
}

static void buf_free(struct buf *b)
{
	if (b->f)
		fclose(b->f);
	free(b->s);
}

static char *escaped(const char *s)
{
	struct buf b;
	char *r;

	buf_open(&b);
	ctl_json_escape(b.f, s);
	r = strdup(buf_str(&b));
	buf_free(&b);
	return r;
}

static void check_escape(const char *in, const char *want)
{
	char *got = escaped(in);

	ck_assert_str_eq(got, want);
	free(got);
}

static bool bit(const uint8_t *m, unsigned int i)
{
	return (m[i / 8] >> (i % 8)) & 1;
}

/* Parses s, formats the result, and checks it reads want. */
static void check_mask(const char *s, const char *want, size_t want_len)
{
	uint8_t m[CTL_MASK_BYTES];
	char out[8192];
	size_t len;

	ck_assert_int_eq(ctl_mask_parse(s, m, &len), 0);
	ck_assert_uint_eq(len, want_len);
	ctl_mask_format(m, len, out, sizeof(out));
	ck_assert_str_eq(out, want);
}

static void check_mask_bad(const char *s, int err)
{
	uint8_t m[CTL_MASK_BYTES];
	size_t len = 99;

	ck_assert_msg(ctl_mask_parse(s, m, &len) == err,
		      "mask \"%s\" should fail with %d", s, err);
	ck_assert_uint_eq(len, 0);
}

static void check_bytes(const char *s, uint64_t want)
{
	uint64_t v = 1;

	ck_assert_msg(ctl_parse_bytes(s, &v) == 0, "bytes \"%s\"", s);
	ck_assert_msg(v == want, "bytes \"%s\": %llu", s,
		      (unsigned long long)v);
}

static void check_bytes_bad(const char *s, int err)
{
	uint64_t v = 7;

	ck_assert_msg(ctl_parse_bytes(s, &v) == err,
		      "bytes \"%s\" should fail with %d", s, err);
	ck_assert(v == 7);
}

static void check_format_bytes(uint64_t v, const char *want)
{
	char buf[32];

	ctl_format_bytes(v, buf, sizeof(buf));
	ck_assert_str_eq(buf, want);
}

static void check_kind(const char *s, enum ctl_tenant_kind want,
		       uint32_t want_id)
{
	uint32_t id = 0;

	ck_assert_msg(ctl_tenant_classify(s, &id) == want,
		      "TENANT \"%s\" should be kind %d", s, want);
	if (want == CTL_TENANT_ID)
		ck_assert_uint_eq(id, want_id);
}

/* --- masks --- */

START_TEST(test_mask_parse)
{
	uint8_t m[CTL_MASK_BYTES];
	size_t len;
	unsigned int i;

	ck_assert_int_eq(ctl_mask_parse("0-15,32-47", m, &len), 0);
	ck_assert_uint_eq(len, 6);
	for (i = 0; i < CTL_MAX_CUS; i++)
		ck_assert_int_eq(bit(m, i), i < 16 || (i >= 32 && i < 48));
	ck_assert_uint_eq(ctl_mask_count(m, len), 32);

	/* Little-endian: CU 0 is bit 0 of byte 0, CU 9 bit 1 of byte 1. */
	ck_assert_int_eq(ctl_mask_parse("0,9", m, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(m[0], 0x01);
	ck_assert_uint_eq(m[1], 0x02);

	ck_assert_int_eq(ctl_mask_parse("none", m, &len), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(ctl_mask_count(m, CTL_MASK_BYTES), 0);
}
END_TEST

START_TEST(test_mask_round_trip)
{
	check_mask("0-15,32-47", "0-15,32-47", 6);
	check_mask("7", "7", 1);
	check_mask("none", "none", 0);
	check_mask("0-1023", "0-1023", 128);
	check_mask("1023", "1023", 128);
	check_mask("0,1,2,3", "0-3", 1);
	check_mask("0-3,2-5", "0-5", 1);
	check_mask("5,3,1", "1,3,5", 1);
	check_mask("4-4", "4", 1);
	check_mask("007", "7", 1);
	check_mask("8-15,0-7", "0-15", 2);
	check_mask("0,2,4,1022", "0,2,4,1022", 128);
}
END_TEST

START_TEST(test_mask_random)
{
	unsigned int seed = 12345, iter, i;

	for (iter = 0; iter < 2000; iter++) {
		uint8_t m[CTL_MASK_BYTES] = { 0 }, back[CTL_MASK_BYTES];
		size_t len, blen;
		char *s;

		len = (size_t)(rand_r(&seed) % (CTL_MASK_BYTES + 1));
		for (i = 0; i < len; i++)
			m[i] = (uint8_t)(rand_r(&seed) &
					 (iter % 3 ? 0xff : 0x55));
		s = ctl_mask_to_string(m, len);
		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(ctl_mask_parse(s, back, &blen), 0);
		ck_assert_mem_eq(m, back, CTL_MASK_BYTES);
		/* Trailing zero bytes are dropped. */
		while (len && !m[len - 1])
			len--;
		ck_assert_uint_eq(blen, len);
		free(s);
	}
}
END_TEST

START_TEST(test_mask_bad)
{
	check_mask_bad("5-3", -EINVAL);
	check_mask_bad("0-1024", -ERANGE);
	check_mask_bad("1024", -ERANGE);
	check_mask_bad("99999999999999999999", -ERANGE);
	check_mask_bad("abc", -EINVAL);
	check_mask_bad("1,,2", -EINVAL);
	check_mask_bad("", -EINVAL);
	check_mask_bad(",1", -EINVAL);
	check_mask_bad("1,", -EINVAL);
	check_mask_bad("-1", -EINVAL);
	check_mask_bad("1-", -EINVAL);
	check_mask_bad("1-2-3", -EINVAL);
	check_mask_bad(" 1", -EINVAL);
	check_mask_bad("1 ", -EINVAL);
	check_mask_bad("1, 2", -EINVAL);
	check_mask_bad("+1", -EINVAL);
	check_mask_bad("0x10", -EINVAL);
	check_mask_bad("None", -EINVAL);
	check_mask_bad("none,1", -EINVAL);
	/* A syntax error wins over a range error anywhere. */
	check_mask_bad("2000,abc", -EINVAL);
	check_mask_bad("1-2000,", -EINVAL);
}
END_TEST

START_TEST(test_mask_format_edges)
{
	uint8_t m[CTL_MASK_BYTES] = { 0 };
	char small[6];
	size_t n;

	/* No bytes, or only zero bytes: "none". */
	n = ctl_mask_format(m, 0, small, sizeof(small));
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(small, "none");
	n = ctl_mask_format(m, 3, small, sizeof(small));
	ck_assert_str_eq(small, "none");

	/* Cut like snprintf: the full length, a terminated prefix. */
	m[0] = 0x0f;
	m[4] = 0xff;
	n = ctl_mask_format(m, 5, small, sizeof(small));
	ck_assert_uint_eq(n, strlen("0-3,32-39"));
	ck_assert_str_eq(small, "0-3,3");
	n = ctl_mask_format(m, 5, NULL, 0);
	ck_assert_uint_eq(n, strlen("0-3,32-39"));

	/* The longest: every other CU. */
	memset(m, 0x55, sizeof(m));
	{
		char *s = ctl_mask_to_string(m, sizeof(m));

		ck_assert_ptr_nonnull(s);
		ck_assert(!strncmp(s, "0,2,4,", 6));
		ck_assert(strlen(s) > 2000);
		ck_assert_uint_eq(ctl_mask_count(m, sizeof(m)), 512);
		free(s);
	}
}
END_TEST

/* --- numbers and bytes --- */

START_TEST(test_parse_u32)
{
	uint32_t v = 0;

	ck_assert_int_eq(ctl_parse_u32("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(ctl_parse_u32("4294967295", &v), 0);
	ck_assert_uint_eq(v, UINT32_MAX);
	ck_assert_int_eq(ctl_parse_u32("4294967296", &v), -ERANGE);
	ck_assert_int_eq(ctl_parse_u32("99999999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(ctl_parse_u32("-1", &v), -EINVAL);
	ck_assert_int_eq(ctl_parse_u32("+1", &v), -EINVAL);
	ck_assert_int_eq(ctl_parse_u32("", &v), -EINVAL);
	ck_assert_int_eq(ctl_parse_u32("12a", &v), -EINVAL);
	ck_assert_int_eq(ctl_parse_u32(" 12", &v), -EINVAL);
	ck_assert_int_eq(ctl_parse_u32("99999999999x", &v), -EINVAL);
	ck_assert_uint_eq(v, UINT32_MAX);
}
END_TEST

START_TEST(test_parse_bytes)
{
	check_bytes("0", 0);
	check_bytes("1024", 1024);
	check_bytes("4K", 4096);
	check_bytes("4k", 4096);
	check_bytes("4KiB", 4096);
	check_bytes("4KB", 4096);
	check_bytes("4B", 4);
	check_bytes("512M", 512ULL << 20);
	check_bytes("1G", 1ULL << 30);
	check_bytes("192G", 192ULL << 30);
	check_bytes("1T", 1ULL << 40);
	check_bytes("1P", 1ULL << 50);
	check_bytes("1E", 1ULL << 60);
	check_bytes("15E", 15ULL << 60);
	check_bytes("17179869183G", 17179869183ULL << 30);
	check_bytes("18446744073709551615", UINT64_MAX);

	check_bytes_bad("16E", -ERANGE);
	check_bytes_bad("17179869184G", -ERANGE);
	check_bytes_bad("18446744073709551616", -ERANGE);
	check_bytes_bad("99999999999999999999999K", -ERANGE);
	check_bytes_bad("", -EINVAL);
	check_bytes_bad("K", -EINVAL);
	check_bytes_bad("-1", -EINVAL);
	check_bytes_bad("1.5G", -EINVAL);
	check_bytes_bad("4 K", -EINVAL);
	check_bytes_bad("4X", -EINVAL);
	check_bytes_bad("4Ki", -EINVAL);
	check_bytes_bad("4KiBx", -EINVAL);
	check_bytes_bad("4KK", -EINVAL);
	check_bytes_bad("4BB", -EINVAL);
	/* Syntax errors win over range errors. */
	check_bytes_bad("99999999999999999999999X", -EINVAL);
}
END_TEST

START_TEST(test_format_bytes)
{
	check_format_bytes(0, "0");
	check_format_bytes(1023, "1023");
	check_format_bytes(1024, "1K");
	check_format_bytes(1536, "1.5K");
	check_format_bytes(1024 * 1024 - 1, "1023K"); /* >= 100: no decimal */
	check_format_bytes(10 * 1024 - 1, "9.9K");
	check_format_bytes(192ULL << 30, "192G");
	check_format_bytes((1ULL << 30) + 1, "1.0G");
	check_format_bytes(150ULL << 20 | 1, "150M"); /* >= 100: no decimal */
	check_format_bytes(UINT64_MAX, "15.9E");
}
END_TEST

/* --- TENANT arguments, object paths --- */

START_TEST(test_tenant_classify)
{
	char name31[32], name32[33];

	memset(name31, 'x', 31);
	name31[31] = '\0';
	memset(name32, 'x', 32);
	name32[32] = '\0';

	check_kind("3", CTL_TENANT_ID, 3);
	check_kind("007", CTL_TENANT_ID, 7);
	check_kind("4294967295", CTL_TENANT_ID, UINT32_MAX);
	check_kind("0", CTL_TENANT_INVALID, 0);
	check_kind("4294967296", CTL_TENANT_INVALID, 0);
	check_kind("/org/gpumux/Scheduler1/tenant/3", CTL_TENANT_PATH, 0);
	check_kind("/", CTL_TENANT_PATH, 0);
	check_kind("/a//b", CTL_TENANT_INVALID, 0);
	check_kind("/a/", CTL_TENANT_INVALID, 0);
	check_kind("/a-b", CTL_TENANT_INVALID, 0);
	check_kind("/a.b", CTL_TENANT_INVALID, 0);
	check_kind("llm0", CTL_TENANT_NAME, 0);
	check_kind("0llm", CTL_TENANT_NAME, 0);
	check_kind("3 ", CTL_TENANT_NAME, 0);
	check_kind("llm a", CTL_TENANT_NAME, 0);
	check_kind("-x", CTL_TENANT_NAME, 0);
	check_kind("pid-1234", CTL_TENANT_NAME, 0);
	check_kind("модель", CTL_TENANT_NAME, 0);
	check_kind(name31, CTL_TENANT_NAME, 0);
	check_kind(name32, CTL_TENANT_INVALID, 0);
	check_kind("", CTL_TENANT_INVALID, 0);
	check_kind("a\tb", CTL_TENANT_INVALID, 0);
	check_kind("a\nb", CTL_TENANT_INVALID, 0);
	check_kind("a\x7f", CTL_TENANT_INVALID, 0);
}
END_TEST

START_TEST(test_object_path)
{
	ck_assert(ctl_object_path_valid("/"));
	ck_assert(ctl_object_path_valid("/org/gpumux/Scheduler1"));
	ck_assert(ctl_object_path_valid("/a_b/C9"));
	ck_assert(!ctl_object_path_valid(""));
	ck_assert(!ctl_object_path_valid("org"));
	ck_assert(!ctl_object_path_valid("//"));
	ck_assert(!ctl_object_path_valid("/a/"));
	ck_assert(!ctl_object_path_valid("/a b"));
	ck_assert(!ctl_object_path_valid("/é"));
}
END_TEST

START_TEST(test_path_id)
{
	const char *pfx = "/org/gpumux/Scheduler1/tenant";

	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1/tenant/5", pfx),
			  5);
	ck_assert_uint_eq(
		ctl_path_id("/org/gpumux/Scheduler1/tenant/4294967295", pfx),
		UINT32_MAX);
	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1/tenant/", pfx),
			  0);
	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1/tenant5", pfx),
			  0);
	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1/tenant/5/x", pfx),
			  0);
	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1/gpu/1", pfx), 0);
	ck_assert_uint_eq(ctl_path_id("/org/gpumux/Scheduler1", pfx), 0);
}
END_TEST

START_TEST(test_error_exit)
{
	ck_assert_int_eq(
		ctl_error_exit("org.gpumux.Scheduler1.Error.NoSuchTenant",
			       ESRCH),
		CTL_EXIT_ERROR);
	ck_assert_int_eq(
		ctl_error_exit("org.gpumux.Scheduler1.Error.InvalidValue",
			       ERANGE),
		CTL_EXIT_ERROR);
	ck_assert_int_eq(
		ctl_error_exit("org.gpumux.Scheduler1.Error.AccessDenied",
			       EACCES),
		CTL_EXIT_DENIED);
	ck_assert_int_eq(ctl_error_exit("org.gpumux.Scheduler1.Error.NotOwner",
					EPERM),
			 CTL_EXIT_DENIED);
	ck_assert_int_eq(
		ctl_error_exit("org.freedesktop.DBus.Error.AccessDenied",
			       EACCES),
		CTL_EXIT_DENIED);
	ck_assert_int_eq(
		ctl_error_exit("org.freedesktop.DBus.Error.ServiceUnknown",
			       EHOSTUNREACH),
		CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(
		ctl_error_exit("org.freedesktop.DBus.Error.NameHasNoOwner",
			       ENXIO),
		CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(
		ctl_error_exit("org.freedesktop.DBus.Error.Spawn.ChildExited",
			       EIO),
		CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(ctl_error_exit("org.freedesktop.DBus.Error.NoReply",
					ETIMEDOUT),
			 CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(
		ctl_error_exit("org.freedesktop.DBus.Error.UnknownObject",
			       ENOENT),
		CTL_EXIT_ERROR);
	/* Local failures go by errno. */
	ck_assert_int_eq(ctl_error_exit(NULL, ECONNREFUSED),
			 CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(ctl_error_exit("System.Error.ECONNRESET", ECONNRESET),
			 CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(ctl_error_exit(NULL, ENOENT), CTL_EXIT_UNREACHABLE);
	ck_assert_int_eq(ctl_error_exit(NULL, EACCES), CTL_EXIT_DENIED);
	ck_assert_int_eq(ctl_error_exit(NULL, ENOMEM), CTL_EXIT_ERROR);

	ck_assert_str_eq(
		ctl_error_short("org.gpumux.Scheduler1.Error.NoSuchTenant"),
		"NoSuchTenant");
	ck_assert_str_eq(ctl_error_short("Plain"), "Plain");
}
END_TEST

/* --- JSON --- */

START_TEST(test_json_escape)
{
	check_escape("", "\"\"");
	check_escape("llm0", "\"llm0\"");
	check_escape("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	check_escape("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	/* Valid UTF-8 is kept as it is. */
	check_escape("é€😀", "\"é€😀\"");
	/* Invalid UTF-8: one U+FFFD per bad byte. */
	check_escape("a\xff"
		     "b",
		     "\"a\\ufffdb\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xe2\x82", "\"\\ufffd\\ufffd\"");
	check_escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xe2\x82z", "\"\\ufffd\\ufffdz\"");
}
END_TEST

START_TEST(test_json_writer)
{
	struct ctl_json j;
	struct buf b;

	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_object(&j);
	ctl_json_key(&j, "Name");
	ctl_json_string(&j, "a\"b");
	ctl_json_key(&j, "Id");
	ctl_json_u64(&j, UINT64_MAX);
	ctl_json_key(&j, "Neg");
	ctl_json_i64(&j, INT64_MIN);
	ctl_json_key(&j, "List");
	ctl_json_begin_array(&j);
	ctl_json_bool(&j, true);
	ctl_json_bool(&j, false);
	ctl_json_null(&j);
	ctl_json_begin_object(&j);
	ctl_json_end_object(&j);
	ctl_json_begin_array(&j);
	ctl_json_end_array(&j);
	ctl_json_end_array(&j);
	ctl_json_key(&j, "D");
	ctl_json_double(&j, 0.1);
	ctl_json_key(&j, "Nan");
	ctl_json_double(&j, NAN);
	ctl_json_key(&j, "Big");
	ctl_json_double(&j, 1e300);
	ctl_json_key(&j, "Third");
	ctl_json_double(&j, 1.0 / 3);
	ctl_json_end_object(&j);
	ck_assert_int_eq(ctl_json_finish(&j), 0);
	ck_assert_str_eq(buf_str(&b),
			 "{\"Name\":\"a\\\"b\",\"Id\":18446744073709551615,"
			 "\"Neg\":-9223372036854775808,"
			 "\"List\":[true,false,null,{},[]],\"D\":0.1,"
			 "\"Nan\":null,\"Big\":1e+300,"
			 "\"Third\":0.33333333333333331}\n");
	buf_free(&b);

	/* A bare array document. */
	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_array(&j);
	ctl_json_u64(&j, 1);
	ctl_json_u64(&j, 2);
	ctl_json_end_array(&j);
	ck_assert_int_eq(ctl_json_finish(&j), 0);
	ck_assert_str_eq(buf_str(&b), "[1,2]\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_json_misuse)
{
	struct ctl_json j;
	struct buf b;
	int i;

	/* A value in an object without a key. */
	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_object(&j);
	ctl_json_u64(&j, 1);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	/* A key in an array; closing the wrong container. */
	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_array(&j);
	ctl_json_key(&j, "x");
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_array(&j);
	ctl_json_end_object(&j);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	/* A key with no value; an unfinished document; two documents. */
	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_object(&j);
	ctl_json_key(&j, "x");
	ctl_json_end_object(&j);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_begin_object(&j);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	buf_open(&b);
	ctl_json_init(&j, b.f);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	buf_open(&b);
	ctl_json_init(&j, b.f);
	ctl_json_u64(&j, 1);
	ctl_json_u64(&j, 2);
	ck_assert_int_eq(ctl_json_finish(&j), -EINVAL);
	buf_free(&b);

	/* Too deep. */
	buf_open(&b);
	ctl_json_init(&j, b.f);
	for (i = 0; i < CTL_JSON_DEPTH + 2; i++)
		ctl_json_begin_array(&j);
	ck_assert_int_eq(ctl_json_finish(&j), -E2BIG);
	buf_free(&b);
}
END_TEST

/* --- tables --- */

START_TEST(test_table)
{
	static const struct ctl_table_col cols[] = {
		{ "ID", CTL_RIGHT },
		{ "NAME", CTL_LEFT },
		{ "STATE", CTL_LEFT },
	};
	const char *r1[] = { "3", "llm0", "running" };
	const char *r2[] = { "12", "modèle", "fenced" };
	struct ctl_table t;
	struct buf b;

	ctl_table_init(&t, cols, 3);
	ctl_table_add(&t, r1);
	ctl_table_add(&t, r2);

	buf_open(&b);
	ck_assert_int_eq(ctl_table_print(&t, b.f, true), 0);
	ck_assert_str_eq(buf_str(&b), "ID  NAME    STATE\n"
				      " 3  llm0    running\n"
				      "12  modèle  fenced\n");
	buf_free(&b);

	buf_open(&b);
	ck_assert_int_eq(ctl_table_print(&t, b.f, false), 0);
	ck_assert_str_eq(buf_str(&b), " 3  llm0    running\n"
				      "12  modèle  fenced\n");
	buf_free(&b);
	ctl_table_free(&t);

	/* Many rows (the table grows), and an empty one. */
	ctl_table_init(&t, cols, 3);
	{
		int i;

		for (i = 0; i < 100; i++)
			ctl_table_add(&t, r1);
	}
	ck_assert_uint_eq(t.nrows, 100);
	ctl_table_free(&t);

	ctl_table_init(&t, cols, 3);
	buf_open(&b);
	ck_assert_int_eq(ctl_table_print(&t, b.f, true), 0);
	ck_assert_str_eq(buf_str(&b), "ID  NAME  STATE\n");
	buf_free(&b);
	ctl_table_free(&t);

	/* Control characters cannot break a row. */
	ctl_table_init(&t, cols, 3);
	{
		const char *r3[] = { "1", "a\nb\tc", "x\x7f" };

		ctl_table_add(&t, r3);
	}
	buf_open(&b);
	ck_assert_int_eq(ctl_table_print(&t, b.f, false), 0);
	ck_assert_str_eq(buf_str(&b), "1  a?b?c  x?\n");
	buf_free(&b);
	ctl_table_free(&t);

	ck_assert_uint_eq(ctl_utf8_width("modèle"), 6);
	ck_assert_uint_eq(ctl_utf8_width(""), 0);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("gpumuxctl");
	TCase *tc = tcase_create("pure");

	if (!s || !tc)
		return NULL;
	tcase_add_test(tc, test_mask_parse);
	tcase_add_test(tc, test_mask_round_trip);
	tcase_add_test(tc, test_mask_random);
	tcase_add_test(tc, test_mask_bad);
	tcase_add_test(tc, test_mask_format_edges);
	tcase_add_test(tc, test_parse_u32);
	tcase_add_test(tc, test_parse_bytes);
	tcase_add_test(tc, test_format_bytes);
	tcase_add_test(tc, test_tenant_classify);
	tcase_add_test(tc, test_object_path);
	tcase_add_test(tc, test_path_id);
	tcase_add_test(tc, test_error_exit);
	tcase_add_test(tc, test_json_escape);
	tcase_add_test(tc, test_json_writer);
	tcase_add_test(tc, test_json_misuse);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ckmain_run(ctl_suite(), "gpumuxctl");
}
