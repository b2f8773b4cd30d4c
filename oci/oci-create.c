/* Making layers: a directory or a tar stream into a gzip'd layer blob.
 *
 * Two libarchive writers are chained, as the unpacker chains two readers:
 * a pax tar writer without a filter hands its output to a callback that
 * hashes it (the diffID) and feeds it to a "raw" writer with the gzip
 * filter, which writes the blob file. The tree is read once and nothing is
 * written twice. The gzip header carries no timestamp and entries carry no
 * atime, ctime or owner names: with clamped mtimes the same tree gives the
 * same blob.
 *
 * A directory may be a container's overlayfs upper dir, written by the
 * container: it is walked with openat and O_NOFOLLOW from its root, in
 * sorted order, symlinks stored as symlinks, and every length bounded. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "oci/oci-image-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define LW_CHUNK (1 << 17)
/* gzip's fastest level: deflate at its default level was three quarters
 * of the CPU of an import or of a COPY layer (on data that hardly
 * compresses); level 1 makes blobs a few percent larger. */
#define OCI_LAYER_GZIP_LEVEL "1"

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct lw {
	const struct oci_la *la;
	struct archive *tar, *gz;
	struct oci_sha256 diff, blob; /* the tar's and the gzip's */
	uint64_t blob_size;
	bool hashing;
	struct berr *err;
	const char *what;
	uint64_t bytes; /* uncompressed tar so far */
	size_t entries;
	struct oci_store *s;
	char *tmp; /* store-relative tmp/layer-XXXXXX */
	int tmpfd, fd;
	const struct oci_layer_opts *o;
	struct hardlink *links;
	size_t n_links;
	size_t skipped;
	char *skipped_first;
	char *buf;
};

static void lw_freep(struct lw **p)
{
	struct lw *w = *p;
	if (!w)
		return;
	if (w->tar)
		w->la->write_free(w->tar);
	if (w->gz)
		w->la->write_free(w->gz);
	oci_sha256_free(&w->diff);
	oci_sha256_free(&w->blob);
	for (size_t i = 0; i < w->n_links; i++)
		free(w->links[i].path);
	free(w->links);
	free(w->skipped_first);
	free(w->buf);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmpfd >= 0)
		close(w->tmpfd);
	if (w->tmp)
		(void)base_rm_rf_at(w->s->dirfd, w->tmp);
	free(w->tmp);
	free(w);
}

static la_ssize_t lw_write_cb(struct archive *a, void *data, const void *buf,
			      size_t n)
{
	struct lw *w = data;
	oci_sha256_update(&w->diff, buf, n);
	w->bytes += n;
	if (w->la->write_data(w->gz, buf, n) < 0)
		return -1;
	return (la_ssize_t)n;
}

/* The gzip stream: to the blob file, hashed on the way (the digest needs
 * no second read of the blob). */
static la_ssize_t gz_write_cb(struct archive *a, void *data, const void *buf,
			      size_t n)
{
	(void)a;
	struct lw *w = data;
	if (base_write_all(w->fd, buf, n) < 0)
		return -1;
	oci_sha256_update(&w->blob, buf, n);
	w->blob_size += n;
	return (la_ssize_t)n;
}

static int la_fail(struct lw *w, struct archive *a, const char *op)
{
	const char *why = w->la->error_string(a);
	return berr_setx(w->err, EIO, "%s: %s: %s", w->what, op,
			 why ? why : "libarchive error");
}

/* The blob file, its gzip writer and the tar writer feeding it. */
static int lw_open(struct lw *w)
{
	const struct oci_la *la = w->la;
	int r = oci_store_upgrade(w->s, w->err);
	if (r < 0 || (r = oci_store_mktemp(w->s, "layer-", &w->tmp, &w->tmpfd,
					   w->err)) < 0)
		return r;
	w->fd = openat(w->tmpfd, "layer.tar.gz",
		       O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       0600);
	if (w->fd < 0)
		return berr_set(w->err, errno, "create %s/layer.tar.gz",
				w->tmp);
	if ((r = oci_sha256_init(&w->diff, w->err)) < 0 ||
	    (r = oci_sha256_init(&w->blob, w->err)) < 0)
		return r;
	w->gz = la->write_new();
	w->tar = la->write_new();
	if (!w->gz || !w->tar)
		return berr_setx(w->err, ENOMEM, "%s: out of memory", w->what);
	if (la->write_set_format_raw(w->gz) != ARCHIVE_OK ||
	    la->write_add_filter_gzip(w->gz) != ARCHIVE_OK ||
	    la->write_set_filter_option(w->gz, "gzip", "timestamp", NULL) <
		    ARCHIVE_WARN ||
	    la->write_set_filter_option(w->gz, "gzip", "compression-level",
					OCI_LAYER_GZIP_LEVEL) < ARCHIVE_WARN ||
	    la->write_set_bytes_in_last_block(w->gz, 1) != ARCHIVE_OK ||
	    la->write_open(w->gz, w, NULL, gz_write_cb, NULL) != ARCHIVE_OK)
		return la_fail(w, w->gz, "gzip");
	struct archive_entry *e = la->entry_new();
	if (!e)
		return berr_setx(w->err, ENOMEM, "%s: out of memory", w->what);
	la->entry_set_pathname(e, "layer.tar");
	la->entry_set_filetype(e, AE_IFREG);
	r = la->write_header(w->gz, e);
	la->entry_free(e);
	if (r != ARCHIVE_OK)
		return la_fail(w, w->gz, "gzip");
	if (la->write_set_format_pax_restricted(w->tar) != ARCHIVE_OK ||
	    la->write_set_bytes_in_last_block(w->tar, 1) != ARCHIVE_OK ||
	    la->write_open(w->tar, w, NULL, lw_write_cb, NULL) != ARCHIVE_OK)
		return la_fail(w, w->tar, "tar");
	w->buf = base_calloc(1, LW_CHUNK);
	return 0;
}

/* Ends both streams and fills out; the blob stays in tmp/. */
static int lw_finish(struct lw *w, struct oci_new_layer *out)
{
	if (w->la->write_close(w->tar) != ARCHIVE_OK)
		return la_fail(w, w->tar, "tar");
	if (w->la->write_close(w->gz) != ARCHIVE_OK)
		return la_fail(w, w->gz, "gzip");
	oci_sha256_final(&w->diff, out->diff_id);
	oci_sha256_final(&w->blob, out->digest);
	out->size = w->blob_size;
	if (fsync(w->fd) < 0)
		return berr_set(w->err, errno, "%s/layer.tar.gz", w->tmp);
	out->path = base_sprintf("%s/%s/layer.tar.gz", oci_store_path(w->s),
				 w->tmp);
	out->empty = w->entries == 0;
	out->skipped = w->skipped;
	out->skipped_first = TAKE_PTR(w->skipped_first);
	free(TAKE_PTR(w->tmp)); /* the caller's now */
	return 0;
}

static void lw_skip(struct lw *w, const char *path)
{
	if (w->skipped++ == 0)
		w->skipped_first = base_strdup(path);
}

static int lw_budget(struct lw *w, const char *path)
{
	if (w->bytes <= OCI_IMAGE_MAX_SIZE_DEFAULT)
		return 0;
	char lim[32];
	oci_size_str(OCI_IMAGE_MAX_SIZE_DEFAULT, lim, sizeof(lim));
	return berr_setx(w->err, EFBIG,
			 "%s: `%.200s`: the layer is larger than %s", w->what,
			 path, lim);
}

static int lw_header(struct lw *w, struct archive_entry *e, const char *path)
{
	int r = lw_budget(w, path);
	if (r < 0)
		return r;
	/* the same tree makes the same bytes */
	w->la->entry_unset_atime(e);
	w->la->entry_unset_ctime(e);
	w->la->entry_unset_birthtime(e);
	w->la->entry_set_uname(e, NULL);
	w->la->entry_set_gname(e, NULL);
	if (w->la->write_header(w->tar, e) < ARCHIVE_WARN)
		return la_fail(w, w->tar, path);
	w->entries++;
	return 0;
}

static int lw_data(struct lw *w, const void *buf, size_t n, const char *path)
{
	if (n && w->la->write_data(w->tar, buf, n) < 0)
		return la_fail(w, w->tar, path);
	return 0;
}

static int lw_new(struct lw *w, const char *path, struct archive_entry **e)
{
	*e = w->la->entry_new();
	if (!*e)
		return berr_setx(w->err, ENOMEM, "%s: out of memory", w->what);
	w->la->entry_set_pathname(*e, path);
	return 0;
}

static void la_entry_freep(struct lw *w, struct archive_entry *e)
{
	if (e)
		w->la->entry_free(e);
}

/* ---- from a directory
 * ------------------------------------------------------------ */

static void set_meta(struct lw *w, struct archive_entry *e,
		     const struct stat *st)
{
	const struct oci_la *la = w->la;
	la->entry_set_perm(e, st->st_mode & 07777);
	la->entry_set_uid(e, st->st_uid);
	la->entry_set_gid(e, st->st_gid);
	time_t sec = st->st_mtim.tv_sec;
	long nsec = st->st_mtim.tv_nsec;
	if (w->o->mtime >= 0 && sec >= w->o->mtime) {
		sec = (time_t)w->o->mtime;
		nsec = 0;
	}
	la->entry_set_mtime(e, sec, nsec);
}

static bool xattr_kept(const struct lw *w, const char *name)
{
	/* overlayfs' own and the host's label describe the host, not the
	 * image */
	return !base_str_has_prefix(name, "trusted.overlay.") &&
	       !base_str_has_prefix(name, "user.overlay.") &&
	       strcmp(name, "security.selinux") != 0;
}

/* Copies fd's xattrs into e; *opaque tells whether the directory is an
 * overlayfs opaque one. */
static int add_xattrs(struct lw *w, int fd, struct archive_entry *e,
		      const char *path, bool *opaque)
{
	char names[XATTR_LIST_MAX];
	ssize_t n = flistxattr(fd, names, sizeof(names));
	if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0;
	if (n < 0)
		return berr_set(w->err, errno, "%s: list xattrs of %s", w->what,
				path);
	if (n <= 0)
		return 0;
	_cleanup_free_ char *val = base_calloc(1, XATTR_SIZE_MAX);
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t v = fgetxattr(fd, p, val, XATTR_SIZE_MAX);
		if (v < 0 && errno == ENODATA)
			continue; /* removed meanwhile */
		if (v < 0)
			return berr_set(w->err, errno, "%s: xattr %s of %s",
					w->what, p, path);
		if ((!strcmp(p, "trusted.overlay.opaque") ||
		     !strcmp(p, "user.overlay.opaque")) &&
		    v == 1 && val[0] == 'y')
			*opaque = true;
		if (xattr_kept(w, p))
			w->la->entry_xattr_add_entry(e, p, val, (size_t)v);
	}
	return 0;
}

/* Takes dfd (closed on return): one descriptor per level of depth. */
static int walk_dir(struct lw *w, int dfd, const char *rel, int depth);

static int add_whiteout(struct lw *w, const char *parent, const char *name,
			const struct stat *st)
{
	_cleanup_free_ char *path =
		parent[0] ? base_sprintf("%s/%s%s", parent, WH_PREFIX, name)
			  : base_sprintf("%s%s", WH_PREFIX, name);
	struct archive_entry *e;
	int r = lw_new(w, path, &e);
	if (r < 0)
		return r;
	w->la->entry_set_filetype(e, AE_IFREG);
	set_meta(w, e, st);
	w->la->entry_set_size(e, 0);
	r = lw_header(w, e, path);
	la_entry_freep(w, e);
	return r;
}

static int copy_file_data(struct lw *w, int fd, uint64_t size, const char *path)
{
	uint64_t done = 0;
	while (done < size) {
		size_t want = size - done < LW_CHUNK ? (size_t)(size - done)
						     : LW_CHUNK;
		ssize_t k = read(fd, w->buf, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return berr_set(w->err, errno, "%s: read %s", w->what,
					path);
		if (k == 0)
			break; /* shrank: libarchive pads the entry */
		int r = lw_data(w, w->buf, (size_t)k, path);
		if (r < 0)
			return r;
		done += (uint64_t)k;
	}
	return 0;
}

/* A hard link to a file already written, or NULL (then remembered). */
static const char *link_target(struct lw *w, const struct stat *st,
			       const char *path)
{
	if (st->st_nlink < 2)
		return NULL;
	for (size_t i = 0; i < w->n_links; i++)
		if (w->links[i].dev == st->st_dev &&
		    w->links[i].ino == st->st_ino)
			return w->links[i].path;
	w->links = base_realloc(w->links, w->n_links + 1, sizeof(*w->links));
	w->links[w->n_links++] = (struct hardlink){.dev = st->st_dev,
						   .ino = st->st_ino,
						   .path = base_strdup(path)};
	return NULL;
}

static int add_file(struct lw *w, int dfd, const char *name, const char *path,
		    struct stat *st, struct archive_entry *e)
{
	const struct oci_la *la = w->la;
	const char *target = link_target(w, st, path);
	if (target) {
		la->entry_set_filetype(e, AE_IFREG);
		set_meta(w, e, st);
		la->entry_set_hardlink(e, target);
		la->entry_set_size(e, 0);
		return lw_header(w, e, path);
	}
	_cleanup_close_ int fd = openat(dfd, name,
					O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
						O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(w->err, errno, "%s: open %s", w->what, path);
	if (fstat(fd, st) < 0)
		return berr_set(w->err, errno, "%s: stat %s", w->what, path);
	if (!S_ISREG(st->st_mode))
		return berr_setx(w->err, EAGAIN, "%s: %s changed while read",
				 w->what, path);
	bool opaque = false;
	int r = add_xattrs(w, fd, e, path, &opaque);
	if (r < 0)
		return r;
	la->entry_set_filetype(e, AE_IFREG);
	set_meta(w, e, st);
	la->entry_set_size(e, st->st_size);
	if ((r = lw_header(w, e, path)) < 0)
		return r;
	return copy_file_data(w, fd, (uint64_t)st->st_size, path);
}

static int add_dir(struct lw *w, int dfd, const char *name, const char *path,
		   struct stat *st, struct archive_entry *e, int depth)
{
	if (depth >= OCI_LAYER_MAX_DEPTH)
		return berr_setx(w->err, ELOOP,
				 "%s: %.200s...: deeper than %d directories",
				 w->what, path, OCI_LAYER_MAX_DEPTH);
	_cleanup_close_ int fd = openat(
		dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_set(w->err, errno, "%s: open %s", w->what, path);
	bool opaque = false;
	int r = add_xattrs(w, fd, e, path, &opaque);
	if (r < 0)
		return r;
	w->la->entry_set_filetype(e, AE_IFDIR);
	set_meta(w, e, st);
	if ((r = lw_header(w, e, path)) < 0)
		return r;
	if (opaque && w->o->overlay_upper &&
	    (r = add_whiteout(w, path, ".wh..opq", st)) < 0)
		return r;
	return walk_dir(w, TAKE_FD(fd), path, depth + 1);
}

static int add_symlink(struct lw *w, int dfd, const char *name,
		       const char *path, struct stat *st,
		       struct archive_entry *e)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dfd, name, target, sizeof(target));
	if (n < 0)
		return berr_set(w->err, errno, "%s: readlink %s", w->what,
				path);
	if ((size_t)n >= sizeof(target))
		return berr_setx(w->err, ENAMETOOLONG,
				 "%s: %s: symlink target too long", w->what,
				 path);
	target[n] = '\0';
	w->la->entry_set_filetype(e, AE_IFLNK);
	set_meta(w, e, st);
	w->la->entry_set_symlink(e, target);
	return lw_header(w, e, path);
}

static int add_node(struct lw *w, int dfd, const char *name, const char *rel,
		    int depth)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 /* removed meanwhile */
				       : berr_set(w->err, errno, "%s: stat %s",
						  w->what, name);
	_cleanup_free_ char *path =
		rel[0] ? base_sprintf("%s/%s", rel, name) : base_strdup(name);
	if (strlen(path) >= PATH_MAX)
		return berr_setx(w->err, ENAMETOOLONG,
				 "%s: %.200s...: path too long", w->what, path);
	if (w->o->overlay_upper && S_ISCHR(st.st_mode) && st.st_rdev == 0)
		return add_whiteout(w, rel, name, &st);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
	    S_ISSOCK(st.st_mode)) {
		lw_skip(w, path);
		return 0;
	}
	struct archive_entry *e;
	int r = lw_new(w, path, &e);
	if (r < 0)
		return r;
	if (S_ISREG(st.st_mode)) {
		r = add_file(w, dfd, name, path, &st, e);
	} else if (S_ISDIR(st.st_mode)) {
		r = add_dir(w, dfd, name, path, &st, e, depth);
	} else if (S_ISLNK(st.st_mode)) {
		r = add_symlink(w, dfd, name, path, &st, e);
	} else { /* a fifo */
		w->la->entry_set_filetype(e, AE_IFIFO);
		set_meta(w, e, &st);
		r = lw_header(w, e, path);
	}
	la_entry_freep(w, e);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct lw *w, int dfd, const char *rel, int depth)
{
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		return berr_set(w->err, e, "%s: %s", w->what, rel);
	}
	_cleanup_strv_ char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n + 1 >= cap) {
			cap = cap ? 2 * cap : 64;
			names = base_realloc(names, cap, sizeof(*names));
		}
		names[n++] = base_strdup(de->d_name);
		names[n] = NULL;
	}
	if (errno)
		return berr_set(w->err, errno, "%s: read %s", w->what,
				rel[0] ? rel : ".");
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		int r = add_node(w, dirfd(d), names[i], rel, depth);
		if (r < 0)
			return r;
	}
	return 0;
}

static int lw_start(struct oci_store *s, const char *what,
		    const struct oci_layer_opts *o, struct oci_new_layer *out,
		    struct berr *err, struct lw **wp)
{
	*out = (struct oci_new_layer){0};
	const struct oci_la *la = oci_dl_archive(err);
	if (!la)
		return -ENOENT;
	struct lw *w = base_calloc(1, sizeof(*w));
	*wp = w;
	w->la = la;
	w->s = s;
	w->err = err;
	w->what = what;
	w->o = o;
	w->fd = w->tmpfd = -1;
	return lw_open(w);
}

int oci_layer_from_dir(struct oci_store *s, const char *dir,
		       const struct oci_layer_opts *o,
		       struct oci_new_layer *out, struct berr *err)
{
	static const struct oci_layer_opts defaults = {.mtime = -1};
	_cleanup_free_ char *what = base_sprintf("layer from %s", dir);
	_cleanup_(lw_freep) struct lw *w = NULL;
	int r = lw_start(s, what, o ? o : &defaults, out, err, &w);
	if (r < 0)
		return r;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "open %s", dir);
	if ((r = walk_dir(w, dfd, "", 0)) < 0)
		return r;
	return lw_finish(w, out);
}

/* ---- from a tar stream
 * ----------------------------------------------------------- */

/* A tar name cleaned: leading slashes dropped, as tar does. */
static int tar_name(struct lw *w, const char *raw, char **out)
{
	const char *why = NULL;
	const char *p = raw ? raw : "";
	while (*p == '/')
		p++;
	if (!*p) {
		*out = base_strdup("");
		return 0;
	}
	if (oci_tar_clean_path(p, out, &why) < 0)
		return berr_setx(w->err, EPERM, "%s: entry `%.200s`: %s",
				 w->what, raw ? raw : "", why);
	return 0;
}

static int copy_entry_data(struct lw *w, struct archive *a, const char *path)
{
	for (;;) {
		la_ssize_t n = w->la->read_data(a, w->buf, LW_CHUNK);
		if (n == 0)
			return 0;
		if (n < 0)
			return berr_setx(
				w->err, EIO, "%s: entry `%.200s`: %s", w->what,
				path, w->la->error_string(a) ?: "read error");
		int r = lw_budget(w, path);
		if (r < 0 || (r = lw_data(w, w->buf, (size_t)n, path)) < 0)
			return r;
	}
}

static int copy_entry(struct lw *w, struct archive *a, struct archive_entry *e)
{
	const struct oci_la *la = w->la;
	_cleanup_free_ char *path = NULL;
	int r = tar_name(w, la->entry_pathname(e), &path);
	if (r < 0 || !path[0])
		return r; /* the root itself carries nothing a layer keeps */
	unsigned type = la->entry_filetype(e);
	const char *hl = la->entry_hardlink(e);
	if (!hl &&
	    (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)) {
		lw_skip(w, path);
		return 0;
	}
	la->entry_set_pathname(e, path);
	if (hl) {
		_cleanup_free_ char *target = NULL;
		if ((r = tar_name(w, hl, &target)) < 0)
			return r;
		la->entry_set_hardlink(e, target);
		la->entry_set_size(e, 0);
		return lw_header(w, e, path);
	}
	if ((r = lw_header(w, e, path)) < 0)
		return r;
	return type == AE_IFREG ? copy_entry_data(w, a, path) : 0;
}

static int copy_tar(struct lw *w, int fd)
{
	const struct oci_la *la = w->la;
	struct archive *a = la->read_new();
	if (!a)
		return berr_setx(w->err, ENOMEM, "%s: out of memory", w->what);
	la->read_support_filter_all(a);
	la->read_support_format_all(a);
	int r = 0;
	if (la->read_open_fd(a, fd, LW_CHUNK) != ARCHIVE_OK)
		r = berr_setx(w->err, EINVAL, "%s: %s", w->what,
			      la->error_string(a) ?: "cannot read");
	while (r == 0) {
		struct archive_entry *e;
		int h = la->read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN)
			r = berr_setx(w->err, EINVAL, "%s: %s", w->what,
				      la->error_string(a) ?: "read error");
		else
			r = copy_entry(w, a, e);
	}
	la->read_free(a);
	return r;
}

int oci_layer_from_tar(struct oci_store *s, int fd, struct oci_new_layer *out,
		       struct berr *err)
{
	static const struct oci_layer_opts defaults = {.mtime = -1};
	_cleanup_(lw_freep) struct lw *w = NULL;
	int r = lw_start(s, "tar", &defaults, out, err, &w);
	if (r < 0 || (r = copy_tar(w, fd)) < 0)
		return r;
	return lw_finish(w, out);
}

void oci_new_layer_clear(struct oci_new_layer *l)
{
	if (l->path) {
		(void)unlink(l->path);
		char *slash = strrchr(l->path, '/');
		if (slash) {
			*slash = '\0';
			(void)rmdir(l->path);
		}
	}
	free(l->path);
	free(l->skipped_first);
	*l = (struct oci_new_layer){0};
}

/* ---- images
 * ---------------------------------------------------------------------- */

/* Docker's layer media types in their OCI spelling: the new manifest is
 * an OCI one throughout; the blobs are the same. */
static const char *oci_layer_type(const char *mt)
{
	if (!mt || !strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar."
			       "gzip"))
		return OCI_MT_LAYER "+gzip";
	if (!strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar"))
		return OCI_MT_LAYER;
	return mt;
}

static char *now_rfc3339(void)
{
	struct timespec ts;
	char buf[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	base_rfc3339(&ts, buf, sizeof(buf));
	return base_strdup(buf);
}

static bool hist_empty(const cJSON *h)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "empty_layer"));
}

static void hist_set_empty(cJSON *h, bool empty)
{
	cJSON_DeleteItemFromObjectCaseSensitive(h, "empty_layer");
	if (empty)
		oj_put(h, "empty_layer", oj_new_bool(true));
}

static cJSON *hist_blank(bool empty)
{
	cJSON *h = oj_new_object();
	_cleanup_free_ char *now = now_rfc3339();
	oj_put(h, "created", oj_new_str(now));
	hist_set_empty(h, empty);
	return h;
}

/* base's history entries, one non-empty entry per layer: from its config
 * when they match its layers, else made up. */
static int base_history(struct oci_store *s, const struct oci_image *base,
			cJSON **out, struct berr *err)
{
	*out = oj_new_array();
	if (!base)
		return 0;
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	int r = oci_image_read_config(s, base, &json, &len, err);
	if (r < 0)
		return r;
	_cleanup_json_ cJSON *cfg = cJSON_ParseWithLength(json, len);
	cJSON *h = cJSON_GetObjectItemCaseSensitive(cfg, "history");
	size_t layers = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, h) layers += !hist_empty(it);
	if (cJSON_IsArray(h) && layers == base->n_layers) {
		cJSON_Delete(*out);
		*out = cJSON_Duplicate(h, true);
		return 0;
	}
	for (size_t i = 0; i < base->n_layers; i++)
		oj_append(*out, hist_blank(false));
	return 0;
}

/* The merged history (oci.h says how). */
static cJSON *merge_history(cJSON *based, cJSON *caller,
			    const struct oci_new_layer *layers, size_t n)
{
	int nb = cJSON_GetArraySize(based), nc = cJSON_GetArraySize(caller);
	int skip = 0;
	if (nb > 0 && nc >= nb) {
		skip = nb;
		for (int i = 0; i < nb && skip; i++)
			if (!cJSON_Compare(cJSON_GetArrayItem(based, i),
					   cJSON_GetArrayItem(caller, i), true))
				skip = 0;
	}
	cJSON *out = cJSON_Duplicate(based, true);
	int next = skip;
	for (size_t i = 0; i < n; i++) {
		cJSON *h = next < nc ? cJSON_Duplicate(
					       cJSON_GetArrayItem(caller, next),
					       true)
				     : hist_blank(layers[i].empty);
		next++;
		if (!cJSON_IsObject(h)) {
			cJSON_Delete(h);
			h = hist_blank(layers[i].empty);
		}
		hist_set_empty(h, layers[i].empty);
		oj_append(out, h);
	}
	for (; next < nc; next++) {
		cJSON *h =
			cJSON_Duplicate(cJSON_GetArrayItem(caller, next), true);
		if (cJSON_IsObject(h)) {
			hist_set_empty(h, true);
			oj_append(out, h);
		} else {
			cJSON_Delete(h);
		}
	}
	return out;
}

static void put_default(cJSON *cfg, const char *key, const char *value)
{
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(cfg, key)))
		oj_put(cfg, key, oj_new_str(value));
}

/* The final image config, printed. */
static int image_config(struct oci_store *s, const struct oci_image *base,
			const struct oci_new_layer *layers, size_t n,
			const char *config_json, char **out, struct berr *err)
{
	_cleanup_json_ cJSON *cfg =
		cJSON_ParseWithLength(config_json, strlen(config_json));
	if (!cJSON_IsObject(cfg))
		return berr_setx(err, EINVAL,
				 "image config: not a JSON object");
	_cleanup_json_ cJSON *based = NULL;
	int r = base_history(s, base, &based, err);
	if (r < 0)
		return r;
	put_default(cfg, "os", base && base->os ? base->os : "linux");
	put_default(cfg, "architecture",
		    base && base->architecture ? base->architecture
					       : oci_image_host_arch());
	_cleanup_free_ char *now = now_rfc3339();
	put_default(cfg, "created", now);
	cJSON *diffs = oj_new_array();
	for (size_t i = 0; base && i < base->n_layers; i++)
		oj_append(diffs, oj_new_str(base->layers[i].diff_id));
	for (size_t i = 0; i < n; i++)
		if (!layers[i].empty)
			oj_append(diffs, oj_new_str(layers[i].diff_id));
	cJSON *rootfs = oj_new_object();
	oj_put(rootfs, "type", oj_new_str("layers"));
	oj_put(rootfs, "diff_ids", diffs);
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "rootfs");
	oj_put(cfg, "rootfs", rootfs);
	cJSON *hist = merge_history(
		based, cJSON_GetObjectItemCaseSensitive(cfg, "history"), layers,
		n);
	cJSON_DeleteItemFromObjectCaseSensitive(cfg, "history");
	oj_put(cfg, "history", hist);
	*out = oj_print(cfg, NULL);
	return 0;
}

static cJSON *descriptor(const char *mt, const char *digest, uint64_t size)
{
	cJSON *d = oj_new_object();
	oj_put(d, "mediaType", oj_new_str(mt));
	oj_put(d, "digest", oj_new_str(digest));
	oj_put(d, "size", oj_new_u64(size));
	return d;
}

static char *image_manifest(const struct oci_image *base,
			    const struct oci_new_layer *layers, size_t n,
			    const char *cfg_digest, size_t cfg_size)
{
	_cleanup_json_ cJSON *m = oj_new_object();
	oj_put(m, "schemaVersion", oj_new_u64(2));
	oj_put(m, "mediaType", oj_new_str(OCI_MT_MANIFEST));
	oj_put(m, "config", descriptor(OCI_MT_CONFIG, cfg_digest, cfg_size));
	cJSON *ls = oj_new_array();
	for (size_t i = 0; base && i < base->n_layers; i++)
		oj_append(ls,
			  descriptor(oci_layer_type(base->layers[i].media_type),
				     base->layers[i].digest,
				     base->layers[i].size));
	for (size_t i = 0; i < n; i++)
		if (!layers[i].empty)
			oj_append(ls,
				  descriptor(OCI_MT_LAYER "+gzip",
					     layers[i].digest, layers[i].size));
	oj_put(m, "layers", ls);
	return oj_print(m, NULL);
}

/* An OCI layout staged in tmp/, removed with it. */
struct stage {
	struct oci_store *s;
	char *tmp;
	int fd, blobs;
};

static void stage_freep(struct stage *st)
{
	if (st->blobs >= 0)
		close(st->blobs);
	if (st->fd >= 0)
		close(st->fd);
	if (st->tmp)
		(void)base_rm_rf_at(st->s->dirfd, st->tmp);
	free(st->tmp);
}

static int stage_blob(struct stage *st, const char *json, char *digest,
		      struct berr *err)
{
	int r = oci_sha256_buf(json, strlen(json), digest, err);
	if (r < 0)
		return r;
	r = base_write_file_at(st->blobs, oci_digest_hex(digest), json,
			       strlen(json), O_CREAT | O_EXCL);
	return r < 0 ? berr_set(err, -r, "write %s/blobs/sha256/%s", st->tmp,
				oci_digest_hex(digest))
		     : 0;
}

static int stage_layers(struct stage *st, const struct oci_new_layer *layers,
			size_t n, struct berr *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct oci_new_layer *l = &layers[i];
		if (l->empty)
			continue;
		if (!l->path || !oci_digest_valid(l->digest) ||
		    !oci_digest_valid(l->diff_id))
			return berr_setx(err, EINVAL,
					 "image create: layer %zu: no blob", i);
		if (linkat(AT_FDCWD, l->path, st->blobs,
			   oci_digest_hex(l->digest), 0) < 0 &&
		    errno != EEXIST)
			return berr_set(err, errno, "link %s into %s", l->path,
					st->tmp);
	}
	return 0;
}

static int stage_index(struct stage *st, const char *mdigest, size_t msize,
		       const char *tag, struct berr *err)
{
	_cleanup_json_ cJSON *idx = oj_new_object();
	oj_put(idx, "schemaVersion", oj_new_u64(2));
	oj_put(idx, "mediaType", oj_new_str(OCI_MT_INDEX));
	cJSON *d = descriptor(OCI_MT_MANIFEST, mdigest, msize);
	if (tag) {
		cJSON *ann = oj_new_object();
		oj_put(ann, "org.opencontainers.image.ref.name",
		       oj_new_str(tag));
		oj_put(d, "annotations", ann);
	}
	cJSON *ms = oj_new_array();
	oj_append(ms, d);
	oj_put(idx, "manifests", ms);
	_cleanup_free_ char *json = oj_print(idx, NULL);
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int r = base_write_file_at(st->fd, "index.json", json, strlen(json),
				   O_CREAT | O_EXCL);
	if (r == 0)
		r = base_write_file_at(st->fd, "oci-layout", layout,
				       strlen(layout), O_CREAT | O_EXCL);
	return r < 0 ? berr_set(err, -r, "write %s", st->tmp) : 0;
}

static int stage_image(struct stage *st, const struct oci_image *base,
		       const struct oci_new_layer *layers, size_t n,
		       const char *config_json, const char *tag,
		       struct berr *err)
{
	int r = oci_store_mktemp(st->s, "create-", &st->tmp, &st->fd, err);
	if (r < 0)
		return r;
	if ((r = base_mkdir_p(st->fd, "blobs/sha256", 0755)) < 0)
		return berr_set(err, -r, "create %s/blobs", st->tmp);
	st->blobs = openat(st->fd, "blobs/sha256",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->blobs < 0)
		return berr_set(err, errno, "open %s/blobs", st->tmp);
	_cleanup_free_ char *cfg = NULL;
	if ((r = image_config(st->s, base, layers, n, config_json, &cfg, err)) <
	    0)
		return r;
	char cdigest[OCI_DIGEST_LEN], mdigest[OCI_DIGEST_LEN];
	if ((r = stage_blob(st, cfg, cdigest, err)) < 0)
		return r;
	_cleanup_free_ char *man =
		image_manifest(base, layers, n, cdigest, strlen(cfg));
	if ((r = stage_blob(st, man, mdigest, err)) < 0 ||
	    (r = stage_layers(st, layers, n, err)) < 0)
		return r;
	return stage_index(st, mdigest, strlen(man), tag, err);
}

int oci_image_create(struct oci_store *s, const struct oci_image *base,
		     const struct oci_new_layer *layers, size_t n,
		     const char *config_json, const char *tag,
		     struct oci_image **out, struct berr *err)
{
	if (out)
		*out = NULL;
	if (n && !layers)
		return berr_setx(err, EINVAL, "image create: no layers");
	_cleanup_free_ char *ref = NULL;
	int r;
	if (tag && (r = oci_image_ref_normalize(tag, &ref, err)) < 0)
		return r;
	if ((r = oci_store_upgrade(s, err)) < 0)
		return r;
	_cleanup_(stage_freep) struct stage st = {
		.s = s, .fd = -1, .blobs = -1};
	if ((r = stage_image(&st, base, layers, n, config_json ?: "{}", ref,
			     err)) < 0)
		return r;
	_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
	if ((r = oci_load_staged(s, st.tmp, ref ? ref : "new image", NULL, &v,
				 err)) < 0)
		return r;
	/* one image staged: the vector holds it alone */
	if (out && v && v[0])
		*out = TAKE_PTR(v[0]);
	return 0;
}
