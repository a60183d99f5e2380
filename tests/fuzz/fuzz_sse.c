/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The event-stream scanner (src/sse.c) that decides where hfgate may add an event or
 * a heartbeat and whether a TGI or OpenAI-style stream ended. Properties: what it
 * concludes does not depend on how the bytes were split into reads, and after an
 * error event hfgate adds, the stream is at an event boundary and complete.
 *
 * Input: byte 0 seeds the read sizes; when its low bit is set, the first 0x01 byte of
 * the rest stands for a 70,000-byte run of 'a', so that lines over the scanner's
 * 64 KiB line cap are reached with small inputs.
 */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sse.h"

#define LONG_RUN	70000

static void
same_scan(const struct sse_scan *a, const struct sse_scan *b)
{
	FUZZ_CHECK(a->saw_final == b->saw_final);
	FUZZ_CHECK(a->saw_error == b->saw_error);
	FUZZ_CHECK(a->generated_tokens == b->generated_tokens);
	FUZZ_CHECK(sse_scan_at_boundary(a) == sse_scan_at_boundary(b));
	FUZZ_CHECK(sse_scan_complete(a) == sse_scan_complete(b));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse_scan	 whole = { 0 }, split = { 0 };
	struct buf	 in = { 0 }, out = { 0 };
	const uint8_t	*one;
	uint32_t	 seed;
	size_t		 off, n;

	if (size == 0)
		return (0);
	seed = data[0] | 1u;
	data++;
	size--;
	one = (seed & 2) ? memchr(data, 0x01, size) : NULL;
	if (one != NULL) {
		FUZZ_CHECK(buf_append(&in, data, (size_t)(one - data)) == 0);
		while (in.len < (size_t)(one - data) + LONG_RUN)
			FUZZ_CHECK(buf_append_str(&in, "aaaaaaaaaaaaaaaa") == 0);
		FUZZ_CHECK(buf_append(&in, one + 1, size - (size_t)(one - data) - 1) == 0);
	} else
		FUZZ_CHECK(buf_append(&in, data, size) == 0);

	FUZZ_CHECK(sse_scan_feed(&whole, in.data, in.len) == 0);
	/* Reads of 1 to 64 bytes, with now and then a large one. */
	for (off = 0; off < in.len; off += n) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 64 + 1;
		if ((seed >> 8) % 16 == 0)
			n = (seed >> 4) % 100000 + 1;
		if (n > in.len - off)
			n = in.len - off;
		FUZZ_CHECK(sse_scan_feed(&split, in.data + off, n) == 0);
	}
	same_scan(&whole, &split);

	FUZZ_CHECK(sse_error_event(&out, &whole, "upstream \"cut\"\n", "stream") == 0);
	FUZZ_CHECK(sse_scan_at_boundary(&whole));
	FUZZ_CHECK(sse_scan_complete(&whole));
	FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
	FUZZ_CHECK(sse_heartbeat(&out, &whole) == 0);
	FUZZ_CHECK(sse_scan_at_boundary(&whole));

	sse_scan_free(&whole);
	sse_scan_free(&split);
	buf_free(&in);
	buf_free(&out);
	return (0);
}
