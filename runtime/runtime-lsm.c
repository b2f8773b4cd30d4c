/* Linux security modules: process.apparmorProfile, process.selinuxLabel
 * and linux.mountLabel.
 *
 * Both process labels are "exec" labels: the process writes them to its own
 * /proc/self/attr file and the kernel applies them at its next execve, so
 * that berth's own code never runs confined. The write goes through
 * rt_procfs_open(): the container could otherwise have a mount cover the
 * attr file (or /proc) and take the write (the CVE-2025-52881 class), which
 * would leave the process unconfined without an error.
 *
 * A profile asked for on a host whose LSM is off is refused at create:
 * running the container unconfined instead would be a silent downgrade. */
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "runtime/runtime-internal.h"

/* The inode number of every procfs root (fs/proc/root.c). */
#define PROC_ROOT_INO 1

/* ---- is the LSM on? ------------------------------------------------------ */

static bool apparmor_enabled(void)
{
	_cleanup_free_ char *s = NULL;
	if (base_read_file_at(AT_FDCWD,
			      "/sys/module/apparmor/parameters/enabled", &s,
			      NULL, 16) < 0 ||
	    s[0] != 'Y')
		return false;
	struct stat st;
	return stat("/sys/kernel/security/apparmor", &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

static bool selinux_enabled(void)
{
	return access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static bool is_set(const char *s)
{
	/* "" is the zero value of the Go structs that write configs */
	return s && *s;
}

/* "unconfined" asks for no confinement, which a host without AppArmor
 * gives anyway. */
static bool apparmor_needed(const char *profile)
{
	return is_set(profile) && strcmp(profile, "unconfined") != 0;
}

int rt_lsm_check(const struct oci_config *c, struct berr *err)
{
	const char *aa = c->has_process ? c->process.apparmor_profile : NULL;
	const char *se = c->has_process ? c->process.selinux_label : NULL;
	const char *ml = c->has_linux ? c->linux_.mount_label : NULL;
	if (apparmor_needed(aa) && !apparmor_enabled())
		return berr_setx(err, EOPNOTSUPP,
				 "process.apparmorProfile `%s`: AppArmor is "
				 "not enabled on this host",
				 aa);
	if (is_set(se) && !selinux_enabled())
		return berr_setx(err, EOPNOTSUPP,
				 "process.selinuxLabel `%s`: SELinux is not "
				 "enabled on this host",
				 se);
	if (is_set(ml) && !selinux_enabled())
		return berr_setx(err, EOPNOTSUPP,
				 "linux.mountLabel `%s`: SELinux is not "
				 "enabled on this host",
				 ml);
	if (is_set(ml))
		blog_debug("linux.mountLabel `%s` is not applied to mounts",
			   ml);
	return 0;
}

/* ---- procfs-checked opens ------------------------------------------------ */

static bool on_procfs(int fd)
{
	struct statfs s;
	return fstatfs(fd, &s) == 0 && s.f_type == PROC_SUPER_MAGIC;
}

static int open_proc_root(struct berr *err)
{
	_cleanup_close_ int fd =
		open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open /proc");
	struct stat st;
	if (!on_procfs(fd) || fstat(fd, &st) < 0 || st.st_ino != PROC_ROOT_INO)
		return berr_setx(err, EXDEV,
				 "/proc is not the root of a procfs");
	return TAKE_FD(fd);
}

int rt_procfs_open(const char *path, int flags, struct berr *err)
{
	_cleanup_close_ int root = open_proc_root(err);
	if (root < 0)
		return root;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV |
			   RESOLVE_NO_MAGICLINKS,
	};
	_cleanup_close_ int fd =
		(int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(root, path, flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EXDEV)
		return berr_setx(err, EXDEV,
				 "/proc/%s: a mount covers it or a path to it",
				 path);
	if (fd < 0)
		return berr_set(err, errno, "open /proc/%s", path);
	if (!on_procfs(fd))
		return berr_setx(err, EXDEV, "/proc/%s: not on procfs", path);
	return TAKE_FD(fd);
}

/* ---- applying the labels ------------------------------------------------- */

/* One write(): the kernel takes an attr value whole or not at all. */
static int write_attr(const char *path, const char *value, struct berr *err)
{
	_cleanup_close_ int fd = rt_procfs_open(path, O_WRONLY, err);
	if (fd < 0)
		return fd;
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	if (n < 0)
		return berr_set(err, errno, "write /proc/%s", path);
	if ((size_t)n != len)
		return berr_setx(err, EIO, "write /proc/%s: short write", path);
	return 0;
}

static int apply_apparmor(const char *profile, struct berr *err)
{
	_cleanup_free_ char *v = base_sprintf("exec %s", profile);
	/* Linux 5.8+ has a directory of its own for AppArmor; attr/exec
	 * belongs to whichever LSM came first on older kernels */
	int r = write_attr("self/attr/apparmor/exec", v, err);
	if (r == -ENOENT)
		r = write_attr("self/attr/exec", v, err);
	if (r < 0)
		return berr_wrap(err, "process.apparmorProfile `%s`", profile);
	return 0;
}

int rt_lsm_apply(const struct oci_process *p, struct berr *err)
{
	if (is_set(p->apparmor_profile)) {
		int r = apply_apparmor(p->apparmor_profile, err);
		/* a failed "unconfined" leaves at most berth's own profile,
		 * never less confinement than asked for */
		if (r < 0 && apparmor_needed(p->apparmor_profile))
			return r;
		berr_clear(err);
	}
	if (is_set(p->selinux_label) &&
	    write_attr("self/attr/exec", p->selinux_label, err) < 0)
		return berr_wrap(err, "process.selinuxLabel `%s`",
				 p->selinux_label);
	return 0;
}
