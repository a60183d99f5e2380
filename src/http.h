/* http.c: the client side: libmicrohttpd in external epoll mode on the loop. */
#ifndef HFGATE_HTTP_H
#define HFGATE_HTTP_H

#include <stddef.h>

#include <microhttpd.h>

#include "config.h"
#include "gw.h"

/*
 * Binds every address of cfg->listens (TLS ones with cfg->tls_cert and tls_key) and
 * serves them on this thread's loop, one MHD daemon each. ports[i] is the port to bind
 * for listens[i] (0: the OS picks); with nthreads > 1, that many loop threads bind the
 * same ports (SO_REUSEPORT) and share max_connections. bound[i] receives the port
 * bound. 0, or -1 with err (nothing left listening).
 */
int	 http_start(const struct config *cfg, const unsigned *ports, unsigned nthreads,
	    unsigned *bound, char *err, size_t errlen);
/* Stops accepting new connections (shutdown begins). */
void	 http_quiesce(void);
/* Resumes every suspended connection and stops the daemons. */
void	 http_stop(void);
/* The loop's after-hook: unpauses, MHD_run; returns the longest sleep in ms. */
int64_t	 http_after(void);

/* Suspends the connection (only from an MHD callback) and watches for a hang-up. */
void	 http_suspend(struct gw_req *);
/* Resumes the connection if suspended; safe from anywhere on the loop. */
void	 http_wake(struct gw_req *);
/*
 * The client's socket, for a stream that writes events straight to it while its
 * connection is suspended inside the content reader (MHD has then sent all it had):
 * -1 over TLS or without a hang-up watch.
 */
int	 http_stream_fd(struct gw_req *);
/* Watches the stream's socket for room to write (stream_writable); 0 or -1. */
int	 http_want_writable(struct gw_req *, int on);
/* Shuts the client's socket down, so MHD closes the connection even while it waits to
   write to a client that stopped reading. */
void	 http_drop(struct gw_req *);

/*
 * Sends resp with status: queued at once inside the access handler, otherwise kept
 * and queued when the resumed connection calls the handler. Takes resp. Adds the
 * common headers (request id, CORS, model, attempts).
 */
void	 http_reply(struct gw_req *, unsigned status, struct MHD_Response *resp);
/* A JSON error {"error": msg, "error_type": type}, to add headers to before
   http_reply (NULL when out of memory; http_reply accepts it). */
struct MHD_Response *http_json_error(const char *type, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The client's address as text, for logs. Static per-thread storage. */
const char *http_client_address(struct gw_req *);
/* 1 when the client connects from a loopback address (127/8, ::1, v4-mapped). */
int	 http_client_loopback(struct gw_req *);
/* A JSON error {"error": msg, "error_type": type}. */
void	 http_reply_error(struct gw_req *, unsigned status, const char *type,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Replies with a copy of len bytes of data as Content-Type ctype (NULL: none). */
void	 http_reply_copy(struct gw_req *, unsigned status, const char *ctype,
	    const char *data, size_t len);
/* Replies with malloc'd data, taking it. */
void	 http_reply_take(struct gw_req *, unsigned status, const char *ctype,
	    char *data, size_t len);
/* Adds the upstream headers kept by upstream.c ("name\0value\0" pairs in relay; NULL
   accepted) to resp, except one named skip (NULL: none). */
void	 http_add_relayed(struct MHD_Response *resp, const struct buf *relay,
	    const char *skip);
/* Looks up a request header (case-insensitive); NULL if absent. Borrowed. */
const char *http_header(struct gw_req *, const char *name);
const char *http_query(struct gw_req *, const char *name);
/* 1 when the request header name says no: "false", "0" or "no" (any case). */
int	 http_header_false(struct gw_req *, const char *name);

#endif
