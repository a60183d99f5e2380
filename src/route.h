/* route.c: maps a request method and path to a gateway route. Pure, no I/O. */
#ifndef HFGATE_ROUTE_H
#define HFGATE_ROUTE_H

#include <stddef.h>

#define ROUTE_MODEL_MAX	256
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
	ROUTE_ENDPOINT_INFO,	/* GET  /endpoints/{name}/info       name */
	ROUTE_ADMIN_CACHE,	/* GET, DELETE /admin/cache */
	ROUTE_ADMIN_USAGE	/* GET  /admin/usage */
};

struct route {
	enum route_kind	 kind;
	char		 model[ROUTE_MODEL_MAX];	/* validated model id, "" if none */
	char		 task[ROUTE_NAME_MAX];		/* task as written in the path */
	char		 name[ROUTE_NAME_MAX];		/* framework or endpoint name */
	char		 sub[ROUTE_NAME_MAX];		/* endpoint sub-path */
};

/*
 * Parses path (no query string: the caller strips it; a leading "//" or more is
 * collapsed to "/"). Returns 0 with r filled, or -1 with *status set (400 bad model id
 * or malformed path component, 404 unknown route or unknown task on /v1 and /pipeline)
 * and a human message in err. The method is not checked here: see route_method_allowed.
 */
int		 route_parse(const char *path, struct route *r, int *status, char *err, size_t errlen);
/* 1 if method is valid for the route kind ("POST" or "GET"; HEAD counts as GET;
   /admin/cache also takes DELETE), else 0. */
int		 route_method_allowed(enum route_kind, const char *method);
/* The allowed method for the Allow header of a 405: "POST" or "GET, HEAD". */
const char	*route_allow_header(enum route_kind);
/* 1 if id is a valid HF model id: 1..ROUTE_MODEL_MAX-1 chars of [A-Za-z0-9._-] with at
   most one '/', not starting or ending with '/', no empty part, no "." or ".." part. */
int		 route_valid_model_id(const char *id);

#endif
