/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for json.c, buf.c and log.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cJSON.h>

#include "buf.h"
#include "check_main.h"
#include "json.h"
#include "log.h"

START_TEST(test_error_body)
{
	static const char msg[] = "bad \"input\"\\ line\nnext\t\x01 caf\xc3\xa9";
	char	*s;
	cJSON	*o;

	ck_assert_ptr_nonnull(s = json_error_body(msg, "bad_request"));
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_ptr_nonnull(o = cJSON_Parse(s));
	ck_assert(cJSON_IsObject(o));
	ck_assert_int_eq(cJSON_GetArraySize(o), 2);
	ck_assert_str_eq(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "error")), msg);
	ck_assert_str_eq(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "error_type")), "bad_request");
	cJSON_Delete(o);
	free(s);

	ck_assert_ptr_nonnull(s = json_error_body("no route for /x",
	    "not_found"));
	ck_assert_str_eq(s,
	    "{\"error\":\"no route for /x\",\"error_type\":\"not_found\"}");
	free(s);
}
END_TEST

START_TEST(test_looks_like)
{
	ck_assert(json_looks_like("{}", 2));
	ck_assert(json_looks_like(" \r\n\t[1]", 7));
	ck_assert(json_looks_like("{", 1));
	ck_assert(!json_looks_like("\x89PNG\r\n", 6));
	ck_assert(!json_looks_like("\"str\"", 5));
	ck_assert(!json_looks_like("   ", 3));
	ck_assert(!json_looks_like("", 0));
	ck_assert(!json_looks_like(NULL, 0));
	/* Only len bytes count. */
	ck_assert(!json_looks_like("  {", 2));
	ck_assert(!json_looks_like("\0{", 2));
}
END_TEST

static int
stream_of(const char *s)
{
	return (json_body_stream(s, strlen(s)));
}

START_TEST(test_body_stream)
{
	static const char body[] = "{\"inputs\":\"Hello\",\"parameters\":"
	    "{\"max_new_tokens\":20},\"stream\":true}";

	ck_assert_int_eq(stream_of(body), 1);
	ck_assert_int_eq(stream_of(" {\"stream\": true}"), 1);
	ck_assert_int_eq(stream_of("{\"inputs\":\"x\",\"stream\":false}"), 0);
	ck_assert_int_eq(stream_of("{\"inputs\":\"x\"}"), 0);
	ck_assert_int_eq(stream_of("{\"stream\":\"true\"}"), 0);
	ck_assert_int_eq(stream_of("{\"stream\":1}"), 0);
	ck_assert_int_eq(stream_of("{\"stream\":null}"), 0);
	ck_assert_int_eq(stream_of("{\"parameters\":{\"stream\":true}}"), 0);
	ck_assert_int_eq(stream_of("[{\"stream\":true}]"), 0);
	ck_assert_int_eq(stream_of("{\"stream\":true"), 0);
	ck_assert_int_eq(stream_of("stream"), 0);
	ck_assert_int_eq(json_body_stream(NULL, 0), 0);
	/* The body need not be NUL-terminated: only len bytes are read. */
	ck_assert_int_eq(json_body_stream(body, sizeof(body) - 2), 0);
}
END_TEST

static int
option_false(const char *s, const char *name)
{
	return (json_option_false(s, strlen(s), name));
}

START_TEST(test_option_false)
{
	static const char wait[] = "{\"inputs\":\"x\",\"options\":{\"wait_for_model\":false}}";

	ck_assert_int_eq(option_false(wait, "wait_for_model"), 1);
	ck_assert_int_eq(option_false(wait, "use_cache"), 0);
	ck_assert_int_eq(option_false("{\"options\":{\"use_cache\":true}}", "use_cache"), 0);
	/* Only under "options", only the literal false, only whole JSON. */
	ck_assert_int_eq(option_false("{\"use_cache\":false}", "use_cache"), 0);
	ck_assert_int_eq(option_false("{\"options\":{\"use_cache\":0}}", "use_cache"), 0);
	ck_assert_int_eq(option_false("{\"options\":{\"use_cache\":false", "use_cache"), 0);
	ck_assert_int_eq(json_option_false(NULL, 0, "use_cache"), 0);
	/* Only len bytes are read. */
	ck_assert_int_eq(json_option_false(wait, strlen(wait) - 1, "wait_for_model"), 0);
}
END_TEST

START_TEST(test_buf_append)
{
	struct buf	 b = { 0 };
	size_t		 i;

	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_str_eq(b.data, "abc");
	ck_assert_int_eq(buf_append_str(&b, "def"), 0);
	ck_assert_str_eq(b.data, "abcdef");
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_uint_eq(b.len, 6);
	/* Binary data with NUL bytes keeps its length. */
	ck_assert_int_eq(buf_append(&b, "\0x", 2), 0);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_int_eq(memcmp(b.data, "abcdef\0x", 9), 0);

	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_append(&b, i % 2 ? "y" : "x", 1), 0);
	ck_assert_uint_eq(b.len, 100000);
	ck_assert_uint_gt(b.cap, b.len);
	ck_assert_int_eq(b.data[b.len], '\0');
	ck_assert_int_eq(b.data[99999], 'y');
	/* Geometric growth: capacity within a small factor of the length. */
	ck_assert_uint_le(b.cap, 4 * b.len);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
	buf_free(NULL);
}
END_TEST

START_TEST(test_buf_overflow)
{
	struct buf	 b = { 0 };

	ck_assert_int_eq(buf_append_str(&b, "keep"), 0);
	ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX), -1);
	ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX - 4), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_str_eq(b.data, "keep");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_steal)
{
	struct buf	 b = { 0 };
	char		 big[5000];
	char		*s;

	ck_assert_int_eq(buf_printf(&b, "status=%d ms=%ld", 200, 15L), 0);
	ck_assert_str_eq(b.data, "status=200 ms=15");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, " %s|", big), 0);
	ck_assert_uint_eq(b.len, 16 + 1 + 4999 + 1);
	ck_assert_int_eq(b.data[b.len - 1], '|');
	ck_assert_int_eq(b.data[b.len], '\0');

	s = buf_steal(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), 16 + 1 + 4999 + 1);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	/* The buffer is usable again, and an empty steal is "" rather than NULL. */
	ck_assert_ptr_nonnull(s = buf_steal(&b));
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(buf_append_str(&b, "again"), 0);
	ck_assert_str_eq(b.data, "again");
	buf_free(&b);
}
END_TEST

/* Runs the log calls with stderr captured into out. */
static void
capture_stderr(void (*fn)(void), char *out, size_t outlen)
{
	char	 path[] = "/tmp/check_json_log.XXXXXX";
	int	 fd, saved;
	ssize_t	 n;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn();
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, out, outlen - 1);
	ck_assert_int_ge(n, 0);
	out[n] = '\0';
	close(fd);
}

static void
log_some(void)
{
	log_init(0);
	errno = ENOENT;
	log_warn("open %s", "/etc/x");
	ck_assert_int_eq(errno, ENOENT);
	errno = EACCES;
	log_warnx("plain %d", 1);
	ck_assert_int_eq(errno, EACCES);
	log_info("listening on %s", "127.0.0.1:8080");
	log_debug("hidden %d", 2);
	ck_assert_int_eq(log_verbose(), 0);
	log_init(1);
	ck_assert_int_ne(log_verbose(), 0);
	log_debug("shown %d", 3);
}

static void
log_long(void)
{
	char	 big[10000];

	memset(big, 'L', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	log_info("after");
}

START_TEST(test_log)
{
	char	 out[16384], *nl;

	capture_stderr(log_some, out, sizeof(out));
	ck_assert_str_eq(out,
	    "hfgate: open /etc/x: No such file or directory\n"
	    "hfgate: plain 1\n"
	    "hfgate: listening on 127.0.0.1:8080\n"
	    "hfgate: shown 3\n");

	/* An over-long message is cut but still one line. */
	capture_stderr(log_long, out, sizeof(out));
	ck_assert_int_eq(strncmp(out, "hfgate: LLL", 11), 0);
	ck_assert_ptr_nonnull(nl = strchr(out, '\n'));
	ck_assert_uint_lt((size_t)(nl - out), 4096);
	ck_assert_str_eq(nl + 1, "hfgate: after\n");
}
END_TEST

/* What log_escape makes of s, in a buffer of size bytes. */
static const char *
esc(const char *s, size_t size)
{
	static char	 buf[512];

	ck_assert_uint_le(size, sizeof(buf));
	memset(buf, '#', sizeof(buf));
	return (log_escape(buf, size, s));
}

START_TEST(test_log_escape)
{
	/* The forged line of a path with CR LF stays on one line, in quotes. */
	ck_assert_str_eq(esc("/models/b\r\nhfgate: POST /v1/x client=team-a status=200",
	    256), "\"/models/b\\r\\nhfgate: POST /v1/x client=team-a status=200\"");
	ck_assert_str_eq(esc("/models/mock/fill-mask", 256), "/models/mock/fill-mask");
	ck_assert_str_eq(esc("a\"b\\c", 256), "a\\\"b\\\\c");
	ck_assert_str_eq(esc("\t\b\f\x01\x1f\x7f", 256),
	    "\\t\\b\\f\\u0001\\u001f\\u007f");
	/* UTF-8 as it is; C1 controls escaped; anything else not UTF-8 byte by byte. */
	ck_assert_str_eq(esc("caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80", 256),
	    "\"caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80\"");
	ck_assert_str_eq(esc("\xc2\x9b[2J", 256), "\\u009b[2J");
	ck_assert_str_eq(esc("\xff\xc3(\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82", 256),
	    "\\xff\\xc3(\\xc0\\xaf\\xed\\xa0\\x80\\xf4\\x90\\x80\\x80\\xe2\\x82");
	ck_assert_str_eq(esc("", 256), "\"\"");
	ck_assert_str_eq(esc(NULL, 256), "-");
	/* Cut at a whole escape, with room kept for the quotes. */
	ck_assert_str_eq(esc("abc\ndef", 7), "abc");
	ck_assert_str_eq(esc("abc\ndef", 8), "abc\\n");
	ck_assert_str_eq(esc("a b\ncd", 8), "\"a b\\n\"");
	ck_assert_str_eq(esc("a b\ncd", 7), "\"a b\"");
	ck_assert_str_eq(esc("\xe2\x82\xac", 5), "");
	ck_assert_str_eq(esc("\xe2\x82\xac", 6), "\xe2\x82\xac");
	ck_assert_str_eq(esc("x", 2), "");
}
END_TEST

static void
log_fatal(void)
{
	fatalx("cannot %s", "start");
}

START_TEST(test_fatalx)
{
	char	 out[256];

	capture_stderr(log_fatal, out, sizeof(out));
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("json");

	tcase_add_test(tc, test_error_body);
	tcase_add_test(tc, test_looks_like);
	tcase_add_test(tc, test_body_stream);
	tcase_add_test(tc, test_option_false);
	suite_add_tcase(s, tc);
	tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_append);
	tcase_add_test(tc, test_buf_overflow);
	tcase_add_test(tc, test_buf_printf_steal);
	suite_add_tcase(s, tc);
	tc = tcase_create("log");
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_log_escape);
	/* fatalx exits 1; needs Check's fork mode to observe. */
	if (check_forking())
		tcase_add_exit_test(tc, test_fatalx, 1);
	suite_add_tcase(s, tc);
	return (s);
}
