/*
 * What the libFuzzer harnesses of tests/fuzz/ share (scripts/fuzz.sh builds and runs
 * them). A property that does not hold aborts, which libFuzzer reports as a crash
 * with the input that broke it.
 */
#ifndef HFGATE_FUZZ_H
#define HFGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property broken: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
