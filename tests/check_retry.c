/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for retry.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <limits.h>

#include <check.h>

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


#define BASE_MS	100
#define CAP_MS	1000
#define NOW	784111777	/* Sun, 06 Nov 1994 08:49:37 GMT */
#define RMAX	UINT32_MAX	/* backoff: the top of the range, min(1000, 100 * 2^failures) */
#define RHALF	0x80000000u	/* backoff: half of the top plus one, rounded down */

#define ANS	RETRY_T_ANSWER
#define CONN	RETRY_T_CONNECT
#define TIME	RETRY_T_TIMEOUT
#define BIG	RETRY_T_TOO_LARGE
#define FAILED	RETRY_T_FAILED
#define DL	RETRY_T_DEADLINE

#define AGAIN	RETRY_AGAIN
#define WAITL	RETRY_WAIT_LOADING
#define RELAY	RETRY_RELAY
#define RELAYL	RETRY_RELAY_LOADING
#define SEND	RETRY_STREAM_END
#define FAIL	RETRY_FAIL

#define UNR	"upstream_unreachable"
#define TOOBIG	"upstream_too_large"
#define TMO	"timeout"

static const struct decide_row {
	const char		*name;
	/* the event (backoff base 100, cap 1000, now NOW) */
	enum retry_transport	 transport;
	long			 status;
	const char		*retry_after;
	double			 loading;
	int			 wait, streaming;
	unsigned		 attempts, failures, max_attempts;
	long			 left_ms;
	uint32_t		 rnd;
	/* the verdict */
	enum retry_action	 action;
	long			 delay_ms, retry_after_s;
	unsigned		 fail_status;
	const char		*error_type, *reason;
} decide_rows[] = {
	/* name                  transport status RA  loading wait strm att fail max left   rnd     action delay ra_s st  error   reason */
	/* A stream under way ends as it ended, whatever happened. */
	{ "stream answer",        ANS,  500, NULL, -1,   1, 1,    1, 0, 3, 60000, RMAX,  SEND,  0,    0,  0,  NULL,   NULL },
	{ "stream connect",       CONN,   0, NULL, -1,   1, 1,    1, 0, 3, 60000, RMAX,  SEND,  0,    0,  0,  NULL,   NULL },
	{ "stream deadline",      DL,   503, NULL,  5,   1, 1,    1, 0, 3,     0, RMAX,  SEND,  0,    0,  0,  NULL,   NULL },
	{ "stream too large",     BIG,    0, NULL, -1,   1, 1,    1, 0, 3, 60000, RMAX,  SEND,  0,    0,  0,  NULL,   NULL },

	/* Transport failures: only a connect failure is retried, with the backoff. */
	{ "connect",              CONN,   0, NULL, -1,   0, 0,    1, 0, 3, 10000, RMAX,  AGAIN, 100,  0,  0,  NULL,   "connect" },
	{ "connect jitter half",  CONN,   0, NULL, -1,   0, 0,    3, 2, 4, 10000, RHALF, AGAIN, 200,  0,  0,  NULL,   "connect" },
	{ "connect capped",       CONN,   0, NULL, -1,   0, 0,    6, 5, 9, 10000, RMAX,  AGAIN, 1000, 0,  0,  NULL,   "connect" },
	{ "connect delay = left", CONN,   0, NULL, -1,   0, 0,    1, 0, 3,   100, RMAX,  FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect delay < left", CONN,   0, NULL, -1,   0, 0,    1, 0, 3,   101, RMAX,  AGAIN, 100,  0,  0,  NULL,   "connect" },
	{ "connect zero delay, left 0", CONN, 0, NULL, -1, 0, 0,  1, 0, 3,     0, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect last attempt", CONN,   0, NULL, -1,   0, 0,    3, 2, 3, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect one to go",    CONN,   0, NULL, -1,   0, 0,    2, 1, 3, 10000, RHALF, AGAIN, 100,  0,  0,  NULL,   "connect" },
	{ "connect max_attempts 1", CONN, 0, NULL, -1,   0, 0,    1, 0, 1, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect max_attempts 0", CONN, 0, NULL, -1,   0, 0,    1, 0, 0, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect failures wrap", CONN,  0, NULL, -1,   0, 0,    1, UINT_MAX, 3, 10000, 0, FAIL, 0,    0,  502, UNR,   NULL },
	{ "connect call cap",     CONN,   0, NULL, -1,   0, 0, 1000, 0, 9, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "connect below cap",    CONN,   0, NULL, -1,   0, 0,  999, 0, 9, 10000, 0,     AGAIN, 0,    0,  0,  NULL,   "connect" },
	{ "connect negative left", CONN,  0, NULL, -1,   0, 0,    1, 0, 3,    -5, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "timeout at deadline",  TIME,   0, NULL, -1,   0, 0,    1, 0, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },
	{ "timeout before deadline", TIME, 0, NULL, -1,  0, 0,    1, 0, 3, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "timeout last attempt", TIME,   0, NULL, -1,   0, 0,    3, 2, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },
	{ "other failure",        FAILED, 0, NULL, -1,   0, 0,    1, 0, 3, 10000, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "other failure, left 0", FAILED, 0, NULL, -1,  0, 0,    1, 0, 3,     0, 0,     FAIL,  0,    0,  502, UNR,   NULL },
	{ "too large",            BIG,    0, NULL, -1,   0, 0,    1, 0, 3, 10000, 0,     FAIL,  0,    0,  502, TOOBIG, NULL },
	{ "too large, left 0",    BIG,    0, NULL, -1,   0, 0,    1, 0, 3,     0, 0,     FAIL,  0,    0,  502, TOOBIG, NULL },

	/* The deadline: a kept loading 503 is relayed, anything else is a timeout. */
	{ "deadline loading",     DL,   503, NULL, 3.5,  1, 0,    4, 0, 3,     0, 0,     RELAYL, 0,   4,  0,  NULL,   NULL },
	{ "deadline loading 0",   DL,   503, NULL,  0,   1, 0,    4, 0, 3,     0, 0,     RELAYL, 0,   1,  0,  NULL,   NULL },
	{ "deadline loading whole", DL, 503, NULL, 20,   0, 0,    1, 0, 3,     0, 0,     RELAYL, 0,  20,  0,  NULL,   NULL },
	{ "deadline plain 503",   DL,   503, NULL, -1,   1, 0,    2, 1, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },
	{ "deadline no answer",   DL,     0, NULL, -1,   1, 0,    1, 0, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },
	{ "deadline loading 500", DL,   500, NULL,  2,   1, 0,    2, 1, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },
	{ "deadline 429 with RA", DL,   429, "1",  -1,   1, 0,    2, 1, 3,     0, 0,     FAIL,  0,    0,  504, TMO,   NULL },

	/* A loading 503: wait for it when allowed, within the deadline less the margin. */
	{ "loading",              ANS,  503, NULL, 20,   1, 0,    1, 0, 3, 60000, RMAX,  WAITL, 20000, 0, 0,  NULL,   "loading" },
	{ "loading short",        ANS,  503, NULL, 0.1,  1, 0,    1, 0, 3, 60000, RMAX,  WAITL, 250,  0,  0,  NULL,   "loading" },
	{ "loading zero",         ANS,  503, NULL,  0,   1, 0,    1, 0, 3, 60000, RMAX,  WAITL, 250,  0,  0,  NULL,   "loading" },
	{ "loading fraction",     ANS,  503, NULL, 1.2345, 1, 0,  1, 0, 3, 60000, RMAX,  WAITL, 1234, 0,  0,  NULL,   "loading" },
	{ "loading past deadline", ANS, 503, NULL, 100,  1, 0,    1, 0, 3, 10000, RMAX,  WAITL, 9500, 0,  0,  NULL,   "loading" },
	{ "loading min clamped",  ANS,  503, NULL,  1,   1, 0,    1, 0, 3,   600, RMAX,  WAITL, 100,  0,  0,  NULL,   "loading" },
	{ "loading min = room",   ANS,  503, NULL, 0.1,  1, 0,    1, 0, 3,   750, RMAX,  WAITL, 250,  0,  0,  NULL,   "loading" },
	{ "loading no room",      ANS,  503, NULL, 0.1,  1, 0,    1, 0, 3,   500, RMAX,  RELAYL, 0,   1,  0,  NULL,   NULL },
	{ "loading room negative", ANS, 503, NULL, 20,   1, 0,    1, 0, 3,   300, RMAX,  RELAYL, 0,  20,  0,  NULL,   NULL },
	{ "loading left 0",       ANS,  503, NULL, 2.5,  1, 0,    1, 0, 3,     0, RMAX,  RELAYL, 0,   3,  0,  NULL,   NULL },
	{ "loading not waited",   ANS,  503, NULL, 20,   0, 0,    1, 0, 3, 60000, RMAX,  RELAYL, 0,  20,  0,  NULL,   NULL },
	{ "loading not waited 1.2", ANS, 503, NULL, 1.2, 0, 0,    1, 0, 3, 60000, RMAX,  RELAYL, 0,   2,  0,  NULL,   NULL },
	{ "loading not waited 0.5", ANS, 503, NULL, 0.5, 0, 0,    1, 0, 3, 60000, RMAX,  RELAYL, 0,   1,  0,  NULL,   NULL },
	{ "loading call cap",     ANS,  503, NULL, 20,   1, 0, 1000, 0, 3, 60000, RMAX,  RELAYL, 0,  20,  0,  NULL,   NULL },
	{ "loading below cap",    ANS,  503, NULL, 20,   1, 0,  999, 0, 3, 60000, RMAX,  WAITL, 20000, 0, 0,  NULL,   "loading" },
	{ "loading, no failures left", ANS, 503, NULL, 20, 1, 0,  5, 2, 3, 60000, RMAX,  WAITL, 20000, 0, 0,  NULL,   "loading" },
	{ "loading beats RA",     ANS,  503, "1",   5,   1, 0,    1, 0, 3, 60000, RMAX,  WAITL, 5000, 0,  0,  NULL,   "loading" },
	{ "loading huge",         ANS,  503, NULL, 1e300, 1, 0,   1, 0, 3, 60000, RMAX,  WAITL, 59500, 0, 0,  NULL,   "loading" },
	{ "loading huge relayed", ANS,  503, NULL, 1e300, 0, 0,   1, 0, 3, 60000, RMAX,  RELAYL, 0, LONG_MAX, 0, NULL, NULL },
	{ "loading only on 503",  ANS,  500, NULL,  5,   1, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 100,  0,  0,  NULL,   "5xx" },
	{ "503 not loading",      ANS,  503, NULL, -1,   1, 0,    1, 0, 3, 60000, RHALF, AGAIN, 50,   0,  0,  NULL,   "5xx" },

	/* Retryable statuses: Retry-After when it parses, else the backoff. */
	{ "429",                  ANS,  429, NULL, -1,   0, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 100,  0,  0,  NULL,   "429" },
	{ "500",                  ANS,  500, NULL, -1,   0, 0,    2, 1, 3, 60000, RHALF, AGAIN, 100,  0,  0,  NULL,   "5xx" },
	{ "502",                  ANS,  502, NULL, -1,   0, 0,    1, 0, 3, 60000, 0,     AGAIN, 0,    0,  0,  NULL,   "5xx" },
	{ "504",                  ANS,  504, NULL, -1,   0, 0,    4, 3, 5, 60000, RMAX,  AGAIN, 800,  0,  0,  NULL,   "5xx" },
	{ "RA seconds",           ANS,  429, "2",  -1,   0, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 2000, 0,  0,  NULL,   "429" },
	{ "RA zero",              ANS,  429, "0",  -1,   0, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 0,    0,  0,  NULL,   "429" },
	{ "RA blanks",            ANS,  503, " 3 ", -1,  0, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 3000, 0,  0,  NULL,   "5xx" },
	{ "RA IMF-fixdate",       ANS,  503, "Sun, 06 Nov 1994 08:49:47 GMT", -1, 0, 0, 1, 0, 3, 60000, RMAX, AGAIN, 10000, 0, 0, NULL, "5xx" },
	{ "RA rfc850 date",       ANS,  429, "Sunday, 06-Nov-94 08:49:42 GMT", -1, 0, 0, 1, 0, 3, 60000, RMAX, AGAIN, 5000, 0, 0, NULL, "429" },
	{ "RA asctime date",      ANS,  429, "Sun Nov  6 08:49:40 1994", -1, 0, 0, 1, 0, 3, 60000, RMAX, AGAIN, 3000, 0, 0, NULL, "429" },
	{ "RA date past",         ANS,  429, "Sun, 06 Nov 1994 08:00:00 GMT", -1, 0, 0, 1, 0, 3, 60000, RMAX, AGAIN, 0, 0, 0, NULL, "429" },
	{ "RA garbage",           ANS,  429, "soon", -1, 0, 0,    1, 0, 3, 60000, RMAX,  AGAIN, 100,  0,  0,  NULL,   "429" },
	{ "RA fraction",          ANS,  429, "1.5", -1,  0, 0,    2, 1, 3, 60000, RMAX,  AGAIN, 200,  0,  0,  NULL,   "429" },
	{ "RA negative",          ANS,  502, "-1", -1,   0, 0,    1, 0, 3, 60000, RHALF, AGAIN, 50,   0,  0,  NULL,   "5xx" },
	{ "RA bad date",          ANS,  429, "soon, maybe", -1, 0, 0, 1, 0, 3, 60000, RHALF, AGAIN, 50, 0, 0, NULL, "429" },
	{ "RA empty",             ANS,  429, "",   -1,   0, 0,    1, 0, 3, 60000, RHALF, AGAIN, 50,   0,  0,  NULL,   "429" },
	{ "RA past deadline",     ANS,  429, "120", -1,  0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "RA = left",            ANS,  429, "60", -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "RA < left",            ANS,  429, "59", -1,   0, 0,    1, 0, 3, 60000, 0,     AGAIN, 59000, 0, 0,  NULL,   "429" },
	{ "RA huge",              ANS,  503, "99999999999999999999999", -1, 0, 0, 1, 0, 3, 60000, 0, RELAY, 0, 0, 0, NULL, NULL },
	{ "backoff = left",       ANS,  500, NULL, -1,   0, 0,    1, 0, 3,   100, RMAX,  RELAY, 0,    0,  0,  NULL,   NULL },
	{ "backoff < left",       ANS,  500, NULL, -1,   0, 0,    1, 0, 3,   101, RMAX,  AGAIN, 100,  0,  0,  NULL,   "5xx" },
	{ "left 0",               ANS,  500, NULL, -1,   0, 0,    1, 0, 3,     0, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "last attempt",         ANS,  500, NULL, -1,   0, 0,    3, 2, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "max_attempts 1",       ANS,  429, "1",  -1,   0, 0,    1, 0, 1, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "call cap",             ANS,  500, NULL, -1,   0, 0, 1000, 0, 9, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "below call cap",       ANS,  500, NULL, -1,   0, 0,  999, 0, 9, 60000, 0,     AGAIN, 0,    0,  0,  NULL,   "5xx" },

	/* Everything else is relayed as it is. */
	{ "200",                  ANS,  200, NULL, -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "200 with loading",     ANS,  200, NULL,  5,   1, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "404",                  ANS,  404, NULL, -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "400 with RA",          ANS,  400, "1",  -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "501",                  ANS,  501, NULL, -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
	{ "505",                  ANS,  505, NULL, -1,   0, 0,    1, 0, 3, 60000, 0,     RELAY, 0,    0,  0,  NULL,   NULL },
};

static void
decide_event(const struct decide_row *r, struct retry_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->transport = r->transport;
	ev->status = r->status;
	ev->retry_after = r->retry_after;
	ev->loading = r->loading;
	ev->wait_for_model = r->wait;
	ev->streaming = r->streaming;
	ev->attempts = r->attempts;
	ev->failures = r->failures;
	ev->max_attempts = r->max_attempts;
	ev->left_ms = r->left_ms;
	ev->backoff_base_ms = BASE_MS;
	ev->backoff_max_ms = CAP_MS;
	ev->rnd = r->rnd;
	ev->now = NOW;
}

static void
check_str(const char *row, const char *field, const char *got, const char *want)
{
	if (want == NULL)
		ck_assert_msg(got == NULL, "%s: %s \"%s\", want NULL", row, field, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0,
		    "%s: %s \"%s\", want \"%s\"", row, field, got ? got : "(null)", want);
}

START_TEST(test_decide_table)
{
	const struct decide_row	*r = &decide_rows[_i];
	struct retry_event	 ev;
	struct retry_verdict	 v;

	decide_event(r, &ev);
	/* Garbage in the verdict must not leak through. */
	memset(&v, 0xa5, sizeof(v));
	retry_decide(&ev, &v);
	ck_assert_msg(v.action == r->action, "%s: action %d, want %d", r->name,
	    (int)v.action, (int)r->action);
	ck_assert_msg(v.delay_ms == r->delay_ms, "%s: delay_ms %ld, want %ld",
	    r->name, v.delay_ms, r->delay_ms);
	ck_assert_msg(v.retry_after_s == r->retry_after_s,
	    "%s: retry_after_s %ld, want %ld", r->name, v.retry_after_s,
	    r->retry_after_s);
	ck_assert_msg(v.status == r->fail_status, "%s: status %u, want %u",
	    r->name, v.status, r->fail_status);
	check_str(r->name, "error_type", v.error_type, r->error_type);
	check_str(r->name, "reason", v.reason, r->reason);
}
END_TEST

/* Where the jitter matters: any rnd gives a delay within the backoff range. */
START_TEST(test_decide_jitter)
{
	static const struct {
		enum retry_transport	 transport;
		long			 status;
		unsigned		 failures;
		long			 top;
		const char		*reason;
	} cases[] = {
		{ RETRY_T_CONNECT, 0, 0, 100, "connect" },
		{ RETRY_T_CONNECT, 0, 3, 800, "connect" },
		{ RETRY_T_ANSWER, 429, 2, 400, "429" },
		{ RETRY_T_ANSWER, 502, 7, 1000, "5xx" },
	};
	struct retry_event	 ev;
	struct retry_verdict	 v;
	uint32_t		 s = 2463534242u;
	long			 lo, hi;
	size_t			 i;
	int			 n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ev, 0, sizeof(ev));
		ev.transport = cases[i].transport;
		ev.status = cases[i].status;
		ev.loading = -1;
		ev.attempts = cases[i].failures + 1;
		ev.failures = cases[i].failures;
		ev.max_attempts = 100;
		ev.left_ms = 60000;
		ev.backoff_base_ms = BASE_MS;
		ev.backoff_max_ms = CAP_MS;
		ev.now = NOW;
		lo = cases[i].top;
		hi = 0;
		for (n = 0; n < 5000; n++) {
			ev.rnd = next_rnd(&s);
			retry_decide(&ev, &v);
			ck_assert_int_eq(v.action, RETRY_AGAIN);
			ck_assert_str_eq(v.reason, cases[i].reason);
			ck_assert_int_ge(v.delay_ms, 0);
			ck_assert_int_le(v.delay_ms, cases[i].top);
			ck_assert_int_eq(v.delay_ms, retry_backoff_ms(ev.failures,
			    BASE_MS, CAP_MS, ev.rnd));
			if (v.delay_ms < lo)
				lo = v.delay_ms;
			if (v.delay_ms > hi)
				hi = v.delay_ms;
		}
		/* The jitter really is drawn from rnd. */
		ck_assert_int_lt(lo, cases[i].top / 10);
		ck_assert_int_gt(hi, cases[i].top - cases[i].top / 10);
	}
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("retry");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_backoff_bounds);
	tcase_add_test(tc, test_backoff_cap);
	tcase_add_test(tc, test_retry_after_seconds);
	tcase_add_test(tc, test_retry_after_date);
	tcase_add_test(tc, test_loading_estimate);
	tcase_add_test(tc, test_decide_jitter);
	tcase_add_loop_test(tc, test_decide_table, 0,
	    (int)(sizeof(decide_rows) / sizeof(decide_rows[0])));
	suite_add_tcase(s, tc);
	return (s);
}
