/* berth-queue-layout.h: the shared-memory layout of a berth task queue and
 * the few lock-free steps both sides take on it.
 *
 * Included by the coordinator (dist/, libberth) and by the worker client
 * library (dist/worker/, libberthworker), so it depends on libc and the
 * kernel headers only. User programs never include it: they see
 * berth-worker.h.
 *
 * Workers are not trusted, so the queue is built so that a worker can at
 * worst spoil its own tasks: what it may write, it owns; what others rely
 * on, it cannot write. The kernel enforces that, with two kinds of memfd:
 *
 * - The queue region, one memfd, written by the coordinator alone. The
 *   coordinator maps it read-write, then seals it with F_SEAL_FUTURE_WRITE
 *   (and SHRINK, GROW, SEAL): every later mapping, by anyone (a worker, a
 *   task reopening /proc/<pid>/fd/N), is read-only, and write() fails with
 *   EPERM. It holds:
 *
 *     0          struct bq_header         configuration, flags, counters
 *     ctl_off    struct bq_wctl[max_workers]      per worker, one line
 *     ring_off   struct bq_entry[max_workers][depth]  task rings (SPSC)
 *     task_off   struct bq_task[capacity]  the tasks in flight
 *     arena_off  arena_size bytes          task payloads
 *
 * - One worker region per worker, a memfd of its own that the coordinator
 *   creates, maps, and passes to that worker only (sealed against
 *   shrinking and growing, so that neither side faults the other):
 *
 *     0          struct bq_worker          its config, consumer position,
 *                                          state, result futex word
 *     BQ_PAGE    result_size bytes         its result ring (SPSC)
 *
 * Tasks reach worker w through its own ring of `depth` entries in the
 * queue region: the coordinator produces (bq_wctl.prod), the worker
 * consumes (bq_worker.deq, in its own region). Each entry names a task by
 * a ticket (task index and gen); the task's id, payload and attempt are
 * in struct bq_task, which the worker reads and checks against the
 * ticket. Load balancing is the coordinator's: it keeps each worker's
 * ring a few tasks deep (fewer as the queue drains) and refills it as
 * results arrive, so no worker ever writes anything another reads.
 *
 * Chunks: one entry may stand for a run of tasks (bq_task.count >= 1),
 * their payloads packed one after the other in the arena, each a 4-byte
 * length (native order) then its bytes, their ids consecutive from
 * task_id. The worker library walks the run itself and hands out one
 * task at a time, so one ticket, one ring slot and one wake-up serve the
 * whole run; each task still gets its own result (the record's task_id
 * names which), though where the coordinator accepts runs (BQ_FEAT_RUNS)
 * one record answers a run of consecutive tasks that each succeeded with
 * no result bytes: the common case of small tasks, whose records would
 * otherwise cost the coordinator more than the tasks. A run's record is
 * written when its first task ends, its count grows in place, and it is
 * published when the run closes (a task that does not continue it, the
 * chunk's last task, BQ_RUN_MAX tasks, or the worker going idle): the
 * coordinator never sees a record that still changes. Every record's
 * count is zeroed before the record is written and stored after it: the
 * run a worker had open when it died (written, not published) is taken
 * from its ring with its tasks, which ran, so that the task it died on is
 * the one that goes back; a count of 0 there is a record half written. A
 * worker that dies mid-chunk gives back what it had not answered: the
 * coordinator re-issues the chunk from its first unanswered task, and
 * drops a second result for any task.
 *
 * Results come back through the worker's result ring: the worker is its
 * only writer, so a record is published by a single store of res_tail and
 * a worker that dies mid-write leaves nothing half-visible. The
 * coordinator's consumer position (res_head) is in the queue region.
 *
 * What a worker can do, then: write anything over its own region (its
 * position, state, result ring) and lie in its records. The coordinator
 * checks every field it reads there; a result that does not answer a task
 * it gave that worker is dropped; a region that makes no sense (a
 * position outside the ring, records that do not parse, tasks waiting in
 * the ring of a worker that says it sleeps) marks that worker corrupt: it
 * is killed and replaced, and only the tasks given to it fail.
 *
 * Sleeping: a worker spins `spin` times with a pause, then sets
 * bq_worker.sleeping, re-checks its ring and sleeps in FUTEX_WAIT on its
 * bq_wctl.wake (a word of the read-only queue region: FUTEX_WAIT needs
 * read access only). The coordinator publishes a task, bumps the word and
 * calls FUTEX_WAKE only when the flag is set. The coordinator sleeping for
 * results sets bq_header.collecting and waits with futex_waitv(2) on the
 * result word of every worker (and its own word in the header): a worker
 * publishes a record, then bumps its word and wakes only when the flag is
 * set, and only when the record ends its ring entry (a single task, or
 * the last of a chunk) or its ring filled by a quarter since it last
 * woke the coordinator: a chunk costs one wake-up, not one a task. The
 * publish-then-check / announce-then-recheck pairs use sequentially consistent
 * atomics on both sides, so either the sleeper sees the new item or the waker
 * sees the sleeper. */
#ifndef BERTH_QUEUE_LAYOUT_H
#define BERTH_QUEUE_LAYOUT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Bytes 'b','e','r','t','h','q','u','e' in memory on little-endian. */
#define BQ_MAGIC UINT64_C(0x6575716874726562)
/* 'b','e','r','t','h','w','r','k': a worker region */
#define BQ_WMAGIC UINT64_C(0x6b72776874726562)
#define BQ_VERSION 4u
#define BQ_LINE 64
#define BQ_PAGE 4096
#define BQ_ALIGNED __attribute__((aligned(BQ_LINE)))

/* Header flags (bq_header.flags), written by the coordinator. */
#define BQ_CLOSED 1u   /* no more submissions; workers end when idle */
#define BQ_SHUTDOWN 2u /* the coordinator is gone: workers end now */

/* Written once by the coordinator before the fd leaves its process. */
struct bq_config {
	uint64_t magic;	       /* BQ_MAGIC */
	uint32_t version;      /* BQ_VERSION: bumped on any layout change */
	uint32_t header_size;  /* sizeof(struct bq_header) */
	uint64_t total_size;   /* bytes of the memfd */
	uint32_t capacity;     /* tasks in flight (struct bq_task entries) */
	uint32_t depth;	       /* entries of each worker's ring, power of 2 */
	uint32_t ctl_size;     /* sizeof(struct bq_wctl) */
	uint32_t entry_size;   /* sizeof(struct bq_entry) */
	uint32_t task_size;    /* sizeof(struct bq_task) */
	uint32_t max_workers;  /* worker ids are 0 .. max_workers - 1 */
	uint32_t result_size;  /* bytes of each result ring, power of two */
	uint32_t wregion_size; /* bytes of each worker region */
	uint64_t ctl_off;      /* offsets from the start of the mapping */
	uint64_t ring_off;
	uint64_t task_off;
	uint64_t arena_off;
	uint64_t arena_size;   /* bytes of the payload arena */
	uint32_t spin;	       /* pause iterations before a futex wait */
	uint32_t max_attempts; /* deliveries of a task before it is abandoned */
	uint32_t features;     /* BQ_FEAT_* the coordinator accepts */
	uint8_t reserved[20];
};

/* bq_config.features */
/* A result record may answer a run of tasks (bq_record.count). */
#define BQ_FEAT_RUNS 1u

/* The first bytes of the queue region, all of it the coordinator's. */
struct bq_header {
	struct bq_config cfg; /* lines 0-1 */
	/* line 2: BQ_CLOSED / BQ_SHUTDOWN, and the number of tasks
	 * submitted whose result has not been collected. Workers end when
	 * the queue is closed and nothing is unresolved. */
	BQ_ALIGNED _Atomic uint32_t flags;
	_Atomic uint32_t collecting; /* the coordinator sleeps for results */
	_Atomic uint64_t unresolved;
	/* line 3: bumped by the coordinator's own threads to wake its
	 * collector (a task abandoned, a worker reclaimed) */
	BQ_ALIGNED _Atomic uint32_t collect_futex;
};

/* Per worker in the queue region, written by the coordinator. */
struct bq_wctl {
	_Atomic uint64_t prod;	      /* entries ever produced in the ring */
	_Atomic uint64_t res_head;    /* result bytes ever consumed */
	_Atomic uint32_t wake;	      /* bumped after prod moves (futex) */
	_Atomic uint32_t space_futex; /* bumped after res_head moves */
	/* the coordinator's fd of this worker's region: bw_attach() in the
	 * coordinator's own process maps it; -1 before it exists */
	int32_t wfd;
	uint8_t pad[BQ_LINE - 28];
};

/* A task ring entry, at position pos & (depth - 1) of its worker's ring.
 * The coordinator writes ticket, then pos (release); a reader loads pos
 * (acquire), the ticket, and pos again. */
struct bq_entry {
	_Atomic uint64_t pos;
	_Atomic uint64_t ticket; /* bq_ticket(task index, gen) */
};

/* A task in flight, written by the coordinator before its ticket is
 * published. gen grows on every delivery: a ticket or a result record
 * that names another gen is stale. */
struct bq_task {
	uint64_t task_id;     /* its id; a chunk: the id of its first task */
	uint64_t payload_off; /* from arena_off */
	uint32_t payload_len; /* a chunk: the bytes of all its records */
	uint32_t attempt;     /* 1 on the first delivery */
	_Atomic uint32_t gen;
	/* 0: one task, its payload as it is; n >= 1: a chunk of n tasks,
	 * ids task_id .. task_id + n - 1, payloads packed (struct
	 * bq_packed, then the bytes, for each) */
	uint32_t count;
};

/* The head of one payload in a chunk, at any alignment (memcpy it). */
struct bq_packed {
	uint32_t len;
};
/* Tasks in one chunk at most: the coordinator keeps a bit for each. */
#define BQ_CHUNK_MAX 4096u

/* The head of a worker region. Line 0 is written by the coordinator when
 * it creates (or resets) the region; lines 1-3 by the worker. The worker
 * may write anything anywhere in its region: the coordinator reads it
 * only as input to check. */
struct bq_worker {
	uint64_t magic;	      /* BQ_WMAGIC */
	uint32_t version;     /* BQ_VERSION */
	uint32_t worker_id;   /* whose region this is */
	uint64_t size;	      /* bytes of the region */
	uint32_t result_off;  /* BQ_PAGE */
	uint32_t result_size; /* bytes of the result ring */
	uint32_t head_size;   /* sizeof(struct bq_worker) */
	uint8_t pad0[BQ_LINE - 36];
	/* line 1, the worker, every task: its consumer position and result
	 * count (the coordinator reads res_tail to collect) */
	BQ_ALIGNED _Atomic uint64_t deq; /* entries ever taken */
	_Atomic uint64_t res_tail;	 /* result bytes ever published */
	_Atomic uint32_t held;		 /* tasks taken, not yet answered */
	uint8_t pad1[BQ_LINE - 20];
	/* line 2, the worker, rarely (attach, sleep): what the coordinator
	 * reads for every task it gives, kept off the line above */
	BQ_ALIGNED _Atomic uint32_t attached; /* owner's tid, 0 when free */
	_Atomic uint32_t sleeping;	      /* 1 while waiting for a task */
	_Atomic uint32_t result_futex;	      /* bumped after res_tail moves */
	_Atomic uint32_t space_sleepers; /* waiting for result ring space */
	uint8_t pad2[BQ_LINE - 16];
	/* line 3, the worker: statistics */
	BQ_ALIGNED _Atomic uint64_t tasks;
	_Atomic uint64_t sleeps;
	_Atomic uint64_t wakes; /* FUTEX_WAKEs of the coordinator */
};

/* A result record in a worker's ring, 8-byte aligned, followed by len
 * bytes. Written by the worker before it publishes res_tail; the
 * coordinator copies the header and checks every field before use. */
struct bq_record {
	uint32_t size;	  /* header + len rounded up to 8; BQ_REC_WRAP: the
			     ring continues at offset 0 */
	uint32_t lease;	  /* task index */
	uint32_t gen;	  /* the ticket's gen */
	int32_t status;	  /* the worker's status */
	uint64_t task_id; /* in a chunk: which of its tasks */
	uint32_t len;	  /* result bytes */
	/* the tasks it answers, 0 and 1 alike meaning one. More (with
	 * BQ_FEAT_RUNS, at most BQ_RUN_MAX): a run of tasks of one chunk,
	 * task_id and those after it, each of which ended with status 0
	 * and no result bytes (status 0, len 0) */
	uint32_t count;
};
#define BQ_RUN_MAX 256u
#define BQ_REC_WRAP 0u

_Static_assert(sizeof(struct bq_config) == 2 * BQ_LINE, "config: 2 lines");
_Static_assert(offsetof(struct bq_header, flags) == 2 * BQ_LINE, "flags");
_Static_assert(offsetof(struct bq_header, collect_futex) == 3 * BQ_LINE,
	       "collect_futex");
_Static_assert(sizeof(struct bq_header) == 4 * BQ_LINE, "header: 4 lines");
_Static_assert(sizeof(struct bq_wctl) == BQ_LINE, "wctl: one line");
_Static_assert(sizeof(struct bq_entry) == 16, "entry: 16 bytes");
_Static_assert(sizeof(struct bq_task) == 32, "task: 32 bytes");
_Static_assert(offsetof(struct bq_task, count) == 28, "task: count");
_Static_assert(sizeof(struct bq_packed) == 4, "packed head: 4 bytes");
_Static_assert(offsetof(struct bq_worker, deq) == BQ_LINE, "deq");
_Static_assert(offsetof(struct bq_worker, attached) == 2 * BQ_LINE, "att");
_Static_assert(offsetof(struct bq_worker, tasks) == 3 * BQ_LINE, "tasks");
_Static_assert(sizeof(struct bq_worker) == 4 * BQ_LINE, "worker: 4 lines");
_Static_assert(sizeof(struct bq_worker) <= BQ_PAGE, "worker head: a page");
_Static_assert(sizeof(struct bq_record) == 32, "record header");
_Static_assert(__atomic_always_lock_free(8, 0),
	       "64-bit atomics must be lock-free to work across processes");

/* A ticket names a task entry and the gen it had when given out, in one
 * atomic word so that a reader never pairs a task with another gen. */
static inline uint64_t bq_ticket(uint32_t lease, uint32_t gen)
{
	return (uint64_t)lease << 32 | gen;
}
static inline uint32_t bq_ticket_lease(uint64_t t)
{
	return t >> 32;
}
static inline uint32_t bq_ticket_gen(uint64_t t)
{
	return (uint32_t)t;
}

static inline void bq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* FUTEX_WAIT on a shared word: returns 0 when woken, -EAGAIN when *word
 * was no longer val, -ETIMEDOUT, -EINTR. rel NULL waits forever. */
static inline int bq_futex_wait(_Atomic uint32_t *word, uint32_t val,
				const struct timespec *rel)
{
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, rel, NULL,
		    0) < 0)
		return -errno;
	return 0;
}

static inline void bq_futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Bumps a futex word and wakes up to n of its sleepers. */
static inline void bq_futex_bump_wake(_Atomic uint32_t *word, int n)
{
	atomic_fetch_add(word, 1);
	bq_futex_wake(word, n);
}

/* futex_waitv(2) on n words (n <= FUTEX_WAITV_MAX), shared between
 * processes (no FUTEX_PRIVATE_FLAG). abs is an absolute CLOCK_MONOTONIC
 * deadline or NULL. Returns the index woken, or -errno (-EAGAIN: a word
 * was no longer its value, -ETIMEDOUT, -EINTR, -ENOSYS). */
static inline int bq_futex_waitv(struct futex_waitv *v, unsigned n,
				 const struct timespec *abs)
{
	long r = syscall(SYS_futex_waitv, v, n, 0, abs, CLOCK_MONOTONIC);
	return r < 0 ? -errno : (int)r;
}

#endif
