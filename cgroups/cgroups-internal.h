/* Private to cgroups/: the host layout, the group object and the drivers.
 *
 * Layout. cg_layout is read once per process from /proc/self/mountinfo and
 * /proc/self/cgroup (cgroups-detect.c). It lists one cg_hier per mounted
 * hierarchy: every v1 hierarchy (named ones such as name=systemd included,
 * a hierarchy mounted several times is listed once, at its first mount) and
 * the cgroup2 one. The process's own cgroup is not cached: it is re-read
 * from /proc/self/cgroup whenever a relative path is resolved, because a
 * process may move itself between groups.
 *
 * Group. A cg_group has one cg_dir per hierarchy: the group's path below
 * that hierarchy's mount point and the directory itself. An absolute
 * cgroupsPath gives the same path everywhere; a relative one is resolved
 * against the caller's own cgroup in each hierarchy, so the paths may differ
 * (on a host where the caller sits in memory:/a but pids:/ they do).
 *
 * Resolved form (cg_path(), kept in the container state, read by cg_open()):
 *
 *     PATH [";" MOUNT "=" PATH]... [";parents=" N]
 *
 *   PATH        absolute below a mount point, e.g. "/berth/c1"; the first
 *               one applies to every hierarchy not listed after it
 *   MOUNT=PATH  the path in the hierarchy mounted at MOUNT, when it differs
 *               from the first, e.g. "/sys/fs/cgroup/memory=/user/berth/c1"
 *   parents=N   cg_create() made up to N parent levels above the group;
 *               cg_destroy() removes that many parents where they are empty
 *   unit=NAME   the group is systemd's transient scope NAME
 *               (cgroups-systemd.c); cg_destroy() stops the unit too
 *
 * So a group whose path is the same everywhere and whose parents existed
 * reads exactly as runc's "/berth/c1". Every path is absolute from the mount
 * point: cg_open() needs neither the caller's own cgroup nor anything else
 * than the cached layout. A cgroupsPath holding ';' is refused. Mount
 * points come from mountinfo and never hold ';' or "=/" in practice; the
 * parser splits an entry at its first "=/".
 *
 * Drivers. Each mode has a cg_driver (cgroups-v1.c holds v1 and hybrid,
 * cgroups-v2.c v2). What is common to every hierarchy (mkdir, attach,
 * rmdir, reading cgroup.procs) lives in cgroups-group.c and
 * cgroups-procs.c; the drivers hold what differs: preparing new groups,
 * freezing, killing and, later, applying resource limits. */
#ifndef BERTH_CGROUPS_INTERNAL_H
#define BERTH_CGROUPS_INTERNAL_H

#include "cgroups/cgroups.h"

struct cg_driver;

struct cg_hier {
	char *mount;	   /* mount point, e.g. "/sys/fs/cgroup/memory" */
	char *root;	   /* root of that mount inside the hierarchy ("/") */
	char *controllers; /* as /proc/self/cgroup names them ("cpu,cpuacct",
			      "name=systemd"); "" for cgroup2 */
	int hid;	   /* hierarchy id in /proc/self/cgroup, 0 = cgroup2 */
	bool v2;
};

struct cg_layout {
	enum cg_mode mode;
	const struct cg_driver *drv;
	struct cg_hier *hiers;
	size_t n;
	int v2;	     /* index of the cgroup2 hierarchy, -1 when none */
	int freezer; /* index of the v1 freezer hierarchy, -1 when none */
};

struct cg_dir {
	const struct cg_hier *h;
	char *rel;   /* absolute below h->mount, never "/" */
	char *path;  /* h->mount + rel */
	int parents; /* parent levels cg_create() made (or may remove) */
	bool made;   /* cg_create() made the group directory itself */
};

struct cg_group {
	const struct cg_layout *lo;
	struct cg_dir *dirs; /* one per lo->hiers, same order */
	size_t n;
	char *resolved; /* cg_path() */
	char *unit;	/* the systemd scope holding the group, or NULL */
	bool pending;	/* cg_create_begin() made the cgroup2 dir only */
};

struct cg_driver {
	enum cg_mode mode;
	/* Makes freshly made directories usable before anything is attached:
	 * v1 cpuset values, v2 parent subtree_control. */
	int (*prepare)(struct cg_group *g, struct berr *err);
	int (*freeze)(struct cg_group *g, bool frozen, struct berr *err);
	int (*is_frozen)(struct cg_group *g, bool *frozen, struct berr *err);
	/* Kills the whole group at once when the kernel can (cgroup.kill);
	 * -EOPNOTSUPP sends the caller to freeze/signal/thaw. */
	int (*kill)(struct cg_group *g, int sig, struct berr *err);
	int (*clone_fd)(struct cg_group *g, struct berr *err);
	/* Resource limits need no slot: cg_apply() routes each controller
	 * to the hierarchy owning it (cgroups-resources.c). */
};

extern const struct cg_driver cg_driver_v1;
extern const struct cg_driver cg_driver_v2;
extern const struct cg_driver cg_driver_hybrid;

/* ---- cgroups-detect.c ---- */

/* The cached layout of this process (never freed). */
int cg_layout_get(const struct cg_layout **out, struct berr *err);
/* Builds a layout from the text of mountinfo and of /proc/self/cgroup.
 * Exposed so that tests can feed other hosts' layouts. */
int cg_layout_parse(const char *mountinfo, const char *self_cgroup,
		    struct cg_layout **out, struct berr *err);
void cg_layout_free(struct cg_layout *lo);
/* The index of the hierarchy holding controller (v1 only), or -1. */
int cg_layout_find(const struct cg_layout *lo, const char *controller);
/* Fills own[i] (allocated, may stay NULL for a hierarchy the text does not
 * list) with the caller's cgroup in lo->hiers[i], relative to the mount
 * point ("/" or "/a/b"). self_cgroup is /proc/self/cgroup's text. */
void cg_layout_own(const struct cg_layout *lo, const char *self_cgroup,
		   char **own);

/* ---- cgroups-path.c ---- */

/* Checks and normalises a cgroupsPath: "/a//b/./c/" -> "/a/b/c", "a/b/"
 * -> "a/b". Refuses "..", ';' and a path naming a hierarchy root or the
 * caller's own cgroup ("/", "."). */
int cg_path_clean(const char *path, char **out, struct berr *err);
/* "/a" + "b/c" -> "/a/b/c"; "/" + "b" -> "/b". */
char *cg_path_join(const char *base, const char *rel);
/* The resolved form described above. */
char *cg_path_format(const struct cg_group *g);
/* Fills g->dirs from the resolved form (g->lo and g->dirs set). */
int cg_path_parse(struct cg_group *g, const char *resolved, struct berr *err);

/* ---- cgroups-group.c ---- */

/* cg_create() and cg_open() against a given layout (tests use a layout made
 * by cg_layout_parse(); the group keeps a pointer to it). */
int cg_create_in(const struct cg_layout *lo, const char *cgroups_path,
		 const char *id, struct cg_group **out, struct berr *err);
int cg_open_in(const struct cg_layout *lo, const char *resolved,
	       struct cg_group **out, struct berr *err);
/* The group's directory in the hierarchy holding controller, or NULL. */
struct cg_dir *cg_group_dir(struct cg_group *g, const char *controller);

/* ---- cgroups-systemd.c ---- */

/* "slice:prefix:name" (each part may be empty but name; see cgroups.h) ->
 * the slice unit, the scope unit and the scope's cgroup path
 * ("/a.slice/a-b.slice/prefix-name.scope"). All three are malloc'd. */
int cg_systemd_parse(const char *cgroups_path, const char *id, char **slice,
		     char **unit, char **path, struct berr *err);
/* Sets the limits systemd knows (memory, pids, cpu weight and quota,
 * cpuset cpus and mems, io weight) as properties of g's scope; nothing
 * when g is not one. */
int cg_systemd_set(struct cg_group *g, const struct cg_resources *res,
		   struct berr *err);
/* Stops the scope and resets its failed state; errors are ignored (a scope
 * whose processes are gone has gone away on its own). */
void cg_systemd_stop(const char *unit);

/* ---- cgroups-procs.c ---- */

/* Reads the pids of dir and, when recursive, of every group below it. A
 * missing directory has no pids. */
int cg_read_pids(const char *dir, bool recursive, pid_t **pids, size_t *n);
/* Signals each pid through a pidfd; processes already gone are skipped. */
int cg_signal_pids(const pid_t *pids, size_t n, int sig);
/* The directory whose cgroup.procs speaks for the group. */
struct cg_dir *cg_procs_dir(struct cg_group *g);
/* Waits until no process is left in any of the group's directories. */
int cg_wait_empty(struct cg_group *g, int timeout_ms);
/* Sleeps ms milliseconds (the pollers back off with it). */
void cg_sleep_ms(int ms);

/* ---- cgroups-v1.c / cgroups-v2.c ---- */

int cg_v1_prepare_cpuset(struct cg_group *g, struct berr *err);
int cg_v1_freeze(struct cg_group *g, bool frozen, struct berr *err);
int cg_v1_is_frozen(struct cg_group *g, bool *frozen, struct berr *err);
int cg_v2_prepare_controllers(struct cg_group *g, struct berr *err);

/* ---- cgroups-resources.c, cgroups-v1-res.c, cgroups-v2-res.c ----
 *
 * cg_apply() first checks the whole request (static ranges, then each
 * controller against its directory), then writes, controller by
 * controller in CG_CTL order, unified keys last. Each controller goes to
 * its v1 hierarchy when one is mounted, else to the unified hierarchy when
 * that has it; the v1 and v2 files each provide a check and a write for a
 * controller in one directory. */

enum cg_ctl {
	CG_CTL_CPUSET,
	CG_CTL_DEVICES,
	CG_CTL_MEMORY,
	CG_CTL_CPU,
	CG_CTL_PIDS,
	CG_CTL_BLKIO,
	CG_CTL_HUGETLB,
	CG_CTL_NET_CLS,
	CG_CTL_NET_PRIO,
	CG_CTL_RDMA,
	CG_CTL__COUNT
};

/* The v1 name of a controller ("blkio"); its v2 name ("io"), NULL when
 * cgroup v2 has no such controller. */
const char *cg_ctl_v1_name(enum cg_ctl c);
const char *cg_ctl_v2_name(enum cg_ctl c);
/* The spec's field for messages: "linux.resources.blockIO". */
const char *cg_ctl_field(enum cg_ctl c);

/* dir/file helpers: read without the trailing newline (caller frees),
 * write with an error naming the file and the value, test existence. */
int cg_res_read(const char *dir, const char *file, char **out);
int cg_res_write(const char *dir, const char *file, const char *value,
		 struct berr *err);
bool cg_res_exists(const char *dir, const char *file);
/* rdma.max, the same on v1 and v2. */
int cg_res_write_rdma(const char *dir, const struct cg_resources *r,
		      struct berr *err);
/* True when word is one of the space separated words of list. */
bool cg_res_has_word(const char *list, const char *word);

/* Checks a cpuset list ("0-3,5") against dir's parent's effective set,
 * read from the file named effective. */
int cg_res_check_cpuset(const char *dir, const char *list,
			const char *effective, const char *field,
			struct berr *err);

int cg_v1_res_check(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err);
int cg_v1_res_write(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err);
int cg_v2_res_check(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err);
int cg_v2_res_write(enum cg_ctl c, const char *dir,
		    const struct cg_resources *r, struct berr *err);
/* The unified keys; hybrid says that keys of controllers a v1 hierarchy
 * owns are refused. */
int cg_v2_unified_check(const struct cg_group *g, const char *dir,
			const struct cg_resources *r, struct berr *err);
int cg_v2_unified_write(const char *dir, const struct cg_resources *r,
			struct berr *err);

/* ---- cgroups-devices-bpf.c ----
 *
 * Device rules on the unified hierarchy: r->devices folded with v1's
 * semantics (starting from "deny everything") into an eBPF device program
 * attached to dir, replacing the program an earlier call attached. check
 * refuses what write would refuse (a hole punched into a wildcard rule)
 * without touching the kernel. */
int cg_v2_devices_check(const struct cg_resources *r, struct berr *err);
int cg_v2_devices_write(const char *dir, const struct cg_resources *r,
			struct berr *err);
/* How many device programs berth attached to dir itself (for tests). */
int cg_v2_devices_attached(const char *dir, size_t *n);

#endif
