/*
 * Unit tests for builder/closure.c: the ELF dependency closure.
 *
 * Host programs (/usr/bin/env, /bin/sh, /bin/busybox) check the real
 * thing; small programs and libraries built with cc in a temporary directory
 * check the lookup rules one by one, against ld.so itself where it can run
 * them; a fake root tree checks merged-/usr links, the default directories,
 * ld.so.cache and hostile files without depending on the host's layout.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "closure.h"

/* Short enough that every path built from them fits in PATH_MAX. */
/* ok() that shows the error message when the check fails. */
#define ok_e(cond, ...) do {						\
		int c_ = (cond);					\
		ok(c_, __VA_ARGS__);					\
		if (!c_)						\
			printf("#   error: %s\n", e.msg);		\
	} while (0)

static char tmp[1024];		/* the fixtures, removed at the end */
static char root[1100];		/* tmp/root, a fake image tree */


static void put(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
}

static const struct closure_entry *find(const struct closure *c,
					const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].path, path) == 0)
			return &c->v[i];
	return NULL;
}

static int has_file(const struct closure *c, const char *path)
{
	const struct closure_entry *en = find(c, path);

	return en && en->type == CLOSURE_FILE && !en->target;
}

static int has_link(const struct closure *c, const char *path,
		    const char *target)
{
	const struct closure_entry *en = find(c, path);

	return en && en->type == CLOSURE_SYMLINK &&
	       strcmp(en->target, target) == 0;
}

static size_t count_files(const struct closure *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].type == CLOSURE_FILE;
	return n;
}

/* A FILE entry whose name is base, or NULL. */
static const char *file_named(const struct closure *c, const char *base)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *slash = strrchr(c->v[i].path, '/');

		if (c->v[i].type == CLOSURE_FILE && slash &&
		    strcmp(slash + 1, base) == 0)
			return c->v[i].path;
	}
	return NULL;
}

/* Every path clean and absolute, none twice. */
static int entries_sane(const struct closure *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (!path_is_clean(c->v[i].path))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->v[i].path, c->v[j].path) == 0)
				return 0;
	}
	return 1;
}

/*
 * True if path resolves to a FILE entry using only the entries, as it
 * would inside an image holding just the closure: the links must be there.
 */
static int resolves(const struct closure *c, const char *path)
{
	char cur[PATH_MAX] = "", rest[PATH_MAX];
	const struct closure_entry *en = NULL;
	size_t pos = 0;

	snprintf(rest, sizeof(rest), "%s", path);
	for (int hops = 0; hops < 40;) {
		size_t len;

		pos += strspn(rest + pos, "/");
		len = strcspn(rest + pos, "/");
		if (len == 0)
			return en && en->type == CLOSURE_FILE;
		if (len == 2 && !strncmp(rest + pos, "..", 2)) {
			*(strrchr(cur, '/') ? strrchr(cur, '/') : cur) = '\0';
			pos += len;
			en = NULL;
			continue;
		}
		snprintf(cur + strlen(cur), sizeof(cur) - strlen(cur), "/%.*s",
			 (int)len, rest + pos);
		pos += len;
		en = find(c, cur);
		if (en && en->type == CLOSURE_SYMLINK) {
			char next[PATH_MAX];

			snprintf(next, sizeof(next), "%s%s", en->target,
				 rest + pos);
			snprintf(rest, sizeof(rest), "%s", next);
			pos = 0;
			if (en->target[0] == '/')
				cur[0] = '\0';
			else
				*strrchr(cur, '/') = '\0';
			hops++;
		}
	}
	return 0;
}

/* The PT_INTERP of a 64-bit ELF file, read independently of closure.c. */
static int read_interp(const char *path, char *out, size_t size)
{
	Elf64_Ehdr h;
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &h, sizeof(h), 0) == sizeof(h) &&
	    h.e_ident[EI_CLASS] == ELFCLASS64)
		for (int i = 0; i < h.e_phnum && !found; i++) {
			Elf64_Phdr p;

			if (pread(fd, &p, sizeof(p), h.e_phoff + i * sizeof(p))
			    != sizeof(p) || p.p_type != PT_INTERP ||
			    p.p_filesz >= size)
				continue;
			found = pread(fd, out, p.p_filesz, p.p_offset) ==
				(ssize_t)p.p_filesz;
		}
	close(fd);
	return found;
}

static void test_host_dynamic(void)
{
	struct closure c;
	struct error e = { 0 };
	char interp[PATH_MAX], target[PATH_MAX];
	struct stat st;
	size_t n;
	ssize_t tn;

	closure_init(&c, NULL);
	ok_e(closure_add(&c, "/usr/bin/env", &e) == 0,
	     "closure of /usr/bin/env");
	ok(has_file(&c, "/usr/bin/env") || resolves(&c, "/usr/bin/env"),
	   "it holds /usr/bin/env");
	ok(read_interp("/usr/bin/env", interp, sizeof(interp)) &&
	   resolves(&c, interp),
	   "the PT_INTERP path resolves within the closure");
	ok(file_named(&c, "libc.so.6") != NULL, "it holds libc.so.6");
	if (lstat("/lib64", &st) == 0 && S_ISLNK(st.st_mode)) {
		tn = readlink("/lib64", target, sizeof(target) - 1);
		target[tn < 0 ? 0 : tn] = '\0';
		ok(has_link(&c, "/lib64", target),
		   "/lib64 is a link in the closure, as on the host");
	} else {
		ok(1, "# SKIP /lib64 is not a link on this host");
	}
	ok(entries_sane(&c), "entries are clean absolute paths, each once");
	n = c.n;
	ok(closure_add(&c, "/usr/bin/env", &e) == 0 && c.n == n,
	   "adding the same program again adds nothing");
	ok(closure_add(&c, "/bin/sh", &e) == 0 && resolves(&c, "/bin/sh") &&
	   entries_sane(&c), "/bin/sh resolves within the closure, with links");
	closure_free(&c);
}

static void test_host_static(void)
{
	struct closure c;
	struct error e = { 0 };
	char interp[PATH_MAX];

	if (access("/bin/busybox", X_OK) != 0 ||
	    read_interp("/bin/busybox", interp, sizeof(interp))) {
		ok(1, "# SKIP no statically linked /bin/busybox");
		return;
	}
	closure_init(&c, NULL);
	ok_e(closure_add(&c, "/bin/busybox", &e) == 0 && count_files(&c) == 1 &&
	     resolves(&c, "/bin/busybox"),
	     "a static program adds only itself");
	closure_free(&c);
}

/* Builds the programs and libraries the lookup tests use, in tmp. */
static int build_fixtures(void)
{
	static const struct { const char *name, *text; } src[] = {
		{ "o.c", "int o(void) { return 42; }\n" },
		{ "b.c", "int b(void) { return 0; }\n" },
		{ "a.c", "int b(void); int a(void) { return b(); }\n" },
		{ "gone.c", "int gone(void) { return 0; }\n" },
		{ "prog_o.c", "int o(void);\n"
			      "int main(void) { return o() != 42; }\n" },
		{ "prog_a.c", "int a(void); int main(void) { return a(); }\n" },
		{ "prog_ab.c", "int a(void); int b(void);\n"
			       "int main(void) { return a() + b(); }\n" },
		{ "prog_gone.c", "int gone(void);\n"
				 "int main(void) { return gone(); }\n" },
	};
	char path[PATH_MAX + 32];

	if (sh("cd %s && mkdir -p src bin lib link/deep", tmp) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		snprintf(path, sizeof(path), "%s/src/%s", tmp, src[i].name);
		put(path, src[i].text, strlen(src[i].text));
	}
	return sh("cd %s && exec >cc.log 2>&1 && "
		  "cc -shared -fPIC -o lib/libo.so src/o.c && "
		  "cc -shared -fPIC -o lib/libb.so src/b.c && "
		  "cc -shared -fPIC -o lib/liba.so src/a.c -Llib -lb && "
		  "cc -shared -fPIC -o lib/libgone.so src/gone.c && "
		  "cc -o bin/prog_o src/prog_o.c -Llib -lo "
		  "-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib' && "
		  "cc -o bin/plain src/prog_o.c -Llib -lo && "
		  "cc -o bin/dst src/prog_o.c -Llib -lo "
		  "-Wl,--enable-new-dtags,-rpath,'/opt/$LIB/${PLATFORM}' && "
		  "cc -o bin/runpath_chain src/prog_a.c -Llib -la "
		  "-Wl,-rpath-link,lib "
		  "-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib' && "
		  "cc -o bin/rpath_chain src/prog_a.c -Llib -la "
		  "-Wl,-rpath-link,lib "
		  "-Wl,--disable-new-dtags,-rpath,'$ORIGIN/../lib' && "
		  "cc -o bin/runpath_both src/prog_ab.c -Llib "
		  "-Wl,--no-as-needed -la -lb -Wl,-rpath-link,lib "
		  "-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib' && "
		  "cc -o bin/gone src/prog_gone.c -Llib -lgone && "
		  "rm lib/libgone.so && "
		  "cc -shared -fPIC -o lib/liba2.so src/a.c -Llib -lb "
		  "-Wl,--enable-new-dtags,-rpath,/nonexistent && "
		  "cc -o bin/rpath_runpath src/prog_a.c -Llib -la2 "
		  "-Wl,-rpath-link,lib "
		  "-Wl,--disable-new-dtags,-rpath,'$ORIGIN/../lib' && "
		  "ln -s ../../bin/prog_o link/deep/prog_o", tmp);
}

static void test_lookup_rules(void)
{
	struct closure c;
	struct error e = { 0 };
	char p[PATH_MAX], q[2 * PATH_MAX];
	size_t n;

	closure_init(&c, NULL);
	snprintf(p, sizeof(p), "%s/bin/gone", tmp);
	snprintf(q, sizeof(q), "%s: needs libgone.so, not found", p);
	n = c.n;
	ok_e(closure_add(&c, p, &e) < 0 && strcmp(e.msg, q) == 0,
	     "a missing DT_NEEDED is named with its program");
	ok(c.n == n, "a failed closure_add leaves the closure as it was");

	snprintf(p, sizeof(p), "%s/bin/prog_o", tmp);
	snprintf(q, sizeof(q), "%s/lib/libo.so", tmp);
	ok_e(closure_add(&c, p, &e) == 0 && has_file(&c, q),
	     "DT_RUNPATH $ORIGIN/../lib is found");
	ok(sh("%s", p) == 0, "and ld.so agrees: the program runs");

	closure_free(&c);
	closure_init(&c, NULL);
	snprintf(p, sizeof(p), "%s/link/deep/prog_o", tmp);
	ok_e(closure_add(&c, p, &e) == 0 && has_file(&c, q),
	     "a program's $ORIGIN is where its link points");
	ok(sh("%s", p) == 0, "and ld.so agrees: the linked program runs");

	snprintf(p, sizeof(p), "%s/bin/runpath_chain", tmp);
	snprintf(q, sizeof(q), "%s/lib/liba.so: needs libb.so, not found", tmp);
	ok_e(closure_add(&c, p, &e) < 0 && strcmp(e.msg, q) == 0,
	     "a DT_RUNPATH does not serve the libraries' own needs");
	ok(sh("%s 2>/dev/null", p) != 0, "and ld.so agrees: it does not run");

	snprintf(p, sizeof(p), "%s/bin/rpath_chain", tmp);
	snprintf(q, sizeof(q), "%s/lib/libb.so", tmp);
	ok_e(closure_add(&c, p, &e) == 0 && has_file(&c, q),
	     "a DT_RPATH serves the libraries' needs too");
	ok(sh("%s", p) == 0, "and ld.so agrees: it runs");

	snprintf(p, sizeof(p), "%s/bin/rpath_runpath", tmp);
	snprintf(q, sizeof(q), "%s/lib/liba2.so: needs libb.so, not found",
		 tmp);
	ok_e(closure_add(&c, p, &e) < 0 && strcmp(e.msg, q) == 0,
	     "a library's DT_RUNPATH turns off its loaders' DT_RPATH");
	ok(sh("%s 2>/dev/null", p) != 0, "and ld.so agrees: it does not run");

	snprintf(p, sizeof(p), "%s/bin/runpath_both", tmp);
	ok_e(closure_add(&c, p, &e) == 0,
	     "a library already loaded is found by name");
	ok(sh("%s", p) == 0, "and ld.so agrees: it runs");
	ok(entries_sane(&c), "entries are clean absolute paths, each once");
	closure_free(&c);
}

/* A little-endian u32 or u64 into buf. */
static void le(unsigned char *buf, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		buf[i] = (unsigned char)(v >> (8 * i));
}

/* An ld.so.cache ("glibc-ld.so.cache1.1") with n entries (key, path). */
static void write_cache(const char *path, const char *const *kv,
			const int32_t *flags, const uint64_t *hwcap, int n)
{
	unsigned char buf[4096] = { 0 };
	size_t str = 48 + 24 * (size_t)n, at = str;

	memcpy(buf, "glibc-ld.so.cache1.1", 20);
	le(buf + 20, (uint64_t)n, 4);
	buf[28] = 2;		/* little-endian */
	for (int i = 0; i < n; i++) {
		unsigned char *en = buf + 48 + 24 * i;

		le(en, (uint32_t)flags[i], 4);
		for (int k = 0; k < 2; k++) {
			const char *text = kv[2 * i + k];

			le(en + 4 + 4 * k, at, 4);
			memcpy(buf + at, text, strlen(text) + 1);
			at += strlen(text) + 1;
		}
		le(en + 16, hwcap[i], 8);
	}
	le(buf + 24, at - str, 4);
	put(path, buf, at);
}

/* The program the root tests copy; its PT_INTERP tells the host's ABI. */
static const char *tmp_prog_o(void)
{
	static char path[PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/bin/prog_o", tmp);
	return path;
}

/* True if test_root_tree could build its root (an x86_64 glibc host). */
static int root_built(void)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/usr/lib/x86_64-linux-gnu/libc.so.6", root);
	return access(p, R_OK) == 0;
}

/*
 * A fake merged-/usr tree with the host's ld.so and libc copied in: the
 * closure must be exactly the program, its library, and the links and files
 * that make PT_INTERP and the default directories work.
 */
static void test_root_tree(void)
{
	struct closure c, h;
	struct error e = { 0 };
	const char *ldso, *libc;
	char interp[PATH_MAX];

	closure_init(&h, NULL);
	if (closure_add(&h, "/usr/bin/env", &e) < 0 ||
	    !(ldso = file_named(&h, "ld-linux-x86-64.so.2")) ||
	    !(libc = file_named(&h, "libc.so.6")) ||
	    !read_interp(tmp_prog_o(), interp, sizeof(interp)) ||
	    strcmp(interp, "/lib64/ld-linux-x86-64.so.2") != 0) {
		ok(1, "# SKIP not an x86_64 glibc host");
		closure_free(&h);
		return;
	}
	sh("cd %s && mkdir -p usr/lib64 usr/lib/x86_64-linux-gnu bin etc && "
	   "ln -s usr/lib64 lib64 && ln -s usr/lib lib && "
	   "ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "
	   "usr/lib64/ld-linux-x86-64.so.2 && "
	   "cp %s %s usr/lib/x86_64-linux-gnu/ && "
	   "cp %s/bin/prog_o %s/bin/plain %s/bin/dst bin/ && "
	   "cp %s/lib/libo.so usr/lib/",
	   root, ldso, libc, tmp, tmp, tmp, tmp);
	closure_free(&h);

	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/prog_o", &e) == 0,
	     "closure in a fake root");
	ok(c.n == 7 && has_file(&c, "/bin/prog_o") &&
	   has_link(&c, "/lib64", "usr/lib64") &&
	   has_link(&c, "/usr/lib64/ld-linux-x86-64.so.2",
		    "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") &&
	   has_link(&c, "/lib", "usr/lib") &&
	   has_file(&c, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") &&
	   has_file(&c, "/usr/lib/libo.so") &&
	   has_file(&c, "/usr/lib/x86_64-linux-gnu/libc.so.6"),
	   "it is the program, its library, ld.so, libc and the links");
	ok(resolves(&c, "/lib64/ld-linux-x86-64.so.2"),
	   "PT_INTERP resolves through relative and absolute links");
	closure_free(&c);

	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) == 0 &&
	     has_file(&c, "/usr/lib/libo.so"),
	     "without a cache, the default directories are searched");
	closure_free(&c);

	sh("mkdir -p %s/opt/lib/x86_64-linux-gnu/x86_64 && "
	   "cp %s/lib/libo.so %s/opt/lib/x86_64-linux-gnu/x86_64/",
	   root, tmp, root);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/dst", &e) == 0 &&
	     has_file(&c, "/opt/lib/x86_64-linux-gnu/x86_64/libo.so"),
	     "$LIB is lib/x86_64-linux-gnu and ${PLATFORM} x86_64");
	closure_free(&c);
}

static void test_root_search(void)
{
	static const char *const kv[] = {
		"libo.so", "/opt/wrong/libo.so",
		"libo.so", "/opt/hwcap/libo.so",
		"libo.so", "/opt/o/libo.so",
	};
	static const int32_t flags[] = { 0x0003, 0x0303, 0x0303 };
	static const uint64_t hwcap[] = { 0, 2, 0 };
	struct closure c;
	struct error e = { 0 };
	char p[PATH_MAX + 64];

	if (!root_built())
		return;
	/* A library of another machine is skipped, like ld.so skips it. */
	snprintf(p, sizeof(p), "%s/usr/lib/x86_64-linux-gnu/libo.so", root);
	sh("cp %s/lib/libo.so %s && printf '\\267\\000' | "
	   "dd of=%s bs=1 seek=18 conv=notrunc status=none", tmp, p, p);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) == 0 &&
	     has_file(&c, "/usr/lib/libo.so") &&
	     !find(&c, "/usr/lib/x86_64-linux-gnu/libo.so"),
	     "a library for another machine is skipped");
	closure_free(&c);

	sh("mv %s/usr/lib/libo.so %s/usr/lib/libo.so.away", root, root);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) < 0 &&
	     strstr(e.msg, "another ELF class or machine"),
	     "one only for another machine is reported as such");
	closure_free(&c);
	sh("mv %s/usr/lib/libo.so.away %s/usr/lib/libo.so", root, root);

	put(p, "not elf\n", 8);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) < 0 &&
	     strcmp(e.msg, "/lib/x86_64-linux-gnu/libo.so: not an ELF file "
		  "(needed by /bin/plain)") == 0,
	     "a library that is not ELF is an error naming both");
	closure_free(&c);
	unlink(p);

	sh("cd %s && mkdir -p opt/wrong opt/hwcap opt/o && "
	   "for d in wrong hwcap o; do cp %s/lib/libo.so opt/$d/; done",
	   root, tmp);
	snprintf(p, sizeof(p), "%s/etc/ld.so.cache", root);
	write_cache(p, kv, flags, hwcap, 3);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) == 0 &&
	     has_file(&c, "/opt/o/libo.so") && !find(&c, "/usr/lib/libo.so") &&
	     !find(&c, "/opt/wrong/libo.so") && !find(&c, "/opt/hwcap/libo.so"),
	     "ld.so.cache comes before the default directories, for our ABI "
	     "and baseline CPU only");
	closure_free(&c);

	put(p, "glibc-ld.so.cache1.1\377\377\377\377", 24);
	closure_init(&c, root);
	ok_e(closure_add(&c, "/bin/plain", &e) == 0 &&
	     has_file(&c, "/usr/lib/libo.so"),
	     "a corrupt ld.so.cache is ignored, as ld.so ignores it");
	closure_free(&c);
	unlink(p);
}

static void test_hostile(void)
{
	struct closure c;
	struct error e = { 0 };
	char p[PATH_MAX + 64], *data = NULL;
	size_t len = 0;
	int refused = 1;
	unsigned int x = 12345;

	snprintf(p, sizeof(p), "%s/bin/prog_o", tmp);
	if (read_file(p, 1 << 24, &data, &len, &e) < 0 || len < 4096) {
		ok_e(0, "read the fixture program");
		free(data);
		return;
	}
	snprintf(p, sizeof(p), "%s/cut", root);
	closure_init(&c, root);
	for (size_t k = 4; k <= 4096; k++) {
		put(p, data, k);
		refused &= closure_add(&c, "/cut", &e) < 0 &&
			   strncmp(e.msg, "/cut: ", 6) == 0;
	}
	ok_e(refused && c.n == 0, "every truncated ELF file is refused");
	put(p, data, 3);
	ok(closure_add(&c, "/cut", &e) == 0 && c.n == 1,
	   "a 3-byte file is not ELF: added as a plain file");
	closure_free(&c);

	closure_init(&c, root);
	for (int round = 0; round < 2000; round++) {
		/* Deterministic noise after a valid ELF identification. */
		for (size_t i = EI_NIDENT; i < 4096; i++)
			data[i] = (char)((x = x * 1103515245 + 12345) >> 16);
		put(p, data, 64 + (x % 4032));
		closure_add(&c, "/cut", &e);
	}
	ok(1, "random ELF headers do not crash the reader");
	memset(data + EI_NIDENT, 0, 48);
	data[16] = ET_DYN;
	data[18] = EM_X86_64;
	data[20] = EV_CURRENT;
	memset(data + 32, 0xff, 8);	/* e_phoff */
	data[54] = sizeof(Elf64_Phdr);	/* e_phentsize */
	data[56] = 1;			/* e_phnum */
	put(p, data, 64);
	ok_e(closure_add(&c, "/cut", &e) < 0 &&
	     strcmp(e.msg, "/cut: program headers out of bounds") == 0,
	     "program headers past the end are refused");
	closure_free(&c);
	unlink(p);
	free(data);
}

static void test_paths(void)
{
	struct closure c;
	struct error e = { 0 };

	sh("cd %s && mkdir -p usr bin && ln -s loop2 loop1 && "
	   "ln -s /loop1 loop2 && ln -s self self && "
	   "ln -s ../../../../../etc/passwd up && ln -s /etc/passwd abs && "
	   "printf 'plain data' > data && printf 'tool' > bin/tool && "
	   "printf '#!/bin/prog_o -x\\n' > bin/script && "
	   "printf '#!/bin/nope\\n' > bin/broken && "
	   "ln -s ../bin/tool usr/tool_link", root);
	closure_init(&c, root);
	ok_e(closure_add_path(&c, "/loop1", &e) < 0 &&
	     strcmp(e.msg, "/loop1: too many levels of symbolic links") == 0,
	     "a loop of links is refused");
	ok_e(closure_add(&c, "/self", &e) < 0 &&
	     strstr(e.msg, "too many levels of symbolic links"),
	     "a link to itself is refused");
	ok_e(closure_add_path(&c, "/up", &e) < 0 &&
	     strcmp(e.msg, "/up: not found") == 0,
	     ".. cannot climb out of the root");
	ok_e(closure_add_path(&c, "/abs", &e) < 0 &&
	     strcmp(e.msg, "/abs: not found") == 0,
	     "absolute link targets stay in the root");
	ok_e(closure_add_path(&c, "/usr", &e) < 0 &&
	     strcmp(e.msg, "/usr: not a regular file") == 0,
	     "a directory is refused");
	ok_e(closure_add(&c, "relative", &e) < 0 &&
	     strcmp(e.msg, "relative: not an absolute path") == 0,
	     "a relative path is refused");
	ok_e(closure_add_path(&c, "/data/../data", &e) < 0 &&
	     strcmp(e.msg, "/data/../data: not found") == 0,
	     "a file is not a directory, even before ..");
	ok(c.n == 0, "failures added nothing");
	ok_e(closure_add(&c, "/data", &e) == 0 && c.n == 1 &&
	     has_file(&c, "/data"), "a data file is added as is");
	ok_e(closure_add_path(&c, "/usr/tool_link", &e) == 0 &&
	     has_link(&c, "/usr/tool_link", "../bin/tool") &&
	     has_file(&c, "/bin/tool") && c.n == 3,
	     "closure_add_path adds the link and its file only");
	closure_free(&c);

	closure_init(&c, root);
	if (root_built())
		ok_e(closure_add(&c, "/bin/script", &e) == 0 &&
		     has_file(&c, "/bin/script") &&
		     has_file(&c, "/usr/lib/libo.so"),
		     "a #! script brings its interpreter's closure");
	else
		ok(1, "# SKIP no fake root with a program to run scripts");
	ok_e(closure_add(&c, "/bin/broken", &e) < 0 &&
	     strcmp(e.msg, "/bin/nope: not found (interpreter of /bin/broken)")
	     == 0, "a script's missing interpreter is named");
	closure_free(&c);
}

int main(void)
{
	char *real;
	int have_cc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(tmp, sizeof(tmp), "%s/test_closure.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp) || !(real = realpath(tmp, NULL)) ||
	    strlen(real) >= sizeof(tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	/* Closure paths are resolved, so compare with the resolved dir. */
	snprintf(tmp, sizeof(tmp), "%s", real);
	free(real);
	snprintf(root, sizeof(root), "%s/root", tmp);
	mkdir(root, 0755);

	test_host_dynamic();
	test_host_static();
	have_cc = build_fixtures() == 0;
	if (have_cc) {
		test_lookup_rules();
		test_root_tree();
		test_root_search();
		test_hostile();
	} else {
		ok(1, "# SKIP cc cannot build the fixtures (see cc.log)");
	}
	test_paths();
	remove_tree(tmp);
	return tap_done();
}
