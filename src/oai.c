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
oai_set_model(const char *body, size_t len, const char *model, struct buf *out)
{
	cJSON	*v;
	char	*quoted;
	size_t	 i, kend, vstart = 0, vend = 0, open;
	int	 found = 0, rc = -1;

	buf_reset(out);
	if ((v = cJSON_CreateString(model)) == NULL)
		return (-1);
	quoted = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	if (quoted == NULL)
		return (-1);
	if ((i = oai_blank(body, len, 0)) >= len || body[i] != '{')
		goto done;
	open = i++;
	/* The top-level members: "key" : value , ... */
	for (;;) {
		i = oai_blank(body, len, i);
		if (i >= len || body[i] != '"')
			break;
		if ((kend = oai_skip_string(body, len, i)) == 0)
			goto done;
		found = kend - i == 7 && memcmp(body + i, "\"model\"", 7) == 0;
		i = oai_blank(body, len, kend);
		if (i >= len || body[i] != ':')
			goto done;
		vstart = i = oai_blank(body, len, i + 1);
		if ((vend = i = oai_skip_value(body, len, i)) == 0)
			goto done;
		if (found)
			break;
		i = oai_blank(body, len, i);
		if (i < len && body[i] == ',')
			i++;
	}
	if (found)
		rc = buf_append(out, body, vstart) == -1 ||
		    buf_append_str(out, quoted) == -1 ||
		    buf_append(out, body + vend, len - vend) == -1 ? -1 : 0;
	else {
		i = oai_blank(body, len, open + 1);
		rc = buf_append(out, body, open + 1) == -1 ||
		    buf_append_str(out, "\"model\":") == -1 ||
		    buf_append_str(out, quoted) == -1 ||
		    (i < len && body[i] != '}' && buf_append_str(out, ",") == -1) ||
		    buf_append(out, body + open + 1, len - open - 1) == -1 ? -1 : 0;
	}
done:
	cJSON_free(quoted);
	return (rc);
}

unsigned long long
oai_completion_tokens(const char *body, size_t len)
{
	cJSON		*root;
	const cJSON	*n;
	unsigned long long tokens = 0;

	if (body == NULL || memmem(body, len, "\"completion_tokens\"", 19) == NULL ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);
	n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root,
	    "usage"), "completion_tokens");
	if (cJSON_IsNumber(n) && n->valuedouble > 0)
		tokens = (unsigned long long)n->valuedouble;
	cJSON_Delete(root);
	return (tokens);
}
