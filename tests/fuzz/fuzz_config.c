/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The configuration reader (src/config.c: libinih and hfgate's checks on every key),
 * on a file holding the input; cfg_load reads only from a file. Properties: it loads
 * or fails with a "path:line: reason" (or "path: reason") message, and what it
 * loaded is freed without leaks.
 *
 * A key naming another file (default_models_file, key files) makes cfg_load read it:
 * inputs naming files under dev/, proc/ or sys/ are skipped, so that a read never
 * blocks on a terminal or runs forever on /dev/zero. scripts/fuzz.sh runs this
 * harness in a directory of its own (TMPDIR).
 */
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static char	path[4096];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*tmp = getenv("TMPDIR");
	char		 dir[4000];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/hfgate-fuzz-config.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/hfgate.conf", dir);
	return (0);
}

static int
names_special_file(const uint8_t *data, size_t size)
{
	static const char *const bad[] = { "dev/", "proc/", "sys/" };
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return (1);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c;
	char		 err[1024];
	FILE		*f;

	if (names_special_file(data, size))
		return (0);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	FUZZ_CHECK(cfg_init(&c) == 0);
	err[0] = '\0';
	if (cfg_load(&c, path, err, sizeof(err)) == -1) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
	} else {
		FUZZ_CHECK(c.nlistens >= 1);
		FUZZ_CHECK(c.default_models_file != NULL);
	}
	cfg_free(&c);
	return (0);
}
