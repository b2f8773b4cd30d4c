/* A CNI 1.0 runner: finds a network's conflist, runs its plugins with
 * fork+exec (posix_spawn), chains their results and keeps the last one for
 * DEL and CHECK, as libcni does. Plugins are other programs: their output
 * is bounded, parsed as JSON and never trusted further than that. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "netns/netns-internal.h"

extern char **environ;

#define CNI_FILE_MAX (1u << 20) /* a conflist or a cached result */
#define CNI_OUT_MAX (1u << 20)	/* a plugin's stdout */
#define CNI_ERR_KEEP 1024	/* the tail of its stderr kept for errors */
#define CNI_TIMEOUT_MS 60000u

static void cjson_deletep(cJSON **j)
{
	if (*j)
		cJSON_Delete(*j);
}
#define _cleanup_cjson_ _cleanup_(cjson_deletep)

/* One ADD, DEL or CHECK: the options with defaults filled in, the
 * conflist and the path of each of its plugins. */
struct cni_run {
	const struct nsn_cni_opts *o;
	const char *conf_dirs, *plugin_dirs, *ifname, *netns;
	cJSON *list;	      /* the conflist, owned */
	cJSON *caps;	      /* capability arguments by name, owned */
	char **paths;	      /* each plugin's executable, NULL-terminated */
	const cJSON *plugins; /* list's "plugins" array */
	int n;
};

static void cni_run_done(struct cni_run *r)
{
	cJSON_Delete(r->list);
	cJSON_Delete(r->caps);
	base_strv_free(r->paths);
}

/* ---- versions, names ---------------------------------------------------- */

/* "1.0.0" as 10000; -1 when it is not a version. */
static long version_num(const char *v)
{
	unsigned a = 0, b = 0, c = 0;
	int n = 0;
	if (!v || sscanf(v, "%3u.%3u.%3u%n", &a, &b, &c, &n) != 3 ||
	    v[n] != '\0')
		return -1;
	return (long)a * 10000 + b * 100 + c;
}

/* A plugin type is a file name in a plugin directory. */
static bool type_ok(const char *t)
{
	if (!t || !*t || strlen(t) > 128 || !strcmp(t, ".") || !strcmp(t, ".."))
		return false;
	for (const char *p = t; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ"
			    "0123456789_.-",
			    *p))
			return false;
	return true;
}

/* A plugin's text for a one-line error: control bytes become '?'. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* ---- finding the conflist ----------------------------------------------- */

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && !strcmp(s + a - b, suf);
}

static int conflist_filter(const struct dirent *d)
{
	return has_suffix(d->d_name, ".conflist");
}

static int conf_filter(const struct dirent *d)
{
	return has_suffix(d->d_name, ".conf") || has_suffix(d->d_name, ".json");
}

/* Byte order, as Go's sort.Strings: not the locale's. */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* A single plugin's .conf as a list of one, as libcni's ConfListFromConf. */
static cJSON *conf_to_list(cJSON *conf)
{
	cJSON *list = cJSON_CreateObject();
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(conf, "cniVersion");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(conf, "name");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(list, "cniVersion", v->valuestring);
	if (cJSON_IsString(n))
		cJSON_AddStringToObject(list, "name", n->valuestring);
	cJSON *arr = cJSON_AddArrayToObject(list, "plugins");
	cJSON_AddItemToArray(arr, conf);
	return list;
}

/* The file dir/name as a conflist when its "name" is want, else NULL. */
static cJSON *conflist_try(const char *dir, const char *name, bool single,
			   const char *want, bool *unreadable)
{
	_cleanup_free_ char *path = base_sprintf("%s/%s", dir, name);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, &len, CNI_FILE_MAX) < 0) {
		*unreadable = true;
		return NULL;
	}
	_cleanup_cjson_ cJSON *doc = cJSON_ParseWithLength(text, len);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "name");
	if (!cJSON_IsObject(doc) || !cJSON_IsString(n)) {
		*unreadable = true;
		return NULL;
	}
	if (strcmp(n->valuestring, want))
		return NULL;
	return single ? conf_to_list(TAKE_PTR(doc)) : TAKE_PTR(doc);
}

/* Looks in dir for the network: its *.conflist files first, then *.conf
 * and *.json (single plugins), each in byte order, as libcni does. */
static cJSON *conflist_in_dir(const char *dir, const char *want,
			      bool *unreadable)
{
	cJSON *found = NULL;
	for (int pass = 0; pass < 2 && !found; pass++) {
		struct dirent **ents = NULL;
		int n = scandir(dir, &ents,
				pass ? conf_filter : conflist_filter, name_cmp);
		for (int i = 0; i < n; i++) {
			if (!found)
				found = conflist_try(dir, ents[i]->d_name, pass,
						     want, unreadable);
			free(ents[i]);
		}
		free(ents);
	}
	return found;
}

static int conflist_load(struct cni_run *r, struct berr *err)
{
	const char *name = r->o->network;
	_cleanup_free_ char *dirs = base_strdup(r->conf_dirs);
	bool unreadable = false;
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d && !r->list;
	     d = strtok_r(NULL, ":", &save))
		r->list = conflist_in_dir(d, name, &unreadable);
	if (!r->list)
		return berr_setx(err, ENOENT,
				 "CNI network %s: no configuration of that "
				 "name in %s%s",
				 name, r->conf_dirs,
				 unreadable ? " (some files there are not "
					      "readable JSON)"
					    : "");
	return 0;
}

/* ---- plugins ------------------------------------------------------------ */

static char *plugin_find(const char *dirs, const char *type)
{
	_cleanup_free_ char *copy = base_strdup(dirs);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", d, type);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0)
			return TAKE_PTR(p);
	}
	return NULL;
}

/* Checks the list and finds every plugin before any runs. */
static int plugins_resolve(struct cni_run *r, struct berr *err)
{
	const char *name = r->o->network;
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(r->list, "cniVersion");
	r->plugins = cJSON_GetObjectItemCaseSensitive(r->list, "plugins");
	if (!cJSON_IsString(v) || version_num(v->valuestring) < 0)
		return berr_setx(err, EINVAL,
				 "CNI network %s: no valid cniVersion", name);
	if (!cJSON_IsArray(r->plugins) || !cJSON_GetArraySize(r->plugins))
		return berr_setx(err, EINVAL, "CNI network %s: no plugins",
				 name);
	const cJSON *p;
	cJSON_ArrayForEach(p, r->plugins)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
		if (!cJSON_IsObject(p) || !cJSON_IsString(t) ||
		    !type_ok(t->valuestring))
			return berr_setx(err, EINVAL,
					 "CNI network %s: plugin %d has no "
					 "valid type",
					 name, r->n);
		_cleanup_free_ char *path =
			plugin_find(r->plugin_dirs, t->valuestring);
		if (!path)
			return berr_setx(err, ENOENT,
					 "CNI network %s: plugin %s not found "
					 "in %s",
					 name, t->valuestring, r->plugin_dirs);
		base_strv_push(&r->paths, path);
		r->n++;
	}
	return 0;
}

static const char *plugin_type(const struct cni_run *r, int i)
{
	const cJSON *p = cJSON_GetArrayItem(r->plugins, i);
	return cJSON_GetObjectItemCaseSensitive(p, "type")->valuestring;
}

/* Plugin i's stdin: its own object with the list's name and version, the
 * previous result, and the capability arguments it declares. */
static char *plugin_config(const struct cni_run *r, int i, const cJSON *prev)
{
	const cJSON *p = cJSON_GetArrayItem(r->plugins, i);
	_cleanup_cjson_ cJSON *c = cJSON_Duplicate(p, true);
	static const char *const keys[] = {"name", "cniVersion"};
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const cJSON *v =
			cJSON_GetObjectItemCaseSensitive(r->list, keys[k]);
		cJSON_DeleteItemFromObjectCaseSensitive(c, keys[k]);
		cJSON_AddItemToObject(c, keys[k], cJSON_Duplicate(v, true));
	}
	cJSON_DeleteItemFromObjectCaseSensitive(c, "prevResult");
	if (prev)
		cJSON_AddItemToObject(c, "prevResult",
				      cJSON_Duplicate(prev, true));
	cJSON_DeleteItemFromObjectCaseSensitive(c, "runtimeConfig");
	const cJSON *declared =
		cJSON_GetObjectItemCaseSensitive(p, "capabilities");
	cJSON *rt = NULL;
	const cJSON *cap;
	cJSON_ArrayForEach(cap, r->caps)
	{
		const cJSON *want =
			cJSON_GetObjectItemCaseSensitive(declared, cap->string);
		if (!cJSON_IsTrue(want))
			continue;
		if (!rt)
			rt = cJSON_AddObjectToObject(c, "runtimeConfig");
		cJSON_AddItemToObject(rt, cap->string,
				      cJSON_Duplicate(cap, true));
	}
	return cJSON_PrintUnformatted(c);
}

/* ---- running one plugin ------------------------------------------------- */

/* What a plugin printed: stdout whole (bounded), the tail of stderr. */
struct cni_out {
	char *out;
	size_t out_len;
	char err[CNI_ERR_KEEP + 1];
	size_t err_len;
	bool too_big;
};

/* berth's environment without CNI_* variables, then the plugin's own. */
static char **plugin_env(const struct cni_run *r, const char *cmd)
{
	char **env = NULL;
	for (char **e = environ; e && *e; e++)
		if (!base_str_has_prefix(*e, "CNI_"))
			base_strv_push(&env, *e);
	char *s[] = {
		base_sprintf("CNI_COMMAND=%s", cmd),
		base_sprintf("CNI_CONTAINERID=%s", r->o->container_id),
		base_sprintf("CNI_NETNS=%s", r->netns),
		base_sprintf("CNI_IFNAME=%s", r->ifname),
		base_sprintf("CNI_PATH=%s", r->plugin_dirs),
		r->o->args ? base_sprintf("CNI_ARGS=%s", r->o->args) : NULL,
	};
	for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
		if (s[i])
			base_strv_push(&env, s[i]);
		free(s[i]);
	}
	return env;
}

static void pipes_close(int p[3][2])
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0)
				close(p[i][j]);
}

/* Starts path with in/out/err pipes; the parent's ends stay in p. */
static int plugin_spawn(const char *path, char **env, int p[3][2], pid_t *pid)
{
	/* stdin is a socket: a plugin that exits without reading it makes
	 * send() fail with EPIPE, where write() to a pipe would raise
	 * SIGPIPE in berth */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p[0]) < 0)
		return -errno;
	for (int i = 1; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	char *argv[] = {(char *)path, NULL};
	int r = posix_spawn(pid, path, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	for (int i = 0; i < 3; i++) {
		close(p[i][i == 0 ? 0 : 1]);
		p[i][i == 0 ? 0 : 1] = -1;
	}
	return -r;
}

/* Reads what is there on fd into o (stdout when is_out); false at EOF. */
static bool drain(int fd, bool is_out, struct cni_out *o)
{
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (is_out) {
		if (o->out_len + (size_t)n > CNI_OUT_MAX) {
			o->too_big = true;
			return false;
		}
		o->out = base_realloc(o->out, o->out_len + (size_t)n + 1, 1);
		memcpy(o->out + o->out_len, buf, (size_t)n);
		o->out_len += (size_t)n;
		o->out[o->out_len] = '\0';
		return true;
	}
	/* keep the last CNI_ERR_KEEP bytes */
	size_t keep = (size_t)n >= CNI_ERR_KEEP ? 0 : CNI_ERR_KEEP - (size_t)n;
	if (o->err_len > keep) {
		memmove(o->err, o->err + o->err_len - keep, keep);
		o->err_len = keep;
	}
	size_t add = (size_t)n > CNI_ERR_KEEP ? CNI_ERR_KEEP : (size_t)n;
	memcpy(o->err + o->err_len, buf + n - add, add);
	o->err_len += add;
	o->err[o->err_len] = '\0';
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Feeds in to p's stdin and collects stdout and stderr until both close;
 * -ETIMEDOUT past timeout_ms, -EFBIG past CNI_OUT_MAX. */
static int plugin_talk(int p[3][2], const char *in, unsigned timeout_ms,
		       struct cni_out *o)
{
	size_t in_len = strlen(in), off = 0;
	int64_t end = now_ms() + timeout_ms;
	for (int i = 0; i < 3; i++)
		fcntl(p[i][i == 0 ? 1 : 0], F_SETFL, O_NONBLOCK);
	while (p[1][0] >= 0 || p[2][0] >= 0) {
		struct pollfd f[3] = {{p[0][1], POLLOUT, 0},
				      {p[1][0], POLLIN, 0},
				      {p[2][0], POLLIN, 0}};
		int64_t left = end - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(f, 3, (int)left) < 0 && errno != EINTR)
			return -errno;
		if (f[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = send(p[0][1], in + off, in_len - off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    off == in_len) {
				close(p[0][1]);
				p[0][1] = -1;
			}
		}
		for (int i = 1; i < 3; i++)
			if (f[i].revents && !drain(p[i][0], i == 1, o)) {
				close(p[i][0]);
				p[i][0] = -1;
			}
		if (o->too_big)
			return -EFBIG;
	}
	return 0;
}

static void cni_out_done(struct cni_out *o)
{
	free(o->out);
}

/* A failed plugin's message: its error JSON's msg (and details), else
 * the end of its stderr, else its exit status. */
static int plugin_error(const struct cni_run *r, int i, const char *cmd,
			const struct cni_out *o, int status, struct berr *err)
{
	_cleanup_cjson_ cJSON *e = o->out ? cJSON_Parse(o->out) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
	const cJSON *det = cJSON_GetObjectItemCaseSensitive(e, "details");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	_cleanup_free_ char *text = NULL;
	if (cJSON_IsString(msg) && cJSON_IsString(det) && *det->valuestring)
		text = base_sprintf("%s: %s", msg->valuestring,
				    det->valuestring);
	else if (cJSON_IsString(msg))
		text = base_strdup(msg->valuestring);
	else if (o->err_len)
		text = base_strdup(o->err);
	else if (WIFSIGNALED(status))
		text = base_sprintf("killed by signal %d", WTERMSIG(status));
	else
		text = base_sprintf("%s failed with exit status %d", cmd,
				    WEXITSTATUS(status));
	while (*text && strchr("\n ", text[strlen(text) - 1]))
		text[strlen(text) - 1] = '\0';
	one_line(text);
	int ec = cJSON_IsNumber(code) && code->valuedouble == 11 ? EAGAIN : EIO;
	return berr_setx(err, ec, "CNI network %s: plugin %s: %s",
			 r->o->network, plugin_type(r, i), text);
}

/* Runs plugin i for cmd with config on stdin; on ADD its result (a JSON
 * object) goes to *result. */
static int plugin_exec(const struct cni_run *r, int i, const char *cmd,
		       const cJSON *prev, cJSON **result, struct berr *err)
{
	_cleanup_free_ char *conf = plugin_config(r, i, prev);
	_cleanup_strv_ char **env = plugin_env(r, cmd);
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	pid_t pid = -1;
	struct cni_out o = {0};
	int ret = plugin_spawn(r->paths[i], env, p, &pid);
	if (ret < 0) {
		pipes_close(p);
		return berr_set(err, -ret, "CNI network %s: run plugin %s",
				r->o->network, r->paths[i]);
	}
	unsigned tmo = r->o->timeout_ms ? r->o->timeout_ms : CNI_TIMEOUT_MS;
	ret = plugin_talk(p, conf, tmo, &o);
	pipes_close(p);
	if (ret < 0)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (ret < 0) {
		cni_out_done(&o);
		return berr_set(err, -ret, "CNI network %s: plugin %s: %s",
				r->o->network, plugin_type(r, i),
				ret == -ETIMEDOUT ? "no answer" : "output");
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		ret = plugin_error(r, i, cmd, &o, st, err);
		cni_out_done(&o);
		return ret;
	}
	if (result) {
		*result =
			o.out ? cJSON_ParseWithLength(o.out, o.out_len) : NULL;
		if (!cJSON_IsObject(*result)) {
			cJSON_Delete(*result);
			*result = NULL;
			ret = berr_setx(err, EPROTO,
					"CNI network %s: plugin %s: its "
					"result is not a JSON object",
					r->o->network, plugin_type(r, i));
		}
	}
	cni_out_done(&o);
	return ret;
}

/* ---- the cache: what ADD did, for DEL and CHECK -------------------------- */

/* <cache_dir>/<network>@<container>@<ifname>.json: '@' is in none of
 * the three, so that two attachments never share a file. */
static char *cache_name(const struct cni_run *r)
{
	return base_sprintf("%s@%s@%s.json", r->o->network, r->o->container_id,
			    r->ifname);
}

static char *cache_path(const struct cni_run *r)
{
	_cleanup_free_ char *name = cache_name(r);
	return base_sprintf("%s/%s", r->o->cache_dir, name);
}

static int cache_write(const struct cni_run *r, const cJSON *result,
		       struct berr *err)
{
	_cleanup_cjson_ cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "kind", "berthCniCacheV1");
	cJSON_AddStringToObject(c, "network", r->o->network);
	cJSON_AddStringToObject(c, "containerId", r->o->container_id);
	cJSON_AddStringToObject(c, "ifName", r->ifname);
	cJSON_AddItemToObject(c, "config", cJSON_Duplicate(r->list, true));
	cJSON_AddItemToObject(c, "capabilityArgs",
			      cJSON_Duplicate(r->caps, true));
	cJSON_AddItemToObject(c, "result", cJSON_Duplicate(result, true));
	_cleanup_free_ char *text = cJSON_PrintUnformatted(c);
	_cleanup_free_ char *path = cache_path(r), *name = cache_name(r);
	_cleanup_close_ int dfd = -1;
	int ret = base_mkdir_p(AT_FDCWD, r->o->cache_dir, 0700);
	if (ret == 0) {
		dfd = open(r->o->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = dfd < 0 ? -errno : 0;
	}
	if (ret == 0)
		ret = base_write_file_atomic(dfd, name, text, strlen(text),
					     0600);
	if (ret < 0)
		return berr_set(err, -ret, "CNI network %s: write %s",
				r->o->network, path);
	return 0;
}

/* The cached entry, or NULL (-ENOENT) when there is none. */
static int cache_read(const struct cni_run *r, cJSON **out, struct berr *err)
{
	_cleanup_free_ char *path = cache_path(r);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int ret = base_read_file_at(AT_FDCWD, path, &text, &len, CNI_FILE_MAX);
	if (ret < 0)
		return ret == -ENOENT ? ret
				      : berr_set(err, -ret,
						 "CNI network %s: "
						 "read %s",
						 r->o->network, path);
	*out = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(*out) ||
	    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(*out, "config")))
		return berr_setx(err, EINVAL,
				 "CNI network %s: %s is not a berth CNI cache",
				 r->o->network, path);
	return 0;
}

/* ---- options --------------------------------------------------------------
 */

static cJSON *port_mappings(const struct nsn_cni_opts *o, struct berr *err)
{
	_cleanup_cjson_ cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < o->n_ports; i++) {
		const struct nsn_port_map *m = &o->ports[i];
		struct in_addr a;
		if ((m->proto != IPPROTO_TCP && m->proto != IPPROTO_UDP) ||
		    !m->host_port || !m->ctr_port ||
		    (m->host_ip && inet_pton(AF_INET, m->host_ip, &a) != 1)) {
			berr_setx(err, EINVAL,
				  "CNI network %s: port mapping %zu is "
				  "not valid",
				  o->network, i);
			return NULL;
		}
		cJSON *pm = cJSON_CreateObject();
		cJSON_AddNumberToObject(pm, "hostPort", m->host_port);
		cJSON_AddNumberToObject(pm, "containerPort", m->ctr_port);
		cJSON_AddStringToObject(pm, "protocol",
					m->proto == IPPROTO_TCP ? "tcp"
								: "udp");
		if (m->host_ip)
			cJSON_AddStringToObject(pm, "hostIP", m->host_ip);
		cJSON_AddItemToArray(arr, pm);
	}
	return TAKE_PTR(arr);
}

static int cni_run_init(struct cni_run *r, const struct nsn_cni_opts *o,
			struct berr *err)
{
	*r = (struct cni_run){.o = o};
	r->conf_dirs = o->conf_dirs ? o->conf_dirs : "/etc/cni/net.d";
	r->plugin_dirs =
		o->plugin_dirs ? o->plugin_dirs : "/usr/lib/cni:/opt/cni/bin";
	r->ifname = o->ifname ? o->ifname : "eth0";
	r->netns = o->netns_path ? o->netns_path : "";
	int ret = nsn_check_id(o->network, "CNI network name", err);
	if (ret == 0)
		ret = nsn_check_id(o->container_id, "container id", err);
	if (ret < 0)
		return ret;
	if (!nsn_ifname_ok(r->ifname))
		return berr_setx(err, EINVAL,
				 "CNI network %s: bad interface "
				 "name",
				 o->network);
	if (!o->cache_dir || !*o->cache_dir)
		return berr_setx(err, EINVAL,
				 "CNI network %s: no cache "
				 "directory",
				 o->network);
	if (strchr(r->netns, '\n') || (o->args && strchr(o->args, '\n')))
		return berr_setx(err, EINVAL,
				 "CNI network %s: bad netns "
				 "path or arguments",
				 o->network);
	r->caps = cJSON_CreateObject();
	if (o->n_ports) {
		cJSON *pm = port_mappings(o, err);
		if (!pm)
			return -EINVAL;
		cJSON_AddItemToObject(r->caps, "portMappings", pm);
	}
	return 0;
}

/* ---- the result -----------------------------------------------------------
 */

static void copy_addr(const cJSON *ip, char *addr, size_t alen, char *gw,
		      size_t glen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(ip, "address");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(ip, "gateway");
	struct nsn_cidr c;
	unsigned char buf[16];
	if (*addr || !cJSON_IsString(a) ||
	    nsn_cidr_parse(a->valuestring, &c, NULL) < 0)
		return;
	nsn_cidr_format(&c, addr, alen);
	if (cJSON_IsString(g) && inet_pton(c.family, g->valuestring, buf) == 1)
		inet_ntop(c.family, buf, gw, (socklen_t)glen);
}

static bool mac_ok(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2
			    ? s[i] != ':'
			    : !strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
			return false;
	return true;
}

/* The container's addresses and MAC from a result: the first IPv4 and
 * IPv6 address on an interface inside the container (one with a
 * "sandbox"), or on none named. */
static void result_fill(const cJSON *res, const char *ifname,
			struct nsn_cni_result *out)
{
	memset(out, 0, sizeof(*out));
	const cJSON *ifs = cJSON_GetObjectItemCaseSensitive(res, "interfaces");
	const cJSON *ip, *ips = cJSON_GetObjectItemCaseSensitive(res, "ips");
	cJSON_ArrayForEach(ip, ips)
	{
		const cJSON *idx =
			cJSON_GetObjectItemCaseSensitive(ip, "interface");
		const cJSON *itf = NULL, *sb = NULL;
		if (cJSON_IsNumber(idx)) {
			itf = cJSON_GetArrayItem(ifs, idx->valueint);
			sb = cJSON_GetObjectItemCaseSensitive(itf, "sandbox");
			if (!cJSON_IsString(sb) || !*sb->valuestring)
				continue;
		}
		const cJSON *a =
			cJSON_GetObjectItemCaseSensitive(ip, "address");
		bool v6 = cJSON_IsString(a) && strchr(a->valuestring, ':');
		if (v6)
			copy_addr(ip, out->ip6, sizeof(out->ip6), out->gw6,
				  sizeof(out->gw6));
		else
			copy_addr(ip, out->ip4, sizeof(out->ip4), out->gw4,
				  sizeof(out->gw4));
	}
	const cJSON *itf;
	cJSON_ArrayForEach(itf, ifs)
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(itf, "name");
		const cJSON *sb =
			cJSON_GetObjectItemCaseSensitive(itf, "sandbox");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(itf, "mac");
		if (cJSON_IsString(sb) && *sb->valuestring &&
		    cJSON_IsString(n) && !strcmp(n->valuestring, ifname) &&
		    cJSON_IsString(m) && mac_ok(m->valuestring))
			snprintf(out->mac, sizeof(out->mac), "%s",
				 m->valuestring);
	}
}

/* ---- ADD, DEL, CHECK --------------------------------------------------------
 */

/* DEL of plugins last..0 in reverse, with prev as prevResult: the undo of
 * a failed ADD, whose own error is the one reported. */
static void undo(const struct cni_run *r, int last, const cJSON *prev)
{
	for (int i = last; i >= 0; i--) {
		struct berr ignored = {0};
		if (plugin_exec(r, i, "DEL", prev, NULL, &ignored) < 0)
			blog_debug("%s", ignored.msg);
	}
}

static int cni_add(struct cni_run *r, struct nsn_cni_result *res,
		   struct berr *err)
{
	_cleanup_cjson_ cJSON *cached = NULL;
	_cleanup_free_ char *path = cache_path(r);
	int ret = cache_read(r, &cached, err);
	if (ret == 0)
		return berr_setx(err, EEXIST,
				 "CNI network %s: container %s is attached "
				 "as %s already (%s)",
				 r->o->network, r->o->container_id, r->ifname,
				 path);
	if (ret != -ENOENT)
		return ret;
	if (!*r->netns)
		return berr_setx(err, EINVAL,
				 "CNI network %s: no network namespace for "
				 "container %s",
				 r->o->network, r->o->container_id);
	if ((ret = conflist_load(r, err)) < 0 ||
	    (ret = plugins_resolve(r, err)) < 0)
		return ret;
	_cleanup_cjson_ cJSON *prev = NULL;
	for (int i = 0; i < r->n; i++) {
		cJSON *next = NULL;
		ret = plugin_exec(r, i, "ADD", prev, &next, err);
		if (ret < 0) {
			undo(r, i, prev);
			return ret;
		}
		cJSON_Delete(prev);
		prev = next;
	}
	ret = cache_write(r, prev, err);
	if (ret < 0) {
		undo(r, r->n - 1, prev);
		return ret;
	}
	if (res)
		result_fill(prev, r->ifname, res);
	return 0;
}

int nsn_cni_add(const struct nsn_cni_opts *o, struct nsn_cni_result *res,
		struct berr *err)
{
	struct cni_run r;
	int ret = cni_run_init(&r, o, err);
	if (ret == 0)
		ret = cni_add(&r, res, err);
	cni_run_done(&r);
	return ret;
}

/* Takes the conflist and capability arguments the ADD used from the
 * cache entry c, so that DEL works after the conflist changed or went. */
static void use_cached(struct cni_run *r, cJSON *c)
{
	r->list = cJSON_DetachItemFromObjectCaseSensitive(c, "config");
	cJSON *caps =
		cJSON_DetachItemFromObjectCaseSensitive(c, "capabilityArgs");
	if (cJSON_IsObject(caps)) {
		cJSON_Delete(r->caps);
		r->caps = caps;
	} else {
		cJSON_Delete(caps);
	}
}

static int cni_del(struct cni_run *r, struct berr *err)
{
	_cleanup_cjson_ cJSON *cached = NULL;
	int ret = cache_read(r, &cached, err);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	if (cached) {
		use_cached(r, cached);
	} else {
		/* never added, or the cache is gone: DEL what the conflist
		 * says, as libcni does; no conflist, nothing to do */
		struct berr ignored = {0};
		if (conflist_load(r, &ignored) < 0)
			return 0;
	}
	if ((ret = plugins_resolve(r, err)) < 0)
		return ret;
	const cJSON *prev = cJSON_GetObjectItemCaseSensitive(cached, "result");
	int first = 0;
	for (int i = r->n - 1; i >= 0; i--) {
		struct berr e = {0};
		ret = plugin_exec(r, i, "DEL", prev, NULL, &e);
		if (ret < 0 && !first) {
			first = ret;
			*err = e;
		}
	}
	if (first < 0)
		return first;
	_cleanup_free_ char *path = cache_path(r);
	if (unlink(path) < 0 && errno != ENOENT)
		return berr_set(err, errno, "CNI network %s: remove %s",
				r->o->network, path);
	return 0;
}

int nsn_cni_del(const struct nsn_cni_opts *o, struct berr *err)
{
	struct cni_run r;
	int ret = cni_run_init(&r, o, err);
	if (ret == 0)
		ret = cni_del(&r, err);
	cni_run_done(&r);
	return ret;
}

static int cni_check(struct cni_run *r, struct berr *err)
{
	_cleanup_cjson_ cJSON *cached = NULL;
	int ret = cache_read(r, &cached, err);
	if (ret == -ENOENT)
		return berr_setx(err, ENOENT,
				 "CNI network %s: container %s is not "
				 "attached as %s",
				 r->o->network, r->o->container_id, r->ifname);
	if (ret < 0)
		return ret;
	use_cached(r, cached);
	if ((ret = plugins_resolve(r, err)) < 0)
		return ret;
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(r->list, "cniVersion");
	if (version_num(v->valuestring) < 400)
		return berr_setx(err, ENOTSUP,
				 "CNI network %s: version %s has no CHECK",
				 r->o->network, v->valuestring);
	if (cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(r->list, "disableCheck")))
		return 0;
	const cJSON *prev = cJSON_GetObjectItemCaseSensitive(cached, "result");
	for (int i = 0; i < r->n; i++)
		if ((ret = plugin_exec(r, i, "CHECK", prev, NULL, err)) < 0)
			return ret;
	return 0;
}

int nsn_cni_check(const struct nsn_cni_opts *o, struct berr *err)
{
	struct cni_run r;
	int ret = cni_run_init(&r, o, err);
	if (ret == 0)
		ret = cni_check(&r, err);
	cni_run_done(&r);
	return ret;
}
