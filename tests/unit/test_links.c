/*
 * Unit tests for the one check that a symbolic link stays inside the
 * image, link_stays_inside() (base/contents.c), and for both of its
 * callers: recipe_load() for <symlink> (builder/recipe.c) and
 * contents_gather() for the links of a <tree> and for <symlink> items
 * (builder/gather.c).
 *
 * The schema is builder/recipe.rng of the source tree (the current
 * directory, else two above this program), or IMGTOOL_SCHEMA.
 */
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "contents.h"
#include "gather.h"
#include "recipe.h"

static char tmp[PATH_MAX];
static char schema[PATH_MAX + 32];

/* ------------------------------------------------------------------ */
/* link_stays_inside(), directly                                       */

static const struct {
	const char *path, *target;
	int inside;
	const char *why;
} links[] = {
	/* Absolute targets resolve against the image's root. */
	{ "/bin/sh", "/bin/busybox", 1, "absolute" },
	{ "/a", "/", 1, "absolute: the root itself" },
	{ "/a/b", "/../../../etc/passwd", 1, "absolute, with .. above /" },
	{ "/a", "//etc", 1, "absolute, with //" },

	/* At the root (depth 0): no .. at all. */
	{ "/l", "x", 1, "depth 0: a name" },
	{ "/l", ".", 1, "depth 0: ." },
	{ "/l", "..", 0, "depth 0: .." },
	{ "/l", "../x", 0, "depth 0: ../x" },
	{ "/l", "./..", 0, "depth 0: ./.." },
	{ "/l", "x/..", 1, "depth 0: down and back" },
	{ "/l", "x/../..", 0, "depth 0: down, back and out" },
	{ "/l", "...", 1, "depth 0: ... is a name" },
	{ "/l", "..x/y", 1, "depth 0: ..x is a name" },

	/* One directory deep. */
	{ "/bin/sh", "busybox", 1, "depth 1: a name" },
	{ "/bin/sh", "../etc", 1, "depth 1: ../etc, exactly to the root" },
	{ "/bin/sh", "..", 1, "depth 1: .., the root" },
	{ "/bin/sh", "../..", 0, "depth 1: ../.." },
	{ "/bin/sh", "../../etc", 0, "depth 1: ../../etc" },
	{ "/bin/sh", "../", 1, "depth 1: ../ with a trailing slash" },
	{ "/bin/sh", "../../", 0, "depth 1: ../../ with a trailing slash" },

	/* Three deep: the edge is exactly three ..s. */
	{ "/a/b/c/l", "../../../x", 1, "depth 3: three .. then a name" },
	{ "/a/b/c/l", "../../..", 1, "depth 3: three .., the root" },
	{ "/a/b/c/l", "../../../..", 0, "depth 3: four .." },
	{ "/a/b/c/l", "../../../../x", 0, "depth 3: four .. then a name" },
	{ "/a/b/c/l", "x/y/../../../../..", 1, "depth 3: two down, five up" },
	{ "/a/b/c/l", "x/y/../../../../../..", 0, "depth 3: two down, six up" },

	/* ./ and // components count for nothing. */
	{ "/a/b/l", "./../../x", 1, "depth 2: ./ first" },
	{ "/a/b/l", ".//..//../x", 1, "depth 2: // between" },
	{ "/a/b/l", "././../././../x", 1, "depth 2: ./ everywhere" },
	{ "/a/b/l", ".//..//..//../x", 0, "depth 2: // and one .. too many" },
	{ "/a/b/l", "..//..//..", 0, "depth 2: three .. with //" },
	{ "/a/b/l", "x//y/./../../../..", 1, "depth 2: // in the names" },
	{ "/a/b/l", "x//y/./../../../../..", 0, "depth 2: // in the names, out" },

	/* Lexical: once above the root, a link is refused, even if it would
	 * come back down. */
	{ "/a/l", "../../a/x", 0, "depth 1: above the root and back" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		ok(link_stays_inside(links[i].path, links[i].target) ==
		   links[i].inside, "link_stays_inside(\"%s\", \"%s\") is %s: %s",
		   links[i].path, links[i].target,
		   links[i].inside ? "inside" : "outside", links[i].why);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */


/* Writes tmp/name; returns its path (static, one at a time). */
static const char *put(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	return path;
}

/* A recipe whose <contents> holds items. */
static const char *recipe(const char *name, const char *items)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "<recipe name=\"links\" version=\"1\">\n"
		 "  <contents>\n%s  </contents>\n"
		 "  <outputs><jail format=\"tar\"/></outputs>\n"
		 "</recipe>\n", items);
	return put(name, text);
}

static const char *find_schema(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (getenv("IMGTOOL_SCHEMA"))
		return getenv("IMGTOOL_SCHEMA");
	if (access("builder/recipe.rng", R_OK) == 0)
		return "builder/recipe.rng";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(schema, sizeof(schema), "%s/../../builder/recipe.rng",
			 dirname(exe));
	}
	return schema;
}

/* ------------------------------------------------------------------ */
/* recipe_load() and <symlink>                                         */

static void test_recipe(void)
{
	const char *rng = find_schema(), *path;
	struct recipe *r;
	struct error e;
	char want[PATH_MAX + 256];

	path = recipe("climbs.xml",
		      "    <symlink path=\"/a/b/l\" target=\"../../../etc\"/>\n");
	r = recipe_load(path, rng, &e);
	snprintf(want, sizeof(want), "%s:3: symlink: target \"../../../etc\" "
		 "of \"/a/b/l\" leads out of the image", path);
	ok(!r && e.status == 3, "recipe_load refuses a <symlink> that climbs "
	   "out (status %d)", e.status);
	ok(!strcmp(e.msg, want), "... with its message: %s", e.msg);
	recipe_free(r);

	path = recipe("climbs-dots.xml",
		      "    <symlink path=\"/a/l\" target=\".//..//../x\"/>\n");
	r = recipe_load(path, rng, &e);
	ok(!r && e.status == 3 && strstr(e.msg, "leads out of the image"),
	   "recipe_load refuses a <symlink> that climbs out through ./ and "
	   "//: %s", e.msg);
	recipe_free(r);

	path = recipe("root.xml",
		      "    <symlink path=\"/l\" target=\"..\"/>\n");
	r = recipe_load(path, rng, &e);
	ok(!r && e.status == 3 && strstr(e.msg, "leads out of the image"),
	   "recipe_load refuses a <symlink> at the root to \"..\": %s", e.msg);
	recipe_free(r);

	path = recipe("edge.xml",
		      "    <symlink path=\"/a/b/l\" target=\"../../etc\"/>\n"
		      "    <symlink path=\"/a/b/m\" target=\"/../../etc\"/>\n"
		      "    <symlink path=\"/a/b/n\" target=\".//..//../x/..\"/>\n");
	r = recipe_load(path, rng, &e);
	ok(r != NULL, "recipe_load accepts <symlink>s that stay inside at the "
	   "edge (%s)", r ? "ok" : e.msg);
	if (r) {
		ok(r->n_items == 3 && r->items[0].kind == ITEM_SYMLINK &&
		   !strcmp(r->items[0].target, "../../etc"),
		   "... and keeps the target as written");
		recipe_free(r);
	} else {
		ok(0, "... and keeps the target as written");
	}
}

/* ------------------------------------------------------------------ */
/* contents_gather() and the links of a tree                           */

static struct recipe *load_tree_recipe(const char *name, const char *src,
				       struct error *e)
{
	char items[1024];

	snprintf(items, sizeof(items),
		 "    <tree src=\"%s\" dest=\"/srv\"/>\n", src);
	return recipe_load(recipe(name, items), find_schema(), e);
}

static void test_gather(void)
{
	struct contents c = { 0 };
	struct recipe *r;
	struct error e;
	struct entry *en;

	/* /srv/sub/esc -> ../../../x: depth 2, three .., out. */
	if (sh("mkdir -p %s/bad/sub && ln -s ../../../x %s/bad/sub/esc && "
	       "mkdir -p %s/good/sub && ln -s ../../x %s/good/sub/edge && "
	       "ln -s .//..//../y %s/good/sub/dots && "
	       "ln -s /etc/passwd %s/good/abs && echo hi > %s/good/sub/f",
	       tmp, tmp, tmp, tmp, tmp, tmp, tmp) != 0) {
		printf("Bail out! cannot make the trees\n");
		exit(1);
	}

	r = load_tree_recipe("tree-bad.xml", "bad", &e);
	ok(r != NULL, "a recipe with an escaping link in its tree loads (the "
	   "tree is read when gathered) (%s)", r ? "ok" : e.msg);
	if (r) {
		int rc = contents_gather(&c, r, 0, &e);

		ok(rc < 0 && e.status == 3, "contents_gather refuses a tree with "
		   "an escaping relative link (rc %d, status %d)", rc, e.status);
		ok(strstr(e.msg, "/bad/sub/esc: symlink to \"../../../x\" "
			  "points outside the image") != NULL,
		   "... naming the link and its target: %s", e.msg);
		contents_free(&c);
		memset(&c, 0, sizeof(c));
		recipe_free(r);
	} else {
		ok(0, "contents_gather refuses a tree with an escaping link");
		ok(0, "... naming the link and its target");
	}

	r = load_tree_recipe("tree-good.xml", "good", &e);
	ok(r != NULL, "a recipe with links that stay inside its tree loads "
	   "(%s)", r ? "ok" : e.msg);
	if (r) {
		int rc = contents_gather(&c, r, 0, &e);

		ok(rc == 0, "contents_gather accepts links that stay inside, at "
		   "the edge (%s)", rc == 0 ? "ok" : e.msg);
		en = contents_find(&c, "/srv/sub/edge");
		ok(en && S_ISLNK(en->mode) && !strcmp(en->target, "../../x"),
		   "... /srv/sub/edge -> ../../x is in the image");
		en = contents_find(&c, "/srv/sub/dots");
		ok(en && S_ISLNK(en->mode) && !strcmp(en->target, ".//..//../y"),
		   "... /srv/sub/dots -> .//..//../y, as written");
		en = contents_find(&c, "/srv/abs");
		ok(en && S_ISLNK(en->mode) && !strcmp(en->target, "/etc/passwd"),
		   "... /srv/abs -> /etc/passwd (absolute: inside the image)");
		contents_free(&c);
		memset(&c, 0, sizeof(c));
		recipe_free(r);
	} else {
		for (int i = 0; i < 4; i++)
			ok(0, "contents_gather accepts links that stay inside");
	}

	/* gather.c checks <symlink> items again: a recipe built by hand
	 * rather than by recipe_load(). */
	{
		struct item it = { .kind = ITEM_SYMLINK, .path = "/a/l",
				   .target = "../../x", .mode = MODE_UNSET,
				   .uid = ID_UNSET, .gid = ID_UNSET,
				   .at = { "hand.xml", 1 } };
		struct recipe hand = { .name = "hand", .items = &it,
				       .n_items = 1, .formats = FORMAT_TAR };
		int rc = contents_gather(&c, &hand, 0, &e);

		ok(rc < 0 && strstr(e.msg, "symlink to \"../../x\" points "
				    "outside the image"),
		   "contents_gather refuses a <symlink> item that climbs out, "
		   "even one recipe_load did not check: %s", e.msg);
		contents_free(&c);
		memset(&c, 0, sizeof(c));

		it.target = "../x";
		rc = contents_gather(&c, &hand, 0, &e);
		en = contents_find(&c, "/a/l");
		ok(rc == 0 && en && S_ISLNK(en->mode),
		   "... and accepts one that stays inside at the edge (%s)",
		   rc == 0 ? "ok" : e.msg);
		contents_free(&c);
	}
}

int main(void)
{
	snprintf(tmp, sizeof(tmp), "%s/test_links.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		printf("Bail out! cannot make a temporary directory\n");
		return 1;
	}
	test_table();
	test_recipe();
	test_gather();
	sh("rm -rf %s", tmp);
	return tap_done();
}
