/* Published ports: docker's -p syntax, a check that the host port is free,
 * and the DNAT rules (nsn_nft_publish).
 *
 * A host port is free when this process can bind it (with SO_REUSEADDR,
 * so that connections of a previous owner in TIME_WAIT do not count) on
 * the address asked for, and no other container publishes it (the rules
 * say). A port given as 0 gets the one the kernel hands out for port 0:
 * docker also takes them from the ephemeral range. The check and the rule
 * are not one step: a host program that binds the port in between wins
 * it for its own address, as with docker's proxy-less mode. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine-internal.h"

static int parse_range(const char *s, size_t len, unsigned *lo, unsigned *hi)
{
	char buf[32];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	int a, b;
	if (base_parse_int(buf, &a) < 0 ||
	    (dash && base_parse_int(dash + 1, &b) < 0))
		return -1;
	if (!dash)
		b = a;
	if (a < 0 || a > 65535 || b < a || b > 65535)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

static int bad_port(const char *s, struct berr *err)
{
	return berr_setx(err, EINVAL,
			 "-p `%s`: expected [IP:]HOST_PORT[-END]:CONTAINER_PORT"
			 "[-END][/tcp|/udp] with ports from 1 to 65535",
			 s);
}

/* Splits "[IP:][HOST:]CTR" at its colons (IPv4 only: the rules are). */
static int split(const char *spec, char *ip, size_t iplen, const char **host,
		 size_t *hostlen, const char **ctr)
{
	const char *c2 = strrchr(spec, ':');
	*host = NULL;
	*hostlen = 0;
	ip[0] = '\0';
	if (!c2) {
		*ctr = spec;
		return 0;
	}
	*ctr = c2 + 1;
	const char *c1 = memrchr(spec, ':', (size_t)(c2 - spec));
	const char *h = c1 ? c1 + 1 : spec;
	*host = h;
	*hostlen = (size_t)(c2 - h);
	if (c1) {
		size_t n = (size_t)(c1 - spec);
		struct in_addr a;
		if (n == 0 || n >= iplen)
			return -1;
		memcpy(ip, spec, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, &a) != 1)
			return -1;
		if (a.s_addr == htonl(INADDR_ANY))
			ip[0] = '\0';
	}
	return 0;
}

int eng_port_parse(const char *s, struct eng_port **v, size_t *n,
		   struct berr *err)
{
	_cleanup_free_ char *spec = base_strdup(s);
	int proto = IPPROTO_TCP;
	char *slash = strchr(spec, '/');
	if (slash) {
		*slash = '\0';
		if (!strcmp(slash + 1, "udp"))
			proto = IPPROTO_UDP;
		else if (strcmp(slash + 1, "tcp"))
			return bad_port(s, err);
	}
	char ip[INET_ADDRSTRLEN];
	const char *host, *ctr;
	size_t hostlen;
	unsigned clo, chi, hlo = 0, hhi = 0;
	/* IP::CTR is any host port of IP; :CTR alone is a typo */
	if (split(spec, ip, sizeof(ip), &host, &hostlen, &ctr) < 0 ||
	    (host == spec && hostlen == 0) ||
	    parse_range(ctr, strlen(ctr), &clo, &chi) < 0 || clo == 0 ||
	    (hostlen && parse_range(host, hostlen, &hlo, &hhi) < 0) ||
	    (hostlen && hlo == 0))
		return bad_port(s, err);
	if (hostlen && hhi - hlo != chi - clo)
		return berr_setx(err, EINVAL,
				 "-p `%s`: the host and container ranges "
				 "differ in length",
				 s);
	for (unsigned p = clo; p <= chi; p++) {
		*v = base_realloc(*v, *n + 1, sizeof(**v));
		struct eng_port *e = &(*v)[(*n)++];
		*e = (struct eng_port){
			.proto = proto,
			.host_port = (uint16_t)(hostlen ? hlo + (p - clo) : 0),
			.ctr_port = (uint16_t)p};
		snprintf(e->host_ip, sizeof(e->host_ip), "%s", ip);
	}
	return 0;
}

/* Binds ip:port (port 0: any) for proto and returns the port bound, or
 * -errno. */
static int try_bind(int proto, const char *ip, uint16_t port)
{
	int type = proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
	_cleanup_close_ int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (ip[0] && inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return -EINVAL;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -errno;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	return ntohs(a.sin_port);
}

int eng_ports_resolve(const char *id, const struct eng_port *ports, size_t n,
		      struct nsn_port_map *maps, struct berr *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct eng_port *p = &ports[i];
		const char *pname = p->proto == IPPROTO_UDP ? "udp" : "tcp";
		int r = try_bind(p->proto, p->host_ip, p->host_port);
		if (r < 0)
			return berr_set(err, -r,
					"port %s:%u/%s of the host for "
					"container %s",
					p->host_ip[0] ? p->host_ip : "0.0.0.0",
					p->host_port, pname, id);
		maps[i] = (struct nsn_port_map){
			.proto = p->proto,
			.host_ip = p->host_ip[0] ? p->host_ip : NULL,
			.host_port = (uint16_t)r,
			.ctr_port = p->ctr_port};
	}
	return 0;
}

int eng_ports_publish(const char *id, const char *ctr_ip,
		      const struct eng_port *ports, size_t n, char ***published,
		      struct berr *err)
{
	if (n == 0)
		return 0;
	_cleanup_free_ struct nsn_port_map *maps =
		base_calloc(n, sizeof(*maps));
	int r = eng_ports_resolve(id, ports, n, maps, err);
	for (size_t i = 0; r == 0 && i < n; i++)
		maps[i].ctr_ip = ctr_ip;
	if (r == 0)
		r = nsn_nft_publish(id, maps, n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		/* docker ps's form: 0.0.0.0:8000->80/tcp */
		_cleanup_free_ char *s = base_sprintf(
			"%s:%u->%u/%s",
			maps[i].host_ip ? maps[i].host_ip : "0.0.0.0",
			maps[i].host_port, maps[i].ctr_port,
			maps[i].proto == IPPROTO_UDP ? "udp" : "tcp");
		base_strv_push(published, s);
	}
	return r;
}
