/* SPDX-License-Identifier: BSD-2-Clause */
/* buf.c: growable byte buffers. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN_CAP	64

/*
 * Makes room for need more bytes plus the terminating NUL. Grows geometrically
 * so n appends cost O(n) copies. Returns -1 on overflow or allocation failure,
 * leaving the buffer unchanged.
 */
static int
buf_reserve(struct buf *b, size_t need)
{
	size_t	 want, ncap;
	char	*p;

	if (need > SIZE_MAX - 1 - b->len) {
		errno = ENOMEM;
		return (-1);
	}
	want = b->len + need + 1;
	if (b->data != NULL && want <= b->cap)
		return (0);
	ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (ncap < want) {
		if (ncap > SIZE_MAX / 2) {
			ncap = want;
			break;
		}
		ncap *= 2;
	}
	if ((p = realloc(b->data, ncap)) == NULL)
		return (-1);
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = ncap;
	return (0);
}

int
buf_append(struct buf *b, const void *p, size_t len)
{
	if (buf_reserve(b, len) == -1)
		return (-1);
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return (0);
}

int
buf_grow(struct buf *b, size_t cap)
{
	char	*p;

	if (cap <= b->cap || cap <= b->len)
		return (0);
	if ((p = realloc(b->data, cap)) == NULL)
		return (-1);
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return (0);
}

int
buf_append_str(struct buf *b, const char *s)
{
	return (buf_append(b, s, strlen(s)));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (-1);
	if (buf_reserve(b, (size_t)n) == -1)
		return (-1);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return (-1);
	}
	b->len += (size_t)n;
	return (0);
}

/* The caller owns the result; an empty buffer still gives "" so NULL means failure. */
char *
buf_steal(struct buf *b)
{
	char	*p;

	if (b->data == NULL && buf_reserve(b, 0) == -1)
		return (NULL);
	p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return (p);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
