/*
 * vmserve.c - imgsupd's loop for VM images: a pool of booted VMs, each
 * used for one session (or one connection), and the relay that carries
 * each client connection over the VM's channel (runtime/channel.h).
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
#define GUEST_LOG_MAX 200

enum vm_state {
	VM_BOOTING,	/* with the worker: overlay, domain, channel */
	VM_STARTING,	/* running, its init not ready yet */
	VM_READY,	/* in the pool */
	VM_BUSY,	/* a client's: serving or waiting for its next connection */
	VM_STOPPING,	/* with the worker: being destroyed */
};

struct conn {
	int fd;
	char ip[ADDR_MAX], port[8];
	struct sockaddr_storage remote, local;
	uint64_t since_ms;
};

struct bytes {
	uint8_t *data;
	size_t len, off;	/* data[off..len) is still to be written */
};

struct vmi {
	unsigned long id;
	enum vm_state state;
	struct vm_domain d;
	int failed;		/* the worker could not boot it */
	uint64_t created_ms, started_ms, idle_since_ms, deadline_ms;
	char client[ADDR_MAX], client_port[8];
	struct conn cur;	/* cur.fd -1: no client connection open */
	int active;		/* a connection is being served */
	int running;		/* the guest runs a service: 'O' sent, no 'X' yet */
	int client_eof, guest_eof, shut;
	int chan_eof;		/* the guest is gone; the client is being finished */
	struct bytes to_chan, to_client;
	uint8_t in[2 * CHANNEL_FRAME_MAX];
	size_t in_len;
	struct conn queue[SESSION_QUEUE];
	size_t n_queue;
	unsigned served;
	int retired;
	const char *reason;
	char status[32];
};

struct vmserve {
	struct supervisor *sv;
	struct vm_host *host;
	struct vmi *vms[MAX_INSTANCES + MAX_POOL];
	size_t n_vms;
	int job_pipe[2], done_pipe[2];
	pthread_t worker;
	uint64_t boot_timeout_ms;
};

/* ---- the worker thread ---- */

static void *worker(void *arg)
{
	struct vmserve *vs = arg;
	struct vmi *v;

	while (read(vs->job_pipe[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (!v)
			break;
		if (v->state == VM_BOOTING)
			v->failed = vm_boot(vs->host, v->id, &v->d) < 0;
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

/* ---- bookkeeping ---- */

static size_t count(const struct vmserve *vs, enum vm_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < vs->n_vms; i++)
		n += vs->vms[i]->state == st;
	return n;
}

static void stop(struct vmserve *vs, struct vmi *v, const char *reason);

/*
 * A ready VM for a new session. One whose state areas are older than what
 * ended since it was made (vm_stale(): a remote libvirtd's) would start the
 * session with state that is no longer ours: it is stopped, and the pool
 * boots a fresh one.
 */
static struct vmi *find_ready(struct vmserve *vs)
{
	for (size_t i = 0; i < vs->n_vms; i++) {
		struct vmi *v = vs->vms[i];

		if (v->state != VM_READY || v->retired)
			continue;
		if (!vm_stale(vs->host, &v->d))
			return v;
		stop(vs, v, "stale");
	}
	return NULL;
}

static struct vmi *session_of(const struct vmserve *vs, const char *ip)
{
	for (size_t i = 0; i < vs->n_vms; i++) {
		struct vmi *v = vs->vms[i];

		if (v->state == VM_BUSY && !v->retired && !strcmp(v->client, ip))
			return v;
	}
	return NULL;
}

static enum recycle recycle_of(const struct vmserve *vs)
{
	return vs->sv->m->service.recycle;
}

static void spawn(struct vmserve *vs)
{
	struct vmi *v = xcalloc(1, sizeof(*v));

	v->id = vs->sv->next_id++;
	v->state = VM_BOOTING;
	v->created_ms = now_ms();
	v->cur.fd = -1;
	v->d.chan = -1;
	vs->vms[vs->n_vms++] = v;
	post(vs, v);
}

static void refill(struct vmserve *vs)
{
	struct supervisor *sv = vs->sv;
	size_t waiting, busy;

	if (!sv_may_spawn(sv))
		return;
	waiting = count(vs, VM_BOOTING) + count(vs, VM_STARTING) + count(vs, VM_READY);
	busy = count(vs, VM_BUSY);
	/* Enough for the pool, and for connections that wait for a VM. */
	while (waiting < sv->pool + sv->n_pending &&
	       waiting + busy < sv->max + sv->pool &&
	       vs->n_vms < MAX_INSTANCES + MAX_POOL) {
		spawn(vs);
		waiting++;
	}
}

static void log_end(const struct vmserve *vs, const struct vmi *v)
{
	uint64_t from = v->started_ms ? v->started_ms : v->created_ms;

	sv_log_end(v->id, v->client, v->client_port, recycle_of(vs), v->served,
		   now_ms() - from, v->status[0] ? v->status : "-",
		   v->reason ? v->reason : "exit");
}

static void close_conn(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Ends a VM: its connections are closed, the worker destroys the domain. */
static void stop(struct vmserve *vs, struct vmi *v, const char *reason)
{
	if (v->state == VM_BOOTING || v->state == VM_STOPPING)
		return;
	if (!v->reason)
		v->reason = reason;
	close_conn(&v->cur);
	while (v->n_queue)
		close_conn(&v->queue[--v->n_queue]);
	v->state = VM_STOPPING;
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
static void log_boot_error(struct vmserve *vs, const struct vmi *v, char *why)
{
	char tail[600];

	vm_console_tail(vs->host, &v->d, tail, sizeof(tail));
	requote(why);
	requote(tail);
	sv_log("event=error what=boot instance=%lu error=\"%s\" console=\"%s\"",
	       v->id, why, tail);
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
static void open_conn(struct vmserve *vs, struct vmi *v)
{
	char lip[ADDR_MAX], lport[8];
	struct buf env = { 0 };
	uint64_t wall = vs->sv->m->service.limits.wall;

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
	v->active = v->running = 1;
	v->client_eof = v->guest_eof = v->shut = 0;
	v->served++;
	snprintf(v->client_port, sizeof(v->client_port), "%s", v->cur.port);
	if (!v->started_ms) {
		v->started_ms = now_ms();
		/* The wall limit counts from the session's first connection. */
		if (wall)
			v->deadline_ms = v->started_ms + wall * 1000;
	}
}

/* The current connection is over: the next one of the session, or the end. */
static void conn_done(struct vmserve *vs, struct vmi *v)
{
	close_conn(&v->cur);
	if (recycle_of(vs) == RECYCLE_CONNECTION || v->chan_eof) {
		stop(vs, v, "exit");
		return;
	}
	v->idle_since_ms = now_ms();
	if (v->n_queue) {
		v->cur = v->queue[0];
		memmove(v->queue, v->queue + 1, --v->n_queue * sizeof(v->queue[0]));
		open_conn(vs, v);
	}
}

static void guest_log(const struct vmi *v, const struct channel_frame *f)
{
	char text[GUEST_LOG_MAX + 1];
	size_t n = f->len < GUEST_LOG_MAX ? f->len : GUEST_LOG_MAX;

	/* The guest is not trusted: only printable bytes reach our log. */
	for (size_t i = 0; i < n; i++)
		text[i] = f->payload[i] >= 0x20 && f->payload[i] < 0x7f &&
			  f->payload[i] != '"' ? (char)f->payload[i] : '?';
	text[n] = '\0';
	sv_log("event=guest instance=%lu message=\"%s\"", v->id, text);
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
		snprintf(v->status, sizeof(v->status), "%s", text);
	} else {
		snprintf(v->status, sizeof(v->status), "unknown");
	}
}

/* One frame from the guest. Returns -1 when it breaks the protocol. */
static int on_frame(struct vmserve *vs, struct vmi *v, const struct channel_frame *f)
{
	switch (f->type) {
	case CH_READY:
		if (v->state != VM_STARTING)
			return -1;
		v->state = VM_READY;
		v->deadline_ms = 0;	/* the boot's; the wall limit comes with a client */
		vs->sv->backoff_ms = 0;
		sv_log("event=ready instance=%lu boot_ms=%llu", v->id,
		       (unsigned long long)(now_ms() - v->created_ms));
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
		guest_log(v, f);
		return 0;
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
		if (v->active && !v->running)
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
	if (v->state != VM_BUSY || !v->active)
		return;
	if (v->cur.fd >= 0 && v->guest_eof && !pending_bytes(&v->to_client)) {
		if (!v->running)
			close_conn(&v->cur);
		else if (!v->shut && shutdown(v->cur.fd, SHUT_WR) == 0)
			v->shut = 1;
	}
	if (v->cur.fd < 0 && !v->running) {
		v->active = 0;
		conn_done(vs, v);
	}
}

/* ---- accepting ---- */

static void refuse(struct conn *c, const char *why)
{
	sv_log("event=refused client=%s:%s reason=%s", c->ip, c->port, why);
	close_conn(c);
}

static void assign(struct vmserve *vs, struct vmi *v, struct conn *c)
{
	v->state = VM_BUSY;
	snprintf(v->client, sizeof(v->client), "%s", c->ip);
	v->cur = *c;
	open_conn(vs, v);
}

static size_t count_client(const struct vmserve *vs, const char *ip)
{
	size_t n = 0;

	for (size_t i = 0; i < vs->n_vms; i++)
		n += vs->vms[i]->state == VM_BUSY && !strcmp(vs->vms[i]->client, ip);
	return n;
}

/* A connection: to its client's session, a ready VM, or the queue. */
static void dispatch(struct vmserve *vs, struct conn *c)
{
	struct supervisor *sv = vs->sv;
	struct vmi *v;

	if (recycle_of(vs) == RECYCLE_SESSION && (v = session_of(vs, c->ip))) {
		if (!v->active) {
			v->cur = *c;
			open_conn(vs, v);
		} else if (v->n_queue + 1 >= sv->per_client || v->n_queue >= SESSION_QUEUE) {
			refuse(c, "per-client");
		} else {
			v->queue[v->n_queue++] = *c;
		}
		return;
	}
	if (count(vs, VM_BUSY) + sv->n_pending >= sv->max)
		return refuse(c, "max");
	if (recycle_of(vs) == RECYCLE_CONNECTION && count_client(vs, c->ip) >= sv->per_client)
		return refuse(c, "per-client");
	if ((v = find_ready(vs)))
		return assign(vs, v, c);
	if (sv->n_pending >= MAX_PENDING)
		return refuse(c, "queue");
	sv->pending[sv->n_pending++] = (struct pending){
		.fd = c->fd, .remote = c->remote, .local = c->local,
		.since_ms = now_ms() };
}

static void conn_from(struct conn *c, int fd, const struct sockaddr_storage *remote,
		      const struct sockaddr_storage *local)
{
	c->fd = fd;
	c->remote = *remote;
	c->local = *local;
	c->since_ms = now_ms();
	format_addr(remote, c->ip, sizeof(c->ip), c->port, sizeof(c->port));
}

static void accept_all(struct vmserve *vs)
{
	struct sockaddr_storage remote, local;
	struct conn c;
	int fd;

	/* Non-blocking: the relay never waits on a client. */
	while ((fd = sv_accept(vs->sv, SOCK_NONBLOCK, &remote, &local)) >= 0) {
		conn_from(&c, fd, &remote, &local);
		dispatch(vs, &c);
	}
	refill(vs);
}

/* Queued connections go to VMs that became ready, or give up in time. */
static void drain_pending(struct vmserve *vs, uint64_t now)
{
	struct supervisor *sv = vs->sv;
	struct vmi *v;

	while (sv->n_pending) {
		struct pending p = sv->pending[0];
		struct conn c;
		int expired = now - p.since_ms >= vs->boot_timeout_ms;

		if (!(v = find_ready(vs)) && !expired)
			break;
		memmove(sv->pending, sv->pending + 1,
			--sv->n_pending * sizeof(sv->pending[0]));
		conn_from(&c, p.fd, &p.remote, &p.local);
		c.since_ms = p.since_ms;
		if (v)
			assign(vs, v, &c);
		else
			refuse(&c, "no-instance");
	}
}

/* ---- the worker's results, signals, deadlines ---- */

static void remove_vm(struct vmserve *vs, struct vmi *v)
{
	for (size_t i = 0; i < vs->n_vms; i++)
		if (vs->vms[i] == v) {
			vs->vms[i] = vs->vms[--vs->n_vms];
			break;
		}
	free(v->to_chan.data);
	free(v->to_client.data);
	free(v);
}

static void on_done(struct vmserve *vs)
{
	struct vmi *v;

	while (read(vs->done_pipe[0], &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		if (v->state == VM_STOPPING) {
			log_end(vs, v);
			remove_vm(vs, v);
		} else if (v->failed) {
			log_boot_error(vs, v, v->d.err);
			sv_backoff(vs->sv);
			v->reason = "boot-failed";
			v->state = VM_STOPPING;
			post(vs, v);
		} else {
			v->state = VM_STARTING;
			v->deadline_ms = now_ms() + vs->boot_timeout_ms;
		}
	}
}

static void stop_idle(struct vmserve *vs, const char *reason)
{
	for (size_t i = 0; i < vs->n_vms; i++) {
		struct vmi *v = vs->vms[i];

		v->retired = 1;
		if (v->state == VM_STARTING || v->state == VM_READY ||
		    (v->state == VM_BUSY && !v->active))
			stop(vs, v, reason);
	}
}

static void begin_drain(struct vmserve *vs, const char *why)
{
	struct supervisor *sv = vs->sv;

	sv_log("event=drain reason=%s instances=%zu", why, count(vs, VM_BUSY));
	sv->draining = 1;
	sv->drain_deadline_ms = now_ms() + sv->m->service.grace * 1000;
	if (sv->listen_fd >= 0)
		close(sv->listen_fd);
	sv->listen_fd = -1;
	while (sv->n_pending)
		close(sv->pending[--sv->n_pending].fd);
	stop_idle(vs, "drain");
}

static void on_signals(struct vmserve *vs)
{
	struct signalfd_siginfo si;

	while (read(vs->sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) &&
		    !vs->sv->draining)
			begin_drain(vs, si.ssi_signo == SIGTERM ? "sigterm" : "sigint");
		else if (si.ssi_signo == SIGHUP) {
			sv_log("event=recycle reason=sighup");
			stop_idle(vs, "recycled");
		}
		/* SIGCHLD: libvirt waits for its own children. */
	}
}

static void check_vm(struct vmserve *vs, struct vmi *v, uint64_t now)
{
	struct supervisor *sv = vs->sv;
	char why[64];

	/* Draining: VMs that finished booting meanwhile serve nobody. */
	if (sv->draining && (v->state == VM_STARTING || v->state == VM_READY)) {
		stop(vs, v, "drain");
	} else if (v->state == VM_STARTING && now >= v->deadline_ms) {
		snprintf(why, sizeof(why), "no ready message in %llu s",
			 (unsigned long long)(vs->boot_timeout_ms / 1000));
		log_boot_error(vs, v, why);
		stop(vs, v, "boot-timeout");
	} else if (v->state == VM_BUSY && v->deadline_ms && now >= v->deadline_ms) {
		stop(vs, v, "wall");
	} else if (v->state == VM_BUSY && !v->active &&
		   (v->retired || sv->draining ||
		    now - v->idle_since_ms >= sv->m->service.idle * 1000)) {
		stop(vs, v, sv->draining ? "drain" : v->retired ? "recycled" : "idle");
	} else if (sv->draining && now >= sv->drain_deadline_ms) {
		stop(vs, v, "drain");
	}
}

static void check_deadlines(struct vmserve *vs)
{
	uint64_t now = now_ms();

	drain_pending(vs, now);
	for (size_t i = 0; i < vs->n_vms; i++)
		check_vm(vs, vs->vms[i], now);
	refill(vs);
}

static int next_timeout(const struct vmserve *vs)
{
	uint64_t next = 0;

	for (size_t i = 0; i < vs->n_vms; i++)
		if (vs->vms[i]->deadline_ms && (!next || vs->vms[i]->deadline_ms < next))
			next = vs->vms[i]->deadline_ms;
	return sv_timeout(vs->sv, next);
}

/* ---- the loop ---- */

#define POLL_MAX (3 + 2 * (MAX_INSTANCES + MAX_POOL))

struct watch {
	struct pollfd p[POLL_MAX];
	struct vmi *vm[POLL_MAX];	/* NULL: not a VM's */
	int is_chan[POLL_MAX];
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
	for (size_t i = 0; i < vs->n_vms; i++) {
		struct vmi *v = vs->vms[i];
		short ev = 0;

		if (v->state != VM_STARTING && v->state != VM_READY && v->state != VM_BUSY)
			continue;
		/* Back-pressure: read a side only while the other can take it. */
		if (pending_bytes(&v->to_client) < BUFFER_LIMIT)
			ev |= POLLIN;
		if (pending_bytes(&v->to_chan))
			ev |= POLLOUT;
		if (!v->chan_eof)
			add(w, v->d.chan, ev, v, 1);
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
	if (v->state != VM_STARTING && v->state != VM_READY && v->state != VM_BUSY)
		return;	/* stopped by an earlier event of this round */
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

	while (!sv->draining || vs->n_vms > 0) {
		int n;

		build_watch(vs, &w);
		n = poll(w.p, w.n, next_timeout(vs));
		if (n < 0 && errno != EINTR) {
			sv_log("event=error what=poll error=\"%s\"", strerror(errno));
			if (!sv->draining)
				begin_drain(vs, "error");
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
				accept_all(vs);
		}
		check_deadlines(vs);
	}
}

int vm_serve(struct supervisor *sv)
{
	struct vmserve vs = { .sv = sv, .host = sv->vm };
	int rc = 0;

	vs.boot_timeout_ms = (sv->o->boot_timeout ? sv->o->boot_timeout : 60) * 1000;
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
	       recycle_name(recycle_of(&vs)), (unsigned long long)sv->pool,
	       (unsigned long long)sv->max, (unsigned long long)sv->per_client,
	       vs.host->uri, vs.host->kvm ? "kvm" : "tcg");
	refill(&vs);
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
	return vm_host_open(sv->vm, sv->o->image, sv->m, sv->o->connect,
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

