/*
 * image.h - reading built images back: inspect and verify.
 *
 * An image is found by the file or directory the user names (NAME.erofs,
 * NAME.squashfs, NAME.tar, NAME.tree, NAME.qcow2, NAME.raw, or
 * NAME.manifest.xml itself); its manifest is the NAME.manifest.xml beside
 * it. Images are untrusted: their contents are extracted with the reference
 * tools into a private directory and compared there, never mounted on the
 * caller's behalf. A VM disk is read through libguestfs (its own appliance
 * reads the disk read-only): partition 1, the erofs root, is copied out and
 * checked as an erofs image; verify also checks the kernel and initramfs
 * beside the disk against their digests.
 */
#ifndef IMGTOOL_IMAGE_H
#define IMGTOOL_IMAGE_H

#include <stdio.h>
#include "util.h"

struct manifest;

/* Prints a summary of the image's manifest: contents, areas, service. */
int image_inspect(const char *path, FILE *out, struct error *e);

/*
 * Recomputes every digest of the image and compares it with its manifest.
 * Each changed, added or removed file is printed on out; *differences gets
 * their number. Returns -1 only when the check itself could not be made.
 */
int image_verify(const char *path, FILE *out, int *differences,
		 struct error *e);

/*
 * Prints every file that instances wrote to the image's log volume (its log
 * and state areas), each after a "==> PATH <==" line. While a supervisor
 * serves the image, and we may (root), through its mount: live. Otherwise
 * from the volume's file with debugfs, which needs no root and no mount.
 */
int image_logs(const char *path, FILE *out, struct error *e);

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
 */
int logvol_walk(const char *volume, const char *dir, int unprivileged,
		int (*fn)(const char *path, const char *data, size_t len, void *arg),
		void *arg, struct error *e);

/* Detects an image's format from its first bytes; 0 if unknown. */
unsigned image_format(const char *path);

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
