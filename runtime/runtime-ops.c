/* kill, delete, pause/resume, ps: the commands that act on an existing
 * container through its pidfd and its cgroup. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

static int open_cgroup(struct rt_container *c, struct cg_group **g,
		       struct berr *err)
{
	if (!c->state->cgroup_path)
		return berr_setx(err, ENOENT, "container %s has no cgroup",
				 c->state->id);
	return cg_open(c->state->cgroup_path, g, err);
}

int rt_kill(const struct rt_ctx *ctx, const char *id, int sig, bool all,
	    struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = rt_container_status(c);
	if (st == OCI_STATUS_STOPPED && !all)
		return berr_setx(err, ESRCH, "container not running");
	if (all) {
		_cleanup_(cg_group_freep) struct cg_group *g = NULL;
		if ((r = open_cgroup(c, &g, err)) < 0)
			return r;
		return cg_kill_all(g, sig, err);
	}
	_cleanup_close_ int pidfd = rt_container_pidfd(c);
	if (pidfd < 0)
		return berr_setx(err, ESRCH, "container not running");
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return berr_set(err, errno, "kill container %s", id);
	return 0;
}

/* Waits up to timeout_ms for the process behind pidfd to exit. */
static bool wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int n;
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

static void run_poststop(struct rt_container *c)
{
	_cleanup_(oci_config_freep) struct oci_config *cfg = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct berr err = {0};
	if (c->state->hooks_known && !c->state->has_poststop)
		return;
	if (base_read_file_at(c->dirfd, "config.json", &buf, &len, 0) < 0 ||
	    oci_config_parse(buf, len, &cfg, &err) < 0 ||
	    cfg->hooks.poststop.n == 0)
		return;
	_cleanup_free_ char *json =
		oci_state_hook_json(c->state, OCI_STATUS_STOPPED);
	if (rt_hooks_run(&cfg->hooks.poststop, "poststop", json, NULL, &err) <
	    0)
		blog_warn("%s", err.msg);
}

int rt_container_destroy(struct rt_container *c, struct berr *err)
{
	_cleanup_close_ int pidfd = rt_container_pidfd(c);
	if (pidfd >= 0)
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	if (c->state->cgroup_path) {
		_cleanup_(cg_group_freep) struct cg_group *g = NULL;
		/* thaws, kills what is left and waits for the group to empty */
		int r = cg_open(c->state->cgroup_path, &g, err);
		if (r == 0)
			r = cg_destroy(g, err);
		if (r < 0)
			return r;
	}
	if (pidfd >= 0 && !wait_exit(pidfd, 10000))
		return berr_setx(err, EBUSY,
				 "container %s: init did not exit "
				 "after SIGKILL",
				 c->state->id);
	bool ran = c->state->status != OCI_STATUS_CREATING;
	if (ran)
		run_poststop(c);
	int r = rt_container_remove(c, err);
	if (r == 0)
		r = c->release ? c->release(c->root, c->state, err) : 0;
	return r;
}

/* A create killed before it wrote any state leaves its directory and, once
 * it recorded its cgroup (rt_record_cgroup()), maybe some of the group's
 * directories, with the init it cloned there: delete removes them all. A
 * directory with no state that nobody holds locked belongs to no create
 * at work (rt_container_open() waited for the lock). */
static int remove_stateless(const struct rt_ctx *ctx, const char *id,
			    struct berr *err)
{
	_cleanup_free_ char *dir = base_sprintf(
		"%s/%s", ctx->root ? ctx->root : RT_DEFAULT_ROOT, id);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	_cleanup_free_ char *path = rt_recorded_cgroup(dfd);
	if (path) {
		_cleanup_(cg_group_freep) struct cg_group *g = NULL;
		/* kills what is inside (the init), then removes the group */
		int r = cg_open(path, &g, err);
		if (r == 0)
			r = cg_destroy(g, err);
		if (r < 0)
			return r;
	}
	int r = base_rm_rf_at(AT_FDCWD, dir);
	if (r < 0)
		return berr_set(err, -r, "remove %s", dir);
	return 0;
}

int rt_delete(const struct rt_ctx *ctx, const char *id, bool force,
	      struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, true, &c, err);
	if (r == -ENOENT && (force || rt_container_dead_dir(ctx, id)))
		return remove_stateless(ctx, id, err);
	if (r < 0)
		return r;
	enum oci_status st = rt_container_status(c);
	if (!force && (st == OCI_STATUS_RUNNING || st == OCI_STATUS_PAUSED ||
		       st == OCI_STATUS_CREATING))
		return berr_setx(err, EBUSY,
				 "cannot delete container %s that "
				 "is not stopped: %s",
				 id, oci_status_name(st));
	return rt_container_destroy(c, err);
}

int rt_pause(const struct rt_ctx *ctx, const char *id, bool pause,
	     struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, true, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = rt_container_status(c);
	if (pause && st != OCI_STATUS_RUNNING && st != OCI_STATUS_CREATED)
		return berr_setx(err, EINVAL, "container not running");
	if (!pause && st != OCI_STATUS_PAUSED)
		return berr_setx(err, EINVAL, "container not paused");
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if ((r = open_cgroup(c, &g, err)) < 0)
		return r;
	return cg_freeze(g, pause, err);
}

int rt_ps(const struct rt_ctx *ctx, const char *id, pid_t **pids, size_t *n,
	  struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if ((r = open_cgroup(c, &g, err)) < 0)
		return r;
	return cg_procs(g, pids, n, err);
}
