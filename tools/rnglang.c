/*
 * rnglang.c - the recipe language's tables, generated from its schema.
 *
 *   rnglang builder/recipe.rng > build/gen/recipe_lang.gen.h
 *
 * builder/recipe.rng is the one source of the recipe language. This build
 * tool reads it with libxml2 and writes a C header that builder/recipe.c
 * includes (the types are in builder/recipe_lang.h):
 *
 *   - elem_rules[]: every element of the schema, with its attributes (name,
 *     required or not, the enumerated values, the default), the child
 *     elements it may have and how often each (min, max; max 0: any
 *     number), and whether it holds text (and the only texts allowed);
 *     recipe.c's lint step checks a recipe against it before the schema,
 *     for messages that say what is wrong;
 *   - RNG_DEFAULT_<element>_<attribute>: each a:defaultValue annotation
 *     (http://relaxng.org/ns/compatibility/annotations/1.0), and
 *     RNG_DEFAULT_TEXT_<element>: each im:defaultText annotation
 *     (urn:imgtool:annotations), the default of an element's text when the
 *     element is left out. recipe.c takes every default from these, so a
 *     default removed from the schema is a compile error there, not a
 *     silent change.
 *
 * The generator understands the part of RELAX NG the schema uses (element,
 * attribute, ref, define, optional, zeroOrMore, oneOrMore, choice, group,
 * interleave, text, value, empty, mixed, div) and refuses everything else
 * with a message, rather than writing a table that would be wrong. It also
 * refuses annotations that cannot be right: a default for a required
 * attribute, or one that is not among the attribute's enumerated values.
 * Attributes in a namespace (xml:base, xml:lang) are not in the tables:
 * recipe.c treats them apart.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define RNG_NS	"http://relaxng.org/ns/structure/1.0"
#define ANN_NS	"http://relaxng.org/ns/compatibility/annotations/1.0"
#define IM_NS	"urn:imgtool:annotations"

#define MAX_ATTRS	32
#define MAX_CHILDREN	32
#define MAX_ELEMS	128
#define MAX_DEPTH	64

struct attr {
	char *name;
	int required;
	char *values;	/* "a|b|c" or NULL */
	char *dflt;	/* a:defaultValue or NULL */
};

struct child {
	char *name;
	unsigned min, max;	/* max 0: any number */
};

struct elem {
	char *name;
	xmlNodePtr node;
	struct attr attrs[MAX_ATTRS];
	size_t n_attrs;
	struct child children[MAX_CHILDREN];
	size_t n_children;
	int text;
	char *values;		/* the only texts allowed, "a|b|c" */
	char *text_dflt;	/* im:defaultText */
};

static const char *schema;
static xmlDocPtr doc;
static struct elem elems[MAX_ELEMS];
static size_t n_elems;

static void die(xmlNodePtr at, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(xmlNodePtr at, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rnglang: %s:%ld: ", schema, at ? xmlGetLineNo(at) : 0L);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int is_rng(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns &&
	       !strcmp((const char *)n->ns->href, RNG_NS) &&
	       (!name || !strcmp((const char *)n->name, name));
}

static char *prop(xmlNodePtr n, const char *name)
{
	return (char *)xmlGetNoNsProp(n, (const xmlChar *)name);
}

static char *ns_prop(xmlNodePtr n, const char *name, const char *ns)
{
	return (char *)xmlGetNsProp(n, (const xmlChar *)name,
				    (const xmlChar *)ns);
}

/* The trimmed text of a <value> or <name>. */
static char *text_of(xmlNodePtr n)
{
	char *t = (char *)xmlNodeGetContent(n), *s = t, *e;

	if (!t)
		die(n, "out of memory");
	s += strspn(s, " \t\r\n");
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		e--;
	*e = '\0';
	memmove(t, s, (size_t)(e - s) + 1);
	return t;
}

/* Appends v to the "a|b|c" list *list. */
static void add_value(char **list, const char *v, xmlNodePtr at)
{
	size_t n = *list ? strlen(*list) : 0;
	char *s;

	if (!*v || strchr(v, '|'))
		die(at, "value \"%s\": empty or with a \"|\"", v);
	s = realloc(*list, n + strlen(v) + 2);
	if (!s)
		die(at, "out of memory");
	if (n)
		s[n++] = '|';
	strcpy(s + n, v);
	*list = s;
}

static int in_list(const char *list, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = list; p && *p; ) {
		size_t k = strcspn(p, "|");

		if (k == n && !strncmp(p, v, n))
			return 1;
		p += k + (p[k] == '|');
	}
	return 0;
}

static xmlNodePtr find_define(xmlNodePtr n, const char *name)
{
	xmlNodePtr found = NULL;

	for (; n; n = n->next) {
		xmlNodePtr f = NULL;
		char *dn;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (is_rng(n, "define") && (dn = prop(n, "name"))) {
			if (!strcmp(dn, name))
				f = n;
			xmlFree(dn);
		} else if (is_rng(n, "div") || is_rng(n, "grammar")) {
			f = find_define(n->children, name);
		}
		if (f && found)
			die(f, "define \"%s\" twice (combine is not supported)",
			    name);
		if (f)
			found = f;
	}
	return found;
}

/* The enumerated values of an attribute: its <value>s, in <choice>s. */
static void attr_values(xmlNodePtr p, struct attr *a)
{
	for (xmlNodePtr c = p->children; c; c = c->next) {
		if (!is_rng(c, NULL))
			continue;
		if (is_rng(c, "value")) {
			char *v = text_of(c);

			add_value(&a->values, v, c);
			xmlFree(v);
		} else if (is_rng(c, "choice")) {
			attr_values(c, a);
		} else if (!is_rng(c, "text") && !is_rng(c, "name")) {
			die(c, "attribute \"%s\": <%s> is not supported here",
			    a->name, c->name);
		}
	}
}

static void add_attr(struct elem *e, xmlNodePtr n, int required)
{
	char *name = prop(n, "name"), *ns = prop(n, "ns");
	struct attr *a;

	if (!name) {
		xmlNodePtr nc = n->children;

		while (nc && !is_rng(nc, NULL))
			nc = nc->next;
		if (!nc || !is_rng(nc, "name"))
			die(n, "an attribute of <%s> without a name", e->name);
		xmlFree(ns);
		ns = prop(nc, "ns");
		name = text_of(nc);
	}
	if (ns && *ns) {	/* xml:base, xml:lang: recipe.c's own rules */
		xmlFree(name);
		xmlFree(ns);
		return;
	}
	xmlFree(ns);
	for (size_t i = 0; i < e->n_attrs; i++)
		if (!strcmp(e->attrs[i].name, name))
			die(n, "attribute \"%s\" of <%s> twice", name, e->name);
	if (e->n_attrs == MAX_ATTRS)
		die(n, "more than %d attributes in <%s>", MAX_ATTRS, e->name);
	a = &e->attrs[e->n_attrs++];
	a->name = name;
	a->required = required;
	a->dflt = ns_prop(n, "defaultValue", ANN_NS);
	attr_values(n, a);
	if (a->dflt && required)
		die(n, "attribute \"%s\" of <%s> is required and has a default",
		    name, e->name);
	if (a->dflt && a->values && !in_list(a->values, a->dflt))
		die(n, "default \"%s\" of attribute \"%s\" of <%s> is not one "
		    "of its values", a->dflt, name, e->name);
}

static void add_child(struct elem *e, xmlNodePtr n, unsigned min, int many)
{
	char *name = prop(n, "name");
	struct child *c;

	if (!name)
		die(n, "an element without a name attribute inside <%s>",
		    e->name);
	for (size_t i = 0; i < e->n_children; i++) {
		c = &e->children[i];
		if (strcmp(c->name, name))
			continue;
		c->min += min;
		c->max = many || !c->max ? 0 : c->max + 1;
		xmlFree(name);
		return;
	}
	if (e->n_children == MAX_CHILDREN)
		die(n, "more than %d kinds of children in <%s>", MAX_CHILDREN,
		    e->name);
	c = &e->children[e->n_children++];
	c->name = name;
	c->min = min;
	c->max = many ? 0 : 1;
}

/* How many patterns p holds (annotations aside). */
static int patterns(xmlNodePtr p)
{
	int n = 0;

	for (xmlNodePtr c = p->children; c; c = c->next)
		n += is_rng(c, NULL);
	return n;
}

/*
 * Walks the content pattern p of element e: min is 1 if what is found must
 * be there, many 1 if it may repeat. Child elements are recorded, not
 * entered: each element has its own walk.
 */
static void walk(struct elem *e, xmlNodePtr p, unsigned min, int many,
		 int depth)
{
	if (depth > MAX_DEPTH)
		die(p, "references nested more than %d deep", MAX_DEPTH);
	for (xmlNodePtr c = p->children; c; c = c->next) {
		const char *k = (const char *)c->name;

		if (!is_rng(c, NULL))
			continue;	/* text, comments, annotations */
		if (!strcmp(k, "element")) {
			add_child(e, c, min, many);
		} else if (!strcmp(k, "attribute")) {
			add_attr(e, c, min);
		} else if (!strcmp(k, "optional")) {
			walk(e, c, 0, many, depth + 1);
		} else if (!strcmp(k, "zeroOrMore")) {
			walk(e, c, 0, 1, depth + 1);
		} else if (!strcmp(k, "oneOrMore")) {
			walk(e, c, min, 1, depth + 1);
		} else if (!strcmp(k, "choice")) {
			/* One of several: none of them must be there. */
			walk(e, c, patterns(c) > 1 ? 0 : min, many, depth + 1);
		} else if (!strcmp(k, "group") || !strcmp(k, "interleave")) {
			walk(e, c, min, many, depth + 1);
		} else if (!strcmp(k, "mixed")) {
			e->text = 1;
			walk(e, c, min, many, depth + 1);
		} else if (!strcmp(k, "ref")) {
			char *name = prop(c, "name");
			xmlNodePtr d = name ? find_define(
				xmlDocGetRootElement(doc)->children, name) : NULL;

			if (!d)
				die(c, "ref \"%s\": no such define",
				    name ? name : "");
			xmlFree(name);
			walk(e, d, min, many, depth + 1);
		} else if (!strcmp(k, "text")) {
			e->text = 1;
		} else if (!strcmp(k, "value")) {
			char *v = text_of(c);

			e->text = 1;
			add_value(&e->values, v, c);
			xmlFree(v);
		} else if (!strcmp(k, "empty")) {
			continue;
		} else if (!strcmp(k, "name") && p == e->node) {
			continue;
		} else {
			die(c, "<%s> is not supported by this generator", k);
		}
	}
}

/* Every <element> of the schema, in document order. */
static void collect(xmlNodePtr n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (is_rng(n, "element")) {
			struct elem *e;
			char *name = prop(n, "name");

			if (!name)
				die(n, "an element without a name attribute");
			for (size_t i = 0; i < n_elems; i++)
				if (!strcmp(elems[i].name, name))
					die(n, "element \"%s\" is defined twice "
					    "(at line %ld)", name,
					    xmlGetLineNo(elems[i].node));
			if (n_elems == MAX_ELEMS)
				die(n, "more than %d elements", MAX_ELEMS);
			e = &elems[n_elems++];
			e->name = name;
			e->node = n;
			e->text_dflt = ns_prop(n, "defaultText", IM_NS);
		}
		collect(n->children);
	}
}

/* name as a C identifier: [A-Za-z0-9_], anything else '_'. */
static const char *ident(const char *name)
{
	static char buf[4][128];
	static int k;
	char *b = buf[k++ % 4];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(buf[0]); i++)
		b[i] = (name[i] >= 'a' && name[i] <= 'z') ||
		       (name[i] >= 'A' && name[i] <= 'Z') ||
		       (name[i] >= '0' && name[i] <= '9') ? name[i] : '_';
	b[i] = '\0';
	return b;
}

/* A C string literal; the schema's strings are printable ASCII. */
static void literal(const char *s)
{
	if (!s) {
		fputs("NULL", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			die(NULL, "a non-ASCII or control character in \"%s\"",
			    s);
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void emit(void)
{
	size_t max_children = 0;

	printf("/*\n * recipe_lang.gen.h - generated by tools/rnglang from "
	       "%s: do not edit,\n * edit the schema. The types are in "
	       "builder/recipe_lang.h.\n */\n", schema);
	printf("#ifndef IMGTOOL_RECIPE_LANG_GEN_H\n"
	       "#define IMGTOOL_RECIPE_LANG_GEN_H\n\n");
	printf("/* Defaults: a:defaultValue and im:defaultText. */\n");
	for (size_t i = 0; i < n_elems; i++) {
		const struct elem *e = &elems[i];

		for (size_t j = 0; j < e->n_attrs; j++)
			if (e->attrs[j].dflt) {
				printf("#define RNG_DEFAULT_%s_%s ",
				       ident(e->name), ident(e->attrs[j].name));
				literal(e->attrs[j].dflt);
				putchar('\n');
			}
		if (e->text_dflt) {
			printf("#define RNG_DEFAULT_TEXT_%s ", ident(e->name));
			literal(e->text_dflt);
			putchar('\n');
		}
		if (e->n_children > max_children)
			max_children = e->n_children;
	}
	printf("\n/* The most kinds of children an element has. */\n"
	       "#define RNG_MAX_CHILDREN %zu\n\n", max_children);
	for (size_t i = 0; i < n_elems; i++) {
		const struct elem *e = &elems[i];

		printf("static const struct attr_rule rng_a_%s[] = {\n",
		       ident(e->name));
		for (size_t j = 0; j < e->n_attrs; j++) {
			printf("\t{ ");
			literal(e->attrs[j].name);
			printf(", %s, ", e->attrs[j].required ? "REQ" : "OPT");
			literal(e->attrs[j].values);
			printf(", ");
			literal(e->attrs[j].dflt);
			printf(" },\n");
		}
		printf("\t{ 0 }\n};\n");
		if (!e->n_children)
			continue;
		printf("static const struct child_rule rng_c_%s[] = {\n",
		       ident(e->name));
		for (size_t j = 0; j < e->n_children; j++) {
			printf("\t{ ");
			literal(e->children[j].name);
			printf(", %u, %u },\n", e->children[j].min,
			       e->children[j].max);
		}
		printf("\t{ 0 }\n};\n");
	}
	printf("\nstatic const struct elem_rule elem_rules[] = {\n");
	for (size_t i = 0; i < n_elems; i++) {
		const struct elem *e = &elems[i];

		printf("\t{ ");
		literal(e->name);
		printf(", rng_a_%s, ", ident(e->name));
		if (e->n_children)
			printf("rng_c_%s", ident(e->name));
		else
			printf("NULL");
		printf(", %d, ", e->text);
		literal(e->values);
		printf(", ");
		literal(e->text_dflt);
		printf(" },\n");
	}
	printf("\t{ 0 }\n};\n\n#endif\n");
}

int main(int argc, char **argv)
{
	xmlNodePtr root;

	if (argc != 2) {
		fprintf(stderr, "usage: rnglang SCHEMA.rng > HEADER\n");
		return 2;
	}
	schema = argv[1];
	doc = xmlReadFile(schema, NULL, XML_PARSE_NONET);
	if (!doc)
		die(NULL, "cannot read the schema");
	root = xmlDocGetRootElement(doc);
	if (!root || !is_rng(root, "grammar"))
		die(root, "the root element is not a RELAX NG <grammar>");
	collect(root);
	if (!n_elems)
		die(root, "no elements");
	for (size_t i = 0; i < n_elems; i++) {
		struct elem *e = &elems[i];

		walk(e, e->node, 1, 0, 0);
		if (e->text_dflt && !e->text)
			die(e->node, "<%s> has a default text and holds none",
			    e->name);
		if (e->text_dflt && e->values && !in_list(e->values, e->text_dflt))
			die(e->node, "default text \"%s\" of <%s> is not one of "
			    "its values", e->text_dflt, e->name);
	}
	/* Every child is an element of the schema (always true of RELAX NG
	 * elements that the walk found; a guard against a generator bug). */
	for (size_t i = 0; i < n_elems; i++)
		for (size_t j = 0; j < elems[i].n_children; j++) {
			size_t k;

			for (k = 0; k < n_elems; k++)
				if (!strcmp(elems[k].name,
					    elems[i].children[j].name))
					break;
			if (k == n_elems)
				die(elems[i].node, "child \"%s\" is not an element",
				    elems[i].children[j].name);
		}
	emit();
	if (fflush(stdout) != 0 || ferror(stdout))
		die(NULL, "cannot write the header");
	xmlFreeDoc(doc);
	return 0;
}
