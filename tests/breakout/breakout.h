/*
 * breakout.h - the breakout battery: attacks run from inside an instance.
 *
 * One static binary holds every attack (tests/100-breakout.bats runs it in
 * an image with the default protections and again in one whose recipe
 * filter allows everything). Each attack family is a file with a table of
 * attacks; breakout.c joins the tables and runs one by name.
 *
 * The contract of an attack: it returns ESCAPED (0) only when what it tried
 * worked, BLOCKED (1) when something stopped it, HARNESS (2) when the test
 * itself could not be carried out (a missing argument, a fork that failed
 * before the attack began). It prints exactly one line on stdout, through
 * blocked() or escaped(): "NAME: blocked (how: errno text)" or
 * "NAME: ESCAPED (what)". An attack that is in doubt says ESCAPED: a false
 * alarm costs a look, a false "blocked" hides a hole.
 */
#ifndef BREAKOUT_H
#define BREAKOUT_H

#include <errno.h>

enum { ESCAPED = 0, BLOCKED = 1, HARNESS = 2 };

struct attack {
	const char *name;
	/* arg: the attack's argument (a port, a pid, a path), or NULL */
	int (*run)(const char *name, const char *arg);
	/* what we know of the layer that stops it, and the one behind it
	 * (breakout list --table) */
	const char *layer;
	const char *behind;
	const char *what;	/* one line: what the attack tries */
};

/* Each family's table, ended by an entry with a NULL name. */
extern const struct attack mounts_attacks[], ns_attacks[], proc_attacks[],
	kernel_attacks[], net_attacks[], ipc_attacks[], res_attacks[],
	id_attacks[];

/* "NAME: blocked (how: strerror(err))"; returns BLOCKED. err 0: no errno
 * text, "how" says it all. */
int blocked(const char *name, const char *how, int err);
/* "NAME: ESCAPED (what, formatted)"; returns ESCAPED. */
int escaped(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "NAME: harness error (what)" on stdout; returns HARNESS. */
int harness(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The usual shape of an attack: a call that must fail. rc < 0 (errno set)
 * is blocked with "how"; anything else escaped with "what".
 */
int expect_fail(const char *name, long rc, const char *how, const char *what);

/*
 * Runs fn(arg) in a forked child and returns what the child's exit status
 * says: the child's exit code (0, 1, 2), or BLOCKED when a signal ended it
 * (a seccomp kill, an OOM kill, SIGXCPU), described in *sig (0 if none).
 */
int in_child(int (*fn)(void *), void *arg, int *sig);

/* The path of the running program (/breakout in the image). */
extern const char *self_path;

#endif
