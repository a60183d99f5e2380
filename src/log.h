/* log.c: logging to stderr (journald under systemd). Never pass a secret. */
#ifndef HFGATE_LOG_H
#define HFGATE_LOG_H

void	 log_init(int verbose);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));	/* appends strerror(errno) */
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));	/* only with -v */
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
int	 log_verbose(void);
/* A request's access line, batched per loop thread until log_flush (same prefix). */
void	 log_access(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_flush(void);

#endif
