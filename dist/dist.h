/* dist: work distribution. This header is the coordinator's side of the
 * task queue (prefix dq_); the worker's side is dist/berth-worker.h
 * (libberthworker), and the shared-memory layout both speak is
 * dist/berth-queue-layout.h, which also explains the design: an MPMC ring
 * of tickets for tasks, one SPSC ring per worker for results, a lease per
 * task in flight, payloads in a shared arena, futex sleeps.
 *
 * A queue is one sealed memfd. The coordinator creates it, starts workers
 * with the fd inherited and named by BERTH_QUEUE_FD and their id in
 * BERTH_WORKER_ID (DQ_ENV_FD, DQ_ENV_WORKER), submits tasks and collects
 * their results:
 *
 *     struct dq *q;
 *     dq_create(&(struct dq_params){.max_workers = n}, &q, &err);
 *     ... start workers 0 .. n-1 with dq_fd(q) ...
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
 *
 * Guarantees: every submitted task yields exactly one result from
 * dq_collect(): either the result of the worker that held the task's
 * current lease, or, after max_attempts deliveries to workers that died,
 * an abandoned result (error -EOWNERDEAD). A task may run more than once
 * (its worker died, or was reclaimed while alive), but only one result is
 * recorded.
 *
 * Threads: dq_submit() may be called by several threads at once and
 * concurrently with the other calls. dq_collect() and dq_reclaim() are
 * serialized by an internal lock; the data of a result is valid until the
 * next dq_collect()/dq_reclaim()/dq_destroy(), so collect from one thread.
 * The queue lives in one process: a forked child must not call dq_*. */
#ifndef BERTH_DIST_H
#define BERTH_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

#define DQ_ENV_FD "BERTH_QUEUE_FD"
#define DQ_ENV_WORKER "BERTH_WORKER_ID"

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
	uint32_t spin;         /* pause iterations before a futex sleep;
				  default 2000 (1: sleep at once) */
};

/* Creates a queue: memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING), sized,
 * sealed against shrinking and growing, mapped MAP_SHARED. Returns 0 and
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

struct dq_result {
	uint64_t task_id;
	int error;         /* 0: the worker's result; -EOWNERDEAD: abandoned
			      after max_attempts deliveries */
	int32_t status;    /* the worker's status (bw_done), 0 if abandoned */
	uint32_t worker;   /* the worker that produced it (last holder) */
	uint32_t attempts; /* deliveries of this task */
	const void *data;  /* result bytes in shared memory, NULL when len is
			      0; valid until the next dq_collect(),
			      dq_reclaim() or dq_destroy() */
	size_t len;
};

/* Takes one result, waiting up to timeout_ms (0: poll, -1: forever) after
 * a short spin. Returns 0 and *res, or
 *   -ENODATA   no task is in flight (nothing to wait for)
 *   -EAGAIN    none arrived within the timeout
 *   -EBADMSG   the result ring of worker res->worker is corrupt: it is
 *              ignored from now on; kill that worker and dq_reclaim() it */
int dq_collect(struct dq *q, struct dq_result *res, int timeout_ms);

/* Takes back the tasks of worker id, which must be dead (waited for) or
 * known never to write to the queue again: results it published are kept,
 * tasks it held go back to the queue (or are abandoned after max_attempts
 * deliveries), a ring slot it was taking is released, and the id is freed
 * for a successor. Returns the number of tasks taken back, or -EINVAL (id
 * out of range). */
int dq_reclaim(struct dq *q, uint32_t worker_id);

/* No more submissions: dq_submit() returns -EPIPE, and workers' bw_next()
 * returns NULL once every task has been collected. */
void dq_close(struct dq *q);

struct dq_stats {
	uint64_t submitted;      /* tasks accepted by dq_submit() */
	uint64_t completed;      /* worker results collected */
	uint64_t abandoned;      /* abandoned results collected */
	uint64_t requeued;       /* tasks taken back from dead workers */
	uint64_t stale;          /* results dropped: holder had lost the lease */
	uint64_t in_flight;      /* submitted, result not collected yet */
	uint64_t arena_used;     /* payload bytes reserved now */
	uint64_t arena_wraps;    /* times the arena restarted at offset 0 */
	uint64_t ring_busy;      /* submissions deferred: a ring slot was
				    still being released by a worker */
	uint64_t worker_tasks;   /* tasks taken, summed over workers */
	uint64_t worker_sleeps;  /* workers' futex sleeps */
	uint64_t collect_sleeps; /* dq_collect() futex sleeps */
	uint64_t wakes;          /* FUTEX_WAKE calls by the coordinator */
};

/* A snapshot of the counters (not atomic as a whole). */
void dq_stats(struct dq *q, struct dq_stats *st);

#endif
