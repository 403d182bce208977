/*
 * jail.h - making an instance: its mounts.
 *
 * jail_enter() runs in a process that was just cloned into new mount, PID,
 * IPC, UTS and network namespaces (it is PID 1 of its PID namespace), as
 * root. It mounts the instance's file systems on top of the read-only
 * image (its /proc with the host's state masked, a minimal /dev, the
 * writable areas), sets vm.memfd_noexec=2 for its PID namespace, pivots
 * into it and detaches the old root. How the service then
 * starts (user, limits, stdio, filter, execve) is the launch plan's
 * (launch.h).
 *
 * The same code serves the guest init of VM images: there the image is the
 * guest's root disk instead of a loop mount.
 *
 * It runs in a freshly cloned child of a single-threaded supervisor: it
 * reports failure as a message in err (no stdio).
 */
#ifndef IMGTOOL_JAIL_H
#define IMGTOOL_JAIL_H

#include <stddef.h>
#include <sys/types.h>
#include "spec.h"

#define JAIL_ERR_MAX 256

struct jail_area {
	const char *path;	/* in the instance, absolute */
	enum writable_kind kind;
	const char *source;	/* log/state: its directory, for messages (jail_enter
				   opens it as path beneath jail_spec.logs) */
	uint64_t size;		/* scratch: tmpfs size */
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

struct jail_spec {
	const char *image;	/* where the image is mounted read-only */
	const char *logs;	/* the log volume's directory: every log and state
				   area is its path beneath it; NULL without */
	const char *hostname;
	const struct jail_area *areas;
	size_t n_areas;
	int loopback;		/* 1: bring lo up; 0: leave it down; -1: no network
				 * namespace at all (network="host") */
	/*
	 * The instance's user namespace (userns.h), 0 in a VM's guest: the
	 * image and the log and state areas are mounted idmapped through
	 * userns_fd, so that a file that is uid 100's on disk is the
	 * instance's uid 100 (host uid uid_shift + 100) and what the
	 * instance's 100 makes is 100's on disk; scratch tmpfs belong to
	 * uid_shift + uid and gid_shift + gid.
	 */
	int idmap;
	int userns_fd;
	uid_t uid_shift;
	gid_t gid_shift;
};

/*
 * Mounts and pivots (see above). With s->idmap, the image is idmapped
 * first; the log and state areas are bound as they are on the volume, for
 * the instance's root to open its stderr file there (launch.h), until
 * jail_idmap_areas(). Returns -1 with err set. What it had to mend on the
 * way (jail_open_area) is in note ("" when nothing).
 */
int jail_enter(const struct jail_spec *s, char *note, size_t notelen,
	       char *err, size_t errlen);

/*
 * The directory of a log or state area, opened beneath logs (the log
 * volume's directory, as a descriptor) one component of a->path at a time,
 * through no symbolic link, magic link, mount or "..": what is bound is the
 * volume's own directory, however the volume was changed since the last
 * look (a guest's root can change a shared volume while a supervisor runs).
 * A component that is a link, a file or anything but a directory is moved
 * aside to NAME.not-a-dir.N and made anew (a parent root's, 0755; the area
 * itself with its owner and mode), and so is a missing one; note says what
 * was mended, naming the area. Returns an O_PATH descriptor of the area, or
 * -1 with err naming the area when it could not be mended.
 */
int jail_open_area(int logs, const struct jail_area *a, char *note,
		   size_t notelen, char *err, size_t errlen);

/*
 * With s->idmap, after jail_enter() and the stderr file: each log and
 * state area's bind is replaced by an idmapped clone of it (the same
 * flags: nosuid, nodev, noexec). Before it, root of the host's namespace
 * can create and chown there and set the append-only flag; through the
 * idmapped mount it could not create (its uid 0 has no id in the
 * instance's namespace). Without s->idmap it does nothing. -1 with err set.
 */
int jail_idmap_areas(const struct jail_spec *s, char *err, size_t errlen);

/*
 * Whether this kernel has vm.memfd_noexec (Linux 6.3 and later): without
 * it, jail_enter() goes on and memfds stay executable. For the
 * supervisor's and the guest init's start-up warning.
 */
int jail_has_memfd_noexec(void);

#endif
