/* A container's group across every hierarchy: creating, opening,
 * attaching and removing it. The per-mode work is in the drivers. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "cgroups/cgroups-internal.h"

static struct cg_group *group_new(const struct cg_layout *lo)
{
	struct cg_group *g = base_calloc(1, sizeof(*g));
	g->lo = lo;
	g->n = lo->n;
	g->dirs = base_calloc(lo->n, sizeof(*g->dirs));
	for (size_t i = 0; i < lo->n; i++)
		g->dirs[i].h = &lo->hiers[i];
	return g;
}

void cg_group_free(struct cg_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++) {
		free(g->dirs[i].rel);
		free(g->dirs[i].path);
	}
	free(g->dirs);
	free(g->resolved);
	free(g->unit);
	free(g);
}

const char *cg_path(const struct cg_group *g)
{
	return g->resolved;
}

struct cg_dir *cg_group_dir(struct cg_group *g, const char *controller)
{
	int i = cg_layout_find(g->lo, controller);
	return i < 0 ? NULL : &g->dirs[i];
}

/* Fills every dir's rel from the cleaned path: as is when absolute, below
 * the caller's own group in each hierarchy when relative. */
static int resolve(struct cg_group *g, const char *clean, struct berr *err)
{
	char **own = NULL;
	if (clean[0] != '/') {
		_cleanup_free_ char *sc = NULL;
		int r = base_read_file_at(AT_FDCWD, "/proc/self/cgroup", &sc,
					  NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "read /proc/self/cgroup");
		own = base_calloc(g->n, sizeof(*own));
		cg_layout_own(g->lo, sc, own);
	}
	int r = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct cg_dir *d = &g->dirs[i];
		const char *base = own && own[i] ? own[i] : "/";
		if (own && strchr(base, ';'))
			r = berr_setx(err, EINVAL,
				      "own cgroup \"%s\" in %s: unsupported "
				      "\";\"",
				      base, d->h->mount);
		d->rel = cg_path_join(base, clean);
		d->path = base_sprintf("%s%s", d->h->mount, d->rel);
	}
	for (size_t i = 0; own && i < g->n; i++)
		free(own[i]);
	free(own);
	return r;
}

/* A parent directory berth made carries this mark, so that whichever
 * berth removes the last group below it removes it too, and a parent that
 * someone else made is never removed. */
#define MADE_XATTR "trusted.berth.made"

static void mark_made(const char *dir)
{
	/* without xattrs (an unprivileged caller), parents=N still counts */
	(void)setxattr(dir, MADE_XATTR, "1", 1, 0);
}

/* 1: berth made dir; 0: it did not (the file system keeps xattrs and dir
 * has no mark); -1: no way to tell (no xattrs here). */
static int made_mark(const char *dir)
{
	char v;
	ssize_t n = getxattr(dir, MADE_XATTR, &v, sizeof(v));
	if (n == 1 && v == '1')
		return 1;
	return n >= 0 || errno == ENODATA ? 0 : -1;
}

/* mkdir of every level of d below the mount point, counting the ones made.
 * Returns 0, -ENOENT when a concurrent removal took a parent away, or the
 * error of the level that failed. */
static int make_levels(struct cg_dir *d, struct berr *err)
{
	_cleanup_free_ char *p = base_strdup(d->path);
	size_t ml = strlen(d->h->mount);
	int made_from = -1, level = 0;
	for (char *s = p + ml + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, 0755) == 0) {
			if (made_from < 0)
				made_from = level;
			if (saved != '\0')
				mark_made(p);
		} else if (errno == EEXIST) {
			made_from = -1;
		} else {
			return berr_set(err, errno, "mkdir %s", p);
		}
		*s = saved;
		level++;
		if (saved == '\0')
			break;
	}
	d->made = made_from >= 0;
	d->parents = made_from >= 0 ? level - 1 - made_from : 0;
	return 0;
}

/* A parent made here, or by another berth, may go between our mkdirs of
 * the levels when the last group below it is removed: make them again. */
#define MAKE_TRIES 100

static int make_dir(struct cg_dir *d, struct berr *err)
{
	if (mkdir(d->path, 0755) == 0) {
		d->made = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return berr_set(err, errno, "mkdir %s", d->path);
	int r = -ENOENT;
	for (int tries = 0; r == -ENOENT && tries < MAKE_TRIES; tries++)
		r = make_levels(d, err);
	return r;
}

/* Removes what cg_create made in d: the group, then its empty parents that
 * carry berth's mark or, where the file system keeps no xattrs, that this
 * group made (parents, one count for every hierarchy in the recorded
 * path, so never trusted where the mark can tell). A parent that still
 * holds a group fails rmdir, which ends the walk: the last group out
 * removes it, and a group made below it meanwhile makes it again. */
static void unmake_dir(struct cg_dir *d)
{
	if (d->made)
		rmdir(d->path);
	_cleanup_free_ char *p = base_strdup(d->path);
	size_t ml = strlen(d->h->mount);
	for (int i = 0;; i++) {
		char *slash = strrchr(p, '/');
		if (!slash || (size_t)(slash - p) <= ml)
			break;
		*slash = '\0';
		int mark = made_mark(p);
		if (mark == 0 || (mark < 0 && i >= d->parents))
			break;
		if (rmdir(p) < 0)
			break;
	}
}

static void unmake_all(struct cg_group *g)
{
	for (size_t i = g->n; i-- > 0;)
		unmake_dir(&g->dirs[i]);
}

static int make_all(struct cg_group *g, struct berr *err)
{
	for (size_t i = 0; i < g->n; i++) {
		int r = make_dir(&g->dirs[i], err);
		if (r < 0) {
			unmake_all(g);
			return r;
		}
	}
	int r = g->lo->drv->prepare(g, err);
	if (r < 0)
		unmake_all(g);
	return r;
}

/* The group's directories resolved, none made yet. */
static int group_resolve(const struct cg_layout *lo, const char *cgroups_path,
			 const char *id, struct cg_group **out,
			 struct berr *err)
{
	_cleanup_free_ char *clean = NULL;
	int r;
	if (!cgroups_path || !*cgroups_path) {
		if (!id || !*id || strchr(id, '/') || !strcmp(id, ".") ||
		    !strcmp(id, ".."))
			return berr_setx(err, EINVAL,
					 "container id \"%s\": not usable as a "
					 "cgroup name",
					 id ? id : "");
		r = cg_path_clean(id, &clean, err);
	} else {
		r = cg_path_clean(cgroups_path, &clean, err);
	}
	if (r < 0)
		return r;
	_cleanup_(cg_group_freep) struct cg_group *g = group_new(lo);
	r = resolve(g, clean, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(g);
	return 0;
}

int cg_create_in(const struct cg_layout *lo, const char *cgroups_path,
		 const char *id, struct cg_group **out, struct berr *err)
{
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	int r = group_resolve(lo, cgroups_path, id, &g, err);
	if (r < 0)
		return r;
	r = make_all(g, err);
	if (r < 0)
		return r;
	g->resolved = cg_path_format(g);
	blog_debug("cgroup %s created", g->resolved);
	*out = TAKE_PTR(g);
	return 0;
}

int cg_resolve(const char *cgroups_path, const char *id, struct cg_group **out,
	       struct berr *err)
{
	const struct cg_layout *lo;
	int r = cg_layout_get(&lo, err);
	if (r < 0)
		return r;
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if ((r = group_resolve(lo, cgroups_path, id, &g, err)) < 0)
		return r;
	g->pending = true;
	g->resolved = cg_path_format(g);
	*out = TAKE_PTR(g);
	return 0;
}

/* On a hybrid host, the cgroup2 directory alone: what clone3 can place a
 * process in. The rest waits for cg_create_finish(). */
int cg_make_begin(struct cg_group *g, struct berr *err)
{
	const struct cg_layout *lo = g->lo;
	if (lo->mode == CG_MODE_V2)
		return cg_create_finish(g, err);
	int r;
	if (lo->v2 >= 0 && (r = make_dir(&g->dirs[lo->v2], err)) < 0)
		return r;
	/* now, while the subtree is empty: turning a controller on above a
	 * group with a process in it moves that process (a grace period) */
	if (lo->v2 >= 0 && (r = cg_v2_prepare_controllers(g, err)) < 0) {
		unmake_dir(&g->dirs[lo->v2]);
		return r;
	}
	return 0;
}

int cg_create_begin(const char *cgroups_path, const char *id,
		    struct cg_group **out, struct berr *err)
{
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	int r = cg_resolve(cgroups_path, id, &g, err);
	if (r < 0 || (r = cg_make_begin(g, err)) < 0)
		return r;
	*out = TAKE_PTR(g);
	return 0;
}

int cg_create_finish(struct cg_group *g, struct berr *err)
{
	if (!g->pending)
		return 0;
	/* the cgroup2 directory again too: EEXIST keeps what begin made */
	int r = make_all(g, err);
	if (r < 0)
		return r;
	g->pending = false;
	free(g->resolved);
	g->resolved = cg_path_format(g);
	blog_debug("cgroup %s created", g->resolved);
	return 0;
}

int cg_create(const char *cgroups_path, const char *id, struct cg_group **out,
	      struct berr *err)
{
	const struct cg_layout *lo;
	int r = cg_layout_get(&lo, err);
	if (r < 0)
		return r;
	return cg_create_in(lo, cgroups_path, id, out, err);
}

int cg_open_in(const struct cg_layout *lo, const char *resolved,
	       struct cg_group **out, struct berr *err)
{
	if (!resolved)
		return berr_setx(err, EINVAL, "cgroup path is empty");
	_cleanup_(cg_group_freep) struct cg_group *g = group_new(lo);
	int r = cg_path_parse(g, resolved, err);
	if (r < 0)
		return r;
	g->resolved = base_strdup(resolved);
	*out = TAKE_PTR(g);
	return 0;
}

int cg_open(const char *resolved_path, struct cg_group **out, struct berr *err)
{
	const struct cg_layout *lo;
	int r = cg_layout_get(&lo, err);
	if (r < 0)
		return r;
	return cg_open_in(lo, resolved_path, out, err);
}

int cg_attach(struct cg_group *g, pid_t pid, struct berr *err)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < g->n; i++) {
		_cleanup_free_ char *f =
			base_sprintf("%s/cgroup.procs", g->dirs[i].path);
		int r = base_write_file_at(AT_FDCWD, f, buf, (size_t)len, 0);
		if (r < 0)
			return berr_set(err, -r, "attach pid %d to %s",
					(int)pid, g->dirs[i].path);
	}
	return 0;
}

int cg_open_clone_fd(struct cg_group *g, struct berr *err)
{
	return g->lo->drv->clone_fd(g, err);
}

int cg_open_v2_clone_fd(struct cg_group *g, struct berr *err)
{
	if (g->lo->v2 < 0)
		return berr_setx(err, EOPNOTSUPP,
				 "clone into cgroup %s: no cgroup2 hierarchy",
				 g->resolved);
	const char *p = g->dirs[g->lo->v2].path;
	int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", p);
	return fd;
}

/* v1's tasks file moves the writing thread alone. Moving a whole process
 * (cgroup.procs) takes the kernel's global threadgroup lock for writing,
 * which first waits for an RCU grace period whenever no other move came
 * just before: 5-20 ms on a quiet host, per container. A single-threaded
 * process moving itself through tasks skips that lock (Linux 6.0+; older
 * kernels take it, which is what cgroup.procs costs anyway). */
int cg_open_join_fds(struct cg_group *g, bool v2_placed, int *fds, size_t max,
		     size_t *n, struct berr *err)
{
	*n = 0;
	for (size_t i = 0; i < g->n; i++) {
		const struct cg_dir *d = &g->dirs[i];
		if (d->h->v2 && v2_placed)
			continue;
		if (*n == max) {
			cg_close_fds(fds, n);
			return berr_setx(err, E2BIG,
					 "cgroup %s: too many "
					 "hierarchies",
					 g->resolved);
		}
		_cleanup_free_ char *f = base_sprintf(
			"%s/%s", d->path, d->h->v2 ? "cgroup.procs" : "tasks");
		int fd = open(f, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			cg_close_fds(fds, n);
			return berr_set(err, e, "open %s", f);
		}
		fds[(*n)++] = fd;
	}
	return 0;
}

/* True when the hierarchy has one of the comma-separated controllers. */
static bool hier_has(const struct cg_hier *h, const char *ctrls, size_t len)
{
	for (const char *c = ctrls; c < ctrls + len;) {
		const char *e = memchr(c, ',', (size_t)(ctrls + len - c));
		size_t n = e ? (size_t)(e - c) : (size_t)(ctrls + len - c);
		for (const char *hc = h->controllers; *hc;) {
			size_t m = strcspn(hc, ",");
			if (m == n && !strncmp(hc, c, n))
				return true;
			hc += m + (hc[m] == ',');
		}
		c += n + 1;
	}
	return false;
}

/* Points each hierarchy the spec names at base[i]/SUB. */
static int descend_one(struct cg_group *g, char *const *base, const char *spec,
		       struct berr *err)
{
	const char *colon = strchr(spec, ':');
	const char *sub = colon ? colon + 1 : spec;
	_cleanup_free_ char *clean = NULL;
	if (sub[0] == '/' || strchr(sub, ':') ||
	    cg_path_clean(sub, &clean, err) < 0)
		return berr_setx(err, EINVAL,
				 "--cgroup \"%s\": a relative path below "
				 "the container's cgroup, without \"..\"",
				 spec);
	size_t matched = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct cg_dir *d = &g->dirs[i];
		if (colon &&
		    (d->h->v2 || !hier_has(d->h, spec, (size_t)(colon - spec))))
			continue;
		char *path = base_sprintf("%s/%s", base[i], clean);
		struct stat st;
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			int e = errno ? errno : ENOTDIR;
			berr_set(err, e, "--cgroup \"%s\": %s", spec, path);
			free(path);
			return -e;
		}
		free(d->path);
		d->path = path;
		matched++;
	}
	if (!matched)
		return berr_setx(err, EINVAL,
				 "--cgroup \"%s\": no hierarchy of this host "
				 "has that controller",
				 spec);
	return 0;
}

int cg_descend(struct cg_group *g, char *const *specs, struct berr *err)
{
	size_t n = base_strv_len((char **)specs);
	for (size_t i = 0; n > 1 && i < n; i++)
		if (!strchr(specs[i], ':'))
			return berr_setx(err, EINVAL,
					 "--cgroup \"%s\": with several "
					 "--cgroup, each needs its "
					 "CONTROLLER: prefix",
					 specs[i]);
	char **base = NULL;
	for (size_t i = 0; n && i < g->n; i++)
		base_strv_push(&base, g->dirs[i].path);
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = descend_one(g, base, specs[i], err);
	base_strv_free(base);
	return r;
}

int cg_join(struct cg_group *g, bool v2_placed, struct berr *err)
{
	int fds[BASE_MAX_FDS];
	size_t n = 0;
	int r = cg_open_join_fds(g, v2_placed, fds, ARRAY_SIZE(fds), &n, err);
	return r < 0 ? r : cg_join_self(fds, &n, err);
}

void cg_close_fds(int *fds, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		close(fds[i]);
	*n = 0;
}

int cg_join_self(int *fds, size_t *n, struct berr *err)
{
	int r = 0;
	for (size_t i = 0; i < *n && r == 0; i++) {
		int k = base_write_all(fds[i], "0", 1);
		if (k < 0) {
			int e = -k;
			char link[64], f[PATH_MAX] = "?";
			snprintf(link, sizeof(link), "/proc/self/fd/%d",
				 fds[i]);
			ssize_t l = readlink(link, f, sizeof(f) - 1);
			f[l > 0 ? l : 1] = '\0';
			r = berr_set(err, e, "join cgroup: write 0 to %s", f);
		}
	}
	cg_close_fds(fds, n);
	return r;
}

int cg_procs(struct cg_group *g, pid_t **pids, size_t *n, struct berr *err)
{
	struct cg_dir *d = cg_procs_dir(g);
	int r = cg_read_pids(d->path, true, pids, n);
	if (r < 0)
		return berr_set(err, -r, "read %s/cgroup.procs", d->path);
	return 0;
}

int cg_freeze(struct cg_group *g, bool frozen, struct berr *err)
{
	return g->lo->drv->freeze(g, frozen, err);
}

int cg_is_frozen(struct cg_group *g, bool *frozen, struct berr *err)
{
	return g->lo->drv->is_frozen(g, frozen, err);
}

/* Freeze, signal, thaw: a frozen group cannot fork new members between
 * reading cgroup.procs and signalling. A group the user had paused stays
 * paused, except for SIGKILL, whose victims die only once thawed on v1. */
static int signal_frozen(struct cg_group *g, int sig, struct berr *err)
{
	bool was_frozen = false;
	cg_is_frozen(g, &was_frozen, NULL);
	bool froze = !was_frozen && cg_freeze(g, true, NULL) == 0;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	struct cg_dir *d = cg_procs_dir(g);
	int r = cg_read_pids(d->path, true, &pids, &n);
	if (r == 0)
		r = cg_signal_pids(pids, n, sig);
	if (froze || (was_frozen && sig == SIGKILL))
		cg_freeze(g, false, NULL);
	if (r < 0)
		return berr_set(err, -r, "signal %d to the processes of %s",
				sig, d->path);
	return 0;
}

int cg_kill_all(struct cg_group *g, int sig, struct berr *err)
{
	int r = g->lo->drv->kill(g, sig, err);
	if (r != -EOPNOTSUPP)
		return r;
	return signal_frozen(g, sig, err);
}

/* rmdir of dir and, when it still has child groups, of those first. */
static int rmdir_tree(const char *dir)
{
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	if (errno != EBUSY && errno != ENOTEMPTY)
		return -errno;
	int saved = errno;
	_cleanup_closedir_ DIR *dp = opendir(dir);
	if (!dp)
		return -saved;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *sub =
			base_sprintf("%s/%s", dir, de->d_name);
		rmdir_tree(sub);
	}
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -errno;
}

/* One pass over the hierarchies; returns the last failure, 0 when every
 * group directory is gone. */
static int remove_dirs(struct cg_group *g, bool tree, const char **failed)
{
	int res = 0;
	for (size_t i = 0; i < g->n; i++) {
		const char *p = g->dirs[i].path;
		int r = tree ? rmdir_tree(p)
			     : (rmdir(p) == 0 || errno == ENOENT ? 0 : -errno);
		if (r < 0) {
			res = r;
			*failed = p;
		}
	}
	return res;
}

static void remove_parents(struct cg_group *g)
{
	for (size_t i = 0; i < g->n; i++) {
		struct cg_dir *d = &g->dirs[i];
		d->made = false; /* already removed */
		unmake_dir(d);
	}
}

/* The slow path: something is still inside. Kill it, wait, retry. */
static int destroy_busy(struct cg_group *g, struct berr *err)
{
	int r = cg_kill_all(g, SIGKILL, err);
	if (r < 0)
		return berr_wrap(err, "destroy cgroup %s", g->resolved);
	bool frozen = false;
	if (cg_is_frozen(g, &frozen, NULL) == 0 && frozen)
		cg_freeze(g, false, NULL);
	if (cg_wait_empty(g, 5000) < 0)
		return berr_setx(err, EBUSY,
				 "destroy cgroup %s: processes still running "
				 "after SIGKILL",
				 g->resolved);
	const char *failed = NULL;
	r = -EBUSY;
	for (int tries = 0; r == -EBUSY && tries < 20; tries++) {
		if (tries)
			cg_sleep_ms(tries < 5 ? 2 : 20);
		r = remove_dirs(g, true, &failed);
	}
	if (r < 0)
		return berr_set(err, -r, "rmdir %s", failed);
	return 0;
}

bool cg_is_new(const struct cg_group *g)
{
	for (size_t i = 0; i < g->n; i++)
		if (!g->dirs[i].made)
			return false;
	return g->n > 0;
}

void cg_unmake(struct cg_group *g)
{
	unmake_all(g);
}

int cg_destroy(struct cg_group *g, struct berr *err)
{
	/* begun, never finished: only what was made here, nothing to kill */
	if (g->pending) {
		unmake_all(g);
		return 0;
	}
	const char *failed = NULL;
	/* the common case: the processes are gone already, and one rmdir
	 * per hierarchy is all there is to do */
	int r = remove_dirs(g, false, &failed);
	if (r < 0 && r != -EBUSY && r != -ENOTEMPTY)
		return berr_set(err, -r, "rmdir %s", failed);
	if (r < 0) {
		r = destroy_busy(g, err);
		if (r < 0)
			return r;
	}
	if (g->unit)
		cg_systemd_stop(g->unit);
	remove_parents(g);
	blog_debug("cgroup %s removed", g->resolved);
	return 0;
}
