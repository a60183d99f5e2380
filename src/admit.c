/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Admission: the keys (auth.c) and the limits (limit.c) of the caller. A key is
 * never logged or forwarded (only listed headers go upstream).
 */
#include <stdio.h>
#include <string.h>

#include "admit.h"
#include "auth.h"
#include "limit.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "reply.h"
#include "request.h"
#include "resolve.h"
#include "route.h"

/* 401 with the challenge HF clients and curl understand. what: "client" or "admin". */
static void
admit_unauthorized(struct gw_req *req, const char *what, int missing)
{
	struct http_resp	*resp;
	char			 path[1024];

	log_info("%s %s: 401 (%s %s key) from %s", req->tr.head.method,
	    log_escape(path, sizeof(path), req->tr.head.path), missing ? "missing" : "unknown", what,
	    http_client_address(&req->tr));
	resp = reply_error_resp(req, "unauthorized", "%s %s key: send Authorization: "
	    "Bearer <key> or X-Api-Key: <key>", missing ? "missing" : "unknown", what);
	http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"hfgate\"");
	reply_send(req, 401, resp);
}

int
admit_identify(struct gw_req *req)
{
	const struct config	*cfg = req->cfg;
	unsigned		 flags = route_flags(req->route.kind);
	const char		*key;
	size_t			 len = 0;

	key = auth_key(req->tr.head.authorization, req->tr.head.api_key, &len);
	if (flags & ROUTE_F_ADMIN) {
		if (cfg->admin_has_key) {
			if (auth_admin(cfg, key, len))
				return (0);
			admit_unauthorized(req, "admin", key == NULL);
			return (-1);
		}
		/*
		 * Once there are keys, a loopback address is no credential: behind a
		 * reverse proxy on this host every client has one. Without any key,
		 * the client's address decides (a trusted proxy's forwarded one).
		 */
		if (cfg->nclients > 0) {
			reply_error(req, 403, "forbidden", "the admin routes need the "
			    "[admin] key once [client] keys are configured, and none is");
			return (-1);
		}
		if (http_client_loopback(&req->tr))
			return (0);
		reply_error(req, 403, "forbidden", "the admin routes answer loopback "
		    "clients only, unless an [admin] key is configured");
		return (-1);
	}
	if (cfg->nclients == 0 || (flags & ROUTE_F_OPEN))
		return (0);
	if ((req->who.client = auth_client(cfg, key, len)) != NULL)
		return (0);
	admit_unauthorized(req, "client", key == NULL);
	return (-1);
}

int
admit_request(struct gw_req *req)
{
	const struct cfg_client	*cl = req->who.client;
	const struct task_info	*t;
	const char		*model = req->res.model;
	struct limit_params	 lp;
	struct http_resp	*resp;
	const char		*what;
	char			 n[16], path[1024];

	if (cl == NULL)
		return (ADMIT_OK);
	/* A task restriction needs the model's task: wait (bounded) for the Hub. */
	if (cl->ntasks == 0)
		t = resolve_task(req);
	else if (!resolve_task_settled(req, &t))
		return (ADMIT_WAIT);
	if (req->route.kind != ROUTE_FRAMEWORK && !auth_allowed(cl, t != NULL ?
	    t->name : NULL, model[0] != '\0' ? model : NULL, &what)) {
		if (what[0] == 'm')
			reply_error(req, 403, "forbidden", "client '%s' may not use "
			    "model '%s'", cl->name, model);
		else if (t != NULL)
			reply_error(req, 403, "forbidden", "client '%s' may not use "
			    "task '%s'", cl->name, t->name);
		else
			reply_error(req, 403, "forbidden", "client '%s' may only use "
			    "some tasks, and the task of model '%s' is not known (yet: "
			    "try again in a moment)", cl->name, model);
		return (ADMIT_REFUSED);
	}
	if (cl->bill_to != NULL && req->tr.head.bill_to != NULL &&
	    strcmp(req->tr.head.bill_to, cl->bill_to) != 0) {
		reply_error(req, 403, "forbidden", "client '%s' is billed to '%s' and may "
		    "not choose another (X-HF-Bill-To)", cl->name, cl->bill_to);
		return (ADMIT_REFUSED);
	}
	lp.rate = cl->rate;
	lp.burst = cl->burst;
	lp.concurrent = cl->max_concurrent;
	lp.quota = cl->daily_quota;
	lp.token_quota = cl->daily_token_quota;
	/* Out of memory: admitted without a slot or headers (fail open, logged). */
	if (limit_admit(cl->name, &lp, loop_wall_ms(), &req->who.rl) == -1) {
		log_warnx("client %s: out of memory counting its limits", cl->name);
		return (ADMIT_OK);
	}
	if (req->who.rl.refused == NULL) {
		req->who.admitted = 1;
		return (ADMIT_OK);
	}
	metrics_refused(req->who.rl.refused);
	if (log_verbose())
		log_debug("%s %s: 429 client %s over its %s limit", req->tr.head.method,
		    log_escape(path, sizeof(path), req->tr.head.path), cl->name,
		    req->who.rl.refused);
	if (strcmp(req->who.rl.refused, "quota") == 0)
		resp = reply_error_resp(req, "rate_limited", "client '%s' used its daily "
		    "quota of %u requests", cl->name, cl->daily_quota);
	else if (strcmp(req->who.rl.refused, "token_quota") == 0)
		resp = reply_error_resp(req, "rate_limited", "client '%s' used its daily "
		    "quota of %u tokens", cl->name, cl->daily_token_quota);
	else if (strcmp(req->who.rl.refused, "concurrency") == 0)
		resp = reply_error_resp(req, "rate_limited", "client '%s' already has %u "
		    "requests running", cl->name, cl->max_concurrent);
	else
		resp = reply_error_resp(req, "rate_limited", "client '%s' is over its rate "
		    "of %u requests per minute", cl->name, cl->rate);
	snprintf(n, sizeof(n), "%u", req->who.rl.retry_after);
	http_resp_header(resp, "Retry-After", n);
	reply_send(req, 429, resp);
	return (ADMIT_REFUSED);
}

void
admit_release(struct gw_req *req)
{
	if (req->who.admitted)
		limit_release(req->who.client->name);
	req->who.admitted = 0;
}

int
admit_counted(const struct gw_req *req)
{
	return (req->cfg->nclients == 0 || req->who.admitted);
}
