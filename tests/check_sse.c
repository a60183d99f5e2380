/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for sse.c: event boundaries, final and error events, added events. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "buf.h"
#include "check_main.h"
#include "sse.h"

#define EV(tok, gen)	"data:{\"token\":{\"id\":1,\"text\":\"" tok "\",\"logprob\":-0.5," \
			"\"special\":false},\"generated_text\":" gen ",\"details\":null}\n\n"

static void
feed(struct sse_scan *s, const char *text)
{
	ck_assert_int_eq(sse_scan_feed(s, text, strlen(text)), 0);
}

START_TEST(test_boundaries)
{
	struct sse_scan	 s;

	memset(&s, 0, sizeof(s));
	ck_assert(sse_scan_at_boundary(&s));		/* nothing sent yet */
	feed(&s, ":t=1795966271470\n");
	ck_assert(!sse_scan_at_boundary(&s));		/* a comment opens an event */
	feed(&s, "data:{\"token\"");
	ck_assert(!sse_scan_at_boundary(&s));
	feed(&s, ":1}\n");
	ck_assert(!sse_scan_at_boundary(&s));
	feed(&s, "\n");
	ck_assert(sse_scan_at_boundary(&s));
	feed(&s, "data:x\r\n\r\n");			/* CRLF framing */
	ck_assert(sse_scan_at_boundary(&s));
	feed(&s, "data:x\r\n\r");
	ck_assert(!sse_scan_at_boundary(&s));
	feed(&s, "\n");
	ck_assert(sse_scan_at_boundary(&s));
	sse_scan_free(&s);
}
END_TEST

START_TEST(test_final_and_error)
{
	struct sse_scan	 s;
	const char	*all = EV(" a", "null") EV("</s>", "\" a\"");
	size_t		 i;

	/* The final event is found whatever the chunking. */
	for (i = 1; i < strlen(all); i++) {
		memset(&s, 0, sizeof(s));
		ck_assert_int_eq(sse_scan_feed(&s, all, i), 0);
		ck_assert_int_eq(sse_scan_feed(&s, all + i, strlen(all) - i), 0);
		ck_assert_msg(s.saw_final && !s.saw_error, "split at %zu", i);
		ck_assert(sse_scan_complete(&s));
		sse_scan_free(&s);
	}
	/* Intermediate events only: not complete. */
	memset(&s, 0, sizeof(s));
	feed(&s, EV(" a", "null") EV(" b", "null"));
	ck_assert(!sse_scan_complete(&s));
	/* An escaped key inside a token's text is not the key. */
	feed(&s, "data:{\"token\":{\"text\":\"\\\"generated_text\\\": 1\"},"
	    "\"generated_text\":null,\"details\":null}\n\n");
	ck_assert(!sse_scan_complete(&s));
	/* TGI's in-stream error event. */
	feed(&s, "data:{\"error\":\"Request failed during generation: x\","
	    "\"error_type\":\"generation\"}\n\n");
	ck_assert(s.saw_error && !s.saw_final);
	ck_assert(sse_scan_complete(&s));
	sse_scan_free(&s);
	/* Keys in a comment line do not count. */
	memset(&s, 0, sizeof(s));
	feed(&s, ":\"generated_text\":\"x\"\n\n");
	ck_assert(!sse_scan_complete(&s));
	sse_scan_free(&s);
}
END_TEST

START_TEST(test_error_event)
{
	struct sse_scan	 s;
	struct buf	 out = { 0 };

	/* At a boundary: the event alone. */
	memset(&s, 0, sizeof(s));
	feed(&s, EV(" a", "null"));
	ck_assert_int_eq(sse_error_event(&out, &s, "broke \"off\"", "incomplete_generation"), 0);
	ck_assert_str_eq(out.data, "data:{\"error\":\"broke \\\"off\\\"\","
	    "\"error_type\":\"incomplete_generation\"}\n\n");
	ck_assert(s.saw_error && sse_scan_at_boundary(&s));
	sse_scan_free(&s);
	buf_reset(&out);

	/* After a whole line but no blank line: one newline ends the event first. */
	memset(&s, 0, sizeof(s));
	feed(&s, ":t=5\n");
	ck_assert_int_eq(sse_error_event(&out, &s, "m", "t"), 0);
	ck_assert_str_eq(out.data, "\ndata:{\"error\":\"m\",\"error_type\":\"t\"}\n\n");
	sse_scan_free(&s);
	buf_reset(&out);

	/* Inside a line the relay dropped: forgotten, then the same as a boundary. */
	memset(&s, 0, sizeof(s));
	feed(&s, EV(" a", "null") "data:{\"tok");
	sse_scan_drop_partial(&s);
	ck_assert(sse_scan_at_boundary(&s));
	ck_assert_int_eq(sse_error_event(&out, &s, "m", "t"), 0);
	ck_assert_str_eq(out.data, "data:{\"error\":\"m\",\"error_type\":\"t\"}\n\n");
	sse_scan_free(&s);
	buf_free(&out);
}
END_TEST

/* The OpenAI protocol: the stream ends with data: [DONE]; the usage chunk counts. */
START_TEST(test_openai)
{
	struct sse_scan	 s;
	struct buf	 out = { 0 };

	memset(&s, 0, sizeof(s));
	feed(&s, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
	    "\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n");
	ck_assert(!sse_scan_complete(&s));
	feed(&s, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	    "\"stop\"}]}\n\n");
	ck_assert(!sse_scan_complete(&s));
	feed(&s, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,"
	    "\"completion_tokens\":9,\"total_tokens\":13}}\n\n");
	ck_assert_uint_eq(s.generated_tokens, 9);
	ck_assert(!sse_scan_complete(&s));
	feed(&s, "data: [DONE]\n\n");
	ck_assert(sse_scan_complete(&s) && s.saw_final && !s.saw_error);
	sse_scan_free(&s);

	/* Without the space, as some servers write it. */
	memset(&s, 0, sizeof(s));
	feed(&s, "data:[DONE]\r\n\r\n");
	ck_assert(s.saw_final);
	sse_scan_free(&s);

	/* "[DONE]" inside content is not the end. */
	memset(&s, 0, sizeof(s));
	feed(&s, "data: {\"choices\":[{\"delta\":{\"content\":\"[DONE]\"}}]}\n\n");
	ck_assert(!sse_scan_complete(&s));
	/* An error chunk, and the one hfgate writes, in OpenAI's shape. */
	s.openai = 1;
	ck_assert_int_eq(sse_error_event(&out, &s, "cut", "incomplete_generation"), 0);
	ck_assert_str_eq(out.data, "data:{\"error\":{\"message\":\"cut\","
	    "\"type\":\"incomplete_generation\"}}\n\n");
	ck_assert(s.saw_error);
	sse_scan_free(&s);
	buf_free(&out);
}
END_TEST

START_TEST(test_heartbeat)
{
	struct sse_scan	 s;
	struct buf	 out = { 0 };

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(sse_heartbeat(&out, &s), 0);
	ck_assert_str_eq(out.data, ":\n\n");
	ck_assert(sse_scan_at_boundary(&s));
	ck_assert(!sse_scan_complete(&s));
	/* Never inside an event. */
	feed(&s, "data:{\"a\":1}\n");
	buf_reset(&out);
	ck_assert_int_eq(sse_heartbeat(&out, &s), 0);
	ck_assert_uint_eq(out.len, 0);
	sse_scan_free(&s);
	buf_free(&out);
}
END_TEST

/*
 * A line longer than the scanner keeps (64 KiB) is still a line: read in one piece or
 * in several, it leaves the event open, so no heartbeat goes inside the event.
 */
START_TEST(test_long_line)
{
	struct sse_scan	 s;
	struct buf	 out = { 0 };
	char		*line;
	size_t		 n = 70000, split;
	size_t		 splits[] = { 0, 100, 65535, 65536, 69000 };

	ck_assert_ptr_nonnull(line = malloc(n));
	memset(line, 'a', n);
	memcpy(line, "data:", 5);
	line[n - 1] = '\n';
	for (split = 0; split < sizeof(splits) / sizeof(splits[0]); split++) {
		memset(&s, 0, sizeof(s));
		feed(&s, "data:{\"token\":1}\n");
		if (splits[split] > 0)
			ck_assert_int_eq(sse_scan_feed(&s, line, splits[split]), 0);
		ck_assert_int_eq(sse_scan_feed(&s, line + splits[split],
		    n - splits[split]), 0);
		ck_assert_msg(!sse_scan_at_boundary(&s), "split at %zu", splits[split]);
		buf_reset(&out);
		ck_assert_int_eq(sse_heartbeat(&out, &s), 0);
		ck_assert_uint_eq(out.len, 0);
		feed(&s, "\n");
		ck_assert(sse_scan_at_boundary(&s));
		sse_scan_free(&s);
	}
	free(line);
	buf_free(&out);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("sse");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_boundaries);
	tcase_add_test(tc, test_final_and_error);
	tcase_add_test(tc, test_error_event);
	tcase_add_test(tc, test_heartbeat);
	tcase_add_test(tc, test_openai);
	tcase_add_test(tc, test_long_line);
	suite_add_tcase(s, tc);
	return (s);
}
