/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for canon.c: the canonical JSON form and the cache key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/evp.h>

#include "buf.h"
#include "canon.h"
#include "check_main.h"

static const char *const top_drop[] = { "options", "stream", NULL };

/* The canonical form of s (top-level options/stream dropped), or NULL when not JSON. */
static char *
canon(const char *s)
{
	struct buf	 b = { NULL, 0, 0 };

	if (canon_json(s, strlen(s), top_drop, &b) == -1) {
		buf_free(&b);
		return (NULL);
	}
	return (buf_steal(&b));
}

#define ck_canon(in, want) do {						\
	char	*got_ = canon(in);					\
	ck_assert_msg(got_ != NULL, "rejected: %s", (in));		\
	ck_assert_str_eq(got_, (want));					\
	free(got_);							\
} while (0)

#define ck_reject(in) do {						\
	char	*got_ = canon(in);					\
	ck_assert_msg(got_ == NULL, "accepted: %s -> %s", (in), got_);	\
} while (0)

/* Both texts canonicalise, to the same form (want_eq) or to different forms. */
static void
ck_same(const char *a, const char *b, int want_eq)
{
	char	*x = canon(a), *y = canon(b);

	ck_assert_msg(x != NULL && y != NULL, "rejected: %s | %s", a, b);
	if (want_eq)
		ck_assert_msg(strcmp(x, y) == 0, "%s != %s (%s vs %s)", a, b, x, y);
	else
		ck_assert_msg(strcmp(x, y) != 0, "%s == %s (%s)", a, b, x);
	free(x);
	free(y);
}

static void
key_of(const char *method, const char *target, const char *accept,
    const char *body, uint8_t key[CANON_KEY_LEN])
{
	ck_assert_int_eq(canon_key(method, target, accept, NULL, body,
	    body ? strlen(body) : 0, key), 0);
}

static int
key_eq(const char *body_a, const char *body_b)
{
	uint8_t	 a[CANON_KEY_LEN], b[CANON_KEY_LEN];

	key_of("POST", "https://x/models/m", "", body_a, a);
	key_of("POST", "https://x/models/m", "", body_b, b);
	return (memcmp(a, b, sizeof(a)) == 0);
}

START_TEST(test_key_order_whitespace)
{
	ck_canon("{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}");
	ck_canon(" {\n\t\"b\" : 1 ,\r\n \"a\":[ 1 , 2 ] } \n",
	    "{\"a\":[1,2],\"b\":1}");
	/* Bytewise after unescaping: "\u0061" is "a"; uppercase before lowercase. */
	ck_canon("{\"b\":1,\"\\u0061\":2,\"B\":3}", "{\"B\":3,\"a\":2,\"b\":1}");
	/* A key that is a prefix of another sorts first. */
	ck_canon("{\"ab\":1,\"a\":2}", "{\"a\":2,\"ab\":1}");
	ck_canon("{}", "{}");
	ck_canon("[]", "[]");
	ck_canon(" [ ] ", "[]");
	/* Duplicates: the last one wins. */
	ck_canon("{\"a\":1,\"b\":0,\"a\":2}", "{\"a\":2,\"b\":0}");
	ck_canon("{\"a\":1,\"a\":null}", "{}");
}
END_TEST

START_TEST(test_null_absent)
{
	ck_same("{\"inputs\":\"x\",\"parameters\":{\"top_k\":null}}",
	    "{\"inputs\":\"x\",\"parameters\":{}}", 1);
	ck_same("{\"inputs\":\"x\",\"seed\":null}", "{\"inputs\":\"x\"}", 1);
	/* Nulls inside arrays are positions, not absences. */
	ck_canon("[null,1,null]", "[null,1,null]");
	ck_same("[null,1]", "[1]", 0);
	ck_canon("null", "null");
	/* An empty object is not an absent one. */
	ck_same("{\"p\":{}}", "{}", 0);
}
END_TEST

START_TEST(test_nested)
{
	ck_canon("{\"z\":{\"y\":[{\"b\":true,\"a\":false}],\"x\":\"s\"},"
	    "\"a\":{\"d\":{\"c\":{\"b\":{\"a\":1}}}}}",
	    "{\"a\":{\"d\":{\"c\":{\"b\":{\"a\":1}}}},"
	    "\"z\":{\"x\":\"s\",\"y\":[{\"a\":false,\"b\":true}]}}");
	/* Array order is significant. */
	ck_same("[1,2]", "[2,1]", 0);
	ck_same("{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"c\":2,\"b\":1}}", 1);
}
END_TEST

START_TEST(test_numbers)
{
	ck_canon("1", "1");
	ck_canon("1.0", "1");
	ck_canon("1e0", "1");
	ck_canon("10e-1", "1");
	ck_canon("1E+0", "1");
	ck_canon("100e-2", "1");
	ck_canon("-0", "0");
	ck_canon("-0.0", "0");
	ck_canon("0e5", "0");
	ck_canon("0.5", "0.5");
	ck_canon("5e-1", "0.5");
	ck_canon("-2.50", "-2.5");
	ck_canon("0.1", "0.1");
	ck_canon("1.5e300", "1.5e+300");
	ck_same("1.5", "1.50000001", 0);
	ck_same("0.7", "0.70", 1);
	ck_same("{\"t\":0.7}", "{\"t\":7e-1}", 1);
	ck_same("{\"t\":1}", "{\"t\":1.0}", 1);
	/* u64 seeds stay exact: a double would merge these two. */
	ck_canon("6270333398812658761", "6270333398812658761");
	ck_same("{\"seed\":6270333398812658761}",
	    "{\"seed\":6270333398812658762}", 0);
	ck_canon("18446744073709551615123", "18446744073709551615123");
	ck_canon("-9007199254740993", "-9007199254740993");
	/* Integral doubles of 2^53 and beyond keep the %g form. */
	ck_same("9007199254740993", "9007199254740993.0", 0);
	/* Out of double range: the literal is kept. */
	ck_canon("1e400", "1e400");
	/* Grammar. */
	ck_reject("01");
	ck_reject("-");
	ck_reject("1.");
	ck_reject(".5");
	ck_reject("1e");
	ck_reject("+1");
	ck_reject("0x10");
	ck_reject("NaN");
	ck_reject("Infinity");
	ck_reject("-01");
}
END_TEST

START_TEST(test_strings)
{
	ck_same("\"\\u00e9\"", "\"\xc3\xa9\"", 1);
	ck_canon("\"\\u00e9\"", "\"\xc3\xa9\"");
	ck_same("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"", 1);
	ck_canon("\"\\uD83D\\uDE00\"", "\"\xf0\x9f\x98\x80\"");
	ck_canon("\"\\/\"", "\"/\"");
	ck_canon("\"a\\u0022b\\u005c\"", "\"a\\\"b\\\\\"");
	ck_canon("\"\\u000a\\n\\t\\u0001\\u001F\"", "\"\\n\\n\\t\\u0001\\u001f\"");
	ck_canon("\"\\b\\f\\r\"", "\"\\b\\f\\r\"");
	ck_canon("\"\\u0000x\"", "\"\\u0000x\"");
	ck_canon("\"\"", "\"\"");
	ck_same("\"a\"", "\"A\"", 0);
	ck_same("{\"inputs\":\"caf\\u00e9\"}", "{\"inputs\":\"caf\xc3\xa9\"}", 1);
	/* Invalid escapes and encodings. */
	ck_reject("\"\\x41\"");
	ck_reject("\"\\u12\"");
	ck_reject("\"\\u12G4\"");
	ck_reject("\"\\ud83d\"");		/* lone high surrogate */
	ck_reject("\"\\ude00\"");		/* lone low surrogate */
	ck_reject("\"\\ud83dx\"");
	ck_reject("\"\\ud83d\\u0041\"");
	ck_reject("\"a\nb\"");			/* raw control character */
	ck_reject("\"\xc3\"");			/* truncated UTF-8 */
	ck_reject("\"\xc0\xaf\"");		/* overlong */
	ck_reject("\"\xed\xa0\xbd\"");		/* UTF-8 encoded surrogate */
	ck_reject("\"\xf4\x90\x80\x80\"");	/* above U+10FFFF */
	ck_reject("\"\xff\"");
	ck_reject("\"abc");
	ck_reject("\"abc\\");
}
END_TEST

START_TEST(test_invalid)
{
	char	 deep[300];
	size_t	 i;

	ck_reject("");
	ck_reject("   ");
	ck_reject("{");
	ck_reject("{\"a\"}");
	ck_reject("{\"a\":}");
	ck_reject("{\"a\":1,}");
	ck_reject("{a:1}");
	ck_reject("{'a':1}");
	ck_reject("[1,]");
	ck_reject("[1 2]");
	ck_reject("{\"a\":1}}");
	ck_reject("{\"a\":1} x");
	ck_reject("{\"a\":1}{}");
	ck_reject("tru");
	ck_reject("nul");
	ck_reject("True");
	ck_reject("[1]\x01");
	ck_reject("\x89PNG\r\n");
	/* Depth: 64 levels parse, 65 do not. */
	for (i = 0; i < 64; i++)
		deep[i] = '[';
	for (i = 0; i < 64; i++)
		deep[64 + i] = ']';
	deep[128] = '\0';
	ck_canon(deep, deep);
	memmove(deep + 1, deep, 129);
	deep[0] = '[';
	deep[129] = ']';
	deep[130] = '\0';
	ck_reject(deep);
}
END_TEST

START_TEST(test_append_and_restore)
{
	struct buf	 b = { NULL, 0, 0 };

	/* canon_json appends; a failure leaves out as it was. */
	ck_assert_int_eq(buf_append_str(&b, "pre:"), 0);
	ck_assert_int_eq(canon_json("{\"a\" : 1}", 9, NULL, &b), 0);
	ck_assert_str_eq(b.data, "pre:{\"a\":1}");
	ck_assert_int_eq(canon_json("{\"a\" : [1, {\"b\":", 15, NULL, &b), -1);
	ck_assert_str_eq(b.data, "pre:{\"a\":1}");
	ck_assert_uint_eq(b.len, strlen("pre:{\"a\":1}"));
	/* Only len bytes are read. */
	buf_reset(&b);
	ck_assert_int_eq(canon_json("[1]garbage", 3, NULL, &b), 0);
	ck_assert_str_eq(b.data, "[1]");
	buf_free(&b);
}
END_TEST

START_TEST(test_drop_top_level)
{
	ck_canon("{\"inputs\":\"x\",\"options\":{\"wait_for_model\":true},"
	    "\"stream\":true}", "{\"inputs\":\"x\"}");
	/* Nested "options"/"stream" are parameters, kept. */
	ck_canon("{\"parameters\":{\"stream\":true,\"options\":[1]}}",
	    "{\"parameters\":{\"options\":[1],\"stream\":true}}");
	ck_canon("[{\"stream\":true}]", "[{\"stream\":true}]");
	/* Without a drop list nothing is dropped. */
	{
		struct buf	 b = { NULL, 0, 0 };

		ck_assert_int_eq(canon_json("{\"stream\":false}", 16, NULL, &b), 0);
		ck_assert_str_eq(b.data, "{\"stream\":false}");
		buf_free(&b);
	}
}
END_TEST

START_TEST(test_key_equivalent)
{
	ck_assert(key_eq("{\"inputs\":\"hi\",\"parameters\":{\"a\":1,\"b\":2.0}}",
	    " { \"parameters\" : { \"b\" : 2 , \"a\" : 1e0 , \"c\" : null } ,"
	    "\"inputs\" : \"h\\u0069\", \"options\": {\"use_cache\": true},"
	    " \"stream\": false }"));
	ck_assert(key_eq("{\"inputs\":\"x\",\"stream\":true}", "{\"inputs\":\"x\"}"));
	/* The example of docs/cache.md. */
	ck_assert(key_eq("{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
	    "\"top_k\":null},\"options\":{\"wait_for_model\":true}}",
	    "{ \"parameters\": { \"temperature\": 7e-1 }, \"inputs\": \"h\\u0069\", "
	    "\"stream\": false }"));
	/* Keys are stable across calls. */
	ck_assert(key_eq("{\"a\":1}", "{\"a\":1}"));
}
END_TEST

START_TEST(test_key_differs)
{
	static const char	*base = "{\"inputs\":\"hi\",\"parameters\":"
	    "{\"temperature\":0.7,\"seed\":6270333398812658761,\"max_new_tokens\":20}}";
	static const char	*changed[] = {
		"{\"inputs\":\"hi \",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":20}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.71,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":20}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658762,\"max_new_tokens\":20}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":21}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":20,"
		    "\"top_k\":5}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":\"20\"}}",
		"{\"inputs\":[\"hi\"],\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":20}}",
		"{\"inputs\":\"hi\",\"parameters\":{\"temperature\":0.7,"
		    "\"seed\":6270333398812658761,\"max_new_tokens\":20},"
		    "\"extra\":false}",
		NULL
	};
	uint8_t		 a[CANON_KEY_LEN], b[CANON_KEY_LEN];
	size_t		 i;

	for (i = 0; changed[i] != NULL; i++)
		ck_assert_msg(!key_eq(base, changed[i]), "same key: %s", changed[i]);

	key_of("POST", "https://x/models/m", "", base, a);
	key_of("GET", "https://x/models/m", "", base, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	key_of("POST", "https://x/models/m2", "", base, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	key_of("POST", "https://x/models/m", "image/png", base, b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	key_of("POST", "https://x/models/m", NULL, base, b);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	/* Length prefixes: moving bytes between fields changes the key. */
	key_of("POST", "ab", "c", "{}", a);
	key_of("POST", "a", "bc", "{}", b);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

START_TEST(test_key_binary)
{
	static const char	 png1[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
	static const char	 png2[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDS";
	uint8_t			 a[CANON_KEY_LEN], b[CANON_KEY_LEN];
	char			 hex[2 * CANON_KEY_LEN + 1];

	ck_assert_int_eq(canon_key("POST", "t", "", NULL, png1, sizeof(png1) - 1, a), 0);
	ck_assert_int_eq(canon_key("POST", "t", "", NULL, png2, sizeof(png2) - 1, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	/* Raw: bytes after a NUL count, and a trailing byte changes the key. */
	ck_assert_int_eq(canon_key("POST", "t", "", NULL, png1, sizeof(png1), b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	/* Raw bodies are not normalised: whitespace in a non-JSON body matters. */
	ck_assert(!key_eq("hello world", "hello  world"));
	ck_assert(!key_eq("{\"a\":1", "{\"a\": 1"));
	/* An empty body and a NULL one are the same request. */
	ck_assert_int_eq(canon_key("GET", "t", "", NULL, NULL, 0, a), 0);
	ck_assert_int_eq(canon_key("GET", "t", "", NULL, "", 0, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);

	canon_hex(a, hex);
	ck_assert_uint_eq(strlen(hex), 64);
	ck_assert_uint_eq(strspn(hex, "0123456789abcdef"), 64);
}
END_TEST

START_TEST(test_hex)
{
	uint8_t	 k[CANON_KEY_LEN];
	char	 hex[2 * CANON_KEY_LEN + 1];
	size_t	 i;

	for (i = 0; i < CANON_KEY_LEN; i++)
		k[i] = (uint8_t)(i * 8 + 7);
	canon_hex(k, hex);
	ck_assert_str_eq(hex,
	    "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}
END_TEST

/* Appends the recipe's encoding of one field: 8-byte big-endian length, bytes. */
static void
field(struct buf *b, const char *s, size_t len)
{
	unsigned char	 n[8];
	int		 i;

	for (i = 7; i >= 0; i--, len >>= 8)
		n[i] = (unsigned char)(len & 0xff);
	ck_assert_int_eq(buf_append(b, n, 8), 0);
	ck_assert_int_eq(buf_append(b, s, strlen(s)), 0);
}

START_TEST(test_key_recipe)
{
	struct buf	 b = { NULL, 0, 0 };
	uint8_t		 k[CANON_KEY_LEN], want[CANON_KEY_LEN];
	unsigned int	 wlen;

	/* The key is SHA-256 over the documented recipe (docs/cache.md). */
	field(&b, "hfgate-cache-key-1", 18);
	field(&b, "POST", 4);
	field(&b, "https://x/models/m", 18);
	field(&b, "application/json", 16);
	field(&b, "J", 1);
	field(&b, "{\"a\":1,\"b\":[0.5]}", 17);
	ck_assert_int_eq(EVP_Digest(b.data, b.len, want, &wlen, EVP_sha256(),
	    NULL), 1);
	ck_assert_int_eq(canon_key("POST", "https://x/models/m", "application/json",
	    NULL, " {\"b\": [5e-1], \"a\": 1.0, \"stream\": true}", 40, k), 0);
	ck_assert(memcmp(k, want, sizeof(k)) == 0);

	buf_reset(&b);
	field(&b, "hfgate-cache-key-1", 18);
	field(&b, "POST", 4);
	field(&b, "t", 1);
	field(&b, "", 0);
	field(&b, "R", 1);
	field(&b, "not json", 8);
	ck_assert_int_eq(EVP_Digest(b.data, b.len, want, &wlen, EVP_sha256(),
	    NULL), 1);
	ck_assert_int_eq(canon_key("POST", "t", NULL, NULL, "not json", 8, k), 0);
	ck_assert(memcmp(k, want, sizeof(k)) == 0);
	/* An empty scope is the shared key. */
	ck_assert_int_eq(canon_key("POST", "t", NULL, "", "not json", 8, k), 0);
	ck_assert(memcmp(k, want, sizeof(k)) == 0);

	/* [cache] per_client: "@name" between Accept and the form. */
	buf_reset(&b);
	field(&b, "hfgate-cache-key-1", 18);
	field(&b, "POST", 4);
	field(&b, "t", 1);
	field(&b, "", 0);
	field(&b, "@team-a", 7);
	field(&b, "R", 1);
	field(&b, "not json", 8);
	ck_assert_int_eq(EVP_Digest(b.data, b.len, want, &wlen, EVP_sha256(),
	    NULL), 1);
	ck_assert_int_eq(canon_key("POST", "t", NULL, "team-a", "not json", 8, k), 0);
	ck_assert(memcmp(k, want, sizeof(k)) == 0);
	buf_free(&b);
}
END_TEST

/* What canon_body says of s, and its canonical form (NULL for a raw body). */
static int
body_form(const char *s, char **cj)
{
	struct buf	 b = { NULL, 0, 0 };
	int		 form;

	form = canon_body(s, strlen(s), &b);
	*cj = form == CANON_FORM_RAW ? NULL : buf_steal(&b);
	buf_free(&b);
	return (form);
}

START_TEST(test_body_forms)
{
	static const char *const dups[] = {
		"{\"parameters\":{\"do_sample\":false,\"do_sample\":true}}",
		"{\"parameters\":{\"seed\":1},\"inputs\":\"x\",\"parameters\":{}}",
		"{\"a\":null,\"a\":1}",
		"{\"stream\":true,\"stream\":false}",
		"[{\"x\":{\"y\":[{\"k\":1,\"k\":1}]}}]",
		/* The same name once escaped, once not. */
		"{\"inputs\":\"x\",\"\\u0069nputs\":\"y\"}",
	};
	static const char body[] = " {\"b\": [5e-1], \"a\": 1.0, \"stream\": true}";
	char		*cj;
	size_t		 i;
	uint8_t		 a[CANON_KEY_LEN], b[CANON_KEY_LEN];

	for (i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		ck_assert_msg(body_form(dups[i], &cj) == CANON_FORM_DUPS, "%s", dups[i]);
		free(cj);
	}
	ck_assert_int_eq(body_form("{\"b\":1,\"a\":{\"b\":1},\"stream\":true}", &cj),
	    CANON_FORM_JSON);
	ck_assert_str_eq(cj, "{\"a\":{\"b\":1},\"b\":1}");
	free(cj);
	/* The same member name in two objects is no duplicate. */
	ck_assert_int_eq(body_form("[{\"a\":1},{\"a\":1}]", &cj), CANON_FORM_JSON);
	free(cj);
	ck_assert_int_eq(body_form("{\"a\":{\"a\":1}}", &cj), CANON_FORM_JSON);
	free(cj);
	ck_assert_int_eq(body_form("not json", &cj), CANON_FORM_RAW);
	ck_assert_ptr_null(cj);
	ck_assert_int_eq(body_form("{\"a\":01}", &cj), CANON_FORM_RAW);

	/* canon_key is canon_body then canon_key_form. */
	ck_assert_int_eq(body_form(body, &cj), CANON_FORM_JSON);
	ck_assert_int_eq(canon_key_form("POST", "t", "x", NULL, CANON_FORM_JSON, cj,
	    strlen(cj), a), 0);
	ck_assert_int_eq(canon_key("POST", "t", "x", NULL, body, strlen(body), b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	free(cj);
	ck_assert_int_eq(canon_key_form("POST", "t", "x", "team-a", CANON_FORM_RAW,
	    "\x89PNG", 4, a), 0);
	ck_assert_int_eq(canon_key("POST", "t", "x", "team-a", "\x89PNG", 4, b), 0);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("canon");
	TCase	*tc = tcase_create("json");

	tcase_add_test(tc, test_key_order_whitespace);
	tcase_add_test(tc, test_null_absent);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_append_and_restore);
	tcase_add_test(tc, test_drop_top_level);
	suite_add_tcase(s, tc);
	tc = tcase_create("key");
	tcase_add_test(tc, test_key_equivalent);
	tcase_add_test(tc, test_key_differs);
	tcase_add_test(tc, test_key_binary);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_key_recipe);
	tcase_add_test(tc, test_body_forms);
	suite_add_tcase(s, tc);
	return (s);
}
