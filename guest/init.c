/*
 * init.c - the guest init of VM images: PID 1 of every VM.
 *
 * The kernel starts it from the initramfs the builder made (builder/vmimage.c):
 *
 *	/init			this program, static
 *	/imgtool/spec		the service spec (runtime/guestspec.h)
 *	/imgtool/seccomp.bpf	the compiled filter, raw struct sock_filter[]
 *	/imgtool/modules/NN-*.ko	kernel modules, loaded in name order
 *
 * It then does what imgsupd does for a jail, inside the VM:
 *  1. mounts /dev, /proc and /sys, and opens the console for messages;
 *  2. loads the modules (virtio, the disk, the serial port, erofs, virtiofs);
 *  3. waits (at most WAIT_MS) for the root disk /dev/vda1 and the channel
 *     port (runtime/channel.h), and for /dev/vdb when it holds the logs;
 *  4. mounts the image (erofs on /dev/vda1, read-only) and the log volume
 *     (virtiofs "imgtool-logs", when the service has log or state areas;
 *     or, with GUEST_LOGS_DISK on the command line, the ext4 disk /dev/vdb
 *     of this VM's own: supervisor/logsync.h) on a tmpfs, and makes that tmpfs the root: pivot_root refuses the
 *     initramfs, which has no parent mount, but a mount moved on top of it
 *     is an ordinary mount;
 *  5. clones the instance into new namespaces, in a cgroup with the
 *     service's limits: jail_enter() (runtime/jail.c) with the image and the
 *     log volume's directories, exactly as in a jail. For each connection
 *     the instance forks the service and carries out the launch plan
 *     (runtime/launch.h): launch_drop(), stdio, workdir, the seccomp
 *     filter, execve;
 *  6. sends 'R' and relays connections between the channel and the
 *     service. recycle="connection" powers the VM off after the first
 *     connection; "session" waits for the next one;
 *  7. on any failure: the message on the console and, when the host is
 *     connected, in an 'L' frame; then power off. PID 1 never exits: the
 *     kernel would panic.
 *
 * The init and the instance speak runtime/control.h over a SOCK_SEQPACKET
 * pair, as imgsupd and a jail do:
 *   init to instance: CTL_CONN + the extra environment, with the service's
 *                     end of its stdio socket; CTL_KILL
 *   instance to init: CTL_READY; CTL_ERROR + a text; CTL_EXITED + "exit=N" or
 *                     "signal=N" when the service ended
 *
 * Static, linking libc only: no libxml2, no libseccomp, no libcrypto (see
 * the GNUmakefile). No stdio: messages are formatted with snprintf and
 * written whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "channel.h"
#include "control.h"
#include "guestspec.h"
#include "jail.h"
#include "landlock.h"
#include "launch.h"
#include "seccomp.h"

#define SPEC_PATH "/imgtool/spec"
#define FILTER_PATH "/imgtool/seccomp.bpf"
#define MODULES_DIR "/imgtool/modules"
#define ROOT_DEV "/dev/vda1"
#define LOGS_TAG "imgtool-logs"
#define LOGS_DEV "/dev/vdb"	/* instead, with GUEST_LOGS_DISK */
#define CGROUP_DIR "/sys/fs/cgroup/instance"
#define WAIT_MS 10000		/* for the disk and the port to appear */
#define LOG_WAIT_MS 2000	/* for the host to take an 'L' frame */
#define TOSVC_MAX (4 * CHANNEL_PAYLOAD_MAX)	/* client bytes not yet read */
#define DRAIN_MAX 64		/* reads after the service ended */
#define MSG_MAX 512

static int port_fd = -1;	/* the channel, once found */

/* ---- messages and the end ---------------------------------------------- */

/* One line on the console (fd 2), written whole. */
static void console(const char *msg)
{
	char line[MSG_MAX + 32];
	int n = snprintf(line, sizeof(line), "imgtool-init: %s\n", msg);

	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to tell */
	}
}

/* An 'L' frame, if the host takes it within LOG_WAIT_MS. */
static void log_frame(const char *msg)
{
	struct pollfd p = { .fd = port_fd, .events = POLLOUT };

	if (port_fd >= 0 && poll(&p, 1, LOG_WAIT_MS) == 1 && (p.revents & POLLOUT))
		channel_send(port_fd, CH_LOG, msg, strlen(msg));
}

static __attribute__((noreturn)) void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Only a kernel without power-off support gets here: wait, not exit. */
	console("power off failed; halting");
	for (;;)
		pause();
}

static __attribute__((noreturn, format(printf, 1, 2))) void fatal(const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	console(msg);
	log_frame(msg);
	power_off();
}

/* The text of errno, for fatal("... %s", oops()). */
static const char *oops(void)
{
	return strerror(errno);
}

/* ---- small checked helpers --------------------------------------------- */

static void do_mount(const char *src, const char *dst, const char *type,
		     unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		fatal("mount %s on %s: %s", type ? type : src, dst, oops());
}

static void make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		fatal("mkdir %s: %s", path, oops());
}

/* Reads a whole file of at most max bytes into a malloc'd buffer. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	struct stat st;
	char *data;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		fatal("%s: %s", path, oops());
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		fatal("%s: not a regular file of at most %zu bytes", path, max);
	if (!(data = malloc((size_t)st.st_size + 1)))
		fatal("%s: out of memory", path);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal("read %s: %s", path, n ? oops() : "cut short");
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	*len = got;
	return data;
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		fatal("write %s to %s: %s", text, path, oops());
	close(fd);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- steps 1 to 4: the VM's own setup ---------------------------------- */

static void early_mounts(void)
{
	int fd;

	/* Nothing is open yet: the initramfs has no /dev/console for the
	 * kernel to give us. */
	do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		power_off();	/* nowhere to say why */
	if (fd > 2)
		close(fd);
	do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static int is_module(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 3 && !strcmp(d->d_name + n - 3, ".ko");
}

/* The builder numbered them in dependency order: name order is load order. */
static void load_modules(void)
{
	struct dirent **list;
	char path[512];
	int n = scandir(MODULES_DIR, &list, is_module, alphasort);

	if (n < 0)
		fatal("%s: %s", MODULES_DIR, oops());
	for (int i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", MODULES_DIR, list[i]->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			fatal("%s: %s", path, oops());
		/* EEXIST: built into this kernel, or already loaded. */
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			fatal("load module %s: %s", path, oops());
		close(fd);
		free(list[i]);
	}
	free(list);
}

/* The /dev name of the virtio-serial port called CHANNEL_PORT_NAME, if any. */
static int find_port(char *dev, size_t n)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;	/* virtio_console has not probed yet */
	while (!found && (e = readdir(d))) {
		char path[512], name[64] = "";
		ssize_t len;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (len <= 0)
			continue;
		name[len] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, CHANNEL_PORT_NAME)) {
			snprintf(dev, n, "/dev/%s", e->d_name);
			found = 1;
		}
	}
	closedir(d);
	return found && access(dev, F_OK) == 0;
}

/*
 * Whether the host gave the log and state areas a disk (GUEST_LOGS_DISK on
 * the kernel's command line) rather than the virtiofs share.
 */
static int logs_on_disk(void)
{
	char line[4096], *save = NULL;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, line, sizeof(line) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	for (char *w = strtok_r(line, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
		if (!strcmp(w, GUEST_LOGS_DISK))
			return 1;
	return 0;
}

/*
 * The devices probe asynchronously after the modules load. The port opens
 * as soon as it is there, so that a missing disk can still be told in an
 * 'L' frame.
 */
static void wait_devices(int logs_disk)
{
	uint64_t end = now_ms() + WAIT_MS;
	char dev[300];
	int disk = 0;

	for (;;) {
		disk = disk || (access(ROOT_DEV, F_OK) == 0 &&
				(!logs_disk || access(LOGS_DEV, F_OK) == 0));
		if (port_fd < 0 && find_port(dev, sizeof(dev)) &&
		    (port_fd = open(dev, O_RDWR | O_CLOEXEC)) < 0)
			fatal("open %s: %s", dev, oops());
		if (disk && port_fd >= 0)
			return;
		if (now_ms() > end)
			fatal("no %s after %d s", !disk ? ROOT_DEV " (the root disk) or "
			      LOGS_DEV " (the log disk)" :
			      "virtio-serial port " CHANNEL_PORT_NAME, WAIT_MS / 1000);
		sleep_ms(20);
	}
}

static int needs_logs(const struct guest_spec *gs)
{
	for (size_t i = 0; i < gs->n_areas; i++)
		if (gs->areas[i].kind != WRITABLE_SCRATCH)
			return 1;
	return 0;
}

/*
 * The new root: a small tmpfs holding the image at /root, the log volume at
 * /logs and the VM's /dev, /proc and /sys, moved onto / (switch_root's way).
 */
static void switch_root(const struct guest_spec *gs, int logs_disk)
{
	static const char *const keep[] = { "dev", "proc", "sys" };
	char from[16], to[32];

	do_mount("tmpfs", "/stage", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		 "mode=0755,size=64k");
	make_dir("/stage/root", 0755);
	make_dir("/stage/logs", 0755);
	/* The image is read-only and holds no devices or setuid files. */
	do_mount(ROOT_DEV, "/stage/root", "erofs", MS_RDONLY | MS_NODEV | MS_NOSUID,
		 NULL);
	/*
	 * Synchronous: the host destroys this VM without warning, and reads
	 * the disk afterwards (supervisor/logsync.h).
	 */
	if (needs_logs(gs) && logs_disk)
		do_mount(LOGS_DEV, "/stage/logs", "ext4", MS_NOSUID | MS_NODEV |
			 MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC, NULL);
	else if (needs_logs(gs))
		do_mount(LOGS_TAG, "/stage/logs", "virtiofs",
			 MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		snprintf(from, sizeof(from), "/%s", keep[i]);
		snprintf(to, sizeof(to), "/stage/%s", keep[i]);
		make_dir(to, 0755);
		do_mount(from, to, NULL, MS_MOVE, NULL);
	}
	if (chdir("/stage") < 0)
		fatal("chdir /stage: %s", oops());
	do_mount(".", "/", NULL, MS_MOVE, NULL);
	if (chroot(".") < 0 || chdir("/") < 0)
		fatal("chroot /stage: %s", oops());
	/* Instances pivot: that needs mounts that propagate nowhere. */
	do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/*
 * Reads the service's program into the page cache before the VM reports
 * ready. Under TCG every first read from the virtio disk is slow: without
 * this, the first connection of each VM waited about 60 ms longer than the
 * next ones (bench/vm.sh), and the pool exists so that nobody waits for
 * the boot. Best effort: a program that cannot be read now fails at exec.
 * RESOLVE_IN_ROOT: the image's own symlinks resolve inside the image.
 */
static void warm_up(const char *program)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT };
	static char buf[64 << 10];
	int root = open("/root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd;

	if (root < 0)
		return;
	fd = (int)syscall(SYS_openat2, root, program + 1, &how, sizeof(how));
	close(root);
	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/* cgroup v2, the instance's group with the service's memory and pids limits. */
static void make_cgroup(const struct limits *l)
{
	char num[32];

	do_mount("cgroup2", "/sys/fs/cgroup", "cgroup2",
		 MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	write_text("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids");
	make_dir(CGROUP_DIR, 0755);
	if (l->memory) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)l->memory);
		write_text(CGROUP_DIR "/memory.max", num);
		/* As in a jail: an out-of-memory kill takes the whole instance. */
		write_text(CGROUP_DIR "/memory.oom.group", "1");
	}
	if (l->pids) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)l->pids);
		write_text(CGROUP_DIR "/pids.max", num);
	}
}

static struct seccomp_prog load_filter(void)
{
	struct seccomp_prog p;
	size_t len;
	char *data = slurp(FILTER_PATH, BPF_MAXINSNS * sizeof(struct sock_filter), &len);

	if (len == 0 || len % sizeof(struct sock_filter))
		fatal("%s: not a compiled filter (%zu bytes)", FILTER_PATH, len);
	p.filter = (struct sock_filter *)(void *)data;
	p.len = (unsigned short)(len / sizeof(struct sock_filter));
	return p;
}

/*
 * What the guest's kernel lacks of the instance's walls, on the console
 * and to the host: the instance starts without it, as a jail's does.
 */
static void warn_kernel_gaps(void)
{
	static const char *const gaps[] = {
		"this kernel has no Landlock (too old, or not in lsm= at boot): "
		"the instance starts without it",
		"this kernel has no vm.memfd_noexec (before 6.3): the instance's "
		"memfds stay executable",
	};
	int lacks[] = { !landlock_abi(), !jail_has_memfd_noexec() };

	for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
		if (!lacks[i])
			continue;
		console(gaps[i]);
		log_frame(gaps[i]);
	}
}

/* ---- step 5: the instance ---------------------------------------------- */

struct guest_instance {
	const struct guest_spec *gs;
	struct launch plan;	/* with the filter from the initramfs */
	struct jail_spec jail;
	struct jail_area areas[SPEC_MAX_WRITABLES];
	char sources[SPEC_MAX_WRITABLES][PATH_MAX];
	int ctl;
};

static __attribute__((noreturn)) void die(int ctl, const char *what)
{
	char err[CTL_TEXT_MAX];

	snprintf(err, sizeof(err), "%s: %s", what, oops());
	ctl_tell(ctl, CTL_ERROR, err);
	_exit(125);
}

/* A service process: the launch plan, as in a jail, dropping first. */
static __attribute__((noreturn)) void run_service(struct guest_instance *in, int fd,
						  const char *extra, size_t len)
{
	struct launch_io io = { .conn = fd, .listen_fd = -1, .extra = extra,
				.extra_len = len };
	int keep[] = { fd, in->ctl, in->plan.stderr_fd, -1 };
	char err[LAUNCH_ERR_MAX];

	if (launch_drop(&in->plan, keep, err, sizeof(err)) < 0) {
		ctl_tell(in->ctl, CTL_ERROR, err);
		_exit(125);
	}
	launch_exec(&in->plan, &io, in->ctl);
}

/* One message from the init: CTL_CONN with a descriptor, or CTL_KILL. 0 at its end. */
static int instance_request(struct guest_instance *in, pid_t *service)
{
	static char buf[CTL_PAYLOAD_MAX + 1];
	enum ctl_type type;
	size_t len;
	int fd;

	if (ctl_recv(in->ctl, 0, &type, buf, sizeof(buf), &len, &fd) != 1)
		return 0;
	if (type == CTL_KILL) {
		if (fd >= 0)
			close(fd);
		/* From PID 1 of the namespace: every process in it but us. */
		if (*service && kill(-1, SIGKILL) < 0 && errno != ESRCH)
			die(in->ctl, "kill");
		return 1;
	}
	if (type != CTL_CONN || fd < 0 || *service)
		_exit(124);	/* not the init's: cannot happen */
	*service = fork();
	if (*service < 0)
		die(in->ctl, "fork");
	if (*service == 0)
		run_service(in, fd, buf, len);
	close(fd);
	return 1;
}

/*
 * PID 1 of the instance's PID namespace: it stays root, in the jail's
 * mounts, and forks one service per connection, reaping it (and any orphan
 * of it) and telling the init when the service ends.
 */
static __attribute__((noreturn)) void instance_main(struct guest_instance *in)
{
	char err[JAIL_ERR_MAX], note[CTL_TEXT_MAX], more[CTL_TEXT_MAX];
	pid_t service = 0;
	sigset_t mask;
	int sfd;

	if (access(CGROUP_DIR, F_OK) == 0) {
		int fd = open(CGROUP_DIR "/cgroup.procs", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			die(in->ctl, "join the cgroup");
		close(fd);
		if (unshare(CLONE_NEWCGROUP) < 0)
			die(in->ctl, "unshare cgroup namespace");
	}
	/* What the areas needed mended and what the stderr file did, both
	 * for the host's log (the init sends them on). */
	if (jail_enter(&in->jail, note, sizeof(note), err, sizeof(err)) < 0) {
		ctl_tell(in->ctl, CTL_ERROR, err);
		_exit(125);
	}
	launch_open_stderr(&in->plan, more, sizeof(more));
	if (more[0])
		note_add(note, sizeof(note), "%s", more);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		die(in->ctl, "signalfd");
	ctl_tell(in->ctl, CTL_READY, note[0] ? note : NULL);
	for (;;) {
		struct pollfd p[2] = { { .fd = in->ctl, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		int status;
		pid_t pid;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(in->ctl, "poll");
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
				die(in->ctl, "signalfd");
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				if (pid != service)
					continue;	/* an orphan of it */
				service = 0;
				ctl_tell_exit(in->ctl, status, 0);
			}
		}
		if ((p[0].revents & (POLLIN | POLLHUP)) &&
		    !instance_request(in, &service))
			_exit(0);
	}
}

/* The mounts and the plan, from the spec; the filter came with it. */
static void make_instance(struct guest_instance *in, const struct guest_spec *gs,
			  struct seccomp_prog filter)
{
	struct error e = { 0 };

	in->gs = gs;
	for (size_t i = 0; i < gs->n_areas; i++) {
		const struct writable *g = &gs->areas[i];
		struct jail_area *a = &in->areas[i];

		*a = (struct jail_area){ .path = g->path, .kind = g->kind,
					 .size = g->size, .uid = g->uid,
					 .gid = g->gid, .mode = g->mode };
		if (g->kind == WRITABLE_SCRATCH)
			continue;
		/* A log or state area is its directory in the log volume. */
		snprintf(in->sources[i], sizeof(in->sources[i]), "/logs%s", g->path);
		a->source = in->sources[i];
	}
	in->jail = (struct jail_spec){
		.image = "/root", .logs = "/logs", .hostname = gs->hostname,
		.areas = in->areas,
		.n_areas = gs->n_areas,
		.loopback = gs->service.network == NETWORK_HOST ? -1 :
			    gs->service.network == NETWORK_LOOPBACK ? 1 : 0,
	};
	if (launch_plan(&in->plan, &gs->service, gs->areas, gs->n_areas,
			gs->home, NULL, NULL, &e) < 0)
		fatal("%s: %s", SPEC_PATH, e.msg);
	in->plan.filter = filter;
}

static pid_t spawn_instance(struct guest_instance *in, int *ctl)
{
	long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
	int sv[2];
	pid_t pid;

	if (in->jail.loopback >= 0)
		flags |= CLONE_NEWNET;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair: %s", oops());
	pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (pid < 0)
		fatal("clone the instance: %s", oops());
	if (pid == 0) {
		close(sv[0]);
		in->ctl = sv[1];
		instance_main(in);
	}
	close(sv[1]);
	*ctl = sv[0];
	return pid;
}

/* ---- step 6: the relay -------------------------------------------------- */

struct relay {
	const struct guest_spec *gs;
	int ctl;		/* to the instance */
	pid_t instance;
	int conn;		/* a connection is open: 'O' came, 'X' not sent */
	int svc;		/* our end of the service's stdio socket */
	int out_eof;		/* the service closed its output ('E' sent) */
	int in_eof;		/* the client closed its side */
	int in_shut;		/* ... and the service saw it (SHUT_WR) */
	int in_gone;		/* the service does not read: drop client bytes */
	int exited;		/* the instance reported the service's end */
	char exit_text[32];
	uint8_t in[2 * CHANNEL_FRAME_MAX];	/* from the host, unparsed */
	size_t in_len;
	uint8_t tosvc[TOSVC_MAX];		/* client bytes for the service */
	size_t tosvc_len;
};

static void send_frame(uint8_t type, const void *data, size_t len)
{
	if (channel_send(port_fd, type, data, len) < 0)
		fatal("write to the channel: %s", oops());
}

/* CH_OPEN: checks the environment strings and hands a new socket to the instance. */
static void open_connection(struct relay *r, const uint8_t *payload, size_t len)
{
	size_t count = 0;
	int sv[2];

	if (r->conn)
		fatal("protocol: 'O' while a connection is open");
	if (len && payload[len - 1] != '\0')
		fatal("protocol: 'O' environment not NUL-terminated");
	for (size_t i = 0; i < len; i += strlen((const char *)payload + i) + 1) {
		const char *s = (const char *)payload + i;

		if (++count > LAUNCH_EXTRA_MAX || s[0] == '=' || !strchr(s, '='))
			fatal("protocol: 'O' environment: not NAME=VALUE strings "
			      "(at most %d)", LAUNCH_EXTRA_MAX);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
		fatal("socketpair: %s", oops());
	if (ctl_send(r->ctl, CTL_CONN, payload, len, sv[1]) < 0)
		fatal("hand the connection to the instance: %s", oops());
	close(sv[1]);
	r->svc = sv[0];
	r->conn = 1;
	r->out_eof = r->in_eof = r->in_shut = r->in_gone = r->exited = 0;
	r->tosvc_len = 0;
}

/* Parses and acts on the host's frames; stops at a 'D' that does not fit. */
static void host_frames(struct relay *r)
{
	struct channel_frame f;
	size_t off = 0;
	ssize_t n;

	while ((n = channel_parse(r->in + off, r->in_len - off, &f)) != 0) {
		if (n < 0)
			fatal("protocol: a malformed frame from the host");
		if (f.type == CH_DATA && r->conn && !r->in_gone) {
			if (r->in_eof)
				fatal("protocol: 'D' after 'E'");
			if (TOSVC_MAX - r->tosvc_len < f.len)
				break;	/* until the service reads */
			memcpy(r->tosvc + r->tosvc_len, f.payload, f.len);
			r->tosvc_len += f.len;
		} else if (f.type == CH_OPEN) {
			open_connection(r, f.payload, f.len);
		} else if (f.type == CH_EOF) {
			r->in_eof = r->conn;
		} else if (f.type == CH_CLOSE) {
			if (r->conn && !r->exited &&
			    ctl_send(r->ctl, CTL_KILL, NULL, 0, -1) < 0)
				fatal("tell the instance to kill: %s", oops());
		} else if (f.type != CH_DATA) {
			fatal("protocol: frame '%c' from the host", f.type);
		}
		/* 'D', 'E' and 'C' of a connection that already ended: late. */
		off += (size_t)n;
	}
	memmove(r->in, r->in + off, r->in_len - off);
	r->in_len -= off;
}

/* Client bytes to the service, as much as it takes now. */
static void to_service(struct relay *r)
{
	while (r->tosvc_len) {
		ssize_t n = send(r->svc, r->tosvc, r->tosvc_len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* EPIPE, ECONNRESET: it closed its input. */
			r->in_gone = 1;
			r->tosvc_len = 0;
			return;
		}
		memmove(r->tosvc, r->tosvc + n, r->tosvc_len - (size_t)n);
		r->tosvc_len -= (size_t)n;
	}
	if (r->in_eof && !r->in_shut && !r->in_gone) {
		if (shutdown(r->svc, SHUT_WR) < 0 && errno != ENOTCONN)
			fatal("shutdown: %s", oops());
		r->in_shut = 1;
	}
}

/* Service output to the host; returns 0 when nothing more is there now. */
static int from_service(struct relay *r)
{
	static uint8_t buf[CHANNEL_PAYLOAD_MAX];
	ssize_t n = read(r->svc, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* End of file, or ECONNRESET: either way its output is over. */
		r->out_eof = 1;
		send_frame(CH_EOF, NULL, 0);
		return 0;
	}
	send_frame(CH_DATA, buf, (size_t)n);
	return 1;
}

/* The service ended: what it wrote before is still in the socket. */
static void close_connection(struct relay *r)
{
	for (int i = 0; i < DRAIN_MAX && !r->out_eof && from_service(r); i++)
		;
	if (!r->out_eof)
		send_frame(CH_EOF, NULL, 0);
	send_frame(CH_EXIT, r->exit_text, strlen(r->exit_text));
	close(r->svc);
	r->svc = -1;
	r->conn = 0;
	r->tosvc_len = 0;
	if (r->gs->service.recycle == RECYCLE_CONNECTION)
		power_off();	/* the VM served its one connection */
}

/*
 * The instance died. An out-of-memory kill takes the whole group, the
 * instance with it (memory.oom.group): the connection ends as killed, and
 * the VM, with no instance left, stops.
 */
static __attribute__((noreturn)) void instance_gone(struct relay *r,
						    const char *why)
{
	if (r->conn) {
		snprintf(r->exit_text, sizeof(r->exit_text), "signal=%d", SIGKILL);
		r->exited = 1;
		close_connection(r);
	}
	fatal("%s", why);
}

/* A message of the instance: CTL_EXITED, or CTL_ERROR of a service before
 * its execve. */
static void instance_message(struct relay *r)
{
	char buf[CTL_TEXT_MAX];
	enum ctl_type type;
	size_t len;

	if (ctl_recv(r->ctl, 0, &type, buf, sizeof(buf), &len, NULL) != 1)
		instance_gone(r, "the instance closed its control socket");
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 32 || buf[i] > 126)
			buf[i] = '?';
	if (type == CTL_EXITED && r->conn && !r->exited) {
		snprintf(r->exit_text, sizeof(r->exit_text), "%.31s", buf);
		r->exited = 1;
	} else if (type == CTL_ERROR) {
		char msg[MSG_MAX];

		snprintf(msg, sizeof(msg), "service: %s", buf);
		console(msg);
		send_frame(CH_LOG, msg, strlen(msg));
	} else {
		fatal("the instance sent '%c'", (char)type);
	}
}

/* The instance is our only child; orphans of the VM come to us too. */
static void reap(struct relay *r, int sfd)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	if (read(sfd, &si, sizeof(si)) < 0 && errno != EAGAIN)
		fatal("signalfd: %s", oops());
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == r->instance)
			instance_gone(r, "the instance ended");
}

static __attribute__((noreturn)) void relay(struct relay *r, int sfd)
{
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = r->in_len < sizeof(r->in) ? port_fd : -1, .events = POLLIN },
			{ .fd = r->ctl, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = -1 },
		};

		host_frames(r);
		if (r->conn) {
			to_service(r);
			if (r->exited) {
				close_connection(r);
				continue;
			}
			p[3].fd = r->svc;
			p[3].events = (r->out_eof ? 0 : POLLIN) |
				      (r->tosvc_len ? POLLOUT : 0);
		}
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", oops());
		}
		if (p[0].revents) {
			ssize_t n = read(port_fd, r->in + r->in_len, sizeof(r->in) - r->in_len);

			if (n == 0)
				fatal("the host closed the channel");
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				fatal("read the channel: %s", oops());
			if (n > 0)
				r->in_len += (size_t)n;
		}
		if (p[3].revents & (POLLIN | POLLHUP | POLLERR) && !r->out_eof)
			from_service(r);
		if (p[1].revents)
			instance_message(r);
		if (p[2].revents)
			reap(r, sfd);
	}
}

int main(void)
{
	static struct guest_instance in;
	static struct relay r;
	struct guest_spec gs;
	char err[GUESTSPEC_ERR_MAX];
	sigset_t mask;
	size_t len;
	char *text;
	int sfd, logs_disk;

	early_mounts();
	/* Everything the initramfs holds is read before the root moves. */
	text = slurp(SPEC_PATH, GUESTSPEC_MAX_BYTES, &len);
	if (guestspec_parse(text, len, &gs, err, sizeof(err)) < 0)
		fatal("%s: %s", SPEC_PATH, err);
	free(text);
	r.gs = &gs;
	make_instance(&in, &gs, load_filter());
	load_modules();
	logs_disk = logs_on_disk();
	wait_devices(logs_disk);
	switch_root(&gs, logs_disk);
	warm_up(in.plan.argv.v[0]);
	make_cgroup(&gs.service.limits);

	/* SIGCHLD through a descriptor: the relay's poll sees it in turn. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		fatal("signalfd: %s", oops());
	r.svc = -1;
	r.instance = spawn_instance(&in, &r.ctl);
	/* The instance's first word: CTL_READY, or CTL_ERROR with why not. */
	{
		char buf[CTL_TEXT_MAX];
		enum ctl_type type;

		if (ctl_recv(r.ctl, 0, &type, buf, sizeof(buf), &len, NULL) != 1)
			fatal("the instance ended while starting");
		if (type != CTL_READY)
			fatal("instance: %s", buf);
		/* What it mended on its way (its stderr file): the log's. */
		if (len > 0) {
			char msg[MSG_MAX];

			snprintf(msg, sizeof(msg), "event=warning warning=\"%.*s\"",
				 (int)len, buf);
			console(msg);
			log_frame(msg);
		}
	}
	warn_kernel_gaps();
	send_frame(CH_READY, CHANNEL_VERSION, strlen(CHANNEL_VERSION));
	relay(&r, sfd);
}
