/* The audit: what a worker writes in its own region, checked against what
 * a sane worker can write. The coordinator's region is beyond any
 * worker's reach (sealed read-only); a worker's region is its own, so
 * what the audit finds spoils that worker's tasks only: it is marked
 * corrupt, reported once by dq_collect() (-EBADMSG), killed and reclaimed
 * by its caller, and the tasks given to it fail. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "dist/dist-internal.h"

int64_t dq_now_ms(void)
{
	/* the coarse clock, a read of the vDSO page: the audit asks for the
	 * time on every collect, and needs it to a few ms */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dq_mark_corrupt(struct dq *q, uint32_t w, const char *why)
{
	if (atomic_load(&q->corrupt[w]))
		return;
	snprintf(q->wp[w].why, sizeof(q->wp[w].why), "%s", why);
	blog_debug("task queue: worker %u corrupted its region: %s", w, why);
	atomic_fetch_add(&q->st.corrupt, 1);
	atomic_store(&q->corrupt[w], true);
	atomic_store(&q->reported[w], false);
	/* a collector asleep returns it */
	dq_wake_collector(q);
}

/* Worker w's consumer position: at most what was produced, and not more
 * than a ring behind (the coordinator never produces past a full ring). A
 * worker that says it sleeps while tasks wait in its ring for stall_ms
 * has stopped taking them. Caller holds alloc_lock. */
static const char *check_worker(struct dq *q, uint32_t w, int64_t now)
{
	struct dq_wpriv *wp = &q->wp[w];
	if (!wp->outstanding)
		return NULL;
	uint64_t deq = atomic_load(&wp->reg->deq);
	uint64_t behind = wp->prod - deq;
	if ((int64_t)behind < 0)
		return "its ring position is past the coordinator's";
	/* its oldest task still in the ring sets how far back it may be */
	uint64_t oldest = wp->prod;
	for (uint32_t i = 0; i < q->depth; i++) {
		uint32_t l = wp->slot[i];
		if (l != UINT32_MAX && q->lp[l].pos < oldest)
			oldest = q->lp[l].pos;
	}
	if ((int64_t)(deq - oldest) < 0)
		return "its ring position is behind its oldest task";
	bool asleep = atomic_load(&wp->reg->sleeping) && behind;
	if (!asleep) {
		wp->idle_since_ms = 0;
		return NULL;
	}
	if (!wp->idle_since_ms)
		wp->idle_since_ms = now;
	if (now - wp->idle_since_ms >= (int64_t)q->stall_ms)
		return "it sleeps with tasks waiting in its ring";
	return NULL;
}

void dq_audit(struct dq *q)
{
	int64_t now = dq_now_ms();
	if (now - q->last_audit_ms < DQ_AUDIT_MS)
		return;
	q->last_audit_ms = now;
	pthread_mutex_lock(&q->alloc_lock);
	for (uint32_t w = 0; w < q->max_workers; w++) {
		if (atomic_load(&q->corrupt[w]))
			continue;
		const char *why = check_worker(q, w, now);
		if (why)
			dq_mark_corrupt(q, w, why);
	}
	pthread_mutex_unlock(&q->alloc_lock);
}
