/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The gateway's answers: the headers common to every answer, then the transport
 * (docs/api.md lists them). Reads the request's parts, writes only reply_bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "reply.h"
#include "request.h"
#include "route.h"

#define REPLY_EXPOSE	"x-compute-type, x-compute-time, x-compute-characters, " \
			"x-compute-images, x-compute-audio-length, x-sha, x-request-id, " \
			"x-hfgate-model, x-hfgate-attempts, x-cache, retry-after, " \
			"x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset"

/* 1 when path is /name or under /name/, with any number of leading slashes (route.c
   collapses them). */
static int
reply_under(const char *path, const char *name)
{
	size_t	len = strlen(name);

	while (*path == '/')
		path++;
	return (strncmp(path, name, len) == 0 && (path[len] == '\0' || path[len] == '/'));
}

const char *
reply_cors_origin(const struct gw_req *req)
{
	const char	*path = req->tr.head.path;

	/* The operator's routes answer no web page, whatever cors_origin says. */
	if ((route_flags(req->route.kind) & ROUTE_F_ADMIN) != 0 ||
	    (path != NULL && (reply_under(path, "admin") || reply_under(path, "metrics"))))
		return (NULL);
	return (cfg_cors_origin(req->cfg, req->tr.head.origin));
}

static void
reply_headers(struct gw_req *req, struct http_resp *resp)
{
	static const char *const cache[] = {
		[CACHE_STATE_BYPASS] = "BYPASS", [CACHE_STATE_MISS] = "MISS",
		[CACHE_STATE_HIT] = "HIT", [CACHE_STATE_STALE] = "STALE"
	};
	const struct config	*cfg = req->cfg;
	const char		*origin;
	char			 n[24];

	http_resp_header(resp, "X-Request-Id", req->request_id);
	if ((origin = reply_cors_origin(req)) != NULL) {
		http_resp_header(resp, "Access-Control-Allow-Origin", origin);
		http_resp_header(resp, "Access-Control-Expose-Headers", REPLY_EXPOSE);
	}
	/* The answer depends on the request's Origin unless every origin gets "*". */
	if (cfg->ncors_origins > 0 && cfg_cors_origin(cfg, NULL) == NULL)
		http_resp_header(resp, "Vary", "Origin");
	if (req->res.model[0] != '\0')
		http_resp_header(resp, "X-Hfgate-Model", req->res.model);
	if (req->call.attempts > 0) {
		snprintf(n, sizeof(n), "%u", req->call.attempts);
		http_resp_header(resp, "X-Hfgate-Attempts", n);
	}
	if (req->cache.state != CACHE_STATE_NONE) {
		http_resp_header(resp, "X-Cache", cache[req->cache.state]);
		if (req->cache.key_hex[0] != '\0')
			http_resp_header(resp, "X-Cache-Key", req->cache.key_hex);
		if (req->cache.state == CACHE_STATE_HIT ||
		    req->cache.state == CACHE_STATE_STALE) {
			snprintf(n, sizeof(n), "%lld", (long long)req->cache.age);
			http_resp_header(resp, "Age", n);
		}
	}
	if (req->who.rl.limit > 0) {
		snprintf(n, sizeof(n), "%u", req->who.rl.limit);
		http_resp_header(resp, "X-RateLimit-Limit", n);
		snprintf(n, sizeof(n), "%u", req->who.rl.remaining);
		http_resp_header(resp, "X-RateLimit-Remaining", n);
		snprintf(n, sizeof(n), "%u", req->who.rl.reset);
		http_resp_header(resp, "X-RateLimit-Reset", n);
	}
}

void
reply_send(struct gw_req *req, unsigned status, struct http_resp *resp)
{
	reply_headers(req, resp);
	http_reply(&req->tr, status, resp);
}

void
reply_stream(struct gw_req *req, unsigned status, struct http_resp *resp)
{
	reply_headers(req, resp);
	http_reply_stream(&req->tr, status, resp);
}

struct http_resp *
reply_body(struct gw_req *req, char *data, size_t len, const char *ctype)
{
	struct http_resp	*resp;

	if (data == NULL && (data = strdup("")) == NULL)
		return (NULL);
	if ((resp = http_resp_take(data, len)) == NULL)
		return (NULL);
	if (ctype != NULL && *ctype != '\0')
		http_resp_header(resp, "Content-Type", ctype);
	req->reply_bytes = len;
	return (resp);
}

void
reply_take(struct gw_req *req, unsigned status, const char *ctype, char *data,
    size_t len)
{
	reply_send(req, status, reply_body(req, data, len, ctype));
}

void
reply_copy(struct gw_req *req, unsigned status, const char *ctype, const char *data,
    size_t len)
{
	char	*copy;

	if ((copy = malloc(len + 1)) == NULL) {
		reply_send(req, status, NULL);
		return;
	}
	memcpy(copy, data, len);
	reply_take(req, status, ctype, copy, len);
}

void
reply_json(struct gw_req *req, unsigned status, const cJSON *root)
{
	char	*text = root != NULL ? cJSON_PrintUnformatted(root) : NULL;

	if (text == NULL) {
		reply_error(req, 500, "internal", "out of memory");
		return;
	}
	reply_take(req, status, "application/json", text, strlen(text));
}

static struct http_resp *
reply_error_vresp(struct gw_req *req, const char *type, const char *fmt, va_list ap)
{
	char	 msg[1024], path[1024], text[2048];
	char	*body;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* The path and the message may hold what the client sent. */
	if (log_verbose())
		log_debug("%s %s: %s: %s", req->tr.head.method,
		    log_escape(path, sizeof(path), req->tr.head.path), type,
		    log_escape(text, sizeof(text), msg));
	if ((body = json_error_body(msg, type)) == NULL)
		return (NULL);
	return (reply_body(req, body, strlen(body), "application/json"));
}

struct http_resp *
reply_error_resp(struct gw_req *req, const char *type, const char *fmt, ...)
{
	struct http_resp	*resp;
	va_list			 ap;

	va_start(ap, fmt);
	resp = reply_error_vresp(req, type, fmt, ap);
	va_end(ap);
	return (resp);
}

void
reply_error(struct gw_req *req, unsigned status, const char *type, const char *fmt, ...)
{
	struct http_resp	*resp;
	va_list			 ap;

	va_start(ap, fmt);
	resp = reply_error_vresp(req, type, fmt, ap);
	va_end(ap);
	reply_send(req, status, resp);
}
