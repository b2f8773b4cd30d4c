/* From an image config to a runtime config.json: what `image unpack`
 * writes into a bundle and what a launch starts from. The conversion
 * follows the OCI image spec's conversion document where it says something
 * (args, env, cwd, user, annotations) and runc's default spec for the rest. */
#include <fcntl.h>
#include <string.h>

#include "oci/oci-image-internal.h"

#define DEFAULT_PATH                                                           \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- users and groups -------------------------------------------------------
 */

static FILE *open_etc(int rootfd, const char *path)
{
	if (rootfd < 0)
		return NULL;
	/* resolved inside the rootfs: /etc may be a symlink in the image */
	int fd = base_open_in_root(rootfd, path, O_RDONLY, 0);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "re");
	if (!f)
		close(fd);
	return f;
}

/* Splits a colon-separated line into n fields; false when it has fewer. */
static bool split_fields(char *line, char **f, size_t n)
{
	line[strcspn(line, "\n")] = '\0';
	for (size_t i = 0; i < n; i++) {
		f[i] = strsep(&line, ":");
		if (!f[i])
			return false;
	}
	return true;
}

static bool parse_id(const char *s, uint32_t *out)
{
	uint64_t v;
	if (base_parse_u64(s, &v) < 0 || v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* The passwd entry of name (or of uid when name is NULL). */
static bool find_passwd(int rootfd, const char *name, uint32_t uid,
			char **out_name, uint32_t *out_uid, uint32_t *out_gid)
{
	_cleanup_fclose_ FILE *f = open_etc(rootfd, "/etc/passwd");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		char *fl[4];
		uint32_t u, g;
		if (!split_fields(line, fl, 4) || !parse_id(fl[2], &u) ||
		    !parse_id(fl[3], &g))
			continue;
		if (name ? strcmp(fl[0], name) : u != uid)
			continue;
		*out_name = base_strdup(fl[0]);
		*out_uid = u;
		*out_gid = g;
		return true;
	}
	return false;
}

static bool find_group(int rootfd, const char *name, uint32_t *gid)
{
	_cleanup_fclose_ FILE *f = open_etc(rootfd, "/etc/group");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		char *fl[4];
		if (split_fields(line, fl, 4) && !strcmp(fl[0], name) &&
		    parse_id(fl[2], gid))
			return true;
	}
	return false;
}

/* The groups that list user as a member, as the supplementary groups. */
static void member_groups(int rootfd, const char *user,
			  struct oci_user_ids *out)
{
	_cleanup_fclose_ FILE *f = open_etc(rootfd, "/etc/group");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		char *fl[4];
		uint32_t gid;
		if (!split_fields(line, fl, 4) || !parse_id(fl[2], &gid))
			continue;
		bool member = false;
		for (char *m, *rest = fl[3]; (m = strsep(&rest, ","));)
			member |= !strcmp(m, user);
		bool dup = gid == out->gid;
		for (size_t i = 0; i < out->n_gids; i++)
			dup |= out->gids[i] == gid;
		if (!member || dup)
			continue;
		out->gids = base_realloc(out->gids, out->n_gids + 1,
					 sizeof(*out->gids));
		out->gids[out->n_gids++] = gid;
	}
}

int oci_image_resolve_user(int rootfd, const char *spec,
			   struct oci_user_ids *out, struct berr *err)
{
	*out = (struct oci_user_ids){0};
	_cleanup_free_ char *copy = base_strdup(spec && spec[0] ? spec : "0");
	char *group = strchr(copy, ':');
	if (group)
		*group++ = '\0';
	const char *user = copy[0] ? copy : "0";
	uint32_t id = 0;
	bool numeric = parse_id(user, &id);
	_cleanup_free_ char *name = NULL;
	uint32_t uid = id, gid = 0;
	bool found = find_passwd(rootfd, numeric ? NULL : user, id, &name, &uid,
				 &gid);
	if (!numeric && !found)
		return berr_setx(err, EINVAL,
				 "user \"%.100s\": not in the image's "
				 "/etc/passwd",
				 user);
	out->uid = numeric ? id : uid;
	out->gid = found ? gid : 0;
	if (group && group[0]) {
		if (!parse_id(group, &out->gid) &&
		    !find_group(rootfd, group, &out->gid))
			return berr_setx(err, EINVAL,
					 "group \"%.100s\": not in the image's "
					 "/etc/group",
					 group);
	} else if (name) {
		member_groups(rootfd, name, out);
	}
	return 0;
}

/* ---- the conversion
 * ------------------------------------------------------------- */

struct img_config {
	char **entrypoint, **cmd, **env;
	char *workdir, *user, *stop_signal, *author;
	struct oci_kv *labels;
	size_t n_labels;
	char **ports, **volumes;
};

static void img_config_clear(struct img_config *c)
{
	base_strv_free(c->entrypoint);
	base_strv_free(c->cmd);
	base_strv_free(c->env);
	free(c->workdir);
	free(c->user);
	free(c->stop_signal);
	free(c->author);
	oci_kv_free(c->labels, c->n_labels);
	base_strv_free(c->ports);
	base_strv_free(c->volumes);
}

/* The keys of an object-valued field ("ExposedPorts": {"80/tcp": {}}). */
static int object_keys(struct oj *j, const cJSON *obj, const char *key,
		       char ***out)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	if (!cJSON_IsObject(v)) {
		size_t m = oj_enter(j, key);
		int r = oj_fail(j, "expected an object");
		oj_leave(j, m);
		return r;
	}
	*out = base_calloc(1, sizeof(char *));
	for (const cJSON *c = v->child; c; c = c->next)
		base_strv_push(out, c->string);
	return 0;
}

static int parse_inner(struct oj *j, const cJSON *v, void *out)
{
	struct img_config *c = out;
	int r = oj_want_object(j, v);
	if (r < 0)
		return r;
	if ((r = oj_strv(j, v, "Entrypoint", &c->entrypoint)) < 0 ||
	    (r = oj_strv(j, v, "Cmd", &c->cmd)) < 0 ||
	    (r = oj_strv(j, v, "Env", &c->env)) < 0 ||
	    (r = oj_str(j, v, "WorkingDir", &c->workdir)) < 0 ||
	    (r = oj_str(j, v, "User", &c->user)) < 0 ||
	    (r = oj_str(j, v, "StopSignal", &c->stop_signal)) < 0 ||
	    (r = oj_kv(j, v, "Labels", &c->labels, &c->n_labels)) < 0 ||
	    (r = object_keys(j, v, "ExposedPorts", &c->ports)) < 0 ||
	    (r = object_keys(j, v, "Volumes", &c->volumes)) < 0)
		return r;
	return 0;
}

static void replace(cJSON *obj, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	oj_put(obj, key, v);
}

static cJSON *args_json(const struct img_config *c)
{
	char **args = base_calloc(1, sizeof(char *));
	for (char **p = c->entrypoint; p && *p; p++)
		base_strv_push(&args, *p);
	for (char **p = c->cmd; p && *p; p++)
		base_strv_push(&args, *p);
	cJSON *v = args[0] ? oj_new_strv((const char *const *)args) : NULL;
	base_strv_free(args);
	return v;
}

static cJSON *env_json(const struct img_config *c)
{
	cJSON *v = oj_new_strv((const char *const *)c->env);
	for (char **p = c->env; p && *p; p++)
		if (base_str_has_prefix(*p, "PATH="))
			return v;
	oj_append(v, oj_new_str(DEFAULT_PATH));
	return v;
}

static cJSON *user_json(const struct oci_user_ids *u)
{
	cJSON *v = oj_new_object();
	oj_put(v, "uid", oj_new_u64(u->uid));
	oj_put(v, "gid", oj_new_u64(u->gid));
	if (u->n_gids) {
		cJSON *g = oj_new_array();
		for (size_t i = 0; i < u->n_gids; i++)
			oj_append(g, oj_new_u64(u->gids[i]));
		oj_put(v, "additionalGids", g);
	}
	return v;
}

static char *join(char **v)
{
	size_t n = 1;
	for (char **p = v; p && *p; p++)
		n += strlen(*p) + 1;
	char *s = base_calloc(n, 1);
	for (char **p = v; p && *p; p++) {
		if (p != v)
			strcat(s, ",");
		strcat(s, *p);
	}
	return s;
}

/* Labels, then what the conversion document maps to annotations (those
 * win over a label of the same name). */
static cJSON *annotations_json(const struct img_config *c, const cJSON *doc)
{
	struct oci_kv *kv = base_calloc(c->n_labels + 8, sizeof(*kv));
	size_t n = 0;
	for (size_t i = 0; i < c->n_labels; i++)
		kv[n++] = c->labels[i];
	_cleanup_free_ char *ports = c->ports ? join(c->ports) : NULL;
	_cleanup_free_ char *vols = c->volumes ? join(c->volumes) : NULL;
	const struct {
		const char *key, *value;
	} extra[] = {
		{"org.opencontainers.image.exposedPorts", ports},
		{"org.opencontainers.image.stopSignal", c->stop_signal},
		{"org.opencontainers.image.os",
		 cJSON_GetStringValue(oj_get(doc, "os"))},
		{"org.opencontainers.image.architecture",
		 cJSON_GetStringValue(oj_get(doc, "architecture"))},
		{"org.opencontainers.image.author",
		 cJSON_GetStringValue(oj_get(doc, "author"))},
		{"org.opencontainers.image.created",
		 cJSON_GetStringValue(oj_get(doc, "created"))},
		{"berth.image.volumes", vols},
	};
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
		if (!extra[i].value || !extra[i].value[0])
			continue;
		size_t k = 0;
		while (k < n && strcmp(kv[k].key, extra[i].key))
			k++;
		kv[k] = (struct oci_kv){(char *)extra[i].key,
					(char *)extra[i].value};
		n += k == n;
	}
	cJSON *v = oj_new_kv(kv, n);
	free(kv);
	return v;
}

static int fill_spec(cJSON *spec, const struct img_config *c, const cJSON *doc,
		     int rootfd, struct berr *err)
{
	cJSON *proc = cJSON_GetObjectItemCaseSensitive(spec, "process");
	if (!cJSON_IsObject(proc))
		return berr_setx(err, EINVAL, "default spec: no process");
	replace(proc, "terminal", oj_new_bool(false));
	cJSON *args = args_json(c);
	if (args) /* neither Entrypoint nor Cmd: keep the default shell */
		replace(proc, "args", args);
	replace(proc, "env", env_json(c));
	replace(proc, "cwd",
		oj_new_str(c->workdir && c->workdir[0] ? c->workdir : "/"));
	struct oci_user_ids u;
	int r = oci_image_resolve_user(rootfd, c->user, &u, err);
	if (r < 0)
		return berr_wrap(err, "image config: config.User");
	replace(proc, "user", user_json(&u));
	free(u.gids);
	cJSON *root = oj_new_object();
	oj_put(root, "path", oj_new_str("rootfs"));
	oj_put(root, "readonly", oj_new_bool(false));
	replace(spec, "root", root);
	replace(spec, "annotations", annotations_json(c, doc));
	return 0;
}

/* docker run's rules: --entrypoint replaces Entrypoint and drops the
 * image's Cmd ("" clears Entrypoint); arguments replace Cmd; -e K=V
 * replaces the image's K. */
static void apply_overrides(struct img_config *c,
			    const struct oci_image_overrides *ov)
{
	if (ov->entrypoint) {
		base_strv_free(c->entrypoint);
		base_strv_free(c->cmd);
		c->entrypoint = NULL;
		c->cmd = NULL;
		if (ov->entrypoint[0])
			base_strv_push(&c->entrypoint, ov->entrypoint);
	}
	if (ov->args && ov->args[0]) {
		base_strv_free(c->cmd);
		c->cmd = NULL;
		for (char *const *a = ov->args; *a; a++)
			base_strv_push(&c->cmd, *a);
	}
	for (char *const *e = ov->env; e && *e; e++) {
		size_t k = strcspn(*e, "=");
		size_t i = 0;
		while (c->env && c->env[i] &&
		       !(strncmp(c->env[i], *e, k) == 0 &&
			 (c->env[i][k] == '=' || c->env[i][k] == '\0')))
			i++;
		if (c->env && c->env[i]) {
			free(c->env[i]);
			c->env[i] = base_strdup(*e);
		} else {
			base_strv_push(&c->env, *e);
		}
	}
	if (ov->workdir) {
		free(c->workdir);
		c->workdir = base_strdup(ov->workdir);
	}
	if (ov->user) {
		free(c->user);
		c->user = base_strdup(ov->user);
	}
}

int oci_image_runtime_config(const char *image_config, size_t len, int rootfd,
			     char **out, struct berr *err)
{
	return oci_image_runtime_config_with(image_config, len, rootfd, NULL,
					     out, err);
}

int oci_image_runtime_config_with(const char *image_config, size_t len,
				  int rootfd,
				  const struct oci_image_overrides *ov,
				  char **out, struct berr *err)
{
	*out = NULL;
	struct oj j;
	oj_init(&j, err, "image config", true, NULL);
	_cleanup_json_ cJSON *doc = NULL;
	int r = oj_parse_doc(&j, image_config, len, &doc);
	if (r < 0)
		return r;
	struct img_config c = {0};
	r = oj_object(&j, doc, "config", parse_inner, &c, NULL);
	if (r == 0 && ov)
		apply_overrides(&c, ov);
	_cleanup_free_ char *def = oci_spec_default(false, 0, 0);
	_cleanup_json_ cJSON *spec = NULL;
	struct oj js;
	oj_init(&js, err, "default spec", false, NULL);
	if (r == 0)
		r = oj_parse_doc(&js, def, strlen(def), &spec);
	if (r == 0)
		r = fill_spec(spec, &c, doc, rootfd, err);
	img_config_clear(&c);
	if (r < 0)
		return r;
	char *json = oj_print(spec, "\t");
	*out = base_sprintf("%s\n", json);
	free(json);
	return 0;
}
