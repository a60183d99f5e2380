/* SPDX-License-Identifier: BSD-2-Clause */
/* The routes answered without an upstream, and the CORS preflight (docs/api.md). */
#include <string.h>

#include <cJSON.h>

#include "cache.h"
#include "http.h"
#include "hub.h"
#include "local.h"
#include "reply.h"
#include "request.h"
#include "route.h"
#include "task.h"
#include "upstream.h"
#include "loop.h"

/*
 * GET /readyz: whether to send traffic here (docs/operations.md). Not ready when the
 * configured cache could not start, or when the last upstream call to end got no
 * HTTP answer at all; ready before any call, and as soon as one is answered.
 */
static void
local_readyz(struct gw_req *req)
{
	const char	*cache = cache_state();
	int64_t		 answer, unreached;
	int		 reached = up_reachability(&answer, &unreached);
	int		 ready = reached && strcmp(cache, "failed") != 0;
	cJSON		*o;

	if ((o = cJSON_CreateObject()) != NULL &&
	    (cJSON_AddStringToObject(o, "status", ready ? "ready" : "not_ready") == NULL ||
	    cJSON_AddStringToObject(o, "cache", cache) == NULL ||
	    cJSON_AddStringToObject(o, "upstream", !reached ? "unreachable" :
	    answer > 0 ? "reached" : "not_tried") == NULL ||
	    (answer > 0 ? cJSON_AddNumberToObject(o, "upstream_answer_age_s",
	    (double)((loop_wall_ms() - answer) / 1000)) :
	    cJSON_AddNullToObject(o, "upstream_answer_age_s")) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	reply_json(req, ready ? 200 : 503, o);
	cJSON_Delete(o);
}

void
local_answer(struct gw_req *req)
{
	char	*body = NULL;

	switch (req->route.kind) {
	case ROUTE_HEALTHZ:
		reply_copy(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
		return;
	case ROUTE_READYZ:
		local_readyz(req);
		return;
	case ROUTE_API_TASKS:
		body = task_api_tasks_json(req->cfg->default_model);
		break;
	case ROUTE_V1_TASKS:
		body = task_v1_tasks_json(req->cfg->default_model);
		break;
	default:
		break;
	}
	if (body == NULL) {
		reply_error(req, 500, "internal", "out of memory");
		return;
	}
	reply_take(req, 200, "application/json", body, strlen(body));
}

static int
local_llm(const struct hub_model *m)
{
	return (m->task != NULL && (strcmp(m->task->name, "text-generation") == 0 ||
	    strcmp(m->task->name, "conversational") == 0));
}

/* The 2023 framework of a model: TGI for the LLMs (they are what it served), else
   its library, else the one its task had on the 2023 API. */
static const char *
local_framework_of(const struct hub_model *m)
{
	const char	*t = m->task != NULL ? m->task->name : "";

	if (local_llm(m))
		return ("text-generation-inference");
	if (m->library[0] != '\0')
		return (m->library);
	if (strcmp(t, "feature-extraction") == 0 || strcmp(t, "sentence-similarity") == 0)
		return ("sentence-transformers");
	if (strcmp(t, "text-to-image") == 0 || strcmp(t, "image-to-image") == 0)
		return ("diffusers");
	return ("transformers");
}

/* HUB_*: whether the router serves the model now. An LLM goes through the OpenAI
   API, which any live provider serves; the other tasks go to hf-inference. */
static int
local_served(const struct hub_model *m)
{
	return (local_llm(m) ? m->any_provider : m->hf_inference);
}

static const char *
local_compute(const struct hub_model *m)
{
	return (local_llm(m) ? "gpu" : "cpu");
}

/* What the Hub says of the request's model: 0 with *m filled for a model it has, or
   -1 replied (the Hub late, unreachable, or without the model). */
static int
local_look_up(struct gw_req *req, struct hub_model *m)
{
	const char	*model = req->res.model;

	switch (hub_model(req->cfg, model, m)) {
	case 0:
		reply_error(req, 504, "timeout", "the Hub did not say in time what model "
		    "'%s' is", model);
		return (-1);
	case -1:
		reply_error(req, 502, "upstream_unreachable", "cannot look model '%s' up "
		    "on the Hub ([upstream] hub_url)", model);
		return (-1);
	default:
		break;
	}
	if (!m->found) {
		reply_error(req, 404, "not_found", "Model %s does not exist", model);
		return (-1);
	}
	return (0);
}

static void
local_status(struct gw_req *req)
{
	static const char *const state[] = {
		[HUB_NONE] = "TooBig", [HUB_STAGING] = "Loadable", [HUB_LIVE] = "Loaded"
	};
	struct hub_model	 m;
	cJSON			*o;
	int			 served;

	if (local_look_up(req, &m) == -1)
		return;
	served = local_served(&m);
	if ((o = cJSON_CreateObject()) != NULL &&
	    (cJSON_AddBoolToObject(o, "loaded", served == HUB_LIVE) == NULL ||
	    cJSON_AddStringToObject(o, "state", state[served]) == NULL ||
	    cJSON_AddStringToObject(o, "compute_type", local_compute(&m)) == NULL ||
	    cJSON_AddStringToObject(o, "framework", local_framework_of(&m)) == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	reply_json(req, 200, o);
	cJSON_Delete(o);
}

/*
 * GET /models/{id}/info and /health of a model on the router, which has neither: the
 * health is whether a provider serves the model now (200, else 503 as a TGI that is
 * not ready), the info what the Hub says of it in the keys of TGI's /info that apply.
 */
static void
local_model_info(struct gw_req *req)
{
	struct hub_model	 m;
	struct http_resp	*resp;
	cJSON			*o;
	int			 live;

	if (local_look_up(req, &m) == -1)
		return;
	live = local_served(&m) == HUB_LIVE;
	if (strcmp(req->route.sub, "health") == 0) {
		if (live) {
			reply_copy(req, 200, "application/json", "{}", 2);
			return;
		}
		resp = reply_error_resp(req, "model_unavailable", "no provider serves "
		    "model '%s' now", req->res.model);
		http_resp_header(resp, "Retry-After", "60");
		reply_send(req, 503, resp);
		return;
	}
	if ((o = cJSON_CreateObject()) != NULL &&
	    (cJSON_AddStringToObject(o, "model_id", req->res.model) == NULL ||
	    (m.task != NULL ? cJSON_AddStringToObject(o, "model_pipeline_tag",
	    m.task->name) : cJSON_AddNullToObject(o, "model_pipeline_tag")) == NULL ||
	    cJSON_AddStringToObject(o, "framework", local_framework_of(&m)) == NULL ||
	    cJSON_AddStringToObject(o, "compute_type", local_compute(&m)) == NULL ||
	    cJSON_AddBoolToObject(o, "loaded", live) == NULL ||
	    cJSON_AddStringToObject(o, "router", local_llm(&m) ? "v1" :
	    "hf-inference") == NULL)) {
		cJSON_Delete(o);
		o = NULL;
	}
	reply_json(req, 200, o);
	cJSON_Delete(o);
}

struct local_list {
	const char	*framework;
	cJSON		*list;
	int		 failed;
};

static void
local_list_one(const char *model, const struct hub_model *m, void *arg)
{
	struct local_list	*l = arg;
	cJSON			*o;

	if (l->failed || m->task == NULL || local_served(m) != HUB_LIVE ||
	    strcmp(local_framework_of(m), l->framework) != 0)
		return;
	if ((o = cJSON_CreateObject()) == NULL) {
		l->failed = 1;
		return;
	}
	if (!cJSON_AddItemToArray(l->list, o)) {
		cJSON_Delete(o);
		l->failed = 1;
		return;
	}
	if (cJSON_AddStringToObject(o, "model_id", model) == NULL ||
	    cJSON_AddStringToObject(o, "compute_type", local_compute(m)) == NULL ||
	    cJSON_AddStringToObject(o, "framework", l->framework) == NULL ||
	    cJSON_AddStringToObject(o, "task", m->task->name) == NULL)
		l->failed = 1;
}

/* The models of a framework that hfgate has looked up and the router serves. */
static void
local_framework(struct gw_req *req)
{
	struct local_list	 l = { req->route.name, NULL, 0 };

	if ((l.list = cJSON_CreateArray()) != NULL)
		hub_each(local_list_one, &l);
	reply_json(req, 200, l.failed ? NULL : l.list);
	cJSON_Delete(l.list);
}

void
local_hub_answer(struct gw_req *req)
{
	if (req->route.kind == ROUTE_STATUS)
		local_status(req);
	else if (req->route.kind == ROUTE_MODEL_INFO)
		local_model_info(req);
	else
		local_framework(req);
}

void
local_preflight(struct gw_req *req)
{
	struct http_resp	*resp;
	const char		*hdrs = req->tr.head.acr_headers;

	resp = http_resp_copy("", 0);
	/* An origin that may not call hfgate gets no permission to: the browser then
	   refuses the request itself. */
	if (reply_cors_origin(req) != NULL) {
		http_resp_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
		http_resp_header(resp, "Access-Control-Allow-Headers", hdrs != NULL ? hdrs :
		    "authorization, x-api-key, content-type, x-model, x-request-id, "
		    "x-timeout, x-wait-for-model, x-use-cache");
		http_resp_header(resp, "Access-Control-Max-Age", "86400");
	}
	reply_send(req, 204, resp);
}
