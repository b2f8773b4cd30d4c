/* runtime/: OCI hooks (state on stdin, args, env, exit status, timeout,
 * exec failure, stopping at the first failure). */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/runtime-internal.h"
#include "tests/unit/test.h"

#define STATE "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\",\"status\":\"creating\"}"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/berth-hooks-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl));
	return base_strdup(tmpl);
}

/* Writes an executable shell script dir/name, returns its path. */
static char *script(const char *dir, const char *name, const char *body)
{
	char *path = base_sprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = base_sprintf("#!/bin/sh\n%s\n", body);
	ASSERT_EQ(
		base_write_file_at(AT_FDCWD, path, text, strlen(text), O_CREAT),
		0);
	ASSERT_EQ(chmod(path, 0755), 0);
	return path;
}

static char *slurp(const char *dir, const char *name)
{
	_cleanup_free_ char *path = base_sprintf("%s/%s", dir, name);
	char *s = NULL;
	if (base_read_file_at(AT_FDCWD, path, &s, NULL, 0) < 0)
		return NULL;
	return s;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A hook without env gets berth's environment; one with "env": [] gets
 * none. cwd is the hook's working directory. */
TEST(hook_without_env_inherits_and_runs_in_cwd)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path = script(dir, "hook",
					   "pwd > \"$0.cwd\"\n"
					   "env > \"$0.env\"");
	ASSERT_EQ(setenv("BERTH_HOOK_INHERITED", "yes", 1), 0);
	struct oci_hook h = {.path = path};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "createContainer", STATE, "/proc", &err);
	_cleanup_free_ char *cwd = slurp(dir, "hook.cwd");
	_cleanup_free_ char *env = slurp(dir, "hook.env");
	char *none[] = {NULL};
	h.env = none;
	int r2 = rt_hooks_run(&l, "createContainer", STATE, NULL, &err);
	_cleanup_free_ char *env2 = slurp(dir, "hook.env");
	unsetenv("BERTH_HOOK_INHERITED");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(r2, 0);
	ASSERT_STREQ(cwd, "/proc\n");
	ASSERT_CONTAINS(env, "BERTH_HOOK_INHERITED=yes\n");
	ASSERT_TRUE(!strstr(env2, "BERTH_HOOK_INHERITED"));
}

TEST(hook_gets_state_args_and_env)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path = script(dir, "hook",
					   "cat > \"$OUT/state\"\n"
					   "echo \"$0|$*\" > \"$OUT/args\"\n"
					   "env > \"$OUT/env\"");
	_cleanup_free_ char *out = base_sprintf("OUT=%s", dir);
	char *args[] = {"hook-name", "a", "b c", NULL};
	char *env[] = {out, "FOO=bar", NULL};
	struct oci_hook h = {.path = path, .args = args, .env = env};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "createRuntime", STATE, NULL, &err);
	_cleanup_free_ char *state = slurp(dir, "state");
	_cleanup_free_ char *got_args = slurp(dir, "args");
	_cleanup_free_ char *got_env = slurp(dir, "env");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(state, STATE);
	/* a #! script sees its path as $0, whatever args[0] was */
	_cleanup_free_ char *want = base_sprintf("%s|a b c\n", path);
	ASSERT_STREQ(got_args, want);
	ASSERT_CONTAINS(got_env, "FOO=bar\n");
	/* exactly the hook's env: nothing inherited from berth */
	ASSERT_TRUE(!strstr(got_env, "HOME="));
}

TEST(hook_args_default_to_path)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *out = base_sprintf("OUT=%s", dir);
	_cleanup_free_ char *path =
		script(dir, "hook", "echo \"$0|$#\" > \"$OUT/args\"");
	char *env[] = {out, NULL};
	struct oci_hook h = {.path = path, .env = env};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "prestart", STATE, NULL, &err);
	_cleanup_free_ char *got = slurp(dir, "args");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	_cleanup_free_ char *want = base_sprintf("%s|0\n", path);
	ASSERT_STREQ(got, want);
}

TEST(hook_exit_status_and_stderr)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *path =
		script(dir, "hook", "echo first >&2\necho boom >&2\nexit 1");
	struct oci_hook h = {.path = path};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "createRuntime", STATE, NULL, &err);
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_TRUE(r < 0);
	_cleanup_free_ char *want = base_sprintf(
		"createRuntime hook `%s`: exit status 1, stderr: boom", path);
	ASSERT_STREQ(err.msg, want);
}

TEST(hook_false_exit_status)
{
	char *args[] = {"false", NULL};
	struct oci_hook h = {.path = "/bin/false", .args = args};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	ASSERT_TRUE(rt_hooks_run(&l, "createRuntime", STATE, NULL, &err) < 0);
	ASSERT_STREQ(err.msg, "createRuntime hook `/bin/false`: exit status 1");
}

TEST(hook_timeout_kills)
{
	char *args[] = {"sleep", "5", NULL};
	struct oci_hook h = {.path = "/bin/sleep",
			     .args = args,
			     .has_timeout = true,
			     .timeout = 1};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	double t0 = now();
	ASSERT_EQ(rt_hooks_run(&l, "poststart", STATE, NULL, &err), -ETIMEDOUT);
	double took = now() - t0;
	ASSERT_TRUE(took >= 0.9 && took < 3);
	ASSERT_STREQ(err.msg,
		     "poststart hook `/bin/sleep`: timed out after 1s");
}

TEST(hook_missing_path)
{
	struct oci_hook h = {.path = "/nonexistent/hook"};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	ASSERT_EQ(rt_hooks_run(&l, "prestart", STATE, NULL, &err), -ENOENT);
	ASSERT_STREQ(err.msg,
		     "prestart hook `/nonexistent/hook`: No such file or "
		     "directory");
}

TEST(hooks_stop_at_first_failure)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *out = base_sprintf("OUT=%s", dir);
	_cleanup_free_ char *mark =
		script(dir, "mark", "echo $1 >> \"$OUT/marks\"");
	char *a1[] = {"mark", "one", NULL};
	char *a3[] = {"mark", "three", NULL};
	char *env[] = {out, NULL};
	struct oci_hook hs[] = {
		{.path = mark, .args = a1, .env = env},
		{.path = "/bin/false"},
		{.path = mark, .args = a3, .env = env},
	};
	struct oci_hook_list l = {.v = hs, .n = 3};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "poststop", STATE, NULL, &err);
	_cleanup_free_ char *marks = slurp(dir, "marks");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_TRUE(r < 0);
	ASSERT_CONTAINS(err.msg, "poststop hook `/bin/false`");
	ASSERT_STREQ(marks, "one\n");
}

TEST(hook_ignoring_stdin_does_not_block)
{
	/* a state far larger than a pipe's buffer, never read */
	size_t n = 1 << 20;
	_cleanup_free_ char *big = base_calloc(n + 1, 1);
	memset(big, 'x', n);
	char *args[] = {"true", NULL};
	struct oci_hook h = {.path = "/bin/true", .args = args};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	double t0 = now();
	ASSERT_EQ(rt_hooks_run(&l, "prestart", big, NULL, &err), 0);
	ASSERT_TRUE(now() - t0 < 2);
}

TEST(hook_background_child_does_not_hold_us)
{
	_cleanup_free_ char *dir = tmpdir();
	/* the background sleep keeps the hook's stdout and stderr open */
	_cleanup_free_ char *path = script(dir, "hook", "sleep 3 &\nexit 0");
	struct oci_hook h = {.path = path};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	double t0 = now();
	int r = rt_hooks_run(&l, "poststart", STATE, NULL, &err);
	double took = now() - t0;
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	ASSERT_TRUE(took < 2);
}

TEST(hook_killed_by_signal)
{
	char *args[] = {"sh", "-c", "kill -TERM $$", NULL};
	struct oci_hook h = {.path = "/bin/sh", .args = args};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	ASSERT_TRUE(rt_hooks_run(&l, "startContainer", STATE, NULL, &err) < 0);
	ASSERT_STREQ(err.msg,
		     "startContainer hook `/bin/sh`: killed by signal 15");
}

TEST(hook_argv0_is_args0)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *out = base_sprintf("OUT=%s", dir);
	char *args[] = {"my-sh", "-c",
			"tr '\\0' ' ' < /proc/$$/cmdline > "
			"\"$OUT/cmd\"",
			NULL};
	char *env[] = {out, "PATH=/usr/bin:/bin", NULL};
	struct oci_hook h = {.path = "/bin/sh", .args = args, .env = env};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "prestart", STATE, NULL, &err);
	_cleanup_free_ char *cmd = slurp(dir, "cmd");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	ASSERT_TRUE(cmd && base_str_has_prefix(cmd, "my-sh -c "));
}

TEST(hook_gets_only_stdio)
{
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *out = base_sprintf("OUT=%s", dir);
	/* an fd without O_CLOEXEC, as --preserve-fds leaves them */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(dup2(null, 9), 9);
	_cleanup_free_ char *path =
		script(dir, "hook", "ls /proc/self/fd > \"$OUT/fds\"");
	char *env[] = {out, "PATH=/usr/bin:/bin", NULL};
	struct oci_hook h = {.path = path, .env = env};
	struct oci_hook_list l = {.v = &h, .n = 1};
	struct berr err = {0};
	int r = rt_hooks_run(&l, "prestart", STATE, NULL, &err);
	_cleanup_free_ char *fds = slurp(dir, "fds");
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	ASSERT_EQ(r, 0);
	ASSERT_CONTAINS(fds, "2\n");
	ASSERT_TRUE(!strstr(fds, "\n9\n"));
}
