/*
 * res.c - resources: more processes, threads, memory, files, CPU time,
 * scratch and log space than the recipe allows, raising rlimits, a request
 * that never ends, and a process left behind the instance. The limits are
 * the recipe's, given as the argument (the battery cannot read the recipe);
 * an attack escapes when it gets past them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "breakout.h"

static long limit_of(const char *a)
{
	char *end;
	long v;

	if (!a)
		return -1;
	v = strtol(a, &end, 10);
	return *end || v <= 0 ? -1 : v;
}

/* Forks sleepers until fork fails or the count passes the limit. Every
 * process of the instance counts: the init (the jail's PID 1, which is in
 * the same cgroup, or not: we count it, in doubt), ourselves, the children. */
static int fork_bomb(const char *n, const char *a)
{
	long limit = limit_of(a), made = 0;
	pid_t *kids;
	int err = 0;

	if (limit < 0)
		return harness(n, "needs the pids limit as its argument");
	kids = calloc((size_t)limit + 8, sizeof(*kids));
	if (!kids)
		return harness(n, "calloc");
	fflush(NULL);
	while (made < limit + 8) {
		pid_t pid = fork();

		if (pid == 0) {
			for (;;)
				pause();
		}
		if (pid < 0) {
			err = errno;
			break;
		}
		kids[made++] = pid;
	}
	for (long i = 0; i < made; i++)
		kill(kids[i], SIGKILL);
	for (long i = 0; i < made; i++)
		waitpid(kids[i], NULL, 0);
	if (made + 1 > limit)
		return escaped(n, "%ld processes with a limit of %ld", made + 1, limit);
	char how[96];
	snprintf(how, sizeof(how), "fork after %ld processes", made + 1);
	return blocked(n, how, err);
}

static void *parked(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int thread_bomb(const char *n, const char *a)
{
	long limit = limit_of(a), made = 0;
	pthread_attr_t attr;
	int err = 0;

	if (limit < 0)
		return harness(n, "needs the pids limit as its argument");
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	while (made < limit + 8) {
		pthread_t t;

		err = pthread_create(&t, &attr, parked, NULL);
		if (err)
			break;
		made++;
	}
	/* the threads die with the process, which exits after the line */
	if (made + 1 > limit)
		return escaped(n, "%ld threads with a limit of %ld", made + 1, limit);
	char how[96];
	snprintf(how, sizeof(how), "pthread_create after %ld threads", made + 1);
	return blocked(n, how, err);
}

/*
 * A child touches memory a MiB at a time and tells the parent each MiB over
 * a pipe; the cgroup's OOM killer ends it (or malloc fails). Escaped if it
 * touched more than the limit.
 */
static int memory_bomb(const char *n, const char *a)
{
	long limit = limit_of(a), got_mib = 0;
	int p[2], status;
	pid_t pid;
	char c;

	if (limit < 0)
		return harness(n, "needs the memory limit in MiB as its argument");
	if (pipe(p) < 0)
		return harness(n, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		for (long i = 0; i < 2 * limit + 16; i++) {
			char *m = malloc(1 << 20);

			if (!m)
				_exit(3);
			memset(m, 0x5a, 1 << 20);
			if (write(p[1], "m", 1) != 1)
				_exit(2);
		}
		_exit(0);
	}
	close(p[1]);
	while (read(p[0], &c, 1) == 1)
		got_mib++;
	waitpid(pid, &status, 0);
	if (got_mib > limit)
		return escaped(n, "touched %ld MiB with a limit of %ld", got_mib, limit);
	char how[128];
	snprintf(how, sizeof(how), "after %ld MiB the child %s", got_mib,
		 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "could not allocate");
	return blocked(n, how, 0);
}

static int fd_bomb(const char *n, const char *a)
{
	long limit = limit_of(a), open_fds = 0;
	int err = 0;

	if (limit < 0)
		return harness(n, "needs the nofile limit as its argument");
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			open_fds++;
	while (open_fds <= limit + 8) {
		if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
			err = errno;
			break;
		}
		open_fds++;
	}
	if (open_fds > limit)
		return escaped(n, "%ld open files with a limit of %ld", open_fds, limit);
	char how[96];
	snprintf(how, sizeof(how), "open after %ld files", open_fds);
	return blocked(n, how, err);
}

/* The CPU time of process pid, in seconds, from /proc/PID/stat. */
static double cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * A spinning child must be ended by RLIMIT_CPU (arg: the limit in seconds).
 * Escaped when it has used 2 s more than that and still runs. The wall
 * limit would end us all first if nothing ended it, leaving no line: the
 * test takes a missing line as a failure too.
 */
static int cpu_bomb(const char *n, const char *a)
{
	long limit = limit_of(a);
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int status;
	pid_t pid;

	if (limit < 0)
		return harness(n, "needs the cpu limit in seconds as its argument");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGXCPU, SIG_IGN);	/* the hard limit's SIGKILL must come */
		for (volatile unsigned long i = 0;; i++)
			;
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		double used;

		if (w == pid)
			break;
		used = cpu_of(pid);
		if (used > (double)limit + 2) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return escaped(n, "%.1f s of CPU with a limit of %ld s", used, limit);
		}
		nanosleep(&tick, NULL);
	}
	char how[96];
	snprintf(how, sizeof(how), "RLIMIT_CPU: the spinner ended by %s",
		 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "an exit");
	return blocked(n, how, 0);
}

/* Raising the soft limit above the hard one, and the hard one. */
static int rlimit_raise(const char *n, const char *a)
{
	static const struct { int res; const char *name; } lims[] = {
		{ RLIMIT_NOFILE, "RLIMIT_NOFILE" }, { RLIMIT_CPU, "RLIMIT_CPU" },
	};
	int err = 0;

	(void)a;
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit r;

		if (getrlimit(lims[i].res, &r) < 0)
			return harness(n, "getrlimit: %s", strerror(errno));
		if (r.rlim_max == RLIM_INFINITY)
			return escaped(n, "no hard %s", lims[i].name);
		r.rlim_max += 1;
		r.rlim_cur = r.rlim_max;
		if (setrlimit(lims[i].res, &r) == 0)
			return escaped(n, "raised the hard %s", lims[i].name);
		err = errno;
	}
	return blocked(n, "setrlimit above the hard limits", err);
}

/* Scratch or log space: write until the area is full. Escaped past the
 * area's size (arg, KiB) and a slack of 64 KiB for metadata rounding. */
static int fill(const char *n, const char *path, const char *a)
{
	long limit = limit_of(a), written = 0;
	static char buf[65536];
	int fd, err = 0;

	if (limit < 0)
		return harness(n, "needs the area's size in KiB as its argument");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return harness(n, "create %s: %s", path, strerror(errno));
	memset(buf, 'f', sizeof(buf));
	while (written < (limit + 1024) * 1024) {
		ssize_t w = write(fd, buf, sizeof(buf));

		if (w <= 0) {
			err = w < 0 ? errno : 0;
			break;
		}
		written += w;
	}
	close(fd);
	unlink(path);
	if (written > (limit + 64) * 1024)
		return escaped(n, "wrote %ld KiB into an area of %ld KiB", written / 1024, limit);
	char how[96];
	snprintf(how, sizeof(how), "write after %ld KiB", written / 1024);
	return blocked(n, how, err);
}

static int scratch_fill(const char *n, const char *a) { return fill(n, "/tmp/fill", a); }
static int log_fill(const char *n, const char *a) { return fill(n, "/var/log/breakout/fill", a); }

/* The never-ending request: only the wall limit ends it (checked outside). */
static int hang(const char *n, const char *a)
{
	(void)n; (void)a;
	for (;;)
		pause();
	return HARNESS;	/* not reached */
}

static int hang_ignore(const char *n, const char *a)
{
	(void)n; (void)a;
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	for (;;)
		pause();
	return HARNESS;	/* not reached */
}

/*
 * A process that tries to outlive the instance: a grandchild in a session
 * of its own, ignoring the usual signals, its command line holding the
 * token (arg) that the host looks for once the instance is over.
 */
static int orphan(const char *n, const char *a)
{
	pid_t pid;

	if (!a)
		return harness(n, "needs a token as its argument");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { "breakout", "__linger", (char *)a, NULL };

		setsid();
		if (fork() != 0)
			_exit(0);
		for (int fd = 0; fd < 3; fd++)
			close(fd);
		execv(self_path, argv);
		_exit(2);
	}
	waitpid(pid, NULL, 0);
	return blocked(n, "left a daemon behind; the host checks it died with the instance", 0);
}

static int linger(const char *n, const char *a)
{
	(void)n; (void)a;
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sleep(120);
	return BLOCKED;
}

const struct attack res_attacks[] = {
	{ "fork-bomb", fork_bomb, "cgroup pids.max (EAGAIN)", "none (RLIMIT_NPROC is per host uid, not set)", "more processes than the pids limit" },
	{ "thread-bomb", thread_bomb, "cgroup pids.max (EAGAIN)", "none", "more threads than the pids limit" },
	{ "memory-bomb", memory_bomb, "cgroup memory.max, swap 0 (OOM kill)", "none", "touch more memory than the memory limit" },
	{ "fd-bomb", fd_bomb, "RLIMIT_NOFILE (EMFILE)", "none", "open more files than nofile" },
	{ "cpu-bomb", cpu_bomb, "RLIMIT_CPU (SIGKILL at the hard limit)", "the wall limit", "spin past the cpu limit, ignoring SIGXCPU" },
	{ "rlimit-raise", rlimit_raise, "no CAP_SYS_RESOURCE (EPERM)", "cgroup limits for memory and pids", "raise a hard rlimit" },
	{ "scratch-fill", scratch_fill, "tmpfs size= (ENOSPC)", "cgroup memory.max (tmpfs pages are charged)", "write more than the scratch area's size" },
	{ "log-fill", log_fill, "the log area's size (ENOSPC)", "the log volume's size", "write more than the log area's size" },
	{ "hang", hang, "the wall limit (SIGKILL of the instance), in serving and imgtool run", "cpu limit for a spinning request", "a request that never ends" },
	{ "hang-ignore-term", hang_ignore, "the wall limit, SIGKILL after the grace", "as for hang", "a request that never ends and ignores SIGTERM" },
	{ "orphan", orphan, "PID namespace: its init's end kills every process", "cgroup kill", "a daemon that outlives the instance" },
	{ "__linger", linger, "", "", "" },
	{ NULL, NULL, NULL, NULL, NULL }
};
