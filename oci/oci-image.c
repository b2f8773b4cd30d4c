/* The image operations on a store: names, listing, tagging, removal,
 * pruning, inspection. Loading is oci-load.c, unpacking oci-copy.c. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "oci/oci-image-internal.h"

void oci_image_free(struct oci_image *img)
{
	if (!img)
		return;
	free(img->digest);
	free(img->id);
	base_strv_free(img->repo_tags);
	free(img->created);
	free(img->os);
	free(img->architecture);
	for (size_t i = 0; i < img->n_layers; i++) {
		free(img->layers[i].digest);
		free(img->layers[i].diff_id);
		free(img->layers[i].media_type);
	}
	free(img->layers);
	free(img);
}

void oci_image_list_free(struct oci_image **v)
{
	for (size_t i = 0; v && v[i]; i++)
		oci_image_free(v[i]);
	free(v);
}

/* ---- references -------------------------------------------------------------
 */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A path component of a repository: [a-z0-9]+ joined by '.', '_', '__'
 * or '-'s, as the distribution spec has it. */
static bool valid_component(const char *s, size_t n)
{
	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A registry host: dot-separated labels of letters, digits and inner
 * '-', then an optional :port. */
static bool valid_host(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t hn = colon ? (size_t)(colon - s) : n;
	if (colon) {
		size_t pn = n - hn - 1;
		if (pn == 0 || pn > 5 || strspn(colon + 1, "0123456789") < pn)
			return false;
	}
	size_t label = 0;
	for (size_t i = 0; i < hn; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (is_alnum(s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return label > 0 && s[hn - 1] != '-';
}

static bool valid_repository(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 255)
		return false;
	const char *first_end = strchr(name, '/');
	bool has_host =
		first_end && (memchr(name, '.', (size_t)(first_end - name)) ||
			      memchr(name, ':', (size_t)(first_end - name)) ||
			      !strncmp(name, "localhost/", 10));
	const char *p = name;
	if (has_host) {
		if (!valid_host(name, (size_t)(first_end - name)))
			return false;
		p = first_end + 1;
	}
	for (;;) {
		const char *end = strchrnul(p, '/');
		if (!valid_component(p, (size_t)(end - p)))
			return false;
		if (!*end)
			return true;
		p = end + 1;
	}
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || is_lower_alnum(t[i]) ||
		      strchr("._-", t[i])))
			return false;
	return true;
}

static bool is_hex_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == OCI_HEX_LEN && !s[n];
}

int oci_image_ref_normalize(const char *ref, char **out, struct berr *err)
{
	*out = NULL;
	static const char *const prefixes[] = {
		"docker.io/library/", "index.docker.io/library/", "docker.io/",
		"index.docker.io/"};
	if (!ref || !ref[0] || strlen(ref) > 512)
		return berr_setx(err, EINVAL, "invalid reference \"%.100s\"",
				 ref ? ref : "");
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (base_str_has_prefix(ref, prefixes[i])) {
			ref += strlen(prefixes[i]);
			/* a Docker Hub namespace is never a host name: left
			 * as it is, "docker.io/r.example/x" would become
			 * "r.example/x", another registry's image */
			size_t k = strcspn(ref, "/");
			if (ref[k] == '/' &&
			    (memchr(ref, '.', k) || memchr(ref, ':', k) ||
			     !strncmp(ref, "localhost/", 10)))
				return berr_setx(
					err, EINVAL,
					"invalid reference \"%.200s\": "
					"a Docker Hub namespace cannot be "
					"a host name",
					ref);
			break;
		}
	_cleanup_free_ char *name = base_strdup(ref);
	char *at = strchr(name, '@');
	const char *digest = NULL;
	if (at) {
		*at = '\0';
		digest = at + 1;
	}
	char *slash = strrchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	const char *tag = NULL;
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
	}
	if (!valid_repository(name) || is_hex_id(name) ||
	    (tag && !valid_tag(tag)) || (digest && !oci_digest_valid(digest)))
		return berr_setx(err, EINVAL, "invalid reference \"%.200s\"",
				 ref);
	*out = base_sprintf("%s%s%s%s%s", name, tag || !digest ? ":" : "",
			    tag ? tag : (digest ? "" : "latest"),
			    digest ? "@" : "", digest ? digest : "");
	return 0;
}

/* ---- finding images ---------------------------------------------------------
 */

static void fill_tags(struct oci_image *img, const struct oci_refs *refs)
{
	base_strv_free(img->repo_tags);
	img->repo_tags = oci_refs_of(refs, img->digest);
}

static int by_reference(struct oci_store *s, const struct oci_refs *refs,
			const char *name, struct oci_image **out,
			struct berr *err)
{
	_cleanup_free_ char *ref = NULL;
	if (oci_image_ref_normalize(name, &ref, NULL) < 0)
		return -ENOENT;
	const char *at = strchr(ref, '@');
	const char *digest = at ? at + 1 : oci_refs_get(refs, ref);
	if (!digest)
		return -ENOENT;
	return oci_store_read_record(s, digest, out, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_images(const void *a, const void *b)
{
	const struct oci_image *x = *(struct oci_image *const *)a;
	const struct oci_image *y = *(struct oci_image *const *)b;
	const char *tx = x->repo_tags[0], *ty = y->repo_tags[0];
	if (tx && ty && strcmp(tx, ty))
		return strcmp(tx, ty);
	if (!tx != !ty)
		return tx ? -1 : 1;
	return strcmp(x->digest, y->digest);
}

static bool hex_prefix_of(const char *prefix, const char *digest)
{
	return !strncmp(prefix, oci_digest_hex(digest), strlen(prefix));
}

/* The image a record stands for when prefix matched it: its id, even
 * when the prefix is that of its manifest digest. NULL: no match. */
static const char *matched_id(const char *prefix, const struct oci_image *img)
{
	return hex_prefix_of(prefix, img->id) ||
			       hex_prefix_of(prefix, img->digest)
		       ? img->id
		       : NULL;
}

/* The records "sha256:<hex>" or a hex prefix (at least 4 digits) names.
 * An image id is the config's digest, and records loaded from different
 * manifests of one image (a Docker archive and a registry, say) share it:
 * an id names all of them, a manifest digest its record alone. *group is
 * NULL-terminated with their references filled, in the order of image ls.
 * -ENOENT: no record; -EINVAL: the prefix names two images. */
static int by_id(struct oci_store *s, const struct oci_refs *refs,
		 const char *name, struct oci_image ***group, struct berr *err)
{
	const char *hex =
		base_str_has_prefix(name, "sha256:") ? name + 7 : name;
	size_t n = strspn(hex, "0123456789abcdef");
	if (n < 4 || hex[n] || n > OCI_HEX_LEN)
		return -ENOENT;
	_cleanup_(oci_image_list_freep) struct oci_image **all = NULL;
	int r = oci_store_records(s, &all, err);
	if (r < 0)
		return r;
	const char *id = NULL;
	bool by_image_id = false;
	for (size_t i = 0; all[i]; i++) {
		const char *m = matched_id(hex, all[i]);
		if (m && id && strcmp(m, id))
			return berr_setx(err, EINVAL,
					 "image id %s is ambiguous: %.19s "
					 "and %.19s",
					 name, id, m);
		id = m ? m : id;
		by_image_id |= hex_prefix_of(hex, all[i]->id);
	}
	if (!id)
		return -ENOENT;
	size_t k = 0, total = 0;
	while (all[total])
		total++;
	struct oci_image **v = base_calloc(total + 1, sizeof(*v));
	/* moved to v; the last of all[] fills the gap, so that all[] stays
	 * NULL-terminated for its cleanup */
	for (size_t i = 0; i < total;) {
		if (strcmp(all[i]->id, id) ||
		    (!by_image_id && !hex_prefix_of(hex, all[i]->digest))) {
			i++;
			continue;
		}
		fill_tags(all[i], refs);
		v[k++] = all[i];
		all[i] = all[--total];
		all[total] = NULL;
	}
	qsort(v, k, sizeof(*v), cmp_images);
	*group = v;
	return 0;
}

static int find_in_store(struct oci_store *s, const struct oci_refs *refs,
			 const char *name, struct oci_image **out,
			 struct berr *err)
{
	int r = by_reference(s, refs, name, out, err);
	if (r != -ENOENT)
		return r;
	_cleanup_(oci_image_list_freep) struct oci_image **group = NULL;
	if ((r = by_id(s, refs, name, &group, err)) < 0)
		return r;
	return oci_store_read_record(s, group[0]->digest, out, err);
}

int oci_image_find(struct oci_store *s, const char *name,
		   struct oci_image **out, struct berr *err)
{
	*out = NULL;
	struct oci_refs refs;
	int r = oci_refs_load(s, &refs, err);
	if (r < 0)
		return r;
	r = find_in_store(s, &refs, name, out, err);
	struct stat st;
	if (r == -ENOENT && stat(name, &st) == 0) {
		/* An archive or a layout: load it (blobs and layers already
		 * in the store are only verified) and take its first image. */
		_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
		r = oci_image_load(s, name, NULL, &v, err);
		if (r == 0)
			r = oci_store_read_record(s, v[0]->digest, out, err);
		oci_refs_clear(&refs);
		if (r == 0)
			r = oci_refs_load(s, &refs, err);
	}
	if (r == -ENOENT)
		r = berr_setx(err, ENOENT, "image %s: not found in %s", name,
			      s->path);
	if (r == 0)
		fill_tags(*out, &refs);
	else {
		oci_image_free(*out);
		*out = NULL;
	}
	oci_refs_clear(&refs);
	return r;
}

int oci_image_list(struct oci_store *s, struct oci_image ***out,
		   struct berr *err)
{
	*out = NULL;
	struct oci_refs refs;
	int r = oci_refs_load(s, &refs, err);
	if (r < 0)
		return r;
	struct oci_image **v = NULL;
	r = oci_store_records(s, &v, err);
	size_t n = 0;
	for (; r == 0 && v[n]; n++) {
		fill_tags(v[n], &refs);
		qsort(v[n]->repo_tags, base_strv_len(v[n]->repo_tags),
		      sizeof(char *), cmp_str);
	}
	oci_refs_clear(&refs);
	if (r < 0) {
		oci_image_list_free(v);
		return r;
	}
	qsort(v, n, sizeof(*v), cmp_images);
	*out = v;
	return 0;
}

/* ---- tag, remove, prune
 * ------------------------------------------------------ */

int oci_image_tag(struct oci_store *s, const char *src, const char *dst,
		  struct berr *err)
{
	_cleanup_free_ char *ref = NULL;
	int r = oci_image_ref_normalize(dst, &ref, err);
	if (r < 0)
		return r;
	if (strchr(ref, '@'))
		return berr_setx(err, EINVAL,
				 "tag %s: a digest cannot be a tag", dst);
	if ((r = oci_store_upgrade(s, err)) < 0)
		return r;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if ((r = oci_image_find(s, src, &img, err)) < 0)
		return r;
	struct oci_refs refs;
	if ((r = oci_refs_load(s, &refs, err)) < 0)
		return r;
	oci_refs_set(&refs, ref, img->digest);
	r = oci_refs_save(s, &refs, err);
	oci_refs_clear(&refs);
	return r;
}

/* rep gets "<what>: <arg>" ("Untagged: busybox:latest"). */
static void report(char ***rep, const char *what, const char *arg)
{
	if (!rep)
		return;
	_cleanup_free_ char *line = base_sprintf("%s: %s", what, arg);
	base_strv_push(rep, line);
}

/* The length of a reference's repository: up to its tag or digest. */
static size_t repo_len(const char *ref)
{
	const char *at = strchr(ref, '@');
	if (at)
		return (size_t)(at - ref);
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(slash ? slash : ref, ':');
	return colon ? (size_t)(colon - ref) : strlen(ref);
}

static bool same_repo(const char *a, const char *b)
{
	return repo_len(a) == repo_len(b) && !strncmp(a, b, repo_len(a));
}

/* An image named by id (or manifest digest) goes with every name it has,
 * all the records of group. As with Docker, names in more than one
 * repository need force: one id would take away names that have nothing
 * in common but the bytes. */
static int remove_group(struct oci_store *s, struct oci_refs *refs,
			struct oci_image **group, const char *name, bool force,
			char ***rep, struct berr *err)
{
	_cleanup_strv_ char **names = base_calloc(1, sizeof(char *));
	for (size_t i = 0; group[i]; i++)
		for (char **t = group[i]->repo_tags; t && *t; t++)
			base_strv_push(&names, *t);
	for (size_t i = 1; !force && names[0] && names[i]; i++)
		if (!same_repo(names[0], names[i]))
			return berr_setx(err, EBUSY,
					 "image %s is referenced in multiple "
					 "repositories (%s, %s): remove it by "
					 "name, or by id with force",
					 name, names[0], names[i]);
	for (char **t = names; *t; t++) {
		oci_refs_del(refs, *t);
		report(rep, "Untagged", *t);
	}
	for (size_t i = 0; group[i]; i++) {
		int r = oci_store_delete_record(s, group[i]->digest, err);
		if (r < 0)
			return r;
		report(rep, "Deleted", group[i]->digest);
	}
	return 0;
}

/* A reference: untag, and remove the image with its last. */
static int untag(struct oci_store *s, struct oci_refs *refs, const char *ref,
		 const char *digest, char ***rep, struct berr *err)
{
	_cleanup_free_ char *d = base_strdup(digest);
	oci_refs_del(refs, ref);
	report(rep, "Untagged", ref);
	_cleanup_strv_ char **left = oci_refs_of(refs, d);
	if (left[0])
		return 0;
	report(rep, "Deleted", d);
	return oci_store_delete_record(s, d, err);
}

int oci_image_remove(struct oci_store *s, const char *name, bool force,
		     char ***rep, struct berr *err)
{
	if (rep)
		*rep = base_calloc(1, sizeof(char *));
	int r = oci_store_upgrade(s, err);
	if (r < 0)
		return r;
	struct oci_refs refs;
	if ((r = oci_refs_load(s, &refs, err)) < 0)
		return r;
	_cleanup_free_ char *ref = NULL;
	const char *digest = NULL;
	_cleanup_(oci_image_list_freep) struct oci_image **group = NULL;
	if (oci_image_ref_normalize(name, &ref, NULL) == 0 &&
	    (digest = oci_refs_get(&refs, ref))) {
		r = untag(s, &refs, ref, digest, rep, err);
	} else {
		/* name@sha256:..., else an id */
		group = base_calloc(2, sizeof(*group));
		r = by_reference(s, &refs, name, &group[0], err);
		if (r == 0)
			fill_tags(group[0], &refs);
		else if (r == -ENOENT) {
			oci_image_list_free(TAKE_PTR(group));
			r = by_id(s, &refs, name, &group, err);
		}
		if (r == 0)
			r = remove_group(s, &refs, group, name, force, rep,
					 err);
	}
	if (r == -ENOENT)
		r = berr_setx(err, ENOENT, "image %s: not found in %s", name,
			      s->path);
	if (r == 0)
		r = oci_refs_save(s, &refs, err);
	oci_refs_clear(&refs);
	return r;
}

static bool in_strv(char **v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

/* Removes every entry of the store directory dir that keep() refuses. */
static int sweep(struct oci_store *s, const char *dir, char **keep, bool layers,
		 struct oci_prune_report *rep, struct berr *err)
{
	_cleanup_close_ int dfd =
		openat(s->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "open %s/%s", s->path, dir);
	_cleanup_closedir_ DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
	if (!d)
		return berr_set(err, errno, "open %s/%s", s->path, dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		char digest[OCI_DIGEST_LEN];
		snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
		if (strlen(de->d_name) != OCI_HEX_LEN ||
		    !oci_digest_valid(digest) || in_strv(keep, digest))
			continue;
		int r;
		if (layers) {
			/* out of sight first: never a half-removed layer */
			_cleanup_free_ char *tmp = base_sprintf(
				"tmp/rm-%s-%d", de->d_name, (int)getpid());
			_cleanup_free_ char *from =
				base_sprintf("%s/%s", dir, de->d_name);
			r = renameat(s->dirfd, from, s->dirfd, tmp) < 0
				    ? -errno
				    : base_rm_rf_at_freed(s->dirfd, tmp,
							  &rep->bytes);
			rep->layers++;
		} else {
			r = base_rm_rf_at_freed(dfd, de->d_name, &rep->bytes);
			rep->blobs++;
		}
		if (r < 0)
			return berr_set(err, -r, "remove %s/%s/%s", s->path,
					dir, de->d_name);
	}
	return 0;
}

/* The layers that launched containers stand on (containers/<id>/layers,
 * a diffID a line), whether or not their image is still there: removing
 * a lower directory under a mounted overlayfs breaks the container. */
static void container_layers(struct oci_store *s, char ***layers)
{
	_cleanup_free_ char *dir =
		base_sprintf("%s/containers", oci_store_path(s));
	_cleanup_closedir_ DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *path =
			base_sprintf("%s/%s/layers", dir, e->d_name);
		_cleanup_free_ char *text = NULL;
		if (base_read_file_at(AT_FDCWD, path, &text, NULL, 1 << 20) < 0)
			continue;
		for (char *p = text, *line; (line = strsep(&p, "\n"));)
			if (*line)
				base_strv_push(layers, line);
	}
}

int oci_image_prune(struct oci_store *s, struct oci_prune_report *rep,
		    struct berr *err)
{
	*rep = (struct oci_prune_report){0};
	int r = oci_store_upgrade(s, err);
	if (r < 0)
		return r;
	_cleanup_(oci_image_list_freep) struct oci_image **all = NULL;
	if ((r = oci_image_list(s, &all, err)) < 0)
		return r;
	_cleanup_strv_ char **blobs = base_calloc(1, sizeof(char *));
	_cleanup_strv_ char **layers = base_calloc(1, sizeof(char *));
	for (size_t i = 0; all[i]; i++) {
		struct oci_image *img = all[i];
		if (!img->repo_tags[0]) {
			if ((r = oci_store_delete_record(s, img->digest, err)) <
			    0)
				return r;
			rep->images++;
			continue;
		}
		base_strv_push(&blobs, img->digest);
		base_strv_push(&blobs, img->id);
		for (size_t k = 0; k < img->n_layers; k++) {
			base_strv_push(&blobs, img->layers[k].digest);
			base_strv_push(&layers, img->layers[k].diff_id);
		}
	}
	container_layers(s, &layers);
	if ((r = sweep(s, "blobs/sha256", blobs, false, rep, err)) < 0)
		return r;
	return sweep(s, "layers", layers, true, rep, err);
}

/* ---- reading an image
 * ----------------------------------------------------------- */

int oci_image_read_config(struct oci_store *s, const struct oci_image *img,
			  char **json, size_t *len, struct berr *err)
{
	return oci_store_read_blob(s, img->id, json, len, err);
}

static cJSON *layers_json(const struct oci_image *img)
{
	cJSON *a = oj_new_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct oci_image_layer *l = &img->layers[i];
		cJSON *o = oj_new_object();
		oj_put(o, "digest", oj_new_str(l->digest));
		oj_put(o, "diffID", oj_new_str(l->diff_id));
		oj_put(o, "mediaType", oj_new_str(l->media_type));
		oj_put(o, "size", oj_new_u64(l->size));
		oj_put(o, "unpackedSize", oj_new_u64(l->unpacked_size));
		oj_append(a, o);
	}
	return a;
}

int oci_image_inspect_json(struct oci_store *s, const struct oci_image *img,
			   char **out, struct berr *err)
{
	_cleanup_free_ char *cfg = NULL;
	size_t len = 0;
	int r = oci_image_read_config(s, img, &cfg, &len, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = base_sprintf("config %s", img->id);
	struct oj j;
	oj_init(&j, err, what, true, NULL);
	_cleanup_json_ cJSON *doc = NULL;
	if ((r = oj_parse_doc(&j, cfg, len, &doc)) < 0)
		return r;
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "id", oj_new_str(img->id));
	oj_put(o, "digest", oj_new_str(img->digest));
	oj_put(o, "repoTags", oj_new_strv((const char *const *)img->repo_tags));
	oj_put(o, "created", oj_new_str(img->created));
	oj_put(o, "os", oj_new_str(img->os));
	oj_put(o, "architecture", oj_new_str(img->architecture));
	oj_put(o, "size", oj_new_u64(img->size));
	cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(doc, "config");
	oj_put(o, "config", c && cJSON_IsObject(c) ? c : oj_new_object());
	if (c && !cJSON_IsObject(c))
		cJSON_Delete(c);
	oj_put(o, "layers", layers_json(img));
	*out = oj_print(o, "\t");
	return 0;
}

int oci_image_layer_dirs(struct oci_store *s, const struct oci_image *img,
			 char ***out, struct berr *err)
{
	_cleanup_strv_ char **v = base_calloc(1, sizeof(char *));
	for (size_t i = 0; i < img->n_layers; i++) {
		if (!oci_store_has_layer(s, img->layers[i].diff_id))
			return berr_setx(err, ENOENT,
					 "image %s: layer %s is missing from "
					 "%s (load the image again)",
					 img->digest, img->layers[i].diff_id,
					 s->path);
		_cleanup_free_ char *p =
			base_sprintf("%s/layers/%s", s->path,
				     oci_digest_hex(img->layers[i].diff_id));
		base_strv_push(&v, p);
	}
	*out = TAKE_PTR(v);
	return 0;
}
