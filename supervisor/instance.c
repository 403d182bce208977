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
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "instance.h"
#include "launch.h"

#define CLONE_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
#define ENV_MAX 320	/* the recipe's at most 256, ours, and the addresses' */
#define ENV_ADDED 8	/* variables make_env adds: LISTEN_* or the seven TCP/CGI ones */
#define LISTEN_FD 3

struct ctl_msg {
	char type;
	char remote_ip[ADDR_MAX], remote_port[8];
	char local_ip[ADDR_MAX], local_port[8];
};

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

/* ---- inside the instance ---------------------------------------------- */

static __attribute__((noreturn)) void die(int ctl, const char *err)
{
	jail_tell(ctl, 'E', err);
	_exit(125);
}

/* Receives one message and, with it, at most one descriptor. */
static int recv_msg(int ctl, struct ctl_msg *m, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n != sizeof(*m) || *fd < 0)
		return -1;
	m->remote_ip[ADDR_MAX - 1] = m->local_ip[ADDR_MAX - 1] = '\0';
	m->remote_port[7] = m->local_port[7] = '\0';
	return 0;
}

static void env_add(char **env, size_t *n, const char *name, const char *value)
{
	static char store[ENV_ADDED][160];
	static size_t used;

	if (*n + 1 >= ENV_MAX || used >= sizeof(store) / sizeof(store[0]))
		return;
	snprintf(store[used], sizeof(store[used]), "%s=%s", name, value);
	env[(*n)++] = store[used++];
	env[*n] = NULL;
}

/* The base environment plus the ucspi-tcp and CGI names of the addresses. */
static void make_env(const struct instance_config *cfg, const struct ctl_msg *m,
		     char **env)
{
	size_t n = 0;

	for (char **e = cfg->env; e && *e && n + 1 < ENV_MAX; e++)
		env[n++] = *e;
	env[n] = NULL;
	if (m->type == 'L') {
		env_add(env, &n, "LISTEN_FDS", "1");
		env_add(env, &n, "LISTEN_PID", "1");
		return;
	}
	if (!m->remote_ip[0])
		return;
	env_add(env, &n, "PROTO", "TCP");
	env_add(env, &n, "TCPREMOTEIP", m->remote_ip);
	env_add(env, &n, "TCPREMOTEPORT", m->remote_port);
	env_add(env, &n, "TCPLOCALIP", m->local_ip);
	env_add(env, &n, "TCPLOCALPORT", m->local_port);
	env_add(env, &n, "REMOTE_ADDR", m->remote_ip);
	env_add(env, &n, "REMOTE_PORT", m->remote_port);
}

/* stdin and stdout are the connection (or the terminal), stderr the log. */
static void setup_stdio(const struct instance_config *cfg, int ctl, int fd,
			char type)
{
	int err;

	if (cfg->tty)
		return;	/* imgtool run: the terminal stays stdin, stdout, stderr */
	err = open(cfg->stderr_path ? cfg->stderr_path : "/dev/null",
		   O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (err < 0)
		err = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (err < 0 || dup2(err, STDERR_FILENO) < 0)
		die(ctl, "cannot set up stderr");
	if (type == 'L') {
		/*
		 * The socket arrives close-on-exec; dup2 onto fd 3 clears that,
		 * but not when it already is fd 3. stdin and stdout are still
		 * the supervisor's: the service gets /dev/null instead.
		 */
		if (fd == LISTEN_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, LISTEN_FD) < 0)
			die(ctl, "cannot place the listening socket");
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	}
	if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
		die(ctl, "cannot set up stdin and stdout");
}

/* The last steps: stdio, environment, seccomp, execve. */
static __attribute__((noreturn)) void run_service(const struct instance_config *cfg,
						  int ctl, int fd,
						  const struct ctl_msg *m)
{
	static char *env[ENV_MAX];
	char err[JAIL_ERR_MAX];

	sigset_t none;

	setup_stdio(cfg, ctl, fd, m->type);
	make_env(cfg, m, env);
	/* The supervisor blocks and ignores signals for itself, not for the
	 * service: a blocked SIGTERM would make the service unstoppable. */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 ||
	    signal(SIGPIPE, SIG_DFL) == SIG_ERR)
		die(ctl, "cannot reset the signal mask");
	/* Filter last: nothing after it but execve, which it must allow. */
	if (seccomp_install(&cfg->seccomp) < 0)
		die(ctl, "cannot install the seccomp filter");
	execve(cfg->argv[0], cfg->argv, env);
	snprintf(err, sizeof(err), "execve %s: %s", cfg->argv[0], strerror(errno));
	die(ctl, err);
}

/*
 * A session instance stays, as PID 1 of its namespace, and runs one service
 * process per connection of its client, reaping them and telling the
 * supervisor when each ends.
 */
static __attribute__((noreturn)) void session_loop(const struct instance_config *cfg,
						   int ctl)
{
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
		struct ctl_msg m;
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(124);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				_exit(124);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				jail_tell(ctl, 'D', NULL);
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		if (recv_msg(ctl, &m, &fd) < 0)
			_exit(0);	/* the supervisor is gone or done with us */
		switch (fork()) {
		case -1:
			jail_tell(ctl, 'D', NULL);
			break;
		case 0:
			sigprocmask(SIG_UNBLOCK, &mask, NULL);
			run_service(cfg, ctl, fd, &m);
		}
		close(fd);
	}
}

static __attribute__((noreturn)) void child_main(const struct instance_config *cfg,
						 int ctl)
{
	char err[JAIL_ERR_MAX], go;
	int keep[] = { ctl, -1 };
	struct ctl_msg m;
	int fd;

	/* Die with the supervisor: no instance outlives it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		die(ctl, "PR_SET_PDEATHSIG");
	/* The supervisor puts us into our cgroup, then says go. */
	if (read(ctl, &go, 1) != 1)
		_exit(0);
	if (unshare(CLONE_NEWCGROUP) < 0)
		die(ctl, "unshare cgroup namespace");
	if (jail_enter(&cfg->jail, err, sizeof(err)) < 0 ||
	    jail_drop(&cfg->jail, keep, err, sizeof(err)) < 0)
		die(ctl, err);
	/* The uid switch cleared the parent-death signal: set it again. Had the
	 * supervisor died meanwhile, the control socket reads end of file. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		die(ctl, "PR_SET_PDEATHSIG");
	jail_tell(ctl, 'R', NULL);
	if (cfg->recycle == RECYCLE_SESSION && !cfg->tty)
		session_loop(cfg, ctl);
	if (recv_msg(ctl, &m, &fd) < 0)
		_exit(0);
	run_service(cfg, ctl, fd, &m);
}

/* ---- the supervisor's side -------------------------------------------- */

int instance_spawn(const struct instance_config *cfg, unsigned long id,
		   struct instance *in, struct error *e)
{
	char name[32];
	int sv[2];
	long flags = CLONE_FLAGS | SIGCHLD;

	memset(in, 0, sizeof(*in));
	in->id = id;
	in->ctl = -1;
	in->created_ms = now_ms();
	snprintf(name, sizeof(name), "%lu", id);
	if (cfg->cgroups && cfg->cgroups->version != CGROUP_NONE &&
	    cgroup_create(cfg->cgroups, name, cfg->memory, cfg->pids, &in->cg, e) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		cgroup_destroy(&in->cg);
		return error_errno(e, "socketpair");
	}
	if (cfg->jail.loopback >= 0)
		flags |= CLONE_NEWNET;
	in->pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (in->pid == 0) {
		close(sv[0]);
		child_main(cfg, sv[1]);
	}
	close(sv[1]);
	if (in->pid < 0) {
		close(sv[0]);
		cgroup_destroy(&in->cg);
		return error_errno(e, "clone");
	}
	in->ctl = sv[0];
	in->state = INSTANCE_STARTING;
	if ((in->cg.v2 || in->cg.v1_memory) && cgroup_attach(&in->cg, in->pid, e) < 0) {
		instance_kill(in, "cgroup");
		return -1;
	}
	if (write(in->ctl, "g", 1) != 1) {
		instance_kill(in, "start");
		return error_errno(e, "instance %lu: start", id);
	}
	return 0;
}

int instance_handoff(struct instance *in, int fd, int listener,
		     const struct sockaddr_storage *remote,
		     const struct sockaddr_storage *local)
{
	struct ctl_msg m = { .type = listener ? 'L' : 'C' };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	if (remote)
		format_addr(remote, m.remote_ip, sizeof(m.remote_ip),
			    m.remote_port, sizeof(m.remote_port));
	if (local)
		format_addr(local, m.local_ip, sizeof(m.local_ip), m.local_port,
			    sizeof(m.local_port));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(in->ctl, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return -1;
	in->state = INSTANCE_BUSY;
	in->served++;
	in->active++;
	if (!in->started_ms)
		in->started_ms = now_ms();
	memcpy(in->client, m.remote_ip, sizeof(in->client));
	memcpy(in->client_port, m.remote_port, sizeof(in->client_port));
	return 0;
}

int instance_read(struct instance *in)
{
	char buf[1 + JAIL_ERR_MAX];
	ssize_t n = recv(in->ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EAGAIN ? 'A' : -1;
	buf[n] = '\0';
	switch (buf[0]) {
	case 'R':
		if (in->state != INSTANCE_STARTING)
			return -1;
		in->state = INSTANCE_READY;
		return 'R';
	case 'E':
		/* Keep only printable text: the instance is not trusted. */
		for (ssize_t i = 1; i < n; i++)
			if (buf[i] < 32 || buf[i] > 126)
				buf[i] = '?';
		snprintf(in->error, sizeof(in->error), "%s", buf + 1);
		return 'E';
	case 'D':
		if (in->active == 0)
			return -1;
		if (--in->active == 0)
			in->idle_since_ms = now_ms();
		return 'D';
	}
	return -1;
}

void instance_kill(struct instance *in, const char *reason)
{
	if (!in->reason)
		in->reason = reason;
	if (in->pid > 0 && in->state != INSTANCE_DEAD)
		kill(in->pid, SIGKILL);
}

void instance_cleanup(struct instance *in)
{
	if (in->ctl >= 0)
		close(in->ctl);
	in->ctl = -1;
	in->state = INSTANCE_DEAD;
	if (in->cg.v2 || in->cg.v1_memory || in->cg.v1_pids) {
		cgroup_kill(&in->cg);
		cgroup_destroy(&in->cg);
	}
}
