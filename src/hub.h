/* hub.c: a model's task, from its pipeline tag on the Hub. */
#ifndef HFGATE_HUB_H
#define HFGATE_HUB_H

#include "config.h"
#include "task.h"

/*
 * The task of model as the Hub tags it (GET {hub_url}/api/models/{model}), or NULL
 * while it is not known. The first call for a model starts the look-up in the
 * background on the calling loop thread and returns NULL at once; the answer is
 * remembered for the process (a failed look-up is tried again after a while).
 */
const struct task_info	*hub_task(const struct config *cfg, const char *model);
/* 1 while the look-up of model is running. */
int			 hub_pending(const char *model);
/* Cancels this loop thread's look-ups (before its loop goes away). */
void			 hub_thread_stop(void);

#endif
