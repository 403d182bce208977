/*
 * launch.c - starting the service (see launch.h).
 */
#include <errno.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>

#include "launch.h"

/*
 * Runs in the freshly cloned child, just before execve: no allocation, one
 * system call. prctl rather than seccomp(2) with TSYNC: the child has one
 * thread. The kernel refuses the filter (EACCES) without no_new_privs or
 * CAP_SYS_ADMIN; the runtime sets no_new_privs before.
 */
int seccomp_install(const struct seccomp_prog *p)
{
	struct sock_fprog prog = { .len = p->len, .filter = p->filter };

	if (!p->filter || !p->len) {
		errno = EINVAL;
		return -1;
	}
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
