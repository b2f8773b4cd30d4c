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

/* Resolves cgroups_path (see above) for container id and creates the
 * directories in every hierarchy. Parent directories that did not exist
 * are created too and remembered, so that cg_destroy() removes them when
 * they are empty. On v2, parent controllers are enabled in
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
static inline void cg_group_freep(struct cg_group **g) { cg_group_free(*g); }

/* Moves pid into the group in every hierarchy. */
int cg_attach(struct cg_group *g, pid_t pid, struct berr *err);

/* On v2 (and on the unified hierarchy only where it is the sole one), an
 * O_DIRECTORY fd of the group for clone3(CLONE_INTO_CGROUP); -EOPNOTSUPP
 * where that cannot place the process in every hierarchy (v1, hybrid). */
int cg_open_clone_fd(struct cg_group *g, struct berr *err);

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

/* Removes the group from every hierarchy: kills leftover processes
 * (SIGKILL, after thawing), waits for them to go, removes the directories
 * and the parents cg_create() made when they are empty. Idempotent: a
 * group that is already gone is success. */
int cg_destroy(struct cg_group *g, struct berr *err);

#endif
