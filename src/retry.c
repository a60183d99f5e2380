/* retry.c: the upstream retry policy. Pure, no I/O. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

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

long
retry_after_ms(const char *value, time_t now)
{
	const char	*p;
	char		*end;
	unsigned long long secs;
	time_t		 t;
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
	if ((t = curl_getdate(p, NULL)) == -1)
		return (-1);
	if (t <= now)
		return (0);
	ms = difftime(t, now) * 1000.0;
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
