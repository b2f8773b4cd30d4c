/* netns: what its files share and nothing outside netns/ needs. */
#ifndef BERTH_NETNS_INTERNAL_H
#define BERTH_NETNS_INTERNAL_H

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "netns/netns.h"

/* libnl's error code (negative or positive) as a positive errno. */
int nsn_nlerr_to_errno(int nlerr);

/* A NETLINK_ROUTE socket that keeps the kernel's errno of the last error
 * reply: libnl folds many of them into one code (ENETUNREACH becomes
 * NLE_FAILURE). */
struct nsn_nl {
	struct nl_sock *sk;
	int syserr; /* positive errno of the last NLMSG_ERROR, 0 if none */
};

/* Opens one in the calling thread's network namespace. On failure fills
 * err with "what: netlink socket: cause". */
int nsn_nl_open(struct nsn_nl **out, const char *what, struct berr *err);
void nsn_nl_freep(struct nsn_nl **nl);
/* The errno of a failed libnl call r on nl. */
int nsn_nl_errno(const struct nsn_nl *nl, int r);
static inline void nsn_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}
static inline void nsn_addr_putp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
}

static inline void nsn_msg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}

/* Sends msg (a request with NLM_F_ACK) and waits for the kernel's answer;
 * 0 or -errno. */
int nsn_nl_request(struct nsn_nl *nl, struct nl_msg *msg);

/* True when name is one berth creates or accepts: 1..15 bytes of
 * [A-Za-z0-9_.-], not "." or "..". Such a name is safe inside a quoted
 * nftables string and a /proc/sys path. */
bool nsn_ifname_ok(const char *name);

/* True when s is a network name or owner id berth accepts (netns.h);
 * nsn_check_id fills err naming what otherwise. */
bool nsn_id_ok(const char *s);
int nsn_check_id(const char *s, const char *what, struct berr *err);

#endif
