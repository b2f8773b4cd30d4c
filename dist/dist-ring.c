/* The task ring, coordinator side: submitting tasks, pushing tickets,
 * releasing the slots of workers that died while taking one, and checking
 * or rebuilding the ring when a worker wrote over it. The consumer's steps
 * (take, release) are in dist/berth-queue-layout.h, shared with the
 * worker library; the producer's position and the tickets pushed are kept
 * here, in the coordinator's memory, and the ring is only their copy. */
#include <limits.h>
#include <string.h>

#include "dist/dist-internal.h"

/* A consumer releases its slot a few instructions after claiming it: wait
 * that long before deferring the ticket. */
#define PUSH_SPINS 64

/* Puts a ticket at the producer position. The only producer is the
 * coordinator under alloc_lock, so no CAS: a slot that does not say "free
 * for this position" is still being released (or was overwritten). */
static int push_locked(struct dq *q, uint64_t ticket)
{
	uint64_t pos = q->enq;
	struct bq_slot *s = &q->ring[pos & q->mask];
	if (atomic_load_explicit(&s->seq, memory_order_acquire) != pos)
		return -EAGAIN;
	q->slot_ticket[pos & q->mask] = ticket;
	atomic_store_explicit(&s->ticket, ticket, memory_order_relaxed);
	/* seq_cst: the caller then reads task_sleepers */
	atomic_store(&s->seq, pos + 1);
	q->enq = pos + 1;
	atomic_store_explicit(&q->hdr->enq_pos, pos + 1, memory_order_relaxed);
	return 0;
}

static void retry_add(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (lp->in_retry)
		return;
	/* one entry a lease: the list never holds more than cap */
	lp->in_retry = true;
	uint32_t n = atomic_load_explicit(&q->nretry, memory_order_relaxed);
	q->retry[n] = lease;
	atomic_store(&q->nretry, n + 1);
	atomic_fetch_add(&q->st.ring_busy, 1);
}

bool dq_ring_enqueue_locked(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (!lp->in_retry) {
		uint64_t t = bq_ticket(lease, lp->gen);
		for (int i = 0; i < PUSH_SPINS; i++) {
			if (push_locked(q, t) == 0)
				return true;
			bq_cpu_relax();
		}
	}
	/* the slot's consumer is descheduled or dead (reclaim frees it):
	 * the ticket waits in the retry list, pushed by the next call */
	retry_add(q, lease);
	return false;
}

static uint32_t flush_locked(struct dq *q)
{
	uint32_t n = atomic_load(&q->nretry), done = 0;
	while (done < n) {
		uint32_t lease = q->retry[done];
		struct dq_lpriv *lp = &q->lp[lease];
		/* answered or abandoned meanwhile: nothing to push */
		if (lp->state == DQ_LP_QUEUED &&
		    push_locked(q, bq_ticket(lease, lp->gen)) < 0)
			break;
		lp->in_retry = false;
		done++;
	}
	memmove(q->retry, q->retry + done, (n - done) * sizeof(*q->retry));
	atomic_store(&q->nretry, n - done);
	return done;
}

void dq_ring_flush(struct dq *q)
{
	if (!atomic_load_explicit(&q->nretry, memory_order_relaxed))
		return;
	pthread_mutex_lock(&q->alloc_lock);
	uint32_t done = flush_locked(q);
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
	/* returns with alloc_lock held */
	int r = dq_lease_alloc(q, len, timeout_ms, &lease, &off);
	if (r < 0)
		return r;
	if (len) {
		memcpy(q->arena_mem + off, payload, len);
		memcpy(q->arena_copy + off, payload, len);
	}
	uint64_t tid =
		atomic_fetch_add_explicit(&q->next_id, 1, memory_order_relaxed);
	struct dq_lpriv *lp = &q->lp[lease];
	*lp = (struct dq_lpriv){
		.task_id = tid,
		.payload_off = off,
		.payload_len = (uint32_t)len,
		.attempt = 1,
		.gen = lp->gen,
		.state = DQ_LP_QUEUED,
	};
	atomic_fetch_add(&q->unresolved, 1);
	atomic_fetch_add(&q->hdr->unresolved, 1);
	dq_lease_requeue_locked(q, lease);
	pthread_mutex_unlock(&q->alloc_lock);
	dq_wake_workers(q, 1);
	if (id)
		*id = tid;
	return 0;
}

/* The position last pushed into slot i, or UINT64_MAX when none was. */
static uint64_t last_pos(const struct dq *q, uint32_t i)
{
	if (q->enq <= q->reset_base + i)
		return UINT64_MAX;
	return q->enq - 1 - ((q->enq - 1 - i) & q->mask);
}

/* A full slot behind the consumer position was claimed by a worker that
 * has not released it: dead, or between two instructions. If the lease
 * was not taken, the ticket is invalidated (a live claimant's CAS then
 * fails and it moves on) and the task queued again. Either way the slot
 * is released, so that the producer's next lap is not blocked. */
uint32_t dq_ring_unstick_locked(struct dq *q)
{
	uint64_t deq = atomic_load(&q->hdr->deq_pos);
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->cap; i++) {
		uint64_t pos = last_pos(q, i);
		if (pos == UINT64_MAX || pos >= deq)
			continue; /* never pushed, or not claimed yet */
		struct bq_slot *s = &q->ring[i];
		if (atomic_load(&s->seq) != pos + 1)
			continue; /* released */
		uint64_t t = q->slot_ticket[i];
		uint32_t lease = bq_ticket_lease(t), gen = bq_ticket_gen(t);
		bq_ring_release(q->ring, q->mask, pos);
		struct dq_lpriv *lp = &q->lp[lease];
		if (lp->state != DQ_LP_QUEUED || lp->gen != gen)
			continue;
		uint64_t expect = bq_lease_word(BQ_QUEUED, 0, gen);
		if (atomic_load(&q->leases[lease].word) != expect)
			continue; /* taken (or overwritten: the audit's) */
		dq_lease_requeue_locked(q, lease);
		n++;
	}
	return n;
}

bool dq_ring_sane(struct dq *q, char *why, size_t len)
{
	uint64_t deq = atomic_load(&q->hdr->deq_pos);
	if (deq > q->enq || q->enq - deq > q->cap || deq < q->reset_base) {
		snprintf(why, len,
			 "ring: consumer position %llu outside %llu..%llu",
			 (unsigned long long)deq,
			 (unsigned long long)(q->enq > q->cap ? q->enq - q->cap
							      : 0),
			 (unsigned long long)q->enq);
		return false;
	}
	for (uint32_t i = 0; i < q->cap; i++) {
		uint64_t pos = last_pos(q, i);
		uint64_t seq = atomic_load(&q->ring[i].seq);
		/* free for its next position, or full with our ticket */
		uint64_t free_seq =
			pos == UINT64_MAX ? q->reset_base + i : pos + q->cap;
		if (seq == free_seq)
			continue;
		if (pos != UINT64_MAX && seq == pos + 1 &&
		    atomic_load(&q->ring[i].ticket) == q->slot_ticket[i])
			continue;
		snprintf(why, len, "ring slot %u: sequence %llu, ticket 0x%llx",
			 i, (unsigned long long)seq,
			 (unsigned long long)atomic_load(&q->ring[i].ticket));
		return false;
	}
	return true;
}

void dq_ring_reset_locked(struct dq *q)
{
	/* a lap beyond any position a worker may still hold: their late
	 * CAS on deq_pos or on a slot's seq fails */
	uint64_t base = (q->enq + 2ull * q->cap) & ~(uint64_t)q->mask;
	for (uint32_t i = 0; i < q->cap; i++) {
		q->slot_ticket[i] = 0;
		atomic_store(&q->ring[i].ticket, 0);
		atomic_store(&q->ring[i].seq, base + i);
	}
	q->reset_base = base;
	q->enq = base;
	atomic_store(&q->hdr->enq_pos, base);
	atomic_store(&q->hdr->deq_pos, base);
	atomic_store(&q->nretry, 0);
	for (uint32_t i = 0; i < q->cap; i++) {
		struct dq_lpriv *lp = &q->lp[i];
		lp->in_retry = false;
		if (lp->state != DQ_LP_QUEUED)
			continue;
		/* only what waited in the ring: a word the audit could not
		 * restore may belong to a task a worker runs, and queueing
		 * that again would run a task that broke the queue again */
		if (atomic_load(&q->leases[i].word) ==
		    bq_lease_word(BQ_QUEUED, 0, lp->gen))
			dq_lease_requeue_locked(q, i);
	}
	atomic_fetch_add(&q->st.resets, 1);
}
