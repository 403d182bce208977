/*
 * cgroup.c - memory and process-count limits of an instance.
 *
 * Layout. Everything lives below the supervisor's own group G (from
 * /proc/self/cgroup), never at a hierarchy's root: under systemd G is the
 * unit's delegated group, in a container it is what the container was given.
 *
 *   G/imgsupd/TAG/ID           one group per instance (TAG is "NAME.PID")
 *   G/imgsupd/TAG/supervisor   v2 only, and only when needed: see below
 *
 * v1 (hybrid hosts) repeats the layout in the memory and the pids hierarchy;
 * a process is attached to both.
 *
 * v2 delegation. A v2 group may hand a domain controller (memory) to its
 * children only while it has no processes of its own ("no internal
 * processes"); the root group is exempt. The supervisor runs in G, so:
 *
 *   1. mkdir G/imgsupd/TAG, then enable the controllers G offers (its
 *      cgroup.controllers) in G's cgroup.subtree_control, then in imgsupd's,
 *      then in TAG's, so that each instance group gets memory.max, pids.max.
 *   2. If G refuses with EBUSY, G has processes: the supervisor moves itself
 *      into the leaf TAG/supervisor and tries again. This is what systemd's
 *      delegation documentation asks of a delegated service: G is then an
 *      inner node and TAG holds everything the supervisor runs (itself and
 *      its instances), so one cgroup.kill of TAG ends it all after a crash.
 *      The leaf is a sibling of the instance groups, not their parent, so
 *      TAG itself never has processes and can still delegate.
 *   3. If G still refuses, someone else's processes are in G (a wrapper
 *      shell, say): the supervisor does not move other processes; setup
 *      fails naming the file, and the fix is a group of its own (systemd:
 *      Delegate=yes on a unit that runs imgsupd directly).
 *
 * The move happens only on EBUSY: when G is the root group, or already an
 * inner node, the supervisor stays where it is. Controllers G does not offer
 * (not delegated, or bound to v1 as on this kind of hybrid host) are left
 * out; setup still succeeds, root->controllers says what limits can use, and
 * cgroup_create refuses a limit it cannot enforce instead of ignoring it.
 *
 * Stale groups. A supervisor that died (kill -9, OOM, crash) leaves its TAG
 * with instances perhaps still running. cgroup_setup removes every TAG
 * "NAME.PID" whose PID is gone: kill all processes inside, then rmdir bottom
 * up. A live PID is left alone even if it is some other program that reused
 * the number; a later start cleans up.
 *
 * Instances are attached (cgroup_attach) before they make their cgroup
 * namespace, so that inside, their own group is the namespace's root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

#define LEAF "supervisor"
#define NAME_MAX_LEN 128	/* a 64-byte recipe name, ".", a PID */
/* Nesting below a TAG we are ready to walk when removing stale groups. */
#define MAX_DEPTH 8
/* Rounds of "read cgroup.procs, SIGKILL each" before giving up. */
#define KILL_ROUNDS 200
/* How long rmdir retries EBUSY while killed processes finish exiting. */
#define RMDIR_WAIT_NS (100 * 1000 * 1000L)

/* ---- small file helpers ------------------------------------------------ */

static int is_fs(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/*
 * Writes s to dir/file in one write(2): cgroupfs acts on each write call, so
 * a value must not be split. No allocation (cgroup_attach runs in children).
 * Returns -1 with errno set.
 */
static int write_at(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX];
	size_t len = strlen(s);
	ssize_t n;
	int fd, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	n = write(fd, s, len);
	saved = errno;
	if (close(fd) < 0 && n >= 0)
		return -1;
	errno = saved;
	if (n >= 0 && (size_t)n != len) {
		errno = EIO;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

/* write_at with an error naming the file and the value. */
static int write_checked(const char *dir, const char *file, const char *s,
			 struct error *e)
{
	if (write_at(dir, file, s) < 0)
		return error_errno(e, "cannot write \"%s\" to %s/%s", s, dir, file);
	return 0;
}

/* The same for files a kernel may lack (memory.swap.max without swap
 * accounting, memory.memsw.* with swapaccount=0): ENOENT means "no such
 * feature", which is fine; any other failure is not. */
static int write_optional(const char *dir, const char *file, const char *s,
			  struct error *e)
{
	if (write_at(dir, file, s) < 0 && errno != ENOENT)
		return error_errno(e, "cannot write \"%s\" to %s/%s", s, dir, file);
	return 0;
}

/* Reads dir/file into buf (NUL-terminated); returns the length or -1. */
static ssize_t read_at(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX];
	size_t len = 0;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				int saved = errno;

				close(fd);
				errno = saved;
				return -1;
			}
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

/* True if word is one of the items of list, separated by any of seps. */
static int has_item(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || strchr(seps, p[-1])) &&
		    (p[n] == 0 || strchr(seps, p[n])))
			return 1;
	return 0;
}

/* The number after "key " at the start of a line of a flat keyed file
 * (memory.events, memory.oom_control); -1 if there is no such line. */
static long long keyed_value(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

/* One path component the supervisor chose: [A-Za-z0-9._-], not . or .. */
static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") == n;
}

/* Sleeps a little longer each round, from 50 µs up to 10 ms. */
static void backoff(unsigned round)
{
	long ns = 50000L << (round < 8 ? round : 8);
	struct timespec ts = { 0, ns < 10000000L ? ns : 10000000L };

	nanosleep(&ts, NULL);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- killing and removing groups -------------------------------------- */

/*
 * SIGKILLs every process listed in dir/cgroup.procs; returns how many were
 * listed (0: empty), or -1 if the file cannot be read.
 */
static int kill_listed(const char *dir)
{
	char path[PATH_MAX], *data = NULL;
	struct error e;
	size_t len;
	int n = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return -1;
	if (read_file(path, 1 << 22, &data, &len, &e) < 0)
		return -1;
	for (char *p = data, *end; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		/* Failure is ESRCH (it died between the read and the kill)
		 * or, for a process we may not signal, shows as the group
		 * never emptying: the caller's retries end with an error. */
		if (pid > 0 && pid <= INT_MAX)
			(void)kill((pid_t)pid, SIGKILL);
		n++;
	}
	free(data);
	return n;
}

/*
 * kill_listed on dir and, with depth >= 0, every group below it; total
 * listed, or -1. An instance's own group needs no walk (depth -1): the
 * instance runs without privileges and cannot make groups below it; a
 * stale tree can have any shape.
 */
static int kill_listed_tree(const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;
	int n, total;

	total = kill_listed(dir);
	if (total < 0 || depth < 0 || depth >= MAX_DEPTH || !(d = opendir(dir)))
		return total;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s", dir, de->d_name);

		n = kill_listed_tree(sub, depth + 1);
		free(sub);
		total = n < 0 ? -1 : total < 0 ? -1 : total + n;
	}
	closedir(d);
	return total;
}

/*
 * Kills everything in dir and below. v2 since Linux 5.14 has cgroup.kill,
 * which also stops processes forking away while being killed; otherwise
 * (and always on v1) read cgroup.procs, SIGKILL each, and repeat until no
 * process is listed: a process forked between a read and its parent's
 * death shows up in the next round. Exited processes leave cgroup.procs
 * before their parent reaps them, so zombies do not keep this looping.
 */
static int kill_all(const char *dir, int v2, int tree)
{
	if (v2 && write_at(dir, "cgroup.kill", "1") == 0)
		return 0;
	for (unsigned round = 0; round < KILL_ROUNDS; round++) {
		int n = kill_listed_tree(dir, tree ? 0 : -1);

		if (n <= 0)
			return n;
		backoff(round);
	}
	errno = EBUSY;
	return -1;
}

/*
 * rmdir, retrying EBUSY for up to RMDIR_WAIT_NS: a killed process leaves
 * its group only once the kernel has finished its exit, which takes a moment
 * after SIGKILL (longer for a large address space). A missing directory is
 * fine.
 */
static int rmdir_wait(const char *dir)
{
	long long deadline = 0;

	for (unsigned round = 0; ; round++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -1;
		if (!deadline)
			deadline = now_ns() + RMDIR_WAIT_NS;
		else if (now_ns() > deadline)
			return -1;
		backoff(round);
	}
}

/* Removes dir and every group below it, deepest first. */
static int rmdir_tree(const char *dir, int depth)
{
	DIR *d = depth < MAX_DEPTH ? opendir(dir) : NULL;
	struct dirent *de;
	int ret = 0;

	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		char *sub = xasprintf("%s/%s", dir, de->d_name);

		if (rmdir_tree(sub, depth + 1) < 0)
			ret = -1;
		free(sub);
	}
	if (d)
		closedir(d);
	return rmdir_wait(dir) < 0 ? -1 : ret;
}

/*
 * Removes the TAGs of dead supervisors under dir (G/imgsupd). Best effort:
 * a stale group that will not go (a process stuck in the kernel) must not
 * stop this supervisor from starting; it is counted in stale_left and tried
 * again at the next start.
 */
static void remove_stale(struct cgroup_root *root, const char *dir, int v2)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		pid_t pid = tag_pid(de->d_name);

		if (de->d_type != DT_DIR || !pid || pid == getpid())
			continue;
		if (pid_running(pid))
			continue;
		char *sub = xasprintf("%s/%s", dir, de->d_name);

		if (kill_all(sub, v2, 1) < 0 || rmdir_tree(sub, 0) < 0)
			root->stale_left++;
		else
			root->stale_removed++;
		free(sub);
	}
	if (d)
		closedir(d);
}

/* ---- setup ------------------------------------------------------------- */

/*
 * The supervisor's group in one hierarchy, from /proc/self/cgroup lines
 * "ID:CONTROLLERS:PATH": the "0::" line for v2 (want NULL), else the line
 * whose comma-separated controllers include want.
 */
static char *own_group(const char *want, struct error *e)
{
	char *data, *path = NULL;
	size_t len;

	if (read_file("/proc/self/cgroup", 1 << 16, &data, &len, e) < 0)
		return NULL;
	for (char *line = data, *next; line && *line && !path; line = next) {
		char *c1, *c2;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || c2[1] != '/')
			continue;
		*c2 = 0;
		if (!want ? !strcmp(line, "0:") : has_item(c1 + 1, want, ","))
			path = xstrdup(c2 + 1);
	}
	free(data);
	if (!path) {
		error_set(e, "/proc/self/cgroup: no %s%s line", want ? want : "0::",
			  want ? " hierarchy" : "");
	} else if (!path_is_clean(path)) {
		/* "/../x": the group is outside our cgroup namespace, so not
		 * below the mount either. */
		error_set(e, "/proc/self/cgroup: the supervisor's group \"%s\" is "
			  "not below this cgroup namespace's root", path);
		free(path);
		path = NULL;
	}
	return path;
}

/* base plus the group path from /proc/self/cgroup ("/" is base itself). */
static char *group_dir(const char *base, const char *own)
{
	return strcmp(own, "/") ? xasprintf("%s%s", base, own) : xstrdup(base);
}

/* mkdir that accepts an existing directory (a restart reusing the tag). */
static int make_dir(const char *dir, struct error *e)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return error_errno(e, "cannot make %s", dir);
	return 0;
}

/*
 * Enables in dir's subtree_control those of want (blank-separated) that
 * dir's cgroup.controllers offers and that are not on yet, in one write.
 * Returns -1 with errno set (EBUSY: dir has processes).
 */
static int enable_controllers(const char *dir, const char *want)
{
	char offered[512], enabled[512], line[512] = "", word[64];
	size_t len = 0;

	if (read_at(dir, "cgroup.controllers", offered, sizeof(offered)) < 0 ||
	    read_at(dir, "cgroup.subtree_control", enabled, sizeof(enabled)) < 0)
		return -1;
	for (const char *p = want; *p; ) {
		size_t n = strcspn(p, " ");

		if (n && n < sizeof(word)) {
			memcpy(word, p, n);
			word[n] = 0;
			if (has_item(offered, word, " \n") &&
			    !has_item(enabled, word, " \n") &&
			    len + n + 3 < sizeof(line))
				len += (size_t)snprintf(line + len, sizeof(line) - len,
							"%s+%s", len ? " " : "", word);
		}
		p += n + (p[n] == ' ');
	}
	return len ? write_at(dir, "cgroup.subtree_control", line) : 0;
}

/* The CGROUP_* bits of the controllers dir's children can use. */
static unsigned usable_controllers(const char *dir)
{
	char enabled[512];
	unsigned bits = 0;

	if (read_at(dir, "cgroup.subtree_control", enabled, sizeof(enabled)) < 0)
		return 0;
	if (has_item(enabled, "memory", " \n"))
		bits |= CGROUP_MEMORY;
	if (has_item(enabled, "pids", " \n"))
		bits |= CGROUP_PIDS;
	return bits;
}

/*
 * Enables want in G, the supervisor's group, moving the supervisor into
 * TAG/supervisor first if G refuses because it has processes (see the
 * comment at the top of this file).
 */
static int delegate_from(struct cgroup_root *root, const char *g,
			 const char *tagdir, const char *want, struct error *e)
{
	char *leaf;
	int rc;

	if (enable_controllers(g, want) == 0)
		return 0;
	if (errno != EBUSY)
		return error_errno(e, "cannot enable \"%s\" in %s/cgroup.subtree_control",
				   want, g);
	leaf = xasprintf("%s/" LEAF, tagdir);
	rc = make_dir(leaf, e);
	if (rc == 0 && (rc = write_checked(leaf, "cgroup.procs", "0", e)) == 0)
		root->in_leaf = 1;
	free(leaf);
	if (rc < 0)
		return -1;
	if (enable_controllers(g, want) < 0)
		return error_errno(e, "cannot enable \"%s\" in %s/cgroup.subtree_control "
				   "(other processes are in %s: give the supervisor "
				   "a group of its own, e.g. systemd Delegate=yes)",
				   want, g, g);
	return 0;
}

static int setup_v2(struct cgroup_root *root, const char *mnt, const char *tag,
		    const char *want, struct error *e)
{
	char *own = own_group(NULL, e), *g, *top, *tagdir;
	int ret = -1;

	if (!own)
		return -1;
	g = group_dir(mnt, own);
	top = xasprintf("%s/imgsupd", g);
	tagdir = xasprintf("%s/%s", top, tag);
	remove_stale(root, top, 1);
	if (make_dir(top, e) < 0 || make_dir(tagdir, e) < 0 ||
	    delegate_from(root, g, tagdir, want, e) < 0)
		goto out;
	if (enable_controllers(top, want) < 0) {
		error_errno(e, "cannot enable \"%s\" in %s/cgroup.subtree_control", want, top);
		goto out;
	}
	if (enable_controllers(tagdir, want) < 0) {
		error_errno(e, "cannot enable \"%s\" in %s/cgroup.subtree_control",
			    want, tagdir);
		goto out;
	}
	root->version = CGROUP_V2;
	root->controllers = usable_controllers(tagdir);
	root->v2 = tagdir;
	tagdir = NULL;
	ret = 0;
out:
	if (tagdir && !root->in_leaf)
		rmdir(tagdir);
	free(tagdir);
	free(top);
	free(g);
	free(own);
	return ret;
}

/* G/imgsupd/TAG in one v1 hierarchy, after removing stale tags there. */
static char *setup_v1_one(struct cgroup_root *root, const char *base,
			  const char *controller, const char *tag, struct error *e)
{
	char *own = own_group(controller, e), *mnt, *g, *top, *tagdir = NULL;

	if (!own)
		return NULL;
	mnt = xasprintf("%s/%s", base, controller);
	g = group_dir(mnt, own);
	top = xasprintf("%s/imgsupd", g);
	remove_stale(root, top, 0);
	if (make_dir(top, e) == 0) {
		tagdir = xasprintf("%s/%s", top, tag);
		if (make_dir(tagdir, e) < 0) {
			free(tagdir);
			tagdir = NULL;
		}
	}
	free(top);
	free(g);
	free(mnt);
	free(own);
	return tagdir;
}

static int setup_v1(struct cgroup_root *root, const char *base, const char *tag,
		    struct error *e)
{
	root->v1_memory = setup_v1_one(root, base, "memory", tag, e);
	if (!root->v1_memory)
		return -1;
	root->v1_pids = setup_v1_one(root, base, "pids", tag, e);
	if (!root->v1_pids) {
		rmdir(root->v1_memory);
		free(root->v1_memory);
		root->v1_memory = NULL;
		return -1;
	}
	root->version = CGROUP_V1;
	root->controllers = CGROUP_MEMORY | CGROUP_PIDS;
	return 0;
}

/* True if the v2 hierarchy at mnt offers every controller of want. */
static int offers_all(const char *mnt, const char *want)
{
	char offered[512], word[64];

	if (read_at(mnt, "cgroup.controllers", offered, sizeof(offered)) < 0)
		return 0;
	for (const char *p = want; *p; ) {
		size_t n = strcspn(p, " ");

		if (n >= sizeof(word))
			return 0;
		memcpy(word, p, n);
		word[n] = 0;
		if (n && !has_item(offered, word, " \n"))
			return 0;
		p += n + (p[n] == ' ');
	}
	return 1;
}

int cgroup_setup_controllers(struct cgroup_root *root, const char *base,
			     const char *tag, const char *controllers,
			     struct error *e)
{
	char *unified;
	int ret;

	memset(root, 0, sizeof(*root));
	if (!name_ok(tag))
		return error_bad(e, "cgroup: \"%s\" is not a valid tag", tag);
	if (!base)
		base = "/sys/fs/cgroup";
	/* Pure v2: production hosts. */
	if (is_fs(base, CGROUP2_SUPER_MAGIC))
		return setup_v2(root, base, tag, controllers, e);
	/* Hybrid with the controllers moved to the unified hierarchy. */
	unified = xasprintf("%s/unified", base);
	if (is_fs(unified, CGROUP2_SUPER_MAGIC) && offers_all(unified, controllers)) {
		ret = setup_v2(root, unified, tag, controllers, e);
		free(unified);
		return ret;
	}
	free(unified);
	/* Hybrid or legacy: the v1 controllers. */
	char *mem = xasprintf("%s/memory", base), *pids = xasprintf("%s/pids", base);
	int v1 = is_fs(mem, CGROUP_SUPER_MAGIC) && is_fs(pids, CGROUP_SUPER_MAGIC);

	free(mem);
	free(pids);
	if (v1)
		return setup_v1(root, base, tag, e);
	return error_set(e, "no cgroup memory and pids controllers");
}

int cgroup_setup(struct cgroup_root *root, const char *base, const char *tag,
		 struct error *e)
{
	return cgroup_setup_controllers(root, base, tag, "memory pids", e);
}

/* Removes a TAG directory and, if it was the last, imgsupd above it. */
static void remove_tag(char **dir)
{
	char *slash;

	if (!*dir)
		return;
	if (rmdir(*dir) == 0 && (slash = strrchr(*dir, '/'))) {
		*slash = 0;
		rmdir(*dir);	/* ENOTEMPTY/EBUSY: another supervisor's tag */
	}
	free(*dir);
	*dir = NULL;
}

void cgroup_teardown(struct cgroup_root *root)
{
	remove_tag(&root->v2);
	remove_tag(&root->v1_memory);
	remove_tag(&root->v1_pids);
	root->version = CGROUP_NONE;
	root->controllers = 0;
}

/* ---- instances --------------------------------------------------------- */

static int limits_v2(const char *dir, unsigned controllers, uint64_t memory,
		     uint64_t pids, struct error *e)
{
	char v[32];

	if (memory) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)memory);
		if (write_checked(dir, "memory.max", v, e) < 0 ||
		    write_optional(dir, "memory.swap.max", "0", e) < 0)
			return -1;
	}
	/* One OOM kill ends the whole instance rather than leaving it maimed. */
	if ((controllers & CGROUP_MEMORY) &&
	    write_optional(dir, "memory.oom.group", "1", e) < 0)
		return -1;
	if (pids) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)pids);
		if (write_checked(dir, "pids.max", v, e) < 0)
			return -1;
	}
	return 0;
}

/* v1: memsw (memory plus swap) equal to the memory limit means no swap; it
 * must be written after memory.limit_in_bytes, which may not exceed it. */
static int limits_v1(const char *mdir, const char *pdir, uint64_t memory,
		     uint64_t pids, struct error *e)
{
	char v[32];

	if (memory) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)memory);
		if (write_checked(mdir, "memory.limit_in_bytes", v, e) < 0 ||
		    write_optional(mdir, "memory.memsw.limit_in_bytes", v, e) < 0)
			return -1;
	}
	if (pids) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)pids);
		if (write_checked(pdir, "pids.max", v, e) < 0)
			return -1;
	}
	return 0;
}

/* mkdir of a new instance group: it must not exist already. */
static char *new_group(const char *parent, const char *id, struct error *e)
{
	char *dir = xasprintf("%s/%s", parent, id);

	if (mkdir(dir, 0755) < 0) {
		error_errno(e, "cannot make %s", dir);
		free(dir);
		return NULL;
	}
	return dir;
}

int cgroup_create(const struct cgroup_root *root, const char *id,
		  uint64_t memory, uint64_t pids, struct cgroup *cg,
		  struct error *e)
{
	const char *where = root->v2 ? root->v2 : root->v1_memory;
	int rc = -1;

	memset(cg, 0, sizeof(*cg));
	if (root->version == CGROUP_NONE)
		return error_set(e, "cgroup: not set up");
	if (!name_ok(id) || !strcmp(id, LEAF))
		return error_set(e, "cgroup: \"%s\" is not a valid instance id", id);
	if (memory && !(root->controllers & CGROUP_MEMORY))
		return error_set(e, "%s: cannot limit memory: the memory controller "
				 "is not available there", where);
	if (pids && !(root->controllers & CGROUP_PIDS))
		return error_set(e, "%s: cannot limit processes: the pids controller "
				 "is not available there", where);
	if (root->version == CGROUP_V2) {
		if ((cg->v2 = new_group(root->v2, id, e)))
			rc = limits_v2(cg->v2, root->controllers, memory, pids, e);
	} else if ((cg->v1_memory = new_group(root->v1_memory, id, e)) &&
		   (cg->v1_pids = new_group(root->v1_pids, id, e))) {
		rc = limits_v1(cg->v1_memory, cg->v1_pids, memory, pids, e);
	}
	if (rc < 0)
		cgroup_destroy(cg);
	return rc;
}

/* Writes pid (0: the caller) into dir/cgroup.procs, without allocating. */
static int attach_one(const char *dir, pid_t pid, struct error *e)
{
	char num[16], *p = num + sizeof(num) - 1;
	unsigned long v = pid > 0 ? (unsigned long)pid : 0;

	*p = 0;
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10));
	if (write_at(dir, "cgroup.procs", p) < 0)
		return error_errno(e, "cannot move process %s into %s", p, dir);
	return 0;
}

int cgroup_attach(const struct cgroup *cg, pid_t pid, struct error *e)
{
	if (!cg->v2 && !cg->v1_memory)
		return error_set(e, "cgroup: no group to attach to");
	if (cg->v2 && attach_one(cg->v2, pid, e) < 0)
		return -1;
	if (cg->v1_memory && attach_one(cg->v1_memory, pid, e) < 0)
		return -1;
	if (cg->v1_pids && attach_one(cg->v1_pids, pid, e) < 0)
		return -1;
	return 0;
}

void cgroup_kill(const struct cgroup *cg)
{
	if (cg->v2)
		kill_all(cg->v2, 1, 0);
	/* v1: the same processes are in both hierarchies; the pids pass
	 * catches any that were attached to one of them only. */
	if (cg->v1_memory)
		kill_all(cg->v1_memory, 0, 0);
	if (cg->v1_pids)
		kill_all(cg->v1_pids, 0, 0);
}

static int remove_group(char **dir)
{
	if (!*dir)
		return 0;
	if (rmdir_wait(*dir) < 0)
		return -1;
	free(*dir);
	*dir = NULL;
	return 0;
}

int cgroup_destroy(struct cgroup *cg)
{
	int ret = 0;

	if (remove_group(&cg->v2) < 0)
		ret = -1;
	if (remove_group(&cg->v1_memory) < 0)
		ret = -1;
	if (remove_group(&cg->v1_pids) < 0)
		ret = -1;
	return ret;
}

int cgroup_oom(const struct cgroup *cg)
{
	char text[1024];
	long long n;

	if (cg->v2)
		return read_at(cg->v2, "memory.events", text, sizeof(text)) >= 0 &&
		       keyed_value(text, "oom_kill") > 0;
	if (!cg->v1_memory)
		return 0;
	if (read_at(cg->v1_memory, "memory.oom_control", text, sizeof(text)) >= 0 &&
	    (n = keyed_value(text, "oom_kill")) >= 0)
		return n > 0;
	return read_at(cg->v1_memory, "memory.failcnt", text, sizeof(text)) >= 0 &&
	       strtoll(text, NULL, 10) > 0;
}
