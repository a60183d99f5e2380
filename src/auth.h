/* SPDX-License-Identifier: BSD-2-Clause */
/* auth.c: who is calling: client keys ([client NAME]) and the admin key. Pure. */
#ifndef HFGATE_AUTH_H
#define HFGATE_AUTH_H

#include <stddef.h>

#include "config.h"

/*
 * The key a request presents: "Authorization: Bearer <key>" (scheme in any case), else
 * "X-Api-Key: <key>". Arguments are the two header values (NULL when absent). Returns
 * a pointer into one of them with *len set, or NULL when neither holds a key. Borrows.
 */
const char		*auth_key(const char *authorization, const char *x_api_key,
			    size_t *len);
/*
 * The client whose key is key, or NULL. Every configured key is compared, in constant
 * time, whatever matches: the time taken tells nothing about the keys. Borrows.
 */
const struct cfg_client	*auth_client(const struct config *, const char *key, size_t len);
/* 1 when key is the [admin] key (constant time), else 0. */
int			 auth_admin(const struct config *, const char *key, size_t len);
/*
 * 1 when client may call model for task (task NULL: unknown), else 0 with *what set
 * to "task" or "model". A client without task patterns allows every task, unknown
 * ones included; with patterns, an unknown task is refused.
 */
int			 auth_allowed(const struct cfg_client *, const char *task,
			    const char *model, const char **what);

#endif
