/* engine: what Docker users run, on top of the OCI runtime and the worker
 * pools: `launch` (docker run without a daemon) and `job` (groups of
 * services and pools from one file). The runtime below stays the OCI
 * lifecycle; what this layer attaches to a container (its bundle) it
 * frees in eng_release(), which every delete calls through
 * rt_ctx.release. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"
#include "dist/dist.h"
#include "oci/oci.h"
#include "runtime/runtime.h"

/* rt_ctx.release for every context the CLI makes: removes what launch
 * made for the container st names (nothing for any other container). */
int eng_release(const struct oci_state *st, struct berr *err);

/* ---- launch: `docker run` without a daemon --------------------------------
 *
 * A container from an image of the store: the image's layers, unpacked
 * once in the store, are the lower layers of an overlayfs whose upper and
 * work directories belong to the container (a full copy where overlayfs
 * is unavailable). The bundle lives in <store>/containers/<id>.<nonce>/
 * (config.json, rootfs/, upper/, work/) and goes with the container: every
 * delete of it, `berth delete` included, unmounts and removes it
 * (eng_release). The
 * config is the image's, with berth's default security profile (Docker's
 * capabilities, its seccomp allow-list, masked and read-only paths,
 * no_new_privs) unless privileged. */
struct eng_launch_opts {
	const char *store; /* the image store; NULL: OCI_STORE_DEFAULT */
	const char *image; /* a reference, id, or archive/layout path */
	const char *name;  /* the container id; NULL: 12 random hex digits */
	struct oci_image_overrides ov; /* entrypoint, args, env, -w, -u */
	bool rm;		       /* remove the container when it exits */
	bool detach;		       /* return once it has started */
	bool tty;		       /* process.terminal */
	const char *hostname; /* NULL: the first 12 characters of the id */
	char *const *volumes; /* HOST:CTR[:ro|:rw] */
	char *const *tmpfs;   /* CTR[:OPTIONS] */
	bool read_only;	      /* root.readonly */
	bool privileged;      /* every capability, no seccomp, no masking */
	bool network_host;    /* no network namespace */
	double cpus;	      /* CPU quota in CPUs; 0: none */
	const char *cpuset_cpus;
	int64_t memory;	      /* bytes; 0: none */
	int64_t pids_limit;   /* 0: none */
	char *const *cap_add; /* "NET_ADMIN", "CAP_NET_ADMIN" or "ALL" */
	char *const *cap_drop;
	const char *seccomp;	   /* NULL: default; "unconfined"; a file */
	const char *cgroup_parent; /* cgroupsPath is <parent>/<id>; NULL:
				      berth-<id> below berth's own cgroup */
};

/* Runs the container. Attached (not detach) it waits, forwarding signals,
 * stores the exit status in *exit_status and, with rm, removes the
 * container; detached with rm a monitor process removes it when it
 * exits. *id (may be NULL) receives the container id. Errors leave no
 * state, mount or directory behind. */
int eng_launch(const struct rt_ctx *ctx, const struct eng_launch_opts *o,
	      char **id, int *exit_status, struct berr *err);

/* ---- job: services and worker pools from a job file (prefix eng_job_) ---
 *
 * `berth job` is docker-compose for `berth par`: a job file names groups of
 * containers and the queues between them. A group that "produces" a queue
 * is one container whose stdout lines are the queue's tasks and whose stdin
 * receives the queue's results; a group that "consumes" it is a par pool
 * (dp_par_run) of `count` workers; any other group is a plain service. A
 * queue may have its input in the file instead of a producer; its results
 * then go to a file.
 *
 * A running job lives in <root>/jobs/<name>/: job.json (the file as given),
 * runner.pid, run/<group>/ (the state roots of its containers; a pool's
 * are run/<group>/par-<pid>/), logs/<group>.<i>.out|err (each container's
 * stdout and stderr), logs/<group>.err (a pool's task stderr and warnings)
 * and results/<queue>.out. The runner holds an flock() of the directory
 * for as long as the job runs: that is what "running" means. Once the job
 * ends only job.json, logs/ and results/ remain. Every container goes below
 * the cgroup <cgroup_parent>/berth-job-<name> (cgroup_parent empty: below
 * berth's own), removed at the end. */

enum eng_job_role {
	ENG_JOB_SERVICE,	 /* neither produces nor consumes */
	ENG_JOB_PRODUCER, /* stdout: the queue's tasks; stdin: its results */
	ENG_JOB_CONSUMER, /* a worker pool on the queue */
};

struct eng_job_group {
	char *name;	      /* [A-Za-z0-9][A-Za-z0-9_.-]* */
	char *image, *rootfs; /* exactly one is set */
	char **command;	      /* NULL: the image's */
	int count;	      /* containers (a pool's workers); >= 1 */
	char *cpus;	      /* a CPU list, or NULL */
	int64_t memory;	      /* bytes a container; 0: no limit */
	int64_t pids_limit;   /* a container; 0: no limit */
	char **env;	      /* K=V */
	char **volumes;	      /* HOST:CTR[:ro|:rw] */
	enum dp_mode mode;    /* consumers */
	enum eng_job_role role;
	int queue; /* the queue produced or consumed, -1 */
};

struct eng_job_queue {
	char *name;
	/* the input, when the file gives it: at most one is set */
	char *range;
	char **args;
	char *file;		/* absolute */
	int producer, consumer; /* group indices, -1 */
};

struct eng_job {
	char *name;
	char *store;	     /* NULL: $BERTH_STORE, else OCI_STORE_DEFAULT */
	char *cgroup_parent; /* NULL: below berth's own cgroup */
	char *text;	     /* the file, as read */
	size_t text_len;
	struct eng_job_group *groups;
	size_t ngroups;
	struct eng_job_queue *queues;
	size_t nqueues;
};

/* Parses a job file's text. file names it in messages and gives the
 * default name (its basename without .json) and the directory relative
 * input files are taken from. Every error names the file and the JSON path
 * ("job.json: groups[1].count: expected a positive integer"). Checks
 * everything that needs no system: see eng_job_check() for the rest.
 * Returns 0 and *out (eng_job_free), or -EINVAL. */
int eng_job_parse(const char *text, size_t len, const char *file,
		 struct eng_job **out, struct berr *err);
/* Reads the file and eng_job_parse()s it. */
int eng_job_load(const char *path, struct eng_job **out, struct berr *err);
void eng_job_free(struct eng_job *j);
static inline void eng_job_freep(struct eng_job **j)
{
	eng_job_free(*j);
}

/* What needs the system: the images exist in the store, rootfs
 * directories and volume sources exist, the CPUs are in the allowed set,
 * the agent is there for exec and line mode. file names the job file in
 * messages. */
int eng_job_check(const struct eng_job *j, const char *file, const char *agent,
		 struct berr *err);

struct eng_job_opts {
	const char *file;  /* the job file, for messages */
	const char *agent; /* berth-agent, for exec and line mode pools */
	bool detach;	   /* return once the job runs; the runner goes on
			      in its own session */
	/* set by the caller's signal handler: stop the job */
	volatile int *stop;
};

/* Runs the job: checks it, refuses a name that runs already (-EBUSY),
 * starts every group and waits until every producer has exited and every
 * queue is drained; then stops the services, removes every container,
 * cgroup and the state, and keeps the logs. Returns 0 when every group
 * succeeded; -EIO with err naming the first group that failed (a
 * container that exited non-zero, a pool with failed tasks or that could
 * not run); -EINTR when *stop ended it; another -errno when the job could
 * not start (nothing is left behind then). With detach, returns 0 once
 * every container has been started by the runner, a grandchild in its own
 * session. */
int eng_job_run(const struct rt_ctx *ctx, const struct eng_job *j,
	       const struct eng_job_opts *o, struct berr *err);

/* Signals the job's runner to stop (SIGTERM through a pidfd) and waits
 * until it has removed everything. -ESRCH when the job does not run. */
int eng_job_stop(const struct rt_ctx *ctx, const char *name, struct berr *err);

/* Removes what a job that ended left: its logs, results and job.json.
 * -EBUSY when it runs, -ENOENT when there is nothing. */
int eng_job_rm(const struct rt_ctx *ctx, const char *name, struct berr *err);

struct eng_job_entry {
	char *group;
	char *id;   /* the container's id under root */
	char *root; /* its state root (for `berth --root ROOT ...`) */
	enum oci_status status;
	pid_t pid;
	char *cpus; /* its cpuset, NULL when not pinned */
};

/* The containers of a running job, group by group in the file's order.
 * -ESRCH when it does not run. */
int eng_job_ps(const struct rt_ctx *ctx, const char *name,
	      struct eng_job_entry **out, size_t *n, struct berr *err);
void eng_job_entries_free(struct eng_job_entry *v, size_t n);

/* Reads the job's logs (GROUP only, when not NULL) and hands them over a
 * line at a time, with the label of the container ("workers.0") or of the
 * pool ("workers"), in the order of the groups and of their containers,
 * each file from its start. A line is passed without its newline. */
int eng_job_logs(const struct rt_ctx *ctx, const char *name, const char *group,
		void (*line)(const char *label, const char *text, size_t len,
			     void *data),
		void *data, struct berr *err);

#endif
