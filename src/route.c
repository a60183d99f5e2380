/* route.c: maps a request method and path to a gateway route. Pure, no I/O. */
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "task.h"

/* Longest part of a client path quoted back in an error message. */
#define ROUTE_QUOTE_MAX	80

static int
route_name_char(char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
}

/* A path component of 1..len chars of [A-Za-z0-9._-], not "." or "..". */
static int
route_valid_part(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return (0);
	for (i = 0; i < len; i++)
		if (!route_name_char(s[i]))
			return (0);
	return (1);
}

int
route_valid_model_id(const char *id)
{
	const char	*slash;
	size_t		 len;

	if (id == NULL)
		return (0);
	len = strlen(id);
	if (len == 0 || len >= ROUTE_MODEL_MAX)
		return (0);
	if ((slash = strchr(id, '/')) == NULL)
		return (route_valid_part(id, len));
	/* route_valid_part rejects a second '/' in the name part. */
	return (route_valid_part(id, (size_t)(slash - id)) &&
	    route_valid_part(slash + 1, len - (size_t)(slash - id) - 1));
}

/*
 * Sets *status and err, quoting arglen bytes of arg (need not be NUL-terminated)
 * through fmt's one "%.*s%s", cut to ROUTE_QUOTE_MAX with "...". With arg NULL,
 * fmt is the message. Returns -1 for the caller to pass on.
 */
static int
route_fail(int *status, int code, char *err, size_t errlen, const char *fmt,
    const char *arg, size_t arglen)
{
	int	 cut = arglen > ROUTE_QUOTE_MAX;

	*status = code;
	if (err == NULL || errlen == 0)
		return (-1);
	if (arg == NULL)
		snprintf(err, errlen, "%s", fmt);
	else
		snprintf(err, errlen, fmt, (int)(cut ? ROUTE_QUOTE_MAX : arglen),
		    arg, cut ? "..." : "");
	return (-1);
}

/* Fills r->model from id, or fails with 400. */
static int
route_model(const char *id, struct route *r, int *status, char *err,
    size_t errlen)
{
	size_t	 len = strlen(id);

	if (len == 0)
		return (route_fail(status, 400, err, errlen, "missing model id",
		    NULL, 0));
	if (!route_valid_model_id(id))
		return (route_fail(status, 400, err, errlen,
		    "invalid model id '%.*s%s'", id, len));
	memcpy(r->model, id, len + 1);	/* valid ids fit */
	return (0);
}

/* Fills r->task from the len bytes at name, or fails with 404 if not a task. */
static int
route_task(const char *name, size_t len, struct route *r, int *status,
    char *err, size_t errlen)
{
	char	 tmp[ROUTE_NAME_MAX];

	if (len < sizeof(tmp)) {
		memcpy(tmp, name, len);
		tmp[len] = '\0';
		if (task_find(tmp) != NULL) {
			memcpy(r->task, tmp, len + 1);
			return (0);
		}
	}
	return (route_fail(status, 404, err, errlen, "unknown task '%.*s%s'",
	    name, len));
}

int
route_parse(const char *path, struct route *r, int *status, char *err,
    size_t errlen)
{
	const char	*p, *slash;
	size_t		 len;

	memset(r, 0, sizeof(*r));
	r->kind = ROUTE_NOT_FOUND;
	*status = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] != '/')
		return (route_fail(status, 404, err, errlen,
		    "no route for %.*s%s", path != NULL ? path : "",
		    path != NULL ? strlen(path) : 0));
	/* Collapse a leading run of '/' to one. */
	while (path[1] == '/')
		path++;

	if (strcmp(path, "/healthz") == 0) {
		r->kind = ROUTE_HEALTHZ;
		return (0);
	}
	if (strcmp(path, "/api/tasks") == 0) {
		r->kind = ROUTE_API_TASKS;
		return (0);
	}
	if (strcmp(path, "/v1/tasks") == 0) {
		r->kind = ROUTE_V1_TASKS;
		return (0);
	}
	if (strcmp(path, "/admin/cache") == 0) {
		r->kind = ROUTE_ADMIN_CACHE;
		return (0);
	}
	if (strcmp(path, "/admin/usage") == 0) {
		r->kind = ROUTE_ADMIN_USAGE;
		return (0);
	}
	if (strncmp(path, "/models/", 8) == 0) {
		if (route_model(path + 8, r, status, err, errlen) == -1)
			return (-1);
		r->kind = ROUTE_MODELS;
		return (0);
	}
	if (strncmp(path, "/status/", 8) == 0) {
		if (route_model(path + 8, r, status, err, errlen) == -1)
			return (-1);
		r->kind = ROUTE_STATUS;
		return (0);
	}
	if (strncmp(path, "/pipeline/", 10) == 0) {
		p = path + 10;
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		if (route_task(p, (size_t)(slash - p), r, status, err,
		    errlen) == -1)
			return (-1);
		if (route_model(*slash == '/' ? slash + 1 : slash, r, status,
		    err, errlen) == -1)
			return (-1);
		r->kind = ROUTE_PIPELINE;
		return (0);
	}
	if (strncmp(path, "/framework/", 11) == 0) {
		p = path + 11;
		len = strlen(p);
		if (len == 0)
			return (route_fail(status, 400, err, errlen,
			    "missing framework name", NULL, 0));
		if (len >= sizeof(r->name) || !route_valid_part(p, len))
			return (route_fail(status, 400, err, errlen,
			    "invalid framework name '%.*s%s'", p, len));
		memcpy(r->name, p, len + 1);
		r->kind = ROUTE_FRAMEWORK;
		return (0);
	}
	if (strncmp(path, "/endpoints/", 11) == 0) {
		p = path + 11;
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		len = (size_t)(slash - p);
		if (len == 0 || len >= sizeof(r->name) || !route_valid_part(p, len))
			return (route_fail(status, 400, err, errlen,
			    "invalid endpoint name '%.*s%s'", p, len));
		memcpy(r->name, p, len);
		r->name[len] = '\0';
		r->kind = ROUTE_ENDPOINT;
		if (*slash == '\0')
			return (0);
		if (strcmp(slash, "/generate") == 0 ||
		    strcmp(slash, "/generate_stream") == 0) {
			memcpy(r->sub, slash + 1, strlen(slash));
			return (0);
		}
		if (strcmp(slash, "/info") == 0) {
			r->kind = ROUTE_ENDPOINT_INFO;
			return (0);
		}
		r->kind = ROUTE_NOT_FOUND;
		return (route_fail(status, 404, err, errlen, "no route for %.*s%s",
		    path, strlen(path)));
	}
	if (strncmp(path, "/v1/", 4) == 0 && path[4] != '\0' &&
	    strchr(path + 4, '/') == NULL) {
		p = path + 4;
		if (route_task(p, strlen(p), r, status, err, errlen) == -1)
			return (-1);
		r->kind = ROUTE_V1_TASK;
		return (0);
	}
	return (route_fail(status, 404, err, errlen, "no route for %.*s%s",
	    path, strlen(path)));
}

int
route_method_allowed(enum route_kind kind, const char *method)
{
	if (method == NULL)
		return (0);
	switch (kind) {
	case ROUTE_MODELS:
	case ROUTE_PIPELINE:
	case ROUTE_V1_TASK:
	case ROUTE_ENDPOINT:
		return (strcmp(method, "POST") == 0);
	case ROUTE_ENDPOINT_INFO:
	case ROUTE_STATUS:
	case ROUTE_FRAMEWORK:
	case ROUTE_API_TASKS:
	case ROUTE_V1_TASKS:
	case ROUTE_HEALTHZ:
	case ROUTE_ADMIN_USAGE:
		return (strcmp(method, "GET") == 0 ||
		    strcmp(method, "HEAD") == 0);
	case ROUTE_ADMIN_CACHE:
		return (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
		    strcmp(method, "DELETE") == 0);
	case ROUTE_NOT_FOUND:
	default:
		return (0);
	}
}

const char *
route_allow_header(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_MODELS:
	case ROUTE_PIPELINE:
	case ROUTE_V1_TASK:
	case ROUTE_ENDPOINT:
		return ("POST");
	case ROUTE_ADMIN_CACHE:
		return ("GET, HEAD, DELETE");
	default:
		return ("GET, HEAD");
	}
}
