/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The gateway: what happens to a request between the transport and the upstream
 * (docs/design.md, "The request path"). It is the transport's handler table, walks a
 * request through route -> admit -> cache -> upstream (retry) -> relay -> complete,
 * and is the only module that writes a request's state. Every function here runs on
 * a loop thread; the steps it calls live in their own modules and report back
 * through return values, or through the hook tables of stream.c and flight.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <sys/random.h>
#include <time.h>

#include "admin.h"
#include "admit.h"
#include "bridge.h"
#include "buf.h"
#include "cache.h"
#include "cachedb.h"
#include "config.h"
#include "embed.h"
#include "flight.h"
#include "metrics.h"
#include "gw.h"
#include "http.h"
#include "local.h"
#include "log.h"
#include "loop.h"
#include "reply.h"
#include "req.h"
#include "request.h"
#include "resolve.h"
#include "retry.h"
#include "route.h"
#include "stream.h"
#include "token.h"
#include "upstream.h"
#include "usage.h"

/* Per loop thread: each thread serves its own connections and shares nothing. */
static _Thread_local struct config	*gw_cfg;	/* for requests that start now */
static _Thread_local uint64_t		 gw_rng;

static void	gw_attempt(struct gw_req *);
static void	gw_fail(struct gw_req *, unsigned, const char *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));

/* xorshift64*: request ids and jitter need speed and spread, not secrecy. */
static uint64_t
gw_random(void)
{
	if (gw_rng == 0) {
		if (getrandom(&gw_rng, sizeof(gw_rng), 0) != sizeof(gw_rng))
			gw_rng = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ULL;
		gw_rng |= 1;
	}
	gw_rng ^= gw_rng >> 12;
	gw_rng ^= gw_rng << 25;
	gw_rng ^= gw_rng >> 27;
	return (gw_rng * 0x2545f4914f6cdd1dULL);
}

void
gw_configure(struct config *cfg)
{
	/* A request holds its own reference: the old configuration lives on as long
	   as a request started under it does. */
	cfg_ref(cfg);
	cfg_unref(gw_cfg);
	gw_cfg = cfg;
}

const struct config *
gw_config(void)
{
	return (gw_cfg);
}

size_t
gw_live(void)
{
	return (req_live());
}

static struct gw_req *
gw_of(struct http_req *tr)
{
	return ((struct gw_req *)(void *)((char *)tr - offsetof(struct gw_req, tr)));
}

static void
gw_new_request_id(struct gw_req *req)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	const char	*given = req->tr.head.request_id;
	uint64_t	 r = 0;
	size_t		 i, len;
	int		 ok;

	if (given != NULL && (len = strlen(given)) > 0 &&
	    len < sizeof(req->request_id)) {
		ok = 1;
		for (i = 0; i < len && ok; i++)
			ok = isalnum((unsigned char)given[i]) ||
			    strchr("-_.:/+=", given[i]) != NULL;
		if (ok) {
			memcpy(req->request_id, given, len + 1);
			return;
		}
	}
	for (i = 0; i < 21; i++) {
		if (i % 10 == 0)
			r = gw_random();
		req->request_id[i] = alphabet[r % (sizeof(alphabet) - 1)];
		r /= sizeof(alphabet) - 1;
	}
	req->request_id[21] = '\0';
}

/* The head is complete: route it and check the caller, then read the body. */
/* metrics.c's label for a route. */
static enum metrics_family
gw_family(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_MODELS:
	case ROUTE_PIPELINE:
	case ROUTE_V1_TASK:
	case ROUTE_ROOT:
		return (METRICS_F_HF);
	case ROUTE_OAI:
	case ROUTE_OAI_MODELS:
		return (METRICS_F_OPENAI);
	case ROUTE_ENDPOINT:
	case ROUTE_ENDPOINT_INFO:
		return (METRICS_F_ENDPOINT);
	case ROUTE_HUB_MODEL:
	case ROUTE_STATUS:
	case ROUTE_FRAMEWORK:
	case ROUTE_MODEL_INFO:
	case ROUTE_ROOT_INFO:
		return (METRICS_F_HUB);
	case ROUTE_HEALTHZ:
	case ROUTE_READYZ:
	case ROUTE_API_TASKS:
	case ROUTE_V1_TASKS:
		return (METRICS_F_LOCAL);
	case ROUTE_ADMIN_CACHE:
	case ROUTE_ADMIN_USAGE:
	case ROUTE_METRICS:
		return (METRICS_F_ADMIN);
	default:
		return (METRICS_F_OTHER);
	}
}

/* Why a call is made again, for metrics.c. */
static enum metrics_retry
gw_retry_reason(const struct retry_event *ev)
{
	switch (ev->transport) {
	case RETRY_T_CONNECT:
		return (METRICS_R_CONNECT);
	case RETRY_T_TIMEOUT:
		return (METRICS_R_TIMEOUT);
	case RETRY_T_ANSWER:
		return (ev->status == 429 ? METRICS_R_429 : ev->status >= 500 ?
		    METRICS_R_5XX : METRICS_R_OTHER);
	default:
		return (METRICS_R_OTHER);
	}
}

/* A stream to req's client starts: open until req completes. */
static void
gw_stream_opened(struct gw_req *req)
{
	if (!req->call.stream_open) {
		req->call.stream_open = 1;
		metrics_stream_open();
	}
}

static void
gw_begin(struct gw_req *req)
{
	const struct http_head	*h = &req->tr.head;
	struct http_resp	*resp;
	char			 err[512], *end;
	int			 status;
	unsigned long long	 n;

	req->state = GW_REPLIED;
	gw_new_request_id(req);
	if (strcmp(h->method, "OPTIONS") == 0) {
		local_preflight(req);
		return;
	}
	if (route_resolve(h->method, h->path, &req->route, &status, err,
	    sizeof(err)) == -1) {
		reply_error(req, (unsigned)status,
		    status == 404 ? "not_found" : "bad_request", "%s", err);
		return;
	}
	if (!route_method_allowed(req->route.kind, h->method)) {
		resp = reply_error_resp(req, "method_not_allowed", "%s",
		    "method not allowed on this route");
		http_resp_header(resp, "Allow", route_allow_header(req->route.kind));
		reply_send(req, 405, resp);
		return;
	}
	route_at_root(&req->route, req->cfg->root_model);
	if (req->route.kind == ROUTE_ROOT || req->route.kind == ROUTE_ROOT_INFO) {
		reply_error(req, 400, "no_model", "%s %s names no model: point the client "
		    "at /models/{model id} (or /v1 for chat), or set [server] root_model "
		    "to the model the gateway's bare URL stands for", h->method,
		    req->route.kind == ROUTE_ROOT ? "/" : "/info");
		return;
	}
	if (admit_identify(req) == -1)
		return;
	if (h->content_length != NULL) {
		n = strtoull(h->content_length, &end, 10);
		if (*end == '\0' && n > req->cfg->max_body_bytes) {
			reply_error(req, 413, "payload_too_large",
			    "request body of %llu bytes exceeds the limit of %zu bytes",
			    n, req->cfg->max_body_bytes);
			return;
		}
	}
	req->state = GW_READING;
	http_read_body(&req->tr);
}

static void	gw_proceed(struct gw_req *);

static void
gw_local(struct gw_req *req)
{
	local_answer(req);
}

static void
gw_upstream(struct gw_req *req)
{
	if (resolve_target(req) == 0)
		gw_proceed(req);
}

/* An admin route: answered, or waiting for a helper thread. */
static void
gw_admin(struct gw_req *req)
{
	int	waits = req->route.kind == ROUTE_ADMIN_CACHE ? admin_cache(req) :
		    admin_usage(req);

	if (waits) {
		req->state = GW_OFFLOADED;
		http_suspend(&req->tr, 0);
	}
}

/* The handler of each route (route.c's handler ids). */
static void (*const gw_handlers_by_route[])(struct gw_req *) = {
	[ROUTE_H_LOCAL] = gw_local,
	[ROUTE_H_ADMIN_CACHE] = gw_admin,
	[ROUTE_H_ADMIN_USAGE] = gw_admin,
	[ROUTE_H_METRICS] = admin_metrics,
	[ROUTE_H_UPSTREAM] = gw_upstream,
};

/* The body is complete. */
static void
gw_handle(struct gw_req *req)
{
	enum route_handler	 h = route_handler_of(req->route.kind);

	req->state = GW_REPLIED;
	if (req->tr.in_total > req->cfg->max_body_bytes) {
		reply_error(req, 413, "payload_too_large",
		    "request body exceeds the limit of %zu bytes",
		    req->cfg->max_body_bytes);
		return;
	}
	if ((size_t)h >= sizeof(gw_handlers_by_route) / sizeof(gw_handlers_by_route[0]) ||
	    gw_handlers_by_route[h] == NULL) {
		reply_error(req, 500, "internal", "no handler for this route");
		return;
	}
	gw_handlers_by_route[h](req);
}

static void	gw_on_deadline(struct loop_timer *);
static void	gw_on_retry(struct loop_timer *);
static int	gw_on_data(struct up_call *, const char *, size_t);
static void	gw_on_done(struct up_call *, enum up_result);
static int	gw_on_resend(struct up_call *);
static int	gw_cache(struct gw_req *);

static void
gw_on_hub_wait(struct loop_timer *t)
{
	gw_proceed(t->arg);
}

/* A step needs the Hub's answer about the model, or an endpoint's probe (probe.c),
   still on its way: gw_proceed again in a moment (the steps bound the wait). */
static void
gw_wait_hub(struct gw_req *req)
{
	struct call_part	*call = &req->call;

	req->state = GW_HUB_WAIT;
	call->retry_timer.cb = gw_on_hub_wait;
	call->retry_timer.arg = req;
	loop_timer_set(&call->retry_timer, RESOLVE_POLL_MS);
	if (req->tr.in_handler)
		http_suspend(&req->tr, 0);
}

/* After the model is resolved: the bridge to today's API, the client's rights, the
   cache, the upstream call. */
static void
gw_proceed(struct gw_req *req)
{
	struct call_part	*call = &req->call;

	switch (resolve_bridge(req)) {
	case RESOLVE_WAIT:
		gw_wait_hub(req);
		return;
	case -1:
		req->state = GW_REPLIED;
		return;
	default:
		break;
	}
	switch (admit_request(req)) {
	case ADMIT_WAIT:
		gw_wait_hub(req);
		return;
	case ADMIT_REFUSED:
		req->state = GW_REPLIED;
		return;
	default:
		break;
	}
	if (req->res.local) {
		req->state = GW_REPLIED;
		local_hub_answer(req);
		return;
	}
	if (resolve_call(req) == -1) {
		req->state = GW_REPLIED;
		return;
	}
	call->max_response = req->cfg->max_response_bytes;
	call->up.on_data = gw_on_data;
	call->up.on_done = gw_on_done;
	call->up.on_resend = gw_on_resend;
	call->up.arg = req;
	call->retry_timer.cb = gw_on_retry;
	call->retry_timer.arg = req;
	call->deadline_timer.cb = gw_on_deadline;
	call->deadline_timer.arg = req;
	loop_timer_set(&call->deadline_timer, req->res.deadline - loop_now_ms());
	if (gw_cache(req))
		return;
	gw_attempt(req);
	if (req->state == GW_UPSTREAM)
		http_suspend(&req->tr, req->res.sse);
}

/*
 * The token coming back (an upstream that echoes request headers): 1 when it is in
 * the body, the relayed headers (relay), the Content-Type or the Retry-After of an
 * answer, which is then withheld: logged without it, neither relayed nor stored.
 */
static int
gw_leaks(struct gw_req *req, const char *ctype, const char *body, size_t len,
    const struct buf *relay, const char *retry_after)
{
	const char	*token = req->cfg->token, *where;

	if (token == NULL)
		return (0);
	if (token_found(token, body, len))
		where = "body";
	else if ((relay != NULL && token_found(token, relay->data, relay->len)) ||
	    (ctype != NULL && token_found(token, ctype, strlen(ctype))) ||
	    (retry_after != NULL && token_found(token, retry_after, strlen(retry_after))))
		where = "headers";
	else
		return (0);
	log_warnx("%s: the upstream's answer for %s holds hfgate's token in its %s: "
	    "withheld", req->request_id, req->res.model[0] != '\0' ? req->res.model :
	    "-", where);
	return (1);
}

#define GW_LEAK_TYPE	"upstream_credential"
#define GW_LEAK_MSG	"the upstream's answer held the gateway's Hugging Face token: " \
			"withheld"

/* Serves entry e as how (cache_fit) said; takes e's body or list. */
static void
gw_serve_entry(struct gw_req *req, struct cache_entry *e, int how, char *list)
{
	loop_timer_cancel(&req->call.deadline_timer);
	switch (how) {
	case CACHE_SERVE_STREAM:
		req->state = GW_STREAMING;
		gw_stream_opened(req);
		stream_replay(req, e->status, e->ctype, e->body, e->len);
		e->body = NULL;
		break;
	case CACHE_SERVE_LIST:
		req->state = GW_REPLIED;
		reply_take(req, 200, "application/json", list, strlen(list));
		break;
	default:
		req->state = GW_REPLIED;
		reply_take(req, (unsigned)e->status, e->ctype, e->body, e->len);
		e->body = NULL;
		break;
	}
}

/* The cache's answer, or a wait for an identical request's. 1 when req is served or
   waits; 0 when it goes upstream. */
static int
gw_cache(struct gw_req *req)
{
	struct cache_entry	 e;
	char			*list;
	int			 how;

	memset(&e, 0, sizeof(e));
	if (cache_begin(req, resolve_task, &e)) {
		/* An entry stored before answers were checked is no answer. */
		if (!gw_leaks(req, e.ctype, e.body, e.len, NULL, NULL) &&
		    (how = cache_fit(req, &e, CACHE_STATE_HIT, &list)) != CACHE_SERVE_NONE) {
			cache_count_hit(1);
			gw_serve_entry(req, &e, how, list);
			cache_entry_free(&e);
			return (1);
		}
		cache_entry_free(&e);
		cache_count_hit(0);
	}
	/* Identical requests share one upstream call; a stream's followers get its
	   events so far, then the live ones. */
	if (req->cache.state == CACHE_STATE_MISS &&
	    flight_join(req, req->cache.key, req->res.sse)) {
		cache_set_store(req, 0);	/* the leader stores the answer */
		metrics_coalesced();
		req->state = GW_COALESCED;
		http_suspend(&req->tr, req->res.sse);
		return (1);
	}
	return (0);
}

/* A stale entry instead of an error, within the stale-if-error window. 1 when served. */
static int
gw_serve_stale(struct gw_req *req)
{
	struct cache_entry	*e = cache_take_stale(req);
	char			*list;
	int			 how = CACHE_SERVE_NONE;

	if (e == NULL)
		return (0);
	if (!gw_leaks(req, e->ctype, e->body, e->len, NULL, NULL) &&
	    (how = cache_fit(req, e, CACHE_STATE_STALE, &list)) != CACHE_SERVE_NONE) {
		gw_serve_entry(req, e, how, list);
		log_warnx("%s: upstream failing: served a stale cache entry (%lld s old)",
		    req->request_id, (long long)req->cache.age);
		flight_leave(req);
	}
	cache_entry_free(e);
	free(e);
	return (how != CACHE_SERVE_NONE);
}

/* An error of hfgate's own for a request that went upstream: a stale cache entry
   beats it when allowed, and waiters for this request's answer go on their own. */
static void
gw_fail(struct gw_req *req, unsigned status, const char *type, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	if (gw_serve_stale(req))
		return;
	flight_leave(req);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	loop_timer_cancel(&req->call.deadline_timer);
	req->state = GW_REPLIED;
	reply_error(req, status, type, "%s", msg);
}

static void
gw_attempt(struct gw_req *req)
{
	struct call_part	*call = &req->call;
	uint64_t		 now = loop_now_update();
	long			 left = req->res.deadline > now ?
				    (long)(req->res.deadline - now) : 0;

	/* Built on the first attempt only: a cache hit never needs them. */
	if (!up_has_headers(&call->up) && resolve_headers(req) == -1) {
		gw_fail(req, 500, "internal", "out of memory");
		return;
	}
	buf_reset(&call->out);
	call->too_large = 0;
	call->up.connect_timeout_ms = req->cfg->connect_timeout_ms < left ?
	    req->cfg->connect_timeout_ms : (left > 0 ? left : 1);
	call->attempts++;
	metrics_attempt();
	if (up_start(&call->up) == -1) {
		log_warnx("%s: upstream call failed to start: %s", req->request_id,
		    call->up.errbuf);
		gw_fail(req, 502, "upstream_unreachable",
		    "cannot start the upstream request");
		return;
	}
	req->state = GW_UPSTREAM;
}

/*
 * A bridged request's upstream answer in the 2023 shape (bridge.c), in place of body:
 * a 2xx, or an error in the OpenAI API's shape. 0, or -1 when replied (a 2xx that
 * is no answer of its kind).
 */
static int
gw_bridge_back(struct gw_req *req, long status, struct buf *body, const char **ctype)
{
	struct resolve_part	*res = &req->res;
	struct buf		 out = { NULL, 0, 0 };
	int			 r;

	if (status >= 200 && status < 300)
		r = bridge_answer(&res->bridge, res->client_body.data, res->client_body.len,
		    body->data, body->len, &out) == 0 ? 1 : -1;
	else
		r = bridge_error(status, body->data, body->len, &out);
	if (r == 1) {
		buf_free(body);
		*body = out;
		*ctype = "application/json";
		return (0);
	}
	buf_free(&out);
	if (r == 0)
		return (0);
	log_warnx("%s: upstream %ld answer to a bridged call is not an OpenAI answer",
	    req->request_id, status);
	gw_fail(req, 502, "upstream_invalid", "the upstream's answer is not an OpenAI %s "
	    "answer", res->bridge.kind == BRIDGE_CHAT ? "chat" : "completion");
	return (-1);
}

/* The feature-extraction answer to an OpenAI embeddings request in OpenAI's shape
   (embed.c), in place of body. 0, or -1 when replied (a 2xx that is not one). */
static int
gw_embed_back(struct gw_req *req, struct buf *body, const char **ctype)
{
	struct resolve_part	*res = &req->res;
	struct buf		 out = { NULL, 0, 0 };

	if (embed_answer(res->client_body.data, res->client_body.len, res->model,
	    body->data, body->len, &out) == 0) {
		buf_free(body);
		*body = out;
		*ctype = "application/json";
		return (0);
	}
	buf_free(&out);
	log_warnx("%s: the upstream's feature-extraction answer for %s is no list of "
	    "vectors", req->request_id, res->model);
	gw_fail(req, 502, "upstream_invalid", "the upstream's answer is not a "
	    "feature-extraction list of vectors");
	return (-1);
}

/* Sends an upstream answer to the client, taking body. */
static void
gw_relay(struct gw_req *req, long status, struct buf *body, const char *ctype,
    const struct buf *relay, const char *retry_after)
{
	struct http_resp	*resp;
	size_t			 len;

	if (gw_leaks(req, ctype, body->data, body->len, relay, retry_after)) {
		gw_fail(req, 502, GW_LEAK_TYPE, GW_LEAK_MSG);
		return;
	}
	req->call.tokens = usage_tokens(req, ctype, body->data, body->len,
	    &req->call.prompt_tokens);
	/* The request's own answer: a waiter's is its leader's, translated already. */
	if (req->res.bridge.kind != BRIDGE_NONE && req->call.attempts > 0 &&
	    gw_bridge_back(req, status, body, &ctype) == -1)
		return;
	if (req->res.embed && req->call.attempts > 0 && status >= 200 && status < 300 &&
	    gw_embed_back(req, body, &ctype) == -1)
		return;
	len = body->len;
	cache_answer(req, status, ctype, body);
	flight_land(req, status, ctype, retry_after, body, relay);
	resp = reply_body(req, buf_steal(body), len, ctype);
	http_resp_relayed(resp, relay, NULL);
	if (retry_after != NULL && *retry_after != '\0')
		http_resp_header(resp, "Retry-After", retry_after);
	loop_timer_cancel(&req->call.deadline_timer);
	req->state = GW_REPLIED;
	reply_send(req, (unsigned)status, resp);
}

/* Relays the kept answer of the last attempt (a loading 503) with Retry-After. */
static void
gw_relay_last(struct gw_req *req, long retry_after_s)
{
	struct call_part	*call = &req->call;
	char			 ra[32];

	snprintf(ra, sizeof(ra), "%ld", retry_after_s);
	gw_relay(req, call->last_status, &call->last_body, call->last_ctype,
	    &call->last_relay, ra);
}

/* Keeps this attempt's answer (relayed if the deadline ends the wait) and waits
   delay_ms before the next attempt. */
static void
gw_keep_answer(struct gw_req *req, long delay_ms, double loading, long status)
{
	struct call_part	*call = &req->call;
	struct buf		 tmp;

	tmp = call->last_body;
	call->last_body = call->out;
	call->out = tmp;
	buf_reset(&call->out);
	/* A copy: the call's own headers are upstream.c's, reset by the next start. */
	buf_reset(&call->last_relay);
	if (call->up.relay.len > 0 && buf_append(&call->last_relay, call->up.relay.data,
	    call->up.relay.len) == -1)
		buf_reset(&call->last_relay);
	call->last_status = status;
	call->last_loading = loading;
	snprintf(call->last_ctype, sizeof(call->last_ctype), "%s", call->up.ctype);
	log_debug("%s: upstream %ld (attempt %u), next attempt in %ld ms",
	    req->request_id, status, call->attempts, delay_ms);
	req->state = GW_RETRY_WAIT;
	call->retry_timer.cb = gw_on_retry;
	loop_timer_set(&call->retry_timer, (uint64_t)(delay_ms > 0 ? delay_ms : 0));
}

static void
gw_on_retry(struct loop_timer *t)
{
	gw_attempt(t->arg);
}

/* What retry_decide needs of req, for an attempt that ended as transport. */
static void
gw_retry_event(struct gw_req *req, enum retry_transport transport,
    struct retry_event *ev)
{
	const struct config	*cfg = req->cfg;
	const struct call_part	*call = &req->call;
	uint64_t		 now = loop_now_update();

	memset(ev, 0, sizeof(*ev));
	ev->transport = transport;
	ev->status = call->up.status;
	ev->retry_after = call->up.retry_after;
	ev->loading = -1;
	ev->wait_for_model = req->res.wait_for_model;
	ev->attempts = call->attempts;
	ev->failures = call->failures;
	ev->max_attempts = cfg->max_attempts;
	ev->left_ms = req->res.deadline > now ? (long)(req->res.deadline - now) : 0;
	ev->backoff_base_ms = cfg->backoff_base_ms;
	ev->backoff_max_ms = cfg->backoff_max_ms;
	ev->rnd = (uint32_t)gw_random();
	ev->now = time(NULL);
}

static void
gw_on_deadline(struct loop_timer *t)
{
	struct gw_req		*req = t->arg;
	struct retry_event	 ev;
	struct retry_verdict	 v;

	if (req->state != GW_UPSTREAM && req->state != GW_RETRY_WAIT &&
	    req->state != GW_COALESCED)
		return;
	up_cancel(&req->call.up);
	loop_timer_cancel(&req->call.retry_timer);
	gw_retry_event(req, RETRY_T_DEADLINE, &ev);
	ev.status = req->call.last_status;
	ev.loading = req->call.last_loading;
	retry_decide(&ev, &v);
	if (v.action == RETRY_RELAY_LOADING) {
		gw_relay_last(req, v.retry_after_s);
		return;
	}
	gw_fail(req, 504, "timeout",
	    "no answer from the upstream within the deadline (%llu ms)",
	    (unsigned long long)(req->res.deadline - req->tr.head.start_ms));
}

/* The leader's stream starts: its own client's, then its followers'. */
static void
gw_stream_start(struct gw_req *req)
{
	struct up_call	*up = &req->call.up;

	loop_timer_cancel(&req->call.deadline_timer);
	req->state = GW_STREAMING;
	gw_stream_opened(req);
	stream_start(req);
	flight_stream_start(req, up->status, up->ctype, &up->relay);
}

static int
gw_on_data(struct up_call *c, const char *data, size_t len)
{
	struct gw_req		*req = c->arg;
	struct call_part	*call = &req->call;
	int			 r;

	if (req->client_gone)
		return (UP_DATA_ABORT);
	if (req->state == GW_UPSTREAM && c->status >= 200 && c->status < 300 &&
	    strncasecmp(c->ctype, "text/event-stream", 17) == 0) {
		/* Its headers go out first: checked now, as a whole answer's. */
		if (gw_leaks(req, c->ctype, NULL, 0, &c->relay, NULL)) {
			call->leaked = 1;
			return (UP_DATA_ABORT);
		}
		gw_stream_start(req);
	}
	if (req->state == GW_STREAMING) {
		if (stream_leaks(req, data, len)) {
			log_warnx("%s: the upstream's stream for %s holds hfgate's token: "
			    "withheld, the stream ends", req->request_id,
			    req->res.model[0] != '\0' ? req->res.model : "-");
			call->leaked = 1;
			return (UP_DATA_ABORT);
		}
		if ((r = stream_data(req, data, len)) != UP_DATA_OK)
			return (r);
		/* What the client got: a bridged stream's are converted (stream.c). */
		if (req->res.bridge.kind != BRIDGE_NONE) {
			data = req->st.conv.data;
			len = req->st.conv.len;
		}
		if (len > 0) {
			flight_stream_bytes(req, data, len);
			cache_stream_bytes(req, data, len);
		}
		return (r);
	}
	if (call->out.len + len > call->max_response) {
		call->too_large = 1;
		return (UP_DATA_ABORT);
	}
	if (buf_append(&call->out, data, len) == -1)
		return (UP_DATA_ABORT);
	return (UP_DATA_OK);
}

static enum retry_transport
gw_transport(enum up_result result, int too_large)
{
	switch (result) {
	case UP_OK:
		return (RETRY_T_ANSWER);
	case UP_E_CONNECT:
		return (RETRY_T_CONNECT);
	case UP_E_TIMEOUT:
		return (RETRY_T_TIMEOUT);
	default:
		return (too_large ? RETRY_T_TOO_LARGE : RETRY_T_FAILED);
	}
}

/*
 * libcurl sends the request again on a new connection: the call on the dead reused
 * one failed without an answer, and the next one is an attempt like any other. It
 * may go only where retry.c would allow another attempt after a reset, so that
 * X-Hfgate-Attempts is the number of upstream calls and never exceeds max_attempts.
 */
static int
gw_on_resend(struct up_call *c)
{
	struct gw_req		*req = c->arg;
	struct call_part	*call = &req->call;

	if (call->failures + 1 >= req->cfg->max_attempts ||
	    call->attempts >= RETRY_MAX_CALLS)
		return (-1);	/* gw_on_done counts that failure */
	call->failures++;
	call->attempts++;
	metrics_attempt();
	metrics_retry(METRICS_R_CONNECT);
	return (0);
}

/* An attempt ended: the retry verdict (retry.c) says what comes next. */
static void
gw_on_done(struct up_call *c, enum up_result result)
{
	struct gw_req		*req = c->arg;
	struct call_part	*call = &req->call;
	struct retry_event	 ev;
	struct retry_verdict	 v;

	call->up_ms += c->total_ms;
	if (req->state == GW_STREAMING) {
		if (call->leaked)
			stream_fail(req, GW_LEAK_MSG, GW_LEAK_TYPE);
		else
			stream_done(req, result == UP_OK, c->errbuf);
		return;
	}
	if (req->client_gone)
		return;
	if (call->leaked) {
		gw_fail(req, 502, GW_LEAK_TYPE, GW_LEAK_MSG);
		return;
	}
	gw_retry_event(req, gw_transport(result, call->too_large), &ev);
	if (ev.transport == RETRY_T_ANSWER && c->status == 503)
		ev.loading = retry_loading_estimate(call->out.data, call->out.len);
	if (ev.transport != RETRY_T_ANSWER && ev.transport != RETRY_T_TOO_LARGE)
		log_warnx("%s: upstream %s: %s", req->request_id, req->res.model[0] ?
		    req->res.model : "-", c->errbuf);
	retry_decide(&ev, &v);
	switch (v.action) {
	case RETRY_AGAIN:
		metrics_retry(gw_retry_reason(&ev));
		call->failures++;
		/* A transport failure keeps no answer to relay. */
		gw_keep_answer(req, v.delay_ms, -1,
		    ev.transport == RETRY_T_ANSWER ? c->status : 0);
		return;
	case RETRY_WAIT_LOADING:
		metrics_retry(METRICS_R_LOADING);
		gw_keep_answer(req, v.delay_ms, ev.loading, c->status);
		return;
	case RETRY_RELAY_LOADING:
		gw_keep_answer(req, 0, ev.loading, c->status);
		loop_timer_cancel(&call->retry_timer);
		gw_relay_last(req, v.retry_after_s);
		return;
	case RETRY_FAIL:
		if (ev.transport == RETRY_T_TOO_LARGE)
			gw_fail(req, v.status, v.error_type,
			    "the upstream answer exceeds %zu bytes", call->max_response);
		else if (v.status == 504)
			gw_fail(req, v.status, v.error_type,
			    "no answer from the upstream within the deadline");
		else
			gw_fail(req, v.status, v.error_type,
			    "upstream request failed after %u attempt%s: %s",
			    call->attempts, call->attempts == 1 ? "" : "s", c->reason);
		return;
	case RETRY_RELAY:
	case RETRY_STREAM_END:
		break;
	}
	/* A retired API: what to change, rather than the upstream's own words. */
	if (c->status == 410) {
		gw_fail(req, 410, "upstream_gone", "the upstream answered 410 Gone at %s: "
		    "it no longer serves this API; set %s to a current one (Hugging "
		    "Face's router: https://router.huggingface.co/hf-inference for the "
		    "tasks, https://router.huggingface.co/v1 for the OpenAI API)",
		    req->res.url, req->res.gone_key != NULL ? req->res.gone_key :
		    "[upstream] url");
		return;
	}
	/* A 5xx after the retries: stale-if-error may answer instead. */
	if (c->status >= 500 && gw_serve_stale(req))
		return;
	gw_relay(req, c->status, &call->out, c->ctype, &c->relay, c->retry_after);
}

/* The gateway gives up on the client (it left, stalled, or fell behind). */
static void
gw_client_gone(struct gw_req *req)
{
	if (req->client_gone)
		return;
	req->client_gone = 1;
	log_debug("%s: client went away", req->request_id);
	flight_leave(req);
	up_cancel(&req->call.up);
	loop_timer_cancel(&req->call.retry_timer);
	loop_timer_cancel(&req->call.deadline_timer);
	http_abandon(&req->tr);
}

/* flight.c's hooks: what a waiter hears from its leader. */
static void
gw_flight_answer(struct gw_req *req, int go, long status, const char *ctype,
    const char *retry_after, struct buf *body, struct buf *relay)
{
	if (req->state != GW_COALESCED)
		return;
	if (go) {
		/* On its own now: its answer is stored like any miss's. */
		cache_set_store(req, 1);
		gw_attempt(req);
		return;
	}
	/* A shared 2xx is the stored answer; an error is the leader's. */
	if (status >= 200 && status < 300)
		cache_mark(req, CACHE_STATE_HIT);
	gw_relay(req, status, body, ctype, relay, retry_after);
}

static void
gw_flight_stream_start(struct gw_req *req, long status, const char *ctype,
    const struct buf *relay, struct buf *sofar)
{
	if (req->state != GW_COALESCED)
		return;
	cache_mark(req, CACHE_STATE_HIT);
	loop_timer_cancel(&req->call.deadline_timer);
	req->state = GW_STREAMING;
	gw_stream_opened(req);
	stream_follow(req, (int)status, ctype, relay, sofar);
}

static void
gw_flight_stream_data(struct gw_req *req, const struct buf *data, int end)
{
	if (req->state == GW_STREAMING && stream_follow_data(req, data, end) == -1) {
		gw_client_gone(req);
		http_drop(&req->tr);
	}
}

static const struct flight_hooks gw_flight_hooks = {
	.answer = gw_flight_answer,
	.stream_start = gw_flight_stream_start,
	.stream_data = gw_flight_stream_data,
};

/* stream.c's hooks. */
static void
gw_stream_ended(struct gw_req *req, const char *tail, size_t len, int complete)
{
	metrics_stream_end(complete);
	cache_stream_end(req, complete);
	flight_stream_end(req, tail, len);
}

static void
gw_stream_stalled(struct gw_req *req)
{
	gw_client_gone(req);
	http_drop(&req->tr);
}

static const struct stream_hooks gw_stream_hooks = {
	.ended = gw_stream_ended,
	.stalled = gw_stream_stalled,
};

/* The transport's handler table. */
static struct http_req *
gw_on_create(void)
{
	struct gw_req	*req = req_new(gw_cfg);

	if (req == NULL)
		return (NULL);
	req->call.last_loading = -1;
	return (&req->tr);
}

static void
gw_on_head(struct http_req *tr)
{
	gw_begin(gw_of(tr));
}

static void
gw_on_body(struct http_req *tr)
{
	gw_handle(gw_of(tr));
}

/* The transport refuses the request (its head, or its body as it comes). */
static void
gw_on_refuse(struct http_req *tr)
{
	struct gw_req		*req = gw_of(tr);
	struct http_resp	*resp;
	char			 n[16];

	if (req->request_id[0] == '\0')
		gw_new_request_id(req);
	req->state = GW_REPLIED;
	resp = reply_error_resp(req, tr->error.type, "%s", tr->error.msg);
	if (tr->error.retry_after > 0) {
		snprintf(n, sizeof(n), "%u", tr->error.retry_after);
		http_resp_header(resp, "Retry-After", n);
	}
	reply_send(req, tr->error.status, resp);
}

static void
gw_on_gone(struct http_req *tr)
{
	gw_client_gone(gw_of(tr));
}

static void
gw_on_writable(struct http_req *tr)
{
	stream_writable(gw_of(tr));
}

/* The request is over: the access log, usage, and the one place it is freed. */
/*
 * The access line as one JSON object ([server] access_log_format = json): cJSON
 * escapes what the client chose. Nothing is logged when out of memory.
 */
static void
gw_access_json(struct gw_req *req, const char *client, uint64_t ms, int ok)
{
	static const char *const cache[] = {
		[CACHE_STATE_NONE] = NULL, [CACHE_STATE_BYPASS] = "BYPASS",
		[CACHE_STATE_MISS] = "MISS", [CACHE_STATE_HIT] = "HIT",
		[CACHE_STATE_STALE] = "STALE"
	};
	struct http_req		*tr = &req->tr;
	struct timespec		 ts;
	cJSON			*o;
	char			*line, path[2048], id[256];

	clock_gettime(CLOCK_REALTIME, &ts);
	if ((o = cJSON_CreateObject()) == NULL)
		return;
	if (cJSON_AddNumberToObject(o, "time", (double)ts.tv_sec +
	    (double)(ts.tv_nsec / 1000000) / 1000) != NULL &&
	    cJSON_AddStringToObject(o, "method", tr->head.method) != NULL &&
	    cJSON_AddStringToObject(o, "path", log_escape_bare(path, sizeof(path),
	    tr->head.path)) != NULL &&
	    (client != NULL ? cJSON_AddStringToObject(o, "client", client) :
	    cJSON_AddNullToObject(o, "client")) != NULL &&
	    cJSON_AddStringToObject(o, "addr", http_client_address(tr)) != NULL &&
	    (req->res.model[0] != '\0' ? cJSON_AddStringToObject(o, "model",
	    req->res.model) : cJSON_AddNullToObject(o, "model")) != NULL &&
	    cJSON_AddNumberToObject(o, "status", tr->status) != NULL &&
	    cJSON_AddNumberToObject(o, "ms", (double)ms) != NULL &&
	    cJSON_AddNumberToObject(o, "attempts", req->call.attempts) != NULL &&
	    cJSON_AddNumberToObject(o, "in", (double)tr->in_total) != NULL &&
	    cJSON_AddNumberToObject(o, "out", (double)(req->reply_bytes +
	    req->st.bytes_out)) != NULL &&
	    cJSON_AddStringToObject(o, "id", log_escape_bare(id, sizeof(id),
	    req->request_id)) != NULL &&
	    (cache[req->cache.state] != NULL ? cJSON_AddStringToObject(o, "cache",
	    cache[req->cache.state]) : cJSON_AddNullToObject(o, "cache")) != NULL &&
	    cJSON_AddBoolToObject(o, "aborted", !ok) != NULL &&
	    (line = cJSON_PrintUnformatted(o)) != NULL) {
		log_access("%s", line);
		cJSON_free(line);
	}
	cJSON_Delete(o);
}

static void
gw_on_completed(struct http_req *tr, int ok)
{
	static const char *const cache[] = {
		[CACHE_STATE_NONE] = "", [CACHE_STATE_BYPASS] = " cache=BYPASS",
		[CACHE_STATE_MISS] = " cache=MISS", [CACHE_STATE_HIT] = " cache=HIT",
		[CACHE_STATE_STALE] = " cache=STALE"
	};
	struct gw_req		*req = gw_of(tr);
	const char		*client = req->who.client != NULL ?
				    req->who.client->name : NULL;
	char			 path[2048], name[256], model[256], id[256];

	uint64_t		 ms = loop_now_update() - tr->head.start_ms;

	if (log_access_off())
		;
	else if (log_access_json())
		gw_access_json(req, client, ms, ok);
	else
		/* Every field a client chose is escaped: a line cannot be forged. */
		log_access("%s %s client=%s addr=%s model=%s status=%u ms=%llu "
		    "attempts=%u in=%zu out=%llu id=%s%s%s", tr->head.method,
		    log_escape(path, sizeof(path), tr->head.path),
		    log_escape(name, sizeof(name), client), http_client_address(tr),
		    log_escape(model, sizeof(model), req->res.model[0] != '\0' ?
		    req->res.model : NULL), tr->status, (unsigned long long)ms,
		    req->call.attempts, tr->in_total,
		    (unsigned long long)(req->reply_bytes + req->st.bytes_out),
		    log_escape(id, sizeof(id), req->request_id), cache[req->cache.state],
		    ok ? "" : " aborted");
	/* Counted at the request's end. With client keys, only admitted requests: the
	   refused ones (401, 403, 429) are in the access log, and the usage table's
	   counts give back each day's quota use at start-up. */
	if (admit_counted(req))
		usage_request_done(req, client, ok);
	metrics_request(gw_family(req->route.kind), tr->status, ms, req->cache.state,
	    req->call.prompt_tokens + req->st.prompt_tokens,
	    req->call.tokens + req->st.tokens);
	if (req->call.stream_open)
		metrics_stream_close();
	flight_leave(req);
	admit_release(req);
	req_free(req);
}

static const struct http_handlers gw_handlers = {
	.create = gw_on_create,
	.head = gw_on_head,
	.body = gw_on_body,
	.refuse = gw_on_refuse,
	.gone = gw_on_gone,
	.writable = gw_on_writable,
	.completed = gw_on_completed,
};

const struct http_handlers *
gw_init(void)
{
	stream_set_hooks(&gw_stream_hooks);
	flight_set_hooks(&gw_flight_hooks);
	return (&gw_handlers);
}

void
gw_cancel_all(const char *why)
{
	struct gw_req	*req;

	for (req = req_first(); req != NULL; req = req->next) {
		switch (req->state) {
		case GW_UPSTREAM:
		case GW_RETRY_WAIT:
		case GW_HUB_WAIT:
		case GW_COALESCED:
		case GW_OFFLOADED:
			up_cancel(&req->call.up);
			loop_timer_cancel(&req->call.retry_timer);
			loop_timer_cancel(&req->call.deadline_timer);
			flight_leave(req);
			req->state = GW_REPLIED;
			reply_error(req, 503, "unavailable", "%s", why);
			break;
		case GW_STREAMING:
			stream_fail(req, why, "unavailable");
			break;
		default:
			http_wake(&req->tr);
			break;
		}
	}
}

void
gw_stop(void)
{
	struct gw_req	*req;

	/* MHD aborts when stopped with suspended connections. */
	gw_cancel_all("server stopping");
	/* A stream still writing its last event to a slow client is cut off. */
	for (req = req_first(); req != NULL; req = req->next)
		if (req->tr.suspended) {
			gw_client_gone(req);
			http_drop(&req->tr);
		}
}
