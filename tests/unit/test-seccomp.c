/* runtime/runtime-seccomp.c: profiles turned into filters, loaded in a
 * forked child that reports what its system calls returned through its
 * exit status; the SCMP_ACT_NOTIFY hand-off to a listener. */
#include <cjson/cJSON.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "runtime/runtime-internal.h"
#include "tests/unit/test.h"

/* A config holding only linux.seccomp = json, parsed as create would. */
static struct oci_config *parse(const char *json)
{
	_cleanup_free_ char *doc = base_sprintf(
		"{\"ociVersion\":\"1.2.0\",\"linux\":{\"seccomp\":%s}}", json);
	struct oci_config *c = NULL;
	struct berr err = {0};
	if (oci_config_parse(doc, strlen(doc), &c, &err) < 0)
		test_fail(__FILE__, __LINE__, "parse: %s", err.msg);
	ASSERT_TRUE(rt_seccomp_of(c) != NULL);
	return c;
}

/* errno of a raw system call, 0 when it succeeded */
static long call_errno(long nr, long a0, long a1)
{
	errno = 0;
	long r = syscall(nr, a0, a1);
	return r < 0 ? errno : 0;
}

typedef int (*child_fn)(void);

/* Loads s in a child (through the late hook, with no_new_privs as
 * process.noNewPrivileges would set it) and runs fn there. Returns fn's
 * result, 100 when the load failed, or 200 + signal. */
static int run_filtered(const struct oci_seccomp *s, child_fn fn)
{
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct rt_seccomp_load l = {
			.seccomp = s, .no_new_privs = true, .listener_fd = -1};
		struct berr err = {0};
		/* SIGSYS dumps core by default */
		struct rlimit nocore = {0, 0};
		setrlimit(RLIMIT_CORE, &nocore);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    rt_seccomp_load_late(&l, &err) < 0) {
			fprintf(stderr, "    load: %s\n", err.msg);
			_exit(100);
		}
		_exit(fn());
	}
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return 200 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int run_profile(const char *json, child_fn fn)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(json);
	return run_filtered(rt_seccomp_of(c), fn);
}

static char *validate_error(const char *json)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(json);
	struct berr err = {0};
	int r = rt_seccomp_validate(rt_seccomp_of(c), &err);
	return r < 0 ? base_strdup(err.msg) : NULL;
}

/* ---- actions ------------------------------------------------------------ */

static int getppid_errno(void)
{
	return (int)call_errno(SYS_getppid, 0, 0);
}

TEST(errno_action_returns_errno_ret)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\","
			      "\"errnoRet\":38}]}",
			      getppid_errno),
		  38);
}

TEST(errno_action_defaults_to_eperm)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\"}]}",
			      getppid_errno),
		  EPERM);
}

static int getppid_works(void)
{
	return syscall(SYS_getppid) == getppid() ? 0 : 1;
}

static int getppid_returns(void)
{
	return (int)syscall(SYS_getppid);
}

TEST(kill_process_and_trap_raise_sigsys)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
			      getppid_returns),
		  200 + SIGSYS);
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_TRAP\"}]}",
			      getppid_returns),
		  200 + SIGSYS);
}

TEST(log_action_allows)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_LOG\"}]}",
			      getppid_works),
		  0);
}

/* What a process needs to end and to free memory after the load, and
 * what the sanitizers' runtime calls on the way. */
#define EXIT_CALLS                                                             \
	"{\"names\":[\"exit_group\",\"exit\",\"munmap\",\"madvise\","          \
	"\"brk\",\"mmap\",\"mprotect\",\"write\",\"rt_sigprocmask\","          \
	"\"rt_sigaction\",\"sigaltstack\",\"futex\",\"getpid\",\"gettid\","    \
	"\"prctl\",\"sched_yield\"],"                                          \
	"\"action\":\"SCMP_ACT_ALLOW\"}"

TEST(default_errno_ret)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			      "\"defaultErrnoRet\":39,"
			      "\"syscalls\":[" EXIT_CALLS "]}",
			      getppid_errno),
		  39);
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			      "\"syscalls\":[" EXIT_CALLS "]}",
			      getppid_errno),
		  EPERM);
}

/* A rule with the default action is dropped (libseccomp refuses it). */
TEST(rule_with_the_default_action_is_skipped)
{
	_cleanup_free_ char *e =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"syscalls\":[{\"names\":[\"getppid\"],"
			       "\"action\":\"SCMP_ACT_ALLOW\"}]}");
	ASSERT_TRUE(e == NULL);
	/* same action, other errno: a real rule */
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			      "\"defaultErrnoRet\":5,\"syscalls\":[" EXIT_CALLS
			      ",{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":7}]}",
			      getppid_errno),
		  7);
}

TEST(unknown_syscall_is_skipped)
{
	const char *p = "{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			"\"syscalls\":[{\"names\":[\"no_such_call_xyz\","
			"\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\","
			"\"errnoRet\":40}]}";
	_cleanup_free_ char *e = validate_error(p);
	ASSERT_TRUE(e == NULL);
	ASSERT_EQ(run_profile(p, getppid_errno), 40);
}

/* ---- arguments ---------------------------------------------------------- */

static int getpgid_eq(void)
{
	/* 12345 is denied, 0 (ourselves) is not */
	if (call_errno(SYS_getpgid, 0, 0) != 0)
		return 1;
	return (int)call_errno(SYS_getpgid, 12345, 0);
}

TEST(arg_eq)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getpgid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":61,"
			      "\"args\":[{\"index\":0,\"value\":12345,"
			      "\"op\":\"SCMP_CMP_EQ\"}]}]}",
			      getpgid_eq),
		  61);
}

/* Which of 99, 100 and 101 a rule "arg0 OP 100" denies: a bit each. */
static int denied_mask(void)
{
	int m = 0;
	for (int i = 0; i < 3; i++)
		if (call_errno(SYS_getpgid, 99 + i, 0) == 71)
			m |= 1 << i;
	return m;
}

/* The other comparisons, each on both sides of its value; MASKED_EQ has
 * its own test below. */
TEST(arg_ops_compare_as_the_spec_says)
{
	static const struct {
		const char *op;
		int want;
	} ops[] = {
		{"SCMP_CMP_NE", 5}, {"SCMP_CMP_LT", 1}, {"SCMP_CMP_LE", 3},
		{"SCMP_CMP_EQ", 2}, {"SCMP_CMP_GE", 6}, {"SCMP_CMP_GT", 4},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":"
			 "[{\"names\":[\"getpgid\"],\"action\":"
			 "\"SCMP_ACT_ERRNO\",\"errnoRet\":71,\"args\":[{"
			 "\"index\":0,\"value\":100,\"op\":\"%s\"}]}]}",
			 ops[i].op);
		ASSERT_EQ(run_profile(json, denied_mask), ops[i].want);
	}
}

static int getpgid_masked(void)
{
	/* 0x3200000 matches with mask and datum swapped */
	if (call_errno(SYS_getpgid, 0, 0) != 0 ||
	    call_errno(SYS_getpgid, 0x3434000, 0) == 62 ||
	    call_errno(SYS_getpgid, 0x3200000, 0) == 62)
		return 1;
	return (int)call_errno(SYS_getpgid, 0x1234000, 0);
}

/* value is the mask, valueTwo the datum */
TEST(arg_masked_eq)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getpgid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":62,"
			      "\"args\":[{\"index\":0,\"value\":267386880,"
			      "\"valueTwo\":18874368,"
			      "\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}",
			      getpgid_masked),
		  62);
}

static int getpgid_or(void)
{
	if (call_errno(SYS_getpgid, 111111, 0) != 63)
		return 1;
	if (call_errno(SYS_getpgid, 222222, 0) != 63)
		return 2;
	if (call_errno(SYS_getpgid, 0, 0) != 0)
		return 3;
	return 0;
}

/* Two conditions on one argument: either matches (one rule each). */
TEST(args_on_the_same_index_are_or)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getpgid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":63,"
			      "\"args\":[{\"index\":0,\"value\":111111,"
			      "\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,"
			      "\"value\":222222,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			      getpgid_or),
		  0);
}

static int getpriority_and(void)
{
	if (call_errno(SYS_getpriority, PRIO_PROCESS, 4242424) != 64)
		return 1;
	if (call_errno(SYS_getpriority, PRIO_PROCESS, 0) != 0)
		return 2;
	if (call_errno(SYS_getpriority, PRIO_PGRP, 4242424) == 64)
		return 3;
	return 0;
}

/* Conditions on different arguments: all must match (one rule). */
TEST(args_on_different_indexes_are_and)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"syscalls\":[{\"names\":[\"getpriority\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":64,"
			      "\"args\":[{\"index\":0,\"value\":0,"
			      "\"op\":\"SCMP_CMP_EQ\"},{\"index\":1,"
			      "\"value\":4242424,\"op\":\"SCMP_CMP_EQ\"}]}]}",
			      getpriority_and),
		  0);
}

/* ---- architectures and flags -------------------------------------------- */

TEST(native_and_extra_archs_are_accepted)
{
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"architectures\":[\"SCMP_ARCH_X86_64\","
			      "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\","
			      "\"errnoRet\":41}]}",
			      getppid_errno),
		  41);
}

TEST(unknown_arch_is_an_error)
{
	char *archs[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_NOPE", NULL};
	struct oci_seccomp s = {.default_action = OCI_SCMP_ACT_ALLOW,
				.architectures = archs};
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_validate(&s, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "SCMP_ARCH_NOPE");
	ASSERT_CONTAINS(err.msg, "not supported by this libseccomp");
}

TEST(flags)
{
	_cleanup_free_ char *e =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
			       "\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\","
			       "\"SECCOMP_FILTER_FLAG_TSYNC\"]}");
	ASSERT_TRUE(e == NULL);
	_cleanup_free_ char *bad =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"flags\":[\"SECCOMP_FILTER_FLAG_NOPE\"]}");
	ASSERT_CONTAINS(bad, "unknown flag `SECCOMP_FILTER_FLAG_NOPE`");
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			      "\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\"],"
			      "\"syscalls\":[{\"names\":[\"getppid\"],"
			      "\"action\":\"SCMP_ACT_ERRNO\","
			      "\"errnoRet\":42}]}",
			      getppid_errno),
		  42);
}

TEST(wait_killable_recv_needs_libseccomp_2_6)
{
	const struct scmp_version *v = seccomp_version();
	if (v->major > 2 || (v->major == 2 && v->minor >= 6))
		test_skip("libseccomp %u.%u has it", v->major, v->minor);
	_cleanup_free_ char *e = validate_error(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		"\"flags\":[\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]}");
	ASSERT_CONTAINS(e, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not "
			   "supported by this libseccomp");
}

TEST(errno_ret_misuse_is_an_error)
{
	struct oci_seccomp_syscall sc = {.names = (char *[]){"getppid", NULL},
					 .action = OCI_SCMP_ACT_KILL,
					 .has_errno_ret = true,
					 .errno_ret = 1};
	struct oci_seccomp s = {.default_action = OCI_SCMP_ACT_ALLOW,
				.syscalls = &sc,
				.n_syscalls = 1};
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_validate(&s, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "syscalls[0]: errnoRet is only valid");
	struct oci_seccomp d = {.default_action = OCI_SCMP_ACT_ALLOW,
				.has_default_errno_ret = true,
				.default_errno_ret = 3};
	ASSERT_EQ(rt_seccomp_validate(&d, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "defaultErrnoRet is only valid");
}

/* ---- early and late loading --------------------------------------------- */

static int load_in_child(bool nnp, bool early)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		      "\"syscalls\":[{\"names\":[\"getppid\"],"
		      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":43}]}");
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct rt_seccomp_load l = {.seccomp = rt_seccomp_of(c),
					    .no_new_privs = nnp,
					    .listener_fd = -1};
		struct berr err = {0};
		int r = early ? rt_seccomp_load_early(&l, &err)
			      : rt_seccomp_load_late(&l, &err);
		if (r < 0)
			_exit(100);
		/* the filter never sets no_new_privs by itself */
		if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
			_exit(101);
		_exit(getppid_errno());
	}
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(early_loads_only_without_no_new_privs)
{
	ASSERT_EQ(load_in_child(false, true), 43);
	ASSERT_EQ(load_in_child(true, true), 0);
}

TEST(late_loads_only_with_no_new_privs)
{
	/* the child does not set no_new_privs itself: as root the load works
	 * either way, and PR_GET_NO_NEW_PRIVS shows libseccomp left it */
	ASSERT_EQ(load_in_child(false, false), 0);
	ASSERT_EQ(load_in_child(true, false), 43);
}

TEST(no_profile_is_a_no_op)
{
	struct rt_seccomp_load l = {.listener_fd = -1};
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_load_early(&l, &err), 0);
	ASSERT_EQ(rt_seccomp_load_late(&l, &err), 0);
	ASSERT_EQ(rt_seccomp_load_late(NULL, &err), 0);
}

/* ---- SCMP_ACT_NOTIFY ---------------------------------------------------- */

TEST(notify_needs_an_absolute_listener_path)
{
	_cleanup_free_ char *none =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"syscalls\":[{\"names\":[\"getppid\"],"
			       "\"action\":\"SCMP_ACT_NOTIFY\"}]}");
	ASSERT_CONTAINS(none, "SCMP_ACT_NOTIFY needs listenerPath");
	_cleanup_free_ char *rel =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"listenerPath\":\"run/agent.sock\","
			       "\"syscalls\":[{\"names\":[\"getppid\"],"
			       "\"action\":\"SCMP_ACT_NOTIFY\"}]}");
	ASSERT_CONTAINS(rel, "listenerPath `run/agent.sock` must be an "
			     "absolute path");
	_cleanup_free_ char *def =
		validate_error("{\"defaultAction\":\"SCMP_ACT_NOTIFY\","
			       "\"listenerPath\":\"/run/agent.sock\"}");
	ASSERT_CONTAINS(def, "cannot be used as the default action");
	_cleanup_free_ char *send =
		validate_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			       "\"listenerPath\":\"/run/agent.sock\","
			       "\"syscalls\":[{\"names\":[\"sendmsg\"],"
			       "\"action\":\"SCMP_ACT_NOTIFY\"}]}");
	ASSERT_CONTAINS(send, "cannot be used for sendmsg");
}

TEST(notify_without_a_connected_listener_fails)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		parse("{\"defaultAction\":\"SCMP_ACT_ALLOW\","
		      "\"listenerPath\":\"/run/agent.sock\","
		      "\"syscalls\":[{\"names\":[\"getppid\"],"
		      "\"action\":\"SCMP_ACT_NOTIFY\"}]}");
	struct rt_seccomp_load l = {.seccomp = rt_seccomp_of(c),
				    .no_new_privs = true,
				    .listener_fd = -1};
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_load_late(&l, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "needs a connected listenerPath");
}

/* True when the process holds a seccomp notify fd. */
static bool holds_notify_fd(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[64], target[128];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strstr(target, "seccomp notify"))
			return true;
	}
	return false;
}

static __attribute__((noreturn)) void notify_child(const struct oci_config *c,
						   const struct oci_state *st)
{
	struct berr err = {0};
	int fd;
	if (rt_seccomp_listener_open(c, &fd, &err) < 0 || fd < 0)
		_exit(100);
	struct rt_seccomp_load l = {.seccomp = rt_seccomp_of(c),
				    .no_new_privs = true,
				    .listener_fd = fd,
				    .state = st,
				    .status = OCI_STATUS_CREATED};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    rt_seccomp_load_late(&l, &err) < 0) {
		fprintf(stderr, "    load: %s\n", err.msg);
		_exit(101);
	}
	if (holds_notify_fd())
		_exit(102);
	/* answered by the listener */
	_exit(syscall(SYS_getppid) == 4242 ? 0 : 103);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(s >= 0);
	ASSERT_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_EQ(listen(s, 1), 0);
	return s;
}

static void check_process_state(const char *msg, pid_t child)
{
	cJSON *j = cJSON_Parse(msg);
	ASSERT_TRUE(j != NULL);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "ociVersion")->valuestring,
		     OCI_SPEC_VERSION);
	const cJSON *fds = cJSON_GetObjectItem(j, "fds");
	ASSERT_EQ(cJSON_GetArraySize(fds), 1);
	ASSERT_STREQ(cJSON_GetArrayItem(fds, 0)->valuestring, "seccompFd");
	ASSERT_EQ(cJSON_GetObjectItem(j, "pid")->valuedouble, child);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "metadata")->valuestring,
		     "agent \"x\"\n");
	const cJSON *st = cJSON_GetObjectItem(j, "state");
	ASSERT_STREQ(cJSON_GetObjectItem(st, "id")->valuestring, "sc1");
	ASSERT_STREQ(cJSON_GetObjectItem(st, "status")->valuestring, "created");
	ASSERT_EQ(cJSON_GetObjectItem(st, "pid")->valuedouble, 777);
	ASSERT_STREQ(cJSON_GetObjectItem(st, "bundle")->valuestring, "/b");
	cJSON_Delete(j);
}

/* Answers the child's getppid() with 4242. */
static void answer(int nfd)
{
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	ASSERT_EQ(seccomp_notify_alloc(&req, &resp), 0);
	ASSERT_EQ(seccomp_notify_receive(nfd, req), 0);
	ASSERT_EQ(req->data.nr, SYS_getppid);
	resp->id = req->id;
	resp->val = 4242;
	resp->error = 0;
	resp->flags = 0;
	ASSERT_EQ(seccomp_notify_respond(nfd, resp), 0);
	seccomp_notify_free(req, resp);
}

TEST(notify_hands_the_fd_to_the_listener)
{
	char dir[] = "/tmp/berth-seccomp-XXXXXX";
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	_cleanup_free_ char *sock = base_sprintf("%s/agent.sock", dir);
	_cleanup_free_ char *json = base_sprintf(
		"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"%s\","
		"\"listenerMetadata\":\"agent \\\"x\\\"\\n\","
		"\"syscalls\":[{\"names\":[\"getppid\"],"
		"\"action\":\"SCMP_ACT_NOTIFY\"}]}",
		sock);
	_cleanup_(oci_config_freep) struct oci_config *c = parse(json);
	struct oci_state st = {.id = "sc1", .pid = 777, .bundle = "/b"};
	int ls = listen_at(sock);
	alarm(20);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0)
		notify_child(c, &st);
	int conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	unlink(sock);
	rmdir(dir);
	ASSERT_TRUE(conn >= 0);
	char msg[4096] = {0};
	int nfd = -1;
	ASSERT_EQ(base_recv_fd(conn, &nfd, msg, sizeof(msg) - 1), 0);
	check_process_state(msg, pid);
	answer(nfd);
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	close(nfd);
	close(conn);
	close(ls);
}

TEST(listener_connect_errors)
{
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_listener_connect("/nonexistent/agent.sock", &err),
		  -ENOENT);
	ASSERT_CONTAINS(err.msg, "connect to seccomp listenerPath "
				 "`/nonexistent/agent.sock`");
	ASSERT_EQ(rt_seccomp_listener_connect("agent.sock", &err), -EINVAL);
}

/* ---- features ----------------------------------------------------------- */

static bool listed(enum rt_seccomp_list which, const char *name)
{
	const char *v[64];
	size_t n = rt_seccomp_list(which, v, ARRAY_SIZE(v));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], name))
			return true;
	return false;
}

TEST(features_lists)
{
	ASSERT_TRUE(listed(RT_SECCOMP_ACTIONS, "SCMP_ACT_NOTIFY"));
	ASSERT_TRUE(listed(RT_SECCOMP_OPERATORS, "SCMP_CMP_MASKED_EQ"));
	ASSERT_TRUE(listed(RT_SECCOMP_ARCHS, "SCMP_ARCH_X86_64"));
	ASSERT_TRUE(listed(RT_SECCOMP_KNOWN_FLAGS,
			   "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
	ASSERT_TRUE(
		listed(RT_SECCOMP_SUPPORTED_FLAGS, "SECCOMP_FILTER_FLAG_LOG"));
	const struct scmp_version *v = seccomp_version();
	if (v->major == 2 && v->minor < 6)
		ASSERT_TRUE(!listed(RT_SECCOMP_SUPPORTED_FLAGS,
				    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"));
}

/* ---- the -ENOSYS stub ------------------------------------------------------
 */

/* Under an allow-list with an errno default: syscall 1000 (past every
 * syscall the profile names) gets ENOSYS, getppid (named, allowed) works,
 * getpgid (known, not named, below the highest) gets the default. */
static int enosys_child(void)
{
	if (call_errno(1000, 0, 0) != ENOSYS)
		return 1;
	if (call_errno(SYS_getppid, 0, 0) != 0)
		return 2;
	if (call_errno(SYS_getpgid, 0, 0) != EPERM)
		return 3;
	return 0;
}

/* getppid and what the sanitizers' run-time calls in the child */
#define ALLOW_LIST                                                             \
	"\"syscalls\":[{\"names\":[\"getppid\",\"exit_group\",\"exit\","       \
	"\"write\",\"rt_sigreturn\",\"futex_waitv\",\"mmap\",\"munmap\","      \
	"\"mprotect\",\"madvise\",\"futex\",\"getpid\",\"gettid\","            \
	"\"rt_sigprocmask\",\"rt_sigaction\",\"sched_yield\",\"openat\","      \
	"\"read\",\"close\",\"readlink\",\"prctl\",\"sigaltstack\"],"          \
	"\"action\":\"SCMP_ACT_ALLOW\"}]"

TEST(enosys_for_syscalls_past_the_profile)
{
	ASSERT_EQ(
		run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\"," ALLOW_LIST
			    "}",
			    enosys_child),
		0);
	/* the same with the architectures Docker's profile lists */
	ASSERT_EQ(run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			      "\"architectures\":[\"SCMP_ARCH_X86_64\","
			      "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]," ALLOW_LIST
			      "}",
			      enosys_child),
		  0);
}

static size_t stub_len(const char *json)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(json);
	struct sock_filter v[256];
	return rt_seccomp_enosys_stub(rt_seccomp_of(c), v, ARRAY_SIZE(v));
}

/* No stub where the default lets calls through or answers ENOSYS, as in
 * runc; one section an architecture otherwise. */
TEST(enosys_stub_only_where_it_changes_the_answer)
{
	ASSERT_EQ(stub_len("{\"defaultAction\":\"SCMP_ACT_ALLOW\"," ALLOW_LIST
			   "}"),
		  0);
	ASSERT_EQ(
		stub_len("{\"defaultAction\":\"SCMP_ACT_LOG\"," ALLOW_LIST "}"),
		0);
	ASSERT_EQ(stub_len("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			   "\"defaultErrnoRet\":38," ALLOW_LIST "}"),
		  0);
	ASSERT_TRUE(stub_len("{\"defaultAction\":\"SCMP_ACT_KILL\"," ALLOW_LIST
			     "}") > 0);
	size_t one = stub_len(
		"{\"defaultAction\":\"SCMP_ACT_ERRNO\","
		"\"architectures\":[\"SCMP_ARCH_X86\"]," ALLOW_LIST "}");
	size_t two = stub_len("{\"defaultAction\":\"SCMP_ACT_ERRNO\","
			      "\"architectures\":[\"SCMP_ARCH_X86\","
			      "\"SCMP_ARCH_AARCH64\"]," ALLOW_LIST "}");
	/* ld arch, jeq, ja, ld nr, jgt, ret; then jeq, ld nr, jgt more */
	ASSERT_EQ(one, 6);
	ASSERT_EQ(two, 9);
}
