/*
 * volume.c - loop devices and mounts of images and log volumes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/loop.h>

#include "spec.h"
#include "util.h"
#include "volume.h"

#define LOCKS_MAX (1 << 20)	/* what we read of /proc/locks */

/*
 * The PID that holds a FLOCK on st's inode, from /proc/locks
 * ("1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"), or 0.
 */
static long flock_holder(const struct stat *st)
{
	char *data = NULL, *line, *save = NULL, want[64];
	size_t len = 0;
	long pid = 0;

	if (read_file("/proc/locks", LOCKS_MAX, &data, &len, NULL) < 0)
		return 0;
	snprintf(want, sizeof(want), "%02x:%02x:%llu", major(st->st_dev),
		 minor(st->st_dev), (unsigned long long)st->st_ino);
	for (line = strtok_r(data, "\n", &save); line && !pid;
	     line = strtok_r(NULL, "\n", &save)) {
		char type[16], dev[64];
		long p;

		if (sscanf(line, "%*s %15s %*s %*s %ld %63s", type, &p, dev) == 3 &&
		    !strcmp(type, "FLOCK") && !strcmp(dev, want))
			pid = p;
	}
	free(data);
	return pid;
}

/* "imgsupd --listen ... out/web.erofs": a process' command line, shown. */
static char *command_of(long pid)
{
	char *path = xasprintf("/proc/%ld/cmdline", pid), *data = NULL;
	size_t len = 0;

	if (read_file(path, 4096, &data, &len, NULL) < 0 || len == 0) {
		free(path);
		free(data);
		return xstrdup("?");
	}
	free(path);
	for (size_t i = 0; i + 1 < len; i++)
		if (data[i] == '\0')
			data[i] = ' ';
		else if ((unsigned char)data[i] < 32 || data[i] == 127)
			data[i] = '?';
	return data;
}

int volume_lock(const char *path, struct error *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	long holder;
	char *cmd;

	if (fd < 0)
		return error_errno(e, "%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno != EWOULDBLOCK) {
		error_errno(e, "%s: lock", path);
		close(fd);
		return -1;
	}
	holder = fstat(fd, &st) == 0 ? flock_holder(&st) : 0;
	close(fd);
	if (!holder)
		return error_set(e, "%s: the log volume is mounted by another "
				 "supervisor; a volume is mounted once on a host: "
				 "stop that one first", path);
	cmd = command_of(holder);
	error_set(e, "%s: the log volume is mounted by process %ld (%s); a "
		  "volume is mounted once on a host: stop that one first, and "
		  "read its logs meanwhile with imgtool logs", path, holder, cmd);
	free(cmd);
	return -1;
}

#define LOOP_RETRIES 16

/*
 * Binds a free loop device to the file and returns it open: with
 * LO_FLAGS_AUTOCLEAR the device detaches at its last close, so the caller
 * closes it only after mounting it. LOOP_CTL_GET_FREE and configuring the
 * device are two steps another process may race; EBUSY means it did, and we
 * take the next free device.
 */
static int loop_attach(const char *path, int read_only, char *dev, size_t n,
		       struct error *e)
{
	struct loop_config cfg = { 0 };
	int ctl, file, rc = -1;

	file = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (file < 0)
		return error_errno(e, "%s", path);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		close(file);
		return error_errno(e, "/dev/loop-control");
	}
	cfg.fd = (unsigned)file;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
	for (int i = 0; i < LOOP_RETRIES && rc < 0; i++) {
		int num = ioctl(ctl, LOOP_CTL_GET_FREE), loop;

		if (num < 0) {
			error_errno(e, "LOOP_CTL_GET_FREE");
			break;
		}
		snprintf(dev, n, "/dev/loop%d", num);
		loop = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (loop < 0) {
			error_errno(e, "%s", dev);
			break;
		}
		if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0) {
			rc = loop;
			break;
		}
		if (errno != EBUSY)
			error_errno(e, "%s: LOOP_CONFIGURE %s", dev, path);
		close(loop);
		if (errno != EBUSY)
			break;
	}
	close(ctl);
	close(file);
	return rc;
}

int volume_mount_image(const char *image, unsigned format, const char *target,
		       struct error *e)
{
	unsigned long flags = MS_RDONLY | MS_NODEV | MS_NOSUID;
	char dev[64];
	int loop, rc;

	if (format == FORMAT_TREE) {
		if (mount(image, target, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
			return error_errno(e, "bind %s read-only", image);
		return 0;
	}
	if (format != FORMAT_EROFS && format != FORMAT_SQUASHFS)
		return error_bad(e, "%s: instances run from erofs, squashfs or tree "
				 "images, not %s", image,
				 format_name((enum output_format)format));
	loop = loop_attach(image, 1, dev, sizeof(dev), e);
	if (loop < 0)
		return -1;
	rc = mount(dev, target, format == FORMAT_EROFS ? "erofs" : "squashfs",
		   flags, NULL);
	if (rc < 0)
		error_errno(e, "mount %s (%s) on %s", image, dev, target);
	close(loop);
	return rc;
}

int volume_mount_logs(const char *path, const char *target, struct error *e)
{
	char dev[64];
	int loop = loop_attach(path, 0, dev, sizeof(dev), e), rc;

	if (loop < 0)
		return -1;
	/* commit=1: what instances log reaches the file within a second. */
	rc = mount(dev, target, "ext4", MS_NODEV | MS_NOSUID | MS_NOEXEC,
		   "commit=1,errors=remount-ro");
	if (rc < 0)
		error_errno(e, "mount %s (%s) on %s", path, dev, target);
	close(loop);
	return rc;
}
