/* SPDX-License-Identifier: BSD-2-Clause */
/* stream.c: relaying an upstream event stream (SSE) to the client as it arrives. */
#ifndef HFGATE_STREAM_H
#define HFGATE_STREAM_H

#include <stddef.h>

#include "buf.h"
#include "request.h"

/* What the gateway hears from a stream (set once, before the loops start). */
struct stream_hooks {
	/* The upstream side of req's stream is over: tail (borrowed) is what its client
	   gets after the upstream's bytes (an error event, or nothing); complete: it
	   ended with its final event, a 2xx and no error event. */
	void	(*ended)(struct gw_req *, const char *tail, size_t len, int complete);
	/* The client read nothing for stall_timeout: it is to be dropped. */
	void	(*stalled)(struct gw_req *);
};
void	 stream_set_hooks(const struct stream_hooks *);

/* Starts relaying: queues the chunked response and arms the stream's deadlines. */
void	 stream_start(struct gw_req *);
/* Upstream bytes: returns UP_DATA_OK, UP_DATA_PAUSE (buffer full) or UP_DATA_ABORT. */
int	 stream_data(struct gw_req *, const char *, size_t);
/*
 * 1 when the token's bytes are in these upstream bytes, or start in the bytes before
 * them that the client has not had yet; the gateway then withholds them and ends the
 * stream. stream_data never lets out the bytes of a line that might begin the token.
 */
int	 stream_leaks(struct gw_req *, const char *, size_t);
/* The upstream transfer ended, ok or with error (a message, borrowed). */
void	 stream_done(struct gw_req *, int ok, const char *error);
/* Ends the stream early with one error event (shutdown, deadlines). */
void	 stream_fail(struct gw_req *, const char *msg, const char *type);
/* Replays a stored stream (body taken) as if the upstream had just sent it. */
void	 stream_replay(struct gw_req *, int status, const char *ctype, char *body,
	    size_t len);
/* A follower of another request's stream: starts its response with the events so far
   (sofar, taken), then stream_follow_data adds the live ones (end: the last); returns
   -1 when the follower must be dropped (too far behind, out of memory). */
void	 stream_follow(struct gw_req *, int status, const char *ctype,
	    const struct buf *relay, struct buf *sofar);
int	 stream_follow_data(struct gw_req *, const struct buf *data, int end);
/*
 * Sends what the upstream delivered to the streams that write straight to their
 * client: curl may hand over one read in several pieces (the chunks of its answer),
 * which go out together. Run after each batch of upstream data (up_init's flush).
 */
void	 stream_push_queued(void);
/* The client's socket has room again (the transport's writable): sends the rest. */
void	 stream_writable(struct gw_req *);
/* Frees what the relay holds. */
void	 stream_release(struct gw_req *);

#endif
