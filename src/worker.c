/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The loop threads. One loop owns its libmicrohttpd daemon and libcurl multi handle, so
 * nothing about a request is ever shared between threads (docs/design.md, "Threads");
 * to use more than one core, several such loops bind the same port with SO_REUSEPORT,
 * the nginx worker model. The main thread talks to them through one eventfd each.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "gw.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "probe.h"
#include "stream.h"
#include "upstream.h"
#include "usage.h"
#include "worker.h"

#define WORKER_FINAL_MS	2000	/* after the grace period, time to send the 503s */
#define WORKER_BEAT_MS	1000	/* how often a loop says it runs (worker_alive) */

struct worker {
	pthread_t	 thread;
	unsigned	 index;
	unsigned	 ports[CFG_MAX_LISTEN]; /* per address, to bind; 0 = any (the
					   first thread picks, the others join it) */
	unsigned	 nthreads;
	int		 cmd_fd;	/* eventfd: a command is pending */
	_Atomic int64_t	 beat_ms;	/* wall clock of the loop's last beat */

	/* guarded by worker_mu */
	struct config	*pending_cfg;
	int		 stop, hard;
	int		 started, failed, ended;
	char		 err[512];
};

static pthread_mutex_t	 worker_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 worker_cv = PTHREAD_COND_INITIALIZER;
static struct worker	*workers;
static unsigned		 nworkers;
static int		 worker_exit_efd = -1;
static const struct http_handlers *worker_handlers;	/* the gateway's */

/* The calling thread's own worker and shutdown state. */
static _Thread_local struct worker	*self;
static _Thread_local int		 stopping;
static _Thread_local struct loop_timer	 grace_timer, final_timer, beat_timer;

/* The loop ran a timer: it is not stuck (systemd's watchdog, main.c). */
static void
worker_on_beat(struct loop_timer *t)
{
	atomic_store(&self->beat_ms, loop_wall_ms());
	loop_timer_set(t, WORKER_BEAT_MS);
}

static void
worker_on_final(struct loop_timer *t)
{
	(void)t;
	loop_stop();
}

static void
worker_on_grace(struct loop_timer *t)
{
	(void)t;
	if (gw_live() > 0)
		log_info("grace period over: cancelling %zu request(s)", gw_live());
	gw_cancel_all("hfgate is shutting down");
	loop_timer_set(&final_timer, WORKER_FINAL_MS);
}

static void
worker_begin_stop(int hard)
{
	if (!stopping) {
		stopping = 1;
		http_quiesce();
		loop_timer_set(&grace_timer,
		    (uint64_t)gw_config()->grace_seconds * 1000);
	}
	if (hard && !loop_timer_armed(&final_timer)) {
		loop_timer_cancel(&grace_timer);
		worker_on_grace(&grace_timer);
	}
}

static void
worker_on_cmd(struct loop_watch *w, uint32_t events)
{
	struct config	*cfg;
	uint64_t	 v;
	int		 stop, hard;

	(void)events;
	(void)!read(w->fd, &v, sizeof(v));
	pthread_mutex_lock(&worker_mu);
	cfg = self->pending_cfg;
	self->pending_cfg = NULL;
	stop = self->stop;
	hard = self->hard;
	pthread_mutex_unlock(&worker_mu);
	if (cfg != NULL) {
		gw_configure(cfg);
		http_configure(cfg);
		cfg_unref(cfg);
	}
	if (stop)
		worker_begin_stop(hard);
}

static int64_t
worker_after(void)
{
	int64_t	limit = http_after();

	if (stopping && gw_live() == 0)
		loop_stop();
	return (limit);
}

static void
worker_report(struct worker *w, int ok, const char *err)
{
	pthread_mutex_lock(&worker_mu);
	if (ok)
		w->started = 1;
	else {
		w->failed = 1;
		snprintf(w->err, sizeof(w->err), "%s", err);
	}
	pthread_cond_broadcast(&worker_cv);
	pthread_mutex_unlock(&worker_mu);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct loop_watch	 cmd = { .fd = -1 };
	struct config		*cfg;
	char			 err[512];
	uint64_t		 one = 1;
	unsigned		 bound[CFG_MAX_LISTEN];
	int			 listening = 0;

	self = w;
	pthread_mutex_lock(&worker_mu);
	cfg = w->pending_cfg;
	w->pending_cfg = NULL;
	pthread_mutex_unlock(&worker_mu);

	grace_timer.cb = worker_on_grace;
	final_timer.cb = worker_on_final;
	beat_timer.cb = worker_on_beat;
	cmd.fd = w->cmd_fd;
	cmd.cb = worker_on_cmd;
	if (loop_init() == -1 || loop_watch_add(&cmd, EPOLLIN) == -1) {
		snprintf(err, sizeof(err), "cannot set up the event loop");
		goto fail;
	}
	gw_configure(cfg);
	http_configure(cfg);
	if (up_init(cfg->max_upstream_connections, stream_push_queued) == -1) {
		snprintf(err, sizeof(err), "cannot set up libcurl");
		goto fail;
	}
	cache_thread_start(cfg);
	usage_thread_start();
	metrics_thread_start();
	if (http_start(cfg, worker_handlers, w->ports, w->nthreads, bound, err,
	    sizeof(err)) == -1)
		goto fail;
	listening = 1;
	pthread_mutex_lock(&worker_mu);
	memcpy(w->ports, bound, cfg->nlistens * sizeof(bound[0]));
	pthread_mutex_unlock(&worker_mu);
	cfg_unref(cfg);
	cfg = NULL;
	worker_on_beat(&beat_timer);
	worker_report(w, 1, NULL);

	loop_set_after(worker_after);
	loop_run();
	goto done;
fail:
	worker_report(w, 0, err);
done:
	if (listening) {
		gw_stop();
		http_stop();
	}
	log_flush();
	usage_thread_stop();	/* after http_stop: its last requests are counted */
	cache_thread_stop();
	hub_thread_stop();
	probe_thread_stop();
	up_free();
	loop_timer_cancel(&grace_timer);
	loop_timer_cancel(&final_timer);
	loop_timer_cancel(&beat_timer);
	loop_watch_del(&cmd);
	gw_configure(NULL);
	http_configure(NULL);
	cfg_unref(cfg);
	loop_free();
	pthread_mutex_lock(&worker_mu);
	w->ended = 1;
	pthread_mutex_unlock(&worker_mu);
	(void)!write(worker_exit_efd, &one, sizeof(one));
	return (NULL);
}

static void
worker_post(struct worker *w)
{
	uint64_t	one = 1;

	(void)!write(w->cmd_fd, &one, sizeof(one));
}

int
worker_start(struct config *cfg, unsigned n, unsigned *ports, char *err,
    size_t errlen)
{
	struct worker	*w;
	unsigned	 i;
	int		 failed = 0;

	worker_handlers = gw_init();
	if ((worker_exit_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (workers = calloc(n, sizeof(*workers))) == NULL) {
		snprintf(err, errlen, "cannot start the loop threads: %s",
		    strerror(errno));
		return (-1);
	}
	for (i = 0; i < cfg->nlistens; i++)
		ports[i] = cfg->listens[i].port;
	/* One at a time: the first binds (and may pick the ports), the others join it. */
	for (i = 0; i < n && !failed; i++) {
		w = &workers[i];
		w->index = i;
		memcpy(w->ports, ports, cfg->nlistens * sizeof(ports[0]));
		w->nthreads = n;
		if ((w->cmd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			break;
		}
		cfg_ref(cfg);
		w->pending_cfg = cfg;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			cfg_unref(cfg);
			close(w->cmd_fd);
			snprintf(err, errlen, "pthread_create failed");
			break;
		}
		nworkers++;
		pthread_mutex_lock(&worker_mu);
		while (!w->started && !w->failed)
			pthread_cond_wait(&worker_cv, &worker_mu);
		failed = w->failed;
		if (failed)
			snprintf(err, errlen, "%s", w->err);
		else
			memcpy(ports, w->ports, cfg->nlistens * sizeof(ports[0]));
		pthread_mutex_unlock(&worker_mu);
	}
	if (nworkers == n && !failed)
		return (0);
	worker_stop(1);
	worker_join();
	return (-1);
}

void
worker_reconfigure(struct config *cfg)
{
	unsigned	i;

	pthread_mutex_lock(&worker_mu);
	for (i = 0; i < nworkers; i++) {
		cfg_ref(cfg);
		cfg_unref(workers[i].pending_cfg);
		workers[i].pending_cfg = cfg;
	}
	pthread_mutex_unlock(&worker_mu);
	for (i = 0; i < nworkers; i++)
		worker_post(&workers[i]);
}

void
worker_stop(int hard)
{
	unsigned	i;

	pthread_mutex_lock(&worker_mu);
	for (i = 0; i < nworkers; i++) {
		workers[i].stop = 1;
		workers[i].hard |= hard;
	}
	pthread_mutex_unlock(&worker_mu);
	for (i = 0; i < nworkers; i++)
		worker_post(&workers[i]);
}

int
worker_exit_fd(void)
{
	return (worker_exit_efd);
}

size_t
worker_running(void)
{
	size_t		running = 0;
	unsigned	i;

	pthread_mutex_lock(&worker_mu);
	for (i = 0; i < nworkers; i++)
		if (!workers[i].ended)
			running++;
	pthread_mutex_unlock(&worker_mu);
	return (running);
}

void
worker_join(void)
{
	unsigned	i;

	for (i = 0; i < nworkers; i++) {
		pthread_join(workers[i].thread, NULL);
		cfg_unref(workers[i].pending_cfg);
		close(workers[i].cmd_fd);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
	if (worker_exit_efd != -1)
		close(worker_exit_efd);
	worker_exit_efd = -1;
}

int
worker_alive(int64_t now_ms, int64_t max_age_ms)
{
	unsigned	 i;
	int		 ended;

	for (i = 0; i < nworkers; i++) {
		pthread_mutex_lock(&worker_mu);
		ended = workers[i].ended;
		pthread_mutex_unlock(&worker_mu);
		if (!ended && now_ms - atomic_load(&workers[i].beat_ms) > max_age_ms)
			return (0);
	}
	return (1);
}
