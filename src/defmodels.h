/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * defmodels.c: the default model per task built into hfgate, generated at build time
 * from etc/default-models.tsv by scripts/gen-defmodels.awk. task.c reads it when the
 * data file is missing (docs/hfgate.conf.5, default_models_file).
 */
#ifndef HFGATE_DEFMODELS_H
#define HFGATE_DEFMODELS_H

struct defmodels_entry {
	const char	*task;
	const char	*model;
};

/* The lines of etc/default-models.tsv in file order, ended by { NULL, NULL }. */
extern const struct defmodels_entry defmodels_table[];

#endif
