/*
 * launch.h - how the service starts: one plan, built in one place from the
 * service spec, carried out by one function, in a jail's instance
 * (supervisor/instance.c) and in a VM's (guest/init.c) alike.
 *
 * The plan holds everything the service gets: its command line, its
 * environment, its working directory, where its stderr goes, its user, its
 * resource limits and its system-call filter. Two steps carry it out:
 *
 *   launch_drop()  the user and the limits: rlimits; the instance's user
 *                  namespace, when it has one; the capability
 *                  bounding set; supplementary groups; gid; uid; the ids
 *                  read back; no capabilities left (checked);
 *                  no_new_privs. A jail drops once, before it reports
 *                  ready; a VM's instance stays root and drops in each
 *                  service process.
 *   launch_exec()  the rest, in this order: stderr, stdin and stdout (or
 *                  the listening socket), the working directory, the
 *                  environment, the signal mask, the Landlock domain
 *                  (landlock.h: only the writable areas and /dev's
 *                  devices can be written), the filter, execve.
 *                  It refuses to go on if launch_drop() did not run.
 *
 * Both run in a freshly forked or cloned child: they allocate nothing and
 * report failure as a message (no stdio). launch_plan() runs before, in
 * the supervisor or the guest init, and may allocate.
 */
#ifndef IMGTOOL_LAUNCH_H
#define IMGTOOL_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>
#include "seccomp.h"
#include "spec.h"
#include "util.h"

#define LAUNCH_ERR_MAX 256
#define LAUNCH_ARGS_MAX 256		/* words of the command line */
#define LAUNCH_EXTRA_MAX 64		/* variables a connection adds */
#define LAUNCH_LISTEN_FD 3		/* where the listening socket goes */
/* The base environment: PATH, HOME, USER, LOGNAME, TERM, the recipe's. */
#define LAUNCH_ENV_MAX (SPEC_MAX_ENV + 5)
#define LAUNCH_PATH "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

struct launch {
	struct strv argv;	/* argv.v NULL-terminated; argv.v[0] absolute */
	struct strv env;	/* the base environment, NAME=VALUE */
	char *workdir;		/* the spec's workdir, else the home, else "/" */
	char *stderr_path;	/* in the instance; NULL: /dev/null */
	char *stderr_area;	/* the log or state area that holds it */
	int stderr_fd;		/* the file at stderr_path, opened once by
				   whoever prepares instances
				   (launch_stderr_open), or -1: /dev/null */
	uid_t uid;		/* never 0 */
	gid_t gid;
	struct limits limits;	/* nofile, cpu, fsize become rlimits */
	struct strv writable;	/* the areas' paths: the Landlock domain lets
				   the service write there and nowhere else */
	/* The compiled filter: the caller's (supervisor: compiled from the
	 * same spec; VM init: loaded from the initramfs), not freed here. */
	struct seccomp_prog filter;
	int keep_stdio;		/* imgtool run: fds 0 to 2 are already the
				   instance's and stay */
	int userns_fd;		/* -1, or the instance's user namespace
				   (userns.h), which launch_drop() enters
				   after the rlimits; set per instance */
};

/* What one start adds to the plan. */
struct launch_io {
	int conn;		/* stdin and stdout; -1: /dev/null */
	int listen_fd;		/* -1, or the listening socket: it becomes fd 3,
				   with LISTEN_FDS=1 and LISTEN_PID=1 */
	const char *extra;	/* NUL-terminated NAME=VALUE strings, one after
				   the other, extra_len bytes in all (a
				   CTL_CONN's payload); added to the plan's */
	size_t extra_len;
};

/*
 * Builds l from the service spec s and its n_areas writable areas. home is
 * the service user's home (NULL: "/"): HOME, and the working directory
 * when s has none. command, when
 * not NULL and not empty, replaces the spec's exec line (imgtool run --
 * CMD); term, when not NULL, is passed as TERM. The exec line is split on
 * blanks. Fails (status 3) when the command is empty, not an absolute
 * path, or more than LAUNCH_ARGS_MAX words, or the user is root.
 */
int launch_plan(struct launch *l, const struct service *s,
		const struct writable *areas, size_t n_areas, const char *home,
		char *const *command, const char *term, struct error *e);
/* Frees what launch_plan() allocated and closes stderr_fd. */
void launch_free(struct launch *l);

/*
 * Opens the service's stderr file, path relative to dirfd (the directory
 * of the area that holds it), once, for every instance to come: they get
 * the descriptor, never the name, so that what an earlier instance left
 * at the name cannot block (a FIFO) or silence (a symbolic link, a
 * directory) a later one. It is opened beneath dirfd without following
 * any link, non-blocking, never as a controlling terminal; anything at
 * the name that is not a regular file is renamed aside to
 * NAME.not-a-file.N and a new file made, and note (NUL-terminated, empty
 * when nothing happened) says so. A file it creates is mode 0640 and
 * uid:gid's. Then it is made append-only (FS_APPEND_FL) when the file
 * system can: no instance may truncate or rewrite what earlier ones wrote;
 * note says when that failed. Returns the descriptor (O_APPEND, blocking,
 * close-on-exec), or -1 with err set.
 */
int launch_stderr_open(int dirfd, const char *path, uid_t uid, gid_t gid,
		       char *note, size_t notelen, char *err, size_t errlen);

/*
 * In the instance, as root, after its mounts and before launch_drop():
 * opens l->stderr_path with launch_stderr_open() beneath the log or state
 * area that holds it, as the instance sees it, and keeps it as
 * l->stderr_fd for every service process to come. A file that cannot be
 * had leaves stderr_fd -1 (/dev/null): the service still starts, and note
 * says why, for the supervisor's log, as it says what was mended. note is
 * empty when there is nothing to say.
 */
void launch_open_stderr(struct launch *l, char *note, size_t notelen);

/*
 * With the areas idmapped (jail_idmap_areas), the stderr file opened
 * again through the instance's own mount of its area, so that the
 * service sees it as its own (fstat, /proc/self/fd/2): kept only when it
 * is the same file; otherwise, or when it cannot be opened, the first
 * descriptor stays (it writes as well).
 */
void launch_reopen_stderr(struct launch *l);

/*
 * Closes every descriptor above 2 that is not in keep (ending with -1, in
 * any order). 0, or -1 with errno.
 */
int launch_close_fds(const int *keep);

/*
 * The user and the limits (see above). keep_fds, ending with -1, stay
 * open; every other descriptor above 2 is closed. The rlimits come before
 * the user namespace: in it, a hard limit could only be lowered, and the
 * recipe's may be above ours. The namespace comes before the bounding
 * set, which entering it fills again. -1 with err set.
 */
int launch_drop(const struct launch *l, const int *keep_fds, char *err,
		size_t errlen);

/*
 * The rest of the plan, then execve. Never returns: a failure is told on
 * ctl (CTL_ERROR) and the process exits with status 125.
 */
__attribute__((noreturn))
void launch_exec(const struct launch *l, const struct launch_io *io, int ctl);

/*
 * The variables of a TCP connection, ucspi-tcp's (PROTO, TCPREMOTEIP,
 * TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT) and CGI's (REMOTE_ADDR,
 * REMOTE_PORT), as NUL-terminated strings into buf. Returns their length
 * in bytes; 0 when remote_ip is empty (no connection: imgtool run).
 */
size_t launch_tcp_env(char *buf, size_t size, const char *remote_ip,
		      const char *remote_port, const char *local_ip,
		      const char *local_port);

/* Installs the compiled filter in the calling thread. Needs no_new_privs. */
int seccomp_install(const struct seccomp_prog *p);

#endif
