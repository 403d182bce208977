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
 * Compiles the service's filter. Without <syscalls> in the recipe, the
 * default filter allows everything but the calls a service never needs
 * (mount, ptrace, bpf, kexec, module loading, keyctl, unshare, setns,
 * perf_event_open, ...), which fail with EPERM... or kill: see seccomp.c.
 * With <syscalls>, the recipe's default action applies to every call not
 * listed, <allow> names are allowed and <deny> names get the errno action;
 * execve is always allowed, since the filter is installed before it.
 * Unknown syscall names are an error naming them.
 */
int seccomp_compile(const struct service *s, struct seccomp_prog *out,
		    struct error *e);
void seccomp_prog_free(struct seccomp_prog *p);


#endif
