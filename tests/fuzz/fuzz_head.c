/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The transport's request-head reading (src/http.c): the method's name, the head-size
 * checks (414, 431) and the one pass that picks hfgate's headers and query arguments
 * into struct http_head, then the router on the path, as a request's first call runs
 * them. libmicrohttpd parses the bytes of a head (and is fuzzed by its own project);
 * what http.c reads is the header and argument lists it hands over, so this harness
 * includes http.c and stands in for the two libmicrohttpd calls that hand them over,
 * with lists built from the input: no socket, no daemon.
 *
 * Input: a first line "METHOD TARGET" (TARGET split at '?' into the path and the
 * query arguments, '&'-separated "key" or "key=value"), then "Name: value" lines.
 * Properties: the error is 0, 414 or 431 and 0 only within the caps; each header
 * field holds the first value of its name (any case) or NULL; each query field the
 * first value of its key or NULL; the route is as fuzz_route.c checks it.
 */
#include "http.c"

#include "fuzz.h"
#include "route.h"

#define FUZZ_MAX_ITEMS	512

struct fuzz_item {
	const char	*key, *value;
};

/* Stands in for libmicrohttpd's connection: what its value look-ups read. */
struct MHD_Connection {
	struct fuzz_item headers[FUZZ_MAX_ITEMS], args[FUZZ_MAX_ITEMS];
	size_t		 nheaders, nargs;
};

int
MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
    MHD_KeyValueIterator it, void *cls)
{
	const struct fuzz_item	*items;
	size_t			 n, i;

	if (c == NULL)
		return (-1);
	items = kind == MHD_HEADER_KIND ? c->headers : c->args;
	n = kind == MHD_HEADER_KIND ? c->nheaders :
	    kind == MHD_GET_ARGUMENT_KIND ? c->nargs : 0;
	for (i = 0; i < n; i++)
		if (it != NULL && it(cls, kind, items[i].key, items[i].value) != MHD_YES)
			return ((int)i + 1);
	return ((int)n);
}

const char *
MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
    const char *key)
{
	const struct fuzz_item	*items;
	size_t			 n, i;

	items = kind == MHD_HEADER_KIND ? c->headers : c->args;
	n = kind == MHD_HEADER_KIND ? c->nheaders :
	    kind == MHD_GET_ARGUMENT_KIND ? c->nargs : 0;
	for (i = 0; i < n; i++)
		if (kind == MHD_HEADER_KIND ? strcasecmp(items[i].key, key) == 0 :
		    strcmp(items[i].key, key) == 0)
			return (items[i].value);
	return (NULL);
}

/* The first value of name in the list (headers: any case), or NULL. */
static const char *
first_value(const struct fuzz_item *items, size_t n, const char *name, int anycase)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((anycase ? strcasecmp(items[i].key, name) :
		    strcmp(items[i].key, name)) == 0)
			return (items[i].value);
	return (NULL);
}

/* Splits the query at '&' into keys and values (NULL without '='). */
static void
split_query(struct MHD_Connection *c, char *q)
{
	char	*kv, *eq;

	while ((kv = strsep(&q, "&")) != NULL && c->nargs < FUZZ_MAX_ITEMS) {
		if ((eq = strchr(kv, '=')) != NULL)
			*eq++ = '\0';
		c->args[c->nargs].key = kv;
		c->args[c->nargs++].value = eq;
	}
}

/* The sizes http_check_caps measures. */
static size_t
target_size(const struct MHD_Connection *c, const char *path)
{
	size_t	n = strlen(path), i;

	for (i = 0; i < c->nargs; i++)
		n += 1 + strlen(c->args[i].key) +
		    (c->args[i].value != NULL ? 1 + strlen(c->args[i].value) : 0);
	return (n);
}

static size_t
headers_size(const struct MHD_Connection *c)
{
	size_t	n = 0, i;

	for (i = 0; i < c->nheaders; i++)
		n += strlen(c->headers[i].key) + strlen(c->headers[i].value);
	return (n);
}

static void
check_head(struct MHD_Connection *c, const char *method, const char *path,
    const struct config *cfg)
{
	static struct http_req	 req;
	struct http_head	*hp = &req.head;
	struct route		 r;
	size_t			 i;
	char			 err[256];
	int			 status;
	unsigned		 e;
	const char		*v;

	memset(&req, 0, sizeof(req));
	req.conn = c;
	hp->method = http_method_name(method);
	http_check_caps(&req, path, cfg);
	e = req.error.status;
	http_read_head(c, hp);
	FUZZ_CHECK(hp->method != NULL);
	FUZZ_CHECK(e == 0 || e == 414 || e == 431);
	FUZZ_CHECK((e == 414) == (target_size(c, path) > cfg->max_url_bytes));
	if (e != 414)
		FUZZ_CHECK((e == 431) == (headers_size(c) > cfg->max_header_bytes));
	for (i = 0; i < sizeof(http_known) / sizeof(http_known[0]); i++) {
		v = *(const char **)(void *)((char *)hp + http_known[i].off);
		FUZZ_CHECK(v == first_value(c->headers, c->nheaders, http_known[i].name,
		    1));
		(void)http_value_false(v);
	}
	FUZZ_CHECK(hp->q_model == first_value(c->args, c->nargs, "model", 0));
	FUZZ_CHECK(hp->q_client == first_value(c->args, c->nargs, "client", 0));
	/* The query is re-encoded: nothing that needs escaping is left raw. */
	FUZZ_CHECK(c->nargs > 0 || hp->query == NULL);
	for (v = hp->query; v != NULL && *v != '\0'; v++)
		FUZZ_CHECK(*v > ' ' && *v < 0x7f && *v != '#' && *v != '"');
	free(hp->query);
	if (route_resolve(hp->method, path, &r, &status, err, sizeof(err)) == 0)
		FUZZ_CHECK(r.kind != ROUTE_NOT_FOUND);
	else
		FUZZ_CHECK(status == 400 || status == 404);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct MHD_Connection c;
	struct config	 cfg;
	char		*text, *s, *line, *method, *path, *q, *colon;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&c, 0, sizeof(c));
	s = text;
	line = strsep(&s, "\n");
	method = strsep(&line, " ");
	path = line != NULL ? line : (char *)"/";
	if ((q = strchr(path, '?')) != NULL) {
		*q++ = '\0';
		split_query(&c, q);
	}
	while ((line = strsep(&s, "\n")) != NULL && c.nheaders < FUZZ_MAX_ITEMS) {
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon++ = '\0';
		while (*colon == ' ' || *colon == '\t')
			colon++;
		c.headers[c.nheaders].key = line;
		c.headers[c.nheaders++].value = colon;
	}
	if (cfg_init(&cfg) == -1)
		abort();
	check_head(&c, method, path, &cfg);
	/* Small caps, so that inputs of a few hundred bytes reach them. */
	cfg.max_url_bytes = 64;
	cfg.max_header_bytes = 128;
	check_head(&c, method, path, &cfg);
	cfg_free(&cfg);
	free(text);
	return (0);
}
