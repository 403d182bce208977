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
 * The control socket carries, supervisor to instance: 'C' a connection
 * (SCM_RIGHTS) with its addresses, 'L' the listening socket (interval
 * recycling). Instance to supervisor: 'R' ready, 'E' an error text, 'D' a
 * session's connection ended. Everything the instance sends is checked: it
 * runs code we do not trust once the service has started.
 */
#ifndef IMGTOOL_INSTANCE_H
#define IMGTOOL_INSTANCE_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "cgroup.h"
#include "jail.h"
#include "spec.h"
#include "seccomp.h"

#define ADDR_MAX 64

/* What every instance of one supervisor shares. */
struct instance_config {
	struct jail_spec jail;
	struct seccomp_prog seccomp;
	char **argv;		/* the service's command line */
	char **env;		/* its base environment */
	const char *stderr_path;/* inside the instance, or NULL for /dev/null */
	enum recycle recycle;
	const struct cgroup_root *cgroups;
	uint64_t memory, pids;	/* cgroup limits */
	int tty;		/* imgtool run: keep the terminal as stdio */
};

enum instance_state {
	INSTANCE_STARTING,	/* cloned, setting up */
	INSTANCE_READY,		/* waiting for work in the pool */
	INSTANCE_BUSY,		/* serving */
	INSTANCE_DEAD,		/* reaped */
};

struct instance {
	unsigned long id;
	pid_t pid;
	int ctl;
	enum instance_state state;
	struct cgroup cg;
	char client[ADDR_MAX];	/* remote address, no port */
	char client_port[8];
	uint64_t created_ms, started_ms;
	uint64_t deadline_ms;	/* wall limit, 0 = none */
	uint64_t idle_since_ms;	/* session: when its last connection ended */
	unsigned active;	/* session: connections being served */
	unsigned served;	/* connections handed to it */
	int retired;		/* takes no more connections */
	const char *reason;	/* why it ended, for the log line */
	char error[JAIL_ERR_MAX];
};

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);

/* Clones and starts preparing an instance. */
int instance_spawn(const struct instance_config *cfg, unsigned long id,
		   struct instance *in, struct error *e);
/* Hands a connection (or, with listener, the listening socket) over. */
int instance_handoff(struct instance *in, int fd, int listener,
		     const struct sockaddr_storage *remote,
		     const struct sockaddr_storage *local);
/*
 * Reads one message from the instance. Returns the message type ('R', 'E',
 * 'D'), 0 on end of file, -1 on error or a malformed message.
 */
int instance_read(struct instance *in);
/* Kills the whole instance: its PID namespace dies with its init. */
void instance_kill(struct instance *in, const char *reason);
/* After the init was reaped: kills leftovers, removes the cgroup. */
void instance_cleanup(struct instance *in);

/* Formats an address as "ip" and "port" strings. */
void format_addr(const struct sockaddr_storage *ss, char *ip, size_t n,
		 char *port, size_t pn);

#endif
