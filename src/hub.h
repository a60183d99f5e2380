/* SPDX-License-Identifier: BSD-2-Clause */
/* hub.c: what the Hub says of a model: its task (pipeline tag), library and providers. */
#ifndef HFGATE_HUB_H
#define HFGATE_HUB_H

#include "config.h"
#include "task.h"

/* A provider's status in the Hub's inferenceProviderMapping. */
#define HUB_NONE	0	/* no such provider, or one in error */
#define HUB_STAGING	1
#define HUB_LIVE	2

/* What the Hub said of a model. */
struct hub_model {
	int			 found;		/* 0: the Hub has no such model (404) */
	const struct task_info	*task;		/* its pipeline tag; NULL: none usable */
	int			 hf_inference;	/* HUB_* of the hf-inference provider */
	int			 any_provider;	/* the best HUB_* of its providers */
	char			 library[32];	/* library_name, "" when none */
};

/*
 * The task of model as the Hub tags it (GET {hub_url}/api/models/{model}), or NULL
 * while it is not known. The first call for a model starts the look-up in the
 * background on the calling loop thread and returns NULL at once; the answer is
 * remembered for the process (a failed look-up is tried again after a while).
 */
const struct task_info	*hub_task(const struct config *cfg, const char *model);
/* Like hub_task, the whole answer: 1 with *m filled once the Hub answered (a 404
   too: m->found 0), 0 while it is being looked up, -1 when the look-up failed. */
int			 hub_model(const struct config *cfg, const char *model,
			    struct hub_model *m);
/* Calls fn for each model the Hub found, in no order, under hub.c's lock: fn may
   not call hub.c. */
void			 hub_each(void (*fn)(const char *model, const struct hub_model *,
			    void *), void *arg);
/* 1 while the look-up of model is running. */
int			 hub_pending(const char *model);
/* Cancels this loop thread's look-ups (before its loop goes away). */
void			 hub_thread_stop(void);

#endif
