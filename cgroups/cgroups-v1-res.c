/* Resource limits on cgroup v1: one directory per controller, the file
 * names and write orders runc uses, so that configs behave alike. */
#include <inttypes.h>
#include <string.h>

#include "cgroups/cgroups-internal.h"

#define NUM_MAX 32

static const char *i64(char *buf, int64_t v)
{
	snprintf(buf, NUM_MAX, "%" PRId64, v);
	return buf;
}

static const char *u64(char *buf, uint64_t v)
{
	snprintf(buf, NUM_MAX, "%" PRIu64, v);
	return buf;
}

static int write_i64(const char *dir, const char *file, int64_t v,
		     struct berr *err)
{
	char b[NUM_MAX];
	return cg_res_write(dir, file, i64(b, v), err);
}

static int write_u64(const char *dir, const char *file, uint64_t v,
		     struct berr *err)
{
	char b[NUM_MAX];
	return cg_res_write(dir, file, u64(b, v), err);
}

static int missing(const char *field, const char *dir, const char *file,
		   struct berr *err)
{
	return berr_setx(err, EOPNOTSUPP,
			 "%s: not supported by this kernel "
			 "(no %s in %s)",
			 field, file, dir);
}

/* ---- memory ---- */

static int read_i64(const char *dir, const char *file, int64_t *v)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r == 0)
		r = base_parse_i64(s, v);
	return r;
}

/* The kernel prints "unlimited" as a huge page-aligned number. */
static char *bytes_str(int64_t v)
{
	if (v < 0 || v >= INT64_MAX / 2)
		return base_strdup("unlimited");
	return base_sprintf("%" PRId64, v);
}

static int check_memory(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	static const char pre[] = "linux.resources.memory";
	int64_t cur = -1;
	bool swap = r->has_memory_swap && r->memory_swap != -1;
	if (swap && !cg_res_exists(dir, "memory.memsw.limit_in_bytes") &&
	    !(r->has_memory_limit && r->memory_swap == r->memory_limit))
		return berr_setx(err, EOPNOTSUPP,
				 "%s.swap: swap accounting is "
				 "off (no memory.memsw.limit_in_bytes in %s)",
				 pre, dir);
	if (swap && !r->has_memory_limit) {
		int ret = read_i64(dir, "memory.limit_in_bytes", &cur);
		if (ret < 0)
			return berr_set(err, -ret,
					"read %s/memory.limit_in_"
					"bytes",
					dir);
		if (r->memory_swap < cur) {
			_cleanup_free_ char *s = bytes_str(cur);
			return berr_setx(err, EINVAL,
					 "%s.swap (%" PRId64 ") "
					 "must be >= memory.limit (%s)",
					 pre, r->memory_swap, s);
		}
	}
	if (r->check_before_update && r->has_memory_limit &&
	    r->memory_limit > 0) {
		int64_t usage = 0;
		int ret = read_i64(dir, "memory.usage_in_bytes", &usage);
		if (ret < 0)
			return berr_set(err, -ret,
					"read %s/memory.usage_in_"
					"bytes",
					dir);
		if (r->memory_limit < usage)
			return berr_setx(err, EBUSY,
					 "%s.limit (%" PRId64 ") is"
					 " below the current usage (%" PRId64
					 ")",
					 pre, r->memory_limit, usage);
	}
	return 0;
}

static int set_swap(const char *dir, const struct cg_resources *r,
		    struct berr *err)
{
	if (!r->has_memory_swap ||
	    !cg_res_exists(dir, "memory.memsw.limit_in_bytes"))
		return 0;
	return write_i64(dir, "memory.memsw.limit_in_bytes", r->memory_swap,
			 err);
}

/* memory.limit_in_bytes <= memory.memsw.limit_in_bytes must hold after
 * every write: raise swap first when it grows, lower the limit first
 * otherwise. */
static int set_limit_and_swap(const char *dir, const struct cg_resources *r,
			      struct berr *err)
{
	int64_t cur = 0;
	bool swap_first = false;
	if (r->has_memory_swap && r->has_memory_limit)
		swap_first =
			r->memory_swap == -1 ||
			(read_i64(dir, "memory.limit_in_bytes", &cur) == 0 &&
			 cur < r->memory_swap);
	int ret = swap_first ? set_swap(dir, r, err) : 0;
	if (ret == 0 && r->has_memory_limit)
		ret = write_i64(dir, "memory.limit_in_bytes", r->memory_limit,
				err);
	if (ret == 0 && !swap_first)
		ret = set_swap(dir, r, err);
	return ret;
}

static int write_memory(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	struct cg_resources eff = *r;
	/* an unlimited memory with no word on swap leaves swap unlimited
	 * too, as runc does */
	if (eff.has_memory_limit && eff.memory_limit == -1 &&
	    !eff.has_memory_swap) {
		eff.has_memory_swap = true;
		eff.memory_swap = -1;
	}
	int ret = set_limit_and_swap(dir, &eff, err);
	if (ret == 0 && r->has_memory_reservation)
		ret = write_i64(dir, "memory.soft_limit_in_bytes",
				r->memory_reservation, err);
	if (ret == 0 && r->has_swappiness)
		ret = write_u64(dir, "memory.swappiness", r->swappiness, err);
	if (ret == 0 && r->has_oom_kill_disable)
		ret = cg_res_write(dir, "memory.oom_control",
				   r->oom_kill_disable ? "1" : "0", err);
	if (ret == 0 && r->has_use_hierarchy)
		ret = cg_res_write(dir, "memory.use_hierarchy",
				   r->use_hierarchy ? "1" : "0", err);
	return ret;
}

/* ---- cpu, cpuset ---- */

static int check_cpu(const char *dir, const struct cg_resources *r,
		     struct berr *err)
{
	static const char pre[] = "linux.resources.cpu";
	if (r->has_cpu_burst && r->cpu_burst &&
	    !cg_res_exists(dir, "cpu.cfs_burst_us"))
		return missing("linux.resources.cpu.burst", dir,
			       "cpu.cfs_burst_us", err);
	if ((r->has_rt_runtime || r->has_rt_period) &&
	    !cg_res_exists(dir, "cpu.rt_runtime_us"))
		return berr_setx(err, EOPNOTSUPP,
				 "%s.realtimeRuntime: the "
				 "kernel has no real-time group scheduling "
				 "(no cpu.rt_runtime_us in %s)",
				 pre, dir);
	if (r->has_cpu_idle && !cg_res_exists(dir, "cpu.idle"))
		return missing("linux.resources.cpu.idle", dir, "cpu.idle",
			       err);
	if ((r->has_cpu_quota || r->has_cpu_period) &&
	    !cg_res_exists(dir, "cpu.cfs_quota_us"))
		return missing("linux.resources.cpu.quota", dir,
			       "cpu.cfs_quota_us", err);
	return 0;
}

/* A new period may be refused (EINVAL) while the old quota is in place
 * and exceeds the parent's bandwidth: then it is retried after the quota,
 * as runc does. */
static int write_bandwidth(const char *dir, const struct cg_resources *r,
			   struct berr *err)
{
	bool retry = false;
	int ret = 0;
	if (r->has_cpu_period) {
		ret = write_u64(dir, "cpu.cfs_period_us", r->cpu_period, err);
		if (ret == -EINVAL && r->has_cpu_quota) {
			retry = true;
			ret = 0;
		}
	}
	if (ret == 0 && r->has_cpu_quota)
		ret = write_i64(dir, "cpu.cfs_quota_us", r->cpu_quota, err);
	if (ret == 0 && retry)
		ret = write_u64(dir, "cpu.cfs_period_us", r->cpu_period, err);
	if (ret == 0 && r->has_cpu_burst &&
	    (r->cpu_burst || cg_res_exists(dir, "cpu.cfs_burst_us")))
		ret = write_u64(dir, "cpu.cfs_burst_us", r->cpu_burst, err);
	return ret;
}

static int write_cpu(const char *dir, const struct cg_resources *r,
		     struct berr *err)
{
	int ret = 0;
	if (r->has_rt_period)
		ret = write_u64(dir, "cpu.rt_period_us", r->rt_period, err);
	if (ret == 0 && r->has_rt_runtime)
		ret = write_i64(dir, "cpu.rt_runtime_us", r->rt_runtime, err);
	if (ret == 0 && r->has_cpu_shares)
		ret = write_u64(dir, "cpu.shares", r->cpu_shares, err);
	if (ret == 0)
		ret = write_bandwidth(dir, r, err);
	if (ret == 0 && r->has_cpu_idle)
		ret = write_i64(dir, "cpu.idle", r->cpu_idle, err);
	return ret;
}

static int check_cpuset(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	int ret = 0;
	if (r->cpuset_cpus && *r->cpuset_cpus)
		ret = cg_res_check_cpuset(dir, r->cpuset_cpus,
					  "cpuset.effective_cpus",
					  "linux.resources.cpu.cpus", err);
	if (ret == 0 && r->cpuset_mems && *r->cpuset_mems)
		ret = cg_res_check_cpuset(dir, r->cpuset_mems,
					  "cpuset.effective_mems",
					  "linux.resources.cpu.mems", err);
	return ret;
}

static int write_cpuset(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	int ret = 0;
	if (r->cpuset_cpus && *r->cpuset_cpus)
		ret = cg_res_write(dir, "cpuset.cpus", r->cpuset_cpus, err);
	if (ret == 0 && r->cpuset_mems && *r->cpuset_mems)
		ret = cg_res_write(dir, "cpuset.mems", r->cpuset_mems, err);
	return ret;
}

/* ---- pids ---- */

static int write_pids(const char *dir, const struct cg_resources *r,
		      struct berr *err)
{
	if (r->pids_limit < 0)
		return cg_res_write(dir, "pids.max", "max", err);
	return write_i64(dir, "pids.max", r->pids_limit, err);
}

/* ---- blkio ---- */

/* CFQ's files, or BFQ's where CFQ is gone (Linux 5.0 and later). */
static void weight_files(const char *dir, const char **weight,
			 const char **device)
{
	if (cg_res_exists(dir, "blkio.weight")) {
		*weight = "blkio.weight";
		*device = "blkio.weight_device";
	} else if (cg_res_exists(dir, "blkio.bfq.weight")) {
		*weight = "blkio.bfq.weight";
		*device = "blkio.bfq.weight_device";
	} else {
		*weight = *device = NULL;
	}
}

static const struct {
	const char *file, *field;
	size_t off;
} throttles[] = {
	{"blkio.throttle.read_bps_device", "throttleReadBpsDevice",
	 offsetof(struct cg_resources, read_bps)},
	{"blkio.throttle.write_bps_device", "throttleWriteBpsDevice",
	 offsetof(struct cg_resources, write_bps)},
	{"blkio.throttle.read_iops_device", "throttleReadIOPSDevice",
	 offsetof(struct cg_resources, read_iops)},
	{"blkio.throttle.write_iops_device", "throttleWriteIOPSDevice",
	 offsetof(struct cg_resources, write_iops)},
};

static const struct cg_rate_list *rate_list(const struct cg_resources *r,
					    size_t k)
{
	return (const struct cg_rate_list *)((const char *)r +
					     throttles[k].off);
}

static bool leaf_devices(const struct cg_resources *r)
{
	for (size_t i = 0; i < r->n_weight_devices; i++)
		if (r->weight_devices[i].leaf_weight)
			return true;
	return false;
}

static int check_blkio(const char *dir, const struct cg_resources *r,
		       struct berr *err)
{
	const char *wf, *df;
	weight_files(dir, &wf, &df);
	if ((r->blkio_weight || r->n_weight_devices) && !wf)
		return berr_setx(err, EOPNOTSUPP,
				 "linux.resources.blockIO."
				 "weight: neither blkio.weight nor "
				 "blkio.bfq.weight exists in %s (no CFQ or BFQ "
				 "I/O scheduler)",
				 dir);
	if (r->blkio_leaf_weight && !cg_res_exists(dir, "blkio.leaf_weight"))
		return missing("linux.resources.blockIO.leafWeight", dir,
			       "blkio.leaf_weight", err);
	if (leaf_devices(r) && !cg_res_exists(dir, "blkio.leaf_weight_device"))
		return missing("linux.resources.blockIO.weightDevice", dir,
			       "blkio.leaf_weight_device", err);
	for (size_t k = 0; k < ARRAY_SIZE(throttles); k++)
		if (rate_list(r, k)->n &&
		    !cg_res_exists(dir, throttles[k].file))
			return missing(throttles[k].field, dir,
				       throttles[k].file, err);
	return 0;
}

static int write_weight_devices(const char *dir, const char *df,
				const struct cg_resources *r, struct berr *err)
{
	for (size_t i = 0; i < r->n_weight_devices; i++) {
		const struct cg_weight_device *d = &r->weight_devices[i];
		char line[96];
		int ret = 0;
		if (d->weight) {
			snprintf(line, sizeof(line),
				 "%" PRId64 ":%" PRId64 " %u", d->major,
				 d->minor, d->weight);
			ret = cg_res_write(dir, df, line, err);
		}
		if (ret == 0 && d->leaf_weight) {
			snprintf(line, sizeof(line),
				 "%" PRId64 ":%" PRId64 " %u", d->major,
				 d->minor, d->leaf_weight);
			ret = cg_res_write(dir, "blkio.leaf_weight_device",
					   line, err);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int write_blkio(const char *dir, const struct cg_resources *r,
		       struct berr *err)
{
	const char *wf, *df;
	weight_files(dir, &wf, &df);
	int ret = 0;
	if (r->blkio_weight)
		ret = write_u64(dir, wf, r->blkio_weight, err);
	if (ret == 0 && r->blkio_leaf_weight)
		ret = write_u64(dir, "blkio.leaf_weight", r->blkio_leaf_weight,
				err);
	if (ret == 0)
		ret = write_weight_devices(dir, df, r, err);
	for (size_t k = 0; ret == 0 && k < ARRAY_SIZE(throttles); k++) {
		const struct cg_rate_list *l = rate_list(r, k);
		for (size_t i = 0; ret == 0 && i < l->n; i++) {
			char line[96];
			snprintf(line, sizeof(line),
				 "%" PRId64 ":%" PRId64 " %" PRIu64,
				 l->v[i].major, l->v[i].minor, l->v[i].rate);
			ret = cg_res_write(dir, throttles[k].file, line, err);
		}
	}
	return ret;
}

/* ---- hugetlb, net_cls, net_prio ---- */

static int check_hugetlb(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	for (size_t i = 0; i < r->n_hugetlb; i++) {
		_cleanup_free_ char *f = base_sprintf(
			"hugetlb.%s.limit_in_bytes", r->hugetlb[i].page_size);
		if (!cg_res_exists(dir, f))
			return berr_setx(err, EINVAL,
					 "linux.resources."
					 "hugepageLimits[%zu].pageSize: %s is "
					 "not a huge page size of this host "
					 "(no %s in %s)",
					 i, r->hugetlb[i].page_size, f, dir);
	}
	return 0;
}

static int write_hugetlb(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	for (size_t i = 0; i < r->n_hugetlb; i++) {
		_cleanup_free_ char *f = base_sprintf(
			"hugetlb.%s.limit_in_bytes", r->hugetlb[i].page_size);
		int ret = write_u64(dir, f, r->hugetlb[i].limit, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int write_net_prio(const char *dir, const struct cg_resources *r,
			  struct berr *err)
{
	for (size_t i = 0; i < r->n_net_prio; i++) {
		_cleanup_free_ char *line = base_sprintf(
			"%s %u", r->net_prio[i].ifname, r->net_prio[i].prio);
		int ret = cg_res_write(dir, "net_prio.ifpriomap", line, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- devices ---- */

static void number(char *buf, int64_t v)
{
	if (v == CG_ANY)
		strcpy(buf, "*");
	else
		snprintf(buf, NUM_MAX, "%" PRId64, v);
}

/* One rule as the kernel reads it. The kernel takes a bare "a" as every
 * device with every access whatever follows, so a narrower rule on all
 * types becomes one rule for 'c' and one for 'b'. */
static int write_rule(const char *dir, const struct cg_device_rule *d,
		      struct berr *err)
{
	const char *file = d->allow ? "devices.allow" : "devices.deny";
	const char *access = d->access && *d->access ? d->access : "rwm";
	bool all_access = strchr(access, 'r') && strchr(access, 'w') &&
			  strchr(access, 'm');
	if (d->type == 'a' && d->major == CG_ANY && d->minor == CG_ANY &&
	    all_access)
		return cg_res_write(dir, file, "a", err);
	char maj[NUM_MAX], min[NUM_MAX], line[128];
	number(maj, d->major);
	number(min, d->minor);
	const char *types = d->type == 'a' ? "cb" : (char[]){d->type, 0};
	for (const char *t = types; *t; t++) {
		snprintf(line, sizeof(line), "%c %s:%s %s", *t, maj, min,
			 access);
		int ret = cg_res_write(dir, file, line, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Deny everything, then the rules in order: what they do not allow
 * stays denied, as the spec wants. */
static int write_devices(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	int ret = cg_res_write(dir, "devices.deny", "a", err);
	for (size_t i = 0; ret == 0 && i < r->n_devices; i++)
		ret = write_rule(dir, &r->devices[i], err);
	return ret;
}

/* ---- dispatch ---- */

int cg_v1_res_check(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err)
{
	switch (c) {
	case CG_CTL_CPUSET:
		return check_cpuset(dir, r, err);
	case CG_CTL_MEMORY:
		return check_memory(dir, r, err);
	case CG_CTL_CPU:
		return check_cpu(dir, r, err);
	case CG_CTL_BLKIO:
		return check_blkio(dir, r, err);
	case CG_CTL_HUGETLB:
		return check_hugetlb(dir, r, err);
	default:
		return 0;
	}
}

int cg_v1_res_write(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err)
{
	switch (c) {
	case CG_CTL_CPUSET:
		return write_cpuset(dir, r, err);
	case CG_CTL_DEVICES:
		return write_devices(dir, r, err);
	case CG_CTL_MEMORY:
		return write_memory(dir, r, err);
	case CG_CTL_CPU:
		return write_cpu(dir, r, err);
	case CG_CTL_PIDS:
		return write_pids(dir, r, err);
	case CG_CTL_BLKIO:
		return write_blkio(dir, r, err);
	case CG_CTL_HUGETLB:
		return write_hugetlb(dir, r, err);
	case CG_CTL_NET_CLS:
		return write_u64(dir, "net_cls.classid", r->net_classid, err);
	case CG_CTL_NET_PRIO:
		return write_net_prio(dir, r, err);
	case CG_CTL_RDMA:
		return cg_res_write_rdma(dir, r, err);
	case CG_CTL__COUNT:
		break;
	}
	return 0;
}
