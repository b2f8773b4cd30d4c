/* Resource limits: the checks that need no host, the conversions between
 * v1 and v2 scales, and cg_apply(), which routes each controller to the
 * hierarchy that owns it. The per-version files are cgroups-v1-res.c and
 * cgroups-v2-res.c. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"

static const struct {
	const char *v1, *v2, *field;
} ctl_names[CG_CTL__COUNT] = {
	[CG_CTL_CPUSET] = {"cpuset", "cpuset", "linux.resources.cpu"},
	[CG_CTL_DEVICES] = {"devices", NULL, "linux.resources.devices"},
	[CG_CTL_MEMORY] = {"memory", "memory", "linux.resources.memory"},
	[CG_CTL_CPU] = {"cpu", "cpu", "linux.resources.cpu"},
	[CG_CTL_PIDS] = {"pids", "pids", "linux.resources.pids"},
	[CG_CTL_BLKIO] = {"blkio", "io", "linux.resources.blockIO"},
	[CG_CTL_HUGETLB] = {"hugetlb", "hugetlb",
			    "linux.resources.hugepageLimits"},
	[CG_CTL_NET_CLS] = {"net_cls", NULL, "linux.resources.network"},
	[CG_CTL_NET_PRIO] = {"net_prio", NULL, "linux.resources.network"},
	[CG_CTL_RDMA] = {"rdma", "rdma", "linux.resources.rdma"},
};

const char *cg_ctl_v1_name(enum cg_ctl c)
{
	return ctl_names[c].v1;
}

const char *cg_ctl_v2_name(enum cg_ctl c)
{
	return ctl_names[c].v2;
}

const char *cg_ctl_field(enum cg_ctl c)
{
	return ctl_names[c].field;
}

/* ---- file helpers ---- */

int cg_res_read(const char *dir, const char *file, char **out)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	char *s = NULL;
	size_t len = 0;
	int r = base_read_file_at(AT_FDCWD, f, &s, &len, 0);
	if (r < 0)
		return r;
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
	*out = s;
	return 0;
}

int cg_res_write(const char *dir, const char *file, const char *value,
		 struct berr *err)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	int r = base_write_file_at(AT_FDCWD, f, value, strlen(value), 0);
	if (r < 0)
		return berr_set(err, -r, "set %s to \"%s\"", f, value);
	blog_debug("cgroup: %s = %s", f, value);
	return 0;
}

bool cg_res_exists(const char *dir, const char *file)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	return access(f, F_OK) == 0;
}

bool cg_res_has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		p += strspn(p, " \n");
		size_t l = strcspn(p, " \n");
		if (l == wl && !strncmp(p, word, wl))
			return true;
		p += l;
	}
	return false;
}

/* "mlx4_0 hca_handle=2 hca_object=2000": one line per device, the same
 * on v1 and v2. */
int cg_res_write_rdma(const char *dir, const struct cg_resources *r,
		      struct berr *err)
{
	for (size_t i = 0; i < r->n_rdma; i++) {
		const struct cg_rdma_limit *l = &r->rdma[i];
		if (!l->has_hca_handles && !l->has_hca_objects)
			continue;
		char line[256];
		int n = snprintf(line, sizeof(line), "%s", l->device);
		if (l->has_hca_handles)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      " hca_handle=%u", l->hca_handles);
		if (l->has_hca_objects)
			snprintf(line + n, sizeof(line) - (size_t)n,
				 " hca_object=%u", l->hca_objects);
		int ret = cg_res_write(dir, "rdma.max", line, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- conversions ---- */

uint64_t cg_cpu_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cg_blkio_weight_to_io_weight(uint16_t w)
{
	if (w == 0)
		return 0;
	if (w < 10)
		w = 10;
	if (w > 1000)
		w = 1000;
	return 1 + ((uint64_t)w - 10) * 9999 / 990;
}

/* ---- cpuset lists ---- */

#define CPUSET_MAX 8192

struct cpuset_bits {
	uint64_t w[CPUSET_MAX / 64];
};

static int parse_num(const char **p, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= CPUSET_MAX)
			return -ERANGE;
	}
	*p = s;
	*out = v;
	return 0;
}

/* "0-3,5" as the kernel's bitmap lists print; "" is the empty set. */
static int cpuset_parse(const char *s, struct cpuset_bits *b)
{
	memset(b, 0, sizeof(*b));
	const char *p = s;
	while (*p) {
		unsigned lo, hi;
		int r = parse_num(&p, &lo);
		if (r < 0)
			return r;
		hi = lo;
		if (*p == '-') {
			p++;
			if ((r = parse_num(&p, &hi)) < 0)
				return r;
			if (hi < lo)
				return -EINVAL;
		}
		for (unsigned i = lo; i <= hi; i++)
			b->w[i / 64] |= UINT64_C(1) << (i % 64);
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -EINVAL;
	}
	return 0;
}

int cg_res_check_cpuset(const char *dir, const char *list,
			const char *effective, const char *field,
			struct berr *err)
{
	_cleanup_free_ char *parent = base_strdup(dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	_cleanup_free_ char *have = NULL;
	int r = cg_res_read(parent, effective, &have);
	if (r < 0)
		return berr_set(err, -r, "%s: read %s/%s", field, parent,
				effective);
	struct cpuset_bits want, allowed;
	if (cpuset_parse(list, &want) < 0 || cpuset_parse(have, &allowed) < 0)
		return berr_setx(err, EINVAL, "%s: invalid list \"%s\"", field,
				 list);
	for (size_t i = 0; i < ARRAY_SIZE(want.w); i++)
		if (want.w[i] & ~allowed.w[i])
			return berr_setx(err, EINVAL,
					 "%s (%s) is not a subset of the "
					 "parent's %s (%s)",
					 field, list, effective, have);
	return 0;
}

/* ---- checks that need no host ---- */

static int check_memory(const struct cg_resources *r, struct berr *err)
{
	static const char pre[] = "linux.resources.memory";
	if (r->has_memory_limit && r->memory_limit < -1)
		return berr_setx(err, EINVAL,
				 "%s.limit (%" PRId64 ") must be "
				 "-1 or >= 0",
				 pre, r->memory_limit);
	if (r->has_memory_reservation && r->memory_reservation < -1)
		return berr_setx(err, EINVAL,
				 "%s.reservation (%" PRId64 ") "
				 "must be -1 or >= 0",
				 pre, r->memory_reservation);
	if (r->has_memory_swap && r->memory_swap < -1)
		return berr_setx(err, EINVAL,
				 "%s.swap (%" PRId64 ") must be "
				 "-1 or >= 0",
				 pre, r->memory_swap);
	if (r->has_swappiness && r->swappiness > 100)
		return berr_setx(err, EINVAL,
				 "%s.swappiness (%" PRIu64 ") "
				 "must be between 0 and 100",
				 pre, r->swappiness);
	if (!r->has_memory_swap || r->memory_swap == -1 || !r->has_memory_limit)
		return 0;
	if (r->memory_limit == -1)
		return berr_setx(err, EINVAL,
				 "%s.swap (%" PRId64 ") must be "
				 "-1 when memory.limit is -1 (unlimited)",
				 pre, r->memory_swap);
	if (r->memory_swap < r->memory_limit)
		return berr_setx(err, EINVAL,
				 "%s.swap (%" PRId64 ") must be "
				 ">= memory.limit (%" PRId64 ")",
				 pre, r->memory_swap, r->memory_limit);
	return 0;
}

static int check_cpu_times(const struct cg_resources *r, struct berr *err)
{
	static const char pre[] = "linux.resources.cpu";
	/* the kernel's bounds: 1 ms <= period <= 1 s, quota >= 1 ms */
	if (r->has_cpu_period &&
	    (r->cpu_period < 1000 || r->cpu_period > 1000000))
		return berr_setx(err, EINVAL,
				 "%s.period (%" PRIu64 ") must "
				 "be between 1000 and 1000000",
				 pre, r->cpu_period);
	if (r->has_cpu_quota && r->cpu_quota != -1 && r->cpu_quota < 1000)
		return berr_setx(err, EINVAL,
				 "%s.quota (%" PRId64 ") must be "
				 "-1 or >= 1000",
				 pre, r->cpu_quota);
	if (r->has_cpu_burst && r->has_cpu_quota && r->cpu_quota != -1 &&
	    r->cpu_burst > (uint64_t)r->cpu_quota)
		return berr_setx(err, EINVAL,
				 "%s.burst (%" PRIu64 ") must be "
				 "<= cpu.quota (%" PRId64 ")",
				 pre, r->cpu_burst, r->cpu_quota);
	if (r->has_rt_period &&
	    (r->rt_period == 0 || r->rt_period > (uint64_t)INT64_MAX))
		return berr_setx(err, EINVAL,
				 "%s.realtimePeriod (%" PRIu64
				 ") must be between 1 and %" PRId64,
				 pre, r->rt_period, INT64_MAX);
	if (r->has_rt_runtime && r->rt_runtime < -1)
		return berr_setx(err, EINVAL,
				 "%s.realtimeRuntime (%" PRId64
				 ") must be -1 or >= 0",
				 pre, r->rt_runtime);
	if (r->has_rt_runtime && r->has_rt_period && r->rt_runtime != -1 &&
	    (uint64_t)r->rt_runtime > r->rt_period)
		return berr_setx(err, EINVAL,
				 "%s.realtimeRuntime (%" PRId64
				 ") must be <= cpu.realtimePeriod (%" PRIu64
				 ")",
				 pre, r->rt_runtime, r->rt_period);
	return 0;
}

static int check_cpu(const struct cg_resources *r, struct berr *err)
{
	static const char pre[] = "linux.resources.cpu";
	if (r->has_cpu_shares && (r->cpu_shares < 2 || r->cpu_shares > 262144))
		return berr_setx(err, EINVAL,
				 "%s.shares (%" PRIu64 ") must be "
				 "between 2 and 262144",
				 pre, r->cpu_shares);
	if (r->has_cpu_idle && r->cpu_idle != 0 && r->cpu_idle != 1)
		return berr_setx(err, EINVAL,
				 "%s.idle (%" PRId64 ") must be "
				 "0 or 1",
				 pre, r->cpu_idle);
	struct cpuset_bits b;
	if (r->cpuset_cpus && cpuset_parse(r->cpuset_cpus, &b) < 0)
		return berr_setx(err, EINVAL, "%s.cpus: invalid list \"%s\"",
				 pre, r->cpuset_cpus);
	if (r->cpuset_mems && cpuset_parse(r->cpuset_mems, &b) < 0)
		return berr_setx(err, EINVAL, "%s.mems: invalid list \"%s\"",
				 pre, r->cpuset_mems);
	return check_cpu_times(r, err);
}

static int check_weight(const char *what, size_t i, bool indexed, uint16_t w,
			struct berr *err)
{
	if (w != 0 && (w < 10 || w > 1000)) {
		if (indexed)
			return berr_setx(err, EINVAL,
					 "linux.resources.blockIO."
					 "weightDevice[%zu].%s (%u) must be "
					 "between 10 and 1000",
					 i, what, w);
		return berr_setx(err, EINVAL,
				 "linux.resources.blockIO.%s (%u) "
				 "must be between 10 and 1000",
				 what, w);
	}
	return 0;
}

static int check_device_numbers(const char *field, size_t i, int64_t major,
				int64_t minor, struct berr *err)
{
	if (major < 0 || minor < 0 || major > UINT32_MAX || minor > UINT32_MAX)
		return berr_setx(err, EINVAL,
				 "linux.resources.blockIO.%s[%zu]:"
				 " invalid device %" PRId64 ":%" PRId64,
				 field, i, major, minor);
	return 0;
}

static int check_blkio(const struct cg_resources *r, struct berr *err)
{
	int ret = check_weight("weight", 0, false, r->blkio_weight, err);
	if (ret == 0)
		ret = check_weight("leafWeight", 0, false, r->blkio_leaf_weight,
				   err);
	for (size_t i = 0; ret == 0 && i < r->n_weight_devices; i++) {
		const struct cg_weight_device *d = &r->weight_devices[i];
		ret = check_device_numbers("weightDevice", i, d->major,
					   d->minor, err);
		if (ret == 0)
			ret = check_weight("weight", i, true, d->weight, err);
		if (ret == 0)
			ret = check_weight("leafWeight", i, true,
					   d->leaf_weight, err);
	}
	const struct {
		const char *field;
		const struct cg_rate_list *l;
	} lists[] = {
		{"throttleReadBpsDevice", &r->read_bps},
		{"throttleWriteBpsDevice", &r->write_bps},
		{"throttleReadIOPSDevice", &r->read_iops},
		{"throttleWriteIOPSDevice", &r->write_iops},
	};
	for (size_t k = 0; ret == 0 && k < ARRAY_SIZE(lists); k++)
		for (size_t i = 0; ret == 0 && i < lists[k].l->n; i++)
			ret = check_device_numbers(lists[k].field, i,
						   lists[k].l->v[i].major,
						   lists[k].l->v[i].minor, err);
	return ret;
}

static int check_devices(const struct cg_resources *r, struct berr *err)
{
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct cg_device_rule *d = &r->devices[i];
		if (!d->type || !strchr("acb", d->type))
			return berr_setx(err, EINVAL,
					 "linux.resources.devices"
					 "[%zu].type: unknown device type '%c'",
					 i, d->type ? d->type : '?');
		if (d->major < CG_ANY || d->minor < CG_ANY ||
		    d->major > UINT32_MAX || d->minor > UINT32_MAX)
			return berr_setx(err, EINVAL,
					 "linux.resources.devices"
					 "[%zu]: invalid device %" PRId64
					 ":%" PRId64,
					 i, d->major, d->minor);
		if (d->access && strspn(d->access, "rwm") != strlen(d->access))
			return berr_setx(err, EINVAL,
					 "linux.resources.devices"
					 "[%zu].access: invalid access \"%s\"",
					 i, d->access);
	}
	return 0;
}

/* A name written into a cgroup file as one word. */
static bool plain_word(const char *s)
{
	return s && *s && !strpbrk(s, " \t\n/");
}

static bool page_size_ok(const char *s)
{
	size_t digits = s ? strspn(s, "0123456789") : 0;
	return digits > 0 && s[digits] && strchr("KMGT", s[digits]) &&
	       !strcmp(s + digits + 1, "B");
}

static int check_named(const struct cg_resources *r, struct berr *err)
{
	for (size_t i = 0; i < r->n_hugetlb; i++)
		if (!page_size_ok(r->hugetlb[i].page_size))
			return berr_setx(err, EINVAL,
					 "linux.resources."
					 "hugepageLimits[%zu].pageSize: invalid"
					 " size \"%s\"",
					 i, r->hugetlb[i].page_size ?: "");
	for (size_t i = 0; i < r->n_net_prio; i++)
		if (!plain_word(r->net_prio[i].ifname))
			return berr_setx(err, EINVAL,
					 "linux.resources.network."
					 "priorities[%zu].name: invalid "
					 "interface name \"%s\"",
					 i, r->net_prio[i].ifname ?: "");
	for (size_t i = 0; i < r->n_rdma; i++)
		if (!plain_word(r->rdma[i].device))
			return berr_setx(err, EINVAL,
					 "linux.resources.rdma: "
					 "invalid device name \"%s\"",
					 r->rdma[i].device ?: "");
	return 0;
}

static int check_static(const struct cg_resources *r, struct berr *err)
{
	return check_memory(r, err) ?: check_cpu(r, err)
		?: check_blkio(r, err) ?: check_devices(r, err)
		?: check_named(r, err);
}

/* ---- routing ---- */

static bool wants(const struct cg_resources *r, enum cg_ctl c)
{
	switch (c) {
	case CG_CTL_CPUSET:
		return (r->cpuset_cpus && *r->cpuset_cpus) ||
		       (r->cpuset_mems && *r->cpuset_mems);
	case CG_CTL_DEVICES:
		return r->n_devices > 0;
	case CG_CTL_MEMORY:
		return r->has_memory_limit || r->has_memory_reservation ||
		       r->has_memory_swap || r->has_swappiness ||
		       r->has_oom_kill_disable || r->has_use_hierarchy;
	case CG_CTL_CPU:
		return r->has_cpu_shares || r->has_cpu_quota ||
		       r->has_cpu_period || r->has_cpu_burst ||
		       r->has_rt_runtime || r->has_rt_period || r->has_cpu_idle;
	case CG_CTL_PIDS:
		return r->has_pids_limit;
	case CG_CTL_BLKIO:
		return r->blkio_weight || r->blkio_leaf_weight ||
		       r->n_weight_devices || r->read_bps.n || r->write_bps.n ||
		       r->read_iops.n || r->write_iops.n;
	case CG_CTL_HUGETLB:
		return r->n_hugetlb > 0;
	case CG_CTL_NET_CLS:
		return r->has_net_classid;
	case CG_CTL_NET_PRIO:
		return r->n_net_prio > 0;
	case CG_CTL_RDMA:
		return r->n_rdma > 0;
	case CG_CTL__COUNT:
		break;
	}
	return false;
}

struct route {
	const char *dir; /* NULL: skipped */
	bool v2;
};

/* The unified hierarchy's group directory when it has controller c. */
static int route_v2(struct cg_group *g, enum cg_ctl c, struct route *rt,
		    struct berr *err)
{
	const char *name = cg_ctl_v2_name(c);
	const char *dir = g->dirs[g->lo->v2].path;
	_cleanup_free_ char *have = NULL;
	int r = cg_res_read(dir, "cgroup.controllers", &have);
	if (r < 0)
		return berr_set(err, -r, "%s: read %s/cgroup.controllers",
				cg_ctl_field(c), dir);
	if (!cg_res_has_word(have, name)) {
		if (g->lo->mode == CG_MODE_HYBRID)
			return berr_setx(err, EOPNOTSUPP,
					 "%s: no %s controller"
					 " is mounted (neither cgroup v1 nor "
					 "the unified hierarchy has it)",
					 cg_ctl_field(c), cg_ctl_v1_name(c));
		return berr_setx(err, EOPNOTSUPP,
				 "%s: controller %s is not "
				 "enabled in %s",
				 cg_ctl_field(c), name, dir);
	}
	rt->dir = dir;
	rt->v2 = true;
	return 0;
}

static int route(struct cg_group *g, enum cg_ctl c, struct route *rt,
		 struct berr *err)
{
	*rt = (struct route){0};
	if (g->lo->mode != CG_MODE_V2) {
		struct cg_dir *d = cg_group_dir(g, cg_ctl_v1_name(c));
		if (d) {
			rt->dir = d->path;
			return 0;
		}
	}
	if (g->lo->v2 >= 0 && cg_ctl_v2_name(c))
		return route_v2(g, c, rt, err);
	if (c == CG_CTL_DEVICES && g->lo->mode == CG_MODE_V2) {
		/* an eBPF program (cgroups-devices-bpf.c) */
		rt->dir = g->dirs[g->lo->v2].path;
		rt->v2 = true;
		return 0;
	}
	if (g->lo->mode == CG_MODE_V2)
		return berr_setx(err, EOPNOTSUPP,
				 "%s: %s is not supported on "
				 "cgroup v2",
				 cg_ctl_field(c), cg_ctl_v1_name(c));
	return berr_setx(err, EOPNOTSUPP, "%s: no %s hierarchy is mounted",
			 cg_ctl_field(c), cg_ctl_v1_name(c));
}

static int check_all(struct cg_group *g, const struct cg_resources *r,
		     struct route *rt, struct berr *err)
{
	for (int c = 0; c < CG_CTL__COUNT; c++) {
		if (!wants(r, c))
			continue;
		int ret = route(g, c, &rt[c], err);
		if (ret == 0 && rt[c].dir)
			ret = rt[c].v2 ? cg_v2_res_check(c, rt[c].dir, r, err)
				       : cg_v1_res_check(c, rt[c].dir, r, err);
		if (ret < 0)
			return ret;
	}
	if (r->n_unified == 0)
		return 0;
	if (g->lo->v2 < 0)
		return berr_setx(err, EOPNOTSUPP,
				 "linux.resources.unified "
				 "needs cgroup v2");
	return cg_v2_unified_check(g, g->dirs[g->lo->v2].path, r, err);
}

int cg_apply(struct cg_group *g, const struct cg_resources *r, struct berr *err)
{
	int ret = check_static(r, err);
	if (ret < 0)
		return ret;
	if (r->kernel_memory_given)
		blog_warn("linux.resources.memory.kernel and kernelTCP are not "
			  "supported and are ignored");
	struct route rt[CG_CTL__COUNT] = {{0}};
	ret = check_all(g, r, rt, err);
	if (ret < 0)
		return ret;
	for (int c = 0; c < CG_CTL__COUNT; c++) {
		if (!rt[c].dir)
			continue;
		ret = rt[c].v2 ? cg_v2_res_write(c, rt[c].dir, r, err)
			       : cg_v1_res_write(c, rt[c].dir, r, err);
		if (ret < 0)
			return ret;
	}
	if (r->n_unified &&
	    (ret = cg_v2_unified_write(g->dirs[g->lo->v2].path, r, err)) < 0)
		return ret;
	/* systemd writes back what it knows of its scope on daemon-reload */
	return cg_systemd_set(g, r, err);
}
