/*
 * logs.c - imgtool logs (see image.h): what instances wrote to an image's
 * log volume, printed, followed or copied out.
 *
 * Instances wrote those files, and an instance is hostile by assumption:
 *  - Live, through a running supervisor's mount, the tree can change while
 *    we read it (a directory swapped for a symlink with renameat2
 *    RENAME_EXCHANGE between two look-ups of a path). So nothing is opened
 *    by a path: every entry is opened relative to the open directory it
 *    was listed in, with openat2 and RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
 *    RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV, and only what fstat of
 *    the opened fd calls a regular file or a directory is used. O_NONBLOCK
 *    makes the open of a FIFO return at once (and it is then skipped),
 *    O_NOCTTY keeps a terminal from becoming ours; the areas are mounted
 *    nodev, so no device opens at all.
 *  - The walk runs in a child with the area owner's uid and gid (the
 *    manifest's), no supplementary groups and no dumpable core: a file
 *    that user cannot read is not read by root on its behalf.
 *  - The bytes may hold terminal controls. On a terminal they are shown
 *    escaped, as \xNN; a file that looks binary is not printed at all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "image.h"
#include "manifest.h"

/* The most follow reads of one file in one pass. */
#define FOLLOW_CHUNK (1u << 20)

struct logs_run {
	const char *image;		/* as the user named it, for the hints */
	const struct logs_opts *o;
	FILE *out;
	uint64_t budget;		/* bytes of contents still to print */
	int pidfd;			/* follow: the supervisor, or -1 */
};

/* ---- showing bytes ---------------------------------------------------- */

/*
 * The length of the valid UTF-8 sequence at p (n bytes there), and its
 * code point in *cp; 0 if p starts none (an overlong form, a surrogate, a
 * stray continuation byte, a sequence cut short).
 */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, c = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, c = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, c = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * The next unit at p: a valid UTF-8 character or one byte of invalid
 * UTF-8 (its length is returned), and whether it may reach a terminal as
 * it is (*raw). Escaped: C0 controls but \n and \t, DEL, the C1 controls
 * U+0080-U+009F, invalid UTF-8 (which covers raw C1 bytes 0x80-0x9f, as
 * no character starts with one). In a name (name != 0) \n, \t and the
 * backslash are escaped too, so that a shown name decodes back to the
 * real one (unescape_path()).
 */
static size_t next_unit(const unsigned char *p, size_t n, int name, int *raw)
{
	uint32_t c;
	size_t len = utf8_seq(p, n, &c);

	if (!len) {
		*raw = 0;
		return 1;
	}
	if (c == '\n' || c == '\t' || c == '\\')
		*raw = !name;
	else
		*raw = c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0);
	return len;
}

/* Writes n bytes of p to out, each unit next_unit() refuses as \xNN. */
static void put_escaped(FILE *out, const unsigned char *p, size_t n)
{
	size_t i = 0, run = 0;

	while (i < n) {
		int raw;
		size_t len = next_unit(p + i, n - i, 0, &raw);

		if (raw) {
			i += len;
			continue;
		}
		fwrite(p + run, 1, i - run, out);
		for (size_t k = 0; k < len; k++)
			fprintf(out, "\\x%02x", p[i + k]);
		i += len;
		run = i;
	}
	fwrite(p + run, 1, n - run, out);
}

/* Appends a file's name as a header shows it: escaped, \ as \\. */
static void escape_name(struct buf *b, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = strlen(name), i = 0;

	while (i < n) {
		int raw;
		size_t len = next_unit(p + i, n - i, 1, &raw);

		if (raw)
			buf_add(b, p + i, len);
		else if (p[i] == '\\')
			buf_puts(b, "\\\\");
		else
			for (size_t k = 0; k < len; k++)
				buf_printf(b, "\\x%02x", p[i + k]);
		i += len;
	}
}

/*
 * The real bytes of a path shown by escape_name() (malloc'd), or NULL if
 * it holds a backslash that is neither \\ nor \xNN, or a \x00.
 */
static char *unescape_path(const char *shown)
{
	struct buf b = { 0 };

	for (const char *p = shown; *p; p++) {
		unsigned v;

		if (*p != '\\') {
			buf_add(&b, p, 1);
		} else if (p[1] == '\\') {
			buf_add(&b, p++, 1);
		} else if (p[1] == 'x' && sscanf(p + 2, "%2x", &v) == 1 && v &&
			   strspn(p + 2, "0123456789abcdefABCDEF") >= 2) {
			unsigned char c = (unsigned char)v;

			buf_add(&b, &c, 1);
			p += 3;
		} else {
			buf_free(&b);
			return NULL;
		}
	}
	buf_add(&b, "", 1);
	return b.data;
}

/*
 * Binary: a NUL byte, or more than a quarter of the bytes neither text
 * (printable, UTF-8, or \t \n \r \f \b ESC) nor valid UTF-8. Such a file
 * is not printed; --copy gets it out.
 */
static int looks_binary(const unsigned char *p, size_t n)
{
	size_t odd = 0;

	if (memchr(p, '\0', n))
		return 1;
	for (size_t i = 0; i < n;) {
		uint32_t c;
		size_t len = utf8_seq(p + i, n - i, &c);

		if (!len || c == 0x7f || (c < 0x20 && !strchr("\t\n\r\f\b\033", (int)c)))
			odd++;
		i += len ? len : 1;
	}
	return odd > n / 4;
}

static void put_header(const struct logs_run *r, const char *shown)
{
	fprintf(r->out, "==> %s <==\n", shown);
}

/*
 * Prints len bytes of a file's contents (all of it, or what follow found
 * appended): the line that replaces binary data, else the bytes, escaped
 * on a terminal. Counts them against the budget of a one-time print.
 */
static void put_contents(struct logs_run *r, const char *shown,
			 const unsigned char *data, size_t len, int appended)
{
	if (len > r->budget)
		len = (size_t)r->budget;
	if (looks_binary(data, len)) {
		fprintf(r->out, "(binary %s, %zu bytes; copy it with: imgtool logs %s "
			"--copy %s DEST)\n", appended ? "data appended" : "file",
			len, r->image, shown);
	} else if (r->o->escape) {
		put_escaped(r->out, data, len);
	} else {
		fwrite(data, 1, len, r->out);
	}
	r->budget -= len;
}

/* logvol_walk()'s callback: one file of the volume file. */
static int print_volume_file(const char *path, const char *data, size_t len,
			     void *arg)
{
	struct logs_run *r = arg;

	put_header(r, path);
	put_contents(r, path, (const unsigned char *)data, len, 0);
	return 0;
}

/* ---- the live tree, by directory fds ---------------------------------- */

/* What the walk opens: as it is, never blocking on a FIFO nor taking a tty. */
#define WALK_OPEN (O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in the open directory dir, sorted, without . and ..: listed
 * through a duplicate (closedir closes its fd), from the start each time
 * (a duplicate shares dir's offset). -1 if it cannot be read.
 */
static int dir_names(int dir, struct strv *names)
{
	int fd = fcntl(dir, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(names, xstrdup(de->d_name));
	closedir(d);
	if (names->n)
		qsort(names->v, names->n, sizeof(*names->v), by_name);
	return 0;
}

struct walker {
	struct logs_run *r;
	/* Each regular file: fd open on it, st its fstat, shown its path. */
	void (*file)(struct walker *w, int fd, const struct stat *st,
		     const char *shown);
	void *state;
};

/*
 * What a one-time print says of an entry it does not read, so that an
 * area's owner cannot hide a file from the reader by making it odd.
 */
static void note_skipped(const struct walker *w, const char *shown,
			 const char *why)
{
	if (w->r->o->follow)
		return;
	put_header(w->r, shown);
	fprintf(w->r->out, "(%s: not read)\n", why);
}

static void walk_live(struct walker *w, int dir, const char *shown, int depth)
{
	struct strv names = { 0 };

	if (depth > LOGS_MAX_DEPTH || dir_names(dir, &names) < 0)
		return;
	for (size_t i = 0; i < names.n; i++) {
		struct buf sub = { 0 };
		int fd = open_beneath(dir, names.v[i], WALK_OPEN, 0), err = errno;
		struct stat st;

		buf_printf(&sub, "%s/", shown);
		escape_name(&sub, names.v[i]);
		if (fd < 0)
			note_skipped(w, sub.data, err == ELOOP ? "a symbolic link" :
				     strerror(err));
		else if (fstat(fd, &st) < 0)
			note_skipped(w, sub.data, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			walk_live(w, fd, sub.data, depth + 1);
		else if (S_ISREG(st.st_mode))
			w->file(w, fd, &st, sub.data);
		else
			note_skipped(w, sub.data, "not a regular file");
		if (fd >= 0)
			close(fd);
		buf_free(&sub);
	}
	strv_free(&names);
}

/* The one-time print of a file: all of it, within the budget. */
static void print_live_file(struct walker *w, int fd, const struct stat *st,
			    const char *shown)
{
	struct buf data = { 0 };
	char chunk[65536];
	ssize_t n;

	(void)st;
	put_header(w->r, shown);
	while (data.len < w->r->budget && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(w->r->out, "(%s: stopped reading)\n", strerror(errno));
			break;
		}
		buf_add(&data, chunk, (size_t)n);
	}
	if (data.len)
		put_contents(w->r, shown, (const unsigned char *)data.data, data.len, 0);
	buf_free(&data);
}

/* ---- follow ------------------------------------------------------------ */

struct followed {
	char *shown;
	dev_t dev;
	ino_t ino;
	off_t offset;		/* printed up to here */
};

struct follow {
	struct followed *v;
	size_t n;
	const char *last;	/* the file whose header was printed last */
};

static struct followed *followed_of(struct follow *f, const char *shown,
				    const struct stat *st)
{
	struct followed *x = NULL;

	for (size_t i = 0; i < f->n && !x; i++)
		if (!strcmp(f->v[i].shown, shown))
			x = &f->v[i];
	if (!x) {
		f->v = xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
		x = &f->v[f->n++];
		x->shown = xstrdup(shown);
		x->dev = st->st_dev;
		x->ino = st->st_ino;
		x->offset = 0;
	}
	/* Another file under the name (rotated), or the same truncated. */
	if (x->dev != st->st_dev || x->ino != st->st_ino || st->st_size < x->offset) {
		x->dev = st->st_dev;
		x->ino = st->st_ino;
		x->offset = 0;
	}
	return x;
}

/* Prints what was appended to a file since the last pass, if anything. */
static void follow_file(struct walker *w, int fd, const struct stat *st,
			const char *shown)
{
	struct follow *f = w->state;
	struct followed *x = followed_of(f, shown, st);
	static unsigned char chunk[FOLLOW_CHUNK];
	ssize_t n;

	while ((n = pread(fd, chunk, sizeof(chunk), x->offset)) > 0) {
		if (f->last != x->shown) {
			put_header(w->r, shown);
			f->last = x->shown;
		}
		w->r->budget = UINT64_MAX;
		put_contents(w->r, shown, chunk, (size_t)n, x->offset > 0);
		x->offset += n;
	}
	fflush(w->r->out);
}

/*
 * A reader's work in follow mode: a pass over the area each second, each
 * printing what is new; after the supervisor has ended (its pidfd turns
 * readable), one last pass. SIGINT and SIGTERM end it.
 */
static int follow_area(struct logs_run *r, int area, const char *shown,
		       struct error *e)
{
	struct follow f = { 0 };
	struct walker w = { r, follow_file, &f };
	struct pollfd p = { .fd = r->pidfd, .events = POLLIN };
	int ended = 0;

	while (!ended) {
		walk_live(&w, area, shown, 0);
		fflush(r->out);
		ended = poll(&p, 1, 1000);
		if (ended < 0 && errno != EINTR)
			return error_errno(e, "poll");
		ended = ended > 0;
	}
	walk_live(&w, area, shown, 0);
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i].shown);
	free(f.v);
	return 0;
}

/* ---- readers: children as the area's owner ---------------------------- */

struct reader {
	pid_t pid;
	int result;		/* the read end of the child's struct reader_result */
	int status;		/* its wait status, once reaped */
	int reaped;
};

struct reader_result {
	uint64_t budget;
	int failed;
	struct error e;
};

/* What a reader does in the child: area is the area's directory. */
typedef int (*reader_fn)(struct logs_run *r, int area, const struct writable *w,
			 void *arg, struct error *e);

/* Becomes uid:gid for good, with no supplementary groups, no core. */
static int drop_to(uid_t uid, gid_t gid, struct error *e)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return error_errno(e, "becoming %u:%u to read the logs", (unsigned)uid,
				   (unsigned)gid);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return error_errno(e, "prctl PR_SET_DUMPABLE");
	return 0;
}

static void reader_child(struct logs_run *r, int logs, const struct writable *w,
			 reader_fn fn, void *arg, int result)
{
	struct reader_result res = { 0 };
	struct stat st;
	sigset_t set;
	int area = -1, rc;

	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	rc = drop_to(w->uid, w->gid, &res.e);
	if (rc == 0 && ((area = open_beneath(logs, w->path + 1, WALK_OPEN, 0)) < 0 ||
			fstat(area, &st) < 0))
		rc = error_errno(&res.e, "%s: the log area", w->path);
	else if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = error_bad(&res.e, "%s: the log area is not a directory", w->path);
	if (rc == 0)
		rc = fn(r, area, w, arg, &res.e);
	if (fflush(r->out) == EOF && rc == 0)
		rc = error_errno(&res.e, "writing the logs");
	res.budget = r->budget;
	res.failed = rc < 0;
	if (write_all(result, &res, sizeof(res)) < 0)
		_exit(1);
	_exit(rc < 0);
}

/*
 * Starts fn in a child as the area's owner, with our stdout: logs is the
 * log volume's directory, opened by us (the child could not pass
 * /proc/PID/root of a root process).
 */
static int reader_start(struct logs_run *r, int logs, const struct writable *w,
			reader_fn fn, void *arg, struct reader *rd,
			struct error *e)
{
	int fds[2];

	rd->pid = 0;
	rd->reaped = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return error_errno(e, "pipe");
	fflush(NULL);
	rd->pid = fork();
	if (rd->pid == 0) {
		close(fds[0]);
		reader_child(r, logs, w, fn, arg, fds[1]);
	}
	close(fds[1]);
	if (rd->pid < 0) {
		close(fds[0]);
		return error_errno(e, "fork");
	}
	rd->result = fds[0];
	return 0;
}

/*
 * Waits for a reader, takes its budget and error. stopping: we ended it
 * (follow's SIGINT or SIGTERM), its death by a signal is no error. Dead
 * of SIGPIPE (our stdout was closed), so are we, as any filter would be.
 */
static int reader_finish(struct logs_run *r, struct reader *rd, int stopping,
			 const char *area, struct error *e)
{
	struct reader_result res;
	ssize_t n;

	do {
		n = read(rd->result, &res, sizeof(res));
	} while (n < 0 && errno == EINTR);
	close(rd->result);
	while (!rd->reaped && waitpid(rd->pid, &rd->status, 0) < 0)
		if (errno != EINTR)
			return error_errno(e, "waitpid");
	rd->reaped = 1;
	if (n == (ssize_t)sizeof(res)) {
		r->budget = res.budget;
		if (!res.failed)
			return 0;
		*e = res.e;
		return -1;
	}
	if (WIFSIGNALED(rd->status) && WTERMSIG(rd->status) == SIGPIPE)
		raise(SIGPIPE);
	if (stopping && WIFSIGNALED(rd->status))
		return 0;
	if (WIFSIGNALED(rd->status))
		return error_set(e, "the reader of %s was killed by signal %d", area,
				 WTERMSIG(rd->status));
	return error_set(e, "the reader of %s exited with status %d", area,
			 WEXITSTATUS(rd->status));
}

static int print_area(struct logs_run *r, int area, const struct writable *w,
		      void *arg, struct error *e)
{
	struct walker walker = { r, print_live_file, NULL };

	(void)arg;
	(void)e;
	walk_live(&walker, area, w->path, 0);
	return 0;
}

static int follow_one(struct logs_run *r, int area, const struct writable *w,
		      void *arg, struct error *e)
{
	(void)arg;
	return follow_area(r, area, w->path, e);
}

/* ---- finding the live mount -------------------------------------------- */

/* True if the supervisor pid was started on the same image file. */
static int serves_image(long pid, const struct stat *image)
{
	char *cmdline = xasprintf("/proc/%ld/cmdline", pid), *data = NULL, *arg;
	char *path;
	size_t len = 0;
	struct stat st;
	int same = 0;

	if (read_file(cmdline, 65536, &data, &len, NULL) == 0 && len > 1) {
		/* The image is the last argument; relative to its working dir. */
		arg = data + len - 1;
		while (arg > data && arg[-1] != '\0')
			arg--;
		path = arg[0] == '/' ? xasprintf("/proc/%ld/root%s", pid, arg) :
		       xasprintf("/proc/%ld/cwd/%s", pid, arg);
		same = stat(path, &st) == 0 && st.st_dev == image->st_dev &&
		       st.st_ino == image->st_ino;
		free(path);
	}
	free(data);
	free(cmdline);
	return same;
}

/*
 * The log volume of a running supervisor, as it sees it, opened (a
 * directory fd; -1 if none): its mounts live in its own mount namespace,
 * reachable as root through /proc/PID/root, a path only root and the
 * supervisor control. Reading there is live; reading the volume's file is
 * not, since ext4 keeps recent metadata in its journal until it
 * checkpoints. *pid: the supervisor's.
 */
static int live_logs(const char *name, const char *image, pid_t *pid)
{
	DIR *d = opendir("/run/imgsupd");
	struct dirent *de;
	struct stat st;
	int found = -1;
	size_t n = strlen(name);

	if (!d || stat(image, &st) < 0) {
		if (d)
			closedir(d);
		return -1;
	}
	while (found < 0 && (de = readdir(d))) {
		pid_t p = tag_pid(de->d_name);
		char *dir;

		if (strncmp(de->d_name, name, n) || strrchr(de->d_name, '.') != de->d_name + n ||
		    !p || !serves_image((long)p, &st))
			continue;
		dir = xasprintf("/proc/%ld/root/run/imgsupd/%s/logs", (long)p, de->d_name);
		found = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*pid = p;
		free(dir);
	}
	closedir(d);
	return found;
}

/* ---- the three ways ---------------------------------------------------- */

static int is_log_area(const struct writable *w)
{
	return w->kind != WRITABLE_SCRATCH;
}

static int print_all(struct logs_run *r, const struct manifest *m, int logs,
		     const char *volume, struct error *e)
{
	int rc = 0;

	for (size_t i = 0; i < m->n_writables && rc == 0; i++) {
		const struct writable *w = &m->writables[i];
		struct reader rd;

		if (!is_log_area(w))
			continue;
		if (logs < 0)
			rc = logvol_walk(volume, w->path, 0, print_volume_file, r, e);
		else if ((rc = reader_start(r, logs, w, print_area, NULL, &rd, e)) == 0)
			rc = reader_finish(r, &rd, 0, w->path, e);
	}
	return rc;
}

/*
 * One reader per area, all at once; we wait for SIGINT or SIGTERM (then
 * end them: exit 0) or for all of them to end (the supervisor has).
 */
static int follow_all(struct logs_run *r, const struct manifest *m, int logs,
		      pid_t supervisor, struct error *e)
{
	struct reader *rds = xcalloc(m->n_writables, sizeof(*rds));
	sigset_t set, old;
	size_t started = 0, running;
	int rc = 0, stopping = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	r->pidfd = pidfd_open(supervisor, 0);
	if (r->pidfd < 0)
		rc = error_errno(e, "pidfd_open of the supervisor (pid %ld)", (long)supervisor);
	for (size_t i = 0; i < m->n_writables && rc == 0; i++)
		if (is_log_area(&m->writables[i]))
			rc = reader_start(r, logs, &m->writables[i], follow_one, NULL,
					  &rds[i], e);
		else
			rds[i].pid = 0;
	for (size_t i = 0; i < m->n_writables; i++)
		started += rds[i].pid > 0;
	running = started;
	while (running > 0 && !stopping) {
		int sig = sigwaitinfo(&set, NULL);

		if (sig == SIGINT || sig == SIGTERM)
			stopping = 1;
		for (size_t i = 0; i < m->n_writables && sig == SIGCHLD; i++)
			if (rds[i].pid > 0 && !rds[i].reaped &&
			    waitpid(rds[i].pid, &rds[i].status, WNOHANG) == rds[i].pid) {
				rds[i].reaped = 1;
				running--;
			}
	}
	stopping |= rc < 0;
	for (size_t i = 0; i < m->n_writables; i++)
		if (rds[i].pid > 0 && !rds[i].reaped && stopping)
			kill(rds[i].pid, SIGTERM);
	for (size_t i = 0; i < m->n_writables; i++) {
		struct error ie = { 0 };

		if (rds[i].pid > 0 && reader_finish(r, &rds[i], stopping,
						    m->writables[i].path, &ie) < 0 && rc == 0) {
			*e = ie;
			rc = -1;
		}
	}
	if (r->pidfd >= 0)
		close(r->pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(rds);
	return rc;
}

/* The area that holds path (as a header shows it), or NULL. */
static const struct writable *area_of(const struct manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n_writables; i++) {
		const struct writable *w = &m->writables[i];
		size_t n = strlen(w->path);

		if (is_log_area(w) && !strncmp(path, w->path, n) && path[n] == '/' &&
		    path[n + 1])
			return w;
	}
	return NULL;
}

/* What send_file() sends: the file rel below the area, to the fd to. */
struct send {
	const char *rel;
	const char *shown;	/* rel's path as a header shows it */
	int to;
};

/*
 * In the reader: sends the file down the pipe. SIGPIPE ignored: when we
 * stop reading (our write failed), the reader says so and ends.
 */
static int send_file(struct logs_run *r, int area, const struct writable *w,
		     void *arg, struct error *e)
{
	const struct send *s = arg;
	int fd = open_beneath(area, s->rel, WALK_OPEN, 0);
	char chunk[65536];
	struct stat st;
	ssize_t n;

	(void)r;
	(void)w;
	signal(SIGPIPE, SIG_IGN);
	if (fd < 0)
		return errno == ELOOP ? error_set(e, "%s: a symbolic link, not followed", s->shown) :
		       error_errno(e, "%s", s->shown);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(e, "%s: not a regular file", s->shown);
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write_all(s->to, chunk, (size_t)n) < 0) {
			error_errno(e, "%s", s->shown);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* Copies all that fd from gives (named what) to the open file to. */
static int copy_stream(int from, const char *what, int to, const char *tmp,
		       struct error *e)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(from, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(e, "%s", what);
		if (write_all(to, chunk, (size_t)n) < 0)
			return error_errno(e, "%s", tmp);
	}
	return 0;
}

/*
 * A live copy: the reader sends the file's bytes through a pipe, we
 * write them to a temporary file beside dest, renamed over dest only
 * once the reader, too, says the copy is whole.
 */
static int copy_live(struct logs_run *r, int logs, const struct writable *w,
		     const char *real, const char *shown, const char *dest,
		     struct error *e)
{
	struct send s = { real + strlen(w->path) + 1, shown, -1 };
	struct error later = { 0 };
	struct reader rd;
	char *tmp;
	int fds[2], fd, ok;

	fd = atomic_begin(dest, &tmp, e);
	if (fd < 0)
		return -1;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		error_errno(e, "pipe");
		return atomic_commit(fd, tmp, dest, 0, 0600, &later);
	}
	s.to = fds[1];
	ok = reader_start(r, logs, w, send_file, &s, &rd, e) == 0;
	close(fds[1]);
	ok = ok && copy_stream(fds[0], shown, fd, tmp, e) == 0;
	close(fds[0]);
	/* The first error is the one to tell: the reader's comes after ours. */
	if (rd.pid > 0 && reader_finish(r, &rd, 0, w->path, ok ? e : &later) < 0)
		ok = 0;
	return atomic_commit(fd, tmp, dest, ok, 0600, ok ? e : &later);
}

/*
 * Where a copy goes: dest, or dest/NAME if dest is a directory (not a
 * symlink to one: a symlink at dest is replaced, never followed).
 */
static char *copy_dest(const char *dest, const char *real)
{
	struct stat st;

	if (lstat(dest, &st) == 0 && S_ISDIR(st.st_mode))
		return xasprintf("%s/%s", dest, strrchr(real, '/') + 1);
	return xstrdup(dest);
}

static int copy_out(struct logs_run *r, const struct manifest *m, int logs,
		    const char *volume, struct error *e)
{
	const char *shown = r->o->copy;
	const struct writable *w = area_of(m, shown);
	char *real = unescape_path(shown), *dest;
	int rc;

	if (!w || !real) {
		free(real);
		return error_set(e, "%s: not a file of a log area of %s (a path as a "
				 "\"==> PATH <==\" line shows it)", shown, r->image);
	}
	dest = copy_dest(r->o->dest, real);
	if (logs >= 0) {
		rc = copy_live(r, logs, w, real, shown, dest, e);
	} else {
		struct buf data = { 0 };

		rc = logvol_read(volume, real, &data, e);
		if (rc == 0)
			rc = write_file_atomic(dest, data.data ? data.data : "", data.len,
					       0600, e);
		buf_free(&data);
	}
	free(dest);
	free(real);
	return rc;
}

int image_logs(const char *path, const struct logs_opts *o, FILE *out,
	       struct error *e)
{
	struct manifest *m = image_manifest_beside(path, e);
	struct logs_run r = { path, o, out, LOGS_MAX_BYTES, -1 };
	char *volume;
	pid_t supervisor = 0;
	int logs, rc;

	if (!m)
		return -1;
	volume = image_logs_path(path, m);
	if (!volume) {
		manifest_free(m);
		return error_set(e, "%s: the image has no log volume", path);
	}
	logs = live_logs(m->name, path, &supervisor);
	if (o->copy)
		rc = copy_out(&r, m, logs, volume, e);
	else if (o->follow && logs < 0)
		rc = error_set(e, "%s: no supervisor serves it (or its mount cannot be "
			       "read: that needs root); -f follows only live logs", path);
	else if (o->follow)
		rc = follow_all(&r, m, logs, supervisor, e);
	else
		rc = print_all(&r, m, logs, volume, e);
	if (logs >= 0)
		close(logs);
	free(volume);
	manifest_free(m);
	return rc;
}
