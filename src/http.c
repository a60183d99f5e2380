/*
 * The client side: libmicrohttpd in external epoll mode, driven by the loop
 * (ARCHITECTURE.md §0, §1). A connection waiting on the upstream is suspended; while
 * suspended, MHD neither reads its socket nor notices a hang-up, so its fd is watched
 * here for EPOLLRDHUP (§1.2) and the upstream call is cancelled when the client leaves.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "gw.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "upstream.h"
#include "usage.h"

#define HTTP_EXPOSE	"x-compute-type, x-compute-time, x-compute-characters, " \
			"x-compute-images, x-compute-audio-length, x-sha, x-request-id, " \
			"x-hfgate-model, x-hfgate-attempts, x-cache, retry-after, " \
			"x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset"

#define HTTP_POOL_BYTES		(16 * 1024)
#define HTTP_HUP_DELAY_MS	200
#define HTTP_BACKLOG		1024

static uint64_t				 http_serial;	/* atomic */
static _Thread_local struct MHD_Daemon	*http_d;
static _Thread_local struct loop_watch	 http_mhd_watch = { .fd = -1 };
static _Thread_local int			 http_quiesced;
/* MHD_run is only needed after MHD's epoll fd fired, a resume, or its timeout. */
static _Thread_local int			 http_pending = 1;
static _Thread_local uint64_t			 http_due;	/* 0: no timeout */

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
}

const char *
http_header(struct gw_req *req, const char *name)
{
	return (MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name));
}

const char *
http_query(struct gw_req *req, const char *name)
{
	return (MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name));
}

int
http_header_false(struct gw_req *req, const char *name)
{
	const char	*v = http_header(req, name);

	return (v != NULL && (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
	    strcasecmp(v, "no") == 0));
}

static const struct sockaddr *
http_client_sockaddr(struct gw_req *req)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return (ci != NULL ? ci->client_addr : NULL);
}

int
http_client_loopback(struct gw_req *req)
{
	const struct sockaddr		*sa = http_client_sockaddr(req);
	const struct sockaddr_in6	*s6;

	if (sa == NULL)
		return (0);
	if (sa->sa_family == AF_INET)
		return ((ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr)
		    >> 24) == 127);
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127));
	}
	return (0);
}

const char *
http_client_address(struct gw_req *req)
{
	static _Thread_local char	 text[INET6_ADDRSTRLEN];
	const struct sockaddr		*sa = http_client_sockaddr(req);
	const void			*addr;

	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return ("-");
	addr = sa->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (inet_ntop(sa->sa_family, addr, text, sizeof(text)) == NULL)
		return ("-");
	return (text);
}

static void
http_on_hup(struct loop_watch *w, uint32_t events)
{
	struct gw_req	*req = w->arg;

	(void)events;
	loop_watch_del(&req->hup);
	gw_client_gone(req);
}

static void
http_watch_hup(struct gw_req *req)
{
	const union MHD_ConnectionInfo	*ci;

	if (req->hup.added)
		return;
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL)
		return;
	req->hup.fd = ci->connect_fd;
	req->hup.cb = http_on_hup;
	req->hup.arg = req;
	(void)loop_watch_add(&req->hup, EPOLLRDHUP);
}

static void
http_on_hup_timer(struct loop_timer *t)
{
	struct gw_req	*req = t->arg;

	if (req->suspended)
		http_watch_hup(req);
}

void
http_suspend(struct gw_req *req)
{
	if (req->suspended || req->client_gone)
		return;
	MHD_suspend_connection(req->conn);
	req->suspended = 1;
	/*
	 * A suspended connection's hang-up is only seen through our own watch
	 * (ARCHITECTURE.md §1.2). A stream watches at once; a plain request only once
	 * it has waited HTTP_HUP_DELAY_MS, which spares two epoll_ctl calls on every
	 * quick answer and still cancels a long upstream call soon after its client left.
	 */
	if (req->state == GW_STREAMING || req->up.sse)
		http_watch_hup(req);	/* stays while streaming: see http_wake */
	else {
		req->hup_timer.cb = http_on_hup_timer;
		req->hup_timer.arg = req;
		loop_timer_set(&req->hup_timer, HTTP_HUP_DELAY_MS);
	}
}

void
http_wake(struct gw_req *req)
{
	if (!req->suspended)
		return;
	/*
	 * A stream suspends and resumes once per event: its watch stays (a hang-up seen
	 * while MHD owns the fd is harmless), saving two epoll_ctl calls per event.
	 * Other requests drop it before MHD takes the fd back.
	 */
	loop_timer_cancel(&req->hup_timer);
	if (req->state != GW_STREAMING)
		loop_watch_del(&req->hup);
	req->suspended = 0;
	MHD_resume_connection(req->conn);
	http_pending = 1;
}

void
http_drop(struct gw_req *req)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		(void)shutdown(ci->connect_fd, SHUT_RDWR);
	http_wake(req);
}

void
http_reply(struct gw_req *req, unsigned status, struct MHD_Response *resp)
{
	const struct config	*cfg = gw_config();
	char			 n[24];

	if (resp == NULL) {
		/* Out of memory building it: drop the connection rather than hang. */
		req->status = 500;
		req->client_gone = 1;
		req->state = GW_REPLIED;
		http_wake(req);
		return;
	}
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", cfg->cors_origin);
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", HTTP_EXPOSE);
	if (strcmp(cfg->cors_origin, "*") != 0)
		MHD_add_response_header(resp, "Vary", "Origin");
	if (req->model[0] != '\0')
		MHD_add_response_header(resp, "X-Hfgate-Model", req->model);
	if (req->attempts > 0) {
		snprintf(n, sizeof(n), "%u", req->attempts);
		MHD_add_response_header(resp, "X-Hfgate-Attempts", n);
	}
	if (req->cache_state != CACHE_STATE_NONE) {
		static const char *const names[] = {
			[CACHE_STATE_BYPASS] = "BYPASS", [CACHE_STATE_MISS] = "MISS",
			[CACHE_STATE_HIT] = "HIT", [CACHE_STATE_STALE] = "STALE"
		};

		MHD_add_response_header(resp, "X-Cache", names[req->cache_state]);
		if (req->cache_key_hex[0] != '\0')
			MHD_add_response_header(resp, "X-Cache-Key", req->cache_key_hex);
		if (req->cache_state == CACHE_STATE_HIT ||
		    req->cache_state == CACHE_STATE_STALE) {
			snprintf(n, sizeof(n), "%lld", (long long)req->cache_age);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_AGE, n);
		}
	}
	if (req->rl.limit > 0) {
		snprintf(n, sizeof(n), "%u", req->rl.limit);
		MHD_add_response_header(resp, "X-RateLimit-Limit", n);
		snprintf(n, sizeof(n), "%u", req->rl.remaining);
		MHD_add_response_header(resp, "X-RateLimit-Remaining", n);
		snprintf(n, sizeof(n), "%u", req->rl.reset);
		MHD_add_response_header(resp, "X-RateLimit-Reset", n);
	}
	if (http_quiesced)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	req->status = status;
	if (req->state != GW_STREAMING)
		req->state = GW_REPLIED;
	if (req->in_handler) {
		MHD_queue_response(req->conn, status, resp);
		MHD_destroy_response(resp);
		return;
	}
	if (req->client_gone) {
		MHD_destroy_response(resp);
		return;
	}
	if (req->resp != NULL)
		MHD_destroy_response(req->resp);
	req->resp = resp;
	http_wake(req);
}

void
http_add_relayed(struct MHD_Response *resp, const struct buf *relay, const char *skip)
{
	const char	*name, *value;
	size_t		 off;

	for (off = 0; relay != NULL && relay->data != NULL && off < relay->len; ) {
		name = relay->data + off;
		value = name + strlen(name) + 1;
		if (skip == NULL || strcasecmp(name, skip) != 0)
			MHD_add_response_header(resp, name, value);
		off = (size_t)(value - relay->data) + strlen(value) + 1;
	}
}

void
http_reply_take(struct gw_req *req, unsigned status, const char *ctype,
    char *data, size_t len)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(data);
	else if (ctype != NULL && *ctype != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	req->bytes_out = len;
	http_reply(req, status, resp);
}

void
http_reply_copy(struct gw_req *req, unsigned status, const char *ctype,
    const char *data, size_t len)
{
	char	*copy;

	if ((copy = malloc(len + 1)) == NULL) {
		http_reply(req, status, NULL);
		return;
	}
	memcpy(copy, data, len);
	http_reply_take(req, status, ctype, copy, len);
}

/* A JSON error response {"error": msg, "error_type": type}; *len: its body's size. */
static struct MHD_Response *
http_json_body(const char *type, const char *msg, size_t *len)
{
	struct MHD_Response	*resp;
	char			*body;

	if ((body = json_error_body(msg, type)) == NULL)
		return (NULL);
	*len = strlen(body);
	resp = MHD_create_response_from_buffer(*len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return (NULL);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return (resp);
}

struct MHD_Response *
http_json_error(const char *type, const char *fmt, ...)
{
	char	 msg[1024];
	size_t	 len;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (http_json_body(type, msg, &len));
}

void
http_reply_error(struct gw_req *req, unsigned status, const char *type,
    const char *fmt, ...)
{
	struct MHD_Response	*resp;
	char			 msg[1024];
	size_t			 len = 0;
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("%s %s: %u %s: %s", req->method, req->path, status, type, msg);
	resp = http_json_body(type, msg, &len);
	req->bytes_out = len;
	http_reply(req, status, resp);
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
http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct gw_req		*req = *con_cls;
	const struct config	*cfg = gw_config();
	enum MHD_Result		 r;
	size_t			 n;

	(void)cls;
	(void)version;
	if (req == NULL) {
		if ((req = calloc(1, sizeof(*req))) == NULL ||
		    (req->path = strdup(url)) == NULL) {
			free(req);
			log_warnx("request: out of memory");
			return (MHD_NO);
		}
		req->conn = conn;
		req->serial = __atomic_add_fetch(&http_serial, 1, __ATOMIC_RELAXED);
		req->method = http_method_name(method);
		req->start_ms = loop_now_update();
		req->hup.fd = -1;
		req->last_loading = -1;
		*con_cls = req;
		gw_link(req);
		req->in_handler = 1;
		gw_begin(req);
		req->in_handler = 0;
		return (MHD_YES);
	}
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		/* Past the cap the bytes are counted, not kept: 413 once the body ends. */
		if (req->state == GW_READING && !req->in_failed &&
		    req->in_total + n <= cfg->max_body_bytes &&
		    buf_append(&req->in, upload_data, n) == -1)
			req->in_failed = 1;
		if (req->in_total + n >= req->in_total)
			req->in_total += n;
		return (MHD_YES);
	}
	if (req->state == GW_READING) {
		req->in_handler = 1;
		gw_handle(req);
		req->in_handler = 0;
		return (MHD_YES);
	}
	/* Called again after a resume. */
	if (req->client_gone && req->state != GW_STREAMING)
		return (MHD_NO);
	if (req->resp != NULL) {
		r = MHD_queue_response(conn, req->status, req->resp);
		MHD_destroy_response(req->resp);
		req->resp = NULL;
		return (r);
	}
	/* Nothing to send yet (woken early): wait again. */
	req->in_handler = 1;
	http_suspend(req);
	req->in_handler = 0;
	return (MHD_YES);
}

static void
http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct gw_req	*req = *con_cls;

	(void)cls;
	(void)conn;
	if (req == NULL)
		return;
	*con_cls = NULL;
	static const char *const cache[] = {
		[CACHE_STATE_NONE] = "", [CACHE_STATE_BYPASS] = " cache=BYPASS",
		[CACHE_STATE_MISS] = " cache=MISS", [CACHE_STATE_HIT] = " cache=HIT",
		[CACHE_STATE_STALE] = " cache=STALE"
	};

	log_access("%s %s client=%s model=%s status=%u ms=%llu attempts=%u in=%zu "
	    "out=%llu id=%s%s%s", req->method, req->path,
	    req->client != NULL ? req->client->name : "-",
	    req->model[0] != '\0' ? req->model : "-",
	    req->status, (unsigned long long)(loop_now_update() - req->start_ms),
	    req->attempts, req->in_total, (unsigned long long)req->bytes_out,
	    req->request_id, cache[req->cache_state],
	    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	/* Counted at the request's end. With client keys, only admitted requests: the
	   refused ones (401, 403, 429) are in the access log, and the usage table's
	   counts give back each day's quota use at start-up. */
	if (req->cfg == NULL || req->cfg->nclients == 0 || req->admitted)
		usage_request_done(req, req->client != NULL ? req->client->name : NULL);
	gw_req_free(req);
}

static void
http_on_mhd_ready(struct loop_watch *w, uint32_t events)
{
	/* MHD_run in the after-hook does the work. */
	(void)w;
	(void)events;
	http_pending = 1;
}

int64_t
http_after(void)
{
	MHD_UNSIGNED_LONG_LONG	to;
	uint64_t		now;

	up_run_unpauses();
	if (http_d == NULL)
		return (-1);
	now = loop_now_ms();
	if (http_pending || (http_due != 0 && now >= http_due)) {
		http_pending = 0;
		MHD_run(http_d);
		/* Unpauses queued by content readers must not wait for an event. */
		up_run_unpauses();
		now = loop_now_update();
		http_due = 0;
		if (MHD_get_timeout(http_d, &to) == MHD_YES) {
			/* 0: MHD still has ready connections; its epoll fd will not fire
			   again for them (edge-triggered inside MHD). */
			if (to == 0)
				http_pending = 1;
			http_due = now + (to > 60000 ? 60000 : to);
		}
	}
	log_flush();
	if (http_pending)
		return (0);
	return (http_due == 0 ? -1 : (int64_t)(http_due > now ? http_due - now : 0));
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
 * (only then: a second hfgate must not silently share the port). Returns the fd with
 * *bound set to the port bound, or -1 with err.
 */
static int
http_listen(const struct sockaddr_storage *ss, int reuseport, unsigned *bound,
    char *err, size_t errlen)
{
	struct sockaddr_storage	 got;
	socklen_t		 len = ss->ss_family == AF_INET6 ?
				    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
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
	if (bind(fd, (const struct sockaddr *)ss, len) == -1 ||
	    listen(fd, HTTP_BACKLOG) == -1) {
		snprintf(err, errlen, "cannot listen on port %u: %s",
		    ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port),
		    strerror(errno));
		goto fail;
	}
	len = sizeof(got);
	if (getsockname(fd, (struct sockaddr *)&got, &len) == -1) {
		snprintf(err, errlen, "getsockname: %s", strerror(errno));
		goto fail;
	}
	*bound = ntohs(((struct sockaddr_in *)(void *)&got)->sin_port);
	return (fd);
fail:
	close(fd);
	return (-1);
}

int
http_start(const struct config *cfg, unsigned port, unsigned nthreads,
    unsigned *bound, char *err, size_t errlen)
{
	struct sockaddr_storage		 ss;
	const union MHD_DaemonInfo	*di;
	unsigned			 flags;
	int				 lfd;
	int				 v6;

	memset(&ss, 0, sizeof(ss));
	if (http_resolve(cfg->listens[0].host, port, &ss, err, errlen) == -1)
		return (-1);
	v6 = ss.ss_family == AF_INET6;
	if ((lfd = http_listen(&ss, nthreads > 1, bound, err, errlen)) == -1)
		return (-1);
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	http_d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
	    http_on_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	    /* MHD's default is 1020 even with epoll (ARCHITECTURE.md §1.1). */
	    /* The configured total, shared out between the loop threads. */
	    MHD_OPTION_CONNECTION_LIMIT,
	    (cfg->max_connections + nthreads - 1) / nthreads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
	    /* MHD clears a connection's whole pool after every request: a smaller pool
	       is less memset per request and less RSS per stream (ARCHITECTURE.md
	       §2.6). 16 KiB still holds any sane request head and our response head. */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_POOL_BYTES,
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, NULL,
	    MHD_OPTION_END);
	if (http_d == NULL) {
		snprintf(err, errlen, "cannot serve on %s:%u: %s", cfg->listens[0].host,
		    *bound, strerror(errno));
		close(lfd);
		return (-1);
	}
	di = MHD_get_daemon_info(http_d, MHD_DAEMON_INFO_EPOLL_FD);
	http_mhd_watch.fd = di->epoll_fd;
	http_mhd_watch.cb = http_on_mhd_ready;
	if (loop_watch_add(&http_mhd_watch, EPOLLIN) == -1) {
		snprintf(err, errlen, "cannot watch the server's epoll fd");
		MHD_stop_daemon(http_d);
		http_d = NULL;
		return (-1);
	}
	return (0);
}

void
http_quiesce(void)
{
	MHD_socket	fd;

	if (http_d == NULL || http_quiesced)
		return;
	http_quiesced = 1;
	/* In external-poll mode the listening socket may be closed at once. */
	if ((fd = MHD_quiesce_daemon(http_d)) != MHD_INVALID_SOCKET)
		close(fd);
}

void
http_stop(void)
{
	if (http_d == NULL)
		return;
	/* MHD aborts when stopped with suspended connections (ARCHITECTURE.md §1.2). */
	gw_cancel_all("server stopping");
	loop_watch_del(&http_mhd_watch);
	MHD_stop_daemon(http_d);
	http_d = NULL;
}
