/*
 * contents.c - the list of an image's entries (see contents.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "contents.h"

static void entry_free(struct entry *en)
{
	free(en->path);
	free(en->src);
	free(en->data);
	free(en->target);
}

void contents_free(struct contents *c)
{
	for (size_t i = 0; i < c->n; i++)
		entry_free(&c->v[i]);
	free(c->v);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static size_t path_hash(const char *s)
{
	size_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t *slot_for(const struct contents *c, const char *path)
{
	size_t i = path_hash(path) & (c->n_slots - 1);

	while (c->slots[i] && strcmp(c->v[c->slots[i] - 1].path, path))
		i = (i + 1) & (c->n_slots - 1);
	return &c->slots[i];
}

/* Rebuilds the index at twice the size: it stays at most half full. */
static void index_rebuild(struct contents *c)
{
	free(c->slots);
	c->n_slots = c->n_slots ? 2 * c->n_slots : 256;
	while (c->n_slots < 2 * (c->n + 1))
		c->n_slots *= 2;
	c->slots = xcalloc(c->n_slots, sizeof(*c->slots));
	for (size_t i = 0; i < c->n; i++)
		*slot_for(c, c->v[i].path) = i + 1;
}

struct entry *contents_find(const struct contents *c, const char *path)
{
	size_t *slot;

	if (!c->n_slots)
		return NULL;
	slot = slot_for(c, path);
	return *slot ? &c->v[*slot - 1] : NULL;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path,
		      ((const struct entry *)b)->path);
}

void contents_sort(struct contents *c)
{
	/* empty, c->v may be NULL, which qsort must not be given even for 0 */
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), entry_cmp);
	c->n_slots = 0;
	index_rebuild(c);
}

static int entries_equal(const struct entry *a, const struct entry *b)
{
	if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		return 0;
	if (S_ISREG(a->mode))
		return !strcmp(a->digest, b->digest);
	if (S_ISLNK(a->mode))
		return !strcmp(a->target, b->target);
	return 1;
}

static void entry_copy(struct entry *dst, const struct entry *src)
{
	*dst = *src;
	dst->path = xstrdup(src->path);
	dst->src = src->src ? xstrdup(src->src) : NULL;
	dst->target = src->target ? xstrdup(src->target) : NULL;
	dst->data = NULL;
	if (src->data) {
		dst->data = xmalloc(src->len + 1);
		memcpy(dst->data, src->data, src->len);
		dst->data[src->len] = '\0';
	}
}

/*
 * Adds one entry. A second claim on a path is accepted only when it is
 * identical: two programs bring the same libc. Returns -1 with errno EEXIST
 * for a conflicting claim, so that callers can name the recipe element.
 */
int contents_add(struct contents *c, const struct entry *en, struct error *e)
{
	struct entry *old = contents_find(c, en->path);

	if (old) {
		if (entries_equal(old, en))
			return 0;
		errno = EEXIST;
		return error_bad(e, "%s: claimed twice with different contents",
				 en->path);
	}
	if (c->n >= CONTENTS_MAX_ENTRIES)
		return error_bad(e, "more than %d files in the image",
				 CONTENTS_MAX_ENTRIES);
	if (S_ISREG(en->mode)) {
		if (en->len > CONTENTS_MAX_BYTES - c->bytes)
			return error_bad(e, "image larger than %llu bytes",
					 (unsigned long long)CONTENTS_MAX_BYTES);
		c->bytes += en->len;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	entry_copy(&c->v[c->n++], en);
	if (2 * c->n >= c->n_slots)
		index_rebuild(c);
	else
		*slot_for(c, en->path) = c->n;
	return 0;
}

int entry_read(const struct entry *en, char **data, size_t *len,
	       struct error *e)
{
	if (en->data || !en->src) {
		*data = xmalloc(en->len + 1);
		memcpy(*data, en->data ? en->data : "", en->len);
		(*data)[en->len] = '\0';
		*len = en->len;
		return 0;
	}
	if (read_file(en->src, en->len, data, len, e) < 0)
		return -1;
	if (*len != en->len) {
		free(*data);
		return error_set(e, "%s: changed while building", en->src);
	}
	return 0;
}

/*
 * True if a link at path with this target resolves inside the image. An
 * absolute target resolves against the image's own root, so it cannot
 * leave it; a relative one must not climb above "/" lexically.
 */
int link_stays_inside(const char *path, const char *target)
{
	int depth = 0;

	if (target[0] == '/')
		return 1;
	for (const char *p = path + 1; *p; p++)
		if (*p == '/')
			depth++;
	for (const char *t = target; *t; ) {
		size_t n = strcspn(t, "/");

		if (n == 2 && t[0] == '.' && t[1] == '.') {
			if (--depth < 0)
				return 0;
		} else if (n > 0 && !(n == 1 && t[0] == '.')) {
			depth++;
		}
		t += n;
		while (*t == '/')
			t++;
	}
	return 1;
}

