/*
 * run.c - imgtool run of a jail image: one instance, the admin's terminal
 * relayed to it (see supervisor.h, supervisor_run_once).
 *
 * The instance never holds a descriptor of the admin's: not the terminal
 * (TIOCSTI, TIOCSETD and TIOCSPGRP would reach the admin's shell), not a
 * directory given as stdin (openat(0, "..") is the host's root), not a
 * file given as stdout (reopened through /proc/self/fd, it is writable at
 * any offset). It gets a pty of its own when stdin is a terminal, as
 * `systemd-run --pty` and `docker run -t` do, and three pipes otherwise;
 * this file relays between those and fds 0 to 2 of imgsupd, with the
 * admin's terminal in raw mode meanwhile and its mode restored afterwards.
 *
 * SIGPIPE is ignored (setup.c): a reader of our stdout that went away is
 * EPIPE, and ends the instance as SIGPIPE would have ended a pipeline.
 * SIGINT, SIGTERM and SIGHUP end the instance (its init gets SIGKILL,
 * which takes its whole PID namespace); the recipe's wall limit does too.
 * Writes to the admin's side are made only when poll says they will not
 * block for long (at most PIPE_BUF bytes after POLLOUT), so that a reader
 * that stops reading cannot keep the instance past its wall limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "supervisor.h"

#define RELAY_CHUNK PIPE_BUF	/* written at once after POLLOUT */
#define EXIT_WALL 124		/* as timeout(1) */

/* One direction of the relay: from a descriptor, through a buffer, to one. */
struct pipe_relay {
	int from, to;		/* -1 when that side is done */
	char buf[RELAY_CHUNK];
	size_t len, off;
};

struct run {
	struct instance in;
	struct pipe_relay in_r, out_r, err_r;	/* stdin, stdout, stderr */
	int tty;		/* stdin is a terminal: the instance has a pty */
	int master;		/* the pty's master, or -1 */
	int child[3];		/* what the instance gets as fds 0, 1, 2 */
	int raw;		/* the admin's terminal is in raw mode */
	struct termios saved;
	int sfd;		/* the supervisor's signalfd (setup.c): SIGCHLD,
				   SIGINT, SIGTERM, SIGHUP, SIGWINCH */
	int reaped, status, signal;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A pty of the instance's own: the master ours, the slave its fds 0-2. */
static int open_pty(struct run *r, struct error *e)
{
	struct winsize ws;
	int slave;

	r->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r->master < 0 || grantpt(r->master) < 0 || unlockpt(r->master) < 0)
		return error_errno(e, "a pty for the instance");
	/* The peer by descriptor, never by a path in /dev/pts. */
	slave = ioctl(r->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return error_errno(e, "the pty's peer (TIOCGPTPEER)");
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(r->master, TIOCSWINSZ, &ws);
	r->child[0] = slave;
	r->child[1] = dup(slave);
	r->child[2] = dup(slave);
	if (r->child[1] < 0 || r->child[2] < 0)
		return error_errno(e, "dup");
	set_nonblock(r->master);
	r->in_r = (struct pipe_relay){ .from = STDIN_FILENO, .to = r->master };
	r->out_r = (struct pipe_relay){ .from = r->master, .to = STDOUT_FILENO };
	r->err_r = (struct pipe_relay){ .from = -1, .to = -1 };
	return 0;
}

/* Three pipes: the instance's ends are its fds 0-2, ours are relayed. */
static int open_pipes(struct run *r, struct error *e)
{
	int p[3][2];

	for (int i = 0; i < 3; i++) {
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return error_errno(e, "pipe");
		/* stdin: the instance reads p[0][0]; out, err: it writes. */
		r->child[i] = p[i][i == 0 ? 0 : 1];
		set_nonblock(p[i][i == 0 ? 1 : 0]);
	}
	r->in_r = (struct pipe_relay){ .from = STDIN_FILENO, .to = p[0][1] };
	r->out_r = (struct pipe_relay){ .from = p[1][0], .to = STDOUT_FILENO };
	r->err_r = (struct pipe_relay){ .from = p[2][0], .to = STDERR_FILENO };
	return 0;
}

/* The admin's terminal in raw mode: every key goes to the instance's pty. */
static void make_raw(struct run *r)
{
	struct termios t;

	/* Only a foreground imgtool run may change the terminal's mode. */
	if (tcgetpgrp(STDIN_FILENO) != getpgrp() ||
	    tcgetattr(STDIN_FILENO, &r->saved) < 0)
		return;
	t = r->saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
		r->raw = 1;
}

static void restore_terminal(struct run *r)
{
	if (r->raw && tcsetattr(STDIN_FILENO, TCSADRAIN, &r->saved) < 0)
		perror("imgsupd: restore the terminal's mode");
	r->raw = 0;
}

/* Decides and opens what the instance gets as fds 0 to 2. */
static int open_stdio(struct run *r, struct error *e)
{
	struct stat st;

	if (fstat(STDIN_FILENO, &st) < 0)
		return error_errno(e, "stdin");
	if (S_ISDIR(st.st_mode))
		return error_set(e, "stdin is a directory; give the instance "
				 "a file, a pipe or a terminal");
	r->tty = isatty(STDIN_FILENO);
	return r->tty ? open_pty(r, e) : open_pipes(r, e);
}

/* Reaps the instance's init if it ended. */
static void reap(struct run *r)
{
	int status;

	if (r->reaped)
		return;
	if (waitpid(r->in.pid, &status, WNOHANG) == r->in.pid) {
		r->reaped = 1;
		r->status = status;
	}
}

static void stop_instance(struct run *r, int sig)
{
	if (!r->signal)
		r->signal = sig;
	instance_kill(&r->in, "signal");
}

static void read_signals(struct run *r)
{
	struct signalfd_siginfo si;
	struct winsize ws;

	while (read(r->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(r);
			break;
		case SIGWINCH:
			if (r->master >= 0 &&
			    ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
				ioctl(r->master, TIOCSWINSZ, &ws);
			break;
		default:
			stop_instance(r, (int)si.ssi_signo);
		}
	}
}

/* The poll events one relay waits for on each side. */
static void relay_events(const struct pipe_relay *p, struct pollfd *src,
			 struct pollfd *dst)
{
	src->fd = p->from >= 0 && p->len == 0 ? p->from : -1;
	src->events = POLLIN;
	dst->fd = p->to >= 0 && p->len > 0 ? p->to : -1;
	dst->events = POLLOUT;
}

/*
 * Moves bytes one step. Reading end of file or an error (EIO from a pty
 * master whose slave is closed everywhere) ends the relay's source; the
 * instance's stdin pipe is closed when the admin's stdin ends, so that the
 * instance reads end of file. A write error ends the destination, and
 * what comes after is dropped; it returns -1 then.
 */
static int relay_step(struct pipe_relay *p, short src_ev, short dst_ev,
		      int close_to_at_eof)
{
	ssize_t n;

	if (p->len == 0 && (src_ev & (POLLIN | POLLHUP | POLLERR))) {
		n = read(p->from, p->buf, sizeof(p->buf));
		if (n > 0) {
			p->len = (size_t)n;
			p->off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			p->from = -1;
			if (close_to_at_eof)
				close_fd(&p->to);
		}
		if (p->to < 0)
			p->len = 0;
	}
	if (p->len > 0 && (dst_ev & (POLLOUT | POLLERR | POLLHUP))) {
		n = write(p->to, p->buf + p->off, p->len);
		if (n > 0) {
			p->off += (size_t)n;
			p->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			p->len = 0;
			if (close_to_at_eof)
				close_fd(&p->to);
			else
				p->to = -1;
			return -1;
		}
	}
	return 0;
}

/* Milliseconds until the wall limit, -1 without one. */
static int wall_wait(const struct run *r, uint64_t deadline)
{
	uint64_t now = now_ms();

	if (!deadline || r->signal)
		return -1;
	return now >= deadline ? 0 : (int)(deadline - now > 60000 ? 60000 :
					   deadline - now);
}

/*
 * Relays until the instance ended and what it wrote is out. The output
 * sides end by themselves once the instance's PID namespace is gone: its
 * ends of the pipes and the pty's slave close with it.
 */
static void relay(struct run *r, uint64_t wall_ms)
{
	uint64_t deadline = wall_ms ? now_ms() + wall_ms : 0;
	int pty = r->master >= 0;

	while (!r->reaped || r->out_r.from >= 0 || r->err_r.from >= 0) {
		struct pollfd p[7];
		int ms = wall_wait(r, deadline);

		relay_events(&r->in_r, &p[0], &p[1]);
		relay_events(&r->out_r, &p[2], &p[3]);
		relay_events(&r->err_r, &p[4], &p[5]);
		/* The admin's stdin is not ours to read once the instance is gone. */
		if (r->reaped)
			p[0].fd = -1;
		p[6] = (struct pollfd){ .fd = r->sfd, .events = POLLIN };
		if (poll(p, 7, ms) < 0 && errno != EINTR)
			break;
		if (p[6].revents & POLLIN)
			read_signals(r);
		if (ms == 0) {
			fprintf(stderr, "\r\nimgsupd: the instance ran past its "
				"wall limit (%llu s) and was killed\r\n",
				(unsigned long long)(wall_ms / 1000));
			stop_instance(r, -1);
		}
		/* The instance closed its stdin: what the admin types is dropped. */
		if (relay_step(&r->in_r, p[0].revents, p[1].revents, !pty) < 0)
			r->in_r.from = -1;
		/* Whoever read our stdout or stderr is gone: as SIGPIPE would. */
		if (relay_step(&r->out_r, p[2].revents, p[3].revents, 0) < 0 ||
		    relay_step(&r->err_r, p[4].revents, p[5].revents, 0) < 0)
			stop_instance(r, SIGPIPE);
		reap(r);
	}
}

/* Waits for the instance to say it is ready; 0 when it did. */
static int wait_ready(struct run *r)
{
	enum instance_msg msg;

	while ((msg = instance_read(&r->in)) == IMSG_NONE) {
		struct pollfd p[2] = { { .fd = r->in.ctl, .events = POLLIN },
				       { .fd = r->sfd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (p[1].revents & POLLIN)
			read_signals(r);
		if (r->signal || r->reaped)
			return -1;
	}
	if (msg == IMSG_ERROR)
		fprintf(stderr, "imgsupd: %s\n", r->in.error);
	return msg == IMSG_READY ? 0 : -1;
}

static int exit_status(const struct run *r)
{
	if (r->signal == -1)
		return EXIT_WALL;
	if (r->signal)
		return 128 + r->signal;
	if (WIFSIGNALED(r->status))
		return 128 + WTERMSIG(r->status);
	return WEXITSTATUS(r->status);
}

int supervisor_run_once(struct supervisor *sv)
{
	struct run r = { .master = -1, .sfd = sv->signal_fd,
			 .child = { -1, -1, -1 } };
	struct error e = { 0 };
	int rc;

	if (open_stdio(&r, &e) < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		return 1;
	}
	memcpy(sv->cfg.stdio, r.child, sizeof(r.child));
	sv->cfg.run_pty = r.tty;
	rc = instance_spawn(&sv->cfg, 1, &r.in, &e);
	/* The instance has its ends; ours would keep its output open. */
	for (int i = 0; i < 3; i++)
		close_fd(&r.child[i]);
	if (rc < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		return 1;
	}
	if (wait_ready(&r) == 0) {
		/* What it is handed is its own stdin: the protocol wants one. */
		if (r.tty)
			make_raw(&r);
		if (instance_handoff(&r.in, -1, 0, NULL, NULL) < 0)
			instance_kill(&r.in, "handoff");
		relay(&r, sv->m->service.limits.wall * 1000);
		restore_terminal(&r);
	} else if (!r.reaped) {
		instance_kill(&r.in, "start");
	}
	while (!r.reaped && waitpid(r.in.pid, &r.status, 0) < 0 && errno == EINTR)
		;
	/* An error the instance sent before it died (execve failed, ...). */
	if (instance_read(&r.in) == IMSG_ERROR)
		fprintf(stderr, "imgsupd: %s\n", r.in.error);
	instance_cleanup(&r.in);
	sv_seal_logs(sv);
	return exit_status(&r);
}
