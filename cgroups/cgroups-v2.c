/* The cgroup v2 driver: one unified hierarchy. Controllers reach a group
 * only when every ancestor lists them in cgroup.subtree_control; freezing
 * and killing have their own files (cgroup.freeze, cgroup.kill). */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cgroups/cgroups-internal.h"

static struct cg_dir *v2_dir(struct cg_group *g)
{
	return g->lo->v2 < 0 ? NULL : &g->dirs[g->lo->v2];
}

static char *read_text(const char *dir, const char *file)
{
	_cleanup_free_ char *f = base_sprintf("%s/%s", dir, file);
	char *s = NULL;
	if (base_read_file_at(AT_FDCWD, f, &s, NULL, 0) < 0)
		return NULL;
	return s;
}

static bool word_in(const char *list, const char *w, size_t len)
{
	for (const char *p = list; p && *p;) {
		p += strspn(p, " \n");
		size_t l = strcspn(p, " \n");
		if (l == len && !strncmp(p, w, len))
			return true;
		p += l;
	}
	return false;
}

/* "+a +b" for each word of avail that enabled lacks; "" when none. */
static char *missing_words(const char *avail, const char *enabled)
{
	char *out = base_calloc(1, strlen(avail) * 2 + 1);
	char *w = out;
	for (const char *p = avail; *p;) {
		p += strspn(p, " \n");
		size_t l = strcspn(p, " \n");
		if (l && !word_in(enabled, p, l))
			w += sprintf(w, "%s+%.*s", w == out ? "" : " ", (int)l,
				     p);
		p += l;
	}
	return out;
}

/* Enables in dir's subtree_control whatever dir has and does not pass on
 * yet. A failure only means the group goes without that controller (a
 * parent holding processes refuses with EBUSY): it is not fatal. */
static void enable_at(const char *dir)
{
	_cleanup_free_ char *avail = read_text(dir, "cgroup.controllers");
	_cleanup_free_ char *on = read_text(dir, "cgroup.subtree_control");
	if (!avail || !on)
		return;
	_cleanup_free_ char *want = missing_words(avail, on);
	if (!*want)
		return;
	_cleanup_free_ char *f = base_sprintf("%s/cgroup.subtree_control", dir);
	if (base_write_file_at(AT_FDCWD, f, want, strlen(want), 0) == 0)
		return;
	/* one refused controller fails the whole write: go one by one */
	char *save = NULL;
	for (char *c = strtok_r(want, " ", &save); c;
	     c = strtok_r(NULL, " ", &save)) {
		int r = base_write_file_at(AT_FDCWD, f, c, strlen(c), 0);
		if (r < 0)
			blog_debug("%s %s: %s", f, c, strerror(-r));
	}
}

/* True when dir already receives everything the root has and passes it
 * on: then no ancestor needs a write (the common case of a second
 * container under the same parent costs two reads). */
static bool parent_complete(const char *mount, const char *dir)
{
	_cleanup_free_ char *root = read_text(mount, "cgroup.controllers");
	_cleanup_free_ char *avail = read_text(dir, "cgroup.controllers");
	_cleanup_free_ char *on = read_text(dir, "cgroup.subtree_control");
	if (!root || !avail || !on)
		return false;
	_cleanup_free_ char *m1 = missing_words(root, avail);
	_cleanup_free_ char *m2 = missing_words(avail, on);
	return !*m1 && !*m2;
}

/* The kernel lists a controller in cgroup.subtree_control (and in the
 * children's cgroup.controllers) before it has made that controller's
 * files in the children, and makes them visible only when the write
 * returns. A group made while another berth enables controllers in the
 * same parent (par's workers, started together) could see cpuset listed
 * and fail to write cpuset.cpus with ENOENT. So the check and the writes
 * hold an flock on the parent: the check waits for the other's write to
 * return. Without the lock the old race stays, nothing worse. */
static int lock_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			blog_debug("flock %s: %s", dir, strerror(errno));
			break;
		}
	return fd;
}

int cg_v2_prepare_controllers(struct cg_group *g, struct berr *err)
{
	struct cg_dir *d = v2_dir(g);
	if (!d)
		return 0;
	const char *mount = d->h->mount;
	size_t ml = strlen(mount);
	_cleanup_free_ char *p = base_strdup(d->path);
	char *last = strrchr(p, '/');
	*last = '\0'; /* the parent: the group's own subtree stays off */
	_cleanup_close_ int lock = lock_dir(*p ? p : "/");
	if (strlen(p) > ml && parent_complete(mount, p))
		return 0;
	/* top-down: a controller must be on in a parent before its child
	 * can pass it on */
	for (char *s = p + ml;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		enable_at(*p ? p : "/");
		*s = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

static int events_frozen(const char *dir, bool *frozen)
{
	_cleanup_free_ char *path = base_sprintf("%s/cgroup.events", dir);
	_cleanup_free_ char *ev = NULL;
	int r = base_read_file_at(AT_FDCWD, path, &ev, NULL, 0);
	if (r < 0)
		return r;
	const char *f = strstr(ev, "frozen ");
	*frozen = f && (f == ev || f[-1] == '\n') && f[7] == '1';
	return 0;
}

static int v2_is_frozen(struct cg_group *g, bool *frozen, struct berr *err)
{
	struct cg_dir *d = v2_dir(g);
	*frozen = false;
	int r = events_frozen(d->path, frozen);
	if (r < 0 && r != -ENOENT)
		return berr_set(err, -r, "read %s/cgroup.events", d->path);
	return 0;
}

/* cgroup.freeze asks; cgroup.events says when every task has stopped. */
static int v2_freeze(struct cg_group *g, bool frozen, struct berr *err)
{
	struct cg_dir *d = v2_dir(g);
	_cleanup_free_ char *f = base_sprintf("%s/cgroup.freeze", d->path);
	int r = base_write_file_at(AT_FDCWD, f, frozen ? "1" : "0", 1, 0);
	if (r < 0)
		return berr_set(err, -r, "write %s", f);
	int waited = 0, step = 1;
	for (;;) {
		bool now = !frozen;
		r = events_frozen(d->path, &now);
		if (r < 0)
			return berr_set(err, -r, "read %s/cgroup.events",
					d->path);
		if (now == frozen)
			return 0;
		if (waited >= 5000)
			break;
		cg_sleep_ms(step);
		waited += step;
		if (step < 16)
			step *= 2;
	}
	if (frozen)
		base_write_file_at(AT_FDCWD, f, "0", 1, 0);
	return berr_setx(err, EBUSY, "%s %s: timed out",
			 frozen ? "freeze" : "thaw", d->path);
}

/* cgroup.kill (Linux 5.14) kills the group and its descendants at once,
 * including tasks that are forking at that moment. */
static int v2_kill(struct cg_group *g, int sig, struct berr *err)
{
	if (sig != SIGKILL)
		return -EOPNOTSUPP;
	struct cg_dir *d = v2_dir(g);
	_cleanup_free_ char *f = base_sprintf("%s/cgroup.kill", d->path);
	int r = base_write_file_at(AT_FDCWD, f, "1", 1, 0);
	if (r == -ENOENT) {
		struct stat st;
		if (stat(d->path, &st) < 0 && errno == ENOENT)
			return 0; /* no group, no process */
		return -EOPNOTSUPP;
	}
	if (r < 0)
		return berr_set(err, -r, "write %s", f);
	return 0;
}

const struct cg_driver cg_driver_v2 = {
	.mode = CG_MODE_V2,
	.prepare = cg_v2_prepare_controllers,
	.freeze = v2_freeze,
	.is_frozen = v2_is_frozen,
	.kill = v2_kill,
	.clone_fd = cg_open_v2_clone_fd,
};
