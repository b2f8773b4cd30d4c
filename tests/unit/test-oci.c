/* oci/: config.json, process and resources parsing, state documents and the
 * default spec. */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "oci/oci.h"
#include "tests/unit/test.h"

/* JSON written as C tokens: J({"a": [1, 2]}) is the string of it. */
#define J(...) #__VA_ARGS__

/* Present when built with AddressSanitizer: the test process leaves with
 * _exit(), so leaks are looked for here, at the end of each test. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		ASSERT_EQ(__lsan_do_recoverable_leak_check(), 0);
}

static struct oci_config *parse_ok(const char *json)
{
	struct oci_config *c = NULL;
	struct berr e = {0};
	int r = oci_config_parse(json, strlen(json), &c, &e);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "parse: %s", e.msg);
	ASSERT_TRUE(c != NULL);
	return c;
}

static void expect_error(const char *json, const char *msg)
{
	struct oci_config *c = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_config_parse(json, strlen(json), &c, &e), -EINVAL);
	ASSERT_EQ(e.code, EINVAL);
	ASSERT_STREQ(e.msg, msg);
	ASSERT_TRUE(c == NULL);
	no_leaks();
}

/* clang-format off */
static const char full_config[] = J({
	"ociVersion": "1.2.0",
	"root": {"path": "rootfs", "readonly": true},
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/data", "source": "/srv/data",
		 "options": ["rbind", "ro"],
		 "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
		 "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}]}
	],
	"process": {
		"terminal": true,
		"consoleSize": {"height": 24, "width": 80},
		"user": {"uid": 1000, "gid": 1001, "umask": 18,
			 "additionalGids": [5, 4294967295], "username": "u"},
		"args": ["sh", "-c", "echo hi"],
		"env": ["PATH=/bin", "TERM=xterm"],
		"cwd": "/home",
		"capabilities": {
			"bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"],
			"effective": ["CAP_KILL"],
			"inheritable": [],
			"permitted": ["CAP_KILL", "CAP_SYS_ADMIN"]
		},
		"rlimits": [
			{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512},
			{"type": "RLIMIT_CORE", "hard": 18446744073709551615,
			 "soft": 18446744073709551614}
		],
		"noNewPrivileges": true,
		"apparmorProfile": "aa",
		"oomScoreAdj": -500,
		"scheduler": {"policy": "SCHED_DEADLINE", "nice": -5,
			      "priority": 3,
			      "flags": ["SCHED_FLAG_RESET_ON_FORK",
					"SCHED_FLAG_DL_OVERRUN"],
			      "runtime": 100, "deadline": 200, "period": 300},
		"selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0",
		"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
		"execCPUAffinity": {"initial": "0", "final": "0-1"}
	},
	"hostname": "box",
	"domainname": "example.org",
	"hooks": {
		"prestart": [{"path": "/bin/pre", "args": ["pre", "x"],
			      "env": ["A=1"], "timeout": 5}],
		"createRuntime": [{"path": "/bin/cr"}, {"path": "/bin/cr2"}],
		"createContainer": [{"path": "/bin/cc"}],
		"startContainer": [{"path": "/bin/sc"}],
		"poststart": [{"path": "/bin/ps"}],
		"poststop": [{"path": "/bin/pst", "timeout": 1}]
	},
	"annotations": {"org.example.key": "value", "b": "2"},
	"linux": {
		"namespaces": [
			{"type": "pid"}, {"type": "network", "path": "/run/netns/x"},
			{"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
			{"type": "user"}, {"type": "cgroup"}, {"type": "time"}
		],
		"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
		"gidMappings": [{"containerID": 0, "hostID": 1001, "size": 2}],
		"timeOffsets": {"monotonic": {"secs": -86400, "nanosecs": 7},
				"boottime": {"secs": 3600}},
		"devices": [
			{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
			 "fileMode": 438, "uid": 0, "gid": 0},
			{"path": "/dev/fifo", "type": "p"}
		],
		"cgroupsPath": "/berth/test",
		"resources": {
			"devices": [
				{"allow": false, "access": "rwm"},
				{"allow": true, "type": "c", "major": 10, "minor": -1,
				 "access": "rw"}
			],
			"memory": {"limit": 536870912, "reservation": 268435456,
				   "swap": -1, "kernel": 0, "kernelTCP": 1024,
				   "swappiness": 60, "disableOOMKiller": true,
				   "useHierarchy": false, "checkBeforeUpdate": true},
			"cpu": {"shares": 1024, "quota": 50000, "burst": 1000,
				"period": 100000, "realtimeRuntime": 950000,
				"realtimePeriod": 1000000, "cpus": "0-1", "mems": "0",
				"idle": 1},
			"pids": {"limit": 32},
			"blockIO": {
				"weight": 500, "leafWeight": 300,
				"weightDevice": [{"major": 8, "minor": 0, "weight": 600},
						 {"major": 8, "minor": 16,
						  "leafWeight": 200}],
				"throttleReadBpsDevice": [{"major": 8, "minor": 0,
							   "rate": 1048576}],
				"throttleWriteBpsDevice": [{"major": 8, "minor": 1,
							    "rate": 2}],
				"throttleReadIOPSDevice": [{"major": 8, "minor": 2,
							    "rate": 3}],
				"throttleWriteIOPSDevice": [{"major": 8, "minor": 3,
							     "rate": 4}]
			},
			"hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
			"network": {"classID": 1048577,
				    "priorities": [{"name": "eth0", "priority": 500}]},
			"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
				 "mlx4_0": {"hcaObjects": 7}},
			"unified": {"memory.high": "1073741824", "io.weight": "100"}
		},
		"intelRdt": {"closID": "guaranteed_group"},
		"sysctl": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
		"seccomp": {
			"defaultAction": "SCMP_ACT_ERRNO",
			"defaultErrnoRet": 1,
			"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
			"flags": ["SECCOMP_FILTER_FLAG_LOG"],
			"listenerPath": "/run/listener.sock",
			"listenerMetadata": "meta",
			"syscalls": [
				{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
				{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
				 "errnoRet": 38,
				 "args": [{"index": 0, "value": 255,
					   "valueTwo": 18446744073709551615,
					   "op": "SCMP_CMP_MASKED_EQ"}]},
				{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
			]
		},
		"rootfsPropagation": "slave",
		"maskedPaths": ["/proc/kcore", "/sys/firmware"],
		"readonlyPaths": ["/proc/sys"],
		"mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0",
		"personality": {"domain": "LINUX32", "flags": []}
	}
});
/* clang-format on */

static void check_full_process(const struct oci_process *p)
{
	ASSERT_TRUE(p->terminal);
	ASSERT_TRUE(p->has_console_size);
	ASSERT_EQ(p->console_height, 24);
	ASSERT_EQ(p->console_width, 80);
	ASSERT_EQ(p->user.uid, 1000);
	ASSERT_EQ(p->user.gid, 1001);
	ASSERT_TRUE(p->user.has_umask);
	ASSERT_EQ(p->user.umask, 18);
	ASSERT_EQ(p->user.n_additional_gids, 2);
	ASSERT_EQ(p->user.additional_gids[1], 4294967295u);
	ASSERT_STREQ(p->user.username, "u");
	ASSERT_EQ(base_strv_len(p->args), 3);
	ASSERT_STREQ(p->args[2], "echo hi");
	ASSERT_STREQ(p->env[1], "TERM=xterm");
	ASSERT_STREQ(p->cwd, "/home");
	ASSERT_TRUE(p->has_capabilities);
	ASSERT_EQ(p->capabilities.bounding.n, 2);
	ASSERT_EQ(p->capabilities.bounding.caps[1], 40);
	ASSERT_TRUE(p->capabilities.inheritable.present);
	ASSERT_EQ(p->capabilities.inheritable.n, 0);
	ASSERT_TRUE(!p->capabilities.ambient.present);
	ASSERT_EQ(p->capabilities.permitted.caps[1], 21);
	ASSERT_EQ(p->n_rlimits, 2);
	ASSERT_EQ(p->rlimits[0].resource, RLIMIT_NOFILE);
	ASSERT_EQ(p->rlimits[0].soft, 512);
	ASSERT_EQ(p->rlimits[0].hard, 1024);
	ASSERT_TRUE(p->rlimits[1].hard == UINT64_MAX);
	ASSERT_TRUE(p->rlimits[1].soft == UINT64_MAX - 1);
	ASSERT_TRUE(p->no_new_privileges);
	ASSERT_STREQ(p->apparmor_profile, "aa");
	ASSERT_TRUE(p->has_oom_score_adj);
	ASSERT_EQ(p->oom_score_adj, -500);
	ASSERT_TRUE(p->scheduler.present);
	ASSERT_EQ(p->scheduler.policy, 6);
	ASSERT_EQ(p->scheduler.nice, -5);
	ASSERT_EQ(p->scheduler.priority, 3);
	ASSERT_EQ(p->scheduler.flags, 0x05);
	ASSERT_EQ(p->scheduler.period, 300);
	ASSERT_STREQ(p->selinux_label, "system_u:system_r:svirt_lxc_net_t:s0");
	ASSERT_TRUE(p->io_priority.present);
	ASSERT_EQ(p->io_priority.klass, 3);
	ASSERT_EQ(p->io_priority.priority, 4);
	ASSERT_STREQ(p->exec_cpu_affinity.initial, "0");
	ASSERT_STREQ(p->exec_cpu_affinity.final, "0-1");
}

static void check_full_top(const struct oci_config *c)
{
	ASSERT_STREQ(c->oci_version, "1.2.0");
	ASSERT_STREQ(c->root.path, "rootfs");
	ASSERT_TRUE(c->root.readonly);
	ASSERT_EQ(c->n_mounts, 2);
	ASSERT_STREQ(c->mounts[0].type, "proc");
	ASSERT_TRUE(c->mounts[1].type == NULL);
	ASSERT_STREQ(c->mounts[1].options[1], "ro");
	ASSERT_EQ(c->mounts[1].n_uid_mappings, 1);
	ASSERT_EQ(c->mounts[1].uid_mappings[0].host_id, 100000);
	ASSERT_EQ(c->mounts[1].gid_mappings[0].size, 1000);
	ASSERT_STREQ(c->hostname, "box");
	ASSERT_STREQ(c->domainname, "example.org");
	ASSERT_EQ(c->hooks.prestart.n, 1);
	ASSERT_STREQ(c->hooks.prestart.v[0].args[1], "x");
	ASSERT_STREQ(c->hooks.prestart.v[0].env[0], "A=1");
	ASSERT_TRUE(c->hooks.prestart.v[0].has_timeout);
	ASSERT_EQ(c->hooks.prestart.v[0].timeout, 5);
	ASSERT_EQ(c->hooks.create_runtime.n, 2);
	ASSERT_STREQ(c->hooks.create_runtime.v[1].path, "/bin/cr2");
	ASSERT_STREQ(c->hooks.create_container.v[0].path, "/bin/cc");
	ASSERT_STREQ(c->hooks.start_container.v[0].path, "/bin/sc");
	ASSERT_STREQ(c->hooks.poststart.v[0].path, "/bin/ps");
	ASSERT_EQ(c->hooks.poststop.v[0].timeout, 1);
	ASSERT_EQ(c->n_annotations, 2);
	ASSERT_STREQ(c->annotations[0].key, "org.example.key");
	ASSERT_STREQ(c->annotations[0].value, "value");
}

static void check_full_linux(const struct oci_linux *l)
{
	ASSERT_EQ(l->n_namespaces, 8);
	ASSERT_EQ(l->namespaces[1].type, OCI_NS_NETWORK);
	ASSERT_STREQ(l->namespaces[1].path, "/run/netns/x");
	ASSERT_EQ(l->namespaces[7].type, OCI_NS_TIME);
	ASSERT_EQ(l->uid_mappings[0].host_id, 1000);
	ASSERT_EQ(l->gid_mappings[0].size, 2);
	ASSERT_TRUE(l->time_monotonic.present);
	ASSERT_EQ(l->time_monotonic.secs, -86400);
	ASSERT_EQ(l->time_monotonic.nanosecs, 7);
	ASSERT_EQ(l->time_boottime.secs, 3600);
	ASSERT_EQ(l->n_devices, 2);
	ASSERT_EQ(l->devices[0].type, 'c');
	ASSERT_EQ(l->devices[0].minor, 229);
	ASSERT_TRUE(l->devices[0].has_file_mode);
	ASSERT_EQ(l->devices[0].file_mode, 0666);
	ASSERT_TRUE(l->devices[0].has_uid && l->devices[0].has_gid);
	ASSERT_EQ(l->devices[1].type, 'p');
	ASSERT_STREQ(l->cgroups_path, "/berth/test");
	ASSERT_TRUE(l->has_intel_rdt);
	ASSERT_EQ(l->n_sysctl, 2);
	ASSERT_STREQ(l->sysctl[1].key, "kernel.msgmax");
	ASSERT_EQ(l->rootfs_propagation, OCI_PROPAGATION_SLAVE);
	ASSERT_STREQ(l->masked_paths[1], "/sys/firmware");
	ASSERT_STREQ(l->readonly_paths[0], "/proc/sys");
	ASSERT_STREQ(l->mount_label,
		     "system_u:object_r:svirt_sandbox_file_t:s0");
	ASSERT_TRUE(l->personality.present);
	ASSERT_STREQ(l->personality.domain, "LINUX32");
}

static void check_full_resources(const struct oci_resources *r)
{
	ASSERT_EQ(r->n_devices, 2);
	ASSERT_TRUE(!r->devices[0].allow);
	ASSERT_EQ(r->devices[0].type, 0);
	ASSERT_STREQ(r->devices[0].access, "rwm");
	ASSERT_EQ(r->devices[1].type, 'c');
	ASSERT_TRUE(r->devices[1].has_major && !r->devices[1].has_minor);
	ASSERT_TRUE(r->has_memory);
	ASSERT_EQ(r->memory.limit, 536870912);
	ASSERT_EQ(r->memory.swap, -1);
	ASSERT_TRUE(r->memory.has_kernel && r->memory.kernel == 0);
	ASSERT_EQ(r->memory.swappiness, 60);
	ASSERT_TRUE(r->memory.has_use_hierarchy && !r->memory.use_hierarchy);
	ASSERT_TRUE(r->memory.check_before_update);
	ASSERT_TRUE(r->has_cpu);
	ASSERT_EQ(r->cpu.quota, 50000);
	ASSERT_EQ(r->cpu.burst, 1000);
	ASSERT_EQ(r->cpu.realtime_period, 1000000);
	ASSERT_STREQ(r->cpu.cpus, "0-1");
	ASSERT_TRUE(r->cpu.has_idle && r->cpu.idle == 1);
	ASSERT_TRUE(r->has_pids);
	ASSERT_EQ(r->pids_limit, 32);
	ASSERT_TRUE(r->has_blkio);
	ASSERT_EQ(r->blkio.leaf_weight, 300);
	ASSERT_EQ(r->blkio.n_weight_devices, 2);
	ASSERT_TRUE(r->blkio.weight_devices[1].has_leaf_weight);
	ASSERT_TRUE(!r->blkio.weight_devices[1].has_weight);
	ASSERT_EQ(r->blkio.read_bps.v[0].rate, 1048576);
	ASSERT_EQ(r->blkio.write_iops.v[0].minor, 3);
	ASSERT_STREQ(r->hugepage_limits[0].page_size, "2MB");
	ASSERT_TRUE(r->has_network && r->has_class_id);
	ASSERT_EQ(r->class_id, 1048577);
	ASSERT_STREQ(r->net_priorities[0].name, "eth0");
	ASSERT_EQ(r->n_rdma, 2);
	ASSERT_STREQ(r->rdma[1].device, "mlx4_0");
	ASSERT_TRUE(!r->rdma[1].has_hca_handles);
	ASSERT_EQ(r->rdma[0].hca_objects, 10000);
	ASSERT_STREQ(r->unified[0].value, "1073741824");
}

static void check_full_seccomp(const struct oci_seccomp *s)
{
	ASSERT_EQ(s->default_action, OCI_SCMP_ACT_ERRNO);
	ASSERT_TRUE(s->has_default_errno_ret && s->default_errno_ret == 1);
	ASSERT_STREQ(s->architectures[1], "SCMP_ARCH_X86");
	ASSERT_STREQ(s->flags[0], "SECCOMP_FILTER_FLAG_LOG");
	ASSERT_STREQ(s->listener_path, "/run/listener.sock");
	ASSERT_STREQ(s->listener_metadata, "meta");
	ASSERT_EQ(s->n_syscalls, 3);
	ASSERT_STREQ(s->syscalls[0].names[1], "write");
	ASSERT_EQ(s->syscalls[1].action, OCI_SCMP_ACT_ERRNO);
	ASSERT_EQ(s->syscalls[1].errno_ret, 38);
	ASSERT_EQ(s->syscalls[1].n_args, 1);
	ASSERT_EQ(s->syscalls[1].args[0].value, 255);
	ASSERT_TRUE(s->syscalls[1].args[0].value_two == UINT64_MAX);
	ASSERT_EQ(s->syscalls[1].args[0].op, OCI_SCMP_CMP_MASKED_EQ);
	ASSERT_EQ(s->syscalls[2].action, OCI_SCMP_ACT_NOTIFY);
}

TEST(full_config_parses_every_field)
{
	struct oci_config *c = parse_ok(full_config);
	check_full_top(c);
	ASSERT_TRUE(c->has_process);
	check_full_process(&c->process);
	ASSERT_TRUE(c->has_linux);
	check_full_linux(&c->linux_);
	ASSERT_TRUE(c->linux_.has_resources);
	check_full_resources(&c->linux_.resources);
	ASSERT_TRUE(c->linux_.has_seccomp);
	check_full_seccomp(&c->linux_.seccomp);
	oci_config_free(c);
	no_leaks();
}

TEST(minimal_config_leaves_sections_absent)
{
	struct oci_config *c = parse_ok(J({"ociVersion" : "1.0.0"}));
	ASSERT_TRUE(!c->has_process && !c->has_linux);
	ASSERT_TRUE(c->root.path == NULL);
	ASSERT_EQ(c->n_mounts, 0);
	oci_config_free(c);
	no_leaks();
}

TEST(older_and_suffixed_versions_are_accepted)
{
	const char *ok[] = {
		J({"ociVersion" : "1.0.0"}),
		J({"ociVersion" : "1.1.0"}),
		J({"ociVersion" : "1.0.2-dev"}),
		J({"ociVersion" : "1.3.12+x"}),
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		oci_config_free(parse_ok(ok[i]));
	no_leaks();
}

TEST(other_versions_are_refused)
{
	expect_error(J({"ociVersion" : "2.0.0"}),
		     "ociVersion: 2.0.0 is not a supported version");
	expect_error(J({"ociVersion" : "1.0"}),
		     "ociVersion: 1.0 is not a supported version");
	expect_error(J({"ociVersion" : "0.6.0"}),
		     "ociVersion: 0.6.0 is not a supported version");
	expect_error(J({"hostname" : "x"}), "ociVersion: required");
	expect_error(J({"ociVersion" : 1}), "ociVersion: expected a string");
}

TEST(unknown_fields_are_ignored)
{
	struct oci_config *c = parse_ok(J({
		"ociVersion" : "1.2.0",
		"future" : {"x" : [ 1, 2 ]},
		"process" : {"args" : ["a"], "cwd" : "/", "newThing" : true},
		"linux" : {"resources" : {"misc" : 1}, "netDevices" : {}},
		"windows" : {"layerFolders" : []}
	}));
	ASSERT_STREQ(c->process.args[0], "a");
	ASSERT_TRUE(c->linux_.has_resources);
	oci_config_free(c);
	no_leaks();
}

TEST(null_means_absent)
{
	struct oci_config *c = parse_ok(J({
		"ociVersion" : "1.2.0",
		"hostname" : null,
		"mounts" : null,
		"linux" : {"seccomp" : null, "resources" : {"memory" : null}}
	}));
	ASSERT_TRUE(c->hostname == NULL);
	ASSERT_TRUE(!c->linux_.has_seccomp);
	ASSERT_TRUE(c->linux_.has_resources && !c->linux_.resources.has_memory);
	oci_config_free(c);
	no_leaks();
}

TEST(repeated_keys_keep_the_last_value)
{
	struct oci_config *c = parse_ok(J({
		"ociVersion" : "1.2.0",
		"hostname" : "x",
		"hostname" : "y",
		"annotations" :
			{"a" : "1", "b" : "2", "a" : "3", "c" : "4", "a" : "5"}
	}));
	ASSERT_STREQ(c->hostname, "y");
	ASSERT_EQ(c->n_annotations, 3);
	ASSERT_STREQ(c->annotations[0].key, "b");
	ASSERT_STREQ(c->annotations[1].key, "c");
	ASSERT_STREQ(c->annotations[2].key, "a");
	ASSERT_STREQ(c->annotations[2].value, "5");
	oci_config_free(c);
	no_leaks();
}

TEST(wrong_types_name_their_path)
{
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {"args" : [ "a", "b", 3 ], "cwd" : "/"}
		     }),
		     "process.args[2]: expected a string");
	expect_error(J({"ociVersion" : "1.2.0", "process" : []}),
		     "process: expected an object");
	expect_error(J({"ociVersion" : "1.2.0", "mounts" : {}}),
		     "mounts: expected an array");
	expect_error(J({"ociVersion" : "1.2.0", "root" : {"readonly" : "yes"}}),
		     "root.readonly: expected a boolean");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" :
				{"resources" : {"memory" : {"limit" : "1G"}}}
		}),
		"linux.resources.memory.limit: expected an integer");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {"sysctl" : {"net.core.somaxconn" : 1024}}
		}),
		"linux.sysctl[\"net.core.somaxconn\"]: expected a string");
	expect_error(J({"ociVersion" : "1.2.0", "mounts" : [ {}, 1 ]}),
		     "mounts[0].destination: required");
}

TEST(unknown_names_are_refused)
{
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {"namespaces" : [ {"type" : "foo"} ]}
		}),
		"linux.namespaces[0].type: unknown namespace type \"foo\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"process" : {
				"args" : ["a"],
				"cwd" : "/",
				"capabilities" :
					{"bounding" :
						 [ "CAP_KILL", "CAP_FOO" ]}
			}
		}),
		"process.capabilities.bounding[1]: unknown capability "
		"\"CAP_FOO\"");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "rlimits" : [ {"type" : "RLIMIT_FOO"} ]
			     }
		     }),
		     "process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\"");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "seccomp" : {
					     "defaultAction" : "SCMP_ACT_ALLOW",
					     "syscalls" : [ {
						     "names" : ["read"],
						     "action" : "SCMP_ACT_FOO"
					     } ]
				     }
			     }
		     }),
		     "linux.seccomp.syscalls[0].action: unknown action "
		     "\"SCMP_ACT_FOO\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"seccomp" : {
					"defaultAction" : "SCMP_ACT_ALLOW",
					"architectures" : ["SCMP_ARCH_VAX"]
				}
			}
		}),
		"linux.seccomp.architectures[0]: unknown architecture "
		"\"SCMP_ARCH_VAX\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"seccomp" : {
					"defaultAction" : "SCMP_ACT_ALLOW",
					"syscalls" : [ {
						"names" : ["read"],
						"action" : "SCMP_ACT_ALLOW",
						"args" : [ {
							"index" : 0,
							"value" : 1,
							"op" : "SCMP_CMP_XX"
						} ]
					} ]
				}
			}
		}),
		"linux.seccomp.syscalls[0].args[0].op: unknown operator "
		"\"SCMP_CMP_XX\"");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {"rootfsPropagation" : "sideways"}
		     }),
		     "linux.rootfsPropagation: unknown propagation "
		     "\"sideways\"");
}

TEST(seccomp_rules_are_checked)
{
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "seccomp" : {
					     "defaultAction" : "SCMP_ACT_ALLOW",
					     "syscalls" : [ {
						     "names" : ["read"],
						     "action" : "SCMP_ACT_KILL",
						     "errnoRet" : 1
					     } ]
				     }
			     }
		     }),
		     "linux.seccomp.syscalls[0].errnoRet: only valid with "
		     "SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "seccomp" : {
					     "defaultAction" : "SCMP_ACT_ALLOW",
					     "defaultErrnoRet" : 1
				     }
			     }
		     }),
		     "linux.seccomp.defaultErrnoRet: only valid with "
		     "SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	expect_error(J({"ociVersion" : "1.2.0", "linux" : {"seccomp" : {}}}),
		     "linux.seccomp.defaultAction: required");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "seccomp" : {
					     "defaultAction" : "SCMP_ACT_ALLOW",
					     "syscalls" : [ {
						     "names" : [],
						     "action" : "SCMP_ACT_LOG"
					     } ]
				     }
			     }
		     }),
		     "linux.seccomp.syscalls[0].names: must not be empty");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"seccomp" : {
					"defaultAction" : "SCMP_ACT_ALLOW",
					"syscalls" : [ {
						"names" : ["read"],
						"action" : "SCMP_ACT_ALLOW",
						"args" : [ {
							"index" : 6,
							"op" : "SCMP_CMP_EQ"
						} ]
					} ]
				}
			}
		}),
		"linux.seccomp.syscalls[0].args[0].index: 6 is out of "
		"range (at most 5)");
}

TEST(numbers_are_checked_for_sign_range_and_integerness)
{
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "uidMappings" : [ {
					     "containerID" : 0,
					     "hostID" : 1,
					     "size" : -1
				     } ]
			     }
		     }),
		     "linux.uidMappings[0].size: expected an unsigned integer");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "user" : {"uid" : 4294967296}
			     }
		     }),
		     "process.user.uid: 4294967296 is out of range (at most "
		     "4294967295)");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "user" : {"gid" : 1.5}
			     }
		     }),
		     "process.user.gid: expected an unsigned integer");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "rlimits" : [ {
					     "type" : "RLIMIT_CPU",
					     "hard" : 18446744073709551616
				     } ]
			     }
		     }),
		     "process.rlimits[0].hard: 18446744073709551616 is out of "
		     "range (at most 18446744073709551615)");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {"resources" : {"pids" : {"limit" : 1e3}}}
		}),
		"linux.resources.pids.limit: expected an integer");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "oomScoreAdj" : 2147483648
			     }
		     }),
		     "process.oomScoreAdj: 2147483648 is out of range "
		     "(-2147483648 to 2147483647)");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" :
				{"resources" : {"blockIO" : {"weight" : 65536}}}
		}),
		"linux.resources.blockIO.weight: 65536 is out of range (at "
		"most 65535)");
}

TEST(process_args_and_cwd_are_required)
{
	expect_error(J({"ociVersion" : "1.2.0", "process" : {"cwd" : "/"}}),
		     "process.args: must not be empty");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {"args" : [], "cwd" : "/"}
		     }),
		     "process.args: must not be empty");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {"args" : ["sh"], "cwd" : "home"}
		     }),
		     "process.cwd: must be an absolute path");
	expect_error(J({"ociVersion" : "1.2.0", "process" : {"args" : ["sh"]}}),
		     "process.cwd: required");
}

TEST(duplicates_are_refused)
{
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"namespaces" : [
					{"type" : "pid"}, {"type" : "ipc"},
					{"type" : "pid"}
				]
			}
		}),
		"linux.namespaces[2].type: duplicate namespace type \"pid\"");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "process" : {
				     "args" : ["a"],
				     "cwd" : "/",
				     "rlimits" : [
					     {"type" : "RLIMIT_NOFILE"},
					     {"type" : "RLIMIT_NOFILE"}
				     ]
			     }
		     }),
		     "process.rlimits[1].type: duplicate rlimit "
		     "\"RLIMIT_NOFILE\"");
}

TEST(hooks_and_devices_are_checked)
{
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"hooks" : {
				"poststop" : [ {"path" : "/x", "timeout" : 0} ]
			}
		}),
		"hooks.poststop[0].timeout: must be greater than zero");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "hooks" : {"prestart" : [ {"args" : ["x"]} ]}
		     }),
		     "hooks.prestart[0].path: required");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"devices" :
					[ {"path" : "/dev/x", "type" : "q"} ]
			}
		}),
		"linux.devices[0].type: unknown device type \"q\"");
	expect_error(J({
			     "ociVersion" : "1.2.0",
			     "linux" : {
				     "devices" : [ {
					     "path" : "/dev/x",
					     "type" : "c",
					     "major" : 1
				     } ]
			     }
		     }),
		     "linux.devices[0].minor: required for type \"c\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {
				"resources" : {
					"devices" : [ {
						"allow" : true,
						"access" : "rwx"
					} ]
				}
			}
		}),
		"linux.resources.devices[0].access: invalid access \"rwx\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {"timeOffsets" : {"realtime" : {"secs" : 1}}}
		}),
		"linux.timeOffsets: unknown clock \"realtime\"");
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"linux" : {"personality" : {"domain" : "LINUX64"}}
		}),
		"linux.personality.domain: unknown domain \"LINUX64\"");
}

TEST(invalid_json_names_the_byte)
{
	expect_error("{\"ociVersion\": \"1.2.0\" \"x\"}",
		     "config.json: invalid JSON near byte 23");
	expect_error("", "config.json: invalid JSON near byte 0");
	expect_error("{} x", "config.json: invalid JSON near byte 3");
	expect_error("[1]", "config.json: expected a JSON object");
	struct oci_config *c = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_config_parse("{}\0{}", 5, &c, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "config.json: invalid JSON near byte 2");
	no_leaks();
}

/* "{"a":" and then n brackets of kind open; closed again when close. */
static char *nested(size_t n, char open, bool close)
{
	char *s = base_calloc(2 * n + 8, 1);
	size_t o = (size_t)sprintf(s, "{\"a\":");
	memset(s + o, open, n);
	o += n;
	for (size_t i = 0; close && i < n; i++)
		s[o++] = open == '[' ? ']' : '}';
	if (close)
		s[o++] = '}';
	return s;
}

/* cJSON stops at 1000 levels: the message says so, where it happens. */
TEST(deep_nesting_is_named)
{
	_cleanup_free_ char *deep = nested(100000, '[', false);
	/* '{' is level 1, the '[' at byte 5 level 2: level 1001 at 1004 */
	expect_error(deep, "config.json: JSON nesting deeper than 1000 levels "
			   "near byte 1004");
	/* 1000 levels parse: what fails is the config, not the JSON */
	_cleanup_free_ char *fits = nested(999, '[', true);
	expect_error(fits, "ociVersion: required");
	_cleanup_free_ char *over = nested(1000, '[', true);
	expect_error(over, "config.json: JSON nesting deeper than 1000 levels "
			   "near byte 1004");
	/* brackets in a string are text; another error is reported as is */
	_cleanup_free_ char *str = base_sprintf("{\"a\": \"%s\" x}", deep + 5);
	_cleanup_free_ char *want = base_sprintf(
		"config.json: invalid JSON near byte %zu", strlen(str) - 2);
	expect_error(str, want);
	no_leaks();
}

TEST(a_bare_buffer_is_not_read_past_its_length)
{
	const char doc[] = "{\"ociVersion\": \"1.2.0\"}garbage";
	struct oci_config *c = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_config_parse(doc, 23, &c, &e), 0);
	ASSERT_STREQ(c->oci_version, "1.2.0");
	oci_config_free(c);
	no_leaks();
}

static char *make_bundle(const char *json)
{
	char tmpl[] = "/tmp/berth-oci-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl) != NULL);
	if (json) {
		char *p = base_sprintf("%s/config.json", tmpl);
		ASSERT_EQ(base_write_file_at(AT_FDCWD, p, json, strlen(json),
					     O_CREAT),
			  0);
		free(p);
	}
	return base_strdup(tmpl);
}

static void remove_bundle(char *dir)
{
	ASSERT_EQ(base_rm_rf_at(AT_FDCWD, dir), 0);
	free(dir);
}

TEST(load_reads_the_bundle_and_names_the_file)
{
	char *dir = make_bundle(full_config);
	struct oci_config *c = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_config_load(dir, &c, &e), 0);
	ASSERT_STREQ(c->hostname, "box");
	oci_config_free(c);
	/* the raw form hands back the very bytes it parsed */
	char *raw = NULL;
	size_t len = 0;
	ASSERT_EQ(oci_config_load_raw(dir, &c, &raw, &len, &e), 0);
	ASSERT_EQ(len, strlen(full_config));
	ASSERT_TRUE(memcmp(raw, full_config, len) == 0);
	free(raw);
	oci_config_free(c);
	remove_bundle(dir);

	dir = make_bundle(J({
		"ociVersion" : "1.2.0",
		"process" : {"args" : [ "a", "b", 3 ], "cwd" : "/"}
	}));
	char *want = base_sprintf("%s/config.json: process.args[2]: expected "
				  "a string",
				  dir);
	ASSERT_EQ(oci_config_load(dir, &c, &e), -EINVAL);
	ASSERT_STREQ(e.msg, want);
	free(want);
	remove_bundle(dir);

	dir = make_bundle("{");
	want = base_sprintf("%s/config.json: invalid JSON near byte 1", dir);
	ASSERT_EQ(oci_config_load(dir, &c, &e), -EINVAL);
	ASSERT_STREQ(e.msg, want);
	free(want);
	remove_bundle(dir);
	no_leaks();
}

TEST(load_of_a_missing_file_says_open)
{
	struct oci_config *c = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_config_load("/nonexistent-berth", &c, &e), -ENOENT);
	ASSERT_STREQ(e.msg, "open /nonexistent-berth/config.json: No such "
			    "file or directory");
	no_leaks();
}

TEST(exec_process_parses_alone)
{
	const char *json = J({
		"args" : [ "ps", "aux" ],
		"env" : ["A=b"],
		"user" : {"uid" : 5},
		"terminal" : false
	});
	struct oci_process *p = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_process_parse(json, strlen(json), &p, &e), 0);
	ASSERT_STREQ(p->args[1], "aux");
	ASSERT_TRUE(p->cwd == NULL);
	ASSERT_EQ(p->user.uid, 5);
	oci_process_free(p);

	json = J({"args" : [ "a", 1 ]});
	ASSERT_EQ(oci_process_parse(json, strlen(json), &p, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "process.args[1]: expected a string");
	json = J({"cwd" : "/"});
	ASSERT_EQ(oci_process_parse(json, strlen(json), &p, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "process.args: must not be empty");
	ASSERT_EQ(oci_process_parse("[", 1, &p, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "process: invalid JSON near byte 1");
	no_leaks();
}

TEST(update_resources_parse_alone)
{
	const char *json = J({
		"memory" : {"limit" : 1048576, "swap" : 2097152},
		"cpu" : {"shares" : 512, "cpus" : "1"},
		"pids" : {"limit" : -1},
		"unified" : {"pids.max" : "max"}
	});
	struct oci_resources *r = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_resources_parse(json, strlen(json), &r, &e), 0);
	ASSERT_TRUE(r->has_memory && r->memory.has_swap);
	ASSERT_TRUE(!r->memory.has_reservation);
	ASSERT_EQ(r->memory.swap, 2097152);
	ASSERT_EQ(r->cpu.shares, 512);
	ASSERT_TRUE(!r->cpu.has_quota);
	ASSERT_TRUE(r->has_pids);
	ASSERT_EQ(r->pids_limit, -1);
	ASSERT_STREQ(r->unified[0].key, "pids.max");
	ASSERT_TRUE(!r->has_blkio);
	oci_resources_free(r);

	json = J({"cpu" : {"quota" : "max"}});
	ASSERT_EQ(oci_resources_parse(json, strlen(json), &r, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "resources.cpu.quota: expected an integer");
	no_leaks();
}

TEST(errors_deep_in_lists_free_what_was_parsed)
{
	/* the error comes last, after every other field was allocated */
	char *bad = base_strdup(full_config);
	memcpy(strstr(bad, "LINUX32"), "LINUX99", 7);
	expect_error(bad, "linux.personality.domain: unknown domain "
			  "\"LINUX99\"");
	free(bad);
	expect_error(
		J({
			"ociVersion" : "1.2.0",
			"hostname" : "h",
			"annotations" : {"a" : "b"},
			"mounts" :
				[ {"destination" : "/a", "options" : ["x"]} ],
			"process" : {
				"args" : ["a"],
				"cwd" : "/",
				"env" : ["A=1"],
				"capabilities" : {"bounding" : ["CAP_KILL"]}
			},
			"linux" : {
				"namespaces" :
					[ {"type" : "pid", "path" : "/p"} ],
				"seccomp" : {
					"defaultAction" : "SCMP_ACT_ALLOW",
					"architectures" : ["SCMP_ARCH_X86"],
					"syscalls" : [ {
						"names" : ["a"],
						"action" : "SCMP_ACT_LOG"
					} ]
				},
				"resources" : {
					"rdma" : {"m" : {"hcaHandles" : 1}},
					"unified" : {"a" : "b"},
					"hugepageLimits" : [ {"limit" : 1} ]
				}
			}
		}),
		"linux.resources.hugepageLimits[0].pageSize: required");
}

static struct oci_state *sample_state(void)
{
	struct oci_state *s = base_calloc(1, sizeof(*s));
	s->oci_version = base_strdup("1.2.0");
	s->id = base_strdup("c1");
	s->status = OCI_STATUS_RUNNING;
	s->pid = 4242;
	s->bundle = base_strdup("/b");
	s->n_annotations = 2;
	s->annotations = base_calloc(2, sizeof(struct oci_kv));
	s->annotations[0] =
		(struct oci_kv){base_strdup("z"), base_strdup("<1>")};
	s->annotations[1] =
		(struct oci_kv){base_strdup("a"), base_strdup("x\ny")};
	s->rootfs = base_strdup("/b/rootfs");
	s->created = base_strdup("2024-01-02T03:04:05.123456789Z");
	s->owner = base_strdup("");
	s->pid_start_time = 18446744073709551615ull;
	s->cgroup_path = base_strdup("/berth/c1");
	s->systemd_cgroup = true;
	s->config_path = base_strdup("/run/berth/c1/config.json");
	s->started = true;
	s->hooks_known = true;
	s->has_poststop = true;
	return s;
}

TEST(state_round_trips_every_field)
{
	struct oci_state *s = sample_state();
	char *json = oci_state_serialize(s);
	struct oci_state *t = NULL;
	struct berr e = {0};
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), 0);
	ASSERT_STREQ(t->oci_version, "1.2.0");
	ASSERT_STREQ(t->id, "c1");
	ASSERT_EQ(t->status, OCI_STATUS_RUNNING);
	ASSERT_EQ(t->pid, 4242);
	ASSERT_STREQ(t->bundle, "/b");
	ASSERT_EQ(t->n_annotations, 2);
	ASSERT_STREQ(t->annotations[0].key, "a");
	ASSERT_STREQ(t->annotations[0].value, "x\ny");
	ASSERT_STREQ(t->annotations[1].value, "<1>");
	ASSERT_STREQ(t->rootfs, "/b/rootfs");
	ASSERT_STREQ(t->created, "2024-01-02T03:04:05.123456789Z");
	ASSERT_STREQ(t->owner, "");
	ASSERT_TRUE(t->pid_start_time == UINT64_MAX);
	ASSERT_STREQ(t->cgroup_path, "/berth/c1");
	ASSERT_TRUE(t->systemd_cgroup && t->started);
	ASSERT_STREQ(t->config_path, "/run/berth/c1/config.json");
	ASSERT_TRUE(t->hooks_known && !t->has_poststart && t->has_poststop);
	char *again = oci_state_serialize(t);
	ASSERT_STREQ(again, json);
	free(again);
	free(json);
	oci_state_free(t);
	oci_state_free(s);
	no_leaks();
}

/* A state from before berth recorded the hooks, or with half the record,
 * says nothing about them: start and delete must read config.json. */
TEST(state_without_hook_record_is_unknown)
{
	struct oci_state *t = NULL;
	struct berr e = {0};
	const char *json = J({"id" : "x", "poststopHooks" : false});
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), 0);
	ASSERT_TRUE(!t->hooks_known);
	oci_state_free(t);
	json = J({"id" : "x", "poststartHooks" : 1, "poststopHooks" : false});
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "poststartHooks: expected a boolean");
	no_leaks();
}

TEST(state_parse_checks_fields)
{
	struct oci_state *t = NULL;
	struct berr e = {0};
	const char *json = J({"pid" : 1});
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "id: required");
	json = J({"id" : "x", "pid" : -3});
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "pid: -3 is out of range (0 to 2147483647)");
	json = J({"id" : "x", "status" : "zombie"});
	ASSERT_EQ(oci_state_parse(json, strlen(json), &t, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "status: unknown status \"zombie\"");
	ASSERT_EQ(oci_state_parse("{\"id\"", 5, &t, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "state.json: invalid JSON near byte 5");
	no_leaks();
}

TEST(state_json_matches_runc_shape)
{
	struct oci_state *s = sample_state();
	char *json = oci_state_to_json(s, OCI_STATUS_PAUSED);
	ASSERT_STREQ(json,
		     "{\n"
		     "  \"ociVersion\": \"1.2.0\",\n"
		     "  \"id\": \"c1\",\n"
		     "  \"pid\": 4242,\n"
		     "  \"status\": \"paused\",\n"
		     "  \"bundle\": \"/b\",\n"
		     "  \"rootfs\": \"/b/rootfs\",\n"
		     "  \"created\": \"2024-01-02T03:04:05.123456789Z\",\n"
		     "  \"annotations\": {\n"
		     "    \"a\": \"x\\ny\",\n"
		     "    \"z\": \"\\u003c1\\u003e\"\n"
		     "  },\n"
		     "  \"owner\": \"\"\n"
		     "}");
	free(json);
	oci_state_free(s);
	no_leaks();
}

TEST(state_json_of_a_stopped_container_has_no_pid_or_annotations)
{
	struct oci_state s = {.id = "c2", .pid = 77, .bundle = "/b"};
	char *json = oci_state_to_json(&s, OCI_STATUS_STOPPED);
	ASSERT_STREQ(json, "{\n"
			   "  \"ociVersion\": \"1.2.0\",\n"
			   "  \"id\": \"c2\",\n"
			   "  \"pid\": 0,\n"
			   "  \"status\": \"stopped\",\n"
			   "  \"bundle\": \"/b\",\n"
			   "  \"rootfs\": \"\",\n"
			   "  \"created\": \"\",\n"
			   "  \"owner\": \"\"\n"
			   "}");
	free(json);
	no_leaks();
}

TEST(hook_state_is_the_compact_spec_state)
{
	struct oci_state *s = sample_state();
	char *json = oci_state_hook_json(s, OCI_STATUS_CREATED);
	ASSERT_STREQ(json, "{\"ociVersion\":\"1.2.0\",\"id\":\"c1\","
			   "\"status\":\"created\",\"pid\":4242,"
			   "\"bundle\":\"/b\",\"annotations\":"
			   "{\"a\":\"x\\ny\",\"z\":\"\\u003c1\\u003e\"}}");
	free(json);
	struct oci_state bare = {.id = "c3", .bundle = "/b"};
	json = oci_state_hook_json(&bare, OCI_STATUS_CREATING);
	ASSERT_STREQ(json, "{\"ociVersion\":\"1.2.0\",\"id\":\"c3\","
			   "\"status\":\"creating\",\"bundle\":\"/b\"}");
	free(json);
	oci_state_free(s);
	no_leaks();
}

TEST(printed_strings_are_escaped_as_go_does)
{
	struct oci_kv kv = {"k", "\x01\t\"\\&\xe2\x80\xa8\xff\xc3\xa9"};
	struct oci_state s = {
		.id = "q", .annotations = &kv, .n_annotations = 1};
	char *json = oci_state_hook_json(&s, OCI_STATUS_RUNNING);
	ASSERT_CONTAINS(json, "\"k\":\"\\u0001\\t\\\"\\\\\\u0026\\u2028"
			      "\\ufffd\xc3\xa9\"");
	free(json);
	no_leaks();
}

TEST(default_spec_parses_back)
{
	char *json = oci_spec_default(false, 0, 0);
	ASSERT_TRUE(base_str_has_prefix(json,
					"{\n\t\"ociVersion\": \"1.2.0\",\n"
					"\t\"process\": {\n"
					"\t\t\"terminal\": true,\n"));
	struct oci_config *c = parse_ok(json);
	ASSERT_STREQ(c->process.args[0], "sh");
	ASSERT_STREQ(c->process.env[1], "TERM=xterm");
	ASSERT_STREQ(c->process.cwd, "/");
	ASSERT_EQ(c->process.capabilities.bounding.n, 3);
	ASSERT_EQ(c->process.capabilities.effective.n, 3);
	ASSERT_EQ(c->process.capabilities.permitted.n, 3);
	ASSERT_EQ(c->process.capabilities.ambient.n, 3);
	ASSERT_TRUE(!c->process.capabilities.inheritable.present);
	ASSERT_EQ(c->process.rlimits[0].resource, RLIMIT_NOFILE);
	ASSERT_EQ(c->process.rlimits[0].hard, 1024);
	ASSERT_TRUE(c->process.no_new_privileges);
	ASSERT_STREQ(c->root.path, "rootfs");
	ASSERT_TRUE(c->root.readonly);
	ASSERT_STREQ(c->hostname, "berth");
	ASSERT_EQ(c->n_mounts, 7);
	ASSERT_STREQ(c->mounts[2].options[5], "gid=5");
	ASSERT_STREQ(c->mounts[5].type, "sysfs");
	/* runc's five: no cgroup namespace */
	ASSERT_EQ(c->linux_.n_namespaces, 5);
	for (size_t i = 0; i < c->linux_.n_namespaces; i++)
		ASSERT_TRUE(c->linux_.namespaces[i].type != OCI_NS_CGROUP);
	ASSERT_EQ(c->linux_.resources.n_devices, 1);
	ASSERT_STREQ(c->linux_.resources.devices[0].access, "rwm");
	ASSERT_EQ(base_strv_len(c->linux_.masked_paths), 10);
	ASSERT_EQ(base_strv_len(c->linux_.readonly_paths), 5);
	oci_config_free(c);
	free(json);
	no_leaks();
}

TEST(rootless_spec_maps_the_caller)
{
	char *json = oci_spec_default(true, 1000, 1001);
	struct oci_config *c = parse_ok(json);
	const struct oci_linux *l = &c->linux_;
	ASSERT_EQ(l->n_namespaces, 5);
	for (size_t i = 0; i < l->n_namespaces; i++)
		ASSERT_TRUE(l->namespaces[i].type != OCI_NS_NETWORK &&
			    l->namespaces[i].type != OCI_NS_CGROUP);
	ASSERT_EQ(l->namespaces[4].type, OCI_NS_USER);
	ASSERT_EQ(l->n_uid_mappings, 1);
	ASSERT_EQ(l->uid_mappings[0].container_id, 0);
	ASSERT_EQ(l->uid_mappings[0].host_id, 1000);
	ASSERT_EQ(l->uid_mappings[0].size, 1);
	ASSERT_EQ(l->gid_mappings[0].host_id, 1001);
	ASSERT_TRUE(!l->has_resources);
	ASSERT_EQ(base_strv_len(c->mounts[2].options), 5);
	ASSERT_STREQ(c->mounts[5].type, "none");
	ASSERT_STREQ(c->mounts[5].source, "/sys");
	ASSERT_STREQ(c->mounts[5].options[0], "rbind");
	oci_config_free(c);
	free(json);
	no_leaks();
}

TEST(name_tables)
{
	ASSERT_STREQ(oci_ns_type_name(OCI_NS_NETWORK), "network");
	ASSERT_STREQ(oci_ns_type_name(OCI_NS_TIME), "time");
	ASSERT_TRUE(oci_ns_type_name(OCI_NS__COUNT) == NULL);
	ASSERT_EQ(oci_cap_from_name("CAP_CHOWN"), 0);
	ASSERT_EQ(oci_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
	ASSERT_EQ(oci_cap_from_name("CAP_FOO"), -1);
	ASSERT_EQ(oci_cap_from_name("chown"), -1);
	for (int i = 0; i <= 40; i++)
		ASSERT_EQ(oci_cap_from_name(oci_cap_name(i)), i);
	ASSERT_TRUE(oci_cap_name(41) == NULL);
	ASSERT_TRUE(oci_cap_name(-1) == NULL);
	ASSERT_EQ(oci_rlimit_from_name("RLIMIT_AS"), RLIMIT_AS);
	ASSERT_EQ(oci_rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
	ASSERT_EQ(oci_rlimit_from_name("RLIMIT_FOO"), -1);
	ASSERT_STREQ(oci_status_name(OCI_STATUS_CREATING), "creating");
	ASSERT_STREQ(oci_status_name(OCI_STATUS_STOPPED), "stopped");
}
