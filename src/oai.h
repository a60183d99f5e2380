/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * oai.c: the bodies of the OpenAI-compatible API (docs/api.md, "OpenAI routes"): the
 * model a request names, with its provider or policy suffix apart; whether it streams
 * and asks for the usage chunk; whether its answer is reproducible; and the one
 * rewrite hfgate makes, of the model value. Pure, no I/O.
 */
#ifndef HFGATE_OAI_H
#define HFGATE_OAI_H

#include <stddef.h>

#include "buf.h"
#include "route.h"

struct oai_body {
	char	 model[ROUTE_MODEL_MAX];	/* the id, without ":suffix"; "" when the
						   body names none (see named) */
	char	 suffix[64];		/* ":provider" or ":fastest" etc., "" if none */
	int	 named;			/* the body names a model: not missing, not
					   "dummy", not a URL */
	int	 stream;
	int	 include_usage;		/* stream_options.include_usage is true */
	int	 deterministic;		/* temperature 0 or a seed, and n <= 1 unless
					   seeded */
};

/*
 * Reads a JSON object body. 0 with o filled, or -1 with err (not a JSON object, a
 * model that is not a string or not a valid id): the caller answers 400.
 */
int	 oai_read(const char *body, size_t len, struct oai_body *o, char *err,
	    size_t errlen);
/*
 * out gets body with the top-level "model" value replaced by model (added first when
 * absent); every other byte as it was. 0, or -1 (not a JSON object, out of memory).
 */
int	 oai_set_model(const char *body, size_t len, const char *model, struct buf *out);
/*
 * When the streaming body has no stream_options, out gets it with
 * "stream_options":{"include_usage":true} added (the upstream's usage chunk is what
 * counts a stream's tokens) and 1 is returned; 0 when it has them (out untouched);
 * -1 on failure.
 */
int	 oai_ask_usage(const char *body, size_t len, struct buf *out);
/*
 * The top-level member key of the JSON object body, as written: 1 with [*vstart,
 * *vend) its value's bytes, 0 when absent (*vstart: the byte after the opening
 * brace), -1 when body is not an object. For values that must stay byte for byte
 * (a u64 seed, which a double would round).
 */
int	 oai_member(const char *body, size_t len, const char *key, size_t *vstart,
	    size_t *vend);
/* 1 when the event line (without its line end) is the usage chunk of a stream: a
   data line with "choices": [] and "usage". */
int	 oai_usage_chunk(const char *line, size_t len);
/* The tokens of an answer: usage.completion_tokens, and usage.prompt_tokens in
   *prompt; 0 when absent. */
unsigned long long oai_completion_tokens(const char *body, size_t len,
		    unsigned long long *prompt);

#endif
