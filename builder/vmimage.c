/*
 * vmimage.c - kernel, initramfs and disk of a VM appliance (see vmimage.h).
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
#include <sys/sysmacros.h>
#include <unistd.h>
#include <archive.h>
#include <archive_entry.h>
#include <guestfs.h>

#include "vmimage.h"
#include "writer.h"

#define MODULES_DEP_MAX (16u << 20)
#define MODULE_MAX_BYTES (64u << 20)
#define INIT_MAX_BYTES (64u << 20)
#define KERNEL_MAX_BYTES (256u << 20)
#define MIB (1ull << 20)
#define SECTOR 512

/*
 * What the guest init needs from the kernel, as modules: the virtio
 * transport and disk, the channel's console port, erofs for the root and
 * virtiofs for the log areas. Their dependencies come from modules.dep;
 * a module built into the kernel is skipped.
 */
static const char *const wanted_modules[] = {
	"virtio_pci", "virtio_blk", "virtio_console", "erofs", "virtiofs",
};

/* ---- the kernel ------------------------------------------------------- */

static int by_version(const struct dirent **a, const struct dirent **b)
{
	return strverscmp((*a)->d_name, (*b)->d_name);
}

static int is_cloud_kernel(const struct dirent *d)
{
	return !strncmp(d->d_name, "vmlinuz-", 8) &&
	       has_suffix(d->d_name, "-cloud-amd64");
}

static int is_kernel(const struct dirent *d)
{
	return !strncmp(d->d_name, "vmlinuz-", 8) && d->d_name[8];
}

/* The newest /boot/vmlinuz-* that filter accepts, or NULL. */
static char *newest_kernel(int (*filter)(const struct dirent *))
{
	struct dirent **names;
	int n = scandir("/boot", &names, filter, by_version);
	char *path = NULL;

	if (n > 0)
		path = xasprintf("/boot/%s", names[n - 1]->d_name);
	for (int i = 0; i < n; i++)
		free(names[i]);
	if (n >= 0)
		free(names);
	return path;
}

/* One line of modules.dep: a module's path and what it needs. */
struct dep {
	char *name;		/* "virtio_pci": the file name without .ko */
	char *path;		/* relative to the modules directory */
	char **needs;		/* names, NULL-terminated */
	int loaded;		/* already in the load order */
};

struct deps {
	struct dep *v;
	size_t n;
	const char *dir;
};

/* "kernel/drivers/virtio/virtio-pci.ko" -> "virtio_pci", as modprobe does. */
static char *module_name(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name = xstrdup(base ? base + 1 : path), *dot = strstr(name, ".ko");

	if (dot)
		*dot = '\0';
	for (char *c = name; *c; c++)
		if (*c == '-')
			*c = '_';
	return name;
}

static void parse_dep_line(struct deps *d, char *line)
{
	char *colon = strchr(line, ':'), *save = NULL;
	struct dep *dep;
	struct strv needs = { 0 };

	if (!colon)
		return;
	*colon = '\0';
	for (char *t = strtok_r(colon + 1, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		strv_push(&needs, module_name(t));
	strv_push(&needs, NULL);
	d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
	dep = &d->v[d->n++];
	dep->name = module_name(line);
	dep->path = xstrdup(line);
	dep->needs = needs.v;
	dep->loaded = 0;
}

static int deps_load(struct deps *d, const char *dir, struct error *e)
{
	char *path = xasprintf("%s/modules.dep", dir), *data, *save = NULL;
	size_t len;

	memset(d, 0, sizeof(*d));
	d->dir = dir;
	if (read_file(path, MODULES_DEP_MAX, &data, &len, e) < 0) {
		free(path);
		return -1;
	}
	free(path);
	for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		parse_dep_line(d, l);
	free(data);
	return 0;
}

static void deps_free(struct deps *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].path);
		for (char **n = d->v[i].needs; *n; n++)
			free(*n);
		free(d->v[i].needs);
	}
	free(d->v);
}

static int is_builtin(const char *dir, const char *name)
{
	char *path = xasprintf("%s/modules.builtin", dir), line[PATH_MAX];
	FILE *f = fopen(path, "re");
	int found = 0;

	free(path);
	while (f && !found && fgets(line, sizeof(line), f)) {
		char *n;

		line[strcspn(line, "\n")] = '\0';
		n = module_name(line);
		found = !strcmp(n, name);
		free(n);
	}
	if (f)
		fclose(f);
	return found;
}

/* Adds name after everything it needs: modules.dep lists the full closure,
 * and the recursion orders it (virtio_ring before virtio). */
static int add_module(struct deps *d, struct vmimage_kernel *k, const char *name,
		      int depth, struct error *e)
{
	size_t i;

	for (i = 0; i < d->n && strcmp(d->v[i].name, name); i++)
		;
	if (i == d->n) {
		if (is_builtin(d->dir, name))
			return 0;
		return error_set(e, "kernel %s: module %s is neither in %s/modules.dep "
				 "nor built in", k->version, name, d->dir);
	}
	if (d->v[i].loaded)
		return 0;
	if (depth > 32)
		return error_set(e, "%s/modules.dep: dependencies of %s loop", d->dir, name);
	for (char **n = d->v[i].needs; *n; n++)
		if (add_module(d, k, *n, depth + 1, e) < 0)
			return -1;
	if (!has_suffix(d->v[i].path, ".ko"))
		return error_set(e, "%s/%s: compressed modules are not supported",
				 d->dir, d->v[i].path);
	if (k->n_modules >= VM_MAX_MODULES)
		return error_set(e, "kernel %s: more than %d modules", k->version,
				 VM_MAX_MODULES);
	d->v[i].loaded = 1;
	k->modules[k->n_modules++] = xasprintf("%s/%s", d->dir, d->v[i].path);
	return 0;
}

static int find_modules(struct vmimage_kernel *k, struct error *e)
{
	char *dir = xasprintf("/lib/modules/%s", k->version);
	struct deps d;
	struct stat st;
	int rc = 0;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = error_set(e, "kernel %s: its modules %s are missing (install the "
			       "package that brought the kernel, e.g. %s)", k->path,
			       dir, VM_KERNEL_PACKAGE);
		free(dir);
		return rc;
	}
	if (deps_load(&d, dir, e) < 0) {
		free(dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof(wanted_modules) / sizeof(wanted_modules[0]) &&
	     rc == 0; i++)
		rc = add_module(&d, k, wanted_modules[i], 0, e);
	deps_free(&d);
	free(dir);
	return rc;
}

/* The digest of the kernel and of each module in its place in the order. */
static int kernel_digest(struct vmimage_kernel *k, struct error *e)
{
	struct buf b = { 0 };
	char d[DIGEST_HEX];
	int rc = sha256_file_hex(k->path, d, e);

	if (rc == 0)
		buf_printf(&b, "kernel %s %s\n", k->version, d);
	for (size_t i = 0; i < k->n_modules && rc == 0; i++) {
		rc = sha256_file_hex(k->modules[i], d, e);
		buf_printf(&b, "module %zu %s %s\n", i, k->modules[i], d);
	}
	if (rc == 0)
		sha256_hex(b.data, b.len, k->digest);
	buf_free(&b);
	return rc;
}

int vmimage_kernel_find(const char *path, struct vmimage_kernel *k, struct error *e)
{
	const char *base;
	struct stat st;

	memset(k, 0, sizeof(*k));
	if (path) {
		k->path = xstrdup(path);
	} else {
		k->path = newest_kernel(is_cloud_kernel);
		if (!k->path)
			k->path = newest_kernel(is_kernel);
		if (!k->path)
			return error_set(e, "no kernel to boot: /boot/vmlinuz-*-cloud-amd64 "
					 "is missing (install the package %s, or name "
					 "one with <vm kernel=\"...\"/>)", VM_KERNEL_PACKAGE);
	}
	if (stat(k->path, &st) < 0)
		return error_set(e, "kernel %s: %s (install the package %s, or name "
				 "another with <vm kernel=\"...\"/>)", k->path,
				 strerror(errno), VM_KERNEL_PACKAGE);
	if (!S_ISREG(st.st_mode))
		return error_set(e, "kernel %s: not a regular file", k->path);
	base = strrchr(k->path, '/');
	base = base ? base + 1 : k->path;
	if (strncmp(base, "vmlinuz-", 8) || !base[8] || strchr(base + 8, '/'))
		return error_set(e, "kernel %s: the name is not vmlinuz-VERSION, so "
				 "its modules cannot be found", k->path);
	k->version = xstrdup(base + 8);
	if (find_modules(k, e) < 0)
		return -1;
	return kernel_digest(k, e);
}

void vmimage_kernel_free(struct vmimage_kernel *k)
{
	free(k->path);
	free(k->version);
	for (size_t i = 0; i < k->n_modules; i++)
		free(k->modules[i]);
	memset(k, 0, sizeof(*k));
}

int vmimage_write_kernel(const struct vmimage_kernel *k, const char *out, struct error *e)
{
	char *data;
	size_t len;
	int rc;

	if (read_file(k->path, KERNEL_MAX_BYTES, &data, &len, e) < 0)
		return -1;
	rc = write_file_atomic(out, data, len, 0644, e);
	free(data);
	return rc;
}

/* ---- the guest init --------------------------------------------------- */

char *vmimage_init_path(struct error *e)
{
	/* build/bin/imgtool beside build/bin/imgtool-init; PREFIX/bin/imgtool
	 * and PREFIX/lib/imgtool/imgtool-init. */
	char *path = locate_file("IMGTOOL_INIT", "imgtool-init",
				 "../lib/imgtool/imgtool-init",
				 IMGTOOL_PREFIX "/lib/imgtool/imgtool-init");

	const char *env = getenv("IMGTOOL_INIT");

	if (access(path, R_OK) == 0)
		return path;
	if (env && *env)
		error_errno(e, "IMGTOOL_INIT=%s", env);
	else
		error_set(e, "the guest init is missing: no imgtool-init beside "
			  "this program nor at %s (run make, install imgtool, or "
			  "set IMGTOOL_INIT)", path);
	free(path);
	return NULL;
}

/* ---- the initramfs ---------------------------------------------------- */

struct cpio_item {
	char *path;		/* relative: "imgtool/spec" */
	mode_t mode;		/* type and permissions */
	dev_t rdev;
	const char *src;	/* a host file to copy, or NULL */
	const void *data;	/* or these bytes */
	size_t len;
};

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct cpio_item *)a)->path,
		      ((const struct cpio_item *)b)->path);
}

static int cpio_write(struct archive *a, const struct cpio_item *it, int64_t ino,
		      int64_t epoch, struct error *e)
{
	struct archive_entry *ae = archive_entry_new();
	char *data = NULL;
	const void *bytes = it->data;
	size_t len = it->len;
	int rc = 0;

	if (it->src) {
		rc = read_file(it->src, S_ISREG(it->mode) && strstr(it->path, "modules") ?
			       MODULE_MAX_BYTES : INIT_MAX_BYTES, &data, &len, e);
		bytes = data;
	}
	archive_entry_set_pathname(ae, it->path);
	archive_entry_set_mode(ae, it->mode);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_ino64(ae, ino);
	archive_entry_set_nlink(ae, S_ISDIR(it->mode) ? 2 : 1);
	archive_entry_set_mtime(ae, epoch, 0);
	if (S_ISCHR(it->mode))
		archive_entry_set_rdev(ae, it->rdev);
	/* newc wants a size in every header: 0 for all but files. */
	archive_entry_set_size(ae, S_ISREG(it->mode) ? (la_int64_t)len : 0);
	if (rc == 0 && archive_write_header(a, ae) != ARCHIVE_OK)
		rc = error_set(e, "initramfs: %s: %s", it->path, archive_error_string(a));
	if (rc == 0 && len && archive_write_data(a, bytes, len) != (la_ssize_t)len)
		rc = error_set(e, "initramfs: %s: %s", it->path, archive_error_string(a));
	free(data);
	archive_entry_free(ae);
	return rc;
}

static void item(struct cpio_item *v, size_t *n, char *path, mode_t mode)
{
	memset(&v[*n], 0, sizeof(v[*n]));
	v[*n].path = path;
	v[*n].mode = mode;
	(*n)++;
}

int vmimage_write_initrd(const char *out, const char *init, const struct vmimage_kernel *k,
		    const struct buf *spec, const void *filter, size_t filter_len,
		    int64_t epoch, struct error *e)
{
	static const char *const dirs[] = { "dev", "proc", "sys", "stage", "imgtool",
					    VM_INITRD_MODULES };
	struct cpio_item v[VM_MAX_MODULES + 16];
	struct archive *a = archive_write_new();
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		item(v, &n, xstrdup(dirs[i]), S_IFDIR | 0755);
	/* The kernel opens it for the init's stdio before devtmpfs exists. */
	item(v, &n, xstrdup("dev/console"), S_IFCHR | 0600);
	v[n - 1].rdev = makedev(5, 1);
	item(v, &n, xstrdup("init"), S_IFREG | 0755);
	v[n - 1].src = init;
	item(v, &n, xstrdup(VM_INITRD_SPEC), S_IFREG | 0644);
	v[n - 1].data = spec->data;
	v[n - 1].len = spec->len;
	item(v, &n, xstrdup(VM_INITRD_SECCOMP), S_IFREG | 0644);
	v[n - 1].data = filter;
	v[n - 1].len = filter_len;
	for (size_t i = 0; i < k->n_modules; i++) {
		char *name = strrchr(k->modules[i], '/') + 1;

		item(v, &n, xasprintf("%s/%02zu-%s", VM_INITRD_MODULES, i, name),
		     S_IFREG | 0644);
		v[n - 1].src = k->modules[i];
	}
	qsort(v, n, sizeof(v[0]), by_path);
	if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_open_filename(a, out) != ARCHIVE_OK)
		rc = error_set(e, "%s: %s", out, archive_error_string(a));
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = cpio_write(a, &v[i], (int64_t)i + 1, epoch, e);
	if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = error_set(e, "%s: %s", out, archive_error_string(a));
	archive_write_free(a);
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	return rc;
}

/* ---- the disk, through libguestfs ------------------------------------- */

/* Fills e from the handle's last error: "what: doing: message". */
static int guestfs_fail(guestfs_h *g, struct error *e, const char *what,
			const char *doing)
{
	const char *msg = guestfs_last_error(g);

	return error_set(e, "%s: %s: %s", what, doing, msg ? msg : "failed");
}

/*
 * A handle that prints nothing (errors come back through e) and uses TCG
 * when KVM is not usable: libguestfs would try KVM where /dev/kvm exists,
 * and a nested /dev/kvm can abort qemu at its first MSR write.
 */
static guestfs_h *appliance_new(const char *what, struct error *e)
{
	guestfs_h *g = guestfs_create_flags(0);

	if (!g) {
		error_set(e, "%s: cannot create a libguestfs handle", what);
		return NULL;
	}
	guestfs_set_error_handler(g, NULL, NULL);
	if (!kvm_usable() && guestfs_set_backend_setting(g, "force_tcg", "1") < 0) {
		guestfs_fail(g, e, what, "libguestfs backend");
		guestfs_close(g);
		return NULL;
	}
	return g;
}

static int appliance_launch(guestfs_h *g, const char *what, struct error *e)
{
	if (guestfs_launch(g) == 0)
		return 0;
	guestfs_fail(g, e, what, "launching the libguestfs appliance");
	/* The usual reasons, for a message that says what to install. */
	snprintf(e->msg + strlen(e->msg), sizeof(e->msg) - strlen(e->msg),
		 " (it needs the packages qemu-system-x86 and supermin; "
		 "LIBGUESTFS_DEBUG=1 shows the appliance's console)");
	return -1;
}

/* ---- the GPT, made here ----------------------------------------------- */

/*
 * The partition table is computed here and written with two pwrites rather
 * than with parted and sgdisk in the appliance: under TCG each of those
 * tools costs 0.5 to 1.2 s (udev settles after each), four times the rest
 * of the disk's writing, and their output carries random GUIDs until reset.
 */
#define GPT_ENTRIES 128
#define GPT_ENTRY_SIZE 128
#define GPT_TABLE_SECTORS (GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR)	/* 32 */
#define GPT_LINUX_DATA "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
}

/* A GUID's text into its on-disk form: the first three fields little-endian. */
static void guid_bytes(const char *text, unsigned char out[16])
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
				       8, 9, 10, 11, 12, 13, 14, 15 };
	unsigned char raw[16];
	int n = 0;

	for (const char *c = text; *c && n < 16; c++) {
		if (*c == '-')
			continue;
		raw[n++] = (unsigned char)(hexval(c[0]) << 4 | hexval(c[1]));
		c++;
	}
	for (int i = 0; i < 16; i++)
		out[i] = raw[order[i]];
}

/* A GUID from the build id and a role, so that rebuilds match. */
static void guid_for(const char *build_id, const char *role, char out[37])
{
	char *seed = xasprintf("%s %s", build_id, role);
	char d[DIGEST_HEX];

	sha256_hex(seed, strlen(seed), d);
	free(seed);
	uuid_from_digest(d, out);
	for (char *c = out; *c; c++)
		*c = *c >= 'a' && *c <= 'f' ? (char)(*c - 'a' + 'A') : *c;
}

struct gpt {
	/* LBA 0 to 33: protective MBR, header, entries; the backup is the
	 * entries then the header, in the disk's last 33 sectors. */
	unsigned char primary[(2 + GPT_TABLE_SECTORS) * SECTOR];
	unsigned char backup[(1 + GPT_TABLE_SECTORS) * SECTOR];
};

static void gpt_header(unsigned char *h, uint64_t self, uint64_t other,
		       uint64_t table, uint64_t sectors, const unsigned char guid[16],
		       uint32_t table_crc)
{
	memcpy(h, "EFI PART", 8);
	put_le(h + 8, 0x00010000, 4);		/* revision 1.0 */
	put_le(h + 12, 92, 4);			/* header size */
	put_le(h + 24, self, 8);
	put_le(h + 32, other, 8);
	put_le(h + 40, 2 + GPT_TABLE_SECTORS, 8);		/* first usable */
	put_le(h + 48, sectors - 2 - GPT_TABLE_SECTORS, 8);	/* last usable */
	memcpy(h + 56, guid, 16);
	put_le(h + 72, table, 8);
	put_le(h + 80, GPT_ENTRIES, 4);
	put_le(h + 84, GPT_ENTRY_SIZE, 4);
	put_le(h + 88, table_crc, 4);
	put_le(h + 16, crc32_ieee(h, 92), 4);	/* with its own field 0 */
}

/* One partition named "root" from 1 MiB on, of part_sectors sectors. */
static void gpt_make(struct gpt *t, uint64_t sectors, uint64_t part_sectors,
		     const char *build_id)
{
	unsigned char *mbr = t->primary, *entries = t->primary + 2 * SECTOR;
	unsigned char disk_guid[16], *en = entries;
	char text[37];
	uint32_t crc;

	memset(t, 0, sizeof(*t));
	/* The protective MBR: one partition of type 0xEE over the disk. */
	mbr[446 + 2] = 0x02;
	mbr[446 + 4] = 0xee;
	memset(mbr + 446 + 5, 0xff, 3);
	put_le(mbr + 446 + 8, 1, 4);
	put_le(mbr + 446 + 12, sectors - 1 > 0xffffffffu ? 0xffffffffu : sectors - 1, 4);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	guid_bytes(GPT_LINUX_DATA, en);
	guid_for(build_id, "root", text);
	guid_bytes(text, en + 16);
	put_le(en + 32, MIB / SECTOR, 8);
	put_le(en + 40, MIB / SECTOR + part_sectors - 1, 8);
	for (size_t i = 0; VM_ROOT_PARTITION[i]; i++)
		en[56 + 2 * i] = (unsigned char)VM_ROOT_PARTITION[i];	/* UTF-16LE */
	crc = crc32_ieee(entries, GPT_ENTRIES * GPT_ENTRY_SIZE);
	guid_for(build_id, "disk", text);
	guid_bytes(text, disk_guid);
	gpt_header(t->primary + SECTOR, 1, sectors - 1, 2, sectors, disk_guid, crc);
	memcpy(t->backup, entries, GPT_TABLE_SECTORS * SECTOR);
	gpt_header(t->backup + GPT_TABLE_SECTORS * SECTOR, sectors - 1, 1,
		   sectors - 1 - GPT_TABLE_SECTORS, sectors, disk_guid, crc);
}

static int write_at(int fd, const void *data, size_t len, off_t offset,
		    const char *path, struct error *e)
{
	ssize_t n = pwrite(fd, data, len, offset);

	if (n < 0)
		return error_errno(e, "%s", path);
	if ((size_t)n != len)
		return error_set(e, "%s: short write", path);
	return 0;
}

/*
 * The whole raw disk, laid out here: the GPT around the erofs at 1 MiB.
 * The appliance then copies it in one call; every call into the appliance
 * costs a round trip and a flush, 0.2 s each under TCG.
 */
static int write_layout(const char *path, const struct gpt *t, const char *erofs,
			uint64_t sectors, struct error *e)
{
	int in = open(erofs, O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	static char buf[1 << 16];
	off_t at = MIB;
	ssize_t n;
	int rc = -1;

	if (in < 0 || out < 0) {
		error_errno(e, "%s", in < 0 ? erofs : path);
		goto out;
	}
	if (ftruncate(out, (off_t)(sectors * SECTOR)) < 0) {
		error_errno(e, "%s", path);
		goto out;
	}
	if (write_at(out, t->primary, sizeof(t->primary), 0, path, e) < 0 ||
	    write_at(out, t->backup, sizeof(t->backup),
		     (off_t)((sectors - 1 - GPT_TABLE_SECTORS) * SECTOR), path, e) < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write_at(out, buf, (size_t)n, at, path, e) < 0)
			goto out;
		at += n;
	}
	if (n < 0) {
		error_errno(e, "%s", erofs);
		goto out;
	}
	rc = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int vmimage_write_disk(const char *out, const char *format, const char *erofs,
		  const char *build_id, struct error *e)
{
	const char *what = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	struct gpt *t = xmalloc(sizeof(*t));
	uint64_t part, sectors;
	char *layout;
	struct stat st;
	guestfs_h *g;
	int rc = -1;

	if (stat(erofs, &st) < 0) {
		free(t);
		return error_errno(e, "%s", erofs);
	}
	part = ((uint64_t)st.st_size + MIB - 1) / MIB * MIB;
	sectors = (part + 2 * MIB) / SECTOR;
	gpt_make(t, sectors, part / SECTOR, build_id);
	layout = xasprintf("%s.layout", out);
	if (write_layout(layout, t, erofs, sectors, e) < 0) {
		free(t);
		unlink(layout);
		free(layout);
		return -1;
	}
	g = appliance_new(what, e);
	if (!g) {
		free(t);
		unlink(layout);
		free(layout);
		return -1;
	}
	/*
	 * qcow2 allocates a cluster when it is first written, and the guest
	 * writes in no fixed order: two builds would place the same data at
	 * different offsets. With the metadata preallocated, every cluster
	 * has its place from the start. The disk is nearly all erofs data, so
	 * this costs no space.
	 */
	if (guestfs_disk_create(g, out, format, (int64_t)(sectors * SECTOR),
				GUESTFS_DISK_CREATE_PREALLOCATION,
				strcmp(format, "qcow2") ? "sparse" : "metadata", -1) < 0) {
		guestfs_fail(g, e, what, "creating the disk");
		goto out;
	}
	/* unsafe: no flushes while writing; the build fsyncs the file after. */
	if (guestfs_add_drive_opts(g, out, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format,
				   GUESTFS_ADD_DRIVE_OPTS_CACHEMODE, "unsafe", -1) < 0 ||
	    guestfs_add_drive_opts(g, layout, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
				   GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1) < 0) {
		guestfs_fail(g, e, what, "adding the disks");
		goto out;
	}
	if (appliance_launch(g, what, e) < 0)
		goto out;
	if (guestfs_copy_device_to_device(g, "/dev/sdb", "/dev/sda", -1) < 0) {
		guestfs_fail(g, e, what, "writing the disk");
		goto out;
	}
	if (guestfs_shutdown(g) < 0) {
		guestfs_fail(g, e, what, "shutting the appliance down");
		goto out;
	}
	rc = 0;
out:
	free(t);
	guestfs_close(g);
	unlink(layout);
	free(layout);
	return rc;
}

int vmimage_read_root(const char *disk, const char *format, const char *out,
		 struct error *e)
{
	guestfs_h *g = appliance_new(disk, e);
	char *name = NULL;
	int rc = -1;

	if (!g)
		return -1;
	if (guestfs_add_drive_opts(g, disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format,
				   GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1) < 0) {
		guestfs_fail(g, e, disk, "adding the disk");
		goto out;
	}
	if (appliance_launch(g, disk, e) < 0)
		goto out;
	name = guestfs_part_get_name(g, "/dev/sda", 1);
	if (!name || strcmp(name, VM_ROOT_PARTITION)) {
		error_bad(e, "%s: not an imgtool VM disk (no partition 1 named \"%s\")",
			  disk, VM_ROOT_PARTITION);
		goto out;
	}
	if (guestfs_download(g, "/dev/sda1", out) < 0) {
		guestfs_fail(g, e, disk, "reading the root partition");
		goto out;
	}
	rc = 0;
out:
	free(name);
	guestfs_close(g);
	return rc;
}

int vmimage_disk_info(const char *disk, char *format, size_t len, uint64_t *size,
		 struct error *e)
{
	guestfs_h *g = appliance_new(disk, e);
	char *f = NULL;
	int64_t s = -1;
	int rc = -1;

	if (!g)
		return -1;
	f = guestfs_disk_format(g, disk);
	if (f)
		s = guestfs_disk_virtual_size(g, disk);
	if (!f || s < 0) {
		guestfs_fail(g, e, disk, "reading the disk's header");
	} else {
		snprintf(format, len, "%s", f);
		*size = (uint64_t)s;
		rc = 0;
	}
	free(f);
	guestfs_close(g);
	return rc;
}
