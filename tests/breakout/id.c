/*
 * id.c - the instance's identity: setuid(0) and its relatives, the user
 * namespace's maps, capabilities (now and after an exec), no_new_privs and
 * the seccomp mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "breakout.h"

static int setuid0(const char *n, const char *a) { (void)a; return expect_fail(n, setuid(0), "setuid 0", "became uid 0"); }
static int setgid0(const char *n, const char *a) { (void)a; return expect_fail(n, setgid(0), "setgid 0", "became gid 0"); }
static int setresuid0(const char *n, const char *a) { (void)a; return expect_fail(n, setresuid(0, 0, 0), "setresuid 0 0 0", "became uid 0"); }

static int setgroups0(const char *n, const char *a)
{
	gid_t g = 0;

	(void)a;
	return expect_fail(n, setgroups(1, &g), "setgroups 0", "joined group 0");
}

static int uid_map(const char *n, const char *a)
{
	int fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);

	(void)a;
	if (fd < 0)
		return blocked(n, "open /proc/self/uid_map for writing", errno);
	if (write(fd, "0 0 1\n", 6) != 6)
		return blocked(n, "write of /proc/self/uid_map", errno);
	return escaped(n, "wrote our own uid_map");
}

static int capset_all(const char *n, const char *a)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	(void)a;
	memset(d, 0xff, sizeof(d));
	return expect_fail(n, syscall(SYS_capset, &h, d), "capset of every capability",
			   "raised every capability");
}

/* The capability sets now, from capget and from /proc/self/status. */
static int caps_now(const char *n)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	char line[256];
	FILE *f;

	if (syscall(SYS_capget, &h, d) < 0)
		return harness(n, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return escaped(n, "capabilities: eff %x prm %x inh %x (word %d)",
				       d[i].effective, d[i].permitted, d[i].inheritable, i);
	f = fopen("/proc/self/status", "re");
	if (!f)
		return harness(n, "/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Cap", 3))
			continue;
		if (strtoull(strchr(line, ':') + 1, NULL, 16)) {
			fclose(f);
			line[strcspn(line, "\n")] = '\0';
			return escaped(n, "%s", line);
		}
	}
	fclose(f);
	return blocked(n, "every capability set is empty, the bounding and ambient ones too", 0);
}

static int caps(const char *n, const char *a) { (void)a; return caps_now(n); }

static int caps_after_exec(const char *n, const char *a)
{
	char *argv[] = { "breakout", "__caps", (char *)n, NULL };

	(void)a;
	fflush(NULL);
	execv(self_path, argv);
	return harness(n, "execv %s: %s", self_path, strerror(errno));
}

static int caps_child(const char *n, const char *a)
{
	(void)n;
	return caps_now(a ? a : "caps-after-exec");
}

static int no_new_privs(const char *n, const char *a)
{
	int v = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);

	(void)a;
	if (v < 0)
		return harness(n, "prctl: %s", strerror(errno));
	if (v != 1)
		return escaped(n, "no_new_privs is off: a setuid binary would gain privileges");
	if (prctl(PR_SET_SECCOMP, 0 /* SECCOMP_MODE_DISABLED */, 0, 0, 0) == 0)
		return escaped(n, "switched seccomp off");
	return blocked(n, "no_new_privs is set and cannot be cleared", 0);
}

static int seccomp_mode(const char *n, const char *a)
{
	int v = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);

	(void)a;
	if (v == 2)
		return blocked(n, "a seccomp filter is installed (mode 2)", 0);
	return escaped(n, "seccomp mode %d: no filter", v);
}

const struct attack id_attacks[] = {
	{ "setuid-0", setuid0, "no CAP_SETUID (EPERM)", "no_new_privs and nosuid: no way to regain CAP_SETUID", "setuid(0)" },
	{ "setgid-0", setgid0, "no CAP_SETGID (EPERM)", "no_new_privs and nosuid", "setgid(0)" },
	{ "setresuid-0", setresuid0, "no CAP_SETUID (EPERM)", "no_new_privs and nosuid", "setresuid(0, 0, 0)" },
	{ "setgroups-0", setgroups0, "no CAP_SETGID (EPERM)", "no_new_privs and nosuid", "setgroups({0})" },
	{ "uid-map", uid_map, "no user namespace of its own: the initial one's map cannot be written (EPERM)", "the seccomp baseline refuses CLONE_NEWUSER", "rewrite /proc/self/uid_map" },
	{ "capset", capset_all, "no capabilities to raise (EPERM)", "empty bounding set", "capset every capability" },
	{ "caps", caps, "the runtime drops every capability set", "no_new_privs", "hold a capability" },
	{ "caps-after-exec", caps_after_exec, "empty bounding and ambient sets", "no_new_privs (no setuid, no file capabilities)", "hold a capability after execve" },
	{ "no-new-privs", no_new_privs, "no_new_privs set before execve", "nosuid mounts", "find no_new_privs off, switch seccomp off" },
	{ "seccomp-mode", seccomp_mode, "the runtime installs the filter before execve", "none: every other layer still holds", "run without a seccomp filter" },
	{ "__caps", caps_child, "", "", "" },
	{ NULL, NULL, NULL, NULL, NULL }
};
