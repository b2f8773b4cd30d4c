/* netns/: the CNI runner with Debian's plugins and small script plugins,
 * and the per-network dnsmasq. Each test runs in its own process, unshares
 * its own network namespace and works in its own temp dir (conflists,
 * cache, host-local's dataDir), so neither the host's namespace nor
 * /etc/cni or /var/lib/cni is touched; what a test starts it stops by pid. */
#include <arpa/nameser.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "netns/netns.h"
#include "tests/unit/test.h"

#define ASSERT_OK(call)                                                        \
	do {                                                                   \
		if ((call) != 0)                                               \
			test_fail(__FILE__, __LINE__, "%s: %s", #call, e.msg); \
	} while (0)

#define CNI_PLUGINS "/usr/lib/cni"

static void enter_new_netns(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (unshare(CLONE_NEWNET) < 0)
		test_skip("unshare(CLONE_NEWNET): %s", strerror(errno));
	struct berr e = {0};
	ASSERT_OK(nsn_loopback_up(&e));
}

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

/* The path a plugin opens for namespace fd: this process's fd. */
static char *netns_path(int fd)
{
	return base_sprintf("/proc/%d/fd/%d", (int)getpid(), fd);
}

/* A temp dir removed when the test process ends (its own child waits). */
static char *temp_dir(void)
{
	char tmpl[] = "/tmp/berth-cni-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		char c;
		close(p[1]);
		/* EOF when the test process is gone */
		while (read(p[0], &c, 1) > 0)
			;
		/* DNS servers a failed test left, by their pid files */
		static const char *const dns_dirs[] = {"dns", "up"};
		for (size_t i = 0; i < ARRAY_SIZE(dns_dirs); i++) {
			_cleanup_free_ char *d =
				base_sprintf("%s/%s", tmpl, dns_dirs[i]);
			nsn_dns_stop_wait(d, NULL);
		}
		base_rm_rf_at(AT_FDCWD, tmpl);
		_exit(0);
	}
	close(p[0]);
	/* p[1] stays open until the test process ends (O_CLOEXEC: no plugin
	 * or server holds it) */
	return base_strdup(tmpl);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(base_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* How many entries of dir have a name starting with prefix. */
static int count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += base_str_has_prefix(de->d_name, prefix);
	closedir(d);
	return n;
}

/* ---- a bridge network of Debian's plugins ------------------------------ */

struct fixture {
	char *dir, *conf, *cache, *data, *plugins, *plugin_dirs;
	int ctr_fd;
	char *ctr_path;
};

static void fixture_free(struct fixture *f)
{
	free(f->dir);
	free(f->conf);
	free(f->cache);
	free(f->data);
	free(f->plugins);
	free(f->plugin_dirs);
	free(f->ctr_path);
	if (f->ctr_fd >= 0)
		close(f->ctr_fd);
}
#define _cleanup_fixture_ _cleanup_(fixture_free)

static struct fixture fixture_new(void)
{
	enter_new_netns();
	struct fixture f = {.dir = temp_dir()};
	f.conf = base_sprintf("%s/conf", f.dir);
	f.cache = base_sprintf("%s/cache", f.dir);
	f.data = base_sprintf("%s/data", f.dir);
	f.plugins = base_sprintf("%s/plugins", f.dir);
	f.plugin_dirs = base_sprintf("%s:%s", f.plugins, CNI_PLUGINS);
	ASSERT_EQ(mkdir(f.conf, 0700), 0);
	ASSERT_EQ(mkdir(f.plugins, 0700), 0);
	f.ctr_fd = new_netns_fd();
	f.ctr_path = netns_path(f.ctr_fd);
	if (access(CNI_PLUGINS "/bridge", X_OK) < 0)
		test_skip("no CNI plugins in " CNI_PLUGINS);
	return f;
}

/* conflist "testnet": bridge + host-local, then the plugins in extra
 * (JSON objects, each followed by a comma). */
static void write_bridge_conf(const struct fixture *f, const char *extra)
{
	_cleanup_free_ char *path =
		base_sprintf("%s/50-testnet.conflist", f->conf);
	_cleanup_free_ char *text = base_sprintf(
		"{\"cniVersion\": \"1.0.0\", \"name\": \"testnet\", "
		"\"plugins\": [{\"type\": \"bridge\", \"bridge\": "
		"\"cnitest0\", "
		"\"isGateway\": true, \"hairpinMode\": true, "
		"\"ipam\": {\"type\": \"host-local\", \"dataDir\": \"%s\", "
		"\"ranges\": [[{\"subnet\": \"10.89.0.0/24\", "
		"\"gateway\": \"10.89.0.1\"}]], "
		"\"routes\": [{\"dst\": \"0.0.0.0/0\"}]}}%s]}",
		f->data, extra);
	write_text(path, text, 0600);
}

static struct nsn_cni_opts opts(const struct fixture *f, const char *ctr)
{
	return (struct nsn_cni_opts){.conf_dirs = f->conf,
				     .plugin_dirs = f->plugin_dirs,
				     .cache_dir = f->cache,
				     .network = "testnet",
				     .container_id = ctr,
				     .netns_path = f->ctr_path};
}

struct ctr_view {
	char addr[INET6_ADDRSTRLEN];
	unsigned prefix;
	bool has_eth0;
	char route[256]; /* the default route's line of /proc/net/route */
};

static int ctr_view_cb(void *arg, struct berr *err)
{
	struct ctr_view *v = arg;
	struct ifaddrs *ifa = NULL;
	v->has_eth0 = if_nametoindex("eth0") != 0;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, "eth0") || !i->ifa_addr ||
		    i->ifa_addr->sa_family != AF_INET)
			continue;
		struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
		struct sockaddr_in *m = (struct sockaddr_in *)i->ifa_netmask;
		inet_ntop(AF_INET, &a->sin_addr, v->addr, sizeof(v->addr));
		v->prefix = (unsigned)__builtin_popcount(m->sin_addr.s_addr);
	}
	freeifaddrs(ifa);
	FILE *r = fopen("/proc/thread-self/net/route", "re");
	char line[256];
	while (r && fgets(line, sizeof(line), r))
		if (strstr(line, "\t00000000\t") == strchr(line, '\t'))
			snprintf(v->route, sizeof(v->route), "%s", line);
	if (r)
		fclose(r);
	return 0;
}

/* What the container's namespace holds. */
static struct ctr_view ctr_view(int fd)
{
	struct ctr_view v = {0};
	struct berr e = {0};
	ASSERT_OK(nsn_run_in_netns(fd, ctr_view_cb, &v, &e));
	return v;
}

/* Links of this namespace other than lo and the bridge. */
static int host_links(void)
{
	struct if_nameindex *ni = if_nameindex();
	ASSERT_TRUE(ni != NULL);
	int n = 0;
	for (struct if_nameindex *i = ni; i->if_index; i++)
		n += strcmp(i->if_name, "lo") && strcmp(i->if_name, "cnitest0");
	if_freenameindex(ni);
	return n;
}

TEST(cni_add_attaches_with_address_and_route_and_del_detaches)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct nsn_cni_result res;
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, &res, &e));
	ASSERT_STREQ(res.ip4, "10.89.0.2/24");
	ASSERT_STREQ(res.gw4, "10.89.0.1");
	ASSERT_STREQ(res.ip6, "");
	ASSERT_EQ(strlen(res.mac), 17);

	struct ctr_view v = ctr_view(f.ctr_fd);
	ASSERT_TRUE(v.has_eth0);
	ASSERT_STREQ(v.addr, "10.89.0.2");
	ASSERT_EQ(v.prefix, 24);
	ASSERT_CONTAINS(v.route, "eth0\t00000000\t0100590A");
	ASSERT_EQ(host_links(), 1);
	_cleanup_free_ char *lease =
		base_sprintf("%s/testnet/10.89.0.2", f.data);
	ASSERT_TRUE(exists(lease));
	ASSERT_EQ(count_prefix(f.cache, "testnet@ctr1@eth0"), 1);
	ASSERT_OK(nsn_cni_check(&o, &e));

	/* attached twice is refused, the first attachment stays */
	ASSERT_EQ(nsn_cni_add(&o, &res, &e), -EEXIST);
	ASSERT_CONTAINS(e.msg, "container ctr1 is attached as eth0 already");
	ASSERT_TRUE(ctr_view(f.ctr_fd).has_eth0);

	ASSERT_OK(nsn_cni_del(&o, &e));
	v = ctr_view(f.ctr_fd);
	ASSERT_TRUE(!v.has_eth0);
	ASSERT_EQ(host_links(), 0);
	ASSERT_TRUE(!exists(lease));
	ASSERT_EQ(count_prefix(f.cache, "testnet@"), 0);
	ASSERT_EQ(nsn_cni_check(&o, &e), -ENOENT);
	/* DEL again, and DEL with the conflist gone: nothing to do */
	ASSERT_OK(nsn_cni_del(&o, &e));
	_cleanup_free_ char *conf =
		base_sprintf("%s/50-testnet.conflist", f.conf);
	ASSERT_EQ(unlink(conf), 0);
	ASSERT_OK(nsn_cni_del(&o, &e));
}

TEST(cni_del_uses_the_cached_conflist_when_the_file_is_gone)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, NULL, &e));
	_cleanup_free_ char *conf =
		base_sprintf("%s/50-testnet.conflist", f.conf);
	ASSERT_EQ(unlink(conf), 0);
	ASSERT_OK(nsn_cni_del(&o, &e));
	ASSERT_TRUE(!ctr_view(f.ctr_fd).has_eth0);
	ASSERT_EQ(host_links(), 0);
	_cleanup_free_ char *lease =
		base_sprintf("%s/testnet/10.89.0.2", f.data);
	ASSERT_TRUE(!exists(lease));
}

TEST(cni_del_after_the_container_namespace_is_gone)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, NULL, &e));
	ASSERT_EQ(host_links(), 1);
	/* the container ended: its namespace goes with the veth pair */
	close(f.ctr_fd);
	f.ctr_fd = -1;
	for (int i = 0; i < 100 && host_links(); i++)
		usleep(10000);
	ASSERT_EQ(host_links(), 0);
	o.netns_path = NULL;
	ASSERT_OK(nsn_cni_del(&o, &e));
	_cleanup_free_ char *leases = base_sprintf("%s/testnet", f.data);
	ASSERT_EQ(count_prefix(leases, "10.89."), 0);
	ASSERT_EQ(count_prefix(f.cache, "testnet@"), 0);
}

TEST(cni_second_container_gets_another_address)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	int fd2 = new_netns_fd();
	_cleanup_free_ char *path2 = netns_path(fd2);
	struct nsn_cni_opts o1 = opts(&f, "ctr1"), o2 = opts(&f, "ctr2");
	o2.netns_path = path2;
	struct nsn_cni_result r1, r2;
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o1, &r1, &e));
	ASSERT_OK(nsn_cni_add(&o2, &r2, &e));
	ASSERT_STREQ(r1.ip4, "10.89.0.2/24");
	ASSERT_STREQ(r2.ip4, "10.89.0.3/24");
	ASSERT_TRUE(strcmp(r1.mac, r2.mac) != 0);
	ASSERT_STREQ(ctr_view(fd2).addr, "10.89.0.3");
	ASSERT_EQ(host_links(), 2);
	ASSERT_OK(nsn_cni_del(&o1, &e));
	ASSERT_TRUE(ctr_view(fd2).has_eth0);
	ASSERT_OK(nsn_cni_del(&o2, &e));
	ASSERT_EQ(host_links(), 0);
	ASSERT_EQ(count_prefix(f.cache, "testnet@"), 0);
}

TEST(cni_concurrent_adds_get_distinct_addresses)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	enum { N = 4 };
	int fds[N];
	pid_t pids[N];
	for (int i = 0; i < N; i++)
		fds[i] = new_netns_fd();
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			_cleanup_free_ char *ctr = base_sprintf("ctr%d", i);
			_cleanup_free_ char *path = netns_path(fds[i]);
			struct nsn_cni_opts o = opts(&f, ctr);
			o.netns_path = path;
			struct berr e = {0};
			_exit(nsn_cni_add(&o, NULL, &e) == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st = 0;
		ASSERT_EQ(waitpid(pids[i], &st, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char seen[N][INET6_ADDRSTRLEN];
	for (int i = 0; i < N; i++) {
		snprintf(seen[i], sizeof(seen[i]), "%s", ctr_view(fds[i]).addr);
		ASSERT_CONTAINS(seen[i], "10.89.0.");
		for (int j = 0; j < i; j++)
			ASSERT_TRUE(strcmp(seen[i], seen[j]) != 0);
	}
	ASSERT_EQ(host_links(), N);
	for (int i = 0; i < N; i++) {
		_cleanup_free_ char *ctr = base_sprintf("ctr%d", i);
		_cleanup_free_ char *path = netns_path(fds[i]);
		struct nsn_cni_opts o = opts(&f, ctr);
		o.netns_path = path;
		struct berr e = {0};
		ASSERT_OK(nsn_cni_del(&o, &e));
		close(fds[i]);
	}
	ASSERT_EQ(host_links(), 0);
}

static int delete_eth0(void *arg, struct berr *err)
{
	return nsn_link_delete("eth0", err);
}

TEST(cni_check_reports_what_changed_since_add)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, "");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, NULL, &e));
	ASSERT_OK(nsn_cni_check(&o, &e));
	ASSERT_OK(nsn_run_in_netns(f.ctr_fd, delete_eth0, NULL, &e));
	ASSERT_EQ(nsn_cni_check(&o, &e), -EIO);
	ASSERT_CONTAINS(e.msg, "CNI network testnet: plugin bridge: ");
	ASSERT_OK(nsn_cni_del(&o, &e));
	ASSERT_EQ(host_links(), 0);
}

TEST(cni_unknown_plugin_type_is_refused_before_anything_runs)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_bridge_conf(&f, ", {\"type\": \"nosuch\"}");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct berr e = {0};
	ASSERT_EQ(nsn_cni_add(&o, NULL, &e), -ENOENT);
	_cleanup_free_ char *want = base_sprintf(
		"CNI network testnet: plugin nosuch not found in %s",
		f.plugin_dirs);
	ASSERT_STREQ(e.msg, want);
	ASSERT_EQ(if_nametoindex("cnitest0"), 0);
	ASSERT_TRUE(!ctr_view(f.ctr_fd).has_eth0);
	ASSERT_TRUE(!exists(f.data));
	ASSERT_TRUE(!exists(f.cache));

	o.network = "othernet";
	ASSERT_EQ(nsn_cni_add(&o, NULL, &e), -ENOENT);
	ASSERT_CONTAINS(e.msg, "CNI network othernet: no configuration");
	o.network = "../x";
	ASSERT_EQ(nsn_cni_add(&o, NULL, &e), -EINVAL);
	o.network = "testnet";
	o.netns_path = NULL;
	ASSERT_EQ(nsn_cni_add(&o, NULL, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "CNI network testnet: no network namespace for "
			    "container ctr1");
}

/* A script plugin in the fixture's plugin dir. */
static void write_plugin(const struct fixture *f, const char *name,
			 const char *body)
{
	_cleanup_free_ char *path = base_sprintf("%s/%s", f->plugins, name);
	_cleanup_free_ char *text = base_sprintf("#!/bin/sh\n%s\n", body);
	write_text(path, text, 0755);
}

TEST(cni_failing_plugin_midway_leaves_nothing)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_plugin(&f, "failer",
		     "cat >/dev/null\n"
		     "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
		     "echo '{\"cniVersion\": \"1.0.0\", \"code\": 100, "
		     "\"msg\": \"no luck\", \"details\": \"line1\nline2\"}'\n"
		     "exit 1");
	write_bridge_conf(&f, ", {\"type\": \"failer\"}");
	struct nsn_cni_opts o = opts(&f, "ctr1");
	struct berr e = {0};
	ASSERT_EQ(nsn_cni_add(&o, NULL, &e), -EIO);
	ASSERT_STREQ(
		e.msg,
		"CNI network testnet: plugin failer: no luck: line1?line2");
	ASSERT_TRUE(!ctr_view(f.ctr_fd).has_eth0);
	ASSERT_EQ(host_links(), 0);
	_cleanup_free_ char *leases = base_sprintf("%s/testnet", f.data);
	ASSERT_EQ(count_prefix(leases, "10.89."), 0);
	ASSERT_EQ(count_prefix(f.cache, "testnet@"), 0);
	/* the same container attaches afterwards */
	write_bridge_conf(&f, "");
	ASSERT_OK(nsn_cni_add(&o, NULL, &e));
	ASSERT_EQ(count_prefix(leases, "10.89."), 1);
	ASSERT_OK(nsn_cni_del(&o, &e));
}

TEST(cni_plugin_without_error_json_bad_output_hang_and_flood)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_plugin(&f, "noisy", "echo 'something broke' >&2; exit 3");
	write_plugin(&f, "liar", "cat >/dev/null; echo 'not json'");
	write_plugin(&f, "sleeper", "exec sleep 30");
	write_plugin(&f, "flood", "exec cat /dev/zero");
	static const struct {
		const char *type;
		int ret;
		const char *msg;
	} cases[] = {
		{"noisy", -EIO, "plugin noisy: something broke"},
		{"liar", -EPROTO,
		 "plugin liar: its result is not a JSON object"},
		{"sleeper", -ETIMEDOUT, "plugin sleeper: no answer"},
		{"flood", -EFBIG, "plugin flood: output"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *path =
			base_sprintf("%s/t.conflist", f.conf);
		_cleanup_free_ char *text = base_sprintf(
			"{\"cniVersion\": \"1.0.0\", \"name\": \"t%zu\", "
			"\"plugins\": [{\"type\": \"%s\"}]}",
			i, cases[i].type);
		write_text(path, text, 0600);
		_cleanup_free_ char *net = base_sprintf("t%zu", i);
		struct nsn_cni_opts o = opts(&f, "ctr1");
		o.network = net;
		o.timeout_ms = 500;
		struct berr e = {0};
		ASSERT_EQ(nsn_cni_add(&o, NULL, &e), cases[i].ret);
		ASSERT_CONTAINS(e.msg, cases[i].msg);
	}
}

/* A plugin that keeps its stdin and environment in rec/ and answers ADD
 * with a fixed result (or its prevResult when it has one). */
static const char recorder[] =
	"d=$(dirname \"$0\")/../rec; mkdir -p \"$d\"\n"
	"n=$(ls \"$d\" | grep -c 'json$')\n"
	"f=\"$d/$n-$CNI_COMMAND-$(basename \"$0\")\"\n"
	"cat >\"$f.json\"\n"
	"env | grep '^CNI_' | sort >\"$f.env\"\n"
	"[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
	"echo '{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": "
	"\"eth0\", \"mac\": \"02:00:00:00:00:01\", \"sandbox\": \"/x\"}], "
	"\"ips\": [{\"address\": \"10.1.2.3/24\", \"gateway\": \"10.1.2.1\", "
	"\"interface\": 0}, {\"address\": \"fd00::3/64\", \"interface\": 0}]}'";

static cJSON *recorded(const struct fixture *f, const char *name)
{
	_cleanup_free_ char *path = base_sprintf("%s/rec/%s", f->dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, path, &text, &len, 0), 0);
	cJSON *j = cJSON_Parse(text);
	ASSERT_TRUE(j != NULL);
	return j;
}

static char *recorded_text(const struct fixture *f, const char *name)
{
	_cleanup_free_ char *path = base_sprintf("%s/rec/%s", f->dir, name);
	char *text = NULL;
	size_t len = 0;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, path, &text, &len, 0), 0);
	return text;
}

TEST(cni_plugins_get_chained_results_and_only_their_capabilities)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	write_plugin(&f, "rec1", recorder);
	write_plugin(&f, "rec2", recorder);
	/* a .conf of another name, a broken file, then the list: conflists
	 * are searched before single .conf files */
	_cleanup_free_ char *p1 = base_sprintf("%s/10-a.conf", f.conf);
	write_text(p1,
		   "{\"cniVersion\": \"1.0.0\", \"name\": \"chain\", "
		   "\"type\": \"nosuch\"}",
		   0600);
	_cleanup_free_ char *p2 = base_sprintf("%s/20-b.conflist", f.conf);
	write_text(p2, "{not json", 0600);
	_cleanup_free_ char *p3 = base_sprintf("%s/30-c.conflist", f.conf);
	write_text(p3,
		   "{\"cniVersion\": \"1.0.0\", \"name\": \"chain\", "
		   "\"plugins\": [{\"type\": \"rec1\", \"capabilities\": "
		   "{\"portMappings\": true}, \"x\": 1}, {\"type\": \"rec2\", "
		   "\"name\": \"ignored\"}]}",
		   0600);
	struct nsn_port_map pm = {
		.proto = IPPROTO_UDP, .host_port = 5353, .ctr_port = 53};
	struct nsn_cni_opts o = opts(&f, "ctr9");
	o.network = "chain";
	o.ports = &pm;
	o.n_ports = 1;
	o.args = "IgnoreUnknown=1;K=V";
	o.ifname = "net1";
	struct nsn_cni_result res;
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, &res, &e));
	ASSERT_STREQ(res.ip4, "10.1.2.3/24");
	ASSERT_STREQ(res.gw4, "10.1.2.1");
	ASSERT_STREQ(res.ip6, "fd00::3/64");
	ASSERT_STREQ(res.mac, ""); /* the result names eth0, not net1 */

	cJSON *a1 = recorded(&f, "0-ADD-rec1.json");
	cJSON *a2 = recorded(&f, "1-ADD-rec2.json");
	ASSERT_STREQ(cJSON_GetObjectItem(a1, "name")->valuestring, "chain");
	ASSERT_STREQ(cJSON_GetObjectItem(a2, "name")->valuestring, "chain");
	ASSERT_STREQ(cJSON_GetObjectItem(a2, "cniVersion")->valuestring,
		     "1.0.0");
	ASSERT_TRUE(!cJSON_GetObjectItem(a1, "prevResult"));
	cJSON *rt = cJSON_GetObjectItem(a1, "runtimeConfig");
	cJSON *m =
		cJSON_GetArrayItem(cJSON_GetObjectItem(rt, "portMappings"), 0);
	ASSERT_EQ(cJSON_GetObjectItem(m, "hostPort")->valueint, 5353);
	ASSERT_EQ(cJSON_GetObjectItem(m, "containerPort")->valueint, 53);
	ASSERT_STREQ(cJSON_GetObjectItem(m, "protocol")->valuestring, "udp");
	ASSERT_TRUE(!cJSON_GetObjectItem(a2, "runtimeConfig"));
	cJSON *prev = cJSON_GetObjectItem(a2, "prevResult");
	ASSERT_STREQ(cJSON_GetArrayItem(cJSON_GetObjectItem(prev, "ips"), 0)
			     ->child->valuestring,
		     "10.1.2.3/24");
	cJSON_Delete(a1);
	cJSON_Delete(a2);
	_cleanup_free_ char *env = recorded_text(&f, "0-ADD-rec1.env");
	_cleanup_free_ char *want = base_sprintf(
		"CNI_ARGS=IgnoreUnknown=1;K=V\nCNI_COMMAND=ADD\n"
		"CNI_CONTAINERID=ctr9\nCNI_IFNAME=net1\nCNI_NETNS=%s\n"
		"CNI_PATH=%s\n",
		f.ctr_path, f.plugin_dirs);
	ASSERT_STREQ(env, want);

	ASSERT_OK(nsn_cni_check(&o, &e));
	ASSERT_OK(nsn_cni_del(&o, &e));
	/* CHECK in order, DEL in reverse, both with the final result */
	_cleanup_free_ char *rec = base_sprintf("%s/rec", f.dir);
	ASSERT_EQ(count_prefix(rec, "2-CHECK-rec1.json"), 1);
	ASSERT_EQ(count_prefix(rec, "3-CHECK-rec2.json"), 1);
	ASSERT_EQ(count_prefix(rec, "4-DEL-rec2.json"), 1);
	ASSERT_EQ(count_prefix(rec, "5-DEL-rec1.json"), 1);
	cJSON *d1 = recorded(&f, "5-DEL-rec1.json");
	ASSERT_TRUE(cJSON_GetObjectItem(d1, "prevResult") != NULL);
	ASSERT_TRUE(cJSON_GetObjectItem(d1, "runtimeConfig") != NULL);
	cJSON_Delete(d1);
}

/* `iptables -t nat -S` of this namespace. */
static char *nat_rules(void)
{
	FILE *p = popen("iptables -w -t nat -S 2>&1", "re");
	ASSERT_TRUE(p != NULL);
	char *buf = base_calloc(1, 65536);
	size_t n = fread(buf, 1, 65535, p);
	buf[n] = '\0';
	pclose(p);
	return buf;
}

TEST(cni_portmap_publishes_a_port_through_iptables)
{
	_cleanup_fixture_ struct fixture f = fixture_new();
	if (system("iptables -w -t nat -S >/dev/null 2>&1") != 0)
		test_skip("iptables does not run here");
	write_bridge_conf(&f, ", {\"type\": \"portmap\", \"capabilities\": "
			      "{\"portMappings\": true}}");
	struct nsn_port_map pm = {
		.proto = IPPROTO_TCP, .host_port = 8080, .ctr_port = 80};
	struct nsn_cni_opts o = opts(&f, "ctr1");
	o.ports = &pm;
	o.n_ports = 1;
	struct berr e = {0};
	ASSERT_OK(nsn_cni_add(&o, NULL, &e));
	_cleanup_free_ char *rules = nat_rules();
	ASSERT_CONTAINS(rules, "-A CNI-HOSTPORT-DNAT");
	ASSERT_CONTAINS(rules, "--dport 8080");
	ASSERT_CONTAINS(rules, "--to-destination 10.89.0.2:80");
	ASSERT_OK(nsn_cni_del(&o, &e));
	_cleanup_free_ char *after = nat_rules();
	ASSERT_TRUE(!strstr(after, "--dport 8080"));
	ASSERT_TRUE(!strstr(after, "10.89.0.2:80"));
}

/* ---- the DNS server ------------------------------------------------------ */

/* A bridge with a gateway address in this namespace, and a state dir. */
struct dns_fixture {
	char *dir, *state;
	struct nsn_dns d;
};

static void dns_fixture_free(struct dns_fixture *f)
{
	free(f->dir);
	free(f->state);
}

static void bridge_with(const char *name, const char *cidr)
{
	struct berr e = {0};
	ASSERT_OK(nsn_bridge_create(name, &e));
	ASSERT_OK(nsn_addr_add(name, cidr, &e));
}

static struct dns_fixture dns_fixture_new(void)
{
	enter_new_netns();
	if (access("/usr/sbin/dnsmasq", X_OK) < 0)
		test_skip("no /usr/sbin/dnsmasq (dnsmasq-base)");
	struct dns_fixture f = {.dir = temp_dir()};
	f.state = base_sprintf("%s/dns", f.dir);
	ASSERT_EQ(mkdir(f.state, 0700), 0);
	bridge_with("dnstest0", "10.90.0.1/24");
	f.d = (struct nsn_dns){.state_dir = f.state,
			       .bridge = "dnstest0",
			       .listen_ip = "10.90.0.1"};
	return f;
}

/* One file per pair, as one container each: keys c0, c1... */
static void write_hosts(const char *dir, const char *const *pairs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct nsn_dns_host h = {0};
		snprintf(h.name, sizeof(h.name), "%s", pairs[2 * i]);
		snprintf(h.ip, sizeof(h.ip), "%s", pairs[2 * i + 1]);
		char key[16];
		snprintf(key, sizeof(key), "c%zu", i);
		struct berr e = {0};
		ASSERT_OK(nsn_dns_hosts_put(dir, key, &h, 1, &e));
	}
}

/* The A records for name from server (port 53), sorted, joined by
 * spaces; "" when there is no answer. */
static char *query_a(const char *server, const char *name)
{
	struct __res_state st;
	memset(&st, 0, sizeof(st));
	ASSERT_EQ(res_ninit(&st), 0);
	st.options = RES_INIT | RES_RECURSE;
	st.nscount = 1;
	st.retrans = 1;
	st.retry = 1;
	st.nsaddr_list[0].sin_family = AF_INET;
	st.nsaddr_list[0].sin_port = htons(53);
	ASSERT_EQ(inet_pton(AF_INET, server, &st.nsaddr_list[0].sin_addr), 1);
	unsigned char ans[4096];
	int len = res_nquery(&st, name, ns_c_in, ns_t_a, ans, sizeof(ans));
	res_nclose(&st);
	char out[256] = "";
	ns_msg msg;
	if (len > 0 && ns_initparse(ans, len, &msg) == 0) {
		char ips[8][INET_ADDRSTRLEN];
		int n = 0;
		for (int i = 0; i < ns_msg_count(msg, ns_s_an) && n < 8; i++) {
			ns_rr rr;
			if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 &&
			    ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4)
				inet_ntop(AF_INET, ns_rr_rdata(rr), ips[n++],
					  INET_ADDRSTRLEN);
		}
		qsort(ips, (size_t)n, sizeof(ips[0]),
		      (int (*)(const void *, const void *))strcmp);
		for (int i = 0; i < n; i++)
			snprintf(out + strlen(out), sizeof(out) - strlen(out),
				 "%s%s", i ? " " : "", ips[i]);
	}
	return base_strdup(out);
}

/* query_a until it gives want, for up to 2 s (a reload is asynchronous). */
static char *query_until(const char *server, const char *name, const char *want)
{
	for (int i = 0;; i++) {
		char *got = query_a(server, name);
		if (!strcmp(got, want) || i == 40)
			return got;
		free(got);
		usleep(50000);
	}
}

static pid_t dns_pid(const char *dir)
{
	_cleanup_free_ char *path = base_sprintf("%s/dnsmasq.pid", dir);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int pid = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, &len, 64) < 0)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	ASSERT_EQ(base_parse_int(text, &pid), 0);
	return pid;
}

TEST(dns_answers_names_of_the_hosts_file_and_groups)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	static const char *const hosts[] = {
		"web", "10.90.0.5", "svc", "10.90.0.7", "svc", "10.90.0.6"};
	write_hosts(f.state, hosts, 3);
	struct berr e = {0};
	ASSERT_TRUE(!nsn_dns_running(f.state));
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	ASSERT_TRUE(nsn_dns_running(f.state));
	pid_t pid = dns_pid(f.state);
	ASSERT_TRUE(pid > 1);
	int pfd = pidfd_open(pid, 0);
	ASSERT_TRUE(pfd >= 0);
	_cleanup_free_ char *web = query_a("10.90.0.1", "web");
	ASSERT_STREQ(web, "10.90.0.5");
	_cleanup_free_ char *svc = query_a("10.90.0.1", "svc");
	ASSERT_STREQ(svc, "10.90.0.6 10.90.0.7");
	_cleanup_free_ char *none = query_a("10.90.0.1", "nosuch");
	ASSERT_STREQ(none, "");
	/* nothing on this namespace's 127.0.0.1 */
	_cleanup_free_ char *lo = query_a("127.0.0.1", "web");
	ASSERT_STREQ(lo, "");
	ASSERT_OK(nsn_dns_stop(f.state, &e));
	ASSERT_TRUE(!nsn_dns_running(f.state));
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 5000), 1); /* it ends */
	close(pfd);
}

TEST(dns_server_reads_a_new_file_and_forgets_a_dropped_one)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	static const char *const h1[] = {"web", "10.90.0.5"};
	static const char *const h2[] = {"web", "10.90.0.5", "db", "10.90.0.8"};
	write_hosts(f.state, h1, 1);
	struct berr e = {0};
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	pid_t pid = dns_pid(f.state);
	_cleanup_free_ char *before = query_a("10.90.0.1", "db");
	ASSERT_STREQ(before, "");
	/* no call to the server: it watches its directory */
	write_hosts(f.state, h2, 2);
	_cleanup_free_ char *after =
		query_until("10.90.0.1", "db", "10.90.0.8");
	ASSERT_STREQ(after, "10.90.0.8");
	ASSERT_EQ(nsn_dns_hosts_count(f.state), 2);
	ASSERT_OK(nsn_dns_hosts_drop(f.state, "c1", &e));
	ASSERT_EQ(nsn_dns_hosts_count(f.state), 1);
	_cleanup_free_ char *gone = query_until("10.90.0.1", "db", "");
	ASSERT_STREQ(gone, "");
	_cleanup_free_ char *web = query_a("10.90.0.1", "web");
	ASSERT_STREQ(web, "10.90.0.5");
	/* ensure again: the same server */
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	ASSERT_EQ(dns_pid(f.state), pid);
	/* no entries is no file */
	ASSERT_OK(nsn_dns_hosts_put(f.state, "c0", NULL, 0, &e));
	ASSERT_EQ(nsn_dns_hosts_count(f.state), 0);
	ASSERT_OK(nsn_dns_stop(f.state, &e));
}

TEST(dns_stop_tells_the_server_to_end_and_a_start_waits_for_it)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	struct berr e = {0};
	ASSERT_OK(nsn_dns_ensure(&f.d, &e)); /* no hosts file yet: empty */
	pid_t pid = dns_pid(f.state);
	int pfd = pidfd_open(pid, 0);
	ASSERT_TRUE(pfd >= 0);
	/* it is told to stop, and not waited for */
	ASSERT_OK(nsn_dns_stop(f.state, &e));
	ASSERT_TRUE(!nsn_dns_running(f.state));
	ASSERT_EQ(dns_pid(f.state), 0);
	/* a start right after waits for its end: the address is free */
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 0), 1); /* the first has ended */
	close(pfd);
	ASSERT_TRUE(nsn_dns_running(f.state));
	pid_t second = dns_pid(f.state);
	ASSERT_TRUE(second > 1 && second != pid);
	pfd = pidfd_open(second, 0);
	ASSERT_TRUE(pfd >= 0);
	ASSERT_OK(nsn_dns_stop(f.state, &e));
	p.fd = pfd;
	ASSERT_EQ(poll(&p, 1, 5000), 1); /* it ends by itself */
	close(pfd);
	ASSERT_OK(nsn_dns_stop(f.state, &e));
}

static void write_pid_file(const char *dir, pid_t pid)
{
	_cleanup_free_ char *path = base_sprintf("%s/dnsmasq.pid", dir);
	_cleanup_free_ char *text = base_sprintf("%d\n", (int)pid);
	write_text(path, text, 0644);
}

TEST(dns_stale_pid_file_is_not_the_server)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	static const char *const h[] = {"web", "10.90.0.5"};
	write_hosts(f.state, h, 1);
	/* a pid that ended, then a live process that is no dnsmasq (this
	 * test: a signal to it would end the test) */
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	ASSERT_EQ(waitpid(dead, NULL, 0), dead);
	pid_t stale[] = {dead, getpid()};
	struct berr e = {0};
	for (size_t i = 0; i < ARRAY_SIZE(stale); i++) {
		write_pid_file(f.state, stale[i]);
		ASSERT_TRUE(!nsn_dns_running(f.state));
		ASSERT_OK(nsn_dns_ensure(&f.d, &e));
		pid_t pid = dns_pid(f.state);
		ASSERT_TRUE(pid != stale[i] && pid > 1);
		_cleanup_free_ char *web = query_a("10.90.0.1", "web");
		ASSERT_STREQ(web, "10.90.0.5");
		ASSERT_OK(nsn_dns_stop(f.state, &e));
	}
	/* stop with a stale pid file signals nothing, removes the file */
	write_pid_file(f.state, getpid());
	ASSERT_OK(nsn_dns_stop(f.state, &e));
	ASSERT_EQ(dns_pid(f.state), 0);
}

TEST(dns_server_holds_none_of_the_callers_pipes)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	int p[2];
	ASSERT_EQ(pipe(p), 0); /* no O_CLOEXEC: as a shell's capture */
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		struct berr e = {0};
		_exit(nsn_dns_ensure(&f.d, &e) == 0 ? 0 : 1);
	}
	close(p[1]);
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_TRUE(nsn_dns_running(f.state));
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	ASSERT_EQ(poll(&pf, 1, 2000), 1);
	char c;
	ASSERT_EQ(read(p[0], &c, 1), 0); /* EOF: no one else holds it */
	close(p[0]);
	struct berr e = {0};
	ASSERT_OK(nsn_dns_stop(f.state, &e));
}

TEST(dns_forwards_dotted_names_upstream_and_restarts_on_new_options)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	/* the upstream: a second server on a second bridge */
	bridge_with("dnsup0", "10.91.0.1/24");
	_cleanup_free_ char *up_dir = base_sprintf("%s/up", f.dir);
	ASSERT_EQ(mkdir(up_dir, 0700), 0);
	static const char *const uh[] = {"ext.example.org", "10.91.0.9",
					 "plain", "10.91.0.10"};
	write_hosts(up_dir, uh, 2);
	struct nsn_dns up = {.state_dir = up_dir,
			     .bridge = "dnsup0",
			     .listen_ip = "10.91.0.1"};
	struct berr e = {0};
	ASSERT_OK(nsn_dns_ensure(&up, &e));

	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	pid_t first = dns_pid(f.state);
	_cleanup_free_ char *none = query_a("10.90.0.1", "ext.example.org");
	ASSERT_STREQ(none, "");
	const char *const servers[] = {"10.91.0.1"};
	f.d.upstream = servers;
	f.d.n_upstream = 1;
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	ASSERT_TRUE(dns_pid(f.state) != first);
	_cleanup_free_ char *ext = query_a("10.90.0.1", "ext.example.org");
	ASSERT_STREQ(ext, "10.91.0.9");
	/* a name without a dot is never forwarded */
	_cleanup_free_ char *plain = query_a("10.90.0.1", "plain");
	ASSERT_STREQ(plain, "");
	ASSERT_OK(nsn_dns_stop(f.state, &e));
	ASSERT_OK(nsn_dns_stop(up_dir, &e));
}

TEST(dns_concurrent_ensures_start_one_server)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	static const char *const h[] = {"web", "10.90.0.5"};
	write_hosts(f.state, h, 1);
	enum { N = 4 };
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			struct berr e = {0};
			_exit(nsn_dns_ensure(&f.d, &e) == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st = 0;
		ASSERT_EQ(waitpid(pids[i], &st, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* one server: every other start would have failed to bind */
	pid_t pid = dns_pid(f.state);
	ASSERT_TRUE(nsn_dns_running(f.state));
	_cleanup_free_ char *web = query_a("10.90.0.1", "web");
	ASSERT_STREQ(web, "10.90.0.5");
	struct berr e = {0};
	ASSERT_OK(nsn_dns_ensure(&f.d, &e));
	ASSERT_EQ(dns_pid(f.state), pid);
	ASSERT_OK(nsn_dns_stop(f.state, &e));
}

TEST(dns_refuses_bad_names_and_reports_a_failed_start)
{
	_cleanup_(dns_fixture_free) struct dns_fixture f = dns_fixture_new();
	static const char *const bad[][2] = {{"a b", "10.90.0.5"},
					     {"x\n10.0.0.1 y", "10.90.0.5"},
					     {"ok", "10.90.0.300"},
					     {"", "10.90.0.5"},
					     {"a..b", "10.90.0.5"}};
	struct berr e = {0};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct nsn_dns_host h = {0};
		snprintf(h.name, sizeof(h.name), "%s", bad[i][0]);
		snprintf(h.ip, sizeof(h.ip), "%s", bad[i][1]);
		ASSERT_EQ(nsn_dns_hosts_put(f.state, "c0", &h, 1, &e), -EINVAL);
	}
	/* a key that is no container name: a dot file or a path */
	struct nsn_dns_host ok = {.name = "ok", .ip = "10.90.0.5"};
	ASSERT_EQ(nsn_dns_hosts_put(f.state, ".hidden", &ok, 1, &e), -EINVAL);
	ASSERT_EQ(nsn_dns_hosts_put(f.state, "../x", &ok, 1, &e), -EINVAL);
	ASSERT_EQ(nsn_dns_hosts_drop(f.state, "../x", &e), -EINVAL);
	ASSERT_EQ(nsn_dns_hosts_count(f.state), 0);
	/* an address that is not on the bridge */
	f.d.listen_ip = "10.90.5.1";
	ASSERT_EQ(nsn_dns_ensure(&f.d, &e), -EIO);
	ASSERT_CONTAINS(e.msg, "DNS server on 10.90.5.1 (dnstest0): dnsmasq:");
	ASSERT_TRUE(!nsn_dns_running(f.state));
}
