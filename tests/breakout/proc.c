/*
 * proc.c - other processes and the host through /proc, /sys and /dev:
 * host files by path and through /proc/PID/root, host processes, signals
 * to a host process, ptrace and process_vm of PID 1 and of a sibling,
 * /proc/PID/mem, kcore, kallsyms, sysrq, sysctl writes, cgroup files,
 * /dev/mem and /dev/kmsg, and the fds the instance was handed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "breakout.h"

/* The ways to name a host file from inside: as it stands, and through the
 * root and working directory links of PID 1 and of ourselves. */
static const char *const via[] = { "", "/proc/1/root", "/proc/self/root",
	"/proc/1/cwd/../../../../../../..", "/proc/self/cwd/../../../../../../.." };

static int host_file(const char *n, const char *arg, int flags)
{
	char path[4096];
	int last = ENOENT;

	if (!arg)
		return harness(n, "needs the host file's path as its argument");
	for (size_t i = 0; i < sizeof(via) / sizeof(via[0]); i++) {
		int fd;

		snprintf(path, sizeof(path), "%s%s", via[i], arg);
		fd = open(path, flags | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (flags & O_WRONLY && write(fd, "pwned\n", 6) != 6)
				last = errno;
			else
				return escaped(n, "opened %s", path);
			close(fd);
		} else {
			last = errno;
		}
	}
	return blocked(n, "every path to the host file", last);
}

static int host_file_read(const char *n, const char *arg)
{
	return host_file(n, arg, O_RDONLY);
}

static int host_file_write(const char *n, const char *arg)
{
	return host_file(n, arg, O_WRONLY | O_APPEND);
}

/* Host processes: the sentinel's command line carries a token (arg). */
static int host_processes(const char *n, const char *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int count = 0;

	if (!arg)
		return harness(n, "needs the sentinel's token as its argument");
	if (!d)
		return blocked(n, "opendir /proc", errno);
	while ((de = readdir(d))) {
		char path[300], buf[4096];
		ssize_t got;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		count++;
		/* our own command line holds the token, as our argument */
		if (atoi(de->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		for (ssize_t i = 0; i < got; i++)
			if (!buf[i])
				buf[i] = ' ';
		if (got > 0) {
			buf[got] = '\0';
			if (strstr(buf, arg)) {
				closedir(d);
				return escaped(n, "saw the host's sentinel as PID %s", de->d_name);
			}
		}
	}
	closedir(d);
	char how[64];
	snprintf(how, sizeof(how), "own PID namespace: %d processes, no sentinel", count);
	return blocked(n, how, 0);
}

static int kill_host(const char *n, const char *arg)
{
	long pid = arg ? strtol(arg, NULL, 10) : 0;

	if (pid <= 1)
		return harness(n, "needs the host sentinel's PID as its argument");
	if (pid == getpid())
		return blocked(n, "the host PID is our own in this namespace", 0);
	/* if the number is a process of the instance, that process dies;
	 * the host's sentinel staying alive is the test's check */
	return expect_fail(n, kill((pid_t)pid, SIGKILL), "kill -9 of the host PID",
			   "sent SIGKILL to the PID (the host checks its sentinel)");
}

/* From a child: under imgtool run the battery may itself be PID 1. */
static int do_ptrace_init(void *n)
{
	return expect_fail(n, ptrace(PTRACE_ATTACH, 1, NULL, NULL),
			   "ptrace attach to PID 1", "attached to PID 1");
}

static int ptrace_init(const char *n, const char *arg)
{
	int sig, rc;

	(void)arg;
	rc = in_child(do_ptrace_init, (void *)n, &sig);
	if (rc < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (sig)
		return blocked(n, "the attacker was killed by a signal", 0);
	return rc;
}

/* A sibling: a child that sleeps, attacked from a second child. */
static pid_t sleeper(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static pid_t target;
static volatile char secret[16] = "untouched";

static int do_ptrace_sibling(void *n)
{
	if (ptrace(PTRACE_ATTACH, target, NULL, NULL) < 0)
		return blocked(n, "ptrace attach to a sibling", errno);
	return escaped(n, "attached to a sibling process");
}

static int do_vm_writev(void *n)
{
	char mine[16] = "pwned";
	struct iovec l = { mine, sizeof(mine) }, r = { (void *)secret, sizeof(secret) };

	if (process_vm_writev(target, &l, 1, &r, 1, 0) < 0)
		return blocked(n, "process_vm_writev to a sibling", errno);
	return escaped(n, "wrote a sibling's memory with process_vm_writev");
}

static int do_vm_readv(void *n)
{
	char mine[16];
	struct iovec l = { mine, sizeof(mine) }, r = { (void *)secret, sizeof(secret) };

	if (process_vm_readv(target, &l, 1, &r, 1, 0) < 0)
		return blocked(n, "process_vm_readv of a sibling", errno);
	return escaped(n, "read a sibling's memory with process_vm_readv");
}

static int do_proc_mem(void *n)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)target);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return blocked(n, "open /proc/SIBLING/mem for writing", errno);
	if (pwrite(fd, "pwned", 6, (off_t)(unsigned long)secret) != 6)
		return blocked(n, "write to /proc/SIBLING/mem", errno);
	return escaped(n, "wrote a sibling's memory through /proc/PID/mem");
}

static int pidfd_getfd_sibling(void *n)
{
	long pidfd = syscall(SYS_pidfd_open, target, 0);

	if (pidfd < 0)
		return blocked(n, "pidfd_open of a sibling", errno);
	if (syscall(SYS_pidfd_getfd, pidfd, 0, 0) < 0)
		return blocked(n, "pidfd_getfd of a sibling's stdin", errno);
	return escaped(n, "took a sibling's fd with pidfd_getfd");
}

static int against_sibling(const char *n, int (*fn)(void *))
{
	int sig, rc;

	target = sleeper();
	if (target < 0)
		return harness(n, "fork: %s", strerror(errno));
	rc = in_child(fn, (void *)n, &sig);
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	if (rc < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (sig)
		return blocked(n, "the attacker was killed by a signal", 0);
	return rc;
}

static int ptrace_sibling(const char *n, const char *a) { (void)a; return against_sibling(n, do_ptrace_sibling); }
static int vm_writev(const char *n, const char *a) { (void)a; return against_sibling(n, do_vm_writev); }
static int vm_readv(const char *n, const char *a) { (void)a; return against_sibling(n, do_vm_readv); }
static int proc_mem(const char *n, const char *a) { (void)a; return against_sibling(n, do_proc_mem); }
static int pidfd_getfd_attack(const char *n, const char *a) { (void)a; return against_sibling(n, pidfd_getfd_sibling); }

static int open_fails(const char *n, const char *path, int flags)
{
	char how[300];

	snprintf(how, sizeof(how), "open %s%s", path,
		 (flags & O_ACCMODE) == O_RDONLY ? "" : " for writing");
	return expect_fail(n, open(path, flags | O_CLOEXEC), how, path);
}

static int kcore(const char *n, const char *a) { (void)a; return open_fails(n, "/proc/kcore", O_RDONLY); }
static int sysrq(const char *n, const char *a) { (void)a; return open_fails(n, "/proc/sysrq-trigger", O_WRONLY); }
static int dev_mem(const char *n, const char *a) { (void)a; return open_fails(n, "/dev/mem", O_RDONLY); }
static int dev_kmsg(const char *n, const char *a) { (void)a; return open_fails(n, "/dev/kmsg", O_RDWR); }
static int dev_port(const char *n, const char *a) { (void)a; return open_fails(n, "/dev/port", O_RDWR); }
static int sys_uevent(const char *n, const char *a) { (void)a; return open_fails(n, "/sys/kernel/uevent_helper", O_WRONLY); }
static int sys_power(const char *n, const char *a) { (void)a; return open_fails(n, "/sys/power/state", O_WRONLY); }

/* A sysctl write: the open for writing must fail (read-only /proc/sys). */
static int sysctl_write(const char *n, const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(value);

	if (fd < 0) {
		char how[300];

		snprintf(how, sizeof(how), "open %s for writing", path);
		return blocked(n, how, errno);
	}
	if (write(fd, value, (size_t)len) != len)
		return blocked(n, "the open worked, the write", errno);
	return escaped(n, "wrote %s", path);
}

static int sysctl_hostname(const char *n, const char *a) { (void)a; return sysctl_write(n, "/proc/sys/kernel/hostname", "pwned"); }
static int sysctl_core(const char *n, const char *a) { (void)a; return sysctl_write(n, "/proc/sys/kernel/core_pattern", "|/tmp/copy"); }
static int sysctl_modprobe(const char *n, const char *a) { (void)a; return sysctl_write(n, "/proc/sys/kernel/modprobe", "/tmp/copy"); }
static int sysctl_caches(const char *n, const char *a) { (void)a; return sysctl_write(n, "/proc/sys/vm/drop_caches", "3"); }

/* Raising our own cgroup's limits, and the cgroup v1 release_agent. */
static int cgroup_write(const char *n, const char *arg)
{
	static const char *const files[] = { "/sys/fs/cgroup/pids.max",
		"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cgroup.procs",
		"/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/memory/release_agent" };
	int last = ENOENT;

	(void)arg;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = open(files[i], O_WRONLY | O_CLOEXEC);

		if (fd < 0) {
			last = errno;
			continue;
		}
		if (write(fd, "max\n", 4) == 4)
			return escaped(n, "wrote %s", files[i]);
		last = errno;
		close(fd);
	}
	return blocked(n, "writes to the cgroup files", last);
}

/* Any kernel address that is not zero in /proc/kallsyms. */
static int kallsyms(const char *n, const char *arg)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512];
	int lines = 0;

	(void)arg;
	if (!f)
		return blocked(n, "open /proc/kallsyms", errno);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr = strtoull(line, NULL, 16);

		lines++;
		if (addr) {
			fclose(f);
			return escaped(n, "kernel address %llx in /proc/kallsyms", addr);
		}
	}
	fclose(f);
	return blocked(n, lines ? "kallsyms readable, every address 0 (kptr_restrict)"
		       : "kallsyms empty", 0);
}

/*
 * The fds the instance was given (issue 10 finding 2): a directory, or a
 * file that is not visible at the same place in our own tree, is a handle
 * on the host. Pipes, sockets, character devices and our own files pass.
 */
static int host_fds(const char *n, const char *arg)
{
	(void)arg;
	for (int fd = 0; fd < 1024; fd++) {
		char link[64], target_path[4096];
		struct stat st, named;
		ssize_t len;

		if (fstat(fd, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			return escaped(n, "fd %d is a directory (openat .. %s)", fd,
				       up >= 0 ? "worked" : "failed");
		}
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target_path, sizeof(target_path) - 1);
		if (len < 0)
			continue;
		target_path[len] = '\0';
		if (stat(target_path, &named) == 0 && named.st_dev == st.st_dev &&
		    named.st_ino == st.st_ino)
			continue;	/* a file of the instance's own tree */
		if (!strncmp(target_path, "/memfd:", 7))
			continue;
		return escaped(n, "fd %d is a host file (%s)", fd, target_path);
	}
	return blocked(n, "no fd is a directory or a file outside the instance", 0);
}

/* The host's boot_id (arg) seen from inside (issue 10 finding 11). */
static int boot_id(const char *n, const char *arg)
{
	char buf[64] = "";
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (!arg)
		return harness(n, "needs the host's boot_id as its argument");
	if (fd < 0)
		return blocked(n, "open boot_id", errno);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return blocked(n, "read boot_id", got < 0 ? errno : 0);
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, arg))
		return escaped(n, "the host's boot_id %s", buf);
	return blocked(n, "boot_id differs from the host's", 0);
}

const struct attack proc_attacks[] = {
	{ "host-file-read", host_file_read, "mount namespace (ENOENT: the host's tree is not in it)", "pivot_root, old root detached; /proc/1 is the instance's init", "read the host marker by path, via /proc/1/root, /proc/self/root and cwd" },
	{ "host-file-write", host_file_write, "mount namespace (ENOENT)", "read-only root (EROFS)", "append to the host marker by the same paths" },
	{ "host-processes", host_processes, "PID namespace (its own /proc)", "hidepid would be next; nothing else", "find the host's sentinel process in /proc" },
	{ "kill-host", kill_host, "PID namespace (ESRCH)", "another uid than the host's processes (EPERM)", "SIGKILL the host sentinel's PID" },
	{ "ptrace-init", ptrace_init, "seccomp baseline (ptrace: EPERM)", "PID 1 is the instance's init, another uid", "PTRACE_ATTACH to PID 1" },
	{ "ptrace-sibling", ptrace_sibling, "seccomp baseline (ptrace)", "none: same uid in the instance", "PTRACE_ATTACH to a sibling" },
	{ "process-vm-writev", vm_writev, "seccomp baseline (process_vm_writev)", "none: same uid", "write a sibling's memory" },
	{ "process-vm-readv", vm_readv, "seccomp baseline (process_vm_readv)", "none: same uid", "read a sibling's memory" },
	{ "proc-mem-sibling", proc_mem, "Landlock: no file of /proc is writable (EACCES)", "none: same uid, same domain (no Yama on this kernel)", "write a sibling's /proc/PID/mem" },
	{ "pidfd-getfd", pidfd_getfd_attack, "seccomp baseline (pidfd_getfd)", "ptrace access check", "take a sibling's fd with pidfd_getfd" },
	{ "proc-kcore", kcore, "not in the instance's /proc (ENOENT)", "root-only file; no CAP_SYS_RAWIO", "open /proc/kcore" },
	{ "proc-kallsyms", kallsyms, "kptr_restrict (addresses 0 without CAP_SYSLOG)", "none", "read kernel addresses from /proc/kallsyms" },
	{ "proc-sysrq", sysrq, "not in the instance's /proc (ENOENT)", "root-only file, read-only /proc", "open /proc/sysrq-trigger for writing" },
	{ "sysctl-hostname", sysctl_hostname, "file permissions (EACCES: the host root's file)", "read-only /proc/sys (EROFS); own UTS namespace", "write /proc/sys/kernel/hostname" },
	{ "sysctl-core-pattern", sysctl_core, "file permissions (EACCES)", "read-only /proc/sys (EROFS); init user namespace only", "write /proc/sys/kernel/core_pattern" },
	{ "sysctl-modprobe", sysctl_modprobe, "no such sysctl on this kernel (ENOENT)", "file permissions, read-only /proc/sys", "write /proc/sys/kernel/modprobe" },
	{ "sysctl-drop-caches", sysctl_caches, "file permissions (EACCES)", "read-only /proc/sys (EROFS)", "write /proc/sys/vm/drop_caches" },
	{ "cgroup-write", cgroup_write, "no /sys in the jail (ENOENT)", "cgroup files owned by root; v2 has no release_agent", "raise our own cgroup's limits, release_agent" },
	{ "sys-uevent-helper", sys_uevent, "no /sys in the jail (ENOENT)", "root-only file", "write /sys/kernel/uevent_helper" },
	{ "sys-power", sys_power, "no /sys in the jail (ENOENT)", "root-only file", "write /sys/power/state" },
	{ "dev-mem", dev_mem, "minimal /dev (ENOENT)", "no CAP_SYS_RAWIO", "open /dev/mem" },
	{ "dev-kmsg", dev_kmsg, "minimal /dev (ENOENT)", "no CAP_SYSLOG", "open /dev/kmsg" },
	{ "dev-port", dev_port, "minimal /dev (ENOENT)", "no CAP_SYS_RAWIO", "open /dev/port" },
	{ "host-fds", host_fds, "the runtime hands only pipes, sockets, /dev/null, a pty", "mount namespace", "a directory or host file among the inherited fds" },
	{ "boot-id", boot_id, "a per-instance boot_id over /proc/sys/kernel/random/boot_id", "none", "read the host's boot_id" },
	{ NULL, NULL, NULL, NULL, NULL }
};
