/* tap.h - the smallest TAP producer: ok(cond, name), then return tap_done();
 * and sh(), for the fixtures of the tests that need files. */
#ifndef IMGTOOL_TAP_H
#define IMGTOOL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static int tap_n, tap_failed;

#define ok(cond, ...) do {						\
		int ok_ = (cond);					\
		printf("%sok %d - ", ok_ ? "" : "not ", ++tap_n);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		if (!ok_) {						\
			tap_failed++;					\
			printf("#   failed at %s:%d\n", __FILE__, __LINE__); \
		}							\
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* Runs a shell command built from fmt; returns its exit status (-1: none). */
static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

#endif
