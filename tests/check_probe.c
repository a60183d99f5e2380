/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for probe.c: which answers say TGI, which an OpenAI server. */
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "probe.h"

static int
tgi(const char *body)
{
	return (probe_is_tgi_info(body, strlen(body)));
}

static int
openai(const char *body)
{
	return (probe_is_openai_models(body, strlen(body)));
}

START_TEST(test_tgi_info)
{
	/* TGI 1.1.1's GET /info (tests/fake_upstream.c, endpoint_info). */
	ck_assert_int_eq(tgi("{\"model_id\":\"acme/llm\",\"model_sha\":null,"
	    "\"model_dtype\":\"torch.float16\",\"model_device_type\":\"cuda\","
	    "\"model_pipeline_tag\":\"text-generation\",\"max_concurrent_requests\":128,"
	    "\"max_best_of\":2,\"max_stop_sequences\":4,\"max_input_length\":1024,"
	    "\"max_total_tokens\":2048,\"waiting_served_ratio\":1.2,"
	    "\"max_batch_total_tokens\":32000,\"max_waiting_tokens\":20,"
	    "\"validation_workers\":2,\"version\":\"1.1.1\",\"sha\":null,"
	    "\"docker_label\":null}"), 1);
	/* TGI 2.x: max_input_tokens, max_client_batch_size, router. */
	ck_assert_int_eq(tgi("{\"model_id\":\"meta-llama/Llama-3.1-8B-Instruct\","
	    "\"model_sha\":\"0e9e39f\",\"model_pipeline_tag\":\"text-generation\","
	    "\"max_concurrent_requests\":128,\"max_input_tokens\":4095,"
	    "\"max_total_tokens\":4096,\"max_client_batch_size\":4,"
	    "\"router\":\"text-generation-router\",\"version\":\"2.4.0\","
	    "\"sha\":null,\"docker_label\":null}"), 1);
	/* Either field will do. */
	ck_assert_int_eq(tgi("{\"model_id\":\"m\",\"version\":\"3.0.0\"}"), 1);
	ck_assert_int_eq(tgi("{\"model_id\":\"m\",\"max_total_tokens\":8}"), 1);
}
END_TEST

START_TEST(test_not_tgi_info)
{
	/* What vLLM and SGLang answer a path they lack. */
	ck_assert_int_eq(tgi("{\"detail\":\"Not Found\"}"), 0);
	ck_assert_int_eq(tgi("{\"object\":\"list\",\"data\":[]}"), 0);
	/* A model id alone is not TGI's info, nor are fields of the wrong kind. */
	ck_assert_int_eq(tgi("{\"model_id\":\"m\"}"), 0);
	ck_assert_int_eq(tgi("{\"model_id\":\"m\",\"version\":\"\"}"), 0);
	ck_assert_int_eq(tgi("{\"model_id\":7,\"max_total_tokens\":8}"), 0);
	ck_assert_int_eq(tgi("{\"model_id\":\"m\",\"max_total_tokens\":\"8\"}"), 0);
	ck_assert_int_eq(tgi("[{\"model_id\":\"m\",\"version\":\"1\"}]"), 0);
	ck_assert_int_eq(tgi("<html>Not Found</html>"), 0);
	ck_assert_int_eq(tgi(""), 0);
	ck_assert_int_eq(probe_is_tgi_info(NULL, 0), 0);
	/* A body cut short. */
	ck_assert_int_eq(probe_is_tgi_info("{\"model_id\":\"m\",\"version\":\"1\"}", 20), 0);
}
END_TEST

START_TEST(test_openai_models)
{
	/* vLLM's GET /v1/models. */
	ck_assert_int_eq(openai("{\"object\":\"list\",\"data\":[{\"id\":\"acme/llm\","
	    "\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"vllm\","
	    "\"root\":\"acme/llm\",\"parent\":null,\"max_model_len\":4096}]}"), 1);
	/* SGLang's, and a server that lists no model (yet). */
	ck_assert_int_eq(openai("{\"object\":\"list\",\"data\":[{\"id\":\"qwen\","
	    "\"object\":\"model\",\"created\":1,\"owned_by\":\"sglang\",\"root\":\"qwen\"}]}"),
	    1);
	ck_assert_int_eq(openai("{\"data\":[],\"object\":\"list\"}"), 1);
}
END_TEST

START_TEST(test_not_openai_models)
{
	/* TGI 2.x's /v1/models: one model object, no list. */
	ck_assert_int_eq(openai("{\"id\":\"m\",\"object\":\"model\",\"created\":1,"
	    "\"owned_by\":\"m\"}"), 0);
	ck_assert_int_eq(openai("{\"object\":\"list\"}"), 0);
	ck_assert_int_eq(openai("{\"object\":\"list\",\"data\":{}}"), 0);
	ck_assert_int_eq(openai("{\"object\":\"model\",\"data\":[]}"), 0);
	ck_assert_int_eq(openai("{\"error\":{\"message\":\"Not Found\"}}"), 0);
	ck_assert_int_eq(openai("[]"), 0);
	ck_assert_int_eq(openai("not json"), 0);
	ck_assert_int_eq(probe_is_openai_models(NULL, 0), 0);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("probe");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_tgi_info);
	tcase_add_test(tc, test_not_tgi_info);
	tcase_add_test(tc, test_openai_models);
	tcase_add_test(tc, test_not_openai_models);
	suite_add_tcase(s, tc);
	return (s);
}
