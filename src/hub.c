/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the Hub says of a model: its task from its pipeline tag, for the cache policy
 * of POST /models/{id} (docs/cache.md) and the bridge to today's API (resolve.c), its
 * library and its inference providers, for GET /status and /framework on today's
 * router (local.c). Look-ups run on the loop thread that first needs them, through
 * the same libcurl multi handle as the inference calls; a request that needs the
 * answer waits for it, bounded (resolve.c), the others go on as if the model's task
 * were unknown.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "buf.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "task.h"
#include "upstream.h"

#define HUB_BUCKETS	1024
#define HUB_BODY_MAX	(1024 * 1024)
#define HUB_RETRY_SECS	300	/* after a failed look-up */

enum hub_state { HUB_PENDING, HUB_KNOWN, HUB_FAILED };

struct hub_entry {
	struct hub_entry	*next;
	char			*model;
	enum hub_state		 state;
	struct hub_model	 info;		/* HUB_KNOWN */
	time_t			 retry_at;	/* HUB_FAILED, or a model not found: asked
						   again from then on */
};

struct hub_lookup {
	struct up_call		 up;
	struct hub_lookup	*next;		/* this thread's look-ups */
	char			*url;
	char			*model;
	struct buf		 body;
};

static pthread_mutex_t			 hub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hub_entry			*hub_table[HUB_BUCKETS];
static _Thread_local struct hub_lookup	*hub_running;

static size_t
hub_bucket(const char *model)
{
	size_t	h = 5381;

	while (*model != '\0')
		h = h * 33 + (unsigned char)*model++;
	return (h % HUB_BUCKETS);
}

/* The entry of model; call with hub_mu held. */
static struct hub_entry *
hub_find(const char *model)
{
	struct hub_entry	*e;

	for (e = hub_table[hub_bucket(model)]; e != NULL; e = e->next)
		if (strcmp(e->model, model) == 0)
			return (e);
	return (NULL);
}

/* info NULL: the look-up failed. */
static void
hub_settle(const char *model, const struct hub_model *info)
{
	struct hub_entry	*e;

	pthread_mutex_lock(&hub_mu);
	if ((e = hub_find(model)) != NULL) {
		e->state = info == NULL ? HUB_FAILED : HUB_KNOWN;
		if (info != NULL)
			e->info = *info;
		e->retry_at = time(NULL) + HUB_RETRY_SECS;
	}
	pthread_mutex_unlock(&hub_mu);
}

static void
hub_lookup_free(struct hub_lookup *l)
{
	struct hub_lookup	**pp;

	for (pp = &hub_running; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	up_release(&l->up);
	buf_free(&l->body);
	free(l->url);
	free(l->model);
	free(l);
}

static int
hub_on_data(struct up_call *c, const char *data, size_t len)
{
	struct hub_lookup	*l = c->arg;

	if (l->body.len + len > HUB_BODY_MAX || buf_append(&l->body, data, len) == -1)
		return (UP_DATA_ABORT);
	return (UP_DATA_OK);
}

static int
hub_status_of(const cJSON *s)
{
	if (!cJSON_IsString(s))
		return (HUB_NONE);
	if (strcmp(s->valuestring, "live") == 0)
		return (HUB_LIVE);
	return (strcmp(s->valuestring, "staging") == 0 ? HUB_STAGING : HUB_NONE);
}

/*
 * inferenceProviderMapping: {provider: {"status", "task", ...}} or, as the Hub
 * also answers it, [{"provider", "status", "task", ...}]. A model without a
 * pipeline tag takes the task hf-inference serves it for.
 */
static void
hub_providers(const cJSON *map, struct hub_model *m)
{
	const cJSON	*p, *name, *task;
	const char	*provider;
	int		 st;

	cJSON_ArrayForEach(p, map) {
		name = cJSON_GetObjectItemCaseSensitive(p, "provider");
		provider = cJSON_IsArray(map) ? (cJSON_IsString(name) ?
		    name->valuestring : NULL) : p->string;
		st = hub_status_of(cJSON_GetObjectItemCaseSensitive(p, "status"));
		if (st > m->any_provider)
			m->any_provider = st;
		if (provider == NULL || strcmp(provider, "hf-inference") != 0)
			continue;
		if (st > m->hf_inference)
			m->hf_inference = st;
		task = cJSON_GetObjectItemCaseSensitive(p, "task");
		if (m->task == NULL && cJSON_IsString(task))
			m->task = task_find(task->valuestring);
	}
}

static void
hub_on_done(struct up_call *c, enum up_result code)
{
	struct hub_lookup	*l = c->arg;
	struct hub_model	 m;
	cJSON			*root = NULL;
	const cJSON		*v;

	memset(&m, 0, sizeof(m));
	if (code == UP_OK && c->status == 404) {
		log_debug("hub: %s is not on the Hub", l->model);
		hub_settle(l->model, &m);
	} else if (code == UP_OK && c->status == 200 &&
	    (root = cJSON_ParseWithLength(l->body.data, l->body.len)) != NULL) {
		m.found = 1;
		v = cJSON_GetObjectItemCaseSensitive(root, "pipeline_tag");
		if (cJSON_IsString(v))
			m.task = task_find(v->valuestring);
		v = cJSON_GetObjectItemCaseSensitive(root, "library_name");
		if (cJSON_IsString(v))
			snprintf(m.library, sizeof(m.library), "%s", v->valuestring);
		hub_providers(cJSON_GetObjectItemCaseSensitive(root,
		    "inferenceProviderMapping"), &m);
		log_debug("hub: %s is %s", l->model, m.task != NULL ? m.task->name :
		    "untagged");
		hub_settle(l->model, &m);
	} else {
		log_warnx("hub: cannot look %s up (%s, status %ld): its task stays unknown",
		    l->model, code != UP_OK ? c->errbuf : "answer",
		    c->status);
		hub_settle(l->model, NULL);
	}
	cJSON_Delete(root);
	hub_lookup_free(l);
}

/* Starts the look-up of model on this thread. 0 or -1. */
static int
hub_start(const struct config *cfg, const char *model)
{
	struct hub_lookup	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->model = strdup(model)) == NULL ||
	    asprintf(&l->url, "%s/api/models/%s?expand=pipeline_tag&expand=library_name"
	    "&expand=inferenceProviderMapping", cfg->hub_url, model) < 0) {
		if (l != NULL) {
			l->url = NULL;
			free(l->model);
		}
		free(l);
		return (-1);
	}
	/* Gated and private models need the token to be seen. */
	if ((cfg->token != NULL && up_bearer(&l->up, cfg->token) == -1) ||
	    up_header(&l->up, "Accept", "application/json") == -1)
		goto fail;
	l->up.url = l->url;
	l->up.connect_timeout_ms = cfg->connect_timeout_ms;
	l->up.on_data = hub_on_data;
	l->up.on_done = hub_on_done;
	l->up.arg = l;
	l->next = hub_running;
	hub_running = l;
	if (up_start(&l->up) == -1)
		goto fail;
	return (0);
fail:
	hub_lookup_free(l);
	return (-1);
}

int
hub_model(const struct config *cfg, const char *model, struct hub_model *m)
{
	struct hub_entry	*e;
	int			 start = 0, rc = 0;

	memset(m, 0, sizeof(*m));
	pthread_mutex_lock(&hub_mu);
	if ((e = hub_find(model)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) != NULL &&
		    (e->model = strdup(model)) != NULL) {
			e->state = HUB_PENDING;
			e->next = hub_table[hub_bucket(model)];
			hub_table[hub_bucket(model)] = e;
			start = 1;
		} else {
			free(e);
			rc = -1;
		}
	} else if ((e->state == HUB_FAILED || (e->state == HUB_KNOWN &&
	    !e->info.found)) && time(NULL) >= e->retry_at) {
		/* It may have been created since, or the Hub be back. */
		e->state = HUB_PENDING;
		start = 1;
	} else if (e->state == HUB_KNOWN) {
		*m = e->info;
		rc = 1;
	} else if (e->state == HUB_FAILED)
		rc = -1;
	pthread_mutex_unlock(&hub_mu);
	if (start && hub_start(cfg, model) == -1) {
		hub_settle(model, NULL);
		rc = -1;
	}
	return (rc);
}

const struct task_info *
hub_task(const struct config *cfg, const char *model)
{
	struct hub_model	 m;

	return (hub_model(cfg, model, &m) == 1 ? m.task : NULL);
}

void
hub_each(void (*fn)(const char *, const struct hub_model *, void *), void *arg)
{
	const struct hub_entry	*e;
	size_t			 i;

	pthread_mutex_lock(&hub_mu);
	for (i = 0; i < HUB_BUCKETS; i++)
		for (e = hub_table[i]; e != NULL; e = e->next)
			if (e->state == HUB_KNOWN && e->info.found)
				fn(e->model, &e->info, arg);
	pthread_mutex_unlock(&hub_mu);
}

int
hub_pending(const char *model)
{
	struct hub_entry	*e;
	int			 pending;

	pthread_mutex_lock(&hub_mu);
	pending = (e = hub_find(model)) != NULL && e->state == HUB_PENDING;
	pthread_mutex_unlock(&hub_mu);
	return (pending);
}

void
hub_thread_stop(void)
{
	/* Cancelled look-ups leave PENDING entries behind: only at exit. */
	while (hub_running != NULL)
		hub_lookup_free(hub_running);
}
