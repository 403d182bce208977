/*
 * serve.c - imgsupd's event loop: accepting, handing connections to
 * prepared instances, recycling, limits, draining (see supervisor.h).
 *
 * One thread, one epoll set: the listening socket, a signalfd (SIGCHLD,
 * SIGTERM, SIGINT, SIGHUP) and each instance's control socket. Time limits
 * (wall, idle, period, grace) are deadlines checked after every wake-up;
 * epoll_wait sleeps until the nearest one.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"

#define QUICK_DEATH_MS 1000

static int is_ready(const struct instance *in)
{
	return in->state == INSTANCE_READY && !in->retired;
}

static size_t count(const struct supervisor *sv, enum instance_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < sv->n_inst; i++)
		n += sv->inst[i]->state == st;
	return n;
}

static size_t count_client(const struct supervisor *sv, const char *ip)
{
	size_t n = 0;

	for (size_t i = 0; i < sv->n_inst; i++)
		n += sv->inst[i]->state == INSTANCE_BUSY &&
		     !strcmp(sv->inst[i]->client, ip);
	return n;
}

static struct instance *find_ready(const struct supervisor *sv)
{
	for (size_t i = 0; i < sv->n_inst; i++)
		if (is_ready(sv->inst[i]))
			return sv->inst[i];
	return NULL;
}

static struct instance *spawn(struct supervisor *sv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct instance *in = xcalloc(1, sizeof(*in));
	struct error e = { 0 };

	if (sv->n_inst >= sizeof(sv->inst) / sizeof(sv->inst[0]) ||
	    instance_spawn(&sv->cfg, sv->next_id++, in, &e) < 0) {
		if (e.msg[0])
			sv_log("event=error what=spawn error=\"%s\"", e.msg);
		free(in);
		return NULL;
	}
	ev.data.ptr = in;
	if (epoll_ctl(sv->epoll_fd, EPOLL_CTL_ADD, in->ctl, &ev) < 0) {
		sv_log("event=error what=epoll error=\"%s\"", strerror(errno));
		instance_kill(in, "error");
	}
	sv->inst[sv->n_inst++] = in;
	return in;
}


/* Keeps the pool full: prepared instances waiting for connections. */
static void refill(struct supervisor *sv)
{
	size_t waiting, live;

	if (!sv_may_spawn(sv) || sv->cfg.recycle == RECYCLE_INTERVAL)
		return;
	waiting = count(sv, INSTANCE_READY) + count(sv, INSTANCE_STARTING);
	live = count(sv, INSTANCE_BUSY);
	while (waiting < sv->pool && waiting + live < sv->max + sv->pool &&
	       spawn(sv))
		waiting++;
}

static void start_service(struct supervisor *sv, struct instance *in, int fd,
			  const struct sockaddr_storage *remote,
			  const struct sockaddr_storage *local)
{
	uint64_t wall = sv->m->service.limits.wall;

	if (instance_handoff(in, fd, 0, remote, local) < 0) {
		instance_kill(in, "handoff");
		return;
	}
	if (wall && !in->deadline_ms)
		in->deadline_ms = in->started_ms + wall * 1000;
}

static void refuse(const char *ip, const char *port, const char *why, int fd)
{
	close(fd);
	sv_log("event=refused client=%s:%s reason=%s", ip, port, why);
}

static struct instance *session_of(const struct supervisor *sv, const char *ip)
{
	for (size_t i = 0; i < sv->n_inst; i++) {
		struct instance *in = sv->inst[i];

		if (in->state == INSTANCE_BUSY && !in->retired &&
		    !strcmp(in->client, ip))
			return in;
	}
	return NULL;
}

/* A connection: to the client's session, a ready instance, or the queue. */
static void dispatch(struct supervisor *sv, int fd,
		     const struct sockaddr_storage *remote,
		     const struct sockaddr_storage *local)
{
	char ip[ADDR_MAX], port[8];
	struct instance *in = NULL;

	format_addr(remote, ip, sizeof(ip), port, sizeof(port));
	if (sv->cfg.recycle == RECYCLE_SESSION && (in = session_of(sv, ip))) {
		if (in->active >= sv->per_client)
			return refuse(ip, port, "per-client", fd);
		if (instance_handoff(in, fd, 0, remote, local) < 0)
			instance_kill(in, "handoff");
		close(fd);
		return;
	}
	if (count(sv, INSTANCE_BUSY) + sv->n_pending >= sv->max)
		return refuse(ip, port, "max", fd);
	if (sv->cfg.recycle == RECYCLE_CONNECTION && count_client(sv, ip) >= sv->per_client)
		return refuse(ip, port, "per-client", fd);
	in = find_ready(sv);
	if (in) {
		start_service(sv, in, fd, remote, local);
		close(fd);
		return;
	}
	if (sv->n_pending >= MAX_PENDING)
		return refuse(ip, port, "queue", fd);
	sv->pending[sv->n_pending++] = (struct pending){ .fd = fd, .remote = *remote,
							 .local = *local,
							 .since_ms = now_ms() };
}

static void reap(struct supervisor *sv);

static void accept_all(struct supervisor *sv)
{
	/*
	 * Instances that ended but are not reaped yet would still count
	 * against the caps: reap first, so a client that opens its next
	 * connection as soon as the last one closed is not refused.
	 */
	struct sockaddr_storage remote, local;
	int fd;

	reap(sv);
	while ((fd = sv_accept(sv, 0, &remote, &local)) >= 0)
		dispatch(sv, fd, &remote, &local);
	refill(sv);
}

/* Gives queued connections to instances that became ready. */
static void drain_pending(struct supervisor *sv)
{
	struct instance *in;

	while (sv->n_pending && (in = find_ready(sv))) {
		struct pending p = sv->pending[0];

		memmove(sv->pending, sv->pending + 1,
			--sv->n_pending * sizeof(sv->pending[0]));
		start_service(sv, in, p.fd, &p.remote, &p.local);
		close(p.fd);
	}
}

/* Interval recycling: the new instance takes the socket, the old one goes. */
static void handover(struct supervisor *sv, struct instance *in)
{
	struct instance *old = sv->current;
	uint64_t now = now_ms();

	if (instance_handoff(in, sv->listen_fd, 1, NULL, NULL) < 0) {
		instance_kill(in, "handoff");
		return;
	}
	sv->current = in;
	sv->next = NULL;
	sv->next_period_ms = now + sv->m->service.period * 1000;
	if (old) {
		old->retired = 1;
		old->reason = "recycled";
		kill(old->pid, sv->m->service.stop_signal);
		old->deadline_ms = now + sv->m->service.grace * 1000;
	}
	sv_log("event=handover instance=%lu old=%lu", in->id, old ? old->id : 0);
}

static void start_period(struct supervisor *sv)
{
	if (!sv->next && sv_may_spawn(sv))
		sv->next = spawn(sv);
}

static void on_control(struct supervisor *sv, struct instance *in)
{
	switch (instance_read(in)) {
	case IMSG_READY:
		sv->backoff_ms = 0;
		if (sv->cfg.recycle == RECYCLE_INTERVAL && in == sv->next)
			handover(sv, in);
		else
			drain_pending(sv);
		break;
	case IMSG_ERROR:
		sv_log("event=error instance=%lu error=\"%s\"", in->id, in->error);
		instance_kill(in, "error");
		sv_backoff(sv);
		break;
	case IMSG_NONE:
	case IMSG_EXITED:
		break;
	case IMSG_BAD:
		/* The instance is not to be trusted any more. */
		epoll_ctl(sv->epoll_fd, EPOLL_CTL_DEL, in->ctl, NULL);
		instance_kill(in, "protocol");
		break;
	case IMSG_EOF:
		/* The init exec'd the service or died; SIGCHLD tells how. */
		epoll_ctl(sv->epoll_fd, EPOLL_CTL_DEL, in->ctl, NULL);
		break;
	}
}

static void log_end(const struct supervisor *sv, const struct instance *in,
		    int status)
{
	uint64_t from = in->started_ms ? in->started_ms : in->created_ms;
	const char *reason = in->reason;
	char how[32];

	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit:%d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "signal:%d", WTERMSIG(status));
	if (!reason && cgroup_oom(&in->cg))
		reason = "memory";
	if (!reason)
		reason = WIFEXITED(status) ? "exit" : "signal";
	sv_log_end(in->id, in->client, in->client_port, sv->cfg.recycle,
		   in->served, now_ms() - from, how, reason);
}

static void remove_instance(struct supervisor *sv, size_t i)
{
	struct instance *in = sv->inst[i];

	if (in == sv->current)
		sv->current = NULL;
	if (in == sv->next)
		sv->next = NULL;
	instance_cleanup(in);
	free(in);
	sv->inst[i] = sv->inst[--sv->n_inst];
}

static void reap(struct supervisor *sv)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < sv->n_inst; i++) {
			struct instance *in = sv->inst[i];

			if (in->pid != pid)
				continue;
			/* Quiet for pool instances that never served. */
			if (in->served || in->reason)
				log_end(sv, in, status);
			if (sv->cfg.recycle == RECYCLE_INTERVAL && in == sv->current &&
			    now_ms() - in->started_ms < QUICK_DEATH_MS)
				sv_backoff(sv);
			in->state = INSTANCE_DEAD;
			remove_instance(sv, i);
			break;
		}
	}
	if (sv->cfg.recycle == RECYCLE_INTERVAL && !sv->current && !sv->draining)
		start_period(sv);
	refill(sv);
}

static void begin_drain(struct supervisor *sv, const char *why)
{
	sv_log("event=drain reason=%s instances=%zu", why, count(sv, INSTANCE_BUSY));
	sv->draining = 1;
	sv->drain_deadline_ms = now_ms() + sv->m->service.grace * 1000;
	if (sv->listen_fd >= 0) {
		epoll_ctl(sv->epoll_fd, EPOLL_CTL_DEL, sv->listen_fd, NULL);
		close(sv->listen_fd);
		sv->listen_fd = -1;
	}
	while (sv->n_pending)
		close(sv->pending[--sv->n_pending].fd);
	for (size_t i = 0; i < sv->n_inst; i++) {
		struct instance *in = sv->inst[i];

		if (in->state != INSTANCE_BUSY)
			instance_kill(in, "drain");
		else if (sv->cfg.recycle == RECYCLE_INTERVAL)
			kill(in->pid, sv->m->service.stop_signal);
		else if (sv->cfg.recycle == RECYCLE_SESSION && in->active == 0)
			instance_kill(in, "drain");
	}
}

/* SIGHUP: recycle now. */
static void recycle_now(struct supervisor *sv)
{
	sv_log("event=recycle reason=sighup");
	if (sv->cfg.recycle == RECYCLE_INTERVAL) {
		start_period(sv);
		return;
	}
	for (size_t i = 0; i < sv->n_inst; i++) {
		struct instance *in = sv->inst[i];

		in->retired = 1;
		if (in->state != INSTANCE_BUSY || in->active == 0)
			instance_kill(in, "recycled");
	}
}

static void on_signals(struct supervisor *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(sv);
			break;
		case SIGTERM:
		case SIGINT:
			if (!sv->draining)
				begin_drain(sv, si.ssi_signo == SIGTERM ? "sigterm" : "sigint");
			break;
		case SIGHUP:
			recycle_now(sv);
			break;
		}
	}
}

static void check_instance(struct supervisor *sv, struct instance *in,
			   uint64_t now)
{
	uint64_t idle = sv->m->service.idle * 1000;

	if (in->deadline_ms && now >= in->deadline_ms)
		instance_kill(in, in->retired ? "recycled" : "wall");
	else if (sv->cfg.recycle == RECYCLE_SESSION && in->state == INSTANCE_BUSY &&
		 in->active == 0 && (in->retired || sv->draining ||
				     now - in->idle_since_ms >= idle))
		instance_kill(in, sv->draining ? "drain" : in->retired ? "recycled" : "idle");
}

/*
 * Connections wait in the queue only while instances are being prepared.
 * When none can be (instances fail to start), they are not kept forever.
 */
static void expire_pending(struct supervisor *sv, uint64_t now)
{
	while (sv->n_pending && now - sv->pending[0].since_ms >= PENDING_TIMEOUT_MS) {
		struct pending p = sv->pending[0];
		char ip[ADDR_MAX], port[8];

		memmove(sv->pending, sv->pending + 1,
			--sv->n_pending * sizeof(sv->pending[0]));
		format_addr(&p.remote, ip, sizeof(ip), port, sizeof(port));
		refuse(ip, port, "no-instance", p.fd);
	}
}

static void check_deadlines(struct supervisor *sv)
{
	uint64_t now = now_ms();

	expire_pending(sv, now);
	for (size_t i = 0; i < sv->n_inst; i++)
		check_instance(sv, sv->inst[i], now);
	if (sv->draining && now >= sv->drain_deadline_ms)
		for (size_t i = 0; i < sv->n_inst; i++)
			instance_kill(sv->inst[i], "drain");
	if (sv->cfg.recycle == RECYCLE_INTERVAL &&
	    ((sv->next_period_ms && now >= sv->next_period_ms) || !sv->current))
		start_period(sv);
	refill(sv);
}

/* Sleeps until the nearest deadline, at most a tick. */
static int next_timeout(const struct supervisor *sv)
{
	uint64_t next = 0;

	for (size_t i = 0; i < sv->n_inst; i++)
		if (sv->inst[i]->deadline_ms && (!next || sv->inst[i]->deadline_ms < next))
			next = sv->inst[i]->deadline_ms;
	return sv_timeout(sv, next);
}

static int watch(struct supervisor *sv, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(sv->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void loop(struct supervisor *sv)
{
	struct epoll_event ev[64];

	while (!sv->draining || sv->n_inst > 0) {
		int n = epoll_wait(sv->epoll_fd, ev, 64, next_timeout(sv));

		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &sv->signal_fd)
				on_signals(sv);
			else if (ev[i].data.ptr == &sv->listen_fd)
				accept_all(sv);
			else
				on_control(sv, ev[i].data.ptr);
		}
		if (n < 0 && errno != EINTR) {
			sv_log("event=error what=epoll_wait error=\"%s\"", strerror(errno));
			begin_drain(sv, "error");
		}
		check_deadlines(sv);
	}
}

static const char *cgroup_name(enum cgroup_version v)
{
	return v == CGROUP_V2 ? "v2" : v == CGROUP_V1 ? "v1" : "none";
}

int supervisor_serve(struct supervisor *sv)
{
	if (watch(sv, sv->signal_fd, &sv->signal_fd) < 0 ||
	    (sv->cfg.recycle != RECYCLE_INTERVAL &&
	     watch(sv, sv->listen_fd, &sv->listen_fd) < 0)) {
		sv_log("event=error what=epoll error=\"%s\"", strerror(errno));
		return 1;
	}
	sv_log("event=start image=%s listen=%s recycle=%s pool=%llu max=%llu "
	       "per-client=%llu cgroup=%s", sv->o->image, sv->listen_addr,
	       recycle_name(sv->cfg.recycle), (unsigned long long)sv->pool,
	       (unsigned long long)sv->max, (unsigned long long)sv->per_client,
	       cgroup_name(sv->cgroups.version));
	if (sv->cfg.recycle == RECYCLE_INTERVAL)
		start_period(sv);
	refill(sv);
	loop(sv);
	sv_log("event=stop");
	return 0;
}

/* imgtool run: one instance, the terminal as its stdio, its status ours. */
int supervisor_run_once(struct supervisor *sv)
{
	struct instance in;
	struct error e = { 0 };
	enum instance_msg msg;
	int status = 0;

	if (instance_spawn(&sv->cfg, 1, &in, &e) < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		return 1;
	}
	while ((msg = instance_read(&in)) == IMSG_NONE) {
		struct pollfd p = { .fd = in.ctl, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
	}
	if (msg == IMSG_READY &&
	    instance_handoff(&in, STDIN_FILENO, 0, NULL, NULL) < 0)
		instance_kill(&in, "handoff");
	while (waitpid(in.pid, &status, 0) < 0 && errno == EINTR)
		;
	/* An error the instance sent before it died (execve failed, ...). */
	if (msg == IMSG_ERROR || instance_read(&in) == IMSG_ERROR)
		fprintf(stderr, "imgsupd: %s\n", in.error);
	instance_cleanup(&in);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
