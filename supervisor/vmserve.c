/*
 * vmserve.c - imgsupd's loop for VM images: the pool's operations on
 * booted VMs, each used for one session (or one connection), and the relay
 * that carries each client connection over the VM's channel
 * (runtime/channel.h). What to do with connections and VMs is the pool's
 * (pool.c); this file does it to VMs.
 *
 * One thread serves: poll() over the listening socket, the signalfd, and
 * each VM's channel and client socket. Starting and destroying a domain
 * blocks for a second or more (libvirt starts qemu and virtiofsd and talks
 * to qemu's monitor), so a worker thread does both: the loop hands it a VM
 * through a pipe and gets the VM back through another when it is done.
 * While the worker has a VM, the loop does not touch it.
 *
 * libvirt reaps its own children (qemu, virtiofsd): this loop never calls
 * waitpid, and SIGCHLD is only drained from the signalfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "supervisor.h"
#include "vm.h"

#define BUFFER_LIMIT (4 * CHANNEL_FRAME_MAX)	/* per direction, per VM */
#define SESSION_QUEUE 16	/* a session's connections waiting their turn */
#define READY_TIMEOUT 600	/* s a booted VM may wait for a client */

/*
 * The budget of a guest's diagnostics ('L' frames). The guest init sends a
 * few: a failure, a warning at start, one per connection whose service
 * could not start. A compromised guest could send them as fast as the
 * channel carries them, each a line of our log. So, per VM: GUEST_LOG_BURST
 * lines at once, then one per GUEST_LOG_EVERY_MS, at most GUEST_LOG_TOTAL
 * lines in all; what is over is dropped and counted (event=warning at the
 * first drop and, with the count, when the VM ends). More than
 * GUEST_LOG_FLOOD frames within one second is no diagnostic any more: the
 * VM is ended as reason=protocol, as for a malformed frame.
 */
#define GUEST_LOG_BURST 20
#define GUEST_LOG_EVERY_MS 1000
#define GUEST_LOG_TOTAL 100
#define GUEST_LOG_FLOOD 100

struct bytes {
	uint8_t *data;
	size_t len, off;	/* data[off..len) is still to be written */
};

/*
 * pm.state: STARTING while the worker boots it (booting) and then until its
 * init says ready, READY in the pool, BUSY a client's (serving, or waiting
 * for the session's next connection), STOPPING while the worker destroys
 * it. While the worker has it, the loop does not touch it.
 */
struct vmi {
	struct pool_member pm;
	struct vm_domain d;
	int booting;		/* with the worker, being booted */
	int failed;		/* the worker could not boot it */
	struct pool_conn cur;	/* cur.fd -1: no client connection open */
	int running;		/* the guest runs a service: 'O' sent, no 'X' yet */
	int client_eof, guest_eof, shut;
	int chan_eof;		/* the guest is gone; the client is being finished */
	struct bytes to_chan, to_client;
	uint8_t in[2 * CHANNEL_FRAME_MAX];
	size_t in_len;
	/* A session's connections wait here their turn: pm.queued of them. */
	struct pool_conn queue[SESSION_QUEUE];
	/* The budget of its 'L' frames (GUEST_LOG_*). */
	unsigned log_tokens;	/* lines it may log now */
	uint64_t log_refill_ms;	/* when the next token comes */
	unsigned long log_lines;	/* logged */
	unsigned long log_dropped;	/* over the budget, not logged */
	uint64_t log_window_ms;	/* the second its frames are counted in */
	unsigned log_window_frames;
};

struct vmserve {
	struct pool pool;
	struct supervisor *sv;
	struct vm_host *host;
	int job_pipe[2], done_pipe[2];
	pthread_t worker;
	uint64_t boot_timeout_ms;
};

static struct vmserve *vs_of(struct pool *p)
{
	return pool_entry(p, struct vmserve, pool);
}

static struct vmi *vm_of(struct pool_member *m)
{
	return pool_entry(m, struct vmi, pm);
}

/* Whether the loop may touch v: not the worker's. */
static int in_loop(const struct vmi *v)
{
	return !v->booting && v->pm.state != MEMBER_STOPPING;
}

/* ---- the worker thread ---- */

static void *worker(void *arg)
{
	struct vmserve *vs = arg;
	struct vmi *v;

	while (read(vs->job_pipe[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (!v)
			break;
		if (v->booting)
			v->failed = vm_boot(vs->host, v->pm.id, &v->d) < 0;
		else
			vm_destroy(vs->host, &v->d);
		if (write(vs->done_pipe[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
			break;
	}
	return NULL;
}

static void post(struct vmserve *vs, struct vmi *v)
{
	/* A pointer is far below PIPE_BUF: the write is whole or fails. */
	if (write(vs->job_pipe[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
		sv_log("event=error what=worker error=\"%s\"", strerror(errno));
}

/* ---- ending ---- */

static void close_conn(struct pool_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Ends a VM: its connections are closed, the worker destroys the domain. */
static void stop(struct vmserve *vs, struct vmi *v, const char *reason)
{
	if (!in_loop(v))
		return;
	if (!v->pm.reason)
		v->pm.reason = reason;
	close_conn(&v->cur);
	while (v->pm.queued)
		close_conn(&v->queue[--v->pm.queued]);
	v->pm.state = MEMBER_STOPPING;
	post(vs, v);
}

/* A quoted value of a log line may not hold a double quote of its own. */
static void requote(char *s)
{
	for (; *s; s++)
		if (*s == '"')
			*s = '\'';
}

/* A guest that did not come up, with the end of its console. */
static void log_boot_error(struct vmserve *vs, struct vmi *v, char *why)
{
	char tail[600];

	vm_console_tail(vs->host, &v->d, tail, sizeof(tail));
	requote(why);
	requote(tail);
	sv_log("event=error what=boot instance=%lu error=\"%s\" console=\"%s\"",
	       v->pm.id, why, tail);
}

/* ---- the relay ---- */

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	/*
	 * Only what is still to be written is kept: the buffer stays as small
	 * as the loop lets it fill (BUFFER_LIMIT and a frame), however long
	 * the stream through it.
	 */
	if (b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	b->data = xrealloc(b->data, b->len + n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static size_t pending_bytes(const struct bytes *b)
{
	return b->len - b->off;
}

static void frame(struct vmi *v, uint8_t type, const void *p, size_t n)
{
	uint8_t head[CHANNEL_HEADER];

	channel_header(head, type, n);
	bytes_add(&v->to_chan, head, sizeof(head));
	if (n)
		bytes_add(&v->to_chan, p, n);
}

static void env_add(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, "%s=%s", name, value);
	buf_add(b, "", 1);
}

/* Sends 'O' for the connection in v->cur, with the ucspi-tcp variables. */
static void open_conn(struct vmi *v)
{
	char lip[ADDR_MAX], lport[8];
	struct buf env = { 0 };

	format_addr(&v->cur.local, lip, sizeof(lip), lport, sizeof(lport));
	env_add(&env, "PROTO", "TCP");
	env_add(&env, "TCPREMOTEIP", v->cur.ip);
	env_add(&env, "TCPREMOTEPORT", v->cur.port);
	env_add(&env, "TCPLOCALIP", lip);
	env_add(&env, "TCPLOCALPORT", lport);
	env_add(&env, "REMOTE_ADDR", v->cur.ip);
	env_add(&env, "REMOTE_PORT", v->cur.port);
	frame(v, CH_OPEN, env.data, env.len);
	buf_free(&env);
	v->pm.active = v->running = 1;
	v->client_eof = v->guest_eof = v->shut = 0;
	v->pm.served++;
	v->d.served = 1;	/* a remote VM's log disk is merged when it goes */
	snprintf(v->pm.client_port, sizeof(v->pm.client_port), "%s", v->cur.port);
	/* The wall limit counts from here (the pool sets it). */
	if (!v->pm.started_ms)
		v->pm.started_ms = now_ms();
}

/* The current connection is over: the next one of the session, or the end. */
static void conn_done(struct vmserve *vs, struct vmi *v)
{
	close_conn(&v->cur);
	pool_conn_done(&vs->pool, &v->pm);
	if (vs->pool.cfg.recycle == RECYCLE_CONNECTION || v->chan_eof) {
		stop(vs, v, "exit");	/* the guest is gone: no next connection */
	} else if (v->pm.state == MEMBER_BUSY && v->pm.queued) {
		v->cur = v->queue[0];
		memmove(v->queue, v->queue + 1, --v->pm.queued * sizeof(v->queue[0]));
		open_conn(v);
	}
}

/* Whether the budget has a line left for v now; takes it (GUEST_LOG_*). */
static int log_budget(struct vmi *v, uint64_t now)
{
	while (v->log_tokens < GUEST_LOG_BURST && now >= v->log_refill_ms) {
		v->log_tokens++;
		v->log_refill_ms += GUEST_LOG_EVERY_MS;
	}
	if (v->log_tokens == GUEST_LOG_BURST)
		v->log_refill_ms = now + GUEST_LOG_EVERY_MS;
	if (!v->log_tokens || v->log_lines >= GUEST_LOG_TOTAL)
		return 0;
	v->log_tokens--;
	v->log_lines++;
	return 1;
}

/*
 * An 'L' frame: a line of our log within the budget, else counted. -1 for
 * a flood (GUEST_LOG_FLOOD frames in a second): the protocol is broken.
 */
static int guest_log(struct vmi *v, const struct channel_frame *f)
{
	char text[GUEST_LOG_MAX + 1];
	uint64_t now = now_ms();

	if (now - v->log_window_ms >= 1000) {
		v->log_window_ms = now;
		v->log_window_frames = 0;
	}
	if (++v->log_window_frames > GUEST_LOG_FLOOD) {
		v->log_dropped++;
		sv_log("event=warning what=guest-log instance=%lu note=\"more than "
		       "%d diagnostic frames in a second: a flood\"", v->pm.id,
		       GUEST_LOG_FLOOD);
		return -1;
	}
	if (!log_budget(v, now)) {
		if (!v->log_dropped++)
			sv_log("event=warning what=guest-log instance=%lu note=\"over "
			       "the budget of %d lines, then one a second, %d in all: "
			       "further lines are dropped and counted\"", v->pm.id,
			       GUEST_LOG_BURST, GUEST_LOG_TOTAL);
		return 0;
	}
	/* The guest is not trusted: only printable bytes reach our log. */
	channel_text(f, text, sizeof(text));
	sv_log("event=guest instance=%lu message=\"%s\"", v->pm.id, text);
	return 0;
}

static void exit_status(struct vmi *v, const struct channel_frame *f)
{
	char text[32];
	size_t n = f->len < sizeof(text) - 1 ? f->len : sizeof(text) - 1;
	char *eq;

	memcpy(text, f->payload, n);
	text[n] = '\0';
	/* "exit=N" or "signal=N", shown as the jails show it: exit:N */
	if ((eq = strchr(text, '=')) && strspn(eq + 1, "0123456789") == strlen(eq + 1) &&
	    (!strncmp(text, "exit=", 5) || !strncmp(text, "signal=", 7))) {
		*eq = ':';
		snprintf(v->pm.status, sizeof(v->pm.status), "%s", text);
	} else {
		snprintf(v->pm.status, sizeof(v->pm.status), "unknown");
	}
}

/* One frame from the guest. Returns -1 when it breaks the protocol. */
static int on_frame(struct vmserve *vs, struct vmi *v, const struct channel_frame *f)
{
	switch (f->type) {
	case CH_READY:
		if (v->pm.state != MEMBER_STARTING)
			return -1;
		pool_ready(&vs->pool, &v->pm);
		pool_success(&vs->pool);	/* what failed before was the boot */
		sv_log("event=ready instance=%lu boot_ms=%llu", v->pm.id,
		       (unsigned long long)(now_ms() - v->pm.created_ms));
		return 0;
	case CH_DATA:
		if (!v->running)
			return -1;
		if (v->cur.fd >= 0)
			bytes_add(&v->to_client, f->payload, f->len);
		return 0;
	case CH_EOF:
		if (!v->running)
			return -1;
		v->guest_eof = 1;
		return 0;
	case CH_EXIT:
		if (!v->running)
			return -1;
		v->running = 0;
		v->guest_eof = 1;
		exit_status(v, f);
		return 0;
	case CH_LOG:
		return guest_log(v, f);
	default:
		return -1;	/* 'O' and 'C' go the other way */
	}
}

static void read_channel(struct vmserve *vs, struct vmi *v)
{
	struct channel_frame f;
	ssize_t n = read(v->d.chan, v->in + v->in_len, sizeof(v->in) - v->in_len);
	size_t at = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/*
		 * qemu closed the socket: the guest powered off or crashed. After
		 * its service's 'X' that is expected (a connection VM powers off):
		 * what it sent still goes to the client first. Otherwise the
		 * guest ended under a service, or between sessions: a crash.
		 */
		if (v->pm.active && !v->running)
			v->chan_eof = 1;
		else
			stop(vs, v, "crashed");
		return;
	}
	v->in_len += (size_t)n;
	for (;;) {
		ssize_t k = channel_parse(v->in + at, v->in_len - at, &f);

		if (k == 0)
			break;
		if (k < 0 || on_frame(vs, v, &f) < 0) {
			stop(vs, v, "protocol");
			return;
		}
		at += (size_t)k;
	}
	memmove(v->in, v->in + at, v->in_len - at);
	v->in_len -= at;
}

static void read_client(struct vmi *v)
{
	uint8_t buf[CHANNEL_PAYLOAD_MAX];
	ssize_t n = read(v->cur.fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		frame(v, CH_DATA, buf, (size_t)n);
	} else if (n == 0) {
		frame(v, CH_EOF, NULL, 0);
		v->client_eof = 1;
	} else {
		/* Reset by the client: the service is not needed any more. */
		frame(v, CH_CLOSE, NULL, 0);
		close_conn(&v->cur);
	}
}

static int flush(int fd, struct bytes *b)
{
	ssize_t n = send(fd, b->data + b->off, b->len - b->off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	b->off += (size_t)n;
	return 0;
}

static void write_client(struct vmi *v)
{
	if (flush(v->cur.fd, &v->to_client) < 0) {
		frame(v, CH_CLOSE, NULL, 0);
		close_conn(&v->cur);
		v->to_client.off = v->to_client.len;
	}
}

/* After every event: pass the guest's end on, and finish the connection. */
static void settle(struct vmserve *vs, struct vmi *v)
{
	if (v->pm.state != MEMBER_BUSY || !v->pm.active)
		return;
	if (v->cur.fd >= 0 && v->guest_eof && !pending_bytes(&v->to_client)) {
		if (!v->running)
			close_conn(&v->cur);
		else if (!v->shut && shutdown(v->cur.fd, SHUT_WR) == 0)
			v->shut = 1;
	}
	if (v->cur.fd < 0 && !v->running)
		conn_done(vs, v);
}

/* ---- the pool's operations (pool.h) ---- */

/* A VM for the worker to boot; the loop gets it back in on_done(). */
static struct pool_member *vm_spawn(struct pool *p, unsigned long id)
{
	struct vmi *v = xcalloc(1, sizeof(*v));

	v->pm.id = id;
	v->pm.state = MEMBER_STARTING;
	v->pm.created_ms = now_ms();
	v->booting = 1;
	v->log_tokens = GUEST_LOG_BURST;
	v->cur.fd = -1;
	v->d.chan = -1;
	post(vs_of(p), v);
	return &v->pm;
}

/*
 * A ready VM gets its first client; a session's VM the next connection of
 * its client, at once if it serves none, else in its queue (one connection
 * runs at a time over the channel).
 */
static int vm_hand_over(struct pool *p, struct pool_member *m,
			struct pool_conn *c)
{
	struct vmi *v = vm_of(m);

	(void)p;
	if (m->state == MEMBER_READY) {
		m->state = MEMBER_BUSY;
		snprintf(m->client, sizeof(m->client), "%s", c->ip);
	} else if (m->active) {
		if (m->queued >= SESSION_QUEUE) {
			pool_refuse(c, "per-client");
			return -1;
		}
		v->queue[m->queued++] = *c;
		return 0;
	}
	v->cur = *c;
	open_conn(v);
	return 0;
}

static void vm_stop(struct pool *p, struct pool_member *m, const char *reason)
{
	stop(vs_of(p), vm_of(m), reason);
}

/*
 * A remote libvirtd's VM whose log disk was made before a merge changed a
 * state area (vm_stale()) would begin its session with old state.
 */
static int vm_is_stale(struct pool *p, const struct pool_member *m)
{
	return vm_stale(vs_of(p)->host, &pool_entry(m, const struct vmi, pm)->d);
}

/* No ready message within the boot timeout: the console says why. */
static void vm_late(struct pool *p, struct pool_member *m)
{
	struct vmserve *vs = vs_of(p);
	char why[64];

	snprintf(why, sizeof(why), "no ready message in %llu s",
		 (unsigned long long)(vs->boot_timeout_ms / 1000));
	log_boot_error(vs, vm_of(m), why);
}

static const struct pool_ops vm_ops = {
	.spawn = vm_spawn,
	.hand_over = vm_hand_over,
	.stop = vm_stop,
	.stale = vm_is_stale,
	.late = vm_late,
};

/* ---- the worker's results, signals ---- */

static void free_vm(struct vmi *v)
{
	free(v->to_chan.data);
	free(v->to_client.data);
	free(v);
}

/* A VM back from the worker: destroyed, failed to boot, or booted. */
static void on_done(struct vmserve *vs)
{
	struct vmi *v;

	while (read(vs->done_pipe[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (!v->booting) {
			if (v->log_dropped)
				sv_log("event=warning what=guest-log instance=%lu "
				       "dropped=%lu", v->pm.id, v->log_dropped);
			pool_ended(&vs->pool, &v->pm, "exit");
			free_vm(v);
			continue;
		}
		v->booting = 0;
		if (v->failed) {
			log_boot_error(vs, v, v->d.err);
			pool_backoff(&vs->pool);
			v->pm.reason = "boot-failed";
			v->pm.state = MEMBER_STOPPING;
			post(vs, v);
		} else {
			/* Its init is to say ready by then, or boot-timeout. */
			v->pm.deadline_ms = now_ms() + vs->boot_timeout_ms;
		}
	}
}

static void on_signals(struct vmserve *vs)
{
	struct signalfd_siginfo si;

	while (read(vs->sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
		    !vs->pool.draining)
			pool_drain(&vs->pool, si.ssi_signo == SIGTERM ? "sigterm" : "sigint");
		else if (si.ssi_signo == SIGHUP)
			pool_recycle(&vs->pool);
		/* SIGCHLD: libvirt waits for its own children. */
	}
}

/* ---- the loop ---- */

#define POLL_MAX (3 + 3 * (MAX_INSTANCES + MAX_POOL))

struct watch {
	struct pollfd p[POLL_MAX];
	struct vmi *vm[POLL_MAX];	/* NULL: not a VM's */
	int is_chan[POLL_MAX];	/* 1: its channel, 2: its console, 0: its client */
	nfds_t n;
};

static void add(struct watch *w, int fd, short events, struct vmi *v, int chan)
{
	w->p[w->n] = (struct pollfd){ .fd = fd, .events = events };
	w->vm[w->n] = v;
	w->is_chan[w->n] = chan;
	w->n++;
}

static void build_watch(const struct vmserve *vs, struct watch *w)
{
	const struct supervisor *sv = vs->sv;

	w->n = 0;
	add(w, sv->signal_fd, POLLIN, NULL, 0);
	add(w, vs->done_pipe[0], POLLIN, NULL, 0);
	if (sv->listen_fd >= 0)
		add(w, sv->listen_fd, POLLIN, NULL, 0);
	for (size_t i = 0; i < vs->pool.n; i++) {
		struct vmi *v = vm_of(vs->pool.m[i]);
		short ev = 0;

		if (!in_loop(v))
			continue;
		/* Back-pressure: read a side only while the other can take it. */
		if (pending_bytes(&v->to_client) < BUFFER_LIMIT)
			ev |= POLLIN;
		if (pending_bytes(&v->to_chan))
			ev |= POLLOUT;
		if (!v->chan_eof)
			add(w, v->d.chan, ev, v, 1);
		/* Always drained: qemu's serial port waits for a reader. */
		if (v->d.con >= 0)
			add(w, v->d.con, POLLIN, v, 2);
		if (v->cur.fd < 0)
			continue;
		ev = 0;
		if (!v->client_eof && pending_bytes(&v->to_chan) < BUFFER_LIMIT)
			ev |= POLLIN;
		if (pending_bytes(&v->to_client))
			ev |= POLLOUT;
		/*
		 * Nothing wanted: not watched at all. A closed client would
		 * otherwise report POLLHUP on every round until the guest ends.
		 */
		if (ev)
			add(w, v->cur.fd, ev, v, 0);
	}
}

static void on_vm_event(struct vmserve *vs, struct vmi *v, int chan, short re)
{
	if (!in_loop(v))
		return;	/* stopped by an earlier event of this round */
	if (chan == 2) {
		vm_console_drain(&v->d);
		return;
	}
	if (chan) {
		if (re & POLLOUT && flush(v->d.chan, &v->to_chan) < 0)
			return stop(vs, v, "crashed");
		if (re & (POLLIN | POLLHUP | POLLERR))
			read_channel(vs, v);
	} else if (v->cur.fd >= 0) {
		if (re & POLLOUT)
			write_client(v);
		/* One end of file from the client, never a second. */
		if (v->cur.fd >= 0 && !v->client_eof && re & (POLLIN | POLLHUP | POLLERR))
			read_client(v);
	}
	settle(vs, v);
}

static void loop(struct vmserve *vs)
{
	static struct watch w;
	struct supervisor *sv = vs->sv;

	while (!pool_finished(&vs->pool)) {
		int n;

		build_watch(vs, &w);
		n = poll(w.p, w.n, pool_timeout(&vs->pool, 0));
		if (n < 0 && errno != EINTR) {
			sv_log("event=error what=poll error=\"%s\"", strerror(errno));
			if (!vs->pool.draining)
				pool_drain(&vs->pool, "error");
		}
		for (nfds_t i = 0; n > 0 && i < w.n; i++) {
			short re = w.p[i].revents;

			if (!re)
				continue;
			if (w.vm[i])
				on_vm_event(vs, w.vm[i], w.is_chan[i], re);
			else if (w.p[i].fd == sv->signal_fd)
				on_signals(vs);
			else if (w.p[i].fd == vs->done_pipe[0])
				on_done(vs);
			else if (w.p[i].fd == sv->listen_fd)
				pool_accept(&vs->pool);
		}
		pool_tick(&vs->pool);
	}
}

int vm_serve(struct supervisor *sv)
{
	static struct vmserve vs;	/* the pool's arrays are large for a stack */
	struct pool_config cfg;
	int rc = 0;

	vs.sv = sv;
	vs.host = sv->vm;
	vs.boot_timeout_ms = (sv->o->boot_timeout ? sv->o->boot_timeout : 60) * 1000;
	pool_service_config(sv, &cfg);
	/* A queued connection waits for a boot at most as long as a boot. */
	cfg.queue_timeout_ms = vs.boot_timeout_ms;
	cfg.ready_ms = (sv->o->ready_timeout ? sv->o->ready_timeout : READY_TIMEOUT) * 1000;
	cfg.on_demand = 1;	/* a pool of 0 boots per session */
	cfg.accept_flags = SOCK_NONBLOCK;	/* the relay never waits on a client */
	pool_init(&vs.pool, sv, &vm_ops, &cfg);
	if (pipe2(vs.job_pipe, O_CLOEXEC) < 0 ||
	    pipe2(vs.done_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		sv_log("event=error what=pipe error=\"%s\"", strerror(errno));
		return 1;
	}
	/* The worker inherits our blocked signals: they stay with the signalfd. */
	if ((errno = pthread_create(&vs.worker, NULL, worker, &vs))) {
		sv_log("event=error what=thread error=\"%s\"", strerror(errno));
		return 1;
	}
	sv_log("event=start image=%s listen=%s recycle=%s pool=%llu max=%llu "
	       "per-client=%llu vm=%s accel=%s", sv->o->image, sv->listen_addr,
	       recycle_name(vs.pool.cfg.recycle), (unsigned long long)sv->pool,
	       (unsigned long long)sv->max, (unsigned long long)sv->per_client,
	       vs.host->uri, vs.host->kvm ? "kvm" : "tcg");
	pool_refill(&vs.pool);
	loop(&vs);
	post(&vs, NULL);
	pthread_join(vs.worker, NULL);
	close(vs.job_pipe[0]);
	close(vs.job_pipe[1]);
	close(vs.done_pipe[0]);
	close(vs.done_pipe[1]);
	sv_log("event=stop");
	return rc;
}

int vm_attach(struct supervisor *sv, struct error *e)
{
	sv->vm = xcalloc(1, sizeof(*sv->vm));
	return vm_host_open(sv->vm, sv->image, sv->m, sv->o->connect,
			    sv->o->storage_pool, sv->run_dir,
			    sv_needs_logs(sv->m) ? sv->logs_dir : NULL, e);
}

void vm_detach(struct supervisor *sv)
{
	if (!sv->vm)
		return;
	vm_host_close(sv->vm);
	free(sv->vm);
	sv->vm = NULL;
}

