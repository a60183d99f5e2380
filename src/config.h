/* SPDX-License-Identifier: BSD-2-Clause */
/* config.c: the configuration, from defaults, the INI file (libinih) and the command line. */
#ifndef HFGATE_CONFIG_H
#define HFGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "task.h"

#define CFG_MAX_LISTEN	8	/* listen + tls_listen addresses */
#define CFG_KEY_HASH_LEN	32	/* SHA-256 */

/* When a task's results may be cached ([cache-policy]). */
enum cfg_cache_mode {
	CACHE_ALWAYS,		/* deterministic task: classification, embeddings, ... */
	CACHE_DETERMINISTIC,	/* generation: unless it samples without a seed */
	CACHE_SEEDED,		/* diffusion, speech: only with a seed */
	CACHE_NEVER
};

/* What an [endpoint] speaks on its TGI routes' place (protocol = ...). */
enum cfg_protocol {
	CFG_PROTO_TGI,		/* TGI's routes (default): bodies go as they are */
	CFG_PROTO_OPENAI,	/* the OpenAI API only (vLLM, SGLang, TGI's Messages
				   API): text-generation and conversational calls are
				   translated (bridge.c) */
	CFG_PROTO_AUTO		/* one of the two, asked of the endpoint (probe.c) */
};

struct cfg_endpoint {
	char	 *name;		/* [endpoint NAME] */
	char	 *url;		/* base URL of the dedicated Inference Endpoint */
	char	**models;	/* models routed to it (the "models" key, space-separated) */
	size_t	  nmodels;
	char	 *task;		/* task of the endpoint's model, NULL if unknown */
	enum cfg_protocol protocol;
};

/* One listening address ([server] listen or tls_listen). */
struct cfg_listen {
	char	*host;
	unsigned port;			/* 0: the system picks one */
	int	 tls;			/* from tls_listen */
};

/* One network of [server] allow or trusted_proxies. */
struct cfg_cidr {
	int	 family;		/* AF_INET or AF_INET6 */
	uint8_t	 addr[16];		/* network address, network byte order */
	unsigned prefix;		/* bits */
};

/* [client NAME]: a team or app with its own key and limits. */
struct cfg_client {
	char	 *name;
	uint8_t	  key_hash[CFG_KEY_HASH_LEN];	/* SHA-256 of the key */
	int	  has_key;
	char	**tasks;		/* glob patterns (fnmatch); none: every task */
	size_t	  ntasks;
	char	**models;		/* glob patterns; none: every model */
	size_t	  nmodels;
	unsigned  rate;			/* requests per minute, 0: no limit */
	unsigned  burst;		/* token-bucket size, 0: same as rate */
	unsigned  max_concurrent;	/* requests and streams at once, 0: no cap */
	unsigned  daily_quota;		/* requests per UTC day, 0: none */
	unsigned  daily_token_quota;	/* tokens per UTC day (limit.h), 0: none */
	char	 *bill_to;		/* X-HF-Bill-To sent for it, NULL: the
					   client's own, if any */
};

struct config {
	char	*path;			/* file read, NULL when none */

	/* [server] */
	struct cfg_listen listens[CFG_MAX_LISTEN]; /* listen, then tls_listen; default
					   127.0.0.1:8080 */
	size_t	 nlistens;
	char	*tls_cert;		/* PEM certificate (chain), read from tls_cert */
	char	*tls_key;		/* PEM private key, read from tls_key (a secret) */
	struct cfg_cidr *allow;		/* clients allowed; none: any address */
	size_t	 nallow;
	struct cfg_cidr *proxies;	/* trusted_proxies: their X-Forwarded-For or
					   Forwarded names the client; none: no proxy */
	size_t	 nproxies;
	unsigned max_connections_per_ip; /* default 256, 0: no limit */
	unsigned header_timeout;	/* seconds to receive a request head, default 10 */
	unsigned body_timeout;		/* seconds to receive a request body, default 60 */
	size_t	 max_header_bytes;	/* all header names and values, default 8K */
	size_t	 max_url_bytes;		/* request target, default 4K */
	unsigned workers;		/* event-loop threads, 0 = one per CPU (default) */
	unsigned max_connections;	/* default 10000 */
	size_t	 max_body_bytes;	/* default 16 MiB (413 above) */
	size_t	 max_body_memory;	/* request bodies held at once, all connections,
					   default 256 MiB (503 above) */
	unsigned connection_timeout;	/* idle seconds, default 60 */
	unsigned grace_seconds;		/* shutdown grace, default 10 */
	char	**cors_origins;		/* origins answered cross-origin ("*": any one);
					   default none */
	size_t	 ncors_origins;
	int	 log_level;		/* enum log_level; default info */
	char	*access_log;		/* "stderr" (default), "off" or a path */
	int	 access_log_json;	/* access_log_format = json */
	char	*root_model;		/* the model that POST /, GET /info and GET /health
					   stand for (clients given the gateway's bare URL);
					   NULL: none, POST / is refused with a hint */
	char	*default_models_file;	/* default $(sysconfdir)/hfgate/default-models.tsv;
					   relative paths are relative to the config file's dir */
	int	 default_models_builtin; /* 1: that file is missing, the table built
					   in gave the defaults (cfg_load_defaults) */

	/* [upstream] */
	char	*upstream_url;		/* the HF task routes' base, default
					   https://router.huggingface.co/hf-inference */
	char	*openai_url;		/* the OpenAI routes' base; NULL: derived from
					   upstream_url (cfg_openai_base) */
	char	*hub_url;		/* default https://huggingface.co (model look-ups) */
	char	*token_file;		/* default NULL */
	long	 connect_timeout_ms;	/* default 10000 */
	long	 deadline_ms;		/* per-request deadline, default 120000 */
	unsigned max_attempts;		/* default 5 (1 = no retry) */
	long	 backoff_base_ms;	/* default 200 */
	long	 backoff_max_ms;	/* default 10000 */
	size_t	 max_response_bytes;	/* default 64 MiB (502 above) */
	unsigned max_upstream_connections; /* per host, 0 = unlimited (default) */

	/* [cache] */
	char	*cache_db;		/* default $(localstatedir)/lib/hfgate/cache.db */
	int	 cache_enabled;		/* default 1 */
	size_t	 cache_max_bytes;	/* default 1 GiB */
	unsigned cache_default_ttl;	/* seconds, default 86400 */
	unsigned cache_hub_ttl;		/* GET /api/models answers, seconds, default 600 */
	unsigned cache_stale_if_error;	/* seconds past expiry, default 0 (off) */
	int	 cache_per_client;	/* entries scoped per [client], default 0 (shared) */

	/* [usage] */
	int	 usage_enabled;		/* default 1 */
	char	*usage_db;		/* default: the cache's file, or
					   $(localstatedir)/lib/hfgate/usage.db without cache */
	long	 usage_flush_ms;	/* default 1000: what a crash may lose */

	/* [admin] */
	uint8_t	 admin_key_hash[CFG_KEY_HASH_LEN];
	int	 admin_has_key;		/* else the admin routes answer loopback clients only */

	/* [client NAME] sections: once there is one, every request needs a key */
	struct cfg_client *clients;
	size_t	 nclients;

	/* [cache-policy]: task = mode [ttl] */
	enum cfg_cache_mode cache_mode[TASK_COUNT];
	unsigned cache_ttl[TASK_COUNT];	/* 0: cache_default_ttl */

	/* [stream]: relaying event streams (seconds, bytes) */
	unsigned stream_first_byte;	/* until the upstream's first byte, default 120 */
	unsigned stream_idle;		/* longest gap between upstream bytes, default 60 */
	unsigned stream_total;		/* whole stream, default 3600 */
	unsigned stream_heartbeat;	/* ":" comment after this quiet time, default 15 */
	unsigned stream_stall;		/* client not reading with a full buffer, 30 */
	size_t	 stream_buffer;		/* per-stream buffer, default 64K */

	/* [default-models]: task = model overrides, merged over the data file */
	char	*default_model[TASK_COUNT];
	char	*default_chat_model;	/* key chat-completion: /v1/chat/completions
					   without a model */

	/* [endpoint NAME] sections */
	struct cfg_endpoint *endpoints;
	size_t	 nendpoints;

	int	 verbose;		/* -v, not in the file */
	char	*token;			/* the HF token found for this configuration (a
					   secret, not from the file), NULL: anonymous */
	int	 refs;			/* threads using it: see cfg_ref/cfg_unref */
};

/* Writes c to f as a configuration file would say it (hfgate -T), every key with its
   effective value; the admin key, client keys and the TLS key as <redacted>, the
   token never. */
void	 cfg_dump(const struct config *c, FILE *f);
/* Fills c with the defaults. Returns 0, -1 on allocation failure. */
int	 cfg_init(struct config *c);
/*
 * Reads path over the current values. Unknown sections or keys, bad values (numbers out
 * of range, malformed URL or HOST:PORT, unknown task in [default-models], invalid model
 * id) fail with "path:line: reason" in err. Then loads default_models_file (or, when
 * it is missing, the built-in table) for tasks that [default-models] did not set.
 * Returns 0 or -1.
 */
int	 cfg_load(struct config *c, const char *path, char *err, size_t errlen);
/* Loads the default-models data file into the tasks not overridden; when the file does
   not exist, the table built in (task_defaults_builtin) instead, setting
   default_models_builtin. 0 or -1 + err. */
int	 cfg_load_defaults(struct config *c, char *err, size_t errlen);
/* Parses a list of "HOST:PORT" ("[v6]:PORT" too), separated by commas or blanks, into
   the plain (tls 0) or TLS listening addresses, replacing those of that kind. 0 or
   -1 + err. */
int	 cfg_set_listen(struct config *c, const char *list, int tls, char *err,
	    size_t errlen);
/* The base URL of the OpenAI routes: openai_url, or from upstream_url a path ending
   in /hf-inference with /v1 in its place, any other with /v1 appended. 0, or -1 when
   it does not fit in len. */
int	 cfg_openai_base(const struct config *c, char *out, size_t len);
/* 1 when the task routes' base is the router's: a path ending in /hf-inference (the
   router's pipeline order, its OpenAI API, the bridge). */
int	 cfg_router(const struct config *c);
/* Replaces a URL field (upstream_url, hub_url) with value, checked as the file's
   are (up_check_url) and without trailing '/'. 0, or -1 with err (which never quotes
   the URL). */
int	 cfg_set_url(char **field, const char *value, char *err, size_t errlen);
/* Replaces a string field (strdup). 0 or -1. */
int	 cfg_set_string(char **field, const char *value);
/* SHA-256 of a client or admin key (libcrypto). 0 or -1. */
int	 cfg_hash_key(const char *key, size_t len, uint8_t out[CFG_KEY_HASH_LEN]);
/* The endpoint serving model, or NULL for the serverless API. Borrows. */
const struct cfg_endpoint *cfg_endpoint_for_model(const struct config *c, const char *model);
/* The endpoint called name, or NULL. */
const struct cfg_endpoint *cfg_endpoint_by_name(const struct config *c, const char *name);
/* The usage table's file: [usage] db, else the cache's when it is on, else
   $(localstatedir)/lib/hfgate/usage.db. Borrowed. */
const char *cfg_usage_db(const struct config *c);
/* 1 when a and b listen on the same addresses. */
int	 cfg_same_listen(const struct config *a, const struct config *b);
/* The Access-Control-Allow-Origin to send to a request from origin (NULL: none sent):
   "*" when cors_origin says so, origin itself when it is listed, else NULL. Borrowed
   (from c or origin). */
const char *cfg_cors_origin(const struct config *c, const char *origin);
/* The client called name, or NULL. */
const struct cfg_client *cfg_client_by_name(const struct config *c, const char *name);
void	 cfg_free(struct config *c);	/* accepts NULL and a zeroed struct */
/* A heap configuration shared by the loop threads: cfg_ref takes a reference,
   cfg_unref drops one and frees the struct with the last. Both accept NULL. */
void	 cfg_ref(struct config *c);
void	 cfg_unref(struct config *c);

#endif
