/*
 * mounts.c - the mount table, the root and the files of the image: the
 * classic mount(2), the new mount API, pivot_root, the chroot dance,
 * writes to the read-only root and /dev, device nodes, and running code
 * that the image does not hold (a noexec area, a memfd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/mman.h>

#include "breakout.h"

/* What Debian 12's headers lack or keep in <linux/mount.h> (which clashes
 * with <sys/mount.h>). */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct bo_mount_attr { unsigned long long set, clr, propagation, userns_fd; };

#define SCRATCH "/tmp"

static int mount_tmpfs(const char *n, const char *arg)
{
	(void)arg;
	mkdir(SCRATCH "/m", 0700);
	return expect_fail(n, mount("none", SCRATCH "/m", "tmpfs", 0, NULL),
			   "mount tmpfs", "mounted a tmpfs");
}

static int mount_bind(const char *n, const char *arg)
{
	(void)arg;
	mkdir(SCRATCH "/m", 0700);
	return expect_fail(n, mount("/", SCRATCH "/m", NULL, MS_BIND | MS_REC, NULL),
			   "bind mount of /", "bind-mounted the root");
}

static int remount_rw(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL),
			   "remount of / read-write", "remounted the root read-write");
}

static int umount_proc(const char *n, const char *arg)
{
	(void)arg;
	/* under the instance's /proc would be nothing, but an unmount that
	 * works means the mount table is ours to change (masks could go) */
	return expect_fail(n, umount2("/proc/sys", MNT_DETACH),
			   "umount2 /proc/sys", "unmounted /proc/sys");
}

static int fsopen_tmpfs(const char *n, const char *arg)
{
	long fs, mnt;

	(void)arg;
	fs = syscall(SYS_fsopen, "tmpfs", 0);
	if (fs < 0)
		return blocked(n, "fsopen tmpfs", errno);
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return blocked(n, "fsopen worked, fsconfig create", errno);
	mnt = syscall(SYS_fsmount, fs, 0, 0);
	if (mnt < 0)
		return blocked(n, "fsopen worked, fsmount", errno);
	return escaped(n, "fsmount made a tmpfs mount (fd %ld)", mnt);
}

static int open_tree_clone(const char *n, const char *arg)
{
	long fd;

	(void)arg;
	fd = syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | AT_RECURSIVE);
	if (fd < 0)
		return blocked(n, "open_tree OPEN_TREE_CLONE of /", errno);
	return escaped(n, "cloned the mount tree of / (fd %ld)", fd);
}

static int move_mount_attack(const char *n, const char *arg)
{
	long rc;

	(void)arg;
	mkdir(SCRATCH "/m", 0700);
	/* fd -1 and an empty path: the call itself must be refused before
	 * the kernel looks at the arguments */
	rc = syscall(SYS_move_mount, AT_FDCWD, "/proc", AT_FDCWD, SCRATCH "/m", 0);
	return expect_fail(n, rc, "move_mount /proc", "moved the /proc mount");
}

static int fspick_root(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, syscall(SYS_fspick, AT_FDCWD, "/", 0),
			   "fspick /", "picked the root's superblock for reconfiguration");
}

static int mount_setattr_rw(const char *n, const char *arg)
{
	struct bo_mount_attr a = { .clr = MOUNT_ATTR_RDONLY };

	(void)arg;
	return expect_fail(n, syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &a, sizeof(a)),
			   "mount_setattr clearing read-only on /",
			   "made the root mount read-write");
}

static int pivot_root_attack(const char *n, const char *arg)
{
	(void)arg;
	if (chdir("/") < 0)
		return harness(n, "chdir /: %s", strerror(errno));
	return expect_fail(n, syscall(SYS_pivot_root, ".", "."),
			   "pivot_root", "pivot_root worked");
}

/*
 * The chroot dance: chroot into a subdirectory while the working directory
 * stays above it, then climb with "..": that reaches the real root of the
 * mount namespace. Escaped if the root we end on is not the one we started.
 */
static int chroot_dance(const char *n, const char *arg)
{
	struct stat before, after;

	(void)arg;
	if (stat("/", &before) < 0)
		return harness(n, "stat /: %s", strerror(errno));
	mkdir(SCRATCH "/c", 0700);
	if (chroot(SCRATCH "/c") < 0)
		return blocked(n, "chroot", errno);
	for (int i = 0; i < 64; i++)
		if (chdir("..") < 0)
			break;
	if (chroot(".") < 0)
		return blocked(n, "second chroot", errno);
	if (stat("/", &after) < 0)
		return blocked(n, "stat / after the dance", errno);
	if (after.st_dev != before.st_dev || after.st_ino != before.st_ino)
		return escaped(n, "the dance ended above the instance's root");
	return blocked(n, "chroot worked, the dance stayed in the instance's root", 0);
}

static int write_root(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, open("/pwned", O_WRONLY | O_CREAT | O_EXCL, 0644),
			   "create /pwned", "created a file in the read-only root");
}

static int write_etc(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, open("/etc/passwd", O_WRONLY | O_APPEND),
			   "open /etc/passwd for writing",
			   "opened /etc/passwd of the image for writing");
}

static int write_self(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, open(self_path, O_WRONLY),
			   "open the battery's own binary for writing",
			   "can rewrite the image's executable");
}

static int mknod_dev(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, mknod("/dev/pwned", S_IFCHR | 0666, makedev(1, 1)),
			   "mknod /dev/pwned", "made a device node in /dev");
}

static int write_dev(const char *n, const char *arg)
{
	(void)arg;
	return expect_fail(n, open("/dev/pwned", O_WRONLY | O_CREAT | O_EXCL, 0644),
			   "create a file in /dev", "created a file in /dev");
}

/* mknod of /dev/mem's numbers in the scratch area, then an open of it:
 * either step failing is enough (no CAP_MKNOD, nodev). */
static int mknod_scratch(const char *n, const char *arg)
{
	char buf[16];
	int fd;

	(void)arg;
	unlink(SCRATCH "/mem");
	if (mknod(SCRATCH "/mem", S_IFCHR | 0666, makedev(1, 1)) < 0)
		return blocked(n, "mknod of a mem device in /tmp", errno);
	fd = open(SCRATCH "/mem", O_RDONLY);
	if (fd < 0)
		return blocked(n, "mknod worked, open of the node", errno);
	if (read(fd, buf, sizeof(buf)) < 0)
		return blocked(n, "mknod and open worked, read of the node", errno);
	return escaped(n, "read physical memory through a node made in /tmp");
}

/* Copies the battery's binary to fd out. */
static int copy_self(int out)
{
	char buf[65536];
	int in = open(self_path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (in < 0)
		return -1;
	while ((got = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)got) != got) {
			close(in);
			return -1;
		}
	close(in);
	return got < 0 ? -1 : 0;
}

/* The exec attacks run a copy of ourselves with "__exec-ok", which prints
 * the ESCAPED line; the exec failing is the block. */
static int exec_scratch(const char *n, const char *arg)
{
	char *argv[] = { "breakout", "__exec-ok", (char *)n, NULL };
	int fd;

	(void)arg;
	unlink(SCRATCH "/copy");
	fd = open(SCRATCH "/copy", O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (fd < 0)
		return harness(n, "create /tmp/copy: %s", strerror(errno));
	if (copy_self(fd) < 0 || close(fd) < 0)
		return harness(n, "copy to /tmp/copy: %s", strerror(errno));
	fflush(NULL);
	execv(SCRATCH "/copy", argv);
	return blocked(n, "execve of a binary written to /tmp", errno);
}

static int memfd_exec(const char *n, const char *arg)
{
	char *argv[] = { "breakout", "__exec-ok", (char *)n, NULL };
	extern char **environ;
	int fd;

	(void)arg;
	fd = memfd_create("payload", MFD_CLOEXEC);
	if (fd < 0)
		return blocked(n, "memfd_create", errno);
	if (copy_self(fd) < 0)
		return blocked(n, "write to the memfd", errno);
	fflush(NULL);
	fexecve(fd, argv, environ);
	return blocked(n, "fexecve of a memfd", errno);
}

/* Reached only through an exec of a copy: that code ran. */
static int exec_ok(const char *n, const char *arg)
{
	(void)n;
	return escaped(arg ? arg : "exec", "code that the image does not hold ran");
}

const struct attack mounts_attacks[] = {
	{ "mount-tmpfs", mount_tmpfs, "seccomp baseline (mount: EPERM)", "no CAP_SYS_ADMIN", "mount(2) a tmpfs" },
	{ "mount-bind-root", mount_bind, "seccomp baseline (mount)", "no CAP_SYS_ADMIN", "bind-mount / elsewhere" },
	{ "remount-root-rw", remount_rw, "seccomp baseline (mount)", "no CAP_SYS_ADMIN; the mount is locked read-only", "remount / read-write" },
	{ "umount-proc-sys", umount_proc, "seccomp baseline (umount2)", "no CAP_SYS_ADMIN; locked mounts", "unmount the read-only /proc/sys" },
	{ "fsopen", fsopen_tmpfs, "seccomp baseline (fsopen)", "no CAP_SYS_ADMIN", "new mount API: fsopen, fsconfig, fsmount" },
	{ "open-tree", open_tree_clone, "seccomp baseline (open_tree)", "no CAP_SYS_ADMIN", "clone the mount tree of / with open_tree" },
	{ "move-mount", move_mount_attack, "seccomp baseline (move_mount)", "no CAP_SYS_ADMIN", "move the /proc mount" },
	{ "fspick", fspick_root, "seccomp baseline (fspick)", "no CAP_SYS_ADMIN", "reconfigure the root's superblock" },
	{ "mount-setattr", mount_setattr_rw, "seccomp baseline (mount_setattr)", "no CAP_SYS_ADMIN; locked flags", "clear MOUNT_ATTR_RDONLY on /" },
	{ "pivot-root", pivot_root_attack, "seccomp baseline (pivot_root)", "no CAP_SYS_ADMIN", "pivot_root(\".\", \".\")" },
	{ "chroot-dance", chroot_dance, "seccomp baseline (chroot)", "no CAP_SYS_CHROOT; pivot_root'ed jail, the old root detached", "chroot into /tmp/c and climb out with .." },
	{ "write-root", write_root, "read-only root (EROFS)", "the image is erofs/squashfs, read-only by nature", "create a file in /" },
	{ "write-etc", write_etc, "read-only root (EROFS)", "files owned by root, the service is not", "open /etc/passwd for writing" },
	{ "write-self", write_self, "read-only root (EROFS)", "file owned by root", "rewrite the battery's own binary" },
	{ "mknod-dev", mknod_dev, "read-only /dev (EROFS) or no CAP_MKNOD", "seccomp cannot tell; no capabilities", "mknod in /dev" },
	{ "write-dev", write_dev, "read-only /dev tmpfs (EROFS)", "/dev owned by root", "create a file in /dev" },
	{ "mknod-scratch", mknod_scratch, "no CAP_MKNOD (EPERM)", "nodev on every writable area", "make a /dev/mem node in /tmp and read it" },
	{ "exec-scratch", exec_scratch, "noexec on the scratch area (EACCES)", "Landlock: /tmp is writable, but the read-only image and every other path are not", "execve a binary written to /tmp" },
	{ "memfd-exec", memfd_exec, "vm.memfd_noexec=2 in the instance's PID namespace (EACCES)", "none: an interpreter in the image can still run code it reads", "fexecve a memfd holding a copy of the binary" },
	{ "__exec-ok", exec_ok, "", "", "" },
	{ NULL, NULL, NULL, NULL, NULL }
};
