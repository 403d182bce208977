/*
 * spec.c - freeing a service spec, and the one name table of each enum
 * (see spec.h).
 */
#include <stdlib.h>
#include <string.h>

#include "spec.h"

static void free_strings(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void service_free(struct service *s)
{
	free(s->user);
	free(s->listen);
	free(s->exec);
	free(s->workdir);
	free(s->stderr_path);
	for (size_t i = 0; i < s->n_env; i++) {
		free(s->env[i].name);
		free(s->env[i].value);
	}
	free(s->env);
	free_strings(s->syscalls_allow);
	free_strings(s->syscalls_deny);
}

/* One table per enum: the name of each value, in value order. */
static const char *const recycle_names[] = {
	[RECYCLE_CONNECTION] = "connection", [RECYCLE_SESSION] = "session",
	[RECYCLE_INTERVAL] = "interval",
};
static const char *const kind_names[] = {
	[WRITABLE_LOG] = "log", [WRITABLE_STATE] = "state",
	[WRITABLE_SCRATCH] = "scratch",
};
static const char *const network_names[] = {
	[NETWORK_NONE] = "none", [NETWORK_LOOPBACK] = "loopback",
	[NETWORK_HOST] = "host",
};
static const char *const action_names[] = {
	[SYSCALL_KILL] = "kill", [SYSCALL_ERRNO] = "errno",
	[SYSCALL_ALLOW] = "allow", [SYSCALL_LOG] = "log",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, unsigned v)
{
	return v < n && names[v] ? names[v] : "?";
}

static int parse_name(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (names[i] && !strcmp(names[i], name))
			return (int)i;
	return -1;
}

/* The name and the parser of one enum, from its table. */
#define NAMED_ENUM(type, table)						\
const char *type##_name(enum type v)					\
{									\
	return name_of(table, COUNT(table), (unsigned)v);		\
}									\
									\
int type##_parse(const char *name, enum type *out)			\
{									\
	int v = parse_name(table, COUNT(table), name);			\
									\
	if (v < 0)							\
		return -1;						\
	*out = (enum type)v;						\
	return 0;							\
}

NAMED_ENUM(recycle, recycle_names)
NAMED_ENUM(writable_kind, kind_names)
NAMED_ENUM(network, network_names)
NAMED_ENUM(syscall_action, action_names)

static const struct {
	enum output_format format;
	const char *name;
} format_names[] = {
	{ FORMAT_TREE, "tree" }, { FORMAT_TAR, "tar" },
	{ FORMAT_EROFS, "erofs" }, { FORMAT_SQUASHFS, "squashfs" },
	{ FORMAT_QCOW2, "qcow2" }, { FORMAT_RAW, "raw" },
	{ FORMAT_VMLINUZ, "vmlinuz" }, { FORMAT_INITRD, "initrd" },
};

const char *format_name(enum output_format f)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (format_names[i].format == f)
			return format_names[i].name;
	return "?";
}

unsigned format_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(format_names) /
	     sizeof(format_names[0]); i++)
		if (!strcmp(format_names[i].name, name))
			return format_names[i].format;
	return 0;
}
