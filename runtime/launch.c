/*
 * launch.c - starting the service: the plan and its two steps (see
 * launch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>

#include "control.h"
#include "landlock.h"
#include "launch.h"

/* ---- the plan ----------------------------------------------------------- */

/* Fails with the plan emptied: nothing half-built is left to free. */
static int plan_bad(struct launch *l, struct error *e, const char *where,
		    const char *what)
{
	launch_free(l);
	return error_bad(e, "%s: %s", where, what);
}

int launch_plan(struct launch *l, const struct service *s,
		const struct writable *areas, size_t n_areas, const char *home,
		char *const *command, const char *term, struct error *e)
{
	const struct writable *stderr_area;
	const char *where = s->at.file ? s->at.file : "service";

	memset(l, 0, sizeof(*l));
	l->stderr_fd = -1;	/* launch_free() closes it */
	l->userns_fd = -1;
	if (command && command[0]) {
		for (char *const *a = command; *a; a++)
			strv_push(&l->argv, xstrdup(*a));
	} else {
		char *copy = xstrdup(s->exec ? s->exec : ""), *save = NULL;

		for (char *t = strtok_r(copy, " \t\n", &save); t;
		     t = strtok_r(NULL, " \t\n", &save))
			strv_push(&l->argv, xstrdup(t));
		free(copy);
	}
	if (!l->argv.n || l->argv.v[0][0] != '/')
		return plan_bad(l, e, where, "exec: the command must be an "
				"absolute path in the image");
	if (l->argv.n > LAUNCH_ARGS_MAX)
		return plan_bad(l, e, where, "exec: more words than "
				"LAUNCH_ARGS_MAX (256)");
	if (s->uid == 0 || s->gid == 0)
		return plan_bad(l, e, where, "the service never runs as root");
	if (!home)
		home = "/";
	strv_push(&l->env, xstrdup("PATH=" LAUNCH_PATH));
	strv_push(&l->env, xasprintf("HOME=%s", home));
	strv_push(&l->env, xasprintf("USER=%s", s->user ? s->user : ""));
	strv_push(&l->env, xasprintf("LOGNAME=%s", s->user ? s->user : ""));
	if (term)
		strv_push(&l->env, xasprintf("TERM=%s", term));
	for (size_t i = 0; i < s->n_env && i < SPEC_MAX_ENV; i++)
		strv_push(&l->env, xasprintf("%s=%s", s->env[i].name,
					     s->env[i].value));
	l->workdir = xstrdup(s->workdir ? s->workdir : home);
	l->stderr_path = s->stderr_path ? xstrdup(s->stderr_path) : NULL;
	l->uid = s->uid;
	l->gid = s->gid;
	l->limits = s->limits;
	for (size_t i = 0; i < n_areas; i++)
		strv_push(&l->writable, xstrdup(areas[i].path));
	stderr_area = writable_holding(areas, n_areas, s->stderr_path);
	l->stderr_area = stderr_area ? xstrdup(stderr_area->path) : NULL;
	return 0;
}

void launch_free(struct launch *l)
{
	strv_free(&l->argv);
	strv_free(&l->env);
	strv_free(&l->writable);
	free(l->workdir);
	free(l->stderr_path);
	free(l->stderr_area);
	l->workdir = l->stderr_path = l->stderr_area = NULL;
	if (l->stderr_fd >= 0)
		close(l->stderr_fd);
	l->stderr_fd = -1;
}

size_t launch_tcp_env(char *buf, size_t size, const char *remote_ip,
		      const char *remote_port, const char *local_ip,
		      const char *local_port)
{
	const char *vars[][2] = {
		{ "PROTO", "TCP" },
		{ "TCPREMOTEIP", remote_ip }, { "TCPREMOTEPORT", remote_port },
		{ "TCPLOCALIP", local_ip }, { "TCPLOCALPORT", local_port },
		{ "REMOTE_ADDR", remote_ip }, { "REMOTE_PORT", remote_port },
	};
	size_t len = 0;

	if (!remote_ip || !remote_ip[0])
		return 0;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		int n = snprintf(buf + len, size - len, "%s=%s", vars[i][0],
				 vars[i][1] ? vars[i][1] : "");

		if (n < 0 || (size_t)n + 1 > size - len)
			break;	/* cannot happen with addresses and ports */
		len += (size_t)n + 1;
	}
	return len;
}

/* ---- step 1: the user and the limits ------------------------------------- */

static int set_limit(int resource, uint64_t value, const char *name, char *err,
		     size_t n)
{
	struct rlimit rl = { .rlim_cur = value, .rlim_max = value };

	if (setrlimit(resource, &rl) < 0)
		return msg_errno(err, n, "setrlimit", name);
	return 0;
}

static int set_rlimits(const struct limits *l, char *err, size_t n)
{
	/* No core dumps: they would land in a writable area with our memory. */
	if (set_limit(RLIMIT_CORE, 0, "core", err, n) < 0)
		return -1;
	if (l->nofile && set_limit(RLIMIT_NOFILE, l->nofile, "nofile", err, n) < 0)
		return -1;
	if (l->cpu && set_limit(RLIMIT_CPU, l->cpu, "cpu", err, n) < 0)
		return -1;
	if (l->fsize && set_limit(RLIMIT_FSIZE, l->fsize, "fsize", err, n) < 0)
		return -1;
	return 0;
}

int launch_close_fds(const int *keep)
{
	unsigned lo = 3;

	for (;;) {
		unsigned next = ~0U;

		for (const int *k = keep; k && *k >= 0; k++)
			if ((unsigned)*k >= lo && (unsigned)*k < next)
				next = (unsigned)*k;
		if (next > lo && syscall(SYS_close_range, lo, next - 1, 0) < 0)
			return -1;
		if (next == ~0U)
			return 0;
		lo = next + 1;
	}
}

static int close_stray_fds(const int *keep, char *err, size_t n)
{
	return launch_close_fds(keep) < 0 ? msg_errno(err, n, "close_range", NULL) : 0;
}

/* Drops every capability from the bounding set, up to the kernel's last. */
static int drop_bounding_set(char *err, size_t n)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			break;	/* past the last capability this kernel knows */
		return msg_errno(err, n, "PR_CAPBSET_DROP", NULL);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return msg_errno(err, n, "PR_CAP_AMBIENT_CLEAR_ALL", NULL);
	return 0;
}

static int switch_ids(uid_t uid, gid_t gid, char *err, size_t n)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (uid == 0 || gid == 0) {
		snprintf(err, n, "refusing to run the service as root");
		return -1;
	}
	if (setgroups(1, &gid) < 0)
		return msg_errno(err, n, "setgroups", NULL);
	if (setresgid(gid, gid, gid) < 0)
		return msg_errno(err, n, "setresgid", NULL);
	if (setresuid(uid, uid, uid) < 0)
		return msg_errno(err, n, "setresuid", NULL);
	/* Read them back: a failed or partial switch must not go unnoticed. */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid) {
		snprintf(err, n, "ids did not switch to %u:%u", (unsigned)uid,
			 (unsigned)gid);
		return -1;
	}
	return 0;
}

/* The uid switch cleared effective and permitted; inheritable must go too. */
static int clear_capabilities(char *err, size_t n)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capset, &h, d) < 0)
		return msg_errno(err, n, "capset", NULL);
	if (syscall(SYS_capget, &h, d) < 0)
		return msg_errno(err, n, "capget", NULL);
	for (int i = 0; i < 2; i++) {
		if (d[i].effective || d[i].permitted || d[i].inheritable) {
			snprintf(err, n, "capabilities remain after the drop");
			return -1;
		}
	}
	return 0;
}

int launch_drop(const struct launch *l, const int *keep_fds, char *err,
		size_t errlen)
{
	if (set_rlimits(&l->limits, err, errlen) < 0)
		return -1;
	if (l->userns_fd >= 0) {
		/* As its root, with every capability in it, none outside. */
		if (setns(l->userns_fd, CLONE_NEWUSER) < 0)
			return msg_errno(err, errlen, "enter the instance's user "
					 "namespace", NULL);
		close(l->userns_fd);
	}
	if (close_stray_fds(keep_fds, err, errlen) < 0 ||
	    drop_bounding_set(err, errlen) < 0 ||
	    switch_ids(l->uid, l->gid, err, errlen) < 0 ||
	    clear_capabilities(err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return msg_errno(err, errlen, "PR_SET_NO_NEW_PRIVS", NULL);
	return 0;
}

/* ---- the stderr file ------------------------------------------------------- */

#define STDERR_ASIDE_MAX 100	/* NAME.not-a-file.1 to .99 */

static const char *type_name(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISLNK(m) ? "a symbolic link" :
	       S_ISDIR(m) ? "a directory" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a regular file";
}

/* Clears FS_APPEND_FL on fd, as set_append_only(); a file system without
 * flags has none to clear. */
static int unseal(int fd)
{
	int rc = set_append_only(fd, 0);

	return rc < 0 && (errno == ENOTTY || errno == EOPNOTSUPP) ? 0 : rc;
}

static void reseal(int fd, int was)
{
	if (was > 0)
		set_append_only(fd, 1);
}

/*
 * renameat2 in dir, NOREPLACE. A sealed log directory, or a sealed entry
 * (append-only, supervisor/seal.h), refuses every rename: as root, before
 * the drop, we lift the seals for that one rename and put them back.
 */
static int rename_in(int dir, const char *from, const char *to)
{
	int victim, was_dir, was_victim = 0, rc, saved;

	if (syscall(SYS_renameat2, dir, from, dir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	victim = open_beneath(dir, from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			      O_NOCTTY | O_CLOEXEC, 0);
	if ((was_dir = unseal(dir)) < 0 ||
	    (victim >= 0 && (was_victim = unseal(victim)) < 0)) {
		saved = errno;
		rc = -1;
	} else {
		rc = (int)syscall(SYS_renameat2, dir, from, dir, to,
				  RENAME_NOREPLACE);
		saved = errno;
	}
	if (victim >= 0) {
		reseal(victim, was_victim);
		close(victim);
	}
	reseal(dir, was_dir);
	errno = saved;
	return rc;
}

/* Renames what is at base aside; 0 and note set, or -1 with errno. */
static int move_aside(int dir, const char *base, char *note, size_t n)
{
	struct stat st;
	char aside[NAME_MAX + 1];

	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	for (int i = 1; i < STDERR_ASIDE_MAX; i++) {
		if (snprintf(aside, sizeof(aside), "%s.not-a-file.%d", base, i) >=
		    (int)sizeof(aside)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (rename_in(dir, base, aside) == 0) {
			snprintf(note, n, "%s was %s; moved aside to %s", base,
				 type_name(st.st_mode), aside);
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/* Opens base in dir for appending: a regular file, or -1 (EINVAL when it
 * opened as something else, which is closed again). */
static int open_append(int dir, const char *base, int excl)
{
	struct stat st;
	int fd = openat(dir, base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
			O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (excl ? O_EXCL : 0),
			0640);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Sets FS_APPEND_FL; a note when the file system cannot. */
static void make_append_only(int fd, const char *base, char *note, size_t n)
{
	if (set_append_only(fd, 1) >= 0)
		return;
	snprintf(note + strlen(note), n - strlen(note), "%s%s: cannot be made "
		 "append-only: %s", note[0] ? "; " : "", base, strerror(errno));
}

int launch_stderr_open(int dirfd, const char *path, uid_t uid, gid_t gid,
		       char *note, size_t notelen, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	const char *base = slash ? slash + 1 : path;
	struct stat st;
	int dir, fd;

	note[0] = '\0';
	if (slash && (size_t)(slash - path) >= sizeof(parent))
		return msg_errno(err, errlen, "stderr", path);
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	/* Not O_PATH: rename_in() may need its flags (an ioctl). */
	dir = open_beneath(dirfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		return msg_errno(err, errlen, "stderr: the directory of", path);
	fd = open_append(dir, base, 0);
	/* A link (ELOOP), a directory (EISDIR), a FIFO without a reader
	 * (ENXIO) or anything else that is no regular file (EINVAL). */
	if (fd < 0 && (errno == ELOOP || errno == EISDIR || errno == ENXIO ||
		       errno == EINVAL || errno == ETXTBSY)) {
		if (move_aside(dir, base, note, notelen) < 0) {
			close(dir);
			return msg_errno(err, errlen, "stderr: move aside", path);
		}
		fd = open_append(dir, base, 1);
	}
	close(dir);
	if (fd < 0)
		return msg_errno(err, errlen, "stderr", path);
	if (fstat(fd, &st) < 0 ||
	    ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0) ||
	    fcntl(fd, F_SETFL, O_APPEND) < 0) {
		msg_errno(err, errlen, "stderr", path);
		close(fd);
		return -1;
	}
	make_append_only(fd, base, note, notelen);
	return fd;
}

void launch_open_stderr(struct launch *l, char *note, size_t notelen)
{
	char err[LAUNCH_ERR_MAX];
	int dir;

	note[0] = '\0';
	if (!l->stderr_path)
		return;
	if (!l->stderr_area) {
		snprintf(note, notelen, "stderr %s is in no log or state area; "
			 "stderr is /dev/null", l->stderr_path);
		return;
	}
	dir = open(l->stderr_area, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0) {
		msg_errno(err, sizeof(err), "stderr: its area", l->stderr_area);
	} else {
		l->stderr_fd = launch_stderr_open(dir, l->stderr_path +
						  strlen(l->stderr_area) + 1, l->uid,
						  l->gid, note, notelen, err,
						  sizeof(err));
		close(dir);
	}
	if (l->stderr_fd < 0)
		snprintf(note, notelen, "%s; stderr is /dev/null", err);
}

void launch_reopen_stderr(struct launch *l)
{
	struct stat a, b;
	int dir, fd;

	if (l->stderr_fd < 0 || !l->stderr_area)
		return;
	dir = open(l->stderr_area, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return;
	fd = open_beneath(dir, l->stderr_path + strlen(l->stderr_area) + 1,
			  O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
			  O_CLOEXEC, 0);
	close(dir);
	if (fd < 0)
		return;
	if (fstat(fd, &a) == 0 && fstat(l->stderr_fd, &b) == 0 &&
	    S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	    fcntl(fd, F_SETFL, O_APPEND) == 0) {
		close(l->stderr_fd);
		l->stderr_fd = fd;
		return;
	}
	close(fd);
}

/* ---- step 2: the rest, then execve --------------------------------------- */

static __attribute__((noreturn)) void die(int ctl, const char *what,
					  const char *path)
{
	char err[LAUNCH_ERR_MAX];

	msg_errno(err, sizeof(err), what, path);
	ctl_tell(ctl, CTL_ERROR, err);
	_exit(125);
}

/*
 * stderr is the file launch_stderr_open() opened for every instance, or
 * /dev/null.
 */
static void setup_stdio(const struct launch *l, const struct launch_io *io,
			int ctl)
{
	int err = l->stderr_fd, in = io->conn;

	if (err < 0 && (err = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		die(ctl, "open", "/dev/null");
	if (dup2(err, STDERR_FILENO) < 0)
		die(ctl, "stderr", l->stderr_path);
	if (io->listen_fd >= 0) {
		/*
		 * The socket arrives close-on-exec; dup2 onto fd 3 clears that,
		 * but not when it already is fd 3.
		 */
		if (io->listen_fd == LAUNCH_LISTEN_FD ?
		    fcntl(io->listen_fd, F_SETFD, 0) < 0 :
		    dup2(io->listen_fd, LAUNCH_LISTEN_FD) < 0)
			die(ctl, "place the listening socket", NULL);
	}
	if (in < 0 && (in = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		die(ctl, "open", "/dev/null");
	if (dup2(in, STDIN_FILENO) < 0 || dup2(in, STDOUT_FILENO) < 0)
		die(ctl, "stdin and stdout", NULL);
}

/* The plan's environment, the connection's variables, LISTEN_*. */
static void make_env(const struct launch *l, const struct launch_io *io,
		     char **env, size_t max)
{
	size_t n = 0, extra = 0;

	for (size_t i = 0; i < l->env.n && n + 1 < max; i++)
		env[n++] = l->env.v[i];
	for (const char *p = io->extra; p && p < io->extra + io->extra_len &&
	     extra < LAUNCH_EXTRA_MAX && n + 1 < max; p += strlen(p) + 1, extra++)
		env[n++] = (char *)p;
	if (io->listen_fd >= 0 && n + 3 < max) {
		env[n++] = "LISTEN_FDS=1";
		/* The service is PID 1 of its namespace. */
		env[n++] = "LISTEN_PID=1";
	}
	env[n] = NULL;
}

/* Whether launch_drop() ran: the ids are the plan's, no_new_privs is set. */
static int dropped(const struct launch *l)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	return getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 &&
	       ru == l->uid && eu == l->uid && su == l->uid && rg == l->gid &&
	       eg == l->gid && sg == l->gid &&
	       prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

void launch_exec(const struct launch *l, const struct launch_io *io, int ctl)
{
	char *env[LAUNCH_ENV_MAX + LAUNCH_EXTRA_MAX + 3];
	char err[LAUNCH_ERR_MAX];
	sigset_t none;

	if (!dropped(l)) {
		ctl_tell(ctl, CTL_ERROR, "the service would start without its "
			 "privilege drop");
		_exit(125);
	}
	if (!l->keep_stdio)
		setup_stdio(l, io, ctl);
	if (chdir(l->workdir) < 0)
		die(ctl, "workdir", l->workdir);
	make_env(l, io, env, sizeof(env) / sizeof(env[0]));
	/* Whoever forked us may block and ignore signals for itself, not for
	 * the service: a blocked SIGTERM would make the service unstoppable. */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 ||
	    signal(SIGPIPE, SIG_DFL) == SIG_ERR)
		die(ctl, "reset the signal mask", NULL);
	/* The second wall, under the mounts: no_new_privs is set, so an
	 * unprivileged process may confine itself. A kernel without Landlock
	 * returns 0 and the service starts without it (said at start). */
	if (landlock_confine(&l->writable, l->keep_stdio, err, sizeof(err)) < 0) {
		ctl_tell(ctl, CTL_ERROR, err);
		_exit(125);
	}
	/* Filter last: nothing after it but execve, which it must allow. */
	if (seccomp_install(&l->filter) < 0)
		die(ctl, "install the seccomp filter", NULL);
	execve(l->argv.v[0], l->argv.v, env);
	die(ctl, "execve", l->argv.v[0]);
}

/* ---- the filter ----------------------------------------------------------- */

/*
 * Runs in the freshly cloned child, just before execve: no allocation, one
 * system call. prctl rather than seccomp(2) with TSYNC: the child has one
 * thread. The kernel refuses the filter (EACCES) without no_new_privs or
 * CAP_SYS_ADMIN; the runtime sets no_new_privs before.
 */
int seccomp_install(const struct seccomp_prog *p)
{
	struct sock_fprog prog = { .len = p->len, .filter = p->filter };

	if (!p->filter || !p->len) {
		errno = EINVAL;
		return -1;
	}
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
