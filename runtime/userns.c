/*
 * userns.c - the host ids an instance runs as (see userns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userns.h"

#define ID_LIMIT 0x100000000ULL	/* ids are 32 bits; (uid_t)-1 is none */

/* Checks start and count, in the words of where (a file, an option). */
static int check_range(uint64_t start, uint64_t count, const char *where,
		       struct error *e)
{
	if (start % USERNS_SLICE || count < USERNS_SLICE)
		return error_bad(e, "%s: imgtool's ids must start at a multiple "
				 "of 65536 and hold at least 65536", where);
	/* The last id of the range must be below (uid_t)-1. */
	if (start == 0 || start + count >= ID_LIMIT)
		return error_bad(e, "%s: imgtool's ids must lie between 1 and "
				 "4294967294", where);
	return 0;
}

/* A number in decimal or 0x hex, whole. */
static int parse_id(const char *s, size_t len, uint64_t *out)
{
	char buf[24], *end;

	if (!len || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '-' || buf[0] == '+')
		return -1;
	errno = 0;
	*out = strtoull(buf, &end, 0);
	return errno || *end ? -1 : 0;
}

/* "START:COUNT" into start and count; -1 if it is not that. */
static int parse_pair(const char *s, size_t len, uint64_t *start,
		      uint64_t *count)
{
	const char *colon = memchr(s, ':', len);

	if (!colon || parse_id(s, (size_t)(colon - s), start) < 0 ||
	    parse_id(colon + 1, len - (size_t)(colon + 1 - s), count) < 0)
		return -1;
	return 0;
}

int id_range_parse(const char *text, struct id_range *r, struct error *e)
{
	uint64_t start, count;

	if (parse_pair(text, strlen(text), &start, &count) < 0)
		return error_bad(e, "--id-range: \"%s\" is not START:COUNT", text);
	if (check_range(start, count, "--id-range", e) < 0)
		return -1;
	r->uid = r->gid = (uint32_t)start;
	r->slices = (uint32_t)(count / USERNS_SLICE);
	snprintf(r->source, sizeof(r->source), "--id-range");
	return 0;
}

/*
 * The "imgtool:START:COUNT" line of path: 1 found (start, count set), 0
 * none (or no file), -1 a bad line or an unreadable file.
 */
static int subid_line(const char *path, uint64_t *start, uint64_t *count,
		      struct error *e)
{
	static const char name[] = "imgtool:";
	char *data = NULL;
	size_t len;
	int found = 0;

	if (read_file(path, 1 << 20, &data, &len, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_errno(e, "%s", path);
	}
	for (char *line = data; line < data + len && !found;) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);

		if (n > sizeof(name) - 1 && !memcmp(line, name, sizeof(name) - 1)) {
			if (parse_pair(line + sizeof(name) - 1, n - (sizeof(name) - 1),
				       start, count) < 0) {
				free(data);
				return error_bad(e, "%s: the imgtool line is not "
						 "imgtool:START:COUNT", path);
			}
			found = 1;
		}
		line += n + 1;
	}
	free(data);
	return found;
}

int id_range_default(struct id_range *r, struct error *e)
{
	uint64_t us = 0, uc = 0, gs = 0, gc = 0;
	int u = subid_line("/etc/subuid", &us, &uc, e), g;

	if (u < 0 || (g = subid_line("/etc/subgid", &gs, &gc, e)) < 0)
		return -1;
	if (!u && !g) {
		r->uid = r->gid = USERNS_DEFAULT_START;
		r->slices = USERNS_DEFAULT_COUNT / USERNS_SLICE;
		snprintf(r->source, sizeof(r->source), "default");
		return 0;
	}
	if (u != g)
		return error_bad(e, "%s has an imgtool line and %s none: give "
				 "both", u ? "/etc/subuid" : "/etc/subgid",
				 u ? "/etc/subgid" : "/etc/subuid");
	if (check_range(us, uc, "/etc/subuid", e) < 0 ||
	    check_range(gs, gc, "/etc/subgid", e) < 0)
		return -1;
	r->uid = (uint32_t)us;
	r->gid = (uint32_t)gs;
	r->slices = (uint32_t)((uc < gc ? uc : gc) / USERNS_SLICE);
	snprintf(r->source, sizeof(r->source), "/etc/subuid");
	return 0;
}

/* ---- claims ------------------------------------------------------------- */

int id_claim(const struct id_range *r, uint32_t n, const char *lock_path,
	     struct id_claim *c, struct error *e)
{
	/* Bytes of the lock file are host slices (uid / 65536), so that
	 * two supervisors with different ranges still see each other. */
	uint64_t base = r->uid / USERNS_SLICE, at = 0;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->range = *r;
	if (n == 0 || n > r->slices)
		return error_set(e, "the id range %u:%llu (%s) holds %u slices of "
				 "65536 ids; %u are needed", r->uid,
				 (unsigned long long)r->slices * USERNS_SLICE,
				 r->source, r->slices, n);
	c->fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->fd < 0)
		return error_errno(e, "%s", lock_path);
	while (at + n <= r->slices) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = (off_t)(base + at), .l_len = n };

		if (fcntl(c->fd, F_OFD_SETLK, &fl) == 0) {
			c->first = (uint32_t)at;
			c->n = n;
			c->used = xcalloc(n, 1);
			return 0;
		}
		if ((errno != EAGAIN && errno != EACCES) ||
		    /* Past the block that holds ours: another supervisor's. */
		    fcntl(c->fd, F_OFD_GETLK, &fl) < 0) {
			error_errno(e, "%s: lock", lock_path);
			id_claim_free(c);
			return -1;
		}
		if (fl.l_type == F_UNLCK)
			continue;	/* freed meanwhile: try again */
		if (fl.l_len == 0)
			at = r->slices;
		else
			at = (uint64_t)fl.l_start + (uint64_t)fl.l_len - base;
	}
	error_set(e, "%s: no %u free slices of 65536 ids in %u:%llu (%s): "
		  "other supervisors hold them", lock_path, n, r->uid,
		  (unsigned long long)r->slices * USERNS_SLICE, r->source);
	id_claim_free(c);
	return -1;
}

void id_claim_free(struct id_claim *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->used);
	c->used = NULL;
	c->n = 0;
}

int id_slot_take(struct id_claim *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (!c->used[i]) {
			c->used[i] = 1;
			return (int)i;
		}
	return -1;
}

void id_slot_put(struct id_claim *c, int slot)
{
	if (slot >= 0 && (uint32_t)slot < c->n)
		c->used[slot] = 0;
}

uid_t id_slot_uid(const struct id_claim *c, int slot)
{
	return c->range.uid + (c->first + (uint32_t)slot) * USERNS_SLICE;
}

gid_t id_slot_gid(const struct id_claim *c, int slot)
{
	return c->range.gid + (c->first + (uint32_t)slot) * USERNS_SLICE;
}

/* ---- the namespace ------------------------------------------------------ */

/* What the holder needs: its ids and its two pipes. */
struct holder_arg {
	uid_t uid;
	gid_t gid;
	int ready;	/* it writes a byte here once it is in the namespace */
	int wait;	/* it ends when this closes */
	int ours[2];	/* our ends, which its copy of our table has too */
};

/*
 * The child that makes the namespace and holds it while its maps are
 * written. It shares our memory (CLONE_VM: no page tables copied), so it
 * makes raw calls only: glibc's setresuid would signal our threads to
 * change theirs too; syscall() may still set errno, ours, which we read
 * only after calls of our own. It takes the slice's
 * uid and gid first: the namespace's owner is then that uid, and what
 * the kernel counts per user up the namespaces' chain (their number,
 * inotify instances, processes, message queue bytes) is counted for the
 * slice at the host's level too, not for root. (Its uid change sets the
 * shared memory's dumpable flag to fs.suid_dumpable, 0 or 2: never one
 * that lets a user ptrace us; imgsupd is not dumpable anyway.)
 */
static int holder(void *p)
{
	const struct holder_arg *a = p;
	char c = 0;

	/* Its copies of our ends would keep the pipes open. */
	syscall(SYS_close, a->ours[0]);
	syscall(SYS_close, a->ours[1]);
	/* On failure it ends at once: ready closes unwritten. */
	if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) == 0 &&
	    syscall(SYS_setresuid, a->uid, a->uid, a->uid) == 0 &&
	    syscall(SYS_unshare, CLONE_NEWUSER) == 0 &&
	    syscall(SYS_write, a->ready, &c, 1) == 1)
		syscall(SYS_read, a->wait, &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

static int write_map(pid_t pid, const char *file, unsigned long id,
		     uint32_t count, struct error *e)
{
	char path[64], line[64];
	int fd, len, rc = 0;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	len = snprintf(line, sizeof(line), "0 %lu %u\n", id, count);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(e, "%s", path);
	if (write(fd, line, (size_t)len) != len)
		rc = error_errno(e, "%s: write \"0 %lu %u\"", path, id, count);
	close(fd);
	return rc;
}

/*
 * The holder's PID as the host's /proc names it: our caller may be PID 1 of
 * a PID namespace of its own (an instance), where clone() returns the
 * PID of that namespace. A pidfd's fdinfo says the PID in the namespace of
 * the /proc it is read through, which is the host's until the instance
 * mounts its own. Allocates nothing.
 */
static pid_t proc_pid(int pidfd, struct error *e)
{
	char path[64], buf[512], *p;
	ssize_t n;
	long pid;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(e, "%s", path);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return error_errno(e, "%s", path);
	buf[n] = '\0';
	p = strstr(buf, "\nPid:\t");
	if (!p || (pid = strtol(p + 6, NULL, 10)) <= 0)
		return error_set(e, "%s: no Pid line", path);
	return (pid_t)pid;
}

/* The maps of the holder's namespace, and the namespace opened. */
static int take_namespace(int pidfd, uid_t uid, gid_t gid, uint32_t count,
			  int ready, struct error *e)
{
	char path[64], c;
	pid_t pid;
	int fd;

	if (read(ready, &c, 1) != 1)
		return error_set(e, "make a user namespace: the child could "
				 "not take ids %u:%u or unshare", (unsigned)uid,
				 (unsigned)gid);
	if ((pid = proc_pid(pidfd, e)) < 0 ||
	    write_map(pid, "uid_map", uid, count, e) < 0 ||
	    write_map(pid, "gid_map", gid, count, e) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/ns/user", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(e, "%s", path);
	return fd;
}

int userns_make(uid_t uid, gid_t gid, uint32_t count, struct error *e)
{
	static char stack[16384] __attribute__((aligned(16)));
	struct holder_arg a = { .uid = uid, .gid = gid };
	int ready[2], wait[2], fd, status, pidfd = -1;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return error_errno(e, "pipe");
	if (pipe2(wait, O_CLOEXEC) < 0) {
		close(ready[0]);
		close(ready[1]);
		return error_errno(e, "pipe");
	}
	a.ready = ready[1];
	a.wait = wait[0];
	a.ours[0] = ready[0];
	a.ours[1] = wait[1];
	pid = clone(holder, stack + sizeof(stack), CLONE_VM | CLONE_PIDFD | SIGCHLD,
		    &a, &pidfd);
	/* Ours closed, its copies stay: a holder that fails ends, and its
	 * end of ready closes, which take_namespace() reads as failure. */
	close(ready[1]);
	close(wait[0]);
	if (pid < 0) {
		fd = error_errno(e, "clone");
	} else {
		fd = take_namespace(pidfd, uid, gid, count, ready[0], e);
		close(wait[1]);
		close(pidfd);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	close(ready[0]);
	if (pid < 0)
		close(wait[1]);
	return fd;
}
