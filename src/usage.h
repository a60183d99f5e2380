/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * usage.c: usage accounting (docs/teams.md): requests counted per UTC day, client,
 * model and task on each loop thread, written in batches by the cache's writer thread
 * into the usage table of the SQLite file, and read back for GET /admin/usage. A
 * request's counts are committed at most [usage] flush_interval_ms (and one commit)
 * after it ended: all that a crash can lose.
 */
#ifndef HFGATE_USAGE_H
#define HFGATE_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"

#define USAGE_FLUSH_MS	1000	/* a loop thread's counters reach the writer at least this
				   often, unless an event says otherwise ([usage]
				   flush_interval_ms) */

/* One finished request. The strings are borrowed; NULL or "" counts as "-". */
struct usage_event {
	const char	*client;
	const char	*model;
	const char	*task;
	int64_t		 when_ms;	/* unix ms: gives the UTC day */
	long		 flush_ms;	/* hand it to the writer within this; 0:
					   USAGE_FLUSH_MS */
	int		 cache_hit;
	unsigned	 attempts;
	int		 error;
	uint64_t	 upstream_ms, bytes_in, bytes_out, generated_tokens,
			 prompt_tokens;
};

/*
 * Main thread, after cache_start and before the loop threads start. With the cache's
 * writer running, usage goes into the cache's file (one writer per process: a
 * different db_path is ignored, with a warning); otherwise, with db_path, the writer
 * is started on db_path for usage alone; without either, accounting is off. 0, or -1
 * (logged; accounting off, hfgate still runs).
 */
int	 usage_start(const char *db_path);
/* Main thread, after the loop threads have ended (they flushed) and before
   cache_stop: stops the writer if usage_start started it. */
void	 usage_stop(void);
/* Accounting on or off for every thread (usage_start sets it). */
void	 usage_set_enabled(int on);

/* Loop thread: arms this thread's flush timer / flushes what it holds and cancels
   it (before its loop goes away). */
void	 usage_thread_start(void);
void	 usage_thread_stop(void);

/* Loop thread: adds one request (requests += 1) to this thread's counters. No-op
   while accounting is off. */
void	 usage_record(const struct usage_event *);
/* Loop thread, once per request at its end: records req if it is an inference request
   (ROUTE_F_INFERENCE), for client (borrowed; NULL: "-"); ok: its reply went out. */
void	 usage_request_done(const struct gw_req *, const char *client, int ok);
/* details.generated_tokens of req's text-generation answer (a list of results or one
   result; summed over the list), or usage.completion_tokens of an OpenAI answer (a
   bridged request's too, before it is translated): 0 when there is none, when req
   is not (or may not be) text-generation, or when req did not call the upstream
   itself (a copy of another request's answer: its tokens count once). *prompt gets
   an OpenAI answer's usage.prompt_tokens under the same rules, else 0. */
uint64_t usage_tokens(const struct gw_req *, const char *ctype, const char *body,
	    size_t len, uint64_t *prompt);

/* GET /admin/usage: */
/* 1 while accounting is on and has a file. */
int	 usage_is_on(void);
/* 1 when s is a calendar date YYYY-MM-DD. */
int	 usage_valid_day(const char *s);
/* Loop thread: hands this thread's counters to the writer now; 1 when it had any
   (then usage_wait_written, on a helper thread, waits until they are committed). */
int	 usage_flush_now(void);
int	 usage_wait_written(void);
/* Loop thread: the usage table as JSON (see cachedb_usage_json; *json taken). 0 or -1
   (logged). */
int	 usage_query(const char *from, const char *to, const char *client, char **json);

#endif
