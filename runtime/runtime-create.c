/* create: the parent side of setting up a container.
 *
 * berth clones the init directly (no re-exec of its own binary). The init
 * inherits the parsed config, joins or creates namespaces, builds the root
 * filesystem and blocks on start.sock. The parent places it in its cgroup,
 * writes its id maps, runs the runtime-namespace hooks and records the
 * state. Any failure kills the init and removes everything made so far.
 *
 * Without a user namespace the two sides overlap: on cgroup v1 and hybrid
 * hosts the init is cloned first (into its cgroup2 directory, on hybrid)
 * and creates its namespaces and most of its mounts while the parent
 * creates the v1 groups. The init then moves itself into them through
 * fds the parent passes with GO: a thread moving itself skips the wait
 * for an RCU grace period (5-20 ms on a quiet host) that the parent's
 * move of another process takes (cg_open_join_fds()). On v2 the cgroup
 * comes first, so that clone3 starts the init inside it. */
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Everything create made, so that a failure can undo it in one place. */
struct create_job {
	const struct rt_ctx *ctx;
	const char *id;
	const struct rt_create_opts *opts;
	struct oci_config *config;
	struct rt_container *c;
	struct cg_group *cg;
	char *bundle, *rootfs;
	char *config_raw; /* config.json as read and parsed */
	size_t config_len;
	int ns_fds[OCI_NS__COUNT];
	int sync_fd;  /* parent end */
	int start_fd; /* listening start.sock */
	int console_fd;
	int listener_fd;	    /* seccomp notify listener, connected here
				     * where its path is reachable */
	int console_peer;	    /* run's own end when it proxies the pty */
	struct rt_handoff *handoff; /* run: the init execs once recorded */
	pid_t pid;
	int pidfd;
	bool cloned_into; /* clone3 placed the init in its cgroup(2 dir) */
	bool self_join;	  /* the init joins the rest itself (early, v1) */
	bool cg_shared;	  /* the cgroup had processes of others: a failed
			   * create kills none of them */
};

/* Without a mount entry the container runs in berth's own mount namespace
 * (the spec's rule for a type not listed), on the host's root, as runc
 * runs it. Nothing may then be mounted, masked or made read-only: it
 * would be the host's. */
static int check_host_mounts(const struct oci_config *cfg, struct berr *err)
{
	if (rt_ns_find(cfg, OCI_NS_MOUNT))
		return 0;
	const char *what = NULL;
	if (cfg->n_mounts)
		what = "mounts";
	else if (cfg->linux_.masked_paths && cfg->linux_.masked_paths[0])
		what = "linux.maskedPaths";
	else if (cfg->linux_.readonly_paths && cfg->linux_.readonly_paths[0])
		what = "linux.readonlyPaths";
	else if (cfg->root.readonly)
		what = "root.readonly";
	if (!what)
		return 0;
	return berr_setx(err, EINVAL,
			 "config.json: %s needs a mount namespace of the "
			 "container's own (without a mount entry the "
			 "container runs in the host's)",
			 what);
}

static int validate_config(struct create_job *j, struct berr *err)
{
	struct oci_config *cfg = j->config;
	if (!cfg->has_process || !cfg->process.args || !cfg->process.args[0])
		return berr_setx(err, EINVAL,
				 "config.json: process.args must "
				 "not be empty");
	if (!cfg->root.path)
		return berr_setx(err, EINVAL,
				 "config.json: root.path is "
				 "required");
	if (cfg->linux_.has_intel_rdt)
		return berr_setx(err, EOPNOTSUPP,
				 "config.json: linux.intelRdt "
				 "is not supported");
	int r = check_host_mounts(cfg, err);
	if (r < 0)
		return r;
	/* a UTS namespace joined by path gets the name too, as with runc */
	if (cfg->hostname && *cfg->hostname && !rt_ns_find(cfg, OCI_NS_UTS))
		return berr_setx(err, EINVAL,
				 "config.json: cannot set hostname without a "
				 "UTS namespace of the container's own");
	if (cfg->process.terminal && !j->opts->console_socket &&
	    !(j->handoff && j->handoff->proxy))
		return berr_setx(err, EINVAL,
				 "process.terminal is true: "
				 "--console-socket is required");
	const struct oci_seccomp *sc = rt_seccomp_of(cfg);
	if (sc && rt_seccomp_prepare(sc, j->opts->seccomp_cache, err) < 0)
		return berr_wrap(err, "config.json");
	if (rt_lsm_check(cfg, err) < 0 || rt_personality_check(cfg, err) < 0)
		return berr_wrap(err, "config.json");
	r = rt_sysctl_check(cfg, err);
	if (r < 0)
		return r;
	const struct oci_namespace *user = rt_ns_find(cfg, OCI_NS_USER);
	if (user && !user->path &&
	    (!cfg->linux_.n_uid_mappings || !cfg->linux_.n_gid_mappings))
		return berr_setx(err, EINVAL,
				 "config.json: a new user namespace "
				 "needs linux.uidMappings and gidMappings");
	return 0;
}

/* The systemd driver needs systemd as PID 1 to own the scope; without it
 * the path "slice:prefix:name" means nothing. Checked before anything is
 * made (cg_create_systemd checks again). */
static int check_systemd(const struct create_job *j, struct berr *err)
{
	if (!j->ctx->systemd_cgroup || access("/run/systemd/system", F_OK) == 0)
		return 0;
	return berr_setx(err, ENOTSUP,
			 "--systemd-cgroup: systemd is "
			 "not running as PID 1 on this host; use the "
			 "cgroupfs driver (drop the flag)");
}

static int resolve_paths(struct create_job *j, struct berr *err)
{
	const char *b = j->opts->bundle ? j->opts->bundle : ".";
	j->bundle = realpath(b, NULL);
	if (!j->bundle)
		return berr_set(err, errno, "bundle `%s`", b);
	int r = oci_config_load_raw(j->bundle, &j->config, &j->config_raw,
				    &j->config_len, err);
	if (r < 0)
		return r;
	if ((r = check_systemd(j, err)) < 0)
		return r;
	if ((r = validate_config(j, err)) < 0)
		return r;
	_cleanup_free_ char *root =
		j->config->root.path[0] == '/'
			? base_strdup(j->config->root.path)
			: base_sprintf("%s/%s", j->bundle,
				       j->config->root.path);
	j->rootfs = realpath(root, NULL);
	if (!j->rootfs)
		return berr_set(err, errno, "rootfs `%s`", root);
	struct stat st;
	if (stat(j->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return berr_setx(err, ENOTDIR, "rootfs `%s`: not a directory",
				 j->rootfs);
	return 0;
}

static void fill_state(struct create_job *j)
{
	struct oci_state *s = base_calloc(1, sizeof(*s));
	s->oci_version = base_strdup(OCI_SPEC_VERSION);
	s->id = base_strdup(j->id);
	s->status = OCI_STATUS_CREATING;
	s->bundle = base_strdup(j->bundle);
	s->rootfs = base_strdup(j->rootfs);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char when[64];
	base_rfc3339(&ts, when, sizeof(when));
	s->created = base_strdup(when);
	s->owner = base_strdup("");
	s->systemd_cgroup = j->ctx->systemd_cgroup;
	s->hooks_known = true;
	s->has_poststart = j->config->hooks.poststart.n > 0;
	s->has_poststop = j->config->hooks.poststop.n > 0;
	s->n_annotations = j->config->n_annotations;
	s->annotations = base_calloc(s->n_annotations, sizeof(struct oci_kv));
	for (size_t i = 0; i < s->n_annotations; i++) {
		s->annotations[i].key =
			base_strdup(j->config->annotations[i].key);
		s->annotations[i].value =
			base_strdup(j->config->annotations[i].value);
	}
	j->c->state = s;
}

/* Keeps the config as create saw it, the bytes it parsed: delete runs the
 * poststop hooks from it even when the bundle is gone. */
static int copy_config(struct create_job *j, struct berr *err)
{
	int r = base_write_file_atomic(j->c->dirfd, "config.json",
				       j->config_raw, j->config_len, 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/config.json", j->c->dir);
	j->c->state->config_path = base_sprintf("%s/config.json", j->c->dir);
	return 0;
}

static int listen_start_socket(struct create_job *j, struct berr *err)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "start socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* through the dir fd: <root>/<id>/start.sock may exceed sun_path */
	snprintf(sa.sun_path, sizeof(sa.sun_path),
		 "/proc/self/fd/%d/start.sock", j->c->dirfd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return berr_set(err, e, "bind %s/start.sock", j->c->dir);
	}
	j->start_fd = fd;
	return 0;
}

static bool user_joined(const struct oci_config *cfg)
{
	const struct oci_namespace *u = rt_ns_find(cfg, OCI_NS_USER);
	return u && u->path;
}

/* New namespaces to create with clone3; the rest the init unshares. */
static uint64_t new_ns_flags(const struct oci_config *cfg)
{
	uint64_t f = 0;
	for (size_t i = 0; i < cfg->linux_.n_namespaces; i++) {
		const struct oci_namespace *ns = &cfg->linux_.namespaces[i];
		/* cgroup: unshared by the init once it sits in its cgroup;
		 * time: the parent unshares it to write the offsets first */
		if (ns->path || ns->type == OCI_NS_CGROUP ||
		    ns->type == OCI_NS_TIME)
			continue;
		f |= (uint64_t)rt_ns_clone_flag(ns->type);
	}
	return f;
}

static int write_time_offsets(const struct oci_linux *l, struct berr *err)
{
	char buf[128];
	size_t n = 0;
	if (l->time_monotonic.present)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "monotonic %lld %u\n",
				      (long long)l->time_monotonic.secs,
				      l->time_monotonic.nanosecs);
	if (l->time_boottime.present)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "boottime %lld %u\n",
				      (long long)l->time_boottime.secs,
				      l->time_boottime.nanosecs);
	if (n == 0)
		return 0;
	int r = base_write_file_at(AT_FDCWD, "/proc/self/timens_offsets", buf,
				   n, 0);
	if (r < 0)
		return berr_set(err, -r, "write /proc/self/timens_offsets");
	return 0;
}

/* pid and time namespaces apply to the children of the caller: enter them
 * around the clone and come back, so that the hooks berth runs later stay
 * in the runtime's namespaces. saved[] holds our own to return to. */
static int enter_child_namespaces(struct create_job *j, int saved[2],
				  struct berr *err)
{
	const struct oci_namespace *pid = rt_ns_find(j->config, OCI_NS_PID);
	const struct oci_namespace *tns = rt_ns_find(j->config, OCI_NS_TIME);
	if (pid && pid->path) {
		saved[0] = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
		if (saved[0] < 0 ||
		    setns(j->ns_fds[OCI_NS_PID], CLONE_NEWPID) < 0)
			return berr_set(err, errno, "join pid namespace `%s`",
					pid->path);
	}
	if (!tns)
		return 0;
	saved[1] = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	if (saved[1] < 0)
		return berr_set(err, errno, "open /proc/self/ns/time");
	if (tns->path) {
		if (setns(j->ns_fds[OCI_NS_TIME], CLONE_NEWTIME) < 0)
			return berr_set(err, errno, "join time namespace `%s`",
					tns->path);
		return 0;
	}
	if (unshare(CLONE_NEWTIME) < 0)
		return berr_set(err, errno, "create time namespace");
	return write_time_offsets(&j->config->linux_, err);
}

static void leave_child_namespaces(int saved[2])
{
	if (saved[0] >= 0)
		(void)setns(saved[0], CLONE_NEWPID);
	if (saved[1] >= 0)
		(void)setns(saved[1], CLONE_NEWTIME);
	for (int i = 0; i < 2; i++)
		if (saved[i] >= 0)
			close(saved[i]);
}

/* clone3 is fork-like without a stack: the child returns 0 here. It gives
 * a pidfd at once (pidfd may be NULL) and, given a cgroup2 directory,
 * starts the child there; *placed says whether it did. A kernel without
 * CLONE_INTO_CGROUP or clone3 gets a plain clone, placed nowhere. */
pid_t rt_clone(uint64_t flags, int cgfd, int *pidfd, bool *placed)
{
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.flags = flags | (pidfd ? CLONE_PIDFD : 0);
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = SIGCHLD;
	if (cgfd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgfd;
	}
	*placed = cgfd >= 0;
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && cgfd >= 0 &&
	    (errno == EINVAL || errno == E2BIG || errno == ENOSYS))
		return rt_clone(flags, -1, pidfd, placed);
	if (pid < 0 && errno == ENOSYS) {
		pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD,
				     0, NULL, NULL, 0);
		if (pid > 0 && pidfd)
			*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	}
	return pid;
}

/* The init sets up its namespaces and mounts before it is in its cgroup
 * unless a user namespace makes it wait for its id maps. */
static bool init_starts_early(const struct oci_config *cfg)
{
	return !rt_ns_find(cfg, OCI_NS_USER);
}

static int spawn_init(struct create_job *j, struct berr *err)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return berr_set(err, errno, "socketpair");
	const struct oci_namespace *cgns = rt_ns_find(j->config, OCI_NS_CGROUP);
	const struct oci_namespace *user = rt_ns_find(j->config, OCI_NS_USER);
	struct rt_init_args a = {
		.config = j->config,
		.opts = j->opts,
		.id = j->id,
		.rootfs = j->rootfs,
		.bundle = j->bundle,
		.sync_fd = sp[1],
		.parent_sync_fd = sp[0],
		.start_fd = j->start_fd,
		.console_fd = j->console_fd,
		.listener_fd = j->listener_fd,
		.lock_fd = j->c->dirfd,
		.new_cgroupns = cgns && !cgns->path,
		.new_userns = user && !user->path,
		.early = init_starts_early(j->config),
		.state = j->c->state,
		.parent_cpu = sched_getcpu(),
	};
	memcpy(a.ns_fds, j->ns_fds, sizeof(a.ns_fds));
	uint64_t flags = new_ns_flags(j->config);
	/* the init unshares them itself: after joining a user namespace, or
	 * early, on another CPU than the parent's cgroup work */
	if (user_joined(j->config) || a.early) {
		a.unshare_flags = flags & ~(uint64_t)CLONE_NEWPID;
		flags &= CLONE_NEWPID;
	}
	_cleanup_close_ int cgfd = -1;
	if (j->cg)
		cgfd = j->self_join ? cg_open_v2_clone_fd(j->cg, NULL)
				    : cg_open_clone_fd(j->cg, NULL);
	int saved[2] = {-1, -1};
	int r = enter_child_namespaces(j, saved, err);
	if (r < 0) {
		leave_child_namespaces(saved);
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	j->pidfd = -1;
	bool placed = false;
	pid_t pid = rt_clone(flags, cgfd, &j->pidfd, &placed);
	if (pid == 0)
		rt_init_main(&a);
	int e = errno;
	leave_child_namespaces(saved);
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return berr_set(err, e, "clone container init");
	}
	j->pid = pid;
	j->sync_fd = sp[0];
	j->cloned_into = placed;
	return 0;
}

/* The init's set-up races with the parent's work. Where the init has
 * already failed, its error is the cause and replaces ours (a handshake
 * that failed because the init had exited, a reset connection). */
static int prefer_init_error(struct create_job *j, int r, struct berr *err)
{
	if (j->sync_fd >= 0 && rt_sync_take_error(j->sync_fd, err) < 0)
		return -(err->code > 0 ? err->code : EIO);
	return r;
}

/* Records the container's cgroup on its directory before any of the
 * group's directories exists (rt_record_cgroup()), so that `delete -f`
 * removes what a create killed at any later point made. The state itself
 * is written while the init sets itself up. The systemd driver learns its
 * path with the scope, which systemd removes with its processes. */
static int record_cgroup(struct create_job *j, struct berr *err)
{
	if (j->ctx->systemd_cgroup)
		return 0;
	int r = cg_resolve(j->config->linux_.cgroups_path, j->id, &j->cg, err);
	if (r < 0)
		return r;
	return rt_record_cgroup(j->c, cg_path(j->cg), err);
}

/* A frozen cgroup would stop the init as it joins, and create would wait
 * for it forever: refused, as runc refuses it. Processes already there
 * are someone else's: a warning, and a failed create leaves them be. */
static int check_cgroup_free(struct create_job *j, struct berr *err)
{
	bool frozen = false;
	if (cg_is_frozen(j->cg, &frozen, NULL) == 0 && frozen) {
		j->cg_shared = true;
		return berr_setx(err, EBUSY,
				 "cgroup %s is frozen: thaw it, or give "
				 "another linux.cgroupsPath",
				 cg_path(j->cg));
	}
	/* a group made here holds nobody else: no read on the start path */
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	if (cg_is_new(j->cg) || cg_procs(j->cg, &pids, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pids[i] != j->pid)
			j->cg_shared = true;
	if (j->cg_shared)
		blog_warn("cgroup %s already has processes: the container "
			  "shares it with them",
			  cg_path(j->cg));
	return 0;
}

/* Creates the cgroup with its limits and records it in the state before
 * any process is in it. */
static int make_cgroup(struct create_job *j, struct berr *err)
{
	int r;
	if (j->ctx->systemd_cgroup)
		r = cg_create_systemd(j->config->linux_.cgroups_path, j->id,
				      j->pid, &j->cg, err);
	else
		r = cg_create_finish(j->cg, err);
	if (r < 0 || (r = check_cgroup_free(j, err)) < 0)
		return r;
	free(j->c->state->cgroup_path);
	j->c->state->cgroup_path = base_strdup(cg_path(j->cg));
	if ((r = rt_resources_setup(j->cg, j->config, err)) < 0)
		return r;
	return rt_container_save(j->c, err);
}

/* In a new user namespace the init is no longer the host's root: a bind
 * source below a directory only that root may search would be out of its
 * reach. So create opens every source, as the host's root, through the
 * init's root (/proc/PID/root, which resolves in the init's mount
 * namespace, where the fd must be for the mount), and sends them after
 * GO, as runc opens them for its init. */
static int flush_sources(int sync_fd, int *fds, size_t *n, struct berr *err)
{
	int r = *n ? rt_sync_send_fds(sync_fd, RT_SYNC_SOURCES, 0, fds, *n) : 0;
	cg_close_fds(fds, n);
	return r < 0 ? berr_set(err, -r, "container init handshake") : 0;
}

static int send_bind_sources(struct create_job *j, struct berr *err)
{
	const struct oci_config *c = j->config;
	int fds[BASE_MAX_FDS];
	size_t n = 0;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct oci_mount *m = &c->mounts[i];
		if (!rt_bind_source_from_parent(c, m))
			continue;
		bool rel = m->source[0] != '/';
		_cleanup_free_ char *p = base_sprintf(
			"/proc/%d/root%s%s%s", (int)j->pid,
			rel ? j->bundle : "", rel ? "/" : "", m->source);
		int fd = open(p, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			cg_close_fds(fds, &n);
			return berr_set(err, e, "mount `%s` on `%s`", m->source,
					m->destination);
		}
		fds[n++] = fd;
		int r = n == ARRAY_SIZE(fds)
				? flush_sources(j->sync_fd, fds, &n, err)
				: 0;
		if (r < 0)
			return r;
	}
	return flush_sources(j->sync_fd, fds, &n, err);
}

/* Puts the init in its cgroup, writes its id maps and lets it go on. */
static int release_init(struct create_job *j, struct berr *err)
{
	int fds[BASE_MAX_FDS];
	size_t n = 0;
	int r = 0;
	if (j->self_join)
		r = cg_open_join_fds(j->cg, j->cloned_into, fds,
				     ARRAY_SIZE(fds), &n, err);
	else if (!j->cloned_into)
		r = cg_attach(j->cg, j->pid, err);
	const struct oci_namespace *user = rt_ns_find(j->config, OCI_NS_USER);
	if (r == 0 && user && !user->path)
		r = rt_ns_write_idmaps(j->pid, &j->config->linux_, err);
	if (r == 0 &&
	    (r = rt_sync_send_fds(j->sync_fd, RT_SYNC_GO, j->pid, fds, n)) < 0)
		r = berr_set(err, -r, "container init handshake");
	cg_close_fds(fds, &n);
	if (r == 0)
		r = send_bind_sources(j, err);
	return r < 0 ? prefer_init_error(j, r, err) : 0;
}

static int run_hooks(struct create_job *j, const struct oci_hook_list *l,
		     const char *name, struct berr *err)
{
	if (l->n == 0)
		return 0;
	_cleanup_free_ char *json =
		oci_state_hook_json(j->c->state, OCI_STATUS_CREATING);
	return rt_hooks_run(l, name, json, j->bundle, err);
}

/* The init asks for the runtime-namespace hooks once its mounts exist. */
static int runtime_hooks(struct create_job *j, struct berr *err)
{
	if (!rt_hooks_in_runtime_ns(j->config))
		return 0;
	int r = rt_sync_expect(j->sync_fd, RT_SYNC_HOOKS, NULL, err);
	if (r < 0)
		return r;
	r = run_hooks(j, &j->config->hooks.prestart, "prestart", err);
	if (r == 0)
		r = run_hooks(j, &j->config->hooks.create_runtime,
			      "createRuntime", err);
	if (r < 0) {
		rt_sync_send(j->sync_fd, RT_SYNC_ERROR, 0, err);
		return r;
	}
	return rt_sync_send(j->sync_fd, RT_SYNC_HOOKS_DONE, 0, NULL);
}

static int write_pid_file(const char *path, pid_t pid, struct berr *err)
{
	/* no newline: clients parse it with Atoi */
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	_cleanup_free_ char *copy = base_strdup(path);
	char *slash = strrchr(copy, '/');
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return berr_set(err, errno, "pid file `%s`", path);
	int r = base_write_file_atomic(dfd, slash ? slash + 1 : path, buf,
				       (size_t)n, 0644);
	if (r < 0)
		return berr_set(err, -r, "write pid file `%s`", path);
	return 0;
}

static int send_pidfd(const char *sock_path, int pidfd, struct berr *err)
{
	_cleanup_close_ int s = rt_console_connect(sock_path, err);
	if (s < 0)
		return berr_wrap(err, "pidfd socket");
	int r = base_send_fd(s, pidfd, "pidfd", 5);
	if (r < 0)
		return berr_set(err, -r, "send pidfd to `%s`", sock_path);
	return 0;
}

static int finish_create(struct create_job *j, struct berr *err)
{
	int r = rt_sync_expect(j->sync_fd, RT_SYNC_READY, NULL, err);
	if (r < 0)
		return r;
	/* Started at once (run), the init is recorded as running before it
	 * execs, in this one write: a run killed from here on leaves a
	 * container that state shows running, or stopped once it is gone. */
	bool now = j->handoff != NULL;
	j->c->state->status = now ? OCI_STATUS_RUNNING : OCI_STATUS_CREATED;
	j->c->state->started = now;
	if ((r = rt_container_save(j->c, err)) < 0)
		return r;
	if (j->opts->pid_file &&
	    (r = write_pid_file(j->opts->pid_file, j->pid, err)) < 0)
		return r;
	if (j->opts->pidfd_socket &&
	    (r = send_pidfd(j->opts->pidfd_socket, j->pidfd, err)) < 0)
		return r;
	if ((r = rt_sync_send(j->sync_fd, RT_SYNC_FINAL, now, NULL)) < 0)
		return berr_set(err, -r, "container init handshake");
	/* run outlives the exec, and the init drops its parent-death signal
	 * before it: there is nothing to wait for */
	if (now)
		return 0;
	return rt_sync_expect(j->sync_fd, RT_SYNC_FINAL_ACK, NULL, err);
}

/* A new task may start on its parent's CPU and wait there until the
 * parent sleeps or the load balancer moves it, about half a millisecond
 * here. Where the init landed on our CPU, it goes to another one of its
 * allowed CPUs while we make the cgroup, and gets its whole mask back
 * before GO. */
struct cpu_push {
	cpu_set_t mask;
	bool pushed;
};

static void push_init(struct cpu_push *s, pid_t pid, int init_cpu)
{
	s->pushed = false;
	int cpu = sched_getcpu();
	cpu_set_t one;
	if (cpu < 0 || cpu != init_cpu ||
	    sched_getaffinity(pid, sizeof(s->mask), &s->mask) < 0 ||
	    !rt_cpu_other(&s->mask, cpu, &one))
		return;
	s->pushed = sched_setaffinity(pid, sizeof(one), &one) == 0;
}

static void unpush_init(const struct cpu_push *s, pid_t pid)
{
	if (s->pushed)
		(void)sched_setaffinity(pid, sizeof(s->mask), &s->mask);
}

/* The init, its cgroup and their record: the cgroup first where clone3
 * can start the init inside it, else the init first (see the top). systemd
 * makes a scope with its first process: the init first, always. */
static int spawn_and_place(struct create_job *j, struct berr *err)
{
	enum cg_mode mode = CG_MODE_V1;
	int r = cg_detect(&mode, err);
	if (r < 0)
		return r;
	bool cg_first = !j->ctx->systemd_cgroup &&
			(mode == CG_MODE_V2 || !init_starts_early(j->config));
	if (cg_first && (r = make_cgroup(j, err)) < 0)
		return r;
	j->self_join = !cg_first && !j->ctx->systemd_cgroup;
	if (j->self_join && (r = cg_make_begin(j->cg, err)) < 0)
		return r;
	if ((r = spawn_init(j, err)) < 0)
		return r;
	j->c->state->pid = j->pid;
	int init_cpu = -1;
	j->c->state->pid_start_time = rt_proc_start_time_cpu(j->pid, &init_cpu);
	struct cpu_push push = {.pushed = false};
	if (!cg_first)
		push_init(&push, j->pid, init_cpu);
	r = cg_first ? rt_container_save(j->c, err) : make_cgroup(j, err);
	unpush_init(&push, j->pid);
	if (r < 0)
		return prefer_init_error(j, r, err);
	return release_init(j, err);
}

static int create_steps(struct create_job *j, struct berr *err)
{
	int r = rt_container_new(j->ctx, j->id, &j->c, err);
	if (r < 0)
		return r;
	fill_state(j);
	if ((r = record_cgroup(j, err)) < 0)
		return r;
	if ((r = rt_ns_open_paths(j->config, j->ns_fds, err)) < 0)
		return r;
	/* run starts the init itself (rt_handoff): no start.sock */
	if (!j->handoff && (r = listen_start_socket(j, err)) < 0)
		return r;
	if (j->opts->console_socket) {
		j->console_fd =
			rt_console_connect(j->opts->console_socket, err);
		if (j->console_fd < 0)
			return j->console_fd;
	} else if (j->config->process.terminal) {
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return berr_set(err, errno, "console socketpair");
		j->console_peer = sp[0];
		j->console_fd = sp[1];
	}
	if ((r = rt_seccomp_listener_open(j->config, &j->listener_fd, err)) < 0)
		return r;
	if ((r = spawn_and_place(j, err)) < 0)
		return r;
	/* while the init makes its mounts */
	if ((r = copy_config(j, err)) < 0 || (r = runtime_hooks(j, err)) < 0 ||
	    (r = finish_create(j, err)) < 0)
		return prefer_init_error(j, r, err);
	return 0;
}

/* Undoes a failed create: the init dies, then its cgroup and state go. */
static void abort_create(struct create_job *j)
{
	if (j->pid > 0) {
		if (j->pidfd >= 0)
			syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL,
				0);
		else
			kill(j->pid, SIGKILL);
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (j->cg && j->cg_shared)
		cg_unmake(j->cg);
	else if (j->cg)
		cg_destroy(j->cg, NULL);
	if (j->c)
		rt_container_remove(j->c, NULL);
	if (j->opts->pid_file)
		unlink(j->opts->pid_file);
}

static void job_release(struct create_job *j)
{
	rt_ns_close_fds(j->ns_fds);
	if (j->sync_fd >= 0)
		close(j->sync_fd);
	if (j->start_fd >= 0)
		close(j->start_fd);
	if (j->console_fd >= 0)
		close(j->console_fd);
	if (j->listener_fd >= 0)
		close(j->listener_fd);
	cg_group_free(j->cg);
	rt_container_free(j->c);
	oci_config_free(j->config);
	free(j->bundle);
	free(j->rootfs);
	free(j->config_raw);
}

int rt_create_container(const struct rt_ctx *ctx, const char *id,
			const struct rt_create_opts *opts, struct rt_handoff *h,
			struct berr *err)
{
	struct create_job j = {.ctx = ctx,
			       .id = id,
			       .opts = opts,
			       .sync_fd = -1,
			       .start_fd = -1,
			       .console_fd = -1,
			       .listener_fd = -1,
			       .console_peer = -1,
			       .handoff = h,
			       .pidfd = -1};
	for (int i = 0; i < OCI_NS__COUNT; i++)
		j.ns_fds[i] = -1;
	int r = rt_validate_id(id, err);
	if (r == 0)
		r = resolve_paths(&j, err);
	if (r == 0) {
		r = create_steps(&j, err);
		if (r < 0 && j.c)
			abort_create(&j);
	}
	if (r == 0 && h) {
		h->pidfd = TAKE_FD(j.pidfd);
		h->console_peer = TAKE_FD(j.console_peer);
		h->start_fd = TAKE_FD(j.sync_fd);
		h->c = TAKE_PTR(j.c);
	}
	if (j.console_peer >= 0)
		close(j.console_peer);
	if (j.pidfd >= 0)
		close(j.pidfd);
	job_release(&j);
	return r;
}

int rt_create(const struct rt_ctx *ctx, const char *id,
	      const struct rt_create_opts *opts, struct berr *err)
{
	return rt_create_container(ctx, id, opts, NULL, err);
}
