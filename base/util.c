/*
 * util.c - small helpers shared by the builder and the command line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/openat2.h>

#include "util.h"

static int error_vset(struct error *e, int status, int with_errno,
		      const char *fmt, va_list ap)
{
	int saved = errno;
	int n;

	if (!e)
		return -1;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
	e->status = status;
	errno = saved;
	return -1;
}

int error_set(struct error *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, 1, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int error_bad(struct error *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, 3, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int error_errno(struct error *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vset(e, 1, 1, fmt, ap);
	va_end(ap);
	return -1;
}

void out_of_memory(void)
{
	static const char msg[] = "imgtool: out of memory\n";

	/* write(2) rather than stdio: stdio may need memory itself. */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		out_of_memory();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		out_of_memory();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		out_of_memory();
	va_end(ap);
	return p;
}

void strv_push(struct strv *s, char *owned)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = owned;
	s->v[s->n] = NULL;
}

void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static void buf_grow(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need < b->len)
		out_of_memory();
	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->data = xrealloc(b->data, b->cap);
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Parses digits into *out, refusing empty strings and overflow. */
static const char *parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return s;
}

/* Multiplies, refusing overflow and results above max. */
static int scale(uint64_t v, uint64_t unit, uint64_t max, uint64_t *out)
{
	if (unit && v > max / unit)
		return -1;
	v *= unit;
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	const char *end = parse_digits(s, &v);

	if (!end || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	static const char units[] = "KMGT";
	uint64_t v, unit = 1;
	const char *end = parse_digits(s, &v);
	const char *u;

	if (!end)
		return -1;
	if (*end) {
		if (end[1] && !(end[1] == 'i' && end[2] == 'B' && !end[3]) &&
		    !(end[1] == 'B' && !end[2]))
			return -1;
		u = strchr(units, *end);
		if (!u || !*u)
			return -1;
		for (const char *p = units; p <= u; p++)
			unit *= 1024;
	}
	return scale(v, unit, max, out);
}

int parse_duration(const char *s, uint64_t max_seconds, uint64_t *out)
{
	uint64_t v, unit = 1;
	const char *end = parse_digits(s, &v);

	if (!end)
		return -1;
	if (*end) {
		if (end[1])
			return -1;
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default: return -1;
		}
	}
	return scale(v, unit, max_seconds, out);
}

int path_is_clean(const char *path)
{
	const char *p = path;

	if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
		return 0;
	if (!strcmp(path, "/"))
		return 1;
	while (*p == '/') {
		const char *c = p + 1;
		size_t n = strcspn(c, "/");

		if (n == 0)
			return 0;	/* "//" or a trailing slash */
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		p = c + n;
	}
	return 1;
}

/* Reads fd to its end (at most max bytes); closes it. Messages name path. */
static int read_fd(int fd, const char *path, size_t max, char **data,
		   size_t *len, struct error *e)
{
	struct buf b = { 0 };
	char chunk[65536];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_errno(e, "%s: read", path);
			goto fail;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			error_bad(e, "%s: larger than %zu bytes", path, max);
			goto fail;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (!b.data)
		b.data = xcalloc(1, 1);
	*data = b.data;
	*len = b.len;
	return 0;
fail:
	close(fd);
	buf_free(&b);
	return -1;
}

int read_file(const char *path, size_t max, char **data, size_t *len,
	      struct error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return error_errno(e, "%s", path);
	return read_fd(fd, path, max, data, len, e);
}

int read_file_beneath(const char *dir, const char *path, size_t max,
		      char **data, size_t *len, struct error *e)
{
	char *name = xasprintf("%s/%s", dir, path);
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1, rc = -1;
	struct stat st;

	if (dfd < 0)
		error_errno(e, "%s", dir);
	else if ((fd = open_beneath(dfd, path, O_RDONLY | O_CLOEXEC |
				      O_NOCTTY | O_NONBLOCK, 0)) < 0)
		error_errno(e, "%s", name);
	else if (fstat(fd, &st) < 0)
		error_errno(e, "%s", name);
	else if (!S_ISREG(st.st_mode))
		error_bad(e, "%s: not a regular file", name);
	else if ((uint64_t)st.st_size > max)
		error_bad(e, "%s: larger than %zu bytes", name, max);
	else {
		rc = read_fd(fd, name, max, data, len, e);
		fd = -1;	/* read_fd closed it */
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(name);
	return rc;
}

/* "rename:N" counts; "POINT:CMD" runs CMD at POINT. */
void fault_point(void)
{
	static unsigned long calls;
	const char *f = getenv("IMGTOOL_FAULT");
	uint64_t n;

	if (!f || strncmp(f, "rename:", 7) || parse_uint(f + 7, 1, UINT32_MAX, &n) < 0)
		return;
	if (++calls == n)
		_exit(137);
}

int fault_run(const char *point, struct error *e)
{
	const char *f = getenv("IMGTOOL_FAULT");
	size_t n = strlen(point);
	char *argv[] = { "sh", "-c", NULL, NULL };

	if (!f || strncmp(f, point, n) || f[n] != ':')
		return 0;
	argv[2] = (char *)f + n + 1;
	return run_command(argv, 0, e);
}

int fill_stdio(struct error *e)
{
	for (int fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		n = open("/dev/null", O_RDWR);
		if (n < 0)
			return error_errno(e, "/dev/null");
		if (n != fd)
			return error_set(e, "fd %d was closed and /dev/null "
					 "did not take its place", fd);
	}
	return 0;
}

int open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)flags, .mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int set_append_only(int fd, int on)
{
	int flags;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return -1;
	if (!(flags & FS_APPEND_FL) == !on)
		return 0;
	flags = on ? flags | FS_APPEND_FL : flags & ~FS_APPEND_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 ? -1 : 1;
}

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_begin(const char *path, char **tmp, struct error *e)
{
	int fd;

	*tmp = xasprintf("%s.tmp.XXXXXX", path);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		error_errno(e, "%s", *tmp);
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

int atomic_commit(int fd, char *tmp, const char *path, int ok,
			 mode_t mode, struct error *e)
{
	if (ok && (fchmod(fd, mode) < 0 || fsync(fd) < 0)) {
		error_errno(e, "%s", tmp);
		ok = 0;
	}
	if (close(fd) < 0 && ok) {
		error_errno(e, "%s", tmp);
		ok = 0;
	}
	if (ok && rename(tmp, path) < 0) {
		error_errno(e, "%s", path);
		ok = 0;
	}
	if (!ok)
		unlink(tmp);
	free(tmp);
	return ok ? 0 : -1;
}

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct error *e)
{
	char *tmp;
	int fd = atomic_begin(path, &tmp, e), ok;

	if (fd < 0)
		return -1;
	ok = write_all(fd, data, len) == 0;
	if (!ok)
		error_errno(e, "%s", tmp);
	return atomic_commit(fd, tmp, path, ok, mode, e);
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	/* A directory we could not read: make it writable and readable. */
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	/* FTW_MOUNT: never descend into a file system mounted below path. */
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}


/* The package that brings each tool we run, for the message when it is missing. */
static const char *tool_package(const char *tool)
{
	static const char *const map[][2] = {
		{ "mkfs.erofs", "erofs-utils" }, { "fsck.erofs", "erofs-utils" },
		{ "mksquashfs", "squashfs-tools" }, { "unsquashfs", "squashfs-tools" },
		{ "mkfs.ext4", "e2fsprogs" }, { "debugfs", "e2fsprogs" },
		{ "fakeroot", "fakeroot" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i][0], tool))
			return map[i][1];
	return NULL;
}

/*
 * Finds a tool in PATH, then in the sbin directories: mkfs.ext4 lives in
 * /usr/sbin, which an unprivileged user's PATH often lacks.
 */
char *find_tool(const char *tool)
{
	const char *path = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/sbin:/sbin", path && *path ? path : "/usr/bin:/bin");
	char *save = NULL, *found = NULL;

	if (strchr(tool, '/')) {
		free(dirs);
		return xstrdup(tool);
	}
	for (char *d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *d ? d : ".", tool);

		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

/* Reads the child's stdout into out, at most max bytes (the rest is dropped). */
static void capture(int fd, struct buf *out, size_t max)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (out->len < max)
			buf_add(out, chunk, (size_t)n < max - out->len ? (size_t)n : max - out->len);
	}
}

static void child_exec(const char *tool, char *const argv[], int out_fd,
		       int quiet_stderr)
{
	int null = quiet_stderr ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;

	if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(127);
	if (null >= 0 && dup2(null, STDERR_FILENO) < 0)
		_exit(127);
	execv(tool, argv);
	fprintf(stderr, "imgtool: %s: %s\n", tool, strerror(errno));
	_exit(127);
}

static int wait_status(pid_t pid, const char *name, struct error *e)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return error_errno(e, "waitpid");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return error_set(e, "%s exited with status %d", name,
				 WEXITSTATUS(status));
	return error_set(e, "%s killed by signal %d", name, WTERMSIG(status));
}

/*
 * Runs argv with stdout to /dev/null (quiet), into out (out != NULL, and
 * then stderr to /dev/null: the tools we read, like debugfs, chatter there),
 * or ours.
 */
static int run(char *const argv[], int quiet, struct buf *out, size_t max,
	       struct error *e)
{
	char *tool = find_tool(argv[0]);
	const char *pkg = tool_package(argv[0]);
	int fds[2] = { -1, -1 }, rc;
	pid_t pid;

	if (!tool)
		return error_set(e, "%s: not found%s%s%s", argv[0],
				 pkg ? " (install the package " : "", pkg ? pkg : "",
				 pkg ? ")" : "");
	if (out ? pipe2(fds, O_CLOEXEC) < 0 :
	    quiet && (fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		free(tool);
		return error_errno(e, "pipe");
	}
	pid = fork();
	if (pid == 0)
		child_exec(tool, argv, fds[1], out != NULL);
	free(tool);
	if (fds[1] >= 0)
		close(fds[1]);
	if (pid > 0 && out)
		capture(fds[0], out, max);
	if (fds[0] >= 0)
		close(fds[0]);
	if (pid < 0)
		return error_errno(e, "fork");
	rc = wait_status(pid, argv[0], e);
	return rc;
}

int run_command(char *const argv[], int quiet, struct error *e)
{
	return run(argv, quiet, NULL, 0, e);
}

int run_capture(char *const argv[], size_t max, struct buf *out, struct error *e)
{
	return run(argv, 0, out, max, e);
}


pid_t tag_pid(const char *tag)
{
	const char *dot = strrchr(tag, '.');
	size_t n;

	if (!dot || dot == tag)
		return 0;
	n = strlen(dot + 1);
	if (n == 0 || n > 9 || dot[1] == '0' || strspn(dot + 1, "0123456789") != n)
		return 0;
	return (pid_t)strtol(dot + 1, NULL, 10);
}

int pid_running(pid_t pid)
{
	/* EPERM: it runs, as another user. */
	return kill(pid, 0) == 0 || errno == EPERM;
}

void remove_dead_tags(const char *dir, const char *prefix,
		      void (*before)(const char *path))
{
	size_t n = strlen(prefix);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		pid_t pid = tag_pid(de->d_name);
		char *path;

		if (strncmp(de->d_name, prefix, n) || !pid || pid_running(pid))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (before)
			before(path);
		remove_tree(path);
		free(path);
	}
	if (d)
		closedir(d);
}

int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* The candidate dir/rel if it can be read, else NULL. */
static char *readable(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);

	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/*
 * The candidate dir/rel when the directory it would be in is there, the
 * file or not: that tree is ours, and a file missing from it is missing.
 * NULL when that directory is not there, or is dir itself (a program
 * beside another, as imgsupd-vm beside imgsupd, makes no tree).
 */
static char *in_tree(const char *dir, const char *rel)
{
	char *path, *slash;
	struct stat st;
	int there;

	if (!strchr(rel, '/'))
		return NULL;
	path = xasprintf("%s/%s", dir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	there = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	*slash = '/';
	if (there)
		return path;
	free(path);
	return NULL;
}

char *locate_file(const char *env, const char *in_build, const char *installed,
		  const char *fallback)
{
	const char *value = getenv(env);
	char exe[PATH_MAX], *slash, *found = NULL;
	int build = 0;
	ssize_t n;

	if (value && *value)
		return xstrdup(value);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')))
			*slash = '\0';
		build = has_suffix(exe, "/build/bin");
		if (build)
			found = readable(exe, in_build);
		if (!found)
			found = readable(exe, installed);
		/*
		 * Not there, in a tree of ours that is: that tree's path, for
		 * the message. The configured prefix may hold another
		 * installation (another version, the one being replaced), whose
		 * files are not this program's.
		 */
		if (!found && build)
			found = in_tree(exe, in_build);
		if (!found)
			found = in_tree(exe, installed);
	}
	return found ? found : xstrdup(fallback);
}

static int cpu_has_virtualization(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f))
		if (!strncmp(line, "flags", 5))
			found = strstr(line, " vmx") || strstr(line, " svm");
	fclose(f);
	return found;
}

int kvm_usable(void)
{
	const char *accel = getenv("IMGTOOL_ACCEL");
	int fd;

	if (accel && !strcmp(accel, "kvm"))
		return 1;
	if (accel && !strcmp(accel, "tcg"))
		return 0;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return cpu_has_virtualization();
}

/* Formats "what path: strerror(errno)" into err; returns -1. */
void note_add(char *note, size_t n, const char *fmt, ...)
{
	size_t len = strnlen(note, n);
	va_list ap;

	if (len + 1 >= n)
		return;
	if (len && len + 3 < n) {
		memcpy(note + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(note + len, n - len, fmt, ap);
	va_end(ap);
}

int msg_errno(char *err, size_t n, const char *what, const char *path)
{
	int saved = errno;

	snprintf(err, n, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
		 strerror(saved));
	errno = saved;
	return -1;
}
