/*
 * pool.c - the serving policy of jails and VMs alike (see pool.h).
 */
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "supervisor.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS 10000
#define CRASHLOOP_FAILURES 3	/* in a row: instances cannot start, logged */
#define TICK_MS 1000		/* the serving loops wake at least this often */

void pool_service_config(const struct supervisor *sv, struct pool_config *c)
{
	const struct service *s = &sv->m->service;

	*c = (struct pool_config){
		.recycle = s->recycle,
		.max = sv->max,
		.per_client = sv->per_client,
		.size = sv->pool,
		.wall_ms = s->limits.wall * 1000,
		.idle_ms = s->idle * 1000,
		.grace_ms = s->grace * 1000,
	};
}

void pool_init(struct pool *p, struct supervisor *sv,
	       const struct pool_ops *ops, const struct pool_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->sv = sv;
	p->cfg = *cfg;
	p->next_id = 1;
}

/* ---- counting and finding ---- */

size_t pool_count(const struct pool *p, enum member_state st)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->m[i]->state == st;
	return n;
}

/*
 * Whether m counts against the caps: a session, idle or not; under
 * connection recycling, an instance whose connection is not over. One
 * whose client is gone but that still runs (it finishes its work) counts
 * no more: its client may come back at once. It still takes its place in
 * the pool's room (pool_refill), so that their number stays bounded.
 */
static int holds_client(const struct pool *p, const struct pool_member *m)
{
	return m->state == MEMBER_BUSY &&
	       (p->cfg.recycle != RECYCLE_CONNECTION || m->active > 0);
}

/* Members that count against max (see holds_client). */
static size_t count_held(const struct pool *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += holds_client(p, p->m[i]);
	return n;
}

/* Members of one client that count: its instances, under connection recycling. */
static size_t count_client(const struct pool *p, const char *ip)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += holds_client(p, p->m[i]) && !strcmp(p->m[i]->client, ip);
	return n;
}

/* The member that serves ip's session, if it may take more. */
static struct pool_member *session_of(const struct pool *p, const char *ip)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pool_member *m = p->m[i];

		if (m->state == MEMBER_BUSY && !m->retired && !strcmp(m->client, ip))
			return m;
	}
	return NULL;
}

/*
 * A ready member for a new client. A stale one (ops->stale) would start
 * the session with state that is no longer ours: it is stopped, and the
 * pool prepares a fresh one.
 */
static struct pool_member *find_ready(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pool_member *m = p->m[i];

		if (m->state != MEMBER_READY || m->retired)
			continue;
		if (!p->ops->stale || !p->ops->stale(p, m))
			return m;
		p->ops->stop(p, m, "stale");
	}
	return NULL;
}

/* ---- spawning ---- */

/*
 * An instance that cannot start (a setup error, a service that dies at
 * once, a guest that does not boot) would otherwise be replaced in a tight
 * loop, filling the log and the log volume: new instances wait, longer
 * after each failure in a row. Only a success ends the row (pool_success):
 * an instance that gets ready and then fails is a failure too, or a
 * service that cannot run would be retried every 250 ms for ever.
 */
void pool_backoff(struct pool *p)
{
	p->failures++;
	p->backoff_ms = p->backoff_ms ? 2 * p->backoff_ms : BACKOFF_FIRST_MS;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
	p->spawn_after_ms = now_ms() + p->backoff_ms;
	sv_log("event=backoff delay_ms=%llu", (unsigned long long)p->backoff_ms);
	if (p->failures >= CRASHLOOP_FAILURES && !p->crashloop) {
		p->crashloop = 1;
		sv_log("event=crashloop failures=%lu delay_ms=%llu", p->failures,
		       (unsigned long long)p->backoff_ms);
	}
}

void pool_success(struct pool *p)
{
	if (p->crashloop)
		sv_log("event=recovered failures=%lu", p->failures);
	p->crashloop = 0;
	p->failures = 0;
	p->backoff_ms = 0;
}

int pool_may_spawn(const struct pool *p)
{
	return !p->draining && now_ms() >= p->spawn_after_ms;
}

/*
 * Whether a connection that finds no ready member has nothing to wait for:
 * none is being prepared, and failures hold new ones back. It is refused
 * then rather than left to wait out the backoff (up to 10 s) in the queue.
 */
static int nothing_coming(const struct pool *p)
{
	return p->backoff_ms && !pool_may_spawn(p) &&
	       pool_count(p, MEMBER_STARTING) == 0;
}

struct pool_member *pool_spawn(struct pool *p)
{
	struct pool_member *m;

	if (p->n >= POOL_MEMBERS)
		return NULL;
	/* A number is used up by a failed spawn too: ids are never reused. */
	if (!(m = p->ops->spawn(p, p->next_id++)))
		return NULL;
	p->m[p->n++] = m;
	return m;
}

void pool_refill(struct pool *p)
{
	size_t waiting, busy, want;

	if (!pool_may_spawn(p) || p->cfg.recycle == RECYCLE_INTERVAL)
		return;
	waiting = pool_count(p, MEMBER_STARTING) + pool_count(p, MEMBER_READY);
	busy = pool_count(p, MEMBER_BUSY);
	want = p->cfg.size + (p->cfg.on_demand ? p->n_queue : 0);
	while (waiting < want && waiting + busy < p->cfg.max + p->cfg.size &&
	       pool_spawn(p))
		waiting++;
}

/* ---- admission ---- */

void pool_refuse(struct pool_conn *c, const char *why)
{
	sv_log("event=refused client=%s:%s reason=%s", c->ip, c->port, why);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ops->hand_over, and the wall limit from the member's first connection. */
static void hand_over(struct pool *p, struct pool_member *m, struct pool_conn *c)
{
	/* A ready member's deadline was for its wait: the wall limit follows. */
	if (m->state == MEMBER_READY) {
		m->deadline_ms = 0;
		m->deadline_reason = NULL;
	}
	if (p->ops->hand_over(p, m, c) < 0)
		return;
	if (p->cfg.wall_ms && !m->deadline_ms) {
		m->deadline_ms = m->started_ms + p->cfg.wall_ms;
		m->deadline_reason = "wall";
	}
}

/* Connections of members that count (of ip's, or all: NULL) whose client
 * hung up while their service still finishes. */
static unsigned count_closing(const struct pool *p, const char *ip)
{
	unsigned n = 0;

	for (size_t i = 0; i < p->n; i++)
		if (holds_client(p, p->m[i]) && (!ip || !strcmp(p->m[i]->client, ip)))
			n += p->m[i]->closing;
	return n;
}

/*
 * Admits c: to its client's session, a ready member, or the queue. NULL
 * when done so; else why it may not come in now (max, per-client,
 * backoff, queue), c untouched.
 */
static const char *admit(struct pool *p, struct pool_conn *c)
{
	const struct pool_config *cfg = &p->cfg;
	struct pool_member *m;

	if (cfg->recycle == RECYCLE_SESSION && (m = session_of(p, c->ip))) {
		if (m->active + m->queued >= cfg->per_client)
			return "per-client";
		hand_over(p, m, c);
		return NULL;
	}
	if (count_held(p) + p->n_queue >= cfg->max)
		return "max";
	if (cfg->recycle == RECYCLE_CONNECTION && count_client(p, c->ip) >= cfg->per_client)
		return "per-client";
	if ((m = find_ready(p))) {
		hand_over(p, m, c);
		return NULL;
	}
	if (nothing_coming(p))
		return "backoff";
	if (p->n_queue >= MAX_PENDING)
		return "queue";
	p->queue[p->n_queue++] = *c;
	return NULL;
}

/*
 * Whether c, over a cap (why), is to wait rather than be refused: the cap
 * is full only of connections that their client has closed (as far as we
 * can see: it sent its end), whose service is finishing. From the client's
 * side it is under its cap; its connection waits for them to end.
 */
static int may_wait(const struct pool *p, const struct pool_conn *c, const char *why)
{
	if (!strcmp(why, "per-client"))
		return count_closing(p, c->ip) > 0;
	/* Under session recycling max counts sessions, which stay. */
	if (!strcmp(why, "max") && p->cfg.recycle == RECYCLE_CONNECTION)
		return count_closing(p, NULL) > 0;
	return 0;
}

static void dispatch(struct pool *p, struct pool_conn *c)
{
	const char *why = admit(p, c);

	if (!why)
		return;
	/* Over a cap: the backend may not have seen the end of connections
	 * that are over by now. */
	if (p->ops->recheck && (!strcmp(why, "per-client") || !strcmp(why, "max"))) {
		p->ops->recheck(p, strcmp(why, "max") ? c->ip : NULL);
		if (!(why = admit(p, c)))
			return;
	}
	if (may_wait(p, c, why) && p->n_waiting < MAX_PENDING) {
		p->waiting[p->n_waiting++] = *c;
		return;
	}
	pool_refuse(c, why);
}

/*
 * The connections waiting for connections of theirs to end, again: in
 * when a cap lets them, on waiting while the cap is full of closed ones,
 * refused when it is not or after queue_timeout_ms.
 */
static void serve_waiting(struct pool *p, uint64_t now)
{
	size_t n = p->n_waiting, kept = 0;

	p->n_waiting = 0;	/* admit() may not add to it: it never does */
	for (size_t i = 0; i < n; i++) {
		struct pool_conn c = p->waiting[i];
		const char *why = admit(p, &c);

		if (!why)
			continue;
		if (may_wait(p, &c, why) && now - c.since_ms < p->cfg.queue_timeout_ms)
			p->waiting[kept++] = c;
		else
			pool_refuse(&c, why);
	}
	p->n_waiting = kept;
}

void pool_accept(struct pool *p)
{
	struct pool_conn c;
	int fd;

	while ((fd = sv_accept(p->sv, p->cfg.accept_flags, &c.remote, &c.local)) >= 0) {
		c.fd = fd;
		c.since_ms = now_ms();
		format_addr(&c.remote, c.ip, sizeof(c.ip), c.port, sizeof(c.port));
		dispatch(p, &c);
	}
	pool_refill(p);
}

static struct pool_conn dequeue(struct pool *p)
{
	struct pool_conn c = p->queue[0];

	memmove(p->queue, p->queue + 1, --p->n_queue * sizeof(p->queue[0]));
	return c;
}

/*
 * Connections wait in the queue only while members are being prepared.
 * When none can be (instances fail to start), they are not kept forever:
 * refused at once while failures hold new members back, else after
 * queue_timeout_ms.
 */
static void serve_queue(struct pool *p, uint64_t now)
{
	while (p->n_queue) {
		struct pool_member *m = find_ready(p);
		struct pool_conn c;
		int none = !m && nothing_coming(p);

		if (!m && !none && now - p->queue[0].since_ms < p->cfg.queue_timeout_ms)
			break;
		c = dequeue(p);
		if (m)
			hand_over(p, m, &c);
		else
			pool_refuse(&c, none ? "backoff" : "no-instance");
	}
}

void pool_serve_queue(struct pool *p)
{
	serve_queue(p, now_ms());
}


/* ---- what the backend tells ---- */

void pool_ready(struct pool *p, struct pool_member *m)
{
	m->state = MEMBER_READY;
	/*
	 * The start deadline is met. A member that then waits for ever would
	 * hold its resources, and whatever it does meanwhile, unwatched by any
	 * wall limit (that comes with a client): it waits cfg.ready_ms at most,
	 * and a fresh one takes its place.
	 */
	m->deadline_ms = 0;
	if (p->cfg.ready_ms) {
		m->deadline_ms = now_ms() + p->cfg.ready_ms;
		m->deadline_reason = "ready-timeout";
	}
}

void pool_conn_done(struct pool *p, struct pool_member *m)
{
	(void)p;
	if (m->active && --m->active == 0)
		m->idle_since_ms = now_ms();
}

void pool_ended(struct pool *p, struct pool_member *m, const char *fallback)
{
	uint64_t from = m->started_ms ? m->started_ms : m->created_ms;

	/* Quiet for pool members that never served and ended on their own. */
	if (m->served || m->reason)
		sv_log_end(m->id, m->client, m->client_port, p->cfg.recycle,
			   m->served, now_ms() - from, m->status[0] ? m->status : "-",
			   m->reason ? m->reason : fallback);
	for (size_t i = 0; i < p->n; i++)
		if (p->m[i] == m) {
			p->m[i] = p->m[--p->n];
			break;
		}
}

/* ---- draining, recycling ---- */

/* A member that serves nobody now: preparing, ready, or an idle session. */
static int serves_nobody(const struct pool_member *m)
{
	return m->state != MEMBER_BUSY || m->active == 0;
}

/* Stops every member that serves nobody; the others finish first. */
static void stop_idle(struct pool *p, const char *reason)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pool_member *m = p->m[i];

		if (m->state != MEMBER_STOPPING && serves_nobody(m))
			p->ops->stop(p, m, reason);
	}
}

void pool_drain(struct pool *p, const char *why)
{
	sv_log("event=drain reason=%s instances=%zu", why, pool_count(p, MEMBER_BUSY));
	p->draining = 1;
	p->drain_deadline_ms = now_ms() + p->cfg.grace_ms;
	sv_close_listener(p->sv);
	while (p->n_queue)
		close(p->queue[--p->n_queue].fd);
	while (p->n_waiting)
		close(p->waiting[--p->n_waiting].fd);
	stop_idle(p, "drain");
}

void pool_recycle(struct pool *p)
{
	sv_log("event=recycle reason=sighup");
	if (p->cfg.recycle == RECYCLE_INTERVAL)
		return;
	for (size_t i = 0; i < p->n; i++)
		p->m[i]->retired = 1;
	stop_idle(p, "recycled");
}

int pool_finished(const struct pool *p)
{
	return p->draining && p->n == 0;
}

/* ---- deadlines ---- */

/* A session member with no connection that is to go: retired, draining, idle. */
static const char *idle_end(const struct pool *p, const struct pool_member *m,
			    uint64_t now)
{
	if (p->cfg.recycle != RECYCLE_SESSION || m->state != MEMBER_BUSY || m->active)
		return NULL;
	if (p->draining)
		return "drain";
	if (m->retired)
		return "recycled";
	return now - m->idle_since_ms >= p->cfg.idle_ms ? "idle" : NULL;
}

static void check_member(struct pool *p, struct pool_member *m, uint64_t now)
{
	const char *why;

	if (m->state == MEMBER_STOPPING || m->state == MEMBER_DEAD)
		return;
	/* Draining: members that got ready meanwhile serve nobody. */
	if (p->draining && (m->state == MEMBER_STARTING || m->state == MEMBER_READY)) {
		p->ops->stop(p, m, "drain");
	} else if (m->deadline_ms && now >= m->deadline_ms) {
		if (m->state != MEMBER_STARTING) {
			p->ops->stop(p, m, m->deadline_reason ? m->deadline_reason : "wall");
			return;
		}
		if (p->ops->late)
			p->ops->late(p, m);
		p->ops->stop(p, m, "boot-timeout");
	} else if ((why = idle_end(p, m, now))) {
		p->ops->stop(p, m, why);
	}
}

void pool_tick(struct pool *p)
{
	uint64_t now = now_ms();

	serve_waiting(p, now);
	serve_queue(p, now);
	for (size_t i = 0; i < p->n; i++)
		check_member(p, p->m[i], now);
	/* The grace is over: whoever still serves is stopped. */
	if (p->draining && now >= p->drain_deadline_ms)
		for (size_t i = 0; i < p->n; i++)
			if (p->m[i]->state != MEMBER_STOPPING)
				p->ops->stop(p, p->m[i], "drain");
	pool_refill(p);
}

int pool_timeout(const struct pool *p, uint64_t backend_ms)
{
	uint64_t now = now_ms(), next = now + TICK_MS;

	/*
	 * Deadlines already past were acted on by pool_tick(), which runs
	 * first; a member they stopped is still going (a VM being destroyed,
	 * a jail not reaped yet). Counting them would wake the loop at once,
	 * again and again, until it is gone: the tick is soon enough.
	 */
	for (size_t i = 0; i < p->n; i++)
		if (p->m[i]->deadline_ms > now && p->m[i]->deadline_ms < next)
			next = p->m[i]->deadline_ms;
	if (backend_ms > now && backend_ms < next)
		next = backend_ms;
	if (p->draining && p->drain_deadline_ms > now && p->drain_deadline_ms < next)
		next = p->drain_deadline_ms;
	if (p->spawn_after_ms > now && p->spawn_after_ms < next)
		next = p->spawn_after_ms;
	for (size_t i = 0; i < p->n_waiting; i++) {
		uint64_t t = p->waiting[i].since_ms + p->cfg.queue_timeout_ms;

		if (t > now && t < next)
			next = t;
	}
	return next > now ? (int)(next - now) : 0;
}
