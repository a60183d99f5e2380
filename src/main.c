/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hfgate: a local gateway between the apps on a LAN and the Hugging Face Inference
 * API. main() reads the command line and the configuration, finds the token, and runs
 * the loop until a signal ends it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "cache.h"
#include "cachedb.h"
#include "preflight.h"
#include "http.h"
#include "json.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "peer.h"
#include "token.h"
#include "upstream.h"
#include "usage.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG	SYSCONFDIR "/hfgate/hfgate.conf"
#define MAX_WORKERS	64

struct options {
	const char	*config;
	const char	*listen;
	const char	*upstream;
	const char	*openai_upstream;
	const char	*hub_url;
	const char	*token_file;
	const char	*cache_db;
	int		 no_cache;
	int		 verbose;
	int		 check;
	int		 dump;		/* -T */
};

static struct options	 opts;
static int		 stopping;
static struct config	*current;	/* the running configuration (main's reference) */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hfgate [-c|--config FILE] [-l|--listen HOST:PORT] [-u|--upstream URL]\n"
	    "              [--openai-upstream URL] [--hub-url URL]\n"
	    "              [--token-file PATH] [--cache-db PATH | --no-cache] [-v|--verbose]\n"
	    "              [-t|--check-config] [-T|--dump-config] [-V|--version] [-h|--help]\n");
}

/* -V: the version and the libraries it runs with (they are shared objects: the
   ones loaded, not the ones built against). */
static void
version(void)
{
	printf("hfgate %s\n", PACKAGE_VERSION);
	printf("  libmicrohttpd %s\n", http_lib_version());
	printf("  %s\n", up_lib_version());
	printf("  SQLite %s\n", cachedb_lib_version());
	printf("  cJSON %s\n", json_lib_version());
}

/* Where c's default models come from, for --check-config and the log. */
static void
defaults_source(const struct config *c, char *buf, size_t len)
{
	size_t		i;
	unsigned	n = 0;

	for (i = 0; i < TASK_COUNT; i++)
		n += c->default_model[i] != NULL;
	if (c->default_models_builtin)
		snprintf(buf, len, "built-in table (%u tasks; %s not found)", n,
		    c->default_models_file);
	else
		snprintf(buf, len, "%s (%u tasks)", c->default_models_file, n);
}

/*
 * Builds a configuration from the file and the command line, with its token. Returns
 * 0 with *out holding one reference, or -1 with err.
 */
static int
build_config(struct config **out, char *err, size_t errlen)
{
	struct config	*c;
	const char	*path = opts.config, *source;
	char		 models[PATH_MAX + 64];
	char		 msg[256];

	if ((c = calloc(1, sizeof(*c))) == NULL || cfg_init(c) == -1) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	c->refs = 1;
	if (path == NULL && access(DEFAULT_CONFIG, R_OK) == 0)
		path = DEFAULT_CONFIG;
	if (path != NULL) {
		if (cfg_load(c, path, err, errlen) == -1)
			goto fail;
	} else if (cfg_load_defaults(c, err, errlen) == -1) {
		log_warnx("%s: no default models", err);
		err[0] = '\0';
	}
	if (!opts.check) {
		defaults_source(c, models, sizeof(models));
		log_info("default models: %s", models);
	}
	if (opts.listen != NULL && cfg_set_listen(c, opts.listen, 0, err, errlen) == -1)
		goto fail;
	if (opts.upstream != NULL &&
	    cfg_set_url(&c->upstream_url, opts.upstream, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "--upstream: %s", msg);
		goto fail;
	}
	if (opts.openai_upstream != NULL && cfg_set_url(&c->openai_url,
	    opts.openai_upstream, err, errlen) == -1)
		goto fail;
	if (opts.hub_url != NULL && cfg_set_url(&c->hub_url, opts.hub_url, err,
	    errlen) == -1)
		goto fail;
	if (opts.token_file != NULL && cfg_set_string(&c->token_file, opts.token_file) == -1)
		goto nomem;
	if (opts.cache_db != NULL && cfg_set_string(&c->cache_db, opts.cache_db) == -1)
		goto nomem;
	if (opts.no_cache)
		c->cache_enabled = 0;
	c->verbose = opts.verbose;
	if (token_load(c->token_file, &c->token, &source, err, errlen) == -1)
		goto fail;
	if (c->token == NULL)
		log_warnx("no Hugging Face token found (token_file, $CREDENTIALS_DIRECTORY/"
		    "hf_token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN): running anonymous");
	else
		log_info("using the Hugging Face token from %s", source);
	*out = c;
	return (0);
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	cfg_unref(c);
	return (-1);
}

/* 1 when a and b (NULL accepted) hold the same text. */
static int
same_text(const char *a, const char *b)
{
	return (a == b || (a != NULL && b != NULL && strcmp(a, b) == 0));
}

/* 1 when every address host stands for is a loopback one (127/8, ::1). */
static int
is_loopback(const char *host)
{
	struct addrinfo		 hints, *res, *ai;
	struct peer_addr	 a;
	int			 loopback = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return (0);
	for (ai = res; ai != NULL && loopback; ai = ai->ai_next)
		loopback = peer_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a) == 0 &&
		    peer_loopback(&a);
	freeaddrinfo(res);
	return (loopback);
}

/* Without [client] keys, whoever reaches a non-loopback address spends the token. */
static void
warn_open(const struct config *c)
{
	size_t	i;

	if (c->nclients > 0 && !c->admin_has_key)
		log_warnx("[client] keys and no [admin] key: the admin routes are closed "
		    "(403) until one is configured");
	if (c->nclients > 0)
		return;
	for (i = 0; i < c->nlistens; i++)
		if (!is_loopback(c->listens[i].host)) {
			log_warnx("listening on %s, not a loopback address, with no "
			    "[client] section: anyone who can reach it uses the Hugging "
			    "Face token (add [client] keys, or at least [server] allow)",
			    c->listens[i].host);
			return;
		}
}

static void
reload(void)
{
	struct config	*c;
	char		 err[1024];

	sd_notify(0, "RELOADING=1");
	if (build_config(&c, err, sizeof(err)) == -1) {
		log_errorx("reload failed, keeping the running configuration: %s", err);
		metrics_reload(0, loop_wall_ms());
		goto done;
	}
	metrics_reload(1, loop_wall_ms());
	if (!cfg_same_listen(c, current) ||
	    c->workers != current->workers ||
	    c->max_connections != current->max_connections ||
	    c->connection_timeout != current->connection_timeout ||
	    c->max_upstream_connections != current->max_upstream_connections)
		log_warnx("reload: listen, workers, max_connections, connection_timeout "
		    "and max_connections_per_host only change on restart");
	if (!same_text(c->tls_cert, current->tls_cert) ||
	    !same_text(c->tls_key, current->tls_key))
		log_warnx("reload: a new tls_cert or tls_key is only used after a "
		    "restart");
	if (log_access_open(c->access_log, c->access_log_json, err, sizeof(err)) == -1)
		log_errorx("reload: %s; access lines go where they went", err);
	worker_reconfigure(c);
	log_set_level((enum log_level)c->log_level);
	cfg_unref(current);
	current = c;
	log_info("configuration reloaded");
	warn_open(current);
done:
	sd_notify(0, "READY=1");
}

/* systemd's watchdog (WatchdogSec=): WATCHDOG=1 every half period, as long as every
   loop thread runs; a stuck one stops the pings, and systemd restarts hfgate. */
static uint64_t		 watchdog_ms;
static struct loop_timer watchdog_timer;

static void
on_watchdog(struct loop_timer *t)
{
	/* A beat comes every second; half the period leaves room for a slow one. */
	if (worker_alive(loop_wall_ms(), (int64_t)(watchdog_ms / 2 > 2000 ?
	    watchdog_ms / 2 : 2000)))
		sd_notify(0, "WATCHDOG=1");
	else
		log_errorx("a loop thread is stuck: no watchdog ping");
	loop_timer_set(t, watchdog_ms / 2);
}

static void
on_signal(int sig)
{
	if (sig == SIGHUP) {
		if (!stopping)
			reload();
		(void)log_access_reopen();
		return;
	}
	/* logrotate's signal: the access log file under its name again. */
	if (sig == SIGUSR1) {
		(void)log_access_reopen();
		return;
	}
	if (stopping) {
		log_info("second signal: cancelling every request now");
		worker_stop(1);
		return;
	}
	stopping = 1;
	sd_notify(0, "STOPPING=1");
	log_info("shutting down: grace %u s", current->grace_seconds);
	worker_stop(0);
}

static void
on_worker_exit(struct loop_watch *w, uint32_t events)
{
	uint64_t	v;

	(void)events;
	(void)!read(w->fd, &v, sizeof(v));
	if (worker_running() == 0)
		loop_stop();
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	  required_argument, NULL, 'c' },
		{ "listen",	  required_argument, NULL, 'l' },
		{ "upstream",	  required_argument, NULL, 'u' },
		{ "openai-upstream", required_argument, NULL, 'O' },
		{ "hub-url",	  required_argument, NULL, 'H' },
		{ "token-file",	  required_argument, NULL, 'K' },
		{ "dump-config",  no_argument,	     NULL, 'T' },
		{ "cache-db",	  required_argument, NULL, 'D' },
		{ "no-cache",	  no_argument,	     NULL, 'N' },
		{ "verbose",	  no_argument,	     NULL, 'v' },
		{ "check-config", no_argument,	     NULL, 'C' },
		{ "version",	  no_argument,	     NULL, 'V' },
		{ "help",	  no_argument,	     NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct loop_watch exitw = { .fd = -1 };
	const struct cfg_listen *l;
	char		 err[1024];
	unsigned	 n, ports[CFG_MAX_LISTEN];
	size_t		 i;
	long		 ncpu;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "c:l:u:vhtTV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': opts.config = optarg; break;
		case 'l': opts.listen = optarg; break;
		case 'u': opts.upstream = optarg; break;
		case 'O': opts.openai_upstream = optarg; break;
		case 'H': opts.hub_url = optarg; break;
		case 'K': opts.token_file = optarg; break;
		case 'T': opts.dump = 1; break;
		case 'D': opts.cache_db = optarg; break;
		case 'N': opts.no_cache = 1; break;
		case 'v': opts.verbose++; break;
		case 't':
		case 'C': opts.check = 1; break;
		case 'V':
			version();
			return (0);
		case 'h':
			usage(stdout);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc || (opts.cache_db != NULL && opts.no_cache)) {
		usage(stderr);
		return (2);
	}
	/* "hfgate -v" alone, typed at a terminal, is often a version query: say what
	   -v is, then do what was asked (docs/hfgate.8). */
	if (argc == 2 && opts.verbose == 1 && isatty(STDERR_FILENO))
		fprintf(stderr, "hfgate: -v is --verbose (starting the daemon); the version "
		    "is -V\n");
	log_init(opts.verbose);
	if (build_config(&current, err, sizeof(err)) == -1) {
		fprintf(stderr, "hfgate: %s\n", err);
		return (2);
	}
	log_set_level((enum log_level)current->log_level);
	if (opts.dump) {
		cfg_dump(current, stdout);
		cfg_unref(current);
		return (0);
	}
	if (opts.check) {
		if (preflight_config(current, err, sizeof(err)) == -1) {
			fprintf(stderr, "hfgate: %s\n", err);
			cfg_unref(current);
			return (2);
		}
		defaults_source(current, err, sizeof(err));
		printf("configuration OK\ndefault models: %s\n", err);
		cfg_unref(current);
		return (0);
	}

	if (log_access_open(current->access_log, current->access_log_json, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "hfgate: %s\n", err);
		cfg_unref(current);
		return (1);
	}
	signal(SIGPIPE, SIG_IGN);
	metrics_started(loop_wall_ms());
	log_info("hfgate %s, libmicrohttpd %s, %s, SQLite %s", PACKAGE_VERSION,
	    http_lib_version(), up_lib_version(), cachedb_lib_version());
	defaults_source(current, err, sizeof(err));
	log_info("default models: %s", err);
	if (up_global_init() == -1)
		fatalx("curl_global_init failed");
	/* Signals are blocked before any thread starts, so only the signalfd sees them. */
	if (loop_init() == -1 || loop_signals(signals, 4, on_signal) == -1)
		fatalx("cannot set up the event loop");
	cache_start(current);
	if (current->usage_enabled)
		usage_start(cfg_usage_db(current));
	if ((n = current->workers) == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		n = ncpu < 1 ? 1 : ncpu > MAX_WORKERS ? MAX_WORKERS : (unsigned)ncpu;
	}
	if (worker_start(current, n, ports, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		usage_stop();
		cache_stop();
		cfg_unref(current);
		loop_free();
		up_global_cleanup();
		return (1);
	}
	exitw.fd = worker_exit_fd();
	exitw.cb = on_worker_exit;
	if (loop_watch_add(&exitw, EPOLLIN) == -1)
		fatalx("cannot watch the loop threads");
	/* Tests and scripts read the first line for the port when it was 0. */
	for (i = 0; i < current->nlistens; i++) {
		l = &current->listens[i];
		log_info(strchr(l->host, ':') != NULL ? "listening on %s://[%s]:%u" :
		    "listening on %s://%s:%u", l->tls ? "https" : "http", l->host,
		    ports[i]);
	}
	warn_open(current);
	{
		char	oai[1024];

		if (cfg_openai_base(current, oai, sizeof(oai)) == -1)
			snprintf(oai, sizeof(oai), "(too long)");
		log_info("%u loop thread%s, upstream %s, OpenAI routes %s, hub %s", n,
		    n == 1 ? "" : "s", current->upstream_url, oai, current->hub_url);
	}
	sd_notify(0, "READY=1");
	{
		uint64_t	usec;

		if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
			watchdog_ms = usec / 1000;
			watchdog_timer.cb = on_watchdog;
			on_watchdog(&watchdog_timer);
		}
	}
	loop_run();
	loop_timer_cancel(&watchdog_timer);

	loop_watch_del(&exitw);
	worker_join();
	/* The loop threads have flushed their counters; the writer stops last. */
	usage_stop();
	cache_stop();
	cfg_unref(current);
	loop_free();
	up_global_cleanup();
	log_info("stopped");
	return (0);
}
