/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for oai.c: the OpenAI bodies' model, flags and the model rewrite. */
#include <string.h>

#include <check.h>

#include "buf.h"
#include "check_main.h"
#include "oai.h"

static struct oai_body
read_ok(const char *body)
{
	struct oai_body	 o;
	char		 err[256];

	ck_assert_msg(oai_read(body, strlen(body), &o, err, sizeof(err)) == 0, "%s: %s",
	    body, err);
	return (o);
}

START_TEST(test_model)
{
	struct oai_body	 o;
	char		 err[256];

	o = read_ok("{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"messages\":[]}");
	ck_assert(o.named);
	ck_assert_str_eq(o.model, "meta-llama/Llama-3.1-8B-Instruct");
	ck_assert_str_eq(o.suffix, "");
	o = read_ok("{\"model\":\"org/m:together\"}");
	ck_assert_str_eq(o.model, "org/m");
	ck_assert_str_eq(o.suffix, ":together");
	o = read_ok("{\"model\":\"org/m:fastest\"}");
	ck_assert_str_eq(o.model, "org/m");
	ck_assert_str_eq(o.suffix, ":fastest");
	/* No real model: none, huggingface_hub's placeholder, hf.js's endpoint URL. */
	ck_assert(!read_ok("{\"messages\":[]}").named);
	ck_assert(!read_ok("{\"model\":\"dummy\"}").named);
	ck_assert(!read_ok("{\"model\":\"http://127.0.0.1:8080/v1\"}").named);
	ck_assert(!read_ok("{\"model\":null}").named);
	ck_assert_int_eq(oai_read("{\"model\":3}", 11, &o, err, sizeof(err)), -1);
	ck_assert_int_eq(oai_read("{\"model\":\"a b\"}", 15, &o, err, sizeof(err)), -1);
	ck_assert_int_eq(oai_read("[1]", 3, &o, err, sizeof(err)), -1);
	ck_assert_int_eq(oai_read("nope", 4, &o, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_flags)
{
	struct oai_body	 o;

	o = read_ok("{\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	ck_assert(o.stream);
	ck_assert(o.include_usage);
	o = read_ok("{\"stream\":false}");
	ck_assert(!o.stream && !o.include_usage);
	/* Sampling unless temperature 0 or a seed; several choices need a seed. */
	ck_assert(!read_ok("{}").deterministic);
	ck_assert(!read_ok("{\"temperature\":0.7}").deterministic);
	ck_assert(read_ok("{\"temperature\":0}").deterministic);
	ck_assert(read_ok("{\"seed\":42,\"temperature\":1}").deterministic);
	ck_assert(!read_ok("{\"temperature\":0,\"n\":2}").deterministic);
	ck_assert(read_ok("{\"temperature\":0,\"n\":1}").deterministic);
	ck_assert(read_ok("{\"seed\":1,\"n\":3}").deterministic);
	ck_assert(!read_ok("{\"seed\":null}").deterministic);
}
END_TEST

static void
set_ok(const char *body, const char *model, const char *want)
{
	struct buf	 out = { NULL, 0, 0 };

	ck_assert_int_eq(oai_set_model(body, strlen(body), model, &out), 0);
	ck_assert_str_eq(out.data, want);
	buf_free(&out);
}

START_TEST(test_set_model)
{
	struct buf	 out = { NULL, 0, 0 };

	set_ok("{\"model\":\"dummy\",\"messages\":[{\"role\":\"user\"}]}", "org/m",
	    "{\"model\":\"org/m\",\"messages\":[{\"role\":\"user\"}]}");
	/* Every other byte as it was, spacing and order included. */
	set_ok("{ \"messages\" : [ {\"model\":\"inner\"} ], \"model\" :  \"http://gw/v1\" , "
	    "\"stream\": true }", "org/m",
	    "{ \"messages\" : [ {\"model\":\"inner\"} ], \"model\" :  \"org/m\" , "
	    "\"stream\": true }");
	set_ok("{\"stream\":true}", "org/m", "{\"model\":\"org/m\",\"stream\":true}");
	set_ok("{}", "org/m", "{\"model\":\"org/m\"}");
	set_ok(" { } ", "org/m", " {\"model\":\"org/m\" } ");
	set_ok("{\"a\":\"x\\\"model\\\"\",\"model\":null}", "b",
	    "{\"a\":\"x\\\"model\\\"\",\"model\":\"b\"}");
	ck_assert_int_eq(oai_set_model("[]", 2, "m", &out), -1);
	ck_assert_int_eq(oai_set_model("{\"a\":\"unterminated", 18, "m", &out), -1);
	buf_free(&out);
}
END_TEST

START_TEST(test_tokens)
{
	static const char a[] = "{\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":7,\"total_tokens\":10}}";

	static const char b[] = "{\"usage\":{\"prompt_tokens\":5}}";
	unsigned long long	 prompt = 99;

	ck_assert_uint_eq(oai_completion_tokens(a, strlen(a), &prompt), 7);
	ck_assert_uint_eq(prompt, 3);
	ck_assert_uint_eq(oai_completion_tokens(b, strlen(b), &prompt), 0);
	ck_assert_uint_eq(prompt, 5);
	ck_assert_uint_eq(oai_completion_tokens("{}", 2, &prompt), 0);
	ck_assert_uint_eq(prompt, 0);
	ck_assert_uint_eq(oai_completion_tokens(NULL, 0, &prompt), 0);
	ck_assert_uint_eq(prompt, 0);
}
END_TEST

START_TEST(test_usage)
{
	static const char chunk[] = "data: {\"id\":\"x\",\"choices\": [ ],\"usage\":"
	    "{\"completion_tokens\":3}}";
	static const char *const not[] = {
		"data: {\"choices\":[{\"index\":0}],\"usage\":null}",
		"data: [DONE]",
		": \"usage\" \"choices\":[]",
		"data: {\"usage\":{},\"choices\":",
	};
	struct buf	 out = { NULL, 0, 0 };
	size_t		 i;

	ck_assert_int_eq(oai_ask_usage("{\"stream\":true}", 15, &out), 1);
	ck_assert_str_eq(out.data,
	    "{\"stream_options\":{\"include_usage\":true},\"stream\":true}");
	/* The client's own stream_options are left alone. */
	buf_reset(&out);
	ck_assert_int_eq(oai_ask_usage("{\"stream_options\":{}}", 21, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(oai_ask_usage("[]", 2, &out), -1);
	buf_free(&out);

	ck_assert(oai_usage_chunk(chunk, strlen(chunk)));
	for (i = 0; i < sizeof(not) / sizeof(not[0]); i++)
		ck_assert_msg(!oai_usage_chunk(not[i], strlen(not[i])), "%s", not[i]);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("oai");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_flags);
	tcase_add_test(tc, test_set_model);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return (s);
}
