/* cgroups: one interface over cgroup v2, v1 and hybrid hosts.
 *
 * The driver is chosen at run time from /proc/self/mountinfo:
 *   CG_MODE_V2      cgroup2 mounted at /sys/fs/cgroup (the unified hierarchy)
 *   CG_MODE_V1      one cgroup v1 hierarchy per controller (co-mounts such as
 *                   cpu,cpuacct included), no cgroup2 mount
 *   CG_MODE_HYBRID  v1 hierarchies plus a cgroup2 mount (usually at
 *                   /sys/fs/cgroup/unified) that may own some controllers
 *
 * A container's group is named by one path (cgroupsPath). An absolute path
 * is taken from the root of each hierarchy; a relative one is taken from the
 * caller's own cgroup in each hierarchy, as runc does; an empty one becomes
 * the container id under the caller's cgroup. A path containing ".." is
 * refused.
 *
 * The group is created in every mounted hierarchy (every v1 hierarchy,
 * including named ones like name=systemd, and the unified one), so that a
 * process attached to it is accounted everywhere.
 *
 * struct cg_group is opaque and owned by the caller (cg_group_free()).
 * Functions return 0 or -errno and fill err. Nothing here is thread-safe
 * with respect to one group, but separate processes may create and destroy
 * distinct groups concurrently. */
#ifndef BERTH_CGROUPS_H
#define BERTH_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"

enum cg_mode { CG_MODE_V1, CG_MODE_V2, CG_MODE_HYBRID };

struct cg_group;

/* Detects the host's layout (cached per process). */
int cg_detect(enum cg_mode *mode, struct berr *err);
const char *cg_mode_name(enum cg_mode mode);
/* Where a group that berth names itself (a pool, a job, a container)
 * goes when the user gives no parent: "" (a relative path: below the
 * caller's own group, as runc takes one) on v1 and hybrid hosts; "/" (the
 * root of the hierarchy, as docker's cgroupfs driver does) on cgroup v2.
 * There the caller's group holds the caller, and the no-internal-process
 * rule keeps it from enabling controllers for groups below it: from a
 * systemd session or service, a pool's cpuset could not be set. */
const char *cg_default_parent(void);

/* Resolves cgroups_path (see above) for container id and creates the
 * directories in every hierarchy. Parent directories that did not exist
 * are created too and marked as berth's (an xattr), so that whichever
 * cg_destroy() leaves one empty removes it, and a parent someone else
 * made is never removed. Creates and destroys of groups below one such
 * parent may run concurrently: a create whose parent vanished under it
 * makes it again. On v2, parent controllers are enabled in
 * cgroup.subtree_control as needed. On error nothing is left behind. */
int cg_create(const char *cgroups_path, const char *id, struct cg_group **out,
	      struct berr *err);

/* Reopens a group created earlier from its resolved path (cg_path()). It
 * does not create anything; missing directories are not an error (the
 * group may already be half removed). */
int cg_open(const char *resolved_path, struct cg_group **out, struct berr *err);

/* The resolved path, absolute from each hierarchy's root ("/a/b/id"), to be
 * stored in the container state. Owned by the group. */
const char *cg_path(const struct cg_group *g);

void cg_group_free(struct cg_group *g);
static inline void cg_group_freep(struct cg_group **g)
{
	cg_group_free(*g);
}

/* With --systemd-cgroup: cgroups_path reads "slice:prefix:name" (empty:
 * system.slice, prefix "berth", name id) and names the transient scope
 * "prefix-name.scope", which systemd (PID 1, over D-Bus; libsystemd is
 * loaded on first use) creates with pid in it, delegated to berth. The
 * group is that scope's cgroup, made in the other hierarchies too; limits
 * go to its files and, for those systemd knows, to the unit. cg_destroy()
 * stops the unit. Where systemd is not PID 1 this fails with a clear
 * error, and it leaves nothing behind on any error. */
int cg_create_systemd(const char *cgroups_path, const char *id, pid_t pid,
		      struct cg_group **out, struct berr *err);

/* Moves pid into the group in every hierarchy. */
int cg_attach(struct cg_group *g, pid_t pid, struct berr *err);

/* On v2 (and on the unified hierarchy only where it is the sole one), an
 * O_DIRECTORY fd of the group for clone3(CLONE_INTO_CGROUP); -EOPNOTSUPP
 * where that cannot place the process in every hierarchy (v1, hybrid). */
int cg_open_clone_fd(struct cg_group *g, struct berr *err);

/* Creation in two steps, for a caller that starts the group's first
 * process in between. cg_create_begin() resolves the path as cg_create()
 * does but, on a hybrid host, makes only the cgroup2 directory (nothing on
 * v1, everything on v2), so that clone3(CLONE_INTO_CGROUP) can place the
 * process there (cg_open_v2_clone_fd()). cg_create_finish() makes the
 * rest; cg_destroy() takes a group in either step. */
int cg_create_begin(const char *cgroups_path, const char *id,
		    struct cg_group **out, struct berr *err);
int cg_create_finish(struct cg_group *g, struct berr *err);
/* cg_create_begin() in two steps, for a caller that records the group
 * before any of its directories exists: cg_resolve() makes nothing, and
 * cg_path() already names every directory cg_destroy() (or cg_open() of
 * that path, later) would remove. cg_make_begin() makes what
 * cg_create_begin() makes. */
int cg_resolve(const char *cgroups_path, const char *id, struct cg_group **out,
	       struct berr *err);
int cg_make_begin(struct cg_group *g, struct berr *err);
/* An O_DIRECTORY fd of the group's cgroup2 directory (v2 or hybrid), for
 * clone3(CLONE_INTO_CGROUP); -EOPNOTSUPP on a v1 host. */
int cg_open_v2_clone_fd(struct cg_group *g, struct berr *err);

/* A single-threaded process moves itself into the group: the caller opens
 * one write fd per hierarchy (leaving out cgroup2 where v2_placed: clone3
 * put the process there), hands them to the process, which writes "0" to
 * each with cg_join_self(). On v1 the fd is the tasks file, which spares
 * the process move's wait for an RCU grace period (see the .c file).
 * cg_join_self() closes the fds and sets *n to 0, as cg_close_fds() does. */
int cg_open_join_fds(struct cg_group *g, bool v2_placed, int *fds, size_t max,
		     size_t *n, struct berr *err);
int cg_join_self(int *fds, size_t *n, struct berr *err);
/* Both at once, for the single-threaded caller itself. */
int cg_join(struct cg_group *g, bool v2_placed, struct berr *err);
void cg_close_fds(int *fds, size_t *n);

/* exec --cgroup: points the group at existing sub-groups below it, for
 * processes that join afterwards. Each spec is "SUB" (every hierarchy; it
 * must then be the only spec, as with runc) or "CONTROLLER[,...]:SUB"
 * (the v1 hierarchies with those controllers), SUB relative to the
 * group, without "..". The group
 * is only good for joining afterwards; cg_destroy() must not be called on
 * it. Fails, naming the spec or directory, when a sub-group is missing. */
int cg_descend(struct cg_group *g, char *const *specs, struct berr *err);

/* Lists the pids in the group (cgroup.procs of the first hierarchy that has
 * it; on v1 the pids controller's or freezer's). *pids is malloc'd. */
int cg_procs(struct cg_group *g, pid_t **pids, size_t *n, struct berr *err);

/* Sends sig to every process in the group: cgroup.kill on v2 when sig is
 * SIGKILL; otherwise freeze, signal each pid, thaw (v1), so no process can
 * fork its way out. */
int cg_kill_all(struct cg_group *g, int sig, struct berr *err);

/* Freezes or thaws the group (v1 freezer.state / v2 cgroup.freeze) and
 * waits until the kernel reports the new state. */
int cg_freeze(struct cg_group *g, bool frozen, struct berr *err);
/* True when the group is frozen. */
int cg_is_frozen(struct cg_group *g, bool *frozen, struct berr *err);

/* True when this process made the group's directory in every hierarchy:
 * nobody else's process can be in it yet. */
bool cg_is_new(const struct cg_group *g);

/* Removes only the directories cg_create() made in this process (and the
 * parents it made), killing nothing: a directory that holds processes
 * stays. For a failed create whose group others' processes share. */
void cg_unmake(struct cg_group *g);

/* Removes the group from every hierarchy: kills leftover processes
 * (SIGKILL, after thawing), waits for them to go, removes the directories
 * and the parents cg_create() made when they are empty. Idempotent: a
 * group that is already gone is success. */
int cg_destroy(struct cg_group *g, struct berr *err);

/* ---- resource limits (cgroups-resources.c, cgroups-v1-res.c,
 * cgroups-v2-res.c) ----------------------------------------------------------
 *
 * struct cg_resources mirrors the runtime-spec's linux.resources in
 * cgroups' own terms (this module does not know the oci module). A field
 * is applied only when its has_ flag is set (or, for pointers and lists,
 * when it is non-NULL / non-empty); everything else is left as the kernel
 * or an earlier call set it. Messages name the spec's fields
 * ("linux.resources.memory.swap ..."), since that is what users wrote.
 *
 * The struct never owns what it points at: the caller keeps the strings
 * and arrays alive during cg_apply() and frees them afterwards. */

#define CG_ANY (-1) /* a device rule's major or minor: every number ('*') */

struct cg_device_rule {
	bool allow;
	char type;	      /* 'a' (char and block), 'c' or 'b' */
	int64_t major, minor; /* CG_ANY or >= 0 */
	const char *access;   /* subset of "rwm"; NULL or "" means "rwm" */
};

struct cg_weight_device {
	int64_t major, minor;
	uint16_t weight, leaf_weight; /* 0: not set */
};

struct cg_rate_device {
	int64_t major, minor;
	uint64_t rate; /* bytes or operations per second */
};

struct cg_rate_list {
	struct cg_rate_device *v;
	size_t n;
};

struct cg_hugetlb_limit {
	const char *page_size; /* "2MB", "1GB": as the kernel names files */
	uint64_t limit;	       /* bytes */
};

struct cg_net_prio {
	const char *ifname;
	uint32_t prio;
};

struct cg_rdma_limit {
	const char *device;
	bool has_hca_handles, has_hca_objects;
	uint32_t hca_handles, hca_objects;
};

struct cg_unified_kv {
	const char *key; /* a file name of the group, e.g. "memory.high" */
	const char *value;
};

struct cg_resources {
	/* memory, in bytes; -1 is unlimited. swap is memory + swap, as in
	 * the spec and v1's memsw; the v2 driver writes swap - limit. */
	bool has_memory_limit, has_memory_reservation, has_memory_swap;
	int64_t memory_limit, memory_reservation, memory_swap;
	bool has_swappiness;
	uint64_t swappiness; /* 0..100; v1 only */
	bool has_oom_kill_disable, oom_kill_disable;
	bool has_use_hierarchy, use_hierarchy;
	/* refuse a memory limit below the group's current usage */
	bool check_before_update;
	/* kernel and kernelTCP were given: ignored, with a warning */
	bool kernel_memory_given;

	/* cpu; quota -1 is no quota, times in microseconds */
	bool has_cpu_shares, has_cpu_quota, has_cpu_period, has_cpu_burst,
		has_rt_runtime, has_rt_period, has_cpu_idle;
	uint64_t cpu_shares; /* 2..262144; v2 writes cg_cpu_shares_to_weight */
	int64_t cpu_quota;
	uint64_t cpu_period, cpu_burst;
	int64_t rt_runtime;
	uint64_t rt_period;
	int64_t cpu_idle; /* 0 or 1 */
	/* "0-3,5"; NULL or "" leaves them alone */
	const char *cpuset_cpus, *cpuset_mems;

	/* pids: < 0 is "max" */
	bool has_pids_limit;
	int64_t pids_limit;

	/* block I/O: weights 10..1000, 0 meaning not set */
	uint16_t blkio_weight, blkio_leaf_weight;
	struct cg_weight_device *weight_devices;
	size_t n_weight_devices;
	struct cg_rate_list read_bps, write_bps, read_iops, write_iops;

	struct cg_hugetlb_limit *hugetlb;
	size_t n_hugetlb;

	bool has_net_classid;
	uint32_t net_classid;
	struct cg_net_prio *net_prio;
	size_t n_net_prio;

	struct cg_rdma_limit *rdma;
	size_t n_rdma;

	/* v1: "a" is denied first, then each rule is written in order. On a
	 * pure v2 host the same rules become an eBPF device program attached
	 * to the group (cgroups-devices-bpf.c), which replaces the one an
	 * earlier cg_apply() attached. */
	struct cg_device_rule *devices;
	size_t n_devices;

	/* raw files of the unified hierarchy, written last, as given */
	struct cg_unified_kv *unified;
	size_t n_unified;
};

/* Applies r to the group, each controller in the hierarchy that owns it
 * (on a hybrid host hugetlb, say, may live in the unified one). Every
 * value is checked first, against the spec's ranges and against the host
 * (files that must exist, the parent's cpuset, the current memory limit),
 * so that a bad request changes nothing; a kernel refusal while writing
 * may leave earlier controllers changed. Errors: -EINVAL (bad value, with
 * the field named), -EOPNOTSUPP (a controller or file the host lacks),
 * or the write's errno. */
int cg_apply(struct cg_group *g, const struct cg_resources *r,
	     struct berr *err);

/* Conversions runc uses between v1 and v2 scales. */
uint64_t cg_cpu_shares_to_weight(uint64_t shares); /* 2..262144 -> 1..10000 */
uint64_t cg_blkio_weight_to_io_weight(uint16_t w); /* 10..1000 -> 1..10000 */

/* ---- statistics and OOM notification (cgroups-stats.c) --------------------
 *
 * cg_stats() reads what the kernel accounts for the group, each controller
 * from the hierarchy owning it (v1 files, or the unified hierarchy's when
 * the controller lives there), converted to the units and meanings runc
 * reports, so that the same numbers come out on v1, hybrid and v2 hosts:
 * times in nanoseconds, v2's swap as memory + swap (v1's memsw), "max" as
 * UINT64_MAX for memory limits and 0 ("no limit") for pids. A controller
 * the host lacks, or a file an older kernel lacks, leaves its fields 0.
 * The caller frees what cg_stats() allocated with cg_stats_free(). */

struct cg_mem_entry {
	uint64_t limit, usage, max, failcnt;
};

struct cg_stat_kv {
	char *key; /* allocated */
	uint64_t value;
};

struct cg_blkio_entry {
	uint64_t major, minor;
	char op[16]; /* "Read", "Write", "Sync", "Async", "Discard", "Total" */
	uint64_t value;
};

/* runc's blkio tables, in the order of its JSON fields */
enum cg_blkio_table {
	CG_BLKIO_SERVICE_BYTES,
	CG_BLKIO_SERVICED,
	CG_BLKIO_QUEUED,
	CG_BLKIO_SERVICE_TIME,
	CG_BLKIO_WAIT_TIME,
	CG_BLKIO_MERGED,
	CG_BLKIO_TIME,
	CG_BLKIO_SECTORS,
	CG_BLKIO__COUNT
};

struct cg_blkio_list {
	struct cg_blkio_entry *v;
	size_t n;
};

struct cg_hugetlb_stats {
	char *page_size; /* "2MB", allocated */
	uint64_t usage, max, failcnt;
};

struct cg_u64_list {
	uint64_t *v;
	size_t n;
};

struct cg_stats {
	struct {
		uint64_t total, kernel, user; /* ns */
		/* v1 only */
		struct cg_u64_list percpu, percpu_kernel, percpu_user;
		/* throttled_time in ns */
		uint64_t periods, throttled_periods, throttled_time;
	} cpu;
	struct {
		struct cg_u64_list cpus, mems; /* expanded lists */
		/* v1 flags, as the files say */
		uint64_t cpu_exclusive, mem_hardwall, mem_exclusive,
			memory_migrate, memory_spread_page, memory_spread_slab,
			memory_pressure, sched_load_balance;
		int64_t sched_relax_domain_level;
	} cpuset;
	struct {
		uint64_t cache;
		struct cg_mem_entry usage, swap, kernel, kernel_tcp;
		struct cg_stat_kv *raw; /* memory.stat, in file order */
		size_t n_raw;
		/* v2 memory.events; on v1 oom_kill is memory.oom_control's */
		uint64_t ev_low, ev_high, ev_max, ev_oom, oom_kill;
	} memory;
	struct {
		uint64_t current, limit; /* limit 0: no limit */
	} pids;
	struct cg_blkio_list blkio[CG_BLKIO__COUNT];
	struct cg_hugetlb_stats *hugetlb;
	size_t n_hugetlb;
};

/* Fills out (zeroed first). -ENOENT when the group no longer exists;
 * other errors name the file. */
int cg_stats(struct cg_group *g, struct cg_stats *out, struct berr *err);
void cg_stats_free(struct cg_stats *s);

/* OOM notification. cg_oom_watch_open() arms a watch on the group's memory
 * controller: an eventfd registered on memory.oom_control through
 * cgroup.event_control on v1, an inotify watch of memory.events on the
 * unified hierarchy. cg_oom_watch_fd() becomes readable when an OOM may
 * have happened (and, on v1, when the group is removed); then
 * cg_oom_watch_check() consumes the wake-up and stores in *ooms how many
 * new OOM kills the group counted since the previous check (oom_kill in
 * memory.oom_control or memory.events; on v1 kernels without that count,
 * one per notification), and sets *gone when the group has been removed.
 * v1 notifies before the kill is counted, so a check after a notification
 * may wait up to 200 ms for the count; a v1 group that stays out of
 * memory without a kill (oom_kill_disable) counts one OOM.
 * -EOPNOTSUPP when the group has no memory controller. */
struct cg_oom_watch;
int cg_oom_watch_open(struct cg_group *g, struct cg_oom_watch **out,
		      struct berr *err);
int cg_oom_watch_fd(const struct cg_oom_watch *w);
int cg_oom_watch_check(struct cg_oom_watch *w, uint64_t *ooms, bool *gone);
void cg_oom_watch_free(struct cg_oom_watch *w);
static inline void cg_oom_watch_freep(struct cg_oom_watch **w)
{
	cg_oom_watch_free(*w);
}

#endif
