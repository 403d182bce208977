/*
 * manifest.c - reading manifests (see manifest.h); builder/render.c writes
 * them.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "guestspec.h"
#include "manifest.h"

#define MANIFEST_MAX_WRITABLES 64

/* ---- reading ---------------------------------------------------------- */

struct reader {
	const char *name;	/* the manifest's file name, for messages */
	struct error *e;
	int failed;
};

__attribute__((format(printf, 3, 4)))
static int bad(struct reader *rd, xmlNodePtr n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (rd->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rd->failed = 1;
	return error_bad(rd->e, "%s:%ld: %s: %s", rd->name, xmlGetLineNo(n),
			 (const char *)n->name, msg);
}

static int is(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST name);
}

/*
 * Returns 1 the first time an element that a manifest holds at most once is
 * met (marking @bit in @seen), and 0 with the error set when it comes again:
 * a second one is refused, never merged into the first. A merge let a
 * second <service> raise per-client from 8 to 64, and leaked the first's
 * strings (issue 10, finding 17); a manifest is untrusted input.
 */
static int once(struct reader *rd, xmlNodePtr n, unsigned *seen, unsigned bit)
{
	if (*seen & bit) {
		bad(rd, n, "more than one %s", (const char *)n->name);
		return 0;
	}
	*seen |= bit;
	return 1;
}

/* The bits of once(): the root's children, then a service's. */
enum {
	ONCE_FILES = 1u << 0,
	ONCE_SERVICE = 1u << 1,
	ONCE_LOGS = 1u << 2,
	ONCE_VM = 1u << 3,
	ONCE_EXEC = 1u << 0,
	ONCE_LIMITS = 1u << 1,
	ONCE_SYSCALLS = 1u << 2,
};

/* Returns a malloc'd copy of an attribute, or NULL when absent. */
static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	char *s;

	if (!v)
		return NULL;
	s = xstrdup((const char *)v);
	xmlFree(v);
	return s;
}

static char *attr_req(struct reader *rd, xmlNodePtr n, const char *name)
{
	char *s = attr(n, name);

	if (!s)
		bad(rd, n, "missing attribute %s", name);
	return s;
}

static uint64_t attr_num(struct reader *rd, xmlNodePtr n, const char *name,
			 uint64_t max)
{
	char *s = attr(n, name);
	uint64_t v = 0;

	if (s && parse_uint(s, 0, max, &v) < 0)
		bad(rd, n, "attribute %s is not a number in range", name);
	free(s);
	return v;
}

static mode_t attr_mode(struct reader *rd, xmlNodePtr n)
{
	char *s = attr(n, "mode");
	mode_t m = 0;

	/* The builder writes "%04o": one to four octal digits, nothing else. */
	if (s && (!s[0] || strlen(s) > 4 || strspn(s, "01234567") != strlen(s)))
		bad(rd, n, "mode \"%s\" is not an octal mode", s);
	else if (s)
		m = (mode_t)strtoul(s, NULL, 8);
	free(s);
	return m & 07777;
}

static int is_digest(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (!strchr("0123456789abcdef", s[n]))
			return 0;
	return n == 64;
}

static void read_entry(struct reader *rd, xmlNodePtr n, struct contents *c)
{
	struct entry en = { 0 };
	char *digest = NULL;

	en.path = attr_req(rd, n, "path");
	en.uid = (uint32_t)attr_num(rd, n, "uid", SPEC_MAX_ID);
	en.gid = (uint32_t)attr_num(rd, n, "gid", SPEC_MAX_ID);
	if (is(n, "dir")) {
		en.mode = S_IFDIR | attr_mode(rd, n);
	} else if (is(n, "symlink")) {
		en.mode = S_IFLNK | 0777;
		en.target = attr_req(rd, n, "target");
	} else {
		en.mode = S_IFREG | attr_mode(rd, n);
		en.len = attr_num(rd, n, "size", CONTENTS_MAX_BYTES);
		digest = attr_req(rd, n, "sha256");
		if (digest && !is_digest(digest))
			bad(rd, n, "sha256 \"%s\" is not a digest", digest);
		else if (digest)
			memcpy(en.digest, digest, DIGEST_HEX);
	}
	if (!rd->failed && !path_is_clean(en.path))
		bad(rd, n, "path \"%s\" is not a clean absolute path", en.path);
	if (!rd->failed && contents_add(c, &en, rd->e) < 0)
		rd->failed = 1;
	free(en.path);
	free(en.target);
	free(digest);
}

static void read_files(struct reader *rd, xmlNodePtr files, struct contents *c)
{
	for (xmlNodePtr n = files->children; n && !rd->failed; n = n->next)
		if (is(n, "dir") || is(n, "file") || is(n, "symlink"))
			read_entry(rd, n, c);
		else if (n->type == XML_ELEMENT_NODE)
			bad(rd, n, "unknown element in files");
}

/* An enum attribute: absent gives dflt, an unknown name is an error. */
#define READ_ENUM(rd, n, name, parse, dflt, out) do {			\
	char *v_ = attr(n, name);					\
									\
	*(out) = (dflt);						\
	if (v_ && parse(v_, out) < 0)					\
		bad(rd, n, "%s=\"%s\": unknown value", name, v_);	\
	free(v_);							\
} while (0)

static void read_limits(struct reader *rd, xmlNodePtr n, struct limits *l)
{
	l->memory = attr_num(rd, n, "memory", UINT64_MAX);
	l->pids = attr_num(rd, n, "pids", UINT32_MAX);
	l->nofile = attr_num(rd, n, "nofile", UINT32_MAX);
	l->wall = attr_num(rd, n, "wall", UINT32_MAX);
	l->cpu = attr_num(rd, n, "cpu", UINT32_MAX);
	l->fsize = attr_num(rd, n, "fsize", UINT64_MAX);
}

static char **read_names(xmlNodePtr parent, const char *elem)
{
	struct strv v = { 0 };

	for (xmlNodePtr n = parent->children; n; n = n->next) {
		char *name = is(n, elem) ? attr(n, "name") : NULL;

		if (name && v.n < 1024)
			strv_push(&v, name);
		else
			free(name);
	}
	if (!v.v)
		strv_push(&v, NULL);
	return v.v;
}

/* An unknown family is an error, never a family dropped from the filter. */
static void read_families(struct reader *rd, xmlNodePtr n, struct service *s)
{
	char *list = attr(n, "families"), *unknown = NULL;

	if (list && socket_families_parse(list, &s->socket_families, &unknown) < 0)
		bad(rd, n, "families: \"%s\" is not a socket family", unknown);
	free(unknown);
	free(list);
}

static void read_syscalls(struct reader *rd, xmlNodePtr n, struct service *s)
{
	s->has_syscalls = 1;
	READ_ENUM(rd, n, "default", syscall_action_parse, SYSCALL_KILL,
		  &s->syscall_default);
	s->syscall_errno = (int)attr_num(rd, n, "errno", 4095);
	s->syscalls_allow = read_names(n, "allow");
	s->syscalls_deny = read_names(n, "deny");
}

static void read_env(struct reader *rd, xmlNodePtr n, struct service *s)
{
	if (s->n_env >= 256) {
		bad(rd, n, "more than %d variables", 256);
		return;
	}
	s->env = xrealloc(s->env, (s->n_env + 1) * sizeof(*s->env));
	s->env[s->n_env].name = attr_req(rd, n, "name");
	s->env[s->n_env].value = attr_req(rd, n, "value");
	s->n_env++;
	for (size_t i = 0; !rd->failed && i + 1 < s->n_env; i++)
		if (!strcmp(s->env[i].name, s->env[s->n_env - 1].name))
			bad(rd, n, "\"%s\" is set twice", s->env[i].name);
}

static void read_service_children(struct reader *rd, xmlNodePtr svc,
				  struct service *s)
{
	unsigned seen = 0;

	for (xmlNodePtr n = svc->children; n && !rd->failed; n = n->next) {
		if ((is(n, "exec") && !once(rd, n, &seen, ONCE_EXEC)) ||
		    (is(n, "limits") && !once(rd, n, &seen, ONCE_LIMITS)) ||
		    (is(n, "syscalls") && !once(rd, n, &seen, ONCE_SYSCALLS)))
			return;
		if (is(n, "exec")) {
			xmlChar *t = xmlNodeGetContent(n);

			free(s->exec);
			s->exec = xstrdup(t ? (const char *)t : "");
			xmlFree(t);
		} else if (is(n, "env")) {
			read_env(rd, n, s);
		} else if (is(n, "limits")) {
			read_limits(rd, n, &s->limits);
		} else if (is(n, "syscalls")) {
			read_syscalls(rd, n, s);
		}
	}
}

static void read_service(struct reader *rd, xmlNodePtr n, struct service *s)
{
	s->present = 1;
	s->user = attr_req(rd, n, "user");
	s->uid = (uint32_t)attr_num(rd, n, "uid", SPEC_MAX_ID);
	s->gid = (uint32_t)attr_num(rd, n, "gid", SPEC_MAX_ID);
	if (!rd->failed && s->uid == 0)
		bad(rd, n, "the service user %s is root", s->user);
	READ_ENUM(rd, n, "recycle", recycle_parse, RECYCLE_CONNECTION, &s->recycle);
	READ_ENUM(rd, n, "network", network_parse, NETWORK_NONE, &s->network);
	read_families(rd, n, s);
	s->listen = attr(n, "listen");
	s->workdir = attr(n, "workdir");
	s->stderr_path = attr(n, "stderr");
	s->idle = attr_num(rd, n, "idle", UINT32_MAX);
	s->period = attr_num(rd, n, "period", UINT32_MAX);
	s->grace = attr_num(rd, n, "grace", UINT32_MAX);
	s->stop_signal = (int)attr_num(rd, n, "stop-signal", 64);
	if (!s->stop_signal)
		s->stop_signal = SIGTERM;
	else if (s->stop_signal == SIGKILL || s->stop_signal == SIGSTOP)
		bad(rd, n, "stop-signal %d cannot be caught", s->stop_signal);
	s->max_instances = attr_num(rd, n, "max-instances", 1u << 20);
	s->per_client = attr_num(rd, n, "per-client", 1u << 20);
	s->pool = attr_num(rd, n, "pool", 1024);
	read_service_children(rd, n, s);
	if (!rd->failed && !s->exec)
		bad(rd, n, "missing exec");
}

static void read_writable(struct reader *rd, xmlNodePtr n, struct manifest *m)
{
	struct writable *w;
	char *kind;

	if (m->n_writables >= MANIFEST_MAX_WRITABLES) {
		bad(rd, n, "more than %d writable areas", MANIFEST_MAX_WRITABLES);
		return;
	}
	m->writables = xrealloc(m->writables,
				(m->n_writables + 1) * sizeof(*m->writables));
	w = &m->writables[m->n_writables++];
	memset(w, 0, sizeof(*w));
	w->path = attr_req(rd, n, "path");
	kind = attr_req(rd, n, "kind");
	if (kind && writable_kind_parse(kind, &w->kind) < 0)
		bad(rd, n, "kind=\"%s\": unknown value", kind);
	w->size = attr_num(rd, n, "size", SPEC_MAX_AREA);
	w->uid = (uint32_t)attr_num(rd, n, "uid", SPEC_MAX_ID);
	w->gid = (uint32_t)attr_num(rd, n, "gid", SPEC_MAX_ID);
	w->mode = attr_mode(rd, n);
	if (!rd->failed && (!path_is_clean(w->path) || !strcmp(w->path, "/")))
		bad(rd, n, "path \"%s\" is not a clean absolute path", w->path);
	for (size_t i = 0; !rd->failed && i + 1 < m->n_writables; i++)
		if (!strcmp(m->writables[i].path, w->path))
			bad(rd, n, "area \"%s\" is listed twice", w->path);
	free(kind);
}

static void read_user(struct reader *rd, xmlNodePtr n, struct manifest *m)
{
	struct user *u;

	if (m->n_users >= SPEC_MAX_USERS) {
		bad(rd, n, "more than %d users", SPEC_MAX_USERS);
		return;
	}
	m->users = xrealloc(m->users, (m->n_users + 1) * sizeof(*m->users));
	u = &m->users[m->n_users++];
	memset(u, 0, sizeof(*u));
	u->name = attr_req(rd, n, "name");
	u->uid = (uint32_t)attr_num(rd, n, "uid", SPEC_MAX_ID);
	u->gid = (uint32_t)attr_num(rd, n, "gid", SPEC_MAX_ID);
	u->home = attr(n, "home");
	for (size_t i = 0; !rd->failed && i + 1 < m->n_users; i++)
		if (!strcmp(m->users[i].name, u->name))
			bad(rd, n, "user \"%s\" is listed twice", u->name);
}

static void read_output(struct reader *rd, xmlNodePtr n, struct manifest *m)
{
	struct manifest_output *o;
	char *format, *digest;

	if (m->n_outputs >= MANIFEST_MAX_OUTPUTS) {
		bad(rd, n, "more than %d outputs", MANIFEST_MAX_OUTPUTS);
		return;
	}
	o = &m->outputs[m->n_outputs++];
	format = attr_req(rd, n, "format");
	o->format = format ? format_parse(format) : 0;
	o->file = attr_req(rd, n, "file");
	o->size = attr_num(rd, n, "size", UINT64_MAX);
	digest = attr(n, "sha256");
	if (digest && is_digest(digest))
		memcpy(o->digest, digest, DIGEST_HEX);
	if (!rd->failed && (!o->format || !o->file || strchr(o->file, '/') ||
			    o->file[0] == '.'))
		bad(rd, n, "output \"%s\" is not a file name beside the manifest",
		    o->file ? o->file : "");
	for (size_t i = 0; !rd->failed && i + 1 < m->n_outputs; i++)
		if (m->outputs[i].format == o->format)
			bad(rd, n, "format \"%s\" is listed twice", format);
	free(format);
	free(digest);
}

/* Bounds as the recipe's (VM_MEM_MIN..., VCPUS_MAX in recipe.c). */
#define MANIFEST_VM_MEMORY_MAX (1ull << 40)
#define MANIFEST_VM_VCPUS_MAX 256

static int version_ok(const char *s)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.+_-~", s[n]))
			return 0;
	return n > 0 && n < 256;
}

static void read_vm(struct reader *rd, xmlNodePtr n, struct manifest *m)
{
	m->has_vm = 1;
	m->vm.memory = attr_num(rd, n, "memory", MANIFEST_VM_MEMORY_MAX);
	m->vm.vcpus = attr_num(rd, n, "vcpus", MANIFEST_VM_VCPUS_MAX);
	m->kernel_version = attr_req(rd, n, "kernel-version");
	if (!rd->failed && (!m->vm.memory || !m->vm.vcpus))
		bad(rd, n, "memory and vcpus must be set");
	if (!rd->failed && !version_ok(m->kernel_version))
		bad(rd, n, "kernel-version \"%s\" is not a kernel version",
		    m->kernel_version);
}

static void read_child(struct reader *rd, xmlNodePtr n, struct manifest *m,
		       unsigned *seen)
{
	if ((is(n, "files") && !once(rd, n, seen, ONCE_FILES)) ||
	    (is(n, "service") && !once(rd, n, seen, ONCE_SERVICE)) ||
	    (is(n, "logs") && !once(rd, n, seen, ONCE_LOGS)) ||
	    (is(n, "vm") && !once(rd, n, seen, ONCE_VM)))
		return;
	if (is(n, "files"))
		read_files(rd, n, &m->files);
	else if (is(n, "service"))
		read_service(rd, n, &m->service);
	else if (is(n, "writable"))
		read_writable(rd, n, m);
	else if (is(n, "user"))
		read_user(rd, n, m);
	else if (is(n, "output"))
		read_output(rd, n, m);
	else if (is(n, "vm"))
		read_vm(rd, n, m);
	else if (is(n, "logs"))
		m->logs_file = attr(n, "file");
}

static void read_root(struct reader *rd, xmlNodePtr root, struct manifest *m)
{
	char *format = attr(root, "format");
	uint64_t epoch;
	unsigned seen = 0;

	if (!is(root, "manifest"))
		bad(rd, root, "not a manifest (root element is %s)",
		    (const char *)root->name);
	else if (!format || strcmp(format, MANIFEST_FORMAT))
		bad(rd, root, "unsupported manifest format \"%s\"",
		    format ? format : "");
	free(format);
	if (rd->failed)
		return;
	m->name = attr_req(rd, root, "name");
	m->version = attr(root, "version");
	m->build_id = attr(root, "build-id");
	m->recipe_digest = attr(root, "recipe-sha256");
	m->built = attr(root, "built");
	epoch = attr_num(rd, root, "epoch", INT64_MAX);
	m->epoch = (int64_t)epoch;
	m->files.epoch = m->epoch;
	for (xmlNodePtr n = root->children; n && !rd->failed; n = n->next)
		read_child(rd, n, m, &seen);
	contents_sort(&m->files);
	if (!rd->failed && m->service.stderr_path &&
	    !writable_holding(m->writables, m->n_writables, m->service.stderr_path))
		bad(rd, root, "service stderr \"%s\" is in no log or state area",
		    m->service.stderr_path);
}

struct manifest *manifest_parse(const char *data, size_t len, const char *name,
				struct error *e)
{
	struct reader rd = { .name = name, .e = e };
	struct manifest *m;
	xmlDocPtr doc;

	if (len > MANIFEST_MAX_BYTES || len > INT32_MAX) {
		error_bad(e, "%s: larger than %u bytes", name, MANIFEST_MAX_BYTES);
		return NULL;
	}
	/* No entities, no DTD, no network: a manifest is plain data. */
	doc = xmlReadMemory(data, (int)len, name, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !xmlDocGetRootElement(doc) || doc->intSubset) {
		const xmlError *xe = xmlGetLastError();

		error_bad(e, "%s:%d: not a well-formed manifest%s%s", name,
			  xe ? xe->line : 0, xe && xe->message ? ": " : "",
			  xe && xe->message ? xe->message : "");
		e->msg[strcspn(e->msg, "\n")] = '\0';
		xmlFreeDoc(doc);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	read_root(&rd, xmlDocGetRootElement(doc), m);
	xmlFreeDoc(doc);
	if (rd.failed) {
		manifest_free(m);
		return NULL;
	}
	return m;
}

struct manifest *manifest_load(const char *path, struct error *e)
{
	char *data;
	size_t len;
	struct manifest *m;

	if (read_file(path, MANIFEST_MAX_BYTES, &data, &len, e) < 0)
		return NULL;
	m = manifest_parse(data, len, path, e);
	free(data);
	return m;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->version);
	free(m->build_id);
	free(m->recipe_digest);
	free(m->built);
	contents_free(&m->files);
	for (size_t i = 0; i < m->n_writables; i++)
		free(m->writables[i].path);
	free(m->writables);
	for (size_t i = 0; i < m->n_users; i++) {
		free(m->users[i].name);
		free(m->users[i].home);
	}
	free(m->users);
	for (size_t i = 0; i < m->n_outputs; i++)
		free(m->outputs[i].file);
	free(m->logs_file);
	free(m->kernel_version);
	service_free(&m->service);
	free(m);
}

const struct manifest_output *manifest_output_find(const struct manifest *m,
						   unsigned format)
{
	for (size_t i = 0; i < m->n_outputs; i++)
		if (m->outputs[i].format == format)
			return &m->outputs[i];
	return NULL;
}

/* ---- comparing -------------------------------------------------------- */

static int str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static char *diff_msg(const char *what, const char *field, const char *out,
		      const char *in)
{
	return xasprintf("%s from the image's own manifest: %s %s%s%s "
			 "(the image's: %s%s%s)", what, field,
			 out ? "\"" : "", out ? out : "none", out ? "\"" : "",
			 in ? "\"" : "", in ? in : "none", in ? "\"" : "");
}

static char *diff_num(const char *what, const char *field, uint64_t out,
		      uint64_t in)
{
	return xasprintf("%s from the image's own manifest: %s %" PRIu64
			 " (the image's: %" PRIu64 ")", what, field, out, in);
}

#define SVC "the service differs"
#define CMP_STR(what, field, a, b) \
	do { if (!str_eq(a, b)) return diff_msg(what, field, a, b); } while (0)
#define CMP_NUM(what, field, a, b) \
	do { if ((uint64_t)(a) != (uint64_t)(b)) \
		return diff_num(what, field, (uint64_t)(a), (uint64_t)(b)); } while (0)

static char *names_diff(const char *field, char **a, char **b)
{
	size_t i = 0;

	for (; a && b && a[i] && b[i]; i++)
		CMP_STR(SVC, field, a[i], b[i]);
	if ((a && a[i]) || (b && b[i]))
		return diff_msg(SVC, field, a ? a[i] : NULL, b ? b[i] : NULL);
	return NULL;
}

static char *limits_diff(const struct limits *a, const struct limits *b)
{
	CMP_NUM(SVC, "limits memory", a->memory, b->memory);
	CMP_NUM(SVC, "limits pids", a->pids, b->pids);
	CMP_NUM(SVC, "limits nofile", a->nofile, b->nofile);
	CMP_NUM(SVC, "limits wall", a->wall, b->wall);
	CMP_NUM(SVC, "limits cpu", a->cpu, b->cpu);
	CMP_NUM(SVC, "limits fsize", a->fsize, b->fsize);
	return NULL;
}

static char *service_diff(const struct service *a, const struct service *b)
{
	char *d;

	CMP_NUM(SVC, "presence", a->present, b->present);
	CMP_STR(SVC, "exec", a->exec, b->exec);
	CMP_STR(SVC, "user", a->user, b->user);
	CMP_NUM(SVC, "uid", a->uid, b->uid);
	CMP_NUM(SVC, "gid", a->gid, b->gid);
	CMP_STR(SVC, "recycle", recycle_name(a->recycle), recycle_name(b->recycle));
	CMP_STR(SVC, "listen", a->listen, b->listen);
	CMP_NUM(SVC, "idle", a->idle, b->idle);
	CMP_NUM(SVC, "period", a->period, b->period);
	CMP_NUM(SVC, "grace", a->grace, b->grace);
	CMP_NUM(SVC, "stop-signal", a->stop_signal, b->stop_signal);
	CMP_STR(SVC, "workdir", a->workdir, b->workdir);
	CMP_STR(SVC, "stderr", a->stderr_path, b->stderr_path);
	CMP_NUM(SVC, "env count", a->n_env, b->n_env);
	for (size_t i = 0; i < a->n_env; i++) {
		CMP_STR(SVC, "env name", a->env[i].name, b->env[i].name);
		CMP_STR(SVC, "env value", a->env[i].value, b->env[i].value);
	}
	if ((d = limits_diff(&a->limits, &b->limits)))
		return d;
	CMP_NUM(SVC, "max-instances", a->max_instances, b->max_instances);
	CMP_NUM(SVC, "per-client", a->per_client, b->per_client);
	CMP_NUM(SVC, "pool", a->pool, b->pool);
	CMP_STR(SVC, "network", network_name(a->network), network_name(b->network));
	CMP_NUM(SVC, "socket families", a->socket_families, b->socket_families);
	CMP_NUM(SVC, "syscalls", a->has_syscalls, b->has_syscalls);
	CMP_STR(SVC, "syscalls default", syscall_action_name(a->syscall_default),
		syscall_action_name(b->syscall_default));
	CMP_NUM(SVC, "syscalls errno", a->syscall_errno, b->syscall_errno);
	if ((d = names_diff("syscalls allow", a->syscalls_allow, b->syscalls_allow)))
		return d;
	return names_diff("syscalls deny", a->syscalls_deny, b->syscalls_deny);
}

#define USERS "the users differ"
#define AREAS "the writable areas differ"

char *manifest_spec_diff(const struct manifest *outside,
			 const struct manifest *inside)
{
	const struct manifest *a = outside, *b = inside;
	char *d;

	CMP_STR("the name differs", "name", a->name, b->name);
	if ((d = service_diff(&a->service, &b->service)))
		return d;
	CMP_NUM(USERS, "count", a->n_users, b->n_users);
	for (size_t i = 0; i < a->n_users; i++) {
		const struct user *x = &a->users[i], *y = &b->users[i];

		CMP_STR(USERS, "name", x->name, y->name);
		CMP_NUM(USERS, "uid", x->uid, y->uid);
		CMP_NUM(USERS, "gid", x->gid, y->gid);
		CMP_STR(USERS, "home", x->home, y->home);
	}
	CMP_NUM(AREAS, "count", a->n_writables, b->n_writables);
	for (size_t i = 0; i < a->n_writables; i++) {
		const struct writable *x = &a->writables[i], *y = &b->writables[i];

		CMP_STR(AREAS, "path", x->path, y->path);
		CMP_STR(AREAS, "kind", writable_kind_name(x->kind),
			writable_kind_name(y->kind));
		CMP_NUM(AREAS, "size", x->size, y->size);
		CMP_NUM(AREAS, "uid", x->uid, y->uid);
		CMP_NUM(AREAS, "gid", x->gid, y->gid);
		CMP_NUM(AREAS, "mode", x->mode, y->mode);
	}
	return NULL;
}

/* The home of the manifest's user name, as the guest spec renders it. */
static const char *user_home(const struct manifest *m, const char *name)
{
	for (size_t i = 0; name && i < m->n_users; i++)
		if (!strcmp(m->users[i].name, name))
			return m->users[i].home ? m->users[i].home : "/";
	return "/";
}

char *manifest_guestspec_diff(const struct manifest *outside,
			      const struct guest_spec *gs)
{
	const struct service *a = &outside->service, *b = &gs->service;
	char *d;

	CMP_STR("the name differs", "name", outside->name, gs->hostname);
	CMP_STR(SVC, "exec", a->exec ? a->exec : "", b->exec);
	CMP_STR(SVC, "user", a->user, b->user);
	CMP_NUM(SVC, "uid", a->uid, b->uid);
	CMP_NUM(SVC, "gid", a->gid, b->gid);
	CMP_STR(SVC, "home", user_home(outside, a->user), gs->home);
	CMP_STR(SVC, "recycle", recycle_name(a->recycle), recycle_name(b->recycle));
	CMP_STR(SVC, "workdir", a->workdir, b->workdir);
	CMP_STR(SVC, "stderr", a->stderr_path, b->stderr_path);
	CMP_NUM(SVC, "env count", a->n_env, b->n_env);
	for (size_t i = 0; i < a->n_env; i++) {
		CMP_STR(SVC, "env name", a->env[i].name, b->env[i].name);
		CMP_STR(SVC, "env value", a->env[i].value, b->env[i].value);
	}
	if ((d = limits_diff(&a->limits, &b->limits)))
		return d;
	CMP_STR(SVC, "network", network_name(a->network), network_name(b->network));
	CMP_NUM(AREAS, "count", outside->n_writables, gs->n_areas);
	for (size_t i = 0; i < gs->n_areas; i++) {
		const struct writable *x = &outside->writables[i], *y = &gs->areas[i];

		CMP_STR(AREAS, "path", x->path, y->path);
		CMP_STR(AREAS, "kind", writable_kind_name(x->kind),
			writable_kind_name(y->kind));
		CMP_NUM(AREAS, "size", x->size, y->size);
		CMP_NUM(AREAS, "uid", x->uid, y->uid);
		CMP_NUM(AREAS, "gid", x->gid, y->gid);
		CMP_NUM(AREAS, "mode", x->mode & 07777, y->mode & 07777);
	}
	return NULL;
}
