/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * http.c: the transport. libmicrohttpd in external epoll mode on the loop: connections,
 * request heads (parsed once into struct http_head), bodies, replies, suspend and
 * resume, and the socket of a stream written to directly. It knows nothing of what a
 * request means: the layer above is called through the handler table given to
 * http_start, and embeds a struct http_req in its own request (docs/design.md).
 */
#ifndef HFGATE_HTTP_H
#define HFGATE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "peer.h"

struct MHD_Connection;
/* A response being built (libmicrohttpd's, opaque above the transport). */
struct http_resp;

/*
 * The request head, read once when it is complete. The strings are borrowed from the
 * connection and stay valid until the request completes; NULL when absent.
 */
struct http_head {
	const char	*method;	/* static: GET POST HEAD OPTIONS PUT DELETE PATCH
					   or OTHER */
	char		*path;		/* decoded, without the query (a copy) */
	int		 http10;	/* HTTP/1.0: no chunked replies */
	uint64_t	 start_ms;	/* loop ms when the head was complete */
	/* the request headers hfgate uses */
	const char	*authorization, *api_key, *content_type, *content_length,
			*accept, *user_agent, *request_id, *timeout, *x_model,
			*wait_for_model, *use_cache, *load_model, *amzn_trace_id,
			*cache_control, *origin, *bill_to,	/* X-HF-Bill-To */
			*acr_headers;	/* Access-Control-Request-Headers */
	char		*query;		/* the query string, re-encoded ("a=1&b=x%20y"),
					   NULL when there is none (a copy) */
	/* the query arguments hfgate uses */
	const char	*q_model, *q_from, *q_to, *q_client;
};

/* Why the transport refuses a request: the layer above answers with this JSON error. */
struct http_error {
	unsigned	 status;	/* a 4xx or 503; 0: none */
	const char	*type;		/* its error_type (static) */
	char		 msg[200];
	unsigned	 retry_after;	/* seconds for Retry-After, 0: none */
};

/*
 * The transport's part of a request: written by http.c only, read above. Embedded in
 * the request of the layer above, which creates it through the handler table and
 * frees it after completed (calling http_req_release first).
 */
struct http_req {
	struct MHD_Connection	*conn;
	struct http_head	 head;
	struct peer_addr	 client;	/* the peer, or the client a trusted proxy
						   forwards; AF_UNSPEC when unknown */
	struct http_error	 error;		/* set before refuse is called */
	/* body */
	struct buf		 in;
	size_t			 in_total;	/* bytes received, even past the cap */
	size_t			 in_max;	/* the cap (max_body_bytes) */
	size_t			 in_held;	/* bytes of max_body_memory it holds */
	int			 reading;	/* the layer above wants the body */
	struct loop_timer	 body_timer;	/* body_timeout and the checks of a body
						   still arriving */
	uint64_t		 body_due;	/* loop ms */
	size_t			 tick_total;	/* in_total at the last check */
	int			 tick_waiting;	/* unread bytes at the socket then */
	int			 hup_seen;	/* the client shut its side down meanwhile */
	/* connection state */
	int			 in_handler;	/* inside MHD's access handler */
	int			 suspended;
	int			 gone;		/* hung up, dropped or abandoned */
	int			 streaming;	/* a stream response was queued */
	int			 replied;	/* a response was queued or is kept */
	int			 probed;	/* the client half-closed: sent a 100 */
	int			 closing;	/* shut down by the transport: MHD closes */
	int			 answered;	/* replied to by the transport itself */
	struct loop_watch	 hup;		/* client fd while suspended or reading */
	struct loop_timer	 hup_timer;	/* arms `hup` for a longer wait */
	int			 want_out;	/* `hup` also watches for EPOLLOUT */
	int			 nodelay;	/* TCP_NODELAY set for direct writes */
	struct http_resp	*resp;		/* to queue once resumed */
	unsigned		 status;	/* of the reply, for the log */
	uint64_t		 bytes_out;	/* body bytes of a buffered reply */
};

/* The layer above. Every call runs on the loop thread. */
struct http_handlers {
	/* A request head is complete: a zeroed http_req inside a new request of the layer
	   above, or NULL (out of memory: the connection closes). */
	struct http_req	*(*create)(void);
	/* The head is in hr->head: reply, or set hr->reading through http_read_body to
	   get the body, then body(). */
	void	 (*head)(struct http_req *);
	void	 (*body)(struct http_req *);
	/* The transport refuses the request, instead of head or body: reply with the JSON
	   error of hr->error (its head is read, its body perhaps not all). */
	void	 (*refuse)(struct http_req *);
	/* The client hung up while suspended. */
	void	 (*gone)(struct http_req *);
	/* The socket of a stream written to directly has room (http_want_writable). */
	void	 (*writable)(struct http_req *);
	/* The request is over (ok: its reply went out in full): the layer above frees it. */
	void	 (*completed)(struct http_req *, int ok);
};

/*
 * Binds every address of cfg->listens (TLS ones with cfg->tls_cert and tls_key) and
 * serves them on this thread's loop, one MHD daemon each. ports[i] is the port to bind
 * for listens[i] (0: the OS picks); with nthreads > 1, that many loop threads bind the
 * same ports (SO_REUSEPORT) and share max_connections. bound[i] receives the port
 * bound. h is borrowed for the thread's life. 0, or -1 with err.
 */
int	 http_start(const struct config *cfg, const struct http_handlers *h,
	    const unsigned *ports, unsigned nthreads, unsigned *bound, char *err,
	    size_t errlen);
/* This thread's transport settings (allow list, caps, timeouts) from cfg (a reference
   is taken, the previous one dropped; NULL drops it): at start and on reload. */
void	 http_configure(struct config *cfg);
/* Stops accepting new connections (shutdown begins). */
void	 http_quiesce(void);
/* Stops the daemons: the layer above has ended or dropped every request. */
void	 http_stop(void);
/* libmicrohttpd's version ("0.9.75"), static. */
const char *http_lib_version(void);
/* The loop's after-hook: unpauses, MHD_run; returns the longest sleep in ms. */
int64_t	 http_after(void);

/* Asks for the body (from the head handler). */
void	 http_read_body(struct http_req *);
/* Suspends the connection (only from an MHD callback) and watches for a hang-up: at
   once with watch_now (a stream), else after a short wait. */
void	 http_suspend(struct http_req *, int watch_now);
/* Resumes the connection if suspended; safe from anywhere on the loop. */
void	 http_wake(struct http_req *);
/* The layer above gives up on the client: the connection closes without a reply. */
void	 http_abandon(struct http_req *);
/* Shuts the client's socket down, so MHD closes the connection even while it waits to
   write to a client that stopped reading. */
void	 http_drop(struct http_req *);
/*
 * The client's socket, for a stream that writes events straight to it while its
 * connection is suspended inside the content reader (MHD has then sent all it had):
 * -1 over TLS or without a hang-up watch.
 */
int	 http_stream_fd(struct http_req *);
/* Watches the stream's socket for room to write (handlers' writable); 0 or -1. */
int	 http_want_writable(struct http_req *, int on);
/* Releases what the transport holds for hr (watches, timers, a kept response, the
   body, the path). Accepts a zeroed one. */
void	 http_req_release(struct http_req *);

/* 1 when a header's value says no: "false", "0" or "no" (any case); NULL is not. */
int	 http_value_false(const char *v);
/* The client's address as text, for logs: the peer's, or behind a trusted proxy the
   one it forwards. Static per-thread storage. */
const char *http_client_address(struct http_req *);
/* 1 when that address is a loopback one (127/8, ::1, v4-mapped). */
int	 http_client_loopback(struct http_req *);

/* Responses. Each returns NULL when out of memory; every function taking a response
   accepts NULL. */
/* A body of len bytes, taking data (malloc'd; freed even on failure). */
struct http_resp *http_resp_take(char *data, size_t len);
/* A copy of len bytes of data. */
struct http_resp *http_resp_copy(const char *data, size_t len);
/*
 * A body of unknown length read through read(arg, dst, max): > 0 bytes written, 0
 * nothing yet (the reader must have suspended the connection), HTTP_READ_END or
 * HTTP_READ_ERROR. Sent chunked, or raw until close to an HTTP/1.0 client.
 */
#define HTTP_READ_END	(-1)
#define HTTP_READ_ERROR	(-2)
struct http_resp *http_resp_stream(ssize_t (*read)(void *arg, char *dst, size_t max),
	    void *arg);
void	 http_resp_header(struct http_resp *, const char *name, const char *value);
/* Adds the upstream headers kept by upstream.c ("name\0value\0" pairs in relay; NULL
   accepted), except one named skip (NULL: none). */
void	 http_resp_relayed(struct http_resp *, const struct buf *relay, const char *skip);
void	 http_resp_free(struct http_resp *);
/*
 * Sends resp (taken) with status: queued at once inside the access handler,
 * otherwise kept and queued when the resumed connection calls it. NULL resp (out of
 * memory) closes the connection. http_reply_stream marks a stream response: the
 * hang-up watch then stays across suspends.
 */
void	 http_reply(struct http_req *, unsigned status, struct http_resp *);
void	 http_reply_stream(struct http_req *, unsigned status, struct http_resp *);

#endif
