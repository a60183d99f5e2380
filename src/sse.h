/* SPDX-License-Identifier: BSD-2-Clause */
/* sse.c: watching a relayed Server-Sent Events stream, and the events hfgate adds. */
#ifndef HFGATE_SSE_H
#define HFGATE_SSE_H

#include <stddef.h>

#include "buf.h"

/*
 * What the relay needs to know about the bytes it passed on: whether they stop at an
 * event boundary (so that hfgate may add an event or a comment without breaking one),
 * and whether the stream delivered its end: a TGI final event (a non-null
 * "generated_text"), the OpenAI protocol's "data: [DONE]", or an error event.
 */
struct sse_scan {
	struct buf	 line;		/* the current, unfinished line */
	unsigned	 newlines;	/* consecutive line ends at the end so far */
	int		 started;	/* any byte seen */
	int		 saw_final;
	int		 saw_error;
	int		 openai;	/* set by the relay: errors in OpenAI's shape */
	unsigned long long generated_tokens;	/* the final event's details, or the
						   usage chunk's completion_tokens */
	unsigned long long prompt_tokens;	/* the usage chunk's prompt_tokens */
};

/* Scans len more bytes. Returns 0, -1 on allocation failure (the scan goes on). */
int	 sse_scan_feed(struct sse_scan *, const char *data, size_t len);
/* Forgets the unfinished line: the caller dropped it instead of relaying it. */
void	 sse_scan_drop_partial(struct sse_scan *);
/* 1 when the bytes so far end an event (or there are none). */
int	 sse_scan_at_boundary(const struct sse_scan *);
/* 1 when a final or an error event was seen. */
int	 sse_scan_complete(const struct sse_scan *);
void	 sse_scan_free(struct sse_scan *);	/* accepts a zeroed struct */

/*
 * Appends to out an error event `data:{"error":msg,"error_type":type}` (with
 * scan->openai `data:{"error":{"message":msg,"type":type}}`) and the blank line ending it, first ending a partial event if the stream stopped inside one, and
 * feeds it to scan. Returns 0 or -1.
 */
int	 sse_error_event(struct buf *out, struct sse_scan *scan, const char *msg,
	    const char *type);
/* Appends the keep-alive comment ":\n\n" (as TGI's axum sends it). 0 or -1. */
int	 sse_heartbeat(struct buf *out, struct sse_scan *scan);

#endif
