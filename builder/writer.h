/*
 * writer.h - writing an image's contents in each output format.
 *
 * The file-system formats (erofs, squashfs, the ext4 log volume) are made by
 * their reference tools (mkfs.erofs, mksquashfs, mkfs.ext4) from a staged
 * directory; tar is written directly with libarchive.
 *
 * Building needs no root. Owners and modes that an unprivileged user cannot
 * give to real files are written into a fakeroot state file, and the packers
 * run under fakeroot with it: they see the owners the recipe declares.
 * Run as root, the stage gets the real owners and no fakeroot is involved.
 */
#ifndef IMGTOOL_WRITER_H
#define IMGTOOL_WRITER_H

#include "gather.h"
#include "recipe.h"
#include "util.h"

struct stage {
	char *dir;		/* the staged tree */
	char *fakeroot_state;	/* NULL when running as root */
};

/*
 * Writes c as real files under dir (created; must not exist), then gives
 * every entry its owner, mode and the epoch as timestamp. work is a private
 * scratch directory for the fakeroot state and the metadata list.
 */
int stage_write(const struct contents *c, const char *dir, const char *work,
		struct stage *st, struct error *e);
void stage_free(struct stage *st);

/* The UUID an image gets: derived from its build id, so rebuilds match. */
void uuid_from_digest(const char *digest, char out[37]);

int pack_erofs(const struct stage *st, const char *out, const char *uuid,
	       int64_t epoch, struct error *e);
int pack_squashfs(const struct stage *st, const char *out, int64_t epoch,
		  struct error *e);
int pack_tar(const struct contents *c, const char *out, struct error *e);

/*
 * Stamps the log volume: an ext4 file system of the summed sizes of the log
 * and state areas, holding one directory per area at its path, owned by the
 * area's owner (the service user unless the recipe says otherwise).
 * Returns 0 without writing when the recipe has no log or state area.
 */
int pack_logs(const struct recipe *r, const char *out, const char *work,
	      const char *uuid, int64_t epoch, struct error *e);
/* True if the recipe has areas that live on the log volume. */
int logs_needed(const struct recipe *r);

#endif
