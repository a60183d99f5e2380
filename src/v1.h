/* SPDX-License-Identifier: BSD-2-Clause */
/* v1.c: body conveniences of the simplified POST /v1/{task} routes (docs/api.md). */
#ifndef HFGATE_V1_H
#define HFGATE_V1_H

#include <stddef.h>

#include "buf.h"
#include "task.h"

/*
 * Turns what an app posted to /v1/{task} into the body the HF API takes for that task
 * (shapes in docs/api.md), written to out. *binary is set to 1 when out holds raw
 * bytes (image or audio) rather than JSON. Accepted conveniences:
 *  - binary tasks: raw bytes, or JSON {"inputs"|"image"|"audio": base64} (standard or
 *    URL-safe base64, with or without a data: URI prefix) decoded to raw bytes;
 *  - image-to-image: raw bytes, or JSON with base64 "inputs"/"image" and "parameters"
 *    (sent as {"inputs": b64, "parameters": ...});
 *  - tasks whose v0.18 shape is top-level (question-answering, table-question-answering,
 *    visual/document-question-answering, zero-shot-image-classification):
 *    either the top-level keys or the same object wrapped in "inputs";
 *  - tabular-*: {"table"}, {"data"} or {"inputs": {"data"}}, sent as the last, the
 *    shape the community backend validated;
 *  - tasks whose shape is inputs-wrapped (sentence-similarity, conversational): either;
 *  - candidate_labels as a list or a comma string (sent as one comma string), in
 *    "parameters" or at the top level;
 *  - text tasks: {"inputs": ...} as is, or a body that is not JSON taken as the text.
 * Keys the gateway does not know ("parameters", "options", "stream", ...) are kept.
 * Returns 0, or -1 with a message for a 400 in err.
 */
int	 v1_build_body(const struct task_info *, const char *body, size_t len,
	    struct buf *out, int *binary, char *err, size_t errlen);

#endif
