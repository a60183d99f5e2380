/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for embed.c: OpenAI embeddings to feature-extraction and back. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "buf.h"
#include "check_main.h"
#include "embed.h"

static void
request_is(const char *body, const char *want)
{
	struct buf	 out = { NULL, 0, 0 };
	char		 err[256] = "";

	ck_assert_msg(embed_request(body, strlen(body), &out, err, sizeof(err)) == 0,
	    "%s: %s", body, err);
	ck_assert_str_eq(out.data, want);
	buf_free(&out);
}

static void
request_fails(const char *body, const char *why)
{
	struct buf	 out = { NULL, 0, 0 };
	char		 err[256] = "";

	ck_assert_int_eq(embed_request(body, strlen(body), &out, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, why) != NULL, "%s: '%s' lacks '%s'", body, err, why);
	buf_free(&out);
}

static void
answer_is(const char *body, const char *answer, const char *want)
{
	struct buf	 out = { NULL, 0, 0 };

	ck_assert_msg(embed_answer(body, strlen(body), "org/emb", answer, strlen(answer),
	    &out) == 0, "%s / %s", body, answer);
	ck_assert_str_eq(out.data, want);
	buf_free(&out);
}

static void
answer_fails(const char *body, const char *answer)
{
	struct buf	 out = { NULL, 0, 0 };

	ck_assert_int_eq(embed_answer(body, strlen(body), "org/emb", answer,
	    strlen(answer), &out), -1);
	buf_free(&out);
}

START_TEST(test_request)
{
	/* Always a list, so that the answer is a list of vectors. */
	request_is("{\"model\":\"m\",\"input\":\"hi\"}", "{\"inputs\":[\"hi\"]}");
	request_is("{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\"}",
	    "{\"inputs\":[\"a\",\"b\"]}");
	request_is("{\"input\":\"x\",\"encoding_format\":null,\"user\":\"u\"}",
	    "{\"inputs\":[\"x\"]}");
	request_fails("{\"input\":[[1,2]]}", "token ids");
	request_fails("{\"input\":[\"a\",3]}", "token ids");
	request_fails("{\"input\":[]}", "non-empty list");
	request_fails("{\"model\":\"m\"}", "input");
	request_fails("{\"input\":\"x\",\"dimensions\":8}", "dimensions");
	request_fails("{\"input\":\"x\",\"encoding_format\":\"int8\"}", "encoding_format");
	request_fails("[1]", "not a JSON object");
	request_fails("{", "not a JSON object");
}
END_TEST

#define LIST(data) "{\"object\":\"list\",\"data\":[" data "],\"model\":\"org/emb\"," \
	"\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}"
#define EMB(i, v) "{\"object\":\"embedding\",\"index\":" #i ",\"embedding\":" v "}"

START_TEST(test_answer)
{
	answer_is("{\"input\":[\"a\",\"b\"]}", "[[1,0.5],[0,-2]]",
	    LIST(EMB(0, "[1,0.5]") "," EMB(1, "[0,-2]")));
	/* One input: its vector in a list, or bare. */
	answer_is("{\"input\":\"a\"}", "[[1,2]]", LIST(EMB(0, "[1,2]")));
	answer_is("{\"input\":\"a\"}", "[1,2]", LIST(EMB(0, "[1,2]")));
	/* Token vectors are averaged. */
	answer_is("{\"input\":[\"a\"]}", "[[[1,2],[3,4]]]", LIST(EMB(0, "[2,3]")));
	/* 1.0 and -2.0 as little-endian float32: 00 00 80 3f, 00 00 00 c0. */
	answer_is("{\"input\":\"a\",\"encoding_format\":\"base64\"}", "[[1,-2]]",
	    LIST(EMB(0, "\"AACAPwAAAMA=\"")));
	/* As many vectors as inputs, of numbers, of one size per text. */
	answer_fails("{\"input\":[\"a\",\"b\"]}", "[[1,2]]");
	answer_fails("{\"input\":\"a\"}", "[[1,2],[3,4]]");
	answer_fails("{\"input\":\"a\"}", "[[\"x\"]]");
	answer_fails("{\"input\":\"a\"}", "[[[1,2],[3]]]");
	answer_fails("{\"input\":\"a\"}", "{\"error\":\"loading\"}");
	answer_fails("{\"input\":\"a\"}", "[]");
	answer_fails("{\"input\":\"a\"}", "not json");
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("embed");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_request);
	tcase_add_test(tc, test_answer);
	suite_add_tcase(s, tc);
	return (s);
}
