/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Upstream HTTP calls: one libcurl multi handle driven by the loop through
 * curl_multi_socket_action, so thousands of transfers cost nothing while idle
 * (docs/design.md, "libcurl"). Every callback runs on the loop thread. This is the only
 * module that speaks libcurl: the others see struct up_call and enum up_result.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "upstream.h"

/*
 * libcurl 7.88 walks every connection to a host on each new transfer (looking for
 * one to reuse) and on each removal (looking for the last one used): with one
 * HTTP/1.1 connection per open stream that is O(streams) per stream, 11 % of
 * hfgate's CPU while 2,000 streams a second open (docs/performance.md). Each loop
 * thread therefore spreads its transfers over several multi handles, each with its own
 * connection cache. A shard takes new transfers until it runs UP_SHARD_FILL of them,
 * so that a light load stays on one shard and reuses its connections (one HTTP/2
 * connection to the Hub, not eight); past that, the least busy shard takes them.
 */
#define UP_SSE_BUFFER_BYTES	4096L	/* CURLOPT_BUFFERSIZE of a stream */
#define UP_SHARDS	8
#define UP_SHARD_FILL	64

struct up_shard {
	CURLM			*multi;
	struct loop_timer	 timer;
	size_t			 nrunning;
};

struct up_sock {
	struct loop_watch	 w;
	struct up_shard		*shard;
	struct up_sock		*dead_next;
};

/* Idle upstream connections kept per shard (see up_init). */
#define UP_IDLE_CONNECTIONS	256

/* Wall-clock ms of the last HTTP answer from any upstream, and of the last call
   that got none (connect, TLS or its timeout): /readyz (up_reachability). */
static _Atomic int64_t	 up_last_answer_ms, up_last_unreached_ms;
static _Thread_local void	(*up_flush)(void);
static _Thread_local struct up_shard	 up_shards[UP_SHARDS];
static _Thread_local size_t		 up_nshards;
static _Thread_local size_t		 up_nrunning;
static _Thread_local struct up_call	*up_unpause_head;
static _Thread_local struct up_sock	*up_dead;
/* Idle easy handles kept for reuse: curl_easy_init allocates and clears tens of KiB. */
static _Thread_local CURL		*up_pool[256];
static _Thread_local size_t		 up_npool;
static _Thread_local int		 up_proxy_env;	/* a *_proxy variable is set */

/*
 * Headers of the upstream answer that the client sees (docs/api.md): the x-compute-*
 * family, x-sha, x-error-*, TGI's timings and whatever else an endpoint adds as x-*,
 * but not the ids and cache state hfgate sets itself.
 */
static int
up_relayed_header(const char *name, size_t len)
{
	static const char *const own[] = {
		"x-request-id", "x-cache", "x-cache-key", "x-hfgate-", "x-forwarded-",
		"x-ratelimit-"
	};
	size_t i, n;

	if (len < 3 || strncasecmp(name, "x-", 2) != 0)
		return (0);
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		n = strlen(own[i]);
		if (own[i][n - 1] == '-' ? len >= n && strncasecmp(name, own[i], n) == 0 :
		    len == n && strncasecmp(name, own[i], n) == 0)
			return (0);
	}
	return (1);
}

static void
up_copy_value(char *dst, size_t dstlen, const char *v, size_t vlen)
{
	if (vlen >= dstlen)
		vlen = dstlen - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

static size_t
up_on_header(char *line, size_t size, size_t n, void *arg)
{
	struct up_call	*c = arg;
	size_t		 len = size * n, nlen, vlen;
	const char	*colon, *v;

	/* A new status line (after 100 Continue or a redirect) starts a new header set. */
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		c->ctype[0] = '\0';
		c->retry_after[0] = '\0';
		buf_reset(&c->relay);
		return (len);
	}
	if ((colon = memchr(line, ':', len)) == NULL)
		return (len);
	nlen = (size_t)(colon - line);
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	if (nlen == 12 && strncasecmp(line, "content-type", 12) == 0)
		up_copy_value(c->ctype, sizeof(c->ctype), v, vlen);
	else if (nlen == 11 && strncasecmp(line, "retry-after", 11) == 0)
		up_copy_value(c->retry_after, sizeof(c->retry_after), v, vlen);
	else if (up_relayed_header(line, nlen)) {
		if (buf_append(&c->relay, line, nlen) == -1 ||
		    buf_append(&c->relay, "", 1) == -1 ||
		    buf_append(&c->relay, v, vlen) == -1 ||
		    buf_append(&c->relay, "", 1) == -1)
			return (0);	/* out of memory: fail the transfer */
	}
	return (len);
}

static size_t
up_on_write(char *data, size_t size, size_t n, void *arg)
{
	struct up_call	*c = arg;
	size_t		 len = size * n;
	int		 r;

	if (c->status == 0)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
	r = c->on_data(c, data, len);
	if (r == UP_DATA_PAUSE) {
		c->paused = 1;
		return (CURL_WRITEFUNC_PAUSE);
	}
	if (r == UP_DATA_ABORT)
		return (0);
	return (len);
}

/*
 * Called once per request libcurl sends, after the connection is set up and before
 * the request goes out. A second call for one transfer is libcurl's own re-send: a
 * reused connection died before a byte of the answer came (its "connection died,
 * retrying a fresh connect"), so the request goes again on a new connection. That
 * is another upstream call, and the caller decides whether it may be made.
 */
static int
up_on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip,
    int conn_primary_port, int conn_local_port)
{
	struct up_call	*c = arg;

	(void)conn_primary_ip;
	(void)conn_local_ip;
	(void)conn_primary_port;
	(void)conn_local_port;
	if (c->sends++ > 0 && c->on_resend != NULL && c->on_resend(c) == -1) {
		c->sends--;
		c->resend_refused = 1;
		return (CURL_PREREQFUNC_ABORT);
	}
	return (CURL_PREREQFUNC_OK);
}

/* What a batch of on_data calls gathered goes out (up_init's flush) before any
   on_done runs. */
static void
up_flush_data(void)
{
	if (up_flush != NULL)
		up_flush();
}

_Static_assert(UP_ERROR_MAX >= CURL_ERROR_SIZE, "errbuf holds curl's message");

/*
 * Only failures where the upstream most likely never processed the request or
 * dropped the connection count as UP_E_CONNECT (worth another attempt). Timeouts are
 * apart: the caller's deadline owns them.
 */
enum up_result
up_classify(int curlcode)
{
	switch ((CURLcode)curlcode) {
	case CURLE_OK:
		return (UP_OK);
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (UP_E_CONNECT);
	case CURLE_OPERATION_TIMEDOUT:
		return (UP_E_TIMEOUT);
	case CURLE_WRITE_ERROR:
		return (UP_E_ABORTED);
	default:
		return (UP_E_FAILED);
	}
}

/* The finished transfers of shard sh. */
static void
up_drain(struct up_shard *sh)
{
	CURLMsg		*msg;
	int		 left;
	struct up_call	*c;
	CURL		*easy;
	CURLcode	 res;
	curl_off_t	 us;

	while ((msg = curl_multi_info_read(sh->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* The message is invalid once the handle is removed: copy first. */
		easy = msg->easy_handle;
		res = msg->data.result;
		c = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
		curl_multi_remove_handle(sh->multi, easy);
		sh->nrunning--;
		up_nrunning--;
		if (c == NULL)
			continue;
		if (c->status == 0)
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &c->status);
		c->running = 0;
		c->paused = 0;
		c->total_ms = 0;
		if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
			c->total_ms = ((uint64_t)us + 500) / 1000;
		c->reason = res != CURLE_OK ? curl_easy_strerror(res) : "";
		if (res == CURLE_ABORTED_BY_CALLBACK && c->resend_refused) {
			/* What the refused re-send would have repaired. */
			c->reason = "Connection died without an answer";
			snprintf(c->errbuf, sizeof(c->errbuf), "%s", c->reason);
			c->on_done(c, UP_E_CONNECT);
			continue;
		}
		if (res != CURLE_OK && c->errbuf[0] == '\0')
			snprintf(c->errbuf, sizeof(c->errbuf), "%s", c->reason);
		/* Any HTTP answer says the upstream is there; a call that never got
		   one says it may not be (up_reachability). */
		if (c->status > 0)
			atomic_store(&up_last_answer_ms, loop_wall_ms());
		else if (up_classify((int)res) == UP_E_CONNECT ||
		    up_classify((int)res) == UP_E_TIMEOUT)
			atomic_store(&up_last_unreached_ms, loop_wall_ms());
		c->on_done(c, up_classify((int)res));
	}
}

static void
up_action(struct up_shard *sh, curl_socket_t fd, int flags)
{
	int	running;

	curl_multi_socket_action(sh->multi, fd, flags, &running);
	up_flush_data();
	up_drain(sh);
}

static void
up_on_socket_event(struct loop_watch *w, uint32_t events)
{
	struct up_sock	*s = (struct up_sock *)w;
	int		 flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	up_action(s->shard, w->fd, flags);
}

static void
up_on_timer(struct loop_timer *t)
{
	up_action(t->arg, CURL_SOCKET_TIMEOUT, 0);
}

static int
up_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct up_shard	*sh = arg;
	struct up_sock	*s = sockp;
	uint32_t	 ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			loop_watch_del(&s->w);
			/* An event for it may still be pending in this loop iteration. */
			s->w.cb = NULL;
			s->dead_next = up_dead;
			up_dead = s;
			curl_multi_assign(sh->multi, fd, NULL);
		}
		return (0);
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			log_warnx("upstream socket: out of memory");
			return (-1);
		}
		s->w.fd = fd;
		s->w.cb = up_on_socket_event;
		s->shard = sh;
		curl_multi_assign(sh->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	return (loop_watch_mod(&s->w, ev) == 0 ? 0 : -1);
}

static int
up_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct up_shard	*sh = arg;

	(void)multi;
	if (timeout_ms < 0)
		loop_timer_cancel(&sh->timer);
	else
		loop_timer_set(&sh->timer, (uint64_t)timeout_ms);
	return (0);
}

int
up_global_init(void)
{
	return (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1);
}

void
up_global_cleanup(void)
{
	curl_global_cleanup();
}

/* 1 when u has part (with the value is, unless NULL). The copy is wiped: it may be a
   password. */
static int
up_url_has(CURLU *u, CURLUPart part, const char *is)
{
	char	*v = NULL;
	int	 has;

	if (curl_url_get(u, part, &v, 0) != CURLUE_OK || v == NULL)
		return (0);
	has = is == NULL || strcmp(v, is) == 0;
	explicit_bzero(v, strlen(v));
	curl_free(v);
	return (has);
}

int
up_check_url(const char *url, char *msg, size_t msglen)
{
	CURLU		*u;
	CURLUcode	 rc;
	int		 ok = 0;

	/* curl would take other schemes (ftp://, file://). */
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		snprintf(msg, msglen, "the URL must start with http:// or https://");
		return (-1);
	}
	if ((u = curl_url()) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return (-1);
	}
	if ((rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK)
		snprintf(msg, msglen, "not a valid URL: %s", curl_url_strerror(rc));
	else if (up_url_has(u, CURLUPART_USER, NULL) ||
	    up_url_has(u, CURLUPART_PASSWORD, NULL) ||
	    up_url_has(u, CURLUPART_OPTIONS, NULL))
		/* It would be logged and sent: hfgate's one credential is the token,
		   in a header. */
		snprintf(msg, msglen, "the URL must not hold a user name or password");
	else if (up_url_has(u, CURLUPART_QUERY, NULL) ||
	    up_url_has(u, CURLUPART_FRAGMENT, NULL))
		snprintf(msg, msglen, "the URL must not have a query or a fragment (paths "
		    "are appended to it)");
	else if (up_url_has(u, CURLUPART_PORT, "0"))
		snprintf(msg, msglen, "not a valid URL: port 0");
	else
		ok = 1;
	curl_url_cleanup(u);
	return (ok ? 0 : -1);
}

time_t
up_http_date(const char *s)
{
	return (curl_getdate(s, NULL));
}

int
up_header(struct up_call *c, const char *name, const char *value)
{
	char			 line[2048];
	struct curl_slist	*l;
	int			 n;

	/* "Name:" with nothing after it tells curl to send no such header. */
	n = *value == '\0' ? snprintf(line, sizeof(line), "%s:", name) :
	    snprintf(line, sizeof(line), "%s: %s", name, value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (0);
	l = curl_slist_append(c->headers, line);
	/* The line may hold the token. */
	explicit_bzero(line, (size_t)n);
	if (l == NULL)
		return (-1);
	c->headers = l;
	return (0);
}

int
up_bearer(struct up_call *c, const char *token)
{
	char	value[1024];
	int	rc = 0;

	if ((size_t)snprintf(value, sizeof(value), "Bearer %s", token) < sizeof(value))
		rc = up_header(c, "Authorization", value);
	explicit_bzero(value, sizeof(value));
	return (rc);
}

int
up_has_headers(const struct up_call *c)
{
	return (c->headers != NULL);
}

int
up_init(unsigned max_host_connections, void (*flush)(void))
{
	struct up_shard	*sh;
	size_t		 i;

	up_flush = flush;
	up_proxy_env = getenv("http_proxy") != NULL || getenv("https_proxy") != NULL ||
	    getenv("HTTPS_PROXY") != NULL || getenv("all_proxy") != NULL ||
	    getenv("ALL_PROXY") != NULL;
	/* A cap on connections is a cap of one connection cache. */
	up_nshards = max_host_connections > 0 ? 1 : UP_SHARDS;
	for (i = 0; i < up_nshards; i++) {
		sh = &up_shards[i];
		if ((sh->multi = curl_multi_init()) == NULL) {
			log_warnx("curl_multi_init failed");
			return (-1);
		}
		sh->timer.cb = up_on_timer;
		sh->timer.arg = sh;
		curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, up_socket_cb);
		curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
		curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, up_timer_cb);
		curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
		curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
		/*
		 * Idle connections kept for reuse, as nginx's `keepalive`. curl's
		 * default follows the number of handles added, so keep-alive
		 * connections were closed between requests under load; but thousands
		 * kept after a burst of streams cost on every later transfer, as curl
		 * 7.88 walks its whole cache to find one to reuse and, once a second,
		 * polls each to prune the dead ones.
		 */
		curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS,
		    (long)UP_IDLE_CONNECTIONS);
		/* 0 = no cap: a cap silently queues HTTP/1.1 transfers behind busy
		   connections (docs/design.md, "libcurl"). */
		curl_multi_setopt(sh->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    (long)max_host_connections);
	}
	return (0);
}

/* The shard for a new transfer (see UP_SHARDS). */
static struct up_shard *
up_pick(void)
{
	struct up_shard	*best = &up_shards[0];
	size_t		 i;

	for (i = 0; i < up_nshards; i++) {
		if (up_shards[i].nrunning < UP_SHARD_FILL)
			return (&up_shards[i]);
		if (up_shards[i].nrunning < best->nrunning)
			best = &up_shards[i];
	}
	return (best);
}

/* Frees socket records released during the last iterations. */
static void
up_reap(void)
{
	struct up_sock	*s;

	while ((s = up_dead) != NULL) {
		up_dead = s->dead_next;
		free(s);
	}
}

void
up_free(void)
{
	size_t	i;

	for (i = 0; i < up_nshards; i++) {
		loop_timer_cancel(&up_shards[i].timer);
		if (up_shards[i].multi != NULL)
			curl_multi_cleanup(up_shards[i].multi);
		up_shards[i].multi = NULL;
	}
	up_nshards = 0;
	up_reap();
	while (up_npool > 0)
		curl_easy_cleanup(up_pool[--up_npool]);
}

static int
up_setup(struct up_call *c)
{
	CURL	*e = (CURL *)c->easy;

	/* Every option is set on every start, so a reused handle needs no
	   curl_easy_reset (which frees and clears the handle's buffers). */
	curl_easy_setopt(e, CURLOPT_PRIVATE, c);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)c->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, up_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, up_on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, up_on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, c);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* A stream's receive buffer stays resident while it is open, and its events
	   are small: a quarter of curl's default (docs/performance.md, "Memory per
	   stream"). Set on every start, since pooled handles serve both kinds. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, c->sse ? UP_SSE_BUFFER_BYTES :
	    (long)CURL_MAX_WRITE_SIZE);
	/* Without proxy variables, say so, and curl skips reading them per transfer. */
	if (!up_proxy_env)
		curl_easy_setopt(e, CURLOPT_PROXY, "");
	/* Waiting for a connection to learn whether it multiplexes only pays off where
	   h2 is possible (TLS); in clear text it would queue requests behind a busy
	   HTTP/1.1 connection. */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT,
	    strncmp(c->url, "https:", 6) == 0 ? 1L : 0L);
	/* h2 over TLS (ALPN) when the upstream offers it; HTTP/1.1 in clear text, since
	   Debian's 7.88.1 breaks h2c connection reuse (docs/design.md, "libcurl"). */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/*
	 * Neither a total timeout nor a low-speed limit (curl's defaults): a stream's
	 * deadlines are gw.c's and stream.c's timers (first byte, idle gap, total). A
	 * low-speed limit would make curl re-arm a one-second timer on every read and
	 * wake every stream once a second.
	 */
	if (c->body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
	} else
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	return (0);
}

int
up_start(struct up_call *c)
{
	CURLMcode	mc;

	c->status = 0;
	c->ctype[0] = '\0';
	c->retry_after[0] = '\0';
	c->errbuf[0] = '\0';
	c->paused = 0;
	c->sends = 0;
	c->resend_refused = 0;
	buf_reset(&c->relay);
	if (c->easy == NULL && up_npool > 0)
		c->easy = up_pool[--up_npool];
	if (c->easy == NULL && (c->easy = curl_easy_init()) == NULL) {
		snprintf(c->errbuf, sizeof(c->errbuf), "curl_easy_init failed");
		return (-1);
	}
	up_setup(c);
	c->shard = up_pick();
	if ((mc = curl_multi_add_handle(c->shard->multi, c->easy)) != CURLM_OK) {
		snprintf(c->errbuf, sizeof(c->errbuf), "%s", curl_multi_strerror(mc));
		return (-1);
	}
	c->running = 1;
	c->shard->nrunning++;
	up_nrunning++;
	return (0);
}

void
up_cancel(struct up_call *c)
{
	struct up_call	**pp;

	if (c->unpause_queued) {
		for (pp = &up_unpause_head; *pp != NULL; pp = &(*pp)->unpause_next)
			if (*pp == c) {
				*pp = c->unpause_next;
				break;
			}
		c->unpause_queued = 0;
	}
	if (!c->running)
		return;
	curl_multi_remove_handle(c->shard->multi, c->easy);
	c->running = 0;
	c->paused = 0;
	c->shard->nrunning--;
	up_nrunning--;
}

void
up_release(struct up_call *c)
{
	up_cancel(c);
	if (c->easy != NULL) {
		/* Nothing in a pooled handle may point into the call being freed. */
		curl_easy_setopt(c->easy, CURLOPT_PRIVATE, NULL);
		curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, NULL);
		curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, NULL);
		curl_easy_setopt(c->easy, CURLOPT_PREREQDATA, NULL);
		if (up_npool < sizeof(up_pool) / sizeof(up_pool[0]))
			up_pool[up_npool++] = c->easy;
		else
			curl_easy_cleanup(c->easy);
	}
	c->easy = NULL;
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	buf_free(&c->relay);
}

void
up_queue_unpause(struct up_call *c)
{
	if (c->unpause_queued || !c->paused)
		return;
	c->unpause_queued = 1;
	c->unpause_next = up_unpause_head;
	up_unpause_head = c;
}

void
up_run_unpauses(void)
{
	struct up_call	*c;
	size_t		 i;

	while ((c = up_unpause_head) != NULL) {
		up_unpause_head = c->unpause_next;
		c->unpause_queued = 0;
		if (!c->running || !c->paused)
			continue;
		c->paused = 0;
		/* May call up_on_write before it returns, and pause again. */
		curl_easy_pause(c->easy, CURLPAUSE_CONT);
	}
	up_flush_data();
	for (i = 0; i < up_nshards; i++)
		up_drain(&up_shards[i]);
	up_reap();
}

size_t
up_running(void)
{
	return (up_nrunning);
}

const char *
up_lib_version(void)
{
	return (curl_version());
}

int
up_reachability(int64_t *last_answer_ms, int64_t *last_unreached_ms)
{
	*last_answer_ms = atomic_load(&up_last_answer_ms);
	*last_unreached_ms = atomic_load(&up_last_unreached_ms);
	/* Unreachable: the last call to end at all got no answer. */
	return (*last_unreached_ms > *last_answer_ms ? 0 : 1);
}
