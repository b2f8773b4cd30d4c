/* The container init: runs in the clone of `berth create` and ends in
 * execve() of the user's program (or _exit on failure). It never returns
 * and never prints; a failure goes to the parent as an RT_SYNC_ERROR
 * message, or after create to `berth start` over start.sock. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "cgroups/cgroups.h"
#include "netns/netns.h"
#include "runtime/runtime-internal.h"

#define KEYCTL_JOIN_SESSION_KEYRING 1

static __attribute__((noreturn)) void fail(struct rt_init_args *a,
					   struct berr *err)
{
	rt_sync_send(a->sync_fd, RT_SYNC_ERROR, 0, err);
	_exit(1);
}

/* user first: namespaces joined after it must be owned by it */
static int join_namespaces(struct rt_init_args *a, struct berr *err)
{
	static const enum oci_ns_type order[] = {
		OCI_NS_USER, OCI_NS_IPC,    OCI_NS_UTS,	  OCI_NS_NETWORK,
		OCI_NS_PID,  OCI_NS_CGROUP, OCI_NS_MOUNT,
	};
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		enum oci_ns_type t = order[i];
		/* pid and time were entered by the parent around clone */
		if (a->ns_fds[t] < 0 || t == OCI_NS_PID)
			continue;
		if (setns(a->ns_fds[t], rt_ns_clone_flag(t)) < 0)
			return berr_set(err, errno, "join %s namespace `%s`",
					oci_ns_type_name(t),
					rt_ns_find(a->config, t)->path);
	}
	if (a->unshare_flags && unshare((int)a->unshare_flags) < 0)
		return berr_set(err, errno, "create namespaces");
	/* early, the cgroup namespace waits for our cgroup (join_cgroup) */
	if (!a->early && a->new_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		return berr_set(err, errno, "create cgroup namespace");
	return 0;
}

/* The bind sources create opened for us (rt_bind_source_from_parent), in
 * the order of the mounts, in messages of up to BASE_MAX_FDS. */
static int receive_sources(struct rt_init_args *a, struct berr *err)
{
	const struct oci_config *c = a->config;
	size_t want = 0, got = 0;
	for (size_t i = 0; i < c->n_mounts; i++)
		want += rt_bind_source_from_parent(c, &c->mounts[i]);
	if (!want)
		return 0;
	a->source_fds = base_calloc(c->n_mounts, sizeof(int));
	size_t next = 0;
	for (size_t i = 0; i < c->n_mounts; i++)
		a->source_fds[i] = -1;
	while (got < want) {
		int fds[BASE_MAX_FDS];
		size_t n = 0;
		int r = rt_sync_expect_fds(a->sync_fd, RT_SYNC_SOURCES, NULL,
					   fds, ARRAY_SIZE(fds), &n, err);
		if (r < 0)
			return r;
		for (size_t k = 0; k < n; k++, got++) {
			while (next < c->n_mounts &&
			       !rt_bind_source_from_parent(c, &c->mounts[next]))
				next++;
			if (next < c->n_mounts && got < want)
				a->source_fds[next++] = fds[k];
			else
				close(fds[k]);
		}
		if (n == 0)
			return berr_setx(err, EPROTO,
					 "container init handshake: no bind "
					 "source received");
	}
	return 0;
}

/* Waits for GO: the parent has written our id maps and put us in our
 * cgroup. Early, that is as late as the first step that needs the cgroup:
 * a cgroup mount, the hooks, the cgroup namespace (rooted where we sit). */
static int join_cgroup(void *arg, struct berr *err)
{
	struct rt_init_args *a = arg;
	if (a->cgroup_joined)
		return 0;
	a->cgroup_joined = true;
	int64_t pid = 0;
	int fds[BASE_MAX_FDS];
	size_t n = 0;
	int r = rt_sync_expect_fds(a->sync_fd, RT_SYNC_GO, &pid, fds,
				   ARRAY_SIZE(fds), &n, err);
	if (r < 0)
		return r;
	if (a->moved) /* before the join, which may narrow it to a cpuset */
		(void)sched_setaffinity(0, sizeof(a->own_mask), &a->own_mask);
	/* the hierarchies the parent left to us (see runtime-create.c) */
	if ((r = cg_join_self(fds, &n, err)) < 0)
		return berr_wrap(err, "container init");
	if ((r = receive_sources(a, err)) < 0)
		return r;
	a->state->pid = (pid_t)pid;
	/* Until its execve the init runs berth's binary inside the container:
	 * non-dumpable, no container process can open it through
	 * /proc/<pid>/exe (CVE-2019-5736). Set after GO: the parent has
	 * written our id maps by then. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* the join reset our affinity: the rest runs on the initial CPUs */
	if ((r = rt_process_initial_affinity(&a->config->process, err)) < 0)
		return r;
	if (a->early && a->new_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		return berr_set(err, errno, "create cgroup namespace");
	return 0;
}

static int setup_identity(struct rt_init_args *a, struct berr *err)
{
	const struct oci_config *c = a->config;
	/* in a new user namespace we start unmapped: become its root */
	if (a->new_userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return berr_set(err, errno,
				"become root in the user namespace");
	if (c->hostname && *c->hostname &&
	    sethostname(c->hostname, strlen(c->hostname)) < 0)
		return berr_set(err, errno, "set hostname `%s`", c->hostname);
	if (c->domainname && *c->domainname &&
	    setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return berr_set(err, errno, "set domainname `%s`",
				c->domainname);
	if (!a->opts->no_new_keyring) {
		char name[128];
		snprintf(name, sizeof(name), "_ses.%.100s", a->id);
		/* a kernel without keyrings or a seccomp'd host is fine */
		if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) <
			    0 &&
		    errno != ENOSYS && errno != EPERM && errno != EACCES)
			return berr_set(err, errno, "join session keyring");
	}
	const struct oci_namespace *net = rt_ns_find(c, OCI_NS_NETWORK);
	if (net && !net->path) {
		int r = nsn_loopback_up(err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* createContainer hooks run before pivot_root with the container's root as
 * their working directory, as runc's do; startContainer hooks after it,
 * where "/" is that root already. */
static int hook_in_container(struct rt_init_args *a,
			     const struct oci_hook_list *l, const char *name,
			     enum oci_status st, struct berr *err)
{
	if (l->n == 0)
		return 0;
	char *json = oci_state_hook_json(a->state, st);
	int r = rt_hooks_run(l, name, json,
			     st == OCI_STATUS_CREATING ? a->rootfs : NULL, err);
	free(json);
	return r;
}

/* As runc does, a missing process.cwd is created (inside the rootfs, never
 * through a symlink out of it) while berth is still root. */
static int make_cwd(struct rt_init_args *a, struct berr *err)
{
	const char *cwd = a->config->process.cwd;
	if (!cwd || !strcmp(cwd, "/"))
		return 0;
	int rootfd = open(a->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open rootfs `%s`", a->rootfs);
	int fd = base_mkdir_in_root(rootfd, cwd, 0755);
	close(rootfd);
	/* a read-only rootfs or a file in the way shows later, at chdir */
	if (fd >= 0)
		close(fd);
	return 0;
}

/* The prestart and createRuntime hooks run in the parent, once the mounts
 * exist; without any there is nothing to wait for. */
static int runtime_ns_hooks(struct rt_init_args *a, struct berr *err)
{
	if (!rt_hooks_in_runtime_ns(a->config))
		return 0;
	int r = rt_sync_send(a->sync_fd, RT_SYNC_HOOKS, 0, NULL);
	if (r < 0)
		return berr_set(err, -r, "container init handshake");
	return rt_sync_expect(a->sync_fd, RT_SYNC_HOOKS_DONE, NULL, err);
}

static int build_rootfs(struct rt_init_args *a, struct berr *err)
{
	const struct oci_namespace *net = rt_ns_find(a->config, OCI_NS_NETWORK);
	struct rt_rootfs_opts o = {
		.rootfs = a->rootfs,
		.no_pivot = a->opts->no_pivot,
		.new_userns =
			a->new_userns || rt_ns_find(a->config, OCI_NS_USER),
		.new_netns = net && !net->path,
		.join_cgroup = a->early ? join_cgroup : NULL,
		.join_arg = a,
		.source_fds = a->source_fds,
	};
	/* No mount namespace: the container stays on the host's root, as
	 * runc leaves it (create refused mounts, masks and a read-only
	 * root); only the steps that touch no file system run. */
	bool own_root = rt_ns_find(a->config, OCI_NS_MOUNT) != NULL;
	if (chdir(a->bundle) < 0)
		return berr_set(err, errno, "chdir to bundle `%s`", a->bundle);
	int r = own_root ? rt_rootfs_prepare(a->config, &o, err) : 0;
	if (r < 0 || (r = join_cgroup(a, err)) < 0)
		return r;
	if ((own_root && (r = make_cwd(a, err)) < 0) ||
	    (r = runtime_ns_hooks(a, err)) < 0)
		return r;
	r = hook_in_container(a, &a->config->hooks.create_container,
			      "createContainer", OCI_STATUS_CREATING, err);
	if (r < 0)
		return r;
	if (!own_root)
		return rt_sysctl_apply(a->config, err);
	if ((r = rt_rootfs_pivot(a->config, &o, err)) < 0)
		return r;
	return rt_rootfs_finalize(a->config, &o, err);
}

static struct rt_seccomp_load seccomp_load(struct rt_init_args *a, int listener,
					   enum oci_status st)
{
	return (struct rt_seccomp_load){
		.seccomp = rt_seccomp_of(a->config),
		.no_new_privs = a->config->process.no_new_privileges,
		.listener_fd = listener,
		.state = a->state,
		.status = st,
		.pid = a->state->pid,
	};
}

static int prepare_process(struct rt_init_args *a, int listener,
			   struct berr *err)
{
	const struct oci_process *p = &a->config->process;
	struct rt_seccomp_load sl =
		seccomp_load(a, listener, OCI_STATUS_CREATING);
	int r;
	if (p->terminal && (r = rt_console_setup(a->console_fd, p, err)) < 0)
		return r;
	if (a->console_fd >= 0) {
		close(a->console_fd);
		a->console_fd = -1;
	}
	if ((r = rt_lsm_apply(p, err)) < 0 ||
	    (r = rt_personality_apply(a->config, err)) < 0)
		return r;
	if ((r = rt_process_apply_seccomp(p, &sl, err)) < 0)
		return r;
	return rt_process_close_fds(a->opts->preserve_fds, err);
}

/* Runs the startContainer hooks and execs. On success conn closes with
 * the exec (CLOEXEC), which start reads as success; on failure start reads
 * the message. With no_new_privs the filter is loaded last, after the
 * PATH lookup: execve is the only call of berth's it sees, but for the
 * startContainer hooks, which run under it as runc runs them. */
static __attribute__((noreturn)) void start_process(struct rt_init_args *a,
						    int listener, int conn)
{
	struct berr err = {0};
	a->state->status = OCI_STATUS_RUNNING;
	struct rt_seccomp_load sl =
		seccomp_load(a, listener, OCI_STATUS_CREATED);
	struct rt_exec_plan plan = {NULL, NULL};
	int r = rt_process_exec_prepare(&a->config->process, &plan, &err);
	if (r == 0)
		r = rt_seccomp_load_late(&sl, &err);
	if (r == 0)
		r = hook_in_container(a, &a->config->hooks.start_container,
				      "startContainer", OCI_STATUS_CREATED,
				      &err);
	if (r == 0)
		rt_process_execve(&a->config->process, &plan, &err);
	(void)base_write_all(conn, err.msg, strlen(err.msg));
	_exit(err.code == ENOENT ? 127 : 126);
}

/* Blocks until `berth start` connects and says go. */
static __attribute__((noreturn)) void wait_for_start(struct rt_init_args *a,
						     int listener)
{
	int conn;
	do
		conn = accept4(a->start_fd, NULL, NULL, SOCK_CLOEXEC);
	while (conn < 0 && errno == EINTR);
	if (conn < 0)
		_exit(1);
	close(a->start_fd);
	char go;
	if (read(conn, &go, 1) != 1)
		_exit(1);
	start_process(a, listener, conn);
}

/* Early, create makes the cgroup while the init makes its namespaces and
 * mounts. Where the init first runs on create's CPU (create was preempted
 * for it), the two would take turns: it moves to another CPU of its mask
 * until GO. */
static void leave_parent_cpu(struct rt_init_args *a)
{
	cpu_set_t one;
	int cpu = sched_getcpu();
	if (!a->early || cpu < 0 || cpu != a->parent_cpu ||
	    sched_getaffinity(0, sizeof(a->own_mask), &a->own_mask) < 0 ||
	    !rt_cpu_other(&a->own_mask, cpu, &one))
		return;
	a->moved = sched_setaffinity(0, sizeof(one), &one) == 0;
}

/* Until create releases us (RT_SYNC_FINAL), dying with it leaves no
 * orphan. The parent-death signal comes first; a parent that died before
 * it was set (we may first run long after the clone) shows as the hang-up
 * of the sync socket, whose other end we no longer hold. getppid() cannot
 * tell: in a new pid namespace it reads 0 whoever the parent is. */
static void die_with_parent(struct rt_init_args *a)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(a->parent_sync_fd);
	struct pollfd p = {.fd = a->sync_fd, .events = POLLRDHUP};
	if (poll(&p, 1, 0) != 0 && (p.revents & (POLLHUP | POLLRDHUP)))
		_exit(1);
}

void rt_init_main(struct rt_init_args *a)
{
	struct berr err = {0};
	die_with_parent(a);
	leave_parent_cpu(a);
	close(a->lock_fd);
	/* Its own session and process group, as with runc: what signals the
	 * caller's group (a shell's job control, Slurm killing the group of
	 * a command it ran) must not reach the container. */
	setsid();
	int listener = a->listener_fd;
	/* no id maps to wait for: not dumpable from the start */
	if (a->early)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	else if (join_cgroup(a, &err) < 0)
		fail(a, &err);
	if (join_namespaces(a, &err) < 0 || setup_identity(a, &err) < 0 ||
	    build_rootfs(a, &err) < 0 || prepare_process(a, listener, &err) < 0)
		fail(a, &err);
	if (rt_sync_send(a->sync_fd, RT_SYNC_READY, 0, NULL) < 0)
		_exit(1);
	int64_t now = 0;
	if (rt_sync_expect(a->sync_fd, RT_SYNC_FINAL, &now, &err) < 0)
		_exit(1);
	prctl(PR_SET_PDEATHSIG, 0);
	if (now) /* run: no start.sock round, the answer goes back here */
		start_process(a, listener, a->sync_fd);
	rt_sync_send(a->sync_fd, RT_SYNC_FINAL_ACK, 0, NULL);
	close(a->sync_fd);
	wait_for_start(a, listener);
}
