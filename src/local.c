/* The routes answered without an upstream, and the CORS preflight (docs/api.md). */
#include <string.h>

#include "http.h"
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
