/*
 * imagefile.c - what an image file is, and the files that go with it (see
 * image.h). Apart from image.c so that imgsupd, which needs only these,
 * does not link libguestfs and libarchive with inspect and verify.
 */
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "manifest.h"
#include "recipe.h"

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
