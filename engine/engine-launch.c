/* `berth launch`: a container from an image of the store, in one call.
 *
 * The bundle (rt_bundle_make) is <store>/containers/<id>.<nonce>/, with
 * launch.id next to config.json: the container id, what proves to a
 * delete that this directory is a launch bundle it may remove. The nonce
 * keeps two state roots that use one id apart. The bundle goes with the
 * container (eng_release, called by every delete through rt_ctx.release),
 * so `berth delete NAME` cleans up a detached one. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine-internal.h"

int eng_release(const struct oci_state *st, struct berr *err)
{
	const char *owner = NULL;
	for (size_t i = 0; i < st->n_annotations; i++)
		if (!strcmp(st->annotations[i].key, ENG_LAUNCH_ANNOTATION))
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
	return rt_bundle_remove(st->bundle, err);
}

/* ---- the bundle ----------------------------------------------------------- */

struct edit {
	const struct eng_launch_opts *o;
	const char *id;
};

/* rt_bundle_opts.edit: launch's options and the profile, and launch.id. */
static int edit_config(const char *json, const char *dir, char **out,
		       void *data, struct berr *err)
{
	const struct edit *e = data;
	int r = eng_launch_config(e->o, e->id, json, out, err);
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

/* ---- detached with --rm: a monitor deletes the container --------------- */

/* A grandchild in its own session, so that it outlives berth and no
 * terminal signal reaches it; it holds a pidfd of the init, not its pid. */
static int spawn_monitor(const struct rt_ctx *ctx, const char *id,
			 struct berr *err)
{
	int pidfd = rt_pidfd(ctx, id, NULL);
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
	struct edit e = {.o = o, .id = id};
	struct rt_bundle_opts bo = {.store = o->store,
				    .image = o->image,
				    .name = id,
				    .writable = true,
				    .ov = &o->ov,
				    .edit = edit_config,
				    .data = &e};
	_cleanup_free_ char *dir = NULL, *cache = NULL;
	if ((r = rt_bundle_make(&bo, &dir, &cache, err)) < 0)
		return r;
	struct rt_create_opts co = {.bundle = dir,
				    .detach = o->detach,
				    .keep = !o->rm,
				    .seccomp_cache = cache};
	r = rt_run(ctx, id, &co, exit_status, err);
	if (r < 0) {
		/* a create that failed made no container to release it */
		rt_bundle_remove(dir, NULL);
		return r;
	}
	if (o->detach && o->rm)
		r = spawn_monitor(ctx, id, err);
	if (id_out)
		*id_out = TAKE_PTR(id);
	return r;
}
