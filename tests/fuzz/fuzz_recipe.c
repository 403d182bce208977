/*
 * fuzz_recipe.c - libFuzzer harness for recipe_load(): any bytes as a
 * recipe must give a recipe or one error line, never a crash, a leak or a
 * hang. Includes in the input resolve relative to the work directory.
 *
 *   make fuzz                     (every harness; the GNUmakefile builds it)
 *   IMGTOOL_SCHEMA=builder/recipe.rng build/fuzz/fuzz_recipe -max_len=4096 \
 *       tests/fixtures/good tests/fixtures/bad
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recipe.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char path[64];
	struct error e;
	struct recipe *r;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz_recipe.%d.xml",
			 (int)getpid());
	f = fopen(path, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();
	r = recipe_load(path, recipe_schema_path(), &e);
	if (r)
		recipe_free(r);
	else if (!e.msg[0] || strchr(e.msg, '\n') || e.status == 0)
		abort();	/* every failure says what, on one line */
	return 0;
}
