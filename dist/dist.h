/* dist: work distribution. This header is the coordinator's side of the
 * task queue (prefix dq_); the worker's side is dist/berth-worker.h
 * (libberthworker), and the shared-memory layout both speak is
 * dist/berth-queue-layout.h, which also explains the design: an MPMC ring
 * of tickets for tasks, one SPSC ring per worker for results, a lease per
 * task in flight, payloads in a shared arena, futex sleeps.
 *
 * A queue is a memfd of tasks that only the coordinator writes (sealed
 * read-only for everyone else) and one small memfd per worker (its
 * results and its ring position). The coordinator creates them, starts
 * workers with the queue's fd named by BERTH_QUEUE_FD, the worker's own fd
 * by BERTH_WORKER_FD and their id by BERTH_WORKER_ID (DQ_ENV_FD,
 * DQ_ENV_WORKER_FD, DQ_ENV_WORKER), submits tasks and collects their
 * results:
 *
 *     struct dq *q;
 *     dq_create(&(struct dq_params){.max_workers = n}, &q, &err);
 *     ... start worker i with dq_fd(q) and dq_worker_fd(q, i) ...
 *     for each task:
 *             while (dq_submit(q, buf, len, 0, &id) == -EAGAIN)
 *                     dq_collect(q, &res, -1) ... handle res ...
 *     dq_close(q);
 *     while (dq_collect(q, &res, -1) == 0)
 *             ... handle res ...          (-ENODATA: all collected)
 *     dq_destroy(q);
 *
 * and, whenever a worker process exits (whatever its status), calls
 * dq_reclaim(q, id) before starting a successor with the same id.
 * A worker never gets another worker's fd.
 *
 * Idle costs nothing: workers with no task and a collector with no result
 * spin briefly, then sleep in the kernel (futex) until woken; a busy
 * queue makes no system call. Tasks go to attached workers only; a worker
 * asleep is woken by dq_submit() once its ring holds a few tasks, else by
 * the next dq_collect() that finds no result (so a program that submits
 * then collects never waits for that).
 *
 * Guarantees: every submitted task yields exactly one result from
 * dq_collect(): either the result of the worker that was given the task
 * last, or, after max_attempts deliveries to workers that died, an
 * abandoned result (error -EOWNERDEAD). A task may run more than once
 * (its worker died, or was reclaimed while alive), but only one result is
 * recorded.
 *
 * Hostile workers: a worker can at worst spoil its own tasks. The queue's
 * memfd (configuration, tasks, payloads, every worker's task ring, the
 * words workers sleep on) is sealed with F_SEAL_FUTURE_WRITE once the
 * coordinator mapped it: no one else can map it writable or write() it,
 * even through /proc/<pid>/fd. What a worker can write is its own region:
 * its ring position, its state, its result ring. The coordinator reads it
 * as input to check: a result that does not answer a task given to that
 * worker is dropped, and a region that makes no sense marks the worker
 * corrupt: dq_collect() names it once (-EBADMSG), its caller kills and
 * reclaims it, and the tasks given to it fail with -EBADMSG. No other
 * worker's task fails or runs again.
 *
 * Threads: dq_submit() may be called by several threads at once and
 * concurrently with the other calls. dq_collect() and dq_reclaim() are
 * serialized by an internal lock, which dq_collect() lets go of while it
 * sleeps: a thread reaping workers may call dq_reclaim() while another
 * waits in dq_collect(-1). The data of a result is valid until the next
 * dq_collect()/dq_reclaim()/dq_destroy(), so collect from one thread.
 * The queue lives in one process: a forked child must not call dq_*. */
#ifndef BERTH_DIST_H
#define BERTH_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "oci/oci.h"

#define DQ_ENV_FD "BERTH_QUEUE_FD"
#define DQ_ENV_WORKER "BERTH_WORKER_ID"
#define DQ_ENV_WORKER_FD "BERTH_WORKER_FD"

struct dq;

/* Sizes; 0 selects the default. */
struct dq_params {
	uint32_t capacity;     /* tasks in flight (ring slots and leases),
				  power of two, 2 .. 2^20; default 4096 */
	uint32_t max_workers;  /* 1 .. 4096; default 64 */
	uint64_t arena_size;   /* payload bytes, >= 4096, <= 2^40; default
				  16 MiB. One payload may use all of it. */
	uint32_t result_size;  /* each worker's result ring, power of two,
				  4096 .. 1 GiB; default 256 KiB. A result
				  may be up to half of it (bw_max_result). */
	uint32_t max_attempts; /* deliveries before a task whose workers
				  keep dying is abandoned; default 3 */
	uint32_t spin;	       /* pause iterations before a futex sleep;
				  default 2000 (1: sleep at once) */
	uint32_t stall_ms;     /* a worker that says it sleeps while tasks
				  wait in its ring this long is corrupt;
				  default 2000 */
	uint32_t depth;	       /* entries of each worker's task ring, power
				  of two up to capacity; default 8 */
	uint32_t collect_spin; /* the collector's pause iterations before
				  its futex sleep; default spin (1: sleep
				  at once, when results come in chunks) */
	bool runs;	       /* one result may answer a run of a chunk's
				  tasks (dq_result.count) */
};

/* Creates a queue: memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING), sized,
 * sealed against shrinking and growing, mapped MAP_SHARED, then sealed
 * with F_SEAL_FUTURE_WRITE; and a region for each of max_workers. Returns 0 and
 * *out, or -EINVAL (a size out of range) or the failing call's errno, with
 * err filled. */
int dq_create(const struct dq_params *p, struct dq **out, struct berr *err);

/* Marks the queue shut down (workers' bw_next() returns NULL at once),
 * wakes every sleeper, unmaps and closes. Workers keep their own mapping.
 * Accepts NULL. */
void dq_destroy(struct dq *q);

/* The memfd, owned by the queue and O_CLOEXEC: a worker inherits a dup2()
 * of it without O_CLOEXEC, named by DQ_ENV_FD. */
int dq_fd(const struct dq *q);

/* The coordinator's mapping (for bw_attach() by in-process workers). */
void *dq_mapping(const struct dq *q, size_t *size);
/* The memfd of worker w's own region (O_CLOEXEC, owned by the queue), to
 * pass to that worker alone, named by DQ_ENV_WORKER_FD; -EINVAL when w is
 * out of range. */
int dq_worker_fd(const struct dq *q, uint32_t w);
/* The coordinator's mapping of worker w's region (NULL: out of range). */
void *dq_worker_mapping(const struct dq *q, uint32_t w, size_t *size);

/* Copies len bytes of payload into the shared arena and queues the task.
 * *id (if not NULL) receives its id: 1, 2, 3, ... in submission order.
 * When the queue is full (all leases in flight, or no arena space) waits up
 * to timeout_ms (0: not at all, -1: forever) for dq_collect() in another
 * thread to make room. Returns 0, or
 *   -EAGAIN    full (after the timeout): collect results first
 *   -EMSGSIZE  len exceeds the arena (or 4 GiB)
 *   -EPIPE     the queue is closed */
int dq_submit(struct dq *q, const void *payload, size_t len, int timeout_ms,
	      uint64_t *id);

/* Queues count tasks (1 .. DQ_CHUNK_MAX) as one chunk: their payloads
 * (payloads[i], copied) go into the arena packed one after the other, and
 * one entry in one worker's ring stands for them all. The worker library
 * hands them out one at a time (bw_next() sees the same tasks as from
 * dq_submit()), each with a result of its own; a worker that dies
 * mid-chunk gives back the tasks it did not answer, which run elsewhere
 * (the chunk's whole run counts as one delivery of each). The ids are
 * consecutive: *first_id (if not NULL), then the next count - 1.
 * Returns as dq_submit(), or -EINVAL (count out of range, a NULL payload
 * with a length) or -ENOMEM. */
#define DQ_CHUNK_MAX 4096u
struct iovec;
int dq_submit_chunk(struct dq *q, const struct iovec *payloads, uint32_t count,
		    int timeout_ms, uint64_t *first_id);
/* The same with the payloads already packed in len bytes: for each task a
 * struct bq_packed (its length, any alignment) then its bytes, one after
 * the other (berth-queue-layout.h). The bytes are copied at once. Returns
 * as dq_submit_chunk(), and -EINVAL when the heads do not cover len
 * exactly. */
int dq_submit_chunk_packed(struct dq *q, const void *packed, size_t len,
			   uint32_t count, int timeout_ms, uint64_t *first_id);

struct dq_result {
	uint64_t task_id;
	/* the id of the first task of its chunk, and which of them it is;
	 * a task submitted alone: task_id and 0 */
	uint64_t chunk_id;
	uint32_t index;
	int error;	   /* 0: the worker's result; abandoned:
			      -EOWNERDEAD after max_attempts deliveries,
			      -EBADMSG its worker corrupted its region */
	int32_t status;	   /* the worker's status (bw_done), 0 if abandoned */
	uint32_t worker;   /* the worker that produced it (last holder) */
	uint32_t attempts; /* deliveries of this task */
	const void *data;  /* result bytes in shared memory, NULL when len is
			      0; valid until the next dq_collect(),
			      dq_reclaim() or dq_destroy() */
	size_t len;
	/* the tasks it answers: 1; with dq_params.runs, more: a run of its
	 * chunk's tasks, index .. index + count - 1 (task_id and the ids
	 * after it), each with status 0 and no data */
	uint32_t count;
};

/* Takes one result, waiting up to timeout_ms (0: poll, -1: forever) after
 * a short spin. Returns 0 and *res, or
 *   -ENODATA   no task is in flight (nothing to wait for)
 *   -EAGAIN    none arrived within the timeout
 *   -EBADMSG   worker res->worker corrupted its region (reported once):
 *              it is ignored from now on; kill it and dq_reclaim() it */
int dq_collect(struct dq *q, struct dq_result *res, int timeout_ms);
/* The same for up to n results at once (of one worker, under one lock):
 * returns how many (>= 1) in res[0..], each valid until the next call,
 * or the errors of dq_collect() (-EBADMSG: res[0].worker). */
int dq_collect_many(struct dq *q, struct dq_result *res, unsigned n,
		    int timeout_ms);

/* Takes back the tasks of worker id, which must be dead (waited for) or
 * known never to write to the queue again: results it published are kept
 * (copied out of its ring now, returned by the next dq_collect() calls),
 * tasks it held go back to the queue (a chunk's without a result) (or are
 * abandoned after max_attempts deliveries), a ring slot it was taking is
 * released, and the id is freed for a successor. Returns the number of tasks
 * taken back, or -EINVAL (id out of range). */
int dq_reclaim(struct dq *q, uint32_t worker_id);

/* No more submissions: dq_submit() returns -EPIPE, and workers' bw_next()
 * returns NULL once every task has been collected. */
void dq_close(struct dq *q);

struct dq_stats {
	uint64_t submitted;	/* tasks accepted by dq_submit() */
	uint64_t completed;	/* worker results collected */
	uint64_t abandoned;	/* abandoned results collected */
	uint64_t requeued;	/* tasks taken back from dead workers */
	uint64_t stale;		/* results dropped: holder had lost the lease */
	uint64_t in_flight;	/* submitted, result not collected yet */
	uint64_t arena_used;	/* payload bytes reserved now */
	uint64_t arena_wraps;	/* times the arena restarted at offset 0 */
	uint64_t dispatched;	/* ring entries given to workers */
	uint64_t worker_tasks;	/* tasks taken, summed over workers */
	uint64_t worker_sleeps; /* workers' futex sleeps */
	uint64_t worker_wakes;	/* workers' FUTEX_WAKEs of the collector */
	uint64_t collect_sleeps; /* dq_collect() futex sleeps */
	uint64_t wakes;		 /* FUTEX_WAKE calls by the coordinator */
	uint64_t corrupt;	 /* workers found corrupting their region */
};

/* Why worker w was last found corrupting its region ("a result record
 * does not parse"), "" if never; for a message. */
void dq_corrupt_reason(struct dq *q, uint32_t w, char *buf, size_t len);

/* What worker w is doing, as the queue sees it (for progress displays;
 * a racy snapshot): not attached (not started, ended or dead), asleep
 * waiting for a task, or busy (running one, or about to take the next). */
enum dq_worker_state { DQ_WORKER_GONE, DQ_WORKER_IDLE, DQ_WORKER_BUSY };
enum dq_worker_state dq_worker_state(struct dq *q, uint32_t w);

/* A snapshot of the counters (not atomic as a whole). */
void dq_stats(struct dq *q, struct dq_stats *st);

/* ---- par: a pool of pinned worker containers (prefix dp_) --------------
 *
 * `berth par` runs tasks the way GNU parallel does, in a pool of worker
 * containers started once from one root filesystem: each worker is a berth
 * container (its own pid, mount, ipc, uts and, unless --network host,
 * network namespaces) in its own cgroup, pinned to one CPU of the allowed
 * set, and takes tasks from a dq queue whose memfd it inherits as fd 3.
 *
 * CPU lists are the kernel's format ("0-3,8,10-11"). The allowed set is
 * the caller's sched_getaffinity() intersected with the cpuset of its own
 * cgroup (cpuset.cpus.effective on v2, cpuset.effective_cpus or
 * cpuset.cpus on v1): CPU numbers are never assumed from the host. */

struct rt_ctx; /* runtime/runtime.h */

#define DP_CPUS_MAX 4096

struct dp_cpus {
	uint64_t bits[DP_CPUS_MAX / 64];
};

/* Parses a CPU list ("" is the empty set; surrounding white space is
 * ignored). Returns 0, -EINVAL (malformed) or -ERANGE (a CPU >=
 * DP_CPUS_MAX). */
int dp_cpus_parse(const char *list, struct dp_cpus *out);
/* The list in its shortest form ("0-2,5"; "" when empty). Caller frees. */
char *dp_cpus_format(const struct dp_cpus *c);
int dp_cpus_count(const struct dp_cpus *c);
bool dp_cpus_has(const struct dp_cpus *c, int cpu);
void dp_cpus_set(struct dp_cpus *c, int cpu);
/* The first CPU after `after` (-1: the first one), or -1. */
int dp_cpus_next(const struct dp_cpus *c, int after);
/* The CPUs this process may run on (see above). */
int dp_cpus_allowed(struct dp_cpus *out, struct berr *err);
/* The NUMA node that cpu belongs to, from <sysfs>/devices/system/node
 * (sysfs NULL: /sys), or -1 when no node lists it; *nodes gets the number
 * of nodes that have CPUs. */
int dp_cpu_node(const char *sysfs, int cpu, int *nodes);

enum dp_mode {
	DP_MODE_EXEC, /* the agent runs the command once per task */
	DP_MODE_LINE, /* the agent feeds a long-lived command a line a task */
	DP_MODE_LIB,  /* the command links libberthworker itself */
};

enum dp_halt {
	DP_HALT_NEVER,
	DP_HALT_SOON, /* after fail=N failures: start nothing new */
	DP_HALT_NOW,  /* after fail=N failures: kill the running tasks */
};

/* What the engine reports besides the tasks' output. */
enum dp_report {
	DP_REPORT_PROGRESS, /* a progress bar for a terminal (redraw it) */
	DP_REPORT_STATUS,   /* a status line, every few seconds */
	DP_REPORT_DONE,	    /* the progress is over: clear the bar */
	DP_REPORT_SUMMARY,  /* the summary lines at the end */
	DP_REPORT_WARNING,  /* something the user should know */
};

/* A worker's network, from the layer above (`par --network NAME`). */
struct dp_net {
	char *netns; /* the network namespace the worker joins */
	/* bind-mounted on /etc/hosts, /etc/hostname, /etc/resolv.conf */
	char *hosts, *hostname, *resolv;
	/* carried by the container's config ("KEY" and "VALUE"), so that
	 * every delete of it frees the network (rt_ctx.release) */
	char *annotation_key, *annotation_value;
	int lock_fd; /* held while the worker lives; -1: none */
};
void dp_net_clear(struct dp_net *n);

/* ---- shards: one run divided between nodes (dist-shard.c) -------------
 *
 * `srun -N K berth par --shard auto ...` runs one pool a node, each on its
 * share of the input. Every shard reads the whole input and numbers it as
 * a single run would (the joblog's Seq, {#}), then runs only its own
 * sequence numbers: seq s belongs to shard (s - 1) % N, round-robin.
 * Round-robin rather than contiguous blocks: a shard needs no total to
 * know its tasks (stdin has none until its end), its share differs from
 * another's by one task at most, and inputs sorted by cost (small files
 * first, growing ranges) spread over every node instead of loading the
 * last one. The division depends on I, N and the input alone, so a
 * shard run again with --resume finds its own tasks in its own joblog.
 *
 * With a shard, --joblog F and --results F name F.shard-I-of-N (two
 * shards on a shared filesystem never write one file); dp_par_merge()
 * puts the N files of each back into the one file that a single run with
 * -k writes.
 *
 * A task list too uneven for a fixed division takes --claims FILE
 * instead: the shards claim chunks of consecutive sequence numbers from
 * FILE, on a filesystem every node mounts, under a POSIX record lock
 * (fcntl, which NFS carries between nodes), each when its queue has room,
 * so that a faster node takes more. There is no coordinator: FILE is
 * append-only, and its lines ("FIRST COUNT SHARD") record which shard has
 * which tasks, for --resume (a shard first runs what its chunks have and
 * its joblog lacks, then claims more) and for dp_par_merge().
 * dist-par-internal.h describes the file and the chunk sizes. */

#define DP_SHARDS_MAX 1000000u
/* the most tasks a chunk of --claims may have (--claim-size) */
#define DP_CLAIM_SIZE_MAX ((uint64_t)1 << 40)

struct dp_shard {
	uint32_t index; /* 0 .. count - 1 */
	uint32_t count; /* shards in all; 0: the run is not divided */
};

/* Parses --shard: "I/N" (0 <= I < N <= DP_SHARDS_MAX), "auto" or
 * "auto/N". auto takes I and N from a Slurm job step (SLURM_PROCID,
 * SLURM_NTASKS, with SLURM_STEP_ID set: srun started it), else I from a
 * Kubernetes Indexed Job's JOB_COMPLETION_INDEX with N given as auto/N;
 * envp is the environment to look in (environ). Returns 0 with *out, or
 * -EINVAL with err saying what is wrong and how to give it. */
int dp_shard_parse(const char *spec, char *const *envp, struct dp_shard *out,
		   struct berr *err);
/* Whether sequence number seq (1, 2, ...) is the shard's; every seq is
 * when s->count is 0. */
bool dp_shard_has(const struct dp_shard *s, uint64_t seq);
/* The shard's first sequence number after seq (0: its first). */
uint64_t dp_shard_next(const struct dp_shard *s, uint64_t seq);
/* How many of the sequence numbers 1..total are the shard's. */
uint64_t dp_shard_tasks(const struct dp_shard *s, uint64_t total);
/* The file a shard writes for path: "path.shard-I-of-N", or a copy of
 * path when s->count is 0; NULL when path is NULL. Caller frees. */
char *dp_shard_path(const char *path, const struct dp_shard *s);

struct dp_par_opts {
	/* the workers: a root filesystem, or a bundle whose root, env, cwd
	 * and user they take */
	const char *rootfs;
	const char *bundle;
	/* or an image of the store: its layers, read-only and shared by
	 * every worker, and its env, cwd and user */
	const char *image;
	const char *store;	   /* NULL: OCI_STORE_DEFAULT */
	const char *agent;	   /* host path of berth-agent (exec, line) */
	const char *cgroup_parent; /* the pool's cgroup goes below it;
				      NULL: below the caller's */
	int jobs;		   /* workers; 0: one per CPU */
	const char *cpus;	   /* CPU list; NULL: the allowed set */
	int64_t memory;		   /* bytes a worker; 0: no limit */
	int64_t pids_limit;	   /* a worker; 0: no limit */
	bool network_host;
	/* a network for each worker: called by the worker's helper before it
	 * creates the worker's container id (w<i>) in the pool's state root
	 * root, and again for a replacement; NULL: a private namespace with
	 * loopback alone (or the host's, with network_host) */
	int (*net_attach)(void *data, const char *id, const char *root,
			  size_t index, struct dp_net *out, struct berr *err);
	/* undoes net_attach when the worker could not be created */
	void (*net_detach)(void *data, struct dp_net *n);
	void *net_data;
	char *const *env;     /* K=V (K alone: the caller's value) */
	char *const *volumes; /* HOST:CTR[:ro] */
	enum dp_mode mode;
	/* the tasks: one argument each, from args (:::), arg_file (one a
	 * line), range, or else lines read from input_fd */
	char *const *command;
	char *const *args;
	const char *arg_file;
	const char *range; /* START:END[:STEP], END included */
	int input_fd;
	/* run only this shard's tasks; results and joblog get its suffix
	 * (dp_shard_path) */
	struct dp_shard shard;
	/* with shard: its tasks are the chunks it claims from this file
	 * (--claims) rather than round-robin; NULL: round-robin */
	const char *claims;
	uint64_t claim_size; /* each chunk's tasks; 0: guided, or the
				pool's window for stdin */
	/* behaviour, as GNU parallel's options */
	bool keep_order;
	int retries;	/* runs of a failing task at most; 0 is 1 */
	double timeout; /* seconds; 0: none (not in lib mode) */
	enum dp_halt halt;
	int halt_fail;	     /* failures that trigger halt */
	const char *results; /* JSON lines, one a task */
	const char *joblog;
	bool resume;	    /* skip the jobs the joblog has; append to it and to
			       results */
	int out_fd, err_fd; /* the tasks' stdout and stderr go here */
	/* each worker container's own stdout and stderr: appended to
	 * <log_dir>/<log_prefix>.<i>.out and .err; NULL: berth's */
	const char *log_dir;
	const char *log_prefix; /* NULL: "w" */
	bool tty;		/* progress bars rather than status lines */
	bool quiet;		/* no status lines and no summary */
	/* set by a signal handler: 1 stops dispatching, 2 kills the tasks.
	 * A task that dies of a signal, or loses its worker, once it is set
	 * (or up to 250 ms before) was interrupted: it is not journaled, and
	 * --resume runs it again */
	volatile int *stop;
	void (*report)(enum dp_report kind, const char *text, void *data);
	void *report_data;
};

/* Runs the tasks and stores GNU parallel's exit status in *exit_status:
 * the number of failed tasks (at most 101), or with --halt the status of
 * the task that triggered it. Returns 0, or -errno with err filled when
 * the pool cannot run (bad option, a worker that cannot start); then no
 * worker, cgroup or state directory is left behind. */
int dp_par_run(const struct rt_ctx *ctx, const struct dp_par_opts *o,
	       int *exit_status, struct berr *err);

/* `berth par merge`: the files of the N shards of one run, F.shard-I-of-N,
 * into the file F that one run with -k writes: the joblog's header, then
 * every task's line, by sequence number; the results' lines likewise.
 * Every shard's file must be there, each sequence number in the file of
 * its shard, once, and none from 1 to the last missing (to `tasks`, when
 * given); otherwise nothing is written and err names the file, the seq
 * and its shard (round-robin's, or with a claims file the shard its
 * chunk names). A results file may hold a seq twice, the earlier line
 * from a run killed before it journaled that task, which --resume then
 * ran again: the later line is kept. The files are read whole into
 * memory; F is written under a temporary name, then renamed. */
struct dp_merge_opts {
	const char *joblog;  /* F, or NULL */
	const char *results; /* F, or NULL */
	uint32_t shards;     /* N; 0: the N of the F.shard-I-of-N files found
				(all of one N), or the claims file's */
	uint64_t tasks;	     /* the run's tasks; 0: the claims file's when
				it knows them, else the highest seq found */
	const char *claims;  /* the run's --claims FILE, which says whose
				each seq is; NULL: round-robin */
};

struct dp_merge_stats {
	uint32_t shards;   /* N */
	uint64_t tasks;	   /* lines written to each file */
	uint64_t replaced; /* results lines of killed runs left out */
};

int dp_par_merge(const struct dp_merge_opts *o, struct dp_merge_stats *st,
		 struct berr *err);

/* fork() of a child that reports to its parent over a pipe (a worker's
 * helper, a job's group). Returns the pid in the parent, with *fd the
 * pipe's read end; 0 in the child, with *fd its write end; or a negative
 * errno with err naming what ("fork worker helper"). Both ends are
 * O_CLOEXEC. */
pid_t dp_fork_reporting(int *fd, const char *what, struct berr *err);

#endif
