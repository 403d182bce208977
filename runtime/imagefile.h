/*
 * imagefile.h - an image's files on disk: its format, the manifest and log
 * volume beside it, its digest, and reading its log volume without
 * mounting it. Used by the supervisor and by the command's inspect,
 * verify and logs (builder/image.h).
 */
#ifndef IMGTOOL_IMAGEFILE_H
#define IMGTOOL_IMAGEFILE_H

#include <stddef.h>
#include "digest.h"
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
 * The digest that a manifest records for an output: the sha256 of the file;
 * for a tree (a directory, which has none), the sha256 of the tree's own
 * manifest (MANIFEST_IMAGE_PATH below it, read without following links),
 * which lists every file's digest. Errors name path.
 */
int output_digest(const char *path, unsigned format, char digest[DIGEST_HEX],
		  struct error *e);

/*
 * Compares the image file with the sha256 its manifest records for it.
 * 1: they match, or the manifest records none (an image under a name the
 * manifest does not know, a tree built before trees had one); 0: they
 * differ; -1: the image cannot be read (e set).
 */
int image_digest_matches(const char *image, const struct manifest *m,
			 struct error *e);

#define IMAGE_MAX_CANDIDATES 8
/*
 * Where the output named file, of the given format, may be in dir: dir/file
 * first, then every dir/file.tmp.* in name order, which is what a build
 * killed during its install leaves (builder/build.c: each new output waits
 * as file.tmp.PID and is exchanged with the old one, which is left at that
 * name until the new manifest is in place). Only what lstat calls a regular
 * file (a directory for a tree) is listed: never a link. Fills paths
 * (malloc'd, at most IMAGE_MAX_CANDIDATES) and returns their number.
 */
size_t image_candidates(const char *dir, const char *file, unsigned format,
			char **paths);

/*
 * The file that holds the output that image names in m, beside the manifest:
 * the image itself when its digest is the one recorded (or none is: see
 * image_digest_matches), else the first of image_candidates() whose digest
 * is, the complete previous output a killed build left (*leftover is set,
 * and the path is what to serve). Malloc'd; NULL when none matches (status
 * 3, "digest does not match") or one cannot be read.
 */
char *image_locate(const char *image, const struct manifest *m, int *leftover,
		   struct error *e);

/* The log volume beside an image (malloc'd), or NULL if it has none. */
char *image_logs_path(const char *image, const struct manifest *m);

/* The path of the manifest beside an image (malloc'd). */
char *image_manifest_path(const char *image);

#endif
