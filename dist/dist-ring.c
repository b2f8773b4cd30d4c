/* The task ring, coordinator side: submitting tasks, pushing tickets,
 * and releasing the slots of workers that died while taking one. The ring
 * itself (push, take, release) is in dist/berth-queue-layout.h, shared
 * with the worker library. */
#include <limits.h>
#include <string.h>

#include "dist/dist-internal.h"

/* A consumer releases its slot a few instructions after claiming it: wait
 * that long before deferring the ticket. */
#define PUSH_SPINS 64

void dq_ring_enqueue(struct dq *q, uint32_t lease, uint32_t gen)
{
	uint64_t t = bq_ticket(lease, gen);
	for (int i = 0; i < PUSH_SPINS; i++) {
		if (bq_ring_push(q->ring, q->mask, &q->hdr->enq_pos, t) == 0) {
			dq_wake_workers(q, 1);
			return;
		}
		bq_cpu_relax();
	}
	/* the slot's consumer is descheduled or dead (reclaim frees it):
	 * the ticket waits in the retry list, pushed by the next call */
	pthread_mutex_lock(&q->alloc_lock);
	q->retry[atomic_load_explicit(&q->nretry, memory_order_relaxed)] =
		lease;
	atomic_fetch_add(&q->nretry, 1);
	pthread_mutex_unlock(&q->alloc_lock);
	atomic_fetch_add(&q->st.ring_busy, 1);
}

void dq_ring_flush(struct dq *q)
{
	if (!atomic_load_explicit(&q->nretry, memory_order_relaxed))
		return;
	pthread_mutex_lock(&q->alloc_lock);
	uint32_t n = atomic_load(&q->nretry), done = 0;
	while (done < n) {
		uint32_t lease = q->retry[done];
		uint64_t word = atomic_load(&q->leases[lease].word);
		uint64_t t = bq_ticket(lease, bq_word_gen(word));
		if (bq_ring_push(q->ring, q->mask, &q->hdr->enq_pos, t) < 0)
			break;
		done++;
	}
	memmove(q->retry, q->retry + done, (n - done) * sizeof(*q->retry));
	atomic_store(&q->nretry, n - done);
	pthread_mutex_unlock(&q->alloc_lock);
	if (done)
		dq_wake_workers(q, done > 1 ? INT_MAX : 1);
}

int dq_submit(struct dq *q, const void *payload, size_t len, int timeout_ms,
	      uint64_t *id)
{
	uint32_t lease;
	uint64_t off;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	if (len && !payload)
		return -EINVAL;
	dq_ring_flush(q);
	int r = dq_lease_alloc(q, len, timeout_ms, &lease, &off);
	if (r < 0)
		return r;
	/* counted before the closed check, which dq_close() orders against
	 * the workers' "closed and nothing unresolved" end test */
	atomic_fetch_add(&q->hdr->unresolved, 1);
	if (atomic_load(&q->hdr->flags) & BQ_CLOSED) {
		dq_lease_release(q, lease);
		dq_task_resolved(q);
		return -EPIPE;
	}
	struct bq_lease *l = &q->leases[lease];
	if (len)
		memcpy(q->arena_mem + off, payload, len);
	uint64_t tid =
		atomic_fetch_add_explicit(&q->next_id, 1, memory_order_relaxed);
	l->task_id = tid;
	l->payload_off = off;
	l->payload_len = (uint32_t)len;
	l->attempt = 1;
	uint32_t gen = bq_word_gen(atomic_load_explicit(&l->word,
							memory_order_relaxed)) +
		       1;
	/* release: the fields and the payload are visible to the worker
	 * whose CAS reads this word */
	atomic_store_explicit(&l->word, bq_lease_word(BQ_QUEUED, 0, gen),
			      memory_order_release);
	dq_ring_enqueue(q, lease, gen);
	if (id)
		*id = tid;
	return 0;
}

/* A full slot behind the consumer position was claimed by a worker that
 * has not released it: dead, or between two instructions. If the lease
 * was not taken, the ticket is invalidated (a live claimant's CAS then
 * fails and it moves on) and the task queued again. Either way the slot
 * is released, so that the producer's next lap is not blocked. */
uint32_t dq_ring_unstick(struct dq *q)
{
	uint64_t deq = atomic_load(&q->hdr->deq_pos);
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->cap; i++) {
		struct bq_slot *s = &q->ring[i];
		uint64_t seq = atomic_load(&s->seq);
		if (((seq - 1) & q->mask) != i || seq - 1 >= deq)
			continue; /* free, or full and not claimed yet */
		uint64_t t = atomic_load(&s->ticket);
		uint32_t lease = bq_ticket_lease(t), gen = bq_ticket_gen(t);
		bool requeue = false;
		if (lease < q->cap) {
			uint64_t expect = bq_lease_word(BQ_QUEUED, 0, gen);
			requeue = atomic_compare_exchange_strong(
				&q->leases[lease].word, &expect,
				bq_lease_word(BQ_QUEUED, 0, gen + 1));
		}
		bq_ring_release(q->ring, q->mask, seq - 1);
		if (requeue) {
			dq_ring_enqueue(q, lease, gen + 1);
			n++;
		}
	}
	return n;
}
