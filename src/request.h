/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * request.h: one client request, split into the parts of the modules that work on it.
 * Each part is written by the one module named above it and only read by the others
 * (docs/design.md, "Ownership"). A request is created, found and freed by req.c only;
 * its transport part comes from http.c through the handler table.
 */
#ifndef HFGATE_REQUEST_H
#define HFGATE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "buf.h"
#include "cachedb.h"
#include "canon.h"
#include "config.h"
#include "http.h"
#include "limit.h"
#include "loop.h"
#include "route.h"
#include "sse.h"
#include "task.h"
#include "upstream.h"

/* Where the gateway is with a request (gw.c). */
enum gw_state {
	GW_READING,		/* headers seen, body arriving */
	GW_UPSTREAM,		/* an upstream attempt is running */
	GW_RETRY_WAIT,		/* waiting before the next attempt */
	GW_HUB_WAIT,		/* waiting for the Hub to name the model's task */
	GW_COALESCED,		/* waiting for an identical request's answer */
	GW_OFFLOADED,		/* an admin route waits for a helper thread */
	GW_STREAMING,		/* relaying an event stream */
	GW_REPLIED		/* a response is queued, or nothing more to do */
};

/* cache_part.state: what X-Cache says. */
#define CACHE_STATE_NONE	0	/* not an inference call: no X-Cache */
#define CACHE_STATE_BYPASS	1
#define CACHE_STATE_MISS	2
#define CACHE_STATE_HIT		3
#define CACHE_STATE_STALE	4

/* resolve.c: what the request goes to. */
struct resolve_part {
	char			 model[ROUTE_MODEL_MAX];
	const struct task_info	*task;		/* the route's or the endpoint's */
	char			*url;
	struct buf		 body;		/* the body sent upstream when not the
						   client's (a /v1 body rewritten) */
	int			 use_body;
	int			 v1_binary;	/* /v1 body converted to raw bytes */
	int			 sse;		/* the client asked for a stream */
	int			 openai;	/* an OpenAI route: its streams end with
						   [DONE], its errors are OpenAI's */
	int			 deterministic;	/* an OpenAI body whose answer repeats */
	int			 strip_usage;	/* hfgate asked for the usage chunk of
						   the stream: the client does not get it */
	/* The bridge (resolve_bridge): a 2023 text-generation or conversational call
	   sent to the OpenAI API, its answer translated back (gw.c, stream.c). */
	int			 bridge_checked;	/* decided, either way */
	struct bridge_how	 bridge;	/* kind BRIDGE_NONE: not bridged */
	struct buf		 client_body;	/* the 2023 body it was translated
						   from: the answer is translated with
						   it, and the cache keys on it */
	unsigned		 hub_ttl;	/* GET /api/models: seconds the Hub's answer
						   is kept (cache.c), 0: not kept */
	int			 embed;		/* OpenAI embeddings sent to hf-inference's
						   feature-extraction (embed.c), the
						   client's body in client_body */
	char			*key_target;	/* the cache key's target instead of
						   url: a bridged request's own route */
	int			 local;		/* GET /status, /framework on today's
						   router: answered from the Hub (local.c) */
	const char		*gone_key;	/* the config key to name on a 410 */
	int			 wait_for_model;
	uint64_t		 deadline;	/* loop ms */
};

/* admit.c: the caller, its rights and limits. */
struct admit_part {
	const struct cfg_client	*client;	/* borrowed from the request's cfg; NULL:
						   no keys */
	int			 admitted;	/* holds a limit_admit slot */
	struct limit_verdict	 rl;		/* X-RateLimit-* to send */
};

/* gw.c: the upstream call, its retries and the buffered answer. */
struct call_part {
	struct up_call		 up;		/* its request half (url, body, sse,
						   headers) is resolve.c's, its callbacks
						   and connect timeout gw.c's, its response
						   half upstream.c's */
	struct buf		 out;		/* response body being received */
	int			 too_large;
	int			 leaked;	/* the answer holds the token: withheld */
	size_t			 max_response;
	unsigned		 attempts;	/* upstream calls made */
	unsigned		 failures;	/* counted against max_attempts */
	struct loop_timer	 retry_timer;
	struct loop_timer	 deadline_timer;
	/* the last answer kept while retrying, relayed if the deadline ends the wait */
	long			 last_status;
	double			 last_loading;	/* estimated_time of the last 503, -1 if none */
	struct buf		 last_body;
	char			 last_ctype[128];
	struct buf		 last_relay;
	uint64_t		 up_ms;		/* upstream time of every attempt */
	uint64_t		 tokens;	/* generated tokens of a buffered answer */
	uint64_t		 prompt_tokens;	/* its prompt tokens (OpenAI's usage) */
	int			 stream_open;	/* counted as an open stream (metrics.c) */
};

/* stream.c: relaying an event stream. `buf` holds the bytes not yet sent. */
struct stream_part {
	struct buf		 buf;
	/* a bridged stream (res.bridge): the upstream's OpenAI chunks are converted
	   to TGI's events as they are taken in; conv holds the last write's, which is
	   what the cache and the followers get (gw.c) */
	struct bridge_sse	 bridge;
	struct buf		 conv;
	size_t			 off;		/* bytes of `buf` already sent */
	size_t			 ready;		/* bytes of `buf` that end a line */
	int			 up_done;	/* upstream over: send the rest, then end */
	int			 failed;	/* no way to end it cleanly: cut it */
	struct sse_scan		 sse;
	uint64_t		 last_up_ms;	/* last upstream bytes (idle timeout) */
	uint64_t		 last_beat_ms;	/* last upstream bytes or heartbeat */
	uint64_t		 end_ms;	/* total_timeout */
	uint64_t		 stall_ms;	/* paused since, 0 when not paused */
	uint64_t		 bytes_out;
	uint64_t		 tokens;	/* of the final event */
	uint64_t		 prompt_tokens;	/* of the usage chunk */
	/* direct writes: while suspended in the content reader, events go straight to
	   the socket, one chunk each, instead of a resume and a suspend per event */
	int			 direct;
	int			 direct_fd;	/* the client's socket then */
	int			 push_queued;	/* on stream.c's list for the next flush */
	struct gw_req		*push_next;
	char			 frame_head[20];	/* "<hex size>\r\n" */
	size_t			 frame_head_len;
	size_t			 frame_len;	/* bytes of `buf` in the frame, 0: none */
	size_t			 frame_sent;	/* of head, bytes and CRLF */
	struct loop_timer	 timer;
};

/* cache.c: the result cache's view of the request. */
struct cache_part {
	int			 state;		/* CACHE_STATE_*: the X-Cache to report */
	int			 store;		/* store a 2xx answer */
	uint8_t			 key[CANON_KEY_LEN];
	char			 key_hex[2 * CANON_KEY_LEN + 1];
	int64_t			 expires;	/* of a stored answer, unix seconds */
	int64_t			 age;		/* of a served entry, seconds */
	int			 lookup;	/* looked up (not no-cache) */
	long			 max_age;	/* Cache-Control: max-age, -1: none */
	uint32_t		 mark;		/* dbw_pending_mark before the look-up */
	struct buf		 copy;		/* a stream's bytes, to store at its end */
	struct cache_entry	*stale;		/* expired entry for stale-if-error */
};

/* flight.c: identical requests sharing one upstream call. */
struct flight_part {
	int			 leader;	/* others wait for this request's answer */
	int			 waiting;	/* waits for another request's answer */
	uint8_t			 key[CANON_KEY_LEN];
};

struct gw_req {
	/* req.c */
	uint64_t		 serial;	/* unique in the process */
	struct gw_req		*prev, *next;	/* this thread's live requests */
	struct config		*cfg;		/* the configuration it started under (a
						   reference): read for its whole life */
	/* http.c */
	struct http_req		 tr;
	/* gw.c */
	enum gw_state		 state;
	int			 client_gone;	/* the gateway gave up on the client */
	char			 request_id[72];
	struct route		 route;
	struct call_part	 call;
	/* the other modules' parts */
	struct resolve_part	 res;
	struct admit_part	 who;
	struct stream_part	 st;
	struct cache_part	 cache;
	struct flight_part	 flight;
	/* reply.c: body bytes of a buffered reply */
	uint64_t		 reply_bytes;
};

#endif
