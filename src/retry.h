/* SPDX-License-Identifier: BSD-2-Clause */
/* retry.c: the upstream retry policy. Pure, no I/O. */
#ifndef HFGATE_RETRY_H
#define HFGATE_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* How an upstream attempt ended, as the upstream client classifies it (upstream.c maps
   libcurl's codes onto these, so retry.c needs no libcurl). */
enum retry_transport {
	RETRY_T_ANSWER = 0,	/* an HTTP answer arrived (status is set) */
	RETRY_T_CONNECT,	/* never reached or never processed: resolve/connect/TLS handshake failure, reset, empty reply, send/recv error */
	RETRY_T_TIMEOUT,	/* the transfer's own timeout fired */
	RETRY_T_TOO_LARGE,	/* the answer outgrew max_response (hfgate aborted it) */
	RETRY_T_FAILED,		/* any other transport failure */
	RETRY_T_DEADLINE	/* the request's deadline fired while waiting or calling */
};

/* Everything retry_decide looks at; the caller fills every field. */
struct retry_event {
	enum retry_transport transport;
	long		 status;	/* RETRY_T_ANSWER: this answer's status; RETRY_T_DEADLINE: the status of the last kept answer (0: none) */
	const char	*retry_after;	/* the answer's Retry-After, NULL or "" when none */
	double		 loading;	/* estimated_time of a "model is loading" 503 (retry_loading_estimate of the body; for RETRY_T_DEADLINE the last kept one), -1 when not one */
	int		 wait_for_model;	/* the client lets hfgate wait for a loading model */
	int		 streaming;	/* the answer is being relayed as a stream already */
	unsigned	 attempts;	/* upstream calls made, this one included */
	unsigned	 failures;	/* failures counted against max_attempts before this one */
	unsigned	 max_attempts;
	long		 left_ms;	/* time left to the deadline, >= 0 (a negative value counts as 0) */
	long		 backoff_base_ms, backoff_max_ms;	/* retry_backoff_ms's base_ms and cap_ms */
	uint32_t	 rnd;		/* random source for the jitter */
	time_t		 now;		/* for an HTTP-date Retry-After */
};

enum retry_action {
	RETRY_AGAIN,		/* wait delay_ms, then call again; counts as a failure */
	RETRY_WAIT_LOADING,	/* the model is loading: keep this answer, wait delay_ms, call again; not a failure */
	RETRY_RELAY,		/* relay this answer as it is (the caller may serve a stale cache entry instead of a 5xx) */
	RETRY_RELAY_LOADING,	/* relay the (kept) loading 503 with Retry-After: retry_after_s */
	RETRY_STREAM_END,	/* a stream under way: no retry, the stream ends as it ended */
	RETRY_FAIL		/* fail with status and error_type */
};

/* What to do; the fields an action does not use are 0 or NULL. */
struct retry_verdict {
	enum retry_action action;
	long		 delay_ms;	/* RETRY_AGAIN, RETRY_WAIT_LOADING */
	long		 retry_after_s;	/* RETRY_RELAY_LOADING: whole seconds, rounded up, at least 1 */
	unsigned	 status;	/* RETRY_FAIL: 502 or 504 */
	const char	*error_type;	/* RETRY_FAIL: "upstream_too_large", "timeout" or "upstream_unreachable" (static) */
	const char	*reason;	/* RETRY_AGAIN / RETRY_WAIT_LOADING: why, for metrics and logs: "connect", "429", "5xx", "loading" (static; NULL otherwise) */
};

#define RETRY_MAX_CALLS 1000	/* sanity cap on calls, loading waits included */
#define RETRY_LOADING_MIN_MS 250	/* shortest wait for a loading model */
#define RETRY_LOADING_MARGIN_MS 500	/* time left for the attempt after a loading wait */

/* The whole retry decision for one ended attempt (or a fired deadline). */
void	 retry_decide(const struct retry_event *, struct retry_verdict *);

/* 1 for the statuses worth another attempt: 429, 500, 502, 503, 504. */
int	 retry_status_retryable(long status);
/* Full-jitter exponential backoff: uniform in [0, min(cap_ms, base_ms * 2^attempt)]
   using rnd as the random source. attempt counts from 0. */
long	 retry_backoff_ms(unsigned attempt, long base_ms, long cap_ms, uint32_t rnd);
/* A Retry-After value (delta-seconds or an HTTP-date, as libcurl's date parser reads
   it: up_http_date) in ms from now; -1 if unparseable. A date in the past gives 0. */
long	 retry_after_ms(const char *value, time_t now);
/* The estimated_time in seconds of an HF "model is loading" 503 body
   ({"error": "...", "estimated_time": N}), or -1 if the body is not one. */
double	 retry_loading_estimate(const char *body, size_t len);

#endif
