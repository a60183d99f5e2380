/*
 * A model's task from its pipeline tag on the Hub, for the cache policy of
 * POST /models/{id} (docs/cache.md). Look-ups run on the loop thread that first needs them,
 * through the same libcurl multi handle as the inference calls, and never delay a
 * request: until the answer is in, the model counts as one whose task is unknown.
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
	const struct task_info	*task;		/* HUB_KNOWN; NULL: no usable tag */
	time_t			 retry_at;	/* HUB_FAILED */
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

static void
hub_settle(const char *model, const struct task_info *task, int failed)
{
	struct hub_entry	*e;

	pthread_mutex_lock(&hub_mu);
	if ((e = hub_find(model)) != NULL) {
		e->state = failed ? HUB_FAILED : HUB_KNOWN;
		e->task = task;
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

static void
hub_on_done(struct up_call *c, enum up_result code)
{
	struct hub_lookup	*l = c->arg;
	const struct task_info	*task = NULL;
	cJSON			*root = NULL;
	const cJSON		*tag;

	if (code == UP_OK && c->status == 200 &&
	    (root = cJSON_ParseWithLength(l->body.data, l->body.len)) != NULL) {
		tag = cJSON_GetObjectItemCaseSensitive(root, "pipeline_tag");
		if (cJSON_IsString(tag))
			task = task_find(tag->valuestring);
		log_debug("hub: %s is %s", l->model, task != NULL ? task->name : "untagged");
		hub_settle(l->model, task, 0);
	} else {
		log_warnx("hub: cannot look %s up (%s, status %ld): its task stays unknown",
		    l->model, code != UP_OK ? c->errbuf : "answer",
		    c->status);
		hub_settle(l->model, NULL, 1);
	}
	cJSON_Delete(root);
	hub_lookup_free(l);
}

/* Starts the look-up of model on this thread. 0 or -1. */
static int
hub_start(const struct config *cfg, const char *model)
{
	struct hub_lookup	*l;
	char			 bearer[1024];
	int			 rc = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->model = strdup(model)) == NULL ||
	    asprintf(&l->url, "%s/api/models/%s", cfg->hub_url, model) < 0) {
		if (l != NULL) {
			l->url = NULL;
			free(l->model);
		}
		free(l);
		return (-1);
	}
	/* Gated and private models need the token to be seen. */
	if (cfg->token != NULL) {
		if ((size_t)snprintf(bearer, sizeof(bearer), "Bearer %s", cfg->token) <
		    sizeof(bearer))
			rc = up_header(&l->up, "Authorization", bearer);
		explicit_bzero(bearer, sizeof(bearer));
	}
	if (rc == -1 || up_header(&l->up, "Accept", "application/json") == -1)
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

const struct task_info *
hub_task(const struct config *cfg, const char *model)
{
	struct hub_entry	*e;
	const struct task_info	*task = NULL;
	int			 start = 0;

	pthread_mutex_lock(&hub_mu);
	if ((e = hub_find(model)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) != NULL &&
		    (e->model = strdup(model)) != NULL) {
			e->state = HUB_PENDING;
			e->next = hub_table[hub_bucket(model)];
			hub_table[hub_bucket(model)] = e;
			start = 1;
		} else
			free(e);
	} else if (e->state == HUB_KNOWN)
		task = e->task;
	else if (e->state == HUB_FAILED && time(NULL) >= e->retry_at) {
		e->state = HUB_PENDING;
		start = 1;
	}
	pthread_mutex_unlock(&hub_mu);
	if (start && hub_start(cfg, model) == -1)
		hub_settle(model, NULL, 1);
	return (task);
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
