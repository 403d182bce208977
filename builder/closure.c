/*
 * closure.c - the ELF dependency closure of a host program, found the way
 * glibc's ld.so finds it, without running anything (see closure.h).
 *
 * Every file read here is untrusted: an image may be built from binaries its
 * builder did not write, and a crafted file must not make us read outside it,
 * allocate without bound or loop. So every offset and size taken from a file
 * is checked against the file's size before use (with pread, never a mapping
 * that a truncation could turn into SIGBUS), every count and string is
 * capped, and symbolic links are followed by hand with a hop limit.
 *
 * The lookup follows glibc 2.36 (elf/dl-load.c, _dl_map_object):
 *   1. a name with a '/' is a path;
 *   2. the DT_RPATH of the object that needs the name, then of the object
 *      that loaded that one, and so on up to the program, unless the object
 *      that needs the name has a DT_RUNPATH;
 *   3. (LD_LIBRARY_PATH: ignored on purpose, the image must not depend on
 *      the builder's environment);
 *   4. the DT_RUNPATH of the object that needs the name, and no other's;
 *   5. /etc/ld.so.cache;
 *   6. the default directories.
 * Objects are loaded breadth first, and a name that matches an object loaded
 * already (by the name it was needed as, its DT_SONAME or its path) is not
 * searched again. That is why a library without a RUNPATH may need one that
 * only the program's RUNPATH finds: ld.so has loaded it by then.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closure.h"

#define MAX_HOPS	40		/* links followed per lookup, as Linux */
#define MAX_PHDR_BYTES	65536		/* Linux refuses larger header tables */
#define MAX_DYN		65536		/* dynamic entries read per object */
#define MAX_NEEDED	1024		/* DT_NEEDED entries per object */
#define MAX_RPATH	16384		/* bytes of a DT_RPATH or DT_RUNPATH */
#define MAX_RPATH_DIRS	256		/* directories in one of them */
#define MAX_TRIES	100000		/* candidate files per closure_add */
#define MAX_CACHE	(64u << 20)	/* ld.so.cache is ~50 KiB in practice */
#define MAX_SCRIPT_DEPTH 4		/* #! nesting, as Linux allows */
#define SHEBANG_MAX	256		/* the part of a #! line Linux reads */
#define NONE		((size_t)-1)

/*
 * Objects are read in the host's byte order only: a foreign one needs a
 * foreign ld.so, which we do not model.
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA	ELFDATA2LSB
#define CACHE_ENDIAN	2	/* cache_file_new_flags_endian_little */
#else
#define HOST_DATA	ELFDATA2MSB
#define CACHE_ENDIAN	3
#endif

/*
 * What ld.so knows about its ABI, as Debian builds glibc. Checked on
 * Debian 12 with LD_DEBUG=libs and an RPATH of "$LIB/$PLATFORM": $LIB is
 * the multiarch directory "lib/x86_64-linux-gnu" (not "lib64"), $PLATFORM is
 * the kernel's AT_PLATFORM "x86_64", and the default directories are the
 * four below. /lib64 is only where PT_INTERP points; ld.so never searches it.
 * The cache flags are those _dl_cache_check_flags accepts (dl-cache.h):
 * FLAG_ELF_LIBC6 | FLAG_<arch>_LIB* on 64-bit ABIs; i386 takes FLAG_ELF (1,
 * which ldconfig gives ld-linux.so.2) or FLAG_ELF_LIBC6 (3). x86_64 was
 * verified against ldd on a whole Debian 12 system, i386 on its libc6-i386
 * libraries; the other rows follow the same rules, unverified.
 */
struct abi {
	unsigned char cls;
	uint16_t machine;
	int32_t cache_flags[2];	/* the flags accepted; 0 is none */
	const char *lib;	/* $LIB */
	const char *platform;	/* $PLATFORM */
	const char *dirs[4];	/* the default search path, in order */
};

static const struct abi abis[] = {
	{ ELFCLASS64, EM_X86_64, { 0x0303 }, "lib/x86_64-linux-gnu", "x86_64",
	  { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	    "/lib", "/usr/lib" } },
	{ ELFCLASS32, EM_386, { 0x0003, 0x0001 }, "lib/i386-linux-gnu", "i686",
	  { "/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu",
	    "/lib", "/usr/lib" } },
	{ ELFCLASS32, EM_X86_64, { 0x0803 }, "lib/x86_64-linux-gnux32",
	  "x86_64",
	  { "/lib/x86_64-linux-gnux32", "/usr/lib/x86_64-linux-gnux32",
	    "/lib", "/usr/lib" } },
	{ ELFCLASS64, EM_AARCH64, { 0x0a03 }, "lib/aarch64-linux-gnu",
	  "aarch64",
	  { "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	    "/lib", "/usr/lib" } },
};

static const struct abi *find_abi(unsigned char cls, uint16_t machine)
{
	for (size_t i = 0; i < sizeof(abis) / sizeof(abis[0]); i++)
		if (abis[i].cls == cls && abis[i].machine == machine)
			return &abis[i];
	return NULL;
}

/* Entries, unique by path through a small open-addressing hash. */

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;	/* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* The slot of path in the index: its entry's number plus one, or 0. */
static size_t *slot(const struct closure *c, const char *path)
{
	size_t mask = c->index_cap - 1;
	size_t i = hash(path) & mask;

	while (c->index[i] && strcmp(c->v[c->index[i] - 1].path, path) != 0)
		i = (i + 1) & mask;
	return &c->index[i];
}

static void reindex(struct closure *c, size_t cap)
{
	free(c->index);
	c->index = xcalloc(cap, sizeof(*c->index));
	c->index_cap = cap;
	for (size_t i = 0; i < c->n; i++)
		*slot(c, c->v[i].path) = i + 1;
}

/* Adds a file (target NULL) or a link, unless path is there already. */
static int add_entry(struct closure *c, const char *path, const char *target,
		     struct error *e)
{
	struct closure_entry *en;

	if (c->index_cap && *slot(c, path))
		return 0;
	if (c->n >= CLOSURE_MAX_ENTRIES)
		return error_set(e, "%s: closure has more than %d files", path,
				 CLOSURE_MAX_ENTRIES);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	/* Keep the table at most half full so probe chains stay short. */
	if (2 * (c->n + 1) > c->index_cap)
		reindex(c, c->index_cap ? 2 * c->index_cap : 128);
	en = &c->v[c->n];
	en->path = xstrdup(path);
	en->type = target ? CLOSURE_SYMLINK : CLOSURE_FILE;
	en->target = target ? xstrdup(target) : NULL;
	*slot(c, path) = c->n + 1;
	c->n++;
	return 0;
}

/* Drops the entries from n on: a failed call leaves c as it found it. */
static void truncate_entries(struct closure *c, size_t n)
{
	if (c->n == n)
		return;
	while (c->n > n) {
		c->n--;
		free(c->v[c->n].path);
		free(c->v[c->n].target);
	}
	reindex(c, c->index_cap);
}

/* Paths: image paths resolved under c->root, links recorded on the way. */

/* root + path: the name under which the builder sees an image path. */
static int host_path(const struct closure *c, const char *path,
		     char out[PATH_MAX])
{
	size_t rl = strlen(c->root);
	int n;

	while (rl > 0 && c->root[rl - 1] == '/')
		rl--;
	n = snprintf(out, PATH_MAX, "%.*s%s", (int)rl, c->root,
		     *path ? path : "/");
	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

/* Where a path ends, and the symbolic links met on the way there. */
struct walk {
	char real[PATH_MAX];	/* the image path of the object, clean */
	mode_t mode;		/* its type, from lstat */
	size_t nlinks;
	char *link[MAX_HOPS];	/* image path of each link, in order */
	char *target[MAX_HOPS];	/* and its readlink() */
};

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->nlinks; i++) {
		free(w->link[i]);
		free(w->target[i]);
	}
	w->nlinks = 0;
}

/*
 * w->real is a link: records it and splices its target in front of what is
 * left of the path (rest from *pos), as the kernel does.
 */
static int walk_link(struct walk *w, const char *host, char *rest,
		     size_t *pos, const char *path, struct error *e)
{
	char target[PATH_MAX];
	ssize_t n;
	size_t tail = strlen(rest + *pos);

	if (w->nlinks == MAX_HOPS)
		return error_set(e, "%s: too many levels of symbolic links",
				 path);
	n = readlink(host, target, sizeof(target));
	if (n < 0)
		return error_errno(e, "%s: cannot read link %s", path, w->real);
	if (n == 0 || (size_t)n >= sizeof(target) ||
	    (size_t)n + tail >= PATH_MAX)
		return error_set(e, "%s: path too long", path);
	target[n] = '\0';
	memmove(rest + n, rest + *pos, tail + 1);
	memcpy(rest, target, (size_t)n);
	*pos = 0;
	w->link[w->nlinks] = xstrdup(w->real);
	w->target[w->nlinks++] = xstrdup(target);
	/* Absolute targets start again at the root, relative ones at the
	   link's directory. */
	if (target[0] == '/')
		w->real[0] = '\0';
	else
		*strrchr(w->real, '/') = '\0';
	return 0;
}

/* Appends one component to w->real, or goes up for "..". */
static int walk_step(struct walk *w, const char *comp, size_t len)
{
	size_t rl = strlen(w->real);

	if (len == 1 && comp[0] == '.')
		return 0;
	if (len == 2 && comp[0] == '.' && comp[1] == '.') {
		/* w->real has no links in it, so lexical ".." is physical. */
		char *slash = strrchr(w->real, '/');

		if (slash)
			*slash = '\0';
		return 0;
	}
	if (rl + 1 + len >= PATH_MAX)
		return -1;
	w->real[rl] = '/';
	memcpy(w->real + rl + 1, comp, len);
	w->real[rl + 1 + len] = '\0';
	return 1;
}

/*
 * Resolves path component by component under c->root. Returns 0 when it
 * exists (w->real, w->mode and the links are set), 1 when a component is
 * missing or not a directory, -1 on error. The caller calls walk_free.
 */
static int walk(const struct closure *c, const char *path, struct walk *w,
		struct error *e)
{
	char rest[PATH_MAX], host[PATH_MAX];
	size_t pos = 0;
	struct stat st;

	w->real[0] = '\0';
	w->nlinks = 0;
	if (strlen(path) >= sizeof(rest))
		return error_set(e, "%s: path too long", path);
	strcpy(rest, path);
	for (;;) {
		size_t len;
		int r;

		pos += strspn(rest + pos, "/");
		len = strcspn(rest + pos, "/");
		if (len == 0)
			break;
		r = walk_step(w, rest + pos, len);
		pos += len;
		if (r < 0 || host_path(c, w->real, host) < 0)
			return error_set(e, "%s: path too long", path);
		if (r == 0)
			continue;
		if (lstat(host, &st) < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 1;
			return error_errno(e, "%s: cannot stat %s", path,
					   w->real);
		}
		if (S_ISLNK(st.st_mode)) {
			if (walk_link(w, host, rest, &pos, path, e) < 0)
				return -1;
		} else if (!S_ISDIR(st.st_mode) && rest[pos] != '\0') {
			/* "file/..." and "file/" are ENOTDIR for the kernel:
			   without this, "file/.." would climb back out. */
			return 1;
		}
	}
	if (host_path(c, w->real, host) < 0 || lstat(host, &st) < 0)
		return error_errno(e, "%s: cannot stat", path);
	w->mode = st.st_mode;
	if (!w->real[0])
		strcpy(w->real, "/");
	return 0;
}

/* Opens what a walk ended on, refusing anything but a regular file. */
static int open_regular(const struct closure *c, const struct walk *w,
			struct error *e)
{
	char host[PATH_MAX];
	struct stat st;
	int fd;

	if (host_path(c, w->real, host) < 0)
		return error_set(e, "%s: path too long", w->real);
	/*
	 * The walk resolved every link, so O_NOFOLLOW only refuses a tree
	 * changed under us; O_NONBLOCK keeps a FIFO swapped in from hanging.
	 */
	fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
		  O_NOCTTY);
	if (fd < 0)
		return error_errno(e, "cannot open %s", w->real);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(e, "%s: not a regular file", w->real);
	}
	return fd;
}

/* Resolves path, which must end on a regular file, and opens that file. */
static int open_path(const struct closure *c, const char *path,
		     struct walk *w, struct error *e)
{
	int r;

	w->nlinks = 0;
	if (path[0] != '/')
		return error_set(e, "%s: not an absolute path", path);
	r = walk(c, path, w, e);
	if (r == 1)
		return error_set(e, "%s: not found", path);
	if (r < 0)
		return -1;
	if (!S_ISREG(w->mode))
		return error_set(e, "%s: not a regular file", path);
	return open_regular(c, w, e);
}

/* Records the links a walk met, then the file it ended on. */
static int commit(struct closure *c, const struct walk *w, struct error *e)
{
	for (size_t i = 0; i < w->nlinks; i++)
		if (add_entry(c, w->link[i], w->target[i], e) < 0)
			return -1;
	return add_entry(c, w->real, NULL, e);
}

/* ELF: only what ld.so reads before mapping, from headers we check. */

struct elf {
	unsigned char cls;	/* ELFCLASS32 or ELFCLASS64 */
	uint16_t machine;
	char *interp;		/* PT_INTERP, or NULL */
	struct strv needed;	/* DT_NEEDED, in order */
	char *soname, *rpath, *runpath;
	int nodeflib;		/* DF_1_NODEFLIB: no system directories */
};

static void elf_free(struct elf *x)
{
	free(x->interp);
	strv_free(&x->needed);
	free(x->soname);
	free(x->rpath);
	free(x->runpath);
	memset(x, 0, sizeof(*x));
}

struct phdr {
	uint32_t type;
	uint64_t off, vaddr, filesz;
};

/* One file being read. */
struct elf_file {
	int fd;
	uint64_t size;
	const char *path;
	struct error *e;
	unsigned char cls;
	struct phdr *ph;
	size_t phnum;
};

/* A string table: a range of the file. */
struct strtab {
	uint64_t off, size;
};

static int bad(const struct elf_file *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad(const struct elf_file *f, const char *fmt, ...)
{
	char msg[ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(f->e, "%s: %s", f->path, msg);
}

/* True if [off, off + len) lies inside a file of the given size. */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Reads exactly len bytes at off, which the caller checked with in_file. */
static int read_at(const struct elf_file *f, void *buf, size_t len,
		   uint64_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(f->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* 0: the file shrank since fstat */
			if (n == 0)
				errno = EIO;
			return error_errno(f->e, "cannot read %s", f->path);
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int elf_ident(struct elf_file *f, struct elf *x)
{
	unsigned char id[EI_NIDENT];

	if (!in_file(0, EI_NIDENT, f->size))
		return bad(f, "truncated ELF file");
	if (read_at(f, id, sizeof(id), 0) < 0)
		return -1;
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
		return bad(f, "unsupported ELF class %u", id[EI_CLASS]);
	if (id[EI_DATA] != HOST_DATA)
		return bad(f, "ELF file of foreign byte order");
	if (id[EI_VERSION] != EV_CURRENT)
		return bad(f, "unsupported ELF version %u", id[EI_VERSION]);
	f->cls = x->cls = id[EI_CLASS];
	return 0;
}

/* Reads the file header and checks where the program headers are. */
static int elf_ehdr(struct elf_file *f, struct elf *x, uint64_t *phoff,
		    size_t *phnum)
{
	uint16_t type, phentsize, want;

	if (f->cls == ELFCLASS64) {
		Elf64_Ehdr h;

		if (!in_file(0, sizeof(h), f->size))
			return bad(f, "truncated ELF file");
		if (read_at(f, &h, sizeof(h), 0) < 0)
			return -1;
		type = h.e_type, x->machine = h.e_machine;
		*phoff = h.e_phoff, *phnum = h.e_phnum;
		phentsize = h.e_phentsize, want = sizeof(Elf64_Phdr);
	} else {
		Elf32_Ehdr h;

		if (!in_file(0, sizeof(h), f->size))
			return bad(f, "truncated ELF file");
		if (read_at(f, &h, sizeof(h), 0) < 0)
			return -1;
		type = h.e_type, x->machine = h.e_machine;
		*phoff = h.e_phoff, *phnum = h.e_phnum;
		phentsize = h.e_phentsize, want = sizeof(Elf32_Phdr);
	}
	if (type != ET_EXEC && type != ET_DYN)
		return bad(f, "not an executable or shared library");
	if (*phnum == 0)
		return 0;
	if (phentsize != want)
		return bad(f, "bad program header size %u", phentsize);
	if (*phnum * want > MAX_PHDR_BYTES)
		return bad(f, "too many program headers");
	if (!in_file(*phoff, *phnum * want, f->size))
		return bad(f, "program headers out of bounds");
	return 0;
}

/* Reads the program headers into f->ph, in one layout for both classes. */
static int elf_phdrs(struct elf_file *f, uint64_t phoff, size_t phnum)
{
	size_t esz = f->cls == ELFCLASS64 ? sizeof(Elf64_Phdr)
					  : sizeof(Elf32_Phdr);
	unsigned char *buf = xmalloc(phnum * esz);

	if (read_at(f, buf, phnum * esz, phoff) < 0) {
		free(buf);
		return -1;
	}
	f->ph = xcalloc(phnum ? phnum : 1, sizeof(*f->ph));
	f->phnum = phnum;
	for (size_t i = 0; i < phnum; i++) {
		if (f->cls == ELFCLASS64) {
			Elf64_Phdr p;

			memcpy(&p, buf + i * esz, sizeof(p));
			f->ph[i] = (struct phdr){ p.p_type, p.p_offset,
						  p.p_vaddr, p.p_filesz };
		} else {
			Elf32_Phdr p;

			memcpy(&p, buf + i * esz, sizeof(p));
			f->ph[i] = (struct phdr){ p.p_type, p.p_offset,
						  p.p_vaddr, p.p_filesz };
		}
	}
	free(buf);
	return 0;
}

static const struct phdr *find_phdr(const struct elf_file *f, uint32_t type)
{
	for (size_t i = 0; i < f->phnum; i++)
		if (f->ph[i].type == type)
			return &f->ph[i];
	return NULL;
}

static int elf_interp(struct elf_file *f, struct elf *x)
{
	const struct phdr *p = find_phdr(f, PT_INTERP);

	if (!p)
		return 0;
	/* The kernel's own checks (fs/binfmt_elf.c), plus non-empty. */
	if (p->filesz < 2 || p->filesz > PATH_MAX ||
	    !in_file(p->off, p->filesz, f->size))
		return bad(f, "bad PT_INTERP");
	x->interp = xmalloc((size_t)p->filesz);
	if (read_at(f, x->interp, (size_t)p->filesz, p->off) < 0)
		return -1;
	if (x->interp[p->filesz - 1] != '\0' || x->interp[0] == '\0')
		return bad(f, "bad PT_INTERP");
	return 0;
}

/* The file offset of a virtual address, through the PT_LOAD segments. */
static int vaddr_to_off(const struct elf_file *f, uint64_t addr,
			uint64_t *off)
{
	for (size_t i = 0; i < f->phnum; i++) {
		const struct phdr *p = &f->ph[i];

		if (p->type != PT_LOAD || addr < p->vaddr ||
		    addr - p->vaddr >= p->filesz ||
		    p->off > UINT64_MAX - (addr - p->vaddr))
			continue;
		*off = p->off + (addr - p->vaddr);
		return 0;
	}
	return -1;
}

/* Copies the string at idx of t, at most max bytes with its NUL. */
static int read_string(const struct elf_file *f, const struct strtab *t,
		       uint64_t idx, size_t max, char **out)
{
	uint64_t avail;
	size_t n;
	char *buf;

	if (idx >= t->size)
		return bad(f, "string offset out of bounds");
	avail = t->size - idx;
	n = avail < max ? (size_t)avail : max;
	buf = xmalloc(n);
	if (read_at(f, buf, n, t->off + idx) < 0) {
		free(buf);
		return -1;
	}
	if (!memchr(buf, '\0', n)) {
		free(buf);
		return bad(f, "string too long or not terminated");
	}
	*out = xstrdup(buf);
	free(buf);
	return 0;
}

#define ABSENT UINT64_MAX

/* What the dynamic section says, before its strings are read. */
struct dyn {
	uint64_t strtab, strsz, soname, rpath, runpath;
	uint64_t needed[MAX_NEEDED];
	size_t nneeded;
};

static int dyn_entry(const struct elf_file *f, struct dyn *d, int64_t tag,
		     uint64_t val, struct elf *x)
{
	switch (tag) {
	case DT_NEEDED:
		if (d->nneeded == MAX_NEEDED)
			return bad(f, "more than %d DT_NEEDED entries",
				   MAX_NEEDED);
		d->needed[d->nneeded++] = val;
		break;
	case DT_STRTAB:
		d->strtab = val;
		break;
	case DT_STRSZ:
		d->strsz = val;
		break;
	case DT_SONAME:
		d->soname = val;
		break;
	case DT_RPATH:
		d->rpath = val;
		break;
	case DT_RUNPATH:
		d->runpath = val;
		break;
	case DT_FLAGS_1:
		x->nodeflib = (val & DF_1_NODEFLIB) != 0;
		break;
	}
	return 0;
}

/* Reads the strings the dynamic section points at. */
static int dyn_strings(const struct elf_file *f, const struct dyn *d,
		       struct elf *x)
{
	struct strtab t;

	if (d->nneeded == 0 && d->soname == ABSENT && d->rpath == ABSENT &&
	    d->runpath == ABSENT)
		return 0;
	if (d->strtab == ABSENT || vaddr_to_off(f, d->strtab, &t.off) < 0)
		return bad(f, "DT_STRTAB missing or outside the file");
	t.size = d->strsz != ABSENT ? d->strsz : f->size - t.off;
	if (!in_file(t.off, t.size, f->size))
		return bad(f, "string table out of bounds");
	for (size_t i = 0; i < d->nneeded; i++) {
		char *s;

		if (read_string(f, &t, d->needed[i], PATH_MAX, &s) < 0)
			return -1;
		strv_push(&x->needed, s);
		if (!*s)
			return bad(f, "empty DT_NEEDED");
	}
	if (d->soname != ABSENT &&
	    read_string(f, &t, d->soname, PATH_MAX, &x->soname) < 0)
		return -1;
	if (d->rpath != ABSENT &&
	    read_string(f, &t, d->rpath, MAX_RPATH, &x->rpath) < 0)
		return -1;
	if (d->runpath != ABSENT &&
	    read_string(f, &t, d->runpath, MAX_RPATH, &x->runpath) < 0)
		return -1;
	return 0;
}

static int elf_dynamic(struct elf_file *f, struct elf *x)
{
	const struct phdr *p = find_phdr(f, PT_DYNAMIC);
	size_t esz = f->cls == ELFCLASS64 ? sizeof(Elf64_Dyn)
					  : sizeof(Elf32_Dyn);
	struct dyn *d;
	unsigned char *buf;
	uint64_t count;
	int r = 0;

	if (!p)
		return 0;
	if (!in_file(p->off, p->filesz, f->size))
		return bad(f, "dynamic section out of bounds");
	count = p->filesz / esz;
	if (count > MAX_DYN)
		return bad(f, "dynamic section too large");
	buf = xmalloc((size_t)count * esz);
	if (read_at(f, buf, (size_t)count * esz, p->off) < 0) {
		free(buf);
		return -1;
	}
	d = xcalloc(1, sizeof(*d));
	d->strtab = d->strsz = d->soname = d->rpath = d->runpath = ABSENT;
	for (size_t i = 0; i < count && r == 0; i++) {
		int64_t tag;
		uint64_t val;

		if (f->cls == ELFCLASS64) {
			Elf64_Dyn dy;

			memcpy(&dy, buf + i * esz, sizeof(dy));
			tag = dy.d_tag, val = dy.d_un.d_val;
		} else {
			Elf32_Dyn dy;

			memcpy(&dy, buf + i * esz, sizeof(dy));
			tag = dy.d_tag, val = dy.d_un.d_val;
		}
		if (tag == DT_NULL)
			break;
		r = dyn_entry(f, d, tag, val, x);
	}
	if (r == 0)
		r = dyn_strings(f, d, x);
	free(d);
	free(buf);
	return r;
}

/*
 * Reads what ld.so needs from the ELF object open on fd. Returns 0, 1 if the
 * file is not ELF at all (no magic), or -1 with e set if it is a bad one.
 */
static int elf_read(int fd, const char *path, struct elf *x, struct error *e)
{
	struct elf_file f = { .fd = fd, .path = path, .e = e };
	unsigned char mag[SELFMAG];
	struct stat st;
	uint64_t phoff = 0;
	size_t phnum = 0;
	int r;

	memset(x, 0, sizeof(*x));
	if (fstat(fd, &st) < 0)
		return error_errno(e, "cannot stat %s", path);
	f.size = (uint64_t)st.st_size;
	if (f.size < SELFMAG)
		return 1;
	if (read_at(&f, mag, SELFMAG, 0) < 0)
		return -1;
	if (memcmp(mag, ELFMAG, SELFMAG) != 0)
		return 1;
	r = elf_ident(&f, x);
	if (r == 0)
		r = elf_ehdr(&f, x, &phoff, &phnum);
	if (r == 0)
		r = elf_phdrs(&f, phoff, phnum);
	if (r == 0)
		r = elf_interp(&f, x);
	if (r == 0)
		r = elf_dynamic(&f, x);
	free(f.ph);
	if (r < 0)
		elf_free(x);
	return r;
}

/*
 * /etc/ld.so.cache in glibc's "new" format, the only one ldconfig writes
 * since glibc 2.32 (struct cache_file_new and file_entry_new in
 * sysdeps/generic/dl-cache.h). String offsets count from the file's start.
 */
#define CACHE_MAGIC "glibc-ld.so.cache1.1"

struct cache_header {
	char magic[20];			/* CACHE_MAGIC, without its NUL */
	uint32_t nlibs, len_strings;
	uint8_t flags;			/* byte order: 0 unknown, 2 LE, 3 BE */
	uint8_t pad[3];
	uint32_t extension_offset, unused[3];
};

struct cache_entry {
	int32_t flags;			/* FLAG_ELF_LIBC6 | FLAG_<arch> */
	uint32_t key, value;		/* soname, path */
	uint32_t osversion;
	uint64_t hwcap;			/* 0, or a glibc-hwcaps subdirectory */
};

_Static_assert(sizeof(struct cache_header) == 48, "cache_file_new layout");
_Static_assert(sizeof(struct cache_entry) == 24, "file_entry_new layout");

/* Reads the cache file into c->cache; a bad one is read as empty. */
static void cache_read(struct closure *c, struct error *e)
{
	struct walk w;
	struct cache_header h;
	struct elf_file f = { .fd = -1, .path = "/etc/ld.so.cache", .e = e };
	struct stat st;

	if (walk(c, f.path, &w, e) != 0 || !S_ISREG(w.mode) ||
	    (f.fd = open_regular(c, &w, e)) < 0)
		goto out;
	if (fstat(f.fd, &st) < 0 || st.st_size < (off_t)sizeof(h) ||
	    st.st_size > MAX_CACHE)
		goto out;
	f.size = (uint64_t)st.st_size;
	if (read_at(&f, &h, sizeof(h), 0) < 0 ||
	    memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) != 0 ||
	    (h.flags != 0 && h.flags != CACHE_ENDIAN) ||
	    !in_file(sizeof(h), (uint64_t)h.nlibs * sizeof(struct cache_entry),
		     f.size))
		goto out;
	free(c->cache);
	c->cache = xmalloc((size_t)f.size);
	if (read_at(&f, c->cache, (size_t)f.size, 0) == 0)
		c->cache_len = (size_t)f.size;
out:
	if (f.fd >= 0)
		close(f.fd);
	walk_free(&w);
}

/*
 * Loads the cache once. ld.so ignores a missing or unreadable cache and goes
 * on to the default directories, so we do too; a one-byte buffer with
 * cache_len 0 marks "looked, nothing usable".
 */
static void cache_load(struct closure *c)
{
	struct error ignored;

	if (c->cache)
		return;
	c->cache = xmalloc(1);
	c->cache_len = 0;
	cache_read(c, &ignored);
}

/* The NUL-terminated string at off in the cache, or NULL. */
static const char *cache_str(const struct closure *c, uint32_t off)
{
	const char *s = (const char *)c->cache + off;

	if (off >= c->cache_len || !memchr(s, '\0', c->cache_len - off))
		return NULL;
	return s;
}

/*
 * The path the cache gives for name: the first entry for our ABI, as ld.so
 * takes it. Entries with hwcap set name glibc-hwcaps variants that suit only
 * some CPUs; the image may run on another, so we take the baseline.
 */
static const char *cache_lookup(struct closure *c, const char *name,
				const struct abi *abi)
{
	const unsigned char *base;
	struct cache_header h;

	cache_load(c);
	base = c->cache;
	if (c->cache_len < sizeof(h))
		return NULL;
	memcpy(&h, base, sizeof(h));
	for (uint32_t i = 0; i < h.nlibs; i++) {
		struct cache_entry en;
		const char *key, *value;

		memcpy(&en, base + sizeof(h) + (size_t)i * sizeof(en),
		       sizeof(en));
		if (en.hwcap != 0 || en.flags == 0 ||
		    (en.flags != abi->cache_flags[0] &&
		     en.flags != abi->cache_flags[1]))
			continue;
		key = cache_str(c, en.key);
		value = cache_str(c, en.value);
		if (key && value && value[0] == '/' && strcmp(key, name) == 0)
			return value;
	}
	return NULL;
}

/*
 * Dynamic string tokens ($ORIGIN, $LIB, $PLATFORM, also in braces), as
 * glibc's is_dst and _dl_dst_substitute: a token is a whole identifier, and
 * an unknown one stays as it is.
 */
static size_t is_dst(const char *s, const char *name)
{
	size_t n = strlen(name);
	int curly = s[0] == '{';
	char next;

	if (strncmp(s + curly, name, n) != 0)
		return 0;
	next = s[curly + n];
	if (curly)
		return next == '}' ? n + 2 : 0;
	if ((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') ||
	    (next >= '0' && next <= '9') || next == '_')
		return 0;
	return n;
}

static int expand(const char *s, const char *origin, const struct abi *abi,
		  char *out, size_t size)
{
	size_t o = 0;

	while (*s) {
		const char *rep = NULL;
		size_t skip = 0;

		if (*s == '$') {
			if ((skip = is_dst(s + 1, "ORIGIN")))
				rep = origin;
			else if ((skip = is_dst(s + 1, "LIB")))
				rep = abi->lib;
			else if ((skip = is_dst(s + 1, "PLATFORM")))
				rep = abi->platform;
		}
		if (rep) {
			size_t n = strlen(rep);

			if (o + n >= size)
				return -1;
			memcpy(out + o, rep, n);
			o += n;
			s += 1 + skip;
		} else {
			if (o + 1 >= size)
				return -1;
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return 0;
}

/* The directory of a path, the way ld.so computes $ORIGIN. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* One program's load, as ld.so would do it: objects in load order. */

struct obj {
	char *name;		/* the path it was found under */
	char *real;		/* resolved image path: the file's identity */
	const char *label;	/* for messages: name if clean, else real */
	char *origin;		/* $ORIGIN */
	struct strv names;	/* the names it was needed as */
	struct elf elf;
	size_t loader;		/* the object that needed it first, or NONE */
};

struct session {
	struct closure *c;
	unsigned char cls;	/* the program's class and machine: */
	uint16_t machine;	/* ld.so skips libraries of others */
	const struct abi *abi;
	struct obj *v;
	size_t n, cap;
	size_t tries;		/* candidate files looked at, capped */
};

/* A library file found for a name. */
struct cand {
	struct walk w;
	struct elf elf;
	char *name;
	int other_abi;		/* a file was there, of another class/machine */
};

static void cand_free(struct cand *k)
{
	walk_free(&k->w);
	elf_free(&k->elf);
	free(k->name);
	k->name = NULL;
}

static void session_free(struct session *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].real);
		free(s->v[i].origin);
		strv_free(&s->v[i].names);
		elf_free(&s->v[i].elf);
	}
	free(s->v);
}

/* Appends an object, taking k's name and ELF data. */
static void add_obj(struct session *s, struct cand *k, const char *origin,
		    const char *needed_as, size_t loader)
{
	struct obj *o;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	o = &s->v[s->n++];
	memset(o, 0, sizeof(*o));
	o->name = k->name;
	o->real = xstrdup(k->w.real);
	/* "/x/bin/../lib/liba.so" is what ld.so would say; we say where. */
	o->label = path_is_clean(o->name) ? o->name : o->real;
	o->origin = origin ? xstrdup(origin) : dir_of(k->name);
	if (needed_as)
		strv_push(&o->names, xstrdup(needed_as));
	o->elf = k->elf;
	o->loader = loader;
	k->name = NULL;
	memset(&k->elf, 0, sizeof(k->elf));
}

/* The object a name already refers to, as _dl_name_match_p matches. */
static size_t find_loaded(const struct session *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct obj *o = &s->v[i];

		if (strcmp(o->name, name) == 0 ||
		    (o->elf.soname && strcmp(o->elf.soname, name) == 0))
			return i;
		for (size_t j = 0; j < o->names.n; j++)
			if (strcmp(o->names.v[j], name) == 0)
				return i;
	}
	return NONE;
}

/* The object already loaded from the same file, as ld.so checks st_ino. */
static size_t find_real(const struct session *s, const char *real)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].real, real) == 0)
			return i;
	return NONE;
}

/* Appends "(needed by X)" to the error about a library X needs. */
static int needed_by(const struct session *s, size_t by, struct error *e)
{
	char msg[ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", e->msg);
	return error_set(e, "%s (needed by %s)", msg, s->v[by].label);
}

/*
 * Looks at one candidate path for a library that object by needs. Returns 0
 * with k filled if it is a library for our ABI, 1 to go on searching (no
 * such file, or another class or machine, which ld.so skips too), -1 if a
 * file is there but is bad: ld.so stops with an error then, and so do we.
 */
static int try_path(struct session *s, size_t by, const char *path,
		    struct cand *k, struct error *e)
{
	int fd, r;

	if (++s->tries > MAX_TRIES)
		return error_set(e, "%s: more than %d library lookups",
				 s->v[0].label, MAX_TRIES);
	r = walk(s->c, path, &k->w, e);
	if (r == 0 && !S_ISREG(k->w.mode))
		r = 1;
	if (r != 0) {
		walk_free(&k->w);
		return r < 0 ? needed_by(s, by, e) : 1;
	}
	fd = open_regular(s->c, &k->w, e);
	r = fd < 0 ? -1 : elf_read(fd, path, &k->elf, e);
	if (fd >= 0)
		close(fd);
	if (r == 1)
		r = error_set(e, "%s: not an ELF file", path);
	if (r == 0 && (k->elf.cls != s->cls || k->elf.machine != s->machine)) {
		k->other_abi = 1;
		elf_free(&k->elf);
		r = 1;
	}
	if (r != 0) {
		walk_free(&k->w);
		return r < 0 ? needed_by(s, by, e) : 1;
	}
	k->name = xstrdup(path);
	return 0;
}

/* Tries dir/name. */
static int try_dir(struct session *s, size_t by, const char *dir,
		   const char *name, struct cand *k, struct error *e)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	int n;

	while (len > 0 && dir[len - 1] == '/')
		len--;
	n = snprintf(path, sizeof(path), "%.*s/%s", (int)len, dir, name);
	if (n < 0 || n >= (int)sizeof(path))
		return 1;
	return try_path(s, by, path, k, e);
}

/*
 * Searches a DT_RPATH or DT_RUNPATH of object owner ($ORIGIN is owner's).
 * Empty and relative entries name the process's working directory, which
 * the image cannot know, so they are skipped.
 */
static int search_list(struct session *s, size_t owner, size_t by,
		       const char *list, const char *name, struct cand *k,
		       struct error *e)
{
	const char *p = list;

	for (int i = 0; *p; i++) {
		size_t len = strcspn(p, ":");
		char elem[PATH_MAX], dir[PATH_MAX];
		int r;

		if (i == MAX_RPATH_DIRS)
			return error_set(e, "%s: more than %d directories "
					 "in DT_RPATH or DT_RUNPATH",
					 s->v[owner].label, MAX_RPATH_DIRS);
		if (len > 0 && len < sizeof(elem)) {
			memcpy(elem, p, len);
			elem[len] = '\0';
			if (expand(elem, s->v[owner].origin, s->abi, dir,
				   sizeof(dir)) == 0 && dir[0] == '/') {
				r = try_dir(s, by, dir, name, k, e);
				if (r <= 0)
					return r;
			}
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return 1;
}

/* DT_RPATH of object by, its loader, theirs, ..., then of the program. */
static int search_rpaths(struct session *s, size_t by, const char *name,
			 struct cand *k, struct error *e)
{
	int r = 1, did_main = 0;

	for (size_t l = by; l != NONE && r == 1; l = s->v[l].loader) {
		did_main |= l == 0;
		if (s->v[l].elf.rpath)
			r = search_list(s, l, by, s->v[l].elf.rpath, name, k,
					e);
	}
	if (r == 1 && !did_main && s->v[0].elf.rpath)
		r = search_list(s, 0, by, s->v[0].elf.rpath, name, k, e);
	return r;
}

static int in_default_dir(const struct abi *abi, const char *path)
{
	const char *slash = strrchr(path, '/');

	for (size_t i = 0; i < sizeof(abi->dirs) / sizeof(abi->dirs[0]); i++)
		if (strlen(abi->dirs[i]) == (size_t)(slash - path) &&
		    strncmp(abi->dirs[i], path, (size_t)(slash - path)) == 0)
			return 1;
	return 0;
}

/* Searches a name without '/' for object by, in glibc's order. */
static int search(struct session *s, size_t by, const char *name,
		  struct cand *k, struct error *e)
{
	const struct elf *x = &s->v[by].elf;
	const char *cached;
	int r = 1;

	if (!x->runpath)
		r = search_rpaths(s, by, name, k, e);
	if (r == 1 && x->runpath)
		r = search_list(s, by, by, x->runpath, name, k, e);
	if (r != 1)
		return r;
	/* DF_1_NODEFLIB excludes the system directories, in the cache too. */
	cached = cache_lookup(s->c, name, s->abi);
	if (cached && !(x->nodeflib && in_default_dir(s->abi, cached))) {
		r = try_path(s, by, cached, k, e);
		if (r != 1)
			return r;
	}
	for (size_t i = 0; i < 4 && !x->nodeflib; i++) {
		r = try_dir(s, by, s->abi->dirs[i], name, k, e);
		if (r != 1)
			return r;
	}
	return 1;
}

/* Finds a name that object by needs, already expanded. */
static int locate(struct session *s, size_t by, const char *name,
		  const char *needed, struct cand *k, struct error *e)
{
	int r;

	if (!strchr(name, '/'))
		r = search(s, by, name, k, e);
	else if (name[0] != '/')
		return error_set(e, "%s: needs %s, a relative path that "
				 "depends on the working directory",
				 s->v[by].label, needed);
	else
		r = try_path(s, by, name, k, e);
	if (r == 1 && k->other_abi)
		return error_set(e, "%s: needs %s, found only for another "
				 "ELF class or machine", s->v[by].label, needed);
	if (r == 1)
		return error_set(e, "%s: needs %s, not found", s->v[by].label,
				 needed);
	return r;
}

/* Loads what object by needs as DT_NEEDED "needed". */
static int need(struct session *s, size_t by, const char *needed,
		struct error *e)
{
	char name[PATH_MAX];
	struct cand k = { 0 };
	size_t same;
	int r;

	if (!s->abi)
		return error_set(e, "%s: unsupported ELF machine %u",
				 s->v[by].label, s->machine);
	if (expand(needed, s->v[by].origin, s->abi, name, sizeof(name)) < 0)
		return error_set(e, "%s: needs %s, name too long",
				 s->v[by].label, needed);
	if (find_loaded(s, name) != NONE)
		return 0;
	r = locate(s, by, name, needed, &k, e);
	if (r == 0)
		r = commit(s->c, &k.w, e);
	if (r == 0) {
		same = find_real(s, k.w.real);
		if (same == NONE)
			add_obj(s, &k, NULL, name, by);
		else
			strv_push(&s->v[same].names, xstrdup(name));
	}
	cand_free(&k);
	return r;
}

/* Adds the program's interpreter, which ld.so has loaded before any. */
static int add_interp(struct session *s, struct error *e)
{
	const char *prog = s->v[0].label, *interp = s->v[0].elf.interp;
	struct cand k = { 0 };
	int r;

	if (interp[0] != '/')
		return error_set(e, "%s: interpreter %s is not an absolute "
				 "path", prog, interp);
	r = try_path(s, 0, interp, &k, e);
	if (r == 1)
		r = error_set(e, k.other_abi ? "%s: interpreter %s is of "
			      "another ELF class or machine" :
			      "%s: interpreter %s not found", prog, interp);
	if (r == 0)
		r = commit(s->c, &k.w, e);
	/* ld.so knows itself by PT_INTERP and by its DT_SONAME. */
	if (r == 0 && find_real(s, k.w.real) == NONE)
		add_obj(s, &k, NULL, interp, NONE);
	cand_free(&k);
	return r;
}

/*
 * Adds what ELF object x (at path, resolved by w) needs, breadth first as
 * ld.so loads. Takes x.
 */
static int add_needs(struct closure *c, const char *path, struct walk *w,
		     struct elf *x, struct error *e)
{
	struct session s = { .c = c, .cls = x->cls, .machine = x->machine };
	struct cand root = { .elf = *x, .name = xstrdup(path) };
	char *origin;
	int r = 0;

	s.abi = find_abi(x->cls, x->machine);
	memset(x, 0, sizeof(*x));
	memcpy(root.w.real, w->real, sizeof(root.w.real));
	/*
	 * A program's $ORIGIN is where its file really is: ld.so asks the
	 * kernel (/proc/self/exe), which resolves links. A library loaded by
	 * dlopen gets the directory of the name it was opened by.
	 */
	origin = dir_of(root.elf.interp ? w->real : path);
	add_obj(&s, &root, origin, NULL, NONE);
	free(origin);
	if (s.v[0].elf.interp)
		r = add_interp(&s, e);
	for (size_t i = 0; i < s.n && r == 0; i++)
		for (size_t j = 0; j < s.v[i].elf.needed.n && r == 0; j++)
			r = need(&s, i, s.v[i].elf.needed.v[j], e);
	session_free(&s);
	return r;
}

static int add_object(struct closure *c, const char *path, int depth,
		      struct error *e);

/*
 * A file that is not ELF: if it is a "#!" script, its interpreter's closure
 * comes along, read the way Linux reads the line (fs/binfmt_script.c).
 * Arguments after the interpreter (as in "#!/usr/bin/env python3") are
 * not followed: they are resolved at run time.
 */
static int add_script(struct closure *c, const char *path, int fd, int depth,
		      struct error *e)
{
	char line[SHEBANG_MAX + 1], *p;
	ssize_t n;
	size_t len;

	n = pread(fd, line, SHEBANG_MAX, 0);
	if (n < 0)
		return error_errno(e, "cannot read %s", path);
	if (n < 2 || line[0] != '#' || line[1] != '!')
		return 0;
	line[n] = '\0';
	p = line + 2 + strspn(line + 2, " \t");
	len = strcspn(p, " \t\n");
	if (p[len] == '\0' && n == SHEBANG_MAX)
		return error_set(e, "%s: #! line too long", path);
	p[len] = '\0';
	if (len == 0)
		return error_set(e, "%s: no interpreter after #!", path);
	if (p[0] != '/')
		return error_set(e, "%s: interpreter %s is not an absolute "
				 "path", path, p);
	if (depth >= MAX_SCRIPT_DEPTH)
		return error_set(e, "%s: too many levels of #! interpreters",
				 path);
	if (add_object(c, p, depth + 1, e) < 0) {
		char msg[ERROR_MAX];

		snprintf(msg, sizeof(msg), "%s", e->msg);
		return error_set(e, "%s (interpreter of %s)", msg, path);
	}
	return 0;
}

/* Adds path and, for ELF objects and scripts, what it needs to run. */
static int add_object(struct closure *c, const char *path, int depth,
		      struct error *e)
{
	struct walk w;
	struct elf x;
	int fd, r;

	fd = open_path(c, path, &w, e);
	r = fd < 0 ? -1 : elf_read(fd, path, &x, e);
	if (r >= 0 && commit(c, &w, e) < 0) {
		if (r == 0)
			elf_free(&x);
		r = -1;
	}
	if (r == 1)
		r = add_script(c, path, fd, depth, e);
	else if (r == 0)
		r = add_needs(c, path, &w, &x, e);
	if (fd >= 0)
		close(fd);
	walk_free(&w);
	return r;
}

void closure_init(struct closure *c, const char *root)
{
	memset(c, 0, sizeof(*c));
	c->root = root ? root : "";
}

void closure_free(struct closure *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].target);
	}
	free(c->v);
	free(c->index);
	free(c->cache);
	c->v = NULL;
	c->index = NULL;
	c->cache = NULL;
	c->n = c->cap = c->index_cap = c->cache_len = 0;
}

int closure_add(struct closure *c, const char *path, struct error *e)
{
	size_t n = c->n;

	if (add_object(c, path, 0, e) < 0) {
		truncate_entries(c, n);
		return -1;
	}
	return 0;
}

int closure_add_path(struct closure *c, const char *path, struct error *e)
{
	struct walk w;
	size_t n = c->n;
	int fd, r;

	fd = open_path(c, path, &w, e);
	r = fd < 0 ? -1 : commit(c, &w, e);
	if (fd >= 0)
		close(fd);
	walk_free(&w);
	if (r < 0) {
		truncate_entries(c, n);
		return -1;
	}
	return 0;
}
