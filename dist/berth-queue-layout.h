/* berth-queue-layout.h: the shared-memory layout of a berth task queue and
 * the few lock-free steps both sides take on it.
 *
 * Included by the coordinator (dist/, libberth) and by the worker client
 * library (dist/worker/, libberthworker), so it depends on libc and the
 * kernel headers only. User programs never include it: they see
 * berth-worker.h.
 *
 * The queue is one memfd, sealed against shrinking and growing, mapped
 * MAP_SHARED by the coordinator and by every worker (at any address: the
 * layout holds offsets, never pointers). Every region starts on a page:
 *
 *   0           struct bq_header             configuration, hot counters
 *   ring_off    struct bq_slot[capacity]     task ring (MPMC)
 *   lease_off   struct bq_lease[capacity]    lease table
 *   worker_off  struct bq_worker[max_workers]
 *   result_off  max_workers rings of result_size bytes (SPSC, one a worker)
 *   arena_off   arena_size bytes             task payloads
 *
 * Why one MPMC ring for tasks and one SPSC ring per worker for results:
 * - Tasks go out through a bounded MPMC ring with a sequence number per
 *   slot (Vyukov's design): an idle worker takes the next task, so load
 *   balancing needs no stealing protocol. Its producers are threads of the
 *   coordinator, which never die alone. Its consumers may die at any
 *   instruction, so a task is owned through the lease table, not the ring:
 *   a worker first claims a ring position, then moves the task's lease from
 *   QUEUED to LEASED (one CAS that names the worker), then releases the
 *   slot. A worker that dies between those steps leaves a claimed slot
 *   behind; the coordinator's reclaim finds it (its sequence number says
 *   "full" behind the consumer position) and, if the lease was never taken,
 *   invalidates the ticket and queues the task again.
 * - Results come back through one byte ring per worker: the worker is its
 *   only writer, so a record is published by a single store of res_tail and
 *   a worker that dies mid-write leaves nothing half-visible. Records carry
 *   any size up to half the ring, and the result path needs no CAS.
 * - Ring slots and lease entries are as many as the queue's capacity, and
 *   every task in flight holds one lease, so the ring can never overflow:
 *   back-pressure happens when leases or arena bytes run out.
 *
 * Payloads live in the arena: the coordinator alone allocates and frees
 * there (its allocator state is private to it), so workers only read it.
 *
 * Sleeping: each side spins `spin` times with a pause, then announces
 * itself in a sleepers counter and sleeps in FUTEX_WAIT on a 32-bit word of
 * the mapping (no FUTEX_PRIVATE_FLAG: the word is shared between
 * processes). The other side bumps the word and calls FUTEX_WAKE only when
 * the counter says someone sleeps, so an idle pool costs no CPU and a busy
 * one makes no system call. The announce-then-recheck / publish-then-check
 * pair uses sequentially consistent atomics on both sides, so either the
 * sleeper sees the new item or the waker sees the sleeper. */
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
#define BQ_VERSION 1u
#define BQ_LINE 64
#define BQ_PAGE 4096
#define BQ_ALIGNED __attribute__((aligned(BQ_LINE)))

/* Header flags (bq_header.flags), written by the coordinator. */
#define BQ_CLOSED 1u   /* no more submissions; workers end when idle */
#define BQ_SHUTDOWN 2u /* the coordinator is gone: workers end now */

/* Written once by the coordinator before the fd leaves its process;
 * read-only afterwards, for everyone. */
struct bq_config {
	uint64_t magic;	      /* BQ_MAGIC */
	uint32_t version;     /* BQ_VERSION: bumped on any layout change */
	uint32_t header_size; /* sizeof(struct bq_header) */
	uint64_t total_size;  /* bytes of the memfd */
	uint32_t capacity;    /* ring slots = lease entries, power of two */
	uint32_t slot_size;   /* sizeof(struct bq_slot) */
	uint32_t lease_size;  /* sizeof(struct bq_lease) */
	uint32_t worker_size; /* sizeof(struct bq_worker) */
	uint32_t max_workers; /* worker ids are 0 .. max_workers - 1 */
	uint32_t result_size; /* bytes of each result ring, power of two */
	uint64_t ring_off;    /* offsets from the start of the mapping */
	uint64_t lease_off;
	uint64_t worker_off;
	uint64_t result_off;
	uint64_t arena_off;
	uint64_t arena_size;   /* bytes of the payload arena */
	uint32_t spin;	       /* pause iterations before a futex wait */
	uint32_t max_attempts; /* deliveries of a task before it is abandoned */
	uint8_t reserved[24];
};

/* The first bytes of the mapping. Each hot counter has its own cache line,
 * so that the coordinator's writes never invalidate a line the workers
 * write and the reverse. */
struct bq_header {
	struct bq_config cfg; /* lines 0-1 */
	/* line 2, coordinator: next ring position to fill (Vyukov enqueue) */
	BQ_ALIGNED _Atomic uint64_t enq_pos;
	/* line 3, workers: next ring position to take (Vyukov dequeue) */
	BQ_ALIGNED _Atomic uint64_t deq_pos;
	/* line 4: workers waiting for a task. The coordinator bumps
	 * task_futex and wakes when task_sleepers != 0; workers count
	 * themselves in and out of task_sleepers. wake_pending is set by
	 * whoever wakes one worker, and cleared by every worker entering
	 * its sleep and every worker returning from FUTEX_WAIT: while a
	 * woken worker is on its way, further tasks wake nobody (that worker
	 * wakes the next one if tasks remain), so a burst of submissions
	 * costs one FUTEX_WAKE, not one each. A waker that finds it set has
	 * a worker that will look at the ring after its task was published:
	 * the one it names cleared it after the setter's bump, which makes
	 * any sleeper counted before that bump return from its wait. */
	BQ_ALIGNED _Atomic uint32_t task_futex;
	_Atomic uint32_t task_sleepers;
	_Atomic uint32_t wake_pending;
	/* line 5, coordinator: BQ_CLOSED / BQ_SHUTDOWN, and the number of
	 * tasks submitted whose result has not been collected. Workers end
	 * when the queue is closed and nothing is unresolved. */
	BQ_ALIGNED _Atomic uint32_t flags;
	_Atomic uint32_t worker_high; /* workers: 1 + highest attached id */
	_Atomic uint64_t unresolved;
	/* line 6: the coordinator waiting for results. Workers bump
	 * result_futex and wake when result_sleepers != 0. */
	BQ_ALIGNED _Atomic uint32_t result_futex;
	_Atomic uint32_t result_sleepers;
};

/* A task ring slot. seq == position when the slot is free for that
 * position, position + 1 when it holds that position's ticket. A consumer
 * frees it for the next lap with seq = position + capacity. */
struct bq_slot {
	_Atomic uint64_t seq;	 /* producer publishes, consumer releases */
	_Atomic uint64_t ticket; /* producer: bq_ticket(lease, gen) */
	uint8_t pad[BQ_LINE - 16];
};

/* Lease states, the low byte of bq_lease.word. */
enum {
	BQ_FREE = 0,   /* not in flight (or abandoned, awaiting collection) */
	BQ_QUEUED = 1, /* its ticket is in the ring (or about to be) */
	BQ_LEASED = 2, /* a worker holds it */
	BQ_DONE = 3,   /* its holder died after publishing the result */
};

/* One task in flight. `word` packs | gen:32 | worker:24 | state:8 | and
 * moves only by CAS: the coordinator QUEUED->LEASED never, workers
 * QUEUED->LEASED only (with the ticket's gen), the coordinator everything
 * else. gen grows on every transition, so a ticket or a result record that
 * names an older gen is stale. The other fields are written by the
 * coordinator before it publishes the QUEUED word, and read by the worker
 * after its CAS took the lease. */
struct bq_lease {
	_Atomic uint64_t word;
	uint64_t task_id;
	uint64_t payload_off; /* from arena_off */
	uint32_t payload_len;
	uint32_t attempt; /* 1 on the first delivery */
	uint8_t pad[BQ_LINE - 32];
};

/* Per-worker state. */
struct bq_worker {
	/* line 0, the worker: */
	_Atomic uint64_t res_tail;	 /* bytes ever published */
	_Atomic uint32_t attached;	 /* owner's tid, 0 when free (the
					    coordinator clears it at reclaim) */
	_Atomic uint32_t space_sleepers; /* waiting for result ring space */
	_Atomic uint64_t tasks;		 /* tasks taken (statistics) */
	_Atomic uint64_t sleeps;	 /* futex waits (statistics) */
	_Atomic uint32_t task_sleeping;	 /* 1 while counted in task_sleepers:
					    reclaim uncounts a dead sleeper */
	_Atomic uint32_t held; /* tasks taken, not yet answered: a worker
				  asleep holding one (several tasks at once)
				  is not idle */
	uint8_t pad0[BQ_LINE - 40];
	/* line 1, the coordinator: */
	BQ_ALIGNED _Atomic uint64_t res_head; /* bytes ever consumed */
	_Atomic uint32_t space_futex;	      /* bumped after res_head moves */
	uint8_t pad1[BQ_LINE - 12];
};

/* A result record in a worker's ring, 8-byte aligned, followed by len
 * bytes. Written by the worker before it publishes res_tail; the
 * coordinator copies the header and checks every field before use. */
struct bq_record {
	uint32_t size;	/* header + len rounded up to 8; BQ_REC_WRAP: the
			   ring continues at offset 0 */
	uint32_t lease; /* lease index */
	uint32_t gen;	/* lease gen the worker held (LEASED) */
	int32_t status; /* the worker's status */
	uint64_t task_id;
	uint32_t len; /* result bytes */
	uint32_t reserved;
};
#define BQ_REC_WRAP 0u

_Static_assert(sizeof(struct bq_config) == 2 * BQ_LINE, "config: 2 lines");
_Static_assert(offsetof(struct bq_header, enq_pos) == 2 * BQ_LINE, "enq");
_Static_assert(offsetof(struct bq_header, deq_pos) == 3 * BQ_LINE, "deq");
_Static_assert(offsetof(struct bq_header, task_futex) == 4 * BQ_LINE, "tf");
_Static_assert(offsetof(struct bq_header, flags) == 5 * BQ_LINE, "flags");
_Static_assert(offsetof(struct bq_header, unresolved) == 5 * BQ_LINE + 8,
	       "unresolved");
_Static_assert(offsetof(struct bq_header, result_futex) == 6 * BQ_LINE, "rf");
_Static_assert(sizeof(struct bq_header) == 7 * BQ_LINE, "header: 7 lines");
_Static_assert(sizeof(struct bq_slot) == BQ_LINE, "slot: one line");
_Static_assert(sizeof(struct bq_lease) == BQ_LINE, "lease: one line");
_Static_assert(offsetof(struct bq_worker, held) == 36, "held");
_Static_assert(offsetof(struct bq_worker, res_head) == BQ_LINE, "res_head");
_Static_assert(sizeof(struct bq_worker) == 2 * BQ_LINE, "worker: 2 lines");
_Static_assert(sizeof(struct bq_record) == 32, "record header");
_Static_assert(__atomic_always_lock_free(8, 0),
	       "64-bit atomics must be lock-free to work across processes");

static inline uint64_t bq_lease_word(uint32_t state, uint32_t worker,
				     uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)(worker & 0xffffffu) << 8 |
	       (state & 0xffu);
}
static inline uint32_t bq_word_state(uint64_t w)
{
	return w & 0xffu;
}
static inline uint32_t bq_word_worker(uint64_t w)
{
	return (w >> 8) & 0xffffffu;
}
static inline uint32_t bq_word_gen(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

/* A ticket names a lease and the gen it had when QUEUED, in one atomic
 * word so that a reader never pairs a lease with another lap's gen. */
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

/* Wakes one worker sleeping for a task, unless none sleeps or a woken one
 * is already on its way. Called after a seq_cst publication of a task.
 * Returns 1 when it issued a FUTEX_WAKE. */
static inline int bq_wake_one_worker(struct bq_header *h)
{
	if (!atomic_load(&h->task_sleepers) || atomic_load(&h->wake_pending))
		return 0;
	uint32_t idle = 0;
	if (!atomic_compare_exchange_strong(&h->wake_pending, &idle, 1))
		return 0;
	bq_futex_bump_wake(&h->task_futex, 1);
	return 1;
}

/* Puts a ticket in the ring. Returns 0, or -EAGAIN when the slot at the
 * producer position has not been released yet (a consumer is between its
 * claim and its release, or died there). The publishing store is seq_cst:
 * the caller then reads task_sleepers (see the file comment). */
static inline int bq_ring_push(struct bq_slot *ring, uint32_t mask,
			       _Atomic uint64_t *enq, uint64_t ticket)
{
	uint64_t pos = atomic_load_explicit(enq, memory_order_relaxed);
	struct bq_slot *s;
	for (;;) {
		s = &ring[pos & mask];
		uint64_t seq =
			atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    enq, &pos, pos + 1, memory_order_relaxed,
				    memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return -EAGAIN;
		} else {
			pos = atomic_load_explicit(enq, memory_order_relaxed);
		}
	}
	atomic_store_explicit(&s->ticket, ticket, memory_order_relaxed);
	atomic_store_explicit(&s->seq, pos + 1, memory_order_seq_cst);
	return 0;
}

/* True when the ring holds a ticket at the consumer position. seq_cst
 * loads: a worker calls it after counting itself in task_sleepers. */
static inline int bq_ring_ready(const struct bq_slot *ring, uint32_t mask,
				_Atomic uint64_t *deq)
{
	uint64_t pos = atomic_load(deq);
	return atomic_load(&ring[pos & mask].seq) == pos + 1;
}

/* Claims the ticket at the consumer position. Returns 1 with *pos and
 * *ticket, 0 when the ring is empty. The slot stays unreleased (the
 * producer cannot reuse it) until bq_ring_release(): the caller takes the
 * ticket's lease in between. */
static inline int bq_ring_take(struct bq_slot *ring, uint32_t mask,
			       _Atomic uint64_t *deq, uint64_t *pos_out,
			       uint64_t *ticket)
{
	uint64_t pos = atomic_load_explicit(deq, memory_order_relaxed);
	struct bq_slot *s;
	for (;;) {
		s = &ring[pos & mask];
		/* seq_cst: ordered after the caller's wake_pending store */
		uint64_t seq = atomic_load(&s->seq);
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(
				    deq, &pos, pos + 1, memory_order_relaxed,
				    memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return 0;
		} else {
			pos = atomic_load_explicit(deq, memory_order_relaxed);
		}
	}
	*ticket = atomic_load_explicit(&s->ticket, memory_order_relaxed);
	*pos_out = pos;
	return 1;
}

/* Frees a claimed slot for the producer's next lap. A CAS, not a store:
 * the coordinator's reclaim may have released it already, and the
 * producer may have refilled it since. Returns 1 when this call released
 * it. */
static inline int bq_ring_release(struct bq_slot *ring, uint32_t mask,
				  uint64_t pos)
{
	uint64_t expect = pos + 1;
	return atomic_compare_exchange_strong_explicit(
		&ring[pos & mask].seq, &expect, pos + (uint64_t)mask + 1,
		memory_order_release, memory_order_relaxed);
}

#endif
