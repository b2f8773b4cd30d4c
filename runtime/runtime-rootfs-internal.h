/* Private interfaces between the files that build the container's root
 * filesystem: runtime-rootfs.c (prepare, pivot, finalize), runtime-mount.c
 * (the config's mounts and the mount primitives), runtime-mountopts.c (the
 * spec's mount options) and runtime-dev.c (/dev).
 *
 * Everything here is init side: it runs in the container's mount namespace,
 * never prints, and returns 0 or a negative errno. Functions taking a
 * struct berr fill it with a message naming the object; the others leave
 * the message to their caller.
 *
 * Paths "inside the root" are absolute, clean and resolved against a root
 * directory fd with base_open_in_root(), so that no symlink of the image
 * reaches the host (CVE-2021-30465). Mounts are made on fds, never on
 * paths the image could swap. */
#ifndef BERTH_RUNTIME_ROOTFS_INTERNAL_H
#define BERTH_RUNTIME_ROOTFS_INTERNAL_H

#include <stdint.h>

#include "runtime/runtime-internal.h"

/* ---- mount options (runtime-mountopts.c) -------------------------------- */

#define RT_MNTOPTS_MAX_PROP 8

struct rt_mntopts {
	unsigned long flags; /* MS_* set; bind adds MS_BIND, rbind MS_REC too */
	unsigned long clear; /* MS_* cleared explicitly: rw, suid, dev, ... */
	unsigned long prop[RT_MNTOPTS_MAX_PROP]; /* propagation, in order */
	size_t n_prop;
	uint64_t rec_set; /* MOUNT_ATTR_* of the r* options (rro, ...) */
	uint64_t rec_clr;
	bool tmpcopyup;
	bool idmap; /* idmap or ridmap */
	char *data; /* the filesystem's own options, or NULL */
};

/* Splits options into flags and filesystem data. Unknown options are data.
 * Returns 0, or -E2BIG for more than RT_MNTOPTS_MAX_PROP propagation
 * options. The caller frees with rt_mntopts_free() in every case. */
int rt_mntopts_parse(char *const *options, struct rt_mntopts *out);
void rt_mntopts_free(struct rt_mntopts *o);
/* A bind mount: type "bind" or a bind/rbind option. */
bool rt_mount_is_bind(const struct oci_mount *m);

/* ---- paths and mount primitives (runtime-mount.c) ------------------------ */

/* Lexically cleans an absolute or relative path into an absolute one:
 * no "//", ".", or "..". Caller frees. */
char *rt_path_clean(const char *path);

/* Binds srcfd onto dstfd (open_tree + move_mount, else mount(2) on
 * /proc/self/fd). When mntfd is not NULL it receives an O_PATH fd of the
 * new mount; the fallback finds it by resolving path again in rootfd. */
int rt_mnt_bind(int srcfd, int dstfd, bool recursive, int rootfd,
		const char *path, int *mntfd);

/* mount(2) of a new filesystem onto dstfd (through /proc/self/fd, or
 * through path once the root is the container's). mntfd as above. */
int rt_mnt_fresh(const char *source, const char *type, unsigned long flags,
		 const char *data, int dstfd, int rootfd, const char *path,
		 int *mntfd);

/* Changes the per-mount flags (MS_RDONLY, MS_NOSUID, atime, ...) of the
 * mount whose root is mntfd: set are added, clear removed, the others stay
 * (mount_setattr, else a MS_REMOUNT|MS_BIND naming every flag that stays).
 * Flags the kernel locked in a user namespace are kept, as runc does. */
int rt_mnt_setattr(int mntfd, unsigned long set, unsigned long clear,
		   bool recursive);

/* Performs one config mount. rootfd is the root of the container's rootfs
 * (after it was bound onto itself). Errors name the mount:
 * "mount `tmpfs` on `/dev`: Invalid argument". */
int rt_mount_one(int rootfd, const struct oci_config *c,
		 const struct oci_mount *m, const struct rt_rootfs_opts *o,
		 int source_fd, struct berr *err);

/* One line of /proc/self/mountinfo, unescaped. */
struct rt_mountinfo {
	char *root; /* the mount's root inside its filesystem */
	char *mountpoint;
	char *fstype;
	char *super; /* super options ("rw,cpu,cpuacct") */
};

int rt_mountinfo_read(struct rt_mountinfo **out, size_t *n);
void rt_mountinfo_free(struct rt_mountinfo *v, size_t n);

/* ---- /dev (runtime-dev.c) ------------------------------------------------ */

/* True unless a config mount binds something onto /dev: then /dev belongs
 * to the host and berth creates nothing in it. */
bool rt_dev_needs_setup(const struct oci_config *c);

/* The spec's default devices, linux.devices, and the /dev symlinks. */
int rt_dev_setup(int rootfd, const struct oci_config *c,
		 const struct rt_rootfs_opts *o, struct berr *err);

/* Opens /dev/null inside rootfd as O_PATH and checks that it is the
 * character device 1:3, so that masking never binds something else over a
 * path (CVE-2025-31133). Returns the fd or -errno (-ENODEV when it is not
 * the null device). */
int rt_dev_open_null(int rootfd);

#endif
