/* cg_stats(), the OOM watch and the JSON `berth events` prints.
 *
 * The parsers run against fake hierarchies: a layout whose "mount points"
 * are directories under /tmp holding files with known contents, for v1 and
 * for v2, so every conversion is checked to the number. Then the same on
 * this host's real groups (as root), where the kernel does the counting:
 * memory a child touched, its pids, an OOM kill. Real groups live under
 * "/berth-test-cgstats-<pid>"; a guard process removes them and the temp
 * dir after each test. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cgroups/cgroups-internal.h"
#include "runtime/runtime-internal.h"
#include "tests/unit/test.h"

static char g_top[64]; /* "berth-test-cgstats-<pid>" */
static char g_tmp[64]; /* the fake hierarchies' dir */

static const struct cg_layout *layout(void)
{
	const struct cg_layout *lo = NULL;
	struct berr e = {0};
	if (cg_layout_get(&lo, &e) < 0)
		test_fail(__FILE__, __LINE__, "layout: %s", e.msg);
	return lo;
}

static void scrub(const char *dir)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *de;
	while ((de = readdir(dp)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") &&
		    strcmp(de->d_name, "..")) {
			char *sub = base_sprintf("%s/%s", dir, de->d_name);
			scrub(sub);
			free(sub);
		}
	closedir(dp);
	rmdir(dir);
}

static void guarded(void (*body)(void))
{
	snprintf(g_top, sizeof(g_top), "berth-test-cgstats-%d", (int)getpid());
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/berth-test-cgstats-%d",
		 (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	base_rm_rf_at(AT_FDCWD, g_tmp);
	if (geteuid() == 0) {
		const struct cg_layout *lo = layout();
		for (size_t i = 0; i < lo->n; i++) {
			char *a = base_sprintf("%s/%s", lo->hiers[i].mount,
					       g_top);
			scrub(a);
			free(a);
		}
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

#define CG_TEST(name)                                                          \
	static void body_##name(void);                                         \
	TEST(name)                                                             \
	{                                                                      \
		guarded(body_##name);                                          \
	}                                                                      \
	static void body_##name(void)

/* ---- fake hierarchies ---- */

/* Writes g_tmp/<path> (directories made as needed). */
static void put(const char *path, const char *text)
{
	char *f = base_sprintf("%s/%s", g_tmp, path);
	char *d = base_strdup(f);
	*strrchr(d, '/') = '\0';
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, d, 0755), 0);
	int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(base_write_all(fd, text, strlen(text)), 0);
	close(fd);
	free(d);
	free(f);
}

/* A v1 host: cpu and cpuacct co-mounted, as most distributions do. */
static struct cg_layout *fake_v1(void)
{
	static const char *const ctl[] = {"cpu,cpuacct", "memory", "pids",
					  "blkio",	 "cpuset", "hugetlb"};
	char *mi = base_strdup(""), *sc = base_strdup("");
	for (size_t i = 0; i < ARRAY_SIZE(ctl); i++) {
		char *m =
			base_sprintf("%s%zu 23 0:%zu / %s/%s rw - cgroup "
				     "cgroup rw,%s\n",
				     mi, 30 + i, 40 + i, g_tmp, ctl[i], ctl[i]);
		char *s = base_sprintf("%s%zu:%s:/\n", sc, i + 1, ctl[i]);
		free(mi);
		free(sc);
		mi = m;
		sc = s;
		char *d = base_sprintf("%s/%s/g", g_tmp, ctl[i]);
		ASSERT_EQ(base_mkdir_p(AT_FDCWD, d, 0755), 0);
		free(d);
	}
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, sc, &lo, NULL), 0);
	ASSERT_EQ(lo->mode, CG_MODE_V1);
	free(mi);
	free(sc);
	return lo;
}

static struct cg_layout *fake_v2(const char *controllers)
{
	char *mi = base_sprintf("30 23 0:26 / %s/unified rw - cgroup2 "
				"cgroup2 rw\n",
				g_tmp);
	put("unified/g/cgroup.controllers", controllers);
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, "0::/\n", &lo, NULL), 0);
	ASSERT_EQ(lo->mode, CG_MODE_V2);
	free(mi);
	return lo;
}

static void stats_of(const struct cg_layout *lo, struct cg_stats *s)
{
	struct cg_group *g = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/g", &g, &e), 0);
	if (cg_stats(g, s, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_stats: %s", e.msg);
	cg_group_free(g);
}

static uint64_t raw(const struct cg_stats *s, const char *key)
{
	for (size_t i = 0; i < s->memory.n_raw; i++)
		if (!strcmp(s->memory.raw[i].key, key))
			return s->memory.raw[i].value;
	test_fail(__FILE__, __LINE__, "no %s in memory.stat", key);
}

CG_TEST(v1_files_are_converted_as_runc_does)
{
	struct cg_layout *lo = fake_v1();
	put("cpu,cpuacct/g/cpuacct.usage", "3000\n");
	put("cpu,cpuacct/g/cpuacct.usage_percpu", "1000 2000 \n");
	put("cpu,cpuacct/g/cpuacct.usage_percpu_sys", "10 20\n");
	put("cpu,cpuacct/g/cpuacct.usage_percpu_user", "30 40\n");
	put("cpu,cpuacct/g/cpuacct.stat", "user 7\nsystem 3\n");
	put("cpu,cpuacct/g/cpu.stat", "nr_periods 5\nnr_throttled 2\n"
				      "throttled_time 900\n");
	put("memory/g/memory.usage_in_bytes", "4096\n");
	put("memory/g/memory.max_usage_in_bytes", "8192\n");
	put("memory/g/memory.failcnt", "1\n");
	put("memory/g/memory.limit_in_bytes", "9223372036854771712\n");
	put("memory/g/memory.memsw.usage_in_bytes", "5000\n");
	put("memory/g/memory.memsw.limit_in_bytes", "6000\n");
	put("memory/g/memory.stat", "cache 123\nrss 456\ntotal_cache 789\n");
	put("memory/g/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n"
					   "oom_kill 4\n");
	put("pids/g/pids.current", "3\n");
	put("pids/g/pids.max", "max\n");
	put("cpuset/g/cpuset.cpus", "0-2,5\n");
	put("cpuset/g/cpuset.mems", "0\n");
	put("cpuset/g/cpuset.sched_load_balance", "1\n");
	put("cpuset/g/cpuset.sched_relax_domain_level", "-1\n");
	put("hugetlb/g/hugetlb.1GB.usage_in_bytes", "0\n");
	put("hugetlb/g/hugetlb.2MB.usage_in_bytes", "2097152\n");
	put("hugetlb/g/hugetlb.2MB.max_usage_in_bytes", "4194304\n");
	put("hugetlb/g/hugetlb.2MB.failcnt", "2\n");
	struct cg_stats s;
	stats_of(lo, &s);
	ASSERT_EQ(s.cpu.total, 3000);
	ASSERT_EQ(s.cpu.percpu.n, 2);
	ASSERT_EQ(s.cpu.percpu.v[1], 2000);
	ASSERT_EQ(s.cpu.percpu_kernel.v[0], 10);
	ASSERT_EQ(s.cpu.percpu_user.v[1], 40);
	/* USER_HZ ticks to nanoseconds */
	uint64_t tick = 1000000000u / (uint64_t)sysconf(_SC_CLK_TCK);
	ASSERT_EQ(s.cpu.user, 7 * tick);
	ASSERT_EQ(s.cpu.kernel, 3 * tick);
	ASSERT_EQ(s.cpu.periods, 5);
	ASSERT_EQ(s.cpu.throttled_periods, 2);
	ASSERT_EQ(s.cpu.throttled_time, 900);
	ASSERT_EQ(s.memory.usage.usage, 4096);
	ASSERT_EQ(s.memory.usage.max, 8192);
	ASSERT_EQ(s.memory.usage.failcnt, 1);
	ASSERT_EQ(s.memory.usage.limit, 9223372036854771712ULL);
	ASSERT_EQ(s.memory.swap.usage, 5000);
	ASSERT_EQ(s.memory.swap.limit, 6000);
	ASSERT_EQ(s.memory.kernel.usage, 0); /* no kmem files: 0 */
	ASSERT_EQ(s.memory.cache, 123);
	ASSERT_EQ(raw(&s, "total_cache"), 789);
	ASSERT_EQ(s.memory.n_raw, 3);
	ASSERT_EQ(s.memory.oom_kill, 4);
	ASSERT_EQ(s.pids.current, 3);
	ASSERT_EQ(s.pids.limit, 0); /* "max" */
	ASSERT_EQ(s.cpuset.cpus.n, 4);
	ASSERT_EQ(s.cpuset.cpus.v[3], 5);
	ASSERT_EQ(s.cpuset.mems.n, 1);
	ASSERT_EQ(s.cpuset.sched_load_balance, 1);
	ASSERT_EQ(s.cpuset.sched_relax_domain_level, -1);
	ASSERT_EQ(s.n_hugetlb, 2);
	ASSERT_STREQ(s.hugetlb[0].page_size, "2MB");
	ASSERT_EQ(s.hugetlb[0].usage, 2097152);
	ASSERT_EQ(s.hugetlb[0].max, 4194304);
	ASSERT_EQ(s.hugetlb[0].failcnt, 2);
	ASSERT_STREQ(s.hugetlb[1].page_size, "1GB");
	cg_stats_free(&s);
	cg_layout_free(lo);
}

CG_TEST(v1_blkio_prefers_cfq_then_bfq_then_throttle)
{
	struct cg_layout *lo = fake_v1();
	put("blkio/g/blkio.throttle.io_service_bytes_recursive",
	    "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n");
	put("blkio/g/blkio.throttle.io_serviced_recursive",
	    "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
	put("blkio/g/blkio.bfq.io_serviced_recursive", "Total 0\n");
	struct cg_stats s;
	stats_of(lo, &s);
	/* BFQ counted nothing: the throttling layer's numbers */
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].n, 3);
	ASSERT_STREQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[1].op, "Write");
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[1].value, 200);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[1].major, 8);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICED].n, 2);
	cg_stats_free(&s);

	put("blkio/g/blkio.io_serviced_recursive", "8:16 Read 9\nTotal 9\n");
	put("blkio/g/blkio.io_service_bytes_recursive", "8:16 Read 4096\n");
	put("blkio/g/blkio.sectors_recursive", "8:16 8\n");
	stats_of(lo, &s);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICED].n, 1);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICED].v[0].minor, 16);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[0].value, 4096);
	ASSERT_EQ(s.blkio[CG_BLKIO_SECTORS].n, 1);
	ASSERT_STREQ(s.blkio[CG_BLKIO_SECTORS].v[0].op, "");
	ASSERT_EQ(s.blkio[CG_BLKIO_SECTORS].v[0].value, 8);
	cg_stats_free(&s);
	cg_layout_free(lo);
}

CG_TEST(v2_files_are_converted_as_runc_does)
{
	struct cg_layout *lo =
		fake_v2("cpuset cpu io memory hugetlb pids rdma\n");
	put("unified/g/cpu.stat", "usage_usec 7\nuser_usec 5\nsystem_usec 2\n"
				  "nr_periods 4\nnr_throttled 1\n"
				  "throttled_usec 3\n");
	put("unified/g/memory.current", "1000\n");
	put("unified/g/memory.max", "max\n");
	put("unified/g/memory.swap.current", "24\n");
	put("unified/g/memory.swap.max", "max\n");
	put("unified/g/memory.stat", "anon 10\nfile 20\n");
	put("unified/g/memory.events", "low 0\nhigh 1\nmax 2\noom 3\n"
				       "oom_kill 4\n");
	put("unified/g/pids.current", "2\n");
	put("unified/g/pids.max", "40\n");
	put("unified/g/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 "
				 "dbytes=0 dios=0\n");
	put("unified/g/cpuset.cpus.effective", "1\n");
	put("unified/g/hugetlb.2MB.current", "2097152\n");
	put("unified/g/hugetlb.2MB.events", "max 5\n");
	put("unified/g/hugetlb.2MB.rsvd.current", "0\n");
	struct cg_stats s;
	stats_of(lo, &s);
	ASSERT_EQ(s.cpu.total, 7000);
	ASSERT_EQ(s.cpu.user, 5000);
	ASSERT_EQ(s.cpu.kernel, 2000);
	ASSERT_EQ(s.cpu.throttled_periods, 1);
	ASSERT_EQ(s.cpu.throttled_time, 3000);
	ASSERT_EQ(s.cpu.percpu.n, 0);
	ASSERT_EQ(s.memory.usage.usage, 1000);
	ASSERT_EQ(s.memory.usage.limit, UINT64_MAX);
	/* memory + swap, as v1's memsw */
	ASSERT_EQ(s.memory.swap.usage, 1024);
	ASSERT_EQ(s.memory.swap.limit, UINT64_MAX);
	ASSERT_EQ(s.memory.cache, 20);
	ASSERT_EQ(s.memory.ev_high, 1);
	ASSERT_EQ(s.memory.oom_kill, 4);
	ASSERT_EQ(s.pids.current, 2);
	ASSERT_EQ(s.pids.limit, 40);
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].n, 3);
	ASSERT_STREQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[1].op, "Write");
	ASSERT_EQ(s.blkio[CG_BLKIO_SERVICE_BYTES].v[1].value, 20);
	ASSERT_STREQ(s.blkio[CG_BLKIO_SERVICED].v[2].op, "Discard");
	ASSERT_EQ(s.cpuset.cpus.n, 1);
	ASSERT_EQ(s.cpuset.cpus.v[0], 1);
	ASSERT_EQ(s.n_hugetlb, 1); /* rsvd is not a page size */
	ASSERT_EQ(s.hugetlb[0].usage, 2097152);
	ASSERT_EQ(s.hugetlb[0].failcnt, 5);
	cg_stats_free(&s);

	/* a finite swap limit is reported with the memory limit added */
	put("unified/g/memory.max", "4096\n");
	put("unified/g/memory.swap.max", "1024\n");
	stats_of(lo, &s);
	ASSERT_EQ(s.memory.swap.limit, 5120);
	cg_stats_free(&s);
	cg_layout_free(lo);
}

CG_TEST(v2_without_controllers_reads_cpu_stat_only)
{
	struct cg_layout *lo = fake_v2("\n");
	put("unified/g/cpu.stat", "usage_usec 11\n");
	put("unified/g/memory.current", "1000\n"); /* not enabled: unread */
	struct cg_stats s;
	stats_of(lo, &s);
	ASSERT_EQ(s.cpu.total, 11000);
	ASSERT_EQ(s.memory.usage.usage, 0);
	cg_stats_free(&s);
	cg_layout_free(lo);
}

CG_TEST(stats_of_a_missing_group_is_enoent)
{
	struct cg_layout *lo = fake_v2("memory\n");
	struct cg_group *g = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/gone", &g, &e), 0);
	struct cg_stats s;
	ASSERT_EQ(cg_stats(g, &s, &e), -ENOENT);
	ASSERT_CONTAINS(e.msg, "/unified/gone");
	cg_group_free(g);
	cg_layout_free(lo);
}

/* memory.events in a fake tree is a plain file: inotify sees writes to it
 * as it sees the kernel's notifications. */
CG_TEST(oom_watch_v2_reports_new_kills)
{
	struct cg_layout *lo = fake_v2("memory\n");
	put("unified/g/memory.events", "oom 0\noom_kill 2\n");
	struct cg_group *g = NULL;
	struct cg_oom_watch *w = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/g", &g, &e), 0);
	ASSERT_EQ(cg_oom_watch_open(g, &w, &e), 0);
	struct pollfd p = {.fd = cg_oom_watch_fd(w), .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 0), 0);
	put("unified/g/memory.events", "oom 1\noom_kill 3\n");
	ASSERT_EQ(poll(&p, 1, 1000), 1);
	uint64_t n = 0;
	bool gone = true;
	ASSERT_EQ(cg_oom_watch_check(w, &n, &gone), 0);
	ASSERT_EQ(n, 1);
	ASSERT_TRUE(!gone);
	/* consumed: nothing new until the next write */
	ASSERT_EQ(poll(&p, 1, 0), 0);
	ASSERT_EQ(cg_oom_watch_check(w, &n, &gone), 0);
	ASSERT_EQ(n, 0);
	base_rm_rf_at(AT_FDCWD, base_sprintf("%s/unified/g", g_tmp));
	ASSERT_EQ(cg_oom_watch_check(w, &n, &gone), 0);
	ASSERT_TRUE(gone);
	cg_oom_watch_free(w);
	cg_group_free(g);
	cg_layout_free(lo);
}

CG_TEST(oom_watch_needs_a_memory_controller)
{
	struct cg_layout *lo = fake_v2("pids\n");
	struct cg_group *g = NULL;
	struct cg_oom_watch *w = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/g", &g, &e), 0);
	ASSERT_EQ(cg_oom_watch_open(g, &w, &e), -EOPNOTSUPP);
	ASSERT_CONTAINS(e.msg, "no memory controller");
	cg_group_free(g);
	cg_layout_free(lo);
}

/* ---- the JSON ---- */

TEST(stats_json_follows_runcs_encoding)
{
	uint64_t percpu[] = {3, 2}, cpus[] = {0, 1};
	struct cg_stat_kv raw_kv[] = {{(char *)"rss", 5}, {(char *)"cache", 6}};
	struct cg_blkio_entry io[] = {{8, 0, "Read", 512}};
	struct cg_hugetlb_stats huge[] = {{(char *)"2MB", 1, 0, 0},
					  {(char *)"1GB", 0, 0, 7}};
	struct cg_stats s = {0};
	s.cpu.total = 5;
	s.cpu.percpu = (struct cg_u64_list){percpu, 2};
	s.cpu.user = 1;
	s.cpu.throttled_periods = 4;
	s.cpuset.cpus = (struct cg_u64_list){cpus, 2};
	s.cpuset.sched_relax_domain_level = -1;
	s.memory.cache = 6;
	s.memory.usage = (struct cg_mem_entry){.limit = UINT64_MAX, .usage = 9};
	s.memory.raw = raw_kv;
	s.memory.n_raw = 2;
	s.pids.current = 1;
	s.blkio[CG_BLKIO_SERVICE_BYTES] = (struct cg_blkio_list){io, 1};
	s.hugetlb = huge;
	s.n_hugetlb = 2;
	char *json = rt_events_stats_json("a<b&c>", &s);
	ASSERT_STREQ(
		json,
		"{\"type\":\"stats\",\"id\":\"a\\u003cb\\u0026c\\u003e\","
		"\"data\":{"
		"\"cpu\":{\"usage\":{\"total\":5,\"percpu\":[3,2],"
		"\"kernel\":0,\"user\":1},\"throttling\":{"
		"\"throttledPeriods\":4}},"
		"\"cpuset\":{\"cpus\":[0,1],\"cpu_exclusive\":0,"
		"\"mem_hardwall\":0,\"mem_exclusive\":0,\"memory_migrate\":0,"
		"\"memory_spread_page\":0,\"memory_spread_slab\":0,"
		"\"memory_pressure\":0,\"sched_load_balance\":0,"
		"\"sched_relax_domain_level\":-1},"
		"\"memory\":{\"cache\":6,"
		"\"usage\":{\"limit\":18446744073709551615,\"usage\":9,"
		"\"failcnt\":0},"
		"\"swap\":{\"limit\":0,\"failcnt\":0},"
		"\"kernel\":{\"limit\":0,\"failcnt\":0},"
		"\"kernelTCP\":{\"limit\":0,\"failcnt\":0},"
		"\"raw\":{\"cache\":6,\"rss\":5}},"
		"\"pids\":{\"current\":1},"
		"\"blkio\":{\"ioServiceBytesRecursive\":[{\"major\":8,"
		"\"op\":\"Read\",\"value\":512}]},"
		"\"hugetlb\":{\"1GB\":{\"failcnt\":7},"
		"\"2MB\":{\"usage\":1,\"failcnt\":0}},"
		"\"intel_rdt\":{},\"network_interfaces\":null}}");
	free(json);
}

TEST(stats_json_of_empty_stats_is_complete)
{
	struct cg_stats s = {0};
	char *json = rt_events_stats_json("c", &s);
	ASSERT_CONTAINS(json, "\"pids\":{},\"blkio\":{},\"hugetlb\":{},");
	ASSERT_CONTAINS(json, "\"usage\":{\"kernel\":0,\"user\":0}");
	free(json);
}

/* ---- this host's groups ---- */

static void need_root_memory_v1(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (layout()->mode == CG_MODE_V2 ||
	    cg_layout_find(layout(), "memory") < 0)
		test_skip("needs a v1 memory hierarchy");
}

static struct cg_group *make_group(const char *name,
				   const struct cg_resources *r)
{
	char *path = base_sprintf("/%s/%s", g_top, name);
	struct cg_group *g = NULL;
	struct berr e = {0};
	if (cg_create(path, NULL, &g, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_create %s: %s", path, e.msg);
	if (r && cg_apply(g, r, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_apply: %s", e.msg);
	free(path);
	return g;
}

/* A child in g: waits for a byte on go, then touches mb MiB and burns a
 * little CPU, says so on done and sleeps. */
static pid_t child_in(struct cg_group *g, size_t mb, int *go, int *done)
{
	int a[2], b[2];
	ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
	ASSERT_EQ(pipe2(b, O_CLOEXEC), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		char c;
		if (cg_attach(g, getpid(), NULL) < 0)
			_exit(3);
		if (read(a[0], &c, 1) != 1)
			_exit(4);
		char *m = malloc(mb << 20);
		for (size_t i = 0; m && i < mb << 20; i += 4096)
			m[i] = 1;
		for (volatile unsigned long i = 0; i < 20000000UL; i++)
			;
		(void)!write(b[1], "x", 1);
		pause();
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*go = a[1];
	*done = b[0];
	return pid;
}

CG_TEST(stats_of_a_real_group)
{
	need_root_memory_v1();
	struct cg_resources r = {
		.has_memory_limit = true,
		.memory_limit = 64 << 20,
		.has_pids_limit = true,
		.pids_limit = 32,
	};
	struct cg_group *g = make_group("real", &r);
	int go, done;
	pid_t pid = child_in(g, 8, &go, &done);
	char c = 'x';
	ASSERT_EQ(write(go, &c, 1), 1);
	ASSERT_EQ(read(done, &c, 1), 1);
	struct cg_stats s;
	struct berr e = {0};
	ASSERT_EQ(cg_stats(g, &s, &e), 0);
	ASSERT_TRUE(s.memory.usage.usage >= 8 << 20);
	ASSERT_TRUE(s.memory.usage.max >= s.memory.usage.usage);
	ASSERT_EQ(s.memory.usage.limit, 64 << 20);
	ASSERT_TRUE(raw(&s, "rss") + raw(&s, "cache") > 0);
	ASSERT_EQ(s.pids.current, 1);
	ASSERT_EQ(s.pids.limit, 32);
	ASSERT_TRUE(s.cpu.total > 0);
	ASSERT_TRUE(s.cpu.percpu.n >= 1);
	ASSERT_TRUE(s.cpuset.cpus.n >= 1);
	char *json = rt_events_stats_json("real", &s);
	ASSERT_CONTAINS(json, "\"pids\":{\"current\":1,\"limit\":32}");
	free(json);
	cg_stats_free(&s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_EQ(cg_stats(g, &s, &e), -ENOENT);
	cg_group_free(g);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

CG_TEST(oom_watch_v1_reports_a_kill_and_the_removal)
{
	need_root_memory_v1();
	struct cg_resources r = {
		.has_memory_limit = true,
		.memory_limit = 16 << 20,
		.has_memory_swap = true,
		.memory_swap = 16 << 20,
	};
	if (!cg_res_exists(
		    layout()->hiers[cg_layout_find(layout(), "memory")].mount,
		    "memory.memsw.limit_in_bytes"))
		r.has_memory_swap = false;
	struct cg_group *g = make_group("oom", &r);
	struct cg_oom_watch *w = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_oom_watch_open(g, &w, &e), 0);
	ASSERT_TRUE(!readable(cg_oom_watch_fd(w), 0));
	int go, done;
	pid_t pid = child_in(g, 64, &go, &done);
	char c = 'x';
	ASSERT_EQ(write(go, &c, 1), 1);
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ASSERT_TRUE(readable(cg_oom_watch_fd(w), 5000));
	uint64_t n = 0;
	bool gone = true;
	ASSERT_EQ(cg_oom_watch_check(w, &n, &gone), 0);
	ASSERT_EQ(n, 1);
	ASSERT_TRUE(!gone);
	/* removing the group signals the eventfd too */
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_TRUE(readable(cg_oom_watch_fd(w), 5000));
	ASSERT_EQ(cg_oom_watch_check(w, &n, &gone), 0);
	ASSERT_TRUE(gone);
	cg_oom_watch_free(w);
	cg_group_free(g);
}
