/*
 * Unit tests for runtime/seccomp.c: each check runs in a forked child that
 * installs a compiled filter (after no_new_privs, as the runtime does) and
 * reports through its exit status or the signal that ended it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "seccomp.h"
#include "tap.h"

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif

/* A child's result: its exit status, or 1000 + the signal that killed it. */
#define KILLED(sig) (1000 + (sig))

typedef int (*child_fn)(void);

/*
 * Runs fn in a child under prog (NULL: no filter). The child never dumps
 * core: a SIGSYS kill is expected in some checks.
 */
static int run(const struct seccomp_prog *prog, child_fn fn)
{
	struct rlimit no_core = { 0, 0 };
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (setrlimit(RLIMIT_CORE, &no_core) < 0 ||
		    prctl(PR_SET_DUMPABLE, 0) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(200);
		if (prog && seccomp_install(prog) < 0)
			_exit(201);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return KILLED(WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* 0 if the call failed with want, else 1 (succeeded) or 2 (other errno). */
static int failed_with(long rc, int want)
{
	if (rc != -1)
		return 1;
	return errno == want ? 0 : 2;
}

static int do_unshare(void) { return failed_with(unshare(CLONE_NEWNS), EPERM); }

/* A mount point that does not exist: unfiltered, the call fails with ENOENT
 * and mounts nothing, so a broken filter cannot touch the host. */
static int do_mount(void)
{
	return failed_with(mount("none", "/nonexistent-imgtool-test", "tmpfs", 0,
				 NULL), EPERM);
}

static int do_ptrace(void) { return failed_with(ptrace(PTRACE_TRACEME, 0, 0, 0), EPERM); }

static int do_clone_newuser(void)
{
	long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);

	if (rc == 0)
		_exit(0);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	return failed_with(rc, EPERM);
}

static int do_clone3(void)
{
	uint64_t args[11] = { 0 };	/* struct clone_args, version 2 */

	args[4] = SIGCHLD;		/* exit_signal */
	long rc = syscall(__NR_clone3, args, sizeof(args));

	if (rc == 0)
		_exit(0);
	if (rc > 0)
		waitpid((pid_t)rc, NULL, 0);
	return failed_with(rc, ENOSYS);
}

static int do_getpid(void) { return getpid() == syscall(SYS_getpid) && getpid() > 1 ? 0 : 1; }

static int do_fork(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(7);
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 7 ? 0 : 2;
}

static void *thread_main(void *arg) { return arg; }

/* glibc tries clone3 first and falls back to clone on ENOSYS. */
static int do_thread(void)
{
	pthread_t t;
	void *r = NULL;

	if (pthread_create(&t, NULL, thread_main, (void *)42) != 0)
		return 1;
	return pthread_join(t, &r) == 0 && r == (void *)42 ? 0 : 2;
}

static int do_io_uring(void)
{
	char params[120] = { 0 };	/* struct io_uring_params */

	return failed_with(syscall(__NR_io_uring_setup, 8, params), EPERM);
}

/*
 * The terminal ioctls go to /dev/null: unfiltered they fail with ENOTTY
 * instead of pushing input into the terminal the tests run in (root may).
 */
static int null_ioctl(unsigned long request)
{
	char c = 'x';
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return 9;
	r = failed_with(syscall(SYS_ioctl, fd, request, &c), EPERM);
	close(fd);
	return r;
}

static int do_tiocsti(void) { return null_ioctl(TIOCSTI); }

/* The kernel reads ioctl's request as 32 bits; seccomp sees 64. */
static int do_tiocsti_high_bits(void) { return null_ioctl((1UL << 32) | TIOCSTI); }

static int do_tioclinux(void) { return null_ioctl(TIOCLINUX); }

/* getpid through the x32 ABI: __X32_SYSCALL_BIT | 39. */
static int do_x32(void)
{
	long rc = syscall(0x40000000L | SYS_getpid);

	return rc == -1 ? 3 : 4;
}

/* getpid through the i386 ABI (int 0x80, number 20). */
static int do_int80(void)
{
	long rc = 20;

	__asm__ volatile("int $0x80" : "+a"(rc) : : "memory");
	return rc == getpid() ? 0 : 3;
}

static int do_status(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 2;
	buf[n] = 0;
	return strstr(buf, "\nSeccomp:\t2\n") ? 0 : 3;
}

static int do_getppid(void) { return getppid() > 0 ? 0 : 1; }
static int do_getppid_eperm(void) { return failed_with(syscall(SYS_getppid), EPERM); }
static int do_getuid_enosys(void) { return failed_with(syscall(SYS_getuid), ENOSYS); }

static int do_exit5(void) { return 5; }

static int do_write(void)
{
	return write(1, "", 0) == 0 ? 0 : 1;
}

static int do_tiocsetd(void) { return null_ioctl(TIOCSETD); }

static int do_keyctl(void)
{
	/* KEYCTL_GET_KEYRING_ID of the user keyring, not creating it. */
	return failed_with(syscall(SYS_keyctl, 0, -4, 0), EPERM);
}

static int do_modify_ldt(void)
{
	char buf[16];

	return failed_with(syscall(SYS_modify_ldt, 0, buf, sizeof(buf)), EPERM);
}

/* socket(family, SOCK_DGRAM): 0 if refused with EAFNOSUPPORT. */
static int refused_family(long family)
{
	long fd = syscall(SYS_socket, family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd >= 0)
		close((int)fd);
	return failed_with(fd, EAFNOSUPPORT);
}

static int do_netlink(void) { return refused_family(AF_NETLINK); }
static int do_vsock(void) { return refused_family(AF_VSOCK); }
/* The kernel reads the family as an int: the high bits must not hide it. */
static int do_vsock_high_bits(void) { return refused_family((1L << 32) | AF_VSOCK); }
static int do_packet(void) { return refused_family(AF_PACKET); }
static int do_family_above(void) { return refused_family(200); }

static int do_netlink_works(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static int do_inet_works(void)
{
	int a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int b = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int sp[2], c = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);

	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	if (c == 0) {
		close(sp[0]);
		close(sp[1]);
	}
	return a >= 0 && b >= 0 && c == 0 ? 0 : 1;
}

static void test_default_filter(void)
{
	struct service s = { 0 };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };

	ok(seccomp_compile(&s, &p, &e) == 0 && p.len > 0 && p.len <= BPF_MAXINSNS,
	   "default filter compiles (%u instructions) %s", p.len, e.msg);
	ok(run(&p, do_unshare) == 0, "default filter: unshare fails with EPERM");
	ok((geteuid() != 0 || run(NULL, do_mount) != 0) && run(&p, do_mount) == 0,
	   "default filter: mount fails with EPERM");
	ok(run(&p, do_ptrace) == 0, "default filter: ptrace fails with EPERM");
	ok(run(&p, do_clone_newuser) == 0,
	   "default filter: clone with CLONE_NEWUSER fails with EPERM");
	ok(run(&p, do_clone3) == 0, "default filter: clone3 fails with ENOSYS");
	ok(run(&p, do_getpid) == 0, "default filter: getpid works");
	ok(run(&p, do_fork) == 0, "default filter: fork works");
	ok(run(&p, do_thread) == 0,
	   "default filter: threads work (glibc falls back from clone3 to clone)");
	ok(run(&p, do_io_uring) == 0, "default filter: io_uring_setup fails with EPERM");
	ok(run(NULL, do_tiocsti) != 0 && run(&p, do_tiocsti) == 0,
	   "default filter: ioctl TIOCSTI fails with EPERM");
	ok(run(NULL, do_tiocsti_high_bits) != 0 && run(&p, do_tiocsti_high_bits) == 0,
	   "default filter: TIOCSTI with high bits set in the request fails too");
	ok(run(NULL, do_tioclinux) != 0 && run(&p, do_tioclinux) == 0, "default filter: ioctl TIOCLINUX fails with EPERM");
	ok(run(&p, do_status) == 0, "a filtered child's status shows \"Seccomp:\\t2\"");
	ok(run(&p, do_tiocsetd) == 0, "default filter: ioctl TIOCSETD fails with EPERM");
	ok(run(NULL, do_modify_ldt) != 0 && run(&p, do_modify_ldt) == 0,
	   "default filter: modify_ldt fails with EPERM");
	ok(run(&p, do_inet_works) == 0, "default filter: unix, inet and inet6 sockets work");
	ok(run(NULL, do_netlink) != 0 && run(&p, do_netlink) == 0,
	   "default filter: a netlink socket fails with EAFNOSUPPORT");
	ok(run(&p, do_vsock) == 0, "default filter: AF_VSOCK fails with EAFNOSUPPORT");
	ok(run(&p, do_vsock_high_bits) == 0,
	   "default filter: AF_VSOCK with high bits set in the family fails too");
	ok(run(&p, do_packet) == 0, "default filter: AF_PACKET fails with EAFNOSUPPORT");
	ok(run(&p, do_family_above) == 0, "default filter: a family number above "
	   "every known one fails with EAFNOSUPPORT");
	ok(run(NULL, do_x32) != KILLED(SIGSYS) && run(&p, do_x32) == KILLED(SIGSYS),
	   "default filter: a call through the x32 ABI kills the process");
	if (run(NULL, do_int80) != 0)
		printf("ok %d - # SKIP no i386 system calls on this kernel\n", ++tap_n);
	else
		ok(run(&p, do_int80) == KILLED(SIGSYS),
		   "default filter: a call through the i386 ABI kills the process");
	seccomp_prog_free(&p);
	ok(p.filter == NULL && p.len == 0, "seccomp_prog_free clears the program");
}

static int has_kill_process(const struct seccomp_prog *p)
{
	for (unsigned i = 0; i < p->len; i++)
		if (p->filter[i].code == (BPF_RET | BPF_K) &&
		    p->filter[i].k == 0x80000000u)	/* SECCOMP_RET_KILL_PROCESS */
			return 1;
	return 0;
}

static void test_recipe_kill(void)
{
	char *allow[] = { "read", "write", "exit_group", "getpid", NULL };
	char *none[] = { NULL };
	struct service s = { .has_syscalls = 1, .syscall_default = SYSCALL_KILL,
			     .syscalls_allow = allow, .syscalls_deny = none };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };

	ok(seccomp_compile(&s, &p, &e) == 0, "default kill compiles %s", e.msg);
	ok(has_kill_process(&p), "default kill kills the process, not the thread");
	ok(run(&p, do_write) == 0, "default kill: allowed calls work");
	ok(run(&p, do_getppid) == KILLED(SIGSYS),
	   "default kill: getppid kills the child with SIGSYS");
	seccomp_prog_free(&p);
}

static void test_recipe_lists(void)
{
	char *allow[] = { "getpid", "vm86", NULL };
	char *deny[] = { "getppid", NULL };
	char *none[] = { NULL };
	struct service s = { .has_syscalls = 1, .syscall_default = SYSCALL_ALLOW,
			     .syscalls_allow = allow, .syscalls_deny = deny };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };

	ok(seccomp_compile(&s, &p, &e) == 0,
	   "default allow with an allow list compiles (rules equal to the default "
	   "are skipped; vm86 does not exist here) %s", e.msg);
	ok(run(&p, do_getppid_eperm) == 0, "a denied call fails with EPERM");
	ok(run(&p, do_getpid) == 0, "default allow: other calls work");
	seccomp_prog_free(&p);

	s.syscall_default = SYSCALL_ERRNO;
	s.syscall_errno = ENOSYS;
	s.syscalls_allow = none;
	s.syscalls_deny = deny;
	ok(seccomp_compile(&s, &p, &e) == 0, "default errno compiles %s", e.msg);
	ok(run(&p, do_getuid_enosys) == 0, "default errno: an unlisted call fails with it");
	ok(run(&p, do_exit5) == 5,
	   "default errno: exit_group is allowed, the exit status comes through");
	seccomp_prog_free(&p);

	s.syscall_default = SYSCALL_LOG;
	s.syscall_errno = 0;
	s.syscalls_allow = allow;
	ok(seccomp_compile(&s, &p, &e) == 0, "default log compiles %s", e.msg);
	ok(run(&p, do_getpid) == 0, "default log: calls work");
	ok(run(&p, do_getppid_eperm) == 0, "default log: a denied call fails with EPERM");
	seccomp_prog_free(&p);
}

static void test_recipe_errors(void)
{
	char *allow[] = { "read", "foo", NULL };
	char *deny[] = { "execve", NULL };
	char *none[] = { NULL };
	struct service s = { .has_syscalls = 1, .syscall_default = SYSCALL_KILL,
			     .syscalls_allow = allow, .syscalls_deny = none };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };

	ok(seccomp_compile(&s, &p, &e) < 0 &&
	   !strcmp(e.msg, "syscalls: unknown system call \"foo\"") && e.status == 3,
	   "an unknown name is an error naming it: %s", e.msg);
	ok(p.filter == NULL, "no program is left behind on error");
	s.syscalls_allow = none;
	s.syscalls_deny = deny;
	memset(&e, 0, sizeof(e));
	ok(seccomp_compile(&s, &p, &e) < 0 && e.status == 3 && strstr(e.msg, "execve"),
	   "denying execve with a default other than allow is refused: %s", e.msg);
	ok(seccomp_install(&p) < 0 && errno == EINVAL,
	   "installing an empty program fails with EINVAL");
}

/*
 * The baseline holds under every recipe filter (issue 10, finding 1): a
 * default="allow" recipe with denies, and a default="kill" recipe that
 * allows ioctl and socket, still refuse what the baseline refuses.
 */
static void test_baseline_under_recipes(void)
{
	char *deny[] = { "getppid", NULL };
	char *none[] = { NULL };
	char *allow[] = { "ioctl", "socket", "socketpair", "close", "openat",
			  "open", "exit_group", "getpid", "clone", "keyctl_x", NULL };
	struct service s = { .has_syscalls = 1, .syscall_default = SYSCALL_ALLOW,
			     .syscalls_allow = none, .syscalls_deny = deny };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };

	ok(seccomp_compile(&s, &p, &e) == 0, "default allow with a deny compiles %s",
	   e.msg);
	ok(run(&p, do_getppid_eperm) == 0, "default allow: the recipe's deny holds");
	ok(run(&p, do_tiocsti) == 0, "default allow: TIOCSTI still fails with EPERM");
	ok(run(&p, do_tioclinux) == 0, "default allow: TIOCLINUX still fails");
	ok(run(&p, do_keyctl) == 0, "default allow: keyctl still fails with EPERM");
	ok(run(&p, do_clone_newuser) == 0,
	   "default allow: clone with CLONE_NEWUSER still fails with EPERM");
	ok(run(&p, do_clone3) == 0, "default allow: clone3 still fails with ENOSYS");
	ok(run(&p, do_io_uring) == 0, "default allow: io_uring_setup still fails");
	ok(run(&p, do_vsock) == 0, "default allow: AF_VSOCK still fails");
	ok(run(&p, do_fork) == 0 && run(&p, do_thread) == 0,
	   "default allow: fork and threads work");
	seccomp_prog_free(&p);

	allow[9] = NULL;	/* "keyctl_x" marked the end of the usable list */
	s.syscall_default = SYSCALL_KILL;
	s.syscalls_allow = allow;
	s.syscalls_deny = none;
	ok(seccomp_compile(&s, &p, &e) == 0,
	   "default kill allowing ioctl and socket compiles %s", e.msg);
	ok(run(&p, do_tiocsti) == 0,
	   "default kill, ioctl allowed: TIOCSTI still fails with EPERM");
	ok(run(&p, do_vsock) == 0,
	   "default kill, socket allowed: AF_VSOCK still fails with EAFNOSUPPORT");
	ok(run(&p, do_getppid) == KILLED(SIGSYS),
	   "default kill: what the baseline lets through meets the recipe's default");
	seccomp_prog_free(&p);
}

static void test_families(void)
{
	struct service s = { .socket_families = (uint64_t)1 << AF_NETLINK };
	struct seccomp_prog p = { 0 };
	struct error e = { 0 };
	char *bad = NULL, *text;
	uint64_t set;

	ok(seccomp_compile(&s, &p, &e) == 0, "a filter with netlink compiles %s", e.msg);
	ok(run(&p, do_netlink_works) == 0, "a named family works");
	ok(run(&p, do_vsock) == 0, "an unnamed one still fails");
	seccomp_prog_free(&p);
	ok(socket_families_parse(" netlink  vsock inet ", &set, &bad) == 0 &&
	   set == (((uint64_t)1 << AF_NETLINK) | ((uint64_t)1 << AF_VSOCK)),
	   "socket_families_parse reads a list; inet adds nothing");
	text = socket_families_format(set);
	ok(!strcmp(text, "netlink vsock"), "socket_families_format: \"%s\"", text);
	free(text);
	ok(socket_families_parse("netlink bogus", &set, &bad) < 0 && bad &&
	   !strcmp(bad, "bogus"), "an unknown family is named");
	free(bad);
}

static void test_baseline_not_allowable(void)
{
	char *allow[] = { "read", "keyctl", NULL };
	char *none[] = { NULL };
	struct service s = { .has_syscalls = 1, .syscall_default = SYSCALL_KILL,
			     .syscalls_allow = allow, .syscalls_deny = none };
	struct error e = { 0 };

	ok(seccomp_check(&s, &e) < 0 && e.status == 3 && strstr(e.msg, "\"keyctl\""),
	   "allowing a call the baseline refuses is an error naming it: %s", e.msg);
	allow[1] = "clone3";
	memset(&e, 0, sizeof(e));
	ok(seccomp_check(&s, &e) < 0 && strstr(e.msg, "clone3"),
	   "so is allowing clone3: %s", e.msg);
}

int main(void)
{
	test_default_filter();
	test_recipe_kill();
	test_recipe_lists();
	test_recipe_errors();
	test_baseline_under_recipes();
	test_families();
	test_baseline_not_allowable();
	return tap_done();
}
