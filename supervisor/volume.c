/*
 * volume.c - loop devices and mounts of images and log volumes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>
#include <linux/loop.h>

#include "spec.h"
#include "volume.h"

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
