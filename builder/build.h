/*
 * build.h - compiling a recipe into its images.
 *
 * A build gathers the contents, renders the in-image manifest and derives
 * the build id from it: the digest of every file, owner, mode, the service
 * spec and the recipe. When the manifest beside the outputs carries the same
 * id and every output still has its recorded digest, the build is a cache
 * hit and writes nothing.
 *
 * Otherwise everything is written into a private directory beside the
 * outputs (".NAME.build.PID") and renamed into place when complete, the
 * manifest last: a killed build leaves no half-written file under a final
 * name, and a failed rebuild leaves the previous images in place. Stale
 * private directories of builds that died are removed by the next build.
 *
 * A VM output (qcow2 or raw) brings two more outputs, NAME.vmlinuz and
 * NAME.initrd (builder/vmimage.h); its disk holds the erofs image, which is
 * packed in the private directory when it is not an output itself. The
 * build id then also covers the kernel and its modules, the guest init,
 * the rendered guest spec and the compiled seccomp filter.
 */
#ifndef IMGTOOL_BUILD_H
#define IMGTOOL_BUILD_H

#include "util.h"

struct build_opts {
	const char *recipe;
	const char *outdir;	/* default "out" */
	unsigned formats;	/* 0: what the recipe's <outputs> ask for */
	int quiet;		/* no progress, no summary */
	int progress;		/* show stages (stderr is a terminal) */
	int force;		/* rebuild even when up to date */
};

int build_run(const struct build_opts *o, struct error *e);

/* The file name an output format gets: "web.erofs", "web.tree", ... */
char *output_name(const char *name, unsigned format);
/* The log volume's name: "web.logs.img". */
char *logs_name(const char *name);

/* SOURCE_DATE_EPOCH, or 0 when unset; -1 with e set when malformed. */
int build_epoch(int64_t *epoch, struct error *e);

#endif
