/* SPDX-License-Identifier: BSD-2-Clause */
/* loop.c: the event loop: epoll, timers, signals. One loop per process, one thread. */
#ifndef HFGATE_LOOP_H
#define HFGATE_LOOP_H

#include <stddef.h>
#include <stdint.h>

/* A file descriptor watched by the loop. The owner keeps it alive while added. */
struct loop_watch {
	int	  fd;
	void	(*cb)(struct loop_watch *, uint32_t events);
	void	 *arg;
	int	  added;
};

/* A one-shot timer. Zero it before first use; the owner keeps it alive while armed. */
struct loop_timer {
	uint64_t  when;			/* loop_now_ms() time it fires */
	uint64_t  pass;			/* timer pass during which it was armed */
	size_t	  slot;			/* heap index + 1, 0 when not armed */
	void	(*cb)(struct loop_timer *);
	void	 *arg;
};

int	 loop_init(void);
void	 loop_free(void);
/* Runs until loop_stop(). Each iteration: epoll events, due timers, then the
   after-hook (MHD_run and friends), in that order. */
void	 loop_run(void);
void	 loop_stop(void);
/* Called once per iteration after events and timers; returns the longest the loop may
   sleep next in ms (-1: no limit). */
void	 loop_set_after(int64_t (*after)(void));
/* Monotonic milliseconds. Cached per iteration; loop_now_update() refreshes it. */
uint64_t loop_now_ms(void);
uint64_t loop_now_update(void);
/* Wall-clock unix milliseconds, for what follows the calendar (UTC days of quotas and
   usage); not cached. */
int64_t	 loop_wall_ms(void);

int	 loop_watch_add(struct loop_watch *, uint32_t events);
int	 loop_watch_mod(struct loop_watch *, uint32_t events);
void	 loop_watch_del(struct loop_watch *);	/* no-op when not added */

/* Arms (or re-arms) t to fire in ms milliseconds. 0 or -1. */
int	 loop_timer_set(struct loop_timer *t, uint64_t ms);
void	 loop_timer_cancel(struct loop_timer *t);	/* no-op when not armed */
int	 loop_timer_armed(const struct loop_timer *t);

/*
 * A mailbox: how another thread runs a function on this loop's thread. loop_init
 * creates one per loop; loop_mailbox() returns the calling thread's. loop_post may be
 * called from any thread while the target loop exists (the caller must know it does);
 * fn(arg) then runs on the target's thread, in order. A message still queued when the
 * loop is freed is passed to drop(arg) instead (drop may be NULL). Returns 0, or -1
 * (out of memory: nothing was queued).
 */
struct loop_mailbox;
struct loop_mailbox *loop_mailbox(void);
int	 loop_post(struct loop_mailbox *, void (*fn)(void *), void (*drop)(void *),
	    void *arg);

/*
 * Runs work(arg) on a helper thread, then done(arg) on this loop's thread: how the
 * loop waits for something that blocks (the cache writer) without blocking. If the
 * result cannot be delivered, drop(arg) runs instead (drop may be NULL). loop_free
 * waits (bounded) for the helpers still running. 0, or -1 (nothing started).
 */
int	 loop_offload(void (*work)(void *), void (*done)(void *), void (*drop)(void *),
	    void *arg);

/* Signals delivered through the loop (signalfd); the handler runs on the loop. */
int	 loop_signals(const int *signals, size_t n, void (*handler)(int));

#endif
