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

#endif
