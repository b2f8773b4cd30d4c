/* Writing images out: a Docker archive as `docker save` of Docker 25+
 * writes it (the blobs under blobs/sha256/, an OCI index.json and
 * oci-layout, plus manifest.json and repositories for older readers), or
 * an OCI image layout alone. Either way one plain tar written by
 * libarchive; the blobs are the store's, byte for byte, so that a load of
 * the archive gives the same digests and ids. Entries carry mtime 0: the
 * same images make the same archive. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci-image-internal.h"

struct saver {
	struct oci_store *s;
	const struct oci_la *la;
	struct archive *a;
	struct berr *err;
	char **written; /* digests already in the archive */
	char *buf;
};

static void saver_clear(struct saver *sv)
{
	if (sv->a)
		sv->la->write_free(sv->a);
	base_strv_free(sv->written);
	free(sv->buf);
}

static int sv_fail(struct saver *sv, const char *what)
{
	const char *why = sv->la->error_string(sv->a);
	return berr_setx(sv->err, EIO, "image save: %s: %s", what,
			 why ? why : "write error");
}

static int sv_header(struct saver *sv, const char *path, unsigned type,
		     int64_t size)
{
	struct archive_entry *e = sv->la->entry_new();
	if (!e)
		return berr_setx(sv->err, ENOMEM, "image save: out of memory");
	sv->la->entry_set_pathname(e, path);
	sv->la->entry_set_filetype(e, type);
	sv->la->entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	sv->la->entry_set_mtime(e, 0, 0);
	if (type == AE_IFREG)
		sv->la->entry_set_size(e, size);
	int r = sv->la->write_header(sv->a, e);
	sv->la->entry_free(e);
	return r < ARCHIVE_WARN ? sv_fail(sv, path) : 0;
}

static int sv_doc(struct saver *sv, const char *path, const char *json)
{
	size_t n = strlen(json);
	int r = sv_header(sv, path, AE_IFREG, (int64_t)n);
	if (r == 0 && sv->la->write_data(sv->a, json, n) < 0)
		r = sv_fail(sv, path);
	return r;
}

/* Copies blob digest of the store into the archive, once. */
static int sv_blob(struct saver *sv, const char *digest)
{
	for (char **w = sv->written; w && *w; w++)
		if (!strcmp(*w, digest))
			return 0;
	_cleanup_close_ int fd = oci_store_open_blob(sv->s, digest, sv->err);
	if (fd < 0)
		return berr_wrap(sv->err, "image save");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return berr_set(sv->err, errno, "image save: blob %s", digest);
	_cleanup_free_ char *path =
		base_sprintf("blobs/sha256/%s", oci_digest_hex(digest));
	int r = sv_header(sv, path, AE_IFREG, st.st_size);
	for (off_t done = 0; r == 0 && done < st.st_size;) {
		ssize_t n = read(fd, sv->buf, 1 << 17);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return berr_set(sv->err, n < 0 ? errno : EIO,
					"image save: read blob %s", digest);
		if (sv->la->write_data(sv->a, sv->buf, (size_t)n) < 0)
			return sv_fail(sv, path);
		done += n;
	}
	if (r == 0)
		base_strv_push(&sv->written, digest);
	return r;
}

/* The manifest's media type (a pulled Docker image keeps Docker's). */
static char *manifest_type(struct saver *sv, const struct oci_image *img)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (oci_store_read_blob(sv->s, img->digest, &buf, &len, NULL) < 0)
		return base_strdup(OCI_MT_MANIFEST);
	_cleanup_json_ cJSON *m = cJSON_ParseWithLength(buf, len);
	cJSON *mt = cJSON_GetObjectItemCaseSensitive(m, "mediaType");
	return base_strdup(cJSON_IsString(mt) ? mt->valuestring
					      : OCI_MT_MANIFEST);
}

static int sv_image_blobs(struct saver *sv, const struct oci_image *img)
{
	int r = sv_blob(sv, img->digest);
	if (r == 0)
		r = sv_blob(sv, img->id);
	for (size_t i = 0; r == 0 && i < img->n_layers; i++)
		r = sv_blob(sv, img->layers[i].digest);
	return r;
}

/* One index entry per name (one without a name for a dangling image). */
static void index_entries(struct saver *sv, cJSON *ms,
			  const struct oci_image *img, char *const *names)
{
	_cleanup_free_ char *mt = manifest_type(sv, img);
	size_t n = base_strv_len(names);
	for (size_t i = 0; i < (n ? n : 1); i++) {
		cJSON *d = oj_new_object();
		oj_put(d, "mediaType", oj_new_str(mt));
		oj_put(d, "digest", oj_new_str(img->digest));
		struct stat st;
		_cleanup_close_ int fd =
			oci_store_open_blob(sv->s, img->digest, NULL);
		oj_put(d, "size",
		       oj_new_i64(fd >= 0 && fstat(fd, &st) == 0 ? st.st_size
								 : 0));
		if (n) {
			cJSON *ann = oj_new_object();
			oj_put(ann, "org.opencontainers.image.ref.name",
			       oj_new_str(names[i]));
			oj_put(ann, "io.containerd.image.name",
			       oj_new_str(names[i]));
			oj_put(d, "annotations", ann);
		}
		oj_append(ms, d);
	}
}

/* manifest.json's entry and repositories' lines for img. */
static void docker_entries(cJSON *man, cJSON *repos,
			   const struct oci_image *img, char *const *names)
{
	cJSON *e = oj_new_object();
	_cleanup_free_ char *cfg =
		base_sprintf("blobs/sha256/%s", oci_digest_hex(img->id));
	oj_put(e, "Config", oj_new_str(cfg));
	oj_put(e, "RepoTags", oj_new_strv((const char *const *)names));
	cJSON *ls = oj_new_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		_cleanup_free_ char *p =
			base_sprintf("blobs/sha256/%s",
				     oci_digest_hex(img->layers[i].digest));
		oj_append(ls, oj_new_str(p));
	}
	oj_put(e, "Layers", ls);
	oj_append(man, e);
	for (size_t i = 0; names && names[i] && img->n_layers; i++) {
		const char *colon = strrchr(names[i], ':');
		if (!colon || strchr(colon, '/') || strchr(names[i], '@'))
			continue;
		_cleanup_free_ char *repo =
			strndup(names[i], (size_t)(colon - names[i]));
		cJSON *r = cJSON_GetObjectItemCaseSensitive(repos, repo);
		if (!r) {
			r = oj_new_object();
			oj_put(repos, repo, r);
		}
		cJSON_DeleteItemFromObjectCaseSensitive(r, colon + 1);
		oj_put(r, colon + 1,
		       oj_new_str(oci_digest_hex(
			       img->layers[img->n_layers - 1].digest)));
	}
}

/* The names an archive gives img: the one asked for when it is one of
 * img's, else all of them. */
static char **save_names(const struct oci_image *img, const char *asked)
{
	_cleanup_free_ char *ref = NULL;
	char **v = NULL;
	if (oci_image_ref_normalize(asked, &ref, NULL) == 0)
		for (char **t = img->repo_tags; t && *t; t++)
			if (!strcmp(*t, ref))
				base_strv_push(&v, ref);
	for (char **t = img->repo_tags; !v && t && *t; t++)
		base_strv_push(&v, *t);
	return v ? v : base_calloc(1, sizeof(char *));
}

static int sv_open(struct saver *sv, int fd)
{
	sv->a = sv->la->write_new();
	if (!sv->a)
		return berr_setx(sv->err, ENOMEM, "image save: out of memory");
	if (sv->la->write_set_format_pax_restricted(sv->a) != ARCHIVE_OK ||
	    sv->la->write_set_bytes_in_last_block(sv->a, 1) != ARCHIVE_OK ||
	    sv->la->write_open_fd(sv->a, fd) != ARCHIVE_OK)
		return sv_fail(sv, "open");
	sv->buf = base_calloc(1, 1 << 17);
	int r = sv_header(sv, "blobs", AE_IFDIR, 0);
	return r < 0 ? r : sv_header(sv, "blobs/sha256", AE_IFDIR, 0);
}

static int sv_finish(struct saver *sv, cJSON *ms, cJSON *man, cJSON *repos,
		     bool oci)
{
	_cleanup_json_ cJSON *idx = oj_new_object();
	oj_put(idx, "schemaVersion", oj_new_u64(2));
	oj_put(idx, "mediaType", oj_new_str(OCI_MT_INDEX));
	oj_put(idx, "manifests", cJSON_Duplicate(ms, true));
	_cleanup_free_ char *ij = oj_print(idx, NULL);
	_cleanup_free_ char *mj = oj_print(man, NULL);
	_cleanup_free_ char *rj = oj_print(repos, NULL);
	int r = sv_doc(sv, "index.json", ij);
	if (r == 0)
		r = sv_doc(sv, "oci-layout",
			   "{\"imageLayoutVersion\":\"1.0.0\"}");
	if (r == 0 && !oci)
		r = sv_doc(sv, "manifest.json", mj);
	if (r == 0 && !oci)
		r = sv_doc(sv, "repositories", rj);
	if (r == 0 && sv->la->write_close(sv->a) != ARCHIVE_OK)
		r = sv_fail(sv, "close");
	return r;
}

int oci_image_save(struct oci_store *s, char *const *names, bool oci, int fd,
		   struct berr *err)
{
	struct saver sv = {.s = s, .err = err};
	sv.la = oci_dl_archive(err);
	if (!sv.la)
		return -ENOENT;
	/* every image first: a missing one writes nothing */
	size_t n = base_strv_len(names);
	_cleanup_free_ struct oci_image **imgs =
		base_calloc(n + 1, sizeof(*imgs));
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		if ((r = oci_image_find(s, names[i], &imgs[i], err)) < 0)
			r = berr_wrap(err, "image save");
	_cleanup_json_ cJSON *ms = oj_new_array();
	_cleanup_json_ cJSON *man = oj_new_array();
	_cleanup_json_ cJSON *repos = oj_new_object();
	if (r == 0)
		r = sv_open(&sv, fd);
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_strv_ char **tags = save_names(imgs[i], names[i]);
		index_entries(&sv, ms, imgs[i], tags);
		docker_entries(man, repos, imgs[i], tags);
		r = sv_image_blobs(&sv, imgs[i]);
	}
	if (r == 0)
		r = sv_finish(&sv, ms, man, repos, oci);
	for (size_t i = 0; i < n; i++)
		oci_image_free(imgs[i]);
	saver_clear(&sv);
	return r;
}
