/* `berth launch`: the image's runtime config edited for docker run's
 * options, with berth's default security profile written into it. The
 * config.json a launched container gets says everything that applies:
 * `berth create` on that bundle alone gives the same container. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "engine/engine-internal.h"

/* obj[key], made an array or an object when missing or of another
 * type. */
static cJSON *child(cJSON *obj, const char *key, bool array)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (array ? cJSON_IsArray(v) : cJSON_IsObject(v))
		return v;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	return array ? cJSON_AddArrayToObject(obj, key)
		     : cJSON_AddObjectToObject(obj, key);
}
#define child_object(obj, key) child(obj, key, false)
#define child_array(obj, key) child(obj, key, true)

static void set(cJSON *obj, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddItemToObject(obj, key, v);
}

static cJSON *strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

/* ---- mounts ------------------------------------------------------------ */

static void add_mount(cJSON *mounts, const char *dst, const char *type,
		      const char *src, char *const *opts)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "destination", dst);
	cJSON_AddStringToObject(m, "type", type);
	cJSON_AddStringToObject(m, "source", src);
	cJSON_AddItemToObject(m, "options", strv_json(opts));
	cJSON_AddItemToArray(mounts, m);
}

/* -v HOST:CTR[:ro|:rw]. The host path must exist: docker would create
 * it, which hides a typo until the container misbehaves. */
static int add_volume(cJSON *mounts, const char *spec, struct berr *err)
{
	_cleanup_free_ char *v = base_strdup(spec);
	char *dst = strchr(v, ':');
	if (!dst || dst == v)
		return berr_setx(err, EINVAL,
				 "volume `%s`: expected HOST:CONTAINER[:ro]",
				 spec);
	*dst++ = '\0';
	char *mode = strchr(dst, ':');
	if (mode)
		*mode++ = '\0';
	if (dst[0] != '/')
		return berr_setx(err, EINVAL,
				 "volume `%s`: the container path `%s` is not "
				 "absolute",
				 spec, dst);
	if (mode && strcmp(mode, "ro") && strcmp(mode, "rw"))
		return berr_setx(err, EINVAL,
				 "volume `%s`: unknown mode `%s` (ro or rw)",
				 spec, mode);
	_cleanup_free_ char *src = realpath(v, NULL);
	if (!src)
		return berr_set(err, errno, "volume `%s`: host path `%s`", spec,
				v);
	char *opts[] = {"rbind", mode && !strcmp(mode, "ro") ? "ro" : "rw",
			NULL};
	add_mount(mounts, dst, "bind", src, opts);
	return 0;
}

/* --tmpfs CTR[:OPTIONS], docker's defaults first. */
static int add_tmpfs(cJSON *mounts, const char *spec, struct berr *err)
{
	_cleanup_free_ char *v = base_strdup(spec);
	char *extra = strchr(v, ':');
	if (extra)
		*extra++ = '\0';
	if (v[0] != '/')
		return berr_setx(err, EINVAL,
				 "tmpfs `%s`: the container path is not "
				 "absolute",
				 spec);
	_cleanup_strv_ char **opts = NULL;
	base_strv_push(&opts, "nosuid");
	base_strv_push(&opts, "nodev");
	base_strv_push(&opts, "noexec");
	for (char *s = extra, *tok; s && (tok = strsep(&s, ","));)
		if (*tok)
			base_strv_push(&opts, tok);
	add_mount(mounts, v, "tmpfs", "tmpfs", opts);
	return 0;
}

static bool mounted_at(const cJSON *mounts, const char *dst)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, mounts)
	{
		const char *d = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(m, "destination"));
		if (d && !strcmp(d, dst))
			return true;
	}
	return false;
}

/* The endpoint's /etc/hosts, /etc/hostname and /etc/resolv.conf, each
 * unless a volume of the caller's is mounted there already. */
static void add_net_files(cJSON *mounts, const struct eng_endpoint *ep)
{
	const char *dst[] = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"};
	const char *src[] = {ep->hosts, ep->hostname_file, ep->resolv};
	char *opts[] = {"rbind", "rprivate", NULL};
	for (size_t i = 0; i < ARRAY_SIZE(dst); i++)
		if (src[i] && !mounted_at(mounts, dst[i]))
			add_mount(mounts, dst[i], "bind", src[i], opts);
}

/* --init: the binary, read-only, and the args run under it. */
static int add_init(cJSON *cfg, cJSON *mounts, const char *bin,
		    struct berr *err)
{
	if (bin[0] != '/' || access(bin, X_OK) < 0)
		return berr_setx(
			err, ENOENT,
			"--init: %s is not an executable (berth-agent "
			"is looked for next to berth, or $BERTH_AGENT)",
			bin);
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "destination", ENG_INIT_PATH);
	cJSON_AddStringToObject(m, "type", "bind");
	cJSON_AddStringToObject(m, "source", bin);
	cJSON *opts = cJSON_AddArrayToObject(m, "options");
	static const char *const o[] = {"bind", "ro", "nosuid", "nodev"};
	for (size_t i = 0; i < ARRAY_SIZE(o); i++)
		cJSON_AddItemToArray(opts, cJSON_CreateString(o[i]));
	cJSON_AddItemToArray(mounts, m);
	cJSON *args = child_array(child_object(cfg, "process"), "args");
	cJSON_InsertItemInArray(args, 0, cJSON_CreateString("--"));
	cJSON_InsertItemInArray(args, 0, cJSON_CreateString("init"));
	cJSON_InsertItemInArray(args, 0, cJSON_CreateString(ENG_INIT_PATH));
	return 0;
}

static int edit_mounts(cJSON *cfg, const struct eng_launch_opts *o,
		       const struct eng_endpoint *ep, struct berr *err)
{
	cJSON *mounts = child_array(cfg, "mounts");
	int r = 0;
	for (size_t i = 0; r == 0 && o->tmpfs && o->tmpfs[i]; i++)
		r = add_tmpfs(mounts, o->tmpfs[i], err);
	for (size_t i = 0; r == 0 && o->volumes && o->volumes[i]; i++)
		r = add_volume(mounts, o->volumes[i], err);
	if (r == 0 && ep)
		add_net_files(mounts, ep);
	if (r == 0 && o->init)
		r = add_init(cfg, mounts, o->init, err);
	return r;
}

/* ---- linux: resources, namespaces, cgroup ------------------------------- */

static void edit_resources(cJSON *lnx, const struct eng_launch_opts *o)
{
	cJSON *res = child_object(lnx, "resources");
	if (o->memory > 0)
		set(child_object(res, "memory"), "limit",
		    cJSON_CreateNumber((double)o->memory));
	if (o->cpus > 0 || o->cpuset_cpus) {
		cJSON *cpu = child_object(res, "cpu");
		if (o->cpus > 0) {
			/* docker's --cpus: a quota over a 100 ms period */
			set(cpu, "period", cJSON_CreateNumber(100000));
			set(cpu, "quota",
			    cJSON_CreateNumber(
				    (double)(long long)(o->cpus * 100000)));
		}
		if (o->cpuset_cpus)
			set(cpu, "cpus", cJSON_CreateString(o->cpuset_cpus));
	}
	if (o->pids_limit > 0)
		set(child_object(res, "pids"), "limit",
		    cJSON_CreateNumber((double)o->pids_limit));
	if (o->privileged) {
		cJSON *all = cJSON_CreateObject();
		cJSON_AddBoolToObject(all, "allow", true);
		cJSON_AddStringToObject(all, "access", "rwm");
		cJSON *devs = cJSON_CreateArray();
		cJSON_AddItemToArray(devs, all);
		set(res, "devices", devs);
	}
}

static void edit_linux(cJSON *cfg, const struct eng_launch_opts *o,
		       const char *id, const struct eng_endpoint *ep)
{
	cJSON *lnx = child_object(cfg, "linux");
	edit_resources(lnx, o);
	cJSON *ns = child_array(lnx, "namespaces");
	for (cJSON *n = ns->child, *next; n; n = next) {
		next = n->next;
		const char *t = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(n, "type"));
		if (ep && t && !strcmp(t, "network") && ep->host)
			cJSON_Delete(cJSON_DetachItemViaPointer(ns, n));
		else if (ep && t && !strcmp(t, "network") && ep->netns)
			set(n, "path", cJSON_CreateString(ep->netns));
	}
	_cleanup_free_ char *cg =
		o->cgroup_parent
			? base_sprintf("%s/%s", o->cgroup_parent, id)
			: base_sprintf("%sberth-%s", cg_default_parent(), id);
	set(lnx, "cgroupsPath", cJSON_CreateString(cg));
}

/* ---- the security profile ------------------------------------------------ */

static int cap_number(const char *name, struct berr *err)
{
	_cleanup_free_ char *full = strncasecmp(name, "CAP_", 4)
					    ? base_sprintf("CAP_%s", name)
					    : base_strdup(name);
	for (char *p = full; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	int cap = oci_cap_from_name(full);
	if (cap < 0)
		return berr_setx(err, EINVAL, "unknown capability `%s`", name);
	return cap;
}

static void capset_put(struct oci_capset *s, int cap, bool on)
{
	size_t k = 0;
	while (k < s->n && s->caps[k] != cap)
		k++;
	if (on && k == s->n) {
		s->caps = base_realloc(s->caps, s->n + 1, sizeof(int));
		s->caps[s->n++] = cap;
	} else if (!on && k < s->n) {
		s->caps[k] = s->caps[--s->n];
	}
}

/* "ALL" and --privileged mean what berth holds, as they mean what the
 * daemon holds for docker: a sandbox may lack some capabilities. */
static bool cap_held(int cap)
{
	return prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1;
}

static void caps_put(struct oci_capabilities *c, int cap, bool on)
{
	capset_put(&c->bounding, cap, on);
	capset_put(&c->effective, cap, on);
	capset_put(&c->permitted, cap, on);
}

/* docker's order: --cap-add, then --cap-drop; "ALL" stands for every
 * capability. */
static int edit_caps(struct oci_capabilities *c,
		     const struct eng_launch_opts *o, struct berr *err)
{
	for (int pass = 0; pass < 2; pass++) {
		char *const *v = pass == 0 ? o->cap_add : o->cap_drop;
		for (; v && *v; v++) {
			if (!strcasecmp(*v, "ALL")) {
				for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
					if (pass == 1 || cap_held(cap))
						caps_put(c, cap, pass == 0);
				continue;
			}
			int cap = cap_number(*v, err);
			if (cap < 0)
				return cap;
			caps_put(c, cap, pass == 0);
		}
	}
	return 0;
}

static int seccomp_file(const char *path, cJSON **out, struct berr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = base_read_file_at(AT_FDCWD, path, &buf, &len, 1 << 22);
	if (r < 0)
		return berr_set(err, -r, "seccomp profile `%s`", path);
	*out = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return berr_setx(err, EINVAL,
				 "seccomp profile `%s`: not a JSON object",
				 path);
	}
	return 0;
}

static int edit_security(cJSON *cfg, const struct eng_launch_opts *o,
			 struct berr *err)
{
	_cleanup_(oci_config_freep) struct oci_config *c =
		base_calloc(1, sizeof(*c));
	rt_profile_default(c);
	struct oci_capabilities *caps = &c->process.capabilities;
	if (o->privileged)
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (cap_held(cap))
				caps_put(caps, cap, true);
	int r = edit_caps(caps, o, err);
	if (r < 0)
		return r;
	/* the allow-list follows the capabilities, as docker's does */
	rt_profile_seccomp(&c->linux_.seccomp, &caps->bounding);
	_cleanup_cjson_ cJSON *sc = NULL;
	if (o->seccomp && strcmp(o->seccomp, "unconfined") &&
	    (r = seccomp_file(o->seccomp, &sc, err)) < 0)
		return r;
	cJSON *proc = child_object(cfg, "process");
	cJSON *lnx = child_object(cfg, "linux");
	set(proc, "capabilities", oci_capabilities_json(caps));
	set(proc, "noNewPrivileges", cJSON_CreateBool(!o->privileged));
	if (o->privileged) {
		cJSON_DeleteItemFromObjectCaseSensitive(lnx, "maskedPaths");
		cJSON_DeleteItemFromObjectCaseSensitive(lnx, "readonlyPaths");
	} else {
		set(lnx, "maskedPaths", strv_json(c->linux_.masked_paths));
		set(lnx, "readonlyPaths", strv_json(c->linux_.readonly_paths));
	}
	cJSON_DeleteItemFromObjectCaseSensitive(lnx, "seccomp");
	if (sc)
		cJSON_AddItemToObject(lnx, "seccomp", TAKE_PTR(sc));
	else if (!o->privileged && !o->seccomp)
		cJSON_AddItemToObject(lnx, "seccomp",
				      oci_seccomp_json(&c->linux_.seccomp));
	return 0;
}

/* ---- --ulimit ------------------------------------------------------------
 */

static int ulimit_value(const char *s, uint64_t *v)
{
	if (!strcmp(s, "-1")) {
		*v = RLIM_INFINITY;
		return 0;
	}
	return base_parse_u64(s, v);
}

int eng_ulimit_parse(const char *s, struct eng_ulimit *out, struct berr *err)
{
	*out = (struct eng_ulimit){0};
	const char *eq = strchr(s, '=');
	size_t n = eq ? (size_t)(eq - s) : 0;
	char type[32] = "RLIMIT_";
	if (!eq || n == 0 || n >= sizeof(out->name))
		return berr_setx(err, EINVAL,
				 "--ulimit `%s`: expected NAME=SOFT[:HARD]", s);
	for (size_t i = 0; i < n; i++)
		type[7 + i] =
			(char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	out->resource = oci_rlimit_from_name(type);
	if (out->resource < 0)
		return berr_setx(err, EINVAL,
				 "--ulimit `%s`: unknown limit %.*s", s, (int)n,
				 s);
	memcpy(out->name, s, n);
	_cleanup_free_ char *v = base_strdup(eq + 1);
	char *colon = strchr(v, ':');
	if (colon)
		*colon++ = '\0';
	if (ulimit_value(v, &out->soft) < 0 ||
	    ulimit_value(colon ? colon : v, &out->hard) < 0)
		return berr_setx(err, EINVAL,
				 "--ulimit `%s`: expected numbers (or -1)", s);
	if (out->soft > out->hard)
		return berr_setx(err, EINVAL,
				 "--ulimit `%s`: the soft limit is above the "
				 "hard one",
				 s);
	return 0;
}

bool eng_ulimit_fit(struct eng_ulimit *u, uint64_t have, bool can_raise)
{
	if (can_raise || u->hard <= have)
		return false;
	u->hard = have;
	if (u->soft > have)
		u->soft = have;
	return true;
}

static void note(const struct eng_launch_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(const struct eng_launch_opts *o, const char *fmt, ...)
{
	if (!o->note)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->note(line, o->note_data);
}

/* Sets u in process.rlimits, lowered to berth's own hard limit where
 * berth cannot raise that (the runtime would fail the start). */
static void put_rlimit(cJSON *rl, const struct eng_launch_opts *o,
		       struct eng_ulimit u, bool dflt)
{
	struct rlimit have;
	uint64_t want = u.hard;
	if (getrlimit(u.resource, &have) == 0 &&
	    eng_ulimit_fit(&u, have.rlim_max, cap_held(CAP_SYS_RESOURCE)))
		note(o,
		     "%s %s %llu is above berth's hard limit and "
		     "CAP_SYS_RESOURCE is not held: the container gets %llu",
		     dflt ? "docker's default" : "--ulimit", u.name,
		     (unsigned long long)want, (unsigned long long)u.hard);
	char type[32];
	int n = snprintf(type, sizeof(type), "RLIMIT_%s", u.name);
	for (int i = 7; i < n && type[i]; i++)
		if (type[i] >= 'a' && type[i] <= 'z')
			type[i] = (char)(type[i] - 32);
	cJSON *e;
	for (int i = cJSON_GetArraySize(rl) - 1; i >= 0; i--) {
		e = cJSON_GetArrayItem(rl, i);
		const char *t = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(e, "type"));
		if (t && !strcmp(t, type))
			cJSON_DeleteItemFromArray(rl, i);
	}
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNumberToObject(e, "hard", (double)u.hard);
	cJSON_AddNumberToObject(e, "soft", (double)u.soft);
	cJSON_AddItemToArray(rl, e);
}

static void edit_rlimits(cJSON *cfg, const struct eng_launch_opts *o)
{
	cJSON *rl = child_array(child_object(cfg, "process"), "rlimits");
	bool nofile = false;
	for (size_t i = 0; i < o->n_ulimits; i++) {
		put_rlimit(rl, o, o->ulimits[i], false);
		nofile |= o->ulimits[i].resource == RLIMIT_NOFILE;
	}
	if (!nofile)
		put_rlimit(rl, o,
			   (struct eng_ulimit){RLIMIT_NOFILE, "nofile",
					       ENG_NOFILE_DEFAULT,
					       ENG_NOFILE_DEFAULT},
			   true);
}

/* ---- the whole config -----------------------------------------------------
 */

int eng_launch_config(const struct eng_launch_opts *o, const char *id,
		      const struct eng_endpoint *ep, const char *image_json,
		      char **out, struct berr *err)
{
	*out = NULL;
	_cleanup_cjson_ cJSON *cfg = cJSON_Parse(image_json);
	if (!cJSON_IsObject(cfg))
		return berr_setx(err, EINVAL, "the image's runtime config");
	cJSON *proc = child_object(cfg, "process");
	set(proc, "terminal", cJSON_CreateBool(o->tty));
	if (o->tty && !cJSON_GetObjectItemCaseSensitive(proc, "consoleSize")) {
		/* TERM for a terminal, as docker sets it */
		cJSON *env = child_array(proc, "env");
		bool has = false;
		for (cJSON *e = env->child; e; e = e->next)
			has |= base_str_has_prefix(
				cJSON_GetStringValue(e) ?: "", "TERM=");
		if (!has)
			cJSON_AddItemToArray(env,
					     cJSON_CreateString("TERM=xterm"));
	}
	_cleanup_free_ char *host = ep ? base_strdup(ep->hostname)
				    : o->net.hostname
					    ? base_strdup(o->net.hostname)
					    : eng_short_name(id);
	set(cfg, "hostname", cJSON_CreateString(host));
	set(child_object(cfg, "root"), "readonly",
	    cJSON_CreateBool(o->read_only));
	int r = edit_mounts(cfg, o, ep, err);
	if (r == 0)
		r = edit_security(cfg, o, err);
	if (r < 0)
		return r;
	edit_linux(cfg, o, id, ep);
	edit_rlimits(cfg, o);
	cJSON *ann = child_object(cfg, "annotations");
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		const char *eq = strchr(o->labels[i], '=');
		_cleanup_free_ char *k =
			eq ? strndup(o->labels[i], eq - o->labels[i])
			   : base_strdup(o->labels[i]);
		if (!k || !k[0] || base_str_has_prefix(k, "org.berth."))
			return berr_setx(err, EINVAL,
					 "--label `%s`: expected KEY=VALUE, "
					 "KEY not org.berth.*",
					 o->labels[i]);
		set(ann, k, cJSON_CreateString(eq ? eq + 1 : ""));
	}
	set(ann, ENG_LAUNCH_ANNOTATION, cJSON_CreateString(id));
	if (ep)
		set(ann, ENG_ENDPOINT_ANNOTATION, cJSON_CreateString(ep->dir));
	if (o->image)
		set(ann, "org.opencontainers.image.ref.name",
		    cJSON_CreateString(o->image));
	char *json = cJSON_Print(cfg);
	if (!json)
		return berr_setx(err, ENOMEM, "print config.json");
	*out = base_sprintf("%s\n", json);
	free(json);
	return 0;
}
