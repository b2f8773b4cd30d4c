/* The cgroup v1 driver: one hierarchy per controller (or co-mounted set).
 * The freezer and cpuset hierarchies need care; the others only need the
 * directories that cgroups-group.c makes. */
#include <fcntl.h>
#include <string.h>

#include "cgroups/cgroups-internal.h"

/* Reads dir/file without its trailing newline; "" when the file is empty. */
static int read_value(const char *dir, const char *file, char **out)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	char *s = NULL;
	size_t len = 0;
	int r = base_read_file_at(AT_FDCWD, f, &s, &len, 0);
	if (r < 0)
		return r;
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
	*out = s;
	return 0;
}

static int write_value(const char *dir, const char *file, const char *value,
		       struct berr *err)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	int r = base_write_file_at(AT_FDCWD, f, value, strlen(value), 0);
	if (r < 0)
		return berr_set(err, -r, "write %s", f);
	return 0;
}

/* path without its last `up` components. */
static char *ancestor(const char *path, int up)
{
	char *p = base_strdup(path);
	for (int i = 0; i < up; i++) {
		char *slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
	}
	return p;
}

/* The nearest group at or above d whose cpus and mems are set; *empty is
 * how many levels below it (d included) have none. */
static int find_cpuset_source(const struct cg_dir *d, char **cpus, char **mems,
			      int *empty, struct berr *err)
{
	size_t ml = strlen(d->h->mount);
	for (int up = 0;; up++) {
		_cleanup_free_ char *p = ancestor(d->path, up);
		_cleanup_free_ char *c = NULL, *m = NULL;
		int r = read_value(p, "cpuset.cpus", &c);
		if (r == 0)
			r = read_value(p, "cpuset.mems", &m);
		if (r < 0)
			return berr_set(err, -r, "read cpuset of %s", p);
		if (*c && *m) {
			*cpus = TAKE_PTR(c);
			*mems = TAKE_PTR(m);
			*empty = up;
			return 0;
		}
		if (strlen(p) <= ml)
			return berr_setx(err, ENOSPC,
					 "cpuset of %s: no cpus or mems in any "
					 "parent",
					 d->path);
	}
}

/* A new v1 cpuset group starts with empty cpuset.cpus and cpuset.mems, and
 * attaching a process to it fails with ENOSPC: copy the parent's values
 * down, top first, since a child may only hold a subset of its parent. */
int cg_v1_prepare_cpuset(struct cg_group *g, struct berr *err)
{
	struct cg_dir *d = cg_group_dir(g, "cpuset");
	if (!d)
		return 0;
	_cleanup_free_ char *cpus = NULL, *mems = NULL;
	int empty = 0;
	int r = find_cpuset_source(d, &cpus, &mems, &empty, err);
	if (r < 0)
		return r;
	for (int up = empty - 1; up >= 0; up--) {
		_cleanup_free_ char *p = ancestor(d->path, up);
		r = write_value(p, "cpuset.cpus", cpus, err);
		if (r == 0)
			r = write_value(p, "cpuset.mems", mems, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct cg_dir *freezer_dir(struct cg_group *g)
{
	return g->lo->freezer < 0 ? NULL : &g->dirs[g->lo->freezer];
}

int cg_v1_is_frozen(struct cg_group *g, bool *frozen, struct berr *err)
{
	struct cg_dir *d = freezer_dir(g);
	*frozen = false;
	if (!d)
		return 0;
	_cleanup_free_ char *state = NULL;
	int r = read_value(d->path, "freezer.state", &state);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_set(err, -r, "read %s/freezer.state", d->path);
	*frozen = !strcmp(state, "FROZEN");
	return 0;
}

/* Writing FROZEN starts freezing; the state reads FREEZING until every
 * task has stopped. Rewriting FROZEN while waiting retries tasks that were
 * busy in the kernel the first time. */
int cg_v1_freeze(struct cg_group *g, bool frozen, struct berr *err)
{
	struct cg_dir *d = freezer_dir(g);
	if (!d)
		return berr_setx(err, EOPNOTSUPP,
				 "freeze %s: no freezer hierarchy mounted",
				 g->resolved);
	const char *want = frozen ? "FROZEN" : "THAWED";
	int waited = 0, step = 1;
	for (;;) {
		int r = write_value(d->path, "freezer.state", want, err);
		if (r < 0)
			return r;
		_cleanup_free_ char *state = NULL;
		r = read_value(d->path, "freezer.state", &state);
		if (r < 0)
			return berr_set(err, -r, "read %s/freezer.state",
					d->path);
		if (!strcmp(state, want))
			return 0;
		if (waited >= 5000)
			break;
		cg_sleep_ms(step);
		waited += step;
		if (step < 16)
			step *= 2;
	}
	write_value(d->path, "freezer.state", "THAWED", NULL);
	return berr_setx(err, EBUSY, "freeze %s: timed out", d->path);
}

static int v1_kill(struct cg_group *g, int sig, struct berr *err)
{
	return -EOPNOTSUPP;
}

static int v1_clone_fd(struct cg_group *g, struct berr *err)
{
	return berr_setx(err, EOPNOTSUPP,
			 "clone into cgroup %s: needs the unified hierarchy "
			 "alone",
			 g->resolved);
}

const struct cg_driver cg_driver_v1 = {
	.mode = CG_MODE_V1,
	.prepare = cg_v1_prepare_cpuset,
	.freeze = cg_v1_freeze,
	.is_frozen = cg_v1_is_frozen,
	.kill = v1_kill,
	.clone_fd = v1_clone_fd,
};

/* Hybrid: the v1 hierarchies own the controllers (and the freezer); the
 * unified one is a plain tree that is kept in step, with its parents'
 * controllers (hugetlb, say) enabled as on v2. */
static int hybrid_prepare(struct cg_group *g, struct berr *err)
{
	int r = cg_v1_prepare_cpuset(g, err);
	if (r == 0)
		r = cg_v2_prepare_controllers(g, err);
	return r;
}

const struct cg_driver cg_driver_hybrid = {
	.mode = CG_MODE_HYBRID,
	.prepare = hybrid_prepare,
	.freeze = cg_v1_freeze,
	.is_frozen = cg_v1_is_frozen,
	.kill = v1_kill,
	.clone_fd = v1_clone_fd,
};
