/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Hugging Face token: where it is looked for, and how it is kept out of sight.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

#define TOKEN_MAX	4096

/* Trims s in place; returns 0, or -1 when a byte could split an HTTP header. */
static int
token_trim(char *s)
{
	char	*p = s, *end;
	size_t	 len;

	while (*p != '\0' && isspace((unsigned char)*p))
		p++;
	len = strlen(p);
	memmove(s, p, len + 1);
	end = s + len;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return (-1);
	return (0);
}

/* Reads a whole small file into a malloc'd string. Returns 0, or -1 with errno set. */
static int
token_read_file(const char *path, char **out)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	if ((buf = malloc(TOKEN_MAX + 1)) == NULL) {
		fclose(f);
		return (-1);
	}
	n = fread(buf, 1, TOKEN_MAX, f);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return (-1);
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	return (0);
}

int
token_load(const char *token_file, char **token, const char **source,
    char *err, size_t errlen)
{
	const char	*env, *dir;
	char		 path[4096];
	char		*t = NULL;

	*token = NULL;
	*source = "none";
	if (token_file != NULL) {
		if (token_read_file(token_file, &t) == -1) {
			snprintf(err, errlen, "token file %s: %s", token_file,
			    strerror(errno));
			return (-1);
		}
		*source = "token file";
	} else if ((dir = getenv("CREDENTIALS_DIRECTORY")) != NULL &&
	    snprintf(path, sizeof(path), "%s/hf_token", dir) < (int)sizeof(path) &&
	    token_read_file(path, &t) == 0) {
		*source = "systemd credential hf_token";
	} else if ((env = getenv("HF_TOKEN")) != NULL && *env != '\0') {
		if ((t = strdup(env)) == NULL)
			goto nomem;
		*source = "HF_TOKEN";
	} else if ((env = getenv("HUGGING_FACE_HUB_TOKEN")) != NULL &&
	    *env != '\0') {
		if ((t = strdup(env)) == NULL)
			goto nomem;
		*source = "HUGGING_FACE_HUB_TOKEN";
	} else
		return (0);

	if (token_trim(t) == -1) {
		snprintf(err, errlen, "token from %s holds control characters",
		    *source);
		token_free(t);
		return (-1);
	}
	if (*t == '\0') {
		token_free(t);
		if (token_file != NULL) {
			snprintf(err, errlen, "token file %s is empty", token_file);
			return (-1);
		}
		*source = "none";
		return (0);
	}
	*token = t;
	return (0);
nomem:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

void
token_free(char *token)
{
	if (token == NULL)
		return;
	explicit_bzero(token, strlen(token));
	free(token);
}

int
token_found(const char *token, const char *data, size_t len)
{
	size_t	n = token != NULL ? strlen(token) : 0;

	return (n > 0 && data != NULL && memmem(data, len, token, n) != NULL);
}

int
token_found_after(const char *token, const char *prev, size_t prevlen,
    const char *data, size_t len)
{
	size_t	n = token != NULL ? strlen(token) : 0, k;

	if (token_found(token, data, len))
		return (1);
	if (n < 2 || prev == NULL || data == NULL)
		return (0);
	/* k bytes of the token end prev, the other n - k begin data. */
	for (k = prevlen < n - 1 ? prevlen : n - 1; k > 0; k--)
		if (len >= n - k && memcmp(prev + prevlen - k, token, k) == 0 &&
		    memcmp(data, token + k, n - k) == 0)
			return (1);
	return (0);
}

size_t
token_partial(const char *token, const char *data, size_t len)
{
	size_t	n = token != NULL ? strlen(token) : 0, k;

	if (n < 2 || data == NULL)
		return (0);
	for (k = len < n - 1 ? len : n - 1; k > 0; k--)
		if (memcmp(data + len - k, token, k) == 0)
			return (k);
	return (0);
}
