/* Bundles made from an image of the store (rt_bundle_make): the root of
 * a launched container, of a build step, of a pool's workers.
 *
 * The bundle is <store>/containers/<name>.<nonce>/:
 *   rootfs/      an overlayfs: the image's shared layer directories below,
 *                upper/ and work/ of this bundle above (or, where
 *                overlayfs is refused, a full copy of the layers); without
 *                writable, a read-only view of the layers
 *   config.json  the image's runtime config, with the caller's edits
 *   layers       the image's layer digests, one a line, so that `image
 *                prune` keeps what a container still stands on
 * The nonce keeps two state roots that use one name apart. */
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime-internal.h"

/* overlayfs reads its options from one page */
#define LAUNCH_MOUNT_DATA_MAX 4000

/* Unmounts rootfs and removes the bundle; never descends into a rootfs
 * that is still a mount point (that would write whiteouts, or worse). */
static int remove_bundle(const char *dir, struct berr *err)
{
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", dir);
	if (umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 &&
	    errno != EINVAL && errno != ENOENT)
		return berr_set(err, errno, "unmount %s", rootfs);
	struct stat d, r;
	if (stat(dir, &d) < 0)
		return errno == ENOENT ? 0 : berr_set(err, errno, "%s", dir);
	if (lstat(rootfs, &r) == 0 && r.st_dev != d.st_dev)
		return berr_setx(err, EBUSY, "%s is still mounted", rootfs);
	int e = base_rm_rf_at(AT_FDCWD, dir);
	if (e < 0)
		return berr_set(err, -e, "remove %s", dir);
	return 0;
}

/* ---- the root filesystem ------------------------------------------------ */

/* A read-only view needs no upper: overlayfs then wants two lower
 * layers, so a single layer is bound read-only instead. */
static int mount_readonly(char **lower, size_t n, const char *lowers,
			  const char *rootfs, struct berr *err)
{
	if (n > 1) {
		_cleanup_free_ char *data = base_sprintf("lowerdir=%s", lowers);
		if (mount("overlay", rootfs, "overlay", MS_RDONLY, data) < 0)
			return berr_set(err, errno, "mount overlayfs on %s",
					rootfs);
		return 0;
	}
	if (mount(lower[0], rootfs, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, rootfs, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) <
		    0) {
		int e = errno;
		umount2(rootfs, MNT_DETACH);
		return berr_set(err, e, "bind %s on %s", lower[0], rootfs);
	}
	return 0;
}

static int mount_overlay(struct oci_store *s, const struct oci_image *img,
			 const char *dir, bool writable, struct berr *err)
{
	_cleanup_strv_ char **lower = NULL;
	int r = oci_image_layer_dirs(s, img, &lower, err);
	if (r < 0)
		return r;
	size_t n = base_strv_len(lower);
	if (n == 0)
		return berr_setx(err, EINVAL, "the image has no layer");
	_cleanup_free_ char *lowers = base_strdup("");
	for (size_t i = n; i-- > 0;) {
		char *next = base_sprintf("%s%s%s", lowers,
					  i + 1 < n ? ":" : "", lower[i]);
		free(lowers);
		lowers = next;
	}
	_cleanup_free_ char *data =
		base_sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work",
			     lowers, dir, dir);
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", dir);
	if (!writable) {
		if (mkdir(rootfs, 0755) < 0)
			return berr_set(err, errno, "create %s", rootfs);
		return mount_readonly(lower, n, lowers, rootfs, err);
	}
	if (strlen(data) > LAUNCH_MOUNT_DATA_MAX)
		return berr_setx(err, E2BIG,
				 "overlayfs options for %zu layers exceed a "
				 "page",
				 n);
	const char *subs[] = {"upper", "work", "rootfs"};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", dir, subs[i]);
		if (mkdir(p, 0755) < 0)
			return berr_set(err, errno, "create %s", p);
	}
	if (mount("overlay", rootfs, "overlay", 0, data) < 0)
		return berr_set(err, errno, "mount overlayfs on %s", rootfs);
	return 0;
}

/* overlayfs, else (a store on a file system overlayfs refuses as upper
 * or lower) a copy of the layers, said once on stderr. */
static int make_rootfs(struct oci_store *s, const struct oci_image *img,
		       const char *dir, bool writable, struct berr *err)
{
	struct berr oerr = {0};
	int r = mount_overlay(s, img, dir, writable, &oerr);
	if (r == 0)
		return 0;
	if (r == -E2BIG || r == -ENOMEM) {
		*err = oerr;
		return r;
	}
	blog_warn("%s; copying the image's layers into %s/rootfs instead",
		  oerr.msg, dir);
	const char *subs[] = {"rootfs", "upper", "work"};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *p = base_sprintf("%s/%s", dir, subs[i]);
		rmdir(p);
	}
	return oci_image_unpack(s, img, dir, err);
}

static int write_text(const char *dir, const char *name, const char *text,
		      struct berr *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? -errno
			: base_write_file_atomic(dfd, name, text, strlen(text),
						 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/%s", dir, name);
	return 0;
}

static int write_config(struct oci_store *s, const struct oci_image *img,
			const struct rt_bundle_opts *o, const char *dir,
			struct berr *err)
{
	static const struct oci_image_overrides none;
	_cleanup_free_ char *cfg = NULL, *json = NULL, *final = NULL;
	size_t len;
	int r = oci_image_read_config(s, img, &cfg, &len, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", dir);
	_cleanup_close_ int rootfd =
		open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return berr_set(err, errno, "open %s", rootfs);
	r = oci_image_runtime_config_with(cfg, len, rootfd,
					  o->ov ? o->ov : &none, &json, err);
	if (r == 0 && o->edit)
		r = o->edit(json, dir, &final, o->data, err);
	if (r == 0)
		r = write_text(dir, "config.json", final ? final : json, err);
	return r;
}

static char *layer_list(const struct oci_image *img)
{
	char *text = base_strdup("");
	for (size_t i = 0; i < img->n_layers; i++) {
		char *next =
			base_sprintf("%s%s\n", text, img->layers[i].diff_id);
		free(text);
		text = next;
	}
	return text;
}

/* <store>/containers/<name>.<nonce>, made empty; *plock: the parent, held
 * shared (rt_bundle_make). */
static int new_bundle_dir(struct oci_store *s, const char *name, char **dir,
			  int *plock, struct berr *err)
{
	_cleanup_free_ char *parent =
		base_sprintf("%s/containers", oci_store_path(s));
	int r = base_mkdir_p(AT_FDCWD, parent, 0700);
	if (r < 0)
		return berr_set(err, -r, "create %s", parent);
	*plock = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*plock < 0 || flock(*plock, LOCK_SH) < 0)
		return berr_set(err, errno, "lock %s", parent);
	char nonce[9];
	base_random_hex(nonce, 8);
	*dir = base_sprintf("%s/%s.%s", parent, name, nonce);
	if (mkdir(*dir, 0700) < 0)
		return berr_set(err, errno, "create %s", *dir);
	return 0;
}

int rt_bundle_make(const struct rt_bundle_opts *o, char **dirp,
		   char **seccomp_cache, struct berr *err)
{
	*dirp = NULL;
	if (seccomp_cache)
		*seccomp_cache = NULL;
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(o->store, OCI_STORE_READ, &s, err);
	if (r < 0)
		return r;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if ((r = oci_image_find(s, o->image, &img, err)) < 0)
		return r;
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int plock = -1;
	if ((r = new_bundle_dir(s, o->name, &dir, &plock, err)) < 0)
		return r;
	if (o->prepare && (r = o->prepare(dir, o->data, err)) < 0) {
		remove_bundle(dir, NULL);
		return r;
	}
	/* the copy fallback wants an empty directory; prune waits for the
	 * store's lock, which the caller holds */
	_cleanup_free_ char *layers = layer_list(img);
	r = make_rootfs(s, img, dir, o->writable, err);
	if (r == 0)
		r = write_text(dir, "layers", layers, err);
	if (r == 0)
		r = write_config(s, img, o, dir, err);
	if (r < 0) {
		remove_bundle(dir, NULL);
		return r;
	}
	if (seccomp_cache)
		*seccomp_cache =
			base_sprintf("%s/cache/seccomp", oci_store_path(s));
	*dirp = TAKE_PTR(dir);
	return 0;
}

int rt_bundle_remove(const char *dir, struct berr *err)
{
	return remove_bundle(dir, err);
}
