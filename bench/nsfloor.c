/*
 * nsfloor - the ceiling that fresh namespaces put on instances per second.
 *
 *   nsfloor ROUNDS WORKERS [net] [mnt] [pid] [ipc] [uts] [cgroup]
 *
 * Each of WORKERS processes clones ROUNDS children into the named new
 * namespaces; each child exits at once and is waited for. Nothing else
 * happens: no exec, no mount, no service. The rate printed is therefore an
 * upper bound for any supervisor that gives every instance these
 * namespaces on this machine (bench/serve.sh compares it with the peers).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char child_stack[64 << 10] __attribute__((aligned(16)));

static int child(void *arg)
{
	(void)arg;
	return 0;
}

static int flag_of(const char *name)
{
	static const struct { const char *name; int flag; } map[] = {
		{ "net", CLONE_NEWNET }, { "mnt", CLONE_NEWNS },
		{ "pid", CLONE_NEWPID }, { "ipc", CLONE_NEWIPC },
		{ "uts", CLONE_NEWUTS }, { "cgroup", CLONE_NEWCGROUP },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(name, map[i].name))
			return map[i].flag;
	fprintf(stderr, "nsfloor: unknown namespace %s\n", name);
	exit(2);
}

static void worker(long rounds, int flags)
{
	for (long i = 0; i < rounds; i++) {
		pid_t pid = clone(child, child_stack + sizeof(child_stack),
				  flags | SIGCHLD, NULL);

		if (pid < 0) {
			perror("nsfloor: clone");
			_exit(1);
		}
		if (waitpid(pid, NULL, 0) < 0) {
			perror("nsfloor: waitpid");
			_exit(1);
		}
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	long rounds, workers;
	int flags = 0, status, failed = 0;
	double s;

	if (argc < 3 || (rounds = atol(argv[1])) <= 0 || (workers = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: nsfloor ROUNDS WORKERS [net] [mnt] [pid] "
			"[ipc] [uts] [cgroup]\n");
		return 2;
	}
	for (int i = 3; i < argc; i++)
		flags |= flag_of(argv[i]);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long w = 0; w < workers; w++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("nsfloor: fork");
			return 1;
		}
		if (pid == 0)
			worker(rounds, flags);
	}
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (failed)
		return 1;
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.0f\n", (double)(rounds * workers) / s);
	return 0;
}
