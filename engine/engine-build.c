/* berth build: a Dockerfile's stages run into images of the store.
 *
 * Each stage starts from its base (an image of the store, one berth pulls,
 * scratch, or an earlier stage) with the base's config as a JSON document
 * that the metadata instructions edit. RUN runs in a berth container
 * (eng_launch) on an overlayfs over the stage's image, with the stage's
 * environment, working directory, user and SHELL; its upper directory
 * becomes the step's layer. COPY and ADD write their files into a staging
 * directory that becomes the layer. Every layer is committed at once as an
 * image of the store (without a name), so that the next RUN stands on it
 * and the cache can find it again: <store>/build-cache/<key> holds the
 * manifest digest of the image a step made, where key chains the stage's
 * base, every instruction as expanded, the environment a RUN sees and the
 * content of COPY's sources. The last stage (or --target) is committed
 * with its final config and tagged.
 *
 * Progress goes to the caller's callbacks: plain lines, or events for a
 * live display, which then gets RUN's output too, through a pipe
 * (launch_captured).
 *
 * A failed step leaves no container, mount or staging directory: the
 * container goes with its launch bundle, the staging directory is removed,
 * and images of earlier steps stay as the cache. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

struct build {
	const struct rt_ctx *ctx;
	const struct eng_build_opts *o;
	struct eng_dockerfile *df;
	const char *file;      /* for messages: "Dockerfile" */
	char **global;	       /* K=V of the ARGs before FROM */
	char **stage_images;   /* each stage's result (manifest digest) */
	char **stage_cfgs;     /* and its config */
	int ctxfd;	       /* the context directory */
	char **ignore;	       /* .dockerignore */
	unsigned step, nsteps; /* for "[3/7]" */
	unsigned seq;	       /* "#N" */
	unsigned cur;	       /* the running step's seq */
	bool cached;	       /* whether its result came from the cache */
	char *cache_dir;       /* <store>/build-cache */
	char *scratch;	       /* <root>/.build: staging directories */
	struct eng_stat_cache *files; /* COPY's content hashes */
};

struct stage {
	struct build *B;
	size_t index;
	cJSON *cfg;		/* the image config document */
	char *image;		/* its image, NULL: scratch without a layer */
	char **args;		/* K=V of the stage's ARGs */
	char key[OCI_HASH_LEN]; /* the cache chain */
};

/* ---- progress: plain lines and events ----------------------------------- */

static void say(struct build *B, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct build *B, const char *fmt, ...)
{
	if (!B->o->progress)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	B->o->progress(line, B->o->data);
}

/* The next step, named "[label 2/5] TEXT". */
static void step_begin(struct build *B, const char *label, const char *text)
{
	B->cur = ++B->seq;
	B->cached = false;
	_cleanup_free_ char *name =
		base_sprintf("[%s%u/%u] %s", label, ++B->step, B->nsteps, text);
	say(B, "#%u %s", B->cur, name);
	if (B->o->step_start)
		B->o->step_start(B->cur, name, B->o->data);
}

/* done_line: whether the plain lines end the step with "#N DONE" (FROM's
 * never had one, and the plain lines stay as they were). */
static void step_finish(struct build *B, int r, double secs, bool done_line)
{
	if (r == 0 && done_line)
		say(B, "#%u DONE %.1fs", B->cur, secs);
	if (B->o->step_end)
		B->o->step_end(B->cur, r < 0 ? r : B->cached, secs, B->o->data);
}

/* A line for the plain progress that is also the running step's output. */
static void note(struct build *B, const char *line)
{
	say(B, "%s", line);
	if (B->o->step_output)
		B->o->step_output(B->cur, line, B->o->data);
}

/* "Dockerfile:7: RUN: " before the step's error; returns r. */
static int at_line(struct build *B, const struct eng_df_instr *in, int r,
		   struct berr *err)
{
	berr_wrap(err, "%s:%u: %s", B->file, in->line,
		  eng_df_kind_name(in->kind));
	return r;
}

/* ---- the config document ------------------------------------------------ */

static cJSON *cfg_section(struct stage *S)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(S->cfg, "config");
	if (!cJSON_IsObject(c)) {
		cJSON_DeleteItemFromObjectCaseSensitive(S->cfg, "config");
		c = cJSON_AddObjectToObject(S->cfg, "config");
	}
	return c;
}

static void cfg_set(struct stage *S, const char *key, cJSON *v)
{
	cJSON *c = cfg_section(S);
	if (cJSON_GetObjectItemCaseSensitive(c, key))
		cJSON_ReplaceItemInObjectCaseSensitive(c, key, v);
	else
		cJSON_AddItemToObject(c, key, v);
}

static const char *cfg_str(struct stage *S, const char *key)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cfg_section(S), key));
}

static cJSON *cfg_obj(struct stage *S, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg_section(S), key);
	if (!cJSON_IsObject(v)) {
		v = cJSON_CreateObject();
		cfg_set(S, key, v);
	}
	return v;
}

static cJSON *strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static char **json_strv(const cJSON *a)
{
	char **v = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) if (cJSON_GetStringValue(e))
		base_strv_push(&v, e->valuestring);
	return v;
}

/* The stage's environment: its ARGs, then Env (which wins). */
static char **stage_env(struct stage *S)
{
	char **v = NULL;
	for (size_t i = 0; S->args && S->args[i]; i++)
		base_strv_push(&v, S->args[i]);
	char **env = json_strv(
		cJSON_GetObjectItemCaseSensitive(cfg_section(S), "Env"));
	for (size_t i = 0; env && env[i]; i++)
		base_strv_push(&v, env[i]);
	base_strv_free(env);
	return v;
}

/* Sets K=V in Env: in K's place when it is there (as docker does), else
 * at the end. */
static void env_set(struct stage *S, const char *kv)
{
	size_t k = strcspn(kv, "=");
	char **env = json_strv(
		cJSON_GetObjectItemCaseSensitive(cfg_section(S), "Env"));
	char **out = NULL;
	bool put = false;
	for (size_t i = 0; env && env[i]; i++) {
		bool same = !strncmp(env[i], kv, k) && env[i][k] == '=';
		base_strv_push(&out, same ? kv : env[i]);
		put |= same;
	}
	if (!put)
		base_strv_push(&out, kv);
	cfg_set(S, "Env", strv_json(out));
	base_strv_free(env);
	base_strv_free(out);
}

/* config.created and the history's: when the step ran. */
static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void set_created(struct stage *S)
{
	char now[32];
	rfc3339_now(now, sizeof(now));
	cJSON_DeleteItemFromObjectCaseSensitive(S->cfg, "created");
	cJSON_AddStringToObject(S->cfg, "created", now);
}

static void history(struct stage *S, const char *created_by, bool empty)
{
	cJSON *h = cJSON_GetObjectItemCaseSensitive(S->cfg, "history");
	if (!cJSON_IsArray(h)) {
		cJSON_DeleteItemFromObjectCaseSensitive(S->cfg, "history");
		h = cJSON_AddArrayToObject(S->cfg, "history");
	}
	cJSON *e = cJSON_CreateObject();
	char now[32];
	rfc3339_now(now, sizeof(now));
	cJSON_AddStringToObject(e, "created", now);
	cJSON_AddStringToObject(e, "created_by", created_by);
	if (empty)
		cJSON_AddBoolToObject(e, "empty_layer", true);
	cJSON_AddItemToArray(h, e);
}

/* ---- the cache ------------------------------------------------------------
 */

static void chain(struct stage *S, const char *what)
{
	struct oci_hash *h = NULL;
	if (oci_hash_new(&h, NULL) < 0)
		return; /* no libcrypto: no cache, the build still runs */
	oci_hash_update(h, S->key, strlen(S->key));
	oci_hash_update(h, "\n", 1);
	oci_hash_update(h, what, strlen(what));
	oci_hash_finish(h, S->key);
	oci_hash_free(h);
}

static char *cache_path(struct stage *S)
{
	return base_sprintf("%s/%s", S->B->cache_dir, oci_hash_hex(S->key));
}

/* The image a step with this key made, when it is still in the store;
 * *empty: whether the step added no layer. */
/* The digest the cache holds for the key (not checked against a store). */
static char *cache_lookup(struct stage *S, bool *empty)
{
	if (S->B->o->no_cache)
		return NULL;
	_cleanup_free_ char *p = cache_path(S);
	char *d = NULL;
	if (base_read_file_at(AT_FDCWD, p, &d, NULL, 256) < 0)
		return NULL;
	char *nl = strchr(d, '\n');
	*empty = nl && nl[1] == '1';
	if (nl)
		*nl = '\0';
	return d;
}

static char *cache_get(struct stage *S, bool *empty)
{
	_cleanup_free_ char *d = cache_lookup(S, empty);
	if (!d)
		return NULL;
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if (oci_store_open(S->B->o->store, OCI_STORE_READ, &s, NULL) < 0 ||
	    oci_image_find(s, d, &img, NULL) < 0)
		return NULL;
	return TAKE_PTR(d);
}

static void cache_put(struct stage *S, const char *digest, bool empty)
{
	_cleanup_close_ int dfd =
		open(S->B->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *text = base_sprintf("%s\n%d\n", digest, empty);
	if (dfd >= 0)
		(void)base_write_file_atomic(dfd, oci_hash_hex(S->key), text,
					     strlen(text), 0600);
}

/* ---- committing a layer ------------------------------------------------- */

/* The stage's image with layer dir on top (overlay: an overlayfs upper
 * directory) and the config as it stands; an empty dir adds no layer. */
static int commit(struct stage *S, const char *dir, bool overlay,
		  const char *created_by, struct berr *err)
{
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(S->B->o->store, OCI_STORE_WRITE, &s, err);
	_cleanup_(oci_image_freep) struct oci_image *base = NULL;
	if (r == 0 && S->image)
		r = oci_image_find(s, S->image, &base, err);
	struct oci_layer_opts lo = {.overlay_upper = overlay, .mtime = -1};
	struct oci_new_layer l = {0};
	if (r == 0)
		r = oci_layer_from_dir(s, dir, &lo, &l, err);
	if (r < 0)
		return r;
	bool empty = l.empty;
	history(S, created_by, empty);
	_cleanup_free_ char *json = cJSON_PrintUnformatted(S->cfg);
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	r = oci_image_create(s, base, &l, 1, json, NULL, &img, err);
	oci_new_layer_clear(&l);
	if (r < 0)
		return r;
	free(S->image);
	S->image = base_strdup(img->digest);
	cache_put(S, img->digest, empty);
	return 0;
}

/* A cached step: its image, and its history entry in the config. */
static bool from_cache(struct stage *S, const char *created_by, unsigned seq)
{
	bool empty = false;
	_cleanup_free_ char *d = cache_get(S, &empty);
	if (!d)
		return false;
	history(S, created_by, empty);
	free(S->image);
	S->image = TAKE_PTR(d);
	say(S->B, "#%u CACHED", seq);
	S->B->cached = true;
	return true;
}

/* ---- RUN ---------------------------------------------------------------- */

/* The command: the exec form as written, else SHELL (default /bin/sh -c)
 * and the text. */
static char **run_argv(struct stage *S, const struct eng_df_instr *in)
{
	if (in->json) {
		char **v = NULL;
		for (size_t i = 0; in->args[i]; i++)
			base_strv_push(&v, in->args[i]);
		return v;
	}
	char **v = json_strv(
		cJSON_GetObjectItemCaseSensitive(cfg_section(S), "Shell"));
	if (!v) {
		base_strv_push(&v, "/bin/sh");
		base_strv_push(&v, "-c");
	}
	base_strv_push(&v, in->raw);
	return v;
}

/* RUN's output for step_output: eng_launch runs in a child whose stdout
 * and stderr are a pipe that this process reads, line by line. (A thread
 * reading the pipe beside eng_launch would not do: the runtime clones
 * with a bare clone3, which takes no malloc lock for its child, as fork()
 * does.) */
struct launch_result {
	int r, status;
	struct berr err;
};

struct out_lines {
	char b[4096];
	size_t n;
	bool cr; /* the last byte was \r: a \n after it ends no line */
};

static void out_flush(struct build *B, struct out_lines *L)
{
	L->b[L->n] = '\0';
	L->n = 0;
	B->o->step_output(B->cur, L->b, B->o->data);
}

/* Lines end at \n, \r (progress bars redraw a line) or \r\n; a longer
 * one goes in pieces. */
static void out_feed(struct build *B, struct out_lines *L, const char *p,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool crlf = L->cr && p[i] == '\n';
		L->cr = p[i] == '\r';
		if (crlf)
			continue;
		if (p[i] == '\n' || p[i] == '\r') {
			out_flush(B, L);
			continue;
		}
		if (L->n == sizeof(L->b) - 1)
			out_flush(B, L);
		L->b[L->n++] = p[i];
	}
}

/* The signals that eng_launch forwards to the container: here to the
 * child, which forwards them on. */
static void forwarded(sigset_t *set)
{
	static const int fwd[] = {SIGINT,  SIGTERM, SIGHUP,
				  SIGQUIT, SIGUSR1, SIGUSR2};
	sigemptyset(set);
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaddset(set, fwd[i]);
}

/* Reads the output until the child has exited and the pipe is drained
 * (a process that kept it open does not hold the build); a NULL line
 * after 0.1 s without output. A signal that a process sent berth goes to
 * the child; one from the terminal reached the child too (its process
 * group's). */
static void out_pump(struct build *B, int rfd, int pidfd, int sfd, pid_t pid)
{
	struct out_lines L = {0};
	bool exited = false;
	for (;;) {
		struct pollfd p[3] = {{.fd = rfd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN},
				      {.fd = pidfd, .events = POLLIN}};
		int n = poll(p, 3, exited ? 0 : 100);
		if ((n < 0 && errno != EINTR) || (n == 0 && exited))
			break;
		if (n == 0)
			B->o->step_output(B->cur, NULL, B->o->data);
		if (n <= 0)
			continue;
		if (p[0].revents) {
			char buf[8192];
			ssize_t got = read(rfd, buf, sizeof(buf));
			if (got == 0 ||
			    (got < 0 && errno != EINTR && errno != EAGAIN))
				break;
			if (got > 0)
				out_feed(B, &L, buf, (size_t)got);
		}
		struct signalfd_siginfo si;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    (si.ssi_code == SI_USER || si.ssi_code == SI_QUEUE))
			kill(pid, (int)si.ssi_signo);
		exited |= p[2].revents != 0;
	}
	if (L.n)
		out_flush(B, &L);
}

static __attribute__((noreturn)) void
launch_child(struct build *B, const struct eng_launch_opts *lo, int out,
	     int res, const sigset_t *mask)
{
	struct launch_result R = {0};
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
	    dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
		R.r = berr_set(&R.err, errno, "RUN's stdio");
	else
		R.r = eng_launch(B->ctx, lo, NULL, &R.status, &R.err);
	fflush(NULL);
	if (write(res, &R, sizeof(R)) != (ssize_t)sizeof(R))
		_exit(1);
	_exit(0);
}

/* eng_launch, its stdout and stderr handed to step_output. */
static int launch_captured(struct build *B, const struct eng_launch_opts *lo,
			   int *status, struct berr *err)
{
	int out[2], res[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	_cleanup_close_ int out_r = out[0], out_w = out[1];
	if (pipe2(res, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	_cleanup_close_ int res_r = res[0], res_w = res[1];
	/* read from the signalfd while the child runs; the child takes the
	 * old mask back, which the container inherits */
	sigset_t set, old;
	forwarded(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	_cleanup_close_ int sfd =
		signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	fflush(NULL); /* or the child's exit writes it again */
	pid_t pid = fork();
	if (pid == 0)
		launch_child(B, lo, out_w, res_w, &old);
	int r = pid < 0 ? berr_set(err, errno, "fork") : 0;
	close(TAKE_FD(out_w));
	close(TAKE_FD(res_w));
	_cleanup_close_ int pidfd =
		pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (pid > 0)
		out_pump(B, out_r, pidfd, sfd, pid);
	int ws = 0;
	while (pid > 0 && waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	/* one that came since the last read acts now, as after eng_launch */
	sigprocmask(SIG_SETMASK, &old, NULL);
	struct launch_result R = {0};
	if (r == 0 && read(res_r, &R, sizeof(R)) != (ssize_t)sizeof(R))
		return berr_setx(err, EIO,
				 "the container's launcher ended "
				 "without a result (wait status %#x)",
				 ws);
	if (r == 0 && R.r < 0)
		*err = R.err;
	*status = R.status;
	return r < 0 ? r : R.r;
}

static int launch(struct build *B, const struct eng_launch_opts *lo,
		  int *status, struct berr *err)
{
	if (!B->o->step_output)
		return eng_launch(B->ctx, lo, NULL, status, err);
	return launch_captured(B, lo, status, err);
}

/* Runs argv in a container on the stage's image and commits its upper
 * directory. */
static int run_container(struct stage *S, char **argv, const char *what,
			 struct berr *err)
{
	struct build *B = S->B;
	char hex[13];
	base_random_hex(hex, 12);
	_cleanup_free_ char *id = base_sprintf("build-%s", hex);
	_cleanup_strv_ char **env = stage_env(S);
	const char *wd = cfg_str(S, "WorkingDir");
	const char *user = cfg_str(S, "User");
	struct eng_launch_opts lo = {
		.store = B->o->store,
		.image = S->image,
		.name = id,
		.ov = {.args = argv,
		       .env = env,
		       .entrypoint = "",
		       .workdir = wd && wd[0] ? wd : "/",
		       .user = user && user[0] ? user : "0"},
		.net = {.mode = B->o->network ? B->o->network : "host"},
		.cgroup_parent = B->o->cgroup_parent,
	};
	int status = 0;
	int r = launch(B, &lo, &status, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *state = NULL;
	r = rt_state(B->ctx, id, &state, err);
	_cleanup_cjson_ cJSON *st = r == 0 ? cJSON_Parse(state) : NULL;
	const char *bundle = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(st, "bundle"));
	_cleanup_free_ char *upper =
		bundle ? base_sprintf("%s/upper", bundle) : NULL;
	if (r == 0 && status != 0)
		r = berr_setx(err, EIO, "exit status %d", status);
	else if (r == 0 && (!upper || access(upper, F_OK) < 0))
		r = berr_setx(err, ENOTSUP,
			      "the step's changes are not an overlayfs upper "
			      "directory (berth build needs overlayfs)");
	if (r == 0)
		r = commit(S, upper, true, what, err);
	struct berr e2 = {0};
	int d = rt_delete(B->ctx, id, true, &e2);
	if (r == 0 && d < 0) {
		*err = e2;
		r = d;
	}
	return r;
}

/* ---- COPY and ADD ---------------------------------------------------------
 */

/* --chown=USER[:GROUP] as numbers (names would need the image's
 * /etc/passwd: a later step). */
static int parse_chown(const char *s, uid_t *uid, gid_t *gid, struct berr *err)
{
	int u, g;
	_cleanup_free_ char *c = base_strdup(s);
	char *colon = strchr(c, ':');
	if (colon)
		*colon++ = '\0';
	if (base_parse_int(c, &u) < 0 || u < 0 ||
	    (colon && (base_parse_int(colon, &g) < 0 || g < 0)))
		return berr_setx(err, EINVAL,
				 "--chown=%s: numeric UID[:GID] only", s);
	*uid = (uid_t)u;
	*gid = (gid_t)(colon ? g : u);
	return 0;
}

static int parse_chmod(const char *s, mode_t *mode, struct berr *err)
{
	char *end;
	long v = strtol(s, &end, 8);
	if (!*s || *end || v <= 0 || v > 07777)
		return berr_setx(err, EINVAL, "--chmod=%s: an octal mode", s);
	*mode = (mode_t)v;
	return 0;
}

/* Where --from= takes its files: an earlier stage (by name or number) or
 * an image; *bundle is a read-only view of it to remove afterwards. */
static int from_root(struct stage *S, const char *from, char **bundle,
		     int *rootfd, struct berr *err)
{
	struct build *B = S->B;
	const char *image = from;
	for (size_t i = 0; i < S->index; i++) {
		const struct eng_df_stage *st = &B->df->stages[i];
		char num[16];
		snprintf(num, sizeof(num), "%zu", i);
		if ((st->name && !strcasecmp(st->name, from)) ||
		    !strcmp(num, from))
			image = B->stage_images[i];
	}
	if (!image)
		return berr_setx(err, EINVAL,
				 "--from=%s: that stage has no filesystem",
				 from);
	struct rt_bundle_opts bo = {
		.store = B->o->store, .image = image, .name = "build-from"};
	int r = rt_bundle_make(&bo, bundle, NULL, err);
	if (r < 0)
		return berr_wrap(err, "--from=%s", from);
	_cleanup_free_ char *rootfs = base_sprintf("%s/rootfs", *bundle);
	*rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd < 0)
		return berr_set(err, errno, "open %s", rootfs);
	return 0;
}

/* The destination, absolute: relative ones go below WORKDIR. */
static char *copy_dst(struct stage *S, const char *dst)
{
	if (dst[0] == '/')
		return base_strdup(dst);
	const char *wd = cfg_str(S, "WorkingDir");
	return base_sprintf("%s/%s", wd && wd[0] ? wd : "", dst);
}

struct copy_step {
	struct eng_copy c;
	char **words; /* sources..., destination */
	char *bundle; /* --from's view */
	char *stage;  /* the staging directory */
	char hash[OCI_HASH_LEN];
};

static void copy_step_clear(struct copy_step *cs)
{
	if (cs->c.rootfd >= 0 && cs->c.rootfd != cs->c.ctxfd)
		close(cs->c.rootfd);
	if (cs->c.dstfd >= 0)
		close(cs->c.dstfd);
	base_strv_free(cs->words);
	base_strv_free(cs->c.sources);
	if (cs->bundle)
		rt_bundle_remove(cs->bundle, NULL);
	free(cs->bundle);
	if (cs->stage)
		base_rm_rf_at(AT_FDCWD, cs->stage);
	free(cs->stage);
	free((char *)cs->c.dst);
	base_strv_free(cs->c.layers);
}

/* The stat cache, read at the first COPY: a build without one reads
 * nothing. */
static struct eng_stat_cache *copy_files(struct build *B)
{
	if (!B->files) {
		_cleanup_free_ char *path =
			base_sprintf("%s/files", B->cache_dir);
		B->files = eng_stat_cache_open(path);
	}
	return B->files;
}

static int copy_prepare(struct stage *S, const struct eng_df_instr *in,
			struct copy_step *cs, struct berr *err)
{
	struct build *B = S->B;
	_cleanup_strv_ char **env = stage_env(S);
	int r = 0;
	if (in->json) {
		for (size_t i = 0; in->args[i]; i++) {
			_cleanup_strv_ char **w = NULL;
			r = eng_df_lex(in->args[i], env, B->df->escape, false,
				       B->file, in->line, &w, err);
			if (r < 0)
				return r;
			base_strv_push(&cs->words, w && w[0] ? w[0] : "");
		}
	} else {
		r = eng_df_lex(in->raw, env, B->df->escape, true, B->file,
			       in->line, &cs->words, err);
	}
	size_t n = base_strv_len(cs->words);
	if (r == 0 && n < 2)
		return berr_setx(err, EINVAL, "expected SOURCE... DEST");
	const char *chown = eng_df_flag(in, "chown");
	const char *chmod = eng_df_flag(in, "chmod");
	const char *from = eng_df_flag(in, "from");
	if (r == 0 && chown)
		r = parse_chown(chown, &cs->c.uid, &cs->c.gid, err);
	cs->c.chown = chown != NULL;
	if (r == 0 && chmod)
		r = parse_chmod(chmod, &cs->c.chmod, err);
	for (size_t i = 0; r == 0 && i + 1 < n; i++)
		if (strstr(cs->words[i], "://"))
			return berr_setx(err, ENOTSUP,
					 "%s: remote sources are not supported "
					 "(fetch them in a RUN step)",
					 cs->words[i]);
	cs->c.ctxfd = B->ctxfd;
	cs->c.rootfd = B->ctxfd;
	cs->c.apply_ignore = !from;
	cs->c.ignore = B->ignore;
	if (r == 0 && from)
		r = from_root(S, from, &cs->bundle, &cs->c.rootfd, err);
	char *last = cs->words[n - 1];
	cs->words[n - 1] = NULL;
	cs->c.dst = copy_dst(S, last);
	cs->c.dst_is_dir = n > 2 || last[strlen(last) - 1] == '/';
	free(last);
	if (r == 0)
		r = eng_copy_sources(cs->c.rootfd, !from, cs->words,
				     from ? NULL : B->ignore, &cs->c.sources,
				     err);
	if (r == 0)
		r = eng_copy_hash(cs->c.rootfd, cs->c.sources, cs->c.ignore,
				  cs->c.apply_ignore, copy_files(S->B),
				  cs->hash, err);
	return r;
}

/* The layer directories of the stage's image (none for scratch). */
static int layer_dirs(struct stage *S, char ***out, struct berr *err)
{
	*out = NULL;
	if (!S->image)
		return 0;
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(S->B->o->store, OCI_STORE_READ, &s, err);
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	if (r == 0)
		r = oci_image_find(s, S->image, &img, err);
	if (r == 0)
		r = oci_image_layer_dirs(s, img, out, err);
	return r;
}

/* The staging directory with dst's parents, and the files. */
static int copy_stage(struct stage *S, struct copy_step *cs, bool add,
		      struct berr *err)
{
	char hex[13];
	base_random_hex(hex, 12);
	cs->stage = base_sprintf("%s/%s", S->B->scratch, hex);
	int r = base_mkdir_p(AT_FDCWD, cs->stage, 0755);
	if (r < 0)
		return berr_set(err, -r, "create %s", cs->stage);
	cs->c.dstfd = open(cs->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->c.dstfd < 0)
		return berr_set(err, errno, "open %s", cs->stage);
	/* dst relative to the staging root, its parents as the image has
	 * them */
	while (*cs->c.dst == '/')
		memmove((char *)cs->c.dst, cs->c.dst + 1, strlen(cs->c.dst));
	_cleanup_free_ char *parent = base_strdup(cs->c.dst);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	const char *dirs = cs->c.dst_is_dir ? cs->c.dst : slash ? parent : "";
	if ((r = layer_dirs(S, &cs->c.layers, err)) < 0)
		return r;
	if (dirs[0] && (r = eng_stage_dirs(&cs->c, dirs, err)) < 0)
		return r;
	if (add)
		return eng_add_into(&cs->c, err);
	return eng_copy_into(&cs->c, err);
}

static int copy_step(struct stage *S, const struct eng_df_instr *in,
		     unsigned seq, struct berr *err)
{
	struct copy_step cs = {.c = {.rootfd = -1, .dstfd = -1}};
	int r = copy_prepare(S, in, &cs, err);
	if (r == 0) {
		_cleanup_free_ char *k = base_sprintf("%s %s -> %s", in->text,
						      cs.hash, cs.c.dst);
		chain(S, k);
	}
	_cleanup_free_ char *what = base_sprintf("%s # buildkit", in->text);
	if (r == 0 && !from_cache(S, what, seq)) {
		r = copy_stage(S, &cs, in->kind == ENG_DF_ADD, err);
		if (r == 0)
			r = commit(S, cs.stage, false, what, err);
	}
	copy_step_clear(&cs);
	return r;
}

/* ---- metadata ----------------------------------------------------------- */

/* K=V pairs (ENV, LABEL), or the legacy `K V...` form. */
static int pairs(struct stage *S, const struct eng_df_instr *in, char ***out,
		 struct berr *err)
{
	struct build *B = S->B;
	_cleanup_strv_ char **env = stage_env(S);
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(in->raw, env, B->df->escape, true, B->file, in->line,
			   &w, err);
	if (r < 0)
		return r;
	if (!w)
		return berr_setx(err, EINVAL, "expected KEY=VALUE");
	if (!strchr(w[0], '=')) { /* ENV K the value */
		const char *rest = in->raw + strcspn(in->raw, " \t");
		rest += strspn(rest, " \t");
		_cleanup_strv_ char **v = NULL;
		r = eng_df_lex(rest, env, B->df->escape, false, B->file,
			       in->line, &v, err);
		if (r == 0 && !v)
			r = berr_setx(err, EINVAL, "%s: no value", w[0]);
		if (r < 0)
			return r;
		_cleanup_free_ char *kv = base_sprintf("%s=%s", w[0], v[0]);
		base_strv_push(out, kv);
		return 0;
	}
	for (size_t i = 0; w[i]; i++) {
		if (w[i][0] == '=' || !strchr(w[i], '='))
			return berr_setx(err, EINVAL,
					 "`%s`: expected KEY=VALUE", w[i]);
		base_strv_push(out, w[i]);
	}
	return 0;
}

/* One word, expanded. */
static int word(struct stage *S, const struct eng_df_instr *in, char **out,
		struct berr *err)
{
	_cleanup_strv_ char **env = stage_env(S);
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(in->raw, env, S->B->df->escape, false, S->B->file,
			   in->line, &w, err);
	if (r == 0 && (!w || !w[0][0]))
		r = berr_setx(err, EINVAL, "expected a value");
	if (r == 0)
		*out = base_strdup(w[0]);
	return r;
}

static const char *build_arg(struct build *B, const char *name)
{
	size_t n = strlen(name);
	const char *v = NULL;
	for (size_t i = 0; B->o->build_args && B->o->build_args[i]; i++) {
		const char *a = B->o->build_args[i];
		if (!strncmp(a, name, n) && a[n] == '=')
			v = a + n + 1;
		else if (!strcmp(a, name))
			v = getenv(name); /* --build-arg K: the caller's */
	}
	return v;
}

/* ARG NAME[=default]: --build-arg's value, else the default. */
static int arg_value(struct build *B, char *const *env,
		     const struct eng_df_instr *in, char **kv, struct berr *err)
{
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(in->raw, env, B->df->escape, true, B->file, in->line,
			   &w, err);
	if (r == 0 && base_strv_len(w) != 1)
		r = berr_setx(err, EINVAL, "expected NAME[=DEFAULT]");
	if (r < 0)
		return r;
	size_t k = strcspn(w[0], "=");
	_cleanup_free_ char *name = strndup(w[0], k);
	const char *v = build_arg(B, name);
	if (!v && w[0][k] == '=')
		v = w[0] + k + 1;
	*kv = v ? base_sprintf("%s=%s", name, v) : NULL;
	return 0;
}

/* CMD and ENTRYPOINT: the exec form, or SHELL and the text. */
static cJSON *command_json(struct stage *S, const struct eng_df_instr *in)
{
	_cleanup_strv_ char **v = run_argv(S, in);
	return strv_json(v);
}

static int healthcheck(struct stage *S, const struct eng_df_instr *in,
		       struct berr *err)
{
	cJSON *h = cJSON_CreateObject();
	cJSON *test = cJSON_AddArrayToObject(h, "Test");
	const char *raw = in->raw;
	if (!strncasecmp(raw, "NONE", 4) && !raw[4 + strspn(raw + 4, " \t")]) {
		cJSON_AddItemToArray(test, cJSON_CreateString("NONE"));
	} else if (!strncasecmp(raw, "CMD", 3) &&
		   (raw[3] == ' ' || raw[3] == '\t')) {
		struct eng_df_instr c = *in;
		c.raw = (char *)(raw + 3 + strspn(raw + 3, " \t"));
		_cleanup_strv_ char **v = eng_df_json_strings(c.raw);
		cJSON_AddItemToArray(
			test, cJSON_CreateString(v ? "CMD" : "CMD-SHELL"));
		for (size_t i = 0; v && v[i]; i++)
			cJSON_AddItemToArray(test, cJSON_CreateString(v[i]));
		if (!v)
			cJSON_AddItemToArray(test, cJSON_CreateString(c.raw));
	} else {
		cJSON_Delete(h);
		return berr_setx(err, EINVAL, "expected NONE or CMD ...");
	}
	static const char *const durs[] = {"interval", "timeout",
					   "start-period"};
	static const char *const keys[] = {"Interval", "Timeout",
					   "StartPeriod"};
	for (size_t i = 0; i < ARRAY_SIZE(durs); i++) {
		const char *d = eng_df_flag(in, durs[i]);
		double sec;
		char *end = NULL;
		if (!d)
			continue;
		sec = strtod(d, &end);
		double mul = end && !strcmp(end, "ms")	? 1e-3
			     : end && !strcmp(end, "m") ? 60
			     : end && !strcmp(end, "s") ? 1
			     : end && !strcmp(end, "h") ? 3600
							: -1;
		if (end == d || mul < 0 || sec < 0) {
			cJSON_Delete(h);
			return berr_setx(err, EINVAL,
					 "--%s=%s: a duration "
					 "such as 30s",
					 durs[i], d);
		}
		cJSON_AddNumberToObject(h, keys[i], sec * mul * 1e9);
	}
	const char *retries = eng_df_flag(in, "retries");
	int n;
	if (retries && (base_parse_int(retries, &n) < 0 || n < 0)) {
		cJSON_Delete(h);
		return berr_setx(err, EINVAL, "--retries=%s", retries);
	}
	if (retries)
		cJSON_AddNumberToObject(h, "Retries", n);
	cfg_set(S, "Healthcheck", h);
	return 0;
}

static int expose(struct stage *S, const struct eng_df_instr *in,
		  struct berr *err)
{
	_cleanup_strv_ char **env = stage_env(S);
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(in->raw, env, S->B->df->escape, true, S->B->file,
			   in->line, &w, err);
	cJSON *ports = cfg_obj(S, "ExposedPorts");
	for (size_t i = 0; r == 0 && w && w[i]; i++) {
		int p;
		_cleanup_free_ char *num = strndup(w[i], strcspn(w[i], "/"));
		const char *proto = strchr(w[i], '/');
		if (base_parse_int(num, &p) < 0 || p < 1 || p > 65535 ||
		    (proto && strcasecmp(proto, "/tcp") &&
		     strcasecmp(proto, "/udp")))
			return berr_setx(err, EINVAL,
					 "`%s`: expected PORT[/tcp|/udp]",
					 w[i]);
		_cleanup_free_ char *k =
			base_sprintf("%d/%s", p, proto ? proto + 1 : "tcp");
		for (char *c = k; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!cJSON_GetObjectItemCaseSensitive(ports, k))
			cJSON_AddItemToObject(ports, k, cJSON_CreateObject());
	}
	return r;
}

static int volume(struct stage *S, const struct eng_df_instr *in,
		  struct berr *err)
{
	_cleanup_strv_ char **env = stage_env(S);
	_cleanup_strv_ char **w = NULL;
	int r = 0;
	if (in->json)
		for (size_t i = 0; in->args[i]; i++)
			base_strv_push(&w, in->args[i]);
	else
		r = eng_df_lex(in->raw, env, S->B->df->escape, true, S->B->file,
			       in->line, &w, err);
	cJSON *vols = cfg_obj(S, "Volumes");
	for (size_t i = 0; r == 0 && w && w[i]; i++)
		if (!cJSON_GetObjectItemCaseSensitive(vols, w[i]))
			cJSON_AddItemToObject(vols, w[i], cJSON_CreateObject());
	return r;
}

/* Instructions that change only the config. */
static int meta(struct stage *S, const struct eng_df_instr *in,
		struct berr *err)
{
	_cleanup_strv_ char **kv = NULL;
	_cleanup_free_ char *v = NULL;
	int r = 0;
	switch (in->kind) {
	case ENG_DF_ENV:
		r = pairs(S, in, &kv, err);
		for (size_t i = 0; r == 0 && kv && kv[i]; i++)
			env_set(S, kv[i]);
		return r;
	case ENG_DF_LABEL:
		r = pairs(S, in, &kv, err);
		for (size_t i = 0; r == 0 && kv && kv[i]; i++) {
			char *eq = strchr(kv[i], '=');
			*eq = '\0';
			cJSON *l = cfg_obj(S, "Labels");
			cJSON_DeleteItemFromObjectCaseSensitive(l, kv[i]);
			cJSON_AddStringToObject(l, kv[i], eq + 1);
		}
		return r;
	case ENG_DF_WORKDIR:
		if ((r = word(S, in, &v, err)) == 0) {
			const char *wd = cfg_str(S, "WorkingDir");
			_cleanup_free_ char *abs =
				v[0] == '/' ? base_strdup(v)
					    : base_sprintf("%s/%s",
							   wd ? wd : "", v);
			cfg_set(S, "WorkingDir", cJSON_CreateString(abs));
		}
		return r;
	case ENG_DF_USER:
	case ENG_DF_STOPSIGNAL:
	case ENG_DF_MAINTAINER:
		if ((r = word(S, in, &v, err)) < 0)
			return r;
		if (in->kind == ENG_DF_MAINTAINER) {
			cJSON_DeleteItemFromObjectCaseSensitive(S->cfg,
								"author");
			cJSON_AddStringToObject(S->cfg, "author", v);
		} else {
			cfg_set(S,
				in->kind == ENG_DF_USER ? "User" : "StopSignal",
				cJSON_CreateString(v));
		}
		return 0;
	case ENG_DF_EXPOSE:
		return expose(S, in, err);
	case ENG_DF_VOLUME:
		return volume(S, in, err);
	case ENG_DF_ENTRYPOINT:
		cfg_set(S, "Entrypoint", command_json(S, in));
		/* a new entrypoint drops the base image's CMD */
		cfg_set(S, "Cmd", cJSON_CreateNull());
		return 0;
	case ENG_DF_CMD:
		cfg_set(S, "Cmd", command_json(S, in));
		return 0;
	case ENG_DF_SHELL:
		if (!in->json || !in->args[0])
			return berr_setx(err, EINVAL,
					 "expected a JSON array such as "
					 "[\"/bin/bash\", \"-c\"]");
		cfg_set(S, "Shell", strv_json(in->args));
		return 0;
	case ENG_DF_HEALTHCHECK:
		return healthcheck(S, in, err);
	default:
		return berr_setx(err, ENOTSUP, "not supported by berth build");
	}
}

/* ---- stages ------------------------------------------------------------ */

static const char *host_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

static cJSON *scratch_config(void)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "architecture", host_arch());
	cJSON_AddStringToObject(c, "os", "linux");
	cJSON_AddObjectToObject(c, "config");
	cJSON *rootfs = cJSON_AddObjectToObject(c, "rootfs");
	cJSON_AddStringToObject(rootfs, "type", "layers");
	cJSON_AddArrayToObject(rootfs, "diff_ids");
	cJSON_AddArrayToObject(c, "history");
	return c;
}

/* An image of the store, pulled when the store lacks it. */
static int base_image(struct build *B, const char *ref, char **digest,
		      cJSON **cfg, struct berr *err)
{
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(B->o->store, OCI_STORE_WRITE, &s, err);
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	struct berr e = {0};
	if (r == 0 && (r = oci_image_find(s, ref, &img, &e)) == -ENOENT) {
		_cleanup_free_ char *line = base_sprintf("pulling %s", ref);
		note(B, line);
		struct oci_pull_opts po = {0};
		_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
		r = oci_image_pull(s, ref, &po, &v, err);
		if (r == 0)
			r = oci_image_find(s, ref, &img, err);
	} else if (r < 0) {
		*err = e;
	}
	_cleanup_free_ char *json = NULL;
	size_t len;
	if (r == 0)
		r = oci_image_read_config(s, img, &json, &len, err);
	if (r < 0)
		return r;
	*cfg = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(*cfg))
		return berr_setx(err, EINVAL, "%s: its config is not JSON",
				 ref);
	*digest = base_strdup(img->digest);
	return 0;
}

static int stage_from(struct stage *S, struct berr *err)
{
	struct build *B = S->B;
	const struct eng_df_stage *st = &B->df->stages[S->index];
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(st->base, B->global, B->df->escape, false, B->file,
			   st->line, &w, err);
	if (r < 0)
		return r;
	const char *base = w ? w[0] : "";
	for (size_t i = 0; i < S->index; i++)
		if (B->df->stages[i].name &&
		    !strcasecmp(B->df->stages[i].name, base)) {
			S->image = B->stage_images[i]
					   ? base_strdup(B->stage_images[i])
					   : NULL;
			S->cfg = cJSON_Parse(B->stage_cfgs[i]);
			chain(S, B->stage_cfgs[i]);
			return 0;
		}
	if (!strcmp(base, "scratch")) {
		S->cfg = scratch_config();
		chain(S, "scratch");
		return 0;
	}
	r = base_image(B, base, &S->image, &S->cfg, err);
	if (r == 0)
		chain(S, S->image);
	return r < 0 ? berr_wrap(err, "%s", base) : 0;
}

/* WORKDIR: the config, and the directory when the image lacks it (as
 * docker makes it: root's, 0755). */
static int workdir_step(struct stage *S, const struct eng_df_instr *in,
			unsigned seq, struct berr *err)
{
	int r = meta(S, in, err);
	chain(S, in->text);
	struct copy_step cs = {.c = {.rootfd = -1, .dstfd = -1}};
	const char *wd = cfg_str(S, "WorkingDir");
	struct stat st;
	if (r == 0)
		r = layer_dirs(S, &cs.c.layers, err);
	_cleanup_free_ char *rel = base_strdup(wd + strspn(wd, "/"));
	bool have = !rel[0];
	for (size_t i = base_strv_len(cs.c.layers);
	     r == 0 && !have && i-- > 0;) {
		_cleanup_free_ char *p =
			base_sprintf("%s/%s", cs.c.layers[i], rel);
		if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			have = S_ISDIR(st.st_mode);
			break;
		}
	}
	if (r == 0 && have)
		history(S, in->text, true);
	else if (r == 0 && !from_cache(S, in->text, seq)) {
		char hex[13];
		base_random_hex(hex, 12);
		cs.stage = base_sprintf("%s/%s", S->B->scratch, hex);
		r = base_mkdir_p(AT_FDCWD, cs.stage, 0755);
		cs.c.dstfd = r < 0 ? -1
				   : open(cs.stage,
					  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = cs.c.dstfd < 0 ? berr_set(err, errno, "create %s", cs.stage)
				   : eng_stage_dirs(&cs.c, rel, err);
		if (r == 0)
			r = commit(S, cs.stage, false, in->text, err);
	}
	copy_step_clear(&cs);
	return r;
}

/* A base without PATH gets docker's default, as docker's builder gives
 * it: RUN steps find their programs, and configs agree. */
static void default_path(struct stage *S)
{
	_cleanup_strv_ char **env = json_strv(
		cJSON_GetObjectItemCaseSensitive(cfg_section(S), "Env"));
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			return;
	env_set(S, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		   "/sbin:/bin");
}

static int step(struct stage *S, const struct eng_df_instr *in, unsigned seq,
		struct berr *err)
{
	struct build *B = S->B;
	if (in->kind == ENG_DF_ONBUILD)
		return berr_setx(err, ENOTSUP,
				 "ONBUILD is not supported by berth build");
	if (in->kind == ENG_DF_ARG) {
		_cleanup_strv_ char **env = stage_env(S);
		char **genv = B->global;
		_cleanup_free_ char *kv = NULL;
		int r = arg_value(B, env, in, &kv, err);
		/* a global ARG redeclared without a value keeps its own */
		size_t k = strcspn(in->raw, "= \t");
		for (size_t i = 0; r == 0 && !kv && genv && genv[i]; i++)
			if (!strncmp(genv[i], in->raw, k) && genv[i][k] == '=')
				kv = base_strdup(genv[i]);
		if (r == 0 && kv)
			base_strv_push(&S->args, kv);
		chain(S, kv ? kv : in->raw);
		return r;
	}
	if (in->kind == ENG_DF_COPY || in->kind == ENG_DF_ADD)
		return copy_step(S, in, seq, err);
	if (in->kind == ENG_DF_WORKDIR)
		return workdir_step(S, in, seq, err);
	if (in->kind != ENG_DF_RUN) {
		int r = meta(S, in, err);
		chain(S, in->text);
		if (r == 0)
			history(S, in->text, true);
		return r;
	}
	if (!S->image)
		return berr_setx(err, EINVAL,
				 "the stage has no filesystem to run in "
				 "(FROM scratch)");
	_cleanup_strv_ char **argv = run_argv(S, in);
	_cleanup_strv_ char **env = stage_env(S);
	_cleanup_free_ char *envs = base_strdup("");
	for (size_t i = 0; env && env[i]; i++) {
		char *n = base_sprintf("%s%s\n", envs, env[i]);
		free(envs);
		envs = n;
	}
	const char *wd = cfg_str(S, "WorkingDir"), *user = cfg_str(S, "User");
	_cleanup_free_ char *k = base_sprintf("%s\n%s\n%s\n%s", in->text, envs,
					      wd ? wd : "", user ? user : "");
	chain(S, k);
	if (from_cache(S, in->text, seq))
		return 0;
	return run_container(S, argv, in->text, err);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stage's config committed over its last image: its result. */
/* The stage's result, when a build with the same key made it: the same
 * image again (its id stays, as docker's does for a cached build), named
 * tag. */
static int stage_cached(struct stage *S, struct oci_store *s, const char *tag,
			struct oci_image **img, char **json, struct berr *err)
{
	bool empty;
	_cleanup_free_ char *d = cache_lookup(S, &empty);
	if (!d || oci_image_find(s, d, img, NULL) < 0)
		return 0;
	size_t len;
	int r = oci_image_read_config(s, *img, json, &len, err);
	if (r == 0 && tag)
		r = oci_image_tag(s, d, tag, err);
	return r < 0 ? r : 1;
}

static int stage_commit(struct stage *S, const char *tag, char **id,
			struct berr *err)
{
	struct build *B = S->B;
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(B->o->store, OCI_STORE_WRITE, &s, err);
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	_cleanup_free_ char *json = NULL;
	chain(S, "commit");
	if (r == 0)
		r = stage_cached(S, s, tag, &img, &json, err);
	if (r == 0) {
		_cleanup_(oci_image_freep) struct oci_image *base = NULL;
		if (S->image)
			r = oci_image_find(s, S->image, &base, err);
		set_created(S);
		json = cJSON_PrintUnformatted(S->cfg);
		if (r == 0)
			r = oci_image_create(s, base, NULL, 0, json, tag, &img,
					     err);
		if (r == 0)
			cache_put(S, img->digest, false);
	}
	if (r < 0)
		return r;
	B->stage_images[S->index] = base_strdup(img->digest);
	B->stage_cfgs[S->index] = TAKE_PTR(json);
	if (id)
		*id = base_strdup(img->id);
	return 0;
}

static int run_stage(struct build *B, size_t index, const char *tag, char **id,
		     struct berr *err)
{
	const struct eng_df_stage *st = &B->df->stages[index];
	struct stage S = {.B = B, .index = index};
	char label[96];
	snprintf(label, sizeof(label), "%s%s", st->name ? st->name : "",
		 st->name ? " " : "");
	step_begin(B, label, st->from.text);
	double t0 = now_s();
	int r = stage_from(&S, err);
	if (r < 0)
		r = at_line(B, &st->from, r, err);
	else
		default_path(&S);
	step_finish(B, r, now_s() - t0, false);
	for (size_t i = 0; r == 0 && i < st->n; i++) {
		const struct eng_df_instr *in = &st->v[i];
		step_begin(B, label, in->text);
		t0 = now_s();
		if ((r = step(&S, in, B->cur, err)) < 0)
			r = at_line(B, in, r, err);
		step_finish(B, r, now_s() - t0, true);
	}
	if (r == 0)
		r = stage_commit(&S, tag, id, err);
	cJSON_Delete(S.cfg);
	free(S.image);
	base_strv_free(S.args);
	return r;
}

/* The ARGs before the first FROM, for FROM lines. */
static int global_args(struct build *B, struct berr *err)
{
	for (size_t i = 0; i < B->df->n_global; i++) {
		_cleanup_free_ char *kv = NULL;
		int r = arg_value(B, B->global, &B->df->global[i], &kv, err);
		if (r < 0)
			return at_line(B, &B->df->global[i], r, err);
		if (kv)
			base_strv_push(&B->global, kv);
	}
	return 0;
}

static int target_index(struct build *B, size_t *out, struct berr *err)
{
	*out = B->df->n_stages - 1;
	if (!B->o->target)
		return 0;
	for (size_t i = 0; i < B->df->n_stages; i++)
		if (B->df->stages[i].name &&
		    !strcasecmp(B->df->stages[i].name, B->o->target)) {
			*out = i;
			return 0;
		}
	return berr_setx(err, EINVAL, "--target %s: no stage of that name",
			 B->o->target);
}

static int build_open(struct build *B, struct berr *err)
{
	const struct eng_build_opts *o = B->o;
	B->ctxfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (B->ctxfd < 0)
		return berr_set(err, errno, "build context %s", o->context);
	_cleanup_free_ char *path =
		o->file ? base_strdup(o->file)
			: base_sprintf("%s/Dockerfile", o->context);
	const char *slash = strrchr(path, '/');
	B->file = base_strdup(slash ? slash + 1 : path);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = base_read_file_at(AT_FDCWD, path, &text, &len, 4u << 20);
	if (r == -EFBIG)
		return berr_setx(err, EFBIG, "%s: over 4 MiB: not a Dockerfile",
				 path);
	if (r < 0)
		return berr_set(err, -r, "read %s", path);
	if ((r = eng_dockerfile_parse(text, len, B->file, &B->df, err)) < 0)
		return r;
	if ((r = eng_ignore_load(B->ctxfd, &B->ignore)) < 0)
		return berr_set(err, -r, "read %s/.dockerignore", o->context);
	const char *store = o->store ? o->store : OCI_STORE_DEFAULT;
	B->cache_dir = base_sprintf("%s/build-cache", store);
	B->scratch = base_sprintf("%s/.build", B->ctx->root ? B->ctx->root
							    : RT_DEFAULT_ROOT);
	r = base_mkdir_p(AT_FDCWD, B->cache_dir, 0700);
	if (r == 0)
		r = base_mkdir_p(AT_FDCWD, B->scratch, 0700);
	if (r < 0)
		return berr_set(err, -r, "create %s", B->scratch);
	B->stage_images = base_calloc(B->df->n_stages, sizeof(char *));
	B->stage_cfgs = base_calloc(B->df->n_stages, sizeof(char *));
	return 0;
}

static void build_close(struct build *B)
{
	for (size_t i = 0; B->df && i < B->df->n_stages; i++) {
		free(B->stage_images[i]);
		free(B->stage_cfgs[i]);
	}
	free(B->stage_images);
	free(B->stage_cfgs);
	eng_stat_cache_close(B->files);
	eng_dockerfile_free(B->df);
	base_strv_free(B->global);
	base_strv_free(B->ignore);
	if (B->ctxfd >= 0)
		close(B->ctxfd);
	if (B->scratch)
		rmdir(B->scratch); /* when no other build uses it */
	free(B->scratch);
	free(B->cache_dir);
	free((char *)B->file);
}

int eng_build(const struct rt_ctx *ctx, const struct eng_build_opts *o,
	      char **image_id, struct berr *err)
{
	*image_id = NULL;
	struct build B = {.ctx = ctx, .o = o, .ctxfd = -1};
	int r = build_open(&B, err);
	size_t target = 0;
	if (r == 0)
		r = target_index(&B, &target, err);
	if (r == 0)
		r = global_args(&B, err);
	for (size_t i = 0; r == 0 && i <= target; i++)
		B.nsteps += (unsigned)(1 + B.df->stages[i].n);
	for (size_t i = 0; r == 0 && i <= target; i++)
		r = run_stage(&B, i, i == target ? o->tag : NULL,
			      i == target ? image_id : NULL, err);
	build_close(&B);
	return r;
}
