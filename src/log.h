/* SPDX-License-Identifier: BSD-2-Clause */
/* log.c: logging to stderr (journald under systemd). Never pass a secret. */
#ifndef HFGATE_LOG_H
#define HFGATE_LOG_H

#include <stddef.h>

void	 log_init(int verbose);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));	/* appends strerror(errno) */
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));	/* only with -v */
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
int	 log_verbose(void);
/*
 * Text a client sent (a path, a model, an id, a header value), made safe to log: as
 * nginx's escape=json, '"' and '\\' are escaped and control bytes become \n, \r, \t,
 * \b, \f or \u00XX (DEL and the C1 controls too); bytes that are not UTF-8 become
 * \xHH. Empty or containing a space, it is put in double quotes, so that it stays one
 * field of a line. Written to dst (size > 2 bytes; cut at a whole escape when too
 * long; NULL s gives "-"); returns dst.
 */
const char *log_escape(char *dst, size_t size, const char *s);
/* A request's access line, batched per loop thread until log_flush (same prefix). */
void	 log_access(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_flush(void);

#endif
