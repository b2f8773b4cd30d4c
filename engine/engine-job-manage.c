/* What other berth commands do to a job: list its containers (`job
 * ps`), read its logs (`job logs`), ask its runner to scale, stop or
 * start a group (its control socket, see engine-job.c), stop it, and
 * remove what it left. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroups.h"
#include "engine/engine-internal.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *eng_job_dir(const struct rt_ctx *ctx, const char *name)
{
	return base_sprintf("%s/jobs/%s",
			    ctx->root ? ctx->root : RT_DEFAULT_ROOT, name);
}

char *eng_job_group_root(const char *dir, const char *group)
{
	return base_sprintf("%s/run/%s", dir, group);
}

bool eng_job_dir_running(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* ---- the containers of a job: listing and removing -------------------- */

struct found {
	struct eng_job_entry *v;
	size_t n;
};

static char *bundle_cpus(const char *bundle)
{
	_cleanup_(oci_config_freep) struct oci_config *cfg = NULL;
	if (!bundle || oci_config_load(bundle, &cfg, NULL) < 0 ||
	    !cfg->has_linux || !cfg->linux_.resources.has_cpu ||
	    !cfg->linux_.resources.cpu.cpus)
		return NULL;
	return base_strdup(cfg->linux_.resources.cpu.cpus);
}

static void list_root(const struct rt_ctx *ctx, const char *root,
		      const char *group, struct found *f)
{
	struct rt_ctx c = *ctx;
	c.root = root;
	struct rt_list_entry *v = NULL;
	size_t n = 0;
	if (rt_list(&c, &v, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		f->v = base_realloc(f->v, f->n + 1, sizeof(*f->v));
		f->v[f->n++] = (struct eng_job_entry){
			.group = base_strdup(group),
			.id = base_strdup(v[i].id),
			.root = base_strdup(root),
			.status = v[i].status,
			.pid = v[i].pid,
			.cpus = bundle_cpus(v[i].bundle)};
		eng_endpoint_ip(ctx, root, v[i].id, f->v[f->n - 1].ip,
				sizeof(f->v[f->n - 1].ip));
	}
	rt_list_free(v, n);
}

/* A group's containers: in its root, and in the roots of its pools
 * (par-<pid>/). */
static void list_group(const struct rt_ctx *ctx, const char *dir,
		       const char *group, struct found *f)
{
	_cleanup_free_ char *root = eng_job_group_root(dir, group);
	list_root(ctx, root, group, f);
	_cleanup_closedir_ DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "par-", 4))
			continue;
		_cleanup_free_ char *pool =
			base_sprintf("%s/%s", root, de->d_name);
		list_root(ctx, pool, group, f);
	}
}

void eng_job_entries_free(struct eng_job_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].group);
		free(v[i].id);
		free(v[i].root);
		free(v[i].cpus);
	}
	free(v);
}

/* The cgroup of a run whose runner died: what its kids left below it
 * goes with it. */
static void remove_job_cgroup(const char *dir)
{
	_cleanup_free_ char *path = base_sprintf("%s/cgroup", dir);
	_cleanup_free_ char *resolved = NULL;
	if (base_read_file_at(AT_FDCWD, path, &resolved, NULL, 65536) < 0)
		return;
	_cleanup_(cg_group_freep) struct cg_group *g = NULL;
	if (cg_open(resolved, &g, NULL) == 0 && cg_destroy(g, NULL) == 0)
		unlink(path);
}

void eng_job_remove_leftovers(const struct rt_ctx *ctx, const char *dir)
{
	_cleanup_free_ char *run = base_sprintf("%s/run", dir);
	_cleanup_closedir_ DIR *d = opendir(run);
	struct found f = {0};
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			list_group(ctx, dir, de->d_name, &f);
	for (size_t i = 0; i < f.n; i++) {
		struct rt_ctx c = *ctx;
		c.root = f.v[i].root;
		rt_delete(&c, f.v[i].id, true, NULL);
	}
	eng_job_entries_free(f.v, f.n);
	base_rm_rf_at(AT_FDCWD, run);
	remove_job_cgroup(dir);
}

/* ---- stop, rm, ps, logs -------------------------------------------------- */

static int read_runner(const char *dir, pid_t *pid)
{
	_cleanup_free_ char *path = base_sprintf("%s/runner.pid", dir);
	_cleanup_free_ char *s = NULL;
	int v = 0, r = -ENOENT;
	/* a runner that just started may not have written it yet */
	for (int tries = 0; tries < 50; tries++) {
		r = base_read_file_at(AT_FDCWD, path, &s, NULL, 64);
		if (r != -ENOENT)
			break;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	if (r == 0) {
		s[strcspn(s, "\n")] = '\0';
		r = base_parse_int(s, &v);
	}
	*pid = v;
	return r;
}

/* Waits up to ms for the runner to let go of the job's lock. */
static int wait_unlocked(const char *dir, int ms)
{
	for (int64_t end = mono_ms() + ms; mono_ms() < end;) {
		if (!eng_job_dir_running(dir))
			return 0;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int eng_job_stop(const struct rt_ctx *ctx, const char *name, struct berr *err)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	if (!eng_job_dir_running(dir))
		return berr_setx(err, ESRCH, "job %s is not running", name);
	pid_t pid;
	int r = read_runner(dir, &pid);
	if (r < 0)
		return berr_set(err, -r, "job %s: read %s/runner.pid", name,
				dir);
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0 &&
	    syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0) < 0 &&
	    errno != ESRCH)
		return berr_set(err, errno, "job %s: signal its runner %d",
				name, (int)pid);
	struct pollfd pf = {.fd = pfd, .events = POLLIN};
	while (pfd >= 0 && poll(&pf, 1, 60000) < 0 && errno == EINTR)
		;
	/* its kids hold the lock too until they are gone */
	if (wait_unlocked(dir, 30000) < 0)
		return berr_setx(err, ETIMEDOUT,
				 "job %s: its runner %d did not stop within "
				 "90 s",
				 name, (int)pid);
	return 0;
}

int eng_job_rm(const struct rt_ctx *ctx, const char *name, struct berr *err)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	if (access(dir, F_OK) < 0)
		return berr_set(err, errno, "job %s", name);
	if (eng_job_dir_running(dir))
		return berr_setx(err, EBUSY,
				 "job %s is running (stop it with `berth job "
				 "stop %s`)",
				 name, name);
	eng_job_remove_leftovers(ctx, dir);
	int r = base_rm_rf_at(AT_FDCWD, dir);
	if (r < 0)
		return berr_set(err, -r, "remove %s", dir);
	/* the last job takes <root>/jobs with it */
	_cleanup_free_ char *jobs = base_sprintf(
		"%s/jobs", ctx->root ? ctx->root : RT_DEFAULT_ROOT);
	rmdir(jobs);
	return 0;
}

static int load_copy(const char *dir, const char *name, struct eng_job **j,
		     struct berr *err)
{
	_cleanup_free_ char *path = base_sprintf("%s/job.json", dir);
	if (access(path, F_OK) < 0)
		return berr_setx(err, ENOENT, "no job %s", name);
	return eng_job_load(path, j, err);
}

/* The exit code state.json of logs/<id>/ records, or -1. */
static int recorded_exit(const char *dir, const char *id)
{
	_cleanup_free_ char *path =
		base_sprintf("%s/logs/%s/state.json", dir, id);
	_cleanup_free_ char *text = NULL;
	if (base_read_file_at(AT_FDCWD, path, &text, NULL, 65536) < 0)
		return -1;
	_cleanup_cjson_ cJSON *o = cJSON_Parse(text);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "exit_code");
	return cJSON_IsNumber(code) ? (int)code->valuedouble : -1;
}

static int cmp_index(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The numbers I of group's container logs (logs/<group>.I/), sorted. */
static size_t group_logs(const char *dir, const char *group, int **out)
{
	_cleanup_free_ char *logs = base_sprintf("%s/logs", dir);
	_cleanup_closedir_ DIR *d = opendir(logs);
	struct dirent *de;
	size_t n = 0, len = strlen(group);
	*out = NULL;
	while (d && (de = readdir(d))) {
		int i;
		if (de->d_type != DT_DIR || strncmp(de->d_name, group, len) ||
		    de->d_name[len] != '.' ||
		    base_parse_int(de->d_name + len + 1, &i) < 0 || i < 0)
			continue;
		*out = base_realloc(*out, n + 1, sizeof(**out));
		(*out)[n++] = i;
	}
	if (n)
		qsort(*out, n, sizeof(**out), cmp_index);
	return n;
}

/* -a: the containers that ended, with their exit codes. */
static void list_exited(const char *dir, const char *group, struct found *f)
{
	_cleanup_free_ int *idx = NULL;
	size_t n = group_logs(dir, group, &idx);
	size_t listed = f->n;
	for (size_t k = 0; k < n; k++) {
		char id[96];
		snprintf(id, sizeof(id), "%s.%d", group, idx[k]);
		bool running = false;
		for (size_t i = 0; i < listed; i++)
			running |= !strcmp(f->v[i].id, id);
		int code = recorded_exit(dir, id);
		if (running || code < 0)
			continue;
		f->v = base_realloc(f->v, f->n + 1, sizeof(*f->v));
		f->v[f->n++] = (struct eng_job_entry){
			.group = base_strdup(group),
			.id = base_strdup(id),
			.root = eng_job_group_root(dir, group),
			.status = OCI_STATUS_STOPPED,
			.exit_code = code};
	}
}

int eng_job_ps(const struct rt_ctx *ctx, const char *name, bool all,
	       struct eng_job_entry **out, size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = load_copy(dir, name, &j, err);
	if (r < 0)
		return r;
	bool running = eng_job_dir_running(dir);
	if (!running && !all)
		return berr_setx(err, ESRCH, "job %s is not running", name);
	struct found f = {0};
	for (size_t g = 0; g < j->ngroups; g++) {
		size_t first = f.n;
		if (running)
			list_group(ctx, dir, j->groups[g].name, &f);
		for (size_t i = first; i < f.n; i++)
			f.v[i].exit_code = -1;
		if (all)
			list_exited(dir, j->groups[g].name, &f);
	}
	*out = f.v;
	*n = f.n;
	return 0;
}

/* ---- logs -----------------------------------------------------------------
 */

/* One container's log being read: its label and the caller's opts. */
struct source {
	char label[96];
	int dirfd;
	struct eng_logs_opts lo;
	const struct eng_job_logs_opts *o;
	struct eng_log_follower *f;
	bool watched; /* by follow's inotify */
};

static int source_record(const char *stream, const char *text, size_t len,
			 const char *time, void *data)
{
	const struct source *src = data;
	return src->o->record(src->label, stream, text, len, time,
			      src->o->data);
}

struct sources {
	struct source **v; /* each on its own: a follower keeps &lo */
	size_t n;
};

static void sources_free(struct sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		eng_log_follow_close(s->v[i]->f);
		close(s->v[i]->dirfd);
		free(s->v[i]);
	}
	free(s->v);
}

static bool wanted(const struct eng_job_logs_opts *o, const char *group)
{
	bool any = !o->groups || !o->groups[0];
	for (size_t k = 0; !any && o->groups[k]; k++)
		any = !strcmp(o->groups[k], group);
	return any;
}

static bool is_open(const struct sources *s, const char *label)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i]->label, label))
			return true;
	return false;
}

/* Opens the logs of the wanted groups' containers not open yet (tail:
 * how many of their last lines); what they hold is handed over. */
static int open_sources(const char *dir, const struct eng_job *j,
			const struct eng_job_logs_opts *o, long tail,
			struct sources *s)
{
	int r = 0;
	for (size_t g = 0; r == 0 && g < j->ngroups; g++) {
		const char *group = j->groups[g].name;
		_cleanup_free_ int *idx = NULL;
		size_t n = wanted(o, group) ? group_logs(dir, group, &idx) : 0;
		for (size_t k = 0; r == 0 && k < n; k++) {
			char label[96];
			snprintf(label, sizeof(label), "%s.%d", group, idx[k]);
			_cleanup_free_ char *path =
				base_sprintf("%s/logs/%s", dir, label);
			int fd = is_open(s, label)
					 ? -1
					 : open(path, O_RDONLY | O_DIRECTORY |
							      O_CLOEXEC);
			if (fd < 0)
				continue;
			struct source *src = base_calloc(1, sizeof(*src));
			*src = (struct source){.dirfd = fd, .o = o};
			snprintf(src->label, sizeof(src->label), "%s", label);
			src->lo =
				(struct eng_logs_opts){.tail = tail,
						       .since_ns = o->since_ns,
						       .record = source_record,
						       .data = src};
			s->v = base_realloc(s->v, s->n + 1, sizeof(*s->v));
			s->v[s->n++] = src;
			src->f = eng_log_follow_open(fd, &src->lo, &r);
		}
	}
	return r;
}

/* A pool's files (its tasks' output, its warnings), plain text. */
static int emit_file(const char *path, const char *label, const char *stream,
		     const struct eng_job_logs_opts *o)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, &len, (size_t)1 << 30) < 0)
		return 0;
	int r = 0;
	for (size_t off = 0; off < len && r >= 0;) {
		const char *s = text + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t k = nl ? (size_t)(nl - s) + 1 : len - off;
		r = o->record(label, stream, s, k, "", o->data);
		off += k;
	}
	return r;
}

/* A pool's workers' files and its own. */
static int emit_pool(const char *dir, const struct eng_job_group *G,
		     const struct eng_job_logs_opts *o)
{
	int r = 0;
	for (int i = 0; G->role == ENG_JOB_CONSUMER && r >= 0 && i < G->count;
	     i++) {
		char label[96];
		snprintf(label, sizeof(label), "%s.%d", G->name, i);
		static const char *const ext[] = {"out", "err"};
		for (size_t e = 0; r >= 0 && e < 2; e++) {
			_cleanup_free_ char *p = base_sprintf(
				"%s/logs/%s.%s", dir, label, ext[e]);
			r = emit_file(p, label, e ? "stderr" : "stdout", o);
		}
	}
	_cleanup_free_ char *p = base_sprintf("%s/logs/%s.err", dir, G->name);
	return r < 0 ? r : emit_file(p, G->name, "stderr", o);
}

/* Drops the sources whose container was scaled away (its log directory
 * removed): one of that number that comes later is a new source. */
static void prune_sources(struct sources *s)
{
	size_t keep = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct stat st;
		if (fstat(s->v[i]->dirfd, &st) == 0 && st.st_nlink == 0) {
			eng_log_follow_close(s->v[i]->f);
			close(s->v[i]->dirfd);
			free(s->v[i]);
			continue;
		}
		s->v[keep++] = s->v[i];
	}
	s->n = keep;
}

/* -f: what comes, and the containers that come (a scale, a restart),
 * until the runner has ended and all is read. */
static int follow(const char *dir, const struct eng_job *j,
		  const struct eng_job_logs_opts *o, struct sources *s)
{
	_cleanup_close_ int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0)
		return -errno;
	_cleanup_free_ char *logs = base_sprintf("%s/logs", dir);
	inotify_add_watch(in, logs, IN_CREATE | IN_MODIFY);
	for (;;) {
		/* the end is seen before the last read, as in `berth logs` */
		bool alive = eng_job_dir_running(dir);
		prune_sources(s);
		int r = open_sources(dir, j, o, -1, s);
		for (size_t i = 0; i < s->n; i++) {
			if (s->v[i]->watched)
				continue;
			_cleanup_free_ char *self = base_sprintf(
				"/proc/self/fd/%d", s->v[i]->dirfd);
			inotify_add_watch(in, self,
					  IN_MODIFY | IN_CREATE | IN_MOVED_TO);
			s->v[i]->watched = true;
		}
		for (size_t i = 0; r == 0 && i < s->n; i++)
			r = eng_log_follow_step(s->v[i]->f);
		if (r < 0 || !alive)
			return r;
		if ((r = eng_inotify_wait(in, 250)) < 0)
			return r;
	}
}

int eng_job_logs(const struct rt_ctx *ctx, const char *name,
		 const struct eng_job_logs_opts *o, struct berr *err)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = load_copy(dir, name, &j, err);
	if (r < 0)
		return r;
	for (size_t k = 0; o->groups && o->groups[k]; k++) {
		bool found = false;
		for (size_t g = 0; g < j->ngroups; g++)
			found |= !strcmp(o->groups[k], j->groups[g].name);
		if (!found)
			return berr_setx(err, ENOENT, "job %s has no group %s",
					 name, o->groups[k]);
	}
	struct sources s = {0};
	r = open_sources(dir, j, o, o->tail, &s);
	for (size_t g = 0; r >= 0 && g < j->ngroups; g++)
		if (wanted(o, j->groups[g].name))
			r = emit_pool(dir, &j->groups[g], o);
	if (r >= 0 && o->follow)
		r = follow(dir, j, o, &s);
	sources_free(&s);
	if (r < 0 && r != -EPIPE)
		return berr_set(err, -r, "job %s: read its logs", name);
	return r;
}

/* ---- requests to the runner ------------------------------------------------
 */

/* Sends req to the job's runner and waits up to timeout_ms for the
 * answer; an answer that is an error is err's. */
static int request(const struct rt_ctx *ctx, const char *name, const char *req,
		   int timeout_ms, struct berr *err)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	if (access(dir, F_OK) < 0 || !eng_job_dir_running(dir))
		return berr_setx(err, ESRCH, "job %s is not running", name);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd =
		socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (dfd < 0 || fd < 0)
		return berr_set(err, errno, "job %s", name);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s", dfd,
		 ENG_JOB_CTL);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return berr_set(err, errno, "job %s: connect to its runner",
				name);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		return berr_set(err, errno, "job %s: send", name);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;
	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	char buf[sizeof(err->msg) + 16];
	ssize_t n = r == 1 ? recv(fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n <= 0)
		return berr_setx(err, r == 0 ? ETIMEDOUT : EIO,
				 "job %s: its runner did not answer `%s`", name,
				 req);
	buf[n] = '\0';
	int code = 0;
	char *msg = strchr(buf, ' ');
	if (base_parse_int(strtok(buf, " "), &code) < 0 || code < 0)
		return berr_setx(err, EIO, "job %s: a malformed answer", name);
	if (code)
		return berr_setx(err, code, "%s", msg ? msg + 1 : "");
	return 0;
}

int eng_job_scale(const struct rt_ctx *ctx, const char *name, const char *group,
		  int n, struct berr *err)
{
	_cleanup_free_ char *req = base_sprintf("scale %s %d", group, n);
	return request(ctx, name, req, 30000, err);
}

int eng_job_stop_group(const struct rt_ctx *ctx, const char *name,
		       const char *group, int grace_s, struct berr *err)
{
	_cleanup_free_ char *req =
		base_sprintf("stop %s %d", group ? group : "*",
			     grace_s < 0 ? -1 : grace_s * 1000);
	/* the answer comes once the containers have ended */
	int wait = (grace_s < 0 ? 600 : grace_s) * 1000 + 30000;
	return request(ctx, name, req, wait, err);
}

int eng_job_start_group(const struct rt_ctx *ctx, const char *name,
			const char *group, struct berr *err)
{
	_cleanup_free_ char *req =
		base_sprintf("start %s", group ? group : "*");
	return request(ctx, name, req, 30000, err);
}

bool eng_job_running(const struct rt_ctx *ctx, const char *name)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	return eng_job_dir_running(dir);
}
