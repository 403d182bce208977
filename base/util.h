/*
 * util.h - the base library: errors, allocation, strings, parsers, files,
 * processes and PID tags, shared by every part of imgtool.
 *
 * libc only: the static guest init links it too. Nothing here depends on
 * any other file of ours.
 *
 * Library code reports failure by returning -1 and filling a struct error;
 * only command-line leaf code prints and exits (DESIGN.md, "Two error tiers").
 */
#ifndef IMGTOOL_UTIL_H
#define IMGTOOL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ERROR_MAX 1024

/* An error message, already formatted for the user ("file:line: elem: msg"). */
struct error {
	char msg[ERROR_MAX];
	int status;	/* exit status the command should use: 1 failure, 3 bad input */
};

/* Fills e (status 1) and returns -1, so callers can "return error_set(...)". */
int error_set(struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Same, with exit status 3: the recipe or image is at fault, not the system. */
int error_bad(struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Same as error_set, with ": strerror(errno)" appended. */
int error_errno(struct error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * For code that must not allocate (a freshly cloned child): formats
 * "what path: strerror(errno)" (path may be NULL) into err[n], keeps errno
 * and returns -1.
 */
int msg_errno(char *err, size_t n, const char *what, const char *path);
/*
 * Appends a formatted text to the note note (of size n), after "; " when
 * it holds one already; cut to fit, always NUL-terminated.
 */
void note_add(char *note, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Allocation that cannot fail: out of memory ends the process. */
void out_of_memory(void) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable array of strings. */
struct strv {
	char **v;
	size_t n, cap;
};
void strv_push(struct strv *s, char *owned);
void strv_free(struct strv *s);

/* A growable byte buffer, always NUL-terminated. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/*
 * Parses a size such as "16M", "512K", "2G" or "4096" into bytes.
 * Returns -1 if s is not a size or exceeds max.
 */
int parse_size(const char *s, uint64_t max, uint64_t *out);
/* Parses a duration such as "30s", "5m", "24h", "2d" or "10" (seconds). */
int parse_duration(const char *s, uint64_t max_seconds, uint64_t *out);
/* Parses a decimal number in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * True if path is absolute, normalized (no "//", no "." or ".." component,
 * no trailing slash except "/" itself) and shorter than PATH_MAX.
 */
int path_is_clean(const char *path);

/* Reads a whole file (at most max bytes) into a malloc'd buffer. */
int read_file(const char *path, size_t max, char **data, size_t *len,
	      struct error *e);
/*
 * Reads the regular file path below the directory dir (opened as with
 * open_beneath, at most max bytes) into a malloc'd buffer. Anything
 * but a regular file is an error (status 3) naming dir/path.
 */
int read_file_beneath(const char *dir, const char *path, size_t max,
		      char **data, size_t *len, struct error *e);
/*
 * Test hooks, off unless IMGTOOL_FAULT is set (docs/architecture.md):
 *   IMGTOOL_FAULT=rename:N   fault_point() _exit(137)s at its Nth call,
 *                            made just before each rename and fsync of a
 *                            build's install;
 *   IMGTOOL_FAULT=POINT:CMD  fault_run(POINT) runs CMD with /bin/sh -c and
 *                            waits for it (a failure is the build's).
 */
void fault_point(void);
int fault_run(const char *point, struct error *e);
/* Writes all of data, retrying short writes and EINTR. 0, or -1 (errno). */
int write_all(int fd, const void *data, size_t len);
/*
 * Opens /dev/null on whichever of fds 0 to 2 is closed. Call it first in a
 * program that runs as root: a closed stderr would be the next file opened,
 * and messages would go into that file.
 */
int fill_stdio(struct error *e);

/*
 * openat2(dirfd, path, flags, mode) resolved beneath dirfd, through no
 * symbolic link, magic link, mount or "..": what an instance made is
 * opened as it is or not at all. The caller adds O_NOFOLLOW, O_NONBLOCK
 * (a FIFO) and O_NOCTTY as it needs, and checks the type with fstat.
 */
int open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * Sets (on) or clears FS_APPEND_FL, chattr's "a", on fd: 1 when it
 * changed, 0 when it was so already, -1 with errno (ENOTTY, EOPNOTSUPP: a
 * file system without flags). Needs CAP_LINUX_IMMUTABLE.
 */
int set_append_only(int fd, int on);

/*
 * Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename. Nothing appears under path unless complete.
 */

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct error *e);
/*
 * The two halves of write_file_atomic(), for a writer of its own: a fresh
 * temporary file beside path (its fd; *tmp its name, malloc'd), and its
 * end: if ok, mode, fsync, close and rename over path (which replaces a
 * symlink there, never follows it); else, or when one of those fails,
 * close and unlink. commit frees tmp; 0 if path is now complete.
 */
int atomic_begin(const char *path, char **tmp, struct error *e);
int atomic_commit(int fd, char *tmp, const char *path, int ok, mode_t mode,
		  struct error *e);

/* Removes a file or a directory tree; missing paths are not an error. */
int remove_tree(const char *path);
/* mkdir -p with the given mode for created directories. */
int mkdir_p(const char *path, mode_t mode);


/*
 * Directories and cgroups of a build or supervisor are tagged "NAME.PID";
 * those of one that died are removed by the next. tag_pid() is the PID of
 * a tag (0 if it has none), pid_running() whether it still runs, and
 * remove_dead_tags() removes the entries of dir that start with prefix
 * and carry the tag of a process that is gone, calling before(path) on
 * each first when it is not NULL (to undo what removing cannot cross, a
 * mount).
 */
pid_t tag_pid(const char *tag);
int pid_running(pid_t pid);
void remove_dead_tags(const char *dir, const char *prefix,
		      void (*before)(const char *path));

/* Whether s ends with suffix. */
int has_suffix(const char *s, const char *suffix);

/* Finds a tool in PATH and the sbin directories; malloc'd path or NULL. */
char *find_tool(const char *tool);
/*
 * Runs argv (argv[0] found with find_tool), waits; 0 if it exited 0, else -1
 * with e naming the tool, its status, or the package that brings it.
 */
int run_command(char *const argv[], int quiet, struct error *e);
/* Same, with the tool's stdout read into out (at most max bytes) and its
 * stderr discarded. */
int run_capture(char *const argv[], size_t max, struct buf *out,
		struct error *e);

/*
 * Where a file of ours is (the schema, the guest init, the templates): the
 * environment variable env when set; else, for a program in a build tree
 * (.../build/bin), in_build relative to the program's directory; else, for
 * an installed tree wherever it was moved, installed relative to it; else
 * fallback (the configured install prefix). A file missing from a tree
 * whose directory for it is there (a build tree's, an installed tree's) is
 * that tree's path, never the fallback's: another installation under the
 * configured prefix lends nothing. malloc'd; the candidate is returned
 * even when it does not exist, for the message.
 */
char *locate_file(const char *env, const char *in_build, const char *installed,
		  const char *fallback);

/*
 * Whether virtual machines get hardware acceleration: IMGTOOL_ACCEL=kvm or
 * =tcg decides; otherwise KVM when /dev/kvm opens read-write and the CPU
 * announces vmx or svm. A nested guest can have a /dev/kvm whose VMs abort
 * at the first MSR write (seen here), and that is the flag it lacks.
 */
int kvm_usable(void);

#endif
