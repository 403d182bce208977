/*
 * spec.h - the shared description of an appliance: the service, its
 * limits, its users and writable areas, the output formats, and their
 * names.
 *
 * The recipe (builder/recipe.h) fills these from XML, the manifest
 * (runtime/manifest.h) from the image's own manifest, the guest spec
 * (runtime/guestspec.h) from a VM's initramfs; the runtime and the
 * supervisor use them without knowing which. Part of the base library:
 * libc only, nothing of ours but util.h.
 */
#ifndef IMGTOOL_SPEC_H
#define IMGTOOL_SPEC_H

#include <stdint.h>
#include <sys/types.h>

/* Caps shared by every reader of a spec; anything larger is refused. */
#define SPEC_MAX_USERS		256
#define SPEC_MAX_WRITABLES	64
#define SPEC_MAX_ID		65534u		/* uids and gids */
#define SPEC_MAX_AREA		(64ull << 30)	/* one writable area */
#define SPEC_MAX_ENV		256		/* the recipe's variables */

/* Where an element came from, for error messages. */
struct origin {
	const char *file;	/* points into recipe->inputs */
	int line;
};

#define ID_UNSET ((uint32_t)-1)
#define MODE_UNSET ((mode_t)-1)

struct user {
	char *name;
	uint32_t uid, gid;
	char *home;	/* default "/" */
	char *shell;	/* default "/bin/false" */
	struct origin at;
};

enum writable_kind { WRITABLE_LOG, WRITABLE_STATE, WRITABLE_SCRATCH };

struct writable {
	char *path;
	enum writable_kind kind;
	uint64_t size;	/* bytes */
	uint32_t uid, gid;	/* default: the service user */
	mode_t mode;	/* default 0755 */
	struct origin at;
};

enum recycle { RECYCLE_CONNECTION, RECYCLE_SESSION, RECYCLE_INTERVAL };
enum network { NETWORK_NONE, NETWORK_LOOPBACK, NETWORK_HOST };

struct limits {
	uint64_t memory;	/* bytes, 0 = unset */
	uint64_t pids;
	uint64_t nofile;
	uint64_t wall;		/* seconds */
	uint64_t cpu;		/* seconds of CPU time (RLIMIT_CPU) */
	uint64_t fsize;		/* bytes (RLIMIT_FSIZE) */
};

enum syscall_action { SYSCALL_KILL, SYSCALL_ERRNO, SYSCALL_ALLOW, SYSCALL_LOG };

struct env_var {
	char *name, *value;
};

struct service {
	int present;
	char *user;		/* name of a <user>; never uid 0 */
	uint32_t uid, gid;	/* resolved from user */
	enum recycle recycle;
	char *listen;		/* "ADDR:PORT" or NULL */
	uint64_t idle;		/* session idle timeout, seconds */
	uint64_t period;	/* interval period, seconds */
	uint64_t grace;		/* seconds between stop_signal and SIGKILL */
	int stop_signal;	/* how an instance is asked to stop (SIGTERM) */
	char *exec;		/* command line, split on blanks by the runtime */
	char *workdir;		/* default: the user's home */
	char *stderr_path;	/* where the service's stderr goes, or NULL */
	struct env_var *env;
	size_t n_env;
	struct limits limits;
	uint64_t max_instances, per_client, pool;
	enum network network;
	uint64_t socket_families;	/* bit 1 << AF_x: families beyond unix,
					 * inet and inet6 the recipe names */
	int has_syscalls;	/* 0: the runtime's default filter */
	enum syscall_action syscall_default;
	int syscall_errno;	/* for SYSCALL_ERRNO */
	char **syscalls_allow;	/* NULL-terminated */
	char **syscalls_deny;
	struct origin at;
};

enum output_format {
	FORMAT_TREE = 1 << 0,
	FORMAT_TAR = 1 << 1,
	FORMAT_EROFS = 1 << 2,
	FORMAT_SQUASHFS = 1 << 3,
	FORMAT_QCOW2 = 1 << 4,
	FORMAT_RAW = 1 << 5,
	/* Written beside a VM disk, never asked for: the kernel it boots and
	 * its initramfs (builder/vmimage.h). */
	FORMAT_VMLINUZ = 1 << 6,
	FORMAT_INITRD = 1 << 7,
};
#define FORMAT_JAIL (FORMAT_TREE | FORMAT_TAR | FORMAT_EROFS | FORMAT_SQUASHFS)
#define FORMAT_VM (FORMAT_QCOW2 | FORMAT_RAW)
#define FORMAT_VM_FILES (FORMAT_VMLINUZ | FORMAT_INITRD)

struct vm_spec {
	uint64_t memory;	/* bytes */
	uint64_t vcpus;
	char *kernel;		/* host path or NULL for the default */
};
/* Frees what a struct service owns (a recipe's, a manifest's, a guest's). */
void service_free(struct service *s);

/*
 * Names for messages, manifests and guest specs, and their parsers: each
 * name table exists once, here. A parser returns -1 (format_parse: 0) for
 * a name it does not know.
 */
/*
 * The log or state area of w[0..n) that holds path, strictly below its
 * directory ("/var/log/x/err.log" in "/var/log/x"), or NULL: the only
 * places a service's stderr file may be.
 */
const struct writable *writable_holding(const struct writable *w, size_t n,
					const char *path);

const char *recycle_name(enum recycle r);
int recycle_parse(const char *name, enum recycle *out);
const char *writable_kind_name(enum writable_kind k);
int writable_kind_parse(const char *name, enum writable_kind *out);
const char *network_name(enum network n);
int network_parse(const char *name, enum network *out);
const char *syscall_action_name(enum syscall_action a);
int syscall_action_parse(const char *name, enum syscall_action *out);
const char *format_name(enum output_format f);
unsigned format_parse(const char *name);

/*
 * Socket families by name ("netlink", "vsock", ...: AF_ without the prefix,
 * lower case). socket_family_parse returns the AF_ number, or -1 for a name
 * it does not know. socket_families_parse reads a list separated by blanks
 * into a set of bits (1 << AF_x), or returns -1 and points *bad at the first
 * unknown name (an allocated copy the caller frees). unix, inet and inet6
 * are known but never set: every instance has them.
 * socket_families_format writes the set as such a list (allocated; "" for
 * none).
 */
#define SOCKET_FAMILIES_ALWAYS "unix inet inet6"
int socket_family_parse(const char *name);
int socket_families_parse(const char *list, uint64_t *out, char **bad);
char *socket_families_format(uint64_t set);

#endif
