/* The routes answered without an upstream, and the CORS preflight (docs/api.md). */
#include <string.h>

#include <cJSON.h>

#include "http.h"
#include "hub.h"
#include "local.h"
#include "reply.h"
#include "request.h"
#include "route.h"
#include "task.h"

void
local_answer(struct gw_req *req)
{
	char	*body = NULL;

	switch (req->route.kind) {
	case ROUTE_HEALTHZ:
		reply_copy(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
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

static void
local_status(struct gw_req *req)
{
	static const char *const state[] = {
		[HUB_NONE] = "TooBig", [HUB_STAGING] = "Loadable", [HUB_LIVE] = "Loaded"
	};
	const char		*model = req->res.model;
	struct hub_model	 m;
	cJSON			*o;
	int			 served;

	switch (hub_model(req->cfg, model, &m)) {
	case 0:
		reply_error(req, 504, "timeout", "the Hub did not say in time what model "
		    "'%s' is", model);
		return;
	case -1:
		reply_error(req, 502, "upstream_unreachable", "cannot look model '%s' up "
		    "on the Hub ([upstream] hub_url)", model);
		return;
	default:
		break;
	}
	if (!m.found) {
		reply_error(req, 404, "not_found", "Model %s does not exist", model);
		return;
	}
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
