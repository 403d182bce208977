/*
 * jail.h - making an instance: the mount plan, privilege drop and limits.
 *
 * jail_enter() runs in a process that was just cloned into new mount, PID,
 * IPC, UTS and network namespaces (it is PID 1 of its PID namespace), as
 * root. It mounts the instance's file systems on top of the read-only
 * image, pivots into it and detaches the old root. jail_drop() then gives up
 * every privilege in a fixed order. The seccomp filter comes last, just
 * before execve (seccomp.h).
 *
 * The same code is meant for the guest init of VM images: there the image
 * is the guest's root disk instead of a loop mount.
 *
 * Both functions run in a freshly cloned child of a single-threaded
 * supervisor: they report failure as a message in err (no stdio).
 */
#ifndef IMGTOOL_JAIL_H
#define IMGTOOL_JAIL_H

#include <stddef.h>
#include <sys/types.h>
#include "spec.h"

#define JAIL_ERR_MAX 256

struct jail_area {
	const char *path;	/* in the instance */
	enum writable_kind kind;
	const char *source;	/* log/state: host directory to bind; else NULL */
	uint64_t size;		/* scratch: tmpfs size */
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

struct jail_spec {
	const char *image;	/* where the image is mounted read-only */
	const char *hostname;
	const struct jail_area *areas;
	size_t n_areas;
	uid_t uid;		/* the service user; never 0 */
	gid_t gid;
	const struct limits *limits;
	int loopback;		/* 1: bring lo up; 0: leave it down; -1: no network
				 * namespace at all (network="host") */
};

/* Mounts and pivots (see above). Returns -1 with err set. */
int jail_enter(const struct jail_spec *s, char *err, size_t errlen);

/*
 * Drops privileges, in this order: rlimits; the capability bounding set;
 * supplementary groups; gid; uid; read the ids back; no capabilities left
 * (checked); no_new_privs. keep_fds (ending with -1) stay open, every other
 * descriptor above 2 is closed.
 */
int jail_drop(const struct jail_spec *s, const int *keep_fds, char *err,
	      size_t errlen);

/*
 * Sends one message on an instance's control socket (SOCK_SEQPACKET) to
 * whoever supervises it: a type byte and at most JAIL_ERR_MAX - 1 bytes of
 * text. An instance that cannot reach its supervisor has nothing left to
 * do: it exits with status 126.
 */
void jail_tell(int ctl, char type, const char *text);

#endif
