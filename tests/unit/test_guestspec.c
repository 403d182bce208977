/*
 * Unit tests for runtime/guestspec.c: a recipe's service rendered and parsed
 * back gives the same values, awkward values (newlines, backslashes, spaces
 * in paths) survive, and malformed or cut specs are refused with the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestspec.h"
#include "launch.h"
#include "render.h"
#include "tap.h"

static struct user users[] = { { .name = "www", .uid = 100, .gid = 101,
				 .home = "/www" } };
static struct env_var env[] = { { "GREETING", "two\nlines \\ and a slash" },
				{ "EMPTY", "" } };
static struct writable areas[] = {
	{ .path = "/var/log/httpd", .kind = WRITABLE_LOG, .size = 16 << 20,
	  .uid = 100, .gid = 101, .mode = 0750 },
	{ .path = "/tmp/with space", .kind = WRITABLE_SCRATCH, .size = 4 << 20,
	  .uid = 0, .gid = 0, .mode = 01777 },
	{ .path = "/var/lib/db", .kind = WRITABLE_STATE, .size = 1 << 20,
	  .uid = 100, .gid = 101, .mode = 0700 },
};

static void sample(struct recipe *r)
{
	memset(r, 0, sizeof(*r));
	r->name = "web";
	r->path = "web.xml";
	r->users = users;
	r->n_users = 1;
	r->writables = areas;
	r->n_writables = 3;
	r->service = (struct service){
		.present = 1, .user = "www", .uid = 100, .gid = 101,
		.recycle = RECYCLE_SESSION, .network = NETWORK_LOOPBACK,
		.exec = "/bin/busybox  httpd -i\t-vv -h /www",
		.workdir = "/www", .stderr_path = "/var/log/httpd/access.log",
		.env = env, .n_env = 2,
		.limits = { .memory = 32 << 20, .pids = 16, .nofile = 64,
			    .wall = 30, .cpu = 5, .fsize = 1 << 20 },
		.at = { "web.xml", 7 },
	};
}

static int parse(const char *text, struct guest_spec *gs, char *err)
{
	return guestspec_parse(text, strlen(text), gs, err, GUESTSPEC_ERR_MAX);
}

/* Whether two NULL-terminated vectors hold the same strings. */
static int same_strv(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

static void round_trip(void)
{
	struct recipe r;
	struct buf b = { 0 };
	struct error e = { 0 };
	struct guest_spec gs;
	struct launch jail, vm;
	char err[GUESTSPEC_ERR_MAX] = "";

	sample(&r);
	ok(guestspec_render(&r, &b, &e) == 0, "render: %s", e.msg);
	ok(parse(b.data, &gs, err) == 0, "parse the rendered spec: %s", err);
	ok(!strcmp(gs.hostname, "web") && gs.service.uid == 100 &&
	   gs.service.gid == 101 && !strcmp(gs.service.user, "www") &&
	   !strcmp(gs.home, "/www"), "hostname, user, ids and home");
	ok(!strcmp(gs.service.exec, r.service.exec), "the exec line as written");
	ok(gs.service.n_env == 2 &&
	   !strcmp(gs.service.env[0].name, "GREETING") &&
	   !strcmp(gs.service.env[0].value, "two\nlines \\ and a slash") &&
	   !strcmp(gs.service.env[1].name, "EMPTY") &&
	   !strcmp(gs.service.env[1].value, ""), "newline and backslash survive");
	ok(!strcmp(gs.service.workdir, "/www") &&
	   !strcmp(gs.service.stderr_path, "/var/log/httpd/access.log"),
	   "workdir and stderr");
	ok(gs.service.recycle == RECYCLE_SESSION &&
	   gs.service.network == NETWORK_LOOPBACK, "recycle and network");
	ok(!memcmp(&gs.service.limits, &r.service.limits, sizeof(struct limits)),
	   "limits");
	ok(gs.n_areas == 3 && !strcmp(gs.areas[0].path, "/var/log/httpd") &&
	   gs.areas[0].kind == WRITABLE_LOG && gs.areas[0].size == 16 << 20 &&
	   gs.areas[0].uid == 100 && gs.areas[0].gid == 101 &&
	   gs.areas[0].mode == 0750, "a log area");
	ok(!strcmp(gs.areas[1].path, "/tmp/with space") &&
	   gs.areas[1].kind == WRITABLE_SCRATCH && gs.areas[1].mode == 01777 &&
	   gs.areas[2].kind == WRITABLE_STATE, "a path with a space, sticky mode");

	/*
	 * The plan a jail's supervisor builds from the service and the one a
	 * VM's init builds from the guest spec are the same, field by field.
	 */
	ok(launch_plan(&jail, &r.service, r.writables, r.n_writables, "/www", NULL, NULL, &e) == 0 &&
	   launch_plan(&vm, &gs.service, gs.areas, gs.n_areas, gs.home, NULL, NULL, &e) == 0,
	   "both plans build: %s", e.msg);
	ok(jail.argv.n == 6 && !strcmp(jail.argv.v[0], "/bin/busybox") &&
	   !strcmp(jail.argv.v[1], "httpd") && !strcmp(jail.argv.v[3], "-vv") &&
	   !strcmp(jail.argv.v[5], "/www") && jail.argv.v[6] == NULL,
	   "argv split on blanks");
	ok(jail.env.n == 6 && !strcmp(jail.env.v[0], "PATH=" LAUNCH_PATH) &&
	   !strcmp(jail.env.v[1], "HOME=/www") && !strcmp(jail.env.v[2], "USER=www") &&
	   !strcmp(jail.env.v[3], "LOGNAME=www") &&
	   !strcmp(jail.env.v[4], "GREETING=two\nlines \\ and a slash") &&
	   !strcmp(jail.env.v[5], "EMPTY="), "the base environment, then the recipe's");
	ok(same_strv(&jail.argv, &vm.argv), "same argv in a jail and a VM");
	ok(same_strv(&jail.env, &vm.env), "same environment in a jail and a VM");
	ok(!strcmp(jail.workdir, vm.workdir) && !strcmp(vm.workdir, "/www"),
	   "same workdir");
	ok(!strcmp(jail.stderr_path, vm.stderr_path), "same stderr");
	ok(jail.uid == vm.uid && jail.gid == vm.gid && vm.uid == 100 &&
	   vm.gid == 101, "same user");
	ok(!memcmp(&jail.limits, &vm.limits, sizeof(jail.limits)), "same limits");
	ok(jail.writable.n == 3 && !strcmp(jail.writable.v[1], "/tmp/with space") &&
	   same_strv(&jail.writable, &vm.writable),
	   "same writable paths (the Landlock domain's) in a jail and a VM");
	launch_free(&jail);
	launch_free(&vm);

	/* Without a workdir, both start in the home. */
	gs.service.workdir = NULL;
	free(gs.service.workdir);
	r.service.workdir = NULL;
	ok(launch_plan(&jail, &r.service, r.writables, r.n_writables, "/www", NULL, NULL, &e) == 0 &&
	   launch_plan(&vm, &gs.service, gs.areas, gs.n_areas, gs.home, NULL, NULL, &e) == 0 &&
	   !strcmp(jail.workdir, "/www") && !strcmp(vm.workdir, "/www"),
	   "the home is the default workdir");
	launch_free(&jail);
	launch_free(&vm);
	guestspec_free(&gs);
	ok(gs.service.exec == NULL && gs.hostname == NULL, "free clears the spec");
	buf_free(&b);
}

static void render_refusals(void)
{
	struct recipe r;
	struct buf b = { 0 };
	struct error e = { 0 };

	sample(&r);
	r.service.recycle = RECYCLE_INTERVAL;
	ok(guestspec_render(&r, &b, &e) < 0 && e.status == 3 &&
	   strstr(e.msg, "interval"), "interval recycling refused: %s", e.msg);
	sample(&r);
	r.service.exec = "busybox httpd";
	ok(guestspec_render(&r, &b, &e) < 0 && strstr(e.msg, "absolute"),
	   "a relative command refused: %s", e.msg);
	sample(&r);
	r.service.present = 0;
	ok(guestspec_render(&r, &b, &e) < 0, "no service refused: %s", e.msg);
	buf_free(&b);
}

#define V "imgtool-guestspec 2\n"
#define HEAD V "hostname web\nuser www\nuid 100\ngid 100\nhome /\n" \
	     "exec /bin/true\nrecycle connection\nnetwork none\n"

/* Each is refused, with an error mentioning the expected text. */
static const struct { const char *text, *why, *name; } bad[] = {
	{ "", "no \"end\"", "empty" },
	{ HEAD, "no \"end\"", "cut before end" },
	{ HEAD "end", "no newline", "last line without a newline" },
	{ HEAD "end\nuid 1\n", "after \"end\"", "text after end" },
	{ "imgtool-guestspec 1\n" HEAD "end\n", "line 1", "wrong version" },
	{ V "uid 100\nend\n", "missing", "keys missing" },
	{ HEAD "uid 101\nend\n", "line 10: uid: given twice", "duplicate uid" },
	{ V "hostname web\nuid 0\n", "uid: not a number",
	  "uid 0" },
	{ V "hostname web\nuid 65535\n", "uid", "uid too big" },
	{ V "hostname web\nuid -1\n", "uid", "negative uid" },
	{ V "hostname web\nuid 0100\n", "uid", "leading zero" },
	{ V "hostname web\nuid 99999999999999999999999\n",
	  "uid", "overflowing number" },
	{ V "hostname Web/x\n", "hostname", "bad hostname" },
	{ V "exec bin/true\n", "absolute", "relative command" },
	{ HEAD "exec /bin/false\nend\n", "exec: given twice", "exec twice" },
	{ HEAD "home /x\nend\n", "home: given twice", "home twice" },
	{ V "user Www\n", "user", "bad user name" },
	{ HEAD "env NOEQUALS\nend\n", "NAME=VALUE", "env without =" },
	{ HEAD "env A=\\x\nend\n", "escape", "bad escape" },
	{ HEAD "env A=\\\nend\n", "escape", "trailing backslash" },
	{ HEAD "workdir www\nend\n", "workdir", "relative workdir" },
	{ HEAD "stderr /var/../etc/passwd\nend\n", "stderr", "dot-dot path" },
	{ HEAD "recycle interval\nend\n", "recycle", "recycle given twice" },
	{ V "recycle interval\n", "recycle", "interval" },
	{ V "network wide\n", "network", "unknown network" },
	{ HEAD "limit memory\nend\n", "limit", "limit without value" },
	{ HEAD "limit disk 5\nend\n", "unknown limit", "unknown limit" },
	{ HEAD "limit pids 1\nlimit pids 2\nend\n", "twice", "limit twice" },
	{ HEAD "limit memory 999999999999999999\nend\n", "limit memory",
	  "limit out of range" },
	{ HEAD "area log 1 100 100 0755\nend\n", "path", "area without path" },
	{ HEAD "area log 1 100 100\nend\n", "KIND", "area too short" },
	{ HEAD "area disk 1 100 100 0755 /x\nend\n", "kind", "area bad kind" },
	{ HEAD "area log 0 100 100 0755 /x\nend\n", "size", "area size 0" },
	{ HEAD "area log 1 100 100 755 /x\nend\n", "mode", "area mode 3 digits" },
	{ HEAD "area log 1 100 100 0758 /x\nend\n", "mode", "area mode not octal" },
	{ HEAD "area log 1 100 100 0755 /\nend\n", "path", "area on /" },
	{ HEAD "area log 1 100 100 0755 /x//y\nend\n", "path", "area path //" },
	{ HEAD "frobnicate 1\nend\n", "unknown key", "unknown key" },
	{ HEAD "lonely\nend\n", "KEY VALUE", "line without value" },
};

static void parse_refusals(void)
{
	struct guest_spec gs;
	char err[GUESTSPEC_ERR_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ok(parse(bad[i].text, &gs, err) < 0 && strstr(err, bad[i].why) &&
		   gs.service.exec == NULL, "refused: %s (%s)", bad[i].name, err);
	}
	/* A NUL inside, and a spec over the size cap. */
	{
		static const char nul[] = HEAD "env A=b\0c\nend\n";

		ok(guestspec_parse(nul, sizeof(nul) - 1, &gs, err, sizeof(err)) < 0 &&
		   strstr(err, "NUL"), "refused: NUL (%s)", err);
	}
	{
		size_t n = GUESTSPEC_MAX_BYTES + 1;
		char *big = malloc(n);

		memset(big, 'a', n);
		ok(big && guestspec_parse(big, n, &gs, err, sizeof(err)) < 0 &&
		   strstr(err, "larger"), "refused: too large (%s)", err);
		free(big);
	}
	/* Too many env lines: each within bounds, the count is not. */
	{
		struct buf b = { 0 };

		buf_puts(&b, HEAD);
		for (int i = 0; i <= SPEC_MAX_ENV; i++)
			buf_puts(&b, "env X=1\n");
		buf_puts(&b, "end\n");
		ok(parse(b.data, &gs, err) < 0 && strstr(err, "more than"),
		   "refused: too many env lines (%s)", err);
		buf_free(&b);
	}
	/* The smallest valid spec: no workdir (the plan takes the home), no stderr. */
	err[0] = '\0';
	ok(parse(HEAD "end\n", &gs, err) == 0 && !gs.service.workdir &&
	   !gs.service.stderr_path && gs.n_areas == 0 && gs.service.n_env == 0,
	   "minimal spec accepted: %s", err);
	guestspec_free(&gs);
}

/* One newc member, as libarchive writes it (header, name, data, padding). */
static void newc(struct buf *b, const char *name, unsigned mode,
		 const char *data, size_t len)
{
	size_t namesize = strlen(name) + 1;

	buf_printf(b, "070701%08x%08x%08x%08x%08x%08x%08zx%08x%08x%08x%08x%08zx%08x",
		   1u, mode, 0u, 0u, 1u, 0u, len, 0u, 0u, 0u, 0u, namesize, 0u);
	buf_add(b, name, namesize);
	while (b->len % 4)
		buf_add(b, "", 1);
	buf_add(b, data, len);
	while (b->len % 4)
		buf_add(b, "", 1);
}

static void initrd_reading(void)
{
	static const char spec_text[] = HEAD "end\n";
	struct buf b = { 0 };
	const char *spec;
	size_t len, cut;
	char err[GUESTSPEC_ERR_MAX];

	newc(&b, "imgtool", 040755, "", 0);
	newc(&b, "init", 0100755, "\x7f" "ELF...", 7);
	newc(&b, GUESTSPEC_INITRD_PATH, 0100644, spec_text, sizeof(spec_text) - 1);
	cut = b.len - 8;	/* inside the spec's data */
	newc(&b, "TRAILER!!!", 0, "", 0);
	ok(guestspec_from_initrd(b.data, b.len, &spec, &len, err, sizeof(err)) == 0 &&
	   len == sizeof(spec_text) - 1 && !memcmp(spec, spec_text, len),
	   "the spec is found in a newc archive");
	/* Cut in the spec's data: its size runs past the end. */
	ok(guestspec_from_initrd(b.data, cut, &spec, &len, err, sizeof(err)) < 0 &&
	   strstr(err, "no imgtool/spec"), "a cut archive is refused (%s)", err);
	/* A header that is not newc stops the walk. */
	b.data[0] = 'X';
	ok(guestspec_from_initrd(b.data, b.len, &spec, &len, err, sizeof(err)) < 0,
	   "a header without the newc magic is refused");
	buf_free(&b);
	/* The name of a directory, not a regular file: not the spec. */
	newc(&b, GUESTSPEC_INITRD_PATH, 040755, "", 0);
	newc(&b, "TRAILER!!!", 0, "", 0);
	ok(guestspec_from_initrd(b.data, b.len, &spec, &len, err, sizeof(err)) < 0,
	   "a directory at the spec's path is not the spec");
	buf_free(&b);
	/* A name size past the end. */
	buf_printf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		   1u, 0100644u, 0u, 0u, 1u, 0u, 0u, 0u, 0u, 0u, 0u, 0x7fffffffu, 0u);
	ok(guestspec_from_initrd(b.data, b.len, &spec, &len, err, sizeof(err)) < 0,
	   "a name size past the end is refused");
	buf_free(&b);
}

int main(void)
{
	round_trip();
	render_refusals();
	parse_refusals();
	initrd_reading();
	return tap_done();
}
