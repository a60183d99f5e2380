/* upstream.c: HTTP calls to the upstream with libcurl multi, driven by the loop. */
#ifndef HFGATE_UPSTREAM_H
#define HFGATE_UPSTREAM_H

#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"

/* What up_on_data returns. */
#define UP_DATA_OK	0
#define UP_DATA_PAUSE	1	/* keep the bytes for later: curl redelivers them */
#define UP_DATA_ABORT	(-1)

/*
 * One upstream call. The caller fills the request part and the callbacks and keeps
 * the struct alive until on_done has run or up_cancel returned. The same struct may be
 * started again after on_done (a retry): the response part is reset by up_start.
 */
struct up_call {
	/* request: all borrowed for the duration of the call */
	const char		*url;
	struct curl_slist	*headers;
	const char		*body;		/* POST body, NULL for GET */
	size_t			 body_len;
	long			 connect_timeout_ms;
	int			 sse;		/* an event stream (the caller's timers bound it) */

	/* callbacks, run on the loop thread, never inside MHD_run */
	int	(*on_data)(struct up_call *, const char *, size_t);
	void	(*on_done)(struct up_call *, CURLcode);
	void	 *arg;

	/* response */
	long			 status;
	char			 ctype[128];	/* Content-Type, "" if none */
	char			 retry_after[64];
	struct buf		 relay;		/* headers to relay, "Name\0value\0" pairs */
	char			 errbuf[CURL_ERROR_SIZE];

	/* private */
	CURL			*easy;
	struct up_shard		*shard;		/* the multi handle running it */
	int			 running;
	int			 paused;
	int			 unpause_queued;
	struct up_call		*unpause_next;
};

/*
 * Per loop thread; curl_global_init must have run in the main thread. flush (NULL:
 * none) runs after each batch of on_data calls (one socket event, or the unpauses),
 * before the on_done of calls that finished in it.
 */
int	 up_init(unsigned max_host_connections, void (*flush)(void));
void	 up_free(void);
/* Starts (or restarts) the call. 0, or -1 with errbuf filled. */
int	 up_start(struct up_call *);
/* Stops a running call without calling on_done. No-op when not running. */
void	 up_cancel(struct up_call *);
/* Releases the easy handle; the call must not be running. Accepts a zeroed struct. */
void	 up_release(struct up_call *);
/* Asks for a paused call to be resumed; done by up_run_unpauses, outside MHD. */
void	 up_queue_unpause(struct up_call *);
void	 up_run_unpauses(void);
/* Number of calls running (for shutdown and stats). */
size_t	 up_running(void);

#endif
