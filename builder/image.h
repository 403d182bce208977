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
#include "imagefile.h"
#include "util.h"

struct manifest;

/*
 * Prints a summary of the image's manifest: contents, areas, service. path
 * is an image, which must exist and be one (image_format_checked), or its
 * manifest.
 */
int image_inspect(const char *path, FILE *out, struct error *e);

/*
 * Recomputes every digest of the image and compares it with its manifest.
 * Each changed, added or removed file is printed on out; *differences gets
 * their number. Returns -1 only when the check itself could not be made:
 * path missing, empty or no image (image_format_checked), no manifest.
 */
int image_verify(const char *path, FILE *out, int *differences,
		 struct error *e);

/* The manifest beside an image (image_manifest_path()), loaded. */
struct manifest *image_manifest_beside(const char *image, struct error *e);

/* What imgtool logs is asked for (builder/logs.c). */
struct logs_opts {
	int escape;		/* out is a terminal: escape control bytes */
	int follow;		/* -f: print what is appended, until stopped */
	const char *copy;	/* --copy PATH (as a header shows it), or NULL */
	const char *dest;	/* ... to DEST */
};

/*
 * Prints every file that instances wrote to the image's log volume (its log
 * and state areas), each after a "==> PATH <==" line; a binary one as a
 * line that says how to copy it. Names are shown escaped (\xNN, \\), and
 * with o->escape the contents too. While a supervisor serves the image,
 * and we may (root), through its mount: live, in a child as each area's
 * owner, opening only below directory fds (builder/logs.c says why).
 * Otherwise from the volume's file with debugfs, which needs no root and
 * no mount; a file that is no ext4 volume is an error.
 * o->follow: live only; prints what is appended, and new files, each
 * second, until SIGINT or SIGTERM (0) or the supervisor's end.
 * o->copy: copies that one file to o->dest byte for byte, atomically.
 */
int image_logs(const char *path, const struct logs_opts *o, FILE *out,
	       struct error *e);

#endif
