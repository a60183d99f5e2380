/* SPDX-License-Identifier: BSD-2-Clause */
/* check_v1.c: unit tests of v1.c (bodies of POST /v1/{task}). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "check_main.h"
#include "task.h"
#include "v1.h"

static struct buf	 out;
static int		 binary;
static char		 err[512];

static void
reset(void)
{
	buf_free(&out);
	memset(&out, 0, sizeof(out));
	binary = -1;
	err[0] = '\0';
}

/* Builds the body for task from len bytes of body; returns v1_build_body's result. */
static int
build_n(const char *task, const char *body, size_t len)
{
	const struct task_info	*t = task_find(task);

	ck_assert_msg(t != NULL, "unknown task %s", task);
	reset();
	return (v1_build_body(t, body, len, &out, &binary, err, sizeof(err)));
}

static int
build(const char *task, const char *body)
{
	return (build_n(task, body, strlen(body)));
}

/* body must give exactly the JSON want. */
static void
json_ok(const char *task, const char *body, const char *want)
{
	ck_assert_msg(build(task, body) == 0, "%s %s: %s", task, body, err);
	ck_assert_int_eq(binary, 0);
	ck_assert_ptr_nonnull(out.data);
	ck_assert_str_eq(out.data, want);
	ck_assert_uint_eq(out.len, strlen(want));
}

/* body (len bytes) must be refused with an error containing what. */
static void
refusedn(const char *task, const char *body, size_t len, const char *what)
{
	ck_assert_msg(build_n(task, body, len) == -1, "%s accepted %s -> %s",
	    task, body, out.data != NULL ? out.data : "");
	ck_assert_msg(strstr(err, what) != NULL, "%s: error '%s' lacks '%s'",
	    task, err, what);
}

static void
refused(const char *task, const char *body, const char *what)
{
	refusedn(task, body, strlen(body), what);
}

/* body must be sent as exactly the raw bytes want. */
static void
raw_ok(const char *task, const char *body, size_t len, const void *want,
    size_t wantlen)
{
	ck_assert_msg(build_n(task, body, len) == 0, "%s: %s", task, err);
	ck_assert_int_eq(binary, 1);
	ck_assert_uint_eq(out.len, wantlen);
	ck_assert_int_eq(memcmp(out.data, want, wantlen), 0);
}

static void
raw_json(const char *task, const char *body, const void *want, size_t wantlen)
{
	raw_ok(task, body, strlen(body), want, wantlen);
}

static void
teardown(void)
{
	buf_free(&out);
}

START_TEST(test_text_json_passthrough)
{
	/* Byte for byte: spacing, key order and a u64 seed cJSON would round. */
	static const char *tg = "{\"inputs\": \"Hi\", \"parameters\": {\"seed\": "
	    "18446744073709551615, \"max_new_tokens\": 20}, \"stream\": true}";
	static const char *tasks[] = { "text-classification", "fill-mask",
	    "summarization", "translation", "token-classification",
	    "text-to-image", "text-to-speech", "feature-extraction",
	    "text-generation" };
	size_t	 i;

	json_ok("text-generation", tg, tg);
	for (i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
		json_ok(tasks[i], "{\"inputs\": \"I like you\", \"options\": "
		    "{\"wait_for_model\": true}}", "{\"inputs\": \"I like you\", "
		    "\"options\": {\"wait_for_model\": true}}");
		json_ok(tasks[i], "  {\"inputs\":[\"a\",\"b\"]}\n",
		    "  {\"inputs\":[\"a\",\"b\"]}\n");
	}
}
END_TEST

START_TEST(test_text_plain)
{
	json_ok("text-classification", "I like you", "{\"inputs\":\"I like you\"}");
	json_ok("summarization", "Line \"one\"\nline\ttwo\n",
	    "{\"inputs\":\"Line \\\"one\\\"\\nline\\ttwo\\n\"}");
	/* UTF-8 kept as is. */
	json_ok("fill-mask", "h\xc3\xa9llo \xf0\x9f\x98\x80 <mask>",
	    "{\"inputs\":\"h\xc3\xa9llo \xf0\x9f\x98\x80 <mask>\"}");
	/* Prompts may start with '[': not JSON, so text. */
	json_ok("text-generation", "[INST] hi [/INST]",
	    "{\"inputs\":\"[INST] hi [/INST]\"}");
	/* Scalars are text too; a JSON string or list is the inputs. */
	json_ok("translation", "42", "{\"inputs\":\"42\"}");
	json_ok("translation", "\"Hello world\"", "{\"inputs\":\"Hello world\"}");
	json_ok("feature-extraction", "[\"a\", \"b\"]", "{\"inputs\":[\"a\",\"b\"]}");
}
END_TEST

START_TEST(test_text_errors)
{
	refused("text-classification", "", "empty body");
	refused("text-classification", "\xff\xfe bad", "neither JSON nor UTF-8");
	refused("text-classification", "over\xc0\xaflong", "neither JSON nor UTF-8");
	refusedn("text-classification", "a\0b", 3, "neither JSON nor UTF-8");
	refused("text-classification", "{\"inputs\": \"x\"", "invalid JSON");
	refused("text-classification", "{\"text\": \"x\"}", "missing");
	refused("summarization", "{\"inputs\": null}", "{\"inputs\": ...}");
}
END_TEST

START_TEST(test_question_answering)
{
	static const char *top = "{\"question\": \"What is the meaning of life?\", "
	    "\"context\": \"42\"}";

	json_ok("question-answering", top, top);
	json_ok("question-answering",
	    "{\"inputs\": {\"question\": \"Q?\", \"context\": \"C\"}, "
	    "\"parameters\": {\"top_k\": 2}}",
	    "{\"parameters\":{\"top_k\":2},\"question\":\"Q?\",\"context\":\"C\"}");
	refused("question-answering", "{\"question\": \"Q?\"}", "\"context\"");
	refused("question-answering", "{\"inputs\": {\"context\": \"C\"}}",
	    "\"question\"");
	refused("question-answering", "{\"question\": 1, \"context\": \"C\"}",
	    "\"question\"");
	refused("question-answering", "{\"question\": \"a\", \"inputs\": "
	    "{\"question\": \"b\", \"context\": \"C\"}}", "both in");
	refused("question-answering", "What?", "needs a JSON object");
}
END_TEST

START_TEST(test_table_question_answering)
{
	static const char *top = "{\"query\": \"How many stars?\", \"table\": "
	    "{\"Repository\": [\"Transformers\"], \"Stars\": [\"36542\"]}}";

	json_ok("table-question-answering", top, top);
	json_ok("table-question-answering",
	    "{\"inputs\": {\"query\": \"q\", \"table\": {\"a\": [\"1\"]}}}",
	    "{\"query\":\"q\",\"table\":{\"a\":[\"1\"]}}");
	refused("table-question-answering", "{\"query\": \"q\"}", "table");
	refused("table-question-answering", "{\"query\": \"q\", \"table\": [1]}",
	    "table");
}
END_TEST

START_TEST(test_tabular)
{
	static const char *tasks[] = { "tabular-classification", "tabular-regression" };
	size_t	 i;

	for (i = 0; i < 2; i++) {
		/* Every accepted shape goes upstream as {"inputs": {"data": ...}}. */
		json_ok(tasks[i], "{\"table\": {\"x\": [\"1\", \"2\"]}}",
		    "{\"inputs\":{\"data\":{\"x\":[\"1\",\"2\"]}}}");
		json_ok(tasks[i], "{\"data\": {\"x\": [\"1\"]}}",
		    "{\"inputs\":{\"data\":{\"x\":[\"1\"]}}}");
		json_ok(tasks[i], "{\"inputs\": {\"data\": {\"x\": [\"1\"]}}, "
		    "\"options\": {}}",
		    "{\"options\":{},\"inputs\":{\"data\":{\"x\":[\"1\"]}}}");
		json_ok(tasks[i], "{\"inputs\": {\"table\": {\"x\": [\"1\"]}}}",
		    "{\"inputs\":{\"data\":{\"x\":[\"1\"]}}}");
		refused(tasks[i], "{\"rows\": []}", "{\"inputs\": {\"data\": {...}}}");
		refused(tasks[i], "1,2,3", "needs a JSON object");
	}
}
END_TEST

START_TEST(test_image_question_answering)
{
	static const char *tasks[] = { "visual-question-answering",
	    "document-question-answering" };
	size_t	 i;

	for (i = 0; i < 2; i++) {
		/* Standard padded base64, as v0.18 sends: unchanged. */
		json_ok(tasks[i], "{\"question\": \"Who?\", \"image\": "
		    "\"iVBORw0KGgoA/w==\"}", "{\"question\": \"Who?\", \"image\": "
		    "\"iVBORw0KGgoA/w==\"}");
		/* URL-safe, unpadded, data: URI: rewritten as standard. */
		json_ok(tasks[i], "{\"question\": \"Who?\", \"image\": "
		    "\"iVBORw0KGgoA_w\"}", "{\"question\":\"Who?\",\"image\":"
		    "\"iVBORw0KGgoA/w==\"}");
		json_ok(tasks[i], "{\"inputs\": {\"question\": \"Who?\", \"image\": "
		    "\"data:image/png;base64,iVBORw0KGgoA/w==\"}}",
		    "{\"question\":\"Who?\",\"image\":\"iVBORw0KGgoA/w==\"}");
		refused(tasks[i], "{\"question\": \"Who?\", \"image\": \"iVBOR*\"}",
		    "invalid base64 character");
		refused(tasks[i], "{\"question\": \"Who?\", \"image\": 5}",
		    "must be a base64 string");
		refused(tasks[i], "{\"question\": \"Who?\"}", "image");
		refused(tasks[i], "{\"image\": \"iVBORw0KGgoA/w==\"}", "question");
	}
}
END_TEST

START_TEST(test_zero_shot_classification)
{
	static const char *api = "{\"inputs\": \"A new model\", \"parameters\": "
	    "{\"candidate_labels\": \"space & cosmos,robots\", \"multi_label\": true}}";

	json_ok("zero-shot-classification", api, api);
	/* List in parameters. */
	json_ok("zero-shot-classification", "{\"inputs\": \"t\", \"parameters\": "
	    "{\"candidate_labels\": [\"a b\", \"c\"], \"multi_label\": false}}",
	    "{\"inputs\":\"t\",\"parameters\":{\"multi_label\":false,"
	    "\"candidate_labels\":\"a b,c\"}}");
	/* Top level, comma string and list; multi_label follows. */
	json_ok("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": \"x,y\", \"multi_label\": true}",
	    "{\"inputs\":\"t\",\"parameters\":{\"candidate_labels\":\"x,y\","
	    "\"multi_label\":true}}");
	json_ok("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": [\"x\", \"y\", \"z\"], \"options\": {}}",
	    "{\"inputs\":\"t\",\"options\":{},\"parameters\":"
	    "{\"candidate_labels\":\"x,y,z\"}}");
	/* parameters wins over the top level. */
	json_ok("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": \"top\", \"parameters\": "
	    "{\"candidate_labels\": [\"p\"]}}",
	    "{\"inputs\":\"t\",\"parameters\":{\"candidate_labels\":\"p\"}}");

	refused("zero-shot-classification", "{\"inputs\": \"t\"}",
	    "needs candidate_labels");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": []}", "candidate_labels is empty");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": \" , \"}", "candidate_labels is empty");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": [\"a,b\"]}", "contains a comma");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": [\"a\", 2]}", "non-empty strings");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"candidate_labels\": 7}", "a list of strings");
	refused("zero-shot-classification", "{\"inputs\": \"t\", "
	    "\"parameters\": 3, \"candidate_labels\": \"a\"}",
	    "\"parameters\" must be an object");
	refused("zero-shot-classification", "{\"candidate_labels\": \"a\"}",
	    "zero-shot-classification");
	refused("zero-shot-classification", "some text", "needs a JSON object");
}
END_TEST

START_TEST(test_zero_shot_image_classification)
{
	static const char *api = "{\"image\": \"iVBORw0KGgoA/w==\", \"parameters\": "
	    "{\"candidate_labels\": \"tree,woman,cat\"}}";

	json_ok("zero-shot-image-classification", api, api);
	json_ok("zero-shot-image-classification", "{\"image\": "
	    "\"iVBORw0KGgoA_w==\", \"candidate_labels\": [\"tree\", \"cat\"]}",
	    "{\"image\":\"iVBORw0KGgoA/w==\",\"parameters\":"
	    "{\"candidate_labels\":\"tree,cat\"}}");
	/* {"inputs": b64} names the image. */
	json_ok("zero-shot-image-classification", "{\"inputs\": "
	    "\"iVBORw0KGgoA/w==\", \"parameters\": {\"candidate_labels\": \"a,b\"}}",
	    "{\"parameters\":{\"candidate_labels\":\"a,b\"},\"image\":"
	    "\"iVBORw0KGgoA/w==\"}");
	refused("zero-shot-image-classification",
	    "{\"image\": \"iVBORw0KGgoA/w==\"}", "needs candidate_labels");
	refused("zero-shot-image-classification",
	    "{\"candidate_labels\": \"a\"}", "image");
	refused("zero-shot-image-classification",
	    "{\"image\": \"iVBORw0KGgoA/w=\", \"candidate_labels\": \"a\"}",
	    "bad base64 padding");
}
END_TEST

START_TEST(test_sentence_similarity)
{
	static const char *api = "{\"inputs\": {\"source_sentence\": \"A\", "
	    "\"sentences\": [\"B\", \"C\"]}}";

	json_ok("sentence-similarity", api, api);
	json_ok("sentence-similarity", "{\"source_sentence\": \"A\", "
	    "\"sentences\": [\"B\"], \"options\": {\"use_cache\": false}}",
	    "{\"options\":{\"use_cache\":false},\"inputs\":{\"source_sentence\":"
	    "\"A\",\"sentences\":[\"B\"]}}");
	refused("sentence-similarity", "{\"source_sentence\": \"A\"}",
	    "\"sentences\": [...]");
	refused("sentence-similarity", "{\"inputs\": \"A\"}", "source_sentence");
	refused("sentence-similarity", "A", "needs a JSON object");
}
END_TEST

START_TEST(test_conversational)
{
	static const char *api = "{\"inputs\": {\"text\": \"Wow, that's scary!\", "
	    "\"generated_responses\": [\"I am the one who knocks.\"], "
	    "\"past_user_inputs\": [\"Hi, who are you?\"]}}";

	json_ok("conversational", api, api);
	json_ok("conversational", "{\"text\": \"Hi\", \"past_user_inputs\": [], "
	    "\"parameters\": {\"max_length\": 9}}",
	    "{\"parameters\":{\"max_length\":9},\"inputs\":{\"text\":\"Hi\","
	    "\"past_user_inputs\":[]}}");
	json_ok("conversational", "{\"inputs\": \"Hi\"}",
	    "{\"inputs\":{\"text\":\"Hi\"}}");
	json_ok("conversational", "Hi there", "{\"inputs\":{\"text\":\"Hi there\"}}");
	json_ok("conversational", "\"Hi\"", "{\"inputs\":{\"text\":\"Hi\"}}");
	refused("conversational", "{\"inputs\": {\"past_user_inputs\": []}}",
	    "\"text\"");
	refused("conversational", "[\"Hi\"]", "needs a JSON object");
}
END_TEST

START_TEST(test_binary_raw)
{
	static const char png[] = "\x89PNG\r\n\x1a\n\0\xff";
	/* Starts like JSON but is not: still a file. */
	static const char brace[] = "{\x01\x02 not json";
	static const char *tasks[] = { "audio-classification",
	    "automatic-speech-recognition", "image-classification",
	    "image-segmentation", "image-to-text", "object-detection",
	    "image-to-image" };
	size_t	 i;

	for (i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
		raw_ok(tasks[i], png, sizeof(png) - 1, png, sizeof(png) - 1);
		raw_ok(tasks[i], brace, sizeof(brace) - 1, brace, sizeof(brace) - 1);
		refused(tasks[i], "", "empty body");
	}
}
END_TEST

START_TEST(test_binary_base64)
{
	static const unsigned char png[] = { 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a,
	    0x1a, 0x0a, 0x00, 0xff };
	static const unsigned char b1[] = { 0xfb, 0xff, 0xbf, 0x00, 0x01, 0xfe };
	static const unsigned char b2[] = { 0xfb, 0xef, 0xff, 0x3e };
	static const char *const bodies[] = {
		"{\"inputs\": \"iVBORw0KGgoA/w==\"}",	/* standard, padded */
		"{\"inputs\": \"iVBORw0KGgoA/w\"}",	/* unpadded */
		"{\"image\": \"iVBORw0KGgoA_w==\"}",	/* URL-safe */
		"{\"image\": \"iVBORw0KGgoA_w\"}",	/* URL-safe unpadded */
		"{\"audio\": \"data:audio/flac;base64,iVBORw0KGgoA/w==\"}",
		"{\"inputs\": \"DATA:image/png;BASE64,iVBORw0KGgoA_w\", "
		    "\"options\": {\"wait_for_model\": true}}",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		raw_ok("image-classification", bodies[i], strlen(bodies[i]),
		    png, sizeof(png));
	raw_json("automatic-speech-recognition", "{\"inputs\": \"+/+/AAH+\"}",
	    b1, sizeof(b1));
	raw_json("audio-classification", "{\"inputs\": \"-_-_AAH-\"}",
	    b1, sizeof(b1));
	raw_json("object-detection", "{\"image\": \"++//Pg==\"}", b2, sizeof(b2));
	raw_json("object-detection", "{\"image\": \"--__Pg\"}", b2, sizeof(b2));
	raw_json("image-to-text", "{\"inputs\": \"Zm9vYmFy\"}", "foobar", 6);
	raw_json("image-to-text", "{\"inputs\": \"Zm9vYg\"}", "foob", 4);
	raw_json("image-to-text", "{\"inputs\": \"Zm9vYmE=\"}", "fooba", 5);
}
END_TEST

START_TEST(test_binary_base64_invalid)
{
	static const struct { const char *body, *why; } cases[] = {
		{ "{\"inputs\": \"\"}", "empty base64" },
		{ "{\"inputs\": \"Zm9v YmFy\"}", "invalid base64 character" },
		{ "{\"inputs\": \"Zm9v\\nYmFy\"}", "invalid base64 character" },
		{ "{\"inputs\": \"Zm9v*mFy\"}", "invalid base64 character" },
		{ "{\"inputs\": \"Zm=vYmFy\"}", "invalid base64 character" },
		{ "{\"inputs\": \"+/-_\"}", "mixes the standard and URL-safe" },
		{ "{\"inputs\": \"Zm9vYg=\"}", "bad base64 padding" },
		{ "{\"inputs\": \"Zm9vY===\"}", "bad base64 padding" },
		{ "{\"inputs\": \"Zm9vY\"}", "truncated base64" },
		{ "{\"inputs\": \"Zm9vYh==\"}", "non-canonical base64" },
		{ "{\"inputs\": \"data:image/png,iVBORw0KGgo=\"}", "data: URI must be base64" },
		{ "{\"inputs\": \"data:;base64,\"}", "empty base64" },
		{ "{\"inputs\": 12}", "must be a base64 string" },
		{ "{\"picture\": \"Zm9v\"}", "takes the raw file as the body" },
		{ "[\"Zm9v\"]", "takes the raw file as the body" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused("image-classification", cases[i].body, cases[i].why);
}
END_TEST

START_TEST(test_image_to_image)
{
	static const unsigned char png[] = { 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a,
	    0x1a, 0x0a, 0x00, 0xff };

	/* No parameters: raw bytes, as v0.18 sends. */
	raw_json("image-to-image", "{\"image\": \"iVBORw0KGgoA_w\"}", png,
	    sizeof(png));
	raw_json("image-to-image", "{\"inputs\": \"iVBORw0KGgoA/w==\", "
	    "\"parameters\": null}", png, sizeof(png));
	/* Parameters: {"inputs": standard b64, "parameters": ...}. */
	json_ok("image-to-image", "{\"image\": \"iVBORw0KGgoA_w\", "
	    "\"parameters\": {\"prompt\": \"cat\", \"num_inference_steps\": 5}}",
	    "{\"parameters\":{\"prompt\":\"cat\",\"num_inference_steps\":5},"
	    "\"inputs\":\"iVBORw0KGgoA/w==\"}");
	json_ok("image-to-image", "{\"inputs\": \"data:image/png;base64,"
	    "iVBORw0KGgoA/w==\", \"parameters\": {\"prompt\": \"cat\"}}",
	    "{\"parameters\":{\"prompt\":\"cat\"},\"inputs\":\"iVBORw0KGgoA/w==\"}");
	refused("image-to-image", "{\"inputs\": \"!!\", \"parameters\": {}}",
	    "invalid base64 character");
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("v1");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_text_json_passthrough);
	tcase_add_test(tc, test_text_plain);
	tcase_add_test(tc, test_text_errors);
	tcase_add_test(tc, test_question_answering);
	tcase_add_test(tc, test_table_question_answering);
	tcase_add_test(tc, test_tabular);
	tcase_add_test(tc, test_image_question_answering);
	tcase_add_test(tc, test_zero_shot_classification);
	tcase_add_test(tc, test_zero_shot_image_classification);
	tcase_add_test(tc, test_sentence_similarity);
	tcase_add_test(tc, test_conversational);
	tcase_add_test(tc, test_binary_raw);
	tcase_add_test(tc, test_binary_base64);
	tcase_add_test(tc, test_binary_base64_invalid);
	tcase_add_test(tc, test_image_to_image);
	suite_add_tcase(s, tc);
	return (s);
}
