/*
 * fuzz_elf.c - libFuzzer harness for the ELF and ld.so.cache readers of
 * builder/closure.c, which take untrusted files.
 *
 *   make fuzz                     (every harness; the GNUmakefile builds it)
 *   build/fuzz/fuzz_elf -max_len=65536 CORPUS_DIR   (seed it with ELF files)
 *
 * Everything happens in a private root, so lookups never reach the host:
 *
 *   /f                                      the input, read as a program
 *   /usr/lib/x86_64-linux-gnu/libc.so.6 ->  /f, so that a fuzzed program
 *                                           needing libc loads itself again
 *   /lib -> usr/lib                         merged-/usr, as on Debian
 *   /bin/true                               the host's, a real program
 *   /etc/ld.so.cache                        the input, when it starts with
 *                                           'g' (as "glibc-ld.so.cache" does)
 *
 * In the cache case /bin/true is what closure_add reads, so its libc.so.6
 * is looked up through the fuzzed cache.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closure.h"

static char root[64];

static void cleanup(void)
{
	remove_tree(root);
}

static void put(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, name);
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}

static void setup(void)
{
	char path[256], *data;
	size_t len;
	struct error e;

	snprintf(root, sizeof(root), "/tmp/fuzz_elf.XXXXXX");
	if (!mkdtemp(root))
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/usr/lib/x86_64-linux-gnu", root);
	if (mkdir_p(path, 0755) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/etc", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/bin", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lib", root);
	if (symlink("usr/lib", path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/usr/lib/x86_64-linux-gnu/libc.so.6",
		 root);
	if (symlink("/f", path) < 0)
		abort();
	if (read_file("/bin/true", 1 << 20, &data, &len, &e) == 0) {
		put("/bin/true", data, len);
		free(data);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct closure c;
	struct error e;
	int cache = size > 0 && data[0] == 'g';

	if (!ready) {
		setup();
		ready = 1;
	}
	put(cache ? "/etc/ld.so.cache" : "/f", data, size);
	closure_init(&c, root);
	closure_add(&c, cache ? "/bin/true" : "/f", &e);
	closure_free(&c);
	if (cache) {
		char path[256];

		snprintf(path, sizeof(path), "%s/etc/ld.so.cache", root);
		unlink(path);
	}
	return 0;
}
