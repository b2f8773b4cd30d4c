/* cgroups/ resource limits on the real hierarchies of this (hybrid) host,
 * as root: every value is read back from the kernel's files. Groups live
 * under "/berth-test-cgres-<pid>", which a guard process removes after
 * each test, whatever the test did. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "cgroups/cgroups-internal.h"
#include "runtime/runtime-internal.h"
#include "tests/unit/test.h"

static char g_top[64]; /* "berth-test-cgres-<pid>" */

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

static char *slurp(const char *path)
{
	char *s = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &s, &len, 0) < 0)
		return NULL;
	while (len && s[len - 1] == '\n')
		s[--len] = '\0';
	return s;
}

/* The group's file in the hierarchy of controller ("unified": cgroup2). */
static char *file_of(struct cg_group *g, const char *controller,
		     const char *file)
{
	const struct cg_layout *lo = layout();
	int i = strcmp(controller, "unified") ? cg_layout_find(lo, controller)
					      : lo->v2;
	if (i < 0)
		test_fail(__FILE__, __LINE__, "no %s hierarchy", controller);
	return base_sprintf("%s/%s", g->dirs[i].path, file);
}

/* Reads the group's file; the caller frees. */
static char *val(struct cg_group *g, const char *controller, const char *file)
{
	char *f = file_of(g, controller, file);
	char *s = slurp(f);
	if (!s)
		test_fail(__FILE__, __LINE__, "read %s", f);
	free(f);
	return s;
}

#define ASSERT_VAL(g, ctl, file, want)                                         \
	do {                                                                   \
		char *_v = val(g, ctl, file);                                  \
		ASSERT_STREQ(_v, want);                                        \
		free(_v);                                                      \
	} while (0)

/* ---- the guard ---- */

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
	snprintf(g_top, sizeof(g_top), "berth-test-cgres-%d", (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		body();
		fflush(NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
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

static struct cg_group *make_group(const char *name)
{
	need_root_hybrid();
	char *path = base_sprintf("/%s/%s", g_top, name);
	struct cg_group *g = NULL;
	struct berr e = {0};
	if (cg_create(path, NULL, &g, &e) < 0)
		test_fail(__FILE__, __LINE__, "cg_create %s: %s", path, e.msg);
	free(path);
	return g;
}

static void apply_ok(struct cg_group *g, const struct cg_resources *r)
{
	struct berr e = {0};
	int ret = cg_apply(g, r, &e);
	if (ret < 0)
		test_fail(__FILE__, __LINE__, "cg_apply: %s", e.msg);
}

/* cg_apply fails with a message containing want. */
static void apply_fails(struct cg_group *g, const struct cg_resources *r,
			const char *want)
{
	struct berr e = {0};
	int ret = cg_apply(g, r, &e);
	if (ret >= 0)
		test_fail(__FILE__, __LINE__,
			  "cg_apply accepted, expected "
			  "\"%s\"",
			  want);
	if (!strstr(e.msg, want))
		test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",
			  e.msg, want);
}

/* ---- conversions ---- */

TEST(cpu_shares_to_weight_uses_runcs_formula)
{
	ASSERT_EQ(cg_cpu_shares_to_weight(2), 1);
	ASSERT_EQ(cg_cpu_shares_to_weight(1024), 39);
	ASSERT_EQ(cg_cpu_shares_to_weight(262144), 10000);
	ASSERT_EQ(cg_cpu_shares_to_weight(0), 0);
	ASSERT_EQ(cg_blkio_weight_to_io_weight(10), 1);
	ASSERT_EQ(cg_blkio_weight_to_io_weight(500), 4950);
	ASSERT_EQ(cg_blkio_weight_to_io_weight(1000), 10000);
}

/* ---- v1 values read back ---- */

CG_TEST(v1_cpu_values_are_written)
{
	struct cg_group *g = make_group("cpu");
	struct cg_resources r = {
		.has_cpu_shares = true,
		.cpu_shares = 512,
		.has_cpu_quota = true,
		.cpu_quota = 50000,
		.has_cpu_period = true,
		.cpu_period = 200000,
		.has_cpu_idle = true,
		.cpu_idle = 0,
	};
	apply_ok(g, &r);
	ASSERT_VAL(g, "cpu", "cpu.shares", "512");
	ASSERT_VAL(g, "cpu", "cpu.cfs_quota_us", "50000");
	ASSERT_VAL(g, "cpu", "cpu.cfs_period_us", "200000");
	/* -1 lifts the quota */
	r = (struct cg_resources){.has_cpu_quota = true, .cpu_quota = -1};
	apply_ok(g, &r);
	ASSERT_VAL(g, "cpu", "cpu.cfs_quota_us", "-1");
	ASSERT_VAL(g, "cpu", "cpu.shares", "512");
	char *burst = file_of(g, "cpu", "cpu.cfs_burst_us");
	if (access(burst, F_OK) == 0) {
		r = (struct cg_resources){.has_cpu_quota = true,
					  .cpu_quota = 40000,
					  .has_cpu_burst = true,
					  .cpu_burst = 10000};
		apply_ok(g, &r);
		ASSERT_VAL(g, "cpu", "cpu.cfs_burst_us", "10000");
	}
	free(burst);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(v1_cpuset_is_written)
{
	struct cg_group *g = make_group("cpuset");
	struct cg_resources r = {.cpuset_cpus = "0", .cpuset_mems = "0"};
	apply_ok(g, &r);
	ASSERT_VAL(g, "cpuset", "cpuset.cpus", "0");
	ASSERT_VAL(g, "cpuset", "cpuset.mems", "0");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(v1_memory_values_are_written)
{
	struct cg_group *g = make_group("mem");
	struct cg_resources r = {
		.has_memory_limit = true,
		.memory_limit = 64 << 20,
		.has_memory_reservation = true,
		.memory_reservation = 32 << 20,
		.has_memory_swap = true,
		.memory_swap = 128 << 20,
		.has_swappiness = true,
		.swappiness = 10,
		.has_oom_kill_disable = true,
		.oom_kill_disable = true,
		.has_use_hierarchy = true,
		.use_hierarchy = true,
	};
	apply_ok(g, &r);
	ASSERT_VAL(g, "memory", "memory.limit_in_bytes", "67108864");
	ASSERT_VAL(g, "memory", "memory.soft_limit_in_bytes", "33554432");
	ASSERT_VAL(g, "memory", "memory.memsw.limit_in_bytes", "134217728");
	ASSERT_VAL(g, "memory", "memory.swappiness", "10");
	ASSERT_VAL(g, "memory", "memory.use_hierarchy", "1");
	char *oom = val(g, "memory", "memory.oom_control");
	ASSERT_CONTAINS(oom, "oom_kill_disable 1");
	free(oom);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

/* The kernel wants limit <= memsw after every write: raising both needs
 * swap first, lowering both the limit first. */
CG_TEST(v1_memory_and_swap_move_both_ways)
{
	struct cg_group *g = make_group("swap");
	struct cg_resources r = {
		.has_memory_limit = true,
		.memory_limit = 64 << 20,
		.has_memory_swap = true,
		.memory_swap = 128 << 20,
	};
	apply_ok(g, &r);
	r.memory_limit = 256 << 20;
	r.memory_swap = 512 << 20;
	apply_ok(g, &r);
	ASSERT_VAL(g, "memory", "memory.limit_in_bytes", "268435456");
	ASSERT_VAL(g, "memory", "memory.memsw.limit_in_bytes", "536870912");
	r.memory_limit = 32 << 20;
	r.memory_swap = 32 << 20;
	apply_ok(g, &r);
	ASSERT_VAL(g, "memory", "memory.limit_in_bytes", "33554432");
	ASSERT_VAL(g, "memory", "memory.memsw.limit_in_bytes", "33554432");
	/* unlimited memory with no word on swap: both unlimited */
	r = (struct cg_resources){.has_memory_limit = true, .memory_limit = -1};
	apply_ok(g, &r);
	char *lim = val(g, "memory", "memory.limit_in_bytes");
	char *sw = val(g, "memory", "memory.memsw.limit_in_bytes");
	ASSERT_TRUE(strlen(lim) >= 18);
	ASSERT_STREQ(sw, lim);
	free(lim);
	free(sw);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(v1_pids_limit_and_max)
{
	struct cg_group *g = make_group("pids");
	struct cg_resources r = {.has_pids_limit = true, .pids_limit = 50};
	apply_ok(g, &r);
	ASSERT_VAL(g, "pids", "pids.max", "50");
	r.pids_limit = -1;
	apply_ok(g, &r);
	ASSERT_VAL(g, "pids", "pids.max", "max");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

/* The first non-loop, non-zram disk's "MAJ:MIN", or NULL. */
static char *a_disk(void)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return NULL;
	char *res = NULL;
	struct dirent *de;
	while (!res && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strncmp(de->d_name, "loop", 4) ||
		    !strncmp(de->d_name, "zram", 4) ||
		    !strncmp(de->d_name, "ram", 3))
			continue;
		char *f = base_sprintf("/sys/block/%s/dev", de->d_name);
		res = slurp(f);
		free(f);
	}
	closedir(d);
	return res;
}

CG_TEST(v1_blkio_weight_and_throttle)
{
	struct cg_group *g = make_group("blkio");
	char *cfq = file_of(g, "blkio", "blkio.weight");
	char *bfq = file_of(g, "blkio", "blkio.bfq.weight");
	const char *wf = access(cfq, F_OK) == 0	  ? "blkio.weight"
			 : access(bfq, F_OK) == 0 ? "blkio.bfq.weight"
						  : NULL;
	free(cfq);
	free(bfq);
	struct cg_resources r = {.blkio_weight = 500};
	if (wf) {
		apply_ok(g, &r);
		char *v = val(g, "blkio", wf);
		/* BFQ prints "default 500" on some kernels */
		ASSERT_CONTAINS(v, "500");
		free(v);
	} else {
		apply_fails(g, &r, "neither blkio.weight nor blkio.bfq.weight");
	}
	char *disk = a_disk();
	unsigned maj = 0, min = 0;
	if (disk && sscanf(disk, "%u:%u", &maj, &min) == 2) {
		struct cg_rate_device rd = {maj, min, 1048576};
		r = (struct cg_resources){.read_bps = {&rd, 1}};
		apply_ok(g, &r);
		char *v = val(g, "blkio", "blkio.throttle.read_bps_device");
		char *want = base_sprintf("%u:%u 1048576", maj, min);
		ASSERT_STREQ(v, want);
		free(v);
		free(want);
	}
	free(disk);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(v1_devices_deny_all_then_rules_in_order)
{
	struct cg_group *g = make_group("dev");
	struct cg_device_rule rules[] = {
		{false, 'a', CG_ANY, CG_ANY, "rwm"},
		{true, 'c', 1, 3, "rwm"},
		{true, 'c', 136, CG_ANY, "rw"},
		{true, 'b', 7, 0, NULL},
		{false, 'c', 1, 3, "m"},
	};
	struct cg_resources r = {.devices = rules, .n_devices = 5};
	apply_ok(g, &r);
	ASSERT_VAL(g, "devices", "devices.list",
		   "c 1:3 rw\nc 136:* rw\nb 7:0 rwm");
	/* a narrow rule on every type is one rule per type */
	struct cg_device_rule narrow[] = {{true, 'a', 1, CG_ANY, "r"}};
	r = (struct cg_resources){.devices = narrow, .n_devices = 1};
	apply_ok(g, &r);
	ASSERT_VAL(g, "devices", "devices.list", "c 1:* r\nb 1:* r");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

/* runtime: linux.resources.devices, then the standard devices; the
 * config's linux.devices get no rule of their own (as with runc). */
CG_TEST(create_allows_the_standard_devices)
{
	struct cg_group *g = make_group("std");
	static const char json[] = "{\"ociVersion\": \"1.2.0\", \"root\": "
				   "{\"path\": \"rootfs\"}, \"linux\": {"
				   "\"devices\": [{\"path\": \"/dev/fuse\", "
				   "\"type\": \"c\", \"major\": 10, \"minor\": "
				   "229}], \"resources\": {\"devices\": "
				   "[{\"allow\": false, \"access\": \"rwm\"}],"
				   " \"pids\": {\"limit\": 0}}}}";
	struct oci_config *c = NULL;
	struct berr e = {0};
	if (oci_config_parse(json, strlen(json), &c, &e) < 0)
		test_fail(__FILE__, __LINE__, "parse: %s", e.msg);
	ASSERT_EQ(rt_resources_setup(g, c, &e), 0);
	char *list = val(g, "devices", "devices.list");
	ASSERT_CONTAINS(list, "c 1:3 rwm");
	ASSERT_CONTAINS(list, "c 136:* rwm");
	ASSERT_CONTAINS(list, "c *:* m");
	ASSERT_TRUE(!strstr(list, "c 10:229"));
	ASSERT_TRUE(!strstr(list, "a *:*"));
	free(list);
	/* pids 0 is "not set", as runc reads it */
	ASSERT_VAL(g, "pids", "pids.max", "max");
	oci_config_free(c);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

/* ---- the unified hierarchy of a hybrid host ---- */

static void need_unified_hugetlb(struct cg_group *g)
{
	char *f = file_of(g, "unified", "hugetlb.2MB.max");
	bool ok = access(f, F_OK) == 0;
	free(f);
	if (!ok)
		test_skip("the unified hierarchy has no hugetlb.2MB.max");
}

CG_TEST(hybrid_hugetlb_goes_to_the_unified_hierarchy)
{
	struct cg_group *g = make_group("huge");
	need_unified_hugetlb(g);
	struct cg_hugetlb_limit h = {"2MB", 4 << 20};
	struct cg_resources r = {.hugetlb = &h, .n_hugetlb = 1};
	apply_ok(g, &r);
	ASSERT_VAL(g, "unified", "hugetlb.2MB.max", "4194304");
	struct cg_hugetlb_limit bad = {"3MB", 1};
	r = (struct cg_resources){.hugetlb = &bad, .n_hugetlb = 1};
	apply_fails(g, &r, "3MB is not a huge page size");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(hybrid_unified_keys_of_the_unified_hierarchy)
{
	struct cg_group *g = make_group("uni");
	need_unified_hugetlb(g);
	struct cg_unified_kv kv = {"hugetlb.2MB.max", "2097152"};
	struct cg_resources r = {.unified = &kv, .n_unified = 1};
	apply_ok(g, &r);
	ASSERT_VAL(g, "unified", "hugetlb.2MB.max", "2097152");
	/* memory belongs to a v1 hierarchy here */
	struct cg_unified_kv mem[] = {{"hugetlb.2MB.max", "4194304"},
				      {"memory.high", "1000000"}};
	r = (struct cg_resources){.unified = mem, .n_unified = 2};
	apply_fails(g, &r, "unified key `memory.high`: needs cgroup v2");
	struct cg_unified_kv foo = {"foo.bar", "1"};
	r = (struct cg_resources){.unified = &foo, .n_unified = 1};
	apply_fails(g, &r,
		    "unified key `foo.bar`: controller foo is not "
		    "enabled");
	struct cg_unified_kv nofile = {"hugetlb.2MB.nothing", "1"};
	r = (struct cg_resources){.unified = &nofile, .n_unified = 1};
	apply_fails(g, &r, "unified key `hugetlb.2MB.nothing`: no such file");
	/* the refused requests changed nothing */
	ASSERT_VAL(g, "unified", "hugetlb.2MB.max", "2097152");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

/* ---- checks before any write ---- */

/* A request whose memory limit is valid and comes first: a refusal must
 * leave the limit as it was. */
static struct cg_resources with_limit(void)
{
	return (struct cg_resources){.has_memory_limit = true,
				     .memory_limit = 16 << 20};
}

static void assert_untouched(struct cg_group *g)
{
	char *v = val(g, "memory", "memory.limit_in_bytes");
	ASSERT_TRUE(strcmp(v, "16777216") != 0);
	free(v);
	ASSERT_VAL(g, "cpu", "cpu.shares", "1024");
	ASSERT_VAL(g, "pids", "pids.max", "max");
}

CG_TEST(bad_values_are_refused_before_any_write)
{
	struct cg_group *g = make_group("bad");
	struct cg_resources r = with_limit();
	r.has_pids_limit = true;
	r.pids_limit = 9;
	r.has_cpu_shares = true;
	r.cpu_shares = 1;
	apply_fails(g, &r,
		    "linux.resources.cpu.shares (1) must be between "
		    "2 and 262144");
	assert_untouched(g);

	r = with_limit();
	r.has_memory_reservation = true;
	r.memory_reservation = -5;
	apply_fails(g, &r, "linux.resources.memory.reservation (-5) must be");
	assert_untouched(g);

	r = with_limit();
	r.has_cpu_period = true;
	r.cpu_period = UINT64_MAX;
	apply_fails(g, &r,
		    "linux.resources.cpu.period (18446744073709551615)"
		    " must be between 1000 and 1000000");
	assert_untouched(g);

	r = with_limit();
	r.has_memory_swap = true;
	r.memory_swap = 1 << 20;
	apply_fails(g, &r,
		    "linux.resources.memory.swap (1048576) must be >= "
		    "memory.limit (16777216)");
	assert_untouched(g);

	r = with_limit();
	r.blkio_weight = 5;
	apply_fails(g, &r,
		    "linux.resources.blockIO.weight (5) must be "
		    "between 10 and 1000");
	assert_untouched(g);
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(host_checks_refuse_before_any_write)
{
	struct cg_group *g = make_group("host");
	struct cg_resources r = with_limit();
	r.cpuset_cpus = "0-63";
	apply_fails(g, &r,
		    "linux.resources.cpu.cpus (0-63) is not a subset "
		    "of the parent's cpuset.effective_cpus");
	assert_untouched(g);

	r = with_limit();
	r.cpuset_mems = "0,x";
	apply_fails(g, &r, "linux.resources.cpu.mems: invalid list \"0,x\"");
	assert_untouched(g);

	struct cg_unified_kv kv = {"memory.high", "1"};
	r = with_limit();
	r.unified = &kv;
	r.n_unified = 1;
	apply_fails(g, &r, "unified key `memory.high`");
	assert_untouched(g);

	r = with_limit();
	r.has_net_classid = true;
	r.net_classid = 0x100001;
	if (cg_layout_find(layout(), "net_cls") < 0) {
		apply_fails(g, &r,
			    "linux.resources.network: no net_cls "
			    "hierarchy is mounted");
		assert_untouched(g);
	}

	/* swap against the group's current limit when no limit is given */
	r = with_limit();
	apply_ok(g, &r);
	r = (struct cg_resources){.has_memory_swap = true,
				  .memory_swap = 1 << 20};
	apply_fails(g, &r,
		    "linux.resources.memory.swap (1048576) must be >= "
		    "memory.limit (16777216)");
	cg_destroy(g, NULL);
	cg_group_free(g);
}

CG_TEST(kernel_memory_is_ignored)
{
	struct cg_group *g = make_group("kmem");
	struct cg_resources r = with_limit();
	r.kernel_memory_given = true;
	apply_ok(g, &r);
	ASSERT_VAL(g, "memory", "memory.limit_in_bytes", "16777216");
	cg_destroy(g, NULL);
	cg_group_free(g);
}
