/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * embed.c: OpenAI embeddings on hf-inference's feature-extraction pipeline
 * (docs/api.md, "Embeddings on the router"). Pure, no I/O.
 */
#ifndef HFGATE_EMBED_H
#define HFGATE_EMBED_H

#include <stddef.h>

#include "buf.h"

/*
 * out gets the feature-extraction body {"inputs": [text, ...]} for the OpenAI
 * embeddings body (input: a string or a list of strings; encoding_format "float"
 * or "base64"). 0, or -1 with err saying what the body asks that the pipeline
 * cannot do (token ids, dimensions; the caller answers 400), or with err "" when
 * out of memory.
 */
int	 embed_request(const char *body, size_t len, struct buf *out, char *err,
	    size_t errlen);
/*
 * out gets the OpenAI answer {"object": "list", "data": [{"object": "embedding",
 * "index", "embedding"}], "model", "usage"} to the OpenAI body from the pipeline's
 * 2xx answer: one vector per input (token vectors are mean-pooled), as floats or
 * as base64 of little-endian float32s when the body asks. model (borrowed) is the
 * answer's "model". 0, or -1 (not such an answer, or out of memory).
 */
int	 embed_answer(const char *body, size_t len, const char *model, const char *answer,
	    size_t alen, struct buf *out);

#endif
