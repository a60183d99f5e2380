/* SPDX-License-Identifier: BSD-2-Clause */
/* route.c: maps a request method and path to a gateway route. Pure, no I/O. */
#ifndef HFGATE_ROUTE_H
#define HFGATE_ROUTE_H

#include <stddef.h>

#include "modelid.h"

#define ROUTE_MODEL_MAX	MODELID_MAX
#define ROUTE_NAME_MAX	64

enum route_kind {
	ROUTE_NOT_FOUND = 0,
	ROUTE_MODELS,		/* POST /models/{id}                 model */
	ROUTE_PIPELINE,		/* POST /pipeline/{task}/{id}        task, model */
	ROUTE_STATUS,		/* GET  /status/{id}                 model */
	ROUTE_FRAMEWORK,	/* GET  /framework/{fw}              name = fw */
	ROUTE_API_TASKS,	/* GET  /api/tasks */
	ROUTE_V1_TASK,		/* POST /v1/{task}                   task */
	ROUTE_V1_TASKS,		/* GET  /v1/tasks */
	ROUTE_HEALTHZ,		/* GET  /healthz */
	ROUTE_ENDPOINT,		/* POST /endpoints/{name}[/generate|/generate_stream]
				   name, sub = "", "generate" or "generate_stream" */
	ROUTE_ENDPOINT_INFO,	/* GET  /endpoints/{name}/info|health  name, sub */
	ROUTE_ADMIN_CACHE,	/* GET, DELETE /admin/cache */
	ROUTE_ADMIN_USAGE,	/* GET  /admin/usage */
	/* The OpenAI-compatible API (docs/api.md): sub is the path after /v1/. */
	ROUTE_OAI,		/* POST [/models/{id}|/endpoints/{name}]/v1/chat/completions,
				   /v1/completions, /v1/embeddings */
	ROUTE_OAI_MODELS,	/* GET  [/models/{id}|/endpoints/{name}]/v1/models: sub
				   "models"; GET /v1/models/{id}: sub "model" */
	ROUTE_MODEL_INFO,	/* GET  /models/{id}/info|health     model, sub */
	ROUTE_HUB_MODEL,	/* GET  /api/models/{id}             model */
	/* The gateway's bare URL, which clients given a URL use as the model's (POST /
	   with a task body, GET /info and /health): route_at_root makes them the
	   configured root model's routes. */
	ROUTE_ROOT,		/* POST /                            */
	ROUTE_ROOT_INFO,	/* GET  /info|health                 sub */
	ROUTE_READYZ,		/* GET  /readyz */
	ROUTE_METRICS		/* GET  /metrics */
};

/* What a route is, for the checks the gateway makes before it answers (route_flags). */
#define ROUTE_F_INFERENCE	0x01u	/* an inference call, counted in usage */
#define ROUTE_F_UPSTREAM	0x02u	/* goes to an upstream (every inference call does) */
#define ROUTE_F_ADMIN		0x04u	/* needs the admin key, or loopback without one */
#define ROUTE_F_LOCAL		0x08u	/* answered by hfgate itself; not an admin route */
#define ROUTE_F_OPEN		0x10u	/* no client key needed */

/* Which gateway function answers a route. The gateway maps these to its own functions,
   so this module stays free of them. */
enum route_handler {
	ROUTE_H_NONE = 0,	/* ROUTE_NOT_FOUND */
	ROUTE_H_LOCAL,		/* /healthz, /readyz, /api/tasks, /v1/tasks */
	ROUTE_H_ADMIN_CACHE,	/* /admin/cache */
	ROUTE_H_ADMIN_USAGE,	/* /admin/usage */
	ROUTE_H_METRICS,	/* /metrics */
	ROUTE_H_UPSTREAM	/* everything with ROUTE_F_UPSTREAM */
};

/* One row of the route table. */
struct route_spec {
	enum route_kind		 kind;
	const char		*methods;	/* as the Allow header lists them */
	const char		*pattern;	/* "/pipeline/{task}/{model}": see route_match */
	unsigned		 flags;		/* ROUTE_F_* */
	enum route_handler	 handler;
	const char		*sub;		/* what r->sub gets (ROUTE_ENDPOINT), else NULL */
	const char		*noun;		/* what {name} is called in errors, else NULL */
};

struct route {
	enum route_kind	 kind;
	char		 model[ROUTE_MODEL_MAX];	/* validated model id, "" if none */
	char		 task[ROUTE_NAME_MAX];		/* task as written in the path */
	char		 name[ROUTE_NAME_MAX];		/* framework or endpoint name */
	char		 sub[ROUTE_NAME_MAX];		/* endpoint sub-path */
};

/*
 * Like route_parse, for a request of method: of the rows whose pattern fits path, the
 * first that takes method wins; when none does, the first that fits is returned (the
 * caller answers 405 with its Allow header). So "POST /models/org/info" is model
 * org/info, and "GET /models/org/info" the info of model org.
 */
int		 route_resolve(const char *method, const char *path, struct route *r,
		    int *status, char *err, size_t errlen);
/*
 * The root routes as the routes of root_model: POST / becomes ROUTE_MODELS and GET
 * /info, /health ROUTE_MODEL_INFO of that model. Without a root model, GET /health is
 * the gateway's own (ROUTE_HEALTHZ) and the others stay as they are, for the caller
 * to refuse. Other routes are left alone.
 */
void		 route_at_root(struct route *r, const char *root_model);
/*
 * Parses path (no query string: the caller strips it; a leading "//" or more is
 * collapsed to "/"). Returns 0 with r filled, or -1 with *status set (400 bad model id
 * or malformed path component, 404 unknown route or unknown task on /v1 and /pipeline)
 * and a human message in err (r->kind is then ROUTE_NOT_FOUND). The method is not
 * checked here: see route_method_allowed.
 */
int		 route_parse(const char *path, struct route *r, int *status, char *err, size_t errlen);
/*
 * The route table, row i in the order route_parse tries them; NULL past the last.
 * For listing the routes and for the tests: the gateway asks by kind, below.
 */
const struct route_spec *route_spec_at(size_t i);

/*
 * By kind: the methods, flags and handler are the same in every row of a kind (a
 * kind may have several patterns), so the gateway needs no more than r->kind, and
 * gets the values rather than a row so that it does not depend on the table.
 */
/* 1 if method is one the route kind takes ("POST"; or "GET" and "HEAD"; /admin/cache
   also takes "DELETE"), else 0. Case-sensitive; ROUTE_NOT_FOUND takes none. */
int		 route_method_allowed(enum route_kind, const char *method);
/* The methods of the kind for the Allow header of a 405: "POST", "GET, HEAD" or
   "GET, HEAD, DELETE" ("GET, HEAD" for ROUTE_NOT_FOUND). */
const char	*route_allow_header(enum route_kind);
/* The kind's ROUTE_F_* bits; 0 for ROUTE_NOT_FOUND. */
unsigned	 route_flags(enum route_kind);
/* The kind's handler; ROUTE_H_NONE for ROUTE_NOT_FOUND. */
enum route_handler route_handler_of(enum route_kind);

#endif
