/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for modelid.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "modelid.h"

START_TEST(test_valid)
{
	ck_assert(modelid_valid("gpt2"));
	ck_assert(modelid_valid("a"));
	ck_assert(modelid_valid("a/b"));
	ck_assert(modelid_valid("...a/b.."));
	ck_assert(modelid_valid("a_b.c-d/E.F_9"));
	ck_assert(modelid_valid("distilbert/distilbert-base-uncased-finetuned-sst-2-english"));
}
END_TEST

START_TEST(test_invalid)
{
	ck_assert(!modelid_valid(""));
	ck_assert(!modelid_valid(NULL));
	ck_assert(!modelid_valid("/a"));
	ck_assert(!modelid_valid("a/"));
	ck_assert(!modelid_valid("/"));
	ck_assert(!modelid_valid("."));
	ck_assert(!modelid_valid(".."));
	ck_assert(!modelid_valid("a/."));
	ck_assert(!modelid_valid("../etc"));
	ck_assert(!modelid_valid("org/.."));
	ck_assert(!modelid_valid("org//m"));
	ck_assert(!modelid_valid("a/b/c"));
	ck_assert(!modelid_valid("a\\b"));
	ck_assert(!modelid_valid("a:b"));
	ck_assert(!modelid_valid("a b"));
	ck_assert(!modelid_valid("a?b"));
	ck_assert(!modelid_valid("gpt%32"));
	ck_assert(!modelid_valid("caf\xc3\xa9"));
}
END_TEST

/* MODELID_MAX counts the NUL: MODELID_MAX - 1 characters is the longest id. */
START_TEST(test_length)
{
	char	 id[MODELID_MAX + 1];

	memset(id, 'a', MODELID_MAX - 1);
	id[MODELID_MAX - 1] = '\0';
	ck_assert(modelid_valid(id));
	id[3] = '/';
	ck_assert(modelid_valid(id));
	id[3] = 'a';
	id[MODELID_MAX - 1] = 'a';
	id[MODELID_MAX] = '\0';
	ck_assert(!modelid_valid(id));
}
END_TEST

START_TEST(test_part)
{
	ck_assert(modelid_part_valid("abc", 3));
	/* Only len bytes count: no NUL is needed after them. */
	ck_assert(modelid_part_valid("ab/c", 2));
	ck_assert(modelid_part_valid("...", 3));
	ck_assert(modelid_part_valid("..x", 3));
	ck_assert(!modelid_part_valid("ab/c", 4));
	ck_assert(!modelid_part_valid("", 0));
	ck_assert(!modelid_part_valid("abc", 0));
	ck_assert(!modelid_part_valid(".", 1));
	ck_assert(!modelid_part_valid("..", 2));
	ck_assert(!modelid_part_valid("..x", 2));
	ck_assert(!modelid_part_valid("a b", 3));
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("modelid");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_length);
	tcase_add_test(tc, test_part);
	suite_add_tcase(s, tc);
	return (s);
}
