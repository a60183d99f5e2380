/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OpenAI request bodies. They are forwarded byte for byte; only a missing or
 * placeholder model is filled in (huggingface_hub sends "dummy" when given a URL,
 * @huggingface/inference the gateway's URL itself), in place, so that nothing else
 * the client sent changes.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "buf.h"
#include "json.h"
#include "modelid.h"
#include "oai.h"

static int
oai_set(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (v != NULL && !cJSON_IsNull(v));
}

/* The model field: "org/name", "org/name:provider", "org/name:fastest". */
static int
oai_model(const char *m, struct oai_body *o, char *err, size_t errlen)
{
	const char	*colon;
	size_t		 len;

	if (*m == '\0' || strcmp(m, "dummy") == 0 || strncmp(m, "http://", 7) == 0 ||
	    strncmp(m, "https://", 8) == 0)
		return (0);
	colon = strchr(m, ':');
	len = colon != NULL ? (size_t)(colon - m) : strlen(m);
	if (len >= sizeof(o->model) ||
	    (colon != NULL && strlen(colon) >= sizeof(o->suffix))) {
		snprintf(err, errlen, "model: too long");
		return (-1);
	}
	memcpy(o->model, m, len);
	o->model[len] = '\0';
	if (!modelid_valid(o->model)) {
		snprintf(err, errlen, "model: invalid model id '%.80s'", o->model);
		return (-1);
	}
	snprintf(o->suffix, sizeof(o->suffix), "%s", colon != NULL ? colon : "");
	o->named = 1;
	return (0);
}

int
oai_read(const char *body, size_t len, struct oai_body *o, char *err, size_t errlen)
{
	cJSON		*root;
	const cJSON	*m, *t, *so, *n;
	int		 rc = -1, seeded;

	memset(o, 0, sizeof(*o));
	if ((root = cJSON_ParseWithLength(body, len)) == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "the body is not a JSON object");
		goto done;
	}
	m = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (m != NULL && !cJSON_IsNull(m)) {
		if (!cJSON_IsString(m)) {
			snprintf(err, errlen, "model: not a string");
			goto done;
		}
		if (oai_model(m->valuestring, o, err, errlen) == -1)
			goto done;
	}
	o->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
	so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
	o->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so,
	    "include_usage"));
	/* Sampling is the API's default (temperature 1): only temperature 0 or a seed
	   make an answer worth keeping, and several choices only with a seed. */
	seeded = oai_set(root, "seed");
	t = cJSON_GetObjectItemCaseSensitive(root, "temperature");
	n = cJSON_GetObjectItemCaseSensitive(root, "n");
	o->deterministic = (seeded || (cJSON_IsNumber(t) && t->valuedouble == 0)) &&
	    (seeded || n == NULL || cJSON_IsNull(n) ||
	    (cJSON_IsNumber(n) && n->valuedouble <= 1));
	rc = 0;
done:
	cJSON_Delete(root);
	return (rc);
}

/* The end of the JSON string starting at s[i] (a quote): the index after its closing
   quote, or 0. */
static size_t
oai_skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return (i + 1);
	}
	return (0);
}

/* The end of the JSON value starting at s[i], or 0. */
static size_t
oai_skip_value(const char *s, size_t len, size_t i)
{
	int	depth = 0;

	if (i < len && s[i] == '"')
		return (oai_skip_string(s, len, i));
	for (; i < len; i++) {
		switch (s[i]) {
		case '"':
			if ((i = oai_skip_string(s, len, i)) == 0)
				return (0);
			i--;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return (i);
			if (--depth == 0)
				return (i + 1);
			break;
		case ',':
			if (depth == 0)
				return (i);
			break;
		default:
			break;
		}
	}
	return (depth == 0 ? i : 0);
}

static size_t
oai_blank(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return (i);
}

int
oai_member(const char *body, size_t len, const char *key, size_t *vstart, size_t *vend)
{
	size_t	 i, kend, klen = strlen(key), vs, ve;
	int	 found;

	if ((i = oai_blank(body, len, 0)) >= len || body[i] != '{')
		return (-1);
	*vstart = *vend = ++i;
	/* The members: "key" : value , ... */
	for (;;) {
		i = oai_blank(body, len, i);
		if (i >= len || body[i] != '"')
			return (i < len && body[i] == '}' ? 0 : -1);
		if ((kend = oai_skip_string(body, len, i)) == 0)
			return (-1);
		found = kend - i == klen + 2 && memcmp(body + i + 1, key, klen) == 0;
		i = oai_blank(body, len, kend);
		if (i >= len || body[i] != ':')
			return (-1);
		vs = i = oai_blank(body, len, i + 1);
		if ((ve = i = oai_skip_value(body, len, i)) == 0 || ve == vs)
			return (-1);
		if (found) {
			*vstart = vs;
			*vend = ve;
			return (1);
		}
		i = oai_blank(body, len, i);
		if (i < len && body[i] == ',')
			i++;
	}
}

/* out gets body with key's value replaced by value (JSON text), or key added first. */
static int
oai_set_member(const char *body, size_t len, const char *key, const char *value,
    struct buf *out)
{
	size_t	 vs, ve, i;
	int	 r;

	buf_reset(out);
	if ((r = oai_member(body, len, key, &vs, &ve)) == -1)
		return (-1);
	if (r == 1)
		return (buf_append(out, body, vs) == -1 || buf_append_str(out, value) == -1 ||
		    buf_append(out, body + ve, len - ve) == -1 ? -1 : 0);
	i = oai_blank(body, len, vs);
	return (buf_append(out, body, vs) == -1 || buf_append_str(out, "\"") == -1 ||
	    buf_append_str(out, key) == -1 || buf_append_str(out, "\":") == -1 ||
	    buf_append_str(out, value) == -1 ||
	    (i < len && body[i] != '}' && buf_append_str(out, ",") == -1) ||
	    buf_append(out, body + vs, len - vs) == -1 ? -1 : 0);
}

int
oai_set_model(const char *body, size_t len, const char *model, struct buf *out)
{
	struct buf	 quoted = { NULL, 0, 0 };
	int		 rc;

	rc = json_quote(&quoted, model) == -1 ? -1 :
	    oai_set_member(body, len, "model", quoted.data, out);
	buf_free(&quoted);
	return (rc);
}

int
oai_ask_usage(const char *body, size_t len, struct buf *out)
{
	size_t	 vs, ve;
	int	 r;

	/* A client's own stream_options stay as they are. */
	if ((r = oai_member(body, len, "stream_options", &vs, &ve)) != 0)
		return (r == 1 ? 0 : -1);
	if (oai_set_member(body, len, "stream_options", "{\"include_usage\":true}",
	    out) == -1)
		return (-1);
	return (1);
}

int
oai_usage_chunk(const char *line, size_t len)
{
	const char	*p, *end = line + len;

	if (len < 5 || memcmp(line, "data:", 5) != 0 ||
	    memmem(line, len, "\"usage\"", 7) == NULL ||
	    (p = memmem(line, len, "\"choices\"", 9)) == NULL)
		return (0);
	for (p += 9; p < end && (*p == ' ' || *p == ':' || *p == '\t'); p++)
		;
	if (p >= end || *p++ != '[')
		return (0);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return (p < end && *p == ']');
}

/* usage.<name> of root: a count, 0 when absent (a count past 2^53 is no count, and
   would not convert). */
static unsigned long long
oai_usage_count(const cJSON *root, const char *name)
{
	const cJSON	*n = cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(root, "usage"), name);

	return (cJSON_IsNumber(n) && n->valuedouble > 0 && n->valuedouble < 0x1p53 ?
	    (unsigned long long)n->valuedouble : 0);
}

unsigned long long
oai_completion_tokens(const char *body, size_t len, unsigned long long *prompt)
{
	cJSON			*root;
	unsigned long long	 tokens;

	*prompt = 0;
	if (body == NULL || memmem(body, len, "\"usage\"", 7) == NULL ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);
	tokens = oai_usage_count(root, "completion_tokens");
	*prompt = oai_usage_count(root, "prompt_tokens");
	cJSON_Delete(root);
	return (tokens);
}
