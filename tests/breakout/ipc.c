/*
 * ipc.c - state shared between instances, or with the host, through the
 * IPC namespace: SysV shared memory, message queues and semaphores, and
 * POSIX message queues. An attack plants an object under a key in one run
 * and another run (or the host, which made one of its own) looks for it:
 * each instance must have an IPC namespace of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>

#include "breakout.h"

static int key_of(const char *a, key_t *key)
{
	char *end;

	if (!a)
		return -1;
	*key = (key_t)strtoul(a, &end, 0);
	return *end || !*key ? -1 : 0;
}

/* Planting is no escape: it says what it did, blocked; the finding is a
 * later run's (or the host's) seeing it. */
static int sysv_plant(const char *n, const char *a)
{
	key_t key;
	int shm, msg, sem;

	if (key_of(a, &key) < 0)
		return harness(n, "needs a key (0x...) as its argument");
	shm = shmget(key, 4096, IPC_CREAT | 0666);
	msg = msgget(key, IPC_CREAT | 0666);
	sem = semget(key, 1, IPC_CREAT | 0666);
	if (shm < 0 && msg < 0 && sem < 0)
		return blocked(n, "shmget, msgget, semget", errno);
	return blocked(n, "planted a segment, a queue and a semaphore in the "
		       "instance's own IPC namespace; the next run and the host look for them", 0);
}

static int sysv_find(const char *n, const char *a)
{
	key_t key;

	if (key_of(a, &key) < 0)
		return harness(n, "needs a key (0x...) as its argument");
	if (shmget(key, 0, 0) >= 0)
		return escaped(n, "found a shared memory segment of key %s", a);
	if (msgget(key, 0) >= 0)
		return escaped(n, "found a message queue of key %s", a);
	if (semget(key, 0, 0) >= 0)
		return escaped(n, "found a semaphore set of key %s", a);
	return blocked(n, "shmget, msgget, semget of the key", errno);
}

static int mq_plant(const char *n, const char *a)
{
	long fd;

	if (!a)
		return harness(n, "needs a queue name as its argument");
	fd = syscall(SYS_mq_open, a, O_CREAT | O_RDWR | O_CLOEXEC, 0666, NULL);
	if (fd < 0)
		return blocked(n, "mq_open O_CREAT", errno);
	return blocked(n, "made a POSIX queue in the instance's own IPC namespace; "
		       "the next run looks for it", 0);
}

static int mq_find(const char *n, const char *a)
{
	if (!a)
		return harness(n, "needs a queue name as its argument");
	return expect_fail(n, syscall(SYS_mq_open, a, O_RDWR | O_CLOEXEC, 0, NULL),
			   "mq_open of another run's queue", "found another run's POSIX queue");
}

const struct attack ipc_attacks[] = {
	{ "sysv-plant", sysv_plant, "IPC namespace of its own (the plant is the first half)", "the host checks ipcs", "plant SysV objects under a key" },
	{ "sysv-find", sysv_find, "IPC namespace of its own (ENOENT)", "none", "find SysV objects of the host or an earlier instance" },
	{ "mqueue-plant", mq_plant, "IPC namespace of its own (the first half)", "no /dev/mqueue in the jail", "make a POSIX message queue" },
	{ "mqueue-find", mq_find, "IPC namespace of its own (ENOENT)", "none", "open an earlier instance's POSIX queue" },
	{ NULL, NULL, NULL, NULL, NULL }
};
