/*
 * kernel.c - the kernel's own surface: bpf, perf, io_uring, userfaultfd,
 * keyrings, modules, kexec, reboot, swap, I/O ports, the LDT, personality,
 * the kernel log, process accounting, the clocks, file handles (Shocker),
 * fanotify, quotas, other syscall ABIs (i386, x32), terminal injection.
 *
 * Where a call that has a capability check could do harm if it went
 * through, the arguments make it as harmless as they can (the current
 * time, an unknown module, ctrl-alt-del on) and an errno other than EPERM
 * counts as an escape: it means the capability check was passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>

#include "breakout.h"

#ifndef KEY_SPEC_USER_KEYRING
#define KEY_SPEC_USER_KEYRING (-4)
#define KEY_SPEC_SESSION_KEYRING (-3)
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef TIOCSTI
#define TIOCSTI 0x5412
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef TIOCSETD
#define TIOCSETD 0x5423
#endif
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* rc < 0 with EPERM is blocked; any other outcome passed the check. */
static int expect_eperm(const char *n, long rc, const char *how, const char *what)
{
	if (rc < 0 && errno == EPERM)
		return blocked(n, how, errno);
	if (rc < 0)
		return escaped(n, "%s: got past the permission check (%s)", what,
			       strerror(errno));
	return escaped(n, "%s", what);
}

static int bpf_map(const char *n, const char *a)
{
	union bpf_attr attr;

	(void)a;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	return expect_fail(n, syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)),
			   "bpf BPF_MAP_CREATE", "made a bpf map");
}

static int bpf_prog(const char *n, const char *a)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;

	(void)a;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)prog;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	return expect_fail(n, syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)),
			   "bpf BPF_PROG_LOAD", "loaded an eBPF program");
}

static int perf(const char *n, const char *a)
{
	struct perf_event_attr attr;

	(void)a;
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_SOFTWARE;
	attr.size = sizeof(attr);
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.exclude_kernel = 1;
	return expect_fail(n, syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0),
			   "perf_event_open", "opened a perf event");
}

static int io_uring(const char *n, const char *a)
{
	unsigned char params[120];

	(void)a;
	memset(params, 0, sizeof(params));
	return expect_fail(n, syscall(SYS_io_uring_setup, 4, params),
			   "io_uring_setup", "made an io_uring");
}

static int uffd(const char *n, const char *a)
{
	(void)a;
	if (open("/dev/userfaultfd", O_RDWR | O_CLOEXEC) >= 0)
		return escaped(n, "opened /dev/userfaultfd");
	return expect_fail(n, syscall(SYS_userfaultfd, O_CLOEXEC),
			   "userfaultfd", "made a userfaultfd");
}

static int add_key(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, syscall(SYS_add_key, "user", "breakout", "planted", 7,
				      KEY_SPEC_USER_KEYRING),
			   "add_key to the user keyring", "planted a key in the user keyring");
}

static int keyctl(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL),
			   "keyctl join session keyring", "joined a session keyring");
}

static int request_key(const char *n, const char *a)
{
	long rc;

	(void)a;
	rc = syscall(SYS_request_key, "user", "breakout", NULL, KEY_SPEC_SESSION_KEYRING);
	if (rc < 0 && errno == ENOKEY)
		return escaped(n, "request_key reached the keyrings (ENOKEY)");
	return expect_fail(n, rc, "request_key", "found a key planted before");
}

static int init_module(const char *n, const char *a)
{
	static char image[64];

	(void)a;
	return expect_eperm(n, syscall(SYS_init_module, image, sizeof(image), ""),
			    "init_module", "loaded a module");
}

static int finit_module(const char *n, const char *a)
{
	int fd = open(self_path, O_RDONLY | O_CLOEXEC);

	(void)a;
	if (fd < 0)
		return harness(n, "open %s: %s", self_path, strerror(errno));
	return expect_eperm(n, syscall(SYS_finit_module, fd, "", 0),
			    "finit_module", "loaded a module");
}

static int delete_module(const char *n, const char *a)
{
	(void)a;
	return expect_eperm(n, syscall(SYS_delete_module, "breakout_no_such_module", O_NONBLOCK),
			    "delete_module", "unloaded a module");
}

static int kexec_load(const char *n, const char *a)
{
	(void)a;
	/* no segments, the crash-kernel flag clear: an unload at most */
	return expect_eperm(n, syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL),
			    "kexec_load", "kexec_load is reachable");
}

static int kexec_file_load(const char *n, const char *a)
{
	int fd = open(self_path, O_RDONLY | O_CLOEXEC);

	(void)a;
	if (fd < 0)
		return harness(n, "open %s: %s", self_path, strerror(errno));
	return expect_eperm(n, syscall(SYS_kexec_file_load, fd, fd, 1UL, "", 0UL),
			    "kexec_file_load", "kexec_file_load is reachable");
}

static int reboot_attack(const char *n, const char *a)
{
	(void)a;
	return expect_eperm(n, syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
				       LINUX_REBOOT_CMD_CAD_ON, NULL),
			    "reboot (ctrl-alt-del on)", "reboot(2) is reachable");
}

static int swapon_attack(const char *n, const char *a)
{
	int fd = open("/tmp/swap", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	(void)a;
	if (fd >= 0)
		close(fd);
	return expect_eperm(n, syscall(SYS_swapon, "/tmp/swap", 0),
			    "swapon", "swapon is reachable");
}

static int iopl_attack(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, syscall(SYS_iopl, 3), "iopl 3", "got I/O privilege level 3");
}

static int ioperm_attack(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, syscall(SYS_ioperm, 0x80UL, 1UL, 1), "ioperm 0x80",
			   "got access to I/O port 0x80");
}

static int modify_ldt(const char *n, const char *a)
{
	/* struct user_desc: entry 0, a data segment, base 0, limit 0 */
	unsigned int desc[4] = { 0, 0, 0, 0x40 /* seg_32bit */ };

	(void)a;
	return expect_fail(n, syscall(SYS_modify_ldt, 1, desc, sizeof(desc)),
			   "modify_ldt write", "installed an LDT entry");
}

static int personality_attack(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, syscall(SYS_personality, PER_LINUX | READ_IMPLIES_EXEC),
			   "personality READ_IMPLIES_EXEC",
			   "changed the personality (readable implies executable)");
}

static int syslog_attack(const char *n, const char *a)
{
	char buf[256];

	(void)a;
	return expect_fail(n, klogctl(3, buf, sizeof(buf)), "syslog read all",
			   "read the kernel log");
}

static int acct_attack(const char *n, const char *a)
{
	(void)a;
	return expect_eperm(n, syscall(SYS_acct, "/tmp/acct"), "acct",
			    "switched process accounting on");
}

static int settimeofday_attack(const char *n, const char *a)
{
	struct timeval tv;

	(void)a;
	gettimeofday(&tv, NULL);
	return expect_fail(n, syscall(SYS_settimeofday, &tv, NULL),
			   "settimeofday", "set the host's clock");
}

static int clock_settime_attack(const char *n, const char *a)
{
	struct timespec ts;

	(void)a;
	clock_gettime(CLOCK_REALTIME, &ts);
	return expect_fail(n, syscall(SYS_clock_settime, CLOCK_REALTIME, &ts),
			   "clock_settime CLOCK_REALTIME", "set the host's clock");
}

/* adjtimex: read the tick, then write it back unchanged. */
static int adjtimex_attack(const char *n, const char *a)
{
	struct timex tx = { .modes = 0 };

	(void)a;
	if (syscall(SYS_adjtimex, &tx) < 0)
		return blocked(n, "adjtimex read", errno);
	tx.modes = ADJ_TICK;
	return expect_fail(n, syscall(SYS_adjtimex, &tx), "adjtimex ADJ_TICK",
			   "adjusted the host's clock");
}

static int clock_adjtime_attack(const char *n, const char *a)
{
	struct timex tx = { .modes = 0 };

	(void)a;
	if (syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx) < 0)
		return blocked(n, "clock_adjtime read", errno);
	tx.modes = ADJ_TICK;
	return expect_fail(n, syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx),
			   "clock_adjtime ADJ_TICK", "adjusted the host's clock");
}

/*
 * The instance has a UTS namespace of its own: changing its hostname there
 * is no escape. The test checks the host's hostname outside; this side
 * reports the call's outcome as blocked either way.
 */
static int sethostname_attack(const char *n, const char *a)
{
	(void)a;
	if (sethostname("breakout-pwned", 14) < 0)
		return blocked(n, "sethostname", errno);
	return blocked(n, "sethostname worked in the instance's own UTS namespace; "
		       "the host's hostname is checked outside", 0);
}

static int setdomainname_attack(const char *n, const char *a)
{
	(void)a;
	if (setdomainname("breakout-pwned", 14) < 0)
		return blocked(n, "setdomainname", errno);
	return blocked(n, "setdomainname worked in the instance's own UTS namespace", 0);
}

/*
 * Shocker (2014): open_by_handle_at with a handle forged for inode 2, the
 * root of an ext4 filesystem, against a mount of the host's filesystem; and
 * the handle of / obtained honestly.
 */
static int open_by_handle(const char *n, const char *a)
{
	struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
	int mount_fd, mount_id;
	long rc;

	(void)a;
	mount_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mount_fd < 0)
		return harness(n, "open /: %s", strerror(errno));
	memset(&fh, 0, sizeof(fh));
	fh.bytes = sizeof(fh.h);
	if (syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mount_id, 0) < 0) {
		memset(&fh, 0, sizeof(fh));
		fh.bytes = 8;
		fh.type = 1;	/* FILEID_INO32_GEN */
		fh.h[0] = 2;	/* inode 2, generation 0 */
	}
	rc = syscall(SYS_open_by_handle_at, mount_fd, &fh, O_RDONLY);
	return expect_fail(n, rc, "open_by_handle_at", "opened an inode by handle");
}

static int name_to_handle(const char *n, const char *a)
{
	struct { unsigned int bytes; int type; unsigned char h[128]; } fh;
	int mount_id;

	(void)a;
	memset(&fh, 0, sizeof(fh));
	fh.bytes = sizeof(fh.h);
	return expect_fail(n, syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mount_id, 0),
			   "name_to_handle_at", "got a file handle (the first half of Shocker)");
}

static int fanotify(const char *n, const char *a)
{
	(void)a;
	/* FAN_CLASS_NOTIF | FAN_REPORT_FID: what an unprivileged caller may ask */
	return expect_fail(n, syscall(SYS_fanotify_init, 0x200UL, O_RDONLY),
			   "fanotify_init", "made a fanotify group");
}

static int quotactl_attack(const char *n, const char *a)
{
	(void)a;
	/* Q_SYNC (0x800001) of user quotas on every filesystem */
	return expect_fail(n, syscall(SYS_quotactl, 0x800001 << 8, NULL, 0, NULL),
			   "quotactl Q_SYNC", "quotactl is reachable");
}

/* The i386 ABI, through int 0x80: getpid (20). A filter for x86_64 only
 * would not see it; ours kills the process (bad architecture). */
static int do_int80(void *n)
{
	long ret = 20;

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
	return escaped(n, "an i386 system call through int 0x80 returned %ld", ret);
}

static int i386_abi(const char *n, const char *a)
{
	int sig, rc = in_child(do_int80, (void *)n, &sig);
	char how[64];

	(void)a;
	if (rc < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (!sig)
		return rc;
	snprintf(how, sizeof(how), "int 0x80 killed the process: %s", strsignal(sig));
	return blocked(n, how, 0);
}

static int do_x32(void *n)
{
	long rc = syscall(__X32_SYSCALL_BIT | SYS_getpid);

	if (rc < 0)
		return blocked(n, "an x32 system call", errno);
	return escaped(n, "an x32 system call returned %ld", rc);
}

static int x32_abi(const char *n, const char *a)
{
	int sig, rc = in_child(do_x32, (void *)n, &sig);
	char how[64];

	(void)a;
	if (rc < 0)
		return harness(n, "fork: %s", strerror(errno));
	if (!sig)
		return rc;
	snprintf(how, sizeof(how), "the x32 call killed the process: %s", strsignal(sig));
	return blocked(n, how, 0);
}

/* A terminal among fds 0-2, else /dev/tty; -1 if none. */
static int a_tty(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd))
			return fd;
	return open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
}

#define CANARY "echo breakout-canary-injected\n"

/* Types the canary into the terminal, one byte per TIOCSTI (request as
 * given: with the high bits set, a filter comparing 64 bits would miss it). */
static int tiocsti_with(const char *n, unsigned long request)
{
	int fd = a_tty();

	if (fd < 0)
		return blocked(n, "no terminal to inject into (fds 0-2 and /dev/tty)", errno);
	for (const char *c = CANARY; *c; c++)
		if (syscall(SYS_ioctl, fd, request, c) < 0)
			return blocked(n, "ioctl TIOCSTI", errno);
	return escaped(n, "typed into the terminal of fd %d", fd);
}

static int tiocsti(const char *n, const char *a) { (void)a; return tiocsti_with(n, TIOCSTI); }
static int tiocsti_high(const char *n, const char *a) { (void)a; return tiocsti_with(n, (1UL << 32) | TIOCSTI); }

static int tiocsetd(const char *n, const char *a)
{
	int fd = a_tty(), ldisc = 0;	/* N_TTY: the one it has */

	(void)a;
	if (fd < 0)
		fd = 0;	/* the filter looks at the request, not the fd */
	return expect_fail(n, ioctl(fd, TIOCSETD, &ldisc), "ioctl TIOCSETD",
			   "changed a terminal's line discipline");
}

static int tioclinux(const char *n, const char *a)
{
	char sub = 6;	/* TIOCL_GETSHIFTSTATE: read only */
	int fd = a_tty();

	(void)a;
	if (fd < 0)
		fd = 0;
	if (ioctl(fd, TIOCLINUX, &sub) == 0)
		return escaped(n, "used a Linux console ioctl");
	return blocked(n, errno == EPERM ? "ioctl TIOCLINUX" :
		       "ioctl TIOCLINUX passed the filter, the terminal is no console", errno);
}

const struct attack kernel_attacks[] = {
	{ "bpf-map", bpf_map, "seccomp baseline (bpf: EPERM)", "kernel.unprivileged_bpf_disabled", "create a bpf map" },
	{ "bpf-prog", bpf_prog, "seccomp baseline (bpf)", "kernel.unprivileged_bpf_disabled", "load a socket-filter eBPF program" },
	{ "perf-event-open", perf, "seccomp baseline (perf_event_open)", "kernel.perf_event_paranoid", "open a perf event" },
	{ "io-uring-setup", io_uring, "seccomp baseline (io_uring_setup)", "none (io_uring's requests bypass seccomp)", "make an io_uring" },
	{ "userfaultfd", uffd, "seccomp baseline (userfaultfd)", "vm.unprivileged_userfaultfd; no /dev/userfaultfd", "make a userfaultfd" },
	{ "add-key", add_key, "seccomp baseline (add_key)", "none: keyrings are per host uid (issue 10 finding 8: a user namespace, to come)", "plant a key in the user keyring" },
	{ "keyctl", keyctl, "seccomp baseline (keyctl)", "none", "join a session keyring" },
	{ "request-key", request_key, "seccomp baseline (request_key)", "none", "look up a key planted by another" },
	{ "init-module", init_module, "seccomp baseline (init_module)", "no CAP_SYS_MODULE", "load a kernel module" },
	{ "finit-module", finit_module, "seccomp baseline (finit_module)", "no CAP_SYS_MODULE", "load a kernel module from a file" },
	{ "delete-module", delete_module, "seccomp baseline (delete_module)", "no CAP_SYS_MODULE", "unload a kernel module" },
	{ "kexec-load", kexec_load, "seccomp baseline (kexec_load)", "no CAP_SYS_BOOT in the init user namespace", "kexec_load" },
	{ "kexec-file-load", kexec_file_load, "seccomp baseline (kexec_file_load)", "no CAP_SYS_BOOT", "kexec_file_load" },
	{ "reboot", reboot_attack, "seccomp baseline (reboot)", "no CAP_SYS_BOOT; PID namespace", "reboot(2) ctrl-alt-del on" },
	{ "swapon", swapon_attack, "seccomp baseline (swapon)", "no CAP_SYS_ADMIN", "swapon a file in /tmp" },
	{ "iopl", iopl_attack, "seccomp baseline (iopl)", "no CAP_SYS_RAWIO", "iopl(3)" },
	{ "ioperm", ioperm_attack, "seccomp baseline (ioperm)", "no CAP_SYS_RAWIO", "ioperm on port 0x80" },
	{ "modify-ldt", modify_ldt, "seccomp baseline (modify_ldt)", "none (unprivileged LDT writes are allowed by the kernel)", "install an LDT entry" },
	{ "personality", personality_attack, "seccomp baseline (personality)", "none (READ_IMPLIES_EXEC is unprivileged)", "personality(READ_IMPLIES_EXEC)" },
	{ "syslog", syslog_attack, "seccomp baseline (syslog)", "kernel.dmesg_restrict", "read the kernel log" },
	{ "acct", acct_attack, "seccomp baseline (acct)", "no CAP_SYS_PACCT", "switch process accounting on" },
	{ "settimeofday", settimeofday_attack, "seccomp baseline (settimeofday)", "no CAP_SYS_TIME (the realtime clock is not namespaced)", "set the clock" },
	{ "clock-settime", clock_settime_attack, "seccomp baseline (clock_settime)", "no CAP_SYS_TIME", "set CLOCK_REALTIME" },
	{ "adjtimex", adjtimex_attack, "seccomp baseline (adjtimex)", "no CAP_SYS_TIME", "adjust the clock's tick" },
	{ "clock-adjtime", clock_adjtime_attack, "seccomp baseline (clock_adjtime)", "no CAP_SYS_TIME", "adjust CLOCK_REALTIME" },
	{ "sethostname", sethostname_attack, "no CAP_SYS_ADMIN (EPERM)", "UTS namespace of its own (the host's hostname is checked outside)", "change the hostname" },
	{ "setdomainname", setdomainname_attack, "no CAP_SYS_ADMIN (EPERM)", "UTS namespace of its own", "change the NIS domain name" },
	{ "open-by-handle-at", open_by_handle, "seccomp baseline (open_by_handle_at)", "no CAP_DAC_READ_SEARCH", "Shocker: open an inode by a forged handle" },
	{ "name-to-handle-at", name_to_handle, "seccomp baseline (name_to_handle_at)", "none (unprivileged)", "get a file handle for /" },
	{ "fanotify-init", fanotify, "seccomp baseline (fanotify_init)", "no CAP_SYS_ADMIN for most classes", "make a fanotify group" },
	{ "quotactl", quotactl_attack, "seccomp baseline (quotactl)", "none for Q_SYNC", "quotactl Q_SYNC" },
	{ "i386-abi", i386_abi, "seccomp baseline (bad architecture: SIGSYS kill)", "none", "an i386 system call through int 0x80" },
	{ "x32-abi", x32_abi, "seccomp baseline (x32 bit: SIGSYS kill)", "a kernel without x32 (ENOSYS)", "an x32 system call" },
	{ "tiocsti", tiocsti, "seccomp baseline (ioctl TIOCSTI: EPERM)", "imgtool run: the instance's own pty or pipes, never the admin's terminal", "type the canary into the terminal" },
	{ "tiocsti-high-bits", tiocsti_high, "seccomp baseline (32-bit masked compare)", "the kernel's own 32-bit request", "TIOCSTI with bit 32 set (CVE-2019-10063)" },
	{ "tiocsetd", tiocsetd, "seccomp baseline (ioctl TIOCSETD)", "the instance's own pty", "change a terminal's line discipline" },
	{ "tioclinux", tioclinux, "seccomp baseline (ioctl TIOCLINUX)", "no Linux console in the jail", "a Linux console ioctl" },
	{ NULL, NULL, NULL, NULL, NULL }
};
