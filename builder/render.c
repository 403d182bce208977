/*
 * render.c - the recipe rendered for those who run it: the manifests (in
 * the image and beside it, libxml2's xmlTextWriter) and the guest spec of
 * a VM's initramfs (runtime/guestspec.h). See render.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <libxml/xmlwriter.h>

#include "guestspec.h"
#include "launch.h"
#include "manifest.h"
#include "render.h"

/* ---- writing ---------------------------------------------------------- */

struct writer {
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
};

static void w_start(struct writer *wr, const char *name)
{
	xmlTextWriterStartElement(wr->w, BAD_CAST name);
}

static void w_end(struct writer *wr)
{
	xmlTextWriterEndElement(wr->w);
}

static void w_attr(struct writer *wr, const char *name, const char *value)
{
	if (value)
		xmlTextWriterWriteAttribute(wr->w, BAD_CAST name, BAD_CAST value);
}

static void w_num(struct writer *wr, const char *name, uint64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	w_attr(wr, name, s);
}

/* Numbers that are 0 mean "unset" in a recipe and are left out. */
static void w_num_set(struct writer *wr, const char *name, uint64_t v)
{
	if (v)
		w_num(wr, name, v);
}

static void w_mode(struct writer *wr, mode_t mode)
{
	char s[16];

	snprintf(s, sizeof(s), "%04o", (unsigned)(mode & 07777));
	w_attr(wr, "mode", s);
}

static void write_names(struct writer *wr, const char *elem, char **names)
{
	for (char **n = names; n && *n; n++) {
		w_start(wr, elem);
		w_attr(wr, "name", *n);
		w_end(wr);
	}
}

static void write_service(struct writer *wr, const struct service *s)
{
	const struct limits *l = &s->limits;

	if (!s->present)
		return;
	w_start(wr, "service");
	w_attr(wr, "user", s->user);
	w_num(wr, "uid", s->uid);
	w_num(wr, "gid", s->gid);
	w_attr(wr, "recycle", recycle_name(s->recycle));
	w_attr(wr, "listen", s->listen);
	w_num(wr, "idle", s->idle);
	w_num(wr, "period", s->period);
	w_num(wr, "grace", s->grace);
	w_num(wr, "stop-signal", (uint64_t)s->stop_signal);
	w_attr(wr, "workdir", s->workdir);
	w_attr(wr, "stderr", s->stderr_path);
	w_attr(wr, "network", network_name(s->network));
	if (s->socket_families) {
		char *f = socket_families_format(s->socket_families);

		w_attr(wr, "families", f);
		free(f);
	}
	w_num(wr, "max-instances", s->max_instances);
	w_num(wr, "per-client", s->per_client);
	w_num(wr, "pool", s->pool);
	xmlTextWriterWriteElement(wr->w, BAD_CAST "exec", BAD_CAST s->exec);
	for (size_t i = 0; i < s->n_env; i++) {
		w_start(wr, "env");
		w_attr(wr, "name", s->env[i].name);
		w_attr(wr, "value", s->env[i].value);
		w_end(wr);
	}
	w_start(wr, "limits");
	w_num_set(wr, "memory", l->memory);
	w_num_set(wr, "pids", l->pids);
	w_num_set(wr, "nofile", l->nofile);
	w_num_set(wr, "wall", l->wall);
	w_num_set(wr, "cpu", l->cpu);
	w_num_set(wr, "fsize", l->fsize);
	w_end(wr);
	if (s->has_syscalls) {
		w_start(wr, "syscalls");
		w_attr(wr, "default", syscall_action_name(s->syscall_default));
		w_num(wr, "errno", (uint64_t)s->syscall_errno);
		write_names(wr, "allow", s->syscalls_allow);
		write_names(wr, "deny", s->syscalls_deny);
		w_end(wr);
	}
	w_end(wr);
}

static void write_accounts(struct writer *wr, const struct recipe *r)
{
	for (size_t i = 0; i < r->n_users; i++) {
		w_start(wr, "user");
		w_attr(wr, "name", r->users[i].name);
		w_num(wr, "uid", r->users[i].uid);
		w_num(wr, "gid", r->users[i].gid);
		w_attr(wr, "home", r->users[i].home);
		w_end(wr);
	}
	for (size_t i = 0; i < r->n_writables; i++) {
		const struct writable *wa = &r->writables[i];

		w_start(wr, "writable");
		w_attr(wr, "path", wa->path);
		w_attr(wr, "kind", writable_kind_name(wa->kind));
		w_num(wr, "size", wa->size);
		w_num(wr, "uid", wa->uid);
		w_num(wr, "gid", wa->gid);
		w_mode(wr, wa->mode);
		w_end(wr);
	}
}

/* The manifest describes itself nowhere: a file cannot hold its own digest. */
static int is_manifest_path(const char *path)
{
	return !strcmp(path, MANIFEST_IMAGE_PATH) ||
	       !strcmp(path, MANIFEST_IMAGE_DIR);
}

static void write_entry(struct writer *wr, const struct entry *en)
{
	w_start(wr, S_ISDIR(en->mode) ? "dir" : S_ISLNK(en->mode) ? "symlink" : "file");
	w_attr(wr, "path", en->path);
	if (!S_ISLNK(en->mode))
		w_mode(wr, en->mode);
	w_num(wr, "uid", en->uid);
	w_num(wr, "gid", en->gid);
	if (S_ISREG(en->mode)) {
		w_num(wr, "size", en->len);
		w_attr(wr, "sha256", en->digest);
	}
	w_attr(wr, "target", en->target);
	w_end(wr);
}

static void write_files(struct writer *wr, const struct contents *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		n += !is_manifest_path(c->v[i].path);
	w_start(wr, "files");
	w_num(wr, "count", n);
	w_num(wr, "bytes", c->bytes);
	for (size_t i = 0; i < c->n; i++)
		if (!is_manifest_path(c->v[i].path))
			write_entry(wr, &c->v[i]);
	w_end(wr);
}

static void writer_open(struct writer *wr)
{
	wr->buf = xmlBufferCreate();
	wr->w = xmlNewTextWriterMemory(wr->buf, 0);
	if (!wr->buf || !wr->w) {
		fputs("imgtool: out of memory\n", stderr);
		exit(1);
	}
	xmlTextWriterSetIndent(wr->w, 1);
	xmlTextWriterSetIndentString(wr->w, BAD_CAST "  ");
	xmlTextWriterStartDocument(wr->w, NULL, "UTF-8", NULL);
}

static void writer_close(struct writer *wr, struct buf *out)
{
	xmlTextWriterEndDocument(wr->w);
	xmlFreeTextWriter(wr->w);
	buf_add(out, xmlBufferContent(wr->buf), (size_t)xmlBufferLength(wr->buf));
	xmlBufferFree(wr->buf);
}

static void write_head(struct writer *wr, const struct recipe *r,
		       const struct contents *c)
{
	char digest[DIGEST_HEX];

	w_start(wr, "manifest");
	w_attr(wr, "format", MANIFEST_FORMAT);
	w_attr(wr, "name", r->name);
	w_attr(wr, "version", r->version);
	w_num(wr, "epoch", (uint64_t)c->epoch);
	sha256_hex(r->canonical, r->canonical_len, digest);
	w_attr(wr, "recipe-sha256", digest);
}

static void write_body(struct writer *wr, const struct recipe *r,
		       const struct contents *c)
{
	write_service(wr, &r->service);
	write_accounts(wr, r);
	write_files(wr, c);
}

void manifest_render_image(const struct recipe *r, const struct contents *c,
			   struct buf *out)
{
	struct writer wr;

	writer_open(&wr);
	write_head(&wr, r, c);
	write_body(&wr, r, c);
	w_end(&wr);
	writer_close(&wr, out);
}

static void write_outputs(struct writer *wr, const struct manifest_output *outs,
			  size_t n, const char *logs_file)
{
	for (size_t i = 0; i < n; i++) {
		w_start(wr, "output");
		w_attr(wr, "format", format_name(outs[i].format));
		w_attr(wr, "file", outs[i].file);
		w_num(wr, "size", outs[i].size);
		w_attr(wr, "sha256", outs[i].digest[0] ? outs[i].digest : NULL);
		w_end(wr);
	}
	if (logs_file) {
		w_start(wr, "logs");
		w_attr(wr, "file", logs_file);
		w_end(wr);
	}
}

/* What the supervisor needs to make a domain, besides the output files. */
static void write_vm(struct writer *wr, const struct vm_spec *vm,
		     const char *kernel_version)
{
	w_start(wr, "vm");
	w_num(wr, "memory", vm->memory);
	w_num(wr, "vcpus", vm->vcpus);
	w_attr(wr, "kernel-version", kernel_version);
	w_end(wr);
}

void manifest_render_outside(const struct recipe *r, const struct contents *c,
			     const char *build_id,
			     const struct manifest_output *outs, size_t n_outs,
			     const char *logs_file, const char *kernel_version,
			     struct buf *out)
{
	struct writer wr;
	char built[64];
	time_t now = time(NULL);
	struct tm tm;

	strftime(built, sizeof(built), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	writer_open(&wr);
	write_head(&wr, r, c);
	w_attr(&wr, "build-id", build_id);
	w_attr(&wr, "built", built);
	write_outputs(&wr, outs, n_outs, logs_file);
	if (kernel_version)
		write_vm(&wr, &r->vm, kernel_version);
	write_body(&wr, r, c);
	w_end(&wr);
	writer_close(&wr, out);
}


/* ---- the guest spec ---------------------------------------------------- */

/* Writes "KEY value\n" with backslash and newline escaped. */
static void put_escaped(struct buf *out, const char *key, const char *value)
{
	buf_puts(out, key);
	buf_puts(out, " ");
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			buf_puts(out, "\\\\");
		else if (*p == '\n')
			buf_puts(out, "\\n");
		else
			buf_add(out, p, 1);
	}
	buf_puts(out, "\n");
}

int guestspec_render(const struct recipe *r, struct buf *out, struct error *e)
{
	const struct service *s = &r->service;
	const struct user *u = recipe_user(r, s->user);
	const struct limits *l = &s->limits;
	struct launch plan;

	if (!s->present)
		return error_bad(e, "%s: a VM image needs a <service>", r->path);
	/* Interval recycling hands the instance a listening socket: a VM has
	 * no network device to listen on. */
	if (s->recycle != RECYCLE_CONNECTION && s->recycle != RECYCLE_SESSION)
		return error_bad(e, "%s:%d: service: recycle=\"%s\" is not "
				 "possible in a VM (connection or session)",
				 s->at.file, s->at.line, recycle_name(s->recycle));
	if (s->uid == 0 || s->gid == 0)
		return error_bad(e, "%s:%d: service: never runs as root",
				 s->at.file, s->at.line);
	/* What the guest init will make of it, checked here already. */
	if (launch_plan(&plan, s, r->writables, r->n_writables,
			u ? u->home : NULL, NULL, NULL, e) < 0)
		return -1;
	launch_free(&plan);
	buf_printf(out, "%s\nhostname %s\nuser %s\nuid %u\ngid %u\n",
		   GUESTSPEC_MAGIC, r->name, s->user, (unsigned)s->uid,
		   (unsigned)s->gid);
	put_escaped(out, "home", u && u->home ? u->home : "/");
	put_escaped(out, "exec", s->exec ? s->exec : "");
	for (size_t i = 0; i < s->n_env; i++) {
		char *v = xasprintf("%s=%s", s->env[i].name, s->env[i].value);

		put_escaped(out, "env", v);
		free(v);
	}
	if (s->workdir)
		put_escaped(out, "workdir", s->workdir);
	if (s->stderr_path)
		put_escaped(out, "stderr", s->stderr_path);
	buf_printf(out, "recycle %s\nnetwork %s\n", recycle_name(s->recycle),
		   network_name(s->network));
	buf_printf(out, "limit memory %" PRIu64 "\nlimit pids %" PRIu64 "\n"
		   "limit nofile %" PRIu64 "\nlimit wall %" PRIu64 "\n"
		   "limit cpu %" PRIu64 "\nlimit fsize %" PRIu64 "\n",
		   l->memory, l->pids, l->nofile, l->wall, l->cpu, l->fsize);
	for (size_t i = 0; i < r->n_writables; i++) {
		const struct writable *w = &r->writables[i];
		char *head = xasprintf("area %s %" PRIu64 " %u %u %04o",
				       writable_kind_name(w->kind), w->size,
				       (unsigned)w->uid, (unsigned)w->gid,
				       (unsigned)(w->mode & 07777));

		put_escaped(out, head, w->path);
		free(head);
	}
	buf_puts(out, "end\n");
	return 0;
}
