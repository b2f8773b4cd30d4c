/* berth's nftables table through libnftables: one transaction per call,
 * every rule tagged by its comment (netns.h describes the table). */
#include <dlfcn.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <string.h>

#include "netns/netns-internal.h"

#define TABLE "ip berth"

/* The table, its chains and set, and the fixed rules of the base chains.
 * `add` is idempotent for a table, chain or set but not for a rule: the
 * base chains are flushed and refilled, in the same transaction as what
 * follows, so that every call may start with this. */
static const char nft_skeleton[] =
	"add table " TABLE "\n"
	"add set " TABLE " bridges { type ifname; }\n"
	"add chain " TABLE " published\n"
	"add chain " TABLE " outbound\n"
	"add chain " TABLE " isolation\n"
	"add chain " TABLE " untracked\n"
	"add chain " TABLE " prerouting { type nat hook prerouting "
	"priority dstnat; policy accept; }\n"
	"add chain " TABLE " output { type nat hook output "
	"priority -100; policy accept; }\n"
	"add chain " TABLE " postrouting { type nat hook postrouting "
	"priority srcnat; policy accept; }\n"
	"add chain " TABLE " forward { type filter hook forward "
	"priority filter; policy accept; }\n"
	"add chain " TABLE " guard { type filter hook prerouting "
	"priority raw; policy accept; }\n"
	"flush chain " TABLE " prerouting\n"
	"flush chain " TABLE " output\n"
	"flush chain " TABLE " postrouting\n"
	"flush chain " TABLE " forward\n"
	"flush chain " TABLE " guard\n"
	"add rule " TABLE " prerouting fib daddr type local jump published\n"
	"add rule " TABLE " output fib daddr type local jump published\n"
	/* loopback clients of a published port: the container answers the
	 * bridge's address instead (route_localnet lets them out) */
	"add rule " TABLE " postrouting ip saddr 127.0.0.0/8 "
	"oifname @bridges masquerade\n"
	"add rule " TABLE " postrouting jump outbound\n"
	"add rule " TABLE " forward jump isolation\n"
	/* before conntrack's reverse NAT: only replies to a masqueraded
	 * loopback client may reach 127.0.0.0/8 from a bridge. Every
	 * bridged packet passes here (br_netfilter), so the rules of the
	 * guard and of the isolation chain test what fails fastest first:
	 * a compare before a set lookup. */
	"add rule " TABLE " guard ip daddr 127.0.0.0/8 iifname @bridges drop\n"
	"add rule " TABLE " guard jump untracked\n";

/* libnftables is loaded on first use rather than linked: linked, it and
 * the five libraries it needs would be mapped by every berth call, which
 * measured 0.3 ms and 1.4 MiB resident more for `berth --version`. The
 * handle stays loaded for the life of the process. */
#define NFT_SONAME "libnftables.so.1"
static struct {
	__typeof__(&nft_ctx_new) ctx_new;
	__typeof__(&nft_ctx_free) ctx_free;
	__typeof__(&nft_ctx_buffer_output) buffer_output;
	__typeof__(&nft_ctx_buffer_error) buffer_error;
	__typeof__(&nft_ctx_get_output_buffer) output;
	__typeof__(&nft_ctx_get_error_buffer) error;
	__typeof__(&nft_ctx_output_set_flags) set_flags;
	__typeof__(&nft_run_cmd_from_buffer) run;
	char dlerr[200]; /* why loading failed, "" when loaded */
} nft_lib;
static pthread_once_t nft_lib_once = PTHREAD_ONCE_INIT;

static void nft_lib_load(void)
{
	void *h = dlopen(NFT_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e = NULL;
	if (h) {
		*(void **)&nft_lib.ctx_new = dlsym(h, "nft_ctx_new");
		*(void **)&nft_lib.ctx_free = dlsym(h, "nft_ctx_free");
		*(void **)&nft_lib.buffer_output =
			dlsym(h, "nft_ctx_buffer_output");
		*(void **)&nft_lib.buffer_error =
			dlsym(h, "nft_ctx_buffer_error");
		*(void **)&nft_lib.output =
			dlsym(h, "nft_ctx_get_output_buffer");
		*(void **)&nft_lib.error = dlsym(h, "nft_ctx_get_error_buffer");
		*(void **)&nft_lib.set_flags =
			dlsym(h, "nft_ctx_output_set_flags");
		*(void **)&nft_lib.run = dlsym(h, "nft_run_cmd_from_buffer");
		if (!nft_lib.ctx_new || !nft_lib.ctx_free ||
		    !nft_lib.buffer_output || !nft_lib.buffer_error ||
		    !nft_lib.output || !nft_lib.error || !nft_lib.set_flags ||
		    !nft_lib.run)
			e = "a function is missing";
	} else {
		e = dlerror();
	}
	if (e)
		snprintf(nft_lib.dlerr, sizeof(nft_lib.dlerr), "%s",
			 e[0] ? e : "?");
}

static void ctx_freep(struct nft_ctx **c)
{
	if (*c)
		nft_lib.ctx_free(*c);
}

/* libnftables reports text only: the errno is the one its message names. */
static int nft_errno(const char *msg)
{
	static const int known[] = {ENOENT, EEXIST,	EPERM,	EACCES,
				    EBUSY,  EOPNOTSUPP, ENOMEM, ENOSPC};
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strstr(msg, strerror(known[i])))
			return known[i];
	return EINVAL;
}

/* Runs cmds (one transaction). out (may be NULL) gets the output, which
 * the caller frees. On failure err is "what: nftables: <first line of
 * libnftables' message>". */
static int nft_run(const char *cmds, char **out, const char *what,
		   struct berr *err)
{
	pthread_once(&nft_lib_once, nft_lib_load);
	if (nft_lib.dlerr[0])
		return berr_setx(err, EOPNOTSUPP, "%s: load " NFT_SONAME ": %s",
				 what, nft_lib.dlerr);
	_cleanup_(ctx_freep) struct nft_ctx *ctx =
		nft_lib.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx || nft_lib.buffer_output(ctx) < 0 ||
	    nft_lib.buffer_error(ctx) < 0)
		return berr_set(err, ENOMEM, "%s: nftables context", what);
	nft_lib.set_flags(ctx, NFT_CTX_OUTPUT_HANDLE);
	if (nft_lib.run(ctx, cmds) != 0) {
		const char *e = nft_lib.error(ctx);
		if (!e || !*e)
			e = "failed";
		if (base_str_has_prefix(e, "Error: "))
			e += strlen("Error: ");
		int len = (int)strcspn(e, "\n");
		return berr_setx(err, nft_errno(e), "%s: nftables: %.*s", what,
				 len, e);
	}
	if (out)
		*out = base_strdup(nft_lib.output(ctx));
	return 0;
}

int nsn_nft_list(char **out, struct berr *err)
{
	*out = NULL;
	int r = nft_run("list table " TABLE "\n", out, "list table " TABLE,
			err);
	if (r == -ENOENT) {
		berr_clear(err);
		*out = base_strdup("");
		return 0;
	}
	return r;
}

int nsn_nft_delete_table(struct berr *err)
{
	int r = nft_run("delete table " TABLE "\n", NULL, "delete table " TABLE,
			err);
	if (r == -ENOENT) {
		berr_clear(err);
		return 0;
	}
	return r;
}

/* A growing command buffer. */
struct cmds {
	char *s;
	size_t len;
};

static void cmds_free(struct cmds *c)
{
	free(c->s);
}

static void __attribute__((format(printf, 2, 3)))
cmds_add(struct cmds *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	c->s = base_realloc(c->s, c->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(c->s + c->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->len += (size_t)n;
}

/* Adds to c a delete command for every rule of listing whose comment is
 * tag, and for bridge's element of the set when bridge is not NULL;
 * returns the number of rules. */
static int collect_tagged(const char *listing, const char *tag,
			  const char *bridge, struct cmds *c)
{
	_cleanup_free_ char *text = base_strdup(listing);
	_cleanup_free_ char *needle =
		base_sprintf("comment \"%s\" # handle ", tag);
	_cleanup_free_ char *elem =
		bridge ? base_sprintf("\"%s\"", bridge) : NULL;
	char chain[64] = "";
	bool in_set = false, has_elem = false;
	int rules = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, "\t ");
		if (sscanf(line, "chain %63s {", chain) == 1)
			in_set = false;
		else if (base_str_has_prefix(line, "set bridges "))
			in_set = true;
		else if (!strcmp(line, "}"))
			in_set = false;
		if (in_set && elem && strstr(line, elem))
			has_elem = true;
		char *h = strstr(line, needle);
		int handle;
		if (!h || !chain[0] ||
		    base_parse_int(h + strlen(needle), &handle) < 0)
			continue;
		cmds_add(c, "delete rule " TABLE " %s handle %d\n", chain,
			 handle);
		rules++;
	}
	if (has_elem)
		cmds_add(c, "delete element " TABLE " bridges { \"%s\" }\n",
			 bridge);
	return rules;
}

/* Removes what carries tag (and bridge's set element); returns the number
 * of rules removed. */
static int nft_remove(const char *tag, const char *bridge, const char *what,
		      struct berr *err)
{
	for (int attempt = 0;; attempt++) {
		_cleanup_free_ char *listing = NULL;
		_cleanup_(cmds_free) struct cmds c = {0};
		int r = nsn_nft_list(&listing, err);
		if (r < 0)
			return berr_wrap(err, "%s", what);
		int rules = collect_tagged(listing, tag, bridge, &c);
		if (c.len == 0)
			return 0;
		r = nft_run(c.s, NULL, what, err);
		/* another process removed one first: look again */
		if (r == -ENOENT && attempt < 2)
			continue;
		return r < 0 ? r : rules;
	}
}

/* True when berth's table holds a rule tagged tag. */
static int tag_present(const char *tag, struct berr *err)
{
	_cleanup_free_ char *listing = NULL;
	int r = nsn_nft_list(&listing, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *needle =
		base_sprintf("comment \"%s\" # handle ", tag);
	return strstr(listing, needle) != NULL;
}

static int check_v4(const char *s, bool prefix, struct nsn_cidr *c,
		    const char *what, struct berr *err)
{
	int r = nsn_cidr_parse(s, c, err);
	if (r == 0 && (c->family != AF_INET || (!prefix && c->prefix != 32)))
		r = berr_setx(err, EINVAL, "`%s` is not an IPv4 %s", s,
			      prefix ? "subnet" : "address");
	if (r < 0)
		return berr_wrap(err, "%s", what);
	return 0;
}

/* The network's own rules, after the skeleton. */
static void network_rules(const struct nsn_nft_net *n, const char *subnet,
			  const char *gateway, const char *tag, struct cmds *c)
{
	const char *br = n->bridge;
	cmds_add(c, "add element " TABLE " bridges { \"%s\" }\n", br);
	/* two containers of the network talking to each other: bridged,
	 * never NATed, so conntrack has nothing to do for them but cost
	 * (see netns.h). What goes to the gateway, the host's address,
	 * stays tracked: a masqueraded hairpin's answers come back there
	 * and must be un-NATed. */
	cmds_add(c,
		 "add rule " TABLE " untracked iifname \"%s\" ip saddr %s "
		 "ip daddr %s ip daddr != %s notrack comment \"%s\"\n",
		 br, subnet, subnet, gateway, tag);
	/* a container's connection to a published port of the host that
	 * comes back to its own bridge: the answer must come back through
	 * the host, to be un-DNATed */
	cmds_add(c,
		 "add rule " TABLE " outbound ip saddr %s ip daddr %s "
		 "oifname \"%s\" ct status dnat masquerade comment \"%s\"\n",
		 subnet, subnet, br, tag);
	if (n->internal) {
		cmds_add(c,
			 "add rule " TABLE " isolation iifname \"%s\" "
			 "oifname != \"%s\" drop comment \"%s\"\n",
			 br, br, tag);
		cmds_add(c,
			 "add rule " TABLE " isolation oifname \"%s\" "
			 "iifname != \"%s\" drop comment \"%s\"\n",
			 br, br, tag);
		return;
	}
	/* the other direction is the other bridge's rule */
	cmds_add(c,
		 "add rule " TABLE " isolation iifname \"%s\" "
		 "oifname != \"%s\" oifname @bridges drop comment \"%s\"\n",
		 br, br, tag);
	cmds_add(c,
		 "add rule " TABLE " outbound ip saddr %s "
		 "oifname != \"%s\" masquerade comment \"%s\"\n",
		 subnet, br, tag);
}

int nsn_nft_network_add(const struct nsn_nft_net *n, struct berr *err)
{
	int r = nsn_check_id(n->name, "network name", err);
	if (r < 0)
		return berr_wrap(err, "add nftables rules");
	_cleanup_free_ char *ctx =
		base_sprintf("add nftables rules of network %s", n->name);
	struct nsn_cidr sub, gw;
	char subnet[NSN_CIDR_STRLEN], gateway[INET_ADDRSTRLEN];
	if (!nsn_ifname_ok(n->bridge))
		return berr_setx(err, EINVAL, "%s: bad bridge name `%s`", ctx,
				 n->bridge ? n->bridge : "");
	r = check_v4(n->subnet, true, &sub, ctx, err);
	if (r == 0)
		r = check_v4(n->gateway, false, &gw, ctx, err);
	if (r < 0)
		return r;
	if (!nsn_cidr_overlaps(&sub, &gw))
		return berr_setx(err, EINVAL, "%s: gateway %s is outside %s",
				 ctx, n->gateway, n->subnet);
	nsn_cidr_format(&sub, subnet, sizeof(subnet));
	inet_ntop(AF_INET, gw.addr, gateway, sizeof(gateway));
	if (if_nametoindex(n->bridge) == 0)
		return berr_set(err, errno, "%s: bridge `%s`", ctx, n->bridge);
	_cleanup_free_ char *tag = base_sprintf("berth:net=%s", n->name);
	r = tag_present(tag, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	if (r > 0)
		return berr_setx(err, EEXIST, "%s: it has rules already", ctx);
	_cleanup_(cmds_free) struct cmds c = {0};
	cmds_add(&c, "%s", nft_skeleton);
	network_rules(n, subnet, gateway, tag, &c);
	if (!n->internal) {
		r = nsn_ipv4_conf_set(n->bridge, "route_localnet", "1", err);
		if (r < 0)
			return berr_wrap(err, "%s", ctx);
	}
	r = nft_run(c.s, NULL, ctx, err);
	if (r < 0 && !n->internal) {
		struct berr ignored;
		nsn_ipv4_conf_set(n->bridge, "route_localnet", "0", &ignored);
	}
	return r;
}

int nsn_nft_network_remove(const char *name, const char *bridge,
			   struct berr *err)
{
	int r = nsn_check_id(name, "network name", err);
	if (r < 0)
		return berr_wrap(err, "remove nftables rules");
	if (bridge && !nsn_ifname_ok(bridge))
		return berr_setx(err, EINVAL,
				 "remove nftables rules of network %s: bad "
				 "bridge name `%s`",
				 name, bridge);
	_cleanup_free_ char *ctx =
		base_sprintf("remove nftables rules of network %s", name);
	_cleanup_free_ char *tag = base_sprintf("berth:net=%s", name);
	return nft_remove(tag, bridge, ctx, err);
}

/* True when the published rule `rule` ("[ip daddr H ]P dport N dnat ...
 * comment \"berth:ctr=ID\"") catches what proto/port on host (NULL: any
 * local address) would; owner gets its ID. */
static bool rule_takes(const char *rule, const char *proto, unsigned port,
		       const char *host, char *owner, size_t len)
{
	static const char tag[] = "comment \"berth:ctr=";
	char ip[INET_ADDRSTRLEN] = "", p[4];
	unsigned n;
	if (sscanf(rule, "ip daddr %15s ", ip) == 1) {
		rule = strchr(rule + strlen("ip daddr "), ' ');
		if (!rule++)
			return false;
	}
	if (sscanf(rule, "%3s dport %u dnat ", p, &n) != 2 ||
	    strcmp(p, proto) || n != port ||
	    (host && ip[0] && strcmp(host, ip)))
		return false;
	const char *c = strstr(rule, tag);
	c = c ? c + strlen(tag) : "?\"";
	snprintf(owner, len, "%.*s", (int)strcspn(c, "\""), c);
	return true;
}

/* The owner of a rule of text (berth's listing, or commands) that
 * publishes proto/port on host already: 0, or -EADDRINUSE naming it. */
static int port_free(const char *text, const char *proto, unsigned port,
		     const char *host, struct berr *err)
{
	static const char add[] = "add rule " TABLE " published ";
	_cleanup_free_ char *copy = base_strdup(text ? text : "");
	bool in_chain = false;
	char *save = NULL, owner[NSN_ID_MAX + 1];
	for (char *line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, "\t ");
		if (base_str_has_prefix(line, "chain "))
			in_chain =
				base_str_has_prefix(line, "chain published {");
		if (base_str_has_prefix(line, add))
			line += strlen(add);
		else if (!in_chain)
			continue;
		if (rule_takes(line, proto, port, host, owner, sizeof(owner)))
			return berr_setx(err, EADDRINUSE,
					 "%s port %u%s%s is published already "
					 "by container %s",
					 proto, port, host ? " on " : "",
					 host ? host : "", owner);
	}
	return 0;
}

/* One DNAT rule for m, unless listing or c has one for its port. */
static int port_rule(const struct nsn_port_map *m, const char *tag,
		     const char *listing, struct cmds *c, struct berr *err)
{
	const char *proto = m->proto == IPPROTO_TCP   ? "tcp"
			    : m->proto == IPPROTO_UDP ? "udp"
						      : NULL;
	if (!proto)
		return berr_setx(err, EINVAL, "protocol %d is not tcp or udp",
				 m->proto);
	if (m->host_port == 0 || m->ctr_port == 0)
		return berr_setx(err, EINVAL, "port 0 cannot be published");
	struct nsn_cidr host, ctr;
	char h[INET_ADDRSTRLEN] = "", k[INET_ADDRSTRLEN];
	int r = check_v4(m->ctr_ip, false, &ctr, "container address", err);
	if (r == 0 && m->host_ip)
		r = check_v4(m->host_ip, false, &host, "host address", err);
	if (r < 0)
		return r;
	inet_ntop(AF_INET, ctr.addr, k, sizeof(k));
	if (m->host_ip)
		inet_ntop(AF_INET, host.addr, h, sizeof(h));
	const char *hp = m->host_ip ? h : NULL;
	r = port_free(listing, proto, m->host_port, hp, err);
	if (r == 0)
		r = port_free(c->s, proto, m->host_port, hp, err);
	if (r < 0)
		return r;
	cmds_add(c,
		 "add rule " TABLE " published %s%s%s%s dport %u "
		 "dnat to %s:%u comment \"%s\"\n",
		 m->host_ip ? "ip daddr " : "", h, m->host_ip ? " " : "", proto,
		 m->host_port, k, m->ctr_port, tag);
	return 0;
}

int nsn_nft_publish(const char *ctr_id, const struct nsn_port_map *maps,
		    size_t n, struct berr *err)
{
	int r = nsn_check_id(ctr_id, "container id", err);
	if (r < 0)
		return berr_wrap(err, "publish ports");
	_cleanup_free_ char *ctx =
		base_sprintf("publish ports of container %s", ctr_id);
	_cleanup_free_ char *tag = base_sprintf("berth:ctr=%s", ctr_id);
	_cleanup_free_ char *listing = NULL;
	r = nsn_nft_list(&listing, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	_cleanup_(cmds_free) struct cmds c = {0};
	cmds_add(&c, "%s", nft_skeleton);
	for (size_t i = 0; i < n; i++) {
		r = port_rule(&maps[i], tag, listing, &c, err);
		if (r < 0)
			return berr_wrap(err, "%s: port %zu", ctx, i);
	}
	return nft_run(c.s, NULL, ctx, err);
}

int nsn_nft_unpublish(const char *ctr_id, struct berr *err)
{
	int r = nsn_check_id(ctr_id, "container id", err);
	if (r < 0)
		return berr_wrap(err, "remove published ports");
	_cleanup_free_ char *ctx =
		base_sprintf("remove published ports of container %s", ctr_id);
	_cleanup_free_ char *tag = base_sprintf("berth:ctr=%s", ctr_id);
	return nft_remove(tag, NULL, ctx, err);
}
