/*
 * setup.c - everything imgsupd does before serving (see supervisor.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imagefile.h"
#include "landlock.h"
#include "seal.h"
#include "supervisor.h"
#include "volume.h"

#define DEFAULT_POOL 4
#define DEFAULT_VM_POOL 1	/* a booted VM costs its memory while it waits */
#define LISTEN_BACKLOG 256

void sv_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so that lines never interleave. */
	dprintf(STDERR_FILENO, "imgsupd: %s\n", line);
}

void sv_log_end(unsigned long id, const char *client, const char *port,
		enum recycle recycle, unsigned served, uint64_t duration_ms,
		const char *status, const char *reason)
{
	sv_log("event=end instance=%lu client=%s%s%s recycle=%s served=%u "
	       "duration_ms=%llu status=%s reason=%s", id,
	       client[0] ? client : "-", client[0] ? ":" : "", port,
	       recycle_name(recycle), served, (unsigned long long)duration_ms,
	       status, reason);
}

int sv_accept(struct supervisor *sv, int flags, struct sockaddr_storage *remote,
	      struct sockaddr_storage *local)
{
	socklen_t rl = sizeof(*remote), ll = sizeof(*local);
	int fd = accept4(sv->listen_fd, (struct sockaddr *)remote, &rl,
			 SOCK_CLOEXEC | flags);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			sv_log("event=error what=accept error=\"%s\"", strerror(errno));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)local, &ll) < 0)
		memset(local, 0, sizeof(*local));
	return fd;
}

/*
 * Out of the epoll set first: epoll forgets a socket only when its last
 * descriptor closes, and a cloned instance may still hold a copy. (The
 * VMs' loop never added it: that removal fails, harmlessly.)
 */
void sv_close_listener(struct supervisor *sv)
{
	if (sv->listen_fd < 0)
		return;
	if (sv->epoll_fd >= 0)
		epoll_ctl(sv->epoll_fd, EPOLL_CTL_DEL, sv->listen_fd, NULL);
	close(sv->listen_fd);
	sv->listen_fd = -1;
}

/*
 * The manifest beside the image, and the image's digest checked against it.
 * A build killed during its install leaves the complete previous image
 * beside its manifest under a leftover name (image_locate): that one is
 * served, and said so, until the next build puts things right.
 */
static int load_manifest(struct supervisor *sv, struct error *e)
{
	const char *image = sv->o->image;
	char *path = image_manifest_path(image);
	int rc = 0, leftover;

	sv->format = image_format(image);
	if (!sv->format)
		rc = error_bad(e, "%s: not an image (erofs, squashfs, tree, qcow2 "
			       "or raw)", image);
	else if (!(sv->m = manifest_load(path, e)))
		rc = -1;
	else if (!sv->m->service.present)
		rc = error_bad(e, "%s: the recipe has no <service>", path);
	/* A VM's disk, kernel and initramfs are checked by vm_host_open(). */
	else if (sv->format & FORMAT_VM)
		sv->image = xstrdup(image);
	/* A changed image is refused: it is not what was built. */
	else if (!(sv->image = image_locate(image, sv->m, &leftover, e)))
		rc = -1;
	else if (leftover)
		sv_log("event=warning what=image file=%s message=\"does not match "
		       "%s (a build was killed before its manifest was in place); "
		       "serving the previous image, complete at %s; build again\"",
		       image, path, sv->image);
	free(path);
	return rc;
}

static void choose_limits(struct supervisor *sv)
{
	const struct service *s = &sv->m->service;
	const struct options *o = sv->o;

	sv->max = o->max ? o->max : s->max_instances ? s->max_instances : 64;
	sv->per_client = o->per_client ? o->per_client :
			 s->per_client ? s->per_client : sv->max;
	sv->pool = o->pool_given ? o->pool : s->pool ? s->pool :
		   sv->format & FORMAT_VM ? DEFAULT_VM_POOL : DEFAULT_POOL;
	if (sv->pool > sv->max)
		sv->pool = sv->max;
	if (o->run)
		sv->pool = 0;
	sv->listen_addr = o->listen ? o->listen : s->listen;
}

/*
 * The tag ("NAME.PID") of the run directory that a command line names, if
 * its supervisor is gone.
 */
static int names_dead_run_dir(const char *cmdline, size_t len)
{
	static const char prefix[] = RUN_DIR "/";

	for (size_t i = 0; i + sizeof(prefix) <= len; i++) {
		char tag[256];
		size_t n = 0;
		pid_t pid;

		if (memcmp(cmdline + i, prefix, sizeof(prefix) - 1))
			continue;
		for (size_t k = i + sizeof(prefix) - 1; k < len && n < sizeof(tag) - 1 &&
		     cmdline[k] && cmdline[k] != '/' && cmdline[k] != ','; k++)
			tag[n++] = cmdline[k];
		tag[n] = '\0';
		pid = tag_pid(tag);
		if (pid && !pid_running(pid))
			return 1;
	}
	return 0;
}

/*
 * qemu and virtiofsd outlive a supervisor killed by SIGKILL: libvirt starts
 * them as daemons. Their command lines name the dead supervisor's run
 * directory (the disk overlay, the shared log directory); they are killed
 * before that directory is removed.
 */
static void kill_dead_vms(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		char *path, *cmdline = NULL;
		size_t len;

		if (pid <= 1 || pid == getpid())
			continue;
		path = xasprintf("/proc/%d/cmdline", pid);
		if (read_file(path, 1 << 20, &cmdline, &len, NULL) == 0 &&
		    names_dead_run_dir(cmdline, len))
			kill(pid, SIGKILL);
		free(cmdline);
		free(path);
	}
	if (d)
		closedir(d);
}

/*
 * A mount namespace of our own, with every mount private: what we mount is
 * invisible outside and gone when we are; and instances, cloned from it,
 * need no propagation change of their own.
 */
/*
 * The one exception: VMs of a local libvirtd (--connect). Its qemu and virtiofsd
 * live in the host's mount namespace and must see the log volume mounted,
 * so that mount is made there, and removed by the next start if we die.
 */
static int shares_mounts(const struct supervisor *sv)
{
	return (sv->format & FORMAT_VM) && sv->o->connect &&
	       !sv_remote_uri(sv->o->connect);
}

int sv_remote_uri(const char *uri)
{
	const char *host = uri ? strstr(uri, "://") : NULL;

	/* "qemu:///system", "qemu+unix:///system": no host, this machine. */
	return host && host[3] && host[3] != '/';
}

/* The log mount of a supervisor that shared it and died, before its directory goes. */
static void unmount_logs(const char *run_dir)
{
	char *logs = xasprintf("%s/logs", run_dir);

	umount2(logs, MNT_DETACH);
	free(logs);
}

static int private_mounts(struct supervisor *sv, struct error *e)
{
	if (!shares_mounts(sv)) {
		if (unshare(CLONE_NEWNS) < 0)
			return error_errno(e, "unshare mount namespace");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			return error_errno(e, "make mounts private");
	}
	if (mkdir_p(RUN_DIR, 0700) < 0)
		return error_errno(e, "%s", RUN_DIR);
	kill_dead_vms();
	remove_dead_tags(RUN_DIR, "", unmount_logs);	/* of supervisors that died */
	sv->run_dir = xasprintf("%s/%s.%ld", RUN_DIR, sv->m->name, (long)getpid());
	sv->root_dir = xasprintf("%s/root", sv->run_dir);
	sv->logs_dir = xasprintf("%s/logs", sv->run_dir);
	if (mkdir(sv->run_dir, 0700) < 0 || mkdir(sv->root_dir, 0755) < 0 ||
	    mkdir(sv->logs_dir, 0755) < 0)
		return error_errno(e, "%s", sv->run_dir);
	return 0;
}

int sv_needs_logs(const struct manifest *m)
{
	for (size_t i = 0; i < m->n_writables; i++)
		if (m->writables[i].kind != WRITABLE_SCRATCH)
			return 1;
	return 0;
}

/* The log volume is ours alone on this host from here on (volume_lock). */
static int lock_logs(struct supervisor *sv, struct error *e)
{
	char *logs;

	if (!sv_needs_logs(sv->m) || sv->logs_lock >= 0)
		return 0;
	logs = image_logs_path(sv->o->image, sv->m);
	if (!logs)
		return error_bad(e, "%s: the manifest names no log volume", sv->o->image);
	if (access(logs, F_OK) < 0)
		error_set(e, "%s: log volume missing; imgtool build stamps it", logs);
	else
		sv->logs_lock = volume_lock(logs, e);
	free(logs);
	return sv->logs_lock < 0 ? -1 : 0;
}

static int mount_logs(struct supervisor *sv, struct error *e)
{
	char *logs;
	int rc;

	if (!sv_needs_logs(sv->m))
		return 0;
	if (lock_logs(sv, e) < 0)
		return -1;
	logs = image_logs_path(sv->o->image, sv->m);
	rc = volume_mount_logs(logs, sv->logs_dir, e);
	free(logs);
	return rc;
}

/* Swaps what the supervisor runs (service, users, areas) between a and b. */
static void swap_spec(struct manifest *a, struct manifest *b)
{
	struct service s = a->service;
	struct user *u = a->users;
	struct writable *w = a->writables;
	size_t nu = a->n_users, nw = a->n_writables;

	a->service = b->service;
	a->users = b->users;
	a->n_users = b->n_users;
	a->writables = b->writables;
	a->n_writables = b->n_writables;
	b->service = s;
	b->users = u;
	b->n_users = nu;
	b->writables = w;
	b->n_writables = nw;
}

/*
 * The image's own manifest decides what runs. The one beside it is not
 * covered by the image's digest (it holds it), so anyone who can write
 * it could change the service; it must agree with the image's, and from
 * here on the image's service, users and areas are used. The image is
 * untrusted too: the file is read below the mounted root without
 * following any link, and bounded.
 */
static int own_manifest(struct supervisor *sv, struct error *e)
{
	char *name = xasprintf("%s:" MANIFEST_IMAGE_PATH, sv->o->image);
	char *path = image_manifest_path(sv->o->image);
	struct manifest *in = NULL;
	char *data = NULL, *diff = NULL;
	size_t len;
	int rc = -1;

	if (read_file_beneath(sv->root_dir, MANIFEST_IMAGE_PATH + 1,
			      MANIFEST_MAX_BYTES, &data, &len, e) < 0) {
		char why[ERROR_MAX];

		memcpy(why, e->msg, sizeof(why));
		error_bad(e, "%s: the image has no manifest of its own (%s)",
			  sv->o->image, why);
	} else if (!(in = manifest_parse(data, len, name, e))) {
		rc = -1;	/* e names the image's manifest */
	} else if ((diff = manifest_spec_diff(sv->m, in)))
		error_bad(e, "%s: %s; rebuild the image, or run imgtool verify",
			  path, diff);
	else {
		swap_spec(sv->m, in);
		rc = 0;
	}
	manifest_free(in);
	free(diff);
	free(data);
	free(name);
	free(path);
	return rc;
}

static int mount_volumes(struct supervisor *sv, struct error *e)
{
	if (volume_mount_image(sv->image, sv->format, sv->root_dir, e) < 0 ||
	    own_manifest(sv, e) < 0)
		return -1;
	return mount_logs(sv, e);
}


/*
 * The jails' areas. Each is opened (and mended, if need be) here as an
 * instance opens it (jail_open_area()): a log area's descriptor is kept to
 * seal it, and what was mended is logged once at start; every instance
 * opens its areas again, beneath the volume, whatever changed meanwhile.
 */
static int make_areas(struct supervisor *sv, struct error *e)
{
	char note[512], err[JAIL_ERR_MAX];
	int logs = -1, rc = 0;

	sv->areas = xcalloc(sv->m->n_writables, sizeof(*sv->areas));
	sv->seal_fds = xcalloc(sv->m->n_writables, sizeof(*sv->seal_fds));
	for (size_t i = 0; i < sv->m->n_writables; i++)
		sv->seal_fds[i] = -1;
	for (size_t i = 0; i < sv->m->n_writables; i++) {
		const struct writable *w = &sv->m->writables[i];
		struct jail_area *a = &sv->areas[i];
		int fd;

		a->path = w->path;
		a->kind = w->kind;
		a->size = w->size;
		a->uid = w->uid;
		a->gid = w->gid;
		a->mode = w->mode;
		if (w->kind == WRITABLE_SCRATCH)
			continue;
		a->source = xasprintf("%s%s", sv->logs_dir, w->path);
		if (logs < 0 && (logs = open(sv->logs_dir, O_PATH | O_DIRECTORY |
					     O_NOFOLLOW | O_CLOEXEC)) < 0) {
			rc = error_errno(e, "log volume %s", sv->logs_dir);
			break;
		}
		note[0] = err[0] = '\0';
		if ((fd = jail_open_area(logs, a, note, sizeof(note), err,
					 sizeof(err))) < 0) {
			rc = error_bad(e, "log volume: %s", err);
			break;
		}
		if (note[0])
			sv_log("event=warning what=area area=%s warning=\"%s\"",
			       w->path, note);
		/* Its parents are root's: an instance cannot swap it. */
		if (w->kind == WRITABLE_LOG &&
		    (sv->seal_fds[i] = openat(fd, ".", O_RDONLY | O_DIRECTORY |
					      O_CLOEXEC)) < 0)
			rc = error_errno(e, "log volume: %s", w->path);
		close(fd);
		if (rc < 0)
			break;
	}
	if (logs >= 0)
		close(logs);
	return rc;
}

void sv_seal_logs(struct supervisor *sv)
{
	for (size_t i = 0; sv->seal_fds && i < sv->m->n_writables; i++) {
		struct seal_walk w;

		if (sv->seal_fds[i] < 0)
			continue;
		seal_tree(sv->seal_fds[i], &w);
		if ((w.error || w.truncated) && !sv->seal_warned) {
			sv_log("event=warning what=seal area=%s error=\"%s\"",
			       sv->m->writables[i].path, w.error ?
			       strerror(w.error) : "more entries or levels than "
			       "one walk looks at; some are not sealed");
			sv->seal_warned = 1;
		}
	}
}

static const struct user *service_user(const struct manifest *m)
{
	for (size_t i = 0; i < m->n_users; i++)
		if (m->users[i].uid == m->service.uid)
			return &m->users[i];
	return NULL;
}

/*
 * What this kernel lacks of the instance's walls, said once at start: the
 * instances start without it (docs/security.md says what each adds).
 */
static void warn_kernel_gaps(void)
{
	if (!landlock_abi())
		sv_log("event=warning what=landlock message=\"this kernel has no "
		       "Landlock (too old, or not in lsm= at boot): instances "
		       "start without it\"");
	if (!jail_has_memfd_noexec())
		sv_log("event=warning what=memfd_noexec message=\"this kernel has "
		       "no vm.memfd_noexec (before 6.3): an instance's memfds "
		       "stay executable\"");
}

/*
 * Our cgroups, after removing those of dead supervisors and killing what
 * is left in them. Between locking the log volume and mounting it: the
 * instances of a predecessor that died by SIGKILL are gone only once their
 * parent-death signal has done its work, and each holds the volume's old
 * mount until then; the kill waits for their groups to empty.
 */
static int setup_cgroups(struct supervisor *sv, struct error *e)
{
	char tag[128];

	snprintf(tag, sizeof(tag), "%s.%ld", sv->m->name, (long)getpid());
	return cgroup_setup(&sv->cgroups, NULL, tag, e);
}

/*
 * The slices of host ids our instances run as (userns.h), claimed host
 * wide for our life: one for each instance that can be alive at once
 * (busy, prepared, and a few killed but not yet reaped; a spawn that finds
 * none free fails as a failed clone would and is tried again).
 */
static int claim_ids(struct supervisor *sv, struct error *e)
{
	struct id_range r;
	uint64_t n = sv->o->run ? 1 : sv->max + sv->pool + 4;

	if (sv->o->id_range ? id_range_parse(sv->o->id_range, &r, e) < 0 :
	    id_range_default(&r, e) < 0)
		return -1;
	if (n > r.slices)
		n = r.slices;
	if (id_claim(&r, (uint32_t)n, RUN_DIR "/ids.lock", &sv->ids, e) < 0)
		return -1;
	sv->cfg.ids = &sv->ids;
	return 0;
}

static int make_config(struct supervisor *sv, struct error *e)
{
	const struct service *s = &sv->m->service;
	const struct user *u = service_user(sv->m);
	struct instance_config *c = &sv->cfg;

	if (launch_plan(&c->plan, s, sv->m->writables, sv->m->n_writables,
			u ? u->home : NULL,
			sv->o->run ? sv->o->command : NULL,
			sv->o->run ? getenv("TERM") : NULL, e) < 0 ||
	    seccomp_compile(s, &c->plan.filter, e) < 0 || make_areas(sv, e) < 0 ||
	    claim_ids(sv, e) < 0)
		return -1;
	c->plan.keep_stdio = sv->o->run;
	warn_kernel_gaps();
	c->jail.image = sv->root_dir;
	c->jail.logs = sv->logs_dir;
	c->jail.hostname = sv->m->name;
	c->jail.areas = sv->areas;
	c->jail.n_areas = sv->m->n_writables;
	/* none: a network namespace with lo down; loopback: lo up; host: none */
	c->jail.loopback = s->network == NETWORK_HOST ? -1 :
			   s->network == NETWORK_LOOPBACK ? 1 : 0;
	c->recycle = s->recycle;
	c->cgroups = &sv->cgroups;
	c->memory = s->limits.memory;
	c->pids = s->limits.pids;
	c->run = sv->o->run;
	return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080". */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t n;

	if (!colon || parse_uint(colon + 1, 1, 65535, &port) < 0)
		return -1;
	n = (size_t)(colon - s);
	if (n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		struct sockaddr_in6 *a = (void *)ss;

		host[n - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
	}
	{
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
	}
}

static int open_listener(struct supervisor *sv, struct error *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (!sv->listen_addr)
		return error_set(e, "no address to listen on: give --listen ADDR:PORT");
	if (parse_listen(sv->listen_addr, &ss, &len) < 0)
		return error_set(e, "--listen: \"%s\" is not ADDR:PORT", sv->listen_addr);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_errno(e, "socket");
	sv->listen_fd = fd;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0)
		return error_errno(e, "listen on %s", sv->listen_addr);
	return 0;
}

static int open_events(struct supervisor *sv, struct error *e)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sv->o->run)
		sigaddset(&mask, SIGWINCH);	/* the pty follows the terminal */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return error_errno(e, "sigprocmask");
	sv->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sv->signal_fd < 0)
		return error_errno(e, "signalfd");
	sv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->epoll_fd < 0)
		return error_errno(e, "epoll_create1");
	/* Children do not inherit a closed pipe's SIGPIPE as death. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int supervisor_open(struct supervisor *sv, const struct options *o,
		    struct error *e)
{
	memset(sv, 0, sizeof(*sv));
	sv->o = o;
	sv->listen_fd = sv->signal_fd = sv->epoll_fd = sv->logs_lock = -1;
	sv->ids.fd = -1;
	if (load_manifest(sv, e) < 0)
		return -1;
	if (o->pool_given && !o->pool && !(sv->format & FORMAT_VM))
		return error_set(e, "--pool 0 is for VM images (a boot per session); "
				 "a jail needs at least 1");
	choose_limits(sv);
	if (private_mounts(sv, e) < 0)
		return -1;
	if (sv->format & FORMAT_VM) {
		/* The rest is vm_attach()'s, in imgsupd-vm. */
		if (mount_logs(sv, e) < 0 || open_events(sv, e) < 0)
			return -1;
	} else if (lock_logs(sv, e) < 0 || setup_cgroups(sv, e) < 0 ||
		   mount_volumes(sv, e) < 0 || make_config(sv, e) < 0 ||
		   open_events(sv, e) < 0) {
		return -1;
	} else {
		/* What instances of earlier supervisors left. */
		sv_seal_logs(sv);
	}
	if (!o->run && open_listener(sv, e) < 0)
		return -1;
	return 0;
}

void supervisor_close(struct supervisor *sv)
{
	if (sv->listen_fd >= 0)
		close(sv->listen_fd);
	if (sv->signal_fd >= 0)
		close(sv->signal_fd);
	if (sv->epoll_fd >= 0)
		close(sv->epoll_fd);

	if (sv->root_dir) {
		umount2(sv->root_dir, MNT_DETACH);
		umount2(sv->logs_dir, MNT_DETACH);
		remove_tree(sv->run_dir);
	}
	/* Only once it is unmounted may another supervisor mount it. */
	if (sv->logs_lock >= 0)
		close(sv->logs_lock);
	cgroup_teardown(&sv->cgroups);
	id_claim_free(&sv->ids);
	seccomp_prog_free(&sv->cfg.plan.filter);
	for (size_t i = 0; sv->areas && i < sv->m->n_writables; i++)
		free((char *)sv->areas[i].source);
	for (size_t i = 0; sv->seal_fds && i < sv->m->n_writables; i++)
		if (sv->seal_fds[i] >= 0)
			close(sv->seal_fds[i]);
	free(sv->seal_fds);
	free(sv->areas);
	launch_free(&sv->cfg.plan);
	free(sv->run_dir);
	free(sv->root_dir);
	free(sv->logs_dir);
	free(sv->image);
	manifest_free(sv->m);
}
