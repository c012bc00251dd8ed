/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The main() of a check unit test, shared by tests/unit/test-*.c and
 * daemon/ctl/test-ctl.c:
 *
 *	int main(void)
 *	{
 *		return ckmain_run(policy_suite(), "policy");
 *	}
 */
#ifndef GPUMUX_CKMAIN_H
#define GPUMUX_CKMAIN_H

#include <check.h>
#include <stdio.h>

/*
 * Runs suite s (NULL: it could not be set up) and frees it.  Returns the
 * exit status: 0 all passed, 1 a test failed, 77 skipped (no suite).
 */
static inline int ckmain_run(Suite *s, const char *name)
{
	SRunner *sr = s ? srunner_create(s) : NULL;
	int failed;

	if (!sr) {
		fprintf(stderr, "SKIP: cannot set up the %s suite\n", name);
		return 77;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif /* GPUMUX_CKMAIN_H */
