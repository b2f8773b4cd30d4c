/* Device rules as an eBPF program on the unified hierarchy, enforced for
 * real: groups are made on this host's cgroup2 mount through a layout that
 * holds it alone (so cg_apply() takes the pure v2 path), a child moves
 * itself into the group and reports what open(2) and mknod(2) answer.
 * The kernel runs device programs of the task's cgroup2 group even where
 * the v1 devices controller is mounted too (a hybrid host), which is what
 * makes this test possible here. Groups live under
 * "/berth-test-cgdev-<pid>", removed by a guard process after each test. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "cgroups/cgroups-internal.h"
#include "tests/unit/test.h"

static char g_top[64];

static const struct cg_layout *layout(void)
{
	const struct cg_layout *lo = NULL;
	struct berr e = {0};
	if (cg_layout_get(&lo, &e) < 0)
		test_fail(__FILE__, __LINE__, "layout: %s", e.msg);
	return lo;
}

static const char *unified_mount(void)
{
	const struct cg_layout *lo = layout();
	return lo->v2 < 0 ? NULL : lo->hiers[lo->v2].mount;
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
	snprintf(g_top, sizeof(g_top), "berth-test-cgdev-%d", (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (geteuid() == 0 && unified_mount()) {
		char *a = base_sprintf("%s/%s", unified_mount(), g_top);
		scrub(a);
		free(a);
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

static struct cg_layout *g_lo; /* the unified hierarchy alone: mode v2 */

static struct cg_group *make_group(const char *name)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (!unified_mount())
		test_skip("no cgroup2 mount");
	if (!g_lo) {
		char *mi = base_sprintf("41 31 0:38 / %s rw - cgroup2 cgroup2 "
					"rw\n",
					unified_mount());
		ASSERT_EQ(cg_layout_parse(mi, "0::/\n", &g_lo, NULL), 0);
		ASSERT_EQ(g_lo->mode, CG_MODE_V2);
		free(mi);
	}
	char *path = base_sprintf("/%s/%s", g_top, name);
	struct cg_group *g = NULL;
	struct berr e = {0};
	if (cg_create_in(g_lo, path, name, &g, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_create %s: %s", path, e.msg);
	free(path);
	return g;
}

static const char *dir_of(struct cg_group *g)
{
	return g->dirs[g_lo->v2].path;
}

#define R(allow, type, major, minor, acc)                                      \
	((struct cg_device_rule){allow, type, major, minor, acc})

static void apply_ok(struct cg_group *g, struct cg_device_rule *rules, size_t n)
{
	struct cg_resources r = {.devices = rules, .n_devices = n};
	struct berr e = {0};
	if (cg_apply(g, &r, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_apply: %s", e.msg);
}

/* One check: "r PATH" or "w PATH" opens, "m MAJ MIN" makes a char node in
 * a scratch dir. The answer is "ok" or the errno's name for EPERM. */
static const char *try_one(const char *check, const char *scratch)
{
	int r;
	if (check[0] == 'm') {
		unsigned ma = 0, mi = 0;
		sscanf(check + 2, "%u %u", &ma, &mi);
		char node[256];
		snprintf(node, sizeof(node), "%s/node", scratch);
		r = mknod(node, S_IFCHR | 0600, makedev(ma, mi));
		if (r == 0)
			unlink(node);
	} else {
		int fd = open(check + 2,
			      (check[0] == 'w' ? O_WRONLY : O_RDONLY) |
				      O_CLOEXEC | O_NOCTTY);
		r = fd < 0 ? -1 : 0;
		if (fd >= 0)
			close(fd);
	}
	if (r == 0)
		return "ok";
	return errno == EPERM ? "EPERM" : strerror(errno);
}

/* Runs the checks in a child that joined g; returns the answers joined
 * with spaces (caller frees). */
static char *probe(struct cg_group *g, const char *const *checks)
{
	char scratch[] = "/tmp/berth-cgdev-XXXXXX";
	ASSERT_TRUE(mkdtemp(scratch) != NULL);
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		char out[512] = "";
		if (cg_attach(g, getpid(), NULL) < 0)
			_exit(3);
		for (size_t i = 0; checks[i]; i++) {
			size_t l = strlen(out);
			snprintf(out + l, sizeof(out) - l, "%s%s", i ? " " : "",
				 try_one(checks[i], scratch));
		}
		(void)!write(p[1], out, strlen(out));
		_exit(0);
	}
	close(p[1]);
	char buf[512] = "";
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	rmdir(scratch);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	buf[n > 0 ? n : 0] = '\0';
	return base_strdup(buf);
}

#define ASSERT_PROBE(g, want, ...)                                             \
	do {                                                                   \
		const char *const _c[] = {__VA_ARGS__, NULL};                  \
		char *_got = probe(g, _c);                                     \
		ASSERT_STREQ(_got, want);                                      \
		free(_got);                                                    \
	} while (0)

static size_t attached(struct cg_group *g)
{
	size_t n = 0;
	ASSERT_EQ(cg_v2_devices_attached(dir_of(g), &n), 0);
	return n;
}

static void destroy(struct cg_group *g)
{
	struct berr e = {0};
	ASSERT_EQ(cg_destroy(g, &e), 0);
	cg_group_free(g);
}

/* ---- enforcement ---- */

CG_TEST(bpf_allow_list_denies_everything_else)
{
	struct cg_group *g = make_group("allow");
	/* without a program both devices open */
	ASSERT_PROBE(g, "ok ok", "r /dev/null", "r /dev/zero");
	struct cg_device_rule rules[] = {
		R(false, 'a', CG_ANY, CG_ANY, "rwm"),
		R(true, 'c', 1, 3, "rwm"),
	};
	apply_ok(g, rules, ARRAY_SIZE(rules));
	ASSERT_EQ(attached(g), 1);
	ASSERT_PROBE(g, "ok ok EPERM EPERM", "r /dev/null", "w /dev/null",
		     "r /dev/zero", "r /dev/full");
	destroy(g);
}

CG_TEST(bpf_access_bits_are_checked)
{
	struct cg_group *g = make_group("bits");
	struct cg_device_rule rules[] = {
		R(true, 'c', 1, 5, "r"), /* read only */
		R(true, 'c', 1, 3, "rw"),
	};
	apply_ok(g, rules, ARRAY_SIZE(rules));
	ASSERT_PROBE(g, "ok EPERM ok EPERM", "r /dev/zero", "w /dev/zero",
		     "w /dev/null", "m 1 3");
	destroy(g);
}

CG_TEST(bpf_wildcards_and_mknod)
{
	struct cg_group *g = make_group("wild");
	/* the standard rules runc gives every container start this way */
	struct cg_device_rule rules[] = {
		R(true, 'c', CG_ANY, CG_ANY, "m"),
		R(true, 'c', 1, CG_ANY, "rw"),
	};
	apply_ok(g, rules, ARRAY_SIZE(rules));
	ASSERT_PROBE(g, "ok ok ok EPERM ok", "r /dev/zero", "w /dev/full",
		     "r /dev/null", "r /dev/ptmx", "m 5 2");
	destroy(g);
}

CG_TEST(bpf_deny_list_after_allow_all)
{
	struct cg_group *g = make_group("deny");
	struct cg_device_rule rules[] = {
		R(false, 'c', 1, 3, "rwm"), /* forgotten by the reset */
		R(true, 'a', CG_ANY, CG_ANY, "rwm"),
		R(false, 'c', 1, 5, "r"),
	};
	apply_ok(g, rules, ARRAY_SIZE(rules));
	ASSERT_PROBE(g, "EPERM ok ok ok", "r /dev/zero", "w /dev/zero",
		     "r /dev/null", "r /dev/full");
	destroy(g);
}

CG_TEST(bpf_later_rules_take_access_away)
{
	struct cg_group *g = make_group("later");
	struct cg_device_rule rules[] = {
		R(true, 'c', 1, 5, "rwm"),
		R(true, 'c', 1, 3, "rwm"),
		R(false, 'c', 1, 5, "w"),
		R(false, 'c', 1, 3, "rwm"),
	};
	apply_ok(g, rules, ARRAY_SIZE(rules));
	ASSERT_PROBE(g, "ok EPERM EPERM", "r /dev/zero", "w /dev/zero",
		     "r /dev/null");
	destroy(g);
}

/* ---- replacement and refusals ---- */

CG_TEST(bpf_a_second_apply_replaces_the_program)
{
	struct cg_group *g = make_group("replace");
	struct cg_device_rule deny_zero[] = {
		R(true, 'c', 1, 3, "rwm"),
	};
	struct cg_device_rule allow_zero[] = {
		R(true, 'c', 1, 3, "rwm"),
		R(true, 'c', 1, 5, "rwm"),
	};
	apply_ok(g, deny_zero, ARRAY_SIZE(deny_zero));
	ASSERT_PROBE(g, "ok EPERM", "r /dev/null", "r /dev/zero");
	apply_ok(g, allow_zero, ARRAY_SIZE(allow_zero));
	ASSERT_EQ(attached(g), 1);
	ASSERT_PROBE(g, "ok ok", "r /dev/null", "r /dev/zero");
	apply_ok(g, deny_zero, ARRAY_SIZE(deny_zero));
	ASSERT_EQ(attached(g), 1);
	ASSERT_PROBE(g, "ok EPERM", "r /dev/null", "r /dev/zero");
	destroy(g);
}

CG_TEST(bpf_refuses_a_hole_in_a_wildcard)
{
	struct cg_group *g = make_group("hole");
	struct cg_device_rule rules[] = {
		R(true, 'c', 1, CG_ANY, "rwm"),
		R(false, 'c', 1, 5, "r"),
	};
	struct cg_resources r = {.devices = rules, .n_devices = 2};
	struct berr e = {0};
	ASSERT_EQ(cg_apply(g, &r, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "linux.resources.devices[1]: \"c 1:5 r\" "
			       "cannot be taken out of the earlier wildcard "
			       "rule \"c 1:* rwm\"");
	/* checked before anything was attached */
	ASSERT_EQ(attached(g), 0);
	/* taking the whole wildcard away is fine */
	rules[1] = R(false, 'c', 1, CG_ANY, "rwm");
	apply_ok(g, rules, 2);
	ASSERT_PROBE(g, "EPERM", "r /dev/null");
	destroy(g);
}

CG_TEST(bpf_no_rules_denies_every_device)
{
	struct cg_group *g = make_group("none");
	/* a lone "deny a" is still a request: the default deny applies */
	struct cg_device_rule rules[] = {R(false, 'a', CG_ANY, CG_ANY, NULL)};
	apply_ok(g, rules, 1);
	ASSERT_PROBE(g, "EPERM EPERM", "r /dev/null", "m 1 3");
	destroy(g);
}
