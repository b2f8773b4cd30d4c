/* Pulling an image from a registry.
 *
 * The pull stages an OCI image layout under the store's tmp/: the image
 * manifest (reached through an index or a manifest list when the
 * reference names one), then the config and every layer the store does
 * not have yet, each hashed while it streams in and refused on the first
 * byte past its descriptor's size. A bad digest stops the pull before
 * anything is loaded. Then oci_load_staged() loads that layout as any
 * other: it links the blobs in, checks the layers' diffIDs while it
 * unpacks them, and commits only a complete image. A pull killed half-way
 * leaves only tmp/, which the next writer removes. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci-image-internal.h"

#define ACCEPT_MANIFESTS                                                       \
	OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " OCI_MT_DOCKER_MANIFEST          \
			", " OCI_MT_DOCKER_LIST

/* ---- references
 * -------------------------------------------------------------------- */

void oci_pull_ref_clear(struct oci_pull_ref *r)
{
	free(r->name);
	free(r->registry);
	free(r->endpoint);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	*r = (struct oci_pull_ref){0};
}

int oci_pull_ref_parse(const char *ref, struct oci_pull_ref *out,
		       struct berr *err)
{
	*out = (struct oci_pull_ref){0};
	/* the stored name is the checked one: split that */
	int r = oci_image_ref_normalize(ref, &out->name, err);
	if (r < 0)
		return r;
	/* "docker.io/docker.io/x" loses one prefix only: a name that would
	 * mean another image when used again is refused */
	_cleanup_free_ char *again = NULL;
	if (oci_image_ref_normalize(out->name, &again, NULL) < 0 ||
	    strcmp(again, out->name))
		return berr_setx(err, EINVAL,
				 "invalid reference \"%.200s\": its stored "
				 "name %s would name %s",
				 ref, out->name, again ? again : "nothing");
	_cleanup_free_ char *repo = base_strdup(out->name);
	char *at = strchr(repo, '@');
	if (at) {
		*at = '\0';
		out->digest = base_strdup(at + 1);
	}
	char *slash = strrchr(repo, '/');
	char *colon = strrchr(slash ? slash : repo, ':');
	if (colon) {
		*colon = '\0';
		if (!at)
			out->tag = base_strdup(colon + 1);
	}
	char *first = strchr(repo, '/');
	size_t n = first ? (size_t)(first - repo) : 0;
	if (first && (memchr(repo, '.', n) || memchr(repo, ':', n) ||
		      !strncmp(repo, "localhost/", 10))) {
		out->registry = strndup(repo, n);
		out->repo = base_strdup(first + 1);
	} else {
		out->registry = base_strdup("docker.io");
		out->repo = first ? base_strdup(repo)
				  : base_sprintf("library/%s", repo);
	}
	out->endpoint = base_strdup(strcmp(out->registry, "docker.io")
					    ? out->registry
					    : "registry-1.docker.io");
	return 0;
}

/* ---- the puller
 * -------------------------------------------------------------------- */

struct puller {
	struct oci_store *s;
	const struct oci_pull_opts *o;
	struct berr *err;
	struct oci_pull_ref ref;
	struct oci_registry *reg;
	char *tmp; /* tmp/pull-XXXXXX, store-relative: the layout */
	int tmpfd;
	int blobfd; /* its blobs/sha256 */
	unsigned seq;
	char **kept; /* blobs this pull linked into the store */
};

static void puller_freep(struct puller **pp)
{
	struct puller *p = *pp;
	if (!p)
		return;
	oci_registry_close(p->reg);
	if (p->blobfd >= 0)
		close(p->blobfd);
	if (p->tmpfd >= 0)
		close(p->tmpfd);
	if (p->tmp)
		(void)base_rm_rf_at(p->s->dirfd, p->tmp);
	free(p->tmp);
	base_strv_free(p->kept);
	oci_pull_ref_clear(&p->ref);
	free(p);
}

static void report(struct puller *p, const struct oci_pull_event *ev)
{
	if (p->o->progress)
		p->o->progress(ev, p->o->progress_arg);
}

static int stage_layout_dirs(struct puller *p)
{
	int r = oci_store_mktemp(p->s, "pull-", &p->tmp, &p->tmpfd, p->err);
	if (r < 0)
		return r;
	if (mkdirat(p->tmpfd, "blobs", 0700) < 0 ||
	    mkdirat(p->tmpfd, "blobs/sha256", 0700) < 0)
		return berr_set(p->err, errno, "create %s/blobs/sha256",
				p->tmp);
	p->blobfd = openat(p->tmpfd, "blobs/sha256",
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->blobfd < 0)
		return berr_set(p->err, errno, "open %s/blobs/sha256", p->tmp);
	return 0;
}

/* ---- manifests
 * --------------------------------------------------------------------- */

/* manifests/<ref> into m, with its digest; checked against expect and
 * expect_size when they are known (a digest reference, an index entry),
 * else against the digest the registry says it has. */
static int get_manifest(struct puller *p, const char *what, const char *ref,
			const char *expect, int64_t expect_size,
			struct oci_membuf *m, char digest[OCI_DIGEST_LEN])
{
	*m = (struct oci_membuf){
		.max = OCI_DOC_MAX, .what = what, .err = p->err};
	_cleanup_free_ char *path = base_sprintf("manifests/%s", ref);
	struct oci_registry_resp resp;
	int r = oci_registry_get(p->reg, what, path, ACCEPT_MANIFESTS,
				 oci_membuf_sink, m, &resp, p->err);
	if (r == 0)
		r = oci_sha256_buf(m->p ? m->p : "", m->n, digest, p->err);
	if (r < 0)
		return r;
	if (expect && strcmp(digest, expect))
		return berr_setx(p->err, EINVAL, "%s: digest mismatch: got %s",
				 what, digest);
	if (!expect && resp.digest[0] && strcmp(resp.digest, digest))
		return berr_setx(p->err, EINVAL,
				 "%s: digest mismatch: the registry says %s, "
				 "the document is %s",
				 what, resp.digest, digest);
	if (expect_size >= 0 && m->n != (uint64_t)expect_size)
		return berr_setx(p->err, EINVAL,
				 "%s: size mismatch: %zu bytes, the index says "
				 "%lld",
				 what, m->n, (long long)expect_size);
	return 0;
}

/* The entry of an index for this host: the best platform, else the
 * first entry that names none. */
static const struct oci_desc *pick_platform(const struct oci_manifest_doc *idx)
{
	const struct oci_desc *best = NULL, *bare = NULL;
	int best_score = 0;
	for (size_t i = 0; i < idx->n_manifests; i++) {
		const struct oci_desc *d = &idx->manifests[i];
		int score = d->has_platform ? oci_platform_score(d) : 0;
		if (!d->has_platform && !bare)
			bare = d;
		if (score > best_score) {
			best = d;
			best_score = score;
		}
	}
	return best ? best : bare;
}

/* The image manifest for this host: the reference's document or, when
 * that is an index, the entry it has for linux/<host>. *buf (the bytes)
 * and *doc are the caller's on success. */
static int resolve_manifest(struct puller *p, struct oci_manifest_doc *doc,
			    char **buf, size_t *len,
			    char digest[OCI_DIGEST_LEN])
{
	_cleanup_free_ char *next =
		base_strdup(p->ref.digest ? p->ref.digest : p->ref.tag);
	_cleanup_free_ char *expect = base_strdup(p->ref.digest);
	int64_t size = -1;
	for (int depth = 0; depth < 4; depth++) {
		_cleanup_free_ char *what =
			depth ? base_sprintf("manifest %s", next)
			      : base_strdup("manifest");
		struct oci_membuf m;
		int r = get_manifest(p, what, next, expect, size, &m, digest);
		if (r == 0)
			r = oci_manifest_parse(m.p, m.n, what, doc, p->err);
		if (r == 0 && !doc->is_index) {
			*buf = m.p;
			*len = m.n;
			return 0;
		}
		free(m.p);
		const struct oci_desc *d = r == 0 ? pick_platform(doc) : NULL;
		if (r == 0 && !d)
			r = berr_setx(p->err, ENOENT,
				      "%s: no image for linux/%s", what,
				      oci_image_host_arch());
		if (r == 0) {
			free(next);
			free(expect);
			next = base_strdup(d->digest);
			expect = base_strdup(d->digest);
			size = d->size;
		}
		oci_manifest_clear(doc);
		if (r < 0)
			return r;
	}
	return berr_setx(p->err, ELOOP, "manifest: indexes nested too deep");
}

static int stage_doc(struct puller *p, const char *digest, const char *buf,
		     size_t len)
{
	int r = base_write_file_atomic(p->blobfd, oci_digest_hex(digest), buf,
				       len, 0600);
	if (r < 0)
		return berr_set(p->err, -r, "write %s/blobs/%s", p->tmp,
				digest);
	return 0;
}

/* index.json names the manifest by the reference's stored name, which
 * the load then sets. */
static int write_layout(struct puller *p, const struct oci_manifest_doc *m,
			const char *digest, size_t len)
{
	_cleanup_json_ cJSON *idx = oj_new_object();
	oj_put(idx, "schemaVersion", oj_new_u64(2));
	oj_put(idx, "mediaType", oj_new_str(OCI_MT_INDEX));
	cJSON *d = oj_new_object();
	oj_put(d, "mediaType",
	       oj_new_str(m->media_type ? m->media_type : OCI_MT_MANIFEST));
	oj_put(d, "digest", oj_new_str(digest));
	oj_put(d, "size", oj_new_u64(len));
	cJSON *ann = oj_new_object();
	oj_put(ann, "org.opencontainers.image.ref.name",
	       oj_new_str(p->ref.name));
	oj_put(d, "annotations", ann);
	cJSON *list = oj_new_array();
	oj_append(list, d);
	oj_put(idx, "manifests", list);
	_cleanup_free_ char *json = oj_print(idx, NULL);
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int r = base_write_file_atomic(p->tmpfd, "oci-layout", layout,
				       strlen(layout), 0600);
	if (r == 0)
		r = base_write_file_atomic(p->tmpfd, "index.json", json,
					   strlen(json), 0600);
	if (r < 0)
		return berr_set(p->err, -r, "write %s/index.json", p->tmp);
	return 0;
}

/* ---- blobs
 * ------------------------------------------------------------------------ */

struct download {
	struct puller *p;
	const char *what; /* "layer sha256:..", for messages */
	int fd;
	struct oci_sha256 h;
	struct oci_pull_event ev;
};

static int download_sink(const void *buf, size_t n, void *arg)
{
	struct download *dl = arg;
	/* a registry must not fill the disk past what the manifest says */
	if (n > dl->ev.total - dl->ev.done)
		return berr_setx(dl->p->err, EFBIG,
				 "%s: more than the %llu bytes its descriptor "
				 "says",
				 dl->what, (unsigned long long)dl->ev.total);
	oci_sha256_update(&dl->h, buf, n);
	int r = base_write_all(dl->fd, buf, n);
	if (r < 0)
		return berr_set(dl->p->err, -r, "%s: write into %s", dl->what,
				dl->p->tmp);
	dl->ev.done += n;
	report(dl->p, &dl->ev);
	return 0;
}

static int check_download(struct download *dl, const char *digest)
{
	char got[OCI_DIGEST_LEN];
	oci_sha256_final(&dl->h, got);
	if (dl->ev.done != dl->ev.total)
		return berr_setx(dl->p->err, EINVAL,
				 "%s: size mismatch: %llu bytes, the "
				 "descriptor says %llu",
				 dl->what, (unsigned long long)dl->ev.done,
				 (unsigned long long)dl->ev.total);
	if (strcmp(got, digest))
		return berr_setx(dl->p->err, EINVAL,
				 "%s: digest mismatch: got %s", dl->what, got);
	return 0;
}

/* A verified blob goes into the store's blobs at once (a link, no copy):
 * content-addressed and complete, it is no half entry, and a pull killed
 * later resumes without downloading it again. No image names it until the
 * load commits; `image prune` removes it if none ever does. */
static void keep_blob(struct puller *p, const char *hex)
{
	_cleanup_free_ char *dst =
		base_sprintf("%s/blobs/sha256/%s", oci_store_path(p->s), hex);
	if (linkat(p->blobfd, hex, AT_FDCWD, dst, 0) == 0)
		base_strv_push(&p->kept, dst);
	else if (errno != EEXIST)
		blog_debug("keep blob %s: %s", dst, strerror(errno));
}

/* A pull that fails (rather than being killed) stores nothing: the blobs
 * it kept go again. No image can use them yet (they were not in the
 * store, and a load takes the write lock, which waits for this pull's
 * end), and a concurrent pull that found one has its own link. */
static void drop_kept(struct puller *p)
{
	for (size_t i = 0; p->kept && p->kept[i]; i++)
		unlink(p->kept[i]);
}

/* blobs/<digest> into the layout, unless the store or the layout has it. */
static int fetch_blob(struct puller *p, const char *role,
		      const struct oci_desc *d)
{
	struct oci_pull_event ev = {
		.role = role, .digest = d->digest, .total = (uint64_t)d->size};
	const char *hex = oci_digest_hex(d->digest);
	struct stat st;
	if (oci_store_has_blob(p->s, d->digest) ||
	    fstatat(p->blobfd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* a link in the layout: a failing concurrent pull that
		 * drops the store's copy cannot take it from this one */
		_cleanup_free_ char *src = base_sprintf(
			"%s/blobs/sha256/%s", oci_store_path(p->s), hex);
		(void)linkat(AT_FDCWD, src, p->blobfd, hex, 0);
		ev.phase = OCI_PULL_EXISTS;
		ev.done = ev.total;
		report(p, &ev);
		return 0;
	}
	_cleanup_free_ char *what = base_sprintf("%s %s", role, d->digest);
	_cleanup_free_ char *name = base_sprintf("part-%u", p->seq++);
	_cleanup_close_ int fd = openat(
		p->tmpfd, name,
		O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return berr_set(p->err, errno, "create %s/%s", p->tmp, name);
	struct download dl = {.p = p, .what = what, .fd = fd, .ev = ev};
	int r = oci_sha256_init(&dl.h, p->err);
	if (r < 0)
		return r;
	report(p, &dl.ev);
	dl.ev.phase = OCI_PULL_BYTES;
	_cleanup_free_ char *path = base_sprintf("blobs/%s", d->digest);
	r = oci_registry_get(p->reg, what, path, NULL, download_sink, &dl, NULL,
			     p->err);
	if (r == 0)
		r = check_download(&dl, d->digest);
	oci_sha256_free(&dl.h);
	if (r < 0)
		return r;
	/* only a verified blob gets its name, even in tmp/ */
	if (renameat(p->tmpfd, name, p->blobfd, hex) < 0)
		return berr_set(p->err, errno, "%s: rename into %s", what,
				p->tmp);
	keep_blob(p, hex);
	dl.ev.phase = OCI_PULL_DONE;
	report(p, &dl.ev);
	return 0;
}

/* ---- entry point
 * ------------------------------------------------------------------- */

/* The blobs a manifest names must fit the load's limit before a byte
 * of them is downloaded: a manifest may promise any size. */
static int check_sizes(struct puller *p, const struct oci_manifest_doc *m,
		       const char *digest)
{
	uint64_t max =
		p->o->max_size ? p->o->max_size : OCI_IMAGE_MAX_SIZE_DEFAULT;
	uint64_t sum = m->config.size > 0 ? (uint64_t)m->config.size : 0;
	for (size_t i = 0; i < m->n_layers && sum <= max; i++)
		if (m->layers[i].size > 0)
			sum += (uint64_t)m->layers[i].size;
	if (sum <= max)
		return 0;
	char lim[32];
	oci_size_str(max, lim, sizeof(lim));
	return berr_setx(p->err, EFBIG,
			 "manifest %s: its blobs add up to more than %s, the "
			 "size limit of a load",
			 digest, lim);
}

static int fetch_image(struct puller *p)
{
	struct oci_manifest_doc m = {0};
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	char digest[OCI_DIGEST_LEN];
	int r = resolve_manifest(p, &m, &buf, &len, digest);
	if (r == 0)
		r = check_sizes(p, &m, digest);
	if (r == 0)
		r = stage_doc(p, digest, buf, len);
	if (r == 0)
		r = fetch_blob(p, "config", &m.config);
	for (size_t i = 0; r == 0 && i < m.n_layers; i++)
		r = fetch_blob(p, "layer", &m.layers[i]);
	if (r == 0)
		r = write_layout(p, &m, digest, len);
	oci_manifest_clear(&m);
	struct oci_pull_event ev = {
		.phase = OCI_PULL_LOAD, .role = "image", .digest = digest};
	if (r == 0)
		report(p, &ev);
	return r;
}

static int pull(struct puller *p, struct oci_image ***out)
{
	if (p->o->insecure &&
	    oci_registry_check_insecure(p->ref.registry, p->err) < 0)
		return -EPERM;
	/* fail early, with the package to install */
	if (!oci_dl_curl(p->err) || !oci_dl_crypto(p->err) ||
	    !oci_dl_archive(p->err))
		return -ENOENT;
	/* downloads under the shared lock: readers (ls, launch) go on; the
	 * load at the end takes the store's write lock */
	int r = stage_layout_dirs(p);
	if (r == 0)
		r = oci_registry_open(p->ref.registry, p->ref.endpoint,
				      p->ref.repo, p->o->insecure, false,
				      &p->reg, p->err);
	if (r == 0)
		r = fetch_image(p);
	if (r == 0)
		r = oci_store_upgrade(p->s, p->err);
	if (r == 0) {
		struct oci_image_load_opts lo = {.max_size = p->o->max_size};
		r = oci_load_staged(p->s, p->tmp, p->ref.name, &lo, out,
				    p->err);
	}
	return r;
}

int oci_image_pull(struct oci_store *s, const char *ref,
		   const struct oci_pull_opts *o, struct oci_image ***out,
		   struct berr *err)
{
	static const struct oci_pull_opts defaults;
	if (out)
		*out = NULL;
	_cleanup_(puller_freep) struct puller *p = base_calloc(1, sizeof(*p));
	p->s = s;
	p->o = o ? o : &defaults;
	p->err = err;
	p->tmpfd = p->blobfd = -1;
	int r = oci_pull_ref_parse(ref, &p->ref, err);
	if (r < 0)
		return r;
	if ((r = pull(p, out)) < 0) {
		drop_kept(p);
		return berr_wrap(err, "pull %s", p->ref.name);
	}
	return 0;
}
