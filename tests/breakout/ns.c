/*
 * ns.c - namespaces: unshare(2), clone(2) with a CLONE_NEW* flag and
 * setns(2), one attack for each namespace type, and clone3, whose flags
 * seccomp cannot see.
 *
 * A new user namespace would hand the process every capability inside it,
 * and with them the kernel code that only "root" reaches (mounts, netfilter,
 * ...): the classic first step of a container escape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "breakout.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct ns { const char *type; const char *proc; int flag; const char *flag_name; };

static const struct ns nss[] = {
	{ "user", "user", CLONE_NEWUSER, "CLONE_NEWUSER" }, { "mount", "mnt", CLONE_NEWNS, "CLONE_NEWNS" },
	{ "net", "net", CLONE_NEWNET, "CLONE_NEWNET" }, { "pid", "pid", CLONE_NEWPID, "CLONE_NEWPID" },
	{ "ipc", "ipc", CLONE_NEWIPC, "CLONE_NEWIPC" }, { "uts", "uts", CLONE_NEWUTS, "CLONE_NEWUTS" },
	{ "cgroup", "cgroup", CLONE_NEWCGROUP, "CLONE_NEWCGROUP" }, { "time", "time", CLONE_NEWTIME, "CLONE_NEWTIME" },
};

/* The namespace type from an attack's name: the part after the first '-'. */
static const struct ns *ns_of(const char *name)
{
	const char *t = strchr(name, '-');

	for (size_t i = 0; t && i < sizeof(nss) / sizeof(nss[0]); i++)
		if (!strcmp(t + 1, nss[i].type))
			return &nss[i];
	return NULL;
}

static int unshare_ns(const char *n, const char *arg)
{
	const struct ns *ns = ns_of(n);
	char how[64];

	(void)arg;
	if (!ns)
		return harness(n, "no namespace type in the name");
	snprintf(how, sizeof(how), "unshare %s", ns->flag_name);
	return expect_fail(n, unshare(ns->flag), how, "made a new namespace");
}

/* A raw clone, so that glibc's wrapper (or its clone3 first try) is no
 * part of it: the child exits at once; the parent reaps it. */
static int clone_ns(const char *n, const char *arg)
{
	const struct ns *ns = ns_of(n);
	char how[64];
	long pid;

	(void)arg;
	if (!ns)
		return harness(n, "no namespace type in the name");
	snprintf(how, sizeof(how), "clone %s", ns->flag_name);
	fflush(NULL);
	pid = syscall(SYS_clone, (unsigned long)ns->flag | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return blocked(n, how, errno);
	waitpid((pid_t)pid, NULL, 0);
	return escaped(n, "a child was cloned into a new %s namespace", ns->type);
}

/* setns into a namespace of our own: the call succeeding at all (it would
 * take any namespace fd it was handed) is the escape. The user namespace
 * refuses to be re-entered (EINVAL) even without a filter, so that one is
 * tried on our PID 1's, which is the same. */
static int setns_ns(const char *n, const char *arg)
{
	const struct ns *ns = ns_of(n);
	char path[64], how[96];
	int fd;

	(void)arg;
	if (!ns)
		return harness(n, "no namespace type in the name");
	snprintf(path, sizeof(path), "/proc/1/ns/%s", ns->proc);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns->proc);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return blocked(n, "open of the namespace file", errno);
	snprintf(how, sizeof(how), "setns %s", path);
	return expect_fail(n, setns(fd, 0), how, "setns accepted a namespace fd");
}

/* clone3 with CLONE_NEWUSER in its struct, out of seccomp's sight. */
static int clone3_user(const char *n, const char *arg)
{
	struct { unsigned long long flags, pidfd, child_tid, parent_tid,
		exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup; } args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	long pid;

	(void)arg;
	fflush(NULL);
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return blocked(n, "clone3 CLONE_NEWUSER", errno);
	waitpid((pid_t)pid, NULL, 0);
	return escaped(n, "clone3 made a new user namespace");
}

#define NS3(t, L) \
	{ "unshare-" t, unshare_ns, "seccomp baseline (unshare: EPERM)", L, "unshare(2) of a new " t " namespace" }, \
	{ "clone-" t, clone_ns, "seccomp baseline (clone flag: EPERM)", L, "clone(2) into a new " t " namespace" }, \
	{ "setns-" t, setns_ns, "seccomp baseline (setns: EPERM)", L, "setns into a namespace fd" }

#define NOCAP "no CAP_SYS_ADMIN in the instance's user namespace"
const struct attack ns_attacks[] = {
	NS3("user", "none: an unprivileged process may make user namespaces, the filter is the wall"),
	NS3("mount", NOCAP), NS3("net", NOCAP), NS3("pid", NOCAP),
	NS3("ipc", NOCAP), NS3("uts", NOCAP), NS3("cgroup", NOCAP),
	NS3("time", NOCAP),
	{ "clone3-user", clone3_user, "seccomp baseline (clone3: ENOSYS)", "none for a user namespace", "clone3 with CLONE_NEWUSER, flags out of seccomp's sight" },
	{ NULL, NULL, NULL, NULL, NULL }
};
