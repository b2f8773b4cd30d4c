/* Resource limits on the unified hierarchy (cgroup v2, or the controllers
 * a hybrid host gives it), with runc's conversions from the spec's v1
 * terms: shares to cpu.weight, memory+swap to memory.swap.max, blkio
 * weights to io.weight. */
#include <inttypes.h>
#include <string.h>

#include "cgroups/cgroups-internal.h"

#define NUM_MAX 32

/* -1 (or any negative) is "max" in every v2 file. */
static const char *num_or_max(char *buf, int64_t v)
{
	if (v < 0)
		return "max";
	snprintf(buf, NUM_MAX, "%" PRId64, v);
	return buf;
}

static int write_num(const char *dir, const char *file, int64_t v,
		     struct berr *err)
{
	char b[NUM_MAX];
	return cg_res_write(dir, file, num_or_max(b, v), err);
}

static int missing(const char *field, const char *dir, const char *file,
		   struct berr *err)
{
	return berr_setx(err, EOPNOTSUPP,
			 "%s: not supported here (no %s in "
			 "%s)",
			 field, file, dir);
}

/* Reads a "max"-or-number file: -1 for "max". */
static int read_num(const char *dir, const char *file, int64_t *v)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r < 0)
		return r;
	if (!strcmp(s, "max")) {
		*v = -1;
		return 0;
	}
	return base_parse_i64(s, v);
}

/* ---- memory ---- */

/* The memory limit swap is measured against: the requested one, else the
 * group's current memory.max. */
static int swap_base(const char *dir, const struct cg_resources *r,
		     int64_t *limit, struct berr *err)
{
	if (r->has_memory_limit) {
		*limit = r->memory_limit;
		return 0;
	}
	int ret = read_num(dir, "memory.max", limit);
	if (ret < 0)
		return berr_set(err, -ret, "read %s/memory.max", dir);
	return 0;
}

static int check_memory(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	static const char pre[] = "linux.resources.memory";
	if (r->has_memory_swap && r->memory_swap != -1) {
		int64_t limit;
		int ret = swap_base(dir, r, &limit, err);
		if (ret < 0)
			return ret;
		if (limit < 0 || r->memory_swap < limit)
			return berr_setx(err, EINVAL,
					 "%s.swap (%" PRId64 ") "
					 "must be >= memory.limit (%s)",
					 pre, r->memory_swap,
					 limit < 0 ? "unlimited" : "current");
		if (r->memory_swap != limit &&
		    !cg_res_exists(dir, "memory.swap.max"))
			return berr_setx(err, EOPNOTSUPP,
					 "%s.swap: swap "
					 "accounting is off (no memory.swap.max"
					 " in %s)",
					 pre, dir);
	}
	if (r->check_before_update && r->has_memory_limit &&
	    r->memory_limit > 0) {
		int64_t usage = 0;
		int ret = read_num(dir, "memory.current", &usage);
		if (ret < 0)
			return berr_set(err, -ret, "read %s/memory.current",
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

static int write_swap(const char *dir, const struct cg_resources *r,
		      struct berr *err)
{
	int64_t swap;
	if (r->has_memory_swap && r->memory_swap != -1) {
		int64_t limit;
		int ret = swap_base(dir, r, &limit, err);
		if (ret < 0)
			return ret;
		swap = r->memory_swap - limit;
	} else if (r->has_memory_swap ||
		   (r->has_memory_limit && r->memory_limit == -1)) {
		/* unlimited memory and no word on swap: unlimited swap */
		swap = -1;
	} else {
		return 0;
	}
	if (!cg_res_exists(dir, "memory.swap.max"))
		return 0; /* checked: swap == limit, or unlimited */
	return write_num(dir, "memory.swap.max", swap, err);
}

static int write_memory(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	int ret = write_swap(dir, r, err);
	if (ret == 0 && r->has_memory_limit)
		ret = write_num(dir, "memory.max", r->memory_limit, err);
	if (ret == 0 && r->has_memory_reservation)
		ret = write_num(dir, "memory.low", r->memory_reservation, err);
	if (r->has_swappiness || r->has_oom_kill_disable ||
	    r->has_use_hierarchy)
		blog_debug("cgroup %s: memory swappiness, disableOOMKiller and "
			   "useHierarchy do not exist on cgroup v2",
			   dir);
	return ret;
}

/* ---- cpu, cpuset, pids ---- */

static int check_cpu(const char *dir, const struct cg_resources *r,
		     struct berr *err)
{
	if ((r->has_rt_runtime && r->rt_runtime != 0) ||
	    (r->has_rt_period && r->rt_period != 0))
		return berr_setx(err, EOPNOTSUPP,
				 "linux.resources.cpu."
				 "realtimeRuntime: real-time scheduling is not "
				 "supported on cgroup v2");
	if (r->has_cpu_burst && r->cpu_burst &&
	    !cg_res_exists(dir, "cpu.max.burst"))
		return missing("linux.resources.cpu.burst", dir,
			       "cpu.max.burst", err);
	if (r->has_cpu_idle && !cg_res_exists(dir, "cpu.idle"))
		return missing("linux.resources.cpu.idle", dir, "cpu.idle",
			       err);
	return 0;
}

/* cpu.max is "QUOTA PERIOD"; a period alone keeps the current quota. */
static int write_cpu_max(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	char q[NUM_MAX], line[2 * NUM_MAX];
	_cleanup_free_ char *cur = NULL;
	const char *quota;
	if (r->has_cpu_quota) {
		quota = num_or_max(q, r->cpu_quota);
	} else {
		int ret = cg_res_read(dir, "cpu.max", &cur);
		if (ret < 0)
			return berr_set(err, -ret, "read %s/cpu.max", dir);
		cur[strcspn(cur, " ")] = '\0';
		quota = cur;
	}
	if (r->has_cpu_period)
		snprintf(line, sizeof(line), "%s %" PRIu64, quota,
			 r->cpu_period);
	else
		snprintf(line, sizeof(line), "%s", quota);
	return cg_res_write(dir, "cpu.max", line, err);
}

static int write_cpu(const char *dir, const struct cg_resources *r,
		     struct berr *err)
{
	int ret = 0;
	if (r->has_cpu_shares)
		ret = write_num(dir, "cpu.weight",
				(int64_t)cg_cpu_shares_to_weight(r->cpu_shares),
				err);
	if (ret == 0 && (r->has_cpu_quota || r->has_cpu_period))
		ret = write_cpu_max(dir, r, err);
	if (ret == 0 && r->has_cpu_burst &&
	    (r->cpu_burst || cg_res_exists(dir, "cpu.max.burst")))
		ret = write_num(dir, "cpu.max.burst", (int64_t)r->cpu_burst,
				err);
	if (ret == 0 && r->has_cpu_idle)
		ret = write_num(dir, "cpu.idle", r->cpu_idle, err);
	return ret;
}

static int check_cpuset(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	int ret = 0;
	if (r->cpuset_cpus && *r->cpuset_cpus)
		ret = cg_res_check_cpuset(dir, r->cpuset_cpus,
					  "cpuset.cpus.effective",
					  "linux.resources.cpu.cpus", err);
	if (ret == 0 && r->cpuset_mems && *r->cpuset_mems)
		ret = cg_res_check_cpuset(dir, r->cpuset_mems,
					  "cpuset.mems.effective",
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

/* ---- io ---- */

static bool has_throttles(const struct cg_resources *r)
{
	return r->read_bps.n || r->write_bps.n || r->read_iops.n ||
	       r->write_iops.n;
}

static int check_io(const char *dir, const struct cg_resources *r,
		    struct berr *err)
{
	bool weights = r->blkio_weight || r->n_weight_devices;
	if (weights && !cg_res_exists(dir, "io.bfq.weight") &&
	    !cg_res_exists(dir, "io.weight"))
		return berr_setx(err, EOPNOTSUPP,
				 "linux.resources.blockIO."
				 "weight: neither io.weight nor io.bfq.weight "
				 "exists in %s",
				 dir);
	if (has_throttles(r) && !cg_res_exists(dir, "io.max"))
		return missing("linux.resources.blockIO.throttle", dir,
			       "io.max", err);
	return 0;
}

/* BFQ takes the blkio scale as is; io.weight needs it converted. */
static int write_io_weights(const char *dir, const struct cg_resources *r,
			    struct berr *err)
{
	bool bfq = cg_res_exists(dir, "io.bfq.weight");
	const char *file = bfq ? "io.bfq.weight" : "io.weight";
	char line[96];
	int ret = 0;
	if (r->blkio_weight) {
		uint64_t w =
			bfq ? r->blkio_weight
			    : cg_blkio_weight_to_io_weight(r->blkio_weight);
		snprintf(line, sizeof(line), "default %" PRIu64, w);
		ret = cg_res_write(dir, file, line, err);
	}
	for (size_t i = 0; ret == 0 && i < r->n_weight_devices; i++) {
		const struct cg_weight_device *d = &r->weight_devices[i];
		if (!d->weight)
			continue;
		uint64_t w = bfq ? d->weight
				 : cg_blkio_weight_to_io_weight(d->weight);
		snprintf(line, sizeof(line), "%" PRId64 ":%" PRId64 " %" PRIu64,
			 d->major, d->minor, w);
		ret = cg_res_write(dir, file, line, err);
	}
	if (r->blkio_leaf_weight)
		blog_debug("cgroup %s: blockIO.leafWeight does not exist on "
			   "cgroup v2",
			   dir);
	return ret;
}

static int write_io_max(const char *dir, const struct cg_rate_list *l,
			const char *key, struct berr *err)
{
	for (size_t i = 0; i < l->n; i++) {
		char line[128];
		snprintf(line, sizeof(line),
			 "%" PRId64 ":%" PRId64 " %s=%" PRIu64, l->v[i].major,
			 l->v[i].minor, key, l->v[i].rate);
		int ret = cg_res_write(dir, "io.max", line, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int write_io(const char *dir, const struct cg_resources *r,
		    struct berr *err)
{
	return write_io_weights(dir, r, err)
		?: write_io_max(dir, &r->read_bps, "rbps", err)
		?: write_io_max(dir, &r->write_bps, "wbps", err)
		?: write_io_max(dir, &r->read_iops, "riops", err)
		?: write_io_max(dir, &r->write_iops, "wiops", err);
}

/* ---- hugetlb, rdma ---- */

static int check_hugetlb(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	for (size_t i = 0; i < r->n_hugetlb; i++) {
		_cleanup_free_ char *f =
			base_sprintf("hugetlb.%s.max", r->hugetlb[i].page_size);
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

/* The reservation limit (Linux 5.7) follows the fault limit, as runc
 * sets it, so that reserved but unfaulted pages are bounded too. */
static int write_hugetlb(const char *dir, const struct cg_resources *r,
			 struct berr *err)
{
	for (size_t i = 0; i < r->n_hugetlb; i++) {
		const char *size = r->hugetlb[i].page_size;
		int64_t v = (int64_t)r->hugetlb[i].limit;
		if (r->hugetlb[i].limit > (uint64_t)INT64_MAX)
			v = -1;
		_cleanup_free_ char *f = base_sprintf("hugetlb.%s.max", size);
		_cleanup_free_ char *rf =
			base_sprintf("hugetlb.%s.rsvd.max", size);
		int ret = write_num(dir, f, v, err);
		if (ret == 0 && cg_res_exists(dir, rf))
			ret = write_num(dir, rf, v, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- dispatch ---- */

int cg_v2_res_check(enum cg_ctl c, const char *dir,
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
		return check_io(dir, r, err);
	case CG_CTL_HUGETLB:
		return check_hugetlb(dir, r, err);
	case CG_CTL_DEVICES:
		return cg_v2_devices_check(r, err);
	case CG_CTL_RDMA:
		if (!cg_res_exists(dir, "rdma.max"))
			return missing("linux.resources.rdma", dir, "rdma.max",
				       err);
		return 0;
	default:
		return 0;
	}
}

int cg_v2_res_write(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err)
{
	switch (c) {
	case CG_CTL_CPUSET:
		return write_cpuset(dir, r, err);
	case CG_CTL_MEMORY:
		return write_memory(dir, r, err);
	case CG_CTL_CPU:
		return write_cpu(dir, r, err);
	case CG_CTL_PIDS:
		return write_num(dir, "pids.max", r->pids_limit, err);
	case CG_CTL_BLKIO:
		return write_io(dir, r, err);
	case CG_CTL_HUGETLB:
		return write_hugetlb(dir, r, err);
	case CG_CTL_DEVICES:
		return cg_v2_devices_write(dir, r, err);
	case CG_CTL_RDMA:
		return cg_res_write_rdma(dir, r, err);
	default:
		return 0;
	}
}

/* ---- unified keys ---- */

static int check_key(const struct cg_group *g, const char *dir, const char *key,
		     const char *controllers, struct berr *err)
{
	const char *dot = key ? strchr(key, '.') : NULL;
	if (!dot || dot == key || strchr(key, '/') || !dot[1])
		return berr_setx(err, EINVAL,
				 "unified key `%s`: not a cgroup "
				 "file name",
				 key ? key : "");
	_cleanup_free_ char *ctl = base_sprintf("%.*s", (int)(dot - key), key);
	bool core = !strcmp(ctl, "cgroup");
	if (!core && g->lo->mode == CG_MODE_HYBRID &&
	    cg_layout_find(g->lo, ctl) >= 0)
		return berr_setx(err, EOPNOTSUPP,
				 "unified key `%s`: needs "
				 "cgroup v2, and controller %s is on a cgroup "
				 "v1 hierarchy here",
				 key, ctl);
	if (cg_res_exists(dir, key))
		return 0;
	if (!core && !cg_res_has_word(controllers, ctl))
		return berr_setx(err, EOPNOTSUPP,
				 "unified key `%s`: controller"
				 " %s is not enabled",
				 key, ctl);
	return berr_setx(err, ENOENT, "unified key `%s`: no such file in %s",
			 key, dir);
}

int cg_v2_unified_check(const struct cg_group *g, const char *dir,
			const struct cg_resources *r, struct berr *err)
{
	_cleanup_free_ char *controllers = NULL;
	int ret = cg_res_read(dir, "cgroup.controllers", &controllers);
	if (ret < 0)
		return berr_set(err, -ret, "read %s/cgroup.controllers", dir);
	for (size_t i = 0; i < r->n_unified; i++) {
		ret = check_key(g, dir, r->unified[i].key, controllers, err);
		if (ret < 0)
			return ret;
		if (!r->unified[i].value)
			return berr_setx(err, EINVAL,
					 "unified key `%s`: no "
					 "value",
					 r->unified[i].key);
	}
	return 0;
}

int cg_v2_unified_write(const char *dir, const struct cg_resources *r,
			struct berr *err)
{
	for (size_t i = 0; i < r->n_unified; i++) {
		int ret = cg_res_write(dir, r->unified[i].key,
				       r->unified[i].value, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}
