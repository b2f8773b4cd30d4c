/* cgroups/: layout detection, path resolution and the group lifecycle on
 * the real hierarchies of the host (as root). Every group lives under
 * "berth-test-cg-<pid>", which a guard process removes after each test even
 * when an assertion fails half way. */
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cgroups/cgroups-internal.h"
#include "tests/unit/test.h"

static char g_top[64]; /* "berth-test-cg-<pid>" */

static const struct cg_layout *layout(void)
{
	const struct cg_layout *lo = NULL;
	struct berr e = {0};
	if (cg_layout_get(&lo, &e) < 0)
		test_fail(__FILE__, __LINE__, "layout: %s", e.msg);
	return lo;
}

static void need_root_hybrid(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (layout()->mode != CG_MODE_HYBRID)
		test_skip("needs a hybrid host, this one is %s",
			  cg_mode_name(layout()->mode));
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static char *slurp(const char *path)
{
	char *s = NULL;
	if (base_read_file_at(AT_FDCWD, path, &s, NULL, 0) < 0)
		return NULL;
	return s;
}

/* The mount point of the hierarchy holding controller ("unified" names the
 * cgroup2 one). */
static const char *mnt(const char *controller)
{
	const struct cg_layout *lo = layout();
	int i = strcmp(controller, "unified") ? cg_layout_find(lo, controller)
					      : lo->v2;
	if (i < 0)
		test_fail(__FILE__, __LINE__, "no %s hierarchy", controller);
	return lo->hiers[i].mount;
}

static char *own_cgroup(const char *controller)
{
	const struct cg_layout *lo = layout();
	char *sc = slurp("/proc/self/cgroup");
	char **own = base_calloc(lo->n, sizeof(*own));
	cg_layout_own(lo, sc, own);
	int i = cg_layout_find(lo, controller);
	char *r = base_strdup(i >= 0 && own[i] ? own[i] : "/");
	for (size_t j = 0; j < lo->n; j++)
		free(own[j]);
	free(own);
	free(sc);
	return r;
}

/* A test that fails half way must not leave its children running (they
 * would also hold the runner's output pipe open). */
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

/* ---- the guard: removes every test group whatever the test did ---- */

static void scrub(const char *dir)
{
	char *f = base_sprintf("%s/freezer.state", dir);
	base_write_file_at(AT_FDCWD, f, "THAWED", 6, 0);
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
	pid_t *pids = NULL;
	size_t n = 0;
	if (cg_read_pids(dir, false, &pids, &n) == 0)
		for (size_t i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
	free(pids);
	for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
		usleep(10000);
}

static void scrub_all(void)
{
	const struct cg_layout *lo = layout();
	char *sc = slurp("/proc/self/cgroup");
	char **own = base_calloc(lo->n, sizeof(*own));
	cg_layout_own(lo, sc, own);
	for (size_t i = 0; i < lo->n; i++) {
		char *a = base_sprintf("%s/%s", lo->hiers[i].mount, g_top);
		scrub(a);
		free(a);
		if (own[i] && strcmp(own[i], "/")) {
			a = base_sprintf("%s%s/%s", lo->hiers[i].mount, own[i],
					 g_top);
			scrub(a);
			free(a);
		}
		free(own[i]);
	}
	free(own);
	free(sc);
}

/* Creating a group enables the root's controllers in the unified root's
 * subtree_control (as runc does); the guard turns back on what it found. */
static char *unified_root_control(void)
{
	const struct cg_layout *lo = layout();
	if (lo->v2 < 0)
		return NULL;
	char *f = base_sprintf("%s/cgroup.subtree_control",
			       lo->hiers[lo->v2].mount);
	char *s = slurp(f);
	free(f);
	return s;
}

static void restore_unified_root(const char *before)
{
	char *now = unified_root_control();
	if (!before || !now) {
		free(now);
		return;
	}
	char *f = base_sprintf("%s/cgroup.subtree_control",
			       layout()->hiers[layout()->v2].mount);
	char *save = NULL;
	for (char *w = strtok_r(now, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save)) {
		char *pad = base_sprintf(" %s ", w);
		char *hay = base_sprintf(" %s ", before);
		for (char *c = hay; *c; c++)
			if (*c == '\n')
				*c = ' ';
		if (!strstr(hay, pad)) {
			char *off = base_sprintf("-%s", w);
			base_write_file_at(AT_FDCWD, f, off, strlen(off), 0);
			free(off);
		}
		free(pad);
		free(hay);
	}
	free(f);
	free(now);
}

static void guarded(void (*body)(void))
{
	snprintf(g_top, sizeof(g_top), "berth-test-cg-%d", (int)getpid());
	char *before = geteuid() == 0 ? unified_root_control() : NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	scrub_all();
	restore_unified_root(before);
	free(before);
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

TEST(detect_finds_the_hybrid_hierarchies)
{
	enum cg_mode mode;
	struct berr e = {0};
	ASSERT_EQ(cg_detect(&mode, &e), 0);
	if (mode != CG_MODE_HYBRID)
		test_skip("this host is %s", cg_mode_name(mode));
	const struct cg_layout *lo = layout();
	const char *want[] = {"cpu",	 "cpuacct", "memory",	   "pids",
			      "freezer", "cpuset",  "name=systemd"};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ASSERT_TRUE(cg_layout_find(lo, want[i]) >= 0);
	ASSERT_TRUE(lo->v2 >= 0);
	ASSERT_CONTAINS(lo->hiers[lo->v2].mount, "/unified");
	ASSERT_STREQ(cg_mode_name(mode), "hybrid");
	/* cached: the same object every time */
	const struct cg_layout *again = NULL;
	ASSERT_EQ(cg_layout_get(&again, NULL), 0);
	ASSERT_TRUE(again == lo);
}

#define MI_TMPFS "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"

TEST(layout_parse_v2)
{
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse("30 23 0:26 / /sys/fs/cgroup rw,nosuid "
				  "shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
				  "0::/user.slice/session-1.scope\n", &lo,
				  NULL),
		  0);
	ASSERT_EQ(lo->mode, CG_MODE_V2);
	ASSERT_EQ(lo->n, 1);
	ASSERT_EQ(lo->v2, 0);
	ASSERT_TRUE(lo->drv == &cg_driver_v2);
	ASSERT_STREQ(lo->hiers[0].mount, "/sys/fs/cgroup");
	char *own[1] = {NULL};
	cg_layout_own(lo, "0::/user.slice/session-1.scope\n", own);
	ASSERT_STREQ(own[0], "/user.slice/session-1.scope");
	free(own[0]);
	cg_layout_free(lo);
}

TEST(layout_parse_v1_comounts_names_and_duplicates)
{
	const char *mi = MI_TMPFS
		"32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
		"rw,cpu,cpuacct\n"
		"35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup "
		"rw,memory\n"
		"40 31 0:37 / /sys/fs/cgroup/sys\\040temd rw - cgroup cgroup "
		"rw,xattr,name=systemd\n"
		"50 23 0:32 / /mnt/again rw - cgroup cgroup rw,memory\n";
	const char *sc = "5:name=systemd:/init.scope\n4:memory:/a/b\n"
			 "2:cpu,cpuacct:/\n1:pids:/\n";
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, sc, &lo, NULL), 0);
	ASSERT_EQ(lo->mode, CG_MODE_V1);
	ASSERT_EQ(lo->n, 3); /* pids is not mounted */
	ASSERT_EQ(lo->v2, -1);
	int cpu = cg_layout_find(lo, "cpu");
	ASSERT_TRUE(cpu >= 0);
	ASSERT_EQ(cg_layout_find(lo, "cpuacct"), cpu);
	ASSERT_STREQ(lo->hiers[cpu].controllers, "cpu,cpuacct");
	int mem = cg_layout_find(lo, "memory");
	ASSERT_STREQ(lo->hiers[mem].mount, "/sys/fs/cgroup/memory");
	int sd = cg_layout_find(lo, "name=systemd");
	ASSERT_STREQ(lo->hiers[sd].mount, "/sys/fs/cgroup/sys temd");
	ASSERT_EQ(cg_layout_find(lo, "pids"), -1);
	char *own[3] = {NULL, NULL, NULL};
	cg_layout_own(lo, sc, own);
	ASSERT_STREQ(own[mem], "/a/b");
	ASSERT_STREQ(own[sd], "/init.scope");
	ASSERT_STREQ(own[cpu], "/");
	for (int i = 0; i < 3; i++)
		free(own[i]);
	cg_layout_free(lo);
}

TEST(layout_parse_hybrid_and_bind_mounted_roots)
{
	const char *mi =
		MI_TMPFS "35 31 0:32 /docker/c1 /sys/fs/cgroup/memory rw - "
			 "cgroup cgroup rw,memory\n"
			 "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 "
			 "cgroup2 rw\n";
	const char *sc = "4:memory:/docker/c1/sub\n0::/\n";
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, sc, &lo, NULL), 0);
	ASSERT_EQ(lo->mode, CG_MODE_HYBRID);
	ASSERT_TRUE(lo->drv == &cg_driver_hybrid);
	ASSERT_EQ(lo->n, 2);
	ASSERT_STREQ(lo->hiers[lo->v2].mount, "/sys/fs/cgroup/unified");
	char *own[2] = {NULL, NULL};
	cg_layout_own(lo, sc, own);
	/* the mount shows /docker/c1 as its root: own is below that */
	ASSERT_STREQ(own[cg_layout_find(lo, "memory")], "/sub");
	ASSERT_STREQ(own[lo->v2], "/");
	free(own[0]);
	free(own[1]);
	cg_layout_free(lo);

	struct berr e = {0};
	ASSERT_EQ(cg_layout_parse(MI_TMPFS, "0::/\n", &lo, &e), -ENOENT);
	ASSERT_CONTAINS(e.msg, "no cgroup filesystem");
}

/* ---- paths ---- */

TEST(path_clean_normalises_and_refuses)
{
	char *p = NULL;
	struct berr e = {0};
	ASSERT_EQ(cg_path_clean("/a//b/./c/", &p, NULL), 0);
	ASSERT_STREQ(p, "/a/b/c");
	free(p);
	ASSERT_EQ(cg_path_clean("./a/b/", &p, NULL), 0);
	ASSERT_STREQ(p, "a/b");
	free(p);
	ASSERT_EQ(cg_path_clean("a/../b", &p, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "cgroupsPath \"a/../b\": must not contain \"..\"");
	ASSERT_EQ(cg_path_clean("//", &p, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "below the root");
	ASSERT_EQ(cg_path_clean(".", &p, &e), -EINVAL);
	ASSERT_EQ(cg_path_clean("/a;b", &p, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "must not contain \";\"");
	p = cg_path_join("/", "x");
	ASSERT_STREQ(p, "/x");
	free(p);
	p = cg_path_join("/a/b", "x/y");
	ASSERT_STREQ(p, "/a/b/x/y");
	free(p);
}

TEST(resolved_form_round_trips)
{
	const char *mi = MI_TMPFS
		"32 31 0:29 / /cg/pids rw - cgroup cgroup rw,pids\n"
		"35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory\n"
		"36 31 0:33 / /cg/freezer rw - cgroup cgroup rw,freezer\n";
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, "3:freezer:/\n2:memory:/\n1:pids:/\n",
				  &lo, NULL),
		  0);
	const char *form = "/b/c1;/cg/memory=/own/b/c1;parents=1";
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_open_in(lo, form, &g, NULL), 0);
	ASSERT_STREQ(cg_path(g), form);
	struct cg_dir *mem = cg_group_dir(g, "memory");
	ASSERT_STREQ(mem->path, "/cg/memory/own/b/c1");
	ASSERT_STREQ(cg_group_dir(g, "pids")->path, "/cg/pids/b/c1");
	ASSERT_EQ(mem->parents, 1);
	char *again = cg_path_format(g);
	ASSERT_STREQ(again, form);
	free(again);
	cg_group_free(g);

	/* plain runc-style paths open too; tampered ones do not */
	ASSERT_EQ(cg_open_in(lo, "/x/y", &g, NULL), 0);
	ASSERT_STREQ(cg_group_dir(g, "freezer")->path, "/cg/freezer/x/y");
	ASSERT_EQ(cg_group_dir(g, "freezer")->parents, 0);
	cg_group_free(g);
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/x/../../etc", &g, &e), -EINVAL);
	ASSERT_EQ(cg_open_in(lo, "/x;/cg/pids=rel", &g, &e), -EINVAL);
	ASSERT_EQ(cg_open_in(lo, "", &g, &e), -EINVAL);
	cg_layout_free(lo);
}

TEST(resolved_form_keeps_the_systemd_unit)
{
	const char *mi = MI_TMPFS "32 31 0:29 / /cg rw - cgroup2 cgroup2 rw\n";
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, "0::/\n", &lo, NULL), 0);
	const char *form = "/system.slice/berth-c1.scope;unit=berth-c1.scope";
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_open_in(lo, form, &g, NULL), 0);
	ASSERT_STREQ(g->unit, "berth-c1.scope");
	ASSERT_STREQ(g->dirs[0].path, "/cg/system.slice/berth-c1.scope");
	char *again = cg_path_format(g);
	ASSERT_STREQ(again, form);
	free(again);
	cg_group_free(g);
	struct berr e = {0};
	ASSERT_EQ(cg_open_in(lo, "/a;unit=x.service", &g, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "bad \"unit=x.service\"");
	ASSERT_EQ(cg_open_in(lo, "/a;unit=a/b.scope", &g, &e), -EINVAL);
	cg_layout_free(lo);
}

/* systemd's names, as runc reads them: slice:prefix:name */
static void systemd_case(const char *path, const char *id, const char *slice,
			 const char *unit, const char *cgpath)
{
	char *s = NULL, *u = NULL, *p = NULL;
	struct berr e = {0};
	int r = cg_systemd_parse(path, id, &s, &u, &p, &e);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "%s: %s", path, e.msg);
	ASSERT_STREQ(s, slice);
	ASSERT_STREQ(u, unit);
	ASSERT_STREQ(p, cgpath);
	free(s);
	free(u);
	free(p);
}

TEST(systemd_paths)
{
	systemd_case("system.slice:docker:abc", "x", "system.slice",
		     "docker-abc.scope", "/system.slice/docker-abc.scope");
	systemd_case("machine-a-b.slice:libpod:c1", "x", "machine-a-b.slice",
		     "libpod-c1.scope",
		     "/machine.slice/machine-a.slice/machine-a-b.slice/"
		     "libpod-c1.scope");
	systemd_case(":berth:c2", "x", "system.slice", "berth-c2.scope",
		     "/system.slice/berth-c2.scope");
	systemd_case("", "c3", "system.slice", "berth-c3.scope",
		     "/system.slice/berth-c3.scope");
	systemd_case("-.slice::top", "x", "-.slice", "top.scope", "/top.scope");
	static const char *const bad[] = {
		"system.slice:berth:",
		"/a/b",
		"a:b",
		"a:b:c:d",
		"system:berth:c",
		"a--b.slice:p:n",
		"-a.slice:p:n",
		"s.slice:p:n/m",
		"s.slice:p/q:n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *s = NULL, *u = NULL, *p = NULL;
		struct berr e = {0};
		if (cg_systemd_parse(bad[i], "x", &s, &u, &p, &e) != -EINVAL)
			test_fail(__FILE__, __LINE__, "%s accepted", bad[i]);
		ASSERT_CONTAINS(e.msg, "cgroupsPath");
	}
}

/* ---- the lifecycle on this host ---- */

static void assert_dirs(const char *rel, bool present)
{
	const char *ctrls[] = {"pids",	  "memory",	  "cpu",    "cpuset",
			       "freezer", "name=systemd", "unified"};
	for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
		char *p = base_sprintf("%s%s", mnt(ctrls[i]), rel);
		if (exists(p) != present)
			test_fail(__FILE__, __LINE__, "%s %s", p,
				  present ? "missing" : "still there");
		free(p);
	}
}

static bool proc_in(pid_t pid, const char *line)
{
	char *f = base_sprintf("/proc/%d/cgroup", (int)pid);
	char *s = slurp(f);
	bool r = s && strstr(s, line);
	free(s);
	free(f);
	return r;
}

static int reap(pid_t pid)
{
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
}

CG_TEST(absolute_group_lifecycle)
{
	need_root_hybrid();
	struct berr e = {0};
	char *path = base_sprintf("/%s/a/c1", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "c1", &g, &e), 0);
	/* parents made: "<top>/a" are two levels */
	char *expect = base_sprintf("%s;parents=2", path);
	ASSERT_STREQ(cg_path(g), expect);
	assert_dirs(path, true);

	pid_t child = sleeper();
	ASSERT_EQ(cg_attach(g, child, &e), 0);
	char *line = base_sprintf(":pids:%s\n", path);
	ASSERT_TRUE(proc_in(child, line));
	char *line2 = base_sprintf("0::%s\n", path);
	ASSERT_TRUE(proc_in(child, line2));
	ASSERT_EQ(cg_open_clone_fd(g, &e), -EOPNOTSUPP);

	pid_t *pids = NULL;
	size_t n = 0;
	ASSERT_EQ(cg_procs(g, &pids, &n, &e), 0);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(pids[0], child);
	free(pids);

	bool frozen = true;
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	char *fs = base_sprintf("%s%s/freezer.state", mnt("freezer"), path);
	char *state = slurp(fs);
	ASSERT_STREQ(state, "FROZEN\n");
	free(state);
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(frozen);
	ASSERT_EQ(cg_freeze(g, false, &e), 0);
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);

	ASSERT_EQ(cg_kill_all(g, SIGKILL, &e), 0);
	ASSERT_EQ(reap(child), SIGKILL);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	assert_dirs(path, false);
	char *top = base_sprintf("/%s", g_top);
	assert_dirs(top, false); /* the parents create made */
	ASSERT_EQ(cg_destroy(g, &e), 0);
	cg_group_free(g);
}

/* A child that moves itself (cg_join) and then idles. */
static pid_t joiner(struct cg_group *g, bool v2_placed, int cgfd)
{
	struct clone_args args = {.exit_signal = SIGCHLD};
	if (cgfd >= 0) {
		args.flags = CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	pid_t parent = getpid();
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0) {
		struct berr e = {0};
		if (cg_join(g, v2_placed, &e) < 0)
			_exit(3);
		idle_until_parent_dies(parent);
	}
	return (pid_t)pid;
}

static bool in_every_hierarchy(pid_t pid, const char *path)
{
	const struct cg_layout *lo = layout();
	bool all = true;
	for (size_t i = 0; i < lo->n && all; i++) {
		const struct cg_hier *h = &lo->hiers[i];
		char *line =
			h->v2 ? base_sprintf("0::%s\n", path)
			      : base_sprintf(":%s:%s\n", h->controllers, path);
		all = proc_in(pid, line);
		free(line);
	}
	return all;
}

CG_TEST(create_in_two_steps_and_join_self)
{
	need_root_hybrid();
	struct berr e = {0};
	char *path = base_sprintf("/%s/s/c", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create_begin(path, "c", &g, &e), 0);
	/* the cgroup2 directory alone, so clone3 can start a process there */
	ASSERT_TRUE(exists(base_sprintf("%s%s", mnt("unified"), path)));
	ASSERT_TRUE(!exists(base_sprintf("%s%s", mnt("pids"), path)));
	int fd = cg_open_v2_clone_fd(g, &e);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(cg_create_finish(g, &e), 0);
	assert_dirs(path, true);
	ASSERT_STREQ(cg_path(g), base_sprintf("%s;parents=2", path));

	/* v1 through tasks, cgroup2 by the clone */
	int fds[BASE_MAX_FDS];
	size_t n = 0;
	ASSERT_EQ(cg_open_join_fds(g, true, fds, ARRAY_SIZE(fds), &n, &e), 0);
	ASSERT_EQ(n, layout()->n - 1);
	cg_close_fds(fds, &n);
	ASSERT_EQ(n, 0);
	pid_t a = joiner(g, true, fd);
	close(fd);
	pid_t b = joiner(g, false, -1); /* cgroup2 by its cgroup.procs */
	ASSERT_TRUE(a > 0 && b > 0);
	for (int i = 0; i < 500 && !(in_every_hierarchy(a, path) &&
				     in_every_hierarchy(b, path));
	     i++)
		usleep(2000);
	ASSERT_TRUE(in_every_hierarchy(a, path));
	ASSERT_TRUE(in_every_hierarchy(b, path));
	pid_t *pids = NULL;
	ASSERT_EQ(cg_procs(g, &pids, &n, &e), 0);
	ASSERT_EQ(n, 2);
	free(pids);
	ASSERT_EQ(cg_kill_all(g, SIGKILL, &e), 0);
	ASSERT_EQ(reap(a), SIGKILL);
	ASSERT_EQ(reap(b), SIGKILL);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	assert_dirs(path, false);
	assert_dirs(base_sprintf("/%s", g_top), false);
	cg_group_free(g);
}

CG_TEST(begun_group_removes_only_what_it_made)
{
	need_root_hybrid();
	struct berr e = {0};
	char *top = base_sprintf("/%s", g_top);
	char *path = base_sprintf("%s/c", top);
	/* someone else's group at the same place in one v1 hierarchy */
	char *theirs = base_sprintf("%s%s", mnt("pids"), path);
	ASSERT_EQ(mkdir(base_sprintf("%s%s", mnt("pids"), top), 0755), 0);
	ASSERT_EQ(mkdir(theirs, 0755), 0);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create_begin(path, "c", &g, &e), 0);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_TRUE(!exists(base_sprintf("%s%s", mnt("unified"), top)));
	ASSERT_TRUE(exists(theirs));
	cg_group_free(g);
	ASSERT_EQ(rmdir(theirs), 0);
}

CG_TEST(resolved_group_names_what_it_will_make_before_making_it)
{
	need_root_hybrid();
	struct berr e = {0};
	char *path = base_sprintf("/%s/r/c", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_resolve(path, "c", &g, &e), 0);
	/* the record a killed create leaves: every path, nothing made */
	char *recorded = base_strdup(cg_path(g));
	ASSERT_STREQ(recorded, path);
	ASSERT_TRUE(!exists(base_sprintf("%s/%s", mnt("unified"), g_top)));
	ASSERT_EQ(cg_make_begin(g, &e), 0);
	ASSERT_EQ(cg_create_finish(g, &e), 0);
	assert_dirs(path, true);
	cg_group_free(g);
	/* what another berth removes from that record alone */
	ASSERT_EQ(cg_open(recorded, &g, &e), 0);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	assert_dirs(base_sprintf("/%s", g_top), false);
	cg_group_free(g);
}

CG_TEST(the_last_group_out_removes_the_parent_berth_made)
{
	need_root_hybrid();
	struct berr e = {0};
	char *top = base_sprintf("/%s", g_top);
	struct cg_group *a = NULL, *b = NULL;
	ASSERT_EQ(cg_create(base_sprintf("%s/adv/a", top), "a", &a, &e), 0);
	/* b finds adv made: only a made it */
	ASSERT_EQ(cg_create(base_sprintf("%s/adv/b", top), "b", &b, &e), 0);
	ASSERT_EQ(cg_destroy(a, &e), 0);
	assert_dirs(base_sprintf("%s/adv", top), true);
	ASSERT_EQ(cg_destroy(b, &e), 0);
	assert_dirs(top, false);
	cg_group_free(a);
	cg_group_free(b);
	/* a parent someone else made stays, empty or not */
	for (size_t i = 0; i < layout()->n; i++)
		ASSERT_EQ(mkdir(base_sprintf("%s%s", layout()->hiers[i].mount,
					     top),
				0755),
			  0);
	ASSERT_EQ(cg_create(base_sprintf("%s/adv/a", top), "a", &a, &e), 0);
	ASSERT_EQ(cg_destroy(a, &e), 0);
	assert_dirs(base_sprintf("%s/adv", top), false);
	assert_dirs(top, true);
	cg_group_free(a);
}

/* A parent that exists in some hierarchies only: berth makes it in the
 * others, and a later delete (another process, the group reopened from
 * its recorded path) removes only those, never the ones it found. */
CG_TEST(a_parent_found_in_some_hierarchies_stays_there)
{
	need_root_hybrid();
	struct berr e = {0};
	char *top = base_sprintf("/%s", g_top);
	const struct cg_layout *lo = layout();
	ASSERT_TRUE(lo->n >= 2);
	char *found = base_sprintf("%s%s", lo->hiers[0].mount, top);
	ASSERT_EQ(mkdir(found, 0755), 0);
	struct cg_group *a = NULL, *reopened = NULL;
	ASSERT_EQ(cg_create(base_sprintf("%s/x", top), "x", &a, &e), 0);
	ASSERT_EQ(cg_open(cg_path(a), &reopened, &e), 0);
	ASSERT_EQ(cg_destroy(reopened, &e), 0);
	struct stat st;
	ASSERT_EQ(stat(found, &st), 0);
	for (size_t i = 1; i < lo->n; i++)
		ASSERT_TRUE(stat(base_sprintf("%s%s", lo->hiers[i].mount, top),
				 &st) < 0);
	cg_group_free(a);
	cg_group_free(reopened);
}

/* Creates and destroys racing below one parent none of them made first:
 * every create succeeds, and the parent goes with the last group. */
CG_TEST(concurrent_groups_below_one_parent_leave_nothing)
{
	need_root_hybrid();
	enum { PROCS = 8, ROUNDS = 15 };
	pid_t kids[PROCS];
	for (int k = 0; k < PROCS; k++) {
		fflush(NULL);
		kids[k] = fork();
		ASSERT_TRUE(kids[k] >= 0);
		if (kids[k] > 0)
			continue;
		for (int i = 0; i < ROUNDS; i++) {
			struct berr ke = {0};
			struct cg_group *g = NULL;
			char *p = base_sprintf("/%s/adv/c%d", g_top, k);
			if (cg_create(p, "c", &g, &ke) < 0 ||
			    cg_destroy(g, &ke) < 0) {
				fprintf(stderr, "round %d: %s\n", i, ke.msg);
				_exit(1);
			}
			cg_group_free(g);
			free(p);
		}
		_exit(0);
	}
	for (int k = 0; k < PROCS; k++) {
		int st = 0;
		ASSERT_EQ(waitpid(kids[k], &st, 0), kids[k]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_dirs(base_sprintf("/%s", g_top), false);
}

CG_TEST(join_self_names_the_file_it_could_not_write)
{
	need_root_hybrid();
	struct berr e = {0};
	int fds[1] = {open("/proc/self/stat", O_RDONLY | O_CLOEXEC)};
	size_t n = 1;
	ASSERT_TRUE(fds[0] >= 0);
	ASSERT_EQ(cg_join_self(fds, &n, &e), -EBADF);
	ASSERT_EQ(n, 0);
	ASSERT_CONTAINS(e.msg, "join cgroup: write 0 to /proc/");
	ASSERT_CONTAINS(e.msg, "/stat: Bad file descriptor");
}

CG_TEST(destroy_kills_leftovers_even_when_frozen)
{
	need_root_hybrid();
	struct berr e = {0};
	char *top = base_sprintf("/%s", g_top);
	ASSERT_EQ(mkdir(base_sprintf("%s%s", mnt("pids"), top), 0755), 0);
	char *path = base_sprintf("%s/c2", top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "c2", &g, &e), 0);
	pid_t a = sleeper(), b = sleeper();
	ASSERT_EQ(cg_attach(g, a, &e), 0);
	ASSERT_EQ(cg_attach(g, b, &e), 0);
	/* a nested group, as a container's own systemd would make */
	char *sub = base_sprintf("%s%s/sub", mnt("pids"), path);
	ASSERT_EQ(mkdir(sub, 0755), 0);
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_EQ(reap(a), SIGKILL);
	ASSERT_EQ(reap(b), SIGKILL);
	assert_dirs(path, false);
	/* pids/<top> existed before: only the parents made elsewhere go */
	ASSERT_TRUE(exists(base_sprintf("%s%s", mnt("pids"), top)));
	ASSERT_TRUE(!exists(base_sprintf("%s%s", mnt("memory"), top)));
	cg_group_free(g);
}

CG_TEST(kill_all_other_signals_freeze_and_thaw)
{
	need_root_hybrid();
	struct berr e = {0};
	char *path = base_sprintf("/%s", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "x", &g, &e), 0);
	pid_t a = sleeper();
	ASSERT_EQ(cg_attach(g, a, &e), 0);
	ASSERT_EQ(cg_kill_all(g, SIGTERM, &e), 0);
	ASSERT_EQ(reap(a), SIGTERM);
	bool frozen = true;
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	assert_dirs(path, false);
	cg_group_free(g);
}

CG_TEST(relative_path_follows_own_cgroup_per_hierarchy)
{
	need_root_hybrid();
	struct berr e = {0};
	char *rel = base_sprintf("%s/r1", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(rel, "r1", &g, &e), 0);
	char *own_mem = own_cgroup("memory");
	char *mem = base_sprintf("%s%s/%s", mnt("memory"),
				 strcmp(own_mem, "/") ? own_mem : "", rel);
	ASSERT_TRUE(exists(mem));
	char *own_pids = own_cgroup("pids");
	char *pids = base_sprintf("%s%s/%s", mnt("pids"),
				  strcmp(own_pids, "/") ? own_pids : "", rel);
	ASSERT_TRUE(exists(pids));
	if (strcmp(own_mem, own_pids))
		ASSERT_CONTAINS(cg_path(g), base_sprintf("%s=", mnt("memory")));

	/* another process, sitting in another group, removes it by name */
	char *resolved = base_strdup(cg_path(g));
	struct cg_group *other = NULL;
	char *opath = base_sprintf("/%s/elsewhere", g_top);
	ASSERT_EQ(cg_create(opath, "o", &other, &e), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct berr ce = {0};
		struct cg_group *h = NULL;
		if (cg_attach(other, getpid(), &ce) < 0 ||
		    cg_open(resolved, &h, &ce) < 0 || cg_destroy(h, &ce) < 0) {
			fprintf(stderr, "child: %s\n", ce.msg);
			_exit(1);
		}
		_exit(0);
	}
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_TRUE(!exists(mem));
	ASSERT_TRUE(!exists(pids));
	ASSERT_EQ(cg_destroy(other, &e), 0);
	cg_group_free(other);
	cg_group_free(g);
}

CG_TEST(empty_path_uses_the_id_under_own_cgroup)
{
	need_root_hybrid();
	struct berr e = {0};
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create("", g_top, &g, &e), 0);
	char *own = own_cgroup("pids");
	char *p = base_sprintf("%s%s/%s", mnt("pids"),
			       strcmp(own, "/") ? own : "", g_top);
	ASSERT_TRUE(exists(p));
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_TRUE(!exists(p));
	cg_group_free(g);
	ASSERT_EQ(cg_create("", "../x", &g, &e), -EINVAL);
}

CG_TEST(dotdot_is_refused_and_nothing_made)
{
	need_root_hybrid();
	struct berr e = {0};
	struct cg_group *g = NULL;
	char *bad = base_sprintf("%s/../y", g_top);
	ASSERT_EQ(cg_create(bad, "y", &g, &e), -EINVAL);
	char *msg = base_sprintf("cgroupsPath \"%s\": must not contain \"..\"",
				 bad);
	ASSERT_STREQ(e.msg, msg);
	char *top = base_sprintf("/%s", g_top);
	assert_dirs(top, false);
	ASSERT_EQ(cg_create("/", "y", &g, &e), -EINVAL);
}

CG_TEST(cpuset_child_gets_parent_cpus_and_mems)
{
	need_root_hybrid();
	struct berr e = {0};
	char *path = base_sprintf("/%s/p/q", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create(path, "q", &g, &e), 0);
	char *root_cpus = slurp(base_sprintf("%s/cpuset.cpus", mnt("cpuset")));
	char *root_mems = slurp(base_sprintf("%s/cpuset.mems", mnt("cpuset")));
	char *cpus =
		slurp(base_sprintf("%s%s/cpuset.cpus", mnt("cpuset"), path));
	char *mems =
		slurp(base_sprintf("%s%s/cpuset.mems", mnt("cpuset"), path));
	ASSERT_TRUE(root_cpus && strcmp(root_cpus, "\n"));
	ASSERT_STREQ(cpus, root_cpus);
	ASSERT_STREQ(mems, root_mems);
	pid_t a = sleeper();
	ASSERT_EQ(cg_attach(g, a, &e), 0); /* no ENOSPC */
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_EQ(reap(a), SIGKILL);
	cg_group_free(g);
}

CG_TEST(failed_create_leaves_nothing_behind)
{
	need_root_hybrid();
	/* the real pids hierarchy plus one whose mount point is missing */
	char *mi = base_sprintf(
		"39 31 0:36 / %s rw - cgroup cgroup rw,pids\n"
		"40 31 0:99 / /nonexistent-berth/cpu rw - cgroup cgroup "
		"rw,cpu\n",
		mnt("pids"));
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, "8:pids:/\n1:cpu:/\n", &lo, NULL), 0);
	ASSERT_EQ(lo->n, 2);
	struct berr e = {0};
	struct cg_group *g = NULL;
	char *path = base_sprintf("/%s/a/b", g_top);
	ASSERT_EQ(cg_create_in(lo, path, "b", &g, &e), -ENOENT);
	char *msg = base_sprintf("mkdir /nonexistent-berth/cpu/%s: No such "
				 "file or directory",
				 g_top);
	ASSERT_STREQ(e.msg, msg);
	ASSERT_TRUE(!exists(base_sprintf("%s/%s", mnt("pids"), g_top)));
	cg_layout_free(lo);
}

/* ---- the v2 driver, on this host's unified hierarchy alone ---- */

static struct cg_layout *unified_only(void)
{
	char *mi = base_sprintf("41 31 0:38 / %s rw - cgroup2 cgroup2 rw\n",
				mnt("unified"));
	struct cg_layout *lo = NULL;
	ASSERT_EQ(cg_layout_parse(mi, "0::/\n", &lo, NULL), 0);
	ASSERT_EQ(lo->mode, CG_MODE_V2);
	free(mi);
	return lo;
}

static pid_t clone_into(int cgfd)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)cgfd,
	};
	pid_t parent = getpid();
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		idle_until_parent_dies(parent);
	return (pid_t)pid;
}

CG_TEST(v2_driver_on_the_unified_hierarchy)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (layout()->v2 < 0)
		test_skip("no cgroup2 mount");
	struct cg_layout *lo = unified_only();
	struct berr e = {0};
	char *path = base_sprintf("/%s/v2/c", g_top);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create_in(lo, path, "c", &g, &e), 0);
	char *dir = base_sprintf("%s%s", mnt("unified"), path);
	ASSERT_TRUE(exists(dir));
	/* every controller of the root reaches the group */
	char *root_ctl =
		slurp(base_sprintf("%s/cgroup.controllers", mnt("unified")));
	char *ctl = slurp(base_sprintf("%s/cgroup.controllers", dir));
	ASSERT_STREQ(ctl, root_ctl);

	int fd = cg_open_clone_fd(g, &e);
	ASSERT_TRUE(fd >= 0);
	pid_t a = clone_into(fd);
	ASSERT_TRUE(a > 0);
	close(fd);
	ASSERT_TRUE(proc_in(a, base_sprintf("0::%s\n", path)));
	pid_t b = sleeper();
	ASSERT_EQ(cg_attach(g, b, &e), 0);
	pid_t *pids = NULL;
	size_t n = 0;
	ASSERT_EQ(cg_procs(g, &pids, &n, &e), 0);
	ASSERT_EQ(n, 2);
	free(pids);

	bool frozen = false;
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	ASSERT_CONTAINS(slurp(base_sprintf("%s/cgroup.events", dir)),
			"frozen 1");
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(frozen);
	ASSERT_EQ(cg_freeze(g, false, &e), 0);
	ASSERT_EQ(cg_is_frozen(g, &frozen, &e), 0);
	ASSERT_TRUE(!frozen);

	ASSERT_EQ(cg_kill_all(g, SIGTERM, &e), 0); /* freeze, signal, thaw */
	ASSERT_EQ(reap(a), SIGTERM);
	ASSERT_EQ(reap(b), SIGTERM);
	pid_t c = sleeper();
	ASSERT_EQ(cg_attach(g, c, &e), 0);
	ASSERT_EQ(cg_kill_all(g, SIGKILL, &e), 0); /* cgroup.kill */
	ASSERT_EQ(reap(c), SIGKILL);
	ASSERT_EQ(cg_destroy(g, &e), 0);
	ASSERT_TRUE(!exists(dir));
	ASSERT_TRUE(!exists(base_sprintf("%s/%s", mnt("unified"), g_top)));

	cg_group_free(g);
	cg_layout_free(lo);
}

CG_TEST(v2_destroy_of_a_reopened_frozen_group)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (layout()->v2 < 0)
		test_skip("no cgroup2 mount");
	struct cg_layout *lo = unified_only();
	struct berr e = {0};
	char *path = base_sprintf("/%s/v2/c", g_top);
	char *dir = base_sprintf("%s%s", mnt("unified"), path);
	struct cg_group *g = NULL;
	ASSERT_EQ(cg_create_in(lo, path, "c", &g, &e), 0);
	pid_t d = sleeper();
	ASSERT_EQ(cg_attach(g, d, &e), 0);
	ASSERT_EQ(cg_freeze(g, true, &e), 0);
	struct cg_group *h = NULL;
	ASSERT_EQ(cg_open_in(lo, cg_path(g), &h, &e), 0);
	ASSERT_EQ(cg_destroy(h, &e), 0);
	ASSERT_EQ(reap(d), SIGKILL);
	ASSERT_TRUE(!exists(dir));
	ASSERT_TRUE(!exists(base_sprintf("%s/%s", mnt("unified"), g_top)));
	cg_group_free(h);
	cg_group_free(g);
	cg_layout_free(lo);
}
