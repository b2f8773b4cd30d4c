/* One layer: decompress once, hash the uncompressed stream (the diffID),
 * and unpack its tar into a directory that overlayfs can use as a lower
 * layer.
 *
 * Two libarchive readers are chained: a "raw" reader undoes the
 * compression (any filter libarchive knows), and the tar reader pulls its
 * input from it through a callback that hashes every byte on the way. The
 * layer is read exactly once however it is compressed.
 *
 * Entry names are attacker-controlled. A name is cleaned lexically (an
 * absolute name or a ".." component is refused), then its parent is walked
 * from the layer root one component at a time with O_NOFOLLOW: a symlink on
 * the way is refused, so nothing is ever written through one, inside or
 * outside the root. Everything is created with *at() calls relative to
 * that parent and never follows a final symlink either. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "oci/oci-image-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_OPAQUE "trusted.overlay.opaque"

/* ---- names -----------------------------------------------------------------
 */

int oci_tar_clean_path(const char *name, char **out, const char **why)
{
	*out = NULL;
	if (!name || !name[0]) {
		*why = "empty name";
		return -EINVAL;
	}
	if (name[0] == '/') {
		*why = "absolute path";
		return -EINVAL;
	}
	size_t len = strlen(name);
	if (len >= PATH_MAX) {
		*why = "name too long";
		return -EINVAL;
	}
	char *res = base_calloc(len + 1, 1);
	size_t o = 0;
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(res);
			*why = "climbs out of the layer with \"..\"";
			return -EINVAL;
		}
		if (n > NAME_MAX) {
			free(res);
			*why = "name too long";
			return -EINVAL;
		}
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o)
				res[o++] = '/';
			memcpy(res + o, p, n);
			o += n;
		}
		p = *end ? end + 1 : end;
	}
	res[o] = '\0';
	*out = res;
	return 0;
}

int oci_open_dir_nofollow(int rootfd, const char *dir, bool create, size_t *bad)
{
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	_cleanup_free_ char *copy = base_strdup(dir);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
		int fd = openat(cur, c, flags);
		if (fd < 0 && errno == ENOENT && create) {
			if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(cur);
				return -e;
			}
			fd = openat(cur, c, flags);
		}
		if (fd < 0) {
			int e = errno;
			struct stat st;
			if (e == ENOTDIR || e == ELOOP)
				e = fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) ==
							    0 &&
						    S_ISLNK(st.st_mode)
					    ? ELOOP
					    : ENOTDIR;
			if (bad)
				*bad = (size_t)(c - copy) + strlen(c);
			close(cur);
			return -e;
		}
		close(cur);
		cur = fd;
	}
	return cur;
}

/* ---- the decompressed stream ----------------------------------------------
 */

#define CHUNK (1 << 17)

struct layer_src {
	const struct oci_la *la;
	struct archive *raw; /* decompresses */
	struct archive *tar; /* parses what raw yields */
	struct oci_sha256 h;
	uint64_t max; /* bytes the stream may have, when bounded */
	bool bounded;
	bool eof, failed, too_big;
	char buf[CHUNK];
};

static void layer_src_freep(struct layer_src **sp)
{
	struct layer_src *s = *sp;
	if (!s)
		return;
	if (s->tar)
		s->la->read_free(s->tar);
	if (s->raw)
		s->la->read_free(s->raw);
	oci_sha256_free(&s->h);
	free(s);
}

static la_ssize_t src_read(struct archive *a, void *data, const void **buf)
{
	struct layer_src *s = data;
	*buf = s->buf;
	if (s->eof)
		return 0;
	la_ssize_t n = s->la->read_data(s->raw, s->buf, sizeof(s->buf));
	if (n < 0) {
		s->failed = true;
		return -1;
	}
	if (n == 0)
		s->eof = true;
	/* a decompression bomb stops here, before its bytes reach a file */
	if (s->bounded && (uint64_t)n > s->max - s->h.bytes) {
		s->failed = s->too_big = true;
		return -1;
	}
	oci_sha256_update(&s->h, s->buf, (size_t)n);
	return n;
}

static const char *src_error(struct layer_src *s, struct archive *a)
{
	struct archive *which = s->failed ? s->raw : a;
	const char *msg = s->la->error_string(which);
	return msg ? msg : "read error";
}

static int src_open(struct layer_src *s, int fd, const char *what,
		    struct berr *err)
{
	const struct oci_la *la = s->la;
	s->raw = la->read_new();
	if (!s->raw)
		return berr_setx(err, ENOMEM, "%s: out of memory", what);
	la->read_support_filter_all(s->raw);
	la->read_support_format_raw(s->raw);
	if (la->read_open_fd(s->raw, fd, CHUNK) != ARCHIVE_OK)
		return berr_setx(err, EIO, "%s: %s", what,
				 la->error_string(s->raw));
	struct archive_entry *e;
	int r = la->read_next_header(s->raw, &e);
	if (r == ARCHIVE_EOF)
		s->eof = true; /* an empty blob: an empty layer */
	else if (r < ARCHIVE_WARN)
		return berr_setx(err, EIO, "%s: %s", what,
				 la->error_string(s->raw));
	return 0;
}

/* Hashes whatever the tar reader left unread (the end-of-archive blocks,
 * padding): the diffID covers the whole stream. */
static int src_drain(struct layer_src *s, const char *what, struct berr *err)
{
	while (!s->eof) {
		const void *buf;
		if (src_read(NULL, s, &buf) < 0)
			return berr_setx(err, EIO, "%s: %s", what,
					 src_error(s, NULL));
	}
	return 0;
}

/* ---- entries
 * ----------------------------------------------------------------- */

struct dir_time {
	char *path;
	struct timespec ts[2];
};

struct unpack {
	const struct oci_la *la;
	struct layer_src *src;
	int rootfd;
	const struct oci_unpack_opts *o;
	struct berr *err;
	const char *entry; /* the raw name, for messages */
	struct dir_time *dirs;
	size_t n_dirs;
};

static int __attribute__((format(printf, 3, 4)))
entry_fail(struct unpack *u, int code, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_setx(u->err, code, "%s: entry `%.200s`: %s", u->o->what,
			 u->entry, msg);
}

static int entry_errno(struct unpack *u, int code, const char *op)
{
	return entry_fail(u, code, "%s: %s", op, strerror(code));
}

static void entry_times(const struct oci_la *la, struct archive_entry *e,
			struct timespec ts[2])
{
	ts[1].tv_sec = la->entry_mtime(e);
	ts[1].tv_nsec = la->entry_mtime_nsec(e);
	if (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000)
		ts[1].tv_nsec = 0;
	ts[0] = ts[1];
}

static int entry_owner(struct unpack *u, struct archive_entry *e, uid_t *uid,
		       gid_t *gid)
{
	int64_t a = u->la->entry_uid(e), b = u->la->entry_gid(e);
	if (a < 0 || a >= UINT32_MAX || b < 0 || b >= UINT32_MAX)
		return entry_fail(u, EINVAL, "invalid owner %lld:%lld",
				  (long long)a, (long long)b);
	*uid = (uid_t)a;
	*gid = (gid_t)b;
	return 0;
}

/* Whether an xattr from the archive may be applied: the overlay ones
 * would change how overlayfs reads this layer (opaque, redirect, ...). */
static bool xattr_allowed(const char *name)
{
	return !base_str_has_prefix(name, "trusted.overlay.") &&
	       !base_str_has_prefix(name, "user.overlay.");
}

/* Applies the entry's xattrs to fd (a regular fd, or an O_PATH one reached
 * through /proc/self/fd when proc is true). */
static int entry_xattrs(struct unpack *u, struct archive_entry *e, int fd,
			bool proc)
{
	if (u->la->entry_xattr_reset(e) <= 0)
		return 0;
	const char *name;
	const void *value;
	size_t size;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	while (u->la->entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if (!name || !xattr_allowed(name))
			continue;
		int r = proc ? setxattr(path, name, value, size, 0)
			     : fsetxattr(fd, name, value, size, 0);
		if (r == 0)
			continue;
		int code = errno;
		/* File capabilities change what a program may do: losing
		 * them silently would break the image. Others (user.*,
		 * selinux labels) may not fit the store's filesystem. */
		if (!strcmp(name, "security.capability") ||
		    (code != ENOTSUP && code != EPERM))
			return entry_fail(u, code, "xattr %s: %s", name,
					  strerror(code));
		blog_debug("%s: entry %s: xattr %s: %s", u->o->what, u->entry,
			   name, strerror(code));
	}
	return 0;
}

/* Owner, mode and xattrs of an open file or directory; chown comes first
 * because it clears the set-id bits. */
static int meta_fd(struct unpack *u, struct archive_entry *e, int fd)
{
	uid_t uid;
	gid_t gid;
	int r = entry_owner(u, e, &uid, &gid);
	if (r < 0)
		return r;
	if (fchown(fd, uid, gid) < 0)
		return entry_errno(u, errno, "chown");
	if (fchmod(fd, u->la->entry_perm(e) & 07777) < 0)
		return entry_errno(u, errno, "chmod");
	return entry_xattrs(u, e, fd, false);
}

/* Makes room for a new entry: 0 when name is free, 1 when it is a
 * directory and keep_dir is set, else removes what is there. */
static int clear_name(struct unpack *u, int parent, const char *name,
		      bool keep_dir)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : entry_errno(u, errno, "stat");
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir)
			return 1;
		int r = base_rm_rf_at(parent, name);
		return r < 0 ? entry_errno(u, -r, "remove") : 0;
	}
	if (unlinkat(parent, name, 0) < 0)
		return entry_errno(u, errno, "remove");
	return 0;
}

int oci_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int make_file(struct unpack *u, struct archive_entry *e, int parent,
		     const char *name)
{
	int r = clear_name(u, parent, name, false);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = openat(
		parent, name,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_errno(u, errno, "create");
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		r = u->la->read_data_block(u->src->tar, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return entry_fail(u, EIO, "%s",
					  src_error(u->src, u->src->tar));
		r = oci_pwrite_all(fd, buf, size, (off_t)off);
		if (r < 0)
			return entry_errno(u, -r, "write");
	}
	/* a sparse file may end in a hole */
	if (ftruncate(fd, (off_t)u->la->entry_size(e)) < 0)
		return entry_errno(u, errno, "truncate");
	if ((r = meta_fd(u, e, fd)) < 0)
		return r;
	struct timespec ts[2];
	entry_times(u->la, e, ts);
	if (futimens(fd, ts) < 0)
		return entry_errno(u, errno, "set times");
	return 0;
}

static void defer_dir_time(struct unpack *u, const char *path,
			   struct archive_entry *e)
{
	u->dirs = base_realloc(u->dirs, u->n_dirs + 1, sizeof(*u->dirs));
	struct dir_time *d = &u->dirs[u->n_dirs++];
	d->path = base_strdup(path);
	entry_times(u->la, e, d->ts);
}

static int make_dir(struct unpack *u, struct archive_entry *e, int parent,
		    const char *name, const char *path)
{
	int r = clear_name(u, parent, name, true);
	if (r < 0)
		return r;
	if (r == 0 && mkdirat(parent, name, 0700) < 0)
		return entry_errno(u, errno, "mkdir");
	_cleanup_close_ int fd = openat(
		parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(u, errno, "open");
	if ((r = meta_fd(u, e, fd)) < 0)
		return r;
	/* times last: the entries below would change them again */
	defer_dir_time(u, path, e);
	return 0;
}

static int make_symlink(struct unpack *u, struct archive_entry *e, int parent,
			const char *name)
{
	const char *target = u->la->entry_symlink(e);
	if (!target || !target[0])
		return entry_fail(u, EINVAL, "symbolic link without a target");
	/* any target, as docker stores it: a link is never followed on the
	 * host (entries are written through no link, and berth resolves
	 * paths in a root with RESOLVE_IN_ROOT), and in the container a
	 * `..` past its root stays at its root, as an absolute target does */
	int r = clear_name(u, parent, name, false);
	if (r < 0)
		return r;
	if (symlinkat(target, parent, name) < 0)
		return entry_errno(u, errno, "symlink");
	uid_t uid;
	gid_t gid;
	if ((r = entry_owner(u, e, &uid, &gid)) < 0)
		return r;
	if (fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "chown");
	struct timespec ts[2];
	entry_times(u->la, e, ts);
	if (utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "set times");
	return 0;
}

static int make_hardlink(struct unpack *u, int parent, const char *name,
			 const char *path, const char *link)
{
	_cleanup_free_ char *target = NULL;
	const char *why = NULL;
	if (oci_tar_clean_path(link, &target, &why) < 0 || !target[0])
		return entry_fail(u, EPERM,
				  "hard link target `%.200s` is outside the "
				  "layer",
				  link);
	if (!strcmp(target, path))
		return 0;
	char *slash = strrchr(target, '/');
	const char *tname = slash ? slash + 1 : target;
	if (slash)
		*slash = '\0';
	size_t bad = 0;
	_cleanup_close_ int tparent = oci_open_dir_nofollow(
		u->rootfd, slash ? target : "", false, &bad);
	struct stat st;
	if (tparent < 0 ||
	    fstatat(tparent, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(u, ENOENT,
				  "hard link target `%.200s` is not in the "
				  "layer",
				  link);
	if (S_ISDIR(st.st_mode))
		return entry_fail(u, EPERM,
				  "hard link target `%.200s` is a directory",
				  link);
	int r = clear_name(u, parent, name, false);
	if (r < 0)
		return r;
	if (linkat(tparent, tname, parent, name, 0) < 0)
		return entry_errno(u, errno, "link");
	return 0;
}

/* Metadata of a node (fifo, device) reached by its parent. */
static int meta_node(struct unpack *u, struct archive_entry *e, int parent,
		     const char *name)
{
	uid_t uid;
	gid_t gid;
	int r = entry_owner(u, e, &uid, &gid);
	if (r < 0)
		return r;
	if (fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "chown");
	/* the name is the node just made in a directory only we write to */
	if (fchmodat(parent, name, u->la->entry_perm(e) & 07777, 0) < 0)
		return entry_errno(u, errno, "chmod");
	_cleanup_close_ int fd =
		openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(u, errno, "open");
	if ((r = entry_xattrs(u, e, fd, true)) < 0)
		return r;
	struct timespec ts[2];
	entry_times(u->la, e, ts);
	if (utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "set times");
	return 0;
}

/* A whiteout in overlayfs form: a 0:0 character device. */
static int make_whiteout(struct unpack *u, struct archive_entry *e, int parent,
			 const char *name)
{
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return entry_fail(u, EINVAL, "invalid whiteout");
	int r = clear_name(u, parent, name, false);
	if (r < 0)
		return r;
	if (mknodat(parent, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return entry_errno(u, errno, "whiteout");
	uid_t uid;
	gid_t gid;
	if ((r = entry_owner(u, e, &uid, &gid)) < 0)
		return r;
	if (fchownat(parent, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_errno(u, errno, "chown");
	return 0;
}

static int make_opaque(struct unpack *u, int parent)
{
	_cleanup_close_ int fd =
		openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return entry_errno(u, errno, "open");
	if (fsetxattr(fd, OVL_OPAQUE, "y", 1, 0) < 0)
		return entry_errno(u, errno, "set " OVL_OPAQUE);
	return 0;
}

static int make_node(struct unpack *u, struct archive_entry *e, int parent,
		     const char *name, mode_t type)
{
	dev_t dev = 0;
	if (type != AE_IFIFO) {
		unsigned maj = (unsigned)u->la->entry_rdevmajor(e);
		unsigned min = (unsigned)u->la->entry_rdevminor(e);
		if (type == AE_IFCHR && maj == 0 && min == 0)
			return make_whiteout(u, e, parent, name);
		if (!u->o->allow_devices)
			return entry_fail(u, EPERM,
					  "device nodes are not allowed in "
					  "this image (%s %u:%u): "
					  "--allow-devices loads them",
					  type == AE_IFCHR ? "character"
							   : "block",
					  maj, min);
		dev = makedev(maj, min);
	}
	int r = clear_name(u, parent, name, false);
	if (r < 0)
		return r;
	mode_t mode = (type == AE_IFIFO	  ? S_IFIFO
		       : type == AE_IFCHR ? S_IFCHR
					  : S_IFBLK) |
		      0600;
	if (mknodat(parent, name, mode, dev) < 0)
		return entry_errno(u, errno, "mknod");
	return meta_node(u, e, parent, name);
}

static int open_parent(struct unpack *u, const char *dir)
{
	size_t bad = 0;
	int fd = oci_open_dir_nofollow(u->rootfd, dir, true, &bad);
	if (fd == -ELOOP)
		return entry_fail(u, EPERM,
				  "`%.*s` is a symbolic link: refusing to "
				  "write through it",
				  (int)bad, dir);
	if (fd == -ENOTDIR)
		return entry_fail(u, ENOTDIR, "`%.*s` is not a directory",
				  (int)bad, dir);
	if (fd < 0)
		return entry_errno(u, -fd, "open parent");
	return fd;
}

/* The layer's root entry ("./"): owner and mode apply to rootfd. */
static int root_entry(struct unpack *u, struct archive_entry *e)
{
	if (u->la->entry_filetype(e) != AE_IFDIR)
		return entry_fail(u, EINVAL, "the root is not a directory");
	int r = meta_fd(u, e, u->rootfd);
	if (r == 0)
		defer_dir_time(u, "", e);
	return r;
}

static int dispatch(struct unpack *u, struct archive_entry *e, int parent,
		    const char *name, const char *path)
{
	const char *link = u->la->entry_hardlink(e);
	if (link)
		return make_hardlink(u, parent, name, path, link);
	mode_t type = u->la->entry_filetype(e);
	switch (type) {
	case AE_IFREG:
		return make_file(u, e, parent, name);
	case AE_IFDIR:
		return make_dir(u, e, parent, name, path);
	case AE_IFLNK:
		return make_symlink(u, e, parent, name);
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return make_node(u, e, parent, name, type);
	default:
		return entry_fail(u, EINVAL, "unsupported file type 0%o",
				  (unsigned)type);
	}
}

static int apply_entry(struct unpack *u, struct archive_entry *e)
{
	u->entry = u->la->entry_pathname(e);
	if (!u->entry)
		u->entry = "";
	_cleanup_free_ char *path = NULL;
	const char *why = NULL;
	if (oci_tar_clean_path(u->entry, &path, &why) < 0)
		return entry_fail(u, EPERM, "%s", why);
	if (!path[0])
		return root_entry(u, e);

	char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	_cleanup_free_ char *dir =
		slash ? strndup(path, (size_t)(slash - path)) : base_strdup("");
	if (!dir)
		abort();
	_cleanup_close_ int parent = open_parent(u, dir);
	if (parent < 0)
		return parent;
	if (!strcmp(name, WH_OPAQUE))
		return make_opaque(u, parent);
	if (base_str_has_prefix(name, WH_PREFIX WH_PREFIX))
		return 0; /* other aufs bookkeeping (.wh..wh.plnk) */
	if (base_str_has_prefix(name, WH_PREFIX))
		return make_whiteout(u, e, parent, name + strlen(WH_PREFIX));
	return dispatch(u, e, parent, name, path);
}

static int apply_dir_times(struct unpack *u)
{
	for (size_t i = u->n_dirs; i-- > 0;) {
		struct dir_time *d = &u->dirs[i];
		if (!d->path[0]) {
			if (futimens(u->rootfd, d->ts) < 0)
				return berr_set(u->err, errno,
						"%s: set times of the root",
						u->o->what);
			continue;
		}
		char *slash = strrchr(d->path, '/');
		if (slash)
			*slash = '\0';
		_cleanup_close_ int parent = oci_open_dir_nofollow(
			u->rootfd, slash ? d->path : "", false, NULL);
		const char *name = slash ? slash + 1 : d->path;
		/* a later entry may have replaced the directory */
		if (parent >= 0)
			(void)utimensat(parent, name, d->ts,
					AT_SYMLINK_NOFOLLOW);
	}
	return 0;
}

static int unpack_tar(struct layer_src *s, int rootfd,
		      const struct oci_unpack_opts *o, struct berr *err)
{
	const struct oci_la *la = s->la;
	s->tar = la->read_new();
	if (!s->tar)
		return berr_setx(err, ENOMEM, "%s: out of memory", o->what);
	la->read_support_format_tar(s->tar);
	la->read_support_format_empty(s->tar);
	if (la->read_open(s->tar, s, NULL, src_read, NULL) != ARCHIVE_OK)
		return berr_setx(err, EIO, "%s: %s", o->what,
				 src_error(s, s->tar));
	struct unpack u = {
		.la = la, .src = s, .rootfd = rootfd, .o = o, .err = err};
	int r = 0;
	for (;;) {
		struct archive_entry *e;
		int h = la->read_next_header(s->tar, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN) {
			r = berr_setx(err, EIO, "%s: %s", o->what,
				      src_error(s, s->tar));
			break;
		}
		if ((r = apply_entry(&u, e)) < 0)
			break;
	}
	if (r == 0)
		r = apply_dir_times(&u);
	for (size_t i = 0; i < u.n_dirs; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	return r;
}

int oci_unpack_layer(int fd, int rootfd, const struct oci_unpack_opts *o,
		     char diff_id[OCI_DIGEST_LEN], uint64_t *size,
		     struct berr *err)
{
	const struct oci_la *la = oci_dl_archive(err);
	if (!la)
		return -ENOENT;
	_cleanup_(layer_src_freep) struct layer_src *s =
		base_calloc(1, sizeof(*s));
	s->la = la;
	int r = oci_sha256_init(&s->h, err);
	if (r < 0)
		return r;
	if ((r = src_open(s, fd, o->what, err)) < 0)
		return r;
	s->max = o->max_bytes;
	s->bounded = o->limit != 0;
	if (rootfd >= 0)
		r = unpack_tar(s, rootfd, o, err);
	if (r == 0)
		r = src_drain(s, o->what, err);
	if (r < 0 && s->too_big) {
		char lim[32];
		oci_size_str(o->limit, lim, sizeof(lim));
		return berr_setx(err, EFBIG,
				 "%s: the layers uncompress to more than %s, "
				 "the size limit of a load",
				 o->what, lim);
	}
	if (r < 0)
		return r;
	*size = s->h.bytes;
	oci_sha256_final(&s->h, diff_id);
	return 0;
}
