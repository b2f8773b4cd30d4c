/* Whole-file reads and writes, mkdir -p and rm -rf over dirfds. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

int base_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int base_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int base_read_file_at(int dirfd, const char *path, char **out, size_t *len,
		      size_t max)
{
	if (max == 0)
		max = 64u << 20;
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = base_calloc(1, cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return -EFBIG;
			cap *= 2;
			buf = base_realloc(buf, cap + 1, 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = TAKE_PTR(buf);
	return 0;
}

int base_write_file_at(int dirfd, const char *path, const void *buf, size_t len,
		       int flags)
{
	if (!(flags & O_APPEND))
		flags |= O_TRUNC;
	_cleanup_close_ int fd =
		openat(dirfd, path, O_WRONLY | O_CLOEXEC | flags, 0644);
	if (fd < 0)
		return -errno;
	/* cgroup and proc files take one write(); report the kernel's errno */
	ssize_t n = write(fd, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

int base_write_file_atomic(int dirfd, const char *name, const void *buf,
			   size_t len, mode_t mode)
{
	_cleanup_free_ char *tmp = base_sprintf(".%s.tmp.%d", name, getpid());
	_cleanup_close_ int fd = openat(
		dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* no fsync: readers need all-or-nothing, which rename gives; berth's
	 * state lives on tmpfs and an fsync would cost every container start */
	int r = base_write_all(fd, buf, len);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int base_mkdir_p(int dirfd, const char *path, mode_t mode)
{
	/* the usual case, the parents there already: one call, not one a
	 * component (a container start asks for its state paths dozens of
	 * times) */
	if (*path && (mkdirat(dirfd, path, mode) == 0 || errno == EEXIST))
		return 0;
	_cleanup_free_ char *p = base_strdup(path);
	for (char *s = p + 1;; s++) {
		bool end = (*s == '\0');
		if (*s == '/' || end) {
			char saved = *s;
			*s = '\0';
			if (*p && mkdirat(dirfd, p, mode) < 0 &&
			    errno != EEXIST)
				return -errno;
			*s = saved;
		}
		if (end)
			break;
	}
	return 0;
}

static int rm_rf_children(int dfd, dev_t dev, uint64_t *freed);

/* The disk space the removal of st's name gives back: none while another
 * link keeps the inode. */
static void add_freed(uint64_t *freed, const struct stat *st)
{
	if (freed && (S_ISDIR(st->st_mode) || st->st_nlink == 1))
		*freed += (uint64_t)st->st_blocks * 512;
}

static int rm_entry(int dfd, const char *name, dev_t dev, uint64_t *freed)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) < 0)
			return errno == ENOENT ? 0 : -errno;
		add_freed(freed, &st);
		return 0;
	}
	if (st.st_dev != dev)
		return -EBUSY; /* a mount point: never delete across it */
	_cleanup_close_ int cfd = openat(
		dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	int r = rm_rf_children(cfd, dev, freed);
	if (r < 0)
		return r;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		return errno == ENOENT ? 0 : -errno;
	add_freed(freed, &st);
	return 0;
}

static int rm_rf_children(int dfd, dev_t dev, uint64_t *freed)
{
	int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	_cleanup_closedir_ DIR *d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return -errno;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		int r = rm_entry(dfd, de->d_name, dev, freed);
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

int base_rm_rf_at_freed(int dirfd, const char *name, uint64_t *freed)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return rm_entry(dirfd, name, st.st_dev, freed);
}

int base_rm_rf_at(int dirfd, const char *name)
{
	return base_rm_rf_at_freed(dirfd, name, NULL);
}
