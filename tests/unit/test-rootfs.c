/* runtime/: the container's root filesystem. Each container test builds a
 * busybox rootfs in a temp dir and runs prepare, pivot and finalize as pid 1
 * of fresh mount and pid namespaces (a forked child that unshared them, and
 * its child). The checks run inside; a failure comes back through a pipe
 * as text. Afterwards the host must show no trace: no mount under the temp
 * dir, nothing created through the rootfs's escaping symlinks. */
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif

#include "runtime/runtime-rootfs-internal.h"
#include "tests/unit/test.h"

/* ---- option parsing and paths (no privileges needed) --------------------- */

TEST(mntopts_split_flags_and_data)
{
	char *opts[] = {"ro",	    "nosuid",	 "rbind",	"rshared",
			"size=1m",  "noatime",	 "strictatime", "rro",
			"mode=755", "tmpcopyup", "rw",		"nodev",
			"private",  NULL};
	struct rt_mntopts o;
	ASSERT_EQ(rt_mntopts_parse(opts, &o), 0);
	ASSERT_EQ(o.flags,
		  MS_NOSUID | MS_BIND | MS_REC | MS_STRICTATIME | MS_NODEV);
	ASSERT_EQ(o.clear, MS_RDONLY);
	ASSERT_EQ(o.n_prop, 2);
	ASSERT_EQ(o.prop[0], MS_SHARED | MS_REC);
	ASSERT_EQ(o.prop[1], MS_PRIVATE);
	ASSERT_EQ(o.rec_set, 1); /* MOUNT_ATTR_RDONLY */
	ASSERT_TRUE(o.tmpcopyup);
	ASSERT_STREQ(o.data, "size=1m,mode=755");
	rt_mntopts_free(&o);

	char *idm[] = {"ridmap", NULL};
	ASSERT_EQ(rt_mntopts_parse(idm, &o), 0);
	ASSERT_TRUE(o.idmap);
	ASSERT_TRUE(o.data == NULL);
	rt_mntopts_free(&o);
}

TEST(mount_is_bind_by_type_or_option)
{
	struct oci_mount a = {.destination = "/a", .type = "bind"};
	struct oci_mount b = {.destination = "/b",
			      .type = "none",
			      .options = (char *[]){"ro", "rbind", NULL}};
	struct oci_mount c = {.destination = "/c", .type = "tmpfs"};
	ASSERT_TRUE(rt_mount_is_bind(&a));
	ASSERT_TRUE(rt_mount_is_bind(&b));
	ASSERT_TRUE(!rt_mount_is_bind(&c));
}

TEST(path_clean_is_lexical)
{
	const char *cases[][2] = {
		{"/a/../../b//c/.", "/b/c"},
		{"", "/"},
		{"a/b", "/a/b"},
		{"/..", "/"},
		{"/dev/", "/dev"},
		{"/x/./y/../z", "/x/z"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *p = rt_path_clean(cases[i][0]);
		ASSERT_STREQ(p, cases[i][1]);
	}
}

/* ---- a throwaway rootfs -------------------------------------------------- */

struct fixture {
	char *dir;    /* /tmp/berth-rootfs-XXXXXX */
	char *rootfs; /* dir/rootfs */
	char *host;   /* dir/host: a bind source with "hello" */
	char *evil;   /* a name "/evil -> /" would create on the host */
};

static void need_root(void)
{
	if (geteuid() != 0)
		test_skip("needs root");
}

static void put(const char *dir, const char *name, const char *content)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, name);
	ASSERT_EQ(base_write_file_at(AT_FDCWD, p, content, strlen(content),
				     O_CREAT),
		  0);
}

static void mkdirs(const char *dir, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", dir, names[i]);
		ASSERT_EQ(base_mkdir_p(AT_FDCWD, p, 0755), 0);
	}
}

static void link_in(const char *dir, const char *name, const char *target)
{
	_cleanup_free_ char *p = base_sprintf("%s/%s", dir, name);
	ASSERT_EQ(symlink(target, p), 0);
}

static void copy_busybox(const char *rootfs)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, "/bin/busybox", &buf, &len, 0) < 0)
		test_skip("no /bin/busybox");
	_cleanup_free_ char *p = base_sprintf("%s/bin/busybox", rootfs);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(base_write_all(fd, buf, len), 0);
	link_in(rootfs, "bin/sh", "busybox");
	link_in(rootfs, "bin/cat", "busybox");
}

static void fixture_make(struct fixture *f)
{
	need_root();
	char tmpl[] = "/tmp/berth-rootfs-XXXXXX";
	ASSERT_TRUE(mkdtemp(tmpl));
	f->dir = base_strdup(tmpl);
	f->rootfs = base_sprintf("%s/rootfs", f->dir);
	f->host = base_sprintf("%s/host", f->dir);
	f->evil = base_sprintf("/berth-evil-%d", (int)getpid());
	static const char *const dirs[] = {"bin",   "proc", "sys",  "dev",
					   "tmp",   "etc",  "data", "secretdir",
					   "rodir", NULL};
	mkdirs(f->rootfs, dirs);
	ASSERT_EQ(base_mkdir_p(AT_FDCWD, f->host, 0755), 0);
	copy_busybox(f->rootfs);
	put(f->rootfs, "etc/keep", "kept");
	put(f->rootfs, "secret", "secret");
	put(f->rootfs, "secretdir/f", "f");
	put(f->host, "hello", "hello");
	put(f->dir, "file", "filecontent");
	ASSERT_EQ(chmod(f->rootfs, 0755), 0);
	/* escapes that must stay inside the rootfs */
	link_in(f->rootfs, "evil", "/");
	link_in(f->rootfs, "up", "../../../../../..");
}

static bool mountinfo_mentions(const char *dir)
{
	_cleanup_free_ char *mi = NULL;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL,
				    0),
		  0);
	return strstr(mi, dir) != NULL;
}

/* Removes the temp dir, then checks that the host kept no trace. */
static void fixture_free(struct fixture *f)
{
	bool leaked_mount = mountinfo_mentions(f->dir);
	bool evil = access(f->evil, F_OK) == 0;
	bool up = access("/tmp/upmnt", F_OK) == 0;
	int rm = base_rm_rf_at(AT_FDCWD, f->dir);
	free(f->dir);
	free(f->rootfs);
	free(f->host);
	free(f->evil);
	ASSERT_TRUE(!leaked_mount);
	ASSERT_TRUE(!evil);
	ASSERT_TRUE(!up);
	ASSERT_EQ(rm, 0);
}

/* ---- running a "container" ----------------------------------------------- */

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			return base_sprintf("%s:%d: %s (errno: %s)", __FILE__, \
					    __LINE__, #c, strerror(errno));    \
	} while (0)

struct run {
	const struct oci_config *c;
	struct rt_rootfs_opts o;
	const struct fixture *f;
	char *(*check)(const struct run *r); /* NULL: ok, else a message */
	const char *want_err; /* the error prepare..finalize must give */
	bool old_kernel;      /* hide the new mount API (ENOSYS) */
	char *(*pre)(const struct run *r); /* before prepare, in the new ns */
	bool shared_host; /* the container's parent namespace has "/" rshared */
};

/* Makes the fd-based mount API look absent, as on kernels before 5.2/5.12,
 * so that the mount(2) fallbacks run. */
static int hide_new_mount_api(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	int r = 0;
	const int calls[] = {SCMP_SYS(open_tree), SCMP_SYS(move_mount),
			     SCMP_SYS(mount_setattr), SCMP_SYS(fsopen)};
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(calls); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), calls[i], 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

static char *steps(const struct run *r)
{
	struct berr err = {0};
	if (r->old_kernel && hide_new_mount_api() < 0)
		return base_strdup("cannot install the seccomp filter");
	char *msg = r->pre ? r->pre(r) : NULL;
	if (msg)
		return msg;
	int rc = rt_rootfs_prepare(r->c, &r->o, &err);
	if (rc == 0)
		rc = rt_rootfs_pivot(r->c, &r->o, &err);
	if (rc == 0)
		rc = rt_rootfs_finalize(r->c, &r->o, &err);
	if (r->want_err) {
		if (rc == 0)
			return base_sprintf("expected error \"%s\", got none",
					    r->want_err);
		if (strcmp(err.msg, r->want_err) || rc != -err.code)
			return base_sprintf("expected \"%s\", got \"%s\" (%d)",
					    r->want_err, err.msg, rc);
		return NULL;
	}
	if (rc < 0)
		return base_sprintf("rootfs: %s", err.msg);
	return r->check ? r->check(r) : NULL;
}

static __attribute__((noreturn)) void grandchild(const struct run *r, int wfd)
{
	if (r->shared_host && unshare(CLONE_NEWNS) < 0)
		_exit(10);
	char *msg = steps(r);
	if (msg)
		(void)base_write_all(wfd, msg, strlen(msg));
	_exit(msg ? 1 : 0);
}

static __attribute__((noreturn)) void child(const struct run *r, int flags,
					    int wfd)
{
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | flags) < 0)
		_exit(3);
	/* a user namespace where only root is mapped, to itself */
	if ((flags & CLONE_NEWUSER) &&
	    (base_write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", 4,
				0) < 0 ||
	     base_write_file_at(AT_FDCWD, "/proc/self/uid_map", "0 0 1", 5, 0) <
		     0 ||
	     base_write_file_at(AT_FDCWD, "/proc/self/gid_map", "0 0 1", 5, 0) <
		     0))
		_exit(8);
	if (chdir(r->f->dir) < 0)
		_exit(4);
	/* Here a stand-in for a systemd host, whose "/" is shared: the
	 * container gets a namespace of its own, its mounts peers of ours. */
	if (r->shared_host && mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL))
		_exit(9);
	pid_t pid = fork();
	if (pid < 0)
		_exit(5);
	if (pid == 0)
		grandchild(r, wfd);
	int st = 0;
	if (waitpid(pid, &st, 0) < 0)
		_exit(6);
	if (r->shared_host && mountinfo_mentions(r->f->dir)) {
		const char *m = "; a container mount propagated to the host";
		(void)base_write_all(wfd, m, strlen(m));
		_exit(11);
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
}

/* Runs prepare/pivot/finalize (and r->check) in new namespaces; returns
 * NULL or what went wrong. */
static char *in_container(const struct run *r, int flags)
{
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child(r, flags, p[1]);
	}
	close(p[1]);
	char buf[4096];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 &&
	       (k = read(p[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(p[0]);
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return NULL;
	if (n)
		return base_strdup(buf);
	return base_sprintf("container exited with status %d", st);
}

#define ASSERT_OK(msg)                                                         \
	do {                                                                   \
		_cleanup_free_ char *_m = (msg);                               \
		if (_m)                                                        \
			test_fail(__FILE__, __LINE__, "%s", _m);               \
	} while (0)

/* ---- checks from inside -------------------------------------------------- */

static bool is_fs(const char *path, long magic)
{
	struct statfs s;
	return statfs(path, &s) == 0 && s.f_type == magic;
}

static bool is_chr(const char *path, unsigned maj, unsigned min)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(maj, min);
}

static bool link_is(const char *path, const char *target)
{
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return !strcmp(buf, target);
}

static bool content_is(const char *path, const char *want)
{
	_cleanup_free_ char *s = NULL;
	size_t len = 0;
	return base_read_file_at(AT_FDCWD, path, &s, &len, 0) == 0 &&
	       len == strlen(want) && !memcmp(s, want, len);
}

static bool create_fails(const char *path, int e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == e;
}

static char *check_dev(void)
{
	CHECK(is_chr("/dev/null", 1, 3));
	CHECK(is_chr("/dev/zero", 1, 5));
	CHECK(is_chr("/dev/full", 1, 7));
	CHECK(is_chr("/dev/random", 1, 8));
	CHECK(is_chr("/dev/urandom", 1, 9));
	CHECK(is_chr("/dev/tty", 5, 0));
	CHECK(link_is("/dev/fd", "/proc/self/fd"));
	CHECK(link_is("/dev/stdin", "/proc/self/fd/0"));
	CHECK(link_is("/dev/stderr", "/proc/self/fd/2"));
	CHECK(link_is("/dev/ptmx", "pts/ptmx"));
	CHECK(access("/dev/pts/ptmx", F_OK) == 0);
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	struct stat st;
	CHECK(stat("/dev/fuse", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(st.st_rdev == makedev(10, 229));
	CHECK((st.st_mode & 07777) == 0640);
	CHECK(st.st_uid == 1 && st.st_gid == 2);
	CHECK(stat("/dev/myfifo", &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(is_fs("/dev/shm", TMPFS_MAGIC));
	CHECK(is_fs("/dev/mqueue", MQUEUE_MAGIC));
	return NULL;
}

static char *check_mounts(const struct run *r)
{
	CHECK(getpid() == 1);
	CHECK(link_is("/proc/self", "1"));
	CHECK(is_fs("/proc", PROC_SUPER_MAGIC));
	CHECK(is_fs("/sys", SYSFS_MAGIC));
	CHECK(create_fails("/sys/x", EROFS));
	CHECK(is_fs("/tmp", TMPFS_MAGIC));
	CHECK(base_write_file_at(AT_FDCWD, "/tmp/w", "w", 1, O_CREAT) == 0);
	/* tmpcopyup kept what the tmpfs covers */
	CHECK(is_fs("/etc", TMPFS_MAGIC));
	CHECK(content_is("/etc/keep", "kept"));
	CHECK(content_is("/etc/hostfile", "filecontent"));
	CHECK(content_is("/data/hello", "hello"));
	CHECK(create_fails("/data/new", EROFS));
	/* the symlinked destinations landed inside the rootfs */
	_cleanup_free_ char *evil = base_sprintf("%s", r->f->evil);
	CHECK(is_fs(evil, TMPFS_MAGIC));
	CHECK(is_fs("/tmp/upmnt", TMPFS_MAGIC));
	return NULL;
}

static char *check_cgroup(void)
{
	CHECK(is_fs("/sys/fs/cgroup", TMPFS_MAGIC));
	CHECK(create_fails("/sys/fs/cgroup/x", EROFS));
	if (access("/sys/fs/cgroup/memory", F_OK) == 0) {
		CHECK(is_fs("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC));
		CHECK(access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0);
		CHECK(create_fails("/sys/fs/cgroup/memory/x", EROFS));
	}
	return NULL;
}

static char *check_finalize(void)
{
	char host[64] = "";
	CHECK(gethostname(host, sizeof(host)) == 0);
	CHECK(!strcmp(host, "berth-rootfs"));
	/* masked: files read empty, directories are empty read-only tmpfs */
	CHECK(content_is("/proc/meminfo", ""));
	CHECK(content_is("/secret", ""));
	CHECK(is_fs("/secretdir", TMPFS_MAGIC));
	CHECK(access("/secretdir/f", F_OK) < 0 && errno == ENOENT);
	CHECK(create_fails("/secretdir/g", EROFS));
	/* read-only paths and root */
	CHECK(create_fails("/proc/sys/kernel/hostname", EROFS));
	CHECK(create_fails("/rodir/x", EROFS));
	CHECK(mkdir("/newdir", 0755) < 0 && errno == EROFS);
	/* the read-only tmpfs became read-only only now */
	CHECK(create_fails("/dev/shm/x", EROFS));
	return NULL;
}

static char *check_exec(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl("/bin/cat", "cat", "/data/hello", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return NULL;
}

static char *check_full(const struct run *r)
{
	char *m = check_mounts(r);
	if (!m)
		m = check_dev();
	if (!m)
		m = check_cgroup();
	if (!m)
		m = check_finalize();
	if (!m)
		m = check_exec();
	return m;
}

/* ---- the configs --------------------------------------------------------- */

#define OPTS(...) ((char *[]){__VA_ARGS__, NULL})
#define MNT(d, t, s, o)                                                        \
	{                                                                      \
		.destination = (d), .type = (t), .source = (s), .options = (o) \
	}

static struct oci_namespace full_ns[] = {
	{.type = OCI_NS_PID},
	{.type = OCI_NS_MOUNT},
	{.type = OCI_NS_UTS},
	{.type = OCI_NS_IPC},
};

static struct oci_device full_devs[] = {
	{.type = 'c',
	 .path = "/dev/fuse",
	 .major = 10,
	 .minor = 229,
	 .has_file_mode = true,
	 .file_mode = 0640,
	 .has_uid = true,
	 .uid = 1,
	 .has_gid = true,
	 .gid = 2},
	{.type = 'p', .path = "/dev/myfifo"},
};

static struct oci_kv full_sysctl[] = {
	{.key = "kernel.hostname", .value = "berth-rootfs"},
};

static char *o_dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k",
			NULL};
static char *o_pts[] = {"nosuid",	 "noexec",    "newinstance",
			"ptmxmode=0666", "mode=0620", NULL};
static char *o_shm[] = {"nosuid",    "noexec",	    "nodev", "ro",
			"mode=1777", "size=65536k", NULL};
static char *o_nonoexec[] = {"nosuid", "noexec", "nodev", NULL};
static char *o_sys[] = {"nosuid", "noexec", "nodev", "ro", NULL};
static char *o_cg[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
static char *o_tmp[] = {"nosuid", "nodev", NULL};
static char *o_copyup[] = {"tmpcopyup", NULL};
static char *o_bindro[] = {"bind", "ro", NULL};
static char *o_rbindro[] = {"rbind", "ro", "nosuid", NULL};
static char *full_masked[] = {"/proc/meminfo", "/secret", "/secretdir",
			      "/nonexistent", NULL};
static char *full_ro[] = {"/proc/sys", "/rodir", "/missing", NULL};
static char evil_dest[64];

static void full_config(struct fixture *f, struct oci_config *c,
			struct oci_mount *m)
{
	size_t i = 0;
	m[i++] = (struct oci_mount)MNT("/proc", "proc", "proc", NULL);
	m[i++] = (struct oci_mount)MNT("/dev", "tmpfs", "tmpfs", o_dev);
	m[i++] = (struct oci_mount)MNT("/dev/pts", "devpts", "devpts", o_pts);
	m[i++] = (struct oci_mount)MNT("/dev/shm", "tmpfs", "shm", o_shm);
	m[i++] = (struct oci_mount)MNT("/dev/mqueue", "mqueue", "mqueue",
				       o_nonoexec);
	m[i++] = (struct oci_mount)MNT("/sys", "sysfs", "sysfs", o_sys);
	m[i++] = (struct oci_mount)MNT("/sys/fs/cgroup", "cgroup", "cgroup",
				       o_cg);
	m[i++] = (struct oci_mount)MNT("/tmp", "tmpfs", "tmpfs", o_tmp);
	m[i++] = (struct oci_mount)MNT("/etc", "tmpfs", "tmpfs", o_copyup);
	/* relative sources are relative to the bundle (cwd) */
	m[i++] = (struct oci_mount)MNT("/etc/hostfile", "bind", "file",
				       o_bindro);
	m[i++] = (struct oci_mount)MNT("/data", "bind", f->host, o_rbindro);
	snprintf(evil_dest, sizeof(evil_dest), "/evil%s", f->evil);
	m[i++] = (struct oci_mount)MNT(evil_dest, "tmpfs", "tmpfs", NULL);
	m[i++] = (struct oci_mount)MNT("/up/tmp/upmnt", "tmpfs", "tmpfs", NULL);
	*c = (struct oci_config){
		.root = {.path = f->rootfs, .readonly = true},
		.mounts = m,
		.n_mounts = i,
		.has_linux = true,
	};
	c->linux_.namespaces = full_ns;
	c->linux_.n_namespaces = ARRAY_SIZE(full_ns);
	c->linux_.devices = full_devs;
	c->linux_.n_devices = ARRAY_SIZE(full_devs);
	c->linux_.sysctl = full_sysctl;
	c->linux_.n_sysctl = ARRAY_SIZE(full_sysctl);
	c->linux_.masked_paths = full_masked;
	c->linux_.readonly_paths = full_ro;
}

TEST(rootfs_full_container)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_config c;
	struct oci_mount m[16];
	full_config(&f, &c, m);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.check = check_full};
	char *msg = in_container(&r, CLONE_NEWUTS | CLONE_NEWIPC);
	fixture_free(&f);
	ASSERT_OK(msg);
}

TEST(rootfs_no_pivot)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_config c;
	struct oci_mount m[16];
	full_config(&f, &c, m);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs, .no_pivot = true},
			.f = &f,
			.check = check_full};
	char *msg = in_container(&r, CLONE_NEWUTS | CLONE_NEWIPC);
	fixture_free(&f);
	ASSERT_OK(msg);
}

TEST(rootfs_full_container_without_new_mount_api)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_config c;
	struct oci_mount m[16];
	full_config(&f, &c, m);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.check = check_full,
			.old_kernel = true};
	char *msg = in_container(&r, CLONE_NEWUTS | CLONE_NEWIPC);
	fixture_free(&f);
	ASSERT_OK(msg);
}

static char *check_masked_dir(const struct run *r)
{
	(void)r;
	CHECK(access("/proc/self", F_OK) < 0);
	CHECK(is_fs("/secretdir", TMPFS_MAGIC));
	CHECK(access("/secretdir/f", F_OK) < 0 && errno == ENOENT);
	return NULL;
}

/* No /proc in the container and no new mount API: masking a directory
 * still works through the path, which is safe once the root is ours. */
TEST(rootfs_mask_without_proc)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_mount m[] = {MNT("/dev", "tmpfs", "tmpfs", NULL)};
	struct oci_config c = {.mounts = m, .n_mounts = 1, .has_linux = true};
	c.linux_.masked_paths = OPTS("/secretdir");
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.check = check_masked_dir,
			.old_kernel = true};
	char *msg = in_container(&r, 0);
	fixture_free(&f);
	ASSERT_OK(msg);
}

/* Sources made in the container's mount namespace (gone with it): a
 * read-only nodev tmpfs, and a directory with a tmpfs mounted inside. */
static char *pre_sources(const struct run *r)
{
	_cleanup_free_ char *ro = base_sprintf("%s/rosrc", r->f->dir);
	_cleanup_free_ char *sub = base_sprintf("%s/host/sub", r->f->dir);
	CHECK(mkdir(ro, 0755) == 0 && mkdir(sub, 0755) == 0);
	CHECK(mount("tmpfs", ro, "tmpfs", MS_NODEV, NULL) == 0);
	CHECK(base_write_file_at(AT_FDCWD, "rosrc/f", "f", 1, O_CREAT) == 0);
	CHECK(mount(NULL, ro, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV,
		    NULL) == 0);
	CHECK(mount("tmpfs", sub, "tmpfs", 0, NULL) == 0);
	return NULL;
}

static bool has_flag(const char *path, unsigned long st_flag)
{
	struct statvfs sv;
	return statvfs(path, &sv) == 0 && (sv.f_flag & st_flag);
}

static char *check_bind_flags(const struct run *r)
{
	(void)r;
	/* "rw" clears ro; the nodev nobody named stays */
	CHECK(base_write_file_at(AT_FDCWD, "/rw/g", "g", 1, O_CREAT) == 0);
	CHECK(has_flag("/rw", ST_NODEV));
	/* "nosuid" adds to the source's ro and nodev */
	CHECK(create_fails("/keep/h", EROFS));
	CHECK(has_flag("/keep", ST_NOSUID) && has_flag("/keep", ST_NODEV));
	/* rbind,ro: only the top is read-only; rro: the whole tree */
	CHECK(create_fails("/norec/x", EROFS));
	CHECK(base_write_file_at(AT_FDCWD, "/norec/sub/x", "x", 1, O_CREAT) ==
	      0);
	if (access("/rec", F_OK) == 0) {
		CHECK(create_fails("/rec/x", EROFS));
		CHECK(create_fails("/rec/sub/y", EROFS));
	}
	/* propagation options reach the new mount */
	_cleanup_free_ char *mi = NULL;
	CHECK(base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL,
				0) == 0);
	char *l = strstr(mi, " /shared ");
	CHECK(l && strstr(l, " shared:") &&
	      strstr(l, " shared:") < strchr(l, '\n'));
	return NULL;
}

static void bind_flags_test(bool old_kernel)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_mount m[] = {
		MNT("/proc", "proc", "proc", NULL),
		MNT("/rw", "bind", "rosrc", OPTS("bind", "rw")),
		MNT("/keep", "bind", "rosrc", OPTS("bind", "nosuid")),
		MNT("/norec", "bind", "host", OPTS("rbind", "ro")),
		MNT("/shared", "tmpfs", "tmpfs", OPTS("rshared")),
		MNT("/rec", "bind", "host", OPTS("rbind", "rro")),
	};
	/* recursive attributes need mount_setattr: none on old kernels */
	struct oci_config c = {.mounts = m,
			       .n_mounts = ARRAY_SIZE(m) - old_kernel};
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.pre = pre_sources,
			.check = check_bind_flags,
			.old_kernel = old_kernel};
	char *msg = in_container(&r, 0);
	fixture_free(&f);
	ASSERT_OK(msg);
}

TEST(rootfs_bind_flags)
{
	bind_flags_test(false);
}

TEST(rootfs_bind_flags_without_new_mount_api)
{
	bind_flags_test(true);
}

TEST(rootfs_recursive_ro_needs_mount_setattr)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_mount m[] = {
		MNT("/rec", "bind", "host", OPTS("rbind", "rro")),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	struct run r = {
		.c = &c,
		.o = {.rootfs = f.rootfs},
		.f = &f,
		.old_kernel = true,
		.want_err = "mount `host` on `/rec`: Operation not supported",
	};
	char *msg = in_container(&r, 0);
	fixture_free(&f);
	ASSERT_OK(msg);
}

static char *check_userns(const struct run *r)
{
	char *m = check_mounts(r);
	if (m)
		return m;
	/* no mknod here: the host's nodes are bound, and left alone */
	CHECK(is_chr("/dev/null", 1, 3));
	CHECK(is_chr("/dev/tty", 5, 0));
	CHECK(is_chr("/dev/fuse", 10, 229));
	struct stat st;
	CHECK(stat("/dev/myfifo", &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK(link_is("/dev/fd", "/proc/self/fd"));
	/* sysfs fell back to a bind of /sys: no network namespace here */
	CHECK(is_fs("/sys", SYSFS_MAGIC));
	CHECK(create_fails("/sys/x", EROFS));
	m = check_cgroup();
	if (!m)
		m = check_finalize();
	if (!m)
		m = check_exec();
	return m;
}

TEST(rootfs_user_namespace)
{
	struct fixture f;
	fixture_make(&f);
	struct stat host_null;
	ASSERT_EQ(stat("/dev/null", &host_null), 0);
	struct oci_config c;
	struct oci_mount m[16];
	full_config(&f, &c, m);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs, .new_userns = true},
			.f = &f,
			.check = check_userns};
	ASSERT_OK(
		in_container(&r, CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWIPC));
	struct stat after;
	ASSERT_EQ(stat("/dev/null", &after), 0);
	ASSERT_EQ(after.st_uid, host_null.st_uid);
	ASSERT_EQ(after.st_mode, host_null.st_mode);
	fixture_free(&f);
}

static char *check_cgroupns(const struct run *r)
{
	(void)r;
	CHECK(is_fs("/sys/fs/cgroup", TMPFS_MAGIC));
	if (access("/sys/fs/cgroup/memory", F_OK) == 0) {
		/* a fresh hierarchy whose root is our cgroup */
		CHECK(is_fs("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC));
		CHECK(access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) == 0);
	}
	if (access("/sys/fs/cgroup/unified", F_OK) == 0)
		CHECK(is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC));
	return NULL;
}

TEST(rootfs_cgroup_namespace)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_namespace ns[] = {{.type = OCI_NS_MOUNT},
				     {.type = OCI_NS_CGROUP}};
	struct oci_mount m[] = {
		MNT("/proc", "proc", "proc", NULL),
		MNT("/sys", "sysfs", "sysfs", OPTS("nosuid", "nodev")),
		MNT("/sys/fs/cgroup", "cgroup", "cgroup", OPTS("nosuid")),
	};
	struct oci_config c = {
		.mounts = m, .n_mounts = ARRAY_SIZE(m), .has_linux = true};
	c.linux_.namespaces = ns;
	c.linux_.n_namespaces = ARRAY_SIZE(ns);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.check = check_cgroupns};
	char *msg = in_container(&r, CLONE_NEWCGROUP);
	fixture_free(&f);
	ASSERT_OK(msg);
}

/* The optional fields of the mountinfo line of "/". */
static char *root_mount_line(void)
{
	_cleanup_free_ char *mi = NULL;
	if (base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL, 0) <
	    0)
		return NULL;
	char *save = NULL;
	for (char *l = strtok_r(mi, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char mp[256];
		if (sscanf(l, "%*d %*d %*s %*s %255s", mp) == 1 &&
		    !strcmp(mp, "/"))
			return base_strdup(l);
	}
	return NULL;
}

static char *check_shared(const struct run *r)
{
	(void)r;
	_cleanup_free_ char *l = root_mount_line();
	CHECK(l && strstr(l, " shared:"));
	return NULL;
}

static char *check_unbindable(const struct run *r)
{
	(void)r;
	_cleanup_free_ char *l = root_mount_line();
	CHECK(l && strstr(l, " unbindable"));
	return NULL;
}

static char *check_private(const struct run *r)
{
	(void)r;
	_cleanup_free_ char *l = root_mount_line();
	CHECK(l && !strstr(l, " shared:") && !strstr(l, " master:") &&
	      !strstr(l, " unbindable"));
	return NULL;
}

static void propagation_test(enum oci_propagation p,
			     char *(*check)(const struct run *))
{
	struct fixture f;
	fixture_make(&f);
	struct oci_mount m[] = {MNT("/proc", "proc", "proc", NULL)};
	struct oci_config c = {
		.mounts = m, .n_mounts = ARRAY_SIZE(m), .has_linux = true};
	c.linux_.rootfs_propagation = p;
	struct run r = {
		.c = &c, .o = {.rootfs = f.rootfs}, .f = &f, .check = check};
	char *msg = in_container(&r, 0);
	fixture_free(&f);
	ASSERT_OK(msg);
}

TEST(rootfs_nothing_propagates_to_a_shared_host)
{
	struct fixture f;
	fixture_make(&f);
	struct oci_config c;
	struct oci_mount m[16];
	full_config(&f, &c, m);
	struct run r = {.c = &c,
			.o = {.rootfs = f.rootfs},
			.f = &f,
			.check = check_full,
			.shared_host = true};
	char *msg = in_container(&r, CLONE_NEWUTS | CLONE_NEWIPC);
	c.linux_.rootfs_propagation = OCI_PROPAGATION_SHARED;
	char *msg2 = msg ? NULL : in_container(&r, CLONE_NEWUTS | CLONE_NEWIPC);
	fixture_free(&f);
	ASSERT_OK(msg);
	ASSERT_OK(msg2);
}

TEST(rootfs_propagation_shared)
{
	propagation_test(OCI_PROPAGATION_SHARED, check_shared);
}

TEST(rootfs_propagation_unbindable)
{
	propagation_test(OCI_PROPAGATION_UNBINDABLE, check_unbindable);
}

TEST(rootfs_propagation_private)
{
	propagation_test(OCI_PROPAGATION_PRIVATE, check_private);
}

/* ---- errors -------------------------------------------------------------- */

static void expect_error(struct oci_config *c, const char *want)
{
	struct fixture f;
	fixture_make(&f);
	struct run r = {
		.c = c, .o = {.rootfs = f.rootfs}, .f = &f, .want_err = want};
	char *msg = in_container(&r, CLONE_NEWUTS);
	fixture_free(&f);
	ASSERT_OK(msg);
}

TEST(rootfs_unknown_fs_type)
{
	struct oci_mount m[] = {MNT("/x", "foo", "foo", NULL)};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	expect_error(&c, "mount `foo` on `/x`: No such device");
}

TEST(rootfs_bad_option_names_mount)
{
	struct oci_mount m[] = {
		MNT("/dev", "tmpfs", "tmpfs", OPTS("size=notasize")),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	expect_error(&c, "mount `tmpfs` on `/dev`: Invalid argument");
}

TEST(rootfs_missing_bind_source)
{
	struct oci_mount m[] = {
		MNT("/data", "bind", "/nonexistent-berth", OPTS("rbind")),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	expect_error(&c, "mount `/nonexistent-berth` on `/data`: No such file "
			 "or directory");
}

TEST(rootfs_symlink_to_root_refused)
{
	struct oci_mount m[] = {MNT("/evil", "tmpfs", "tmpfs", NULL)};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	expect_error(&c, "mount `tmpfs` on `/evil`: the destination is the "
			 "container's root");
}

TEST(rootfs_mount_inside_proc_refused)
{
	struct oci_mount m[] = {
		MNT("/proc", "proc", "proc", NULL),
		MNT("/proc/bus", "tmpfs", "tmpfs", NULL),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 2};
	expect_error(&c, "mount `tmpfs` on `/proc/bus`: the destination is "
			 "inside /proc");
}

TEST(rootfs_idmap_refused)
{
	struct oci_mount m[] = {
		MNT("/data", "bind", "host", OPTS("rbind", "idmap")),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 1};
	expect_error(&c, "mount `host` on `/data`: idmapped mounts are not "
			 "supported");
}

TEST(rootfs_sysctl_error_names_key)
{
	struct oci_mount m[] = {MNT("/proc", "proc", "proc", NULL)};
	struct oci_kv kv[] = {{"kernel.berth_nonexistent", "1"}};
	struct oci_config c = {.mounts = m, .n_mounts = 1, .has_linux = true};
	c.linux_.sysctl = kv;
	c.linux_.n_sysctl = 1;
	expect_error(&c, "sysctl `kernel.berth_nonexistent`: No such file or "
			 "directory");
}

/* /dev bound from the host-side directory holding a fake "null": masking
 * must refuse it rather than bind an arbitrary file over /proc paths. */
TEST(rootfs_masking_checks_dev_null)
{
	struct fixture f;
	fixture_make(&f);
	_cleanup_free_ char *fake = base_sprintf("%s/fakedev", f.dir);
	ASSERT_EQ(mkdir(fake, 0755), 0);
	put(fake, "null", "not a device");
	struct oci_mount m[] = {
		MNT("/proc", "proc", "proc", NULL),
		MNT("/dev", "bind", fake, OPTS("rbind")),
	};
	struct oci_config c = {.mounts = m, .n_mounts = 2, .has_linux = true};
	c.linux_.masked_paths = OPTS("/proc/meminfo");
	struct run r = {
		.c = &c,
		.o = {.rootfs = f.rootfs},
		.f = &f,
		.want_err = "masked paths: `/dev/null` is not the null device",
	};
	char *msg = in_container(&r, 0);
	/* /dev belonged to the host: nothing was created in it */
	_cleanup_free_ char *zero = base_sprintf("%s/zero", fake);
	bool created = access(zero, F_OK) == 0;
	fixture_free(&f);
	ASSERT_OK(msg);
	ASSERT_TRUE(!created);
}

/* ---- linux.sysctl: only what a namespace of the container's own isolates */

static int sysctl_verdict(const char *key, const char *value,
			  const struct oci_namespace *ns, size_t n_ns,
			  const char *hostname, struct berr *err)
{
	struct oci_kv kv[] = {{(char *)key, (char *)value}};
	struct oci_config c = {.has_linux = true, .hostname = (char *)hostname};
	c.linux_.sysctl = kv;
	c.linux_.n_sysctl = 1;
	c.linux_.namespaces = (struct oci_namespace *)ns;
	c.linux_.n_namespaces = n_ns;
	berr_clear(err);
	return rt_sysctl_check(&c, err);
}

TEST(sysctl_check_refuses_host_settings)
{
	struct oci_namespace all[] = {
		{OCI_NS_PID, NULL},   {OCI_NS_NETWORK, NULL},
		{OCI_NS_MOUNT, NULL}, {OCI_NS_IPC, NULL},
		{OCI_NS_UTS, NULL},   {OCI_NS_USER, NULL},
	};
	struct berr e;
	static const char *const host[] = {
		"kernel.core_pattern", "kernel/core_pattern",	"vm.swappiness",
		"kernel.modprobe",     "fs.protected_symlinks", "kernel.panic",
		"kernel.msg_bogus",
	};
	for (size_t i = 0; i < ARRAY_SIZE(host); i++) {
		ASSERT_EQ(sysctl_verdict(host[i], "1", all, ARRAY_SIZE(all),
					 NULL, &e),
			  -EPERM);
		ASSERT_CONTAINS(e.msg, host[i]);
		ASSERT_CONTAINS(e.msg, "would change the host's");
	}
	static const char *const bad[] = {"kernel",
					  "net..ipv4",
					  "../x/y",
					  "net/../kernel/core_pattern",
					  "/kernel/core_pattern",
					  ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ(sysctl_verdict(bad[i], "1", all, ARRAY_SIZE(all),
					 NULL, &e),
			  -EINVAL);
		ASSERT_CONTAINS(e.msg, "invalid key");
	}
}

TEST(sysctl_check_needs_the_namespace_of_its_own)
{
	struct oci_namespace mnt[] = {{OCI_NS_MOUNT, NULL}};
	struct berr e;
	static const struct {
		const char *key, *ns;
	} cases[] = {
		{"net.ipv4.ip_forward", "network"},
		{"net/ipv4/conf/eth0.100/forwarding", "network"},
		{"kernel.shmmax", "ipc"},
		{"kernel.msgmnb", "ipc"},
		{"kernel.sem", "ipc"},
		{"fs.mqueue.msg_max", "ipc"},
		{"kernel.domainname", "uts"},
		{"kernel.ns_last_pid", "pid"},
		{"user.max_user_namespaces", "user"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ASSERT_EQ(sysctl_verdict(cases[i].key, "1", mnt, 1, NULL, &e),
			  -EPERM);
		ASSERT_CONTAINS(e.msg, cases[i].key);
		_cleanup_free_ char *want =
			base_sprintf("no %s namespace of its own", cases[i].ns);
		ASSERT_CONTAINS(e.msg, want);
	}
	/* With a new namespace of each kind, every one is accepted. */
	struct oci_namespace all[] = {
		{OCI_NS_PID, NULL},   {OCI_NS_NETWORK, NULL},
		{OCI_NS_MOUNT, NULL}, {OCI_NS_IPC, NULL},
		{OCI_NS_UTS, NULL},   {OCI_NS_USER, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ASSERT_EQ(sysctl_verdict(cases[i].key, "1", all,
					 ARRAY_SIZE(all), NULL, &e),
			  0);
}

/* A namespace joined by path is the container's own only when it is not
 * the runtime's: /proc/self/ns/net is the host's network. */
TEST(sysctl_check_joined_host_namespace_is_the_host)
{
	struct oci_namespace host[] = {{OCI_NS_MOUNT, NULL},
				       {OCI_NS_NETWORK, "/proc/self/ns/net"},
				       {OCI_NS_IPC, "/proc/self/ns/ipc"}};
	struct berr e;
	ASSERT_EQ(sysctl_verdict("net.ipv4.ip_forward", "1", host, 3, NULL, &e),
		  -EPERM);
	ASSERT_CONTAINS(e.msg, "no network namespace of its own");
	/* The runtime's own IPC namespace, joined by path. */
	ASSERT_EQ(sysctl_verdict("kernel.shmmax", "1", host, 3, NULL, &e),
		  -EPERM);
	ASSERT_EQ(sysctl_verdict("net.ipv4.ip_forward", "1",
				 (struct oci_namespace[]){
					 {OCI_NS_NETWORK, "/no/such/ns"}},
				 1, NULL, &e),
		  -ENOENT);
	ASSERT_CONTAINS(e.msg, "/no/such/ns");
}

TEST(sysctl_check_hostname_field_wins)
{
	struct oci_namespace uts[] = {{OCI_NS_UTS, NULL}};
	struct berr e;
	ASSERT_EQ(sysctl_verdict("kernel.hostname", "a", uts, 1, "b", &e),
		  -EINVAL);
	ASSERT_CONTAINS(e.msg, "conflicts with hostname \"b\"");
	ASSERT_EQ(sysctl_verdict("kernel.hostname", "b", uts, 1, "b", &e), 0);
	ASSERT_EQ(sysctl_verdict("kernel.hostname", "a", uts, 1, NULL, &e), 0);
}
