/* SPDX-License-Identifier: BSD-2-Clause */
/* log.c: logging to stderr (journald under systemd). Never pass a secret. */
#ifndef HFGATE_LOG_H
#define HFGATE_LOG_H

#include <stddef.h>

/* How much is logged: each level logs itself and the ones above. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* verbose: debug whatever the level. Also finds out whether stderr is journald's
   (JOURNAL_STREAM): then each line starts with its syslog priority, "<4>" and so. */
void	 log_init(int verbose);
/* The configured level ([server] log_level); -v keeps debug. Any thread. */
void	 log_set_level(enum log_level);
/* "error", "warning", "info", "debug": 0 with *l set, or -1. */
int	 log_level_parse(const char *, enum log_level *l);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));	/* appends strerror(errno) */
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));	/* only with -v */
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/* 1 when debug lines are logged (-v, or log_level = debug). */
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
/* log_escape without the quotes, for a field that JSON quotes (the JSON access line):
   what reaches the JSON encoder is valid UTF-8 without control bytes. */
const char *log_escape_bare(char *dst, size_t size, const char *s);
/* A request's access line, batched per loop thread until log_flush: to stderr with
   the log's prefix, or to the access log file after the time. */
void	 log_access(const char *, ...) __attribute__((format(printf, 1, 2)));
/*
 * Where access lines go ([server] access_log): "stderr", "off", or a file path
 * (opened for appending, created 0640), and whether they are JSON. Main thread,
 * before the loops start or on a reload. 0, or -1 with err (the old destination
 * stays).
 */
int	 log_access_open(const char *dest, int json, char *err, size_t errlen);
/* Opens the access log file again under its name (logrotate moved it): SIGUSR1 and
   SIGHUP. 0, or -1 logged (lines keep going to the old file). */
int	 log_access_reopen(void);
/* 1 when access lines are JSON objects (the caller builds them); 0 when text. */
int	 log_access_json(void);
/* 1 when access lines go nowhere (access_log = off): the caller may skip them. */
int	 log_access_off(void);
void	 log_flush(void);

#endif
