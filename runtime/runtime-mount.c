/* The config's mounts and the mount primitives under them.
 *
 * A destination is resolved inside the rootfs (openat2 RESOLVE_IN_ROOT via
 * base_open_in_root), created when missing, and the mount is made on the
 * resolved fd: open_tree + move_mount for binds, mount(2) on
 * /proc/self/fd/N for new filesystems. A symlink of the image therefore
 * never sends a mount to the host (CVE-2021-30465), and nothing the image
 * holds can be swapped in between the check and the mount. Per-mount flags
 * and propagation are then applied to the new mount's own fd. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include "runtime/runtime-rootfs-internal.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif

/* The kernel's struct mount_attr, spelled out so that old headers do. */
struct rt_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

#define ATIME_MS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)
/* The flags a bind remount can change (the rest belong to the sb). */
#define MNT_MS                                                                 \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | ATIME_MS |             \
	 MS_NODIRATIME | MS_NOSYMFOLLOW)
#define LOCKABLE_MS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static int sys_open_tree(int dfd, const char *path, unsigned int flags)
{
	return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static int sys_move_mount(int from_dfd, const char *from, int to_dfd,
			  const char *to, unsigned int flags)
{
	return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

static int sys_mount_setattr(int dfd, unsigned int flags,
			     struct rt_mount_attr *a)
{
	return (int)syscall(SYS_mount_setattr, dfd, "", flags | AT_EMPTY_PATH,
			    a, sizeof(*a));
}

/* ---- paths --------------------------------------------------------------- */

char *rt_path_clean(const char *path)
{
	size_t len = 1;
	char *out = base_calloc(1, strlen(path) + 2);
	out[0] = '/';
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 1 && out[len - 1] != '/')
				len--;
			if (len > 1)
				len--;
		} else if (!(n == 1 && p[0] == '.')) {
			if (len > 1)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p = e;
	}
	out[len] = '\0';
	return out;
}

/* "/a/b" -> "/a" and "b"; "/a" -> "/" and "a". */
static char *path_dir(const char *clean)
{
	const char *s = strrchr(clean, '/');
	if (s == clean)
		return base_strdup("/");
	return strndup(clean, (size_t)(s - clean));
}

static const char *path_base(const char *clean)
{
	return strrchr(clean, '/') + 1;
}

static void fd_path(int fd, char buf[static 32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static bool proc_usable(void)
{
	struct statfs s;
	return statfs("/proc/self/fd", &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

static bool same_inode(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- primitives ---------------------------------------------------------- */

/* Mount flags (MS_RDONLY, MS_NOSUID, ...) of the mount fd is on. */
static int mnt_flags(int fd, unsigned long *flags)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ST_RDONLY, MS_RDONLY},	    {ST_NOSUID, MS_NOSUID},
		{ST_NODEV, MS_NODEV},	    {ST_NOEXEC, MS_NOEXEC},
		{ST_NOATIME, MS_NOATIME},   {ST_NODIRATIME, MS_NODIRATIME},
		{ST_RELATIME, MS_RELATIME}, {ST_NOSYMFOLLOW, MS_NOSYMFOLLOW},
	};
	struct statfs s;
	if (fstatfs(fd, &s) < 0)
		return -errno;
	*flags = 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if ((unsigned long)s.f_flags & map[i].st)
			*flags |= map[i].ms;
	return 0;
}

/* Finds the mount now on path (its root, not the directory under it). */
static int reopen(int rootfd, const char *path, int *mntfd)
{
	if (!mntfd)
		return 0;
	int fd = base_open_in_root(rootfd, path, O_PATH, 0);
	if (fd < 0)
		return fd;
	*mntfd = fd;
	return 0;
}

int rt_mnt_bind(int srcfd, int dstfd, bool recursive, int rootfd,
		const char *path, int *mntfd)
{
	unsigned int fl = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
			  (recursive ? AT_RECURSIVE : 0);
	int tree = sys_open_tree(srcfd, "", fl);
	if (tree >= 0) {
		if (sys_move_mount(tree, "", dstfd, "",
				   MOVE_MOUNT_F_EMPTY_PATH |
					   MOVE_MOUNT_T_EMPTY_PATH) < 0) {
			int e = errno;
			close(tree);
			return -e;
		}
		/* the tree's fd is now the attached mount's root */
		if (mntfd)
			*mntfd = tree;
		else
			close(tree);
		return 0;
	}
	if (errno != ENOSYS)
		return -errno;
	char s[32], d[32];
	fd_path(srcfd, s);
	fd_path(dstfd, d);
	if (mount(s, d, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
		return -errno;
	return reopen(rootfd, path, mntfd);
}

int rt_mnt_fresh(const char *source, const char *type, unsigned long flags,
		 const char *data, int dstfd, int rootfd, const char *path,
		 int *mntfd)
{
	char d[32];
	const char *target = d;
	if (proc_usable()) {
		fd_path(dstfd, d);
	} else {
		/* Without /proc a path is only safe once rootfd is "/". */
		_cleanup_close_ int cur = open("/", O_PATH | O_CLOEXEC);
		if (cur < 0 || !same_inode(cur, rootfd))
			return -ENOENT;
		target = path;
	}
	if (mount(source, target, type, flags, data) < 0)
		return -errno;
	return reopen(rootfd, path, mntfd);
}

static uint64_t ms_to_attr(unsigned long f)
{
	uint64_t a = 0;
	if (f & MS_RDONLY)
		a |= MOUNT_ATTR_RDONLY;
	if (f & MS_NOSUID)
		a |= MOUNT_ATTR_NOSUID;
	if (f & MS_NODEV)
		a |= MOUNT_ATTR_NODEV;
	if (f & MS_NOEXEC)
		a |= MOUNT_ATTR_NOEXEC;
	if (f & MS_NODIRATIME)
		a |= MOUNT_ATTR_NODIRATIME;
	if (f & MS_NOSYMFOLLOW)
		a |= MOUNT_ATTR_NOSYMFOLLOW;
	if (f & MS_NOATIME)
		a |= MOUNT_ATTR_NOATIME;
	else if (f & MS_STRICTATIME)
		a |= MOUNT_ATTR_STRICTATIME;
	return a;
}

/* Clearing an atime option leaves the kernel's default (relatime), except
 * norelatime, which means strictatime. */
static unsigned long atime_mode(unsigned long set, unsigned long clear)
{
	if (set & MS_NOATIME)
		return MS_NOATIME;
	if (set & MS_STRICTATIME)
		return MS_STRICTATIME;
	if (set & MS_RELATIME)
		return MS_RELATIME;
	return (clear & MS_RELATIME) ? MS_STRICTATIME : MS_RELATIME;
}

/* mount(2) has no "clear": the remount names every flag that stays. */
static int setattr_legacy(int fd, unsigned long set, unsigned long clear,
			  bool atime)
{
	unsigned long cur;
	int r = mnt_flags(fd, &cur);
	if (r < 0)
		return r;
	if (!atime && !(cur & (MS_NOATIME | MS_RELATIME)))
		cur |= MS_STRICTATIME;
	if (atime)
		cur &= ~ATIME_MS;
	unsigned long f = ((cur & ~clear) | set) & MNT_MS;
	char d[32];
	fd_path(fd, d);
	if (mount(NULL, d, NULL, MS_REMOUNT | MS_BIND | f, NULL) < 0)
		return -errno;
	return 0;
}

static int setattr_once(int fd, unsigned long set, unsigned long clear,
			bool recursive)
{
	bool atime = (set | clear) & ATIME_MS;
	unsigned long s = set & ~ATIME_MS, c = clear & ~ATIME_MS;
	if (atime)
		s |= atime_mode(set, clear);
	struct rt_mount_attr a = {.attr_set = ms_to_attr(s),
				  .attr_clr = ms_to_attr(c)};
	if (atime)
		a.attr_clr |= MOUNT_ATTR__ATIME;
	if (sys_mount_setattr(fd, recursive ? AT_RECURSIVE : 0, &a) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	if (recursive)
		return -EOPNOTSUPP;
	return setattr_legacy(fd, s, c, atime);
}

int rt_mnt_setattr(int mntfd, unsigned long set, unsigned long clear,
		   bool recursive)
{
	int r = setattr_once(mntfd, set, clear, recursive);
	if (r != -EPERM || !((clear & MNT_MS) || ((set | clear) & ATIME_MS)))
		return r;
	/* In a user namespace the kernel locks the flags of mounts that came
	 * from a more privileged namespace: keep them, as runc does. */
	unsigned long cur;
	if (mnt_flags(mntfd, &cur) < 0)
		return r;
	clear &= ~(cur & LOCKABLE_MS) & ~ATIME_MS;
	set &= ~ATIME_MS;
	return setattr_once(mntfd, set, clear, recursive);
}

/* Sets MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC). */
static int mnt_propagate(int mntfd, unsigned long prop)
{
	struct rt_mount_attr a = {.propagation = prop & ~(unsigned long)MS_REC};
	if (sys_mount_setattr(mntfd, (prop & MS_REC) ? AT_RECURSIVE : 0, &a) ==
	    0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	char d[32];
	fd_path(mntfd, d);
	return mount(NULL, d, NULL, prop, NULL) < 0 ? -errno : 0;
}

static int setattr_rec(int mntfd, const struct rt_mntopts *op)
{
	if (!op->rec_set && !op->rec_clr)
		return 0;
	struct rt_mount_attr a = {.attr_set = op->rec_set,
				  .attr_clr = op->rec_clr};
	if (sys_mount_setattr(mntfd, AT_RECURSIVE, &a) < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

/* ---- one mount: context and errors --------------------------------------- */

struct mctx {
	int rootfd;
	const struct oci_config *c;
	const struct oci_mount *m;
	const struct rt_rootfs_opts *o;
	struct rt_mntopts op;
	const char *name; /* what errors call the mount: source or type */
	int source_fd;	  /* the bind source, opened by create, or -1 */
	struct berr *err;
};

static int fail(struct mctx *x, int r)
{
	return berr_set(x->err, -r, "mount `%s` on `%s`", x->name,
			x->m->destination);
}

static int failx(struct mctx *x, int code, const char *why)
{
	return berr_setx(x->err, code, "mount `%s` on `%s`: %s", x->name,
			 x->m->destination, why);
}

/* ---- destinations -------------------------------------------------------- */

struct dest {
	char *path; /* inside the root; its last component is no symlink */
	int fd;	    /* O_PATH */
	bool existed;
	mode_t mode; /* of the node found there */
};

static void dest_free(struct dest *d)
{
	free(d->path);
	if (d->fd >= 0)
		close(d->fd);
}

/* Follows symlinks in the last component, inside the root and lexically,
 * so that a dangling link (/etc/resolv.conf -> ../run/x) names the path to
 * create. Intermediate components are resolved by openat2. */
static int resolve_last(int rootfd, char **path)
{
	for (int i = 0; i < 40; i++) {
		int fd = base_open_in_root(rootfd, *path, O_PATH | O_NOFOLLOW,
					   0);
		if (fd == -ENOENT)
			return 0;
		if (fd < 0)
			return fd;
		struct stat st;
		char buf[PATH_MAX];
		ssize_t n = 0;
		if (fstat(fd, &st) < 0)
			n = -1;
		else if (S_ISLNK(st.st_mode))
			n = readlinkat(fd, "", buf, sizeof(buf) - 1);
		int e = errno;
		close(fd);
		if (n < 0)
			return -e;
		if (!S_ISLNK(st.st_mode))
			return 0;
		buf[n] = '\0';
		_cleanup_free_ char *dir = path_dir(*path);
		_cleanup_free_ char *joined =
			buf[0] == '/' ? base_strdup(buf)
				      : base_sprintf("%s/%s", dir, buf);
		free(*path);
		*path = rt_path_clean(joined);
	}
	return -ELOOP;
}

static int create_node(int rootfd, const char *path, bool dir)
{
	_cleanup_free_ char *parent = path_dir(path);
	_cleanup_close_ int pfd = base_mkdir_in_root(rootfd, parent, 0755);
	if (pfd < 0)
		return pfd;
	const char *name = path_base(path);
	if (dir)
		return mkdirat(pfd, name, 0755) < 0 && errno != EEXIST ? -errno
								       : 0;
	int fd = openat(pfd, name,
			O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	return 0;
}

/* procfs and sysfs go on an ordinary directory or nowhere: a symlink at
 * the destination would be followed to wherever the image points it, and
 * procfs there escapes the masks set on /proc (runc refuses it too). So
 * their destination's last component is not followed, and what is found
 * there must be a directory. */
static bool pseudo_fs(const struct mctx *x)
{
	return x->m->type && !rt_mount_is_bind(x->m) &&
	       (!strcmp(x->m->type, "proc") || !strcmp(x->m->type, "sysfs"));
}

static int pseudo_fs_dest(struct mctx *x, const struct dest *d)
{
	if (!pseudo_fs(x) || !d->existed || S_ISDIR(d->mode))
		return 0;
	return failx(x, ENOTDIR,
		     S_ISLNK(d->mode) ? "the destination must be an ordinary "
					"directory, not a symlink"
				      : "the destination must be an ordinary "
					"directory");
}

static int dest_open(struct mctx *x, bool dir, struct dest *d)
{
	*d = (struct dest){.fd = -1};
	d->path = rt_path_clean(x->m->destination);
	int r = pseudo_fs(x) ? 0 : resolve_last(x->rootfd, &d->path);
	if (r < 0)
		return fail(x, r);
	if (!strcmp(d->path, "/"))
		return failx(x, EINVAL,
			     "the destination is the container's root");
	int fd = base_open_in_root(x->rootfd, d->path, O_PATH | O_NOFOLLOW, 0);
	if (fd == -ENOENT) {
		r = create_node(x->rootfd, d->path, dir);
		if (r < 0)
			return fail(x, r);
		fd = base_open_in_root(x->rootfd, d->path, O_PATH | O_NOFOLLOW,
				       0);
	} else if (fd >= 0) {
		d->existed = true;
	}
	if (fd < 0)
		return fail(x, fd);
	d->fd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(x, -errno);
	d->mode = st.st_mode;
	if (same_inode(fd, x->rootfd))
		return failx(x, EINVAL,
			     "the destination is the container's root");
	return pseudo_fs_dest(x, d);
}

/* The physical path of fd inside the root, from /proc/self/fd (falls back
 * to the lexical one). Symlinks in the middle of a destination may lead
 * into /proc, which only this path shows. */
static char *dest_real_path(int rootfd, const struct dest *d)
{
	char a[32], b[32], root[PATH_MAX], p[PATH_MAX];
	fd_path(rootfd, a);
	fd_path(d->fd, b);
	ssize_t rn = readlink(a, root, sizeof(root) - 1);
	ssize_t pn = readlink(b, p, sizeof(p) - 1);
	if (rn <= 0 || pn <= 0)
		return base_strdup(d->path);
	root[rn] = p[pn] = '\0';
	size_t l = strcmp(root, "/") ? (size_t)rn : 0;
	if (strncmp(p, root, l) || (p[l] != '/' && p[l] != '\0'))
		return base_strdup(d->path);
	return rt_path_clean(p + l);
}

/* Only procfs itself goes on /proc, and under it only the files that lxcfs
 * emulates: anything else could hide the kernel's masks. */
static int check_proc_dest(struct mctx *x, const struct dest *d, bool is_procfs)
{
	static const char *const allowed[] = {
		"/proc/cpuinfo",
		"/proc/diskstats",
		"/proc/meminfo",
		"/proc/stat",
		"/proc/swaps",
		"/proc/uptime",
		"/proc/loadavg",
		"/proc/slabinfo",
		"/proc/sys/kernel/ns_last_pid",
		"/proc/sys/crypto/fips_enabled",
	};
	_cleanup_free_ char *p = dest_real_path(x->rootfd, d);
	if (!strcmp(p, "/proc")) {
		if (is_procfs)
			return 0;
		return failx(x, EPERM, "only procfs may be mounted on /proc");
	}
	if (!base_str_has_prefix(p, "/proc/"))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		if (!strcmp(p, allowed[i]))
			return 0;
	return failx(x, EPERM, "the destination is inside /proc");
}

/* Per-mount flags, recursive attributes and propagation of a new mount.
 * with_flags: the options' flags still need applying (binds). */
static int finish_mount(struct mctx *x, int mntfd, bool with_flags)
{
	int r = 0;
	unsigned long set = x->op.flags & MNT_MS, clear = x->op.clear & MNT_MS;
	if (with_flags && (set || clear))
		r = rt_mnt_setattr(mntfd, set, clear, false);
	if (r == 0)
		r = setattr_rec(mntfd, &x->op);
	for (size_t i = 0; r == 0 && i < x->op.n_prop; i++)
		r = mnt_propagate(mntfd, x->op.prop[i]);
	return r < 0 ? fail(x, r) : 0;
}

/* ---- binds --------------------------------------------------------------- */

/* A bind whose destination is "/" goes over the root itself, as runc
 * mounts it: the source becomes the container's root from here on (the
 * caller reopens its root fd), and later mounts go into it. */
static int bind_over_root(struct mctx *x, int sfd, const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return failx(x, ENOTDIR, "a bind over `/` needs a directory");
	int mntfd = -1;
	int r = rt_mnt_bind(sfd, x->rootfd, x->op.flags & MS_REC, x->rootfd,
			    "/", &mntfd);
	if (r < 0)
		return fail(x, r);
	r = finish_mount(x, mntfd, true);
	close(mntfd);
	return r;
}

static int mount_bind(struct mctx *x)
{
	if (!x->m->source || !*x->m->source)
		return failx(x, EINVAL, "a bind mount needs a source");
	/* Relative sources are relative to the bundle, our cwd. */
	_cleanup_close_ int sfd =
		x->source_fd >= 0 ? fcntl(x->source_fd, F_DUPFD_CLOEXEC, 3)
				  : open(x->m->source, O_PATH | O_CLOEXEC);
	if (sfd < 0)
		return fail(x, -errno);
	struct stat st;
	if (fstat(sfd, &st) < 0)
		return fail(x, -errno);
	_cleanup_free_ char *clean = rt_path_clean(x->m->destination);
	if (!strcmp(clean, "/"))
		return bind_over_root(x, sfd, &st);
	struct dest d;
	int r = dest_open(x, S_ISDIR(st.st_mode), &d);
	if (r == 0) {
		struct statfs sf;
		bool procfs =
			fstatfs(sfd, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
		r = check_proc_dest(x, &d, procfs);
	}
	if (r < 0) {
		dest_free(&d);
		return r;
	}
	int mntfd = -1;
	if (x->op.flags & MS_REMOUNT)
		mntfd = fcntl(d.fd, F_DUPFD_CLOEXEC, 3);
	else
		r = rt_mnt_bind(sfd, d.fd, x->op.flags & MS_REC, x->rootfd,
				d.path, &mntfd);
	dest_free(&d);
	if (r < 0)
		return fail(x, r);
	/* A bind keeps the source's flags: options need a remount. Flags the
	 * options do not name stay as the source has them. */
	r = finish_mount(x, mntfd, true);
	close(mntfd);
	return r;
}

/* ---- tmpcopyup ----------------------------------------------------------- */

static int copy_tree(int from, int to, int depth);

static int copy_file(int from, int to, const char *name, const struct stat *st)
{
	_cleanup_close_ int in =
		openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return -errno;
	_cleanup_close_ int out =
		openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       st->st_mode & 07777);
	if (out < 0)
		return -errno;
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		int r = base_write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
	if (fchown(out, st->st_uid, st->st_gid) < 0 ||
	    fchmod(out, st->st_mode & 07777) < 0)
		return -errno;
	return 0;
}

static int copy_dir(int from, int to, const char *name, const struct stat *st,
		    int depth)
{
	if (mkdirat(to, name, 0700) < 0)
		return -errno;
	_cleanup_close_ int in = openat(
		from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out = openat(
		to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0 || out < 0)
		return -errno;
	int r = copy_tree(in, out, depth + 1);
	if (r < 0)
		return r;
	if (fchown(out, st->st_uid, st->st_gid) < 0 ||
	    fchmod(out, st->st_mode & 07777) < 0)
		return -errno;
	return 0;
}

static int copy_entry(int from, int to, const char *name, int depth)
{
	struct stat st;
	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return copy_dir(from, to, name, &st, depth);
	if (S_ISREG(st.st_mode))
		return copy_file(from, to, name, &st);
	if (S_ISLNK(st.st_mode)) {
		char buf[PATH_MAX];
		ssize_t n = readlinkat(from, name, buf, sizeof(buf) - 1);
		if (n < 0)
			return -errno;
		buf[n] = '\0';
		if (symlinkat(buf, to, name) < 0)
			return -errno;
	} else if (mknodat(to, name, st.st_mode, st.st_rdev) < 0) {
		return -errno;
	}
	if (fchownat(to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Copies the content of directory from into directory to, keeping modes
 * and owners (tmpcopyup: the new tmpfs starts with what it covers). */
static int copy_tree(int from, int to, int depth)
{
	if (depth > 64)
		return -ELOOP;
	int dfd = fcntl(from, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	_cleanup_closedir_ DIR *dir = fdopendir(dfd);
	if (!dir) {
		close(dfd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = copy_entry(from, to, de->d_name, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

static int tmpcopyup(int olddir, int mntfd)
{
	_cleanup_close_ int to =
		openat(mntfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (to < 0)
		return -errno;
	struct stat st;
	if (fstat(olddir, &st) < 0)
		return -errno;
	int r = copy_tree(olddir, to, 0);
	if (r == 0 && fchown(to, st.st_uid, st.st_gid) < 0)
		r = -errno;
	return r;
}

/* ---- new filesystems ----------------------------------------------------- */

/* A tmpfs keeps the mode of the directory it covers unless mode= says
 * otherwise, and it is made read-only only in rt_rootfs_finalize(), after
 * what goes inside it (devices, mount points, tmpcopyup) exists. */
static char *tmpfs_data(const struct dest *d, const char *data)
{
	if (!d->existed || !S_ISDIR(d->mode))
		return base_strdup(data);
	if (!data)
		return base_sprintf("mode=%04o", d->mode & 07777);
	return base_sprintf("mode=%04o,%s", d->mode & 07777, data);
}

static int sysfs_fallback(struct mctx *x, const struct dest *d, int *mntfd)
{
	_cleanup_close_ int sys =
		open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sys < 0)
		return -errno;
	return rt_mnt_bind(sys, d->fd, true, x->rootfd, d->path, mntfd);
}

static int mount_fresh_at(struct mctx *x, struct dest *d, int *mntfd,
			  bool *was_bind)
{
	const char *type = x->m->type;
	const char *source = x->m->source ? x->m->source : type;
	bool tmpfs = !strcmp(type, "tmpfs");
	unsigned long flags = x->op.flags;
	_cleanup_free_ char *data =
		tmpfs ? tmpfs_data(d, x->op.data) : base_strdup(x->op.data);
	_cleanup_close_ int olddir = -1;
	if (tmpfs && !(flags & MS_REMOUNT))
		flags &= ~(unsigned long)MS_RDONLY;
	if (tmpfs && x->op.tmpcopyup) {
		olddir = base_open_in_root(x->rootfd, d->path,
					   O_RDONLY | O_DIRECTORY, 0);
		if (olddir < 0)
			return olddir;
	}
	int r = rt_mnt_fresh(source, type, flags, data, d->fd, x->rootfd,
			     d->path, mntfd);
	if (r == -EPERM && !strcmp(type, "sysfs") && !x->o->new_netns) {
		r = sysfs_fallback(x, d, mntfd);
		*was_bind = true;
	}
	if (r == 0 && olddir >= 0)
		r = tmpcopyup(olddir, *mntfd);
	return r;
}

static int mount_fresh(struct mctx *x)
{
	struct dest d;
	int r = dest_open(x, true, &d);
	if (r == 0)
		r = check_proc_dest(x, &d, !strcmp(x->m->type, "proc"));
	if (r < 0) {
		dest_free(&d);
		return r;
	}
	int mntfd = -1;
	bool was_bind = false;
	r = mount_fresh_at(x, &d, &mntfd, &was_bind);
	dest_free(&d);
	if (r < 0) {
		if (mntfd >= 0)
			close(mntfd);
		return fail(x, r);
	}
	/* mount(2) applied the flags; a sysfs that fell back to a bind of the
	 * host's /sys needs them as a remount */
	r = finish_mount(x, mntfd, was_bind);
	close(mntfd);
	return r;
}

/* ---- mountinfo and cgroups ----------------------------------------------- */

static char *unescape(const char *s)
{
	char *out = base_calloc(1, strlen(s) + 1), *o = out;
	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] &&
		    s[3]) {
			*o++ = (char)(((s[1] - '0') << 6) |
				      ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	return out;
}

static int parse_mountinfo_line(char *line, struct rt_mountinfo *e)
{
	char *f[64];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " \n", &save); t && n < ARRAY_SIZE(f);
	     t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	size_t sep = 6;
	while (sep < n && strcmp(f[sep], "-"))
		sep++;
	if (n < 7 || sep + 2 >= n)
		return -EINVAL;
	e->root = unescape(f[3]);
	e->mountpoint = unescape(f[4]);
	e->fstype = base_strdup(f[sep + 1]);
	e->super = base_strdup(sep + 3 < n ? f[sep + 3] : "");
	return 0;
}

int rt_mountinfo_read(struct rt_mountinfo **out, size_t *n)
{
	_cleanup_free_ char *buf = NULL;
	int r = base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &buf, NULL,
				  0);
	if (r < 0)
		return r;
	struct rt_mountinfo *v = NULL;
	size_t len = 0;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct rt_mountinfo e = {0};
		if (parse_mountinfo_line(line, &e) < 0)
			continue;
		v = base_realloc(v, len + 1, sizeof(*v));
		v[len++] = e;
	}
	*out = v;
	*n = len;
	return 0;
}

void rt_mountinfo_free(struct rt_mountinfo *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].root);
		free(v[i].mountpoint);
		free(v[i].fstype);
		free(v[i].super);
	}
	free(v);
}

/* What a cgroup mount needs to know about the host. */
struct cg_host {
	struct rt_mountinfo *mi;
	size_t n_mi;
	char *self; /* /proc/self/cgroup */
	bool cgroupns;
};

static void cg_host_free(struct cg_host *h)
{
	rt_mountinfo_free(h->mi, h->n_mi);
	free(h->self);
}

static bool has_ns(const struct oci_config *c, enum oci_ns_type t)
{
	for (size_t i = 0; c->has_linux && i < c->linux_.n_namespaces; i++)
		if (c->linux_.namespaces[i].type == t)
			return true;
	return false;
}

/* True when every controller of ctrls ("cpu,cpuacct") is in super. */
static bool super_has(const char *super, const char *ctrls)
{
	_cleanup_free_ char *c = base_strdup(ctrls);
	char *save = NULL;
	for (char *t = strtok_r(c, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		size_t l = strlen(t);
		const char *p = super;
		bool found = false;
		while (!found && (p = strstr(p, t))) {
			found = (p == super || p[-1] == ',') &&
				(p[l] == ',' || p[l] == '\0');
			p += l;
		}
		if (!found)
			return false;
	}
	return true;
}

/* The host mount of a v1 hierarchy, preferring one in /sys/fs/cgroup. */
static const struct rt_mountinfo *cg_find_v1(const struct cg_host *h,
					     const char *ctrls)
{
	const struct rt_mountinfo *best = NULL;
	for (size_t i = 0; i < h->n_mi; i++) {
		const struct rt_mountinfo *e = &h->mi[i];
		if (strcmp(e->fstype, "cgroup") || !super_has(e->super, ctrls))
			continue;
		if (!best ||
		    base_str_has_prefix(e->mountpoint, "/sys/fs/cgroup/"))
			best = e;
	}
	return best;
}

static const struct rt_mountinfo *cg_find_v2(const struct cg_host *h)
{
	const struct rt_mountinfo *best = NULL;
	for (size_t i = 0; i < h->n_mi; i++) {
		const struct rt_mountinfo *e = &h->mi[i];
		if (strcmp(e->fstype, "cgroup2"))
			continue;
		if (!best ||
		    base_str_has_prefix(e->mountpoint, "/sys/fs/cgroup"))
			best = e;
	}
	return best;
}

/* Our own cgroup inside the hierarchy mounted at e: mountpoint + the part
 * of our path below the mount's root. */
static char *cg_own_dir(const struct rt_mountinfo *e, const char *own)
{
	const char *rel = own;
	size_t l = strlen(e->root);
	if (strcmp(e->root, "/") && !strncmp(own, e->root, l) &&
	    (own[l] == '/' || own[l] == '\0'))
		rel = own + l;
	else if (strcmp(e->root, "/"))
		rel = "/";
	return base_sprintf("%s/%s", e->mountpoint, rel);
}

static int cg_bind(struct mctx *x, const char *dpath, const char *src)
{
	_cleanup_close_ int sfd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	_cleanup_close_ int dfd = base_mkdir_in_root(x->rootfd, dpath, 0755);
	if (dfd < 0)
		return dfd;
	int mntfd = -1;
	int r = rt_mnt_bind(sfd, dfd, true, x->rootfd, dpath, &mntfd);
	if (r < 0)
		return r;
	r = rt_mnt_setattr(mntfd, x->op.flags & MNT_MS, x->op.clear & MNT_MS,
			   false);
	close(mntfd);
	return r;
}

static int cg_fresh(struct mctx *x, const char *dpath, const char *type,
		    const char *data)
{
	_cleanup_close_ int dfd = base_mkdir_in_root(x->rootfd, dpath, 0755);
	if (dfd < 0)
		return dfd;
	unsigned long flags = x->op.flags & (MNT_MS | MS_SILENT);
	return rt_mnt_fresh(type, type, flags, data, dfd, x->rootfd, dpath,
			    NULL);
}

/* One v1 hierarchy ("ID:ctrls:path" of /proc/self/cgroup) under dir. */
static int cg_v1_one(struct mctx *x, const struct cg_host *h, int dirfd,
		     const char *dir, const char *ctrls, const char *own)
{
	const struct rt_mountinfo *e = cg_find_v1(h, ctrls);
	if (!e)
		return 0;
	const char *name = path_base(e->mountpoint);
	_cleanup_free_ char *dpath = base_sprintf("%s/%s", dir, name);
	int r;
	if (h->cgroupns) {
		r = cg_fresh(x, dpath, "cgroup", ctrls);
	} else {
		_cleanup_free_ char *src = cg_own_dir(e, own);
		r = cg_bind(x, dpath, src);
	}
	if (r < 0 || !strchr(name, ','))
		return r;
	/* cpu,cpuacct is also reachable as cpu and cpuacct */
	_cleanup_free_ char *parts = base_strdup(name);
	char *save = NULL;
	for (char *t = strtok_r(parts, ",", &save); t;
	     t = strtok_r(NULL, ",", &save))
		if (symlinkat(name, dirfd, t) < 0 && errno != EEXIST)
			return -errno;
	return 0;
}

static int cg_v2_under(struct mctx *x, const struct cg_host *h,
		       const char *dpath, const char *own)
{
	const struct rt_mountinfo *e = cg_find_v2(h);
	if (!e)
		return 0;
	if (h->cgroupns)
		return cg_fresh(x, dpath, "cgroup2", NULL);
	_cleanup_free_ char *src = cg_own_dir(e, own);
	return cg_bind(x, dpath, src);
}

/* Each line of /proc/self/cgroup becomes a mount under the tmpfs. */
static int cg_v1_all(struct mctx *x, const struct cg_host *h, int dirfd,
		     const char *dir)
{
	_cleanup_free_ char *self = base_strdup(h->self);
	char *save = NULL;
	for (char *line = strtok_r(self, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *own = c2 + 1;
		int r;
		if (*ctrls) {
			r = cg_v1_one(x, h, dirfd, dir, ctrls, own);
		} else {
			_cleanup_free_ char *u =
				base_sprintf("%s/unified", dir);
			r = cg_v2_under(x, h, u, own);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* v1 or hybrid host: a tmpfs holding one mount per hierarchy, as runc
 * lays it out: binds of our own cgroups, or fresh mounts in a cgroup
 * namespace (where our cgroup is the root). */
static int mount_cgroup_v1(struct mctx *x, const struct cg_host *h)
{
	struct dest d;
	int r = dest_open(x, true, &d);
	if (r < 0) {
		dest_free(&d);
		return r;
	}
	int mntfd = -1;
	r = rt_mnt_fresh("tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			 "mode=755", d.fd, x->rootfd, d.path, &mntfd);
	if (r == 0) {
		_cleanup_close_ int dirfd =
			openat(mntfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = dirfd < 0 ? -errno : cg_v1_all(x, h, dirfd, d.path);
	}
	if (r == 0 && (x->op.flags & MS_RDONLY))
		r = rt_mnt_setattr(mntfd, MS_RDONLY, 0, false);
	dest_free(&d);
	if (r < 0) {
		if (mntfd >= 0)
			close(mntfd);
		return fail(x, r);
	}
	r = finish_mount(x, mntfd, false);
	close(mntfd);
	return r;
}

/* What stands in for a cgroup2 mount the kernel refuses: with a cgroup
 * namespace our own cgroup (as if it were the root), else the hierarchy. */
static char *cg_v2_bind_source(const struct cg_host *h)
{
	const struct rt_mountinfo *e = cg_find_v2(h);
	if (!e)
		return NULL;
	const char *own = NULL;
	if (h->self && !strncmp(h->self, "0::", 3))
		own = h->self;
	else if (h->self)
		own = strstr(h->self, "\n0::");
	if (own && *own == '\n')
		own++;
	if (!h->cgroupns || !own)
		return base_strdup(e->mountpoint);
	_cleanup_free_ char *path = strndup(own + 3, strcspn(own + 3, "\n"));
	return path ? cg_own_dir(e, path) : NULL;
}

/* Pure v2 host (or type cgroup2): a fresh cgroup2; where the kernel refuses
 * (a user namespace without a cgroup namespace) a bind of our own cgroup,
 * or of the whole hierarchy, as runc does. */
static int mount_cgroup_v2(struct mctx *x, const struct cg_host *h)
{
	struct dest d;
	int r = dest_open(x, true, &d);
	if (r < 0) {
		dest_free(&d);
		return r;
	}
	unsigned long flags = x->op.flags & (MNT_MS | MS_SILENT);
	int mntfd = -1;
	const char *src = x->m->source ? x->m->source : "cgroup2";
	r = rt_mnt_fresh(src, "cgroup2", flags, x->op.data, d.fd, x->rootfd,
			 d.path, &mntfd);
	if (r == -EPERM || r == -EBUSY) {
		_cleanup_free_ char *bsrc = cg_v2_bind_source(h);
		_cleanup_close_ int sfd =
			bsrc ? open(bsrc, O_PATH | O_DIRECTORY | O_CLOEXEC)
			     : -1;
		if (sfd >= 0)
			r = rt_mnt_bind(sfd, d.fd, true, x->rootfd, d.path,
					&mntfd);
		if (r == 0)
			r = rt_mnt_setattr(mntfd, flags & MNT_MS,
					   x->op.clear & MNT_MS, false);
	}
	dest_free(&d);
	if (r < 0) {
		if (mntfd >= 0)
			close(mntfd);
		return fail(x, r);
	}
	r = finish_mount(x, mntfd, false);
	close(mntfd);
	return r;
}

static int mount_cgroup(struct mctx *x)
{
	struct cg_host h = {.cgroupns = has_ns(x->c, OCI_NS_CGROUP)};
	int r = rt_mountinfo_read(&h.mi, &h.n_mi);
	if (r == 0)
		r = base_read_file_at(AT_FDCWD, "/proc/self/cgroup", &h.self,
				      NULL, 0);
	if (r < 0) {
		cg_host_free(&h);
		return fail(x, r);
	}
	bool v1 = false;
	for (size_t i = 0; i < h.n_mi; i++)
		v1 = v1 || !strcmp(h.mi[i].fstype, "cgroup");
	if (v1 && !strcmp(x->m->type, "cgroup"))
		r = mount_cgroup_v1(x, &h);
	else
		r = mount_cgroup_v2(x, &h);
	cg_host_free(&h);
	return r;
}

/* ---- dispatch ------------------------------------------------------------ */

static int mount_dispatch(struct mctx *x)
{
	if (x->op.idmap || x->m->n_uid_mappings || x->m->n_gid_mappings)
		return failx(x, EOPNOTSUPP,
			     "idmapped mounts are not supported");
	if (rt_mount_is_bind(x->m))
		return mount_bind(x);
	if (!x->m->type || !*x->m->type)
		return failx(x, EINVAL, "the mount has no type");
	if (!strcmp(x->m->type, "cgroup") || !strcmp(x->m->type, "cgroup2"))
		return mount_cgroup(x);
	return mount_fresh(x);
}

bool rt_bind_source_from_parent(const struct oci_config *c,
				const struct oci_mount *m)
{
	const struct oci_namespace *user = rt_ns_find(c, OCI_NS_USER);
	return user && !user->path && rt_mount_is_bind(m) && m->source &&
	       *m->source;
}

int rt_mount_one(int rootfd, const struct oci_config *c,
		 const struct oci_mount *m, const struct rt_rootfs_opts *o,
		 int source_fd, struct berr *err)
{
	struct mctx x = {.rootfd = rootfd,
			 .c = c,
			 .m = m,
			 .o = o,
			 .err = err,
			 .source_fd = source_fd};
	if (!m->destination || !*m->destination)
		return berr_setx(err, EINVAL,
				 "mount: a mount has no destination");
	bool bind = rt_mount_is_bind(m);
	x.name = bind ? (m->source ? m->source : "")
		      : (m->type ? m->type : (m->source ? m->source : ""));
	int r = rt_mntopts_parse(m->options, &x.op);
	if (r == 0)
		r = mount_dispatch(&x);
	else
		r = fail(&x, r);
	rt_mntopts_free(&x.op);
	return r;
}
