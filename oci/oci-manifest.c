/* The image documents: manifests, indexes (manifest lists), image configs
 * and a Docker archive's manifest.json, parsed with the same path-naming
 * JSON layer as config.json. All of them come from untrusted archives:
 * every digest is checked for form before anything uses it as a name. */
#include <inttypes.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci/oci-image-internal.h"

#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* ---- platform -------------------------------------------------------------
 */

struct arch_name {
	const char *machine; /* uname -m */
	const char *goarch;
	const char *variant;
};

static const struct arch_name *host_arch(void)
{
	static const struct arch_name tab[] = {
		{"x86_64", "amd64", NULL},
		{"aarch64", "arm64", "v8"},
		{"arm64", "arm64", "v8"},
		{"armv8l", "arm", "v8"},
		{"armv7l", "arm", "v7"},
		{"armv6l", "arm", "v6"},
		{"armv5tel", "arm", "v5"},
		{"i686", "386", NULL},
		{"i586", "386", NULL},
		{"i386", "386", NULL},
		{"ppc64le", "ppc64le", NULL},
		{"ppc64", "ppc64", NULL},
		{"s390x", "s390x", NULL},
		{"riscv64", "riscv64", NULL},
		{"loongarch64", "loong64", NULL},
		{"mips64", "mips64le", NULL},
	};
	static struct arch_name other;
	static struct utsname u;
	if (other.goarch)
		return &other;
	if (uname(&u) == 0)
		for (size_t i = 0; i < ARRAY_SIZE(tab); i++)
			if (!strcmp(u.machine, tab[i].machine)) {
				other = tab[i];
				return &other;
			}
	other = (struct arch_name){u.machine, u.machine, NULL};
	return &other;
}

const char *oci_image_host_arch(void)
{
	return host_arch()->goarch;
}

int oci_platform_score(const struct oci_desc *d)
{
	const struct arch_name *h = host_arch();
	if (!d->os || strcmp(d->os, "linux") || !d->arch ||
	    strcmp(d->arch, h->goarch))
		return 0;
	if (!d->variant || !d->variant[0])
		return 2;
	if (h->variant && !strcmp(d->variant, h->variant))
		return 3;
	/* An arm variant newer than the host's cannot run here. */
	if (!strcmp(h->goarch, "arm") && h->variant &&
	    strcmp(d->variant, h->variant) > 0)
		return 0;
	return 1;
}

bool oci_layer_media_type_ok(const char *mt)
{
	if (!mt)
		return true; /* libarchive tells the compression anyway */
	if (strstr(mt, "+encrypted"))
		return false;
	return base_str_has_prefix(mt, "application/vnd.oci.image.layer.") ||
	       base_str_has_prefix(mt,
				   "application/vnd.docker.image.rootfs.") ||
	       base_str_has_prefix(mt, "application/x-tar");
}

/* ---- descriptors ----------------------------------------------------------
 */

static void desc_clear(struct oci_desc *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	free(d->os);
	free(d->arch);
	free(d->variant);
	*d = (struct oci_desc){0};
}

static int check_digest(struct oj *j, const char *d)
{
	if (oci_digest_valid(d))
		return 0;
	size_t m = oj_enter(j, "digest");
	const char *colon = strchr(d, ':');
	int r = colon && strncmp(d, "sha256:", 7)
			? oj_fail(j, "unsupported digest algorithm \"%.*s\"",
				  (int)(colon - d > 32 ? 32 : colon - d), d)
			: oj_fail(j, "invalid digest \"%.80s\"", d);
	oj_leave(j, m);
	return r;
}

static const char *annotation(const cJSON *obj, const char *key)
{
	const cJSON *a = oj_get(obj, "annotations");
	const cJSON *v = cJSON_IsObject(a) ? oj_get(a, key) : NULL;
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int parse_platform(struct oj *j, const cJSON *v, void *out)
{
	struct oci_desc *d = out;
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = oj_str(j, v, "os", &d->os)) < 0 ||
	    (r = oj_str(j, v, "architecture", &d->arch)) < 0 ||
	    (r = oj_str(j, v, "variant", &d->variant)) < 0)
		return r;
	return 0;
}

static int parse_desc(struct oj *j, const cJSON *v, void *item)
{
	struct oci_desc *d = item;
	bool has = false;
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = oj_str(j, v, "mediaType", &d->media_type)) < 0 ||
	    (r = oj_str(j, v, "digest", &d->digest)) < 0)
		return r;
	if (!d->digest)
		return oj_fail_required(j, "digest");
	if ((r = check_digest(j, d->digest)) < 0)
		return r;
	if ((r = oj_i64(j, v, "size", 0, INT64_MAX, &d->size, &has)) < 0)
		return r;
	if (!has)
		return oj_fail_required(j, "size");
	/* containerd's full name first: the OCI one is often a bare tag */
	const char *name = annotation(v, "io.containerd.image.name");
	if (!name)
		name = annotation(v, "org.opencontainers.image.ref.name");
	d->ref_name = base_strdup(name);
	return oj_object(j, v, "platform", parse_platform, d, &d->has_platform);
}

/* ---- manifests and indexes ------------------------------------------------
 */

void oci_manifest_clear(struct oci_manifest_doc *m)
{
	free(m->media_type);
	desc_clear(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		desc_clear(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->n_manifests; i++)
		desc_clear(&m->manifests[i]);
	free(m->manifests);
	*m = (struct oci_manifest_doc){0};
}

static bool is_index_type(const char *mt)
{
	return mt &&
	       (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_DOCKER_LIST));
}

static int parse_image_manifest(struct oj *j, const cJSON *root,
				struct oci_manifest_doc *m)
{
	bool has = false;
	int r = oj_object(j, root, "config", parse_desc, &m->config, &has);
	if (r < 0)
		return r;
	if (!has)
		return oj_fail_required(j, "config");
	const char *cmt = m->config.media_type;
	if (cmt && strcmp(cmt, OCI_MT_CONFIG) &&
	    strcmp(cmt, MT_DOCKER_CONFIG)) {
		size_t mark = oj_enter(j, "config.mediaType");
		r = oj_fail(j, "not a container image (\"%.100s\")", cmt);
		oj_leave(j, mark);
		return r;
	}
	r = OJ_LIST(j, root, "layers", m->layers, m->n_layers, parse_desc);
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->n_layers; i++) {
		if (oci_layer_media_type_ok(m->layers[i].media_type))
			continue;
		size_t mark = oj_enter(j, "layers");
		oj_enter_index(j, i);
		oj_enter(j, "mediaType");
		r = oj_fail(j, "unsupported layer type \"%.100s\"",
			    m->layers[i].media_type);
		oj_leave(j, mark);
		return r;
	}
	return 0;
}

int oci_manifest_parse(const char *json, size_t len, const char *what,
		       struct oci_manifest_doc *out, struct berr *err)
{
	struct oj j;
	oj_init(&j, err, what, true, NULL);
	*out = (struct oci_manifest_doc){0};
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	uint64_t version = 0;
	bool has = false;
	if ((r = oj_u64(&j, root, "schemaVersion", UINT32_MAX, &version,
			&has)) < 0)
		return r;
	if (has && version != 2)
		return oj_fail(&j, "schemaVersion %" PRIu64 " is not supported",
			       version);
	if ((r = oj_str(&j, root, "mediaType", &out->media_type)) < 0)
		return r;
	const char *mt = out->media_type;
	if (is_index_type(mt) || (!mt && oj_get(root, "manifests"))) {
		out->is_index = true;
		return OJ_LIST(&j, root, "manifests", out->manifests,
			       out->n_manifests, parse_desc);
	}
	if (mt && strcmp(mt, OCI_MT_MANIFEST) &&
	    strcmp(mt, OCI_MT_DOCKER_MANIFEST))
		return oj_fail(&j, "unsupported mediaType \"%.100s\"", mt);
	return parse_image_manifest(&j, root, out);
}

/* ---- image config -----------------------------------------------------------
 */

void oci_imgcfg_clear(struct oci_imgcfg_doc *c)
{
	free(c->os);
	free(c->arch);
	free(c->variant);
	free(c->created);
	base_strv_free(c->diff_ids);
	*c = (struct oci_imgcfg_doc){0};
}

static int parse_rootfs(struct oj *j, const cJSON *v, void *out)
{
	struct oci_imgcfg_doc *c = out;
	_cleanup_free_ char *type = NULL;
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = oj_str(j, v, "type", &type)) < 0)
		return r;
	if (!type || strcmp(type, "layers")) {
		size_t m = oj_enter(j, "type");
		r = oj_fail(j, "expected \"layers\"");
		oj_leave(j, m);
		return r;
	}
	if ((r = oj_strv(j, v, "diff_ids", &c->diff_ids)) < 0)
		return r;
	c->n_diff_ids = base_strv_len(c->diff_ids);
	for (size_t i = 0; i < c->n_diff_ids; i++) {
		if (oci_digest_valid(c->diff_ids[i]))
			continue;
		size_t m = oj_enter(j, "diff_ids");
		oj_enter_index(j, i);
		r = oj_fail(j, "invalid digest \"%.80s\"", c->diff_ids[i]);
		oj_leave(j, m);
		return r;
	}
	return 0;
}

int oci_imgcfg_parse(const char *json, size_t len, const char *what,
		     struct oci_imgcfg_doc *out, struct berr *err)
{
	struct oj j;
	oj_init(&j, err, what, true, NULL);
	*out = (struct oci_imgcfg_doc){0};
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	bool has = false;
	if ((r = oj_str(&j, root, "os", &out->os)) < 0 ||
	    (r = oj_str(&j, root, "architecture", &out->arch)) < 0 ||
	    (r = oj_str(&j, root, "variant", &out->variant)) < 0 ||
	    (r = oj_str(&j, root, "created", &out->created)) < 0)
		return r;
	if ((r = oj_object(&j, root, "rootfs", parse_rootfs, out, &has)) < 0)
		return r;
	if (!has)
		return oj_fail_required(&j, "rootfs");
	const cJSON *c = oj_get(root, "config");
	if (c && !cJSON_IsObject(c)) {
		oj_enter(&j, "config");
		return oj_fail(&j, "expected an object");
	}
	return 0;
}

/* ---- a Docker archive's manifest.json --------------------------------------
 */

void oci_docker_entries_free(struct oci_docker_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].config);
		base_strv_free(v[i].repo_tags);
		base_strv_free(v[i].layers);
	}
	free(v);
}

static int parse_docker_entry(struct oj *j, const cJSON *v,
			      struct oci_docker_entry *e)
{
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = oj_str(j, v, "Config", &e->config)) < 0 ||
	    (r = oj_strv(j, v, "RepoTags", &e->repo_tags)) < 0 ||
	    (r = oj_strv(j, v, "Layers", &e->layers)) < 0)
		return r;
	if (!e->config)
		return oj_fail_required(j, "Config");
	e->n_layers = base_strv_len(e->layers);
	return 0;
}

int oci_docker_manifest_parse(const char *json, size_t len,
			      struct oci_docker_entry **out, size_t *n,
			      struct berr *err)
{
	*out = NULL;
	*n = 0;
	if (memchr(json, '\0', len))
		return berr_setx(err, EINVAL,
				 "manifest.json: invalid JSON (a NUL byte)");
	const char *end = NULL;
	_cleanup_json_ cJSON *root =
		cJSON_ParseWithLengthOpts(json, len, &end, false);
	size_t at = root || !end || end < json ? len : (size_t)(end - json);
	size_t deep = 0;
	if (!root && oj_too_deep(json, at < len ? at + 1 : len, &deep))
		return berr_setx(err, EINVAL,
				 "manifest.json: JSON nesting deeper than %d "
				 "levels near byte %zu",
				 CJSON_NESTING_LIMIT, deep);
	if (!root)
		return berr_setx(err, EINVAL, "manifest.json: invalid JSON");
	if (!cJSON_IsArray(root))
		return berr_setx(err, EINVAL,
				 "manifest.json: expected a JSON array");
	size_t count = (size_t)cJSON_GetArraySize(root);
	if (count == 0)
		return berr_setx(err, EINVAL, "manifest.json: no image");
	struct oci_docker_entry *v = base_calloc(count, sizeof(*v));
	struct oj j;
	oj_init(&j, err, "manifest.json", true, NULL);
	size_t i = 0;
	for (const cJSON *c = root->child; c && i < count; c = c->next, i++) {
		size_t m = oj_enter_index(&j, i);
		int r = parse_docker_entry(&j, c, &v[i]);
		oj_leave(&j, m);
		if (r < 0) {
			oci_docker_entries_free(v, count);
			return r;
		}
	}
	*out = v;
	*n = count;
	return 0;
}
