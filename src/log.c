/* log.c: logging to stderr (journald under systemd adds the timestamps). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_PREFIX	"hfgate: "
#define LOG_LINE_MAX	4096	/* = PIPE_BUF: one atomic write to a pipe */

static int	 log_verbosity;

static void	 log_vline(const char *, va_list, int)
		    __attribute__((format(printf, 1, 0)));

void
log_init(int verbose)
{
	log_verbosity = verbose;
}

int
log_verbose(void)
{
	return (log_verbosity);
}

/*
 * Formats the whole line first and writes it with one write(2), so lines from
 * concurrent threads of this process never interleave. errnum >= 0 appends
 * strerror(errnum). Long lines are truncated. errno is preserved.
 */
static void
log_vline(const char *fmt, va_list ap, int errnum)
{
	char	 msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
	size_t	 len;
	int	 n, saved = errno;

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	n = snprintf(line, sizeof(line), LOG_PREFIX "%s%s%s\n", msg,
	    errnum >= 0 ? ": " : "", errnum >= 0 ? strerror(errnum) : "");
	if (n < 0)
		goto out;
	len = (size_t)n;
	if (len >= sizeof(line)) {
		/* Truncated: keep the newline. */
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	/* Nowhere to report a failed write to stderr; only retry on a signal. */
	while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR)
		;
 out:
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, errno);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, -1);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, -1);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbosity)
		return;
	va_start(ap, fmt);
	log_vline(fmt, ap, -1);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, errno);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(fmt, ap, -1);
	va_end(ap);
	exit(1);
}
