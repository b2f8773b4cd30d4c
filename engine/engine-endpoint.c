/* A container's endpoint: what it gets of the network it asked for.
 *
 * Every launched container has one, <root>/.net/endpoints/<id>/, with the
 * files docker gives a container (hosts, hostname, resolv.conf, bind-
 * mounted over the image's) and endpoint.json; on a named network also
 * netns, the network namespace the container joins (made here, so that its
 * veth, address and routes are in place before the container's first
 * instruction), a veth pair, address leases, published ports and names in
 * the network's DNS server.
 *
 * Dying at any instruction: endpoint.json is written, naming everything
 * the endpoint will make, before anything is made, and the directory is
 * flock()ed by the process that attaches for as long as that process
 * lives (the container exists by the time it exits). An endpoint whose
 * lock nobody holds and whose container has no state directory is dead:
 * eng_endpoint_gc() removes it, by its record, on the next attach, `network
 * ls/inspect/rm/prune`. Every removal step may be repeated. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "engine/engine-internal.h"

/* ---- the record ------------------------------------------------------- */

struct record {
	char id[NSN_ID_MAX + 1];     /* the endpoint's: directory, lease, tag */
	char ctr_id[NSN_ID_MAX + 1]; /* its container's, in ctr_root */
	char network[NSN_ID_MAX + 1]; /* "" when on no named network */
	char cni[NSN_ID_MAX + 1];     /* a CNI network's name, or "" */
	char ctr_root[4096];
	char veth[16];
	char mac[18];
	char ip[INET6_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];
	char prefix[4], prefix6[4];
	char **names;	 /* DNS names: id, hostname, aliases */
	char **ports;	 /* published: "0.0.0.0:8000->80/tcp" */
	bool publishing; /* ports were asked for: rules may exist */
};

static void record_clear(struct record *r)
{
	base_strv_free(r->names);
	base_strv_free(r->ports);
	r->names = r->ports = NULL;
}

static void put_strv(cJSON *o, const char *key, char *const *v)
{
	cJSON *a = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

static void get_strv(const cJSON *o, const char *key, char ***v)
{
	const cJSON *n;
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(
				      o, key)) if (cJSON_GetStringValue(n))
		base_strv_push(v, cJSON_GetStringValue(n));
}

static const char *jget(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k))
		       ?: "";
}

static int record_write(int dfd, const struct record *r, struct berr *err)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	const char *keys[] = {"id",	  "ctr_id", "network", "cni",
			      "ctr_root", "veth",   "mac",     "ip",
			      "ip6",	  "prefix", "prefix6"};
	const char *vals[] = {r->id,	   r->ctr_id, r->network, r->cni,
			      r->ctr_root, r->veth,   r->mac,	  r->ip,
			      r->ip6,	   r->prefix, r->prefix6};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		cJSON_AddItemToObject(o, keys[i], cJSON_CreateString(vals[i]));
	put_strv(o, "names", r->names);
	put_strv(o, "ports", r->ports);
	cJSON_AddBoolToObject(o, "publishing", r->publishing);
	_cleanup_free_ char *text = cJSON_Print(o);
	int e = text ? base_write_file_atomic(dfd, "endpoint.json", text,
					      strlen(text), 0600)
		     : -ENOMEM;
	return e < 0 ? berr_set(err, -e, "write endpoint of %s", r->id) : 0;
}

#define COPY(dst, src) snprintf(dst, sizeof(dst), "%s", src)

static int record_read(int dfd, struct record *r)
{
	*r = (struct record){0};
	_cleanup_free_ char *text = NULL;
	int e = base_read_file_at(dfd, "endpoint.json", &text, NULL, 1 << 20);
	if (e < 0)
		return e;
	_cleanup_cjson_ cJSON *o = cJSON_Parse(text);
	if (!cJSON_IsObject(o))
		return -EINVAL;
	COPY(r->id, jget(o, "id"));
	COPY(r->ctr_id, jget(o, "ctr_id"));
	COPY(r->network, jget(o, "network"));
	COPY(r->cni, jget(o, "cni"));
	COPY(r->ctr_root, jget(o, "ctr_root"));
	COPY(r->veth, jget(o, "veth"));
	COPY(r->mac, jget(o, "mac"));
	COPY(r->ip, jget(o, "ip"));
	COPY(r->ip6, jget(o, "ip6"));
	COPY(r->prefix, jget(o, "prefix"));
	COPY(r->prefix6, jget(o, "prefix6"));
	get_strv(o, "names", &r->names);
	get_strv(o, "ports", &r->ports);
	r->publishing =
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "publishing"));
	return r->id[0] ? 0 : -EINVAL;
}

/* ---- the network's names ----------------------------------------------- */

/* Calls fn for every endpoint record on network (NULL: every one), with
 * its directory fd. */
static void each_record(const struct rt_ctx *ctx, const char *network,
			void (*fn)(int dfd, const char *name,
				   const struct record *r, void *data),
			void *data)
{
	_cleanup_free_ char *dir = eng_net_path(ctx, "endpoints");
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_close_ int dfd =
			openat(dirfd(d), de->d_name,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		struct record r;
		if (dfd < 0)
			continue;
		if (record_read(dfd, &r) < 0) {
			/* killed before its record: only its name is known */
			r = (struct record){0};
			COPY(r.id, de->d_name);
		}
		if (!network || !strcmp(r.network, network))
			fn(dfd, de->d_name, &r, data);
		record_clear(&r);
	}
}

struct hosts {
	struct nsn_dns_host *v;
	size_t n;
};

/* What the DNS server answers for: labels of [A-Za-z0-9_-] joined by
 * dots. A container id may be none (`a..b`): it is then left out of the
 * names rather than failing the container. */
static bool dns_name_ok(const char *n)
{
	size_t len = strlen(n), label = 0;
	if (!len || len > NSN_DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (n[i] == '.' || !n[i]) {
			if (label == 0 || label > 63)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)n[i]) || n[i] == '_' ||
			   n[i] == '-') {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static void add_names(int dfd, const char *name, const struct record *r,
		      void *data)
{
	(void)dfd;
	(void)name;
	struct hosts *h = data;
	for (size_t i = 0; r->names && r->names[i]; i++)
		for (int k = 0; k < 2 && dns_name_ok(r->names[i]); k++) {
			const char *ip = k ? r->ip6 : r->ip;
			if (!ip[0])
				continue;
			h->v = base_realloc(h->v, h->n + 1, sizeof(*h->v));
			struct nsn_dns_host *e = &h->v[h->n++];
			*e = (struct nsn_dns_host){0};
			COPY(e->name, r->names[i]);
			COPY(e->ip, ip);
		}
}

static char *dns_dir(const struct rt_ctx *ctx, const struct eng_network *n)
{
	_cleanup_free_ char *dns = eng_net_path(ctx, "dns");
	return base_sprintf("%s/%s", dns, n->name);
}

struct put {
	const char *dir;
	struct berr *err;
	int r;
};

/* Writes the names of endpoint r to its own file of the DNS server. */
static void put_names(int dfd, const char *name, const struct record *r,
		      void *data)
{
	struct put *p = data;
	struct hosts h = {0};
	add_names(dfd, name, r, &h);
	int ret = nsn_dns_hosts_put(p->dir, r->id, h.v, h.n,
				    p->r < 0 ? NULL : p->err);
	if (p->r == 0)
		p->r = ret;
	free(h.v);
}

/* Gives rec's names (none: nobody's new) to the network's DNS server,
 * which is started when none runs, or stopped when no name is left. Where
 * the server's files are new (a network from before they were kept per
 * endpoint, or one made anew), every endpoint's names go first. Lock
 * held. */
static int dns_sync(const struct rt_ctx *ctx, const struct eng_network *n,
		    const struct record *rec, struct berr *err)
{
	_cleanup_free_ char *dir = dns_dir(ctx, n);
	_cleanup_free_ char *hosts = base_sprintf("%s/hosts.d", dir);
	int r = base_mkdir_p(AT_FDCWD, dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "create %s", dir);
	struct put p = {.dir = dir, .err = err};
	if (access(hosts, F_OK) < 0) {
		/* a server that runs watches no such directory */
		r = nsn_dns_stop(dir, err);
		if (r < 0)
			return berr_wrap(err, "DNS of network %s", n->name);
		each_record(ctx, n->name, put_names, &p);
	} else if (rec) {
		put_names(-1, rec->id, rec, &p);
	}
	r = p.r;
	size_t names = r == 0 ? nsn_dns_hosts_count(dir) : 0;
	_cleanup_strv_ char **up = NULL;
	if (r == 0 && !names)
		r = nsn_dns_stop(dir, err);
	if (r == 0 && names)
		r = eng_resolv_upstream(&up, err);
	struct nsn_dns d = {.state_dir = dir,
			    .bridge = n->bridge,
			    .listen_ip = n->gateway,
			    .upstream = (const char *const *)up,
			    .n_upstream = base_strv_len(up)};
	if (r == 0 && names)
		r = nsn_dns_ensure(&d, err);
	return r < 0 ? berr_wrap(err, "DNS of network %s", n->name) : 0;
}

/* Takes the names of endpoint id from the network's DNS server, which
 * stops with the last. Lock held. */
static int dns_remove(const struct rt_ctx *ctx, const struct eng_network *n,
		      const char *id, struct berr *err)
{
	_cleanup_free_ char *dir = dns_dir(ctx, n);
	_cleanup_free_ char *hosts = base_sprintf("%s/hosts.d", dir);
	if (access(dir, F_OK) < 0)
		return 0;
	if (access(hosts, F_OK) < 0)
		return dns_sync(ctx, n, NULL, err);
	int r = nsn_dns_hosts_drop(dir, id, err);
	if (r == 0 && nsn_dns_hosts_count(dir) == 0)
		r = nsn_dns_stop(dir, err);
	return r < 0 ? berr_wrap(err, "DNS of network %s", n->name) : 0;
}

/* ---- release ------------------------------------------------------------ */

static int ok_if(int r, int tolerated)
{
	return r == tolerated ? 0 : r;
}

/* ---- CNI ----------------------------------------------------------------- */

/* Where the plugins and conflists are: cnitool's variables, else the
 * CNI defaults. */
static void cni_opts(const struct rt_ctx *ctx, const struct record *rec,
		     const char *netns, struct nsn_cni_opts *o, char **cache)
{
	*cache = eng_net_path(ctx, "cni");
	*o = (struct nsn_cni_opts){.conf_dirs = getenv("NETCONFPATH"),
				   .plugin_dirs = getenv("CNI_PATH"),
				   .cache_dir = *cache,
				   .network = rec->cni,
				   .container_id = rec->id,
				   .netns_path = netns};
}

static int cni_del(const struct rt_ctx *ctx, const char *dir,
		   const struct record *rec, struct berr *err)
{
	_cleanup_free_ char *ns = base_sprintf("%s/netns", dir), *cache = NULL;
	struct nsn_cni_opts o;
	cni_opts(ctx, rec, access(ns, F_OK) == 0 ? ns : NULL, &o, &cache);
	return nsn_cni_del(&o, err);
}

static int make_netns(const char *path, struct berr *err);

/* cni:NAME: the conflist's plugins wire a namespace of the endpoint's. */
static int attach_cni(const struct rt_ctx *ctx, int dfd, const char *dir,
		      const struct eng_net_opts *o, struct record *rec,
		      struct eng_endpoint *ep, struct berr *err)
{
	COPY(rec->cni, o->mode + 4);
	int r = eng_net_name_check(rec->cni, err);
	if (r == 0)
		r = record_write(dfd, rec, err);
	_cleanup_free_ char *ns = base_sprintf("%s/netns", dir), *cache = NULL;
	if (r == 0)
		r = make_netns(ns, err);
	_cleanup_free_ struct nsn_port_map *maps =
		o->n_ports ? base_calloc(o->n_ports, sizeof(*maps)) : NULL;
	if (r == 0)
		r = eng_ports_resolve(rec->id, o->ports, o->n_ports, maps, err);
	struct nsn_cni_opts co;
	cni_opts(ctx, rec, ns, &co, &cache);
	co.ports = maps;
	co.n_ports = o->n_ports;
	struct nsn_cni_result res = {0};
	if (r == 0 && (r = nsn_cni_add(&co, &res, err)) < 0)
		rec->cni[0] = '\0'; /* a failed ADD undid itself */
	if (r < 0)
		return r;
	/* the plugins' addresses, without their prefixes */
	snprintf(rec->ip, sizeof(rec->ip), "%.*s", (int)strcspn(res.ip4, "/"),
		 res.ip4);
	snprintf(rec->ip6, sizeof(rec->ip6), "%.*s", (int)strcspn(res.ip6, "/"),
		 res.ip6);
	COPY(rec->mac, res.mac);
	ep->netns = TAKE_PTR(ns);
	COPY(ep->ip, rec->ip);
	COPY(ep->ip6, rec->ip6);
	return record_write(dfd, rec, err);
}

/* Everything the record names, then the directory. Lock held. */
static int release_locked(const struct rt_ctx *ctx, int dfd, const char *dir,
			  const struct record *rec, struct berr *err)
{
	/* only an endpoint on a named network made anything in the host's
	 * network namespace; no nftables call (about 1.3 ms) for one that
	 * published nothing, no IPv6 lease file for a network without */
	struct eng_network n;
	bool known = rec->network[0] &&
		     eng_net_load(ctx, rec->network, &n, NULL) == 0;
	int r = rec->network[0] && (rec->publishing || rec->ports)
			? nsn_nft_unpublish(rec->id, err)
			: 0;
	/* Deleting the veth waits for RCU grace periods (16-24 ms here).
	 * Taken down, it leaves the bridge's forwarding at once (the bridge
	 * forgets the addresses learnt on it, so a successor with the same
	 * address and MAC is reached), and the kernel removes the pair in
	 * the background when the namespace goes, unmounted below. */
	if (r >= 0 && rec->network[0] && rec->veth[0])
		r = ok_if(nsn_link_set_up(rec->veth, false, err), -ENODEV);
	if (r >= 0 && rec->network[0]) {
		_cleanup_free_ char *l4 = eng_net_path(ctx, "networks");
		_cleanup_free_ char *l6 = eng_net_path(ctx, "leases6");
		r = nsn_ipam_release(l4, rec->network, rec->id, err);
		if (r >= 0 && (!known || n.subnet6[0] || rec->ip6[0]))
			r = nsn_ipam_release(l6, rec->network, rec->id, err);
	}
	_cleanup_free_ char *ns = base_sprintf("%s/netns", dir);
	/* a DEL that fails (a plugin gone since) is reported, but the rest
	 * goes: kept, the endpoint could only fail the same way again */
	struct berr cerr = {0};
	int cr = r >= 0 && rec->cni[0] ? cni_del(ctx, dir, rec, &cerr) : 0;
	if (r >= 0 && umount2(ns, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		r = berr_set(err, errno, "unmount %s", ns);
	if (r < 0)
		return berr_wrap(err, "release the endpoint of %s", rec->id);
	(void)dfd;
	_cleanup_free_ char *parent = strndup(dir, strrchr(dir, '/') - dir);
	_cleanup_close_ int pfd =
		open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = pfd < 0 ? -errno : base_rm_rf_at(pfd, strrchr(dir, '/') + 1);
	if (r < 0 && r != -ENOENT)
		return berr_set(err, -r, "remove %s", dir);
	if (known)
		return dns_remove(ctx, &n, rec->id, err);
	if (cr < 0 && err)
		*err = cerr;
	return cr;
}

/* The context whose state root holds the endpoint directory dir
 * (<root>/.net/endpoints/<id>). */
static char *root_of(const char *dir)
{
	const char *tail = strstr(dir, "/.net/endpoints/");
	const char *last = tail;
	while (last && (tail = strstr(last + 1, "/.net/endpoints/")))
		last = tail;
	return last ? strndup(dir, last - dir) : NULL;
}

int eng_endpoint_release(const char *dir, struct berr *err)
{
	_cleanup_free_ char *root = root_of(dir);
	if (!root)
		return berr_setx(err, EINVAL, "%s: not an endpoint", dir);
	struct rt_ctx ctx = {.root = root};
	_cleanup_close_ int lock = eng_net_lock(&ctx, err);
	if (lock < 0)
		return lock;
	_cleanup_close_ int dfd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return errno == ENOENT ? 0
				       : berr_set(err, errno, "open %s", dir);
	struct record rec;
	if (record_read(dfd, &rec) < 0) {
		rec = (struct record){0};
		COPY(rec.id, strrchr(dir, '/') + 1);
	}
	int r = release_locked(&ctx, dfd, dir, &rec, err);
	record_clear(&rec);
	return r;
}

bool eng_endpoint_of(const char *dir, const char *ctr_id, const char *ctr_root)
{
	_cleanup_close_ int dfd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct record rec;
	if (dfd < 0 || record_read(dfd, &rec) < 0)
		return false;
	bool mine =
		!strcmp(rec.ctr_id, ctr_id) && !strcmp(rec.ctr_root, ctr_root);
	record_clear(&rec);
	return mine;
}

/* ---- dead endpoints --------------------------------------------------- */

struct gc {
	const struct rt_ctx *ctx;
	int removed;
};

static void gc_one(int dfd, const char *name, const struct record *r,
		   void *data)
{
	struct gc *g = data;
	if (flock(dfd, LOCK_EX | LOCK_NB) < 0)
		return; /* its attach is at work, or its launcher lives */
	if (r->ctr_root[0]) {
		_cleanup_free_ char *state = base_sprintf(
			"%s/%s", r->ctr_root, r->ctr_id[0] ? r->ctr_id : r->id);
		if (access(state, F_OK) == 0)
			return;
	}
	_cleanup_free_ char *base = eng_net_path(g->ctx, "endpoints");
	_cleanup_free_ char *dir = base_sprintf("%s/%s", base, name);
	if (release_locked(g->ctx, dfd, dir, r, NULL) == 0)
		g->removed++;
}

/* The temporary files (".NAME.tmp.PID") of writers killed before their
 * rename: a lease file's, a network's. */
static void gc_tmp(const struct rt_ctx *ctx, const char *sub)
{
	_cleanup_free_ char *dir = eng_net_path(ctx, sub);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *t = strstr(de->d_name, ".tmp.");
		int pid;
		if (de->d_name[0] != '.' || !t ||
		    base_parse_int(t + 5, &pid) < 0 || pid <= 0 ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
}

int eng_endpoint_gc(const struct rt_ctx *ctx, const char *network)
{
	struct gc g = {.ctx = ctx};
	each_record(ctx, network, gc_one, &g);
	gc_tmp(ctx, "networks");
	gc_tmp(ctx, "leases6");
	return g.removed;
}

/* ---- veths of no endpoint ------------------------------------------------ */

static void collect_veth(int dfd, const char *name, const struct record *r,
			 void *data)
{
	(void)dfd;
	(void)name;
	if (r->veth[0])
		base_strv_push(data, r->veth);
}

void eng_endpoint_sweep(const struct rt_ctx *ctx, const struct eng_network *n)
{
	_cleanup_strv_ char **down = NULL, **owned = NULL;
	if (nsn_bridge_down_ports(n->bridge, &down, NULL) < 0 || !down)
		return;
	each_record(ctx, n->name, collect_veth, &owned);
	for (size_t i = 0; down[i]; i++) {
		bool mine = false;
		for (size_t k = 0; owned && owned[k] && !mine; k++)
			mine = !strcmp(owned[k], down[i]);
		/* berth's names only: another port of the bridge is not its */
		if (!mine && !strncmp(down[i], "vb", 2))
			nsn_link_delete(down[i], NULL);
	}
}

/* ---- counting, for ls, inspect and rm ----------------------------------- */

struct count {
	cJSON *ctrs;
	size_t n;
};

static void count_one(int dfd, const char *name, const struct record *r,
		      void *data)
{
	(void)dfd;
	(void)name;
	struct count *c = data;
	c->n++;
	if (!c->ctrs)
		return;
	cJSON *e = cJSON_AddObjectToObject(c->ctrs, r->id);
	cJSON_AddStringToObject(e, "Name", r->id);
	cJSON_AddStringToObject(e, "MacAddress", r->mac);
	_cleanup_free_ char *a =
		r->ip[0] ? base_sprintf("%s/%s", r->ip, r->prefix)
			 : base_strdup("");
	_cleanup_free_ char *a6 =
		r->ip6[0] ? base_sprintf("%s/%s", r->ip6, r->prefix6)
			  : base_strdup("");
	cJSON_AddStringToObject(e, "IPv4Address", a);
	cJSON_AddStringToObject(e, "IPv6Address", a6);
	put_strv(e, "Ports", r->ports);
}

size_t eng_endpoint_count(const struct rt_ctx *ctx, const char *network,
			  cJSON *ctrs)
{
	struct count c = {.ctrs = ctrs};
	each_record(ctx, network, count_one, &c);
	return c.n;
}

struct find_ip {
	const char *root, *id;
	char *ip;
	size_t len;
};

static void find_ip_one(int dfd, const char *name, const struct record *r,
			void *data)
{
	(void)dfd;
	(void)name;
	struct find_ip *f = data;
	if (!strcmp(r->ctr_root, f->root) && !strcmp(r->ctr_id, f->id))
		snprintf(f->ip, f->len, "%s", r->ip);
}

void eng_endpoint_ip(const struct rt_ctx *ctx, const char *ctr_root,
		     const char *ctr_id, char *ip, size_t len)
{
	ip[0] = '\0';
	struct find_ip f = {
		.root = ctr_root, .id = ctr_id, .ip = ip, .len = len};
	each_record(ctx, NULL, find_ip_one, &f);
}

/* ---- attach ------------------------------------------------------------ */

void eng_endpoint_free(struct eng_endpoint *ep)
{
	if (!ep)
		return;
	if (ep->lock_fd >= 0)
		close(ep->lock_fd);
	free(ep->dir);
	free(ep->netns);
	free(ep->hostname);
	free(ep->hosts);
	free(ep->hostname_file);
	free(ep->resolv);
	free(ep);
}

/* A new network namespace, bind-mounted on path: the calling thread
 * enters one, pins it there and comes back. */
static int make_netns(const char *path, struct berr *err)
{
	_cleanup_close_ int f =
		open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (f < 0)
		return berr_set(err, errno, "create %s", path);
	_cleanup_close_ int self =
		open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return berr_set(err, errno, "open /proc/thread-self/ns/net");
	if (unshare(CLONE_NEWNET) < 0)
		return berr_set(err, errno, "new network namespace");
	int r = mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL);
	int e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* going on in the new namespace is worse */
	return r < 0 ? berr_set(err, e, "bind the network namespace on %s",
				path)
		     : 0;
}

/* docker's: 02:42 and the IPv4 address. */
static void mac_from_ip(const char *ip, char *mac, size_t len)
{
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1) {
		char hex[11];
		base_random_hex(hex, 10);
		snprintf(mac, len, "02:%.2s:%.2s:%.2s:%.2s:%.2s", hex, hex + 2,
			 hex + 4, hex + 6, hex + 8);
		return;
	}
	const unsigned char *b = (const unsigned char *)&a.s_addr;
	snprintf(mac, len, "02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
}

static int lease(const struct rt_ctx *ctx, const struct eng_network *n,
		 const struct eng_net_opts *o, struct record *rec,
		 struct berr *err)
{
	_cleanup_free_ char *l4 = eng_net_path(ctx, "networks");
	struct nsn_ipam_net in = {
		.name = n->name, .subnet = n->subnet, .gateway = n->gateway};
	int r = nsn_ipam_alloc(l4, &in, rec->id, o->ip, rec->ip, err);
	COPY(rec->prefix, strchr(n->subnet, '/') + 1);
	if (r == 0 && n->subnet6[0]) {
		_cleanup_free_ char *l6 = eng_net_path(ctx, "leases6");
		struct nsn_ipam_net in6 = {.name = n->name,
					   .subnet = n->subnet6,
					   .gateway = n->gateway6};
		r = nsn_ipam_alloc(l6, &in6, rec->id, o->ip6, rec->ip6, err);
		COPY(rec->prefix6, strchr(n->subnet6, '/') + 1);
	} else if (r == 0 && o->ip6) {
		r = berr_setx(err, EINVAL,
			      "--ip6 %s: network %s has no IPv6 subnet", o->ip6,
			      n->name);
	}
	if (r < 0)
		return berr_wrap(err, "network %s", n->name);
	return 0;
}

static int plumb(const struct eng_network *n, const char *dir,
		 const struct record *rec, struct berr *err)
{
	_cleanup_free_ char *ns = base_sprintf("%s/netns", dir);
	int r = make_netns(ns, err);
	if (r < 0)
		return r;
	_cleanup_close_ int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return berr_set(err, errno, "open %s", ns);
	struct nsn_veth v = {.host_ifname = rec->veth,
			     .bridge = n->bridge,
			     .netns_fd = nsfd,
			     .peer_ifname = "eth0",
			     .peer_mac = rec->mac};
	if ((r = nsn_veth_create(&v, err)) < 0)
		return r;
	_cleanup_free_ char *a = base_sprintf("%s/%s", rec->ip, rec->prefix);
	_cleanup_free_ char *a6 =
		rec->ip6[0] ? base_sprintf("%s/%s", rec->ip6, rec->prefix6)
			    : NULL;
	struct nsn_iface c = {.ifname = "eth0",
			      .addr = a,
			      .addr6 = a6,
			      .gateway = n->internal ? NULL : n->gateway,
			      .gateway6 =
				      n->internal || !a6 ? NULL : n->gateway6};
	return nsn_iface_configure(nsfd, &c, err);
}

/* The names a container answers to on its network: its id, the host name
 * it was given (not the default one, a prefix of its id that another
 * container's id may be) and its aliases. */
static void names_of(const char *id, const char *hostname,
		     const struct eng_net_opts *o, char ***names)
{
	base_strv_push(names, id);
	if (hostname && strcmp(hostname, id))
		base_strv_push(names, hostname);
	for (size_t i = 0; o->aliases && o->aliases[i]; i++)
		base_strv_push(names, o->aliases[i]);
}

struct taken {
	const char *name, *self;
	char owner[NSN_ID_MAX + 1];
};

static void taken_one(int dfd, const char *dname, const struct record *r,
		      void *data)
{
	(void)dfd;
	(void)dname;
	struct taken *t = data;
	for (size_t i = 0; !t->owner[0] && r->names && r->names[i]; i++)
		if (!strcmp(r->names[i], t->name) && strcmp(r->id, t->self))
			COPY(t->owner, r->ctr_id[0] ? r->ctr_id : r->id);
}

/* A container's own name is one no other container answers to there
 * (aliases may be shared: a group's name answers with all of them). */
static int check_name(const struct rt_ctx *ctx, const struct eng_network *n,
		      const char *id, struct berr *err)
{
	struct taken t = {.name = id, .self = id};
	each_record(ctx, n->name, taken_one, &t);
	if (t.owner[0])
		return berr_setx(err, EEXIST,
				 "name %s is taken on network %s by container "
				 "%s",
				 id, n->name, t.owner);
	return 0;
}

/* On a named network: lease, namespace, veth, ports, name. Lock held, the
 * record written. */
static int attach_network(const struct rt_ctx *ctx, int dfd, const char *dir,
			  const struct eng_net_opts *o,
			  const struct eng_network *n, struct record *rec,
			  struct eng_endpoint *ep, int *lock, struct berr *err)
{
	int r = check_name(ctx, n, rec->id, err);
	if (r == 0)
		r = lease(ctx, n, o, rec, err);
	if (r == 0) {
		if (o->mac)
			COPY(rec->mac, o->mac);
		else
			mac_from_ip(rec->ip, rec->mac, sizeof(rec->mac));
		names_of(rec->id, o->hostname, o, &rec->names);
		r = record_write(dfd, rec, err);
	}
	/* The namespace, the veth and its addresses take most of an attach
	 * and touch nothing other endpoints share: done without the
	 * network lock, so that concurrent starts overlap there. The record
	 * (with the name and the lease) is written and the endpoint's own
	 * directory locked, so neither a collection nor `network rm` takes
	 * it for dead meanwhile. */
	if (r == 0) {
		close(*lock);
		*lock = -1;
		r = plumb(n, dir, rec, err);
		int l = eng_net_lock(ctx, r < 0 ? NULL : err);
		*lock = l;
		if (r == 0 && l < 0)
			r = l;
	}
	/* said before any rule exists, so that a release after SIGKILL
	 * looks for them */
	if (r == 0 && o->n_ports) {
		rec->publishing = true;
		r = record_write(dfd, rec, err);
	}
	if (r == 0)
		r = eng_ports_publish(rec->id, rec->ip, o->ports, o->n_ports,
				      &rec->ports, err);
	if (r == 0 && rec->ports)
		r = record_write(dfd, rec, err);
	if (r == 0)
		r = dns_sync(ctx, n, rec, err);
	if (r < 0)
		return r;
	ep->netns = base_sprintf("%s/netns", dir);
	COPY(ep->ip, rec->ip);
	COPY(ep->ip6, rec->ip6);
	return 0;
}

/* ns:PATH must be a network namespace: an nsfs file. */
static int check_nsfs(const char *path, struct berr *err)
{
	struct statfs fs;
	if (statfs(path, &fs) < 0)
		return berr_set(err, errno, "--network ns:%s", path);
	if (fs.f_type != NSFS_MAGIC)
		return berr_setx(err, EINVAL,
				 "--network ns:%s: not a namespace file (nsfs)",
				 path);
	return 0;
}

/* container:ID: the network namespace of a running container of this
 * state root. */
static int container_netns(const struct rt_ctx *ctx, const char *other,
			   struct eng_endpoint *ep, struct berr *err)
{
	_cleanup_close_ int pidfd = rt_pidfd(ctx, other, err);
	if (pidfd < 0)
		return berr_wrap(err, "--network container:%s", other);
	_cleanup_free_ char *fdinfo =
				    base_sprintf("/proc/self/fdinfo/%d", pidfd),
			    *text = NULL;
	int r = base_read_file_at(AT_FDCWD, fdinfo, &text, NULL, 4096);
	const char *p = r == 0 ? strstr(text, "\nPid:") : NULL;
	int pid = p ? atoi(p + 5) : 0;
	if (pid <= 0)
		return berr_setx(err, ESRCH,
				 "--network container:%s: not running", other);
	ep->netns = base_sprintf("/proc/%d/ns/net", pid);
	return 0;
}

/* The part of attach that depends on the mode. Lock held. */
static int attach_mode(const struct rt_ctx *ctx, int dfd, const char *dir,
		       const struct eng_net_opts *o, struct record *rec,
		       struct eng_endpoint *ep, struct eng_network *n,
		       int *lock, struct berr *err)
{
	const char *mode = o->mode ? o->mode : "none";
	if (!strcmp(mode, "none"))
		return 0;
	if (!strcmp(mode, "host")) {
		ep->host = true;
		return 0;
	}
	if (base_str_has_prefix(mode, "ns:")) {
		int r = check_nsfs(mode + 3, err);
		if (r == 0)
			ep->netns = base_strdup(mode + 3);
		return r;
	}
	if (base_str_has_prefix(mode, "container:"))
		return container_netns(ctx, mode + 10, ep, err);
	if (base_str_has_prefix(mode, "cni:"))
		return attach_cni(ctx, dfd, dir, o, rec, ep, err);
	int r = eng_net_get(ctx, mode, n, err);
	if (r == 0) {
		COPY(rec->network, n->name);
		r = record_write(dfd, rec, err);
	}
	if (r == 0)
		r = eng_net_up(ctx, n, err);
	if (r == 0)
		eng_endpoint_gc(ctx, n->name);
	if (r == 0)
		r = attach_network(ctx, dfd, dir, o, n, rec, ep, lock, err);
	return r;
}

static bool on_named_network(const char *mode)
{
	return mode && strcmp(mode, "none") && strcmp(mode, "host") &&
	       !base_str_has_prefix(mode, "ns:") &&
	       !base_str_has_prefix(mode, "container:") &&
	       !base_str_has_prefix(mode, "cni:");
}

static int check_opts(const char *id, const struct eng_net_opts *o,
		      struct berr *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	bool named = on_named_network(o->mode);
	bool cni = o->mode && base_str_has_prefix(o->mode, "cni:");
	if (cni && (o->ip || o->ip6 || o->aliases || o->mac))
		return berr_setx(err, EINVAL,
				 "--network %s: the CNI plugins choose the "
				 "address and MAC; no names but /etc/hosts'",
				 o->mode);
	if (!named && !cni &&
	    (o->n_ports || o->ip || o->ip6 || o->aliases || o->mac))
		return berr_setx(
			err, EINVAL,
			"--network %s: -p, --ip, --ip6, --mac-address and "
			"--network-alias need a bridge network (bridge or a "
			"network's name)",
			o->mode ? o->mode : "none");
	for (size_t i = 0; o->aliases && o->aliases[i]; i++)
		if (rt_validate_id(o->aliases[i], NULL) < 0)
			return berr_setx(err, EINVAL,
					 "--network-alias `%s`: expected "
					 "[A-Za-z0-9][A-Za-z0-9_.-]*",
					 o->aliases[i]);
	return 0;
}

/* <root>/.net/endpoints/<id>, new, locked; a dead one of that id goes
 * first. */
static int new_dir(const struct rt_ctx *ctx, const char *id, char **dirp,
		   struct berr *err)
{
	_cleanup_free_ char *base = eng_net_path(ctx, "endpoints");
	_cleanup_free_ char *dir = base_sprintf("%s/%s", base, id);
	if (mkdir(dir, 0700) < 0 && errno == EEXIST) {
		eng_endpoint_gc(ctx, NULL);
		if (mkdir(dir, 0700) < 0 && errno == EEXIST)
			return berr_setx(err, EEXIST,
					 "container %s has a network endpoint "
					 "already",
					 id);
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return berr_set(err, errno, "create %s", dir);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return berr_set(err, e, "lock %s", dir);
	}
	*dirp = TAKE_PTR(dir);
	return fd;
}

int eng_endpoint_attach(const struct rt_ctx *ctx, const char *id,
			const char *ctr_id, const char *ctr_root,
			const struct eng_net_opts *o, struct eng_endpoint **out,
			struct berr *err)
{
	*out = NULL;
	int r = check_opts(id, o, err);
	if (r < 0)
		return r;
	/* may be dropped and taken again around the slow part (see
	 * attach_network()) */
	_cleanup_close_ int lock = eng_net_lock(ctx, err);
	if (lock < 0)
		return lock;
	_cleanup_(eng_endpoint_freep) struct eng_endpoint *ep =
		base_calloc(1, sizeof(*ep));
	ep->lock_fd = -1;
	ep->hostname =
		o->hostname ? base_strdup(o->hostname) : eng_short_name(ctr_id);
	int dfd = new_dir(ctx, id, &ep->dir, err);
	if (dfd < 0)
		return dfd;
	ep->lock_fd = dfd;
	struct record rec = {0};
	COPY(rec.id, id);
	COPY(rec.ctr_id, ctr_id);
	COPY(rec.ctr_root, ctr_root);
	char hex[11];
	base_random_hex(hex, 10);
	snprintf(rec.veth, sizeof(rec.veth), "vb%s", hex);
	struct eng_network n = {0};
	r = record_write(dfd, &rec, err);
	if (r == 0)
		r = attach_mode(ctx, dfd, ep->dir, o, &rec, ep, &n, &lock, err);
	if (r == 0)
		r = eng_files_write(ctx, dfd, o, n.name[0] ? &n : NULL, ep,
				    err);
	if (r < 0)
		release_locked(ctx, dfd, ep->dir, &rec, NULL);
	record_clear(&rec);
	if (r < 0)
		return r;
	*out = TAKE_PTR(ep);
	return 0;
}
