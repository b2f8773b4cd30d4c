/* The image config of `berth image import`, with the `--change`
 * instructions `docker import` takes: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
 * USER, VOLUME and WORKDIR, each as plain "KEY value" metadata. This is
 * not a Dockerfile parser: no escapes, no variables, no line
 * continuations; a double-quoted value loses its quotes. */
#include <string.h>
#include <time.h>

#include "oci/oci-internal.h"

#define CHANGE_KEYS "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR"

/* value's words, split on blanks; double quotes group and are dropped. */
static char **words(const char *value)
{
	char **v = NULL;
	const char *p = value;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		_cleanup_free_ char *w = base_calloc(strlen(p) + 1, 1);
		size_t n = 0;
		bool quoted = false;
		for (; *p && (quoted || (*p != ' ' && *p != '\t')); p++) {
			if (*p == '"')
				quoted = !quoted;
			else
				w[n++] = *p;
		}
		base_strv_push(&v, w);
	}
	return v;
}

/* A JSON array of strings, or NULL when value is not one. */
static cJSON *json_strings(const char *value)
{
	cJSON *a = cJSON_Parse(value);
	bool ok = cJSON_IsArray(a);
	cJSON *it;
	cJSON_ArrayForEach(it, a) ok = ok && cJSON_IsString(it);
	if (!ok) {
		cJSON_Delete(a);
		return NULL;
	}
	return a;
}

static cJSON *obj_child(cJSON *o, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!c) {
		c = oj_new_object();
		oj_put(o, key, c);
	}
	return c;
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	oj_put(o, key, v);
}

/* ENTRYPOINT and CMD: a JSON array, or a shell form. */
static void change_exec(cJSON *cfg, const char *key, const char *value)
{
	cJSON *a = value[0] == '[' ? json_strings(value) : NULL;
	if (!a) {
		const char *sh[] = {"/bin/sh", "-c", value, NULL};
		a = oj_new_strv(sh);
	}
	set_item(cfg, key, a);
}

static void env_set(cJSON *cfg, const char *k, size_t klen, const char *v)
{
	cJSON *env = obj_child(cfg, "Env");
	if (!cJSON_IsArray(env)) {
		env = oj_new_array();
		set_item(cfg, "Env", env);
	}
	_cleanup_free_ char *kv = base_sprintf("%.*s=%s", (int)klen, k, v);
	cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, env)
	{
		if (cJSON_IsString(it) && !strncmp(it->valuestring, k, klen) &&
		    it->valuestring[klen] == '=') {
			cJSON_ReplaceItemInArray(env, i, oj_new_str(kv));
			return;
		}
		i++;
	}
	oj_append(env, oj_new_str(kv));
}

/* "K=V ..." pairs, or "K V" (the rest is the value). */
static int change_pairs(cJSON *cfg, const char *key, const char *value,
			const char *change, struct berr *err)
{
	size_t first = strcspn(value, " \t=");
	if (!strcmp(key, "ENV") && value[first] != '=') {
		const char *v = value + first;
		while (*v == ' ' || *v == '\t')
			v++;
		env_set(cfg, value, first, v);
		return 0;
	}
	_cleanup_strv_ char **w = words(value);
	for (char **p = w; p && *p; p++) {
		char *eq = strchr(*p, '=');
		if (!eq || eq == *p)
			return berr_setx(err, EINVAL,
					 "--change \"%s\": expected KEY=VALUE, "
					 "got \"%s\"",
					 change, *p);
		if (!strcmp(key, "ENV")) {
			env_set(cfg, *p, (size_t)(eq - *p), eq + 1);
		} else {
			*eq = '\0';
			set_item(obj_child(cfg, "Labels"), *p,
				 oj_new_str(eq + 1));
		}
	}
	return 0;
}

static int change_expose(cJSON *cfg, const char *value, const char *change,
			 struct berr *err)
{
	_cleanup_strv_ char **w = words(value);
	for (char **p = w; p && *p; p++) {
		char *slash = strchr(*p, '/');
		const char *proto = slash ? slash + 1 : "tcp";
		if (slash)
			*slash = '\0';
		int64_t port = 0;
		if (base_parse_i64(*p, &port) < 0 || port < 1 || port > 65535 ||
		    (strcmp(proto, "tcp") && strcmp(proto, "udp") &&
		     strcmp(proto, "sctp")))
			return berr_setx(
				err, EINVAL,
				"--change \"%s\": invalid port \"%s%s%s\" "
				"(PORT[/tcp|udp|sctp])",
				change, *p, slash ? "/" : "",
				slash ? proto : "");
		_cleanup_free_ char *k =
			base_sprintf("%lld/%s", (long long)port, proto);
		set_item(obj_child(cfg, "ExposedPorts"), k, oj_new_object());
	}
	return 0;
}

static void change_volume(cJSON *cfg, const char *value)
{
	_cleanup_json_ cJSON *a = value[0] == '[' ? json_strings(value) : NULL;
	_cleanup_strv_ char **w = a ? NULL : words(value);
	cJSON *vols = obj_child(cfg, "Volumes");
	cJSON *it;
	cJSON_ArrayForEach(it, a)
		set_item(vols, it->valuestring, oj_new_object());
	for (char **p = w; p && *p; p++)
		set_item(vols, *p, oj_new_object());
}

static int apply_change(cJSON *cfg, const char *change, struct berr *err)
{
	const char *p = change;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t klen = strcspn(p, " \t");
	char key[16] = "";
	for (size_t i = 0; i < klen && i + 1 < sizeof(key); i++)
		key[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]);
	const char *value = p + klen;
	while (*value == ' ' || *value == '\t')
		value++;
	if (klen >= sizeof(key) || !klen)
		return berr_setx(err, EINVAL,
				 "--change \"%.100s\": not an instruction (%s)",
				 change, CHANGE_KEYS);
	static const char *const keys[] = {"CMD",    "ENTRYPOINT", "ENV",
					   "EXPOSE", "LABEL",	   "USER",
					   "VOLUME", "WORKDIR"};
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		known = known || !strcmp(key, keys[i]);
	if (!known)
		return berr_setx(err, EINVAL,
				 "--change \"%.100s\": %s cannot be changed by "
				 "image import (only %s)",
				 change, key, CHANGE_KEYS);
	if (!*value)
		return berr_setx(err, EINVAL,
				 "--change \"%.100s\": %s needs a value",
				 change, key);
	if (!strcmp(key, "CMD"))
		change_exec(cfg, "Cmd", value);
	else if (!strcmp(key, "ENTRYPOINT"))
		change_exec(cfg, "Entrypoint", value);
	else if (!strcmp(key, "ENV") || !strcmp(key, "LABEL"))
		return change_pairs(cfg, key, value, change, err);
	else if (!strcmp(key, "EXPOSE"))
		return change_expose(cfg, value, change, err);
	else if (!strcmp(key, "USER"))
		set_item(cfg, "User", oj_new_str(value));
	else if (!strcmp(key, "VOLUME"))
		change_volume(cfg, value);
	else /* WORKDIR */
		set_item(cfg, "WorkingDir", oj_new_str(value));
	return 0;
}

int oci_image_import_config(char *const *changes, const char *comment,
			    char **out, struct berr *err)
{
	*out = NULL;
	_cleanup_json_ cJSON *cfg = oj_new_object();
	for (size_t i = 0; changes && changes[i]; i++) {
		int r = apply_change(cfg, changes[i], err);
		if (r < 0)
			return r;
	}
	struct timespec ts;
	char now[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	base_rfc3339(&ts, now, sizeof(now));
	_cleanup_json_ cJSON *doc = oj_new_object();
	oj_put(doc, "architecture", oj_new_str(oci_image_host_arch()));
	oj_put(doc, "os", oj_new_str("linux"));
	oj_put(doc, "created", oj_new_str(now));
	oj_put(doc, "config", TAKE_PTR(cfg));
	cJSON *h = oj_new_object();
	oj_put(h, "created", oj_new_str(now));
	oj_put(h, "created_by", oj_new_str("berth image import"));
	if (comment && comment[0])
		oj_put(h, "comment", oj_new_str(comment));
	cJSON *hist = oj_new_array();
	oj_append(hist, h);
	oj_put(doc, "history", hist);
	*out = oj_print(doc, NULL);
	return 0;
}
