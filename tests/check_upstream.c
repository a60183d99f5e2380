/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for upstream.c's pure parts: libcurl's results, dates, base URLs. */
#include <string.h>

#include <check.h>
#include <curl/curl.h>

#include "check_main.h"
#include "upstream.h"

START_TEST(test_classify)
{
	/* Never reached or never processed: worth another attempt. */
	ck_assert_int_eq(up_classify(CURLE_COULDNT_CONNECT), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_COULDNT_RESOLVE_HOST), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_COULDNT_RESOLVE_PROXY), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_SSL_CONNECT_ERROR), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_RECV_ERROR), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_SEND_ERROR), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_GOT_NOTHING), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_HTTP2), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_HTTP2_STREAM), UP_E_CONNECT);
	ck_assert_int_eq(up_classify(CURLE_OK), UP_OK);
	/* The deadline owns timeouts. */
	ck_assert_int_eq(up_classify(CURLE_OPERATION_TIMEDOUT), UP_E_TIMEOUT);
	/* Our own on_data said stop (an answer over max_response). */
	ck_assert_int_eq(up_classify(CURLE_WRITE_ERROR), UP_E_ABORTED);
	ck_assert_int_eq(up_classify(CURLE_ABORTED_BY_CALLBACK), UP_E_FAILED);
	ck_assert_int_eq(up_classify(CURLE_OUT_OF_MEMORY), UP_E_FAILED);
	ck_assert_int_eq(up_classify(CURLE_URL_MALFORMAT), UP_E_FAILED);
	ck_assert_int_eq(up_classify(CURLE_PEER_FAILED_VERIFICATION), UP_E_FAILED);
}
END_TEST

START_TEST(test_http_date)
{
	ck_assert_int_eq(up_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
	ck_assert_int_eq(up_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
	ck_assert_int_eq(up_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
	ck_assert_int_eq(up_http_date("not a date"), -1);
}
END_TEST

START_TEST(test_check_url)
{
	static const char *const ok[] = {
		"https://api-inference.huggingface.co", "https://huggingface.co/",
		"http://127.0.0.1:9999/prefix/", "http://[::1]:8080", "HTTP://Host:1",
		"http://[fe80::1%25eth0]:80/x", "https://e.example:65535/a/b",
	};
	static const char *const bad[] = {
		"http://[::1", "http://127.0.0.1:99999", "http://127.0.0.1:0",
		"http://user:pw-SECRET@host", "http://user@host", "http://:pw-SECRET@host",
		"http://h;o@host", "http://h/?q", "http://h/#f", "http://", "https://",
		"ftp://h", "file:///etc/passwd", "h", "", "http://a b", "http://h/a b",
		"http://h:8o", "http://user:pw-SECRET@[::1",
	};
	char	 msg[256];
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		msg[0] = '\0';
		ck_assert_msg(up_check_url(ok[i], msg, sizeof(msg)) == 0, "%s: %s", ok[i],
		    msg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		ck_assert_msg(up_check_url(bad[i], msg, sizeof(msg)) == -1, "accepted %s",
		    bad[i]);
		ck_assert_msg(msg[0] != '\0', "%s: no reason", bad[i]);
		/* Never the URL itself: it may hold a password. */
		ck_assert_msg(strstr(msg, "SECRET") == NULL &&
		    (strlen(bad[i]) < 8 || strstr(msg, bad[i]) == NULL), "%s: %s", bad[i], msg);
	}
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("upstream");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_http_date);
	tcase_add_test(tc, test_check_url);
	suite_add_tcase(s, tc);
	return (s);
}
