/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Resolution: from a route to an upstream call (docs/api.md lists the routes and
 * where each goes). Reads the request's head and configuration; writes its resolve
 * part and the request half of its upstream call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "config.h"
#include "embed.h"
#include "http.h"
#include "hub.h"
#include "json.h"
#include "loop.h"
#include "modelid.h"
#include "oai.h"
#include "probe.h"
#include "reply.h"
#include "request.h"
#include "resolve.h"
#include "route.h"
#include "task.h"
#include "upstream.h"
#include "v1.h"

/* The model for /v1/{task}: ?model=, X-Model, or the task's default. 0 or -1 (replied). */
static int
resolve_v1_model(struct gw_req *req)
{
	const char	*m;
	size_t		 i = task_index(req->res.task);

	if ((m = req->tr.head.q_model) == NULL || *m == '\0')
		m = req->tr.head.x_model;
	if (m != NULL && *m != '\0') {
		if (!modelid_valid(m)) {
			reply_error(req, 400, "bad_request", "invalid model id");
			return (-1);
		}
	} else if ((m = req->cfg->default_model[i]) == NULL) {
		reply_error(req, 400, "bad_request",
		    "task %s has no default model: pass ?model= or X-Model",
		    req->res.task->name);
		return (-1);
	}
	snprintf(req->res.model, sizeof(req->res.model), "%s", m);
	return (0);
}

static int
resolve_url(struct gw_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
resolve_url(struct gw_req *req, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	free(req->res.url);
	req->res.url = NULL;
	va_start(ap, fmt);
	rc = vasprintf(&req->res.url, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		req->res.url = NULL;
		return (-1);
	}
	return (0);
}

/* The router takes a pipeline task after the model (hf-inference/models/{id}/pipeline/
   {task}); the API of 2023, and mirrors of it, before (pipeline/{task}/{id}). */
static int
resolve_pipeline(struct gw_req *req, const char *base, const char *task,
    const char *model)
{
	if (cfg_router(req->cfg))
		return (resolve_url(req, "%s/models/%s/pipeline/%s", base, model, task));
	return (resolve_url(req, "%s/pipeline/%s/%s", base, task, model));
}

/* The [endpoint] the path names (/endpoints/{name}/...). 0, or -1 (replied 404). */
static int
resolve_endpoint(struct gw_req *req, const struct cfg_endpoint **ep)
{
	if ((*ep = cfg_endpoint_by_name(req->cfg, req->route.name)) != NULL)
		return (0);
	reply_error(req, 404, "not_found", "no endpoint '%s' is configured",
	    req->route.name);
	return (-1);
}

/* The default model of an OpenAI route whose body names none. */
static const char *
resolve_oai_default(const struct gw_req *req)
{
	const struct config	*cfg = req->cfg;

	if (strcmp(req->route.sub, "chat/completions") == 0)
		return (cfg->default_chat_model);
	if (strcmp(req->route.sub, "completions") == 0)
		return (cfg->default_model[task_index(task_find("text-generation"))]);
	return (cfg->default_model[task_index(task_find("feature-extraction"))]);
}

/* The task an OpenAI route counts as, for the cache policy, rights and usage. */
static const struct task_info *
resolve_oai_task(const char *sub)
{
	if (strcmp(sub, "chat/completions") == 0)
		return (task_find("conversational"));
	if (strcmp(sub, "completions") == 0)
		return (task_find("text-generation"));
	return (task_find("feature-extraction"));
}

static int	resolve_ask_usage(struct gw_req *, const char *);
static int	resolve_embed(struct gw_req *, const char *);
static int	resolve_own_key(struct gw_req *);

/*
 * POST .../v1/chat/completions, completions, embeddings: to the endpoint of the path's
 * prefix or of the body's model, else the router's OpenAI API (or, under
 * /models/{id}, that model's). A body that names no model gets the default one.
 * 0, or -1 (replied).
 */
static int
resolve_oai(struct gw_req *req)
{
	const struct config		*cfg = req->cfg;
	const struct route		*r = &req->route;
	struct resolve_part		*res = &req->res;
	const struct cfg_endpoint	*ep = NULL;
	const char			*body = req->tr.in.data != NULL ? req->tr.in.data : "";
	const char			*m;
	struct oai_body			 o;
	char				 err[256], base[1024];

	res->openai = 1;
	res->task = resolve_oai_task(r->sub);
	if (oai_read(body, req->tr.in.len, &o, err, sizeof(err)) == -1) {
		reply_error(req, 400, "bad_request", "%s", err);
		return (-1);
	}
	/* An embedding does not sample: the same input, the same vector. */
	res->deterministic = o.deterministic || strcmp(r->sub, "embeddings") == 0;
	if (r->name[0] != '\0' && resolve_endpoint(req, &ep) == -1)
		return (-1);
	if (r->model[0] != '\0')
		snprintf(res->model, sizeof(res->model), "%s", r->model);
	else if (o.named)
		snprintf(res->model, sizeof(res->model), "%s", o.model);
	else if (ep == NULL && (m = resolve_oai_default(req)) != NULL)
		snprintf(res->model, sizeof(res->model), "%s", m);
	/* The one rewrite: a body without a real model gets the one chosen. */
	if (!o.named && res->model[0] != '\0') {
		if (oai_set_model(body, req->tr.in.len, res->model, &res->body) == -1) {
			reply_error(req, 500, "internal", "out of memory");
			return (-1);
		}
		res->use_body = 1;
	}
	/* A stream's tokens are counted from its usage chunk: ask for it. */
	if (o.stream && !o.include_usage && strcmp(r->sub, "embeddings") != 0 &&
	    resolve_ask_usage(req, body) == -1) {
		reply_error(req, 500, "internal", "out of memory");
		return (-1);
	}
	if (ep == NULL && res->model[0] != '\0')
		ep = cfg_endpoint_for_model(cfg, res->model);
	if (ep != NULL) {
		res->gone_key = "[endpoint] url";
		return (resolve_url(req, "%s/v1/%s", ep->url, r->sub));
	}
	/* The router's OpenAI API serves no embedding model, hf-inference's
	   feature-extraction does (docs/api.md, "Embeddings on the router"); a
	   provider named in the model keeps the OpenAI call. */
	if (strcmp(r->sub, "embeddings") == 0 && cfg_router(cfg) && o.suffix[0] == '\0' &&
	    res->model[0] != '\0')
		return (resolve_embed(req, body));
	/* The router's hf-inference has a per-model chat route only: a model's
	   completions and embeddings go to the OpenAI API, the model in the body. */
	if (r->model[0] != '\0' && (strcmp(r->sub, "chat/completions") == 0 ||
	    !cfg_router(cfg))) {
		res->gone_key = "[upstream] url (--upstream)";
		return (resolve_url(req, "%s/models/%s/v1/%s", cfg->upstream_url,
		    res->model, r->sub));
	}
	res->gone_key = "[upstream] openai_url (--openai-upstream)";
	if (cfg_openai_base(cfg, base, sizeof(base)) == -1)
		return (-1);
	return (resolve_url(req, "%s/%s", base, r->sub));
}

/* Adds stream_options.include_usage to the body that goes upstream (the client's, or
   the one with the model filled in). 0 or -1. */
static int
resolve_ask_usage(struct gw_req *req, const char *body)
{
	struct resolve_part	*res = &req->res;
	struct buf		 out = { NULL, 0, 0 };
	const char		*src = res->use_body ? res->body.data : body;
	size_t			 len = res->use_body ? res->body.len : req->tr.in.len;
	int			 r;

	if ((r = oai_ask_usage(src, len, &out)) == -1) {
		buf_free(&out);
		return (-1);
	}
	if (r == 1) {
		buf_free(&res->body);
		res->body = out;
		res->use_body = 1;
		res->strip_usage = 1;
	}
	return (0);
}

/*
 * The end of a body's translation that returned rc with out and err: 0 with out
 * taken as the body sent upstream, or -1 replied: 400 saying err, or 500 when err
 * is "" (out of memory).
 */
static int
resolve_take_body(struct gw_req *req, int rc, struct buf *out, const char *err)
{
	if (rc == -1) {
		buf_free(out);
		if (err[0] != '\0')
			reply_error(req, 400, "bad_request", "%s", err);
		else
			reply_error(req, 500, "internal", "out of memory");
		return (-1);
	}
	buf_free(&req->res.body);
	req->res.body = *out;
	req->res.use_body = 1;
	return (0);
}

/* An OpenAI embeddings body sent as a feature-extraction call (embed.c). 0, or -1
   (replied). */
static int
resolve_embed(struct gw_req *req, const char *body)
{
	struct resolve_part	*res = &req->res;
	struct buf		 out = { NULL, 0, 0 };
	char			 err[256];

	if (resolve_take_body(req, embed_request(body, req->tr.in.len, &out, err,
	    sizeof(err)), &out, err) == -1)
		return (-1);
	res->embed = 1;
	buf_reset(&res->client_body);
	res->gone_key = "[upstream] url (--upstream)";
	if (buf_append(&res->client_body, body, req->tr.in.len) == -1 ||
	    resolve_pipeline(req, req->cfg->upstream_url, "feature-extraction",
	    res->model) == -1 || resolve_own_key(req) == -1) {
		reply_error(req, 500, "internal", "out of memory");
		return (-1);
	}
	return (0);
}

/* GET .../v1/models and /v1/models/{id}. */
static int
resolve_oai_models(struct gw_req *req)
{
	const struct config		*cfg = req->cfg;
	const struct route		*r = &req->route;
	const struct cfg_endpoint	*ep = NULL;
	char				 base[1024];

	req->res.openai = 1;
	if (r->name[0] != '\0' && resolve_endpoint(req, &ep) == -1)
		return (-1);
	if (ep == NULL && strcmp(r->sub, "models") == 0 && r->model[0] != '\0')
		ep = cfg_endpoint_for_model(cfg, r->model);
	if (ep != NULL) {
		req->res.gone_key = "[endpoint] url";
		return (resolve_url(req, "%s/v1/models", ep->url));
	}
	if (strcmp(r->sub, "models") == 0 && r->model[0] != '\0') {
		req->res.gone_key = "[upstream] url (--upstream)";
		return (resolve_url(req, "%s/models/%s/v1/models", cfg->upstream_url,
		    r->model));
	}
	snprintf(req->res.model, sizeof(req->res.model), "%s", r->model);
	req->res.gone_key = "[upstream] openai_url (--openai-upstream)";
	if (cfg_openai_base(cfg, base, sizeof(base)) == -1)
		return (-1);
	if (r->model[0] != '\0')
		return (resolve_url(req, "%s/models/%s", base, r->model));
	return (resolve_url(req, "%s/models", base));
}

int
resolve_target(struct gw_req *req)
{
	const struct config		*cfg = req->cfg;
	const struct cfg_endpoint	*ep;
	const struct route		*r = &req->route;
	struct resolve_part		*res = &req->res;
	const char			*base = cfg->upstream_url;
	char				 err[512];
	int				 rc = 0;

	res->gone_key = "[upstream] url (--upstream)";
	switch (r->kind) {
	case ROUTE_OAI:
		rc = resolve_oai(req);
		if (rc == -1 && req->tr.replied)
			return (-1);
		break;
	case ROUTE_OAI_MODELS:
		rc = resolve_oai_models(req);
		if (rc == -1 && req->tr.replied)
			return (-1);
		break;
	case ROUTE_MODEL_INFO:
		snprintf(res->model, sizeof(res->model), "%s", r->model);
		if ((ep = cfg_endpoint_for_model(cfg, res->model)) != NULL) {
			res->gone_key = "[endpoint] url";
			rc = resolve_url(req, "%s/%s", ep->url, r->sub);
			break;
		}
		/* The router serves no TGI /info or /health: answered from the Hub
		   (local.c), like /status. */
		res->local = cfg_router(cfg);
		rc = resolve_url(req, "%s/models/%s/%s", base, res->model, r->sub);
		break;
	case ROUTE_HUB_MODEL:
		snprintf(res->model, sizeof(res->model), "%s", r->model);
		res->gone_key = "[upstream] hub_url (--hub-url)";
		res->hub_ttl = cfg->cache_hub_ttl;
		rc = resolve_url(req, "%s/api/models/%s%s%s", cfg->hub_url, res->model,
		    req->tr.head.query != NULL ? "?" : "",
		    req->tr.head.query != NULL ? req->tr.head.query : "");
		break;
	case ROUTE_STATUS:
		snprintf(res->model, sizeof(res->model), "%s", r->model);
		/* Today's router has neither: answered from the Hub (local.c). */
		res->local = cfg_router(cfg);
		rc = resolve_url(req, "%s/status/%s", base, res->model);
		break;
	case ROUTE_FRAMEWORK:
		res->local = cfg_router(cfg);
		rc = resolve_url(req, "%s/framework/%s", base, r->name);
		break;
	case ROUTE_ENDPOINT:
	case ROUTE_ENDPOINT_INFO:
		if (resolve_endpoint(req, &ep) == -1)
			return (-1);
		snprintf(res->model, sizeof(res->model), "%s",
		    ep->nmodels > 0 ? ep->models[0] : ep->name);
		if (ep->task != NULL)
			res->task = task_find(ep->task);
		res->gone_key = "[endpoint] url";
		rc = resolve_url(req, "%s%s%s", ep->url, r->sub[0] != '\0' ? "/" : "",
		    r->sub);
		break;
	case ROUTE_MODELS:
	case ROUTE_PIPELINE:
	case ROUTE_V1_TASK:
		if (r->kind == ROUTE_MODELS) {
			snprintf(res->model, sizeof(res->model), "%s", r->model);
		} else {
			res->task = task_find(r->task);
			if (r->kind == ROUTE_PIPELINE)
				snprintf(res->model, sizeof(res->model), "%s", r->model);
			else if (resolve_v1_model(req) == -1)
				return (-1);
		}
		if (r->kind == ROUTE_V1_TASK) {
			if (v1_build_body(res->task, req->tr.in.data != NULL ?
			    req->tr.in.data : "", req->tr.in.len, &res->body,
			    &res->v1_binary, err, sizeof(err)) == -1) {
				reply_error(req, 400, "bad_request", "%s", err);
				return (-1);
			}
			res->use_body = 1;
		}
		if ((ep = cfg_endpoint_for_model(cfg, res->model)) != NULL) {
			if (res->task == NULL && ep->task != NULL)
				res->task = task_find(ep->task);
			res->gone_key = "[endpoint] url";
			rc = resolve_url(req, "%s", ep->url);
		} else if (r->kind == ROUTE_PIPELINE ||
		    (res->task != NULL && res->task->pipeline))
			rc = resolve_pipeline(req, base, r->kind == ROUTE_PIPELINE ?
			    r->task : res->task->name, res->model);
		else
			rc = resolve_url(req, "%s/models/%s", base, res->model);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == -1) {
		reply_error(req, 500, "internal", "out of memory");
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
resolve_deadline(struct gw_req *req)
{
	const char	*v = req->tr.head.timeout;
	long		 ms = req->res.sse ? (long)req->cfg->stream_first_byte * 1000 :
			    req->cfg->deadline_ms;
	double		 s;
	char		*end;

	if (v != NULL) {
		s = strtod(v, &end);
		if (end == v || *end != '\0' || !(s > 0) || s > 86400) {
			reply_error(req, 400, "bad_request",
			    "X-Timeout must be a positive number of seconds");
			return (-1);
		}
		if (s * 1000 < ms)
			ms = (long)(s * 1000);
	}
	req->res.deadline = req->tr.head.start_ms + (uint64_t)ms;
	return (0);
}

int
resolve_call(struct gw_req *req)
{
	struct resolve_part	*res = &req->res;
	struct up_call		*up = &req->call.up;
	const char		*body, *opts;
	size_t			 len, opts_len;

	body = res->use_body ? res->body.data : req->tr.in.data;
	len = res->use_body ? res->body.len : req->tr.in.len;
	if (res->bridge.kind != BRIDGE_NONE) {
		/* The client's options are in its own body. */
		opts = res->client_body.data;
		opts_len = res->client_body.len;
	} else {
		opts = body;
		opts_len = len;
	}
	if (strcmp(req->tr.head.method, "POST") == 0) {
		up->body = body != NULL ? body : "";
		up->body_len = len;
		/* Only "stream" selects SSE on these routes (docs/api.md, "Streams"). */
		res->sse = (req->route.kind == ROUTE_ENDPOINT &&
		    strcmp(req->route.sub, "generate_stream") == 0) ||
		    (json_looks_like(up->body, len) &&
		    memmem(up->body, len, "\"stream\"", 8) != NULL &&
		    json_body_stream(up->body, len));
		up->sse = res->sse;
	}
	if (resolve_deadline(req) == -1)
		return (-1);
	res->wait_for_model = !http_value_false(req->tr.head.wait_for_model) &&
	    !json_option_false(opts, opts_len, "wait_for_model");
	up->url = res->url;
	return (0);
}

int
resolve_headers(struct gw_req *req)
{
	const struct http_head	*h = &req->tr.head;
	struct up_call		*up = &req->call.up;
	const struct cfg_client	*cl = req->who.client;
	const char *const	 forwarded[][2] = {
		{ "X-Wait-For-Model", h->wait_for_model }, { "X-Use-Cache", h->use_cache },
		{ "X-Load-Model", h->load_model }, { "X-Amzn-Trace-Id", h->amzn_trace_id },
		/* Who Hugging Face bills: the client's organisation when its [client]
		   names one (admit.c refused a different choice), else its own. */
		{ "X-HF-Bill-To", cl != NULL && cl->bill_to != NULL ? cl->bill_to :
		    h->bill_to }
	};
	const char		*v;
	size_t			 i;

	if (req->cfg->token != NULL && up_bearer(up, req->cfg->token) == -1)
		return (-1);
	if (up_header(up, "X-Request-Id", req->request_id) == -1)
		return (-1);
	/* curl would otherwise add a form Content-Type and wait for 100-continue. */
	if (req->res.bridge.kind != BRIDGE_NONE)
		v = "application/json";
	else if (req->route.kind == ROUTE_V1_TASK)
		v = req->res.v1_binary ? "application/octet-stream" : "application/json";
	else
		v = h->content_type;
	if (up->body != NULL && up_header(up, "Content-Type", v != NULL ? v : "") == -1)
		return (-1);
	if (up_header(up, "Expect", "") == -1)
		return (-1);
	if ((v = h->accept) == NULL && req->res.task != NULL)
		v = req->res.task->accept;
	if (v != NULL && up_header(up, "Accept", v) == -1)
		return (-1);
	v = h->user_agent;
	if (up_header(up, "User-Agent", v != NULL ? v : "hfgate/" PACKAGE_VERSION) == -1)
		return (-1);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (forwarded[i][1] != NULL &&
		    up_header(up, forwarded[i][0], forwarded[i][1]) == -1)
			return (-1);
	return (0);
}

const struct task_info *
resolve_task(struct gw_req *req)
{
	const struct config	*cfg = req->cfg;
	const struct task_info	*t = req->res.task;
	size_t			 i;

	if (t == NULL)
		for (i = 0; i < TASK_COUNT && t == NULL; i++)
			if (cfg->default_model[i] != NULL &&
			    strcmp(cfg->default_model[i], req->res.model) == 0)
				t = task_at(i);
	/* The Hub's pipeline tag, for models served by the serverless API. */
	if (t == NULL && req->route.kind == ROUTE_MODELS &&
	    cfg_endpoint_for_model(cfg, req->res.model) == NULL)
		t = hub_task(cfg, req->res.model);
	return (t);
}

int
resolve_task_settled(struct gw_req *req, const struct task_info **t)
{
	*t = resolve_task(req);
	return (*t != NULL || req->route.kind != ROUTE_MODELS ||
	    !hub_pending(req->res.model) ||
	    loop_now_ms() >= req->tr.head.start_ms + RESOLVE_HUB_WAIT_MS);
}

static int
resolve_llm(const struct task_info *t)
{
	return (t != NULL && (strcmp(t->name, "text-generation") == 0 ||
	    strcmp(t->name, "conversational") == 0));
}

/* The OpenAI body, URL and cache key of a bridged request (how set). 0, or -1
   (replied). */
static int
resolve_bridged(struct gw_req *req, const struct cfg_endpoint *ep, const char *body,
    size_t len)
{
	struct resolve_part	*res = &req->res;
	struct buf		 out = { NULL, 0, 0 };
	const char		*sub = res->bridge.kind == BRIDGE_CHAT ? "chat/completions" :
				    "completions";
	char			 err[256], base[1024];

	if (resolve_take_body(req, bridge_request(&res->bridge, res->model, body, len,
	    &out, err, sizeof(err)), &out, err) == -1) {
		res->bridge.kind = BRIDGE_NONE;
		return (-1);
	}
	/* What the client asked: its rights, the cache policy and usage go by it. */
	res->task = task_find(res->bridge.kind == BRIDGE_CHAT ? "conversational" :
	    "text-generation");
	if (ep != NULL) {
		res->gone_key = "[endpoint] url";
		if (resolve_url(req, "%s/v1/%s", ep->url, sub) == -1)
			goto oom;
	} else {
		res->gone_key = "[upstream] openai_url (--openai-upstream)";
		if (cfg_openai_base(req->cfg, base, sizeof(base)) == -1 ||
		    resolve_url(req, "%s/%s", base, sub) == -1)
			goto oom;
	}
	if (resolve_own_key(req) == -1)
		goto oom;
	return (0);
oom:
	reply_error(req, 500, "internal", "out of memory");
	return (-1);
}

/*
 * A translated request is keyed on the client's route, model and body (cache.c):
 * never the key of the call it became, which a native request may share. 0, or -1
 * (out of memory).
 */
static int
resolve_own_key(struct gw_req *req)
{
	struct resolve_part	*res = &req->res;

	free(res->key_target);
	if (asprintf(&res->key_target, "%s %s %s", res->url, req->tr.head.path,
	    res->model) < 0) {
		res->key_target = NULL;
		return (-1);
	}
	return (0);
}

int
resolve_bridge(struct gw_req *req)
{
	const struct config		*cfg = req->cfg;
	const struct route		*r = &req->route;
	struct resolve_part		*res = &req->res;
	const struct cfg_endpoint	*ep = NULL;
	const struct task_info		*t;
	struct hub_model		 m;
	const char			*body;
	size_t				 len;
	enum bridge_kind		 kind;
	enum cfg_protocol		 proto;
	int				 compat;

	if (res->bridge_checked)
		return (0);
	if (res->local) {
		if ((r->kind == ROUTE_STATUS || r->kind == ROUTE_MODEL_INFO) &&
		    hub_model(cfg, res->model, &m) == 0 &&
		    loop_now_ms() < req->tr.head.start_ms + RESOLVE_HUB_WAIT_MS)
			return (RESOLVE_WAIT);
		res->bridge_checked = 1;
		return (0);
	}
	if (r->kind == ROUTE_ENDPOINT)
		ep = cfg_endpoint_by_name(cfg, r->name);
	else if (r->kind == ROUTE_MODELS || r->kind == ROUTE_PIPELINE ||
	    r->kind == ROUTE_V1_TASK)
		ep = cfg_endpoint_for_model(cfg, res->model);
	else {
		res->bridge_checked = 1;
		return (0);
	}
	/* An endpoint of protocol auto: what its probe said, or, once the wait is
	   over, the fallback (probe.h). */
	proto = ep != NULL ? ep->protocol : CFG_PROTO_TGI;
	if (proto == CFG_PROTO_AUTO && probe_protocol(cfg, ep, &proto) == 0 &&
	    loop_now_ms() < req->tr.head.start_ms + RESOLVE_HUB_WAIT_MS)
		return (RESOLVE_WAIT);
	/* Only today's router and the OpenAI endpoints lack TGI's routes. */
	if (ep != NULL ? proto != CFG_PROTO_OPENAI :
	    r->kind == ROUTE_ENDPOINT || !cfg_router(cfg)) {
		res->bridge_checked = 1;
		return (0);
	}
	if (!resolve_task_settled(req, &t))
		return (RESOLVE_WAIT);
	res->bridge_checked = 1;
	body = res->use_body ? res->body.data : req->tr.in.data;
	len = res->use_body ? res->body.len : req->tr.in.len;
	kind = bridge_kind_of(body, len);
	/* An OpenAI endpoint serves LLMs: a model of unknown task is one. */
	if (t == NULL && ep != NULL)
		t = task_find(kind == BRIDGE_CHAT ? "conversational" : "text-generation");
	if (!resolve_llm(t))
		return (0);
	/* The body says which call it is; one that is neither is refused as the
	   model's task's. */
	if (kind == BRIDGE_NONE)
		kind = strcmp(t->name, "conversational") == 0 ? BRIDGE_CHAT :
		    BRIDGE_GENERATE;
	compat = r->kind != ROUTE_ENDPOINT || r->sub[0] == '\0';
	res->bridge.kind = kind;
	res->bridge.plain = !compat && strcmp(r->sub, "generate") == 0;
	res->bridge.stream = !compat && strcmp(r->sub, "generate_stream") == 0;
	/* TGI's compat route puts the prompt in front for text-generation models. */
	res->bridge.full_text = compat && strcmp(t->name, "text-generation") == 0;
	buf_reset(&res->client_body);
	if (buf_append(&res->client_body, body != NULL ? body : "", len) == -1) {
		res->bridge.kind = BRIDGE_NONE;
		reply_error(req, 500, "internal", "out of memory");
		return (-1);
	}
	return (resolve_bridged(req, ep, res->client_body.data, len));
}
