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

struct cgroup_root {
	enum cgroup_version version;
	char *v2;		/* v2: the supervisor's group directory */
	char *v1_memory;	/* v1: its group in the memory hierarchy */
	char *v1_pids;		/* v1: its group in the pids hierarchy */
};

/*
 * Detects the host's cgroup layout and makes the supervisor's group,
 * "imgsupd/TAG" under each hierarchy root, after removing groups left by
 * supervisors that died (tags "NAME.PID" whose PID no longer runs): their
 * processes are killed first. base overrides /sys/fs/cgroup (tests).
 */
int cgroup_setup(struct cgroup_root *root, const char *base, const char *tag,
		 struct error *e);
/* Removes the supervisor's groups (they must be empty). */
void cgroup_teardown(struct cgroup_root *root);

struct cgroup {
	char *v2, *v1_memory, *v1_pids;	/* this instance's directories */
};

/* Makes an instance's group with its limits (0 = no limit). */
int cgroup_create(const struct cgroup_root *root, const char *id,
		  uint64_t memory, uint64_t pids, struct cgroup *cg,
		  struct error *e);
/* Moves pid into the group. */
int cgroup_attach(const struct cgroup *cg, pid_t pid, struct error *e);
/* Kills every process in the group (v2: cgroup.kill; v1: SIGKILL each). */
void cgroup_kill(const struct cgroup *cg);
/* Removes the group; returns -1 if processes are still in it. */
int cgroup_destroy(struct cgroup *cg);
/* True if the group hit its memory limit (memory.events oom_kill, v1 failcnt). */
int cgroup_oom(const struct cgroup *cg);

#endif
