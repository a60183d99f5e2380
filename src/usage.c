/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Usage accounting. Each loop thread adds its finished requests to its own table of
 * counters keyed by (UTC day, client, model, task), so a request costs a hash lookup
 * and never a write; a loop timer, armed by the first request after a flush, hands
 * the table to the cache's writer thread within the request's [usage]
 * flush_interval_ms, and the writer commits usage at once, without waiting for a batch
 * to gather (dbw.h). So a crash loses at most the counts of that interval (and of one
 * commit); a committed transaction survives a crash of the process (WAL,
 * synchronous=NORMAL: only a power failure may undo the last ones). GET /admin/usage
 * reads the table on the asking thread's own read connection.
 *
 * Order at shutdown: each loop thread flushes in usage_thread_stop (after its last
 * request ended) before main stops the writer (usage_stop, cache_stop), and dbw_stop
 * commits everything queued, so no counted request is lost on a clean stop.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "bridge.h"
#include "cachedb.h"
#include "config.h"
#include "dbw.h"
#include "limit.h"
#include "log.h"
#include "loop.h"
#include "oai.h"
#include "request.h"
#include "route.h"
#include "task.h"
#include "usage.h"

#define USAGE_MAX_ROWS		4096	/* per thread between flushes: a full table
					   is flushed at once */
#define USAGE_INDEX_SLOTS	(2 * USAGE_MAX_ROWS)	/* a power of two */

static int		 usage_on;		/* atomic */
static int		 usage_own_writer;	/* usage_start started the writer */
static char		*usage_path;		/* the file, for the read connections */

/* This thread's counters: rows in insertion order (what dbw_usage takes), and an
   open-addressing index of row number + 1 (0: free). */
static _Thread_local struct usage_row	*usage_rows;
static _Thread_local size_t		 usage_nrows, usage_caprows;
static _Thread_local uint32_t		*usage_index;
static _Thread_local struct loop_timer	 usage_timer;
static _Thread_local int		 usage_live;	/* usage_thread_start ran */
static _Thread_local int64_t		 usage_daynum = INT64_MIN;
static _Thread_local char		 usage_day[11];
static _Thread_local struct cachedb	*usage_rd;

static const char	*usage_day_of(int64_t);
static void		 usage_seed_quotas(void);

void
usage_set_enabled(int on)
{
	__atomic_store_n(&usage_on, on != 0, __ATOMIC_RELEASE);
}

int
usage_start(const char *db_path)
{
	const char	*cache_path;
	char		 err[512];

	if ((cache_path = dbw_path()) != NULL) {
		/* The cache's writer: one writer per process, so its file. */
		if (db_path != NULL && strcmp(db_path, cache_path) != 0)
			log_warnx("usage: counting in the cache's file %s, not in %s",
			    cache_path, db_path);
		db_path = cache_path;
	} else if (db_path != NULL) {
		/* No cache entries are ever written here, so no cap applies. */
		if (dbw_start(db_path, INT64_MAX, err, sizeof(err)) == -1) {
			log_warnx("usage accounting off: %s", err);
			return (-1);
		}
		usage_own_writer = 1;
	} else
		return (0);
	if ((usage_path = strdup(db_path)) == NULL) {
		log_warnx("usage accounting off: out of memory");
		usage_stop();
		return (-1);
	}
	usage_set_enabled(1);
	log_info("usage accounting in %s", db_path);
	usage_seed_quotas();
	return (0);
}

void
usage_stop(void)
{
	usage_set_enabled(0);
	if (usage_own_writer)
		dbw_stop();
	usage_own_writer = 0;
	free(usage_path);
	usage_path = NULL;
}

/* Hands this thread's counters to the writer and empties the table. */
static void
usage_flush(void)
{
	if (usage_nrows == 0)
		return;
	dbw_usage(usage_rows, usage_nrows);
	usage_nrows = 0;
	memset(usage_index, 0, USAGE_INDEX_SLOTS * sizeof(*usage_index));
}

static void
usage_on_timer(struct loop_timer *t)
{
	(void)t;
	usage_flush();
}

void
usage_thread_start(void)
{
	usage_timer.cb = usage_on_timer;
	usage_live = 1;
}

void
usage_thread_stop(void)
{
	loop_timer_cancel(&usage_timer);
	usage_flush();
	usage_live = 0;
	free(usage_rows);
	free(usage_index);
	usage_rows = NULL;
	usage_index = NULL;
	usage_nrows = usage_caprows = 0;
	cachedb_close(usage_rd);
	usage_rd = NULL;
}

/* dst gets src, or "-" for NULL or "", cut to fit. */
static void
usage_copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL && *src != '\0' ? src : "-");
}

/* The UTC day of unix ms, recomputed only when the day changes. */
static const char *
usage_day_of(int64_t ms)
{
	int64_t		 day = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	time_t		 t;
	struct tm	 tm;

	if (day != usage_daynum) {
		t = (time_t)(day * 86400);
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(usage_day, sizeof(usage_day), "%Y-%m-%d", &tm) != 10)
			snprintf(usage_day, sizeof(usage_day), "0000-00-00");
		usage_daynum = day;
	}
	return (usage_day);
}

static void
usage_seed_one(const char *client, uint64_t requests, uint64_t tokens, void *arg)
{
	int64_t	day = *(const int64_t *)arg;

	(void)limit_seed(client, day, requests > UINT_MAX ? UINT_MAX : (unsigned)requests,
	    tokens);
}

/*
 * Today's requests and generated tokens of each client, read back once at start-up,
 * so that a restart does not give a client its daily quotas again. Admitted requests
 * only are counted (see gw.c), as limit.c counts them. Read once: the counts of other
 * processes sharing the file later are not seen (docs/teams.md).
 */
static void
usage_seed_quotas(void)
{
	struct cachedb	*db = NULL;
	char		 err[512];
	int64_t		 now = loop_wall_ms(), dayno = now / 86400000;

	if (cachedb_open(usage_path, &db, err, sizeof(err)) == -1) {
		log_warnx("usage: cannot read today's counts back: %s", err);
		return;
	}
	if (cachedb_usage_day(db, usage_day_of(now), usage_seed_one, &dayno) == -1)
		log_warnx("usage: cannot read today's counts back");
	cachedb_close(db);
}

/* FNV-1a over the key's four strings. */
static uint32_t
usage_hash(const struct usage_row *k)
{
	const char *const	 parts[] = { k->day, k->client, k->model, k->task };
	const unsigned char	*p;
	uint32_t		 h = 2166136261u;
	size_t			 i;

	for (i = 0; i < 4; i++) {
		for (p = (const unsigned char *)parts[i]; *p != '\0'; p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0xff) * 16777619u;	/* separator: "ab","c" != "a","bc" */
	}
	return (h);
}

static int
usage_same(const struct usage_row *a, const struct usage_row *b)
{
	return (strcmp(a->day, b->day) == 0 && strcmp(a->client, b->client) == 0 &&
	    strcmp(a->model, b->model) == 0 && strcmp(a->task, b->task) == 0);
}

/* This thread's row for key k, added if new; NULL when out of memory. */
static struct usage_row *
usage_row_for(const struct usage_row *k)
{
	struct usage_row	*r;
	size_t			 slot, ncap;
	uint32_t		 h = usage_hash(k);

	if (usage_index == NULL &&
	    (usage_index = calloc(USAGE_INDEX_SLOTS, sizeof(*usage_index))) == NULL)
		return (NULL);
	for (slot = h & (USAGE_INDEX_SLOTS - 1); usage_index[slot] != 0;
	    slot = (slot + 1) & (USAGE_INDEX_SLOTS - 1))
		if (usage_same(&usage_rows[usage_index[slot] - 1], k))
			return (&usage_rows[usage_index[slot] - 1]);
	if (usage_nrows == USAGE_MAX_ROWS) {
		/* Full (at most half the index used): start a new batch. */
		usage_flush();
		slot = h & (USAGE_INDEX_SLOTS - 1);
	}
	if (usage_nrows == usage_caprows) {
		ncap = usage_caprows == 0 ? 64 : usage_caprows * 2;
		if ((r = reallocarray(usage_rows, ncap, sizeof(*r))) == NULL)
			return (NULL);
		usage_rows = r;
		usage_caprows = ncap;
	}
	r = &usage_rows[usage_nrows];
	*r = *k;
	usage_index[slot] = (uint32_t)++usage_nrows;
	return (r);
}

void
usage_record(const struct usage_event *ev)
{
	struct usage_row	 k, *r;
	uint64_t		 ms;

	if (!__atomic_load_n(&usage_on, __ATOMIC_ACQUIRE))
		return;
	memset(&k, 0, sizeof(k));
	memcpy(k.day, usage_day_of(ev->when_ms), sizeof(k.day));
	usage_copy(k.client, sizeof(k.client), ev->client);
	usage_copy(k.model, sizeof(k.model), ev->model);
	usage_copy(k.task, sizeof(k.task), ev->task);
	if ((r = usage_row_for(&k)) == NULL) {
		log_warnx("usage: out of memory, a request is not counted");
		return;
	}
	r->requests++;
	r->cache_hits += ev->cache_hit ? 1 : 0;
	r->attempts += ev->attempts;
	r->errors += ev->error ? 1 : 0;
	r->upstream_ms += ev->upstream_ms;
	r->bytes_in += ev->bytes_in;
	r->bytes_out += ev->bytes_out;
	r->generated_tokens += ev->generated_tokens;
	r->prompt_tokens += ev->prompt_tokens;
	/* Armed only while there is something to flush: an idle thread never wakes.
	   A shorter interval (after a reload) moves the flush forward. */
	ms = ev->flush_ms > 0 ? (uint64_t)ev->flush_ms : USAGE_FLUSH_MS;
	if (usage_live && (!loop_timer_armed(&usage_timer) ||
	    usage_timer.when > loop_now_ms() + ms))
		loop_timer_set(&usage_timer, ms);
}

void
usage_request_done(const struct gw_req *req, const char *client, int ok)
{
	struct usage_event	 ev;

	if ((route_flags(req->route.kind) & ROUTE_F_INFERENCE) == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.client = client;
	ev.model = req->res.model;
	ev.task = req->res.task != NULL ? req->res.task->name : NULL;
	ev.when_ms = loop_wall_ms();
	ev.flush_ms = req->cfg->usage_flush_ms;
	ev.cache_hit = req->cache.state == CACHE_STATE_HIT ||
	    req->cache.state == CACHE_STATE_STALE;
	ev.attempts = req->call.attempts;
	/* An aborted request's status is 0: nothing was answered, an error too. */
	ev.error = req->tr.status >= 400 || req->tr.status == 0;
	(void)ok;
	ev.upstream_ms = req->call.up_ms;
	ev.bytes_in = req->tr.in_total;
	ev.bytes_out = req->reply_bytes + req->st.bytes_out;
	ev.generated_tokens = req->call.tokens + req->st.tokens;
	ev.prompt_tokens = req->call.prompt_tokens + req->st.prompt_tokens;
	/* The token quota counts what the usage table counts, when it counts it, with
	   accounting on or off (docs/teams.md, "Limits"): prompt and generated. */
	if (client != NULL && ev.generated_tokens + ev.prompt_tokens > 0 &&
	    limit_tokens(client, ev.when_ms, ev.generated_tokens + ev.prompt_tokens) == -1)
		log_warnx("client %s: out of memory, its tokens are not counted", client);
	usage_record(&ev);
}

/* details.generated_tokens of one text-generation result. */
static uint64_t
usage_result_tokens(const cJSON *o)
{
	const cJSON	*n;

	n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o,
	    "details"), "generated_tokens");
	return (cJSON_IsNumber(n) && n->valuedouble > 0 ?
	    (uint64_t)n->valuedouble : 0);
}

uint64_t
usage_tokens(const struct gw_req *req, const char *ctype, const char *body,
    size_t len, uint64_t *prompt)
{
	cJSON		*root;
	const cJSON	*e;
	uint64_t		 n = 0;
	unsigned long long	 p = 0, c = 0;

	*prompt = 0;
	/* A bridged answer counts from the OpenAI answer, before it is translated. */
	if (req->res.openai || req->res.bridge.kind != BRIDGE_NONE) {
		if (req->call.attempts > 0 && body != NULL)
			c = oai_completion_tokens(body, len, &p);
		*prompt = p;
		return (c);
	}
	/* Parsed only when it can hold tokens: /models/{id} does not know its task. */
	if (req->call.attempts == 0 || body == NULL || len == 0 || (req->res.task != NULL &&
	    strcmp(req->res.task->name, "text-generation") != 0) || ctype == NULL ||
	    strncasecmp(ctype, "application/json", 16) != 0 ||
	    memmem(body, len, "\"generated_tokens\"", 18) == NULL ||
	    (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (0);
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(e, root)
			n += usage_result_tokens(e);
	} else
		n = usage_result_tokens(root);
	cJSON_Delete(root);
	return (n);
}

int
usage_valid_day(const char *s)
{
	static const int	 mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
				     30, 31 };
	int			 i, y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return (0);
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return (0);
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return (0);
	return (m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
}

int
usage_is_on(void)
{
	return (__atomic_load_n(&usage_on, __ATOMIC_ACQUIRE) && usage_path != NULL);
}

int
usage_flush_now(void)
{
	if (usage_nrows == 0)
		return (0);
	usage_flush();
	return (1);
}

int
usage_wait_written(void)
{
	return (dbw_sync());
}

int
usage_query(const char *from, const char *to, const char *client, char **json)
{
	char	 err[512];

	if (usage_rd == NULL &&
	    cachedb_open(usage_path, &usage_rd, err, sizeof(err)) == -1) {
		log_warnx("usage: %s", err);
		usage_rd = NULL;
		return (-1);
	}
	return (cachedb_usage_json(usage_rd, from, to, client, json));
}
