/*
 * render.h - writing what the runtime reads: manifests and guest specs.
 *
 * The readers are in runtime/ (manifest.h, guestspec.h), which the
 * supervisor and the guest init use without the builder; the writers,
 * which need the recipe, are here.
 */
#ifndef IMGTOOL_RENDER_H
#define IMGTOOL_RENDER_H

#include "contents.h"
#include "manifest.h"
#include "recipe.h"
#include "util.h"

/*
 * Renders the in-image manifest of r and c. The result is deterministic:
 * the same recipe and inputs give the same bytes.
 */
void manifest_render_image(const struct recipe *r, const struct contents *c,
			   struct buf *out);

/*
 * Renders the manifest that goes beside the images: the in-image one plus
 * the build id, the outputs and the build time; with a kernel_version (a
 * VM build), the <vm> record of r->vm.
 */
void manifest_render_outside(const struct recipe *r, const struct contents *c,
			     const char *build_id,
			     const struct manifest_output *outs, size_t n_outs,
			     const char *logs_file, const char *kernel_version,
			     struct buf *out);

/*
 * Appends the guest spec of r's service to out (the format is in
 * runtime/guestspec.h). Fails (status 3) when the recipe has no service or
 * asks for what a VM cannot do (interval recycling).
 */
int guestspec_render(const struct recipe *r, struct buf *out, struct error *e);

#endif
