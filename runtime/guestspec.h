/*
 * guestspec.h - the service spec of a VM image, from the builder to the
 * guest init.
 *
 * A jail's supervisor reads the manifest (libxml2) and makes the instance
 * itself. In a VM the instance is made by the guest init, a small static
 * program that links no libxml2: the build therefore renders what the init
 * needs from the recipe into a short text, /imgtool/spec in the initramfs.
 *
 * The format is line based, one "KEY VALUE" per line, in this order:
 *
 *	imgtool-guestspec 1		the first line, exactly
 *	hostname web			the recipe name
 *	uid 100				the service user, never 0
 *	gid 100
 *	arg /bin/busybox		argv, one line each, split like
 *	arg httpd			supervisor/setup.c splits <exec>
 *	env PATH=/usr/local/bin:...	the base environment, in order
 *	workdir /www
 *	stderr /var/log/httpd/access.log	(absent: /dev/null)
 *	recycle connection		connection | session
 *	network none			none | loopback | host
 *	limit memory 33554432		memory pids nofile wall cpu fsize;
 *					absent or 0: no limit
 *	area log 16777216 100 100 0755 /var/log/httpd
 *					kind size uid gid mode(octal) path
 *	end				the last line: a cut file is refused
 *
 * Text after the key's single space runs to the end of the line. In env,
 * workdir, stderr and area paths, a backslash is written "\\" and a newline
 * "\n", so any value survives; arg values never hold blanks. The lines
 * between the first and "end" may come in any order; scalar keys at most
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

#define GUESTSPEC_MAGIC "imgtool-guestspec 1"
#define GUESTSPEC_MAX_BYTES (1u << 20)	/* the whole spec */
#define GUESTSPEC_MAX_ARGS 256
#define GUESTSPEC_MAX_ENV (SPEC_MAX_ENV + 8)	/* the recipe's and ours */
#define GUESTSPEC_ERR_MAX 256

struct guest_area {
	char *path;
	enum writable_kind kind;
	uint64_t size;
	uid_t uid;
	gid_t gid;
	mode_t mode;
};

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
	uid_t uid;
	gid_t gid;
	char **argv;		/* NULL-terminated, argv[0] absolute */
	size_t argc;
	char **env;		/* NULL-terminated NAME=VALUE */
	size_t n_env;
	char *workdir;		/* "/" when the spec has none */
	char *stderr_path;	/* NULL: /dev/null */
	enum recycle recycle;	/* connection or session */
	enum network network;
	struct limits limits;
	struct guest_area *areas;
	size_t n_areas;
};


/*
 * Parses len bytes of data. Returns 0, or -1 with a message in err
 * ("line 4: uid: not a number in 1..65534") and gs left empty.
 */
int guestspec_parse(const char *data, size_t len, struct guest_spec *gs,
		    char *err, size_t errlen);
void guestspec_free(struct guest_spec *gs);

#endif
