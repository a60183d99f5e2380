/* SPDX-License-Identifier: BSD-2-Clause */
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

#include "retry.h"
#include "upstream.h"

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
	if ((t = up_http_date(p)) == -1)
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
