/* Private interfaces between the runtime's files. Nothing outside runtime/
 * includes this header.
 *
 * The container init is a clone() of the berth process (no re-exec). Code
 * marked "init side" runs in that child: it must not rely on cleanup
 * attributes surviving an _exit(), it never prints, and it reports failure
 * by filling err and returning a negative errno; the caller sends err to
 * the parent, which prints it. */
#ifndef BERTH_RUNTIME_INTERNAL_H
#define BERTH_RUNTIME_INTERNAL_H

#include <sched.h>

#include "runtime/runtime.h"

/* ---- root filesystem (runtime-rootfs.c, runtime-mount.c, runtime-dev.c) --
 *
 * Init side, in the container's new mount namespace, in this order:
 *   rt_rootfs_prepare()   before the createRuntime/createContainer hooks
 *   rt_rootfs_pivot()     after them
 *   rt_rootfs_finalize()  after pivot, before the process is set up
 */
struct rt_rootfs_opts {
	const char *rootfs; /* absolute host path of the root filesystem */
	bool no_pivot;	    /* --no-pivot: MS_MOVE + chroot instead */
	bool new_userns;    /* the container has its own user namespace */
	bool new_netns;	    /* sysfs may only be mounted fresh with a netns */
	/* Where set, called once before the first mount that shows the
	 * container's own cgroup (type cgroup or cgroup2): the init does the
	 * rest of its set-up before it sits in that cgroup. */
	int (*join_cgroup)(void *arg, struct berr *err);
	void *join_arg;
	/* Per config mount, an O_PATH fd of its bind source that create
	 * opened on the host side (a new user namespace: the source may sit
	 * below a directory only the host's root can search), or -1; NULL
	 * when create opened none. */
	const int *source_fds;
};

/* Sets the propagation of / (linux.rootfsPropagation, default rslave; "/"
 * made private first when shared so that nothing leaks to the host), binds
 * the rootfs onto itself, performs every config mount in order with the
 * destination resolved inside the rootfs (openat2 RESOLVE_IN_ROOT, fd-based
 * mount API where available), creates the default /dev nodes and symlinks
 * when /dev is not bind-mounted from the host, creates linux.devices.
 * Errors name the mount: "mount `proc` on `/proc`: Permission denied". */
int rt_rootfs_prepare(const struct oci_config *c,
		      const struct rt_rootfs_opts *o, struct berr *err);

/* pivot_root(rootfs) and detaches the old root (or MS_MOVE + chroot with
 * no_pivot); cwd becomes "/". */
int rt_rootfs_pivot(const struct oci_config *c, const struct rt_rootfs_opts *o,
		    struct berr *err);

/* After pivot: linux.sysctl (written through fds checked to be on procfs),
 * maskedPaths (/dev/null over files, checked to be char 1:3; a read-only
 * tmpfs over directories), readonlyPaths (read-only bind remounts), and
 * root.readonly. */
int rt_rootfs_finalize(const struct oci_config *c,
		       const struct rt_rootfs_opts *o, struct berr *err);

/* ---- process (runtime-process.c, runtime-caps.c) -------------------------
 *
 * Init side (and exec side), after pivot:
 *   rt_process_apply()  rlimits, oomScoreAdj (through a procfs-checked fd),
 *                       umask, additional gids, gid, uid (keeping caps across
 *                       setuid), the five capability sets through libcap, and
 *                       no_new_privs. cwd is entered and checked to be inside
 *                       the root (CVE-2024-21626).
 *   rt_process_exec_prepare(), rt_process_execve()
 *                       look up args[0] on the PATH from process.env (or a
 *                       default PATH), then execve() it. Return only on
 *                       failure, with err such as
 *                       "exec `foo`: executable file not found in $PATH".
 */
int rt_process_apply(const struct oci_process *p, struct berr *err);
/* The exec in two steps, so that a seccomp filter loaded between them
 * (with no_new_privs) sees no syscall of berth's but execve: the
 * environment (HOME from /etc/passwd) and the PATH lookup first. */
struct rt_exec_plan {
	char *path;
	char **env;
};
int rt_process_exec_prepare(const struct oci_process *p,
			    struct rt_exec_plan *plan, struct berr *err);
int rt_process_execve(const struct oci_process *p, struct rt_exec_plan *plan,
		      struct berr *err);
void rt_exec_plan_free(struct rt_exec_plan *plan);

/* Marks every fd >= 3 + preserve_fds close-on-exec, except none: internal
 * fds are already O_CLOEXEC. */
int rt_process_close_fds(int preserve_fds, struct berr *err);

/* ---- terminal (runtime-console.c) -----------------------------------------
 *
 * Init side, after pivot (devpts mounted at /dev/pts): opens a new pty from
 * /dev/ptmx, applies process.consoleSize, sends the master over console_sock
 * with SCM_RIGHTS (as runc does), and makes the slave the controlling
 * terminal and fds 0, 1 and 2. */
int rt_console_setup(int console_sock, const struct oci_process *p,
		     struct berr *err);

/* Connects to the --console-socket path (an AF_UNIX stream socket). */
int rt_console_connect(const char *path, struct berr *err);

/* ---- hooks (runtime-hooks.c) ------------------------------------------------
 *
 * Runs each hook of the list in order: fork, state_json on its stdin, the
 * hook's args and env, its timeout (killed with SIGKILL after timeout
 * seconds). The first hook that fails (exit status != 0, killed, timed
 * out, cannot execute) stops the list; err says
 * "createRuntime hook `/path`: exit status 1" (and its stderr's last line
 * when it wrote one). name is the spec's hook name for messages. The
 * hooks run in cwd (NULL: berth's own), as runc runs them: the bundle for
 * prestart and createRuntime, the container's root for createContainer.
 * A hook without env gets berth's environment. */
int rt_hooks_run(const struct oci_hook_list *l, const char *name,
		 const char *state_json, const char *cwd, struct berr *err);
/* Whether c has prestart or createRuntime hooks: create and its init
 * trade RT_SYNC_HOOKS only then, both deciding from the same config. */
bool rt_hooks_in_runtime_ns(const struct oci_config *c);

/* ---- container records (runtime-state.c) ----------------------------------
 *
 * A struct rt_container is one container's directory under the root, its
 * persisted state and, while a command holds it, the per-container lock.
 * rt_container_open() never creates; rt_container_new() creates the
 * directory (EEXIST: "container with id exists") and locks it. */
struct rt_container {
	char *dir; /* <root>/<id> */
	int dirfd; /* O_DIRECTORY, -1 when closed */
	bool locked;
	struct oci_state *state; /* NULL until loaded or created */
	/* rt_ctx.release, for rt_container_destroy() */
	int (*release)(const char *root, const struct oci_state *st,
		       struct berr *err);
	char *root; /* the state root */
};

int rt_container_new(const struct rt_ctx *ctx, const char *id,
		     struct rt_container **out, struct berr *err);
/* Opens an existing container and loads its state; lock takes the
 * per-container flock (blocking). -ENOENT: "container does not exist". */
int rt_container_open(const struct rt_ctx *ctx, const char *id, bool lock,
		      struct rt_container **out, struct berr *err);
void rt_container_free(struct rt_container *c);
static inline void rt_container_freep(struct rt_container **c)
{
	rt_container_free(*c);
}
/* Writes c->state to state.json atomically. */
int rt_container_save(struct rt_container *c, struct berr *err);
/* The container's resolved cgroup (cg_path()), recorded on its directory
 * before any of the group's directories exists: what removes them when
 * create was killed before it wrote any state. An xattr of the directory
 * (no directory entry to add and remove: a few microseconds on tmpfs or
 * ext4); where the file system has none, a symlink in it. */
#define RT_CGROUP_XATTR "trusted.berth.cgroup"
#define RT_CGROUP_LINK "cgroup"
int rt_record_cgroup(struct rt_container *c, const char *path,
		     struct berr *err);
/* The recorded path, NULL where there is none. The caller frees it. */
char *rt_recorded_cgroup(int dirfd);
/* True for a container directory without a state that nobody holds
 * locked: a create killed before it wrote its state (maybe with its cgroup
 * record), or a delete killed half way; `list` shows it stopped and
 * `delete` removes it. A create or delete at work holds the lock. A
 * container's directory holds files alone: one that holds a directory (a
 * pool's own root) is no container. */
bool rt_container_dead_dir(const struct rt_ctx *ctx, const char *id);
/* Removes the directory (state, sockets, config copy). */
int rt_container_remove(struct rt_container *c, struct berr *err);

/* The live status: the stored one refined by whether the init still runs
 * (pidfd + start time), whether it was started and whether its cgroup is
 * frozen. */
enum oci_status rt_container_status(struct rt_container *c);

/* A pidfd of the container's init, verified against the recorded start
 * time so that a reused pid is never signalled. -ESRCH when it is gone. */
int rt_container_pidfd(struct rt_container *c);

/* /proc/<pid>/stat start time (field 22); 0 when unreadable. */
uint64_t rt_proc_start_time(pid_t pid);
/* The same, and the CPU the process last ran on (-1 when unknown). */
uint64_t rt_proc_start_time_cpu(pid_t pid, int *cpu);

/* Kills the init and every process of the cgroup, waits for them, removes
 * the cgroup, runs poststop hooks and removes the state directory. */
int rt_container_destroy(struct rt_container *c, struct berr *err);

/* ---- namespaces (runtime-ns.c) ---------------------------------------------
 */

/* clone flag of a namespace type */
int rt_ns_clone_flag(enum oci_ns_type t);
/* Finds the namespace entry of type t in the config; NULL when absent. */
const struct oci_namespace *rt_ns_find(const struct oci_config *c,
				       enum oci_ns_type t);
/* Writes /proc/<pid>/uid_map and gid_map from the config. */
int rt_ns_write_idmaps(pid_t pid, const struct oci_linux *l, struct berr *err);
/* Opens every namespace path of the config (O_RDONLY|O_CLOEXEC) into
 * fds[OCI_NS__COUNT] (-1 where new or absent); checks each is a namespace
 * of the right type. */
int rt_ns_open_paths(const struct oci_config *c, int fds[OCI_NS__COUNT],
		     struct berr *err);
void rt_ns_close_fds(int fds[OCI_NS__COUNT]);

/* ---- sysctls (runtime-sysctl.c) --------------------------------------------
 */

/* Refuses, naming the key, every linux.sysctl key that no namespace of the
 * container's own isolates (it would change the host's setting), keys
 * that are not plain paths, and kernel.hostname/domainname that contradict
 * the hostname/domainname fields. Runs at create, before anything exists. */
int rt_sysctl_check(const struct oci_config *c, struct berr *err);
/* Writes every key through the init's /proc/sys (rt_procfs_open). */
int rt_sysctl_apply(const struct oci_config *c, struct berr *err);

/* ---- create/start (runtime-create.c, runtime-init.c) ------------------------
 */

/* What the init needs besides the config; filled by rt_create. */
struct rt_init_args {
	const struct oci_config *config;
	const struct rt_create_opts *opts;
	const char *id;
	const char *rootfs;	   /* absolute */
	int sync_fd;		   /* SOCK_SEQPACKET to the parent */
	int parent_sync_fd;	   /* the parent's end: the init closes its
				    * copy at once, so that the parent's
				    * death reads as EOF */
	int start_fd;		   /* listening start.sock */
	int console_fd;		   /* connected console socket or -1 */
	int listener_fd;	   /* connected seccomp listener or -1 */
	int lock_fd;		   /* create's locked state dir: the init
				    * closes it, or the flock would outlive
				    * create */
	int ns_fds[OCI_NS__COUNT]; /* namespaces to join */
	bool new_cgroupns;
	bool new_userns;
	bool early;		 /* set up namespaces and mounts before GO */
	bool cgroup_joined;	 /* the init's own: GO arrived */
	uint64_t unshare_flags;	 /* new namespaces to unshare after joining
				  * a user namespace by path */
	struct oci_state *state; /* template for the hooks' state (pid 0) */
	const char *bundle;	 /* absolute; cwd for relative sources */
	int *source_fds;	 /* see struct rt_rootfs_opts; the init's */
	int parent_cpu;		 /* create's CPU at the clone, or -1 */
	bool moved;		 /* early: the init left parent_cpu ... */
	cpu_set_t own_mask;	 /* ... and takes this mask back at GO */
};

/* Whether create opens m's source for the init (a bind mount into a new
 * user namespace): both sides decide from the config. */
bool rt_bind_source_from_parent(const struct oci_config *c,
				const struct oci_mount *m);

/* clone3 (falling back to clone) with a pidfd where pidfd is not NULL,
 * into the cgroup2 directory cgfd where it is >= 0; *placed tells whether
 * the kernel did that (runtime-create.c). */
pid_t rt_clone(uint64_t flags, int cgfd, int *pidfd, bool *placed);

/* The init's body; never returns. */
__attribute__((noreturn)) void rt_init_main(struct rt_init_args *a);

/* Messages on the create <-> init socket. */
enum rt_sync_type {
	RT_SYNC_GO = 1,	    /* parent -> init: maps written, cgroup joined */
	RT_SYNC_HOOKS,	    /* init -> parent: run createRuntime hooks now */
	RT_SYNC_HOOKS_DONE, /* parent -> init */
	RT_SYNC_READY,	    /* init -> parent: blocked before exec */
	RT_SYNC_FINAL,	    /* parent -> init: state saved, drop pdeathsig */
	RT_SYNC_FINAL_ACK,  /* init -> parent */
	RT_SYNC_SOURCES,    /* parent -> init, after GO: bind sources opened
			     * on the host side (rt_bind_source_from_parent) */
	RT_SYNC_ERROR,	    /* either way: err holds why */
};
struct rt_sync_msg {
	int type;
	int64_t value; /* RT_SYNC_GO: the init's pid in berth's pid ns */
	struct berr err;
};
int rt_sync_send(int fd, int type, int64_t value, const struct berr *err);
/* Receives one message; an RT_SYNC_ERROR message is copied into err and
 * returned as its negative code; EOF is -EPIPE. value may be NULL. A peer
 * that died with unread messages in its queue makes the first read fail
 * with ECONNRESET: the message it sent before dying is read after it. */
int rt_sync_expect(int fd, int type, int64_t *value, struct berr *err);
/* Without blocking: where the next message is an RT_SYNC_ERROR, copies it
 * into err and returns its negative code; otherwise 0 (and a message that
 * was read is lost: only for a create that is failing anyway). */
int rt_sync_take_error(int fd, struct berr *err);
/* The same, with fds (RT_SYNC_GO: the cgroup files the init writes "0"
 * to, cg_join_self()). The fds that came are in fds[0..*nfds). */
int rt_sync_send_fds(int fd, int type, int64_t value, const int *fds,
		     size_t nfds);
int rt_sync_expect_fds(int fd, int type, int64_t *value, int *fds, size_t max,
		       size_t *nfds, struct berr *err);

/* Releases a created container's init through start.sock. */
int rt_start_container(struct rt_container *c, struct berr *err);

/* What `run` takes over from a create that starts the init at once: the
 * init is told to exec as soon as it is recorded, with no start.sock
 * connection and no handshake back, and reports on start_fd. */
struct rt_handoff {
	bool proxy;		/* in: run in the foreground, may proxy a pty */
	int pidfd;		/* out: the init's */
	int console_peer;	/* out: berth's end of the pty pair, or -1 */
	int start_fd;		/* out: closes with the exec, or says why not */
	struct rt_container *c; /* out: the container, locked */
};

/* Sets up a container (rt_create's body). With h (run), the init goes on
 * to exec, and h gets what run needs. With h->proxy, a terminal without
 * --console-socket gets an internal socket pair: h->console_peer is
 * berth's end, on which the pty master arrives (-1 when not needed). */
int rt_create_container(const struct rt_ctx *ctx, const char *id,
			const struct rt_create_opts *opts, struct rt_handoff *h,
			struct berr *err);

/* ---- terminal proxy (runtime-tty.c) ---------------------------------------
 *
 * `run` in the foreground with process.terminal and no --console-socket:
 * berth receives the pty master on console_peer and copies between it and
 * its own stdio (raw mode while it runs, window size kept in step) until
 * the process behind pidfd exits, forwarding signals to it. Stores the
 * wait status. */
int rt_tty_proxy(int console_peer, int pidfd, pid_t pid, int *status,
		 struct berr *err);

/* ---- seccomp (runtime-seccomp.c) -------------------------------------------
 *
 * linux.seccomp is loaded in the container process (init and exec alike):
 *   - process.noNewPrivileges false: before the user switch, while the
 *     process still has CAP_SYS_ADMIN (loading a filter without
 *     no_new_privs needs it): rt_seccomp_load_early(), called by
 *     rt_process_apply_seccomp();
 *   - noNewPrivileges true: as late as possible, right before execve, so
 *     that few of berth's own calls run under the filter:
 *     rt_seccomp_load_late().
 * Each of the two does nothing in the other case, so callers call both.
 *
 * With SCMP_ACT_NOTIFY the loader sends the filter's notify fd (SCM_RIGHTS)
 * and a containerProcessState JSON ({"ociVersion","fds":["seccompFd"],
 * "pid","metadata","state"}) over listener_fd, a stream socket connected to
 * listenerPath before pivot_root, then closes its copy of the notify fd. */
struct rt_seccomp_load {
	const struct oci_seccomp *seccomp; /* NULL: no filter */
	bool no_new_privs;		   /* process.noNewPrivileges */
	int listener_fd;		   /* connected to listenerPath, or -1;
					    * owned by the caller */
	const struct oci_state *state; /* the container's, for the listener */
	enum oci_status status;	       /* the status the listener is told */
	pid_t pid;		       /* this process as berth sees it;
					* 0: getpid() */
};

/* Builds the filter without loading it: unknown or unsupported
 * architectures and flags, errnoRet misuse, SCMP_ACT_NOTIFY without an
 * absolute listenerPath (or as defaultAction, or for sendmsg, which berth
 * needs to hand over the fd), rules libseccomp refuses. Unknown syscall
 * names are skipped (blog_debug), as runc does. For create, before
 * anything is set up. */
int rt_seccomp_validate(const struct oci_seccomp *s, struct berr *err);
/* rt_seccomp_validate(), through a cache of compiled programs in
 * cache_dir (NULL: none): a profile seen before is neither built nor
 * validated again. */
int rt_seccomp_prepare(const struct oci_seccomp *s, const char *cache_dir,
		       struct berr *err);
/* Drops the program rt_seccomp_prepare() kept for a profile that goes. */
void rt_seccomp_forget(void);
/* "SCMP_ARCH_X86_64" -> libseccomp's token; 0 when it does not know it. */
uint32_t rt_seccomp_arch_token(const char *name);
struct sock_filter;
/* Writes the -ENOSYS stub that goes in front of the profile's program into
 * out[0..max) and returns its length; 0 when the profile needs none (its
 * default action lets calls through or answers ENOSYS already). */
size_t rt_seccomp_enosys_stub(const struct oci_seccomp *s,
			      struct sock_filter *out, size_t max);

/* The config's linux.seccomp, NULL when it has none. */
const struct oci_seccomp *rt_seccomp_of(const struct oci_config *c);

/* True when the profile uses SCMP_ACT_NOTIFY anywhere (s may be NULL). */
bool rt_seccomp_uses_notify(const struct oci_seccomp *s);

/* Connects an AF_UNIX stream socket (O_CLOEXEC) to an absolute path;
 * returns the fd or -errno. */
int rt_seccomp_listener_connect(const char *path, struct berr *err);
/* *fd = the listener connection when the config's profile uses
 * SCMP_ACT_NOTIFY, else -1. Call it where listenerPath is reachable
 * (before pivot_root, or in the parent). */
int rt_seccomp_listener_open(const struct oci_config *c, int *fd,
			     struct berr *err);

int rt_seccomp_load_early(const struct rt_seccomp_load *l, struct berr *err);
int rt_seccomp_load_late(const struct rt_seccomp_load *l, struct berr *err);

/* The containerProcessState JSON sent to the listener (caller frees). */
char *rt_seccomp_process_state_json(const struct rt_seccomp_load *l);

/* rt_process_apply() with rt_seccomp_load_early() between the privileged
 * steps and the user switch (runtime-process.c). l may be NULL. */
/* execCPUAffinity.initial, for the container's set-up (the init calls it
 * once it is in its cgroup); "final" comes with rt_process_apply*(). */
int rt_process_initial_affinity(const struct oci_process *p, struct berr *err);
/* The next CPU of mask after cpu, as a one-CPU set: create and its init
 * keep off each other's CPU while both set the container up. False when
 * mask has no other CPU. */
bool rt_cpu_other(const cpu_set_t *mask, int cpu, cpu_set_t *one);
int rt_process_apply_seccomp(const struct oci_process *p,
			     const struct rt_seccomp_load *l, struct berr *err);

/* The names `berth features` lists under linux.seccomp: what this
 * libseccomp knows (archs), what this kernel and libseccomp support
 * (supportedFlags). Fills out with static strings; returns the count. */
enum rt_seccomp_list {
	RT_SECCOMP_ACTIONS,
	RT_SECCOMP_OPERATORS,
	RT_SECCOMP_ARCHS,
	RT_SECCOMP_KNOWN_FLAGS,
	RT_SECCOMP_SUPPORTED_FLAGS,
};
size_t rt_seccomp_list(enum rt_seccomp_list which, const char **out,
		       size_t max);

/* ---- cgroup limits (runtime-resources.c) ----------------------------------
 *
 * Convert the spec's linux.resources into cgroups' struct cg_resources,
 * with runc's readings of the spec (0 means "not set" for shares, quota,
 * period, memory values and the pids limit; a negative pids limit is
 * "max"), and apply them with cg_apply(). */
struct cg_group;

/* Applies r as given. */
int rt_resources_apply(struct cg_group *g, const struct oci_resources *r,
		       struct berr *err);

/* What create applies: linux.resources when present, and on cgroup v1
 * the device rules runc uses: deny everything, the config's rules, then
 * the standard devices (/dev/null, /dev/zero, ..., ptys, tun, mknod of
 * any device). linux.devices entries get no rule of their own. */
int rt_resources_setup(struct cg_group *g, const struct oci_config *c,
		       struct berr *err);

/* ---- process security: LSM labels, personality, default profile ----------
 *
 * runtime-lsm.c: process.apparmorProfile, process.selinuxLabel,
 * linux.mountLabel; runtime-personality.c: linux.personality;
 * runtime-profile.c: the default profile of containers made from images.
 *
 * Create (and exec) side, before anything is made:
 *   rt_lsm_check()          refuses a profile or label the host cannot
 *                           apply: "process.apparmorProfile `foo`: AppArmor
 *                           is not enabled on this host" (AppArmor needs
 *                           /sys/module/apparmor/parameters/enabled = Y and
 *                           /sys/kernel/security/apparmor; SELinux needs
 *                           /sys/fs/selinux/enforce).
 *   rt_personality_check()  refuses personality flags berth does not know.
 * Init and exec side, after pivot_root, while still root, before
 * rt_process_apply_seccomp():
 *   rt_lsm_apply()          writes "exec <profile>" to
 *                           /proc/self/attr/apparmor/exec (attr/exec on
 *                           older kernels) and the SELinux label to
 *                           /proc/self/attr/exec; the kernel switches at
 *                           the next execve. linux.mountLabel is accepted
 *                           where SELinux is enabled but not applied yet.
 *   rt_personality_apply()  personality(2): domain LINUX or LINUX32 plus the
 *                           flags (ADDR_NO_RANDOMIZE, ...).
 * All return 0 or a negative errno with err set. */
int rt_lsm_check(const struct oci_config *c, struct berr *err);
int rt_lsm_apply(const struct oci_process *p, struct berr *err);
int rt_personality_check(const struct oci_config *c, struct berr *err);
int rt_personality_apply(const struct oci_config *c, struct berr *err);

/* Opens /proc/<path> (path relative, e.g. "self/attr/exec") so that
 * neither a symlink nor a mount can redirect it (the CVE-2025-52881 class):
 * /proc must be the root of a procfs, path is resolved beneath it with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS), and
 * the file is checked to be on procfs (kernels without openat2, before
 * 5.6: openat with O_NOFOLLOW, and only that check). flags are open(2)
 * flags; O_CLOEXEC is added. Returns the fd or -errno with err naming the
 * path ("/proc/self/attr/exec: not on procfs"). */
int rt_procfs_open(const char *path, int flags, struct berr *err);

/* ---- events (runtime-events.c) ------------------------------------------- */

struct cg_stats;
/* The stats event of container id as one line of JSON, with runc's field
 * names and Go's encoding (zero values of omitempty fields left out, map
 * keys sorted, <, > and & escaped). Caller frees. */
char *rt_events_stats_json(const char *id, const struct cg_stats *s);

#endif
