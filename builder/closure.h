/*
 * closure.h - the ELF dependency closure of a host program.
 *
 * We read the ELF headers ourselves and never run ldd: ldd executes the
 * program's interpreter on it, which is unsafe on untrusted binaries and
 * wrong for foreign ones. The closure follows PT_INTERP, DT_NEEDED,
 * DT_RPATH and DT_RUNPATH (with $ORIGIN, $LIB and $PLATFORM), the
 * ld.so.cache and the standard directories, recursively.
 *
 * The result is the list of host paths to put into the image at the same
 * path, each symbolic link along the way included as a link: on a merged-/usr
 * host /lib64/ld-linux-x86-64.so.2 is reached through the links /lib64 and
 * /usr/lib64/ld-linux-x86-64.so.2, and the image must have the same links so
 * that the path in PT_INTERP resolves inside it.
 */
#ifndef IMGTOOL_CLOSURE_H
#define IMGTOOL_CLOSURE_H

#include <sys/types.h>
#include "util.h"

#define CLOSURE_MAX_ENTRIES 4096	/* a cap against hostile or looping input */

enum closure_type { CLOSURE_FILE, CLOSURE_SYMLINK };

struct closure_entry {
	char *path;	/* absolute, clean path on the host and in the image */
	enum closure_type type;
	char *target;	/* CLOSURE_SYMLINK: readlink() of path, as is */
};

struct closure {
	struct closure_entry *v;	/* unique by path, in insertion order */
	size_t n, cap;
	/* private: the ld.so.cache, loaded once */
	void *cache;
	size_t cache_len;
	const char *root;	/* "" for the host; a test may point it elsewhere */
	/* private: open-addressing hash of v by path, slot = index + 1 */
	size_t *index;
	size_t index_cap;
};

/*
 * root is prefixed to every lookup ("" or NULL for the host's /), including
 * /etc/ld.so.cache and absolute symbolic link targets, as if chrooted there.
 * It is not copied: it must outlive c.
 */
void closure_init(struct closure *c, const char *root);
void closure_free(struct closure *c);

/*
 * Adds path (absolute) and, if it is an ELF object, everything it needs to
 * run: its interpreter and its DT_NEEDED libraries, recursively. A
 * statically linked program adds only itself (and links on its way).
 * A file that is not ELF is added as is; if it starts with "#!", the
 * interpreter's closure is added too. A library loaded with dlopen is added
 * the same way, by its path.
 * Returns -1 with e set if path or a needed library cannot be found or is not
 * a valid ELF file: the message names the object that needed it. On failure
 * c is left as it was before the call.
 *
 * Lookup is glibc's (2.36, Debian): DT_RPATH, DT_RUNPATH, ld.so.cache, then
 * /lib/<multiarch>, /usr/lib/<multiarch>, /lib, /usr/lib. LD_LIBRARY_PATH is
 * ignored on purpose: the image must not depend on the builder's environment.
 * glibc-hwcaps subdirectories are not searched: the baseline library is the
 * one that runs on every CPU the image may meet. A program's $ORIGIN is the
 * directory of its real path (links resolved), because ld.so reads it from
 * /proc/self/exe: such a program needs /proc mounted where it runs.
 */
int closure_add(struct closure *c, const char *path, struct error *e);

/*
 * Adds path and every symbolic link on the way to it (components included),
 * but not its ELF dependencies. The path must end on a regular file.
 */
int closure_add_path(struct closure *c, const char *path, struct error *e);

#endif
