/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What an [endpoint] of protocol auto speaks (hfgate.conf(5)): TGI's routes, or the
 * OpenAI API only (vLLM, SGLang), which the bridge translates the 2023 calls to
 * (resolve.c). Asked of the endpoint once per URL and process, the way hub.c asks
 * the Hub: on the loop thread that first needs it, through the same libcurl multi
 * handle as the inference calls; a request that needs the answer waits for it,
 * bounded (resolve.c), then takes the endpoint for PROBE_FALLBACK.
 *
 * GET {url}/info first: TGI >= 1.4 serves /v1/chat/completions too (its Messages
 * API), so an OpenAI route proves nothing, while only TGI answers its info. Then
 * GET {url}/v1/models, the OpenAI list vLLM and SGLang serve.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "probe.h"
#include "upstream.h"

#define PROBE_BODY_MAX		(256 * 1024)
#define PROBE_TIMEOUT_MS	10000	/* per probe: the calls have no total timeout */
#define PROBE_RETRY_SECS	60	/* after a failed probe: an endpoint scaled to
					   zero answers within minutes */

enum probe_state { PROBE_PENDING, PROBE_KNOWN, PROBE_FAILED };

/* One endpoint URL's answer, for the process. */
struct probe_entry {
	struct probe_entry	*next;
	char			*url;
	enum probe_state	 state;
	enum cfg_protocol	 proto;		/* PROBE_KNOWN */
	time_t			 retry_at;	/* PROBE_FAILED: probed again from then */
};

struct probe_run {
	struct up_call		 up;
	struct loop_timer	 timeout;
	struct probe_run	*next;		/* this thread's probes */
	char			*base;		/* the endpoint's URL, the entry's key */
	char			*name;		/* the endpoint's name, for the log */
	char			*url;		/* of the call running */
	int			 models;	/* 1: GET /v1/models, after /info */
	struct buf		 body;
};

static pthread_mutex_t			 probe_mu = PTHREAD_MUTEX_INITIALIZER;
static struct probe_entry		*probe_table;	/* a few endpoints: a list */
static _Thread_local struct probe_run	*probe_running;

/* The entry of url; call with probe_mu held. */
static struct probe_entry *
probe_find(const char *url)
{
	struct probe_entry	*e;

	for (e = probe_table; e != NULL; e = e->next)
		if (strcmp(e->url, url) == 0)
			return (e);
	return (NULL);
}

/* known 0: the probe failed. */
static void
probe_settle(const char *url, int known, enum cfg_protocol proto)
{
	struct probe_entry	*e;

	pthread_mutex_lock(&probe_mu);
	if ((e = probe_find(url)) != NULL) {
		e->state = known ? PROBE_KNOWN : PROBE_FAILED;
		e->proto = known ? proto : PROBE_FALLBACK;
		e->retry_at = time(NULL) + PROBE_RETRY_SECS;
	}
	pthread_mutex_unlock(&probe_mu);
}

static void
probe_run_free(struct probe_run *r)
{
	struct probe_run	**pp;

	if (r == NULL)
		return;
	for (pp = &probe_running; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	loop_timer_cancel(&r->timeout);
	up_release(&r->up);
	buf_free(&r->body);
	free(r->base);
	free(r->name);
	free(r->url);
	free(r);
}

/* The JSON object of body, or NULL. */
static cJSON *
probe_object(const char *body, size_t len)
{
	cJSON	*root;

	if (body == NULL || (root = cJSON_ParseWithLength(body, len)) == NULL)
		return (NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return (NULL);
	}
	return (root);
}

int
probe_is_tgi_info(const char *body, size_t len)
{
	cJSON		*root;
	const cJSON	*v;
	int		 tgi;

	if ((root = probe_object(body, len)) == NULL)
		return (0);
	/* TGI's Info struct, since 1.0: model_id, and max_total_tokens and version
	   among its limits and build fields. */
	tgi = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "model_id")) &&
	    (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "max_total_tokens")) ||
	    (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(root, "version")) &&
	    v->valuestring[0] != '\0'));
	cJSON_Delete(root);
	return (tgi);
}

int
probe_is_openai_models(const char *body, size_t len)
{
	cJSON		*root;
	const cJSON	*v;
	int		 list;

	if ((root = probe_object(body, len)) == NULL)
		return (0);
	v = cJSON_GetObjectItemCaseSensitive(root, "object");
	list = cJSON_IsString(v) && strcmp(v->valuestring, "list") == 0 &&
	    cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "data"));
	cJSON_Delete(root);
	return (list);
}

static int
probe_on_data(struct up_call *c, const char *data, size_t len)
{
	struct probe_run	*r = c->arg;

	if (r->body.len + len > PROBE_BODY_MAX || buf_append(&r->body, data, len) == -1)
		return (UP_DATA_ABORT);
	return (UP_DATA_OK);
}

/* Starts r's call: GET {base}/info, or {base}/v1/models. 0 or -1. */
static int
probe_call(struct probe_run *r)
{
	free(r->url);
	if (asprintf(&r->url, "%s%s", r->base, r->models ? "/v1/models" : "/info") < 0) {
		r->url = NULL;
		return (-1);
	}
	buf_reset(&r->body);
	r->up.url = r->url;
	return (up_start(&r->up));
}

static void
probe_on_done(struct up_call *c, enum up_result code)
{
	struct probe_run	*r = c->arg;
	int			 ok = code == UP_OK && c->status == 200;

	if (!r->models && ok && probe_is_tgi_info(r->body.data, r->body.len)) {
		log_info("endpoint %s: GET /info is TGI's: protocol tgi", r->name);
		probe_settle(r->base, 1, CFG_PROTO_TGI);
	} else if (!r->models && code == UP_OK) {
		/* Any other answer is no TGI: ask the OpenAI API. */
		r->models = 1;
		if (probe_call(r) == 0)
			return;
		log_warnx("endpoint %s: protocol auto: cannot ask GET /v1/models (%s): "
		    "protocol tgi until probed again in %d s", r->name, r->up.errbuf,
		    PROBE_RETRY_SECS);
		probe_settle(r->base, 0, PROBE_FALLBACK);
	} else if (r->models && ok && probe_is_openai_models(r->body.data, r->body.len)) {
		log_info("endpoint %s: no TGI /info, GET /v1/models is an OpenAI list: "
		    "protocol openai", r->name);
		probe_settle(r->base, 1, CFG_PROTO_OPENAI);
	} else {
		log_warnx("endpoint %s: protocol auto: GET %s answered %s (status %ld): "
		    "protocol tgi until probed again in %d s", r->name,
		    r->models ? "/v1/models" : "/info", code != UP_OK ? c->errbuf :
		    "neither TGI's info nor an OpenAI list", c->status, PROBE_RETRY_SECS);
		probe_settle(r->base, 0, PROBE_FALLBACK);
	}
	probe_run_free(r);
}

static void
probe_on_timeout(struct loop_timer *t)
{
	struct probe_run	*r = t->arg;

	log_warnx("endpoint %s: protocol auto: no answer to GET %s within %d ms: protocol "
	    "tgi until probed again in %d s", r->name, r->models ? "/v1/models" : "/info",
	    PROBE_TIMEOUT_MS, PROBE_RETRY_SECS);
	probe_settle(r->base, 0, PROBE_FALLBACK);
	probe_run_free(r);
}

/* Starts the probe of ep on this thread. 0 or -1. */
static int
probe_start(const struct config *cfg, const struct cfg_endpoint *ep)
{
	struct probe_run	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (-1);
	r->next = probe_running;
	probe_running = r;
	if ((r->base = strdup(ep->url)) == NULL || (r->name = strdup(ep->name)) == NULL)
		goto fail;
	/* An Inference Endpoint answers nothing without the token, like its calls. */
	if ((cfg->token != NULL && up_bearer(&r->up, cfg->token) == -1) ||
	    up_header(&r->up, "Accept", "application/json") == -1 ||
	    up_header(&r->up, "User-Agent", "hfgate/" PACKAGE_VERSION) == -1)
		goto fail;
	r->up.connect_timeout_ms = cfg->connect_timeout_ms;
	r->up.on_data = probe_on_data;
	r->up.on_done = probe_on_done;
	r->up.arg = r;
	r->timeout.cb = probe_on_timeout;
	r->timeout.arg = r;
	if (loop_timer_set(&r->timeout, PROBE_TIMEOUT_MS) == -1 || probe_call(r) == -1)
		goto fail;
	return (0);
fail:
	probe_run_free(r);
	return (-1);
}

int
probe_protocol(const struct config *cfg, const struct cfg_endpoint *ep,
    enum cfg_protocol *proto)
{
	struct probe_entry	*e;
	int			 start = 0, rc = 0;

	*proto = PROBE_FALLBACK;
	pthread_mutex_lock(&probe_mu);
	if ((e = probe_find(ep->url)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) != NULL &&
		    (e->url = strdup(ep->url)) != NULL) {
			e->state = PROBE_PENDING;
			e->next = probe_table;
			probe_table = e;
			start = 1;
		} else {
			free(e);
			rc = -1;
		}
	} else if (e->state == PROBE_FAILED && time(NULL) >= e->retry_at) {
		/* The endpoint may have been scaled up or started since. */
		e->state = PROBE_PENDING;
		start = 1;
	} else if (e->state == PROBE_KNOWN) {
		*proto = e->proto;
		rc = 1;
	} else if (e->state == PROBE_FAILED)
		rc = -1;
	pthread_mutex_unlock(&probe_mu);
	if (start && probe_start(cfg, ep) == -1) {
		log_warnx("endpoint %s: cannot start its probe: protocol tgi for now",
		    ep->name);
		probe_settle(ep->url, 0, PROBE_FALLBACK);
		rc = -1;
	}
	return (rc);
}

void
probe_thread_stop(void)
{
	/* Cancelled probes leave PENDING entries behind: only at exit. */
	while (probe_running != NULL)
		probe_run_free(probe_running);
}
