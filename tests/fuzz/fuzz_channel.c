/*
 * fuzz_channel.c - libFuzzer harness for channel_parse(): the bytes come
 * from a guest, which the supervisor (root) does not trust. Parsed as the
 * supervisor parses them, frame after frame, every frame is checked
 * against what the parser promises.
 *
 *   make fuzz FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdlib.h>

#include "channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct channel_frame f;
	size_t at = 0;

	for (;;) {
		ssize_t n = channel_parse(data + at, size - at, &f);

		if (n <= 0)
			break;
		if ((size_t)n > size - at || f.len > CHANNEL_PAYLOAD_MAX ||
		    (size_t)n != CHANNEL_HEADER + f.len ||
		    f.payload != data + at + CHANNEL_HEADER)
			abort();
		at += (size_t)n;
	}
	return 0;
}
