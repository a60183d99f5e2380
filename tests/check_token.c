/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for token.c's search for the token in upstream bytes. */
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "token.h"

#define TOK	"hf_SECRET42"

START_TEST(test_found)
{
	static const char body[] = "{\"authorization\":\"Bearer " TOK "\"}";

	ck_assert_int_eq(token_found(TOK, body, strlen(body)), 1);
	ck_assert_int_eq(token_found(TOK, body, strlen(body) - 3), 0);
	ck_assert_int_eq(token_found(TOK, "hf_SECRET4", 10), 0);
	/* Past a NUL too: relayed headers are "name\0value\0" pairs. */
	ck_assert_int_eq(token_found(TOK, "x-a\0" TOK "\0", 16), 1);
	/* Anonymous: nothing to find. */
	ck_assert_int_eq(token_found(NULL, body, strlen(body)), 0);
	ck_assert_int_eq(token_found("", body, strlen(body)), 0);
	ck_assert_int_eq(token_found(TOK, NULL, 0), 0);
}
END_TEST

START_TEST(test_found_after)
{
	const char	*t = TOK;
	size_t		 n = strlen(t), k;
	char		 prev[64];

	/* The token cut anywhere between the held bytes and the new ones. */
	for (k = 1; k < n; k++) {
		memcpy(prev, "data:{\"text\":\"", 14);
		memcpy(prev + 14, t, k);
		ck_assert_msg(token_found_after(t, prev, 14 + k, t + k, n - k) == 1, "cut %zu", k);
		/* The rest not there yet: not found now (the next bytes will tell). */
		ck_assert_int_eq(token_found_after(t, prev, 14 + k, t + k, n - k - 1), 0);
		/* Another byte in between: no token. */
		ck_assert_int_eq(token_found_after(t, prev, 14 + k - 1, t + k, n - k), 0);
	}
	ck_assert_int_eq(token_found_after(t, NULL, 0, "a " TOK, 2 + n), 1);
	ck_assert_int_eq(token_found_after(t, "hf_", 3, "SECRET4", 7), 0);
	ck_assert_int_eq(token_found_after(t, "xxhf_SECRET4", 12, "2", 1), 1);
	ck_assert_int_eq(token_found_after(NULL, "hf_", 3, "SECRET42", 8), 0);
}
END_TEST

START_TEST(test_partial)
{
	ck_assert_uint_eq(token_partial(TOK, "data:{\"text\":\"hf_SEC", 20), 6);
	ck_assert_uint_eq(token_partial(TOK, "hf_SECRET4", 10), 10);
	ck_assert_uint_eq(token_partial(TOK, "xxh", 3), 1);
	ck_assert_uint_eq(token_partial(TOK, "xxhf_x", 6), 0);
	/* The whole token is no part of it: token_found says. */
	ck_assert_uint_eq(token_partial(TOK, TOK, strlen(TOK)), 0);
	ck_assert_uint_eq(token_partial(NULL, "hf_", 3), 0);
	ck_assert_uint_eq(token_partial(TOK, NULL, 0), 0);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("token");
	TCase	*tc = tcase_create("search");

	tcase_add_test(tc, test_found);
	tcase_add_test(tc, test_found_after);
	tcase_add_test(tc, test_partial);
	suite_add_tcase(s, tc);
	return (s);
}
