/*
 * vm.h - VM instances through libvirt: one transient domain per instance.
 *
 * A VM image is a disk (NAME.qcow2 or NAME.raw) whose first partition is
 * the read-only root, plus a kernel and an initramfs beside it that boot
 * it directly (docs/architecture.md). Each instance is a transient libvirt
 * domain made from templates/domain.xml:
 *
 *  - the disk through a qcow2 overlay of its own (the image is only ever
 *    read; anything written to the disk lands in the overlay, deleted with
 *    the domain);
 *  - the log and state areas: the supervisor's mount of the log volume,
 *    shared with virtiofs (tag "imgtool-logs");
 *  - no network device; connections travel over one virtio-serial port
 *    (runtime/channel.h), a Unix socket on the host side;
 *  - the serial console: locally a Unix socket that the serving loop
 *    drains into a ring of CONSOLE_KEEP bytes in memory (only its end is
 *    ever read, when a guest fails), so that a guest cannot fill our disk
 *    or memory through it; a remote libvirtd's, a volume in its pool.
 *
 * libvirt's embedded QEMU driver (qemu:///embed) is the default: it runs
 * inside imgsupd with a private root under the run directory, and needs no
 * daemon. Any other URI (--connect) reaches a libvirtd. A libvirtd on
 * another host shares no file with us (vmremote.h): the image's files are
 * uploaded into its storage pool, overlays and consoles are volumes there,
 * the channel is a libvirt stream, and each VM's log and state areas are a
 * disk of its own, merged into our mount when the VM is gone (logsync.h).
 *
 * vm_boot() and vm_destroy() block for up to seconds (libvirt starts qemu
 * and talks to its monitor); the serving loop calls them from a worker
 * thread (vmserve.c).
 */
#ifndef IMGTOOL_VM_H
#define IMGTOOL_VM_H

#include <stdint.h>
#include <sys/types.h>
#include <libvirt/libvirt.h>
#include "manifest.h"
#include "util.h"
#include "vmremote.h"

#define VM_ERR_MAX 512
#define GUEST_LOG_MAX 200	/* bytes of a guest's diagnostic line we keep */
#define CONSOLE_KEEP (16u << 10)	/* bytes of a local console we keep */

/* What every VM of one supervisor shares. */
struct vm_host {
	virConnectPtr conn;
	char *uri;
	char *template;		/* the domain XML template, read once */
	char *dir;		/* overlays, sockets, consoles */
	char *name;		/* the recipe's */
	char *caps_dir;		/* embedded: libvirt's cache of qemu's capabilities */
	char *disk, *kernel, *initrd;	/* absolute paths */
	const char *disk_format;	/* "qcow2" or "raw" */
	const char *logs_dir;	/* virtiofs source, or NULL without areas */
	uint64_t memory;	/* bytes */
	uint64_t vcpus;
	int kvm;		/* hardware acceleration, else TCG */
	int embedded;
	uid_t qemu_uid;		/* embedded: the user qemu runs as */
	gid_t qemu_gid;
	int remote;		/* a libvirtd on another host */
	struct remote_store store;	/* remote: its pool, our volumes there */
	const struct manifest *m;	/* remote: the areas, for logsync */
	uint64_t disk_size;	/* remote: the disk's virtual size */
	uint64_t logs_size;	/* remote: the size of each VM's log disk */
	unsigned long state_gen;	/* remote: merges that changed state */
};

/* One domain. */
struct vm_domain {
	virDomainPtr dom;
	unsigned long id;
	int chan;		/* connected to the guest's channel port, or -1 */
	int con;		/* local: connected to its console, or -1 */
	/* Paths; remote: volume names (socket NULL, logs the log disk's). */
	char *overlay, *socket, *console, *logs;
	/* Local: the end of its console, a ring (vm_console_drain). */
	char con_ring[CONSOLE_KEEP];
	size_t con_len;		/* bytes in it, at most CONSOLE_KEEP */
	size_t con_at;		/* where the next byte goes */
	unsigned long state_gen;	/* remote: the host's, when its disk was made */
	int served;		/* it ran a session: its log disk has news to merge */
	char err[VM_ERR_MAX];	/* why vm_boot failed */
};

/*
 * Opens the connection (uri NULL: the embedded driver rooted in run_dir),
 * finds the disk, kernel and initramfs of image from its manifest and
 * checks their digests, reads the domain template. Errors name what is
 * missing and the package that brings it.
 */
int vm_host_open(struct vm_host *h, const char *image, const struct manifest *m,
		 const char *uri, const char *storage_pool, const char *run_dir,
		 const char *logs_dir, struct error *e);
void vm_host_close(struct vm_host *h);

/* Makes the overlay, starts the domain and connects to its channel. */
int vm_boot(struct vm_host *h, unsigned long id, struct vm_domain *d);
/*
 * Destroys the domain and deletes the overlay, socket and console; remote:
 * merges the VM's log disk first.
 */
void vm_destroy(struct vm_host *h, struct vm_domain *d);

/*
 * Whether a remote VM's log disk was made before a merge that changed a
 * state area: its session would not see that change. Never for the others,
 * which share our mount.
 */
int vm_stale(const struct vm_host *h, const struct vm_domain *d);

struct supervisor;
/*
 * imgtool run of a VM image (vmrun.c): one VM with its service on the
 * terminal; its exit status is the service's (128 + N for signal N), 1 when
 * the VM failed, 2 for a -- CMD (a VM runs its recipe's service).
 */
int vm_run_once(struct supervisor *sv);

/*
 * Reads what a local domain's console socket holds now into its ring,
 * keeping the last CONSOLE_KEEP bytes; at its end the socket is closed
 * (d->con -1). Never blocks. The serving loop calls it whenever d->con is
 * readable: qemu's serial port waits when nobody reads, and the guest's
 * console writes with it.
 */
void vm_console_drain(struct vm_domain *d);

/* The last lines of a domain's console, for the log; "" if none. Drains
 * a local console first. */
void vm_console_tail(struct vm_host *h, struct vm_domain *d, char *out,
		     size_t size);

#endif
