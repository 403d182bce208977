/*
 * imgsupd - the supervisor: a fresh read-only jail per connection, client
 * session or period, thrown away afterwards.
 *
 *   imgsupd [--listen ADDR:PORT] [--max N] [--per-client N] [--pool N] IMAGE
 *   imgsupd --run IMAGE [-- CMD ARGS...]
 *
 * It runs as root, in a mount namespace of its own: the image and the log
 * volume are mounted there once, and disappear with the supervisor however
 * it ends. Instances are prepared ahead of need (instance.h) and each is
 * used for one connection, one client session or one period.
 *
 * VM images are served by imgsupd-vm, the same program built with
 * IMGSUPD_VM and linked with libvirt, which imgsupd execs in its place. A
 * jail supervisor does without libvirt and its 40 libraries: every
 * instance is cloned from the supervisor, and the clone copies each of its
 * mappings (8 % of the requests per second, measured with bench/serve.sh).
 *
 * Exit status: 0 after a drain, 1 on failure, 2 on usage or missing
 * privilege, 3 on a bad image or manifest.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "imagefile.h"
#include "supervisor.h"
#ifdef IMGSUPD_VM
#include "vm.h"
#endif

static void usage(FILE *f)
{
	fputs("usage: imgsupd [--listen ADDR:PORT] [--max N] [--per-client N] "
	      "[--pool N]\n"
	      "               [--connect URI] [--storage-pool NAME]\n"
	      "               [--boot-timeout SECONDS] [--ready-timeout SECONDS]\n"
	      "               [--id-range START:COUNT] IMAGE\n"
	      "       imgsupd --run IMAGE [-- CMD ARGS...]\n"
	      "serves a fresh read-only instance of IMAGE per connection, "
	      "session or period; see imgsupd(8)\n", f);
}

static int parse_range(const char *opt, const char *s, uint64_t min,
		       uint64_t max, uint64_t *out)
{
	if (parse_uint(s, min, max, out) < 0) {
		fprintf(stderr, "imgsupd: %s: \"%s\" is not a number from %llu to %llu\n",
			opt, s, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "max", required_argument, NULL, 'm' },
		{ "per-client", required_argument, NULL, 'c' },
		{ "pool", required_argument, NULL, 'p' },
		{ "connect", required_argument, NULL, 'C' },
		{ "storage-pool", required_argument, NULL, 'S' },
		{ "boot-timeout", required_argument, NULL, 'b' },
		{ "ready-timeout", required_argument, NULL, 'R' },
		{ "id-range", required_argument, NULL, 'i' },
		{ "run", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "+l:m:c:p:C:S:b:R:i:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 'm':
			if (parse_range("--max", optarg, 1, MAX_INSTANCES, &o->max) < 0)
				return -1;
			break;
		case 'c':
			if (parse_range("--per-client", optarg, 1, MAX_INSTANCES,
					&o->per_client) < 0)
				return -1;
			break;
		case 'p':
			if (parse_range("--pool", optarg, 0, MAX_POOL, &o->pool) < 0)
				return -1;
			o->pool_given = 1;
			break;
		case 'C': o->connect = optarg; break;
		case 'S': o->storage_pool = optarg; break;
		case 'b':
			if (parse_range("--boot-timeout", optarg, 1, 3600,
					&o->boot_timeout) < 0)
				return -1;
			break;
		case 'R':
			if (parse_range("--ready-timeout", optarg, 1, 86400,
					&o->ready_timeout) < 0)
				return -1;
			break;
		case 'i': o->id_range = optarg; break;
		case 'r': o->run = 1; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind >= argc)
		return -1;
	o->image = argv[optind++];
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind < argc && !o->run)
		return -1;
	o->command = argv + optind;
	return 0;
}

/*
 * Says exactly which privilege is missing. Root without CAP_SYS_ADMIN (a
 * container that dropped it) cannot mount or make namespaces either.
 */
static int check_privilege(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };
	static const struct { int cap; const char *name; } need[] = {
		{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN (mounts and namespaces)" },
		{ CAP_SETUID, "CAP_SETUID (switching to the service user)" },
		{ CAP_SETGID, "CAP_SETGID (switching to the service group)" },
		{ CAP_MKNOD, "CAP_MKNOD (the instances' /dev)" },
		{ CAP_SETPCAP, "CAP_SETPCAP (dropping the bounding set)" },
		{ CAP_NET_ADMIN, "CAP_NET_ADMIN (the instances' loopback)" },
	};

	if (syscall(SYS_capget, &h, d) < 0) {
		perror("imgsupd: capget");
		return -1;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int cap = need[i].cap;

		if (!(d[cap / 32].effective & (1u << (cap % 32)))) {
			fprintf(stderr, "imgsupd: needs root: missing %s; run it as root\n",
				need[i].name);
			return -1;
		}
	}
	return 0;
}

#ifndef IMGSUPD_VM
/* Hands a VM image to imgsupd-vm, beside this program. Returns on failure. */
static int exec_vm_supervisor(char **argv)
{
	char *path = locate_file("IMGSUPD_VM", "imgsupd-vm", "imgsupd-vm",
				 IMGTOOL_PREFIX "/sbin/imgsupd-vm");

	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "imgsupd: %s: %s (VM images are served by imgsupd-vm)\n",
		path, strerror(errno));
	free(path);
	return 1;
}
#endif

/* The serving half that the image asks for; VMs only in imgsupd-vm. */
static int serve(struct supervisor *sv, struct error *e)
{
#ifdef IMGSUPD_VM
	int rc;

	if (vm_attach(sv, e) < 0)
		return -1;
	rc = sv->o->run ? vm_run_once(sv) : vm_serve(sv);
	vm_detach(sv);
	return rc;
#else
	(void)e;
	return sv->o->run ? supervisor_run_once(sv) : supervisor_serve(sv);
#endif
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct supervisor sv;
	struct error e = { 0 };
	int rc;

	if (fill_stdio(&e) < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		return 1;
	}
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
#ifdef IMGSUPD_VM
	if (!(image_format(o.image) & FORMAT_VM)) {
		fprintf(stderr, "imgsupd-vm: %s: not a VM image; imgsupd serves "
			"jail images\n", o.image);
		return 3;
	}
#else
	if (image_format(o.image) & FORMAT_VM)
		return exec_vm_supervisor(argv);
#endif
	if (check_privilege() < 0)
		return 2;
	/* Instances must die with us, and we must not be dumped or traced. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0) {
		perror("imgsupd: PR_SET_DUMPABLE");
		return 1;
	}
	if (supervisor_open(&sv, &o, &e) < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		supervisor_close(&sv);
		return e.status ? e.status : 1;
	}
	rc = serve(&sv, &e);
	if (rc < 0) {
		fprintf(stderr, "imgsupd: %s\n", e.msg);
		rc = e.status ? e.status : 1;
	}
	supervisor_close(&sv);
	return rc;
}
