/*
 * image.c - inspect and verify (see image.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>

#include "build.h"
#include "gather.h"
#include "image.h"
#include "manifest.h"
#include "recipe.h"
#include "guestspec.h"
#include "vmimage.h"
#include "userns.h"


struct manifest *image_manifest_beside(const char *image, struct error *e)
{
	char *path = image_manifest_path(image);
	struct manifest *m = manifest_load(path, e);

	free(path);
	return m;
}

/* ---- inspect ---------------------------------------------------------- */

static void human(uint64_t n, char *out, size_t len)
{
	if (n >= 1u << 20)
		snprintf(out, len, "%.1f MiB", (double)n / 1048576.0);
	else if (n >= 1024)
		snprintf(out, len, "%.1f KiB", (double)n / 1024.0);
	else
		snprintf(out, len, "%" PRIu64 " B", n);
}

/* Per top-level directory: how many entries and bytes. */
static void print_top(const struct manifest *m, FILE *out)
{
	for (size_t i = 0; i < m->files.n; i++) {
		const struct entry *top = &m->files.v[i];
		size_t len, count = 0;
		uint64_t bytes = 0;
		char h[32];

		if (!strcmp(top->path, "/") || strchr(top->path + 1, '/'))
			continue;
		len = strlen(top->path);
		for (size_t j = i; j < m->files.n; j++) {
			const struct entry *en = &m->files.v[j];

			if (strncmp(en->path, top->path, len) ||
			    (en->path[len] && en->path[len] != '/'))
				continue;
			count++;
			bytes += S_ISREG(en->mode) ? en->len : 0;
		}
		human(bytes, h, sizeof(h));
		fprintf(out, "  %-24s %5zu entries %12s%s%s\n", top->path, count, h,
			S_ISLNK(top->mode) ? " -> " : "",
			S_ISLNK(top->mode) ? top->target : "");
	}
}

static void print_service(const struct service *s, FILE *out)
{
	const struct limits *l = &s->limits;
	char mem[32];

	if (!s->present) {
		fprintf(out, "service    none\n");
		return;
	}
	fprintf(out, "service    user %s (%u:%u), recycle %s, network %s\n",
		s->user, s->uid, s->gid, recycle_name(s->recycle),
		network_name(s->network));
	if (s->listen)
		fprintf(out, "  listen   %s\n", s->listen);
	fprintf(out, "  exec     %s\n", s->exec);
	human(l->memory, mem, sizeof(mem));
	fprintf(out, "  limits   memory %s, pids %" PRIu64 ", nofile %" PRIu64
		", wall %" PRIu64 "s\n", l->memory ? mem : "-", l->pids,
		l->nofile, l->wall);
	fprintf(out, "  syscalls %s\n", s->has_syscalls ?
		syscall_action_name(s->syscall_default) : "default filter");
}

/*
 * The host ids a jail's instances run as (runtime/userns.h): the range
 * imgsupd takes without --id-range, and where the service user lands in
 * it. A VM's service runs in its guest, under the recipe's own ids.
 */
static void print_host_ids(const struct manifest *m, FILE *out)
{
	const struct service *s = &m->service;
	struct id_range r;
	struct error e = { 0 };
	unsigned formats = 0;
	uint64_t last;

	for (size_t i = 0; i < m->n_outputs; i++)
		formats |= (unsigned)m->outputs[i].format;
	if (!s->present || !(formats & (FORMAT_TREE | FORMAT_EROFS | FORMAT_SQUASHFS)))
		return;
	if (id_range_default(&r, &e) < 0) {
		fprintf(out, "host ids   unusable: %s\n", e.msg);
		return;
	}
	last = (uint64_t)r.uid + (uint64_t)r.slices * USERNS_SLICE - 1;
	fprintf(out, "host ids   %u-%" PRIu64 " (%s; imgsupd --id-range "
		"overrides), %u slices of 65536: one per live instance\n",
		r.uid, last, r.source, r.slices);
	fprintf(out, "  user     %s: uid %u is host uid %u + 65536*N + %u, gid %u is "
		"host gid %u + 65536*N + %u (N: the instance's slice)\n",
		s->user, s->uid, r.uid, s->uid, s->gid, r.gid, s->gid);
}

/* A VM's record, and what libguestfs says of the disk (no appliance). */
static void print_vm(const struct manifest *m, const char *path, FILE *out)
{
	char h[32], format[32];
	uint64_t size;

	if (!m->has_vm)
		return;
	human(m->vm.memory, h, sizeof(h));
	fprintf(out, "vm         memory %s, vcpus %" PRIu64 ", kernel %s\n", h,
		m->vm.vcpus, m->kernel_version);
	fprintf(out, "  boot     direct kernel boot, command line \"%s\"\n",
		GUEST_CMDLINE);
	if (!(image_format(path) & FORMAT_VM))
		return;
	if (vmimage_disk_info(path, format, sizeof(format), &size, NULL) < 0) {
		fprintf(out, "  disk     unreadable\n");
		return;
	}
	human(size, h, sizeof(h));
	fprintf(out, "  disk     %s, virtual size %s, GPT partition 1 \"%s\": erofs\n",
		format, h, VM_ROOT_PARTITION);
}

int image_inspect(const char *path, FILE *out, struct error *e)
{
	struct manifest *m;
	char h[32];

	/* the manifest alone can be inspected; an image must be there */
	if (!has_suffix(path, ".manifest.xml") && !image_format_checked(path, e))
		return -1;
	m = image_manifest_beside(path, e);
	if (!m)
		return -1;
	fprintf(out, "name       %s", m->name);
	if (m->version)
		fprintf(out, " version %s", m->version);
	fprintf(out, "\nbuilt      %s (epoch %" PRId64 ")\n",
		m->built ? m->built : "-", m->epoch);
	fprintf(out, "build id   %s\n", m->build_id ? m->build_id : "-");
	for (size_t i = 0; i < m->n_outputs; i++) {
		const struct manifest_output *o = &m->outputs[i];

		human(o->size, h, sizeof(h));
		fprintf(out, "output     %-9s %s (%s)\n", format_name(o->format),
			o->file, h);
	}
	if (m->logs_file)
		fprintf(out, "output     %-9s %s\n", "logs", m->logs_file);
	human(m->files.bytes, h, sizeof(h));
	fprintf(out, "contents   %zu entries, %s in files\n", m->files.n, h);
	print_top(m, out);
	for (size_t i = 0; i < m->n_writables; i++) {
		const struct writable *w = &m->writables[i];

		human(w->size, h, sizeof(h));
		fprintf(out, "writable   %-20s %-7s %10s  owner %u:%u\n", w->path,
			writable_kind_name(w->kind), h, w->uid, w->gid);
	}
	print_service(&m->service, out);
	print_host_ids(m, out);
	print_vm(m, path, out);
	manifest_free(m);
	return 0;
}

/* ---- verify ----------------------------------------------------------- */

struct check {
	FILE *out;
	int differences;
	int owners;	/* owners of what we read can be trusted */
	struct buf own;	/* the image's own manifest, as read from it */
	int has_own;
};

static void report(struct check *k, const char *what, const char *path,
		   const char *detail)
{
	fprintf(k->out, "%s %s%s%s\n", what, path, detail ? ": " : "",
		detail ? detail : "");
	k->differences++;
}

static const char *entry_difference(const struct entry *want,
				    const struct entry *got, int owners)
{
	if ((want->mode & S_IFMT) != (got->mode & S_IFMT))
		return "type";
	if (!S_ISLNK(want->mode) && (want->mode & 07777) != (got->mode & 07777))
		return "mode";
	if (owners && (want->uid != got->uid || want->gid != got->gid))
		return "owner";
	if (S_ISLNK(want->mode) && strcmp(want->target, got->target))
		return "target";
	if (S_ISREG(want->mode) &&
	    (want->len != got->len || strcmp(want->digest, got->digest)))
		return "content";
	return NULL;
}

static int skipped(const char *path)
{
	return !strcmp(path, MANIFEST_IMAGE_PATH) || !strcmp(path, MANIFEST_IMAGE_DIR);
}

/* Walks both sorted lists together, naming every difference. */
static void compare(struct check *k, const struct contents *want,
		    const struct contents *got)
{
	size_t i = 0, j = 0;

	while (i < want->n || j < got->n) {
		int r = i >= want->n ? 1 : j >= got->n ? -1 :
			strcmp(want->v[i].path, got->v[j].path);
		const char *d;

		if (r > 0 && skipped(got->v[j].path)) {
			j++;
		} else if (r < 0) {
			report(k, "removed", want->v[i++].path, NULL);
		} else if (r > 0) {
			report(k, "added", got->v[j++].path, NULL);
		} else {
			d = entry_difference(&want->v[i], &got->v[j], k->owners);
			if (d)
				report(k, "changed", want->v[i].path, d);
			i++;
			j++;
		}
	}
}

static int tar_entry_read(struct archive *a, struct archive_entry *ae,
			  struct contents *c, struct check *k, struct error *e)
{
	const char *name = archive_entry_pathname(ae);
	struct entry en = { 0 };
	struct buf data = { 0 };
	char chunk[65536];
	la_ssize_t n;
	int rc;

	while (name[0] == '.' && name[1] == '/')
		name++;
	en.path = name[0] == '/' ? xstrdup(name) : xasprintf("/%s", name);
	/* tar writes directories as "www/"; the manifest as "/www". */
	for (size_t len = strlen(en.path); len > 1 && en.path[len - 1] == '/'; len--)
		en.path[len - 1] = '\0';
	if (!strcmp(en.path, "/."))
		strcpy(en.path, "/");
	en.mode = archive_entry_mode(ae);
	en.uid = (uint32_t)archive_entry_uid(ae);
	en.gid = (uint32_t)archive_entry_gid(ae);
	if (S_ISLNK(en.mode))
		en.target = xstrdup(archive_entry_symlink(ae) ? archive_entry_symlink(ae) : "");
	while (S_ISREG(en.mode) && (n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
		buf_add(&data, chunk, (size_t)n);
	en.len = data.len;
	sha256_hex(data.data ? data.data : "", data.len, en.digest);
	if (S_ISREG(en.mode) && !strcmp(en.path, MANIFEST_IMAGE_PATH) && !k->has_own) {
		buf_add(&k->own, data.data ? data.data : "", data.len);
		k->has_own = 1;
	}
	rc = contents_add(c, &en, e);
	buf_free(&data);
	free(en.path);
	free(en.target);
	return rc;
}

static int read_tar(const char *path, struct contents *c, struct check *k,
		    struct error *e)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	int r, rc = 0;

	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = error_bad(e, "%s: %s", path, archive_error_string(a));
		goto out;
	}
	while (rc == 0 && (r = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
		rc = tar_entry_read(a, ae, c, k, e);
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = error_bad(e, "%s: %s", path, archive_error_string(a));
	contents_sort(c);
out:
	archive_read_free(a);
	return rc;
}

static int extract(unsigned format, const char *image, const char *dir,
		   struct error *e)
{
	char *opt = xasprintf("--extract=%s", dir);
	char *erofs[] = { "fsck.erofs", opt, (char *)image, NULL };
	char *squashfs[] = { "unsquashfs", "-no-progress", "-no-xattrs", "-d",
			     (char *)dir, (char *)image, NULL };
	int rc = run_command(format == FORMAT_EROFS ? erofs : squashfs, 1, e);

	free(opt);
	if (rc < 0)
		return error_bad(e, "%s: cannot be read as %s", image,
				 format_name((enum output_format)format));
	return 0;
}

/*
 * The image's own manifest from the tree root (an extracted image or a
 * tree output), read without following links: the image is untrusted.
 */
static void read_own(struct check *k, const char *root)
{
	char *data;
	size_t len;

	if (read_file_beneath(root, MANIFEST_IMAGE_PATH + 1, MANIFEST_MAX_BYTES,
			      &data, &len, NULL) < 0)
		return;
	buf_add(&k->own, data, len);
	k->has_own = 1;
	free(data);
}

/*
 * The service, users and areas of the manifest beside the image against
 * the image's own: the supervisor serves the image's, and refuses an
 * image whose outside manifest says otherwise.
 */
static void check_own(struct check *k, const char *image,
		      const struct manifest *m)
{
	char *path = image_manifest_path(image);
	char *name = xasprintf("%s:" MANIFEST_IMAGE_PATH, image);
	struct manifest *in;
	struct error pe = { 0 };
	char *diff;

	if (!k->has_own) {
		report(k, "removed", MANIFEST_IMAGE_PATH,
		       "the image has no manifest of its own");
	} else if (!(in = manifest_parse(k->own.data ? k->own.data : "",
					 k->own.len, name, &pe))) {
		report(k, "changed", MANIFEST_IMAGE_PATH, pe.msg);
	} else {
		diff = manifest_spec_diff(m, in);
		if (diff)
			report(k, "changed", path, diff);
		free(diff);
		manifest_free(in);
	}
	free(name);
	free(path);
}

/* Reads what the image holds into c, whatever its format. */
static int read_image(unsigned format, const char *image, struct contents *c,
		      struct check *k, struct error *e)
{
	char tmpl[] = "/tmp/imgtool-verify.XXXXXX";
	char *dir;
	int rc;

	if (format == FORMAT_TAR) {
		k->owners = 1;
		return read_tar(image, c, k, e);
	}
	k->owners = geteuid() == 0;
	if (format == FORMAT_TREE) {
		read_own(k, image);
		return contents_scan(c, image, e);
	}
	if (!mkdtemp(tmpl))
		return error_errno(e, "mkdtemp");
	dir = xasprintf("%s/root", tmpl);
	if (format & FORMAT_VM) {
		/* The disk's partition 1 is an erofs image: read it as one. */
		char *part = xasprintf("%s/root.erofs", tmpl);

		rc = vmimage_read_root(image, format_name((enum output_format)format),
				  part, e);
		if (rc == 0)
			rc = extract(FORMAT_EROFS, part, dir, e);
		free(part);
	} else {
		rc = extract(format, image, dir, e);
	}
	if (rc == 0)
		rc = contents_scan(c, dir, e);
	if (rc == 0)
		read_own(k, dir);
	remove_tree(tmpl);
	free(dir);
	return rc;
}

/* A VM's kernel and initramfs beside the disk, against their digests. */
static void check_vm_files(struct check *k, const char *image,
			   const struct manifest *m)
{
	static const unsigned files[] = { FORMAT_VMLINUZ, FORMAT_INITRD };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const struct manifest_output *o = manifest_output_find(m, files[i]);
		char *copy = xstrdup(image), digest[DIGEST_HEX], *path;

		if (!o) {
			report(k, "removed", format_name((enum output_format)files[i]),
			       "the manifest records no such output");
			free(copy);
			continue;
		}
		path = xasprintf("%s/%s", dirname(copy), o->file);
		if (sha256_file_hex(path, digest, NULL) < 0)
			report(k, "removed", path, NULL);
		else if (strcmp(digest, o->digest))
			report(k, "changed", path, "digest differs from the manifest");
		free(path);
		free(copy);
	}
}

int image_verify(const char *path, FILE *out, int *differences,
		 struct error *e)
{
	struct check k = { .out = out };
	struct contents got = { 0 };
	unsigned format;
	struct manifest *m;
	char *file;
	int rc = -1, leftover = 0;

	*differences = 0;
	format = image_format_checked(path, e);
	if (!format)
		return -1;
	m = image_manifest_beside(path, e);
	if (!m)
		return -1;
	if (image_digest_matches(path, m, NULL) == 0)
		report(&k, "changed", path, "image digest differs from the manifest");
	/* What imgsupd would serve instead (a killed build's leftover). */
	file = image_locate(path, m, &leftover, NULL);
	if (leftover)
		fprintf(out, "note: a build was killed before its manifest was in "
			"place: %s is not what its manifest describes, the previous "
			"image is, complete, at %s (what imgsupd serves); build "
			"again\n", path, file);
	if (format & FORMAT_VM)
		check_vm_files(&k, path, m);
	if (read_image(format, path, &got, &k, e) == 0) {
		compare(&k, &m->files, &got);
		check_own(&k, path, m);
		if (!k.owners)
			fprintf(out, "note: owners not compared (extracting as non-root)\n");
		fprintf(out, "%s: %s, %zu entries checked\n", path,
			k.differences ? "DIFFERS" : "ok", m->files.n);
		*differences = k.differences;
		rc = 0;
	}
	contents_free(&got);
	buf_free(&k.own);
	free(file);
	manifest_free(m);
	return rc;
}
