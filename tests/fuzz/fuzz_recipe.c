/*
 * fuzz_recipe.c - libFuzzer harness for recipe_load(): any bytes as a
 * recipe must give a recipe or one error line, never a crash, a leak or a
 * hang.
 *
 *   make fuzz                     (every harness, 30 s each; make check
 *                                  runs them briefly as fuzz-check)
 *   IMGTOOL_SCHEMA=builder/recipe.rng build/fuzz/fuzz_recipe -max_len=4096 \
 *       tests/fuzz/corpus/fuzz_recipe
 *
 * So that the includes are fuzzed too, one input is several files: it is
 * cut at each form feed (a byte XML never allows, so no recipe is lost to
 * the cut) into recipe.xml, p1.xml, p2.xml and p3.xml (the rest of the
 * input, form feeds and all, goes into p3.xml), written to a private
 * directory in which motd.txt and site/index.html are fixed text files. A recipe includes them
 * by those names, parse="xml" or "text"; a file the input does not give is
 * absent, so every run depends on its input alone. FUZZ_VERBOSE=1 in the
 * environment prints each input's outcome, to see what a seed reaches.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recipe.h"

#define N_PIECES 4

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char dir[PATH_MAX];
static const char *const pieces[N_PIECES] = {
	"recipe.xml", "p1.xml", "p2.xml", "p3.xml"
};

/* Writes len bytes to dir/name, or aborts: the harness cannot go on. */
static void put(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX + 32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0)
		abort();
}

/*
 * The private directory, made once in $TMPDIR, with the fixed files in it.
 * It stays: libFuzzer ends with _Exit, past any atexit handler, so make
 * fuzz points TMPDIR at a directory of its own and removes that.
 */
static void setup(void)
{
	static const char motd[] = "Welcome.\n";
	char path[PATH_MAX + 32];

	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fuzz_recipe.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	put("motd.txt", motd, sizeof(motd) - 1);
	snprintf(path, sizeof(path), "%s/site", dir);
	if (mkdir(path, 0755) != 0)
		abort();
	put("site/index.html", motd, sizeof(motd) - 1);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char path[PATH_MAX + 32];
	struct error e;
	struct recipe *r;
	size_t at = 0;

	if (!dir[0])
		setup();
	for (int i = 0; i < N_PIECES; i++) {
		const unsigned char *ff = i < N_PIECES - 1 && at < size ?
			memchr(data + at, '\f', size - at) : NULL;
		size_t end = ff ? (size_t)(ff - data) : size;

		snprintf(path, sizeof(path), "%s/%s", dir, pieces[i]);
		if (i > 0 && at > size) {
			/* not in this input: absent, whatever the last one had */
			if (unlink(path) != 0 && access(path, F_OK) == 0)
				abort();
			continue;
		}
		put(pieces[i], data + at, end - at);
		at = ff ? end + 1 : size + 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, pieces[0]);
	r = recipe_load(path, recipe_schema_path(), &e);
	if (getenv("FUZZ_VERBOSE"))	/* to see what a seed reaches */
		fprintf(stderr, "fuzz_recipe: %s\n", r ? "ok" : e.msg);
	if (r)
		recipe_free(r);
	else if (!e.msg[0] || strchr(e.msg, '\n') || e.status == 0)
		abort();	/* every failure says what, on one line */
	return 0;
}
