/* Named networks: their state under <root>/.net/, the bridge and rules
 * that make one real, and the commands on them (create, ls, inspect, rm,
 * prune). What a container attaches is in engine-endpoint.c.
 *
 * A network is only a file until its first container: then its bridge,
 * gateway addresses and nftables rules are made (net_up), each step one
 * that may be repeated, so that a berth killed half-way leaves nothing the
 * next attach cannot finish. Every change to the set of networks, and
 * every bring-up, happens under <root>/.net/lock; address leases have
 * their own lock (nsn_ipam), so that concurrent starts only serialize
 * where they must. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

/* created networks take /24s of this, the default one the first free */
#define NET_POOL_FIRST 0x0a590000u /* 10.89.0.0 */
#define NET_POOL_COUNT 256

char *eng_net_path(const struct rt_ctx *ctx, const char *sub)
{
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	return sub ? base_sprintf("%s/.net/%s", root, sub)
		   : base_sprintf("%s/.net", root);
}

int eng_net_lock(const struct rt_ctx *ctx, struct berr *err)
{
	static const char *const subs[] = {"networks", "leases6", "dns",
					   "endpoints"};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *d = eng_net_path(ctx, subs[i]);
		int r = base_mkdir_p(AT_FDCWD, d, 0700);
		if (r < 0)
			return berr_set(err, -r, "create %s", d);
	}
	_cleanup_free_ char *path = eng_net_path(ctx, "lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(err, errno, "open %s", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return berr_set(err, e, "lock %s", path);
		}
	return fd;
}

/* ---- the state file --------------------------------------------------- */

static void put(cJSON *o, const char *k, const char *v)
{
	cJSON_AddItemToObject(o, k, cJSON_CreateString(v));
}

static const char *get(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k))
		       ?: "";
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

static int net_save(const struct rt_ctx *ctx, const struct eng_network *n,
		    struct berr *err)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	put(o, "name", n->name);
	put(o, "id", n->id);
	put(o, "bridge", n->bridge);
	put(o, "subnet", n->subnet);
	put(o, "gateway", n->gateway);
	put(o, "subnet6", n->subnet6);
	put(o, "gateway6", n->gateway6);
	cJSON_AddItemToObject(o, "internal", cJSON_CreateBool(n->internal));
	put(o, "created", n->created);
	_cleanup_free_ char *text = cJSON_Print(o);
	_cleanup_free_ char *dir = eng_net_path(ctx, "networks");
	_cleanup_free_ char *name = base_sprintf("%s.json", n->name);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = !text	  ? -ENOMEM
		: dfd < 0 ? -errno
			  : base_write_file_atomic(dfd, name, text,
						   strlen(text), 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/%s", dir, name);
	return 0;
}

int eng_net_load(const struct rt_ctx *ctx, const char *name,
		 struct eng_network *n, struct berr *err)
{
	*n = (struct eng_network){0};
	if (eng_net_name_check(name, err) < 0)
		return -EINVAL;
	_cleanup_free_ char *path = eng_net_path(ctx, NULL),
			    *file = base_sprintf("%s/networks/%s.json", path,
						 name);
	_cleanup_free_ char *text = NULL;
	int r = base_read_file_at(AT_FDCWD, file, &text, NULL, 65536);
	if (r == -ENOENT)
		return berr_setx(err, ENOENT, "network %s not found", name);
	if (r < 0)
		return berr_set(err, -r, "read %s", file);
	_cleanup_cjson_ cJSON *o = cJSON_Parse(text);
	if (!cJSON_IsObject(o) || strcmp(get(o, "name"), name))
		return berr_setx(err, EINVAL, "%s: not a network's state",
				 file);
	copy(n->name, sizeof(n->name), name);
	copy(n->id, sizeof(n->id), get(o, "id"));
	copy(n->bridge, sizeof(n->bridge), get(o, "bridge"));
	copy(n->subnet, sizeof(n->subnet), get(o, "subnet"));
	copy(n->gateway, sizeof(n->gateway), get(o, "gateway"));
	copy(n->subnet6, sizeof(n->subnet6), get(o, "subnet6"));
	copy(n->gateway6, sizeof(n->gateway6), get(o, "gateway6"));
	copy(n->created, sizeof(n->created), get(o, "created"));
	n->internal =
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "internal"));
	return 0;
}

int eng_net_name_check(const char *name, struct berr *err)
{
	size_t n = name ? strlen(name) : 0;
	bool ok = n > 0 && n <= 64 &&
		  ((name[0] >= 'a' && name[0] <= 'z') ||
		   (name[0] >= 'A' && name[0] <= 'Z') ||
		   (name[0] >= '0' && name[0] <= '9'));
	for (size_t i = 0; ok && i < n; i++)
		ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ"
			    "0123456789_.-",
			    name[i]) != NULL;
	if (!ok)
		return berr_setx(err, EINVAL,
				 "network name `%s`: expected 1 to 64 of "
				 "[A-Za-z0-9_.-], starting with a letter or "
				 "digit",
				 name ? name : "");
	return 0;
}

/* The names of every network, sorted. */
static int net_names(const struct rt_ctx *ctx, char ***out, struct berr *err)
{
	*out = NULL;
	_cleanup_free_ char *dir = eng_net_path(ctx, "networks");
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0
				       : berr_set(err, errno, "open %s", dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json"))
			continue;
		_cleanup_free_ char *name = strndup(de->d_name, len - 5);
		if (name && eng_net_name_check(name, NULL) == 0)
			base_strv_push(out, name);
	}
	size_t n = base_strv_len(*out);
	if (n > 1)
		qsort(*out, n, sizeof(char *), eng_strcmpp);
	return 0;
}

/* ---- create ----------------------------------------------------------- */

/* -EADDRINUSE when c overlaps a network of ours (naming it) or a route of
 * this namespace. */
static int check_overlap(const struct rt_ctx *ctx, const char *cidr,
			 struct berr *err)
{
	struct nsn_cidr want;
	int r = nsn_cidr_parse(cidr, &want, err);
	if (r < 0)
		return r;
	_cleanup_strv_ char **names = NULL;
	if ((r = net_names(ctx, &names, err)) < 0)
		return r;
	for (size_t i = 0; names && names[i]; i++) {
		struct eng_network o;
		struct nsn_cidr c;
		if (eng_net_load(ctx, names[i], &o, NULL) < 0)
			continue;
		const char *subs[] = {o.subnet, o.subnet6};
		for (size_t k = 0; k < 2; k++)
			if (subs[k][0] &&
			    nsn_cidr_parse(subs[k], &c, NULL) == 0 &&
			    nsn_cidr_overlaps(&want, &c))
				return berr_setx(err, EADDRINUSE,
						 "subnet %s overlaps %s of "
						 "network %s",
						 cidr, subs[k], o.name);
	}
	return nsn_route_check_overlap(cidr, err);
}

/* The first /24 of the pool that overlaps nothing. */
static int pick_subnet(const struct rt_ctx *ctx, char *out, size_t len,
		       struct berr *err)
{
	for (unsigned i = 0; i < NET_POOL_COUNT; i++) {
		uint32_t a = NET_POOL_FIRST + (i << 8);
		snprintf(out, len, "%u.%u.%u.0/24", a >> 24, (a >> 16) & 255,
			 (a >> 8) & 255);
		struct berr e = {0};
		int r = check_overlap(ctx, out, &e);
		if (r == 0)
			return 0;
		if (r != -EADDRINUSE) {
			*err = e;
			return r;
		}
	}
	return berr_setx(err, ENOSPC,
			 "no free /24 left in 10.89.0.0/16: give --subnet");
}

/* The subnet's first host address, or check the one given: in the subnet
 * and neither its network nor (IPv4) its broadcast address. */
static int pick_gateway(const char *subnet, const char *want, char *out,
			size_t len, struct berr *err)
{
	struct nsn_cidr s, g;
	int r = nsn_cidr_parse(subnet, &s, err);
	if (r < 0)
		return r;
	size_t alen = s.family == AF_INET ? 4 : 16;
	unsigned maxp = s.family == AF_INET ? 30 : 126;
	struct nsn_cidr net = s;
	for (unsigned bit = s.prefix; bit < alen * 8; bit++)
		net.addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	if (memcmp(net.addr, s.addr, alen) || s.prefix > maxp || s.prefix < 8)
		return berr_setx(err, EINVAL,
				 "subnet %s: expected a network address "
				 "(no host bits) with a prefix from /8 to /%u",
				 subnet, maxp);
	if (!want) {
		g = s;
		g.addr[alen - 1] |= 1;
	} else {
		if (nsn_cidr_parse(want, &g, err) < 0)
			return -EINVAL;
		g.prefix = s.family == AF_INET ? 32 : 128;
		struct nsn_cidr bcast = net;
		for (unsigned bit = s.prefix; bit < alen * 8; bit++)
			bcast.addr[bit / 8] |=
				(unsigned char)(0x80u >> (bit % 8));
		if (g.family != s.family || !nsn_cidr_overlaps(&s, &g) ||
		    !memcmp(g.addr, net.addr, alen) ||
		    (s.family == AF_INET && !memcmp(g.addr, bcast.addr, alen)))
			return berr_setx(err, EINVAL,
					 "gateway %s: not a host address of "
					 "subnet %s",
					 want, subnet);
	}
	inet_ntop(g.family, g.addr, out, (socklen_t)len);
	return 0;
}

static int fill_network(const struct rt_ctx *ctx,
			const struct eng_network_opts *o, struct eng_network *n,
			struct berr *err)
{
	copy(n->name, sizeof(n->name), o->name);
	n->internal = o->internal;
	base_random_hex(n->id, 64);
	if (!strcmp(o->name, ENG_NET_DEFAULT))
		copy(n->bridge, sizeof(n->bridge), "berth0");
	else
		snprintf(n->bridge, sizeof(n->bridge), "br-%.12s", n->id);
	int r = 0;
	if (o->subnet) {
		struct nsn_cidr c;
		if ((r = nsn_cidr_parse(o->subnet, &c, err)) < 0)
			return r;
		if (c.family != AF_INET)
			return berr_setx(err, EINVAL,
					 "--subnet %s: an IPv4 subnet "
					 "(IPv6: --ipv6)",
					 o->subnet);
		copy(n->subnet, sizeof(n->subnet), o->subnet);
		r = check_overlap(ctx, n->subnet, err);
	} else {
		r = pick_subnet(ctx, n->subnet, sizeof(n->subnet), err);
	}
	if (r == 0)
		r = pick_gateway(n->subnet, o->gateway, n->gateway,
				 sizeof(n->gateway), err);
	if (r == 0 && o->subnet6) {
		struct nsn_cidr c;
		if ((r = nsn_cidr_parse(o->subnet6, &c, err)) < 0)
			return r;
		if (c.family != AF_INET6)
			return berr_setx(err, EINVAL,
					 "--ipv6 %s: an IPv6 subnet",
					 o->subnet6);
		copy(n->subnet6, sizeof(n->subnet6), o->subnet6);
		r = check_overlap(ctx, n->subnet6, err);
		if (r == 0)
			r = pick_gateway(n->subnet6, NULL, n->gateway6,
					 sizeof(n->gateway6), err);
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(n->created, sizeof(n->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return r;
}

/* Called with the lock held. */
static int create_locked(const struct rt_ctx *ctx,
			 const struct eng_network_opts *o,
			 struct eng_network *out, struct berr *err)
{
	int r = eng_net_name_check(o->name, err);
	if (r < 0)
		return r;
	if (!strcmp(o->name, "none") || !strcmp(o->name, "host") ||
	    !strcmp(o->name, "bridge"))
		return berr_setx(err, EINVAL,
				 "network name `%s` is reserved (a --network "
				 "mode)",
				 o->name);
	struct eng_network n = {0};
	if (eng_net_load(ctx, o->name, &n, NULL) == 0)
		return berr_setx(err, EEXIST,
				 "network with name %s already exists",
				 o->name);
	r = fill_network(ctx, o, &n, err);
	if (r < 0)
		return berr_wrap(err, "network %s", o->name);
	if ((r = net_save(ctx, &n, err)) < 0)
		return r;
	if (out)
		*out = n;
	return 0;
}

int eng_network_create(const struct rt_ctx *ctx,
		       const struct eng_network_opts *o,
		       struct eng_network *out, struct berr *err)
{
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	return create_locked(ctx, o, out, err);
}

/* The network a container names ("bridge": the default), made on first
 * use when it is the default. Called with the lock held. */
int eng_net_get(const struct rt_ctx *ctx, const char *name,
		struct eng_network *n, struct berr *err)
{
	if (!strcmp(name, "bridge"))
		name = ENG_NET_DEFAULT;
	struct berr e = {0};
	int r = eng_net_load(ctx, name, n, &e);
	if (r == -ENOENT && !strcmp(name, ENG_NET_DEFAULT)) {
		struct eng_network_opts o = {.name = ENG_NET_DEFAULT};
		return create_locked(ctx, &o, n, err);
	}
	if (r < 0)
		*err = e;
	return r;
}

/* ---- bring-up and tear-down ------------------------------------------- */

static int ok_if(int r, int tolerated)
{
	return r == tolerated ? 0 : r;
}

/* IPv4 forwarding on, as docker turns it on: without it nothing leaves a
 * bridge. Only written when off. */
static int forward_on(struct berr *err)
{
	_cleanup_free_ char *v = NULL;
	const char *p = "/proc/sys/net/ipv4/ip_forward";
	if (base_read_file_at(AT_FDCWD, p, &v, NULL, 16) == 0 && v[0] == '1')
		return 0;
	int r = base_write_file_at(AT_FDCWD, p, "1", 1, 0);
	return r < 0 ? berr_set(err, -r, "write 1 to %s", p) : 0;
}

static int set_up(const struct eng_network *n, struct berr *err)
{
	int r = ok_if(nsn_bridge_create(n->bridge, err), -EEXIST);
	_cleanup_free_ char *gw =
		base_sprintf("%s/%s", n->gateway, strchr(n->subnet, '/') + 1);
	if (r == 0)
		r = ok_if(nsn_addr_add(n->bridge, gw, err), -EEXIST);
	if (r == 0 && n->subnet6[0]) {
		_cleanup_free_ char *gw6 = base_sprintf(
			"%s/%s", n->gateway6, strchr(n->subnet6, '/') + 1);
		r = ok_if(nsn_addr_add(n->bridge, gw6, err), -EEXIST);
	}
	if (r == 0)
		r = nsn_link_set_up(n->bridge, true, err);
	struct nsn_nft_net nn = {.name = n->name,
				 .bridge = n->bridge,
				 .subnet = n->subnet,
				 .gateway = n->gateway,
				 .internal = n->internal};
	if (r == 0)
		r = ok_if(nsn_nft_network_add(&nn, err), -EEXIST);
	if (r == 0 && !n->internal)
		r = forward_on(err);
	if (r < 0)
		return berr_wrap(err, "network %s", n->name);
	return 0;
}

/* What names the bridge eng_net_up() set up in full: the boot, the network
 * namespace, and the bridge's index there. "" when there is no bridge. */
static void bridge_stamp(const struct eng_network *n, char *buf, size_t len)
{
	buf[0] = '\0';
	bool up = false;
	int index = nsn_link_index(n->bridge, &up, NULL);
	_cleanup_free_ char *boot = NULL;
	struct stat st;
	if (index <= 0 || !up ||
	    base_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id",
			      &boot, NULL, 64) < 0 ||
	    stat("/proc/thread-self/ns/net", &st) < 0)
		return;
	snprintf(buf, len, "%.*s %llu %d\n", (int)strcspn(boot, "\n"), boot,
		 (unsigned long long)st.st_ino, index);
}

static char *stamp_path(const struct rt_ctx *ctx, const char *name)
{
	_cleanup_free_ char *dir = eng_net_path(ctx, "networks");
	return base_sprintf("%s/%s.up", dir, name);
}

/* Whether the network's bridge is the one set up in full before, and up:
 * its address, nftables rules and forwarding were made with it, so an
 * attach checks one link rather than making them again (the nftables
 * check alone took 1.2-1.4 ms). As docker, berth does not remake rules
 * that someone else flushed. */
static bool net_is_up(const struct rt_ctx *ctx, const struct eng_network *n,
		      char *stamp, size_t len)
{
	bridge_stamp(n, stamp, len);
	_cleanup_free_ char *path = stamp_path(ctx, n->name), *was = NULL;
	return stamp[0] &&
	       base_read_file_at(AT_FDCWD, path, &was, NULL, 256) == 0 &&
	       !strcmp(was, stamp);
}

int eng_net_up(const struct rt_ctx *ctx, const struct eng_network *n,
	       struct berr *err)
{
	char stamp[128];
	if (net_is_up(ctx, n, stamp, sizeof(stamp)))
		return 0;
	int r = set_up(n, err);
	if (r < 0)
		return r;
	bridge_stamp(n, stamp, sizeof(stamp));
	_cleanup_free_ char *dir = eng_net_path(ctx, "networks");
	_cleanup_free_ char *name = base_sprintf("%s.up", n->name);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* without it, the next attach sets up again: slower, not wrong */
	if (stamp[0] && dfd >= 0)
		base_write_file_atomic(dfd, name, stamp, strlen(stamp), 0600);
	return 0;
}

static int net_down(const struct rt_ctx *ctx, const struct eng_network *n,
		    struct berr *err)
{
	int r = nsn_nft_network_remove(n->name, n->bridge, err);
	if (r >= 0)
		r = ok_if(nsn_link_delete(n->bridge, err), -ENODEV);
	_cleanup_free_ char *dns = eng_net_path(ctx, "dns");
	_cleanup_free_ char *dnsdir = base_sprintf("%s/%s", dns, n->name);
	if (r >= 0)
		r = nsn_dns_stop_wait(dnsdir, err);
	if (r >= 0) {
		_cleanup_close_ int dfd =
			open(dns, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			base_rm_rf_at(dfd, n->name);
	}
	_cleanup_free_ char *leases = eng_net_path(ctx, "networks");
	_cleanup_free_ char *leases6 = eng_net_path(ctx, "leases6");
	if (r >= 0)
		r = nsn_ipam_remove(leases, n->name, err);
	if (r >= 0)
		r = nsn_ipam_remove(leases6, n->name, err);
	_cleanup_free_ char *stamp = stamp_path(ctx, n->name);
	if (r >= 0 && unlink(stamp) < 0 && errno != ENOENT)
		r = berr_set(err, errno, "remove %s", stamp);
	if (r >= 0) {
		_cleanup_free_ char *f =
			base_sprintf("%s/%s.json", leases, n->name);
		if (unlink(f) < 0 && errno != ENOENT)
			r = berr_set(err, errno, "remove %s", f);
	}
	return r < 0 ? berr_wrap(err, "remove network %s", n->name) : 0;
}

/* ---- ls, inspect, rm, prune -------------------------------------------- */

int eng_network_list(const struct rt_ctx *ctx, struct eng_network **out,
		     size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	eng_endpoint_gc(ctx, NULL);
	_cleanup_strv_ char **names = NULL;
	int r = net_names(ctx, &names, err);
	if (r < 0)
		return r;
	size_t cnt = base_strv_len(names);
	struct eng_network *v = cnt ? base_calloc(cnt, sizeof(*v)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		if (eng_net_load(ctx, names[i], &v[k], NULL) < 0)
			continue;
		v[k].n_endpoints = eng_endpoint_count(ctx, names[i], NULL);
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

int eng_network_inspect(const struct rt_ctx *ctx, const char *name, char **json,
			struct berr *err)
{
	*json = NULL;
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	eng_endpoint_gc(ctx, NULL);
	struct eng_network n;
	int r = eng_net_load(
		ctx, strcmp(name, "bridge") ? name : ENG_NET_DEFAULT, &n, err);
	if (r < 0)
		return r;
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	put(o, "Name", n.name);
	put(o, "Id", n.id);
	put(o, "Created", n.created);
	put(o, "Driver", "bridge");
	cJSON_AddItemToObject(o, "Internal", cJSON_CreateBool(n.internal));
	cJSON_AddItemToObject(o, "EnableIPv6", cJSON_CreateBool(n.subnet6[0]));
	cJSON *ipam = cJSON_AddObjectToObject(o, "IPAM");
	put(ipam, "Driver", "default");
	cJSON *cfg = cJSON_AddArrayToObject(ipam, "Config");
	for (int k = 0; k < 2; k++) {
		const char *s = k ? n.subnet6 : n.subnet;
		if (!s[0])
			continue;
		cJSON *c = cJSON_CreateObject();
		put(c, "Subnet", s);
		put(c, "Gateway", k ? n.gateway6 : n.gateway);
		cJSON_AddItemToArray(cfg, c);
	}
	cJSON *opts = cJSON_AddObjectToObject(o, "Options");
	put(opts, "com.docker.network.bridge.name", n.bridge);
	cJSON *ctrs = cJSON_AddObjectToObject(o, "Containers");
	eng_endpoint_count(ctx, n.name, ctrs);
	char *text = cJSON_Print(o);
	if (!text)
		return berr_setx(err, ENOMEM, "print network %s", name);
	*json = text;
	return 0;
}

static int rm_locked(const struct rt_ctx *ctx, const char *name,
		     struct berr *err)
{
	struct eng_network n;
	int r = eng_net_load(ctx, name, &n, err);
	if (r < 0)
		return r;
	_cleanup_cjson_ cJSON *ctrs = cJSON_CreateObject();
	if (eng_endpoint_count(ctx, name, ctrs) > 0) {
		_cleanup_free_ char *list = base_strdup("");
		for (cJSON *c = ctrs->child; c; c = c->next) {
			char *next = base_sprintf(
				"%s%s%s", list, list[0] ? ", " : "", c->string);
			free(list);
			list = next;
		}
		return berr_setx(err, EBUSY,
				 "network %s has active endpoints: %s", name,
				 list);
	}
	eng_endpoint_sweep(ctx, &n);
	return net_down(ctx, &n, err);
}

int eng_network_rm(const struct rt_ctx *ctx, const char *name, struct berr *err)
{
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	if (!strcmp(name, "bridge"))
		name = ENG_NET_DEFAULT;
	eng_endpoint_gc(ctx, name);
	return rm_locked(ctx, name, err);
}

int eng_network_prune(const struct rt_ctx *ctx, char ***removed,
		      struct berr *err)
{
	if (removed)
		*removed = NULL;
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	eng_endpoint_gc(ctx, NULL);
	_cleanup_strv_ char **names = NULL;
	int r = net_names(ctx, &names, err);
	for (size_t i = 0; r == 0 && names && names[i]; i++) {
		struct eng_network n;
		if (eng_endpoint_count(ctx, names[i], NULL) > 0) {
			/* kept: what its dead endpoints left goes */
			if (eng_net_load(ctx, names[i], &n, NULL) == 0)
				eng_endpoint_sweep(ctx, &n);
			continue;
		}
		r = rm_locked(ctx, names[i], err);
		if (r == 0 && removed)
			base_strv_push(removed, names[i]);
	}
	return r;
}
