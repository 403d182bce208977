/*
 * seccomp.c - the system-call filter of an instance.
 *
 * The supervisor compiles the filter once with libseccomp and keeps the
 * classic BPF program; an instance only hands that program to the kernel,
 * the last step before execve. Compiling per instance would put libseccomp
 * (allocations, a rule database, code generation) on every connection's path,
 * and in a freshly cloned child that should not allocate at all.
 *
 * Architectures. The filter holds the native architecture only, and a call
 * made through any other ABI gets the "bad architecture" action, which is
 * KILL_PROCESS: an i386 call through int 0x80 on x86_64 carries a different
 * audit arch and would otherwise dodge every rule keyed on x86_64 numbers.
 * The x32 ABI shares x86_64's audit arch and marks its calls with bit 30 of
 * the number (__X32_SYSCALL_BIT); when x32 is not in the filter, libseccomp
 * makes the x86_64 part kill any number >= 0x40000000 with the bad-arch action
 * too (checked in the generated BPF and in tests/unit/test_seccomp.c), so x32
 * is no bypass either. Appliance images hold native binaries; 32-bit ones do
 * not run under the filter, by design.
 *
 * Argument checks. Arguments reach seccomp as 64-bit values even when the
 * kernel only looks at 32 bits of them: ioctl's request is an unsigned int,
 * so "TIOCSTI | 1 << 32" is TIOCSTI to the kernel but would not equal TIOCSTI
 * to a plain comparison (the Flatpak bug, CVE-2019-10063). The ioctl rules
 * therefore compare (A1 & 0xffffffff). clone's flags are tested bit by bit
 * the same way (the kernel uses the low 32 bits of them), and socket's
 * family too.
 *
 * Two parts. The baseline is the runtime's and holds for every instance:
 * the calls below that no service needs, namespace flags, terminal
 * injection, socket families the recipe did not name. A recipe's
 * <syscalls> is a second program that can only narrow what the baseline
 * lets through: the two are chained into one (chain(), below), the
 * baseline first, its "allow" answers turned into jumps to the recipe's
 * program. Adding the recipe's rules to the baseline's context instead does
 * not work: in libseccomp a rule without argument checks supersedes every
 * rule with them for the same call, so <allow>ioctl</allow> silently
 * dropped the TIOCSTI rule (issue 10: a default="allow" recipe typed
 * commands into the admin's shell). One program, rather than two stacked
 * filters, keeps one file for a VM's init and one install.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The build adds our directories with -iquote: "seccomp.h" is ours,
 * <seccomp.h> is libseccomp's.
 */
#include <seccomp.h>
#include "seccomp.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef SECCOMP_RET_ALLOW
#define SECCOMP_RET_ALLOW 0x7fff0000U
#endif
/* Families numbered from 0 to below this are checked one by one; anything
 * from it up is refused whole (the kernel's AF_MAX is 46 on 6.18). */
#define FAMILY_CHECKED 64

/*
 * What the baseline refuses: calls a service in a jail never needs
 * and that are the kernel's usual attack surface or escape hatches. Most
 * would fail anyway without capabilities, but each is a large body of kernel
 * code reachable by an unprivileged process (user namespaces, io_uring, bpf,
 * keyrings, perf, userfaultfd). They fail with EPERM rather than killing:
 * programs probe some of them (libuv tries io_uring_setup, sandboxes try
 * unshare) and fall back when refused; a kill would make them crash instead.
 * Names the native architecture lacks (vm86 on x86_64) are skipped.
 */
static const char *const baseline_deny[] = {
	/* the mount table and the root */
	"mount", "umount2", "pivot_root", "chroot", "mount_setattr",
	"move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	/* other processes' memory */
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"process_madvise", "kcmp",
	/* namespaces: clone's flags are checked separately, see below */
	"unshare", "setns",
	/* the kernel itself */
	"bpf", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "perf_event_open", "userfaultfd", "lookup_dcookie",
	"iopl", "ioperm", "vm86", "vm86old", "personality", "uselib",
	/* per-process segment descriptors: old exploit surface (CVE-2015-5157,
	 * CVE-2017-17053), needed only by 16-bit code and some emulators */
	"modify_ldt",
	/* io_uring runs requests in kernel threads that seccomp never sees */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* keyrings are not namespaced */
	"keyctl", "add_key", "request_key",
	/* file handles open any inode of a mounted filesystem (Shocker) */
	"open_by_handle_at", "name_to_handle_at",
	/* host-wide state */
	"swapon", "swapoff", "reboot", "syslog", "acct", "settimeofday",
	"clock_settime", "clock_adjtime", "adjtimex", "fanotify_init",
	"quotactl", "quotactl_fd",
	NULL
};

/* clone flags that make namespaces: each one refused separately. */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWTIME,
};

/*
 * ioctl requests refused: faking terminal input (TIOCSTI: typing into
 * whatever shell reads the terminal, where dev.tty.legacy_tiocsti=1), the
 * Linux console's ioctls, and changing a terminal's line discipline, which
 * loads rarely used kernel code (n_hdlc CVE-2017-2636, n_gsm CVE-2023-6546).
 */
static const unsigned long deny_ioctls[] = { TIOCSTI, TIOCLINUX, TIOCSETD };

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr,
		    const char *name, unsigned n_arg, const struct scmp_arg_cmp *arg,
		    struct error *e)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n_arg, arg);

	if (rc < 0)
		return error_set(e, "syscalls: cannot add a rule for \"%s\": %s",
				 name, strerror(-rc));
	return 0;
}

/*
 * clone with any namespace flag fails with EPERM. Masked equality per flag
 * (a rule holds one comparison per argument, and rules are alternatives).
 * clone3 passes its flags in memory, where seccomp cannot look: it fails with
 * ENOSYS so that glibc falls back to clone (as Docker and systemd do).
 */
static int add_clone_rules(scmp_filter_ctx ctx, struct error *e)
{
	for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
		struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ,
						clone_ns_flags[i], clone_ns_flags[i]);

		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone),
			     "clone", 1, &a, e) < 0)
			return -1;
	}
	return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), "clone3",
			0, NULL, e);
}

static int add_ioctl_rules(scmp_filter_ctx ctx, struct error *e)
{
	for (size_t i = 0; i < sizeof(deny_ioctls) / sizeof(deny_ioctls[0]); i++) {
		struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
						deny_ioctls[i]);

		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl),
			     "ioctl", 1, &a, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * socket() and socketpair() with a family other than unix, inet, inet6 and
 * those the recipe names fail with EAFNOSUPPORT, as on a kernel without
 * them. Compared on the low 32 bits (the kernel reads an int), one rule per
 * family, and every number from FAMILY_CHECKED up in one more rule.
 */
static int add_family_rules(scmp_filter_ctx ctx, uint64_t extra, struct error *e)
{
	static const struct { int nr; const char *name; } calls[] = {
		{ SCMP_SYS(socket), "socket" }, { SCMP_SYS(socketpair), "socketpair" },
	};
	uint32_t refuse = SCMP_ACT_ERRNO(EAFNOSUPPORT);

	for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		struct scmp_arg_cmp high = SCMP_A0(SCMP_CMP_GE, FAMILY_CHECKED);

		for (unsigned af = 0; af < FAMILY_CHECKED; af++) {
			struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ,
							0xffffffffu, af);

			if (af == AF_UNIX || af == AF_INET || af == AF_INET6 ||
			    (extra & ((uint64_t)1 << af)))
				continue;
			if (add_rule(ctx, refuse, calls[c].nr, calls[c].name, 1, &a, e) < 0)
				return -1;
		}
		if (add_rule(ctx, refuse, calls[c].nr, calls[c].name, 1, &high, e) < 0)
			return -1;
	}
	return 0;
}

static int add_baseline_rules(scmp_filter_ctx ctx, const struct service *s,
			      struct error *e)
{
	for (const char *const *n = baseline_deny; *n; n++) {
		int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, *n);

		/* __NR_SCMP_ERROR: unknown to this libseccomp; negative
		 * pseudo-numbers: not a call of this architecture. */
		if (nr < 0)
			continue;
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), nr, *n, 0, NULL, e) < 0)
			return -1;
	}
	if (add_clone_rules(ctx, e) < 0 || add_ioctl_rules(ctx, e) < 0)
		return -1;
	return add_family_rules(ctx, s->socket_families, e);
}

static uint32_t action_of(const struct service *s)
{
	int err = s->syscall_errno > 0 ? s->syscall_errno : EPERM;

	switch (s->syscall_default) {
	case SYSCALL_ERRNO:
		return SCMP_ACT_ERRNO(err);
	case SYSCALL_ALLOW:
		return SCMP_ACT_ALLOW;
	case SYSCALL_LOG:
		return SCMP_ACT_LOG;
	case SYSCALL_KILL:
		break;
	}
	return SCMP_ACT_KILL_PROCESS;
}

static int in_list(char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (!strcmp(*list, name))
			return 1;
	return 0;
}

/*
 * Resolves a recipe's name. Unknown names are the recipe's fault; a name
 * libseccomp knows but this architecture lacks (socketcall on x86_64) is
 * skipped (*nr < 0), since no call can ever match it here.
 */
static int resolve(const char *name, int *nr, struct error *e)
{
	*nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, name);
	if (*nr == __NR_SCMP_ERROR)
		return error_bad(e, "syscalls: unknown system call \"%s\"", name);
	return 0;
}

/*
 * Adds one list. A rule whose action is the default action is refused by
 * libseccomp (EACCES) and would change nothing: skipped.
 */
static int add_list(scmp_filter_ctx ctx, char *const *list, uint32_t action,
		    uint32_t dflt, struct error *e)
{
	for (; list && *list; list++) {
		int nr;

		if (resolve(*list, &nr, e) < 0)
			return -1;
		if (nr < 0 || action == dflt)
			continue;
		if (add_rule(ctx, action, nr, *list, 0, NULL, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * With a default other than allow, the runtime's own last calls must pass:
 * execve (the filter is installed just before it), and exit/exit_group, so
 * that a failed execve ends the child with its exit status rather than a
 * SIGSYS that would hide the real error. Exiting gives nothing away.
 */
static const char *const runtime_needs[] = { "execve", "exit", "exit_group", NULL };

static int add_runtime_needs(scmp_filter_ctx ctx, const struct service *s,
			     uint32_t dflt, struct error *e)
{
	if (dflt == SCMP_ACT_ALLOW)
		return 0;
	if (in_list(s->syscalls_deny, "execve"))
		return error_bad(e, "syscalls: execve cannot be denied: the "
				 "service is started with it after the filter");
	for (const char *const *n = runtime_needs; *n; n++) {
		if (in_list(s->syscalls_deny, *n) || in_list(s->syscalls_allow, *n))
			continue;
		if (add_rule(ctx, SCMP_ACT_ALLOW,
			     seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, *n),
			     *n, 0, NULL, e) < 0)
			return -1;
	}
	return 0;
}

static int add_recipe_rules(scmp_filter_ctx ctx, const struct service *s,
			    uint32_t dflt, struct error *e)
{
	int err = s->syscall_errno > 0 ? s->syscall_errno : EPERM;

	if (add_list(ctx, s->syscalls_allow, SCMP_ACT_ALLOW, dflt, e) < 0 ||
	    add_list(ctx, s->syscalls_deny, SCMP_ACT_ERRNO(err), dflt, e) < 0)
		return -1;
	return add_runtime_needs(ctx, s, dflt, e);
}

/*
 * seccomp_export_bpf writes to a file descriptor: a memfd, read back whole.
 * The size must be whole instructions and within the kernel's limit, or the
 * kernel would refuse the program in every instance instead of here, once.
 */
static int export_bpf(scmp_filter_ctx ctx, struct seccomp_prog *out,
		      struct error *e)
{
	int fd = memfd_create("imgtool-seccomp", MFD_CLOEXEC);
	struct stat st;
	ssize_t got = 0;
	int rc, ret = -1;

	if (fd < 0)
		return error_errno(e, "syscalls: memfd_create");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		error_set(e, "syscalls: cannot export the filter: %s", strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		error_errno(e, "syscalls: fstat of the exported filter");
		goto out;
	}
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		error_set(e, "syscalls: the filter has %lld bytes, not 1 to %d "
			  "instructions", (long long)st.st_size, BPF_MAXINSNS);
		goto out;
	}
	out->filter = xmalloc((size_t)st.st_size);
	got = pread(fd, out->filter, (size_t)st.st_size, 0);
	if (got != st.st_size) {
		if (got < 0)
			error_errno(e, "syscalls: reading the exported filter");
		else
			error_set(e, "syscalls: short read of the exported filter");
		free(out->filter);
		out->filter = NULL;
		goto out;
	}
	out->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	ret = 0;
out:
	close(fd);
	return ret;
}

/*
 * A call the baseline refuses whatever its arguments cannot be allowed by a
 * recipe: the allow would be a promise the filter does not keep.
 */
static int check_recipe_allows(const struct service *s, struct error *e)
{
	for (char *const *n = s->syscalls_allow; n && *n; n++) {
		int refused = !strcmp(*n, "clone3");

		/* vm86 on x86_64: no call can match it here, nothing to refuse. */
		if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, *n) < 0)
			continue;

		for (const char *const *b = baseline_deny; *b && !refused; b++)
			refused = !strcmp(*n, *b);
		if (refused)
			return error_bad(e, "syscalls: \"%s\" cannot be allowed: the "
					 "runtime refuses it to every instance", *n);
	}
	return 0;
}

/* One libseccomp context, default action dflt, compiled to a program. */
static int compile_one(uint32_t dflt, const struct service *s, int recipe,
		       struct seccomp_prog *out, struct error *e)
{
	scmp_filter_ctx ctx = seccomp_init(dflt);
	int rc, ret = -1;

	if (!ctx)
		return error_set(e, "syscalls: seccomp_init failed");
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0) {
		error_set(e, "syscalls: cannot set the bad-architecture action: %s",
			  strerror(-rc));
		goto out;
	}
	rc = recipe ? add_recipe_rules(ctx, s, dflt, e) : add_baseline_rules(ctx, s, e);
	if (rc < 0)
		goto out;
	ret = export_bpf(ctx, out, e);
out:
	seccomp_release(ctx);
	return ret;
}

/*
 * The baseline, then the recipe's program: every "return allow" of the
 * baseline becomes a jump to the first instruction of the recipe's (BPF_JA
 * takes a 32-bit forward offset), so a call goes on to the recipe's rules
 * only if the baseline lets it through, and whatever else the baseline
 * answers stands. Both programs are libseccomp's: each loads what it tests
 * from seccomp_data itself and keeps nothing in scratch memory, so the
 * second needs nothing from the first. A "return A" (a computed action)
 * would defeat the rewrite: libseccomp writes none, and one is refused.
 */
static int chain(struct seccomp_prog *base, struct seccomp_prog *next,
		 struct seccomp_prog *out, struct error *e)
{
	size_t total = (size_t)base->len + next->len;

	if (total > BPF_MAXINSNS)
		return error_bad(e, "syscalls: the filter needs %zu instructions, "
				 "more than the kernel's %d", total, BPF_MAXINSNS);
	out->filter = xmalloc(total * sizeof(*out->filter));
	for (unsigned i = 0; i < base->len; i++) {
		struct sock_filter f = base->filter[i];

		if (BPF_CLASS(f.code) == BPF_RET && BPF_RVAL(f.code) != BPF_K) {
			free(out->filter);
			out->filter = NULL;
			return error_set(e, "syscalls: the baseline returns a "
					 "computed action; cannot chain it");
		}
		if (f.code == (BPF_RET | BPF_K) && f.k == SECCOMP_RET_ALLOW)
			f = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA,
							 base->len - i - 1, 0, 0);
		out->filter[i] = f;
	}
	memcpy(out->filter + base->len, next->filter,
	       next->len * sizeof(*next->filter));
	out->len = (unsigned short)total;
	return 0;
}

int seccomp_compile(const struct service *s, struct seccomp_prog *out,
		    struct error *e)
{
	struct seccomp_prog base = { 0 }, recipe = { 0 };
	int ret = -1;

	out->filter = NULL;
	out->len = 0;
	if (s->has_syscalls && check_recipe_allows(s, e) < 0)
		return -1;
	if (compile_one(SCMP_ACT_ALLOW, s, 0, &base, e) < 0)
		return -1;
	if (!s->has_syscalls) {
		*out = base;
		return 0;
	}
	if (compile_one(action_of(s), s, 1, &recipe, e) == 0)
		ret = chain(&base, &recipe, out, e);
	seccomp_prog_free(&base);
	seccomp_prog_free(&recipe);
	return ret;
}

int seccomp_check(const struct service *s, struct error *e)
{
	struct seccomp_prog p;
	int rc = seccomp_compile(s, &p, e);

	seccomp_prog_free(&p);
	return rc;
}

void seccomp_prog_free(struct seccomp_prog *p)
{
	free(p->filter);
	p->filter = NULL;
	p->len = 0;
}
