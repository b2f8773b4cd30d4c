/* The runner of `berth job`: starts a job's groups, wires its queues,
 * waits for the job to end, and cleans up.
 *
 *   runner ── kid: service or producer container (eng_launch, attached)
 *          ── kid: the engine of a pool (dp_par_run) ── the pool's helpers
 *
 * Every container and every engine runs in a kid forked from the runner,
 * because eng_launch and dp_par_run block until their work is done. A
 * producer's kid has the queue's task pipe as its stdout and its result
 * pipe as its stdin; the consumer's engine reads the tasks from the one
 * and writes the results into the other. A kid tells the runner how it
 * ended through a pipe (struct kid_msg), so that the error message of a
 * container that did not start reaches the user.
 *
 * The end: when every producer and every engine has ended, the services
 * are killed. A stop (the caller's *stop, or SIGTERM from `berth job
 * stop`) kills every container and tells the engines to kill their tasks;
 * the kids remove their containers as they end, and the runner removes
 * the job's cgroup and its run/ directory last. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroups/cgroups.h"
#include "engine/engine-internal.h"

struct kid_msg {
	int32_t rc;	/* what eng_launch or dp_par_run returned */
	int32_t status; /* the container's exit status, the failed tasks */
	struct berr err;
};

struct kid {
	size_t group;
	int index; /* the container's number; -1: a pool's engine */
	pid_t pid;
	int fd; /* read end of its message pipe; -1 once it ended */
	bool done, killed, told;
	int64_t kill_at;    /* a service told to stop: SIGKILL from then on */
	int restarts;	    /* by its restart policy */
	int64_t restart_at; /* ended, to be started again then; 0: not */
	bool said;	    /* m holds its message */
	struct kid_msg m;
};

/* The pipes of a queue with a producer. */
struct qpipes {
	int tasks[2], results[2];
};

struct run {
	const struct rt_ctx *ctx;
	const struct eng_job *j;
	const struct eng_job_opts *o;
	char *dir;     /* <root>/jobs/<name> */
	int dir_fd;    /* flock()ed while the job runs */
	int ready_fd;  /* -d: tells the caller how the start went */
	char *cg_path; /* the job's cgroupsPath */
	struct cg_group *cg;
	struct qpipes *qp;
	struct kid *kids;
	size_t nkids;
	bool ending, stopping;
	int64_t next_kill;
	struct berr fail;  /* the first group that failed */
	char *net;	   /* the job's own network, once made here */
	struct gstate *gs; /* each group's start and health */
};

/* A group's start (it waits for its dependencies) and health: one
 * checker process at a time runs the check in each of its containers. */
struct gstate {
	bool spawned;
	int health;	    /* 0 unknown, 1 healthy, -1 unhealthy */
	int fails;	    /* checks failed in a row */
	pid_t checker;	    /* running, or 0 */
	int64_t next_check; /* monotonic ms */
};

/* The network group G's containers join: its own, or the job's. */
static const char *group_network(const struct run *R,
				 const struct eng_job_group *G)
{
	return G->network ? G->network : R->net;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *job_dir(const struct rt_ctx *ctx, const char *name)
{
	return base_sprintf("%s/jobs/%s",
			    ctx->root ? ctx->root : RT_DEFAULT_ROOT, name);
}

/* The state root of a group's containers. */
static char *group_root(const char *dir, const char *group)
{
	return base_sprintf("%s/run/%s", dir, group);
}

/* True while a runner holds the job directory's lock. */
static bool job_running(const char *dir)
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
	_cleanup_free_ char *root = group_root(dir, group);
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

/* What a runner killed by SIGKILL left in run/: its containers, and its
 * cgroup. */
static void remove_leftovers(const struct rt_ctx *ctx, const char *dir)
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

/* ---- the job directory ------------------------------------------------- */

static int fresh_dir(const char *dir, const char *sub, struct berr *err)
{
	_cleanup_free_ char *path = base_sprintf("%s/%s", dir, sub);
	int r = base_rm_rf_at(AT_FDCWD, path);
	if (r < 0 && r != -ENOENT)
		return berr_set(err, -r, "remove %s", path);
	if (mkdir(path, 0755) < 0)
		return berr_set(err, errno, "mkdir %s", path);
	return 0;
}

/* Locks the job's directory (a second runner of the name is refused),
 * then clears what an earlier run of it left and writes job.json. */
static int prepare_dir(struct run *R, struct berr *err)
{
	int r = base_mkdir_p(AT_FDCWD, R->dir, 0755);
	if (r < 0)
		return berr_set(err, -r, "job directory %s", R->dir);
	R->dir_fd = open(R->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (R->dir_fd < 0)
		return berr_set(err, errno, "open %s", R->dir);
	if (flock(R->dir_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
			       ? berr_setx(err, EBUSY,
					   "job %s is running already (stop it "
					   "with `berth job stop %s`)",
					   R->j->name, R->j->name)
			       : berr_set(err, errno, "lock %s", R->dir);
	remove_leftovers(R->ctx, R->dir);
	unlinkat(R->dir_fd, "runner.pid", 0);
	static const char *const subs[] = {"logs", "results", "run"};
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(subs); i++)
		r = fresh_dir(R->dir, subs[i], err);
	if (r == 0 &&
	    (r = base_write_file_atomic(R->dir_fd, "job.json", R->j->text,
					R->j->text_len, 0644)) < 0)
		berr_set(err, -r, "write %s/job.json", R->dir);
	for (size_t g = 0; r == 0 && g < R->j->ngroups; g++) {
		_cleanup_free_ char *root =
			group_root(R->dir, R->j->groups[g].name);
		if (mkdir(root, 0700) < 0)
			r = berr_set(err, errno, "mkdir %s", root);
	}
	return r;
}

/* ---- the kids ---------------------------------------------------------- */

/* Closes, in a kid, the queue pipes it does not use and the other kids'
 * message pipes, so that a pipe's reader sees its end when its one writer
 * is done. */
static void kid_close_others(const struct run *R, const int *keep, size_t n)
{
	for (size_t q = 0; q < R->j->nqueues; q++) {
		int *fds[] = {&R->qp[q].tasks[0], &R->qp[q].tasks[1],
			      &R->qp[q].results[0], &R->qp[q].results[1]};
		for (size_t k = 0; k < ARRAY_SIZE(fds); k++) {
			bool kept = *fds[k] < 0;
			for (size_t i = 0; i < n && !kept; i++)
				kept = keep[i] == *fds[k];
			if (!kept)
				close(*fds[k]);
		}
	}
	for (size_t i = 0; i < R->nkids; i++)
		if (R->kids[i].fd >= 0)
			close(R->kids[i].fd);
	if (R->ready_fd >= 0)
		close(R->ready_fd);
	/* the job's lock is the runner's: a kid that outlives it (its
	 * runner was killed) must not keep the job "running" */
	if (R->dir_fd >= 0)
		close(R->dir_fd);
}

static void kid_signals(void)
{
	/* the runner stops the job: ^C on the terminal goes to it alone */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
}

__attribute__((noreturn)) static void kid_exit(int msg_fd, struct kid_msg *m)
{
	(void)base_write_all(msg_fd, m, sizeof(*m));
	_exit(m->rc < 0 ? 2 : m->status ? 1 : 0);
}

/* Puts fd on target (-1: /dev/null; a path: that file, appended). */
static int place_fd(int fd, const char *path, int target, struct berr *err)
{
	_cleanup_close_ int own = -1;
	if (fd < 0) {
		own = path ? open(path,
				  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				  0644)
			   : open("/dev/null", O_RDWR | O_CLOEXEC);
		if (own < 0)
			return berr_set(err, errno, "open %s",
					path ? path : "/dev/null");
		fd = own;
	}
	if (fd != target && dup2(fd, target) < 0)
		return berr_set(err, errno, "dup2 onto %d", target);
	if (fd == target) {
		fcntl(fd, F_SETFD, 0);
		own = -1; /* it is the target itself */
	}
	return 0;
}

static pid_t init_pid(const struct rt_ctx *ctx, const char *id)
{
	struct rt_list_entry *v = NULL;
	size_t n = 0;
	pid_t pid = 0;
	if (rt_list(ctx, &v, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			pid = v[i].pid;
	rt_list_free(v, n);
	return pid;
}

/* A service kid's SIGTERM (the runner stops the job, or died: the kid's
 * PR_SET_PDEATHSIG) kills its container before the kid goes, so that a
 * SIGKILLed runner leaves no container running. */
static volatile sig_atomic_t kid_term;

static void on_kid_term(int sig)
{
	(void)sig;
	kid_term = 1;
}

/* eng_launch attached would hold the container's stdio for as long as it
 * runs: a producer's task pipe would then never end. So the container is
 * started detached, the kid lets go of the pipes, and waits for its init
 * (a child of this process) itself. */
static int launch_and_wait(const struct rt_ctx *ctx, struct eng_launch_opts *lo,
			   int *status, struct berr *err)
{
	lo->detach = true;
	lo->unmonitored = true;
	lo->rm = false;
	int st = 0;
	int r = eng_launch(ctx, lo, NULL, &st, err);
	if (r < 0)
		return r;
	place_fd(-1, NULL, 0, NULL);
	place_fd(-1, NULL, 1, NULL);
	pid_t pid = init_pid(ctx, lo->name);
	int ws = 0;
	bool killed = false;
	if (kid_term && pid > 0) {
		rt_kill(ctx, lo->name, SIGKILL, true, NULL);
		killed = true;
	}
	while (pid > 0 && waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
		if (kid_term && !killed) {
			rt_kill(ctx, lo->name, SIGKILL, true, NULL);
			killed = true;
		}
	}
	*status = WIFEXITED(ws)	    ? WEXITSTATUS(ws)
		  : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws)
				    : 255;
	return rt_delete(ctx, lo->name, true, err);
}

struct launch_names {
	char id[96];
	char *root, *cg, *out, *errf;
};

__attribute__((noreturn)) static void service_main(const struct run *R,
						   size_t g, int i, int msg_fd)
{
	const struct eng_job_group *G = &R->j->groups[g];
	int in = -1, out = -1;
	if (G->role == ENG_JOB_PRODUCER) {
		in = R->qp[G->queue].results[0];
		out = R->qp[G->queue].tasks[1];
	}
	int keep[] = {in, out};
	kid_close_others(R, keep, 2);
	kid_signals();
	struct kid_msg m = {0};
	struct launch_names nm;
	snprintf(nm.id, sizeof(nm.id), "%s.%d", G->name, i);
	nm.root = group_root(R->dir, G->name);
	nm.cg = base_sprintf("%s/%s", R->cg_path, G->name);
	nm.out = base_sprintf("%s/logs/%s.out", R->dir, nm.id);
	nm.errf = base_sprintf("%s/logs/%s.err", R->dir, nm.id);
	m.rc = place_fd(in, NULL, 0, &m.err);
	if (m.rc == 0)
		m.rc = place_fd(out, nm.out, 1, &m.err);
	if (m.rc == 0)
		m.rc = place_fd(-1, nm.errf, 2, &m.err);
	if (m.rc < 0)
		kid_exit(msg_fd, &m);
	if (in > 2)
		close(in);
	if (out > 2)
		close(out);
	struct rt_ctx ctx = *R->ctx;
	ctx.root = nm.root;
	_cleanup_strv_ char **names = NULL;
	_cleanup_free_ char *one = base_sprintf("%s.%d", G->name, i);
	base_strv_push(&names, G->name);
	base_strv_push(&names, one);
	for (size_t k = 0; G->aliases && G->aliases[k]; k++)
		base_strv_push(&names, G->aliases[k]);
	const char *net = group_network(R, G);
	bool named = net && strcmp(net, "none") && strcmp(net, "host");
	/* compose's entrypoint: the image's is cleared and the command
	 * follows it */
	_cleanup_strv_ char **argv = NULL;
	for (size_t k = 0; G->entrypoint && G->entrypoint[k]; k++)
		base_strv_push(&argv, G->entrypoint[k]);
	for (size_t k = 0; G->entrypoint && G->command && G->command[k]; k++)
		base_strv_push(&argv, G->command[k]);
	struct eng_launch_opts lo = {
		.store = R->j->store,
		.image = G->image,
		.name = nm.id,
		.net = {.mode = net,
			.hostname = G->hostname,
			.aliases = named ? names : NULL,
			.ports = G->ports,
			.n_ports = G->n_ports},
		.net_root = R->ctx->root,
		.ov = {.args = G->entrypoint ? argv : G->command,
		       .env = G->env,
		       .entrypoint = G->entrypoint ? "" : NULL,
		       .workdir = G->workdir,
		       .user = G->user},
		.tmpfs = G->tmpfs,
		.rm = true,
		.volumes = G->volumes,
		.cpuset_cpus = G->cpus,
		.memory = G->memory,
		.pids_limit = G->pids_limit,
		.cgroup_parent = nm.cg,
		.init = G->init ? R->o->agent : NULL,
		.ulimits = G->ulimits,
		.n_ulimits = G->n_ulimits,
		.cpus = G->cpu_quota,
		.labels = G->labels,
	};
	/* no SA_RESTART: the wait for the init returns to look at it */
	struct sigaction sa = {.sa_handler = on_kid_term};
	sigaction(SIGTERM, &sa, NULL);
	m.rc = launch_and_wait(&ctx, &lo, &m.status, &m.err);
	kid_exit(msg_fd, &m);
}

/* set by the engine kid's signal handler: 2 makes dp_par_run kill the
 * running tasks and return */
static volatile int engine_stop;

static void on_engine_stop(int sig)
{
	(void)sig;
	engine_stop = 2;
}

static void engine_report(enum dp_report kind, const char *text, void *data)
{
	(void)kind;
	int fd = *(int *)data;
	(void)base_write_all(fd, text, strlen(text));
	(void)base_write_all(fd, "\n", 1);
}

static void engine_opts(const struct run *R, const struct eng_job_group *G,
			struct dp_par_opts *o)
{
	const struct eng_job_queue *q = &R->j->queues[G->queue];
	*o = (struct dp_par_opts){
		.rootfs = G->rootfs,
		.image = G->image,
		.store = R->j->store,
		.agent = R->o->agent,
		.jobs = G->count,
		.cpus = G->cpus,
		.memory = G->memory,
		.pids_limit = G->pids_limit,
		.env = G->env,
		.volumes = G->volumes,
		.mode = G->mode,
		.command = G->command,
		.args = q->args,
		.arg_file = q->file,
		.range = q->range,
		.input_fd = q->producer >= 0 ? R->qp[G->queue].tasks[0] : -1,
		.quiet = true,
		.stop = &engine_stop,
		.report = engine_report,
		.log_prefix = G->name,
	};
}

__attribute__((noreturn)) static void engine_main(const struct run *R, size_t g,
						  int msg_fd)
{
	const struct eng_job_group *G = &R->j->groups[g];
	const struct eng_job_queue *q = &R->j->queues[G->queue];
	struct dp_par_opts o;
	engine_opts(R, G, &o);
	int out = q->producer >= 0 ? R->qp[G->queue].results[1] : -1;
	int keep[] = {o.input_fd, out};
	kid_close_others(R, keep, 2);
	kid_signals();
	struct sigaction sa = {.sa_handler = on_engine_stop};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct kid_msg m = {0};
	_cleanup_free_ char *logs = base_sprintf("%s/logs", R->dir);
	_cleanup_free_ char *errf = base_sprintf("%s/%s.err", logs, G->name);
	_cleanup_free_ char *res =
		base_sprintf("%s/results/%s.out", R->dir, q->name);
	_cleanup_free_ char *cg = base_sprintf("%s/%s", R->cg_path, G->name);
	_cleanup_free_ char *root = group_root(R->dir, G->name);
	int err_fd =
		open(errf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		out = open(res, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (err_fd < 0 || out < 0) {
		m.rc = berr_set(&m.err, errno, "open %s",
				err_fd < 0 ? errf : res);
		kid_exit(msg_fd, &m);
	}
	m.rc = place_fd(-1, NULL, 0, &m.err);
	if (m.rc == 0)
		m.rc = place_fd(err_fd, NULL, 1, &m.err);
	if (m.rc == 0)
		m.rc = place_fd(err_fd, NULL, 2, &m.err);
	if (m.rc < 0)
		kid_exit(msg_fd, &m);
	o.out_fd = out;
	o.err_fd = err_fd;
	o.report_data = &err_fd;
	o.log_dir = logs;
	o.cgroup_parent = cg;
	struct rt_ctx ctx = *R->ctx;
	ctx.root = root;
	const char *net = group_network(R, G);
	struct eng_par_net pn = {.ctx = R->ctx,
				 .o = {.mode = net, .aliases = G->aliases},
				 .group = G->name};
	o.network_host = net && !strcmp(net, "host");
	if (net && strcmp(net, "none") && !o.network_host) {
		o.net_attach = eng_par_net_attach;
		o.net_detach = eng_par_net_detach;
		o.net_data = &pn;
	}
	int status = 0;
	m.rc = dp_par_run(&ctx, &o, &status, &m.err);
	m.status = status;
	close(out); /* the producer's stdin ends here, before it waits */
	kid_exit(msg_fd, &m);
}

/* Forks the runner of group g's container index (-1: its pool's engine)
 * into *k. */
static int fork_kid(struct run *R, size_t g, int index, struct kid *k,
		    struct berr *err)
{
	_cleanup_free_ char *what =
		base_sprintf("fork for group %s", R->j->groups[g].name);
	int fd;
	pid_t pid = dp_fork_reporting(&fd, what, err);
	if (pid < 0)
		return pid;
	if (pid == 0) {
		if (index < 0)
			engine_main(R, g, fd);
		service_main(R, g, index, fd);
	}
	*k = (struct kid){.group = g, .index = index, .pid = pid, .fd = fd};
	return 0;
}

static int spawn_kid(struct run *R, size_t g, int index, struct berr *err)
{
	int r = fork_kid(R, g, index, &R->kids[R->nkids], err);
	if (r == 0)
		R->nkids++;
	return r;
}

static void close_pipes(struct run *R)
{
	for (size_t q = 0; R->qp && q < R->j->nqueues; q++) {
		int *fds[] = {&R->qp[q].tasks[0], &R->qp[q].tasks[1],
			      &R->qp[q].results[0], &R->qp[q].results[1]};
		for (size_t k = 0; k < ARRAY_SIZE(fds); k++)
			if (*fds[k] >= 0) {
				close(*fds[k]);
				*fds[k] = -1;
			}
	}
}

static int open_pipes(struct run *R, struct berr *err)
{
	R->qp = base_calloc(R->j->nqueues ? R->j->nqueues : 1, sizeof(*R->qp));
	for (size_t q = 0; q < R->j->nqueues; q++)
		R->qp[q] = (struct qpipes){{-1, -1}, {-1, -1}};
	for (size_t q = 0; q < R->j->nqueues; q++) {
		if (R->j->queues[q].producer < 0)
			continue;
		if (pipe2(R->qp[q].tasks, O_CLOEXEC) < 0 ||
		    pipe2(R->qp[q].results, O_CLOEXEC) < 0)
			return berr_set(err, errno, "pipes of queue %s",
					R->j->queues[q].name);
	}
	return 0;
}

/* The engines first: a pool takes longest to start. */
static void set_fail(struct run *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int spawn_group(struct run *R, size_t g, struct berr *err)
{
	const struct eng_job_group *G = &R->j->groups[g];
	R->gs[g].spawned = true;
	if (G->role == ENG_JOB_CONSUMER)
		return spawn_kid(R, g, -1, err);
	int r = 0;
	for (int i = 0; r == 0 && i < G->count; i++)
		r = spawn_kid(R, g, i, err);
	return r;
}

/* 1: every container of group d exited 0; -1: one exited otherwise; 0:
 * not yet. */
static int completed(const struct run *R, size_t d)
{
	bool all = R->gs[d].spawned;
	for (size_t i = 0; i < R->nkids; i++) {
		const struct kid *k = &R->kids[i];
		if (k->group != d)
			continue;
		if (k->done && (!k->said || k->m.rc < 0 || k->m.status))
			return -1;
		all &= k->done;
	}
	return all ? 1 : 0;
}

/* 1: g may start; 0: not yet; -1: never (the reason is the job's). */
static int deps_ready(struct run *R, size_t g)
{
	const struct eng_job_group *G = &R->j->groups[g];
	for (size_t k = 0; k < G->n_deps; k++) {
		size_t d = (size_t)G->deps[k].index;
		int st = G->deps[k].cond == ENG_DEP_STARTED   ? R->gs[d].spawned
			 : G->deps[k].cond == ENG_DEP_HEALTHY ? R->gs[d].health
							      : completed(R, d);
		if (st < 0) {
			set_fail(R, "group %s: its dependency %s %s", G->name,
				 G->deps[k].group,
				 G->deps[k].cond == ENG_DEP_HEALTHY
					 ? "is unhealthy"
					 : "did not complete successfully");
			return -1;
		}
		if (st == 0)
			return 0;
	}
	return 1;
}

/* Starts every group whose dependencies are met; the queues' pipes close
 * once every group has its ends. */
static int spawn_ready(struct run *R, struct berr *err)
{
	bool all = true;
	int r = 0;
	for (size_t g = 0; r == 0 && g < R->j->ngroups; g++) {
		if (R->gs[g].spawned)
			continue;
		int ready = R->stopping ? -1 : deps_ready(R, g);
		if (ready > 0)
			r = spawn_group(R, g, err);
		else if (ready < 0)
			R->stopping = true;
		all &= ready > 0;
	}
	if (all || R->stopping)
		close_pipes(R);
	return r;
}

static int spawn_all(struct run *R, struct berr *err)
{
	size_t n = 0;
	for (size_t g = 0; g < R->j->ngroups; g++)
		n += R->j->groups[g].role == ENG_JOB_CONSUMER
			     ? 1
			     : (size_t)R->j->groups[g].count;
	R->kids = base_calloc(n, sizeof(*R->kids));
	R->gs = base_calloc(R->j->ngroups, sizeof(*R->gs));
	return spawn_ready(R, err);
}

/* The check in every container of group g, from a child whose stdio is
 * /dev/null: it exits 0 when each passed. */
static pid_t start_check(struct run *R, size_t g)
{
	const struct eng_job_group *G = &R->j->groups[g];
	pid_t pid = fork();
	if (pid != 0)
		return pid < 0 ? 0 : pid;
	for (int fd = 0; fd < 3; fd++)
		place_fd(-1, NULL, fd, NULL);
	_cleanup_free_ char *root = group_root(R->dir, G->name);
	struct rt_ctx ctx = *R->ctx;
	ctx.root = root;
	for (int i = 0; i < G->count; i++) {
		char id[96];
		snprintf(id, sizeof(id), "%s.%d", G->name, i);
		struct rt_exec_opts eo = {.args = G->health};
		int status = 1;
		if (rt_exec(&ctx, id, &eo, &status, NULL) < 0 || status != 0)
			_exit(1);
	}
	_exit(0);
}

/* Runs the health checks that are due and reads those that ended. */
static void health_tick(struct run *R)
{
	int64_t now = mono_ms();
	for (size_t g = 0; g < R->j->ngroups; g++) {
		struct gstate *st = &R->gs[g];
		const struct eng_job_group *G = &R->j->groups[g];
		if (!G->health || !st->spawned || st->health != 0)
			continue;
		int ws;
		if (st->checker &&
		    waitpid(st->checker, &ws, WNOHANG) == st->checker) {
			st->checker = 0;
			bool ok = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
			st->health = ok					? 1
				     : ++st->fails >= G->health_retries ? -1
									: 0;
			st->next_check = now + G->health_interval_ms;
		}
		if (!st->checker && st->health == 0 && now >= st->next_check)
			st->checker = start_check(R, g);
	}
}

/* ---- waiting for the end ------------------------------------------------ */

static void set_fail(struct run *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_fail(struct run *R, const char *fmt, ...)
{
	if (R->fail.code)
		return;
	va_list ap;
	va_start(ap, fmt);
	R->fail.code = EIO;
	vsnprintf(R->fail.msg, sizeof(R->fail.msg), fmt, ap);
	va_end(ap);
}

/* How a kid's end counts for the job. */
/* docker's delay before a restart: 100 ms, doubled each time, at most
 * 10 s here. */
static int64_t restart_delay(int restarts)
{
	return restarts >= 7 ? 10000 : 100ll << restarts;
}

/* Whether service container k, which ended by itself with status, is to
 * start again by its group's policy. */
static bool restart_wanted(const struct run *R, const struct kid *k)
{
	const struct eng_restart *p = &R->j->groups[k->group].restart;
	if (k->index < 0 || k->killed || R->stopping || R->ending || !k->said ||
	    k->m.rc < 0)
		return false;
	switch (p->kind) {
	case ENG_RESTART_ALWAYS:
	case ENG_RESTART_UNLESS_STOPPED:
		return true;
	case ENG_RESTART_ON_FAILURE:
		return k->m.status && (!p->max || k->restarts < p->max);
	default:
		return false;
	}
}

/* The containers whose restart is due; a failed fork fails the job. */
static void restart_due(struct run *R)
{
	for (size_t i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];
		if (!k->restart_at || mono_ms() < k->restart_at)
			continue;
		if (R->stopping || R->ending) {
			k->restart_at = 0;
			continue;
		}
		int restarts = k->restarts + 1;
		struct berr e = {0};
		if (fork_kid(R, k->group, k->index, k, &e) < 0) {
			k->restart_at = 0;
			set_fail(R, "%s", e.msg);
			R->stopping = true;
			continue;
		}
		k->restarts = restarts;
	}
}

static void judge(struct run *R, struct kid *k, int wstatus)
{
	const char *g = R->j->groups[k->group].name;
	char who[128];
	if (k->index < 0)
		snprintf(who, sizeof(who), "group %s", g);
	else
		snprintf(who, sizeof(who), "group %s: container %s.%d", g, g,
			 k->index);
	if (!k->said) {
		if (!k->killed && !R->stopping)
			set_fail(R, "%s: its runner ended (wait status %d)",
				 who, wstatus);
		return;
	}
	if (k->m.rc < 0) {
		if (!k->killed && !R->stopping)
			set_fail(R, "%s: %s", who, k->m.err.msg);
		/* a queue without its pool would never drain */
		if (k->index < 0)
			R->stopping = true;
	} else if (k->index < 0 && k->m.status && !R->stopping) {
		set_fail(R, "%s: %d task%s failed (see %s/logs/%s.err)", who,
			 k->m.status, k->m.status == 1 ? "" : "s", R->dir, g);
	} else if (restart_wanted(R, k)) {
		k->restart_at = mono_ms() + restart_delay(k->restarts);
	} else if (k->index >= 0 && k->m.status && !k->killed && !R->stopping) {
		set_fail(R, "%s exited with status %d", who, k->m.status);
	}
}

static void reap(struct run *R, struct kid *k)
{
	ssize_t n;
	while ((n = read(k->fd, &k->m, sizeof(k->m))) < 0 && errno == EINTR)
		;
	k->said = n == (ssize_t)sizeof(k->m);
	close(k->fd);
	k->fd = -1;
	int wstatus = 0;
	while (waitpid(k->pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	k->done = true;
	judge(R, k, wstatus);
}

/* The services at the end, everything at a stop: containers get SIGKILL
 * (again and again, for one that was still being created), engines a
 * SIGTERM that makes them kill their tasks. */
static void kill_round(struct run *R)
{
	if (mono_ms() < R->next_kill)
		return;
	R->next_kill = mono_ms() + 200;
	for (size_t i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];
		const struct eng_job_group *G = &R->j->groups[k->group];
		if (k->done || (!R->stopping && G->role != ENG_JOB_SERVICE))
			continue;
		if (k->index < 0) {
			if (!k->told)
				kill(k->pid, SIGTERM);
			k->told = true;
			continue;
		}
		_cleanup_free_ char *root = group_root(R->dir, G->name);
		char id[96];
		snprintf(id, sizeof(id), "%s.%d", G->name, k->index);
		struct rt_ctx c = *R->ctx;
		c.root = root;
		/* as docker stops one: its stop signal, then SIGKILL after
		 * the grace period (a status it exits with then is no
		 * failure: killed) */
		if (G->stop_grace_ms > 0 && !k->killed) {
			k->kill_at = mono_ms() + G->stop_grace_ms;
			k->killed = true;
			rt_kill(&c, id,
				G->stop_signal ? G->stop_signal : SIGTERM,
				false, NULL);
			continue;
		}
		k->killed = true;
		if (mono_ms() >= k->kill_at)
			rt_kill(&c, id, SIGKILL, false, NULL);
	}
}

/* Every producer and every pool has ended (and there was one). */
static bool work_done(const struct run *R)
{
	for (size_t g = 0; R->gs && g < R->j->ngroups; g++)
		if (!R->gs[g].spawned)
			return false; /* still waiting for its dependencies */
	bool any = false;
	for (size_t i = 0; i < R->nkids; i++) {
		const struct kid *k = &R->kids[i];
		if (R->j->groups[k->group].role == ENG_JOB_SERVICE)
			continue;
		any = true;
		if (!k->done)
			return false;
	}
	return any;
}

static void wait_loop(struct run *R)
{
	for (;;) {
		_cleanup_free_ struct pollfd *pf =
			base_calloc(R->nkids + 1, sizeof(*pf));
		_cleanup_free_ size_t *idx =
			base_calloc(R->nkids + 1, sizeof(*idx));
		nfds_t n = 0;
		for (size_t i = 0; i < R->nkids; i++)
			if (!R->kids[i].done) {
				pf[n] = (struct pollfd){.fd = R->kids[i].fd,
							.events = POLLIN};
				idx[n++] = i;
			}
		bool waiting = false;
		for (size_t g = 0; R->gs && g < R->j->ngroups; g++)
			waiting |= !R->gs[g].spawned && !R->stopping;
		for (size_t i = 0; i < R->nkids; i++)
			waiting |= R->kids[i].restart_at != 0;
		if (n == 0 && !waiting)
			return;
		int r = poll(pf, n, 100);
		for (nfds_t k = 0; r > 0 && k < n; k++)
			if (pf[k].revents)
				reap(R, &R->kids[idx[k]]);
		if (R->o->stop && *R->o->stop)
			R->stopping = true;
		restart_due(R);
		if (R->gs) {
			health_tick(R);
			struct berr e = {0};
			if (spawn_ready(R, &e) < 0) {
				set_fail(R, "%s", e.msg);
				R->stopping = true;
			}
		}
		if (!R->ending && work_done(R))
			R->ending = true;
		if (R->ending || R->stopping)
			kill_round(R);
	}
}

/* ---- running ------------------------------------------------------------ */

/* The job's own network, <job>_default, when a group has no "network":
 * made here (or left from a runner that was killed) and removed at the
 * end. */
static int job_network(struct run *R, struct berr *err)
{
	bool wanted = false;
	for (size_t g = 0; g < R->j->ngroups; g++)
		wanted |= !R->j->groups[g].network;
	if (!wanted)
		return 0;
	_cleanup_free_ char *name = base_sprintf("%s_default", R->j->name);
	struct eng_network_opts no = {.name = name};
	struct berr e = {0};
	int r = eng_network_create(R->ctx, &no, NULL, &e);
	if (r < 0 && r != -EEXIST) {
		*err = e;
		return berr_wrap(err, "job %s", R->j->name);
	}
	R->net = TAKE_PTR(name);
	return 0;
}

static int start_job(struct run *R, struct berr *err)
{
	_cleanup_free_ char *pid = base_sprintf("%d\n", (int)getpid());
	int r = base_write_file_atomic(R->dir_fd, "runner.pid", pid,
				       strlen(pid), 0644);
	if (r < 0)
		return berr_set(err, -r, "write %s/runner.pid", R->dir);
	const char *parent = R->j->cgroup_parent;
	R->cg_path =
		parent && *parent
			? base_sprintf("%s/berth-job-%s", parent, R->j->name)
			: base_sprintf("berth-job-%s", R->j->name);
	if ((r = cg_create(R->cg_path, R->j->name, &R->cg, err)) < 0)
		return berr_wrap(err, "the job's cgroup");
	/* resolved: `job rm` after a killed runner finds it from anywhere */
	const char *resolved = cg_path(R->cg);
	r = base_write_file_atomic(R->dir_fd, "cgroup", resolved,
				   strlen(resolved), 0644);
	if (r < 0)
		return berr_set(err, -r, "write %s/cgroup", R->dir);
	if ((r = job_network(R, err)) < 0)
		return r;
	if ((r = open_pipes(R, err)) < 0)
		return r;
	return spawn_all(R, err);
}

/* Removes the job's containers' state, its cgroup and runner.pid; the
 * logs, the results and job.json stay. */
static void finish(struct run *R)
{
	close_pipes(R);
	remove_leftovers(R->ctx, R->dir);
	if (R->cg && cg_destroy(R->cg, NULL) < 0)
		set_fail(R, "job %s: its cgroup %s could not be removed",
			 R->j->name, R->cg_path);
	struct berr e = {0};
	if (R->net && eng_network_rm(R->ctx, R->net, &e) < 0)
		set_fail(R, "job %s: %s", R->j->name, e.msg);
	if (R->dir_fd >= 0)
		unlinkat(R->dir_fd, "runner.pid", 0);
}

static void run_free(struct run *R)
{
	cg_group_free(R->cg);
	free(R->cg_path);
	free(R->qp);
	free(R->kids);
	free(R->dir);
	free(R->net);
	for (size_t g = 0; R->gs && g < R->j->ngroups; g++)
		if (R->gs[g].checker > 0) {
			kill(R->gs[g].checker, SIGKILL);
			waitpid(R->gs[g].checker, NULL, 0);
		}
	free(R->gs);
	if (R->dir_fd >= 0)
		close(R->dir_fd);
}

/* Runs the job; ready_fd (if >= 0) hears how the start went. */
static int run_job(struct run *R, int ready_fd, struct berr *err)
{
	struct kid_msg m = {0};
	R->ready_fd = ready_fd;
	m.rc = start_job(R, &m.err);
	R->ready_fd = -1;
	if (ready_fd >= 0) {
		(void)base_write_all(ready_fd, &m, sizeof(m));
		close(ready_fd);
	}
	if (m.rc < 0)
		R->stopping = true;
	wait_loop(R);
	finish(R);
	if (m.rc < 0) {
		*err = m.err;
		return m.rc;
	}
	if (R->o->stop && *R->o->stop)
		return berr_setx(err, EINTR, "job %s stopped", R->j->name);
	if (R->fail.code) {
		*err = R->fail;
		return -EIO;
	}
	return 0;
}

/* The runner as a grandchild in its own session; the caller learns how
 * its start went. */
static int detach(struct run *R, struct berr *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return berr_set(err, errno, "fork the runner");
	}
	if (pid == 0) {
		close(fds[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		for (int fd = 0; fd < 3; fd++)
			place_fd(-1, NULL, fd, NULL);
		struct berr e = {0};
		int r = run_job(R, fds[1], &e);
		_exit(r < 0 ? 1 : 0);
	}
	close(fds[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	struct kid_msg m;
	int r = base_read_all(fds[0], &m, sizeof(m));
	close(fds[0]);
	if (r < 0)
		return berr_setx(err, EIO, "the runner of job %s died",
				 R->j->name);
	if (m.rc < 0)
		*err = m.err;
	return m.rc;
}

int eng_job_run(const struct rt_ctx *ctx, const struct eng_job *j,
		const struct eng_job_opts *o, struct berr *err)
{
	int r = eng_job_check(j, o->file ? o->file : j->name, o->agent, err);
	if (r < 0)
		return r;
	struct run R = {
		.ctx = ctx, .j = j, .o = o, .dir_fd = -1, .ready_fd = -1};
	R.dir = job_dir(ctx, j->name);
	r = prepare_dir(&R, err);
	if (r == 0)
		r = o->detach ? detach(&R, err) : run_job(&R, -1, err);
	run_free(&R);
	return r;
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
		if (!job_running(dir))
			return 0;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int eng_job_stop(const struct rt_ctx *ctx, const char *name, struct berr *err)
{
	_cleanup_free_ char *dir = job_dir(ctx, name);
	if (!job_running(dir))
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
	_cleanup_free_ char *dir = job_dir(ctx, name);
	if (access(dir, F_OK) < 0)
		return berr_set(err, errno, "job %s", name);
	if (job_running(dir))
		return berr_setx(err, EBUSY,
				 "job %s is running (stop it with `berth job "
				 "stop %s`)",
				 name, name);
	remove_leftovers(ctx, dir);
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

int eng_job_ps(const struct rt_ctx *ctx, const char *name,
	       struct eng_job_entry **out, size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_free_ char *dir = job_dir(ctx, name);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = load_copy(dir, name, &j, err);
	if (r < 0)
		return r;
	if (!job_running(dir))
		return berr_setx(err, ESRCH, "job %s is not running", name);
	struct found f = {0};
	for (size_t g = 0; g < j->ngroups; g++)
		list_group(ctx, dir, j->groups[g].name, &f);
	*out = f.v;
	*n = f.n;
	return 0;
}

static void emit_file(const char *path, const char *label,
		      void (*line)(const char *, const char *, size_t, void *),
		      void *data)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (base_read_file_at(AT_FDCWD, path, &text, &len, (size_t)1 << 30) < 0)
		return;
	for (size_t off = 0; off < len;) {
		const char *s = text + off;
		const char *nl = memchr(s, '\n', len - off);
		size_t k = nl ? (size_t)(nl - s) : len - off;
		line(label, s, k, data);
		off += k + (nl != NULL);
	}
}

int eng_job_logs(const struct rt_ctx *ctx, const char *name, const char *group,
		 void (*line)(const char *label, const char *text, size_t len,
			      void *data),
		 void *data, struct berr *err)
{
	_cleanup_free_ char *dir = job_dir(ctx, name);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = load_copy(dir, name, &j, err);
	if (r < 0)
		return r;
	bool found = false;
	for (size_t g = 0; g < j->ngroups; g++) {
		const struct eng_job_group *G = &j->groups[g];
		if (group && strcmp(group, G->name))
			continue;
		found = true;
		for (int i = 0; i < G->count; i++) {
			char label[96];
			snprintf(label, sizeof(label), "%s.%d", G->name, i);
			static const char *const ext[] = {"out", "err"};
			for (size_t e = 0; e < 2; e++) {
				_cleanup_free_ char *p = base_sprintf(
					"%s/logs/%s.%s", dir, label, ext[e]);
				emit_file(p, label, line, data);
			}
		}
		_cleanup_free_ char *p =
			base_sprintf("%s/logs/%s.err", dir, G->name);
		emit_file(p, G->name, line, data);
	}
	if (!found)
		return berr_setx(err, ENOENT, "job %s has no group %s", name,
				 group);
	return 0;
}
