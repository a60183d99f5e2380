/* gw.c: what the gateway does with a request: routes, upstream calls, retries, replies. */
#ifndef HFGATE_GW_H
#define HFGATE_GW_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "route.h"
#include "sse.h"
#include "cachedb.h"
#include "limit.h"
#include "task.h"
#include "upstream.h"

enum gw_state {
	GW_READING,		/* headers seen, body arriving */
	GW_UPSTREAM,		/* an upstream attempt is running */
	GW_RETRY_WAIT,		/* waiting before the next attempt */
	GW_REPLIED,		/* a response is queued or waiting to be queued */
	GW_STREAMING,		/* relaying an event stream */
	GW_COALESCED		/* waiting for an identical request's answer */
};

/*
 * One client request. Owned by its MHD connection: created on the first call of the
 * access handler, freed only by http's completed callback (gw_req_free).
 */
struct gw_req {
	struct MHD_Connection	*conn;
	uint64_t		 serial;	/* unique in the process */
	struct gw_req		*prev, *next;	/* live requests, for shutdown */
	const char		*method;	/* static string */
	char			*path;		/* copy, for the log */
	struct route		 route;
	uint64_t		 start_ms;
	char			 request_id[72];
	unsigned		 head_error;	/* 414 or 431: http.c found the request
						   head over a [server] cap */

	/* the caller: client keys and limits (auth.c, limit.c) */
	struct config		*cfg;		/* configuration when it started (a
						   reference: its client stays valid
						   across a reload) */
	const struct cfg_client	*client;	/* borrowed from cfg; NULL: no keys */
	int			 admitted;	/* holds a limit_admit slot */
	struct limit_verdict	 rl;		/* X-RateLimit-* to send */

	/* body */
	struct buf		 in;
	size_t			 in_total;	/* bytes received, even past the cap */
	int			 in_failed;	/* out of memory keeping the body */

	/* http.c state */
	enum gw_state		 state;
	int			 in_handler;	/* inside the access handler */
	int			 suspended;
	int			 client_gone;
	struct loop_watch	 hup;		/* client fd while suspended */
	struct loop_timer	 hup_timer;	/* arms `hup` for a longer wait */
	int			 want_out;	/* `hup` also watches for EPOLLOUT */
	int			 http10;	/* HTTP/1.0: MHD sends no chunks */
	int			 nodelay;	/* TCP_NODELAY set for direct writes */
	struct MHD_Response	*resp;		/* to queue once resumed */
	unsigned		 status;	/* for the log */
	uint64_t		 bytes_out;
	/* usage (issue 5): upstream time of every attempt (gw_on_done), tokens generated
	   (gw_relay, stream_done) */
	uint64_t		 up_ms, tokens;

	/* resolution */
	char			 model[ROUTE_MODEL_MAX];
	const struct task_info	*task;
	char			*url;
	struct buf		 body;		/* the body sent upstream when not `in` */
	int			 use_body;
	int			 v1_binary;	/* /v1 body converted to raw bytes */
	int			 wait_for_model;
	uint64_t		 deadline;	/* loop ms */
	size_t			 max_response;

	/* upstream */
	struct up_call		 up;
	struct curl_slist	*up_headers;
	struct buf		 out;		/* response body being received */
	int			 too_large;
	unsigned		 attempts;	/* upstream calls made */
	unsigned		 failures;	/* counted against max_attempts */
	struct loop_timer	 retry_timer;
	struct loop_timer	 deadline_timer;
	/* last answer kept while retrying, relayed if the deadline ends the wait */
	long			 last_status;
	double			 last_loading;	/* estimated_time of the last 503, -1 if none */
	struct buf		 last_body;
	char			 last_ctype[128];
	struct buf		 last_relay;

	/* stream relay (stream.c): `out` holds the bytes not yet sent */
	size_t			 out_off;	/* bytes of `out` already sent */
	size_t			 out_ready;	/* bytes of `out` that end a line */
	int			 up_done;	/* upstream over: send the rest, then end */
	struct sse_scan		 sse;
	uint64_t		 last_up_ms;	/* last upstream bytes (idle timeout) */
	uint64_t		 last_beat_ms;	/* last upstream bytes or heartbeat */
	uint64_t		 stream_end_ms;	/* total_timeout */
	uint64_t		 stall_ms;	/* paused since, 0 when not paused */
	/* direct writes (stream.c): while suspended in stream_read, events go straight
	   to the socket, one chunk each, instead of a resume and a suspend per event */
	int			 direct;
	int			 direct_fd;	/* the client's socket then */
	int			 push_queued;	/* on stream.c's list for the next flush */
	struct gw_req		*push_next;
	char			 frame_head[20];	/* "<hex size>\r\n" */
	size_t			 frame_head_len;
	size_t			 frame_len;	/* bytes of `out` in the frame, 0: none */
	size_t			 frame_sent;	/* of head, bytes and CRLF */
	struct loop_timer	 stream_timer;

	/* result cache (cache.c) */
	int			 cache_state;	/* CACHE_STATE_*: the X-Cache to report */
	int			 cache_store;	/* store a 2xx answer */
	int			 cache_leader;	/* others wait for this request's answer */
	int			 cache_waiting;	/* waits for another request's answer */
	uint8_t			 cache_key[32];
	char			 cache_key_hex[65];
	int64_t			 cache_expires;	/* of a stored answer, unix seconds */
	int64_t			 cache_age;	/* of a served entry, seconds */
	struct buf		 cache_copy;	/* a stream's bytes, to store at its end */
	struct cache_entry	*cache_stale;	/* expired entry for stale-if-error */
};

/* Makes cfg (with its token) this thread's configuration: takes a reference to it and
   drops the one to the previous configuration. NULL drops it. Returns 0 or -1. */
int	 gw_configure(struct config *cfg);
const struct config *gw_config(void);
/* "Authorization: Bearer <token>" for upstream calls, NULL when anonymous. Borrowed;
   never log it. */
const char *gw_auth_header(void);

/* Access-handler steps (http.c). Each may reply through http_reply*. */
void	 gw_begin(struct gw_req *);	/* headers complete */
void	 gw_handle(struct gw_req *);	/* body complete */
void	 gw_client_gone(struct gw_req *);
void	 gw_req_free(struct gw_req *);	/* the only place a request is freed */

/* Shutdown: stop retries and end every request still running. */
void	 gw_cancel_all(const char *why);
/* Drops every connection still suspended (a stream writing to a slow client): the
   last step before libmicrohttpd stops. */
void	 gw_drop_suspended(void);
size_t	 gw_live(void);
void	 gw_link(struct gw_req *);
/* The live request of this thread with that serial, or NULL. */
struct gw_req *gw_find(uint64_t serial);
/* The task of the request's model when known: the route's, the endpoint's, the default
   table's, or the Hub's pipeline tag (looked up in the background). */
const struct task_info *gw_task(struct gw_req *);
/* Starts the upstream call (again); used when a coalesced request goes on its own. */
void	 gw_go_upstream(struct gw_req *);
/* Relays an answer (taking body and relay) as the upstream's. */
void	 gw_relay(struct gw_req *, long status, struct buf *body, const char *ctype,
	    struct buf *relay, const char *retry_after);

#endif
