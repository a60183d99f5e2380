/* SPDX-License-Identifier: BSD-2-Clause */
/* config.c: the configuration, from defaults, the INI file (libinih) and the command line. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ini.h>
#include <openssl/evp.h>

#include "config.h"
#include "digest.h"
#include "log.h"
#include "modelid.h"
#include "task.h"
#include "upstream.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

#define CFG_DEFAULT_MODELS_FILE	SYSCONFDIR "/hfgate/default-models.tsv"
/* Hugging Face's inference router: its serverless tasks here, its OpenAI API at /v1
   (cfg_openai_base); the host of 2023 answers 410 Gone. */
#define CFG_DEFAULT_UPSTREAM	"https://router.huggingface.co/hf-inference"
#define CFG_DEFAULT_CHAT_MODEL	"meta-llama/Llama-3.1-8B-Instruct"
#define CFG_DEFAULT_CACHE_DB	LOCALSTATEDIR "/lib/hfgate/cache.db"
#define CFG_DEFAULT_USAGE_DB	LOCALSTATEDIR "/lib/hfgate/usage.db"
#define CFG_MSG_MAX		512
#define CFG_FILE_MAX		(1024 * 1024)	/* PEM and key files */
#define CFG_MAX_ALLOW		256

enum cfg_section {
	SECT_NONE,		/* before the first [section] */
	SECT_SERVER,
	SECT_UPSTREAM,
	SECT_CACHE,
	SECT_STREAM,
	SECT_DEFAULT_MODELS,
	SECT_CACHE_POLICY,
	SECT_ENDPOINT,
	SECT_USAGE,
	SECT_ADMIN,
	SECT_CLIENT
};

enum cfg_type {
	CFG_STR,		/* non-empty string */
	CFG_STR_OR_UNSET,	/* string, empty = NULL */
	CFG_MODEL,		/* a model id, empty = NULL */
	CFG_LOG_LEVEL,		/* error, warning, info or debug (an int) */
	CFG_ACCESS_FORMAT,	/* text or json (an int: 1 for json) */
	CFG_ORIGINS,		/* list of web origins, or "*" */
	CFG_PATH,		/* relative to the config file's directory */
	CFG_URL,
	CFG_LISTEN,		/* list of HOST:PORT; min = 1 for tls_listen */
	CFG_PEM,		/* a PEM file, read into the field */
	CFG_CIDRS,		/* list of networks; min = 1 for trusted_proxies */
	CFG_KEY_SHA256,		/* admin key as 64 hex digits */
	CFG_KEY_FILE,		/* admin key in a file, hashed */
	CFG_UINT,
	CFG_LONG,
	CFG_SIZE,		/* unsigned with k/M/G suffixes */
	CFG_SECONDS,		/* a duration kept in seconds (unsigned): bare, or with a unit */
	CFG_MILLIS,		/* a duration kept in ms (long): bare, or with a unit */
	CFG_BOOL
};

struct cfg_key {
	enum cfg_section	 sect;
	const char		*name;
	enum cfg_type		 type;
	size_t			 off;	/* offset of the field in struct config */
	unsigned long long	 min, max;
};

#define F(f)	offsetof(struct config, f)
static const struct cfg_key cfg_keys[] = {
	{ SECT_SERVER, "listen", CFG_LISTEN, 0, 0, 0 },
	{ SECT_SERVER, "tls_listen", CFG_LISTEN, 0, 1, 0 },
	{ SECT_SERVER, "tls_cert", CFG_PEM, F(tls_cert), 0, 0 },
	{ SECT_SERVER, "tls_key", CFG_PEM, F(tls_key), 0, 0 },
	{ SECT_SERVER, "allow", CFG_CIDRS, 0, 0, 0 },
	{ SECT_SERVER, "trusted_proxies", CFG_CIDRS, 0, 1, 0 },
	{ SECT_SERVER, "max_connections_per_ip", CFG_UINT, F(max_connections_per_ip),
	    0, 1000000 },
	{ SECT_SERVER, "header_timeout", CFG_SECONDS, F(header_timeout), 1, 3600 },
	{ SECT_SERVER, "body_timeout", CFG_SECONDS, F(body_timeout), 1, 86400 },
	{ SECT_SERVER, "max_header_bytes", CFG_SIZE, F(max_header_bytes), 1024,
	    1024 * 1024 },
	{ SECT_SERVER, "max_url_bytes", CFG_SIZE, F(max_url_bytes), 256, 1024 * 1024 },
	{ SECT_SERVER, "workers", CFG_UINT, F(workers), 0, 64 },
	{ SECT_SERVER, "max_connections", CFG_UINT, F(max_connections), 1, 1000000 },
	{ SECT_SERVER, "max_body_bytes", CFG_SIZE, F(max_body_bytes), 1, SIZE_MAX },
	{ SECT_SERVER, "max_body_memory", CFG_SIZE, F(max_body_memory), 65536, SIZE_MAX },
	{ SECT_SERVER, "connection_timeout", CFG_SECONDS, F(connection_timeout), 0, 86400 },
	{ SECT_SERVER, "grace_seconds", CFG_SECONDS, F(grace_seconds), 0, 3600 },
	{ SECT_SERVER, "cors_origin", CFG_ORIGINS, 0, 0, 0 },
	{ SECT_SERVER, "default_models_file", CFG_PATH, F(default_models_file), 0, 0 },
	{ SECT_SERVER, "root_model", CFG_MODEL, F(root_model), 0, 0 },
	{ SECT_SERVER, "log_level", CFG_LOG_LEVEL, F(log_level), 0, 0 },
	{ SECT_SERVER, "access_log", CFG_STR, F(access_log), 0, 0 },
	{ SECT_SERVER, "access_log_format", CFG_ACCESS_FORMAT, F(access_log_json), 0, 0 },
	{ SECT_UPSTREAM, "url", CFG_URL, F(upstream_url), 0, 0 },
	{ SECT_UPSTREAM, "hub_url", CFG_URL, F(hub_url), 0, 0 },
	{ SECT_UPSTREAM, "openai_url", CFG_URL, F(openai_url), 0, 0 },
	{ SECT_UPSTREAM, "token_file", CFG_STR_OR_UNSET, F(token_file), 0, 0 },
	{ SECT_UPSTREAM, "connect_timeout_ms", CFG_MILLIS, F(connect_timeout_ms), 1, 3600000 },
	{ SECT_UPSTREAM, "deadline_ms", CFG_MILLIS, F(deadline_ms), 1, 86400000 },
	{ SECT_UPSTREAM, "max_attempts", CFG_UINT, F(max_attempts), 1, 20 },
	{ SECT_UPSTREAM, "backoff_base_ms", CFG_MILLIS, F(backoff_base_ms), 0, 3600000 },
	{ SECT_UPSTREAM, "backoff_max_ms", CFG_MILLIS, F(backoff_max_ms), 0, 3600000 },
	{ SECT_UPSTREAM, "max_response_bytes", CFG_SIZE, F(max_response_bytes), 1, SIZE_MAX },
	{ SECT_UPSTREAM, "max_connections_per_host", CFG_UINT,
	    F(max_upstream_connections), 0, 1000000 },
	{ SECT_CACHE, "enabled", CFG_BOOL, F(cache_enabled), 0, 0 },
	{ SECT_CACHE, "db", CFG_STR, F(cache_db), 0, 0 },
	{ SECT_CACHE, "max_bytes", CFG_SIZE, F(cache_max_bytes), 65536, SIZE_MAX },
	{ SECT_CACHE, "default_ttl", CFG_SECONDS, F(cache_default_ttl), 1, 315360000 },
	{ SECT_CACHE, "stale_if_error", CFG_SECONDS, F(cache_stale_if_error), 0, 315360000 },
	{ SECT_CACHE, "per_client", CFG_BOOL, F(cache_per_client), 0, 0 },
	{ SECT_CACHE, "hub_ttl", CFG_SECONDS, F(cache_hub_ttl), 0, 31536000 },
	{ SECT_USAGE, "enabled", CFG_BOOL, F(usage_enabled), 0, 0 },
	{ SECT_USAGE, "db", CFG_STR_OR_UNSET, F(usage_db), 0, 0 },
	{ SECT_USAGE, "flush_interval_ms", CFG_MILLIS, F(usage_flush_ms), 10, 60000 },
	{ SECT_ADMIN, "key_sha256", CFG_KEY_SHA256, F(admin_key_hash), 0, 0 },
	{ SECT_ADMIN, "key_file", CFG_KEY_FILE, F(admin_key_hash), 0, 0 },
	{ SECT_STREAM, "first_byte_timeout", CFG_SECONDS, F(stream_first_byte), 1, 86400 },
	{ SECT_STREAM, "idle_timeout", CFG_SECONDS, F(stream_idle), 1, 86400 },
	{ SECT_STREAM, "total_timeout", CFG_SECONDS, F(stream_total), 1, 604800 },
	{ SECT_STREAM, "heartbeat", CFG_SECONDS, F(stream_heartbeat), 0, 3600 },
	{ SECT_STREAM, "stall_timeout", CFG_SECONDS, F(stream_stall), 1, 86400 },
	{ SECT_STREAM, "buffer_bytes", CFG_SIZE, F(stream_buffer), 4096, 64 * 1024 * 1024 },
};
#undef F

/* State shared by the line reader and the key handler during one cfg_load. */
struct cfg_parse {
	struct config		*c;
	const char		*path;
	char			*dir;		/* directory of path, NULL for "." */
	FILE			*f;
	char			*line;		/* getline buffer */
	size_t			 linecap;
	int			 lineno;
	enum cfg_section	 sect;
	char			 sectname[64];
	size_t			 ep;		/* index of the current endpoint */
	size_t			 cl;		/* index of the current client */
	int			 sectline;	/* line of the current [endpoint] or
						   [client] header */
	int			 tls_line;	/* line of tls_listen, 0 if none */
	int			 errline;	/* line of the first error, 0 if none */
	int			 failed;
	char			*err;
	size_t			 errlen;
};

static void	 cfg_error(struct cfg_parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are usually consequences. */
static void
cfg_error(struct cfg_parse *p, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[CFG_MSG_MAX];

	if (p->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, msg);
	p->errline = line;
	p->failed = 1;
}

int
cfg_set_string(char **field, const char *value)
{
	char	*s = NULL;

	if (value != NULL && (s = strdup(value)) == NULL)
		return (-1);
	free(*field);
	*field = s;
	return (0);
}

/* Safe cache defaults: generation only when deterministic, diffusion and speech
   only with a seed, everything else always. */
static void
cfg_cache_defaults(struct config *c)
{
	static const char *const deterministic[] = {
		"text-generation", "summarization", "translation", "conversational"
	};
	static const char *const seeded[] = {
		"text-to-image", "image-to-image", "text-to-speech"
	};
	size_t	i;

	for (i = 0; i < TASK_COUNT; i++)
		c->cache_mode[i] = CACHE_ALWAYS;
	for (i = 0; i < sizeof(deterministic) / sizeof(deterministic[0]); i++)
		c->cache_mode[task_index(task_find(deterministic[i]))] =
		    CACHE_DETERMINISTIC;
	for (i = 0; i < sizeof(seeded) / sizeof(seeded[0]); i++)
		c->cache_mode[task_index(task_find(seeded[i]))] = CACHE_SEEDED;
}

int
cfg_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->listens[0].port = 8080;
	c->nlistens = 1;
	c->max_connections_per_ip = 256;
	c->header_timeout = 10;
	c->body_timeout = 60;
	c->max_header_bytes = 8 * 1024;
	c->log_level = LOG_LEVEL_INFO;
	c->max_url_bytes = 4 * 1024;
	c->usage_enabled = 1;
	c->usage_flush_ms = 1000;
	c->max_connections = 10000;
	c->max_body_bytes = 16 * 1024 * 1024;
	c->max_body_memory = (size_t)256 * 1024 * 1024;
	c->connection_timeout = 60;
	c->grace_seconds = 10;
	c->connect_timeout_ms = 10000;
	c->deadline_ms = 120000;
	c->max_attempts = 5;
	c->backoff_base_ms = 200;
	c->backoff_max_ms = 10000;
	c->max_response_bytes = 64 * 1024 * 1024;
	c->max_upstream_connections = 0;
	c->cache_enabled = 1;
	c->cache_max_bytes = (size_t)1024 * 1024 * 1024;
	c->cache_default_ttl = 86400;
	c->cache_hub_ttl = 600;
	cfg_cache_defaults(c);
	c->stream_first_byte = 120;
	c->stream_idle = 60;
	c->stream_total = 3600;
	c->stream_heartbeat = 15;
	c->stream_stall = 30;
	c->stream_buffer = 64 * 1024;
	if (cfg_set_string(&c->listens[0].host, "127.0.0.1") == -1 ||
	    cfg_set_string(&c->default_models_file, CFG_DEFAULT_MODELS_FILE) == -1 ||
	    cfg_set_string(&c->upstream_url, CFG_DEFAULT_UPSTREAM) == -1 ||
	    cfg_set_string(&c->default_chat_model, CFG_DEFAULT_CHAT_MODEL) == -1 ||
	    cfg_set_string(&c->hub_url, "https://huggingface.co") == -1 ||
	    cfg_set_string(&c->cache_db, CFG_DEFAULT_CACHE_DB) == -1 ||
	    cfg_set_string(&c->access_log, "stderr") == -1) {
		cfg_free(c);
		return (-1);
	}
	return (0);
}

static void
cfg_endpoint_clear(struct cfg_endpoint *ep)
{
	size_t	 i;

	free(ep->name);
	free(ep->url);
	for (i = 0; i < ep->nmodels; i++)
		free(ep->models[i]);
	free(ep->models);
	free(ep->task);
}

static void
cfg_client_clear(struct cfg_client *cl)
{
	size_t	 i;

	free(cl->name);
	free(cl->bill_to);
	for (i = 0; i < cl->ntasks; i++)
		free(cl->tasks[i]);
	free(cl->tasks);
	for (i = 0; i < cl->nmodels; i++)
		free(cl->models[i]);
	free(cl->models);
}

/* Frees a secret string after wiping it. */
static void
cfg_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
cfg_free(struct config *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	free(c->path);
	for (i = 0; i < c->nlistens; i++)
		free(c->listens[i].host);
	free(c->tls_cert);
	cfg_free_secret(c->tls_key);
	free(c->allow);
	free(c->proxies);
	free(c->usage_db);
	for (i = 0; i < c->nclients; i++)
		cfg_client_clear(&c->clients[i]);
	free(c->clients);
	for (i = 0; i < c->ncors_origins; i++)
		free(c->cors_origins[i]);
	free(c->cors_origins);
	free(c->default_models_file);
	free(c->root_model);
	free(c->access_log);
	free(c->upstream_url);
	free(c->openai_url);
	free(c->default_chat_model);
	free(c->hub_url);
	free(c->token_file);
	free(c->cache_db);
	cfg_free_secret(c->token);
	for (i = 0; i < TASK_COUNT; i++)
		free(c->default_model[i]);
	for (i = 0; i < c->nendpoints; i++)
		cfg_endpoint_clear(&c->endpoints[i]);
	free(c->endpoints);
	memset(c, 0, sizeof(*c));
}

/* Digits only, 1..5 of them, at most 65535. */
static int
cfg_parse_port(const char *s, unsigned *port)
{
	unsigned long	 v = 0;
	size_t		 n;

	for (n = 0; s[n] != '\0'; n++) {
		if (!isdigit((unsigned char)s[n]) || n >= 5)
			return (-1);
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || v > 65535)
		return (-1);
	*port = (unsigned)v;
	return (0);
}

/* One "HOST:PORT" or "[v6]:PORT" into l. 0 or -1 + err. */
static int
cfg_parse_hostport(const char *hostport, struct cfg_listen *l, char *err,
    size_t errlen)
{
	const char	*host, *end, *portstr;
	size_t		 hostlen, i;
	unsigned	 port;

	if (hostport[0] == '[') {
		host = hostport + 1;
		if ((end = strchr(host, ']')) == NULL || end[1] != ':') {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "expected [IPv6]:PORT", hostport);
			return (-1);
		}
		hostlen = (size_t)(end - host);
		portstr = end + 2;
	} else {
		host = hostport;
		if ((end = strrchr(hostport, ':')) == NULL) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "expected HOST:PORT", hostport);
			return (-1);
		}
		hostlen = (size_t)(end - host);
		if (memchr(host, ':', hostlen) != NULL) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "write an IPv6 address in brackets, [::1]:PORT", hostport);
			return (-1);
		}
		portstr = end + 1;
	}
	if (hostlen == 0) {
		snprintf(err, errlen, "invalid listen address '%s': empty host",
		    hostport);
		return (-1);
	}
	for (i = 0; i < hostlen; i++) {
		if (isspace((unsigned char)host[i]) || host[i] == '[' ||
		    host[i] == ']' || iscntrl((unsigned char)host[i])) {
			snprintf(err, errlen, "invalid listen address '%s': "
			    "bad character in host", hostport);
			return (-1);
		}
	}
	if (cfg_parse_port(portstr, &port) == -1) {
		snprintf(err, errlen, "invalid listen address '%s': port must be "
		    "a number from 0 to 65535", hostport);
		return (-1);
	}
	if ((l->host = strndup(host, hostlen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	l->port = port;
	return (0);
}

/*
 * Calls fn for each word of a list separated by commas and blanks. Stops at the first
 * failure. Returns 0, or -1 (fn's error). A file's words are shorter than its lines
 * (cfg_reader refuses longer lines than libinih's, under 200 characters); only -l can
 * pass a longer one, whose cut-off tail is its ":PORT", so it is refused all the same.
 */
static int
cfg_each_word(const char *list, int (*fn)(const char *, void *), void *arg)
{
	char		 word[256];
	const char	*s = list, *start;
	size_t		 len;

	for (;;) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return (0);
		for (start = s; *s != '\0' && *s != ',' && !isspace((unsigned char)*s); s++)
			;
		len = (size_t)(s - start);
		if (len >= sizeof(word))
			len = sizeof(word) - 1;
		memcpy(word, start, len);
		word[len] = '\0';
		if (fn(word, arg) == -1)
			return (-1);
	}
}

struct cfg_listen_parse {
	struct cfg_listen	 l[CFG_MAX_LISTEN];
	size_t			 n;
	int			 tls;
	char			*err;
	size_t			 errlen;
};

static int
cfg_listen_word(const char *word, void *arg)
{
	struct cfg_listen_parse	*lp = arg;

	if (lp->n == CFG_MAX_LISTEN) {
		snprintf(lp->err, lp->errlen, "more than %d listen addresses",
		    CFG_MAX_LISTEN);
		return (-1);
	}
	if (cfg_parse_hostport(word, &lp->l[lp->n], lp->err, lp->errlen) == -1)
		return (-1);
	lp->l[lp->n++].tls = lp->tls;
	return (0);
}

int
cfg_set_listen(struct config *c, const char *list, int tls, char *err, size_t errlen)
{
	struct cfg_listen_parse	 lp;
	struct cfg_listen	 keep[CFG_MAX_LISTEN];
	size_t			 i, nkeep = 0;

	memset(&lp, 0, sizeof(lp));
	lp.tls = tls;
	lp.err = err;
	lp.errlen = errlen;
	/* "none": no address of this kind (e.g. TLS only; cfg_check wants one). */
	if (strcmp(list, "none") != 0) {
		if (cfg_each_word(list, cfg_listen_word, &lp) == -1)
			goto fail;
		if (lp.n == 0) {
			snprintf(err, errlen, "invalid listen address '%s'", list);
			goto fail;
		}
	}
	for (i = 0; i < c->nlistens; i++) {
		if (c->listens[i].tls != tls)
			keep[nkeep++] = c->listens[i];
		else
			free(c->listens[i].host);
	}
	if (nkeep + lp.n > CFG_MAX_LISTEN) {
		for (i = 0; i < nkeep; i++)
			c->listens[i] = keep[i];
		c->nlistens = nkeep;
		snprintf(err, errlen, "more than %d listen addresses", CFG_MAX_LISTEN);
		goto fail;
	}
	/* keep holds the other kind. Plain addresses come first: the first one is
	   the one logged and the one tests connect to. */
	c->nlistens = 0;
	for (i = 0; i < nkeep && tls; i++)
		c->listens[c->nlistens++] = keep[i];
	for (i = 0; i < lp.n; i++)
		c->listens[c->nlistens++] = lp.l[i];
	for (i = 0; i < nkeep && !tls; i++)
		c->listens[c->nlistens++] = keep[i];
	return (0);
fail:
	for (i = 0; i < lp.n; i++)
		free(lp.l[i].host);
	return (-1);
}

/*
 * A duration: digits, then optionally a unit, ms, s, m, h or d ("500ms", "10s", "2m",
 * "1h"); bare digits are in unit_ms milliseconds (1000: the key is in seconds, 1: in
 * milliseconds), the key's meaning before units existed. *out gets the value in that
 * unit, which must be whole ("1500ms" for a key in seconds is refused) and in [min,
 * max]. 0, or -1 with msg.
 */
static int
cfg_parse_duration(const char *s, unsigned long long unit_ms, unsigned long long min,
    unsigned long long max, unsigned long long *out, char *msg, size_t msglen)
{
	static const struct {
		const char		*name;
		unsigned long long	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }
	};
	unsigned long long	 v, ms = unit_ms;
	const char		*what = unit_ms == 1000 ? "seconds" : "milliseconds";
	char			*end;
	size_t			 i;

	if (!isdigit((unsigned char)s[0]))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		goto range;
	if (*end != '\0') {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(end, units[i].name) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		ms = units[i].ms;
	}
	if (v > ULLONG_MAX / ms)
		goto range;
	v *= ms;
	if (v % unit_ms != 0) {
		snprintf(msg, msglen, "'%s' is not a whole number of %s", s, what);
		return (-1);
	}
	v /= unit_ms;
	if (v < min || v > max)
		goto range;
	*out = v;
	return (0);
bad:
	snprintf(msg, msglen, "'%s' is not a duration (digits, in %s, or with a unit: "
	    "ms, s, m, h or d)", s, what);
	return (-1);
range:
	snprintf(msg, msglen, "'%s' is out of range (%llu to %llu %s)", s, min, max, what);
	return (-1);
}

/*
 * A decimal number, with a k/M/G (binary) suffix when suffixes is set, within
 * [min, max]. Signs and blanks are refused: strtoull would accept "-1".
 */
static int
cfg_parse_number(const char *s, int suffixes, unsigned long long min,
    unsigned long long max, unsigned long long *out, char *msg, size_t msglen)
{
	unsigned long long	 v, mult = 1;
	char			*end;

	if (!isdigit((unsigned char)s[0]))
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		goto range;
	if (suffixes && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K':
			mult = 1024ULL;
			break;
		case 'm': case 'M':
			mult = 1024ULL * 1024;
			break;
		case 'g': case 'G':
			mult = 1024ULL * 1024 * 1024;
			break;
		default:
			goto bad;
		}
		end++;
	}
	if (*end != '\0')
		goto bad;
	if (v > ULLONG_MAX / mult)
		goto range;
	v *= mult;
	if (v < min || v > max)
		goto range;
	*out = v;
	return (0);
bad:
	snprintf(msg, msglen, "'%s' is not a %snumber", s,
	    suffixes ? "size (digits with an optional k, M or G suffix) or " : "");
	return (-1);
range:
	snprintf(msg, msglen, "'%s' is out of range (%llu to %llu)", s, min, max);
	return (-1);
}

static int
cfg_parse_bool(const char *s, int *out)
{
	static const char	*yes[] = { "yes", "true", "on", "1" };
	static const char	*no[] = { "no", "false", "off", "0" };
	size_t			 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return (0);
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return (0);
		}
	}
	return (-1);
}

#define CFG_ROUTER_TASKS	"/hf-inference"

int
cfg_router(const struct config *c)
{
	size_t	n = strlen(c->upstream_url), m = sizeof(CFG_ROUTER_TASKS) - 1;

	return (n >= m && strcmp(c->upstream_url + n - m, CFG_ROUTER_TASKS) == 0);
}

int
cfg_openai_base(const struct config *c, char *out, size_t len)
{
	const char	*u = c->upstream_url;
	size_t		 n = strlen(u);
	int		 w;

	if (c->openai_url != NULL)
		w = snprintf(out, len, "%s", c->openai_url);
	else if (cfg_router(c))
		w = snprintf(out, len, "%.*s/v1", (int)(n - (sizeof(CFG_ROUTER_TASKS) - 1)),
		    u);
	else
		w = snprintf(out, len, "%s/v1", u);
	return (w < 0 || (size_t)w >= len ? -1 : 0);
}

/*
 * Checks an http(s) base URL (upstream.c, with libcurl's URL parser) and returns a copy
 * without trailing '/', since callers append "/models/..." to it. NULL with msg on
 * error; msg never quotes the URL, which may hold a password.
 */
static char *
cfg_parse_url(const char *s, char *msg, size_t msglen)
{
	size_t	 len;

	if (up_check_url(s, msg, msglen) == -1)
		return (NULL);
	len = strlen(s);
	while (len > 0 && s[len - 1] == '/')
		len--;
	return (strndup(s, len));
}

int
cfg_set_url(char **field, const char *value, char *err, size_t errlen)
{
	char	*s;

	if ((s = cfg_parse_url(value, err, errlen)) == NULL)
		return (-1);
	free(*field);
	*field = s;
	return (0);
}

/* path resolved against the config file's directory unless absolute. */
static char *
cfg_resolve_path(const struct cfg_parse *p, const char *value)
{
	char	*s;

	if (value[0] == '/' || p->dir == NULL)
		return (strdup(value));
	if (asprintf(&s, "%s/%s", p->dir, value) == -1)
		return (NULL);
	return (s);
}

/* Reads a whole small file into a malloc'd NUL-terminated string. 0 or -1 + msg. */
static int
cfg_read_file(const char *path, char **out, size_t *outlen, char *msg, size_t msglen)
{
	FILE	*f;
	char	*data = NULL;
	size_t	 len;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if ((data = malloc(CFG_FILE_MAX + 1)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		goto fail;
	}
	len = fread(data, 1, CFG_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(msg, msglen, "%s: read error", path);
		goto fail;
	}
	if (len > CFG_FILE_MAX) {
		snprintf(msg, msglen, "%s: larger than %d bytes", path, CFG_FILE_MAX);
		goto fail;
	}
	data[len] = '\0';
	fclose(f);
	*out = data;
	*outlen = len;
	return (0);
fail:
	if (data != NULL) {
		explicit_bzero(data, CFG_FILE_MAX + 1);
		free(data);
	}
	fclose(f);
	return (-1);
}

int
cfg_hash_key(const char *key, size_t len, uint8_t out[CFG_KEY_HASH_LEN])
{
	unsigned int	n = 0;

	if (digest_sha256() == NULL ||
	    EVP_Digest(key, len, out, &n, digest_sha256(), NULL) != 1 ||
	    n != CFG_KEY_HASH_LEN)
		return (-1);
	return (0);
}

/* A key file: its content without surrounding white space, hashed. 0 or -1 + msg. */
static int
cfg_key_file(const char *path, uint8_t out[CFG_KEY_HASH_LEN], char *msg, size_t msglen)
{
	char	*data, *k;
	size_t	 len;
	int	 rc = -1;

	if (cfg_read_file(path, &data, &len, msg, msglen) == -1)
		return (-1);
	for (k = data; isspace((unsigned char)*k); k++)
		;
	len -= (size_t)(k - data);
	while (len > 0 && isspace((unsigned char)k[len - 1]))
		len--;
	if (len == 0)
		snprintf(msg, msglen, "%s: the key file is empty", path);
	else if (cfg_hash_key(k, len, out) == -1)
		snprintf(msg, msglen, "cannot hash the key");
	else
		rc = 0;
	explicit_bzero(data, strlen(data));
	free(data);
	return (rc);
}

/* 64 hex digits (any case). 0 or -1 + msg. */
static int
cfg_key_hex(const char *s, uint8_t out[CFG_KEY_HASH_LEN], char *msg, size_t msglen)
{
	size_t	i;
	int	hi, lo;

	if (strlen(s) != CFG_KEY_HASH_LEN * 2)
		goto bad;
	for (i = 0; i < CFG_KEY_HASH_LEN; i++) {
		hi = isxdigit((unsigned char)s[2 * i]) ? s[2 * i] : -1;
		lo = isxdigit((unsigned char)s[2 * i + 1]) ? s[2 * i + 1] : -1;
		if (hi == -1 || lo == -1)
			goto bad;
		hi = isdigit(hi) ? hi - '0' : tolower(hi) - 'a' + 10;
		lo = isdigit(lo) ? lo - '0' : tolower(lo) - 'a' + 10;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (0);
bad:
	snprintf(msg, msglen, "key_sha256 must be 64 hex digits (the output of "
	    "printf %%s KEY | sha256sum)");
	return (-1);
}

/* "ADDR" or "ADDR/BITS", IPv4 or IPv6; host bits are cleared. 0 or -1. */
static int
cfg_parse_cidr(const char *word, struct cfg_cidr *n)
{
	char		 addr[INET6_ADDRSTRLEN + 1];
	const char	*slash = strchr(word, '/');
	size_t		 len = slash != NULL ? (size_t)(slash - word) : strlen(word);
	unsigned	 bits, max, i;
	char		*end;
	unsigned long	 v;

	if (len == 0 || len >= sizeof(addr))
		return (-1);
	memcpy(addr, word, len);
	addr[len] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		return (-1);
	bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)slash[1]))
			return (-1);
		errno = 0;
		v = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || errno != 0 || v > max)
			return (-1);
		bits = (unsigned)v;
	}
	n->prefix = bits;
	for (i = bits; i < max; i++)
		n->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return (0);
}

/* A list of networks being read: allow or trusted_proxies. */
struct cfg_allow_parse {
	struct cfg_cidr	**list;
	size_t		 *n;
	const char	 *bad;
	char		  badword[64];
};

static int
cfg_allow_word(const char *word, void *arg)
{
	struct cfg_allow_parse	*ap = arg;
	struct cfg_cidr		*a;

	if (*ap->n == CFG_MAX_ALLOW) {
		ap->bad = "too many networks";
		return (-1);
	}
	a = reallocarray(*ap->list, *ap->n + 1, sizeof(*a));
	if (a == NULL) {
		ap->bad = "out of memory";
		return (-1);
	}
	*ap->list = a;
	if (cfg_parse_cidr(word, &a[*ap->n]) == -1) {
		snprintf(ap->badword, sizeof(ap->badword), "%s", word);
		ap->bad = "not an address or network (ADDR or ADDR/BITS)";
		return (-1);
	}
	(*ap->n)++;
	return (0);
}

struct cfg_origin_parse {
	struct config	*c;
	const char	*bad;
	char		 badword[64];
};

/*
 * One origin as a browser sends it (RFC 6454): http:// or https://, a host, an optional
 * port, nothing after; or "*". Never "null", the origin of local files and sandboxes.
 */
static int
cfg_origin_word(const char *word, void *arg)
{
	struct cfg_origin_parse	*op = arg;
	const char		*h, *q;
	char			**l, *w;
	unsigned		 port;

	snprintf(op->badword, sizeof(op->badword), "%s", word);
	if (strcmp(word, "*") != 0) {
		if (strncasecmp(word, "http://", 7) == 0)
			h = word + 7;
		else if (strncasecmp(word, "https://", 8) == 0)
			h = word + 8;
		else {
			op->bad = "not an origin (http:// or https://, a host and an "
			    "optional port), nor '*'";
			return (-1);
		}
		if (*h == '[') {
			for (q = h + 1; isxdigit((unsigned char)*q) || *q == ':' ||
			    *q == '.'; q++)
				;
			q = *q == ']' && q > h + 1 ? q + 1 : h;
		} else
			for (q = h; isalnum((unsigned char)*q) || *q == '-' || *q == '.';
			    q++)
				;
		if (q == h || (*q == ':' && cfg_parse_port(q + 1, &port) == -1) ||
		    (*q != ':' && *q != '\0')) {
			op->bad = *q == '/' ? "an origin has no path, not even '/'" :
			    "not an origin (http:// or https://, a host and an optional "
			    "port)";
			return (-1);
		}
	}
	if ((l = reallocarray(op->c->cors_origins, op->c->ncors_origins + 1,
	    sizeof(*l))) == NULL || (w = strdup(word)) == NULL) {
		if (l != NULL)
			op->c->cors_origins = l;
		op->bad = "out of memory";
		return (-1);
	}
	op->c->cors_origins = l;
	l[op->c->ncors_origins++] = w;
	return (0);
}

static int
cfg_oom(struct cfg_parse *p)
{
	cfg_error(p, p->lineno, "out of memory");
	return (0);
}

/* The [server], [upstream] and [cache] keys. Returns 1, or 0 on error. */
static int
cfg_set_key(struct cfg_parse *p, const struct cfg_key *k, const char *value)
{
	char			 msg[CFG_MSG_MAX], *s, *data;
	char			*base = (char *)p->c;
	unsigned long long	 v;
	size_t			 len;
	int			 rc;

	if (*value == '\0' && k->type != CFG_STR_OR_UNSET && k->type != CFG_MODEL) {
		cfg_error(p, p->lineno, "missing value for '%s'", k->name);
		return (0);
	}
	switch (k->type) {
	case CFG_STR:
	case CFG_STR_OR_UNSET:
		if (cfg_set_string((char **)(base + k->off),
		    *value == '\0' ? NULL : value) == -1)
			return (cfg_oom(p));
		break;
	case CFG_MODEL:
		if (*value != '\0' && !modelid_valid(value)) {
			cfg_error(p, p->lineno, "%s: invalid model id '%s'", k->name, value);
			return (0);
		}
		if (cfg_set_string((char **)(base + k->off),
		    *value == '\0' ? NULL : value) == -1)
			return (cfg_oom(p));
		break;
	case CFG_ACCESS_FORMAT:
		if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0) {
			cfg_error(p, p->lineno, "%s: '%s' is not text or json", k->name,
			    value);
			return (0);
		}
		*(int *)(base + k->off) = strcmp(value, "json") == 0;
		break;
	case CFG_LOG_LEVEL: {
		enum log_level	 l;

		if (log_level_parse(value, &l) == -1) {
			cfg_error(p, p->lineno, "%s: '%s' is not error, warning, info or "
			    "debug", k->name, value);
			return (0);
		}
		*(int *)(base + k->off) = (int)l;
		break;
	}
	case CFG_ORIGINS: {
		struct cfg_origin_parse op = { .c = p->c };

		/* Repeating the key adds origins. */
		if (cfg_each_word(value, cfg_origin_word, &op) == -1) {
			cfg_error(p, p->lineno, "cors_origin: '%s': %s", op.badword, op.bad);
			return (0);
		}
		if (p->c->ncors_origins > 1 && cfg_cors_origin(p->c, NULL) != NULL) {
			cfg_error(p, p->lineno, "cors_origin: '*' (any origin) cannot be "
			    "listed with other origins");
			return (0);
		}
		break;
	}
	case CFG_PATH:
		if ((s = cfg_resolve_path(p, value)) == NULL)
			return (cfg_oom(p));
		free(*(char **)(base + k->off));
		*(char **)(base + k->off) = s;
		break;
	case CFG_URL:
		if ((s = cfg_parse_url(value, msg, sizeof(msg))) == NULL) {
			cfg_error(p, p->lineno, "%s: %s", k->name, msg);
			return (0);
		}
		free(*(char **)(base + k->off));
		*(char **)(base + k->off) = s;
		break;
	case CFG_LISTEN:
		if (cfg_set_listen(p->c, value, (int)k->min, msg, sizeof(msg)) == -1) {
			cfg_error(p, p->lineno, "%s", msg);
			return (0);
		}
		if (k->min)
			p->tls_line = p->lineno;
		break;
	case CFG_PEM:
		if ((s = cfg_resolve_path(p, value)) == NULL)
			return (cfg_oom(p));
		rc = cfg_read_file(s, &data, &len, msg, sizeof(msg));
		free(s);
		if (rc == -1) {
			cfg_error(p, p->lineno, "%s: %s", k->name, msg);
			return (0);
		}
		cfg_free_secret(*(char **)(base + k->off));
		*(char **)(base + k->off) = data;
		break;
	case CFG_CIDRS: {
		struct cfg_allow_parse ap = {
			.list = k->min ? &p->c->proxies : &p->c->allow,
			.n = k->min ? &p->c->nproxies : &p->c->nallow
		};

		/* Repeating the key adds networks. */
		if (cfg_each_word(value, cfg_allow_word, &ap) == -1) {
			cfg_error(p, p->lineno, "%s: '%s': %s", k->name, ap.badword,
			    ap.bad);
			return (0);
		}
		break;
	}
	case CFG_KEY_SHA256:
	case CFG_KEY_FILE:
		if (k->type == CFG_KEY_SHA256)
			rc = cfg_key_hex(value, (uint8_t *)(base + k->off), msg,
			    sizeof(msg));
		else if ((s = cfg_resolve_path(p, value)) == NULL)
			return (cfg_oom(p));
		else {
			rc = cfg_key_file(s, (uint8_t *)(base + k->off), msg,
			    sizeof(msg));
			free(s);
		}
		if (rc == -1) {
			cfg_error(p, p->lineno, "%s: %s", k->name, msg);
			return (0);
		}
		p->c->admin_has_key = 1;
		break;
	case CFG_SECONDS:
	case CFG_MILLIS:
		if (cfg_parse_duration(value, k->type == CFG_SECONDS ? 1000 : 1, k->min,
		    k->max, &v, msg, sizeof(msg)) == -1) {
			cfg_error(p, p->lineno, "%s: %s", k->name, msg);
			return (0);
		}
		if (k->type == CFG_SECONDS)
			*(unsigned *)(base + k->off) = (unsigned)v;
		else
			*(long *)(base + k->off) = (long)v;
		break;
	case CFG_UINT:
	case CFG_LONG:
	case CFG_SIZE:
		if (cfg_parse_number(value, k->type == CFG_SIZE, k->min, k->max,
		    &v, msg, sizeof(msg)) == -1) {
			cfg_error(p, p->lineno, "%s: %s", k->name, msg);
			return (0);
		}
		if (k->type == CFG_UINT)
			*(unsigned *)(base + k->off) = (unsigned)v;
		else if (k->type == CFG_LONG)
			*(long *)(base + k->off) = (long)v;
		else
			*(size_t *)(base + k->off) = (size_t)v;
		break;
	case CFG_BOOL:
		if (cfg_parse_bool(value, (int *)(base + k->off)) == -1) {
			cfg_error(p, p->lineno, "%s: '%s' is not yes or no",
			    k->name, value);
			return (0);
		}
		break;
	}
	return (1);
}

static int
cfg_default_model(struct cfg_parse *p, const char *name, const char *value)
{
	const struct task_info	*t;
	char			**slot;

	if (strcmp(name, "chat-completion") == 0) {
		if (!modelid_valid(value)) {
			cfg_error(p, p->lineno, "invalid model id '%s'", value);
			return (0);
		}
		return (cfg_set_string(&p->c->default_chat_model, value) == -1 ?
		    cfg_oom(p) : 1);
	}
	if ((t = task_find(name)) == NULL) {
		cfg_error(p, p->lineno, "unknown task '%s'", name);
		return (0);
	}
	if (!modelid_valid(value)) {
		cfg_error(p, p->lineno, "invalid model id '%s'", value);
		return (0);
	}
	slot = &p->c->default_model[task_index(t)];
	if (cfg_set_string(slot, value) == -1)
		return (cfg_oom(p));
	return (1);
}

/* "task = always|deterministic|seeded|never [ttl seconds]" */
static int
cfg_cache_policy(struct cfg_parse *p, const char *name, const char *value)
{
	static const char *const modes[] = {
		[CACHE_ALWAYS] = "always", [CACHE_DETERMINISTIC] = "deterministic",
		[CACHE_SEEDED] = "seeded", [CACHE_NEVER] = "never"
	};
	const struct task_info	*t;
	const char		*sp;
	size_t			 i, len;
	unsigned long long	 ttl = 0;
	char			 msg[160];

	if ((t = task_find(name)) == NULL) {
		cfg_error(p, p->lineno, "unknown task '%s'", name);
		return (0);
	}
	len = (sp = strchr(value, ' ')) != NULL ? (size_t)(sp - value) : strlen(value);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strlen(modes[i]) == len && strncmp(value, modes[i], len) == 0)
			break;
	if (i == sizeof(modes) / sizeof(modes[0])) {
		cfg_error(p, p->lineno, "cache policy must be always, deterministic, "
		    "seeded or never, optionally followed by a TTL (seconds, or with a "
		    "unit: 10m, 1h, 7d)");
		return (0);
	}
	if (sp != NULL) {
		while (*sp == ' ')
			sp++;
		if (cfg_parse_duration(sp, 1000, 1, 315360000, &ttl, msg, sizeof(msg)) == -1) {
			cfg_error(p, p->lineno, "invalid TTL: %s", msg);
			return (0);
		}
	}
	p->c->cache_mode[task_index(t)] = (enum cfg_cache_mode)i;
	p->c->cache_ttl[task_index(t)] = (unsigned)ttl;
	return (1);
}

/* Appends the space-separated models of value; repeating "models" adds more. */
static int
cfg_endpoint_models(struct cfg_parse *p, struct cfg_endpoint *ep, const char *value)
{
	const struct cfg_endpoint	*other;
	const char			*s = value, *start;
	char				*m, **nm;
	size_t				 len;

	if (*value == '\0') {
		cfg_error(p, p->lineno, "missing value for 'models'");
		return (0);
	}
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			break;
		start = s;
		while (*s != '\0' && !isspace((unsigned char)*s))
			s++;
		len = (size_t)(s - start);
		if ((m = strndup(start, len)) == NULL)
			return (cfg_oom(p));
		if (!modelid_valid(m)) {
			cfg_error(p, p->lineno, "invalid model id '%s'", m);
			free(m);
			return (0);
		}
		if ((other = cfg_endpoint_for_model(p->c, m)) != NULL) {
			cfg_error(p, p->lineno, "model '%s' is already served by "
			    "endpoint '%s'", m, other->name);
			free(m);
			return (0);
		}
		nm = reallocarray(ep->models, ep->nmodels + 1, sizeof(*nm));
		if (nm == NULL) {
			free(m);
			return (cfg_oom(p));
		}
		ep->models = nm;
		ep->models[ep->nmodels++] = m;
	}
	return (1);
}

static int
cfg_endpoint_key(struct cfg_parse *p, const char *name, const char *value)
{
	struct cfg_endpoint	*ep = &p->c->endpoints[p->ep];
	char			 msg[CFG_MSG_MAX], *s;

	if (strcmp(name, "url") == 0) {
		if ((s = cfg_parse_url(value, msg, sizeof(msg))) == NULL) {
			cfg_error(p, p->lineno, "url: %s", msg);
			return (0);
		}
		free(ep->url);
		ep->url = s;
		return (1);
	}
	if (strcmp(name, "models") == 0)
		return (cfg_endpoint_models(p, ep, value));
	if (strcmp(name, "task") == 0) {
		if (task_find(value) == NULL) {
			cfg_error(p, p->lineno, "unknown task '%s'", value);
			return (0);
		}
		if (cfg_set_string(&ep->task, value) == -1)
			return (cfg_oom(p));
		return (1);
	}
	if (strcmp(name, "protocol") == 0) {
		if (strcmp(value, "tgi") == 0)
			ep->protocol = CFG_PROTO_TGI;
		else if (strcmp(value, "openai") == 0)
			ep->protocol = CFG_PROTO_OPENAI;
		else if (strcmp(value, "auto") == 0)
			ep->protocol = CFG_PROTO_AUTO;
		else {
			cfg_error(p, p->lineno,
			    "protocol must be tgi, openai or auto, not '%s'", value);
			return (0);
		}
		return (1);
	}
	cfg_error(p, p->lineno, "unknown key '%s' in [%s]", name, p->sectname);
	return (0);
}

struct cfg_glob_parse {
	struct cfg_parse	*p;
	char		      ***list;
	size_t			*n;
	int			 tasks;		/* patterns of task names */
};

static int
cfg_glob_word(const char *word, void *arg)
{
	struct cfg_glob_parse	*gp = arg;
	char			**l, *w;
	const char		*q;

	/* A task name without wildcards must exist: catches typos that would
	   silently forbid a task. */
	if (gp->tasks && strpbrk(word, "*?[") == NULL && task_find(word) == NULL) {
		cfg_error(gp->p, gp->p->lineno, "unknown task '%s'", word);
		return (-1);
	}
	for (q = word; *q != '\0'; q++) {
		if (!isalnum((unsigned char)*q) && strchr("._-/*?[]!", *q) == NULL) {
			cfg_error(gp->p, gp->p->lineno, "invalid pattern '%s'", word);
			return (-1);
		}
	}
	if ((l = reallocarray(*gp->list, *gp->n + 1, sizeof(*l))) == NULL ||
	    (w = strdup(word)) == NULL) {
		if (l != NULL)
			*gp->list = l;
		cfg_oom(gp->p);
		return (-1);
	}
	*gp->list = l;
	l[(*gp->n)++] = w;
	return (0);
}

/* Keys of [client NAME]. Returns 1, or 0 on error. */
static int
cfg_client_key(struct cfg_parse *p, const char *name, const char *value)
{
	static const struct {
		const char	*name;
		size_t		 off;
		unsigned	 max;
	} nums[] = {
		{ "rate", offsetof(struct cfg_client, rate), 6000000 },
		{ "burst", offsetof(struct cfg_client, burst), 6000000 },
		{ "max_concurrent", offsetof(struct cfg_client, max_concurrent), 1000000 },
		{ "daily_quota", offsetof(struct cfg_client, daily_quota), 4000000000u },
		{ "daily_token_quota", offsetof(struct cfg_client, daily_token_quota),
		    4000000000u },
	};
	struct cfg_client	*cl = &p->c->clients[p->cl];
	struct cfg_glob_parse	 gp = { .p = p };
	char			 msg[CFG_MSG_MAX], *path;
	unsigned long long	 v;
	size_t			 i;
	int			 rc;

	if (*value == '\0') {
		cfg_error(p, p->lineno, "missing value for '%s'", name);
		return (0);
	}
	if (strcmp(name, "key_sha256") == 0 || strcmp(name, "key_file") == 0) {
		if (name[4] == 's')
			rc = cfg_key_hex(value, cl->key_hash, msg, sizeof(msg));
		else if ((path = cfg_resolve_path(p, value)) == NULL)
			return (cfg_oom(p));
		else {
			rc = cfg_key_file(path, cl->key_hash, msg, sizeof(msg));
			free(path);
		}
		if (rc == -1) {
			cfg_error(p, p->lineno, "%s: %s", name, msg);
			return (0);
		}
		cl->has_key = 1;
		return (1);
	}
	if (strcmp(name, "bill_to") == 0) {
		/* An organisation's name on the Hub. */
		if (strlen(value) >= CFG_MSG_MAX || !modelid_part_valid(value, strlen(value))) {
			cfg_error(p, p->lineno, "bill_to: invalid organisation '%s'", value);
			return (0);
		}
		return (cfg_set_string(&cl->bill_to, value) == -1 ? cfg_oom(p) : 1);
	}
	if (strcmp(name, "tasks") == 0 || strcmp(name, "models") == 0) {
		gp.tasks = name[0] == 't';
		gp.list = gp.tasks ? &cl->tasks : &cl->models;
		gp.n = gp.tasks ? &cl->ntasks : &cl->nmodels;
		return (cfg_each_word(value, cfg_glob_word, &gp) == 0);
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(name, nums[i].name) != 0)
			continue;
		if (cfg_parse_number(value, 0, 0, nums[i].max, &v, msg,
		    sizeof(msg)) == -1) {
			cfg_error(p, p->lineno, "%s: %s", name, msg);
			return (0);
		}
		*(unsigned *)(void *)((char *)cl + nums[i].off) = (unsigned)v;
		return (1);
	}
	cfg_error(p, p->lineno, "unknown key '%s' in [%s]", name, p->sectname);
	return (0);
}

/* libinih callback; the section comes from cfg_reader, which saw the header. */
static int
cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parse	*p = user;
	size_t			 i;

	(void)section;
	if (p->failed)
		return (0);
	switch (p->sect) {
	case SECT_NONE:
		cfg_error(p, p->lineno, "key '%s' outside any section", name);
		return (0);
	case SECT_DEFAULT_MODELS:
		return (cfg_default_model(p, name, value));
	case SECT_CACHE_POLICY:
		return (cfg_cache_policy(p, name, value));
	case SECT_ENDPOINT:
		return (cfg_endpoint_key(p, name, value));
	case SECT_CLIENT:
		return (cfg_client_key(p, name, value));
	default:
		break;
	}
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		if (cfg_keys[i].sect == p->sect &&
		    strcmp(cfg_keys[i].name, name) == 0)
			return (cfg_set_key(p, &cfg_keys[i], value));
	}
	cfg_error(p, p->lineno, "unknown key '%s' in [%s]", name, p->sectname);
	return (0);
}

/* Called when a section ends: an endpoint needs a url, a client a key of its own. */
static void
cfg_section_end(struct cfg_parse *p)
{
	const struct cfg_endpoint	*ep;
	const struct cfg_client		*cl;
	size_t				 i;

	if (p->sect == SECT_ENDPOINT) {
		ep = &p->c->endpoints[p->ep];
		if (ep->url == NULL)
			cfg_error(p, p->sectline, "endpoint '%s' has no url", ep->name);
	}
	if (p->sect != SECT_CLIENT)
		return;
	cl = &p->c->clients[p->cl];
	if (!cl->has_key) {
		cfg_error(p, p->sectline, "client '%s' has no key (key_sha256 or "
		    "key_file)", cl->name);
		return;
	}
	for (i = 0; i < p->cl; i++) {
		if (memcmp(p->c->clients[i].key_hash, cl->key_hash,
		    CFG_KEY_HASH_LEN) == 0) {
			cfg_error(p, p->sectline, "client '%s' has the same key as "
			    "client '%s'", cl->name, p->c->clients[i].name);
			return;
		}
	}
}

static int
cfg_valid_name(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-')
			return (0);
	}
	return (1);
}

static int
cfg_new_endpoint(struct cfg_parse *p, const char *name)
{
	struct config		*c = p->c;
	struct cfg_endpoint	*eps;

	if (!cfg_valid_name(name)) {
		cfg_error(p, p->lineno, "invalid endpoint name '%s' (letters, "
		    "digits, '.', '_' and '-' only)", name);
		return (-1);
	}
	if (cfg_endpoint_by_name(c, name) != NULL) {
		cfg_error(p, p->lineno, "duplicate endpoint '%s'", name);
		return (-1);
	}
	eps = reallocarray(c->endpoints, c->nendpoints + 1, sizeof(*eps));
	if (eps == NULL) {
		cfg_oom(p);
		return (-1);
	}
	c->endpoints = eps;
	memset(&eps[c->nendpoints], 0, sizeof(eps[0]));
	if ((eps[c->nendpoints].name = strdup(name)) == NULL) {
		cfg_oom(p);
		return (-1);
	}
	p->ep = c->nendpoints++;
	p->sectline = p->lineno;
	return (0);
}

static int
cfg_new_client(struct cfg_parse *p, const char *name)
{
	struct config		*c = p->c;
	struct cfg_client	*cls;
	size_t			 i;

	/* "-" stands for requests without a client in the usage table. */
	if (!cfg_valid_name(name) || strcmp(name, "-") == 0 || strlen(name) > 63) {
		cfg_error(p, p->lineno, "invalid client name '%s' (up to 63 letters, "
		    "digits, '.', '_' and '-')", name);
		return (-1);
	}
	for (i = 0; i < c->nclients; i++) {
		if (strcmp(c->clients[i].name, name) == 0) {
			cfg_error(p, p->lineno, "duplicate client '%s'", name);
			return (-1);
		}
	}
	if ((cls = reallocarray(c->clients, c->nclients + 1, sizeof(*cls))) == NULL) {
		cfg_oom(p);
		return (-1);
	}
	c->clients = cls;
	memset(&cls[c->nclients], 0, sizeof(cls[0]));
	if ((cls[c->nclients].name = strdup(name)) == NULL) {
		cfg_oom(p);
		return (-1);
	}
	p->cl = c->nclients++;
	p->sectline = p->lineno;
	return (0);
}

/* "[word NAME]": NAME when name is word followed by blanks and a name, else NULL. */
static const char *
cfg_named_section(const char *name, const char *word)
{
	size_t	len = strlen(word);

	if (strncmp(name, word, len) != 0 ||
	    (name[len] != '\0' && !isspace((unsigned char)name[len])))
		return (NULL);
	for (name += len; isspace((unsigned char)*name); name++)
		;
	return (name);
}

/*
 * A "[name]" line (s starts at '['). Sections are tracked here rather than in
 * the handler because libinih does not call it for a section without keys, and
 * an empty [endpoint] must still be reported.
 */
static int
cfg_section_line(struct cfg_parse *p, const char *s)
{
	const char	*close, *q;
	char		 name[sizeof(p->sectname)];
	const char	*word2;
	size_t		 len;

	cfg_section_end(p);
	if (p->failed)
		return (-1);
	if ((close = strchr(s, ']')) == NULL) {
		cfg_error(p, p->lineno, "missing ']' in section header");
		return (-1);
	}
	for (q = close + 1; isspace((unsigned char)*q); q++)
		;
	if (*q != '\0' && *q != '#' && *q != ';') {
		cfg_error(p, p->lineno, "unexpected text after section header");
		return (-1);
	}
	s++;
	while (isspace((unsigned char)*s))
		s++;
	len = (size_t)(close - s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len >= sizeof(name)) {
		cfg_error(p, p->lineno, "section name too long");
		return (-1);
	}
	memcpy(name, s, len);
	name[len] = '\0';
	memcpy(p->sectname, name, len + 1);

	if (strcmp(name, "server") == 0)
		p->sect = SECT_SERVER;
	else if (strcmp(name, "upstream") == 0)
		p->sect = SECT_UPSTREAM;
	else if (strcmp(name, "cache") == 0)
		p->sect = SECT_CACHE;
	else if (strcmp(name, "stream") == 0)
		p->sect = SECT_STREAM;
	else if (strcmp(name, "default-models") == 0)
		p->sect = SECT_DEFAULT_MODELS;
	else if (strcmp(name, "cache-policy") == 0)
		p->sect = SECT_CACHE_POLICY;
	else if (strcmp(name, "usage") == 0)
		p->sect = SECT_USAGE;
	else if (strcmp(name, "admin") == 0)
		p->sect = SECT_ADMIN;
	else if ((word2 = cfg_named_section(name, "endpoint")) != NULL ||
	    (word2 = cfg_named_section(name, "client")) != NULL) {
		if (*word2 == '\0') {
			cfg_error(p, p->lineno, "[%s] needs a name: [%s NAME]",
			    name, name);
			return (-1);
		}
		if (name[0] == 'e') {
			p->sect = SECT_ENDPOINT;
			return (cfg_new_endpoint(p, word2));
		}
		p->sect = SECT_CLIENT;
		return (cfg_new_client(p, word2));
	} else {
		cfg_error(p, p->lineno, "unknown section [%s]", name);
		return (-1);
	}
	return (0);
}

/*
 * libinih reader: one whole line per call, so its line count and ours agree,
 * and ours is known when the handler runs. Leading blanks are dropped so that
 * libinih never treats an indented line as a continuation of the previous
 * value. Returns NULL at the end or to stop at the first error.
 */
static char *
cfg_reader(char *str, int num, void *user)
{
	struct cfg_parse	*p = user;
	ssize_t			 n;
	char			*s;
	size_t			 len;

	if (p->failed)
		return (NULL);
	if ((n = getline(&p->line, &p->linecap, p->f)) == -1) {
		if (ferror(p->f))
			cfg_error(p, p->lineno + 1, "read error: %s",
			    strerror(errno));
		else
			cfg_section_end(p);
		return (NULL);
	}
	p->lineno++;
	s = p->line;
	len = (size_t)n;
	if (memchr(s, '\0', len) != NULL) {
		cfg_error(p, p->lineno, "NUL byte in line");
		return (NULL);
	}
	if (p->lineno == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	while (isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	if (num < 1 || len > (size_t)num - 1) {
		cfg_error(p, p->lineno, "line too long (more than %d characters;"
		    " repeat the key to list more models)", num - 1);
		return (NULL);
	}
	if (*s == '[') {
		if (cfg_section_line(p, s) == -1)
			return (NULL);
	} else if (*s != '\0' && *s != '#' && *s != ';' &&
	    strpbrk(s, "=:") == NULL) {
		cfg_error(p, p->lineno, "expected 'key = value' or '[section]'");
		return (NULL);
	}
	memcpy(str, s, len + 1);
	return (str);
}

/* Rules across sections, once the whole file is read. */
static void
cfg_check(struct cfg_parse *p)
{
	const struct config	*c = p->c;
	size_t			 i;

	if (c->nlistens == 0)
		cfg_error(p, p->lineno, "no listen address (listen or tls_listen)");
	if (p->tls_line != 0 && (c->tls_cert == NULL || c->tls_key == NULL))
		cfg_error(p, p->tls_line, "tls_listen needs tls_cert and tls_key");
	/* Such a body could never be held: every request with one would get a 503. */
	if (c->max_body_bytes > c->max_body_memory)
		cfg_error(p, p->lineno, "max_body_bytes (%zu) exceeds max_body_memory "
		    "(%zu)", c->max_body_bytes, c->max_body_memory);
	for (i = 0; i < c->nclients && c->admin_has_key; i++)
		if (memcmp(c->clients[i].key_hash, c->admin_key_hash,
		    CFG_KEY_HASH_LEN) == 0)
			cfg_error(p, p->lineno, "the admin key is also client '%s''s key",
			    c->clients[i].name);
}

/*
 * Stops at the first error. On failure c may hold part of the file: a reload
 * (SIGHUP) should load into a fresh struct and swap it in only on success.
 */
int
cfg_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct cfg_parse	 p;
	const char		*slash;
	int			 rv;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.path = path;
	p.err = err;
	p.errlen = errlen;
	p.sect = SECT_NONE;
	if ((slash = strrchr(path, '/')) != NULL) {
		/* "/x.conf" lives in "/": keep the slash as the directory. */
		p.dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
		if (p.dir == NULL) {
			snprintf(err, errlen, "%s: out of memory", path);
			return (-1);
		}
	}
	if ((p.f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(p.dir);
		return (-1);
	}
	if (cfg_set_string(&c->path, path) == -1) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	rv = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
	if (rv == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	/* A line libinih rejected that cfg_reader let through. */
	if (rv > 0 && (!p.failed || rv < p.errline)) {
		p.failed = 0;
		cfg_error(&p, rv, "syntax error");
	}
	if (!p.failed)
		cfg_check(&p);
	if (p.failed)
		goto fail;
	fclose(p.f);
	free(p.line);
	free(p.dir);
	return (cfg_load_defaults(c, err, errlen));
fail:
	fclose(p.f);
	free(p.line);
	free(p.dir);
	return (-1);
}

int
cfg_load_defaults(struct config *c, char *err, size_t errlen)
{
	struct stat	 st;
	char		*models[TASK_COUNT];
	size_t		 i;
	int		 builtin, rv;

	/*
	 * No file is an install without it, or a run from the build tree: the table
	 * built in holds what etc/default-models.tsv held at build time. A file that is
	 * there but unreadable or malformed is the operator's error, reported.
	 */
	builtin = stat(c->default_models_file, &st) == -1 &&
	    (errno == ENOENT || errno == ENOTDIR);
	rv = builtin ? task_defaults_builtin(models, err, errlen) :
	    task_defaults_load(c->default_models_file, models, err, errlen);
	if (rv == -1)
		return (-1);
	c->default_models_builtin = builtin;
	for (i = 0; i < TASK_COUNT; i++) {
		if (c->default_model[i] == NULL) {
			c->default_model[i] = models[i];
			models[i] = NULL;
		}
	}
	task_defaults_free(models);
	return (0);
}

const struct cfg_endpoint *
cfg_endpoint_for_model(const struct config *c, const char *model)
{
	size_t	 i, j;

	for (i = 0; i < c->nendpoints; i++) {
		for (j = 0; j < c->endpoints[i].nmodels; j++) {
			if (strcmp(c->endpoints[i].models[j], model) == 0)
				return (&c->endpoints[i]);
		}
	}
	return (NULL);
}

const char *
cfg_cors_origin(const struct config *c, const char *origin)
{
	size_t	 i;

	for (i = 0; i < c->ncors_origins; i++) {
		if (strcmp(c->cors_origins[i], "*") == 0)
			return (c->cors_origins[i]);
		/* Scheme and host are case-insensitive; the answer names the
		   origin byte for byte as the request did (the Fetch standard's
		   CORS check). */
		if (origin != NULL && strcasecmp(c->cors_origins[i], origin) == 0)
			return (origin);
	}
	return (NULL);
}

const struct cfg_endpoint *
cfg_endpoint_by_name(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nendpoints; i++) {
		if (strcmp(c->endpoints[i].name, name) == 0)
			return (&c->endpoints[i]);
	}
	return (NULL);
}

const char *
cfg_usage_db(const struct config *c)
{
	if (c->usage_db != NULL)
		return (c->usage_db);
	return (c->cache_enabled ? c->cache_db : CFG_DEFAULT_USAGE_DB);
}

int
cfg_same_listen(const struct config *a, const struct config *b)
{
	size_t	 i;

	if (a->nlistens != b->nlistens)
		return (0);
	for (i = 0; i < a->nlistens; i++)
		if (strcmp(a->listens[i].host, b->listens[i].host) != 0 ||
		    a->listens[i].port != b->listens[i].port ||
		    a->listens[i].tls != b->listens[i].tls)
			return (0);
	return (1);
}

const struct cfg_client *
cfg_client_by_name(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nclients; i++) {
		if (strcmp(c->clients[i].name, name) == 0)
			return (&c->clients[i]);
	}
	return (NULL);
}

void
cfg_ref(struct config *c)
{
	if (c != NULL)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void
cfg_unref(struct config *c)
{
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	cfg_free(c);
	free(c);
}

/* [section] names, for cfg_dump. */
static const char *const cfg_section_name[] = {
	[SECT_SERVER] = "server", [SECT_UPSTREAM] = "upstream", [SECT_CACHE] = "cache",
	[SECT_STREAM] = "stream", [SECT_USAGE] = "usage", [SECT_ADMIN] = "admin"
};

/* One network of allow or trusted_proxies, as written. */
static void
cfg_dump_cidrs(FILE *f, const struct cfg_cidr *v, size_t n)
{
	char	 a[INET6_ADDRSTRLEN];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (inet_ntop(v[i].family, v[i].addr, a, sizeof(a)) == NULL)
			snprintf(a, sizeof(a), "?");
		fprintf(f, "%s%s/%u", i > 0 ? " " : "", a, v[i].prefix);
	}
}

static void	 cfg_dump_value(FILE *, const struct config *, const struct cfg_key *);

/* "key = value", or "#key =" for a key without a value (the file stays loadable). */
static void
cfg_dump_key(FILE *f, const struct config *c, const struct cfg_key *k)
{
	char	*v = NULL;
	size_t	 len = 0;
	FILE	*m;

	if ((m = open_memstream(&v, &len)) == NULL)
		return;
	cfg_dump_value(m, c, k);
	fclose(m);
	fprintf(f, len > 0 ? "%s = %s\n" : "#%s =\n", k->name, len > 0 ? v : "");
	free(v);
}

/* The value of key k of c as the file would write it; secrets as <redacted>. */
static void
cfg_dump_value(FILE *f, const struct config *c, const struct cfg_key *k)
{
	const char	*base = (const char *)c;
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	size_t		 i;
	int		 n = 0;

	switch (k->type) {
	case CFG_PATH: {
		/* Absolute, so that the dump reads the same from anywhere. */
		char	*abs = *(char *const *)(base + k->off) != NULL ?
			    realpath(*(char *const *)(base + k->off), NULL) : NULL;

		fprintf(f, "%s", abs != NULL ? abs : *(char *const *)(base + k->off) !=
		    NULL ? *(char *const *)(base + k->off) : "");
		free(abs);
		break;
	}
	case CFG_STR:
	case CFG_STR_OR_UNSET:
	case CFG_MODEL:
	case CFG_URL:
		fprintf(f, "%s", *(char *const *)(base + k->off) != NULL ?
		    *(char *const *)(base + k->off) : "");
		break;
	case CFG_LOG_LEVEL:
		fprintf(f, "%s", levels[*(const int *)(base + k->off) & 3]);
		break;
	case CFG_ACCESS_FORMAT:
		fprintf(f, "%s", *(const int *)(base + k->off) ? "json" : "text");
		break;
	case CFG_ORIGINS:
		for (i = 0; i < c->ncors_origins; i++)
			fprintf(f, "%s%s", i > 0 ? " " : "", c->cors_origins[i]);
		break;
	case CFG_LISTEN:
		for (i = 0; i < c->nlistens; i++)
			if (c->listens[i].tls == (k->min == 1))
				fprintf(f, strchr(c->listens[i].host, ':') != NULL ?
				    "%s[%s]:%u" : "%s%s:%u", n++ > 0 ? " " : "",
				    c->listens[i].host, c->listens[i].port);
		if (n == 0 && k->min == 0)
			fprintf(f, "none");
		break;
	case CFG_PEM:
		/* The certificate is public, the key a secret: neither is printed. */
		if (*(char *const *)(base + k->off) != NULL)
			fprintf(f, strcmp(k->name, "tls_key") == 0 ? "<redacted>" :
			    "<loaded>");
		break;
	case CFG_CIDRS:
		if (k->min == 1)
			cfg_dump_cidrs(f, c->proxies, c->nproxies);
		else
			cfg_dump_cidrs(f, c->allow, c->nallow);
		break;
	case CFG_KEY_SHA256:
	case CFG_KEY_FILE:
		fprintf(f, "%s", c->admin_has_key ? "<redacted>" : "");
		break;
	case CFG_UINT:
	case CFG_SECONDS:
		fprintf(f, "%u", *(const unsigned *)(base + k->off));
		break;
	case CFG_LONG:
	case CFG_MILLIS:
		fprintf(f, "%ld", *(const long *)(base + k->off));
		break;
	case CFG_SIZE:
		fprintf(f, "%zu", *(const size_t *)(base + k->off));
		break;
	case CFG_BOOL:
		fprintf(f, "%s", *(const int *)(base + k->off) ? "yes" : "no");
		break;
	}
}

void
cfg_dump(const struct config *c, FILE *f)
{
	static const char *const modes[] = {
		[CACHE_ALWAYS] = "always", [CACHE_DETERMINISTIC] = "deterministic",
		[CACHE_SEEDED] = "seeded", [CACHE_NEVER] = "never"
	};
	enum cfg_section	 sect = SECT_NONE;
	const struct cfg_client	*cl;
	const struct cfg_endpoint *ep;
	size_t			 i, j;

	fprintf(f, "# hfgate's effective configuration%s%s; secrets as <redacted>\n",
	    c->path != NULL ? " from " : "", c->path != NULL ? c->path : "");
	for (i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++) {
		/* admin's two keys say one thing. */
		if (cfg_keys[i].type == CFG_KEY_FILE)
			continue;
		if (cfg_keys[i].sect != sect) {
			sect = cfg_keys[i].sect;
			fprintf(f, "\n[%s]\n", cfg_section_name[sect]);
		}
		cfg_dump_key(f, c, &cfg_keys[i]);
	}
	fprintf(f, "\n[default-models]\nchat-completion = %s\n",
	    c->default_chat_model != NULL ? c->default_chat_model : "");
	for (i = 0; i < TASK_COUNT; i++)
		if (c->default_model[i] != NULL)
			fprintf(f, "%s = %s\n", task_at(i)->name, c->default_model[i]);
	fprintf(f, "\n[cache-policy]\n");
	for (i = 0; i < TASK_COUNT; i++) {
		fprintf(f, "%s = %s", task_at(i)->name, modes[c->cache_mode[i]]);
		if (c->cache_ttl[i] != 0)
			fprintf(f, " %u", c->cache_ttl[i]);
		fputc('\n', f);
	}
	for (i = 0; i < c->nendpoints; i++) {
		ep = &c->endpoints[i];
		fprintf(f, "\n[endpoint %s]\nurl = %s\nprotocol = %s\n", ep->name,
		    ep->url, ep->protocol == CFG_PROTO_OPENAI ? "openai" : "tgi");
		if (ep->task != NULL)
			fprintf(f, "task = %s\n", ep->task);
		if (ep->nmodels > 0) {
			fprintf(f, "models =");
			for (j = 0; j < ep->nmodels; j++)
				fprintf(f, " %s", ep->models[j]);
			fputc('\n', f);
		}
	}
	for (i = 0; i < c->nclients; i++) {
		cl = &c->clients[i];
		fprintf(f, "\n[client %s]\nkey_sha256 = <redacted>\n", cl->name);
		for (j = 0; j < cl->ntasks; j++)
			fprintf(f, "%s%s", j == 0 ? "tasks = " : " ", cl->tasks[j]);
		if (cl->ntasks > 0)
			fputc('\n', f);
		for (j = 0; j < cl->nmodels; j++)
			fprintf(f, "%s%s", j == 0 ? "models = " : " ", cl->models[j]);
		if (cl->nmodels > 0)
			fputc('\n', f);
		fprintf(f, "rate = %u\nburst = %u\nmax_concurrent = %u\ndaily_quota = %u\n"
		    "daily_token_quota = %u\n", cl->rate, cl->burst, cl->max_concurrent,
		    cl->daily_quota, cl->daily_token_quota);
		if (cl->bill_to != NULL)
			fprintf(f, "bill_to = %s\n", cl->bill_to);
	}
}
