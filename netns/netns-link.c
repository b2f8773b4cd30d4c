/* Links through rtnetlink (libnl-route): state, bridges, veth pairs. */
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <linux/if_link.h>
#include <netlink/attr.h>
#include <string.h>

#include "netns/netns-internal.h"

/* libnl turns the kernel's errno into its own codes (nl_syserr2nlerr);
 * this is the way back, so that callers see an errno like everywhere else. */
int nsn_nlerr_to_errno(int nlerr)
{
	static const struct {
		int nl, sys;
	} map[] = {
		{NLE_INTR, EINTR},
		{NLE_BAD_SOCK, EBADF},
		{NLE_AGAIN, EAGAIN},
		{NLE_NOMEM, ENOMEM},
		{NLE_EXIST, EEXIST},
		{NLE_INVAL, EINVAL},
		{NLE_RANGE, ERANGE},
		{NLE_MSGSIZE, EMSGSIZE},
		{NLE_OPNOTSUPP, EOPNOTSUPP},
		{NLE_AF_NOSUPPORT, EAFNOSUPPORT},
		{NLE_OBJ_NOTFOUND, ENOENT},
		{NLE_NOADDR, EADDRNOTAVAIL},
		{NLE_BUSY, EBUSY},
		{NLE_PROTO_MISMATCH, EPROTONOSUPPORT},
		{NLE_NOACCESS, EACCES},
		{NLE_PERM, EPERM},
		{NLE_NODEV, ENODEV},
	};
	if (nlerr < 0)
		nlerr = -nlerr;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (map[i].nl == nlerr)
			return map[i].sys;
	return EIO;
}

static int record_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct nsn_nl *nl = arg;
	nl->syserr = e->error < 0 ? -e->error : e->error;
	return NL_STOP; /* libnl then returns its own code as before */
}

int nsn_nl_open(struct nsn_nl **out, const char *what, struct berr *err)
{
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = base_calloc(1, sizeof(*nl));
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		return berr_set(err, ENOMEM, "%s", what);
	nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, record_error, nl);
	int r = nl_connect(nl->sk, NETLINK_ROUTE);
	if (r < 0)
		return berr_set(err, nsn_nlerr_to_errno(r),
				"%s: netlink socket", what);
	*out = TAKE_PTR(nl);
	return 0;
}

void nsn_nl_freep(struct nsn_nl **nl)
{
	if (!*nl)
		return;
	if ((*nl)->sk)
		nl_socket_free((*nl)->sk); /* closes it too */
	free(*nl);
}

int nsn_nl_errno(const struct nsn_nl *nl, int r)
{
	return nl->syserr ? nl->syserr : nsn_nlerr_to_errno(r);
}

int nsn_nl_request(struct nsn_nl *nl, struct nl_msg *msg)
{
	int r = nl_send_auto(nl->sk, msg);
	if (r >= 0)
		r = nl_wait_for_ack(nl->sk);
	return r < 0 ? -nsn_nl_errno(nl, r) : 0;
}

bool nsn_ifname_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= IFNAMSIZ || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int check_ifname(const char *name, const char *what, struct berr *err)
{
	if (nsn_ifname_ok(name))
		return 0;
	return berr_setx(err, EINVAL,
			 "%s `%s`: not an interface name (1 to 15 of "
			 "A-Z a-z 0-9 _ . -)",
			 what, name ? name : "");
}

/* A netlink socket and the link named ifname, as the kernel has it now. */
static int get_link(const char *ifname, const char *ctx, struct nsn_nl **nl,
		    struct rtnl_link **link, struct berr *err)
{
	int r = nsn_nl_open(nl, ctx, err);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel((*nl)->sk, 0, ifname, link);
	return r < 0 ? berr_set(err, nsn_nl_errno(*nl, r), "%s", ctx) : 0;
}

int nsn_link_set_up(const char *ifname, bool up, struct berr *err)
{
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	_cleanup_(nsn_link_putp) struct rtnl_link *link = NULL;
	_cleanup_free_ char *ctx =
		base_sprintf("set link `%s` %s", ifname, up ? "up" : "down");
	int r = get_link(ifname, ctx, &nl, &link, err);
	if (r < 0)
		return r;
	_cleanup_(nsn_link_putp) struct rtnl_link *change = rtnl_link_alloc();
	if (!change)
		return berr_set(err, ENOMEM, "%s", ctx);
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	r = rtnl_link_change(nl->sk, link, change, 0);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return 0;
}

int nsn_link_index(const char *ifname, bool *up, struct berr *err)
{
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	_cleanup_(nsn_link_putp) struct rtnl_link *link = NULL;
	_cleanup_free_ char *ctx = base_sprintf("find link `%s`", ifname);
	int r = get_link(ifname, ctx, &nl, &link, err);
	if (r < 0)
		return r;
	*up = rtnl_link_get_flags(link) & IFF_UP;
	return rtnl_link_get_ifindex(link);
}

int nsn_bridge_down_ports(const char *bridge, char ***names, struct berr *err)
{
	*names = NULL;
	int br = (int)if_nametoindex(bridge);
	if (br == 0)
		return 0; /* no bridge, no ports */
	_cleanup_free_ char *ctx =
		base_sprintf("list the ports of bridge `%s`", bridge);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	int r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	struct nl_cache *cache = NULL;
	int e = rtnl_link_alloc_cache(nl->sk, AF_UNSPEC, &cache);
	if (e < 0)
		return berr_set(err, nsn_nlerr_to_errno(e), "%s", ctx);
	for (struct nl_object *o = nl_cache_get_first(cache); o;
	     o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		if (rtnl_link_get_master(l) == br &&
		    !(rtnl_link_get_flags(l) & IFF_UP) && rtnl_link_get_name(l))
			base_strv_push(names, rtnl_link_get_name(l));
	}
	nl_cache_free(cache);
	return 0;
}

int nsn_loopback_up(struct berr *err)
{
	return nsn_link_set_up("lo", true, err);
}

int nsn_bridge_create(const char *name, struct berr *err)
{
	int r = check_ifname(name, "create bridge", err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ctx = base_sprintf("create bridge `%s`", name);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	_cleanup_(nsn_link_putp) struct rtnl_link *br =
		rtnl_link_bridge_alloc();
	if (!br)
		return berr_set(err, ENOMEM, "%s", ctx);
	rtnl_link_set_name(br, name);
	rtnl_link_set_flags(br, IFF_UP);
	r = rtnl_link_add(nl->sk, br, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return 0;
}

int nsn_link_delete(const char *ifname, struct berr *err)
{
	int r = check_ifname(ifname, "delete link", err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ctx = base_sprintf("delete link `%s`", ifname);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	_cleanup_(nsn_link_putp) struct rtnl_link *link = rtnl_link_alloc();
	if (!link)
		return berr_set(err, ENOMEM, "%s", ctx);
	rtnl_link_set_name(link, ifname);
	r = rtnl_link_delete(nl->sk, link);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return 0;
}

/* The peer's half of the request: its name, namespace and MAC. */
static int veth_peer(struct rtnl_link *veth, const struct nsn_veth *v,
		     const char *ctx, struct berr *err)
{
	_cleanup_(nsn_link_putp) struct rtnl_link *peer =
		rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, v->peer_ifname);
	rtnl_link_set_ns_fd(peer, v->netns_fd);
	if (v->mtu)
		rtnl_link_set_mtu(peer, v->mtu);
	if (!v->peer_mac)
		return 0;
	_cleanup_(nsn_addr_putp) struct nl_addr *mac = NULL;
	if (strlen(v->peer_mac) != 17 ||
	    nl_addr_parse(v->peer_mac, AF_LLC, &mac) < 0 ||
	    nl_addr_get_len(mac) != 6)
		return berr_setx(err, EINVAL, "%s: bad MAC address `%s`", ctx,
				 v->peer_mac);
	const unsigned char *b = nl_addr_get_binary_addr(mac);
	if (b[0] & 1)
		return berr_setx(err, EINVAL,
				 "%s: MAC address `%s` is a multicast one", ctx,
				 v->peer_mac);
	rtnl_link_set_addr(peer, mac);
	return 0;
}

/* Lets the bridge send a frame back out of the port it came in by, so that
 * a container reaches its own published port through the host's address
 * (the DNAT turns the packet around on the bridge). */
static int port_hairpin(struct nsn_nl *nl, const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0)
		return -errno;
	_cleanup_(nsn_msg_freep) struct nl_msg *m =
		nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = (int)idx};
	if (!m || nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		return -ENOMEM;
	struct nlattr *info = nla_nest_start(m, IFLA_PROTINFO | NLA_F_NESTED);
	if (!info || nla_put_u8(m, IFLA_BRPORT_MODE, 1) < 0)
		return -ENOMEM;
	nla_nest_end(m, info);
	return nsn_nl_request(nl, m);
}

int nsn_veth_create(const struct nsn_veth *v, struct berr *err)
{
	int r = check_ifname(v->host_ifname, "create veth", err);
	if (r == 0)
		r = check_ifname(v->peer_ifname, "create veth peer", err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ctx = base_sprintf("create veth `%s` (peer `%s`)",
						v->host_ifname, v->peer_ifname);
	if (v->netns_fd < 0)
		return berr_setx(err, EBADF, "%s: no network namespace fd",
				 ctx);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	_cleanup_(nsn_link_putp) struct rtnl_link *veth =
		rtnl_link_veth_alloc();
	if (!veth)
		return berr_set(err, ENOMEM, "%s", ctx);
	rtnl_link_set_name(veth, v->host_ifname);
	rtnl_link_set_flags(veth, IFF_UP);
	if (v->mtu)
		rtnl_link_set_mtu(veth, v->mtu);
	if (v->bridge) {
		_cleanup_(nsn_link_putp) struct rtnl_link *br = NULL;
		r = rtnl_link_get_kernel(nl->sk, 0, v->bridge, &br);
		if (r < 0)
			return berr_set(err, nsn_nl_errno(nl, r),
					"%s: bridge `%s`", ctx, v->bridge);
		rtnl_link_set_master(veth, rtnl_link_get_ifindex(br));
	}
	r = veth_peer(veth, v, ctx, err);
	if (r < 0)
		return r;
	/* one request: the kernel creates both ends, moves the peer, enslaves
	 * and sets up the host end, or undoes all of it */
	r = rtnl_link_add(nl->sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	if (!v->bridge)
		return 0;
	r = port_hairpin(nl, v->host_ifname);
	if (r < 0) {
		berr_set(err, -r, "%s: hairpin mode on the bridge port", ctx);
		rtnl_link_delete(nl->sk, veth); /* by name: both ends */
	}
	return r;
}
