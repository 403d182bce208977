/*
 * volume.h - attaching images and log volumes to loop devices and mounting
 * them, once per supervisor.
 *
 * Loop devices are configured with LO_FLAGS_AUTOCLEAR: they free themselves
 * when their last mount goes. The supervisor mounts in a mount namespace of
 * its own, so when it dies, even by SIGKILL, its mounts and loop devices go
 * with it.
 */
#ifndef IMGTOOL_VOLUME_H
#define IMGTOOL_VOLUME_H

#include "util.h"

/* Mounts image (erofs, squashfs or a tree directory) read-only at target. */
int volume_mount_image(const char *image, unsigned format, const char *target,
		       struct error *e);
/*
 * One log volume is mounted once on a host: two mounts of one ext4 file
 * system, each with its own cache and journal, lose files and corrupt the
 * bitmaps. Takes an exclusive flock(2) on the volume's file, held by the
 * descriptor returned (close-on-exec) for as long as the supervisor lives;
 * the kernel drops it when we die, however. When another process holds
 * it, fails with a message that names the holder (its PID and command
 * line, from /proc/locks).
 */
int volume_lock(const char *path, struct error *e);

/* Mounts the ext4 log volume read-write, nosuid, nodev, noexec at target. */
int volume_mount_logs(const char *path, const char *target, struct error *e);

#endif
