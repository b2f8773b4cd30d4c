/* berth compose up and down: a compose project as the job document that
 * eng_job_parse() reads (see engine-compose.c), run by the job runner. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine-internal.h"

/* The parts of struct eng_compose this file reads. */
struct view {
	const cJSON *doc;
	const char *name, *dir, *file;
	char *const *order;
	const struct rt_ctx *ctx;
	const struct eng_compose_up *o;
};

static const char *str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const cJSON *child(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int bad(const struct view *V, struct berr *err, const char *svc,
	       const char *what)
{
	return berr_setx(err, EINVAL, "%s: services.%s.%s", V->file, svc, what);
}

/* A command or entrypoint: a list as it is, a string split as a shell
 * would (quotes, backslashes; no variables: compose expanded them). */
static int words(const struct view *V, const cJSON *v, const char *where,
		 cJSON **out, struct berr *err)
{
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsArray(v)) {
		*out = cJSON_Duplicate(v, true);
		return 0;
	}
	if (!cJSON_IsString(v))
		return berr_setx(err, EINVAL,
				 "%s: %s: expected a string or a list", V->file,
				 where);
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(v->valuestring, ENG_DF_NO_EXPAND, '\\', true,
			   V->file, 0, &w, err);
	if (r < 0)
		return r;
	*out = cJSON_CreateArray();
	for (size_t i = 0; w && w[i]; i++)
		cJSON_AddItemToArray(*out, cJSON_CreateString(w[i]));
	return 0;
}

static char *abs_path(const struct view *V, const char *p)
{
	if (p[0] == '~' && (p[1] == '/' || !p[1]) && getenv("HOME"))
		return base_sprintf("%s%s", getenv("HOME"), p + 1);
	if (p[0] == '/')
		return base_strdup(p);
	return base_sprintf("%s/%s", V->dir, p);
}

static char *volume_dir(const struct view *V, const char *name)
{
	return base_sprintf("%s/.volumes/%s_%s",
			    V->ctx->root ? V->ctx->root : RT_DEFAULT_ROOT,
			    V->name, name);
}

/* One volume as the job's HOST:CTR[:ro]: a bind (a path, made when it is
 * missing, as compose does), or a named volume of the project. */
static int volume(const struct view *V, const char *svc, const cJSON *v,
		  cJSON *out, struct berr *err)
{
	_cleanup_free_ char *src = NULL, *dst = NULL;
	bool ro = false, named;
	if (cJSON_IsString(v)) {
		_cleanup_free_ char *s = base_strdup(v->valuestring);
		char *c1 = strchr(s, ':'),
		     *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c1)
			return bad(V, err, svc,
				   "volumes: anonymous volumes are "
				   "not supported (give SRC:DST)");
		*c1 = '\0';
		if (c2)
			*c2 = '\0';
		src = base_strdup(s);
		dst = base_strdup(c1 + 1);
		ro = c2 && !strncmp(c2 + 1, "ro", 2);
		named = src[0] != '.' && src[0] != '/' && src[0] != '~';
	} else {
		const char *t = str(v, "type");
		src = base_strdup(str(v, "source") ? str(v, "source") : "");
		dst = base_strdup(str(v, "target") ? str(v, "target") : "");
		ro = cJSON_IsTrue(child(v, "read_only")) ||
		     (str(v, "read_only") &&
		      !strcmp(str(v, "read_only"), "true"));
		named = t && !strcmp(t, "volume");
		if (!t || (strcmp(t, "bind") && strcmp(t, "volume")) || !*src)
			return bad(V, err, svc,
				   "volumes: type bind or volume "
				   "with a source");
	}
	if (named && !child(child(V->doc, "volumes"), src)) {
		_cleanup_free_ char *m = base_sprintf(
			"volumes: named volume `%s` is not declared in the "
			"top-level volumes",
			src);
		return bad(V, err, svc, m);
	}
	_cleanup_free_ char *host =
		named ? volume_dir(V, src) : abs_path(V, src);
	int r = base_mkdir_p(AT_FDCWD, host, 0755);
	if (r < 0 && r != -EEXIST && r != -ENOTDIR)
		return berr_set(err, -r, "volume %s", host);
	_cleanup_free_ char *spec =
		base_sprintf("%s:%s%s", host, dst, ro ? ":ro" : "");
	cJSON_AddItemToArray(out, cJSON_CreateString(spec));
	return 0;
}

/* A port as -p writes it. */
static char *port(const cJSON *p)
{
	if (cJSON_IsString(p))
		return base_strdup(p->valuestring);
	const char *t = str(p, "target"), *pub = str(p, "published");
	const char *ip = str(p, "host_ip"), *proto = str(p, "protocol");
	if (!t)
		return NULL;
	return base_sprintf("%s%s%s%s%s%s%s", ip ? ip : "", ip ? ":" : "",
			    pub ? pub : "", pub || ip ? ":" : "", t,
			    proto ? "/" : "", proto ? proto : "");
}

int eng_compose_env_files(const char *dir, const char *file, const char *svc,
			  const cJSON *s, cJSON *env, struct berr *err)
{
	struct view V = {.dir = dir};
	const cJSON *f;
	const cJSON *files = child(s, "env_file");
	cJSON *list = cJSON_IsString(files) ? cJSON_CreateArray() : NULL;
	if (list)
		cJSON_AddItemToArray(list,
				     cJSON_CreateString(files->valuestring));
	const cJSON *all = list ? list : files;
	cJSON_ArrayForEach(f, all)
	{
		_cleanup_free_ char *path =
			abs_path(&V, cJSON_GetStringValue(f) ?: "");
		_cleanup_free_ char *text = NULL;
		int r = base_read_file_at(AT_FDCWD, path, &text, NULL, 1 << 20);
		if (r < 0) {
			cJSON_Delete(list);
			return berr_set(err, -r, "%s: services.%s.env_file: %s",
					file, svc, path);
		}
		char *save = NULL;
		for (char *l = strtok_r(text, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(l, '=');
			if (l[0] == '#' || !eq || eq == l)
				continue;
			*eq = '\0';
			cJSON_DeleteItemFromObjectCaseSensitive(env, l);
			cJSON_AddStringToObject(env, l, eq + 1);
		}
	}
	cJSON_Delete(list);
	return 0;
}

static int environment(const struct view *V, const char *svc, const cJSON *s,
		       cJSON *g, struct berr *err)
{
	cJSON *env = cJSON_AddObjectToObject(g, "env");
	int r = eng_compose_env_files(V->dir, V->file, svc, s, env, err);
	if (r < 0)
		return r;
	const cJSON *kv;
	cJSON_ArrayForEach(kv, child(s, "environment"))
	{
		/* K alone: the caller's value, or nothing */
		const char *v = cJSON_IsString(kv) ? kv->valuestring
						   : getenv(kv->string);
		cJSON_DeleteItemFromObjectCaseSensitive(env, kv->string);
		if (v)
			cJSON_AddStringToObject(env, kv->string, v);
	}
	return 0;
}

static int scale_of(const struct view *V, const char *svc, const cJSON *s,
		    int *count, struct berr *err)
{
	*count = 1;
	const char *rep = str(child(s, "deploy"), "replicas");
	size_t n = strlen(svc);
	for (size_t i = 0; V->o->scale && V->o->scale[i]; i++)
		if (!strncmp(V->o->scale[i], svc, n) &&
		    V->o->scale[i][n] == '=')
			rep = V->o->scale[i] + n + 1;
	if (rep &&
	    (base_parse_int(rep, count) < 0 || *count < 0 || *count > 4096))
		return bad(V, err, svc,
			   "deploy.replicas: a number of "
			   "containers");
	return 0;
}

static bool yes(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(child(o, k)) ||
	       (str(o, k) && !strcmp(str(o, k), "true"));
}

/* A number of a scalar the YAML reader gives as a string or a number. */
static bool number(const cJSON *v, double *out)
{
	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return true;
	}
	const char *t = cJSON_GetStringValue(v);
	char *end = NULL;
	if (!t || !*t)
		return false;
	*out = strtod(t, &end);
	return *end == '\0';
}

/* ulimits: NAME: N, or NAME: {soft: N, hard: M}, as the job file's
 * "NAME=SOFT:HARD". */
static int ulimits(const struct view *V, const char *svc, const cJSON *s,
		   cJSON *g, struct berr *err)
{
	const cJSON *u = child(s, "ulimits");
	if (!u)
		return 0;
	if (!cJSON_IsObject(u))
		return bad(V, err, svc, "ulimits: a mapping of limits");
	cJSON *a = cJSON_AddArrayToObject(g, "ulimits");
	const cJSON *kv;
	cJSON_ArrayForEach(kv, u)
	{
		double soft, hard;
		bool one = number(kv, &soft);
		bool two = !one && number(child(kv, "soft"), &soft) &&
			   number(child(kv, "hard"), &hard);
		if (!one && !two) {
			_cleanup_free_ char *w = base_sprintf(
				"ulimits.%s: a number, or soft and hard",
				kv->string);
			return bad(V, err, svc, w);
		}
		_cleanup_free_ char *t =
			one ? base_sprintf("%s=%.0f", kv->string, soft)
			    : base_sprintf("%s=%.0f:%.0f", kv->string, soft,
					   hard);
		cJSON_AddItemToArray(a, cJSON_CreateString(t));
	}
	return 0;
}

/* labels: a mapping, or a list of KEY=VALUE, as the job file's object. */
static int labels(const struct view *V, const char *svc, const cJSON *s,
		  cJSON *g, struct berr *err)
{
	const cJSON *l = child(s, "labels");
	if (!l)
		return 0;
	if (!cJSON_IsObject(l) && !cJSON_IsArray(l))
		return bad(V, err, svc, "labels: a mapping or a list");
	cJSON *o = cJSON_AddObjectToObject(g, "labels");
	const cJSON *it;
	cJSON_ArrayForEach(it, l)
	{
		const char *t = cJSON_GetStringValue(it);
		if (!t)
			return bad(V, err, svc, "labels: strings");
		const char *eq = cJSON_IsArray(l) ? strchr(t, '=') : NULL;
		_cleanup_free_ char *k = cJSON_IsObject(l)
						 ? base_strdup(it->string)
					 : eq ? strndup(t, eq - t)
					      : base_strdup(t);
		cJSON_AddStringToObject(o, k,
					cJSON_IsObject(l) ? t
					: eq		  ? eq + 1
							  : "");
	}
	return 0;
}

/* init, ulimits, cpus (or deploy.resources.limits.cpus), stop_signal,
 * stop_grace_period (docker's 10s when not given), restart. A pool's
 * workers take none of them. */
static int extras(const struct view *V, const char *svc, const cJSON *s,
		  cJSON *g, struct berr *err)
{
	if (yes(s, "init"))
		cJSON_AddBoolToObject(g, "init", true);
	if (str(s, "stop_signal"))
		cJSON_AddStringToObject(g, "stop_signal",
					str(s, "stop_signal"));
	/* YAML 1.1 reads a bare `no` as false */
	if (cJSON_IsFalse(child(s, "restart")) || str(s, "restart"))
		cJSON_AddStringToObject(g, "restart",
					str(s, "restart") ? str(s, "restart")
							  : "no");
	const char *grace = str(s, "stop_grace_period");
	if (grace || !child(s, "x-berth"))
		cJSON_AddStringToObject(g, "stop_grace_period",
					grace ? grace : "10s");
	int r = ulimits(V, svc, s, g, err);
	if (r == 0)
		r = labels(V, svc, s, g, err);
	const cJSON *lim =
		child(child(child(s, "deploy"), "resources"), "limits");
	const cJSON *c =
		child(s, "cpus") ? child(s, "cpus") : child(lim, "cpus");
	double cpus = 0;
	if (r == 0 && c && (!number(c, &cpus) || !(cpus >= 0)))
		return bad(V, err, svc, "cpus: a number of CPUs");
	/* 0 is compose's "no limit" */
	if (r == 0 && cpus > 0)
		cJSON_AddNumberToObject(g, "cpu_quota", cpus);
	return r;
}

/* The process and its limits. */
static int process(const struct view *V, const char *svc, const cJSON *s,
		   cJSON *g, struct berr *err)
{
	cJSON *cmd = NULL, *ep = NULL;
	_cleanup_free_ char *w1 = base_sprintf("services.%s.command", svc);
	_cleanup_free_ char *w2 = base_sprintf("services.%s.entrypoint", svc);
	int r = words(V, child(s, "command"), w1, &cmd, err);
	if (r == 0)
		r = words(V, child(s, "entrypoint"), w2, &ep, err);
	if (cmd)
		cJSON_AddItemToObject(g, "command", cmd);
	if (ep)
		cJSON_AddItemToObject(g, "entrypoint", ep);
	static const char *const same[][2] = {{"working_dir", "workdir"},
					      {"user", "user"},
					      {"hostname", "hostname"},
					      {"cpuset", "cpus"},
					      {"mem_limit", "memory"}};
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(same); i++)
		if (str(s, same[i][0]))
			cJSON_AddStringToObject(g, same[i][1],
						str(s, same[i][0]));
	const cJSON *lim =
		child(child(child(s, "deploy"), "resources"), "limits");
	if (r == 0 && str(lim, "memory"))
		cJSON_AddStringToObject(g, "memory", str(lim, "memory"));
	const char *pids =
		str(lim, "pids") ? str(lim, "pids") : str(s, "pids_limit");
	int n;
	if (r == 0 && pids && (base_parse_int(pids, &n) < 0 || n < 1))
		r = bad(V, err, svc, "pids_limit: a positive number");
	if (r == 0 && pids)
		cJSON_AddNumberToObject(g, "pids_limit", n);
	if (r == 0)
		r = extras(V, svc, s, g, err);
	const cJSON *t = child(s, "tmpfs");
	if (r == 0 && t) {
		cJSON *a = cJSON_IsArray(t) ? cJSON_Duplicate(t, true)
					    : cJSON_CreateArray();
		if (cJSON_IsString(t))
			cJSON_AddItemToArray(
				a, cJSON_CreateString(t->valuestring));
		cJSON_AddItemToObject(g, "tmpfs", a);
	}
	return r;
}

static int network(const struct view *V, const char *svc, const cJSON *s,
		   cJSON *g, struct berr *err)
{
	const char *mode = str(s, "network_mode");
	if (mode && strcmp(mode, "none") && strcmp(mode, "host") &&
	    strcmp(mode, "bridge"))
		return bad(V, err, svc, "network_mode: none, host or bridge");
	if (mode)
		cJSON_AddStringToObject(
			g, "network", strcmp(mode, "bridge") ? mode : "berth");
	const cJSON *nets = child(s, "networks");
	int n = cJSON_GetArraySize(nets);
	if (n > 1)
		return bad(V, err, svc, "networks: one network a service");
	if (n == 1) {
		const cJSON *first = nets->child;
		const char *name = cJSON_IsString(first) ? first->valuestring
							 : first->string;
		if (!name)
			return bad(V, err, svc, "networks: a network's name");
		if (!child(child(V->doc, "networks"), name) &&
		    strcmp(name, "default"))
			return bad(V, err, svc,
				   "networks: not a network of the "
				   "top-level networks");
		_cleanup_free_ char *full =
			base_sprintf("%s_%s", V->name, name);
		if (strcmp(name, "default"))
			cJSON_AddStringToObject(g, "network", full);
		const cJSON *al = child(first, "aliases");
		if (cJSON_IsArray(al))
			cJSON_AddItemToObject(g, "aliases",
					      cJSON_Duplicate(al, true));
	}
	const cJSON *p;
	cJSON *ports = NULL;
	cJSON_ArrayForEach(p, child(s, "ports"))
	{
		_cleanup_free_ char *spec = port(p);
		if (!spec)
			return bad(V, err, svc, "ports: a port needs a target");
		if (!ports)
			ports = cJSON_AddArrayToObject(g, "ports");
		cJSON_AddItemToArray(ports, cJSON_CreateString(spec));
	}
	return 0;
}

/* depends_on {svc: {condition}} and healthcheck as the job's. */
static void deps_and_health(const cJSON *s, cJSON *g)
{
	const cJSON *d;
	cJSON *deps = NULL;
	cJSON_ArrayForEach(d, child(s, "depends_on"))
	{
		if (!deps)
			deps = cJSON_AddObjectToObject(g, "depends_on");
		const char *cond = str(d, "condition");
		cJSON_AddStringToObject(deps, d->string,
					cond ? cond : "service_started");
	}
	const cJSON *h = child(s, "healthcheck");
	if (!h || cJSON_IsTrue(child(h, "disable")) ||
	    (str(h, "disable") && !strcmp(str(h, "disable"), "true")))
		return;
	cJSON *hc = cJSON_AddObjectToObject(g, "healthcheck");
	if (child(h, "test"))
		cJSON_AddItemToObject(hc, "test",
				      cJSON_Duplicate(child(h, "test"), true));
	if (str(h, "interval"))
		cJSON_AddStringToObject(hc, "interval", str(h, "interval"));
	int n;
	if (str(h, "retries") && base_parse_int(str(h, "retries"), &n) == 0)
		cJSON_AddNumberToObject(hc, "retries", n);
}

/* x-berth: {consumes|produces: QUEUE, mode}: the service is a pool of
 * pinned workers on the queue, or its producer. */
static void berth_ext(const cJSON *s, cJSON *g, cJSON *queues)
{
	const cJSON *x = child(s, "x-berth");
	static const char *const keys[] = {"consumes", "produces", "mode"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = str(x, keys[i]);
		if (!v)
			continue;
		cJSON_AddStringToObject(g, keys[i], v);
		if (i < 2 && !child(queues, v))
			cJSON_AddObjectToObject(queues, v);
	}
}

static int group(const struct view *V, const char *svc, cJSON *groups,
		 cJSON *queues, struct berr *err)
{
	const cJSON *s = child(child(V->doc, "services"), svc);
	cJSON *g = cJSON_CreateObject();
	cJSON_AddItemToArray(groups, g);
	cJSON_AddStringToObject(g, "name", svc);
	_cleanup_free_ char *image = eng_compose_image_of(V->doc, V->name, svc);
	cJSON_AddStringToObject(g, "image", image);
	int count;
	int r = scale_of(V, svc, s, &count, err);
	if (r == 0)
		cJSON_AddNumberToObject(g, "count", count ? count : 1);
	if (r == 0)
		r = environment(V, svc, s, g, err);
	if (r == 0)
		r = process(V, svc, s, g, err);
	if (r == 0)
		r = network(V, svc, s, g, err);
	const cJSON *v;
	cJSON *vols = NULL;
	cJSON_ArrayForEach(v, child(s, "volumes"))
	{
		if (!vols)
			vols = cJSON_AddArrayToObject(g, "volumes");
		if (r == 0)
			r = volume(V, svc, v, vols, err);
	}
	berth_ext(s, g, queues);
	if (r == 0)
		deps_and_health(s, g);
	return r;
}

/* $$ is compose's literal $: what the containers get. */
static void unescape(cJSON *v)
{
	if (cJSON_IsString(v) && strstr(v->valuestring, "$$")) {
		_cleanup_free_ char *s = base_strdup(v->valuestring);
		char *w = s;
		for (const char *r = s; *r; r++) {
			*w++ = *r;
			if (r[0] == '$' && r[1] == '$')
				r++;
		}
		*w = '\0';
		cJSON_SetValuestring(v, s);
		return;
	}
	cJSON *e;
	cJSON_ArrayForEach(e, v) unescape(e);
}

/* The job document of the project. */
static int job_doc(const struct view *V, char **text, struct berr *err)
{
	_cleanup_cjson_ cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "name", V->name);
	if (V->o->store)
		cJSON_AddStringToObject(j, "store", V->o->store);
	if (V->o->cgroup_parent)
		cJSON_AddStringToObject(j, "cgroup_parent",
					V->o->cgroup_parent);
	cJSON *queues = cJSON_AddObjectToObject(j, "queues");
	cJSON *groups = cJSON_AddArrayToObject(j, "groups");
	int r = 0;
	for (size_t i = 0; r == 0 && V->order[i]; i++)
		r = group(V, V->order[i], groups, queues, err);
	if (r < 0)
		return r;
	unescape(groups);
	*text = cJSON_Print(j);
	return *text ? 0 : berr_setx(err, ENOMEM, "the project's job");
}

/* The top-level networks, as <project>_<name>. */
static int networks(const struct view *V, struct berr *err)
{
	const cJSON *n;
	cJSON_ArrayForEach(n, child(V->doc, "networks"))
	{
		if (!strcmp(n->string, "default"))
			continue;
		_cleanup_free_ char *name =
			base_sprintf("%s_%s", V->name, n->string);
		const cJSON *cfg = child(child(n, "ipam"), "config");
		struct eng_network_opts no = {
			.name = name,
			.subnet = cfg ? str(cfg->child, "subnet") : NULL,
			.gateway = cfg ? str(cfg->child, "gateway") : NULL,
			.internal = cJSON_IsTrue(child(n, "internal")) ||
				    (str(n, "internal") &&
				     !strcmp(str(n, "internal"), "true"))};
		struct berr e = {0};
		int r = eng_network_create(V->ctx, &no, NULL, &e);
		if (r < 0 && r != -EEXIST) {
			*err = e;
			return berr_wrap(err, "%s: networks.%s", V->file,
					 n->string);
		}
	}
	return 0;
}

static int build_images(const struct view *V, struct berr *err)
{
	for (size_t i = 0; V->order[i]; i++) {
		const cJSON *s = child(child(V->doc, "services"), V->order[i]);
		const cJSON *b = child(s, "build");
		if (!b)
			continue;
		_cleanup_free_ char *tag =
			eng_compose_image_of(V->doc, V->name, V->order[i]);
		_cleanup_free_ char *ctxdir = abs_path(
			V, str(b, "context") ? str(b, "context") : ".");
		_cleanup_free_ char *file =
			str(b, "dockerfile")
				? base_sprintf("%s/%s", ctxdir,
					       str(b, "dockerfile"))
				: NULL;
		struct eng_build_opts bo = {.store = V->o->store,
					    .context = ctxdir,
					    .file = file,
					    .tag = tag,
					    .target = str(b, "target"),
					    .cgroup_parent =
						    V->o->cgroup_parent};
		_cleanup_free_ char *id = NULL;
		int r = eng_build(V->ctx, &bo, &id, err);
		if (r < 0)
			return berr_wrap(err, "services.%s.build", V->order[i]);
	}
	return 0;
}

char *eng_compose_image_of(const cJSON *doc, const char *project,
			   const char *svc)
{
	const char *image = str(child(child(doc, "services"), svc), "image");
	return image ? base_strdup(image) : base_sprintf("%s-%s", project, svc);
}

int eng_compose_up_doc(const struct rt_ctx *ctx, const cJSON *doc,
		       const char *name, const char *dir, const char *file,
		       char *const *order, const struct eng_compose_up *o,
		       struct berr *err)
{
	struct view V = {.doc = doc,
			 .name = name,
			 .dir = dir,
			 .file = file,
			 .order = order,
			 .ctx = ctx,
			 .o = o};
	int r = o->build ? build_images(&V, err) : 0;
	_cleanup_free_ char *text = NULL;
	if (r == 0)
		r = networks(&V, err);
	if (r == 0)
		r = job_doc(&V, &text, err);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	if (r == 0)
		r = eng_job_parse(text, strlen(text), file, &j, err);
	if (r < 0)
		return r;
	struct eng_job_opts jo = {.file = file,
				  .agent = o->agent,
				  .detach = o->detach,
				  .no_start = o->no_start,
				  .stop = o->stop};
	return eng_job_run(ctx, j, &jo, err);
}

int eng_compose_down_doc(const struct rt_ctx *ctx, const cJSON *doc,
			 const char *name, bool volumes, struct berr *err)
{
	struct berr e = {0};
	int r = eng_job_stop(ctx, name, &e);
	if (r < 0 && r != -ESRCH) {
		*err = e;
		return r;
	}
	r = eng_job_rm(ctx, name, &e);
	if (r < 0 && r != -ENOENT) {
		*err = e;
		return r;
	}
	const cJSON *n;
	cJSON_ArrayForEach(n, child(doc, "networks"))
	{
		_cleanup_free_ char *full =
			base_sprintf("%s_%s", name, n->string);
		if ((r = eng_network_rm(ctx, full, &e)) < 0 && r != -ENOENT) {
			*err = e;
			return r;
		}
	}
	struct view V = {.ctx = ctx, .name = name};
	const cJSON *vols = volumes ? child(doc, "volumes") : NULL;
	cJSON_ArrayForEach(n, vols)
	{
		_cleanup_free_ char *dir = volume_dir(&V, n->string);
		base_rm_rf_at(AT_FDCWD, dir);
	}
	if (volumes) {
		_cleanup_free_ char *vd = base_sprintf(
			"%s/.volumes", ctx->root ? ctx->root : RT_DEFAULT_ROOT);
		rmdir(vd);
	}
	return 0;
}
