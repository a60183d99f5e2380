/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The /v1/{task} body rewriter (src/v1.c). Input: byte 0 picks the task, the rest is
 * the body. Properties: it answers 0 with a body for the upstream (JSON that parses,
 * unless it says the body is raw bytes; raw bytes never empty), or -1 with a message
 * for the 400.
 */
#include <string.h>

#include <cJSON.h>

#include "buf.h"
#include "fuzz.h"
#include "task.h"
#include "v1.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct task_info	*t;
	struct buf		 out = { 0 };
	char			 err[256];
	int			 binary = -1;
	cJSON			*j;

	if (size == 0)
		return (0);
	t = task_at(data[0] % TASK_COUNT);
	err[0] = '\0';
	if (v1_build_body(t, (const char *)data + 1, size - 1, &out, &binary, err,
	    sizeof(err)) == 0) {
		FUZZ_CHECK(binary == 0 || binary == 1);
		FUZZ_CHECK(out.len > 0);
		if (!binary) {
			FUZZ_CHECK((j = cJSON_ParseWithLength(out.data, out.len)) != NULL);
			cJSON_Delete(j);
		}
	} else
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	buf_free(&out);
	return (0);
}
