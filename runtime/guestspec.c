/*
 * guestspec.c - the service spec of a VM image (see guestspec.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestspec.h"
#include "util.h"

/* ---- parse (in the guest init: libc only) ----------------------------- */

struct parser {
	struct guest_spec *gs;
	unsigned line;
	char *err;
	size_t errlen;
	unsigned seen;		/* SEEN_* bits of the keys that come once */
};

enum {
	SEEN_HOSTNAME = 1 << 0, SEEN_USER = 1 << 1, SEEN_UID = 1 << 2,
	SEEN_GID = 1 << 3, SEEN_HOME = 1 << 4, SEEN_EXEC = 1 << 5,
	SEEN_WORKDIR = 1 << 6, SEEN_STDERR = 1 << 7, SEEN_RECYCLE = 1 << 8,
	SEEN_NETWORK = 1 << 9,
	/* limits: SEEN_LIMIT << index */
	SEEN_LIMIT = 1 << 10,
};
#define SEEN_REQUIRED (SEEN_HOSTNAME | SEEN_USER | SEEN_UID | SEEN_GID | \
		       SEEN_HOME | SEEN_EXEC | SEEN_RECYCLE | SEEN_NETWORK)
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_.-"

static int perr(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = p->line ? snprintf(p->err, p->errlen, "line %u: ", p->line) : 0;

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A decimal number in [min, max], digits only (no sign, no blanks). */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Undoes the render's escapes in place; -1 on a stray backslash. */
static int unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		r++;
		if (*r == '\\')
			*w++ = '\\';
		else if (*r == 'n')
			*w++ = '\n';
		else
			return -1;
	}
	*w = '\0';
	return 0;
}

static char *dup_or_fail(struct parser *p, const char *s)
{
	char *d = strdup(s);

	if (!d)
		perr(p, "out of memory");
	return d;
}

static int once(struct parser *p, unsigned bit, const char *key)
{
	if (p->seen & bit)
		return perr(p, "%s: given twice", key);
	p->seen |= bit;
	return 0;
}

/* A name of the recipe's alphabet (hostname, user), at most max bytes. */
static int parse_name(struct parser *p, unsigned bit, const char *key,
		      const char *v, size_t max, char **out)
{
	size_t n = strlen(v);

	if (once(p, bit, key) < 0)
		return -1;
	if (n == 0 || n > max || strspn(v, NAME_CHARS) != n)
		return perr(p, "%s: not a recipe name", key);
	*out = dup_or_fail(p, v);
	return *out ? 0 : -1;
}

static int parse_id(struct parser *p, unsigned bit, const char *key,
		    const char *v, uint32_t *out)
{
	uint64_t id;

	if (once(p, bit, key) < 0)
		return -1;
	if (parse_num(v, 1, SPEC_MAX_ID, &id) < 0)
		return perr(p, "%s: not a number in 1..%u", key, SPEC_MAX_ID);
	*out = (uint32_t)id;
	return 0;
}

static int parse_exec(struct parser *p, char *v)
{
	if (once(p, SEEN_EXEC, "exec") < 0)
		return -1;
	if (unescape(v) < 0)
		return perr(p, "exec: bad escape");
	if (v[0] != '/')
		return perr(p, "exec: the command must be an absolute path");
	p->gs->service.exec = dup_or_fail(p, v);
	return p->gs->service.exec ? 0 : -1;
}

static int parse_env(struct parser *p, char *v)
{
	struct service *s = &p->gs->service;
	struct env_var *nv;
	char *eq;

	if (unescape(v) < 0)
		return perr(p, "env: bad escape");
	if (v[0] == '=' || !(eq = strchr(v, '=')))
		return perr(p, "env: not NAME=VALUE");
	if (s->n_env >= SPEC_MAX_ENV)
		return perr(p, "more than %d env lines", SPEC_MAX_ENV);
	if (!(nv = realloc(s->env, (s->n_env + 1) * sizeof(*nv))))
		return perr(p, "out of memory");
	s->env = nv;
	*eq = '\0';
	nv[s->n_env].name = dup_or_fail(p, v);
	nv[s->n_env].value = dup_or_fail(p, eq + 1);
	s->n_env++;
	return nv[s->n_env - 1].name && nv[s->n_env - 1].value ? 0 : -1;
}

static int parse_path(struct parser *p, unsigned bit, const char *key, char *v,
		      char **out)
{
	if (once(p, bit, key) < 0)
		return -1;
	if (unescape(v) < 0 || !path_is_clean(v))
		return perr(p, "%s: not a clean absolute path", key);
	*out = dup_or_fail(p, v);
	return *out ? 0 : -1;
}

static int parse_recycle(struct parser *p, const char *v)
{
	enum recycle *r = &p->gs->service.recycle;

	if (once(p, SEEN_RECYCLE, "recycle") < 0)
		return -1;
	/* A VM has no network device to listen on: no interval. */
	if (recycle_parse(v, r) < 0 || *r == RECYCLE_INTERVAL)
		return perr(p, "recycle: not connection or session");
	return 0;
}

static int parse_network(struct parser *p, const char *v)
{
	if (once(p, SEEN_NETWORK, "network") < 0)
		return -1;
	if (network_parse(v, &p->gs->service.network) < 0)
		return perr(p, "network: not none, loopback or host");
	return 0;
}

static int parse_limit(struct parser *p, char *v)
{
	static const char *const names[] = { "memory", "pids", "nofile", "wall",
					     "cpu", "fsize" };
	struct limits *l = &p->gs->service.limits;
	uint64_t *fields[] = { &l->memory, &l->pids, &l->nofile, &l->wall,
			       &l->cpu, &l->fsize };
	char *value = strchr(v, ' ');

	if (!value)
		return perr(p, "limit: not NAME VALUE");
	*value++ = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(v, names[i]))
			continue;
		if (once(p, SEEN_LIMIT << i, names[i]) < 0)
			return -1;
		/* The largest a recipe allows is 64 GiB of memory: 2^48 is
		 * ample and keeps every later sum and product in range. */
		if (parse_num(value, 0, 1ULL << 48, fields[i]) < 0)
			return perr(p, "limit %s: not a number", names[i]);
		return 0;
	}
	return perr(p, "limit: unknown limit \"%.32s\"", v);
}

/* "area KIND SIZE UID GID MODE PATH" */
static int parse_area(struct parser *p, char *v)
{
	struct guest_spec *gs = p->gs;
	struct writable *a, *na;
	char *f[6], *save = NULL;
	uint64_t size, uid, gid, mode = 0;
	enum writable_kind kind;

	for (int i = 0; i < 5; i++) {
		f[i] = strtok_r(i ? NULL : v, " ", &save);
		if (!f[i])
			return perr(p, "area: not KIND SIZE UID GID MODE PATH");
	}
	f[5] = save;	/* the rest of the line: the path, spaces and all */
	if (gs->n_areas >= SPEC_MAX_WRITABLES)
		return perr(p, "more than %d areas", SPEC_MAX_WRITABLES);
	if (writable_kind_parse(f[0], &kind) < 0)
		return perr(p, "area: kind is not log, state or scratch");
	if (parse_num(f[1], 1, SPEC_MAX_AREA, &size) < 0 ||
	    parse_num(f[2], 0, SPEC_MAX_ID, &uid) < 0 ||
	    parse_num(f[3], 0, SPEC_MAX_ID, &gid) < 0)
		return perr(p, "area: bad size, uid or gid");
	if (strlen(f[4]) != 4 || strspn(f[4], "01234567") != 4)
		return perr(p, "area: mode is not 4 octal digits");
	for (const char *c = f[4]; *c; c++)
		mode = mode * 8 + (uint64_t)(*c - '0');
	if (!f[5] || unescape(f[5]) < 0 || !path_is_clean(f[5]) || !f[5][1])
		return perr(p, "area: not a clean absolute path below /");
	na = realloc(gs->areas, (gs->n_areas + 1) * sizeof(*na));
	if (!na)
		return perr(p, "out of memory");
	gs->areas = na;
	a = &na[gs->n_areas];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->size = size;
	a->uid = (uint32_t)uid;
	a->gid = (uint32_t)gid;
	a->mode = (mode_t)mode;
	if (!(a->path = dup_or_fail(p, f[5])))
		return -1;
	gs->n_areas++;
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	struct guest_spec *gs = p->gs;
	struct service *s = &gs->service;
	char *v = strchr(line, ' ');

	if (!v)
		return perr(p, "not KEY VALUE");
	*v++ = '\0';
	if (!strcmp(line, "hostname"))
		return parse_name(p, SEEN_HOSTNAME, "hostname", v, 64, &gs->hostname);
	if (!strcmp(line, "user"))
		return parse_name(p, SEEN_USER, "user", v, 32, &s->user);
	if (!strcmp(line, "uid"))
		return parse_id(p, SEEN_UID, "uid", v, &s->uid);
	if (!strcmp(line, "gid"))
		return parse_id(p, SEEN_GID, "gid", v, &s->gid);
	if (!strcmp(line, "home"))
		return parse_path(p, SEEN_HOME, "home", v, &gs->home);
	if (!strcmp(line, "exec"))
		return parse_exec(p, v);
	if (!strcmp(line, "env"))
		return parse_env(p, v);
	if (!strcmp(line, "workdir"))
		return parse_path(p, SEEN_WORKDIR, "workdir", v, &s->workdir);
	if (!strcmp(line, "stderr"))
		return parse_path(p, SEEN_STDERR, "stderr", v, &s->stderr_path);
	if (!strcmp(line, "recycle"))
		return parse_recycle(p, v);
	if (!strcmp(line, "network"))
		return parse_network(p, v);
	if (!strcmp(line, "limit"))
		return parse_limit(p, v);
	if (!strcmp(line, "area"))
		return parse_area(p, v);
	return perr(p, "unknown key \"%.32s\"", line);
}

static int parse_lines(struct parser *p, char *text)
{
	char *next;
	int ended = 0;

	for (char *line = text; *line; line = next) {
		char *nl = strchr(line, '\n');

		p->line++;
		if (!nl)
			return perr(p, "no newline at the end");
		*nl = '\0';
		next = nl + 1;
		if (ended)
			return perr(p, "text after \"end\"");
		if (p->line == 1) {
			if (strcmp(line, GUESTSPEC_MAGIC))
				return perr(p, "not \"%s\"", GUESTSPEC_MAGIC);
		} else if (!strcmp(line, "end")) {
			ended = 1;
		} else if (parse_line(p, line) < 0) {
			return -1;
		}
	}
	if (!ended)
		return perr(p, "the spec is cut short (no \"end\")");
	if ((p->seen & SEEN_REQUIRED) != SEEN_REQUIRED)
		return perr(p, "hostname, user, uid, gid, home, exec, recycle or "
			    "network missing");
	return 0;
}

int guestspec_parse(const char *data, size_t len, struct guest_spec *gs,
		    char *err, size_t errlen)
{
	struct parser p = { .gs = gs, .err = err, .errlen = errlen };
	char *text;
	int rc;

	memset(gs, 0, sizeof(*gs));
	if (len > GUESTSPEC_MAX_BYTES)
		return perr(&p, "the spec is larger than %u bytes", GUESTSPEC_MAX_BYTES);
	if (memchr(data, '\0', len))
		return perr(&p, "the spec holds a NUL byte");
	if (!(text = malloc(len + 1)))
		return perr(&p, "out of memory");
	memcpy(text, data, len);
	text[len] = '\0';
	gs->service.present = 1;
	rc = parse_lines(&p, text);
	free(text);
	if (rc < 0)
		guestspec_free(gs);
	return rc;
}

void guestspec_free(struct guest_spec *gs)
{
	for (size_t i = 0; i < gs->n_areas; i++)
		free(gs->areas[i].path);
	free(gs->areas);
	free(gs->hostname);
	free(gs->home);
	service_free(&gs->service);
	memset(gs, 0, sizeof(*gs));
}

/* ---- the initramfs that carries it (the supervisor reads it) ---------- */

#define NEWC_HEADER 110

/* The 8 hex digits of a newc header field at off. -1 if not hex. */
static int64_t newc_field(const char *h, size_t off)
{
	int64_t v = 0;

	for (size_t i = off; i < off + 8; i++) {
		char c = h[i];
		int d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

int guestspec_from_initrd(const char *data, size_t len, const char **spec,
			  size_t *spec_len, char *err, size_t errlen)
{
	size_t at = 0;

	while (at + NEWC_HEADER <= len) {
		const char *h = data + at;
		int64_t mode = newc_field(h, 14), size = newc_field(h, 54);
		int64_t namesize = newc_field(h, 94);
		size_t name_at = at + NEWC_HEADER, data_at;

		if (memcmp(h, "070701", 6) || mode < 0 || size < 0 || namesize < 1 ||
		    (uint64_t)namesize > len - name_at ||
		    data + name_at + namesize - 1 != memchr(data + name_at, '\0',
							     (size_t)namesize))
			break;
		data_at = pad4(name_at + (size_t)namesize);
		if (data_at > len || (uint64_t)size > len - data_at)
			break;
		if (!strcmp(data + name_at, "TRAILER!!!"))
			break;
		if (!strcmp(data + name_at, GUESTSPEC_INITRD_PATH) &&
		    ((uint64_t)mode & 0170000) == 0100000) {
			*spec = data + data_at;
			*spec_len = (size_t)size;
			return 0;
		}
		at = pad4(data_at + (size_t)size);
	}
	snprintf(err, errlen, "no %s in it (not an initramfs of imgtool, or cut)",
		 GUESTSPEC_INITRD_PATH);
	return -1;
}
