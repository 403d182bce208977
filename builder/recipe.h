/*
 * recipe.h - loading and checking a recipe.
 *
 * A recipe is untrusted input. recipe_load() reads it with libxml2 (XInclude
 * resolved, no network, no external entities), validates it against the
 * RELAX NG schema (builder/recipe.rng) and then makes the semantic checks the
 * schema cannot express. Every error is "FILE:LINE: ELEMENT: message" with
 * exit status 3.
 */
#ifndef IMGTOOL_RECIPE_H
#define IMGTOOL_RECIPE_H

#include <stdint.h>
#include <sys/types.h>
#include "util.h"

/* Caps on what a recipe may ask for; anything larger is refused. */
#define RECIPE_MAX_BYTES	(1u << 20)	/* recipe file, each include */
#define RECIPE_MAX_ITEMS	4096
#define RECIPE_MAX_USERS	256
#define RECIPE_MAX_WRITABLES	64
#define RECIPE_MAX_ID		65534u		/* uids and gids */
#define RECIPE_MAX_AREA		(64ull << 30)	/* one writable area */
#define RECIPE_MAX_INLINE	(1u << 20)	/* inline <file> text */
#define RECIPE_MAX_INCLUDES	64		/* XInclude'd files in all */
#define RECIPE_MAX_INCLUDE_DEPTH 16		/* includes within includes */
#define RECIPE_MAX_ENV		256
#define RECIPE_MAX_SYSCALLS	1024		/* <allow> and <deny> together */
#define RECIPE_MAX_MEMBERS	256		/* members of one <group> */

/* Where an element came from, for error messages. */
struct origin {
	const char *file;	/* points into recipe->inputs */
	int line;
};

enum item_kind {
	ITEM_PROGRAM,	/* host binary + its ELF closure, at the same path */
	ITEM_LIBRARY,	/* a library loaded with dlopen, + its closure */
	ITEM_TREE,	/* a directory tree from the recipe's directory */
	ITEM_FILE,	/* a file: inline text or copied from src */
	ITEM_SYMLINK,
	ITEM_DIR,
};

#define ID_UNSET ((uint32_t)-1)
#define MODE_UNSET ((mode_t)-1)

struct item {
	enum item_kind kind;
	char *path;	/* absolute path in the image (dest); clean */
	char *src;	/* host path, resolved: program/library/tree/file src
			   (program, library: the same as path; tree, file: a
			   relative src joined to the directory of the file
			   the element is written in) */
	char *text;	/* ITEM_FILE inline content, or NULL */
	size_t text_len;
	char *target;	/* ITEM_SYMLINK target, as written */
	mode_t mode;	/* permission bits, or MODE_UNSET for the default;
			   ITEM_TREE: set only when mode_spec is octal */
	char *mode_spec;/* ITEM_TREE: chmod-style "a=rX,u+w" or octal, as
			   written, or NULL; apply with recipe_mode_apply() */
	uint32_t uid, gid;	/* resolved ids, or ID_UNSET (root) */
	struct origin at;
};

struct user {
	char *name;
	uint32_t uid, gid;
	char *home;	/* default "/" */
	char *shell;	/* default "/bin/false" */
	struct origin at;
};

struct group {
	char *name;
	uint32_t gid;
	char **members;	/* NULL-terminated */
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
	 * its initramfs (builder/vm.h). */
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

struct recipe {
	char *name;		/* [a-z0-9][a-z0-9_.-]*, names the outputs */
	char *version;
	char *path;		/* the recipe file as given */
	char *dir;		/* its directory: tree/file src are relative to it
				   (in an included file, to that file's
				   directory; item->src is already joined) */
	struct strv inputs;	/* the recipe (first) and every included file,
				   as paths usable from the current directory */
	struct item *items;
	size_t n_items;
	struct user *users;
	size_t n_users;
	struct group *groups;
	size_t n_groups;
	struct writable *writables;
	size_t n_writables;
	struct service service;
	unsigned formats;	/* enum output_format bits */
	struct vm_spec vm;
	char *canonical;	/* the recipe after XInclude, serialized: for digests */
	size_t canonical_len;
};

/* Loads, validates and checks path. On failure e->status is 3 (bad recipe). */
struct recipe *recipe_load(const char *path, const char *schema_path,
			   struct error *e);
void recipe_free(struct recipe *r);
/* Frees what a struct service owns (the recipe's, or a manifest's). */
void recipe_service_free(struct service *s);

/* Looks a user up by name; NULL if the recipe has none. */
const struct user *recipe_user(const struct recipe *r, const char *name);

/* Names for messages and manifests. */
const char *recycle_name(enum recycle r);
const char *writable_kind_name(enum writable_kind k);
const char *format_name(enum output_format f);
const char *network_name(enum network n);
const char *syscall_action_name(enum syscall_action a);
/* Parses a format name; 0 if unknown. */
unsigned format_parse(const char *name);

/*
 * Applies a tree's mode spec to one entry: octal ("0644", sets every
 * permission bit) or chmod-style symbolic ("a=rX,u+w": who [ugoa]*, op
 * [-+=], perms [rwxXt] or a copy [ugo]; no who means a, no umask). old is
 * the entry's current permission bits, is_dir whether it is a directory (for
 * X). Setuid and setgid bits are never produced. Returns -1 if spec is not a
 * valid mode.
 */
int recipe_mode_apply(const char *spec, mode_t old, int is_dir, mode_t *out);

/* Where the installed schema is: IMGTOOL_SCHEMA, else next to the binary's
 * source tree (developer builds), else the install prefix. */
const char *recipe_schema_path(void);

#endif
