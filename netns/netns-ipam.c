/* CIDRs (inet_pton/inet_ntop) and address leases in a line-based file under
 * a directory lock. */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>

#include "netns/netns-internal.h"

/* An address as a number: IPv4 in the low 32 bits. */
typedef unsigned __int128 u128;

static size_t family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static u128 addr_num(const unsigned char *a, int family)
{
	u128 v = 0;
	for (size_t i = 0; i < family_len(family); i++)
		v = (v << 8) | a[i];
	return v;
}

static void num_addr(u128 v, int family, unsigned char *a)
{
	for (size_t i = family_len(family); i-- > 0; v >>= 8)
		a[i] = (unsigned char)(v & 0xff);
}

/* The bits of the host part of a prefix. */
static u128 host_mask(int family, unsigned prefix)
{
	unsigned bits = (unsigned)family_len(family) * 8 - prefix;
	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

int nsn_cidr_parse(const char *s, struct nsn_cidr *c, struct berr *err)
{
	char buf[NSN_CIDR_STRLEN];
	memset(c, 0, sizeof(*c));
	if (!s || strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->addr) == 1)
		c->family = AF_INET6;
	else
		goto bad;
	int max = (int)family_len(c->family) * 8, p = max;
	if (slash && (base_parse_int(slash + 1, &p) < 0 || p < 0 || p > max ||
		      slash[1] < '0' || slash[1] > '9'))
		goto bad;
	c->prefix = (unsigned)p;
	return 0;
bad:
	return berr_setx(err, EINVAL,
			 "`%s` is not an IPv4 or IPv6 address with an "
			 "optional /prefix",
			 s ? s : "");
}

void nsn_cidr_format(const struct nsn_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefix);
}

bool nsn_cidr_overlaps(const struct nsn_cidr *a, const struct nsn_cidr *b)
{
	if (a->family != b->family)
		return false;
	unsigned p = a->prefix < b->prefix ? a->prefix : b->prefix;
	u128 keep = ~host_mask(a->family, p);
	return (addr_num(a->addr, a->family) & keep) ==
	       (addr_num(b->addr, b->family) & keep);
}

bool nsn_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > NSN_ID_MAX ||
	    !strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789",
		    s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-") == n;
}

int nsn_check_id(const char *s, const char *what, struct berr *err)
{
	if (nsn_id_ok(s))
		return 0;
	return berr_setx(err, EINVAL,
			 "%s `%s`: expected 1 to %d of A-Z a-z 0-9 _ . + - "
			 "starting with a letter or digit",
			 what, s ? s : "", NSN_ID_MAX);
}

/* A subnet's usable range. */
struct pool {
	struct nsn_cidr subnet;
	u128 net, first, last, gw;
	bool has_gw;
	char text[NSN_CIDR_STRLEN];
};

static int pool_init(const struct nsn_ipam_net *n, struct pool *p,
		     struct berr *err)
{
	memset(p, 0, sizeof(*p));
	int r = nsn_cidr_parse(n->subnet, &p->subnet, err);
	if (r < 0)
		return berr_wrap(err, "subnet");
	int family = p->subnet.family;
	unsigned max = (unsigned)family_len(family) * 8;
	nsn_cidr_format(&p->subnet, p->text, sizeof(p->text));
	u128 host = host_mask(family, p->subnet.prefix);
	p->net = addr_num(p->subnet.addr, family);
	if (p->net & host)
		return berr_setx(err, EINVAL,
				 "subnet %s has host bits set (the network "
				 "address ends in zeros)",
				 p->text);
	if (p->subnet.prefix + 2 > max || p->subnet.prefix < max / 4)
		return berr_setx(err, EINVAL,
				 "subnet %s: the prefix must be /%u to /%u",
				 p->text, max / 4, max - 2);
	p->first = p->net + 1;
	p->last = (p->net | host) - (family == AF_INET); /* broadcast */
	if (!n->gateway)
		return 0;
	struct nsn_cidr gw;
	r = nsn_cidr_parse(n->gateway, &gw, err);
	if (r < 0)
		return berr_wrap(err, "gateway");
	p->gw = addr_num(gw.addr, gw.family);
	if (gw.family != family || gw.prefix != max || p->gw < p->first ||
	    p->gw > p->last)
		return berr_setx(
			err, EINVAL,
			"gateway %s is not a host address of subnet %s",
			n->gateway, p->text);
	p->has_gw = true;
	return 0;
}

static int lock_dir(const char *dir, struct berr *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open address lease directory %s",
				dir);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return berr_set(err, errno, "lock %s", dir);
	return TAKE_FD(fd);
}

/* One "ADDRESS OWNER" line into l; false when it is not one. */
static bool lease_parse(char *line, struct nsn_lease *l)
{
	char *sp = strchr(line, ' ');
	unsigned char bin[16];
	if (!sp)
		return false;
	*sp = '\0';
	if (strlen(line) >= sizeof(l->addr) || !nsn_id_ok(sp + 1) ||
	    (inet_pton(AF_INET, line, bin) != 1 &&
	     inet_pton(AF_INET6, line, bin) != 1))
		return false;
	strcpy(l->addr, line);
	strcpy(l->owner, sp + 1);
	return true;
}

/* The leases of dirfd/file; none when there is no file. */
static int leases_load(int dirfd, const char *file, struct nsn_lease **out,
		       size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = base_read_file_at(dirfd, file, &buf, &len, 16 << 20);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_set(err, -r, "read %s", file);
	_cleanup_free_ struct nsn_lease *v = NULL;
	size_t count = 0, lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		v = base_realloc(v, count + 1, sizeof(*v));
		if (!lease_parse(line, &v[count]))
			return berr_setx(err, EINVAL,
					 "%s line %zu: not \"ADDRESS OWNER\"",
					 file, lineno);
		count++;
	}
	*out = TAKE_PTR(v);
	*n = count;
	return 0;
}

static int leases_save(int dirfd, const char *file, const struct nsn_lease *v,
		       size_t n, struct berr *err)
{
	if (n == 0) {
		if (unlinkat(dirfd, file, 0) < 0 && errno != ENOENT)
			return berr_set(err, errno, "remove %s", file);
		return 0;
	}
	size_t cap = n * (sizeof(v->addr) + sizeof(v->owner) + 2), len = 0;
	_cleanup_free_ char *buf = base_calloc(cap, 1);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s %s\n",
					v[i].addr, v[i].owner);
	int r = base_write_file_atomic(dirfd, file, buf, len, 0644);
	if (r < 0)
		return berr_set(err, -r, "write %s", file);
	return 0;
}

static u128 lease_num(const struct nsn_lease *l, int family, bool *ok)
{
	unsigned char bin[16] = {0};
	*ok = inet_pton(family, l->addr, bin) == 1;
	return addr_num(bin, family);
}

static int num_cmp(const void *a, const void *b)
{
	u128 x = *(const u128 *)a, y = *(const u128 *)b;
	return x < y ? -1 : x > y;
}

/* The lowest address of p that no lease and not the gateway holds. */
static int lowest_free(const struct pool *p, const struct nsn_lease *v,
		       size_t n, u128 *out, struct berr *err)
{
	_cleanup_free_ u128 *used = base_calloc(n + 1, sizeof(*used));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool ok;
		u128 a = lease_num(&v[i], p->subnet.family, &ok);
		if (ok)
			used[k++] = a;
	}
	if (p->has_gw)
		used[k++] = p->gw;
	qsort(used, k, sizeof(*used), num_cmp);
	u128 c = p->first;
	for (size_t i = 0; i < k && c <= p->last; i++)
		if (used[i] == c)
			c++;
		else if (used[i] > c)
			break;
	if (c > p->last)
		return berr_setx(err, ENOSPC, "no free address in subnet %s",
				 p->text);
	*out = c;
	return 0;
}

/* want as an address of p that is free. */
static int wanted(const struct pool *p, const char *want,
		  const struct nsn_lease *v, size_t n, u128 *out,
		  struct berr *err)
{
	struct nsn_cidr w;
	unsigned max = (unsigned)family_len(p->subnet.family) * 8;
	int r = nsn_cidr_parse(want, &w, err);
	if (r < 0)
		return r;
	u128 a = addr_num(w.addr, w.family);
	if (w.family != p->subnet.family || w.prefix != max ||
	    (a & ~host_mask(w.family, p->subnet.prefix)) != p->net)
		return berr_setx(err, EINVAL, "address %s is outside subnet %s",
				 want, p->text);
	if (a < p->first || a > p->last)
		return berr_setx(err, EINVAL,
				 "address %s is the %s address of subnet %s",
				 want, a == p->net ? "network" : "broadcast",
				 p->text);
	if (p->has_gw && a == p->gw)
		return berr_setx(err, EINVAL, "address %s is the gateway",
				 want);
	for (size_t i = 0; i < n; i++) {
		bool ok;
		if (lease_num(&v[i], w.family, &ok) == a && ok)
			return berr_setx(err, EADDRINUSE,
					 "address %s is taken by %s", want,
					 v[i].owner);
	}
	*out = a;
	return 0;
}

static char *lease_file(const char *name)
{
	return base_sprintf("%s.leases", name);
}

int nsn_ipam_alloc(const char *dir, const struct nsn_ipam_net *net,
		   const char *owner, const char *want, char *addr,
		   struct berr *err)
{
	int r = nsn_check_id(net->name, "network name", err);
	if (r == 0)
		r = nsn_check_id(owner, "owner id", err);
	if (r < 0)
		return berr_wrap(err, "lease an address");
	_cleanup_free_ char *ctx = base_sprintf(
		"lease an address of network %s for %s", net->name, owner);
	struct pool p;
	r = pool_init(net, &p, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	_cleanup_close_ int dirfd = lock_dir(dir, err);
	if (dirfd < 0)
		return berr_wrap(err, "%s", ctx);
	_cleanup_free_ char *file = lease_file(net->name);
	_cleanup_free_ struct nsn_lease *v = NULL;
	size_t n = 0;
	r = leases_load(dirfd, file, &v, &n, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].owner, owner))
			return berr_setx(err, EEXIST, "%s: it holds %s already",
					 ctx, v[i].addr);
	u128 a = 0;
	r = want ? wanted(&p, want, v, n, &a, err)
		 : lowest_free(&p, v, n, &a, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	v = base_realloc(v, n + 1, sizeof(*v));
	unsigned char bin[16];
	num_addr(a, p.subnet.family, bin);
	inet_ntop(p.subnet.family, bin, v[n].addr, sizeof(v[n].addr));
	snprintf(v[n].owner, sizeof(v[n].owner), "%s", owner);
	r = leases_save(dirfd, file, v, n + 1, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	strcpy(addr, v[n].addr);
	return 0;
}

int nsn_ipam_release(const char *dir, const char *name, const char *owner,
		     struct berr *err)
{
	int r = nsn_check_id(name, "network name", err);
	if (r == 0)
		r = nsn_check_id(owner, "owner id", err);
	if (r < 0)
		return berr_wrap(err, "release addresses");
	_cleanup_free_ char *ctx = base_sprintf(
		"release the addresses of %s in network %s", owner, name);
	_cleanup_close_ int dirfd = lock_dir(dir, err);
	if (dirfd < 0)
		return berr_wrap(err, "%s", ctx);
	_cleanup_free_ char *file = lease_file(name);
	_cleanup_free_ struct nsn_lease *v = NULL;
	size_t n = 0, kept = 0;
	r = leases_load(dirfd, file, &v, &n, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].owner, owner))
			v[kept++] = v[i];
	if (kept == n)
		return 0;
	r = leases_save(dirfd, file, v, kept, err);
	if (r < 0)
		return berr_wrap(err, "%s", ctx);
	return (int)(n - kept);
}

int nsn_ipam_list(const char *dir, const char *name, struct nsn_lease **out,
		  size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	int r = nsn_check_id(name, "network name", err);
	if (r < 0)
		return berr_wrap(err, "list leases");
	_cleanup_close_ int dirfd = lock_dir(dir, err);
	if (dirfd < 0)
		return berr_wrap(err, "list the leases of network %s", name);
	_cleanup_free_ char *file = lease_file(name);
	r = leases_load(dirfd, file, out, n, err);
	if (r < 0)
		return berr_wrap(err, "list the leases of network %s", name);
	return 0;
}

int nsn_ipam_remove(const char *dir, const char *name, struct berr *err)
{
	int r = nsn_check_id(name, "network name", err);
	if (r < 0)
		return berr_wrap(err, "remove leases");
	_cleanup_close_ int dirfd = lock_dir(dir, err);
	if (dirfd < 0)
		return berr_wrap(err, "remove the leases of network %s", name);
	_cleanup_free_ char *file = lease_file(name);
	if (unlinkat(dirfd, file, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s/%s", dir, file);
	return 0;
}
