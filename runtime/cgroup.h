/*
 * cgroup.h - memory and process-count limits of an instance.
 *
 * cgroup v2 where the host has it (a unified hierarchy with the memory and
 * pids controllers available), else the v1 memory and pids controllers, as
 * on hybrid hosts. Every instance gets its own group below the supervisor's
 * ("imgsupd/NAME.PID/ID"), made before the instance runs and removed after
 * its last process is gone.
 */
#ifndef IMGTOOL_CGROUP_H
#define IMGTOOL_CGROUP_H

#include <stdint.h>
#include <sys/types.h>
#include "util.h"

enum cgroup_version { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

/* Controllers an instance's limits can use (cgroup_root.controllers). */
#define CGROUP_MEMORY 0x1
#define CGROUP_PIDS 0x2

struct cgroup_root {
	enum cgroup_version version;
	char *v2;		/* v2: the supervisor's group directory */
	char *v1_memory;	/* v1: its group in the memory hierarchy */
	char *v1_pids;		/* v1: its group in the pids hierarchy */
	unsigned controllers;	/* CGROUP_MEMORY | CGROUP_PIDS usable below */
	int in_leaf;		/* v2: the supervisor moved itself into
				 * "imgsupd/TAG/supervisor" (see cgroup.c) */
	unsigned stale_removed;	/* groups of dead supervisors removed ... */
	unsigned stale_left;	/* ... and those that could not be (for a log) */
};

/*
 * Detects the host's cgroup layout and makes the supervisor's group,
 * "imgsupd/TAG" below its own group (/proc/self/cgroup) in each hierarchy,
 * after removing groups left by supervisors that died (tags "NAME.PID" whose
 * PID no longer runs): their processes are killed first. TAG is one name of
 * [A-Za-z0-9._-]. On v2 the supervisor may move itself into
 * "imgsupd/TAG/supervisor" to be able to delegate (see cgroup.c). base
 * overrides /sys/fs/cgroup (tests). Without memory and pids controllers
 * anywhere: -1, version CGROUP_NONE, "no cgroup memory and pids controllers".
 */
int cgroup_setup(struct cgroup_root *root, const char *base, const char *tag,
		 struct error *e);
/*
 * The same, enabling the given v2 controllers (space-separated) instead of
 * "memory pids": for tests, and for a later cpu or io limit. Controllers the
 * supervisor's group does not offer are left out of root->controllers, and
 * cgroup_create then refuses a limit that needs them. Fails with status 1 and
 * version CGROUP_NONE when the host has no usable hierarchy at all.
 */
int cgroup_setup_controllers(struct cgroup_root *root, const char *base,
			     const char *tag, const char *controllers,
			     struct error *e);
/*
 * Removes the supervisor's groups (they must be empty). With in_leaf set the
 * supervisor's own leaf cannot go while it lives: what remains is removed as
 * stale by the next cgroup_setup (or by systemd with the unit's subtree).
 */
void cgroup_teardown(struct cgroup_root *root);

struct cgroup {
	char *v2, *v1_memory, *v1_pids;	/* this instance's directories */
};

/*
 * Makes an instance's group with its limits (0 = no limit). id is one path
 * component of [A-Za-z0-9._-], at most 128 bytes, not "supervisor" (the
 * name of the supervisor's own leaf). v2 also sets memory.swap.max to 0 and
 * memory.oom.group to 1: an out-of-memory kill takes the whole instance.
 */
int cgroup_create(const struct cgroup_root *root, const char *id,
		  uint64_t memory, uint64_t pids, struct cgroup *cg,
		  struct error *e);
/*
 * Moves pid into the group. Allocates nothing, so a freshly cloned child
 * may call it on itself (pid 0 means the caller).
 */
int cgroup_attach(const struct cgroup *cg, pid_t pid, struct error *e);
/* Kills every process in the group (v2: cgroup.kill; v1: SIGKILL each). */
void cgroup_kill(const struct cgroup *cg);
/*
 * Removes the group, retrying for about 100 ms while the kernel finishes
 * killed processes; returns -1 if processes are still in it. On failure the
 * remaining directories stay in cg, so kill and destroy can be tried again.
 */
int cgroup_destroy(struct cgroup *cg);
/*
 * True if the kernel OOM-killed a process of the group: v2 memory.events
 * oom_kill; v1 memory.oom_control oom_kill, or memory.failcnt on kernels
 * older than 4.13 that lack that line (failcnt counts every time the limit
 * was reached, reclaim included, so it is only the fallback).
 */
int cgroup_oom(const struct cgroup *cg);

#endif
