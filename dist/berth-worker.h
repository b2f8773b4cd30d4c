/* berth-worker.h: the worker side of a berth task queue (libberthworker).
 *
 * `berth par` starts N worker processes once and feeds them tasks through
 * a queue in shared memory. A worker program links libberthworker.a (or
 * -lberthworker) and loops:
 *
 *     char err[256];
 *     struct bw *w;
 *     if (bw_open(&w, err, sizeof(err)) < 0)
 *             errx(1, "%s", err);
 *     const struct bw_task *t;
 *     while ((t = bw_next(w)) != NULL) {
 *             ... read t->len bytes at t->data, compute ...
 *             bw_done(w, t, 0, result, result_len);
 *     }
 *     bw_close(w);
 *
 * The library depends on libc alone, allocates once in bw_open() and never
 * prints. A task costs no system call while the pool is busy: tasks and
 * results move through shared memory, and a worker sleeps in the kernel
 * (futex) only when the queue is empty.
 *
 * Environment (set by the coordinator for each worker):
 *   BERTH_QUEUE_FD   decimal number of the queue's memfd, inherited: the
 *                    tasks, shared by all workers, read-only (sealed)
 *   BERTH_WORKER_FD  decimal number of this worker's own memfd: its
 *                    results and position, which no other worker has
 *   BERTH_WORKER_ID  this worker's id, 0 .. max_workers - 1
 *
 * Errors: functions returning int return 0 or a negative errno. bw_open
 * also writes a one-line message naming the cause into err.
 *
 * Thread safety: a struct bw is used by one thread at a time. Several
 * handles (each with its own worker id) may be used by as many threads of
 * one process. Handles of different processes never interfere. */
#ifndef BERTH_WORKER_H
#define BERTH_WORKER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BW_ENV_FD "BERTH_QUEUE_FD"
#define BW_ENV_WORKER "BERTH_WORKER_ID"
#define BW_ENV_WORKER_FD "BERTH_WORKER_FD"

struct bw;

/* One task, as bw_next() hands it out. Plain data: copy it to hold
 * several tasks at once. */
struct bw_task {
	uint64_t id;	     /* the coordinator's task id */
	const void *data;    /* payload in shared memory, read-only; stays
				valid until bw_done() for this task */
	size_t len;	     /* payload bytes (0: data may be NULL) */
	uint32_t attempt;    /* 1 on the first delivery, 2 after its first
				holder died, ... */
	uint32_t priv_lease; /* for the library */
	uint32_t priv_gen;   /* for the library */
	uint32_t priv_flags; /* for the library */
};

/* Attaches to the queue named by BERTH_QUEUE_FD as worker
 * BERTH_WORKER_ID, with its own region BERTH_WORKER_FD: maps them, checks
 * their magic numbers, layout version, sizes and seals, and marks the
 * worker id as taken. Sets FD_CLOEXEC on both inherited fds so that
 * programs the worker runs do not inherit the queue.
 * On success *out holds a handle to release with bw_close().
 * Errors (err gets a message, errlen may be 0):
 *   -ENOENT   a variable is not set (not started as a berth worker)
 *   -EINVAL   a variable is malformed, or the worker id is out of range,
 *             or the memfd is not sealed or too small for its header
 *   -EBADF    the fd is not open
 *   -EPROTO   the fd is not a berth queue (bad magic number)
 *   -EPROTONOSUPPORT  the queue's layout version is not this library's
 *   -EBUSY    another live handle holds this worker id
 *   -ENOMEM, or mmap's errno */
int bw_open(struct bw **out, char *err, size_t errlen);

/* The same with an explicit queue fd and worker id; the worker's own fd
 * is still named by BERTH_WORKER_FD. The fds are left as they are. */
int bw_open_fd(int fd, uint32_t worker_id, struct bw **out, char *err,
	       size_t errlen);
/* The same with both fds explicit (the environment is not read). */
int bw_open_fds(int queue_fd, int worker_fd, uint32_t worker_id,
		struct bw **out, char *err, size_t errlen);

/* Attaches to a queue already mapped in this process at base (size bytes),
 * for workers that are threads of the coordinator's process: maps the
 * worker's region through the coordinator's own fd of it. bw_close() does
 * not unmap the queue. Errors as bw_open_fd(). */
int bw_attach(void *base, size_t size, uint32_t worker_id, struct bw **out,
	      char *err, size_t errlen);

/* The same with the worker's region mapped already, at wbase (wsize
 * bytes): an in-process worker then shares the coordinator's mappings of
 * both. Neither is unmapped by bw_close(). */
int bw_attach_region(void *base, size_t size, void *wbase, size_t wsize,
		     uint32_t worker_id, struct bw **out, char *err,
		     size_t errlen);
/* Waits for the next task (spinning briefly, then sleeping in the kernel)
 * and returns a view of it. The struct is owned by w and overwritten by
 * the next bw_next(); the payload it points to stays valid until
 * bw_done() for that task.
 * Returns NULL with errno == 0 at the end: the coordinator closed the
 * queue and every task has its result, or the coordinator is gone.
 * A signal does not interrupt the wait. */
const struct bw_task *bw_next(struct bw *w);

/* Reports task t with the caller's status and len result bytes (copied;
 * result may be freed on return). Waits while this worker's result ring is
 * full (the coordinator has not collected yet). A result reported for a
 * task that the coordinator already took back (it thought this worker
 * dead) is dropped by the coordinator, silently: each task has one result.
 * Returns 0, or
 *   -EINVAL    w or t is NULL, or result is NULL with len > 0
 *   -EMSGSIZE  len > bw_max_result(w)
 *   -ESHUTDOWN the coordinator is gone */
int bw_done(struct bw *w, const struct bw_task *t, int32_t status,
	    const void *result, size_t len);

/* The largest result bw_done() accepts: half of the worker's result ring
 * less a 32-byte record header. */
size_t bw_max_result(const struct bw *w);

/* This handle's worker id. */
uint32_t bw_worker_id(const struct bw *w);

/* Detaches (frees the worker id for a successor) and unmaps. Tasks taken
 * but not reported stay leased to this id until the coordinator reclaims
 * them. Accepts NULL. */
void bw_close(struct bw *w);

#ifdef __cplusplus
}
#endif

#endif
