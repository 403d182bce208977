/*
 * userns.h - the host ids an instance runs as: a user namespace per
 * instance, its ids mapped to a slice of a host range reserved for
 * imgtool.
 *
 * Much kernel state is kept per user: the user keyring, inotify instances
 * and watches, pipe buffers, POSIX message queue bytes, the processes of
 * RLIMIT_NPROC. An instance that ran as the recipe's uid (100, say) on the
 * host shared all of it with the host's user of that uid (Debian's
 * messagebus) and with every other instance. So each instance gets a user
 * namespace of its own whose ids 0 to 65535 are one slice of the reserved
 * range: the instance's uid 100 is host uid START + 65536 * SLICE + 100.
 * A supervisor claims a block of slices for its life (id_claim), host
 * wide, so that no two supervisors hand out the same slice, and gives each
 * live instance a slice of its own (id_slot_take): no two instances that
 * run at the same time share a host uid. A fresh namespace per instance
 * also gives each its own user keyrings (the kernel keeps them per
 * namespace), so that the next instance of a slice cannot read what the
 * last one planted.
 *
 * The range: START:COUNT of the line "imgtool:START:COUNT" of /etc/subuid
 * (and /etc/subgid for the gids) when there is one, else the default,
 * 0x70000000 to 0x7ffdffff (1879048192 to 2147352575): the block
 * systemd's UIDS-GIDS.md leaves unused, above every user and container
 * range it assigns and below its "foreign" range (0x7ffe0000) and the ids
 * that tools read as negative (0x80000000). imgsupd --id-range overrides
 * both.
 */
#ifndef IMGTOOL_USERNS_H
#define IMGTOOL_USERNS_H

#include <stdint.h>
#include <sys/types.h>
#include "util.h"

#define USERNS_SLICE 65536u		/* ids 0 to 65535 of an instance */
#define USERNS_DEFAULT_START 0x70000000u
#define USERNS_DEFAULT_COUNT 0x0ffe0000u	/* 4094 slices, to 0x7ffdffff */

struct id_range {
	uint32_t uid, gid;	/* host uid and gid of slice 0's id 0 */
	uint32_t slices;	/* how many slices of USERNS_SLICE ids */
	char source[40];	/* "default", "/etc/subuid", "--id-range" */
};

/*
 * The range imgsupd uses without --id-range: /etc/subuid's and
 * /etc/subgid's "imgtool" lines, else the default. A line that is there
 * but unusable (not START:COUNT, START not a multiple of 65536, less than
 * one slice, past 2^32 - 1) is an error naming the file; a line in one
 * file only too.
 */
int id_range_default(struct id_range *r, struct error *e);

/* "START:COUNT" (both decimal or 0x hex) for uids and gids alike, with the
 * same checks; what --id-range takes. */
int id_range_parse(const char *text, struct id_range *r, struct error *e);

/*
 * The slices one supervisor hands out: a block of n claimed host wide with
 * an open file description lock on bytes [first, first + n) of
 * lock_path (imgsupd's: /run/imgsupd/ids.lock), held until the supervisor exits (or id_claim_free), and
 * which of them live instances hold.
 */
struct id_claim {
	struct id_range range;
	int fd;			/* the lock file; -1: nothing claimed */
	uint32_t first, n;	/* slices first to first + n - 1 */
	unsigned char *used;	/* n flags */
};

/*
 * Claims the first n free consecutive slices of r. Fails, naming the
 * range, when no block of n is free.
 */
int id_claim(const struct id_range *r, uint32_t n, const char *lock_path,
	     struct id_claim *c, struct error *e);
void id_claim_free(struct id_claim *c);

/* A free slice of the claim, marked used: its index (0 to n - 1), or -1. */
int id_slot_take(struct id_claim *c);
void id_slot_put(struct id_claim *c, int slot);
/* The host uid and gid of a slot's id 0. */
uid_t id_slot_uid(const struct id_claim *c, int slot);
gid_t id_slot_gid(const struct id_claim *c, int slot);

/*
 * A new user namespace whose ids 0 to count - 1 are the host's uid to
 * uid + count - 1 and gid to gid + count - 1, setgroups allowed, owned by
 * uid (so that the kernel's per-user counts of it and of what is made in
 * it are uid's, not root's): a child takes uid and gid and unshares it,
 * its maps are written by us (root of the host's namespace), its
 * namespace opened and the child reaped. The caller may be PID 1 of a PID
 * namespace of its own, with the host's /proc still mounted (an instance,
 * before its mounts). Allocates nothing. Returns the
 * namespace's descriptor (close-on-exec), which keeps it alive, or -1.
 */
int userns_make(uid_t uid, gid_t gid, uint32_t count, struct error *e);

#endif
