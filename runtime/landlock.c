/*
 * landlock.c - the instance's Landlock domain (see landlock.h).
 *
 * The kernel's uapi names are defined here, with the kernel's values
 * (include/uapi/linux/landlock.h), rather than taken from the system's
 * headers: Debian 12's stop at ABI 2 (no TRUNCATE, IOCTL_DEV, scopes),
 * and the values are ABI, fixed for ever.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1

/* The kernel takes a shorter struct from an older ABI's caller and a
 * longer one whose fields it does not know as long as they are zero. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;	/* ABI 4; left 0: not handled */
	uint64_t scoped;		/* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define LL_FS_EXECUTE		(1ULL << 0)
#define LL_FS_WRITE_FILE	(1ULL << 1)
#define LL_FS_READ_FILE		(1ULL << 2)
#define LL_FS_READ_DIR		(1ULL << 3)
/* bits 4 to 12 of ABI 1: remove and make (dir, file, char, block, fifo,
 * socket, symlink) */
#define LL_FS_ABI1		((1ULL << 13) - 1)
#define LL_FS_REFER		(1ULL << 13)	/* ABI 2 */
#define LL_FS_TRUNCATE		(1ULL << 14)	/* ABI 3 */
#define LL_FS_IOCTL_DEV		(1ULL << 15)	/* ABI 5 */

#define LL_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */
#define LL_SCOPE_SIGNAL			(1ULL << 1)	/* ABI 6 */

/* What the whole tree allows: reading and running the image. */
#define RIGHTS_READ	(LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE)
/* What a device node of /dev allows: read and write, no ioctls. */
#define RIGHTS_DEVICE	(LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_TRUNCATE)

int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
			 LL_CREATE_RULESET_VERSION);

	/* ENOSYS: built without it; EOPNOTSUPP: not enabled at boot. */
	return v > 0 ? (int)v : 0;
}

/* Every file system right the kernel of ABI abi knows. */
static uint64_t fs_rights(int abi)
{
	uint64_t r = LL_FS_ABI1;

	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

/* Allows rights (masked to those handled) beneath the file fd refers to. */
static int allow_fd(int ruleset, int fd, uint64_t rights, uint64_t handled,
		    const char *what, char *err, size_t n)
{
	struct ll_path_beneath_attr rule = {
		.allowed_access = rights & handled, .parent_fd = fd,
	};

	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH,
		    &rule, 0) < 0)
		return msg_errno(err, n, "landlock_add_rule", what);
	return 0;
}

/* The same for a path; with optional, a path that is not there is skipped. */
static int allow_path(int ruleset, const char *path, uint64_t rights,
		      uint64_t handled, int optional, char *err, size_t n)
{
	int rc, fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return msg_errno(err, n, "landlock: open", path);
	}
	rc = allow_fd(ruleset, fd, rights, handled, path, err, n);
	close(fd);
	return rc;
}

/*
 * imgtool run's stdio: its terminal or the files its caller redirected
 * to, which lie outside the instance's tree. A program that opens them
 * anew (/dev/stderr is /proc/self/fd/2) may, as they were opened: read
 * for a descriptor open for reading; write and truncate for one open for
 * writing; a terminal's ioctls too (termios). Pipes and sockets need no
 * rule: Landlock does not restrict their reopening.
 */
static int allow_stdio(int ruleset, uint64_t handled, char *err, size_t n)
{
	for (int fd = 0; fd <= 2; fd++) {
		uint64_t rights = 0;
		struct stat st;
		int mode;

		if (fstat(fd, &st) < 0 || (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode)) ||
		    (mode = fcntl(fd, F_GETFL)) < 0)
			continue;
		if ((mode & O_ACCMODE) != O_WRONLY)
			rights |= LL_FS_READ_FILE;
		if ((mode & O_ACCMODE) != O_RDONLY)
			rights |= LL_FS_WRITE_FILE | LL_FS_TRUNCATE;
		if (S_ISCHR(st.st_mode))
			rights |= LL_FS_IOCTL_DEV;
		if (allow_fd(ruleset, fd, rights, handled, "stdio", err, n) < 0)
			return -1;
	}
	return 0;
}

static int add_rules(int ruleset, uint64_t handled, const struct strv *writable,
		     int stdio, char *err, size_t n)
{
	static const char *const devices[] = {
		"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
	};

	if (allow_path(ruleset, "/", RIGHTS_READ, handled, 0, err, n) < 0)
		return -1;
	for (size_t i = 0; i < writable->n; i++)
		if (allow_path(ruleset, writable->v[i], handled, handled, 0, err, n) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		if (allow_path(ruleset, devices[i], RIGHTS_DEVICE, handled, 1, err, n) < 0)
			return -1;
	return stdio ? allow_stdio(ruleset, handled, err, n) : 0;
}

int landlock_confine(const struct strv *writable, int stdio, char *err,
		     size_t errlen)
{
	int abi = landlock_abi(), ruleset, rc;
	struct ll_ruleset_attr attr = { 0 };

	if (abi == 0)
		return 0;
	attr.handled_access_fs = fs_rights(abi);
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0)
		return msg_errno(err, errlen, "landlock_create_ruleset", NULL);
	rc = add_rules(ruleset, attr.handled_access_fs, writable, stdio, err,
		       errlen);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		rc = msg_errno(err, errlen, "landlock_restrict_self", NULL);
	close(ruleset);
	return rc < 0 ? -1 : abi;
}
