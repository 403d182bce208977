/*
 * logsync.h - the log and state areas of VMs that cannot reach our mount
 * of the log volume.
 *
 * A remote libvirtd's VMs (vmremote.h) run on another host: virtiofs cannot
 * share our mount with them. Each such VM gets a small ext4 disk of its own
 * instead (the guest init mounts it where it would mount the share), made
 * from our mount when the VM is made and merged back into it when the VM
 * is gone:
 *
 *  - a log area starts empty (its directories only) and what the VM wrote
 *    is appended to the files of the same names;
 *  - a state area starts as it is now, and its files replace ours: of two
 *    VMs that changed one file, the one that ended last wins.
 *
 * The disk comes back from a guest: it is read with debugfs as nobody
 * (logvol_walk()), never mounted, and written into our mount only below
 * its areas, by names checked one by one, never through a link.
 */
#ifndef IMGTOOL_LOGSYNC_H
#define IMGTOOL_LOGSYNC_H

#include <stdint.h>
#include "manifest.h"
#include "util.h"

/*
 * Makes the ext4 image out (size bytes) from the areas of m in logs_dir,
 * staged in the directory work (made and removed here).
 */
int logsync_seed(const char *logs_dir, const struct manifest *m,
		 const char *work, const char *out, uint64_t size,
		 struct error *e);

/*
 * Merges a VM's disk (an image file nobody can read) into logs_dir.
 * *replaced gets the number of state files it replaced.
 */
int logsync_merge(const char *disk, const char *logs_dir,
		  const struct manifest *m, size_t *replaced, struct error *e);

#endif
