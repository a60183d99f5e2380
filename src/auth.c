/* SPDX-License-Identifier: BSD-2-Clause */
/* auth.c: who is calling: client keys ([client NAME]) and the admin key. */
#include <fnmatch.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth.h"

const char *
auth_key(const char *authorization, const char *x_api_key, size_t *len)
{
	const char	*k = NULL;
	size_t		 n;

	if (authorization != NULL && strncasecmp(authorization, "Bearer", 6) == 0 &&
	    (authorization[6] == ' ' || authorization[6] == '\t'))
		k = authorization + 7;
	else if (x_api_key != NULL)
		k = x_api_key;
	if (k == NULL)
		return (NULL);
	while (*k == ' ' || *k == '\t')
		k++;
	n = strlen(k);
	while (n > 0 && (k[n - 1] == ' ' || k[n - 1] == '\t'))
		n--;
	if (n == 0)
		return (NULL);
	*len = n;
	return (k);
}

const struct cfg_client *
auth_client(const struct config *c, const char *key, size_t len)
{
	uint8_t				 h[CFG_KEY_HASH_LEN];
	const struct cfg_client		*found = NULL;
	size_t				 i;

	if (key == NULL || cfg_hash_key(key, len, h) == -1)
		return (NULL);
	/* No early exit: the loop takes as long for the first key as for none. */
	for (i = 0; i < c->nclients; i++)
		if (CRYPTO_memcmp(h, c->clients[i].key_hash, sizeof(h)) == 0)
			found = &c->clients[i];
	return (found);
}

int
auth_admin(const struct config *c, const char *key, size_t len)
{
	uint8_t	 h[CFG_KEY_HASH_LEN];

	if (!c->admin_has_key || key == NULL || cfg_hash_key(key, len, h) == -1)
		return (0);
	return (CRYPTO_memcmp(h, c->admin_key_hash, sizeof(h)) == 0);
}

static int
auth_match(char *const *patterns, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (fnmatch(patterns[i], s, 0) == 0)
			return (1);
	return (0);
}

int
auth_allowed(const struct cfg_client *cl, const char *task, const char *model,
    const char **what)
{
	if (cl->ntasks > 0 && (task == NULL || !auth_match(cl->tasks, cl->ntasks, task))) {
		*what = "task";
		return (0);
	}
	if (cl->nmodels > 0 && (model == NULL || !auth_match(cl->models, cl->nmodels,
	    model))) {
		*what = "model";
		return (0);
	}
	return (1);
}
