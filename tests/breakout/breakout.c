/*
 * breakout.c - the battery's driver: one attack by name, the list, the
 * table of layers, the serving path, and the host-side listeners.
 *
 *   breakout NAME [ARG]        run one attack (exit 0 escaped, 1 blocked,
 *                              2 harness error)
 *   breakout list [--table|--families]   the attacks' names, a Markdown
 *                              table of each attack and the layers that
 *                              stop it, or "FAMILY NAME" lines
 *   breakout serve             read "NAME [ARG]" from stdin (the
 *                              connection, inetd style) and run it, the
 *                              result on stdout
 *   breakout listen-tcp ADDR:PORT LOG     host side: a listener that
 *   breakout listen-abstract NAME LOG     appends a line to LOG for every
 *                                         connection it accepts (LOG is
 *                                         created once it listens)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "breakout.h"

const char *self_path = "/breakout";

static const struct attack *const families[] = {
	mounts_attacks, ns_attacks, proc_attacks, kernel_attacks,
	net_attacks, ipc_attacks, res_attacks, id_attacks,
};
/* the families' names, for list --families: each table's file */
static const char *const family_names[] = {
	"mounts", "ns", "proc", "kernel", "net", "ipc", "res", "id",
};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

int blocked(const char *name, const char *how, int err)
{
	if (err)
		printf("%s: blocked (%s: %s)\n", name, how, strerror(err));
	else
		printf("%s: blocked (%s)\n", name, how);
	fflush(stdout);
	return BLOCKED;
}

static void vline(const char *name, const char *tag, const char *fmt, va_list ap)
{
	printf("%s: %s (", name, tag);
	vprintf(fmt, ap);
	printf(")\n");
	fflush(stdout);
}

int escaped(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(name, "ESCAPED", fmt, ap);
	va_end(ap);
	return ESCAPED;
}

int harness(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(name, "harness error", fmt, ap);
	va_end(ap);
	return HARNESS;
}

int expect_fail(const char *name, long rc, const char *how, const char *what)
{
	if (rc < 0)
		return blocked(name, how, errno);
	return escaped(name, "%s", what);
}

int in_child(int (*fn)(void *), void *arg, int *sig)
{
	int status;
	pid_t pid;

	*sig = 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn(arg));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		return BLOCKED;
	}
	return WEXITSTATUS(status);
}

static const struct attack *find(const char *name)
{
	for (size_t f = 0; f < N_FAMILIES; f++)
		for (const struct attack *a = families[f]; a->name; a++)
			if (!strcmp(a->name, name))
				return a;
	return NULL;
}

/* mode 0: names; 1: the Markdown table; 2: "FAMILY NAME" lines */
static int list(int mode)
{
	int table = mode == 1;

	if (table) {
		printf("| attack | what it tries | the layer that stops it | the layer behind |\n");
		printf("|---|---|---|---|\n");
	}
	for (size_t f = 0; f < N_FAMILIES; f++)
		for (const struct attack *a = families[f]; a->name; a++) {
			if (a->name[0] == '_')
				continue;	/* the second halves of exec attacks */
			if (table)
				printf("| `%s` | %s | %s | %s |\n", a->name,
				       a->what, a->layer, a->behind);
			else if (mode == 2)
				printf("%s %s\n", family_names[f], a->name);
			else
				printf("%s\n", a->name);
		}
	return 0;
}

static int run_one(const char *name, const char *arg)
{
	const struct attack *a = find(name);

	if (!a) {
		printf("%s: harness error (no such attack)\n", name);
		return HARNESS;
	}
	return a->run(a->name, arg);
}

/* One line from the connection: "NAME [ARG]", read a byte at a time so
 * that nothing after the line is taken from an attack that reads on. */
static int serve(void)
{
	char line[512], *arg;
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		ssize_t got = read(0, line + n, 1);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!line[0]) {
		printf("serve: harness error (no attack named on the connection)\n");
		return HARNESS;
	}
	return run_one(line, arg && *arg ? arg : NULL);
}

/* Host side: accepts for ever, one line in log per connection. */
static int accept_loop(int fd, const char *log)
{
	int lf = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (lf < 0) {
		fprintf(stderr, "breakout: %s: %s\n", log, strerror(errno));
		return HARNESS;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "breakout: accept: %s\n", strerror(errno));
			return HARNESS;
		}
		if (write(lf, "accepted a connection\n", 22) != 22)
			fprintf(stderr, "breakout: %s: %s\n", log, strerror(errno));
		close(c);
	}
}

static int listen_tcp(const char *addr, const char *log)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	int fd, one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "breakout: listen-tcp: \"%s\" is not ADDR:PORT\n", addr);
		return HARNESS;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "breakout: listen-tcp: \"%s\" is not an IPv4 address\n", host);
		return HARNESS;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0) {
		fprintf(stderr, "breakout: listen-tcp %s: %s\n", addr, strerror(errno));
		return HARNESS;
	}
	return accept_loop(fd, log);
}

static int listen_abstract(const char *name, const char *log)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd;

	if (len + 1 > sizeof(sun.sun_path)) {
		fprintf(stderr, "breakout: listen-abstract: name too long\n");
		return HARNESS;
	}
	memcpy(sun.sun_path + 1, name, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0 ||
	    listen(fd, 16) < 0) {
		fprintf(stderr, "breakout: listen-abstract %s: %s\n", name, strerror(errno));
		return HARNESS;
	}
	return accept_loop(fd, log);
}

static int usage(void)
{
	fprintf(stderr, "usage: breakout NAME [ARG] | list [--table|--families] | serve |\n"
		"       listen-tcp ADDR:PORT LOG | listen-abstract NAME LOG\n");
	return HARNESS;
}

int main(int argc, char **argv)
{
	/* a connection's reset must not kill the attack before it reports */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	if (argv[0][0] == '/')
		self_path = argv[0];
	if (!strcmp(argv[1], "list")) {
		int mode = argc < 3 ? 0 : !strcmp(argv[2], "--table") ? 1 :
			   !strcmp(argv[2], "--families") ? 2 : -1;

		return mode < 0 || argc > 3 ? usage() : list(mode);
	}
	if (!strcmp(argv[1], "serve"))
		return serve();
	if (!strcmp(argv[1], "listen-tcp") && argc == 4)
		return listen_tcp(argv[2], argv[3]);
	if (!strcmp(argv[1], "listen-abstract") && argc == 4)
		return listen_abstract(argv[2], argv[3]);
	if (argc > 3)
		return usage();
	return run_one(argv[1], argc > 2 ? argv[2] : NULL);
}
