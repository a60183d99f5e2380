/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The router (src/route.c) on any path. Properties: it answers 0 with a route whose
 * model id is valid and whose task is one of the 26, or -1 with a 400 or 404, a
 * message and no route; every string it fills is terminated; the per-kind look-ups
 * answer for whatever kind it returns.
 */
#include <string.h>

#include "fuzz.h"
#include "modelid.h"
#include "route.h"
#include "task.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route	 r;
	char		*path, err[256];
	int		 status = -1;
	unsigned	 flags;

	if ((path = malloc(size + 1)) == NULL)
		return (0);
	memcpy(path, data, size);
	path[size] = '\0';
	err[0] = '\0';
	memset(&r, 0x5a, sizeof(r));
	if (route_parse(path, &r, &status, err, sizeof(err)) == 0) {
		FUZZ_CHECK(r.kind != ROUTE_NOT_FOUND);
		FUZZ_CHECK(memchr(r.model, '\0', sizeof(r.model)) != NULL);
		FUZZ_CHECK(memchr(r.task, '\0', sizeof(r.task)) != NULL);
		FUZZ_CHECK(memchr(r.name, '\0', sizeof(r.name)) != NULL);
		FUZZ_CHECK(memchr(r.sub, '\0', sizeof(r.sub)) != NULL);
		if (r.model[0] != '\0')
			FUZZ_CHECK(modelid_valid(r.model));
		if (r.kind == ROUTE_MODELS || r.kind == ROUTE_PIPELINE ||
		    r.kind == ROUTE_STATUS)
			FUZZ_CHECK(modelid_valid(r.model));
		if (r.kind == ROUTE_PIPELINE || r.kind == ROUTE_V1_TASK)
			FUZZ_CHECK(task_find(r.task) != NULL);
		flags = route_flags(r.kind);
		FUZZ_CHECK(flags != 0);
		FUZZ_CHECK(route_handler_of(r.kind) != ROUTE_H_NONE);
		FUZZ_CHECK(route_allow_header(r.kind) != NULL);
		FUZZ_CHECK(route_method_allowed(r.kind, "POST") ||
		    route_method_allowed(r.kind, "GET"));
		if (flags & ROUTE_F_INFERENCE)
			FUZZ_CHECK(flags & ROUTE_F_UPSTREAM);
	} else {
		FUZZ_CHECK(r.kind == ROUTE_NOT_FOUND);
		FUZZ_CHECK(status == 400 || status == 404);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		FUZZ_CHECK(!route_method_allowed(r.kind, "GET") &&
		    !route_method_allowed(r.kind, "POST"));
	}
	free(path);
	return (0);
}
