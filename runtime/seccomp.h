/*
 * seccomp.h - the system-call filter of an instance.
 *
 * The filter is compiled once, by the supervisor, with libseccomp into a
 * classic BPF program; each instance then only installs that program
 * (prctl PR_SET_SECCOMP), the last step before execve. Compiling per
 * instance would put libseccomp's work on every connection's path.
 */
#ifndef IMGTOOL_SECCOMP_H
#define IMGTOOL_SECCOMP_H

#include <linux/filter.h>
#include "spec.h"
#include "util.h"

struct seccomp_prog {
	struct sock_filter *filter;
	unsigned short len;
};

/*
 * Compiles the service's filter into one program. Its first part, the
 * runtime's baseline, holds for every service whatever its recipe says:
 * mount, ptrace, bpf, kexec, module loading, keyctl, unshare, setns,
 * perf_event_open, io_uring, modify_ldt, ... fail with EPERM; clone with a
 * namespace flag with EPERM, clone3 with ENOSYS (glibc falls back to
 * clone); the ioctls TIOCSTI, TIOCLINUX and TIOCSETD with EPERM; socket()
 * and socketpair() of a family other than unix, inet, inet6 and the
 * service's socket_families with EAFNOSUPPORT (see seccomp.c).
 * Without <syscalls> that is all. With <syscalls>, what the baseline lets
 * through then meets the recipe's rules: its default action for every call
 * not listed, <allow> names allowed, <deny> names the errno action; execve,
 * exit and exit_group pass, since the filter is installed before execve.
 * Unknown names, and an <allow> of a call the baseline always refuses, are
 * errors naming the call (status 3). On error *out holds no program.
 */
int seccomp_compile(const struct service *s, struct seccomp_prog *out,
		    struct error *e);
/* seccomp_compile's checks alone, for a build that keeps no program. */
int seccomp_check(const struct service *s, struct error *e);
void seccomp_prog_free(struct seccomp_prog *p);


#endif
