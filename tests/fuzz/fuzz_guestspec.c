/*
 * fuzz_guestspec.c - libFuzzer harness for guestspec_parse(): the guest
 * init, PID 1 of a VM, parses the spec from its initramfs before anything
 * else, and must refuse any malformed one without crashing.
 *
 *   make fuzz FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdlib.h>

#include "guestspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_spec gs;
	char err[GUESTSPEC_ERR_MAX];

	if (guestspec_parse((const char *)data, size, &gs, err, sizeof(err)) == 0)
		guestspec_free(&gs);
	return 0;
}
