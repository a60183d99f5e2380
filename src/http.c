/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The transport: libmicrohttpd in external epoll mode, driven by the loop
 * (docs/design.md, "libmicrohttpd"). A connection waiting on the upstream is suspended;
 * while suspended, MHD neither reads its socket nor notices a hang-up, so its fd is
 * watched here for EPOLLRDHUP and the layer above hears of a client that left (after a
 * probe that tells a client that only half-closed from one that went away).
 * This is the only module that speaks libmicrohttpd.
 *
 * Each loop thread runs one daemon per listening address ([server] listen and
 * tls_listen). The network limits of [server] are applied here: the allow list when a
 * connection is accepted (and per request behind a trusted proxy), the per-address
 * connection count and the request-head deadline (slowloris) per connection, the checks
 * of the request target and the head size caps on a request's first call, and while a
 * body arrives its deadline, the memory all bodies hold, and the client's hang-up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "reuseport.h"
#include "upstream.h"

#define HTTP_POOL_BYTES		(16 * 1024)
#define HTTP_POOL_SLACK		(8 * 1024)	/* pool beyond the capped head */
#define HTTP_MAX_ARGS		64		/* query arguments; more: 414 */
#define HTTP_RECORD_BYTES	64		/* pool bytes MHD takes per argument */
#define HTTP_HUP_DELAY_MS	200
#define HTTP_BODY_TICK_MS	250		/* checks of a body still arriving */
#define HTTP_LINGER_MS		2000		/* reading what follows our own answer */
#define HTTP_BACKLOG		1024
#define HTTP_PROBE		"HTTP/1.1 100 Continue\r\n\r\n"
#define HTTP_FWD_LINES		16		/* X-Forwarded-For lines read, the last */

/* One listening address served by this thread. */
struct http_daemon {
	struct MHD_Daemon	*d;
	int			 tls;		/* GnuTLS owns the socket's bytes */
	struct loop_watch	 watch;		/* MHD's epoll fd */
	/* MHD_run is only needed after MHD's epoll fd fired, a resume, or its
	   timeout. */
	int			 pending;
	uint64_t		 due;		/* loop ms, 0: no timeout */
};

/* One client connection (MHD's socket context), from NOTIFY_CONNECTION's STARTED to
   its CLOSED, across the requests of a keep-alive connection. */
struct http_conn {
	struct http_daemon	*hd;
	MHD_socket		 fd;
	struct peer_addr	 peer;
	int			 counted;	/* in peer.c's count */
	struct loop_timer	 head_timer;	/* request head deadline */
	unsigned		 head_secs;	/* of the armed deadline, for the log */
	int			 bad_target;	/* of the request line just read */
};

/* What http_on_uri found in a request target. */
#define HTTP_TARGET_NUL		1	/* "%00" */
#define HTTP_TARGET_ARGS	2	/* more than HTTP_MAX_ARGS query arguments */

static _Thread_local struct http_daemon	 http_ds[CFG_MAX_LISTEN];
static _Thread_local const struct http_handlers *http_h;
static _Thread_local struct config	*http_cfg;
static _Thread_local size_t		 http_nd;
static _Thread_local int			 http_quiesced;
static _Thread_local char		 http_mhd_err[256];	/* MHD's last message */

/* Bytes of request bodies held by every connection of the process (max_body_memory). */
static size_t				 http_body_bytes;

static void	http_body_refuse(struct http_req *);
static void	http_body_hup(struct http_req *);
static void	http_unhold(struct http_req *);

static void
http_mhd_log(void *arg, const char *fmt, va_list ap)
{
	char	msg[512];
	size_t	len;

	(void)arg;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_debug("libmicrohttpd: %s", msg);
	/* The first one is kept for http_start's error: why a TLS key or certificate
	   was refused (what follows is "Failed to initialize TLS support"). */
	if (http_mhd_err[0] == '\0')
		snprintf(http_mhd_err, sizeof(http_mhd_err), "%s", msg);
}

/*
 * A response: MHD's, and for a buffered one its body, which MHD gives no access to
 * once it holds it: the transport writes it itself when MHD cannot (http_answer).
 */
struct http_resp {
	struct MHD_Response	*mr;
	const char		*body;		/* owned by mr; NULL for a stream */
	size_t			 len;
};

static struct http_resp *
http_resp_wrap(struct MHD_Response *mr, const char *body, size_t len)
{
	struct http_resp	*r;

	if (mr == NULL)
		return (NULL);
	if ((r = malloc(sizeof(*r))) == NULL) {
		MHD_destroy_response(mr);
		return (NULL);
	}
	r->mr = mr;
	r->body = body;
	r->len = len;
	return (r);
}

int
http_value_false(const char *v)
{
	return (v != NULL && (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
	    strcasecmp(v, "no") == 0));
}

void
http_configure(struct config *cfg)
{
	cfg_ref(cfg);
	cfg_unref(http_cfg);
	http_cfg = cfg;
}

/* The connection's socket context, NULL if it has none (out of memory at its start). */
static struct http_conn *
http_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return (ci != NULL ? ci->socket_context : NULL);
}

/* The daemon of conn needs MHD_run (every daemon when conn's is unknown). */
static void
http_mark_pending(struct MHD_Connection *conn)
{
	struct http_conn	*hc = http_conn_of(conn);
	size_t			 i;

	if (hc != NULL)
		hc->hd->pending = 1;
	else
		for (i = 0; i < http_nd; i++)
			http_ds[i].pending = 1;
}

int
http_client_loopback(struct http_req *req)
{
	return (peer_loopback(&req->client));
}

const char *
http_client_address(struct http_req *req)
{
	static _Thread_local char	 text[PEER_NAME_MAX];

	if (req->client.family == AF_UNSPEC)
		return ("-");
	peer_format(&req->client, text, sizeof(text));
	return (text);
}

/* The connection's socket, -1 when MHD does not say. */
static int
http_fd(struct http_req *req)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return (ci != NULL ? ci->connect_fd : -1);
}

/* What `hup` watches besides errors and a full hang-up, which epoll always reports: a
   half-close until the probe went out (http_probe), room for a stream's direct writes. */
static uint32_t
http_hup_events(const struct http_req *req, int out)
{
	return ((req->probed ? 0 : EPOLLRDHUP) | (out ? EPOLLOUT : 0));
}

/*
 * The client shut its sending side while it waits for its answer: did it go away, or
 * only half-close (shutdown(SHUT_WR) after a complete request, which HTTP allows and
 * nginx answers)? Both leave this socket in CLOSE_WAIT with nothing more to read, and
 * TCP_INFO shows no difference either: it only shows once bytes reach the client,
 * whose kernel answers them with a reset when its socket is closed. So the probe is
 * an interim "100 Continue", which an HTTP/1.1 client skips before the final answer
 * (RFC 9110, 15.2): a reset then (EPOLLERR, EPOLLHUP) means the client is gone, and
 * without one the request goes on and is answered. There is no probe over TLS (GnuTLS
 * owns the socket's bytes), to HTTP/1.0 (no 1xx) or once a stream's head is out: the
 * hang-up counts as the client leaving there. 0 when the probe went out.
 */
static int
http_probe(struct http_req *req)
{
	const struct http_conn	*hc = http_conn_of(req->conn);
	int			 fd;

	if (req->probed || req->streaming || req->head.http10 || hc == NULL ||
	    hc->hd->tls || (fd = http_fd(req)) == -1 ||
	    send(fd, HTTP_PROBE, sizeof(HTTP_PROBE) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)(sizeof(HTTP_PROBE) - 1))
		return (-1);
	req->probed = 1;
	return (loop_watch_mod(&req->hup, http_hup_events(req, req->want_out)));
}

static void
http_on_hup(struct loop_watch *w, uint32_t events)
{
	struct http_req	*req = w->arg;

	if (req->reading) {
		http_body_hup(req);
		return;
	}
	/* Writable, with no hang-up: a stream writing straight to its client. */
	if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0 &&
	    (events & EPOLLOUT) != 0) {
		http_h->writable(req);
		return;
	}
	/* Only its sending side shut: perhaps a half-close (http_probe). */
	if ((events & (EPOLLHUP | EPOLLERR)) == 0 && http_probe(req) == 0)
		return;
	loop_watch_del(&req->hup);
	req->want_out = 0;
	if (req->gone)
		return;
	req->gone = 1;
	http_h->gone(req);
	http_wake(req);
}

static void
http_watch_hup(struct http_req *req)
{
	if (req->hup.added || (req->hup.fd = http_fd(req)) == -1)
		return;
	req->hup.cb = http_on_hup;
	req->hup.arg = req;
	(void)loop_watch_add(&req->hup, http_hup_events(req, 0));
}

static void
http_on_hup_timer(struct loop_timer *t)
{
	struct http_req	*req = t->arg;

	if (req->suspended)
		http_watch_hup(req);
}

void
http_read_body(struct http_req *req)
{
	req->reading = 1;
}

void
http_suspend(struct http_req *req, int watch_now)
{
	if (req->suspended || req->gone)
		return;
	MHD_suspend_connection(req->conn);
	req->suspended = 1;
	/*
	 * A suspended connection's hang-up is only seen through our own watch
	 * (docs/design.md, "libmicrohttpd"). A stream watches at once; a plain request only once
	 * it has waited HTTP_HUP_DELAY_MS, which spares two epoll_ctl calls on every
	 * quick answer and still cancels a long upstream call soon after its client left.
	 */
	if (req->streaming || watch_now)
		http_watch_hup(req);	/* stays while streaming: see http_wake */
	else {
		req->hup_timer.cb = http_on_hup_timer;
		req->hup_timer.arg = req;
		loop_timer_set(&req->hup_timer, HTTP_HUP_DELAY_MS);
	}
}

void
http_wake(struct http_req *req)
{
	if (!req->suspended)
		return;
	/*
	 * A stream suspends and resumes once per event: its watch stays (a hang-up seen
	 * while MHD owns the fd is harmless), saving two epoll_ctl calls per event.
	 * Other requests drop it before MHD takes the fd back.
	 */
	loop_timer_cancel(&req->hup_timer);
	if (!req->streaming)
		loop_watch_del(&req->hup);
	else if (req->want_out)
		http_want_writable(req, 0);	/* MHD writes from now on */
	req->suspended = 0;
	MHD_resume_connection(req->conn);
	http_mark_pending(req->conn);
}

void
http_abandon(struct http_req *req)
{
	req->gone = 1;
	http_wake(req);
}

int
http_stream_fd(struct http_req *req)
{
	const union MHD_ConnectionInfo	*ci;
	const struct http_conn		*hc = http_conn_of(req->conn);
	int				 on = 1;

	if (!req->suspended || !req->hup.added || hc == NULL || hc->hd->tls)
		return (-1);
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return (-1);
	/*
	 * MHD sent the head with MSG_MORE, expecting a body to push it: an event sent
	 * by itself must not wait for Nagle either. Setting TCP_NODELAY also sends
	 * what is pending (MHD sets it again, harmlessly, when it writes next).
	 */
	if (!req->nodelay &&
	    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
		req->nodelay = 1;
	return (ci->connect_fd);
}

int
http_want_writable(struct http_req *req, int on)
{
	if (req->want_out == on)
		return (0);
	if (!req->hup.added || loop_watch_mod(&req->hup, http_hup_events(req, on)) == -1)
		return (-1);
	req->want_out = on;
	return (0);
}

void
http_drop(struct http_req *req)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)shutdown(ci->connect_fd, SHUT_RDWR);
	http_wake(req);
}

static void
http_queue(struct http_req *req, unsigned status, struct http_resp *resp)
{
	if (resp == NULL) {
		/* Out of memory building it: drop the connection rather than hang. */
		req->status = 500;
		req->replied = 1;
		http_abandon(req);
		return;
	}
	if (http_quiesced)
		MHD_add_response_header(resp->mr, MHD_HTTP_HEADER_CONNECTION, "close");
	req->status = status;
	req->replied = 1;
	if (req->in_handler) {
		MHD_queue_response(req->conn, status, resp->mr);
		http_resp_free(resp);
		return;
	}
	if (req->gone) {
		http_resp_free(resp);
		return;
	}
	http_resp_free(req->resp);
	req->resp = resp;
	http_wake(req);
}

void
http_reply(struct http_req *req, unsigned status, struct http_resp *resp)
{
	http_queue(req, status, resp);
}

void
http_reply_stream(struct http_req *req, unsigned status, struct http_resp *resp)
{
	req->streaming = 1;
	http_queue(req, status, resp);
}

struct http_resp *
http_resp_take(char *data, size_t len)
{
	struct MHD_Response	*r;

	r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		free(data);
	return (http_resp_wrap(r, data, len));
}

struct http_resp *
http_resp_copy(const char *data, size_t len)
{
	char	*copy;

	if ((copy = malloc(len + 1)) == NULL)
		return (NULL);
	memcpy(copy, data, len);
	return (http_resp_take(copy, len));
}

/* The adapter between MHD's content reader and http_resp_stream's. */
struct http_reader {
	ssize_t	(*read)(void *, char *, size_t);
	void	 *arg;
};

static ssize_t
http_read_content(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct http_reader	*rd = cls;
	ssize_t			 n;

	(void)pos;
	n = rd->read(rd->arg, dst, max);
	if (n == HTTP_READ_END)
		return (MHD_CONTENT_READER_END_OF_STREAM);
	if (n == HTTP_READ_ERROR)
		return (MHD_CONTENT_READER_END_WITH_ERROR);
	return (n);
}

struct http_resp *
http_resp_stream(ssize_t (*read)(void *, char *, size_t), void *arg)
{
	struct MHD_Response	*r;
	struct http_reader	*rd;

	if ((rd = malloc(sizeof(*rd))) == NULL)
		return (NULL);
	rd->read = read;
	rd->arg = arg;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
	    http_read_content, rd, free);
	if (r == NULL)
		free(rd);
	return (http_resp_wrap(r, NULL, 0));
}

void
http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
	if (resp != NULL)
		MHD_add_response_header(resp->mr, name, value);
}

void
http_resp_relayed(struct http_resp *resp, const struct buf *relay, const char *skip)
{
	const char	*name, *value;
	size_t		 off;

	for (off = 0; resp != NULL && relay != NULL && relay->data != NULL &&
	    off < relay->len; ) {
		name = relay->data + off;
		value = name + strlen(name) + 1;
		if (skip == NULL || strcasecmp(name, skip) != 0)
			MHD_add_response_header(resp->mr, name, value);
		off = (size_t)(value - relay->data) + strlen(value) + 1;
	}
}

void
http_resp_free(struct http_resp *resp)
{
	if (resp == NULL)
		return;
	MHD_destroy_response(resp->mr);
	free(resp);
}

void
http_req_release(struct http_req *req)
{
	if (req == NULL)
		return;
	loop_watch_del(&req->hup);
	loop_timer_cancel(&req->hup_timer);
	loop_timer_cancel(&req->body_timer);
	http_resp_free(req->resp);
	req->resp = NULL;
	buf_free(&req->in);
	http_unhold(req);
	free(req->head.path);
	req->head.path = NULL;
	free(req->head.query);
	req->head.query = NULL;
}

static void	http_set_error(struct http_req *, unsigned, const char *, unsigned,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/* What the layer above is to refuse req with (the first reason found stands). */
static void
http_set_error(struct http_req *req, unsigned status, const char *type,
    unsigned retry_after, const char *fmt, ...)
{
	va_list	ap;

	if (req->error.status != 0)
		return;
	req->error.status = status;
	req->error.type = type;
	req->error.retry_after = retry_after;
	va_start(ap, fmt);
	vsnprintf(req->error.msg, sizeof(req->error.msg), fmt, ap);
	va_end(ap);
}

/* Takes n more bytes of max_body_memory for req. 0, or -1 when they do not fit. */
static int
http_hold(struct http_req *req, size_t n)
{
	size_t	max = http_cfg->max_body_memory, cur;

	cur = __atomic_load_n(&http_body_bytes, __ATOMIC_RELAXED);
	do {
		if (n > max || cur > max - n)
			return (-1);
	} while (!__atomic_compare_exchange_n(&http_body_bytes, &cur, cur + n, 1,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	req->in_held += n;
	return (0);
}

static void
http_unhold(struct http_req *req)
{
	if (req->in_held > 0)
		__atomic_sub_fetch(&http_body_bytes, req->in_held, __ATOMIC_RELAXED);
	req->in_held = 0;
}

static void
http_body_full(struct http_req *req)
{
	log_debug("%s %s from %s: no room for its body in max_body_memory",
	    req->head.method, req->head.path, http_client_address(req));
	http_set_error(req, 503, "unavailable", 1, "request bodies fill the gateway's "
	    "memory for them (max_body_memory, %zu bytes) at the moment: try again "
	    "shortly", http_cfg->max_body_memory);
}

/*
 * Room in req->in for n more bytes, within what req holds of max_body_memory: a body
 * of known length holds all of it from its head on (http_body_begin), one sent in
 * chunks grows by doubling, each step held first. 0, -1 when max_body_memory is full,
 * -2 when out of memory.
 */
static int
http_body_room(struct http_req *req, size_t n)
{
	size_t	need = req->in.len + n + 1, want;
	size_t	most = req->in_max < SIZE_MAX ? req->in_max + 1 : SIZE_MAX;

	if (need > req->in_held) {
		want = req->in_held < SIZE_MAX / 2 ? req->in_held * 2 : SIZE_MAX;
		if (want < 4096)
			want = 4096;
		if (want < need)
			want = need;
		if (want > most)
			want = most;	/* need fits: in_total + n <= in_max */
		if (http_hold(req, want - req->in_held) == -1)
			return (-1);
	}
	return (buf_grow(&req->in, req->in_held) == -1 ? -2 : 0);
}

/* Closes the connection without an answer: MHD sees its socket shut and closes it. */
static void
http_close(struct http_req *req)
{
	int	fd = http_fd(req);

	req->closing = 1;
	req->reading = 0;
	loop_timer_cancel(&req->body_timer);
	loop_watch_del(&req->hup);
	if (fd != -1)
		(void)shutdown(fd, SHUT_RDWR);
	http_mark_pending(req->conn);
}

/* Bytes the client sent that nobody has read from its socket yet, -1 if unknown. */
static int
http_unread(struct http_req *req)
{
	int	fd = http_fd(req), n;

	if (fd == -1 || ioctl(fd, FIONREAD, &n) == -1)
		return (-1);
	return (n);
}

static void
http_on_body_tick(struct loop_timer *t)
{
	struct http_req	*req = t->arg;
	uint64_t	 now = loop_now_ms();
	unsigned	 secs = (unsigned)((req->body_due - req->head.start_ms) / 1000);
	int		 unread;

	if (!req->reading)
		return;
	if (req->error.status != 0) {		/* from http_body_keep */
		http_body_refuse(req);
		return;
	}
	if (now >= req->body_due) {
		log_info("%s %s from %s: request body not received within %u s (%zu "
		    "bytes of it came)", req->head.method, req->head.path,
		    http_client_address(req), secs, req->in_total);
		http_set_error(req, 408, "timeout", 0, "the request body was not received "
		    "within %u s (body_timeout)", secs);
		http_body_refuse(req);
		return;
	}
	unread = http_unread(req);
	if (req->hup_seen && unread == 0) {
		log_info("%s %s from %s: the client hung up while sending its body (%zu "
		    "bytes of it came)", req->head.method, req->head.path,
		    http_client_address(req), req->in_total);
		http_close(req);
		return;
	}
	/*
	 * Bytes that MHD leaves unread at two checks in a row, with no body bytes from
	 * it in between: its buffer is full of one line of a chunked body (a chunk
	 * size with its extensions, or a trailer) that has not ended, and MHD would
	 * wait for connection_timeout without a word.
	 */
	if (unread > 0 && req->tick_waiting > 0 && req->in_total == req->tick_total) {
		http_set_error(req, 400, "bad_request", 0, "a line of the chunked request "
		    "body (a chunk size with its extensions, or a trailer) is too long");
		http_body_refuse(req);
		return;
	}
	req->tick_waiting = unread;
	req->tick_total = req->in_total;
	req->hup_seen = 0;
	http_watch_hup(req);
	loop_timer_set(t, req->body_due - now < HTTP_BODY_TICK_MS ?
	    req->body_due - now : HTTP_BODY_TICK_MS);
}

/*
 * The client shut its side while its body is read. MHD may still have to read what it
 * sent before (and GnuTLS may hold some of it): the next check, once MHD has run
 * (http_on_body_tick), tells a body that was all sent from a hang-up. MHD itself may
 * never notice: a read that returns less than asked for makes it wait for the next
 * edge of its edge-triggered epoll, and a FIN that came with the last bytes makes none.
 */
static void
http_body_hup(struct http_req *req)
{
	loop_watch_del(&req->hup);
	req->hup_seen = 1;
	http_mark_pending(req->conn);
	loop_timer_set(&req->body_timer, 1);
}

/*
 * The layer above wants the body (from the head handler): a body of known length takes
 * its room in max_body_memory now (503 when it does not fit: none of it is kept), a
 * chunked one as its bytes come; body_timeout starts, and the checks of a body still
 * arriving begin once MHD has read what came with the head.
 */
static void
http_body_begin(struct http_req *req)
{
	unsigned long long	 n = 0;
	char			*end;

	if (req->head.content_length != NULL) {
		n = strtoull(req->head.content_length, &end, 10);
		if (*end != '\0')
			n = 0;
	}
	if (n > 0 && n <= req->in_max && n < SIZE_MAX &&
	    http_hold(req, (size_t)n + 1) == -1) {
		req->reading = 0;
		http_body_full(req);
		http_h->refuse(req);
		return;
	}
	req->body_due = req->head.start_ms + (uint64_t)http_cfg->body_timeout * 1000;
	req->body_timer.cb = http_on_body_tick;
	req->body_timer.arg = req;
	req->tick_waiting = -1;
	loop_timer_set(&req->body_timer, 0);
}

/* n bytes of the body, kept (within in_max). Out of room, the request is refused. */
static void
http_body_keep(struct http_req *req, const char *data, size_t n)
{
	int	rc = http_body_room(req, n);

	if (rc == 0 && buf_append(&req->in, data, n) == 0)
		return;
	if (rc == -1)
		http_body_full(req);
	else
		http_set_error(req, 503, "unavailable", 1,
		    "out of memory receiving the request body");
	/* Answered from the loop, outside MHD's callbacks, or when the body ends. */
	loop_timer_set(&req->body_timer, 0);
}

static void
http_body_end(struct http_req *req)
{
	req->reading = 0;
	req->hup_seen = 0;
	loop_timer_cancel(&req->body_timer);
	loop_watch_del(&req->hup);
}

static enum MHD_Result
http_answer_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONNECTION) != 0 &&
	    strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		(void)buf_printf(cls, "%s: %s\r\n", key, value != NULL ? value : "");
	return (MHD_YES);
}

/*
 * Writes req->resp (taken) to fd as a whole answer that closes the connection, where
 * MHD cannot send it (http_body_refuse). Nothing of this request went out before, so
 * the answer, a short JSON error, fits the socket's buffer. 0, or -1.
 */
static int
http_answer(struct http_req *req, int fd)
{
	struct http_resp	*r = req->resp;
	struct buf		 out = { 0 };
	const char		*reason = MHD_get_reason_phrase_for(req->status);
	char			 date[64];
	struct tm		 tm;
	time_t			 now = time(NULL);
	size_t			 off = 0;
	ssize_t			 n;
	int			 rv = -1;

	req->resp = NULL;
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT",
	    gmtime_r(&now, &tm)) == 0 ||
	    buf_printf(&out, "HTTP/1.1 %u %s\r\nDate: %s\r\n", req->status,
	    reason[0] != '\0' ? reason : "Error", date) == -1)
		goto fail;
	MHD_get_response_headers(r->mr, http_answer_header, &out);
	if (buf_printf(&out, "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    r->len) == -1 || buf_append(&out, r->body, r->len) == -1)
		goto fail;
	while (off < out.len && (n = send(fd, out.data + off, out.len - off,
	    MSG_NOSIGNAL | MSG_DONTWAIT)) > 0)
		off += (size_t)n;
	if (off == out.len)
		rv = 0;
fail:
	buf_free(&out);
	http_resp_free(r);
	return (rv);
}

/* The lingering close is over: MHD sees the socket shut and closes the connection. */
static void
http_linger_end(struct http_req *req)
{
	int	fd = http_fd(req);

	loop_watch_del(&req->hup);
	loop_timer_cancel(&req->body_timer);
	if (fd != -1)
		(void)shutdown(fd, SHUT_RDWR);
	http_mark_pending(req->conn);
}

static void
http_on_linger(struct loop_watch *w, uint32_t events)
{
	struct http_req	*req = w->arg;
	char		 sink[4096];
	ssize_t		 n;

	(void)events;
	while ((n = recv(w->fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		http_linger_end(req);
}

static void
http_on_linger_timeout(struct loop_timer *t)
{
	http_linger_end(t->arg);
}

/*
 * Answers a request whose body is still arriving, from the loop: MHD only queues an
 * answer before the body or after all of it. The layer above builds the answer
 * (refuse) and the transport writes it itself, with "Connection: close", then shuts
 * its sending side and reads what the client still sends for HTTP_LINGER_MS, so that
 * the close does not reset the connection under the answer before the client read it
 * (a lingering close, as nginx does). Over TLS, where GnuTLS owns the socket's bytes,
 * the connection is only closed.
 */
static void
http_body_refuse(struct http_req *req)
{
	const struct http_conn	*hc = http_conn_of(req->conn);
	int			 fd = http_fd(req);

	http_body_end(req);
	if (hc == NULL || hc->hd->tls || fd == -1) {
		http_close(req);
		return;
	}
	http_h->refuse(req);
	if (req->resp == NULL || http_answer(req, fd) == -1) {
		http_close(req);
		return;
	}
	req->answered = 1;
	(void)shutdown(fd, SHUT_WR);
	req->hup.fd = fd;
	req->hup.cb = http_on_linger;
	req->hup.arg = req;
	req->body_timer.cb = http_on_linger_timeout;
	if (loop_watch_add(&req->hup, EPOLLIN | EPOLLRDHUP) == -1 ||
	    loop_timer_set(&req->body_timer, HTTP_LINGER_MS) == -1)
		http_linger_end(req);
}

static const char *
http_method_name(const char *m)
{
	static const char *const known[] = {
		"GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return (known[i]);
	return ("OTHER");
}

static enum MHD_Result
http_sum_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t	*sum = cls;

	(void)kind;
	*sum += strlen(key) + (value != NULL ? strlen(value) : 0);
	return (MHD_YES);
}

static enum MHD_Result
http_sum_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t	*sum = cls;

	(void)kind;
	/* '?' or '&', key, '=', value. */
	*sum += 1 + strlen(key) + (value != NULL ? 1 + strlen(value) : 0);
	return (MHD_YES);
}

/*
 * The request head over the [server] caps: 414 or 431. MHD hands over the path and the
 * query arguments decoded, so the target is measured decoded.
 */
static void
http_check_caps(struct http_req *req, const char *url, const struct config *cfg)
{
	size_t	n = strlen(url);

	if (n <= cfg->max_url_bytes)
		MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, http_sum_arg,
		    &n);
	if (n > cfg->max_url_bytes) {
		http_set_error(req, 414, "uri_too_long", 0, "the request target is over "
		    "the limit of %zu bytes", cfg->max_url_bytes);
		return;
	}
	n = 0;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_sum_value, &n);
	if (n > cfg->max_header_bytes)
		http_set_error(req, 431, "header_too_large", 0, "the request headers are "
		    "over the limit of %zu bytes", cfg->max_header_bytes);
}

/*
 * The request target as the client sent it: MHD calls this before it splits the query
 * off and decodes the rest (MHD_OPTION_URI_LOG_CALLBACK). A "%00" would decode to a
 * NUL that cuts the path or an argument short: 400. And MHD keeps each query argument
 * as a record in the connection's pool, which a target within max_url_bytes with an
 * argument every byte or two would exhaust, and MHD then answers nothing until
 * header_timeout: a query of more than HTTP_MAX_ARGS arguments is cut off here, before
 * MHD parses it, in MHD's own buffer (the line it is about to split in place), and the
 * request gets a 414. The pool holds HTTP_MAX_ARGS records (http_start_one).
 */
static void *
http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_conn	*hc = http_conn_of(conn);
	char			*query;
	const char		*p;
	size_t			 n = 1;

	(void)cls;
	if (hc == NULL || uri == NULL)
		return (NULL);
	hc->bad_target = strstr(uri, "%00") != NULL ? HTTP_TARGET_NUL : 0;
	if ((query = strchr(uri, '?')) == NULL)
		return (NULL);
	for (p = query + 1; *p != '\0'; p++)
		n += *p == '&';
	if (n > HTTP_MAX_ARGS) {
		query[1] = '\0';
		if (hc->bad_target == 0)
			hc->bad_target = HTTP_TARGET_ARGS;
	}
	return (NULL);
}

static void
http_on_head_timeout(struct loop_timer *t)
{
	struct http_conn	*hc = t->arg;
	char			 name[PEER_NAME_MAX];

	peer_format(&hc->peer, name, sizeof(name));
	log_info("closed %s: request head not received within %u s",
	    name[0] != '\0' ? name : "client", hc->head_secs);
	/* MHD sees the end of the stream and closes the connection (CLOSED). */
	(void)shutdown(hc->fd, SHUT_RDWR);
	hc->hd->pending = 1;
}

static void
http_head_deadline(struct http_conn *hc, unsigned secs)
{
	hc->head_secs = secs;
	(void)loop_timer_set(&hc->head_timer, (uint64_t)secs * 1000);
}

/*
 * A connection starts: counted against max_connections_per_ip across every loop thread
 * and address, then given header_timeout to send its first request head. Over the cap
 * its socket is shut down, so MHD closes it at once, without a response.
 */
static void
http_conn_start(struct http_daemon *hd, struct MHD_Connection *conn, void **ctx)
{
	const struct config		*cfg = http_cfg;
	const union MHD_ConnectionInfo	*ci;
	struct http_conn		*hc;
	char				 name[PEER_NAME_MAX];
	unsigned			 n;
	MHD_socket			 fd = MHD_INVALID_SOCKET;

	if ((ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD)) !=
	    NULL)
		fd = ci->connect_fd;
	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		/* Without a context neither limit could hold: refuse it. */
		log_warnx("connection: out of memory");
		if (fd != MHD_INVALID_SOCKET)
			(void)shutdown(fd, SHUT_RDWR);
		return;
	}
	hc->hd = hd;
	hc->fd = fd;
	hc->head_timer.cb = http_on_head_timeout;
	hc->head_timer.arg = hc;
	*ctx = hc;
	/* MHD does not give the address length; the family tells it. */
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || peer_from_sockaddr(ci->client_addr,
	    (socklen_t)sizeof(struct sockaddr_storage), &hc->peer) == -1)
		hc->peer.family = AF_UNSPEC;
	/* A trusted proxy carries many clients' connections: it is not counted. */
	if (cfg->max_connections_per_ip > 0 && hc->peer.family != AF_UNSPEC &&
	    !peer_trusted(cfg, &hc->peer)) {
		n = peer_acquire(&hc->peer);
		hc->counted = n > 0;
		if (n > cfg->max_connections_per_ip) {
			peer_format(&hc->peer, name, sizeof(name));
			log_debug("refused %s: %u connections from it "
			    "(max_connections_per_ip %u)", name, n - 1,
			    cfg->max_connections_per_ip);
			(void)shutdown(fd, SHUT_RDWR);
			return;
		}
	}
	http_head_deadline(hc, cfg->header_timeout);
}

/* Takes hc (NULL accepted). */
static void
http_conn_end(struct http_conn *hc)
{
	if (hc == NULL)
		return;
	loop_timer_cancel(&hc->head_timer);
	if (hc->counted)
		peer_release(&hc->peer);
	free(hc);
}

static void
http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		http_conn_start(cls, conn, socket_context);
	else {
		http_conn_end(*socket_context);
		*socket_context = NULL;
	}
}

/*
 * The allow list, from the thread's current configuration (a reload changes it). A
 * trusted proxy is let in: allow judges the address it forwards, per request
 * (http_check_client).
 */
static enum MHD_Result
http_on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	const struct config	*cfg = http_cfg;
	struct peer_addr	 a;
	char			 name[PEER_NAME_MAX];

	(void)cls;
	if (cfg->nallow == 0)
		return (MHD_YES);
	if (peer_from_sockaddr(sa, len, &a) == 0 &&
	    (peer_allowed(cfg, &a) || peer_trusted(cfg, &a)))
		return (MHD_YES);
	if (log_verbose()) {
		peer_format(&a, name, sizeof(name));
		log_debug("refused %s: not in allow", name[0] != '\0' ? name : "client");
	}
	return (MHD_NO);
}

/* The headers of struct http_head, by name. */
static const struct http_known {
	const char	*name;
	size_t		 off;
} http_known[] = {
#define H(n, f)	{ n, offsetof(struct http_head, f) }
	H("Accept", accept),
	H("Access-Control-Request-Headers", acr_headers),
	H("Authorization", authorization),
	H("Cache-Control", cache_control),
	H("Content-Length", content_length),
	H("Content-Type", content_type),
	H("Origin", origin),
	H("User-Agent", user_agent),
	H("X-Amzn-Trace-Id", amzn_trace_id),
	H("X-Api-Key", api_key),
	H("X-HF-Bill-To", bill_to),
	H("X-Load-Model", load_model),
	H("X-Model", x_model),
	H("X-Request-Id", request_id),
	H("X-Timeout", timeout),
	H("X-Use-Cache", use_cache),
	H("X-Wait-For-Model", wait_for_model),
#undef H
};

/* One pass over the header lines: the first of each name wins, as MHD's own look-up. */
static enum MHD_Result
http_take_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_head	*h = cls;
	const char		**slot;
	size_t			 i;

	(void)kind;
	for (i = 0; i < sizeof(http_known) / sizeof(http_known[0]); i++)
		if (strcasecmp(key, http_known[i].name) == 0) {
			slot = (const char **)(void *)((char *)h + http_known[i].off);
			if (*slot == NULL)
				*slot = value;
			break;
		}
	return (MHD_YES);
}

/* Percent-encodes s onto b, as a query component (RFC 3986 unreserved kept). */
static int
http_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char		 e[3];

	for (; *s != '\0'; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
			if (buf_append(b, s, 1) == -1)
				return (-1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[(unsigned char)*s >> 4];
		e[2] = hex[(unsigned char)*s & 15];
		if (buf_append(b, e, 3) == -1)
			return (-1);
	}
	return (0);
}

static enum MHD_Result
http_take_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct buf	*b = cls;

	(void)kind;
	if ((b->len > 0 && buf_append(b, "&", 1) == -1) || http_encode(b, key) == -1 ||
	    (value != NULL && (buf_append(b, "=", 1) == -1 ||
	    http_encode(b, value) == -1)))
		return (MHD_NO);
	return (MHD_YES);
}

/* The lines of one forwarding header, in their order; the last HTTP_FWD_LINES. */
struct http_fwd {
	const char	*name;
	const char	*lines[HTTP_FWD_LINES];
	size_t		 n;
};

static enum MHD_Result
http_take_fwd(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_fwd	*f = cls;

	(void)kind;
	if (value == NULL || strcasecmp(key, f->name) != 0)
		return (MHD_YES);
	if (f->n == HTTP_FWD_LINES) {
		memmove(f->lines, f->lines + 1, sizeof(f->lines[0]) * (HTTP_FWD_LINES - 1));
		f->n--;
	}
	f->lines[f->n++] = value;
	return (MHD_YES);
}

/*
 * Who the client is: the peer, or behind a trusted proxy the address it forwards, in
 * X-Forwarded-For or, without one, in Forwarded (peer_forwarded). A proxy that sets
 * only Forwarded must then drop the X-Forwarded-For its client sent (docs/teams.md).
 * Behind a proxy the allow list judges that address: 403 outside it.
 */
static void
http_check_client(struct http_req *req, const struct http_conn *hc,
    const struct config *cfg)
{
	struct http_fwd	f = { .name = "X-Forwarded-For" };

	req->client = hc->peer;
	if (cfg->nproxies == 0 || !peer_trusted(cfg, &hc->peer))
		return;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_take_fwd, &f);
	if (f.n == 0) {
		f.name = "Forwarded";
		MHD_get_connection_values(req->conn, MHD_HEADER_KIND, http_take_fwd, &f);
	}
	peer_forwarded(cfg, f.lines, f.n, f.n > 0 && f.name[0] == 'F', &req->client);
	if (!peer_allowed(cfg, &req->client)) {
		log_debug("refused %s behind proxy: not in allow",
		    http_client_address(req));
		http_set_error(req, 403, "forbidden", 0, "client %s is not allowed here",
		    http_client_address(req));
	}
}

static void
http_read_head(struct MHD_Connection *conn, struct http_head *h)
{
	struct buf	q = { NULL, 0, 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, http_take_header, h);
	/* Only what goes upstream as it came needs the whole query (the Hub's). */
	if (MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, http_take_arg, &q) >
	    0 && q.len > 0)
		h->query = buf_steal(&q);
	buf_free(&q);
	h->q_model = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "model");
	h->q_from = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "from");
	h->q_to = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "to");
	h->q_client = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "client");
}

/* A new request: its head is complete. NULL when out of memory. */
static struct http_req *
http_req_begin(struct MHD_Connection *conn, const char *url, const char *method,
    const char *version)
{
	const struct config	*cfg = http_cfg;
	struct http_conn	*hc;
	struct http_req		*req;
	char			*path;
	int			 bad = 0;

	/* The head is complete: its deadline is met. */
	if ((hc = http_conn_of(conn)) != NULL) {
		loop_timer_cancel(&hc->head_timer);
		bad = hc->bad_target;
		hc->bad_target = 0;
	}
	if ((path = strdup(url)) == NULL || (req = http_h->create()) == NULL) {
		free(path);
		log_warnx("request: out of memory");
		return (NULL);
	}
	req->conn = conn;
	req->head.path = path;
	req->head.method = http_method_name(method);
	req->head.start_ms = loop_now_update();
	req->head.http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
	http_read_head(conn, &req->head);
	req->in_max = cfg->max_body_bytes;
	req->hup.fd = -1;
	req->client.family = AF_UNSPEC;
	if (hc != NULL)
		http_check_client(req, hc, cfg);
	if (bad == HTTP_TARGET_NUL)
		http_set_error(req, 400, "bad_request", 0, "the request target contains "
		    "%%00, a NUL byte");
	else if (bad == HTTP_TARGET_ARGS)
		http_set_error(req, 414, "uri_too_long", 0, "the request target has more "
		    "than %d query arguments", HTTP_MAX_ARGS);
	http_check_caps(req, url, cfg);
	return (req);
}

static enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_req		*req = *con_cls;
	enum MHD_Result		 r;
	size_t			 n;

	(void)cls;
	if (req == NULL) {
		if ((req = http_req_begin(conn, url, method, version)) == NULL)
			return (MHD_NO);
		*con_cls = req;
		req->in_handler = 1;
		if (req->error.status != 0)
			http_h->refuse(req);
		else {
			http_h->head(req);
			if (req->reading)
				http_body_begin(req);
		}
		req->in_handler = 0;
		return (MHD_YES);
	}
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		/* Past the cap the bytes are counted, not kept: 413 once the body ends.
		   Refused, they are drained until the answer goes out. */
		if (req->reading && req->error.status == 0 &&
		    req->in_total + n <= req->in_max)
			http_body_keep(req, upload_data, n);
		if (req->in_total + n >= req->in_total)
			req->in_total += n;
		return (MHD_YES);
	}
	/* Answered or closed by the transport while its body came: MHD closes it. */
	if (req->answered || req->closing)
		return (MHD_NO);
	if (req->reading) {
		http_body_end(req);
		req->in_handler = 1;
		if (req->error.status != 0)
			http_h->refuse(req);
		else
			http_h->body(req);
		req->in_handler = 0;
		return (MHD_YES);
	}
	/* Called again after a resume. */
	if (req->gone && !req->streaming)
		return (MHD_NO);
	if (req->resp != NULL) {
		r = MHD_queue_response(conn, req->status, req->resp->mr);
		http_resp_free(req->resp);
		req->resp = NULL;
		return (r);
	}
	/* Nothing to send yet (woken early): wait again. */
	req->in_handler = 1;
	http_suspend(req, 0);
	req->in_handler = 0;
	return (MHD_YES);
}

static void
http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const struct config	*cfg = http_cfg;
	struct http_req		*req = *con_cls;
	struct http_conn	*hc;

	(void)cls;
	/*
	 * The next request head is due once MHD's idle timeout would have let the
	 * connection wait for it. With no idle timeout, a keep-alive connection may
	 * wait as long as it likes: only first heads have a deadline then.
	 */
	if ((hc = http_conn_of(conn)) != NULL && cfg->connection_timeout > 0)
		http_head_deadline(hc, cfg->connection_timeout + cfg->header_timeout);
	if (req == NULL)
		return;
	*con_cls = NULL;
	loop_watch_del(&req->hup);
	loop_timer_cancel(&req->hup_timer);
	loop_timer_cancel(&req->body_timer);
	http_h->completed(req, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ||
	    req->answered);
}

static void
http_on_mhd_ready(struct loop_watch *w, uint32_t events)
{
	struct http_daemon	*hd = w->arg;

	/* MHD_run in the after-hook does the work. */
	(void)events;
	hd->pending = 1;
}

/* MHD_run on hd, then its next timeout. */
static void
http_run(struct http_daemon *hd)
{
	MHD_UNSIGNED_LONG_LONG	to;
	uint64_t		now;

	hd->pending = 0;
	MHD_run(hd->d);
	/* Unpauses queued by content readers must not wait for an event. */
	up_run_unpauses();
	now = loop_now_update();
	hd->due = 0;
	if (MHD_get_timeout(hd->d, &to) == MHD_YES) {
		/* 0: MHD still has ready connections; its epoll fd will not fire again
		   for them (edge-triggered inside MHD). */
		if (to == 0)
			hd->pending = 1;
		hd->due = now + (to > 60000 ? 60000 : to);
	}
}

int64_t
http_after(void)
{
	struct http_daemon	*hd;
	uint64_t		 now, due = 0;
	size_t			 i;

	up_run_unpauses();
	if (http_nd == 0)
		return (-1);
	for (i = 0; i < http_nd; i++) {
		hd = &http_ds[i];
		now = loop_now_ms();
		if (hd->pending || (hd->due != 0 && now >= hd->due))
			http_run(hd);
	}
	log_flush();
	/* A daemon run may have resumed a connection of another one: look again. */
	for (i = 0; i < http_nd; i++) {
		hd = &http_ds[i];
		if (hd->pending)
			return (0);
		if (hd->due != 0 && (due == 0 || hd->due < due))
			due = hd->due;
	}
	now = loop_now_ms();
	return (due == 0 ? -1 : (int64_t)(due > now ? due - now : 0));
}

static int
http_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
    char *err, size_t errlen)
{
	struct addrinfo	 hints, *res;
	char		 portstr[8];
	int		 rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen address %s: %s", host, gai_strerror(rc));
		return (-1);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return (0);
}

/*
 * The listening socket, made here rather than by MHD: SO_REUSEADDR so that a restart
 * binds at once despite connections in TIME_WAIT, and with several loop threads
 * SO_REUSEPORT so that each binds the same port and the kernel spreads connections
 * (only then). A second hfgate must not share the port: without SO_REUSEPORT its bind
 * fails, and with it the kernel would let any process of the same user join, so the
 * port is checked (reuseport.c) after the bind and before listen, while this socket
 * still takes no connection. name is the address as logged. Returns the fd with
 * *bound set to the port bound, or -1 with err.
 */
static int
http_listen(const struct sockaddr_storage *ss, const char *name, int reuseport,
    unsigned *bound, char *err, size_t errlen)
{
	struct sockaddr_storage	 got;
	socklen_t		 len = ss->ss_family == AF_INET6 ?
				    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	unsigned		 port = ntohs(((const struct sockaddr_in *)
				    (const void *)ss)->sin_port);
	char			 why[256];
	int			 fd, one = 1;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) ||
	    (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)) {
		snprintf(err, errlen, "setsockopt: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (const struct sockaddr *)ss, len) == -1) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s%s", name, port,
		    strerror(errno), errno == EADDRINUSE ?
		    " (another process listens there)" : "");
		goto fail;
	}
	len = sizeof(got);
	if (getsockname(fd, (struct sockaddr *)&got, &len) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	*bound = ntohs(((struct sockaddr_in *)(void *)&got)->sin_port);
	switch (reuseport ? reuseport_shared(fd, why, sizeof(why)) : 0) {
	case 1:
		snprintf(err, errlen, "cannot listen on %s:%u: another process already "
		    "listens there, and with SO_REUSEPORT the two would share its "
		    "connections (is another hfgate running?)", name, *bound);
		goto fail;
	case -1:
		log_warnx("cannot check that no other process listens on %s:%u: %s",
		    name, *bound, why);
		break;
	default:
		break;
	}
	if (listen(fd, HTTP_BACKLOG) == -1) {
		snprintf(err, errlen, "cannot listen on %s:%u: %s", name, *bound,
		    strerror(errno));
		goto fail;
	}
	return (fd);
fail:
	close(fd);
	return (-1);
}

/* Stops this thread's daemons (the ones started so far). */
static void
http_stop_daemons(void)
{
	struct http_daemon	*hd;
	size_t			 i;

	for (i = 0; i < http_nd; i++) {
		hd = &http_ds[i];
		loop_watch_del(&hd->watch);
		MHD_stop_daemon(hd->d);
		memset(hd, 0, sizeof(*hd));
	}
	http_nd = 0;
}

static int
http_start_one(const struct config *cfg, const struct cfg_listen *l, unsigned port,
    unsigned nthreads, unsigned *bound, char *err, size_t errlen)
{
	struct http_daemon		*hd = &http_ds[http_nd];
	struct sockaddr_storage		 ss;
	const union MHD_DaemonInfo	*di;
	struct MHD_OptionItem		 tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, cfg->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, cfg->tls_key },
		{ MHD_OPTION_END, 0, NULL }
	};
	size_t				 pool;
	unsigned			 flags;
	const char			*scheme = l->tls ? "https" : "http";
	const char			*lb = strchr(l->host, ':') != NULL ? "[" : "";
	const char			*rb = *lb != '\0' ? "]" : "";
	char				 name[300];
	int				 lfd;

	if (l->tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "cannot serve %s://%s%s%s:%u: libmicrohttpd was "
		    "built without TLS support", scheme, lb, l->host, rb, l->port);
		return (-1);
	}
	if (l->tls && (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen, "cannot serve %s://%s%s%s:%u: tls_listen needs "
		    "tls_cert and tls_key", scheme, lb, l->host, rb, l->port);
		return (-1);
	}
	memset(&ss, 0, sizeof(ss));
	if (http_resolve(l->host, port, &ss, err, errlen) == -1)
		return (-1);
	snprintf(name, sizeof(name), "%s%s%s", lb, l->host, rb);
	if ((lfd = http_listen(&ss, name, nthreads > 1, bound, err, errlen)) == -1)
		return (-1);
	/*
	 * MHD clears a connection's whole pool after every request: a smaller pool is
	 * less memset per request and less RSS per stream (docs/performance.md). It
	 * must still hold a head up to the caps, checked in http_on_request, with its
	 * HTTP_MAX_ARGS query arguments (http_on_uri) and room for our response head;
	 * MHD refuses larger heads itself.
	 */
	pool = cfg->max_header_bytes + cfg->max_url_bytes + HTTP_POOL_SLACK +
	    HTTP_MAX_ARGS * HTTP_RECORD_BYTES;
	if (pool < HTTP_POOL_BYTES)
		pool = HTTP_POOL_BYTES;
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
	    (l->tls ? MHD_USE_TLS : 0);
	http_mhd_err[0] = '\0';
	hd->d = MHD_start_daemon(flags, (uint16_t)port, http_on_accept, NULL,
	    http_on_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    /* MHD's default is FD_SETSIZE - 4 = 1020, even with epoll. */
	    /* The configured total, shared out between the loop threads. */
	    MHD_OPTION_CONNECTION_LIMIT,
	    (cfg->max_connections + nthreads - 1) / nthreads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, hd,
	    MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, NULL,
	    /* MHD reads the PEM text while it starts (GnuTLS keeps its own copy). */
	    MHD_OPTION_ARRAY, l->tls ? tls : &tls[2],
	    MHD_OPTION_END);
	if (hd->d == NULL) {
		if (l->tls)
			snprintf(err, errlen, "cannot serve %s://%s%s%s:%u: the TLS "
			    "certificate or key was refused (tls_cert, tls_key)%s%s",
			    scheme, lb, l->host, rb, *bound,
			    http_mhd_err[0] != '\0' ? ": " : "", http_mhd_err);
		else
			snprintf(err, errlen, "cannot serve %s://%s%s%s:%u: %s", scheme,
			    lb, l->host, rb, *bound, http_mhd_err[0] != '\0' ?
			    http_mhd_err : strerror(errno));
		close(lfd);
		return (-1);
	}
	http_nd++;
	hd->tls = l->tls;
	di = MHD_get_daemon_info(hd->d, MHD_DAEMON_INFO_EPOLL_FD);
	hd->watch.fd = di->epoll_fd;
	hd->watch.cb = http_on_mhd_ready;
	hd->watch.arg = hd;
	hd->pending = 1;
	if (loop_watch_add(&hd->watch, EPOLLIN) == -1) {
		snprintf(err, errlen, "cannot watch the server's epoll fd");
		return (-1);
	}
	return (0);
}

int
http_start(const struct config *cfg, const struct http_handlers *h,
    const unsigned *ports, unsigned nthreads, unsigned *bound, char *err,
    size_t errlen)
{
	size_t	i, j;

	http_h = h;
	for (i = 0; i < cfg->nlistens; i++) {
		/* With SO_REUSEPORT a second socket would bind it too, silently. */
		for (j = 0; j < i && ports[i] != 0; j++)
			if (ports[j] == ports[i] &&
			    strcmp(cfg->listens[j].host, cfg->listens[i].host) == 0) {
				snprintf(err, errlen, "listen address %s:%u given twice",
				    cfg->listens[i].host, ports[i]);
				goto fail;
			}
		if (http_start_one(cfg, &cfg->listens[i], ports[i], nthreads, &bound[i],
		    err, errlen) == -1)
			goto fail;
	}
	return (0);
fail:
	http_stop_daemons();
	return (-1);
}

void
http_quiesce(void)
{
	MHD_socket	fd;
	size_t		i;

	if (http_nd == 0 || http_quiesced)
		return;
	http_quiesced = 1;
	/* In external-poll mode the listening socket may be closed at once. */
	for (i = 0; i < http_nd; i++)
		if ((fd = MHD_quiesce_daemon(http_ds[i].d)) != MHD_INVALID_SOCKET)
			close(fd);
}

void
http_stop(void)
{
	/* MHD aborts when stopped with suspended connections: the layer above has
	   answered or dropped every request by now (gw_stop). */
	http_stop_daemons();
	http_configure(NULL);
}

const char *
http_lib_version(void)
{
	return (MHD_get_version());
}
