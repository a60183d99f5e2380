/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flight.c: coalescing. Identical cacheable requests in flight at the same time, on
 * any loop thread, cause one upstream call: the first is the leader, the others wait
 * and get a copy of its answer (or its stream, as it arrives) through their thread's
 * mailbox, delivered to the gateway through the hooks.
 */
#ifndef HFGATE_FLIGHT_H
#define HFGATE_FLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "canon.h"
#include "request.h"

/* Run on the waiter's thread, for a waiter that is still there (set once, before the
   loops start). The buffers may be taken (left empty). */
struct flight_hooks {
	/* The leader's answer, or (go) the word to call the upstream on its own. */
	void	(*answer)(struct gw_req *, int go, long status, const char *ctype,
		    const char *retry_after, struct buf *body, struct buf *relay);
	/* The leader's stream begins: status, headers, the events so far. */
	void	(*stream_start)(struct gw_req *, long status, const char *ctype,
		    const struct buf *relay, struct buf *sofar);
	/* More of the stream; end: its last bytes. */
	void	(*stream_data)(struct gw_req *, const struct buf *data, int end);
};
void	 flight_set_hooks(const struct flight_hooks *);

/* Joins the flight for key (streams join streams only: sse), or starts one led by req.
   Returns 1 when req now waits for the leader, or for the answer an identical request
   stored since req's cache look-up (delivered through the hooks like a leader's:
   X-Cache HIT). */
int	 flight_join(struct gw_req *, const uint8_t key[CANON_KEY_LEN], int sse);
/* The leader's answer (all borrowed): a copy to every waiter. */
void	 flight_land(struct gw_req *, long status, const char *ctype,
	    const char *retry_after, const struct buf *body, const struct buf *relay);
/* The leader's stream starts; its bytes; its end (tail: a last error event, or
   nothing, borrowed). */
void	 flight_stream_start(struct gw_req *, long status, const char *ctype,
	    const struct buf *relay);
void	 flight_stream_bytes(struct gw_req *, const char *data, size_t len);
void	 flight_stream_end(struct gw_req *, const char *tail, size_t len);
/* req ends or gives up waiting: leaves its flight; a leader without an answer sends
   its waiters upstream on their own (or ends their streams). Safe to call again. */
void	 flight_leave(struct gw_req *);

#endif
