/* SPDX-License-Identifier: BSD-2-Clause */
/* modelid.c: what a Hugging Face model id may look like. Pure, no I/O. */
#include <stddef.h>
#include <string.h>

#include "modelid.h"

static int
modelid_char(char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
}

/* "." and ".." would be path tricks in the upstream URL. */
int
modelid_part_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return (0);
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return (0);
	for (i = 0; i < len; i++)
		if (!modelid_char(s[i]))
			return (0);
	return (1);
}

int
modelid_valid(const char *id)
{
	const char	*slash;
	size_t		 len;

	if (id == NULL)
		return (0);
	len = strlen(id);
	if (len == 0 || len >= MODELID_MAX)
		return (0);
	if ((slash = strchr(id, '/')) == NULL)
		return (modelid_part_valid(id, len));
	/* modelid_part_valid rejects a second '/' in the name part. */
	return (modelid_part_valid(id, (size_t)(slash - id)) &&
	    modelid_part_valid(slash + 1, len - (size_t)(slash - id) - 1));
}
