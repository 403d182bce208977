/*
 * guestspec.h - the service spec of a VM image, from the builder to the
 * guest init.
 *
 * A jail's supervisor reads the manifest (libxml2) and makes the instance
 * itself. In a VM the instance is made by the guest init, a small static
 * program that links no libxml2: the build therefore renders the service
 * spec from the recipe into a short text, /imgtool/spec in the initramfs.
 * It carries the same struct service the manifest does, so that the init
 * builds the launch plan with the same launch_plan() as the supervisor
 * (launch.h), from the same fields.
 *
 * The format is line based, one "KEY VALUE" per line:
 *
 *	imgtool-guestspec 2		the first line, exactly
 *	hostname web			the recipe name
 *	user www			the service user: name, ids, home
 *	uid 100				(never 0)
 *	gid 100
 *	home /www
 *	exec /bin/busybox httpd -i	the command line, as in the recipe
 *	env NAME=VALUE			the recipe's variables, in order
 *	workdir /www			(absent: the home)
 *	stderr /var/log/httpd/err.log	(absent: /dev/null)
 *	recycle connection		connection | session
 *	network none			none | loopback | host
 *	limit memory 33554432		memory pids nofile wall cpu fsize;
 *					absent or 0: no limit
 *	area log 16777216 100 100 0755 /var/log/httpd
 *					kind size uid gid mode(octal) path
 *	end				the last line: a cut file is refused
 *
 * Text after the key's single space runs to the end of the line. In exec,
 * env, home, workdir, stderr and area paths, a backslash is written "\\"
 * and a newline "\n", so any value survives. The lines between the first
 * and "end" may come in any order; keys other than env and area at most
 * once.
 *
 * The spec comes from the build, but the parser still treats it as input:
 * every count, length and number is bounded, and anything unexpected is an
 * error naming the line.
 *
 * libc only: the static init links it. The builder writes the spec
 * (builder/render.h).
 */
#ifndef IMGTOOL_GUESTSPEC_H
#define IMGTOOL_GUESTSPEC_H

#include <stddef.h>
#include <sys/types.h>
#include "spec.h"

#define GUESTSPEC_MAGIC "imgtool-guestspec 2"
#define GUESTSPEC_MAX_BYTES (1u << 20)	/* the whole spec */
#define GUESTSPEC_ERR_MAX 256
/* Where the spec is in the initramfs (a newc cpio archive, uncompressed). */
#define GUESTSPEC_INITRD_PATH "imgtool/spec"

/*
 * The kernel command line of a VM (imgsupd fills it into the domain
 * template): the console on the serial port, where the supervisor reads a
 * failed guest's last words; and a panic powers the VM off at once instead
 * of rebooting it.
 */
#define GUEST_CMDLINE "console=ttyS0 quiet panic=-1"
/*
 * Added to the command line when the log and state areas are a disk of the
 * VM's own, /dev/vdb (a remote libvirtd's VMs: supervisor/logsync.h),
 * rather than the virtiofs share.
 */
#define GUEST_LOGS_DISK "imgtool.logs=vdb"

struct guest_spec {
	char *hostname;
	char *home;		/* the service user's home */
	struct service service;	/* present, user, uid, gid, exec, env,
				   workdir, stderr_path, recycle, network,
				   limits; the rest stays 0 */
	struct writable *areas;
	size_t n_areas;
};

/*
 * Parses len bytes of data. Returns 0, or -1 with a message in err
 * ("line 4: uid: not a number in 1..65534") and gs left empty.
 */
int guestspec_parse(const char *data, size_t len, struct guest_spec *gs,
		    char *err, size_t errlen);
void guestspec_free(struct guest_spec *gs);

/*
 * Finds the regular file GUESTSPEC_INITRD_PATH in len bytes of a newc cpio
 * archive (the initramfs a build writes) and points *spec and *spec_len at
 * its bytes inside data. Every header, size and offset is checked against
 * len: the archive is input. 0, or -1 with a message in err.
 */
int guestspec_from_initrd(const char *data, size_t len, const char **spec,
			  size_t *spec_len, char *err, size_t errlen);

#endif
