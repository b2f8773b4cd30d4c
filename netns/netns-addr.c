/* Addresses, routes and /proc/sys/net settings of a namespace, and the way
 * into another one. */
#include <fcntl.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <string.h>

#include "netns/netns-internal.h"

static void rtaddr_putp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
}
static void route_putp(struct rtnl_route **r)
{
	if (*r)
		rtnl_route_put(*r);
}
static void cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}

/* cidr as an nl_addr, through nsn_cidr_parse (inet_pton). */
static int nl_addr_from_cidr(const struct nsn_cidr *c, struct nl_addr **out)
{
	size_t len = c->family == AF_INET ? 4 : 16;
	struct nl_addr *a = nl_addr_build(c->family, c->addr, len);
	if (!a)
		return -ENOMEM;
	nl_addr_set_prefixlen(a, (int)c->prefix);
	*out = a;
	return 0;
}

static int link_index(struct nsn_nl *nl, const char *ifname, const char *ctx,
		      struct berr *err)
{
	_cleanup_(nsn_link_putp) struct rtnl_link *link = NULL;
	int r = rtnl_link_get_kernel(nl->sk, 0, ifname, &link);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return rtnl_link_get_ifindex(link);
}

/* The IPv4 broadcast address of c's subnet, as `ip addr add ... brd +`. */
static int broadcast_of(const struct nsn_cidr *c, struct nl_addr **out)
{
	struct nsn_cidr b = *c;
	uint32_t a;
	memcpy(&a, b.addr, 4);
	uint32_t host = c->prefix >= 32 ? 0 : (0xffffffffu >> c->prefix);
	a = htonl(ntohl(a) | host);
	memcpy(b.addr, &a, 4);
	b.prefix = 32;
	return nl_addr_from_cidr(&b, out);
}

int nsn_addr_add(const char *ifname, const char *cidr, struct berr *err)
{
	_cleanup_free_ char *ctx =
		base_sprintf("add address %s to `%s`", cidr, ifname);
	struct nsn_cidr c;
	int r = nsn_cidr_parse(cidr, &c, err);
	if (r < 0)
		return berr_wrap(err, "add address to `%s`", ifname);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	int ifindex = link_index(nl, ifname, ctx, err);
	if (ifindex < 0)
		return ifindex;
	_cleanup_(rtaddr_putp) struct rtnl_addr *addr = rtnl_addr_alloc();
	_cleanup_(nsn_addr_putp) struct nl_addr *local = NULL;
	_cleanup_(nsn_addr_putp) struct nl_addr *brd = NULL;
	if (!addr || nl_addr_from_cidr(&c, &local) < 0 ||
	    (c.family == AF_INET && broadcast_of(&c, &brd) < 0))
		return berr_set(err, ENOMEM, "%s", ctx);
	rtnl_addr_set_ifindex(addr, ifindex);
	r = rtnl_addr_set_local(addr, local);
	if (r == 0 && brd)
		r = rtnl_addr_set_broadcast(addr, brd);
	if (r == 0)
		r = rtnl_addr_add(nl->sk, addr, NLM_F_EXCL);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return 0;
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
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	int ifindex = link_index(nl, ifname, ctx, err);
	if (ifindex < 0)
		return ifindex;
	_cleanup_(route_putp) struct rtnl_route *route = rtnl_route_alloc();
	_cleanup_(nsn_addr_putp) struct nl_addr *dst = NULL;
	_cleanup_(nsn_addr_putp) struct nl_addr *via = NULL;
	struct nsn_cidr any = {.family = gw.family, .prefix = 0};
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	if (!route || !nh || nl_addr_from_cidr(&any, &dst) < 0 ||
	    nl_addr_from_cidr(&gw, &via) < 0) {
		if (nh)
			rtnl_route_nh_free(nh);
		return berr_set(err, ENOMEM, "%s", ctx);
	}
	rtnl_route_set_family(route, (uint8_t)gw.family);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	rtnl_route_set_dst(route, dst);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, via);
	rtnl_route_add_nexthop(route, nh); /* the route owns nh now */
	r = rtnl_route_add(nl->sk, route, NLM_F_EXCL);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	return 0;
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

/* dst as an nsn_cidr; false for a default route or another family. */
static bool route_dst(struct rtnl_route *route, int family,
		      struct nsn_cidr *out)
{
	struct nl_addr *dst = rtnl_route_get_dst(route);
	if (!dst || nl_addr_get_family(dst) != family ||
	    nl_addr_get_prefixlen(dst) == 0)
		return false;
	size_t len = family == AF_INET ? 4 : 16;
	if (nl_addr_get_len(dst) != len)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = family;
	out->prefix = nl_addr_get_prefixlen(dst);
	memcpy(out->addr, nl_addr_get_binary_addr(dst), len);
	return true;
}

static void route_dev(struct rtnl_route *route, char *name)
{
	strcpy(name, "?");
	struct rtnl_nexthop *nh = rtnl_route_nexthop_n(route, 0);
	if (nh && rtnl_route_nh_get_ifindex(nh) > 0)
		if_indextoname((unsigned)rtnl_route_nh_get_ifindex(nh), name);
}

int nsn_route_check_overlap(const char *cidr, struct berr *err)
{
	struct nsn_cidr want;
	int r = nsn_cidr_parse(cidr, &want, err);
	if (r < 0)
		return berr_wrap(err, "check routes");
	_cleanup_free_ char *ctx = base_sprintf("check routes for %s", cidr);
	_cleanup_(nsn_nl_freep) struct nsn_nl *nl = NULL;
	r = nsn_nl_open(&nl, ctx, err);
	if (r < 0)
		return r;
	_cleanup_(cache_freep) struct nl_cache *routes = NULL;
	r = rtnl_route_alloc_cache(nl->sk, want.family, 0, &routes);
	if (r < 0)
		return berr_set(err, nsn_nl_errno(nl, r), "%s", ctx);
	for (struct nl_object *o = nl_cache_get_first(routes); o;
	     o = nl_cache_get_next(o)) {
		struct rtnl_route *route = (struct rtnl_route *)o;
		struct nsn_cidr dst;
		if (rtnl_route_get_table(route) != RT_TABLE_MAIN ||
		    !route_dst(route, want.family, &dst) ||
		    !nsn_cidr_overlaps(&want, &dst))
			continue;
		char s[NSN_CIDR_STRLEN], dev[IF_NAMESIZE] = "";
		nsn_cidr_format(&dst, s, sizeof(s));
		route_dev(route, dev);
		return berr_setx(err, EADDRINUSE,
				 "subnet %s overlaps route %s dev %s", cidr, s,
				 dev);
	}
	return 0;
}
