/* retry.c: the upstream retry policy. Pure, no I/O. */
#ifndef HFGATE_RETRY_H
#define HFGATE_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* 1 for the statuses worth another attempt: 429, 500, 502, 503, 504. */
int	 retry_status_retryable(long status);
/* 1 for transport failures worth another attempt (takes a CURLcode as int):
   resolve/connect failures, TLS handshake failure, reset or empty reply. */
int	 retry_curl_retryable(int curlcode);
/* Full-jitter exponential backoff: uniform in [0, min(cap_ms, base_ms * 2^attempt)]
   using rnd as the random source. attempt counts from 0. */
long	 retry_backoff_ms(unsigned attempt, long base_ms, long cap_ms, uint32_t rnd);
/* A Retry-After value (delta-seconds or HTTP-date) in ms from now; -1 if unparseable.
   A date in the past gives 0. */
long	 retry_after_ms(const char *value, time_t now);
/* The estimated_time in seconds of an HF "model is loading" 503 body
   ({"error": "...", "estimated_time": N}), or -1 if the body is not one. */
double	 retry_loading_estimate(const char *body, size_t len);

#endif
