/*
 * gather.h - what goes into an image: the list of entries gathered from a
 * recipe (programs and their closures, trees, files, links, directories,
 * /etc/passwd and /etc/group, mount points of the writable areas, the
 * manifest).
 *
 * Every writer (tree, tar, erofs, squashfs, later the VM disk) works from
 * this one list, so every format holds the same files with the same owners,
 * modes and timestamps.
 */
#ifndef IMGTOOL_GATHER_H
#define IMGTOOL_GATHER_H

#include <stdint.h>
#include <sys/types.h>
#include "contents.h"
#include "recipe.h"
#include "util.h"

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
/*
 * Adds a directory and any missing parents (root's, 0755); an existing
 * directory keeps its owner and mode.
 */
int contents_add_dir(struct contents *c, const char *path, mode_t perm,
		     uint32_t uid, uint32_t gid, struct error *e);
/* Adds an inline regular file and any missing parent directories. */
int contents_add_file(struct contents *c, const char *path, const char *data,
		      size_t len, mode_t perm, struct error *e);
/*
 * Checks that every host file of c is still the file that was hashed
 * (device, inode, size, mtime, ctime as when its digest was taken). Called
 * after packing: a change fails the build, naming the file ("FILE changed
 * during the build"), since what was packed may not be what was hashed.
 */
int contents_check_sources(const struct contents *c, struct error *e);

#endif
