/* Launched containers as docker manages them: their records under
 * <root>/.containers/<id>/ (engine.h says what is there), restart
 * policies, logs, stop, restart, rm and the listing. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

/* ---- restart policies ---------------------------------------------------- */

int eng_restart_parse(const char *s, struct eng_restart *out, struct berr *err)
{
	*out = (struct eng_restart){ENG_RESTART_NO, 0};
	if (!s || !strcmp(s, "no"))
		return 0;
	if (!strcmp(s, "always")) {
		out->kind = ENG_RESTART_ALWAYS;
		return 0;
	}
	if (!strcmp(s, "unless-stopped")) {
		out->kind = ENG_RESTART_UNLESS_STOPPED;
		return 0;
	}
	if (!strcmp(s, "on-failure")) {
		out->kind = ENG_RESTART_ON_FAILURE;
		return 0;
	}
	int n;
	if (!strncmp(s, "on-failure:", 11) && base_parse_int(s + 11, &n) == 0 &&
	    n >= 0) {
		*out = (struct eng_restart){ENG_RESTART_ON_FAILURE, n};
		return 0;
	}
	return berr_setx(err, EINVAL,
			 "--restart `%s`: expected no, on-failure[:N], "
			 "always or unless-stopped",
			 s);
}

void eng_restart_format(const struct eng_restart *p, char *buf, size_t len)
{
	switch (p->kind) {
	case ENG_RESTART_NO:
		snprintf(buf, len, "no");
		break;
	case ENG_RESTART_ALWAYS:
		snprintf(buf, len, "always");
		break;
	case ENG_RESTART_UNLESS_STOPPED:
		snprintf(buf, len, "unless-stopped");
		break;
	case ENG_RESTART_ON_FAILURE:
		if (p->max)
			snprintf(buf, len, "on-failure:%d", p->max);
		else
			snprintf(buf, len, "on-failure");
		break;
	}
}

bool eng_restart_wanted(const struct eng_restart *p, int code, int restarts,
			bool stopped)
{
	if (stopped)
		return false;
	switch (p->kind) {
	case ENG_RESTART_NO:
		return false;
	case ENG_RESTART_ON_FAILURE:
		return code != 0 && (p->max == 0 || restarts < p->max);
	case ENG_RESTART_ALWAYS:
	case ENG_RESTART_UNLESS_STOPPED:
		return true;
	}
	return false;
}

/* ---- the record ---------------------------------------------------------- */

static char *ctr_path(const char *root, const char *id)
{
	return base_sprintf("%s/%s/%s", root, ENG_CTR_DIR, id);
}

static const char *root_of(const struct rt_ctx *ctx)
{
	return ctx->root ? ctx->root : RT_DEFAULT_ROOT;
}

int eng_ctr_dir_open(const char *root, const char *id)
{
	_cleanup_free_ char *dir = ctr_path(root, id);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* Whether a monitor holds the record's lock (dfd: its parent). */
static bool monitor_holds(int dfd, const char *name)
{
	_cleanup_free_ char *lock =
		base_sprintf("%s/%s", name, ENG_MONITOR_LOCK);
	_cleanup_close_ int fd = openat(dfd, lock, O_RDONLY | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 &&
	       errno == EWOULDBLOCK;
}

/* A monitor may still write into the record (the exit of a container a
 * delete just killed): the record is moved aside under a name no launch
 * takes, and removed once its monitor has gone (3 s at most; a later
 * launch's eng_ctr_gc removes what stays). */
void eng_ctr_dir_remove(const char *root, const char *id)
{
	_cleanup_free_ char *dir = base_sprintf("%s/%s", root, ENG_CTR_DIR);
	_cleanup_close_ int fd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	char hex[9];
	base_random_hex(hex, 8);
	_cleanup_free_ char *gone = base_sprintf(".gone-%s-%s", id, hex);
	if (renameat(fd, id, fd, gone) < 0)
		return;
	for (int i = 0; i < 300 && monitor_holds(fd, gone); i++) {
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
	base_rm_rf_at(fd, gone);
}

static cJSON *strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

int eng_ctr_dir_make(const char *root, const struct eng_ctr_record *rec,
		     struct berr *err)
{
	_cleanup_free_ char *dir = ctr_path(root, rec->id);
	eng_ctr_dir_remove(root, rec->id); /* a dead container's */
	/* made under a name a collection skips, locked, then renamed: a
	 * concurrent launch's eng_ctr_gc never sees it unlocked. Between
	 * mkdir and flock, the parent is held shared: a collection that
	 * holds it exclusively knows every unlocked .new- is a dead one's */
	_cleanup_free_ char *parent = base_sprintf("%s/%s", root, ENG_CTR_DIR);
	int r = base_mkdir_p(AT_FDCWD, parent, 0700);
	if (r < 0)
		return berr_set(err, -r, "mkdir %s", parent);
	_cleanup_close_ int pfd =
		open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char hex[9];
	base_random_hex(hex, 8);
	_cleanup_free_ char *tmp = base_sprintf(".new-%s-%s", rec->id, hex);
	if (pfd < 0 || flock(pfd, LOCK_SH) < 0 || mkdirat(pfd, tmp, 0700) < 0)
		return berr_set(err, errno, "mkdir %s/%s", parent, tmp);
	_cleanup_close_ int fd = openat(
		pfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int e = errno;
		base_rm_rf_at(pfd, tmp);
		return berr_set(err, e, "open %s/%s", parent, tmp);
	}
	flock(pfd, LOCK_UN);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char created[64], restart[32];
	base_rfc3339(&ts, created, sizeof(created));
	eng_restart_format(&rec->restart, restart, sizeof(restart));
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", rec->id);
	cJSON_AddStringToObject(o, "image", rec->image ? rec->image : "");
	cJSON_AddItemToObject(o, "command", strv_json(rec->args));
	cJSON_AddStringToObject(o, "created", created);
	cJSON_AddNumberToObject(o, "created_s", (double)ts.tv_sec);
	cJSON_AddStringToObject(o, "bundle", rec->bundle);
	if (rec->seccomp_cache)
		cJSON_AddStringToObject(o, "seccomp_cache", rec->seccomp_cache);
	cJSON_AddStringToObject(o, "restart", restart);
	cJSON_AddNumberToObject(o, "log_max_size", (double)rec->log_max_size);
	cJSON_AddNumberToObject(o, "log_max_file", rec->log_max_file);
	cJSON_AddBoolToObject(o, "rm", rec->rm);
	cJSON_AddBoolToObject(o, "tty", rec->tty);
	_cleanup_free_ char *text = cJSON_PrintUnformatted(o);
	r = base_write_file_atomic(fd, "config.json", text, strlen(text), 0600);
	if (r == 0 && renameat(pfd, tmp, pfd, rec->id) < 0)
		r = -errno;
	if (r < 0) {
		base_rm_rf_at(pfd, tmp);
		return berr_set(err, -r, "write %s", dir);
	}
	/* the lock is held until the container exists (eng_ctr_gc) */
	return TAKE_FD(fd);
}

void eng_ctr_gc(const char *root)
{
	_cleanup_free_ char *dir = base_sprintf("%s/%s", root, ENG_CTR_DIR);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	/* no launch between mkdir and flock of its record (see
	 * eng_ctr_dir_make): an unlocked .new- is a killed launch's */
	bool quiet = d && flock(dirfd(d), LOCK_EX | LOCK_NB) == 0;
	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, ".gone-", 6) &&
		    !monitor_holds(dirfd(d), de->d_name)) {
			base_rm_rf_at(dirfd(d), de->d_name);
			continue;
		}
		if (!strncmp(de->d_name, ".new-", 5)) {
			/* a launch killed while it made its record */
			_cleanup_close_ int nfd =
				openat(dirfd(d), de->d_name,
				       O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					       O_NOFOLLOW);
			if (quiet && nfd >= 0 &&
			    flock(nfd, LOCK_EX | LOCK_NB) == 0)
				base_rm_rf_at(dirfd(d), de->d_name);
			continue;
		}
		if (de->d_name[0] == '.')
			continue;
		_cleanup_close_ int fd =
			openat(dirfd(d), de->d_name,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		_cleanup_free_ char *state =
			base_sprintf("%s/%s", root, de->d_name);
		if (access(state, F_OK) < 0 && errno == ENOENT)
			base_rm_rf_at(dirfd(d), de->d_name);
	}
}

void eng_ctr_state_write(int dirfd, int64_t started, int64_t finished,
			 int exit_code, int restarts)
{
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	if (started)
		cJSON_AddNumberToObject(o, "started", (double)started);
	if (finished)
		cJSON_AddNumberToObject(o, "finished", (double)finished);
	if (exit_code >= 0)
		cJSON_AddNumberToObject(o, "exit_code", exit_code);
	cJSON_AddNumberToObject(o, "restarts", restarts);
	_cleanup_free_ char *text = cJSON_PrintUnformatted(o);
	(void)base_write_file_atomic(dirfd, "state.json", text, strlen(text),
				     0600);
}

static cJSON *read_json(int dirfd, const char *name)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (base_read_file_at(dirfd, name, &text, &len, 1 << 20) < 0)
		return NULL;
	return cJSON_ParseWithLength(text, len);
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double jnum(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The record of a launched container; -ENOENT naming it otherwise. */
static int open_ctr(const struct rt_ctx *ctx, const char *id, struct berr *err)
{
	int r = rt_validate_id(id, err);
	if (r < 0)
		return r;
	int fd = eng_ctr_dir_open(root_of(ctx), id);
	if (fd < 0)
		return berr_setx(err, ENOENT, "no such container: %s", id);
	return fd;
}

/* The record's config.json as the monitor needs it; strings point into
 * *doc. */
static int load_record(int dirfd, const char *id, struct eng_ctr_record *rec,
		       cJSON **doc, struct berr *err)
{
	*doc = read_json(dirfd, "config.json");
	const char *bundle = jstr(*doc, "bundle");
	if (!bundle)
		return berr_setx(err, EINVAL,
				 "container %s: no record of "
				 "its bundle",
				 id);
	*rec = (struct eng_ctr_record){
		.id = id,
		.image = jstr(*doc, "image"),
		.bundle = bundle,
		.seccomp_cache = jstr(*doc, "seccomp_cache"),
		.log_max_size = (int64_t)jnum(*doc, "log_max_size", 0),
		.log_max_file = (int)jnum(*doc, "log_max_file", 0),
		.rm = cJSON_IsTrue(cJSON_GetObjectItem(*doc, "rm")),
		.tty = cJSON_IsTrue(cJSON_GetObjectItem(*doc, "tty"))};
	return eng_restart_parse(jstr(*doc, "restart"), &rec->restart, err);
}

/* ---- logs ---------------------------------------------------------------- */

int eng_ctr_logs(const struct rt_ctx *ctx, const char *id,
		 const struct eng_logs_opts *o, struct berr *err)
{
	_cleanup_close_ int fd = open_ctr(ctx, id, err);
	if (fd < 0)
		return fd;
	int r = eng_ctr_read_log(fd, o);
	if (r < 0)
		return berr_set(err, -r, "logs of %s", id);
	return 0;
}

/* ---- stop, restart, rm --------------------------------------------------- */

static int stop_signal(const struct rt_ctx *ctx, const char *id)
{
	_cleanup_free_ char *json = NULL;
	if (rt_state(ctx, id, &json, NULL) < 0)
		return SIGTERM;
	_cleanup_cjson_ cJSON *o = cJSON_Parse(json);
	const char *s = jstr(cJSON_GetObjectItem(o, "annotations"),
			     "org.opencontainers.image.stopSignal");
	int sig;
	return s && rt_parse_signal(s, &sig) == 0 && sig > 0 ? sig : SIGTERM;
}

static bool wait_exit(int pidfd, int ms)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int n;
	while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return n > 0;
}

/* Waits (10 s at most) until no monitor holds the lock: the exit is
 * recorded and the log drained. */
static void wait_monitor(int dirfd)
{
	_cleanup_close_ int fd =
		openat(dirfd, ENG_MONITOR_LOCK, O_RDONLY | O_CLOEXEC);
	for (int i = 0; fd >= 0 && i < 1000; i++) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
			flock(fd, LOCK_UN);
			return;
		}
		struct timespec ts = {0, 10 * 1000000};
		nanosleep(&ts, NULL);
	}
}

static int stop_in(const struct rt_ctx *ctx, const char *id, int dirfd,
		   int timeout, struct berr *err)
{
	_cleanup_close_ int m = openat(dirfd, ENG_STOPPED_FILE,
				       O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (m < 0)
		return berr_set(err, errno, "mark %s stopped", id);
	_cleanup_close_ int pidfd = rt_pidfd(ctx, id, NULL);
	if (pidfd >= 0) {
		int r = rt_kill(ctx, id, stop_signal(ctx, id), false, err);
		if (r < 0 && r != -ESRCH)
			return r;
		if (!wait_exit(pidfd, timeout * 1000)) {
			r = rt_kill(ctx, id, SIGKILL, true, err);
			if (r < 0 && r != -ESRCH)
				return r;
			wait_exit(pidfd, -1);
		}
	}
	wait_monitor(dirfd);
	return 0;
}

int eng_ctr_stop(const struct rt_ctx *ctx, const char *id, int timeout,
		 struct berr *err)
{
	_cleanup_close_ int fd = open_ctr(ctx, id, err);
	if (fd < 0)
		return fd;
	return stop_in(ctx, id, fd, timeout, err);
}

int eng_ctr_restart(const struct rt_ctx *ctx, const char *id, int timeout,
		    struct berr *err)
{
	_cleanup_close_ int fd = open_ctr(ctx, id, err);
	if (fd < 0)
		return fd;
	_cleanup_cjson_ cJSON *doc = NULL;
	struct eng_ctr_record rec;
	int r = load_record(fd, id, &rec, &doc, err);
	if (r == 0)
		r = stop_in(ctx, id, fd, timeout, err);
	if (r < 0)
		return r;
	/* the bundle and the record stay (no release) and are locked
	 * against a launch's collection of dead ones while no container
	 * names them */
	if (flock(fd, LOCK_EX) < 0)
		return berr_set(err, errno, "lock the record of %s", id);
	_cleanup_close_ int bfd =
		open(rec.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0 || flock(bfd, LOCK_EX) < 0)
		return berr_set(err, errno, "lock the bundle %s", rec.bundle);
	struct rt_ctx keep = *ctx;
	keep.release = NULL;
	r = rt_delete(&keep, id, true, err);
	if (r < 0 && r != -ENOENT)
		return r;
	unlinkat(fd, ENG_STOPPED_FILE, 0);
	return eng_ctr_monitor_spawn(ctx, &rec, err);
}

int eng_ctr_rm(const struct rt_ctx *ctx, const char *id, bool force,
	       struct berr *err)
{
	_cleanup_close_ int fd = open_ctr(ctx, id, err);
	if (fd < 0)
		return fd;
	_cleanup_free_ char *json = NULL;
	if (!force && rt_state(ctx, id, &json, NULL) == 0) {
		_cleanup_cjson_ cJSON *o = cJSON_Parse(json);
		const char *st = jstr(o, "status");
		if (st && strcmp(st, "stopped") && strcmp(st, "created"))
			return berr_setx(err, EBUSY,
					 "container %s is %s: stop it "
					 "first or use rm -f",
					 id, st);
	}
	/* no restart policy brings it back while it goes */
	_cleanup_close_ int m = openat(fd, ENG_STOPPED_FILE,
				       O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	int r = rt_delete(ctx, id, true, err);
	if (r == -ENOENT) {
		/* the runtime's container went without the record */
		eng_ctr_dir_remove(root_of(ctx), id);
		return 0;
	}
	return r;
}
