/*
 * instance.c - one instance: a prepared jail and its life (see instance.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "instance.h"
#include "launch.h"

#define CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
#define SESSION_MAX 256	/* service processes one session may have at once */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void format_addr(const struct sockaddr_storage *ss, char *ip, size_t n,
		 char *port, size_t pn)
{
	unsigned p = 0;

	ip[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)n);
		p = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)n);
		p = ntohs(a->sin6_port);
	}
	snprintf(port, pn, "%u", p);
}

/* ---- inside the instance ----------------------------------------------- */

static __attribute__((noreturn)) void die(int ctl, const char *err)
{
	ctl_tell(ctl, CTL_ERROR, err);
	_exit(125);
}

/* The work the supervisor sends: a connection or the listening socket. */
struct work {
	enum ctl_type type;
	int fd;
	char env[CTL_PAYLOAD_MAX];	/* CTL_CONN: the variables it adds */
	size_t env_len;
};

/*
 * Receives one piece of work; -1 when the supervisor is gone or done. A
 * connection comes with its socket, except under imgtool run, whose stdio
 * the instance has had since it was cloned.
 */
static int recv_work(const struct instance_config *cfg, int ctl,
		     struct work *w)
{
	if (ctl_recv(ctl, 0, &w->type, w->env, sizeof(w->env), &w->env_len,
		     &w->fd) != 1 || (w->fd < 0 && !cfg->run) ||
	    (w->type != CTL_CONN && w->type != CTL_LISTEN))
		return -1;
	return 0;
}

static __attribute__((noreturn)) void run_service(const struct instance_config *cfg,
						  int ctl, const struct work *w)
{
	struct launch_io io = { .conn = -1, .listen_fd = -1 };

	if (w->type == CTL_LISTEN) {
		io.listen_fd = w->fd;
	} else if (!cfg->run) {
		io.conn = w->fd;
		io.extra = w->env;
		io.extra_len = w->env_len;
	}
	launch_exec(&cfg->plan, &io, ctl);
}

/* A session's service processes: each one's pid and its connection's number. */
struct services {
	pid_t pid[SESSION_MAX];
	unsigned long conn[SESSION_MAX];
	size_t n;
};

/* Reaps children; tells the supervisor of each service process that ended. */
static void reap_services(int ctl, struct services *sp)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		/* Orphans of the services come to us too: they are not ours. */
		for (size_t i = 0; i < sp->n; i++) {
			if (sp->pid[i] != pid)
				continue;
			ctl_tell_exit(ctl, status, sp->conn[i]);
			sp->n--;
			sp->pid[i] = sp->pid[sp->n];
			sp->conn[i] = sp->conn[sp->n];
			break;
		}
	}
}

/*
 * A session instance stays, as PID 1 of its namespace, and runs one service
 * process per connection of its client, reaping them and telling the
 * supervisor when each ends.
 */
static __attribute__((noreturn)) void session_loop(const struct instance_config *cfg,
						   int ctl)
{
	static struct work w;
	static struct services sp;
	unsigned long conn = 0;	/* CTL_CONNs received, as the supervisor counts */
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		die(ctl, "signalfd");
	for (;;) {
		struct pollfd p[2] = { { .fd = ctl, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		pid_t pid;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(124);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				_exit(124);
			reap_services(ctl, &sp);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		if (recv_work(cfg, ctl, &w) < 0 || w.type != CTL_CONN)
			_exit(0);	/* the supervisor is gone or done with us */
		conn++;
		pid = sp.n < SESSION_MAX ? fork() : -1;
		if (pid == 0)
			run_service(cfg, ctl, &w);
		if (pid < 0) {
			ctl_tell_exit(ctl, 125 << 8, conn);	/* as an exit status 125 */
		} else {
			sp.pid[sp.n] = pid;
			sp.conn[sp.n++] = conn;
		}
		close(w.fd);
	}
}

/*
 * imgtool run with a pty: the service is not PID 1 but its child, a session
 * leader with the pty as its controlling terminal, so that Ctrl-C and the
 * other keys that signal reach it (PID 1 of a namespace ignores every
 * signal it has no handler for, the terminal's too). We end with it, with
 * its status, and reap whatever it leaves.
 */
static __attribute__((noreturn)) void run_on_pty(const struct instance_config *cfg,
						 int ctl, const struct work *w)
{
	pid_t service = fork(), pid;
	int status;

	if (service < 0)
		die(ctl, "fork");
	if (service == 0) {
		if (setsid() < 0 || ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
			die(ctl, "the pty as controlling terminal");
		run_service(cfg, ctl, w);
	}
	/* Our copies of the pty: the relay ends when the service's close. */
	for (int fd = 0; fd <= 2; fd++)
		close(fd);
	while ((pid = wait(&status)) != service)
		if (pid < 0 && errno != EINTR)
			_exit(125);
	_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}

/*
 * imgtool run: the pipes or the pty the supervisor made become fds 0 to 2,
 * replacing the admin's, which the clone copied: the instance must never
 * hold those (a terminal, a directory, a host file).
 */
static void take_stdio(const struct instance_config *cfg, int ctl)
{
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(cfg->stdio[fd], fd) < 0)
			die(ctl, "stdio");
}


/* What one instance's clone gets besides the shared config. */
struct instance_ids {
	int slot;		/* its slice of host ids, -1 none */
	uid_t uid;		/* host ids of its id 0 */
	gid_t gid;
};

/*
 * Its own user namespace, made here, as root of the host's namespace,
 * rather than in the supervisor, whose loop it would hold up for the
 * namespace's making (about 0.2 ms): the mounts idmapped through it, the
 * drop into it.
 */
static void use_ids(struct instance_config *mine, const struct instance_ids *ids,
		    int ctl)
{
	struct error e = { 0 };
	int fd;

	if (ids->slot < 0)
		return;
	fd = userns_make(ids->uid, ids->gid, USERNS_SLICE, &e);
	if (fd < 0)
		die(ctl, e.msg);
	mine->jail.idmap = 1;
	mine->jail.userns_fd = fd;
	mine->jail.uid_shift = ids->uid;
	mine->jail.gid_shift = ids->gid;
	mine->plan.userns_fd = fd;
}

static __attribute__((noreturn)) void child_main(const struct instance_config *shared,
						 int ctl, const struct instance_ids *ids)
{
	/* Ours, a copy: the plan gets this instance's stderr file. */
	static struct instance_config mine;
	const struct instance_config *cfg = &mine;
	static struct work w;
	char err[JAIL_ERR_MAX], note[CTL_TEXT_MAX] = "";
	int keep[] = { ctl, -1, -1 };
	enum ctl_type type;
	size_t len;

	mine = *shared;
	if (cfg->run)
		take_stdio(cfg, ctl);
	/* Die with the supervisor: no instance outlives it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		die(ctl, "PR_SET_PDEATHSIG");
	/*
	 * The clone has the supervisor's descriptors, among them its copies
	 * of other clients' connections: held here, they would keep those
	 * open after their service ended. Only the control socket is ours.
	 */
	if (launch_close_fds(keep) < 0)
		die(ctl, "close_range");
	/* The supervisor puts us into our cgroup, then says go. */
	if (ctl_recv(ctl, 0, &type, err, sizeof(err), &len, NULL) != 1 ||
	    type != CTL_GO)
		_exit(0);
	if (unshare(CLONE_NEWCGROUP) < 0)
		die(ctl, "unshare cgroup namespace");
	/* In our cgroup by now: its limits count the namespace's holder. */
	use_ids(&mine, ids, ctl);
	if (jail_enter(&cfg->jail, note, sizeof(note), err, sizeof(err)) < 0)
		die(ctl, err);
	/* The stderr file, as root in the jail, through the instance's own
	 * mount of its area: no file of ours is handed in. */
	if (!cfg->run) {
		char more[CTL_TEXT_MAX];

		launch_open_stderr(&mine.plan, more, sizeof(more));
		if (more[0])
			note_add(note, sizeof(note), "%s", more);
	}
	/* Then the areas as the instance's ids see them, and its stderr
	 * file again through them. */
	if (jail_idmap_areas(&cfg->jail, err, sizeof(err)) < 0)
		die(ctl, err);
	if (!cfg->run)
		launch_reopen_stderr(&mine.plan);
	keep[1] = mine.plan.stderr_fd;
	if (launch_drop(&mine.plan, keep, err, sizeof(err)) < 0)
		die(ctl, err);
	/* The uid switch cleared the parent-death signal: set it again. Had the
	 * supervisor died meanwhile, the control socket reads end of file. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		die(ctl, "PR_SET_PDEATHSIG");
	ctl_tell(ctl, CTL_READY, note[0] ? note : NULL);
	if (cfg->recycle == RECYCLE_SESSION && !cfg->run)
		session_loop(cfg, ctl);
	if (recv_work(cfg, ctl, &w) < 0)
		_exit(0);
	if (cfg->run_pty)
		run_on_pty(cfg, ctl, &w);
	run_service(cfg, ctl, &w);
}

/* ---- the supervisor's side -------------------------------------------- */

/* A slice of host ids for in (its namespace is made in the clone); ids->slot
 * -1 without. */
static int take_ids(const struct instance_config *cfg, struct instance *in,
		    struct instance_ids *ids, struct error *e)
{
	ids->slot = in->id_slot = -1;
	if (!cfg->ids)
		return 0;
	if ((in->id_slot = id_slot_take(cfg->ids)) < 0)
		return error_set(e, "instance %lu: all %u slices of host ids are "
				 "in use", in->pm.id, cfg->ids->n);
	in->ids = cfg->ids;
	ids->slot = in->id_slot;
	ids->uid = id_slot_uid(cfg->ids, in->id_slot);
	ids->gid = id_slot_gid(cfg->ids, in->id_slot);
	return 0;
}

/* Undoes what instance_spawn() made before the clone succeeded. */
static int spawn_failed(struct instance *in)
{
	cgroup_destroy(&in->cg);
	if (in->ids)
		id_slot_put(in->ids, in->id_slot);
	in->id_slot = -1;
	return -1;
}

int instance_spawn(const struct instance_config *cfg, unsigned long id,
		   struct instance *in, struct error *e)
{
	struct instance_ids ids;
	char name[32];
	int sv[2];
	long flags = CLONE_FLAGS | SIGCHLD;

	memset(in, 0, sizeof(*in));
	in->pm.id = id;
	in->ctl = -1;
	in->id_slot = -1;
	in->pm.created_ms = now_ms();
	snprintf(name, sizeof(name), "%lu", id);
	if (cfg->cgroups && cfg->cgroups->version != CGROUP_NONE &&
	    cgroup_create(cfg->cgroups, name, cfg->memory, cfg->pids, &in->cg, e) < 0)
		return -1;
	if (take_ids(cfg, in, &ids, e) < 0)
		return spawn_failed(in);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		error_errno(e, "socketpair");
		return spawn_failed(in);
	}
	if (cfg->jail.loopback >= 0)
		flags |= CLONE_NEWNET;
	in->pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (in->pid == 0) {
		close(sv[0]);
		child_main(cfg, sv[1], &ids);
	}
	close(sv[1]);
	if (in->pid < 0) {
		close(sv[0]);
		error_errno(e, "clone");
		return spawn_failed(in);
	}
	in->ctl = sv[0];
	in->pm.state = MEMBER_STARTING;
	if ((in->cg.v2 || in->cg.v1_memory) && cgroup_attach(&in->cg, in->pid, e) < 0) {
		instance_kill(in, "cgroup");
		return -1;
	}
	if (ctl_send(in->ctl, CTL_GO, NULL, 0, -1) < 0) {
		instance_kill(in, "start");
		return error_errno(e, "instance %lu: start", id);
	}
	return 0;
}

int instance_handoff(struct instance *in, int fd, int listener,
		     const struct sockaddr_storage *remote,
		     const struct sockaddr_storage *local)
{
	char rip[ADDR_MAX] = "", rport[8] = "", lip[ADDR_MAX] = "", lport[8] = "";
	char env[512];
	size_t len = 0;

	if (remote)
		format_addr(remote, rip, sizeof(rip), rport, sizeof(rport));
	if (local)
		format_addr(local, lip, sizeof(lip), lport, sizeof(lport));
	if (!listener)
		len = launch_tcp_env(env, sizeof(env), rip, rport, lip, lport);
	if (ctl_send(in->ctl, listener ? CTL_LISTEN : CTL_CONN, env, len, fd) < 0)
		return -1;
	in->pm.state = MEMBER_BUSY;
	in->pm.served++;
	in->pm.active++;
	if (!in->pm.started_ms)
		in->pm.started_ms = now_ms();
	memcpy(in->pm.client, rip, sizeof(in->pm.client));
	memcpy(in->pm.client_port, rport, sizeof(in->pm.client_port));
	return 0;
}

/* A message's text, only printable and without quotes: the instance is not
 * trusted, and the text goes into a key="value" log line. */
static void printable(char *buf, size_t len, char *out, size_t n)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 32 || buf[i] > 126 || buf[i] == '"')
			buf[i] = '?';
	snprintf(out, n, "%.*s", (int)len, buf);
}

/*
 * A session's CTL_EXITED: "exit=N conn=K" or "signal=N conn=K", K one of
 * the connections it was given. Sets exited_conn and exited_ok; -1 for
 * anything else. The connection may be over already (its client closed
 * it): the caller looks it up.
 */
static int parse_exited(struct instance *in, const char *text)
{
	unsigned long conn;
	int code, end = 0;

	if (sscanf(text, "exit=%d conn=%lu%n", &code, &conn, &end) == 2 && !text[end])
		in->exited_ok = code < 125;	/* as serve.c's started_ok() */
	else if (sscanf(text, "signal=%d conn=%lu%n", &code, &conn, &end) == 2 && !text[end])
		in->exited_ok = 0;
	else
		return -1;
	if (conn == 0 || conn > in->pm.served)
		return -1;
	in->exited_conn = conn;
	return 0;
}

enum instance_msg instance_read(struct instance *in)
{
	char buf[CTL_TEXT_MAX];
	enum ctl_type type;
	size_t len;
	int rc = ctl_recv(in->ctl, MSG_DONTWAIT, &type, buf, sizeof(buf), &len,
			  NULL);

	if (rc == 0)
		return IMSG_EOF;
	if (rc < 0)
		return errno == EAGAIN ? IMSG_NONE : IMSG_BAD;
	switch (type) {
	case CTL_READY:
		if (in->pm.state != MEMBER_STARTING)
			return IMSG_BAD;
		in->pm.state = MEMBER_READY;
		printable(buf, len, in->warning, sizeof(in->warning));
		return IMSG_READY;
	case CTL_ERROR:
		printable(buf, len, in->error, sizeof(in->error));
		return IMSG_ERROR;
	case CTL_EXITED:
		return parse_exited(in, buf) < 0 ? IMSG_BAD : IMSG_EXITED;
	default:
		return IMSG_BAD;
	}
}

void instance_kill(struct instance *in, const char *reason)
{
	if (!in->pm.reason)
		in->pm.reason = reason;
	if (in->pid > 0 && in->pm.state != MEMBER_DEAD)
		kill(in->pid, SIGKILL);
}

void instance_cleanup(struct instance *in)
{
	if (in->ctl >= 0)
		close(in->ctl);
	in->ctl = -1;
	in->pm.state = MEMBER_DEAD;
	if (in->cg.v2 || in->cg.v1_memory || in->cg.v1_pids) {
		cgroup_kill(&in->cg);
		cgroup_destroy(&in->cg);
	}
	/* Its processes are gone with its group: the slice is free again. */
	if (in->ids)
		id_slot_put(in->ids, in->id_slot);
	in->id_slot = -1;
}
