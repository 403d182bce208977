/*
 * channel.h - the byte protocol between imgsupd and a VM's guest init.
 *
 * A VM has no network device. Client connections reach its service over
 * one virtio-serial port (CHANNEL_PORT_NAME), a plain byte stream in both
 * directions, cut into frames:
 *
 *	type (1 byte) | 0 (1 byte) | length (2 bytes, big-endian) | payload
 *
 * with a payload of at most CHANNEL_PAYLOAD_MAX bytes. One connection is
 * carried at a time; a session's later connections wait in the supervisor.
 *
 *   guest to host                      host to guest
 *   'R' ready: the init has mounted     'O' open a connection: a new service
 *       everything and waits for work;      process starts; payload: its
 *       payload: a version text             extra environment, NAME=VALUE
 *   'D' bytes the service wrote             strings each ended by a NUL
 *   'E' the service closed its output   'D' bytes from the client
 *   'X' the service ended; payload      'E' the client closed its side
 *       "exit=N" or "signal=N"          'C' the client is gone: kill the
 *   'L' a diagnostic line of the init       service now
 *       (for the supervisor's log)
 *
 * The guest is not trusted by the host: a frame of an unknown type, a
 * length over the maximum or a non-zero reserved byte ends the VM.
 */
#ifndef IMGTOOL_CHANNEL_H
#define IMGTOOL_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHANNEL_PORT_NAME "org.imgtool.channel.0"
#define CHANNEL_HEADER 4
#define CHANNEL_PAYLOAD_MAX 16384
#define CHANNEL_FRAME_MAX (CHANNEL_HEADER + CHANNEL_PAYLOAD_MAX)
#define CHANNEL_VERSION "imgtool-init 1"

enum channel_type {
	CH_READY = 'R',
	CH_OPEN = 'O',
	CH_DATA = 'D',
	CH_EOF = 'E',
	CH_EXIT = 'X',
	CH_CLOSE = 'C',
	CH_LOG = 'L',
};

struct channel_frame {
	uint8_t type;
	uint16_t len;
	const uint8_t *payload;	/* points into the parsed buffer */
};

/*
 * Parses one frame from the start of buf. Returns the bytes it takes (header
 * and payload), 0 if buf does not hold a whole frame yet, -1 if the bytes
 * are not a frame (unknown type, reserved byte set, too long).
 */
ssize_t channel_parse(const uint8_t *buf, size_t len, struct channel_frame *f);

/* Writes a frame header for a payload of len bytes into out[CHANNEL_HEADER]. */
void channel_header(uint8_t out[CHANNEL_HEADER], uint8_t type, size_t len);

/*
 * Writes one whole frame to a blocking descriptor, retrying short writes
 * and EINTR. len must be at most CHANNEL_PAYLOAD_MAX. Returns 0 or -1.
 */
int channel_send(int fd, uint8_t type, const void *payload, size_t len);

/*
 * A frame's payload as text for a log line or a terminal: the guest is not
 * trusted, so only printable ASCII other than '"' is kept, every other
 * byte becomes '?'; cut to size - 1 bytes and NUL-terminated.
 */
void channel_text(const struct channel_frame *f, char *out, size_t size);

#endif
