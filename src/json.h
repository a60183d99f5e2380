/* SPDX-License-Identifier: BSD-2-Clause */
/* json.c: small JSON helpers on top of cJSON. */
#ifndef HFGATE_JSON_H
#define HFGATE_JSON_H

#include <stddef.h>

#include "buf.h"

struct cJSON;

/* {"error": msg, "error_type": type}, properly escaped; malloc'd, NULL on failure. */
char	*json_error_body(const char *msg, const char *type);
/* The OpenAI API's {"error": {"message": msg, "type": type}}; malloc'd, NULL on
   failure. */
char	*json_oai_error_body(const char *msg, const char *type);
/* Appends s as a JSON string (quoted and escaped by cJSON) to out. 0 or -1. */
int	 json_quote(struct buf *out, const char *s);
/* 1 if the first non-whitespace byte of body is '{' or '['; cheap pre-check. */
int	 json_looks_like(const char *body, size_t len);
/* Value of a boolean-ish field "stream" at the top level of a JSON object body:
   1 if true, 0 otherwise (absent, false, not JSON). */
int	 json_body_stream(const char *body, size_t len);
/* 1 when the JSON object body has "options": {name: false} (huggingface.js and the
   legacy InferenceApi put wait_for_model and use_cache there), else 0. */
int	 json_option_false(const char *body, size_t len, const char *name);
/* body parsed, when it is a JSON object: the caller frees it with cJSON_Delete;
   else NULL with err "the body is not a JSON object". */
struct cJSON *json_parse_object(const char *body, size_t len, char *err, size_t errlen);
/* Appends o unformatted to out (o stays the caller's). 0 or -1. */
int	 json_append(struct buf *out, const struct cJSON *o);

/* cJSON's version ("1.7.15"), static. */
const char *json_lib_version(void);

#endif
