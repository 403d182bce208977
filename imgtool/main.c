/*
 * imgtool - build read-only appliance images from XML recipes.
 *
 * This file is the command line: it parses arguments, calls the builder
 * library and turns its errors into messages and exit statuses
 * (0 ok, 1 failure, 2 usage, 3 bad recipe or image).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "image.h"
#include "recipe.h"

#define IMGTOOL_VERSION "0.1.0"

#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: imgtool COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  validate RECIPE              check a recipe without building\n"
	"  build [-o DIR] [--format F] [-q] [--force] RECIPE\n"
	"                               build the images the recipe asks for\n"
	"  inspect IMAGE                summarize an image from its manifest\n"
	"  verify IMAGE                 recompute every digest of an image\n"
	"  serve IMAGE|RECIPE [--listen ADDR:PORT] [--max N] [--per-client N] [--pool N]\n"
	"        [--connect URI] [--storage-pool NAME] [--boot-timeout SECONDS]\n"
	"        [--ready-timeout SECONDS]                  (VM images)\n"
	"                               run the supervisor (imgsupd) in the foreground\n"
	"  run IMAGE [-- CMD ARGS...]   one fresh instance on this terminal\n"
	"  logs [-f] IMAGE              print what instances wrote to the log volume\n"
	"                               (-f: and what they append, until interrupted)\n"
	"  logs IMAGE --copy PATH DEST  copy one file of the log volume out\n"
	"\n"
	"formats: erofs, squashfs, tar, tree, qcow2, raw (comma-separated with --format)\n"
	"exit status: 0 ok, 1 failure, 2 usage, 3 bad recipe or image\n"
	"see imgtool(1) and imgtool-recipe(5)\n";

static int usage(FILE *f, int status)
{
	fputs(usage_text, f);
	return status;
}

static int fail(const struct error *e)
{
	fprintf(stderr, "%s%s\n", e->status == 3 ? "" : "imgtool: ", e->msg);
	return e->status ? e->status : 1;
}

static int cmd_validate(int argc, char **argv)
{
	struct error e = { 0 };
	struct recipe *r;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	r = recipe_load(argv[1], recipe_schema_path(), &e);
	if (!r)
		return fail(&e);
	recipe_free(r);
	return 0;
}

static int parse_formats(const char *list, unsigned *formats)
{
	char *copy = xstrdup(list), *save = NULL;

	*formats = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned f = format_parse(t);

		if (!f) {
			fprintf(stderr, "imgtool: --format: unknown format \"%s\"\n", t);
			free(copy);
			return -1;
		}
		*formats |= f;
	}
	free(copy);
	return *formats ? 0 : -1;
}

static int cmd_build(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct build_opts o = { .outdir = "out", .progress = isatty(STDERR_FILENO) };
	struct error e = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "o:f:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.outdir = optarg; break;
		case 'f':
			if (parse_formats(optarg, &o.formats) < 0)
				return EXIT_USAGE;
			break;
		case 'q': o.quiet = 1; break;
		case 'F': o.force = 1; break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc - 1)
		return usage(stderr, EXIT_USAGE);
	o.recipe = argv[optind];
	if (build_run(&o, &e) < 0)
		return fail(&e);
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	struct error e = { 0 };

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (image_inspect(argv[1], stdout, &e) < 0)
		return fail(&e);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	struct error e = { 0 };
	int differences = 0;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (image_verify(argv[1], stdout, &differences, &e) < 0)
		return fail(&e);
	return differences ? 1 : 0;
}

/*
 * imgtool logs [-f] IMAGE, imgtool logs IMAGE --copy PATH DEST. Contents
 * are escaped when stdout is a terminal (image.h).
 */
static int cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "copy", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct logs_opts o = { .escape = isatty(STDOUT_FILENO) };
	struct error e = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': o.follow = 1; break;
		case 'c': o.copy = optarg; break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc - (o.copy ? 2 : 1) || (o.copy && o.follow))
		return usage(stderr, EXIT_USAGE);
	if (o.copy)
		o.dest = argv[optind + 1];
	if (image_logs(argv[optind], &o, stdout, &e) < 0)
		return fail(&e);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "imgtool: writing the logs: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* imgsupd beside this imgtool (a build tree), else the installed one. */
static char *imgsupd_path(void)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			/* build/bin/imgsupd, or PREFIX/sbin/imgsupd beside PREFIX/bin */
			path = xasprintf("%s/imgsupd", self);
			if (access(path, X_OK) == 0)
				return path;
			free(path);
			path = xasprintf("%s/../sbin/imgsupd", self);
			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
	}
	return xstrdup(IMGTOOL_PREFIX "/sbin/imgsupd");
}

static int exec_imgsupd(char **args)
{
	char *path = imgsupd_path();

	args[0] = path;
	fflush(NULL);
	execv(path, args);
	fprintf(stderr, "imgtool: %s: %s\n", path, strerror(errno));
	free(path);
	return 1;
}

/*
 * serve and run accept a recipe too: it is built first (into ./out, a cache
 * hit when unchanged) and its erofs, squashfs or tree image is used.
 */
static char *image_of(const char *arg, struct error *e)
{
	static const unsigned servable[] = { FORMAT_EROFS, FORMAT_SQUASHFS, FORMAT_TREE,
					     FORMAT_QCOW2, FORMAT_RAW };
	struct build_opts o = { .recipe = arg, .outdir = "out", .quiet = 1 };
	struct recipe *r;
	char *path = NULL;
	struct stat st;

	if (image_format(arg))
		return xstrdup(arg);
	/* what is neither would otherwise be read as a recipe and called bad XML */
	if (lstat(arg, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		error_bad(e, "%s: an empty file (0 bytes), not an image or a "
			  "recipe", arg);
		return NULL;
	}
	r = recipe_load(arg, recipe_schema_path(), e);
	if (!r)
		return NULL;
	for (size_t i = 0; i < sizeof(servable) / sizeof(servable[0]) && !path; i++) {
		if (!(r->formats & servable[i]))
			continue;
		o.formats = servable[i];
		if (build_run(&o, e) == 0) {
			char *name = output_name(r->name, servable[i]);

			path = xasprintf("out/%s", name);
			free(name);
		}
	}
	if (!path && !e->msg[0])
		error_set(e, "%s: builds no image to serve", arg);
	recipe_free(r);
	return path;
}

/*
 * Passes the options through, in front of the image (imgsupd stops parsing
 * options at its operand); the image or recipe is the one operand.
 */
static int cmd_serve(int argc, char **argv)
{
	struct error e = { 0 };
	char **args = xcalloc((size_t)argc + 2, sizeof(char *));
	const char *operand = NULL;
	int n = 1;

	for (int i = 1; i < argc; i++) {
		static const char *const valued[] = { "--listen", "--max", "--per-client",
						      "--pool", "--connect",
						      "--storage-pool",
						      "--boot-timeout",
						      "--ready-timeout", "--id-range",
						      NULL };
		int takes_value = 0;

		for (const char *const *v = valued; *v; v++)
			takes_value |= !strcmp(argv[i], *v);

		if (argv[i][0] != '-' && !operand) {
			operand = argv[i];
			continue;
		}
		args[n++] = argv[i];
		if (takes_value && i + 1 < argc)
			args[n++] = argv[++i];
	}
	if (!operand) {
		free(args);
		return usage(stderr, EXIT_USAGE);
	}
	args[n] = image_of(operand, &e);
	if (!args[n]) {
		free(args);
		return fail(&e);
	}
	return exec_imgsupd(args);
}

/* imgtool run IMAGE [-- CMD ARGS...]: imgsupd --run IMAGE [-- CMD ARGS...] */
static int cmd_run(int argc, char **argv)
{
	struct error e = { 0 };
	char **args;
	int n = 1;

	if (argc < 2 || argv[1][0] == '-' || (argc > 2 && strcmp(argv[2], "--")))
		return usage(stderr, EXIT_USAGE);
	args = xcalloc((size_t)argc + 2, sizeof(char *));
	args[n++] = "--run";
	args[n] = image_of(argv[1], &e);
	if (!args[n++]) {
		free(args);
		return fail(&e);
	}
	for (int i = 2; i < argc; i++)
		args[n++] = argv[i];
	return exec_imgsupd(args);
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "validate", cmd_validate },
	{ "build", cmd_build },
	{ "inspect", cmd_inspect },
	{ "verify", cmd_verify },
	{ "serve", cmd_serve },
	{ "run", cmd_run },
	{ "logs", cmd_logs },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help"))
		return usage(stdout, 0);
	if (!strcmp(argv[1], "--version")) {
		printf("imgtool %s\n", IMGTOOL_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "imgtool: unknown command \"%s\"\n", argv[1]);
	return usage(stderr, EXIT_USAGE);
}
