/*
 * serve.c - imgsupd's event loop for jails: the pool's operations on
 * prepared jails, their control sockets, reaping, and interval recycling
 * (see supervisor.h). What to do with connections and instances is the
 * pool's (pool.c); this file does it to jails.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "landlock.h"
#include "supervisor.h"

#define QUICK_DEATH_MS 1000
#define PENDING_TIMEOUT_MS 10000	/* a queued connection waits at most this */

/*
 * The jails' pool, and interval recycling's two instances: the one that
 * has the listening socket, and the one being prepared to take it over.
 */
struct jails {
	struct pool pool;
	struct supervisor *sv;
	int conn_epoll;		/* our copies of the connections being served */
	uint64_t next_period_ms;	/* interval: when to recycle */
	struct instance *current;	/* interval: the one with the socket */
	struct instance *next;		/* interval: the one taking over */
};

static struct jails *jails_of(struct pool *p)
{
	return pool_entry(p, struct jails, pool);
}

static struct instance *instance_of(struct pool_member *m)
{
	return pool_entry(m, struct instance, pm);
}

static int interval(const struct jails *js)
{
	return js->sv->cfg.recycle == RECYCLE_INTERVAL;
}

/* ---- the pool's operations (pool.h) ---- */

/* Clones a jail, its control socket watched; NULL (logged) if it cannot. */
static struct pool_member *jail_spawn(struct pool *p, unsigned long id)
{
	struct supervisor *sv = jails_of(p)->sv;
	struct epoll_event ev = { .events = EPOLLIN };
	struct instance *in = xcalloc(1, sizeof(*in));
	struct error e = { 0 };

	if (instance_spawn(&sv->cfg, id, in, &e) < 0) {
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
	return &in->pm;
}

/* ---- the connections being served ---- */

/*
 * Keeps c's socket as the connection of in that the instance numbers
 * in->pm.served, watched for its end (EPOLLHUP: both directions shut, or
 * reset) and its client's end (EPOLLRDHUP). One that cannot be watched is
 * closed at once: it then counts until its service process ends.
 */
static void conn_keep(struct jails *js, struct instance *in, struct pool_conn *c)
{
	struct jail_conn *jc = xcalloc(1, sizeof(*jc));
	/* EPOLLHUP and EPOLLERR come unasked: the end. EPOLLRDHUP, the
	 * client's end sent, does not end it: the service may answer still. */
	struct epoll_event ev = { .events = EPOLLRDHUP, .data.ptr = jc };

	*jc = (struct jail_conn){ .in = in, .no = in->pm.served, .fd = c->fd,
				  .since_ms = now_ms() };
	if (epoll_ctl(js->conn_epoll, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		sv_log("event=error what=epoll error=\"%s\"", strerror(errno));
		close(c->fd);
		jc->fd = -1;
	}
	in->conns = xrealloc(in->conns, (in->n_conns + 1) * sizeof(*in->conns));
	in->conns[in->n_conns++] = jc;
	c->fd = -1;
}

/* Forgets jc: out of the epoll set first (the service may still hold the
 * socket, and epoll would keep reporting it), then closed. */
static void conn_forget(struct jails *js, struct jail_conn *jc)
{
	struct instance *in = jc->in;

	if (jc->closing)
		in->pm.closing--;
	if (jc->fd >= 0) {
		epoll_ctl(js->conn_epoll, EPOLL_CTL_DEL, jc->fd, NULL);
		close(jc->fd);
	}
	for (size_t i = 0; i < in->n_conns; i++)
		if (in->conns[i] == jc) {
			in->conns[i] = in->conns[--in->n_conns];
			break;
		}
	free(jc);
}

/*
 * jc is over: its client hung up, or its service process ended. It counts
 * no more, and only then is our copy closed: a client that waits for the
 * end of its connection before it opens the next one finds the caps
 * already free.
 */
static void conn_over(struct jails *js, struct jail_conn *jc)
{
	struct pool_member *m = &jc->in->pm;

	conn_forget(js, jc);
	if (m->state == MEMBER_BUSY)
		pool_conn_done(&js->pool, m);
}

/* The connection numbered no of in, if it is not over yet. */
static struct jail_conn *conn_find(const struct instance *in, unsigned long no)
{
	for (size_t i = 0; i < in->n_conns; i++)
		if (in->conns[i]->no == no)
			return in->conns[i];
	return NULL;
}

/*
 * jc's client sent its end, its service not yet: jc still counts, but a
 * connection of its client's over a cap waits for it (pool.h, pool_accept).
 * Watched from now on only for its end.
 */
static void conn_closing(struct jails *js, struct jail_conn *jc)
{
	struct epoll_event ev = { .events = 0, .data.ptr = jc };

	if (jc->closing)
		return;
	jc->closing = 1;
	jc->in->pm.closing++;
	if (epoll_ctl(js->conn_epoll, EPOLL_CTL_MOD, jc->fd, &ev) < 0)
		sv_log("event=error what=epoll error=\"%s\"", strerror(errno));
}

/* Every connection whose client hung up or sent its end, without waiting. */
static void conns_settle(struct jails *js)
{
	struct epoll_event ev[64];
	int n;

	while ((n = epoll_wait(js->conn_epoll, ev, 64, 0)) > 0)
		for (int i = 0; i < n; i++) {
			if (ev[i].events & (EPOLLHUP | EPOLLERR))
				conn_over(js, ev[i].data.ptr);
			else
				conn_closing(js, ev[i].data.ptr);
		}
}

/*
 * Looks at jc's socket now. The kernel may hold the client's end in the
 * socket's backlog while a service process is in a call on it: reading
 * TCP_INFO takes the socket's lock, which runs the backlog.
 */
static void conn_look(struct jails *js, struct jail_conn *jc)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	struct pollfd pf = { .fd = jc->fd, .events = POLLRDHUP };

	if (jc->fd < 0)
		return;
	/* Only for its side effect: should it fail, poll() sees what it can. */
	(void)getsockopt(jc->fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	if (poll(&pf, 1, 0) <= 0)
		return;	/* nothing new, or nothing to learn (a failed poll) */
	if (pf.revents & (POLLHUP | POLLERR | POLLNVAL))
		conn_over(js, jc);
	else if (pf.revents & POLLRDHUP)
		conn_closing(js, jc);
}

/* The pool's recheck: the connections of ip's members (NULL: all). */
static void jail_recheck(struct pool *p, const char *ip)
{
	struct jails *js = jails_of(p);

	conns_settle(js);
	for (size_t i = 0; i < p->n; i++) {
		struct instance *in = instance_of(p->m[i]);

		if (p->m[i]->state != MEMBER_BUSY || (ip && strcmp(p->m[i]->client, ip)))
			continue;
		/* From the end: conn_over() takes a connection out of the array. */
		for (size_t k = in->n_conns; k-- > 0;)
			if (k < in->n_conns && !in->conns[k]->closing)
				conn_look(js, in->conns[k]);
	}
}

/*
 * Sends the connection to the jail (a session's init forks a service for
 * each; any other execs it), keeping our copy while it is served.
 */
static int jail_hand_over(struct pool *p, struct pool_member *m,
			  struct pool_conn *c)
{
	struct instance *in = instance_of(m);

	if (instance_handoff(in, c->fd, 0, &c->remote, &c->local) < 0) {
		instance_kill(in, "handoff");
		close(c->fd);
		return -1;
	}
	conn_keep(jails_of(p), in, c);
	return 0;
}

/* SIGKILL to the init takes its whole PID namespace; reap() then ends it. */
static void jail_stop(struct pool *p, struct pool_member *m, const char *reason)
{
	(void)p;
	instance_kill(instance_of(m), reason);
}

static const struct pool_ops jail_ops = {
	.spawn = jail_spawn,
	.hand_over = jail_hand_over,
	.stop = jail_stop,
	.recheck = jail_recheck,
};

/* ---- interval recycling ---- */

/* The new instance takes the socket, the old one goes after its grace. */
static void handover(struct jails *js, struct instance *in)
{
	const struct service *s = &js->sv->m->service;
	struct instance *old = js->current;
	uint64_t now = now_ms();

	if (instance_handoff(in, js->sv->listen_fd, 1, NULL, NULL) < 0) {
		instance_kill(in, "handoff");
		return;
	}
	js->current = in;
	js->next = NULL;
	js->next_period_ms = now + s->period * 1000;
	if (old) {
		old->pm.retired = 1;
		old->pm.reason = "recycled";
		kill(old->pid, s->stop_signal);
		old->pm.deadline_ms = now + s->grace * 1000;
		old->pm.deadline_reason = "recycled";
	}
	sv_log("event=handover instance=%lu old=%lu", in->pm.id,
	       old ? old->pm.id : 0);
}

/* Prepares the instance of the next period, unless one is on its way. */
static void start_period(struct jails *js)
{
	struct pool_member *m;

	if (!js->next && pool_may_spawn(&js->pool) && (m = pool_spawn(&js->pool)))
		js->next = instance_of(m);
}

/* ---- control sockets, reaping ---- */

/*
 * Whether a service that ended ms after it was given its connection, with
 * ok saying it started (see started_ok), is one that cannot run: it died
 * at once, failing. One in a row starts a backoff (pool_backoff); a
 * service that ran ends it.
 */
/*
 * Whether a wait status says the service could run: not killed by a
 * signal, and no exit status of a start that failed (125 our launch, 126
 * not executable, 127 not found or a missing library). An exit of 1 after
 * a quick answer is a service at work (a CGI's refusal, a battery's
 * blocked attack), not a crash.
 */
static int started_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) < 125;
}

static void judge_run(struct jails *js, uint64_t ms, int ok)
{
	if (!ok && ms < QUICK_DEATH_MS)
		pool_backoff(&js->pool);
	else
		pool_success(&js->pool);
}

/* A session's service process ended: its connection is over, if it was not. */
static void exited(struct jails *js, struct instance *in)
{
	struct jail_conn *jc = conn_find(in, in->exited_conn);

	if (!jc)
		return;	/* its client hung up before: already over */
	/* The first run of a session tells whether its service can run;
	 * later ones may fail for the session's own reasons (its pids). */
	if (jc->no == 1)
		judge_run(js, now_ms() - jc->since_ms, in->exited_ok);
	conn_over(js, jc);
}

static void on_control(struct jails *js, struct instance *in)
{
	switch (instance_read(in)) {
	case IMSG_READY:
		if (in->warning[0])
			sv_log("event=warning instance=%lu warning=\"%s\"",
			       in->pm.id, in->warning);
		pool_ready(&js->pool, &in->pm);
		if (interval(js) && in == js->next)
			handover(js, in);
		else
			pool_serve_queue(&js->pool);
		break;
	case IMSG_ERROR:
		sv_log("event=error instance=%lu error=\"%s\"", in->pm.id, in->error);
		instance_kill(in, "error");
		pool_backoff(&js->pool);
		break;
	case IMSG_EXITED:
		exited(js, in);
		break;
	case IMSG_NONE:
		break;
	case IMSG_BAD:
		/* The instance is not to be trusted any more. */
		epoll_ctl(js->sv->epoll_fd, EPOLL_CTL_DEL, in->ctl, NULL);
		instance_kill(in, "protocol");
		break;
	case IMSG_EOF:
		/* The init exec'd the service or died; SIGCHLD tells how. */
		epoll_ctl(js->sv->epoll_fd, EPOLL_CTL_DEL, in->ctl, NULL);
		break;
	}
}

static struct instance *find_pid(const struct jails *js, pid_t pid)
{
	for (size_t i = 0; i < js->pool.n; i++) {
		struct instance *in = instance_of(js->pool.m[i]);

		if (in->pid == pid)
			return in;
	}
	return NULL;
}

/*
 * The init's wait status as the end line shows it, in in->pm.status, and
 * the reason to give when it has none: memory when the cgroup saw an OOM
 * kill, else exit or signal. A member that never served and that we did
 * not end was ended from outside (kill -9 of its init): it gets a line
 * too, as killed (or exit, should its init have exited).
 */
static const char *end_reason(struct instance *in, int status)
{
	struct pool_member *m = &in->pm;

	if (WIFEXITED(status))
		snprintf(m->status, sizeof(m->status), "exit:%d", WEXITSTATUS(status));
	else
		snprintf(m->status, sizeof(m->status), "signal:%d", WTERMSIG(status));
	if (m->reason)
		return NULL;
	if (!m->served) {
		m->reason = WIFEXITED(status) ? "exit" : "killed";
		return NULL;
	}
	if (cgroup_oom(&in->cg))
		return "memory";
	return WIFEXITED(status) ? "exit" : "signal";
}

/*
 * An instance that served and ended on its own: whether its service could
 * run (judge_run). An interval service that dies at once would be
 * replaced at once, whatever its status.
 */
static void judge_end(struct jails *js, const struct instance *in, int status,
		      int unbidden)
{
	uint64_t ran = now_ms() - in->pm.started_ms;

	if (interval(js)) {
		if (in == js->current && ran < QUICK_DEATH_MS)
			pool_backoff(&js->pool);
	} else if (js->sv->cfg.recycle == RECYCLE_CONNECTION && unbidden) {
		judge_run(js, ran, started_ok(status));
	}
}

/* A reaped init: its end logged, its leftovers removed. */
static void ended(struct jails *js, struct instance *in, int status)
{
	int unbidden = in->pm.served && !in->pm.reason;

	/* Sealed before its end is logged, and before its client sees it. */
	if (in->pm.served)
		sv_seal_logs(js->sv);
	pool_ended(&js->pool, &in->pm, end_reason(in, status));
	judge_end(js, in, status, unbidden);
	in->pm.state = MEMBER_DEAD;
	if (in == js->current)
		js->current = NULL;
	if (in == js->next)
		js->next = NULL;
	/* Out of the pool, it counts no more: its clients may see the end. */
	while (in->n_conns)
		conn_forget(js, in->conns[0]);
	free(in->conns);
	instance_cleanup(in);
	free(in);
}

static void reap(struct jails *js)
{
	struct instance *in;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if ((in = find_pid(js, pid)))
			ended(js, in, status);
	if (interval(js) && !js->current && !js->pool.draining)
		start_period(js);
	pool_refill(&js->pool);
}

static void accept_all(struct jails *js)
{
	/*
	 * Connections whose client hung up, and instances that ended but
	 * are not reaped yet, would still count against the caps: both
	 * first, so a client that opens its next connection as soon as the
	 * last one closed is not refused.
	 */
	conns_settle(js);
	reap(js);
	pool_accept(&js->pool);
}

/* ---- signals, deadlines ---- */

static void begin_drain(struct jails *js, const char *why)
{
	pool_drain(&js->pool, why);
	/* An interval service stops on its recipe's signal, in its grace. */
	if (!interval(js))
		return;
	for (size_t i = 0; i < js->pool.n; i++)
		if (js->pool.m[i]->state == MEMBER_BUSY)
			kill(instance_of(js->pool.m[i])->pid,
			     js->sv->m->service.stop_signal);
}

/*
 * SIGHUP. A jail retired while it serves has always ended as recycled,
 * also at its wall limit (a VM's as wall): kept so.
 */
static void recycle_now(struct jails *js)
{
	pool_recycle(&js->pool);
	if (interval(js)) {
		start_period(js);
		return;
	}
	for (size_t i = 0; i < js->pool.n; i++)
		if (js->pool.m[i]->deadline_ms)
			js->pool.m[i]->deadline_reason = "recycled";
}

static void on_signals(struct jails *js)
{
	struct signalfd_siginfo si;

	while (read(js->sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(js);
			break;
		case SIGTERM:
		case SIGINT:
			if (!js->pool.draining)
				begin_drain(js, si.ssi_signo == SIGTERM ? "sigterm" : "sigint");
			break;
		case SIGHUP:
			recycle_now(js);
			break;
		}
	}
}

static void check_deadlines(struct jails *js)
{
	uint64_t now;

	pool_tick(&js->pool);
	now = now_ms();
	/* An interval service that has run a while can run: the row of
	 * failures is over. */
	if (interval(js) && js->current && js->pool.backoff_ms &&
	    now - js->current->pm.started_ms >= QUICK_DEATH_MS)
		pool_success(&js->pool);
	if (interval(js) &&
	    ((js->next_period_ms && now >= js->next_period_ms) || !js->current))
		start_period(js);
}

/* ---- the loop ---- */

static int watch(struct supervisor *sv, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(sv->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void loop(struct jails *js)
{
	struct supervisor *sv = js->sv;
	struct epoll_event ev[64];

	while (!pool_finished(&js->pool)) {
		int n = epoll_wait(sv->epoll_fd, ev, 64,
				   pool_timeout(&js->pool, js->next_period_ms));

		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == &sv->signal_fd)
				on_signals(js);
			else if (ev[i].data.ptr == &js->conn_epoll)
				conns_settle(js);
			else if (ev[i].data.ptr == &sv->listen_fd)
				accept_all(js);
			else
				on_control(js, ev[i].data.ptr);
		}
		if (n < 0 && errno != EINTR) {
			sv_log("event=error what=epoll_wait error=\"%s\"", strerror(errno));
			begin_drain(js, "error");
		}
		check_deadlines(js);
	}
}

static const char *cgroup_name(enum cgroup_version v)
{
	return v == CGROUP_V2 ? "v2" : v == CGROUP_V1 ? "v1" : "none";
}

int supervisor_serve(struct supervisor *sv)
{
	static struct jails js;	/* the pool's arrays are large for a stack */
	struct pool_config cfg;

	pool_service_config(sv, &cfg);
	cfg.queue_timeout_ms = PENDING_TIMEOUT_MS;
	cfg.accept_flags = 0;	/* the service gets a blocking socket */
	pool_init(&js.pool, sv, &jail_ops, &cfg);
	js.sv = sv;
	if ((js.conn_epoll = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    watch(sv, js.conn_epoll, &js.conn_epoll) < 0 ||
	    watch(sv, sv->signal_fd, &sv->signal_fd) < 0 ||
	    (sv->cfg.recycle != RECYCLE_INTERVAL &&
	     watch(sv, sv->listen_fd, &sv->listen_fd) < 0)) {
		sv_log("event=error what=epoll error=\"%s\"", strerror(errno));
		return 1;
	}
	sv_log("event=start image=%s listen=%s recycle=%s pool=%llu max=%llu "
	       "per-client=%llu cgroup=%s host-ids=%u-%u slices=%u landlock=%d "
	       "memfd-noexec=%s",
	       sv->o->image, sv->listen_addr,
	       recycle_name(sv->cfg.recycle), (unsigned long long)sv->pool,
	       (unsigned long long)sv->max, (unsigned long long)sv->per_client,
	       cgroup_name(sv->cgroups.version),
	       (unsigned)id_slot_uid(&sv->ids, 0),
	       (unsigned)(id_slot_uid(&sv->ids, (int)sv->ids.n - 1) + USERNS_SLICE - 1),
	       sv->ids.n, landlock_abi(), jail_has_memfd_noexec() ? "yes" : "no");
	if (interval(&js))
		start_period(&js);
	pool_refill(&js.pool);
	loop(&js);
	sv_log("event=stop");
	return 0;
}
