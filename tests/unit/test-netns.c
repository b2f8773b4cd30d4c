/* netns/: link state in a fresh network namespace (each test runs in its
 * own process, so unsharing here leaves the host's namespace alone). */
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <sys/syscall.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "netns/netns.h"
#include "tests/unit/test.h"

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
	ASSERT_EQ(nsn_loopback_up(&e), 0);
	ASSERT_TRUE(link_flags("lo") & IFF_UP);
}

TEST(link_goes_down_and_up)
{
	enter_new_netns();
	struct berr e = {0};
	ASSERT_EQ(nsn_link_set_up("lo", true, &e), 0);
	ASSERT_EQ(nsn_link_set_up("lo", false, &e), 0);
	ASSERT_TRUE(!(link_flags("lo") & IFF_UP));
	ASSERT_EQ(nsn_link_set_up("lo", true, &e), 0);
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
