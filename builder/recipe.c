/*
 * recipe.c - loading and checking a recipe.
 *
 * A recipe is untrusted input, and it goes through these steps, each of
 * which stops at the first problem with one "FILE:LINE: ELEMENT: message":
 *
 *   1. read: the file, at most RECIPE_MAX_BYTES, parsed from memory by
 *      libxml2 with no network, no DTD and no entity loading. A document
 *      type declaration is refused as soon as the parser sees it, before any
 *      entity in it is read, which defeats XXE and billion-laughs documents;
 *   2. include: our own XInclude (href, parse="xml" or "text"; local files
 *      only, no xpointer, no fallback), so that every element keeps the file
 *      and line it was written at, and every file read is listed in inputs;
 *   3. lint: elements, attributes, enumerated values, and how often each
 *      element may appear, from a table generated from the schema at build
 *      time (tools/rnglang), for the sake of messages that name what is
 *      wrong;
 *   4. schema: the RELAX NG schema, the contract, checks the structure;
 *   5. build: struct recipe is filled in, and every value is parsed
 *      (names, paths, sizes, durations, modes, ids, addresses); a value
 *      left out is the schema's default (RNG_DEFAULT_*, generated from its
 *      a:defaultValue annotations), parsed like one written;
 *   6. check: what spans elements: two items claiming one path, items under
 *      a symbolic link or inside a writable area, overlapping areas, owners,
 *      group members;
 *   7. canonical: the recipe after inclusion, as canonical XML without
 *      comments or indentation, for the digests of the build cache.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/c14n.h>
#include <libxml/globals.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlerror.h>

#include "contents.h"
#include "recipe.h"
#include "recipe_lang.h"
#include "seccomp.h"
#include "recipe_lang.gen.h"

#ifndef IMGTOOL_DATADIR
#define IMGTOOL_DATADIR "/usr/local/share/imgtool"
#endif

#define XINCLUDE_NS	"http://www.w3.org/2001/XInclude"
#define XML_NS		"http://www.w3.org/XML/1998/namespace"

/*
 * No network, no DTD loading, no entity substitution (those are libxml2's
 * defaults; XML_PARSE_NOENT and XML_PARSE_DTDLOAD stay off), no string
 * dictionary (every node owns its strings, simpler when included nodes are
 * copied between documents), CDATA as plain text, and line numbers past
 * 65535.
 */
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NODICT | \
		       XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

/* Bounds on values; beyond them a value is a mistake, not a wish. */
#define DURATION_MAX	(366ull * 86400)
#define GRACE_MAX	3600ull
#define IDLE_MAX	(7ull * 86400)
#define LIMIT_MEM_MIN	(1ull << 20)
#define BYTES_MAX	(1ull << 40)
#define PIDS_MAX	65536ull
#define NOFILE_MAX	1048576ull
#define INSTANCES_MAX	65536ull
#define VM_MEM_MIN	(32ull << 20)
#define VCPUS_MAX	256ull
#define AREA_MIN	(64ull << 10)
#define EXEC_MAX	4096
#define ERRNO_MAX	4095ull

/* The recipe or an included file. */
struct src_file {
	const char *path;	/* as shown in messages; owned by r->inputs */
	dev_t dev;
	ino_t ino;
	int depth;		/* 0 for the recipe */
	struct src_file *parent;/* the file that includes this one */
	struct src_file *next;	/* every one of them, for freeing */
};

/* Something that takes a path in the image, for the overlap checks. */
enum claim_kind { CLAIM_LEAF, CLAIM_SYMLINK, CLAIM_DIR, CLAIM_WRITABLE };

struct claim {
	const char *path;
	const char *what;	/* element name */
	enum claim_kind kind;
	struct origin at;
};

struct load {
	struct recipe *r;
	struct error *e;
	int failed;
	int rng_generic;	/* the error kept is a vague schema one */
	xmlDocPtr doc;
	struct src_file *files;	/* every file read, the latest first */
	struct src_file *main;	/* the recipe itself */
	struct src_file *parsing;/* for messages of the parser */
	int n_includes;
	struct claim *claims;
	size_t n_claims;
};

/* libxml2's hooks take no argument of ours; one load runs per thread. */
static __thread struct load *current;

static int bad_at(struct load *L, const char *file, long line,
		  const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int bad(struct load *L, xmlNodePtr n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int is_xinclude(xmlNodePtr n);

/* ------------------------------------------------------------------ */
/* Messages                                                            */

/* A message is one line: libxml2's may span two, file names anything. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/*
 * Makes a library message fit ours: no trailing newline or full stop, and
 * a lowercase first letter unless the first word is an acronym ("XML").
 */
static void tidy_message(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' ||
			 s[n - 1] == '.' || s[n - 1] == '!'))
		s[--n] = '\0';
	one_line(s);
	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = (char)(s[0] - 'A' + 'a');
}

/* strerror() with a lowercase first letter, as our messages have. */
static const char *errno_text(int err, char *buf, size_t size)
{
	snprintf(buf, size, "%s", strerror(err));
	tidy_message(buf);
	return buf;
}

static const char *origin_file(const struct load *L, xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->parent;
	for (; n && n->type == XML_ELEMENT_NODE; n = n->parent)
		if (n->_private)
			return ((struct src_file *)n->_private)->path;
	return L->r->path;
}

static struct origin origin_of(const struct load *L, xmlNodePtr n)
{
	struct origin at = { origin_file(L, n), 0 };

	while (n && n->type != XML_ELEMENT_NODE)
		n = n->parent;
	if (n)
		at.line = (int)xmlGetLineNo(n);
	return at;
}

static void vbad_at(struct load *L, const char *file, long line,
		    const char *what, const char *fmt, va_list ap)
{
	char msg[ERROR_MAX];

	if (L->failed)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		error_bad(L->e, "%s:%ld: %s: %s", file, line, what, msg);
	else
		error_bad(L->e, "%s: %s: %s", file, what, msg);
	one_line(L->e->msg);
	L->failed = 1;
}

/* Fails with "FILE:LINE: WHAT: message"; only the first failure counts. */
static int bad_at(struct load *L, const char *file, long line,
		  const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vbad_at(L, file, line, what, fmt, ap);
	va_end(ap);
	return -1;
}

/* Fails at an element: its file, its line, its name (with a prefix). */
static int bad(struct load *L, xmlNodePtr n, const char *fmt, ...)
{
	struct origin at = origin_of(L, n);
	char name[128] = "recipe";
	va_list ap;

	while (n && n->type != XML_ELEMENT_NODE)
		n = n->parent;
	if (n && n->ns && n->ns->prefix && !is_xinclude(n))
		snprintf(name, sizeof(name), "%s:%s", n->ns->prefix, n->name);
	else if (n)
		snprintf(name, sizeof(name), "%s", n->name);
	va_start(ap, fmt);
	vbad_at(L, at.file, at.line, name, fmt, ap);
	va_end(ap);
	return -1;
}

/* A failure of the system rather than of the recipe: exit status 1. */
static int fail(struct load *L, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct load *L, const char *fmt, ...)
{
	char msg[ERROR_MAX];
	va_list ap;

	if (L->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(L->e, "%s", msg);
	L->failed = 1;
	return -1;
}

/* Quotes at most 32 bytes of untrusted text for a message. */
static const char *excerpt(const char *s, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; s[i] && o + 5 < size && i < 32; i++)
		buf[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
			   '?' : s[i];
	if (s[i] && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* ------------------------------------------------------------------ */
/* libxml2 hooks                                                       */

/* Translates the schema validator's terse messages into ours. */
static void rng_message(const xmlError *err, xmlNodePtr n, char *buf,
			size_t size, int *generic)
{
	const char *s1 = err->str1 ? err->str1 : "";
	const char *s2 = err->str2 ? err->str2 : "";
	const char *parent = n && n->parent && n->parent->type ==
		XML_ELEMENT_NODE ? (const char *)n->parent->name : "recipe";

	*generic = 0;
	switch (err->code) {
	case XML_RELAXNG_ERR_ELEMWRONG:
		snprintf(buf, size, "not allowed inside %s", parent);
		break;
	case XML_RELAXNG_ERR_ELEMNAME:
		snprintf(buf, size, "expected %s here", s1);
		break;
	case XML_RELAXNG_ERR_NOELEM:
		snprintf(buf, size, "missing %s", *s1 ? s1 : "an element");
		break;
	case XML_RELAXNG_ERR_EXTRACONTENT:
		if (n && !strcmp((const char *)n->name, s2))
			snprintf(buf, size, "not allowed inside %s", parent);
		else
			snprintf(buf, size, "unexpected %s", s2);
		break;
	case XML_RELAXNG_ERR_TEXTWRONG:
	case XML_RELAXNG_ERR_NOTELEM:
		snprintf(buf, size, "unexpected text");
		break;
	case XML_RELAXNG_ERR_INVALIDATTR:
		snprintf(buf, size, "invalid attribute \"%s\"", s1);
		break;
	default:
		snprintf(buf, size, "%s", err->message ? err->message : "");
		tidy_message(buf);
		*generic = 1;
	}
}

/*
 * The element a schema error is about: the validator sometimes reports the
 * parent of the element it names.
 */
static xmlNodePtr rng_node(const struct load *L, const xmlError *err)
{
	xmlNodePtr n = err->node;
	const char *name = err->code == XML_RELAXNG_ERR_ELEMNAME ||
		err->code == XML_RELAXNG_ERR_EXTRACONTENT ? err->str2 :
		err->code == XML_RELAXNG_ERR_ELEMWRONG ? err->str1 : NULL;

	while (n && n->type != XML_ELEMENT_NODE)
		n = n->parent;
	if (!n)
		return xmlDocGetRootElement(L->doc);
	if (!name || !strcmp((const char *)n->name, name))
		return n;
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    !strcmp((const char *)c->name, name))
			return c;
	return n;
}

/* A schema error: keeps the first, unless a vague one came first. */
static void rng_error(struct load *L, const xmlError *err)
{
	xmlNodePtr n = rng_node(L, err);
	char msg[ERROR_MAX];
	int generic;

	if (L->failed && !L->rng_generic)
		return;
	rng_message(err, n, msg, sizeof(msg), &generic);
	if (L->failed && generic)
		return;
	L->failed = 0;
	bad(L, n, "%s", msg);
	L->rng_generic = generic;
}

/* Every libxml2 error ends up here while a recipe is loaded. */
static void on_xml_error(void *data, xmlErrorPtr err)
{
	struct load *L = data;
	const char *file;
	char msg[ERROR_MAX];

	if (!L || !err || err->level < XML_ERR_ERROR)
		return;
	if (err->domain == XML_FROM_RELAXNGV) {
		rng_error(L, err);
		return;
	}
	snprintf(msg, sizeof(msg), "%s", err->message ? err->message : "error");
	tidy_message(msg);
	if (err->domain == XML_FROM_RELAXNGP) {
		fail(L, "%s:%d: schema: %s", err->file ? err->file : "schema",
		     err->line, msg);
		return;
	}
	file = err->file ? err->file :
		L->parsing ? L->parsing->path : L->r->path;
	bad_at(L, file, err->line, "xml", "%s", msg);
}

/* Libraries print warnings through this one; a load prints nothing. */
static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/*
 * Nothing in a recipe loads an external entity: no DTD, no entities, and
 * includes are read by us. Should libxml2 still try, it gets nothing.
 */
static xmlParserInputPtr refuse_entity(const char *url, const char *id,
				       xmlParserCtxtPtr ctxt)
{
	struct load *L = current;

	(void)id;
	if (L)
		bad_at(L, L->parsing ? L->parsing->path : L->r->path,
		       ctxt && ctxt->input ? ctxt->input->line : 0, "xml",
		       "external entity \"%s\" refused: recipes load none",
		       url ? url : "");
	return NULL;
}

/*
 * The parser calls this at "<!DOCTYPE name ...", before it reads the
 * internal subset. Stopping here means no entity declared in it is ever
 * parsed or expanded: no XXE, no billion laughs.
 */
static void refuse_doctype(void *ctx, const xmlChar *name,
			   const xmlChar *external_id, const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct load *L = current;

	(void)name;
	(void)external_id;
	(void)system_id;
	if (L)
		bad_at(L, L->parsing ? L->parsing->path : L->r->path,
		       ctxt->input ? ctxt->input->line : 0, "xml",
		       "a document type declaration (DOCTYPE) is not allowed: "
		       "recipes use no DTD and no entities");
	xmlStopParser(ctxt);
}

/*
 * libxml2 records the line where a start tag ends; messages are better with
 * the line where it begins. The tag is still in the input buffer (no '<'
 * can occur inside it), so count the newlines back to its '<'.
 */
static void start_element(void *ctx, const xmlChar *localname,
			  const xmlChar *prefix, const xmlChar *uri,
			  int nb_namespaces, const xmlChar **namespaces,
			  int nb_attributes, int nb_defaulted,
			  const xmlChar **attributes)
{
	xmlParserCtxtPtr ctxt = ctx;
	const xmlChar *p;
	int newlines = 0;

	xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces,
			      namespaces, nb_attributes, nb_defaulted,
			      attributes);
	if (!ctxt->node || !ctxt->input || !ctxt->input->cur ||
	    !ctxt->input->base)
		return;
	for (p = ctxt->input->cur; p > ctxt->input->base && p[-1] != '<'; p--)
		newlines += p[-1] == '\n';
	if (p > ctxt->input->base && ctxt->input->line - newlines > 0 &&
	    ctxt->input->line - newlines < 65535)
		ctxt->node->line = (unsigned short)(ctxt->input->line - newlines);
}

/* The hooks in force while a recipe is read; put back afterwards. */
struct hooks {
	xmlStructuredErrorFunc serror;
	void *serror_ctx;
	xmlGenericErrorFunc generic;
	void *generic_ctx;
};

static void hooks_install(struct hooks *h, struct load *L)
{
	h->serror = xmlStructuredError;
	h->serror_ctx = xmlStructuredErrorContext;
	h->generic = xmlGenericError;
	h->generic_ctx = xmlGenericErrorContext;
	xmlSetStructuredErrorFunc(L, on_xml_error);
	xmlSetGenericErrorFunc(NULL, quiet);
	current = L;
}

static void hooks_restore(const struct hooks *h)
{
	xmlSetStructuredErrorFunc(h->serror_ctx, h->serror);
	xmlSetGenericErrorFunc(h->generic_ctx, h->generic);
	current = NULL;
}

/* ------------------------------------------------------------------ */
/* Reading files                                                       */

enum { SLURP_TOO_BIG = -1, SLURP_NOT_FILE = -2 };

/*
 * Reads a regular file of at most max bytes. Returns 0, an errno value, or
 * SLURP_TOO_BIG or SLURP_NOT_FILE. O_NONBLOCK so that a FIFO cannot hang
 * us before fstat() says it is not a file.
 */
static int slurp(const char *path, size_t max, char **data, size_t *len,
		 struct stat *st)
{
	struct buf b = { 0 };
	char chunk[16384];
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	if (fstat(fd, st) < 0)
		ret = errno;
	else if (!S_ISREG(st->st_mode))
		ret = SLURP_NOT_FILE;
	else if ((uint64_t)st->st_size > max)
		ret = SLURP_TOO_BIG;
	while (ret == 0) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? errno : 0;
			break;
		}
		if (b.len + (size_t)n > max)
			ret = SLURP_TOO_BIG;
		else
			buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (ret) {
		buf_free(&b);
		return ret;
	}
	*data = b.data ? b.data : xcalloc(1, 1);
	*len = b.len;
	return 0;
}

static const char *slurp_text(int ret, size_t max, char *buf, size_t size)
{
	if (ret == SLURP_TOO_BIG)
		snprintf(buf, size, "larger than %zu bytes", max);
	else if (ret == SLURP_NOT_FILE)
		snprintf(buf, size, "not a regular file");
	else
		errno_text(ret, buf, size);
	return buf;
}

/* Adds a file to r->inputs unless it is there; returns the stored copy. */
static const char *add_input(struct recipe *r, const char *path)
{
	for (size_t i = 0; i < r->inputs.n; i++)
		if (!strcmp(r->inputs.v[i], path))
			return r->inputs.v[i];
	strv_push(&r->inputs, xstrdup(path));
	return r->inputs.v[r->inputs.n - 1];
}

static struct src_file *new_src_file(struct load *L, const char *path,
				     const struct stat *st,
				     struct src_file *parent)
{
	struct src_file *f = xcalloc(1, sizeof(*f));

	f->path = add_input(L->r, path);
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->parent = parent;
	f->depth = parent ? parent->depth + 1 : 0;
	f->next = L->files;
	L->files = f;
	return f;
}

/* Parses a file's bytes; parser errors are reported against f. */
static xmlDocPtr parse_bytes(struct load *L, struct src_file *f,
			    const char *data, size_t len)
{
	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	xmlExternalEntityLoader loader = xmlGetExternalEntityLoader();
	xmlDocPtr doc;

	if (!ctxt) {
		fail(L, "%s: out of memory", f->path);
		return NULL;
	}
	ctxt->sax->internalSubset = refuse_doctype;
	ctxt->sax->startElementNs = start_element;
	L->parsing = f;
	xmlSetExternalEntityLoader(refuse_entity);
	doc = xmlCtxtReadMemory(ctxt, data, (int)len, f->path, NULL,
				PARSE_OPTIONS);
	xmlSetExternalEntityLoader(loader);
	L->parsing = NULL;
	if (!L->failed && (!doc || !ctxt->wellFormed))
		bad_at(L, f->path, 0, "xml", "not well-formed");
	if (!L->failed && !xmlDocGetRootElement(doc))
		bad_at(L, f->path, 0, "xml", "no root element");
	xmlFreeParserCtxt(ctxt);
	if (L->failed) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int load_recipe_file(struct load *L)
{
	struct recipe *r = L->r;
	char *data = NULL, why[256];
	size_t len;
	struct stat st;
	int ret = slurp(r->path, RECIPE_MAX_BYTES, &data, &len, &st);

	if (ret > 0)
		return fail(L, "%s: cannot read: %s", r->path,
			    errno_text(ret, why, sizeof(why)));
	if (ret < 0) {
		slurp_text(ret, RECIPE_MAX_BYTES, why, sizeof(why));
		error_bad(L->e, "%s: %s", r->path, why);
		L->failed = 1;
		return -1;
	}
	L->main = new_src_file(L, r->path, &st, NULL);
	L->doc = parse_bytes(L, L->main, data, len);
	free(data);
	return L->doc ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* XInclude                                                            */

static int is_xinclude(xmlNodePtr n)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       !strcmp((const char *)n->ns->href, XINCLUDE_NS);
}

/* An attribute's value without a copy, or NULL; no namespace. */
static const char *attr(xmlNodePtr n, const char *name)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		if (a->ns || strcmp((const char *)a->name, name))
			continue;
		if (a->children && a->children->type == XML_TEXT_NODE &&
		    a->children->content)
			return (const char *)a->children->content;
		return "";
	}
	return NULL;
}

/* Joins a relative path to the directory of the file it was written in. */
static char *join_to_dir_of(const char *file, const char *rel)
{
	const char *slash = strrchr(file, '/');

	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	if (rel[0] == '/' || !slash)
		return xstrdup(rel);
	return xasprintf("%.*s/%s", (int)(slash - file), file, rel);
}

/* The attributes and children an include may have: few. */
static int check_include_node(struct load *L, xmlNodePtr xi)
{
	const char *href = attr(xi, "href");
	const char *parse = attr(xi, "parse");

	if (strcmp((const char *)xi->name, "include"))
		return bad(L, xi, "not supported here");
	for (xmlAttrPtr a = xi->properties; a; a = a->next)
		if (a->ns || (strcmp((const char *)a->name, "href") &&
			      strcmp((const char *)a->name, "parse") &&
			      strcmp((const char *)a->name, "encoding")))
			return bad(L, xi, "attribute \"%s%s%s\" is not supported",
				   a->ns && a->ns->prefix ?
				   (const char *)a->ns->prefix : "",
				   a->ns && a->ns->prefix ? ":" : "", a->name);
	for (xmlNodePtr c = xi->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return bad(L, xi, "<%s> is not supported: an include "
				   "names a file that must exist", c->name);
	if (!href || !*href)
		return bad(L, xi, "missing attribute \"href\"");
	if (parse && strcmp(parse, "xml") && strcmp(parse, "text"))
		return bad(L, xi, "parse \"%s\" is not one of xml, text",
			   parse);
	return 0;
}

/*
 * Turns an href into a host path: a relative reference is relative to the
 * file the include is written in; "file:" URIs must be local and absolute;
 * every other scheme (http, ftp, ...) is refused: recipes never fetch.
 */
static char *href_to_path(struct load *L, xmlNodePtr xi, const char *href)
{
	xmlURIPtr uri = xmlParseURI(href);
	char *path = NULL;
	char ex[64];

	excerpt(href, ex, sizeof(ex));
	if (!uri) {
		bad(L, xi, "href \"%s\" is not a URI reference (write a space "
		    "as %%20)", ex);
	} else if (uri->scheme && strcmp(uri->scheme, "file")) {
		bad(L, xi, "href \"%s\": only local files can be included",
		    ex);
	} else if (uri->query || uri->fragment || uri->opaque ||
		   (uri->server && *uri->server &&
		    strcmp(uri->server, "localhost"))) {
		bad(L, xi, "href \"%s\" is not a local file", ex);
	} else if (!uri->path || !*uri->path ||
		   (uri->scheme && uri->path[0] != '/')) {
		bad(L, xi, "href \"%s\" names no file", ex);
	} else {
		path = join_to_dir_of(origin_file(L, xi), uri->path);
	}
	xmlFreeURI(uri);
	return path;
}

static void tag_origin(xmlNodePtr n, struct src_file *f)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		n->_private = f;
		tag_origin(n->children, f);
	}
}

/* Replaces xi by the root element of the XML file at path. */
static xmlNodePtr include_xml(struct load *L, xmlNodePtr xi, const char *path,
			      const char *data, size_t len,
			      const struct stat *st)
{
	struct src_file *from = xi->_private ? xi->_private : L->main;
	struct src_file *f;
	xmlDocPtr doc;
	xmlNodePtr copy;

	for (f = from; f; f = f->parent)
		if (f->dev == st->st_dev && f->ino == st->st_ino) {
			bad(L, xi, "\"%s\" is already being included: an "
			    "include loop", path);
			return NULL;
		}
	f = new_src_file(L, path, st, from);
	doc = parse_bytes(L, f, data, len);
	if (!doc)
		return NULL;
	copy = xmlDocCopyNode(xmlDocGetRootElement(doc), L->doc, 1);
	xmlFreeDoc(doc);
	if (!copy) {
		fail(L, "%s: out of memory", path);
		return NULL;
	}
	copy->_private = f;
	tag_origin(copy->children, f);
	return copy;
}

/* Replaces xi by the text of the file at path, which must be UTF-8. */
static xmlNodePtr include_text(struct load *L, xmlNodePtr xi, const char *path,
			       const char *data, size_t len)
{
	const char *enc = attr(xi, "encoding");

	if (enc && strcasecmp(enc, "UTF-8")) {
		bad(L, xi, "encoding \"%s\" is not supported (only UTF-8)",
		    enc);
		return NULL;
	}
	if (len > RECIPE_MAX_INLINE) {
		bad(L, xi, "\"%s\" is larger than %u bytes", path,
		    RECIPE_MAX_INLINE);
		return NULL;
	}
	if (memchr(data, '\0', len) || !xmlCheckUTF8((const xmlChar *)data)) {
		bad(L, xi, "\"%s\" is not UTF-8 text", path);
		return NULL;
	}
	add_input(L->r, path);
	return xmlNewDocTextLen(L->doc, (const xmlChar *)data, (int)len);
}

/* Reads what one <xi:include> names; returns the node that replaces it. */
static xmlNodePtr include_one(struct load *L, xmlNodePtr xi)
{
	struct src_file *from = xi->_private ? xi->_private : L->main;
	const char *parse = attr(xi, "parse");
	int text = parse && !strcmp(parse, "text");
	xmlNodePtr repl = NULL;
	char *path, *data = NULL, why[256];
	size_t len, max = text ? RECIPE_MAX_INLINE : RECIPE_MAX_BYTES;
	struct stat st;
	int ret;

	if (check_include_node(L, xi) < 0)
		return NULL;
	if (from->depth + 1 > RECIPE_MAX_INCLUDE_DEPTH) {
		bad(L, xi, "includes nested more than %d deep",
		    RECIPE_MAX_INCLUDE_DEPTH);
		return NULL;
	}
	if (++L->n_includes > RECIPE_MAX_INCLUDES) {
		bad(L, xi, "more than %d includes", RECIPE_MAX_INCLUDES);
		return NULL;
	}
	path = href_to_path(L, xi, attr(xi, "href"));
	if (!path)
		return NULL;
	ret = slurp(path, max, &data, &len, &st);
	if (ret)
		bad(L, xi, "cannot read \"%s\": %s", path,
		    slurp_text(ret, max, why, sizeof(why)));
	else if (text)
		repl = include_text(L, xi, path, data, len);
	else
		repl = include_xml(L, xi, path, data, len, &st);
	free(data);
	free(path);
	return repl;
}

/*
 * Expands every include below parent, in document order. What replaces an
 * include is looked at again, so includes in included files are expanded
 * too, each relative to its own file.
 */
static int expand_includes(struct load *L, xmlNodePtr parent)
{
	xmlNodePtr n, next;

	for (n = parent->children; n; n = next) {
		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!is_xinclude(n)) {
			if (expand_includes(L, n) < 0)
				return -1;
			continue;
		}
		xmlNodePtr repl = include_one(L, n);

		if (!repl)
			return -1;
		/* Text may merge into a neighbour; then go on after it. */
		repl = xmlAddPrevSibling(n, repl);
		next = repl && repl->type == XML_ELEMENT_NODE ? repl : n->next;
		xmlUnlinkNode(n);
		xmlFreeNode(n);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lint: the schema's rules, for exact messages                        */

/*
 * elem_rules[] is generated from the schema at build time (tools/rnglang
 * writes it into build/gen/recipe_lang.gen.h): every element, its
 * attributes, their values and defaults, its children and how often each
 * may appear. The schema is the one source; this step reads it as a table
 * so that a message can say exactly what is wrong.
 */

static const struct elem_rule *elem_rule(xmlNodePtr n)
{
	if (n->ns)
		return NULL;
	for (const struct elem_rule *e = elem_rules; e->name; e++)
		if (!strcmp(e->name, (const char *)n->name))
			return e;
	return NULL;
}

/* True if value is one of "a|b|c". */
static int one_of(const char *values, const char *value)
{
	size_t n = strlen(value);

	for (const char *p = values; *p; ) {
		size_t k = strcspn(p, "|");

		if (k == n && !strncmp(p, value, n))
			return 1;
		p += k + (p[k] == '|');
	}
	return 0;
}

/* "a|b|c" as "a, b, c" for a message. */
static const char *list_text(const char *values, char *buf, size_t size)
{
	size_t o = 0;

	for (const char *p = values; *p && o + 3 < size; p++) {
		if (*p == '|') {
			buf[o++] = ',';
			buf[o++] = ' ';
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static int bad_value(struct load *L, xmlNodePtr n, const char *what,
		     const char *value, const char *values)
{
	char ex[64], list[128];

	excerpt(value, ex, sizeof(ex));
	if (!what)
		return bad(L, n, "\"%s\" is not one of %s", ex,
			   list_text(values, list, sizeof(list)));
	if (!strchr(values, '|'))
		return bad(L, n, "%s \"%s\" is not supported (only \"%s\")",
			   what, ex, values);
	return bad(L, n, "%s \"%s\" is not one of %s", what, ex,
		   list_text(values, list, sizeof(list)));
}

static int lint_attributes(struct load *L, xmlNodePtr n,
			   const struct elem_rule *rule)
{
	const struct attr_rule *a;

	for (xmlAttrPtr p = n->properties; p; p = p->next) {
		const char *name = (const char *)p->name;

		if (p->ns && p->ns->href &&
		    !strcmp((const char *)p->ns->href, XML_NS)) {
			if (!strcmp(name, "lang"))
				continue;
			return bad(L, n, "attribute \"xml:%s\" is not "
				   "supported", name);
		}
		for (a = rule->attrs; a->name && !p->ns; a++)
			if (!strcmp(a->name, name))
				break;
		if (p->ns || !a->name)
			return bad(L, n, "unknown attribute \"%s%s%s\"",
				   p->ns && p->ns->prefix ?
				   (const char *)p->ns->prefix : "",
				   p->ns && p->ns->prefix ? ":" : "", name);
		if (a->values && !one_of(a->values, attr(n, name)))
			return bad_value(L, n, name, attr(n, name), a->values);
	}
	for (a = rule->attrs; a->name; a++)
		if (a->required && !attr(n, a->name))
			return bad(L, n, "missing attribute \"%s\"", a->name);
	return 0;
}

/* An element's text without leading and trailing blanks; malloc'd. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *v = t ? (const char *)t : "";
	size_t len;
	char *out;

	v += strspn(v, " \t\r\n");
	len = strlen(v);
	while (len && strchr(" \t\r\n", v[len - 1]))
		len--;
	out = xstrndup(v, len);
	xmlFree(t);
	return out;
}

static int all_blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* Text where there may be none, and the value of enumerated texts. */
static int lint_text(struct load *L, xmlNodePtr n,
		     const struct elem_rule *rule)
{
	char ex[64];

	for (xmlNodePtr c = n->children; c; c = c->next) {
		const char *s = (const char *)c->content;

		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			continue;
		if (!rule->text && s && !all_blank(s)) {
			char *t = text_of(c);

			t[strcspn(t, "\r\n")] = '\0';
			bad(L, n, "unexpected text \"%s\"",
			    excerpt(t, ex, sizeof(ex)));
			free(t);
			return -1;
		}
	}
	if (rule->values) {
		char *v = text_of(n);

		if (!one_of(rule->values, v))
			bad_value(L, n, NULL, v, rule->values);
		free(v);
	}
	return L->failed ? -1 : 0;
}

static const struct child_rule *child_rule(const struct elem_rule *rule,
					   const char *name)
{
	if (!rule->children)
		return NULL;
	for (const struct child_rule *c = rule->children; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int lint_element(struct load *L, xmlNodePtr n,
			const struct elem_rule *rule);

/* Child elements: known, in their place, not too many, not too few. */
static int lint_children(struct load *L, xmlNodePtr n,
			 const struct elem_rule *rule)
{
	unsigned count[RNG_MAX_CHILDREN] = { 0 };

	for (xmlNodePtr c = n->children; c; c = c->next) {
		const struct elem_rule *cr;
		const struct child_rule *ch;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		cr = elem_rule(c);
		if (!cr)
			return bad(L, c, "unknown element");
		ch = child_rule(rule, (const char *)c->name);
		if (!ch)
			return bad(L, c, "not allowed inside %s", n->name);
		if (ch->max && ++count[ch - rule->children] > ch->max)
			return bad(L, c, "only one %s is allowed in %s",
				   c->name, n->name);
		if (lint_element(L, c, cr) < 0)
			return -1;
	}
	for (const struct child_rule *ch = rule->children; ch && ch->name; ch++)
		if (ch->min && count[ch - rule->children] < ch->min)
			return bad(L, n, "missing %s", ch->name);
	return 0;
}

static int lint_element(struct load *L, xmlNodePtr n,
			const struct elem_rule *rule)
{
	if (lint_attributes(L, n, rule) < 0 || lint_text(L, n, rule) < 0)
		return -1;
	return lint_children(L, n, rule);
}

static int lint_document(struct load *L)
{
	xmlNodePtr root = xmlDocGetRootElement(L->doc);

	if (!root)
		return bad_at(L, L->r->path, 0, "xml", "no root element");
	if (root->ns || strcmp((const char *)root->name, "recipe"))
		return bad(L, root, "not a recipe: the root element must be "
			   "recipe");
	return lint_element(L, root, elem_rule(root));
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */

static int validate_schema(struct load *L, const char *schema_path)
{
	xmlRelaxNGParserCtxtPtr pctxt = NULL;
	xmlRelaxNGValidCtxtPtr vctxt = NULL;
	xmlRelaxNGPtr schema = NULL;
	char why[256];
	int ret = -1;

	if (!schema_path)
		return fail(L, "no recipe schema (set IMGTOOL_SCHEMA)");
	if (access(schema_path, R_OK) < 0)
		return fail(L, "%s: cannot read the recipe schema: %s",
			    schema_path, errno_text(errno, why, sizeof(why)));
	pctxt = xmlRelaxNGNewParserCtxt(schema_path);
	if (!pctxt) {
		fail(L, "%s: out of memory", schema_path);
		goto out;
	}
	xmlRelaxNGSetParserStructuredErrors(pctxt, on_xml_error, L);
	schema = xmlRelaxNGParse(pctxt);
	if (!schema) {
		fail(L, "%s: not a valid RELAX NG schema", schema_path);
		goto out;
	}
	vctxt = xmlRelaxNGNewValidCtxt(schema);
	if (!vctxt) {
		fail(L, "%s: out of memory", schema_path);
		goto out;
	}
	xmlRelaxNGSetValidStructuredErrors(vctxt, on_xml_error, L);
	ret = xmlRelaxNGValidateDoc(vctxt, L->doc);
	if (ret != 0 && !L->failed)
		bad(L, xmlDocGetRootElement(L->doc),
		    "does not match the recipe schema");
	ret = ret == 0 ? 0 : -1;
out:
	xmlRelaxNGFreeValidCtxt(vctxt);
	xmlRelaxNGFree(schema);
	xmlRelaxNGFreeParserCtxt(pctxt);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */

#define LOWER	"abcdefghijklmnopqrstuvwxyz"
#define UPPER	"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS	"0123456789"

/* True if s is one character of first, then at most max-1 of rest. */
static int charset_ok(const char *s, const char *first, const char *rest,
		      size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !strchr(first, s[0]))
		return 0;
	return strspn(s + 1, rest) == n - 1;
}

static int is_number(const char *s)
{
	return *s && strspn(s, DIGITS) == strlen(s);
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int has_dotdot(const char *path)
{
	for (const char *p = path; *p; ) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n + (p[n] == '/');
	}
	return 0;
}

static const char *size_text(uint64_t v, char *buf, size_t size)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%llu", (unsigned long long)v);
	else
		snprintf(buf, size, "%llu%c", (unsigned long long)v, units[u]);
	return buf;
}

static const char *duration_text(uint64_t v, char *buf, size_t size)
{
	if (v && v % 86400 == 0)
		snprintf(buf, size, "%llud", (unsigned long long)(v / 86400));
	else if (v && v % 3600 == 0)
		snprintf(buf, size, "%lluh", (unsigned long long)(v / 3600));
	else if (v && v % 60 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(v / 60));
	else
		snprintf(buf, size, "%llus", (unsigned long long)v);
	return buf;
}

enum value_type { V_SIZE, V_DURATION, V_COUNT };

/*
 * Parses attribute name of n as a size, a duration or a count in
 * [min, max]. A missing attribute leaves *out alone. Returns 1 if the
 * attribute was there, 0 if not, -1 on a bad value.
 */
static int get_value(struct load *L, xmlNodePtr n, const char *name,
		     enum value_type type, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	static const char *const what[] = {
		"a size (such as 512K, 16M or 2G)",
		"a duration (such as 30s, 5m, 24h or 2d)",
		"a number",
	};
	const char *s = attr(n, name);
	char ex[64], a[32], b[32];
	uint64_t v;
	int ret;

	if (!s)
		return 0;
	excerpt(s, ex, sizeof(ex));
	ret = type == V_SIZE ? parse_size(s, UINT64_MAX, &v) :
	      type == V_DURATION ? parse_duration(s, UINT64_MAX, &v) :
	      parse_uint(s, 0, UINT64_MAX, &v);
	if (ret < 0)
		return bad(L, n, "%s \"%s\" is not %s", name, ex, what[type]);
	if (type == V_COUNT && (v < min || v > max))
		return bad(L, n, "%s \"%s\" is out of range (%llu to %llu)",
			   name, ex, (unsigned long long)min,
			   (unsigned long long)max);
	if (type == V_SIZE && (v < min || v > max))
		return bad(L, n, "%s \"%s\" is %s than %s", name, ex,
			   v < min ? "smaller" : "larger",
			   size_text(v < min ? min : max, a, sizeof(a)));
	if (type == V_DURATION && (v < min || v > max))
		return bad(L, n, "%s \"%s\" is %s than %s", name, ex,
			   v < min ? "shorter" : "longer",
			   duration_text(v < min ? min : max, b, sizeof(b)));
	*out = v;
	return 1;
}

/*
 * The schema's default for a value (RNG_DEFAULT_*), parsed as a written
 * one would be. A default that does not parse is a bug of the schema.
 */
static int default_value(struct load *L, const char *name, const char *dflt,
			 enum value_type type, uint64_t *out)
{
	int ret = type == V_SIZE ? parse_size(dflt, UINT64_MAX, out) :
		  type == V_DURATION ? parse_duration(dflt, UINT64_MAX, out) :
		  parse_uint(dflt, 0, UINT64_MAX, out);

	if (ret < 0)
		return fail(L, "recipe schema: the default %s=\"%s\" is not "
			    "valid", name, dflt);
	return 0;
}

static int get_id(struct load *L, xmlNodePtr n, const char *name,
		  uint32_t *out)
{
	uint64_t v;
	int ret = get_value(L, n, name, V_COUNT, 0, SPEC_MAX_ID, &v);

	if (ret > 0)
		*out = (uint32_t)v;
	return ret < 0 ? -1 : 0;
}

/* Checks an absolute path in the image (or on the host). */
static int check_path(struct load *L, xmlNodePtr n, const char *name,
		      const char *path, int allow_root)
{
	char ex[64];

	excerpt(path, ex, sizeof(ex));
	if (path[0] != '/')
		return bad(L, n, "%s \"%s\" is not an absolute path", name, ex);
	if (has_control(path))
		return bad(L, n, "%s \"%s\" contains a control character",
			   name, ex);
	if (strlen(path) >= PATH_MAX)
		return bad(L, n, "%s \"%s\" is too long", name, ex);
	if (has_dotdot(path))
		return bad(L, n, "%s \"%s\" contains \"..\"", name, ex);
	if (!path_is_clean(path))
		return bad(L, n, "%s \"%s\" is not a clean path (no \"//\", "
			   "no \".\", no trailing \"/\")", name, ex);
	if (!allow_root && !strcmp(path, "/"))
		return bad(L, n, "%s \"/\" is the root of the image", name);
	return 0;
}

/* Copies a path attribute after checking it; NULL if missing. */
static int get_path(struct load *L, xmlNodePtr n, const char *name,
		    int allow_root, char **out)
{
	const char *s = attr(n, name);

	if (!s)
		return 0;
	if (check_path(L, n, name, s, allow_root) < 0)
		return -1;
	free(*out);
	*out = xstrdup(s);
	return 0;
}

/* "0644", "755": at most four octal digits. */
static int parse_octal(const char *s, mode_t *out)
{
	mode_t m = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 4 || strspn(s, "01234567") != n)
		return -1;
	for (; *s; s++)
		m = m * 8 + (mode_t)(*s - '0');
	*out = m;
	return 0;
}

enum { MODE_OK = 0, MODE_SYNTAX = -1, MODE_SETID = -2 };

/* Applies one "+rw", "=rX" or "-u" action of a clause. */
static int mode_action(const char **pp, mode_t who, mode_t old, int is_dir,
		       mode_t *cur)
{
	const char *p = *pp;
	char op = *p++;
	mode_t bits = 0;

	if (*p && strchr("ugo", *p)) {
		int shift = *p == 'u' ? 6 : *p == 'g' ? 3 : 0;

		bits = ((*cur >> shift) & 7) * 0111;
		p++;
	}
	for (; *p && strchr("rwxXst", *p); p++) {
		if (*p == 's')
			return MODE_SETID;
		bits |= *p == 'r' ? 0444 : *p == 'w' ? 0222 : *p == 'x' ? 0111 :
			*p == 't' ? 01000 : (is_dir || (old & 0111)) ? 0111 : 0;
	}
	bits &= who;
	if (op == '+')
		*cur |= bits;
	else if (op == '-')
		*cur &= ~bits;
	else
		*cur = (*cur & ~who) | bits;
	*pp = p;
	return MODE_OK;
}

static int mode_spec_apply(const char *spec, mode_t old, int is_dir,
			   mode_t *out)
{
	mode_t cur = old & 07777, m;
	const char *p = spec;

	if (parse_octal(spec, &m) == 0) {
		*out = m;
		return (m & 06000) ? MODE_SETID : MODE_OK;
	}
	for (;;) {
		mode_t who = 0;

		for (; *p && strchr("ugoa", *p); p++)
			who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 :
			       *p == 'o' ? 01007 : 07777;
		if (!who)
			who = 07777;
		if (!*p || !strchr("+-=", *p))
			return MODE_SYNTAX;
		while (*p && strchr("+-=", *p)) {
			int ret = mode_action(&p, who, old, is_dir, &cur);

			if (ret != MODE_OK)
				return ret;
		}
		if (!*p)
			break;
		if (*p++ != ',')
			return MODE_SYNTAX;
	}
	*out = cur & 01777;
	return MODE_OK;
}

int recipe_mode_apply(const char *spec, mode_t old, int is_dir, mode_t *out)
{
	return spec && mode_spec_apply(spec, old, is_dir, out) == MODE_OK ?
	       0 : -1;
}

/*
 * mode="0644" of a file, a directory or a writable area; left out, the
 * schema's default dflt.
 */
static int get_mode(struct load *L, xmlNodePtr n, const char *dflt,
		    mode_t *out)
{
	const char *s = attr(n, "mode");
	char ex[64];
	mode_t m;

	if (!s) {
		if (parse_octal(dflt, out) < 0 || (*out & 06000))
			return fail(L, "recipe schema: the default mode=\"%s\" "
				    "is not valid", dflt);
		return 0;
	}
	excerpt(s, ex, sizeof(ex));
	if (parse_octal(s, &m) < 0)
		return bad(L, n, "mode \"%s\" is not an octal mode (such as "
			   "0644)", ex);
	if (m & 06000)
		return bad(L, n, "mode \"%s\": setuid and setgid bits are not "
			   "allowed", ex);
	*out = m;
	return 0;
}

/* "IPv4:PORT" or "[IPv6]:PORT". */
static int check_listen(struct load *L, xmlNodePtr n, const char *s)
{
	char addr[INET6_ADDRSTRLEN + 1], ex[64];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *colon, *port;
	int v6 = s[0] == '[';
	size_t len;
	uint64_t p;

	excerpt(s, ex, sizeof(ex));
	colon = v6 ? strstr(s, "]:") : strrchr(s, ':');
	if (!colon)
		goto syntax;
	port = colon + (v6 ? 2 : 1);
	len = (size_t)(colon - s) - (size_t)v6;
	if (len == 0 || len >= sizeof(addr))
		goto syntax;
	memcpy(addr, s + v6, len);
	addr[len] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		goto syntax;
	if (!is_number(port))
		return bad(L, n, "listen \"%s\": port \"%s\" is not a number",
			   ex, port);
	if (parse_uint(port, 1, 65535, &p) < 0)
		return bad(L, n, "listen \"%s\": port %s is out of range (1 to "
			   "65535)", ex, port);
	return 0;
syntax:
	return bad(L, n, "listen \"%s\" is not IPv4:PORT or [IPv6]:PORT", ex);
}


/* ------------------------------------------------------------------ */
/* Build: users and groups                                             */

static int name_ok(const char *s)
{
	return charset_ok(s, LOWER "_", LOWER DIGITS "_-", 32);
}

static struct group *find_group(const struct recipe *r, const char *name)
{
	for (size_t i = 0; i < r->n_groups; i++)
		if (!strcmp(r->groups[i].name, name))
			return &r->groups[i];
	return NULL;
}

/* The name of a user or a group, which root's may not be. */
static int check_account_name(struct load *L, xmlNodePtr n, const char *name)
{
	char ex[64];

	if (!name_ok(name))
		return bad(L, n, "name \"%s\" is not a valid name (at most 32 "
			   "of a-z, 0-9, \"_\" and \"-\", not starting with a "
			   "digit or \"-\")", excerpt(name, ex, sizeof(ex)));
	if (!strcmp(name, "root"))
		return bad(L, n, "\"root\" is always defined (id 0) and cannot "
			   "be redefined");
	return 0;
}

/* home and shell end up in /etc/passwd, where ':' separates fields. */
static int get_passwd_path(struct load *L, xmlNodePtr n, const char *name,
			   const char *dflt, char **out)
{
	if (get_path(L, n, name, 1, out) < 0)
		return -1;
	if (*out && strchr(*out, ':'))
		return bad(L, n, "%s \"%s\" contains \":\"", name, *out);
	if (!*out)
		*out = xstrdup(dflt);
	return 0;
}

static int build_user(struct load *L, xmlNodePtr n)
{
	struct recipe *r = L->r;
	const char *name = attr(n, "name");
	struct user *u;

	if (check_account_name(L, n, name) < 0)
		return -1;
	if (r->n_users == SPEC_MAX_USERS)
		return bad(L, n, "more than %d users", SPEC_MAX_USERS);
	r->users = xrealloc(r->users, (r->n_users + 1) * sizeof(*r->users));
	u = &r->users[r->n_users++];
	memset(u, 0, sizeof(*u));
	u->name = xstrdup(name);
	u->at = origin_of(L, n);
	if (get_id(L, n, "uid", &u->uid) < 0 || get_id(L, n, "gid", &u->gid) < 0)
		return -1;
	if (u->uid == 0)
		return bad(L, n, "uid 0 is root's: root is always defined, and "
			   "the service never runs as root");
	for (size_t i = 0; i + 1 < r->n_users; i++) {
		const struct user *o = &r->users[i];

		if (!strcmp(o->name, name))
			return bad(L, n, "user \"%s\" is already defined at "
				   "%s:%d", name, o->at.file, o->at.line);
		if (o->uid == u->uid)
			return bad(L, n, "uid %u is already the uid of \"%s\" "
				   "(%s:%d)", u->uid, o->name, o->at.file,
				   o->at.line);
	}
	if (get_passwd_path(L, n, "home", RNG_DEFAULT_user_home, &u->home) < 0)
		return -1;
	return get_passwd_path(L, n, "shell", RNG_DEFAULT_user_shell,
			       &u->shell);
}

/* members="a,b": user names, separated by commas (blanks allowed). */
static int get_members(struct load *L, xmlNodePtr n, struct group *g)
{
	const char *s = attr(n, "members");
	struct strv v = { 0 };
	char ex[64];

	for (const char *p = s; p && *p; ) {
		size_t len = strcspn(p, ",");
		char *m = xstrndup(p, len), *t = m + strspn(m, " \t\r\n");

		t[strcspn(t, " \t\r\n")] = '\0';
		strv_push(&v, xstrdup(t));
		free(m);
		p += len + (p[len] == ',');
		if (!name_ok(v.v[v.n - 1]) || v.n > RECIPE_MAX_MEMBERS)
			break;
	}
	g->members = v.v ? v.v : xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < v.n; i++) {
		if (!name_ok(v.v[i]))
			return bad(L, n, "members: \"%s\" is not a user name",
				   excerpt(v.v[i], ex, sizeof(ex)));
		if (i == RECIPE_MAX_MEMBERS)
			return bad(L, n, "more than %d members",
				   RECIPE_MAX_MEMBERS);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(v.v[i], v.v[j]))
				return bad(L, n, "member \"%s\" is listed "
					   "twice", v.v[i]);
	}
	return 0;
}

static int build_group(struct load *L, xmlNodePtr n)
{
	struct recipe *r = L->r;
	const char *name = attr(n, "name");
	struct group *g;

	if (check_account_name(L, n, name) < 0)
		return -1;
	if (r->n_groups == SPEC_MAX_USERS)
		return bad(L, n, "more than %d groups", SPEC_MAX_USERS);
	r->groups = xrealloc(r->groups, (r->n_groups + 1) * sizeof(*r->groups));
	g = &r->groups[r->n_groups++];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup(name);
	g->at = origin_of(L, n);
	if (get_members(L, n, g) < 0 || get_id(L, n, "gid", &g->gid) < 0)
		return -1;
	if (g->gid == 0)
		return bad(L, n, "gid 0 is root's group, which is always "
			   "defined");
	for (size_t i = 0; i + 1 < r->n_groups; i++) {
		const struct group *o = &r->groups[i];

		if (!strcmp(o->name, name))
			return bad(L, n, "group \"%s\" is already defined at "
				   "%s:%d", name, o->at.file, o->at.line);
		if (o->gid == g->gid)
			return bad(L, n, "gid %u is already the gid of group "
				   "\"%s\" (%s:%d)", g->gid, o->name,
				   o->at.file, o->at.line);
	}
	return 0;
}

/* Every member of every group is a user of the recipe. */
static int check_members(struct load *L)
{
	const struct recipe *r = L->r;

	for (size_t i = 0; i < r->n_groups; i++) {
		const struct group *g = &r->groups[i];

		for (char **m = g->members; *m; m++)
			if (!recipe_user(r, *m))
				return bad_at(L, g->at.file, g->at.line,
					      "group", "member \"%s\" is not a "
					      "user of this recipe", *m);
	}
	return 0;
}

/*
 * owner="NAME|ID" and group="NAME|ID". An owner that is a user of the
 * recipe also gives the group, unless group says otherwise. A group name
 * is a <group>, or else a user's name, meaning that user's primary group.
 * Left out, owner is the schema's default dflt_owner (none for a writable
 * area: the service user's, later); group has no default of its own.
 */
static int get_owner(struct load *L, xmlNodePtr n, const char *dflt_owner,
		     uint32_t *uid, uint32_t *gid)
{
	const char *owner = attr(n, "owner"), *group = attr(n, "group");
	const struct user *u;
	const struct group *g;
	char ex[64];

	if (!owner)
		owner = dflt_owner;
	if (owner && !strcmp(owner, "root")) {
		*uid = *gid = 0;
	} else if (owner && is_number(owner)) {
		if (!attr(n, "owner"))	/* get_id() reads the attribute */
			return fail(L, "recipe schema: the default owner "
				    "\"%s\" is not a name", owner);
		if (get_id(L, n, "owner", uid) < 0)
			return -1;
	} else if (owner && (u = recipe_user(L->r, owner))) {
		*uid = u->uid;
		*gid = u->gid;
	} else if (owner) {
		return bad(L, n, "owner \"%s\" is not a user of this recipe",
			   excerpt(owner, ex, sizeof(ex)));
	}
	if (!group)
		return 0;
	if (is_number(group) || !strcmp(group, "root")) {
		*gid = 0;
		return is_number(group) ? get_id(L, n, "group", gid) : 0;
	}
	if ((g = find_group(L->r, group)))
		*gid = g->gid;
	else if ((u = recipe_user(L->r, group)))
		*gid = u->gid;
	else
		return bad(L, n, "group \"%s\" is not a group of this recipe",
			   excerpt(group, ex, sizeof(ex)));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Build: contents                                                     */

static void add_claim(struct load *L, const char *path, const char *what,
		      enum claim_kind kind, struct origin at)
{
	L->claims = xrealloc(L->claims, (L->n_claims + 1) * sizeof(*L->claims));
	L->claims[L->n_claims++] = (struct claim){ path, what, kind, at };
}

static struct item *new_item(struct load *L, xmlNodePtr n,
			     enum item_kind kind)
{
	struct recipe *r = L->r;
	struct item *it;

	if (r->n_items == RECIPE_MAX_ITEMS) {
		bad(L, n, "more than %d items", RECIPE_MAX_ITEMS);
		return NULL;
	}
	r->items = xrealloc(r->items, (r->n_items + 1) * sizeof(*r->items));
	it = &r->items[r->n_items++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->mode = MODE_UNSET;
	it->uid = it->gid = ID_UNSET;
	it->at = origin_of(L, n);
	return it;
}

/*
 * A host path of the recipe (tree or file src): relative to the directory
 * of the file that the element is written in, which for everything but
 * included fragments is the recipe's directory.
 */
static char *host_path(struct load *L, xmlNodePtr n, const char *src)
{
	return join_to_dir_of(origin_file(L, n), src);
}

/* src of a tree or a file: there, and a directory or a regular file. */
static int check_src(struct load *L, xmlNodePtr n, const char *src,
		     const char *path, int want_dir)
{
	struct stat st;
	char ex[64], why[256];

	excerpt(src, ex, sizeof(ex));
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return bad(L, n, "src \"%s\": no such %s", ex,
				   want_dir ? "directory" : "file");
		return bad(L, n, "src \"%s\": %s", ex,
			   errno_text(errno, why, sizeof(why)));
	}
	if (want_dir && !S_ISDIR(st.st_mode))
		return bad(L, n, "src \"%s\": not a directory", ex);
	if (!want_dir && !S_ISREG(st.st_mode))
		return bad(L, n, "src \"%s\": not a regular file", ex);
	return 0;
}

static int build_program(struct load *L, xmlNodePtr n, enum item_kind kind)
{
	struct item *it = new_item(L, n, kind);

	if (!it || get_path(L, n, "path", 0, &it->path) < 0)
		return -1;
	it->src = xstrdup(it->path);
	add_claim(L, it->path, (const char *)n->name, CLAIM_LEAF, it->at);
	return 0;
}

static int build_tree(struct load *L, xmlNodePtr n)
{
	struct item *it = new_item(L, n, ITEM_TREE);
	const char *src = attr(n, "src"), *spec = attr(n, "mode");
	char ex[64];
	mode_t m;
	int ret;

	if (!it || get_path(L, n, "dest", 1, &it->path) < 0)
		return -1;
	if (!*src)
		return bad(L, n, "src is empty");
	it->src = host_path(L, n, src);
	if (check_src(L, n, src, it->src, 1) < 0)
		return -1;
	if (spec) {
		ret = mode_spec_apply(spec, 0, 1, &m);
		excerpt(spec, ex, sizeof(ex));
		if (ret == MODE_SYNTAX)
			return bad(L, n, "mode \"%s\" is not a mode (octal such "
				   "as 0755, or symbolic such as a=rX,u+w)", ex);
		if (ret == MODE_SETID)
			return bad(L, n, "mode \"%s\": setuid and setgid bits "
				   "are not allowed", ex);
		it->mode_spec = xstrdup(spec);
		if (parse_octal(spec, &m) == 0)
			it->mode = m;
	}
	if (get_owner(L, n, RNG_DEFAULT_tree_owner, &it->uid, &it->gid) < 0)
		return -1;
	add_claim(L, it->path, "tree", CLAIM_DIR, it->at);
	return 0;
}

static int build_file(struct load *L, xmlNodePtr n)
{
	struct item *it = new_item(L, n, ITEM_FILE);
	const char *src = attr(n, "src");
	xmlChar *text;
	char ex[64];

	if (!it || get_path(L, n, "dest", 0, &it->path) < 0 ||
	    get_mode(L, n, RNG_DEFAULT_file_mode, &it->mode) < 0)
		return -1;
	text = xmlNodeGetContent(n);
	it->text = xstrdup(text ? (const char *)text : "");
	it->text_len = strlen(it->text);
	xmlFree(text);
	if (src && !all_blank(it->text))
		return bad(L, n, "both src=\"%s\" and text: give one or the "
			   "other", excerpt(src, ex, sizeof(ex)));
	if (!src && it->text_len > RECIPE_MAX_INLINE)
		return bad(L, n, "text is larger than %u bytes",
			   RECIPE_MAX_INLINE);
	if (src) {
		free(it->text);
		it->text = NULL;
		it->text_len = 0;
		if (!*src)
			return bad(L, n, "src is empty");
		it->src = host_path(L, n, src);
		if (check_src(L, n, src, it->src, 0) < 0)
			return -1;
	}
	if (get_owner(L, n, RNG_DEFAULT_file_owner, &it->uid, &it->gid) < 0)
		return -1;
	add_claim(L, it->path, "file", CLAIM_LEAF, it->at);
	return 0;
}

static int build_symlink(struct load *L, xmlNodePtr n)
{
	struct item *it = new_item(L, n, ITEM_SYMLINK);
	const char *target = attr(n, "target");
	char ex[64];

	if (!it || get_path(L, n, "path", 0, &it->path) < 0)
		return -1;
	excerpt(target, ex, sizeof(ex));
	if (!*target)
		return bad(L, n, "target is empty");
	if (strlen(target) >= PATH_MAX)
		return bad(L, n, "target \"%s\" is too long", ex);
	if (has_control(target))
		return bad(L, n, "target \"%s\" contains a control character",
			   ex);
	if (!link_stays_inside(it->path, target))
		return bad(L, n, "target \"%s\" of \"%s\" leads out of the "
			   "image", ex, it->path);
	it->target = xstrdup(target);
	add_claim(L, it->path, "symlink", CLAIM_SYMLINK, it->at);
	return 0;
}

static int build_dir(struct load *L, xmlNodePtr n)
{
	struct item *it = new_item(L, n, ITEM_DIR);

	if (!it || get_path(L, n, "path", 1, &it->path) < 0 ||
	    get_mode(L, n, RNG_DEFAULT_dir_mode, &it->mode) < 0 ||
	    get_owner(L, n, RNG_DEFAULT_dir_owner, &it->uid, &it->gid) < 0)
		return -1;
	add_claim(L, it->path, "dir", CLAIM_DIR, it->at);
	return 0;
}

static int build_account(struct load *L, xmlNodePtr n)
{
	if (!strcmp((const char *)n->name, "user"))
		return build_user(L, n);
	if (!strcmp((const char *)n->name, "group"))
		return build_group(L, n);
	return 0;
}

static int build_item(struct load *L, xmlNodePtr n)
{
	const char *name = (const char *)n->name;

	if (!strcmp(name, "program"))
		return build_program(L, n, ITEM_PROGRAM);
	if (!strcmp(name, "library"))
		return build_program(L, n, ITEM_LIBRARY);
	if (!strcmp(name, "tree"))
		return build_tree(L, n);
	if (!strcmp(name, "file"))
		return build_file(L, n);
	if (!strcmp(name, "symlink"))
		return build_symlink(L, n);
	if (!strcmp(name, "dir"))
		return build_dir(L, n);
	return 0;	/* user, group: built before */
}

/* Calls fn on every item of <contents>, looking inside <items>. */
static int for_each_item(struct load *L, xmlNodePtr parent,
			 int (*fn)(struct load *, xmlNodePtr))
{
	for (xmlNodePtr c = parent->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp((const char *)c->name, "items")) {
			if (for_each_item(L, c, fn) < 0)
				return -1;
		} else if (fn(L, c) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Users and groups first: items name them as owners, in any order. */
static int build_contents(struct load *L, xmlNodePtr n)
{
	if (for_each_item(L, n, build_account) < 0 || check_members(L) < 0)
		return -1;
	return for_each_item(L, n, build_item);
}

/* ------------------------------------------------------------------ */
/* Build: writable areas                                               */

static int build_writable(struct load *L, xmlNodePtr n)
{
	struct recipe *r = L->r;
	const char *kind = attr(n, "kind");
	struct writable *w;

	if (r->n_writables == SPEC_MAX_WRITABLES)
		return bad(L, n, "more than %d writable areas",
			   SPEC_MAX_WRITABLES);
	r->writables = xrealloc(r->writables,
				(r->n_writables + 1) * sizeof(*r->writables));
	w = &r->writables[r->n_writables++];
	memset(w, 0, sizeof(*w));
	w->uid = w->gid = ID_UNSET;	/* the service user's, later */
	w->at = origin_of(L, n);
	w->kind = !strcmp(kind, "log") ? WRITABLE_LOG :
		  !strcmp(kind, "state") ? WRITABLE_STATE : WRITABLE_SCRATCH;
	if (get_path(L, n, "path", 1, &w->path) < 0)
		return -1;
	if (!strcmp(w->path, "/"))
		return bad(L, n, "path \"/\" cannot be writable: the root of "
			   "the image stays read-only");
	if (get_value(L, n, "size", V_SIZE, AREA_MIN, SPEC_MAX_AREA,
		      &w->size) < 0 ||
	    get_mode(L, n, RNG_DEFAULT_writable_mode, &w->mode) < 0 ||
	    get_owner(L, n, NULL, &w->uid, &w->gid) < 0)
		return -1;
	add_claim(L, w->path, "writable", CLAIM_WRITABLE, w->at);
	return 0;
}

/* Areas without an owner belong to the service user (or root). */
static void default_writable_owners(struct recipe *r)
{
	uint32_t uid = r->service.present ? r->service.uid : 0;
	uint32_t gid = r->service.present ? r->service.gid : 0;

	for (size_t i = 0; i < r->n_writables; i++) {
		if (r->writables[i].uid == ID_UNSET)
			r->writables[i].uid = uid;
		if (r->writables[i].gid == ID_UNSET)
			r->writables[i].gid = gid;
	}
}

/* ------------------------------------------------------------------ */
/* Build: the service                                                  */

static int build_exec(struct load *L, xmlNodePtr n, struct service *s)
{
	char *cmd = text_of(n);
	size_t first = strcspn(cmd, " \t\r\n");
	char ex[64];

	free(s->exec);
	s->exec = cmd;
	if (!*cmd)
		return bad(L, n, "empty command");
	if (strlen(cmd) > EXEC_MAX)
		return bad(L, n, "command is longer than %d bytes", EXEC_MAX);
	if (cmd[0] != '/') {
		cmd[first] = '\0';
		bad(L, n, "\"%s\" is not an absolute path: nothing searches "
		    "PATH in the image", excerpt(cmd, ex, sizeof(ex)));
		return -1;
	}
	return 0;
}

static int env_name_ok(const char *s)
{
	return charset_ok(s, LOWER UPPER "_", LOWER UPPER DIGITS "_", 128);
}

static int build_env(struct load *L, xmlNodePtr n, struct service *s)
{
	const char *name = attr(n, "name");
	char ex[64];

	if (s->n_env == SPEC_MAX_ENV)
		return bad(L, n, "more than %d variables", SPEC_MAX_ENV);
	if (!env_name_ok(name))
		return bad(L, n, "name \"%s\" is not a variable name "
			   "([A-Za-z_][A-Za-z0-9_]*)",
			   excerpt(name, ex, sizeof(ex)));
	for (size_t i = 0; i < s->n_env; i++)
		if (!strcmp(s->env[i].name, name))
			return bad(L, n, "\"%s\" is set twice", name);
	s->env = xrealloc(s->env, (s->n_env + 1) * sizeof(*s->env));
	s->env[s->n_env].name = xstrdup(name);
	s->env[s->n_env].value = xstrdup(attr(n, "value"));
	s->n_env++;
	return 0;
}

static int build_limits(struct load *L, xmlNodePtr n, struct limits *lim)
{
	static const struct {
		const char *name;
		enum value_type type;
		uint64_t min, max;
		size_t off;
	} rules[] = {
		{ "memory", V_SIZE, LIMIT_MEM_MIN, BYTES_MAX,
		  offsetof(struct limits, memory) },
		{ "pids", V_COUNT, 1, PIDS_MAX, offsetof(struct limits, pids) },
		{ "nofile", V_COUNT, 1, NOFILE_MAX,
		  offsetof(struct limits, nofile) },
		{ "wall", V_DURATION, 1, DURATION_MAX,
		  offsetof(struct limits, wall) },
		{ "cpu", V_DURATION, 1, DURATION_MAX,
		  offsetof(struct limits, cpu) },
		{ "fsize", V_SIZE, 1, BYTES_MAX, offsetof(struct limits, fsize) },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (get_value(L, n, rules[i].name, rules[i].type, rules[i].min,
			      rules[i].max,
			      (uint64_t *)((char *)lim + rules[i].off)) < 0)
			return -1;
	return 0;
}

static int build_instances(struct load *L, xmlNodePtr n, struct service *s)
{
	int per_client;

	if (get_value(L, n, "max", V_COUNT, 1, INSTANCES_MAX,
		      &s->max_instances) < 0 ||
	    (per_client = get_value(L, n, "per-client", V_COUNT, 1,
				    INSTANCES_MAX, &s->per_client)) < 0 ||
	    get_value(L, n, "pool", V_COUNT, 0, INSTANCES_MAX, &s->pool) < 0)
		return -1;
	if (s->per_client > s->max_instances && per_client)
		return bad(L, n, "per-client %llu is more than max %llu",
			   (unsigned long long)s->per_client,
			   (unsigned long long)s->max_instances);
	if (s->per_client > s->max_instances)
		s->per_client = s->max_instances;
	if (s->pool > s->max_instances)
		return bad(L, n, "pool %llu is more than max %llu",
			   (unsigned long long)s->pool,
			   (unsigned long long)s->max_instances);
	return 0;
}

/* The schema allows only the names; spec.c's table must know each. */
static int build_network(struct load *L, xmlNodePtr n, struct service *s)
{
	char *v = text_of(n), ex[64];
	int ret = 0;

	char *unknown = NULL;

	if (network_parse(v, &s->network) < 0)
		ret = bad(L, n, "\"%s\" is not supported",
			  excerpt(v, ex, sizeof(ex)));
	else if (socket_families_parse(attr(n, "families"), &s->socket_families,
				       &unknown) < 0)
		ret = bad(L, n, "families: \"%s\" is not a socket family "
			  "(netlink, packet, vsock, ...: see imgtool-recipe(5))",
			  excerpt(unknown, ex, sizeof(ex)));
	free(unknown);
	free(v);
	return ret;
}

static int syscall_name_ok(const char *s)
{
	return charset_ok(s, LOWER "_", LOWER DIGITS "_", 64);
}

/* One <allow> or <deny>: a name, once, in one of the two lists. */
static int add_syscall(struct load *L, xmlNodePtr c, struct strv *mine,
		       const struct strv *other, size_t total)
{
	char *name = text_of(c);
	char ex[64];
	int ret = 0;

	if (!syscall_name_ok(name))
		ret = bad(L, c, "\"%s\" is not a system call name",
			  excerpt(name, ex, sizeof(ex)));
	else if (total >= RECIPE_MAX_SYSCALLS)
		ret = bad(L, c, "more than %d system calls", RECIPE_MAX_SYSCALLS);
	for (size_t i = 0; !ret && i < mine->n; i++)
		if (!strcmp(mine->v[i], name))
			ret = bad(L, c, "\"%s\" is listed twice", name);
	for (size_t i = 0; !ret && i < other->n; i++)
		if (!strcmp(other->v[i], name))
			ret = bad(L, c, "\"%s\" is both allowed and denied",
				  name);
	if (ret < 0)
		free(name);
	else
		strv_push(mine, name);
	return ret;
}

static int build_syscalls(struct load *L, xmlNodePtr n, struct service *s)
{
	struct strv allow = { 0 }, deny = { 0 };
	int ret = 0;

	s->has_syscalls = 1;
	/* The schema allows only the names; absent is kill. */
	if (syscall_action_parse(attr(n, "default"), &s->syscall_default) < 0)
		s->syscall_default = SYSCALL_KILL;
	if (attr(n, "errno") && s->syscall_default != SYSCALL_ERRNO)
		ret = bad(L, n, "errno is only for default=\"errno\"");
	else if (s->syscall_default == SYSCALL_ERRNO) {
		uint64_t v;

		ret = default_value(L, "errno", RNG_DEFAULT_syscalls_errno,
				    V_COUNT, &v);
		if (ret == 0)
			ret = get_value(L, n, "errno", V_COUNT, 1, ERRNO_MAX, &v);
		s->syscall_errno = (int)v;
	}
	for (xmlNodePtr c = n->children; c && ret >= 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp((const char *)c->name, "allow"))
			ret = add_syscall(L, c, &allow, &deny, allow.n + deny.n);
		else
			ret = add_syscall(L, c, &deny, &allow, allow.n + deny.n);
	}
	s->syscalls_allow = allow.v ? allow.v : xcalloc(1, sizeof(char *));
	s->syscalls_deny = deny.v ? deny.v : xcalloc(1, sizeof(char *));
	if (ret >= 0) {
		/* Names libseccomp does not know, or that the runtime's
		 * baseline refuses, are found here rather than at serve. */
		struct error e = { 0 };

		const char *pfx = "syscalls: ";

		if (seccomp_check(s, &e) < 0)
			ret = bad(L, n, "%s", strncmp(e.msg, pfx, strlen(pfx)) ?
				  e.msg : e.msg + strlen(pfx));
	}
	return ret < 0 ? -1 : 0;
}

static int build_service_child(struct load *L, xmlNodePtr c,
			       struct service *s)
{
	const char *name = (const char *)c->name;

	if (!strcmp(name, "exec"))
		return build_exec(L, c, s);
	if (!strcmp(name, "env"))
		return build_env(L, c, s);
	if (!strcmp(name, "limits"))
		return build_limits(L, c, &s->limits);
	if (!strcmp(name, "instances"))
		return build_instances(L, c, s);
	if (!strcmp(name, "network"))
		return build_network(L, c, s);
	return build_syscalls(L, c, s);
}

/* The service user: a user of the recipe, and so never root. */
static int get_service_user(struct load *L, xmlNodePtr n, struct service *s,
			    const struct user **out)
{
	const char *name = attr(n, "user");
	const struct user *u = recipe_user(L->r, name);
	char ex[64];

	excerpt(name, ex, sizeof(ex));
	if (!strcmp(name, "root") || (u && u->uid == 0))
		return bad(L, n, "user \"%s\": the service never runs as root",
			   ex);
	if (is_number(name))
		return bad(L, n, "user \"%s\": name a user of the recipe, not a "
			   "uid", ex);
	if (!u)
		return bad(L, n, "user \"%s\" is not a user of this recipe", ex);
	s->user = xstrdup(name);
	s->uid = u->uid;
	s->gid = u->gid;
	*out = u;
	return 0;
}

/* The schema allows only names of this table; 0 for another. */
static int signal_number(const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (!strcmp(name, sigs[i].name))
			return sigs[i].sig;
	return 0;
}

/* A value of the schema's list that spec.c or signal_number() lacks. */
static int unsupported(struct load *L, xmlNodePtr n, const char *name,
		       const char *value)
{
	char ex[64];

	return bad(L, n, "%s \"%s\" is not supported", name,
		   excerpt(value, ex, sizeof(ex)));
}

/* recycle and stop-signal, and the timings that go with them. */
static int get_recycle(struct load *L, xmlNodePtr n, struct service *s)
{
	const char *recycle = attr(n, "recycle");
	const char *stop = attr(n, "stop-signal");
	int idle, period;

	if (!recycle)
		recycle = RNG_DEFAULT_service_recycle;
	if (!stop)
		stop = RNG_DEFAULT_service_stop_signal;
	if (recycle_parse(recycle, &s->recycle) < 0)
		return unsupported(L, n, "recycle", recycle);
	if (!(s->stop_signal = signal_number(stop)))
		return unsupported(L, n, "stop-signal", stop);
	if (default_value(L, "idle", RNG_DEFAULT_service_idle, V_DURATION,
			  &s->idle) < 0 ||
	    default_value(L, "grace", RNG_DEFAULT_service_grace, V_DURATION,
			  &s->grace) < 0)
		return -1;
	if ((idle = get_value(L, n, "idle", V_DURATION, 1, IDLE_MAX,
			      &s->idle)) < 0 ||
	    (period = get_value(L, n, "period", V_DURATION, 1, DURATION_MAX,
				&s->period)) < 0 ||
	    get_value(L, n, "grace", V_DURATION, 0, GRACE_MAX, &s->grace) < 0)
		return -1;
	if (s->recycle == RECYCLE_INTERVAL && !period)
		return bad(L, n, "recycle=\"interval\" needs a period (such as "
			   "period=\"24h\")");
	if (s->recycle != RECYCLE_INTERVAL && period)
		return bad(L, n, "period is only for recycle=\"interval\"");
	if (s->recycle != RECYCLE_SESSION && idle)
		return bad(L, n, "idle is only for recycle=\"session\"");
	return 0;
}

static int build_service(struct load *L, xmlNodePtr n)
{
	struct service *s = &L->r->service;
	const struct user *u = NULL;
	const char *listen = attr(n, "listen");

	s->present = 1;
	s->at = origin_of(L, n);
	/* What <instances> and <network> say when they are left out. */
	if (default_value(L, "max", RNG_DEFAULT_instances_max, V_COUNT,
			  &s->max_instances) < 0 ||
	    default_value(L, "per-client", RNG_DEFAULT_instances_per_client,
			  V_COUNT, &s->per_client) < 0 ||
	    default_value(L, "pool", RNG_DEFAULT_instances_pool, V_COUNT,
			  &s->pool) < 0)
		return -1;
	if (network_parse(RNG_DEFAULT_TEXT_network, &s->network) < 0)
		return fail(L, "recipe schema: the default network \"%s\" is "
			    "not known", RNG_DEFAULT_TEXT_network);
	if (get_service_user(L, n, s, &u) < 0 || get_recycle(L, n, s) < 0)
		return -1;
	if (listen && check_listen(L, n, listen) < 0)
		return -1;
	s->listen = listen ? xstrdup(listen) : NULL;
	if (get_path(L, n, "workdir", 1, &s->workdir) < 0)
		return -1;
	if (!s->workdir)
		s->workdir = xstrdup(u->home);
	if (get_path(L, n, "stderr", 0, &s->stderr_path) < 0)
		return -1;
	if (s->stderr_path &&
	    !writable_holding(L->r->writables, L->r->n_writables, s->stderr_path))
		return bad(L, n, "stderr \"%s\" is in no log or state area: "
			   "standard error can only go to a file in one",
			   s->stderr_path);
	for (xmlNodePtr c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    build_service_child(L, c, s) < 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Build: outputs and the recipe                                       */

static int build_vm(struct load *L, xmlNodePtr n)
{
	struct recipe *r = L->r;
	const char *format = attr(n, "format");
	unsigned f;

	if (!format)
		format = RNG_DEFAULT_vm_format;
	if (!(f = format_parse(format)))
		return unsupported(L, n, "format", format);
	r->formats |= f;
	if (default_value(L, "memory", RNG_DEFAULT_vm_memory, V_SIZE,
			  &r->vm.memory) < 0 ||
	    default_value(L, "vcpus", RNG_DEFAULT_vm_vcpus, V_COUNT,
			  &r->vm.vcpus) < 0)
		return -1;
	if (get_value(L, n, "memory", V_SIZE, VM_MEM_MIN, BYTES_MAX,
		      &r->vm.memory) < 0 ||
	    get_value(L, n, "vcpus", V_COUNT, 1, VCPUS_MAX, &r->vm.vcpus) < 0)
		return -1;
	return get_path(L, n, "kernel", 0, &r->vm.kernel);
}

static int build_outputs(struct load *L, xmlNodePtr n)
{
	struct recipe *r = L->r;

	for (xmlNodePtr c = n->children; c; c = c->next) {
		const char *format;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)c->name, "jail")) {
			if (build_vm(L, c) < 0)
				return -1;
			continue;
		}
		format = attr(c, "format");
		if (r->formats & format_parse(format))
			return bad(L, c, "format \"%s\" is listed twice",
				   format);
		r->formats |= format_parse(format);
	}
	if (!r->formats)
		return bad(L, n, "no output: add a jail or a vm");
	return 0;
}

static int recipe_name_ok(const char *s)
{
	return charset_ok(s, LOWER DIGITS, LOWER DIGITS "_.-", 64);
}

static int build_part(struct load *L, xmlNodePtr c)
{
	const char *name = (const char *)c->name;

	if (!strcmp(name, "contents"))
		return build_contents(L, c);
	if (!strcmp(name, "writable"))
		return build_writable(L, c);
	if (!strcmp(name, "service"))
		return build_service(L, c);
	return build_outputs(L, c);
}

static int build_recipe(struct load *L)
{
	struct recipe *r = L->r;
	xmlNodePtr root = xmlDocGetRootElement(L->doc);
	const char *name = attr(root, "name");
	char ex[64];

	if (!recipe_name_ok(name))
		return bad(L, root, "name \"%s\" is not a valid name (at most "
			   "64 of a-z, 0-9, \"_\", \".\" and \"-\", starting "
			   "with a letter or a digit)",
			   excerpt(name, ex, sizeof(ex)));
	r->name = xstrdup(name);
	r->version = xstrdup(attr(root, "version"));
	for (xmlNodePtr c = root->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && build_part(L, c) < 0)
			return -1;
	if (!r->formats)
		r->formats = FORMAT_EROFS;
	default_writable_owners(r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checks across elements                                              */

static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* An ancestor of c that cannot have c below it. */
static int check_ancestor(struct load *L, const struct claim *c,
			  const struct claim *a)
{
	if (a->kind == CLAIM_SYMLINK)
		return bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" is "
			      "under \"%s\", which is a symlink (%s:%d)",
			      c->path, a->path, a->at.file, a->at.line);
	if (a->kind == CLAIM_LEAF)
		return bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" is "
			      "under \"%s\", which is not a directory (%s at "
			      "%s:%d)", c->path, a->path, a->what, a->at.file,
			      a->at.line);
	if (a->kind == CLAIM_WRITABLE && c->kind == CLAIM_WRITABLE)
		return bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" "
			      "overlaps the writable area \"%s\" (%s:%d)",
			      c->path, a->path, a->at.file, a->at.line);
	if (a->kind == CLAIM_WRITABLE)
		return bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" is "
			      "inside the writable area \"%s\" (%s:%d), which "
			      "would hide it", c->path, a->path, a->at.file,
			      a->at.line);
	return 0;
}

/* The path's own place: not /proc or /dev, nothing odd above it. */
static int check_claim_place(struct load *L, xmlHashTablePtr h,
			     const struct claim *c)
{
	char buf[PATH_MAX];
	char *slash;

	if (under(c->path, "/proc") || under(c->path, "/dev"))
		return bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" is "
			      "under %s, which the runtime mounts", c->path,
			      under(c->path, "/proc") ? "/proc" : "/dev");
	snprintf(buf, sizeof(buf), "%s", c->path);
	while ((slash = strrchr(buf, '/')) && slash != buf) {
		const struct claim *a;

		*slash = '\0';
		a = xmlHashLookup(h, (const xmlChar *)buf);
		if (a && check_ancestor(L, c, a) < 0)
			return -1;
	}
	return 0;
}

/*
 * One path, one claim; then, for each claim, what is above it: nothing
 * below a symlink or a file, items not hidden inside a writable area, and
 * writable areas that do not nest.
 */
static int check_claims(struct load *L)
{
	xmlHashTablePtr h = xmlHashCreate((int)L->n_claims + 1);
	int ret = 0;

	if (!h)
		return fail(L, "out of memory");
	for (size_t i = 0; i < L->n_claims && !ret; i++) {
		const struct claim *c = &L->claims[i], *o;

		if (xmlHashAddEntry(h, (const xmlChar *)c->path,
				    (void *)c) == 0)
			continue;
		o = xmlHashLookup(h, (const xmlChar *)c->path);
		ret = bad_at(L, c->at.file, c->at.line, c->what, "\"%s\" is "
			     "already claimed by %s at %s:%d", c->path,
			     o->what, o->at.file, o->at.line);
	}
	for (size_t i = 0; i < L->n_claims && !ret; i++)
		ret = check_claim_place(L, h, &L->claims[i]);
	xmlHashFree(h, NULL);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Canonical form                                                      */

/* Comments, processing instructions and indentation change no image. */
static void strip_for_digest(xmlNodePtr parent, int keep_text)
{
	xmlNodePtr c, next;

	for (c = parent->children; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT_NODE) {
			const struct elem_rule *rule = elem_rule(c);

			strip_for_digest(c, rule && rule->text);
		} else if (c->type == XML_COMMENT_NODE || c->type == XML_PI_NODE ||
			   (c->type == XML_TEXT_NODE && !keep_text)) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
	}
}

static int make_canonical(struct load *L)
{
	struct recipe *r = L->r;
	xmlChar *out = NULL;
	int n;

	strip_for_digest((xmlNodePtr)L->doc, 0);
	n = xmlC14NDocDumpMemory(L->doc, NULL, XML_C14N_1_0, NULL, 0, &out);
	if (n < 0 || !out) {
		xmlFree(out);
		return fail(L, "%s: cannot write the canonical form", r->path);
	}
	r->canonical = xstrndup((const char *)out, (size_t)n);
	r->canonical_len = (size_t)n;
	xmlFree(out);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The API                                                             */

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static void free_load(struct load *L)
{
	while (L->files) {
		struct src_file *next = L->files->next;

		free(L->files);
		L->files = next;
	}
	free(L->claims);
	xmlFreeDoc(L->doc);
}

struct recipe *recipe_load(const char *path, const char *schema_path,
			   struct error *e)
{
	struct error spare;
	struct load L = { 0 };
	struct hooks h;
	int ok;

	L.e = e ? e : &spare;
	L.e->msg[0] = '\0';
	L.e->status = 0;
	if (!path || !*path) {
		error_set(L.e, "no recipe file given");
		return NULL;
	}
	L.r = xcalloc(1, sizeof(*L.r));
	L.r->path = xstrdup(path);
	L.r->dir = dir_of(path);
	hooks_install(&h, &L);
	ok = load_recipe_file(&L) == 0 &&
	     expand_includes(&L, (xmlNodePtr)L.doc) == 0 &&
	     lint_document(&L) == 0 &&
	     validate_schema(&L, schema_path) == 0 &&
	     build_recipe(&L) == 0 &&
	     check_claims(&L) == 0 &&
	     make_canonical(&L) == 0;
	hooks_restore(&h);
	free_load(&L);
	if (ok)
		return L.r;
	recipe_free(L.r);
	return NULL;
}

static void free_strings(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}


void recipe_free(struct recipe *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		free(r->items[i].path);
		free(r->items[i].src);
		free(r->items[i].text);
		free(r->items[i].target);
		free(r->items[i].mode_spec);
	}
	free(r->items);
	for (size_t i = 0; i < r->n_users; i++) {
		free(r->users[i].name);
		free(r->users[i].home);
		free(r->users[i].shell);
	}
	free(r->users);
	for (size_t i = 0; i < r->n_groups; i++) {
		free(r->groups[i].name);
		free_strings(r->groups[i].members);
	}
	free(r->groups);
	for (size_t i = 0; i < r->n_writables; i++)
		free(r->writables[i].path);
	free(r->writables);
	service_free(&r->service);
	free(r->vm.kernel);
	free(r->canonical);
	free(r->name);
	free(r->version);
	free(r->path);
	free(r->dir);
	strv_free(&r->inputs);
	free(r);
}

const struct user *recipe_user(const struct recipe *r, const char *name)
{
	for (size_t i = 0; r && name && i < r->n_users; i++)
		if (!strcmp(r->users[i].name, name))
			return &r->users[i];
	return NULL;
}

/*
 * IMGTOOL_SCHEMA, else build/share/recipe.rng when running from a developer
 * build (build/bin/imgtool), else the installed copy.
 */
const char *recipe_schema_path(void)
{
	static char *path;

	/* build/bin/imgtool and build/share/recipe.rng; PREFIX/bin/imgtool and
	 * PREFIX/share/imgtool/recipe.rng. */
	if (!path)
		path = locate_file("IMGTOOL_SCHEMA", "../share/recipe.rng",
				   "../share/imgtool/recipe.rng",
				   IMGTOOL_DATADIR "/recipe.rng");
	return path;
}
