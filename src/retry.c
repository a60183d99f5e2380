/* retry.c: the upstream retry policy. Pure, no I/O. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>	/* only for retry_curl_retryable's CURLcode names */

#include "retry.h"

int
retry_status_retryable(long status)
{
	switch (status) {
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return (1);
	default:
		return (0);
	}
}

/*
 * Only failures where the upstream most likely never processed the request or
 * dropped the connection. Timeouts are not here: the deadline owns them.
 */
int
retry_curl_retryable(int curlcode)
{
	switch ((CURLcode)curlcode) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (1);
	default:
		return (0);
	}
}

long
retry_backoff_ms(unsigned attempt, long base_ms, long cap_ms, uint32_t rnd)
{
	uint64_t	 top;

	if (base_ms <= 0 || cap_ms <= 0)
		return (0);
	/* min(cap, base * 2^attempt) without overflowing the shift or the product. */
	if (attempt >= 63 || (uint64_t)base_ms > ((uint64_t)cap_ms >> attempt))
		top = (uint64_t)cap_ms;
	else
		top = (uint64_t)base_ms << attempt;
	/* Scale rnd onto [0, top]: rnd 0 gives 0, UINT32_MAX gives top. */
	if (top < UINT32_MAX)
		return ((long)(((uint64_t)rnd * (top + 1)) >> 32));
	return ((long)((double)rnd / UINT32_MAX * (double)top));
}

static const char *const retry_days[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};
static const char *const retry_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};
static const char *const retry_zones[] = { "GMT", "UTC" };

/* Skips SP and HTAB; 0 when there were none (where a separator is required). */
static int
retry_blanks(const char **pp)
{
	const char	*p = *pp;

	while (*p == ' ' || *p == '\t')
		p++;
	if (p == *pp)
		return (0);
	*pp = p;
	return (1);
}

/* Index in names (case-insensitive, whole word) of the word at *pp, or -1. */
static int
retry_word(const char **pp, const char *const *names, size_t n)
{
	size_t	 len, i;

	for (len = 0; isalpha((unsigned char)(*pp)[len]); len++)
		;
	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && strncasecmp(*pp, names[i], len) == 0) {
			*pp += len;
			return ((int)i);
		}
	return (-1);
}

/* min to max digits as a number, or -1. */
static int
retry_num(const char **pp, int min, int max)
{
	int	 n, v = 0;

	for (n = 0; n < max && isdigit((unsigned char)(*pp)[n]); n++)
		v = v * 10 + ((*pp)[n] - '0');
	if (n < min || isdigit((unsigned char)(*pp)[n]))
		return (-1);
	*pp += n;
	return (v);
}

/* HH:MM:SS as seconds into the day, or -1. A leap second (60) is allowed. */
static long
retry_clock(const char **pp)
{
	int	 h, m, s;

	if ((h = retry_num(pp, 2, 2)) == -1 || h > 23 || *(*pp)++ != ':' ||
	    (m = retry_num(pp, 2, 2)) == -1 || m > 59 || *(*pp)++ != ':' ||
	    (s = retry_num(pp, 2, 2)) == -1 || s > 60)
		return (-1);
	return ((long)h * 3600 + m * 60 + s);
}

/* Days from 1970-01-01 to y-m-d (m 1..12), proleptic Gregorian. */
static long long
retry_days_from_civil(long long y, int m, int d)
{
	long long	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

/* Seconds since the epoch; mday is not checked against the month here. */
static long long
retry_epoch(long long y, int m, int mday, long secs)
{
	return ((retry_days_from_civil(y, m, 1) + mday - 1) * 86400 + secs);
}

static int
retry_mdays(long long y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return (29);
	return (days[m - 1]);
}

/*
 * An HTTP-date (RFC 9110 5.6.7) as seconds since the epoch; -1 if not one. Parsed here
 * rather than by a general date parser so the policy needs no library: only the three
 * forms senders may use, GMT (or UTC) only, the weekday not checked against the date.
 */
static int
retry_http_date(const char *p, time_t now, long long *out)
{
	/* 50 average Gregorian years: the window for a two-digit year. */
	const long long	 fifty = 50LL * 31556952;
	long long	 year, ref;
	long		 secs;
	int		 mon, mday, yy = -1;

	if (retry_word(&p, retry_days, sizeof(retry_days) / sizeof(retry_days[0])) == -1)
		return (-1);
	if (*p == ',') {
		/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or rfc850 "Sunday, 06-Nov-94 ..." */
		p++;
		if (!retry_blanks(&p) || (mday = retry_num(&p, 1, 2)) == -1)
			return (-1);
		if (*p == '-') {
			p++;
			if ((mon = retry_word(&p, retry_months, 12)) == -1 || *p++ != '-' ||
			    (yy = retry_num(&p, 2, 2)) == -1)
				return (-1);
			year = 0;
		} else if (!retry_blanks(&p) ||
		    (mon = retry_word(&p, retry_months, 12)) == -1 || !retry_blanks(&p) ||
		    (year = retry_num(&p, 4, 4)) == -1)
			return (-1);
		if (!retry_blanks(&p) || (secs = retry_clock(&p)) == -1 || !retry_blanks(&p) ||
		    retry_word(&p, retry_zones, 2) == -1)
			return (-1);
	} else {
		/* asctime "Sun Nov  6 08:49:37 1994", implicitly GMT */
		if (!retry_blanks(&p) || (mon = retry_word(&p, retry_months, 12)) == -1 ||
		    !retry_blanks(&p) || (mday = retry_num(&p, 1, 2)) == -1 ||
		    !retry_blanks(&p) || (secs = retry_clock(&p)) == -1 ||
		    !retry_blanks(&p) || (year = retry_num(&p, 4, 4)) == -1)
			return (-1);
	}
	retry_blanks(&p);
	if (*p != '\0')
		return (-1);
	mon++;
	if (yy >= 0) {
		/*
		 * RFC 9110: a two-digit year more than 50 years ahead is the latest past
		 * year with those digits. now is bounded to years 1900..9999 so that the
		 * loops stay short and the sums cannot overflow.
		 */
		ref = (long long)now;
		if (ref < -2208988800LL)
			ref = -2208988800LL;
		else if (ref > 253402300799LL)
			ref = 253402300799LL;
		year = (1970 + ref / 31556952) / 100 * 100 + yy;
		while (retry_epoch(year, mon, mday, secs) - fifty > ref)
			year -= 100;
		while (retry_epoch(year + 100, mon, mday, secs) - fifty <= ref)
			year += 100;
	}
	if (mday < 1 || mday > retry_mdays(year, mon))
		return (-1);
	*out = retry_epoch(year, mon, mday, secs);
	return (0);
}

long
retry_after_ms(const char *value, time_t now)
{
	const char	*p;
	char		*end;
	unsigned long long secs;
	long long	 t;
	double		 ms;

	if (value == NULL)
		return (-1);
	for (p = value; *p == ' ' || *p == '\t'; p++)
		;
	if (isdigit((unsigned char)*p)) {
		/* delta-seconds = 1*DIGIT (RFC 9110 10.2.3); no sign. */
		errno = 0;
		secs = strtoull(p, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0')
			return (-1);
		if (errno == ERANGE || secs > (unsigned long long)LONG_MAX / 1000)
			return (LONG_MAX);
		return ((long)secs * 1000);
	}
	if (retry_http_date(p, now, &t) == -1)
		return (-1);
	if (t <= (long long)now)
		return (0);
	ms = ((double)t - (double)now) * 1000.0;
	if (ms >= (double)LONG_MAX)
		return (LONG_MAX);
	return ((long)ms);
}

double
retry_loading_estimate(const char *body, size_t len)
{
	cJSON	*o, *v;
	double	 est = -1;

	if (body == NULL || len == 0)
		return (-1);
	if ((o = cJSON_ParseWithLength(body, len)) == NULL)
		return (-1);
	if (cJSON_IsObject(o)) {
		v = cJSON_GetObjectItemCaseSensitive(o, "estimated_time");
		if (cJSON_IsNumber(v) && v->valuedouble >= 0)
			est = v->valuedouble;
	}
	cJSON_Delete(o);
	return (est);
}

/* The wait for a loading model before the deadline clamp: estimated_time, not below the minimum. */
static long
retry_loading_wait(double loading)
{
	double	 ms = loading * 1000.0;
	long	 delay;

	delay = ms >= (double)LONG_MAX ? LONG_MAX : (long)ms;
	return (delay < RETRY_LOADING_MIN_MS ? RETRY_LOADING_MIN_MS : delay);
}

/* Whole seconds, rounded up, at least 1: HF clients poll again then. */
static long
retry_loading_seconds(double loading)
{
	long	 s;

	if (loading >= (double)LONG_MAX)
		return (LONG_MAX);
	s = (long)loading;
	if (s < loading || s < 1)
		s++;
	return (s);
}

void
retry_decide(const struct retry_event *ev, struct retry_verdict *v)
{
	long	 left = ev->left_ms > 0 ? ev->left_ms : 0;
	long	 delay;
	int	 can_retry;

	v->action = RETRY_RELAY;
	v->delay_ms = 0;
	v->retry_after_s = 0;
	v->status = 0;
	v->error_type = NULL;
	v->reason = NULL;

	/* Bytes already went to the client: another attempt cannot replace them. */
	if (ev->streaming) {
		v->action = RETRY_STREAM_END;
		return;
	}
	/* failures + 1 < max_attempts, without wrapping at UINT_MAX. */
	can_retry = ev->max_attempts > ev->failures &&
	    ev->max_attempts - ev->failures > 1 && ev->attempts < RETRY_MAX_CALLS;

	switch (ev->transport) {
	case RETRY_T_ANSWER:
		break;
	case RETRY_T_DEADLINE:
		/* Out of time while a model loads: tell the client when to ask again. */
		if (ev->status == 503 && ev->loading >= 0) {
			v->action = RETRY_RELAY_LOADING;
			v->retry_after_s = retry_loading_seconds(ev->loading);
		} else {
			v->action = RETRY_FAIL;
			v->status = 504;
			v->error_type = "timeout";
		}
		return;
	case RETRY_T_TOO_LARGE:
		/* Another attempt would only get the same oversized answer. */
		v->action = RETRY_FAIL;
		v->status = 502;
		v->error_type = "upstream_too_large";
		return;
	case RETRY_T_CONNECT:
	case RETRY_T_TIMEOUT:
	case RETRY_T_FAILED:
	default:
		/*
		 * Only a call the upstream most likely never processed is repeated; the
		 * others may have had effects, and a timeout belongs to the deadline.
		 */
		delay = retry_backoff_ms(ev->failures, ev->backoff_base_ms,
		    ev->backoff_max_ms, ev->rnd);
		if (can_retry && ev->transport == RETRY_T_CONNECT && delay < left) {
			v->action = RETRY_AGAIN;
			v->delay_ms = delay;
			v->reason = "connect";
			return;
		}
		v->action = RETRY_FAIL;
		if (ev->transport == RETRY_T_TIMEOUT && left == 0) {
			v->status = 504;
			v->error_type = "timeout";
		} else {
			v->status = 502;
			v->error_type = "upstream_unreachable";
		}
		return;
	}

	if (ev->status == 503 && ev->loading >= 0) {
		/* Leave the next attempt RETRY_LOADING_MARGIN_MS before the deadline. */
		delay = retry_loading_wait(ev->loading);
		if (delay > left - RETRY_LOADING_MARGIN_MS)
			delay = left - RETRY_LOADING_MARGIN_MS;
		if (ev->wait_for_model && delay > 0 && ev->attempts < RETRY_MAX_CALLS) {
			v->action = RETRY_WAIT_LOADING;
			v->delay_ms = delay;
			v->reason = "loading";
		} else {
			v->action = RETRY_RELAY_LOADING;
			v->retry_after_s = retry_loading_seconds(ev->loading);
		}
		return;
	}
	if (can_retry && retry_status_retryable(ev->status)) {
		/* The upstream's own Retry-After wins over the backoff. */
		delay = ev->retry_after != NULL && ev->retry_after[0] != '\0' ?
		    retry_after_ms(ev->retry_after, ev->now) : -1;
		if (delay < 0)
			delay = retry_backoff_ms(ev->failures, ev->backoff_base_ms,
			    ev->backoff_max_ms, ev->rnd);
		/* A wait that ends past the deadline is no retry: relay what we have. */
		if (delay < left) {
			v->action = RETRY_AGAIN;
			v->delay_ms = delay;
			v->reason = ev->status == 429 ? "429" : "5xx";
			return;
		}
	}
	v->action = RETRY_RELAY;
}
