/*
 * fuzz_manifest.c - libFuzzer harness for manifest_parse(): manifests come
 * from beside images that may have been built elsewhere, and the supervisor
 * (root) reads them before anything else. Any bytes give a manifest or one
 * error line, never a crash, a leak or a hang.
 *
 *   make fuzz FUZZ_SECONDS=60      (seeds: tests/fuzz/corpus/fuzz_manifest,
 *                                   manifests with every element, <env>,
 *                                   <syscalls> and <vm> among them)
 *
 * FUZZ_VERBOSE=1 in the environment prints each input's outcome, to see
 * what a seed reaches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error e = { 0 };
	struct manifest *m = manifest_parse((const char *)data, size, "fuzz.xml", &e);

	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_manifest: %s\n", m ? "ok" : e.msg);
	if (!m && (!e.msg[0] || strchr(e.msg, '\n')))
		abort();	/* every failure says what, on one line */
	manifest_free(m);
	return 0;
}
