/* SPDX-License-Identifier: BSD-2-Clause */
/* upstream.c: HTTP calls to the upstream with libcurl multi, driven by the loop. */
#ifndef HFGATE_UPSTREAM_H
#define HFGATE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* What up_on_data returns. */
#define UP_DATA_OK	0
#define UP_DATA_PAUSE	1	/* keep the bytes for later: curl redelivers them */
#define UP_DATA_ABORT	(-1)

/* How a call ended (on_done): libcurl's codes, classified here so that no other module
   needs libcurl. */
enum up_result {
	UP_OK = 0,		/* an HTTP answer arrived in full */
	UP_E_CONNECT,		/* never reached or never processed: resolve, connect or TLS
				   handshake failure, reset, empty reply, send/recv error */
	UP_E_TIMEOUT,		/* the connect timeout fired */
	UP_E_ABORTED,		/* on_data returned UP_DATA_ABORT */
	UP_E_FAILED		/* any other failure */
};

#define UP_ERROR_MAX	256	/* libcurl's CURL_ERROR_SIZE */

/* The class of a CURLcode (given as int: callers need no libcurl). */
enum up_result up_classify(int curlcode);

/*
 * One upstream call. The caller fills the request part and the callbacks and keeps
 * the struct alive until on_done has run or up_cancel returned. The same struct may be
 * started again after on_done (a retry): the response part is reset by up_start.
 */
struct up_call {
	/* request: all borrowed for the duration of the call */
	const char		*url;
	const char		*body;		/* POST body, NULL for GET */
	size_t			 body_len;
	long			 connect_timeout_ms;
	int			 sse;		/* an event stream (the caller's timers bound it) */

	/* callbacks, run on the loop thread, never inside MHD_run */
	int	(*on_data)(struct up_call *, const char *, size_t);
	void	(*on_done)(struct up_call *, enum up_result);
	/* A reused connection died before any byte of the answer and libcurl is about
	   to send the request again on a new one (docs/design.md, "libcurl"): 0 lets
	   it, -1 stops it and the call ends as UP_E_CONNECT. NULL: always let it. */
	int	(*on_resend)(struct up_call *);
	void	 *arg;

	/* response */
	long			 status;
	char			 ctype[128];	/* Content-Type, "" if none */
	char			 retry_after[64];
	struct buf		 relay;		/* headers to relay, "Name\0value\0" pairs */
	char			 errbuf[UP_ERROR_MAX];	/* why it failed, "" if it did not */
	const char		*reason;	/* the same in libcurl's words (static), "" */
	uint64_t		 total_ms;	/* of the last attempt, set before on_done */

	/* private */
	void			*easy;		/* libcurl's handle */
	unsigned		 sends;		/* requests sent since up_start */
	int			 resend_refused;	/* on_resend said no */
	void			*headers;	/* request headers (up_header), kept across
						   restarts until up_release */
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
/* Main thread, once before / after every loop thread: libcurl's global state. 0 or -1. */
int	 up_global_init(void);
/* 1 unless the last upstream call to end got no HTTP answer at all (connect, TLS,
   connect timeout), with the wall-clock ms of the last answer and of the last call
   without one (0: none yet). Any thread. */
int	 up_reachability(int64_t *last_answer_ms, int64_t *last_unreached_ms);
/* libcurl's version line ("libcurl/7.88.1 OpenSSL/3.0.19 ..."), static. */
const char *up_lib_version(void);
void	 up_global_cleanup(void);
/* Adds the request header "name: value" to the call (kept for its restarts); an empty
   value sends no such header at all (curl's own, e.g. Expect). A line over 2 KiB is
   left out. 0, or -1 (out of memory). */
int	 up_header(struct up_call *, const char *name, const char *value);
/* Adds "Authorization: Bearer <token>" (left out when over 1 KiB), wiping the copies
   it made. 0, or -1 (out of memory). */
int	 up_bearer(struct up_call *, const char *token);
/*
 * Checks an upstream base URL ([upstream] url and hub_url, an [endpoint]'s url,
 * --upstream) with libcurl's URL parser, as the calls will read it: http:// or
 * https://, a host, a valid port, no user name or password, no query or fragment (the
 * calls append their paths). 0, or -1 with the reason in msg, which never quotes the
 * URL (it may hold a password). Pure: any thread.
 */
int	 up_check_url(const char *url, char *msg, size_t msglen);
/* An HTTP-date (IMF-fixdate, RFC 850, asctime, and the looser forms libcurl takes) as
   unix time, or -1. Pure: any thread. */
time_t	 up_http_date(const char *);
/* 1 once up_header has been called since the last up_release. */
int	 up_has_headers(const struct up_call *);
void	 up_free(void);
/* Starts (or restarts) the call. 0, or -1 with errbuf filled. */
int	 up_start(struct up_call *);
/* Stops a running call without calling on_done. No-op when not running. */
void	 up_cancel(struct up_call *);
/* Releases the easy handle and the headers; the call must not be running. Accepts a
   zeroed struct. */
void	 up_release(struct up_call *);
/* Asks for a paused call to be resumed; done by up_run_unpauses, outside MHD. */
void	 up_queue_unpause(struct up_call *);
void	 up_run_unpauses(void);
/* Number of calls running (for shutdown and stats). */
size_t	 up_running(void);

#endif
