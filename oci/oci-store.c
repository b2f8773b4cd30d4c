/* The image store: a directory of content-addressed blobs, unpacked layers,
 * image records and references, guarded by one flock.
 *
 * Crash safety comes from the order of renames, not from a journal: a
 * writer builds everything under tmp/, renames blobs and layers into place
 * (complete or not at all), syncs, and only then writes the image record
 * and the references that make them reachable. A writer killed at any
 * point leaves unreferenced but complete entries (prune removes them) and
 * files under tmp/ (the next writer removes them). */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "oci/oci-image-internal.h"

static const char *const store_dirs[] = {"blobs", "blobs/sha256", "layers",
					 "images", "tmp"};

/* ---- open, lock, leftovers
 * --------------------------------------------------- */

/* Removes what an interrupted writer left: tmp/ and the temporary names
 * base_write_file_atomic() uses (".NAME.tmp.PID"). Only under the
 * exclusive lock: nobody else is writing then. */
/* A directory under tmp/ whose maker still runs: it holds an flock on it
 * (oci_store_mktemp), a pull downloading under the shared lock. */
static bool tmp_in_use(int tmp, const char *name)
{
	_cleanup_close_ int fd = openat(
		tmp, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 &&
	       errno == EWOULDBLOCK;
}

static void remove_leftovers(struct oci_store *s)
{
	_cleanup_close_ int tmp =
		openat(s->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp >= 0) {
		_cleanup_closedir_ DIR *d =
			fdopendir(fcntl(tmp, F_DUPFD_CLOEXEC, 3));
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") &&
			    strcmp(de->d_name, "..") &&
			    !tmp_in_use(tmp, de->d_name))
				(void)base_rm_rf_at(tmp, de->d_name);
	}
	static const char *const dirs[] = {".", "images"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_close_ int fd = openat(
			s->dirfd, dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		_cleanup_closedir_ DIR *d =
			fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 3));
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp."))
				(void)unlinkat(fd, de->d_name, 0);
	}
}

static int take_lock(struct oci_store *s, enum oci_store_mode mode,
		     struct berr *err)
{
	int op = mode == OCI_STORE_WRITE ? LOCK_EX : LOCK_SH;
	while (flock(s->lockfd, op) < 0)
		if (errno != EINTR)
			return berr_set(err, errno, "lock image store %s",
					s->path);
	s->mode = mode;
	if (mode == OCI_STORE_WRITE)
		remove_leftovers(s);
	return 0;
}

int oci_store_open(const char *dir, enum oci_store_mode mode,
		   struct oci_store **out, struct berr *err)
{
	*out = NULL;
	if (!dir || !dir[0])
		dir = OCI_STORE_DEFAULT;
	int r = base_mkdir_p(AT_FDCWD, dir, 0700);
	if (r < 0)
		return berr_set(err, -r, "create image store %s", dir);
	struct oci_store *s = base_calloc(1, sizeof(*s));
	/* absolute: layer paths handed out must not depend on the cwd */
	s->path = realpath(dir, NULL);
	if (!s->path)
		s->path = base_strdup(dir);
	s->lockfd = -1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = berr_set(err, errno, "open image store %s", dir);
		oci_store_close(s);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(store_dirs); i++) {
		if (mkdirat(s->dirfd, store_dirs[i], 0700) < 0 &&
		    errno != EEXIST) {
			r = berr_set(err, errno, "create %s/%s", dir,
				     store_dirs[i]);
			oci_store_close(s);
			return r;
		}
	}
	s->lockfd =
		openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lockfd < 0)
		r = berr_set(err, errno, "open %s/lock", dir);
	else
		r = take_lock(s, mode, err);
	if (r < 0) {
		oci_store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void oci_store_close(struct oci_store *s)
{
	if (!s)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the lock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->path);
	free(s);
}

const char *oci_store_path(const struct oci_store *s)
{
	return s->path;
}

int oci_store_upgrade(struct oci_store *s, struct berr *err)
{
	if (s->mode == OCI_STORE_WRITE)
		return 0;
	return take_lock(s, OCI_STORE_WRITE, err);
}

int oci_store_mktemp(struct oci_store *s, const char *prefix, char **name,
		     int *fd, struct berr *err)
{
	_cleanup_free_ char *path =
		base_sprintf("%s/tmp/%sXXXXXX", s->path, prefix);
	if (!mkdtemp(path))
		return berr_set(err, errno, "create a directory in %s/tmp",
				s->path);
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return berr_set(err, errno, "open %s", path);
	/* ours while the fd is open: another writer's clean-up skips it */
	(void)flock(*fd, LOCK_EX | LOCK_NB);
	*name = base_strdup(path + strlen(s->path) + 1);
	return 0;
}

/* ---- blobs and layers
 * ---------------------------------------------------------- */

static char *blob_name(const char *digest)
{
	return base_sprintf("blobs/sha256/%s", oci_digest_hex(digest));
}

bool oci_store_has_blob(struct oci_store *s, const char *digest)
{
	_cleanup_free_ char *n = blob_name(digest);
	struct stat st;
	return fstatat(s->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

bool oci_store_has_layer(struct oci_store *s, const char *diff_id)
{
	_cleanup_free_ char *n =
		base_sprintf("layers/%s", oci_digest_hex(diff_id));
	struct stat st;
	return fstatat(s->dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

int oci_store_open_blob(struct oci_store *s, const char *digest,
			struct berr *err)
{
	if (!oci_digest_valid(digest))
		return berr_setx(err, EINVAL, "invalid digest \"%.80s\"",
				 digest);
	_cleanup_free_ char *n = blob_name(digest);
	int fd = openat(s->dirfd, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "blob %s", digest);
	return fd;
}

int oci_store_read_blob(struct oci_store *s, const char *digest, char **buf,
			size_t *len, struct berr *err)
{
	if (!oci_digest_valid(digest))
		return berr_setx(err, EINVAL, "invalid digest \"%.80s\"",
				 digest);
	_cleanup_free_ char *n = blob_name(digest);
	int r = base_read_file_at(s->dirfd, n, buf, len, OCI_DOC_MAX);
	if (r < 0)
		return berr_set(err, -r, "read blob %s from %s", digest,
				s->path);
	return 0;
}

/* ---- image records
 * ---------------------------------------------------------------- */

static char *record_name(const char *digest)
{
	return base_sprintf("images/%s.json", oci_digest_hex(digest));
}

static char *record_json(const struct oci_image *img)
{
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "digest", oj_new_str(img->digest));
	oj_put(o, "id", oj_new_str(img->id));
	if (img->created)
		oj_put(o, "created", oj_new_str(img->created));
	oj_put(o, "os", oj_new_str(img->os));
	oj_put(o, "architecture", oj_new_str(img->architecture));
	oj_put(o, "size", oj_new_u64(img->size));
	cJSON *layers = oj_new_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct oci_image_layer *l = &img->layers[i];
		cJSON *lo = oj_new_object();
		oj_put(lo, "digest", oj_new_str(l->digest));
		oj_put(lo, "diffID", oj_new_str(l->diff_id));
		oj_put(lo, "mediaType", oj_new_str(l->media_type));
		oj_put(lo, "size", oj_new_u64(l->size));
		oj_put(lo, "unpackedSize", oj_new_u64(l->unpacked_size));
		oj_append(layers, lo);
	}
	oj_put(o, "layers", layers);
	return oj_print(o, "\t");
}

static int want_digest(struct oj *j, const cJSON *obj, const char *key,
		       char **out)
{
	int r = oj_str(j, obj, key, out);
	if (r < 0)
		return r;
	if (!*out)
		return oj_fail_required(j, key);
	if (!oci_digest_valid(*out)) {
		size_t m = oj_enter(j, key);
		r = oj_fail(j, "invalid digest");
		oj_leave(j, m);
		return r;
	}
	return 0;
}

static int parse_record_layer(struct oj *j, const cJSON *v, void *item)
{
	struct oci_image_layer *l = item;
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = want_digest(j, v, "digest", &l->digest)) < 0 ||
	    (r = want_digest(j, v, "diffID", &l->diff_id)) < 0 ||
	    (r = oj_str(j, v, "mediaType", &l->media_type)) < 0 ||
	    (r = oj_u64(j, v, "size", UINT64_MAX, &l->size, NULL)) < 0 ||
	    (r = oj_u64(j, v, "unpackedSize", UINT64_MAX, &l->unpacked_size,
			NULL)) < 0)
		return r;
	return 0;
}

static int parse_record(const char *json, size_t len, const char *what,
			struct oci_image *img, struct berr *err)
{
	struct oj j;
	oj_init(&j, err, what, true, NULL);
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	if ((r = want_digest(&j, root, "digest", &img->digest)) < 0 ||
	    (r = want_digest(&j, root, "id", &img->id)) < 0 ||
	    (r = oj_str(&j, root, "created", &img->created)) < 0 ||
	    (r = oj_str(&j, root, "os", &img->os)) < 0 ||
	    (r = oj_str(&j, root, "architecture", &img->architecture)) < 0 ||
	    (r = oj_u64(&j, root, "size", UINT64_MAX, &img->size, NULL)) < 0)
		return r;
	return OJ_LIST(&j, root, "layers", img->layers, img->n_layers,
		       parse_record_layer);
}

int oci_store_read_record(struct oci_store *s, const char *digest,
			  struct oci_image **out, struct berr *err)
{
	*out = NULL;
	_cleanup_free_ char *name = record_name(digest);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = base_read_file_at(s->dirfd, name, &buf, &len, OCI_DOC_MAX);
	if (r < 0)
		return berr_set(err, -r, "image %s", digest);
	_cleanup_(oci_image_freep) struct oci_image *img =
		base_calloc(1, sizeof(*img));
	_cleanup_free_ char *what = base_sprintf("%s/%s", s->path, name);
	if ((r = parse_record(buf, len, what, img, err)) < 0)
		return r;
	if (strcmp(img->digest, digest))
		return berr_setx(err, EINVAL, "%s: holds image %s", what,
				 img->digest);
	img->repo_tags = base_calloc(1, sizeof(char *));
	*out = TAKE_PTR(img);
	return 0;
}

static int write_record(struct oci_store *s, const struct oci_image *img,
			struct berr *err)
{
	_cleanup_free_ char *json = record_json(img);
	_cleanup_free_ char *name =
		base_sprintf("%s.json", oci_digest_hex(img->digest));
	_cleanup_close_ int dfd =
		openat(s->dirfd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "open %s/images", s->path);
	int r = base_write_file_atomic(dfd, name, json, strlen(json), 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/images/%s", s->path, name);
	return 0;
}

int oci_store_delete_record(struct oci_store *s, const char *digest,
			    struct berr *err)
{
	_cleanup_free_ char *name = record_name(digest);
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return berr_set(err, errno, "remove %s/%s", s->path, name);
	return 0;
}

/* "<64 hex>.json" */
static bool is_record_name(const char *n)
{
	size_t len = strlen(n);
	if (len != OCI_HEX_LEN + 5 || strcmp(n + OCI_HEX_LEN, ".json"))
		return false;
	char d[OCI_DIGEST_LEN];
	snprintf(d, sizeof(d), "sha256:%.64s", n);
	return oci_digest_valid(d);
}

int oci_store_records(struct oci_store *s, struct oci_image ***out,
		      struct berr *err)
{
	*out = base_calloc(1, sizeof(**out));
	int fd = openat(s->dirfd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s/images", s->path);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return berr_set(err, errno, "open %s/images", s->path);
	}
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_record_name(de->d_name))
			continue;
		char digest[OCI_DIGEST_LEN];
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
		struct oci_image *img = NULL;
		int r = oci_store_read_record(s, digest, &img, err);
		if (r < 0)
			return r;
		*out = base_realloc(*out, n + 2, sizeof(**out));
		(*out)[n++] = img;
		(*out)[n] = NULL;
	}
	return 0;
}

/* ---- references
 * ---------------------------------------------------------------------- */

void oci_refs_clear(struct oci_refs *r)
{
	oci_kv_free(r->v, r->n);
	*r = (struct oci_refs){0};
}

int oci_refs_load(struct oci_store *s, struct oci_refs *refs, struct berr *err)
{
	*refs = (struct oci_refs){0};
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = base_read_file_at(s->dirfd, "refs.json", &buf, &len,
				  OCI_DOC_MAX);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_set(err, -r, "read %s/refs.json", s->path);
	_cleanup_free_ char *what = base_sprintf("%s/refs.json", s->path);
	struct oj j;
	oj_init(&j, err, what, true, NULL);
	_cleanup_json_ cJSON *root = NULL;
	if ((r = oj_parse_doc(&j, buf, len, &root)) < 0)
		return r;
	if ((r = oj_kv(&j, root, "refs", &refs->v, &refs->n)) < 0)
		return r;
	for (size_t i = 0; i < refs->n; i++)
		if (!oci_digest_valid(refs->v[i].value))
			return berr_setx(err, EINVAL,
					 "%s: refs[\"%.100s\"]: invalid digest",
					 what, refs->v[i].key);
	return 0;
}

int oci_refs_save(struct oci_store *s, const struct oci_refs *refs,
		  struct berr *err)
{
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "refs", oj_new_kv(refs->v, refs->n));
	_cleanup_free_ char *json = oj_print(o, "\t");
	int r = base_write_file_atomic(s->dirfd, "refs.json", json,
				       strlen(json), 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/refs.json", s->path);
	return 0;
}

const char *oci_refs_get(const struct oci_refs *r, const char *ref)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].key, ref))
			return r->v[i].value;
	return NULL;
}

void oci_refs_set(struct oci_refs *r, const char *ref, const char *digest)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].key, ref)) {
			free(r->v[i].value);
			r->v[i].value = base_strdup(digest);
			return;
		}
	r->v = base_realloc(r->v, r->n + 1, sizeof(*r->v));
	r->v[r->n++] = (struct oci_kv){base_strdup(ref), base_strdup(digest)};
}

bool oci_refs_del(struct oci_refs *r, const char *ref)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].key, ref)) {
			free(r->v[i].key);
			free(r->v[i].value);
			r->v[i] = r->v[--r->n];
			return true;
		}
	return false;
}

char **oci_refs_of(const struct oci_refs *r, const char *digest)
{
	char **v = base_calloc(1, sizeof(char *));
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].value, digest))
			base_strv_push(&v, r->v[i].key);
	return v;
}

/* ---- commit
 * ----------------------------------------------------------------------------
 */

static int commit_blobs(struct oci_store *s, const struct oci_commit *c,
			struct berr *err)
{
	for (size_t i = 0; c->blob_tmp && c->blob_tmp[i]; i++) {
		_cleanup_free_ char *dst = blob_name(c->blob_digest[i]);
		_cleanup_close_ int fd =
			openat(s->dirfd, c->blob_tmp[i], O_RDONLY | O_CLOEXEC);
		/* the data first, then the name that makes it visible */
		if (fd < 0 || fsync(fd) < 0 || fchmod(fd, 0644) < 0)
			return berr_set(err, errno, "store blob %s",
					c->blob_digest[i]);
		if (renameat(s->dirfd, c->blob_tmp[i], s->dirfd, dst) < 0)
			return berr_set(err, errno, "store blob %s",
					c->blob_digest[i]);
	}
	return 0;
}

static int commit_layers(struct oci_store *s, const struct oci_commit *c,
			 struct berr *err)
{
	for (size_t i = 0; c->layer_tmp && c->layer_tmp[i]; i++) {
		_cleanup_free_ char *dst = base_sprintf(
			"layers/%s", oci_digest_hex(c->layer_diff[i]));
		if (renameat(s->dirfd, c->layer_tmp[i], s->dirfd, dst) == 0)
			continue;
		/* already there: the same content, verified by its diffID */
		if (errno != EEXIST && errno != ENOTEMPTY)
			return berr_set(err, errno, "store layer %s",
					c->layer_diff[i]);
	}
	return 0;
}

int oci_store_commit(struct oci_store *s, const struct oci_commit *c,
		     struct berr *err)
{
	if (s->mode != OCI_STORE_WRITE)
		return berr_setx(err, EPERM,
				 "image store %s: not locked for "
				 "writing",
				 s->path);
	int r = commit_blobs(s, c, err);
	if (r < 0)
		return r;
	if ((r = commit_layers(s, c, err)) < 0)
		return r;
	/* the layers' files must be on disk before a record names them */
	if (syncfs(s->dirfd) < 0)
		return berr_set(err, errno, "sync %s", s->path);
	for (size_t i = 0; c->images && c->images[i]; i++)
		if ((r = write_record(s, c->images[i], err)) < 0)
			return r;
	struct oci_refs refs;
	if ((r = oci_refs_load(s, &refs, err)) < 0)
		return r;
	bool changed = false;
	for (size_t i = 0; c->images && c->images[i]; i++)
		for (char **t = c->images[i]->repo_tags; t && *t; t++) {
			oci_refs_set(&refs, *t, c->images[i]->digest);
			changed = true;
		}
	if (changed)
		r = oci_refs_save(s, &refs, err);
	oci_refs_clear(&refs);
	return r;
}
