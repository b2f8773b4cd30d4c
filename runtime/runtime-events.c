/* `events`: a container's cgroup statistics and OOM kills as runc prints
 * them. The JSON is written here with a small writer (cJSON belongs to
 * oci/), following what Go's encoding/json makes of runc's types: fields
 * in declaration order, omitempty numbers left out when 0, map keys
 * sorted, HTML characters escaped. */
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/timerfd.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

/* ---- a JSON writer ---- */

struct jw {
	char *buf;
	size_t len, cap;
};

static void jw_put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 1024;
		while (cap < w->len + n + 1)
			cap *= 2;
		w->buf = base_realloc(w->buf, cap, 1);
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void jw_raw(struct jw *w, const char *s)
{
	jw_put(w, s, strlen(s));
}

/* A comma unless a value opens the object or array. */
static void jw_sep(struct jw *w)
{
	if (w->len && !strchr("{[:", w->buf[w->len - 1]))
		jw_put(w, ",", 1);
}

static void jw_str(struct jw *w, const char *s)
{
	jw_put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			jw_put(w, esc, 2);
		} else if (*p == '\n') {
			jw_raw(w, "\\n");
		} else if (*p == '\t') {
			jw_raw(w, "\\t");
		} else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			jw_raw(w, esc);
		} else {
			jw_put(w, (const char *)p, 1);
		}
	}
	jw_put(w, "\"", 1);
}

static void jw_key(struct jw *w, const char *key)
{
	jw_sep(w);
	jw_str(w, key);
	jw_put(w, ":", 1);
}

static void jw_open(struct jw *w, const char *key, char brace)
{
	if (key)
		jw_key(w, key);
	else
		jw_sep(w);
	jw_put(w, &brace, 1);
}

static void jw_close(struct jw *w, char brace)
{
	jw_put(w, &brace, 1);
}

static void jw_u64(struct jw *w, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRIu64, v);
	jw_key(w, key);
	jw_raw(w, num);
}

/* an omitempty number */
static void jw_u64_nz(struct jw *w, const char *key, uint64_t v)
{
	if (v)
		jw_u64(w, key, v);
}

static void jw_i64(struct jw *w, const char *key, int64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%" PRId64, v);
	jw_key(w, key);
	jw_raw(w, num);
}

/* an omitempty array of numbers */
static void jw_list(struct jw *w, const char *key, const struct cg_u64_list *l)
{
	if (!l->n)
		return;
	jw_open(w, key, '[');
	for (size_t i = 0; i < l->n; i++) {
		char num[24];
		snprintf(num, sizeof(num), "%s%" PRIu64, i ? "," : "", l->v[i]);
		jw_raw(w, num);
	}
	jw_close(w, ']');
}

/* ---- runc's types.Stats ---- */

static void stats_cpu(struct jw *w, const struct cg_stats *s)
{
	jw_open(w, "cpu", '{');
	jw_open(w, "usage", '{');
	jw_u64_nz(w, "total", s->cpu.total);
	jw_list(w, "percpu", &s->cpu.percpu);
	jw_list(w, "percpu_kernel", &s->cpu.percpu_kernel);
	jw_list(w, "percpu_user", &s->cpu.percpu_user);
	jw_u64(w, "kernel", s->cpu.kernel);
	jw_u64(w, "user", s->cpu.user);
	jw_close(w, '}');
	jw_open(w, "throttling", '{');
	jw_u64_nz(w, "periods", s->cpu.periods);
	jw_u64_nz(w, "throttledPeriods", s->cpu.throttled_periods);
	jw_u64_nz(w, "throttledTime", s->cpu.throttled_time);
	jw_close(w, '}');
	jw_close(w, '}');
}

static void stats_cpuset(struct jw *w, const struct cg_stats *s)
{
	jw_open(w, "cpuset", '{');
	jw_list(w, "cpus", &s->cpuset.cpus);
	jw_u64(w, "cpu_exclusive", s->cpuset.cpu_exclusive);
	jw_list(w, "mems", &s->cpuset.mems);
	jw_u64(w, "mem_hardwall", s->cpuset.mem_hardwall);
	jw_u64(w, "mem_exclusive", s->cpuset.mem_exclusive);
	jw_u64(w, "memory_migrate", s->cpuset.memory_migrate);
	jw_u64(w, "memory_spread_page", s->cpuset.memory_spread_page);
	jw_u64(w, "memory_spread_slab", s->cpuset.memory_spread_slab);
	jw_u64(w, "memory_pressure", s->cpuset.memory_pressure);
	jw_u64(w, "sched_load_balance", s->cpuset.sched_load_balance);
	jw_i64(w, "sched_relax_domain_level",
	       s->cpuset.sched_relax_domain_level);
	jw_close(w, '}');
}

static void mem_entry(struct jw *w, const char *key,
		      const struct cg_mem_entry *e)
{
	jw_open(w, key, '{');
	jw_u64(w, "limit", e->limit);
	jw_u64_nz(w, "usage", e->usage);
	jw_u64_nz(w, "max", e->max);
	jw_u64(w, "failcnt", e->failcnt);
	jw_close(w, '}');
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp((*(const struct cg_stat_kv *const *)a)->key,
		      (*(const struct cg_stat_kv *const *)b)->key);
}

static void stats_memory(struct jw *w, const struct cg_stats *s)
{
	jw_open(w, "memory", '{');
	jw_u64_nz(w, "cache", s->memory.cache);
	mem_entry(w, "usage", &s->memory.usage);
	mem_entry(w, "swap", &s->memory.swap);
	mem_entry(w, "kernel", &s->memory.kernel);
	mem_entry(w, "kernelTCP", &s->memory.kernel_tcp);
	size_t n = s->memory.n_raw;
	if (n) {
		/* Go writes a map's keys sorted */
		_cleanup_free_ const struct cg_stat_kv **v =
			base_calloc(n, sizeof(*v));
		for (size_t i = 0; i < n; i++)
			v[i] = &s->memory.raw[i];
		qsort(v, n, sizeof(*v), cmp_kv);
		jw_open(w, "raw", '{');
		for (size_t i = 0; i < n; i++)
			if (i == 0 || strcmp(v[i]->key, v[i - 1]->key))
				jw_u64(w, v[i]->key, v[i]->value);
		jw_close(w, '}');
	}
	jw_close(w, '}');
}

static void blkio_list(struct jw *w, const char *key,
		       const struct cg_blkio_list *l)
{
	if (!l->n)
		return;
	jw_open(w, key, '[');
	for (size_t i = 0; i < l->n; i++) {
		const struct cg_blkio_entry *e = &l->v[i];
		jw_open(w, NULL, '{');
		jw_u64_nz(w, "major", e->major);
		jw_u64_nz(w, "minor", e->minor);
		if (e->op[0]) {
			jw_key(w, "op");
			jw_str(w, e->op);
		}
		jw_u64_nz(w, "value", e->value);
		jw_close(w, '}');
	}
	jw_close(w, ']');
}

static void stats_blkio(struct jw *w, const struct cg_stats *s)
{
	static const char *const names[CG_BLKIO__COUNT] = {
		[CG_BLKIO_SERVICE_BYTES] = "ioServiceBytesRecursive",
		[CG_BLKIO_SERVICED] = "ioServicedRecursive",
		[CG_BLKIO_QUEUED] = "ioQueueRecursive",
		[CG_BLKIO_SERVICE_TIME] = "ioServiceTimeRecursive",
		[CG_BLKIO_WAIT_TIME] = "ioWaitTimeRecursive",
		[CG_BLKIO_MERGED] = "ioMergedRecursive",
		[CG_BLKIO_TIME] = "ioTimeRecursive",
		[CG_BLKIO_SECTORS] = "sectorsRecursive",
	};
	jw_open(w, "blkio", '{');
	for (int t = 0; t < CG_BLKIO__COUNT; t++)
		blkio_list(w, names[t], &s->blkio[t]);
	jw_close(w, '}');
}

static int cmp_huge(const void *a, const void *b)
{
	return strcmp((*(const struct cg_hugetlb_stats *const *)a)->page_size,
		      (*(const struct cg_hugetlb_stats *const *)b)->page_size);
}

static void stats_hugetlb(struct jw *w, const struct cg_stats *s)
{
	size_t n = s->n_hugetlb;
	_cleanup_free_ const struct cg_hugetlb_stats **v =
		n ? base_calloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = &s->hugetlb[i];
	if (n)
		qsort(v, n, sizeof(*v), cmp_huge);
	jw_open(w, "hugetlb", '{');
	for (size_t i = 0; i < n; i++) {
		jw_open(w, v[i]->page_size, '{');
		jw_u64_nz(w, "usage", v[i]->usage);
		jw_u64_nz(w, "max", v[i]->max);
		jw_u64(w, "failcnt", v[i]->failcnt);
		jw_close(w, '}');
	}
	jw_close(w, '}');
}

static void event_head(struct jw *w, const char *type, const char *id)
{
	jw_open(w, NULL, '{');
	jw_key(w, "type");
	jw_str(w, type);
	jw_key(w, "id");
	jw_str(w, id);
}

char *rt_events_stats_json(const char *id, const struct cg_stats *s)
{
	struct jw w = {0};
	event_head(&w, "stats", id);
	jw_open(&w, "data", '{');
	stats_cpu(&w, s);
	stats_cpuset(&w, s);
	stats_memory(&w, s);
	jw_open(&w, "pids", '{');
	jw_u64_nz(&w, "current", s->pids.current);
	jw_u64_nz(&w, "limit", s->pids.limit);
	jw_close(&w, '}');
	stats_blkio(&w, s);
	stats_hugetlb(&w, s);
	jw_open(&w, "intel_rdt", '{');
	jw_close(&w, '}');
	jw_key(&w, "network_interfaces");
	jw_raw(&w, "null");
	jw_close(&w, '}');
	jw_close(&w, '}');
	return w.buf;
}

static char *oom_json(const char *id)
{
	struct jw w = {0};
	event_head(&w, "oom", id);
	jw_close(&w, '}');
	return w.buf;
}

/* ---- the command ---- */

static int emit(const struct rt_events_opts *o, const char *json,
		struct berr *err)
{
	int r = o->emit(json, o->data);
	if (r < 0)
		return berr_set(err, -r, "write an event");
	return 0;
}

static int emit_stats(struct cg_group *g, const char *id,
		      const struct rt_events_opts *o, struct berr *err)
{
	struct cg_stats s;
	int r = cg_stats(g, &s, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *json = rt_events_stats_json(id, &s);
	cg_stats_free(&s);
	return emit(o, json, err);
}

/* A tick of `events`: a stats read that fails is skipped (runc logs it
 * and goes on), unless the group is gone. */
static int tick(struct cg_group *g, const char *id,
		const struct rt_events_opts *o, bool *gone, struct berr *err)
{
	struct cg_stats s;
	struct berr serr = {0};
	int r = cg_stats(g, &s, &serr);
	if (r == -ENOENT) {
		*gone = true;
		return 0;
	}
	if (r < 0) {
		blog_debug("events %s: %s", id, serr.msg);
		return 0;
	}
	_cleanup_free_ char *json = rt_events_stats_json(id, &s);
	cg_stats_free(&s);
	return emit(o, json, err);
}

/* Emits one oom event per check that found new kills; *gone when the
 * group has been removed. */
static int check_oom(struct cg_oom_watch *ow, const char *id,
		     const struct rt_events_opts *o, bool *gone,
		     struct berr *err)
{
	uint64_t n = 0;
	*gone = false;
	if (!ow || cg_oom_watch_check(ow, &n, gone) < 0 || n == 0)
		return 0;
	_cleanup_free_ char *json = oom_json(id);
	return emit(o, json, err);
}

static int arm_timer(unsigned ms, struct berr *err)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "timerfd_create");
	struct timespec t = {.tv_sec = ms / 1000,
			     .tv_nsec = (long)(ms % 1000) * 1000000L};
	struct itimerspec its = {.it_interval = t, .it_value = t};
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int e = errno;
		close(fd);
		return berr_set(err, e, "timerfd_settime");
	}
	return fd;
}

/* Until the init exits or the group goes: stats on each tick, oom events
 * as they come. */
static int watch(struct cg_group *g, int pidfd, const char *id,
		 const struct rt_events_opts *o, struct berr *err)
{
	_cleanup_(cg_oom_watch_freep) struct cg_oom_watch *ow = NULL;
	struct berr werr = {0};
	if (cg_oom_watch_open(g, &ow, &werr) < 0)
		blog_debug("events %s: no oom events: %s", id, werr.msg);
	_cleanup_close_ int tfd =
		arm_timer(o->interval_ms ? o->interval_ms : 5000, err);
	if (tfd < 0)
		return tfd;
	for (;;) {
		struct pollfd p[3] = {
			{.fd = pidfd, .events = POLLIN},
			{.fd = tfd, .events = POLLIN},
			{.fd = ow ? cg_oom_watch_fd(ow) : -1, .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "poll");
		}
		bool gone = false;
		int r = 0;
		if (p[2].revents)
			r = check_oom(ow, id, o, &gone, err);
		if (r == 0 && !gone && p[1].revents) {
			uint64_t ticks;
			(void)!read(tfd, &ticks, sizeof(ticks));
			r = tick(g, id, o, &gone, err);
		}
		if (r < 0)
			return r;
		if (gone)
			return 0;
		if (p[0].revents) {
			/* a kill that ended the init counts too */
			return check_oom(ow, id, o, &gone, err);
		}
	}
}

int rt_events(const struct rt_ctx *ctx, const char *id,
	      const struct rt_events_opts *o, struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	if (rt_container_status(c) == OCI_STATUS_STOPPED)
		return berr_setx(err, EINVAL,
				 "container with id %s is not running", id);
	if (!c->state->cgroup_path)
		return berr_setx(err, ENOENT, "container %s has no cgroup", id);
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if ((r = cg_open(c->state->cgroup_path, &g, err)) < 0)
		return r;
	if (o->stats)
		return emit_stats(g, id, o, err);
	_cleanup_close_ int pidfd = rt_container_pidfd(c);
	if (pidfd < 0)
		return 0; /* stopped since */
	return watch(g, pidfd, id, o, err);
}
