/*
 * supervisor.h - imgsupd's state: setting up (setup.c) and serving
 * (serve.c: jails, vmserve.c: VMs, both through the policy of pool.c).
 */
#ifndef IMGTOOL_SUPERVISOR_H
#define IMGTOOL_SUPERVISOR_H

#include <stdint.h>
#include <sys/socket.h>
#include "cgroup.h"
#include "instance.h"
#include "manifest.h"
#include "pool.h"
#include "util.h"

#define RUN_DIR "/run/imgsupd"

struct options {
	const char *image;
	const char *listen;	/* overrides the manifest's */
	uint64_t max, per_client, pool;	/* 0: the manifest's or the default */
	int pool_given;		/* --pool, which may be 0 (VMs: boot on demand) */
	const char *connect;	/* VMs: a libvirt URI; NULL: qemu:///embed */
	const char *storage_pool;	/* VMs of a remote libvirtd: its pool */
	uint64_t boot_timeout;	/* VMs: seconds until the guest is ready */
	uint64_t ready_timeout;	/* VMs: seconds a ready VM waits for a client */
	const char *id_range;	/* jails: "START:COUNT", the host ids of
				   instances; NULL: id_range_default() */
	int run;		/* one instance on the terminal */
	char **command;		/* --run: instead of the service's exec */
};

struct vm_host;

struct supervisor {
	const struct options *o;
	struct vm_host *vm;	/* VM images: the libvirt side (vm.h) */
	struct manifest *m;
	char *image;		/* the file served for o->image (image_locate) */
	unsigned format;
	char *run_dir, *root_dir, *logs_dir;
	struct cgroup_root cgroups;
	struct instance_config cfg;
	struct jail_area *areas;
	uint64_t max, per_client, pool;
	int listen_fd, signal_fd, epoll_fd;
	int logs_lock;		/* flock on the log volume (volume_lock) */
	int *seal_fds;		/* per area: its directory on the log volume,
				   for sv_seal_logs(); -1 but for log areas */
	int seal_warned;	/* a failed seal was logged once */
	struct id_claim ids;	/* jails: the slices of host ids we hold */
	const char *listen_addr;
};

/* Everything before serving: manifest, mounts, cgroups, filter, socket. */
int supervisor_open(struct supervisor *sv, const struct options *o,
		    struct error *e);
void supervisor_close(struct supervisor *sv);

/* Serves until SIGTERM (or SIGINT), then drains. Returns the exit status. */
int supervisor_serve(struct supervisor *sv);
/*
 * VM images, in imgsupd-vm only (vmserve.c): after supervisor_open(),
 * vm_attach() connects to libvirt (signals are blocked by then, before
 * libvirt starts its threads); vm_serve() is the serving loop; vm_detach()
 * comes before supervisor_close().
 */
int vm_attach(struct supervisor *sv, struct error *e);
int vm_serve(struct supervisor *sv);
void vm_detach(struct supervisor *sv);

/*
 * Seals the log areas (seal.h): what ended instances wrote becomes
 * append-only. At start and after each instance that served; a seal that
 * fails or stops at its bounds is logged once, as event=warning.
 */
void sv_seal_logs(struct supervisor *sv);

/* Whether the manifest has log or state areas, which live on the log volume. */
int sv_needs_logs(const struct manifest *m);
/* Whether a libvirt URI names another host: then it shares no files with us. */
int sv_remote_uri(const char *uri);
/*
 * imgtool run (run.c): one instance, relayed to fds 0 to 2 through a pty
 * of its own (stdin a terminal) or pipes; SIGINT, SIGTERM, SIGHUP and the
 * wall limit end it. Returns its exit status, 128 + N for signal N, 124
 * past the wall limit.
 */
int supervisor_run_once(struct supervisor *sv);

/*
 * Accepts one connection from the listening socket (SOCK_CLOEXEC and
 * flags), with its remote and local addresses. -1 when none waits; other
 * errors than the transient ones are logged.
 */
int sv_accept(struct supervisor *sv, int flags, struct sockaddr_storage *remote,
	      struct sockaddr_storage *local);

/* Closes the listening socket (draining): no connection is accepted after. */
void sv_close_listener(struct supervisor *sv);

/*
 * The line that ends every instance, jail or VM (pool_ended): client ""
 * when none, status like "exit:0" or "signal:9" (or "-"), reason why it
 * ended.
 */
void sv_log_end(unsigned long id, const char *client, const char *port,
		enum recycle recycle, unsigned served, uint64_t duration_ms,
		const char *status, const char *reason);

/* Logs one key=value line on stderr. */
void sv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
