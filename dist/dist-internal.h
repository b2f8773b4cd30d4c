/* Private to dist/: the coordinator's state of a task queue. */
#ifndef BERTH_DIST_INTERNAL_H
#define BERTH_DIST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "dist/berth-queue-layout.h"
#include "dist/dist.h"

/* ---- the payload arena (dist-arena.c) ----------------------------------
 * A ring of bytes that only the coordinator allocates in. Blocks are
 * handed out in order and may be freed in any order; the space comes back
 * in allocation order (a block freed early waits for the older ones).
 * Not locked: the caller holds dq.alloc_lock. */

#define DQ_NO_BLOCK UINT64_MAX

struct dq_block {
	uint64_t size; /* bytes it holds, including space skipped to wrap */
	bool freed;
};

struct dq_arena {
	uint64_t size;
	uint64_t head, tail;	 /* bytes ever freed / allocated */
	struct dq_block *blocks; /* allocation order, blocks_mask + 1 */
	uint64_t blocks_mask;
	uint64_t first, next; /* oldest live block / next block number */
	uint64_t wraps;
};

int dq_arena_init(struct dq_arena *a, uint64_t size, uint64_t nblocks);
void dq_arena_fini(struct dq_arena *a);
/* Reserves n bytes: 0 with *off (from the arena start) and *blk (for
 * dq_arena_free; DQ_NO_BLOCK when n is 0), -EAGAIN (no room now) or
 * -EMSGSIZE (never fits). */
int dq_arena_alloc(struct dq_arena *a, uint64_t n, uint64_t *off,
		   uint64_t *blk);
void dq_arena_free(struct dq_arena *a, uint64_t blk);

/* ---- the coordinator's queue ------------------------------------------ */

struct dq_abandoned {
	uint32_t lease;
	uint32_t worker;
	int error; /* -EOWNERDEAD, -EBADMSG (its worker corrupted its own
		      region) */
	/* DQ_NO_TASK: the lease, every task of it without a result; else
	 * one task of a chunk that went on without it, its result made
	 * here (the lease may be gone when it is taken) */
	uint32_t index;
	uint32_t attempts;
	uint64_t task_id, chunk_id;
};

/* The coordinator's record of a task in flight (a lease). The shared
 * entry (struct bq_task) is its read-only copy for the worker. Guarded by
 * alloc_lock. */
enum { DQ_LP_FREE, DQ_LP_WAITING, DQ_LP_GIVEN, DQ_LP_ABANDONED };

#define DQ_NO_WORKER UINT32_MAX

struct dq_lpriv {
	uint64_t task_id;
	uint64_t payload_off; /* from the arena start */
	uint32_t payload_len;
	uint32_t attempt;
	uint32_t gen;	 /* the gen of the ticket given out last */
	uint8_t state;	 /* DQ_LP_* */
	bool moved;	 /* taken back once from a corrupt worker */
	uint32_t holder; /* the worker whose ring holds it (GIVEN) */
	uint64_t pos;	 /* ... at this ring position */
	/* a chunk (dist-chunk.c): count tasks, ids task_id .. + count - 1,
	 * a bit each in dq.chunk_bits once answered (or abandoned) */
	uint32_t count;	   /* 0: a single task */
	uint32_t answered; /* bits set */
	uint32_t start;	   /* its last issue began with this task */
};

/* A result taken from the ring of a worker when it was reclaimed, its
 * bytes copied: delivered by the next dq_collect(). */
struct dq_stashed {
	struct dq_result res;
	void *data;
};

/* The coordinator's view of worker w. */
struct dq_wpriv {
	int fd;		       /* its region's memfd; -1: not created */
	struct bq_worker *reg; /* its region, mapped read-write */
	uint8_t *results;      /* its result ring */
	uint64_t prod;	       /* ring entries produced (the truth) */
	uint32_t *slot;	       /* per ring entry: its lease, or UINT32_MAX */
	uint32_t outstanding;  /* leases given, not resolved */
	int64_t idle_since_ms; /* seen asleep with tasks waiting; 0 not */
	bool wake_due;	       /* given tasks, not woken yet */
	char why[96];	       /* why it was marked corrupt */
	/* collect_lock: once corrupt, the sound records it published are
	 * still delivered, up to salvage_end (one ring past where
	 * collection stood); salvage says how far that went */
	uint64_t salvage_end;
	enum { DQ_SALVAGE_NONE, DQ_SALVAGE_ON, DQ_SALVAGE_DONE } salvage;
};

struct dq {
	int fd;
	uint8_t *base;
	size_t size;
	struct bq_header *hdr;
	struct bq_wctl *ctl;
	struct bq_entry *rings;
	struct bq_task *tasks;
	uint8_t *arena_mem;
	uint32_t cap, depth, max_workers, result_size, max_attempts, spin;
	uint32_t collect_spin;
	uint32_t stall_ms;
	bool runs; /* dq_params.runs: records may answer runs */
	uint64_t wregion_size;
	struct bq_config cfg;

	/* alloc_lock: leases, the arena, the waiting list, dispatch */
	pthread_mutex_t alloc_lock;
	pthread_cond_t room; /* signalled when a lease is freed */
	uint32_t room_waiters;
	uint32_t *free_leases; /* stack of free lease indices */
	uint32_t nfree;
	uint64_t *lease_blk; /* arena block of each lease */
	struct dq_arena arena;
	/* leases waiting for room in a worker's ring, FIFO of cap */
	uint32_t *waiting;
	uint32_t wait_head, nwaiting;
	_Atomic uint32_t waiting_hint; /* nwaiting, read unlocked */
	struct dq_lpriv *lp;
	struct dq_wpriv *wp;
	uint32_t given; /* leases in some worker's ring */
	bool closed;
	/* DQ_CHUNK_WORDS a lease: which tasks of its chunk are answered;
	 * allocated with the first chunk */
	uint64_t *chunk_bits;
	_Atomic uint64_t unresolved; /* hdr->unresolved is its copy */

	/* collect_lock: result rings, the abandoned list, pending release.
	 * dq_collect() lets go of it while it sleeps, so that dq_reclaim()
	 * can run; the fields its wake-up test reads are atomic. */
	pthread_mutex_t collect_lock;
	struct dq_abandoned *abandoned; /* alloc_lock: grows */
	uint32_t abandoned_cap;
	_Atomic uint32_t nabandoned;
	_Atomic bool *corrupt;	    /* per worker: its region is ignored */
	_Atomic bool *reported;	    /* per worker: -EBADMSG returned once */
	uint64_t *tail_seen;	    /* per worker: res_tail when last read */
	_Atomic uint64_t *res_head; /* per worker: bytes consumed */
	int64_t last_audit_ms;
	/* results of reclaimed workers, oldest first from stash_head */
	struct dq_stashed *stash;
	uint32_t stash_head, stash_cap;
	_Atomic uint32_t nstash;
	void *stash_out;	/* the bytes returned last: freed next call */
	int64_t pending_worker; /* the record last returned by dq_collect */
	uint64_t pending_head;	/* ... ends here: release on the next call */
	uint32_t next_worker;	/* round-robin start of the scan */

	_Atomic uint64_t next_id;
	struct {
		_Atomic uint64_t completed, abandoned, requeued, stale,
			collect_sleeps, wakes, dispatched, corrupt;
	} st;
};

/* Adds 1 to a counter that one thread at a time writes (under a lock):
 * no locked instruction on the hot path. */
static inline void dq_count_n(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}
static inline void dq_count(_Atomic uint64_t *c)
{
	dq_count_n(c, 1);
}

/* dist-queue.c */
/* Creates the region of worker w (dq_create does, for every id). */
int dq_region_create(struct dq *q, uint32_t w, struct berr *err);

/* dist-lease.c */
/* Reserves a lease and payload room. Returns with alloc_lock held on
 * success (the caller publishes the task, then unlocks). */
int dq_lease_alloc(struct dq *q, uint64_t len, int timeout_ms, uint32_t *lease,
		   uint64_t *off);
/* Frees the lease, its payload and its ring entry; caller holds
 * alloc_lock. */
void dq_lease_release_locked(struct dq *q, uint32_t lease);
/* n tasks left the books: n fewer unresolved; wakes workers at the end.
 * Caller holds alloc_lock. */
void dq_tasks_resolved(struct dq *q, uint64_t n);
/* Abandons an in-flight lease with error; caller holds both locks. */
void dq_lease_abandon(struct dq *q, uint32_t lease, uint32_t worker, int error);
/* Adds a to the abandoned list; caller holds alloc_lock. */
void dq_abandoned_push(struct dq *q, const struct dq_abandoned *a);
/* Wakes the collector (another thread has made a result). */
void dq_wake_collector(struct dq *q);

/* The tasks a result record answers (0 is one, as 1). */
static inline uint32_t dq_record_tasks(const struct bq_record *rec)
{
	return rec->count ? rec->count : 1;
}

/* dist-chunk.c: a lease that stands for a run of tasks. Callers hold
 * alloc_lock. */
#define DQ_CHUNK_WORDS (BQ_CHUNK_MAX / 64)
#define DQ_NO_TASK UINT32_MAX
_Static_assert(DQ_CHUNK_MAX == BQ_CHUNK_MAX, "one chunk limit");
/* Which task of its chunk rec answers (the first of its run), when w
 * holds it with that gen; DQ_NO_TASK when none, when the run does not fit
 * in the chunk, or when one of its tasks has its result. */
uint32_t dq_chunk_match(struct dq *q, uint32_t w, const struct bq_record *rec);
/* Tasks k .. k + n - 1 of lease's chunk have their results. Returns true
 * when they were its last: the lease is released. */
bool dq_chunk_answer(struct dq *q, uint32_t lease, uint32_t k, uint32_t n);
/* The next task of lease's chunk without a result, marked answered;
 * DQ_NO_TASK when none is left. */
uint32_t dq_chunk_next_unanswered(struct dq *q, uint32_t lease);
/* The chunk lease goes back to the queue from dead worker w, from its
 * first task without a result. When w had taken it, that first task is
 * the one w ran: it counts a delivery, and is abandoned alone after
 * max_attempts of them; the tasks after it were not delivered. The lease
 * is released when no task is left. Caller holds both locks. */
void dq_chunk_take_back(struct dq *q, uint32_t lease, uint32_t w, bool taken);
/* Writes the shared entry of lease's chunk for its next issue (from its
 * first unanswered task). */
void dq_chunk_publish(struct dq *q, uint32_t lease, struct bq_task *t);

/* dist-ring.c */
/* Puts lease on the waiting list (its task not in any ring). Caller
 * holds alloc_lock. */
void dq_wait_add_locked(struct dq *q, uint32_t lease);
/* Gives waiting tasks to workers with room in their rings. Caller holds
 * alloc_lock. */
void dq_dispatch_locked(struct dq *q);
/* Tasks given to a sleeping worker wake it at once from this many on;
 * fewer wait for dq_wake_due_locked(). */
#define DQ_WAKE_BATCH 8
/* Wakes the workers given tasks since they were last woken. Caller holds
 * alloc_lock. */
void dq_wake_due_locked(struct dq *q);
/* True when waiting tasks could go to a worker now (one attached since
 * the last dispatch). Caller holds no lock. */
bool dq_dispatch_possible(struct dq *q);
/* True when worker w may be given tasks (its region exists, it is
 * attached and not corrupt). */
bool dq_worker_usable(struct dq *q, uint32_t w);

/* Writes the coordinator's line of worker w's region (magic, version, id,
 * sizes): what the worker checks when it attaches (dist-queue.c). */
void dq_region_head(struct dq *q, uint32_t w);

/* dist-audit.c */
/* How often dq_collect() audits while tasks are in flight, and the
 * longest it sleeps between two audits. */
#define DQ_AUDIT_MS 20
/* Checks each worker's region for what no sane worker writes; marks such
 * a worker corrupt. Caller holds collect_lock. */
void dq_audit(struct dq *q);
/* Marks worker w corrupt, saying why; its tasks fail once reclaimed. */
void dq_mark_corrupt(struct dq *q, uint32_t w, const char *why);
int64_t dq_now_ms(void);

/* dist-result.c */
/* Releases the ring space of the result dq_collect() returned last.
 * Caller holds collect_lock. */
void dq_result_release_pending(struct dq *q);
/* Takes the results that dead worker w published and that count into
 * the stash (their leases, or their chunks' tasks, leave the books), so
 * that what goes back to the queue is what has none. Caller holds
 * collect_lock. */
void dq_result_stash_dead(struct dq *q, uint32_t w);
/* Frees the stash. */
void dq_result_stash_free(struct dq *q);
void dq_result_set_head(struct dq *q, uint32_t w, uint64_t head);

/* dist-futex.c */
/* Sleeps until a worker may have published, or until the deadline (NULL:
 * forever). Returns 0 or -ETIMEDOUT. Caller holds no lock. `ready` is
 * re-checked after announcing the sleep. */
int dq_sleep_results(struct dq *q, const struct timespec *deadline,
		     bool (*ready)(struct dq *q));
/* Wakes worker w if it sleeps waiting for a task (after a seq_cst
 * publication); wakes it in any case when force. */
void dq_wake_worker(struct dq *q, uint32_t w, bool force);
/* deadline = now + ms (CLOCK_MONOTONIC); NULL when ms < 0. */
struct timespec *dq_deadline(struct timespec *ts, int ms);
bool dq_deadline_passed(const struct timespec *deadline);

#endif
