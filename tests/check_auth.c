/* SPDX-License-Identifier: BSD-2-Clause */
/* check_auth.c: unit tests of auth.c. */
#include <check.h>
#include <string.h>

#include "auth.h"
#include "check_main.h"
#include "config.h"

/* Two clients, keys "key-a" and "key-b", and the admin key "admin". */
static void
setup(struct config *c, struct cfg_client cl[2])
{
	static char *tasks[] = { "text-classification", "text-*" };
	static char *models[] = { "org/*", "gpt2" };

	memset(c, 0, sizeof(*c));
	memset(cl, 0, 2 * sizeof(cl[0]));
	cl[0].name = "a";
	cl[1].name = "b";
	ck_assert_int_eq(cfg_hash_key("key-a", 5, cl[0].key_hash), 0);
	ck_assert_int_eq(cfg_hash_key("key-b", 5, cl[1].key_hash), 0);
	cl[0].tasks = tasks;
	cl[0].ntasks = 2;
	cl[0].models = models;
	cl[0].nmodels = 2;
	c->clients = cl;
	c->nclients = 2;
	ck_assert_int_eq(cfg_hash_key("admin", 5, c->admin_key_hash), 0);
	c->admin_has_key = 1;
}

START_TEST(test_key_headers)
{
	const char	*k;
	size_t		 n = 0;

	k = auth_key("Bearer key-a", NULL, &n);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq((int)n, 5);
	ck_assert_int_eq(strncmp(k, "key-a", n), 0);
	k = auth_key("bearer   key-b  ", "ignored", &n);
	ck_assert_int_eq((int)n, 5);
	ck_assert_int_eq(strncmp(k, "key-b", n), 0);
	/* Another scheme: X-Api-Key is used instead. */
	k = auth_key("Basic dXNlcjpwYXNz", "key-x", &n);
	ck_assert_int_eq((int)n, 5);
	ck_assert_int_eq(strncmp(k, "key-x", n), 0);
	ck_assert_ptr_null(auth_key("Basic dXNlcjpwYXNz", NULL, &n));
	ck_assert_ptr_null(auth_key("Bearer", NULL, &n));
	ck_assert_ptr_null(auth_key("Bearer    ", NULL, &n));
	ck_assert_ptr_null(auth_key("Bearerkey-a", NULL, &n));
	ck_assert_ptr_null(auth_key(NULL, "", &n));
	ck_assert_ptr_null(auth_key(NULL, NULL, &n));
}
END_TEST

START_TEST(test_client_lookup)
{
	struct config		 c;
	struct cfg_client	 cl[2];

	setup(&c, cl);
	ck_assert_ptr_eq(auth_client(&c, "key-a", 5), &cl[0]);
	ck_assert_ptr_eq(auth_client(&c, "key-b", 5), &cl[1]);
	ck_assert_ptr_null(auth_client(&c, "key-c", 5));
	ck_assert_ptr_null(auth_client(&c, "key-a", 4));	/* a prefix is not the key */
	ck_assert_ptr_null(auth_client(&c, "key-a ", 6));
	ck_assert_ptr_null(auth_client(&c, "admin", 5));
	ck_assert_ptr_null(auth_client(&c, NULL, 0));
	ck_assert_int_eq(auth_admin(&c, "admin", 5), 1);
	ck_assert_int_eq(auth_admin(&c, "key-a", 5), 0);
	c.admin_has_key = 0;
	ck_assert_int_eq(auth_admin(&c, "admin", 5), 0);
}
END_TEST

START_TEST(test_allowed)
{
	struct config		 c;
	struct cfg_client	 cl[2];
	const char		*what = NULL;

	setup(&c, cl);
	ck_assert_int_eq(auth_allowed(&cl[0], "text-classification", "gpt2", &what), 1);
	ck_assert_int_eq(auth_allowed(&cl[0], "text-generation", "org/m", &what), 1);
	ck_assert_int_eq(auth_allowed(&cl[0], "fill-mask", "gpt2", &what), 0);
	ck_assert_str_eq(what, "task");
	ck_assert_int_eq(auth_allowed(&cl[0], NULL, "gpt2", &what), 0);
	ck_assert_str_eq(what, "task");
	ck_assert_int_eq(auth_allowed(&cl[0], "text-generation", "other/m", &what), 0);
	ck_assert_str_eq(what, "model");
	ck_assert_int_eq(auth_allowed(&cl[0], "text-generation", "gpt2-large", &what), 0);
	ck_assert_str_eq(what, "model");
	/* No patterns: everything, unknown tasks too. */
	ck_assert_int_eq(auth_allowed(&cl[1], NULL, "any/model", &what), 1);
	ck_assert_int_eq(auth_allowed(&cl[1], "fill-mask", "x", &what), 1);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("auth");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_key_headers);
	tcase_add_test(tc, test_client_lookup);
	tcase_add_test(tc, test_allowed);
	suite_add_tcase(s, tc);
	return (s);
}
