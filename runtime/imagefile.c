/*
 * imagefile.c - what an image file is, and the files that go with it (see
 * imagefile.h). Apart from builder/image.c so that imgsupd, which needs only these,
 * does not link libguestfs and libarchive with inspect and verify.
 */
#include <fcntl.h>
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

int image_digest_matches(const char *image, const struct manifest *m,
			 struct error *e)
{
	char *copy = xstrdup(image), digest[DIGEST_HEX];
	const char *base = basename(copy);
	int rc = 1;

	for (size_t i = 0; i < m->n_outputs && rc == 1; i++) {
		const struct manifest_output *o = &m->outputs[i];

		if (strcmp(o->file, base) || !o->digest[0])
			continue;
		if (sha256_file_hex(image, digest, e) < 0)
			rc = -1;
		else if (strcmp(digest, o->digest))
			rc = 0;
	}
	free(copy);
	return rc;
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
 * debugfs "ls -p" prints "/INODE/MODE/UID/GID/NAME/SIZE/" per entry; names
 * with a slash or a newline cannot occur in ext4, so the split is safe.
 */
static int walk_dir(const struct walk *w, const char *dir, int depth,
		    struct error *e)
{
	struct buf list = { 0 };
	char *req = xasprintf("ls -p \"%s\"", dir), *save = NULL;
	int rc = depth > LOGS_MAX_DEPTH ? 0 :
		 debugfs(w->volume, req, w->unprivileged, &list, e);

	buf_add(&list, "", 1);
	for (char *line = rc == 0 ? strtok_r(list.data, "\n", &save) : NULL;
	     line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
		char mode[16], name[256];
		char *path;

		if (sscanf(line, "/%*[^/]/%15[^/]/%*[^/]/%*[^/]/%255[^/]/", mode, name) != 2 ||
		    !plain_name(name))
			continue;
		path = xasprintf("%s/%s", dir, name);
		if (mode[0] == '1') {
			struct buf data = { 0 };
			char *cat = xasprintf("cat \"%s\"", path);

			rc = debugfs(w->volume, cat, w->unprivileged, &data, e);
			if (rc == 0)
				rc = w->fn(path, data.data ? data.data : "", data.len,
					   w->arg);
			buf_free(&data);
			free(cat);
		} else if (mode[0] == '4') {
			rc = walk_dir(w, path, depth + 1, e);
		}
		free(path);
	}
	buf_free(&list);
	free(req);
	return rc;
}

int logvol_walk(const char *volume, const char *dir, int unprivileged,
		int (*fn)(const char *path, const char *data, size_t len, void *arg),
		void *arg, struct error *e)
{
	const struct walk w = { volume, unprivileged, fn, arg };

	return walk_dir(&w, dir, 0, e);
}
