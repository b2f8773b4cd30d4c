/* `berth launch`: a container from an image of the store, in one call.
 *
 * The bundle is <store>/containers/<id>.<nonce>/:
 *   rootfs/      an overlayfs: the image's shared layer directories below,
 *                upper/ and work/ of this container above (or, where
 *                overlayfs is refused, a full copy of the layers)
 *   config.json  the image's config with launch's options and the profile
 *   launch.id    the container id: what proves to delete that this
 *                directory is a launch bundle it may remove
 *   layers       the image's layer digests, one a line, so that `image
 *                prune` keeps what a container still stands on
 * The nonce keeps two state roots that use one id apart.
 *
 * The bundle goes with the container (rt_launch_release, called by every
 * delete), so `berth delete NAME` cleans up a detached one. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime-internal.h"

/* overlayfs reads its options from one page */
#define LAUNCH_MOUNT_DATA_MAX 4000

static void random_hex(char *out, size_t n)
{
	unsigned char b[32];
	size_t k = (n + 1) / 2 < sizeof(b) ? (n + 1) / 2 : sizeof(b);
	if (getrandom(b, k, 0) != (ssize_t)k) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		for (size_t i = 0; i < k; i++)
			b[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^
					       getpid() ^ (int)i);
	}
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n] = '\0';
}

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

int rt_launch_release(const struct oci_state *st, struct berr *err)
{
	const char *owner = NULL;
	for (size_t i = 0; i < st->n_annotations; i++)
		if (!strcmp(st->annotations[i].key, RT_LAUNCH_ANNOTATION))
			owner = st->annotations[i].value;
	if (!owner || strcmp(owner, st->id) || !st->bundle)
		return 0;
	const char *base = strrchr(st->bundle, '/');
	size_t n = strlen(st->id);
	if (!base || strncmp(base + 1, st->id, n) || base[1 + n] != '.')
		return 0;
	_cleanup_free_ char *idfile = base_sprintf("%s/launch.id", st->bundle);
	_cleanup_free_ char *text = NULL;
	if (base_read_file_at(AT_FDCWD, idfile, &text, NULL, 256) < 0 ||
	    strcmp(text, st->id))
		return 0; /* gone already, or not one of ours */
	return remove_bundle(st->bundle, err);
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
			const struct rt_launch_opts *o, const char *id,
			const char *dir, struct berr *err)
{
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
	r = oci_image_runtime_config_with(cfg, len, rootfd, &o->ov, &json, err);
	if (r == 0)
		r = rt_launch_config(o, id, json, &final, err);
	if (r == 0)
		r = write_text(dir, "config.json", final, err);
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

static int fill_bundle(struct oci_store *s, const struct oci_image *img,
		       const struct rt_launch_opts *o, const char *id,
		       const char *dir, struct berr *err)
{
	/* the copy fallback wants an empty directory; prune waits for the
	 * store's lock, which the caller holds */
	_cleanup_free_ char *layers = layer_list(img);
	int r = make_rootfs(s, img, dir, true, err);
	if (r == 0)
		r = write_text(dir, "layers", layers, err);
	if (r == 0)
		r = write_config(s, img, o, id, dir, err);
	if (r == 0)
		r = write_text(dir, "launch.id", id, err);
	return r;
}

/* <store>/containers/<name>.<nonce>, made empty. */
static int new_bundle_dir(struct oci_store *s, const char *name, char **dir,
			  struct berr *err)
{
	_cleanup_free_ char *parent =
		base_sprintf("%s/containers", oci_store_path(s));
	int r = base_mkdir_p(AT_FDCWD, parent, 0700);
	if (r < 0)
		return berr_set(err, -r, "create %s", parent);
	char nonce[9];
	random_hex(nonce, 8);
	*dir = base_sprintf("%s/%s.%s", parent, name, nonce);
	if (mkdir(*dir, 0700) < 0)
		return berr_set(err, errno, "create %s", *dir);
	return 0;
}

/* Makes the bundle; on failure nothing of it stays. *cache is the
 * store's cache of compiled seccomp programs: every launch with berth's
 * default profile and the same capabilities shares one. */
static int prepare_bundle(const struct rt_launch_opts *o, const char *id,
			  char **dir, char **cache, struct berr *err)
{
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(o->store, OCI_STORE_READ, &s, err);
	if (r < 0)
		return r;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	r = oci_image_find(s, o->image, &img, err);
	if (r < 0)
		return r;
	if ((r = new_bundle_dir(s, id, dir, err)) < 0)
		return r;
	*cache = base_sprintf("%s/cache/seccomp", oci_store_path(s));
	r = fill_bundle(s, img, o, id, *dir, err);
	if (r < 0)
		remove_bundle(*dir, NULL);
	return r;
}

/* ---- detached with --rm: a monitor deletes the container --------------- */

static int container_pidfd(const struct rt_ctx *ctx, const char *id)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	if (rt_container_open(ctx, id, false, &c, NULL) < 0)
		return -1;
	return rt_container_pidfd(c);
}

/* A grandchild in its own session, so that it outlives berth and no
 * terminal signal reaches it; it holds a pidfd of the init, not its pid. */
static int spawn_monitor(const struct rt_ctx *ctx, const char *id,
			 struct berr *err)
{
	int pidfd = container_pidfd(ctx, id);
	if (pidfd < 0)
		return 0; /* gone already: delete below */
	pid_t pid = fork();
	if (pid < 0) {
		close(pidfd);
		return berr_set(err, errno, "fork the --rm monitor");
	}
	if (pid == 0) {
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; null >= 0 && fd < 3; fd++)
			dup2(null, fd);
		struct pollfd pf = {.fd = pidfd, .events = POLLIN};
		while (poll(&pf, 1, -1) < 0 && errno == EINTR)
			;
		rt_delete(ctx, id, true, NULL);
		_exit(0);
	}
	close(pidfd);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* ---- launch ----------------------------------------------------------- */

static int check_new_id(const struct rt_ctx *ctx, const char *id,
			struct berr *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = base_sprintf(
		"%s/%s", ctx->root ? ctx->root : RT_DEFAULT_ROOT, id);
	if (access(dir, F_OK) == 0)
		return berr_setx(err, EEXIST, "container with id exists: %s",
				 id);
	return 0;
}

int rt_launch(const struct rt_ctx *ctx, const struct rt_launch_opts *o,
	      char **id_out, int *exit_status, struct berr *err)
{
	*exit_status = 0;
	char hex[13];
	random_hex(hex, 12);
	_cleanup_free_ char *id = base_strdup(o->name ? o->name : hex);
	int r = check_new_id(ctx, id, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = NULL, *cache = NULL;
	if ((r = prepare_bundle(o, id, &dir, &cache, err)) < 0)
		return r;
	struct rt_create_opts co = {.bundle = dir,
				    .detach = o->detach,
				    .keep = !o->rm,
				    .seccomp_cache = cache};
	r = rt_run(ctx, id, &co, exit_status, err);
	if (r < 0) {
		/* a create that failed made no container to release it */
		remove_bundle(dir, NULL);
		return r;
	}
	if (o->detach && o->rm)
		r = spawn_monitor(ctx, id, err);
	if (id_out)
		*id_out = TAKE_PTR(id);
	return r;
}

/* ---- a read-only image root for worker pools ---------------------------- */

int rt_image_mount(const char *store, const char *image, const char *name,
		   char **dirp, struct berr *err)
{
	*dirp = NULL;
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(store, OCI_STORE_READ, &s, err);
	if (r < 0)
		return r;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if ((r = oci_image_find(s, image, &img, err)) < 0)
		return r;
	_cleanup_free_ char *dir = NULL;
	if ((r = new_bundle_dir(s, name, &dir, err)) < 0)
		return r;
	_cleanup_free_ char *layers = layer_list(img);
	_cleanup_free_ char *cfg = NULL, *json = NULL, *rootfs = NULL;
	size_t len;
	r = make_rootfs(s, img, dir, false, err);
	if (r == 0)
		r = write_text(dir, "layers", layers, err);
	if (r == 0)
		r = oci_image_read_config(s, img, &cfg, &len, err);
	if (r == 0) {
		rootfs = base_sprintf("%s/rootfs", dir);
		_cleanup_close_ int rootfd =
			open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = rootfd < 0 ? berr_set(err, errno, "open %s", rootfs)
			       : oci_image_runtime_config(cfg, len, rootfd,
							  &json, err);
	}
	if (r == 0)
		r = write_text(dir, "config.json", json, err);
	if (r < 0)
		remove_bundle(dir, NULL);
	else
		*dirp = TAKE_PTR(dir);
	return r;
}

int rt_image_unmount(const char *dir, struct berr *err)
{
	return remove_bundle(dir, err);
}
