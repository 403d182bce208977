/*
 * vm.c - VM instances through libvirt (see vm.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "channel.h"
#include "guestspec.h"
#include "imagefile.h"
#include "logsync.h"
#include "supervisor.h"
#include "vm.h"

#define TEMPLATE_MAX (64u << 10)
#define CONSOLE_TAIL 1024
#define QEMU_USER "libvirt-qemu"
/*
 * libvirt probes qemu for its capabilities the first time it starts a
 * domain, about 4 s under TCG, and keeps the answer in the embedded root,
 * which lives as long as one supervisor. We keep it across supervisors
 * here. libvirt checks each entry against the qemu binary, its own version
 * and the host, and probes again when anything changed.
 */
#define CAPS_CACHE "/var/cache/imgsupd/qemu-capabilities"
#define CAPS_SUBDIR "cache/qemu/capabilities"
#define CAPS_MAX (4u << 20)
#define NOBODY 65534		/* reads a guest's log disk (logsync.h) */

/* libvirt prints every error on stderr by default; we report our own. */
static void quiet_errors(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static const char *virt_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

/* build/bin/imgsupd in a source tree: its templates/; PREFIX/sbin/imgsupd
 * and PREFIX/share/imgtool/templates/. */
static char *template_path(void)
{
	return locate_file("IMGTOOL_DOMAIN", "../../templates/domain.xml",
			   "../share/imgtool/templates/domain.xml",
			   IMGTOOL_DATADIR "/templates/domain.xml");
}

/* The embedded driver reads ROOT/etc/qemu.conf. */
static int write_qemu_conf(const char *root, struct error *e)
{
	/*
	 * stdio_handler "file": qemu's console goes to a file we name, with no
	 * virtlogd daemon to start. dynamic_ownership 0: libvirt leaves the
	 * owners of our files alone (bind_output() says why), and
	 * remember_owner 0 stops it recording them in extended attributes.
	 * qemu itself runs as QEMU_USER, never as root.
	 */
	static const char conf[] =
		"stdio_handler = \"file\"\n"
		"dynamic_ownership = 0\n"
		"remember_owner = 0\n"
		"user = \"" QEMU_USER "\"\n"
		"group = \"" QEMU_USER "\"\n";
	char *dir = xasprintf("%s/etc", root), *path = xasprintf("%s/qemu.conf", dir);
	int rc = 0;

	if (mkdir_p(dir, 0755) < 0)
		rc = error_errno(e, "%s", dir);
	else
		rc = write_file_atomic(path, conf, sizeof(conf) - 1, 0644, e);
	free(dir);
	free(path);
	return rc;
}

static int need_tool(const char *path, const char *what, const char *package,
		     struct error *e)
{
	char *p = path[0] == '/' ? (access(path, X_OK) == 0 ? xstrdup(path) : NULL)
				 : find_tool(path);

	if (!p)
		return error_set(e, "%s not found: it %s; install the package %s",
				 path, what, package);
	free(p);
	return 0;
}

/*
 * The ids of QEMU_USER, as getent prints them ("name:x:UID:GID:..."):
 * <pwd.h> clashes with recipe.h's struct group.
 */
static int qemu_ids(uid_t *uid, gid_t *gid)
{
	char *argv[] = { "getent", "passwd", QEMU_USER, NULL };
	struct buf out = { 0 };
	struct error e = { 0 };
	unsigned long u, g;
	int rc = -1;

	if (run_capture(argv, 4096, &out, &e) == 0) {
		buf_add(&out, "", 1);
		if (sscanf(out.data, QEMU_USER ":%*[^:]:%lu:%lu:", &u, &g) == 2 &&
		    u > 0 && g > 0) {
			*uid = (uid_t)u;
			*gid = (gid_t)g;
			rc = 0;
		}
	}
	buf_free(&out);
	return rc;
}

static int check_host(struct vm_host *h, struct error *e)
{
	/*
	 * A remote qemu is its libvirtd's to find, and its errors name it;
	 * here we only make and read the VMs' log disks (logsync.h).
	 */
	if (h->remote && !h->logs_dir)
		return 0;
	if (h->remote)
		return need_tool("mkfs.ext4", "makes each VM's log disk", "e2fsprogs", e) < 0 ||
		       need_tool("debugfs", "reads each VM's log disk", "e2fsprogs", e) < 0 ||
		       need_tool("setpriv", "reads each VM's log disk as nobody",
				 "util-linux", e) < 0 ? -1 : 0;
	if (need_tool("qemu-system-x86_64", "runs the VMs", "qemu-system-x86", e) < 0 ||
	    need_tool("qemu-img", "makes each VM's disk overlay", "qemu-utils", e) < 0)
		return -1;
	if (h->logs_dir && need_tool("/usr/lib/qemu/virtiofsd",
				     "shares the log volume with the VMs",
				     "qemu-system-common", e) < 0)
		return -1;
	if (h->embedded && qemu_ids(&h->qemu_uid, &h->qemu_gid) < 0)
		return error_set(e, "no user and group %s: libvirt runs qemu as "
				 "them; create them (ci/install-deps does) or "
				 "install libvirt-daemon-system", QEMU_USER);
	return 0;
}

/*
 * bind_output() gives qemu an output of the manifest: bind_readonly() binds
 * it read-only at dir/name, where qemu, which runs as QEMU_USER, can reach
 * it even when the image's own directory is private (it often is:
 * /root/out, a CI workspace). libvirt
 * could chown the files instead, and would hand them back to root, whoever
 * owned them; it is told not to (dynamic_ownership = 0). The digest is
 * checked on the bound file, after the bind: what was checked is what qemu
 * reads. Returns the bound path.
 */
static char *bind_readonly(const char *src, const struct stat *st,
			   const char *dir, const char *name, struct error *e)
{
	char *dst;
	int fd;

	if (!(st->st_mode & S_IROTH)) {
		error_set(e, "%s: not readable by others (mode %04o); qemu runs as "
			  "%s: chmod o+r it", src, (unsigned)(st->st_mode & 07777),
			  QEMU_USER);
		return NULL;
	}
	dst = xasprintf("%s/%s", dir, name);
	if ((fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 ||
	    close(fd) < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
		  MS_NODEV | MS_NOEXEC, NULL) < 0) {
		error_errno(e, "bind %s at %s", src, dst);
		free(dst);
		return NULL;
	}
	return dst;
}

/*
 * One candidate file for an output: bound (or, for a libvirtd's qemu, its
 * real path) and its digest checked there. NULL when it is not the one:
 * then e says why only if the file could not be read or bound.
 */
static char *bind_checked(const char *src, const struct manifest_output *o,
			  const char *dir, const char *name, int embedded,
			  struct error *e)
{
	char digest[DIGEST_HEX], *dst = NULL;
	struct stat st;

	/*
	 * A libvirtd's qemu lives in the host's mount namespace, where our
	 * binds do not exist: it gets the file itself, and its own qemu.conf
	 * decides about owners.
	 */
	if (stat(src, &st) < 0)
		error_errno(e, "%s", src);
	else if (embedded)
		dst = bind_readonly(src, &st, dir, name, e);
	else if (!(dst = realpath(src, NULL)))
		error_errno(e, "%s", src);
	if (dst && sha256_file_hex(dst, digest, e) < 0) {
		free(dst);
		dst = NULL;
	} else if (dst && strcmp(digest, o->digest)) {
		if (embedded)
			umount2(dst, MNT_DETACH);
		if (embedded)
			unlink(dst);
		free(dst);
		dst = NULL;
	}
	return dst;
}

/*
 * The file beside the image that holds output format of m: the one of its
 * name, or else (a build killed during its install: image_candidates) the
 * complete previous one it left, so that the disk, the kernel and the
 * initramfs served are always of one build.
 */
static char *bind_output(const char *image, const struct manifest *m,
			 unsigned format, const char *dir, const char *name,
			 int embedded, struct error *e)
{
	const struct manifest_output *o = manifest_output_find(m, format);
	const char *slash = strrchr(image, '/');
	char *paths[IMAGE_MAX_CANDIDATES], *idir, *dst = NULL;
	size_t n;

	if (!o) {
		error_bad(e, "%s: the manifest names no %s file", image,
			  format_name((enum output_format)format));
		return NULL;
	}
	idir = slash ? xasprintf("%.*s", (int)(slash - image), image) : xstrdup(".");
	n = image_candidates(idir, o->file, format, paths);
	for (size_t i = 0; i < n && !dst && !e->msg[0]; i++) {
		dst = bind_checked(paths[i], o, dir, name, embedded, i ? NULL : e);
		if (dst && i)
			sv_log("event=warning what=image file=%s message=\"does not "
			       "match its manifest (a build was killed before its "
			       "manifest was in place); serving the previous one, "
			       "complete at %s; build again\"", paths[0], paths[i]);
	}
	if (!dst && !e->msg[0])
		error_bad(e, "%s: digest does not match the manifest; "
			  "rebuild it or run imgtool verify", paths[0]);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(idir);
	return dst;
}

static int find_files(struct vm_host *h, const char *image,
		      const struct manifest *m, struct error *e)
{
	unsigned disk = image_format(image);

	if (!(disk & FORMAT_VM))
		return error_bad(e, "%s: not a VM image (qcow2 or raw)", image);
	h->disk_format = disk == FORMAT_QCOW2 ? "qcow2" : "raw";
	h->disk = bind_output(image, m, disk, h->dir, "disk", h->embedded, e);
	if (h->disk)
		h->kernel = bind_output(image, m, FORMAT_VMLINUZ, h->dir, "vmlinuz",
					 h->embedded, e);
	if (h->kernel)
		h->initrd = bind_output(image, m, FORMAT_INITRD, h->dir, "initrd",
					 h->embedded, e);
	return h->initrd ? 0 : -1;
}

#define INITRD_MAX_BYTES (256u << 20)

/*
 * What the guest will run is the spec in the initramfs (its digest is the
 * manifest's, checked on the bound file): the manifest beside the image,
 * from which the supervisor takes the wall limit, the recycling and the
 * rest, must say the same, or it was edited. The initramfs is read from
 * the bound file, bounded, and parsed as input.
 */
static int own_spec(const struct vm_host *h, const char *image,
		    const struct manifest *m, struct error *e)
{
	char err[GUESTSPEC_ERR_MAX], *data = NULL, *diff = NULL;
	char *mpath = image_manifest_path(image);
	struct guest_spec gs = { 0 };
	const char *spec;
	size_t len, spec_len;
	int rc = -1;

	if (read_file(h->initrd, INITRD_MAX_BYTES, &data, &len, e) < 0)
		;
	else if (guestspec_from_initrd(data, len, &spec, &spec_len, err,
				       sizeof(err)) < 0 ||
		 guestspec_parse(spec, spec_len, &gs, err, sizeof(err)) < 0)
		error_bad(e, "%s: the image's initramfs: %s", image, err);
	else if ((diff = manifest_guestspec_diff(m, &gs)))
		error_bad(e, "%s: %s (the spec in its initramfs); rebuild the "
			  "image, or run imgtool verify", mpath, diff);
	else
		rc = 0;
	guestspec_free(&gs);
	free(diff);
	free(data);
	free(mpath);
	return rc;
}

/* The virtual size of a disk: a qcow2's from its header, a raw one's own. */
static int disk_size(const char *path, uint64_t *size, struct error *e)
{
	unsigned char b[32];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd < 0 || fstat(fd, &st) < 0)
		error_errno(e, "%s", path);
	else if (pread(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) &&
		 !memcmp(b, "QFI\xfb", 4)) {
		*size = 0;
		for (int i = 24; i < 32; i++)
			*size = *size << 8 | b[i];
		rc = 0;
	} else {
		*size = (uint64_t)st.st_size;
		rc = 0;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Replaces a local path of ours by the path of its upload as what. */
static int upload_as(struct vm_host *h, char **path, const char *what,
		     struct error *e)
{
	char *name = remote_name(&h->store, what);
	char *remote = remote_upload(&h->store, *path, name, e);

	free(name);
	if (!remote)
		return -1;
	free(*path);
	*path = remote;
	return 0;
}

/*
 * A remote libvirtd gets the files themselves, checked here (find_files),
 * and the size the overlays and log disks take.
 */
static int upload_files(struct vm_host *h, struct error *e)
{
	if (disk_size(h->disk, &h->disk_size, e) < 0 ||
	    upload_as(h, &h->disk, "disk", e) < 0 ||
	    upload_as(h, &h->kernel, "vmlinuz", e) < 0 ||
	    upload_as(h, &h->initrd, "initrd", e) < 0)
		return -1;
	return 0;
}

/* Copies the regular *.xml files of one directory into another. */
static void copy_xml_files(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;

	if (!d || mkdir_p(to, 0700) < 0) {
		if (d)
			closedir(d);
		return;
	}
	while ((de = readdir(d))) {
		char *src, *dst, *data = NULL;
		size_t len;

		if (!has_suffix(de->d_name, ".xml") || de->d_name[0] == '.')
			continue;
		src = xasprintf("%s/%s", from, de->d_name);
		dst = xasprintf("%s/%s", to, de->d_name);
		/* A cache: what cannot be copied is probed again. */
		if (read_file(src, CAPS_MAX, &data, &len, NULL) == 0)
			write_file_atomic(dst, data, len, 0600, NULL);
		free(data);
		free(src);
		free(dst);
	}
	closedir(d);
}

/*
 * The embedded driver does its I/O (qemu's monitor, virtiofsd) through the
 * application's event loop: libvirt's default one, run by a thread of its
 * own. Created after the supervisor blocked its signals, the thread keeps
 * them blocked and they stay with the signalfd.
 */
static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

static int start_event_loop(struct error *e)
{
	pthread_t t;
	int err;

	if (virEventRegisterDefaultImpl() < 0)
		return error_set(e, "libvirt: event loop: %s", virt_error());
	if ((err = pthread_create(&t, NULL, event_loop, NULL))) {
		errno = err;
		return error_errno(e, "libvirt event loop thread");
	}
	pthread_detach(t);
	return 0;
}

/*
 * Connecting, and uploading to a remote libvirtd, take as long as the other
 * side likes: for ever, with a peer that accepts and never answers.
 * Meanwhile SIGTERM and SIGINT keep their default action and end us, as
 * they would any command that has not begun to serve; the next start
 * removes what we left. This thread only: libvirt's event loop thread,
 * made before, keeps them blocked for the signalfd.
 */
static void interruptible(int on)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	pthread_sigmask(on ? SIG_UNBLOCK : SIG_BLOCK, &s, NULL);
}

static int connect_libvirt(struct vm_host *h, const char *uri,
			   const char *run_dir, struct error *e)
{
	char *root;

	/*
	 * libvirt logs warnings on stderr (a missing device-mapper, say) that
	 * mean nothing to an operator of imgsupd; its errors reach our log
	 * lines through virGetLastErrorMessage(). LIBVIRT_LOG_OUTPUTS, when
	 * set, still decides.
	 */
	setenv("LIBVIRT_LOG_OUTPUTS", "1:file:/dev/null", 0);
	virSetErrorFunc(NULL, quiet_errors);
	if (virInitialize() < 0)
		return error_set(e, "libvirt: %s", virt_error());
	if (start_event_loop(e) < 0)
		return -1;
	interruptible(1);
	if (uri) {
		h->uri = xstrdup(uri);
	} else {
		root = xasprintf("%s/libvirt", run_dir);
		if (write_qemu_conf(root, e) < 0) {
			free(root);
			return -1;
		}
		h->uri = xasprintf("qemu:///embed?root=%s", root);
		h->caps_dir = xasprintf("%s/" CAPS_SUBDIR, root);
		copy_xml_files(CAPS_CACHE, h->caps_dir);
		free(root);
	}
	h->conn = virConnectOpen(h->uri);
	if (!h->conn)
		return error_set(e, "libvirt: cannot open %s: %s%s", h->uri,
				 virt_error(), h->embedded ?
				 " (the QEMU driver is in the package "
				 "libvirt-daemon-driver-qemu)" : "");
	return 0;
}

/*
 * Downloads a VM's log disk (the volume name) next to us and merges it into
 * our mount of the log volume (logsync.h). nobody reads it there.
 */
static int merge_logs(struct vm_host *h, const char *name, struct error *e)
{
	char *local = xasprintf("%s/%s", h->dir, name);
	size_t replaced = 0;
	int rc = remote_download(&h->store, name, 0, 0, h->logs_size, local, e);

	if (rc == 0 && (chown(local, NOBODY, NOBODY) < 0 || chmod(local, 0400) < 0))
		rc = error_errno(e, "%s", local);
	if (rc == 0)
		rc = logsync_merge(local, h->logs_dir, h->m, &replaced, e);
	/* The worker merges; the serving loop asks vm_stale(). */
	if (replaced)
		__atomic_add_fetch(&h->state_gen, 1, __ATOMIC_SEQ_CST);
	unlink(local);
	free(local);
	return rc;
}

static void log_merge_error(const char *name, struct error *e)
{
	for (char *p = e->msg; *p; p++)
		if (*p == '"')
			*p = '\'';
	sv_log("event=error what=logs volume=%s error=\"%s\" note=\"kept on the "
	       "libvirt host; the next start merges it\"", name, e->msg);
}

/*
 * A dead supervisor's volume: its log disks of this image are merged, as
 * if its VMs had ended; another image's are kept for that image's next
 * start; the rest goes.
 */
static int recover_leftover(struct remote_store *s, const char *name,
			    const char *what, void *arg)
{
	struct vm_host *h = arg;
	size_t n = strlen(h->name);
	struct error e = { 0 };

	(void)s;
	if (!has_suffix(what, ".logs"))
		return 0;
	if (!h->logs_dir || strncmp(what, h->name, n) || what[n] != '-')
		return 1;
	if (merge_logs(h, name, &e) < 0) {
		log_merge_error(name, &e);
		return 1;
	}
	sv_log("event=recovered volume=%s", name);
	return 0;
}

/* Each VM's log disk is as large as the log volume. */
static int log_disk_size(struct vm_host *h, const char *image,
			 const struct manifest *m, struct error *e)
{
	char *logs = h->logs_dir ? image_logs_path(image, m) : NULL;
	struct stat st;
	int rc = 0;

	if (logs && stat(logs, &st) < 0)
		rc = error_errno(e, "%s", logs);
	h->logs_size = logs && rc == 0 ? (uint64_t)st.st_size : 0;
	free(logs);
	return rc;
}

static int open_remote(struct vm_host *h, const char *image,
		       const struct manifest *m, const char *pool,
		       struct error *e)
{
	if (log_disk_size(h, image, m, e) < 0 ||
	    remote_store_open(&h->store, h->conn, pool ? pool : REMOTE_POOL_DEFAULT,
			      e) < 0)
		return -1;
	remote_leftovers(&h->store, recover_leftover, h);
	return upload_files(h, e);
}

int vm_host_open(struct vm_host *h, const char *image, const struct manifest *m,
		 const char *uri, const char *storage_pool, const char *run_dir,
		 const char *logs_dir, struct error *e)
{
	char *tpath;
	size_t len;
	int rc;

	memset(h, 0, sizeof(*h));
	h->name = xstrdup(m->name);
	h->memory = m->vm.memory;
	h->vcpus = m->vm.vcpus;
	h->logs_dir = logs_dir;
	h->kvm = kvm_usable();
	h->embedded = !uri;
	h->remote = sv_remote_uri(uri);
	h->m = m;
	if (check_host(h, e) < 0)
		return -1;
	/*
	 * qemu runs as QEMU_USER: it must reach the files in here, which only
	 * root can list.
	 */
	h->dir = xasprintf("%s/vm", run_dir);
	if (mkdir(h->dir, 0711) < 0 || chmod(run_dir, 0711) < 0 ||
	    chmod(RUN_DIR, 0711) < 0)
		return error_errno(e, "%s", h->dir);
	if (find_files(h, image, m, e) < 0 || own_spec(h, image, m, e) < 0)
		return -1;
	tpath = template_path();
	rc = read_file(tpath, TEMPLATE_MAX, &h->template, &len, e);
	free(tpath);
	if (rc < 0)
		return -1;
	rc = connect_libvirt(h, uri, run_dir, e) < 0 ? -1 :
	     h->remote ? open_remote(h, image, m, storage_pool, e) : 0;
	interruptible(0);
	return rc;
}

void vm_host_close(struct vm_host *h)
{
	if (h->remote && h->store.pool) {
		static const char *const uploaded[] = { "disk", "vmlinuz", "initrd" };

		for (size_t i = 0; i < sizeof(uploaded) / sizeof(uploaded[0]); i++) {
			char *name = remote_name(&h->store, uploaded[i]);

			remote_delete(&h->store, name);
			free(name);
		}
		remote_store_close(&h->store);
	}
	if (h->conn)
		virConnectClose(h->conn);
	if (h->caps_dir)
		copy_xml_files(h->caps_dir, CAPS_CACHE);
	free(h->caps_dir);
	/* The binds of bind_output(), so that the run directory can go. */
	if (h->embedded && h->disk)
		umount2(h->disk, MNT_DETACH);
	if (h->embedded && h->kernel)
		umount2(h->kernel, MNT_DETACH);
	if (h->embedded && h->initrd)
		umount2(h->initrd, MNT_DETACH);
	free(h->uri);
	free(h->template);
	free(h->dir);
	free(h->name);
	free(h->disk);
	free(h->kernel);
	free(h->initrd);
	memset(h, 0, sizeof(*h));
}

static void xml_escaped(struct buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(out, "&lt;"); break;
		case '>': buf_puts(out, "&gt;"); break;
		case '&': buf_puts(out, "&amp;"); break;
		case '\'': buf_puts(out, "&apos;"); break;
		case '"': buf_puts(out, "&quot;"); break;
		default: buf_add(out, s, 1);
		}
	}
}

struct subst {
	const char *key, *value;
};

/*
 * The name of the block a template line opens ("<!-- NAME { -->") or
 * closes ("<!-- } NAME -->"), or NULL.
 */
static const char *block_name(const char *line, int *opens, char name[32])
{
	int end = 0;

	/* %n is set only when the whole pattern matched. */
	if (sscanf(line, " <!-- %31[a-z] { -->%n", name, &end) == 1 && end)
		*opens = 1;
	else if (sscanf(line, " <!-- } %31[a-z] -->%n", name, &end) == 1 && end)
		*opens = 0;
	else
		return NULL;
	return name;
}

/* Whether name is one of the space-separated words of list. */
static int has_word(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
	return 0;
}

/*
 * The template with its @KEY@s replaced. The lines of a block, from
 * "<!-- NAME { -->" to "<!-- } NAME -->", are kept only when NAME is one of
 * the words of blocks; blocks do not nest.
 */
static void render_domain(const char *tpl, const struct subst *s, size_t n,
			  const char *blocks, struct buf *out)
{
	int skipping = 0;

	for (const char *line = tpl; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line + 1) : strlen(line);
		char *copy = xstrndup(line, len), name[32];
		int opens;

		if (block_name(copy, &opens, name)) {
			skipping = opens && !has_word(blocks, name);
			free(copy);
			line += len;
			continue;
		}
		for (const char *p = copy; !skipping && *p;) {
			const char *at = strchr(p, '@'), *close;
			size_t i;

			close = at ? strchr(at + 1, '@') : NULL;
			for (i = 0; close && i < n; i++)
				if ((size_t)(close - at - 1) == strlen(s[i].key) &&
				    !strncmp(at + 1, s[i].key, strlen(s[i].key)))
					break;
			if (!close || i == n) {
				size_t k = at ? (size_t)(at - p + 1) : strlen(p);

				buf_add(out, p, k);
				p += k;
				continue;
			}
			buf_add(out, p, (size_t)(at - p));
			xml_escaped(out, s[i].value);
			p = close + 1;
		}
		free(copy);
		line += len;
	}
}

/* Where a domain's files are, as its qemu sees them. */
struct domain_paths {
	const char *overlay, *console, *channel, *logs_disk;
};

static char *domain_xml(const struct vm_host *h, const char *name,
			const struct domain_paths *p)
{
	char kib[32], vcpus[32];
	struct buf out = { 0 };
	int logs = h->logs_dir != NULL;
	const char *blocks = !h->remote ? (logs ? "socket virtiofs" : "socket") :
			     logs ? "stream logdisk" : "stream";

	snprintf(kib, sizeof(kib), "%llu", (unsigned long long)(h->memory >> 10));
	snprintf(vcpus, sizeof(vcpus), "%llu", (unsigned long long)h->vcpus);
	{
		const struct subst s[] = {
			{ "TYPE", h->kvm ? "kvm" : "qemu" },
			{ "NAME", name },
			{ "MEMORY_KIB", kib },
			{ "VCPUS", vcpus },
			{ "KERNEL", h->kernel },
			{ "INITRD", h->initrd },
			{ "CMDLINE", h->remote && logs ? GUEST_CMDLINE " " GUEST_LOGS_DISK
						       : GUEST_CMDLINE },
			{ "OVERLAY", p->overlay },
			{ "LOGS_DIR", h->logs_dir ? h->logs_dir : "" },
			{ "LOGS_DISK", p->logs_disk ? p->logs_disk : "" },
			{ "CHANNEL", p->channel ? p->channel : "" },
			{ "CONSOLE", p->console },
		};

		render_domain(h->template, s, sizeof(s) / sizeof(s[0]), blocks, &out);
	}
	buf_add(&out, "", 1);
	return out.data;
}

static int make_overlay(const struct vm_host *h, struct vm_domain *d)
{
	char backing_fmt[16];
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F",
			 backing_fmt, "-b", h->disk, d->overlay, NULL };
	struct error e = { 0 };
	int fd;

	/*
	 * What the guest writes to its disk lands here: made by us, new
	 * (O_EXCL: nothing planted under its name is used), mode 0600, before
	 * qemu-img fills it in place (it keeps an existing file's inode and
	 * mode). qemu writes the overlay; libvirt leaves owners to us.
	 */
	fd = open(d->overlay, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 ||
	    (h->embedded && fchown(fd, h->qemu_uid, h->qemu_gid) < 0)) {
		snprintf(d->err, sizeof(d->err), "%s: %s", d->overlay, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	snprintf(backing_fmt, sizeof(backing_fmt), "%s", h->disk_format);
	if (run_command(argv, 1, &e) < 0) {
		snprintf(d->err, sizeof(d->err), "overlay: %.400s", e.msg);
		return -1;
	}
	return 0;
}

/* Connects *fd to the Unix socket qemu listens on at path (what: for d->err). */
static int connect_unix(struct vm_domain *d, const char *path, const char *what,
			int flags, int *fd)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(d->err, sizeof(d->err), "%s: path too long", path);
		return -1;
	}
	strcpy(a.sun_path, path);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (*fd < 0 || connect(*fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		snprintf(d->err, sizeof(d->err), "%s %s: %s", what, path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int connect_channel(struct vm_domain *d)
{
	return connect_unix(d, d->socket, "channel", 0, &d->chan);
}

/*
 * The console: read without blocking, whenever the loop has a moment
 * (vm_console_drain). Connected before the channel, so that it holds the
 * guest's first words.
 */
static int connect_console(struct vm_domain *d)
{
	return connect_unix(d, d->console, "console", SOCK_NONBLOCK, &d->con);
}

void vm_console_drain(struct vm_domain *d)
{
	char buf[4096];

	while (d->con >= 0) {
		ssize_t n = read(d->con, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* qemu is gone (or broke the socket): nothing more comes. */
			close(d->con);
			d->con = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			d->con_ring[d->con_at] = buf[i];
			d->con_at = (d->con_at + 1) % CONSOLE_KEEP;
		}
		d->con_len = d->con_len + (size_t)n > CONSOLE_KEEP ? CONSOLE_KEEP :
			     d->con_len + (size_t)n;
	}
}

static int start_domain(struct vm_host *h, const char *name,
			const struct domain_paths *p, struct vm_domain *d)
{
	char *xml = domain_xml(h, name, p);

	/* Transient: the domain exists only while it runs. */
	d->dom = virDomainCreateXML(h->conn, xml, 0);
	free(xml);
	if (!d->dom) {
		snprintf(d->err, sizeof(d->err), "libvirt: %s", virt_error());
		return -1;
	}
	return 0;
}

static int boot_local(struct vm_host *h, struct vm_domain *d)
{
	char *name = xasprintf("%s-%ld-%lu", h->name, (long)getpid(), d->id);
	struct domain_paths p;
	int rc;

	d->overlay = xasprintf("%s/%lu.qcow2", h->dir, d->id);
	d->socket = xasprintf("%s/%lu.sock", h->dir, d->id);
	d->console = xasprintf("%s/%lu.console.sock", h->dir, d->id);
	p = (struct domain_paths){ d->overlay, d->console, d->socket, NULL };
	rc = make_overlay(h, d) < 0 || start_domain(h, name, &p, d) < 0 ||
	     connect_console(d) < 0 || connect_channel(d) < 0 ? -1 : 0;
	free(name);
	return rc;
}

/*
 * The log disk of a VM of a remote libvirtd: made from our mount, staged
 * and written in our directory, uploaded as the volume d->logs.
 */
static char *make_log_disk(struct vm_host *h, struct vm_domain *d,
			   struct error *e)
{
	char *work = xasprintf("%s/%lu.seed", h->dir, d->id);
	char *image = xasprintf("%s/%lu.logs.img", h->dir, d->id);
	char *path = NULL;

	d->state_gen = __atomic_load_n(&h->state_gen, __ATOMIC_SEQ_CST);
	if (logsync_seed(h->logs_dir, h->m, work, image, h->logs_size, e) == 0)
		path = remote_upload(&h->store, image, d->logs, e);
	unlink(image);
	free(image);
	free(work);
	return path;
}

/* A remote libvirtd's VM: every file a volume of its pool (vmremote.h). */
static int boot_remote(struct vm_host *h, struct vm_domain *d)
{
	char *what = xasprintf("%s-%lu", h->name, d->id);
	char *name = remote_name(&h->store, what);
	char *overlay = NULL, *console = NULL, *logs = NULL;
	struct error e = { 0 };
	int rc = -1;

	d->overlay = xasprintf("%s.qcow2", name);
	d->console = xasprintf("%s.console", name);
	d->logs = h->logs_dir ? xasprintf("%s.logs", name) : NULL;
	if ((overlay = remote_overlay(&h->store, d->overlay, h->disk,
				      h->disk_format, h->disk_size, &e)) &&
	    (console = remote_create(&h->store, d->console, &e)) &&
	    (!d->logs || (logs = make_log_disk(h, d, &e)))) {
		struct domain_paths p = { overlay, console, NULL, logs };

		if (start_domain(h, name, &p, d) == 0 &&
		    (d->chan = remote_channel_open(d->dom, CHANNEL_PORT_NAME, &e)) >= 0)
			rc = 0;
	}
	if (rc < 0 && !d->err[0])
		snprintf(d->err, sizeof(d->err), "%.500s", e.msg);
	free(overlay);
	free(console);
	free(logs);
	free(name);
	free(what);
	return rc;
}

int vm_boot(struct vm_host *h, unsigned long id, struct vm_domain *d)
{
	d->chan = -1;
	d->con = -1;
	d->con_len = d->con_at = 0;
	d->err[0] = '\0';
	d->id = id;
	return h->remote ? boot_remote(h, d) : boot_local(h, d);
}

/* What a remote VM wrote goes into our mount before its disk goes. */
static void remove_remote_files(struct vm_host *h, struct vm_domain *d)
{
	struct error e = { 0 };

	/*
	 * A VM that never served holds only its seed: merged, it would write
	 * back state older than what sessions ended with since it was made (a
	 * stale VM's), and count as a change of state that makes every VM
	 * whose disk was made before stale in turn, whose disks are merged in
	 * turn: a ready VM would never be found while the pool keeps booting.
	 */
	if (d->logs && d->served && merge_logs(h, d->logs, &e) < 0)
		log_merge_error(d->logs, &e);
	else if (d->logs)
		remote_delete(&h->store, d->logs);
	if (d->overlay)
		remote_delete(&h->store, d->overlay);
	if (d->console)
		remote_delete(&h->store, d->console);
}

static void remove_local_files(struct vm_domain *d)
{
	if (d->overlay)
		unlink(d->overlay);
	if (d->socket)
		unlink(d->socket);
	if (d->console)
		unlink(d->console);
}

void vm_destroy(struct vm_host *h, struct vm_domain *d)
{
	if (d->chan >= 0)
		close(d->chan);
	d->chan = -1;
	if (d->con >= 0)
		close(d->con);
	d->con = -1;
	if (d->dom) {
		/* It may have powered itself off already: that is no error. */
		virDomainDestroy(d->dom);
		virDomainFree(d->dom);
		d->dom = NULL;
	}
	if (h->remote)
		remove_remote_files(h, d);
	else
		remove_local_files(d);
	free(d->overlay);
	free(d->socket);
	free(d->console);
	free(d->logs);
	d->overlay = d->socket = d->console = d->logs = NULL;
}

int vm_stale(const struct vm_host *h, const struct vm_domain *d)
{
	return h->remote && d->logs &&
	       d->state_gen != __atomic_load_n(&h->state_gen, __ATOMIC_SEQ_CST);
}

/* The end of a remote VM's console volume, downloaded next to us. */
static int fetch_console(struct vm_host *h, const struct vm_domain *d,
			 char **path)
{
	virStorageVolPtr vol = virStorageVolLookupByName(h->store.pool, d->console);
	virStorageVolInfo info;
	struct error e = { 0 };
	int rc = -1;

	*path = xasprintf("%s/%lu.console", h->dir, d->id);
	if (vol && virStorageVolGetInfo(vol, &info) == 0) {
		uint64_t from = info.capacity > CONSOLE_TAIL ? info.capacity - CONSOLE_TAIL : 0;

		/* What qemu writes meanwhile is not asked for. */
		rc = remote_download(&h->store, d->console, from, info.capacity - from,
				     CONSOLE_TAIL, *path, &e);
	}
	if (vol)
		virStorageVolFree(vol);
	return rc;
}

/* buf[0..n) as one log line in out: control characters become spaces. */
static void printable_tail(char *buf, ssize_t n, char *out, size_t size)
{
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	buf[n] = '\0';
	snprintf(out, size, "%s", buf);
}

void vm_console_tail(struct vm_host *h, struct vm_domain *d, char *out,
		     size_t size)
{
	char buf[CONSOLE_TAIL + 1], *fetched = NULL;
	ssize_t n = 0;
	off_t end;
	int fd;

	out[0] = '\0';
	if (!h->remote) {
		vm_console_drain(d);
		n = d->con_len < CONSOLE_TAIL ? (ssize_t)d->con_len : CONSOLE_TAIL;
		for (ssize_t i = 0; i < n; i++)
			buf[i] = d->con_ring[(d->con_at + CONSOLE_KEEP - (size_t)n +
					      (size_t)i) % CONSOLE_KEEP];
		printable_tail(buf, n, out, size);
		return;
	}
	if (d->console && fetch_console(h, d, &fetched) < 0) {
		unlink(fetched);
		free(fetched);
		return;
	}
	fd = d->console ? open(fetched ? fetched : d->console, O_RDONLY | O_CLOEXEC) : -1;
	if (fetched) {
		unlink(fetched);
		free(fetched);
	}
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end >= 0 && lseek(fd, end > CONSOLE_TAIL ? end - CONSOLE_TAIL : 0,
			      SEEK_SET) >= 0)
		n = read(fd, buf, CONSOLE_TAIL);
	close(fd);
	printable_tail(buf, n, out, size);
}
