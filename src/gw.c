/*
 * What the gateway does with a request once libmicrohttpd has parsed it: the route,
 * the model, the upstream call with its retries and deadline, and the reply. Every
 * function here runs on the loop thread.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <cJSON.h>

#include "auth.h"
#include "buf.h"
#include "cache.h"
#include "config.h"
#include "gw.h"
#include "http.h"
#include "hub.h"
#include "json.h"
#include "limit.h"
#include "log.h"
#include "loop.h"
#include "modelid.h"
#include "retry.h"
#include "stream.h"
#include "route.h"
#include "task.h"
#include "upstream.h"
#include "usage.h"
#include "v1.h"

#define GW_LOADING_MIN_MS	250		/* shortest wait for a loading model */
#define GW_LOADING_MARGIN_MS	500		/* time left for the attempt after a wait */
#define GW_MAX_CALLS		1000		/* sanity cap on calls, loading included */
#define GW_HUB_WAIT_MS		3000		/* for a model's task, to check a client's */
#define GW_HUB_POLL_MS		20

/* Per loop thread: each thread serves its own connections and shares nothing. */
static _Thread_local struct config	*gw_cfg;
static _Thread_local char		*gw_auth;	/* "Authorization: Bearer ..." */
static _Thread_local struct gw_req	*gw_head;
static _Thread_local size_t		 gw_nlive;
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

int
gw_configure(struct config *cfg)
{
	char	*auth = NULL;
	size_t	 len;

	if (cfg != NULL && cfg->token != NULL) {
		len = strlen(cfg->token) + sizeof("Authorization: Bearer ");
		if ((auth = malloc(len)) == NULL)
			return (-1);
		snprintf(auth, len, "Authorization: Bearer %s", cfg->token);
	}
	if (gw_auth != NULL) {
		explicit_bzero(gw_auth, strlen(gw_auth));
		free(gw_auth);
	}
	gw_auth = auth;
	/* Requests copy what they use from the configuration, so the old one can go. */
	cfg_ref(cfg);
	cfg_unref(gw_cfg);
	gw_cfg = cfg;
	return (0);
}

const struct config *
gw_config(void)
{
	return (gw_cfg);
}

const char *
gw_auth_header(void)
{
	return (gw_auth);
}

void
gw_link(struct gw_req *req)
{
	req->next = gw_head;
	if (gw_head != NULL)
		gw_head->prev = req;
	gw_head = req;
	gw_nlive++;
	req->cfg = gw_cfg;
	cfg_ref(req->cfg);
}

size_t
gw_live(void)
{
	return (gw_nlive);
}

struct gw_req *
gw_find(uint64_t serial)
{
	struct gw_req	*req;

	for (req = gw_head; req != NULL; req = req->next)
		if (req->serial == serial)
			return (req);
	return (NULL);
}

static void
gw_new_request_id(struct gw_req *req)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	const char	*given = http_header(req, "X-Request-Id");
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

static void
gw_preflight(struct gw_req *req)
{
	struct MHD_Response	*resp;
	const char		*hdrs;

	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp != NULL) {
		hdrs = http_header(req, "Access-Control-Request-Headers");
		MHD_add_response_header(resp, "Access-Control-Allow-Methods",
		    "GET, POST, OPTIONS");
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
		    hdrs != NULL ? hdrs : "authorization, x-api-key, content-type, x-model, "
		    "x-request-id, x-timeout, x-wait-for-model, x-use-cache");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
	}
	http_reply(req, 204, resp);
}

/* 401 with the challenge HF clients and curl understand. what: "client" or "admin". */
static void
gw_unauthorized(struct gw_req *req, const char *what, int missing)
{
	struct MHD_Response	*resp;

	log_info("%s %s: 401 (%s %s key) from %s", req->method, req->path,
	    missing ? "missing" : "unknown", what, http_client_address(req));
	resp = http_json_error("unauthorized", "%s %s key: send Authorization: Bearer "
	    "<key> or X-Api-Key: <key>", missing ? "missing" : "unknown", what);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"hfgate\"");
	http_reply(req, 401, resp);
}

/*
 * Who is calling. The admin routes want the [admin] key, or without one a loopback
 * client; every other route but /healthz wants a client key once a [client] exists.
 * The key itself is never logged or forwarded (only listed headers go upstream).
 * 0, or -1 (replied).
 */
static int
gw_identify(struct gw_req *req)
{
	const char	*key;
	size_t		 len = 0;

	key = auth_key(http_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
	    http_header(req, "X-Api-Key"), &len);
	if (req->route.kind == ROUTE_ADMIN_CACHE || req->route.kind == ROUTE_ADMIN_USAGE) {
		if (gw_cfg->admin_has_key) {
			if (auth_admin(gw_cfg, key, len))
				return (0);
			gw_unauthorized(req, "admin", key == NULL);
			return (-1);
		}
		if (http_client_loopback(req))
			return (0);
		http_reply_error(req, 403, "forbidden", "the admin routes answer on the "
		    "loopback interface only, unless an [admin] key is configured");
		return (-1);
	}
	if (gw_cfg->nclients == 0 || req->route.kind == ROUTE_HEALTHZ)
		return (0);
	if ((req->client = auth_client(gw_cfg, key, len)) != NULL)
		return (0);
	gw_unauthorized(req, "client", key == NULL);
	return (-1);
}

void
gw_begin(struct gw_req *req)
{
	const char	*cl;
	char		 err[512], *end;
	int		 status;
	unsigned long long n;

	gw_new_request_id(req);
	if (req->head_error != 0) {
		http_reply_error(req, req->head_error, req->head_error == 414 ?
		    "uri_too_long" : "header_too_large", "the request %s over the "
		    "limit of %zu bytes", req->head_error == 414 ? "target is" :
		    "headers are",
		    req->head_error == 414 ? gw_cfg->max_url_bytes :
		    gw_cfg->max_header_bytes);
		return;
	}
	if (strcmp(req->method, "OPTIONS") == 0) {
		gw_preflight(req);
		return;
	}
	if (route_parse(req->path, &req->route, &status, err, sizeof(err)) == -1) {
		http_reply_error(req, (unsigned)status,
		    status == 404 ? "not_found" : "bad_request", "%s", err);
		return;
	}
	if (!route_method_allowed(req->route.kind, req->method)) {
		struct MHD_Response *resp;

		resp = http_json_error("method_not_allowed", "%s",
		    "method not allowed on this route");
		if (resp != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
			    route_allow_header(req->route.kind));
		http_reply(req, 405, resp);
		return;
	}
	if (gw_identify(req) == -1)
		return;
	if ((cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL) {
		n = strtoull(cl, &end, 10);
		if (*end == '\0' && n > gw_cfg->max_body_bytes) {
			http_reply_error(req, 413, "payload_too_large",
			    "request body of %llu bytes exceeds the limit of %zu bytes",
			    n, gw_cfg->max_body_bytes);
			return;
		}
	}
	req->state = GW_READING;
}

static int
gw_add_header(struct gw_req *req, const char *name, const char *value)
{
	char			 line[2048];
	struct curl_slist	*l;

	if (value == NULL)
		return (0);
	/* "Name:" with nothing after it tells curl to send no such header. */
	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line))
		return (0);
	if (*value == '\0')
		snprintf(line, sizeof(line), "%s:", name);
	if ((l = curl_slist_append(req->up_headers, line)) == NULL)
		return (-1);
	req->up_headers = l;
	return (0);
}

static int
gw_build_headers(struct gw_req *req, int v1_binary)
{
	static const char *const forwarded[] = {
		"X-Wait-For-Model", "X-Use-Cache", "X-Load-Model", "X-Amzn-Trace-Id"
	};
	const char	*v;
	size_t		 i;

	if (gw_auth != NULL &&
	    (req->up_headers = curl_slist_append(req->up_headers, gw_auth)) == NULL)
		return (-1);
	if (gw_add_header(req, "X-Request-Id", req->request_id) == -1)
		return (-1);
	/* curl would otherwise add a form Content-Type and wait for 100-continue. */
	if (req->route.kind == ROUTE_V1_TASK)
		v = v1_binary ? "application/octet-stream" : "application/json";
	else
		v = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (req->up.body != NULL &&
	    gw_add_header(req, "Content-Type", v != NULL ? v : "") == -1)
		return (-1);
	if (gw_add_header(req, "Expect", "") == -1)
		return (-1);
	if ((v = http_header(req, MHD_HTTP_HEADER_ACCEPT)) == NULL && req->task != NULL)
		v = req->task->accept;
	if (gw_add_header(req, "Accept", v) == -1)
		return (-1);
	v = http_header(req, MHD_HTTP_HEADER_USER_AGENT);
	if (gw_add_header(req, "User-Agent", v != NULL ? v : "hfgate/" PACKAGE_VERSION) == -1)
		return (-1);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (gw_add_header(req, forwarded[i], http_header(req, forwarded[i])) == -1)
			return (-1);
	return (0);
}

/* The model for /v1/{task}: ?model=, X-Model, or the task's default. 0 or -1 (replied). */
static int
gw_v1_model(struct gw_req *req)
{
	const char	*m;
	size_t		 i = task_index(req->task);

	if ((m = http_query(req, "model")) == NULL || *m == '\0')
		m = http_header(req, "X-Model");
	if (m != NULL && *m != '\0') {
		if (!modelid_valid(m)) {
			http_reply_error(req, 400, "bad_request", "invalid model id");
			return (-1);
		}
	} else if ((m = gw_cfg->default_model[i]) == NULL) {
		http_reply_error(req, 400, "bad_request",
		    "task %s has no default model: pass ?model= or X-Model",
		    req->task->name);
		return (-1);
	}
	snprintf(req->model, sizeof(req->model), "%s", m);
	return (0);
}

static int
gw_set_url(struct gw_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
gw_set_url(struct gw_req *req, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	free(req->url);
	req->url = NULL;
	va_start(ap, fmt);
	rc = vasprintf(&req->url, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		req->url = NULL;
		return (-1);
	}
	return (0);
}

/* Chooses model, URL and body. 0, or -1 when a reply was sent. */
static int
gw_resolve(struct gw_req *req, int *v1_binary)
{
	const struct cfg_endpoint	*ep;
	const char			*base = gw_cfg->upstream_url;
	char				 err[512];
	int				 rc = 0;

	*v1_binary = 0;
	switch (req->route.kind) {
	case ROUTE_STATUS:
		snprintf(req->model, sizeof(req->model), "%s", req->route.model);
		rc = gw_set_url(req, "%s/status/%s", base, req->model);
		break;
	case ROUTE_FRAMEWORK:
		rc = gw_set_url(req, "%s/framework/%s", base, req->route.name);
		break;
	case ROUTE_ENDPOINT:
	case ROUTE_ENDPOINT_INFO:
		if ((ep = cfg_endpoint_by_name(gw_cfg, req->route.name)) == NULL) {
			http_reply_error(req, 404, "not_found",
			    "no endpoint '%s' is configured", req->route.name);
			return (-1);
		}
		snprintf(req->model, sizeof(req->model), "%s",
		    ep->nmodels > 0 ? ep->models[0] : ep->name);
		if (ep->task != NULL)
			req->task = task_find(ep->task);
		rc = gw_set_url(req, "%s%s%s", ep->url,
		    req->route.kind == ROUTE_ENDPOINT_INFO ? "/info" :
		    req->route.sub[0] != '\0' ? "/" : "", req->route.sub);
		break;
	case ROUTE_MODELS:
	case ROUTE_PIPELINE:
	case ROUTE_V1_TASK:
		if (req->route.kind == ROUTE_MODELS) {
			snprintf(req->model, sizeof(req->model), "%s", req->route.model);
		} else {
			req->task = task_find(req->route.task);
			if (req->route.kind == ROUTE_PIPELINE)
				snprintf(req->model, sizeof(req->model), "%s",
				    req->route.model);
			else if (gw_v1_model(req) == -1)
				return (-1);
		}
		if (req->route.kind == ROUTE_V1_TASK) {
			if (v1_build_body(req->task, req->in.data != NULL ? req->in.data : "",
			    req->in.len, &req->body, v1_binary, err, sizeof(err)) == -1) {
				http_reply_error(req, 400, "bad_request", "%s", err);
				return (-1);
			}
			req->use_body = 1;
		}
		if ((ep = cfg_endpoint_for_model(gw_cfg, req->model)) != NULL) {
			if (req->task == NULL && ep->task != NULL)
				req->task = task_find(ep->task);
			rc = gw_set_url(req, "%s", ep->url);
		} else if (req->route.kind == ROUTE_PIPELINE ||
		    (req->task != NULL && req->task->pipeline))
			rc = gw_set_url(req, "%s/pipeline/%s/%s", base,
			    req->route.kind == ROUTE_PIPELINE ? req->route.task :
			    req->task->name, req->model);
		else
			rc = gw_set_url(req, "%s/models/%s", base, req->model);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == -1) {
		http_reply_error(req, 500, "internal", "out of memory");
		return (-1);
	}
	return (0);
}

/*
 * The deadline: the configured one, lowered by X-Timeout. For a stream it bounds the
 * time to the first byte (first_byte_timeout); [stream] limits take over from there.
 * 0, or -1 (replied).
 */
static int
gw_deadline(struct gw_req *req)
{
	const char	*v = http_header(req, "X-Timeout");
	long		 ms = req->up.sse ? (long)gw_cfg->stream_first_byte * 1000 :
			    gw_cfg->deadline_ms;
	double		 s;
	char		*end;

	if (v != NULL) {
		s = strtod(v, &end);
		if (end == v || *end != '\0' || !(s > 0) || s > 86400) {
			http_reply_error(req, 400, "bad_request",
			    "X-Timeout must be a positive number of seconds");
			return (-1);
		}
		if (s * 1000 < ms)
			ms = (long)(s * 1000);
	}
	req->deadline = req->start_ms + (uint64_t)ms;
	return (0);
}

static void
gw_local(struct gw_req *req)
{
	char	*body = NULL;

	switch (req->route.kind) {
	case ROUTE_HEALTHZ:
		http_reply_copy(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
		return;
	case ROUTE_API_TASKS:
		body = task_api_tasks_json(gw_cfg->default_model);
		break;
	case ROUTE_V1_TASKS:
		body = task_v1_tasks_json(gw_cfg->default_model);
		break;
	default:
		break;
	}
	if (body == NULL) {
		http_reply_error(req, 500, "internal", "out of memory");
		return;
	}
	http_reply_take(req, 200, "application/json", body, strlen(body));
}

static int gw_admit(struct gw_req *);
static void gw_proceed(struct gw_req *);
static void gw_on_deadline(struct loop_timer *);
static void gw_on_retry(struct loop_timer *);
static int gw_on_data(struct up_call *, const char *, size_t);
static void gw_on_done(struct up_call *, CURLcode);

void
gw_handle(struct gw_req *req)
{
	int		 v1_binary;

	if (req->in_total > gw_cfg->max_body_bytes) {
		http_reply_error(req, 413, "payload_too_large",
		    "request body exceeds the limit of %zu bytes",
		    gw_cfg->max_body_bytes);
		return;
	}
	if (req->in_failed) {
		http_reply_error(req, 503, "unavailable",
		    "out of memory receiving the request body");
		return;
	}
	switch (req->route.kind) {
	case ROUTE_HEALTHZ:
	case ROUTE_API_TASKS:
	case ROUTE_V1_TASKS:
		gw_local(req);
		return;
	case ROUTE_ADMIN_CACHE:
		cache_admin(req);
		return;
	case ROUTE_ADMIN_USAGE:		/* usage accounting (issue 5) */
		usage_admin(req);
		return;
	default:
		break;
	}
	if (gw_resolve(req, &v1_binary) == -1)
		return;
	req->v1_binary = v1_binary;
	gw_proceed(req);
}

/* After the model is resolved: the client's rights, then the upstream call. */
static void
gw_proceed(struct gw_req *req)
{
	const char	*body;
	size_t		 len;

	if (gw_admit(req) == -1)
		return;
	body = req->use_body ? req->body.data : req->in.data;
	len = req->use_body ? req->body.len : req->in.len;
	if (strcmp(req->method, "POST") == 0) {
		req->up.body = body != NULL ? body : "";
		req->up.body_len = len;
		/* Only "stream" selects SSE on these routes (PROTOCOL.md §4.1). */
		req->up.sse = (req->route.kind == ROUTE_ENDPOINT &&
		    strcmp(req->route.sub, "generate_stream") == 0) ||
		    (json_looks_like(req->up.body, len) &&
		    memmem(req->up.body, len, "\"stream\"", 8) != NULL &&
		    json_body_stream(req->up.body, len));
	}
	if (gw_deadline(req) == -1)
		return;
	req->wait_for_model = !http_header_false(req, "X-Wait-For-Model") &&
	    !json_option_false(req->up.body, len, "wait_for_model");
	req->max_response = gw_cfg->max_response_bytes;
	req->up.url = req->url;
	req->up.on_data = gw_on_data;
	req->up.on_done = gw_on_done;
	req->up.arg = req;
	req->retry_timer.cb = gw_on_retry;
	req->retry_timer.arg = req;
	req->deadline_timer.cb = gw_on_deadline;
	req->deadline_timer.arg = req;
	loop_timer_set(&req->deadline_timer, req->deadline - loop_now_ms());
	if (cache_begin(req))
		return;
	gw_attempt(req);
	if (req->state == GW_UPSTREAM)
		http_suspend(req);
}

const struct task_info *
gw_task(struct gw_req *req)
{
	const struct task_info	*t = req->task;
	size_t			 i;

	if (t == NULL)
		for (i = 0; i < TASK_COUNT && t == NULL; i++)
			if (gw_cfg->default_model[i] != NULL &&
			    strcmp(gw_cfg->default_model[i], req->model) == 0)
				t = task_at(i);
	/* The Hub's pipeline tag, for models served by the serverless API. */
	if (t == NULL && req->route.kind == ROUTE_MODELS &&
	    cfg_endpoint_for_model(gw_cfg, req->model) == NULL)
		t = hub_task(req->model);
	return (t);
}

static void
gw_on_hub_wait(struct loop_timer *t)
{
	gw_proceed(t->arg);
}

/*
 * A client's rights and limits, once the model is known: 403 for a task or model it
 * may not use, 429 over its rate, concurrency or daily quota. A request admitted holds
 * a concurrency slot until gw_req_free. 0, or -1 (replied).
 */
static int
gw_admit(struct gw_req *req)
{
	const struct cfg_client	*cl = req->client;
	const struct task_info	*t;
	struct limit_params	 lp;
	struct MHD_Response	*resp;
	const char		*what;
	char			 n[16];

	if (cl == NULL)
		return (0);
	t = gw_task(req);
	/* A task restriction needs the model's task: wait (bounded) for the Hub. */
	if (t == NULL && cl->ntasks > 0 && req->route.kind == ROUTE_MODELS &&
	    hub_pending(req->model) && loop_now_ms() < req->start_ms + GW_HUB_WAIT_MS) {
		req->state = GW_RETRY_WAIT;
		req->retry_timer.cb = gw_on_hub_wait;
		req->retry_timer.arg = req;
		loop_timer_set(&req->retry_timer, GW_HUB_POLL_MS);
		if (req->in_handler)
			http_suspend(req);
		return (-1);
	}
	if (req->route.kind != ROUTE_FRAMEWORK && !auth_allowed(cl, t != NULL ?
	    t->name : NULL, req->model[0] != '\0' ? req->model : NULL, &what)) {
		if (what[0] == 'm')
			http_reply_error(req, 403, "forbidden", "client '%s' may not use "
			    "model '%s'", cl->name, req->model);
		else if (t != NULL)
			http_reply_error(req, 403, "forbidden", "client '%s' may not use "
			    "task '%s'", cl->name, t->name);
		else
			http_reply_error(req, 403, "forbidden", "client '%s' may only use "
			    "some tasks, and the task of model '%s' is not known (yet: "
			    "try again in a moment)", cl->name, req->model);
		return (-1);
	}
	lp.rate = cl->rate;
	lp.burst = cl->burst;
	lp.concurrent = cl->max_concurrent;
	lp.quota = cl->daily_quota;
	/* Out of memory: admitted without a slot or headers (fail open, logged). */
	if (limit_admit(cl->name, &lp, loop_wall_ms(), &req->rl) == -1) {
		log_warnx("client %s: out of memory counting its limits", cl->name);
		return (0);
	}
	if (req->rl.refused == NULL) {
		req->admitted = 1;
		return (0);
	}
	log_debug("%s %s: 429 client %s over its %s limit", req->method, req->path,
	    cl->name, req->rl.refused);
	if (strcmp(req->rl.refused, "quota") == 0)
		resp = http_json_error("rate_limited", "client '%s' used its daily "
		    "quota of %u requests", cl->name, cl->daily_quota);
	else if (strcmp(req->rl.refused, "concurrency") == 0)
		resp = http_json_error("rate_limited", "client '%s' already has %u "
		    "requests running", cl->name, cl->max_concurrent);
	else
		resp = http_json_error("rate_limited", "client '%s' is over its rate of "
		    "%u requests per minute", cl->name, cl->rate);
	if (resp != NULL) {
		snprintf(n, sizeof(n), "%u", req->rl.retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, n);
	}
	http_reply(req, 429, resp);
	return (-1);
}

void
gw_go_upstream(struct gw_req *req)
{
	gw_attempt(req);
}

/* An error of hfgate's own for a request that went upstream: a stale cache entry
   beats it when allowed, and waiters for this request's answer go on their own. */
static void
gw_fail(struct gw_req *req, unsigned status, const char *type, const char *fmt, ...)
{
	char	msg[1024];
	va_list	ap;

	if (cache_serve_stale(req))
		return;
	cache_leave(req);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_error(req, status, type, "%s", msg);
}

static void
gw_attempt(struct gw_req *req)
{
	uint64_t	now = loop_now_update();
	long		left = req->deadline > now ? (long)(req->deadline - now) : 0;

	/* Built on the first attempt only: a cache hit never needs them. */
	if (req->up_headers == NULL) {
		if (gw_build_headers(req, req->v1_binary) == -1) {
			gw_fail(req, 500, "internal", "out of memory");
			return;
		}
		req->up.headers = req->up_headers;
	}
	buf_reset(&req->out);
	req->too_large = 0;
	req->up.connect_timeout_ms = gw_cfg->connect_timeout_ms < left ?
	    gw_cfg->connect_timeout_ms : (left > 0 ? left : 1);
	req->attempts++;
	if (up_start(&req->up) == -1) {
		log_warnx("%s: upstream call failed to start: %s", req->request_id,
		    req->up.errbuf);
		gw_fail(req, 502, "upstream_unreachable",
		    "cannot start the upstream request");
		return;
	}
	req->state = GW_UPSTREAM;
}

/* Sends an upstream answer to the client, taking body. */
void
gw_relay(struct gw_req *req, long status, struct buf *body, const char *ctype,
    struct buf *relay, const char *retry_after)
{
	struct MHD_Response	*resp;
	size_t			 len = body->len;
	char			*data;

	cache_answer(req, status, ctype, retry_after, body, relay);
	/* usage (issue 5): the tokens of a text-generation answer. */
	req->tokens = usage_tokens(req, ctype, body->data, body->len);
	data = buf_steal(body);
	if (data == NULL && (data = strdup("")) == NULL) {
		http_reply(req, (unsigned)status, NULL);
		return;
	}
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		http_reply(req, (unsigned)status, NULL);
		return;
	}
	if (ctype != NULL && *ctype != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	http_add_relayed(resp, relay, NULL);
	if (retry_after != NULL && *retry_after != '\0')
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	req->bytes_out = len;
	loop_timer_cancel(&req->deadline_timer);
	http_reply(req, (unsigned)status, resp);
}

/* Relays the kept answer of the last attempt (a loading 503 when time ran out). */
static void
gw_relay_last(struct gw_req *req)
{
	char	ra[32];

	long	s;

	ra[0] = '\0';
	if (req->last_loading >= 0) {
		/* Whole seconds, rounded up, at least 1: HF clients poll again then. */
		s = (long)req->last_loading;
		if (s < req->last_loading || s < 1)
			s++;
		snprintf(ra, sizeof(ra), "%ld", s);
	}
	gw_relay(req, req->last_status, &req->last_body, req->last_ctype,
	    &req->last_relay, ra);
}

/* Keeps this attempt's answer and waits delay_ms before the next attempt. */
static void
gw_retry_after(struct gw_req *req, long delay_ms, double loading)
{
	struct buf	tmp;

	tmp = req->last_body;
	req->last_body = req->out;
	req->out = tmp;
	buf_reset(&req->out);
	tmp = req->last_relay;
	req->last_relay = req->up.relay;
	req->up.relay = tmp;
	buf_reset(&req->up.relay);
	req->last_status = req->up.status;
	req->last_loading = loading;
	snprintf(req->last_ctype, sizeof(req->last_ctype), "%s", req->up.ctype);
	log_debug("%s: upstream %ld (attempt %u), next attempt in %ld ms",
	    req->request_id, req->up.status, req->attempts, delay_ms);
	req->state = GW_RETRY_WAIT;
	loop_timer_set(&req->retry_timer, (uint64_t)(delay_ms > 0 ? delay_ms : 0));
}

static void
gw_on_retry(struct loop_timer *t)
{
	gw_attempt(t->arg);
}

static void
gw_on_deadline(struct loop_timer *t)
{
	struct gw_req	*req = t->arg;

	if (req->state != GW_UPSTREAM && req->state != GW_RETRY_WAIT &&
	    req->state != GW_COALESCED)
		return;
	up_cancel(&req->up);
	loop_timer_cancel(&req->retry_timer);
	if (req->last_status == 503 && req->last_loading >= 0) {
		gw_relay_last(req);
		return;
	}
	gw_fail(req, 504, "timeout",
	    "no answer from the upstream within the deadline (%llu ms)",
	    (unsigned long long)(req->deadline - req->start_ms));
}

static int
gw_on_data(struct up_call *c, const char *data, size_t len)
{
	struct gw_req	*req = c->arg;

	if (req->client_gone)
		return (UP_DATA_ABORT);
	if (req->state == GW_UPSTREAM && c->status >= 200 && c->status < 300 &&
	    strncasecmp(c->ctype, "text/event-stream", 17) == 0)
		stream_start(req);
	if (req->state == GW_STREAMING)
		return (stream_data(req, data, len));
	if (req->out.len + len > req->max_response) {
		req->too_large = 1;
		return (UP_DATA_ABORT);
	}
	if (buf_append(&req->out, data, len) == -1)
		return (UP_DATA_ABORT);
	return (UP_DATA_OK);
}

static void
gw_on_done(struct up_call *c, CURLcode code)
{
	struct gw_req	*req = c->arg;
	uint64_t	 now = loop_now_update();
	long		 left = req->deadline > now ? (long)(req->deadline - now) : 0;
	long		 delay;
	double		 est;
	int		 can_retry;
	curl_off_t	 us;

	/* usage (issue 5): every attempt's upstream time, streams included. */
	if (curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us > 0)
		req->up_ms += ((uint64_t)us + 500) / 1000;
	if (req->state == GW_STREAMING) {
		stream_done(req, code);
		return;
	}
	if (req->client_gone)
		return;
	can_retry = req->failures + 1 < gw_cfg->max_attempts &&
	    req->attempts < GW_MAX_CALLS;
	if (code != CURLE_OK) {
		if (req->too_large) {
			gw_fail(req, 502, "upstream_too_large",
			    "the upstream answer exceeds %zu bytes", req->max_response);
			return;
		}
		log_warnx("%s: upstream %s: %s", req->request_id, req->model[0] ?
		    req->model : "-", c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(code));
		delay = retry_backoff_ms(req->failures, gw_cfg->backoff_base_ms,
		    gw_cfg->backoff_max_ms, (uint32_t)gw_random());
		if (can_retry && retry_curl_retryable(code) && delay < left) {
			req->failures++;
			req->up.status = 0;
			gw_retry_after(req, delay, -1);
			return;
		}
		if (code == CURLE_OPERATION_TIMEDOUT && left == 0) {
			gw_fail(req, 504, "timeout",
			    "no answer from the upstream within the deadline");
			return;
		}
		gw_fail(req, 502, "upstream_unreachable",
		    "upstream request failed after %u attempt%s: %s", req->attempts,
		    req->attempts == 1 ? "" : "s", curl_easy_strerror(code));
		return;
	}
	if (c->status == 503 &&
	    (est = retry_loading_estimate(req->out.data, req->out.len)) >= 0) {
		delay = (long)(est * 1000);
		if (delay < GW_LOADING_MIN_MS)
			delay = GW_LOADING_MIN_MS;
		if (delay > left - GW_LOADING_MARGIN_MS)
			delay = left - GW_LOADING_MARGIN_MS;
		if (req->wait_for_model && delay > 0 && req->attempts < GW_MAX_CALLS) {
			gw_retry_after(req, delay, est);
			return;
		}
		gw_retry_after(req, 0, est);
		loop_timer_cancel(&req->retry_timer);
		gw_relay_last(req);
		return;
	}
	if (retry_status_retryable(c->status) && can_retry) {
		delay = c->retry_after[0] != '\0' ?
		    retry_after_ms(c->retry_after, time(NULL)) : -1;
		if (delay < 0)
			delay = retry_backoff_ms(req->failures, gw_cfg->backoff_base_ms,
			    gw_cfg->backoff_max_ms, (uint32_t)gw_random());
		if (delay < left) {
			req->failures++;
			gw_retry_after(req, delay, -1);
			return;
		}
	}
	/* A 5xx after the retries: stale-if-error may answer instead. */
	if (c->status >= 500 && cache_serve_stale(req))
		return;
	gw_relay(req, c->status, &req->out, c->ctype, &c->relay, c->retry_after);
}

void
gw_client_gone(struct gw_req *req)
{
	if (req->client_gone)
		return;
	req->client_gone = 1;
	log_debug("%s: client went away", req->request_id);
	cache_leave(req);
	up_cancel(&req->up);
	loop_timer_cancel(&req->retry_timer);
	loop_timer_cancel(&req->deadline_timer);
	http_wake(req);
}

void
gw_cancel_all(const char *why)
{
	struct gw_req	*req;

	for (req = gw_head; req != NULL; req = req->next) {
		switch (req->state) {
		case GW_UPSTREAM:
		case GW_RETRY_WAIT:
		case GW_COALESCED:
			up_cancel(&req->up);
			loop_timer_cancel(&req->retry_timer);
			loop_timer_cancel(&req->deadline_timer);
			cache_leave(req);
			http_reply_error(req, 503, "unavailable", "%s", why);
			break;
		case GW_STREAMING:
			stream_fail(req, why, "unavailable");
			break;
		default:
			http_wake(req);
			break;
		}
	}
}

void
gw_drop_suspended(void)
{
	struct gw_req	*req;

	for (req = gw_head; req != NULL; req = req->next)
		if (req->suspended) {
			gw_client_gone(req);
			http_drop(req);
		}
}

void
gw_req_free(struct gw_req *req)
{
	if (req == NULL)
		return;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else if (gw_head == req)
		gw_head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	gw_nlive--;
	if (req->admitted)
		limit_release(req->client->name);
	cfg_unref(req->cfg);
	cache_leave(req);
	if (req->cache_stale != NULL) {
		cache_entry_free(req->cache_stale);
		free(req->cache_stale);
	}
	loop_watch_del(&req->hup);
	loop_timer_cancel(&req->hup_timer);
	loop_timer_cancel(&req->retry_timer);
	loop_timer_cancel(&req->deadline_timer);
	stream_free(req);
	up_release(&req->up);
	curl_slist_free_all(req->up_headers);
	if (req->resp != NULL)
		MHD_destroy_response(req->resp);
	buf_free(&req->in);
	buf_free(&req->body);
	buf_free(&req->out);
	buf_free(&req->last_body);
	buf_free(&req->last_relay);
	free(req->url);
	free(req->path);
	free(req);
}
