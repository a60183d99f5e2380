/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sse_load.c: a load client for Server-Sent Event streams (bench/streams.sh).
 *
 * Opens N concurrent HTTP/1.1 POST requests at a bounded rate, reads each
 * (chunked) text/event-stream answer incrementally on one epoll loop, and
 * measures, per event preceded by an SSE comment ":t=<unix ms>" (the send time
 * stamped by the fake upstream's fake/stream-* and fake/oai-stamp-* models; a
 * stream is complete on TGI's final event or OpenAI's "data: [DONE]"), the added latency =
 * receive time (CLOCK_REALTIME) - t, plus the time to the first event of each
 * stream; the added latency is also reported for the events received while all
 * streams were open (after the last one opened, before the first one ended), the
 * relay's steady state without the work of opening and closing streams. Single-threaded on purpose: the work per event is a few memchr calls,
 * and one thread keeps the receive timestamps free of lock or scheduling noise
 * of its own.
 *
 * Usage: sse_load --port N [--host 127.0.0.1] [--path /models/fake/stream-20-500]
 *	[--body JSON (default: a TGI text-generation stream's)] [--streams N] [--ramp N/s] [--duration S] [--timeout S] [--quiet]
 * Prints a report, then one machine-readable line "SSE key=value ...". While
 * running, prints "PLATEAU open=K started=S t=SEC" once, when all streams are
 * open (response head received) at the same time, or, after failures, when
 * no more opened for 1 s: a caller samples the relay's memory after that. On
 * SIGUSR1 it prints "OPEN open=K ended=E t=SEC": how many were open when the
 * caller sampled. Exit status: 0 when every stream completed, 1 when some
 * failed, 2 on usage or set-up errors.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TGI_BODY	"{\"inputs\":\"hello\",\"parameters\":{\"max_new_tokens\":20},\"stream\":true}"
#define RBUF		(64 * 1024)	/* one recv() */
#define HEAD_MAX	(16 * 1024)	/* response head */
#define LINE_MAX_BYTES	(1024 * 1024)	/* one SSE line */
#define MAXEV		1024

enum cstate { C_FREE, C_CONNECTING, C_SENDING, C_HEAD, C_BODY };
enum chstate { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };
enum result { RES_OK, RES_CONNECT, RES_STATUS, RES_RESET, RES_EVENT, RES_INCOMPLETE, RES_TIMEOUT,
    RES_CUT, RES_NRESULT };

static const char *result_name[RES_NRESULT] = {
	"completed", "err_connect", "err_status", "err_reset", "err_event",
	"err_incomplete", "err_timeout", "unfinished"
};

struct conn {
	int		 fd;
	enum cstate	 state;
	size_t		 sent;
	double		 t_start;	/* monotonic ms, when connect() was called */
	int		 open;		/* 200 head received, not ended */

	/* Response head, then the SSE line being assembled. */
	char		*buf;
	size_t		 len, cap;

	/* Body framing. */
	int		 chunked;
	long long	 clen;		/* Content-Length, -1 if none */
	long long	 got;
	enum chstate	 ch;
	unsigned long long crem;	/* bytes left in the chunk / its size */
	int		 cdigits, cext, tline;

	/* SSE event being received. */
	int		 has_stamp;
	double		 stamp;		/* ms, from ":t=" */
	int		 ev_data, ev_err, ev_final;
	int		 nev, err_seen, final_seen;
};

struct dvec {
	double	*v;
	size_t	 n, cap;
};

static struct {
	const char	*host, *path, *body;
	int		 port;
	long		 streams, ramp;
	double		 duration, timeout;
	int		 quiet;
} opt = { "127.0.0.1", "/models/fake/stream-20-500", TGI_BODY, 0, 100, 1000, 0, 60, 0 };

static struct conn	*conns;
static int		 ep = -1;
static struct sockaddr_storage addr;
static socklen_t	 addrlen;
static char		*req;
static size_t		 reqlen;
static long		 started, ended, nopen, peak_open;
static long		 results[RES_NRESULT];
static long		 statuses[600];
static long long	 events, bytes_in;
static struct dvec	 lat, lat_open, ttfe;
static int		 plateau;	/* all streams were open at once */
static double		 now_real, now_mono;
static volatile sig_atomic_t stop_flag, report_open;

static void
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("sse_load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double
clock_ms(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return ((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

static void
clock_update(void)
{
	now_real = clock_ms(CLOCK_REALTIME);
	now_mono = clock_ms(CLOCK_MONOTONIC);
}

static void
dvec_push(struct dvec *d, double x)
{
	double	*p;
	size_t	 ncap;

	if (d->n == d->cap) {
		ncap = d->cap == 0 ? 4096 : d->cap * 2;
		if ((p = realloc(d->v, ncap * sizeof(*p))) == NULL)
			die("out of memory");
		d->v = p;
		d->cap = ncap;
	}
	d->v[d->n++] = x;
}

static int
dcmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

/* Nearest-rank percentile of a sorted vector; 0 when empty. */
static double
pct(const struct dvec *d, double p)
{
	size_t	i;

	if (d->n == 0)
		return (0);
	i = (size_t)(p / 100.0 * (double)d->n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > d->n)
		i = d->n;
	return (d->v[i - 1]);
}

static int
reserve(struct conn *c, size_t need)
{
	size_t	 ncap;
	char	*p;

	if (c->len + need + 1 <= c->cap)
		return (0);
	ncap = c->cap == 0 ? 1024 : c->cap;
	while (ncap < c->len + need + 1)
		ncap *= 2;
	if ((p = realloc(c->buf, ncap)) == NULL)
		return (-1);
	c->buf = p;
	c->cap = ncap;
	return (0);
}

/* Ends a stream: counts its result, closes its socket, keeps its slot free. */
static void
conn_end(struct conn *c, enum result r)
{
	if (c->state == C_FREE)
		return;
	results[r]++;
	ended++;
	if (c->open) {
		c->open = 0;
		nopen--;
	}
	close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

/* The body ended cleanly: the result depends on the events seen. */
static void
conn_finish(struct conn *c)
{
	if (c->err_seen)
		conn_end(c, RES_EVENT);
	else if (c->final_seen)
		conn_end(c, RES_OK);
	else
		conn_end(c, RES_INCOMPLETE);
}

/* One SSE line (no line terminator, NUL-terminated in c->buf). */
static void
sse_line(struct conn *c, char *s, size_t n)
{
	const char	*v;

	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	if (n == 0) {
		if (!c->ev_data)
			return;
		events++;
		if (++c->nev == 1)
			dvec_push(&ttfe, now_mono - c->t_start);
		if (c->has_stamp) {
			dvec_push(&lat, now_real - c->stamp);
			if (plateau && ended == 0)
				dvec_push(&lat_open, now_real - c->stamp);
		}
		c->has_stamp = 0;
		if (c->ev_err)
			c->err_seen = 1;
		if (c->ev_final)
			c->final_seen = 1;
		c->ev_data = c->ev_err = c->ev_final = 0;
		return;
	}
	if (s[0] == ':') {
		if (strncmp(s, ":t=", 3) == 0) {
			c->stamp = strtod(s + 3, NULL);
			c->has_stamp = 1;
		}
		return;
	}
	if (strncmp(s, "data:", 5) != 0)
		return;
	c->ev_data = 1;
	v = s + 5;
	if (*v == ' ')
		v++;
	if (strncmp(v, "{\"error\"", 8) == 0)
		c->ev_err = 1;
	/* TGI's final event, or the end of an OpenAI stream. */
	if (strstr(v, "\"generated_text\":\"") != NULL || strcmp(v, "[DONE]") == 0)
		c->ev_final = 1;
}

/* Body bytes (de-chunked): split into lines. Returns -1 on an oversized line. */
static int
sse_feed(struct conn *c, const char *p, size_t n)
{
	const char	*nl;
	size_t		 k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if (c->len + k > LINE_MAX_BYTES || reserve(c, k) == -1)
			return (-1);
		memcpy(c->buf + c->len, p, k);
		c->len += k;
		c->buf[c->len] = '\0';
		if (nl == NULL)
			break;
		sse_line(c, c->buf, c->len);
		c->len = 0;
		p += k + 1;
		n -= k + 1;
	}
	return (0);
}

/*
 * Body bytes as received: removes the chunked framing. Returns 1 when the body
 * ended, 0 to read on, -1 on a framing error.
 */
static int
body_feed(struct conn *c, const char *p, size_t n)
{
	size_t		k;
	int		d;

	if (!c->chunked) {
		if (c->clen >= 0 && (long long)n > c->clen - c->got)
			n = (size_t)(c->clen - c->got);
		c->got += (long long)n;
		if (sse_feed(c, p, n) == -1)
			return (-1);
		return (c->clen >= 0 && c->got == c->clen);
	}
	while (n > 0) {
		switch (c->ch) {
		case CH_SIZE:
			if (*p == '\n') {
				if (c->cdigits == 0)
					return (-1);
				c->ch = c->crem == 0 ? CH_TRAILER : CH_DATA;
				c->tline = 0;
			} else if (*p == ';' || *p == ' ' || *p == '\t' || *p == '\r') {
				c->cext = 1;
			} else if (!c->cext) {
				if (*p >= '0' && *p <= '9')
					d = *p - '0';
				else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
					d = (*p | 0x20) - 'a' + 10;
				else
					return (-1);
				if (c->crem > (1ULL << 40))
					return (-1);
				c->crem = c->crem * 16 + (unsigned)d;
				c->cdigits++;
			}
			p++;
			n--;
			break;
		case CH_DATA:
			k = n < c->crem ? n : (size_t)c->crem;
			if (sse_feed(c, p, k) == -1)
				return (-1);
			c->crem -= k;
			p += k;
			n -= k;
			if (c->crem == 0)
				c->ch = CH_DATA_END;
			break;
		case CH_DATA_END:
			if (*p == '\n') {
				c->ch = CH_SIZE;
				c->crem = 0;
				c->cdigits = c->cext = 0;
			} else if (*p != '\r')
				return (-1);
			p++;
			n--;
			break;
		case CH_TRAILER:
			if (*p == '\n') {
				if (c->tline == 0)
					return (1);
				c->tline = 0;
			} else if (*p != '\r')
				c->tline++;
			p++;
			n--;
			break;
		}
	}
	return (0);
}

/*
 * Response head bytes: accumulates until the blank line, then parses the status
 * and the framing headers and passes what follows to the body. Returns 1 when
 * the stream ended, 0 to read on, -1 on error (the result is counted).
 */
static int
head_feed(struct conn *c, const char *p, size_t n)
{
	char		*end, *line, *next, *v;
	size_t		 hlen, rest;
	int		 status, r;

	if (c->len + n > HEAD_MAX || reserve(c, n) == -1) {
		conn_end(c, RES_RESET);
		return (-1);
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return (0);
	*end = '\0';
	hlen = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) {
		conn_end(c, RES_RESET);
		return (-1);
	}
	if (status >= 0 && status < 600)
		statuses[status]++;
	if (status != 200) {
		conn_end(c, RES_STATUS);
		return (-1);
	}
	c->clen = -1;
	for (line = strstr(c->buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		if ((next = strstr(line, "\r\n")) != NULL)
			*next = '\0';
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t");
		if (strcasecmp(line, "transfer-encoding") == 0 &&
		    strcasestr(v, "chunked") != NULL)
			c->chunked = 1;
		else if (strcasecmp(line, "content-length") == 0)
			c->clen = strtoll(v, NULL, 10);
	}
	if (c->chunked)
		c->clen = -1;
	c->open = 1;
	if (++nopen > peak_open)
		peak_open = nopen;
	c->state = C_BODY;
	/*
	 * The blank line was not in the bytes seen before this call, so what
	 * follows it is the tail of p. The head buffer becomes the line buffer.
	 */
	rest = c->len - hlen;
	c->len = 0;
	if (rest == 0)
		return (c->clen == 0);
	r = body_feed(c, p + n - rest, rest);
	return (r);
}

static void
conn_start(struct conn *c)
{
	int	fd, one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->t_start = now_mono;
	started++;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		results[RES_CONNECT]++;
		ended++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = C_CONNECTING;
	if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1 && errno != EINPROGRESS) {
		conn_end(c, RES_CONNECT);
		return;
	}
	{
		struct epoll_event	ev;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLOUT;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
			conn_end(c, RES_CONNECT);
	}
}

static void
conn_writable(struct conn *c)
{
	struct epoll_event	ev;
	socklen_t		sl = sizeof(int);
	int			err = 0;
	ssize_t			w;

	if (c->state == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err != 0) {
			conn_end(c, RES_CONNECT);
			return;
		}
		c->state = C_SENDING;
	}
	while (c->sent < reqlen) {
		w = send(c->fd, req + c->sent, reqlen - c->sent, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_end(c, RES_RESET);
			return;
		}
		c->sent += (size_t)w;
	}
	c->state = C_HEAD;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		conn_end(c, RES_RESET);
}

static void
conn_readable(struct conn *c)
{
	static char	rb[RBUF];
	ssize_t		n;
	int		r;

	for (;;) {
		n = recv(c->fd, rb, sizeof(rb), 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		clock_update();
		if (n <= 0) {
			/* A close-delimited body (no length, not chunked) ends here. */
			if (n == 0 && c->state == C_BODY && !c->chunked && c->clen < 0)
				conn_finish(c);
			else
				conn_end(c, RES_RESET);
			return;
		}
		bytes_in += n;
		if (c->state == C_HEAD)
			r = head_feed(c, rb, (size_t)n);
		else
			r = body_feed(c, rb, (size_t)n);
		if (r == -1) {
			conn_end(c, RES_RESET);	/* no-op if head_feed counted it */
			return;
		}
		if (r == 1) {
			conn_finish(c);
			return;
		}
		if ((size_t)n < sizeof(rb))
			return;
	}
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		report_open = 1;
	else
		stop_flag = 1;
}

static void
nofile_raise(long need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur)
		die("%ld streams need %ld open files, the limit is %llu", opt.streams, need,
		    (unsigned long long)rl.rlim_cur);
}

static void
resolve(void)
{
	struct addrinfo	 hints, *res;
	char		 port[16];
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", opt.port);
	if ((e = getaddrinfo(opt.host, port, &hints, &res)) != 0)
		die("%s: %s", opt.host, gai_strerror(e));
	memcpy(&addr, res->ai_addr, res->ai_addrlen);
	addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static double
num_arg(const char *name, const char *s, double min, double max)
{
	char	*end;
	double	 v;

	if (s == NULL)
		die("%s needs a value", name);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s: bad value \"%s\"", name, s);
	return (v);
}

static void
usage(void)
{
	fprintf(stderr, "usage: sse_load --port N [--host H] [--path P] [--body JSON] [--streams N] "
	    "[--ramp N/s] [--duration S] [--timeout S] [--quiet]\n");
	exit(2);
}

static void
args(int argc, char **argv)
{
	int	i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
			opt.host = argv[++i];
		else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
			opt.path = argv[++i];
		else if (strcmp(argv[i], "--body") == 0 && i + 1 < argc)
			opt.body = argv[++i];
		else if (strcmp(argv[i], "--port") == 0)
			opt.port = (int)num_arg("--port", argv[++i], 1, 65535);
		else if (strcmp(argv[i], "--streams") == 0)
			opt.streams = (long)num_arg("--streams", argv[++i], 1, 1000000);
		else if (strcmp(argv[i], "--ramp") == 0)
			opt.ramp = (long)num_arg("--ramp", argv[++i], 1, 1000000);
		else if (strcmp(argv[i], "--duration") == 0)
			opt.duration = num_arg("--duration", argv[++i], 0, 1e6);
		else if (strcmp(argv[i], "--timeout") == 0)
			opt.timeout = num_arg("--timeout", argv[++i], 0, 1e6);
		else if (strcmp(argv[i], "--quiet") == 0)
			opt.quiet = 1;
		else
			usage();
	}
	if (opt.port == 0 || opt.path[0] != '/')
		usage();
}

/* Closes streams past --timeout (checked a few times a second: O(N)). */
static void
sweep_timeouts(void)
{
	long	i;

	if (opt.timeout <= 0)
		return;
	for (i = 0; i < started; i++)
		if (conns[i].state != C_FREE &&
		    now_mono - conns[i].t_start > opt.timeout * 1e3)
			conn_end(&conns[i], RES_TIMEOUT);
}

static void
report(double elapsed)
{
	long	i, errors = 0;
	int	s;

	if (lat.n > 0)
		qsort(lat.v, lat.n, sizeof(double), dcmp);
	if (lat_open.n > 0)
		qsort(lat_open.v, lat_open.n, sizeof(double), dcmp);
	if (ttfe.n > 0)
		qsort(ttfe.v, ttfe.n, sizeof(double), dcmp);
	for (i = RES_CONNECT; i < RES_CUT; i++)
		errors += results[i];
	if (!opt.quiet) {
		printf("sse_load: %s:%d%s, %ld streams (ramp %ld/s), %.1f s\n", opt.host,
		    opt.port, opt.path, opt.streams, opt.ramp, elapsed);
		printf("  started %ld  completed %ld  errors %ld  unfinished %ld  peak open %ld\n",
		    started, results[RES_OK], errors, results[RES_CUT], peak_open);
		printf("  errors: connect %ld  non-200 %ld  reset/truncated %ld  error event %ld"
		    "  incomplete %ld  timeout %ld\n", results[RES_CONNECT], results[RES_STATUS],
		    results[RES_RESET], results[RES_EVENT], results[RES_INCOMPLETE],
		    results[RES_TIMEOUT]);
		for (s = 0; s < 600; s++)
			if (s != 200 && statuses[s] > 0)
				printf("  status %d: %ld\n", s, statuses[s]);
		printf("  events %lld (%zu stamped), %lld bytes\n", events, lat.n, bytes_in);
		printf("  time to first event ms: p50 %.3f  p99 %.3f  max %.3f\n",
		    pct(&ttfe, 50), pct(&ttfe, 99), ttfe.n ? ttfe.v[ttfe.n - 1] : 0.0);
		printf("  added latency per event ms: p50 %.3f  p99 %.3f  max %.3f\n",
		    pct(&lat, 50), pct(&lat, 99), lat.n ? lat.v[lat.n - 1] : 0.0);
		printf("  the same while all streams were open (%zu events): p50 %.3f  p99 %.3f"
		    "  max %.3f\n", lat_open.n, pct(&lat_open, 50), pct(&lat_open, 99),
		    lat_open.n ? lat_open.v[lat_open.n - 1] : 0.0);
	}
	printf("SSE streams=%ld started=%ld", opt.streams, started);
	for (i = 0; i < RES_NRESULT; i++)
		printf(" %s=%ld", result_name[i], results[i]);
	printf(" errors=%ld peak_open=%ld events=%lld stamped=%zu bytes=%lld"
	    " ttfe_p50_ms=%.3f ttfe_p99_ms=%.3f lat_p50_ms=%.3f lat_p99_ms=%.3f"
	    " lat_max_ms=%.3f open_events=%zu open_lat_p50_ms=%.3f open_lat_p99_ms=%.3f"
	    " elapsed_s=%.3f\n", errors, peak_open, events, lat.n, bytes_in,
	    pct(&ttfe, 50), pct(&ttfe, 99), pct(&lat, 50), pct(&lat, 99),
	    lat.n ? lat.v[lat.n - 1] : 0.0, lat_open.n, pct(&lat_open, 50),
	    pct(&lat_open, 99), elapsed);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[MAXEV];
	struct sigaction	 sa;
	double			 t0, t_grow, last_sweep = 0, due;
	long			 want, i, last_open = -1;
	int			 n, k, wait_ms;
	struct conn		*c;

	args(argc, argv);
	nofile_raise(opt.streams + 16);
	resolve();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	n = snprintf(NULL, 0, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
	    "Content-Length: %zu\r\n\r\n%s", opt.path, opt.host, opt.port, strlen(opt.body),
	    opt.body);
	if ((req = malloc((size_t)n + 1)) == NULL)
		die("out of memory");
	snprintf(req, (size_t)n + 1, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
	    "Content-Length: %zu\r\n\r\n%s", opt.path, opt.host, opt.port, strlen(opt.body),
	    opt.body);
	reqlen = (size_t)n;
	if ((conns = calloc((size_t)opt.streams, sizeof(*conns))) == NULL)
		die("out of memory");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));

	clock_update();
	t0 = t_grow = now_mono;
	while (!stop_flag) {
		/* Start what the ramp allows by now. */
		want = (long)((now_mono - t0) * (double)opt.ramp / 1e3) + 1;
		if (want > opt.streams)
			want = opt.streams;
		while (started < want)
			conn_start(&conns[started]);
		if (nopen > last_open) {
			last_open = nopen;
			t_grow = now_mono;
		}
		/* All open, or (after failures) no more opening for 1 s. */
		if (!plateau && started == opt.streams &&
		    (nopen == opt.streams || now_mono - t_grow >= 1e3)) {
			plateau = 1;
			printf("PLATEAU open=%ld started=%ld t=%.3f\n", nopen, started,
			    (now_mono - t0) / 1e3);
			fflush(stdout);
		}
		if (report_open) {
			report_open = 0;
			printf("OPEN open=%ld ended=%ld t=%.3f\n", nopen, ended,
			    (now_mono - t0) / 1e3);
			fflush(stdout);
		}
		if (started == opt.streams && ended == opt.streams)
			break;
		if (opt.duration > 0 && now_mono - t0 >= opt.duration * 1e3)
			break;
		if (now_mono - last_sweep >= 200) {
			sweep_timeouts();
			last_sweep = now_mono;
		}

		wait_ms = 100;
		if (started < opt.streams) {
			due = t0 + (double)started * 1e3 / (double)opt.ramp - now_mono;
			wait_ms = due <= 0 ? 0 : (int)due + 1;
			if (wait_ms > 100)
				wait_ms = 100;
		}
		n = epoll_wait(ep, evs, MAXEV, wait_ms);
		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		clock_update();
		for (k = 0; k < n; k++) {
			c = evs[k].data.ptr;
			if (c->state == C_CONNECTING || c->state == C_SENDING) {
				if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					conn_writable(c);
			} else if (c->state != C_FREE)
				conn_readable(c);
		}
	}
	clock_update();
	for (i = 0; i < started; i++)
		conn_end(&conns[i], RES_CUT);
	report((now_mono - t0) / 1e3);
	return (results[RES_OK] == opt.streams ? 0 : 1);
}
