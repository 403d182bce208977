/*
 * contents.h - the list of an image's entries: path, type, mode, owner,
 * size, digest, and where the bytes come from. The builder gathers it from
 * a recipe (builder/gather.h), the manifest records it, verify compares two
 * of them. Every format is written from this one list.
 */
#ifndef IMGTOOL_CONTENTS_H
#define IMGTOOL_CONTENTS_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "digest.h"
#include "util.h"

#define CONTENTS_MAX_ENTRIES	200000
#define CONTENTS_MAX_BYTES	(16ull << 30)	/* all regular files together */

/*
 * What a host file was when its digest was taken: a build checks it again
 * after packing, so that a file rewritten in place (even at the same size
 * and mtime: ctime moves with every write) fails the build instead of
 * leaving a manifest that does not describe the image.
 */
struct src_identity {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct entry {
	char *path;	/* absolute, clean; "/" is the root directory */
	mode_t mode;	/* file type and permission bits, S_IFREG|0644 etc. */
	uint32_t uid, gid;
	char *src;	/* S_IFREG: host file to copy, or NULL if data is set */
	char *data;	/* S_IFREG: inline bytes */
	size_t len;	/* S_IFREG: size in bytes */
	char *target;	/* S_IFLNK */
	char digest[DIGEST_HEX];	/* S_IFREG: sha256 of the content */
	struct src_identity src_id;	/* src as it was hashed */
};

struct contents {
	struct entry *v;	/* sorted by path (strcmp) after contents_gather */
	size_t n, cap;
	uint64_t bytes;		/* sum of regular file sizes */
	int64_t epoch;		/* every timestamp in the image */
	/* private: a hash index of paths, entry index + 1 per slot */
	size_t *slots;
	size_t n_slots;
};

/* Adds one entry; the same path twice is an error unless identical. */
int contents_add(struct contents *c, const struct entry *en, struct error *e);
/* Finds an entry by path, or NULL. */
struct entry *contents_find(const struct contents *c, const char *path);
void contents_sort(struct contents *c);
void contents_free(struct contents *c);
/* Reads a regular entry's bytes (from data or from src), at most its len. */
int entry_read(const struct entry *en, char **data, size_t *len,
	       struct error *e);

/*
 * True if a symbolic link at path (absolute, clean) with this target
 * resolves inside the image. An absolute target resolves against the
 * image's own root, so it cannot leave it; a relative one must not climb
 * above "/" lexically. The one check for every link that enters an image:
 * the recipe's <symlink> (recipe.c) and the links of trees (gather.c).
 */
int link_stays_inside(const char *path, const char *target);

#endif
