/* dist/ par: CPU lists, the allowed CPU set, replacement strings, JSON
 * strings and the workers' generated config. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test-par.h"

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

/* ---- --shard and merge ------------------------------------------------ */

/* Round-robin: seq s is shard (s - 1) % N's, every seq in exactly one
 * shard; dp_shard_next walks a shard's seqs and dp_shard_tasks counts
 * them. */
TEST(shard_division_round_robin)
{
	for (uint32_t n = 1; n <= 7; n++) {
		uint64_t counted[7] = {0};
		for (uint64_t seq = 1; seq <= 1000; seq++) {
			int owners = 0;
			for (uint32_t i = 0; i < n; i++) {
				struct dp_shard s = {i, n};
				if (!dp_shard_has(&s, seq))
					continue;
				owners++;
				ASSERT_EQ(i, (seq - 1) % n);
				counted[i]++;
			}
			ASSERT_EQ(owners, 1);
		}
		for (uint32_t i = 0; i < n; i++) {
			struct dp_shard s = {i, n};
			ASSERT_EQ(dp_shard_tasks(&s, 1000), counted[i]);
			/* the shares differ by one task at most */
			ASSERT_TRUE(counted[i] * n >= 1000 - n + 1);
			uint64_t k = 0, seq = 0;
			while ((seq = dp_shard_next(&s, seq)) <= 1000) {
				ASSERT_TRUE(dp_shard_has(&s, seq));
				ASSERT_EQ(seq, i + 1 + k * n);
				k++;
			}
			ASSERT_EQ(k, counted[i]);
		}
	}
	struct dp_shard s = {2, 3}, none = {0, 0};
	ASSERT_EQ(dp_shard_tasks(&s, 2), 0);
	ASSERT_EQ(dp_shard_tasks(&s, 3), 1);
	ASSERT_EQ(dp_shard_tasks(&none, 5), 5);
	ASSERT_EQ(dp_shard_next(&none, 4), 5);
	ASSERT_TRUE(!dp_shard_has(&s, 0));
	ASSERT_TRUE(dp_shard_has(&none, 1));
}

TEST(shard_path)
{
	struct dp_shard s = {1, 3}, none = {0, 0};
	char *p = dp_shard_path("/d/log", &s);
	ASSERT_STREQ(p, "/d/log.shard-1-of-3");
	free(p);
	p = dp_shard_path("log", &none);
	ASSERT_STREQ(p, "log");
	free(p);
	ASSERT_TRUE(dp_shard_path(NULL, &s) == NULL);
}

static struct dp_shard shard_of(const char *spec, char *const *envp)
{
	struct dp_shard s = {99, 99};
	struct berr err = {0};
	int r = dp_shard_parse(spec, envp, &s, &err);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "--shard %s: %s", spec, err.msg);
	return s;
}

TEST(shard_parse_forms)
{
	char *none[] = {"PATH=/bin", NULL};
	struct dp_shard s = shard_of("2/3", none);
	ASSERT_TRUE(s.index == 2 && s.count == 3);
	s = shard_of("0/1", none);
	ASSERT_TRUE(s.index == 0 && s.count == 1);
	s = shard_of("999999/1000000", none);
	ASSERT_EQ(s.index, 999999);
	/* a task of a Slurm job step */
	char *slurm[] = {"SLURM_JOB_ID=7", "SLURM_STEP_ID=0", "SLURM_PROCID=1",
			 "SLURM_NTASKS=3", NULL};
	s = shard_of("auto", slurm);
	ASSERT_TRUE(s.index == 1 && s.count == 3);
	s = shard_of("auto/3", slurm);
	ASSERT_TRUE(s.index == 1 && s.count == 3);
	/* a pod of a Kubernetes Indexed Job: N given */
	char *kube[] = {"JOB_COMPLETION_INDEX=3", NULL};
	s = shard_of("auto/4", kube);
	ASSERT_TRUE(s.index == 3 && s.count == 4);
	/* the same division every time */
	s = shard_of("auto/4", kube);
	ASSERT_TRUE(s.index == 3 && s.count == 4);
}

/* Each bad value: one error saying what is wrong. */
TEST(shard_parse_refuses)
{
	char *none[] = {"PATH=/bin", NULL};
	char *batch[] = {"SLURM_JOB_ID=7", "SLURM_PROCID=0", "SLURM_NTASKS=3",
			 NULL};
	char *badid[] = {"SLURM_STEP_ID=0", "SLURM_PROCID=x", "SLURM_NTASKS=3",
			 NULL};
	char *highid[] = {"SLURM_STEP_ID=0", "SLURM_PROCID=3", "SLURM_NTASKS=3",
			  NULL};
	char *nontasks[] = {"SLURM_STEP_ID=0", "SLURM_PROCID=0", NULL};
	char *slurm[] = {"SLURM_STEP_ID=0", "SLURM_PROCID=1", "SLURM_NTASKS=3",
			 NULL};
	char *kube[] = {"JOB_COMPLETION_INDEX=2", NULL};
	char *badkube[] = {"JOB_COMPLETION_INDEX=-1", NULL};
	const struct {
		const char *spec;
		char *const *envp;
		const char *msg;
	} bad[] = {
		{"", NULL,
		 "--shard : expected I/N (0 <= I < N), auto or auto/N"},
		{"3", NULL, "--shard 3: expected I/N"},
		{"1/3/4", NULL, "--shard 1/3/4: expected I/N"},
		{"-1/3", NULL, "--shard -1/3: expected I/N"},
		{"a/3", NULL, "--shard a/3: expected I/N"},
		{"1/ 3", NULL, "--shard 1/ 3: expected I/N"},
		{"1/", NULL, "--shard 1/: expected I/N"},
		{"auto/x", NULL, "--shard auto/x: expected I/N"},
		{"1/0", NULL,
		 "--shard 1/0: N, the number of shards, must be 1 "
		 "to 1000000"},
		{"0/1000001", NULL, "must be 1 to 1000000"},
		{"3/3", NULL,
		 "--shard 3/3: I must be below N: shards are "
		 "numbered from 0 (0/3 to 2/3)"},
		{"auto", none,
		 "--shard auto: neither a Slurm job step "
		 "(SLURM_PROCID, SLURM_NTASKS) nor a Kubernetes "
		 "Indexed Job (JOB_COMPLETION_INDEX): give "
		 "--shard I/N"},
		{"auto/3", none, "--shard auto/3: neither a Slurm job step"},
		{"auto", batch,
		 "this is a Slurm batch script, not a job step: "
		 "start berth par with srun"},
		{"auto", badid,
		 "--shard auto: SLURM_PROCID=x is not a task of "
		 "0 to 2"},
		{"auto", highid, "SLURM_PROCID=3 is not a task of 0 to 2"},
		{"auto", nontasks, "SLURM_NTASKS=(unset) is not a number"},
		{"auto/2", slurm,
		 "--shard auto/2: the job step has "
		 "SLURM_NTASKS=3 tasks, not 2"},
		{"auto", kube,
		 "--shard auto: JOB_COMPLETION_INDEX=2 gives the "
		 "index but not the number of shards: give "
		 "--shard auto/N"},
		{"auto/2", kube,
		 "JOB_COMPLETION_INDEX=2 is not an index of 0 "
		 "to 1"},
		{"auto/2", badkube, "JOB_COMPLETION_INDEX=-1 is not an index"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct dp_shard s = {5, 5};
		struct berr err = {0};
		int r = dp_shard_parse(bad[i].spec, bad[i].envp, &s, &err);
		if (r != -EINVAL || !strstr(err.msg, bad[i].msg))
			test_fail(__FILE__, __LINE__,
				  "--shard \"%s\": %d \"%s\", expected \"%s\"",
				  bad[i].spec, r, err.msg, bad[i].msg);
		ASSERT_EQ(s.count, 0);
	}
}

/* The tasks of each input form, as shard i of n makes them. */
static char *shard_listing(struct dp_par_opts *o, uint32_t i, uint32_t n)
{
	static struct listing l;
	o->shard = (struct dp_shard){i, n};
	struct berr err;
	if (listing(o, &l, &err) < 0)
		test_fail(__FILE__, __LINE__, "dp_par_tasks: %s", err.msg);
	return l.text;
}

/* stdin as the source: a pipe holding the lines, its write end closed. */
static int lines_fd(const char *text)
{
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	ASSERT_EQ(write(fds[1], text, strlen(text)), (long long)strlen(text));
	close(fds[1]);
	return fds[0];
}

/* Every input form: a shard keeps the seqs of the whole input, and
 * the shards together make every task once. */
TEST(shard_every_input_form)
{
	char tmp[] = "/tmp/berth-test-shard.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	char *file = base_sprintf("%s/args", tmp);
	ASSERT_EQ(
		base_write_file_at(AT_FDCWD, file, "a\nb\nc\nd\ne", 9, O_CREAT),
		0);
	char *cmd[] = {"echo", NULL};
	char *args[] = {"a", "b", "c", "d", "e", NULL};
	struct dp_par_opts forms[4] = {
		{.command = cmd, .args = args},
		{.command = cmd, .arg_file = file},
		{.command = cmd, .range = "10:14"},
		{.command = cmd, .input_fd = -1},
	};
	const char *want[4][3] = {
		{"1:a 4:d ", "2:b 5:e ", "3:c "},
		{"1:a 4:d ", "2:b 5:e ", "3:c "},
		{"1:10 4:13 ", "2:11 5:14 ", "3:12 "},
		{"1:a 4:d ", "2:b 5:e ", "3:c "},
	};
	for (size_t f = 0; f < 4; f++)
		for (uint32_t i = 0; i < 3; i++) {
			if (f == 3)
				forms[f].input_fd = lines_fd("a\nb\nc\nd\ne");
			ASSERT_STREQ(shard_listing(&forms[f], i, 3),
				     want[f][i]);
			if (f == 3)
				close(forms[f].input_fd);
		}
	/* not divided: every task; one shard of one: the same */
	ASSERT_STREQ(shard_listing(&forms[2], 0, 0),
		     "1:10 2:11 3:12 4:13 5:14 ");
	ASSERT_STREQ(shard_listing(&forms[2], 0, 1),
		     "1:10 2:11 3:12 4:13 5:14 ");
	/* more shards than tasks: the last ones have none */
	ASSERT_STREQ(shard_listing(&forms[2], 6, 7), "");
	base_rm_rf_at(AT_FDCWD, tmp);
	free(file);
}

/* A range's numbers, each as snprintf writes it: the next one is made
 * from the last in place when the step is 1, across every carry. */
TEST(range_numbers_across_carries_and_signs)
{
	const char *ranges[] = {"-12:1001", "99990:100010", "1001:-5",
				"0:100:7",
				"9223372036854775800:9223372036854775807"};
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		char *cmd[] = {"echo", NULL};
		struct dp_par_opts o = {.command = cmd, .range = ranges[i]};
		struct dp_source src = {0};
		struct berr err = {0};
		ASSERT_EQ(dp_source_open(&o, &src, &err), 0);
		uint64_t n = 0;
		const char *arg;
		size_t len;
		while (dp_source_next_len(&src, &arg, &len) > 0) {
			/* the range's last number is INT64_MAX: no v + step */
			long long v = (long long)((uint64_t)src.cur +
						  n * (uint64_t)src.step);
			char want[32];
			snprintf(want, sizeof(want), "%lld", v);
			ASSERT_STREQ(arg, want);
			ASSERT_EQ(len, strlen(want));
			n++;
		}
		ASSERT_EQ(n, src.total);
		free(src.buf);
	}
}

/* The chunk's copy of an argument: every length the branches of
 * dp_copy_short take, each byte copied and none written around it. */
TEST(short_copies_of_every_length)
{
	char src[80], dst[80];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('a' + i % 26);
	for (size_t len = 0; len <= 70; len++) {
		memset(dst, '#', sizeof(dst));
		dp_copy_short(dst + 3, src + 1, len);
		ASSERT_EQ(memcmp(dst + 3, src + 1, len), 0);
		for (size_t i = 0; i < sizeof(dst); i++)
			if (i < 3 || i >= 3 + len)
				ASSERT_EQ(dst[i], '#');
	}
}

static void write_text(const char *path, const char *text)
{
	ASSERT_EQ(
		base_write_file_at(AT_FDCWD, path, text, strlen(text), O_CREAT),
		0);
}

/* --resume with a shard reads the shard's own joblog and skips what it
 * has; a line cut short by a kill is not a task done. */
TEST(shard_resume_reads_its_own_joblog)
{
	char tmp[] = "/tmp/berth-test-shard.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	char *log = base_sprintf("%s/log", tmp);
	char *own = base_sprintf("%s/log.shard-1-of-3", tmp);
	write_text(own, DP_JOBLOG_HEAD "5\t:\t1.000\t0.001\t1\t1\t0\t0\techo\n"
				       "2\t:\t1.000\t0.001\t1\t1\t1\t0\techo\n"
				       "11\t:\t1.0");
	/* another shard's joblog is not read, even when it has this
	 * shard's seq 8 (it should not) */
	char *other = base_sprintf("%s/log.shard-0-of-3", tmp);
	write_text(other, DP_JOBLOG_HEAD "1\t:\t1.000\t0.001\t1\t1\t0\t0\te\n"
					 "8\t:\t1.000\t0.001\t1\t1\t0\t0\te\n");
	char *cmd[] = {"echo", NULL};
	struct dp_par_opts o = {
		.command = cmd, .range = "1:12", .joblog = log, .resume = true};
	ASSERT_STREQ(shard_listing(&o, 1, 3), "8:8 11:11 ");
	ASSERT_STREQ(shard_listing(&o, 0, 3), "4:4 7:7 10:10 ");
	/* not divided: log itself, which does not exist */
	ASSERT_STREQ(shard_listing(&o, 0, 0),
		     "1:1 2:2 3:3 4:4 5:5 6:6 7:7 8:8 9:9 10:10 11:11 12:12 ");

	struct dp_mine m = {.shard = {1, 3}};
	struct berr err = {0};
	ASSERT_EQ(dp_mine_read_joblog(&m, own, &err), 0);
	ASSERT_EQ(m.n_done, 2);
	ASSERT_TRUE(dp_mine_done(&m, 5) && dp_mine_done(&m, 2));
	ASSERT_TRUE(!dp_mine_done(&m, 11));
	/* -k's order: the shard's seqs the joblog lacks */
	ASSERT_EQ(dp_mine_next(&m, 0), 8);
	ASSERT_EQ(dp_mine_next(&m, 8), 11);
	dp_mine_free(&m);
	/* no joblog yet: a first run */
	ASSERT_EQ(dp_mine_read_joblog(&m, log, &err), 0);
	ASSERT_EQ(m.n_done, 0);

	/* the line cut short goes before --resume appends */
	int fd = open(own, O_RDWR | O_APPEND);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(dp_drop_cut_line(fd), 0);
	close(fd);
	char *text = NULL;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, own, &text, NULL, 0), 0);
	ASSERT_STREQ(text,
		     DP_JOBLOG_HEAD "5\t:\t1.000\t0.001\t1\t1\t0\t0\techo\n"
				    "2\t:\t1.000\t0.001\t1\t1\t1\t0\techo\n");
	free(text);
	/* whole lines stay */
	fd = open(own, O_RDWR | O_APPEND);
	ASSERT_EQ(dp_drop_cut_line(fd), 0);
	struct stat st;
	ASSERT_EQ(fstat(fd, &st), 0);
	ASSERT_EQ(st.st_size, strlen(DP_JOBLOG_HEAD
				     "5\t:\t1.000\t0.001\t1\t1\t0\t0\techo\n"
				     "2\t:\t1.000\t0.001\t1\t1\t1\t0\techo\n"));
	close(fd);
	base_rm_rf_at(AT_FDCWD, tmp);
	free(log);
	free(own);
	free(other);
}

/* A joblog line and a results line as a run writes them for seq. */
static void add_lines(struct dp_buf *log, struct dp_buf *res, uint64_t seq)
{
	dp_buf_printf(log,
		      "%llu\t:\t100.%03llu\t0.001\t4\t2\t0\t0\techo %llu\n",
		      (unsigned long long)seq, (unsigned long long)seq,
		      (unsigned long long)seq);
	dp_buf_printf(res, DP_RESULT_HEAD "%llu,\"task\":\"%llu\"}\n",
		      (unsigned long long)seq, (unsigned long long)seq);
}

/* Shard files for seqs 1..total with n shards, each shard's lines in
 * reverse (a run without -k writes them as tasks finish), less skip. */
static void write_shards(const char *dir, uint32_t n, uint64_t total,
			 uint64_t skip)
{
	for (uint32_t i = 0; i < n; i++) {
		struct dp_buf log = {0}, res = {0};
		dp_buf_adds(&log, DP_JOBLOG_HEAD);
		dp_buf_adds(&res, "");
		struct dp_shard s = {i, n};
		for (uint64_t seq = total; seq >= 1; seq--)
			if (dp_shard_has(&s, seq) && seq != skip)
				add_lines(&log, &res, seq);
		char *base = base_sprintf("%s/log", dir);
		char *p = dp_shard_path(base, &s);
		write_text(p, log.p);
		free(base);
		free(p);
		base = base_sprintf("%s/res", dir);
		p = dp_shard_path(base, &s);
		write_text(p, res.p);
		free(base);
		free(p);
		dp_buf_free(&log);
		dp_buf_free(&res);
	}
}

static int merge(const char *dir, uint32_t shards, uint64_t tasks,
		 struct dp_merge_stats *st, struct berr *err)
{
	char *log = base_sprintf("%s/log", dir),
	     *res = base_sprintf("%s/res", dir);
	struct dp_merge_opts o = {.joblog = log,
				  .results = res,
				  .shards = shards,
				  .tasks = tasks};
	*err = (struct berr){0};
	int r = dp_par_merge(&o, st, err);
	free(log);
	free(res);
	return r;
}

static char *read_text(const char *dir, const char *name)
{
	char *p = base_sprintf("%s/%s", dir, name), *text = NULL;
	int r = base_read_file_at(AT_FDCWD, p, &text, NULL, 0);
	free(p);
	return r < 0 ? NULL : text;
}

/* The merged files are what one run with -k writes: the header, then
 * the lines by seq. */
TEST(merge_orders_by_seq)
{
	char tmp[] = "/tmp/berth-test-merge.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	struct dp_buf log = {0}, res = {0};
	dp_buf_adds(&log, DP_JOBLOG_HEAD);
	dp_buf_adds(&res, "");
	for (uint64_t seq = 1; seq <= 100; seq++)
		add_lines(&log, &res, seq);
	struct dp_merge_stats st;
	struct berr err;
	for (uint32_t n = 1; n <= 4; n++) {
		write_shards(tmp, n, 100, 0);
		if (merge(tmp, n, 0, &st, &err) < 0)
			test_fail(__FILE__, __LINE__, "merge: %s", err.msg);
		ASSERT_EQ(st.tasks, 100);
		ASSERT_EQ(st.shards, n);
		char *text = read_text(tmp, "log");
		ASSERT_STREQ(text, log.p);
		free(text);
		text = read_text(tmp, "res");
		ASSERT_STREQ(text, res.p);
		free(text);
		/* --shards found from the files' names */
		if (n == 1) {
			ASSERT_EQ(merge(tmp, 0, 100, &st, &err), 0);
			ASSERT_EQ(st.shards, 1);
		}
	}
	/* files of two divisions: N must be given */
	ASSERT_EQ(merge(tmp, 0, 0, &st, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "there are files of");
	ASSERT_CONTAINS(err.msg, "give --shards N");
	ASSERT_EQ(merge(tmp, 4, 100, &st, &err), 0);
	dp_buf_free(&log);
	dp_buf_free(&res);
	base_rm_rf_at(AT_FDCWD, tmp);
}

/* A missing file, a seq missing or twice, a seq in another shard's
 * file: each named, and nothing written. */
TEST(merge_refuses_what_is_not_one_run)
{
	char tmp[] = "/tmp/berth-test-merge.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	struct dp_merge_stats st;
	struct berr err;
	char *p = NULL;

	write_shards(tmp, 3, 30, 17);
	ASSERT_EQ(merge(tmp, 3, 0, &st, &err), -ENODATA);
	ASSERT_CONTAINS(err.msg, "/log: 1 of 30 tasks are in no shard's "
				 "file: seq 17 (shard 1/3); run their shards "
				 "again with --resume");
	ASSERT_TRUE(read_text(tmp, "log") == NULL);
	/* the last tasks missing: found with --tasks */
	write_shards(tmp, 3, 30, 0);
	ASSERT_EQ(merge(tmp, 3, 32, &st, &err), -ENODATA);
	ASSERT_CONTAINS(err.msg, "2 of 32 tasks are in no shard's file: seq "
				 "31 (shard 0/3), 32 (shard 1/3)");
	ASSERT_EQ(merge(tmp, 3, 29, &st, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "seq 30 is beyond the run's 29 tasks");

	/* a seq twice in a joblog */
	p = base_sprintf("%s/log.shard-2-of-3", tmp);
	struct dp_buf b = {0}, res = {0};
	dp_buf_adds(&b, "");
	add_lines(&b, &res, 6);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, b.p, b.len, O_APPEND), 0);
	ASSERT_EQ(merge(tmp, 3, 0, &st, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "--joblog ");
	ASSERT_CONTAINS(err.msg, "/log.shard-2-of-3: seq 6 is there twice");
	ASSERT_TRUE(read_text(tmp, "log") == NULL);
	free(p);
	/* a seq in another shard's file */
	write_shards(tmp, 3, 30, 0);
	p = base_sprintf("%s/log.shard-0-of-3", tmp);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, b.p, b.len, O_APPEND), 0);
	ASSERT_EQ(merge(tmp, 3, 0, &st, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/log.shard-0-of-3, line 12: seq 6 is shard "
				 "2's, not 0's");
	free(p);
	/* a line that is not a joblog line */
	write_shards(tmp, 3, 30, 0);
	p = base_sprintf("%s/log.shard-1-of-3", tmp);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, "x\n", 2, O_APPEND), 0);
	ASSERT_EQ(merge(tmp, 3, 0, &st, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/log.shard-1-of-3, line 12: not a joblog "
				 "line");
	free(p);
	/* a missing shard file */
	write_shards(tmp, 3, 30, 0);
	p = base_sprintf("%s/res.shard-2-of-3", tmp);
	ASSERT_EQ(unlink(p), 0);
	ASSERT_EQ(merge(tmp, 3, 0, &st, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "--results ");
	ASSERT_CONTAINS(err.msg, "/res.shard-2-of-3 is missing: shard 2/3 "
				 "did not run, or wrote it elsewhere");
	ASSERT_TRUE(read_text(tmp, "log") == NULL);
	free(p);
	dp_buf_free(&b);
	dp_buf_free(&res);
	base_rm_rf_at(AT_FDCWD, tmp);
}

/* A results line of a run killed before its joblog line, which
 * --resume ran again: the later line is kept. A cut last line is no
 * task. */
TEST(merge_keeps_the_later_result)
{
	char tmp[] = "/tmp/berth-test-merge.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	write_shards(tmp, 2, 10, 0);
	char *p = base_sprintf("%s/res.shard-1-of-2", tmp);
	const char *again = DP_RESULT_HEAD "4,\"task\":\"again\"}\n"
					   "{\"seq\":6,\"ta";
	ASSERT_EQ(
		base_write_file_at(AT_FDCWD, p, again, strlen(again), O_APPEND),
		0);
	struct dp_merge_stats st;
	struct berr err;
	if (merge(tmp, 2, 10, &st, &err) < 0)
		test_fail(__FILE__, __LINE__, "merge: %s", err.msg);
	ASSERT_EQ(st.replaced, 1);
	char *text = read_text(tmp, "res");
	ASSERT_CONTAINS(text, "\"seq\":3,\"task\":\"3\"}\n" DP_RESULT_HEAD
			      "4,\"task\":\"again\"}\n" DP_RESULT_HEAD "5,");
	ASSERT_TRUE(strstr(text, "\"task\":\"4\"") == NULL);
	free(text);
	free(p);
	base_rm_rf_at(AT_FDCWD, tmp);
}
