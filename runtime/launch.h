/*
 * launch.h - starting the service.
 */
#ifndef IMGTOOL_LAUNCH_H
#define IMGTOOL_LAUNCH_H

#include "seccomp.h"

/* Installs the compiled filter in the calling thread. Needs no_new_privs. */
int seccomp_install(const struct seccomp_prog *p);

#endif
