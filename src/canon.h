/* SPDX-License-Identifier: BSD-2-Clause */
/* canon.c: the cache key: SHA-256 of a canonical form of a request (docs/cache.md). */
#ifndef HFGATE_CANON_H
#define HFGATE_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define CANON_KEY_LEN	32	/* SHA-256 */

/*
 * Writes the canonical form of a JSON text to out: objects with their keys sorted
 * (bytewise, after unescaping), no insignificant whitespace, strings re-escaped one way
 * (only '"', '\\' and control characters escaped; \uXXXX of other characters and
 * surrogate pairs decoded to UTF-8), numbers in one form (an integer written exactly as
 * its digits, whatever its size, so u64 seeds never collide; "-0" as "0"; a number with a
 * fraction or exponent as the shortest "%.17g" round-trip of its double, and as an
 * integer when that double is integral and below 2^53: 1.0, 1e0 and 1 are the same),
 * and object members whose value is null dropped (a null parameter equals an absent
 * one). At the top level only, the members named in drop[] (NULL-terminated, e.g.
 * "options", "stream") are left out. Returns 0, or -1 when the text is not JSON.
 */
int	 canon_json(const char *json, size_t len, const char *const drop[], struct buf *out);

/*
 * Reads a request body once, for the cache key and for the cache's policy alike
 * (docs/cache.md): out gets the canonical form the key hashes (canon_json with drop =
 * {"options", "stream", NULL}). Returns what the body is:
 */
#define CANON_FORM_JSON	0	/* JSON: out holds its canonical form */
#define CANON_FORM_DUPS	1	/* JSON in which an object names a member twice: out holds
				   the canonical form with the last of each, but parsers
				   differ on such a body (it is never cached) */
#define CANON_FORM_RAW	2	/* not JSON: out is left as it was, the key covers the raw
				   bytes */
/* or -1 (out of memory). */
int	 canon_body(const char *body, size_t len, struct buf *out);

/*
 * The cache key of a request: SHA-256 (libcrypto) over the method, the upstream target
 * (resolved URL), the Accept header (or ""), and the body: its canonical JSON form when
 * it is JSON (canon_json with drop = {"options", "stream", NULL}), else the raw bytes.
 * With a scope (a client's name, [cache] per_client), "@" and the scope is one more
 * field; without one (NULL or ""), the key is the shared key. Fields are
 * length-prefixed so no two requests share an encoding. Returns 0, or -1 on
 * allocation failure.
 */
int	 canon_key(const char *method, const char *target, const char *accept,
	    const char *scope, const char *body, size_t len, uint8_t key[CANON_KEY_LEN]);
/* The same key from a body canon_body already read: form is what it returned, data
   the canonical form (CANON_FORM_JSON, _DUPS) or the raw body (CANON_FORM_RAW). */
int	 canon_key_form(const char *method, const char *target, const char *accept,
	    const char *scope, int form, const char *data, size_t len,
	    uint8_t key[CANON_KEY_LEN]);
/* Frees the calling thread's digest context (at thread exit). */
void	 canon_thread_free(void);
/* Lowercase hex of a key into hex[2 * CANON_KEY_LEN + 1]. */
void	 canon_hex(const uint8_t key[CANON_KEY_LEN], char *hex);

#endif
