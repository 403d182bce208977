/*
 * control.c - the control protocol of an instance (see control.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"

int ctl_send(int ctl, enum ctl_type type, const void *payload, size_t len,
	     int fd)
{
	char t = (char)type, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov[2] = { { .iov_base = &t, .iov_len = 1 },
				{ .iov_base = (void *)payload, .iov_len = len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (len > CTL_PAYLOAD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(ctl, &mh, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		/* A packet is sent whole or not at all. */
		return n == (ssize_t)(1 + len) ? 0 : (errno = EIO, -1);
	}
}

void ctl_tell(int ctl, enum ctl_type type, const char *text)
{
	size_t len = text ? strnlen(text, CTL_TEXT_MAX - 1) : 0;

	if (ctl_send(ctl, type, text, len, -1) < 0)
		_exit(126);
}

void ctl_tell_exit(int ctl, int status, unsigned long conn)
{
	char text[64];
	int n = WIFSIGNALED(status) ?
		snprintf(text, sizeof(text), "signal=%d", WTERMSIG(status)) :
		snprintf(text, sizeof(text), "exit=%d", WEXITSTATUS(status));

	if (conn)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " conn=%lu", conn);

	if (ctl_send(ctl, CTL_EXITED, text, (size_t)n, -1) < 0)
		_exit(126);	/* as ctl_tell: nobody left to tell */
}

/* The descriptor of an SCM_RIGHTS message, or -1; any other is closed. */
static int take_fd(struct msghdr *mh, int *fd)
{
	int got = -1;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int one;

			memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd && got < 0)
				got = one;
			else
				close(one);
		}
	}
	if (fd)
		*fd = got;
	return got;
}

int ctl_recv(int ctl, int flags, enum ctl_type *type, char *buf, size_t size,
	     size_t *len, int *fd)
{
	/* Room for more than one descriptor: extra ones are closed, not leaked. */
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	char t;
	struct iovec iov[2] = { { .iov_base = &t, .iov_len = 1 },
				{ .iov_base = buf, .iov_len = size - 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	if (fd)
		*fd = -1;
	do
		n = recvmsg(ctl, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	take_fd(&mh, fd);
	if (n == 0) {
		if (fd && *fd >= 0)
			close(*fd);
		if (fd)
			*fd = -1;
		return 0;
	}
	*type = (enum ctl_type)(unsigned char)t;
	*len = (size_t)n - 1;
	buf[*len] = '\0';
	return 1;
}
