/* runtime/: process setup (rlimits, user, capabilities, cwd, fds, exec),
 * the console, signal names and the features document. Each test runs in
 * its own forked process, so changing that process's state is fine. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

#include "runtime/runtime-process-internal.h"
#include "tests/unit/test.h"

/* The value of a /proc/self/status line ("CapEff"), caller frees. */
static char *status_field(const char *key)
{
	_cleanup_free_ char *s = NULL;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, "/proc/self/status", &s, NULL, 0),
		  0);
	_cleanup_free_ char *pat = base_sprintf("\n%s:", key);
	char *p = strstr(s, pat);
	ASSERT_TRUE(p);
	p += strlen(pat);
	p += strspn(p, " \t");
	return strndup(p, strcspn(p, "\n"));
}

/* rt_process_apply() hands fds 0-2 to the container user; keep the test
 * runner's terminal or pipes out of that. */
static int apply_with_null(const struct oci_process *p, struct berr *err,
			   int null)
{
	int saved[3];
	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
		ASSERT_TRUE(saved[i] >= 0);
		ASSERT_EQ(dup2(null, i), i);
	}
	int r = rt_process_apply(p, err);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
	return r;
}

static int apply_quietly(const struct oci_process *p, struct berr *err)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(null >= 0);
	int r = apply_with_null(p, err, null);
	close(null);
	return r;
}

static struct oci_capset capset(int *caps, size_t n)
{
	return (struct oci_capset){.caps = caps, .n = n, .present = true};
}

TEST(rlimits_are_applied)
{
	struct oci_rlimit rl[] = {
		{.resource = RLIMIT_NOFILE, .soft = 512, .hard = 1024},
		{.resource = RLIMIT_CORE, .soft = 0, .hard = 0},
	};
	struct oci_process p = {.rlimits = rl, .n_rlimits = 2};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	struct rlimit got;
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &got), 0);
	ASSERT_EQ(got.rlim_cur, 512);
	ASSERT_EQ(got.rlim_max, 1024);
	ASSERT_EQ(getrlimit(RLIMIT_CORE, &got), 0);
	ASSERT_EQ(got.rlim_max, 0);
}

TEST(rlimit_error_names_the_limit)
{
	if (geteuid() != 0)
		test_skip("needs root");
	/* without CAP_SYS_RESOURCE the hard limit cannot be raised */
	struct rlimit cur;
	getrlimit(RLIMIT_NOFILE, &cur);
	struct rlimit low = {.rlim_cur = 64, .rlim_max = 64};
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	ASSERT_EQ(prctl(PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0), 0);
	struct oci_rlimit rl = {
		.resource = RLIMIT_NOFILE, .soft = 128, .hard = 128};
	struct oci_process p = {.rlimits = &rl, .n_rlimits = 1};
	/* drop it from the effective set too */
	_cleanup_free_ char *eff = status_field("CapEff");
	uint64_t mask = strtoull(eff, NULL, 16) & ~(1ULL << CAP_SYS_RESOURCE);
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522, 0};
	struct {
		uint32_t eff, prm, inh;
	} data[2] = {{(uint32_t)mask, (uint32_t)mask, 0},
		     {(uint32_t)(mask >> 32), (uint32_t)(mask >> 32), 0}};
	ASSERT_EQ(syscall(SYS_capset, &hdr, data), 0);
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), -EPERM);
	ASSERT_STREQ(err.msg,
		     "setrlimit RLIMIT_NOFILE: Operation not permitted");
}

TEST(user_groups_and_caps_are_switched)
{
	uint32_t gids[] = {10, 20};
	int kill_cap[] = {CAP_KILL};
	struct oci_process p = {
		.user = {.uid = 1000,
			 .gid = 1000,
			 .additional_gids = gids,
			 .n_additional_gids = 2},
		.has_capabilities = true,
	};
	p.capabilities.bounding = capset(kill_cap, 1);
	p.capabilities.effective = capset(kill_cap, 1);
	p.capabilities.permitted = capset(kill_cap, 1);
	p.capabilities.inheritable = capset(kill_cap, 1);
	p.capabilities.ambient = capset(kill_cap, 1);
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	uid_t r, e, s;
	ASSERT_EQ(getresuid(&r, &e, &s), 0);
	ASSERT_TRUE(r == 1000 && e == 1000 && s == 1000);
	gid_t gr, ge, gs;
	ASSERT_EQ(getresgid(&gr, &ge, &gs), 0);
	ASSERT_TRUE(gr == 1000 && ge == 1000 && gs == 1000);
	gid_t groups[8];
	ASSERT_EQ(getgroups(8, groups), 2);
	ASSERT_EQ(groups[0], 10);
	ASSERT_EQ(groups[1], 20);
	const char *keys[] = {"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		_cleanup_free_ char *v = status_field(keys[i]);
		ASSERT_STREQ(v, "0000000000000020");
	}
}

TEST(no_capabilities_object_means_none)
{
	struct oci_process p = {0};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	_cleanup_free_ char *eff = status_field("CapEff");
	_cleanup_free_ char *bnd = status_field("CapBnd");
	ASSERT_STREQ(eff, "0000000000000000");
	ASSERT_STREQ(bnd, "0000000000000000");
}

TEST(cap_outside_our_bounding_set_is_named)
{
	_cleanup_free_ char *bnd = status_field("CapBnd");
	if (strtoull(bnd, NULL, 16) & (1ULL << CAP_SYS_RESOURCE))
		test_skip("CAP_SYS_RESOURCE is in our bounding set");
	int caps[] = {CAP_KILL, CAP_SYS_RESOURCE};
	struct oci_process p = {.has_capabilities = true};
	p.capabilities.bounding = capset(caps, 2);
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), -EPERM);
	ASSERT_STREQ(err.msg,
		     "capability CAP_SYS_RESOURCE: not in berth's bounding "
		     "set");
	/* nothing was dropped before the check */
	_cleanup_free_ char *after = status_field("CapBnd");
	ASSERT_STREQ(after, bnd);
}

TEST(no_new_privileges_is_set)
{
	struct oci_process p = {.no_new_privileges = true};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	_cleanup_free_ char *v = status_field("NoNewPrivs");
	ASSERT_STREQ(v, "1");
}

TEST(oom_score_adj_and_umask)
{
	struct oci_process p = {.has_oom_score_adj = true,
				.oom_score_adj = 500};
	p.user.has_umask = true;
	p.user.umask = 027;
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	_cleanup_free_ char *s = NULL;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, "/proc/self/oom_score_adj", &s,
				    NULL, 0),
		  0);
	ASSERT_STREQ(s, "500\n");
	ASSERT_EQ(umask(0), 027);
}

TEST(default_umask_is_0022)
{
	umask(0077);
	struct oci_process p = {0};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	ASSERT_EQ(umask(0), 0022);
}

TEST(scheduler_io_priority_and_affinity)
{
	struct oci_process p = {0};
	p.scheduler =
		(struct oci_scheduler){.present = true, .policy = SCHED_BATCH};
	p.io_priority = (struct oci_io_priority){
		.present = true, .klass = 2, .priority = 4};
	p.exec_cpu_affinity.initial = "0";
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	ASSERT_EQ(sched_getscheduler(0), SCHED_BATCH);
	ASSERT_EQ(syscall(SYS_ioprio_get, 1, 0), (2 << 13) | 4);
	cpu_set_t set;
	ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	ASSERT_EQ(CPU_COUNT(&set), 1);
	ASSERT_TRUE(CPU_ISSET(0, &set));
}

TEST(bad_affinity_is_named)
{
	struct oci_process p = {0};
	p.exec_cpu_affinity.initial = "0-x";
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), -EINVAL);
	ASSERT_STREQ(err.msg,
		     "execCPUAffinity.initial `0-x`: invalid CPU list");
}

TEST(cpulist_parse)
{
	cpu_set_t *set;
	size_t size;
	ASSERT_EQ(rt_cpulist_parse("0-3,5", &set, &size), 0);
	ASSERT_EQ(CPU_COUNT_S(size, set), 5);
	ASSERT_TRUE(CPU_ISSET_S(3, size, set) && CPU_ISSET_S(5, size, set));
	ASSERT_TRUE(!CPU_ISSET_S(4, size, set));
	CPU_FREE(set);
	const char *bad[] = {"",   "3-1", "a",	 "1,",	 ",1",
			     "1-", "-1",  "1;2", "99999"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ASSERT_EQ(rt_cpulist_parse(bad[i], &set, &size), -EINVAL);
}

TEST(missing_cwd_is_reported)
{
	struct oci_process p = {.cwd = "/nonexistent-berth-cwd"};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), -ENOENT);
	ASSERT_STREQ(err.msg, "chdir to cwd (`/nonexistent-berth-cwd`) set in "
			      "config.json failed: No such file or directory");
}

TEST(cwd_is_entered)
{
	struct oci_process p = {.cwd = "/usr/bin"};
	struct berr err = {0};
	ASSERT_EQ(apply_quietly(&p, &err), 0);
	char buf[256];
	ASSERT_TRUE(getcwd(buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/usr/bin");
}

static void chroot_and_apply(const char *root)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(null >= 0);
	ASSERT_EQ(chroot(root), 0);
	/* the cwd stays outside the new root, as a leaked fd would leave it */
	struct oci_process p = {.cwd = "."};
	struct berr err = {0};
	ASSERT_EQ(apply_with_null(&p, &err, null), -EPERM);
	ASSERT_CONTAINS(err.msg, "possible container breakout detected");
}

TEST(cwd_outside_the_root_is_refused)
{
	char tmpl[] = "/tmp/berth-cwd-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl));
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		chroot_and_apply(tmpl);
		_exit(0);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_EQ(rmdir(tmpl), 0);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

static void place_fds(void)
{
	int null = open("/dev/null", O_RDONLY);
	ASSERT_TRUE(null >= 0);
	int want[] = {3, 4, 7, 20};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ASSERT_EQ(dup2(null, want[i]), want[i]);
	if (null != 3 && null != 4 && null != 7 && null != 20)
		close(null);
}

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	ASSERT_TRUE(fl >= 0);
	return fl & FD_CLOEXEC;
}

TEST(close_fds_keeps_preserved)
{
	place_fds();
	struct berr err = {0};
	ASSERT_EQ(rt_process_close_fds(2, &err), 0);
	ASSERT_TRUE(!cloexec(3) && !cloexec(4));
	ASSERT_TRUE(cloexec(7) && cloexec(20));
	ASSERT_TRUE(!cloexec(2));
}

TEST(cloexec_walk_fallback)
{
	place_fds();
	struct berr err = {0};
	ASSERT_EQ(rt_process_cloexec_walk(4, &err), 0);
	ASSERT_TRUE(!cloexec(3));
	ASSERT_TRUE(cloexec(4) && cloexec(7) && cloexec(20));
}

/* What the init and exec do: the plan, then execve. */
static int process_exec(const struct oci_process *p, struct berr *err)
{
	struct rt_exec_plan plan;
	int r = rt_process_exec_prepare(p, &plan, err);
	if (r == 0)
		r = rt_process_execve(p, &plan, err);
	rt_exec_plan_free(&plan);
	return r;
}

TEST(exec_missing_binary)
{
	char *args[] = {"berth-no-such-binary", NULL};
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct oci_process p = {.args = args, .env = env};
	struct berr err = {0};
	ASSERT_EQ(process_exec(&p, &err), -ENOENT);
	ASSERT_STREQ(err.msg, "exec `berth-no-such-binary`: executable file "
			      "not found in $PATH");
}

TEST(exec_not_executable)
{
	char tmpl[] = "/tmp/berth-exec-XXXXXX";
	int fd = mkstemp(tmpl);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	char *args[] = {tmpl, NULL};
	struct oci_process p = {.args = args};
	struct berr err = {0};
	int r = process_exec(&p, &err);
	unlink(tmpl);
	ASSERT_EQ(r, -EACCES);
	_cleanup_free_ char *want =
		base_sprintf("exec `%s`: Permission denied", tmpl);
	ASSERT_STREQ(err.msg, want);
}

static int exec_in_child(char **args, char **env)
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct oci_process p = {.args = args, .env = env};
		struct berr err = {0};
		process_exec(&p, &err);
		_exit(99);
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(exec_searches_path)
{
	char *args[] = {"true", NULL};
	char *env[] = {"PATH=/nonexistent:/usr/bin:/bin", NULL};
	ASSERT_EQ(exec_in_child(args, env), 0);
	/* the default PATH without env */
	ASSERT_EQ(exec_in_child(args, NULL), 0);
}

TEST(exec_sets_home_from_passwd)
{
	char *args[] = {"sh", "-c", "test \"$HOME\" = /root", NULL};
	ASSERT_EQ(exec_in_child(args, NULL), 0);
	char *args2[] = {"sh", "-c", "test \"$HOME\" = /x", NULL};
	char *env[] = {"HOME=/x", NULL};
	ASSERT_EQ(exec_in_child(args2, env), 0);
}

TEST(console_sends_a_pty_master)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct oci_process p = {.terminal = true,
					.has_console_size = true,
					.console_height = 40,
					.console_width = 100};
		struct berr err = {0};
		if (rt_console_setup(sv[1], &p, &err) < 0)
			_exit(2);
		if (write(1, "hello", 5) != 5 || !isatty(0) ||
		    tcgetpgrp(0) != getpgrp())
			_exit(3);
		char c;
		(void)!read(sv[1], &c, 1); /* keep the slave until read */
		_exit(0);
	}
	int master = -1;
	char name[64] = {0};
	ASSERT_EQ(base_recv_fd(sv[0], &master, name, sizeof(name) - 1), 0);
	ASSERT_STREQ(name, "/dev/ptmx");
	ASSERT_TRUE(isatty(master));
	struct winsize ws;
	ASSERT_EQ(ioctl(master, TIOCGWINSZ, &ws), 0);
	ASSERT_EQ(ws.ws_row, 40);
	ASSERT_EQ(ws.ws_col, 100);
	char buf[64] = {0};
	size_t got = 0;
	while (got < 5) {
		ssize_t n = read(master, buf + got, sizeof(buf) - 1 - got);
		ASSERT_TRUE(n > 0);
		got += (size_t)n;
	}
	ASSERT_STREQ(buf, "hello");
	ASSERT_EQ(write(sv[0], "x", 1), 1);
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(WEXITSTATUS(st), 0);
}

TEST(console_connect_long_path)
{
	char tmpl[] = "/tmp/berth-console-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl));
	/* a directory deep enough that the socket path exceeds sun_path */
	_cleanup_free_ char *dir = base_sprintf("%s/%0100d/%0100d", tmpl, 0, 1);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, dir, 0700), 0);
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ASSERT_TRUE(dfd >= 0);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/sock",
		 dfd);
	ASSERT_EQ(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_EQ(listen(l, 1), 0);
	_cleanup_free_ char *path = base_sprintf("%s/sock", dir);
	struct berr err = {0};
	int c = rt_console_connect(path, &err);
	ASSERT_TRUE(c >= 0);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_TRUE(a >= 0);
	int r = rt_console_connect("/nonexistent/sock", &err);
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, tmpl), 0);
	ASSERT_EQ(r, -ENOENT);
	ASSERT_STREQ(err.msg, "connect to console socket `/nonexistent/sock`: "
			      "No such file or directory");
}

TEST(signal_names)
{
	struct {
		const char *s;
		int sig;
	} ok[] = {
		{"KILL", SIGKILL},
		{"SIGKILL", SIGKILL},
		{"9", 9},
		{"sigterm", SIGTERM},
		{"hup", SIGHUP},
		{"CLD", SIGCHLD},
		{"SIGRTMIN", SIGRTMIN},
		{"RTMIN+3", SIGRTMIN + 3},
		{"SIGRTMIN+3", SIGRTMIN + 3},
		{"RTMAX-1", SIGRTMAX - 1},
		{"SIGRTMAX", SIGRTMAX},
		{"64", 64},
		{"0", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		int sig = -1;
		ASSERT_EQ(rt_parse_signal(ok[i].s, &sig), 0);
		ASSERT_EQ(sig, ok[i].sig);
	}
	const char *bad[] = {"",	 "-0x1",    "65",     "-1",
			     "FOO",	 "SIG",	    "RTMIN+", "RTMIN-1",
			     "RTMIN+99", "RTMAX+1", "9x",     "SIGKILLX"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int sig = -1;
		ASSERT_EQ(rt_parse_signal(bad[i], &sig), -EINVAL);
	}
}

static bool json_has_string(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
			return true;
	}
	return false;
}

TEST(features_document)
{
	_cleanup_free_ char *js = rt_features_json();
	ASSERT_TRUE(js);
	ASSERT_CONTAINS(js, "\n    \"ociVersionMax\": \"1.2.0\",\n");
	ASSERT_CONTAINS(js, "\"hooks\": [\n        \"prestart\",\n");
	cJSON *doc = cJSON_Parse(js);
	ASSERT_TRUE(doc);
	ASSERT_STREQ(cJSON_GetObjectItem(doc, "ociVersionMin")->valuestring,
		     "1.0.0");
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "hooks")), 6);
	const cJSON *opts = cJSON_GetObjectItem(doc, "mountOptions");
	ASSERT_TRUE(json_has_string(opts, "rbind"));
	ASSERT_TRUE(json_has_string(opts, "tmpcopyup"));
	ASSERT_TRUE(json_has_string(opts, "rro"));
	ASSERT_EQ(cJSON_GetArraySize(opts), 59);
	const cJSON *lx = cJSON_GetObjectItem(doc, "linux");
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(lx, "namespaces")), 8);
	const cJSON *caps = cJSON_GetObjectItem(lx, "capabilities");
	ASSERT_TRUE(json_has_string(caps, "CAP_CHOWN"));
	ASSERT_TRUE(json_has_string(caps, "CAP_CHECKPOINT_RESTORE"));
	ASSERT_EQ(cJSON_GetArraySize(caps), CAP_LAST_CAP + 1);
	const cJSON *cg = cJSON_GetObjectItem(lx, "cgroup");
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(cg, "v1")));
	/* the systemd driver exists; only the rootless user's does not */
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(cg, "systemd")));
	ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(cg, "systemdUser")));
	const cJSON *sc = cJSON_GetObjectItem(lx, "seccomp");
	ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(sc, "enabled")));
	ASSERT_TRUE(json_has_string(cJSON_GetObjectItem(sc, "actions"),
				    "SCMP_ACT_NOTIFY"));
	const cJSON *idmap = cJSON_GetObjectItem(
		cJSON_GetObjectItem(lx, "mountExtensions"), "idmap");
	ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(idmap, "enabled")));
	const cJSON *ann = cJSON_GetObjectItem(doc, "annotations");
	ASSERT_STREQ(cJSON_GetObjectItem(ann, "io.github.berth.version")
			     ->valuestring,
		     BERTH_VERSION);
	cJSON_Delete(doc);
}
