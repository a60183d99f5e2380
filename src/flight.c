/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Coalescing: identical cacheable requests in flight at the same time, on any loop
 * thread, cause one upstream call. The leader's answer (or its stream, event by
 * event) is copied to every waiter's thread through its mailbox (loop_post) and handed
 * to the gateway there through the hooks. Flights live in one table under one mutex;
 * a waiter leaves under it too, so its thread and mailbox exist for every message
 * posted to it. A leader stores its answer (cache.c) before its flight leaves the
 * table, and the cache finds it from then on (dbw_pending, then the file): a request
 * that finds neither the flight nor the answer has looked too early, and
 * flight_landed looks again.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "cachedb.h"
#include "canon.h"
#include "flight.h"
#include "loop.h"
#include "req.h"
#include "request.h"

#define FLIGHT_STREAM_MAX	(1024 * 1024)	/* events kept for late joiners */
#define FLIGHT_BUCKETS		1024

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
static struct flight	*flights[FLIGHT_BUCKETS];
static const struct flight_hooks	*flight_hooks;

void
flight_set_hooks(const struct flight_hooks *h)
{
	flight_hooks = h;
}

static size_t
flight_bucket(const uint8_t key[CANON_KEY_LEN])
{
	return (((size_t)key[0] << 8 | key[1]) % FLIGHT_BUCKETS);
}

static void	flight_on_msg(void *);
static void	flight_msg_free(void *);

/*
 * Posts a message of kind to waiter w; call with flight_mu held (so w's thread and
 * mailbox exist). Bodies are copied; when a copy fails the waiter still hears the
 * end: an answer becomes "go upstream yourself", a stream part the end of its stream.
 */
static void
flight_post(struct flight_waiter *w, enum flight_kind kind, int go, long status,
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
	if (loop_post(w->mb, flight_on_msg, flight_msg_free, m) == -1)
		flight_msg_free(m);
}

/* Takes req's flight out of the table; call with flight_mu held. */
static struct flight *
flight_unlink(struct gw_req *req)
{
	struct flight	*f, **pp;

	for (pp = &flights[flight_bucket(req->flight.key)]; (f = *pp) != NULL;
	    pp = &f->next)
		if (f->leader == req->serial) {
			*pp = f->next;
			return (f);
		}
	return (NULL);
}

static void
flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	buf_free(&f->relay);
	buf_free(&f->sofar);
	free(f);
}

/* The flight req leads; call with flight_mu held. */
static struct flight *
flight_led(struct gw_req *req)
{
	struct flight	*f;

	for (f = flights[flight_bucket(req->flight.key)]; f != NULL; f = f->next)
		if (f->leader == req->serial)
			return (f);
	return (NULL);
}

/*
 * req has just become the leader of a new flight, but an identical request's answer
 * may have landed between req's cache look-up and now: that leader stored it
 * (dbw_pending) before it left the table, so req's look-up ran before the store.
 * When the cache has it now, req and whoever joined it since get it as a flight's
 * answer (or a finished stream), through their mailboxes like any waiter, and 1 is
 * returned; else 0 and req goes upstream.
 */
static int
flight_landed(struct gw_req *req)
{
	static const struct buf	 none = { NULL, 0, 0 };
	struct cache_entry	 e;
	struct flight		*f;
	struct flight_waiter	*self, *w, *next;
	struct buf		 body;
	char			*list = NULL;
	int			 how;

	memset(&e, 0, sizeof(e));
	if (!cache_landed(req) || (self = calloc(1, sizeof(*self))) == NULL)
		return (0);
	if (cache_recheck(req, &e) != 1 ||
	    (how = cache_fit(req, &e, CACHE_STATE_HIT, &list)) == CACHE_SERVE_NONE) {
		cache_entry_free(&e);
		free(self);
		return (0);
	}
	self->mb = loop_mailbox();
	self->serial = req->serial;
	if (how == CACHE_SERVE_LIST) {
		body.data = list;
		body.len = body.cap = strlen(list);
	} else {
		body.data = e.body;
		body.len = body.cap = e.len;
	}
	pthread_mutex_lock(&flight_mu);
	f = flight_unlink(req);
	req->flight.leader = 0;
	req->flight.waiting = 1;
	self->next = f != NULL ? f->waiters : NULL;
	for (w = self; w != NULL; w = next) {
		next = w->next;
		if (how == CACHE_SERVE_STREAM) {
			flight_post(w, FLIGHT_START, 0, e.status, e.ctype, NULL, &body,
			    &none);
			flight_post(w, FLIGHT_END, 0, 0, NULL, NULL, &none, NULL);
		} else if (how == CACHE_SERVE_LIST)
			flight_post(w, FLIGHT_ANSWER, 0, 200, "application/json", NULL,
			    &body, &none);
		else
			flight_post(w, FLIGHT_ANSWER, 0, e.status, e.ctype, NULL, &body,
			    &none);
		free(w);
	}
	pthread_mutex_unlock(&flight_mu);
	flight_free(f);
	free(list);
	cache_entry_free(&e);
	return (1);
}

int
flight_join(struct gw_req *req, const uint8_t key[CANON_KEY_LEN], int sse)
{
	struct flight		*f, **slot;
	struct flight_waiter	*w;

	memcpy(req->flight.key, key, CANON_KEY_LEN);
	pthread_mutex_lock(&flight_mu);
	slot = &flights[flight_bucket(req->flight.key)];
	/* Streams join streams only: the key leaves "stream" out. */
	for (f = *slot; f != NULL; f = f->next)
		if (memcmp(f->key, req->flight.key, CANON_KEY_LEN) == 0 &&
		    f->stream == sse)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) != NULL) {
			memcpy(f->key, req->flight.key, CANON_KEY_LEN);
			f->leader = req->serial;
			f->stream = sse;
			f->next = *slot;
			*slot = f;
			req->flight.leader = 1;
		}
		pthread_mutex_unlock(&flight_mu);
		return (req->flight.leader ? flight_landed(req) : 0);
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
	req->flight.waiting = 1;
	/* A stream already under way: its events so far, then the live ones. */
	if (f->started)
		flight_post(w, FLIGHT_START, 0, f->status, f->ctype, NULL, &f->sofar,
		    &f->relay);
	pthread_mutex_unlock(&flight_mu);
	return (1);
}

static void
flight_msg_free(void *arg)
{
	struct flight_msg	*m = arg;

	buf_free(&m->body);
	buf_free(&m->relay);
	free(m);
}

/* On the waiter's thread: the leader's answer, or the word to go on its own. */
static void
flight_on_msg(void *arg)
{
	struct flight_msg	*m = arg;
	struct gw_req		*req = req_find(m->serial);

	if (req == NULL || !req->flight.waiting || req->client_gone) {
		flight_msg_free(m);
		return;
	}
	switch (m->kind) {
	case FLIGHT_START:
		flight_hooks->stream_start(req, m->status, m->ctype, &m->relay, &m->body);
		break;
	case FLIGHT_DATA:
	case FLIGHT_END:
		flight_hooks->stream_data(req, &m->body, m->kind == FLIGHT_END);
		if (m->kind == FLIGHT_END)
			req->flight.waiting = 0;
		break;
	case FLIGHT_ANSWER:
		req->flight.waiting = 0;
		flight_hooks->answer(req, m->go, m->status, m->ctype, m->retry_after,
		    &m->body, &m->relay);
		break;
	}
	flight_msg_free(m);
}

void
flight_stream_start(struct gw_req *req, long status, const char *ctype,
    const struct buf *relay)
{
	struct flight		*f;
	struct flight_waiter	*w;

	if (!req->flight.leader)
		return;
	pthread_mutex_lock(&flight_mu);
	if ((f = flight_led(req)) != NULL && f->stream) {
		f->started = 1;
		f->status = status;
		snprintf(f->ctype, sizeof(f->ctype), "%s", ctype);
		if (relay->len > 0 &&
		    buf_append(&f->relay, relay->data, relay->len) == -1)
			f->closed = 1;
		for (w = f->waiters; w != NULL; w = w->next)
			flight_post(w, FLIGHT_START, 0, f->status, f->ctype, NULL, NULL,
			    &f->relay);
	}
	pthread_mutex_unlock(&flight_mu);
}

/* The leader's stream bytes go to every follower, and are kept for late joiners. */
void
flight_stream_bytes(struct gw_req *req, const char *data, size_t len)
{
	struct flight		*f;
	struct flight_waiter	*w;
	struct buf		 b = { (char *)(uintptr_t)data, len, len };

	if (!req->flight.leader)
		return;
	pthread_mutex_lock(&flight_mu);
	if ((f = flight_led(req)) != NULL && f->started) {
		if (!f->closed && (f->sofar.len + len > FLIGHT_STREAM_MAX ||
		    buf_append(&f->sofar, data, len) == -1)) {
			f->closed = 1;
			buf_free(&f->sofar);
		}
		for (w = f->waiters; w != NULL; w = w->next)
			flight_post(w, FLIGHT_DATA, 0, 0, NULL, NULL, &b, NULL);
	}
	pthread_mutex_unlock(&flight_mu);
}

/* Ends a stream flight: every follower gets tail (an error event, or nothing) and the
   end of its stream. */
static void
flight_stream_land(struct gw_req *req, const char *tail, size_t len)
{
	struct flight		*f;
	struct flight_waiter	*w, *next;
	struct buf		 b = { (char *)(uintptr_t)tail, len, len };

	pthread_mutex_lock(&flight_mu);
	f = flight_unlink(req);
	for (w = f != NULL ? f->waiters : NULL; w != NULL; w = next) {
		next = w->next;
		flight_post(w, FLIGHT_END, 0, 0, NULL, NULL, &b, NULL);
		free(w);
	}
	pthread_mutex_unlock(&flight_mu);
	flight_free(f);
	req->flight.leader = 0;
}

void
flight_stream_end(struct gw_req *req, const char *tail, size_t len)
{
	if (req->flight.leader)
		flight_stream_land(req, tail, len);
}

/* Ends req's flight as its leader: each waiter gets a copy of the answer (go = 0), or
   is sent upstream (go = 1). */
static void
flight_end(struct gw_req *req, int go, long status, const char *ctype,
    const char *retry_after, const struct buf *body, const struct buf *relay)
{
	struct flight		*f;
	struct flight_waiter	*w, *next;

	if (!req->flight.leader)
		return;
	pthread_mutex_lock(&flight_mu);
	f = flight_led(req);
	if (f != NULL && f->started) {
		/* Followers are mid-stream: they cannot start over upstream. */
		static const char abandoned[] = "data:{\"error\":\"the stream this "
		    "request shared was abandoned\",\"error_type\":"
		    "\"incomplete_generation\"}\n\n";

		pthread_mutex_unlock(&flight_mu);
		flight_stream_land(req, abandoned, sizeof(abandoned) - 1);
		return;
	}
	req->flight.leader = 0;
	f = flight_unlink(req);
	/* Posting under the lock: a waiter leaves under it too, so its thread and
	   mailbox exist for every message posted here. */
	for (w = f != NULL ? f->waiters : NULL; w != NULL; w = next) {
		next = w->next;
		flight_post(w, FLIGHT_ANSWER, go, status, ctype, retry_after,
		    go ? NULL : body, go ? NULL : relay);
		free(w);
	}
	pthread_mutex_unlock(&flight_mu);
	flight_free(f);
}

void
flight_land(struct gw_req *req, long status, const char *ctype,
    const char *retry_after, const struct buf *body, const struct buf *relay)
{
	flight_end(req, 0, status, ctype, retry_after, body, relay);
}

void
flight_leave(struct gw_req *req)
{
	struct flight		*f;
	struct flight_waiter	*w, **pp;

	if (req->flight.leader) {
		flight_end(req, 1, 0, NULL, NULL, NULL, NULL);
		return;
	}
	if (!req->flight.waiting)
		return;
	req->flight.waiting = 0;
	pthread_mutex_lock(&flight_mu);
	for (f = flights[flight_bucket(req->flight.key)]; f != NULL; f = f->next) {
		if (memcmp(f->key, req->flight.key, CANON_KEY_LEN) != 0)
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

