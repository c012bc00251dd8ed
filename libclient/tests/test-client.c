// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libgpumux unit tests (check): everything that runs without gpumuxd and
 * the module.  Parameter validation, NULL handling, error mapping, CU mask
 * helpers, environment parsing, and what attaching does when the bus is
 * missing, refuses, or has no gpumuxd on it (a private dbus-daemon, when
 * one is installed).  Linked with the static archive, so it can also call
 * the library's internal functions.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus-api.h"
#include "internal.h"

/* A private temporary directory per test (check forks each test). */
static char tmpdir[64];

static void tmp_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/libgpumux-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* An attach that must fail validation before it touches any bus. */
static int attach_nobus(struct gpumux_attach_params p)
{
	struct gpumux_tenant *t = (struct gpumux_tenant *)0x1;

	p.bus_address = "unix:path=/nonexistent/gpumux-test/bus";
	return gpumux_tenant_attach(&p, &t);
}

START_TEST(test_default_params)
{
	struct gpumux_attach_params a = gpumux_attach_default_params();
	struct gpumux_adopt_params d = gpumux_adopt_default_params();
	struct gpumux_load l = gpumux_load_default_params();
	struct gpumux_attach_params za;
	struct gpumux_adopt_params zd;

	memset(&za, 0, sizeof(za));
	memset(&zd, 0, sizeof(zd));
	ck_assert_mem_eq(&a, &za, sizeof(a));
	ck_assert_mem_eq(&d, &zd, sizeof(d));
	ck_assert_uint_eq(l.fields, GPUMUX_LOAD_ALL);
	ck_assert_uint_eq(l.running, 0);
	ck_assert_uint_eq(l.kv_blocks_total, 0);
	ck_assert(l.tokens_per_s == 0.0);
	ck_assert_int_eq(gm_load_check(&l), 0);
}
END_TEST

START_TEST(test_attach_validation)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();
	char name[64];

	ck_assert_int_eq(gpumux_tenant_attach(&p, NULL), -EINVAL);

	p.name = "";
	ck_assert_int_eq(attach_nobus(p), -EINVAL);
	memset(name, 'a', sizeof(name));
	name[GM_NAME_MAX + 1] = '\0';
	p.name = name;
	ck_assert_int_eq(attach_nobus(p), -EINVAL);
	p.name = "tab\there";
	ck_assert_int_eq(attach_nobus(p), -EINVAL);
	p.name = "caf\xc3\xa9";
	ck_assert_int_eq(attach_nobus(p), -EINVAL);
	/* Valid: gets as far as the (missing) bus. */
	name[GM_NAME_MAX] = '\0';
	p.name = name;
	ck_assert_int_eq(attach_nobus(p), -ENOENT);

	p = gpumux_attach_default_params();
	p.weight = GM_WEIGHT_MAX + 1;
	ck_assert_int_eq(attach_nobus(p), -ERANGE);
	p.weight = GM_WEIGHT_MAX;
	ck_assert_int_eq(attach_nobus(p), -ENOENT);

	p = gpumux_attach_default_params();
	p.min_cus = GPUMUX_CU_MAX + 1;
	ck_assert_int_eq(attach_nobus(p), -ERANGE);
	p.min_cus = 0;
	p.max_cus = GPUMUX_CU_MAX + 1;
	ck_assert_int_eq(attach_nobus(p), -ERANGE);
	p.min_cus = 10;
	p.max_cus = 5;
	ck_assert_int_eq(attach_nobus(p), -ERANGE);
	p.max_cus = 0; /* no cap: any min_cus up to the limit */
	ck_assert_int_eq(attach_nobus(p), -ENOENT);

	p = gpumux_attach_default_params();
	p.reserved[3] = 1;
	ck_assert_int_eq(attach_nobus(p), -EINVAL);
}
END_TEST

START_TEST(test_name_valid)
{
	ck_assert(gm_name_valid("a"));
	ck_assert(gm_name_valid("engine-1 (llama) #2"));
	ck_assert(gm_name_valid("~"));
	ck_assert(!gm_name_valid(""));
	ck_assert(!gm_name_valid("\x7f"));
	ck_assert(!gm_name_valid("new\nline"));
	ck_assert(gm_name_valid("0123456789012345678901234567890"));
	ck_assert(!gm_name_valid("01234567890123456789012345678901"));
}
END_TEST

START_TEST(test_bus_missing)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();
	struct gpumux_tenant *t = NULL;
	char addr[128];

	snprintf(addr, sizeof(addr), "unix:path=%s/no-such-socket", tmpdir);
	p.bus_address = addr;
	ck_assert_int_eq(gpumux_tenant_attach(&p, &t), -ENOENT);
	ck_assert_ptr_null(t);

	/* The system bus honours $DBUS_SYSTEM_BUS_ADDRESS. */
	ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", addr, 1), 0);
	ck_assert_int_eq(gpumux_tenant_attach(NULL, &t), -ENOENT);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_bus_refused)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct gpumux_tenant *t = NULL;
	char addr[160];
	int s;

	/* A socket bound but not listening refuses connections. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", tmpdir);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(addr, sizeof(addr), "unix:path=%s", sa.sun_path);
	p.bus_address = addr;
	ck_assert_int_eq(gpumux_tenant_attach(&p, &t), -ECONNREFUSED);
	ck_assert_ptr_null(t);
	close(s);
}
END_TEST

START_TEST(test_bus_bad_address)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();
	struct gpumux_tenant *t = NULL;

	p.bus_address = "this is not an address";
	ck_assert_int_lt(gpumux_tenant_attach(&p, &t), 0);
	ck_assert_ptr_null(t);
	p.bus_address = "";
	ck_assert_int_lt(gpumux_tenant_attach(&p, &t), 0);
	ck_assert_ptr_null(t);
}
END_TEST

/*
 * A private dbus-daemon with nobody owning org.gpumux.Scheduler1: Attach
 * fails with EHOSTUNREACH (org.freedesktop.DBus.Error.ServiceUnknown).
 */
START_TEST(test_bus_no_daemon)
{
	struct gpumux_attach_params p = gpumux_attach_default_params();
	struct gpumux_tenant *t = NULL;
	char conf[128], sock[128], addr[160];
	struct stat st;
	pid_t pid;
	FILE *f;
	int i;

	if (access("/usr/bin/dbus-daemon", X_OK)) {
		fprintf(stderr,
			"test_bus_no_daemon: no dbus-daemon, skipped\n");
		return;
	}
	snprintf(conf, sizeof(conf), "%s/bus.conf", tmpdir);
	snprintf(sock, sizeof(sock), "%s/bus", tmpdir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus "
		"Configuration 1.0//EN\"\n \"http://www.freedesktop.org/"
		"standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\n"
		" <listen>unix:path=%s</listen>\n <auth>EXTERNAL</auth>\n"
		" <policy context=\"default\">\n"
		"  <allow send_destination=\"*\"/>\n  <allow own=\"*\"/>\n"
		"  <allow receive_sender=\"*\"/>\n  <allow user=\"*\"/>\n"
		" </policy>\n</busconfig>\n",
		sock);
	fclose(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		char arg[160];
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		snprintf(arg, sizeof(arg), "--config-file=%s", conf);
		execl("/usr/bin/dbus-daemon", "dbus-daemon", arg, "--nofork",
		      "--nopidfile", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500 && stat(sock, &st); i++)
		usleep(10000);
	ck_assert_int_eq(stat(sock, &st), 0);

	snprintf(addr, sizeof(addr), "unix:path=%s", sock);
	p.bus_address = addr;
	p.name = "unit-test";
	p.timeout_usec = 5000000;
	ck_assert_int_eq(gpumux_tenant_attach(&p, &t), -EHOSTUNREACH);
	ck_assert_ptr_null(t);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_error_map)
{
	static const struct {
		const char *name;
		int err;
	} map[] = {
		{ GM_ERROR_INVALID_OPTION, EINVAL },
		{ GM_ERROR_INVALID_VALUE, ERANGE },
		{ GM_ERROR_NO_SUCH_TENANT, ESRCH },
		{ GM_ERROR_NO_SUCH_GPU, ENODEV },
		{ GM_ERROR_NOT_OWNER, EPERM },
		{ GM_ERROR_ACCESS_DENIED, EACCES },
		{ GM_ERROR_NO_CAPACITY, ENOSPC },
		{ GM_ERROR_QUOTA_EXCEEDED, EDQUOT },
		{ GM_ERROR_TOO_MANY_TENANTS, EUSERS },
		{ GM_ERROR_BUSY, EBUSY },
		{ GM_ERROR_MODULE, EIO },
	};
	sd_bus_error e = SD_BUS_ERROR_NULL;
	size_t i;

	/* The library registers its map on first use. */
	gm_bus_errors_init();
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		ck_assert_int_eq(sd_bus_error_set(&e, map[i].name, "x"),
				 -map[i].err);
		ck_assert_int_eq(gm_bus_error_errno(&e), map[i].err);
		/* Registered with sd-bus: its own lookup agrees. */
		ck_assert_int_eq(sd_bus_error_get_errno(&e), map[i].err);
		sd_bus_error_free(&e);
	}
	/* Standard names keep sd-bus's mapping; unknown ones are EIO. */
	sd_bus_error_set(&e, SD_BUS_ERROR_SERVICE_UNKNOWN, NULL);
	ck_assert_int_eq(gm_bus_error_errno(&e), EHOSTUNREACH);
	sd_bus_error_free(&e);
	sd_bus_error_set(&e, SD_BUS_ERROR_ACCESS_DENIED, NULL);
	ck_assert_int_eq(gm_bus_error_errno(&e), EACCES);
	sd_bus_error_free(&e);
	sd_bus_error_set(&e, "org.example.Error.Whatever", NULL);
	ck_assert_int_eq(gm_bus_error_errno(&e), EIO);
	sd_bus_error_free(&e);
	sd_bus_error_set(&e, GM_ERROR_PREFIX "NotYetInvented", NULL);
	ck_assert_int_eq(gm_bus_error_errno(&e), EIO);
	sd_bus_error_free(&e);
}
END_TEST

START_TEST(test_null_handling)
{
	struct gpumux_tenant *t = NULL;
	struct gpumux_buffer *b = NULL;
	struct gpumux_partition part;
	struct gpumux_buffer_info bi;
	struct gpumux_load l = gpumux_load_default_params();
	unsigned int n = 7;
	const char *path;
	size_t sz;
	void *addr;

	ck_assert_int_eq(gpumux_tenant_adopt_fd(0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_detach(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_close(NULL), 0);
	ck_assert_int_eq(gpumux_tenant_fd(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_id(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_object_path(NULL, &path), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_partitions(NULL, &part, 1, &sz),
			 -EINVAL);
	ck_assert_int_eq(gpumux_tenant_partition(NULL, 1, &part), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_ack(NULL, 1, 1), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_set_partition_callback(NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(gpumux_tenant_dispatch(NULL, 0, &n), -EINVAL);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(gpumux_tenant_dispatch(NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_buffers(NULL, &bi, 1, &sz), -EINVAL);
	ck_assert_int_eq(gpumux_tenant_report_load(NULL, &l), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_alloc(NULL, 4096, &b), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_open_granted(NULL, 1, &b), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_map(NULL, 1, &addr), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_unmap(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_free(NULL), 0);
	ck_assert_int_eq(gpumux_buffer_id(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_buffer_info(NULL, &bi), -EINVAL);
	ck_assert_int_eq(gpumux_mask_count(NULL), -EINVAL);
	ck_assert_int_eq(gpumux_mask_test(NULL, 0), -EINVAL);
	ck_assert_int_eq(gpumux_mask_next(NULL, 0), -EINVAL);
	ck_assert_int_eq(gpumux_mask_format(NULL, (char *)&n, 1), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_mask_helpers)
{
	uint64_t m[GPUMUX_CU_MASK_WORDS];
	char buf[8192];
	int cu, n;

	memset(m, 0, sizeof(m));
	ck_assert_int_eq(gpumux_mask_count(m), 0);
	ck_assert_int_eq(gpumux_mask_next(m, 0), -ENOENT);
	ck_assert_int_eq(gpumux_mask_format(m, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");

	m[0] = 0xfULL | (1ULL << 8) | (3ULL << 10);
	m[1] = 1ULL << 63; /* CU 127 */
	m[15] = 1ULL << 63; /* CU 1023 */
	ck_assert_int_eq(gpumux_mask_count(m), 9);
	ck_assert_int_eq(gpumux_mask_test(m, 0), 1);
	ck_assert_int_eq(gpumux_mask_test(m, 4), 0);
	ck_assert_int_eq(gpumux_mask_test(m, 127), 1);
	ck_assert_int_eq(gpumux_mask_test(m, 1023), 1);
	ck_assert_int_eq(gpumux_mask_test(m, 1024), -EINVAL);
	ck_assert_int_eq(gpumux_mask_next(m, 0), 0);
	ck_assert_int_eq(gpumux_mask_next(m, 4), 8);
	ck_assert_int_eq(gpumux_mask_next(m, 12), 127);
	ck_assert_int_eq(gpumux_mask_next(m, 128), 1023);
	ck_assert_int_eq(gpumux_mask_next(m, 1024), -ENOENT);
	ck_assert_int_eq(gpumux_mask_next(m, ~0U), -ENOENT);
	n = 0;
	for (cu = gpumux_mask_next(m, 0); cu >= 0;
	     cu = gpumux_mask_next(m, (unsigned int)cu + 1))
		n++;
	ck_assert_int_eq(n, 9);

	ck_assert_int_eq(gpumux_mask_format(m, buf, sizeof(buf)),
			 (int)strlen("0-3,8,10-11,127,1023"));
	ck_assert_str_eq(buf, "0-3,8,10-11,127,1023");
	/* Exactly fits, one short, nothing at all. */
	ck_assert_int_eq(gpumux_mask_format(m, buf, 21), 20);
	ck_assert_int_eq(gpumux_mask_format(m, buf, 20), -ENOBUFS);
	ck_assert_str_eq(buf, "0-3,8,10-11,127");
	ck_assert_int_eq(gpumux_mask_format(m, buf, 5), -ENOBUFS);
	ck_assert_str_eq(buf, "0-3");
	ck_assert_int_eq(gpumux_mask_format(m, buf, 0), -ENOBUFS);

	memset(m, 0xff, sizeof(m));
	ck_assert_int_eq(gpumux_mask_count(m), GPUMUX_CU_MAX);
	ck_assert_int_eq(gpumux_mask_format(m, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "0-1023");
	memset(m, 0, sizeof(m));
	m[0] = 1;
	ck_assert_int_eq(gpumux_mask_format(m, buf, 1), -ENOBUFS);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(gpumux_mask_format(m, buf, 2), 1);
	ck_assert_str_eq(buf, "0");
}
END_TEST

START_TEST(test_parse_fd)
{
	int fd = -1;

	ck_assert_int_eq(gm_parse_fd("0", &fd), 0);
	ck_assert_int_eq(fd, 0);
	ck_assert_int_eq(gm_parse_fd("17", &fd), 0);
	ck_assert_int_eq(fd, 17);
	ck_assert_int_eq(gm_parse_fd("2147483647", &fd), 0);
	ck_assert_int_eq(fd, 2147483647);
	ck_assert_int_eq(gm_parse_fd("2147483648", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("99999999999999999999999", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("-1", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("+3", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd(" 3", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("3 ", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("3x", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd("0x3", &fd), -EINVAL);
	ck_assert_int_eq(gm_parse_fd(NULL, &fd), -EINVAL);
	ck_assert_int_eq(fd, 2147483647);
}
END_TEST

START_TEST(test_from_env)
{
	struct gpumux_tenant *t = NULL;
	char num[16];
	int p[2], fl, fdfl;

	unsetenv(GPUMUX_ENV_LEASE_FD);
	unsetenv(GPUMUX_ENV_TENANT);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -ENOENT);
	setenv(GPUMUX_ENV_LEASE_FD, "", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -ENOENT);
	setenv(GPUMUX_ENV_LEASE_FD, "abc", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EINVAL);
	setenv(GPUMUX_ENV_LEASE_FD, "-4", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EINVAL);
	setenv(GPUMUX_ENV_LEASE_FD, "12345678901", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EINVAL);

	/* A number that is no open fd. */
	ck_assert_int_eq(pipe(p), 0);
	close(p[1]);
	snprintf(num, sizeof(num), "%d", p[1]);
	setenv(GPUMUX_ENV_LEASE_FD, num, 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EBADF);

	/* An open fd that is not a lease: refused, and left as it was. */
	snprintf(num, sizeof(num), "%d", p[0]);
	setenv(GPUMUX_ENV_LEASE_FD, num, 1);
	fl = fcntl(p[0], F_GETFL);
	fdfl = fcntl(p[0], F_GETFD);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -ENOTTY);
	ck_assert_int_eq(fcntl(p[0], F_GETFL), fl);
	ck_assert_int_eq(fcntl(p[0], F_GETFD), fdfl);

	/* A malformed object path is refused before the fd is looked at. */
	setenv(GPUMUX_ENV_TENANT, "not/a/path", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EINVAL);
	setenv(GPUMUX_ENV_TENANT, "/org/gpumux/Scheduler1/tenant/", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -EINVAL);
	setenv(GPUMUX_ENV_TENANT, "/org/gpumux/Scheduler1/tenant/3", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -ENOTTY);
	/* Set but empty: as if unset. */
	setenv(GPUMUX_ENV_TENANT, "", 1);
	ck_assert_int_eq(gpumux_tenant_from_env(NULL, &t), -ENOTTY);

	ck_assert_ptr_null(t);
	ck_assert_int_ge(fcntl(p[0], F_GETFD), 0);
	close(p[0]);
}
END_TEST

START_TEST(test_adopt_fd)
{
	struct gpumux_adopt_params p = gpumux_adopt_default_params();
	struct gpumux_tenant *t = NULL;
	int fd;

	ck_assert_int_eq(gpumux_tenant_adopt_fd(-1, NULL, &t), -EBADF);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(gpumux_tenant_adopt_fd(fd, NULL, &t), -ENOTTY);
	ck_assert_int_eq(gpumux_tenant_adopt_fd(fd, &p, &t), -ENOTTY);
	p.object_path = "relative";
	ck_assert_int_eq(gpumux_tenant_adopt_fd(fd, &p, &t), -EINVAL);
	p.object_path = NULL;
	p.reserved[0] = 1;
	ck_assert_int_eq(gpumux_tenant_adopt_fd(fd, &p, &t), -EINVAL);
	ck_assert_ptr_null(t);
	/* Still ours. */
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_load_check)
{
	struct gpumux_load l = gpumux_load_default_params();

	ck_assert_int_eq(gm_load_check(&l), 0);
	l.kv_blocks_used = 10;
	l.kv_blocks_total = 9;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	/* Not both sent: nothing to compare. */
	l.fields &= ~GPUMUX_LOAD_KV_BLOCKS_TOTAL;
	ck_assert_int_eq(gm_load_check(&l), 0);
	l.kv_blocks_total = 10;
	l.fields = GPUMUX_LOAD_ALL;
	ck_assert_int_eq(gm_load_check(&l), 0);
	l.tokens_per_s = -1.0;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	l.tokens_per_s = NAN;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	l.tokens_per_s = INFINITY;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	l.fields &= ~GPUMUX_LOAD_TOKENS_PER_S; /* not sent: not checked */
	ck_assert_int_eq(gm_load_check(&l), 0);
	l.tokens_per_s = 1234.5;
	l.fields = GPUMUX_LOAD_ALL | (1U << 5);
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	l.fields = 0;
	ck_assert_int_eq(gm_load_check(&l), 0);
	l.reserved[2] = 1;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
	l.reserved[2] = 0;
	l.reserved0 = 1;
	ck_assert_int_eq(gm_load_check(&l), -EINVAL);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("libgpumux");
	TCase *tc = tcase_create("offline");

	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, test_default_params);
	tcase_add_test(tc, test_attach_validation);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_bus_missing);
	tcase_add_test(tc, test_bus_refused);
	tcase_add_test(tc, test_bus_bad_address);
	tcase_add_test(tc, test_bus_no_daemon);
	tcase_add_test(tc, test_error_map);
	tcase_add_test(tc, test_null_handling);
	tcase_add_test(tc, test_mask_helpers);
	tcase_add_test(tc, test_parse_fd);
	tcase_add_test(tc, test_from_env);
	tcase_add_test(tc, test_adopt_fd);
	tcase_add_test(tc, test_load_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
