/*
 * vmremote.h - what a VM needs from a libvirtd that shares no files with us.
 *
 * A libvirtd on another host (a URI that names a host: qemu+ssh://h/system,
 * qemu+tcp://h/system) runs qemu there: the image's files, the overlays, the
 * log disks and the channel cannot be paths or sockets of ours. Everything
 * goes through the libvirt connection instead:
 *
 *  - files travel as volumes of a directory storage pool on that host
 *    (--storage-pool, "default" by default): uploaded (vol-upload's way) or
 *    downloaded through libvirt streams, made and deleted there;
 *  - the channel to the guest's init is virDomainOpenChannel(), a libvirt
 *    stream that remote_channel_open() turns into a descriptor of ours, so
 *    that the serving loop cannot tell it from the local Unix socket.
 *
 * Volumes are named REMOTE_PREFIX HOST _ PID _ WHAT: the supervisor's host
 * and pid say whose they are, so that the next start on the same host can
 * remove a dead supervisor's leftovers (remote_leftovers()).
 */
#ifndef IMGTOOL_VMREMOTE_H
#define IMGTOOL_VMREMOTE_H

#include <stdint.h>
#include <sys/types.h>
#include <libvirt/libvirt.h>
#include "util.h"

#define REMOTE_PREFIX "imgsupd_"
#define REMOTE_POOL_DEFAULT "default"

struct remote_store {
	virConnectPtr conn;
	virStoragePoolPtr pool;
	char *host;		/* REMOTE_PREFIX HOST _: this host's */
	char *prefix;		/* REMOTE_PREFIX HOST _ PID _ */
};

/* Finds the (running, directory) pool and names our volumes. */
int remote_store_open(struct remote_store *s, virConnectPtr conn,
		      const char *pool, struct error *e);
void remote_store_close(struct remote_store *s);

/* prefix + what (malloc'd): the name of one of our volumes. */
char *remote_name(const struct remote_store *s, const char *what);

/*
 * Uploads the local file as the volume name (replacing one of that name),
 * and returns the volume's path on its host (malloc'd), or NULL.
 */
char *remote_upload(struct remote_store *s, const char *local, const char *name,
		    struct error *e);

/* Makes the volume name, raw and empty (a file qemu writes), and returns its path. */
char *remote_create(struct remote_store *s, const char *name, struct error *e);

/*
 * Makes the volume name: a qcow2 overlay of the volume at backing (format
 * backing_format, size bytes). Returns its path on its host, or NULL.
 */
char *remote_overlay(struct remote_store *s, const char *name,
		     const char *backing, const char *backing_format,
		     uint64_t size, struct error *e);

/*
 * Downloads bytes [offset, offset + length) of the volume name (length 0:
 * to its end, at most max bytes) into the local file, created mode 0600
 * (or truncated). 0, or -1.
 */
int remote_download(struct remote_store *s, const char *name, uint64_t offset,
		    uint64_t length, uint64_t max, const char *local,
		    struct error *e);

/* Deletes the volume name, if there is one. */
void remote_delete(struct remote_store *s, const char *name);

/*
 * Destroys the domains of dead supervisors of this host, then calls fn for
 * each of their volumes with what follows its prefix: fn may download it,
 * and returns non-zero to keep it; the others are deleted. The pool is
 * refreshed first: a file qemu made is a volume once libvirt has seen it.
 */
void remote_leftovers(struct remote_store *s,
		      int (*fn)(struct remote_store *s, const char *name,
				const char *what, void *arg),
		      void *arg);

/*
 * Opens the guest's virtio-serial port by name as a stream and returns the
 * supervisor's end of a socketpair that carries it both ways: libvirt's
 * event loop (already running) moves the bytes. Closing the descriptor
 * ends the stream; the guest ending it closes the other end.
 */
int remote_channel_open(virDomainPtr dom, const char *port, struct error *e);

#endif
