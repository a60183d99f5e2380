/* SPDX-License-Identifier: BSD-2-Clause */
/* buf.c: growable byte buffers. */
#ifndef HFGATE_BUF_H
#define HFGATE_BUF_H

#include <stddef.h>

struct buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 cap;
};

/* Appends len bytes; returns 0, or -1 on allocation failure (buf unchanged). */
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_append_str(struct buf *, const char *);
/* Makes the capacity exactly cap bytes (the terminating NUL included) when it is less:
   for a size known ahead, which doubling would overshoot. 0, or -1 (unchanged). */
int	 buf_grow(struct buf *, size_t cap);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Gives the caller the data (malloc'd, NUL-terminated) and empties the buffer. */
char	*buf_steal(struct buf *);
void	 buf_reset(struct buf *);	/* len = 0, keeps memory */
void	 buf_free(struct buf *);	/* accepts a zeroed buffer */

#endif
