/*
 * spec.c - freeing a service spec, and the one name table of each enum
 * (see spec.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "spec.h"
#include "util.h"

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

/*
 * The families a recipe can name. Each is a body of kernel code that an
 * instance reaches only if its recipe asks (runtime/seccomp.c): most have
 * had their local privilege escalations (AF_PACKET CVE-2016-8655 and
 * CVE-2020-14386, AF_VSOCK CVE-2021-26708, AF_CAN CVE-2021-3609, AF_ALG
 * CVE-2015-8970, AF_BLUETOOTH, AF_TIPC CVE-2021-43267...).
 */
static const struct {
	const char *name;
	int af;
} family_names[] = {
	{ "unix", AF_UNIX }, { "inet", AF_INET }, { "inet6", AF_INET6 },
	{ "netlink", AF_NETLINK }, { "packet", AF_PACKET }, { "vsock", AF_VSOCK },
	{ "can", AF_CAN }, { "bluetooth", AF_BLUETOOTH }, { "alg", AF_ALG },
	{ "xdp", AF_XDP }, { "tipc", AF_TIPC }, { "key", AF_KEY },
	{ "rds", AF_RDS }, { "llc", AF_LLC }, { "ib", AF_IB }, { "mpls", AF_MPLS },
	{ "smc", AF_SMC }, { "qipcrtr", AF_QIPCRTR }, { "kcm", AF_KCM },
	{ "nfc", AF_NFC }, { "ieee802154", AF_IEEE802154 }, { "caif", AF_CAIF },
	{ "phonet", AF_PHONET }, { "isdn", AF_ISDN }, { "rxrpc", AF_RXRPC },
	{ "pppox", AF_PPPOX }, { "atmpvc", AF_ATMPVC }, { "atmsvc", AF_ATMSVC },
	{ "x25", AF_X25 }, { "ax25", AF_AX25 }, { "appletalk", AF_APPLETALK },
	{ "ipx", AF_IPX }, { "netrom", AF_NETROM }, { "rose", AF_ROSE },
	{ "mctp", 45 /* AF_MCTP: newer than glibc 2.36's headers */ },
};

int socket_family_parse(const char *name)
{
	for (size_t i = 0; name && i < COUNT(family_names); i++)
		if (!strcmp(family_names[i].name, name))
			return family_names[i].af;
	return -1;
}

static int is_always(int af)
{
	return af == AF_UNIX || af == AF_INET || af == AF_INET6;
}

int socket_families_parse(const char *list, uint64_t *out, char **bad)
{
	char *copy = xstrdup(list ? list : ""), *save = NULL, *w;
	int rc = 0;

	*out = 0;
	*bad = NULL;
	for (w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		int af = socket_family_parse(w);

		if (af < 0 || af >= 64) {
			*bad = xstrdup(w);
			rc = -1;
			break;
		}
		if (!is_always(af))
			*out |= (uint64_t)1 << af;
	}
	free(copy);
	return rc;
}

char *socket_families_format(uint64_t set)
{
	struct buf b = { 0 };

	for (size_t i = 0; i < COUNT(family_names); i++) {
		int af = family_names[i].af;

		if (!is_always(af) && (set & ((uint64_t)1 << af)))
			buf_printf(&b, "%s%s", b.len ? " " : "", family_names[i].name);
	}
	return b.data ? b.data : xstrdup("");
}

const struct writable *writable_holding(const struct writable *w, size_t n,
					const char *path)
{
	for (size_t i = 0; path && i < n; i++) {
		size_t len = strlen(w[i].path);

		if (w[i].kind != WRITABLE_SCRATCH &&
		    !strncmp(path, w[i].path, len) && path[len] == '/' &&
		    path[len + 1] != '\0')
			return &w[i];
	}
	return NULL;
}
