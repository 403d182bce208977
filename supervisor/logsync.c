/*
 * logsync.c - log and state areas of VMs without our mount (logsync.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imagefile.h"
#include "logsync.h"
#include "spec.h"

#define SEED_MAX_DEPTH 8
#define MERGE_TMP ".imgsupd-merge"

/* ---- the seed ---------------------------------------------------------- */

static int copy_file(const char *src, const char *dst, const struct stat *st,
		     struct error *e)
{
	char *data = NULL;
	size_t len = 0;
	int fd, rc = -1;

	if (read_file(src, LOGS_MAX_BYTES, &data, &len, e) < 0)
		return -1;
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data, len) < 0 ||
	    fchown(fd, st->st_uid, st->st_gid) < 0 ||
	    fchmod(fd, st->st_mode & 07777) < 0)
		error_errno(e, "%s", dst);
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	free(data);
	return rc;
}

/*
 * Copies the directory src to dst with its owner and mode, and what is
 * below it: directories always, regular files when files is set. Links,
 * devices and the like are not copied: instances have no use for them.
 */
static int copy_tree(const char *src, const char *dst, int files, int depth,
		     struct error *e)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (mkdir(dst, 0700) < 0 || chown(dst, st.st_uid, st.st_gid) < 0 ||
	    chmod(dst, st.st_mode & 07777) < 0)
		return error_errno(e, "%s", dst);
	if (depth >= SEED_MAX_DEPTH || !(d = opendir(src)))
		return 0;
	while (rc == 0 && (de = readdir(d))) {
		char *from, *to;
		struct stat sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		from = xasprintf("%s/%s", src, de->d_name);
		to = xasprintf("%s/%s", dst, de->d_name);
		if (lstat(from, &sub) == 0 && S_ISDIR(sub.st_mode))
			rc = copy_tree(from, to, files, depth + 1, e);
		else if (files && S_ISREG(sub.st_mode))
			rc = copy_file(from, to, &sub, e);
		free(from);
		free(to);
	}
	closedir(d);
	return rc;
}

static int stage_seed(const char *logs_dir, const struct manifest *m,
		      const char *dir, struct error *e)
{
	if (mkdir(dir, 0755) < 0)
		return error_errno(e, "%s", dir);
	for (size_t i = 0; i < m->n_writables; i++) {
		const struct writable *w = &m->writables[i];
		char *from, *to, *parent;
		int rc;

		if (w->kind == WRITABLE_SCRATCH)
			continue;
		from = xasprintf("%s%s", logs_dir, w->path);
		to = xasprintf("%s%s", dir, w->path);
		parent = xstrndup(to, (size_t)(strrchr(to, '/') - to));
		rc = mkdir_p(parent, 0755) < 0 ? error_errno(e, "%s", parent) :
		     copy_tree(from, to, w->kind == WRITABLE_STATE, 0, e);
		free(from);
		free(to);
		free(parent);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int logsync_seed(const char *logs_dir, const struct manifest *m,
		 const char *work, const char *out, uint64_t size,
		 struct error *e)
{
	char kib[32], *stage = xasprintf("%s/seed", work);
	/*
	 * No journal: debugfs reads a filesystem as it is on the disk, and
	 * does not replay one. The guest mounts it synchronous instead, so
	 * that what the service wrote is on the disk when the VM is destroyed.
	 */
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "imgtool-logs", "-O",
			 "^has_journal", "-E", "root_owner=0:0", "-d", stage,
			 (char *)out, kib, NULL };
	int rc;

	snprintf(kib, sizeof(kib), "%" PRIu64 "k", size / 1024);
	if (mkdir(work, 0700) < 0 && errno != EEXIST) {
		free(stage);
		return error_errno(e, "%s", work);
	}
	rc = stage_seed(logs_dir, m, stage, e);
	if (rc == 0)
		rc = run_command(argv, 1, e);
	remove_tree(work);
	free(stage);
	return rc;
}

/* ---- the merge --------------------------------------------------------- */

struct merge {
	const struct writable *area;	/* the one being walked */
	int root;		/* logs_dir */
	size_t replaced;	/* state files */
	struct error *e;
};

/*
 * Opens the directory of path below root, one name at a time, never
 * through a link; what is missing is made for the area's user.
 */
static int open_parent(int root, const char *path, const struct writable *w,
		       const char **base)
{
	char *copy = xstrdup(path + 1), *save = NULL, *name, *next;
	int dir = dup(root);

	name = strtok_r(copy, "/", &save);
	while (dir >= 0 && name && (next = strtok_r(NULL, "/", &save))) {
		int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				 O_CLOEXEC);

		if (sub < 0 && errno == ENOENT &&
		    mkdirat(dir, name, w->mode & 07777) == 0 &&
		    fchownat(dir, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) == 0)
			sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				     O_CLOEXEC);
		close(dir);
		dir = sub;
		name = next;
	}
	*base = name ? path + 1 + (name - copy) : NULL;
	free(copy);
	if (!*base && dir >= 0) {
		close(dir);
		dir = -1;
	}
	return dir;
}

/* Appends to a log file, made for the area's user if it is new. */
static int append_log(int dir, const char *name, const struct writable *w,
		      const char *data, size_t len)
{
	int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	int fd = openat(dir, name, flags | O_CREAT | O_EXCL, 0640);
	struct stat st;
	int rc;

	if (fd >= 0 && fchown(fd, w->uid, w->gid) < 0) {
		close(fd);
		return -1;
	}
	if (fd < 0 && errno == EEXIST)
		fd = openat(dir, name, flags);
	if (fd < 0)
		return -1;
	rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? write_all(fd, data, len) : -1;
	close(fd);
	return rc;
}

/* Replaces a state file whole: written aside, then renamed over it. */
static int replace_state(int dir, const char *name, const struct writable *w,
			 const char *data, size_t len)
{
	int fd, rc;

	unlinkat(dir, MERGE_TMP, 0);
	fd = openat(dir, MERGE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	rc = write_all(fd, data, len) < 0 || fchown(fd, w->uid, w->gid) < 0 ? -1 : 0;
	close(fd);
	if (rc == 0)
		rc = renameat(dir, MERGE_TMP, dir, name);
	if (rc < 0)
		unlinkat(dir, MERGE_TMP, 0);
	return rc;
}

static int merge_file(const char *path, const char *data, size_t len, void *arg)
{
	struct merge *mg = arg;
	const struct writable *w = mg->area;	/* areas do not nest (recipe.c) */
	const char *base;
	int dir, rc;

	dir = open_parent(mg->root, path, w, &base);
	if (dir < 0)
		return error_errno(mg->e, "merge %s", path);
	rc = w->kind == WRITABLE_LOG ? append_log(dir, base, w, data, len) :
	     replace_state(dir, base, w, data, len);
	if (rc < 0)
		error_errno(mg->e, "merge %s", path);
	else if (w->kind == WRITABLE_STATE)
		mg->replaced++;
	close(dir);
	return rc;
}

int logsync_merge(const char *disk, const char *logs_dir,
		  const struct manifest *m, size_t *replaced, struct error *e)
{
	struct merge mg = { .e = e };
	int rc = 0;

	mg.root = open(logs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mg.root < 0)
		return error_errno(e, "%s", logs_dir);
	for (size_t i = 0; i < m->n_writables && rc == 0; i++) {
		mg.area = &m->writables[i];
		if (mg.area->kind != WRITABLE_SCRATCH)
			rc = logvol_walk(disk, mg.area->path, 1, merge_file, &mg, e);
	}
	close(mg.root);
	*replaced = mg.replaced;
	return rc;
}
