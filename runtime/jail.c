/*
 * jail.c - the mount plan of an instance (see jail.h).
 */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/capability.h>

#include "jail.h"
#include "util.h"

static int join(char *out, size_t n, const char *a, const char *b)
{
	int len = snprintf(out, n, "%s%s", a, b);

	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * vm.memfd_noexec=2 in the instance's PID namespace, and so in every one
 * below it: no memfd can be made executable, so that code the image does
 * not contain cannot be run from memory (memfd_create, write an ELF,
 * fexecve). The sysctl belongs to the writer's PID namespace (Linux 6.3
 * and later), and we are its PID 1, still root. It must be written before
 * /proc/sys turns read-only. A kernel without it has no such file: the
 * instance goes on, and the supervisor says so at start
 * (jail_has_memfd_noexec).
 */
static int memfd_noexec(const char *proc, char *err, size_t n)
{
	char p[PATH_MAX];
	int fd;

	if (join(p, sizeof(p), proc, "/sys/vm/memfd_noexec") < 0)
		return msg_errno(err, n, "path", "memfd_noexec");
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : msg_errno(err, n, "open", p);
	if (write(fd, "2", 1) != 1) {
		msg_errno(err, n, "write 2 to", p);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int jail_has_memfd_noexec(void)
{
	return access("/proc/sys/vm/memfd_noexec", F_OK) == 0;
}

/*
 * /proc of the instance's own PID namespace. The parts through which root
 * could change the host (sysctls, sysrq, irq affinity, bus) are bound
 * read-only over themselves: the service is not root, but a kernel bug that
 * makes it root must still not reach them. The files that show the host's
 * own state are masked afterwards (mask_proc).
 */
static int mount_proc(const char *root, char *err, size_t n)
{
	static const char *const ro[] = { "/sys", "/sysrq-trigger", "/irq", "/bus" };
	char proc[PATH_MAX], p[PATH_MAX];

	if (join(proc, sizeof(proc), root, "/proc") < 0 ||
	    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return msg_errno(err, n, "mount proc on", proc);
	if (memfd_noexec(proc, err, n) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		if (join(p, sizeof(p), proc, ro[i]) < 0)
			return msg_errno(err, n, "path", ro[i]);
		if (access(p, F_OK) < 0)
			continue;	/* not every kernel has /proc/bus */
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY |
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return msg_errno(err, n, "read-only bind of", p);
	}
	return 0;
}

/* A random (version 4) UUID, as the kernel's boot_id shows one. */
static int random_uuid(char *out, size_t size)
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x\n", b[0], b[1], b[2], b[3], b[4], b[5],
		 b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/*
 * Binds a read-only file holding text over target. The file is made in
 * the staging tmpfs at stage, named name.
 */
static int mask_file(const char *stage, const char *name, const char *target,
		     const char *text, char *err, size_t n)
{
	char file[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	if (snprintf(file, sizeof(file), "%s/%s", stage, name) >= (int)sizeof(file))
		return msg_errno(err, n, "path", name);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return msg_errno(err, n, "create", file);
	if (write(fd, text, len) != (ssize_t)len) {
		msg_errno(err, n, "write", file);
		close(fd);
		return -1;
	}
	close(fd);
	if (mount(file, target, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY |
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return msg_errno(err, n, "mask", target);
	return 0;
}

/*
 * The files of /proc that show the host, not the instance, masked with a
 * content of the instance's own (as runc binds /dev/null over /proc/kcore
 * and the like, but with contents that parsers still read):
 *   sys/kernel/random/boot_id  a random UUID per instance: the host's
 *                              names the host's boot, and links instances
 *   cmdline                    empty: the host's kernel command line
 *   loadavg                    "0.00 0.00 0.00 1/1 1": the host's load
 *                              and last PID tell of its other work
 *   locks                      empty: every file lock of the host
 *   key-users                  empty: the host's users' key quotas
 * A file the kernel does not have (key-users without keyrings) is skipped.
 *
 * The files are made in a small tmpfs mounted for the time on the image's
 * /dev (mount_dev() mounts the real one over it next), then detached: the
 * masks keep it, no path leads to it.
 */
static int mask_proc(const char *root, char *err, size_t n)
{
	static const struct { const char *path, *name, *text; } masks[] = {
		{ "/proc/sys/kernel/random/boot_id", "boot_id", NULL },
		{ "/proc/cmdline", "cmdline", "" },
		{ "/proc/loadavg", "loadavg", "0.00 0.00 0.00 1/1 1\n" },
		{ "/proc/locks", "locks", "" },
		{ "/proc/key-users", "key-users", "" },
	};
	char stage[PATH_MAX], p[PATH_MAX], uuid[40];
	int rc = 0;

	if (random_uuid(uuid, sizeof(uuid)) < 0)
		return msg_errno(err, n, "getrandom", NULL);
	if (join(stage, sizeof(stage), root, "/dev") < 0 ||
	    mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=16k,nr_inodes=8") < 0)
		return msg_errno(err, n, "mount the masks' tmpfs on", stage);
	for (size_t i = 0; rc == 0 && i < sizeof(masks) / sizeof(masks[0]); i++) {
		if (join(p, sizeof(p), root, masks[i].path) < 0)
			rc = msg_errno(err, n, "path", masks[i].path);
		else if (access(p, F_OK) == 0)
			rc = mask_file(stage, masks[i].name, p,
				       masks[i].text ? masks[i].text : uuid, err, n);
	}
	if (umount2(stage, MNT_DETACH) < 0 && rc == 0)
		rc = msg_errno(err, n, "detach the masks' tmpfs", stage);
	return rc;
}

/*
 * A minimal /dev: the five harmless character devices and the usual links,
 * on a small tmpfs that is then made read-only. No tty, no disks, no /dev/shm.
 */
static int mount_dev(const struct jail_spec *s, char *err, size_t n)
{
	const char *root = s->image;
	static const struct { const char *name; unsigned major, minor; } nodes[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 },
	};
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
	};
	uid_t owner = s->idmap ? s->uid_shift : 0;
	gid_t group = s->idmap ? s->gid_shift : 0;
	char dev[PATH_MAX], p[PATH_MAX], opts[96];

	/* The instance's root owns it (with a user namespace, root is
	 * uid_shift on the host): ls shows root, not nobody. */
	snprintf(opts, sizeof(opts), "mode=0755,size=64k,nr_inodes=32,uid=%u,gid=%u",
		 (unsigned)owner, (unsigned)group);
	if (join(dev, sizeof(dev), root, "/dev") < 0 ||
	    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, opts) < 0)
		return msg_errno(err, n, "mount tmpfs on", dev);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dev, nodes[i].name) >= (int)sizeof(p) ||
		    mknod(p, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0 ||
		    chmod(p, 0666) < 0 || lchown(p, owner, group) < 0)
			return msg_errno(err, n, "mknod", p);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		if (snprintf(p, sizeof(p), "%s/%s", dev, links[i][0]) >= (int)sizeof(p) ||
		    symlink(links[i][1], p) < 0 || lchown(p, owner, group) < 0)
			return msg_errno(err, n, "symlink", p);
	}
	if (mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		  opts) < 0)
		return msg_errno(err, n, "remount read-only", dev);
	return 0;
}

#define AREA_ASIDE_MAX 100	/* NAME.not-a-dir.1 to .99 */

static const char *kind_of(mode_t m)
{
	return S_ISLNK(m) ? "a symbolic link" : S_ISREG(m) ? "a file" :
	       S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a directory";
}

/*
 * renameat2 NOREPLACE in dir; a file system that lacks the flag (EINVAL:
 * some FUSE servers) gets a plain rename after a look that the name is
 * free. Only the jail's root renames here, before any service runs.
 */
static int rename_free(int dir, const char *from, const char *to)
{
	struct stat st;

	if (syscall(SYS_renameat2, dir, from, dir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (fstatat(dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return errno == ENOENT ? renameat(dir, from, dir, to) : -1;
}

/* Moves name in dir aside to NAME.not-a-dir.N; the name used in aside. */
static int move_aside(int dir, const char *name, char *aside, size_t n)
{
	for (int i = 1; i < AREA_ASIDE_MAX; i++) {
		if (snprintf(aside, n, "%s.not-a-dir.%d", name, i) >= (int)n) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (rename_free(dir, name, aside) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/*
 * The component name of a->path in dir, a directory: opened as it is, or
 * mended (moved aside, made anew) and opened. last: the area itself, made
 * with its owner and mode; else a parent, root's, 0755.
 */
static int open_component(int dir, const char *name, const struct jail_area *a,
			  int last, char *note, size_t notelen, char *err,
			  size_t errlen)
{
	char aside[NAME_MAX + 1], what[PATH_MAX + 64];
	struct stat st;
	int fd = open_beneath(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			      O_CLOEXEC, 0);

	if (fd >= 0)
		return fd;
	snprintf(what, sizeof(what), "area %s: %s in the log volume", a->path, name);
	if (errno != ELOOP && errno != ENOTDIR && errno != ENOENT)
		return msg_errno(err, errlen, "open", what);
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (move_aside(dir, name, aside, sizeof(aside)) < 0)
			return msg_errno(err, errlen, "move aside", what);
		note_add(note, notelen, "area %s: %s was %s; moved aside to %s "
			 "and made anew", a->path, name, kind_of(st.st_mode), aside);
	} else if (errno == ENOENT) {
		note_add(note, notelen, "area %s: %s was missing; made anew",
			 a->path, name);
	} else {
		return msg_errno(err, errlen, "stat", what);
	}
	if (mkdirat(dir, name, 0700) < 0 ||
	    (fd = open_beneath(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			       O_CLOEXEC, 0)) < 0)
		return msg_errno(err, errlen, "make", what);
	if (fchown(fd, last ? a->uid : 0, last ? a->gid : 0) < 0 ||
	    fchmod(fd, last ? a->mode & 07777 : 0755) < 0) {
		msg_errno(err, errlen, "set the owner and mode of", what);
		close(fd);
		return -1;
	}
	return fd;
}

int jail_open_area(int logs, const struct jail_area *a, char *note,
		   size_t notelen, char *err, size_t errlen)
{
	char path[PATH_MAX], *save = NULL, *name, *next;
	int dir = -1, fd;

	if (snprintf(path, sizeof(path), "%s", a->path) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return msg_errno(err, errlen, "area", a->path);
	}
	for (name = strtok_r(path, "/", &save); name; name = next) {
		next = strtok_r(NULL, "/", &save);
		if (!strcmp(name, ".") || !strcmp(name, "..")) {
			errno = EINVAL;
			fd = msg_errno(err, errlen, "area", a->path);
		} else {
			fd = open_component(dir < 0 ? logs : dir, name, a, !next,
					    note, notelen, err, errlen);
		}
		if (dir >= 0)
			close(dir);
		if (fd < 0)
			return -1;
		dir = fd;
	}
	if (dir < 0) {
		errno = EINVAL;	/* "/": the volume itself is no area */
		return msg_errno(err, errlen, "area", a->path);
	}
	return dir;
}

/*
 * Log and state areas: the log volume's directory, bound read-write. The
 * bind is made from the descriptor jail_open_area() opened, never from a
 * path that could lead elsewhere by the time mount(2) resolves it.
 */
static int mount_bind_area(int logs, const struct jail_area *a,
			   const char *target, char *note, size_t notelen,
			   char *err, size_t n)
{
	int fd = jail_open_area(logs, a, note, notelen, err, n), tree;

	if (fd < 0)
		return -1;
	tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	close(fd);
	if (tree < 0)
		return msg_errno(err, n, "open_tree of the area", a->path);
	if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		msg_errno(err, n, "bind the area", a->path);
		close(tree);
		return -1;
	}
	close(tree);
	/* Writable, but nothing on it runs, and no devices or setuid. */
	if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) < 0)
		return msg_errno(err, n, "remount", target);
	return 0;
}

/*
 * Clones the mount at path (with what is mounted below it), idmaps the
 * clone through the instance's user namespace, adds set (MOUNT_ATTR_*),
 * detaches the mount at path and mounts the clone in its place, so that
 * no path leads to the plain mount. Only a detached clone can be idmapped, and only
 * by root of the file system's namespace (ours, the host's): so it is done
 * here, before the instance enters its namespace (launch_drop).
 */
static int idmap_over(const char *path, int userns_fd, uint64_t set,
		      char *err, size_t n)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | set,
				   .userns_fd = (uint64_t)userns_fd };
	int fd = (int)open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				AT_RECURSIVE);

	if (fd < 0)
		return msg_errno(err, n, "open_tree (clone)", path);
	if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			  sizeof(attr)) < 0) {
		msg_errno(err, n, "idmap the mount of", path);
		close(fd);
		return -1;
	}
	if (umount2(path, MNT_DETACH) < 0) {
		msg_errno(err, n, "detach the plain mount of", path);
		close(fd);
		return -1;
	}
	if (move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		msg_errno(err, n, "mount the idmapped clone on", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int jail_idmap_areas(const struct jail_spec *s, char *err, size_t n)
{
	for (size_t i = 0; s->idmap && i < s->n_areas; i++) {
		const struct jail_area *a = &s->areas[i];

		if (a->kind == WRITABLE_SCRATCH)
			continue;
		if (idmap_over(a->path, s->userns_fd, MOUNT_ATTR_NOSUID |
			       MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err, n) < 0)
			return -1;
	}
	return 0;
}

/* Scratch areas: a sized tmpfs, gone with the instance. */
static int mount_scratch_area(const struct jail_area *a, uid_t shift_u,
			      gid_t shift_g, const char *target, char *err,
			      size_t n)
{
	char opts[128];

	snprintf(opts, sizeof(opts), "size=%" PRIu64 ",mode=%04o,uid=%u,gid=%u",
		 a->size, (unsigned)(a->mode & 07777), (unsigned)(a->uid + shift_u),
		 (unsigned)(a->gid + shift_g));
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  opts) < 0)
		return msg_errno(err, n, "mount tmpfs on", target);
	return 0;
}

static int mount_areas(const struct jail_spec *s, char *note, size_t notelen,
		       char *err, size_t n)
{
	char target[PATH_MAX];
	int logs = -1, rc = 0;

	for (size_t i = 0; rc == 0 && i < s->n_areas; i++) {
		const struct jail_area *a = &s->areas[i];

		if (join(target, sizeof(target), s->image, a->path) < 0) {
			rc = msg_errno(err, n, "path", a->path);
		} else if (a->kind == WRITABLE_SCRATCH) {
			rc = mount_scratch_area(a, s->idmap ? s->uid_shift : 0,
						s->idmap ? s->gid_shift : 0,
						target, err, n);
		} else if (logs < 0 && (!s->logs || (logs = open(s->logs, O_PATH |
				O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)) {
			rc = msg_errno(err, n, "the log volume", s->logs ? s->logs : "(none)");
		} else {
			rc = mount_bind_area(logs, a, target, note, notelen, err, n);
		}
	}
	if (logs >= 0)
		close(logs);
	return rc;
}

/*
 * pivot_root(".", ".") stacks the old root under the new one; detaching it
 * leaves the instance with no path back to the host's file systems. This
 * needs no spare directory in the read-only image (pivot_root(2), NOTES).
 */
static int pivot(const char *root, char *err, size_t n)
{
	if (chdir(root) < 0)
		return msg_errno(err, n, "chdir", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return msg_errno(err, n, "pivot_root", root);
	if (umount2(".", MNT_DETACH) < 0)
		return msg_errno(err, n, "detach old root", NULL);
	if (chdir("/") < 0)
		return msg_errno(err, n, "chdir", "/");
	return 0;
}

/* A new network namespace has lo, down: the service may want 127.0.0.1. */
static int loopback_up(char *err, size_t n)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int rc = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return msg_errno(err, n, "socket", NULL);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		rc = msg_errno(err, n, "SIOCGIFFLAGS", "lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (rc == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		rc = msg_errno(err, n, "SIOCSIFFLAGS", "lo");
	close(fd);
	return rc;
}

int jail_enter(const struct jail_spec *s, char *note, size_t notelen,
	       char *err, size_t errlen)
{
	note[0] = '\0';
	err[0] = '\0';
	/* The image first: everything else is mounted on its directories. */
	if (s->idmap && idmap_over(s->image, s->userns_fd, MOUNT_ATTR_RDONLY |
				   MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err,
				   errlen) < 0)
		return -1;
	if (mount_proc(s->image, err, errlen) < 0 ||
	    mask_proc(s->image, err, errlen) < 0 ||
	    mount_dev(s, err, errlen) < 0 ||
	    mount_areas(s, note, notelen, err, errlen) < 0 ||
	    pivot(s->image, err, errlen) < 0)
		return -1;
	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
		return msg_errno(err, errlen, "sethostname", s->hostname);
	if (s->loopback > 0 && loopback_up(err, errlen) < 0)
		return -1;
	return 0;
}
