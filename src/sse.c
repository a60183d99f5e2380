/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Watching a relayed event stream. The relay passes bytes through untouched; this only
 * follows line structure, cheaply, because it runs on every event of every stream:
 * data lines are searched for the TGI final-event and error keys, never parsed.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "sse.h"

#define SSE_LINE_MAX	(64 * 1024)	/* keys sit near the start of an event */

/* Sets *n to the digits after key (a key at JSON level: the quote, the name, the
   quote and the colon) in the len bytes at p, when key is there. */
static void
sse_count(const char *p, size_t len, const char *key, unsigned long long *n)
{
	const char		*k, *v, *end = p + len;
	size_t			 klen = strlen(key);
	unsigned long long	 x;

	if ((k = memmem(p, len, key, klen)) == NULL)
		return;
	for (v = k + klen; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	for (x = 0; v < end && *v >= '0' && *v <= '9'; v++)
		x = x * 10 + (unsigned long long)(*v - '0');
	*n = x;
}

static void
sse_scan_line(struct sse_scan *s)
{
	const char		*p = s->line.data, *k, *v, *end;
	size_t			 len = s->line.len;

	if (len < 5 || strncmp(p, "data:", 5) != 0)
		return;
	end = p + len;
	/* The OpenAI protocol's end of stream. */
	for (v = p + 5; v < end && *v == ' '; v++)
		;
	if (end - v == 6 && memcmp(v, "[DONE]", 6) == 0) {
		s->saw_final = 1;
		return;
	}
	/* A key at JSON level is a quote, the name, a quote and a colon; inside a string
	   the quotes would be escaped. */
	if ((k = memmem(p, len, "\"generated_text\":", 17)) != NULL) {
		for (v = k + 17; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		if (v < end && *v != 'n')
			s->saw_final = 1;
	}
	/* For usage accounting: the OpenAI usage chunk's completion_tokens and
	   prompt_tokens, or the final event's details.generated_tokens. */
	sse_count(p, len, "\"completion_tokens\":", &s->generated_tokens);
	sse_count(p, len, "\"generated_tokens\":", &s->generated_tokens);
	sse_count(p, len, "\"prompt_tokens\":", &s->prompt_tokens);
	if ((k = memmem(p, len, "\"error\":", 8)) != NULL) {
		for (v = k + 8; v < end && (*v == ' ' || *v == '\t'); v++)
			;
		if (v < end && *v != 'n')
			s->saw_error = 1;
	}
}

/*
 * Keeps the first SSE_LINE_MAX bytes of the current line, whatever the reads that
 * brought them: a longer line is still a line (not taken for a blank one), and what
 * the scan concludes does not depend on where the reads split the stream.
 */
static int
sse_keep(struct sse_scan *s, const char *p, size_t n)
{
	if (s->line.len >= SSE_LINE_MAX)
		return (0);
	if (n > SSE_LINE_MAX - s->line.len)
		n = SSE_LINE_MAX - s->line.len;
	return (buf_append(&s->line, p, n));
}

int
sse_scan_feed(struct sse_scan *s, const char *data, size_t len)
{
	const char	*p = data, *end = data + len, *nl;
	int		 rc = 0;

	if (len > 0)
		s->started = 1;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			/* newlines stays as it was: an unfinished line keeps the
			   stream off a boundary by itself (line.len > 0). */
			if (sse_keep(s, p, (size_t)(end - p)) == -1)
				rc = -1;
			break;
		}
		if (sse_keep(s, p, (size_t)(nl - p)) == -1)
			rc = -1;
		if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
			s->line.len--;
		if (s->line.len == 0)
			s->newlines++;
		else {
			sse_scan_line(s);
			s->newlines = 1;
		}
		buf_reset(&s->line);
		p = nl + 1;
	}
	return (rc);
}

void
sse_scan_drop_partial(struct sse_scan *s)
{
	buf_reset(&s->line);
}

int
sse_scan_at_boundary(const struct sse_scan *s)
{
	return (!s->started || (s->newlines >= 2 && s->line.len == 0));
}

int
sse_scan_complete(const struct sse_scan *s)
{
	return (s->saw_final || s->saw_error);
}

void
sse_scan_free(struct sse_scan *s)
{
	buf_free(&s->line);
}

/* Appends bytes to out and feeds them to the scan. */
static int
sse_emit(struct buf *out, struct sse_scan *scan, const char *data, size_t len)
{
	if (buf_append(out, data, len) == -1)
		return (-1);
	(void)sse_scan_feed(scan, data, len);
	return (0);
}

/* Ends a partial line and event, so what follows starts a new event. */
static int
sse_close_event(struct buf *out, struct sse_scan *scan)
{
	if (sse_scan_at_boundary(scan))
		return (0);
	if (scan->line.len > 0)
		return (sse_emit(out, scan, "\n\n", 2));
	return (sse_emit(out, scan, "\n", 1));
}

int
sse_error_event(struct buf *out, struct sse_scan *scan, const char *msg,
    const char *type)
{
	char	*json;
	int	 rc;

	if (sse_close_event(out, scan) == -1)
		return (-1);
	if ((json = scan->openai ? json_oai_error_body(msg, type) :
	    json_error_body(msg, type)) == NULL)
		return (-1);
	rc = sse_emit(out, scan, "data:", 5) == -1 ||
	    sse_emit(out, scan, json, strlen(json)) == -1 ||
	    sse_emit(out, scan, "\n\n", 2) == -1 ? -1 : 0;
	free(json);
	return (rc);
}

int
sse_heartbeat(struct buf *out, struct sse_scan *scan)
{
	if (!sse_scan_at_boundary(scan))
		return (0);
	return (sse_emit(out, scan, ":\n\n", 3));
}
