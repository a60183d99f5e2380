/* SPDX-License-Identifier: BSD-2-Clause */
/* task.c: the 26 inference tasks of the HF Inference API and the default model per task. */
#ifndef HFGATE_TASK_H
#define HFGATE_TASK_H

#include <stddef.h>

#define TASK_COUNT	26

/* How the HF API expects a task's request body (docs/api.md, summary of the 26 tasks). */
enum task_input {
	TASK_IN_JSON,		/* JSON object */
	TASK_IN_BINARY,		/* raw file bytes (image or audio) */
	TASK_IN_IMAGE_OR_JSON	/* image-to-image: raw bytes, or {"inputs": b64, "parameters"} */
};

struct task_info {
	const char	*name;		/* "text-classification" */
	enum task_input	 input;
	int		 pipeline;	/* 1: upstream path is /pipeline/{task}/{model} */
	const char	*accept;	/* Accept the HF client sends, NULL = any */
};

/* Index 0..TASK_COUNT-1 in a fixed, alphabetical order. */
const struct task_info	*task_at(size_t);
/* Returns the task, or NULL when the name is not one of the 26. */
const struct task_info	*task_find(const char *name);
/* Index of a task returned by task_at/task_find. */
size_t			 task_index(const struct task_info *);

/*
 * Reads a default-models data file (lines "task<TAB or spaces>model", '#' comments,
 * blank lines ignored) into models[TASK_COUNT] (each malloc'd, or NULL when the file
 * has none for the task). Unknown tasks in the file are skipped (the npm table has
 * more tasks than the API serves). Returns 0, or -1 with "path:line: reason" in err.
 */
int	 task_defaults_load(const char *path, char *models[TASK_COUNT], char *err, size_t errlen);
/*
 * The same from the table built into hfgate at build time from etc/default-models.tsv
 * (src/defmodels.h), for when the data file is missing. 0, or -1 with err.
 */
int	 task_defaults_builtin(char *models[TASK_COUNT], char *err, size_t errlen);
void	 task_defaults_free(char *models[TASK_COUNT]);

/*
 * The Hub's GET /api/tasks shape for the given defaults: an object with one key per
 * task, each {"id":task,"widgetModels":[model],"models":[{"id":model}]} ([] when no
 * default). Returns a malloc'd NUL-terminated string, or NULL on allocation failure.
 */
char	*task_api_tasks_json(char *const models[TASK_COUNT]);
/* {"task": "model" or null, ...} for GET /v1/tasks. Same ownership. */
char	*task_v1_tasks_json(char *const models[TASK_COUNT]);

#endif
