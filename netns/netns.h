/* netns: container networking below the runtime: links, addresses and
 * routes through libnl-route, IPv4/IPv6 address management in a small
 * state file, and berth's own nftables table through libnftables.
 *
 * A bridged container network is: a bridge with the gateway's address
 * (nsn_bridge_create, nsn_addr_add), an address lease per container
 * (nsn_ipam_alloc), a veth pair per container whose host end is enslaved
 * to the bridge and whose peer is moved into the container's network
 * namespace (nsn_veth_create), the peer's address and default route set
 * inside that namespace (nsn_iface_configure), and the network's NAT and
 * filter rules (nsn_nft_network_add, nsn_nft_publish).
 *
 * Functions act on the network namespace of the calling thread unless they
 * take a namespace fd. They return 0 (or a count where said) or -errno and
 * fill err with one line naming the object. Each call opens and closes its
 * own netlink socket or nftables context: separate processes and threads
 * may call them at once; nsn_run_in_netns moves only the calling thread.
 * Names that go into nftables rules or /proc/sys paths are checked first
 * (interface names: 1..15 bytes of [A-Za-z0-9_.-]; network names and
 * owner ids: NSN_ID_MAX bytes of [A-Za-z0-9_.+-], first one alphanumeric),
 * so a caller's string never becomes part of a command. */
#ifndef BERTH_NETNS_H
#define BERTH_NETNS_H

#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/base.h"

/* ---- links (netns-link.c) ---------------------------------------------- */

/* Brings the loopback interface up (a new network namespace starts with lo
 * down). */
int nsn_loopback_up(struct berr *err);

/* Sets the link named ifname up or down. -ENODEV when there is none. */
int nsn_link_set_up(const char *ifname, bool up, struct berr *err);

/* The index of the link named ifname (> 0), and in *up whether it is up.
 * -ENODEV when there is none. */
int nsn_link_index(const char *ifname, bool *up, struct berr *err);

/* Creates a bridge named name and sets it up. -EEXIST when a link of that
 * name exists (it is left alone), -EINVAL for a name berth refuses. */
int nsn_bridge_create(const char *name, struct berr *err);

/* Deletes the link named ifname (a bridge, or either end of a veth pair:
 * the kernel removes both ends). -ENODEV when there is none. */
int nsn_link_delete(const char *ifname, struct berr *err);

/* The ports of bridge that are down (base_strv_free); none when there is
 * no such bridge. */
int nsn_bridge_down_ports(const char *bridge, char ***names, struct berr *err);

/* A veth pair: one end stays here, the peer goes into another namespace. */
struct nsn_veth {
	const char *host_ifname; /* the end that stays, e.g. "vb3f2a9c01" */
	const char *bridge;	 /* enslave the host end to it; NULL: none */
	int netns_fd;		 /* the peer's namespace (an nsfs fd) */
	const char *peer_ifname; /* its name there, e.g. "eth0" */
	const char *peer_mac;	 /* "02:42:0a:58:00:02"; NULL: random */
	unsigned mtu;		 /* both ends; 0: the kernel's default */
};

/* Creates the pair in one netlink request: the peer is created directly in
 * v->netns_fd under its final name (down; nsn_iface_configure sets it up),
 * the host end enslaved to v->bridge (in hairpin mode) and up. On any error
 * nothing is left: -ENODEV (no such bridge), -EEXIST (a name is taken on either
 * side), -EINVAL (a refused name or MAC). */
int nsn_veth_create(const struct nsn_veth *v, struct berr *err);

/* ---- addresses and routes (netns-addr.c) -------------------------------- */

/* Adds the address cidr ("10.88.0.1/16", "fd00::1/64") to ifname. The
 * prefix gives the connected route, as `ip addr add` does; IPv4 addresses
 * get the subnet's broadcast address. -EEXIST when ifname has it. */
int nsn_addr_add(const char *ifname, const char *cidr, struct berr *err);

/* Adds the default route of gateway's family via gateway, out of ifname.
 * -EEXIST when there is a default route already; -ENETUNREACH when the
 * gateway is not on a connected subnet of ifname. */
int nsn_route_add_default(const char *ifname, const char *gateway,
			  struct berr *err);

/* Runs fn(arg, err) with the calling thread in the network namespace
 * netns_fd (setns), then moves the thread back; returns what fn returned.
 * Only this thread moves, and sockets fn opens stay in netns_fd's
 * namespace after the return. The way back uses an fd of the original
 * namespace opened before leaving: if even that fails the process aborts
 * rather than go on in the wrong namespace. */
int nsn_run_in_netns(int netns_fd, int (*fn)(void *arg, struct berr *err),
		     void *arg, struct berr *err);

/* The container's side of a veth pair, configured from inside. */
struct nsn_iface {
	const char *ifname;   /* e.g. "eth0" */
	const char *addr;     /* CIDR ("10.88.0.2/16"); NULL: none */
	const char *addr6;    /* IPv6 CIDR; NULL: none */
	const char *gateway;  /* default route via it; NULL: none */
	const char *gateway6; /* the IPv6 default route's; NULL: none */
};

/* In the namespace netns_fd (-1: the current one): lo up, the addresses
 * on ifname, ifname up, and the default route. Stops at the first error,
 * whose message names the namespace's interface; the caller deletes the
 * veth pair to undo it. */
int nsn_iface_configure(int netns_fd, const struct nsn_iface *c,
			struct berr *err);

/* Writes value to /proc/sys/net/ipv4/conf/<ifname>/<key> of the calling
 * thread's namespace (e.g. "route_localnet", "1"). */
int nsn_ipv4_conf_set(const char *ifname, const char *key, const char *value,
		      struct berr *err);

/* Returns 0 when the subnet cidr overlaps no route of the main routing
 * table of the calling thread's namespace (default routes aside), else
 * -EADDRINUSE with "subnet 10.88.0.0/16 overlaps route 10.0.0.0/8 dev
 * eth0". Docker refuses such a subnet for a new network the same way. */
int nsn_route_check_overlap(const char *cidr, struct berr *err);

/* ---- CIDRs and address management (netns-ipam.c) ------------------------ */

/* An address with a prefix length, as written: host bits are kept. */
struct nsn_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned prefix;	/* 0..32 or 0..128 */
	unsigned char addr[16]; /* network byte order; 4 used for AF_INET */
};
/* "a.b.c.d/NN" + NUL at most */
#define NSN_CIDR_STRLEN (INET6_ADDRSTRLEN + 4)

/* Parses "10.88.0.0/16" or "fd00::/64" (inet_pton); an address without a
 * prefix is a full-length one (/32, /128). -EINVAL names the text. */
int nsn_cidr_parse(const char *s, struct nsn_cidr *c, struct berr *err);
/* Formats c as "addr/prefix" (inet_ntop) into buf (NSN_CIDR_STRLEN). */
void nsn_cidr_format(const struct nsn_cidr *c, char *buf, size_t len);
/* True when a and b share an address (one contains the other). */
bool nsn_cidr_overlaps(const struct nsn_cidr *a, const struct nsn_cidr *b);

/* Network names and owner ids: at most this many bytes. */
#define NSN_ID_MAX 100

/* A network's address pool. Its leases live in <dir>/<name>.leases, one
 * "ADDRESS OWNER" line each, written whole through a rename. */
struct nsn_ipam_net {
	const char *name; /* the network's name */
	const char
		*subnet; /* "10.88.0.0/16" (no host bits; at most /30, /126) */
	const char *gateway; /* in subnet, never handed out; NULL: none */
};

struct nsn_lease {
	char addr[INET6_ADDRSTRLEN];
	char owner[NSN_ID_MAX + 1];
};

/* Leases an address of net->subnet to owner and writes it to addr
 * (INET6_ADDRSTRLEN bytes): want when given, else the lowest free one
 * (never the network address, the gateway, or the IPv4 broadcast). Every
 * call holds an exclusive flock on dir for its duration, so concurrent
 * processes and threads never lease one address twice. dir must exist.
 * Errors: -EINVAL (bad subnet, gateway or want, or want outside the
 * subnet or reserved), -EADDRINUSE (want is leased, naming the owner),
 * -EEXIST (owner holds a lease in this network), -ENOSPC (subnet full). */
int nsn_ipam_alloc(const char *dir, const struct nsn_ipam_net *net,
		   const char *owner, const char *want, char *addr,
		   struct berr *err);

/* Releases every lease of owner in network name; returns how many (0 when
 * it held none). */
int nsn_ipam_release(const char *dir, const char *name, const char *owner,
		     struct berr *err);

/* The leases of network name in file order, in an array the caller frees
 * (NULL and 0 when there are none). Returns 0 or -errno. */
int nsn_ipam_list(const char *dir, const char *name, struct nsn_lease **out,
		  size_t *n, struct berr *err);

/* Removes the lease file of network name (the network is gone). 0 when
 * there was none. */
int nsn_ipam_remove(const char *dir, const char *name, struct berr *err);

/* ---- nftables (netns-nft.c) --------------------------------------------- */

/* berth's rules live in one table, `table ip berth`, which berth creates
 * when it first needs it and owns whole:
 *   prerouting, output  (nat)        local destinations jump to published
 *   published           (regular)    one DNAT rule per published port
 *   postrouting         (nat)        loopback masquerade, jumps to outbound
 *   outbound            (regular)    one masquerade per network
 *   forward             (filter)     jumps to isolation
 *   isolation           (regular)    drops between bridges, internal networks
 *   guard               (filter)     prerouting at raw priority: drops
 *                                    127.0.0.0/8 arriving on a bridge,
 *                                    jumps to untracked
 *   untracked           (regular)    notrack within each network
 *   set bridges         (ifname)     every berth bridge
 * Each rule's comment is its tag: "berth:net=NAME" for a network's rules,
 * "berth:ctr=ID" for a container's published ports, so that a dead
 * container's or network's rules are found and removed by tag alone. Each
 * call is one nftables transaction: it applies whole or not at all, and
 * its error holds libnftables' message. IPv4 only.
 *
 * Published ports and the host's 127.0.0.1: the DNAT rules apply in
 * output as in prerouting, to every local destination address including
 * 127.0.0.0/8, rather than through a userspace proxy (docker-proxy):
 * berth has no daemon to run one, and DNAT keeps the client's address for
 * every other source. Loopback traffic routed to a bridge needs
 * route_localnet=1 on that bridge and a masquerade to the bridge's
 * address (the container cannot answer 127.0.0.1); since route_localnet
 * would also let a container reach the host's 127.0.0.1 services by
 * sending there through the bridge, the guard chain drops packets to
 * 127.0.0.0/8 that arrive on a berth bridge before conntrack's reverse
 * NAT (raw priority), as kube-proxy does since CVE-2020-8558.
 *
 * Conntrack: the NAT chains make the kernel track every IPv4 packet of
 * the namespace, and with br_netfilter loaded (docker loads it, and
 * bridge-nf-call-iptables=1 is then every namespace's default) that
 * includes packets bridged between two containers of one network. Those
 * are never NATed, so the untracked chain marks them notrack before
 * conntrack sees them (saddr and daddr in the subnet, daddr not the
 * gateway): a worker talking to a service of its network costs no
 * conntrack entry and no lookup. Packets to and from the gateway (the
 * host, and the masqueraded hairpin of a published port) stay tracked. */

struct nsn_nft_net {
	const char *name;    /* the network's name (tag) */
	const char *bridge;  /* its bridge, which must exist */
	const char *subnet;  /* IPv4 CIDR of its containers */
	const char *gateway; /* the bridge's IPv4 address, in subnet */
	bool internal;	     /* no masquerade, no forwarding off the bridge */
};

/* Adds the network's rules: the bridge joins the set (no forwarding
 * between two berth bridges); connections from the subnet DNATed back into
 * it are masqueraded (a container reaching a published port through the
 * host's address; nsn_veth_create sets hairpin mode on bridge ports); a
 * non-internal network masquerades its subnet leaving by any other interface,
 * masquerades loopback sources going to the bridge and gets route_localnet=1 on
 * it; an internal one drops forwarding into and out of its bridge. Traffic
 * between two addresses of the subnet other than the gateway is not tracked
 * (see above). -ENODEV when
 * the bridge is missing, -EEXIST when the network has rules (two processes
 * adding one network at once are not told apart: the caller serializes that).
 * On any error nothing is left. */
int nsn_nft_network_add(const struct nsn_nft_net *n, struct berr *err);

/* Removes every rule tagged for network name and bridge from the set.
 * Returns the number of rules removed (0 when none: safe to repeat).
 * route_localnet stays set on the bridge, which goes next. */
int nsn_nft_network_remove(const char *name, const char *bridge,
			   struct berr *err);

/* A published port: host_ip:host_port -> ctr_ip:ctr_port. */
struct nsn_port_map {
	int proto;	     /* IPPROTO_TCP or IPPROTO_UDP */
	const char *host_ip; /* a local IPv4 address; NULL: any local one */
	uint16_t host_port;  /* 1..65535 */
	const char *ctr_ip;  /* the container's IPv4 address */
	uint16_t ctr_port;   /* 1..65535 */
};

/* Adds a DNAT rule tagged "berth:ctr=ctr_id" for each of the n maps, in
 * one transaction (all or none). -EADDRINUSE, naming the container, when a
 * rule publishes the same protocol and port on the same host address or
 * on any (berth's rules only: a host process listening there is not
 * seen, and loses the connections that match). */
int nsn_nft_publish(const char *ctr_id, const struct nsn_port_map *maps,
		    size_t n, struct berr *err);

/* Removes every rule tagged "berth:ctr=ctr_id"; returns how many (0 when
 * none: safe to repeat). */
int nsn_nft_unpublish(const char *ctr_id, struct berr *err);

/* berth's table as `nft -a list table ip berth` prints it, in a string the
 * caller frees; "" when there is no table. */
int nsn_nft_list(char **out, struct berr *err);

/* Deletes berth's table with every rule in it (0 when there is none). */
int nsn_nft_delete_table(struct berr *err);

/* ---- CNI plugins (netns-cni.c) ------------------------------------------- */

/* A CNI 1.0 runner, as libcni: the network's conflist is the first file
 * whose "name" matches, in each of conf_dirs in turn, among its *.conflist
 * files and then its *.conf and *.json files (single plugins), each set in
 * byte order. Every plugin's type must be an executable in plugin_dirs
 * before any runs. ADD runs the plugins in order, each given the previous
 * one's result as prevResult, the list's name and cniVersion, and the
 * capability arguments it declares ("portMappings"); the last result is
 * kept in cache_dir with the conflist and arguments used, so that DEL and
 * CHECK run what ADD ran even after the conflist changed or went.
 *
 * Plugins run with posix_spawn: berth's environment without CNI_* plus
 * CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH (=
 * plugin_dirs) and CNI_ARGS, no other fds, default signals. A plugin's
 * stdout is read up to 1 MiB, its stderr's last 1 KiB kept; one that runs
 * longer than timeout_ms is killed. A plugin's error becomes
 * "CNI network NAME: plugin TYPE: MSG[: DETAILS]" (-EIO; -EAGAIN for CNI's
 * "try again later" code 11), else the end of its stderr.
 *
 * Calls for different containers may run at once (the plugins lock what
 * they share); calls for one container are serialized by the caller. */
struct nsn_cni_opts {
	const char *conf_dirs; /* colon list; NULL: "/etc/cni/net.d" */
	/* colon list; NULL: "/usr/lib/cni:/opt/cni/bin" */
	const char *plugin_dirs;
	const char *cache_dir;	  /* the ADD results (created 0700); required */
	const char *network;	  /* the conflist's "name" (an id, see above) */
	const char *container_id; /* an id (see above) */
	const char *netns_path;	  /* the container's netns file; NULL only
				   * for DEL (the namespace is gone) */
	const char *ifname;	  /* NULL: "eth0" */
	const char *args;	  /* CNI_ARGS ("K=V;K2=V2"); NULL: none */
	const struct nsn_port_map *ports; /* runtimeConfig.portMappings: */
	size_t n_ports;			  /* proto, host_ip/port, ctr_port */
	unsigned timeout_ms;		  /* per plugin run; 0: 60 s */
};

/* The container's side of an ADD's final result ("" where absent). */
struct nsn_cni_result {
	char ip4[64]; /* "10.88.0.2/16" */
	char gw4[48]; /* "10.88.0.1" */
	char ip6[96]; /* "fd00::2/64" */
	char gw6[64];
	char mac[18]; /* of ifname inside the container */
};

/* Attaches the container (res may be NULL). When a plugin fails, the
 * plugins run so far (and the failing one) are given DEL in reverse order,
 * so that nothing is left; the error is the plugin's. -ENOENT: no such
 * network or plugin (nothing ran), -EEXIST: the container is attached as
 * ifname already (a cached result exists). */
int nsn_cni_add(const struct nsn_cni_opts *o, struct nsn_cni_result *res,
		struct berr *err);

/* Detaches it: DEL of each plugin in reverse order with the cached result,
 * then the cache entry goes. Idempotent: without a cache entry the
 * conflist's plugins get DEL anyway (as libcni does), and without either
 * it returns 0. When a plugin fails the others still run, the entry stays
 * (a later DEL retries) and the first error is returned. */
int nsn_cni_del(const struct nsn_cni_opts *o, struct berr *err);

/* CHECK of each plugin in order with the cached result: 0 when the
 * attachment is as ADD left it (or the conflist says disableCheck),
 * -ENOENT when not attached, -ENOTSUP for a cniVersion before 0.4.0. */
int nsn_cni_check(const struct nsn_cni_opts *o, struct berr *err);

/* ---- a DNS server per network (netns-dns.c) -------------------------------
 */

/* Containers of a network find each other by name through a dnsmasq
 * (Debian's dnsmasq-base) of that network: started on demand in the
 * calling thread's network namespace, listening on the network's gateway
 * address and bridge alone (port 53, UDP and TCP; never lo), answering
 * from the hosts files the caller writes, one per container, which it
 * watches (several entries of one name: all their addresses), forwarding
 * other dotted names to the upstream servers given (none: it answers them
 * with "refused"). No DHCP, no /etc/hosts, no /etc/resolv.conf, no
 * syslog. It runs as root: it reads the hosts files as its user, and
 * state_dir need not be open to others.
 *
 * The server is a daemon that outlives the berth process that starts it:
 * its own session, default signals, stdin and stdout on /dev/null and its
 * stderr in state_dir/dnsmasq.err (none of the caller's fds or pipes), its
 * log in state_dir/dnsmasq.log. It stays in the caller's cgroup. A pid file
 * state_dir/dnsmasq.pid names it; a pid counts as the server only while
 * /proc shows a dnsmasq started with that pid file, and it is signalled
 * through a pidfd, so that a stale pid file (a SIGKILLed berth, a reboot)
 * or a reused pid is never mistaken for it. Calls on one state_dir are
 * serialized by a lock file there (dnsmasq.lock); processes may call at
 * once. state_dir must be an absolute path without spaces or commas. */

#define NSN_DNS_NAME_MAX 253

struct nsn_dns_host {
	char name[NSN_DNS_NAME_MAX + 1]; /* "web", "web.berth" */
	char ip[INET6_ADDRSTRLEN];	 /* IPv4 or IPv6 */
};

struct nsn_dns {
	const char *state_dir; /* the network's dir: pid, hosts, log files */
	const char *bridge;    /* the interface to listen on */
	const char *listen_ip; /* the gateway's address on it */
	const char *const *upstream; /* forwarders (IPv4/IPv6 addresses) */
	size_t n_upstream;	     /* may be 0 */
};

/* Writes the n entries (one "IP NAME" line each) of one container, key,
 * as state_dir/hosts.d/KEY through a rename, so that the server never
 * reads half a file; a running server reads it by itself (inotify), and n
 * == 0 drops it. -EINVAL (nothing written) for a key that is not a
 * container name, a name that is not labels of [A-Za-z0-9_-] joined by
 * dots, or an address that is not one. */
int nsn_dns_hosts_put(const char *state_dir, const char *key,
		      const struct nsn_dns_host *hosts, size_t n,
		      struct berr *err);

/* Removes the entries of key; a running server forgets them by itself. */
int nsn_dns_hosts_drop(const char *state_dir, const char *key,
		       struct berr *err);

/* How many containers have entries. */
size_t nsn_dns_hosts_count(const char *state_dir);

/* Starts the server when none runs (its hosts directory first if there is
 * none) and returns once it listens; one running with other options
 * (bridge, address, upstream) is stopped and started anew. -EIO with
 * dnsmasq's own message when it cannot start (e.g. the address is not on
 * the bridge or is taken). */
int nsn_dns_ensure(const struct nsn_dns *d, struct berr *err);

/* Stops the server: SIGTERM, without waiting for its end (the next start
 * waits, and sends SIGKILL after 5 s); 0 when none runs. The hosts files
 * and the pid file stay (the pid file goes once the server has ended). */
int nsn_dns_stop(const char *state_dir, struct berr *err);

/* The same, and waits for the server's end (and for one stopped before):
 * for a network that goes. */
int nsn_dns_stop_wait(const char *state_dir, struct berr *err);

/* True when the server of state_dir runs. */
bool nsn_dns_running(const char *state_dir);

#endif
