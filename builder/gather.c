/*
 * gather.c - gathering what goes into an image from a recipe (gather.h).
 *
 * Everything is collected into one sorted list of entries first, with its
 * owner, mode and digest, and only then written by the format writers. That
 * way every format holds the same thing, the manifest describes exactly what
 * was written, and the cache can compare a rebuild's inputs without writing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "closure.h"
#include "gather.h"

/* Host files lose setuid and setgid: nothing in an image runs privileged. */
#define HOST_MODE_MASK 01777
#define TREE_MAX_DEPTH 64

/* Adds a directory; an existing directory keeps its owner and mode. */
static int add_dir(struct contents *c, const char *path, mode_t perm,
		   uint32_t uid, uint32_t gid, struct error *e)
{
	struct entry *old = contents_find(c, path);
	struct entry en = { .path = (char *)path, .mode = S_IFDIR | perm,
			    .uid = uid, .gid = gid };

	if (old && S_ISDIR(old->mode))
		return 0;
	return contents_add(c, &en, e);
}

#define LINK_HOPS_MAX 40

/* Normalizes an absolute path lexically: "." and "" dropped, ".." stops at /. */
static char *path_normalize(const char *path)
{
	char *out = xmalloc(strlen(path) + 2);
	size_t n = 0;

	for (const char *p = path; *p; ) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[--n] != '/')
				;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

/* Where "link/rest" leads when link points at target. */
static char *link_join(const char *link, const char *target, const char *rest)
{
	char *dir = xstrdup(link), *joined, *clean;

	*strrchr(dir, '/') = '\0';
	joined = target[0] == '/' ? xasprintf("%s/%s", target, rest) :
		 xasprintf("%s/%s/%s", dir, target, rest);
	clean = path_normalize(joined);
	free(dir);
	free(joined);
	return clean;
}

/*
 * Finds where path lands in the image and makes its ancestors exist. A
 * symbolic link among the ancestors is followed inside the image, as the
 * kernel would at run time: on a merged-/usr host the closure of busybox
 * brings the link /bin -> usr/bin, and a recipe's /bin/sh then lands in
 * /usr/bin/sh. An ancestor that is a file is an error.
 */
static int place(struct contents *c, const char *path, char **placed,
		 struct error *e)
{
	char *cur = xstrdup(path);
	int hops = 0;

again:
	for (char *s = strchr(cur + 1, '/'); s; s = strchr(s + 1, '/')) {
		struct entry *old;

		*s = '\0';
		old = contents_find(c, cur);
		if (old && S_ISLNK(old->mode)) {
			char *next = link_join(cur, old->target, s + 1);

			free(cur);
			cur = next;
			if (++hops > LINK_HOPS_MAX)
				break;
			goto again;
		}
		if ((old && !S_ISDIR(old->mode)) ||
		    (!old && add_dir(c, cur, 0755, 0, 0, e) < 0)) {
			if (old)
				error_bad(e, "%s: lies under %s, which is not a directory",
					  path, cur);
			free(cur);
			return -1;
		}
		*s = '/';
	}
	if (hops > LINK_HOPS_MAX) {
		free(cur);
		return error_bad(e, "%s: too many symbolic links on the way", path);
	}
	*placed = cur;
	return 0;
}

static int add_entry(struct contents *c, const struct entry *en,
		     struct error *e)
{
	struct entry at = *en;
	int rc;

	if (place(c, en->path, &at.path, e) < 0)
		return -1;
	rc = contents_add(c, &at, e);
	free(at.path);
	return rc;
}

/* Adds a directory the recipe names, wherever its path lands. */
int contents_add_dir(struct contents *c, const char *path, mode_t perm,
		      uint32_t uid, uint32_t gid, struct error *e)
{
	char *at;
	int rc;

	if (place(c, path, &at, e) < 0)
		return -1;
	rc = add_dir(c, at, perm, uid, gid, e);
	free(at);
	return rc;
}

/* Adds a regular file copied from a host path, with its digest. */
static int add_host_file(struct contents *c, const char *path, const char *src,
			 const struct stat *st, mode_t perm, uint32_t uid,
			 uint32_t gid, struct error *e)
{
	struct entry en = { .path = (char *)path, .mode = S_IFREG | perm,
			    .uid = uid, .gid = gid, .src = (char *)src,
			    .len = (size_t)st->st_size };

	/* st was taken before the hash: a write after it moves ctime. */
	en.src_id = (struct src_identity){ st->st_dev, st->st_ino, st->st_size,
					   st->st_mtim, st->st_ctim };
	if (sha256_file_hex(src, en.digest, e) < 0)
		return -1;
	return add_entry(c, &en, e);
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int contents_check_sources(const struct contents *c, struct error *e)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct entry *en = &c->v[i];
		const struct src_identity *id = &en->src_id;
		struct stat st;

		if (!S_ISREG(en->mode) || !en->src || en->data)
			continue;
		if (stat(en->src, &st) < 0)
			return error_errno(e, "%s: changed during the build (now gone)",
					   en->src);
		if (st.st_dev != id->dev || st.st_ino != id->ino ||
		    st.st_size != id->size || !same_time(&st.st_mtim, &id->mtime) ||
		    !same_time(&st.st_ctim, &id->ctime))
			return error_set(e, "%s changed during the build: the image "
					 "may not hold what its manifest says; "
					 "nothing was installed", en->src);
	}
	return 0;
}

static int add_symlink(struct contents *c, const char *path, const char *target,
		       uint32_t uid, uint32_t gid, struct error *e)
{
	struct entry en = { .path = (char *)path, .mode = S_IFLNK | 0777,
			    .uid = uid, .gid = gid, .target = (char *)target };

	return add_entry(c, &en, e);
}

static int add_inline(struct contents *c, const char *path, const char *data,
		      size_t len, mode_t perm, uint32_t uid, uint32_t gid,
		      struct error *e)
{
	struct entry en = { .path = (char *)path, .mode = S_IFREG | perm,
			    .uid = uid, .gid = gid, .data = (char *)data,
			    .len = len };

	sha256_hex(data, len, en.digest);
	return add_entry(c, &en, e);
}

int contents_add_file(struct contents *c, const char *path, const char *data,
		      size_t len, mode_t perm, struct error *e)
{
	return add_inline(c, path, data, len, perm, 0, 0, e);
}

static uint32_t id_or_root(uint32_t id)
{
	return id == ID_UNSET ? 0 : id;
}

static int at_error(struct error *e, const struct origin *at, const char *elem)
{
	char msg[ERROR_MAX];

	snprintf(msg, sizeof(msg), "%s", e->msg);
	return error_bad(e, "%s:%d: %s: %s", at->file, at->line, elem, msg);
}

static int gather_closure(struct contents *c, const struct item *it,
			  struct error *e)
{
	struct closure cl;
	int rc = 0;

	closure_init(&cl, NULL);
	if (closure_add(&cl, it->src, e) < 0) {
		closure_free(&cl);
		return -1;
	}
	for (size_t i = 0; i < cl.n && rc == 0; i++) {
		const struct closure_entry *ce = &cl.v[i];
		struct stat st;

		if (ce->type == CLOSURE_SYMLINK) {
			rc = add_symlink(c, ce->path, ce->target, 0, 0, e);
			continue;
		}
		if (stat(ce->path, &st) < 0)
			rc = error_errno(e, "%s", ce->path);
		else
			rc = add_host_file(c, ce->path, ce->path, &st,
					   st.st_mode & HOST_MODE_MASK & 0755, 0, 0, e);
	}
	closure_free(&cl);
	return rc;
}

struct tree_walk {
	struct contents *c;
	const struct item *it;
	struct error *e;
	int scan;	/* record what is there (verify) instead of the recipe's say */
};

static int tree_perm(const struct tree_walk *w, const struct stat *st,
		     mode_t *perm)
{
	mode_t m = st->st_mode & HOST_MODE_MASK;

	if (w->scan) {
		*perm = st->st_mode & 07777;
		return 0;
	}
	if (w->it->mode != MODE_UNSET)
		m = w->it->mode;
	if (w->it->mode_spec &&
	    recipe_mode_apply(w->it->mode_spec, m, S_ISDIR(st->st_mode), &m) < 0)
		return error_bad(w->e, "mode \"%s\" is not a mode",
				 w->it->mode_spec);
	*perm = m;
	return 0;
}

static int tree_dir(struct tree_walk *w, const char *src, const char *dest,
		    int depth);

/*
 * A tree's own directories win over implicit parents made earlier: the
 * owner and mode the recipe gives the tree apply to its root too.
 */
static void tree_claim_dir(struct contents *c, const char *dest, mode_t perm,
			   uint32_t uid, uint32_t gid)
{
	char *at;
	struct entry *en;

	if (place(c, dest, &at, NULL) < 0)
		return;
	en = contents_find(c, at);
	if (en && S_ISDIR(en->mode)) {
		en->mode = S_IFDIR | perm;
		en->uid = uid;
		en->gid = gid;
	}
	free(at);
}

static int tree_entry(struct tree_walk *w, const char *src, const char *dest,
		      int depth)
{
	uint32_t uid = id_or_root(w->it->uid), gid = id_or_root(w->it->gid);
	struct stat st;
	mode_t perm = 0;

	if (lstat(src, &st) < 0)
		return error_errno(w->e, "%s", src);
	if (w->scan) {
		uid = st.st_uid;
		gid = st.st_gid;
	}
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);

		if (n < 0)
			return error_errno(w->e, "%s", src);
		target[n] = '\0';
		if (!w->scan && !link_stays_inside(dest, target))
			return error_bad(w->e, "%s: symlink to \"%s\" points outside the image",
					 src, target);
		return add_symlink(w->c, dest, target, uid, gid, w->e);
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return error_bad(w->e, "%s: only files, directories and symlinks "
				 "may go into an image (instances get their /dev at run time)",
				 src);
	if (tree_perm(w, &st, &perm) < 0)
		return -1;
	if (S_ISREG(st.st_mode))
		return add_host_file(w->c, dest, src, &st, perm, uid, gid, w->e);
	if (contents_add_dir(w->c, dest, perm, uid, gid, w->e) < 0)
		return -1;
	if (!w->scan)
		tree_claim_dir(w->c, dest, perm, uid, gid);
	return tree_dir(w, src, dest, depth + 1);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a directory's names, sorted, so that a walk is reproducible. */
static int read_names(const char *dir, struct strv *names, struct error *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return error_errno(e, "%s", dir);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		strv_push(names, xstrdup(de->d_name));
	}
	closedir(d);
	if (names->n)
		qsort(names->v, names->n, sizeof(*names->v), name_cmp);
	return 0;
}

static int tree_dir(struct tree_walk *w, const char *src, const char *dest,
		    int depth)
{
	struct strv names = { 0 };
	int rc = 0;

	if (depth > TREE_MAX_DEPTH)
		return error_bad(w->e, "%s: nested deeper than %d directories",
				 src, TREE_MAX_DEPTH);
	if (read_names(src, &names, w->e) < 0)
		return -1;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char *s = xasprintf("%s/%s", src, names.v[i]);
		char *d = xasprintf("%s/%s", strcmp(dest, "/") ? dest : "",
				    names.v[i]);

		if (strlen(d) >= PATH_MAX)
			rc = error_bad(w->e, "%s: path too long", d);
		else
			rc = tree_entry(w, s, d, depth);
		free(s);
		free(d);
	}
	strv_free(&names);
	return rc;
}

static int gather_tree(struct contents *c, const struct item *it,
		       struct error *e)
{
	struct tree_walk w = { .c = c, .it = it, .e = e };
	char *src = xstrdup(it->src);
	size_t n = strlen(src);
	int rc;

	while (n > 1 && src[n - 1] == '/')
		src[--n] = '\0';
	rc = tree_entry(&w, src, it->path, 0);
	free(src);
	return rc;
}

int contents_scan(struct contents *c, const char *dir, struct error *e)
{
	struct item it = { .kind = ITEM_TREE, .path = "/", .mode = MODE_UNSET,
			   .uid = ID_UNSET, .gid = ID_UNSET };
	struct tree_walk w = { .c = c, .it = &it, .e = e, .scan = 1 };

	if (tree_entry(&w, dir, "/", 0) < 0)
		return -1;
	contents_sort(c);
	return 0;
}

static int gather_file(struct contents *c, const struct item *it,
		       struct error *e)
{
	mode_t perm = it->mode == MODE_UNSET ? 0644 : it->mode;
	uint32_t uid = id_or_root(it->uid), gid = id_or_root(it->gid);
	struct stat st;

	if (!it->src)
		return add_inline(c, it->path, it->text ? it->text : "",
				  it->text_len, perm, uid, gid, e);
	if (stat(it->src, &st) < 0)
		return error_errno(e, "%s", it->src);
	if (!S_ISREG(st.st_mode))
		return error_bad(e, "%s: not a regular file", it->src);
	return add_host_file(c, it->path, it->src, &st, perm, uid, gid, e);
}

static int gather_item(struct contents *c, const struct item *it,
		       struct error *e)
{
	uint32_t uid = id_or_root(it->uid), gid = id_or_root(it->gid);

	switch (it->kind) {
	case ITEM_PROGRAM:
	case ITEM_LIBRARY:
		return gather_closure(c, it, e);
	case ITEM_TREE:
		return gather_tree(c, it, e);
	case ITEM_FILE:
		return gather_file(c, it, e);
	case ITEM_SYMLINK:
		if (!link_stays_inside(it->path, it->target))
			return error_bad(e, "symlink to \"%s\" points outside the image",
					 it->target);
		return add_symlink(c, it->path, it->target, uid, gid, e);
	case ITEM_DIR:
		return contents_add_dir(c, it->path, it->mode == MODE_UNSET ? 0755 : it->mode,
				  uid, gid, e);
	}
	return error_set(e, "unknown item kind %d", (int)it->kind);
}

static const char *item_element(enum item_kind k)
{
	static const char *const names[] = {
		[ITEM_PROGRAM] = "program", [ITEM_LIBRARY] = "library",
		[ITEM_TREE] = "tree", [ITEM_FILE] = "file",
		[ITEM_SYMLINK] = "symlink", [ITEM_DIR] = "dir",
	};

	return names[k];
}

static const char *group_name(const struct recipe *r, uint32_t gid)
{
	for (size_t i = 0; i < r->n_groups; i++)
		if (r->groups[i].gid == gid)
			return r->groups[i].name;
	for (size_t i = 0; i < r->n_users; i++)
		if (r->users[i].gid == gid)
			return r->users[i].name;
	return NULL;
}

/*
 * /etc/passwd and /etc/group come from the recipe's users and groups. A
 * user's primary group that the recipe does not declare gets the user's
 * name, as adduser would make it.
 */
static void make_group(const struct recipe *r, struct buf *b)
{
	buf_puts(b, "root:x:0:\n");
	for (size_t i = 0; i < r->n_groups; i++) {
		const struct group *g = &r->groups[i];

		buf_printf(b, "%s:x:%u:", g->name, g->gid);
		for (char **m = g->members; m && *m; m++)
			buf_printf(b, "%s%s", m == g->members ? "" : ",", *m);
		buf_puts(b, "\n");
	}
	for (size_t i = 0; i < r->n_users; i++) {
		const struct user *u = &r->users[i];
		int declared = 0;

		for (size_t j = 0; j < r->n_groups; j++)
			declared |= r->groups[j].gid == u->gid;
		for (size_t j = 0; j < i; j++)
			declared |= r->users[j].gid == u->gid;
		if (!declared && u->gid != 0 && group_name(r, u->gid) == u->name)
			buf_printf(b, "%s:x:%u:\n", u->name, u->gid);
	}
}

static void make_passwd(const struct recipe *r, struct buf *b)
{
	buf_puts(b, "root:x:0:0:root:/:/bin/false\n");
	for (size_t i = 0; i < r->n_users; i++) {
		const struct user *u = &r->users[i];

		buf_printf(b, "%s:x:%u:%u:%s:%s:%s\n", u->name, u->uid, u->gid,
			   u->name, u->home ? u->home : "/",
			   u->shell ? u->shell : "/bin/false");
	}
}

static int gather_accounts(struct contents *c, const struct recipe *r,
			   struct error *e)
{
	struct buf passwd = { 0 }, group = { 0 };
	int rc;

	make_passwd(r, &passwd);
	make_group(r, &group);
	rc = add_inline(c, "/etc/passwd", passwd.data, passwd.len, 0644, 0, 0, e);
	if (rc == 0)
		rc = add_inline(c, "/etc/group", group.data, group.len, 0644, 0, 0, e);
	buf_free(&passwd);
	buf_free(&group);
	return rc;
}

/*
 * Mount points must exist in a read-only image: the runtime cannot create
 * them. /dev and /proc get theirs, and every writable area its directory.
 */
static int gather_mount_points(struct contents *c, const struct recipe *r,
			       struct error *e)
{
	if (add_dir(c, "/dev", 0755, 0, 0, e) < 0 ||
	    add_dir(c, "/proc", 0555, 0, 0, e) < 0)
		return -1;
	for (size_t i = 0; i < r->n_writables; i++) {
		const struct writable *w = &r->writables[i];
		struct entry *old = contents_find(c, w->path);

		if (old && !S_ISDIR(old->mode)) {
			error_bad(e, "%s is not a directory in the image", w->path);
			return at_error(e, &w->at, "writable");
		}
		if (contents_add_dir(c, w->path, w->mode, w->uid, w->gid, e) < 0)
			return at_error(e, &w->at, "writable");
	}
	return 0;
}

int contents_gather(struct contents *c, const struct recipe *r, int64_t epoch,
		    struct error *e)
{
	memset(c, 0, sizeof(*c));
	c->epoch = epoch;
	if (add_dir(c, "/", 0755, 0, 0, e) < 0)
		goto fail;
	for (size_t i = 0; i < r->n_items; i++) {
		const struct item *it = &r->items[i];

		if (gather_item(c, it, e) < 0) {
			at_error(e, &it->at, item_element(it->kind));
			goto fail;
		}
	}
	if (contents_find(c, "/etc/passwd") || contents_find(c, "/etc/group")) {
		error_bad(e, "%s: /etc/passwd and /etc/group are written by the "
			  "builder from <user> and <group>", r->path);
		goto fail;
	}
	if (gather_accounts(c, r, e) < 0 || gather_mount_points(c, r, e) < 0)
		goto fail;
	contents_sort(c);
	return 0;
fail:
	contents_free(c);
	return -1;
}
