/*
 * Unit tests for runtime/cgroup.c, on the real host (root needed): the
 * host's own layout first (v1 on hybrid hosts, v2 on pure ones), then a
 * private cgroup2 mount for the v2 code path, including the supervisor's
 * move into its leaf when its group has processes.
 *
 * The test process is a child subreaper, so processes orphaned inside
 * instance groups come back to it and are reaped rather than left to init.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "tap.h"

#define MiB (1024ULL * 1024)

static void skip(const char *why)
{
	printf("ok %d - # SKIP %s\n", ++tap_n, why);
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int exists(const char *dir, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s%s%s", dir, file ? "/" : "", file ? file : "");
	return access(path, F_OK) == 0;
}

/* dir/file, or "" if it cannot be read; only its first line if first. */
static const char *read_text(const char *dir, const char *file, int first)
{
	static char buf[4096];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	buf[0] = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	if (first)
		buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static const char *read_line(const char *dir, const char *file)
{
	return read_text(dir, file, 1);
}

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX];
	int fd, ok_;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok_ = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok_ ? 0 : -1;
}

/* Where an instance's limits live: the v2 group or v1 memory/pids groups. */
static const char *mem_dir(const struct cgroup *cg) { return cg->v2 ? cg->v2 : cg->v1_memory; }
static const char *pids_dir(const struct cgroup *cg) { return cg->v2 ? cg->v2 : cg->v1_pids; }

/* A child that waits until killed. */
static pid_t sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* Exit status of pid, or 1000 + the signal that killed it. */
static int wait_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? 1000 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* A child attaches itself, then forks 20 times; exits with the number of
 * forks that worked. Its children wait until killed. */
static int forks_in_group(const struct cgroup *cg)
{
	struct error e;
	pid_t pid = fork();

	if (pid == 0) {
		int n = 0;

		if (cgroup_attach(cg, 0, &e) < 0)
			_exit(100);
		for (int i = 0; i < 20; i++) {
			pid_t c = fork();

			if (c == 0) {
				for (;;)
					pause();
			}
			n += c > 0;
		}
		_exit(n);
	}
	return wait_status(pid);
}

/* A child attaches itself and touches 64 MiB. */
static int hog_in_group(const struct cgroup *cg)
{
	struct error e;
	pid_t pid = fork();

	if (pid == 0) {
		size_t n = 64 * MiB;
		volatile char *p;

		if (cgroup_attach(cg, 0, &e) < 0)
			_exit(100);
		/* volatile: at -O2 the compiler may drop a malloc and memset
		 * whose result it can predict, and nothing would be touched. */
		p = malloc(n);
		if (!p)
			_exit(101);
		for (size_t i = 0; i < n; i += 4096)
			p[i] = 1;
		_exit(p[n - 4096] == 1 ? 0 : 102);
	}
	return wait_status(pid);
}

static void test_limits(const struct cgroup_root *root, const char *what)
{
	struct cgroup cg;
	struct error e = { 0 };
	char *dir;
	int n;

	ok(cgroup_create(root, "limits", 16 * MiB, 8, &cg, &e) == 0,
	   "%s: create a group with memory 16M, pids 8 %s", what, e.msg);
	ok(!strcmp(read_line(pids_dir(&cg), "pids.max"), "8"), "%s: pids.max is 8", what);
	ok(!strcmp(read_line(mem_dir(&cg), cg.v2 ? "memory.max" : "memory.limit_in_bytes"),
		   "16777216"), "%s: the memory limit is 16777216", what);
	if (cg.v2 && exists(cg.v2, "memory.swap.max"))
		ok(!strcmp(read_line(cg.v2, "memory.swap.max"), "0"), "%s: no swap", what);
	if (cg.v1_memory && exists(cg.v1_memory, "memory.memsw.limit_in_bytes"))
		ok(!strcmp(read_line(cg.v1_memory, "memory.memsw.limit_in_bytes"), "16777216"),
		   "%s: memory plus swap is limited to the same: no swap", what);
	if (cg.v2)
		ok(!strcmp(read_line(cg.v2, "memory.oom.group"), "1"),
		   "%s: an OOM kill takes the whole group", what);
	n = forks_in_group(&cg);
	ok(n >= 1 && n <= 8, "%s: 20 forks in a group of 8 processes: %d worked", what, n);
	ok(!cgroup_oom(&cg), "%s: no OOM reported for a group that did not run out", what);
	cgroup_kill(&cg);
	dir = strdup(mem_dir(&cg));
	ok(cgroup_destroy(&cg) == 0 && !exists(dir, NULL) && !cg.v2 && !cg.v1_memory,
	   "%s: kill and destroy remove the group", what);
	free(dir);
	reap_orphans();

	ok(cgroup_create(root, "oom", 16 * MiB, 0, &cg, &e) == 0,
	   "%s: create a group with memory 16M %s", what, e.msg);
	n = hog_in_group(&cg);
	ok(n == 1000 + SIGKILL, "%s: a process touching 64 MiB in 16M is killed (%d)", what, n);
	ok(cgroup_oom(&cg), "%s: cgroup_oom reports the OOM kill", what);
	ok(cgroup_destroy(&cg) == 0, "%s: destroy after an OOM kill", what);
}

static void test_kill_destroy(const struct cgroup_root *root, const char *what)
{
	struct cgroup cg;
	struct error e = { 0 };
	pid_t pid;
	char *dir;

	ok(cgroup_create(root, "kill", 0, 0, &cg, &e) == 0,
	   "%s: create a group without limits %s", what, e.msg);
	pid = sleeper();
	ok(cgroup_attach(&cg, pid, &e) == 0, "%s: attach a child from the parent %s", what, e.msg);
	ok(atoi(read_line(mem_dir(&cg), "cgroup.procs")) == pid,
	   "%s: the child is in the group's cgroup.procs", what);
	ok(cgroup_destroy(&cg) < 0 && mem_dir(&cg) != NULL,
	   "%s: destroy refuses a group with a process and keeps it", what);
	dir = strdup(mem_dir(&cg));
	cgroup_kill(&cg);
	ok(cgroup_destroy(&cg) == 0 && !exists(dir, NULL),
	   "%s: a killed child, not yet reaped, does not keep the group", what);
	ok(wait_status(pid) == 1000 + SIGKILL, "%s: cgroup_kill killed the sleeping child", what);
	free(dir);

	ok(cgroup_create(root, "../x", 0, 0, &cg, &e) < 0 &&
	   cgroup_create(root, "supervisor", 0, 0, &cg, &e) < 0,
	   "%s: ids that are not one plain name are refused: %s", what, e.msg);
}

/*
 * A supervisor that died: its tag "web.PID" holds an instance with a
 * process and a nested group. The next setup must kill and remove it.
 */
static void test_stale(const char *base, const char *tag, const char *what)
{
	struct cgroup_root dead, root;
	struct cgroup cg;
	struct error e = { 0 };
	char stale[32], *tagdir, *sub;
	pid_t pid, gone = 999999;

	while (kill(gone, 0) == 0 || errno != ESRCH)
		gone++;
	snprintf(stale, sizeof(stale), "web.%d", (int)gone);
	ok(cgroup_setup(&dead, base, stale, &e) == 0 &&
	   cgroup_create(&dead, "1", 0, 0, &cg, &e) == 0,
	   "%s: a dead supervisor's tag %s with an instance %s", what, stale, e.msg);
	pid = sleeper();
	sub = xasprintf("%s/nested", mem_dir(&cg));
	ok(cgroup_attach(&cg, pid, &e) == 0 && mkdir(sub, 0755) == 0,
	   "%s: with a process and a nested group in it %s", what, e.msg);
	tagdir = strdup(dead.v2 ? dead.v2 : dead.v1_memory);

	ok(cgroup_setup(&root, base, tag, &e) == 0, "%s: setup %s", what, e.msg);
	ok(root.stale_removed >= 1 && root.stale_left == 0,
	   "%s: setup removed %u stale group(s), left %u", what, root.stale_removed,
	   root.stale_left);
	ok(wait_status(pid) == 1000 + SIGKILL, "%s: the stale instance's process was killed", what);
	ok(!exists(tagdir, NULL) && !exists(sub, NULL) &&
	   (!dead.v1_pids || !exists(dead.v1_pids, NULL)),
	   "%s: the stale directories are gone", what);
	cgroup_teardown(&root);
	free(cg.v2);
	free(cg.v1_memory);
	free(cg.v1_pids);
	free(dead.v2);
	free(dead.v1_memory);
	free(dead.v1_pids);
	free(tagdir);
	free(sub);
}

static void test_host(const char *tag)
{
	struct cgroup_root root;
	struct error e = { 0 };
	char *tagdir;

	if (cgroup_setup(&root, NULL, tag, &e) < 0) {
		ok(root.version == CGROUP_NONE && e.msg[0], "host: setup fails clearly: %s", e.msg);
		skip("no cgroup memory and pids controllers on this host");
		return;
	}
	printf("# host: cgroup v%d, %s\n", root.version == CGROUP_V2 ? 2 : 1,
	       root.v2 ? root.v2 : root.v1_memory);
	ok(root.controllers == (CGROUP_MEMORY | CGROUP_PIDS),
	   "host: setup finds the memory and pids controllers");
	ok(exists(root.v2 ? root.v2 : root.v1_memory, NULL) &&
	   (!root.v1_pids || exists(root.v1_pids, NULL)),
	   "host: the supervisor's imgsupd/%s groups exist", tag);
	test_limits(&root, "host");
	test_kill_destroy(&root, "host");
	tagdir = strdup(root.v2 ? root.v2 : root.v1_memory);
	cgroup_teardown(&root);
	ok(!exists(tagdir, NULL) && root.v2 == NULL && root.v1_memory == NULL,
	   "host: teardown removes the supervisor's group");
	free(tagdir);
	reap_orphans();
	test_stale(NULL, tag, "host");
}

/*
 * The supervisor's move into its leaf, with a controller this host can
 * delegate in v2 (hugetlb: memory and pids are bound to v1 here). Runs in a
 * child placed in its own group G below the v2 root, as under systemd.
 * Exit bits: 1 setup failed, 2 not in the leaf, 4 the controller did not
 * reach the instance, 8 with a second process in G setup did not fail.
 */
static int delegate_child(const char *mnt, const char *g, int crowded)
{
	struct cgroup_root root;
	struct cgroup cg;
	struct error e = { 0 };
	char tag[32];
	int bits = 0;

	if (write_str(g, "cgroup.procs", "0") < 0)
		return 64;
	if (crowded && sleeper() < 0)
		return 64;
	snprintf(tag, sizeof(tag), "deleg.%d", (int)getpid());
	if (cgroup_setup_controllers(&root, mnt, tag, "hugetlb", &e) < 0) {
		printf("# %s\n", e.msg);
		return crowded && strstr(e.msg, "Delegate=yes") ? 0 : 1;
	}
	if (crowded)
		return 8;
	if (!root.in_leaf || !strstr(read_text("/proc/self", "cgroup", 0),
				    "/imgsupd/deleg.")  ||
	    !strstr(read_text("/proc/self", "cgroup", 0), "/supervisor\n"))
		bits |= 2;
	if (cgroup_create(&root, "1", 0, 0, &cg, &e) < 0 ||
	    !exists(cg.v2, "hugetlb.2MB.max"))
		bits |= 4;
	return bits;
}

static void remove_g(const char *g)
{
	char cmd[PATH_MAX + 64];

	/* Deepest first: rmdir of every directory below g, then g. */
	snprintf(cmd, sizeof(cmd), "find '%s' -depth -type d -exec rmdir {} + 2>/dev/null", g);
	if (system(cmd) < 0)
		perror("system");
}

static void test_delegation(const char *mnt)
{
	int enabled_here = 0;
	char *g;
	pid_t pid;
	int st;

	if (!strstr(read_line(mnt, "cgroup.controllers"), "hugetlb")) {
		skip("v2 delegation: no controller of this host's v2 hierarchy to try it with");
		return;
	}
	if (!strstr(read_line(mnt, "cgroup.subtree_control"), "hugetlb")) {
		if (write_str(mnt, "cgroup.subtree_control", "+hugetlb") < 0) {
			skip("v2 delegation: cannot enable hugetlb at the v2 root");
			return;
		}
		enabled_here = 1;
	}
	for (int crowded = 0; crowded <= 1; crowded++) {
		g = xasprintf("%s/imgtest.%d.%d", mnt, (int)getpid(), crowded);
		ok(mkdir(g, 0755) == 0, "v2: a group G for a supervisor: %s", g);
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			_exit(delegate_child(mnt, g, crowded));
		st = wait_status(pid);
		if (!crowded)
			ok(st == 0, "v2: with controllers to delegate and the supervisor in G, "
			   "it moves into imgsupd/TAG/supervisor and the controller reaches "
			   "the instance (status %d)", st);
		else
			ok(st == 0, "v2: with another process in G, setup fails and says "
			   "what to do (status %d)", st);
		/* Its sleeper, orphaned to us, must go before G can. */
		write_str(g, "cgroup.kill", "1");
		usleep(20000);
		reap_orphans();
		remove_g(g);
		ok(!exists(g, NULL), "v2: G removed after the test");
		free(g);
	}
	if (enabled_here)
		write_str(mnt, "cgroup.subtree_control", "-hugetlb");
}

static void test_v2_private(const char *tag)
{
	char mnt[] = "/tmp/imgtool-cg2.XXXXXX";
	struct cgroup_root root;
	struct cgroup cg;
	struct error e = { 0 };
	pid_t pid;

	/* A private mount namespace: the mount goes away with the test. */
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || !mkdtemp(mnt)) {
		skip("v2: cannot make a private mount namespace");
		return;
	}
	if (mount("none", mnt, "cgroup2", 0, NULL) < 0) {
		skip("v2: cannot mount cgroup2 here");
		rmdir(mnt);
		return;
	}
	ok(cgroup_setup(&root, mnt, tag, &e) == 0 && root.version == CGROUP_V2,
	   "v2: setup on a private cgroup2 mount %s", e.msg);
	printf("# v2: %s, controllers for limits: %s%s\n", root.v2,
	       root.controllers & CGROUP_MEMORY ? "memory " : "",
	       root.controllers & CGROUP_PIDS ? "pids" : "(none)");
	if (root.controllers == (CGROUP_MEMORY | CGROUP_PIDS)) {
		test_limits(&root, "v2");
	} else {
		skip("v2 limits: memory and pids are not available in this host's v2 "
		     "hierarchy (bound to v1)");
		ok(cgroup_create(&root, "x", 16 * MiB, 0, &cg, &e) < 0 &&
		   strstr(e.msg, "memory controller"),
		   "v2: a memory limit without the controller is refused: %s", e.msg);
	}
	test_kill_destroy(&root, "v2");
	e.msg[0] = 0;
	ok(cgroup_create(&root, "attach", 0, 0, &cg, &e) == 0,
	   "v2: create for cgroup_attach in the child %s", e.msg);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(cgroup_attach(&cg, 0, &e) < 0 ? 1 : 0);
	ok(wait_status(pid) == 0, "v2: a child attaches itself");
	ok(cgroup_destroy(&cg) == 0, "v2: destroy after the child exited");
	cgroup_teardown(&root);
	reap_orphans();
	test_stale(mnt, tag, "v2");
	test_delegation(mnt);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

int main(void)
{
	char tag[32];

	if (geteuid() != 0) {
		printf("1..0 # SKIP not root\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		perror("prctl");
	snprintf(tag, sizeof(tag), "test.%d", (int)getpid());
	test_host(tag);
	test_v2_private(tag);
	return tap_done();
}
