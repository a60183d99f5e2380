/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for bridge.c: 2023 bodies to the OpenAI API, its answers and streams back. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "bridge.h"
#include "buf.h"
#include "check_main.h"

static const struct bridge_how	 gen = { BRIDGE_GENERATE, 0, 0, 0 };
static const struct bridge_how	 chat = { BRIDGE_CHAT, 0, 0, 0 };

/* huggingface_hub 0.18's text_generation body, as it sends it. */
#define V018(params, stream) "{\"inputs\": \"test\", \"parameters\": {" params "}, " \
	"\"stream\": " stream "}"
#define V018_DEFAULTS "\"do_sample\": false, \"max_new_tokens\": 20, " \
	"\"repetition_penalty\": null, \"return_full_text\": false, \"stop\": [], " \
	"\"seed\": null, \"temperature\": null, \"top_k\": null, \"top_p\": null, " \
	"\"truncate\": null, \"typical_p\": null, \"best_of\": null, \"watermark\": false"

static void
request_is(const struct bridge_how *how, const char *body, const char *want)
{
	struct buf	 out = { NULL, 0, 0 };
	char		 err[256] = "";

	ck_assert_msg(bridge_request(how, "org/llm", body, strlen(body), &out, err,
	    sizeof(err)) == 0, "%s: %s", body, err);
	ck_assert_str_eq(out.data, want);
	buf_free(&out);
}

static void
request_fails(const struct bridge_how *how, const char *body, const char *why)
{
	struct buf	 out = { NULL, 0, 0 };
	char		 err[256] = "";

	ck_assert_int_eq(bridge_request(how, "org/llm", body, strlen(body), &out, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, why) != NULL, "%s: %s", body, err);
	buf_free(&out);
}

static void
answer_is(const struct bridge_how *how, const char *body, const char *answer,
    const char *want)
{
	struct buf	 out = { NULL, 0, 0 };

	ck_assert_int_eq(bridge_answer(how, body, strlen(body), answer, strlen(answer),
	    &out), 0);
	ck_assert_str_eq(out.data, want);
	buf_free(&out);
}

START_TEST(test_kind_of)
{
	ck_assert_int_eq(bridge_kind_of("{\"inputs\": \"hi\"}", 16), BRIDGE_GENERATE);
	ck_assert_int_eq(bridge_kind_of("{\"inputs\": {\"text\": \"hi\"}}", 26),
	    BRIDGE_CHAT);
	ck_assert_int_eq(bridge_kind_of("{\"inputs\": [\"a\"]}", 17), BRIDGE_NONE);
	ck_assert_int_eq(bridge_kind_of("{\"inputs\": {\"x\": 1}}", 20), BRIDGE_NONE);
	ck_assert_int_eq(bridge_kind_of("plain text", 10), BRIDGE_NONE);
	ck_assert_int_eq(bridge_kind_of(NULL, 0), BRIDGE_NONE);
}
END_TEST

START_TEST(test_generate_request)
{
	const struct bridge_how	 forced = { BRIDGE_GENERATE, 0, 0, 1 };

	/* Greedy, as TGI without do_sample: temperature 0. The TGI-only keys go. */
	request_is(&gen, V018(V018_DEFAULTS ", \"details\": true", "false"),
	    "{\"model\":\"org/llm\",\"prompt\":\"test\",\"max_tokens\":20,"
	    "\"temperature\":0}");
	/* Every knob huggingface_hub has. */
	request_is(&gen, "{\"inputs\": \"test\", \"parameters\": {\"do_sample\": true, "
	    "\"max_new_tokens\": 5, \"repetition_penalty\": 1.2, \"return_full_text\": true, "
	    "\"stop\": [\"\\n\"], \"seed\": 42, \"temperature\": 0.7, \"top_k\": 10, "
	    "\"top_p\": 0.9, \"truncate\": 100, \"typical_p\": 0.5, \"best_of\": null, "
	    "\"watermark\": true, \"details\": false}, \"stream\": false}",
	    "{\"model\":\"org/llm\",\"prompt\":\"test\",\"max_tokens\":5,"
	    "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":10,\"repetition_penalty\":1.2,"
	    "\"stop\":[\"\\n\"],\"seed\":42}");
	/* Sampling without a temperature: the upstream's own. */
	request_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"do_sample\":true}}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\"}");
	request_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"top_k\":5}}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\",\"top_k\":5}");
	/* A u64 seed as written; stop_sequences and a single stop string. */
	request_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"seed\": 6270333398812658761 ,"
	    "\"stop_sequences\":[\"a\",\"b\"]}}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\",\"temperature\":0,"
	    "\"stop\":[\"a\",\"b\"],\"seed\":6270333398812658761}");
	request_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"stop\":\"END\"}}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\",\"temperature\":0,\"stop\":\"END\"}");
	/* Streams ask for the usage chunk; /generate_stream streams whatever the body. */
	request_is(&gen, "{\"inputs\":\"x\",\"stream\":true}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\",\"temperature\":0,\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true}}");
	request_is(&forced, "{\"inputs\":\"x\"}",
	    "{\"model\":\"org/llm\",\"prompt\":\"x\",\"temperature\":0,\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true}}");
	/* Unicode escapes decoded, re-escaped by cJSON. */
	request_is(&gen, "{\"inputs\":\"h\\u00e9 \\\"q\\\"\"}",
	    "{\"model\":\"org/llm\",\"prompt\":\"h\xc3\xa9 \\\"q\\\"\",\"temperature\":0}");
	request_fails(&gen, "{\"inputs\":[\"a\",\"b\"]}", "inputs");
	request_fails(&gen, "not json", "JSON object");
	request_fails(&gen, "[1]", "JSON object");
}
END_TEST

START_TEST(test_chat_request)
{
	/* huggingface_hub 0.18's conversational body: the turns alternate, the new
	   text last; max_length is the only length it has. */
	request_is(&chat, "{\"inputs\": {\"text\": \"Hi\", \"generated_responses\": [\"a\"], "
	    "\"past_user_inputs\": [\"b\"]}, \"parameters\": {\"max_length\": 50}}",
	    "{\"model\":\"org/llm\",\"messages\":[{\"role\":\"user\",\"content\":\"b\"},"
	    "{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":"
	    "\"Hi\"}],\"max_tokens\":50,\"temperature\":0}");
	request_is(&chat, "{\"inputs\":{\"text\":\"3\",\"past_user_inputs\":[\"1\",\"2\"],"
	    "\"generated_responses\":[\"r1\",\"r2\"]},\"parameters\":{\"max_length\":9,"
	    "\"max_new_tokens\":4,\"temperature\":0.5,\"top_p\":0.8}}",
	    "{\"model\":\"org/llm\",\"messages\":[{\"role\":\"user\",\"content\":\"1\"},"
	    "{\"role\":\"assistant\",\"content\":\"r1\"},{\"role\":\"user\",\"content\":"
	    "\"2\"},{\"role\":\"assistant\",\"content\":\"r2\"},{\"role\":\"user\","
	    "\"content\":\"3\"}],\"max_tokens\":4,\"temperature\":0.5,\"top_p\":0.8}");
	/* No history; a stream asked of a conversation is not one. */
	request_is(&chat, "{\"inputs\":{\"text\":\"yo\",\"past_user_inputs\":null},"
	    "\"stream\":true}",
	    "{\"model\":\"org/llm\",\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}],"
	    "\"temperature\":0}");
	request_fails(&chat, "{\"inputs\":{\"text\":\"x\",\"past_user_inputs\":[1]}}",
	    "past_user_inputs");
	request_fails(&chat, "{\"inputs\":{\"text\":\"x\",\"generated_responses\":\"a\"}}",
	    "generated_responses");
	request_fails(&chat, "{\"inputs\":\"x\"}", "inputs.text");
}
END_TEST

#define COMPLETION(text, finish, extra) "{\"id\":\"cmpl-1\",\"object\":" \
	"\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"" text "\"," \
	"\"logprobs\":null,\"finish_reason\":\"" finish "\"" extra "}],\"usage\":" \
	"{\"prompt_tokens\":1,\"completion_tokens\":3,\"total_tokens\":4}}"

START_TEST(test_generate_answer)
{
	const struct bridge_how	 plain = { BRIDGE_GENERATE, 1, 0, 0 };
	const struct bridge_how	 compat = { BRIDGE_GENERATE, 0, 1, 0 };

	answer_is(&gen, V018(V018_DEFAULTS ", \"details\": false", "false"),
	    COMPLETION("echo: test", "stop", ""), "[{\"generated_text\":\"echo: test\"}]");
	/* details: finish_reason in TGI's words, the usage's tokens, the seed. */
	answer_is(&gen, V018(V018_DEFAULTS ", \"details\": true", "false"),
	    COMPLETION(" a b c", "length", ""),
	    "[{\"generated_text\":\" a b c\",\"details\":{\"finish_reason\":\"length\","
	    "\"generated_tokens\":3,\"seed\":null,\"prefill\":[],\"tokens\":[]}}]");
	answer_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"details\":true,"
	    "\"seed\":18446744073709551615}}", COMPLETION("y", "stop", ""),
	    "[{\"generated_text\":\"y\",\"details\":{\"finish_reason\":\"eos_token\","
	    "\"generated_tokens\":3,\"seed\":18446744073709551615,\"prefill\":[],"
	    "\"tokens\":[]}}]");
	answer_is(&gen, "{\"inputs\":\"x\",\"parameters\":{\"details\":true}}",
	    COMPLETION("y", "stop", ",\"stop_reason\":\"END\""),
	    "[{\"generated_text\":\"y\",\"details\":{\"finish_reason\":\"stop_sequence\","
	    "\"generated_tokens\":3,\"seed\":null,\"prefill\":[],\"tokens\":[]}}]");
	/* return_full_text: the body's, else the route's default; /generate: one object. */
	answer_is(&gen, "{\"inputs\":\"Once\",\"parameters\":{\"return_full_text\":true}}",
	    COMPLETION(" upon", "stop", ""), "[{\"generated_text\":\"Once upon\"}]");
	answer_is(&compat, "{\"inputs\":\"Once\"}", COMPLETION(" upon", "stop", ""),
	    "[{\"generated_text\":\"Once upon\"}]");
	answer_is(&compat, "{\"inputs\":\"Once\",\"parameters\":{\"return_full_text\":false}}",
	    COMPLETION(" upon", "stop", ""), "[{\"generated_text\":\" upon\"}]");
	answer_is(&plain, "{\"inputs\":\"Once\"}", COMPLETION(" upon", "stop", ""),
	    "{\"generated_text\":\" upon\"}");
}
END_TEST

START_TEST(test_chat_answer)
{
	struct buf	 out = { NULL, 0, 0 };
	const char	*body = "{\"inputs\": {\"text\": \"Hi\", \"generated_responses\": "
			    "[\"a\"], \"past_user_inputs\": [\"b\"]}}";

	answer_is(&chat, body, "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"echo: Hi\"},"
	    "\"finish_reason\":\"stop\"}]}",
	    "{\"generated_text\":\"echo: Hi\",\"conversation\":{\"generated_responses\":"
	    "[\"a\",\"echo: Hi\"],\"past_user_inputs\":[\"b\",\"Hi\"]}}");
	answer_is(&chat, "{\"inputs\":{\"text\":\"Hi\"}}", "{\"choices\":[{\"message\":"
	    "{\"role\":\"assistant\",\"content\":null}}]}",
	    "{\"generated_text\":\"\",\"conversation\":{\"generated_responses\":[\"\"],"
	    "\"past_user_inputs\":[\"Hi\"]}}");
	/* Not an answer of the kind: the caller answers 502. */
	ck_assert_int_eq(bridge_answer(&chat, body, strlen(body), "{\"choices\":[]}", 14,
	    &out), -1);
	ck_assert_int_eq(bridge_answer(&gen, body, strlen(body), "{\"choices\":[{}]}", 16,
	    &out), -1);
	ck_assert_int_eq(bridge_answer(&gen, body, strlen(body), "oops", 4, &out), -1);
	buf_free(&out);
}
END_TEST

static void
error_is(long status, const char *answer, int want, const char *body)
{
	struct buf	 out = { NULL, 0, 0 };

	ck_assert_int_eq(bridge_error(status, answer, strlen(answer), &out), want);
	if (want == 1)
		ck_assert_str_eq(out.data, body);
	buf_free(&out);
}

START_TEST(test_error)
{
	error_is(400, "{\"error\":{\"message\":\"max_tokens is too large\",\"type\":"
	    "\"invalid_request_error\",\"param\":null,\"code\":null}}", 1,
	    "{\"error\":\"max_tokens is too large\",\"error_type\":\"validation\"}");
	error_is(429, "{\"error\":{\"message\":\"Rate limit\"}}", 1,
	    "{\"error\":\"Rate limit\",\"error_type\":\"overloaded\"}");
	error_is(500, "{\"error\":{\"message\":\"Internal\"}}", 1, "{\"error\":\"Internal\"}");
	/* The 2023 shape, FastAPI's, and what is not JSON: relayed as they are. */
	error_is(404, "{\"error\":\"Model x does not exist\"}", 0, NULL);
	error_is(404, "{\"detail\":\"Not Found\"}", 0, NULL);
	error_is(502, "<html>bad gateway</html>", 0, NULL);
}
END_TEST

/* The fake router's completions stream (docs/fake-upstream.md), with the usage
   chunk hfgate asks for. */
static const char stream_in[] =
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
    "\"text\":\"echo:\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
    "\"text\":\" \\\"hi\\\"\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    ": a comment\n\n"
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,"
    "\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"id\":\"cmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
    "\"completion_tokens\":2,\"total_tokens\":3}}\n\n"
    "data: [DONE]\n\n";

#define TOKEN_EV(text) "data:{\"token\":{\"id\":0,\"text\":\"" text "\",\"logprob\":0.0," \
	"\"special\":false},\"generated_text\":null,\"details\":null}\n\n"
#define FINAL_EV(text, details) "data:{\"token\":{\"id\":0,\"text\":\"\",\"logprob\":" \
	"0.0,\"special\":true},\"generated_text\":\"" text "\",\"details\":" details "}\n\n"

static void
stream_is(const char *body, const char *in, size_t step, const char *want,
    unsigned long long tokens)
{
	const struct bridge_how	 how = { BRIDGE_GENERATE, 0, 0, 0 };
	struct bridge_sse	 s;
	struct buf		 out = { NULL, 0, 0 };
	size_t			 i, n, len = strlen(in);

	ck_assert_int_eq(bridge_sse_init(&s, &how, body, strlen(body)), 0);
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		ck_assert_int_eq(bridge_sse_feed(&s, in + i, n, &out), 0);
	}
	ck_assert_str_eq(out.data != NULL ? out.data : "", want);
	ck_assert_uint_eq(bridge_sse_tokens(&s), tokens);
	bridge_sse_free(&s);
	buf_free(&out);
}

START_TEST(test_stream)
{
	const char	*plain = TOKEN_EV("echo:") TOKEN_EV(" \\\"hi\\\"")
			    FINAL_EV("echo: \\\"hi\\\"", "null");
	size_t		 step;

	/* However the reads split it, the same events: one per chunk with text, then
	   the final one at [DONE]. */
	for (step = 1; step <= sizeof(stream_in); step++)
		stream_is("{\"inputs\":\"x\"}", stream_in, step, plain, 2);
	stream_is("{\"inputs\":\"x\",\"parameters\":{\"details\":true,\"seed\":7}}",
	    stream_in, 4096, TOKEN_EV("echo:") TOKEN_EV(" \\\"hi\\\"")
	    FINAL_EV("echo: \\\"hi\\\"", "{\"finish_reason\":\"length\","
	    "\"generated_tokens\":2,\"seed\":7}"), 2);
	/* return_full_text: the prompt in front of the final text only. */
	stream_is("{\"inputs\":\"Say\",\"parameters\":{\"return_full_text\":true}}",
	    stream_in, 7, TOKEN_EV("echo:") TOKEN_EV(" \\\"hi\\\"")
	    FINAL_EV("Sayecho: \\\"hi\\\"", "null"), 2);
	/* CRLF framing, chat deltas, no usage chunk: the token events count. */
	stream_is("{\"inputs\":\"x\",\"parameters\":{\"details\":true}}",
	    "data:{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
	    "data:{\"choices\":[{\"delta\":{\"content\":\"A\"}}]}\r\n\r\n"
	    "data:{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n"
	    "data:[DONE]\r\n\r\n", 3, TOKEN_EV("A")
	    FINAL_EV("A", "{\"finish_reason\":\"eos_token\",\"generated_tokens\":1,"
	    "\"seed\":null}"), 1);
	/* Without [DONE] no final event: the relay ends it as incomplete (stream.c). */
	stream_is("{\"inputs\":\"x\"}", "data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 5,
	    TOKEN_EV("a"), 1);
}
END_TEST

START_TEST(test_stream_error)
{
	/* vLLM's in-stream error then [DONE]: one TGI error event, nothing after. */
	stream_is("{\"inputs\":\"x\"}",
	    "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"
	    "data: {\"error\":{\"message\":\"Request failed during generation: out of "
	    "memory\",\"type\":\"server_error\",\"param\":null,\"code\":500}}\n\n"
	    "data: {\"choices\":[{\"text\":\"b\"}]}\n\n"
	    "data: [DONE]\n\n", 11, TOKEN_EV("a")
	    "data:{\"error\":\"Request failed during generation: out of memory\","
	    "\"error_type\":\"generation\"}\n\n", 1);
	stream_is("{\"inputs\":\"x\"}",
	    "data: {\"error\":{\"message\":\"bad max_tokens\",\"type\":"
	    "\"invalid_request_error\"}}\n\n", 64,
	    "data:{\"error\":\"bad max_tokens\",\"error_type\":\"validation\"}\n\n", 0);
	/* A line that is not JSON is skipped. */
	stream_is("{\"inputs\":\"x\"}", "data: {oops\n\ndata: [DONE]\n\n", 64,
	    FINAL_EV("", "null"), 0);
}
END_TEST

START_TEST(test_stream_limits)
{
	const struct bridge_how	 how = { BRIDGE_GENERATE, 0, 0, 0 };
	struct bridge_sse	 s;
	struct buf		 out = { NULL, 0, 0 };
	size_t			 len = 2 * 1024 * 1024;
	char			*big = malloc(len);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', len);
	ck_assert_int_eq(bridge_sse_init(&s, &how, NULL, 0), 0);
	/* A line without its end past the bound: the stream is to be cut. */
	ck_assert_int_eq(bridge_sse_feed(&s, "data: ", 6, &out), 0);
	ck_assert_int_eq(bridge_sse_feed(&s, big, len, &out), -1);
	ck_assert_uint_eq(out.len, 0);
	bridge_sse_free(&s);
	free(big);
	buf_free(&out);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("bridge");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_kind_of);
	tcase_add_test(tc, test_generate_request);
	tcase_add_test(tc, test_chat_request);
	tcase_add_test(tc, test_generate_answer);
	tcase_add_test(tc, test_chat_answer);
	tcase_add_test(tc, test_error);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_stream_error);
	tcase_add_test(tc, test_stream_limits);
	suite_add_tcase(s, tc);
	return (s);
}
