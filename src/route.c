/* SPDX-License-Identifier: BSD-2-Clause */
/* route.c: maps a request method and path to a gateway route. Pure, no I/O. */
#include <stdio.h>
#include <string.h>

#include "modelid.h"
#include "route.h"
#include "task.h"

/* Longest part of a client path quoted back in an error message. */
#define ROUTE_QUOTE_MAX	80

#define ROUTE_INFER	(ROUTE_F_INFERENCE | ROUTE_F_UPSTREAM)

/*
 * Every route, tried in this order. Rows of one kind agree on everything but the
 * pattern and sub (route_flags and the others read a kind's first row). The fixed
 * paths come first so that "/v1/tasks" is the list, not a task named "tasks".
 */
static const struct route_spec route_rows[] = {
	{ ROUTE_HEALTHZ,	"GET, HEAD",	"/healthz",
	    ROUTE_F_LOCAL | ROUTE_F_OPEN, ROUTE_H_LOCAL, NULL, NULL },
	{ ROUTE_READYZ,		"GET, HEAD",	"/readyz",
	    ROUTE_F_LOCAL | ROUTE_F_OPEN, ROUTE_H_LOCAL, NULL, NULL },
	{ ROUTE_API_TASKS,	"GET, HEAD",	"/api/tasks",
	    ROUTE_F_LOCAL, ROUTE_H_LOCAL, NULL, NULL },
	{ ROUTE_V1_TASKS,	"GET, HEAD",	"/v1/tasks",
	    ROUTE_F_LOCAL, ROUTE_H_LOCAL, NULL, NULL },
	{ ROUTE_ADMIN_CACHE,	"GET, HEAD, DELETE", "/admin/cache",
	    ROUTE_F_ADMIN, ROUTE_H_ADMIN_CACHE, NULL, NULL },
	{ ROUTE_ADMIN_USAGE,	"GET, HEAD",	"/admin/usage",
	    ROUTE_F_ADMIN, ROUTE_H_ADMIN_USAGE, NULL, NULL },
	{ ROUTE_METRICS,	"GET, HEAD",	"/metrics",
	    ROUTE_F_ADMIN, ROUTE_H_METRICS, NULL, NULL },
	/* The OpenAI API, before /v1/{task}: "chat", "completions", "embeddings" and
	   "models" are not task names (tests/check_route.c checks that none becomes one). */
	{ ROUTE_OAI,		"POST",		"/v1/chat/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "chat/completions", NULL },
	{ ROUTE_OAI,		"POST",		"/v1/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "completions", NULL },
	{ ROUTE_OAI,		"POST",		"/v1/embeddings",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "embeddings", NULL },
	{ ROUTE_OAI_MODELS,	"GET, HEAD",	"/v1/models",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "models", NULL },
	{ ROUTE_OAI_MODELS,	"GET, HEAD",	"/v1/models/{model}",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "model", NULL },
	{ ROUTE_OAI,		"POST",		"/models/{model}/v1/chat/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "chat/completions", NULL },
	{ ROUTE_OAI,		"POST",		"/models/{model}/v1/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "completions", NULL },
	{ ROUTE_OAI,		"POST",		"/models/{model}/v1/embeddings",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "embeddings", NULL },
	{ ROUTE_OAI_MODELS,	"GET, HEAD",	"/models/{model}/v1/models",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "models", NULL },
	{ ROUTE_MODEL_INFO,	"GET, HEAD",	"/models/{model}/info",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "info", NULL },
	{ ROUTE_MODEL_INFO,	"GET, HEAD",	"/models/{model}/health",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "health", NULL },
	{ ROUTE_PIPELINE,	"POST",		"/models/{model}/pipeline/{task}",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_HUB_MODEL,	"GET, HEAD",	"/api/models/{model}",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_MODELS,		"POST",		"/models/{model}",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_STATUS,		"GET, HEAD",	"/status/{model}",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_PIPELINE,	"POST",		"/pipeline/{task}/{model}",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_FRAMEWORK,	"GET, HEAD",	"/framework/{name...}",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, NULL, "framework" },
	{ ROUTE_ENDPOINT,	"POST",		"/endpoints/{name}",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "", "endpoint" },
	{ ROUTE_ENDPOINT,	"POST",		"/endpoints/{name}/generate",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "generate", "endpoint" },
	{ ROUTE_ENDPOINT,	"POST",		"/endpoints/{name}/generate_stream",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "generate_stream", "endpoint" },
	{ ROUTE_ENDPOINT_INFO,	"GET, HEAD",	"/endpoints/{name}/info",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "info", "endpoint" },
	{ ROUTE_ENDPOINT_INFO,	"GET, HEAD",	"/endpoints/{name}/health",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "health", "endpoint" },
	{ ROUTE_OAI,		"POST",		"/endpoints/{name}/v1/chat/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "chat/completions", "endpoint" },
	{ ROUTE_OAI,		"POST",		"/endpoints/{name}/v1/completions",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "completions", "endpoint" },
	{ ROUTE_OAI,		"POST",		"/endpoints/{name}/v1/embeddings",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, "embeddings", "endpoint" },
	{ ROUTE_OAI_MODELS,	"GET, HEAD",	"/endpoints/{name}/v1/models",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "models", "endpoint" },
	{ ROUTE_V1_TASK,	"POST",		"/v1/{task}",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_ROOT,		"POST",		"/",
	    ROUTE_INFER, ROUTE_H_UPSTREAM, NULL, NULL },
	{ ROUTE_ROOT_INFO,	"GET, HEAD",	"/info",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "info", NULL },
	{ ROUTE_ROOT_INFO,	"GET, HEAD",	"/health",
	    ROUTE_F_UPSTREAM, ROUTE_H_UPSTREAM, "health", NULL },
};

#define ROUTE_NROWS	(sizeof(route_rows) / sizeof(route_rows[0]))

/* What route_match makes of one row. */
enum route_fit {
	ROUTE_FITS,		/* r is filled */
	ROUTE_OTHER,		/* not this row: try the next */
	ROUTE_FAILS		/* a bad part: *status and err are the answer */
};

/*
 * Sets *status to code and err to msg, then, unless arg is NULL, a space and the arglen
 * bytes of arg (need not be NUL-terminated), in quotes if quote, cut to
 * ROUTE_QUOTE_MAX with "...". Returns ROUTE_FAILS for the caller to pass on.
 */
static enum route_fit
route_fail(int *status, int code, char *err, size_t errlen, const char *msg,
    const char *arg, size_t arglen, int quote)
{
	int	 cut = arglen > ROUTE_QUOTE_MAX;
	int	 n = (int)(cut ? ROUTE_QUOTE_MAX : arglen);

	*status = code;
	if (err == NULL || errlen == 0)
		return (ROUTE_FAILS);
	if (arg == NULL)
		snprintf(err, errlen, "%s", msg);
	else if (quote)
		snprintf(err, errlen, "%s '%.*s%s'", msg, n, arg, cut ? "..." : "");
	else
		snprintf(err, errlen, "%s %.*s%s", msg, n, arg, cut ? "..." : "");
	return (ROUTE_FAILS);
}

/* Fills r->model from the rest of the path, or fails with 400. */
static enum route_fit
route_model(const char *id, struct route *r, int *status, char *err,
    size_t errlen)
{
	size_t	 len = strlen(id);

	if (len == 0)
		return (route_fail(status, 400, err, errlen, "missing model id",
		    NULL, 0, 0));
	if (!modelid_valid(id))
		return (route_fail(status, 400, err, errlen, "invalid model id",
		    id, len, 1));
	memcpy(r->model, id, len + 1);	/* valid ids fit */
	return (ROUTE_FITS);
}

/* Fills r->task from the len bytes at s, or fails with 404 if not a task. */
static enum route_fit
route_task(const char *s, size_t len, struct route *r, int *status,
    char *err, size_t errlen)
{
	char	 tmp[ROUTE_NAME_MAX];

	if (len < sizeof(tmp)) {
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (task_find(tmp) != NULL) {
			memcpy(r->task, tmp, len + 1);
			return (ROUTE_FITS);
		}
	}
	return (route_fail(status, 404, err, errlen, "unknown task", s, len, 1));
}

/*
 * Fills r->name from the len bytes at s, or fails with 400. An empty rest of the
 * path is a missing name; an empty path component is a bad one.
 */
static enum route_fit
route_name(const char *noun, const char *s, size_t len, int rest,
    struct route *r, int *status, char *err, size_t errlen)
{
	char	 msg[64];

	if (len == 0 && rest) {
		snprintf(msg, sizeof(msg), "missing %s name", noun);
		return (route_fail(status, 400, err, errlen, msg, NULL, 0, 0));
	}
	if (len >= sizeof(r->name) || !modelid_part_valid(s, len)) {
		snprintf(msg, sizeof(msg), "invalid %s name", noun);
		return (route_fail(status, 400, err, errlen, msg, s, len, 1));
	}
	memcpy(r->name, s, len);
	r->name[len] = '\0';
	return (ROUTE_FITS);
}

/* 1 if the plen bytes at pat are the placeholder ph. */
static int
route_is(const char *pat, size_t plen, const char *ph)
{
	return (strlen(ph) == plen && strncmp(pat, ph, plen) == 0);
}

/*
 * Matches path against row->pattern. Literal text must match exactly. The
 * placeholders:
 *   {model}    the rest of the path, a model id (400 if missing or invalid);
 *   {task}     one path component, a known task (404 if not);
 *   {name}     one path component of [A-Za-z0-9._-] (400 if not);
 *   {name...}  the rest of the path as a name, so "/framework/a/b" is a bad name
 *              rather than no route.
 * A placeholder is checked as soon as it is taken, and a bad one ends the search:
 * "/endpoints/a b/foo" is a bad name even though no row fits it. Two exceptions
 * keep a path that does not have the row's shape from being claimed by it: a
 * component that ends the pattern must also end the path and be non-empty before
 * it is checked ("/v1/" and "/v1/a/b" are no route, not unknown tasks), and a path
 * that stops right after a placeholder where "/{model}" remains has an empty model
 * ("/pipeline/t" is a pipeline call without its model).
 */
static enum route_fit	route_match_from(const struct route_spec *, const char *,
			    const char *, int, struct route *, int *, char *, size_t);

/*
 * A {model} that the pattern goes on after ("/models/{model}/info"): a model id has
 * one or two components, so the rest of the pattern is tried after each; the model is
 * checked once the rest fits. A rest that does not fit is another row's path.
 */
static enum route_fit
route_match_inner_model(const struct route_spec *row, const char *rest_pat,
    const char *p, struct route *r, int *status, char *err, size_t errlen)
{
	const char	*slash, *ends[2];
	char		 id[ROUTE_MODEL_MAX];
	size_t		 i, len;
	enum route_fit	 fit;

	if ((slash = strchr(p, '/')) == NULL)
		return (ROUTE_OTHER);
	ends[0] = strchr(slash + 1, '/');	/* org/name */
	ends[1] = slash;			/* name */
	for (i = 0; i < 2; i++) {
		if (ends[i] == NULL)
			continue;
		fit = route_match_from(row, rest_pat, ends[i], 1, r, status, err, errlen);
		if (fit == ROUTE_OTHER)
			continue;
		if (fit == ROUTE_FAILS)
			return (fit);
		if ((len = (size_t)(ends[i] - p)) >= sizeof(id))
			return (route_fail(status, 400, err, errlen, "invalid model id",
			    p, len, 1));
		memcpy(id, p, len);
		id[len] = '\0';
		return (route_model(id, r, status, err, errlen));
	}
	return (ROUTE_OTHER);
}

static enum route_fit
route_match(const struct route_spec *row, const char *path, struct route *r,
    int *status, char *err, size_t errlen)
{
	return (route_match_from(row, row->pattern, path, 0, r, status, err, errlen));
}

static enum route_fit
route_match_from(const struct route_spec *row, const char *pattern, const char *path,
    int taken, struct route *r, int *status, char *err, size_t errlen)
{
	const char	*pat = pattern, *p = path, *end, *close;
	size_t		 len, plen;
	enum route_fit	 fit;
	int		 last;

	while (*pat != '\0') {
		if (*pat != '{') {
			if (*p == *pat) {
				p++;
				pat++;
				continue;
			}
			if (*p == '\0' && taken && strcmp(pat, "/{model}") == 0) {
				pat++;
				continue;
			}
			return (ROUTE_OTHER);
		}
		if ((close = strchr(pat, '}')) == NULL)
			return (ROUTE_OTHER);
		plen = (size_t)(close - pat) + 1;
		last = close[1] == '\0';
		if ((end = strchr(p, '/')) == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (route_is(pat, plen, "{model}") && !last)
			return (route_match_inner_model(row, close + 1, p, r, status,
			    err, errlen));
		if (route_is(pat, plen, "{model}")) {
			fit = route_model(p, r, status, err, errlen);
			end = p + strlen(p);
		} else if (route_is(pat, plen, "{name...}")) {
			end = p + strlen(p);
			fit = route_name(row->noun, p, (size_t)(end - p), 1, r,
			    status, err, errlen);
		} else if (last && (*end != '\0' || len == 0)) {
			return (ROUTE_OTHER);
		} else if (route_is(pat, plen, "{task}")) {
			fit = route_task(p, len, r, status, err, errlen);
		} else if (route_is(pat, plen, "{name}")) {
			fit = route_name(row->noun, p, len, 0, r, status, err,
			    errlen);
		} else
			return (ROUTE_OTHER);
		if (fit != ROUTE_FITS)
			return (fit);
		p = end;
		pat = close + 1;
		taken = 1;
	}
	return (*p == '\0' ? ROUTE_FITS : ROUTE_OTHER);
}

const struct route_spec *
route_spec_at(size_t i)
{
	return (i < ROUTE_NROWS ? &route_rows[i] : NULL);
}

/* The first row of kind, or NULL (ROUTE_NOT_FOUND has none). */
static const struct route_spec *
route_row_of(enum route_kind kind)
{
	size_t	 i;

	for (i = 0; i < ROUTE_NROWS; i++)
		if (route_rows[i].kind == kind)
			return (&route_rows[i]);
	return (NULL);
}

int
route_parse(const char *path, struct route *r, int *status, char *err,
    size_t errlen)
{
	const struct route_spec	*row;
	size_t			 i;

	memset(r, 0, sizeof(*r));
	r->kind = ROUTE_NOT_FOUND;
	*status = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] != '/') {
		route_fail(status, 404, err, errlen, "no route for",
		    path != NULL ? path : "", path != NULL ? strlen(path) : 0, 0);
		return (-1);
	}
	/* Collapse a leading run of '/' to one. */
	while (path[1] == '/')
		path++;

	for (i = 0; i < ROUTE_NROWS; i++) {
		row = &route_rows[i];
		switch (route_match(row, path, r, status, err, errlen)) {
		case ROUTE_FITS:
			r->kind = row->kind;
			if (row->sub != NULL)
				snprintf(r->sub, sizeof(r->sub), "%s", row->sub);
			return (0);
		case ROUTE_FAILS:
			return (-1);
		case ROUTE_OTHER:
			/* Nothing a row that did not fit took stays behind. */
			memset(r, 0, sizeof(*r));
			r->kind = ROUTE_NOT_FOUND;
			break;
		}
	}
	route_fail(status, 404, err, errlen, "no route for", path, strlen(path), 0);
	return (-1);
}

void
route_at_root(struct route *r, const char *root_model)
{
	if (r->kind != ROUTE_ROOT && r->kind != ROUTE_ROOT_INFO)
		return;
	if (root_model == NULL) {
		if (r->kind == ROUTE_ROOT_INFO && strcmp(r->sub, "health") == 0)
			r->kind = ROUTE_HEALTHZ;
		return;
	}
	/* The configuration checked the id, and ids fit. */
	snprintf(r->model, sizeof(r->model), "%s", root_model);
	r->kind = r->kind == ROUTE_ROOT ? ROUTE_MODELS : ROUTE_MODEL_INFO;
}

int
route_resolve(const char *method, const char *path, struct route *r, int *status,
    char *err, size_t errlen)
{
	const struct route_spec	*row;
	struct route		 first;
	size_t			 i;
	int			 have_first = 0;

	if (route_parse(path, r, status, err, errlen) == -1 ||
	    route_method_allowed(r->kind, method))
		return (r->kind == ROUTE_NOT_FOUND ? -1 : 0);
	first = *r;
	have_first = 1;
	/* Collapse a leading run of '/' to one, as route_parse did. */
	while (path[1] == '/')
		path++;
	for (i = 0; i < ROUTE_NROWS; i++) {
		row = &route_rows[i];
		if (!route_method_allowed(row->kind, method))
			continue;
		memset(r, 0, sizeof(*r));
		if (route_match(row, path, r, status, err, errlen) == ROUTE_FITS) {
			r->kind = row->kind;
			if (row->sub != NULL)
				snprintf(r->sub, sizeof(r->sub), "%s", row->sub);
			return (0);
		}
	}
	if (have_first)
		*r = first;
	*status = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return (0);
}

int
route_method_allowed(enum route_kind kind, const char *method)
{
	const struct route_spec	*row = route_row_of(kind);
	const char		*m;
	size_t			 len, tok;

	if (row == NULL || method == NULL)
		return (0);
	len = strlen(method);
	/* methods is "A" or "A, B, ...". */
	for (m = row->methods; *m != '\0'; m += strspn(m, ", ")) {
		tok = strcspn(m, ",");
		if (tok == len && strncmp(m, method, len) == 0)
			return (1);
		m += tok;
	}
	return (0);
}

const char *
route_allow_header(enum route_kind kind)
{
	const struct route_spec	*row = route_row_of(kind);

	return (row != NULL ? row->methods : "GET, HEAD");
}

unsigned
route_flags(enum route_kind kind)
{
	const struct route_spec	*row = route_row_of(kind);

	return (row != NULL ? row->flags : 0);
}

enum route_handler
route_handler_of(enum route_kind kind)
{
	const struct route_spec	*row = route_row_of(kind);

	return (row != NULL ? row->handler : ROUTE_H_NONE);
}
