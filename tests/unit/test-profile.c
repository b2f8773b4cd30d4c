/* The process-security pieces of the runtime: the default profile of
 * containers made from images (runtime/runtime-profile.c), the LSM checks
 * and the procfs-checked opens their labels are written through
 * (runtime/runtime-lsm.c), and linux.personality
 * (runtime/runtime-personality.c).
 *
 * The default seccomp profile is loaded in each test's own forked process,
 * which then makes the system calls it must deny or allow. Mounts are made
 * in a private mount namespace of the test process and end with it. */
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "runtime/runtime-internal.h"
#include "tests/unit/test.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static struct oci_config *parse(const char *json)
{
	struct oci_config *c = NULL;
	struct berr err = {0};
	if (oci_config_parse(json, strlen(json), &c, &err) < 0)
		test_fail(__FILE__, __LINE__, "parse: %s", err.msg);
	return c;
}

static struct oci_config *default_profile(void)
{
	struct oci_config *c = parse("{\"ociVersion\": \"1.2.0\"}");
	rt_profile_default(c);
	return c;
}

static bool capset_has(const struct oci_capset *s, int cap)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->caps[i] == cap)
			return true;
	return false;
}

static size_t strv_count(char *const *v, const char *s)
{
	size_t n = 0;
	for (; v && *v; v++)
		n += !strcmp(*v, s);
	return n;
}

/* The allow-list: the rule of the profile with the most names. */
static const struct oci_seccomp_syscall *allow_list(const struct oci_seccomp *s)
{
	const struct oci_seccomp_syscall *best = NULL;
	for (size_t i = 0; i < s->n_syscalls; i++)
		if (!best || base_strv_len(s->syscalls[i].names) >
				     base_strv_len(best->names))
			best = &s->syscalls[i];
	ASSERT_TRUE(best != NULL);
	return best;
}

/* ---- the default profile ---------------------------------------------- */

TEST(default_capabilities_are_dockers_14)
{
	_cleanup_(oci_config_freep) struct oci_config *c = default_profile();
	const struct oci_capabilities *caps = &c->process.capabilities;
	ASSERT_TRUE(c->process.has_capabilities);
	ASSERT_EQ(caps->bounding.n, 14);
	ASSERT_EQ(caps->effective.n, 14);
	ASSERT_EQ(caps->permitted.n, 14);
	ASSERT_TRUE(caps->inheritable.present);
	ASSERT_EQ(caps->inheritable.n, 0);
	ASSERT_TRUE(caps->ambient.present);
	ASSERT_EQ(caps->ambient.n, 0);
	static const char *const names[] = {
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		ASSERT_TRUE(capset_has(&caps->bounding,
				       oci_cap_from_name(names[i])));
	ASSERT_TRUE(!capset_has(&caps->bounding, CAP_SYS_ADMIN));
	const int *v;
	ASSERT_EQ(rt_profile_default_caps(&v), 14);
	ASSERT_EQ(v[0], CAP_CHOWN);
}

TEST(default_nnp_and_paths)
{
	_cleanup_(oci_config_freep) struct oci_config *c = default_profile();
	ASSERT_TRUE(c->process.no_new_privileges);
	ASSERT_TRUE(c->has_linux);
	ASSERT_EQ(base_strv_len(c->linux_.masked_paths), 11);
	ASSERT_EQ(strv_count(c->linux_.masked_paths, "/proc/kcore"), 1);
	ASSERT_EQ(strv_count(c->linux_.masked_paths,
			     "/sys/devices/virtual/powercap"),
		  1);
	ASSERT_EQ(base_strv_len(c->linux_.readonly_paths), 5);
	ASSERT_EQ(strv_count(c->linux_.readonly_paths, "/proc/sysrq-trigger"),
		  1);
}

/* Capabilities and seccomp are replaced; paths already masked stay and
 * none is added twice. */
TEST(default_replaces_caps_and_seccomp_and_merges_paths)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(
		"{\"ociVersion\": \"1.2.0\", \"process\": {\"cwd\": \"/\","
		" \"args\": [\"sh\"], \"capabilities\": {\"bounding\":"
		" [\"CAP_SYS_ADMIN\"], \"ambient\": [\"CAP_SYS_ADMIN\"]}},"
		" \"linux\": {\"maskedPaths\": [\"/custom\", \"/proc/kcore\"],"
		" \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		" \"listenerPath\": \"/run/x.sock\"}}}");
	rt_profile_default(c);
	rt_profile_default(c);
	ASSERT_EQ(c->process.capabilities.bounding.n, 14);
	ASSERT_EQ(c->process.capabilities.ambient.n, 0);
	ASSERT_EQ(strv_count(c->linux_.masked_paths, "/custom"), 1);
	ASSERT_EQ(strv_count(c->linux_.masked_paths, "/proc/kcore"), 1);
	ASSERT_EQ(base_strv_len(c->linux_.masked_paths), 12);
	ASSERT_EQ(c->linux_.seccomp.default_action, OCI_SCMP_ACT_ERRNO);
	ASSERT_TRUE(c->linux_.seccomp.listener_path == NULL);
	ASSERT_STREQ(c->process.args[0], "sh");
}

TEST(default_seccomp_validates)
{
	_cleanup_(oci_config_freep) struct oci_config *c = default_profile();
	const struct oci_seccomp *s = rt_seccomp_of(c);
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ(s->default_action, OCI_SCMP_ACT_ERRNO);
	ASSERT_TRUE(s->has_default_errno_ret);
	ASSERT_EQ(s->default_errno_ret, EPERM);
	struct berr err = {0};
	if (rt_seccomp_validate(s, &err) < 0)
		test_fail(__FILE__, __LINE__, "validate: %s", err.msg);
	size_t n = base_strv_len(allow_list(s)->names);
	ASSERT_TRUE(n > 330 && n < 400);
#if defined(__x86_64__)
	ASSERT_EQ(strv_count(s->architectures, "SCMP_ARCH_X86_64"), 1);
	ASSERT_EQ(strv_count(s->architectures, "SCMP_ARCH_X86"), 1);
	ASSERT_EQ(strv_count(allow_list(s)->names, "arch_prctl"), 1);
#endif
}

/* What a capability unlocks follows the bounding set. */
TEST(seccomp_follows_capabilities)
{
	_cleanup_(oci_config_freep) struct oci_config *c = default_profile();
	const struct oci_seccomp_syscall *a = allow_list(&c->linux_.seccomp);
	ASSERT_EQ(strv_count(a->names, "chroot"), 1);
	ASSERT_EQ(strv_count(a->names, "mount"), 0);
	ASSERT_EQ(strv_count(a->names, "reboot"), 0);
	ASSERT_EQ(strv_count(a->names, "unshare"), 0);
	int admin[] = {CAP_SYS_ADMIN, CAP_SYSLOG};
	struct oci_capset set = {.caps = admin, .n = 2, .present = true};
	rt_profile_seccomp(&c->linux_.seccomp, &set);
	a = allow_list(&c->linux_.seccomp);
	ASSERT_EQ(strv_count(a->names, "mount"), 1);
	ASSERT_EQ(strv_count(a->names, "clone3"), 1);
	/* named by both capabilities, listed once */
	ASSERT_EQ(strv_count(a->names, "syslog"), 1);
	ASSERT_EQ(strv_count(a->names, "chroot"), 0);
	for (size_t i = 0; i < c->linux_.seccomp.n_syscalls; i++)
		ASSERT_TRUE(c->linux_.seccomp.syscalls[i].action ==
			    OCI_SCMP_ACT_ALLOW);
	struct berr err = {0};
	ASSERT_EQ(rt_seccomp_validate(&c->linux_.seccomp, &err), 0);
}

/* ---- the default filter, loaded --------------------------------------- */

static void load_default_filter(void)
{
	_cleanup_(oci_config_freep) struct oci_config *c = default_profile();
	struct rt_seccomp_load l = {.seccomp = rt_seccomp_of(c),
				    .no_new_privs = true,
				    .listener_fd = -1};
	struct berr err = {0};
	if (geteuid() != 0)
		test_skip("needs root");
	ASSERT_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	if (rt_seccomp_load_late(&l, &err) < 0)
		test_fail(__FILE__, __LINE__, "load: %s", err.msg);
}

static long call_errno(long r)
{
	return r < 0 ? errno : 0;
}

TEST(default_filter_denies)
{
	load_default_filter();
	ASSERT_EQ(call_errno(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */,
				     -3 /* session */, 0)),
		  EPERM);
	ASSERT_EQ(call_errno(syscall(SYS_add_key, "user", "berth-test", "x", 1,
				     -3)),
		  EPERM);
	ASSERT_EQ(call_errno(unshare(CLONE_NEWUSER)), EPERM);
	/* unfiltered, root would get ENOENT for the missing target */
	ASSERT_EQ(call_errno(mount("none", "/berth-no-such-dir", "tmpfs", 0,
				   NULL)),
		  EPERM);
	ASSERT_EQ(call_errno(socket(AF_VSOCK, SOCK_STREAM, 0)), EPERM);
	ASSERT_EQ(call_errno(personality(READ_IMPLIES_EXEC)), EPERM);
	ASSERT_EQ(call_errno(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0,
				     0)),
		  EPERM);
	struct clone_args ca = {.exit_signal = SIGCHLD};
	ASSERT_EQ(call_errno(syscall(SYS_clone3, &ca, sizeof(ca))), ENOSYS);
	ASSERT_EQ(call_errno(syscall(SYS_bpf, 0, NULL, 0)), EPERM);
	ASSERT_EQ(call_errno(syscall(SYS_reboot, 0, 0, 0, NULL)), EPERM);
}

TEST(default_filter_allows)
{
	load_default_filter();
	ASSERT_EQ(syscall(SYS_getpid), getpid());
	fflush(NULL);
	pid_t pid = fork(); /* clone without namespace flags */
	ASSERT_TRUE(pid >= 0);
	if (pid == 0)
		_exit(7);
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_TRUE(personality(0xffffffff) >= 0);
	ASSERT_EQ(call_errno(personality(PER_LINUX)), 0);
	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	close(fd);
}

/* ---- LSM ---------------------------------------------------------------- */

static char *lsm_error(const char *json)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(json);
	struct berr err = {0};
	return rt_lsm_check(c, &err) < 0 ? base_strdup(err.msg) : NULL;
}

TEST(apparmor_profile_needs_apparmor)
{
	if (access("/sys/kernel/security/apparmor", F_OK) == 0)
		test_skip("AppArmor is enabled on this host");
	_cleanup_free_ char *e =
		lsm_error("{\"ociVersion\": \"1.2.0\", \"process\": {\"cwd\": "
			  "\"/\", \"args\": [\"sh\"],"
			  " \"apparmorProfile\": \"foo\"}}");
	ASSERT_STREQ(e, "process.apparmorProfile `foo`: AppArmor is not "
			"enabled on this host");
	_cleanup_free_ char *none =
		lsm_error("{\"ociVersion\": \"1.2.0\", \"process\": {\"cwd\": "
			  "\"/\", \"args\": [\"sh\"],"
			  " \"apparmorProfile\": \"unconfined\"}}");
	ASSERT_TRUE(none == NULL);
	_cleanup_free_ char *empty =
		lsm_error("{\"ociVersion\": \"1.2.0\", \"process\": {\"cwd\": "
			  "\"/\", \"args\": [\"sh\"],"
			  " \"apparmorProfile\": \"\"}}");
	ASSERT_TRUE(empty == NULL);
}

TEST(selinux_labels_need_selinux)
{
	if (access("/sys/fs/selinux/enforce", F_OK) == 0)
		test_skip("SELinux is enabled on this host");
	_cleanup_free_ char *e = lsm_error(
		"{\"ociVersion\": \"1.2.0\", \"process\": {\"cwd\": \"/\", "
		"\"args\": [\"sh\"],"
		" \"selinuxLabel\": \"system_u:system_r:container_t:s0\"}}");
	ASSERT_CONTAINS(e, "process.selinuxLabel "
			   "`system_u:system_r:container_t:s0`: SELinux is "
			   "not enabled on this host");
	_cleanup_free_ char *m = lsm_error(
		"{\"ociVersion\": \"1.2.0\", \"linux\": {\"mountLabel\":"
		" \"system_u:object_r:container_file_t:s0\"}}");
	ASSERT_CONTAINS(m, "linux.mountLabel");
	ASSERT_CONTAINS(m, "SELinux is not enabled");
}

TEST(lsm_apply_without_labels_is_a_no_op)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		parse("{\"ociVersion\": \"1.2.0\"}");
	struct berr err = {0};
	ASSERT_EQ(rt_lsm_apply(&c->process, &err), 0);
	ASSERT_EQ(err.code, 0);
}

/* ---- procfs-checked opens ------------------------------------------------ */

static void private_mounts(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
	ASSERT_EQ(unshare(CLONE_NEWNS), 0);
	ASSERT_EQ(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
}

TEST(procfs_open_of_a_proc_file)
{
	struct berr err = {0};
	int fd = rt_procfs_open("self/oom_score_adj", O_RDONLY, &err);
	if (fd < 0)
		test_fail(__FILE__, __LINE__, "open: %s", err.msg);
	char buf[16] = {0};
	ASSERT_TRUE(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	fd = rt_procfs_open("self/no-such-file", O_RDONLY, &err);
	ASSERT_EQ(fd, -ENOENT);
	ASSERT_CONTAINS(err.msg, "open /proc/self/no-such-file");
}

/* A file bound over the target would take the write. */
TEST(procfs_open_refuses_a_file_mounted_over)
{
	private_mounts();
	char tmp[] = "/tmp/berth-test-profile.XXXXXX";
	int tfd = mkostemp(tmp, O_CLOEXEC);
	ASSERT_TRUE(tfd >= 0);
	close(tfd);
	int m = mount(tmp, "/proc/self/oom_score_adj", NULL, MS_BIND, NULL);
	int e = errno;
	unlink(tmp);
	if (m < 0)
		test_fail(__FILE__, __LINE__, "bind: %s", strerror(e));
	struct berr err = {0};
	ASSERT_EQ(rt_procfs_open("self/oom_score_adj", O_WRONLY, &err), -EXDEV);
	ASSERT_CONTAINS(err.msg, "/proc/self/oom_score_adj");
}

/* Another procfs file passes an fstatfs check: the mount is what must be
 * refused. */
TEST(procfs_open_refuses_a_proc_file_mounted_over)
{
	private_mounts();
	ASSERT_EQ(mount("/proc/self/attr/current", "/proc/self/attr/exec", NULL,
			MS_BIND, NULL),
		  0);
	struct berr err = {0};
	ASSERT_EQ(rt_procfs_open("self/attr/exec", O_WRONLY, &err), -EXDEV);
	ASSERT_CONTAINS(err.msg, "/proc/self/attr/exec: a mount covers it");
}

TEST(procfs_open_refuses_a_fake_proc)
{
	private_mounts();
	ASSERT_EQ(mount("tmpfs", "/proc", "tmpfs", 0, NULL), 0);
	ASSERT_EQ(mkdir("/proc/self", 0755), 0);
	struct berr err = {0};
	ASSERT_EQ(rt_procfs_open("self", O_RDONLY, &err), -EXDEV);
	ASSERT_STREQ(err.msg, "/proc is not the root of a procfs");
	/* procfs, but not its root */
	ASSERT_EQ(umount2("/proc", MNT_DETACH), 0);
	ASSERT_EQ(mount("/proc/sys", "/proc", NULL, MS_BIND, NULL), 0);
	ASSERT_EQ(rt_procfs_open("kernel/hostname", O_RDONLY, &err), -EXDEV);
	ASSERT_STREQ(err.msg, "/proc is not the root of a procfs");
	/* LeakSanitizer reads /proc at exit */
	ASSERT_EQ(umount2("/proc", MNT_DETACH), 0);
}

/* ---- personality ------------------------------------------------------------
 */

TEST(personality_unknown_flag_is_an_error)
{
	_cleanup_(oci_config_freep) struct oci_config *c = parse(
		"{\"ociVersion\": \"1.2.0\", \"linux\": {\"personality\":"
		" {\"domain\": \"LINUX\", \"flags\": [\"ADDR_NO_RANDOMIZE\","
		" \"NOPE\"]}}}");
	struct berr err = {0};
	ASSERT_EQ(rt_personality_check(c, &err), -EINVAL);
	ASSERT_STREQ(err.msg,
		     "linux.personality.flags[1]: unknown flag `NOPE`");
}

TEST(personality_linux32_with_flags)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		parse("{\"ociVersion\": \"1.2.0\", \"linux\": {\"personality\":"
		      " {\"domain\": \"LINUX32\", \"flags\":"
		      " [\"ADDR_NO_RANDOMIZE\"]}}}");
	struct berr err = {0};
	ASSERT_EQ(rt_personality_check(c, &err), 0);
	ASSERT_EQ(rt_personality_apply(c, &err), 0);
	ASSERT_EQ(personality(0xffffffff), PER_LINUX32 | ADDR_NO_RANDOMIZE);
#if defined(__x86_64__)
	struct utsname u;
	ASSERT_EQ(uname(&u), 0);
	ASSERT_STREQ(u.machine, "i686");
#endif
}

TEST(no_personality_is_a_no_op)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		parse("{\"ociVersion\": \"1.2.0\"}");
	int before = personality(0xffffffff);
	struct berr err = {0};
	ASSERT_EQ(rt_personality_check(c, &err), 0);
	ASSERT_EQ(rt_personality_apply(c, &err), 0);
	ASSERT_EQ(personality(0xffffffff), before);
}
