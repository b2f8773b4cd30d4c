/* cgroups/ on a pure cgroup v2 host, as make check-vm's guest is: the
 * layout, the group lifecycle through the public interface,
 * CLONE_INTO_CGROUP, freezing, cgroup.kill and resource limits, read back
 * from the kernel's files and enforced by it. Every test skips itself on
 * any other host (a hybrid host's v2 paths are covered by test-cgroups.c's
 * unified-only layout). Groups live under "berth-test-cg2-<pid>", which a
 * guard process removes after each test whatever the test did. */
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "cgroups/cgroups-internal.h"
#include "tests/unit/test.h"

static char g_top[64]; /* "berth-test-cg2-<pid>" */

static const struct cg_layout *layout(void)
{
	const struct cg_layout *lo = NULL;
	struct berr e = {0};
	if (cg_layout_get(&lo, &e) < 0)
		test_fail(__FILE__, __LINE__, "layout: %s", e.msg);
	return lo;
}

static void need_root_v2(void)
{
	if (layout()->mode != CG_MODE_V2)
		test_skip("needs a pure cgroup v2 host (make check-vm), "
			  "this one is %s",
			  cg_mode_name(layout()->mode));
	if (geteuid() != 0)
		test_skip("needs root");
}

/* The mount point of the unified hierarchy. */
static const char *mnt(void)
{
	return layout()->hiers[layout()->v2].mount;
}

static char *slurp(const char *path)
{
	char *s = NULL;
	if (base_read_file_at(AT_FDCWD, path, &s, NULL, 0) < 0)
		return NULL;
	return s;
}

/* FILE of the group at rel (below the mount point), without the last
 * newline. */
static char *cg_read(const char *rel, const char *file)
{
	char *p = base_sprintf("%s%s/%s", mnt(), rel, file);
	char *s = slurp(p);
	free(p);
	size_t n = s ? strlen(s) : 0;
	if (n && s[n - 1] == '\n')
		s[n - 1] = '\0';
	return s;
}

static bool exists(const char *rel)
{
	char *p = base_sprintf("%s%s", mnt(), rel);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static void move_self(const char *rel)
{
	char *p = base_sprintf("%s%s/cgroup.procs", mnt(), rel);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, "0", 1, 0), 0);
	free(p);
}

static __attribute__((noreturn)) void idle_until_parent_dies(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	for (;;)
		pause();
}

static pid_t sleeper(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		idle_until_parent_dies(parent);
	ASSERT_TRUE(pid > 0);
	return pid;
}

/* A child born in the group of cgfd; it runs fn and exits with its
 * result, or idles when fn is NULL. */
static pid_t clone_into(int cgfd, int (*fn)(void))
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)cgfd,
	};
	pid_t parent = getpid();
	fflush(NULL);
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		if (fn)
			_exit(fn());
		idle_until_parent_dies(parent);
	}
	return (pid_t)pid;
}

/* The signal that ended pid, or 1000 + its exit status. */
static int reap(pid_t pid)
{
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 1000 + WEXITSTATUS(st);
}

static bool proc_in(pid_t pid, const char *rel)
{
	char *f = base_sprintf("/proc/%d/cgroup", (int)pid);
	char *s = slurp(f);
	char *want = base_sprintf("0::%s\n", rel);
	bool r = s && !strcmp(s, want);
	free(want);
	free(s);
	free(f);
	return r;
}

/* ---- the guard ---- */

static void scrub(const char *dir)
{
	char *f = base_sprintf("%s/cgroup.freeze", dir);
	base_write_file_at(AT_FDCWD, f, "0", 1, 0);
	free(f);
	f = base_sprintf("%s/cgroup.kill", dir);
	base_write_file_at(AT_FDCWD, f, "1", 1, 0);
	free(f);
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
	for (int i = 0; i < 200 && rmdir(dir) < 0 && errno == EBUSY; i++)
		usleep(10000);
}

static void guarded(void (*body)(void))
{
	snprintf(g_top, sizeof(g_top), "berth-test-cg2-%d", (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (layout()->mode == CG_MODE_V2) {
		char *top = base_sprintf("%s/%s", mnt(), g_top);
		scrub(top);
		free(top);
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

/* ---- layout ---- */

TEST(v2_detect_reports_a_pure_v2_host)
{
	enum cg_mode mode;
	struct berr e = {0};
	ASSERT_EQ(cg_detect(&mode, &e), 0);
	if (mode != CG_MODE_V2)
		test_skip("this host is %s", cg_mode_name(mode));
	ASSERT_STREQ(cg_mode_name(mode), "v2");
	const struct cg_layout *lo = layout();
	ASSERT_EQ(lo->n, 1);
	ASSERT_EQ(lo->v2, 0);
	ASSERT_TRUE(lo->drv == &cg_driver_v2);
	ASSERT_EQ(lo->freezer, -1);
	ASSERT_EQ(cg_layout_find(lo, "memory"), -1);
	ASSERT_TRUE(lo->hiers[0].v2);
	char *ctl = base_sprintf("%s/cgroup.controllers", mnt());
	char *s = slurp(ctl);
	ASSERT_CONTAINS(s, "memory");
	ASSERT_CONTAINS(s, "pids");
	free(s);
	free(ctl);
}

/* ---- the lifecycle ---- */

CG_TEST(v2_group_lifecycle_with_clone_into_cgroup)
{
	need_root_v2();
	struct berr e = {0};
	char *path = base_sprintf("/%s/a/c1", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "c1", &g, &e), 0);
	char *expect = base_sprintf("%s;parents=2", path);
	ASSERT_STREQ(cg_path(g), expect);
	ASSERT_TRUE(exists(path));
	/* every controller of the root reaches the group */
	ASSERT_STREQ(cg_read(path, "cgroup.controllers"),
		     cg_read("", "cgroup.controllers"));

	int fd = cg_open_clone_fd(g, &e);
	ASSERT_TRUE(fd >= 0);
	pid_t a = clone_into(fd, NULL);
	ASSERT_TRUE(a > 0);
	close(fd);
	ASSERT_TRUE(proc_in(a, path));
	pid_t b = sleeper();
	ASSERT_EQ(cg_attach(g, b, &e), 0);
	ASSERT_TRUE(proc_in(b, path));
	pid_t *pids = NULL;
	size_t n = 0;
	ASSERT_EQ(cg_procs(g, &pids, &n, &e), 0);
	ASSERT_EQ(n, 2);
	ASSERT_TRUE((pids[0] == a && pids[1] == b) ||
		    (pids[0] == b && pids[1] == a));
	free(pids);

	bool frozen = true;
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	ASSERT_STREQ(cg_read(path, "cgroup.freeze"), "1");
	ASSERT_CONTAINS(cg_read(path, "cgroup.events"), "frozen 1");
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(frozen);
	ASSERT_EQ(cg_freeze(g, false, &e), 0);
	ASSERT_STREQ(cg_read(path, "cgroup.freeze"), "0");
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);

	ASSERT_EQ(cg_kill_all(g, SIGTERM, &e), 0);
	ASSERT_EQ(reap(a), SIGTERM);
	ASSERT_EQ(reap(b), SIGTERM);
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen); /* thawed after signalling */
	pid_t c = sleeper();
	ASSERT_EQ(cg_attach(g, c, &e), 0);
	ASSERT_EQ(cg_kill_all(g, SIGKILL, &e), 0); /* cgroup.kill */
	ASSERT_EQ(reap(c), SIGKILL);

	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_TRUE(!exists(path));
	char *top = base_sprintf("/%s", g_top);
	ASSERT_TRUE(!exists(top)); /* the parents cg_create made */
	ASSERT_EQ(cg_destroy(g, &e), 0);
	cg_group_free(g);
}

/* A process in the group's parent: cgroup v2 lets no group with processes
 * pass controllers on, so the group comes without them, but it comes. */
CG_TEST(v2_relative_and_empty_paths_follow_own_cgroup)
{
	need_root_v2();
	struct berr e = {0};
	char *own = base_sprintf("/%s/own", g_top);
	ASSERT_EQ(mkdir(base_sprintf("%s/%s", mnt(), g_top), 0755), 0);
	ASSERT_EQ(mkdir(base_sprintf("%s%s", mnt(), own), 0755), 0);
	move_self(own);
	ASSERT_TRUE(proc_in(getpid(), own));

	struct cg_group *g = NULL, *h = NULL;
	ASSERT_EQ(cg_create("rel/c", "c", &g, &e), 0);
	char *rel = base_sprintf("%s/rel/c", own);
	ASSERT_TRUE(exists(rel));
	ASSERT_STREQ(cg_path(g), base_sprintf("%s;parents=1", rel));
	ASSERT_EQ(cg_create("", "e", &h, &e), 0);
	char *empty = base_sprintf("%s/e", own);
	ASSERT_TRUE(exists(empty));
	ASSERT_STREQ(cg_path(h), empty);

	/* a process elsewhere removes them by their resolved paths */
	move_self("");
	struct cg_group *g2 = NULL;
	ASSERT_EQ(cg_open(cg_path(g), &g2, &e), 0);
	ASSERT_EQ(cg_destroy(g2, &e), 0);
	ASSERT_EQ(cg_destroy(h, &e), 0);
	ASSERT_TRUE(!exists(rel));
	ASSERT_TRUE(!exists(base_sprintf("%s/rel", own)));
	ASSERT_TRUE(!exists(empty));
	ASSERT_TRUE(exists(own)); /* it was there before */
	cg_group_free(g2);
	cg_group_free(g);
	cg_group_free(h);
}

CG_TEST(v2_destroy_kills_a_frozen_group_with_nested_groups)
{
	need_root_v2();
	struct berr e = {0};
	char *path = base_sprintf("/%s/c2", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "c2", &g, &e), 0);
	pid_t a = sleeper(), b = sleeper();
	ASSERT_EQ(cg_attach(g, a, &e), 0);
	/* a nested group, as a container's own systemd would make */
	char *sub = base_sprintf("%s/sub", path);
	ASSERT_EQ(mkdir(base_sprintf("%s%s", mnt(), sub), 0755), 0);
	char *procs = base_sprintf("%s%s/cgroup.procs", mnt(), sub);
	char *pb = base_sprintf("%d", (int)b);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, procs, pb, strlen(pb), 0), 0);
	ASSERT_TRUE(proc_in(b, sub));
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	/* The kernel reports a group with tasks of its own frozen once they
	 * are, before a nested group's: the nested one follows. */
	for (int i = 0;
	     i < 500 && !strstr(cg_read(sub, "cgroup.events"), "frozen 1"); i++)
		usleep(10000);
	ASSERT_CONTAINS(cg_read(sub, "cgroup.events"), "frozen 1");

	struct cg_group *h = NULL;
	ASSERT_EQ(cg_open(cg_path(g), &h, &e), 0);
	ASSERT_EQ(cg_destroy(h, &e), 0);
	ASSERT_EQ(reap(a), SIGKILL);
	ASSERT_EQ(reap(b), SIGKILL);
	ASSERT_TRUE(!exists(sub));
	ASSERT_TRUE(!exists(path));
	cg_group_free(h);
	cg_group_free(g);
}

/* ---- resources ---- */

static struct cg_group *new_group(const char *name)
{
	struct berr e = {0};
	char *path = base_sprintf("/%s/%s", g_top, name);
	struct cg_group *g = NULL;
	if (cg_create(path, name, &g, &e) < 0)
		test_fail(__FILE__, __LINE__, "create %s: %s", path, e.msg);
	free(path);
	return g;
}

static const char *rel_of(const struct cg_group *g)
{
	const char *p = cg_path(g);
	char *r = base_strdup(p);
	r[strcspn(r, ";")] = '\0';
	return r;
}

CG_TEST(v2_resources_are_written_in_v2_terms)
{
	need_root_v2();
	struct cg_group *g = new_group("res");
	const char *rel = rel_of(g);
	struct cg_unified_kv kv[] = {{"memory.high", "50331648"}};
	struct cg_resources r = {
		.has_memory_limit = true,
		.memory_limit = 64 << 20,
		.has_memory_swap = true,
		.memory_swap = 128 << 20,
		.has_memory_reservation = true,
		.memory_reservation = 32 << 20,
		.has_cpu_shares = true,
		.cpu_shares = 1024,
		.has_cpu_quota = true,
		.cpu_quota = 50000,
		.has_cpu_period = true,
		.cpu_period = 100000,
		.cpuset_cpus = "0",
		.cpuset_mems = "0",
		.has_pids_limit = true,
		.pids_limit = 32,
		.unified = kv,
		.n_unified = 1,
	};
	struct cg_rate_device rd = {0};
	struct stat st;
	bool blk = stat("/dev/vda", &st) == 0 && S_ISBLK(st.st_mode);
	if (blk) {
		rd = (struct cg_rate_device){major(st.st_rdev),
					     minor(st.st_rdev), 1048576};
		r.read_bps = (struct cg_rate_list){&rd, 1};
	}
	struct berr e = {0};
	ASSERT_EQ(cg_apply(g, &r, &e), 0);
	ASSERT_STREQ(cg_read(rel, "memory.max"), "67108864");
	ASSERT_STREQ(cg_read(rel, "memory.swap.max"), "67108864");
	ASSERT_STREQ(cg_read(rel, "memory.low"), "33554432");
	ASSERT_STREQ(cg_read(rel, "memory.high"), "50331648");
	ASSERT_EQ(cg_cpu_shares_to_weight(1024), 39);
	ASSERT_STREQ(cg_read(rel, "cpu.weight"), "39");
	ASSERT_STREQ(cg_read(rel, "cpu.max"), "50000 100000");
	ASSERT_STREQ(cg_read(rel, "cpuset.cpus"), "0");
	ASSERT_STREQ(cg_read(rel, "cpuset.mems"), "0");
	ASSERT_STREQ(cg_read(rel, "pids.max"), "32");
	if (blk) {
		char *want = base_sprintf("%u:%u rbps=1048576 wbps=max "
					  "riops=max wiops=max",
					  major(st.st_rdev), minor(st.st_rdev));
		ASSERT_STREQ(cg_read(rel, "io.max"), want);
	}

	/* -1 lifts the limits; a period alone keeps the quota */
	struct cg_resources lift = {
		.has_memory_limit = true,
		.memory_limit = -1,
		.has_pids_limit = true,
		.pids_limit = -1,
		.has_cpu_period = true,
		.cpu_period = 200000,
	};
	ASSERT_EQ(cg_apply(g, &lift, &e), 0);
	ASSERT_STREQ(cg_read(rel, "memory.max"), "max");
	ASSERT_STREQ(cg_read(rel, "memory.swap.max"), "max");
	ASSERT_STREQ(cg_read(rel, "pids.max"), "max");
	ASSERT_STREQ(cg_read(rel, "cpu.max"), "50000 200000");
	ASSERT_EQ(cg_destroy(g, &e), 0);
	cg_group_free(g);
}

CG_TEST(v2_bad_values_change_nothing)
{
	need_root_v2();
	struct cg_group *g = new_group("bad");
	const char *rel = rel_of(g);
	struct berr e = {0};
	struct cg_resources ok = {.has_pids_limit = true, .pids_limit = 32};
	ASSERT_EQ(cg_apply(g, &ok, &e), 0);

	struct cg_resources cpus = {
		.has_pids_limit = true,
		.pids_limit = 10,
		.cpuset_cpus = "0-4095",
	};
	ASSERT_EQ(cg_apply(g, &cpus, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "linux.resources.cpu.cpus");
	struct cg_resources swap = {
		.has_pids_limit = true,
		.pids_limit = 10,
		.has_memory_limit = true,
		.memory_limit = 128 << 20,
		.has_memory_swap = true,
		.memory_swap = 64 << 20,
	};
	ASSERT_EQ(cg_apply(g, &swap, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "linux.resources.memory.swap");
	struct cg_resources rt = {
		.has_pids_limit = true,
		.pids_limit = 10,
		.has_rt_runtime = true,
		.rt_runtime = 1000,
	};
	ASSERT_EQ(cg_apply(g, &rt, &e), -EOPNOTSUPP);
	ASSERT_STREQ(cg_read(rel, "pids.max"), "32");
	ASSERT_STREQ(cg_read(rel, "memory.max"), "max");
	ASSERT_EQ(cg_destroy(g, &e), 0);
	cg_group_free(g);
}

/* Child i of sibling_race: creates PARENT/cI and writes cpuset.cpus and
 * pids.max there, once the read end of go says go; exit 0 on success. */
static __attribute__((noreturn)) void race_one(const char *parent, int i,
					       int go)
{
	char c;
	if (read(go, &c, 1) < 0)
		_exit(2);
	struct berr e = {0};
	char *path = base_sprintf("%s/c%d", parent, i);
	struct cg_group *g = NULL;
	struct cg_resources r = {
		.cpuset_cpus = "0", .has_pids_limit = true, .pids_limit = 64};
	if (cg_create(path, "c", &g, &e) < 0 || cg_apply(g, &r, &e) < 0) {
		fprintf(stderr, "    %s: %s\n", path, e.msg);
		_exit(1);
	}
	_exit(0);
}

/* SIBLINGS processes create sibling groups below a parent none of them
 * has seen yet (berth par's workers, started together), and write to the
 * controllers' files at once. The kernel lists a controller in
 * cgroup.subtree_control before the children's files of that controller
 * exist: one that trusted the list while another was still enabling
 * failed with "set .../cpuset.cpus to "0": No such file or directory". */
CG_TEST(v2_sibling_groups_made_together_get_their_controllers)
{
	need_root_v2();
	enum { ROUNDS = 30, SIBLINGS = 4 };
	for (int round = 0; round < ROUNDS; round++) {
		char *parent = base_sprintf("/%s/r%d", g_top, round);
		int go[2];
		ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
		pid_t kids[SIBLINGS];
		for (int i = 0; i < SIBLINGS; i++) {
			kids[i] = fork();
			ASSERT_TRUE(kids[i] >= 0);
			if (kids[i] == 0) {
				close(go[1]);
				race_one(parent, i, go[0]);
			}
		}
		close(go[0]);
		close(go[1]); /* every child's read returns now */
		int failed = 0;
		for (int i = 0; i < SIBLINGS; i++)
			failed += reap(kids[i]) != 1000;
		if (failed)
			test_fail(__FILE__, __LINE__,
				  "round %d: %d of %d siblings failed", round,
				  failed, SIBLINGS);
		free(parent);
	}
}

/* Forks until the kernel refuses: the number of children made. */
static int fork_until_refused(void)
{
	pid_t kids[8];
	int made = 0;
	while (made < 8) {
		pid_t p = fork();
		if (p < 0)
			break;
		if (p == 0) {
			pause();
			_exit(0);
		}
		kids[made++] = p;
	}
	for (int i = 0; i < made; i++)
		kill(kids[i], SIGKILL);
	return made;
}

/* The count after "key " in a flat-keyed file such as pids.events. */
static long long event_count(const char *rel, const char *file, const char *key)
{
	char *s = cg_read(rel, file);
	char *k = base_sprintf("%s ", key);
	long long v = -1;
	char *save = NULL;
	for (char *l = s ? strtok_r(s, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		if (!strncmp(l, k, strlen(k)))
			v = strtoll(l + strlen(k), NULL, 10);
	free(k);
	free(s);
	return v;
}

/* Touches 64 MiB: a group with less memory and no swap is OOM-killed. */
static int touch_64m(void)
{
	size_t len = 64 << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	return 0;
}

CG_TEST(v2_limits_are_enforced_by_the_kernel)
{
	need_root_v2();
	struct berr e = {0};
	struct cg_group *g = new_group("pids");
	const char *rel = rel_of(g);
	struct cg_resources r = {.has_pids_limit = true, .pids_limit = 3};
	ASSERT_EQ(cg_apply(g, &r, &e), 0);
	int fd = cg_open_clone_fd(g, &e);
	ASSERT_TRUE(fd >= 0);
	pid_t p = clone_into(fd, fork_until_refused);
	close(fd);
	ASSERT_TRUE(p > 0);
	ASSERT_EQ(reap(p), 1000 + 2); /* itself plus two */
	ASSERT_TRUE(event_count(rel, "pids.events", "max") > 0);

	struct cg_group *m = new_group("mem");
	const char *mrel = rel_of(m);
	struct cg_resources mr = {
		.has_memory_limit = true,
		.memory_limit = 16 << 20,
		.has_memory_swap = true,
		.memory_swap = 16 << 20,
	};
	ASSERT_EQ(cg_apply(m, &mr, &e), 0);
	ASSERT_STREQ(cg_read(mrel, "memory.swap.max"), "0");
	fd = cg_open_clone_fd(m, &e);
	ASSERT_TRUE(fd >= 0);
	pid_t q = clone_into(fd, touch_64m);
	close(fd);
	ASSERT_TRUE(q > 0);
	ASSERT_EQ(reap(q), SIGKILL);
	ASSERT_EQ(event_count(mrel, "memory.events", "oom_kill"), 1);

	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_EQ(cg_destroy(m, &e), 0);
	cg_group_free(g);
	cg_group_free(m);
}
