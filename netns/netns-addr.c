/* Addresses, routes and /proc/sys/net settings of a namespace, and the way
 * into another one.
 *
 * Addresses and routes are raw rtnetlink messages built with libnl's
 * message layer, not its rtnl_addr/rtnl_route objects: those bring in
 * libnl's route_utils, whose constructors allocate name tables in every
 * berth process (about 200 KiB more resident for `berth --version`). */
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <sched.h>
#include <string.h>

#include "netns/netns-internal.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int link_index(const char *ifname, const char *ctx, struct berr *err)
{
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0)
		return berr_set(err, errno == ENXIO ? ENODEV : errno, "%s",
				ctx);
	return (int)idx;
}

/* RTM_NEWADDR for c on ifindex, with c's IPv4 broadcast address. */
static struct nl_msg *addr_msg(const struct nsn_cidr *c, int ifindex)
{
	struct nl_msg *m = nlmsg_alloc_simple(
		RTM_NEWADDR,
		NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	/* no duplicate address detection for IPv6: the address is the
	 * lease's, and a tentative one would fail a container's first
	 * connections for about a second */
	struct ifaddrmsg ifa = {.ifa_family = (uint8_t)c->family,
				.ifa_prefixlen = (uint8_t)c->prefix,
				.ifa_flags =
					c->family == AF_INET6 ? IFA_F_NODAD : 0,
				.ifa_scope = RT_SCOPE_UNIVERSE,
				.ifa_index = (uint32_t)ifindex};
	size_t len = addr_len(c->family);
	if (!m || nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(m, IFA_LOCAL, (int)len, c->addr) < 0 ||
	    nla_put(m, IFA_ADDRESS, (int)len, c->addr) < 0)
		goto fail;
	if (c->family == AF_INET) {
		uint32_t a;
		memcpy(&a, c->addr, 4);
		uint32_t host = c->prefix >= 32 ? 0 : 0xffffffffu >> c->prefix;
		a = htonl(ntohl(a) | host);
		if (nla_put(m, IFA_BROADCAST, 4, &a) < 0)
			goto fail;
	}
	return m;
fail:
	if (m)
		nlmsg_free(m);
	return NULL;
}

/* One request on a socket of its own, its error named by ctx. */
static int send_request(struct nl_msg *m, const char *ctx, struct berr *err)
{
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	int r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	r = nsn_nl_request(nl, m);
	return r < 0 ? berr_set(err, -r, "%s", ctx) : 0;
}

int nsn_addr_add(const char *ifname, const char *cidr, struct berr *err)
{
	_cleanup_free_ char *ctx =
		base_sprintf("add address %s to `%s`", cidr, ifname);
	struct nsn_cidr c;
	int r = nsn_cidr_parse(cidr, &c, err);
	if (r < 0)
		return berr_wrap(err, "add address to `%s`", ifname);
	int ifindex = link_index(ifname, ctx, err);
	if (ifindex < 0)
		return ifindex;
	_cleanup_(nsn_msg_freep) struct nl_msg *m = addr_msg(&c, ifindex);
	if (!m)
		return berr_set(err, ENOMEM, "%s", ctx);
	return send_request(m, ctx, err);
}

int nsn_route_add_default(const char *ifname, const char *gateway,
			  struct berr *err)
{
	_cleanup_free_ char *ctx = base_sprintf(
		"add default route via %s dev `%s`", gateway, ifname);
	struct nsn_cidr gw;
	int r = nsn_cidr_parse(gateway, &gw, err);
	if (r < 0)
		return berr_wrap(err, "add default route");
	int ifindex = link_index(ifname, ctx, err);
	if (ifindex < 0)
		return ifindex;
	_cleanup_(nsn_msg_freep) struct nl_msg *m = nlmsg_alloc_simple(
		RTM_NEWROUTE,
		NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg rtm = {.rtm_family = (uint8_t)gw.family,
			    .rtm_table = RT_TABLE_MAIN,
			    .rtm_protocol = RTPROT_STATIC,
			    .rtm_scope = RT_SCOPE_UNIVERSE,
			    .rtm_type = RTN_UNICAST};
	if (!m || nlmsg_append(m, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(m, RTA_GATEWAY, (int)addr_len(gw.family), gw.addr) < 0 ||
	    nla_put_u32(m, RTA_OIF, (uint32_t)ifindex) < 0)
		return berr_set(err, ENOMEM, "%s", ctx);
	return send_request(m, ctx, err);
}

int nsn_run_in_netns(int netns_fd, int (*fn)(void *arg, struct berr *err),
		     void *arg, struct berr *err)
{
	_cleanup_close_ int self =
		open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return berr_set(err, errno,
				"open /proc/thread-self/ns/net (to come back)");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return berr_set(err, errno, "enter network namespace (fd %d)",
				netns_fd);
	int r = fn(arg, err);
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* going on in the container's namespace is worse */
	return r;
}

static int iface_configure(void *arg, struct berr *err)
{
	const struct nsn_iface *c = arg;
	int r = nsn_loopback_up(err);
	if (r == 0 && c->addr)
		r = nsn_addr_add(c->ifname, c->addr, err);
	if (r == 0 && c->addr6)
		r = nsn_addr_add(c->ifname, c->addr6, err);
	if (r == 0)
		r = nsn_link_set_up(c->ifname, true, err);
	if (r == 0 && c->gateway)
		r = nsn_route_add_default(c->ifname, c->gateway, err);
	if (r == 0 && c->gateway6)
		r = nsn_route_add_default(c->ifname, c->gateway6, err);
	return r;
}

int nsn_iface_configure(int netns_fd, const struct nsn_iface *c,
			struct berr *err)
{
	int r = netns_fd < 0 ? iface_configure((void *)c, err)
			     : nsn_run_in_netns(netns_fd, iface_configure,
						(void *)c, err);
	if (r < 0)
		return berr_wrap(err, "in the container's network namespace");
	return 0;
}

int nsn_ipv4_conf_set(const char *ifname, const char *key, const char *value,
		      struct berr *err)
{
	if (!nsn_ifname_ok(ifname) || !key || strchr(key, '/') ||
	    !strcmp(key, "..") || !strcmp(key, "."))
		return berr_setx(err, EINVAL,
				 "set net.ipv4.conf.%s.%s: bad name",
				 ifname ? ifname : "", key ? key : "");
	_cleanup_free_ char *path =
		base_sprintf("/proc/sys/net/ipv4/conf/%s/%s", ifname, key);
	int r = base_write_file_at(AT_FDCWD, path, value, strlen(value), 0);
	if (r < 0)
		return berr_set(err, -r, "write %s to %s", value, path);
	return 0;
}

/* What a route dump looks for: the first route overlapping want. */
struct overlap {
	struct nsn_cidr want, found;
	int oif; /* > 0 once found */
};

static int route_seen(struct nl_msg *m, void *arg)
{
	struct overlap *o = arg;
	struct nlmsghdr *h = nlmsg_hdr(m);
	struct nlattr *tb[RTA_MAX + 1];
	if (h->nlmsg_type != RTM_NEWROUTE || o->oif > 0 ||
	    nlmsg_parse(h, sizeof(struct rtmsg), tb, RTA_MAX, NULL) < 0)
		return NL_OK;
	const struct rtmsg *rtm = nlmsg_data(h);
	uint32_t table =
		tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	size_t len = addr_len(o->want.family);
	/* a default route overlaps everything and says nothing */
	if (table != RT_TABLE_MAIN || rtm->rtm_family != o->want.family ||
	    rtm->rtm_dst_len == 0 || !tb[RTA_DST] ||
	    (size_t)nla_len(tb[RTA_DST]) != len || rtm->rtm_dst_len > len * 8)
		return NL_OK;
	struct nsn_cidr dst = {.family = o->want.family,
			       .prefix = rtm->rtm_dst_len};
	memcpy(dst.addr, nla_data(tb[RTA_DST]), len);
	if (!nsn_cidr_overlaps(&o->want, &dst))
		return NL_OK;
	o->found = dst;
	o->oif = tb[RTA_OIF] ? (int)nla_get_u32(tb[RTA_OIF]) : 0;
	if (o->oif <= 0)
		o->oif = INT32_MAX; /* found, on no device */
	return NL_OK;
}

int nsn_route_check_overlap(const char *cidr, struct berr *err)
{
	struct overlap o = {0};
	int r = nsn_cidr_parse(cidr, &o.want, err);
	if (r < 0)
		return berr_wrap(err, "check routes");
	_cleanup_free_ char *ctx = base_sprintf("check routes for %s", cidr);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	struct rtmsg rtm = {.rtm_family = (uint8_t)o.want.family};
	r = nl_send_simple(nl->sk, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
	if (r >= 0)
		r = nl_socket_modify_cb(nl->sk, NL_CB_VALID, NL_CB_CUSTOM,
					route_seen, &o);
	if (r >= 0)
		r = nl_recvmsgs_default(nl->sk);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	if (o.oif == 0)
		return 0;
	char s[NSN_CIDR_STRLEN], dev[IF_NAMESIZE] = "?";
	nsn_cidr_format(&o.found, s, sizeof(s));
	if (o.oif != INT32_MAX)
		if_indextoname((unsigned)o.oif, dev);
	return berr_setx(err, EADDRINUSE, "subnet %s overlaps route %s dev %s",
			 cidr, s, dev);
}
