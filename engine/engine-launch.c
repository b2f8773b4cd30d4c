/* `berth launch`: a container from an image of the store, in one call.
 *
 * The bundle (rt_bundle_make) is <store>/containers/<id>.<nonce>/, with
 * launch.id next to config.json: the container id, what proves to a
 * delete that this directory is a launch bundle it may remove. The nonce
 * keeps two state roots that use one id apart. The bundle goes with the
 * container (eng_release, called by every delete through rt_ctx.release),
 * so `berth delete NAME` cleans up a detached one. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

static const char *annotation(const struct oci_state *st, const char *key)
{
	for (size_t i = 0; i < st->n_annotations; i++)
		if (!strcmp(st->annotations[i].key, key))
			return st->annotations[i].value;
	return NULL;
}

/* The bundle, when st's says it is a launch bundle of this container. */
static int release_bundle(const struct oci_state *st, struct berr *err)
{
	const char *owner = annotation(st, ENG_LAUNCH_ANNOTATION);
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
	return rt_bundle_remove(st->bundle, err);
}

/* The endpoint, when the annotation names a directory of endpoints and
 * its record says it belongs to this container of this state root. */
static int release_endpoint(const char *root, const struct oci_state *st,
			    struct berr *err)
{
	const char *dir = annotation(st, ENG_ENDPOINT_ANNOTATION);
	if (!dir || dir[0] != '/')
		return 0;
	const char *last = strrchr(dir, '/');
	if (!strstr(dir, "/.net/endpoints/") || strstr(dir, "/../") ||
	    strchr(strstr(dir, "/.net/endpoints/") + 16, '/') != NULL ||
	    !last[1])
		return 0;
	if (!eng_endpoint_of(dir, st->id, root))
		return 0;
	return eng_endpoint_release(dir, err);
}

int eng_release(const char *root, const struct oci_state *st, struct berr *err)
{
	const char *owner = annotation(st, ENG_LAUNCH_ANNOTATION);
	if (owner && !strcmp(owner, st->id))
		eng_ctr_dir_remove(root, st->id);
	int r = release_endpoint(root, st, err);
	struct berr e2 = {0};
	int r2 = release_bundle(st, r < 0 ? &e2 : err);
	return r < 0 ? r : r2;
}

/* ---- the bundle -----------------------------------------------------------
 */

struct edit {
	const struct eng_launch_opts *o;
	const char *id;
	const char *root; /* the container's state root */
	const struct eng_endpoint *ep;
	int lock_fd; /* the bundle, locked until the container exists */
};

/* A launch killed before its container's state exists leaves a bundle
 * that no delete finds. The bundle's directory names the id (<id>.<nonce>)
 * and carries the state root in this attribute, and the launch holds a
 * lock on it for as long as it runs: a bundle whose lock is free and whose
 * container does not exist is dead, and the next launch removes it. */
#define BUNDLE_XATTR "trusted.berth.launch"

/* rt_bundle_opts.prepare */
static int mark_bundle(const char *dir, void *data, struct berr *err)
{
	struct edit *e = data;
	e->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->lock_fd < 0 || flock(e->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return berr_set(err, errno, "lock %s", dir);
	/* without xattrs (rare for a store) a dead bundle stays for `image
	 * prune`: nothing else depends on it */
	(void)fsetxattr(e->lock_fd, BUNDLE_XATTR, e->root, strlen(e->root), 0);
	return 0;
}

/* Whether the directory of fd has no entry. */
static bool dir_empty(int fd)
{
	_cleanup_close_ int dup =
		openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = dup < 0 ? NULL : fdopendir(dup);
	if (!d)
		return false;
	dup = -1; /* the stream owns it */
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return false;
	return true;
}

/* quiet: no bundle is being made (rt_bundle_make), so an empty one that
 * nobody marked is a killed launch's, killed before it could mark it. */
static void gc_one(int cfd, const char *name, bool quiet)
{
	_cleanup_close_ int fd = openat(
		cfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char root[4096];
	ssize_t n =
		fd < 0 ? -1
		       : fgetxattr(fd, BUNDLE_XATTR, root, sizeof(root) - 1);
	if (n < 0 && errno == ENODATA && quiet && dir_empty(fd) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0) {
		unlinkat(cfd, name, AT_REMOVEDIR);
		return;
	}
	const char *dot = strrchr(name, '.');
	if (n <= 0 || !dot || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return;
	root[n] = '\0';
	_cleanup_free_ char *state =
		base_sprintf("%s/%.*s", root, (int)(dot - name), name);
	if (access(state, F_OK) == 0 || errno != ENOENT)
		return;
	_cleanup_free_ char *path = NULL;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	path = realpath(proc, NULL);
	if (path)
		rt_bundle_remove(path, NULL);
}

/* Removes the bundles of launches that died before their container
 * existed. */
static void bundle_gc(const char *store)
{
	_cleanup_free_ char *dir = base_sprintf(
		"%s/containers", store ? store : OCI_STORE_DEFAULT);
	_cleanup_closedir_ DIR *d = opendir(dir);
	bool quiet = d && flock(dirfd(d), LOCK_EX | LOCK_NB) == 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			gc_one(dirfd(d), de->d_name, quiet);
}

/* rt_bundle_opts.edit: launch's options and the profile, and launch.id. */
static int edit_config(const char *json, const char *dir, char **out,
		       void *data, struct berr *err)
{
	const struct edit *e = data;
	int r = eng_launch_config(e->o, e->id, e->ep, json, out, err);
	if (r < 0)
		return r;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = dfd < 0 ? -errno
		    : base_write_file_atomic(dfd, "launch.id", e->id,
					     strlen(e->id), 0600);
	if (r < 0)
		return berr_set(err, -r, "write %s/launch.id", dir);
	return 0;
}

/* ---- -P: the image's ExposedPorts -------------------------------------- */

/* Appends each "PORT/PROTO" key of the image's config.ExposedPorts to
 * *v, with any free host port. */
static int exposed_ports(const struct eng_launch_opts *o, struct eng_port **v,
			 size_t *n, struct berr *err)
{
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(o->store, OCI_STORE_READ, &s, err);
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if (r == 0)
		r = oci_image_find(s, o->image, &img, err);
	_cleanup_free_ char *cfg = NULL;
	size_t len;
	if (r == 0)
		r = oci_image_read_config(s, img, &cfg, &len, err);
	if (r < 0)
		return r;
	_cleanup_cjson_ cJSON *doc = cJSON_ParseWithLength(cfg, len);
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "config"),
		"ExposedPorts");
	const cJSON *p;
	cJSON_ArrayForEach(p, ports)
	{
		/* "80/tcp" or "80": the container port alone, as -p 80 */
		if ((r = eng_port_parse(p->string, v, n, err)) < 0)
			return berr_wrap(err, "-P: the image's ExposedPorts");
	}
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

/* Detached, a monitor runs the container and logs its output (see
 * engine-container-monitor.c); attached, the container's output is the
 * caller's and its exit status is recorded here. */
static int run(const struct rt_ctx *ctx, const struct eng_launch_opts *o,
	       const char *id, const char *dir, const char *cache,
	       int *exit_status, struct berr *err)
{
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	struct eng_ctr_record rec = {.id = id,
				     .image = o->image,
				     .args = o->ov.args,
				     .bundle = dir,
				     .seccomp_cache = cache,
				     .restart = o->restart,
				     .log_max_size = o->log_max_size,
				     .log_max_file = o->log_max_file,
				     .rm = o->rm,
				     .tty = o->tty};
	eng_ctr_gc(root);
	_cleanup_close_ int cfd = eng_ctr_dir_make(root, &rec, err);
	if (cfd < 0)
		return cfd;
	if (o->detach && !o->unmonitored)
		return eng_ctr_monitor_spawn(ctx, &rec, err);
	struct rt_create_opts co = {.bundle = dir,
				    .detach = o->detach,
				    .keep = !o->rm,
				    .seccomp_cache = cache};
	int64_t started = (int64_t)time(NULL);
	eng_ctr_state_write(cfd, started, 0, -1, 0);
	int r = rt_run(ctx, id, &co, exit_status, err);
	if (r == 0 && !o->detach)
		eng_ctr_state_write(cfd, started, (int64_t)time(NULL),
				    *exit_status, 0);
	return r;
}

int eng_launch(const struct rt_ctx *ctx, const struct eng_launch_opts *o,
	       char **id_out, int *exit_status, struct berr *err)
{
	*exit_status = 0;
	char hex[13];
	base_random_hex(hex, 12);
	_cleanup_free_ char *id = base_strdup(o->name ? o->name : hex);
	int r = check_new_id(ctx, id, err);
	if (r < 0)
		return r;
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	struct rt_ctx nctx = {.root = o->net_root ? o->net_root : root};
	struct eng_net_opts net = o->net;
	_cleanup_free_ struct eng_port *ports = NULL;
	size_t nports = net.n_ports;
	if (o->publish_all) {
		ports = nports ? base_calloc(nports, sizeof(*ports)) : NULL;
		if (nports)
			memcpy(ports, net.ports, nports * sizeof(*ports));
		if ((r = exposed_ports(o, &ports, &nports, err)) < 0)
			return r;
		net.ports = ports;
		net.n_ports = nports;
	}
	_cleanup_(eng_endpoint_freep) struct eng_endpoint *ep = NULL;
	r = eng_endpoint_attach(&nctx, id, id, root, &net, &ep, err);
	if (r < 0)
		return r;
	struct edit e = {
		.o = o, .id = id, .root = root, .ep = ep, .lock_fd = -1};
	struct rt_bundle_opts bo = {.store = o->store,
				    .image = o->image,
				    .name = id,
				    .writable = true,
				    .ov = &o->ov,
				    .edit = edit_config,
				    .prepare = mark_bundle,
				    .data = &e};
	_cleanup_free_ char *dir = NULL, *cache = NULL;
	bundle_gc(o->store);
	r = rt_bundle_make(&bo, &dir, &cache, err);
	/* held until the container exists: until this returns */
	_cleanup_close_ int lock = e.lock_fd;
	if (r < 0) {
		eng_endpoint_release(ep->dir, NULL);
		return r;
	}
	r = run(ctx, o, id, dir, cache, exit_status, err);
	if (r < 0) {
		/* a create that failed made no container to release them */
		rt_bundle_remove(dir, NULL);
		eng_endpoint_release(ep->dir, NULL);
		eng_ctr_dir_remove(root, id);
		return r;
	}
	if (id_out)
		*id_out = TAKE_PTR(id);
	return r;
}
