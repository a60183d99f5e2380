/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The counters of GET /metrics (docs/operations.md, "Metrics"). A loop thread writes
 * only its own slot, so a counter moves by a relaxed load and store of its own, no
 * lock and no locked instruction; a scrape reads every slot (relaxed loads) and adds
 * them up. Threads without a slot (the main thread, helper threads) add to the shared
 * slot 0 atomically: they count rare things.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"

#define METRICS_SLOTS		80	/* loop threads (at most 64) and slot 0 */
#define METRICS_NBUCKETS	17	/* request duration buckets, +Inf last */
#define METRICS_NCLASS		6	/* no status, 1xx ... 5xx */
#define METRICS_NCACHE		5	/* CACHE_STATE_* of request.h */
#define METRICS_NLIMIT		4

typedef _Atomic uint64_t metrics_counter;

struct metrics_slot {
	metrics_counter	 requests[METRICS_NFAMILIES][METRICS_NCLASS];
	metrics_counter	 buckets[METRICS_NFAMILIES][METRICS_NBUCKETS];
	metrics_counter	 duration_ms[METRICS_NFAMILIES];
	metrics_counter	 cache[METRICS_NCACHE];
	metrics_counter	 attempts, coalesced;
	metrics_counter	 retries[METRICS_NRETRY];
	metrics_counter	 refused[METRICS_NLIMIT];
	metrics_counter	 streams_opened, streams_closed, streams_complete,
			 streams_incomplete;
	metrics_counter	 prompt_tokens, completion_tokens;
};

/* Upper bounds of the duration buckets, in ms: 1 ms to 120 s. */
static const uint64_t metrics_bucket_ms[METRICS_NBUCKETS - 1] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000
};
static const char *const metrics_family_name[METRICS_NFAMILIES] = {
	"hf", "openai", "endpoint", "hub", "local", "admin", "other"
};
static const char *const metrics_class_name[METRICS_NCLASS] = {
	"none", "1xx", "2xx", "3xx", "4xx", "5xx"
};
static const char *const metrics_cache_name[METRICS_NCACHE] = {
	NULL, "bypass", "miss", "hit", "stale"
};
static const char *const metrics_retry_name[METRICS_NRETRY] = {
	"connect", "timeout", "429", "5xx", "loading", "other"
};
static const char *const metrics_limit_name[METRICS_NLIMIT] = {
	"rate", "concurrency", "quota", "token_quota"
};

static struct metrics_slot	 metrics_slots[METRICS_SLOTS];
static atomic_uint		 metrics_nslots = 1;	/* slot 0 is shared */
static _Thread_local struct metrics_slot *metrics_own;
static _Atomic uint64_t		 metrics_reload_ok, metrics_reload_failed;
static _Atomic int64_t		 metrics_reload_last_ms, metrics_start_ms;

void
metrics_thread_start(void)
{
	unsigned	 i = atomic_fetch_add(&metrics_nslots, 1);

	/* Past the table: the shared slot, counted atomically. */
	metrics_own = i < METRICS_SLOTS ? &metrics_slots[i] : NULL;
}

/* Adds n to the calling thread's copy of counter c (c is in slot 0's layout). */
static void
metrics_add(metrics_counter *c, uint64_t n)
{
	size_t	 off = (size_t)((char *)c - (char *)&metrics_slots[0]);

	if (metrics_own == NULL) {
		atomic_fetch_add_explicit(c, n, memory_order_relaxed);
		return;
	}
	c = (metrics_counter *)((char *)metrics_own + off);
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

void
metrics_request(enum metrics_family f, unsigned status, uint64_t ms, int cache_state,
    uint64_t prompt_tokens, uint64_t completion_tokens)
{
	struct metrics_slot	*s = &metrics_slots[0];
	unsigned		 cls = status >= 100 && status < 600 ? status / 100 : 0;
	size_t			 b;

	if ((int)f < 0 || f >= METRICS_NFAMILIES)
		f = METRICS_F_OTHER;
	metrics_add(&s->requests[f][cls], 1);
	for (b = 0; b < METRICS_NBUCKETS - 1 && ms > metrics_bucket_ms[b]; b++)
		;
	metrics_add(&s->buckets[f][b], 1);
	metrics_add(&s->duration_ms[f], ms);
	if (cache_state > 0 && cache_state < METRICS_NCACHE)
		metrics_add(&s->cache[cache_state], 1);
	if (prompt_tokens > 0)
		metrics_add(&s->prompt_tokens, prompt_tokens);
	if (completion_tokens > 0)
		metrics_add(&s->completion_tokens, completion_tokens);
}

void
metrics_attempt(void)
{
	metrics_add(&metrics_slots[0].attempts, 1);
}

void
metrics_retry(enum metrics_retry r)
{
	metrics_add(&metrics_slots[0].retries[(int)r >= 0 && r < METRICS_NRETRY ? r :
	    METRICS_R_OTHER], 1);
}

void
metrics_coalesced(void)
{
	metrics_add(&metrics_slots[0].coalesced, 1);
}

void
metrics_refused(const char *kind)
{
	size_t	 i;

	for (i = 0; i < METRICS_NLIMIT; i++)
		if (kind != NULL && strcmp(kind, metrics_limit_name[i]) == 0) {
			metrics_add(&metrics_slots[0].refused[i], 1);
			return;
		}
}

void
metrics_stream_open(void)
{
	metrics_add(&metrics_slots[0].streams_opened, 1);
}

void
metrics_stream_close(void)
{
	metrics_add(&metrics_slots[0].streams_closed, 1);
}

void
metrics_stream_end(int complete)
{
	metrics_add(complete ? &metrics_slots[0].streams_complete :
	    &metrics_slots[0].streams_incomplete, 1);
}

void
metrics_reload(int ok, int64_t now_ms)
{
	atomic_fetch_add(ok ? &metrics_reload_ok : &metrics_reload_failed, 1);
	if (ok)
		atomic_store(&metrics_reload_last_ms, now_ms);
}

void
metrics_started(int64_t now_ms)
{
	atomic_store(&metrics_start_ms, now_ms);
	atomic_store(&metrics_reload_last_ms, now_ms);
}

/* The sum over the slots of the counter at c (slot 0's). */
static uint64_t
metrics_sum(const metrics_counter *c)
{
	size_t		 off = (size_t)((const char *)c - (const char *)&metrics_slots[0]);
	unsigned	 n = atomic_load(&metrics_nslots), i;
	uint64_t	 v = 0;

	if (n > METRICS_SLOTS)
		n = METRICS_SLOTS;
	for (i = 0; i < n; i++)
		v += atomic_load_explicit((const metrics_counter *)((const char *)
		    &metrics_slots[i] + off), memory_order_relaxed);
	return (v);
}

/* "# HELP" and "# TYPE" of a metric. 0 or -1. */
static int
metrics_head(struct buf *b, const char *name, const char *type, const char *help)
{
	return (buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type));
}

/* One labelled value per name in names (NULL names skipped): v[i]. */
static int
metrics_labelled(struct buf *b, const char *name, const char *type, const char *help,
    const char *label, const char *const names[], const uint64_t *v, size_t n)
{
	size_t	 i;

	if (metrics_head(b, name, type, help) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		if (names[i] != NULL && buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label,
		    names[i], (unsigned long long)v[i]) == -1)
			return (-1);
	return (0);
}

/* The sums of the n counters from c (slot 0's) into v. Returns v. */
static const uint64_t *
metrics_sums(const metrics_counter *c, uint64_t *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		v[i] = metrics_sum(&c[i]);
	return (v);
}

static int
metrics_plain(struct buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	return (metrics_head(b, name, type, help) == -1 ||
	    buf_printf(b, "%s %llu\n", name, (unsigned long long)v) == -1 ? -1 : 0);
}

/* A Unix time in seconds, from wall-clock ms. */
static int
metrics_time(struct buf *b, const char *name, const char *help, int64_t ms)
{
	return (metrics_head(b, name, "gauge", help) == -1 ||
	    buf_printf(b, "%s %lld.%03lld\n", name, (long long)(ms / 1000),
	    (long long)(ms % 1000)) == -1 ? -1 : 0);
}

static int
metrics_requests(struct buf *b)
{
	const struct metrics_slot	*s = &metrics_slots[0];
	const char			*fam;
	uint64_t			 cum;
	size_t				 f, c, k;

	if (metrics_head(b, "hfgate_requests_total", "counter", "Requests answered, by "
	    "route family and status class (none: the client left first).") == -1)
		return (-1);
	for (f = 0; f < METRICS_NFAMILIES; f++)
		for (c = 0; c < METRICS_NCLASS; c++)
			if (buf_printf(b, "hfgate_requests_total{family=\"%s\",code=\"%s\"} "
			    "%llu\n", metrics_family_name[f], metrics_class_name[c],
			    (unsigned long long)metrics_sum(&s->requests[f][c])) == -1)
				return (-1);
	if (metrics_head(b, "hfgate_request_duration_seconds", "histogram", "Time from "
	    "the request's head to its end, by route family.") == -1)
		return (-1);
	for (f = 0; f < METRICS_NFAMILIES; f++) {
		fam = metrics_family_name[f];
		cum = 0;
		for (k = 0; k < METRICS_NBUCKETS; k++) {
			cum += metrics_sum(&s->buckets[f][k]);
			if (k < METRICS_NBUCKETS - 1 ? buf_printf(b,
			    "hfgate_request_duration_seconds_bucket{family=\"%s\",le=\"%g\"} "
			    "%llu\n", fam, (double)metrics_bucket_ms[k] / 1000,
			    (unsigned long long)cum) : buf_printf(b,
			    "hfgate_request_duration_seconds_bucket{family=\"%s\",le=\"+Inf\"} "
			    "%llu\n", fam, (unsigned long long)cum) == -1)
				return (-1);
		}
		if (buf_printf(b, "hfgate_request_duration_seconds_sum{family=\"%s\"} %.3f\n"
		    "hfgate_request_duration_seconds_count{family=\"%s\"} %llu\n", fam,
		    (double)metrics_sum(&s->duration_ms[f]) / 1000, fam,
		    (unsigned long long)cum) == -1)
			return (-1);
	}
	return (0);
}

char *
metrics_render(const struct metrics_build *v)
{
	const struct metrics_slot	*s = &metrics_slots[0];
	struct buf			 b = { NULL, 0, 0 };
	static const char *const	 end_names[] = { "complete", "incomplete" };
	static const char *const	 tok_names[] = { "prompt", "completion" };
	uint64_t			 ends[2], toks[2], retries[METRICS_NRETRY],
					 cache[METRICS_NCACHE], refused[METRICS_NLIMIT],
					 opened, closed;

	opened = metrics_sum(&s->streams_opened);
	closed = metrics_sum(&s->streams_closed);
	ends[0] = metrics_sum(&s->streams_complete);
	ends[1] = metrics_sum(&s->streams_incomplete);
	toks[0] = metrics_sum(&s->prompt_tokens);
	toks[1] = metrics_sum(&s->completion_tokens);
	if (metrics_head(&b, "hfgate_build_info", "gauge", "The version of hfgate and of "
	    "the libraries it runs with.") == -1 ||
	    buf_printf(&b, "hfgate_build_info{version=\"%s\",libcurl=\"%s\","
	    "libmicrohttpd=\"%s\",sqlite=\"%s\"} 1\n", v->version, v->libcurl,
	    v->libmicrohttpd, v->sqlite) == -1 ||
	    metrics_time(&b, "hfgate_start_time_seconds", "When the process started, Unix "
	    "time.", atomic_load(&metrics_start_ms)) == -1 ||
	    metrics_requests(&b) == -1 ||
	    metrics_plain(&b, "hfgate_upstream_attempts_total", "counter", "Upstream calls "
	    "started, retries included.", metrics_sum(&s->attempts)) == -1 ||
	    metrics_labelled(&b, "hfgate_upstream_retries_total", "counter", "Upstream "
	    "calls made again, by reason.", "reason", metrics_retry_name,
	    metrics_sums(s->retries, retries, METRICS_NRETRY), METRICS_NRETRY) == -1 ||
	    metrics_labelled(&b, "hfgate_cache_requests_total", "counter", "Inference "
	    "requests by X-Cache.", "result", metrics_cache_name,
	    metrics_sums(s->cache, cache, METRICS_NCACHE), METRICS_NCACHE) == -1 ||
	    metrics_plain(&b, "hfgate_coalesced_requests_total", "counter", "Requests "
	    "answered by an identical request's upstream call.",
	    metrics_sum(&s->coalesced)) == -1 ||
	    metrics_plain(&b, "hfgate_streams_open", "gauge", "Event streams being "
	    "relayed to clients.", opened >= closed ? opened - closed : 0) == -1 ||
	    metrics_labelled(&b, "hfgate_upstream_streams_total", "counter", "Upstream "
	    "event streams ended, by how.", "end", end_names, ends, 2) == -1 ||
	    metrics_labelled(&b, "hfgate_tokens_total", "counter", "Tokens the upstream "
	    "reported, by kind.", "kind", tok_names, toks, 2) == -1 ||
	    metrics_labelled(&b, "hfgate_limit_refusals_total", "counter", "Requests "
	    "refused by a client limit, by limit.", "limit", metrics_limit_name,
	    metrics_sums(s->refused, refused, METRICS_NLIMIT), METRICS_NLIMIT) == -1 ||
	    metrics_head(&b, "hfgate_config_reloads_total", "counter", "Configuration "
	    "reloads, by result.") == -1 ||
	    buf_printf(&b, "hfgate_config_reloads_total{result=\"success\"} %llu\n"
	    "hfgate_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)atomic_load(&metrics_reload_ok),
	    (unsigned long long)atomic_load(&metrics_reload_failed)) == -1 ||
	    metrics_time(&b, "hfgate_config_last_reload_success_timestamp_seconds",
	    "When the running configuration was loaded, Unix time.",
	    atomic_load(&metrics_reload_last_ms)) == -1) {
		buf_free(&b);
		return (NULL);
	}
	return (buf_steal(&b));
}
