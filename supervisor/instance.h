/*
 * instance.h - one instance: a prepared jail and its life.
 *
 * An instance is made ahead of need: cloned into fresh namespaces, placed in
 * its own cgroup, its mounts made, pivoted into the image, stripped of every
 * privilege. It then waits on its control socket for work. Handing it a
 * connection costs one sendmsg; the instance installs its seccomp filter,
 * sets up stdio and execs the service. That keeps the work of making a jail
 * off the connection's path (DESIGN.md, "a pool of prepared jails").
 *
 * The control socket speaks runtime/control.h. Everything the instance
 * sends is checked: it runs code we do not trust once the service has
 * started.
 */
#ifndef IMGTOOL_INSTANCE_H
#define IMGTOOL_INSTANCE_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "cgroup.h"
#include "jail.h"
#include "launch.h"
#include "pool.h"
#include "spec.h"
#include "userns.h"

/* What every instance of one supervisor shares. */
struct instance_config {
	struct jail_spec jail;	/* the mounts */
	struct launch plan;	/* how the service starts (plan.filter: the
				   compiled seccomp filter) */
	enum recycle recycle;
	const struct cgroup_root *cgroups;
	uint64_t memory, pids;	/* cgroup limits */
	int run;		/* imgtool run: one service, its fds 0-2
				   stdio[], which it takes when cloned */
	int stdio[3];
	int run_pty;		/* run: stdio[] is a pty, the service's
				   controlling terminal */
	struct id_claim *ids;	/* the supervisor's slices of host ids: each
				   live instance gets one, and a user
				   namespace of its own mapped to it */
};

/*
 * pm: what the pool knows of it (pool.h). pm.state goes STARTING (cloned,
 * setting up), READY (waiting for work), BUSY (serving), DEAD (reaped);
 * a jail is never STOPPING: a killed one keeps its state until reaped.
 */
struct instance;

/*
 * A connection the instance serves, as the supervisor keeps it (serve.c):
 * its own copy of the client's socket, held until the connection counts no
 * more. The client cannot see the end of a connection whose service closes
 * or exits before our copy is closed, so it cannot come back before the
 * caps have let go of the connection.
 */
struct jail_conn {
	struct instance *in;
	unsigned long no;	/* the instance's CTL_CONN number, from 1 */
	int fd;
	uint64_t since_ms;	/* handed over */
	int closing;		/* its client sent its end (counted in pm.closing) */
};

struct instance {
	struct pool_member pm;
	pid_t pid;
	int ctl;
	struct cgroup cg;
	char error[JAIL_ERR_MAX];
	char warning[JAIL_ERR_MAX];	/* CTL_READY's text: what it mended */
	struct jail_conn **conns;	/* the connections it serves now */
	size_t n_conns;
	/* IMSG_EXITED: which connection's service process ended, and how */
	unsigned long exited_conn;
	int exited_ok;		/* exit=N, N < 125: it started */
	struct id_claim *ids;	/* where its slice goes back (cleanup) */
	int id_slot;		/* its slice of ids, -1 none */
};

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);

/*
 * Clones and starts preparing an instance, in a user namespace of its own
 * whose ids are a free slice of cfg->ids (userns.h); none free is an
 * error, as a failed clone.
 */
int instance_spawn(const struct instance_config *cfg, unsigned long id,
		   struct instance *in, struct error *e);
/* Hands a connection (or, with listener, the listening socket) over. */
int instance_handoff(struct instance *in, int fd, int listener,
		     const struct sockaddr_storage *remote,
		     const struct sockaddr_storage *local);
/* What instance_read() found. */
enum instance_msg {
	IMSG_NONE,	/* nothing waits */
	IMSG_EOF,	/* the instance closed its end: it died or exec'd */
	IMSG_BAD,	/* a message out of turn or malformed: kill it */
	IMSG_READY,	/* CTL_READY: the instance is in the pool */
	IMSG_ERROR,	/* CTL_ERROR: in->error says why it cannot go on */
	IMSG_EXITED,	/* CTL_EXITED: the service process of a session's
			   connection exited_conn ended (exited_ok: it started) */
};

/* Reads one message from the instance, without waiting, and checks it. */
enum instance_msg instance_read(struct instance *in);
/* Kills the whole instance: its PID namespace dies with its init. */
void instance_kill(struct instance *in, const char *reason);
/* After the init was reaped: kills leftovers, removes the cgroup. */
void instance_cleanup(struct instance *in);

/* Formats an address as "ip" and "port" strings. */
void format_addr(const struct sockaddr_storage *ss, char *ip, size_t n,
		 char *port, size_t pn);

#endif
