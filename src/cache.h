/* cache.c: the request path's side of the shared result cache (docs/cache.md). */
#ifndef HFGATE_CACHE_H
#define HFGATE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gw.h"

/* gw_req.cache_state: what X-Cache says. */
#define CACHE_STATE_NONE	0	/* not an inference call: no X-Cache */
#define CACHE_STATE_BYPASS	1
#define CACHE_STATE_MISS	2
#define CACHE_STATE_HIT		3
#define CACHE_STATE_STALE	4

/* Main thread: starts the writer thread when the cache is on. A cache file that cannot
   be opened only turns the cache off (logged once): hfgate still starts. */
void	 cache_start(const struct config *);
void	 cache_stop(void);
/* Loop thread: opens / closes this thread's read connection. */
void	 cache_thread_start(const struct config *);
void	 cache_thread_stop(void);

/*
 * Decides whether req (resolved, body known) may be cached, looks it up, and joins an
 * identical request in flight. Returns 1 when req was answered from the cache or now
 * waits for another request's answer; 0 when it goes upstream.
 */
int	 cache_begin(struct gw_req *);
/* The upstream answered req (status, Content-Type, Retry-After, body, relayed
   headers; all borrowed): stores a 2xx answer and hands a copy to every request
   waiting for it. */
void	 cache_answer(struct gw_req *, long status, const char *ctype,
	    const char *retry_after, const struct buf *body, const struct buf *relay);
/* Upstream bytes of a stream, kept to store the stream once it ends cleanly. */
void	 cache_stream_bytes(struct gw_req *, const char *, size_t);
/* The stream ended with its final event: store it. */
void	 cache_stream_done(struct gw_req *);
/* req's stream starts (its followers start theirs), or ends: tail (borrowed) is what
   req's client gets after the upstream's bytes (an error event, or nothing). */
void	 cache_stream_start(struct gw_req *);
void	 cache_stream_end(struct gw_req *, const char *tail, size_t len);
/* req failed upstream with status (502/504/5xx): serves a stale entry within the
   stale-if-error window. Returns 1 when it did. */
int	 cache_serve_stale(struct gw_req *);
/* req ends or gives up waiting: leaves its flight; a leader without an answer sends
   its waiters upstream on their own. Safe to call more than once. */
void	 cache_leave(struct gw_req *);

/* GET /admin/cache and DELETE /admin/cache[?model=] (access checked by gw.c). */
void	 cache_admin(struct gw_req *);

#endif
