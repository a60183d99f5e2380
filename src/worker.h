/* SPDX-License-Identifier: BSD-2-Clause */
/* worker.c: the loop threads. */
#ifndef HFGATE_WORKER_H
#define HFGATE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * Starts n loop threads, each with its own event loop, HTTP servers (one per address of
 * cfg->listens, each bound by every thread with SO_REUSEPORT) and upstream multi
 * handle; they share only the reference-counted, read-only configuration. Returns once
 * every thread listens (ports[i]: the port bound for cfg->listens[i]; room for
 * CFG_MAX_LISTEN), or -1 with err when one could not start (those started are stopped).
 * Each thread takes a reference to cfg.
 */
int	 worker_start(struct config *cfg, unsigned n, unsigned *ports, char *err,
	    size_t errlen);
/* Hands every thread a new configuration; each takes a reference. */
void	 worker_reconfigure(struct config *cfg);
/* Graceful stop (stop accepting, let requests finish within grace_seconds), or, with
   hard, cancel every request now. */
void	 worker_stop(int hard);
/* An eventfd that becomes readable when a thread has ended. */
int	 worker_exit_fd(void);
/* Number of threads still running. */
size_t	 worker_running(void);
/* 1 when every running loop thread's loop ran its beat timer (once a second) within
   max_age_ms of now_ms (wall clock): none is stuck. Main thread. */
int	 worker_alive(int64_t now_ms, int64_t max_age_ms);
/* Joins every thread and frees what worker_start allocated. */
void	 worker_join(void);

#endif
