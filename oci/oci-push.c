/* Pushing an image to a registry: the way back of oci-pull.c.
 *
 * The image's stored manifest names its config and layers. Each blob the
 * registry does not have yet (a HEAD asks) goes up as the distribution
 * spec says: a POST opens an upload session, then one PUT ?digest= with
 * the whole blob when it fits in a chunk, else PATCHes of a chunk each
 * (Content-Range) and a final empty PUT ?digest=. The registry checks the
 * digest of what it got; its Docker-Content-Digest must name the same
 * blob. Last the manifest's own bytes go under the tag with their media
 * type, so that the registry serves exactly the manifest the store has
 * (same digest, same image id on a pull).
 *
 * The store is only read (its shared lock): a failed push leaves nothing
 * behind locally; upload sessions it leaves on the registry expire there. */
#include <inttypes.h>
#include <string.h>

#include "oci/oci-image-internal.h"

#define CHUNK_DEFAULT (8u << 20)

/* ---- pure helpers
 * ------------------------------------------------------------------ */

void oci_push_content_range(uint64_t off, uint64_t len,
			    char buf[OCI_PUSH_RANGE_LEN])
{
	/* the spec's "<start>-<end>", end inclusive; len is never 0 */
	snprintf(buf, OCI_PUSH_RANGE_LEN, "%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
}

char *oci_push_digest_url(const char *url, const char *digest)
{
	/* the ':' of "sha256:" escaped, as in a query value */
	return base_sprintf("%s%cdigest=sha256%%3A%s", url,
			    strchr(url, '?') ? '&' : '?',
			    oci_digest_hex(digest));
}

void oci_push_result_clear(struct oci_push_result *res)
{
	free(res->name);
	free(res->tag);
	free(res->digest);
	*res = (struct oci_push_result){0};
}

/* ---- the pusher
 * -------------------------------------------------------------------- */

struct pusher {
	struct oci_store *s;
	const struct oci_push_opts *o;
	struct berr *err;
	struct oci_pull_ref ref;
	struct oci_registry *reg;
	uint64_t chunk;
	char *mount_from; /* a repository of the registry the image has a
			     name in: blobs are mounted from it */
};

static void pusher_freep(struct pusher **pp)
{
	struct pusher *p = *pp;
	if (!p)
		return;
	oci_registry_close(p->reg);
	oci_pull_ref_clear(&p->ref);
	free(p->mount_from);
	free(p);
}

static void report(struct pusher *p, const struct oci_push_event *ev)
{
	if (p->o->progress)
		p->o->progress(ev, p->o->progress_arg);
}

/* Whether the registry has the blob: a 404 is a no, not an error. */
static int blob_exists(struct pusher *p, const char *what, const char *digest,
		       bool *has)
{
	_cleanup_free_ char *path = base_sprintf("blobs/%s", digest);
	const struct oci_registry_req q = {.method = "HEAD", .path = path};
	struct oci_registry_resp resp = {0};
	int r = oci_registry_request(p->reg, what, &q, &resp, p->err);
	*has = r == 0;
	if (r == -ENOENT && resp.status == 404) {
		*p->err = (struct berr){0};
		return 0;
	}
	return r;
}

/* The next URL of an upload session, from the answer's Location. */
static int next_url(struct pusher *p, const char *what, const char *req,
		    const struct oci_registry_resp *resp, char **url)
{
	free(*url);
	*url = NULL;
	if (!resp->location[0])
		return berr_setx(p->err, EPROTO,
				 "%s: the registry's answer to %s has no "
				 "usable Location",
				 what, req);
	*url = base_strdup(resp->location);
	return 0;
}

/* Opens an upload session, or mounts the blob from p->mount_from: 201
 * (*mounted) when the registry linked it, else 202 and a session, as
 * when a registry does not mount. */
static int upload_start(struct pusher *p, const char *what, const char *digest,
			char **url, bool *mounted)
{
	/* repository names need no escaping: [a-z0-9._/-] */
	_cleanup_free_ char *path =
		p->mount_from
			? base_sprintf("blobs/uploads/?mount=sha256%%3A%s"
				       "&from=%s",
				       oci_digest_hex(digest), p->mount_from)
			: base_strdup("blobs/uploads/");
	const struct oci_registry_req q = {.method = "POST", .path = path};
	struct oci_registry_resp resp;
	int r = oci_registry_request(p->reg, what, &q, &resp, p->err);
	*mounted = r == 0 && p->mount_from && resp.status == 201;
	if (r < 0 || *mounted)
		return r;
	return next_url(p, what, "POST", &resp, url);
}

/* PATCHes of p->chunk bytes from fd until fewer than ... none are left. */
static int upload_chunks(struct pusher *p, const char *what, int fd, char **url,
			 struct oci_push_event *ev)
{
	for (uint64_t off = 0; off < ev->total; off += p->chunk) {
		uint64_t n =
			ev->total - off < p->chunk ? ev->total - off : p->chunk;
		char range[OCI_PUSH_RANGE_LEN];
		oci_push_content_range(off, n, range);
		const struct oci_registry_req q = {
			.method = "PATCH",
			.url = *url,
			.content_type = "application/octet-stream",
			.content_range = range,
			.fd = fd,
			.off = off,
			.len = n};
		struct oci_registry_resp resp;
		int r = oci_registry_request(p->reg, what, &q, &resp, p->err);
		if (r == 0)
			r = next_url(p, what, "PATCH", &resp, url);
		if (r < 0)
			return r;
		ev->done = off + n;
		report(p, ev);
	}
	return 0;
}

/* A PUT whose answer must name what was sent by digest, when it names
 * anything. */
static int put_checked(struct pusher *p, const char *what,
		       const struct oci_registry_req *q, const char *digest)
{
	struct oci_registry_resp resp;
	int r = oci_registry_request(p->reg, what, q, &resp, p->err);
	if (r == 0 && resp.digest[0] && strcmp(resp.digest, digest))
		return berr_setx(p->err, EPROTO,
				 "%s: the registry stored it as %s", what,
				 resp.digest);
	return r;
}

/* The closing PUT ?digest=, with the body the session still lacks. */
static int upload_finish(struct pusher *p, const char *what, const char *url,
			 const char *digest, int fd, uint64_t len)
{
	_cleanup_free_ char *put = oci_push_digest_url(url, digest);
	const struct oci_registry_req q = {.method = "PUT",
					   .url = put,
					   .content_type =
						   "application/octet-stream",
					   .fd = fd,
					   .len = len};
	return put_checked(p, what, &q, digest);
}

/* blobs/<digest> onto the registry, unless it has it. */
static int push_blob(struct pusher *p, const char *role,
		     const struct oci_desc *d)
{
	struct oci_push_event ev = {
		.role = role, .digest = d->digest, .total = (uint64_t)d->size};
	_cleanup_free_ char *what = base_sprintf("blob %s", d->digest);
	bool has;
	int r = blob_exists(p, what, d->digest, &has);
	if (r < 0 || has) {
		ev.phase = OCI_PUSH_EXISTS;
		ev.done = ev.total;
		if (r == 0)
			report(p, &ev);
		return r;
	}
	_cleanup_close_ int fd = oci_store_open_blob(p->s, d->digest, p->err);
	if (fd < 0)
		return fd;
	report(p, &ev);
	ev.phase = OCI_PUSH_BYTES;
	_cleanup_free_ char *url = NULL;
	bool mounted;
	r = upload_start(p, what, d->digest, &url, &mounted);
	if (r == 0 && mounted) {
		ev.phase = OCI_PUSH_MOUNTED;
		ev.from = p->mount_from;
		ev.done = ev.total;
		report(p, &ev);
		return 0;
	}
	bool chunked = ev.total > p->chunk;
	if (r == 0 && chunked)
		r = upload_chunks(p, what, fd, &url, &ev);
	if (r == 0)
		r = upload_finish(p, what, url, d->digest, fd,
				  chunked ? 0 : ev.total);
	if (r < 0)
		return r;
	ev.phase = OCI_PUSH_DONE;
	ev.done = ev.total;
	report(p, &ev);
	return 0;
}

/* The manifest's bytes under the tag; the registry must name them by
 * their digest. */
static int put_manifest(struct pusher *p, const struct oci_manifest_doc *m,
			const char *buf, size_t len, const char *digest)
{
	_cleanup_free_ char *path = base_sprintf("manifests/%s", p->ref.tag);
	_cleanup_free_ char *what = base_sprintf("manifest %s", digest);
	const struct oci_registry_req q = {
		.method = "PUT",
		.path = path,
		.content_type = m->media_type ? m->media_type : OCI_MT_MANIFEST,
		.buf = buf,
		.len = len};
	return put_checked(p, what, &q, digest);
}

static int push_image(struct pusher *p, const struct oci_image *img,
		      struct oci_push_result *res)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct oci_manifest_doc m = {0};
	_cleanup_free_ char *what = base_sprintf("manifest %s", img->digest);
	int r = oci_store_read_blob(p->s, img->digest, &buf, &len, p->err);
	if (r == 0)
		r = oci_manifest_parse(buf, len, what, &m, p->err);
	if (r == 0 && m.is_index)
		r = berr_setx(p->err, ENOTSUP, "%s: an index, not an image",
			      what);
	if (r == 0)
		r = push_blob(p, "config", &m.config);
	for (size_t i = 0; r == 0 && i < m.n_layers; i++)
		r = push_blob(p, "layer", &m.layers[i]);
	if (r == 0)
		r = put_manifest(p, &m, buf, len, img->digest);
	oci_manifest_clear(&m);
	if (r == 0 && res) {
		res->name = base_strdup(p->ref.name);
		res->tag = base_strdup(p->ref.tag);
		res->digest = base_strdup(img->digest);
		res->size = len;
	}
	return r;
}

/* Another repository of the destination registry that img is named in. */
static void pick_mount_source(struct pusher *p, const struct oci_image *img)
{
	for (char **t = img->repo_tags; t && *t && !p->mount_from; t++) {
		struct oci_pull_ref ref;
		if (oci_pull_ref_parse(*t, &ref, NULL) == 0 &&
		    !strcmp(ref.registry, p->ref.registry) &&
		    strcmp(ref.repo, p->ref.repo))
			p->mount_from = base_strdup(ref.repo);
		oci_pull_ref_clear(&ref);
	}
}

static int push(struct pusher *p, const char *image,
		struct oci_push_result *res)
{
	if (p->ref.digest)
		return berr_setx(p->err, EINVAL,
				 "a push goes to a tag, not to a digest");
	if (p->o->insecure &&
	    oci_registry_check_insecure(p->ref.registry, p->err) < 0)
		return -EPERM;
	if (!oci_dl_curl(p->err) || !oci_dl_crypto(p->err))
		return -ENOENT;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	int r = oci_image_find(p->s, image, &img, p->err);
	if (r == 0)
		pick_mount_source(p, img);
	if (r == 0)
		r = oci_registry_open(p->ref.registry, p->ref.endpoint,
				      p->ref.repo, p->o->insecure, true,
				      &p->reg, p->err);
	if (r == 0)
		r = push_image(p, img, res);
	return r;
}

int oci_image_push(struct oci_store *s, const char *image, const char *dst,
		   const struct oci_push_opts *o, struct oci_push_result *res,
		   struct berr *err)
{
	static const struct oci_push_opts defaults;
	if (res)
		*res = (struct oci_push_result){0};
	_cleanup_(pusher_freep) struct pusher *p = base_calloc(1, sizeof(*p));
	p->s = s;
	p->o = o ? o : &defaults;
	p->err = err;
	p->chunk = p->o->chunk_size ? p->o->chunk_size : CHUNK_DEFAULT;
	if (!dst)
		dst = image;
	int r = oci_pull_ref_parse(dst, &p->ref, err);
	if (r < 0)
		return berr_wrap(err, "push");
	if ((r = push(p, image, res)) < 0)
		return berr_wrap(err, "push %s", p->ref.name);
	return 0;
}
