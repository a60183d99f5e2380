/* SPDX-License-Identifier: BSD-2-Clause */
/* modelid.c: what a Hugging Face model id may look like. Pure, no I/O. */
#ifndef HFGATE_MODELID_H
#define HFGATE_MODELID_H

#include <stddef.h>

/* Longest model id plus its NUL: a buffer of MODELID_MAX holds any valid id. */
#define MODELID_MAX	256

/* 1 if id is a valid HF model id: 1..MODELID_MAX-1 chars of [A-Za-z0-9._-] with at
   most one '/', not starting or ending with '/', no empty part, no "." or ".." part. */
int	 modelid_valid(const char *id);
/* 1 if the len bytes at s (no NUL needed) make one such part: at least one char,
   all of [A-Za-z0-9._-], not "." or "..". Endpoint and framework names in paths
   are spelled the same way. */
int	 modelid_part_valid(const char *s, size_t len);

#endif
