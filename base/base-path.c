/* Path resolution confined to a root directory fd.
 *
 * Container mount destinations and image layer entries are attacker
 * controlled: a symlink in the rootfs may point at the host's /. Every lookup
 * inside a rootfs therefore resolves ".." and symlinks against rootfd. The
 * kernel does this with openat2(RESOLVE_IN_ROOT); older kernels get the same
 * semantics from a component walk. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "base/base.h"

static int sys_openat2(int dirfd, const char *path, struct open_how *how)
{
	return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

bool base_have_openat2(void)
{
	static int have = -1;
	if (have < 0) {
		struct open_how how = {.flags = O_PATH | O_CLOEXEC};
		int fd = sys_openat2(AT_FDCWD, "/", &how);
		have = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	return have;
}

static bool same_inode(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Resolves one step of the walk: returns an O_PATH fd for name under cur,
 * or 1 with *link filled when name is a symlink to follow. */
static int walk_step(int cur, const char *name, char **link)
{
	int fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISLNK(st.st_mode))
		return fd;
	char buf[PATH_MAX];
	ssize_t n = readlinkat(fd, "", buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*link = base_strdup(buf);
	return -ELOOP - 1000; /* sentinel: follow *link */
}

/* The fallback: a component walk that treats rootfd as "/". Returns an
 * O_PATH fd of the parent directory and the last component in *last. */
static int walk_parent(int rootfd, const char *path, char **last)
{
	_cleanup_free_ char *rest = base_strdup(path);
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	int links = 0;
	for (;;) {
		char *p = rest;
		while (*p == '/')
			p++;
		char *slash = strchr(p, '/');
		while (slash && slash[1] == '/')
			slash++;
		bool final = !slash || slash[strspn(slash, "/")] == '\0';
		if (slash)
			*slash = '\0';
		if (final) {
			*last = base_strdup(*p ? p : ".");
			return cur;
		}
		char *next = slash + 1;
		int fd;
		char *link = NULL;
		if (!strcmp(p, "..") && same_inode(cur, rootfd))
			fd = fcntl(cur, F_DUPFD_CLOEXEC, 3);
		else
			fd = walk_step(cur, p, &link);
		if (link) {
			if (++links > 40) {
				free(link);
				close(cur);
				return -ELOOP;
			}
			char *joined = base_sprintf("%s/%s", link, next);
			if (link[0] == '/') {
				close(cur);
				cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
			}
			free(link);
			free(rest);
			rest = joined;
			continue;
		}
		if (fd < 0) {
			close(cur);
			return fd;
		}
		close(cur);
		cur = fd;
		memmove(rest, next, strlen(next) + 1);
	}
}

static int open_fallback(int rootfd, const char *path, int flags, mode_t mode,
			 int depth)
{
	_cleanup_free_ char *last = NULL;
	_cleanup_close_ int dir = walk_parent(rootfd, path, &last);
	if (dir < 0)
		return dir;
	if (!strcmp(last, "..") && same_inode(dir, rootfd))
		return openat(rootfd, ".", flags | O_CLOEXEC);
	int fd = openat(dir, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0 || errno != ELOOP || (flags & O_NOFOLLOW) || depth > 40)
		return fd >= 0 ? fd : -errno;
	/* the last component is a symlink: follow it inside the root */
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dir, last, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (buf[0] == '/')
		return open_fallback(rootfd, buf, flags, mode, depth + 1);
	_cleanup_free_ char *joined = base_sprintf("%s/../%s", path, buf);
	return open_fallback(rootfd, joined, flags, mode, depth + 1);
}

int base_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	if (base_have_openat2()) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		int fd;
		do
			fd = sys_openat2(rootfd, path, &how);
		while (fd < 0 && errno == EAGAIN);
		return fd >= 0 ? fd : -errno;
	}
	return open_fallback(rootfd, path, flags, mode, 0);
}

static int mkdir_walk(int rootfd, const char *path, mode_t mode)
{
	_cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	_cleanup_free_ char *copy = base_strdup(path);
	_cleanup_free_ char *prefix = base_strdup("");
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		char *p = base_sprintf("%s/%s", prefix, c);
		free(prefix);
		prefix = p;
		/* Resolve the whole prefix from rootfd each time, so that a
		 * symlinked component is followed inside the root, never out.
		 */
		int next = base_open_in_root(rootfd, prefix,
					     O_PATH | O_DIRECTORY, 0);
		if (next == -ENOENT) {
			if (mkdirat(cur, c, mode) < 0 && errno != EEXIST)
				return -errno;
			next = base_open_in_root(rootfd, prefix,
						 O_PATH | O_DIRECTORY, 0);
		}
		if (next < 0)
			return next;
		close(cur);
		cur = next;
	}
	return TAKE_FD(cur);
}

/* Whether a component of path is "." or "..": those take the slow walk,
 * where each prefix resolves inside the root. */
static bool has_dot_component(const char *path)
{
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t l = strcspn(p, "/");
		if ((l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += l;
	}
	return false;
}

/* The deepest existing prefix resolves inside the root in one lookup, and
 * what is missing below it is made one directory at a time, each opened
 * without following a link from the directory just made. Most mount
 * points exist in the image: one lookup. */
static int mkdir_below(int rootfd, char *path, mode_t mode, int depth)
{
	int fd = base_open_in_root(rootfd, *path ? path : "/",
				   O_PATH | O_DIRECTORY, 0);
	if (fd != -ENOENT || depth > 64)
		return fd;
	char *slash = strrchr(path, '/'); /* path starts with one */
	const char *name = slash + 1;
	*slash = '\0';
	size_t l = strlen(path);
	while (l > 0 && path[l - 1] == '/')
		path[--l] = '\0';
	_cleanup_close_ int parent = mkdir_below(rootfd, path, mode, depth + 1);
	if (parent < 0)
		return parent;
	if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(parent, name,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

int base_mkdir_in_root(int rootfd, const char *path, mode_t mode)
{
	if (has_dot_component(path))
		return mkdir_walk(rootfd, path, mode);
	/* a relative path is the same inside the root */
	_cleanup_free_ char *copy = base_sprintf("/%s", path);
	size_t l = strlen(copy);
	while (l > 1 && copy[l - 1] == '/')
		copy[--l] = '\0';
	int fd = mkdir_below(rootfd, copy, mode, 0);
	/* what the fast way cannot do (a link in the way), the walk decides */
	return fd >= 0 ? fd : mkdir_walk(rootfd, path, mode);
}
