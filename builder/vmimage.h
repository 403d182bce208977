/*
 * vmimage.h - the parts of a VM appliance: kernel, initramfs, disk.
 *
 * A VM output is booted by direct kernel boot (docs/architecture.md): the
 * build writes, beside the disk, the kernel it boots and an initramfs that
 * holds the guest init (guest/init.c), the service spec, the compiled
 * seccomp filter and the kernel modules the init loads. The disk is GPT
 * with one partition labelled "root" that holds the very erofs image the
 * jail build writes, so a jail and a VM of one recipe hold the same bytes.
 *
 * The disk is written with the libguestfs C API in one appliance launch.
 * Everything is reproducible: the initramfs is a sorted newc cpio with the
 * epoch as time and root as owner, and the GPT GUIDs derive from the build id.
 *
 * This file needs nothing from runtime/: the builder renders the spec and
 * compiles the filter (build.c) and hands the bytes over, so that readers
 * of VM images (image.c, imgsupd) link no libseccomp work.
 */
#ifndef IMGTOOL_VMIMAGE_H
#define IMGTOOL_VMIMAGE_H

#include <stdint.h>
#include "digest.h"
#include "guestspec.h"
#include "util.h"

/* The package that brings the default kernel, for messages. */
#define VM_KERNEL_PACKAGE "linux-image-cloud-amd64"
/* Where the initramfs holds the guest's files (the init reads them). */
#define VM_INITRD_SPEC GUESTSPEC_INITRD_PATH
#define VM_INITRD_SECCOMP "imgtool/seccomp.bpf"
#define VM_INITRD_MODULES "imgtool/modules"
/* The name of the disk's root partition. */
#define VM_ROOT_PARTITION "root"

#define VM_MAX_MODULES 64

/* A kernel and the modules the guest init loads, in load order. */
struct vmimage_kernel {
	char *path;		/* /boot/vmlinuz-VERSION */
	char *version;		/* VERSION */
	char *modules[VM_MAX_MODULES];	/* .ko paths, dependencies first */
	size_t n_modules;
	char digest[DIGEST_HEX];	/* of the kernel, the modules and
					   their order: part of the build id */
};

/*
 * Finds the kernel: path when given (the recipe's <vm kernel>), else the
 * newest /boot/vmlinuz-*-cloud-amd64, else the newest /boot/vmlinuz-*.
 * Its version is the part after "vmlinuz-"; its modules come from
 * /lib/modules/VERSION/modules.dep. Errors name the missing path and the
 * package linux-image-cloud-amd64 (status 1).
 */
int vmimage_kernel_find(const char *path, struct vmimage_kernel *k, struct error *e);
void vmimage_kernel_free(struct vmimage_kernel *k);
/* Copies the kernel to out. */
int vmimage_write_kernel(const struct vmimage_kernel *k, const char *out, struct error *e);

/*
 * The guest init binary: IMGTOOL_INIT, else imgtool-init beside this
 * program (build/bin in a developer tree), else
 * $(PREFIX)/lib/imgtool/imgtool-init. Returns a malloc'd path that exists,
 * or NULL with e naming where it looked.
 */
char *vmimage_init_path(struct error *e);

/*
 * Writes the initramfs: a newc cpio, uncompressed, entries sorted, times
 * the epoch, owner root. init is the guest init binary, spec and filter the
 * rendered service spec and the raw struct sock_filter array.
 */
int vmimage_write_initrd(const char *out, const char *init, const struct vmimage_kernel *k,
		    const struct buf *spec, const void *filter, size_t filter_len,
		    int64_t epoch, struct error *e);

/*
 * Writes the disk (format "qcow2" or "raw") holding erofs as partition 1,
 * with GPT GUIDs derived from build_id. One appliance launch.
 */
int vmimage_write_disk(const char *out, const char *format, const char *erofs,
		  const char *build_id, struct error *e);

/*
 * Copies partition 1 of a VM disk into the file out (one appliance launch,
 * the disk read-only). Fails with status 3 when the disk has no partition
 * named "root".
 */
int vmimage_read_root(const char *disk, const char *format, const char *out,
		 struct error *e);

/*
 * What libguestfs says of a disk without launching an appliance: its format
 * ("qcow2", "raw", ...) and virtual size. 0 or -1 with e set.
 */
int vmimage_disk_info(const char *disk, char *format, size_t len, uint64_t *size,
		 struct error *e);

#endif
