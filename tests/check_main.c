/* SPDX-License-Identifier: BSD-2-Clause */
/* check_main.c: main() of every Check binary: runs check_suite(), fails when a test fails. */
#include <stdlib.h>

#include <check.h>

#include "check_main.h"

static int	forking;

int
check_forking(void)
{
	return (forking);
}

int
main(void)
{
	SRunner	*sr = srunner_create(NULL);
	int	 failed;

	/* The fork mode is known before the suite is built, for check_forking(). */
	forking = srunner_fork_status(sr) != CK_NOFORK;
	srunner_add_suite(sr, check_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
