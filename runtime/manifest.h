/*
 * manifest.h - the record of what an image holds.
 *
 * A manifest names the recipe and every input by digest, lists every file of
 * the image with owner, mode, size and sha256, and carries the writable
 * areas and the service spec that the supervisor runs. One copy sits inside
 * the image at MANIFEST_IMAGE_PATH; the copy beside the image
 * (NAME.manifest.xml) adds the output files with their digests and the wall
 * clock time of the build.
 *
 * Manifests are read back by inspect, verify, the cache and the supervisor,
 * and may come from elsewhere: they are parsed as untrusted input.
 */
#ifndef IMGTOOL_MANIFEST_H
#define IMGTOOL_MANIFEST_H

#include <stdint.h>
#include "contents.h"
#include "spec.h"
#include "util.h"

#define MANIFEST_FORMAT "1"	/* the format attribute this version writes and reads */
#define MANIFEST_IMAGE_DIR "/etc/imgtool"
#define MANIFEST_IMAGE_PATH "/etc/imgtool/manifest.xml"
#define MANIFEST_MAX_BYTES (256u << 20)
#define MANIFEST_MAX_OUTPUTS 16

struct manifest_output {
	unsigned format;	/* enum output_format */
	char *file;		/* file name beside the manifest */
	uint64_t size;
	char digest[DIGEST_HEX];	/* sha256 of the file; of a tree, of its own
					   manifest (output_digest()); "" if none */
};

struct manifest {
	char *name, *version;
	char *build_id;		/* digest of the in-image manifest: the cache key */
	char *recipe_digest;
	int64_t epoch;
	char *built;		/* wall clock time of the build, or NULL */
	struct contents files;	/* entries without src; digests set */
	struct writable *writables;
	size_t n_writables;
	struct service service;
	struct user *users;
	size_t n_users;
	struct manifest_output outputs[MANIFEST_MAX_OUTPUTS];
	size_t n_outputs;
	char *logs_file;	/* the stamped log volume, or NULL */
	/*
	 * A VM build (outside manifest only) records, besides the outputs
	 * "qcow2" or "raw" (the disk), "vmlinuz" (the kernel) and "initrd"
	 * (the initramfs), each with file, size and sha256:
	 *   <vm memory="BYTES" vcpus="N" kernel-version="6.1.0-57-cloud-amd64"/>
	 * has_vm says whether it was there; vm.kernel stays NULL (the kernel
	 * to boot is the "vmlinuz" output beside the manifest).
	 */
	int has_vm;
	struct vm_spec vm;	/* memory in bytes, vcpus */
	char *kernel_version;	/* uname -r of the kernel, for messages */
};


/* Loads a manifest file. Errors name the file (status 3 if malformed). */
struct manifest *manifest_load(const char *path, struct error *e);
struct manifest *manifest_parse(const char *data, size_t len,
				const char *name, struct error *e);
void manifest_free(struct manifest *m);

/*
 * Compares what a supervisor runs from two manifests of one image: the
 * name, the service, the users and the writable areas. NULL when they
 * agree; else a malloc'd sentence naming the first difference, e.g.
 * "the service differs from the image's own manifest: exec \"/bin/sh\"
 * (the image's: \"/bin/busybox httpd\")". outside is the copy beside the
 * image, inside the image's own (MANIFEST_IMAGE_PATH).
 */
char *manifest_spec_diff(const struct manifest *outside,
			 const struct manifest *inside);

/*
 * The same for a VM image, whose guest runs the spec in its initramfs
 * (guestspec.h): what of the service, the name, the user's home and the
 * areas the manifest beside the image says, against that spec.
 */
struct guest_spec;
char *manifest_guestspec_diff(const struct manifest *outside,
			      const struct guest_spec *gs);

/* The output of the given format (FORMAT_QCOW2, FORMAT_VMLINUZ, ...), or
 * NULL when the manifest records none. */
const struct manifest_output *manifest_output_find(const struct manifest *m,
						   unsigned format);

#endif
