/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The event loop. One thread owns it, and with it libmicrohttpd (external epoll mode)
 * and the libcurl multi handle, so that no request state is ever shared between
 * threads (docs/design.md, "Threads"). Timers live in a binary min-heap; the loop
 * sleeps in epoll_wait until the earliest timer or the after-hook's limit.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_EVENTS	512

static _Thread_local int		  loop_ep = -1;
static _Thread_local int		  loop_stopping;
static _Thread_local uint64_t		  loop_now;
static _Thread_local struct loop_timer **loop_heap;
static _Thread_local size_t		  loop_nheap, loop_capheap;
static _Thread_local int64_t		(*loop_after)(void);
static _Thread_local uint64_t		  loop_pass;	/* timer passes run so far */
static _Thread_local struct loop_watch  loop_sigwatch = { .fd = -1 };
static _Thread_local void		(*loop_sighandler)(int);

struct loop_msg {
	struct loop_msg	*next;
	void		(*fn)(void *);
	void		(*drop)(void *);
	void		*arg;
};

struct loop_mailbox {
	struct loop_watch	 w;		/* eventfd */
	pthread_mutex_t		 mu;
	struct loop_msg		*head, **tail;	/* guarded by mu */
};

static _Thread_local struct loop_mailbox	*loop_mb;

static void
loop_on_mail(struct loop_watch *w, uint32_t events)
{
	struct loop_mailbox	*mb = w->arg;
	struct loop_msg		*m, *next;
	uint64_t		 v;

	(void)events;
	(void)!read(w->fd, &v, sizeof(v));
	pthread_mutex_lock(&mb->mu);
	m = mb->head;
	mb->head = NULL;
	mb->tail = &mb->head;
	pthread_mutex_unlock(&mb->mu);
	for (; m != NULL; m = next) {
		next = m->next;
		m->fn(m->arg);
		free(m);
	}
}

struct loop_mailbox *
loop_mailbox(void)
{
	return (loop_mb);
}

int
loop_post(struct loop_mailbox *mb, void (*fn)(void *), void (*drop)(void *),
    void *arg)
{
	struct loop_msg	*m;
	uint64_t	 one = 1;

	if ((m = malloc(sizeof(*m))) == NULL)
		return (-1);
	m->next = NULL;
	m->fn = fn;
	m->drop = drop;
	m->arg = arg;
	pthread_mutex_lock(&mb->mu);
	*mb->tail = m;
	mb->tail = &m->next;
	pthread_mutex_unlock(&mb->mu);
	(void)!write(mb->w.fd, &one, sizeof(one));
	return (0);
}

uint64_t
loop_now_update(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop_now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return (loop_now);
}

uint64_t
loop_now_ms(void)
{
	if (loop_now == 0)
		return (loop_now_update());
	return (loop_now);
}

int64_t
loop_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int
loop_init(void)
{
	if ((loop_ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_warn("epoll_create1");
		return (-1);
	}
	loop_now_update();
	if ((loop_mb = calloc(1, sizeof(*loop_mb))) == NULL) {
		log_warnx("mailbox: out of memory");
		return (-1);
	}
	pthread_mutex_init(&loop_mb->mu, NULL);
	loop_mb->tail = &loop_mb->head;
	loop_mb->w.arg = loop_mb;
	loop_mb->w.cb = loop_on_mail;
	if ((loop_mb->w.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_watch_add(&loop_mb->w, EPOLLIN) == -1) {
		log_warn("mailbox eventfd");
		return (-1);
	}
	return (0);
}

/* Work run on a helper thread for this loop (loop_offload). */
struct loop_offload {
	void			(*work)(void *);
	void			(*done)(void *);
	void			(*drop)(void *);
	void			 *arg;
	struct loop_mailbox	 *mb;
	int			 *running;	/* the loop's loop_offloaded */
};

/* Helper threads of this loop that may still post to its mailbox. */
static _Thread_local int	loop_offloaded;

#define LOOP_OFFLOAD_WAIT_MS	10000

static void *
loop_offload_main(void *arg)
{
	struct loop_offload	*o = arg;
	int			*running = o->running;

	o->work(o->arg);
	if (loop_post(o->mb, o->done, o->drop, o->arg) == -1 && o->drop != NULL)
		o->drop(o->arg);
	free(o);
	/* After this the loop may go away: nothing here touches it again. */
	__atomic_sub_fetch(running, 1, __ATOMIC_RELEASE);
	return (NULL);
}

int
loop_offload(void (*work)(void *), void (*done)(void *), void (*drop)(void *),
    void *arg)
{
	struct loop_offload	*o;
	pthread_t		 th;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return (-1);
	o->work = work;
	o->done = done;
	o->drop = drop;
	o->arg = arg;
	o->mb = loop_mailbox();
	o->running = &loop_offloaded;
	__atomic_add_fetch(&loop_offloaded, 1, __ATOMIC_ACQUIRE);
	if (pthread_create(&th, NULL, loop_offload_main, o) != 0) {
		__atomic_sub_fetch(&loop_offloaded, 1, __ATOMIC_RELEASE);
		free(o);
		return (-1);
	}
	pthread_detach(th);
	return (0);
}

void
loop_free(void)
{
	int	waited;

	/* A helper still running posts to this loop's mailbox: let it finish first
	   (its work waits for one writer batch; bounded all the same). */
	for (waited = 0; __atomic_load_n(&loop_offloaded, __ATOMIC_ACQUIRE) > 0 &&
	    waited < LOOP_OFFLOAD_WAIT_MS; waited += 10)
		usleep(10000);
	loop_watch_del(&loop_sigwatch);
	if (loop_sigwatch.fd != -1)
		close(loop_sigwatch.fd);
	loop_sigwatch.fd = -1;
	if (loop_mb != NULL) {
		struct loop_msg *m, *next;

		loop_watch_del(&loop_mb->w);
		if (loop_mb->w.fd != -1)
			close(loop_mb->w.fd);
		/* Undelivered messages: their senders gave up ownership. */
		for (m = loop_mb->head; m != NULL; m = next) {
			next = m->next;
			if (m->drop != NULL)
				m->drop(m->arg);
			free(m);
		}
		pthread_mutex_destroy(&loop_mb->mu);
		free(loop_mb);
		loop_mb = NULL;
	}
	if (loop_ep != -1)
		close(loop_ep);
	loop_ep = -1;
	free(loop_heap);
	loop_heap = NULL;
	loop_nheap = loop_capheap = 0;
}

void
loop_stop(void)
{
	loop_stopping = 1;
}

void
loop_set_after(int64_t (*after)(void))
{
	loop_after = after;
}

int
loop_watch_add(struct loop_watch *w, uint32_t events)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(loop_ep, EPOLL_CTL_ADD, w->fd, &ev) == -1) {
		log_warn("epoll_ctl add fd %d", w->fd);
		return (-1);
	}
	w->added = 1;
	return (0);
}

int
loop_watch_mod(struct loop_watch *w, uint32_t events)
{
	struct epoll_event	ev;

	if (!w->added)
		return (loop_watch_add(w, events));
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = w;
	if (epoll_ctl(loop_ep, EPOLL_CTL_MOD, w->fd, &ev) == -1) {
		log_warn("epoll_ctl mod fd %d", w->fd);
		return (-1);
	}
	return (0);
}

void
loop_watch_del(struct loop_watch *w)
{
	if (!w->added)
		return;
	/* The fd may already be closed (curl closes before telling us): ignore errors. */
	(void)epoll_ctl(loop_ep, EPOLL_CTL_DEL, w->fd, NULL);
	w->added = 0;
}

/* Heap helpers: slot is index + 1 so that 0 means "not armed". */
static void
loop_heap_place(size_t i, struct loop_timer *t)
{
	loop_heap[i] = t;
	t->slot = i + 1;
}

static void
loop_heap_up(size_t i)
{
	struct loop_timer	*t = loop_heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop_heap[parent]->when <= t->when)
			break;
		loop_heap_place(i, loop_heap[parent]);
		i = parent;
	}
	loop_heap_place(i, t);
}

static void
loop_heap_down(size_t i)
{
	struct loop_timer	*t = loop_heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mw = t->when;

		if (l < loop_nheap && loop_heap[l]->when < mw) {
			m = l;
			mw = loop_heap[l]->when;
		}
		if (r < loop_nheap && loop_heap[r]->when < mw)
			m = r;
		if (m == i)
			break;
		loop_heap_place(i, loop_heap[m]);
		i = m;
	}
	loop_heap_place(i, t);
}

void
loop_timer_cancel(struct loop_timer *t)
{
	size_t			 i;
	struct loop_timer	*last;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	last = loop_heap[--loop_nheap];
	if (i == loop_nheap)
		return;
	loop_heap_place(i, last);
	if (i > 0 && loop_heap[(i - 1) / 2]->when > last->when)
		loop_heap_up(i);
	else
		loop_heap_down(i);
}

int
loop_timer_set(struct loop_timer *t, uint64_t ms)
{
	loop_timer_cancel(t);
	if (loop_nheap == loop_capheap) {
		size_t			 ncap = loop_capheap ? loop_capheap * 2 : 256;
		struct loop_timer	**n;

		if ((n = reallocarray(loop_heap, ncap, sizeof(*n))) == NULL) {
			log_warnx("timer heap: out of memory");
			return (-1);
		}
		loop_heap = n;
		loop_capheap = ncap;
	}
	t->when = loop_now_ms() + ms;
	t->pass = loop_pass;
	loop_heap[loop_nheap] = t;
	t->slot = ++loop_nheap;
	loop_heap_up(loop_nheap - 1);
	return (0);
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return (t->slot != 0);
}

static void
loop_run_timers(void)
{
	struct loop_timer	*t;

	loop_now_update();
	/* A callback may arm timers for "now" (curl asks for 0 ms, a timer re-arms
	   itself): those carry this pass's number and wait for the next iteration, so
	   one iteration stays bounded and epoll is polled in between. */
	loop_pass++;
	while (loop_nheap > 0 && loop_heap[0]->when <= loop_now &&
	    loop_heap[0]->pass != loop_pass) {
		t = loop_heap[0];
		loop_timer_cancel(t);
		t->cb(t);
	}
}

static void
loop_on_signal(struct loop_watch *w, uint32_t events)
{
	struct signalfd_siginfo	si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		loop_sighandler((int)si.ssi_signo);
}

int
loop_signals(const int *signals, size_t n, void (*handler)(int))
{
	sigset_t	mask;
	size_t		i;

	sigemptyset(&mask);
	for (i = 0; i < n; i++)
		sigaddset(&mask, signals[i]);
	/* Blocked in every thread created later, so only the signalfd sees them. */
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) {
		log_warnx("pthread_sigmask failed");
		return (-1);
	}
	if ((loop_sigwatch.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_warn("signalfd");
		return (-1);
	}
	loop_sighandler = handler;
	loop_sigwatch.cb = loop_on_signal;
	return (loop_watch_add(&loop_sigwatch, EPOLLIN));
}

void
loop_run(void)
{
	struct epoll_event	 ev[LOOP_EVENTS];
	struct loop_watch	*w;
	int64_t			 limit = -1, wait;
	int			 n, i;

	loop_stopping = 0;
	while (!loop_stopping) {
		wait = limit;
		if (loop_nheap > 0) {
			uint64_t now = loop_now_update();
			int64_t t = loop_heap[0]->when > now ?
			    (int64_t)(loop_heap[0]->when - now) : 0;
			if (wait < 0 || t < wait)
				wait = t;
		}
		if (wait > 60000)
			wait = 60000;
		n = epoll_wait(loop_ep, ev, LOOP_EVENTS, (int)wait);
		if (n == -1 && errno != EINTR) {
			log_warn("epoll_wait");
			break;
		}
		loop_now_update();
		for (i = 0; i < n; i++) {
			w = ev[i].data.ptr;
			/* A watch released earlier in this batch has no callback. */
			if (w->cb != NULL)
				w->cb(w, ev[i].events);
		}
		loop_run_timers();
		limit = loop_after != NULL ? loop_after() : -1;
	}
}
