/*
 * seal.c - what instances wrote to the log areas, made append-only (see
 * seal.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"
#include "util.h"

static void count(struct seal_walk *w, int rc)
{
	if (rc > 0)
		w->sealed++;
	else if (rc < 0 && !w->error)
		w->error = errno;
}

/* Whether statx says name (in dir) is sealed already, and its type. */
static int looked_at(int dir, const char *name, mode_t *type)
{
	struct statx sx;

	if (statx(dir, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		  STATX_TYPE, &sx) < 0)
		return -1;
	*type = sx.stx_mode & S_IFMT;
	return (sx.stx_attributes_mask & STATX_ATTR_APPEND) &&
	       (sx.stx_attributes & STATX_ATTR_APPEND);
}

static void walk(int dir, int depth, struct seal_walk *w);

/* One entry of dir: a regular file sealed, a directory sealed and walked. */
static void visit(int dir, const char *name, int depth, struct seal_walk *w)
{
	mode_t type;
	struct stat st;
	int sealed = looked_at(dir, name, &type), fd;

	if (sealed < 0 || (type != S_IFREG && type != S_IFDIR) ||
	    (sealed && type == S_IFREG))
		return;
	if (type == S_IFDIR && depth >= SEAL_MAX_DEPTH) {
		w->truncated = 1;
		return;
	}
	fd = open_beneath(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			  O_NOCTTY | O_CLOEXEC | (type == S_IFDIR ? O_DIRECTORY : 0), 0);
	if (fd < 0)
		return;
	/* It may have been swapped since statx: the type of what is open. */
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type) {
		if (!sealed)
			count(w, set_append_only(fd, 1));
		if (type == S_IFDIR)
			walk(fd, depth + 1, w);
	}
	close(fd);
}

static void walk(int dir, int depth, struct seal_walk *w)
{
	int copy = dup(dir);
	DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
	struct dirent *de;

	if (!d) {
		if (copy >= 0)
			close(copy);
		count(w, -1);
		return;
	}
	/* The copy shares dir's offset, at its end since the last walk. */
	rewinddir(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (++w->seen > SEAL_MAX_ENTRIES) {
			w->truncated = 1;
			break;
		}
		visit(dir, de->d_name, depth, w);
	}
	closedir(d);
}

void seal_tree(int area, struct seal_walk *w)
{
	memset(w, 0, sizeof(*w));
	count(w, set_append_only(area, 1));
	walk(area, 0, w);
}
