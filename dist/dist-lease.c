/* Leases: one per task in flight. The coordinator hands them out at
 * submission, gives them to a worker's ring, takes them back when a
 * result is collected or its worker died.
 *
 * The coordinator's records (q->lp) are the truth; the shared entries
 * (struct bq_task) are their read-only copy for workers, which no worker
 * can write. */
#include <limits.h>
#include <string.h>

#include "dist/dist-internal.h"

int dq_lease_alloc(struct dq *q, uint64_t len, int timeout_ms, uint32_t *lease,
		   uint64_t *off)
{
	/* the clock is read once there is no room, not for every task */
	struct timespec ts, *deadline = NULL;
	bool timed = false;
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
		if (r != -EAGAIN || timeout_ms == 0)
			break;
		if (!timed) {
			deadline = dq_deadline(&ts, timeout_ms);
			timed = true;
		} else if (dq_deadline_passed(deadline)) {
			break;
		}
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

/* Takes lease out of its worker's ring (the entry may be reused). */
static void ungive(struct dq *q, struct dq_lpriv *lp, uint32_t lease)
{
	if (lp->state != DQ_LP_GIVEN || lp->holder >= q->max_workers)
		return;
	struct dq_wpriv *wp = &q->wp[lp->holder];
	uint32_t *slot = &wp->slot[lp->pos & (q->depth - 1)];
	if (*slot == lease)
		*slot = UINT32_MAX;
	wp->outstanding--;
	q->given--;
	lp->holder = DQ_NO_WORKER;
}

void dq_lease_release_locked(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (lp->state == DQ_LP_FREE)
		return; /* never twice: the free stack holds cap entries */
	ungive(q, lp, lease);
	lp->state = DQ_LP_FREE;
	/* a new gen no ticket or record names */
	lp->gen++;
	atomic_store_explicit(&q->tasks[lease].gen, lp->gen,
			      memory_order_relaxed);
	dq_arena_free(&q->arena, q->lease_blk[lease]);
	q->lease_blk[lease] = DQ_NO_BLOCK;
	q->free_leases[q->nfree++] = lease;
	if (q->room_waiters)
		pthread_cond_broadcast(&q->room);
}

void dq_tasks_resolved(struct dq *q, uint64_t n)
{
	uint64_t left = atomic_fetch_sub(&q->unresolved, n) - n;
	atomic_store(&q->hdr->unresolved, left);
	/* the last one after dq_close(): idle workers may end now */
	if (left == 0 && q->closed)
		for (uint32_t i = 0; i < q->max_workers; i++)
			dq_wake_worker(q, i, true);
}

void dq_wake_collector(struct dq *q)
{
	if (atomic_load(&q->hdr->collecting))
		bq_futex_bump_wake(&q->hdr->collect_futex, INT_MAX);
}

void dq_abandoned_push(struct dq *q, const struct dq_abandoned *a)
{
	uint32_t n = atomic_load(&q->nabandoned);
	if (n == q->abandoned_cap) {
		q->abandoned_cap *= 2;
		q->abandoned = base_realloc(q->abandoned, q->abandoned_cap,
					    sizeof(*q->abandoned));
	}
	q->abandoned[n] = *a;
	atomic_store(&q->nabandoned, n + 1);
}

void dq_lease_abandon(struct dq *q, uint32_t lease, uint32_t worker, int error)
{
	struct dq_lpriv *lp = &q->lp[lease];
	if (lp->state != DQ_LP_GIVEN && lp->state != DQ_LP_WAITING)
		return;
	ungive(q, lp, lease);
	lp->state = DQ_LP_ABANDONED;
	lp->gen++;
	atomic_store_explicit(&q->tasks[lease].gen, lp->gen,
			      memory_order_relaxed);
	dq_abandoned_push(q, &(struct dq_abandoned){.lease = lease,
						    .worker = worker,
						    .error = error,
						    .index = DQ_NO_TASK});
	blog_debug("task queue: task %llu abandoned after %u attempts (%s)",
		   (unsigned long long)lp->task_id, lp->attempt,
		   strerror(-error));
}

/* Takes lease back from its dead holder w: to the waiting list again, or
 * abandoned after max_attempts deliveries (a chunk: the tasks of it
 * without a result). A task w never took (by its
 * own position) is no delivery. A task of a worker that corrupted its
 * region fails with it (-EBADMSG), unless that worker had not taken it:
 * it then runs elsewhere, once at most (the position may be a lie: the
 * task then runs twice, a task of the vandal's own, never another's).
 * Caller holds both locks. */
static void take_back(struct dq *q, uint32_t lease, uint32_t w, bool corrupt,
		      uint64_t deq)
{
	struct dq_lpriv *lp = &q->lp[lease];
	bool taken = (int64_t)(deq - lp->pos) > 0;
	if (corrupt && (taken || lp->moved)) {
		dq_lease_abandon(q, lease, w, -EBADMSG);
		return;
	}
	if (lp->count) {
		ungive(q, lp, lease);
		lp->moved |= corrupt;
		dq_chunk_take_back(q, lease, w, taken);
		return;
	}
	if (taken && lp->attempt >= q->max_attempts) {
		dq_lease_abandon(q, lease, w, -EOWNERDEAD);
		return;
	}
	ungive(q, lp, lease);
	if (corrupt)
		lp->moved = true;
	if (taken) {
		lp->attempt++;
		atomic_fetch_add(&q->st.requeued, 1);
	}
	dq_wait_add_locked(q, lease);
}

/* Worker w's position as far as the coordinator can believe it: between
 * its oldest task still given and what was produced. */
static uint64_t believed_position(struct dq *q, uint32_t w)
{
	struct dq_wpriv *wp = &q->wp[w];
	uint64_t deq = atomic_load(&wp->reg->deq), oldest = wp->prod;
	for (uint32_t i = 0; i < q->depth; i++) {
		uint32_t l = wp->slot[i];
		if (l != UINT32_MAX && (int64_t)(q->lp[l].pos - oldest) < 0)
			oldest = q->lp[l].pos;
	}
	if ((int64_t)(deq - oldest) < 0)
		return oldest;
	if ((int64_t)(deq - wp->prod) > 0)
		return wp->prod;
	return deq;
}

static uint32_t take_back_all(struct dq *q, uint32_t w, bool lost_results)
{
	uint32_t n = 0;
	uint64_t deq = believed_position(q, w);
	for (uint32_t i = 0; i < q->cap; i++) {
		struct dq_lpriv *lp = &q->lp[i];
		/* what it published before it died was taken already
		 * (dq_result_stash_dead), unless its ring was corrupt */
		if (lp->state != DQ_LP_GIVEN || lp->holder != w)
			continue;
		take_back(q, i, w, lost_results, deq);
		n++;
	}
	return n;
}

/* The region starts afresh for a successor with the same id: its ring
 * position where the coordinator's is, nothing held, not attached. */
static void reset_region(struct dq *q, uint32_t w, bool lost)
{
	struct dq_wpriv *wp = &q->wp[w];
	struct bq_worker *r = wp->reg;
	if (lost) {
		atomic_store(&r->res_tail, 0);
		q->tail_seen[w] = 0;
		dq_result_set_head(q, w, 0);
		atomic_store(&q->corrupt[w], false);
		atomic_store(&q->reported[w], false);
		wp->salvage = DQ_SALVAGE_NONE;
	}
	atomic_store(&r->deq, wp->prod);
	atomic_store(&r->sleeping, 0);
	atomic_store(&r->space_sleepers, 0);
	atomic_store(&r->held, 0);
	atomic_store(&r->attached, 0);
	wp->idle_since_ms = 0;
	/* the coordinator's line, whatever was written over it */
	dq_region_head(q, w);
}

int dq_reclaim(struct dq *q, uint32_t w)
{
	if (w >= q->max_workers)
		return -EINVAL;
	if (!q->wp[w].reg)
		return 0;
	pthread_mutex_lock(&q->collect_lock);
	dq_result_release_pending(q);
	bool lost = atomic_load(&q->corrupt[w]);
	uint32_t stashed = atomic_load(&q->nstash);
	if (!lost)
		dq_result_stash_dead(q, w);
	pthread_mutex_lock(&q->alloc_lock);
	uint32_t abandoned = atomic_load(&q->nabandoned);
	uint32_t n = take_back_all(q, w, lost);
	reset_region(q, w, lost);
	dq_dispatch_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
	/* a collector asleep in dq_collect() has results to return now */
	if (atomic_load(&q->nabandoned) != abandoned ||
	    atomic_load(&q->nstash) != stashed)
		dq_wake_collector(q);
	pthread_mutex_unlock(&q->collect_lock);
	blog_debug("task queue: reclaimed worker %u: %u tasks taken back", w,
		   n);
	return (int)n;
}
