/* The files docker writes for every container, bind-mounted over the
 * image's: /etc/hosts, /etc/hostname and /etc/resolv.conf.
 *
 * resolv.conf: on a named network the network's DNS server (the gateway)
 * answers the names of its containers and forwards the rest to the host's
 * servers, loopback ones included, since it runs in the host's namespace.
 * Elsewhere the container gets the host's servers, except loopback ones
 * (127.0.0.53 of systemd-resolved answers nowhere but on the host): as
 * docker does, systemd-resolved's own upstream file is used when the
 * host's has only the stub, and Google's public servers when nothing is
 * left. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine-internal.h"

#define HOST_RESOLV "/etc/resolv.conf"
#define RESOLVED_UPSTREAM "/run/systemd/resolve/resolv.conf"

static const char localhost[] = "127.0.0.1\tlocalhost\n"
				"::1\tlocalhost ip6-localhost ip6-loopback\n"
				"fe00::0\tip6-localnet\n"
				"ff00::0\tip6-mcastprefix\n"
				"ff02::1\tip6-allnodes\n"
				"ff02::2\tip6-allrouters\n";

struct resolv {
	char **servers, **search, **options;
};

static void resolv_free(struct resolv *r)
{
	base_strv_free(r->servers);
	base_strv_free(r->search);
	base_strv_free(r->options);
}

static bool loopback(const char *ip)
{
	return base_str_has_prefix(ip, "127.") || !strcmp(ip, "::1");
}

/* The nameserver, search and options lines of a resolv.conf; a missing
 * file has none. */
static void resolv_read(const char *path, struct resolv *r)
{
	_cleanup_free_ char *text = NULL;
	if (base_read_file_at(AT_FDCWD, path, &text, NULL, 1 << 16) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *k = strtok(line, " \t");
		char ***to = !k				? NULL
			     : !strcmp(k, "nameserver") ? &r->servers
			     : !strcmp(k, "search")	? &r->search
			     : !strcmp(k, "options")	? &r->options
							: NULL;
		if (to == &r->search) /* the last search line wins */
			base_strv_free(TAKE_PTR(r->search));
		for (char *w = to ? strtok(NULL, " \t") : NULL; w;
		     w = strtok(NULL, " \t"))
			if (w[0] != '#' && w[0] != ';')
				base_strv_push(to, w);
	}
}

int eng_resolv_upstream(char ***out, struct berr *err)
{
	(void)err;
	struct resolv r = {0};
	resolv_read(HOST_RESOLV, &r);
	*out = TAKE_PTR(r.servers);
	resolv_free(&r);
	return 0;
}

/* The host's servers a container outside the host's namespace can use. */
static void container_servers(struct resolv *host)
{
	char **kept = NULL;
	for (size_t i = 0; host->servers && host->servers[i]; i++)
		if (!loopback(host->servers[i]))
			base_strv_push(&kept, host->servers[i]);
	if (!kept && host->servers) {
		struct resolv up = {0};
		resolv_read(RESOLVED_UPSTREAM, &up);
		for (size_t i = 0; up.servers && up.servers[i]; i++)
			if (!loopback(up.servers[i]))
				base_strv_push(&kept, up.servers[i]);
		resolv_free(&up);
	}
	if (!kept) {
		base_strv_push(&kept, "8.8.8.8");
		base_strv_push(&kept, "8.8.4.4");
	}
	base_strv_free(host->servers);
	host->servers = kept;
}

/* Appends line (taken) to *text. */
static void append(char **text, char *line)
{
	char *next = base_sprintf("%s%s", *text, line);
	free(line);
	free(*text);
	*text = next;
}

/* Servers: on a named network its DNS server, then --dns ones; else
 * --dns, or the host's (those a container can reach, unless it shares the
 * host's network). */
static char *resolv_text(const struct eng_net_opts *o,
			 const struct eng_network *n, bool host)
{
	struct resolv r = {0};
	resolv_read(HOST_RESOLV, &r);
	if (n || o->dns) {
		base_strv_free(r.servers);
		r.servers = NULL;
		if (n)
			base_strv_push(&r.servers, n->gateway);
		for (size_t i = 0; o->dns && o->dns[i]; i++)
			base_strv_push(&r.servers, o->dns[i]);
	} else if (!host) {
		container_servers(&r);
	}
	char *text = base_strdup("");
	for (size_t i = 0; r.servers && r.servers[i]; i++)
		append(&text, base_sprintf("nameserver %s\n", r.servers[i]));
	char *const *search = o->dns_search ? o->dns_search : r.search;
	for (size_t i = 0; search && search[i]; i++)
		append(&text,
		       base_sprintf("%s%s", i ? " " : "search ", search[i]));
	if (search && search[0])
		append(&text, base_strdup("\n"));
	for (size_t i = 0; r.options && r.options[i]; i++)
		append(&text, base_sprintf("%s%s", i ? " " : "options ",
					   r.options[i]));
	if (r.options && r.options[0])
		append(&text, base_strdup("\n"));
	resolv_free(&r);
	return text;
}

static int add_host_lines(const struct eng_net_opts *o, char **text,
			  struct berr *err)
{
	for (size_t i = 0; o->add_hosts && o->add_hosts[i]; i++) {
		const char *s = o->add_hosts[i];
		const char *colon = strchr(s, ':');
		struct in6_addr a;
		_cleanup_free_ char *name =
			colon ? strndup(s, colon - s) : NULL;
		const char *ip = colon ? colon + 1 : "";
		if (!name || !name[0] || strpbrk(name, " \t\n") ||
		    (inet_pton(AF_INET, ip, &a) != 1 &&
		     inet_pton(AF_INET6, ip, &a) != 1))
			return berr_setx(err, EINVAL,
					 "--add-host `%s`: expected NAME:IP",
					 s);
		append(text, base_sprintf("%s\t%s\n", ip, name));
	}
	return 0;
}

static char *hosts_text(const struct eng_endpoint *ep)
{
	if (ep->host) {
		char *t = NULL;
		if (base_read_file_at(AT_FDCWD, "/etc/hosts", &t, NULL,
				      1 << 20) == 0)
			return t;
	}
	char *text = base_strdup(localhost);
	/* the container's name too, when it is not its host name: the
	 * name others reach it by */
	const char *name = strrchr(ep->dir, '/') + 1;
	const char *sep = strcmp(name, ep->hostname) ? " " : "";
	if (!sep[0])
		name = "";
	if (ep->ip[0])
		append(&text, base_sprintf("%s\t%s%s%s\n", ep->ip, ep->hostname,
					   sep, name));
	if (ep->ip6[0])
		append(&text, base_sprintf("%s\t%s%s%s\n", ep->ip6,
					   ep->hostname, sep, name));
	if (!ep->ip[0] && !ep->ip6[0])
		append(&text, base_sprintf("127.0.1.1\t%s\n", ep->hostname));
	return text;
}

static int put_file(int dfd, const char *dir, const char *name,
		    const char *text, char **path, struct berr *err)
{
	int r = base_write_file_atomic(dfd, name, text, strlen(text), 0644);
	if (r < 0)
		return berr_set(err, -r, "write %s/%s", dir, name);
	*path = base_sprintf("%s/%s", dir, name);
	return 0;
}

int eng_files_write(const struct rt_ctx *ctx, int dfd,
		    const struct eng_net_opts *o, const struct eng_network *n,
		    struct eng_endpoint *ep, struct berr *err)
{
	(void)ctx;
	_cleanup_free_ char *hosts = hosts_text(ep);
	int r = add_host_lines(o, &hosts, err);
	_cleanup_free_ char *name = base_sprintf("%s\n", ep->hostname);
	_cleanup_free_ char *resolv = resolv_text(o, n, ep->host);
	if (r == 0)
		r = put_file(dfd, ep->dir, "hosts", hosts, &ep->hosts, err);
	if (r == 0)
		r = put_file(dfd, ep->dir, "hostname", name, &ep->hostname_file,
			     err);
	if (r == 0)
		r = put_file(dfd, ep->dir, "resolv.conf", resolv, &ep->resolv,
			     err);
	return r;
}

char *eng_short_name(const char *id)
{
	/* docker's: the id's first 12 characters; a name cut there may end
	 * in a dot or a dash, which no host name does */
	char *s = strndup(id, 12);
	size_t n = strlen(s);
	while (n > 1 && (s[n - 1] == '.' || s[n - 1] == '-'))
		s[--n] = '\0';
	return s;
}
