// SPDX-License-Identifier: GPL-2.0
/*
 * daemon-bench: what attaching to gpumuxd costs, against a baseline
 * measured in the same run.
 *
 *   daemon-bench [--seconds S] [--csv FILE]
 *
 * Talks to org.gpumux.Scheduler1 on the system bus (DBUS_SYSTEM_BUS_ADDRESS
 * selects another), with sd-bus, one call at a time:
 *
 *   baseline     Peer.Ping: one D-Bus round trip to gpumuxd (answered
 *                by sd-bus itself)
 *   Get Version  a property read
 *   attach+close Attach, then close the lease (the module tells the daemon,
 *                which re-plans)
 *   attach+detach Attach, Detach, close the lease
 *   list-16      ListTenants with 16 tenants attached
 *   attach-16    Attach+close with 16 tenants attached (re-planning with
 *                more tenants)
 *
 * Prints a table of calls/s and each row's cost relative to the baseline,
 * and writes it as CSV (case,calls,seconds,calls_per_s,us_per_call,
 * x_baseline).  Exit 0, or 1 when a call fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#define NAME "org.gpumux.Scheduler1"
#define PATH "/org/gpumux/Scheduler1"
#define MGR NAME ".Manager"

static sd_bus *bus;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what, int ret, sd_bus_error *e)
{
	fprintf(stderr, "daemon-bench: %s: %s\n", what,
		e && e->message ? e->message : strerror(-ret));
	sd_bus_error_free(e);
	exit(1);
}

static void ping(void)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int ret;

	ret = sd_bus_call_method(bus, NAME, PATH, "org.freedesktop.DBus.Peer",
				 "Ping", &e, NULL, "");
	if (ret < 0)
		fail("Ping", ret, &e);
}

static void get_version(void)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *v = NULL;
	int ret;

	ret = sd_bus_get_property_string(bus, NAME, PATH, MGR, "Version", &e,
					 &v);
	if (ret < 0)
		fail("Get Version", ret, &e);
	free(v);
}

/* Attach; returns the lease fd (ours), the path in @path. */
static int attach(const char *name, char *path, size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *r = NULL;
	const char *p;
	int fd, ret;

	ret = sd_bus_call_method(bus, NAME, PATH, MGR, "Attach", &e, &r,
				 "a{sv}", 1, "name", "s", name);
	if (ret < 0)
		fail("Attach", ret, &e);
	ret = sd_bus_message_read(r, "oh", &p, &fd);
	if (ret < 0)
		fail("Attach reply", ret, NULL);
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		fail("dup of the lease", -errno, NULL);
	snprintf(path, len, "%s", p);
	sd_bus_message_unref(r);
	return fd;
}

static void detach(const char *path)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int ret;

	ret = sd_bus_call_method(bus, NAME, PATH, MGR, "Detach", &e, NULL, "o",
				 path);
	if (ret < 0)
		fail("Detach", ret, &e);
}

static void list_tenants(void)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *r = NULL;
	int ret;

	ret = sd_bus_call_method(bus, NAME, PATH, MGR, "ListTenants", &e, &r,
				 "");
	if (ret < 0)
		fail("ListTenants", ret, &e);
	sd_bus_message_unref(r);
}

/* Wait until the daemon lists @n tenants (lease closes are async). */
static void settle(unsigned int n)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	uint32_t have = ~0U;
	int i, ret;

	for (i = 0; i < 1000; i++) {
		ret = sd_bus_get_property_trivial(bus, NAME, PATH, MGR,
						  "NTenants", &e, 'u', &have);
		if (ret < 0)
			fail("NTenants", ret, &e);
		if (have == n)
			return;
		usleep(10000);
	}
	fprintf(stderr, "daemon-bench: %u tenants, want %u\n", have, n);
	exit(1);
}

struct row {
	const char *name;
	unsigned long calls;
	double secs;
};

static void run(struct row *r, double secs, void (*fn)(unsigned long))
{
	double t0 = now(), t;
	unsigned long n = 0;

	do {
		fn(n++);
		t = now();
	} while (t - t0 < secs);
	r->calls = n;
	r->secs = t - t0;
}

static void case_baseline(unsigned long i)
{
	(void)i;
	ping();
}

static void case_get(unsigned long i)
{
	(void)i;
	get_version();
}

static void case_attach_close(unsigned long i)
{
	char path[128], name[32];

	snprintf(name, sizeof(name), "bench-%lu", i);
	close(attach(name, path, sizeof(path)));
}

static void case_attach_detach(unsigned long i)
{
	char path[128], name[32];
	int fd;

	snprintf(name, sizeof(name), "bench-%lu", i);
	fd = attach(name, path, sizeof(path));
	detach(path);
	close(fd);
}

static void case_list(unsigned long i)
{
	(void)i;
	list_tenants();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "csv", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct row rows[6] = {
		{ "baseline (Peer.Ping)", 0, 0 },
		{ "Get Version", 0, 0 },
		{ "attach+close", 0, 0 },
		{ "attach+detach+close", 0, 0 },
		{ "ListTenants, 16 attached", 0, 0 },
		{ "attach+close, 16 attached", 0, 0 },
	};
	const char *csv = NULL;
	double secs = 3, base;
	int fds[16], c, ret, i;
	char path[128], name[32];
	FILE *f;

	while ((c = getopt_long(argc, argv, "s:c:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			secs = atof(optarg);
			break;
		case 'c':
			csv = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: daemon-bench [--seconds S] [--csv FILE]\n");
			return 2;
		}
	}
	if (!(secs > 0)) {
		fprintf(stderr, "daemon-bench: --seconds must be > 0\n");
		return 2;
	}
	ret = sd_bus_open_system(&bus);
	if (ret < 0)
		fail("connecting to the system bus", ret, NULL);

	settle(0);
	run(&rows[0], secs, case_baseline);
	run(&rows[1], secs, case_get);
	run(&rows[2], secs, case_attach_close);
	settle(0);
	run(&rows[3], secs, case_attach_detach);
	settle(0);
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "held-%d", i);
		fds[i] = attach(name, path, sizeof(path));
	}
	settle(16);
	run(&rows[4], secs, case_list);
	run(&rows[5], secs, case_attach_close);
	for (i = 0; i < 16; i++)
		close(fds[i]);
	settle(0);

	base = rows[0].calls / rows[0].secs;
	printf("%-28s %10s %12s %12s %12s\n", "case", "calls", "calls/s",
	       "us/call", "x baseline");
	for (i = 0; i < 6; i++) {
		double rate = rows[i].calls / rows[i].secs;

		printf("%-28s %10lu %12.1f %12.1f %12.2f\n", rows[i].name,
		       rows[i].calls, rate, 1e6 / rate, base / rate);
	}
	if (csv) {
		f = fopen(csv, "w");
		if (!f)
			fail(csv, -errno, NULL);
		fprintf(f,
			"case,calls,seconds,calls_per_s,us_per_call,x_baseline\n");
		for (i = 0; i < 6; i++) {
			double rate = rows[i].calls / rows[i].secs;

			fprintf(f, "\"%s\",%lu,%.3f,%.1f,%.1f,%.2f\n",
				rows[i].name, rows[i].calls, rows[i].secs, rate,
				1e6 / rate, base / rate);
		}
		fclose(f);
		printf("CSV: %s\n", csv);
	}
	sd_bus_flush_close_unref(bus);
	return 0;
}
