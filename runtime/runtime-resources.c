/* linux.resources to cgroup limits: the conversion from the spec's terms
 * (as runc reads them), the device rules every container gets, and
 * `update`. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

/* Frees what a conversion allocated; the strings stay the oci struct's. */
static void conv_clear(struct cg_resources *r)
{
	free(r->weight_devices);
	free(r->read_bps.v);
	free(r->write_bps.v);
	free(r->read_iops.v);
	free(r->write_iops.v);
	free(r->hugetlb);
	free(r->net_prio);
	free(r->rdma);
	free(r->devices);
	free(r->unified);
}

/* ---- oci -> cg ---- */

static void conv_memory(const struct oci_memory *m, struct cg_resources *c)
{
	/* runc reads 0 as "not set" for the three byte counts */
	c->has_memory_limit = m->has_limit && m->limit != 0;
	c->memory_limit = m->limit;
	c->has_memory_reservation = m->has_reservation && m->reservation != 0;
	c->memory_reservation = m->reservation;
	c->has_memory_swap = m->has_swap && m->swap != 0;
	c->memory_swap = m->swap;
	/* Docker's "unset" swappiness, -1, arrives as 2^64-1 */
	c->has_swappiness = m->has_swappiness && m->swappiness != UINT64_MAX;
	c->swappiness = m->swappiness;
	c->has_oom_kill_disable = m->has_disable_oom_killer;
	c->oom_kill_disable = m->disable_oom_killer;
	c->has_use_hierarchy = m->has_use_hierarchy;
	c->use_hierarchy = m->use_hierarchy;
	c->check_before_update =
		m->has_check_before_update && m->check_before_update;
	c->kernel_memory_given = (m->has_kernel && m->kernel != 0) ||
				 (m->has_kernel_tcp && m->kernel_tcp != 0);
}

static void conv_cpu(const struct oci_cpu *p, struct cg_resources *c)
{
	c->has_cpu_shares = p->has_shares && p->shares != 0;
	c->cpu_shares = p->shares;
	c->has_cpu_quota = p->has_quota && p->quota != 0;
	c->cpu_quota = p->quota;
	c->has_cpu_period = p->has_period && p->period != 0;
	c->cpu_period = p->period;
	c->has_cpu_burst = p->has_burst;
	c->cpu_burst = p->burst;
	c->has_rt_runtime = p->has_realtime_runtime && p->realtime_runtime != 0;
	c->rt_runtime = p->realtime_runtime;
	c->has_rt_period = p->has_realtime_period && p->realtime_period != 0;
	c->rt_period = p->realtime_period;
	c->has_cpu_idle = p->has_idle;
	c->cpu_idle = p->idle;
	c->cpuset_cpus = p->cpus;
	c->cpuset_mems = p->mems;
}

static void conv_rates(const struct oci_throttle_list *l,
		       struct cg_rate_list *out)
{
	out->n = l->n;
	out->v = l->n ? base_calloc(l->n, sizeof(*out->v)) : NULL;
	for (size_t i = 0; i < l->n; i++)
		out->v[i] = (struct cg_rate_device){
			.major = l->v[i].major,
			.minor = l->v[i].minor,
			.rate = l->v[i].rate,
		};
}

static void conv_blkio(const struct oci_blkio *b, struct cg_resources *c)
{
	c->blkio_weight = b->has_weight ? b->weight : 0;
	c->blkio_leaf_weight = b->has_leaf_weight ? b->leaf_weight : 0;
	c->n_weight_devices = b->n_weight_devices;
	if (b->n_weight_devices)
		c->weight_devices = base_calloc(b->n_weight_devices,
						sizeof(*c->weight_devices));
	for (size_t i = 0; i < b->n_weight_devices; i++) {
		const struct oci_weight_device *d = &b->weight_devices[i];
		c->weight_devices[i] = (struct cg_weight_device){
			.major = d->major,
			.minor = d->minor,
			.weight = d->has_weight ? d->weight : 0,
			.leaf_weight = d->has_leaf_weight ? d->leaf_weight : 0,
		};
	}
	conv_rates(&b->read_bps, &c->read_bps);
	conv_rates(&b->write_bps, &c->write_bps);
	conv_rates(&b->read_iops, &c->read_iops);
	conv_rates(&b->write_iops, &c->write_iops);
}

static void conv_named(const struct oci_resources *o, struct cg_resources *c)
{
	c->n_hugetlb = o->n_hugepage_limits;
	c->hugetlb = base_calloc(o->n_hugepage_limits + 1, sizeof(*c->hugetlb));
	for (size_t i = 0; i < o->n_hugepage_limits; i++)
		c->hugetlb[i] = (struct cg_hugetlb_limit){
			o->hugepage_limits[i].page_size,
			o->hugepage_limits[i].limit,
		};
	c->has_net_classid = o->has_class_id;
	c->net_classid = o->class_id;
	c->n_net_prio = o->n_net_priorities;
	c->net_prio =
		base_calloc(o->n_net_priorities + 1, sizeof(*c->net_prio));
	for (size_t i = 0; i < o->n_net_priorities; i++)
		c->net_prio[i] = (struct cg_net_prio){
			o->net_priorities[i].name,
			o->net_priorities[i].priority,
		};
	c->n_rdma = o->n_rdma;
	c->rdma = base_calloc(o->n_rdma + 1, sizeof(*c->rdma));
	for (size_t i = 0; i < o->n_rdma; i++)
		c->rdma[i] = (struct cg_rdma_limit){
			.device = o->rdma[i].device,
			.has_hca_handles = o->rdma[i].has_hca_handles,
			.has_hca_objects = o->rdma[i].has_hca_objects,
			.hca_handles = o->rdma[i].hca_handles,
			.hca_objects = o->rdma[i].hca_objects,
		};
	c->n_unified = o->n_unified;
	c->unified = base_calloc(o->n_unified + 1, sizeof(*c->unified));
	for (size_t i = 0; i < o->n_unified; i++)
		c->unified[i] = (struct cg_unified_kv){o->unified[i].key,
						       o->unified[i].value};
}

static void push_rule(struct cg_resources *c, struct cg_device_rule rule)
{
	c->devices =
		base_realloc(c->devices, c->n_devices + 1, sizeof(*c->devices));
	c->devices[c->n_devices++] = rule;
}

static void conv_devices(const struct oci_resources *o, struct cg_resources *c)
{
	for (size_t i = 0; i < o->n_devices; i++) {
		const struct oci_device_rule *d = &o->devices[i];
		push_rule(c, (struct cg_device_rule){
				     .allow = d->allow,
				     .type = d->type ? d->type : 'a',
				     .major = d->has_major ? d->major : CG_ANY,
				     .minor = d->has_minor ? d->minor : CG_ANY,
				     .access = d->access,
			     });
	}
}

/* Everything but the device rules. */
static void conv_limits(const struct oci_resources *o, struct cg_resources *c)
{
	if (o->has_memory)
		conv_memory(&o->memory, c);
	if (o->has_cpu)
		conv_cpu(&o->cpu, c);
	/* runc: 0 leaves the limit alone, a negative one is "max" */
	c->has_pids_limit = o->has_pids && o->pids_limit != 0;
	c->pids_limit = o->pids_limit;
	if (o->has_blkio)
		conv_blkio(&o->blkio, c);
	conv_named(o, c);
}

int rt_resources_apply(struct cg_group *g, const struct oci_resources *r,
		       struct berr *err)
{
	_cleanup_(conv_clear) struct cg_resources c = {0};
	conv_limits(r, &c);
	conv_devices(r, &c);
	return cg_apply(g, &c, err);
}

/* ---- create: the standard device rules ---- */

/* What every container may use whatever its config says, as runc allows:
 * mknod of any device (using one still needs a rule), the null, zero,
 * full, random and urandom devices, the terminal ones and tun. */
static const struct cg_device_rule std_rules[] = {
	{true, 'c', CG_ANY, CG_ANY, "m"}, {true, 'b', CG_ANY, CG_ANY, "m"},
	{true, 'c', 1, 3, "rwm"},	 /* /dev/null */
	{true, 'c', 1, 8, "rwm"},	 /* /dev/random */
	{true, 'c', 1, 7, "rwm"},	 /* /dev/full */
	{true, 'c', 5, 0, "rwm"},	 /* /dev/tty */
	{true, 'c', 1, 5, "rwm"},	 /* /dev/zero */
	{true, 'c', 1, 9, "rwm"},	 /* /dev/urandom */
	{true, 'c', 136, CG_ANY, "rwm"}, /* /dev/pts/N */
	{true, 'c', 5, 2, "rwm"},	 /* /dev/ptmx */
	{true, 'c', 10, 200, "rwm"},	 /* /dev/net/tun */
};

static void add_std_rules(struct cg_resources *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(std_rules); i++)
		push_rule(c, std_rules[i]);
}

int rt_resources_setup(struct cg_group *g, const struct oci_config *cfg,
		       struct berr *err)
{
	_cleanup_(conv_clear) struct cg_resources c = {0};
	const struct oci_linux *l = &cfg->linux_;
	if (cfg->has_linux && l->has_resources) {
		conv_limits(&l->resources, &c);
		conv_devices(&l->resources, &c);
	}
	/* linux.devices get no rule of their own: the config's rules
	 * decide, as with runc */
	if (cfg->has_linux)
		add_std_rules(&c);
	return cg_apply(g, &c, err);
}

/* ---- update ---- */

/* units.RAMInBytes as runc's update reads it: "64m", "1.5g", "512MiB",
 * "100 kb"; binary multiples, case-insensitive. */
static int parse_bytes(const char *s, int64_t *out)
{
	static const char units[] = "kmgtp";
	if (!strcmp(s, "-1")) {
		*out = -1;
		return 0;
	}
	uint64_t whole = 0, frac = 0, scale = 1;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
			return -ERANGE;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000000000) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	if (*p == ' ')
		p++;
	uint64_t mult = 1;
	const char *u = *p ? strchr(units, *p | 0x20) : NULL;
	if (u) {
		for (const char *k = units; k <= u; k++)
			mult *= 1024;
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p)
		return -EINVAL;
	uint64_t v;
	if (__builtin_mul_overflow(whole, mult, &v) ||
	    __builtin_add_overflow(v, frac * mult / scale, &v) ||
	    v > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = (int64_t)v;
	return 0;
}

static int bad_flag(const char *flag, const char *v, int r, struct berr *err)
{
	return berr_setx(err, EINVAL, "invalid value \"%s\" for --%s: %s", v,
			 flag, r == -ERANGE ? "out of range" : "invalid");
}

static int flag_bytes(const char *flag, const char *v, int64_t *out, bool *has,
		      struct berr *err)
{
	if (!v)
		return 0;
	int r = parse_bytes(v, out);
	if (r < 0)
		return bad_flag(flag, v, r, err);
	*has = true;
	return 0;
}

static int flag_u64(const char *flag, const char *v, uint64_t max,
		    uint64_t *out, bool *has, struct berr *err)
{
	if (!v)
		return 0;
	int r = base_parse_u64(v, out);
	if (r == 0 && *out > max)
		r = -ERANGE;
	if (r < 0)
		return bad_flag(flag, v, r, err);
	*has = true;
	return 0;
}

static int flag_i64(const char *flag, const char *v, int64_t *out, bool *has,
		    struct berr *err)
{
	if (!v)
		return 0;
	int r = base_parse_i64(v, out);
	if (r < 0)
		return bad_flag(flag, v, r, err);
	*has = true;
	return 0;
}

static int flags_memory(const struct rt_update_opts *o, struct oci_memory *m,
			struct berr *err)
{
	return flag_bytes("memory", o->memory, &m->limit, &m->has_limit, err)
		?: flag_bytes("memory-reservation", o->memory_reservation,
			      &m->reservation, &m->has_reservation, err)
		?: flag_bytes("memory-swap", o->memory_swap, &m->swap,
			      &m->has_swap, err)
		?: flag_bytes("kernel-memory", o->kernel_memory, &m->kernel,
			      &m->has_kernel, err)
		?: flag_bytes("kernel-memory-tcp", o->kernel_memory_tcp,
			      &m->kernel_tcp, &m->has_kernel_tcp, err);
}

static int flags_cpu(const struct rt_update_opts *o, struct oci_cpu *c,
		     struct berr *err)
{
	c->cpus = base_strdup(o->cpuset_cpus);
	c->mems = base_strdup(o->cpuset_mems);
	return flag_u64("cpu-share", o->cpu_shares, UINT64_MAX, &c->shares,
			&c->has_shares, err)
		?: flag_i64("cpu-quota", o->cpu_quota, &c->quota,
			    &c->has_quota, err)
		?: flag_u64("cpu-period", o->cpu_period, UINT64_MAX,
			    &c->period, &c->has_period, err)
		?: flag_u64("cpu-rt-period", o->cpu_rt_period, UINT64_MAX,
			    &c->realtime_period, &c->has_realtime_period, err)
		?: flag_i64("cpu-rt-runtime", o->cpu_rt_runtime,
			    &c->realtime_runtime, &c->has_realtime_runtime,
			    err);
}

static int flags_resources(const struct rt_update_opts *o,
			   struct oci_resources *r, struct berr *err)
{
	uint64_t w = 0;
	r->has_memory = r->has_cpu = true;
	int ret = flags_memory(o, &r->memory, err)
			  ?: flags_cpu(o, &r->cpu, err)
			  ?: flag_i64("pids-limit", o->pids_limit,
				      &r->pids_limit, &r->has_pids, err)
			  ?: flag_u64("blkio-weight", o->blkio_weight,
				      UINT16_MAX, &w, &r->blkio.has_weight,
				      err);
	r->has_blkio = r->blkio.has_weight;
	r->blkio.weight = (uint16_t)w;
	return ret;
}

/* Docker pipes the JSON in; stdin may be a pipe, a file or a socket. */
static int read_stdin(char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = base_calloc(1, cap + 1);
	for (;;) {
		ssize_t got = read(STDIN_FILENO, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap) {
			if (cap >= 64u << 20)
				return -EFBIG;
			cap *= 2;
			buf = base_realloc(buf, cap + 1, 1);
		}
	}
	buf[n] = '\0';
	*len = n;
	*out = TAKE_PTR(buf);
	return 0;
}

static int load_resources(const struct rt_update_opts *o,
			  struct oci_resources **out, struct berr *err)
{
	if (!o->resources_file) {
		struct oci_resources *r = base_calloc(1, sizeof(*r));
		int ret = flags_resources(o, r, err);
		if (ret < 0) {
			oci_resources_free(r);
			return ret;
		}
		*out = r;
		return 0;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	bool in = !strcmp(o->resources_file, "-");
	int ret = in ? read_stdin(&buf, &len)
		     : base_read_file_at(AT_FDCWD, o->resources_file, &buf,
					 &len, 0);
	if (ret < 0)
		return berr_set(err, -ret, "read resources from %s",
				in ? "stdin" : o->resources_file);
	ret = oci_resources_parse(buf, len, out, err);
	if (ret < 0)
		return berr_wrap(err, "%s", in ? "stdin" : o->resources_file);
	return 0;
}

static void resources_freep(struct oci_resources **r)
{
	oci_resources_free(*r);
}

int rt_update(const struct rt_ctx *ctx, const char *id,
	      const struct rt_update_opts *opts, struct berr *err)
{
	_cleanup_(resources_freep) struct oci_resources *res = NULL;
	int r = load_resources(opts, &res, err);
	if (r < 0)
		return r;
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	if ((r = rt_container_open(ctx, id, true, &c, err)) < 0)
		return r;
	if (rt_container_status(c) == OCI_STATUS_STOPPED)
		return berr_setx(err, EINVAL,
				 "container %s is stopped: "
				 "cannot update its resources",
				 id);
	if (!c->state->cgroup_path)
		return berr_setx(err, ENOENT, "container %s has no cgroup", id);
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if ((r = cg_open(c->state->cgroup_path, &g, err)) < 0)
		return r;
	if (res->n_devices)
		blog_debug("update %s: device rules are not updated", id);
	_cleanup_(conv_clear) struct cg_resources conv = {0};
	conv_limits(res, &conv);
	r = cg_apply(g, &conv, err);
	if (r < 0)
		return berr_wrap(err, "update %s", id);
	return 0;
}
