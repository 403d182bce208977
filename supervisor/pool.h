/*
 * pool.h - the serving policy that jails and VMs share: the pool of
 * prepared instances, admission (sessions, the caps), the queue of
 * connections that wait for an instance, backoff after failures, the
 * deadlines (ready, wall, idle, drain), draining, SIGHUP recycling and the
 * line that ends every instance.
 *
 * The pool decides; a backend (serve.c: jails, vmserve.c: VMs) carries
 * out. The pool never blocks, never reads a socket but the listening one,
 * and knows nothing of processes, domains or channels: it works on the
 * struct pool_member that each backend embeds in its own instance, and
 * asks the backend through a small table of operations (struct pool_ops).
 * The backend owns its event loop and tells the pool what happened through
 * the pool_*() calls below.
 */
#ifndef IMGTOOL_POOL_H
#define IMGTOOL_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "spec.h"

#define MAX_INSTANCES 4096	/* the largest --max and --per-client */
#define MAX_POOL 64		/* the largest --pool */
#define POOL_MEMBERS (MAX_INSTANCES + MAX_POOL)
#define MAX_PENDING 256		/* connections waiting for an instance */
#define ADDR_MAX 64

/* The backend's instance of a member: container_of for pool_member. */
#define pool_entry(m, type, field) \
	((type *)(void *)((char *)(m) - offsetof(type, field)))

enum member_state {
	MEMBER_STARTING,	/* being prepared: not ready for work yet */
	MEMBER_READY,		/* prepared, waiting in the pool for a client */
	MEMBER_BUSY,		/* a client's (or, interval, the listener's) */
	MEMBER_STOPPING,	/* its backend is ending it: the pool leaves it be */
	MEMBER_DEAD,		/* gone; pool_ended() comes next */
};

/*
 * What the pool knows of an instance. The backend embeds it, fills it as
 * the contract below says, and may read all of it; the pool writes only
 * state (pool_ready), deadline_ms and deadline_reason, idle_since_ms and
 * active (pool_conn_done), retired, and the array it keeps members in.
 */
struct pool_member {
	unsigned long id;
	enum member_state state;
	char client[ADDR_MAX];	/* its client's address, no port; "" for none */
	char client_port[8];	/* the port of its latest connection */
	uint64_t created_ms;	/* spawned */
	uint64_t started_ms;	/* its first connection; 0: none yet */
	/*
	 * 0: none. STARTING: the ready deadline (it ends as boot-timeout).
	 * READY: how long it may wait for a client (cfg.ready_ms). Later: the
	 * wall limit, or a recycled instance's grace. Past STARTING it ends
	 * with deadline_reason.
	 */
	uint64_t deadline_ms;
	const char *deadline_reason;
	uint64_t idle_since_ms;	/* when its last connection ended */
	unsigned active;	/* connections being served now */
	unsigned queued;	/* connections its backend holds for it, not yet
				   served: they count toward per-client */
	unsigned served;	/* connections it was given */
	unsigned closing;	/* of active: closed by their client (it sent
				   its end), their service still finishing */
	int retired;		/* takes no more clients (SIGHUP, interval) */
	const char *reason;	/* why it ended, for the end line; NULL: on its own */
	char status[32];	/* how it ended: "exit:0", "signal:9"; "": unknown */
};

/* A client connection, accepted and not yet any instance's. */
struct pool_conn {
	int fd;
	char ip[ADDR_MAX], port[8];
	struct sockaddr_storage remote, local;
	uint64_t since_ms;	/* accepted */
};

struct pool;

/*
 * The operations of one kind of instance. The pool calls them only from
 * the pool_*() calls of the backend's own loop thread, never from another
 * thread, and never while it walks its members in a way that an op could
 * disturb: an op may call pool_refuse(), pool_backoff() and
 * pool_conn_done(), but not pool_ended() (a member leaves the pool only
 * from the backend's own event handling) nor anything that spawns.
 */
struct pool_ops {
	/*
	 * Starts preparing a new instance, numbered id, without waiting for
	 * it (a clone, a boot posted to a worker, a restore from a snapshot).
	 * Returns its member with state STARTING, id and created_ms set, or
	 * NULL when it could not (after logging why). The backend then calls
	 * pool_ready() when the instance can take work, and pool_ended() when
	 * it is gone, whether or not it was ever ready. It may set
	 * deadline_ms meanwhile: a member still STARTING then is stopped as
	 * boot-timeout (after late()).
	 */
	struct pool_member *(*spawn)(struct pool *p, unsigned long id);
	/*
	 * Gives connection c to m: a READY member (its first client), or,
	 * session recycling, the BUSY member of c's client, whose active +
	 * queued are below per-client. The op owns c->fd from then on, taken
	 * or not. Returns 0 when m took c: m is then BUSY, with client,
	 * client_port and started_ms set, and served and active (or queued,
	 * when it serves its client's connections one at a time) counted; the
	 * pool then sets the wall deadline from started_ms. Otherwise -1,
	 * having stopped m with a reason (or refused c with pool_refuse()).
	 * The backend calls pool_conn_done() when each connection is over,
	 * before its client can see that (a jail's backend keeps a copy of
	 * the socket until then, a VM's relays it).
	 */
	int (*hand_over)(struct pool *p, struct pool_member *m,
			 struct pool_conn *c);
	/*
	 * Ends m: sets m->reason to reason unless it has one, closes its
	 * connections, and has the instance go (SIGKILL, a destroy posted).
	 * Called again for a member already ending, it changes nothing. A
	 * backend may ignore a stop it cannot act on yet (a VM the worker is
	 * still booting): the pool asks again while the cause lasts (a drain,
	 * a deadline). m leaves the pool when the backend calls pool_ended().
	 */
	void (*stop)(struct pool *p, struct pool_member *m, const char *reason);
	/*
	 * Optional. Whether a READY member may no longer begin a session (a
	 * remote VM whose state areas are older than what ended since): the
	 * pool stops it as stale and looks for another.
	 */
	int (*stale)(struct pool *p, const struct pool_member *m);
	/*
	 * Optional. A connection of client ip (NULL: of anyone) is over a
	 * cap: look again, now, at the connections that count (of ip's
	 * members, or all), and call pool_conn_done() for those that are
	 * over. The end of a connection may not have been reported yet when
	 * its client already saw it and came back.
	 */
	void (*recheck)(struct pool *p, const char *ip);
	/*
	 * Optional. m missed its ready deadline: log what the backend knows
	 * of why (a VM's console). The pool then stops it as boot-timeout.
	 */
	void (*late)(struct pool *p, struct pool_member *m);
};

/* The policy's numbers, the backend's to choose. */
struct pool_config {
	enum recycle recycle;
	uint64_t max;		/* busy members (sessions) and queued connections */
	uint64_t per_client;	/* members (connection) or connections (session) */
	uint64_t size;		/* members kept prepared */
	uint64_t wall_ms, idle_ms, grace_ms;	/* the service's limits; 0: none */
	uint64_t queue_timeout_ms;	/* a queued connection waits at most this */
	uint64_t ready_ms;	/* a READY member waits for a client at most
				   this, then ends as ready-timeout; 0: for ever */
	int on_demand;		/* prepare one more member per queued connection
				   (VMs, whose pool may be 0) */
	int accept_flags;	/* for accept4, besides SOCK_CLOEXEC */
};

struct supervisor;

struct pool {
	const struct pool_ops *ops;
	struct supervisor *sv;	/* its listening socket */
	struct pool_config cfg;
	struct pool_member *m[POOL_MEMBERS];	/* in the order they came */
	size_t n;
	struct pool_conn queue[MAX_PENDING];	/* oldest first */
	size_t n_queue;
	/* Over a cap full of connections their client closed: waiting for
	 * those to end (pool_serve_waiting), oldest first. */
	struct pool_conn waiting[MAX_PENDING];
	size_t n_waiting;
	unsigned long next_id;
	int draining;
	uint64_t drain_deadline_ms;
	uint64_t spawn_after_ms;	/* no new member before then */
	uint64_t backoff_ms;		/* after failures: 250 ms, doubling to 10 s */
	unsigned long failures;		/* in a row, since the last success */
	int crashloop;			/* 3 failures in a row: logged */
};

/*
 * The numbers the service and the options choose: recycle, max,
 * per_client, size and the limits; the rest zero, for the backend to set.
 */
void pool_service_config(const struct supervisor *sv, struct pool_config *c);
/* An empty pool; members are numbered from 1. */
void pool_init(struct pool *p, struct supervisor *sv,
	       const struct pool_ops *ops, const struct pool_config *cfg);

/* ---- what the backend's loop calls ---- */

/* One new member through ops->spawn, if the pool has room for it. */
struct pool_member *pool_spawn(struct pool *p);
/*
 * Keeps the pool full: size members prepared or ready (and, on_demand, one
 * per queued connection), within max. Not for interval recycling, whose
 * backend prepares one instance a period.
 */
void pool_refill(struct pool *p);
/*
 * Accepts every connection waiting on the listening socket and admits
 * each: to its client's session, to a ready member, to the queue, or
 * refused (max, per-client, queue, backoff). Over max or per-client only
 * because connections that their client closed have not ended yet, it
 * waits for them instead (at most queue_timeout_ms). Then refills.
 */
void pool_accept(struct pool *p);
/* Gives queued connections to ready members, oldest first; refuses those
 * that waited queue_timeout_ms (no-instance). */
void pool_serve_queue(struct pool *p);
/*
 * After every wake-up: the waiting connections, the queue, then each
 * member's deadlines (drain,
 * ready, wall or grace, idle), the end of a drain, and a refill.
 */
void pool_tick(struct pool *p);
/*
 * How long the loop may sleep: until the nearest member's deadline, the
 * end of a drain or of a backoff, or the backend's own next deadline
 * (0: none), at most a second. In milliseconds.
 */
int pool_timeout(const struct pool *p, uint64_t backend_ms);
/*
 * SIGTERM, SIGINT or a failing loop: logs event=drain, closes the
 * listening socket and the queue, stops every member that serves nobody;
 * the rest get grace_ms. The backend then stops what it still must.
 */
void pool_drain(struct pool *p, const char *why);
/*
 * SIGHUP: logs event=recycle; every member is retired, and those that
 * serve nobody are stopped (recycled). Interval recycling's members are
 * the backend's to replace: there it only logs.
 */
void pool_recycle(struct pool *p);
/* Whether the loop is done: draining, and no member left. */
int pool_finished(const struct pool *p);

/* ---- what the backend tells the pool ---- */

/* m, STARTING, is prepared: READY, with the deadline cfg.ready_ms (none
 * when 0) until a client comes. The backoff stays: the service may yet
 * fail to run in it (pool_success ends a backoff). */
void pool_ready(struct pool *p, struct pool_member *m);
/*
 * One of m's connections is over: it counts against the caps no more (a
 * connection-recycled member serves nobody then), and m is idle from now
 * when it was the last. The backend calls it before its client can see
 * the connection's end. Ending the member is the backend's (a VM's
 * connection ends with its VM; a jail's service may still finish).
 */
void pool_conn_done(struct pool *p, struct pool_member *m);
/*
 * m is gone: logs event=end (unless it never served and ended on its own,
 * a pool member nobody used), with m->reason or else fallback, and
 * m->status or "-"; then forgets m, which the backend frees.
 */
void pool_ended(struct pool *p, struct pool_member *m, const char *fallback);
/*
 * A failed start (a setup error, a service that fails right after it
 * started): no new member for 250 ms, doubling up to 10 s with each failure
 * in a row; the third in a row logs event=crashloop, once. Meanwhile a connection
 * that finds no ready member, none being prepared, is refused (backoff).
 */
void pool_backoff(struct pool *p);
/* A member did its work (a guest booted, a service ran): the row of
 * failures ends, the backoff with it; event=recovered after a crashloop. */
void pool_success(struct pool *p);
/* Whether a new member may be started now (not draining, not backing off). */
int pool_may_spawn(const struct pool *p);
/* Closes c, logged as event=refused with why. */
void pool_refuse(struct pool_conn *c, const char *why);
/* How many members are in state st. */
size_t pool_count(const struct pool *p, enum member_state st);

#endif
