/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.c: the counters of GET /metrics (docs/operations.md, "Metrics"). Each loop
 * thread counts in its own slot, alone (relaxed atomic stores, no lock and no locked
 * instruction on the request path); a scrape sums the slots. Other threads count in
 * a shared slot with atomic adds.
 */
#ifndef HFGATE_METRICS_H
#define HFGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Route families, the requests' label. */
enum metrics_family {
	METRICS_F_HF,		/* the HF task routes: /models, /pipeline, /v1/{task}, / */
	METRICS_F_OPENAI,	/* /v1/chat/completions and the other OpenAI routes */
	METRICS_F_ENDPOINT,	/* /endpoints/{name}... */
	METRICS_F_HUB,		/* /api/models, /status, /framework, /models/{id}/info */
	METRICS_F_LOCAL,	/* /healthz, /readyz, /api/tasks, /v1/tasks */
	METRICS_F_ADMIN,	/* /admin/..., /metrics */
	METRICS_F_OTHER,	/* no route, preflights */
	METRICS_NFAMILIES
};

/* Why an upstream call is made again. */
enum metrics_retry {
	METRICS_R_CONNECT,	/* no answer: connect, reset, TLS */
	METRICS_R_TIMEOUT,
	METRICS_R_429,
	METRICS_R_5XX,
	METRICS_R_LOADING,	/* a 503 "model is loading": waited for */
	METRICS_R_OTHER,
	METRICS_NRETRY
};

/* Loop thread, before its first request: takes a slot of its own. */
void	 metrics_thread_start(void);
/* A request's end: its family, status (0: none sent), duration, X-Cache state
   (CACHE_STATE_*, request.h) and the tokens it counted. */
void	 metrics_request(enum metrics_family, unsigned status, uint64_t ms,
	    int cache_state, uint64_t prompt_tokens, uint64_t completion_tokens);
void	 metrics_attempt(void);			/* an upstream call started */
void	 metrics_retry(enum metrics_retry);
void	 metrics_coalesced(void);		/* a request waits on another's call */
/* kind: the limit's name as limit.c gives it ("rate", "concurrency", "quota",
   "token_quota"). */
void	 metrics_refused(const char *kind);
void	 metrics_stream_open(void);
void	 metrics_stream_close(void);
void	 metrics_stream_end(int complete);	/* an upstream stream ended */
/* Main thread: a reload at wall-clock ms now, successful or not. */
void	 metrics_reload(int ok, int64_t now_ms);
/* Main thread, at start: the start time, wall-clock ms. */
void	 metrics_started(int64_t now_ms);

/* The versions of hfgate_build_info (borrowed strings). */
struct metrics_build {
	const char	*version, *libcurl, *libmicrohttpd, *sqlite;
};

/* The Prometheus text format (version 0.0.4) of every counter: malloc'd, NULL when
   out of memory. */
char	*metrics_render(const struct metrics_build *);

#endif
