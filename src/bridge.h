/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bridge.c: the 2023 text-generation and conversational calls on today's API
 * (docs/api.md, "The 2023 clients on today's API"). A TGI-shaped body becomes an
 * OpenAI completions or chat body, the OpenAI answer becomes the 2023 one, and an
 * OpenAI event stream becomes TGI's token events as it arrives. Pure, no I/O.
 */
#ifndef HFGATE_BRIDGE_H
#define HFGATE_BRIDGE_H

#include <stddef.h>

#include "buf.h"

enum bridge_kind {
	BRIDGE_NONE = 0,
	BRIDGE_GENERATE,	/* {"inputs": "<text>", ...} -> /completions */
	BRIDGE_CHAT		/* {"inputs": {"text", "past_user_inputs",
				   "generated_responses"}} -> /chat/completions */
};

/* How a request is bridged, from its route (resolve.c). */
struct bridge_how {
	enum bridge_kind kind;
	int	 plain;		/* TGI's /generate: one object, not a list of one */
	int	 full_text;	/* return_full_text when the body does not say (TGI's
				   compat route: true for text-generation models) */
	int	 stream;	/* a stream whatever the body says (/generate_stream) */
};

/* What a 2023 body is: BRIDGE_CHAT when "inputs" is an object with "text",
   BRIDGE_GENERATE when it is a string, else BRIDGE_NONE (not JSON, a list, ...). */
enum bridge_kind bridge_kind_of(const char *body, size_t len);

/*
 * out gets the OpenAI body asking model what the 2023 body (of how->kind) asks:
 * for a generation "prompt" = inputs, max_tokens = max_new_tokens, temperature
 * (0 unless the body samples: TGI is greedy without do_sample), top_p, top_k, seed,
 * repetition_penalty, stop, and "stream" with the usage chunk asked for; for a
 * conversation the messages of its history and max_tokens, temperature, top_p.
 * 0, or -1 with err saying what is wrong with the body (the caller answers 400),
 * or with err "" when out of memory.
 */
int	 bridge_request(const struct bridge_how *, const char *model, const char *body,
	    size_t len, struct buf *out, char *err, size_t errlen);

/*
 * out gets the 2023 answer to the 2023 body from the OpenAI answer (a 2xx JSON):
 * [{"generated_text", "details"?}] (one object when plain), or {"generated_text",
 * "conversation"}. 0, or -1 (not an answer of that kind, or out of memory).
 */
int	 bridge_answer(const struct bridge_how *, const char *body, size_t len,
	    const char *answer, size_t alen, struct buf *out);
/*
 * An OpenAI error answer {"error": {"message", "type"}} in TGI's shape {"error":
 * message, "error_type": "validation"} (400 and 422; "overloaded" for 429; no
 * error_type for the others). 1 with out filled, 0 when the answer is not in
 * OpenAI's shape (it is relayed as it is), -1 when out of memory.
 */
int	 bridge_error(long status, const char *answer, size_t alen, struct buf *out);

/* The state of one stream being converted. */
struct bridge_sse {
	struct buf	 line;		/* the upstream's unfinished line */
	struct buf	 text;		/* the final event's generated_text so far */
	char		 seed[24];	/* the request's seed as written, "" for none */
	char		 finish[16];	/* TGI's finish_reason */
	int		 details;	/* the final event carries details */
	int		 ended;		/* the final or an error event is out */
	int		 broken;	/* bridge_sse_init failed */
	int		 usage_seen;
	unsigned long long tokens;	/* the usage chunk's completion_tokens */
	unsigned long long prompt_tokens;	/* and its prompt_tokens */
	unsigned long long events;	/* token events sent */
};

/* Starts the conversion of the answer to the 2023 body. 0, or -1 (out of memory:
   then bridge_sse_feed fails). */
int	 bridge_sse_init(struct bridge_sse *, const struct bridge_how *,
	    const char *body, size_t len);
/*
 * Converts len more bytes of the OpenAI stream and appends to out the TGI events of
 * the lines they complete: a token event per chunk with text, the final event
 * (generated_text, details when asked) at "data: [DONE]", an error event
 * {"error", "error_type"} for an error chunk; nothing after the final or the error
 * event. Each byte is taken once: feed only what the relay keeps (a write it pauses
 * comes back in full). 0, or -1 (out of memory, or a line or a text past the
 * limits of bridge.c): the stream is to be cut.
 */
int	 bridge_sse_feed(struct bridge_sse *, const char *data, size_t len,
	    struct buf *out);
/* The stream's generated tokens: the usage chunk's count, else its token events. */
unsigned long long bridge_sse_tokens(const struct bridge_sse *);
void	 bridge_sse_free(struct bridge_sse *);	/* accepts a zeroed struct */

#endif
