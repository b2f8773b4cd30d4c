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

#include "runtime/runtime.h"

/* ---- root filesystem (runtime-rootfs.c, runtime-mount.c, runtime-dev.c) --
 *
 * Init side, in the container's new mount namespace, in this order:
 *   rt_rootfs_prepare()   before the createRuntime/createContainer hooks
 *   rt_rootfs_pivot()     after them
 *   rt_rootfs_finalize()  after pivot, before the process is set up
 */
struct rt_rootfs_opts {
	const char *rootfs;   /* absolute host path of the root filesystem */
	bool no_pivot;        /* --no-pivot: MS_MOVE + chroot instead */
	bool new_userns;      /* the container has its own user namespace */
	bool new_netns;       /* sysfs may only be mounted fresh with a netns */
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
 *   rt_process_exec()   looks up args[0] on the PATH from process.env (or a
 *                       default PATH) and execve()s it. Returns only on
 *                       failure, with err such as
 *                       "exec `foo`: executable file not found in $PATH".
 */
int rt_process_apply(const struct oci_process *p, struct berr *err);
int rt_process_exec(const struct oci_process *p, struct berr *err);

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
 * when it wrote one). name is the spec's hook name for messages. */
int rt_hooks_run(const struct oci_hook_list *l, const char *name,
		 const char *state_json, struct berr *err);

#endif
