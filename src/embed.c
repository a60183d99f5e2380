/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OpenAI embeddings on hf-inference's feature-extraction pipeline (docs/api.md,
 * "Embeddings on the router"): the router's OpenAI API does not serve the
 * embedding models, hf-inference does, in the task API's shape. The client's
 * {"input", "encoding_format"} becomes {"inputs": [...]}, and the list of vectors
 * that comes back becomes OpenAI's {"object": "list", "data": [...]}. Pure, no I/O.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/evp.h>

#include "buf.h"
#include "embed.h"
#include "json.h"

/* A vector longer than this is no embedding (the largest models have 8,192). */
#define EMBED_MAX_DIM	65536

static int
embed_fail(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return (-1);
}

int
embed_request(const char *body, size_t len, struct buf *out, char *err, size_t errlen)
{
	cJSON		*root = NULL, *o = NULL, *list;
	const cJSON	*in, *item, *fmt;
	int		 rc = -1;

	buf_reset(out);
	if (errlen > 0)
		err[0] = '\0';
	if ((root = json_parse_object(body, len, err, errlen)) == NULL)
		goto done;
	in = cJSON_GetObjectItemCaseSensitive(root, "input");
	fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
	if (fmt != NULL && !cJSON_IsNull(fmt) && (!cJSON_IsString(fmt) ||
	    (strcmp(fmt->valuestring, "float") != 0 &&
	    strcmp(fmt->valuestring, "base64") != 0))) {
		embed_fail(err, errlen, "encoding_format: must be \"float\" or \"base64\"");
		goto done;
	}
	/* hf-inference returns the model's vectors whole: no shortening. */
	if (cJSON_GetObjectItemCaseSensitive(root, "dimensions") != NULL) {
		embed_fail(err, errlen, "dimensions: not supported by hf-inference's "
		    "feature-extraction (the model's own size is returned)");
		goto done;
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    (list = cJSON_AddArrayToObject(o, "inputs")) == NULL)
		goto done;
	/* Always a list, so that the answer is a list of vectors whatever the input. */
	if (cJSON_IsString(in)) {
		if (!cJSON_AddItemToArray(list, cJSON_CreateString(in->valuestring)))
			goto done;
	} else if (cJSON_IsArray(in) && cJSON_GetArraySize(in) > 0) {
		cJSON_ArrayForEach(item, in) {
			if (!cJSON_IsString(item)) {
				embed_fail(err, errlen, "input: token ids are not supported "
				    "by hf-inference's feature-extraction: send the text");
				goto done;
			}
			if (!cJSON_AddItemToArray(list, cJSON_CreateString(item->valuestring)))
				goto done;
		}
	} else {
		embed_fail(err, errlen, "input: a string or a non-empty list of strings "
		    "is required");
		goto done;
	}
	if (json_append(out, o) == -1)
		goto done;
	rc = 0;
done:
	cJSON_Delete(o);
	cJSON_Delete(root);
	return (rc);
}

/* 1 if v is a non-empty list of numbers no longer than EMBED_MAX_DIM. */
static int
embed_is_vector(const cJSON *v)
{
	const cJSON	*x;
	int		 n = 0;

	if (!cJSON_IsArray(v))
		return (0);
	cJSON_ArrayForEach(x, v) {
		if (!cJSON_IsNumber(x) || ++n > EMBED_MAX_DIM)
			return (0);
	}
	return (n > 0);
}

/*
 * One input's vector from the answer's item: a vector, or a list of token vectors
 * of one size (a model without pooling), averaged as sentence-transformers' mean
 * pooling does. vec gets dim values (malloc'd). 0 or -1.
 */
static int
embed_vector(const cJSON *item, double **vec, int *dim)
{
	const cJSON	*tok, *x;
	double		*v;
	int		 n, i, ntok = 0;

	*vec = NULL;
	if (embed_is_vector(item)) {
		n = cJSON_GetArraySize(item);
		if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
			return (-1);
		i = 0;
		cJSON_ArrayForEach(x, item)
			v[i++] = x->valuedouble;
		*vec = v;
		*dim = n;
		return (0);
	}
	if (!cJSON_IsArray(item) || !embed_is_vector(cJSON_GetArrayItem(item, 0)))
		return (-1);
	n = cJSON_GetArraySize(cJSON_GetArrayItem(item, 0));
	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		return (-1);
	cJSON_ArrayForEach(tok, item) {
		if (!embed_is_vector(tok) || cJSON_GetArraySize(tok) != n) {
			free(v);
			return (-1);
		}
		i = 0;
		cJSON_ArrayForEach(x, tok)
			v[i++] += x->valuedouble;
		ntok++;
	}
	for (i = 0; i < n; i++)
		v[i] /= ntok;
	*vec = v;
	*dim = n;
	return (0);
}

/* The vector as OpenAI's base64: little-endian float32s. NULL when out of memory. */
static cJSON *
embed_base64(const double *v, int dim)
{
	unsigned char	*raw;
	char		*s;
	cJSON		*str;
	uint32_t	 u;
	float		 f;
	size_t		 n = (size_t)dim * 4;
	int		 i;

	if ((raw = malloc(n)) == NULL)
		return (NULL);
	if ((s = malloc((n + 2) / 3 * 4 + 1)) == NULL) {
		free(raw);
		return (NULL);
	}
	for (i = 0; i < dim; i++) {
		f = (float)v[i];
		memcpy(&u, &f, sizeof(u));
		raw[4 * i] = (unsigned char)(u & 0xff);
		raw[4 * i + 1] = (unsigned char)((u >> 8) & 0xff);
		raw[4 * i + 2] = (unsigned char)((u >> 16) & 0xff);
		raw[4 * i + 3] = (unsigned char)(u >> 24);
	}
	EVP_EncodeBlock((unsigned char *)s, raw, (int)n);
	str = cJSON_CreateString(s);
	free(s);
	free(raw);
	return (str);
}

/* Appends {"object": "embedding", "index", "embedding"} to data. 0 or -1. */
static int
embed_add(cJSON *data, int index, const double *v, int dim, int base64)
{
	cJSON	*e, *emb;

	if ((e = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(data, e)) {
		cJSON_Delete(e);
		return (-1);
	}
	/* e is data's now, freed with it. */
	if (cJSON_AddStringToObject(e, "object", "embedding") == NULL ||
	    cJSON_AddNumberToObject(e, "index", index) == NULL)
		return (-1);
	emb = base64 ? embed_base64(v, dim) : cJSON_CreateDoubleArray(v, dim);
	if (emb == NULL || !cJSON_AddItemToObject(e, "embedding", emb)) {
		cJSON_Delete(emb);
		return (-1);
	}
	return (0);
}

int
embed_answer(const char *body, size_t len, const char *model, const char *answer,
    size_t alen, struct buf *out)
{
	cJSON		*root = NULL, *ans = NULL, *o = NULL, *data, *usage;
	const cJSON	*fmt, *item, *in;
	double		*v = NULL;
	int		 rc = -1, base64, index = 0, dim, ninputs;

	buf_reset(out);
	if (body == NULL || answer == NULL ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL ||
	    (ans = cJSON_ParseWithLength(answer, alen)) == NULL || !cJSON_IsArray(ans))
		goto done;
	fmt = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
	base64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
	in = cJSON_GetObjectItemCaseSensitive(root, "input");
	ninputs = cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 1;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "object", "list") == NULL ||
	    (data = cJSON_AddArrayToObject(o, "data")) == NULL)
		goto done;
	/* One input may come back as its bare vector. */
	if (ninputs == 1 && embed_is_vector(ans)) {
		if (embed_vector(ans, &v, &dim) == -1 ||
		    embed_add(data, 0, v, dim, base64) == -1)
			goto done;
		index = 1;
	} else {
		cJSON_ArrayForEach(item, ans) {
			if (embed_vector(item, &v, &dim) == -1 ||
			    embed_add(data, index++, v, dim, base64) == -1)
				goto done;
			free(v);
			v = NULL;
		}
	}
	/* feature-extraction does not count tokens: 0, not a guess. */
	if (index != ninputs || cJSON_AddStringToObject(o, "model", model) == NULL ||
	    (usage = cJSON_AddObjectToObject(o, "usage")) == NULL ||
	    cJSON_AddNumberToObject(usage, "prompt_tokens", 0) == NULL ||
	    cJSON_AddNumberToObject(usage, "total_tokens", 0) == NULL)
		goto done;
	if (json_append(out, o) == -1)
		goto done;
	rc = 0;
done:
	free(v);
	cJSON_Delete(o);
	cJSON_Delete(ans);
	cJSON_Delete(root);
	return (rc);
}
