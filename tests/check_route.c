/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for route.c. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "modelid.h"
#include "route.h"
#include "task.h"

/* Parses path expecting success. */
static struct route
parse_ok(const char *path)
{
	struct route	 r;
	char		 err[256];
	int		 status = -7;

	ck_assert_msg(route_parse(path, &r, &status, err, sizeof(err)) == 0,
	    "%s: %s", path, err);
	return (r);
}

/* Parses path expecting failure with status; returns the message. */
static const char *
parse_fail(const char *path, int want)
{
	static char	 err[256];
	struct route	 r;
	int		 status = 0;

	memset(err, 'x', sizeof(err));
	ck_assert_msg(route_parse(path, &r, &status, err, sizeof(err)) == -1,
	    "%s parsed", path);
	ck_assert_int_eq(status, want);
	ck_assert_int_eq(r.kind, ROUTE_NOT_FOUND);
	ck_assert(memchr(err, '\0', sizeof(err)) != NULL);
	ck_assert_str_ne(err, "");
	return (err);
}

START_TEST(test_models)
{
	struct route	 r;

	r = parse_ok("/models/gpt2");
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert_str_eq(r.model, "gpt2");
	ck_assert_str_eq(r.task, "");
	r = parse_ok("/models/distilbert/distilbert-base-uncased-finetuned-sst-2-english");
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert_str_eq(r.model,
	    "distilbert/distilbert-base-uncased-finetuned-sst-2-english");
	r = parse_ok("/models/CompVis/stable-diffusion-v1-4");
	ck_assert_str_eq(r.model, "CompVis/stable-diffusion-v1-4");
	r = parse_ok("/models/a_b.c-d/E.F_9");
	ck_assert_str_eq(r.model, "a_b.c-d/E.F_9");
}
END_TEST

START_TEST(test_pipeline)
{
	struct route	 r;
	const char	*e;

	r = parse_ok("/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2");
	ck_assert_int_eq(r.kind, ROUTE_PIPELINE);
	ck_assert_str_eq(r.task, "feature-extraction");
	ck_assert_str_eq(r.model, "sentence-transformers/all-MiniLM-L6-v2");
	r = parse_ok("/pipeline/sentence-similarity/bert-base-uncased");
	ck_assert_str_eq(r.task, "sentence-similarity");
	ck_assert_str_eq(r.model, "bert-base-uncased");

	e = parse_fail("/pipeline/no-such-task/gpt2", 404);
	ck_assert_ptr_nonnull(strstr(e, "no-such-task"));
	parse_fail("/pipeline//gpt2", 404);
	parse_fail("/pipeline/feature-extraction", 400);
	e = parse_fail("/pipeline/feature-extraction/", 400);
	ck_assert_str_eq(e, "missing model id");
	e = parse_fail("/pipeline/feature-extraction/a/b/c", 400);
	ck_assert_ptr_nonnull(strstr(e, "invalid model id"));
	/* A task name longer than any buffer is just unknown. */
	e = parse_fail("/pipeline/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/gpt2", 404);
	ck_assert_ptr_nonnull(strstr(e, "unknown task"));
	ck_assert_ptr_nonnull(strstr(e, "..."));
}
END_TEST

START_TEST(test_status_framework)
{
	struct route	 r;
	const char	*e;

	r = parse_ok("/status/google/flan-t5-xxl");
	ck_assert_int_eq(r.kind, ROUTE_STATUS);
	ck_assert_str_eq(r.model, "google/flan-t5-xxl");
	parse_fail("/status/", 400);
	parse_fail("/status/a/b/c", 400);

	r = parse_ok("/framework/text-generation-inference");
	ck_assert_int_eq(r.kind, ROUTE_FRAMEWORK);
	ck_assert_str_eq(r.name, "text-generation-inference");
	ck_assert_str_eq(r.model, "");
	r = parse_ok("/framework/sentence-transformers");
	ck_assert_str_eq(r.name, "sentence-transformers");
	e = parse_fail("/framework/", 400);
	ck_assert_str_eq(e, "missing framework name");
	parse_fail("/framework/a/b", 400);
	parse_fail("/framework/..", 400);
	parse_fail("/framework/a%20b", 400);
	parse_fail("/framework/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 400);
}
END_TEST

START_TEST(test_fixed_routes)
{
	ck_assert_int_eq(parse_ok("/api/tasks").kind, ROUTE_API_TASKS);
	ck_assert_int_eq(parse_ok("/v1/tasks").kind, ROUTE_V1_TASKS);
	ck_assert_int_eq(parse_ok("/healthz").kind, ROUTE_HEALTHZ);
	ck_assert_int_eq(parse_ok("/admin/cache").kind, ROUTE_ADMIN_CACHE);
	ck_assert_int_eq(parse_ok("/admin/usage").kind, ROUTE_ADMIN_USAGE);
	ck_assert_int_eq(parse_ok("//admin/usage").kind, ROUTE_ADMIN_USAGE);
	parse_fail("/admin/usage/", 404);
	parse_fail("/admin/usages", 404);
	parse_fail("/admin", 404);
	parse_fail("/healthz/", 404);
	parse_fail("/api/tasks/", 404);
	parse_fail("/api", 404);
	parse_fail("", 404);
	parse_fail("healthz", 404);
	parse_fail("/HEALTHZ", 404);
	parse_fail("/models", 404);
}
END_TEST

START_TEST(test_v1)
{
	struct route	 r;
	const char	*e;

	r = parse_ok("/v1/text-classification");
	ck_assert_int_eq(r.kind, ROUTE_V1_TASK);
	ck_assert_str_eq(r.task, "text-classification");
	ck_assert_str_eq(r.model, "");
	r = parse_ok("/v1/zero-shot-image-classification");
	ck_assert_str_eq(r.task, "zero-shot-image-classification");
	r = parse_ok("/v1/audio-classification");
	ck_assert_str_eq(r.task, "audio-classification");

	e = parse_fail("/v1/text-to-video", 404);
	ck_assert_str_eq(e, "unknown task 'text-to-video'");
	e = parse_fail("/v1/", 404);
	ck_assert_ptr_nonnull(strstr(e, "no route for"));
	parse_fail("/v1/text-classification/extra", 404);
	parse_fail("/v1/Text-Classification", 404);
}
END_TEST

START_TEST(test_slash_collapse)
{
	struct route	 r;

	r = parse_ok("//models/gpt2");
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert_str_eq(r.model, "gpt2");
	r = parse_ok("////pipeline/feature-extraction/org/m");
	ck_assert_int_eq(r.kind, ROUTE_PIPELINE);
	ck_assert_str_eq(r.model, "org/m");
	ck_assert_int_eq(parse_ok("//healthz").kind, ROUTE_HEALTHZ);
	/* Only the leading run collapses. */
	parse_fail("/models//gpt2", 400);
	parse_fail("/v1//text-classification", 404);
	parse_fail("//x", 404);
}
END_TEST

START_TEST(test_model_id_edges)
{
	char	 id[300], path[320];
	const char	*e;

	/* "/models/" with nothing after it. */
	e = parse_fail("/models/", 400);
	ck_assert_str_eq(e, "missing model id");
	e = parse_fail("/models/a/b/c", 400);
	ck_assert_ptr_nonnull(strstr(e, "invalid model id"));
	parse_fail("/models/gpt2/", 400);
	parse_fail("/models/org//m", 400);
	parse_fail("/models/../etc", 400);
	parse_fail("/models/org/..", 400);
	parse_fail("/models/./x", 400);
	parse_fail("/models/..", 400);
	parse_fail("/models/gpt%32", 400);
	parse_fail("/models/caf\xc3\xa9", 400);
	parse_fail("/models/a b", 400);
	parse_fail("/models/a?b", 400);

	/* 255 characters is the longest id; 256 is refused (modelid.c has the rest). */
	memset(id, 'a', 255);
	id[255] = '\0';
	snprintf(path, sizeof(path), "/models/%s", id);
	ck_assert_str_eq(parse_ok(path).model, id);
	id[255] = 'a';
	id[256] = '\0';
	snprintf(path, sizeof(path), "/models/%s", id);
	e = parse_fail(path, 400);
	/* The message quotes a truncated id. */
	ck_assert_ptr_nonnull(strstr(e, "..."));
	ck_assert_uint_lt(strlen(e), 150);
	ck_assert_int_eq(ROUTE_MODEL_MAX, MODELID_MAX);
}
END_TEST

START_TEST(test_no_route_message)
{
	char		 path[2100];
	const char	*e;

	e = parse_fail("/nope", 404);
	ck_assert_str_eq(e, "no route for /nope");
	e = parse_fail("///nope", 404);
	ck_assert_str_eq(e, "no route for /nope");

	path[0] = '/';
	memset(path + 1, 'z', sizeof(path) - 2);
	path[sizeof(path) - 1] = '\0';
	e = parse_fail(path, 404);
	ck_assert_ptr_nonnull(strstr(e, "no route for /zzz"));
	ck_assert_ptr_nonnull(strstr(e, "..."));
	ck_assert_uint_lt(strlen(e), 150);
}
END_TEST

START_TEST(test_small_err_buffer)
{
	struct route	 r;
	char		 err[8];
	int		 status = 0;

	ck_assert_int_eq(route_parse("/nope/long/path", &r, &status, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(status, 404);
	ck_assert_str_eq(err, "no rout");
	ck_assert_int_eq(route_parse("/framework/", &r, &status, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(status, 400);
	ck_assert_str_eq(err, "missing");
	/* A NULL buffer is allowed. */
	ck_assert_int_eq(route_parse("/models/", &r, &status, NULL, 0), -1);
	ck_assert_int_eq(status, 400);
}
END_TEST

/* TGI-style routes of a dedicated endpoint: /endpoints/{name}[/generate...]. */
START_TEST(test_endpoints)
{
	struct route	 r;

	r = parse_ok("/endpoints/my-llm");
	ck_assert_int_eq(r.kind, ROUTE_ENDPOINT);
	ck_assert_str_eq(r.name, "my-llm");
	ck_assert_str_eq(r.sub, "");
	r = parse_ok("/endpoints/my-llm/generate");
	ck_assert_int_eq(r.kind, ROUTE_ENDPOINT);
	ck_assert_str_eq(r.sub, "generate");
	r = parse_ok("//endpoints/my-llm/generate_stream");
	ck_assert_int_eq(r.kind, ROUTE_ENDPOINT);
	ck_assert_str_eq(r.sub, "generate_stream");
	r = parse_ok("/endpoints/my-llm/info");
	ck_assert_int_eq(r.kind, ROUTE_ENDPOINT_INFO);
	ck_assert_str_eq(r.name, "my-llm");
	ck_assert(route_method_allowed(ROUTE_ENDPOINT, "POST"));
	ck_assert(!route_method_allowed(ROUTE_ENDPOINT, "GET"));
	ck_assert(route_method_allowed(ROUTE_ENDPOINT_INFO, "GET"));
	ck_assert(!route_method_allowed(ROUTE_ENDPOINT_INFO, "POST"));
	ck_assert_str_eq(route_allow_header(ROUTE_ENDPOINT), "POST");
	parse_fail("/endpoints/", 400);
	parse_fail("/endpoints/a b", 400);
	parse_fail("/endpoints/../x", 400);
	r = parse_ok("/endpoints/my-llm/health");
	ck_assert_int_eq(r.kind, ROUTE_ENDPOINT_INFO);
	ck_assert_str_eq(r.sub, "health");
	parse_fail("/endpoints/my-llm/healthz", 404);
	parse_fail("/endpoints/my-llm/generate/x", 404);
}
END_TEST

START_TEST(test_methods)
{
	static const enum route_kind post[] = { ROUTE_MODELS, ROUTE_PIPELINE,
	    ROUTE_V1_TASK };
	static const enum route_kind get[] = { ROUTE_STATUS, ROUTE_FRAMEWORK,
	    ROUTE_API_TASKS, ROUTE_V1_TASKS, ROUTE_HEALTHZ, ROUTE_ADMIN_USAGE };
	size_t	 i;



	for (i = 0; i < sizeof(post) / sizeof(post[0]); i++) {
		ck_assert(route_method_allowed(post[i], "POST"));
		ck_assert(!route_method_allowed(post[i], "GET"));
		ck_assert(!route_method_allowed(post[i], "HEAD"));
		ck_assert(!route_method_allowed(post[i], "PUT"));
		ck_assert(!route_method_allowed(post[i], "post"));
		ck_assert_str_eq(route_allow_header(post[i]), "POST");
	}
	for (i = 0; i < sizeof(get) / sizeof(get[0]); i++) {
		ck_assert(route_method_allowed(get[i], "GET"));
		ck_assert(route_method_allowed(get[i], "HEAD"));
		ck_assert(!route_method_allowed(get[i], "POST"));
		ck_assert(!route_method_allowed(get[i], "DELETE"));
		ck_assert(!route_method_allowed(get[i], NULL));
		ck_assert_str_eq(route_allow_header(get[i]), "GET, HEAD");
	}
	ck_assert(!route_method_allowed(ROUTE_NOT_FOUND, "GET"));
	ck_assert(!route_method_allowed(ROUTE_NOT_FOUND, "POST"));
	ck_assert_str_eq(route_allow_header(ROUTE_NOT_FOUND), "GET, HEAD");
	/* Whole method names only, not parts or lists of them. */
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, "GET, HEAD"));
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, "GET,"));
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, "HEA"));
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, "DELETEX"));
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, ""));
	ck_assert(!route_method_allowed(ROUTE_ADMIN_CACHE, " HEAD"));
	/* The cache can be cleared; usage counters cannot. */
	ck_assert(route_method_allowed(ROUTE_ADMIN_CACHE, "DELETE"));
	ck_assert_str_eq(route_allow_header(ROUTE_ADMIN_CACHE), "GET, HEAD, DELETE");
}
END_TEST

/* Where two rows could claim a path, the answer depends on which part is checked first. */
START_TEST(test_claims)
{
	/* A pipeline's task is checked before its model, and a missing model is a 400. */
	ck_assert_str_eq(parse_fail("/pipeline/no-such", 404), "unknown task 'no-such'");
	ck_assert_str_eq(parse_fail("/pipeline/no-such/x/y/z", 404),
	    "unknown task 'no-such'");
	ck_assert_str_eq(parse_fail("/pipeline//gpt2", 404), "unknown task ''");
	ck_assert_str_eq(parse_fail("/pipeline/feature-extraction", 400),
	    "missing model id");
	ck_assert_str_eq(parse_fail("/pipeline/", 404), "unknown task ''");
	ck_assert_str_eq(parse_fail("/pipeline", 404), "no route for /pipeline");
	ck_assert_str_eq(parse_fail("/models", 404), "no route for /models");
	ck_assert_str_eq(parse_fail("/status", 404), "no route for /status");
	/* /v1/ takes only paths of its own shape. */
	ck_assert_str_eq(parse_fail("/v1/", 404), "no route for /v1/");
	ck_assert_str_eq(parse_fail("/v1/no-such/x", 404), "no route for /v1/no-such/x");
	ck_assert_str_eq(parse_fail("/v1/tasks/", 404), "no route for /v1/tasks/");
	ck_assert_str_eq(parse_fail("/v1/tasksx", 404), "unknown task 'tasksx'");
	/* A framework name is the rest of the path. */
	ck_assert_str_eq(parse_fail("/framework/a/b", 400),
	    "invalid framework name 'a/b'");
	ck_assert_str_eq(parse_fail("/framework/a b/c", 400),
	    "invalid framework name 'a b/c'");
	ck_assert_str_eq(parse_fail("/framework", 404), "no route for /framework");
	/* An endpoint name is one component, checked before what follows it. */
	ck_assert_str_eq(parse_fail("/endpoints/", 400), "invalid endpoint name ''");
	ck_assert_str_eq(parse_fail("/endpoints//generate", 400),
	    "invalid endpoint name ''");
	ck_assert_str_eq(parse_fail("/endpoints/a b/foo", 400),
	    "invalid endpoint name 'a b'");
	ck_assert_str_eq(parse_fail("/endpoints/x/foo", 404),
	    "no route for /endpoints/x/foo");
	ck_assert_str_eq(parse_fail("/endpoints/x/", 404), "no route for /endpoints/x/");
	ck_assert_str_eq(parse_fail("/endpoints/x/generate_streams", 404),
	    "no route for /endpoints/x/generate_streams");
	ck_assert_str_eq(parse_fail("/endpoints/x/info/", 404),
	    "no route for /endpoints/x/info/");
	ck_assert_str_eq(parse_fail("/endpoints", 404), "no route for /endpoints");
	ck_assert_str_eq(parse_fail(
	    "/endpoints/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 400),
	    "invalid endpoint name "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
	/* 63 characters is the longest name. */
	ck_assert_str_eq(parse_ok("/endpoints/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/info").name,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ck_assert_str_eq(parse_fail(NULL, 404), "no route for ");
	ck_assert_str_eq(parse_fail("models/gpt2", 404), "no route for models/gpt2");
}
END_TEST

#define INFER	(ROUTE_F_INFERENCE | ROUTE_F_UPSTREAM)

/* What the gateway needs to know of each kind, indexed by kind. */
static const struct {
	enum route_kind		 kind;
	unsigned		 flags;
	enum route_handler	 handler;
} want_kinds[] = {
	{ ROUTE_NOT_FOUND,	0,				ROUTE_H_NONE },
	{ ROUTE_MODELS,		INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_PIPELINE,	INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_STATUS,		ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_FRAMEWORK,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_API_TASKS,	ROUTE_F_LOCAL,			ROUTE_H_LOCAL },
	{ ROUTE_V1_TASK,	INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_V1_TASKS,	ROUTE_F_LOCAL,			ROUTE_H_LOCAL },
	{ ROUTE_HEALTHZ,	ROUTE_F_LOCAL | ROUTE_F_OPEN,	ROUTE_H_LOCAL },
	{ ROUTE_ENDPOINT,	INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_ENDPOINT_INFO,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_ADMIN_CACHE,	ROUTE_F_ADMIN,			ROUTE_H_ADMIN_CACHE },
	{ ROUTE_ADMIN_USAGE,	ROUTE_F_ADMIN,			ROUTE_H_ADMIN_USAGE },
	{ ROUTE_OAI,		INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_OAI_MODELS,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_MODEL_INFO,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_HUB_MODEL,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_ROOT,		INFER,				ROUTE_H_UPSTREAM },
	{ ROUTE_ROOT_INFO,	ROUTE_F_UPSTREAM,		ROUTE_H_UPSTREAM },
	{ ROUTE_READYZ,		ROUTE_F_LOCAL | ROUTE_F_OPEN,	ROUTE_H_LOCAL },
	{ ROUTE_METRICS,	ROUTE_F_ADMIN,			ROUTE_H_METRICS },
};
#define NKINDS	(sizeof(want_kinds) / sizeof(want_kinds[0]))

START_TEST(test_flags_handlers)
{
	enum route_kind		 k;
	unsigned		 f;
	enum route_handler	 h;
	size_t			 i;

	ck_assert_uint_eq(NKINDS, ROUTE_METRICS + 1);
	for (i = 0; i < NKINDS; i++) {
		k = want_kinds[i].kind;
		ck_assert_uint_eq(k, i);
		f = route_flags(k);
		h = route_handler_of(k);
		ck_assert_msg(f == want_kinds[i].flags, "kind %zu: flags %#x", i, f);
		ck_assert_msg(h == want_kinds[i].handler, "kind %zu: handler %d", i,
		    (int)h);
		/* The flags and the handler say the same things. */
		if (f & ROUTE_F_INFERENCE)
			ck_assert(f & ROUTE_F_UPSTREAM);
		ck_assert_int_eq(!!(f & ROUTE_F_UPSTREAM), h == ROUTE_H_UPSTREAM);
		ck_assert_int_eq(!!(f & ROUTE_F_LOCAL), h == ROUTE_H_LOCAL);
		ck_assert_int_eq(!!(f & ROUTE_F_ADMIN), h == ROUTE_H_ADMIN_CACHE ||
		    h == ROUTE_H_ADMIN_USAGE || h == ROUTE_H_METRICS);
		ck_assert_int_eq(!!(f & ROUTE_F_OPEN), k == ROUTE_HEALTHZ || k == ROUTE_READYZ);
		ck_assert_int_eq(h == ROUTE_H_NONE, k == ROUTE_NOT_FOUND);
	}
	/* Past the enum: nothing. */
	ck_assert_uint_eq(route_flags((enum route_kind)NKINDS), 0);
	ck_assert_int_eq(route_handler_of((enum route_kind)NKINDS), ROUTE_H_NONE);
	ck_assert(!route_method_allowed((enum route_kind)NKINDS, "GET"));
}
END_TEST

/* 1 if method is one of the comma-separated methods. */
static int
in_methods(const char *methods, const char *method)
{
	char	 buf[64], *s, *tok, *save;

	snprintf(buf, sizeof(buf), "%s", methods);
	for (s = buf; (tok = strtok_r(s, ", ", &save)) != NULL; s = NULL)
		if (strcmp(tok, method) == 0)
			return (1);
	return (0);
}

/* Every row: reachable by a path of its pattern, and read back the same by kind. */
START_TEST(test_rows)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "DELETE",
	    "PUT", "PATCH", "OPTIONS", "CONNECT", "TRACE" };
	const struct route_spec	*row;
	struct route		 r;
	char			 path[256], tok[64];
	const char		*p, *close;
	size_t			 i, j, n, seen[NKINDS];

	memset(seen, 0, sizeof(seen));
	for (i = 0; (row = route_spec_at(i)) != NULL; i++) {
		ck_assert_uint_gt(row->kind, ROUTE_NOT_FOUND);
		ck_assert_uint_lt(row->kind, NKINDS);
		seen[row->kind]++;
		/* The methods the row lists are the ones route_method_allowed takes. */
		ck_assert_str_eq(route_allow_header(row->kind), row->methods);
		for (j = 0; j < sizeof(methods) / sizeof(methods[0]); j++)
			ck_assert_msg(route_method_allowed(row->kind, methods[j]) ==
			    in_methods(row->methods, methods[j]), "%s: %s",
			    row->pattern, methods[j]);
		for (p = row->methods; *p != '\0'; p += strspn(p, ", ")) {
			n = strcspn(p, ",");
			ck_assert_uint_lt(n, sizeof(tok));
			memcpy(tok, p, n);
			tok[n] = '\0';
			ck_assert_msg(route_method_allowed(row->kind, tok), "%s: %s",
			    row->pattern, tok);
			p += n;
		}
		ck_assert_uint_eq(route_flags(row->kind), row->flags);
		ck_assert_int_eq(route_handler_of(row->kind), row->handler);
		ck_assert_int_eq(row->kind == ROUTE_ENDPOINT ||
		    row->kind == ROUTE_ENDPOINT_INFO || row->kind == ROUTE_OAI ||
		    row->kind == ROUTE_OAI_MODELS || row->kind == ROUTE_MODEL_INFO ||
		    row->kind == ROUTE_ROOT_INFO, row->sub != NULL);
		ck_assert_int_eq(strstr(row->pattern, "{name") != NULL,
		    row->noun != NULL);

		/* A path of the pattern's shape parses to this row. */
		n = 0;
		for (p = row->pattern; *p != '\0'; p++) {
			if (*p != '{') {
				path[n++] = *p;
				continue;
			}
			close = strchr(p, '}');
			ck_assert_ptr_nonnull(close);
			if (strncmp(p, "{model}", 7) == 0)
				n += (size_t)snprintf(path + n, sizeof(path) - n, "org/m");
			else if (strncmp(p, "{task}", 6) == 0)
				n += (size_t)snprintf(path + n, sizeof(path) - n,
				    "text-classification");
			else
				n += (size_t)snprintf(path + n, sizeof(path) - n, "n-1");
			p = close;
		}
		path[n] = '\0';
		r = parse_ok(path);
		ck_assert_msg(r.kind == row->kind, "%s: kind %d", path, (int)r.kind);
		ck_assert_str_eq(r.sub, row->sub != NULL ? row->sub : "");
		if (strstr(row->pattern, "{model}") != NULL)
			ck_assert_str_eq(r.model, "org/m");
		if (strstr(row->pattern, "{task}") != NULL)
			ck_assert_str_eq(r.task, "text-classification");
		if (strstr(row->pattern, "{name") != NULL)
			ck_assert_str_eq(r.name, "n-1");
	}
	ck_assert_uint_eq(i, 37);
	ck_assert_uint_eq(seen[ROUTE_NOT_FOUND], 0);
	for (j = 1; j < NKINDS; j++)
		ck_assert_msg(seen[j] >= 1, "kind %zu has no row", j);
	ck_assert_uint_eq(seen[ROUTE_ENDPOINT], 3);
	ck_assert_ptr_null(route_spec_at(i + 1));
}
END_TEST

/* The OpenAI API, under its three prefixes; the model-first pipeline order. */
START_TEST(test_openai)
{
	static const char *const words[] = { "chat", "completions", "embeddings", "models" };
	struct route	 r;
	size_t		 i;

	r = parse_ok("/v1/chat/completions");
	ck_assert_int_eq(r.kind, ROUTE_OAI);
	ck_assert_str_eq(r.sub, "chat/completions");
	ck_assert_str_eq(r.model, "");
	r = parse_ok("/v1/embeddings");
	ck_assert_int_eq(r.kind, ROUTE_OAI);
	ck_assert_str_eq(r.sub, "embeddings");
	r = parse_ok("/v1/models");
	ck_assert_int_eq(r.kind, ROUTE_OAI_MODELS);
	ck_assert_str_eq(r.sub, "models");
	/* The openai SDK %2F-encodes the id's slash; the transport decodes it. */
	r = parse_ok("/v1/models/meta-llama/Llama-3.1-8B-Instruct");
	ck_assert_int_eq(r.kind, ROUTE_OAI_MODELS);
	ck_assert_str_eq(r.sub, "model");
	ck_assert_str_eq(r.model, "meta-llama/Llama-3.1-8B-Instruct");
	r = parse_ok("/models/meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions");
	ck_assert_int_eq(r.kind, ROUTE_OAI);
	ck_assert_str_eq(r.model, "meta-llama/Llama-3.1-8B-Instruct");
	ck_assert_str_eq(r.sub, "chat/completions");
	r = parse_ok("/models/gpt2/v1/completions");
	ck_assert_int_eq(r.kind, ROUTE_OAI);
	ck_assert_str_eq(r.model, "gpt2");
	r = parse_ok("/endpoints/my-llm/v1/chat/completions");
	ck_assert_int_eq(r.kind, ROUTE_OAI);
	ck_assert_str_eq(r.name, "my-llm");
	ck_assert_str_eq(r.model, "");
	r = parse_ok("/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/"
	    "feature-extraction");
	ck_assert_int_eq(r.kind, ROUTE_PIPELINE);
	ck_assert_str_eq(r.model, "sentence-transformers/all-MiniLM-L6-v2");
	ck_assert_str_eq(r.task, "feature-extraction");
	ck_assert_str_eq(parse_fail("/models/org/m/pipeline/nope", 404),
	    "unknown task 'nope'");
	r = parse_ok("/api/models/gpt2");
	ck_assert_int_eq(r.kind, ROUTE_HUB_MODEL);
	ck_assert_str_eq(r.model, "gpt2");
	/* None of the OpenAI words may ever become a task: /v1/{task} would shadow
	   them or be shadowed. */
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		ck_assert_msg(task_find(words[i]) == NULL, "%s is a task", words[i]);
}
END_TEST

/* The method picks between rows whose patterns both fit. */
START_TEST(test_resolve_method)
{
	struct route	 r;
	int		 status;
	char		 err[256];

	ck_assert_int_eq(route_resolve("GET", "/models/gpt2/info", &r, &status, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_MODEL_INFO);
	ck_assert_str_eq(r.model, "gpt2");
	/* A model called org/info. */
	ck_assert_int_eq(route_resolve("POST", "/models/org/info", &r, &status, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert_str_eq(r.model, "org/info");
	ck_assert_int_eq(route_resolve("GET", "/models/org/info", &r, &status, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_MODEL_INFO);
	ck_assert_str_eq(r.model, "org");
	/* No row takes the method: the first that fits, for the 405. */
	ck_assert_int_eq(route_resolve("DELETE", "/models/org/m", &r, &status, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert(!route_method_allowed(r.kind, "DELETE"));
	ck_assert_int_eq(route_resolve("GET", "/nowhere", &r, &status, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(status, 404);
	ck_assert_int_eq(route_resolve("POST", "/models/a b", &r, &status, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(status, 400);
}
END_TEST

/* The gateway's bare URL: the root model's routes, or refused without one. */
START_TEST(test_root)
{
	struct route	 r;
	int		 status;
	char		 err[256];

	ck_assert_int_eq(route_resolve("POST", "/", &r, &status, err, sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_ROOT);
	route_at_root(&r, NULL);
	ck_assert_int_eq(r.kind, ROUTE_ROOT);
	route_at_root(&r, "org/m");
	ck_assert_int_eq(r.kind, ROUTE_MODELS);
	ck_assert_str_eq(r.model, "org/m");
	ck_assert_int_eq(route_resolve("GET", "/info", &r, &status, err, sizeof(err)), 0);
	ck_assert_int_eq(r.kind, ROUTE_ROOT_INFO);
	route_at_root(&r, NULL);
	ck_assert_int_eq(r.kind, ROUTE_ROOT_INFO);
	route_at_root(&r, "gpt2");
	ck_assert_int_eq(r.kind, ROUTE_MODEL_INFO);
	ck_assert_str_eq(r.sub, "info");
	ck_assert_str_eq(r.model, "gpt2");
	ck_assert_int_eq(route_resolve("GET", "/health", &r, &status, err, sizeof(err)), 0);
	route_at_root(&r, NULL);
	ck_assert_int_eq(r.kind, ROUTE_HEALTHZ);
	/* GET / is no call: 405 with Allow: POST. */
	ck_assert_int_eq(route_resolve("GET", "/", &r, &status, err, sizeof(err)), 0);
	ck_assert(!route_method_allowed(r.kind, "GET"));
	/* Other routes are left alone. */
	ck_assert_int_eq(route_resolve("POST", "/models/a/b", &r, &status, err,
	    sizeof(err)), 0);
	route_at_root(&r, "org/m");
	ck_assert_str_eq(r.model, "a/b");
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_models);
	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_status_framework);
	tcase_add_test(tc, test_fixed_routes);
	tcase_add_test(tc, test_v1);
	tcase_add_test(tc, test_slash_collapse);
	tcase_add_test(tc, test_model_id_edges);
	tcase_add_test(tc, test_no_route_message);
	tcase_add_test(tc, test_small_err_buffer);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_endpoints);
	tcase_add_test(tc, test_claims);
	tcase_add_test(tc, test_flags_handlers);
	tcase_add_test(tc, test_rows);
	tcase_add_test(tc, test_openai);
	tcase_add_test(tc, test_resolve_method);
	tcase_add_test(tc, test_root);
	suite_add_tcase(s, tc);
	return (s);
}
