/* SPDX-License-Identifier: BSD-2-Clause */
/* limit.c: per-client admission control: rate, concurrency, daily request and token
   quotas. Pure, no I/O. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"

#define DAY_MS		86400000LL
/*
 * Bucket tokens are counted in 1/60000 of a token so that refill is exact integer
 * arithmetic: at `rate` requests per minute every millisecond adds `rate` units.
 */
#define TOKEN		60000LL

struct limit_client {
	struct limit_client	*next;
	int64_t			 tokens;	/* in 1/TOKEN, valid once primed */
	int64_t			 refill_ms;	/* time tokens was brought up to date */
	int			 primed;	/* bucket set up (starts full) */
	int64_t			 day;		/* UTC day `used` and `spent` count */
	unsigned		 used;		/* requests admitted */
	uint64_t		 spent;		/* tokens of the requests ended */
	unsigned		 inflight;
	char			 name[];
};

static pthread_mutex_t		 limit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct limit_client	*limit_clients;

static int64_t
limit_day(int64_t ms)
{
	return (ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS));
}

/* ms rounded up to whole seconds, at least 1 when ms > 0. */
static unsigned
limit_secs(int64_t ms)
{
	int64_t	 s;

	if (ms <= 0)
		return (0);
	s = (ms + 999) / 1000;
	return (s > UINT_MAX ? UINT_MAX : (unsigned)s);
}

/* Caller holds limit_mu. Finds client, or creates it; NULL when out of memory. */
static struct limit_client *
limit_get(const char *client)
{
	struct limit_client	*c;
	size_t			 len;

	for (c = limit_clients; c != NULL; c = c->next)
		if (strcmp(c->name, client) == 0)
			return (c);
	len = strlen(client);
	if ((c = calloc(1, sizeof(*c) + len + 1)) == NULL)
		return (NULL);
	memcpy(c->name, client, len + 1);
	c->day = INT64_MIN;
	c->next = limit_clients;
	limit_clients = c;
	return (c);
}

/* Caller holds limit_mu. A new UTC day starts both daily counts afresh. */
static void
limit_roll(struct limit_client *c, int64_t today)
{
	if (c->day != today) {
		c->day = today;
		c->used = 0;
		c->spent = 0;
	}
}

/*
 * Brings the bucket up to now for capacity full (units). A clock stepped back only
 * re-anchors the bucket: it adds nothing, and it does not stall the client until the
 * clock catches up again.
 */
static void
limit_refill(struct limit_client *c, unsigned rate, int64_t full, int64_t now_ms)
{
	int64_t	 elapsed;

	if (!c->primed) {
		c->primed = 1;
		c->tokens = full;
	} else if (now_ms > c->refill_ms) {
		elapsed = now_ms - c->refill_ms;
		/* Compare before multiplying: elapsed * rate may overflow. */
		if (c->tokens >= full || elapsed >= (full - c->tokens + rate - 1) / rate)
			c->tokens = full;
		else
			c->tokens += elapsed * rate;
	}
	if (c->tokens > full)	/* a reload lowered the capacity */
		c->tokens = full;
	c->refill_ms = now_ms;
}

int
limit_admit(const char *client, const struct limit_params *p, int64_t now_ms,
    struct limit_verdict *v)
{
	struct limit_client	*c;
	int64_t			 today, midnight, full = 0;

	memset(v, 0, sizeof(*v));
	today = limit_day(now_ms);
	midnight = (today + 1) * DAY_MS - now_ms;

	pthread_mutex_lock(&limit_mu);
	if ((c = limit_get(client)) == NULL) {
		pthread_mutex_unlock(&limit_mu);
		return (-1);
	}
	limit_roll(c, today);
	if (p->rate > 0) {
		full = (int64_t)(p->burst > 0 ? p->burst : p->rate) * TOKEN;
		limit_refill(c, p->rate, full, now_ms);
	}

	/* Either quota: nothing is admitted before the next UTC midnight. */
	if ((p->quota > 0 && c->used >= p->quota) ||
	    (p->token_quota > 0 && c->spent >= p->token_quota)) {
		v->refused = p->quota > 0 && c->used >= p->quota ? "quota" : "token_quota";
		v->limit = v->refused[0] == 'q' ? p->quota : p->token_quota;
		v->remaining = 0;
		v->reset = v->retry_after = limit_secs(midnight);
		pthread_mutex_unlock(&limit_mu);
		return (0);
	}
	if (p->concurrent > 0 && c->inflight >= p->concurrent) {
		v->refused = "concurrency";
		v->retry_after = 1;
	} else if (p->rate > 0 && c->tokens < TOKEN) {
		v->refused = "rate";
		v->retry_after = limit_secs((TOKEN - c->tokens + p->rate - 1) / p->rate);
	} else {
		if (p->rate > 0)
			c->tokens -= TOKEN;
		c->used++;
		c->inflight++;
	}

	if (p->rate > 0) {
		v->limit = p->rate;
		v->remaining = (unsigned)(c->tokens / TOKEN);
		v->reset = limit_secs((full - c->tokens + p->rate - 1) / p->rate);
	} else if (p->quota > 0) {
		v->limit = p->quota;
		v->remaining = p->quota - c->used;
		v->reset = limit_secs(midnight);
	}
	pthread_mutex_unlock(&limit_mu);
	return (0);
}

void
limit_release(const char *client)
{
	struct limit_client	*c;

	pthread_mutex_lock(&limit_mu);
	for (c = limit_clients; c != NULL; c = c->next)
		if (strcmp(c->name, client) == 0) {
			if (c->inflight > 0)
				c->inflight--;
			break;
		}
	pthread_mutex_unlock(&limit_mu);
}

int
limit_tokens(const char *client, int64_t now_ms, uint64_t tokens)
{
	struct limit_client	*c;

	pthread_mutex_lock(&limit_mu);
	if ((c = limit_get(client)) == NULL) {
		pthread_mutex_unlock(&limit_mu);
		return (-1);
	}
	limit_roll(c, limit_day(now_ms));
	c->spent = tokens > UINT64_MAX - c->spent ? UINT64_MAX : c->spent + tokens;
	pthread_mutex_unlock(&limit_mu);
	return (0);
}

int
limit_seed(const char *client, int64_t day, unsigned used, uint64_t tokens)
{
	struct limit_client	*c;

	pthread_mutex_lock(&limit_mu);
	if ((c = limit_get(client)) == NULL) {
		pthread_mutex_unlock(&limit_mu);
		return (-1);
	}
	if (day > c->day) {
		c->day = day;
		c->used = used;
		c->spent = tokens;
	} else if (day == c->day) {
		if (used > c->used)
			c->used = used;
		if (tokens > c->spent)
			c->spent = tokens;
	}
	pthread_mutex_unlock(&limit_mu);
	return (0);
}

void
limit_free_all(void)
{
	struct limit_client	*c;

	pthread_mutex_lock(&limit_mu);
	while ((c = limit_clients) != NULL) {
		limit_clients = c->next;
		free(c);
	}
	pthread_mutex_unlock(&limit_mu);
}
