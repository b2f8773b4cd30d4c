/* Giving tasks to workers: each worker has its own ring in the queue
 * region, which the coordinator alone writes. Tasks wait in a private
 * list until a worker's ring has room; a ring holds a few tasks (fewer as
 * the queue drains, so that no worker sits on tasks another could run)
 * and is refilled as results come back. */
#include <limits.h>
#include <string.h>

#include "dist/dist-internal.h"

void dq_wait_add_locked(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	lp->state = DQ_LP_WAITING;
	lp->holder = DQ_NO_WORKER;
	/* at most cap leases exist, so the list never overflows */
	q->waiting[(q->wait_head + q->nwaiting) % q->cap] = lease;
	q->nwaiting++;
	atomic_store_explicit(&q->waiting_hint, q->nwaiting,
			      memory_order_relaxed);
}

bool dq_worker_usable(struct dq *q, uint32_t w)
{
	const struct dq_wpriv *wp = &q->wp[w];
	return wp->reg &&
	       atomic_load_explicit(&wp->reg->attached, memory_order_relaxed) &&
	       !atomic_load_explicit(&q->corrupt[w], memory_order_relaxed);
}

/* Publishes lease in worker w's ring at its producer position. */
static void give(struct dq *q, uint32_t w, uint32_t lease)
{
	struct dq_wpriv *wp = &q->wp[w];
	struct dq_lpriv *lp = &q->lp[lease];
	uint64_t pos = wp->prod;
	lp->state = DQ_LP_GIVEN;
	lp->holder = w;
	lp->pos = pos;
	lp->gen++;
	struct bq_task *t = &q->tasks[lease];
	/* rewritten only once its last holder answered it or was reclaimed:
	 * a reader still holding an older ticket finds gen moved on, and a
	 * result it sends is stale */
	if (lp->count) {
		dq_chunk_publish(q, lease, t);
	} else {
		t->task_id = lp->task_id;
		t->payload_off = lp->payload_off;
		t->payload_len = lp->payload_len;
		t->count = 0;
	}
	t->attempt = lp->attempt;
	atomic_store_explicit(&t->gen, lp->gen, memory_order_release);
	struct bq_entry *e =
		&q->rings[(uint64_t)w * q->depth + (pos & (q->depth - 1))];
	atomic_store_explicit(&e->ticket, bq_ticket(lease, lp->gen),
			      memory_order_relaxed);
	/* release: the task and the ticket are visible with the position */
	atomic_store_explicit(&e->pos, pos, memory_order_release);
	wp->slot[pos & (q->depth - 1)] = lease;
	wp->outstanding++;
	wp->prod = pos + 1;
	q->given++;
	dq_count(&q->st.dispatched);
	/* seq_cst: publish, then look for the worker's sleep flag */
	atomic_store(&q->ctl[w].prod, pos + 1);
}

/* The worker with room in its ring and the fewest tasks, or UINT32_MAX
 * when none holds fewer than limit. */
static uint32_t pick(struct dq *q, uint32_t limit, uint32_t *usable)
{
	uint32_t best = UINT32_MAX, fewest = limit, n = 0;
	for (uint32_t w = 0; w < q->max_workers; w++) {
		if (!dq_worker_usable(q, w))
			continue;
		n++;
		struct dq_wpriv *wp = &q->wp[w];
		if (wp->outstanding >= fewest ||
		    wp->slot[wp->prod & (q->depth - 1)] != UINT32_MAX)
			continue;
		best = w;
		fewest = wp->outstanding;
	}
	if (usable)
		*usable = n;
	return best;
}

void dq_dispatch_locked(struct dq *q)
{
	uint32_t usable = 0;
	if (!q->nwaiting)
		return;
	pick(q, 0, &usable);
	if (!usable)
		return; /* no worker attached yet: the tasks wait */
	uint32_t first = UINT32_MAX, last = 0, limit = 0;
	bool chunked = false;
	while (q->nwaiting) {
		/* guided: a ring holds at most its worker's share of what
		 * is left, between 2 (the next task is there when one
		 * ends) and depth; pick() spreads them evenly */
		uint64_t left = q->nwaiting + q->given;
		uint64_t share = (left + usable - 1) / usable;
		limit = share < 2	   ? 2
			: share > q->depth ? q->depth
					   : (uint32_t)share;
		uint32_t w = pick(q, limit, NULL);
		if (w == UINT32_MAX)
			break;
		uint32_t lease = q->waiting[q->wait_head];
		q->wait_head = (q->wait_head + 1) % q->cap;
		q->nwaiting--;
		atomic_store_explicit(&q->waiting_hint, q->nwaiting,
				      memory_order_relaxed);
		give(q, w, lease);
		chunked |= q->lp[lease].count > 1;
		first = w < first ? w : first;
		last = w > last ? w : last;
	}
	/* one look at each sleep flag after the whole batch (the flag is on
	 * a line the worker writes rarely); a sleeping worker is woken at
	 * once for a full batch, else when the collector is about to wait:
	 * a wake-up a task costs more than the task */
	for (uint32_t w = first; w <= last && first != UINT32_MAX; w++) {
		struct dq_wpriv *wp = &q->wp[w];
		if (wp->outstanding >= DQ_WAKE_BATCH ||
		    wp->outstanding >= limit || chunked)
			dq_wake_worker(q, w, false);
		else
			wp->wake_due = true;
	}
}

void dq_wake_due_locked(struct dq *q)
{
	for (uint32_t w = 0; w < q->max_workers; w++)
		if (q->wp[w].wake_due) {
			q->wp[w].wake_due = false;
			dq_wake_worker(q, w, false);
		}
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
	/* returns with alloc_lock held */
	int r = dq_lease_alloc(q, len, timeout_ms, &lease, &off);
	if (r < 0)
		return r;
	if (len)
		memcpy(q->arena_mem + off, payload, len);
	uint64_t tid =
		atomic_fetch_add_explicit(&q->next_id, 1, memory_order_relaxed);
	struct dq_lpriv *lp = &q->lp[lease];
	*lp = (struct dq_lpriv){
		.task_id = tid,
		.payload_off = off,
		.payload_len = (uint32_t)len,
		.attempt = 1,
		.gen = lp->gen,
	};
	atomic_fetch_add(&q->unresolved, 1);
	atomic_store(&q->hdr->unresolved, atomic_load(&q->unresolved));
	dq_wait_add_locked(q, lease);
	dq_dispatch_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
	if (id)
		*id = tid;
	return 0;
}

bool dq_dispatch_possible(struct dq *q)
{
	if (!atomic_load_explicit(&q->waiting_hint, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&q->alloc_lock);
	bool yes = false;
	if (q->nwaiting)
		for (uint32_t w = 0; w < q->max_workers && !yes; w++)
			yes = dq_worker_usable(q, w) &&
			      q->wp[w].outstanding < q->depth &&
			      q->wp[w].slot[q->wp[w].prod & (q->depth - 1)] ==
				      UINT32_MAX;
	pthread_mutex_unlock(&q->alloc_lock);
	return yes;
}
