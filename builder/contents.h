/*
 * contents.h - what goes into an image: the list of entries gathered from a
 * recipe (programs and their closures, trees, files, links, directories,
 * /etc/passwd and /etc/group, mount points of the writable areas, the
 * manifest).
 *
 * Every writer (tree, tar, erofs, squashfs, later the VM disk) works from
 * this one list, so every format holds the same files with the same owners,
 * modes and timestamps.
 */
#ifndef IMGTOOL_CONTENTS_H
#define IMGTOOL_CONTENTS_H

#include <stdint.h>
#include <sys/types.h>
#include "recipe.h"
#include "util.h"

#define CONTENTS_MAX_ENTRIES	200000
#define CONTENTS_MAX_BYTES	(16ull << 30)	/* all regular files together */

struct entry {
	char *path;	/* absolute, clean; "/" is the root directory */
	mode_t mode;	/* file type and permission bits, S_IFREG|0644 etc. */
	uint32_t uid, gid;
	char *src;	/* S_IFREG: host file to copy, or NULL if data is set */
	char *data;	/* S_IFREG: inline bytes */
	size_t len;	/* S_IFREG: size in bytes */
	char *target;	/* S_IFLNK */
	char digest[DIGEST_HEX];	/* S_IFREG: sha256 of the content */
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

/*
 * Gathers everything the recipe puts into its image, with every digest.
 * epoch is SOURCE_DATE_EPOCH (or 0). Symbolic links must stay inside the
 * image; device nodes, sockets and fifos in trees are refused.
 */
int contents_gather(struct contents *c, const struct recipe *r, int64_t epoch,
		    struct error *e);
/*
 * Records the tree under dir as it is, with its owners and modes: what an
 * extracted image holds, for verify.
 */
int contents_scan(struct contents *c, const char *dir, struct error *e);
/* Adds one entry; the same path twice is an error unless identical. */
int contents_add(struct contents *c, const struct entry *en, struct error *e);
/*
 * Adds a directory and any missing parents (root's, 0755); an existing
 * directory keeps its owner and mode.
 */
int contents_add_dir(struct contents *c, const char *path, mode_t perm,
		     uint32_t uid, uint32_t gid, struct error *e);
/* Adds an inline regular file and any missing parent directories. */
int contents_add_file(struct contents *c, const char *path, const char *data,
		      size_t len, mode_t perm, struct error *e);
/* Finds an entry by path, or NULL. */
struct entry *contents_find(const struct contents *c, const char *path);
void contents_sort(struct contents *c);
void contents_free(struct contents *c);

/* Reads a regular entry's bytes (from data or from src), at most its len. */
int entry_read(const struct entry *en, char **data, size_t *len,
	       struct error *e);

#endif
