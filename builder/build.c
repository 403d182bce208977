/*
 * build.c - compiling a recipe into its images (see build.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "gather.h"
#include "imagefile.h"
#include "render.h"
#include "manifest.h"
#include "recipe.h"
#include "seccomp.h"
#include "vmimage.h"
#include "writer.h"

/* erofs first: a VM disk holds the erofs image. */
#define FORMAT_ORDER_N 6
static const unsigned format_order[FORMAT_ORDER_N] = {
	FORMAT_EROFS, FORMAT_SQUASHFS, FORMAT_TAR, FORMAT_TREE,
	FORMAT_QCOW2, FORMAT_RAW,
};

struct build {
	const struct build_opts *o;
	struct recipe *r;
	struct contents c;
	unsigned formats;
	char build_id[DIGEST_HEX];
	char uuid[37];
	char *work;		/* the private directory */
	struct stage stage;
	struct manifest_output outs[MANIFEST_MAX_OUTPUTS];
	size_t n_outs;
	int new_logs;		/* a log volume was stamped in work */
	int step, steps;
	/* VM outputs: what goes into the initramfs beside the disk. */
	struct vmimage_kernel kernel;
	char *init;		/* the guest init binary */
	char init_digest[DIGEST_HEX];
	struct buf spec;	/* the guest's service spec */
	struct seccomp_prog filter;
	int vm_files;		/* vmlinuz and initrd are written */
};

static void progress(struct build *b, const char *what, const char *arg)
{
	if (!b->o->progress || b->o->quiet)
		return;
	fprintf(stderr, "[%d/%d] %s%s%s\n", ++b->step, b->steps, what,
		arg ? " " : "", arg ? arg : "");
}

char *output_name(const char *name, unsigned format)
{
	return xasprintf("%s.%s", name, format_name((enum output_format)format));
}

char *logs_name(const char *name)
{
	return xasprintf("%s.logs.img", name);
}

static char *out_path(const struct build *b, const char *file)
{
	return xasprintf("%s/%s", b->o->outdir, file);
}

int build_epoch(int64_t *epoch, struct error *e)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	uint64_t v;

	*epoch = 0;
	if (!s || !*s)
		return 0;
	if (parse_uint(s, 0, INT32_MAX * 2ull, &v) < 0)
		return error_set(e, "SOURCE_DATE_EPOCH \"%s\" is not a number of seconds",
				 s);
	*epoch = (int64_t)v;
	return 0;
}

/*
 * What a VM boots besides its disk enters the build id: the kernel and its
 * modules, the init binary, and the spec and filter the build made from the
 * recipe (the filter also depends on the libseccomp that compiled it).
 */
static void add_vm_inputs(const struct build *b, struct buf *m)
{
	char spec[DIGEST_HEX], filter[DIGEST_HEX];

	sha256_hex(b->spec.data, b->spec.len, spec);
	sha256_hex(b->filter.filter, b->filter.len * sizeof(*b->filter.filter),
		   filter);
	buf_printf(m, " kernel %s init %s spec %s filter %s", b->kernel.digest,
		   b->init_digest, spec, filter);
}

/* The in-image manifest goes into the contents; its digest is the build id. */
static int add_manifest(struct build *b, struct error *e)
{
	struct buf m = { 0 };
	int rc;

	manifest_render_image(b->r, &b->c, &m);
	buf_printf(&m, "<!-- formats");
	for (int i = 0; i < FORMAT_ORDER_N; i++)
		if (b->formats & format_order[i])
			buf_printf(&m, " %s", format_name(format_order[i]));
	if (b->formats & FORMAT_VM)
		add_vm_inputs(b, &m);
	sha256_hex(m.data, m.len, b->build_id);
	m.len = (size_t)(strstr(m.data, "<!-- formats") - m.data);
	uuid_from_digest(b->build_id, b->uuid);
	rc = contents_add_file(&b->c, MANIFEST_IMAGE_PATH, m.data, m.len, 0444, e);
	contents_sort(&b->c);
	buf_free(&m);
	return rc;
}

/* An output is current when it exists with the digest the manifest records. */
static int output_current(const struct build *b, const struct manifest *m,
			  unsigned format)
{
	const struct manifest_output *o = manifest_output_find(m, format);
	char *name = output_name(b->r->name, format), *path = out_path(b, name);
	char digest[DIGEST_HEX];
	struct stat st;
	int ok = 0;

	if (o && !strcmp(o->file, name) && !o->digest[0])	/* a tree built before trees had one */
		ok = format == FORMAT_TREE && lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
	else if (o && !strcmp(o->file, name))
		ok = output_digest(path, format, digest, NULL) == 0 &&
		     !strcmp(digest, o->digest);
	free(name);
	free(path);
	return ok;
}

static int logs_present(const struct build *b)
{
	char *name = logs_name(b->r->name), *path = out_path(b, name);
	int ok = access(path, F_OK) == 0;

	free(name);
	free(path);
	return ok;
}

static int up_to_date(const struct build *b)
{
	char *path = xasprintf("%s/%s.manifest.xml", b->o->outdir, b->r->name);
	struct manifest *m = manifest_load(path, NULL);
	int ok = m && m->build_id && !strcmp(m->build_id, b->build_id);

	for (int i = 0; i < FORMAT_ORDER_N && ok; i++)
		if (b->formats & format_order[i])
			ok = output_current(b, m, format_order[i]);
	if (ok && (b->formats & FORMAT_VM))
		ok = output_current(b, m, FORMAT_VMLINUZ) &&
		     output_current(b, m, FORMAT_INITRD);
	if (ok && logs_needed(b->r))
		ok = logs_present(b);
	manifest_free(m);
	free(path);
	return ok;
}

static int make_work(struct build *b, struct error *e)
{
	char *name = xasprintf(".%s.build.%ld", b->r->name, (long)getpid());

	if (mkdir_p(b->o->outdir, 0755) < 0) {
		free(name);
		return error_errno(e, "%s", b->o->outdir);
	}
	b->work = out_path(b, name);
	free(name);
	remove_tree(b->work);
	if (mkdir(b->work, 0700) < 0)
		return error_errno(e, "%s", b->work);
	return 0;
}

static int needs_stage(unsigned formats)
{
	return formats & (FORMAT_EROFS | FORMAT_SQUASHFS | FORMAT_TREE | FORMAT_VM);
}

/* The erofs image in work, whether an output or only a VM disk's root. */
static char *work_erofs(const struct build *b)
{
	char *name = output_name(b->r->name, FORMAT_EROFS);
	char *path = xasprintf("%s/%s", b->work, name);

	free(name);
	return path;
}

static int record_output(struct build *b, unsigned format, const char *tmp,
			 struct error *e)
{
	struct manifest_output *o = &b->outs[b->n_outs++];
	struct stat st;

	o->format = format;
	o->file = output_name(b->r->name, format);
	if (format == FORMAT_TREE) {
		/* tmp is the stage: its digest is its own manifest's. */
		o->size = b->c.bytes;
		return output_digest(tmp, format, o->digest, e);
	}
	if (stat(tmp, &st) < 0)
		return error_errno(e, "%s", tmp);
	o->size = (uint64_t)st.st_size;
	return sha256_file_hex(tmp, o->digest, e);
}

/* The kernel and the initramfs, once for any number of disks. */
static int pack_vm_files(struct build *b, struct error *e)
{
	char *kname = output_name(b->r->name, FORMAT_VMLINUZ);
	char *iname = output_name(b->r->name, FORMAT_INITRD);
	char *ktmp = xasprintf("%s/%s", b->work, kname);
	char *itmp = xasprintf("%s/%s", b->work, iname);
	int rc;

	progress(b, "writing", kname);
	rc = vmimage_write_kernel(&b->kernel, ktmp, e);
	if (rc == 0)
		rc = record_output(b, FORMAT_VMLINUZ, ktmp, e);
	if (rc == 0) {
		progress(b, "writing", iname);
		rc = vmimage_write_initrd(itmp, b->init, &b->kernel, &b->spec,
				     b->filter.filter,
				     b->filter.len * sizeof(*b->filter.filter),
				     b->c.epoch, e);
	}
	if (rc == 0)
		rc = record_output(b, FORMAT_INITRD, itmp, e);
	b->vm_files = rc == 0;
	free(kname);
	free(iname);
	free(ktmp);
	free(itmp);
	return rc;
}

static int pack_disk(struct build *b, unsigned format, const char *tmp,
		     struct error *e)
{
	char *erofs = work_erofs(b);
	int rc = 0;

	if (!b->vm_files)
		rc = pack_vm_files(b, e);
	if (rc == 0) {
		progress(b, "writing", strrchr(tmp, '/') + 1);
		rc = vmimage_write_disk(tmp, format_name((enum output_format)format),
				   erofs, b->build_id, e);
	}
	free(erofs);
	return rc;
}

static int pack_one(struct build *b, unsigned format, struct error *e)
{
	char *name = output_name(b->r->name, format);
	char *tmp = xasprintf("%s/%s", b->work, name);
	int rc = 0;

	if (!(format & FORMAT_VM))
		progress(b, "writing", name);
	switch (format) {
	case FORMAT_EROFS:
		rc = pack_erofs(&b->stage, tmp, b->uuid, b->c.epoch, e);
		break;
	case FORMAT_SQUASHFS:
		rc = pack_squashfs(&b->stage, tmp, b->c.epoch, e);
		break;
	case FORMAT_TAR:
		rc = pack_tar(&b->c, tmp, e);
		break;
	case FORMAT_TREE:
		/* The stage is the tree; it is renamed into place last. */
		break;
	case FORMAT_QCOW2:
	case FORMAT_RAW:
		rc = pack_disk(b, format, tmp, e);
		break;
	}
	if (rc == 0)
		rc = record_output(b, format,
				   format == FORMAT_TREE ? b->stage.dir : tmp, e);
	free(name);
	free(tmp);
	return rc;
}

static int pack_all(struct build *b, struct error *e)
{
	if (needs_stage(b->formats)) {
		char *dir = xasprintf("%s/stage", b->work);
		int rc;

		progress(b, "staging", "contents");
		rc = stage_write(&b->c, dir, b->work, &b->stage, e);
		free(dir);
		if (rc < 0)
			return -1;
	}
	/* A VM disk without an erofs output: its root is packed all the same. */
	if ((b->formats & FORMAT_VM) && !(b->formats & FORMAT_EROFS)) {
		char *erofs = work_erofs(b);
		int rc;

		progress(b, "packing", "the root file system");
		rc = pack_erofs(&b->stage, erofs, b->uuid, b->c.epoch, e);
		free(erofs);
		if (rc < 0)
			return -1;
	}
	for (int i = 0; i < FORMAT_ORDER_N; i++)
		if ((b->formats & format_order[i]) && pack_one(b, format_order[i], e) < 0)
			return -1;
	if (logs_needed(b->r) && !logs_present(b)) {
		char *name = logs_name(b->r->name);
		char *tmp = xasprintf("%s/%s", b->work, name);
		int rc;

		progress(b, "stamping", name);
		rc = pack_logs(b->r, tmp, b->work, b->uuid, b->c.epoch, e);
		b->new_logs = rc == 0;
		free(name);
		free(tmp);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int sync_path(const char *path, struct error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc = 0;

	if (fd < 0)
		return error_errno(e, "%s", path);
	fault_point();
	if (fsync(fd) < 0)
		rc = error_errno(e, "%s: fsync", path);
	close(fd);
	return rc;
}

/*
 * rename(from, to), or, when to exists and flags ask for it, an exchange
 * of the two (what was at to lands at from); an exchange with nothing at
 * to is a rename. Each is a fault point (IMGTOOL_FAULT=rename:N).
 */
static int move(const char *from, const char *to, unsigned flags,
		struct error *e)
{
	fault_point();
	if (flags == RENAME_EXCHANGE &&
	    renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0)
		return 0;
	if (flags == RENAME_EXCHANGE && errno != ENOENT)
		return error_errno(e, "%s", to);
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to,
		      flags == RENAME_NOREPLACE ? RENAME_NOREPLACE : 0) < 0)
		return error_errno(e, "%s", to);
	return 0;
}

/* OUT/FILE.tmp.PID: where a new output waits, and where the old one lands. */
static char *pending_path(const struct build *b, const char *file)
{
	return xasprintf("%s/%s.tmp.%ld", b->o->outdir, file, (long)getpid());
}

/*
 * A finished output, synced, moves from work to its pending name beside the
 * outputs (the same directory, so that the exchange below is one rename).
 * Nothing that is served changes.
 */
static int stage_output(struct build *b, const struct manifest_output *o,
			struct error *e)
{
	int is_tree = o->format == FORMAT_TREE;
	char *from = is_tree ? xstrdup(b->stage.dir) :
			       xasprintf("%s/%s", b->work, o->file);
	char *to = pending_path(b, o->file);
	int rc = is_tree ? 0 : sync_path(from, e);

	if (rc == 0)
		rc = move(from, to, 0, e);
	free(from);
	free(to);
	return rc;
}

/*
 * The new output takes its name in one step, exchanged with the old one,
 * which is kept, complete, at the pending name until the new manifest is in
 * place: a supervisor started meanwhile finds there what the old manifest
 * describes (image_locate), and so does the next build if this one dies.
 * A tree is a directory, which rename() could not replace anyway.
 */
static int swap_output(struct build *b, const struct manifest_output *o,
		       struct error *e)
{
	char *from = pending_path(b, o->file), *to = out_path(b, o->file);
	int rc = move(from, to, RENAME_EXCHANGE, e);

	free(from);
	free(to);
	return rc;
}

/* Logs are data: a log volume already in place is never replaced. */
static int install_logs(struct build *b, struct error *e)
{
	char *name = logs_name(b->r->name);
	char *from = xasprintf("%s/%s", b->work, name), *to = out_path(b, name);
	int rc = sync_path(from, e);

	if (rc == 0)
		rc = move(from, to, RENAME_NOREPLACE, e);
	free(name);
	free(from);
	free(to);
	return rc;
}

/* The new manifest, complete and synced in work, renamed over the old one. */
static int commit_manifest(struct build *b, struct error *e)
{
	struct buf m = { 0 };
	char *logs = logs_needed(b->r) ? logs_name(b->r->name) : NULL;
	char *name = xasprintf("%s.manifest.xml", b->r->name);
	char *tmp = xasprintf("%s/%s", b->work, name), *to = out_path(b, name);
	int fd, rc = 0;

	manifest_render_outside(b->r, &b->c, b->build_id, b->outs, b->n_outs, logs,
				b->formats & FORMAT_VM ? b->kernel.version : NULL, &m);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write_all(fd, m.data, m.len) < 0)
		rc = error_errno(e, "%s", tmp);
	if (fd >= 0 && rc == 0)
		fault_point();
	if (fd >= 0 && rc == 0 && fsync(fd) < 0)
		rc = error_errno(e, "%s: fsync", tmp);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = error_errno(e, "%s", tmp);
	/* The stored outputs are on disk before the manifest that names them. */
	if (rc == 0)
		rc = sync_path(b->o->outdir, e);
	if (rc == 0)
		rc = move(tmp, to, 0, e);
	buf_free(&m);
	free(logs);
	free(name);
	free(tmp);
	free(to);
	return rc;
}

/*
 * The leftovers of a killed build are put right: an output that the manifest
 * in place describes, but that is only complete at a pending name (the build
 * died between its exchange and its manifest), gets its name back. Then
 * every NAME.FORMAT.tmp.*, NAME.logs.img.tmp.* and NAME.manifest.xml.tmp.*
 * not of a build that still runs goes, and the work directories of builds
 * that died. Errors are ignored: what stays is tried again next time.
 */
static void restore_output(const struct build *b, const struct manifest_output *o)
{
	char *cand[IMAGE_MAX_CANDIDATES], digest[DIGEST_HEX];
	size_t n;

	if (!o->digest[0] || strchr(o->file, '/'))
		return;
	n = image_candidates(b->o->outdir, o->file, o->format, cand);
	if (output_digest(cand[0], o->format, digest, NULL) < 0 ||
	    strcmp(digest, o->digest)) {
		for (size_t k = 1; k < n; k++) {
			if (output_digest(cand[k], o->format, digest, NULL) < 0 ||
			    strcmp(digest, o->digest))
				continue;
			/* What was at the name lands at cand[k], removed after. */
			if (renameat2(AT_FDCWD, cand[k], AT_FDCWD, cand[0],
				      RENAME_EXCHANGE) < 0)
				rename(cand[k], cand[0]);
			break;
		}
	}
	for (size_t k = 0; k < n; k++)
		free(cand[k]);
}

/* Whether FILE is NAME.FORMAT.tmp.*, NAME.logs.img.tmp.* or NAME.manifest.xml.tmp.*. */
static int is_pending_name(const char *name, const char *file, const char **tag)
{
	size_t n = strlen(name);
	const char *tmp = strstr(file, ".tmp.");
	char *kind;
	int ours;

	if (!tmp || strncmp(file, name, n) || file[n] != '.' || tmp <= file + n)
		return 0;
	kind = xasprintf("%.*s", (int)(tmp - file - n - 1), file + n + 1);
	ours = !strcmp(kind, "manifest.xml") || !strcmp(kind, "logs.img") ||
	       format_parse(kind) != 0;
	free(kind);
	*tag = tmp + 5;
	return ours;
}

static void tidy_outdir(const struct build *b)
{
	char *path = xasprintf("%s/%s.manifest.xml", b->o->outdir, b->r->name);
	char *work_prefix = xasprintf(".%s.build.", b->r->name);
	struct manifest *m = manifest_load(path, NULL);
	DIR *d;
	struct dirent *de;

	remove_dead_tags(b->o->outdir, work_prefix, NULL);
	for (size_t i = 0; m && i < m->n_outputs; i++)
		restore_output(b, &m->outputs[i]);
	d = opendir(b->o->outdir);
	while (d && (de = readdir(d))) {
		const char *tag;
		uint64_t pid;
		char *p;

		if (!is_pending_name(b->r->name, de->d_name, &tag))
			continue;
		/* A PID tag of a build that still runs (not this one) is its. */
		if (parse_uint(tag, 1, INT32_MAX, &pid) == 0 &&
		    (pid_t)pid != getpid() && pid_running((pid_t)pid))
			continue;
		p = out_path(b, de->d_name);
		remove_tree(p);
		free(p);
	}
	if (d)
		closedir(d);
	manifest_free(m);
	free(path);
	free(work_prefix);
}

/*
 * The install, in an order in which a build killed at any point (every
 * rename and fsync is a fault point: IMGTOOL_FAULT=rename:N) leaves every
 * output servable with the complete old spec or the complete new one:
 *
 *   1. each new output, synced, moves to OUT/NAME.FORMAT.tmp.PID;
 *   2. a new log volume takes its name (never replacing one: it is data);
 *   3. each output is exchanged with the one of its name: the old one now
 *      waits, complete, at the pending name, where imgsupd and the next
 *      build find it by the digest the old manifest records;
 *   4. the new manifest, synced, is renamed over the old one, after the
 *      directory is synced: the commit point;
 *   5. the old outputs at the pending names go (tidy_outdir).
 *
 * The names stay the plain NAME.FORMAT throughout: what users copy.
 */
static int install_all(struct build *b, struct error *e)
{
	int rc = 0;

	for (size_t i = 0; i < b->n_outs && rc == 0; i++)
		rc = stage_output(b, &b->outs[i], e);
	if (rc == 0 && b->new_logs)
		rc = install_logs(b, e);
	for (size_t i = 0; i < b->n_outs && rc == 0; i++)
		rc = swap_output(b, &b->outs[i], e);
	if (rc == 0)
		rc = commit_manifest(b, e);
	if (rc == 0)
		rc = sync_path(b->o->outdir, e);
	if (rc == 0)
		tidy_outdir(b);
	return rc;
}

static void summary(const struct build *b)
{
	if (b->o->quiet)
		return;
	fprintf(stderr, "%s: wrote", b->r->name);
	for (size_t i = 0; i < b->n_outs; i++)
		fprintf(stderr, " %s/%s (%.1f MiB)", b->o->outdir, b->outs[i].file,
			(double)b->outs[i].size / 1048576.0);
	if (b->new_logs)
		fprintf(stderr, " %s/%s.logs.img", b->o->outdir, b->r->name);
	fprintf(stderr, " %s/%s.manifest.xml\n", b->o->outdir, b->r->name);
}

static int check_formats(struct build *b, struct error *e)
{
	b->formats = b->o->formats ? b->o->formats : b->r->formats;
	if (b->formats & FORMAT_VM_FILES)
		return error_set(e, "%s: vmlinuz and initrd come with a vm output "
				 "(qcow2, raw); they are not asked for",
				 b->o->recipe);
	if (!(b->formats & (FORMAT_JAIL | FORMAT_VM)))
		return error_set(e, "%s: no output format", b->o->recipe);
	/* --format qcow2 for a recipe without <vm/>: <vm/>'s defaults. */
	if ((b->formats & FORMAT_VM) && !b->r->vm.vcpus) {
		b->r->vm.memory = 256ull << 20;
		b->r->vm.vcpus = 1;
	}
	return 0;
}

/* Prefixes e's message with the recipe: "web.xml: kernel ...". */
static int recipe_error(const struct build *b, struct error *e)
{
	char msg[ERROR_MAX];
	int status = e->status;

	memcpy(msg, e->msg, sizeof(msg));
	error_set(e, "%s: %s", b->o->recipe, msg);
	e->status = status;
	return -1;
}

/*
 * Everything a VM boots besides its disk, found and made before the build
 * id since it enters it: kernel and modules, init, spec, filter.
 */
static int prepare_vm(struct build *b, struct error *e)
{
	if (!(b->formats & FORMAT_VM))
		return 0;
	if (vmimage_kernel_find(b->r->vm.kernel, &b->kernel, e) < 0)
		return recipe_error(b, e);
	b->init = vmimage_init_path(e);
	if (!b->init || sha256_file_hex(b->init, b->init_digest, e) < 0)
		return recipe_error(b, e);
	if (guestspec_render(b->r, &b->spec, e) < 0 ||
	    seccomp_compile(&b->r->service, &b->filter, e) < 0)
		return -1;
	return 0;
}

static void build_free(struct build *b)
{
	if (b->work)
		remove_tree(b->work);
	free(b->work);
	stage_free(&b->stage);
	for (size_t i = 0; i < b->n_outs; i++)
		free(b->outs[i].file);
	vmimage_kernel_free(&b->kernel);
	free(b->init);
	buf_free(&b->spec);
	seccomp_prog_free(&b->filter);
	contents_free(&b->c);
	recipe_free(b->r);
}

static int build_steps(struct build *b)
{
	int n = 3;	/* loading, gathering, installing */

	for (int i = 0; i < FORMAT_ORDER_N; i++)
		n += !!(b->formats & format_order[i]);
	if (b->formats & FORMAT_VM)	/* vmlinuz, initrd, maybe the erofs */
		n += 2 + !(b->formats & FORMAT_EROFS);
	return n + !!needs_stage(b->formats) + logs_needed(b->r);
}

int build_run(const struct build_opts *o, struct error *e)
{
	struct build b = { .o = o, .steps = 3 };
	int64_t epoch;
	int rc = -1;

	progress(&b, "loading", o->recipe);
	if (build_epoch(&epoch, e) < 0)
		return -1;
	b.r = recipe_load(o->recipe, recipe_schema_path(), e);
	if (!b.r || check_formats(&b, e) < 0 || prepare_vm(&b, e) < 0)
		goto out;
	b.steps = build_steps(&b);
	progress(&b, "gathering", "contents");
	if (contents_gather(&b.c, b.r, epoch, e) < 0 || add_manifest(&b, e) < 0)
		goto out;
	tidy_outdir(&b);
	if (!o->force && up_to_date(&b)) {
		if (!o->quiet)
			fprintf(stderr, "%s: up to date\n", b.r->name);
		rc = 0;
		goto out;
	}
	if (make_work(&b, e) < 0 || fault_run("gathered", e) < 0 ||
	    pack_all(&b, e) < 0 || contents_check_sources(&b.c, e) < 0)
		goto out;
	progress(&b, "installing", o->outdir);
	if (install_all(&b, e) < 0)
		goto out;
	summary(&b);
	rc = 0;
out:
	build_free(&b);
	return rc;
}
