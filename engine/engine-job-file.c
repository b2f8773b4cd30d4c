/* The job file of `berth job`: parsing and checking.
 *
 * Parsing (eng_job_parse) needs nothing but the text, so that the unit
 * tests see every message; what depends on the host (images, directories,
 * CPUs) is eng_job_check's. Every message names the file and the JSON path
 * of the value at fault, because a job file is edited by hand and the path
 * is what finds the typo. Unknown fields are refused for the same reason. */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "engine/engine-internal.h"

struct parse {
	const char *file;
	struct berr *err;
};

static void cJSON_Deletep(cJSON **j)
{
	cJSON_Delete(*j);
}

static int bad(const struct parse *ps, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(const struct parse *ps, const char *path, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_setx(ps->err, EINVAL, "%s: %s: %s", ps->file, path, msg);
}

static bool valid_name(const char *s)
{
	if (!s || !*s || strlen(s) > 64 ||
	    !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789",
		    s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_.-") == strlen(s);
}

/* Refuses the fields of obj that are not in known. */
static int known_fields(const struct parse *ps, const cJSON *obj,
			const char *path, const char *const *known)
{
	for (const cJSON *it = obj->child; it; it = it->next) {
		size_t k = 0;
		while (known[k] && strcmp(known[k], it->string))
			k++;
		if (known[k])
			continue;
		_cleanup_free_ char *at =
			*path ? base_sprintf("%s.%s", path, it->string)
			      : base_strdup(it->string);
		return bad(ps, at, "unknown field");
	}
	return 0;
}

static int get_str(const struct parse *ps, const cJSON *obj, const char *key,
		   const char *path, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		return 0;
	_cleanup_free_ char *at =
		*path ? base_sprintf("%s.%s", path, key) : base_strdup(key);
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return bad(ps, at, "expected a non-empty string");
	*out = base_strdup(v->valuestring);
	return 0;
}

static int get_strv(const struct parse *ps, const cJSON *v, const char *at,
		    char ***out)
{
	if (!cJSON_IsArray(v) || !v->child)
		return bad(ps, at, "expected a non-empty array of strings");
	size_t i = 0;
	for (const cJSON *it = v->child; it; it = it->next, i++) {
		if (!cJSON_IsString(it))
			return bad(ps, at, "[%zu]: expected a string", i);
		base_strv_push(out, it->valuestring);
	}
	return 0;
}

static int get_env(const struct parse *ps, const cJSON *v, const char *at,
		   char ***out)
{
	if (!cJSON_IsObject(v))
		return bad(ps, at, "expected an object of strings");
	for (const cJSON *it = v->child; it; it = it->next) {
		if (!it->string[0] || strchr(it->string, '='))
			return bad(ps, at, "\"%s\": not a variable name",
				   it->string);
		if (!cJSON_IsString(it))
			return bad(ps, at, "%s: expected a string", it->string);
		_cleanup_free_ char *kv =
			base_sprintf("%s=%s", it->string, it->valuestring);
		base_strv_push(out, kv);
	}
	return 0;
}

/* 512, 64k, 1.5g, 2GiB: bytes, powers of 1024 (docker's -m), or a JSON
 * number of bytes. */
static int parse_size(const cJSON *v, int64_t *out)
{
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 1 || v->valuedouble > 9e18 ||
		    v->valuedouble != (double)(int64_t)v->valuedouble)
			return -EINVAL;
		*out = (int64_t)v->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(v))
		return -EINVAL;
	char *end;
	errno = 0;
	double n = strtod(v->valuestring, &end);
	if (errno || end == v->valuestring || !(n > 0))
		return -EINVAL;
	static const char units[] = "bkmgtp";
	const char *u = *end ? strchr(units, end[0] | 0x20) : units;
	if (!u ||
	    (*end && end[1] && strcasecmp(end + 1, "b") &&
	     strcasecmp(end + 1, "ib")) ||
	    (*end && (end[0] | 0x20) == 'b' && end[1]))
		return -EINVAL;
	for (const char *p = units; p < u; p++)
		n *= 1024;
	if (n < 1 || n > 9e18)
		return -EINVAL;
	*out = (int64_t)n;
	return 0;
}

static int get_limits(const struct parse *ps, const cJSON *obj,
		      const char *path, struct eng_job_group *g)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "memory");
	_cleanup_free_ char *mem = base_sprintf("%s.memory", path);
	if (v && parse_size(v, &g->memory) < 0)
		return bad(ps, mem, "expected a size like 64m or 2g");
	v = cJSON_GetObjectItemCaseSensitive(obj, "pids_limit");
	_cleanup_free_ char *pids = base_sprintf("%s.pids_limit", path);
	if (v && (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
		  v->valuedouble > 4194304 ||
		  v->valuedouble != (double)(int)v->valuedouble))
		return bad(ps, pids, "expected a positive integer");
	if (v)
		g->pids_limit = (int64_t)v->valuedouble;
	int r = get_str(ps, obj, "cpus", path, &g->cpus);
	struct dp_cpus c;
	_cleanup_free_ char *cpus = base_sprintf("%s.cpus", path);
	if (r == 0 && g->cpus &&
	    (dp_cpus_parse(g->cpus, &c) < 0 || !dp_cpus_count(&c)))
		return bad(ps, cpus, "`%s` is not a CPU list (like 0-3,6)",
			   g->cpus);
	return r;
}

static int get_mode(const struct parse *ps, const cJSON *obj, const char *path,
		    struct eng_job_group *g)
{
	_cleanup_free_ char *mode = NULL;
	int r = get_str(ps, obj, "mode", path, &mode);
	if (r < 0 || !mode)
		return r;
	_cleanup_free_ char *at = base_sprintf("%s.mode", path);
	static const char *const modes[] = {"exec", "line", "lib"};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(mode, modes[i])) {
			g->mode = (enum dp_mode)i;
			return 0;
		}
	return bad(ps, at, "unknown mode `%s`: expected exec, line or lib",
		   mode);
}

static int get_count(const struct parse *ps, const cJSON *obj, const char *path,
		     struct eng_job_group *g)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "count");
	g->count = 1;
	if (!v)
		return 0;
	_cleanup_free_ char *at = base_sprintf("%s.count", path);
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 4096 ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return bad(ps, at,
			   "expected a positive integer (at most "
			   "4096)");
	g->count = (int)v->valuedouble;
	return 0;
}

/* entrypoint (an array; [] clears the image's), workdir, user, tmpfs. */
static int get_process(const struct parse *ps, const cJSON *obj,
		       const char *path, struct eng_job_group *g)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "entrypoint");
	_cleanup_free_ char *ep = base_sprintf("%s.entrypoint", path);
	if (v && !cJSON_IsArray(v))
		return bad(ps, ep, "expected an array of strings");
	int r = 0;
	if (v && v->child)
		r = get_strv(ps, v, ep, &g->entrypoint);
	else if (v)
		g->entrypoint = base_calloc(1, sizeof(char *));
	if (r == 0)
		r = get_str(ps, obj, "workdir", path, &g->workdir);
	if (r == 0 && g->workdir && g->workdir[0] != '/')
		return bad(ps, path, "workdir: `%s` is not absolute",
			   g->workdir);
	if (r == 0)
		r = get_str(ps, obj, "user", path, &g->user);
	v = cJSON_GetObjectItemCaseSensitive(obj, "tmpfs");
	_cleanup_free_ char *tm = base_sprintf("%s.tmpfs", path);
	if (r == 0 && v)
		r = get_strv(ps, v, tm, &g->tmpfs);
	return r;
}

/* init, ulimits ("NAME=SOFT[:HARD]", as --ulimit), cpu_quota (CPUs, as
 * --cpus), stop_signal, stop_grace_period, restart and labels (an
 * object, as env): a service's container's. */
static int get_extras(const struct parse *ps, const cJSON *obj,
		      const char *path, struct eng_job_group *g)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "init");
	_cleanup_free_ char *in = base_sprintf("%s.init", path);
	if (v && !cJSON_IsBool(v))
		return bad(ps, in, "expected true or false");
	g->init = cJSON_IsTrue(v);
	v = cJSON_GetObjectItemCaseSensitive(obj, "cpu_quota");
	_cleanup_free_ char *cq = base_sprintf("%s.cpu_quota", path);
	if (v && (!cJSON_IsNumber(v) || !(v->valuedouble > 0) ||
		  v->valuedouble > 4096))
		return bad(ps, cq, "expected a number of CPUs above 0");
	g->cpu_quota = v ? v->valuedouble : 0;
	_cleanup_free_ char *sig = NULL, *grace = NULL;
	int r = get_str(ps, obj, "stop_signal", path, &sig);
	if (r == 0 && sig && rt_parse_signal(sig, &g->stop_signal) < 0)
		return bad(ps, path, "stop_signal: `%s` is not a signal", sig);
	if (r == 0)
		r = get_str(ps, obj, "stop_grace_period", path, &grace);
	if (r == 0 && grace && eng_duration_ms(grace, &g->stop_grace_ms) < 0)
		return bad(ps, path,
			   "stop_grace_period: `%s`: a duration like 10s",
			   grace);
	v = cJSON_GetObjectItemCaseSensitive(obj, "labels");
	_cleanup_free_ char *lb = base_sprintf("%s.labels", path);
	if (r == 0 && v)
		r = get_env(ps, v, lb, &g->labels);
	for (size_t i = 0; r == 0 && g->labels && g->labels[i]; i++)
		if (base_str_has_prefix(g->labels[i], "org.berth."))
			return bad(ps, lb, "`%s`: org.berth.* is berth's own",
				   g->labels[i]);
	_cleanup_free_ char *restart = NULL;
	if (r == 0)
		r = get_str(ps, obj, "restart", path, &restart);
	struct berr e = {0};
	if (r == 0 && restart && eng_restart_parse(restart, &g->restart, &e))
		return bad(ps, path, "%s", e.msg);
	if (r < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(obj, "ulimits");
	_cleanup_free_ char *ul = base_sprintf("%s.ulimits", path);
	_cleanup_strv_ char **strs = NULL;
	r = v ? get_strv(ps, v, ul, &strs) : 0;
	g->n_ulimits = base_strv_len(strs);
	g->ulimits = g->n_ulimits
			     ? base_calloc(g->n_ulimits, sizeof(*g->ulimits))
			     : NULL;
	for (size_t i = 0; r == 0 && i < g->n_ulimits; i++) {
		if (eng_ulimit_parse(strs[i], &g->ulimits[i], &e) < 0)
			return bad(ps, ul, "%s", e.msg);
	}
	return r;
}

/* network, ports, hostname, aliases: what the group's containers get of
 * the job's network (or of the one it names). */
static int get_network(const struct parse *ps, const cJSON *obj,
		       const char *path, struct eng_job_group *g)
{
	int r = get_str(ps, obj, "network", path, &g->network);
	_cleanup_free_ char *at = base_sprintf("%s.network", path);
	if (r == 0 && g->network && strcmp(g->network, "none") &&
	    strcmp(g->network, "host") && eng_net_name_check(g->network, NULL))
		return bad(ps, at,
			   "`%s`: expected none, host or a network's name",
			   g->network);
	if (r == 0)
		r = get_str(ps, obj, "hostname", path, &g->hostname);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "aliases");
	_cleanup_free_ char *al = base_sprintf("%s.aliases", path);
	if (r == 0 && v)
		r = get_strv(ps, v, al, &g->aliases);
	for (size_t i = 0; r == 0 && g->aliases && g->aliases[i]; i++)
		if (!valid_name(g->aliases[i]))
			return bad(ps, al,
				   "`%s`: expected a name matching "
				   "[A-Za-z0-9][A-Za-z0-9_.-]*",
				   g->aliases[i]);
	v = cJSON_GetObjectItemCaseSensitive(obj, "ports");
	_cleanup_free_ char *pp = base_sprintf("%s.ports", path);
	_cleanup_strv_ char **ports = NULL;
	if (r == 0 && v)
		r = get_strv(ps, v, pp, &ports);
	for (size_t i = 0; r == 0 && ports && ports[i]; i++) {
		struct berr e = {0};
		if (eng_port_parse(ports[i], &g->ports, &g->n_ports, &e) < 0)
			return bad(ps, pp, "%s", e.msg);
	}
	return r;
}

static int parse_group(const struct parse *ps, const cJSON *obj, size_t idx,
		       struct eng_job_group *g, char **produces,
		       char **consumes)
{
	static const char *const known[] = {
		"name",	      "image",	    "rootfs",	   "command",
		"count",      "cpus",	    "memory",	   "env",
		"volumes",    "mode",	    "produces",	   "consumes",
		"pids_limit", "network",    "ports",	   "hostname",
		"aliases",    "entrypoint", "workdir",	   "user",
		"tmpfs",      "depends_on", "healthcheck", "init",
		"ulimits",    "cpu_quota",  "stop_signal", "stop_grace_period",
		"restart",    "labels",	    NULL};
	_cleanup_free_ char *path = base_sprintf("groups[%zu]", idx);
	if (!cJSON_IsObject(obj))
		return bad(ps, path, "expected an object");
	int r = known_fields(ps, obj, path, known);
	if (r == 0)
		r = get_str(ps, obj, "name", path, &g->name);
	if (r == 0 && !valid_name(g->name))
		return bad(ps, path,
			   "name: %s: expected a name matching "
			   "[A-Za-z0-9][A-Za-z0-9_.-]*",
			   g->name ? g->name : "missing");
	if (r == 0)
		r = get_str(ps, obj, "image", path, &g->image);
	if (r == 0)
		r = get_str(ps, obj, "rootfs", path, &g->rootfs);
	if (r == 0 && !!g->image == !!g->rootfs)
		return bad(ps, path, "give one of \"image\" or \"rootfs\"");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "command");
	_cleanup_free_ char *cmd = base_sprintf("%s.command", path);
	if (r == 0 && v)
		r = get_strv(ps, v, cmd, &g->command);
	if (r == 0)
		r = get_count(ps, obj, path, g);
	if (r == 0)
		r = get_limits(ps, obj, path, g);
	v = cJSON_GetObjectItemCaseSensitive(obj, "env");
	_cleanup_free_ char *env = base_sprintf("%s.env", path);
	if (r == 0 && v)
		r = get_env(ps, v, env, &g->env);
	v = cJSON_GetObjectItemCaseSensitive(obj, "volumes");
	_cleanup_free_ char *vol = base_sprintf("%s.volumes", path);
	if (r == 0 && v)
		r = get_strv(ps, v, vol, &g->volumes);
	if (r == 0)
		r = get_mode(ps, obj, path, g);
	if (r == 0)
		r = get_network(ps, obj, path, g);
	if (r == 0)
		r = get_process(ps, obj, path, g);
	if (r == 0)
		r = get_extras(ps, obj, path, g);
	if (r == 0 && eng_job_parse_deps(obj, path, g, ps->err) < 0)
		r = berr_wrap(ps->err, "%s", ps->file);
	if (r == 0)
		r = get_str(ps, obj, "produces", path, produces);
	if (r == 0)
		r = get_str(ps, obj, "consumes", path, consumes);
	return r;
}

static int check_range(const char *s)
{
	_cleanup_free_ char *copy = base_strdup(s);
	char *save = NULL;
	int n = 0;
	int64_t v[3] = {0, 0, 1};
	for (char *f = strtok_r(copy, ":", &save); f;
	     f = strtok_r(NULL, ":", &save))
		if (n == 3 || base_parse_i64(f, &v[n++]) < 0)
			return -EINVAL;
	return (n == 2 || n == 3) && v[2] != 0 ? 0 : -EINVAL;
}

static int parse_queue(const struct parse *ps, const cJSON *obj,
		       const char *dir, struct eng_job_queue *q)
{
	static const char *const known[] = {"range", "args", "file", NULL};
	_cleanup_free_ char *path = base_sprintf("queues.%s", obj->string);
	if (!valid_name(obj->string))
		return bad(ps, path,
			   "expected a queue name matching "
			   "[A-Za-z0-9][A-Za-z0-9_.-]*");
	if (!cJSON_IsObject(obj))
		return bad(ps, path, "expected an object");
	q->name = base_strdup(obj->string);
	q->producer = q->consumer = -1;
	int r = known_fields(ps, obj, path, known);
	if (r == 0)
		r = get_str(ps, obj, "range", path, &q->range);
	if (r == 0 && q->range && check_range(q->range) < 0)
		return bad(ps, path,
			   "range: `%s`: expected START:END[:STEP] (integers, "
			   "STEP not 0)",
			   q->range);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "args");
	_cleanup_free_ char *args = base_sprintf("%s.args", path);
	if (r == 0 && v)
		r = get_strv(ps, v, args, &q->args);
	_cleanup_free_ char *file = NULL;
	if (r == 0)
		r = get_str(ps, obj, "file", path, &file);
	if (r == 0 && file)
		q->file = file[0] == '/' ? base_strdup(file)
					 : base_sprintf("%s/%s", dir, file);
	if (r == 0 && !!q->range + !!q->args + !!q->file > 1)
		return bad(ps, path,
			   "give one input: \"range\", \"args\" or \"file\"");
	return r;
}

static int find_queue(const struct eng_job *j, const char *name)
{
	for (size_t i = 0; i < j->nqueues; i++)
		if (!strcmp(j->queues[i].name, name))
			return (int)i;
	return -1;
}

/* Ties a group to the queue it produces or consumes. */
static int link_group(const struct parse *ps, struct eng_job *j, size_t gi,
		      const char *produces, const char *consumes)
{
	struct eng_job_group *g = &j->groups[gi];
	_cleanup_free_ char *path = base_sprintf("groups[%zu]", gi);
	g->queue = -1;
	g->role = produces   ? ENG_JOB_PRODUCER
		  : consumes ? ENG_JOB_CONSUMER
			     : ENG_JOB_SERVICE;
	if (produces && consumes)
		return bad(ps, path,
			   "a group either produces or consumes a queue, not "
			   "both");
	const char *qname = produces ? produces : consumes;
	const char *key = produces ? "produces" : "consumes";
	if (!qname)
		return 0;
	int qi = find_queue(j, qname);
	if (qi < 0)
		return bad(ps, path, "%s: unknown queue `%s`", key, qname);
	struct eng_job_queue *q = &j->queues[qi];
	int *slot = produces ? &q->producer : &q->consumer;
	if (*slot >= 0)
		return bad(ps, path,
			   "%s: queue `%s` has one already: groups[%d]",
			   produces ? "produces: two producers"
				    : "consumes: two consumers",
			   qname, *slot);
	if (consumes && !g->command)
		return bad(ps, path,
			   "command: a group that consumes a queue needs "
			   "its workers' command");
	if (produces && g->count != 1)
		return bad(ps, path,
			   "count: a group that produces a queue runs one "
			   "container");
	*slot = (int)gi;
	g->queue = qi;
	return 0;
}

static int check_queues(const struct parse *ps, const struct eng_job *j)
{
	for (size_t i = 0; i < j->nqueues; i++) {
		const struct eng_job_queue *q = &j->queues[i];
		_cleanup_free_ char *path = base_sprintf("queues.%s", q->name);
		bool input = q->range || q->args || q->file;
		if (q->producer >= 0 && input)
			return bad(ps, path,
				   "has an input and a producer (groups[%d])",
				   q->producer);
		if (q->producer < 0 && !input)
			return bad(ps, path,
				   "no group produces it and it has no input "
				   "(\"range\", \"args\" or \"file\")");
		if (q->consumer < 0)
			return bad(ps, path, "no group consumes it");
	}
	return 0;
}

static int check_names(const struct parse *ps, const struct eng_job *j)
{
	for (size_t i = 0; i < j->ngroups; i++)
		for (size_t k = 0; k < i; k++)
			if (!strcmp(j->groups[i].name, j->groups[k].name)) {
				_cleanup_free_ char *path =
					base_sprintf("groups[%zu].name", i);
				return bad(ps, path,
					   "%s is the name of groups[%zu] "
					   "already",
					   j->groups[i].name, k);
			}
	return 0;
}

static int parse_groups(const struct parse *ps, const cJSON *arr,
			struct eng_job *j)
{
	if (!cJSON_IsArray(arr) || !arr->child)
		return bad(ps, "groups", "expected a non-empty array");
	j->ngroups = (size_t)cJSON_GetArraySize(arr);
	j->groups = base_calloc(j->ngroups, sizeof(*j->groups));
	size_t i = 0;
	int r = 0;
	for (const cJSON *it = arr->child; it && r == 0; it = it->next, i++) {
		_cleanup_free_ char *produces = NULL, *consumes = NULL;
		j->groups[i].queue = -1;
		r = parse_group(ps, it, i, &j->groups[i], &produces, &consumes);
		if (r == 0)
			r = link_group(ps, j, i, produces, consumes);
	}
	if (r == 0)
		r = check_names(ps, j);
	if (r == 0)
		r = eng_job_link_deps(j, ps->file, ps->err);
	return r;
}

static int parse_queues(const struct parse *ps, const cJSON *obj,
			const char *dir, struct eng_job *j)
{
	if (!obj)
		return 0;
	if (!cJSON_IsObject(obj))
		return bad(ps, "queues", "expected an object of queues");
	j->nqueues = (size_t)cJSON_GetArraySize(obj);
	j->queues =
		base_calloc(j->nqueues ? j->nqueues : 1, sizeof(*j->queues));
	size_t i = 0;
	for (const cJSON *it = obj->child; it; it = it->next, i++) {
		int r = parse_queue(ps, it, dir, &j->queues[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The name, or the file's basename without .json. */
static int job_name(const struct parse *ps, const cJSON *doc, struct eng_job *j)
{
	int r = get_str(ps, doc, "name", "", &j->name);
	if (r < 0)
		return r;
	if (!j->name) {
		const char *base = strrchr(ps->file, '/');
		base = base ? base + 1 : ps->file;
		size_t n = strlen(base);
		if (n > 5 && !strcmp(base + n - 5, ".json"))
			n -= 5;
		j->name = strndup(base, n);
		if (!j->name)
			abort();
	}
	if (!valid_name(j->name))
		return bad(ps, "name",
			   "`%s`: a job name must match "
			   "[A-Za-z0-9][A-Za-z0-9_.-]*",
			   j->name);
	return 0;
}

static char *dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	_cleanup_free_ char *dir =
		slash ? strndup(file, (size_t)(slash - file + (slash == file)))
		      : base_strdup(".");
	char *abs = dir ? realpath(dir, NULL) : NULL;
	return abs ? abs : base_strdup(dir ? dir : ".");
}

static int parse_doc(const struct parse *ps, const cJSON *doc,
		     struct eng_job *j)
{
	static const char *const known[] = {"name",   "store",	       "queues",
					    "groups", "cgroup_parent", NULL};
	if (!cJSON_IsObject(doc))
		return berr_setx(ps->err, EINVAL,
				 "%s: expected a JSON object at the top",
				 ps->file);
	_cleanup_free_ char *dir = dir_of(ps->file);
	int r = known_fields(ps, doc, "", known);
	if (r == 0)
		r = job_name(ps, doc, j);
	if (r == 0)
		r = get_str(ps, doc, "store", "", &j->store);
	if (r == 0)
		r = get_str(ps, doc, "cgroup_parent", "", &j->cgroup_parent);
	if (r == 0)
		r = parse_queues(
			ps, cJSON_GetObjectItemCaseSensitive(doc, "queues"),
			dir, j);
	if (r == 0)
		r = parse_groups(
			ps, cJSON_GetObjectItemCaseSensitive(doc, "groups"), j);
	if (r == 0)
		r = check_queues(ps, j);
	return r;
}

/* "line 3, column 7" of the byte cJSON stopped at. */
static void where(const char *text, const char *at, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *s = text; at && s < at && *s; s++) {
		if (*s == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int eng_job_parse(const char *text, size_t len, const char *file,
		  struct eng_job **out, struct berr *err)
{
	*out = NULL;
	struct parse ps = {.file = file, .err = err};
	const char *end = NULL;
	_cleanup_(cJSON_Deletep) cJSON *doc =
		cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!doc) {
		int line, col;
		where(text, end ? end : cJSON_GetErrorPtr(), &line, &col);
		return berr_setx(err, EINVAL,
				 "%s: malformed JSON at line %d, column %d",
				 file, line, col);
	}
	struct eng_job *j = base_calloc(1, sizeof(*j));
	int r = parse_doc(&ps, doc, j);
	if (r < 0) {
		eng_job_free(j);
		return r;
	}
	j->text = base_calloc(len + 1, 1);
	memcpy(j->text, text, len);
	j->text_len = len;
	*out = j;
	return 0;
}

int eng_job_load(const char *path, struct eng_job **out, struct berr *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = base_read_file_at(AT_FDCWD, path, &text, &len, 1 << 20);
	if (r < 0)
		return berr_set(err, -r, "job file %s", path);
	return eng_job_parse(text, len, path, out, err);
}

void eng_job_free(struct eng_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->groups && i < j->ngroups; i++) {
		struct eng_job_group *g = &j->groups[i];
		free(g->name);
		free(g->image);
		free(g->rootfs);
		free(g->cpus);
		base_strv_free(g->command);
		base_strv_free(g->env);
		base_strv_free(g->volumes);
		free(g->network);
		free(g->hostname);
		base_strv_free(g->entrypoint);
		free(g->workdir);
		free(g->user);
		base_strv_free(g->tmpfs);
		free(g->ulimits);
		base_strv_free(g->labels);
		eng_job_deps_free(g);
		base_strv_free(g->aliases);
		free(g->ports);
	}
	for (size_t i = 0; j->queues && i < j->nqueues; i++) {
		free(j->queues[i].name);
		free(j->queues[i].range);
		free(j->queues[i].file);
		base_strv_free(j->queues[i].args);
	}
	free(j->groups);
	free(j->queues);
	free(j->name);
	free(j->store);
	free(j->cgroup_parent);
	free(j->text);
	free(j);
}

/* ---- what needs the host -------------------------------------------------
 */

static int check_cpus(const struct eng_job_group *g, const char *at,
		      const struct dp_cpus *allowed, struct berr *err)
{
	struct dp_cpus want;
	if (!g->cpus || dp_cpus_parse(g->cpus, &want) < 0)
		return 0;
	for (int c = dp_cpus_next(&want, -1); c >= 0;
	     c = dp_cpus_next(&want, c)) {
		if (dp_cpus_has(allowed, c))
			continue;
		_cleanup_free_ char *a = dp_cpus_format(allowed);
		return berr_setx(err, EINVAL,
				 "%s.cpus: CPU %d is not in the allowed set "
				 "%s",
				 at, c, a);
	}
	return 0;
}

static int check_group(const struct eng_job *j, size_t i, const char *file,
		       const char *agent, const struct dp_cpus *allowed,
		       struct berr *err)
{
	const struct eng_job_group *g = &j->groups[i];
	_cleanup_free_ char *at = base_sprintf("%s: groups[%zu]", file, i);
	int r = check_cpus(g, at, allowed, err);
	if (r == 0 && g->role != ENG_JOB_SERVICE &&
	    (g->init || g->n_ulimits || g->cpu_quota || g->stop_signal ||
	     g->stop_grace_ms || g->restart.kind != ENG_RESTART_NO ||
	     g->labels))
		return berr_setx(
			err, EINVAL,
			"%s: \"init\", \"ulimits\", \"cpu_quota\", "
			"\"stop_signal\", \"stop_grace_period\", "
			"\"restart\" and \"labels\" apply to a service's "
			"container, not to a queue's producer or "
			"workers",
			at);
	if (r == 0 && g->role == ENG_JOB_CONSUMER &&
	    (g->n_ports || g->hostname))
		return berr_setx(err, EINVAL,
				 "%s: a pool's workers take neither \"ports\" "
				 "nor \"hostname\" (they are w0, w1, ...)",
				 at);
	if (r == 0 && g->rootfs && g->role != ENG_JOB_CONSUMER)
		return berr_setx(err, EINVAL,
				 "%s.rootfs: only a group that consumes a "
				 "queue runs from a root filesystem; give "
				 "this one an \"image\"",
				 at);
	struct stat st;
	if (r == 0 && g->rootfs &&
	    (stat(g->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)))
		return berr_set(err, errno ? errno : ENOTDIR, "%s.rootfs: %s",
				at, g->rootfs);
	if (r == 0 && g->image) {
		_cleanup_(oci_store_closep) struct oci_store *s = NULL;
		_cleanup_(oci_image_freep) struct oci_image *img = NULL;
		r = oci_store_open(j->store, OCI_STORE_READ, &s, err);
		if (r == 0)
			r = oci_image_find(s, g->image, &img, err);
		if (r < 0)
			return berr_wrap(err, "%s.image", at);
	}
	for (size_t k = 0; r == 0 && g->volumes && g->volumes[k]; k++) {
		const char *v = g->volumes[k], *colon = strchr(v, ':');
		_cleanup_free_ char *host =
			colon ? strndup(v, (size_t)(colon - v)) : NULL;
		if (!host || !*host || colon[1] != '/')
			return berr_setx(err, EINVAL,
					 "%s.volumes[%zu]: `%s`: expected "
					 "HOST:CTR[:ro|:rw]",
					 at, k, v);
		if (access(host, F_OK) < 0)
			return berr_set(err, errno, "%s.volumes[%zu]: %s", at,
					k, host);
	}
	if (r == 0 && g->role == ENG_JOB_CONSUMER && g->mode != DP_MODE_LIB &&
	    (!agent || access(agent, X_OK) < 0))
		return berr_setx(err, ENOENT,
				 "%s: the worker agent `%s` is missing (build "
				 "it with `make`, or set BERTH_AGENT)",
				 at, agent ? agent : "berth-agent");
	return r;
}

int eng_job_check(const struct eng_job *j, const char *file, const char *agent,
		  struct berr *err)
{
	struct dp_cpus allowed;
	int r = dp_cpus_allowed(&allowed, err);
	for (size_t i = 0; r == 0 && i < j->ngroups; i++)
		r = check_group(j, i, file, agent, &allowed, err);
	for (size_t i = 0; r == 0 && i < j->nqueues; i++) {
		const struct eng_job_queue *q = &j->queues[i];
		if (q->file && access(q->file, R_OK) < 0)
			return berr_set(err, errno, "%s: queues.%s.file: %s",
					file, q->name, q->file);
	}
	return r;
}
