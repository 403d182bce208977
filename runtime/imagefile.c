/*
 * imagefile.c - what an image file is, and the files that go with it (see
 * imagefile.h). Apart from builder/image.c so that imgsupd, which needs only these,
 * does not link libguestfs and libarchive with inspect and verify.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imagefile.h"
#include "manifest.h"
#include "digest.h"
#include "spec.h"

#define EROFS_MAGIC_OFFSET 1024
#define EROFS_MAGIC 0xE0F5E1E2u

unsigned image_format(const char *path)
{
	unsigned char b[EROFS_MAGIC_OFFSET + 4];
	struct stat st;
	ssize_t n;
	int fd;

	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return FORMAT_TREE;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n >= 4 && !memcmp(b, "hsqs", 4))
		return FORMAT_SQUASHFS;
	if (n >= 4 && !memcmp(b, "QFI\xfb", 4))
		return FORMAT_QCOW2;
	/* A raw VM disk: the GPT header in sector 1. */
	if (n >= 520 && !memcmp(b + 512, "EFI PART", 8))
		return FORMAT_RAW;
	if (n == (ssize_t)sizeof(b) &&
	    (b[1024] | b[1025] << 8 | b[1026] << 16 | (unsigned)b[1027] << 24) == EROFS_MAGIC)
		return FORMAT_EROFS;
	if (n >= 262 && !memcmp(b + 257, "ustar", 5))
		return FORMAT_TAR;
	return 0;
}

unsigned image_format_checked(const char *path, struct error *e)
{
	struct stat st;
	unsigned format;

	/* lstat, as image_format, which does not follow a final link */
	if (lstat(path, &st) < 0) {
		error_errno(e, "%s", path);
		e->status = 3;
		return 0;
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		error_bad(e, "%s: an empty file (0 bytes), not an image", path);
		return 0;
	}
	format = image_format(path);
	if (!format)
		error_bad(e, "%s: not an image (erofs, squashfs, tar, tree, "
			  "qcow2 or raw)", path);
	return format;
}

char *image_manifest_path(const char *image)
{
	char *copy = xstrdup(image), *dot, *path;
	size_t n = strlen(copy);

	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	if (has_suffix(copy, ".manifest.xml"))
		return copy;
	dot = strrchr(copy, '.');
	if (dot && !strchr(dot, '/'))
		*dot = '\0';
	path = xasprintf("%s.manifest.xml", copy);
	free(copy);
	return path;
}

int output_digest(const char *path, unsigned format, char digest[DIGEST_HEX],
		  struct error *e)
{
	char *data;
	size_t len;

	if (format != FORMAT_TREE)
		return sha256_file_hex(path, digest, e);
	if (read_file_beneath(path, MANIFEST_IMAGE_PATH + 1, MANIFEST_MAX_BYTES,
			      &data, &len, e) < 0)
		return -1;
	sha256_hex(data, len, digest);
	free(data);
	return 0;
}

/* The output of m whose file is image's base name, or NULL. */
static const struct manifest_output *output_of(const char *image,
					       const struct manifest *m)
{
	char *copy = xstrdup(image);
	const char *base = basename(copy);
	const struct manifest_output *found = NULL;

	for (size_t i = 0; i < m->n_outputs && !found; i++)
		if (!strcmp(m->outputs[i].file, base))
			found = &m->outputs[i];
	free(copy);
	return found;
}

int image_digest_matches(const char *image, const struct manifest *m,
			 struct error *e)
{
	const struct manifest_output *o = output_of(image, m);
	char digest[DIGEST_HEX];

	if (!o || !o->digest[0])
		return 1;
	if (output_digest(image, o->format, digest, e) < 0)
		return -1;
	return !strcmp(digest, o->digest);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t image_candidates(const char *dir, const char *file, unsigned format,
			char **paths)
{
	char *prefix = xasprintf("%s.tmp.", file);
	size_t n = 0, first;
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;

	paths[n++] = xasprintf("%s/%s", dir, file);
	first = n;
	while (d && (de = readdir(d)) && n < IMAGE_MAX_CANDIDATES) {
		char *p;

		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 &&
		    (format == FORMAT_TREE ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
			paths[n++] = p;
		else
			free(p);
	}
	if (d)
		closedir(d);
	qsort(paths + first, n - first, sizeof(*paths), cmp_str);
	free(prefix);
	return n;
}

char *image_locate(const char *image, const struct manifest *m, int *leftover,
		   struct error *e)
{
	const struct manifest_output *o = output_of(image, m);
	char *paths[IMAGE_MAX_CANDIDATES], *copy, *found = NULL;
	char digest[DIGEST_HEX];
	size_t n;

	*leftover = 0;
	if (!o || !o->digest[0])
		return xstrdup(image);
	copy = xstrdup(image);
	n = image_candidates(dirname(copy), o->file, o->format, paths);
	/* The image itself: an error reading it is the caller's to see. */
	int readable = output_digest(image, o->format, digest, e) == 0;

	if (readable && !strcmp(digest, o->digest))
		found = xstrdup(image);
	for (size_t i = 1; readable && i < n && !found; i++)
		if (output_digest(paths[i], o->format, digest, NULL) == 0 &&
		    !strcmp(digest, o->digest)) {
			found = xstrdup(paths[i]);
			*leftover = 1;
		}
	if (!found && readable) {
		char *mpath = image_manifest_path(image);

		error_bad(e, "%s: digest does not match %s; rebuild it or "
			  "run imgtool verify", image, mpath);
		free(mpath);
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(copy);
	return found;
}

char *image_logs_path(const char *image, const struct manifest *m)
{
	char *copy, *path;

	if (!m->logs_file || strchr(m->logs_file, '/'))
		return NULL;
	copy = xstrdup(image);
	path = xasprintf("%s/%s", dirname(copy), m->logs_file);
	free(copy);
	return path;
}

/* ---- the log volume's files, with debugfs ----------------------------- */

/*
 * Runs one debugfs request against the volume, read-only. unprivileged:
 * as nobody, with no new privileges (setpriv, util-linux): the volume may
 * have been written by a guest.
 */
static int debugfs(const char *volume, const char *request, int unprivileged,
		   struct buf *out, struct error *e)
{
	char *argv[] = { "setpriv", "--reuid=65534", "--regid=65534",
			 "--clear-groups", "--no-new-privs", "--",
			 "debugfs", "-c", "-R", (char *)request, (char *)volume, NULL };

	return run_capture(unprivileged ? argv : argv + 6, LOGS_MAX_BYTES, out, e);
}

/*
 * debugfs takes a request as one line with the path in double quotes: a
 * name with a quote, a backslash or a control character cannot be asked
 * for, and is skipped.
 */
static int plain_name(const char *name)
{
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

struct walk {
	const char *volume;
	int unprivileged;
	int (*fn)(const char *path, const char *data, size_t len, void *arg);
	void *arg;
};

/*
 * One line of debugfs "ls -p": "/INODE/MODE/UID/GID/NAME/SIZE/", MODE in
 * octal. Names with a slash or a newline cannot occur in ext4, so the
 * split is safe. The file type is the mode's S_IFMT bits: a symlink
 * (0120777) must not pass for a regular file (0100644).
 */
static int ls_entry(const char *line, mode_t *type, char name[256],
		    uint64_t *size)
{
	char mode[16], *end;
	unsigned long m;
	int n = 0;

	if (sscanf(line, "/%*[^/]/%15[^/]/%*[^/]/%*[^/]/%255[^/]/%n", mode, name, &n) != 2 ||
	    !n)
		return 0;
	m = strtoul(mode, &end, 8);
	if (*end)
		return 0;
	*type = (mode_t)m & S_IFMT;
	*size = strtoull(line + n, NULL, 10);
	return 1;
}

/*
 * Lists dir on the volume into list (NUL-terminated lines). debugfs says
 * nothing on stdout when it cannot open the volume or find dir (only on
 * stderr, which run_capture drops), and a directory always lists "." and
 * "..": an empty listing is that failure.
 */
static int list_dir(const struct walk *w, const char *dir, struct buf *list,
		    struct error *e)
{
	char *req = xasprintf("ls -p \"%s\"", dir);
	int rc = debugfs(w->volume, req, w->unprivileged, list, e);

	free(req);
	buf_add(list, "", 1);
	if (rc == 0 && !strstr(list->data, "/./"))
		rc = error_bad(e, "%s: cannot list %s: the volume is corrupt or lacks it",
			       w->volume, dir);
	return rc;
}

static int walk_dir(const struct walk *w, const char *dir, int depth,
		    struct error *e)
{
	struct buf list = { 0 };
	char *save = NULL;
	int rc = depth > LOGS_MAX_DEPTH ? 0 : list_dir(w, dir, &list, e);

	for (char *line = rc == 0 && list.data ? strtok_r(list.data, "\n", &save) : NULL;
	     line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char name[256];
		uint64_t size;
		mode_t type;
		char *path;

		if (!ls_entry(line, &type, name, &size) || !plain_name(name))
			continue;
		path = xasprintf("%s/%s", dir, name);
		if (type == S_IFREG) {
			struct buf data = { 0 };
			char *cat = xasprintf("cat \"%s\"", path);

			rc = debugfs(w->volume, cat, w->unprivileged, &data, e);
			if (rc == 0)
				rc = w->fn(path, data.data ? data.data : "", data.len,
					   w->arg);
			buf_free(&data);
			free(cat);
		} else if (type == S_IFDIR) {
			rc = walk_dir(w, path, depth + 1, e);
		}
		free(path);
	}
	buf_free(&list);
	return rc;
}

/*
 * An empty or truncated file, or one without ext4's superblock magic
 * (0xEF53 at byte 1080), is no log volume: said so by name, where
 * debugfs would only print nothing.
 */
static int check_volume(const char *volume, struct error *e)
{
	unsigned char magic[2];
	struct stat st;
	ssize_t n;
	int fd = open(volume, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return error_errno(e, "%s", volume);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return error_errno(e, "%s", volume);
	}
	n = pread(fd, magic, sizeof(magic), 1080);
	close(fd);
	if (n < 0)
		return error_errno(e, "%s", volume);
	if (st.st_size == 0)
		return error_bad(e, "%s: the log volume is empty (0 bytes)", volume);
	if (n != 2 || magic[0] != 0x53 || magic[1] != 0xEF)
		return error_bad(e, "%s: not an ext4 log volume (no superblock)", volume);
	return 0;
}

int logvol_walk(const char *volume, const char *dir, int unprivileged,
		int (*fn)(const char *path, const char *data, size_t len, void *arg),
		void *arg, struct error *e)
{
	const struct walk w = { volume, unprivileged, fn, arg };

	if (check_volume(volume, e) < 0)
		return -1;
	return walk_dir(&w, dir, 0, e);
}

int logvol_read(const char *volume, const char *path, struct buf *out,
		struct error *e)
{
	const struct walk w = { volume, 0, NULL, NULL };
	struct buf list = { 0 };
	char *dir = xstrdup(path), *base = strrchr(dir, '/'), *save = NULL;
	uint64_t size = 0;
	int rc = -1, found = 0;

	for (char *p = dir; *p && base; p++)
		if (*p == '/' && p[1] == '/')
			base = NULL;
	if (!base || !base[1] || base == dir)
		rc = error_set(e, "%s: not a file's path", path);
	else if (check_volume(volume, e) == 0) {
		*base++ = '\0';
		for (char *c = dir + 1, *next; c; c = next) {
			next = strchr(c, '/');
			if (next)
				*next = '\0';
			if (!plain_name(c))
				base = NULL;
			if (next)
				*next++ = '/';
		}
		if (!base || !plain_name(base))
			rc = error_set(e, "%s: debugfs cannot be asked for this name", path);
		else
			rc = list_dir(&w, dir, &list, e);
	}
	for (char *line = rc == 0 ? strtok_r(list.data, "\n", &save) : NULL;
	     line && !found; line = strtok_r(NULL, "\n", &save)) {
		char name[256];
		mode_t type;

		found = ls_entry(line, &type, name, &size) && !strcmp(name, base) &&
			type == S_IFREG;
	}
	if (rc == 0 && !found)
		rc = error_set(e, "%s: no such file on %s", path, volume);
	else if (rc == 0 && size > LOGS_MAX_BYTES)
		rc = error_set(e, "%s: %" PRIu64 " bytes, more than imgtool reads from a "
			       "volume file (%u MiB)", path, size, LOGS_MAX_BYTES >> 20);
	if (rc == 0) {
		char *cat = xasprintf("cat \"%s\"", path);

		rc = debugfs(volume, cat, 0, out, e);
		if (rc == 0 && out->len != size)
			rc = error_set(e, "%s: debugfs read %zu of its %" PRIu64 " bytes",
				       path, out->len, size);
		free(cat);
	}
	buf_free(&list);
	free(dir);
	return rc;
}
