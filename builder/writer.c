/*
 * writer.c - staging an image's contents and packing them (see writer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "writer.h"

#define FAKEROOT_STATE "fakeroot.state"
#define LOGS_MIN_SIZE (2u << 20)	/* ext4 with a journal needs room */

/* ---- staging ---------------------------------------------------------- */

/* Copies in to out; an error names src or dst, whichever failed. */
static int copy_fd(int in, int out, const char *src, const char *dst,
		   struct error *e)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_errno(e, "%s: read", src);
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(out, chunk + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return error_errno(e, "%s", dst);
			off += w;
		}
	}
}

/*
 * Copies a host file to out (dst), checking it still has the size we
 * digested.
 */
static int stage_copy(const struct entry *en, int out, const char *dst,
		      struct error *e)
{
	struct stat st;
	int rc, in = open(en->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (in < 0)
		return error_errno(e, "%s", en->src);
	/* Let the kernel copy; fall back to read and write across devices. */
	rc = fstat(in, &st);
	if (rc == 0 && (size_t)st.st_size != en->len)
		rc = error_set(e, "%s: changed while building", en->src);
	else if (rc < 0)
		rc = error_errno(e, "%s", en->src);
	else if (copy_file_range(in, NULL, out, NULL, en->len, 0) != (ssize_t)en->len) {
		if (lseek(in, 0, SEEK_SET) < 0)
			rc = error_errno(e, "%s", en->src);
		else if (lseek(out, 0, SEEK_SET) < 0 || ftruncate(out, 0) < 0)
			rc = error_errno(e, "%s", dst);
		else
			rc = copy_fd(in, out, en->src, dst, e);
	}
	close(in);
	return rc;
}

static int stage_file(const struct entry *en, const char *path, struct error *e)
{
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			      O_CLOEXEC, 0600);

	if (fd < 0)
		return error_errno(e, "%s", path);
	if (en->src)
		rc = stage_copy(en, fd, path, e);
	else if (en->len && write(fd, en->data, en->len) != (ssize_t)en->len)
		rc = error_errno(e, "%s", path);
	if (close(fd) < 0 && rc == 0)
		rc = error_errno(e, "%s", path);
	return rc;
}

static int stage_entry(const struct entry *en, const char *dir, struct error *e)
{
	char *path = xasprintf("%s%s", dir, en->path);
	int rc = 0;

	if (S_ISDIR(en->mode)) {
		if (strcmp(en->path, "/") && mkdir(path, 0700) < 0)
			rc = error_errno(e, "%s", path);
	} else if (S_ISLNK(en->mode)) {
		if (symlink(en->target, path) < 0)
			rc = error_errno(e, "%s", path);
	} else {
		rc = stage_file(en, path, e);
	}
	free(path);
	return rc;
}

/*
 * Gives one staged entry its declared owner and mode. As root, for real.
 * Otherwise as a record in fakeroot's state file, which faked loads with
 * -i: the packers then see the declared owner and mode while the real file
 * stays ours and readable. The record format is faked's save format, stable
 * since fakeroot 1.x.
 */
static int apply_entry(const char *dir, const struct entry *en, int64_t epoch,
		       FILE *fakeroot_db, struct error *e)
{
	struct timespec ts[2] = { { .tv_sec = epoch }, { .tv_sec = epoch } };
	char *path = xasprintf("%s%s", dir, strcmp(en->path, "/") ? en->path : "");
	struct stat st;
	int rc = 0;

	if (fakeroot_db) {
		if (lstat(path, &st) < 0)
			rc = error_errno(e, "%s", path);
		else
			fprintf(fakeroot_db, "dev=%llx,ino=%llu,mode=%llo,uid=%llu,"
				"gid=%llu,nlink=%llu,rdev=0\n",
				(unsigned long long)st.st_dev,
				(unsigned long long)st.st_ino,
				(unsigned long long)en->mode,
				(unsigned long long)en->uid,
				(unsigned long long)en->gid,
				(unsigned long long)st.st_nlink);
	} else if (lchown(path, en->uid, en->gid) < 0) {
		/* chown before chmod: chown clears setuid bits. */
		rc = error_errno(e, "%s: chown", path);
	} else if (!S_ISLNK(en->mode) && chmod(path, en->mode & 07777) < 0) {
		rc = error_errno(e, "%s: chmod", path);
	}
	if (rc == 0 && utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = error_errno(e, "%s: utimensat", path);
	free(path);
	return rc;
}

/* Owners, modes and times for every entry, deepest first, so that a
 * directory's time is set after its children are written. */
static int stage_metadata(const struct contents *c, struct stage *st,
			  const char *work, struct error *e)
{
	FILE *db = NULL;
	int rc = 0;

	if (geteuid() != 0) {
		st->fakeroot_state = xasprintf("%s/%s", work, FAKEROOT_STATE);
		db = fopen(st->fakeroot_state, "wxe");
		if (!db)
			return error_errno(e, "%s", st->fakeroot_state);
	}
	for (size_t i = c->n; i-- > 0 && rc == 0; )
		rc = apply_entry(st->dir, &c->v[i], c->epoch, db, e);
	if (db && fclose(db) != 0 && rc == 0)
		rc = error_errno(e, "%s", st->fakeroot_state);
	return rc;
}

int stage_write(const struct contents *c, const char *dir, const char *work,
		struct stage *st, struct error *e)
{
	memset(st, 0, sizeof(*st));
	st->dir = xstrdup(dir);
	if (mkdir(dir, 0700) < 0)
		return error_errno(e, "%s", dir);
	for (size_t i = 0; i < c->n; i++)
		if (stage_entry(&c->v[i], dir, e) < 0)
			return -1;
	return stage_metadata(c, st, work, e);
}

void stage_free(struct stage *st)
{
	free(st->dir);
	free(st->fakeroot_state);
	memset(st, 0, sizeof(*st));
}

/* ---- packing ---------------------------------------------------------- */

void uuid_from_digest(const char *digest, char out[37])
{
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", digest, digest + 8,
		 digest + 12, digest + 16, digest + 20);
}

/* Runs a packer, inside the stage's fakeroot session when there is one. */
static int run_packer(const struct stage *st, char **argv, struct error *e)
{
	struct strv v = { 0 };
	char *tool = find_tool(argv[0]);
	int rc;

	/* fakeroot searches only PATH; give it the tool's full path. */
	if (!tool)
		return run_command(argv, 1, e);
	if (st->fakeroot_state) {
		strv_push(&v, xstrdup("fakeroot"));
		strv_push(&v, xstrdup("-i"));
		strv_push(&v, xstrdup(st->fakeroot_state));
		strv_push(&v, xstrdup("--"));
	}
	strv_push(&v, tool);
	for (char **a = argv + 1; *a; a++)
		strv_push(&v, xstrdup(*a));
	rc = run_command(v.v, 1, e);
	strv_free(&v);
	return rc;
}

int pack_erofs(const struct stage *st, const char *out, const char *uuid,
	       int64_t epoch, struct error *e)
{
	char t[32], u[48];
	char *argv[] = { "mkfs.erofs", "--quiet", "-x", "-1", t, u,
			 (char *)out, st->dir, NULL };

	snprintf(t, sizeof(t), "-T%" PRId64, epoch);
	snprintf(u, sizeof(u), "-U%s", uuid);
	return run_packer(st, argv, e);
}

int pack_squashfs(const struct stage *st, const char *out, int64_t epoch,
		  struct error *e)
{
	char t[32];
	char *argv[] = { "mksquashfs", st->dir, (char *)out, "-noappend",
			 "-quiet", "-no-progress", "-no-xattrs", "-mkfs-time", t,
			 "-all-time", t, NULL };

	snprintf(t, sizeof(t), "%" PRId64, epoch);
	return run_packer(st, argv, e);
}

static int tar_entry(struct archive *a, const struct entry *en, int64_t epoch,
		     struct error *e)
{
	struct archive_entry *ae = archive_entry_new();
	char *path = xasprintf(".%s", en->path);
	char *data = NULL;
	size_t len = 0;
	int rc = 0;

	archive_entry_set_pathname(ae, path);
	archive_entry_set_mode(ae, en->mode);
	archive_entry_set_uid(ae, en->uid);
	archive_entry_set_gid(ae, en->gid);
	archive_entry_set_mtime(ae, epoch, 0);
	if (S_ISLNK(en->mode))
		archive_entry_set_symlink(ae, en->target);
	if (S_ISREG(en->mode)) {
		archive_entry_set_size(ae, (la_int64_t)en->len);
		rc = entry_read(en, &data, &len, e);
	}
	if (rc == 0 && archive_write_header(a, ae) != ARCHIVE_OK)
		rc = error_set(e, "tar: %s: %s", en->path, archive_error_string(a));
	if (rc == 0 && len && archive_write_data(a, data, len) != (la_ssize_t)len)
		rc = error_set(e, "tar: %s: %s", en->path, archive_error_string(a));
	free(data);
	free(path);
	archive_entry_free(ae);
	return rc;
}

int pack_tar(const struct contents *c, const char *out, struct error *e)
{
	struct archive *a = archive_write_new();
	int rc = 0;

	/* pax restricted: plain ustar headers unless a name needs more. */
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, out) != ARCHIVE_OK)
		rc = error_set(e, "%s: %s", out, archive_error_string(a));
	for (size_t i = 0; i < c->n && rc == 0; i++)
		rc = tar_entry(a, &c->v[i], c->epoch, e);
	if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = error_set(e, "%s: %s", out, archive_error_string(a));
	archive_write_free(a);
	return rc;
}

/* ---- the log volume --------------------------------------------------- */

static int on_log_volume(const struct writable *w)
{
	return w->kind == WRITABLE_LOG || w->kind == WRITABLE_STATE;
}

int logs_needed(const struct recipe *r)
{
	for (size_t i = 0; i < r->n_writables; i++)
		if (on_log_volume(&r->writables[i]))
			return 1;
	return 0;
}

/* The log volume's own contents: a directory per area, at its path. */
static int logs_contents(const struct recipe *r, struct contents *c,
			 uint64_t *size, struct error *e)
{
	*size = 0;
	if (contents_add_dir(c, "/", 0755, 0, 0, e) < 0)
		return -1;
	for (size_t i = 0; i < r->n_writables; i++) {
		const struct writable *w = &r->writables[i];

		if (!on_log_volume(w))
			continue;
		*size += w->size;
		if (contents_add_dir(c, w->path, w->mode, w->uid, w->gid, e) < 0)
			return -1;
	}
	contents_sort(c);
	return 0;
}

/*
 * mke2fs -d copies each staged directory's ctime, which is when staging
 * made it and cannot be set from user space: this sets every directory's
 * ctime on the volume to t, the time mke2fs stamped, with debugfs, so that
 * the same inputs give the same bytes (E2FSPROGS_FAKE_TIME still set, for
 * what debugfs stamps itself). Paths are the recipe's, checked
 * (no quotes or control characters), so they quote as they are.
 */
static int logs_set_ctimes(const struct contents *c, const char *volume,
			   const char *work, const char *t, struct error *e)
{
	char *script = xasprintf("%s/ctimes.debugfs", work);
	char *argv[] = { "debugfs", "-w", "-f", script, (char *)volume, NULL };
	struct buf b = { 0 }, echo = { 0 };
	int rc;

	for (size_t i = 0; i < c->n; i++)
		buf_printf(&b, "set_inode_field \"%s\" ctime %s\n",
			   c->v[i].path, t);
	rc = write_file_atomic(script, b.data, b.len, 0600, e);
	/* its banner and the requests it echoes are not for the user */
	if (rc == 0)
		rc = run_capture(argv, 1 << 20, &echo, e);
	buf_free(&echo);
	buf_free(&b);
	free(script);
	return rc;
}

int pack_logs(const struct recipe *r, const char *out, const char *work,
	      const char *uuid, int64_t epoch, struct error *e)
{
	struct contents c = { .epoch = epoch };
	struct stage st = { 0 };
	char *dir = xasprintf("%s/logs", work), *subwork = xasprintf("%s/logs-work", work);
	char size[32], opts[128];
	uint64_t bytes;
	int rc = -1;

	if (logs_contents(r, &c, &bytes, e) < 0 || mkdir(subwork, 0700) < 0 ||
	    stage_write(&c, dir, subwork, &st, e) < 0)
		goto out;
	if (bytes < LOGS_MIN_SIZE)
		bytes = LOGS_MIN_SIZE;
	snprintf(size, sizeof(size), "%" PRIu64 "k", bytes / 1024);
	snprintf(opts, sizeof(opts), "root_owner=0:0,hash_seed=%s", uuid);
	{
		char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "imgtool-logs",
				 "-U", (char *)uuid, "-E", opts, "-d", st.dir,
				 (char *)out, size, NULL };
		char t[32];

		/* mke2fs stamps its own times; this makes them the epoch. */
		snprintf(t, sizeof(t), "%" PRId64, epoch ? epoch : 1);
		setenv("E2FSPROGS_FAKE_TIME", t, 1);
		rc = run_packer(&st, argv, e);
		if (rc == 0)
			rc = logs_set_ctimes(&c, out, subwork, t, e);
		unsetenv("E2FSPROGS_FAKE_TIME");
	}
out:
	contents_free(&c);
	stage_free(&st);
	free(dir);
	free(subwork);
	return rc;
}
