/* SPDX-License-Identifier: BSD-2-Clause */
/* cache.c: the request path's side of the shared result cache (docs/cache.md). */
#ifndef HFGATE_CACHE_H
#define HFGATE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cachedb.h"
#include "config.h"
#include "request.h"
#include "task.h"

/* Main thread: starts the writer thread when the cache is on. A cache file that cannot
   be opened only turns the cache off (logged once): hfgate still starts. */
/* "on", "off" (disabled by the configuration) or "failed" (configured, and it
   could not start: see the log). */
const char *cache_state(void);
void	 cache_start(const struct config *);
void	 cache_stop(void);
/* Loop thread: opens / closes this thread's read connection. */
void	 cache_thread_start(const struct config *);
void	 cache_thread_stop(void);
/* 1 while the cache is on. */
int	 cache_is_on(void);

/*
 * Decides whether req (resolved, its upstream body set; task_of gives its model's
 * task, NULL when unknown, and is asked only when the cache is on) may be cached and
 * looks it up. Returns 1 with a fresh entry in *hit
 * (taken by the caller; see cache_fit), else 0: req goes upstream (a MISS or BYPASS,
 * an expired entry kept for stale-if-error).
 */
int	 cache_begin(struct gw_req *, const struct task_info *(*task_of)(struct gw_req *),
	    struct cache_entry *hit);
/*
 * Read your writes, for flight.c: an identical request's answer may have been stored
 * (dbw_pending) after req's look-up in cache_begin missed it, its flight gone by the
 * time req joined. cache_landed says whether that may be so (a few thousand classes
 * of keys: rarely when it is not); cache_recheck looks again then, and returns 1 with
 * a fresh entry in *hit (taken by the caller), else 0.
 */
int	 cache_landed(const struct gw_req *);
int	 cache_recheck(struct gw_req *, struct cache_entry *hit);
/* How entry e answers req (e stays the caller's): */
#define CACHE_SERVE_NONE	0	/* it does not fit the request */
#define CACHE_SERVE_BODY	1	/* e->body is the answer */
#define CACHE_SERVE_STREAM	2	/* e->body is a stored stream to replay */
#define CACHE_SERVE_LIST	3	/* *list (malloc'd) is the answer, as JSON */
/* When it fits, X-Cache becomes state (CACHE_STATE_HIT or _STALE) with e's age. */
int	 cache_fit(struct gw_req *, struct cache_entry *e, int state, char **list);
/* Counts a hit or a miss for GET /admin/cache. */
void	 cache_count_hit(int hit);
/* Whether req stores its answer (a waiter does not: its leader does). */
void	 cache_set_store(struct gw_req *, int on);
/* X-Cache of an answer req got another way (a coalesced copy: CACHE_STATE_HIT). */
void	 cache_mark(struct gw_req *, int state);
/* The expired entry kept for stale-if-error (taken: cache_entry_free and free it),
   or NULL. */
struct cache_entry *cache_take_stale(struct gw_req *);
/* The upstream answered req (all borrowed): stores a 2xx answer. */
void	 cache_answer(struct gw_req *, long status, const char *ctype,
	    const struct buf *body);
/* Upstream bytes of a stream, kept to store the stream once it ends. */
void	 cache_stream_bytes(struct gw_req *, const char *, size_t);
/* The stream ended: stored when complete (its final event, a 2xx, no error). */
void	 cache_stream_end(struct gw_req *, int complete);
/* Frees req's cache part. */
void	 cache_release(struct gw_req *);

/* GET /admin/cache: the file's figures (-1 when unreadable) and this process's hits
   and misses. 0, or -1 (entries and bytes -1). */
int	 cache_read_stats(struct cache_stats *, uint64_t *hits, uint64_t *misses);
/* Deletes every entry (model NULL) or a model's, and waits for the writer: blocks,
   so only from a helper thread. 0 or -1. */
int	 cache_delete(const char *model);

#endif
