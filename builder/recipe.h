/*
 * recipe.h - loading and checking a recipe.
 *
 * A recipe is untrusted input. recipe_load() reads it with libxml2 (XInclude
 * resolved, no network, no external entities), validates it against the
 * RELAX NG schema (builder/recipe.rng) and then makes the semantic checks the
 * schema cannot express. Every error is "FILE:LINE: ELEMENT: message" with
 * exit status 3. The schema is the one source of the language: the table
 * that recipe.c checks elements and attributes against, and every default
 * it applies, are generated from it at build time (tools/rnglang).
 */
#ifndef IMGTOOL_RECIPE_H
#define IMGTOOL_RECIPE_H

#include <stdint.h>
#include <sys/types.h>
#include "spec.h"
#include "util.h"

/* Caps on what a recipe may ask for; anything larger is refused. */
#define RECIPE_MAX_BYTES	(1u << 20)	/* recipe file, each include */
#define RECIPE_MAX_ITEMS	4096
#define RECIPE_MAX_INLINE	(1u << 20)	/* inline <file> text */
#define RECIPE_MAX_INCLUDES	64		/* XInclude'd files in all */
#define RECIPE_MAX_INCLUDE_DEPTH 16		/* includes within includes */
#define RECIPE_MAX_SYSCALLS	1024		/* <allow> and <deny> together */
#define RECIPE_MAX_MEMBERS	256		/* members of one <group> */

enum item_kind {
	ITEM_PROGRAM,	/* host binary + its ELF closure, at the same path */
	ITEM_LIBRARY,	/* a library loaded with dlopen, + its closure */
	ITEM_TREE,	/* a directory tree from the recipe's directory */
	ITEM_FILE,	/* a file: inline text or copied from src */
	ITEM_SYMLINK,
	ITEM_DIR,
};

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
	mode_t mode;	/* permission bits (file, dir: the schema's default
			   when left out); ITEM_TREE: set only when
			   mode_spec is octal, else MODE_UNSET */
	char *mode_spec;/* ITEM_TREE: chmod-style "a=rX,u+w" or octal, as
			   written, or NULL; apply with recipe_mode_apply() */
	uint32_t uid, gid;	/* resolved ids (owner left out: the schema's
				   default, root), or ID_UNSET (root) for a
				   group that a numeric owner leaves unset */
	struct origin at;
};

struct group {
	char *name;
	uint32_t gid;
	char **members;	/* NULL-terminated */
	struct origin at;
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
/* Looks a user up by name; NULL if the recipe has none. */
const struct user *recipe_user(const struct recipe *r, const char *name);


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
