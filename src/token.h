/* SPDX-License-Identifier: BSD-2-Clause */
/* token.c: finds the Hugging Face token. The token is a secret: never log it. */
#ifndef HFGATE_TOKEN_H
#define HFGATE_TOKEN_H

#include <stddef.h>

/*
 * Looks for the token in order: token_file (if not NULL), the systemd credential
 * $CREDENTIALS_DIRECTORY/hf_token, $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN. Surrounding
 * whitespace is trimmed. On success *token is malloc'd (NULL when none was found:
 * anonymous) and *source names where it came from (static string, safe to log).
 * Returns -1 with err filled when an explicitly named token_file cannot be read or is
 * empty, or the token holds characters that cannot go into an HTTP header.
 */
int	 token_load(const char *token_file, char **token, const char **source,
	    char *err, size_t errlen);
/* Overwrites and frees a token. Accepts NULL. */
void	 token_free(char *token);

/*
 * Finding the token's bytes in what the upstream answers, so that it is never passed
 * on (pure; token NULL or "" is never found). token_found: in the len bytes of data.
 * token_found_after: in data, or starting in the bytes before it (the prevlen bytes of
 * prev; only the last strlen(token) - 1 of them matter) and ending in it.
 * token_partial: how many bytes at the end of data begin the token (fewer than the
 * whole token): a chunk cut in the middle of the token ends with them.
 */
int	 token_found(const char *token, const char *data, size_t len);
int	 token_found_after(const char *token, const char *prev, size_t prevlen,
	    const char *data, size_t len);
size_t	 token_partial(const char *token, const char *data, size_t len);

#endif
