/*
 * vmrun.c - imgtool run of a VM image: one VM, its service on this
 * terminal (see vm.h).
 *
 * The VM is booted as for serving (vm_boot), its init's CH_READY awaited,
 * and one connection opened over the channel with no client variables.
 * Bytes from stdin go to the service as CH_DATA, its output comes back to
 * stdout; the end of stdin is CH_EOF. CH_EXIT gives the exit status, which
 * becomes ours, as a jail's does in supervisor_run_once(). SIGINT,
 * SIGTERM and SIGHUP kill the service (CH_CLOSE) and end the VM, and so does
 * the recipe's wall limit (exit status 124, as timeout(1)).
 *
 * One VM, one client, interactive: writes block (channel_send, write_all),
 * which is the terminal's pace; the serving loop (vmserve.c) never does so.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "channel.h"
#include "supervisor.h"
#include "vm.h"

struct run {
	struct vm_domain d;
	uint8_t in[2 * CHANNEL_FRAME_MAX];
	size_t in_len;
	int ready, opened, stdin_eof, status;
	uint64_t deadline_ms;		/* the boot's */
	uint64_t wall_ms;		/* the recipe's wall limit; 0: none */
	uint64_t wall_end_ms;		/* when it is reached, once opened */
};

/* "exit=N" or "signal=N" as an exit status (128 + N for a signal). */
static int exit_status(const struct channel_frame *f)
{
	char text[32];
	size_t n = f->len < sizeof(text) - 1 ? f->len : sizeof(text) - 1;
	unsigned long v;
	char *end;

	memcpy(text, f->payload, n);
	text[n] = '\0';
	if (!strncmp(text, "exit=", 5)) {
		v = strtoul(text + 5, &end, 10);
		return *end || v > 255 ? 1 : (int)v;
	}
	if (!strncmp(text, "signal=", 7)) {
		v = strtoul(text + 7, &end, 10);
		return *end || v > 64 ? 1 : 128 + (int)v;
	}
	return 1;
}

/* One frame of the guest: 1 when the service ended, -1 on a bad frame. */
static int on_frame(struct run *r, const struct channel_frame *f)
{
	char text[GUEST_LOG_MAX + 1];

	switch (f->type) {
	case CH_READY:
		if (r->ready)
			return -1;
		r->ready = 1;
		return 0;
	case CH_DATA:
		if (!r->opened)
			return -1;
		/* A stdout that was closed drops what the service writes. */
		(void)write_all(STDOUT_FILENO, f->payload, f->len);
		return 0;
	case CH_EOF:
		return r->opened ? 0 : -1;
	case CH_EXIT:
		if (!r->opened)
			return -1;
		r->status = exit_status(f);
		return 1;
	case CH_LOG:
		channel_text(f, text, sizeof(text));
		fprintf(stderr, "imgsupd: guest: %s\n", text);
		return 0;
	default:
		return -1;
	}
}

/* Reads what the channel has; 1 when the service ended, -1 on failure. */
static int read_channel(struct run *r)
{
	struct channel_frame f;
	ssize_t n = read(r->d.chan, r->in + r->in_len, sizeof(r->in) - r->in_len);
	size_t at = 0;
	int rc = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		fprintf(stderr, "imgsupd: the VM ended before its service did\n");
		return -1;
	}
	r->in_len += (size_t)n;
	while (rc == 0) {
		ssize_t k = channel_parse(r->in + at, r->in_len - at, &f);

		if (k == 0)
			break;
		if (k < 0 || (rc = on_frame(r, &f)) < 0) {
			fprintf(stderr, "imgsupd: the guest broke the channel protocol\n");
			return -1;
		}
		at += (size_t)k;
	}
	memmove(r->in, r->in + at, r->in_len - at);
	r->in_len -= at;
	return rc;
}

/* stdin to the service; its end is CH_EOF. */
static int read_stdin(struct run *r)
{
	uint8_t buf[CHANNEL_PAYLOAD_MAX];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		r->stdin_eof = 1;
		return channel_send(r->d.chan, CH_EOF, NULL, 0);
	}
	return channel_send(r->d.chan, CH_DATA, buf, (size_t)n);
}

/* A signal: SIGINT, SIGTERM and SIGHUP end the service; 1 then. */
static int on_signal(struct run *r, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGINT && si.ssi_signo != SIGTERM &&
		    si.ssi_signo != SIGHUP)
			continue;
		if (r->opened)
			channel_send(r->d.chan, CH_CLOSE, NULL, 0);
		r->status = 128 + (int)si.ssi_signo;
		return 1;
	}
	return 0;
}

/* How long poll may wait: until the boot's deadline, then the wall's. */
static int wait_ms(const struct run *r)
{
	uint64_t end = r->ready ? r->wall_end_ms : r->deadline_ms, now = now_ms();

	if (!end)
		return -1;
	return end > now ? (int)(end - now > 60000 ? 60000 : end - now) : 0;
}

static int relay(struct vm_host *h, struct run *r, int sfd)
{
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = r->d.chan, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = r->opened && !r->stdin_eof ? STDIN_FILENO : -1,
			  .events = POLLIN },
			/* Always drained: qemu's serial port waits for a reader. */
			{ .fd = r->d.con, .events = POLLIN },
		};
		int rc;

		if (poll(p, 4, wait_ms(r)) < 0 && errno != EINTR)
			return -1;
		if (p[3].revents)
			vm_console_drain(&r->d);
		if (!r->ready && now_ms() >= r->deadline_ms) {
			char tail[600];

			vm_console_tail(h, &r->d, tail, sizeof(tail));
			fprintf(stderr, "imgsupd: the VM did not come up in time; "
				"console: %s\n", tail);
			return -1;
		}
		if (r->opened && r->wall_end_ms && now_ms() >= r->wall_end_ms) {
			fprintf(stderr, "imgsupd: the service ran past its wall "
				"limit (%llu s) and was ended\n",
				(unsigned long long)(r->wall_ms / 1000));
			channel_send(r->d.chan, CH_CLOSE, NULL, 0);
			r->status = 124;	/* as timeout(1) */
			return 0;
		}
		if (p[1].revents && on_signal(r, sfd))
			return 0;
		if (p[0].revents && (rc = read_channel(r)) != 0)
			return rc < 0 ? -1 : 0;
		if (r->ready && !r->opened) {
			/* No client: no connection variables (launch_tcp_env). */
			if (channel_send(r->d.chan, CH_OPEN, NULL, 0) < 0)
				return -1;
			r->opened = 1;
			if (r->wall_ms)
				r->wall_end_ms = now_ms() + r->wall_ms;
		}
		if (p[2].revents && read_stdin(r) < 0)
			return -1;
	}
}

int vm_run_once(struct supervisor *sv)
{
	static struct run r;
	uint64_t boot = sv->o->boot_timeout ? sv->o->boot_timeout : 60;
	int rc;

	if (sv->o->command && sv->o->command[0]) {
		fprintf(stderr, "imgsupd: a VM runs its recipe's service; "
			"-- CMD is for jail images\n");
		return 2;
	}
	r.d.chan = -1;
	r.d.con = -1;
	r.status = 1;
	if (vm_boot(sv->vm, 1, &r.d) < 0) {
		fprintf(stderr, "imgsupd: %s\n", r.d.err);
		vm_destroy(sv->vm, &r.d);
		return 1;
	}
	r.deadline_ms = now_ms() + boot * 1000;
	r.wall_ms = sv->m->service.limits.wall * 1000;
	rc = relay(sv->vm, &r, sv->signal_fd);
	vm_destroy(sv->vm, &r.d);
	return rc < 0 ? 1 : r.status;
}
