// SPDX-License-Identifier: GPL-2.0
/*
 * Stand-in test programs for testing the VM rig itself (tests/vm/selftest.sh).
 * One static binary, installed under several names; argv[0] picks what it
 * does.  Each name exercises one thing the rig must handle.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Requests of the stub module (stub-gpumux.c). */
#define STUB_IOC_OOPS _IO('G', 0xf0)
#define STUB_IOC_STALL _IO('G', 0xf1)

/* Issue stub request @req on /dev/gpumux; 0 or -1 (errno set). */
static int stub_ioctl(unsigned long req)
{
	int fd = open("/dev/gpumux", O_RDWR);

	if (fd < 0)
		return -1;
	return ioctl(fd, req);
}

static int write_file(const char *path)
{
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, "1\n", 2) == 2;

	if (fd >= 0)
		close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	const char *me = basename(argv[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(me, "test-stub-pass")) {
		/* Passes, with one skipped sub-test. */
		int fd = open("/dev/gpumux", O_RDWR);

		printf(fd >= 0 ? "PASS: stub open\n" : "FAIL: stub open: %m\n");
		printf("PASS: stub a\nPASS: stub b\nSKIP: stub c: not here\n");
		return fd >= 0 ? 0 : 1;
	}
	if (!strcmp(me, "test-stub-skip"))	/* the whole program skips */
		return 77;
	if (!strcmp(me, "test-stub-fail")) {	/* one sub-test fails */
		printf("PASS: stub x\nFAIL: stub y: wanted 1, got 2\n");
		return 1;
	}
	if (!strcmp(me, "test-stub-silent"))	/* fails without a FAIL line */
		return 1;
	if (!strcmp(me, "test-stub-hang")) {	/* must hit the timeout */
		printf("PASS: stub started\n");
		for (;;)
			pause();
	}
	if (!strcmp(me, "test-stub-warn")) {	/* WARNING: in the kernel log */
		int ok = write_file("/sys/kernel/debug/gpumux/warn");

		printf(ok ? "PASS: stub warn\n" : "FAIL: stub warn: %m\n");
		return !ok;
	}
	if (!strcmp(me, "test-stub-leak")) {	/* "tenants" stays at 1 */
		int ok = write_file("/sys/kernel/debug/gpumux/leak");

		printf(ok ? "PASS: stub leak\n" : "FAIL: stub leak: %m\n");
		return !ok;
	}
	if (!strcmp(me, "test-stub-crash")) {	/* dies of SIGSEGV */
		printf("stub: about to crash\n");
		*(volatile int *)0 = 1;
		return 0;
	}
	if (!strcmp(me, "test-stub-oops")) {	/* an oops kills it */
		printf("stub: about to oops\n");
		stub_ioctl(STUB_IOC_OOPS);
		printf("FAIL: stub oops: the ioctl returned: %m\n");
		return 1;
	}
	if (!strcmp(me, "test-stub-stall")) {	/* unkillable for 25 s */
		printf("stub: stalling in the kernel for 25 s\n");
		if (stub_ioctl(STUB_IOC_STALL))
			printf("FAIL: stub stall: %m\n");
		return 0;
	}
	if (!strncmp(me, "kmod-bench", 10)) {	/* a table, and CSV to argv[1] */
		FILE *f = argc > 1 ? fopen(argv[1], "w") : NULL;

		printf("%-10s %8s\n%-10s %8d\n%-10s %8d\n", "case", "ops/s",
		       "nop", 1000, "alloc", 250);
		if (!f) {
			fprintf(stderr, "%s: no CSV path\n", me);
			return 1;
		}
		fprintf(f, "case,ops_per_s\nnop,1000\nalloc,250\n");
		return fclose(f) ? 1 : 0;
	}
	if (!strcmp(me, "demo-kmod")) {
		printf("demo: the stub module is loaded\n");
		return 0;
	}
	fprintf(stderr, "stub-prog: unknown name %s\n", me);
	return 2;
}
