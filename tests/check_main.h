/* SPDX-License-Identifier: BSD-2-Clause */
/* check_main.h: the main() every Check binary shares (check_main.c). */
#ifndef HFGATE_CHECK_MAIN_H
#define HFGATE_CHECK_MAIN_H

#include <check.h>

/* Each test file defines it: its one suite, which main() runs. */
Suite	*check_suite(void);
/*
 * 1 when the tests run in forked processes (Check's default; CK_FORK=no turns it
 * off), so check_suite() can leave out the tests that only a fork can observe.
 */
int	 check_forking(void);

#endif
