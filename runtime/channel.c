/*
 * channel.c - framing of the supervisor-to-guest byte stream (channel.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "channel.h"

static int known_type(uint8_t t)
{
	return t == CH_READY || t == CH_OPEN || t == CH_DATA || t == CH_EOF ||
	       t == CH_EXIT || t == CH_CLOSE || t == CH_LOG;
}

ssize_t channel_parse(const uint8_t *buf, size_t len, struct channel_frame *f)
{
	size_t n;

	if (len < CHANNEL_HEADER)
		return 0;
	if (!known_type(buf[0]) || buf[1] != 0)
		return -1;
	n = (size_t)buf[2] << 8 | buf[3];
	if (n > CHANNEL_PAYLOAD_MAX)
		return -1;
	if (len < CHANNEL_HEADER + n)
		return 0;
	f->type = buf[0];
	f->len = (uint16_t)n;
	f->payload = buf + CHANNEL_HEADER;
	return (ssize_t)(CHANNEL_HEADER + n);
}

void channel_header(uint8_t out[CHANNEL_HEADER], uint8_t type, size_t len)
{
	out[0] = type;
	out[1] = 0;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

int channel_send(int fd, uint8_t type, const void *payload, size_t len)
{
	uint8_t head[CHANNEL_HEADER];
	struct iovec iov[2];
	int n = 2;

	if (len > CHANNEL_PAYLOAD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	channel_header(head, type, len);
	iov[0] = (struct iovec){ head, sizeof head };
	iov[1] = (struct iovec){ (void *)payload, len };
	while (n > 0) {
		ssize_t w = writev(fd, iov + (2 - n), n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		/* A short write: skip what went out, across the two parts. */
		for (size_t k = (size_t)w; k > 0 && n > 0;) {
			struct iovec *v = &iov[2 - n];
			size_t take = k < v->iov_len ? k : v->iov_len;

			v->iov_base = (char *)v->iov_base + take;
			v->iov_len -= take;
			k -= take;
			if (v->iov_len == 0)
				n--;
		}
		while (n > 0 && iov[2 - n].iov_len == 0)
			n--;
	}
	return 0;
}

void channel_text(const struct channel_frame *f, char *out, size_t size)
{
	size_t n = f->len < size - 1 ? f->len : size - 1;

	for (size_t i = 0; i < n; i++)
		out[i] = f->payload[i] >= 0x20 && f->payload[i] < 0x7f &&
			 f->payload[i] != '"' ? (char)f->payload[i] : '?';
	out[n] = '\0';
}
