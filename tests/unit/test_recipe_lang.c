/*
 * Unit tests for the one source of the recipe language, builder/recipe.rng.
 *
 * recipe.c's lint table and defaults are generated from the schema
 * (tools/rnglang -> build/gen/recipe_lang.gen.h); this test includes the
 * same generated header and checks the two hand-written descriptions of
 * the language against it, element by element and attribute by attribute:
 *
 * docs/recipe.md
 *   - every element has one section: a heading with a code span that
 *     starts "<NAME" (several elements may share a heading); a heading's
 *     synopsis, when it lists attributes (`<dir path="..." [mode]/>`),
 *     lists exactly the schema's, required ones as name="...", optional
 *     ones as [name];
 *   - an element with attributes has a table whose header starts
 *     "| attribute |" and has a "default" column, with one row for each
 *     attribute of the schema and none for any other; the default cell of
 *     a required attribute starts with "required", that of an attribute
 *     with a schema default starts with that default as a code span, and
 *     that of an optional attribute without one is words (neither);
 *     every enumerated value is in the row as a code span;
 *   - an element with a default text (im:defaultText) says "`V` (the
 *     default)" in its section; no other section says "(the default)";
 *     every enumerated text is in the section as a code span;
 *   - no heading names an element the schema lacks.
 *
 * docs/man/imgtool-recipe.5
 *   - every element has one synopsis: a ".SS <NAME ...>" line, or a
 *     ".B <NAME ...>" line after ".TP"; it lists exactly the schema's
 *     attributes: required ones bare, optional ones as [name], and
 *     optional ones with a schema default as [name=DEFAULT];
 *   - every enumerated value (attribute or text) is a word of the
 *     element's part of the page (up to the next synopsis or section), and
 *     a default text is said "V (the default)" there;
 *   - no synopsis names an element the schema lacks.
 *
 * Then the checks are shown to catch drift: each of a set of small edits
 * of the real pages (a default changed, an attribute renamed or dropped, a
 * value left out, an element made up) must make them fail. Last, a cross
 * check of the generator: the schema's elements and a:defaultValue
 * annotations, read here directly with libxml2, are those of the table.
 *
 * The pages are read from the source tree (the current directory, else
 * the one two levels above this program); RECIPE_MD and RECIPE_MAN name
 * other files to check, for trying a change.
 */
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tap.h"
#include "recipe_lang.h"
#include "recipe_lang.gen.h"

#define ANN_NS	"http://relaxng.org/ns/compatibility/annotations/1.0"
#define RNG_NS	"http://relaxng.org/ns/structure/1.0"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

struct problems {
	char **v;
	size_t n;
};

static void problem(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void problem(struct problems *p, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	p->v = realloc(p->v, (p->n + 1) * sizeof(*p->v));
	if (!p->v)
		abort();
	p->v[p->n++] = s;
}

static void problems_free(struct problems *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* ok() for a check: passes with no problems, shows them otherwise. */
static void report(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report(struct problems *p, const char *fmt, ...)
{
	char name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	ok(p->n == 0, "%s", name);
	for (size_t i = 0; i < p->n; i++)
		printf("#   %s\n", p->v[i]);
	problems_free(p);
}

static int has_problem(const struct problems *p, const char *needle)
{
	for (size_t i = 0; i < p->n; i++)
		if (strstr(p->v[i], needle))
			return 1;
	return 0;
}

/* Copies src into dst[size], cut short if need be. */
static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static char *xstrndup_(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		abort();
	return d;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *data = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[8192];

	if (!f) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			data = realloc(data, cap);
			if (!data)
				abort();
		}
		memcpy(data + len, chunk, n);
		len += n;
	}
	fclose(f);
	if (!data)
		data = calloc(1, 1);
	data[len] = '\0';
	return data;
}

/* The lines of a text, as copies. */
struct lines {
	char **v;
	size_t n;
};

static struct lines split_lines(const char *text)
{
	struct lines l = { 0 };

	for (const char *p = text; *p; ) {
		size_t n = strcspn(p, "\n");

		l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
		if (!l.v)
			abort();
		l.v[l.n++] = xstrndup_(p, n);
		p += n + (p[n] == '\n');
	}
	return l;
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Calls fn on each "a|b|c" value; stops at a non-zero return. */
static int each_value(const char *values, int (*fn)(const char *, void *),
		      void *arg)
{
	char buf[256];

	for (const char *p = values; p && *p; ) {
		size_t k = strcspn(p, "|");

		snprintf(buf, sizeof(buf), "%.*s", (int)k, p);
		if (fn(buf, arg))
			return 1;
		p += k + (p[k] == '|');
	}
	return 0;
}

static const struct elem_rule *find_elem(const char *name)
{
	for (const struct elem_rule *e = elem_rules; e->name; e++)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

static const struct attr_rule *find_attr(const struct elem_rule *e,
					 const char *name)
{
	for (const struct attr_rule *a = e->attrs; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

static size_t n_attrs(const struct elem_rule *e)
{
	size_t n = 0;

	while (e->attrs[n].name)
		n++;
	return n;
}

/* The element name after "<" at s ([a-z0-9_-]+, and ':' for xi:...). */
static size_t elem_name_len(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-:");
}

/* ------------------------------------------------------------------ */
/* Synopses: "<name a="..." [b] [c=V]/>" (md) or "<name a [b] [c=V]/>"  */

struct syn_attr {
	char name[64];
	int required;
	int has_dflt;
	char dflt[128];
};

struct synopsis {
	char elem[64];
	struct syn_attr attrs[32];
	size_t n;
	int unspecified;	/* "...": the attributes are not listed */
};

/*
 * Parses the synopsis that starts at s ("<name"). md: required attributes
 * are written name="...", man: bare. Returns 0, or -1 with a problem.
 */
static int parse_synopsis(const char *s, int md, struct synopsis *syn,
			  struct problems *p)
{
	size_t n = elem_name_len(s + 1);
	const char *q = s + 1 + n;

	memset(syn, 0, sizeof(*syn));
	snprintf(syn->elem, sizeof(syn->elem), "%.*s", (int)n, s + 1);
	for (;;) {
		struct syn_attr *a;
		size_t k;

		q += strspn(q, " ");
		if (!*q || *q == '>' || (q[0] == '/' && q[1] == '>'))
			return 0;
		if (!strncmp(q, "...", 3)) {
			syn->unspecified = 1;
			q += 3;
			continue;
		}
		if (syn->n == sizeof(syn->attrs) / sizeof(syn->attrs[0])) {
			problem(p, "<%s>: synopsis too long", syn->elem);
			return -1;
		}
		a = &syn->attrs[syn->n];
		if (*q == '[') {
			const char *end = strchr(q, ']'), *eq;

			if (!end) {
				problem(p, "<%s>: synopsis: \"[\" without \"]\"",
					syn->elem);
				return -1;
			}
			eq = memchr(q, '=', (size_t)(end - q));
			k = (size_t)((eq ? eq : end) - (q + 1));
			snprintf(a->name, sizeof(a->name), "%.*s", (int)k, q + 1);
			if (eq) {
				a->has_dflt = 1;
				snprintf(a->dflt, sizeof(a->dflt), "%.*s",
					 (int)(end - eq - 1), eq + 1);
			}
			q = end + 1;
		} else {
			k = strcspn(q, " =/>");
			snprintf(a->name, sizeof(a->name), "%.*s", (int)k, q);
			a->required = 1;
			q += k;
			if (md) {
				if (strncmp(q, "=\"...\"", 6)) {
					problem(p, "<%s>: synopsis: required "
						"attribute %s is not written "
						"%s=\"...\"", syn->elem,
						a->name, a->name);
					return -1;
				}
				q += 6;
			}
		}
		if (!a->name[0]) {
			problem(p, "<%s>: synopsis: cannot read \"%s\"",
				syn->elem, q);
			return -1;
		}
		syn->n++;
	}
}

/* A synopsis against the schema: the same attributes, each as it is. */
static void check_synopsis(const struct synopsis *syn,
			   const struct elem_rule *e, int md,
			   const char *where, struct problems *p)
{
	if (syn->unspecified || (md && syn->n == 0))
		return;
	for (size_t i = 0; i < syn->n; i++) {
		const struct syn_attr *s = &syn->attrs[i];
		const struct attr_rule *a = find_attr(e, s->name);

		if (!a) {
			problem(p, "<%s>: %s lists attribute %s, which the "
				"schema lacks", e->name, where, s->name);
			continue;
		}
		if (a->required && !s->required)
			problem(p, "<%s>: %s shows required attribute %s as "
				"optional", e->name, where, a->name);
		if (!a->required && s->required)
			problem(p, "<%s>: %s shows optional attribute %s as "
				"required", e->name, where, a->name);
		if (md && s->has_dflt)
			problem(p, "<%s>: %s: a default in a heading (%s=%s); "
				"defaults go in the table", e->name, where,
				s->name, s->dflt);
		if (md || a->required)
			continue;
		if (a->dflt && !s->has_dflt)
			problem(p, "<%s>: %s: attribute %s has the default "
				"%s in the schema; write [%s=%s]", e->name,
				where, a->name, a->dflt, a->name, a->dflt);
		else if (a->dflt && strcmp(a->dflt, s->dflt))
			problem(p, "<%s>: %s says %s=%s; the schema's default "
				"is %s", e->name, where, a->name, s->dflt,
				a->dflt);
		else if (!a->dflt && s->has_dflt)
			problem(p, "<%s>: %s says %s=%s; the schema has no "
				"default for it", e->name, where, a->name,
				s->dflt);
	}
	for (const struct attr_rule *a = e->attrs; a->name; a++) {
		size_t i;

		for (i = 0; i < syn->n; i++)
			if (!strcmp(syn->attrs[i].name, a->name))
				break;
		if (i == syn->n)
			problem(p, "<%s>: %s does not list attribute %s",
				e->name, where, a->name);
	}
}

/* ------------------------------------------------------------------ */
/* docs/recipe.md                                                      */

/* The code spans of a line, as copies. */
static size_t code_spans(const char *line, char spans[][256], size_t max)
{
	size_t n = 0;

	for (const char *p = strchr(line, '`'); p && n < max; ) {
		const char *end = strchr(p + 1, '`');

		if (!end)
			break;
		snprintf(spans[n++], 256, "%.*s", (int)(end - p - 1), p + 1);
		p = strchr(end + 1, '`');
	}
	return n;
}

static int is_heading(const char *line)
{
	return line[0] == '#';
}

/* The elements a heading names: its code spans that start "<name". */
static size_t heading_elems(const char *line, char names[][64], size_t max,
			    char spans[][256])
{
	char all[16][256];
	size_t n = 0, k = code_spans(line, all, 16);

	for (size_t i = 0; i < k && n < max; i++) {
		size_t len;

		if (all[i][0] != '<' || !(len = elem_name_len(all[i] + 1)))
			continue;
		snprintf(names[n], 64, "%.*s", (int)len, all[i] + 1);
		if (strchr(names[n], ':'))
			continue;	/* xi:include: XInclude's, not ours */
		copy(spans[n], 256, all[i]);
		n++;
	}
	return n;
}

/* The cells of a table row "| a | b |", trimmed, as copies. */
static size_t row_cells(const char *line, char cells[][512], size_t max)
{
	size_t n = 0;
	const char *p = line + 1;	/* after the first '|' */

	while (*p && n < max) {
		size_t k = strcspn(p, "|");
		const char *s = p, *e = p + k;

		if (!p[k])
			break;		/* text after the last '|' */
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		snprintf(cells[n++], 512, "%.*s", (int)(e - s), s);
		p += k + 1;
	}
	return n;
}

struct md_section {
	size_t heading, end;	/* lines [heading, end) */
	char span[256];		/* the heading's code span of the element */
};

/* Finds the section of element name; returns how many it has. */
static int md_find(const struct lines *l, const char *name,
		   struct md_section *out)
{
	int found = 0;

	for (size_t i = 0; i < l->n; i++) {
		char names[8][64], spans[8][256];
		size_t k;

		if (!is_heading(l->v[i]))
			continue;
		k = heading_elems(l->v[i], names, 8, spans);
		for (size_t j = 0; j < k; j++) {
			if (strcmp(names[j], name))
				continue;
			if (!found++) {
				out->heading = i;
				copy(out->span, sizeof(out->span), spans[j]);
			}
		}
	}
	if (found) {
		size_t e = out->heading + 1;

		while (e < l->n && !is_heading(l->v[e]))
			e++;
		out->end = e;
	}
	return found;
}

struct value_check {
	const char *text;	/* where each value must be a code span */
	const char *what;
	const char *elem;
	struct problems *p;
	int md;
};

/* A value is in text as `v` (md) or as a word (man). */
static int has_value(const char *text, const char *v, int md)
{
	size_t n = strlen(v);

	for (const char *q = strstr(text, v); q; q = strstr(q + 1, v)) {
		char before = q == text ? ' ' : q[-1], after = q[n];

		if (md && before == '`' && after == '`')
			return 1;
		if (!md && !strchr("abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
				   before) &&
		    !strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", after))
			return 1;
	}
	return 0;
}

static int value_documented(const char *v, void *arg)
{
	struct value_check *c = arg;

	if (!has_value(c->text, v, c->md))
		problem(c->p, "<%s>: %s: value %s is not documented", c->elem,
			c->what, v);
	return 0;
}

/* The first code span of s, or NULL if s does not start with one. */
static const char *leading_span(const char *s, char *buf, size_t size)
{
	const char *end;

	if (s[0] != '`' || !(end = strchr(s + 1, '`')))
		return NULL;
	snprintf(buf, size, "%.*s", (int)(end - s - 1), s + 1);
	return buf;
}

/* One attribute table row against the schema. */
static void md_row(const struct elem_rule *e, const struct attr_rule *a,
		   const char *row, const char *cell, struct problems *p)
{
	struct value_check vc = { row, a->name, e->name, p, 1 };
	char buf[256];
	const char *span = leading_span(cell, buf, sizeof(buf));

	if (a->required && strncmp(cell, "required", 8))
		problem(p, "<%s>: attribute %s is required in the schema; its "
			"default cell says \"%s\"", e->name, a->name, cell);
	else if (!a->required && !strncmp(cell, "required", 8))
		problem(p, "<%s>: attribute %s is optional in the schema; its "
			"default cell says \"%s\"", e->name, a->name, cell);
	else if (a->dflt && (!span || strcmp(span, a->dflt)))
		problem(p, "<%s>: attribute %s has the default `%s` in the "
			"schema; its default cell says \"%s\"", e->name,
			a->name, a->dflt, cell);
	else if (!a->required && !a->dflt && span)
		problem(p, "<%s>: attribute %s has no default in the schema; "
			"its default cell says \"%s\"", e->name, a->name, cell);
	each_value(a->values, value_documented, &vc);
}

/* The element's attribute tables against the schema. */
static void md_tables(const struct lines *l, const struct md_section *s,
		      const struct elem_rule *e, struct problems *p)
{
	const char *seen[32] = { 0 };
	size_t n_seen = 0;
	int tables = 0;

	for (size_t i = s->heading + 1; i < s->end; i++) {
		char cells[8][512];
		size_t k, dcol = 0;

		if (l->v[i][0] != '|' || l->v[i - 1][0] == '|')
			continue;	/* not the header of a table */
		k = row_cells(l->v[i], cells, 8);
		if (k == 0 || strcmp(cells[0], "attribute"))
			continue;
		tables++;
		for (size_t c = 1; c < k; c++)
			if (!strcmp(cells[c], "default"))
				dcol = c;
		if (!dcol)
			problem(p, "<%s>: its attribute table has no default "
				"column", e->name);
		for (i += 2; i < s->end && l->v[i][0] == '|'; i++) {
			char spans[8][256];
			size_t rk = row_cells(l->v[i], cells, 8);
			size_t ns = rk ? code_spans(cells[0], spans, 8) : 0;

			if (ns == 0)
				problem(p, "<%s>: a row names no attribute: %s",
					e->name, l->v[i]);
			for (size_t j = 0; j < ns; j++) {
				const struct attr_rule *a =
					find_attr(e, spans[j]);

				if (!a) {
					problem(p, "<%s>: the table documents "
						"attribute %s, which the schema "
						"lacks", e->name, spans[j]);
					continue;
				}
				for (size_t m = 0; m < n_seen; m++)
					if (seen[m] == a->name)
						problem(p, "<%s>: attribute %s "
							"is in the table twice",
							e->name, a->name);
				if (n_seen < 32)
					seen[n_seen++] = a->name;
				if (dcol && dcol < rk)
					md_row(e, a, l->v[i], cells[dcol], p);
			}
		}
		i--;
	}
	if (!n_attrs(e) && tables)
		problem(p, "<%s>: an attribute table, and the schema gives it "
			"no attributes", e->name);
	if (n_attrs(e) && !tables)
		problem(p, "<%s>: no attribute table (| attribute | default | "
			"... |)", e->name);
	for (const struct attr_rule *a = e->attrs; a->name; a++) {
		size_t m;

		for (m = 0; m < n_seen; m++)
			if (seen[m] == a->name)
				break;
		if (m == n_seen && tables)
			problem(p, "<%s>: attribute %s is not in its table",
				e->name, a->name);
	}
}

/* The section's text, joined. */
static char *join(const struct lines *l, size_t from, size_t to)
{
	size_t len = 1;
	char *s;

	for (size_t i = from; i < to; i++)
		len += strlen(l->v[i]) + 1;
	s = calloc(1, len);
	if (!s)
		abort();
	for (size_t i = from; i < to; i++) {
		strcat(s, l->v[i]);
		strcat(s, "\n");
	}
	return s;
}

/* The element's text: its values, and its default said once. */
static void check_text(const struct elem_rule *e, const char *text, int md,
		       struct problems *p)
{
	struct value_check vc = { text, "text", e->name, p, md };
	char want[160];
	const char *d = strstr(text, "(the default)");

	each_value(e->values, value_documented, &vc);
	if (e->text_dflt) {
		snprintf(want, sizeof(want), md ? "`%s` (the default)" :
			 "%s (the default)", e->text_dflt);
		if (!strstr(text, want))
			problem(p, "<%s>: the schema's default text is %s; "
				"the page does not say \"%s\"", e->name,
				e->text_dflt, want);
	} else if (d) {
		problem(p, "<%s>: the page names a default text, and the "
			"schema has none", e->name);
	}
}

static void check_md_elem(const struct lines *l, const struct elem_rule *e,
			  struct problems *p)
{
	struct md_section s;
	struct synopsis syn;
	int n = md_find(l, e->name, &s);
	char *text;

	if (n == 0) {
		problem(p, "<%s> has no section (a heading with `<%s ...>`)",
			e->name, e->name);
		return;
	}
	if (n > 1)
		problem(p, "<%s> is in %d headings", e->name, n);
	if (parse_synopsis(s.span, 1, &syn, p) == 0)
		check_synopsis(&syn, e, 1, "its heading", p);
	md_tables(l, &s, e, p);
	text = join(l, s.heading, s.end);
	check_text(e, text, 1, p);
	free(text);
}

/* Headings that name an element the schema lacks. */
static void check_md_extra(const struct lines *l, struct problems *p)
{
	for (size_t i = 0; i < l->n; i++) {
		char names[8][64], spans[8][256];
		size_t k;

		if (!is_heading(l->v[i]))
			continue;
		k = heading_elems(l->v[i], names, 8, spans);
		for (size_t j = 0; j < k; j++)
			if (!find_elem(names[j]))
				problem(p, "line %zu documents <%s>, which the "
					"schema lacks", i + 1, names[j]);
	}
}

/* ------------------------------------------------------------------ */
/* docs/man/imgtool-recipe.5                                           */

/* A roff line without its macro, fonts, escapes and quotes. */
static char *roff_text(const char *line)
{
	char *out = calloc(1, strlen(line) + 1), *o = out;
	const char *p = line;

	if (!out)
		abort();
	if (p[0] == '.' || p[0] == '\'') {
		p += strcspn(p, " ");
		p += strspn(p, " ");
	}
	for (; *p; p++) {
		if (*p == '"')
			continue;
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == 'f' && p[1]) {
			p++;		/* \fB \fI \fP \fR */
		} else if (*p == '-' || *p == 'e') {
			*o++ = *p == '-' ? '-' : '\\';
		} else if (*p == '&' || *p == ' ') {
			if (*p == ' ')
				*o++ = ' ';
		} else if (!*p) {
			break;
		}
	}
	*o = '\0';
	return out;
}

/* Line i is a synopsis: ".SS <...", or ".B <..." right after ".TP". */
static int man_synopsis_at(const struct lines *l, size_t i, char **syn)
{
	const char *s = l->v[i];
	int ss = !strncmp(s, ".SS <", 5);
	int b = !strncmp(s, ".B <", 4) && i > 0 && !strcmp(l->v[i - 1], ".TP");
	char *t;

	if (!ss && !b)
		return 0;
	t = roff_text(s);
	if (t[0] != '<' || !elem_name_len(t + 1)) {
		free(t);
		return 0;
	}
	*syn = t;
	return 1;
}

static int man_end_of_part(const struct lines *l, size_t i)
{
	char *t;

	if (!strncmp(l->v[i], ".SH", 3) || !strncmp(l->v[i], ".SS", 3))
		return 1;
	if (man_synopsis_at(l, i, &t)) {
		free(t);
		return 1;
	}
	return 0;
}

static void check_man_elem(const struct lines *l, const struct elem_rule *e,
			   struct problems *p)
{
	int found = 0;

	for (size_t i = 0; i < l->n; i++) {
		struct synopsis syn;
		char *t, *text;
		size_t end;

		if (!man_synopsis_at(l, i, &t))
			continue;
		if (parse_synopsis(t, 0, &syn, p) < 0 ||
		    strcmp(syn.elem, e->name)) {
			free(t);
			continue;
		}
		free(t);
		if (found++) {
			problem(p, "<%s> has a second synopsis at line %zu",
				e->name, i + 1);
			continue;
		}
		check_synopsis(&syn, e, 0, "its synopsis", p);
		for (end = i + 1; end < l->n && !man_end_of_part(l, end); end++)
			;
		/* The part's words, fonts and escapes removed. */
		{
			struct lines plain = { 0 };

			plain.v = calloc(end - i, sizeof(char *));
			if (!plain.v)
				abort();
			for (size_t k = i; k < end; k++)
				plain.v[plain.n++] = roff_text(l->v[k]);
			text = join(&plain, 0, plain.n);
			lines_free(&plain);
			/* Words run on across lines. */
			for (char *c = text; *c; c++)
				if (*c == '\n')
					*c = ' ';
		}
		for (const struct attr_rule *a = e->attrs; a->name; a++) {
			struct value_check vc = { text, a->name, e->name, p, 0 };

			each_value(a->values, value_documented, &vc);
		}
		check_text(e, text, 0, p);
		free(text);
	}
	if (!found)
		problem(p, "<%s> has no synopsis (.SS <%s ...> or .TP/.B "
			"<%s ...>)", e->name, e->name, e->name);
}

static void check_man_extra(const struct lines *l, struct problems *p)
{
	for (size_t i = 0; i < l->n; i++) {
		struct synopsis syn;
		struct problems ignore = { 0 };
		char *t;

		if (!man_synopsis_at(l, i, &t))
			continue;
		if (parse_synopsis(t, 0, &syn, &ignore) == 0 &&
		    !find_elem(syn.elem))
			problem(p, "line %zu documents <%s>, which the schema "
				"lacks", i + 1, syn.elem);
		problems_free(&ignore);
		free(t);
	}
}

/* ------------------------------------------------------------------ */
/* Whole pages                                                         */

enum page { MD, MAN };

/* Every check of a page; the problems of all its elements together. */
static void check_page(enum page pg, const char *text, struct problems *p)
{
	struct lines l = split_lines(text);

	for (const struct elem_rule *e = elem_rules; e->name; e++)
		if (pg == MD)
			check_md_elem(&l, e, p);
		else
			check_man_elem(&l, e, p);
	if (pg == MD)
		check_md_extra(&l, p);
	else
		check_man_extra(&l, p);
	lines_free(&l);
}

/* text with its first "from" replaced by "to"; NULL if there is none. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t n;
	char *out;

	if (!at)
		return NULL;
	n = strlen(text) - strlen(from) + strlen(to);
	out = malloc(n + 1);
	if (!out)
		abort();
	sprintf(out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return out;
}

struct drift {
	enum page page;
	const char *what;
	const char *from, *to;	/* the edit */
	const char *caught;	/* a problem it must cause says this */
};

static const struct drift drifts[] = {
	{ MD, "a default changed in a table",
	  "| `idle` | `60s` |", "| `idle` | `61s` |",
	  "attribute idle has the default `60s`" },
	{ MD, "a default given to an attribute the schema gives none",
	  "| `listen` | none |", "| `listen` | `0.0.0.0:80` |",
	  "attribute listen has no default" },
	{ MD, "a required attribute shown with a default",
	  "| `size` | required |", "| `size` | `16M` |",
	  "attribute size is required" },
	{ MD, "an attribute renamed",
	  "| `grace` |", "| `gracetime` |",
	  "attribute grace is not in its table" },
	{ MD, "an attribute the schema lacks",
	  "| `grace` |", "| `grace`, `linger` |",
	  "documents attribute linger, which the schema lacks" },
	{ MD, "an enumerated value left out",
	  "`USR1`", "USR1",
	  "value USR1 is not documented" },
	{ MD, "an element the schema lacks",
	  "### `<dir ", "### `<socket path=\"...\"/>`\n\nA socket.\n\n### `<dir ",
	  "documents <socket>, which the schema lacks" },
	{ MD, "an attribute left out of a heading's synopsis",
	  " [owner] [group]/>`", " [owner]/>`",
	  "heading does not list attribute group" },
	{ MD, "the default text changed",
	  "`none` (the default)", "`loopback` (the default)",
	  "default text is none" },
	{ MAN, "a default changed in a synopsis",
	  "[idle=60s]", "[idle=30s]",
	  "says idle=30s; the schema's default is 60s" },
	{ MAN, "an attribute left out of a synopsis",
	  "[stderr] ", "",
	  "synopsis does not list attribute stderr" },
	{ MAN, "a default the schema lacks",
	  "[workdir]", "[workdir=/]",
	  "the schema has no default for it" },
	{ MAN, "an optional attribute shown as required",
	  "[listen]", "listen",
	  "shows optional attribute listen as required" },
	{ MAN, "an element's synopsis dropped",
	  ".B <symlink path target/>", ".B symlinks",
	  "<symlink> has no synopsis" },
	{ MAN, "an enumerated value left out",
	  ".BR squashfs ,", ".BR squash ,",
	  "value squashfs is not documented" },
	{ MAN, "an element the schema lacks",
	  ".SS <outputs>", ".TP\n.B <socket path/>\na socket.\n.SS <outputs>",
	  "documents <socket>, which the schema lacks" },
};

/* ------------------------------------------------------------------ */
/* The generator, checked against the schema read here                 */

static void schema_walk(xmlNodePtr n, struct problems *p)
{
	for (; n; n = n->next) {
		char *name, *dflt;

		if (n->type != XML_ELEMENT_NODE || !n->ns ||
		    strcmp((const char *)n->ns->href, RNG_NS)) {
			continue;
		}
		name = (char *)xmlGetNoNsProp(n, (const xmlChar *)"name");
		if (name && !strcmp((const char *)n->name, "element") &&
		    !find_elem(name))
			problem(p, "the schema's <%s> is not in the table", name);
		dflt = (char *)xmlGetNsProp(n, (const xmlChar *)"defaultValue",
					    (const xmlChar *)ANN_NS);
		if (name && dflt && !strcmp((const char *)n->name, "attribute")) {
			int found = 0;

			for (const struct elem_rule *e = elem_rules; e->name; e++)
				for (const struct attr_rule *a = e->attrs;
				     a->name; a++)
					found |= !strcmp(a->name, name) &&
						 a->dflt && !strcmp(a->dflt, dflt);
			if (!found)
				problem(p, "the schema's default %s=\"%s\" is "
					"not in the table", name, dflt);
		}
		xmlFree(name);
		xmlFree(dflt);
		schema_walk(n->children, p);
	}
}

static int schema_has_default(xmlNodePtr n, const char *name, const char *v)
{
	for (; n; n = n->next) {
		char *an, *d;
		int hit;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		an = (char *)xmlGetNoNsProp(n, (const xmlChar *)"name");
		d = (char *)xmlGetNsProp(n, (const xmlChar *)"defaultValue",
					 (const xmlChar *)ANN_NS);
		hit = an && d && !strcmp(an, name) && !strcmp(d, v);
		xmlFree(an);
		xmlFree(d);
		if (hit || schema_has_default(n->children, name, v))
			return 1;
	}
	return 0;
}

static void check_generated(const char *schema, struct problems *p)
{
	xmlDocPtr doc = xmlReadFile(schema, NULL, XML_PARSE_NONET);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	if (!root) {
		problem(p, "cannot read %s", schema);
		xmlFreeDoc(doc);
		return;
	}
	schema_walk(root, p);
	for (const struct elem_rule *e = elem_rules; e->name; e++)
		for (const struct attr_rule *a = e->attrs; a->name; a++)
			if (a->dflt && !schema_has_default(root, a->name, a->dflt))
				problem(p, "the table's default %s=\"%s\" of <%s> "
					"is not in the schema", a->name, a->dflt,
					e->name);
	xmlFreeDoc(doc);
}

/* ------------------------------------------------------------------ */

/* The source tree: the current directory, else two above this program. */
static const char *source_root(void)
{
	static char root[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n;

	if (access("builder/recipe.rng", R_OK) == 0)
		return ".";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(root, sizeof(root), "%s/../..", dirname(exe));
		return root;
	}
	return ".";
}

int main(void)
{
	const char *top = source_root();
	char md_path[PATH_MAX + 32], man_path[PATH_MAX + 32];
	char rng_path[PATH_MAX + 32];
	struct problems p = { 0 };
	char *md, *man;

	snprintf(md_path, sizeof(md_path), "%s/docs/recipe.md", top);
	snprintf(man_path, sizeof(man_path), "%s/docs/man/imgtool-recipe.5",
		 top);
	snprintf(rng_path, sizeof(rng_path), "%s/builder/recipe.rng", top);
	md = slurp(getenv("RECIPE_MD") ? getenv("RECIPE_MD") : md_path);
	man = slurp(getenv("RECIPE_MAN") ? getenv("RECIPE_MAN") : man_path);

	/* The pages, element by element. */
	{
		struct lines lm = split_lines(md), ln = split_lines(man);

		for (const struct elem_rule *e = elem_rules; e->name; e++) {
			check_md_elem(&lm, e, &p);
			report(&p, "docs/recipe.md documents <%s> as the schema "
			       "does", e->name);
			check_man_elem(&ln, e, &p);
			report(&p, "imgtool-recipe.5 documents <%s> as the "
			       "schema does", e->name);
		}
		check_md_extra(&lm, &p);
		report(&p, "%s", "docs/recipe.md documents no element the "
		       "schema lacks");
		check_man_extra(&ln, &p);
		report(&p, "%s", "imgtool-recipe.5 documents no element the "
		       "schema lacks");
		lines_free(&lm);
		lines_free(&ln);
	}

	/* The checks catch drift. */
	for (size_t i = 0; i < sizeof(drifts) / sizeof(drifts[0]); i++) {
		const struct drift *d = &drifts[i];
		const char *page = d->page == MD ? "recipe.md" : "recipe.5";
		char *changed = edit(d->page == MD ? md : man, d->from, d->to);

		if (!changed) {
			ok(0, "drift in %s: %s (the text to change, \"%s\", is "
			   "not in the page)", page, d->what, d->from);
			continue;
		}
		check_page(d->page, changed, &p);
		ok(has_problem(&p, d->caught), "drift in %s is caught: %s",
		   page, d->what);
		if (!has_problem(&p, d->caught)) {
			printf("#   expected a problem saying \"%s\"; got:\n",
			       d->caught);
			for (size_t k = 0; k < p.n; k++)
				printf("#     %s\n", p.v[k]);
		}
		problems_free(&p);
		free(changed);
	}

	/* The generated table, against the schema read here. */
	check_generated(rng_path, &p);
	report(&p, "%s", "the generated table has the schema's elements and "
	       "defaults");
	ok(RNG_MAX_CHILDREN >= 1 && elem_rules[0].name &&
	   !strcmp(elem_rules[0].name, "recipe"),
	   "the table starts with the root element, recipe");

	free(md);
	free(man);
	return tap_done();
}
