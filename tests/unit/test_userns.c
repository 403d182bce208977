/*
 * Unit tests for runtime/userns.c: --id-range's checks, and claims of
 * slices: two claims on one lock file get disjoint blocks (open file
 * description locks conflict within a process too, as between
 * supervisors), a freed block is claimed again, an exhausted range is an
 * error, and slots are handed out and given back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "userns.h"

static int parses(const char *text, struct id_range *r)
{
	struct error e = { 0 };

	return id_range_parse(text, r, &e) == 0;
}

static void test_parse(void)
{
	struct id_range r;

	ok(parses("0x70000000:0x20000", &r) && r.uid == 0x70000000u &&
	   r.gid == 0x70000000u && r.slices == 2, "hex START:COUNT");
	ok(parses("65536:65536", &r) && r.uid == 65536 && r.slices == 1,
	   "decimal, one slice");
	ok(parses("65536:131071", &r) && r.slices == 1, "a part slice is left out");
	ok(!parses("1000:65536", &r), "a start that is no multiple of 65536 is refused");
	ok(!parses("0:65536", &r), "uid 0 is refused");
	ok(!parses("65536:100", &r), "less than a slice is refused");
	ok(!parses("0xffff0000:0x10000", &r), "(uid_t)-1 in the range is refused");
	ok(!parses("65536", &r) && !parses("a:b", &r) && !parses("-65536:65536", &r) &&
	   !parses("65536:65536x", &r), "what is not START:COUNT is refused");
}

static void test_claims(void)
{
	char lock[] = "/tmp/test_userns.XXXXXX";
	struct id_range r = { .uid = 0x10000, .gid = 0x20000, .slices = 5 };
	struct id_claim a, b, c;
	struct error e = { 0 };
	int fd = mkstemp(lock), s0, s1;

	ok(fd >= 0, "a lock file");
	close(fd);
	ok(id_claim(&r, 2, lock, &a, &e) == 0 && a.first == 0 && a.n == 2,
	   "the first claim gets slices 0 and 1");
	ok(id_claim(&r, 2, lock, &b, &e) == 0 && b.first == 2,
	   "the second gets 2 and 3, past the first's");
	ok(id_claim(&r, 2, lock, &c, &e) < 0 && strstr(e.msg, "no 2 free slices"),
	   "a third finds no 2 free: %s", e.msg);
	id_claim_free(&a);
	memset(&e, 0, sizeof(e));
	ok(id_claim(&r, 2, lock, &c, &e) == 0 && c.first == 0,
	   "once the first is freed, its block is claimed again");
	s0 = id_slot_take(&b);
	s1 = id_slot_take(&b);
	ok(s0 == 0 && s1 == 1 && id_slot_take(&b) == -1, "two slots, then none");
	ok(id_slot_uid(&b, 1) == 0x10000 + 3 * 65536 &&
	   id_slot_gid(&b, 1) == 0x20000 + 3 * 65536,
	   "a slot's host ids are its slice's in the range");
	id_slot_put(&b, s0);
	ok(id_slot_take(&b) == 0, "a slot given back is taken again");
	id_claim_free(&b);
	id_claim_free(&c);
	unlink(lock);
}

int main(void)
{
	test_parse();
	test_claims();
	return tap_done();
}
