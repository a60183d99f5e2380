/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * reply.c: the gateway's answers. Adds the headers every answer of hfgate carries
 * (request id, CORS, model, attempts, X-Cache, X-RateLimit-*) and hands the response to
 * the transport. JSON error bodies are built with cJSON.
 */
#ifndef HFGATE_REPLY_H
#define HFGATE_REPLY_H

#include <stddef.h>

#include <cJSON.h>

#include "http.h"
#include "request.h"

/*
 * The Access-Control-Allow-Origin of req's answers (docs/api.md, "CORS"), NULL for
 * none: "*" or the request's Origin as cors_origin allows, and never on the admin
 * routes and /metrics. Borrowed.
 */
const char *reply_cors_origin(const struct gw_req *);
/* Sends resp (taken; NULL closes the connection) with status and the gateway's
   headers. reply_stream: a stream response (stream.c). */
void	 reply_send(struct gw_req *, unsigned status, struct http_resp *);
void	 reply_stream(struct gw_req *, unsigned status, struct http_resp *);
/* A response with a body of len bytes (data taken) and Content-Type ctype (NULL or
   "": none), counted as the reply's bytes; headers may be added before reply_send. */
struct http_resp *reply_body(struct gw_req *, char *data, size_t len, const char *ctype);
/* Replies with data (taken) / a copy of data. */
void	 reply_take(struct gw_req *, unsigned status, const char *ctype, char *data,
	    size_t len);
void	 reply_copy(struct gw_req *, unsigned status, const char *ctype,
	    const char *data, size_t len);
/* Replies with the JSON of root (borrowed), as application/json. */
void	 reply_json(struct gw_req *, unsigned status, const cJSON *root);
/* A JSON error {"error": msg, "error_type": type}, to add headers to before
   reply_send (NULL when out of memory). */
struct http_resp *reply_error_resp(struct gw_req *, const char *type, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
/* Replies with a JSON error {"error": msg, "error_type": type}. */
void	 reply_error(struct gw_req *, unsigned status, const char *type,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
