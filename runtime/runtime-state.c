/* Container records under the state root: directory, lock, state.json and
 * the live status. */
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

#define STATE_FILE "state.json"

int rt_validate_id(const char *id, struct berr *err)
{
	if (!id || !*id)
		return berr_setx(err, EINVAL, "container id cannot be empty");
	bool ok = (id[0] >= 'A' && id[0] <= 'Z') ||
		  (id[0] >= 'a' && id[0] <= 'z') ||
		  (id[0] >= '0' && id[0] <= '9');
	for (const char *p = id + 1; ok && *p; p++)
		ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		     (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		     *p == '-';
	if (!ok)
		return berr_setx(err, EINVAL,
				 "invalid container id `%s`: "
				 "must match [A-Za-z0-9][A-Za-z0-9_.-]*",
				 id);
	if (strlen(id) > 1024)
		return berr_setx(err, EINVAL,
				 "invalid container id: longer "
				 "than 1024 characters");
	return 0;
}

static int open_root(const struct rt_ctx *ctx, bool create, struct berr *err)
{
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	if (create) {
		int r = base_mkdir_p(AT_FDCWD, root, 0711);
		if (r < 0)
			return berr_set(err, -r, "create state root %s", root);
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open state root %s", root);
	return fd;
}

static struct rt_container *container_alloc(const struct rt_ctx *ctx,
					    const char *id)
{
	struct rt_container *c = base_calloc(1, sizeof(*c));
	c->dir = base_sprintf("%s/%s", ctx->root ? ctx->root : RT_DEFAULT_ROOT,
			      id);
	c->dirfd = -1;
	c->release = ctx->release;
	c->root = base_strdup(ctx->root ? ctx->root : RT_DEFAULT_ROOT);
	return c;
}

static int lock_dir(struct rt_container *c, struct berr *err)
{
	int r;
	do
		r = flock(c->dirfd, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return berr_set(err, errno, "lock %s", c->dir);
	c->locked = true;
	return 0;
}

int rt_container_new(const struct rt_ctx *ctx, const char *id,
		     struct rt_container **out, struct berr *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	_cleanup_close_ int rootfd = open_root(ctx, true, err);
	if (rootfd < 0)
		return rootfd;
	if (mkdirat(rootfd, id, 0711) < 0) {
		if (errno == EEXIST)
			return berr_setx(err, EEXIST,
					 "container with id exists: %s", id);
		return berr_set(err, errno, "create state directory for %s",
				id);
	}
	struct rt_container *c = container_alloc(ctx, id);
	c->dirfd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0 || lock_dir(c, err) < 0) {
		r = c->dirfd < 0 ? berr_set(err, errno, "open %s", c->dir)
				 : -err->code;
		unlinkat(rootfd, id, AT_REMOVEDIR);
		rt_container_free(c);
		return r;
	}
	*out = c;
	return 0;
}

static int load_state(struct rt_container *c, struct berr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = base_read_file_at(c->dirfd, STATE_FILE, &buf, &len, 0);
	if (r == -ENOENT)
		return berr_setx(err, ENOENT, "container does not exist");
	if (r < 0)
		return berr_set(err, -r, "read %s/%s", c->dir, STATE_FILE);
	r = oci_state_parse(buf, len, &c->state, err);
	if (r < 0)
		return berr_wrap(err, "%s/%s", c->dir, STATE_FILE);
	return 0;
}

int rt_container_open(const struct rt_ctx *ctx, const char *id, bool lock,
		      struct rt_container **out, struct berr *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	_cleanup_(rt_container_freep) struct rt_container *c =
		container_alloc(ctx, id);
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		if (errno == ENOENT)
			return berr_setx(err, ENOENT,
					 "container does not exist");
		return berr_set(err, errno, "open %s", c->dir);
	}
	if (lock && (r = lock_dir(c, err)) < 0)
		return r;
	/* a create that died before writing any state leaves an empty dir */
	if ((r = load_state(c, err)) < 0)
		return r;
	*out = TAKE_PTR(c);
	return 0;
}

void rt_container_free(struct rt_container *c)
{
	if (!c)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd); /* also drops the flock */
	oci_state_free(c->state);
	free(c->dir);
	free(c->root);
	free(c);
}

int rt_container_save(struct rt_container *c, struct berr *err)
{
	_cleanup_free_ char *json = oci_state_serialize(c->state);
	int r = base_write_file_atomic(c->dirfd, STATE_FILE, json, strlen(json),
				       0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/%s", c->dir, STATE_FILE);
	return 0;
}

int rt_record_cgroup(struct rt_container *c, const char *path, struct berr *err)
{
	if (fsetxattr(c->dirfd, RT_CGROUP_XATTR, path, strlen(path), 0) == 0)
		return 0;
	if (symlinkat(path, c->dirfd, RT_CGROUP_LINK) < 0)
		return berr_set(err, errno, "write %s/%s", c->dir,
				RT_CGROUP_LINK);
	return 0;
}

char *rt_recorded_cgroup(int dirfd)
{
	/* a cgroup path in many hierarchies may exceed PATH_MAX */
	ssize_t len = fgetxattr(dirfd, RT_CGROUP_XATTR, NULL, 0);
	if (len > 0) {
		char *path = base_calloc((size_t)len + 1, 1);
		if (fgetxattr(dirfd, RT_CGROUP_XATTR, path, (size_t)len) == len)
			return path;
		free(path);
	}
	char link[PATH_MAX];
	ssize_t n = readlinkat(dirfd, RT_CGROUP_LINK, link, sizeof(link) - 1);
	if (n <= 0)
		return NULL;
	link[n] = '\0';
	return base_strdup(link);
}

int rt_container_remove(struct rt_container *c, struct berr *err)
{
	int r = base_rm_rf_at(AT_FDCWD, c->dir);
	if (r < 0)
		return berr_set(err, -r, "remove %s", c->dir);
	return 0;
}

/* Field n (3 = state) of /proc/pid/stat, after comm, which may hold
 * spaces and parentheses: the fields restart after the last ')'. */
static const char *stat_field(const char *buf, int n)
{
	const char *p = strrchr(buf, ')');
	if (!p || !p[1])
		return NULL;
	p += 2;
	for (int field = 3; field < n; p++) {
		if (!*p)
			return NULL;
		if (*p == ' ')
			field++;
	}
	return p;
}

uint64_t rt_proc_start_time_cpu(pid_t pid, int *cpu)
{
	char path[64], buf[1024];
	if (cpu)
		*cpu = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *state = stat_field(buf, 3);
	if (!state || *state == 'Z' || *state == 'X')
		return 0;
	const char *start = stat_field(buf, 22);
	const char *proc = stat_field(buf, 39);
	if (cpu && proc)
		*cpu = atoi(proc);
	return start ? strtoull(start, NULL, 10) : 0;
}

uint64_t rt_proc_start_time(pid_t pid)
{
	return rt_proc_start_time_cpu(pid, NULL);
}

int rt_container_pidfd(struct rt_container *c)
{
	if (!c->state || c->state->pid <= 0)
		return -ESRCH;
	int fd = (int)syscall(SYS_pidfd_open, c->state->pid, 0);
	if (fd < 0)
		return -errno;
	/* checked after the pidfd exists: if the start time still matches
	 * now, the pidfd refers to our init and not to a reused pid */
	uint64_t st = rt_proc_start_time(c->state->pid);
	if (st == 0 || st != c->state->pid_start_time) {
		close(fd);
		return -ESRCH;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static bool cgroup_frozen(const struct oci_state *s)
{
	if (!s->cgroup_path)
		return false;
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	bool frozen = false;
	if (cg_open(s->cgroup_path, &g, NULL) < 0)
		return false;
	if (cg_is_frozen(g, &frozen, NULL) < 0)
		return false;
	return frozen;
}

enum oci_status rt_container_status(struct rt_container *c)
{
	struct oci_state *s = c->state;
	if (s->status == OCI_STATUS_STOPPED)
		return OCI_STATUS_STOPPED;
	if (s->status == OCI_STATUS_CREATING) {
		/* a create still running holds the lock; one that died did
		 * not finish and the container can only be deleted */
		if (flock(c->dirfd, LOCK_EX | LOCK_NB) == 0) {
			if (!c->locked)
				flock(c->dirfd, LOCK_UN);
			return OCI_STATUS_STOPPED;
		}
		return OCI_STATUS_CREATING;
	}
	_cleanup_close_ int pfd = rt_container_pidfd(c);
	if (pfd < 0)
		return OCI_STATUS_STOPPED;
	if (cgroup_frozen(s))
		return OCI_STATUS_PAUSED;
	if (!s->started &&
	    faccessat(c->dirfd, "start.sock", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return OCI_STATUS_CREATED;
	return OCI_STATUS_RUNNING;
}

int rt_state(const struct rt_ctx *ctx, const char *id, char **json,
	     struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = rt_container_status(c);
	*json = oci_state_to_json(c->state, st);
	return 0;
}

int rt_pidfd(const struct rt_ctx *ctx, const char *id, struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	int fd = rt_container_pidfd(c);
	if (fd < 0)
		return berr_setx(err, ESRCH, "container %s is not running", id);
	return fd;
}

bool rt_container_dead_dir(const struct rt_ctx *ctx, const char *id)
{
	if (rt_validate_id(id, NULL) < 0)
		return false;
	_cleanup_(rt_container_freep) struct rt_container *c =
		container_alloc(ctx, id);
	c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0 || flock(c->dirfd, LOCK_EX | LOCK_NB) < 0)
		return false;
	_cleanup_closedir_ DIR *d =
		fdopendir(fcntl(c->dirfd, F_DUPFD_CLOEXEC, 0));
	struct dirent *de;
	struct stat st;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR ||
		    (de->d_type == DT_UNKNOWN &&
		     fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			     0 &&
		     S_ISDIR(st.st_mode)))
			return false;
	}
	return d != NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct rt_list_entry *)a)->id,
		      ((const struct rt_list_entry *)b)->id);
}

/* runc's list names the owner of the state directory, by name where the
 * user database has one. The last answer is kept: a list's directories
 * nearly all have one owner, and each lookup reads the user database. */
struct owner_cache {
	uid_t uid;
	char *name; /* NULL: nothing looked up yet */
};

static char *dir_owner(int dirfd, struct owner_cache *oc)
{
	struct stat st;
	if (fstat(dirfd, &st) < 0)
		return base_strdup("");
	if (!oc->name || oc->uid != st.st_uid) {
		char buf[1024];
		struct passwd pw, *res = NULL;
		free(oc->name);
		oc->uid = st.st_uid;
		int r = getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &res);
		oc->name = r == 0 && res
				   ? base_strdup(res->pw_name)
				   : base_sprintf("#%u", (unsigned)st.st_uid);
	}
	return base_strdup(oc->name);
}

static void fill_entry(struct rt_list_entry *e, const struct rt_container *c,
		       struct owner_cache *oc)
{
	const struct oci_state *s = c->state;
	e->oci_version =
		base_strdup(s->oci_version ? s->oci_version : OCI_SPEC_VERSION);
	e->bundle = base_strdup(s->bundle);
	e->rootfs = base_strdup(s->rootfs ? s->rootfs : "");
	e->created = base_strdup(s->created);
	e->owner = dir_owner(c->dirfd, oc);
	e->annotations =
		base_calloc(s->n_annotations + 1, sizeof(*e->annotations));
	for (size_t i = 0; i < s->n_annotations; i++) {
		e->annotations[i].key = base_strdup(s->annotations[i].key);
		e->annotations[i].value = base_strdup(
			s->annotations[i].value ? s->annotations[i].value : "");
	}
	e->n_annotations = s->n_annotations;
}

int rt_list(const struct rt_ctx *ctx, struct rt_list_entry **out, size_t *n,
	    struct berr *err)
{
	*out = NULL;
	*n = 0;
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	_cleanup_closedir_ DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return berr_set(err, errno, "open state root %s", root);
	}
	struct rt_list_entry *v = NULL;
	struct owner_cache oc = {.name = NULL};
	size_t cnt = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_(rt_container_freep) struct rt_container *c = NULL;
		bool dead = false;
		if (rt_container_open(ctx, de->d_name, false, &c, NULL) < 0 &&
		    !(dead = rt_container_dead_dir(ctx, de->d_name)))
			continue;
		v = base_realloc(v, cnt + 1, sizeof(*v));
		struct rt_list_entry *e = &v[cnt++];
		if (dead) {
			*e = (struct rt_list_entry){
				.id = base_strdup(de->d_name),
				.status = OCI_STATUS_STOPPED,
				.bundle = base_strdup(""),
				.created = base_strdup(""),
				.owner = base_strdup(""),
			};
			continue;
		}
		e->id = base_strdup(c->state->id);
		e->status = rt_container_status(c);
		e->pid = e->status == OCI_STATUS_STOPPED ? 0 : c->state->pid;
		fill_entry(e, c, &oc);
	}
	free(oc.name);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_entry);
	*out = v;
	*n = cnt;
	return 0;
}

void rt_list_free(struct rt_list_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].oci_version);
		free(v[i].id);
		free(v[i].bundle);
		free(v[i].rootfs);
		free(v[i].created);
		free(v[i].owner);
		for (size_t k = 0; k < v[i].n_annotations; k++) {
			free(v[i].annotations[k].key);
			free(v[i].annotations[k].value);
		}
		free(v[i].annotations);
	}
	free(v);
}
