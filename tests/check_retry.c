/* Unit tests for retry.c. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <curl/curl.h>

#include "check_main.h"
#include "retry.h"

START_TEST(test_status)
{
	static const long yes[] = { 429, 500, 502, 503, 504 };
	static const long no[] = { 200, 201, 204, 301, 400, 401, 403, 404,
	    413, 422, 501, 505, 0, -1 };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(retry_status_retryable(yes[i]), "%ld", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!retry_status_retryable(no[i]), "%ld", no[i]);
}
END_TEST

START_TEST(test_curl_codes)
{
	ck_assert(retry_curl_retryable(CURLE_COULDNT_CONNECT));
	ck_assert(retry_curl_retryable(CURLE_COULDNT_RESOLVE_HOST));
	ck_assert(retry_curl_retryable(CURLE_SSL_CONNECT_ERROR));
	ck_assert(retry_curl_retryable(CURLE_RECV_ERROR));
	ck_assert(retry_curl_retryable(CURLE_SEND_ERROR));
	ck_assert(retry_curl_retryable(CURLE_GOT_NOTHING));
	ck_assert(!retry_curl_retryable(CURLE_OK));
	ck_assert(!retry_curl_retryable(CURLE_OPERATION_TIMEDOUT));
	ck_assert(!retry_curl_retryable(CURLE_ABORTED_BY_CALLBACK));
	ck_assert(!retry_curl_retryable(CURLE_WRITE_ERROR));
	ck_assert(!retry_curl_retryable(CURLE_OUT_OF_MEMORY));
	ck_assert(!retry_curl_retryable(CURLE_URL_MALFORMAT));
	ck_assert(!retry_curl_retryable(CURLE_PEER_FAILED_VERIFICATION));
}
END_TEST

/* xorshift32: a fixed, reproducible sequence of rnd values. */
static uint32_t
next_rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s);
}

START_TEST(test_backoff_bounds)
{
	uint32_t	 s = 2463534242u;
	unsigned	 attempt;
	long		 ms, ceiling, max, min, i;

	for (attempt = 0; attempt < 12; attempt++) {
		ceiling = 200L << attempt;
		if (ceiling > 10000)
			ceiling = 10000;
		min = ceiling;
		max = -1;
		for (i = 0; i < 20000; i++) {
			ms = retry_backoff_ms(attempt, 200, 10000, next_rnd(&s));
			ck_assert_msg(ms >= 0 && ms <= ceiling,
			    "attempt %u: %ld not in [0, %ld]", attempt, ms,
			    ceiling);
			if (ms < min)
				min = ms;
			if (ms > max)
				max = ms;
		}
		/* Jitter really spreads over the whole range. */
		ck_assert_int_lt(min, ceiling / 20 + 1);
		ck_assert_int_gt(max, ceiling - ceiling / 20 - 1);
	}
	/* The extremes of rnd reach the extremes of the range. */
	ck_assert_int_eq(retry_backoff_ms(0, 200, 10000, 0), 0);
	ck_assert_int_eq(retry_backoff_ms(0, 200, 10000, UINT32_MAX), 200);
	ck_assert_int_eq(retry_backoff_ms(3, 200, 10000, UINT32_MAX), 1600);
	ck_assert_int_eq(retry_backoff_ms(2, 200, 10000, UINT32_MAX / 2), 400);
}
END_TEST

START_TEST(test_backoff_cap)
{
	unsigned	 attempt;

	/* Large attempt counts must neither overflow nor exceed the cap. */
	for (attempt = 6; attempt < 200; attempt++) {
		ck_assert_int_eq(retry_backoff_ms(attempt, 200, 10000,
		    UINT32_MAX), 10000);
		ck_assert_int_le(retry_backoff_ms(attempt, 200, 10000,
		    0x80000000u), 10000);
		ck_assert_int_ge(retry_backoff_ms(attempt, 200, 10000,
		    0x80000000u), 4999);
	}
	ck_assert_int_eq(retry_backoff_ms(40, 1000000, 10000, UINT32_MAX),
	    10000);
	/* A cap above 2^32 ms still bounds the result. */
	ck_assert_int_le(retry_backoff_ms(62, 1, 0x7fffffffffffL, UINT32_MAX),
	    0x7fffffffffffL);
	ck_assert_int_gt(retry_backoff_ms(62, 1, 0x7fffffffffffL, UINT32_MAX),
	    0x7ff000000000L);
	/* Degenerate settings mean no wait rather than garbage. */
	ck_assert_int_eq(retry_backoff_ms(3, 0, 10000, UINT32_MAX), 0);
	ck_assert_int_eq(retry_backoff_ms(3, 200, 0, UINT32_MAX), 0);
}
END_TEST

START_TEST(test_retry_after_seconds)
{
	time_t	 now = time(NULL);

	ck_assert_int_eq(retry_after_ms("120", now), 120000);
	ck_assert_int_eq(retry_after_ms("0", now), 0);
	ck_assert_int_eq(retry_after_ms(" 5 ", now), 5000);
	ck_assert_int_eq(retry_after_ms("-1", now), -1);
	ck_assert_int_eq(retry_after_ms("+3", now), -1);
	ck_assert_int_eq(retry_after_ms("1.5", now), -1);
	ck_assert_int_eq(retry_after_ms("12abc", now), -1);
	ck_assert_int_eq(retry_after_ms("soon", now), -1);
	ck_assert_int_eq(retry_after_ms("garbage", now), -1);
	ck_assert_int_eq(retry_after_ms("", now), -1);
	ck_assert_int_eq(retry_after_ms(NULL, now), -1);
	/* Absurdly large values saturate instead of wrapping negative. */
	ck_assert_int_gt(retry_after_ms("99999999999999999999999", now), 0);
}
END_TEST

START_TEST(test_retry_after_date)
{
	char		 date[64];
	time_t		 now = time(NULL), then = now + 10;
	struct tm	 tm;
	long		 ms;

	gmtime_r(&then, &tm);
	ck_assert_uint_gt(strftime(date, sizeof(date),
	    "%a, %d %b %Y %H:%M:%S GMT", &tm), 0);
	ms = retry_after_ms(date, time(NULL));
	ck_assert_msg(ms >= 9000 && ms <= 10000, "%s -> %ld", date, ms);

	/* RFC 850 and asctime forms are HTTP-dates too. */
	ck_assert_int_eq(retry_after_ms("Sunday, 06-Nov-94 08:49:47 GMT",
	    784111777), 10000);
	ck_assert_int_eq(retry_after_ms("Sun Nov  6 08:49:47 1994",
	    784111777), 10000);
	ck_assert_int_eq(retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT",
	    784111777), 10000);

	/* A date in the past means retry now. */
	ck_assert_int_eq(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now),
	    0);
	then = now - 3600;
	gmtime_r(&then, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ck_assert_int_eq(retry_after_ms(date, now), 0);
}
END_TEST

START_TEST(test_loading_estimate)
{
	static const char loading[] =
	    "{\"error\":\"Model gpt2 is currently loading\",\"estimated_time\":20.0}";
	static const char *not_loading[] = {
		"{\"error\":\"Model gpt2 is currently loading\"}",
		"{\"error\":\"Internal Server Error\"}",
		"{\"estimated_time\":\"20\"}",
		"{\"estimated_time\":-1}",
		"{\"estimated_time\":null}",
		"[{\"estimated_time\":20}]",
		"20.0",
		"{\"estimated_time\":20.0",
		"<html>503 Service Unavailable</html>",
		"",
	};
	size_t	 i;

	ck_assert_double_eq(retry_loading_estimate(loading, strlen(loading)),
	    20.0);
	ck_assert_double_eq(retry_loading_estimate(
	    "{\"error\":\"x\",\"estimated_time\":1.5}", 35), 1.5);
	ck_assert_double_eq(retry_loading_estimate("{\"estimated_time\":0}",
	    20), 0.0);
	/* Only len bytes count: the body is not NUL-terminated in general. */
	ck_assert_double_eq(retry_loading_estimate(loading,
	    strlen(loading) - 1), -1);
	for (i = 0; i < sizeof(not_loading) / sizeof(not_loading[0]); i++)
		ck_assert_msg(retry_loading_estimate(not_loading[i],
		    strlen(not_loading[i])) == -1, "%s", not_loading[i]);
	ck_assert_double_eq(retry_loading_estimate(NULL, 0), -1);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("retry");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_curl_codes);
	tcase_add_test(tc, test_backoff_bounds);
	tcase_add_test(tc, test_backoff_cap);
	tcase_add_test(tc, test_retry_after_seconds);
	tcase_add_test(tc, test_retry_after_date);
	tcase_add_test(tc, test_loading_estimate);
	suite_add_tcase(s, tc);
	return (s);
}
