/*
 * vmremote.c - VMs of a libvirtd that shares no files with us (vmremote.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libvirt/virterror.h>

#include "channel.h"
#include "vmremote.h"

#define POOL_XML_MAX (64u << 10)

static const char *virt_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

/* Our host name with anything but [A-Za-z0-9.-] made a '-'. */
static char *host_tag(void)
{
	char host[256] = "localhost";

	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-", *p))
			*p = '-';
	return xasprintf(REMOTE_PREFIX "%s_", host);
}

int remote_store_open(struct remote_store *s, virConnectPtr conn,
		      const char *pool, struct error *e)
{
	char *xml, *uri;
	int is_dir;

	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->pool = virStoragePoolLookupByName(conn, pool);
	if (!s->pool) {
		uri = virConnectGetURI(conn);
		error_set(e, "libvirt: no storage pool \"%s\" on %s: the image's "
			  "files go into a directory pool there (virsh "
			  "pool-define-as %s dir --target DIR; virsh pool-start "
			  "%s), or name one with --storage-pool", pool,
			  uri ? uri : "the libvirt host", pool, pool);
		free(uri);
		return -1;
	}
	if (virStoragePoolIsActive(s->pool) != 1)
		return error_set(e, "libvirt: storage pool \"%s\" is not running "
				 "(virsh pool-start %s)", pool, pool);
	xml = virStoragePoolGetXMLDesc(s->pool, 0);
	if (!xml)
		return error_set(e, "libvirt: pool %s: %s", pool, virt_error());
	/* qemu boots the kernel and initramfs from files: a directory pool. */
	is_dir = !strncmp(xml, "<pool type='dir'", strlen("<pool type='dir'"));
	free(xml);
	if (!is_dir)
		return error_set(e, "libvirt: storage pool \"%s\" is not a "
				 "directory pool", pool);
	s->host = host_tag();
	s->prefix = xasprintf("%s%ld_", s->host, (long)getpid());
	return 0;
}

void remote_store_close(struct remote_store *s)
{
	if (s->pool)
		virStoragePoolFree(s->pool);
	free(s->host);
	free(s->prefix);
	memset(s, 0, sizeof(*s));
}

char *remote_name(const struct remote_store *s, const char *what)
{
	return xasprintf("%s%s", s->prefix, what);
}

void remote_delete(struct remote_store *s, const char *name)
{
	virStorageVolPtr vol = virStorageVolLookupByName(s->pool, name);

	if (vol) {
		virStorageVolDelete(vol, 0);
		virStorageVolFree(vol);
	}
}

/*
 * Makes a volume from its XML; returns its path, and the volume in *out
 * when out is given.
 */
static char *make_volume(struct remote_store *s, const char *xml,
			 virStorageVolPtr *out, struct error *e)
{
	virStorageVolPtr vol = virStorageVolCreateXML(s->pool, xml, 0);
	char *path;

	if (!vol) {
		error_set(e, "libvirt: make a volume: %s", virt_error());
		return NULL;
	}
	path = virStorageVolGetPath(vol);
	if (!path)
		error_set(e, "libvirt: volume path: %s", virt_error());
	if (out && path)
		*out = vol;
	else
		virStorageVolFree(vol);
	return path;
}

/* Makes the raw volume name of size bytes (see make_volume). */
static char *make_raw(struct remote_store *s, const char *name, uint64_t size,
		      virStorageVolPtr *out, struct error *e)
{
	char *xml = xasprintf("<volume><name>%s</name>"
			      "<capacity unit='bytes'>%llu</capacity>"
			      "<target><format type='raw'/></target></volume>",
			      name, (unsigned long long)size);
	char *path = make_volume(s, xml, out, e);

	free(xml);
	return path;
}

struct source {
	int fd;
	off_t size;
};

static int send_file(virStreamPtr st, char *data, size_t n, void *opaque)
{
	(void)st;
	return (int)read(((struct source *)opaque)->fd, data, n);
}

/*
 * Where the file's data and holes are, from the current offset: a log
 * disk is 16 MiB of which a few hundred KiB are data, and only those
 * travel (the volume's file gets the holes as holes).
 */
static int file_section(virStreamPtr st, int *in_data, long long *length,
			void *opaque)
{
	const struct source *src = opaque;
	off_t cur = lseek(src->fd, 0, SEEK_CUR), next;

	(void)st;
	if (cur < 0)
		return -1;
	if (cur >= src->size) {
		*in_data = 0;	/* and a length of 0: the end */
		*length = 0;
		return 0;
	}
	next = lseek(src->fd, cur, SEEK_DATA);
	if (next < 0 && errno != ENXIO)
		return -1;
	*in_data = next == cur;
	if (*in_data)
		next = lseek(src->fd, cur, SEEK_HOLE);
	else if (next < 0)
		next = src->size;	/* a hole to the end */
	if (next < 0 || lseek(src->fd, cur, SEEK_SET) < 0)
		return -1;
	*length = (long long)(next - cur);
	return 0;
}

static int skip_hole(virStreamPtr st, long long length, void *opaque)
{
	(void)st;
	return lseek(((struct source *)opaque)->fd, (off_t)length, SEEK_CUR) < 0 ? -1 : 0;
}

char *remote_upload(struct remote_store *s, const char *local, const char *name,
		    struct error *e)
{
	virStorageVolPtr vol = NULL;
	virStreamPtr st = NULL;
	struct stat sb;
	char *path = NULL;
	struct source src = { .fd = open(local, O_RDONLY | O_CLOEXEC) };

	if (src.fd < 0 || fstat(src.fd, &sb) < 0) {
		error_errno(e, "%s", local);
		if (src.fd >= 0)
			close(src.fd);
		return NULL;
	}
	src.size = sb.st_size;
	remote_delete(s, name);
	path = make_raw(s, name, (uint64_t)sb.st_size, &vol, e);
	if (path && (!(st = virStreamNew(s->conn, 0)) ||
		     virStorageVolUpload(vol, st, 0, (unsigned long long)sb.st_size,
					 VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM) < 0 ||
		     virStreamSparseSendAll(st, send_file, file_section, skip_hole,
					    &src) < 0 ||
		     virStreamFinish(st) < 0)) {
		error_set(e, "libvirt: upload %s: %s", local, virt_error());
		free(path);
		path = NULL;
	}
	if (st)
		virStreamFree(st);
	if (vol)
		virStorageVolFree(vol);
	if (!path)
		remote_delete(s, name);
	close(src.fd);
	return path;
}

char *remote_create(struct remote_store *s, const char *name, struct error *e)
{
	return make_raw(s, name, 0, NULL, e);
}

char *remote_overlay(struct remote_store *s, const char *name,
		     const char *backing, const char *backing_format,
		     uint64_t size, struct error *e)
{
	char *xml = xasprintf("<volume><name>%s</name>"
			      "<capacity unit='bytes'>%llu</capacity>"
			      "<target><format type='qcow2'/></target>"
			      "<backingStore><path>%s</path>"
			      "<format type='%s'/></backingStore></volume>",
			      name, (unsigned long long)size, backing,
			      backing_format);
	char *path = make_volume(s, xml, NULL, e);

	free(xml);
	return path;
}

struct sink {
	int fd;
	uint64_t left;		/* bytes we still take */
	int overflow;
};

/* Takes n more bytes of the file, data or hole: at most max in all. */
static int sink_take(struct sink *k, uint64_t n)
{
	if (n > k->left) {
		k->overflow = 1;
		return -1;
	}
	k->left -= n;
	return 0;
}

static int recv_file(virStreamPtr st, const char *data, size_t n, void *opaque)
{
	struct sink *k = opaque;

	(void)st;
	if (sink_take(k, n) < 0)
		return -1;
	return write_all(k->fd, data, n) < 0 ? -1 : (int)n;
}

/* A hole arrives as its length: skipped, and the file stays sparse. */
static int recv_hole(virStreamPtr st, long long length, void *opaque)
{
	struct sink *k = opaque;
	off_t end;

	(void)st;
	if (length < 0 || sink_take(k, (uint64_t)length) < 0)
		return -1;
	end = lseek(k->fd, (off_t)length, SEEK_CUR);
	/* A hole at the end is a size without data. */
	return end < 0 || ftruncate(k->fd, end) < 0 ? -1 : 0;
}

int remote_download(struct remote_store *s, const char *name, uint64_t offset,
		    uint64_t length, uint64_t max, const char *local,
		    struct error *e)
{
	virStorageVolPtr vol = virStorageVolLookupByName(s->pool, name);
	struct sink k = { .left = max };
	virStreamPtr st = NULL;
	int rc = -1;

	if (!vol)
		return error_set(e, "libvirt: volume %s: %s", name, virt_error());
	k.fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (k.fd < 0)
		error_errno(e, "%s", local);
	else if (!(st = virStreamNew(s->conn, 0)) ||
		 virStorageVolDownload(vol, st, offset, length,
				       VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM) < 0 ||
		 virStreamSparseRecvAll(st, recv_file, recv_hole, &k) < 0 ||
		 virStreamFinish(st) < 0)
		error_set(e, "libvirt: download %s: %s", name,
			  k.overflow ? "larger than expected" : virt_error());
	else if (fsync(k.fd) < 0)
		error_errno(e, "%s", local);
	else
		rc = 0;
	if (st)
		virStreamFree(st);
	if (k.fd >= 0)
		close(k.fd);
	virStorageVolFree(vol);
	return rc;
}

/* Whether a domain's or volume's name is a dead supervisor's of this host. */
static int remote_dead(const struct remote_store *s, const char *name)
{
	size_t n = strlen(s->host);
	char *end;
	long pid;

	if (strncmp(name, s->host, n))
		return 0;
	pid = strtol(name + n, &end, 10);
	return end != name + n && *end == '_' && pid > 0 &&
	       pid != (long)getpid() && !pid_running((pid_t)pid);
}

static void destroy_dead_domains(struct remote_store *s)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(s->conn, &doms, 0);

	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);

		if (name && remote_dead(s, name))
			virDomainDestroy(doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
}

void remote_leftovers(struct remote_store *s,
		      int (*fn)(struct remote_store *s, const char *name,
				const char *what, void *arg),
		      void *arg)
{
	virStorageVolPtr *vols = NULL;
	int n;

	destroy_dead_domains(s);
	virStoragePoolRefresh(s->pool, 0);
	n = virStoragePoolListAllVolumes(s->pool, &vols, 0);
	for (int i = 0; i < n; i++) {
		const char *name = virStorageVolGetName(vols[i]);
		const char *what = NULL;

		/* remote_dead(): REMOTE_PREFIX HOST _ PID _ WHAT. */
		if (name && remote_dead(s, name))
			what = strchr(strchr(name + strlen(REMOTE_PREFIX), '_') + 1, '_');
		if (what && !fn(s, name, what + 1, arg))
			virStorageVolDelete(vols[i], 0);
		virStorageVolFree(vols[i]);
	}
	free(vols);
}

/* ---- the channel: a libvirt stream carried to a socketpair -------------- */

/*
 * The callbacks run in libvirt's event loop thread; the lock only keeps
 * them waiting until remote_channel_open() has set the pump up. Each
 * direction holds at most one buffer: while it is not written on, its
 * source is not read (the back-pressure a socket has).
 */
struct half {
	char buf[CHANNEL_FRAME_MAX];
	size_t len, off;	/* len 0: empty, its source may be read */
};

struct pump {
	pthread_mutex_t lock;
	virStreamPtr st;
	int fd;			/* our end of the socketpair */
	int watch;		/* fd's libvirt event handle */
	struct half to_fd, to_st;
};

/* n bytes were read into the empty h. Whether anything moved. */
static int half_filled(struct half *h, ssize_t n)
{
	if (n <= 0)
		return 0;
	h->len = (size_t)n;
	h->off = 0;
	return 1;
}

/* n bytes of h were written on. Whether anything moved. */
static int half_drained(struct half *h, ssize_t n)
{
	if (n <= 0)
		return 0;
	h->off += (size_t)n;
	if (h->off == h->len)
		h->len = 0;
	return 1;
}

static int would_block(ssize_t n)
{
	return n >= 0 || errno == EAGAIN || errno == EINTR;
}

static void pump_end(struct pump *p)
{
	virStreamEventRemoveCallback(p->st);
	virStreamAbort(p->st);
	virStreamFree(p->st);
	virEventRemoveHandle(p->watch);
	/* The supervisor reads EOF on its end: the guest is gone. */
	close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void pump_update(struct pump *p)
{
	int se = 0, fe = 0;

	if (!p->to_fd.len)
		se |= VIR_STREAM_EVENT_READABLE;
	else
		fe |= VIR_EVENT_HANDLE_WRITABLE;
	if (!p->to_st.len)
		fe |= VIR_EVENT_HANDLE_READABLE;
	else
		se |= VIR_STREAM_EVENT_WRITABLE;
	virStreamEventUpdateCallback(p->st, se);
	virEventUpdateHandle(p->watch, fe);
}

/* Moves what can move without blocking. 0, or -1: the pump is over. */
static int pump_move(struct pump *p)
{
	for (int progress = 1; progress;) {
		struct half *in = &p->to_fd, *out = &p->to_st;
		ssize_t n;

		progress = 0;
		if (!in->len) {
			n = virStreamRecv(p->st, in->buf, sizeof(in->buf));
			if (n == 0 || n == -1)
				return -1;	/* the guest's side closed, or failed */
			progress |= half_filled(in, n);	/* -2: nothing yet */
		}
		if (in->len) {
			n = write(p->fd, in->buf + in->off, in->len - in->off);
			if (!would_block(n))
				return -1;
			progress |= half_drained(in, n);
		}
		if (!out->len) {
			n = read(p->fd, out->buf, sizeof(out->buf));
			if (n == 0 || !would_block(n))
				return -1;	/* the supervisor closed its end */
			progress |= half_filled(out, n);
		}
		if (out->len) {
			n = virStreamSend(p->st, out->buf + out->off, out->len - out->off);
			if (n == -1)
				return -1;
			progress |= half_drained(out, n);
		}
	}
	return 0;
}

/*
 * The loop dispatches one callback at a time, and skips the ones removed
 * meanwhile: once pump_end() ran, nothing calls us with p again.
 */
static void pump_run(struct pump *p, int failed)
{
	int over;

	pthread_mutex_lock(&p->lock);
	over = failed || pump_move(p) < 0;
	if (!over)
		pump_update(p);
	pthread_mutex_unlock(&p->lock);
	if (over)
		pump_end(p);
}

static void on_stream(virStreamPtr st, int events, void *opaque)
{
	(void)st;
	pump_run(opaque, !!(events & (VIR_STREAM_EVENT_ERROR |
				      VIR_STREAM_EVENT_HANGUP)) &&
		 !(events & VIR_STREAM_EVENT_READABLE));
}

static void on_fd(int watch, int fd, int events, void *opaque)
{
	(void)watch;
	(void)fd;
	pump_run(opaque, !!(events & VIR_EVENT_HANDLE_ERROR));
}

int remote_channel_open(virDomainPtr dom, const char *port, struct error *e)
{
	virConnectPtr conn = virDomainGetConnect(dom);
	struct pump *p = xcalloc(1, sizeof(*p));
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		free(p);
		return error_errno(e, "socketpair");
	}
	p->fd = sp[1];
	p->watch = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->st = virStreamNew(conn, VIR_STREAM_NONBLOCK);
	if (!p->st || virDomainOpenChannel(dom, port, p->st, 0) < 0) {
		error_set(e, "libvirt: open channel %s: %s", port, virt_error());
		goto fail;
	}
	if (fcntl(p->fd, F_SETFL, O_NONBLOCK) < 0) {
		error_errno(e, "channel socket");
		goto fail;
	}
	pthread_mutex_lock(&p->lock);
	if (virStreamEventAddCallback(p->st, VIR_STREAM_EVENT_READABLE, on_stream,
				      p, NULL) < 0) {
		pthread_mutex_unlock(&p->lock);
		error_set(e, "libvirt: stream events: %s", virt_error());
		goto fail;
	}
	p->watch = virEventAddHandle(p->fd, VIR_EVENT_HANDLE_READABLE, on_fd, p, NULL);
	pthread_mutex_unlock(&p->lock);
	if (p->watch < 0) {
		/*
		 * Only without an event loop, which we always run. The stream's
		 * callback may hold p by now: it is left to end the pump.
		 */
		close(sp[0]);
		return error_set(e, "libvirt: watch the channel: %s", virt_error());
	}
	return sp[0];
fail:
	if (p->st) {
		virStreamAbort(p->st);
		virStreamFree(p->st);
	}
	close(sp[0]);
	close(sp[1]);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return -1;
}
