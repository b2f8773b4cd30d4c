/* The pool of `berth par`: N worker containers made from one root
 * filesystem, each pinned to one CPU, each fed by the task queue whose
 * memfd it inherits as fd 3.
 *
 * Every worker is a real berth container under the pool's own state root
 * (<root>/par-<pid>, so `berth list --root` shows them) with a generated
 * config.json in <root>/par-<pid>/.bundles/w<i>. A helper process, forked
 * from berth, creates and starts it, waits for its init, deletes it and
 * reports back through a pipe:
 *
 *   berth ── helper w<i> ── container init (the agent, or the user's lib
 *                            program), PID 1 of its own pid namespace
 *
 * so that the workers start concurrently (a container's create spends
 * most of its time waiting: cgroup migrations, namespace set-up), berth
 * learns of a worker's end from its pipe, and the container init has a
 * parent that reaps it and accounts its CPU time (wait4).
 *
 * When berth dies, even by SIGKILL, the helpers get SIGTERM
 * (PR_SET_PDEATHSIG), kill and remove their containers, and the last one
 * removes the pool's cgroup and state root. A lib-mode program that
 * ignores its queue's end dies with its container. What a SIGKILL of
 * berth can leave is a container whose helper was killed too: `berth
 * --root <root>/par-<pid> delete -f w<i>` removes it. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroups/cgroups.h"
#include "dist/dist-par-internal.h"

enum { MSG_STARTED = 1, MSG_FAILED, MSG_EXITED };

/* One message from a helper; smaller than PIPE_BUF, so written at once. */
struct helper_msg {
	int32_t kind;
	int32_t status; /* MSG_EXITED: the init's wait status */
	int32_t pid;	/* MSG_STARTED: the init's pid */
	int32_t pad;
	uint64_t cpu_ns; /* MSG_EXITED: CPU time of the init and its
			    children */
	struct berr err; /* MSG_FAILED */
};

struct dp_pool {
	const struct dp_par_opts *o;
	struct rt_ctx ctx;   /* root = the pool's state root */
	char *root;	     /* <root>/par-<pid> */
	char *cg_path;	     /* the pool's cgroupsPath */
	struct cg_group *cg; /* the pool's cgroup */
	char *rootfs;	     /* absolute */
	char *image_dir;     /* --image: the mounted image (a bundle) */
	char *seccomp;	     /* the workers' linux.seccomp, JSON */
	char *seccomp_cache; /* <state root>/.cache/seccomp: compiled once,
			      * shared by every pool of the root */
	char **env;	     /* the workers' environment, less the ids */
	char *cwd;
	uint32_t uid, gid;
	bool has_tmp; /* the rootfs has /tmp: mount a tmpfs there */
	struct rlimit nofile;
	struct dq *q; /* the queue: its fd and each worker's own */
	pid_t coordinator;
	struct dp_worker *w;
	size_t n;
};

struct dp_worker *dp_pool_worker(struct dp_pool *p, size_t i)
{
	return &p->w[i];
}

size_t dp_pool_running(const struct dp_pool *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++)
		k += p->w[i].helper > 0;
	return k;
}

/* ---- the workers' config.json ------------------------------------------ */

static void json_strv(struct dp_buf *b, char *const *v)
{
	dp_buf_addc(b, '[');
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			dp_buf_addc(b, ',');
		dp_buf_json(b, v[i], strlen(v[i]));
	}
	dp_buf_addc(b, ']');
}

static void json_kv(struct dp_buf *b, const char *key, const char *val)
{
	dp_buf_printf(b, "\"%s\":", key);
	dp_buf_json(b, val, strlen(val));
}

static char **worker_args(const struct dp_pool *p)
{
	char **v = NULL;
	const struct dp_par_opts *o = p->o;
	if (o->mode == DP_MODE_LIB) {
		for (size_t i = 0; o->command[i]; i++)
			base_strv_push(&v, o->command[i]);
		return v;
	}
	base_strv_push(&v, DP_AGENT_PATH);
	base_strv_push(&v, o->mode == DP_MODE_LINE ? "line" : "exec");
	_cleanup_free_ char *ms =
		base_sprintf("%lld", (long long)(o->timeout * 1000.0 + 0.5));
	base_strv_push(&v, "--timeout-ms");
	base_strv_push(&v, ms);
	if (o->mode == DP_MODE_LINE) {
		base_strv_push(&v, "--");
		for (size_t i = 0; o->command[i]; i++)
			base_strv_push(&v, o->command[i]);
	}
	return v;
}

/* The workers' capabilities: what `berth spec` gives, and the seccomp
 * allow-list follows them. */
#define WORKER_CAPS_JSON                                                       \
	"[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]"
static char *const worker_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL",
				    "CAP_NET_BIND_SERVICE", NULL};

static void config_process(const struct dp_pool *p, size_t i, struct dp_buf *b)
{
	static const char caps[] = WORKER_CAPS_JSON;
	_cleanup_strv_ char **args = worker_args(p);
	_cleanup_strv_ char **env = NULL;
	for (size_t k = 0; p->env && p->env[k]; k++)
		base_strv_push(&env, p->env[k]);
	_cleanup_free_ char *fd = base_sprintf("%s=3", DQ_ENV_FD);
	_cleanup_free_ char *wfd = base_sprintf("%s=4", DQ_ENV_WORKER_FD);
	_cleanup_free_ char *id = base_sprintf("%s=%zu", DQ_ENV_WORKER, i);
	base_strv_push(&env, fd);
	base_strv_push(&env, wfd);
	base_strv_push(&env, id);

	dp_buf_printf(b,
		      "\"process\":{\"terminal\":false,\"user\":{\"uid\":%u,"
		      "\"gid\":%u},\"args\":",
		      p->uid, p->gid);
	json_strv(b, args);
	dp_buf_adds(b, ",\"env\":");
	json_strv(b, env);
	dp_buf_addc(b, ',');
	json_kv(b, "cwd", p->cwd);
	dp_buf_printf(b,
		      ",\"capabilities\":{\"bounding\":%s,\"effective\":%s,"
		      "\"permitted\":%s},",
		      caps, caps, caps);
	dp_buf_printf(b,
		      "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":%llu,"
		      "\"soft\":%llu}],\"noNewPrivileges\":true,",
		      (unsigned long long)p->nofile.rlim_max,
		      (unsigned long long)p->nofile.rlim_cur);
	/* A lib-mode worker runs its chunks' tasks in-process, on CPUs that
	 * berth's coordinator shares. As SCHED_BATCH, a worker woken for its
	 * next chunk does not preempt the coordinator mid-hand-out: it runs
	 * when the CPU is free or at the next tick. Measured: 10M empty
	 * tasks 0.61-0.66 s -> 0.54-0.56 s, make demo's work unchanged.
	 * Line mode's pipe round trips to the task came out 15% slower with
	 * it, and exec mode within noise: the agents keep the default. */
	if (p->o->mode == DP_MODE_LIB)
		dp_buf_adds(b, "\"scheduler\":{\"policy\":\"SCHED_BATCH\"},");
	dp_buf_printf(b, "\"execCPUAffinity\":{\"initial\":\"%d\"}}",
		      p->w[i].cpu);
}

static void mount_obj(struct dp_buf *b, const char *dst, const char *type,
		      const char *src, const char *opts)
{
	dp_buf_adds(b, ",{");
	json_kv(b, "destination", dst);
	dp_buf_addc(b, ',');
	json_kv(b, "type", type);
	dp_buf_addc(b, ',');
	json_kv(b, "source", src);
	dp_buf_adds(b, ",\"options\":[");
	for (const char *s = opts; *s;) {
		size_t k = strcspn(s, ",");
		if (s != opts)
			dp_buf_addc(b, ',');
		dp_buf_json(b, s, k);
		s += k + (s[k] == ',');
	}
	dp_buf_adds(b, "]}");
}

void dp_net_clear(struct dp_net *n)
{
	free(n->netns);
	free(n->hosts);
	free(n->hostname);
	free(n->resolv);
	free(n->annotation_key);
	free(n->annotation_value);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	*n = (struct dp_net){.lock_fd = -1};
}

static void config_mounts(const struct dp_pool *p, const struct dp_net *net,
			  struct dp_buf *b)
{
	dp_buf_adds(b, "\"mounts\":[{\"destination\":\"/proc\",\"type\":"
		       "\"proc\",\"source\":\"proc\"}");
	mount_obj(b, "/dev", "tmpfs", "tmpfs",
		  "nosuid,strictatime,mode=755,size=65536k");
	mount_obj(b, "/dev/pts", "devpts", "devpts",
		  "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5");
	mount_obj(b, "/dev/shm", "tmpfs", "shm",
		  "nosuid,noexec,nodev,mode=1777,size=65536k");
	mount_obj(b, "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev");
	mount_obj(b, "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro");
	mount_obj(b, "/sys/fs/cgroup", "cgroup", "cgroup",
		  "nosuid,noexec,nodev,relatime,ro");
	if (p->has_tmp)
		mount_obj(b, "/tmp", "tmpfs", "tmpfs",
			  "nosuid,nodev,mode=1777");
	if (p->o->mode != DP_MODE_LIB)
		mount_obj(b, DP_AGENT_PATH, "bind", p->o->agent,
			  "bind,ro,nosuid,nodev");
	for (size_t k = 0; p->o->volumes && p->o->volumes[k]; k++) {
		_cleanup_free_ char *v = base_strdup(p->o->volumes[k]);
		char *dst = strchr(v, ':');
		*dst++ = '\0';
		char *mode = strchr(dst, ':');
		if (mode)
			*mode++ = '\0';
		_cleanup_free_ char *src = realpath(v, NULL);
		mount_obj(b, dst, "bind", src ? src : v,
			  mode && !strcmp(mode, "ro") ? "rbind,ro"
						      : "rbind,rw");
	}
	const char *dst[] = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"};
	const char *src[] = {net ? net->hosts : NULL,
			     net ? net->hostname : NULL,
			     net ? net->resolv : NULL};
	for (size_t k = 0; k < 3; k++)
		if (src[k])
			mount_obj(b, dst[k], "bind", src[k], "rbind,rprivate");
	dp_buf_addc(b, ']');
}

static void config_linux(const struct dp_pool *p, size_t i,
			 const struct dp_net *net, struct dp_buf *b)
{
	const struct dp_par_opts *o = p->o;
	dp_buf_adds(b, "\"linux\":{");
	_cleanup_free_ char *cg = base_sprintf("%s/w%zu", p->cg_path, i);
	json_kv(b, "cgroupsPath", cg);
	dp_buf_printf(b,
		      ",\"resources\":{\"devices\":[{\"allow\":false,"
		      "\"access\":\"rwm\"}],\"cpu\":{\"cpus\":\"%d\"",
		      p->w[i].cpu);
	/* on a NUMA machine the worker's memory comes from its CPU's node */
	int nodes, node = dp_cpu_node(NULL, p->w[i].cpu, &nodes);
	if (node >= 0 && nodes > 1)
		dp_buf_printf(b, ",\"mems\":\"%d\"", node);
	dp_buf_addc(b, '}');
	if (o->memory > 0)
		dp_buf_printf(b, ",\"memory\":{\"limit\":%lld}",
			      (long long)o->memory);
	if (o->pids_limit > 0)
		dp_buf_printf(b, ",\"pids\":{\"limit\":%lld}",
			      (long long)o->pids_limit);
	dp_buf_adds(b,
		    "},\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},"
		    "{\"type\":\"uts\"},{\"type\":\"mount\"},"
		    "{\"type\":\"cgroup\"}");
	if (net && net->netns) {
		dp_buf_adds(b, ",{\"type\":\"network\",");
		json_kv(b, "path", net->netns);
		dp_buf_addc(b, '}');
	} else if (!o->network_host) {
		dp_buf_adds(b, ",{\"type\":\"network\"}");
	}
	dp_buf_adds(b,
		    "],\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\","
		    "\"/proc/kcore\",\"/proc/keys\",\"/proc/latency_stats\","
		    "\"/proc/timer_list\",\"/proc/timer_stats\","
		    "\"/proc/sched_debug\",\"/sys/firmware\",\"/proc/scsi\"],"
		    "\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\","
		    "\"/proc/irq\",\"/proc/sys\",\"/proc/sysrq-trigger\"]");
	if (p->seccomp)
		dp_buf_printf(b, ",\"seccomp\":%s", p->seccomp);
	dp_buf_addc(b, '}');
}

/* berth's security defaults (those of `berth spec`), read-only root,
 * pinned to the worker's CPU by its cpuset and by execCPUAffinity. */
char *dp_pool_config(const struct dp_pool *p, size_t i,
		     const struct dp_net *net)
{
	struct dp_buf b = {0};
	dp_buf_printf(&b, "{\"ociVersion\":\"%s\",", OCI_SPEC_VERSION);
	config_process(p, i, &b);
	dp_buf_adds(&b, ",\"root\":{");
	json_kv(&b, "path", p->rootfs);
	dp_buf_printf(&b, ",\"readonly\":true},\"hostname\":\"w%zu\",", i);
	config_mounts(p, net, &b);
	dp_buf_addc(&b, ',');
	config_linux(p, i, net, &b);
	if (net && net->annotation_key) {
		dp_buf_adds(&b, ",\"annotations\":{");
		json_kv(&b, net->annotation_key, net->annotation_value);
		dp_buf_addc(&b, '}');
	}
	dp_buf_adds(&b, "}\n");
	return b.p;
}

/* ---- opening the pool ---------------------------------------------------- */

static int check_volumes(const struct dp_par_opts *o, struct berr *err)
{
	for (size_t k = 0; o->volumes && o->volumes[k]; k++) {
		const char *v = o->volumes[k];
		const char *dst = strchr(v, ':');
		const char *mode = dst ? strchr(dst + 1, ':') : NULL;
		if (!dst || dst == v || dst[1] != '/' ||
		    (mode && strcmp(mode, ":ro") && strcmp(mode, ":rw")))
			return berr_setx(err, EINVAL,
					 "-v %s: expected HOST:CTR[:ro|:rw] "
					 "with an absolute CTR",
					 v);
		_cleanup_free_ char *host = strndup(v, (size_t)(dst - v));
		if (access(host, F_OK) < 0)
			return berr_set(err, errno, "-v %s: `%s`", v, host);
	}
	return 0;
}

/* The environment of the workers: the bundle's or a default PATH, then
 * -e K=V (a bare K takes berth's own value). */
static void build_env(struct dp_pool *p, char **bundle_env)
{
	if (bundle_env && bundle_env[0])
		for (size_t k = 0; bundle_env[k]; k++)
			base_strv_push(&p->env, bundle_env[k]);
	else
		base_strv_push(&p->env, "PATH=/usr/local/sbin:/usr/local/bin:"
					"/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t k = 0; p->o->env && p->o->env[k]; k++) {
		const char *e = p->o->env[k];
		if (strchr(e, '=')) {
			base_strv_push(&p->env, e);
		} else if (getenv(e)) {
			_cleanup_free_ char *kv =
				base_sprintf("%s=%s", e, getenv(e));
			base_strv_push(&p->env, kv);
		}
	}
}

static int resolve_root(struct dp_pool *p, struct berr *err)
{
	const struct dp_par_opts *o = p->o;
	_cleanup_(oci_config_freep) struct oci_config *cfg = NULL;
	_cleanup_free_ char *want = NULL;
	const char *bundle = p->image_dir ? p->image_dir : o->bundle;
	if (bundle) {
		int r = oci_config_load(bundle, &cfg, err);
		if (r < 0)
			return berr_wrap(err, "--bundle %s", bundle);
		if (!cfg->root.path)
			return berr_setx(err, EINVAL,
					 "--bundle %s: config.json has no "
					 "root.path",
					 bundle);
		want = cfg->root.path[0] == '/'
			       ? base_strdup(cfg->root.path)
			       : base_sprintf("%s/%s", bundle, cfg->root.path);
		if (cfg->has_process) {
			p->uid = cfg->process.user.uid;
			p->gid = cfg->process.user.gid;
			p->cwd = base_strdup(cfg->process.cwd);
		}
	} else {
		want = base_strdup(o->rootfs);
	}
	p->rootfs = realpath(want, NULL);
	struct stat st;
	if (!p->rootfs || stat(p->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return berr_set(err, p->rootfs ? ENOTDIR : errno,
				"root filesystem `%s`", want);
	_cleanup_free_ char *tmp = base_sprintf("%s/tmp", p->rootfs);
	p->has_tmp = lstat(tmp, &st) == 0 && S_ISDIR(st.st_mode);
	if (!p->cwd || p->cwd[0] != '/') {
		free(p->cwd);
		p->cwd = base_strdup("/");
	}
	build_env(p, cfg && cfg->has_process ? cfg->process.env : NULL);
	return 0;
}

/* A pool root of an earlier berth with our pid (killed, then its pid
 * reused) that holds no container any more. */
static bool stale_root(const struct rt_ctx *ctx, const char *root)
{
	struct rt_ctx c = *ctx;
	c.root = root;
	struct rt_list_entry *v = NULL;
	size_t n = 0;
	if (rt_list(&c, &v, &n, NULL) < 0)
		return false;
	rt_list_free(v, n);
	return n == 0;
}

static int make_dirs(struct dp_pool *p, const struct rt_ctx *ctx,
		     struct berr *err)
{
	const char *base = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	p->root = base_sprintf("%s/par-%d", base, (int)p->coordinator);
	int r = base_mkdir_p(AT_FDCWD, base, 0711);
	if (r < 0)
		return berr_set(err, -r, "state root %s", base);
	int made = mkdir(p->root, 0700);
	if (made < 0 && errno == EEXIST && stale_root(ctx, p->root)) {
		base_rm_rf_at(AT_FDCWD, p->root);
		made = mkdir(p->root, 0700);
	}
	if (made < 0) {
		int e = errno;
		free(p->root);
		p->root = NULL;
		return berr_set(err, e, "pool state root %s/par-%d", base,
				(int)p->coordinator);
	}
	_cleanup_free_ char *b = base_sprintf("%s/.bundles", p->root);
	if (mkdir(b, 0700) < 0)
		return berr_set(err, errno, "mkdir %s", b);
	p->ctx = *ctx;
	p->ctx.root = p->root;
	return 0;
}

int dp_pool_open(const struct rt_ctx *ctx, const struct dp_par_opts *o,
		 const int *cpus, size_t n, struct dq *q, struct dp_pool **out,
		 struct berr *err)
{
	struct dp_pool *p = base_calloc(1, sizeof(*p));
	p->o = o;
	p->q = q;
	p->coordinator = getpid();
	p->n = n;
	p->w = base_calloc(n, sizeof(*p->w));
	for (size_t i = 0; i < n; i++)
		p->w[i] = (struct dp_worker){
			.id = (uint32_t)i, .cpu = cpus[i], .fd = -1};
	getrlimit(RLIMIT_NOFILE, &p->nofile);
	const char *parent = o->cgroup_parent;
	p->cg_path = parent && *parent ? base_sprintf("%s/berth-par-%d", parent,
						      (int)p->coordinator)
				       : base_sprintf("%sberth-par-%d",
						      cg_default_parent(),
						      (int)p->coordinator);
	int r = check_volumes(o, err);
	if (r == 0 && o->image) {
		_cleanup_free_ char *name =
			base_sprintf("par-%d", (int)p->coordinator);
		/* a volume's mount point that the image lacks is made in
		 * the overlay's upper directory, as launch makes it; the
		 * workers still get the root read-only */
		struct rt_bundle_opts bo = {.store = o->store,
					    .image = o->image,
					    .name = name,
					    .writable =
						    o->volumes && *o->volumes};
		r = rt_bundle_make(&bo, &p->image_dir, NULL, err);
		if (r < 0)
			berr_wrap(err, "--image %s", o->image);
	}
	if (r == 0)
		r = resolve_root(p, err);
	if (r == 0)
		r = make_dirs(p, ctx, err);
	if (r == 0) {
		/* libseccomp takes about 20 ms for the default profile;
		 * entries are keyed by the whole profile text */
		p->seccomp_cache =
			base_sprintf("%s/.cache/seccomp",
				     ctx->root ? ctx->root : RT_DEFAULT_ROOT);
		r = rt_default_seccomp_json(worker_caps, p->seccomp_cache,
					    &p->seccomp, err);
	}
	if (r == 0 && (r = cg_create(p->cg_path, "pool", &p->cg, err)) < 0)
		berr_wrap(err, "pool cgroup");
	if (r < 0) {
		dp_pool_close(p, 0, NULL);
		return r;
	}
	*out = p;
	return 0;
}

/* ---- the helper: creates, starts, waits for and deletes one worker --------
 */

static volatile sig_atomic_t helper_term;

static void on_helper_term(int sig)
{
	(void)sig;
	helper_term = 1;
}

/* berth may be gone (SIGKILL): the write then fails with EPIPE, and the
 * SIGPIPE it raises must not kill the helper before it has removed its
 * worker. SIGPIPE is held only around the write, because the container
 * init inherits the helper's signal mask. */
static void helper_send(int fd, struct helper_msg *m)
{
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	if (base_write_all(fd, m, sizeof(*m)) < 0) {
		struct timespec zero = {0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static int write_bundle(const struct dp_pool *p, size_t i,
			const struct dp_net *net, char **bundle,
			struct berr *err)
{
	*bundle = base_sprintf("%s/.bundles/w%zu", p->root, i);
	if (mkdir(*bundle, 0700) < 0 && errno != EEXIST)
		return berr_set(err, errno, "mkdir %s", *bundle);
	_cleanup_free_ char *json = dp_pool_config(p, i, net);
	_cleanup_close_ int dfd =
		open(*bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? -errno
			: base_write_file_atomic(dfd, "config.json", json,
						 strlen(json), 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/config.json", *bundle);
	return 0;
}

/* Puts fd on target without O_CLOEXEC. */
static int fd_to(int fd, int target)
{
	if (fd == target)
		return fcntl(target, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

/* stdin from /dev/null, the queue as fd 3 and worker i's own region as
 * fd 4, without O_CLOEXEC; *msg_fd is moved out of the way first. No
 * other worker's region is passed: those fds are O_CLOEXEC. */
static int helper_fds(const struct dp_pool *p, size_t i, int *msg_fd,
		      struct berr *err)
{
	/* the --log file may sit on 3 or 4: it must not get the queue */
	if (blog_vacate_fd(3) < 0 || blog_vacate_fd(4) < 0)
		return berr_set(err, errno, "move the log file off fd 3 and 4");
	if (*msg_fd == 3 || *msg_fd == 4) {
		int fd = fcntl(*msg_fd, F_DUPFD_CLOEXEC, 5);
		if (fd < 0)
			return berr_set(err, errno, "dup message pipe");
		*msg_fd = fd;
	}
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0)
		return berr_set(err, errno, "open /dev/null");
	if (null != 0)
		close(null);
	int qfd = dq_fd(p->q), wfd = dq_worker_fd(p->q, (uint32_t)i);
	if (wfd == 3) {
		/* the queue's fd goes there: move this one first */
		wfd = fcntl(3, F_DUPFD_CLOEXEC, 5);
		if (wfd < 0)
			return berr_set(err, errno, "dup worker fd");
	}
	if (fd_to(qfd, 3) < 0)
		return berr_set(err, errno, "queue fd to 3");
	if (fd_to(wfd, 4) < 0)
		return berr_set(err, errno, "worker %zu region fd to 4", i);
	return 0;
}

/* With log_dir, the worker's own stdout and stderr (not its tasks': those
 * go through the queue) are kept in its files, appended across restarts. */
static int worker_logs(const struct dp_pool *p, size_t i, struct berr *err)
{
	const char *prefix = p->o->log_prefix ? p->o->log_prefix : "w";
	static const char *const ext[] = {"out", "err"};
	for (int k = 0; k < 2; k++) {
		_cleanup_free_ char *path = base_sprintf(
			"%s/%s.%zu.%s", p->o->log_dir, prefix, i, ext[k]);
		_cleanup_close_ int fd = open(
			path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd == k + 1 && fcntl(fd, F_SETFD, 0) == 0)
			fd = -1; /* it was closed: the file took its place */
		else if (fd < 0 || dup2(fd, k + 1) < 0)
			return berr_set(err, errno, "worker log %s", path);
	}
	return 0;
}

static int read_pid(const char *bundle, pid_t *pid)
{
	_cleanup_free_ char *path = base_sprintf("%s/init.pid", bundle);
	_cleanup_free_ char *s = NULL;
	int v, r = base_read_file_at(AT_FDCWD, path, &s, NULL, 64);
	if (r == 0 && (r = base_parse_int(s, &v)) == 0)
		*pid = v;
	unlink(path);
	return r;
}

/* The helper holds the worker's network (and its lock) until it exits. */
static struct dp_net helper_net = {.lock_fd = -1};

static int helper_start(const struct dp_pool *p, size_t i, const char *id,
			int *msg_fd, pid_t *pid, struct berr *err)
{
	_cleanup_free_ char *bundle = NULL;
	int r = 0;
	if (p->o->net_attach)
		r = p->o->net_attach(p->o->net_data, id, p->root, i,
				     &helper_net, err);
	if (r == 0)
		r = write_bundle(p, i, p->o->net_attach ? &helper_net : NULL,
				 &bundle, err);
	if (r == 0)
		r = helper_fds(p, i, msg_fd, err);
	if (r == 0 && p->o->log_dir)
		r = worker_logs(p, i, err);
	if (r < 0 && p->o->net_detach)
		p->o->net_detach(p->o->net_data, &helper_net);
	if (r < 0)
		return r;
	_cleanup_free_ char *pidf = base_sprintf("%s/init.pid", bundle);
	struct rt_create_opts co = {.bundle = bundle,
				    .pid_file = pidf,
				    .preserve_fds = 2,
				    .seccomp_cache = p->seccomp_cache};
	r = rt_create(&p->ctx, id, &co, err);
	if (r < 0)
		return berr_wrap(err, "create worker %s", id);
	if ((r = read_pid(bundle, pid)) < 0)
		berr_set(err, -r, "worker %s: read its pid file", id);
	if (r == 0 && (r = rt_start(&p->ctx, id, err)) < 0)
		berr_wrap(err, "start worker %s", id);
	if (r < 0)
		rt_delete(&p->ctx, id, true, NULL);
	if (r < 0 && p->o->net_detach)
		p->o->net_detach(p->o->net_data, &helper_net);
	return r;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000u +
	       (uint64_t)tv->tv_usec * 1000u;
}

/* Waits for the container's init; a SIGTERM (berth died, or berth asks)
 * kills it first. SIGTERM is blocked but inside ppoll(), so that it
 * cannot slip in between the check and the wait. */
static void wait_init(const struct dp_pool *p, const char *id, pid_t pid,
		      int *status, struct rusage *ru)
{
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	sigdelset(&old, SIGTERM);
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool killed = false;
	while (pfd >= 0) {
		if (helper_term && !killed) {
			rt_kill(&p->ctx, id, SIGKILL, false, NULL);
			killed = true;
		}
		struct pollfd pf = {.fd = pfd, .events = POLLIN};
		if (ppoll(&pf, 1, NULL, &old) > 0 || (errno != EINTR))
			break;
	}
	while (wait4(pid, status, 0, ru) < 0 && errno == EINTR)
		;
}

/* berth is gone: this helper removes its worker and, the last one to do
 * so, the pool's cgroup and state root. The pool root's lock orders the
 * helpers. */
static void orphan_cleanup(const struct dp_pool *p, size_t i, const char *id)
{
	_cleanup_close_ int fd =
		open(p->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		flock(fd, LOCK_EX);
	rt_delete(&p->ctx, id, true, NULL);
	_cleanup_free_ char *bundle =
		base_sprintf("%s/.bundles/w%zu", p->root, i);
	base_rm_rf_at(AT_FDCWD, bundle);
	struct rt_list_entry *v = NULL;
	size_t n = 0;
	if (rt_list(&p->ctx, &v, &n, NULL) < 0)
		return;
	rt_list_free(v, n);
	if (n)
		return;
	if (p->cg)
		cg_destroy(p->cg, NULL);
	if (p->image_dir)
		rt_bundle_remove(p->image_dir, NULL);
	base_rm_rf_at(AT_FDCWD, p->root);
}

__attribute__((noreturn)) static void helper_main(const struct dp_pool *p,
						  size_t i, int msg_fd)
{
	struct sigaction sa = {.sa_handler = on_helper_term};
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* berth's death, even by SIGKILL, removes the worker */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != p->coordinator)
		_exit(1);
	/* out of the terminal's process group: ^C goes to berth alone,
	 * which lets the running tasks finish */
	setpgid(0, 0);

	char id[32];
	snprintf(id, sizeof(id), "w%zu", i);
	struct helper_msg m = {.kind = MSG_STARTED};
	pid_t pid = 0;
	if (helper_start(p, i, id, &msg_fd, &pid, &m.err) < 0) {
		m.kind = MSG_FAILED;
		helper_send(msg_fd, &m);
		_exit(1);
	}
	m.pid = pid;
	helper_send(msg_fd, &m);

	int status = -1;
	struct rusage ru = {0};
	wait_init(p, id, pid, &status, &ru);
	m = (struct helper_msg){.kind = MSG_EXITED, .status = status};
	m.cpu_ns = tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime);
	if (getppid() != p->coordinator) {
		orphan_cleanup(p, i, id);
		_exit(0);
	}
	if (rt_delete(&p->ctx, id, true, &m.err) < 0)
		m.kind = MSG_FAILED;
	helper_send(msg_fd, &m);
	_exit(0);
}

pid_t dp_fork_reporting(int *fd, const char *what, struct berr *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return berr_set(err, e, "%s", what);
	}
	close(fds[pid == 0 ? 0 : 1]);
	*fd = fds[pid == 0 ? 1 : 0];
	return pid;
}

static int spawn_helper(struct dp_pool *p, size_t i, struct berr *err)
{
	struct dp_worker *w = &p->w[i];
	int fd;
	pid_t pid = dp_fork_reporting(&fd, "fork worker helper", err);
	if (pid < 0)
		return pid;
	if (pid == 0)
		helper_main(p, i, fd);
	w->helper = pid;
	w->fd = fd;
	w->up = false;
	w->init = 0;
	w->tasks = 0;
	w->starts++;
	return 0;
}

/* ---- the coordinator's side --------------------------------------------- */

/* Reads what helper i said; *ended when it is gone (it was waited for). */
static void read_helper(struct dp_pool *p, size_t i, struct dp_exit *ev,
			bool *ended)
{
	struct dp_worker *w = &p->w[i];
	struct helper_msg m;
	*ended = false;
	ssize_t n;
	while ((n = read(w->fd, &m, sizeof(m))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(m) && m.kind == MSG_STARTED) {
		w->up = true;
		w->init = m.pid;
		return;
	}
	*ev = (struct dp_exit){.index = i, .status = -1};
	if (n == (ssize_t)sizeof(m) && m.kind == MSG_EXITED) {
		ev->status = m.status;
		w->cpu_ns += m.cpu_ns;
	} else if (n == (ssize_t)sizeof(m) && m.kind == MSG_FAILED) {
		ev->start_failed = !w->up;
		ev->err = m.err;
	} else {
		ev->start_failed = !w->up;
		berr_setx(&ev->err, EIO, "worker w%zu: its helper died", i);
	}
	close(w->fd);
	w->fd = -1;
	while (waitpid(w->helper, NULL, 0) < 0 && errno == EINTR)
		;
	w->helper = 0;
	w->up = false;
	w->init = 0;
	*ended = true;
}

/* Polls the helpers' pipes for up to timeout_ms; 1 and *ev when one
 * ended. */
static int poll_helpers(struct dp_pool *p, int timeout_ms, struct dp_exit *ev)
{
	_cleanup_free_ struct pollfd *pf = base_calloc(p->n, sizeof(*pf));
	_cleanup_free_ size_t *idx = base_calloc(p->n, sizeof(*idx));
	nfds_t k = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->w[i].fd < 0)
			continue;
		pf[k] = (struct pollfd){.fd = p->w[i].fd, .events = POLLIN};
		idx[k++] = i;
	}
	if (k == 0)
		return 0;
	int r = poll(pf, k, timeout_ms);
	if (r <= 0)
		return 0;
	int got = 0;
	for (nfds_t j = 0; j < k && !got; j++) {
		if (!(pf[j].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		bool ended;
		read_helper(p, idx[j], ev, &ended);
		got = ended;
	}
	return got;
}

int dp_pool_reap(struct dp_pool *p, struct dp_exit *ev)
{
	return poll_helpers(p, 0, ev);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dp_describe_exit(const struct dp_exit *ev, char *buf, size_t len)
{
	int st = ev->status;
	if (ev->err.code)
		snprintf(buf, len, "%s", ev->err.msg);
	else if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127)
		snprintf(buf, len,
			 "worker w%zu exited with status 127: its command "
			 "was not found in the container",
			 ev->index);
	else if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 126)
		snprintf(buf, len,
			 "worker w%zu exited with status 126: its command "
			 "cannot be executed in the container",
			 ev->index);
	else if (st >= 0 && WIFEXITED(st))
		snprintf(buf, len, "worker w%zu exited with status %d",
			 ev->index, WEXITSTATUS(st));
	else if (st >= 0 && WIFSIGNALED(st))
		snprintf(buf, len, "worker w%zu was killed by signal %d",
			 ev->index, WTERMSIG(st));
	else
		snprintf(buf, len, "worker w%zu ended", ev->index);
}

int dp_pool_start_all(struct dp_pool *p, struct berr *err)
{
	int r = 0;
	for (size_t i = 0; i < p->n && r == 0; i++)
		r = spawn_helper(p, i, err);
	/* every worker reports "started" or fails; the first failure is the
	 * one the user sees */
	struct dp_exit ev;
	bool failed = r < 0;
	int64_t deadline = now_ms() + 60000;
	for (;;) {
		size_t up = 0;
		for (size_t i = 0; i < p->n; i++)
			up += p->w[i].up || p->w[i].helper <= 0;
		if (up == p->n)
			break;
		if (now_ms() > deadline && !failed) {
			failed = true;
			r = berr_setx(err, ETIMEDOUT,
				      "%zu of %zu workers did not start within "
				      "60 s",
				      p->n - up, p->n);
			break;
		}
		if (poll_helpers(p, 100, &ev) == 1 && !failed) {
			failed = true;
			*err = ev.err;
			if (!err->code) {
				char why[BERR_MSG_MAX];
				dp_describe_exit(&ev, why, sizeof(why));
				berr_setx(err, EIO, "%s", why);
			}
			r = -err->code;
		}
	}
	return failed ? (r < 0 ? r : -EIO) : 0;
}

int dp_pool_restart(struct dp_pool *p, size_t i, struct berr *err)
{
	return spawn_helper(p, i, err);
}

void dp_pool_kill_one(struct dp_pool *p, size_t i)
{
	char id[32];
	snprintf(id, sizeof(id), "w%zu", i);
	if (p->w[i].helper > 0 && p->w[i].up)
		rt_kill(&p->ctx, id, SIGKILL, false, NULL);
	else if (p->w[i].helper > 0)
		kill(p->w[i].helper, SIGTERM);
}

void dp_pool_kill(struct dp_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		dp_pool_kill_one(p, i);
}

/* Waits for every helper until deadline (ms, monotonic). */
static void wait_helpers(struct dp_pool *p, int64_t deadline)
{
	struct dp_exit ev;
	while (dp_pool_running(p) && now_ms() < deadline)
		poll_helpers(p, (int)(deadline - now_ms()), &ev);
}

/* Containers the helpers could not remove (a helper killed): force. */
static void delete_leftovers(struct dp_pool *p)
{
	struct rt_list_entry *v = NULL;
	size_t n = 0;
	if (rt_list(&p->ctx, &v, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		rt_delete(&p->ctx, v[i].id, true, NULL);
	rt_list_free(v, n);
}

void dp_pool_wait(struct dp_pool *p, int wait_ms)
{
	wait_helpers(p, now_ms() + wait_ms);
}

int dp_pool_close(struct dp_pool *p, int wait_ms, struct berr *err)
{
	if (!p)
		return 0;
	wait_helpers(p, now_ms() + wait_ms);
	if (dp_pool_running(p)) {
		dp_pool_kill(p);
		wait_helpers(p, now_ms() + 10000);
	}
	for (size_t i = 0; i < p->n; i++) {
		if (p->w[i].helper <= 0)
			continue;
		kill(p->w[i].helper, SIGKILL);
		while (waitpid(p->w[i].helper, NULL, 0) < 0 && errno == EINTR)
			;
		close(p->w[i].fd);
	}
	int r = 0;
	if (p->root) {
		delete_leftovers(p);
		int e = base_rm_rf_at(AT_FDCWD, p->root);
		if (e < 0)
			r = berr_set(err, -e, "remove %s", p->root);
	}
	if (p->cg) {
		struct berr cerr = {0};
		int e = cg_destroy(p->cg, &cerr);
		if (e < 0 && r == 0) {
			r = e;
			if (err)
				*err = cerr;
		}
	}
	if (p->image_dir) {
		struct berr ierr = {0};
		int e = rt_bundle_remove(p->image_dir, &ierr);
		if (e < 0 && r == 0) {
			r = e;
			if (err)
				*err = ierr;
		}
	}
	free(p->image_dir);
	free(p->seccomp);
	free(p->seccomp_cache);
	cg_group_free(p->cg);
	free(p->root);
	free(p->cg_path);
	free(p->rootfs);
	free(p->cwd);
	base_strv_free(p->env);
	free(p->w);
	free(p);
	return r;
}
