/* SPDX-License-Identifier: BSD-2-Clause */
/* json.c: small JSON helpers on top of cJSON. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "json.h"

/* Returns a malloc'd string owned by the caller (cJSON uses malloc by default). */
char *
json_error_body(const char *msg, const char *type)
{
	cJSON	*o;
	char	*s = NULL;

	if ((o = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (cJSON_AddStringToObject(o, "error", msg != NULL ? msg : "") == NULL ||
	    cJSON_AddStringToObject(o, "error_type",
	    type != NULL ? type : "") == NULL)
		goto fail;
	s = cJSON_PrintUnformatted(o);
 fail:
	cJSON_Delete(o);
	return (s);
}

char *
json_oai_error_body(const char *msg, const char *type)
{
	cJSON	*o, *e;
	char	*s = NULL;

	if ((o = cJSON_CreateObject()) == NULL)
		return (NULL);
	if ((e = cJSON_AddObjectToObject(o, "error")) == NULL ||
	    cJSON_AddStringToObject(e, "message", msg != NULL ? msg : "") == NULL ||
	    cJSON_AddStringToObject(e, "type", type != NULL ? type : "") == NULL)
		goto fail;
	s = cJSON_PrintUnformatted(o);
 fail:
	cJSON_Delete(o);
	return (s);
}

int
json_quote(struct buf *out, const char *s)
{
	cJSON	*v;
	char	*text;
	int	 rc;

	if ((v = cJSON_CreateString(s)) == NULL)
		return (-1);
	text = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	if (text == NULL)
		return (-1);
	rc = buf_append_str(out, text);
	cJSON_free(text);
	return (rc);
}

int
json_looks_like(const char *body, size_t len)
{
	size_t	 i;

	if (body == NULL)
		return (0);
	for (i = 0; i < len; i++) {
		switch (body[i]) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			continue;
		case '{':
		case '[':
			return (1);
		default:
			return (0);
		}
	}
	return (0);
}

int
json_body_stream(const char *body, size_t len)
{
	cJSON	*o;
	int	 stream;

	if (body == NULL || !json_looks_like(body, len))
		return (0);
	if ((o = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);
	stream = cJSON_IsObject(o) &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream"));
	cJSON_Delete(o);
	return (stream);
}

int
json_option_false(const char *body, size_t len, const char *name)
{
	cJSON	*o;
	int	 no;

	/* Most bodies do not name the option: spare them the parse. */
	if (body == NULL || memmem(body, len, name, strlen(name)) == NULL)
		return (0);
	if ((o = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);
	no = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(o, "options"), name));
	cJSON_Delete(o);
	return (no);
}

cJSON *
json_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	cJSON	*root;

	if (body != NULL && (root = cJSON_ParseWithLength(body, len)) != NULL) {
		if (cJSON_IsObject(root))
			return (root);
		cJSON_Delete(root);
	}
	if (errlen > 0)
		snprintf(err, errlen, "the body is not a JSON object");
	return (NULL);
}

int
json_append(struct buf *out, const cJSON *o)
{
	char	*s;
	int	 rc;

	if ((s = cJSON_PrintUnformatted(o)) == NULL)
		return (-1);
	rc = buf_append_str(out, s);
	cJSON_free(s);
	return (rc);
}

const char *
json_lib_version(void)
{
	return (cJSON_Version());
}
