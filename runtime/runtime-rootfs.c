/* The container's root filesystem, in three steps run by the container
 * init in its new mount namespace:
 *
 *   prepare   propagation of "/", the rootfs bound onto itself, the
 *             config's mounts (runtime-mount.c), /dev (runtime-dev.c)
 *   pivot     pivot_root into the rootfs and drop the old root
 *   finalize  sysctls, readonlyPaths, maskedPaths, deferred read-only
 *             tmpfs mounts, root.readonly
 *
 * The order follows runc's, so that bundles behave the same. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "runtime/runtime-rootfs-internal.h"

static unsigned long root_propagation(const struct oci_config *c)
{
	switch (c->has_linux ? c->linux_.rootfs_propagation
			     : OCI_PROPAGATION_UNSET) {
	case OCI_PROPAGATION_PRIVATE:
		return MS_PRIVATE;
	case OCI_PROPAGATION_SHARED:
		return MS_SHARED;
	case OCI_PROPAGATION_UNBINDABLE:
		return MS_UNBINDABLE;
	case OCI_PROPAGATION_SLAVE:
	case OCI_PROPAGATION_UNSET:
	default:
		return MS_SLAVE;
	}
}

/* The mount holding the rootfs becomes private: the bind below then
 * neither propagates to the host nor trips pivot_root's check that the
 * new root's parent is not shared. */
static int parent_private(const char *rootfs)
{
	_cleanup_free_ char *p = base_strdup(rootfs);
	for (;;) {
		if (mount(NULL, p, NULL, MS_PRIVATE, NULL) == 0)
			return 0;
		if (errno != EINVAL || !strcmp(p, "/"))
			return -errno;
		char *s = strrchr(p, '/');
		if (s == p)
			s[1] = '\0';
		else
			*s = '\0';
	}
}

static int prepare_root(const struct oci_config *c, const char *rootfs,
			struct berr *err)
{
	/* Recursively, so that no mount below "/" still sends events to the
	 * host's peers (runc's default is rslave). */
	if (mount(NULL, "/", NULL, MS_REC | root_propagation(c), NULL) < 0)
		return berr_set(err, errno, "set the propagation of `/`");
	int r = parent_private(rootfs);
	if (r < 0)
		return berr_set(err, -r,
				"make the parent mount of `%s` private",
				rootfs);
	if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return berr_set(err, errno, "bind `%s` onto itself", rootfs);
	return 0;
}

static int reopen_if_root(const char *dest, const char *rootfs, int *rootfd,
			  struct berr *err)
{
	_cleanup_free_ char *clean = rt_path_clean(dest ? dest : "");
	if (strcmp(clean, "/"))
		return 0;
	int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open rootfs `%s`", rootfs);
	close(*rootfd);
	*rootfd = fd;
	return 0;
}

int rt_rootfs_prepare(const struct oci_config *c,
		      const struct rt_rootfs_opts *o, struct berr *err)
{
	_cleanup_free_ char *rootfs = realpath(o->rootfs, NULL);
	if (!rootfs)
		return berr_set(err, errno, "rootfs `%s`", o->rootfs);
	int r = prepare_root(c, rootfs, err);
	if (r < 0)
		return r;
	/* Opened after the bind: lookups from it see the mounts made on it. */
	_cleanup_close_ int rootfd =
		open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open rootfs `%s`", rootfs);
	bool joined = !o->join_cgroup;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const char *t = c->mounts[i].type;
		if (!joined && t && !strncmp(t, "cgroup", 6)) {
			if ((r = o->join_cgroup(o->join_arg, err)) < 0)
				return r;
			joined = true;
		}
		r = rt_mount_one(rootfd, c, &c->mounts[i], o,
				 o->source_fds ? o->source_fds[i] : -1, err);
		if (r < 0)
			return r;
		/* a bind over "/" replaced what the root shows */
		if ((r = reopen_if_root(c->mounts[i].destination, rootfs,
					&rootfd, err)) < 0)
			return r;
	}
	if (rt_dev_needs_setup(c))
		return rt_dev_setup(rootfd, c, o, err);
	return 0;
}

/* ---- pivot --------------------------------------------------------------- */

static int pivot(const char *rootfs, struct berr *err)
{
	_cleanup_close_ int oldroot =
		open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return berr_set(err, errno, "open `/`");
	_cleanup_close_ int newroot =
		open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		return berr_set(err, errno, "open rootfs `%s`", rootfs);
	if (fchdir(newroot) < 0)
		return berr_set(err, errno, "chdir `%s`", rootfs);
	/* pivot_root(".", ".") stacks the old root on the new one; no
	 * directory for it is needed in the image. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return berr_set(err, errno, "pivot_root `%s`", rootfs);
	if (fchdir(oldroot) < 0)
		return berr_set(err, errno, "chdir to the old root");
	/* slave first, so that the unmount never reaches the host */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return berr_set(err, errno, "make the old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		return berr_set(err, errno, "unmount the old root");
	if (chdir("/") < 0)
		return berr_set(err, errno, "chdir `/`");
	return 0;
}

static bool path_under(const char *p, const char *dir)
{
	size_t l = strlen(dir);
	return !strncmp(p, dir, l) && (p[l] == '/' || p[l] == '\0');
}

/* With chroot the host's procfs and sysfs stay reachable in the mount
 * namespace, and their presence lets the container mount new ones: detach
 * them (or cover them where that is refused), as runc does. */
static int hide_host_procfs(const char *rootfs, struct berr *err)
{
	struct rt_mountinfo *mi = NULL;
	size_t n = 0;
	int r = rt_mountinfo_read(&mi, &n);
	if (r < 0)
		return berr_set(err, -r, "read `/proc/self/mountinfo`");
	for (size_t i = n; r == 0 && i-- > 0;) {
		const struct rt_mountinfo *e = &mi[i];
		if (strcmp(e->root, "/") || path_under(e->mountpoint, rootfs) ||
		    (strcmp(e->fstype, "proc") && strcmp(e->fstype, "sysfs")))
			continue;
		const char *p = e->mountpoint;
		if (mount(NULL, p, NULL, MS_SLAVE | MS_REC, NULL) < 0) {
			if (errno != ENOENT && errno != EINVAL)
				r = berr_set(err, errno, "make `%s` rslave", p);
			continue;
		}
		if (umount2(p, MNT_DETACH) == 0)
			continue;
		if ((errno != EINVAL && errno != EPERM) ||
		    mount("tmpfs", p, "tmpfs", 0, NULL) < 0)
			r = berr_set(err, errno, "hide `%s`", p);
	}
	rt_mountinfo_free(mi, n);
	return r;
}

static int move_root(const char *rootfs, struct berr *err)
{
	int r = hide_host_procfs(rootfs, err);
	if (r < 0)
		return r;
	if (chdir(rootfs) < 0)
		return berr_set(err, errno, "chdir `%s`", rootfs);
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		return berr_set(err, errno, "move `%s` to `/`", rootfs);
	if (chroot(".") < 0)
		return berr_set(err, errno, "chroot `%s`", rootfs);
	if (chdir("/") < 0)
		return berr_set(err, errno, "chdir `/`");
	return 0;
}

int rt_rootfs_pivot(const struct oci_config *c, const struct rt_rootfs_opts *o,
		    struct berr *err)
{
	_cleanup_free_ char *rootfs = realpath(o->rootfs, NULL);
	if (!rootfs)
		return berr_set(err, errno, "rootfs `%s`", o->rootfs);
	int r = o->no_pivot ? move_root(rootfs, err) : pivot(rootfs, err);
	if (r < 0)
		return r;
	/* The container's own "/" gets rootfsPropagation now that it is no
	 * longer the host's (private already holds since prepare). */
	unsigned long prop = root_propagation(c);
	bool set = c->has_linux &&
		   c->linux_.rootfs_propagation != OCI_PROPAGATION_UNSET;
	if (set && prop != MS_PRIVATE &&
	    mount(NULL, "/", NULL, MS_REC | prop, NULL) < 0)
		return berr_set(err, errno, "set the propagation of `/`");
	return 0;
}

/* ---- finalize ------------------------------------------------------------ */

static int readonly_path(int rootfd, const char *path, struct berr *err)
{
	_cleanup_close_ int fd = base_open_in_root(rootfd, path, O_PATH, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return berr_set(err, -fd, "readonly path `%s`", path);
	int mntfd = -1;
	int r = rt_mnt_bind(fd, fd, true, rootfd, path, &mntfd);
	if (r == 0) {
		r = rt_mnt_setattr(mntfd, MS_RDONLY, 0, false);
		close(mntfd);
	}
	return r < 0 ? berr_set(err, -r, "readonly path `%s`", path) : 0;
}

static int mask_path(int rootfd, int nullfd, const char *path, struct berr *err)
{
	_cleanup_close_ int fd = base_open_in_root(rootfd, path, O_PATH, 0);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return berr_set(err, -fd, "masked path `%s`", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "masked path `%s`", path);
	int r;
	if (S_ISDIR(st.st_mode))
		r = rt_mnt_fresh("tmpfs", "tmpfs",
				 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
				 NULL, fd, rootfd, path, NULL);
	else
		r = rt_mnt_bind(nullfd, fd, false, rootfd, path, NULL);
	return r < 0 ? berr_set(err, -r, "masked path `%s`", path) : 0;
}

static int mask_paths(int rootfd, char **paths, struct berr *err)
{
	if (!paths || !paths[0])
		return 0;
	_cleanup_close_ int nullfd = rt_dev_open_null(rootfd);
	if (nullfd == -ENODEV)
		return berr_setx(err, ENODEV,
				 "masked paths: `/dev/null` is "
				 "not the null device");
	if (nullfd < 0)
		return berr_set(err, -nullfd, "masked paths: open `/dev/null`");
	for (size_t i = 0; paths[i]; i++) {
		int r = mask_path(rootfd, nullfd, paths[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* tmpfs mounts asked read-only were mounted read-write (see
 * runtime-mount.c): what goes inside them exists now. */
static int readonly_tmpfs(int rootfd, const struct oci_config *c,
			  struct berr *err)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct oci_mount *m = &c->mounts[i];
		if (!m->type || strcmp(m->type, "tmpfs") || rt_mount_is_bind(m))
			continue;
		struct rt_mntopts op;
		int r = rt_mntopts_parse(m->options, &op);
		bool ro = r == 0 && (op.flags & MS_RDONLY) &&
			  !(op.flags & MS_REMOUNT);
		rt_mntopts_free(&op);
		if (!ro)
			continue;
		_cleanup_close_ int fd =
			base_open_in_root(rootfd, m->destination, O_PATH, 0);
		r = fd < 0 ? fd : rt_mnt_setattr(fd, MS_RDONLY, 0, false);
		if (r < 0)
			return berr_set(err, -r, "remount `%s` read-only",
					m->destination);
	}
	return 0;
}

int rt_rootfs_finalize(const struct oci_config *c,
		       const struct rt_rootfs_opts *o, struct berr *err)
{
	(void)o;
	_cleanup_close_ int rootfd =
		open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open `/`");
	int r = rt_sysctl_apply(c, err);
	for (size_t i = 0; r == 0 && c->has_linux && c->linux_.readonly_paths &&
			   c->linux_.readonly_paths[i];
	     i++)
		r = readonly_path(rootfd, c->linux_.readonly_paths[i], err);
	if (r == 0 && c->has_linux)
		r = mask_paths(rootfd, c->linux_.masked_paths, err);
	if (r == 0)
		r = readonly_tmpfs(rootfd, c, err);
	if (r == 0 && c->root.readonly) {
		r = rt_mnt_setattr(rootfd, MS_RDONLY, 0, false);
		if (r < 0)
			return berr_set(err, -r, "remount `/` read-only");
	}
	return r;
}
