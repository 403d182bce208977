/*
 * imagefile.h - an image's files on disk: its format, the manifest and log
 * volume beside it, its digest, and reading its log volume without
 * mounting it. Used by the supervisor and by the command's inspect,
 * verify and logs (builder/image.h).
 */
#ifndef IMGTOOL_IMAGEFILE_H
#define IMGTOOL_IMAGEFILE_H

#include <stddef.h>
#include "util.h"

struct manifest;

/* The most imgtool logs prints, and the largest file logvol_walk() reads. */
#define LOGS_MAX_BYTES (64u << 20)
/* How deep below an area imgtool logs and logvol_walk() go. */
#define LOGS_MAX_DEPTH 8

/*
 * Calls fn for every regular file below dir (at most 8 levels deep) of the
 * ext4 log volume file volume, read with debugfs: no root, no mount. fn
 * gets the path on the volume and the contents; a non-zero return stops
 * the walk and is returned. unprivileged: debugfs runs as nobody, for a
 * volume a guest wrote. Names debugfs cannot be asked for are skipped.
 * A file that is no ext4 volume (empty, no superblock) or on which dir
 * cannot be listed is an error (status 3) naming it.
 */
int logvol_walk(const char *volume, const char *dir, int unprivileged,
		int (*fn)(const char *path, const char *data, size_t len, void *arg),
		void *arg, struct error *e);

/*
 * Reads the regular file path (absolute, on the volume) of the log volume
 * file volume into out, byte for byte, with debugfs; at most
 * LOGS_MAX_BYTES. Errors name the path: missing, not a regular file, a
 * name debugfs cannot be asked for, too large.
 */
int logvol_read(const char *volume, const char *path, struct buf *out,
		struct error *e);

/* Detects an image's format from its first bytes; 0 if unknown. */
unsigned image_format(const char *path);

/*
 * image_format, for a path the user named: 0 with e set (status 3, the
 * message naming path) if it does not exist ("No such file or directory"),
 * is an empty file, or is no image.
 */
unsigned image_format_checked(const char *path, struct error *e);

/*
 * Compares the image file with the sha256 its manifest records for it.
 * 1: they match, or the manifest records none (a tree); 0: they differ;
 * -1: the image cannot be read (e set).
 */
int image_digest_matches(const char *image, const struct manifest *m,
			 struct error *e);

/* The log volume beside an image (malloc'd), or NULL if it has none. */
char *image_logs_path(const char *image, const struct manifest *m);

/* The path of the manifest beside an image (malloc'd). */
char *image_manifest_path(const char *image);

#endif
