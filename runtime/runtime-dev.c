/* /dev inside the container: the runtime-spec's default devices (null,
 * zero, full, random, urandom, tty), linux.devices, and the symlinks of
 * runtime-linux.md (fd, stdin, stdout, stderr, ptmx).
 *
 * Nodes are made with mknodat() in a parent directory resolved inside the
 * rootfs. Where mknod is not permitted (a user namespace) the host's node
 * is bind-mounted instead; the host's node is only ever opened O_PATH,
 * never changed. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "runtime/runtime-rootfs-internal.h"

struct dev {
	const char *path;
	char type;
	int64_t major, minor;
	mode_t mode;
	bool has_uid, has_gid;
	uid_t uid;
	gid_t gid;
};

static const struct dev default_devs[] = {
	{"/dev/null", 'c', 1, 3, 0666, false, false, 0, 0},
	{"/dev/zero", 'c', 1, 5, 0666, false, false, 0, 0},
	{"/dev/full", 'c', 1, 7, 0666, false, false, 0, 0},
	{"/dev/random", 'c', 1, 8, 0666, false, false, 0, 0},
	{"/dev/urandom", 'c', 1, 9, 0666, false, false, 0, 0},
	{"/dev/tty", 'c', 5, 0, 0666, false, false, 0, 0},
};

bool rt_dev_needs_setup(const struct oci_config *c)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct oci_mount *m = &c->mounts[i];
		if (!m->destination || !rt_mount_is_bind(m))
			continue;
		_cleanup_free_ char *p = rt_path_clean(m->destination);
		if (!strcmp(p, "/dev"))
			return false;
	}
	return true;
}

static mode_t dev_fmt(char type)
{
	switch (type) {
	case 'b':
		return S_IFBLK;
	case 'p':
		return S_IFIFO;
	default:
		return S_IFCHR;
	}
}

/* mknodat, replacing whatever the image left there unless it already is
 * the same device: an image's /dev/null may be a file or a symlink. */
static int mknod_replace(int pfd, const char *name, mode_t mode, dev_t rdev)
{
	if (mknodat(pfd, name, mode, rdev) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if ((st.st_mode & S_IFMT) == (mode & S_IFMT) &&
	    (S_ISFIFO(mode) || st.st_rdev == rdev))
		return fchmodat(pfd, name, mode & 07777, 0) < 0 ? -errno : 0;
	if (S_ISDIR(st.st_mode))
		return -EEXIST;
	if (unlinkat(pfd, name, 0) < 0)
		return -errno;
	return mknodat(pfd, name, mode, rdev) < 0 ? -errno : 0;
}

/* An empty regular file to bind a node on; never opens what is there. */
static int make_placeholder(int pfd, const char *name)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(st.st_mode))
			return 0;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (unlinkat(pfd, name, 0) < 0)
			return -errno;
	} else if (errno != ENOENT) {
		return -errno;
	}
	int fd = openat(pfd, name,
			O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
			0644);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* The user-namespace way: an empty file with the host's node bound on it. */
static int bind_host_node(int pfd, const char *name, const struct dev *d)
{
	_cleanup_close_ int src = open(d->path, O_PATH | O_CLOEXEC);
	if (src < 0)
		return -errno;
	struct stat st;
	if (fstat(src, &st) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return -ENODEV;
	int r = make_placeholder(pfd, name);
	if (r < 0)
		return r;
	_cleanup_close_ int dst =
		openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0)
		return -errno;
	return rt_mnt_bind(src, dst, false, -1, NULL, NULL);
}

static int make_dev(int rootfd, const struct dev *d, bool userns,
		    struct berr *err)
{
	if (!d->path || d->path[0] != '/')
		return berr_setx(err, EINVAL,
				 "mknod `%s`: the path must be "
				 "absolute",
				 d->path ? d->path : "");
	_cleanup_free_ char *path = rt_path_clean(d->path);
	if (!strcmp(path, "/"))
		return berr_setx(err, EINVAL,
				 "mknod `%s`: the path is the "
				 "container's root",
				 d->path);
	_cleanup_free_ char *parent = base_strdup(path);
	*strrchr(parent, '/') = '\0';
	const char *name = strrchr(path, '/') + 1;
	_cleanup_close_ int pfd =
		base_mkdir_in_root(rootfd, *parent ? parent : "/", 0755);
	if (pfd < 0)
		return berr_set(err, -pfd, "mknod `%s`", d->path);
	mode_t fmt = dev_fmt(d->type);
	dev_t rdev = fmt == S_IFIFO
			     ? 0
			     : makedev((unsigned)d->major, (unsigned)d->minor);
	int r = -EPERM;
	if (!userns || fmt == S_IFIFO)
		r = mknod_replace(pfd, name, fmt | (d->mode & 07777), rdev);
	if (r == -EPERM && fmt != S_IFIFO) {
		r = bind_host_node(pfd, name, d);
		return r < 0 ? berr_set(err, -r, "mknod `%s`", d->path) : 0;
	}
	if (r < 0)
		return berr_set(err, -r, "mknod `%s`", d->path);
	if ((d->has_uid || d->has_gid) &&
	    fchownat(pfd, name, d->has_uid ? d->uid : (uid_t)-1,
		     d->has_gid ? d->gid : (gid_t)-1, AT_SYMLINK_NOFOLLOW) < 0)
		return berr_set(err, errno, "chown `%s`", d->path);
	return 0;
}

static void dev_from_oci(const struct oci_device *o, struct dev *d)
{
	*d = (struct dev){
		.path = o->path,
		.type = o->type,
		.major = o->major,
		.minor = o->minor,
		.mode = o->has_file_mode ? (mode_t)(o->file_mode & 07777)
					 : 0666,
		.has_uid = o->has_uid,
		.has_gid = o->has_gid,
		.uid = o->uid,
		.gid = o->gid,
	};
}

static bool configured(const struct oci_config *c, const char *path)
{
	for (size_t i = 0; c->has_linux && i < c->linux_.n_devices; i++) {
		const char *p = c->linux_.devices[i].path;
		if (!p)
			continue;
		_cleanup_free_ char *clean = rt_path_clean(p);
		if (!strcmp(clean, path))
			return true;
	}
	return false;
}

static int make_all(int rootfd, const struct oci_config *c, bool userns,
		    struct berr *err)
{
	for (size_t i = 0; c->has_linux && i < c->linux_.n_devices; i++) {
		struct dev d;
		dev_from_oci(&c->linux_.devices[i], &d);
		int r = make_dev(rootfd, &d, userns, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_devs); i++) {
		if (configured(c, default_devs[i].path))
			continue;
		int r = make_dev(rootfd, &default_devs[i], userns, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int make_links(int rootfd, struct berr *err)
{
	static const struct {
		const char *target, *name;
	} links[] = {
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	};
	_cleanup_close_ int dev = base_mkdir_in_root(rootfd, "/dev", 0755);
	if (dev < 0)
		return berr_set(err, -dev, "mkdir `/dev`");
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlinkat(links[i].target, dev, links[i].name) < 0 &&
		    errno != EEXIST)
			return berr_set(err, errno, "symlink `/dev/%s`",
					links[i].name);
	/* /dev/ptmx must be the devpts instance's, whatever the image has */
	if (unlinkat(dev, "ptmx", 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove `/dev/ptmx`");
	if (symlinkat("pts/ptmx", dev, "ptmx") < 0)
		return berr_set(err, errno, "symlink `/dev/ptmx`");
	return 0;
}

int rt_dev_setup(int rootfd, const struct oci_config *c,
		 const struct rt_rootfs_opts *o, struct berr *err)
{
	/* fileMode is exact: no umask on the nodes */
	mode_t old = umask(0);
	int r = make_all(rootfd, c, o->new_userns, err);
	umask(old);
	if (r < 0)
		return r;
	return make_links(rootfd, err);
}

int rt_dev_open_null(int rootfd)
{
	int fd = base_open_in_root(rootfd, "/dev/null", O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    st.st_rdev != makedev(1, 3)) {
		close(fd);
		return -ENODEV;
	}
	return fd;
}
