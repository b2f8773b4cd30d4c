/* netns/: links, addresses, leases and nftables rules in fresh network
 * namespaces (each test runs in its own process and unshares its own, so
 * the host's namespace, routes and firewall are never touched; the other
 * namespaces a test makes are held by fds and vanish with it). */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "netns/netns.h"
#include "tests/unit/test.h"

/* call returns 0, or the test fails with the message of the berr e. */
#define ASSERT_OK(call)                                                        \
	do {                                                                   \
		if ((call) != 0)                                               \
			test_fail(__FILE__, __LINE__, "%s: %s", #call, e.msg); \
	} while (0)

static void enter_new_netns(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (unshare(CLONE_NEWNET) < 0)
		test_skip("unshare(CLONE_NEWNET): %s", strerror(errno));
}

static short link_flags(const char *name)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(fd >= 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ASSERT_EQ(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	close(fd);
	return ifr.ifr_flags;
}

TEST(loopback_comes_up_in_a_new_namespace)
{
	enter_new_netns();
	ASSERT_TRUE(!(link_flags("lo") & IFF_UP));
	struct berr e = {0};
	ASSERT_OK(nsn_loopback_up(&e));
	ASSERT_TRUE(link_flags("lo") & IFF_UP);
}

TEST(link_goes_down_and_up)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_OK(nsn_link_set_up("lo", true, &e));
	ASSERT_OK(nsn_link_set_up("lo", false, &e));
	ASSERT_TRUE(!(link_flags("lo") & IFF_UP));
	ASSERT_OK(nsn_link_set_up("lo", true, &e));
	ASSERT_TRUE(link_flags("lo") & IFF_UP);
}

TEST(missing_link_is_named_in_the_error)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_EQ(nsn_link_set_up("berth-nope0", true, &e), -ENODEV);
	ASSERT_STREQ(e.msg, "set link `berth-nope0` up: No such device");
	ASSERT_EQ(e.code, ENODEV);
}

TEST(refusal_is_reported_as_errno)
{
	enter_new_netns();
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	ASSERT_EQ(syscall(SYS_capget, &h, d), 0);
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	ASSERT_EQ(syscall(SYS_capset, &h, d), 0);
	struct berr e = {0};
	ASSERT_EQ(nsn_loopback_up(&e), -EPERM);
	ASSERT_STREQ(e.msg, "set link `lo` up: Operation not permitted");
}

/* ---- helpers: namespaces, sockets, topologies -------------------------- */

static int self_netns(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	return fd;
}

/* A further namespace held by an fd alone; the test stays where it was. */
static int new_netns_fd(void)
{
	int self = self_netns();
	ASSERT_EQ(unshare(CLONE_NEWNET), 0);
	int fd = self_netns();
	ASSERT_EQ(setns(self, CLONE_NEWNET), 0);
	close(self);
	return fd;
}

static int socket_cb(void *arg, struct berr *err)
{
	int *fd = arg;
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return *fd < 0 ? -errno : 0;
}

/* A TCP socket of namespace nsfd (-1: this one): a socket keeps the
 * namespace it was made in, wherever it is used afterwards. */
static int socket_in(int nsfd)
{
	int fd = -1;
	struct berr e = {0};
	if (nsfd < 0)
		socket_cb(&fd, &e);
	else
		ASSERT_OK(nsn_run_in_netns(nsfd, socket_cb, &fd, &e));
	ASSERT_TRUE(fd >= 0);
	return fd;
}

static int listen_in(int nsfd, uint16_t port)
{
	int fd = socket_in(nsfd), on = 1;
	ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_EQ(listen(fd, 16), 0);
	return fd;
}

/* Connects from namespace nsfd to ip:port within ms: 0 and the socket in
 * *out, or -errno (-ETIMEDOUT when nothing answered). */
static int try_connect(int nsfd, const char *ip, uint16_t port, int ms,
		       int *out)
{
	int fd = socket_in(nsfd);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	ASSERT_EQ(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	if (r < 0 && poll(&p, 1, ms) != 1) {
		close(fd);
		return -ETIMEDOUT;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ASSERT_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len), 0);
	if (soerr) {
		close(fd);
		return -soerr;
	}
	ASSERT_EQ(fcntl(fd, F_SETFL, 0), 0);
	*out = fd;
	return 0;
}

/* A connection from nsfd to ip:port that listener accepts, with bytes
 * both ways; peer gets the client address the listener saw. */
static void roundtrip(int listener, int nsfd, const char *ip, uint16_t port,
		      char *peer)
{
	int c = -1;
	ASSERT_EQ(try_connect(nsfd, ip, port, 3000, &c), 0);
	struct pollfd p = {.fd = listener, .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 3000), 1);
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = accept4(listener, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	ASSERT_TRUE(s >= 0);
	char buf[4];
	ASSERT_EQ(write(c, "ping", 4), 4);
	ASSERT_EQ(read(s, buf, 4), 4);
	ASSERT_TRUE(!memcmp(buf, "ping", 4));
	ASSERT_EQ(write(s, "pong", 4), 4);
	ASSERT_EQ(read(c, buf, 4), 4);
	ASSERT_TRUE(!memcmp(buf, "pong", 4));
	ASSERT_TRUE(inet_ntop(AF_INET, &sa.sin_addr, peer, INET_ADDRSTRLEN));
	close(s);
	close(c);
}

static int has_link_cb(void *arg, struct berr *err)
{
	return if_nametoindex(arg) > 0;
}

static bool has_link_in(int nsfd, const char *name)
{
	struct berr e = {0};
	return nsn_run_in_netns(nsfd, has_link_cb, (void *)name, &e) == 1;
}

/* A container: namespace with eth0 at addr (CIDR) via gw, its veth host
 * end `veth` on bridge. Returns the namespace fd. */
static int container(const char *bridge, const char *veth, const char *addr,
		     const char *gw)
{
	int ns = new_netns_fd();
	struct berr e = {0};
	struct nsn_veth v = {.host_ifname = veth,
			     .bridge = bridge,
			     .netns_fd = ns,
			     .peer_ifname = "eth0"};
	ASSERT_OK(nsn_veth_create(&v, &e));
	struct nsn_iface i = {.ifname = "eth0", .addr = addr, .gateway = gw};
	ASSERT_OK(nsn_iface_configure(ns, &i, &e));
	return ns;
}

static void bridge_with(const char *name, const char *cidr)
{
	struct berr e = {0};
	ASSERT_OK(nsn_bridge_create(name, &e));
	ASSERT_OK(nsn_addr_add(name, cidr, &e));
}

/* ---- links, addresses, routes ------------------------------------------- */

static int mac_cb(void *arg, struct berr *err)
{
	unsigned char *mac = arg;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "eth0");
	int r = ioctl(fd, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return r;
}

TEST(bridge_and_veth_carry_tcp_between_namespaces)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_OK(nsn_loopback_up(&e));
	bridge_with("br0", "10.88.0.1/24");
	ASSERT_TRUE(link_flags("br0") & IFF_UP);
	int ctr = new_netns_fd();
	struct nsn_veth v = {.host_ifname = "vb0",
			     .bridge = "br0",
			     .netns_fd = ctr,
			     .peer_ifname = "eth0",
			     .peer_mac = "02:42:0a:58:00:02"};
	ASSERT_OK(nsn_veth_create(&v, &e));
	ASSERT_TRUE(link_flags("vb0") & IFF_UP);
	ASSERT_TRUE(if_nametoindex("eth0") == 0); /* it went over */
	ASSERT_TRUE(has_link_in(ctr, "eth0"));
	unsigned char mac[6];
	ASSERT_OK(nsn_run_in_netns(ctr, mac_cb, mac, &e));
	ASSERT_TRUE(!memcmp(mac, "\x02\x42\x0a\x58\x00\x02", 6));
	struct nsn_iface i = {.ifname = "eth0",
			      .addr = "10.88.0.2/24",
			      .gateway = "10.88.0.1"};
	ASSERT_OK(nsn_iface_configure(ctr, &i, &e));
	/* host -> container on the bridge's subnet */
	char peer[INET_ADDRSTRLEN];
	int l = listen_in(ctr, 8000);
	roundtrip(l, -1, "10.88.0.2", 8000, peer);
	ASSERT_STREQ(peer, "10.88.0.1");
	close(l);
	/* container -> an address of the host off the subnet: the default
	 * route */
	ASSERT_OK(nsn_addr_add("lo", "192.0.2.1/32", &e));
	l = listen_in(-1, 8001);
	roundtrip(l, ctr, "192.0.2.1", 8001, peer);
	ASSERT_STREQ(peer, "10.88.0.2");
	close(l);
	/* deleting the host end takes the container's end with it */
	ASSERT_OK(nsn_link_delete("vb0", &e));
	ASSERT_TRUE(!has_link_in(ctr, "eth0"));
	ASSERT_OK(nsn_link_delete("br0", &e));
	ASSERT_EQ(if_nametoindex("br0"), 0);
	ASSERT_EQ(nsn_link_delete("br0", &e), -ENODEV);
	ASSERT_STREQ(e.msg, "delete link `br0`: No such device");
}

TEST(link_errors_name_the_object_and_leave_nothing)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_OK(nsn_bridge_create("br0", &e));
	ASSERT_EQ(nsn_bridge_create("br0", &e), -EEXIST);
	ASSERT_STREQ(e.msg, "create bridge `br0`: File exists");
	ASSERT_EQ(nsn_bridge_create("a-name-too-long0", &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "create bridge `a-name-too-long0`: not an");
	ASSERT_EQ(nsn_bridge_create("a\"b", &e), -EINVAL);
	int ctr = new_netns_fd();
	struct nsn_veth v = {.host_ifname = "vb0",
			     .bridge = "nobridge",
			     .netns_fd = ctr,
			     .peer_ifname = "eth0"};
	ASSERT_EQ(nsn_veth_create(&v, &e), -ENODEV);
	ASSERT_STREQ(e.msg, "create veth `vb0` (peer `eth0`): bridge "
			    "`nobridge`: No such device");
	v.bridge = "br0";
	v.peer_mac = "02:42:zz:00:00:01";
	ASSERT_EQ(nsn_veth_create(&v, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "create veth `vb0` (peer `eth0`): bad MAC "
			    "address `02:42:zz:00:00:01`");
	v.peer_mac = "03:42:00:00:00:01";
	ASSERT_EQ(nsn_veth_create(&v, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "is a multicast one");
	ASSERT_EQ(if_nametoindex("vb0"), 0);
	ASSERT_TRUE(!has_link_in(ctr, "eth0"));
	/* the peer's name is taken in its namespace: neither end stays */
	v.peer_mac = NULL;
	ASSERT_OK(nsn_veth_create(&v, &e));
	v.host_ifname = "vb1";
	ASSERT_EQ(nsn_veth_create(&v, &e), -EEXIST);
	ASSERT_STREQ(e.msg, "create veth `vb1` (peer `eth0`): File exists");
	ASSERT_EQ(if_nametoindex("vb1"), 0);
	/* addresses and routes */
	ASSERT_OK(nsn_addr_add("br0", "10.88.0.1/24", &e));
	ASSERT_EQ(nsn_addr_add("br0", "10.88.0.1/24", &e), -EEXIST);
	ASSERT_STREQ(e.msg, "add address 10.88.0.1/24 to `br0`: File exists");
	ASSERT_EQ(nsn_addr_add("br0", "10.88.0.300/24", &e), -EINVAL);
	ASSERT_STREQ(e.msg, "add address to `br0`: `10.88.0.300/24` is not "
			    "an IPv4 or IPv6 address with an optional /prefix");
	ASSERT_OK(nsn_addr_add("br0", "fd00:88::1/64", &e));
	ASSERT_EQ(nsn_addr_add("nolink", "10.9.0.1/24", &e), -ENODEV);
	ASSERT_STREQ(e.msg, "add address 10.9.0.1/24 to `nolink`: No such "
			    "device");
	struct nsn_iface i = {.ifname = "eth0",
			      .addr = "10.88.0.2/24",
			      .gateway = "10.99.0.1"};
	ASSERT_EQ(nsn_iface_configure(ctr, &i, &e), -ENETUNREACH);
	ASSERT_STREQ(e.msg,
		     "in the container's network namespace: add "
		     "default route via 10.99.0.1 dev `eth0`: Network is "
		     "unreachable");
}

TEST(route_overlap_names_the_route)
{
	enter_new_netns();
	struct berr e = {0};
	bridge_with("br0", "10.20.0.1/16");
	ASSERT_OK(nsn_route_add_default("br0", "10.20.0.254", &e));
	ASSERT_EQ(nsn_route_check_overlap("10.20.5.0/24", &e), -EADDRINUSE);
	ASSERT_STREQ(e.msg, "subnet 10.20.5.0/24 overlaps route 10.20.0.0/16 "
			    "dev br0");
	ASSERT_EQ(nsn_route_check_overlap("10.0.0.0/8", &e), -EADDRINUSE);
	/* the default route overlaps everything and counts for nothing */
	ASSERT_OK(nsn_route_check_overlap("10.21.0.0/16", &e));
	ASSERT_OK(nsn_route_check_overlap("192.168.0.0/24", &e));
	ASSERT_OK(nsn_addr_add("br0", "fd00:20::1/64", &e));
	ASSERT_EQ(nsn_route_check_overlap("fd00:20::/48", &e), -EADDRINUSE);
	ASSERT_STREQ(e.msg, "subnet fd00:20::/48 overlaps route fd00:20::/64 "
			    "dev br0");
	ASSERT_OK(nsn_route_check_overlap("fd00:21::/64", &e));
	ASSERT_EQ(nsn_route_check_overlap("10.20.0.0/33", &e), -EINVAL);
}

/* ---- address leases ----------------------------------------------------- */

static char *lease_dir(void)
{
	char tmpl[] = "/tmp/berth-ipam-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	return strdup(tmpl);
}

static void lease_dir_remove(char *dir)
{
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	free(dir);
}

static size_t lease_count(const char *dir, const char *net)
{
	struct nsn_lease *v = NULL;
	size_t n = 0;
	struct berr e = {0};
	ASSERT_OK(nsn_ipam_list(dir, net, &v, &n, &e));
	free(v);
	return n;
}

TEST(leases_are_sequential_requested_refused_and_reused)
{
	char *dir = lease_dir();
	struct berr e = {0};
	struct nsn_ipam_net net = {"n1", "10.88.0.0/29", "10.88.0.1"};
	char a[INET6_ADDRSTRLEN];
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e));
	ASSERT_STREQ(a, "10.88.0.2");
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "b", NULL, a, &e));
	ASSERT_STREQ(a, "10.88.0.3");
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "c", "10.88.0.6", a, &e));
	ASSERT_STREQ(a, "10.88.0.6");
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "d", NULL, a, &e));
	ASSERT_STREQ(a, "10.88.0.4");
	/* refusals, each leaving the leases as they were */
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x", "10.88.0.6", a, &e),
		  -EADDRINUSE);
	ASSERT_STREQ(e.msg, "lease an address of network n1 for x: address "
			    "10.88.0.6 is taken by c");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x", "10.88.1.5", a, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "lease an address of network n1 for x: address "
			    "10.88.1.5 is outside subnet 10.88.0.0/29");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x", "10.88.0.7", a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "address 10.88.0.7 is the broadcast address of "
			       "subnet 10.88.0.0/29");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x", "10.88.0.0", a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "is the network address");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x", "10.88.0.1", a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "address 10.88.0.1 is the gateway");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e), -EEXIST);
	ASSERT_STREQ(e.msg, "lease an address of network n1 for a: it holds "
			    "10.88.0.2 already");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "x y", NULL, a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "lease an address: owner id `x y`");
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "e", NULL, a, &e));
	ASSERT_STREQ(a, "10.88.0.5");
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "f", NULL, a, &e), -ENOSPC);
	ASSERT_STREQ(e.msg, "lease an address of network n1 for f: no free "
			    "address in subnet 10.88.0.0/29");
	ASSERT_EQ(lease_count(dir, "n1"), 5);
	/* release and reuse */
	ASSERT_EQ(nsn_ipam_release(dir, "n1", "b", &e), 1);
	ASSERT_OK(nsn_ipam_release(dir, "n1", "b", &e));
	ASSERT_OK(nsn_ipam_alloc(dir, &net, "f", NULL, a, &e));
	ASSERT_STREQ(a, "10.88.0.3");
	struct nsn_lease *v = NULL;
	size_t n = 0;
	ASSERT_OK(nsn_ipam_list(dir, "n1", &v, &n, &e));
	ASSERT_EQ(n, 5);
	ASSERT_STREQ(v[4].addr, "10.88.0.3");
	ASSERT_STREQ(v[4].owner, "f");
	free(v);
	/* another network in the same directory is separate */
	struct nsn_ipam_net six = {"n6", "fd00:88::/120", "fd00:88::1"};
	ASSERT_OK(nsn_ipam_alloc(dir, &six, "a", NULL, a, &e));
	ASSERT_STREQ(a, "fd00:88::2");
	ASSERT_OK(nsn_ipam_alloc(dir, &six, "b", "fd00:88::ff", a, &e));
	ASSERT_EQ(lease_count(dir, "n1"), 5);
	ASSERT_OK(nsn_ipam_remove(dir, "n6", &e));
	ASSERT_EQ(lease_count(dir, "n6"), 0);
	lease_dir_remove(dir);
}

TEST(bad_subnets_and_gateways_are_refused)
{
	char *dir = lease_dir();
	struct berr e = {0};
	char a[INET6_ADDRSTRLEN];
	struct nsn_ipam_net net = {"n1", "10.88.0.5/24", NULL};
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "lease an address of network n1 for a: subnet "
			    "10.88.0.5/24 has host bits set (the network "
			    "address ends in zeros)");
	net.subnet = "10.88.0.0/31";
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "subnet 10.88.0.0/31: the prefix must be /8 to "
			       "/30");
	net.subnet = "10.88.0.0/24";
	net.gateway = "10.88.1.1";
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "gateway 10.88.1.1 is not a host address of "
			       "subnet 10.88.0.0/24");
	net.gateway = "10.88.0.1";
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", "fd00::2", a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "address fd00::2 is outside subnet");
	net.name = "../x";
	ASSERT_EQ(nsn_ipam_alloc(dir, &net, "a", NULL, a, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "network name `../x`");
	ASSERT_EQ(nsn_ipam_alloc(
			  "/nonexistent-berth",
			  &(struct nsn_ipam_net){"n1", "10.88.0.0/24", NULL},
			  "a", NULL, a, &e),
		  -ENOENT);
	ASSERT_CONTAINS(e.msg, "open address lease directory "
			       "/nonexistent-berth: No such file or directory");
	/* nothing was written */
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *de; (de = readdir(d));)
		entries += de->d_name[0] != '.';
	closedir(d);
	ASSERT_EQ(entries, 0);
	lease_dir_remove(dir);
}

TEST(concurrent_leases_are_distinct)
{
	char *dir = lease_dir();
	struct nsn_ipam_net net = {"n1", "10.88.0.0/24", "10.88.0.1"};
	pid_t pids[20];
	for (int i = 0; i < 20; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			char owner[16], a[INET6_ADDRSTRLEN];
			struct berr e = {0};
			snprintf(owner, sizeof(owner), "c%d", i);
			_exit(nsn_ipam_alloc(dir, &net, owner, NULL, a, &e) == 0
				      ? 0
				      : 1);
		}
	}
	for (int i = 0; i < 20; i++) {
		int st = 0;
		ASSERT_EQ(waitpid(pids[i], &st, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct nsn_lease *v = NULL;
	size_t n = 0;
	struct berr e = {0};
	ASSERT_OK(nsn_ipam_list(dir, "n1", &v, &n, &e));
	ASSERT_EQ(n, 20);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			ASSERT_TRUE(strcmp(v[i].addr, v[j].addr) != 0);
			ASSERT_TRUE(strcmp(v[i].owner, v[j].owner) != 0);
		}
	/* and they are the 20 lowest: .2 to .21 */
	for (size_t i = 0; i < n; i++) {
		unsigned last;
		ASSERT_EQ(sscanf(v[i].addr, "10.88.0.%u", &last), 1);
		ASSERT_TRUE(last >= 2 && last <= 21);
	}
	free(v);
	lease_dir_remove(dir);
}

/* ---- nftables ------------------------------------------------------------ */

static char *ruleset(void)
{
	char *out = NULL;
	struct berr e = {0};
	ASSERT_OK(nsn_nft_list(&out, &e));
	return out;
}

static bool ruleset_has(const char *needle)
{
	char *s = ruleset();
	bool has = strstr(s, needle) != NULL;
	free(s);
	return has;
}

static void read_conf(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	ASSERT_TRUE(f != NULL);
	ASSERT_TRUE(fgets(buf, (int)len, f) != NULL);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

TEST(nft_rules_appear_and_go_by_tag)
{
	enter_new_netns();
	struct berr e = {0};
	char *s = ruleset();
	ASSERT_STREQ(s, "");
	free(s);
	bridge_with("br0", "10.88.0.1/24");
	struct nsn_nft_net n1 = {"n1", "br0", "10.88.0.0/24", "10.88.0.1",
				 false};
	ASSERT_OK(nsn_nft_network_add(&n1, &e));
	ASSERT_TRUE(ruleset_has("ip saddr 10.88.0.0/24 oifname != \"br0\" "
				"masquerade comment \"berth:net=n1\""));
	ASSERT_TRUE(ruleset_has("elements = { \"br0\" }"));
	ASSERT_TRUE(
		ruleset_has("iifname \"br0\" ip saddr 10.88.0.0/24 ip daddr "
			    "10.88.0.0/24 ip daddr != 10.88.0.1 notrack "
			    "comment \"berth:net=n1\""));
	char v[16];
	read_conf("/proc/sys/net/ipv4/conf/br0/route_localnet", v, sizeof(v));
	ASSERT_STREQ(v, "1");
	ASSERT_EQ(nsn_nft_network_add(&n1, &e), -EEXIST);
	ASSERT_STREQ(e.msg, "add nftables rules of network n1: it has rules "
			    "already");
	struct nsn_port_map maps[] = {
		{IPPROTO_TCP, NULL, 8080, "10.88.0.2", 80},
		{IPPROTO_UDP, "10.88.0.1", 5353, "10.88.0.2", 53},
	};
	ASSERT_OK(nsn_nft_publish("c1", maps, 2, &e));
	ASSERT_TRUE(ruleset_has("tcp dport 8080 dnat to 10.88.0.2:80 comment "
				"\"berth:ctr=c1\""));
	ASSERT_TRUE(ruleset_has("ip daddr 10.88.0.1 udp dport 5353 dnat to "
				"10.88.0.2:53 comment \"berth:ctr=c1\""));
	struct nsn_port_map m3 = {IPPROTO_TCP, NULL, 9090, "10.88.0.3", 90};
	ASSERT_OK(nsn_nft_publish("c10", &m3, 1, &e));
	/* the same port on another address, or another protocol, is free */
	struct nsn_port_map m4[] = {
		{IPPROTO_UDP, "10.88.0.5", 9090, "10.88.0.3", 90},
		{IPPROTO_UDP, "10.88.0.6", 9090, "10.88.0.3", 91},
	};
	ASSERT_OK(nsn_nft_publish("c10", m4, 2, &e));
	/* bad input: one clear error, no rule */
	s = ruleset();
	struct nsn_port_map bad[] = {
		{IPPROTO_TCP, NULL, 7070, "10.88.0.4", 70},
		{IPPROTO_TCP, NULL, 7071, "10.88.0", 71},
	};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "publish ports of container c2: port 1: container "
			    "address: `10.88.0` is not an IPv4 or IPv6 address "
			    "with an optional /prefix");
	bad[1] = (struct nsn_port_map){IPPROTO_SCTP, NULL, 1, "10.88.0.4", 1};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "port 1: protocol 132 is not tcp or udp");
	bad[1] = (struct nsn_port_map){IPPROTO_TCP, "fd00::1", 1, "10.88.0.4",
				       1};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "host address: `fd00::1` is not an IPv4 "
			       "address");
	ASSERT_EQ(nsn_nft_publish("c\"2", bad, 1, &e), -EINVAL);
	/* a port published already, by another container or in the same
	 * call, on any address or the same one */
	bad[1] = (struct nsn_port_map){IPPROTO_TCP, "10.0.0.1", 8080,
				       "10.88.0.4", 80};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EADDRINUSE);
	ASSERT_STREQ(e.msg, "publish ports of container c2: port 1: tcp port "
			    "8080 on 10.0.0.1 is published already by "
			    "container c1");
	bad[1] =
		(struct nsn_port_map){IPPROTO_UDP, NULL, 5353, "10.88.0.4", 53};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EADDRINUSE);
	ASSERT_CONTAINS(e.msg, "udp port 5353 is published already by "
			       "container c1");
	bad[1] =
		(struct nsn_port_map){IPPROTO_TCP, NULL, 7070, "10.88.0.4", 71};
	ASSERT_EQ(nsn_nft_publish("c2", bad, 2, &e), -EADDRINUSE);
	ASSERT_CONTAINS(e.msg, "port 1: tcp port 7070 is published already by "
			       "container c2");
	char *after = ruleset();
	ASSERT_STREQ(after, s);
	free(after);
	free(s);
	/* removal by tag, exact: c1's rules go, c10's stay */
	ASSERT_EQ(nsn_nft_unpublish("c1", &e), 2);
	ASSERT_TRUE(!ruleset_has("berth:ctr=c1\""));
	ASSERT_TRUE(ruleset_has("berth:ctr=c10\""));
	ASSERT_OK(nsn_nft_unpublish("c1", &e));
	ASSERT_EQ(nsn_nft_unpublish("c10", &e), 3);
	/* an internal network: no masquerade, no forwarding off its bridge */
	bridge_with("br1", "10.89.0.1/24");
	struct nsn_nft_net n2 = {"n2", "br1", "10.89.0.0/24", "10.89.0.1",
				 true};
	ASSERT_OK(nsn_nft_network_add(&n2, &e));
	ASSERT_TRUE(!ruleset_has(
		"ip saddr 10.89.0.0/24 oifname != \"br1\" masquerade"));
	ASSERT_TRUE(ruleset_has("iifname \"br1\" oifname != \"br1\" drop "
				"comment \"berth:net=n2\""));
	read_conf("/proc/sys/net/ipv4/conf/br1/route_localnet", v, sizeof(v));
	ASSERT_STREQ(v, "0");
	ASSERT_EQ(nsn_nft_network_remove("n1", "br0", &e), 4);
	ASSERT_TRUE(!ruleset_has("berth:net=n1"));
	ASSERT_TRUE(ruleset_has("elements = { \"br1\" }"));
	ASSERT_OK(nsn_nft_network_remove("n1", "br0", &e));
	ASSERT_EQ(nsn_nft_network_remove("n2", "br1", &e), 4);
	ASSERT_TRUE(!ruleset_has("berth:"));
	ASSERT_TRUE(!ruleset_has("elements"));
	/* a gateway outside the subnet, or not an address: nothing added */
	struct nsn_nft_net bad_gw = {"n4", "br0", "10.88.0.0/24", "10.89.0.1",
				     false};
	ASSERT_EQ(nsn_nft_network_add(&bad_gw, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "add nftables rules of network n4: gateway "
			    "10.89.0.1 is outside 10.88.0.0/24");
	bad_gw.gateway = "10.88.0.0/24";
	ASSERT_EQ(nsn_nft_network_add(&bad_gw, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "`10.88.0.0/24` is not an IPv4 address");
	ASSERT_TRUE(!ruleset_has("berth:"));
	/* a missing bridge: nothing is added */
	struct nsn_nft_net n3 = {"n3", "br9", "10.90.0.0/24", "10.90.0.1",
				 false};
	ASSERT_EQ(nsn_nft_network_add(&n3, &e), -ENODEV);
	ASSERT_STREQ(e.msg, "add nftables rules of network n3: bridge `br9`: "
			    "No such device");
	ASSERT_TRUE(!ruleset_has("berth:"));
	ASSERT_OK(nsn_nft_delete_table(&e));
	s = ruleset();
	ASSERT_STREQ(s, "");
	free(s);
	ASSERT_OK(nsn_nft_delete_table(&e));
}

/* The host (this namespace) with br0 10.88.0.1/24 and an uplink up0
 * 192.0.2.1/24 to an "outside" namespace at 192.0.2.2; a container on br0
 * at 10.88.0.2 with port 8080 published to its port 80. */
struct nat_world {
	int ctr, outside;
};

/* Whether nat_world turns br_netfilter's hooks off in its namespace (see
 * without_br_netfilter). */
static bool world_brnf_off;
static const char brnf_conf[] = "/proc/sys/net/bridge/bridge-nf-call-iptables";

static void nat_world(struct nat_world *w)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_OK(nsn_loopback_up(&e));
	bridge_with("br0", "10.88.0.1/24");
	w->ctr = container("br0", "vb0", "10.88.0.2/24", "10.88.0.1");
	w->outside = new_netns_fd();
	struct nsn_veth up = {.host_ifname = "up0",
			      .netns_fd = w->outside,
			      .peer_ifname = "eth0"};
	ASSERT_OK(nsn_veth_create(&up, &e));
	ASSERT_OK(nsn_addr_add("up0", "192.0.2.1/24", &e));
	struct nsn_iface i = {.ifname = "eth0", .addr = "192.0.2.2/24"};
	ASSERT_OK(nsn_iface_configure(w->outside, &i, &e));
	/* this namespace's, never the host's: the test unshared it */
	ASSERT_EQ(base_write_file_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward",
				     "1", 1, 0),
		  0);
	if (world_brnf_off)
		ASSERT_EQ(base_write_file_at(AT_FDCWD, brnf_conf, "0", 1, 0),
			  0);
	struct nsn_nft_net n = {"n1", "br0", "10.88.0.0/24", "10.88.0.1",
				false};
	ASSERT_OK(nsn_nft_network_add(&n, &e));
}

/* Runs body in a world where packets bridged between two containers meet
 * no IPv4 netfilter hook, as on a host where br_netfilter was never
 * loaded: berth's published ports, isolation and guard must not depend
 * on it. Where it is not loaded, the tests themselves run that way. */
static void without_br_netfilter(void (*body)(void))
{
	if (access(brnf_conf, F_OK) != 0)
		test_skip("br_netfilter is not loaded: the other tests run "
			  "without it");
	world_brnf_off = true;
	body();
	world_brnf_off = false;
}

static void published_port_reaches_the_container_body(void);
TEST(published_port_reaches_the_container)
{
	published_port_reaches_the_container_body();
}

TEST(published_port_reaches_the_container_without_br_netfilter)
{
	without_br_netfilter(published_port_reaches_the_container_body);
}

static void published_port_reaches_the_container_body(void)
{
	struct nat_world w;
	nat_world(&w);
	struct berr e = {0};
	char peer[INET_ADDRSTRLEN];
	int l = listen_in(w.ctr, 80);
	int c = -1;
	ASSERT_EQ(try_connect(w.outside, "192.0.2.1", 8080, 3000, &c),
		  -ECONNREFUSED);
	struct nsn_port_map m = {IPPROTO_TCP, NULL, 8080, "10.88.0.2", 80};
	ASSERT_OK(nsn_nft_publish("c1", &m, 1, &e));
	/* from outside (prerouting), keeping the client's address */
	roundtrip(l, w.outside, "192.0.2.1", 8080, peer);
	ASSERT_STREQ(peer, "192.0.2.2");
	/* from the host itself (output) */
	roundtrip(l, -1, "192.0.2.1", 8080, peer);
	ASSERT_STREQ(peer, "192.0.2.1");
	/* from the host's 127.0.0.1: masqueraded to the bridge's address */
	roundtrip(l, -1, "127.0.0.1", 8080, peer);
	ASSERT_STREQ(peer, "10.88.0.1");
	/* from the container itself and from its neighbour, through the
	 * host's address: hairpin, masqueraded so that answers go back the
	 * same way */
	roundtrip(l, w.ctr, "192.0.2.1", 8080, peer);
	ASSERT_STREQ(peer, "10.88.0.1");
	int next = container("br0", "vb2", "10.88.0.3/24", "10.88.0.1");
	roundtrip(l, next, "192.0.2.1", 8080, peer);
	ASSERT_STREQ(peer, "10.88.0.1");
	/* gone with its tag */
	ASSERT_EQ(nsn_nft_unpublish("c1", &e), 1);
	ASSERT_EQ(try_connect(w.outside, "192.0.2.1", 8080, 3000, &c),
		  -ECONNREFUSED);
	ASSERT_EQ(try_connect(-1, "127.0.0.1", 8080, 3000, &c), -ECONNREFUSED);
	close(l);
}

TEST(containers_reach_out_masqueraded)
{
	struct nat_world w;
	nat_world(&w);
	char peer[INET_ADDRSTRLEN];
	int l = listen_in(w.outside, 9000);
	/* the outside has no route to 10.88.0.0/24: only the masquerade
	 * brings the answer back */
	roundtrip(l, w.ctr, "192.0.2.2", 9000, peer);
	ASSERT_STREQ(peer, "192.0.2.1");
	struct berr e = {0};
	ASSERT_EQ(nsn_nft_network_remove("n1", "br0", &e), 4);
	int c = -1;
	ASSERT_EQ(try_connect(w.ctr, "192.0.2.2", 9000, 300, &c), -ETIMEDOUT);
	close(l);
}

/* Whether this namespace's conntrack table has an entry with text. */
static bool tracked(const char *text)
{
	_cleanup_free_ char *t = NULL;
	size_t n = 0;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, "/proc/net/nf_conntrack", &t, &n,
				    1 << 24),
		  0);
	return t && strstr(t, text);
}

TEST(traffic_within_a_network_is_not_tracked)
{
	struct nat_world w;
	nat_world(&w);
	char peer[INET_ADDRSTRLEN];
	int next = container("br0", "vb2", "10.88.0.3/24", "10.88.0.1");
	int l = listen_in(next, 81);
	/* neighbours: bridged, never NATed. Without br_netfilter, bridged
	 * packets never reach conntrack at all, rule or not. */
	roundtrip(l, w.ctr, "10.88.0.3", 81, peer);
	ASSERT_STREQ(peer, "10.88.0.2");
	ASSERT_TRUE(!tracked("src=10.88.0.2 dst=10.88.0.3"));
	/* the host (the gateway) and the way out stay tracked */
	roundtrip(l, -1, "10.88.0.3", 81, peer);
	ASSERT_STREQ(peer, "10.88.0.1");
	ASSERT_TRUE(tracked("src=10.88.0.1 dst=10.88.0.3"));
	int out = listen_in(w.outside, 9000);
	roundtrip(out, next, "192.0.2.2", 9000, peer);
	ASSERT_STREQ(peer, "192.0.2.1");
	ASSERT_TRUE(tracked("src=10.88.0.3 dst=192.0.2.2"));
	close(l);
	close(out);
}

static int outside_gw_cb(void *arg, struct berr *err)
{
	return nsn_route_add_default("eth0", "192.0.2.1", err);
}

static void isolation_body(void);
TEST(bridges_are_isolated_and_internal_networks_stay_inside)
{
	isolation_body();
}

TEST(bridges_are_isolated_without_br_netfilter)
{
	without_br_netfilter(isolation_body);
}

static void isolation_body(void)
{
	struct nat_world w;
	nat_world(&w);
	struct berr e = {0};
	bridge_with("br1", "10.89.0.1/24");
	int other = container("br1", "vb1", "10.89.0.2/24", "10.89.0.1");
	/* the outside routes back through the host, so that without rules
	 * br1's container would reach it */
	ASSERT_OK(nsn_run_in_netns(w.outside, outside_gw_cb, NULL, &e));
	char peer[INET_ADDRSTRLEN];
	int l = listen_in(other, 80);
	int out = listen_in(w.outside, 9000);
	/* before br1's rules: forwarded between the bridges (br0's subnet
	 * masqueraded as it leaves by another interface) and out */
	roundtrip(l, w.ctr, "10.89.0.2", 80, peer);
	ASSERT_STREQ(peer, "10.89.0.1");
	roundtrip(out, other, "192.0.2.2", 9000, peer);
	ASSERT_STREQ(peer, "10.89.0.2");
	struct nsn_nft_net n2 = {"n2", "br1", "10.89.0.0/24", "10.89.0.1",
				 true};
	ASSERT_OK(nsn_nft_network_add(&n2, &e));
	int c = -1;
	ASSERT_EQ(try_connect(w.ctr, "10.89.0.2", 80, 300, &c), -ETIMEDOUT);
	ASSERT_EQ(try_connect(other, "192.0.2.2", 9000, 300, &c), -ETIMEDOUT);
	ASSERT_EQ(try_connect(other, "10.88.0.2", 80, 300, &c), -ETIMEDOUT);
	/* the host itself still reaches the internal network, and br0's
	 * container the outside */
	roundtrip(l, -1, "10.89.0.2", 80, peer);
	roundtrip(out, w.ctr, "192.0.2.2", 9000, peer);
	ASSERT_STREQ(peer, "192.0.2.1");
	/* a second non-internal network is isolated from br0 all the same */
	ASSERT_EQ(nsn_nft_network_remove("n2", "br1", &e), 4);
	roundtrip(l, w.ctr, "10.89.0.2", 80, peer);
	struct nsn_nft_net n3 = {"n3", "br1", "10.89.0.0/24", "10.89.0.1",
				 false};
	ASSERT_OK(nsn_nft_network_add(&n3, &e));
	ASSERT_EQ(try_connect(w.ctr, "10.89.0.2", 80, 300, &c), -ETIMEDOUT);
	close(l);
	close(out);
}

/* ---- the guard: a container cannot reach the host's 127.0.0.1 ----------- */

static int packet_cb(void *arg, struct berr *err)
{
	int *fd_ifindex = arg;
	fd_ifindex[0] = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	fd_ifindex[1] = (int)if_nametoindex("eth0");
	return fd_ifindex[0] < 0 || fd_ifindex[1] == 0 ? -errno : 0;
}

static uint16_t ip_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* From the container's eth0, a UDP datagram to 127.0.0.1:port sent to the
 * bridge's MAC address, as a hostile container would. */
static void send_to_host_loopback(int ctr, const unsigned char *br_mac,
				  uint16_t port)
{
	int fi[2];
	struct berr e = {0};
	ASSERT_OK(nsn_run_in_netns(ctr, packet_cb, fi, &e));
	unsigned char pkt[20 + 8 + 4] = {0};
	pkt[0] = 0x45;				 /* IPv4, 20-byte header */
	pkt[3] = sizeof(pkt);			 /* total length */
	pkt[8] = 64;				 /* TTL */
	pkt[9] = IPPROTO_UDP;			 /* protocol */
	memcpy(pkt + 12, "\x0a\x58\x00\x02", 4); /* 10.88.0.2 */
	memcpy(pkt + 16, "\x7f\x00\x00\x01", 4); /* 127.0.0.1 */
	uint16_t sum = ip_checksum(pkt, 20), p = htons(port), len = htons(12);
	memcpy(pkt + 10, &sum, 2);
	memcpy(pkt + 20, &p, 2); /* source port: any */
	memcpy(pkt + 22, &p, 2);
	memcpy(pkt + 24, &len, 2); /* UDP checksum 0: none */
	memcpy(pkt + 28, "evil", 4);
	struct sockaddr_ll ll = {.sll_family = AF_PACKET,
				 .sll_protocol = htons(ETH_P_IP),
				 .sll_ifindex = fi[1],
				 .sll_halen = 6};
	memcpy(ll.sll_addr, br_mac, 6);
	ASSERT_EQ(sendto(fi[0], pkt, sizeof(pkt), 0, (struct sockaddr *)&ll,
			 sizeof(ll)),
		  (long)sizeof(pkt));
	close(fi[0]);
}

static bool datagram_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[8];
	return poll(&p, 1, ms) == 1 && recv(fd, buf, sizeof(buf), 0) > 0;
}

static void loopback_body(void);
TEST(containers_cannot_reach_the_hosts_loopback)
{
	loopback_body();
}

TEST(containers_cannot_reach_the_hosts_loopback_without_br_netfilter)
{
	without_br_netfilter(loopback_body);
}

static void loopback_body(void)
{
	struct nat_world w;
	nat_world(&w);
	/* a host service on 127.0.0.1 alone */
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(5300),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ASSERT_EQ(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "br0");
	ASSERT_EQ(ioctl(u, SIOCGIFHWADDR, &ifr), 0);
	unsigned char mac[6];
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	/* route_localnet=1 on br0 lets it through were it not for the
	 * guard: without it the datagram arrives */
	send_to_host_loopback(w.ctr, mac, 5300);
	ASSERT_TRUE(!datagram_within(u, 300));
	struct berr e = {0};
	ASSERT_OK(nsn_nft_delete_table(&e));
	send_to_host_loopback(w.ctr, mac, 5300);
	ASSERT_TRUE(datagram_within(u, 1000));
	close(u);
}
