/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The bridge: the 2023 clients' text-generation and conversational calls, which
 * today's router serves only through the OpenAI API (docs/api.md, "The 2023 clients
 * on today's API"). Requests are translated here and nowhere else, answers back,
 * and streams chunk by chunk; the gateway decides which requests (resolve.c) and
 * relays the results (gw.c, stream.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "bridge.h"
#include "buf.h"
#include "json.h"
#include "oai.h"

/* A converted stream holds its unfinished line and the whole generated text (the
   final event carries it): both are bounded. */
#define BRIDGE_LINE_MAX	(1024 * 1024)
#define BRIDGE_TEXT_MAX	(16 * 1024 * 1024)

static const cJSON *
bridge_get(const cJSON *o, const char *name)
{
	return (cJSON_GetObjectItemCaseSensitive(o, name));
}

static int
bridge_set(const cJSON *o, const char *name)
{
	const cJSON	*v = bridge_get(o, name);

	return (v != NULL && !cJSON_IsNull(v));
}

enum bridge_kind
bridge_kind_of(const char *body, size_t len)
{
	cJSON			*root;
	const cJSON		*in;
	enum bridge_kind	 k = BRIDGE_NONE;

	if (body == NULL || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (BRIDGE_NONE);
	in = bridge_get(root, "inputs");
	if (cJSON_IsString(in))
		k = BRIDGE_GENERATE;
	else if (cJSON_IsObject(in) && cJSON_IsString(bridge_get(in, "text")))
		k = BRIDGE_CHAT;
	cJSON_Delete(root);
	return (k);
}

/*
 * parameters.seed of body as written, when it is a non-negative integer: TGI's
 * seeds are u64, which a double would round. 1 with out set, else 0.
 */
static int
bridge_seed(const char *body, size_t len, char *out, size_t outlen)
{
	size_t	 ps, pe, vs, ve, i;

	if (oai_member(body, len, "parameters", &ps, &pe) != 1 || body[ps] != '{' ||
	    oai_member(body + ps, pe - ps, "seed", &vs, &ve) != 1)
		return (0);
	vs += ps;
	ve += ps;
	while (ve > vs && (body[ve - 1] == ' ' || body[ve - 1] == '\t' ||
	    body[ve - 1] == '\n' || body[ve - 1] == '\r'))
		ve--;
	if (ve == vs || ve - vs >= outlen)
		return (0);
	for (i = vs; i < ve; i++)
		if (body[i] < '0' || body[i] > '9')
			return (0);
	memcpy(out, body + vs, ve - vs);
	out[ve - vs] = '\0';
	return (1);
}

static int
bridge_copy_number(cJSON *o, const char *to, const cJSON *params, const char *from)
{
	const cJSON	*v = bridge_get(params, from);

	if (!cJSON_IsNumber(v))
		return (0);
	return (cJSON_AddNumberToObject(o, to, v->valuedouble) == NULL ? -1 : 0);
}

/*
 * TGI is greedy unless the body samples (do_sample, or a sampling knob: the same
 * test as the cache's, cache.c); the OpenAI API samples unless told temperature 0.
 */
static int
bridge_temperature(cJSON *o, const cJSON *params)
{
	if (bridge_set(params, "temperature"))
		return (bridge_copy_number(o, "temperature", params, "temperature"));
	if (cJSON_IsTrue(bridge_get(params, "do_sample")) || bridge_set(params, "top_k") ||
	    bridge_set(params, "top_p") || bridge_set(params, "typical_p"))
		return (0);
	return (cJSON_AddNumberToObject(o, "temperature", 0) == NULL ? -1 : 0);
}

/* TGI's stop sequences ("stop", as huggingface_hub sends them, or "stop_sequences"):
   a list of strings, or one. */
static int
bridge_stop(cJSON *o, const cJSON *params)
{
	const cJSON	*v = bridge_get(params, "stop"), *e;
	cJSON		*list;

	if (!cJSON_IsArray(v) && !cJSON_IsString(v))
		v = bridge_get(params, "stop_sequences");
	if (cJSON_IsString(v))
		return (cJSON_AddStringToObject(o, "stop", v->valuestring) == NULL ? -1 : 0);
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
		return (0);
	if ((list = cJSON_AddArrayToObject(o, "stop")) == NULL)
		return (-1);
	cJSON_ArrayForEach(e, v)
		if (cJSON_IsString(e) &&
		    !cJSON_AddItemToArray(list, cJSON_CreateString(e->valuestring)))
			return (-1);
	return (0);
}

static int
bridge_generate_request(const struct bridge_how *how, cJSON *o, const cJSON *root,
    const char *body, size_t len, char *err, size_t errlen)
{
	const cJSON	*params = bridge_get(root, "parameters");
	const cJSON	*in = bridge_get(root, "inputs");
	cJSON		*so;
	char		 seed[24];

	if (!cJSON_IsString(in)) {
		snprintf(err, errlen, "inputs: text-generation takes a string");
		return (-1);
	}
	if (cJSON_AddStringToObject(o, "prompt", in->valuestring) == NULL ||
	    bridge_copy_number(o, "max_tokens", params, "max_new_tokens") == -1 ||
	    bridge_temperature(o, params) == -1 ||
	    bridge_copy_number(o, "top_p", params, "top_p") == -1 ||
	    bridge_copy_number(o, "top_k", params, "top_k") == -1 ||
	    bridge_copy_number(o, "repetition_penalty", params, "repetition_penalty") == -1 ||
	    bridge_stop(o, params) == -1)
		return (-1);
	if (bridge_seed(body, len, seed, sizeof(seed)) &&
	    cJSON_AddRawToObject(o, "seed", seed) == NULL)
		return (-1);
	if (how->stream || cJSON_IsTrue(bridge_get(root, "stream"))) {
		/* The usage chunk counts the stream's tokens (usage.c). */
		if (cJSON_AddTrueToObject(o, "stream") == NULL ||
		    (so = cJSON_AddObjectToObject(o, "stream_options")) == NULL ||
		    cJSON_AddTrueToObject(so, "include_usage") == NULL)
			return (-1);
	}
	return (0);
}

/* Appends a message; 0 or -1. */
static int
bridge_message(cJSON *msgs, const char *role, const char *content)
{
	cJSON	*m;

	if ((m = cJSON_CreateObject()) == NULL)
		return (-1);
	if (!cJSON_AddItemToArray(msgs, m)) {
		cJSON_Delete(m);
		return (-1);
	}
	return (cJSON_AddStringToObject(m, "role", role) == NULL ||
	    cJSON_AddStringToObject(m, "content", content) == NULL ? -1 : 0);
}

/* A conversation's past turns: absent, null, or a list of strings. */
static int
bridge_turns(const cJSON *in, const char *name, const cJSON **list, char *err,
    size_t errlen)
{
	const cJSON	*v = bridge_get(in, name), *e;

	*list = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return (0);
	if (!cJSON_IsArray(v)) {
		snprintf(err, errlen, "inputs.%s: not a list", name);
		return (-1);
	}
	cJSON_ArrayForEach(e, v)
		if (!cJSON_IsString(e)) {
			snprintf(err, errlen, "inputs.%s: a list of strings is needed", name);
			return (-1);
		}
	*list = v;
	return (0);
}

static int
bridge_chat_request(cJSON *o, const cJSON *root, char *err, size_t errlen)
{
	const cJSON	*params = bridge_get(root, "parameters");
	const cJSON	*in = bridge_get(root, "inputs"), *text, *past, *gen;
	cJSON		*msgs;
	int		 i, np, ng;

	text = bridge_get(in, "text");
	if (!cJSON_IsObject(in) || !cJSON_IsString(text)) {
		snprintf(err, errlen, "inputs.text: conversational takes a string");
		return (-1);
	}
	if (bridge_turns(in, "past_user_inputs", &past, err, errlen) == -1 ||
	    bridge_turns(in, "generated_responses", &gen, err, errlen) == -1)
		return (-1);
	if ((msgs = cJSON_AddArrayToObject(o, "messages")) == NULL)
		return (-1);
	/* Turn by turn: what the user said, what the model answered. */
	np = past != NULL ? cJSON_GetArraySize(past) : 0;
	ng = gen != NULL ? cJSON_GetArraySize(gen) : 0;
	for (i = 0; i < np || i < ng; i++)
		if ((i < np && bridge_message(msgs, "user",
		    cJSON_GetArrayItem(past, i)->valuestring) == -1) ||
		    (i < ng && bridge_message(msgs, "assistant",
		    cJSON_GetArrayItem(gen, i)->valuestring) == -1))
			return (-1);
	if (bridge_message(msgs, "user", text->valuestring) == -1)
		return (-1);
	if (bridge_copy_number(o, "max_tokens", params, bridge_set(params,
	    "max_new_tokens") ? "max_new_tokens" : "max_length") == -1 ||
	    bridge_temperature(o, params) == -1 ||
	    bridge_copy_number(o, "top_p", params, "top_p") == -1)
		return (-1);
	return (0);
}

int
bridge_request(const struct bridge_how *how, const char *model, const char *body,
    size_t len, struct buf *out, char *err, size_t errlen)
{
	cJSON	*root = NULL, *o = NULL;
	int	 rc = -1;

	buf_reset(out);
	if (errlen > 0)
		err[0] = '\0';
	if ((root = json_parse_object(body, len, err, errlen)) == NULL)
		goto done;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "model", model) == NULL)
		goto done;
	if ((how->kind == BRIDGE_CHAT ? bridge_chat_request(o, root, err, errlen) :
	    bridge_generate_request(how, o, root, body, len, err, errlen)) == -1 ||
	    json_append(out, o) == -1)
		goto done;
	rc = 0;
done:
	cJSON_Delete(o);
	cJSON_Delete(root);
	return (rc);
}

/* TGI's finish_reason for an OpenAI choice's: "length" as it is; a stop string
   (vLLM's stop_reason) a stop sequence; the rest the end of the sequence. */
static const char *
bridge_finish(const char *reason, const cJSON *stop_reason)
{
	if (reason != NULL && strcmp(reason, "length") == 0)
		return ("length");
	if (cJSON_IsString(stop_reason))
		return ("stop_sequence");
	return ("eos_token");
}

/* return_full_text: the body's, else the route's default. */
static int
bridge_full_text(const struct bridge_how *how, const cJSON *root)
{
	const cJSON	*v = bridge_get(bridge_get(root, "parameters"), "return_full_text");

	return (cJSON_IsBool(v) ? cJSON_IsTrue(v) : how->full_text);
}

/* The details object of a TGI answer; "prefill" and "tokens" are empty lists (the
   OpenAI answer has no token list). NULL when out of memory. */
static cJSON *
bridge_details(const char *finish, unsigned long long tokens, const char *seed,
    int lists)
{
	cJSON	*d;

	if ((d = cJSON_CreateObject()) == NULL)
		return (NULL);
	if (cJSON_AddStringToObject(d, "finish_reason", finish) == NULL ||
	    cJSON_AddNumberToObject(d, "generated_tokens", (double)tokens) == NULL ||
	    (seed[0] != '\0' ? cJSON_AddRawToObject(d, "seed", seed) :
	    cJSON_AddNullToObject(d, "seed")) == NULL ||
	    (lists && (cJSON_AddArrayToObject(d, "prefill") == NULL ||
	    cJSON_AddArrayToObject(d, "tokens") == NULL))) {
		cJSON_Delete(d);
		return (NULL);
	}
	return (d);
}

static unsigned long long
bridge_usage_count(const cJSON *ans, const char *name)
{
	const cJSON	*n = bridge_get(bridge_get(ans, "usage"), name);

	/* A count past 2^53 is no count (and would not convert). */
	return (cJSON_IsNumber(n) && n->valuedouble > 0 && n->valuedouble < 0x1p53 ?
	    (unsigned long long)n->valuedouble : 0);
}

static cJSON *
bridge_generate_answer(const struct bridge_how *how, const cJSON *root,
    const char *body, size_t len, const cJSON *ans, const cJSON *choice)
{
	const cJSON	*text = bridge_get(choice, "text"), *in = bridge_get(root, "inputs");
	const cJSON	*fr = bridge_get(choice, "finish_reason");
	cJSON		*o = NULL, *d, *list;
	struct buf	 all = { NULL, 0, 0 };
	char		 seed[24] = "";

	if (!cJSON_IsString(text))
		return (NULL);
	if (bridge_full_text(how, root) && cJSON_IsString(in) &&
	    buf_append_str(&all, in->valuestring) == -1)
		goto fail;
	if (buf_append_str(&all, text->valuestring) == -1 ||
	    (o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "generated_text", all.data) == NULL)
		goto fail;
	if (cJSON_IsTrue(bridge_get(bridge_get(root, "parameters"), "details"))) {
		(void)bridge_seed(body, len, seed, sizeof(seed));
		if ((d = bridge_details(bridge_finish(cJSON_IsString(fr) ? fr->valuestring :
		    NULL, bridge_get(choice, "stop_reason")), bridge_usage_count(ans, "completion_tokens"), seed,
		    1)) == NULL || !cJSON_AddItemToObject(o, "details", d)) {
			cJSON_Delete(d);
			goto fail;
		}
	}
	buf_free(&all);
	if (how->plain)
		return (o);
	if ((list = cJSON_CreateArray()) == NULL || !cJSON_AddItemToArray(list, o)) {
		cJSON_Delete(list);
		cJSON_Delete(o);
		return (NULL);
	}
	return (list);
fail:
	buf_free(&all);
	cJSON_Delete(o);
	return (NULL);
}

/* A copy of the past turns with one more at the end. */
static cJSON *
bridge_turns_plus(const cJSON *past, const char *last)
{
	const cJSON	*e;
	cJSON		*list;

	if ((list = cJSON_CreateArray()) == NULL)
		return (NULL);
	cJSON_ArrayForEach(e, past)
		if (cJSON_IsString(e) &&
		    !cJSON_AddItemToArray(list, cJSON_CreateString(e->valuestring)))
			goto fail;
	if (!cJSON_AddItemToArray(list, cJSON_CreateString(last)))
		goto fail;
	return (list);
fail:
	cJSON_Delete(list);
	return (NULL);
}

static cJSON *
bridge_chat_answer(const cJSON *root, const cJSON *choice)
{
	const cJSON	*in = bridge_get(root, "inputs");
	const cJSON	*content = bridge_get(bridge_get(choice, "message"), "content");
	const cJSON	*text = bridge_get(in, "text");
	const char	*reply;
	cJSON		*o, *conv, *gen, *past;

	if (!cJSON_IsString(content) && !cJSON_IsNull(content))
		return (NULL);
	reply = cJSON_IsString(content) ? content->valuestring : "";
	if ((o = cJSON_CreateObject()) == NULL)
		return (NULL);
	/* The conversation's keys in the order the 2023 API sent them. */
	if (cJSON_AddStringToObject(o, "generated_text", reply) == NULL ||
	    (conv = cJSON_AddObjectToObject(o, "conversation")) == NULL ||
	    (gen = bridge_turns_plus(bridge_get(in, "generated_responses"), reply)) == NULL)
		goto fail;
	if (!cJSON_AddItemToObject(conv, "generated_responses", gen)) {
		cJSON_Delete(gen);
		goto fail;
	}
	if ((past = bridge_turns_plus(bridge_get(in, "past_user_inputs"),
	    cJSON_IsString(text) ? text->valuestring : "")) == NULL)
		goto fail;
	if (!cJSON_AddItemToObject(conv, "past_user_inputs", past)) {
		cJSON_Delete(past);
		goto fail;
	}
	return (o);
fail:
	cJSON_Delete(o);
	return (NULL);
}

int
bridge_answer(const struct bridge_how *how, const char *body, size_t len,
    const char *answer, size_t alen, struct buf *out)
{
	cJSON		*root = NULL, *ans = NULL, *o = NULL;
	const cJSON	*choice;
	int		 rc = -1;

	buf_reset(out);
	if (body == NULL || answer == NULL ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL ||
	    (ans = cJSON_ParseWithLength(answer, alen)) == NULL)
		goto done;
	if ((choice = cJSON_GetArrayItem(bridge_get(ans, "choices"), 0)) == NULL)
		goto done;
	o = how->kind == BRIDGE_CHAT ? bridge_chat_answer(root, choice) :
	    bridge_generate_answer(how, root, body, len, ans, choice);
	if (o != NULL && json_append(out, o) == 0)
		rc = 0;
done:
	cJSON_Delete(o);
	cJSON_Delete(ans);
	cJSON_Delete(root);
	return (rc);
}

/* TGI's error_type for an OpenAI error's status, NULL for none. */
static const char *
bridge_error_type(long status)
{
	if (status == 400 || status == 422)
		return ("validation");
	if (status == 429)
		return ("overloaded");
	return (NULL);
}

int
bridge_error(long status, const char *answer, size_t alen, struct buf *out)
{
	cJSON		*root, *o = NULL;
	const cJSON	*msg;
	const char	*type = bridge_error_type(status);
	int		 rc = 0;

	buf_reset(out);
	if (answer == NULL || (root = cJSON_ParseWithLength(answer, alen)) == NULL)
		return (0);
	/* HF's own {"error": "text"} is already the 2023 shape. */
	msg = bridge_get(bridge_get(root, "error"), "message");
	if (!cJSON_IsObject(bridge_get(root, "error")) || !cJSON_IsString(msg))
		goto done;
	rc = -1;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "error", msg->valuestring) == NULL ||
	    (type != NULL && cJSON_AddStringToObject(o, "error_type", type) == NULL) ||
	    json_append(out, o) == -1)
		goto done;
	rc = 1;
done:
	cJSON_Delete(o);
	cJSON_Delete(root);
	return (rc);
}

int
bridge_sse_init(struct bridge_sse *s, const struct bridge_how *how, const char *body,
    size_t len)
{
	cJSON		*root;
	const cJSON	*in;
	int		 rc = 0;

	memset(s, 0, sizeof(*s));
	if (body == NULL || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);	/* not JSON: it was not translated either */
	s->details = cJSON_IsTrue(bridge_get(bridge_get(root, "parameters"), "details"));
	in = bridge_get(root, "inputs");
	/* TGI puts the prompt in front of the final event's text only. */
	if (bridge_full_text(how, root) && cJSON_IsString(in))
		rc = buf_append_str(&s->text, in->valuestring);
	(void)bridge_seed(body, len, s->seed, sizeof(s->seed));
	cJSON_Delete(root);
	s->broken = rc == -1;
	return (rc);
}

/* A token event: TGI's, without the token's id and logprob, which the OpenAI
   chunk does not give. */
static int
bridge_token_event(struct bridge_sse *s, const char *text, struct buf *out)
{
	if (s->text.len + strlen(text) > BRIDGE_TEXT_MAX ||
	    buf_append_str(&s->text, text) == -1)
		return (-1);
	s->events++;
	return (buf_append_str(out, "data:{\"token\":{\"id\":0,\"text\":") == -1 ||
	    json_quote(out, text) == -1 ||
	    buf_append_str(out, ",\"logprob\":0.0,\"special\":false},"
	    "\"generated_text\":null,\"details\":null}\n\n") == -1 ? -1 : 0);
}

/* The final event: an empty special token (where TGI has its EOS token), the whole
   text, and the details when asked. */
static int
bridge_final_event(struct bridge_sse *s, struct buf *out)
{
	cJSON	*d;
	int	 rc;

	s->ended = 1;
	if (buf_append_str(out, "data:{\"token\":{\"id\":0,\"text\":\"\",\"logprob\":0.0,"
	    "\"special\":true},\"generated_text\":") == -1 ||
	    json_quote(out, s->text.data != NULL ? s->text.data : "") == -1 ||
	    buf_append_str(out, ",\"details\":") == -1)
		return (-1);
	if (!s->details)
		return (buf_append_str(out, "null}\n\n"));
	if ((d = bridge_details(s->finish[0] != '\0' ? s->finish : "eos_token",
	    bridge_sse_tokens(s), s->seed, 0)) == NULL)
		return (-1);
	rc = json_append(out, d) == -1 || buf_append_str(out, "}\n\n") == -1 ? -1 : 0;
	cJSON_Delete(d);
	return (rc);
}

/* An upstream error chunk as TGI's error event. */
static int
bridge_error_event(struct bridge_sse *s, const cJSON *e, struct buf *out)
{
	const cJSON	*msg = cJSON_IsString(e) ? e : bridge_get(e, "message");
	const cJSON	*type = bridge_get(e, "type");
	cJSON		*o;
	int		 rc = -1;

	s->ended = 1;
	if ((o = cJSON_CreateObject()) == NULL)
		return (-1);
	if (cJSON_AddStringToObject(o, "error", cJSON_IsString(msg) ? msg->valuestring :
	    "upstream error") != NULL &&
	    cJSON_AddStringToObject(o, "error_type", cJSON_IsString(type) &&
	    strcmp(type->valuestring, "invalid_request_error") == 0 ? "validation" :
	    "generation") != NULL &&
	    buf_append_str(out, "data:") == 0 && json_append(out, o) == 0 &&
	    buf_append_str(out, "\n\n") == 0)
		rc = 0;
	cJSON_Delete(o);
	return (rc);
}

/* One upstream line, without its line end. */
static int
bridge_line(struct bridge_sse *s, const char *line, size_t n, struct buf *out)
{
	const char	*v = line + 5, *end = line + n;
	cJSON		*root;
	const cJSON	*e, *choice, *text, *fr;
	int		 rc = 0;

	/* Comments, blank lines, event: and id: lines carry nothing TGI sends. */
	if (s->ended || n < 5 || memcmp(line, "data:", 5) != 0)
		return (0);
	while (v < end && *v == ' ')
		v++;
	if (end - v == 6 && memcmp(v, "[DONE]", 6) == 0)
		return (bridge_final_event(s, out));
	if ((root = cJSON_ParseWithLength(v, (size_t)(end - v))) == NULL)
		return (0);
	if ((e = bridge_get(root, "error")) != NULL && !cJSON_IsNull(e)) {
		rc = bridge_error_event(s, e, out);
		goto done;
	}
	/* One choice: the bridge never asks for more. */
	if ((choice = cJSON_GetArrayItem(bridge_get(root, "choices"), 0)) != NULL) {
		text = bridge_get(choice, "text");
		if (!cJSON_IsString(text))
			text = bridge_get(bridge_get(choice, "delta"), "content");
		if (cJSON_IsString(text) && text->valuestring[0] != '\0' &&
		    (rc = bridge_token_event(s, text->valuestring, out)) == -1)
			goto done;
		fr = bridge_get(choice, "finish_reason");
		if (cJSON_IsString(fr))
			snprintf(s->finish, sizeof(s->finish), "%s", bridge_finish(
			    fr->valuestring, bridge_get(choice, "stop_reason")));
	}
	if (cJSON_IsObject(bridge_get(root, "usage"))) {
		s->tokens = bridge_usage_count(root, "completion_tokens");
		s->prompt_tokens = bridge_usage_count(root, "prompt_tokens");
		s->usage_seen = 1;
	}
done:
	cJSON_Delete(root);
	return (rc);
}

int
bridge_sse_feed(struct bridge_sse *s, const char *data, size_t len, struct buf *out)
{
	const char	*p = data, *end = data + len, *nl, *line;
	size_t		 n;

	if (s->broken)
		return (-1);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (s->line.len + n > BRIDGE_LINE_MAX)
			return (-1);
		if (nl == NULL)
			return (buf_append(&s->line, p, n));
		/* A line in one piece is read where it is. */
		line = p;
		if (s->line.len > 0) {
			if (buf_append(&s->line, p, n) == -1)
				return (-1);
			line = s->line.data;
			n = s->line.len;
		}
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (bridge_line(s, line, n, out) == -1)
			return (-1);
		buf_reset(&s->line);
		p = nl + 1;
	}
	return (0);
}

unsigned long long
bridge_sse_tokens(const struct bridge_sse *s)
{
	return (s->usage_seen ? s->tokens : s->events);
}

void
bridge_sse_free(struct bridge_sse *s)
{
	buf_free(&s->line);
	buf_free(&s->text);
}
