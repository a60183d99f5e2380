/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The operator's routes. Their answers are built with cJSON. A deletion, and the
 * usage of this thread not yet committed, wait for the cache's writer: on a helper
 * thread, so that the loop never does; the answer is sent back on the loop, to the
 * request if it is still there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "admin.h"
#include "buf.h"
#include "cache.h"
#include "cachedb.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "reply.h"
#include "req.h"
#include "request.h"
#include "upstream.h"
#include "usage.h"

/* One request waiting for a helper thread. */
struct admin_wait {
	uint64_t	 serial;
	char		*model;		/* DELETE /admin/cache?model= */
	int		 rc;
};

static void
admin_wait_free(void *arg)
{
	struct admin_wait	*w = arg;

	free(w->model);
	free(w);
}

/* The request w waits for, if it still does. */
static struct gw_req *
admin_waiter(const struct admin_wait *w)
{
	struct gw_req	*req = req_find(w->serial);

	/* Shutdown may have answered it already (gw_cancel_all). */
	if (req == NULL || req->client_gone || req->tr.replied)
		return (NULL);
	return (req);
}

/* Starts work for req on a helper thread; done answers it. 1, or 0 (answered). */
static int
admin_offload(struct gw_req *req, struct admin_wait *w, void (*work)(void *),
    void (*done)(void *))
{
	w->serial = req->serial;
	if (loop_offload(work, done, admin_wait_free, w) == -1) {
		admin_wait_free(w);
		reply_error(req, 500, "internal", "cannot start a helper thread");
		return (0);
	}
	return (1);
}

static void
admin_delete_work(void *arg)
{
	struct admin_wait	*w = arg;

	w->rc = cache_delete(w->model);
}

static void
admin_deleted(void *arg)
{
	struct admin_wait	*w = arg;
	struct gw_req		*req = admin_waiter(w);
	cJSON			*o;

	if (req != NULL) {
		if (w->rc == -1)
			reply_error(req, 500, "internal", "the cache could not be cleared");
		else {
			if ((o = cJSON_CreateObject()) != NULL) {
				cJSON_AddBoolToObject(o, "deleted", 1);
				if (w->model != NULL)
					cJSON_AddStringToObject(o, "model", w->model);
				else
					cJSON_AddNullToObject(o, "model");
			}
			reply_json(req, 200, o);
			cJSON_Delete(o);
		}
	}
	admin_wait_free(w);
}

int
admin_cache(struct gw_req *req)
{
	struct cache_stats	 st;
	struct admin_wait	*w;
	uint64_t		 hits, misses;
	const char		*model = req->tr.head.q_model;
	cJSON			*o;

	if (!cache_is_on()) {
		reply_error(req, 503, "unavailable", "the cache is off");
		return (0);
	}
	if (strcmp(req->tr.head.method, "DELETE") == 0) {
		if ((w = calloc(1, sizeof(*w))) == NULL ||
		    (model != NULL && (w->model = strdup(model)) == NULL)) {
			free(w);
			reply_error(req, 500, "internal", "out of memory");
			return (0);
		}
		return (admin_offload(req, w, admin_delete_work, admin_deleted));
	}
	(void)cache_read_stats(&st, &hits, &misses);
	if ((o = cJSON_CreateObject()) != NULL) {
		cJSON_AddNumberToObject(o, "entries", (double)st.entries);
		cJSON_AddNumberToObject(o, "bytes", (double)st.bytes);
		cJSON_AddNumberToObject(o, "hits", (double)hits);
		cJSON_AddNumberToObject(o, "misses", (double)misses);
		cJSON_AddNumberToObject(o, "hit_ratio", hits + misses > 0 ?
		    (double)((hits * 10000 + (hits + misses) / 2) / (hits + misses)) / 10000 : 0.0);
	}
	reply_json(req, 200, o);
	cJSON_Delete(o);
	return (0);
}

/* Reads the usage table and replies (the query arguments were checked). */
static void
admin_usage_answer(struct gw_req *req)
{
	const struct http_head	*h = &req->tr.head;
	char			*json;

	if (usage_query(h->q_from, h->q_to, h->q_client, &json) == -1) {
		reply_error(req, 500, "internal", "the usage database cannot be read");
		return;
	}
	reply_take(req, 200, "application/json", json, strlen(json));
}

static void
admin_usage_work(void *arg)
{
	struct admin_wait	*w = arg;

	/* A failed batch is logged by the writer; the answer goes out anyway. */
	w->rc = usage_wait_written();
}

static void
admin_usage_written(void *arg)
{
	struct admin_wait	*w = arg;
	struct gw_req		*req = admin_waiter(w);

	if (req != NULL)
		admin_usage_answer(req);
	admin_wait_free(w);
}

int
admin_usage(struct gw_req *req)
{
	static const char *const	 names[] = { "from", "to" };
	const struct http_head		*h = &req->tr.head;
	const char			*v[2] = { h->q_from, h->q_to };
	struct admin_wait		*w;
	size_t				 i;

	if (!usage_is_on()) {
		reply_error(req, 503, "unavailable", "usage accounting is off");
		return (0);
	}
	for (i = 0; i < 2; i++)
		if (v[i] != NULL && *v[i] != '\0' && !usage_valid_day(v[i])) {
			reply_error(req, 400, "bad_request",
			    "%s: not a date YYYY-MM-DD", names[i]);
			return (0);
		}
	if (v[0] != NULL && *v[0] != '\0' && v[1] != NULL && *v[1] != '\0' &&
	    strcmp(v[0], v[1]) > 0) {
		reply_error(req, 400, "bad_request", "from is after to");
		return (0);
	}
	/*
	 * This thread's own latest counts are committed first, without blocking the
	 * loop. Other threads' counts are at most USAGE_FLUSH_MS (and one writer batch)
	 * old.
	 */
	if (usage_flush_now() && (w = calloc(1, sizeof(*w))) != NULL)
		return (admin_offload(req, w, admin_usage_work, admin_usage_written));
	admin_usage_answer(req);
	return (0);
}

/* The version in libcurl's version line ("libcurl/7.88.1 OpenSSL/..."). */
static void
admin_curl_version(char *buf, size_t len)
{
	const char	*v = up_lib_version(), *p;

	p = strncmp(v, "libcurl/", 8) == 0 ? v + 8 : v;
	snprintf(buf, len, "%.*s", (int)strcspn(p, " "), p);
}

void
admin_metrics(struct gw_req *req)
{
	struct metrics_build	 b;
	struct cache_stats	 st;
	uint64_t		 hits, misses;
	char			 curl[64], *text;
	struct buf		 out = { NULL, 0, 0 };
	size_t			 len;

	admin_curl_version(curl, sizeof(curl));
	b.version = PACKAGE_VERSION;
	b.libcurl = curl;
	b.libmicrohttpd = http_lib_version();
	b.sqlite = cachedb_lib_version();
	if ((text = metrics_render(&b)) == NULL || buf_append_str(&out, text) == -1)
		goto oom;
	free(text);
	text = NULL;
	/* The cache's size, as /admin/cache reads it (this thread's reader). */
	if (cache_is_on() && cache_read_stats(&st, &hits, &misses) == 0 &&
	    buf_printf(&out, "# HELP hfgate_cache_entries Entries in the cache file.\n"
	    "# TYPE hfgate_cache_entries gauge\nhfgate_cache_entries %lld\n"
	    "# HELP hfgate_cache_bytes Bytes of the entries in the cache file.\n"
	    "# TYPE hfgate_cache_bytes gauge\nhfgate_cache_bytes %lld\n",
	    (long long)st.entries, (long long)st.bytes) == -1)
		goto oom;
	len = out.len;
	reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_steal(&out), len);
	return;
oom:
	free(text);
	buf_free(&out);
	reply_error(req, 500, "internal", "out of memory");
}
