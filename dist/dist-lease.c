/* The lease table: one entry per task in flight, saying who holds it.
 * Here the coordinator hands leases out at submission, takes them back
 * when a result is collected, and takes back those of a dead worker. */
#include <limits.h>

#include "dist/dist-internal.h"

int dq_lease_alloc(struct dq *q, uint64_t len, int timeout_ms, uint32_t *lease,
		   uint64_t *off)
{
	struct timespec ts, *deadline = dq_deadline(&ts, timeout_ms);
	int r;
	pthread_mutex_lock(&q->alloc_lock);
	for (;;) {
		uint64_t blk = DQ_NO_BLOCK;
		if (atomic_load(&q->hdr->flags) & BQ_CLOSED)
			r = -EPIPE;
		else if (!q->nfree)
			r = -EAGAIN;
		else
			r = dq_arena_alloc(&q->arena, len, off, &blk);
		if (r == 0) {
			*lease = q->free_leases[--q->nfree];
			q->lease_blk[*lease] = blk;
			break;
		}
		if (r != -EAGAIN || timeout_ms == 0 ||
		    dq_deadline_passed(deadline))
			break;
		q->room_waiters++;
		if (deadline)
			pthread_cond_timedwait(&q->room, &q->alloc_lock,
					       deadline);
		else
			pthread_cond_wait(&q->room, &q->alloc_lock);
		q->room_waiters--;
	}
	pthread_mutex_unlock(&q->alloc_lock);
	return r;
}

void dq_lease_release(struct dq *q, uint32_t lease)
{
	pthread_mutex_lock(&q->alloc_lock);
	dq_arena_free(&q->arena, q->lease_blk[lease]);
	q->lease_blk[lease] = DQ_NO_BLOCK;
	q->free_leases[q->nfree++] = lease;
	if (q->room_waiters)
		pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->alloc_lock);
}

void dq_task_resolved(struct dq *q)
{
	/* the last one after dq_close(): idle workers may end now */
	if (atomic_fetch_sub(&q->hdr->unresolved, 1) == 1 &&
	    (atomic_load(&q->hdr->flags) & BQ_CLOSED))
		dq_wake_workers(q, INT_MAX);
}

/* Takes lease back from its dead holder w: into the queue again, or
 * abandoned after max_attempts deliveries. Caller holds collect_lock. */
static void take_back(struct dq *q, uint32_t lease, uint64_t word, uint32_t w)
{
	struct bq_lease *l = &q->leases[lease];
	uint32_t gen = bq_word_gen(word) + 1;
	if (l->attempt >= q->max_attempts) {
		/* FREE with a new gen: no ticket or record matches it; the
		 * entry is recycled once the abandoned result is collected */
		if (!atomic_compare_exchange_strong(
			    &l->word, &word, bq_lease_word(BQ_FREE, 0, gen)))
			return;
		q->abandoned[atomic_load(&q->nabandoned)] =
			(struct dq_abandoned){.lease = lease, .worker = w};
		atomic_fetch_add(&q->nabandoned, 1);
		blog_debug("task queue: task %llu abandoned after %u attempts",
			   (unsigned long long)l->task_id, l->attempt);
		return;
	}
	l->attempt++;
	if (!atomic_compare_exchange_strong(&l->word, &word,
					    bq_lease_word(BQ_QUEUED, 0, gen))) {
		l->attempt--;
		return;
	}
	atomic_fetch_add(&q->st.requeued, 1);
	dq_ring_enqueue(q, lease, gen);
}

static uint32_t take_back_all(struct dq *q, uint32_t w, bool lost_results)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->cap; i++) {
		uint64_t word = atomic_load(&q->leases[i].word);
		uint32_t st = bq_word_state(word);
		if (bq_word_worker(word) != w)
			continue;
		/* DONE leases keep their result, unless the records of a
		 * corrupt ring were dropped */
		if (st == BQ_LEASED || (st == BQ_DONE && lost_results)) {
			take_back(q, i, word, w);
			n++;
		}
	}
	return n;
}

int dq_reclaim(struct dq *q, uint32_t w)
{
	if (w >= q->max_workers)
		return -EINVAL;
	pthread_mutex_lock(&q->collect_lock);
	dq_result_release_pending(q);
	bool lost = q->corrupt[w];
	if (lost) {
		q->tail_seen[w] = atomic_load(&q->workers[w].res_tail);
		dq_result_set_head(q, w, q->tail_seen[w]);
		q->corrupt[w] = false;
	} else {
		dq_result_preaccept(q, w);
	}
	uint32_t abandoned = atomic_load(&q->nabandoned);
	uint32_t n = take_back_all(q, w, lost);
	n += dq_ring_unstick(q);
	/* a collector asleep in dq_collect() has results to return now */
	if (atomic_load(&q->nabandoned) != abandoned &&
	    atomic_load(&q->hdr->result_sleepers))
		bq_futex_bump_wake(&q->hdr->result_futex, INT_MAX);
	/* a worker killed in its sleep is still counted as a sleeper */
	if (atomic_exchange(&q->workers[w].task_sleeping, 0))
		atomic_fetch_sub(&q->hdr->task_sleepers, 1);
	/* ... or was the one woken, and will never pass the wake on. Wake
	 * everyone: sleepers re-count themselves, and the tasks taken back
	 * find a worker */
	atomic_store(&q->hdr->wake_pending, 0);
	bq_futex_bump_wake(&q->hdr->task_futex, INT_MAX);
	atomic_store(&q->workers[w].space_sleepers, 0);
	atomic_store(&q->workers[w].attached, 0);
	pthread_mutex_unlock(&q->collect_lock);
	dq_ring_flush(q);
	blog_debug("task queue: reclaimed worker %u: %u tasks taken back", w,
		   n);
	return (int)n;
}
