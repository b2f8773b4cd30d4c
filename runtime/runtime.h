/* runtime: the container lifecycle of the OCI runtime-spec.
 *
 * A container lives under <root>/<id>/ (root defaults to /run/berth):
 *   state.json   the persisted struct oci_state (oci/)
 *   config.json  the config used at create, for start/delete hooks
 *   start.sock   bound by `create`; the blocked init accepts one connection
 *                from `start`, then execs the user's program. The socket
 *                is unlinked once started, which tells "created" from
 *                "running".
 *   lock         flock()ed by every command that changes this container
 *
 * Every rt_ function takes a struct rt_ctx (the global flags), returns 0 or
 * -errno and fills err with one line naming what failed and where. Messages
 * clients match on use runc's words: "container does not exist",
 * "container not running". Functions are safe against concurrent berth
 * processes on one root (per-container lock); they are not thread-safe.
 * Nothing here prints. */
#ifndef BERTH_RUNTIME_H
#define BERTH_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/base.h"
#include "oci/oci.h"

#define BERTH_VERSION "0.1.0"
#define RT_DEFAULT_ROOT "/run/berth"

struct rt_ctx {
	const char *root;    /* --root, default RT_DEFAULT_ROOT */
	bool systemd_cgroup; /* --systemd-cgroup */
	bool debug;
	/* Called by every delete of a container, once its runtime state is
	 * gone, with that state: the layer above frees what it attached to
	 * the container (a launch bundle, a network attachment). root is
	 * the container's state root. NULL: nothing. */
	int (*release)(const char *root, const struct oci_state *st,
		       struct berr *err);
};

struct rt_create_opts {
	const char *bundle;	    /* default "." */
	const char *pid_file;	    /* may be NULL */
	const char *console_socket; /* may be NULL */
	const char *pidfd_socket;   /* may be NULL */
	bool no_pivot;
	bool no_new_keyring;
	int preserve_fds; /* fds 3 .. 3+N-1 are passed through */
	bool detach;	  /* run only */
	bool keep;	  /* run only: leave the stopped container for
			     delete rather than deleting it */
	/* a directory for compiled seccomp programs, shared by containers
	 * with one profile (launch, par); NULL: compile every time */
	const char *seccomp_cache;
};

/* Checks that id matches [A-Za-z0-9][A-Za-z0-9_.-]* (and is not too long). */
int rt_validate_id(const char *id, struct berr *err);

/* create: sets up the container and leaves its init blocked before exec. */
int rt_create(const struct rt_ctx *ctx, const char *id,
	      const struct rt_create_opts *opts, struct berr *err);

/* start: releases a created container's init; fails when the user's
 * program cannot be executed (missing binary), as runc does. */
int rt_start(const struct rt_ctx *ctx, const char *id, struct berr *err);

/* run: create + start. Unless opts->detach it waits for the container,
 * forwards signals to it, deletes it and stores its exit status in
 * *exit_status (128+N for a signal). */
int rt_run(const struct rt_ctx *ctx, const char *id,
	   const struct rt_create_opts *opts, int *exit_status,
	   struct berr *err);

/* state: the live status and the JSON `berth state` prints (caller
 * frees). */
int rt_state(const struct rt_ctx *ctx, const char *id, char **json,
	     struct berr *err);

/* A pidfd (O_CLOEXEC) of the container's init, checked to be that process
 * and not one that reused its pid; -ESRCH when it is not running. */
int rt_pidfd(const struct rt_ctx *ctx, const char *id, struct berr *err);

/* kill: sends sig to the init through a pidfd, or with all to every process
 * of the container's cgroup. */
int rt_kill(const struct rt_ctx *ctx, const char *id, int sig, bool all,
	    struct berr *err);

/* delete: removes a created or stopped container, or with force any
 * container after killing it. Idempotent for force. */
int rt_delete(const struct rt_ctx *ctx, const char *id, bool force,
	      struct berr *err);

/* pause/resume: freezes or thaws the container's cgroup. */
int rt_pause(const struct rt_ctx *ctx, const char *id, bool pause,
	     struct berr *err);

struct rt_list_entry {
	char *oci_version;
	char *id;
	pid_t pid;
	enum oci_status status;
	char *bundle;
	char *rootfs;
	char *created;
	struct oci_kv *annotations;
	size_t n_annotations;
	char *owner; /* the user owning the state directory, as runc shows */
};
/* list: every container under root, sorted by id. */
int rt_list(const struct rt_ctx *ctx, struct rt_list_entry **out, size_t *n,
	    struct berr *err);
void rt_list_free(struct rt_list_entry *v, size_t n);

/* ps: the pids in the container's cgroup (caller frees *pids). */
int rt_ps(const struct rt_ctx *ctx, const char *id, pid_t **pids, size_t *n,
	  struct berr *err);

struct rt_exec_opts {
	const char *process_file; /* --process FILE (JSON process object) */
	char *const *args;	  /* or CMD ARGS... (NULL-terminated) */
	bool detach;
	const char *pid_file;
	const char *console_socket;
	const char *pidfd_socket;
	bool tty;
	char *const *env; /* extra K=V, NULL-terminated */
	const char *cwd;
	const char *user;  /* "UID[:GID]" */
	char *const *caps; /* extra capabilities, NULL-terminated */
	bool no_new_privs;
	int preserve_fds;
	const char *apparmor;	   /* --apparmor PROFILE */
	const char *process_label; /* --process-label LABEL (SELinux) */
	bool ignore_paused;	   /* --ignore-paused: exec in a frozen one */
	const uint32_t *additional_gids; /* --additional-gids */
	size_t n_additional_gids;
	char *const *cgroups; /* --cgroup [CTRL:]SUB, NULL-terminated */
};
/* exec: runs a new process in a running (or created) container. Unless
 * detached it waits and stores the exit status. A terminal without a
 * console socket is proxied on berth's own stdio while it waits, as runc
 * does; detached, a terminal needs the socket. */
int rt_exec(const struct rt_ctx *ctx, const char *id,
	    const struct rt_exec_opts *opts, int *exit_status,
	    struct berr *err);

/* update: changes the cgroup limits of a created, running or paused
 * container. The limits come from resources_file (a runtime-spec
 * linux.resources object; "-" reads it from stdin), or else from the
 * flag values, as runc's update takes them; NULL means not given. Memory
 * values take k, m, g, t and p suffixes (powers of 1024) and -1 for
 * unlimited. Device rules in the file are ignored, as runc does. Nothing
 * is recorded: the cgroup files are the state. */
struct rt_update_opts {
	const char *resources_file;
	const char *memory, *memory_reservation, *memory_swap;
	const char *kernel_memory, *kernel_memory_tcp;
	const char *cpu_shares, *cpu_quota, *cpu_period;
	const char *cpu_rt_period, *cpu_rt_runtime;
	const char *cpuset_cpus, *cpuset_mems;
	const char *pids_limit;
	const char *blkio_weight;
};
int rt_update(const struct rt_ctx *ctx, const char *id,
	      const struct rt_update_opts *opts, struct berr *err);

/* events: the container's cgroup statistics and OOM kills, each event one
 * line of JSON as runc's `events` prints it: {"type":"stats","id":ID,
 * "data":{...}} (runc's field names: cpu, cpuset, memory, pids, blkio,
 * hugetlb, ...) and {"type":"oom","id":ID}. With stats, one stats event
 * and return. Otherwise a stats event every interval_ms (default 5 s) and
 * an oom event whenever the group counts a new OOM kill, until the
 * container's init exits or its cgroup is removed (then 0). A stopped
 * container is an error ("container with id ID is not running"). Holds no
 * lock while it runs. */
struct rt_events_opts {
	bool stats;
	unsigned interval_ms;
	/* receives each event without a newline; a negative return stops
	 * rt_events, which returns it */
	int (*emit)(const char *json, void *data);
	void *data;
};
int rt_events(const struct rt_ctx *ctx, const char *id,
	      const struct rt_events_opts *opts, struct berr *err);

/* ---- image bundles -------------------------------------------------------
 *
 * A bundle made from an image of the store, in <store>/containers/
 * <name>.<nonce>/: rootfs/ over the image's layers (unpacked once in the
 * store), layers (the image's diff ids, which image prune keeps), and
 * config.json, the image's runtime config with ov applied (entrypoint,
 * args, env, -w, -u resolved against the image's /etc/passwd). With
 * writable, rootfs is an overlayfs whose upper and work directories
 * belong to the bundle; otherwise a read-only view (the workers of a
 * pool). Where overlayfs is refused, a copy of the layers. */
struct rt_bundle_opts {
	const char *store; /* NULL: OCI_STORE_DEFAULT */
	const char *image; /* a reference, id, or archive/layout path */
	const char *name;  /* the directory's prefix */
	bool writable;
	const struct oci_image_overrides *ov; /* NULL: none */
	/* The layer above's changes to the config (security profile,
	 * mounts, namespaces): *out (malloc'd) replaces json. NULL: none. */
	int (*edit)(const char *json, const char *dir, char **out, void *data,
		    struct berr *err);
	/* Called once the bundle's directory exists, still empty, before
	 * anything is mounted there: the layer above marks it as its own.
	 * NULL: nothing. */
	int (*prepare)(const char *dir, void *data, struct berr *err);
	void *data;
};

/* Makes the bundle: *dir, and *seccomp_cache (may be NULL), the store's
 * directory for compiled seccomp programs (rt_create_opts). On failure
 * nothing of it stays. While it makes one, it holds a shared flock on the
 * store's containers directory: a collector that holds it exclusively
 * knows that an empty bundle directory without its owner's mark is what
 * a killed maker left. */
int rt_bundle_make(const struct rt_bundle_opts *o, char **dir,
		   char **seccomp_cache, struct berr *err);
/* Unmounts rootfs and removes the bundle; never descends into a rootfs
 * that is still a mount point (that would write whiteouts, or worse). */
int rt_bundle_remove(const char *dir, struct berr *err);

/* The default security profile for a container made from an image (what
 * `berth launch` applies), Docker's defaults:
 *   - process.capabilities: bounding, effective and permitted = the 14
 *     capabilities of rt_profile_default_caps(); inheritable and ambient
 *     present and empty (previous sets are replaced);
 *   - process.noNewPrivileges = true;
 *   - linux.maskedPaths / readonlyPaths: the /proc and /sys paths Docker
 *     masks, added to those already there (none is removed);
 *   - linux.seccomp: replaced by rt_profile_seccomp() for that bounding
 *     set.
 * Sets has_process, has_capabilities, has_linux and has_seccomp. Everything
 * is allocated with base_* and owned by c: oci_config_free() frees it.
 * Aborts only on ENOMEM, like base_*. */
void rt_profile_default(struct oci_config *c);

/* Replaces *s by a profile with the effect of Docker's default seccomp
 * profile for a container whose bounding set is bounding (NULL: none):
 * defaultAction SCMP_ACT_ERRNO (EPERM), the architectures of this host
 * (x86_64: X86_64, X86, X32; aarch64: AARCH64, ARM), an allow-list of
 * about 350 system calls, argument rules (personality only for the
 * domains Docker allows, socket but not AF_VSOCK, clone without namespace
 * flags and clone3 failing with ENOSYS unless CAP_SYS_ADMIN), and the calls
 * each capability unlocks (mount and unshare with CAP_SYS_ADMIN, chroot
 * with CAP_SYS_CHROOT, ...). The result passes rt_seccomp_validate(). */
void rt_profile_seccomp(struct oci_seccomp *s,
			const struct oci_capset *bounding);

/* Docker's default capabilities (CAP_* numbers); returns how many (14). */
size_t rt_profile_default_caps(const int **caps);

/* berth's default seccomp profile (Docker's allow-list) for a container
 * whose bounding set is caps ("CAP_KILL", ...), as the JSON of
 * linux.seccomp (caller frees *out). With cache_dir the compiled program
 * is put there, for rt_create_opts.seccomp_cache. */
int rt_default_seccomp_json(char *const *caps, const char *cache_dir,
			    char **out, struct berr *err);

/* The runtime-spec features document (`berth features`). Caller frees. */
char *rt_features_json(void);

/* Signal names: "KILL", "SIGKILL", "9" -> 9; "0" is 0 (no signal: kill's
 * check that the process is alive). -EINVAL when unknown. */
int rt_parse_signal(const char *s, int *sig);

#endif
