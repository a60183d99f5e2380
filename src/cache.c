/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The request path's side of the result cache (docs/cache.md): which requests may be
 * cached, look-ups on this thread's read connection (a busy or broken file is a miss,
 * never an error) and stores through the writer thread (dbw.c). It decides and keeps
 * the request's cache part; the gateway serves what it finds.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "bridge.h"
#include "buf.h"
#include "cache.h"
#include "cachedb.h"
#include "canon.h"
#include "config.h"
#include "dbw.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "request.h"
#include "task.h"

#define CACHE_STREAM_MAX	(1024 * 1024)	/* longest stream stored */
#define CACHE_HOT_SLOTS		512		/* per loop thread */
#define CACHE_HOT_BODY_MAX	(64 * 1024)
#define CACHE_HOT_MS		1000		/* how long a copy is trusted */

static int			 cache_on;		/* the writer runs */
static uint64_t			 cache_hits, cache_misses;	/* atomic */
static _Thread_local struct cachedb *cache_rd;

/*
 * Recent hits, copied per loop thread: a hot key is answered without SQLite's read
 * transaction (its locks are a tenth of a hit's cost). A copy is valid until this
 * process's writer commits any store or deletion (cachedb_generation), so this
 * process never serves a replaced or deleted entry; another process's changes show
 * within CACHE_HOT_MS.
 */
struct cache_hot {
	uint8_t			 key[CANON_KEY_LEN];
	uint64_t		 loaded;	/* loop ms, 0: empty */
	uint64_t		 gen;
	struct cache_entry	 e;
};

static _Thread_local struct cache_hot	*cache_hot;

/* The cache was configured and could not start (/readyz says so). */
static int	 cache_failed;

const char *
cache_state(void)
{
	return (cache_on ? "on" : cache_failed ? "failed" : "off");
}

void
cache_start(const struct config *cfg)
{
	char	err[512];

	if (!cfg->cache_enabled)
		return;
	/* Before the writer's first purge: expired rows stay as long as stale-if-error
	   may still serve them. */
	dbw_set_stale_window((int64_t)cfg->cache_stale_if_error);
	if (dbw_start(cfg->cache_db, (int64_t)cfg->cache_max_bytes, err,
	    sizeof(err)) == -1) {
		log_errorx("cache off: %s", err);
		cache_failed = 1;
		return;
	}
	cache_on = 1;
	log_info("cache %s, up to %zu bytes", cfg->cache_db, cfg->cache_max_bytes);
}

void
cache_stop(void)
{
	if (cache_on)
		dbw_stop();
	cache_on = 0;
}

void
cache_thread_start(const struct config *cfg)
{
	char	err[512];

	if (!cache_on)
		return;
	if (cachedb_open(cfg->cache_db, &cache_rd, err, sizeof(err)) == -1) {
		/* Misses only; the writer still stores, other threads still read. */
		log_warnx("cache reads off on this thread: %s", err);
		cache_rd = NULL;
	}
}

void
cache_thread_stop(void)
{
	cachedb_close(cache_rd);
	cache_rd = NULL;
	if (cache_hot != NULL) {
		size_t i;

		for (i = 0; i < CACHE_HOT_SLOTS; i++)
			cache_entry_free(&cache_hot[i].e);
		free(cache_hot);
		cache_hot = NULL;
	}
	canon_thread_free();
}

static int64_t
cache_now(void)
{
	return ((int64_t)time(NULL));
}

/* Request Cache-Control: no-store, no-cache, max-age=N (-1 when absent). */
static void
cache_control(const char *v, int *no_store, int *no_cache, long *max_age)
{
	const char	*p;
	char		*end;
	long		 n;

	*no_store = *no_cache = 0;
	*max_age = -1;
	if (v == NULL)
		return;
	for (p = v; *p != '\0'; ) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (strncasecmp(p, "no-store", 8) == 0)
			*no_store = 1;
		else if (strncasecmp(p, "no-cache", 8) == 0)
			*no_cache = 1;
		else if (strncasecmp(p, "max-age=", 8) == 0) {
			n = strtol(p + 8, &end, 10);
			if (end != p + 8 && n >= 0)
				*max_age = n;
		}
		while (*p != '\0' && *p != ',')
			p++;
	}
}

/*
 * Whether a body's result is reproducible under mode, read from form and cj, what
 * canon_body made of it: the text the key hashes, so the policy and the key never
 * read two different requests (docs/cache.md). A member named twice in an object
 * is read differently by different parsers: never cached, whatever the mode. In the
 * canonical form every other object names a member once and null members are gone,
 * so an absent and a null parameter read alike. A generation samples when do_sample
 * is anything but false, best_of anything but a number up to 1, or a sampling knob
 * is set; only a number is a seed, and a seed makes sampling repeatable. A body that
 * looks like JSON without being JSON may be read by the upstream in a way hfgate
 * cannot tell: not reproducible.
 */
static int
cache_deterministic(enum cfg_cache_mode mode, int form, const struct buf *cj,
    const char *body, size_t len)
{
	cJSON		*root;
	const cJSON	*params, *v;
	int		 seeded, sampling, ok;

	if (mode == CACHE_NEVER || form == CANON_FORM_DUPS)
		return (0);
	if (mode == CACHE_ALWAYS)
		return (1);
	if (form == CANON_FORM_RAW)
		return (mode == CACHE_DETERMINISTIC && !json_looks_like(body, len));
	if ((root = cJSON_ParseWithLength(cj->data, cj->len)) == NULL)
		return (0);
	params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	v = cJSON_GetObjectItemCaseSensitive(params, "seed");
	seeded = cJSON_IsNumber(v);
	v = cJSON_GetObjectItemCaseSensitive(params, "do_sample");
	sampling = v != NULL && !cJSON_IsFalse(v);
	v = cJSON_GetObjectItemCaseSensitive(params, "best_of");
	sampling |= v != NULL && !(cJSON_IsNumber(v) && v->valuedouble <= 1);
	sampling |= cJSON_GetObjectItemCaseSensitive(params, "temperature") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(params, "top_k") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(params, "top_p") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(params, "typical_p") != NULL;
	ok = mode == CACHE_SEEDED ? seeded : (!sampling || seeded);
	cJSON_Delete(root);
	return (ok);
}

/* Whether an OpenAI request's answer may be kept under mode: its own parameters say
   whether it repeats (oai.c); "seeded" is read as "deterministic" there. */
static int
cache_oai_deterministic(enum cfg_cache_mode mode, int deterministic)
{
	if (mode == CACHE_ALWAYS)
		return (1);
	if (mode == CACHE_NEVER)
		return (0);
	return (deterministic);
}

/* The task's policy; a model whose task is unknown counts as a generation. */
static enum cfg_cache_mode
cache_mode(const struct config *cfg, const struct task_info *t, unsigned *ttl)
{
	size_t			 i;

	if (t == NULL) {
		*ttl = cfg->cache_default_ttl;
		return (CACHE_DETERMINISTIC);
	}
	i = task_index(t);
	*ttl = cfg->cache_ttl[i] != 0 ? cfg->cache_ttl[i] : cfg->cache_default_ttl;
	return (cfg->cache_mode[i]);
}

/* The generated text of a stored TGI stream's final event, as the non-stream answer
   [{"generated_text": ...}]. NULL when there is none. */
static char *
cache_stream_as_list(const char *sse, size_t len)
{
	const char	*p = sse, *end = sse + len, *line, *nl;
	cJSON		*ev, *text, *list = NULL, *obj;
	char		*out = NULL;

	for (line = p; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (nl - line < 5 || strncmp(line, "data:", 5) != 0)
			continue;
		if ((ev = cJSON_ParseWithLength(line + 5, (size_t)(nl - line - 5))) == NULL)
			continue;
		text = cJSON_GetObjectItemCaseSensitive(ev, "generated_text");
		if (cJSON_IsString(text) && (list = cJSON_CreateArray()) != NULL &&
		    (obj = cJSON_CreateObject()) != NULL) {
			cJSON_AddItemToArray(list, obj);
			cJSON_AddStringToObject(obj, "generated_text", text->valuestring);
			out = cJSON_PrintUnformatted(list);
		}
		cJSON_Delete(list);
		list = NULL;
		cJSON_Delete(ev);
		if (out != NULL)
			break;
	}
	return (out);
}

/* Whether the request wants details (then a stored stream cannot answer it). */
static int
cache_wants_details(const char *body, size_t len)
{
	cJSON	*root;
	int	 yes;

	if (body == NULL || memmem(body, len, "details", 7) == NULL)
		return (0);
	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return (1);
	yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "parameters"), "details"));
	cJSON_Delete(root);
	return (yes);
}

/* The body the cache decides on and keys on: a translated request's own body (the
   2023 one, or the OpenAI embeddings one), not the one it was sent as (resolve.c). */
static const char *
cache_body(const struct gw_req *req, size_t *len)
{
	if (req->res.bridge.kind != BRIDGE_NONE || req->res.embed) {
		*len = req->res.client_body.len;
		return (req->res.client_body.data);
	}
	*len = req->call.up.body_len;
	return (req->call.up.body);
}

int
cache_fit(struct gw_req *req, struct cache_entry *e, int state, char **list)
{
	const char	*body;
	size_t		 blen;
	int		 sse = req->res.sse;
	int		 how;

	*list = NULL;
	if (e->kind == 1 && sse)
		how = CACHE_SERVE_STREAM;
	else if (e->kind == 1) {
		/* A stored OpenAI stream answers streams only. */
		if (req->res.openai)
			return (CACHE_SERVE_NONE);
		body = cache_body(req, &blen);
		if (cache_wants_details(body, blen) ||
		    (*list = cache_stream_as_list(e->body, e->len)) == NULL)
			return (CACHE_SERVE_NONE);
		how = CACHE_SERVE_LIST;
	} else if (sse)
		return (CACHE_SERVE_NONE);
	else
		how = CACHE_SERVE_BODY;
	req->cache.age = cache_now() - e->created;
	if (req->cache.age < 0)
		req->cache.age = 0;
	req->cache.state = state;
	dbw_touch(req->cache.key, cache_now());
	return (how);
}

static struct cache_hot *
cache_hot_slot(const uint8_t key[CANON_KEY_LEN])
{
	if (cache_hot == NULL &&
	    (cache_hot = calloc(CACHE_HOT_SLOTS, sizeof(*cache_hot))) == NULL)
		return (NULL);
	return (&cache_hot[((size_t)key[2] << 8 | key[3]) % CACHE_HOT_SLOTS]);
}

static void
cache_hot_clear(struct cache_hot *h)
{
	cache_entry_free(&h->e);
	memset(h, 0, sizeof(*h));
}

/*
 * Like cachedb_get, through the answers still waiting for the writer (dbw_pending:
 * read your writes) and this thread's copies of recent hits. Pending stores come
 * first: they are newer than any copy, and one leaves the pending index only once
 * committed and the generation changed, so it is always found in one of the three.
 */
static int
cache_lookup(const uint8_t key[CANON_KEY_LEN], struct cache_entry *e)
{
	struct cache_hot	*h;
	uint64_t		 now = loop_now_ms();
	uint64_t		 gen;
	int			 r;

	if ((r = dbw_pending(key, e)) != 0)
		return (r);
	if (cache_rd == NULL)
		return (0);
	h = cache_hot_slot(key);
	gen = cachedb_generation();
	if (h != NULL && h->loaded != 0 && memcmp(h->key, key, CANON_KEY_LEN) == 0 &&
	    h->gen == gen && now - h->loaded < CACHE_HOT_MS) {
		*e = h->e;
		if ((e->body = malloc(h->e.len + 1)) == NULL)
			return (-1);
		memcpy(e->body, h->e.body, h->e.len + 1);
		return (1);
	}
	if ((r = cachedb_get(cache_rd, key, e)) != 1 || h == NULL ||
	    e->len > CACHE_HOT_BODY_MAX)
		return (r);
	cache_hot_clear(h);
	h->e = *e;
	if ((h->e.body = malloc(e->len + 1)) == NULL) {
		memset(h, 0, sizeof(*h));
		return (r);
	}
	memcpy(h->e.body, e->body, e->len + 1);
	memcpy(h->key, key, CANON_KEY_LEN);
	h->gen = gen;
	h->loaded = now;
	return (r);
}

/*
 * Looks req's key up (see cache_lookup). Returns 1 with a fresh entry in *hit; else
 * 0, and with stale an expired entry still within stale-if-error goes to req.
 */
static int
cache_find(struct gw_req *req, struct cache_entry *hit, int stale)
{
	const struct config	*cfg = req->cfg;
	struct cache_entry	 e;
	int64_t			 now = cache_now();
	long			 max_age = req->cache.max_age;

	memset(&e, 0, sizeof(e));
	if (cache_lookup(req->cache.key, &e) == 1) {
		if (now < e.expires && (max_age < 0 || now - e.created <= max_age)) {
			*hit = e;
			return (1);
		}
		if (stale && req->cache.stale == NULL && cfg->cache_stale_if_error > 0 &&
		    now < e.expires + (int64_t)cfg->cache_stale_if_error &&
		    (req->cache.stale = malloc(sizeof(e))) != NULL) {
			*req->cache.stale = e;
			memset(&e, 0, sizeof(e));
		}
	}
	cache_entry_free(&e);
	return (0);
}

int
cache_landed(const struct gw_req *req)
{
	return (cache_on && req->cache.lookup &&
	    dbw_pending_mark(req->cache.key) != req->cache.mark);
}

int
cache_recheck(struct gw_req *req, struct cache_entry *hit)
{
	return (cache_landed(req) && cache_find(req, hit, 0));
}

static int	cache_keyed(struct gw_req *, struct cache_entry *, int64_t, long, int);
static int	cache_begin_hub(struct gw_req *, struct cache_entry *);

int
cache_begin(struct gw_req *req, const struct task_info *(*task_of)(struct gw_req *),
    struct cache_entry *hit)
{
	const struct config	*cfg = req->cfg;
	const struct http_head	*h = &req->tr.head;
	const struct up_call	*up = &req->call.up;
	struct buf		 cj = { NULL, 0, 0 };
	const char		*body, *target;
	size_t			 blen;
	enum cfg_cache_mode	 mode;
	unsigned		 ttl;
	long			 max_age;
	int			 no_store, no_cache, form;
	int64_t			 now = cache_now();

	if (up->body == NULL)
		return (cache_begin_hub(req, hit));	/* GET /status, /info, the Hub */
	body = cache_body(req, &blen);
	target = req->res.key_target != NULL ? req->res.key_target : req->res.url;
	req->cache.state = CACHE_STATE_BYPASS;
	if (!cache_on)
		return (0);
	cache_control(h->cache_control, &no_store, &no_cache, &max_age);
	mode = cache_mode(cfg, task_of(req), &ttl);
	if (no_store || mode == CACHE_NEVER)
		return (0);
	/* One reading of the body for the policy and the key: the client's own for a
	   bridged call (cache_body), so its key differs from a native OpenAI call's. */
	if ((form = canon_body(body, blen, &cj)) == -1 ||
	    !(req->res.openai ? form != CANON_FORM_DUPS &&
	    cache_oai_deterministic(mode, req->res.deterministic) :
	    cache_deterministic(mode, form, &cj, body, blen)) ||
	    canon_key_form(req->tr.head.method, target, h->accept,
	    cfg->cache_per_client && req->who.client != NULL ? req->who.client->name : NULL,
	    form, form == CANON_FORM_RAW ? body : cj.data,
	    form == CANON_FORM_RAW ? blen : cj.len, req->cache.key) == -1) {
		buf_free(&cj);
		return (0);
	}
	buf_free(&cj);
	if (http_value_false(h->use_cache) || json_option_false(body, blen, "use_cache"))
		no_cache = 1;
	return (cache_keyed(req, hit, now + (max_age > 0 ? max_age : (long)ttl), max_age,
	    no_cache));
}

/*
 * req has its key: a miss to store with expires, looked up unless no_cache. 1 with
 * hit filled when an entry answers, else 0.
 */
static int
cache_keyed(struct gw_req *req, struct cache_entry *hit, int64_t expires, long max_age,
    int no_cache)
{
	canon_hex(req->cache.key, req->cache.key_hex);
	req->cache.state = CACHE_STATE_MISS;
	req->cache.store = 1;
	req->cache.expires = expires;
	req->cache.max_age = max_age;
	if (!no_cache) {
		req->cache.lookup = 1;
		/* Before the look-up: cache_landed tells whether a store may have been
		   missed by it (flight.c asks, once req leads its flight). */
		req->cache.mark = dbw_pending_mark(req->cache.key);
		if (cache_find(req, hit, 1))
			return (1);
	}
	__atomic_add_fetch(&cache_misses, 1, __ATOMIC_RELAXED);
	return (0);
}

/*
 * GET /api/models/{id}: the Hub's answer, kept [cache] hub_ttl (resolve.c sets
 * res.hub_ttl), keyed on the URL with its query; the other GETs are not cached.
 */
static int
cache_begin_hub(struct gw_req *req, struct cache_entry *hit)
{
	const struct http_head	*h = &req->tr.head;
	long			 max_age;
	int			 no_store, no_cache;

	if (req->res.hub_ttl == 0 || !cache_on)
		return (0);
	req->cache.state = CACHE_STATE_BYPASS;
	cache_control(h->cache_control, &no_store, &no_cache, &max_age);
	if (no_store || canon_key_form(h->method, req->res.url, h->accept, NULL,
	    CANON_FORM_RAW, "", 0, req->cache.key) == -1)
		return (0);
	return (cache_keyed(req, hit, cache_now() + (max_age > 0 ? max_age :
	    (long)req->res.hub_ttl), max_age, no_cache));
}

void
cache_count_hit(int hit)
{
	__atomic_add_fetch(hit ? &cache_hits : &cache_misses, 1, __ATOMIC_RELAXED);
}

void
cache_set_store(struct gw_req *req, int on)
{
	req->cache.store = on;
}

void
cache_mark(struct gw_req *req, int state)
{
	req->cache.state = state;
}

struct cache_entry *
cache_take_stale(struct gw_req *req)
{
	struct cache_entry	*e = req->cache.stale;

	req->cache.stale = NULL;
	return (e);
}

void
cache_answer(struct gw_req *req, long status, const char *ctype, const struct buf *body)
{
	struct cache_hot	*h;

	if (req->cache.store && status >= 200 && status < 300 && cache_on) {
		dbw_put(req->cache.key, req->res.model, (int)status, ctype, 0,
		    body->data != NULL ? body->data : "", body->len, req->cache.expires);
		/* This thread's copy of the old answer must not outlive the new one. */
		if ((h = cache_hot_slot(req->cache.key)) != NULL &&
		    memcmp(h->key, req->cache.key, CANON_KEY_LEN) == 0)
			cache_hot_clear(h);
	}
}

void
cache_stream_bytes(struct gw_req *req, const char *data, size_t len)
{
	if (!req->cache.store)
		return;
	if (req->cache.copy.len + len > CACHE_STREAM_MAX ||
	    buf_append(&req->cache.copy, data, len) == -1) {
		req->cache.store = 0;
		buf_free(&req->cache.copy);
	}
}

void
cache_stream_end(struct gw_req *req, int complete)
{
	struct cache_hot	*h;

	if (req->cache.store && cache_on && (h = cache_hot_slot(req->cache.key)) != NULL &&
	    memcmp(h->key, req->cache.key, CANON_KEY_LEN) == 0)
		cache_hot_clear(h);
	if (req->cache.store && cache_on && complete)
		dbw_put(req->cache.key, req->res.model, (int)req->call.up.status,
		    req->call.up.ctype, 1, req->cache.copy.data != NULL ?
		    req->cache.copy.data : "", req->cache.copy.len, req->cache.expires);
	req->cache.store = 0;
	buf_free(&req->cache.copy);
}

void
cache_release(struct gw_req *req)
{
	if (req->cache.stale != NULL) {
		cache_entry_free(req->cache.stale);
		free(req->cache.stale);
		req->cache.stale = NULL;
	}
	buf_free(&req->cache.copy);
}

int
cache_is_on(void)
{
	return (cache_on);
}

int
cache_read_stats(struct cache_stats *st, uint64_t *hits, uint64_t *misses)
{
	*hits = __atomic_load_n(&cache_hits, __ATOMIC_RELAXED);
	*misses = __atomic_load_n(&cache_misses, __ATOMIC_RELAXED);
	memset(st, 0, sizeof(*st));
	if (cache_rd == NULL || cachedb_stats(cache_rd, st) == -1) {
		st->entries = st->bytes = -1;
		return (-1);
	}
	return (0);
}

int
cache_delete(const char *model)
{
	dbw_delete(model);
	return (dbw_sync());
}
