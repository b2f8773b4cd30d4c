/* berth compose: Compose files read into the job model.
 *
 * A compose file and a job file are two front ends of one engine: the
 * project's files are read (libyaml, engine-yaml.c), merged in the order
 * given, interpolated from the environment and .env, their services'
 * `extends` followed (into other files too), checked against the
 * keys berth supports, and written as a job document that eng_job_parse()
 * reads like any job file. `up` runs that job (its runner, its network
 * <project>_default, its logs), `down` stops it, `ps` and `logs` are the
 * job's. A service is a group of `deploy.replicas` containers (or
 * --scale's) reachable by the service's name; `x-berth: {consumes: Q}`
 * makes one a pool of pinned workers on the shared-memory queue Q, and
 * `produces: Q` its producer, as the job format's groups are. */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine-internal.h"

struct compose {
	cJSON *doc;	 /* the merged, interpolated project */
	char *name;	 /* the project's */
	char *dir;	 /* where relative paths start */
	char *file;	 /* the first file, for messages */
	char **env;	 /* .env, --env-file: K=V (the process wins) */
	char **warnings; /* keys read but not applied */
};

struct eng_compose {
	struct compose c;
	const char *name;      /* c.name */
	char *const *warnings; /* c.warnings */
	char **order;	       /* the services, dependencies first */
};

const char *eng_compose_name(const struct eng_compose *p)
{
	return p->name;
}

char *const *eng_compose_warnings(const struct eng_compose *p)
{
	return p->warnings;
}

char **eng_compose_images(const struct eng_compose *p)
{
	char **v = NULL;
	for (size_t i = 0; p->order && p->order[i]; i++) {
		base_strv_push(&v, p->order[i]);
		char *image =
			eng_compose_image_of(p->c.doc, p->name, p->order[i]);
		base_strv_push(&v, image);
		free(image);
	}
	return v;
}

static int bad(struct berr *err, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct berr *err, const char *file, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_setx(err, EINVAL, "%s: %s", file, msg);
}

/* ---- the environment ---------------------------------------------------- */

/* K=V lines; blanks and # comments skipped; "export " and quotes
 * allowed, as compose reads .env. */
static int read_env_file(const char *path, bool must, char ***env,
			 struct berr *err)
{
	_cleanup_free_ char *text = NULL;
	int r = base_read_file_at(AT_FDCWD, path, &text, NULL, 1 << 20);
	if (r == -ENOENT && !must)
		return 0;
	if (r < 0)
		return berr_set(err, -r, "env file %s", path);
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		l += strspn(l, " \t");
		if (!strncmp(l, "export ", 7))
			l += 7;
		size_t n = strlen(l);
		while (n && isspace((unsigned char)l[n - 1]))
			l[--n] = '\0';
		if (!*l || *l == '#')
			continue;
		char *eq = strchr(l, '=');
		if (!eq || eq == l)
			return berr_setx(err, EINVAL, "%s: `%s`: expected K=V",
					 path, l);
		char *v = eq + 1;
		size_t vn = strlen(v);
		if (vn >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[vn - 1] == v[0]) {
			v[vn - 1] = '\0';
			v++;
		}
		*eq = '\0';
		_cleanup_free_ char *kv = base_sprintf("%s=%s", l, v);
		base_strv_push(env, kv);
	}
	return 0;
}

static const char *var(const struct compose *c, const char *k, size_t n)
{
	_cleanup_free_ char *name = strndup(k, n);
	const char *v = getenv(name);
	if (v)
		return v;
	for (size_t i = 0; c->env && c->env[i]; i++)
		if (!strncmp(c->env[i], k, n) && c->env[i][n] == '=')
			v = c->env[i] + n + 1;
	return v;
}

/* ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:+r}, ${VAR+r}, ${VAR:?e}, ${VAR?e}
 * and $VAR in one string ($$ stays); *out is new. */
static int interpolate(const struct compose *c, const char *s,
		       const char *where, char **out, struct berr *err)
{
	char *o = base_strdup("");
	size_t len = 0;
	for (const char *p = s; *p;) {
		const char *add = p;
		size_t n = 1;
		_cleanup_free_ char *tmp = NULL;
		if (p[0] == '$' && p[1] == '$') {
			/* stays escaped, as compose config prints it; the job
			 * gets one '$' (eng_compose_unescape) */
			n = 2;
			p += 2;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p, '}');
			if (!end) {
				free(o);
				return bad(err, c->file,
					   "%s: missing '}' in `%s`", where, s);
			}
			const char *name = p + 2;
			size_t k = 0;
			while (isalnum((unsigned char)name[k]) ||
			       name[k] == '_')
				k++;
			const char *op = name + k;
			const char *v = var(c, name, k);
			bool colon = *op == ':';
			char kind = colon ? op[1] : *op;
			const char *word = op + (colon ? 2 : 1);
			tmp = strndup(word, (size_t)(end - word));
			bool set = colon ? v && *v : v != NULL;
			if (op == end)
				add = v ? v : "";
			else if (kind == '-')
				add = set ? v : tmp;
			else if (kind == '+')
				add = set ? tmp : "";
			else if (kind == '?' && !set) {
				free(o);
				return bad(err, c->file, "%s: %.*s: %s", where,
					   (int)k, name,
					   *tmp ? tmp
						: "required variable is "
						  "not set");
			} else if (kind == '?')
				add = v;
			else {
				free(o);
				return bad(err, c->file,
					   "%s: bad substitution `%.*s`", where,
					   (int)(end - p + 1), p);
			}
			n = strlen(add);
			p = end + 1;
		} else if (p[0] == '$' &&
			   (isalpha((unsigned char)p[1]) || p[1] == '_')) {
			size_t k = 1;
			while (isalnum((unsigned char)p[k]) || p[k] == '_')
				k++;
			const char *v = var(c, p + 1, k - 1);
			add = v ? v : "";
			n = strlen(add);
			p += k;
		} else {
			p++;
		}
		o = base_realloc(o, len + n + 1, 1);
		memcpy(o + len, add, n);
		len += n;
		o[len] = '\0';
	}
	*out = o;
	return 0;
}

static int interpolate_tree(const struct compose *c, cJSON *v,
			    const char *where, struct berr *err)
{
	if (cJSON_IsString(v)) {
		char *s = NULL;
		int r = interpolate(c, v->valuestring, where, &s, err);
		if (r == 0)
			cJSON_SetValuestring(v, s);
		free(s);
		return r;
	}
	cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		_cleanup_free_ char *at =
			e->string ? base_sprintf("%s.%s", where, e->string)
				  : base_strdup(where);
		int r = interpolate_tree(c, e, at, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- reading and merging ---------------------------------------------- */

static cJSON *child(cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void set(cJSON *o, const char *k, cJSON *v)
{
	if (child(o, k))
		cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
	else
		cJSON_AddItemToObject(o, k, v);
}

/* ["K=V", "K"] -> {"K": "V", "K": null}; a mapping stays. */
static int list_to_map(cJSON *svc, const char *key, const char *file,
		       const char *where, struct berr *err)
{
	cJSON *v = child(svc, key);
	if (!v || cJSON_IsObject(v))
		return 0;
	if (!cJSON_IsArray(v))
		return bad(err, file, "%s.%s: expected a list or a mapping",
			   where, key);
	cJSON *m = cJSON_CreateObject();
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		const char *s = cJSON_GetStringValue(e);
		if (!s) {
			cJSON_Delete(m);
			return bad(err, file, "%s.%s: expected strings", where,
				   key);
		}
		const char *eq = strchr(s, '=');
		_cleanup_free_ char *k =
			eq ? strndup(s, (size_t)(eq - s)) : base_strdup(s);
		cJSON_DeleteItemFromObjectCaseSensitive(m, k);
		cJSON_AddItemToObject(m, k,
				      eq ? cJSON_CreateString(eq + 1)
					 : cJSON_CreateNull());
	}
	set(svc, key, m);
	return 0;
}

/* The forms compose allows several of, in one: environment and labels as
 * mappings, depends_on as {svc: {condition}}, build as {context}. */
static int normalize_service(cJSON *svc, const char *file, const char *where,
			     struct berr *err)
{
	if (!cJSON_IsObject(svc))
		return bad(err, file, "%s: expected a mapping", where);
	int r = list_to_map(svc, "environment", file, where, err);
	if (r == 0)
		r = list_to_map(svc, "labels", file, where, err);
	cJSON *d = child(svc, "depends_on");
	if (r == 0 && cJSON_IsArray(d)) {
		cJSON *m = cJSON_CreateObject();
		const cJSON *e;
		cJSON_ArrayForEach(e, d)
		{
			cJSON *c = cJSON_CreateObject();
			cJSON_AddStringToObject(c, "condition",
						"service_started");
			if (cJSON_GetStringValue(e))
				cJSON_AddItemToObject(m, e->valuestring, c);
			else
				cJSON_Delete(c);
		}
		set(svc, "depends_on", m);
	}
	cJSON *b = child(svc, "build");
	if (r == 0 && cJSON_IsString(b)) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "context", b->valuestring);
		set(svc, "build", m);
	}
	return r;
}

static bool appends(const char *key)
{
	static const char *const keys[] = {"ports",	 "expose", "volumes",
					   "env_file",	 "tmpfs",  "dns",
					   "extra_hosts"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

/* over onto base, as compose merges -f files: mappings key by key, the
 * lists above appended without repeats, everything else replaced. */
static void merge(cJSON *base, const cJSON *over)
{
	const cJSON *kv;
	cJSON_ArrayForEach(kv, over)
	{
		cJSON *b = child(base, kv->string);
		if (cJSON_IsObject(b) && cJSON_IsObject(kv)) {
			merge(b, kv);
		} else if (cJSON_IsArray(b) && cJSON_IsArray(kv) &&
			   appends(kv->string)) {
			const cJSON *e;
			cJSON_ArrayForEach(e, kv)
			{
				bool have = false;
				const cJSON *x;
				cJSON_ArrayForEach(x, b) have |=
					cJSON_Compare(x, e, true);
				if (!have)
					cJSON_AddItemToArray(
						b, cJSON_Duplicate(e, true));
			}
		} else {
			set(base, kv->string, cJSON_Duplicate(kv, true));
		}
	}
}

/* A compose file read, its services in one form, interpolated; messages
 * name it as shown. */
static int load_file(struct compose *c, const char *path, const char *shown,
		     cJSON **out, struct berr *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = base_read_file_at(AT_FDCWD, path, &text, &len, 16u << 20);
	if (r < 0)
		return berr_set(err, -r, "read %s", path);
	const char *base = strrchr(path, '/');
	if ((r = eng_yaml_parse(text, len, base ? base + 1 : path, out, err)) <
	    0)
		return r;
	if (!cJSON_IsObject(*out))
		return bad(err, path, "expected a mapping at the top");
	cJSON *svcs = child(*out, "services");
	cJSON *svc;
	cJSON_ArrayForEach(svc, svcs)
	{
		_cleanup_free_ char *at =
			base_sprintf("services.%s", svc->string);
		if ((r = normalize_service(svc, shown, at, err)) < 0)
			return r;
	}
	return interpolate_tree(c, *out, "", err);
}

/* ---- what berth supports --------------------------------------------------
 */

/* Keys applied, keys read but not applied (a warning names each), and
 * everything else an error: never silently ignored. */
static const char *const top_keys[] = {"version",  "name",    "services",
				       "networks", "volumes", NULL};
static const char *const svc_keys[] = {"image",
				       "build",
				       "command",
				       "entrypoint",
				       "environment",
				       "env_file",
				       "ports",
				       "volumes",
				       "tmpfs",
				       "working_dir",
				       "user",
				       "hostname",
				       "depends_on",
				       "deploy",
				       "cpuset",
				       "mem_limit",
				       "pids_limit",
				       "networks",
				       "network_mode",
				       "container_name",
				       "x-berth",
				       "healthcheck",
				       "init",
				       "ulimits",
				       "cpus",
				       "stop_signal",
				       "stop_grace_period",
				       "restart",
				       "expose",
				       "labels",
				       NULL};
/* berth keeps each container's output in the job's logs/ */
static const char *const svc_warn[] = {"logging", NULL};

static bool in(const char *const *v, const char *k)
{
	for (size_t i = 0; v[i]; i++)
		if (!strcmp(v[i], k))
			return true;
	return false;
}

/* expose: ports other services may reach, as docker takes them (PORT,
 * PORT-PORT, with /tcp or /udp). On a berth network every port of a
 * container is reachable by the others already, as on docker's, so
 * nothing more is made of it. */
static int check_expose(const struct compose *c, const cJSON *svc,
			struct berr *err)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(svc, "expose");
	const cJSON *p;
	if (e && !cJSON_IsArray(e))
		return bad(err, c->file, "services.%s.expose: a list of ports",
			   svc->string);
	cJSON_ArrayForEach(p, e)
	{
		char buf[32];
		const char *t = cJSON_GetStringValue(p);
		if (cJSON_IsNumber(p))
			t = (snprintf(buf, sizeof(buf), "%d", p->valueint),
			     buf);
		unsigned a = 0, b = 0;
		char proto[8] = "tcp";
		int n = t ? sscanf(t, "%u-%u/%7s", &a, &b, proto) : 0;
		if (n < 2 && t)
			n = sscanf(t, "%u/%7s", &a, proto) > 0 ? 1 : 0;
		if (!b)
			b = a;
		if (!t || n < 1 || !a || a > 65535 || b < a || b > 65535 ||
		    (strcmp(proto, "tcp") && strcmp(proto, "udp")))
			return bad(err, c->file,
				   "services.%s.expose: `%s`: expected "
				   "PORT[-PORT][/tcp|/udp]",
				   svc->string, t ? t : "?");
	}
	return 0;
}

static int check_keys(struct compose *c, struct berr *err)
{
	const cJSON *kv;
	cJSON_ArrayForEach(kv, c->doc) if (
		!in(top_keys, kv->string) &&
		strncmp(kv->string, "x-",
			2)) return bad(err, c->file,
				       "%s: not supported by berth compose",
				       kv->string);
	const cJSON *svc;
	cJSON_ArrayForEach(svc, child(c->doc, "services"))
	{
		int r = check_expose(c, svc, err);
		if (r < 0)
			return r;
		cJSON_ArrayForEach(kv, svc)
		{
			if (in(svc_keys, kv->string))
				continue;
			if (!in(svc_warn, kv->string))
				return bad(err, c->file,
					   "services.%s.%s: not supported by "
					   "berth compose",
					   svc->string, kv->string);
			_cleanup_free_ char *w = base_sprintf(
				"services.%s.%s is not applied by berth "
				"compose yet",
				svc->string, kv->string);
			base_strv_push(&c->warnings, w);
		}
	}
	return 0;
}

/* depends_on: known services, no cycle; *order gets every service after
 * those it depends on (file order otherwise). */
static int order_services(struct compose *c, char ***order, struct berr *err)
{
	cJSON *svcs = child(c->doc, "services");
	size_t n = (size_t)cJSON_GetArraySize(svcs), done = 0;
	_cleanup_free_ bool *placed = base_calloc(n ? n : 1, sizeof(bool));
	while (done < n) {
		bool progress = false;
		size_t i = 0;
		const cJSON *s;
		cJSON_ArrayForEach(s, svcs)
		{
			size_t me = i++;
			if (placed[me])
				continue;
			bool ready = true;
			const cJSON *d;
			cJSON_ArrayForEach(d, child((cJSON *)s, "depends_on"))
			{
				int k = 0;
				bool found = false;
				const cJSON *t;
				cJSON_ArrayForEach(t, svcs)
				{
					if (!strcmp(t->string, d->string)) {
						found = true;
						ready &= placed[k];
					}
					k++;
				}
				if (!found)
					return bad(err, c->file,
						   "services.%s.depends_on: "
						   "unknown service `%s`",
						   s->string, d->string);
			}
			if (!ready)
				continue;
			placed[me] = true;
			base_strv_push(order, s->string);
			done++;
			progress = true;
		}
		if (!progress)
			return bad(err, c->file,
				   "services: depends_on makes a cycle "
				   "(a service waits for itself)");
	}
	return 0;
}

/* An absolute path with its "." and ".." steps and repeated '/' folded,
 * as compose prints paths (new string). */
static char *clean_path(const char *p)
{
	char *out = base_calloc(strlen(p) + 2, 1);
	size_t n = 0;
	for (const char *s = p; *s;) {
		s += strspn(s, "/");
		size_t k = strcspn(s, "/");
		if (k == 2 && !strncmp(s, "..", 2)) {
			while (n && out[n - 1] != '/')
				n--;
			n -= n ? 1 : 0;
		} else if (k && (k != 1 || s[0] != '.')) {
			out[n++] = '/';
			memcpy(out + n, s, k);
			n += k;
		}
		s += k;
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

/* p made absolute against dir (~ the home directory), as compose resolves a
 * relative path; NULL when p is absolute already. */
static char *path_at(const char *dir, const char *p)
{
	if (p[0] == '~' && (p[1] == '/' || !p[1]))
		return getenv("HOME")
			       ? base_sprintf("%s%s", getenv("HOME"), p + 1)
			       : NULL;
	if (p[0] == '/')
		return NULL;
	_cleanup_free_ char *joined = base_sprintf("%s/%s", dir, p);
	return clean_path(joined);
}

/* A bind's source made absolute (., .. and ~ start one; anything else is a
 * named volume or absolute): NULL when it stays. */
static char *bind_source_at(const char *dir, const char *p)
{
	bool home = p[0] == '~' && (p[1] == '/' || !p[1]);
	return home || p[0] == '.' ? path_at(dir, p) : NULL;
}

/* Relative bind sources of svc made absolute against dir, as compose config
 * prints them. */
static void binds_at(const char *dir, cJSON *svc)
{
	cJSON *v;
	cJSON_ArrayForEach(v, child(svc, "volumes"))
	{
		if (cJSON_IsObject(v)) {
			const char *src = str(v, "source");
			_cleanup_free_ char *abs =
				src ? bind_source_at(dir, src) : NULL;
			if (abs)
				set(v, "source", cJSON_CreateString(abs));
			continue;
		}
		const char *s = cJSON_GetStringValue(v);
		const char *colon = s ? strchr(s, ':') : NULL;
		_cleanup_free_ char *src =
			colon ? strndup(s, (size_t)(colon - s)) : NULL;
		_cleanup_free_ char *abs =
			src ? bind_source_at(dir, src) : NULL;
		if (!abs)
			continue;
		_cleanup_free_ char *spec = base_sprintf("%s%s", abs, colon);
		cJSON_SetValuestring(v, spec);
	}
}

/* The project's binds, from its directory. */
static void absolute_binds(struct compose *c)
{
	cJSON *svc;
	cJSON_ArrayForEach(svc, child(c->doc, "services"))
		binds_at(c->dir, svc);
}

/* ---- extends ------------------------------------------------------------ */

/* A file services are extended from: its document, its absolute path,
 * the directory its relative paths (and extends.file) start from (the
 * project's for the project's files), and its name in messages. */
struct ext_src {
	cJSON *doc;
	cJSON *own; /* doc, when read for extends */
	char *path;
	char *dir;
	const char *shown;
};

static void ext_src_clear(struct ext_src *s)
{
	cJSON_Delete(s->own);
	free(s->path);
	free(s->dir);
}

/* A service on the way of an extends chain (newest first): cycles. */
struct ext_hop {
	const char *path;
	const char *shown;
	const char *svc;
	const struct ext_hop *up;
};

static const char *shown_path(const struct compose *c, const char *path)
{
	size_t n = strlen(c->dir);
	if (!strncmp(path, c->dir, n) && path[n] == '/')
		return path + n + 1;
	return path;
}

/* The file at path as a source (s's own document when it is s's file). */
static int ext_open(struct compose *c, const struct ext_src *s,
		    const char *path, struct ext_src *out, struct berr *err)
{
	out->path = base_strdup(path);
	if (!strcmp(path, s->path)) {
		out->doc = s->doc;
		out->dir = base_strdup(s->dir);
		out->shown = s->shown;
		return 0;
	}
	out->shown = shown_path(c, out->path);
	out->dir = strndup(path, (size_t)(strrchr(path, '/') - path));
	int r = load_file(c, path, out->shown, &out->own, err);
	out->doc = out->own;
	return r;
}

/* extends: SERVICE or {service: SERVICE, file: FILE}: the service's name
 * (in ext) and its file's absolute path (*file, new; FILE from s's
 * directory). */
static int ext_ref(const struct ext_src *s, const char *svc, const cJSON *ext,
		   const char **name, char **file, struct berr *err)
{
	const cJSON *kv, *f = child((cJSON *)ext, "file");
	if (!cJSON_IsString(ext) && !cJSON_IsObject(ext))
		return bad(err, s->shown,
			   "services.%s.extends: expected a service's name or "
			   "{service: NAME, file: FILE}",
			   svc);
	cJSON_ArrayForEach(kv, ext)
	{
		if (strcmp(kv->string, "service") && strcmp(kv->string, "file"))
			return bad(err, s->shown,
				   "services.%s.extends.%s: not supported "
				   "(service and file are)",
				   svc, kv->string);
	}
	*name = cJSON_IsObject(ext) ? str(ext, "service") : ext->valuestring;
	if (!*name || !**name)
		return bad(err, s->shown,
			   "services.%s.extends: the name of a service to "
			   "extend is missing",
			   svc);
	if (f && !cJSON_GetStringValue(f))
		return bad(err, s->shown,
			   "services.%s.extends.file: expected a path", svc);
	if (!f) {
		*file = base_strdup(s->path);
		return 0;
	}
	_cleanup_free_ char *p =
		f->valuestring[0] == '/'
			? base_strdup(f->valuestring)
			: base_sprintf("%s/%s", s->dir, f->valuestring);
	*file = realpath(p, NULL);
	if (!*file)
		return berr_set(err, errno, "%s: services.%s.extends: file %s",
				s->shown, svc, f->valuestring);
	return 0;
}

/* The hops from `from` (older) to h, as "a -> b (other.yml) -> a". */
static void ext_chain(char *buf, size_t len, const struct ext_hop *h,
		      const struct ext_hop *from)
{
	if (h != from)
		ext_chain(buf, len, h->up, from);
	size_t n = strlen(buf);
	bool other = strcmp(h->path, from->path);
	snprintf(buf + n, len - n, "%s%s%s%s%s", n ? " -> " : "", h->svc,
		 other ? " (" : "", other ? h->shown : "", other ? ")" : "");
}

static int ext_cycle(const struct ext_hop *me, struct berr *err)
{
	const struct ext_hop *h = me->up;
	while (h && (strcmp(h->path, me->path) || strcmp(h->svc, me->svc)))
		h = h->up;
	if (!h)
		return 0;
	char chain[256] = "";
	ext_chain(chain, sizeof(chain), me, h);
	return bad(err, h->shown, "services.%s.extends: a cycle: %s", h->svc,
		   chain);
}

/* What docker-compose does not extend (a dependency stays visible where
 * it is declared): a service with one of these. */
static int ext_check_base(const struct ext_src *s, const char *svc,
			  const struct ext_src *b, const char *name,
			  const cJSON *base, struct berr *err)
{
	static const char *const keys[] = {"depends_on", "links",
					   "volumes_from"};
	const char *has = NULL, *mode = str(base, "network_mode");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (child((cJSON *)base, keys[i]))
			has = keys[i];
	if (mode &&
	    (!strncmp(mode, "service:", 8) || !strncmp(mode, "container:", 10)))
		has = "network_mode";
	if (!has)
		return 0;
	return bad(err, s->shown,
		   "services.%s.extends: services.%s of %s cannot be "
		   "extended: it has %s (as in docker-compose; declare it in "
		   "services.%s)",
		   svc, name, b->shown, has, svc);
}

/* Relative paths of a service read from another directory made absolute:
 * its build context, env files and bind sources. */
static void ext_paths_at(const char *dir, cJSON *svc)
{
	cJSON *b = child(svc, "build");
	const char *ctx = str(b, "context");
	if (cJSON_IsObject(b) && !ctx)
		set(b, "context", cJSON_CreateString(dir));
	_cleanup_free_ char *abs =
		ctx && !strstr(ctx, "://") ? path_at(dir, ctx) : NULL;
	if (abs)
		set(b, "context", cJSON_CreateString(abs));
	cJSON *f = child(svc, "env_file"), *e;
	cJSON *files = cJSON_IsArray(f) ? f : NULL;
	cJSON_ArrayForEach(e, files)
	{
		_cleanup_free_ char *p = cJSON_GetStringValue(e)
						 ? path_at(dir, e->valuestring)
						 : NULL;
		if (p)
			cJSON_SetValuestring(e, p);
	}
	_cleanup_free_ char *p =
		cJSON_IsString(f) ? path_at(dir, f->valuestring) : NULL;
	if (p)
		cJSON_SetValuestring(f, p);
	binds_at(dir, svc);
}

/* The container path of a volume, short or long form (new string). */
static char *vol_target(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return base_strdup(str(v, "target"));
	const char *s = cJSON_GetStringValue(v);
	const char *c1 = s ? strchr(s, ':') : NULL;
	if (!c1)
		return base_strdup(s);
	const char *c2 = strchr(c1 + 1, ':');
	return c2 ? strndup(c1 + 1, (size_t)(c2 - c1 - 1))
		  : base_strdup(c1 + 1);
}

/* local's volumes onto base's, one a container path: local's wins. */
static void ext_merge_volumes(cJSON *base, cJSON *local)
{
	_cleanup_cjson_ cJSON *over =
		cJSON_DetachItemFromObjectCaseSensitive(local, "volumes");
	cJSON *have = child(base, "volumes"), *v, *next, *x;
	if (over && (!cJSON_IsArray(have) || !cJSON_IsArray(over))) {
		set(base, "volumes", TAKE_PTR(over));
		return;
	}
	for (v = over ? over->child : NULL; v; v = next) {
		next = v->next;
		_cleanup_free_ char *t = vol_target(v);
		cJSON *same = NULL;
		cJSON_ArrayForEach(x, have)
		{
			_cleanup_free_ char *u = vol_target(x);
			if (t && u && !strcmp(t, u))
				same = x;
		}
		cJSON *item = cJSON_DetachItemViaPointer(over, v);
		if (same)
			cJSON_ReplaceItemViaPointer(have, same, item);
		else
			cJSON_AddItemToArray(have, item);
	}
}

/* A key compose takes as a string or a list, as a list. */
static void as_list(cJSON *svc, const char *key)
{
	cJSON *v = child(svc, key);
	if (!cJSON_IsString(v))
		return;
	cJSON *a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
	set(svc, key, a);
}

/* networks: [a, b] as {a: null, b: null}. */
static void networks_as_map(cJSON *svc)
{
	cJSON *n = child(svc, "networks"), *e;
	if (!cJSON_IsArray(n))
		return;
	cJSON *m = cJSON_CreateObject();
	cJSON_ArrayForEach(e, n)
	{
		if (cJSON_GetStringValue(e) && !child(m, e->valuestring))
			cJSON_AddItemToObject(m, e->valuestring,
					      cJSON_CreateNull());
	}
	set(svc, "networks", m);
}

/* local (the extending service) onto base (the extended one), as the
 * Compose Specification merges them: mappings (environment, labels,
 * healthcheck, deploy, ulimits...) key by key with local's keys winning;
 * ports, expose, dns, env_file, tmpfs appended; volumes one a container
 * path; networks as a mapping; anything else (command, entrypoint,
 * image...) local's. */
static void ext_merge(cJSON *base, cJSON *local)
{
	static const char *const lists[] = {"dns", "dns_search", "env_file",
					    "tmpfs"};
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		as_list(base, lists[i]);
		as_list(local, lists[i]);
	}
	if (child(base, "networks") && child(local, "networks")) {
		networks_as_map(base);
		networks_as_map(local);
	}
	ext_merge_volumes(base, local);
	merge(base, local);
}

/* Service name of s with its extends followed (up: the services that
 * extend it, for cycles): *out is new, has no extends, and its relative
 * paths start from s's directory. */
static int ext_resolve(struct compose *c, const struct ext_src *s,
		       const char *name, const struct ext_hop *up, cJSON **out,
		       struct berr *err)
{
	struct ext_hop me = {s->path, s->shown, name, up};
	int r = ext_cycle(&me, err);
	if (r < 0)
		return r;
	_cleanup_cjson_ cJSON *local =
		cJSON_Duplicate(child(child(s->doc, "services"), name), true);
	_cleanup_cjson_ cJSON *ext =
		cJSON_DetachItemFromObjectCaseSensitive(local, "extends");
	if (strcmp(s->dir, c->dir))
		ext_paths_at(s->dir, local);
	if (!ext) {
		*out = TAKE_PTR(local);
		return 0;
	}
	const char *bname = NULL;
	_cleanup_free_ char *file = NULL;
	_cleanup_(ext_src_clear) struct ext_src b = {0};
	_cleanup_cjson_ cJSON *base = NULL;
	r = ext_ref(s, name, ext, &bname, &file, err);
	if (r == 0)
		r = ext_open(c, s, file, &b, err);
	if (r == 0 && !cJSON_IsObject(child(child(b.doc, "services"), bname)))
		r = bad(err, s->shown,
			"services.%s.extends: no service `%s` in %s", name,
			bname, b.shown);
	if (r == 0)
		r = ext_resolve(c, &b, bname, &me, &base, err);
	if (r == 0)
		r = ext_check_base(s, name, &b, bname, base, err);
	if (r < 0)
		return r;
	ext_merge(base, local);
	*out = TAKE_PTR(base);
	return 0;
}

/* Every service's extends followed in doc, one of the project's files (as
 * compose does, before they are merged): a service without extends.file
 * extends one of the same file, and paths start from the project's
 * directory. */
static int resolve_extends(struct compose *c, cJSON *doc, const char *path,
			   struct berr *err)
{
	_cleanup_free_ char *abs = realpath(path, NULL);
	if (!abs)
		return berr_set(err, errno, "compose file %s", path);
	struct ext_src top = {.doc = doc, .path = abs, .dir = c->dir};
	top.shown = shown_path(c, abs);
	cJSON *svcs = child(doc, "services"), *s, *next;
	int r = 0;
	for (s = cJSON_IsObject(svcs) ? svcs->child : NULL; r == 0 && s;
	     s = next) {
		next = s->next;
		cJSON *done = NULL;
		if (cJSON_IsObject(s) && child(s, "extends"))
			r = ext_resolve(c, &top, s->string, NULL, &done, err);
		if (done)
			cJSON_ReplaceItemInObjectCaseSensitive(svcs, s->string,
							       done);
	}
	return r;
}

/* Two services (or two replicas of one) cannot publish one host port:
 * refused before anything starts. */
static int check_ports(struct compose *c, struct berr *err)
{
	struct seen {
		char svc[128];
		struct eng_port p;
	} *seen = NULL;
	size_t n = 0;
	int r = 0;
	const cJSON *svc;
	cJSON_ArrayForEach(svc, child(c->doc, "services"))
	{
		const char *rep =
			str(child((cJSON *)svc, "deploy"), "replicas");
		const cJSON *p;
		cJSON_ArrayForEach(p, child((cJSON *)svc, "ports"))
		{
			const char *spec = cJSON_GetStringValue(p);
			struct eng_port *v = NULL;
			size_t k = 0;
			if (!spec || eng_port_parse(spec, &v, &k, NULL) < 0) {
				free(v);
				continue; /* long forms: the job checks them */
			}
			for (size_t i = 0; r == 0 && i < k; i++) {
				if (v[i].host_port && rep && strcmp(rep, "1"))
					r = bad(err, c->file,
						"services.%s.ports: host port "
						"%u is published by each of "
						"its %s replicas",
						svc->string, v[i].host_port,
						rep);
				for (size_t j = 0; r == 0 && j < n; j++)
					if (v[i].host_port &&
					    v[i].host_port ==
						    seen[j].p.host_port &&
					    v[i].proto == seen[j].p.proto &&
					    (!v[i].host_ip[0] ||
					     !seen[j].p.host_ip[0] ||
					     !strcmp(v[i].host_ip,
						     seen[j].p.host_ip)))
						r = bad(err, c->file,
							"services.%s.ports: "
							"host "
							"port %u is published "
							"by services.%s too",
							svc->string,
							v[i].host_port,
							seen[j].svc);
				seen = base_realloc(seen, n + 1, sizeof(*seen));
				snprintf(seen[n].svc, sizeof(seen[n].svc), "%s",
					 svc->string);
				seen[n++].p = v[i];
			}
			free(v);
		}
	}
	free(seen);
	return r;
}

void eng_compose_free(struct eng_compose *c)
{
	if (!c)
		return;
	cJSON_Delete(c->c.doc);
	free(c->c.name);
	free(c->c.dir);
	free(c->c.file);
	base_strv_free(c->c.env);
	base_strv_free(c->c.warnings);
	base_strv_free(c->order);
	free(c);
}

/* The project's name: -p, $COMPOSE_PROJECT_NAME, `name:`, else its
 * directory's, lower case, [a-z0-9_-] as compose keeps it. */
static char *project_name(const struct eng_compose_opts *o, const cJSON *doc,
			  const char *dir)
{
	const char *n =
		o->project ? o->project : getenv("COMPOSE_PROJECT_NAME");
	if (!n || !*n)
		n = str(doc, "name");
	const char *base = strrchr(dir, '/');
	if (!n || !*n)
		n = base && base[1] ? base + 1 : "default";
	char *out = base_strdup(n);
	size_t k = 0;
	for (size_t i = 0; out[i]; i++) {
		char ch = (char)tolower((unsigned char)out[i]);
		if (isalnum((unsigned char)ch) || ch == '_' || ch == '-')
			out[k++] = ch;
	}
	out[k] = '\0';
	return out;
}

static char *default_file(void)
{
	static const char *const names[] = {"compose.yaml", "compose.yml",
					    "docker-compose.yml",
					    "docker-compose.yaml"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (access(names[i], F_OK) == 0)
			return base_strdup(names[i]);
	return NULL;
}

int eng_compose_load(const struct eng_compose_opts *o, struct eng_compose **out,
		     struct berr *err)
{
	*out = NULL;
	_cleanup_(eng_compose_freep) struct eng_compose *p =
		base_calloc(1, sizeof(*p));
	struct compose *c = &p->c;
	_cleanup_free_ char *first = o->files && o->files[0]
					     ? base_strdup(o->files[0])
					     : default_file();
	if (!first)
		return berr_setx(err, ENOENT,
				 "no compose.yaml, compose.yml, "
				 "docker-compose.yml or docker-compose.yaml "
				 "here: give -f FILE");
	_cleanup_free_ char *abs = realpath(first, NULL);
	if (!abs)
		return berr_set(err, errno, "compose file %s", first);
	c->file = base_strdup(strrchr(abs, '/') + 1);
	c->dir = strndup(abs, (size_t)(strrchr(abs, '/') - abs));
	_cleanup_free_ char *dotenv = base_sprintf("%s/.env", c->dir);
	int r = read_env_file(dotenv, false, &c->env, err);
	for (size_t i = 0; r == 0 && o->env_files && o->env_files[i]; i++)
		r = read_env_file(o->env_files[i], true, &c->env, err);
	size_t nf = o->files && o->files[0] ? base_strv_len(o->files) : 1;
	for (size_t i = 0; r == 0 && i < nf; i++) {
		cJSON *doc = NULL;
		const char *path = i ? o->files[i] : abs;
		r = load_file(c, path, c->file, &doc, err);
		if (r == 0)
			r = resolve_extends(c, doc, path, err);
		if (r == 0 && c->doc)
			merge(c->doc, doc);
		if (r == 0 && !c->doc)
			c->doc = TAKE_PTR(doc);
		cJSON_Delete(doc);
	}
	if (r == 0 && !cJSON_GetArraySize(child(c->doc, "services")))
		r = bad(err, c->file, "services: no service");
	if (r == 0)
		r = check_keys(c, err);
	if (r == 0)
		r = order_services(c, &p->order, err);
	if (r == 0)
		r = check_ports(c, err);
	if (r == 0)
		absolute_binds(c);
	if (r < 0)
		return r;
	c->name = project_name(o, c->doc, c->dir);
	if (!c->name[0])
		return bad(err, c->file, "an empty project name: give -p NAME");
	p->name = c->name;
	p->warnings = c->warnings;
	*out = TAKE_PTR(p);
	return 0;
}

int eng_compose_config(const struct eng_compose *p, char **yaml,
		       struct berr *err)
{
	_cleanup_cjson_ cJSON *doc = cJSON_Duplicate(p->c.doc, true);
	set(doc, "name", cJSON_CreateString(p->name));
	/* env_file folded into environment, as docker-compose prints it */
	cJSON *svc;
	cJSON_ArrayForEach(svc, child(doc, "services"))
	{
		if (!child(svc, "env_file"))
			continue;
		cJSON *env = cJSON_CreateObject();
		int r = eng_compose_env_files(p->c.dir, p->c.file, svc->string,
					      svc, env, err);
		const cJSON *kv;
		cJSON_ArrayForEach(kv, child(svc, "environment"))
		{
			cJSON_DeleteItemFromObjectCaseSensitive(env,
								kv->string);
			cJSON_AddItemToObject(env, kv->string,
					      cJSON_Duplicate(kv, true));
		}
		if (r < 0) {
			cJSON_Delete(env);
			return r;
		}
		set(svc, "environment", env);
		cJSON_DeleteItemFromObjectCaseSensitive(svc, "env_file");
	}
	return eng_yaml_print(doc, yaml, err);
}

int eng_compose_up(const struct rt_ctx *ctx, const struct eng_compose *p,
		   const struct eng_compose_up *o, struct berr *err)
{
	return eng_compose_up_doc(ctx, p->c.doc, p->name, p->c.dir, p->c.file,
				  p->order, o, err);
}

int eng_compose_down(const struct rt_ctx *ctx, const struct eng_compose *p,
		     bool volumes, struct berr *err)
{
	return eng_compose_down_doc(ctx, p->c.doc, p->name, volumes, err);
}
