/* dist/ par: CPU lists, the allowed CPU set, replacement strings, JSON
 * strings and the workers' generated config. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist/dist-par-internal.h"
#include "tests/unit/test.h"

static char *fmt(const char *list)
{
	struct dp_cpus c;
	if (dp_cpus_parse(list, &c) < 0)
		return NULL;
	return dp_cpus_format(&c);
}

TEST(cpus_parse_and_format)
{
	struct dp_cpus c;
	ASSERT_EQ(dp_cpus_parse("0-3,5", &c), 0);
	ASSERT_EQ(dp_cpus_count(&c), 5);
	ASSERT_TRUE(dp_cpus_has(&c, 3));
	ASSERT_TRUE(!dp_cpus_has(&c, 4));
	ASSERT_EQ(dp_cpus_next(&c, -1), 0);
	ASSERT_EQ(dp_cpus_next(&c, 3), 5);
	ASSERT_EQ(dp_cpus_next(&c, 5), -1);
	char *s = fmt("3,1,2,9,7,8,64,63");
	ASSERT_STREQ(s, "1-3,7-9,63-64");
	free(s);
	s = fmt(" 0-1\n");
	ASSERT_STREQ(s, "0-1");
	free(s);
	s = fmt("");
	ASSERT_STREQ(s, "");
	free(s);
	ASSERT_EQ(dp_cpus_parse("4095", &c), 0);
	ASSERT_EQ(dp_cpus_next(&c, 100), 4095);
}

TEST(cpus_parse_refuses_garbage)
{
	struct dp_cpus c;
	ASSERT_EQ(dp_cpus_parse("a", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("3-1", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("1,", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("-1", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("1-", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("1 2", &c), -EINVAL);
	ASSERT_EQ(dp_cpus_parse("4096", &c), -ERANGE);
	ASSERT_EQ(dp_cpus_parse("0-99999", &c), -ERANGE);
}

/* A hybrid host seen from a container with its own cgroup namespace: the
 * mount's root is the container's group, the path in /proc/self/cgroup is
 * relative to it. */
TEST(cpuset_dir_v1_hybrid_and_v2)
{
	static const char cg[] = "9:name=systemd:/\n"
				 "4:memory:/process_api/x\n"
				 "3:cpuset,cpu:/a/b\n"
				 "0::/u\n";
	static const char mi[] =
		"31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
		"32 31 0:29 / /sys/fs/cgroup/cpu,cpuset rw - cgroup cgroup "
		"rw,cpu,cpuset\n"
		"33 31 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
	char *dir = NULL;
	bool v2 = true;
	ASSERT_EQ(dp_cpuset_dir(cg, mi, &dir, &v2), 0);
	ASSERT_STREQ(dir, "/sys/fs/cgroup/cpu,cpuset/a/b");
	ASSERT_TRUE(!v2);
	free(dir);

	static const char mi_ns[] =
		"32 31 0:29 /a /sys/fs/cgroup/cpuset ro - cgroup cgroup "
		"rw,cpuset\n";
	ASSERT_EQ(dp_cpuset_dir(cg, mi_ns, &dir, &v2), 0);
	ASSERT_STREQ(dir, "/sys/fs/cgroup/cpuset/b");
	free(dir);

	static const char cg2[] = "0::/user.slice/job\n";
	static const char mi2[] = "25 1 0:23 / /sys/fs/cgroup rw - cgroup2 "
				  "cgroup2 rw,nsdelegate\n";
	ASSERT_EQ(dp_cpuset_dir(cg2, mi2, &dir, &v2), 0);
	ASSERT_STREQ(dir, "/sys/fs/cgroup/user.slice/job");
	ASSERT_TRUE(v2);
	free(dir);

	ASSERT_EQ(dp_cpuset_dir("4:memory:/x\n", mi2, &dir, &v2), -ENOENT);
}

TEST(cpus_allowed_is_within_affinity)
{
	struct dp_cpus c;
	struct berr err = {0};
	ASSERT_EQ(dp_cpus_allowed(&c, &err), 0);
	ASSERT_TRUE(dp_cpus_count(&c) >= 1);
	cpu_set_t set;
	ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int cpu = dp_cpus_next(&c, -1); cpu >= 0;
	     cpu = dp_cpus_next(&c, cpu))
		ASSERT_TRUE(cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set));
	/* a narrower affinity narrows the allowed set */
	int first = dp_cpus_next(&c, -1);
	CPU_ZERO(&set);
	CPU_SET(first, &set);
	ASSERT_EQ(sched_setaffinity(0, sizeof(set), &set), 0);
	ASSERT_EQ(dp_cpus_allowed(&c, &err), 0);
	ASSERT_EQ(dp_cpus_count(&c), 1);
	ASSERT_TRUE(dp_cpus_has(&c, first));
}

static void fake_node(const char *root, int n, const char *cpulist)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/devices/system/node/node%d", root, n);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, path, 0755), 0);
	FILE *f = fopen(strcat(path, "/cpulist"), "w");
	ASSERT_TRUE(f != NULL);
	fputs(cpulist, f);
	fclose(f);
}

TEST(cpu_node_from_sysfs)
{
	char root[] = "/tmp/berth-test-numa.XXXXXX";
	ASSERT_TRUE(mkdtemp(root) != NULL);
	int nodes = -1;
	/* no node directory at all: unknown */
	ASSERT_EQ(dp_cpu_node(root, 0, &nodes), -1);
	ASSERT_EQ(nodes, 0);
	fake_node(root, 0, "0-3,8-11\n");
	fake_node(root, 1, "4-7,12-15\n");
	fake_node(root, 2, "\n"); /* memory only */
	ASSERT_EQ(dp_cpu_node(root, 9, &nodes), 0);
	ASSERT_EQ(nodes, 2);
	ASSERT_EQ(dp_cpu_node(root, 5, &nodes), 1);
	ASSERT_EQ(dp_cpu_node(root, 12, &nodes), 1);
	ASSERT_EQ(dp_cpu_node(root, 16, &nodes), -1);
	/* this machine's own answer is one of its nodes, or unknown */
	int here = dp_cpu_node(NULL, 0, &nodes);
	ASSERT_TRUE(here >= -1 && (here == -1 || nodes >= 1));
	base_rm_rf_at(AT_FDCWD, root);
}

/* The payload as the agent sees it: "seq\0word\0word\0", decoded. */
static char *expand(const char *const *tmpl, const char *arg, uint64_t seq,
		    unsigned slot)
{
	struct dp_buf b = {0};
	dp_expand((char *const *)tmpl, arg, seq, &b);
	char *cmd = dp_payload_command(b.p, b.len, slot);
	dp_buf_free(&b);
	return cmd;
}

TEST(replacement_strings)
{
	const char *t1[] = {"echo", "{}", "{.}", "{/}", "{//}", "{/.}", NULL};
	char *s = expand(t1, "dir/sub/file.tar.gz", 1, 1);
	ASSERT_STREQ(s, "echo dir/sub/file.tar.gz dir/sub/file.tar "
			"file.tar.gz dir/sub file.tar");
	free(s);
	s = expand(t1, "plain", 1, 1);
	ASSERT_STREQ(s, "echo plain plain plain . plain");
	free(s);
	s = expand(t1, "a.b/c", 1, 1);
	ASSERT_STREQ(s, "echo a.b/c a.b/c c a.b c");
	free(s);
	s = expand(t1, "/top", 1, 1);
	ASSERT_STREQ(s, "echo /top /top top / top");
	free(s);

	const char *t2[] = {"x{#}y", "{%}", "s{%}{}", NULL};
	s = expand(t2, "A", 42, 7);
	ASSERT_STREQ(s, "x42y 7 s7A");
	free(s);
}

TEST(replacement_appends_the_argument)
{
	const char *t[] = {"echo", "-n", NULL};
	char *s = expand(t, "hello world", 3, 1);
	ASSERT_STREQ(s, "echo -n hello world");
	free(s);
	/* one word, even with a space in it */
	struct dp_buf b = {0};
	dp_expand((char *const *)t, "hello world", 3, &b);
	ASSERT_EQ(b.len, strlen("3") + 1 + strlen("echo") + 1 + 3 + 12);
	ASSERT_STREQ(b.p, "3");
	ASSERT_STREQ(b.p + b.len - 12, "hello world");
	dp_buf_free(&b);
}

TEST(replacement_keeps_marker_bytes_literal)
{
	/* an argument that holds the slot marker is not a slot */
	const char *t[] = {"p", "{}{%}", NULL};
	char *s = expand(t,
			 "a\x01"
			 "b\x02",
			 1, 5);
	ASSERT_STREQ(s, "p a\x01"
			"b\x02"
			"5");
	free(s);
	char out[64];
	ASSERT_EQ(dp_word_decode("n\x01", 12, out), 3);
	ASSERT_STREQ(out, "n12");
}

TEST(json_strings)
{
	struct dp_buf b = {0};
	dp_buf_json(&b, "a\"b\\c\n\t\x01", 8);
	ASSERT_STREQ(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\"");
	dp_buf_free(&b);
	dp_buf_json(&b, "caf\xc3\xa9 \xff!", 8);
	ASSERT_STREQ(b.p, "\"caf\xc3\xa9 \\ufffd!\"");
	dp_buf_free(&b);
	dp_buf_json(&b, "\xe2\x82", 2); /* cut in the middle */
	ASSERT_STREQ(b.p, "\"\\ufffd\\ufffd\"");
	dp_buf_free(&b);
}

/* The generated config of a worker parses and says what the worker is:
 * pinned, in the pool's cgroup, the queue as fd 3, the agent mounted. */
TEST(pool_config_parses)
{
	if (geteuid() != 0)
		test_skip("needs root (creates a cgroup)");
	char tmp[] = "/tmp/berth-test-par.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	char *rootfs = base_sprintf("%s/rootfs", tmp);
	char *tmpdir = base_sprintf("%s/rootfs/tmp", tmp);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, tmpdir, 0755), 0);
	char *state = base_sprintf("%s/state", tmp);
	char *parent = base_sprintf("berth-test-par-%d", (int)getpid());
	char *cmd[] = {"echo", NULL};
	char *env[] = {"A=1", NULL};
	struct dp_par_opts o = {.rootfs = rootfs,
				.agent = "/bin/true",
				.cgroup_parent = parent,
				.memory = 64 << 20,
				.pids_limit = 50,
				.env = env,
				.command = cmd};
	struct rt_ctx ctx = {.root = state};
	int cpus[2] = {1, 0};
	struct dp_pool *p = NULL;
	struct berr err = {0};
	ASSERT_EQ(dp_pool_open(&ctx, &o, cpus, 2, NULL, &p, &err), 0);
	char *json = dp_pool_config(p, 0, NULL);
	struct oci_config *cfg = NULL;
	int r = oci_config_parse(json, strlen(json), &cfg, &err);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "%s: %s", err.msg, json);
	ASSERT_STREQ(cfg->process.exec_cpu_affinity.initial, "1");
	ASSERT_STREQ(cfg->process.args[0], DP_AGENT_PATH);
	ASSERT_STREQ(cfg->root.path, rootfs);
	ASSERT_TRUE(cfg->root.readonly);
	ASSERT_CONTAINS(cfg->linux_.cgroups_path, "/berth-par-");
	ASSERT_CONTAINS(cfg->linux_.cgroups_path, "/w0");
	ASSERT_STREQ(cfg->linux_.resources.cpu.cpus, "1");
	ASSERT_EQ(cfg->linux_.resources.memory.limit, 64 << 20);
	ASSERT_EQ(cfg->linux_.resources.pids_limit, 50);
	bool fd = false, wfd = false, id = false, a = false, agent = false,
	     tmpfs = false;
	for (size_t i = 0; cfg->process.env[i]; i++) {
		fd |= !strcmp(cfg->process.env[i], "BERTH_QUEUE_FD=3");
		wfd |= !strcmp(cfg->process.env[i], "BERTH_WORKER_FD=4");
		id |= !strcmp(cfg->process.env[i], "BERTH_WORKER_ID=0");
		a |= !strcmp(cfg->process.env[i], "A=1");
	}
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		agent |= !strcmp(cfg->mounts[i].destination, DP_AGENT_PATH);
		tmpfs |= !strcmp(cfg->mounts[i].destination, "/tmp");
	}
	ASSERT_TRUE(fd && wfd && id && a && agent && tmpfs);
	oci_config_free(cfg);
	free(json);

	char *proot = base_sprintf("%s/par-%d", state, (int)getpid());
	struct stat st;
	ASSERT_EQ(stat(proot, &st), 0);
	ASSERT_EQ(dp_pool_close(p, 0, &err), 0);
	ASSERT_TRUE(stat(proot, &st) < 0 && errno == ENOENT);
	base_rm_rf_at(AT_FDCWD, tmp);
	free(proot);
	free(rootfs);
	free(tmpdir);
	free(state);
	free(parent);
}
