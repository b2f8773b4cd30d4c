/* Loading images from Docker archives and OCI image layouts.
 *
 * A tar (a file or stdin, compressed or not) is read once, in order: a
 * pipe cannot seek and `docker save` writes manifest.json last. Each
 * regular file goes to the load's temporary directory in the store while
 * it is hashed, so that every blob's digest is known when the manifest
 * names it. A layout directory is read in place; the blobs it names are
 * copied (and hashed) into the temporary directory.
 *
 * Then each image is verified and unpacked under tmp/: blob digests and
 * sizes against the descriptors, layer diffIDs against the config. Only
 * when every image of the source is good does oci_store_commit() rename
 * the results into place. Any error leaves the store as it was. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci-image-internal.h"

struct src_file {
	char *path; /* clean path inside the archive */
	char *link; /* a link's clean target (an alias), else NULL */
	char digest[OCI_DIGEST_LEN];
	uint64_t size;
	bool in_store; /* the store had this blob: hashed, not kept */
};

struct blob {
	char digest[OCI_DIGEST_LEN];
	uint64_t size;
	int fd;
};

struct loader {
	struct oci_store *s;
	const struct oci_image_load_opts *o;
	struct berr *err;
	const char *what;   /* the source, for messages */
	char *default_repo; /* from the source's name, for bare OCI tags */
	int srcfd;	    /* the layout directory, or the staged tar */
	bool staged;
	bool link_src; /* srcfd is a layout a pull staged in the store */
	struct src_file *files;
	size_t n_files;
	char *tmp; /* tmp/load-XXXXXX, store-relative */
	int tmpfd;
	unsigned seq;
	struct oci_commit c;
	struct oci_image **known; /* the store's records, loaded on demand */
	bool have_known;
	uint64_t max_size;    /* the limit, on each of the next two */
	uint64_t src_bytes;   /* the source expanded: staged or copied */
	uint64_t layer_bytes; /* uncompressed layer streams read */
};

static void loader_freep(struct loader **lp)
{
	struct loader *ld = *lp;
	if (!ld)
		return;
	for (size_t i = 0; i < ld->n_files; i++) {
		free(ld->files[i].path);
		free(ld->files[i].link);
	}
	free(ld->files);
	if (ld->srcfd >= 0)
		close(ld->srcfd);
	if (ld->tmpfd >= 0)
		close(ld->tmpfd);
	if (ld->tmp)
		(void)base_rm_rf_at(ld->s->dirfd, ld->tmp);
	free(ld->tmp);
	free(ld->default_repo);
	base_strv_free(ld->c.blob_tmp);
	base_strv_free(ld->c.blob_digest);
	base_strv_free(ld->c.layer_tmp);
	base_strv_free(ld->c.layer_diff);
	oci_image_list_free(ld->c.images);
	oci_image_list_free(ld->known);
	free(ld);
}

/* ---- reading the source
 * ------------------------------------------------------ */

static int read_fd_max(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *buf = base_calloc(cap + 1, 1);
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			buf = base_realloc(buf, cap + 1, 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static const struct src_file *find_file(struct loader *ld, const char *path)
{
	for (int hops = 0; hops < 16; hops++) {
		const struct src_file *f = NULL;
		for (size_t i = ld->n_files; i-- > 0;)
			if (!strcmp(ld->files[i].path, path)) {
				f = &ld->files[i];
				break;
			}
		if (!f || !f->link)
			return f;
		path = f->link;
	}
	return NULL;
}

static const char *file_type(mode_t m)
{
	return S_ISFIFO(m)   ? "a fifo"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISDIR(m)  ? "a directory"
			     : "not a regular file";
}

/* Opens path in a layout directory: a regular file only. O_NONBLOCK keeps
 * the open of a fifo someone planted there from waiting forever for a
 * writer, and a fifo or a device would never end anyway. -ENOENT (err
 * untouched) when it is not there; other errors fill err. */
static int open_regular(struct loader *ld, const char *path)
{
	_cleanup_close_ int fd =
		base_open_in_root(ld->srcfd, path, O_RDONLY | O_NONBLOCK, 0);
	if (fd == -ENOENT)
		return fd;
	if (fd < 0)
		return berr_set(ld->err, -fd, "%s: open %s", ld->what, path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set(ld->err, errno, "%s: stat %s", ld->what, path);
	if (!S_ISREG(st.st_mode))
		return berr_setx(ld->err, EINVAL,
				 "%s: %s is %s, not a regular file", ld->what,
				 path, file_type(st.st_mode));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return berr_set(ld->err, errno, "%s: %s", ld->what, path);
	return TAKE_FD(fd);
}

/* Opens a file of the source; *f is its staged record (NULL for a
 * directory source). -ENOENT when it is not there (err untouched); other
 * errors fill err. */
static int src_open(struct loader *ld, const char *path,
		    const struct src_file **f)
{
	*f = NULL;
	if (!ld->staged)
		return open_regular(ld, path);
	*f = find_file(ld, path);
	if (!*f)
		return -ENOENT;
	if ((*f)->in_store)
		return oci_store_open_blob(ld->s, (*f)->digest, NULL);
	return base_open_in_root(ld->srcfd, (*f)->path, O_RDONLY, 0);
}

static bool src_exists(struct loader *ld, const char *path)
{
	const struct src_file *f;
	int fd = src_open(ld, path, &f);
	if (fd >= 0)
		close(fd);
	/* anything but a missing file: the open reports it again */
	return fd != -ENOENT;
}

static int read_doc(struct loader *ld, int fd, const char *what, char **buf,
		    size_t *len)
{
	int r = read_fd_max(fd, OCI_DOC_MAX, buf, len);
	if (r == -EFBIG)
		return berr_setx(ld->err, EFBIG, "%s: larger than %u bytes",
				 what, OCI_DOC_MAX);
	if (r < 0)
		return berr_set(ld->err, -r, "read %s", what);
	return 0;
}

static int src_read_doc(struct loader *ld, const char *path, char **buf,
			size_t *len)
{
	const struct src_file *f;
	_cleanup_close_ int fd = src_open(ld, path, &f);
	if (fd == -ENOENT)
		return berr_set(ld->err, ENOENT, "%s: %s", ld->what, path);
	if (fd < 0)
		return fd;
	return read_doc(ld, fd, path, buf, len);
}

/* ---- staging a tar
 * -------------------------------------------------------------- */

static struct src_file *add_file(struct loader *ld, const char *path)
{
	ld->files =
		base_realloc(ld->files, ld->n_files + 1, sizeof(*ld->files));
	struct src_file *f = &ld->files[ld->n_files++];
	*f = (struct src_file){.path = base_strdup(path)};
	return f;
}

/* "blobs/sha256/<hex>" names the digest it must have. */
static bool blob_path_digest(const char *path, char out[OCI_DIGEST_LEN])
{
	if (!base_str_has_prefix(path, "blobs/sha256/"))
		return false;
	snprintf(out, OCI_DIGEST_LEN, "sha256:%s", path + 13);
	return oci_digest_valid(out);
}

void oci_size_str(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"bytes", "KiB", "MiB",
					    "GiB",   "TiB", "PiB"};
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.4g %s", v, units[u]);
}

/* Whether the source may expand to end bytes of the current file on top
 * of what it did so far. */
static int src_budget(struct loader *ld, const char *path, uint64_t end)
{
	if (end <= ld->max_size && ld->src_bytes <= ld->max_size - end)
		return 0;
	char lim[32];
	oci_size_str(ld->max_size, lim, sizeof(lim));
	return berr_setx(ld->err, EFBIG,
			 "%s: `%.200s`: the source expands to more than %s, "
			 "the size limit of a load",
			 ld->what, path, lim);
}

/* Hashes zeros up to offset end: the holes of a sparse entry. */
static void hash_zeros(struct oci_sha256 *h, uint64_t end)
{
	static const char zeros[1 << 16];
	while (h->bytes < end) {
		uint64_t n = end - h->bytes;
		oci_sha256_update(h, zeros,
				  n < sizeof(zeros) ? (size_t)n
						    : sizeof(zeros));
	}
}

/* Copies the entry's data blocks to outfd (-1: only hash) at their
 * offsets: the holes of a sparse entry are never written, only hashed as
 * the zeros they read as (a blob's digest covers its whole length). */
static int stage_blocks(struct loader *ld, const struct oci_la *la,
			struct archive *a, struct archive_entry *e, int outfd,
			struct src_file *f, struct oci_sha256 *h)
{
	int64_t size = la->entry_size(e);
	int r = src_budget(ld, f->path, size > 0 ? (uint64_t)size : 0);
	while (r == 0) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int k = la->read_data_block(a, &buf, &n, &off);
		if (k == ARCHIVE_EOF)
			break;
		if (k < ARCHIVE_WARN || off < 0 || (uint64_t)off < h->bytes)
			return berr_setx(
				ld->err, EIO, "%s: entry `%.200s`: %s",
				ld->what, f->path,
				k < ARCHIVE_WARN
					? (la->error_string(a) ?: "read error")
					: "blocks overlap");
		if ((r = src_budget(ld, f->path, (uint64_t)off + n)) < 0)
			return r;
		hash_zeros(h, (uint64_t)off);
		oci_sha256_update(h, buf, n);
		if (outfd >= 0 && (r = oci_pwrite_all(outfd, buf, n, off)) < 0)
			return berr_set(ld->err, -r, "stage %s", f->path);
	}
	if (r < 0)
		return r;
	/* a sparse entry may end in a hole */
	if (size > 0 && (uint64_t)size > h->bytes) {
		hash_zeros(h, (uint64_t)size);
		if (outfd >= 0 && ftruncate(outfd, size) < 0)
			return berr_set(ld->err, errno, "stage %s", f->path);
	}
	return 0;
}

static int stage_data(struct loader *ld, const struct oci_la *la,
		      struct archive *a, struct archive_entry *e, int outfd,
		      struct src_file *f)
{
	struct oci_sha256 h;
	int r = oci_sha256_init(&h, ld->err);
	if (r < 0)
		return r;
	if ((r = stage_blocks(ld, la, a, e, outfd, f, &h)) < 0) {
		oci_sha256_free(&h);
		return r;
	}
	ld->src_bytes += h.bytes;
	f->size = h.bytes;
	oci_sha256_final(&h, f->digest);
	return 0;
}

static int stage_file(struct loader *ld, const struct oci_la *la,
		      struct archive *a, struct archive_entry *e,
		      const char *path)
{
	struct src_file *f = add_file(ld, path);
	char want[OCI_DIGEST_LEN];
	/* A blob the store already has is only hashed: a second load of
	 * the same image writes nothing but the differences. */
	if (blob_path_digest(path, want) && oci_store_has_blob(ld->s, want)) {
		f->in_store = true;
		return stage_data(ld, la, a, e, -1, f);
	}
	char *slash = strrchr(f->path, '/');
	_cleanup_free_ char *dir =
		slash ? base_sprintf("%.*s", (int)(slash - f->path), f->path)
		      : base_strdup("");
	const char *name = slash ? slash + 1 : f->path;
	_cleanup_close_ int parent =
		oci_open_dir_nofollow(ld->srcfd, dir, true, NULL);
	if (parent < 0)
		return berr_set(ld->err, -parent, "%s: entry `%.200s`",
				ld->what, path);
	(void)unlinkat(parent, name, 0); /* a repeated entry: the last wins */
	_cleanup_close_ int fd = openat(
		parent, name,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(ld->err, errno, "%s: entry `%.200s`", ld->what,
				path);
	return stage_data(ld, la, a, e, fd, f);
}

/* A link in the archive (Docker writes symlinks between identical
 * layers) becomes an alias of its target, resolved lexically. */
static int stage_link(struct loader *ld, const char *path, const char *target,
		      bool hard)
{
	_cleanup_free_ char *joined = NULL;
	if (hard || target[0] == '/') {
		joined = base_strdup(target);
	} else {
		const char *slash = strrchr(path, '/');
		joined = slash ? base_sprintf("%.*s/%s", (int)(slash - path),
					      path, target)
			       : base_strdup(target);
	}
	/* fold "dir/../x" (the only ".." a sane archive has) */
	_cleanup_free_ char *flat = base_calloc(strlen(joined) + 1, 1);
	size_t o = 0;
	for (char *save = NULL, *c = strtok_r(joined, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (o == 0)
				return berr_setx(ld->err, EPERM,
						 "%s: entry `%.200s`: link "
						 "points outside the archive",
						 ld->what, path);
			while (o > 0 && flat[--o] != '/')
				;
			flat[o] = '\0';
			continue;
		}
		o += (size_t)sprintf(flat + o, "%s%s", o ? "/" : "", c);
	}
	struct src_file *f = add_file(ld, path);
	f->link = TAKE_PTR(flat);
	return 0;
}

static int stage_entry(struct loader *ld, const struct oci_la *la,
		       struct archive *a, struct archive_entry *e)
{
	const char *raw = la->entry_pathname(e);
	_cleanup_free_ char *path = NULL;
	const char *why = NULL;
	if (oci_tar_clean_path(raw ? raw : "", &path, &why) < 0)
		return berr_setx(ld->err, EPERM, "%s: entry `%.200s`: %s",
				 ld->what, raw ? raw : "", why);
	if (!path[0])
		return 0;
	if (la->entry_hardlink(e))
		return stage_link(ld, path, la->entry_hardlink(e), true);
	switch (la->entry_filetype(e)) {
	case AE_IFREG:
		return stage_file(ld, la, a, e, path);
	case AE_IFLNK:
		return stage_link(ld, path, la->entry_symlink(e) ?: "", false);
	default:
		return 0; /* directories are implied; nothing else is used */
	}
}

static int stage_tar(struct loader *ld, int fd)
{
	const struct oci_la *la = oci_dl_archive(ld->err);
	if (!la)
		return -ENOENT;
	if (mkdirat(ld->tmpfd, "src", 0700) < 0)
		return berr_set(ld->err, errno, "create %s/src", ld->tmp);
	ld->srcfd =
		openat(ld->tmpfd, "src", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ld->srcfd < 0)
		return berr_set(ld->err, errno, "open %s/src", ld->tmp);
	ld->staged = true;
	struct archive *a = la->read_new();
	if (!a)
		return berr_setx(ld->err, ENOMEM, "%s: out of memory",
				 ld->what);
	la->read_support_filter_all(a);
	la->read_support_format_tar(a);
	int r = 0;
	if (la->read_open_fd(a, fd, 1 << 17) != ARCHIVE_OK)
		r = berr_setx(ld->err, EINVAL, "%s: %s", ld->what,
			      la->error_string(a));
	while (r == 0) {
		struct archive_entry *e;
		int h = la->read_next_header(a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h < ARCHIVE_WARN)
			r = berr_setx(ld->err, EINVAL, "%s: %s", ld->what,
				      la->error_string(a));
		else
			r = stage_entry(ld, la, a, e);
	}
	la->read_free(a);
	return r;
}

/* ---- blobs
 * ------------------------------------------------------------------------ */

static int queued_blob(struct loader *ld, const char *digest)
{
	for (size_t i = 0; ld->c.blob_digest && ld->c.blob_digest[i]; i++)
		if (!strcmp(ld->c.blob_digest[i], digest))
			return (int)i;
	return -1;
}

static void queue_blob(struct loader *ld, const char *tmp_rel,
		       const char *digest)
{
	if (queued_blob(ld, digest) >= 0 || oci_store_has_blob(ld->s, digest))
		return;
	base_strv_push(&ld->c.blob_tmp, tmp_rel);
	base_strv_push(&ld->c.blob_digest, digest);
}

/* Copies a file of a layout directory into tmp/, hashing it. A layout a
 * pull staged in the store's tmp/ is linked instead: nobody else can
 * write to it, and a copy would write every layer twice. */
static int copy_in(struct loader *ld, const char *role, const char *path,
		   struct blob *b, char **tmp_rel)
{
	_cleanup_close_ int in = open_regular(ld, path);
	if (in < 0)
		return in;
	struct stat st;
	if (fstat(in, &st) < 0)
		return berr_set(ld->err, errno, "%s: stat %s", ld->what, path);
	int r = src_budget(ld, path, (uint64_t)st.st_size);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = base_sprintf("blob-%u", ld->seq++);
	_cleanup_close_ int out = -1;
	if (ld->link_src) {
		if (linkat(ld->srcfd, path, ld->tmpfd, name, 0) < 0)
			return berr_set(ld->err, errno, "link %s into %s", path,
					ld->tmp);
		r = oci_sha256_copy(in, -1, b->digest, &b->size, ld->err);
		out = TAKE_FD(in);
	} else {
		out = openat(ld->tmpfd, name,
			     O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     0600);
		if (out < 0)
			return berr_set(ld->err, errno, "create %s/%s", ld->tmp,
					name);
		r = oci_sha256_copy(in, out, b->digest, &b->size, ld->err);
	}
	if (r < 0)
		return berr_wrap(ld->err, "%s %s", role, path);
	ld->src_bytes += b->size;
	if (lseek(out, 0, SEEK_SET) < 0)
		return berr_set(ld->err, errno, "seek %s", name);
	b->fd = TAKE_FD(out);
	*tmp_rel = base_sprintf("%s/%s", ld->tmp, name);
	return 0;
}

static int open_known(struct loader *ld, const char *digest, struct blob *b,
		      bool *found)
{
	int i = queued_blob(ld, digest);
	*found = i >= 0 || oci_store_has_blob(ld->s, digest);
	if (!*found)
		return 0;
	int fd = i >= 0 ? openat(ld->s->dirfd, ld->c.blob_tmp[i],
				 O_RDONLY | O_CLOEXEC)
			: oci_store_open_blob(ld->s, digest, NULL);
	if (fd < 0)
		return berr_set(ld->err, fd == -1 ? errno : -fd, "open blob %s",
				digest);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return berr_set(ld->err, errno, "stat blob %s", digest);
	}
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	b->size = (uint64_t)st.st_size;
	b->fd = fd;
	return 0;
}

/* The blob at path (in the source), checked against expect (may be NULL:
 * the caller learns the digest) and expect_size (-1: unknown). On success
 * b->fd reads it from the start and the blob is queued for the store. */
static int get_blob(struct loader *ld, const char *role, const char *path,
		    const char *expect, int64_t expect_size, struct blob *b)
{
	*b = (struct blob){.fd = -1};
	const char *name = expect ? expect : path;
	_cleanup_free_ char *tmp_rel = NULL;
	int r = 0;
	bool found = false;
	if (!ld->staged && expect &&
	    (r = open_known(ld, expect, b, &found)) < 0)
		return r;
	if (found) {
		/* verified when it was stored */
	} else if (ld->staged) {
		const struct src_file *f = NULL;
		b->fd = src_open(ld, path, &f);
		if (b->fd < 0)
			return berr_setx(ld->err, ENOENT,
					 "%s %s: not found in %s", role, name,
					 ld->what);
		snprintf(b->digest, sizeof(b->digest), "%s", f->digest);
		b->size = f->size;
		if (!f->in_store)
			tmp_rel = base_sprintf("%s/src/%s", ld->tmp, f->path);
	} else if ((r = copy_in(ld, role, path, b, &tmp_rel)) == -ENOENT) {
		return berr_setx(ld->err, ENOENT, "%s %s: not found in %s",
				 role, name, ld->what);
	} else if (r < 0) {
		return r;
	}
	if (expect && strcmp(b->digest, expect))
		r = berr_setx(ld->err, EINVAL, "%s %s: digest mismatch: got %s",
			      role, expect, b->digest);
	else if (expect_size >= 0 && b->size != (uint64_t)expect_size)
		r = berr_setx(ld->err, EINVAL,
			      "%s %s: size mismatch: %llu bytes, the "
			      "descriptor says %lld",
			      role, name, (unsigned long long)b->size,
			      (long long)expect_size);
	if (r < 0) {
		close(b->fd);
		b->fd = -1;
		return r;
	}
	if (tmp_rel)
		queue_blob(ld, tmp_rel, b->digest);
	return 0;
}

static int get_doc(struct loader *ld, const char *role, const char *path,
		   const char *expect, int64_t expect_size, char **buf,
		   size_t *len, char digest[OCI_DIGEST_LEN])
{
	struct blob b;
	int r = get_blob(ld, role, path, expect, expect_size, &b);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = base_sprintf("%s %s", role, b.digest);
	r = read_doc(ld, b.fd, what, buf, len);
	close(b.fd);
	if (r == 0 && digest)
		snprintf(digest, OCI_DIGEST_LEN, "%s", b.digest);
	return r;
}

static char *blob_path(const char *digest)
{
	return base_sprintf("blobs/sha256/%s", oci_digest_hex(digest));
}

/* ---- layers
 * -------------------------------------------------------------------------- */

static int queued_layer(struct loader *ld, const char *diff_id)
{
	for (size_t i = 0; ld->c.layer_diff && ld->c.layer_diff[i]; i++)
		if (!strcmp(ld->c.layer_diff[i], diff_id))
			return (int)i;
	return -1;
}

/* A (blob, diffID) pair verified before: by an image of the store, or
 * by this load. Its unpacked size comes along. */
static bool verified_before(struct loader *ld, const char *digest,
			    const char *diff_id, uint64_t *size)
{
	struct oci_image **lists[2] = {ld->known, ld->c.images};
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; lists[k] && lists[k][i]; i++)
			for (size_t j = 0; j < lists[k][i]->n_layers; j++) {
				struct oci_image_layer *l =
					&lists[k][i]->layers[j];
				if (!strcmp(l->digest, digest) &&
				    !strcmp(l->diff_id, diff_id)) {
					*size = l->unpacked_size;
					return true;
				}
			}
	return false;
}

static int unpack_new_layer(struct loader *ld, const struct blob *b,
			    const struct oci_unpack_opts *uo, char *got,
			    uint64_t *size, char **tmp_rel)
{
	_cleanup_free_ char *name = base_sprintf("layer-%u", ld->seq++);
	if (mkdirat(ld->tmpfd, name, 0755) < 0)
		return berr_set(ld->err, errno, "create %s/%s", ld->tmp, name);
	_cleanup_close_ int dfd =
		openat(ld->tmpfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(ld->err, errno, "open %s/%s", ld->tmp, name);
	*tmp_rel = base_sprintf("%s/%s", ld->tmp, name);
	return oci_unpack_layer(b->fd, dfd, uo, got, size, ld->err);
}

static int load_layer(struct loader *ld, const char *path,
		      const struct oci_desc *d, const char *diff_id,
		      struct oci_image_layer *out)
{
	struct blob b;
	int r = get_blob(ld, "layer", path, d->digest, d->digest ? d->size : -1,
			 &b);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = b.fd;
	out->digest = base_strdup(b.digest);
	out->diff_id = base_strdup(diff_id);
	out->media_type = base_strdup(d->media_type);
	out->size = b.size;
	if (!ld->have_known) {
		if ((r = oci_store_records(ld->s, &ld->known, ld->err)) < 0)
			return r;
		ld->have_known = true;
	}
	bool exists = queued_layer(ld, diff_id) >= 0 ||
		      oci_store_has_layer(ld->s, diff_id);
	if (exists &&
	    verified_before(ld, b.digest, diff_id, &out->unpacked_size))
		return 0;

	_cleanup_free_ char *what = base_sprintf("layer %s", b.digest);
	struct oci_unpack_opts uo = {
		.allow_devices = ld->o->allow_devices,
		.what = what,
		.max_bytes = ld->max_size - ld->layer_bytes,
		.limit = ld->max_size,
	};
	char got[OCI_DIGEST_LEN];
	_cleanup_free_ char *tmp_rel = NULL;
	if (exists)
		r = oci_unpack_layer(fd, -1, &uo, got, &out->unpacked_size,
				     ld->err);
	else
		r = unpack_new_layer(ld, &b, &uo, got, &out->unpacked_size,
				     &tmp_rel);
	if (r < 0)
		return r;
	ld->layer_bytes += out->unpacked_size;
	if (strcmp(got, diff_id))
		return berr_setx(ld->err, EINVAL,
				 "layer %s: diffID mismatch: the config says "
				 "%s, the layer is %s",
				 b.digest, diff_id, got);
	if (tmp_rel) {
		base_strv_push(&ld->c.layer_tmp, tmp_rel);
		base_strv_push(&ld->c.layer_diff, diff_id);
	}
	return 0;
}

/* ---- images
 * -------------------------------------------------------------------------- */

/* "latest" alone (an OCI ref.name is often a bare tag) gets the source's
 * name as its repository. */
static int add_name(struct loader *ld, struct oci_image *img, const char *name)
{
	if (!name)
		return 0;
	_cleanup_free_ char *full = NULL;
	if (!strchr(name, ':') && !strchr(name, '/') && !strchr(name, '@')) {
		if (!ld->default_repo)
			return 0;
		full = base_sprintf("%s:%s", ld->default_repo, name);
		name = full;
	}
	_cleanup_free_ char *ref = NULL;
	int r = oci_image_ref_normalize(name, &ref, ld->err);
	if (r < 0)
		return berr_wrap(ld->err, "%s", ld->what);
	for (char **t = img->repo_tags; t && *t; t++)
		if (!strcmp(*t, ref))
			return 0;
	base_strv_push(&img->repo_tags, ref);
	return 0;
}

static struct oci_image *pending_image(struct loader *ld, const char *digest)
{
	for (size_t i = 0; ld->c.images && ld->c.images[i]; i++)
		if (!strcmp(ld->c.images[i]->digest, digest))
			return ld->c.images[i];
	return NULL;
}

/* layer_paths: where each layer is in the source (Docker archives);
 * NULL: at blobs/sha256/<hex> of its descriptor (OCI layouts). */
static int load_image(struct loader *ld, const struct oci_manifest_doc *m,
		      char *const *layer_paths, const char *digest,
		      const char *config_path, char *const *names)
{
	struct oci_image *have = pending_image(ld, digest);
	if (have) {
		for (size_t i = 0; names && names[i]; i++)
			if (add_name(ld, have, names[i]) < 0)
				return -EINVAL;
		return 0;
	}
	_cleanup_free_ char *cfg = NULL;
	size_t len = 0;
	char cfg_digest[OCI_DIGEST_LEN];
	_cleanup_free_ char *cpath = config_path ? base_strdup(config_path)
						 : blob_path(m->config.digest);
	int r = get_doc(ld, "config", cpath, m->config.digest,
			m->config.digest ? m->config.size : -1, &cfg, &len,
			cfg_digest);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = base_sprintf("config %s", cfg_digest);
	struct oci_imgcfg_doc c;
	if ((r = oci_imgcfg_parse(cfg, len, what, &c, ld->err)) < 0) {
		oci_imgcfg_clear(&c);
		return r;
	}
	_cleanup_(oci_image_freep) struct oci_image *img =
		base_calloc(1, sizeof(*img));
	img->digest = base_strdup(digest);
	img->id = base_strdup(cfg_digest);
	img->created = TAKE_PTR(c.created);
	img->os = TAKE_PTR(c.os);
	img->architecture = TAKE_PTR(c.arch);
	img->repo_tags = base_calloc(1, sizeof(char *));
	if (c.n_diff_ids != m->n_layers)
		r = berr_setx(ld->err, EINVAL,
			      "%s: %zu diff_ids for the manifest's %zu layers",
			      what, c.n_diff_ids, m->n_layers);
	img->layers = base_calloc(m->n_layers + 1, sizeof(*img->layers));
	for (size_t i = 0; r == 0 && i < m->n_layers; i++) {
		_cleanup_free_ char *p =
			layer_paths ? base_strdup(layer_paths[i])
				    : blob_path(m->layers[i].digest);
		img->n_layers = i + 1;
		r = load_layer(ld, p, &m->layers[i], c.diff_ids[i],
			       &img->layers[i]);
		img->size += img->layers[i].unpacked_size;
	}
	oci_imgcfg_clear(&c);
	for (size_t i = 0; r == 0 && names && names[i]; i++)
		r = add_name(ld, img, names[i]);
	if (r < 0)
		return r;
	size_t n = 0;
	while (ld->c.images && ld->c.images[n])
		n++;
	ld->c.images = base_realloc(ld->c.images, n + 2, sizeof(*ld->c.images));
	ld->c.images[n] = TAKE_PTR(img);
	ld->c.images[n + 1] = NULL;
	return 0;
}

/* ---- OCI layouts
 * ------------------------------------------------------------------- */

static int select_index(struct loader *ld, const struct oci_manifest_doc *idx,
			const char *what, const char *name, int depth);

static int load_manifest(struct loader *ld, const struct oci_desc *d,
			 const char *name, int depth)
{
	_cleanup_free_ char *path = blob_path(d->digest);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = get_doc(ld, "manifest", path, d->digest, d->size, &buf, &len,
			NULL);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = base_sprintf("manifest %s", d->digest);
	struct oci_manifest_doc m;
	r = oci_manifest_parse(buf, len, what, &m, ld->err);
	if (r == 0 && m.is_index)
		r = select_index(ld, &m, what, name, depth + 1);
	else if (r == 0) {
		char *names[] = {(char *)name, NULL};
		r = load_image(ld, &m, NULL, d->digest, NULL, names);
	}
	oci_manifest_clear(&m);
	return r;
}

static bool same_name(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether entry i of idx loses to another of the same name: a better
 * platform, or an equal one listed earlier. */
static bool outranked(const struct oci_manifest_doc *idx, size_t i,
		      const char *name, int score)
{
	for (size_t k = 0; k < idx->n_manifests; k++) {
		const struct oci_desc *o = &idx->manifests[k];
		if (k == i || !o->has_platform ||
		    !same_name(o->ref_name ? o->ref_name : name,
			       idx->manifests[i].ref_name
				       ? idx->manifests[i].ref_name
				       : name))
			continue;
		int s = oci_platform_score(o);
		if (s > score || (s == score && k < i))
			return true;
	}
	return false;
}

/* Entries without a platform are separate images, all taken; among those
 * with one, the best fit for linux/<host> per name. */
static int select_index(struct loader *ld, const struct oci_manifest_doc *idx,
			const char *what, const char *name, int depth)
{
	if (depth > 4)
		return berr_setx(ld->err, ELOOP, "%s: indexes nested too deep",
				 what);
	size_t taken = 0;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_desc *d = &idx->manifests[i];
		if (d->has_platform) {
			int score = oci_platform_score(d);
			if (score == 0 || outranked(idx, i, name, score))
				continue;
		}
		int r = load_manifest(ld, d, d->ref_name ? d->ref_name : name,
				      depth);
		if (r < 0)
			return r;
		taken++;
	}
	if (taken == 0)
		return berr_setx(ld->err, ENOENT, "%s: no image for linux/%s",
				 what, oci_image_host_arch());
	return 0;
}

static int load_oci(struct loader *ld)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = src_read_doc(ld, "index.json", &buf, &len);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = base_sprintf("%s: index.json", ld->what);
	struct oci_manifest_doc idx;
	r = oci_manifest_parse(buf, len, what, &idx, ld->err);
	if (r == 0 && !idx.is_index)
		r = berr_setx(ld->err, EINVAL, "%s: not an image index", what);
	if (r == 0)
		r = select_index(ld, &idx, what, NULL, 0);
	oci_manifest_clear(&idx);
	return r;
}

/* ---- Docker archives
 * ------------------------------------------------------------------ */

/* The digest a Docker archive's file name promises: "<hex>.json" (a
 * legacy config) or "blobs/sha256/<hex>". */
static char *promised_digest(const char *path)
{
	char d[OCI_DIGEST_LEN];
	if (blob_path_digest(path, d))
		return base_strdup(d);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (strlen(base) == OCI_HEX_LEN + 5 &&
	    !strcmp(base + OCI_HEX_LEN, ".json")) {
		snprintf(d, sizeof(d), "sha256:%.64s", base);
		if (oci_digest_valid(d))
			return base_strdup(d);
	}
	return NULL;
}

static const char *sniff_layer_type(int fd)
{
	unsigned char m[4] = {0};
	if (pread(fd, m, sizeof(m), 0) == 4) {
		if (m[0] == 0x1f && m[1] == 0x8b)
			return OCI_MT_LAYER "+gzip";
		if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f &&
		    m[3] == 0xfd)
			return OCI_MT_LAYER "+zstd";
	}
	return OCI_MT_LAYER;
}

/* The OCI manifest of a Docker archive's entry: Docker archives have
 * none, but the store keys images by manifest digest. */
static int docker_manifest(struct loader *ld, const struct oci_docker_entry *e,
			   struct oci_manifest_doc *m, char *digest)
{
	_cleanup_free_ char *cexpect = promised_digest(e->config);
	struct blob b;
	int r = get_blob(ld, "config", e->config, cexpect, -1, &b);
	if (r < 0)
		return r;
	close(b.fd);
	m->config = (struct oci_desc){.media_type = base_strdup(OCI_MT_CONFIG),
				      .digest = base_strdup(b.digest),
				      .size = (int64_t)b.size};
	m->layers = base_calloc(e->n_layers + 1, sizeof(*m->layers));
	for (size_t i = 0; i < e->n_layers; i++) {
		_cleanup_free_ char *lexpect = promised_digest(e->layers[i]);
		if ((r = get_blob(ld, "layer", e->layers[i], lexpect, -1, &b)) <
		    0)
			return r;
		m->n_layers = i + 1;
		m->layers[i] = (struct oci_desc){
			.media_type = base_strdup(sniff_layer_type(b.fd)),
			.digest = base_strdup(b.digest),
			.size = (int64_t)b.size};
		close(b.fd);
	}
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "schemaVersion", oj_new_u64(2));
	oj_put(o, "mediaType", oj_new_str(OCI_MT_MANIFEST));
	cJSON *layers = oj_new_array();
	for (size_t i = 0; i <= m->n_layers; i++) {
		struct oci_desc *d = i == 0 ? &m->config : &m->layers[i - 1];
		cJSON *lo = oj_new_object();
		oj_put(lo, "mediaType", oj_new_str(d->media_type));
		oj_put(lo, "digest", oj_new_str(d->digest));
		oj_put(lo, "size", oj_new_i64(d->size));
		if (i == 0)
			oj_put(o, "config", lo);
		else
			oj_append(layers, lo);
	}
	oj_put(o, "layers", layers);
	_cleanup_free_ char *json = oj_print(o, NULL);
	if ((r = oci_sha256_buf(json, strlen(json), digest, ld->err)) < 0)
		return r;
	_cleanup_free_ char *name = base_sprintf("manifest-%u", ld->seq++);
	_cleanup_close_ int fd = openat(
		ld->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (r = base_write_all(fd, json, strlen(json))) < 0)
		return berr_set(ld->err, fd < 0 ? errno : -r, "write %s/%s",
				ld->tmp, name);
	_cleanup_free_ char *rel = base_sprintf("%s/%s", ld->tmp, name);
	queue_blob(ld, rel, digest);
	return 0;
}

static int load_docker(struct loader *ld)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = src_read_doc(ld, "manifest.json", &buf, &len);
	if (r < 0)
		return r;
	struct oci_docker_entry *v = NULL;
	size_t n = 0;
	if ((r = oci_docker_manifest_parse(buf, len, &v, &n, ld->err)) < 0)
		return berr_wrap(ld->err, "%s", ld->what);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct oci_manifest_doc m = {0};
		char digest[OCI_DIGEST_LEN];
		r = docker_manifest(ld, &v[i], &m, digest);
		if (r == 0)
			r = load_image(ld, &m, v[i].layers, digest, v[i].config,
				       v[i].repo_tags);
		oci_manifest_clear(&m);
	}
	oci_docker_entries_free(v, n);
	return r;
}

/* ---- entry point
 * ------------------------------------------------------------------------ */

/* A repository name from the source's file name: "/x/busybox.tar.gz" ->
 * "busybox". NULL when nothing valid is left. */
static char *repo_from_path(const char *path)
{
	if (!strcmp(path, "-"))
		return NULL;
	_cleanup_free_ char *copy = base_strdup(path);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	const char *base = strrchr(copy, '/');
	_cleanup_free_ char *name = base_strdup(base ? base + 1 : copy);
	static const char *const ext[] = {".tar.gz", ".tar.zst", ".tgz", ".tar",
					  ".oci"};
	for (size_t i = 0; i < ARRAY_SIZE(ext); i++) {
		size_t l = strlen(name), e = strlen(ext[i]);
		if (l > e && !strcmp(name + l - e, ext[i]))
			name[l - e] = '\0';
	}
	for (char *p = name; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", *p))
			*p = '-';
	}
	_cleanup_free_ char *ref = base_sprintf("%s:latest", name);
	char *out = NULL;
	if (oci_image_ref_normalize(ref, &out, NULL) < 0)
		return NULL;
	free(out);
	return TAKE_PTR(name);
}

static int open_source(struct loader *ld, const char *path)
{
	if (!strcmp(path, "-"))
		return stage_tar(ld, STDIN_FILENO);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return berr_set(ld->err, errno, "open %s", path);
	if (!S_ISDIR(st.st_mode))
		return stage_tar(ld, fd);
	ld->srcfd = TAKE_FD(fd);
	return 0;
}

static int load_source(struct loader *ld)
{
	if (src_exists(ld, "index.json"))
		return load_oci(ld);
	if (src_exists(ld, "manifest.json"))
		return load_docker(ld);
	return berr_setx(ld->err, EINVAL,
			 "%s: neither an OCI layout (index.json) nor a Docker "
			 "archive (manifest.json) (a root filesystem? use "
			 "`berth image import`)",
			 ld->what);
}

static int load_path(struct oci_store *s, const char *path, const char *what,
		     bool link_src, const struct oci_image_load_opts *o,
		     struct oci_image ***out, struct berr *err)
{
	static const struct oci_image_load_opts defaults;
	if (out)
		*out = NULL;
	/* fail early, with the package to install */
	if (!oci_dl_archive(err) || !oci_dl_crypto(err))
		return -ENOENT;
	int r = oci_store_upgrade(s, err);
	if (r < 0)
		return r;
	_cleanup_(loader_freep) struct loader *ld = base_calloc(1, sizeof(*ld));
	ld->s = s;
	ld->o = o ? o : &defaults;
	ld->err = err;
	ld->what = what;
	ld->link_src = link_src;
	ld->max_size =
		ld->o->max_size ? ld->o->max_size : OCI_IMAGE_MAX_SIZE_DEFAULT;
	ld->srcfd = ld->tmpfd = -1;
	ld->default_repo = link_src ? NULL : repo_from_path(path);
	if ((r = oci_store_mktemp(s, "load-", &ld->tmp, &ld->tmpfd, err)) < 0)
		return r;
	if ((r = open_source(ld, path)) < 0 || (r = load_source(ld)) < 0)
		return r;
	if ((r = oci_store_commit(s, &ld->c, err)) < 0)
		return r;
	if (out)
		*out = TAKE_PTR(ld->c.images);
	return 0;
}

int oci_image_load(struct oci_store *s, const char *path,
		   const struct oci_image_load_opts *o, struct oci_image ***out,
		   struct berr *err)
{
	return load_path(s, path, strcmp(path, "-") ? path : "stdin", false, o,
			 out, err);
}

int oci_load_staged(struct oci_store *s, const char *dir, const char *what,
		    const struct oci_image_load_opts *o,
		    struct oci_image ***out, struct berr *err)
{
	_cleanup_free_ char *path = base_sprintf("%s/%s", s->path, dir);
	return load_path(s, path, what, true, o, out, err);
}
