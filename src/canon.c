/* SPDX-License-Identifier: BSD-2-Clause */
/* canon.c: the cache key: SHA-256 of a canonical form of a request (docs/cache.md). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "canon.h"
#include "digest.h"

#define CANON_MAX_DEPTH	64

/* Parse results: not JSON is distinguished from allocation failure for canon_key. */
#define CANON_BAD	-1
#define CANON_NOMEM	-2

/* Bumped whenever the recipe changes, so old entries simply stop matching. */
#define CANON_VERSION	"hfgate-cache-key-1"

struct canon_parser {
	const char	*p;
	const char	*end;
	int		 depth;
	int		 dups;		/* an object named a member twice */
};

/* One object member: key unescaped, value in canonical form; idx keeps the source order. */
struct canon_member {
	char		*key;
	size_t		 klen;
	struct buf	 val;
	size_t		 idx;
	int		 isnull;
};

static int	 canon_value(struct canon_parser *, struct buf *, int *,
		    const char *const []);

static void
canon_ws(struct canon_parser *cp)
{
	while (cp->p < cp->end && (*cp->p == ' ' || *cp->p == '\t' ||
	    *cp->p == '\n' || *cp->p == '\r'))
		cp->p++;
}

static int
canon_lit(struct canon_parser *cp, const char *lit, struct buf *out)
{
	size_t	 n = strlen(lit);

	if ((size_t)(cp->end - cp->p) < n || memcmp(cp->p, lit, n) != 0)
		return (CANON_BAD);
	cp->p += n;
	return (buf_append(out, lit, n) == -1 ? CANON_NOMEM : 0);
}

static int
canon_hex4(const char *p, unsigned *v)
{
	int	 i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= (unsigned)(p[i] - 'A' + 10);
		else
			return (-1);
	}
	return (0);
}

static int
canon_put_utf8(struct buf *b, unsigned cp)
{
	char	 u[4];
	size_t	 n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return (buf_append(b, u, n));
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one.
 */
static size_t
canon_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t	 n, i;
	unsigned cp, min;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return (0);
	if ((size_t)(end - p) < n)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

/* Reads a string (cp->p on the opening quote) into raw, unescaped and validated. */
static int
canon_string(struct canon_parser *cp, struct buf *raw)
{
	const char	*run;
	unsigned	 u, lo;
	size_t		 n;

	cp->p++;
	for (;;) {
		/* Copy runs of plain bytes at once. */
		run = cp->p;
		while (cp->p < cp->end && *cp->p != '"' && *cp->p != '\\') {
			if ((unsigned char)*cp->p < 0x20)
				return (CANON_BAD);
			n = canon_utf8_len((const unsigned char *)cp->p,
			    (const unsigned char *)cp->end);
			if (n == 0)
				return (CANON_BAD);
			cp->p += n;
		}
		if (cp->p > run && buf_append(raw, run, (size_t)(cp->p - run)) == -1)
			return (CANON_NOMEM);
		if (cp->p >= cp->end)
			return (CANON_BAD);
		if (*cp->p == '"') {
			cp->p++;
			return (0);
		}
		/* A backslash escape. */
		if (cp->end - cp->p < 2)
			return (CANON_BAD);
		cp->p++;
		switch (*cp->p++) {
		case '"':	u = '"'; break;
		case '\\':	u = '\\'; break;
		case '/':	u = '/'; break;
		case 'b':	u = '\b'; break;
		case 'f':	u = '\f'; break;
		case 'n':	u = '\n'; break;
		case 'r':	u = '\r'; break;
		case 't':	u = '\t'; break;
		case 'u':
			if (cp->end - cp->p < 4 || canon_hex4(cp->p, &u) == -1)
				return (CANON_BAD);
			cp->p += 4;
			if (u >= 0xdc00 && u <= 0xdfff)
				return (CANON_BAD);	/* a lone low surrogate */
			if (u >= 0xd800 && u <= 0xdbff) {
				/* Must be followed by \u and a low surrogate. */
				if (cp->end - cp->p < 6 || cp->p[0] != '\\' ||
				    cp->p[1] != 'u' ||
				    canon_hex4(cp->p + 2, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return (CANON_BAD);
				cp->p += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			}
			break;
		default:
			return (CANON_BAD);
		}
		if (canon_put_utf8(raw, u) == -1)
			return (CANON_NOMEM);
	}
}

/* Writes s quoted, escaping only '"', '\\' and the control characters. */
static int
canon_emit_string(struct buf *out, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*run = s, *end = s + len;
	char			 esc[7];
	size_t			 n;
	unsigned char		 c;

	if (buf_append(out, "\"", 1) == -1)
		return (CANON_NOMEM);
	for (; s < end; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (s > run && buf_append(out, run, (size_t)(s - run)) == -1)
			return (CANON_NOMEM);
		run = s + 1;
		esc[0] = '\\';
		n = 2;
		switch (c) {
		case '"':	esc[1] = '"'; break;
		case '\\':	esc[1] = '\\'; break;
		case '\b':	esc[1] = 'b'; break;
		case '\f':	esc[1] = 'f'; break;
		case '\n':	esc[1] = 'n'; break;
		case '\r':	esc[1] = 'r'; break;
		case '\t':	esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
			break;
		}
		if (buf_append(out, esc, n) == -1)
			return (CANON_NOMEM);
	}
	if (s > run && buf_append(out, run, (size_t)(s - run)) == -1)
		return (CANON_NOMEM);
	return (buf_append(out, "\"", 1) == -1 ? CANON_NOMEM : 0);
}

static int
canon_digits(struct canon_parser *cp)
{
	const char	*start = cp->p;

	while (cp->p < cp->end && *cp->p >= '0' && *cp->p <= '9')
		cp->p++;
	return (cp->p > start ? 0 : -1);
}

/*
 * An integer literal is kept as its digits (the grammar already forbids leading
 * zeros), so integers beyond 2^53 stay exact. Anything with a fraction or an exponent
 * goes through its double: integral values below 2^53 print as integers, the rest as
 * the shortest %.*g that reads back the same double. Assumes the C locale for the
 * decimal point (hfgate never calls setlocale).
 */
static int
canon_number(struct canon_parser *cp, struct buf *out)
{
	const char	*start = cp->p;
	char		 tmp[64], *lit, *end;
	size_t		 len;
	double		 d;
	int		 isint = 1, prec, rv;

	if (*cp->p == '-')
		cp->p++;
	if (cp->p < cp->end && *cp->p == '0')
		cp->p++;
	else if (canon_digits(cp) == -1)
		return (CANON_BAD);
	if (cp->p < cp->end && *cp->p == '.') {
		cp->p++;
		isint = 0;
		if (canon_digits(cp) == -1)
			return (CANON_BAD);
	}
	if (cp->p < cp->end && (*cp->p == 'e' || *cp->p == 'E')) {
		cp->p++;
		isint = 0;
		if (cp->p < cp->end && (*cp->p == '+' || *cp->p == '-'))
			cp->p++;
		if (canon_digits(cp) == -1)
			return (CANON_BAD);
	}
	len = (size_t)(cp->p - start);
	if (isint) {
		if (len == 2 && memcmp(start, "-0", 2) == 0)
			return (buf_append(out, "0", 1) == -1 ? CANON_NOMEM : 0);
		return (buf_append(out, start, len) == -1 ? CANON_NOMEM : 0);
	}

	/* strtod needs a terminated string; the input is not. */
	if ((lit = strndup(start, len)) == NULL)
		return (CANON_NOMEM);
	d = strtod(lit, &end);
	if (*end != '\0' || !isfinite(d)) {
		/* Out of double range: keep the literal, a miss is the safe side. */
		rv = buf_append(out, lit, len) == -1 ? CANON_NOMEM : 0;
		free(lit);
		return (rv);
	}
	free(lit);
	if (d == 0)
		return (buf_append(out, "0", 1) == -1 ? CANON_NOMEM : 0);
	if (fabs(d) < 9007199254740992.0 && d == (double)(long long)d)
		return (buf_printf(out, "%lld", (long long)d) == -1 ?
		    CANON_NOMEM : 0);
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return (buf_append_str(out, tmp) == -1 ? CANON_NOMEM : 0);
}

static int
canon_member_cmp(const void *a, const void *b)
{
	const struct canon_member	*x = a, *y = b;
	int				 c;

	c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
	if (c != 0)
		return (c);
	if (x->klen != y->klen)
		return (x->klen < y->klen ? -1 : 1);
	/* Same key: source order, so the last duplicate sorts last. */
	return (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int
canon_dropped(const struct canon_member *m, const char *const drop[])
{
	size_t	 i;

	if (m->isnull)
		return (1);
	for (i = 0; drop != NULL && drop[i] != NULL; i++)
		if (strlen(drop[i]) == m->klen &&
		    memcmp(drop[i], m->key, m->klen) == 0)
			return (1);
	return (0);
}

static void
canon_members_free(struct canon_member *ms, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(ms[i].key);
		buf_free(&ms[i].val);
	}
	free(ms);
}

/* An object (cp->p on '{'): members collected, sorted, deduplicated, then written. */
static int
canon_object(struct canon_parser *cp, struct buf *out, const char *const drop[])
{
	struct canon_member	*ms = NULL, *nms, *m;
	struct buf		 key = { NULL, 0, 0 };
	size_t			 n = 0, cap = 0, i;
	int			 rv, first = 1;

	cp->p++;
	canon_ws(cp);
	if (cp->p < cp->end && *cp->p == '}') {
		cp->p++;
		goto emit;
	}
	for (;;) {
		canon_ws(cp);
		if (cp->p >= cp->end || *cp->p != '"') {
			rv = CANON_BAD;
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nms = reallocarray(ms, cap, sizeof(*ms))) == NULL) {
				rv = CANON_NOMEM;
				goto fail;
			}
			ms = nms;
		}
		m = &ms[n];
		memset(m, 0, sizeof(*m));
		m->idx = n++;
		buf_reset(&key);
		if ((rv = canon_string(cp, &key)) != 0)
			goto fail;
		m->klen = key.len;
		if ((m->key = buf_steal(&key)) == NULL) {
			rv = CANON_NOMEM;
			goto fail;
		}
		canon_ws(cp);
		if (cp->p >= cp->end || *cp->p != ':') {
			rv = CANON_BAD;
			goto fail;
		}
		cp->p++;
		if ((rv = canon_value(cp, &m->val, &m->isnull, NULL)) != 0)
			goto fail;
		canon_ws(cp);
		if (cp->p < cp->end && *cp->p == ',') {
			cp->p++;
			continue;
		}
		if (cp->p < cp->end && *cp->p == '}') {
			cp->p++;
			break;
		}
		rv = CANON_BAD;
		goto fail;
	}
	qsort(ms, n, sizeof(*ms), canon_member_cmp);

 emit:
	if (buf_append(out, "{", 1) == -1) {
		rv = CANON_NOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		m = &ms[i];
		/* Duplicates: only the last one counts (canon_body reports them). */
		if (i + 1 < n && m->klen == ms[i + 1].klen &&
		    memcmp(m->key, ms[i + 1].key, m->klen) == 0) {
			cp->dups = 1;
			continue;
		}
		if (canon_dropped(m, drop))
			continue;
		if ((!first && buf_append(out, ",", 1) == -1) ||
		    canon_emit_string(out, m->key, m->klen) != 0 ||
		    buf_append(out, ":", 1) == -1 ||
		    buf_append(out, m->val.data, m->val.len) == -1) {
			rv = CANON_NOMEM;
			goto fail;
		}
		first = 0;
	}
	rv = buf_append(out, "}", 1) == -1 ? CANON_NOMEM : 0;
 fail:
	buf_free(&key);
	canon_members_free(ms, n);
	return (rv);
}

static int
canon_array(struct canon_parser *cp, struct buf *out)
{
	int	 isnull, rv;

	cp->p++;
	if (buf_append(out, "[", 1) == -1)
		return (CANON_NOMEM);
	canon_ws(cp);
	if (cp->p < cp->end && *cp->p == ']') {
		cp->p++;
		return (buf_append(out, "]", 1) == -1 ? CANON_NOMEM : 0);
	}
	for (;;) {
		/* Nulls stay in arrays: positions matter. */
		if ((rv = canon_value(cp, out, &isnull, NULL)) != 0)
			return (rv);
		canon_ws(cp);
		if (cp->p < cp->end && *cp->p == ',') {
			cp->p++;
			if (buf_append(out, ",", 1) == -1)
				return (CANON_NOMEM);
			continue;
		}
		if (cp->p < cp->end && *cp->p == ']') {
			cp->p++;
			return (buf_append(out, "]", 1) == -1 ? CANON_NOMEM : 0);
		}
		return (CANON_BAD);
	}
}

/* One value, surrounding whitespace included; *isnull tells the object it was null. */
static int
canon_value(struct canon_parser *cp, struct buf *out, int *isnull,
    const char *const drop[])
{
	struct buf	 raw = { NULL, 0, 0 };
	int		 rv;

	*isnull = 0;
	canon_ws(cp);
	if (cp->p >= cp->end)
		return (CANON_BAD);
	switch (*cp->p) {
	case '{':
	case '[':
		if (cp->depth >= CANON_MAX_DEPTH)
			return (CANON_BAD);
		cp->depth++;
		rv = *cp->p == '{' ? canon_object(cp, out, drop) :
		    canon_array(cp, out);
		cp->depth--;
		return (rv);
	case '"':
		if ((rv = canon_string(cp, &raw)) == 0)
			rv = canon_emit_string(out, raw.data ? raw.data : "",
			    raw.len);
		buf_free(&raw);
		return (rv);
	case 't':
		return (canon_lit(cp, "true", out));
	case 'f':
		return (canon_lit(cp, "false", out));
	case 'n':
		*isnull = 1;
		return (canon_lit(cp, "null", out));
	default:
		if (*cp->p == '-' || (*cp->p >= '0' && *cp->p <= '9'))
			return (canon_number(cp, out));
		return (CANON_BAD);
	}
}

/* canon_json with CANON_BAD and CANON_NOMEM kept apart, and *dups set when an object
   names a member twice; out is left as it was on error. */
static int
canon_parse(const char *json, size_t len, const char *const drop[], struct buf *out,
    int *dups)
{
	struct canon_parser	 cp;
	size_t			 olen = out->len;
	int			 isnull, rv;

	*dups = 0;
	if (json == NULL)
		return (CANON_BAD);
	cp.p = json;
	cp.end = json + len;
	cp.depth = 0;
	cp.dups = 0;
	if ((rv = canon_value(&cp, out, &isnull, drop)) == 0) {
		canon_ws(&cp);
		if (cp.p != cp.end)
			rv = CANON_BAD;		/* trailing garbage */
	}
	if (rv != 0) {
		out->len = olen;
		if (out->data != NULL)
			out->data[olen] = '\0';
	} else
		*dups = cp.dups;
	return (rv);
}

int
canon_json(const char *json, size_t len, const char *const drop[], struct buf *out)
{
	int	 dups;

	return (canon_parse(json, len, drop, out, &dups) == 0 ? 0 : -1);
}

int
canon_body(const char *body, size_t len, struct buf *out)
{
	static const char *const drop[] = { "options", "stream", NULL };
	int	 r, dups;

	r = canon_parse(body, len, drop, out, &dups);
	if (r == CANON_NOMEM)
		return (-1);
	if (r != 0)
		return (CANON_FORM_RAW);
	return (dups ? CANON_FORM_DUPS : CANON_FORM_JSON);
}

/* A field as an 8-byte big-endian length and its bytes: no two field lists collide. */
static int
canon_field(EVP_MD_CTX *ctx, const void *p, size_t len)
{
	unsigned char	 n[8];
	uint64_t	 l = len;
	int		 i;

	for (i = 7; i >= 0; i--) {
		n[i] = (unsigned char)(l & 0xff);
		l >>= 8;
	}
	if (EVP_DigestUpdate(ctx, n, sizeof(n)) != 1)
		return (-1);
	if (len > 0 && EVP_DigestUpdate(ctx, p, len) != 1)
		return (-1);
	return (0);
}

/* Each thread keeps its own context, re-initialised per key. */
static _Thread_local EVP_MD_CTX	*canon_ctx;

int
canon_key(const char *method, const char *target, const char *accept,
    const char *scope, const char *body, size_t len, uint8_t key[CANON_KEY_LEN])
{
	struct buf	 cj = { NULL, 0, 0 };
	int		 form, rv;

	if ((form = canon_body(body, len, &cj)) == -1)
		return (-1);
	if (form == CANON_FORM_RAW)
		rv = canon_key_form(method, target, accept, scope, form, body, len, key);
	else
		rv = canon_key_form(method, target, accept, scope, form, cj.data, cj.len,
		    key);
	buf_free(&cj);
	return (rv);
}

int
canon_key_form(const char *method, const char *target, const char *accept,
    const char *scope, int bodyform, const char *data, size_t len,
    uint8_t key[CANON_KEY_LEN])
{
	EVP_MD_CTX	*ctx;
	const char	*form;
	char		 at[128];
	unsigned int	 klen;
	int		 rv = -1, r;

	if (method == NULL)
		method = "";
	if (target == NULL)
		target = "";
	if (accept == NULL)
		accept = "";
	/* A body that is not JSON is hashed raw; the form byte keeps the two apart. */
	form = bodyform == CANON_FORM_RAW ? "R" : "J";
	if (canon_ctx == NULL)
		canon_ctx = EVP_MD_CTX_new();
	if ((ctx = canon_ctx) == NULL || digest_sha256() == NULL ||
	    EVP_DigestInit_ex2(ctx, digest_sha256(), NULL) != 1 ||
	    canon_field(ctx, CANON_VERSION, strlen(CANON_VERSION)) == -1 ||
	    canon_field(ctx, method, strlen(method)) == -1 ||
	    canon_field(ctx, target, strlen(target)) == -1 ||
	    canon_field(ctx, accept, strlen(accept)) == -1)
		goto fail;
	/* The field "@name" is never one byte long like the form field that comes there
	   in a shared key, so a scoped encoding never equals a shared one. */
	if (scope != NULL && *scope != '\0') {
		if (snprintf(at, sizeof(at), "@%s", scope) >= (int)sizeof(at) ||
		    canon_field(ctx, at, strlen(at)) == -1)
			goto fail;
	}
	if (canon_field(ctx, form, 1) == -1)
		goto fail;
	r = canon_field(ctx, data, data != NULL ? len : 0);
	if (r == -1 || EVP_DigestFinal_ex(ctx, key, &klen) != 1 ||
	    klen != CANON_KEY_LEN)
		goto fail;
	rv = 0;
 fail:
	return (rv);
}

void
canon_thread_free(void)
{
	EVP_MD_CTX_free(canon_ctx);
	canon_ctx = NULL;
}

void
canon_hex(const uint8_t key[CANON_KEY_LEN], char *hex)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < CANON_KEY_LEN; i++) {
		hex[2 * i] = digits[key[i] >> 4];
		hex[2 * i + 1] = digits[key[i] & 0xf];
	}
	hex[2 * CANON_KEY_LEN] = '\0';
}
