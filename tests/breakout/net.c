/*
 * net.c - the network: raw and packet sockets, netlink changes, vsock and
 * the other families beyond unix, inet and inet6, the host's loopback and
 * a host abstract UNIX socket (host listeners log every connection they
 * accept: the test checks those logs stay empty), the outside world, and
 * the interfaces an instance can see.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>
#include <linux/vm_sockets.h>

#include "breakout.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static int raw_socket(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, socket(AF_INET, SOCK_RAW, IPPROTO_RAW),
			   "socket AF_INET SOCK_RAW", "made a raw IPv4 socket");
}

static int raw_socket6(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, socket(AF_INET6, SOCK_RAW, IPPROTO_RAW),
			   "socket AF_INET6 SOCK_RAW", "made a raw IPv6 socket");
}

static int packet_socket(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, socket(AF_PACKET, SOCK_RAW, htons(3 /* ETH_P_ALL */)),
			   "socket AF_PACKET", "made a packet socket");
}

/* RTM_NEWADDR 10.66.0.1/24 on lo (ifindex 1), and the kernel's answer. */
static int netlink_route(const char *n, const char *a)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		struct rtattr rta;
		unsigned char addr[4];
	} req;
	char answer[4096];
	struct nlmsgerr *err;
	ssize_t got;
	int fd;

	(void)a;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return blocked(n, "socket AF_NETLINK", errno);
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_NEWADDR;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = 24;
	req.ifa.ifa_index = 1;
	req.rta.rta_type = IFA_LOCAL;
	req.rta.rta_len = RTA_LENGTH(4);
	memcpy(req.addr, (unsigned char[]){ 10, 66, 0, 1 }, 4);
	if (send(fd, &req, sizeof(req), 0) < 0)
		return blocked(n, "send RTM_NEWADDR", errno);
	got = recv(fd, answer, sizeof(answer), 0);
	if (got < (ssize_t)(NLMSG_HDRLEN + sizeof(*err)))
		return blocked(n, "no answer to RTM_NEWADDR", got < 0 ? errno : 0);
	err = NLMSG_DATA((struct nlmsghdr *)answer);
	if (err->error)
		return blocked(n, "RTM_NEWADDR", -err->error);
	return escaped(n, "added 10.66.0.1/24 to lo");
}

static int vsock_socket(const char *n, const char *a)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				   .svm_port = 5555 };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)a;
	if (fd < 0)
		return blocked(n, "socket AF_VSOCK", errno);
	if (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0)
		return escaped(n, "made a vsock socket (bind: %s)", strerror(errno));
	return escaped(n, "bound vsock port 5555, visible to the host");
}

static int alg_socket(const char *n, const char *a)
{
	(void)a;
	return expect_fail(n, socket(AF_ALG, SOCK_SEQPACKET, 0), "socket AF_ALG",
			   "made a kernel crypto socket");
}

/* Every family from 0 to 63 but unix, inet and inet6, each type tried. */
static int family_scan(const char *n, const char *a)
{
	static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET };

	(void)a;
	for (int af = 0; af < 64; af++) {
		if (af == AF_UNIX || af == AF_INET || af == AF_INET6)
			continue;
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			int fd = socket(af, types[t] | SOCK_CLOEXEC, 0);

			if (fd >= 0)
				return escaped(n, "made a socket of family %d", af);
			if (errno != EAFNOSUPPORT)
				return escaped(n, "family %d reached the kernel (%s)", af,
					       strerror(errno));
		}
	}
	return blocked(n, "families 0-63 but unix, inet, inet6", EAFNOSUPPORT);
}

/* AF_PACKET with bit 32 set: the kernel reads an int. */
static int family_high_bits(const char *n, const char *a)
{
	long fd;

	(void)a;
	fd = syscall(SYS_socket, (1UL << 32) | AF_PACKET, SOCK_RAW, 0);
	if (fd < 0 && errno == EAFNOSUPPORT)
		return blocked(n, "socket (1<<32)|AF_PACKET", errno);
	if (fd < 0)
		return escaped(n, "AF_PACKET with high bits reached the kernel (%s)",
			       strerror(errno));
	return escaped(n, "made a packet socket with high bits in the family");
}

/* A connect with a 3 s limit; 0 when it connected. */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t el = sizeof(err);

	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	if (poll(&p, 1, 3000) <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

static int tcp_to(const char *n, const char *ip, int port, const char *how)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return blocked(n, "socket AF_INET", errno);
	inet_pton(AF_INET, ip, &sin.sin_addr);
	if (connect_within(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return blocked(n, how, errno);
	return escaped(n, "connected to %s:%d", ip, port);
}

static int host_loopback(const char *n, const char *a)
{
	if (!a)
		return harness(n, "needs the host listener's port as its argument");
	return tcp_to(n, "127.0.0.1", atoi(a), "connect to 127.0.0.1");
}

static int outside(const char *n, const char *a)
{
	(void)a;
	return tcp_to(n, "192.0.2.1", 80, "connect to 192.0.2.1:80");
}

static int host_abstract(const char *n, const char *a)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!a)
		return harness(n, "needs the host abstract socket's name");
	len = strlen(a);
	if (len + 1 > sizeof(sun.sun_path))
		return harness(n, "name too long");
	memcpy(sun.sun_path + 1, a, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return blocked(n, "socket AF_UNIX", errno);
	if (connect(fd, (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0)
		return blocked(n, "connect to the host's abstract socket", errno);
	return escaped(n, "connected to the host's abstract socket @%s", a);
}

/* Interfaces other than lo in /proc/net/dev. */
static int interfaces(const char *n, const char *a)
{
	FILE *f = fopen("/proc/net/dev", "re");
	char line[512];
	int count = 0;

	(void)a;
	if (!f)
		return blocked(n, "open /proc/net/dev", errno);
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *p = line;

		if (!colon)
			continue;
		*colon = '\0';
		while (*p == ' ')
			p++;
		count++;
		if (strcmp(p, "lo")) {
			fclose(f);
			return escaped(n, "sees interface %s", p);
		}
	}
	fclose(f);
	return blocked(n, count ? "network namespace: lo only" : "network namespace: none", 0);
}

const struct attack net_attacks[] = {
	{ "raw-socket", raw_socket, "no CAP_NET_RAW (EPERM)", "network namespace without interfaces", "a raw IPv4 socket" },
	{ "raw-socket6", raw_socket6, "no CAP_NET_RAW (EPERM)", "network namespace", "a raw IPv6 socket" },
	{ "packet-socket", packet_socket, "seccomp baseline (family: EAFNOSUPPORT)", "no CAP_NET_RAW", "an AF_PACKET socket" },
	{ "netlink-route", netlink_route, "seccomp baseline (family: EAFNOSUPPORT)", "no CAP_NET_ADMIN (EPERM); own network namespace", "add an address to lo by rtnetlink" },
	{ "vsock-socket", vsock_socket, "seccomp baseline (family: EAFNOSUPPORT)", "none: vsock is not namespaced", "bind a vsock port" },
	{ "alg-socket", alg_socket, "seccomp baseline (family)", "none", "a kernel crypto (AF_ALG) socket" },
	{ "socket-families", family_scan, "seccomp baseline (family)", "capabilities for some, nothing for most", "every family from 0 to 63 but unix, inet, inet6" },
	{ "socket-family-high-bits", family_high_bits, "seccomp baseline (32-bit masked compare)", "the kernel's own int", "AF_PACKET with bit 32 set" },
	{ "host-loopback", host_loopback, "network namespace (ENETUNREACH: no lo)", "host listener logs (checked outside)", "connect to a host listener on 127.0.0.1" },
	{ "host-abstract-unix", host_abstract, "network namespace (abstract sockets are per netns: ECONNREFUSED)", "Landlock scope (abstract UNIX sockets, ABI 6)", "connect to a host abstract UNIX socket" },
	{ "outside", outside, "network namespace (ENETUNREACH)", "none", "connect to an outside address" },
	{ "interfaces", interfaces, "network namespace", "none", "see an interface other than lo" },
	{ NULL, NULL, NULL, NULL, NULL }
};
