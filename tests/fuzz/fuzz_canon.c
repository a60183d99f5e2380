/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The cache key's JSON canonicaliser (src/canon.c). Properties: the canonical form is
 * a fixed point (canonical again, it does not change), leaving out the top-level
 * members canon_key drops commutes with canonicalising, and a body and its canonical
 * form have the same cache key.
 */
#include <string.h>

#include "buf.h"
#include "canon.h"
#include "fuzz.h"

static const char *const drop[] = { "options", "stream", NULL };

/* 1 when a and b hold the same bytes. */
static int
same(const struct buf *a, const struct buf *b)
{
	return (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*body = (const char *)data;
	struct buf	 c1 = { 0 }, c2 = { 0 }, d1 = { 0 }, d2 = { 0 }, d3 = { 0 };
	uint8_t		 k1[CANON_KEY_LEN], k2[CANON_KEY_LEN];

	if (canon_json(body, size, NULL, &c1) == 0) {
		FUZZ_CHECK(canon_json(c1.data, c1.len, NULL, &c2) == 0);
		FUZZ_CHECK(same(&c1, &c2));

		FUZZ_CHECK(canon_json(body, size, drop, &d1) == 0);
		FUZZ_CHECK(canon_json(c1.data, c1.len, drop, &d2) == 0);
		FUZZ_CHECK(same(&d1, &d2));
		FUZZ_CHECK(canon_json(d1.data, d1.len, drop, &d3) == 0);
		FUZZ_CHECK(same(&d1, &d3));

		FUZZ_CHECK(canon_key("POST", "/models/m", "application/json", NULL,
		    body, size, k1) == 0);
		FUZZ_CHECK(canon_key("POST", "/models/m", "application/json", NULL,
		    c1.data, c1.len, k2) == 0);
		FUZZ_CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
	} else
		FUZZ_CHECK(canon_key("POST", "/models/m", NULL, "team", body, size,
		    k1) == 0);
	buf_free(&c1);
	buf_free(&c2);
	buf_free(&d1);
	buf_free(&d2);
	buf_free(&d3);
	return (0);
}
