/* SPDX-License-Identifier: BSD-2-Clause */
/* v1.c: body conveniences of the simplified POST /v1/{task} routes (docs/api.md). */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "buf.h"
#include "json.h"
#include "task.h"
#include "v1.h"

/* The HF API's request shapes, by family (docs/api.md, "/v1 body shapes per task"). */
enum v1_shape {
	V1_TEXT,		/* {"inputs": ...} */
	V1_CONVERSATIONAL,	/* {"inputs": {"text", ...}} */
	V1_SENTSIM,		/* {"inputs": {"source_sentence", "sentences"}} */
	V1_ZSC,			/* {"inputs", "parameters": {"candidate_labels": "a,b"}} */
	V1_QA,			/* {"question", "context"} */
	V1_TQA,			/* {"query", "table"} */
	V1_IMGQA,		/* {"question", "image": b64} */
	V1_ZSIC,		/* {"image": b64, "parameters": {"candidate_labels"}} */
	V1_TABULAR,		/* {"table"} */
	V1_BINARY		/* raw bytes (image-to-image: or JSON with parameters) */
};

static const struct {
	const char	*task;
	enum v1_shape	 shape;
	const char	*hint;	/* what to send, for error messages */
} v1_shapes[] = {
	{ "conversational", V1_CONVERSATIONAL,
	  "{\"inputs\": {\"text\": ...}} or {\"text\": ...}" },
	{ "sentence-similarity", V1_SENTSIM,
	  "{\"source_sentence\": ..., \"sentences\": [...]}" },
	{ "zero-shot-classification", V1_ZSC,
	  "{\"inputs\": ..., \"candidate_labels\": [...]}" },
	{ "question-answering", V1_QA,
	  "{\"question\": ..., \"context\": ...}" },
	{ "table-question-answering", V1_TQA,
	  "{\"query\": ..., \"table\": {...}}" },
	{ "visual-question-answering", V1_IMGQA,
	  "{\"question\": ..., \"image\": base64}" },
	{ "document-question-answering", V1_IMGQA,
	  "{\"question\": ..., \"image\": base64}" },
	{ "zero-shot-image-classification", V1_ZSIC,
	  "{\"image\": base64, \"candidate_labels\": [...]}" },
	{ "tabular-classification", V1_TABULAR, "{\"inputs\": {\"data\": {...}}}" },
	{ "tabular-regression", V1_TABULAR, "{\"inputs\": {\"data\": {...}}}" },
};

static void	 v1_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
v1_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static enum v1_shape
v1_shape_of(const struct task_info *t, const char **hint)
{
	size_t	 i;

	*hint = "{\"inputs\": ...}";
	if (t->input != TASK_IN_JSON)
		return (V1_BINARY);
	for (i = 0; i < sizeof(v1_shapes) / sizeof(v1_shapes[0]); i++) {
		if (strcmp(v1_shapes[i].task, t->name) == 0) {
			*hint = v1_shapes[i].hint;
			return (v1_shapes[i].shape);
		}
	}
	return (V1_TEXT);
}

/* 0..63 for a base64 digit; -1 if invalid, -2 if it mixes the two alphabets. */
static int
v1_b64_digit(unsigned char ch, int *urlsafe)
{
	if (ch >= 'A' && ch <= 'Z')
		return (ch - 'A');
	if (ch >= 'a' && ch <= 'z')
		return (ch - 'a' + 26);
	if (ch >= '0' && ch <= '9')
		return (ch - '0' + 52);
	if (ch == '+' || ch == '/') {
		if (*urlsafe == 1)
			return (-2);
		*urlsafe = 0;
		return (ch == '+' ? 62 : 63);
	}
	if (ch == '-' || ch == '_') {
		if (*urlsafe == 0)
			return (-2);
		*urlsafe = 1;
		return (ch == '-' ? 62 : 63);
	}
	return (-1);
}

/*
 * Strict base64 decoding into out: standard or URL-safe alphabet (not both),
 * padding optional but correct when present, unused trailing bits zero, no
 * white space; a "data:...;base64," prefix is skipped. On error returns -1
 * and points *why at a reason.
 */
static int
v1_b64_decode(const char *s, size_t len, struct buf *out, const char **why)
{
	const char	*comma;
	unsigned char	*bytes;
	unsigned long	 acc = 0;
	size_t		 npad = 0, n, i, nb = 0;
	int		 bits = 0, d, urlsafe = -1;

	if (len >= 5 && strncasecmp(s, "data:", 5) == 0) {
		comma = memchr(s, ',', len);
		if (comma == NULL || comma - s < 12 ||
		    strncasecmp(comma - 7, ";base64", 7) != 0) {
			*why = "a data: URI must be base64 (data:TYPE;base64,...)";
			return (-1);
		}
		len -= (size_t)(comma + 1 - s);
		s = comma + 1;
	}
	while (npad < len && s[len - 1 - npad] == '=')
		npad++;
	n = len - npad;
	if (n == 0) {
		*why = "empty base64 data";
		return (-1);
	}
	if (npad > 2 || (npad > 0 && len % 4 != 0)) {
		*why = "bad base64 padding";
		return (-1);
	}
	if ((bytes = malloc(n / 4 * 3 + 3)) == NULL) {
		*why = "out of memory";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if ((d = v1_b64_digit((unsigned char)s[i], &urlsafe)) < 0) {
			*why = d == -2 ? "base64 mixes the standard and URL-safe "
			    "alphabets" : "invalid base64 character";
			free(bytes);
			return (-1);
		}
		acc = (acc << 6 | (unsigned long)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			bytes[nb++] = (unsigned char)(acc >> bits);
		}
	}
	if (n % 4 == 1) {
		*why = "truncated base64 data";
		free(bytes);
		return (-1);
	}
	/* Encoders leave these bits zero: refusing others keeps one encoding per input. */
	if ((acc & ((1UL << bits) - 1)) != 0) {
		*why = "non-canonical base64 (unused bits set)";
		free(bytes);
		return (-1);
	}
	if (buf_append(out, bytes, nb) == -1) {
		*why = "out of memory";
		free(bytes);
		return (-1);
	}
	free(bytes);
	return (0);
}

/* Standard base64 with padding, the form HF clients send. malloc'd, NULL on failure. */
static char *
v1_b64_encode(const void *p, size_t len)
{
	char	*s;

	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return (NULL);
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return (NULL);
	EVP_EncodeBlock((unsigned char *)s, p, (int)len);
	return (s);
}

/* Parses a whole body as JSON; NULL if it is not (trailing garbage included). */
static cJSON *
v1_parse(const char *body, size_t len)
{
	const char	*end = NULL;
	cJSON		*root;

	if ((root = cJSON_ParseWithLengthOpts(body, len, &end, 0)) == NULL)
		return (NULL);
	while (end < body + len && isspace((unsigned char)*end))
		end++;
	if (end != body + len) {
		cJSON_Delete(root);
		return (NULL);
	}
	return (root);
}

/* 1 if s is well-formed UTF-8 without NUL bytes (JSON strings cannot hold them here). */
static int
v1_utf8_valid(const unsigned char *s, size_t len)
{
	size_t		 i = 0, n, k;
	unsigned long	 cp;

	while (i < len) {
		if (s[i] == 0)
			return (0);
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 1;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 2;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3;
			cp = s[i] & 0x07;
		} else
			return (0);
		if (len - i <= n)
			return (0);
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return (0);
		i += n + 1;
	}
	return (1);
}

/* Appends the unformatted JSON of root to out. */
static int
v1_print(const cJSON *root, struct buf *out, char *err, size_t errlen)
{
	char	*s;
	int	 rv;

	if ((s = cJSON_PrintUnformatted(root)) == NULL) {
		v1_err(err, errlen, "out of memory");
		return (-1);
	}
	rv = buf_append_str(out, s);
	cJSON_free(s);
	if (rv == -1)
		v1_err(err, errlen, "out of memory");
	return (rv);
}

static cJSON *
v1_get(const cJSON *o, const char *key)
{
	return (cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Moves item (detached, owned) under key in o. 0, or -1 (item freed). */
static int
v1_put(cJSON *o, const char *key, cJSON *item)
{
	if (item == NULL)
		return (-1);
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (!cJSON_AddItemToObject(o, key, item)) {
		cJSON_Delete(item);
		return (-1);
	}
	return (0);
}

/*
 * {"inputs": {k: v, ...}, rest} becomes {k: v, ..., rest}: the top-level shape
 * v0.18 sends, for apps that wrapped it like the other tasks.
 */
static int
v1_unwrap(cJSON *root, int *modified, char *err, size_t errlen)
{
	cJSON	*inputs, *child;

	inputs = v1_get(root, "inputs");
	if (!cJSON_IsObject(inputs))
		return (0);
	cJSON_DetachItemViaPointer(root, inputs);
	while ((child = inputs->child) != NULL) {
		if (v1_get(root, child->string) != NULL) {
			v1_err(err, errlen, "\"%s\" is both in \"inputs\" and at "
			    "the top level", child->string);
			cJSON_Delete(inputs);
			return (-1);
		}
		cJSON_DetachItemViaPointer(inputs, child);
		if (!cJSON_AddItemToObject(root, child->string, child)) {
			cJSON_Delete(child);
			cJSON_Delete(inputs);
			v1_err(err, errlen, "out of memory");
			return (-1);
		}
	}
	cJSON_Delete(inputs);
	*modified = 1;
	return (0);
}

/* Renames key from to to when to is absent. */
static int
v1_rename(cJSON *o, const char *from, const char *to, int *modified)
{
	cJSON	*item;

	if (v1_get(o, to) != NULL || (item = v1_get(o, from)) == NULL)
		return (0);
	cJSON_DetachItemViaPointer(o, item);
	*modified = 1;
	return (v1_put(o, to, item));
}

/* Checks the base64 string o[key] and rewrites it as standard padded base64. */
static int
v1_b64_field(cJSON *o, const char *key, int *modified, char *err, size_t errlen)
{
	cJSON		*item = v1_get(o, key);
	struct buf	 raw = { NULL, 0, 0 };
	const char	*why;
	char		*enc;

	if (!cJSON_IsString(item)) {
		v1_err(err, errlen, "\"%s\" must be a base64 string", key);
		return (-1);
	}
	if (v1_b64_decode(item->valuestring, strlen(item->valuestring), &raw,
	    &why) == -1) {
		v1_err(err, errlen, "\"%s\": %s", key, why);
		return (-1);
	}
	enc = v1_b64_encode(raw.data, raw.len);
	buf_free(&raw);
	if (enc == NULL) {
		v1_err(err, errlen, "out of memory");
		return (-1);
	}
	if (strcmp(enc, item->valuestring) != 0) {
		*modified = 1;
		if (!cJSON_ReplaceItemInObjectCaseSensitive(o, key,
		    cJSON_CreateString(enc))) {
			free(enc);
			v1_err(err, errlen, "out of memory");
			return (-1);
		}
	}
	free(enc);
	return (0);
}

static int
v1_need_string(const cJSON *o, const char *key, const char *task,
    const char *hint, char *err, size_t errlen)
{
	if (cJSON_IsString(v1_get(o, key)))
		return (0);
	v1_err(err, errlen, "%s needs a string \"%s\": %s", task, key, hint);
	return (-1);
}

/* Joins a list of labels with ','. NULL with err on a bad list. */
static char *
v1_join_labels(const cJSON *list, char *err, size_t errlen)
{
	const cJSON	*l;
	struct buf	 b = { NULL, 0, 0 };

	cJSON_ArrayForEach(l, list) {
		if (!cJSON_IsString(l) || l->valuestring[0] == '\0') {
			v1_err(err, errlen, "candidate_labels must hold "
			    "non-empty strings");
			goto fail;
		}
		/* The API splits the joined string on commas. */
		if (strchr(l->valuestring, ',') != NULL) {
			v1_err(err, errlen, "candidate label \"%s\" contains a "
			    "comma", l->valuestring);
			goto fail;
		}
		if ((b.len > 0 && buf_append_str(&b, ",") == -1) ||
		    buf_append_str(&b, l->valuestring) == -1) {
			v1_err(err, errlen, "out of memory");
			goto fail;
		}
	}
	if (b.len == 0) {
		v1_err(err, errlen, "candidate_labels is empty");
		goto fail;
	}
	return (buf_steal(&b));
fail:
	buf_free(&b);
	return (NULL);
}

/*
 * Puts candidate_labels (list or comma string, in "parameters" or at the top
 * level) into parameters as one comma string, as the API wants. With movemulti,
 * a top-level multi_label goes into parameters too.
 */
static int
v1_labels(cJSON *root, const char *task, int movemulti, int *modified,
    char *err, size_t errlen)
{
	cJSON		*params, *pl, *tl, *src, *ml;
	char		*joined;
	const char	*p;

	params = v1_get(root, "parameters");
	if (params != NULL && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
		v1_err(err, errlen, "\"parameters\" must be an object");
		return (-1);
	}
	if (!cJSON_IsObject(params))
		params = NULL;
	pl = params != NULL ? v1_get(params, "candidate_labels") : NULL;
	tl = v1_get(root, "candidate_labels");
	if ((src = pl != NULL ? pl : tl) == NULL) {
		v1_err(err, errlen, "%s needs candidate_labels (a list or a "
		    "comma-separated string)", task);
		return (-1);
	}
	if (cJSON_IsString(src)) {
		for (p = src->valuestring; *p == ',' || isspace((unsigned char)*p); p++)
			;
		if (*p == '\0') {
			v1_err(err, errlen, "candidate_labels is empty");
			return (-1);
		}
		joined = strdup(src->valuestring);
	} else if (cJSON_IsArray(src)) {
		if ((joined = v1_join_labels(src, err, errlen)) == NULL)
			return (-1);
	} else {
		v1_err(err, errlen, "candidate_labels must be a list of strings "
		    "or a comma-separated string");
		return (-1);
	}
	if (joined == NULL) {
		v1_err(err, errlen, "out of memory");
		return (-1);
	}
	if (src != pl || !cJSON_IsString(pl) || tl != NULL) {
		*modified = 1;
		if (params == NULL) {
			if (v1_put(root, "parameters", cJSON_CreateObject()) == -1)
				goto oom;
			params = v1_get(root, "parameters");
		}
		if (v1_put(params, "candidate_labels",
		    cJSON_CreateString(joined)) == -1)
			goto oom;
		cJSON_DeleteItemFromObjectCaseSensitive(root, "candidate_labels");
	}
	free(joined);
	joined = NULL;
	if (movemulti && (ml = v1_get(root, "multi_label")) != NULL) {
		if (params == NULL) {
			if (v1_put(root, "parameters", cJSON_CreateObject()) == -1)
				goto oom;
			params = v1_get(root, "parameters");
		}
		cJSON_DetachItemViaPointer(root, ml);
		*modified = 1;
		if (v1_get(params, "multi_label") != NULL)
			cJSON_Delete(ml);	/* parameters wins */
		else if (v1_put(params, "multi_label", ml) == -1)
			goto oom;
	}
	return (0);
oom:
	free(joined);
	v1_err(err, errlen, "out of memory");
	return (-1);
}

/*
 * Binary tasks: raw bytes pass through; JSON {"inputs"|"image"|"audio": b64}
 * is decoded to raw bytes, or, when it has "parameters" (image-to-image),
 * sent as {"inputs": standard b64, "parameters": ...} since the API reads
 * parameters only from JSON.
 */
static int
v1_binary(const struct task_info *t, const char *body, size_t len,
    struct buf *out, int *binary, char *err, size_t errlen)
{
	static const char	*keys[] = { "inputs", "image", "audio" };
	cJSON			*root = NULL, *item = NULL, *params;
	struct buf		 raw = { NULL, 0, 0 };
	const char		*why;
	char			*enc;
	size_t			 i;
	int			 rv = -1;

	/* Media files may start with '{' too: only a full JSON parse says JSON. */
	if (json_looks_like(body, len))
		root = v1_parse(body, len);
	if (root == NULL) {
		*binary = 1;
		if (buf_append(out, body, len) == -1) {
			v1_err(err, errlen, "out of memory");
			return (-1);
		}
		return (0);
	}
	if (cJSON_IsObject(root)) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if ((item = v1_get(root, keys[i])) != NULL)
				break;
		}
	}
	if (item == NULL) {
		v1_err(err, errlen, "%s takes the raw file as the body, or a JSON "
		    "object with a base64 \"inputs\" or \"image\"", t->name);
		goto done;
	}
	if (!cJSON_IsString(item)) {
		v1_err(err, errlen, "\"%s\" must be a base64 string", item->string);
		goto done;
	}
	if (v1_b64_decode(item->valuestring, strlen(item->valuestring), &raw,
	    &why) == -1) {
		v1_err(err, errlen, "\"%s\": %s", item->string, why);
		goto done;
	}
	params = v1_get(root, "parameters");
	if (params == NULL || cJSON_IsNull(params)) {
		*binary = 1;
		if (buf_append(out, raw.data, raw.len) == -1) {
			v1_err(err, errlen, "out of memory");
			goto done;
		}
		rv = 0;
		goto done;
	}
	if ((enc = v1_b64_encode(raw.data, raw.len)) == NULL) {
		v1_err(err, errlen, "out of memory");
		goto done;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(root, keys[i]);
	rv = v1_put(root, "inputs", cJSON_CreateString(enc));
	free(enc);
	if (rv == -1)
		v1_err(err, errlen, "out of memory");
	else
		rv = v1_print(root, out, err, errlen);
done:
	buf_free(&raw);
	cJSON_Delete(root);
	return (rv);
}

/* A body that is not JSON: the text itself. */
static int
v1_text(const struct task_info *t, enum v1_shape shape, const char *hint,
    const char *body, size_t len, struct buf *out, char *err, size_t errlen)
{
	cJSON	*root = NULL, *inputs;
	char	*text;
	int	 rv = -1;

	if (shape != V1_TEXT && shape != V1_CONVERSATIONAL) {
		v1_err(err, errlen, "%s needs a JSON object: %s", t->name, hint);
		return (-1);
	}
	if (!v1_utf8_valid((const unsigned char *)body, len)) {
		v1_err(err, errlen, "the body is neither JSON nor UTF-8 text");
		return (-1);
	}
	if ((text = strndup(body, len)) == NULL) {
		v1_err(err, errlen, "out of memory");
		return (-1);
	}
	if ((root = cJSON_CreateObject()) == NULL)
		goto oom;
	if (shape == V1_CONVERSATIONAL) {
		if ((inputs = cJSON_AddObjectToObject(root, "inputs")) == NULL ||
		    cJSON_AddStringToObject(inputs, "text", text) == NULL)
			goto oom;
	} else if (cJSON_AddStringToObject(root, "inputs", text) == NULL)
		goto oom;
	rv = v1_print(root, out, err, errlen);
	goto done;
oom:
	v1_err(err, errlen, "out of memory");
done:
	cJSON_Delete(root);
	free(text);
	return (rv);
}

/* Wraps keys of root into a new "inputs" object (for inputs-wrapped shapes). */
static int
v1_wrap(cJSON *root, const char *const keys[], size_t nkeys, int *modified)
{
	cJSON	*inputs, *item;
	size_t	 i;

	if ((inputs = cJSON_CreateObject()) == NULL)
		return (-1);
	for (i = 0; i < nkeys; i++) {
		if ((item = v1_get(root, keys[i])) == NULL)
			continue;
		cJSON_DetachItemViaPointer(root, item);
		if (!cJSON_AddItemToObject(inputs, keys[i], item)) {
			cJSON_Delete(item);
			cJSON_Delete(inputs);
			return (-1);
		}
	}
	*modified = 1;
	return (v1_put(root, "inputs", inputs));
}

/* The JSON object shapes; root is changed in place, *modified set if it was. */
static int
v1_object(const struct task_info *t, enum v1_shape shape, const char *hint,
    cJSON *root, int *modified, char *err, size_t errlen)
{
	static const char *const conv[] = { "text", "generated_responses",
	    "past_user_inputs" };
	static const char *const ss[] = { "source_sentence", "sentences" };
	cJSON	*inputs, *text;

	if (shape == V1_QA || shape == V1_TQA || shape == V1_IMGQA ||
	    shape == V1_ZSIC || shape == V1_TABULAR) {
		if (v1_unwrap(root, modified, err, errlen) == -1)
			return (-1);
	}
	inputs = v1_get(root, "inputs");
	switch (shape) {
	case V1_TEXT:
		if (inputs == NULL || cJSON_IsNull(inputs))
			goto missing;
		return (0);
	case V1_CONVERSATIONAL:
		if (cJSON_IsString(inputs)) {
			cJSON_DetachItemViaPointer(root, inputs);
			if (v1_put(root, "text", inputs) == -1)
				goto oom;
			inputs = NULL;
		}
		if (inputs == NULL && v1_wrap(root, conv, 3, modified) == -1)
			goto oom;
		inputs = v1_get(root, "inputs");
		text = cJSON_IsObject(inputs) ? v1_get(inputs, "text") : NULL;
		if (!cJSON_IsString(text))
			goto missing;
		return (0);
	case V1_SENTSIM:
		if (inputs == NULL && v1_wrap(root, ss, 2, modified) == -1)
			goto oom;
		inputs = v1_get(root, "inputs");
		if (!cJSON_IsObject(inputs) ||
		    !cJSON_IsString(v1_get(inputs, "source_sentence")) ||
		    !cJSON_IsArray(v1_get(inputs, "sentences")))
			goto missing;
		return (0);
	case V1_ZSC:
		if (!cJSON_IsString(inputs) && !cJSON_IsArray(inputs))
			goto missing;
		return (v1_labels(root, t->name, 1, modified, err, errlen));
	case V1_QA:
		if (v1_need_string(root, "question", t->name, hint, err, errlen) == -1 ||
		    v1_need_string(root, "context", t->name, hint, err, errlen) == -1)
			return (-1);
		return (0);
	case V1_TQA:
		if (v1_need_string(root, "query", t->name, hint, err, errlen) == -1)
			return (-1);
		if (!cJSON_IsObject(v1_get(root, "table")))
			goto missing;
		return (0);
	case V1_IMGQA:
		if (v1_need_string(root, "question", t->name, hint, err, errlen) == -1)
			return (-1);
		if (v1_get(root, "image") == NULL)
			goto missing;
		return (v1_b64_field(root, "image", modified, err, errlen));
	case V1_ZSIC:
		/* {"inputs": b64} as the community backend takes it. */
		if (cJSON_IsString(inputs) && v1_rename(root, "inputs", "image",
		    modified) == -1)
			goto oom;
		if (v1_get(root, "image") == NULL)
			goto missing;
		if (v1_b64_field(root, "image", modified, err, errlen) == -1)
			return (-1);
		return (v1_labels(root, t->name, 0, modified, err, errlen));
	case V1_TABULAR: {
		static const char *const data[] = { "data" };

		/* {"inputs": {"data": ...}} is what the community backend validated
		   and what huggingface.js sends; v0.18's {"table"} and
		   a top-level "data" are accepted too. */
		if (v1_rename(root, "table", "data", modified) == -1)
			goto oom;
		if (!cJSON_IsObject(v1_get(root, "data")))
			goto missing;
		if (v1_wrap(root, data, 1, modified) == -1)
			goto oom;
		return (0);
	}
	case V1_BINARY:
		break;
	}
missing:
	v1_err(err, errlen, "%s: missing or malformed fields, expected %s",
	    t->name, hint);
	return (-1);
oom:
	v1_err(err, errlen, "out of memory");
	return (-1);
}

int
v1_build_body(const struct task_info *t, const char *body, size_t len,
    struct buf *out, int *binary, char *err, size_t errlen)
{
	enum v1_shape	 shape;
	const char	*hint, *p;
	cJSON		*root, *wrap;
	int		 modified = 0, rv = -1;

	*binary = 0;
	if (len == 0) {
		v1_err(err, errlen, "empty body");
		return (-1);
	}
	shape = v1_shape_of(t, &hint);
	if (shape == V1_BINARY)
		return (v1_binary(t, body, len, out, binary, err, errlen));

	root = v1_parse(body, len);
	if (root != NULL && !cJSON_IsObject(root) && !cJSON_IsArray(root) &&
	    !cJSON_IsString(root)) {
		cJSON_Delete(root);	/* a number or true: take it as text */
		root = NULL;
	}
	if (root == NULL) {
		/* Text may start with '[' ("[INST] ..."), hardly with '{'. */
		for (p = body; p < body + len && isspace((unsigned char)*p); p++)
			;
		if (p < body + len && *p == '{') {
			v1_err(err, errlen, "invalid JSON body");
			return (-1);
		}
		return (v1_text(t, shape, hint, body, len, out, err, errlen));
	}
	if (!cJSON_IsObject(root)) {
		/* A bare JSON string or list is the inputs. */
		if ((shape != V1_TEXT && shape != V1_CONVERSATIONAL) ||
		    (shape == V1_CONVERSATIONAL && !cJSON_IsString(root))) {
			v1_err(err, errlen, "%s needs a JSON object: %s", t->name,
			    hint);
			goto done;
		}
		if ((wrap = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToObject(wrap, "inputs", root)) {
			cJSON_Delete(wrap);
			v1_err(err, errlen, "out of memory");
			goto done;
		}
		root = wrap;
		modified = 1;
	}
	if (v1_object(t, shape, hint, root, &modified, err, errlen) == -1)
		goto done;
	/* Unchanged bodies go byte for byte: cJSON would round big integers (seeds). */
	if (!modified) {
		if ((rv = buf_append(out, body, len)) == -1)
			v1_err(err, errlen, "out of memory");
	} else
		rv = v1_print(root, out, err, errlen);
done:
	cJSON_Delete(root);
	return (rv);
}
