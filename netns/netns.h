/* netns: network namespaces and links through libnl-route.
 *
 * Functions act on the network namespace of the calling thread. They
 * return 0 or -errno and fill err. Not thread-safe (each call opens its
 * own netlink socket, so separate processes are fine). */
#ifndef BERTH_NETNS_H
#define BERTH_NETNS_H

#include "base/base.h"

/* Brings the loopback interface up (a new network namespace starts with lo
 * down). */
int nsn_loopback_up(struct berr *err);

/* Sets the link named ifname up or down. */
int nsn_link_set_up(const char *ifname, bool up, struct berr *err);

#endif
