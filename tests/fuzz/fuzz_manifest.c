/*
 * fuzz_manifest.c - libFuzzer harness for manifest_parse(): manifests come
 * from beside images that may have been built elsewhere, and the supervisor
 * (root) reads them before anything else.
 *
 *   make fuzz FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdlib.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error e = { 0 };
	struct manifest *m = manifest_parse((const char *)data, size, "fuzz.xml", &e);

	manifest_free(m);
	return 0;
}
