/* SPDX-License-Identifier: BSD-2-Clause */
/* task.c: the 26 inference tasks of the HF Inference API and the default model per task. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "defmodels.h"
#include "modelid.h"
#include "task.h"

/*
 * The 26 tasks of the 2023 HF Inference API, as huggingface_hub 0.18 names
 * them; tasks.def keeps them sorted by name, which task_find relies on.
 */
static const struct task_info tasks[] = {
#define TASK(name, input, pipeline, accept)	{ name, input, pipeline, accept },
#include "tasks.def"
#undef TASK
};
_Static_assert(sizeof(tasks) / sizeof(tasks[0]) == TASK_COUNT,
    "tasks.def has TASK_COUNT rows");

const struct task_info *
task_at(size_t i)
{
	if (i >= TASK_COUNT)
		return (NULL);
	return (&tasks[i]);
}

static int
task_cmp(const void *key, const void *elem)
{
	return (strcmp(key, ((const struct task_info *)elem)->name));
}

const struct task_info *
task_find(const char *name)
{
	if (name == NULL)
		return (NULL);
	return (bsearch(name, tasks, TASK_COUNT, sizeof(tasks[0]), task_cmp));
}

size_t
task_index(const struct task_info *t)
{
	return ((size_t)(t - tasks));
}

void
task_defaults_free(char *models[TASK_COUNT])
{
	size_t	 i;

	if (models == NULL)
		return;
	for (i = 0; i < TASK_COUNT; i++) {
		free(models[i]);
		models[i] = NULL;
	}
}

/* Next whitespace-separated field of *sp (modified in place), or NULL at the end or a comment. */
static char *
task_field(char **sp)
{
	char	*s = *sp, *f;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#') {
		*sp = s;
		return (NULL);
	}
	f = s;
	while (*s != '\0' && !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return (f);
}

/*
 * Every slot of models is written: on success each malloc'd (owned by the
 * caller, see task_defaults_free) or NULL; on failure all NULL. A later line
 * for the same task replaces an earlier one.
 */
int
task_defaults_load(const char *path, char *models[TASK_COUNT], char *err,
    size_t errlen)
{
	FILE			*f;
	char			*line = NULL, *s, *name, *model, *dup;
	size_t			 cap = 0, lineno = 0, i;
	const struct task_info	*t;

	for (i = 0; i < TASK_COUNT; i++)
		models[i] = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		s = line;
		if ((name = task_field(&s)) == NULL)
			continue;
		if ((model = task_field(&s)) == NULL) {
			snprintf(err, errlen, "%s:%zu: expected \"task model\"",
			    path, lineno);
			goto fail;
		}
		if (task_field(&s) != NULL) {
			snprintf(err, errlen, "%s:%zu: extra field after model",
			    path, lineno);
			goto fail;
		}
		/* The npm table lists more tasks than the API serves. */
		if ((t = task_find(name)) == NULL)
			continue;
		if (!modelid_valid(model)) {
			snprintf(err, errlen, "%s:%zu: invalid model id", path,
			    lineno);
			goto fail;
		}
		if ((dup = strdup(model)) == NULL) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		i = task_index(t);
		free(models[i]);
		models[i] = dup;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	free(line);
	fclose(f);
	return (0);
 fail:
	free(line);
	fclose(f);
	task_defaults_free(models);
	return (-1);
}

/* Same contract as task_defaults_load, from the table built in (src/defmodels.h). */
int
task_defaults_builtin(char *models[TASK_COUNT], char *err, size_t errlen)
{
	const struct defmodels_entry	*e;
	const struct task_info		*t;
	char				*dup;
	size_t				 i;

	for (i = 0; i < TASK_COUNT; i++)
		models[i] = NULL;
	for (e = defmodels_table; e->task != NULL; e++) {
		if ((t = task_find(e->task)) == NULL)
			continue;
		/* The generator checks only the characters; tests/check_task.c
		   compares the table with the file. */
		if (!modelid_valid(e->model)) {
			snprintf(err, errlen, "built-in default models: invalid "
			    "model id for %s", e->task);
			goto fail;
		}
		if ((dup = strdup(e->model)) == NULL) {
			snprintf(err, errlen, "built-in default models: %s",
			    strerror(errno));
			goto fail;
		}
		i = task_index(t);
		free(models[i]);
		models[i] = dup;
	}
	return (0);
 fail:
	task_defaults_free(models);
	return (-1);
}

/* The model as a cJSON array: [model] or [] without one; objs wraps it as {"id": model}. */
static cJSON *
task_model_array(const char *model, int objs)
{
	cJSON	*a, *o;

	if ((a = cJSON_CreateArray()) == NULL)
		return (NULL);
	if (model == NULL)
		return (a);
	if (objs) {
		if ((o = cJSON_CreateObject()) == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			goto fail;
		}
		if (cJSON_AddStringToObject(o, "id", model) == NULL)
			goto fail;
	} else {
		if ((o = cJSON_CreateString(model)) == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			goto fail;
		}
	}
	return (a);
 fail:
	cJSON_Delete(a);
	return (NULL);
}

/* Adds item to o under key; takes item (deleted on failure). */
static int
task_add(cJSON *o, const char *key, cJSON *item)
{
	if (item == NULL)
		return (-1);
	if (!cJSON_AddItemToObject(o, key, item)) {
		cJSON_Delete(item);
		return (-1);
	}
	return (0);
}

char *
task_api_tasks_json(char *const models[TASK_COUNT])
{
	cJSON	*root, *o;
	char	*s = NULL;
	size_t	 i;

	if ((root = cJSON_CreateObject()) == NULL)
		return (NULL);
	for (i = 0; i < TASK_COUNT; i++) {
		if (task_add(root, tasks[i].name, o = cJSON_CreateObject()) == -1)
			goto fail;
		if (cJSON_AddStringToObject(o, "id", tasks[i].name) == NULL ||
		    task_add(o, "widgetModels",
		    task_model_array(models[i], 0)) == -1 ||
		    task_add(o, "models", task_model_array(models[i], 1)) == -1)
			goto fail;
	}
	s = cJSON_PrintUnformatted(root);
 fail:
	cJSON_Delete(root);
	return (s);
}

char *
task_v1_tasks_json(char *const models[TASK_COUNT])
{
	cJSON	*root;
	char	*s = NULL;
	size_t	 i;

	if ((root = cJSON_CreateObject()) == NULL)
		return (NULL);
	for (i = 0; i < TASK_COUNT; i++) {
		if (task_add(root, tasks[i].name, models[i] != NULL ?
		    cJSON_CreateString(models[i]) : cJSON_CreateNull()) == -1)
			goto fail;
	}
	s = cJSON_PrintUnformatted(root);
 fail:
	cJSON_Delete(root);
	return (s);
}
