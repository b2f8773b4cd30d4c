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
#include <stdarg.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
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
	bool stop_req;	    /* stopped by request: no failure, no restart */
	bool removed;	    /* scaled away: its log goes when it ends */
	int grace_ms;	    /* a requested stop's, or -1: the group's */
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
	struct berr fail;     /* the first group that failed */
	char *net;	      /* the job's own network, once made here */
	struct gstate *gs;    /* each group's start and health */
	int ctl;	      /* the control socket, listening; -1: none */
	struct pending *pend; /* requests answered once their kids ended */
	size_t npend;
};

/* A stop or a scale waits for the containers it stopped in its group
 * (SIZE_MAX: in every service) to end before its answer. */
struct pending {
	int fd;
	size_t group;
};

/* A group's start (it waits for its dependencies) and health: one
 * checker process at a time runs the check in each of its containers. */
struct gstate {
	bool spawned;
	bool held;	    /* stopped by `job stop GROUP`: not (re)started */
	int count;	    /* its containers, as scaled */
	int health;	    /* 0 unknown, 1 healthy, -1 unhealthy */
	int fails;	    /* checks failed in a row */
	pid_t checker;	    /* running, or 0 */
	int64_t next_check; /* monotonic ms */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The network group G's containers join: its own, or the job's. */
static const char *group_network(const struct run *R,
				 const struct eng_job_group *G)
{
	return G->network ? G->network : R->net;
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
	eng_job_remove_leftovers(R->ctx, R->dir);
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
			eng_job_group_root(R->dir, R->j->groups[g].name);
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
	if (R->ctl >= 0)
		close(R->ctl);
	for (size_t p = 0; p < R->npend; p++)
		close(R->pend[p].fd);
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
 * SIGKILLed runner leaves no container running: the handler kills the
 * init once it is known (kill() is safe there), the kid after the launch
 * one that came before. */
static volatile sig_atomic_t kid_term;
static volatile pid_t kid_init;

static void on_kid_term(int sig)
{
	(void)sig;
	kid_term = 1;
	if (kid_init > 0)
		kill(kid_init, SIGKILL);
}

/* The read ends of a service's stdout and stderr (-1: not logged) and
 * its log, <job>/logs/<id>/ (the json-file format of `berth logs`). */
struct kid_log {
	int out, err, dirfd;
	struct eng_log_writer w;
};

/* eng_launch attached would hold the container's stdio for as long as it
 * runs: a producer's task pipe would then never end. So the container is
 * started detached, the kid lets go of the pipes and logs the output
 * until the init (a child of this process) has exited. */
static int launch_and_wait(const struct rt_ctx *ctx, struct eng_launch_opts *lo,
			   struct kid_log *kl, int *status, struct berr *err)
{
	lo->detach = true;
	lo->unmonitored = true;
	lo->rm = false;
	int st = 0;
	int r = eng_launch(ctx, lo, NULL, &st, err);
	if (r < 0)
		return r;
	for (int fd = 0; fd < 3; fd++)
		place_fd(-1, NULL, fd, NULL);
	int64_t started = (int64_t)time(NULL);
	eng_ctr_state_write(kl->dirfd, started, 0, -1, 0);
	kid_init = init_pid(ctx, lo->name);
	if (kid_term && kid_init > 0)
		rt_kill(ctx, lo->name, SIGKILL, true, NULL);
	int pidfd =
		kid_init > 0 ? (int)syscall(SYS_pidfd_open, kid_init, 0) : -1;
	*status = eng_log_pump(&kl->w, kl->out, kl->err, pidfd);
	kl->out = kl->err = -1;
	if (*status < 0)
		*status = 255;
	eng_ctr_state_write(kl->dirfd, started, (int64_t)time(NULL), *status,
			    0);
	return rt_delete(ctx, lo->name, true, err);
}

/* The log of container id and the pipes that feed it, placed on the
 * kid's stdout (unless it is a producer's task pipe) and stderr, where
 * the container finds them. */
static int open_kid_log(const struct run *R, const char *id, bool out,
			struct kid_log *kl, struct berr *err)
{
	*kl = (struct kid_log){.out = -1, .err = -1, .dirfd = -1};
	_cleanup_free_ char *dir = base_sprintf("%s/logs/%s", R->dir, id);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return berr_set(err, errno, "mkdir %s", dir);
	kl->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (kl->dirfd < 0)
		return berr_set(err, errno, "open %s", dir);
	int r = eng_log_writer_open(&kl->w, kl->dirfd, 0, 0, err);
	for (int i = out ? 1 : 2; r == 0 && i <= 2; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			return berr_set(err, errno, "pipe");
		*(i == 1 ? &kl->out : &kl->err) = p[0];
		r = place_fd(p[1], NULL, i, err);
		close(p[1]);
	}
	return r;
}

/* What a launch of one of group g's containers borrows. */
struct launch_names {
	char *root, *cg;
	char **names, **argv;
};

static void launch_names_free(struct launch_names *nm)
{
	free(nm->root);
	free(nm->cg);
	base_strv_free(nm->names);
	base_strv_free(nm->argv);
}

/* The launch of group g's container id (names: the names it answers to
 * on its network; NULL: id alone), as the runner starts them; cg_path
 * is the job's cgroup; command, when not NULL, replaces the group's. */
static void group_launch(const struct run *R, size_t g, const char *id,
			 char *const *names, const char *cg_path,
			 char *const *command, struct launch_names *nm,
			 struct eng_launch_opts *lo)
{
	const struct eng_job_group *G = &R->j->groups[g];
	char *const *cmd = command ? command : G->command;
	nm->root = eng_job_group_root(R->dir, G->name);
	nm->cg = base_sprintf("%s/%s", cg_path, G->name);
	for (size_t k = 0; names && names[k]; k++)
		base_strv_push(&nm->names, names[k]);
	const char *net = group_network(R, G);
	bool named = net && strcmp(net, "none") && strcmp(net, "host");
	/* compose's entrypoint: the image's is cleared and the command
	 * follows it */
	for (size_t k = 0; G->entrypoint && G->entrypoint[k]; k++)
		base_strv_push(&nm->argv, G->entrypoint[k]);
	for (size_t k = 0; G->entrypoint && cmd && cmd[k]; k++)
		base_strv_push(&nm->argv, cmd[k]);
	*lo = (struct eng_launch_opts){
		.store = R->j->store,
		.image = G->image,
		.name = id,
		.net = {.mode = net,
			.hostname = G->hostname,
			.aliases = named ? nm->names : NULL,
			.ports = G->ports,
			.n_ports = G->n_ports},
		.net_root = R->ctx->root,
		.ov = {.args = G->entrypoint ? nm->argv : cmd,
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
		.cgroup_parent = nm->cg,
		.init = G->init ? R->o->agent : NULL,
		.ulimits = G->ulimits,
		.n_ulimits = G->n_ulimits,
		.cpus = G->cpu_quota,
		.labels = G->labels,
	};
}

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
	char id[96];
	snprintf(id, sizeof(id), "%s.%d", G->name, i);
	struct kid_log kl;
	m.rc = place_fd(in, NULL, 0, &m.err);
	if (m.rc == 0 && out >= 0)
		m.rc = place_fd(out, NULL, 1, &m.err);
	if (m.rc == 0)
		m.rc = open_kid_log(R, id, out < 0, &kl, &m.err);
	if (m.rc < 0)
		kid_exit(msg_fd, &m);
	if (in > 2)
		close(in);
	if (out > 2)
		close(out);
	_cleanup_strv_ char **names = NULL;
	base_strv_push(&names, G->name);
	base_strv_push(&names, id);
	for (size_t k = 0; G->aliases && G->aliases[k]; k++)
		base_strv_push(&names, G->aliases[k]);
	struct launch_names nm = {0};
	struct eng_launch_opts lo;
	group_launch(R, g, id, names, R->cg_path, NULL, &nm, &lo);
	struct rt_ctx ctx = *R->ctx;
	ctx.root = nm.root;
	/* no SA_RESTART: the wait for the init returns to look at it */
	struct sigaction sa = {.sa_handler = on_kid_term};
	sigaction(SIGTERM, &sa, NULL);
	m.rc = launch_and_wait(&ctx, &lo, &kl, &m.status, &m.err);
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
	_cleanup_free_ char *root = eng_job_group_root(R->dir, G->name);
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
	*k = (struct kid){.group = g,
			  .index = index,
			  .pid = pid,
			  .fd = fd,
			  .grace_ms = -1};
	return 0;
}

static int spawn_kid(struct run *R, size_t g, int index, struct berr *err)
{
	R->kids = base_realloc(R->kids, R->nkids + 1, sizeof(*R->kids));
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
	for (int i = 0; r == 0 && i < R->gs[g].count; i++)
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
		/* a held service has no queue: its pipes need not wait */
		if (R->gs[g].held && !R->stopping)
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

/* --no-start: the services are held until `job start`. */
static int spawn_all(struct run *R, struct berr *err)
{
	R->gs = base_calloc(R->j->ngroups, sizeof(*R->gs));
	for (size_t g = 0; g < R->j->ngroups; g++) {
		R->gs[g].count = R->j->groups[g].count;
		R->gs[g].held = R->o->no_start &&
				R->j->groups[g].role == ENG_JOB_SERVICE;
	}
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
	_cleanup_free_ char *root = eng_job_group_root(R->dir, G->name);
	struct rt_ctx ctx = *R->ctx;
	ctx.root = root;
	for (int i = 0; i < R->gs[g].count; i++) {
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
	if (k->removed) {
		/* scaled away: gone, with its log, as docker removes it */
		_cleanup_free_ char *log =
			base_sprintf("%s/logs/%s.%d", R->dir,
				     R->j->groups[k->group].name, k->index);
		base_rm_rf_at(AT_FDCWD, log);
	}
}

/* Stops kid k: a container gets its stop signal, then SIGKILL after the
 * grace period (again and again, for one that was still being created;
 * a status it exits with then is no failure: killed), an engine a
 * SIGTERM that makes it kill its tasks. */
static void stop_kid(struct run *R, struct kid *k)
{
	const struct eng_job_group *G = &R->j->groups[k->group];
	if (k->index < 0) {
		if (!k->told)
			kill(k->pid, SIGTERM);
		k->told = true;
		return;
	}
	_cleanup_free_ char *root = eng_job_group_root(R->dir, G->name);
	char id[96];
	snprintf(id, sizeof(id), "%s.%d", G->name, k->index);
	struct rt_ctx c = *R->ctx;
	c.root = root;
	int grace = k->grace_ms >= 0 ? k->grace_ms : G->stop_grace_ms;
	if (grace > 0 && !k->killed) {
		k->kill_at = mono_ms() + grace;
		k->killed = true;
		rt_kill(&c, id, G->stop_signal ? G->stop_signal : SIGTERM,
			false, NULL);
		return;
	}
	k->killed = true;
	if (mono_ms() >= k->kill_at)
		rt_kill(&c, id, SIGKILL, false, NULL);
}

/* The services at the end, everything at a stop, and what a request
 * stopped, every 200 ms. */
static void kill_round(struct run *R)
{
	if (mono_ms() < R->next_kill)
		return;
	R->next_kill = mono_ms() + 200;
	for (size_t i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];
		bool service = R->j->groups[k->group].role == ENG_JOB_SERVICE;
		if (!k->done &&
		    (k->stop_req || R->stopping || (R->ending && service)))
			stop_kid(R, k);
	}
}

/* Every producer and every pool has ended (and there was one). */
static bool work_done(const struct run *R)
{
	for (size_t g = 0; R->gs && g < R->j->ngroups; g++)
		if (!R->gs[g].spawned && !R->gs[g].held)
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

/* ---- requests: `berth job scale|stop|start` ---------------------------- */

/* The runner listens on <job>/control.sock (SOCK_SEQPACKET, root's
 * alone). A request is one message, "scale GROUP N", "stop GROUP|*
 * GRACE_MS" or "start GROUP|*"; the answer is "0" or "ERRNO message".
 * Stops are answered once their containers have ended. */
static int ctl_listen(struct run *R, struct berr *err)
{
	R->ctl = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);
	if (R->ctl < 0)
		return berr_set(err, errno, "socket");
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	/* through the directory's fd: a state root's path may be longer
	 * than sun_path */
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s",
		 R->dir_fd, ENG_JOB_CTL);
	unlinkat(R->dir_fd, ENG_JOB_CTL, 0);
	mode_t old = umask(0077);
	int r = bind(R->ctl, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(R->ctl, 16) < 0)
		return berr_set(err, errno, "listen on %s/%s", R->dir,
				ENG_JOB_CTL);
	return 0;
}

static void answer(int fd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void answer(int fd, int code, const char *fmt, ...)
{
	char buf[sizeof(((struct berr *)0)->msg) + 16];
	int n = snprintf(buf, sizeof(buf), "%d ", code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	(void)send(fd, buf, strlen(buf), MSG_NOSIGNAL);
	close(fd);
}

/* The slot of group g's container index, or NULL. */
static struct kid *kid_slot(struct run *R, size_t g, int index)
{
	for (size_t i = 0; i < R->nkids; i++)
		if (R->kids[i].group == g && R->kids[i].index == index)
			return &R->kids[i];
	return NULL;
}

/* Starts group g's container index unless it runs. */
static int start_index(struct run *R, size_t g, int index, struct berr *err)
{
	struct kid *k = kid_slot(R, g, index);
	if (k && !k->done)
		return 0;
	return k ? fork_kid(R, g, index, k, err) : spawn_kid(R, g, index, err);
}

static void request_stop(struct run *R, struct kid *k, int grace_ms)
{
	k->stop_req = true;
	k->grace_ms = grace_ms;
	k->restart_at = 0;
	if (!k->done)
		stop_kid(R, k);
}

static void ctl_scale(struct run *R, int fd, size_t g, int n)
{
	struct gstate *st = &R->gs[g];
	for (size_t i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];
		if (k->group != g || k->index < n || k->removed)
			continue;
		k->removed = true;
		if (k->done)
			k->restart_at = 0;
		else
			request_stop(R, k, -1);
	}
	int was = st->count;
	st->count = n;
	for (int i = was; st->spawned && !st->held && i < n; i++) {
		struct berr e = {0};
		if (start_index(R, g, i, &e) < 0) {
			st->count = i;
			return answer(fd, e.code, "%s", e.msg);
		}
	}
	/* answered once the containers scaled away are gone */
	R->pend = base_realloc(R->pend, R->npend + 1, sizeof(*R->pend));
	R->pend[R->npend++] = (struct pending){.fd = fd, .group = g};
}

/* Group g (SIZE_MAX: every service) held and its containers stopped;
 * the answer waits in R->pend. */
static void ctl_stop(struct run *R, int fd, size_t g, int grace_ms)
{
	for (size_t x = 0; x < R->j->ngroups; x++)
		if (g == x ||
		    (g == SIZE_MAX && R->j->groups[x].role == ENG_JOB_SERVICE))
			R->gs[x].held = true;
	for (size_t i = 0; i < R->nkids; i++) {
		struct kid *k = &R->kids[i];
		if (R->gs[k->group].held && (g == SIZE_MAX || k->group == g))
			request_stop(R, k, grace_ms);
	}
	R->pend = base_realloc(R->pend, R->npend + 1, sizeof(*R->pend));
	R->pend[R->npend++] = (struct pending){.fd = fd, .group = g};
}

static void ctl_start(struct run *R, int fd, size_t g)
{
	for (size_t x = 0; x < R->j->ngroups; x++) {
		struct gstate *st = &R->gs[x];
		if (!(g == x || (g == SIZE_MAX && st->held)))
			continue;
		st->held = false;
		/* one not spawned yet starts with its dependencies */
		for (int i = 0; st->spawned && i < st->count; i++) {
			struct berr e = {0};
			if (start_index(R, x, i, &e) < 0)
				return answer(fd, e.code, "%s", e.msg);
		}
	}
	answer(fd, 0, "started");
}

/* The stops whose containers have all ended are answered. */
static void ctl_pending(struct run *R, bool all)
{
	size_t keep = 0;
	for (size_t p = 0; p < R->npend; p++) {
		bool busy = false;
		for (size_t i = 0; !all && i < R->nkids; i++) {
			const struct kid *k = &R->kids[i];
			busy |= !k->done && k->stop_req &&
				(R->pend[p].group == SIZE_MAX ||
				 R->pend[p].group == k->group);
		}
		if (busy)
			R->pend[keep++] = R->pend[p];
		else
			answer(R->pend[p].fd, 0, "stopped");
	}
	R->npend = keep;
}

/* The service group named (SIZE_MAX for "*" where star is allowed), or
 * an answer given and false. */
static bool ctl_group(struct run *R, int fd, const char *name, bool star,
		      size_t *g)
{
	*g = SIZE_MAX;
	for (size_t x = 0; name && x < R->j->ngroups; x++)
		if (!strcmp(R->j->groups[x].name, name))
			*g = x;
	if (star && name && !strcmp(name, "*"))
		return true;
	if (*g == SIZE_MAX) {
		answer(fd, ENOENT, "job %s has no group %s", R->j->name,
		       name ? name : "");
		return false;
	}
	if (R->j->groups[*g].role != ENG_JOB_SERVICE) {
		answer(fd, EINVAL,
		       "group %s %s a queue: it runs as long as the job does",
		       name,
		       R->j->groups[*g].role == ENG_JOB_PRODUCER ? "produces"
								 : "consumes");
		return false;
	}
	return true;
}

static void ctl_request(struct run *R, int fd, char *req)
{
	char *save = NULL;
	const char *op = strtok_r(req, " ", &save);
	const char *name = strtok_r(NULL, " ", &save);
	const char *num = strtok_r(NULL, " ", &save);
	int n = 0;
	size_t g;
	if (R->stopping || R->ending)
		return answer(fd, EBUSY, "job %s is ending", R->j->name);
	if (!op || (num && base_parse_int(num, &n) < 0))
		return answer(fd, EINVAL, "a malformed request");
	if (!strcmp(op, "scale") && num) {
		if (n < 0 || n > 4096)
			return answer(fd, EINVAL, "scale %s=%d: 0 to 4096",
				      name, n);
		if (ctl_group(R, fd, name, false, &g))
			ctl_scale(R, fd, g, n);
	} else if (!strcmp(op, "stop") && num) {
		bool queues = false;
		for (size_t x = 0; x < R->j->ngroups; x++)
			queues |= R->j->groups[x].role != ENG_JOB_SERVICE;
		if (!ctl_group(R, fd, name, true, &g))
			return;
		if (g == SIZE_MAX && queues)
			return answer(fd, EINVAL,
				      "job %s has queues: it stops as a whole "
				      "(berth job stop %s)",
				      R->j->name, R->j->name);
		ctl_stop(R, fd, g, n);
	} else if (!strcmp(op, "start") && !num) {
		if (ctl_group(R, fd, name, true, &g))
			ctl_start(R, fd, g);
	} else {
		answer(fd, EINVAL, "a malformed request");
	}
}

/* Takes the requests waiting on the socket; a client that connected
 * says what it wants at once (1 s at most). */
static void ctl_accept(struct run *R)
{
	int fd;
	while ((fd = accept4(R->ctl, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		char req[256];
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t len = poll(&p, 1, 1000) == 1
				      ? recv(fd, req, sizeof(req) - 1, 0)
				      : -1;
		if (len <= 0) {
			close(fd);
			continue;
		}
		req[len] = '\0';
		ctl_request(R, fd, req);
	}
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
		/* held services wait for a start */
		bool waiting = false;
		for (size_t g = 0; R->gs && g < R->j->ngroups; g++)
			waiting |= (!R->gs[g].spawned || R->gs[g].held) &&
				   !R->stopping;
		for (size_t i = 0; i < R->nkids; i++)
			waiting |= R->kids[i].restart_at != 0;
		if (n == 0 && !waiting)
			return;
		pf[n] = (struct pollfd){.fd = R->ctl, .events = POLLIN};
		int r = poll(pf, n + 1, 100);
		for (nfds_t k = 0; r > 0 && k < n; k++)
			if (pf[k].revents)
				reap(R, &R->kids[idx[k]]);
		if (r > 0 && pf[n].revents)
			ctl_accept(R);
		ctl_pending(R, false);
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

/* The job's cgroupsPath: berth-job-<name> below its cgroup_parent. */
static char *job_cg_path(const struct eng_job *j)
{
	const char *parent = j->cgroup_parent;
	return parent && *parent
		       ? base_sprintf("%s/berth-job-%s", parent, j->name)
		       : base_sprintf("%sberth-job-%s", cg_default_parent(),
				      j->name);
}

static int start_job(struct run *R, struct berr *err)
{
	_cleanup_free_ char *pid = base_sprintf("%d\n", (int)getpid());
	int r = base_write_file_atomic(R->dir_fd, "runner.pid", pid,
				       strlen(pid), 0644);
	if (r < 0)
		return berr_set(err, -r, "write %s/runner.pid", R->dir);
	R->cg_path = job_cg_path(R->j);
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
	if ((r = ctl_listen(R, err)) < 0)
		return r;
	if ((r = open_pipes(R, err)) < 0)
		return r;
	return spawn_all(R, err);
}

/* Removes the job's containers' state, its cgroup and runner.pid; the
 * logs, the results and job.json stay. */
static void finish(struct run *R)
{
	ctl_pending(R, true);
	if (R->ctl >= 0) {
		close(R->ctl);
		R->ctl = -1;
		unlinkat(R->dir_fd, ENG_JOB_CTL, 0);
	}
	close_pipes(R);
	eng_job_remove_leftovers(R->ctx, R->dir);
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
	free(R->pend);
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
	struct run R = {.ctx = ctx,
			.j = j,
			.o = o,
			.dir_fd = -1,
			.ready_fd = -1,
			.ctl = -1};
	R.dir = eng_job_dir(ctx, j->name);
	r = prepare_dir(&R, err);
	if (r == 0)
		r = o->detach ? detach(&R, err) : run_job(&R, -1, err);
	run_free(&R);
	return r;
}

/* ---- compose run: a one-off container of a group ------------------------ */

int eng_job_run_one(const struct rt_ctx *ctx, const char *name,
		    const struct eng_job_one *o, int *status, struct berr *err)
{
	_cleanup_free_ char *dir = eng_job_dir(ctx, name);
	if (!eng_job_dir_running(dir))
		return berr_setx(err, ESRCH, "job %s is not running", name);
	_cleanup_free_ char *file = base_sprintf("%s/job.json", dir);
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = eng_job_load(file, &j, err);
	if (r < 0)
		return r;
	size_t g = 0;
	while (g < j->ngroups && strcmp(j->groups[g].name, o->group))
		g++;
	if (g == j->ngroups)
		return berr_setx(err, ENOENT, "job %s has no group %s", name,
				 o->group);
	if (j->groups[g].role != ENG_JOB_SERVICE)
		return berr_setx(err, EINVAL,
				 "group %s has a queue: only a service runs "
				 "one-off",
				 o->group);
	_cleanup_free_ char *cg = job_cg_path(j);
	struct eng_job_opts jo = {.agent = o->agent};
	_cleanup_free_ char *net = base_sprintf("%s_default", name);
	struct run R = {.ctx = ctx, .j = j, .o = &jo, .dir = dir, .net = net};
	char id[96];
	snprintf(id, sizeof(id), "%s.run-%d", o->group, (int)getpid());
	struct launch_names nm = {0};
	struct eng_launch_opts lo;
	group_launch(&R, g, id, NULL, cg,
		     o->args && o->args[0] ? o->args : NULL, &nm, &lo);
	lo.tty = o->tty;
	/* compose run publishes nothing by default */
	lo.net.ports = NULL;
	lo.net.n_ports = 0;
	struct rt_ctx c = *ctx;
	c.root = nm.root;
	r = eng_launch(&c, &lo, NULL, status, err);
	launch_names_free(&nm);
	return r;
}
