/* What the kernel accounts for a group (cg_stats) and OOM notification
 * (cg_oom_watch). Each controller is read from the hierarchy that owns it,
 * v1 files or the unified hierarchy's, and converted to the units runc
 * reports, so that `berth events` says the same on every host layout. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"

/* ---- reading ---- */

/* Where a controller's files are: its v1 hierarchy when one is mounted,
 * else the unified hierarchy when the group has the controller there.
 * NULL when neither. */
static const char *ctl_dir(struct cg_group *g, const char *v1, const char *v2,
			   bool *is_v2)
{
	*is_v2 = false;
	if (g->lo->mode != CG_MODE_V2) {
		struct cg_dir *d = cg_group_dir(g, v1);
		if (d)
			return d->path;
	}
	if (g->lo->v2 < 0 || !v2)
		return NULL;
	const char *dir = g->dirs[g->lo->v2].path;
	_cleanup_free_ char *have = NULL;
	/* cpu.stat is a core file: usage is there without the controller */
	if (strcmp(v2, "cpu") &&
	    (cg_res_read(dir, "cgroup.controllers", &have) < 0 ||
	     !cg_res_has_word(have, v2)))
		return NULL;
	*is_v2 = true;
	return dir;
}

/* A number, "max" (UINT64_MAX) or a negative one (0). Missing: 0. */
static int read_u64(const char *dir, const char *file, uint64_t *v)
{
	_cleanup_free_ char *s = NULL;
	*v = 0;
	int r = cg_res_read(dir, file, &s);
	if (r == -ENOENT || r == -EOPNOTSUPP)
		return 0;
	if (r < 0)
		return r;
	if (!strcmp(s, "max")) {
		*v = UINT64_MAX;
		return 0;
	}
	if (s[0] == '-')
		return 0; /* -1: v1's "no relax level" and the like */
	return base_parse_u64(s, v) < 0 ? -EINVAL : 0;
}

/* Calls fn for each "key value" line of a flat keyed file. A missing
 * file has no lines. */
typedef void (*kv_fn)(const char *key, uint64_t v, void *data);

static int read_keyed(const char *dir, const char *file, kv_fn fn, void *data)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *l = strtok_r(s, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(l, ' ');
		uint64_t v;
		if (!sp)
			continue;
		*sp = '\0';
		if (base_parse_u64(sp + 1, &v) == 0)
			fn(l, v, data);
	}
	return 0;
}

/* A table of fields filled from a keyed file. */
struct kv_map {
	const char *key;
	uint64_t *dst;
	uint64_t scale;
};

static void map_fn(const char *key, uint64_t v, void *data)
{
	for (const struct kv_map *m = data; m->key; m++)
		if (!strcmp(m->key, key))
			*m->dst = v * (m->scale ? m->scale : 1);
}

static void push_u64(struct cg_u64_list *l, uint64_t v)
{
	l->v = base_realloc(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = v;
}

/* "123 456 789" */
static int read_list(const char *dir, const char *file, struct cg_u64_list *l)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *w = strtok_r(s, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save)) {
		uint64_t v;
		if (base_parse_u64(w, &v) == 0)
			push_u64(l, v);
	}
	return 0;
}

/* "0-3,5" -> 0 1 2 3 5 */
static int read_range_list(const char *dir, const char *file,
			   struct cg_u64_list *l)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *w = strtok_r(s, ",\n", &save); w;
	     w = strtok_r(NULL, ",\n", &save)) {
		unsigned long lo = 0, hi = 0;
		int n = sscanf(w, "%lu-%lu", &lo, &hi);
		if (n < 1)
			continue;
		if (n == 1)
			hi = lo;
		for (unsigned long i = lo; i <= hi && i - lo < 65536; i++)
			push_u64(l, i);
	}
	return 0;
}

/* ---- cpu, cpuset ---- */

static int cpu_v1(struct cg_stats *s, const char *acct, const char *cpu)
{
	int r = 0;
	if (acct) {
		uint64_t user = 0, sys = 0;
		long hz = sysconf(_SC_CLK_TCK);
		const struct kv_map ticks[] = {
			{"user", &user, 0}, {"system", &sys, 0}, {0}};
		r = read_u64(acct, "cpuacct.usage", &s->cpu.total)
			?: read_list(acct, "cpuacct.usage_percpu",
				     &s->cpu.percpu)
			?: read_list(acct, "cpuacct.usage_percpu_sys",
				     &s->cpu.percpu_kernel)
			?: read_list(acct, "cpuacct.usage_percpu_user",
				     &s->cpu.percpu_user)
			?: read_keyed(acct, "cpuacct.stat", map_fn,
				      (void *)ticks);
		/* cpuacct.stat counts USER_HZ ticks */
		s->cpu.user =
			user * (1000000000u / (uint64_t)(hz > 0 ? hz : 100));
		s->cpu.kernel =
			sys * (1000000000u / (uint64_t)(hz > 0 ? hz : 100));
	}
	if (r == 0 && cpu) {
		const struct kv_map thr[] = {
			{"nr_periods", &s->cpu.periods, 0},
			{"nr_throttled", &s->cpu.throttled_periods, 0},
			{"throttled_time", &s->cpu.throttled_time, 0},
			{0}};
		r = read_keyed(cpu, "cpu.stat", map_fn, (void *)thr);
	}
	return r;
}

static int cpu_v2(struct cg_stats *s, const char *dir)
{
	const struct kv_map m[] = {
		{"usage_usec", &s->cpu.total, 1000},
		{"user_usec", &s->cpu.user, 1000},
		{"system_usec", &s->cpu.kernel, 1000},
		{"nr_periods", &s->cpu.periods, 0},
		{"nr_throttled", &s->cpu.throttled_periods, 0},
		{"throttled_usec", &s->cpu.throttled_time, 1000},
		{0}};
	return read_keyed(dir, "cpu.stat", map_fn, (void *)m);
}

static int stat_cpu(struct cg_group *g, struct cg_stats *s)
{
	bool v2a, v2c;
	const char *acct = ctl_dir(g, "cpuacct", "cpu", &v2a);
	const char *cpu = ctl_dir(g, "cpu", "cpu", &v2c);
	if (acct && v2a)
		return cpu_v2(s, acct);
	return cpu_v1(s, acct, cpu && !v2c ? cpu : NULL);
}

static int stat_cpuset(struct cg_group *g, struct cg_stats *s)
{
	bool v2;
	const char *dir = ctl_dir(g, "cpuset", "cpuset", &v2);
	s->cpuset.sched_relax_domain_level = 0;
	if (!dir)
		return 0;
	if (v2)
		return read_range_list(dir, "cpuset.cpus.effective",
				       &s->cpuset.cpus)
			       ?: read_range_list(dir, "cpuset.mems.effective",
						  &s->cpuset.mems);
	const struct {
		const char *file;
		uint64_t *dst;
	} flags[] = {
		{"cpuset.cpu_exclusive", &s->cpuset.cpu_exclusive},
		{"cpuset.mem_hardwall", &s->cpuset.mem_hardwall},
		{"cpuset.mem_exclusive", &s->cpuset.mem_exclusive},
		{"cpuset.memory_migrate", &s->cpuset.memory_migrate},
		{"cpuset.memory_spread_page", &s->cpuset.memory_spread_page},
		{"cpuset.memory_spread_slab", &s->cpuset.memory_spread_slab},
		{"cpuset.memory_pressure", &s->cpuset.memory_pressure},
		{"cpuset.sched_load_balance", &s->cpuset.sched_load_balance},
	};
	int r = read_range_list(dir, "cpuset.cpus", &s->cpuset.cpus)
			?: read_range_list(dir, "cpuset.mems", &s->cpuset.mems);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(flags); i++)
		r = read_u64(dir, flags[i].file, flags[i].dst);
	_cleanup_free_ char *lvl = NULL;
	int64_t v;
	if (r == 0 &&
	    cg_res_read(dir, "cpuset.sched_relax_domain_level", &lvl) == 0 &&
	    base_parse_i64(lvl, &v) == 0)
		s->cpuset.sched_relax_domain_level = v;
	return r;
}

/* ---- memory ---- */

static void raw_fn(const char *key, uint64_t v, void *data)
{
	struct cg_stats *s = data;
	s->memory.raw = base_realloc(s->memory.raw, s->memory.n_raw + 1,
				     sizeof(*s->memory.raw));
	s->memory.raw[s->memory.n_raw++] =
		(struct cg_stat_kv){base_strdup(key), v};
}

static uint64_t raw_get(const struct cg_stats *s, const char *key)
{
	for (size_t i = 0; i < s->memory.n_raw; i++)
		if (!strcmp(s->memory.raw[i].key, key))
			return s->memory.raw[i].value;
	return 0;
}

/* memory.<prefix>usage_in_bytes and its three siblings */
static int mem_entry_v1(const char *dir, const char *prefix,
			struct cg_mem_entry *e)
{
	_cleanup_free_ char *u =
		base_sprintf("memory.%susage_in_bytes", prefix);
	_cleanup_free_ char *m =
		base_sprintf("memory.%smax_usage_in_bytes", prefix);
	_cleanup_free_ char *f = base_sprintf("memory.%sfailcnt", prefix);
	_cleanup_free_ char *l =
		base_sprintf("memory.%slimit_in_bytes", prefix);
	return read_u64(dir, u, &e->usage) ?: read_u64(dir, m, &e->max)
		?: read_u64(dir, f, &e->failcnt) ?: read_u64(dir, l, &e->limit);
}

static int memory_v1(struct cg_stats *s, const char *dir)
{
	const struct kv_map oom[] = {{"oom_kill", &s->memory.oom_kill, 0}, {0}};
	int r = mem_entry_v1(dir, "", &s->memory.usage)
		?: mem_entry_v1(dir, "memsw.", &s->memory.swap)
		?: mem_entry_v1(dir, "kmem.", &s->memory.kernel)
		?: mem_entry_v1(dir, "kmem.tcp.", &s->memory.kernel_tcp)
		?: read_keyed(dir, "memory.stat", raw_fn, s)
		?: read_keyed(dir, "memory.oom_control", map_fn, (void *)oom);
	s->memory.cache = raw_get(s, "cache");
	return r;
}

/* v2 keeps swap apart from memory; runc reports memory + swap, as v1's
 * memsw does. memory.peak (Linux 5.19) is the maximum usage. */
static int memory_v2(struct cg_stats *s, const char *dir)
{
	struct cg_mem_entry *u = &s->memory.usage, *w = &s->memory.swap;
	const struct kv_map ev[] = {{"low", &s->memory.ev_low, 0},
				    {"high", &s->memory.ev_high, 0},
				    {"max", &s->memory.ev_max, 0},
				    {"oom", &s->memory.ev_oom, 0},
				    {"oom_kill", &s->memory.oom_kill, 0},
				    {0}};
	int r = read_u64(dir, "memory.current", &u->usage)
		?: read_u64(dir, "memory.max", &u->limit)
		?: read_u64(dir, "memory.peak", &u->max)
		?: read_u64(dir, "memory.swap.current", &w->usage)
		?: read_u64(dir, "memory.swap.max", &w->limit)
		?: read_u64(dir, "memory.swap.peak", &w->max)
		?: read_keyed(dir, "memory.stat", raw_fn, s)
		?: read_keyed(dir, "memory.events", map_fn, (void *)ev);
	if (r < 0)
		return r;
	if (!cg_res_exists(dir, "memory.swap.current"))
		*w = (struct cg_mem_entry){0}; /* no swap accounting */
	w->usage += u->usage;
	if (w->limit != UINT64_MAX)
		w->limit = u->limit == UINT64_MAX ? UINT64_MAX
						  : w->limit + u->limit;
	s->memory.cache = raw_get(s, "file");
	return 0;
}

static int stat_memory(struct cg_group *g, struct cg_stats *s)
{
	bool v2;
	const char *dir = ctl_dir(g, "memory", "memory", &v2);
	if (!dir)
		return 0;
	return v2 ? memory_v2(s, dir) : memory_v1(s, dir);
}

static int stat_pids(struct cg_group *g, struct cg_stats *s)
{
	bool v2;
	const char *dir = ctl_dir(g, "pids", "pids", &v2);
	if (!dir)
		return 0;
	int r = read_u64(dir, "pids.current", &s->pids.current)
			?: read_u64(dir, "pids.max", &s->pids.limit);
	if (s->pids.limit == UINT64_MAX)
		s->pids.limit = 0; /* runc: no limit */
	return r;
}

/* ---- block I/O ---- */

static void push_blkio(struct cg_blkio_list *l, uint64_t major, uint64_t minor,
		       const char *op, uint64_t v)
{
	l->v = base_realloc(l->v, l->n + 1, sizeof(*l->v));
	struct cg_blkio_entry *e = &l->v[l->n++];
	*e = (struct cg_blkio_entry){
		.major = major, .minor = minor, .value = v};
	snprintf(e->op, sizeof(e->op), "%s", op);
}

/* "8:0 Read 123" lines, "8:0 123" ones (time, sectors); the grand
 * "Total 456" line is left out, as runc does. */
static int read_blkio_file(const char *dir, const char *file,
			   struct cg_blkio_list *l)
{
	_cleanup_free_ char *s = NULL;
	int r = cg_res_read(dir, file, &s);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long ma, mi, v;
		char op[16];
		if (sscanf(line, "%llu:%llu %15s %llu", &ma, &mi, op, &v) == 4)
			push_blkio(l, ma, mi, op, v);
		else if (sscanf(line, "%llu:%llu %llu", &ma, &mi, &v) == 3)
			push_blkio(l, ma, mi, "", v);
	}
	return 0;
}

/* CFQ's files when they count anything, else BFQ's, else the throttling
 * layer's, which every kernel with blkio has. */
static int blkio_v1(struct cg_stats *s, const char *dir)
{
	static const char *const cfq[CG_BLKIO__COUNT] = {
		"blkio.io_service_bytes_recursive",
		"blkio.io_serviced_recursive",
		"blkio.io_queued_recursive",
		"blkio.io_service_time_recursive",
		"blkio.io_wait_time_recursive",
		"blkio.io_merged_recursive",
		"blkio.time_recursive",
		"blkio.sectors_recursive",
	};
	static const char *const bfq[CG_BLKIO__COUNT] = {
		"blkio.bfq.io_service_bytes_recursive",
		"blkio.bfq.io_serviced_recursive",
	};
	static const char *const thr[CG_BLKIO__COUNT] = {
		"blkio.throttle.io_service_bytes_recursive",
		"blkio.throttle.io_serviced_recursive",
	};
	const char *const *srcs[] = {cfq, bfq, thr};
	for (size_t k = 0; k < ARRAY_SIZE(srcs); k++) {
		int r = 0;
		for (int t = 0; r == 0 && t < CG_BLKIO__COUNT; t++)
			if (srcs[k][t])
				r = read_blkio_file(dir, srcs[k][t],
						    &s->blkio[t]);
		if (r < 0)
			return r;
		if (s->blkio[CG_BLKIO_SERVICED].n || k == ARRAY_SIZE(srcs) - 1)
			return 0;
		for (int t = 0; t < CG_BLKIO__COUNT; t++) {
			free(s->blkio[t].v);
			s->blkio[t] = (struct cg_blkio_list){0};
		}
	}
	return 0;
}

/* io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6" */
static int blkio_v2(struct cg_stats *s, const char *dir)
{
	static const struct {
		const char *key, *op;
		enum cg_blkio_table t;
	} keys[] = {
		{"rbytes", "Read", CG_BLKIO_SERVICE_BYTES},
		{"wbytes", "Write", CG_BLKIO_SERVICE_BYTES},
		{"dbytes", "Discard", CG_BLKIO_SERVICE_BYTES},
		{"rios", "Read", CG_BLKIO_SERVICED},
		{"wios", "Write", CG_BLKIO_SERVICED},
		{"dios", "Discard", CG_BLKIO_SERVICED},
	};
	_cleanup_free_ char *text = NULL;
	int r = cg_res_read(dir, "io.stat", &text);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long ma, mi;
		int off = 0;
		if (sscanf(line, "%llu:%llu %n", &ma, &mi, &off) < 2)
			continue;
		char *wsave = NULL;
		for (char *w = strtok_r(line + off, " ", &wsave); w;
		     w = strtok_r(NULL, " ", &wsave)) {
			char *eq = strchr(w, '=');
			uint64_t v;
			if (!eq)
				continue;
			*eq = '\0';
			if (base_parse_u64(eq + 1, &v) < 0)
				continue;
			for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
				if (!strcmp(w, keys[k].key))
					push_blkio(&s->blkio[keys[k].t], ma, mi,
						   keys[k].op, v);
		}
	}
	return 0;
}

static int stat_blkio(struct cg_group *g, struct cg_stats *s)
{
	bool v2;
	const char *dir = ctl_dir(g, "blkio", "io", &v2);
	if (!dir)
		return 0;
	return v2 ? blkio_v2(s, dir) : blkio_v1(s, dir);
}

/* ---- hugetlb ---- */

static uint64_t page_bytes(const char *size)
{
	char *end = NULL;
	uint64_t v = strtoull(size, &end, 10);
	switch (end ? *end : 0) {
	case 'T':
		v <<= 10; /* fall through */
	case 'G':
		v <<= 10; /* fall through */
	case 'M':
		v <<= 10; /* fall through */
	case 'K':
		v <<= 10;
	}
	return v;
}

static int hugetlb_one(struct cg_stats *s, const char *dir, const char *size,
		       bool v2)
{
	struct cg_hugetlb_stats h = {.page_size = base_strdup(size)};
	int r;
	if (v2) {
		_cleanup_free_ char *cur =
			base_sprintf("hugetlb.%s.current", size);
		_cleanup_free_ char *ev =
			base_sprintf("hugetlb.%s.events", size);
		const struct kv_map m[] = {{"max", &h.failcnt, 0}, {0}};
		r = read_u64(dir, cur, &h.usage)
			    ?: read_keyed(dir, ev, map_fn, (void *)m);
	} else {
		_cleanup_free_ char *u =
			base_sprintf("hugetlb.%s.usage_in_bytes", size);
		_cleanup_free_ char *m =
			base_sprintf("hugetlb.%s.max_usage_in_bytes", size);
		_cleanup_free_ char *f =
			base_sprintf("hugetlb.%s.failcnt", size);
		r = read_u64(dir, u, &h.usage) ?: read_u64(dir, m, &h.max)
			?: read_u64(dir, f, &h.failcnt);
	}
	/* in page size order: 2MB before 1GB */
	size_t at = s->n_hugetlb;
	while (at > 0 &&
	       page_bytes(s->hugetlb[at - 1].page_size) > page_bytes(size))
		at--;
	s->hugetlb =
		base_realloc(s->hugetlb, s->n_hugetlb + 1, sizeof(*s->hugetlb));
	memmove(&s->hugetlb[at + 1], &s->hugetlb[at],
		(s->n_hugetlb - at) * sizeof(*s->hugetlb));
	s->hugetlb[at] = h;
	s->n_hugetlb++;
	return r;
}

/* The page sizes are those the group has files for. */
static int stat_hugetlb(struct cg_group *g, struct cg_stats *s)
{
	bool v2;
	const char *dir = ctl_dir(g, "hugetlb", "hugetlb", &v2);
	if (!dir)
		return 0;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	const char *suffix = v2 ? ".current" : ".usage_in_bytes";
	size_t sl = strlen(suffix);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t l = strlen(n);
		if (strncmp(n, "hugetlb.", 8) || l <= 8 + sl ||
		    strcmp(n + l - sl, suffix))
			continue;
		_cleanup_free_ char *size =
			base_sprintf("%.*s", (int)(l - 8 - sl), n + 8);
		if (strchr(size, '.'))
			continue; /* hugetlb.2MB.rsvd.current */
		int r = hugetlb_one(s, dir, size, v2);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- entry points ---- */

int cg_stats(struct cg_group *g, struct cg_stats *out, struct berr *err)
{
	static const struct {
		const char *what;
		int (*fn)(struct cg_group *g, struct cg_stats *s);
	} parts[] = {
		{"cpu", stat_cpu},	 {"cpuset", stat_cpuset},
		{"memory", stat_memory}, {"pids", stat_pids},
		{"blkio", stat_blkio},	 {"hugetlb", stat_hugetlb},
	};
	*out = (struct cg_stats){0};
	struct cg_dir *d = cg_procs_dir(g);
	if (d && access(d->path, F_OK) < 0)
		return berr_set(err, errno, "cgroup %s", d->path);
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		int r = parts[i].fn(g, out);
		if (r < 0) {
			cg_stats_free(out);
			return berr_set(err, -r, "read the %s statistics of %s",
					parts[i].what, cg_path(g));
		}
	}
	return 0;
}

void cg_stats_free(struct cg_stats *s)
{
	if (!s)
		return;
	free(s->cpu.percpu.v);
	free(s->cpu.percpu_kernel.v);
	free(s->cpu.percpu_user.v);
	free(s->cpuset.cpus.v);
	free(s->cpuset.mems.v);
	for (size_t i = 0; i < s->memory.n_raw; i++)
		free(s->memory.raw[i].key);
	free(s->memory.raw);
	for (int t = 0; t < CG_BLKIO__COUNT; t++)
		free(s->blkio[t].v);
	for (size_t i = 0; i < s->n_hugetlb; i++)
		free(s->hugetlb[i].page_size);
	free(s->hugetlb);
	*s = (struct cg_stats){0};
}

/* ---- OOM notification ---- */

struct cg_oom_watch {
	int fd;	    /* eventfd (v1) or inotify (v2) */
	int ctl_fd; /* v1: memory.oom_control, kept for the registration */
	bool v2;
	char *dir;
	uint64_t kills; /* the oom_kill count last seen */
	bool has_count; /* the kernel keeps that count */
};

static int oom_count(const struct cg_oom_watch *w, uint64_t *kills, bool *found)
{
	struct kv_map m[] = {{"oom_kill", kills, 0}, {0}};
	*kills = UINT64_MAX;
	int r = read_keyed(w->dir,
			   w->v2 ? "memory.events" : "memory.oom_control",
			   map_fn, m);
	*found = *kills != UINT64_MAX;
	if (!*found)
		*kills = 0;
	return r;
}

static int watch_v1(struct cg_oom_watch *w, struct berr *err)
{
	_cleanup_free_ char *f = base_sprintf("%s/memory.oom_control", w->dir);
	w->ctl_fd = open(f, O_RDONLY | O_CLOEXEC);
	if (w->ctl_fd < 0)
		return berr_set(err, errno, "open %s", f);
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0)
		return berr_set(err, errno, "eventfd");
	char line[64];
	snprintf(line, sizeof(line), "%d %d", w->fd, w->ctl_fd);
	return cg_res_write(w->dir, "cgroup.event_control", line, err);
}

static int watch_v2(struct cg_oom_watch *w, struct berr *err)
{
	_cleanup_free_ char *f = base_sprintf("%s/memory.events", w->dir);
	w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->fd < 0)
		return berr_set(err, errno, "inotify_init1");
	if (inotify_add_watch(w->fd, f, IN_MODIFY) < 0)
		return berr_set(err, errno, "watch %s", f);
	return 0;
}

int cg_oom_watch_open(struct cg_group *g, struct cg_oom_watch **out,
		      struct berr *err)
{
	bool v2;
	const char *dir = ctl_dir(g, "memory", "memory", &v2);
	if (!dir)
		return berr_setx(err, EOPNOTSUPP,
				 "cgroup %s: no memory controller, no OOM "
				 "notification",
				 cg_path(g));
	struct cg_oom_watch *w = base_calloc(1, sizeof(*w));
	w->fd = w->ctl_fd = -1;
	w->v2 = v2;
	w->dir = base_strdup(dir);
	int r = v2 ? watch_v2(w, err) : watch_v1(w, err);
	bool found = false;
	if (r == 0 && (r = oom_count(w, &w->kills, &found)) < 0)
		r = berr_set(err, -r, "read the OOM count of %s", dir);
	if (r < 0) {
		cg_oom_watch_free(w);
		return r;
	}
	w->has_count = found;
	*out = w;
	return 0;
}

int cg_oom_watch_fd(const struct cg_oom_watch *w)
{
	return w->fd;
}

/* Drains the wake-up; returns how many notifications it carried. */
static uint64_t drain(const struct cg_oom_watch *w)
{
	if (!w->v2) {
		uint64_t n = 0;
		return read(w->fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
	}
	char buf[4096];
	uint64_t n = 0;
	while (read(w->fd, buf, sizeof(buf)) > 0)
		n++;
	return n;
}

static bool under_oom(const struct cg_oom_watch *w)
{
	uint64_t under = 0;
	struct kv_map m[] = {{"under_oom", &under, 0}, {0}};
	read_keyed(w->dir, "memory.oom_control", map_fn, m);
	return under != 0;
}

/* v1 notifies when the group runs out of memory, before the killer has
 * picked and counted its victim: give the count a moment to move. A group
 * that stays out of memory without a kill (oom_kill_disable) counts
 * once. */
static uint64_t v1_kills_after_note(struct cg_oom_watch *w, uint64_t *kills)
{
	bool found;
	for (int i = 0; i < 40 && *kills <= w->kills; i++) {
		cg_sleep_ms(5);
		if (oom_count(w, kills, &found) < 0)
			return 0;
	}
	if (*kills > w->kills)
		return *kills - w->kills;
	return under_oom(w) ? 1 : 0;
}

int cg_oom_watch_check(struct cg_oom_watch *w, uint64_t *ooms, bool *gone)
{
	uint64_t notes = drain(w);
	uint64_t kills = 0;
	bool found = false;
	*ooms = 0;
	int r = oom_count(w, &kills, &found);
	/* v1 signals the eventfd when the group is removed, too */
	*gone = r == -ENOENT || access(w->dir, F_OK) < 0;
	if (*gone)
		return 0;
	if (r < 0)
		return r;
	if (!w->has_count) {
		*ooms = w->v2 ? 0 : notes;
		return 0;
	}
	if (!w->v2 && notes && kills <= w->kills)
		*ooms = v1_kills_after_note(w, &kills);
	else
		*ooms = kills > w->kills ? kills - w->kills : 0;
	if (kills > w->kills)
		w->kills = kills;
	return 0;
}

void cg_oom_watch_free(struct cg_oom_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	free(w->dir);
	free(w);
}
