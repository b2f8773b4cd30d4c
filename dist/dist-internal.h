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
	int error; /* -EOWNERDEAD, -EBADMSG (its worker corrupted the queue),
		      -EIO (the queue made no progress) */
};

/* The coordinator's own record of a lease. Workers can write anything over
 * the shared entry (struct bq_lease): this is the truth, the shared entry
 * its copy for the worker that takes the task. Guarded by alloc_lock. */
enum { DQ_LP_FREE, DQ_LP_QUEUED, DQ_LP_ABANDONED };

struct dq_lpriv {
	uint64_t task_id;
	uint64_t payload_off; /* from the arena start */
	uint32_t payload_len;
	uint32_t attempt;
	/* gen of the QUEUED word published last: the shared word may be
	 * QUEUED(0, gen), or LEASED/DONE(w, gen + 1) once a worker took it;
	 * anything else was written by someone else */
	uint32_t gen;
	uint8_t state;	       /* DQ_LP_* */
	bool in_retry;	       /* on the retry list */
	bool taken;	       /* seen LEASED by a worker */
	uint32_t holder;       /* that worker */
	int64_t idle_since_ms; /* holder seen idle (or gone) since; 0 not */
};

struct dq {
	int fd;
	uint8_t *base;
	size_t size;
	struct bq_header *hdr;
	struct bq_slot *ring;
	struct bq_lease *leases;
	struct bq_worker *workers;
	uint8_t *results;
	uint8_t *arena_mem;
	uint32_t cap, mask, max_workers, result_size, max_attempts, spin;
	uint32_t stall_ms;
	/* what the coordinator wrote in the header; restored when it
	 * differs (workers may write anything there) */
	struct bq_config cfg;

	/* alloc_lock: free leases, the arena, the retry list */
	pthread_mutex_t alloc_lock;
	pthread_cond_t room; /* signalled when a lease is freed */
	uint32_t room_waiters;
	uint32_t *free_leases; /* stack of free lease indices */
	uint32_t nfree;
	uint64_t *lease_blk; /* arena block of each lease */
	struct dq_arena arena;
	/* leases QUEUED whose ticket the ring did not take yet (a slot was
	 * still being released); pushed again before anything else */
	uint32_t *retry;
	_Atomic uint32_t nretry; /* atomic: read unlocked as a hint */
	/* also under alloc_lock: the private lease records, a copy of every
	 * payload (restored when a worker overwrote it), the producer
	 * position and the ticket pushed last in each slot. hdr->enq_pos is
	 * only a copy of enq for readers. */
	struct dq_lpriv *lp;
	uint8_t *arena_copy;
	uint64_t enq;
	uint64_t reset_base; /* first position of the ring's last reset */
	uint64_t *slot_ticket;
	bool closed;
	_Atomic uint64_t unresolved; /* hdr->unresolved is its copy */

	/* collect_lock: result rings, the abandoned list, pending release.
	 * dq_collect() lets go of it while it sleeps, so that dq_reclaim()
	 * can run; the two fields its wake-up test reads are atomic. */
	pthread_mutex_t collect_lock;
	struct dq_abandoned *abandoned;
	_Atomic uint32_t nabandoned;
	_Atomic bool *corrupt; /* per worker: result ring ignored */
	uint64_t *tail_seen;   /* per worker: res_tail when last read */
	/* per worker: bytes consumed (the truth); atomic, as the collector
	 * reads it while it sleeps without collect_lock */
	_Atomic uint64_t *res_head;
	_Atomic uint32_t high; /* 1 + highest worker id seen attached */
	/* the audit (dist-audit.c), under collect_lock */
	int64_t last_audit_ms, last_progress_ms, last_repair_ms;
	int64_t last_stuck_wake_ms, last_result_ms;
	uint64_t results_seen; /* completed + abandoned at the last audit */
	uint64_t progress, progress_seen;
	uint32_t bad_rounds; /* audits that repaired, no progress since */
	uint64_t *pending;   /* per lease: its ticket waiting in the ring */
	char last_repair[160];
	int64_t pending_worker; /* the record last returned by dq_collect */
	uint64_t pending_head;	/* ... ends here: release on the next call */
	uint32_t next_worker;	/* round-robin start of the scan */

	_Atomic uint64_t next_id;
	struct {
		/* completed, abandoned, stale: under collect_lock */
		_Atomic uint64_t completed, abandoned, requeued, stale,
			ring_busy, collect_sleeps, wakes, repairs, resets,
			given_up;
	} st;
};

/* Adds 1 to a counter that one thread at a time writes (under a lock):
 * no locked instruction on the hot path. */
static inline void dq_count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* dist-lease.c */
/* Reserves a lease and payload room. Returns with alloc_lock held on
 * success (the caller publishes the task, then unlocks). */
int dq_lease_alloc(struct dq *q, uint64_t len, int timeout_ms, uint32_t *lease,
		   uint64_t *off);
/* Frees the lease and its payload; caller holds alloc_lock. */
void dq_lease_release_locked(struct dq *q, uint32_t lease);
/* A task left the books: one fewer unresolved; wakes workers at the end.
 * Caller holds alloc_lock. */
void dq_task_resolved(struct dq *q);
/* The word lease i should show: true when w is QUEUED(0, gen) or
 * LEASED/DONE(worker, gen + 1) of a valid worker; *holder gets that
 * worker or UINT32_MAX. */
bool dq_word_valid(const struct dq *q, uint32_t lease, uint64_t w,
		   uint32_t *holder);
/* Abandons an in-flight lease with error; caller holds both locks. */
void dq_lease_abandon(struct dq *q, uint32_t lease, uint32_t worker, int error);
/* Publishes lease i as QUEUED under a new gen (its shared fields and
 * payload rewritten from the private copy) and queues its ticket. Caller
 * holds alloc_lock. */
void dq_lease_requeue_locked(struct dq *q, uint32_t lease);

/* dist-ring.c */
/* Queues the ticket of lease (its private gen); defers it to the retry
 * list when the ring slot is still held. Caller holds alloc_lock, and
 * wakes a worker after unlocking when it returns true. */
bool dq_ring_enqueue_locked(struct dq *q, uint32_t lease);
/* Pushes deferred tickets. */
void dq_ring_flush(struct dq *q);
/* Releases slots claimed by workers that did not finish taking them;
 * re-queues their tasks. Returns how many tasks it re-queued. Caller
 * holds alloc_lock. */
uint32_t dq_ring_unstick_locked(struct dq *q);
/* True when the ring holds what the coordinator pushed (each slot free or
 * full with its ticket, the consumer position within the last lap).
 * Caller holds alloc_lock. */
bool dq_ring_sane(struct dq *q, char *why, size_t len);
/* Starts the ring afresh a lap ahead and pushes the ticket of every
 * lease whose word says it waits for a worker. Caller holds alloc_lock. */
void dq_ring_reset_locked(struct dq *q);

/* dist-audit.c */
/* How often dq_collect() audits while tasks are in flight, and the
 * longest it sleeps between two audits. */
#define DQ_AUDIT_MS 20
/* Compares the shared memory with the coordinator's books and repairs it;
 * detects a queue that makes no progress. Called by dq_collect() every
 * few milliseconds; caller holds collect_lock. */
void dq_audit(struct dq *q);
/* Audits now; true when this or an audit in the last stall_ms repaired
 * something (the queue is being written over: a bad record need not be
 * its worker's doing). Caller holds collect_lock. */
bool dq_audit_found_recently(struct dq *q);
int64_t dq_now_ms(void);

/* dist-result.c */
/* Releases the ring space of the result dq_collect() returned last.
 * Caller holds collect_lock. */
void dq_result_release_pending(struct dq *q);
/* Marks the leases whose results worker w published as DONE, so that
 * reclaim keeps them. Caller holds collect_lock. */
void dq_result_preaccept(struct dq *q, uint32_t w);
void dq_result_set_head(struct dq *q, uint32_t w, uint64_t head);

/* dist-futex.c */
/* Wakes one (n = 1) or all (n = INT_MAX) workers sleeping for a task. */
void dq_wake_workers(struct dq *q, int n);
/* Sleeps on the result futex until a worker may have published, or until
 * the deadline (NULL: forever). Returns 0 or -ETIMEDOUT. Caller holds no
 * lock. `ready` is re-checked after announcing the sleep. */
int dq_sleep_results(struct dq *q, const struct timespec *deadline,
		     bool (*ready)(struct dq *q));
/* deadline = now + ms (CLOCK_MONOTONIC); NULL when ms < 0. */
struct timespec *dq_deadline(struct timespec *ts, int ms);
bool dq_deadline_passed(const struct timespec *deadline);

#endif
