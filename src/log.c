/* SPDX-License-Identifier: BSD-2-Clause */
/* log.c: logging to stderr (journald under systemd adds the timestamps). */
#include <sys/stat.h>

#include <fcntl.h>
#include <time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_PREFIX	"hfgate: "
#define LOG_LINE_MAX	4096	/* = PIPE_BUF: one atomic write to a pipe */

#define LOG_BATCH_MAX	(16 * 1024)

/* sd-daemon(3)'s priority prefixes, which journald reads off each line. */
#define LOG_PRI_ERR	"<3>"
#define LOG_PRI_WARNING	"<4>"
#define LOG_PRI_INFO	"<6>"
#define LOG_PRI_DEBUG	"<7>"

static int	 log_verbosity;
static _Atomic int log_level = LOG_LEVEL_INFO;
static int	 log_journal;		/* stderr is journald's stream */
/* The access log: its fd (stderr's, or a file's under a number that a reopen
   keeps: dup2), -1 when off; the file's path; JSON or text. */
static _Atomic int log_access_fd = STDERR_FILENO;
static char	*log_access_path;
static _Atomic int log_access_as_json;
/* Access lines of this loop thread, written once per loop iteration (log_flush). */
static _Thread_local char	 log_batch[LOG_BATCH_MAX];
static _Thread_local size_t	 log_batch_len;

static void	 log_vline(enum log_level, const char *, va_list, int)
		    __attribute__((format(printf, 2, 0)));

/* 1 when JOURNAL_STREAM ("device:inode", systemd.exec(5)) names stderr itself. */
static int
log_stderr_is_journal(void)
{
	const char		*v = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;
	char			 end;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return (0);
	return ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino);
}

void
log_init(int verbose)
{
	log_verbosity = verbose;
	log_journal = log_stderr_is_journal();
	if (verbose)
		atomic_store(&log_level, LOG_LEVEL_DEBUG);
}

void
log_set_level(enum log_level l)
{
	atomic_store(&log_level, log_verbosity ? LOG_LEVEL_DEBUG : (int)l);
}

int
log_level_parse(const char *s, enum log_level *l)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*l = (enum log_level)i;
			return (0);
		}
	return (-1);
}

/* The prefix of a line of level: its priority for journald, then the name. */
static const char *
log_prefix(enum log_level level)
{
	static const char *const journal[] = {
		LOG_PRI_ERR LOG_PREFIX, LOG_PRI_WARNING LOG_PREFIX, LOG_PRI_INFO LOG_PREFIX,
		LOG_PRI_DEBUG LOG_PREFIX
	};

	return (log_journal ? journal[level] : LOG_PREFIX);
}

int
log_verbose(void)
{
	return (atomic_load(&log_level) == LOG_LEVEL_DEBUG);
}

/*
 * Formats the whole line first and writes it with one write(2), so lines from
 * concurrent threads of this process never interleave. errnum >= 0 appends
 * strerror(errnum). Long lines are truncated. errno is preserved.
 */
static void
log_vline(enum log_level level, const char *fmt, va_list ap, int errnum)
{
	char	 msg[LOG_LINE_MAX], line[LOG_LINE_MAX];
	size_t	 len;
	int	 n, saved = errno;

	if ((int)level > atomic_load(&log_level))
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	n = snprintf(line, sizeof(line), "%s%s%s%s\n", log_prefix(level), msg,
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
	log_vline(LOG_LEVEL_WARNING, fmt, ap, errno);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_WARNING, fmt, ap, -1);
	va_end(ap);
}

void
log_errorx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, fmt, ap, -1);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_INFO, fmt, ap, -1);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_DEBUG, fmt, ap, -1);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, fmt, ap, errno);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline(LOG_LEVEL_ERROR, fmt, ap, -1);
	va_end(ap);
	exit(1);
}

/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF) with its code point in *cp, or 0.
 */
static size_t
log_utf8(const unsigned char *p, uint32_t *cp)
{
	size_t		 n, i;
	uint32_t	 c, min;

	if (*p >= 0xc2 && *p <= 0xdf) {
		n = 2;
		c = *p & 0x1f;
		min = 0x80;
	} else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		c = *p & 0x0f;
		min = 0x800;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		c = *p & 0x07;
		min = 0x10000;
	} else
		return (0);
	/* The terminating NUL is no continuation byte: this stops there. */
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);
	*cp = c;
	return (n);
}

/* log_escape, and with quotes (when empty or with a space) only when quotable. */
static const char *
log_escape_as(char *dst, size_t size, const char *s, int quotable)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p;
	const char		*out;
	char			 esc[8];
	size_t			 o = 1, n, len;
	uint32_t		 cp;
	int			 quote;

	if (size < 3) {
		if (size > 0)
			dst[0] = '\0';
		return (dst);
	}
	if (s == NULL) {
		memcpy(dst, "-", 2);
		return (dst);
	}
	quote = *s == '\0';
	/* Written from dst + 1, leaving room for an opening quote. */
	for (p = (const unsigned char *)s; *p != '\0'; p += n) {
		n = 1;
		out = esc;
		len = 2;
		esc[0] = '\\';
		cp = *p;
		if (*p >= 0x80 && (n = log_utf8(p, &cp)) == 0) {
			/* Not UTF-8: the byte's value. */
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 0xf];
			len = 4;
			n = 1;
		} else if (cp == '"' || cp == '\\')
			esc[1] = (char)cp;
		else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\b' || cp == '\f')
			esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' :
			    cp == '\b' ? 'b' : 'f';
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			/* A C0 or C1 control, or DEL: a terminal may act on any. */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[cp >> 4];
			esc[5] = hex[cp & 0xf];
			len = 6;
		} else {
			out = (const char *)p;
			len = n;
			quote |= cp == ' ';
		}
		/* Room for the closing quote and the NUL. */
		if (o + len + 2 > size)
			break;
		memcpy(dst + o, out, len);
		o += len;
	}
	if (quote && quotable) {
		dst[0] = '"';
		dst[o++] = '"';
	} else
		memmove(dst, dst + 1, --o);
	dst[o] = '\0';
	return (dst);
}

const char *
log_escape(char *dst, size_t size, const char *s)
{
	return (log_escape_as(dst, size, s, 1));
}

const char *
log_escape_bare(char *dst, size_t size, const char *s)
{
	return (log_escape_as(dst, size, s, 0));
}

/* Writes the batched access lines; each write holds whole lines only. */
void
log_flush(void)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 saved = errno;

	int	 fd = atomic_load(&log_access_fd);

	while (fd != -1 && off < log_batch_len) {
		n = write(fd, log_batch + off, log_batch_len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	log_batch_len = 0;
	errno = saved;
}

/*
 * One line per request, batched: under load a loop iteration finishes several
 * requests, and one write(2) for all their lines costs less than one each. The
 * caller flushes at the end of every iteration, so a line waits milliseconds at most.
 */
void
log_access(const char *fmt, ...)
{
	char	 line[LOG_LINE_MAX];
	va_list	 ap;
	int	 n, saved = errno;
	size_t	 len;

	const char	*prefix = log_prefix(LOG_LEVEL_INFO);
	char		 stamp[64];
	size_t		 plen;
	struct timespec	 ts;
	struct tm	 tm;

	if (atomic_load(&log_level) < LOG_LEVEL_INFO || atomic_load(&log_access_fd) == -1)
		return;
	/* A file has no journal to add the time: a text line starts with it (a JSON
	   one carries it). */
	if (atomic_load(&log_access_fd) != STDERR_FILENO) {
		prefix = "";
		if (!atomic_load(&log_access_as_json)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
			prefix = stamp;
		}
	}
	plen = strlen(prefix);
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = saved;
		return;
	}
	len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
	line[len++] = '\n';
	if (log_batch_len + plen + len > sizeof(log_batch))
		log_flush();
	memcpy(log_batch + log_batch_len, prefix, plen);
	log_batch_len += plen;
	memcpy(log_batch + log_batch_len, line, len);
	log_batch_len += len;
	errno = saved;
}

/* Opens path for appending. The fd, or -1 with err. */
static int
log_open_file(const char *path, char *err, size_t errlen)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		snprintf(err, errlen, "access_log %s: %s", path, strerror(errno));
	return (fd);
}

int
log_access_open(const char *dest, int json, char *err, size_t errlen)
{
	int	 fd, old = atomic_load(&log_access_fd);
	char	*path = NULL;

	if (dest == NULL || strcmp(dest, "stderr") == 0)
		fd = STDERR_FILENO;
	else if (strcmp(dest, "off") == 0)
		fd = -1;
	else {
		if ((path = strdup(dest)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
		if (log_access_path != NULL && strcmp(log_access_path, dest) == 0 &&
		    old != STDERR_FILENO && old != -1) {
			/* The same file: kept (a reopen is SIGUSR1's). */
			free(path);
			atomic_store(&log_access_as_json, json);
			return (0);
		}
		if ((fd = log_open_file(dest, err, errlen)) == -1) {
			free(path);
			return (-1);
		}
	}
	atomic_store(&log_access_as_json, json);
	atomic_store(&log_access_fd, fd);
	/* A loop thread may still write to the old file a moment: it stays open. That
	   is at most one fd per change of destination. */
	free(log_access_path);
	log_access_path = path;
	return (0);
}

int
log_access_reopen(void)
{
	char	 err[512];
	int	 fd, cur = atomic_load(&log_access_fd);

	if (log_access_path == NULL || cur == -1 || cur == STDERR_FILENO)
		return (0);
	if ((fd = log_open_file(log_access_path, err, sizeof(err))) == -1) {
		log_warnx("%s: still writing to the old file", err);
		return (-1);
	}
	/* Under the same number, so that no writer ever holds a stale one. */
	if (dup2(fd, cur) == -1) {
		log_warn("access_log %s: dup2", log_access_path);
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

int
log_access_json(void)
{
	return (atomic_load(&log_access_as_json));
}

int
log_access_off(void)
{
	return (atomic_load(&log_access_fd) == -1);
}
