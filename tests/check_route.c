/* Unit tests for route.c. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "route.h"

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
	parse_fail("/", 404);
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
	parse_fail("//", 404);
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

	/* 255 characters is the longest id; 256 is refused. */
	memset(id, 'a', 255);
	id[255] = '\0';
	ck_assert(route_valid_model_id(id));
	snprintf(path, sizeof(path), "/models/%s", id);
	ck_assert_str_eq(parse_ok(path).model, id);
	id[255] = 'a';
	id[256] = '\0';
	ck_assert(!route_valid_model_id(id));
	snprintf(path, sizeof(path), "/models/%s", id);
	e = parse_fail(path, 400);
	/* The message quotes a truncated id. */
	ck_assert_ptr_nonnull(strstr(e, "..."));
	ck_assert_uint_lt(strlen(e), 150);

	ck_assert(route_valid_model_id("a"));
	ck_assert(route_valid_model_id("a/b"));
	ck_assert(route_valid_model_id("...a/b.."));
	ck_assert(!route_valid_model_id(""));
	ck_assert(!route_valid_model_id(NULL));
	ck_assert(!route_valid_model_id("/a"));
	ck_assert(!route_valid_model_id("a/"));
	ck_assert(!route_valid_model_id("/"));
	ck_assert(!route_valid_model_id("."));
	ck_assert(!route_valid_model_id("a/."));
	ck_assert(!route_valid_model_id("a\\b"));
	ck_assert(!route_valid_model_id("a:b"));
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
	parse_fail("/endpoints/my-llm/health", 404);
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
	/* The cache can be cleared; usage counters cannot. */
	ck_assert(route_method_allowed(ROUTE_ADMIN_CACHE, "DELETE"));
	ck_assert_str_eq(route_allow_header(ROUTE_ADMIN_CACHE), "GET, HEAD, DELETE");
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
	suite_add_tcase(s, tc);
	return (s);
}
