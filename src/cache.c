/*
 * The request path's side of the result cache: which requests may be cached, look-ups
 * on this thread's read connection (a busy or broken file is a miss, never an error),
 * stores through the writer thread, and coalescing: identical cacheable requests in
 * flight at the same time, on any loop thread, cause one upstream call, and the others
 * get a copy of its answer through their thread's mailbox.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "buf.h"
#include "cache.h"
#include "cachedb.h"
#include "canon.h"
#include "config.h"
#include "dbw.h"
#include "gw.h"
#include "http.h"
#include "hub.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "task.h"

#define CACHE_STREAM_MAX	(1024 * 1024)	/* longest stream stored */
#define CACHE_HOT_SLOTS		512		/* per loop thread */
#define CACHE_HOT_BODY_MAX	(64 * 1024)
#define CACHE_HOT_MS		1000		/* how long a copy is trusted */
#define CACHE_FLIGHT_BUCKETS	1024

static int			 cache_on;		/* the writer runs */
static uint64_t			 cache_hits, cache_misses;	/* atomic */
static _Thread_local struct cachedb *cache_rd;
/* DELETE helper threads of this loop that may still post to its mailbox. */
static _Thread_local int	 cache_deleters;

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

/* Requests waiting for an identical one's answer, across loop threads. */
struct flight_waiter {
	struct flight_waiter	*next;
	struct loop_mailbox	*mb;
	uint64_t		 serial;
};

struct flight {
	struct flight		*next;
	uint8_t			 key[CANON_KEY_LEN];
	uint64_t		 leader;	/* serial of the request that went upstream */
	struct flight_waiter	*waiters;
	/* a stream's flight: its events so far, for those who join late */
	int			 stream;
	int			 started;	/* the leader relays its stream */
	int			 closed;	/* sofar outgrew its cap: no more joiners */
	long			 status;
	char			 ctype[128];
	struct buf		 relay;
	struct buf		 sofar;
};

/* What a waiter receives. */
enum flight_kind {
	FLIGHT_ANSWER,		/* the answer, or (go == 1) "call the upstream yourself" */
	FLIGHT_START,		/* a stream begins: status, headers, the events so far */
	FLIGHT_DATA,		/* more of the stream */
	FLIGHT_END		/* the stream's end (body: a last error event, if any) */
};

struct flight_msg {
	enum flight_kind	 kind;
	uint64_t		 serial;
	int			 go;
	long			 status;
	char			 ctype[128];
	char			 retry_after[64];
	struct buf		 body;
	struct buf		 relay;
};

static pthread_mutex_t	 flight_mu = PTHREAD_MUTEX_INITIALIZER;
static struct flight	*flights[CACHE_FLIGHT_BUCKETS];

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
		log_warnx("cache off: %s", err);
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
	int	waited;

	/* A deletion still running posts to this loop's mailbox: let it finish first
	   (it waits for one writer batch; bounded all the same). */
	for (waited = 0; __atomic_load_n(&cache_deleters, __ATOMIC_ACQUIRE) > 0 &&
	    waited < 10000; waited += 10)
		usleep(10000);
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
	hub_thread_stop();
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

static int
cache_set(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (v != NULL && !cJSON_IsNull(v));
}

/*
 * Whether a body's result is reproducible under mode: a generation samples when it
 * asks do_sample, best_of > 1 or any sampling knob; a seed makes sampling repeatable.
 */
static int
cache_deterministic(enum cfg_cache_mode mode, const char *body, size_t len)
{
	cJSON		*root, *params;
	const cJSON	*v;
	int		 seeded, sampling, ok;

	if (mode == CACHE_ALWAYS)
		return (1);
	if (mode == CACHE_NEVER)
		return (0);
	if (body == NULL || !json_looks_like(body, len) ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (mode == CACHE_DETERMINISTIC);	/* raw input: nothing samples */
	params = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	seeded = cache_set(params, "seed");
	v = cJSON_GetObjectItemCaseSensitive(params, "best_of");
	sampling = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "do_sample")) ||
	    (cJSON_IsNumber(v) && v->valuedouble > 1) ||
	    cache_set(params, "temperature") || cache_set(params, "top_k") ||
	    cache_set(params, "top_p") || cache_set(params, "typical_p");
	ok = mode == CACHE_SEEDED ? seeded : (!sampling || seeded);
	cJSON_Delete(root);
	return (ok);
}

/* The task's policy; a model whose task is unknown counts as a generation. */
static enum cfg_cache_mode
cache_mode(const struct config *cfg, struct gw_req *req, unsigned *ttl)
{
	const struct task_info	*t = gw_task(req);
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

/* Answers req from entry e (taking its body). Returns 1, or 0 when e does not fit. */
static int
cache_serve(struct gw_req *req, struct cache_entry *e, int state)
{
	char	*list;

	req->cache_age = cache_now() - e->created;
	if (req->cache_age < 0)
		req->cache_age = 0;
	if (e->kind == 1 && req->up.sse) {
		req->cache_state = state;
		stream_replay(req, e->status, e->ctype, e->body, e->len);
		e->body = NULL;
	} else if (e->kind == 1) {
		if (cache_wants_details(req->up.body, req->up.body_len) ||
		    (list = cache_stream_as_list(e->body, e->len)) == NULL)
			return (0);
		req->cache_state = state;
		http_reply_take(req, 200, "application/json", list, strlen(list));
	} else if (req->up.sse)
		return (0);
	else {
		req->cache_state = state;
		http_reply_take(req, (unsigned)e->status, e->ctype, e->body, e->len);
		e->body = NULL;
	}
	dbw_touch(req->cache_key, cache_now());
	return (1);
}

static size_t
cache_bucket(const uint8_t key[CANON_KEY_LEN])
{
	return (((size_t)key[0] << 8 | key[1]) % CACHE_FLIGHT_BUCKETS);
}

static void	cache_on_msg(void *);
static void	cache_msg_free(void *);

/*
 * Posts a message of kind to waiter w; call with flight_mu held (so w's thread and
 * mailbox exist). Bodies are copied; when a copy fails the waiter still hears the
 * end: an answer becomes "go upstream yourself", a stream part the end of its stream.
 */
static void
cache_post(struct flight_waiter *w, enum flight_kind kind, int go, long status,
    const char *ctype, const char *retry_after, const struct buf *body,
    const struct buf *relay)
{
	struct flight_msg	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return;
	m->kind = kind;
	m->serial = w->serial;
	m->go = go;
	m->status = status;
	snprintf(m->ctype, sizeof(m->ctype), "%s", ctype != NULL ? ctype : "");
	snprintf(m->retry_after, sizeof(m->retry_after), "%s",
	    retry_after != NULL ? retry_after : "");
	if ((body != NULL && body->len > 0 &&
	    buf_append(&m->body, body->data, body->len) == -1) ||
	    (relay != NULL && relay->len > 0 &&
	    buf_append(&m->relay, relay->data, relay->len) == -1)) {
		buf_free(&m->body);
		buf_free(&m->relay);
		if (kind == FLIGHT_ANSWER)
			m->go = 1;
		else
			m->kind = FLIGHT_END;
	}
	if (loop_post(w->mb, cache_on_msg, cache_msg_free, m) == -1)
		cache_msg_free(m);
}

/* Takes req's flight out of the table; call with flight_mu held. */
static struct flight *
cache_unlink(struct gw_req *req)
{
	struct flight	*f, **pp;

	for (pp = &flights[cache_bucket(req->cache_key)]; (f = *pp) != NULL;
	    pp = &f->next)
		if (f->leader == req->serial) {
			*pp = f->next;
			return (f);
		}
	return (NULL);
}

static void
cache_flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	buf_free(&f->relay);
	buf_free(&f->sofar);
	free(f);
}

/* The flight req leads; call with flight_mu held. */
static struct flight *
cache_led(struct gw_req *req)
{
	struct flight	*f;

	for (f = flights[cache_bucket(req->cache_key)]; f != NULL; f = f->next)
		if (f->leader == req->serial)
			return (f);
	return (NULL);
}

/* Joins the flight for req's key, or starts one. Returns 1 when req now waits. */
static int
cache_join(struct gw_req *req)
{
	struct flight		*f, **slot;
	struct flight_waiter	*w;

	pthread_mutex_lock(&flight_mu);
	slot = &flights[cache_bucket(req->cache_key)];
	/* Streams join streams only: the key leaves "stream" out. */
	for (f = *slot; f != NULL; f = f->next)
		if (memcmp(f->key, req->cache_key, CANON_KEY_LEN) == 0 &&
		    f->stream == req->up.sse)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) != NULL) {
			memcpy(f->key, req->cache_key, CANON_KEY_LEN);
			f->leader = req->serial;
			f->stream = req->up.sse;
			f->next = *slot;
			*slot = f;
			req->cache_leader = 1;
		}
		pthread_mutex_unlock(&flight_mu);
		return (0);
	}
	/* Too late to hand over everything so far: on its own. */
	if (f->closed || (w = calloc(1, sizeof(*w))) == NULL) {
		pthread_mutex_unlock(&flight_mu);
		return (0);
	}
	w->mb = loop_mailbox();
	w->serial = req->serial;
	w->next = f->waiters;
	f->waiters = w;
	req->cache_waiting = 1;
	req->cache_store = 0;		/* the leader stores the answer */
	/* A stream already under way: its events so far, then the live ones. */
	if (f->started)
		cache_post(w, FLIGHT_START, 0, f->status, f->ctype, NULL, &f->sofar,
		    &f->relay);
	pthread_mutex_unlock(&flight_mu);
	return (1);
}

static void
cache_msg_free(void *arg)
{
	struct flight_msg	*m = arg;

	buf_free(&m->body);
	buf_free(&m->relay);
	free(m);
}

/* On the waiter's thread: the leader's answer, or the word to go on its own. */
static void
cache_on_msg(void *arg)
{
	struct flight_msg	*m = arg;
	struct gw_req		*req = gw_find(m->serial);

	if (req == NULL || !req->cache_waiting || req->client_gone) {
		cache_msg_free(m);
		return;
	}
	switch (m->kind) {
	case FLIGHT_START:
		if (req->state == GW_COALESCED) {
			req->cache_state = CACHE_STATE_HIT;
			stream_follow(req, (int)m->status, m->ctype, &m->relay, &m->body);
		}
		cache_msg_free(m);
		return;
	case FLIGHT_DATA:
	case FLIGHT_END:
		if (req->state == GW_STREAMING &&
		    stream_follow_data(req, &m->body, m->kind == FLIGHT_END) == -1) {
			cache_leave(req);
			gw_client_gone(req);
			http_drop(req);
		}
		if (m->kind == FLIGHT_END)
			req->cache_waiting = 0;
		cache_msg_free(m);
		return;
	case FLIGHT_ANSWER:
		break;
	}
	if (req->state == GW_COALESCED) {
		req->cache_waiting = 0;
		if (m->go) {
			/* On its own now: its answer is stored like any miss's. */
			req->cache_store = 1;
			gw_go_upstream(req);
		} else {
			/* A shared 2xx is the stored answer; an error is the leader's. */
			if (m->status >= 200 && m->status < 300)
				req->cache_state = CACHE_STATE_HIT;
			gw_relay(req, m->status, &m->body, m->ctype, &m->relay,
			    m->retry_after);
		}
	}
	cache_msg_free(m);
}

void
cache_stream_start(struct gw_req *req)
{
	struct flight		*f;
	struct flight_waiter	*w;

	if (!req->cache_leader)
		return;
	pthread_mutex_lock(&flight_mu);
	if ((f = cache_led(req)) != NULL && f->stream) {
		f->started = 1;
		f->status = req->up.status;
		snprintf(f->ctype, sizeof(f->ctype), "%s", req->up.ctype);
		if (req->up.relay.len > 0 &&
		    buf_append(&f->relay, req->up.relay.data, req->up.relay.len) == -1)
			f->closed = 1;
		for (w = f->waiters; w != NULL; w = w->next)
			cache_post(w, FLIGHT_START, 0, f->status, f->ctype, NULL, NULL,
			    &f->relay);
	}
	pthread_mutex_unlock(&flight_mu);
}

/* The leader's stream bytes go to every follower, and are kept for late joiners. */
static void
cache_fan_out(struct gw_req *req, const char *data, size_t len)
{
	struct flight		*f;
	struct flight_waiter	*w;
	struct buf		 b = { (char *)(uintptr_t)data, len, len };

	pthread_mutex_lock(&flight_mu);
	if ((f = cache_led(req)) != NULL && f->started) {
		if (!f->closed && (f->sofar.len + len > CACHE_STREAM_MAX ||
		    buf_append(&f->sofar, data, len) == -1)) {
			f->closed = 1;
			buf_free(&f->sofar);
		}
		for (w = f->waiters; w != NULL; w = w->next)
			cache_post(w, FLIGHT_DATA, 0, 0, NULL, NULL, &b, NULL);
	}
	pthread_mutex_unlock(&flight_mu);
}

/* Ends a stream flight: every follower gets tail (an error event, or nothing) and the
   end of its stream. */
static void
cache_stream_land(struct gw_req *req, const char *tail, size_t len)
{
	struct flight		*f;
	struct flight_waiter	*w, *next;
	struct buf		 b = { (char *)(uintptr_t)tail, len, len };

	pthread_mutex_lock(&flight_mu);
	f = cache_unlink(req);
	for (w = f != NULL ? f->waiters : NULL; w != NULL; w = next) {
		next = w->next;
		cache_post(w, FLIGHT_END, 0, 0, NULL, NULL, &b, NULL);
		free(w);
	}
	pthread_mutex_unlock(&flight_mu);
	cache_flight_free(f);
	req->cache_leader = 0;
}

void
cache_stream_end(struct gw_req *req, const char *tail, size_t len)
{
	if (req->cache_leader)
		cache_stream_land(req, tail, len);
}

/* Ends req's flight as its leader: each waiter gets a copy of the answer (go = 0), or
   is sent upstream (go = 1). */
static void
cache_land(struct gw_req *req, int go, long status, const char *ctype,
    const char *retry_after, const struct buf *body, const struct buf *relay)
{
	struct flight		*f;
	struct flight_waiter	*w, *next;

	if (!req->cache_leader)
		return;
	pthread_mutex_lock(&flight_mu);
	f = cache_led(req);
	if (f != NULL && f->started) {
		/* Followers are mid-stream: they cannot start over upstream. */
		static const char abandoned[] = "data:{\"error\":\"the stream this "
		    "request shared was abandoned\",\"error_type\":"
		    "\"incomplete_generation\"}\n\n";

		pthread_mutex_unlock(&flight_mu);
		cache_stream_land(req, abandoned, sizeof(abandoned) - 1);
		return;
	}
	req->cache_leader = 0;
	f = cache_unlink(req);
	/* Posting under the lock: a waiter leaves under it too, so its thread and
	   mailbox exist for every message posted here. */
	for (w = f != NULL ? f->waiters : NULL; w != NULL; w = next) {
		next = w->next;
		cache_post(w, FLIGHT_ANSWER, go, status, ctype, retry_after,
		    go ? NULL : body, go ? NULL : relay);
		free(w);
	}
	pthread_mutex_unlock(&flight_mu);
	cache_flight_free(f);
}

void
cache_leave(struct gw_req *req)
{
	struct flight		*f;
	struct flight_waiter	*w, **pp;

	if (req->cache_leader) {
		cache_land(req, 1, 0, NULL, NULL, NULL, NULL);
		return;
	}
	if (!req->cache_waiting)
		return;
	req->cache_waiting = 0;
	pthread_mutex_lock(&flight_mu);
	for (f = flights[cache_bucket(req->cache_key)]; f != NULL; f = f->next) {
		if (memcmp(f->key, req->cache_key, CANON_KEY_LEN) != 0)
			continue;
		for (pp = &f->waiters; (w = *pp) != NULL; pp = &w->next)
			if (w->serial == req->serial && w->mb == loop_mailbox()) {
				*pp = w->next;
				free(w);
				break;
			}
		break;
	}
	pthread_mutex_unlock(&flight_mu);
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

/* Like cachedb_get, through this thread's copies of recent hits. */
static int
cache_lookup(const uint8_t key[CANON_KEY_LEN], struct cache_entry *e)
{
	struct cache_hot	*h = cache_hot_slot(key);
	uint64_t		 now = loop_now_ms();
	uint64_t		 gen = cachedb_generation();
	int			 r;

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

int
cache_begin(struct gw_req *req)
{
	const struct config	*cfg = gw_config();
	struct cache_entry	 e;
	enum cfg_cache_mode	 mode;
	unsigned		 ttl;
	long			 max_age;
	int			 no_store, no_cache, r, fresh;
	int64_t			 now = cache_now();

	if (req->up.body == NULL)
		return (0);			/* GET /status, /framework, /info */
	req->cache_state = CACHE_STATE_BYPASS;
	if (!cache_on)
		return (0);
	cache_control(http_header(req, MHD_HTTP_HEADER_CACHE_CONTROL), &no_store,
	    &no_cache, &max_age);
	mode = cache_mode(cfg, req, &ttl);
	if (no_store || !cache_deterministic(mode, req->up.body, req->up.body_len))
		return (0);
	if (canon_key(req->method, req->url, http_header(req, MHD_HTTP_HEADER_ACCEPT),
	    cfg->cache_per_client && req->client != NULL ? req->client->name : NULL,
	    req->up.body, req->up.body_len, req->cache_key) == -1)
		return (0);
	canon_hex(req->cache_key, req->cache_key_hex);
	req->cache_state = CACHE_STATE_MISS;
	req->cache_store = 1;
	req->cache_expires = now + (max_age > 0 ? max_age : (long)ttl);
	if (http_header_false(req, "X-Use-Cache") ||
	    json_option_false(req->up.body, req->up.body_len, "use_cache"))
		no_cache = 1;
	if (!no_cache && cache_rd != NULL) {
		memset(&e, 0, sizeof(e));
		r = cache_lookup(req->cache_key, &e);
		if (r == 1) {
			fresh = now < e.expires &&
			    (max_age < 0 || now - e.created <= max_age);
			if (fresh && cache_serve(req, &e, CACHE_STATE_HIT)) {
				__atomic_add_fetch(&cache_hits, 1, __ATOMIC_RELAXED);
				cache_entry_free(&e);
				return (1);
			}
			if (!fresh && cfg->cache_stale_if_error > 0 &&
			    now < e.expires + (int64_t)cfg->cache_stale_if_error &&
			    (req->cache_stale = malloc(sizeof(e))) != NULL) {
				*req->cache_stale = e;
				memset(&e, 0, sizeof(e));
			}
		}
		cache_entry_free(&e);
	}
	__atomic_add_fetch(&cache_misses, 1, __ATOMIC_RELAXED);
	/* Identical requests share one upstream call; a stream's followers get its
	   events so far, then the live ones. */
	if (cache_join(req)) {
		req->state = GW_COALESCED;
		http_suspend(req);
		return (1);
	}
	return (0);
}

void
cache_answer(struct gw_req *req, long status, const char *ctype,
    const char *retry_after, const struct buf *body, const struct buf *relay)
{
	struct cache_hot	*h;

	if (req->cache_store && status >= 200 && status < 300 && cache_on) {
		dbw_put(req->cache_key, req->model, (int)status, ctype, 0,
		    body->data != NULL ? body->data : "", body->len, req->cache_expires);
		/* This thread's copy of the old answer must not outlive the new one. */
		if ((h = cache_hot_slot(req->cache_key)) != NULL &&
		    memcmp(h->key, req->cache_key, CANON_KEY_LEN) == 0)
			cache_hot_clear(h);
	}
	cache_land(req, 0, status, ctype, retry_after, body, relay);
}

void
cache_stream_bytes(struct gw_req *req, const char *data, size_t len)
{
	if (req->cache_leader)
		cache_fan_out(req, data, len);
	if (!req->cache_store)
		return;
	if (req->cache_copy.len + len > CACHE_STREAM_MAX ||
	    buf_append(&req->cache_copy, data, len) == -1) {
		req->cache_store = 0;
		buf_free(&req->cache_copy);
	}
}

void
cache_stream_done(struct gw_req *req)
{
	/* Only a stream that delivered its final event; an in-stream error is a
	   failed generation even though the transfer ended cleanly. */
	struct cache_hot	*h;

	if (req->cache_store && cache_on && (h = cache_hot_slot(req->cache_key)) != NULL &&
	    memcmp(h->key, req->cache_key, CANON_KEY_LEN) == 0)
		cache_hot_clear(h);
	if (req->cache_store && cache_on && req->up.status >= 200 &&
	    req->up.status < 300 && req->sse.saw_final && !req->sse.saw_error)
		dbw_put(req->cache_key, req->model, (int)req->up.status, req->up.ctype, 1,
		    req->cache_copy.data != NULL ? req->cache_copy.data : "",
		    req->cache_copy.len, req->cache_expires);
	req->cache_store = 0;
	buf_free(&req->cache_copy);
}

int
cache_serve_stale(struct gw_req *req)
{
	struct cache_entry	*e = req->cache_stale;

	if (e == NULL)
		return (0);
	req->cache_stale = NULL;
	if (!cache_serve(req, e, CACHE_STATE_STALE)) {
		cache_entry_free(e);
		free(e);
		return (0);
	}
	log_warnx("%s: upstream failing: served a stale cache entry (%lld s old)",
	    req->request_id, (long long)req->cache_age);
	cache_entry_free(e);
	free(e);
	cache_leave(req);
	return (1);
}

struct cache_delete {
	struct loop_mailbox	*mb;
	int			*running;	/* the loop's cache_deleters */
	uint64_t		 serial;
	char			*model;
	int			 rc;
};

static void
cache_delete_free(void *arg)
{
	struct cache_delete	*d = arg;

	free(d->model);
	free(d);
}

static void
cache_on_deleted(void *arg)
{
	struct cache_delete	*d = arg;
	struct gw_req		*req = gw_find(d->serial);
	char			 body[512];
	int			 n;

	if (req != NULL && !req->client_gone) {
		if (d->rc == -1)
			http_reply_error(req, 500, "internal", "the cache could not be cleared");
		else {
			n = snprintf(body, sizeof(body), "{\"deleted\":true,\"model\":%s%s%s}",
			    d->model != NULL ? "\"" : "", d->model != NULL ? d->model : "null",
			    d->model != NULL ? "\"" : "");
			http_reply_copy(req, 200, "application/json", body, (size_t)n);
		}
	}
	cache_delete_free(d);
}

/* A helper thread waits for the writer, so the loop never does. */
static void *
cache_delete_thread(void *arg)
{
	struct cache_delete	*d = arg;

	int	*running = d->running;

	dbw_delete(d->model);
	d->rc = dbw_sync();
	if (loop_post(d->mb, cache_on_deleted, cache_delete_free, d) == -1)
		cache_delete_free(d);
	/* After this the loop may go away: nothing here touches it again. */
	__atomic_sub_fetch(running, 1, __ATOMIC_RELEASE);
	return (NULL);
}

void
cache_admin(struct gw_req *req)
{
	struct cache_stats	 st;
	struct cache_delete	*d;
	pthread_t		 th;
	uint64_t		 hits, misses;
	const char		*model;
	char			 body[512];
	int			 n;

	/* gw_identify checked the admin key or the loopback address. */
	if (!cache_on) {
		http_reply_error(req, 503, "unavailable", "the cache is off");
		return;
	}
	if (strcmp(req->method, "DELETE") == 0) {
		model = http_query(req, "model");
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (model != NULL && (d->model = strdup(model)) == NULL)) {
			free(d);
			http_reply_error(req, 500, "internal", "out of memory");
			return;
		}
		d->mb = loop_mailbox();
		d->serial = req->serial;
		d->running = &cache_deleters;
		__atomic_add_fetch(&cache_deleters, 1, __ATOMIC_ACQUIRE);
		if (pthread_create(&th, NULL, cache_delete_thread, d) != 0) {
			__atomic_sub_fetch(&cache_deleters, 1, __ATOMIC_RELEASE);
			cache_delete_free(d);
			http_reply_error(req, 500, "internal", "cannot start the deletion");
			return;
		}
		pthread_detach(th);
		http_suspend(req);
		req->state = GW_COALESCED;
		return;
	}
	memset(&st, 0, sizeof(st));
	if (cache_rd == NULL || cachedb_stats(cache_rd, &st) == -1)
		st.entries = st.bytes = -1;
	hits = __atomic_load_n(&cache_hits, __ATOMIC_RELAXED);
	misses = __atomic_load_n(&cache_misses, __ATOMIC_RELAXED);
	n = snprintf(body, sizeof(body), "{\"entries\":%lld,\"bytes\":%lld,\"hits\":%llu,"
	    "\"misses\":%llu,\"hit_ratio\":%.4f}", (long long)st.entries,
	    (long long)st.bytes, (unsigned long long)hits, (unsigned long long)misses,
	    hits + misses > 0 ? (double)hits / (double)(hits + misses) : 0.0);
	http_reply_copy(req, 200, "application/json", body, (size_t)n);
}
