/*
 * landlock.h - the instance's second wall: a Landlock domain under the
 * mounts and the seccomp filter.
 *
 * The mounts already make the image read-only; Landlock says it again in
 * the kernel's access checks, so that what a mount lets through (/proc,
 * whose files a process may write, a device node, a mount a kernel bug or
 * a later change leaves writable) is still refused. In the domain:
 *
 *   every path          read, list, execute; nothing else
 *   a writable area     everything (the manifest's log, state, scratch)
 *   /dev/null, zero,    read and write
 *   full, random,
 *   urandom
 *   imgtool run's       as each descriptor was opened (read, write), and
 *   stdio               a terminal's ioctls: it lies outside the
 *                       instance's tree, /dev/stderr opens it anew
 *   abstract UNIX       only those of the domain itself can be reached
 *   sockets, signals    (Landlock ABI 6: scoped)
 *
 * Rights the running kernel's ABI lacks are left out (an older kernel
 * enforces less, never refuses to start). A kernel without Landlock (too
 * old, or not enabled at boot) starts the instance without it: the
 * supervisor and the guest init say so once, at start (landlock_abi()).
 *
 * Uses raw system calls and no library: the guest init links libc only.
 * landlock_confine() runs in a freshly forked child: it allocates nothing.
 */
#ifndef IMGTOOL_LANDLOCK_H
#define IMGTOOL_LANDLOCK_H

#include <stddef.h>
#include "util.h"

/* The running kernel's Landlock ABI version; 0 when it has no Landlock. */
int landlock_abi(void);

/*
 * Puts the calling process, and what it starts from now on, in a new
 * Landlock domain (see above). writable: the areas' paths, as mounted in
 * the instance. stdio: also allow the files and character devices on fds
 * 0 to 2 (imgtool run's). Needs no_new_privs. Returns the ABI enforced
 * (> 0), 0 when the kernel has no Landlock (nothing done), -1 with err set.
 */
int landlock_confine(const struct strv *writable, int stdio, char *err,
		     size_t errlen);

#endif
