/* config.json as a whole: version, root, mounts, hooks, annotations; the
 * process and linux sections have files of their own. */
#include <fcntl.h>
#include <string.h>

#include "oci/oci-internal.h"

/* "1.<minor>.<patch>" with an optional pre-release or build suffix
 * ("1.0.2-dev"): the spec keeps compatibility within a major version. */
static bool version_supported(const char *v)
{
	if (strncmp(v, "1.", 2))
		return false;
	const char *p = v + 2;
	for (int part = 0; part < 2; part++) {
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		if (part == 0 && *p++ != '.')
			return false;
	}
	return *p == '\0' || *p == '-' || *p == '+';
}

static int parse_version(struct oj *j, const cJSON *doc, char **out)
{
	int r = oj_str(j, doc, "ociVersion", out);
	if (r < 0)
		return r;
	if (!*out)
		return oj_fail_required(j, "ociVersion");
	if (version_supported(*out))
		return 0;
	oj_enter(j, "ociVersion");
	return oj_fail(j, "%s is not a supported version", *out);
}

static int parse_root(struct oj *j, const cJSON *v, void *out)
{
	struct oci_root *root = out;
	return oj_str(j, v, "path", &root->path)
		       ?: oj_bool(j, v, "readonly", &root->readonly, NULL);
}

int oci_parse_idmap(struct oj *j, const cJSON *v, void *item)
{
	struct oci_idmap *m = item;
	return oj_u32(j, v, "containerID", &m->container_id, NULL)
		?: oj_u32(j, v, "hostID", &m->host_id, NULL)
		?: oj_u32(j, v, "size", &m->size, NULL);
}

static int parse_mount(struct oj *j, const cJSON *v, void *item)
{
	struct oci_mount *m = item;
	int r = oj_str(j, v, "destination", &m->destination)
		?: oj_str(j, v, "type", &m->type)
		?: oj_str(j, v, "source", &m->source)
		?: oj_strv(j, v, "options", &m->options)
		?: OJ_LIST(j, v, "uidMappings", m->uid_mappings,
			   m->n_uid_mappings, oci_parse_idmap)
		?: OJ_LIST(j, v, "gidMappings", m->gid_mappings,
			   m->n_gid_mappings, oci_parse_idmap);
	if (r == 0 && !m->destination)
		r = oj_fail_required(j, "destination");
	return r;
}

static int parse_hook(struct oj *j, const cJSON *v, void *item)
{
	struct oci_hook *h = item;
	int r = oj_str(j, v, "path", &h->path)
		?: oj_strv(j, v, "args", &h->args)
		?: oj_strv(j, v, "env", &h->env)
		?: oj_int(j, v, "timeout", &h->timeout, &h->has_timeout);
	if (r < 0)
		return r;
	if (!h->path)
		return oj_fail_required(j, "path");
	if (h->has_timeout && h->timeout <= 0) {
		oj_enter(j, "timeout");
		return oj_fail(j, "must be greater than zero");
	}
	return 0;
}

#define HOOKS(j, v, key, list)                                                 \
	OJ_LIST(j, v, key, (list).v, (list).n, parse_hook)

static int parse_hooks(struct oj *j, const cJSON *v, void *out)
{
	struct oci_hooks *h = out;
	return HOOKS(j, v, "prestart", h->prestart)
		?: HOOKS(j, v, "createRuntime", h->create_runtime)
		?: HOOKS(j, v, "createContainer", h->create_container)
		?: HOOKS(j, v, "startContainer", h->start_container)
		?: HOOKS(j, v, "poststart", h->poststart)
		?: HOOKS(j, v, "poststop", h->poststop);
}

static int parse_process(struct oj *j, const cJSON *v, void *out)
{
	return oci_parse_process(j, v, out, false);
}

static int parse_config(struct oj *j, const cJSON *doc, struct oci_config *c)
{
	return parse_version(j, doc, &c->oci_version)
		?: oj_object(j, doc, "root", parse_root, &c->root, NULL)
		?: OJ_LIST(j, doc, "mounts", c->mounts, c->n_mounts,
			   parse_mount)
		?: oj_object(j, doc, "process", parse_process, &c->process,
			     &c->has_process)
		?: oj_str(j, doc, "hostname", &c->hostname)
		?: oj_str(j, doc, "domainname", &c->domainname)
		?: oj_object(j, doc, "hooks", parse_hooks, &c->hooks, NULL)
		?: oj_kv(j, doc, "annotations", &c->annotations,
			 &c->n_annotations)
		?: oj_object(j, doc, "linux", oci_parse_linux, &c->linux_,
			     &c->has_linux);
}

/* doc names the document in whole-document errors; with_doc also puts it
 * in front of field errors (for a file read from disk). */
static int config_parse(const char *json, size_t len, const char *doc,
			bool with_doc, struct oci_config **out,
			struct berr *err)
{
	struct oj j;
	oj_init(&j, err, doc, with_doc, NULL);
	_cleanup_json_ cJSON *root = NULL;
	int r = oj_parse_doc(&j, json, len, &root);
	if (r < 0)
		return r;
	_cleanup_(oci_config_freep) struct oci_config *c =
		base_calloc(1, sizeof(*c));
	r = parse_config(&j, root, c);
	if (r < 0)
		return r;
	*out = TAKE_PTR(c);
	return 0;
}

int oci_config_parse(const char *json, size_t len, struct oci_config **out,
		     struct berr *err)
{
	return config_parse(json, len, "config.json", false, out, err);
}

int oci_config_load_raw(const char *bundle, struct oci_config **out, char **raw,
			size_t *raw_len, struct berr *err)
{
	_cleanup_free_ char *path = base_sprintf("%s/config.json", bundle);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = base_read_file_at(AT_FDCWD, path, &buf, &len, 0);
	if (r < 0)
		return berr_set(err, -r, "open %s", path);
	r = config_parse(buf, len, path, true, out, err);
	if (r == 0 && raw) {
		*raw = TAKE_PTR(buf);
		*raw_len = len;
	}
	return r;
}

int oci_config_load(const char *bundle, struct oci_config **out,
		    struct berr *err)
{
	return oci_config_load_raw(bundle, out, NULL, NULL, err);
}

static void mount_clear(struct oci_mount *m)
{
	free(m->destination);
	free(m->type);
	free(m->source);
	base_strv_free(m->options);
	free(m->uid_mappings);
	free(m->gid_mappings);
}

static void hooks_clear(struct oci_hook_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		base_strv_free(l->v[i].args);
		base_strv_free(l->v[i].env);
	}
	free(l->v);
}

void oci_config_free(struct oci_config *c)
{
	if (!c)
		return;
	free(c->oci_version);
	free(c->root.path);
	for (size_t i = 0; i < c->n_mounts; i++)
		mount_clear(&c->mounts[i]);
	free(c->mounts);
	oci_process_clear(&c->process);
	free(c->hostname);
	free(c->domainname);
	hooks_clear(&c->hooks.prestart);
	hooks_clear(&c->hooks.create_runtime);
	hooks_clear(&c->hooks.create_container);
	hooks_clear(&c->hooks.start_container);
	hooks_clear(&c->hooks.poststart);
	hooks_clear(&c->hooks.poststop);
	oci_kv_free(c->annotations, c->n_annotations);
	oci_linux_clear(&c->linux_);
	free(c);
}
