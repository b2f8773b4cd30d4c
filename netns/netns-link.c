/* Link state through rtnetlink (libnl-route). */
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "netns/netns.h"

/* libnl turns the kernel's errno into its own codes (nl_syserr2nlerr);
 * this is the way back, so that callers see an errno like everywhere else. */
static int nlerr_to_errno(int nlerr)
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

static void sock_freep(struct nl_sock **s)
{
	if (*s)
		nl_socket_free(*s); /* closes it too */
}

static void link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}

int nsn_link_set_up(const char *ifname, bool up, struct berr *err)
{
	const char *what = up ? "up" : "down";
	_cleanup_(sock_freep) struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		return berr_set(err, ENOMEM, "set link `%s` %s", ifname, what);
	int r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return berr_set(err, nlerr_to_errno(r),
				"set link `%s` %s: netlink socket", ifname,
				what);
	_cleanup_(link_putp) struct rtnl_link *link = NULL;
	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0)
		return berr_set(err, nlerr_to_errno(r), "set link `%s` %s",
				ifname, what);
	_cleanup_(link_putp) struct rtnl_link *change = rtnl_link_alloc();
	if (!change)
		return berr_set(err, ENOMEM, "set link `%s` %s", ifname, what);
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	r = rtnl_link_change(sk, link, change, 0);
	if (r < 0)
		return berr_set(err, nlerr_to_errno(r), "set link `%s` %s",
				ifname, what);
	return 0;
}

int nsn_loopback_up(struct berr *err)
{
	return nsn_link_set_up("lo", true, err);
}
