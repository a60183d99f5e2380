/* Unit tests for upstream.c's classification of libcurl's results. */
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

Suite *
check_suite(void)
{
	Suite	*s = suite_create("upstream");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_http_date);
	suite_add_tcase(s, tc);
	return (s);
}
