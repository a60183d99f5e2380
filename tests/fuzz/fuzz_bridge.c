/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The bridge (src/bridge.c) that turns 2023 bodies into OpenAI ones and OpenAI answers
 * and streams into TGI's. Properties: no body or answer breaks it, a body it takes
 * becomes a JSON object naming the model; a stream converts to the same events
 * however the upstream's bytes were split into reads, and those are whole events,
 * each one JSON object on a data: line, nothing after the final or error event.
 *
 * Input: byte 0 seeds the read sizes and picks the kind (bit 0: a conversation) and
 * the route (bit 1: /generate); the rest is the 2023 body, a 0x00 byte, then the
 * upstream's answer, which is also fed as its stream.
 */
#include <string.h>

#include <cJSON.h>

#include "bridge.h"
#include "buf.h"
#include "fuzz.h"

/* out holds whole events: "data:" + one JSON object + "\n\n", the final or error
   event (if any) last. */
static void
whole_events(const struct buf *out)
{
	const char	*p, *end, *nl;
	cJSON		*o;
	int		 last = 0;

	if (out->len == 0)
		return;
	p = out->data;
	end = p + out->len;
	while (p < end) {
		FUZZ_CHECK(!last);
		FUZZ_CHECK(end - p > 5 && memcmp(p, "data:", 5) == 0);
		nl = memchr(p, '\n', (size_t)(end - p));
		FUZZ_CHECK(nl != NULL && nl + 1 < end && nl[1] == '\n');
		o = cJSON_ParseWithLength(p + 5, (size_t)(nl - p - 5));
		FUZZ_CHECK(cJSON_IsObject(o));
		last = cJSON_GetObjectItemCaseSensitive(o, "error") != NULL ||
		    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "generated_text"));
		cJSON_Delete(o);
		p = nl + 2;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bridge_how	 how = { BRIDGE_GENERATE, 0, 1, 0 };
	struct bridge_sse	 whole, split;
	struct buf		 req = { 0 }, a = { 0 }, b = { 0 };
	const char		*body, *answer, *zero;
	size_t			 blen, alen, off, n;
	uint32_t		 seed;
	char			 err[256];
	cJSON			*o;

	if (size == 0)
		return (0);
	seed = data[0] | 1u;
	how.kind = (data[0] & 1) ? BRIDGE_CHAT : BRIDGE_GENERATE;
	how.plain = (data[0] >> 1) & 1;
	body = (const char *)data + 1;
	zero = memchr(body, 0, size - 1);
	blen = zero != NULL ? (size_t)(zero - body) : size - 1;
	answer = zero != NULL ? zero + 1 : body + blen;
	alen = size - 1 - blen - (zero != NULL);

	(void)bridge_kind_of(body, blen);
	if (bridge_request(&how, "org/model", body, blen, &req, err, sizeof(err)) == 0) {
		o = cJSON_ParseWithLength(req.data, req.len);
		FUZZ_CHECK(cJSON_IsObject(o));
		FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "model")));
		cJSON_Delete(o);
	} else
		FUZZ_CHECK(strlen(err) < sizeof(err));
	if (bridge_answer(&how, body, blen, answer, alen, &a) == 0) {
		o = cJSON_ParseWithLength(a.data, a.len);
		FUZZ_CHECK(o != NULL);
		cJSON_Delete(o);
	}
	if (bridge_error(400, answer, alen, &a) == 1) {
		o = cJSON_ParseWithLength(a.data, a.len);
		FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "error")));
		cJSON_Delete(o);
	}

	buf_reset(&a);
	FUZZ_CHECK(bridge_sse_init(&whole, &how, body, blen) == 0);
	FUZZ_CHECK(bridge_sse_init(&split, &how, body, blen) == 0);
	FUZZ_CHECK(bridge_sse_feed(&whole, answer, alen, &a) == 0);
	/* Reads of 1 to 64 bytes, with now and then a large one. */
	for (off = 0; off < alen; off += n) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 64 + 1;
		if ((seed >> 8) % 16 == 0)
			n = (seed >> 4) % 100000 + 1;
		if (n > alen - off)
			n = alen - off;
		FUZZ_CHECK(bridge_sse_feed(&split, answer + off, n, &b) == 0);
	}
	FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	FUZZ_CHECK(whole.ended == split.ended);
	FUZZ_CHECK(bridge_sse_tokens(&whole) == bridge_sse_tokens(&split));
	whole_events(&a);

	bridge_sse_free(&whole);
	bridge_sse_free(&split);
	buf_free(&req);
	buf_free(&a);
	buf_free(&b);
	return (0);
}
