/*
 * recipe_lang.h - the types of the recipe language's tables.
 *
 * The tables themselves are generated at build time from the schema,
 * builder/recipe.rng, the one source of the language: tools/rnglang writes
 * build/gen/recipe_lang.gen.h (elem_rules[], RNG_DEFAULT_*), which recipe.c
 * includes after this header. Nothing here is written by hand but the
 * shape of a rule.
 */
#ifndef IMGTOOL_RECIPE_LANG_H
#define IMGTOOL_RECIPE_LANG_H

enum { OPT, REQ };

struct attr_rule {
	const char *name;	/* NULL ends a list */
	int required;		/* REQ or OPT */
	const char *values;	/* "a|b|c": the only values allowed, or NULL */
	const char *dflt;	/* the schema's a:defaultValue, or NULL */
};

struct child_rule {
	const char *name;	/* NULL ends a list */
	unsigned min, max;	/* max 0: any number */
};

struct elem_rule {
	const char *name;	/* NULL ends elem_rules[] */
	const struct attr_rule *attrs;		/* never NULL */
	const struct child_rule *children;	/* NULL: no child elements */
	int text;		/* text content allowed */
	const char *values;	/* "a|b|c": the only texts allowed, or NULL */
	const char *text_dflt;	/* the text when the element is left out
				   (im:defaultText), or NULL */
};

#endif
