/* The lease table: one entry per task in flight, saying who holds it.
 * Here the coordinator hands leases out at submission, takes them back
 * when a result is collected, and takes back those of a dead worker.
 *
 * The shared entries are what workers see and CAS; the coordinator's own
 * records (q->lp) are the truth they are checked against: a worker can
 * write any word into any entry, and the worst it achieves is that a task
 * runs again. */
#include <limits.h>
#include <string.h>

#include "dist/dist-internal.h"

int dq_lease_alloc(struct dq *q, uint64_t len, int timeout_ms, uint32_t *lease,
		   uint64_t *off)
{
	struct timespec ts, *deadline = dq_deadline(&ts, timeout_ms);
	int r;
	pthread_mutex_lock(&q->alloc_lock);
	for (;;) {
		uint64_t blk = DQ_NO_BLOCK;
		if (q->closed)
			r = -EPIPE;
		else if (!q->nfree)
			r = -EAGAIN;
		else
			r = dq_arena_alloc(&q->arena, len, off, &blk);
		if (r == 0) {
			*lease = q->free_leases[--q->nfree];
			q->lease_blk[*lease] = blk;
			return 0; /* alloc_lock stays held */
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

void dq_lease_release_locked(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (lp->state == DQ_LP_FREE)
		return; /* never twice: the free stack holds cap entries */
	lp->state = DQ_LP_FREE;
	lp->gen += 2;
	/* a new gen no ticket or record names */
	atomic_store(&q->leases[lease].word,
		     bq_lease_word(BQ_FREE, 0, lp->gen));
	dq_arena_free(&q->arena, q->lease_blk[lease]);
	q->lease_blk[lease] = DQ_NO_BLOCK;
	q->free_leases[q->nfree++] = lease;
	if (q->room_waiters)
		pthread_cond_broadcast(&q->room);
}

void dq_task_resolved(struct dq *q)
{
	uint64_t left = atomic_fetch_sub(&q->unresolved, 1) - 1;
	/* the shared count is the workers' copy: rewritten, not trusted */
	atomic_store(&q->hdr->unresolved, left);
	/* the last one after dq_close(): idle workers may end now */
	if (left == 0 && q->closed)
		dq_wake_workers(q, INT_MAX);
}

bool dq_word_valid(const struct dq *q, uint32_t lease, uint64_t w,
		   uint32_t *holder)
{
	const struct dq_lpriv *lp = &q->lp[lease];
	uint32_t st = bq_word_state(w), who = bq_word_worker(w);
	*holder = UINT32_MAX;
	if (w == bq_lease_word(BQ_QUEUED, 0, lp->gen))
		return true;
	if ((st == BQ_LEASED || st == BQ_DONE) && who < q->max_workers &&
	    bq_word_gen(w) == lp->gen + 1) {
		*holder = who;
		return true;
	}
	return false;
}

void dq_lease_requeue_locked(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	struct bq_lease *l = &q->leases[lease];
	lp->gen += 2;
	lp->taken = false;
	lp->holder = UINT32_MAX;
	lp->idle_since_ms = 0;
	/* the worker reads these after its CAS: rewritten from the books,
	 * whatever was written over them */
	l->task_id = lp->task_id;
	l->payload_off = lp->payload_off;
	l->payload_len = lp->payload_len;
	l->attempt = lp->attempt;
	if (lp->payload_len &&
	    memcmp(q->arena_mem + lp->payload_off,
		   q->arena_copy + lp->payload_off, lp->payload_len))
		memcpy(q->arena_mem + lp->payload_off,
		       q->arena_copy + lp->payload_off, lp->payload_len);
	/* release: the fields and the payload are visible to the worker
	 * whose CAS reads this word */
	atomic_store_explicit(&l->word, bq_lease_word(BQ_QUEUED, 0, lp->gen),
			      memory_order_release);
	dq_ring_enqueue_locked(q, lease);
}

void dq_lease_abandon(struct dq *q, uint32_t lease, uint32_t worker, int error)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (lp->state != DQ_LP_QUEUED)
		return;
	lp->state = DQ_LP_ABANDONED;
	lp->gen += 2;
	/* FREE with a new gen: no ticket or record matches it; the entry is
	 * recycled once the abandoned result is collected */
	atomic_store(&q->leases[lease].word,
		     bq_lease_word(BQ_FREE, 0, lp->gen));
	uint32_t n = atomic_load(&q->nabandoned);
	q->abandoned[n] = (struct dq_abandoned){
		.lease = lease, .worker = worker, .error = error};
	atomic_store(&q->nabandoned, n + 1);
	blog_debug("task queue: task %llu abandoned after %u attempts (%s)",
		   (unsigned long long)lp->task_id, lp->attempt,
		   strerror(-error));
}

/* Takes lease back from its dead holder w: into the queue again, or
 * abandoned after max_attempts deliveries (at once when w corrupted the
 * queue). Caller holds both locks. */
static void take_back(struct dq *q, uint32_t lease, uint32_t w, bool corrupt)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (corrupt) {
		dq_lease_abandon(q, lease, w, -EBADMSG);
		return;
	}
	if (lp->attempt >= q->max_attempts) {
		dq_lease_abandon(q, lease, w, -EOWNERDEAD);
		return;
	}
	lp->attempt++;
	atomic_fetch_add(&q->st.requeued, 1);
	dq_lease_requeue_locked(q, lease);
}

static uint32_t take_back_all(struct dq *q, uint32_t w, bool lost_results)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->cap; i++) {
		if (q->lp[i].state != DQ_LP_QUEUED)
			continue; /* not in flight: whatever the word says */
		uint64_t word = atomic_load(&q->leases[i].word);
		uint32_t holder;
		if (!dq_word_valid(q, i, word, &holder) || holder != w)
			continue;
		/* DONE leases keep their result, unless the records of a
		 * corrupt ring were dropped */
		if (bq_word_state(word) == BQ_LEASED ||
		    (bq_word_state(word) == BQ_DONE && lost_results)) {
			take_back(q, i, w, lost_results);
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
		/* the ring starts empty for a successor: the dead worker
		 * writes no more */
		atomic_store(&q->workers[w].res_tail, 0);
		q->tail_seen[w] = 0;
		dq_result_set_head(q, w, 0);
		q->corrupt[w] = false;
	} else {
		dq_result_preaccept(q, w);
	}
	pthread_mutex_lock(&q->alloc_lock);
	uint32_t abandoned = atomic_load(&q->nabandoned);
	uint32_t n = take_back_all(q, w, lost);
	n += dq_ring_unstick_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
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
	atomic_store(&q->workers[w].held, 0);
	atomic_store(&q->workers[w].attached, 0);
	pthread_mutex_unlock(&q->collect_lock);
	dq_ring_flush(q);
	blog_debug("task queue: reclaimed worker %u: %u tasks taken back", w,
		   n);
	return (int)n;
}
