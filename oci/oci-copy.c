/* A plain rootfs from an image's layers: what overlayfs would show, made
 * of copies. `image unpack` writes bundles this way, and a runtime without
 * overlayfs (or inside a user namespace that cannot mount it) can too.
 *
 * The layer directories hold whiteouts in overlayfs form, so the same
 * rules apply here: a 0:0 character device deletes the name below it, a
 * directory marked trusted.overlay.opaque hides everything lower layers
 * put in it, and a directory over a directory merges. Both trees are
 * walked with directory fds and *at() calls that never follow a symlink,
 * so a link planted by one layer cannot redirect a later one's writes. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "oci/oci-image-internal.h"

#define OVL_OPAQUE "trusted.overlay.opaque"
#define MAX_DEPTH 200

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *path; /* where the first copy went, relative to the rootfs */
};

struct copy {
	int rootfd;
	const char *what;
	struct berr *err;
	struct hardlink *links;
	size_t n_links;
};

static int copy_fail(struct copy *c, int code, const char *path, const char *op)
{
	return berr_setx(c->err, code, "%s: %s `/%s`: %s", c->what, op, path,
			 strerror(code));
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(int dirfd)
{
	char v[2] = "";
	ssize_t n = fgetxattr(dirfd, OVL_OPAQUE, v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

/* Copies the xattrs of src to dst (fds; through /proc/self/fd when they
 * are O_PATH), except overlayfs' own. */
static int copy_xattrs(struct copy *c, int src, int dst, bool proc,
		       const char *path)
{
	char sp[64], dp[64];
	snprintf(sp, sizeof(sp), "/proc/self/fd/%d", src);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d", dst);
	char names[8192];
	ssize_t n = proc ? listxattr(sp, names, sizeof(names))
			 : flistxattr(src, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP
			       ? 0
			       : copy_fail(c, errno, path, "list xattrs");
	for (char *name = names; name < names + n; name += strlen(name) + 1) {
		if (base_str_has_prefix(name, "trusted.overlay."))
			continue;
		char value[65536];
		ssize_t v = proc ? getxattr(sp, name, value, sizeof(value))
				 : fgetxattr(src, name, value, sizeof(value));
		if (v < 0)
			return copy_fail(c, errno, path, "read xattr");
		int r = proc ? setxattr(dp, name, value, (size_t)v, 0)
			     : fsetxattr(dst, name, value, (size_t)v, 0);
		if (r < 0 && (!strcmp(name, "security.capability") ||
			      (errno != ENOTSUP && errno != EPERM)))
			return copy_fail(c, errno, path, "write xattr");
	}
	return 0;
}

/* Owner, mode, xattrs and times of dst (an open fd) from st. */
static int copy_meta_fd(struct copy *c, int src, int dst, const struct stat *st,
			const char *path)
{
	if (fchown(dst, st->st_uid, st->st_gid) < 0)
		return copy_fail(c, errno, path, "chown");
	if (fchmod(dst, st->st_mode & 07777) < 0)
		return copy_fail(c, errno, path, "chmod");
	int r = copy_xattrs(c, src, dst, false, path);
	if (r < 0)
		return r;
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (futimens(dst, ts) < 0)
		return copy_fail(c, errno, path, "set times");
	return 0;
}

static int copy_range(int in, int out, off_t off, off_t len)
{
	if (lseek(in, off, SEEK_SET) < 0 || lseek(out, off, SEEK_SET) < 0)
		return -errno;
	while (len > 0) {
		ssize_t n =
			copy_file_range(in, NULL, out, NULL, (size_t)len, 0);
		if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			      errno == ENOSYS || errno == EOPNOTSUPP))
			n = sendfile(out, in, NULL, (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* the file shrank: keep what is there */
		len -= n;
	}
	return 0;
}

/* Copies the data of in and leaves its holes as holes: a sparse file of a
 * layer (1 TiB of one fits in a tiny archive) must not become as many
 * zeros in the rootfs. copy_file_range alone reads holes as zeros and
 * writes them on filesystems that cannot share extents. */
static int copy_data(int in, int out, off_t size)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* a hole to the end */
		if (data < 0)
			return -errno;
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > size)
			hole = size;
		if (data >= hole)
			break;
		int r = copy_range(in, out, data, hole - data);
		if (r < 0)
			return r;
		pos = hole;
	}
	return ftruncate(out, size) < 0 ? -errno : 0;
}

/* Removes dst/name whatever it is (a directory recursively). */
static int clear(struct copy *c, int dst, const char *name, const char *path)
{
	int r = base_rm_rf_at(dst, name);
	return r < 0 ? copy_fail(c, -r, path, "remove") : 0;
}

static int link_again(struct copy *c, const struct stat *st, int dst,
		      const char *name, const char *path, bool *done)
{
	*done = false;
	for (size_t i = 0; i < c->n_links; i++) {
		struct hardlink *h = &c->links[i];
		if (h->dev != st->st_dev || h->ino != st->st_ino)
			continue;
		char *slash = strrchr(h->path, '/');
		_cleanup_free_ char *dir =
			slash ? base_sprintf("%.*s", (int)(slash - h->path),
					     h->path)
			      : base_strdup("");
		_cleanup_close_ int parent =
			oci_open_dir_nofollow(c->rootfd, dir, false, NULL);
		if (parent < 0 || linkat(parent, slash ? slash + 1 : h->path,
					 dst, name, 0) < 0)
			return copy_fail(c, parent < 0 ? -parent : errno, path,
					 "link");
		*done = true;
		return 0;
	}
	c->links = base_realloc(c->links, c->n_links + 1, sizeof(*c->links));
	c->links[c->n_links++] =
		(struct hardlink){st->st_dev, st->st_ino, base_strdup(path)};
	return 0;
}

static int copy_file(struct copy *c, int src, int dst, const char *name,
		     const struct stat *st, const char *path)
{
	if (st->st_nlink > 1) {
		bool done;
		int r = link_again(c, st, dst, name, path, &done);
		if (r < 0 || done)
			return r;
	}
	_cleanup_close_ int in =
		openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return copy_fail(c, errno, path, "open");
	_cleanup_close_ int out = openat(
		dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		0600);
	if (out < 0)
		return copy_fail(c, errno, path, "create");
	int r = copy_data(in, out, st->st_size);
	if (r < 0)
		return copy_fail(c, -r, path, "copy");
	return copy_meta_fd(c, in, out, st, path);
}

static int copy_symlink(struct copy *c, int src, int dst, const char *name,
			const struct stat *st, const char *path)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
	if (n < 0)
		return copy_fail(c, errno, path, "readlink");
	target[n] = '\0';
	if (symlinkat(target, dst, name) < 0)
		return copy_fail(c, errno, path, "symlink");
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) <
	    0)
		return copy_fail(c, errno, path, "chown");
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, path, "set times");
	return 0;
}

static int copy_node(struct copy *c, int src, int dst, const char *name,
		     const struct stat *st, const char *path)
{
	if (mknodat(dst, name, st->st_mode & (S_IFMT | 0600), st->st_rdev) < 0)
		return copy_fail(c, errno, path, "mknod");
	if (fchownat(dst, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) <
	    0)
		return copy_fail(c, errno, path, "chown");
	if (fchmodat(dst, name, st->st_mode & 07777, 0) < 0)
		return copy_fail(c, errno, path, "chmod");
	_cleanup_close_ int s =
		openat(src, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int d =
		openat(dst, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0 || d < 0)
		return copy_fail(c, errno, path, "open");
	int r = copy_xattrs(c, s, d, true, path);
	if (r < 0)
		return r;
	struct timespec ts[2] = {st->st_atim, st->st_mtim};
	if (utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, path, "set times");
	return 0;
}

static int copy_tree(struct copy *c, int src, int dst, const char *path,
		     int depth);

static int copy_dir(struct copy *c, int src, int dst, const char *name,
		    const struct stat *st, const char *path, int depth)
{
	_cleanup_close_ int s = openat(
		src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return copy_fail(c, errno, path, "open");
	struct stat dt;
	bool merge = fstatat(dst, name, &dt, AT_SYMLINK_NOFOLLOW) == 0 &&
		     S_ISDIR(dt.st_mode) && !is_opaque(s);
	if (!merge) {
		int r = clear(c, dst, name, path);
		if (r < 0)
			return r;
		if (mkdirat(dst, name, 0700) < 0)
			return copy_fail(c, errno, path, "mkdir");
	}
	_cleanup_close_ int d = openat(
		dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return copy_fail(c, errno, path, "open");
	int r = copy_tree(c, s, d, path, depth + 1);
	if (r < 0)
		return r;
	/* last, so that copying the children does not change the times */
	return copy_meta_fd(c, s, d, st, path);
}

static int copy_entry(struct copy *c, int src, int dst, const char *name,
		      const char *path, int depth)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_fail(c, errno, path, "stat");
	if (S_ISDIR(st.st_mode))
		return copy_dir(c, src, dst, name, &st, path, depth);
	int r = clear(c, dst, name, path);
	if (r < 0 || is_whiteout(&st))
		return r;
	if (S_ISREG(st.st_mode))
		return copy_file(c, src, dst, name, &st, path);
	if (S_ISLNK(st.st_mode))
		return copy_symlink(c, src, dst, name, &st, path);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))
		return copy_node(c, src, dst, name, &st, path);
	return 0; /* sockets: nothing to copy */
}

static int copy_tree(struct copy *c, int src, int dst, const char *path,
		     int depth)
{
	if (depth > MAX_DEPTH)
		return berr_setx(c->err, ELOOP, "%s: `/%s`: nested too deep",
				 c->what, path);
	int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return copy_fail(c, errno, path, "read directory");
	}
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *child =
			path[0] ? base_sprintf("%s/%s", path, de->d_name)
				: base_strdup(de->d_name);
		int r = copy_entry(c, src, dst, de->d_name, child, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

int oci_copy_layer(int layerfd, int rootfd, const char *what, struct berr *err)
{
	struct copy c = {.rootfd = rootfd, .what = what, .err = err};
	int r = 0;
	if (is_opaque(layerfd)) {
		/* an opaque root hides every lower layer */
		int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
		_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		while (d && r == 0 && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				r = clear(&c, rootfd, de->d_name, de->d_name);
	}
	if (r == 0)
		r = copy_tree(&c, layerfd, rootfd, "", 0);
	struct stat st;
	if (r == 0 && fstat(layerfd, &st) == 0)
		r = copy_meta_fd(&c, layerfd, rootfd, &st, "");
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	return r;
}

/* ---- image unpack: a runtime bundle
 * ------------------------------------------- */

static int make_bundle_dir(const char *dir, struct berr *err)
{
	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return berr_set(err, errno, "create %s", dir);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", dir);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berr_set(err, errno, "open %s", dir);
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return berr_setx(err, EEXIST,
					 "unpack into %s: the directory is not "
					 "empty",
					 dir);
	return 0;
}

static int unpack_layers(struct oci_store *s, const struct oci_image *img,
			 int rootfd, struct berr *err)
{
	for (size_t i = 0; i < img->n_layers; i++) {
		const char *diff = img->layers[i].diff_id;
		_cleanup_free_ char *rel =
			base_sprintf("layers/%s", oci_digest_hex(diff));
		_cleanup_close_ int lfd = openat(
			s->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			return berr_set(err, errno, "layer %s in %s", diff,
					s->path);
		_cleanup_free_ char *what = base_sprintf("layer %s", diff);
		int r = oci_copy_layer(lfd, rootfd, what, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_bundle(struct oci_store *s, const struct oci_image *img,
			const char *dir, int rootfd, struct berr *err)
{
	int r = unpack_layers(s, img, rootfd, err);
	if (r < 0)
		return berr_wrap(err, "unpack %s", img->digest);
	_cleanup_free_ char *cfg = NULL;
	size_t len = 0;
	if ((r = oci_image_read_config(s, img, &cfg, &len, err)) < 0)
		return r;
	_cleanup_free_ char *json = NULL;
	if ((r = oci_image_runtime_config(cfg, len, rootfd, &json, err)) < 0)
		return r;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "open %s", dir);
	if ((r = base_write_file_atomic(dfd, "config.json", json, strlen(json),
					0644)) < 0)
		return berr_set(err, -r, "write %s/config.json", dir);
	return 0;
}

int oci_image_unpack(struct oci_store *s, const struct oci_image *img,
		     const char *dir, struct berr *err)
{
	int r = make_bundle_dir(dir, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", dir);
	if (mkdir(rootfs, 0755) < 0)
		return berr_set(err, errno, "create %s", rootfs);
	_cleanup_close_ int rootfd =
		open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open %s", rootfs);
	r = write_bundle(s, img, dir, rootfd, err);
	if (r < 0)
		(void)base_rm_rf_at(AT_FDCWD, rootfs);
	return r;
}
