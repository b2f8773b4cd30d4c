/* Auditing the queue's shared memory. Workers map all of it read-write,
 * and a worker is not trusted: it may write anything anywhere. The
 * coordinator keeps its own books (dist-internal.h: the header it wrote,
 * its lease records, payload copies, ring positions and tickets, result
 * heads, counts) and compares every few milliseconds:
 * - what the coordinator alone writes (header, flags, counts, result heads,
 *   the words of free leases) is restored when it differs;
 * - a lease in flight whose word, fields or payload are not what the books
 *   say is queued again under a new gen (its old holder's result becomes
 *   stale; the task may run twice, its result counts once);
 * - a lease held by a worker that idles for stall_ms is queued again (a
 *   worker that never took it was named);
 * - a ring that does not hold what the coordinator pushed, or tasks that
 *   wait stall_ms while a worker idles, make the ring start afresh;
 * - when repairs keep being needed and no result comes for three times
 *   stall_ms, the tasks in flight that no worker runs are abandoned with
 *   -EIO: a collector never
 * waits forever on a queue a worker keeps destroying. */
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include "dist/dist-internal.h"

/* the tasks in flight are given up after this many audits that repaired
 * something with no progress between, and GIVE_UP_STALLS * stall_ms
 * without progress */
#define GIVE_UP_ROUNDS 3
#define GIVE_UP_STALLS 3

int64_t dq_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct audit {
	int64_t now;
	uint32_t repairs, waiting;
	bool wake, idle_worker, pending_read;
};

__attribute__((format(printf, 3, 4))) static void
note(struct dq *q, struct audit *a, const char *fmt, ...)
{
	/* the first finding of an audit names what was overwritten */
	if (!a->repairs++) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(q->last_repair, sizeof(q->last_repair), fmt, ap);
		va_end(ap);
		blog_debug("task queue: repaired: %s", q->last_repair);
	}
	a->wake = true;
}

static void restore_header(struct dq *q, struct audit *a)
{
	struct bq_header *h = q->hdr;
	if (memcmp(&h->cfg, &q->cfg, sizeof(q->cfg))) {
		note(q, a, "queue header: configuration overwritten");
		h->cfg = q->cfg;
	}
	uint32_t fl = q->closed ? BQ_CLOSED : 0, cur = atomic_load(&h->flags);
	if (cur != fl) {
		note(q, a, "queue header: flags 0x%x, not 0x%x", cur, fl);
		atomic_store(&h->flags, fl);
	}
	uint64_t un = atomic_load(&q->unresolved);
	uint64_t sh = atomic_load(&h->unresolved);
	if (sh != un) {
		note(q, a, "queue header: %llu tasks unresolved, not %llu",
		     (unsigned long long)sh, (unsigned long long)un);
		atomic_store(&h->unresolved, un);
	}
	if (atomic_load(&h->enq_pos) != q->enq) {
		note(q, a, "queue header: producer position overwritten");
		atomic_store(&h->enq_pos, q->enq);
	}
	uint32_t high = atomic_load(&h->worker_high);
	uint32_t mine = atomic_load(&q->high);
	if (high > q->max_workers || high < mine) {
		note(q, a, "queue header: worker count %u overwritten", high);
		atomic_store(&h->worker_high, mine);
	} else if (high > mine) {
		atomic_store(&q->high, high);
	}
}

static void restore_heads(struct dq *q, struct audit *a)
{
	for (uint32_t w = 0; w < q->max_workers; w++) {
		struct bq_worker *wk = &q->workers[w];
		uint64_t head = atomic_load_explicit(&q->res_head[w],
						     memory_order_relaxed);
		if (atomic_load(&wk->res_head) == head)
			continue;
		note(q, a, "worker %u: result ring head overwritten", w);
		dq_result_set_head(q, w, head);
		/* its worker may sleep for room it believes missing */
		bq_futex_bump_wake(&wk->space_futex, INT_MAX);
	}
}

static bool fields_ok(const struct dq *q, uint32_t i)
{
	const struct dq_lpriv *lp = &q->lp[i];
	const struct bq_lease *l = &q->leases[i];
	return l->task_id == lp->task_id && l->payload_off == lp->payload_off &&
	       l->payload_len == lp->payload_len && l->attempt == lp->attempt &&
	       (!lp->payload_len ||
		!memcmp(q->arena_mem + lp->payload_off,
			q->arena_copy + lp->payload_off, lp->payload_len));
}

static void restore_fields(struct dq *q, uint32_t i)
{
	const struct dq_lpriv *lp = &q->lp[i];
	struct bq_lease *l = &q->leases[i];
	l->task_id = lp->task_id;
	l->payload_off = lp->payload_off;
	l->payload_len = lp->payload_len;
	l->attempt = lp->attempt;
	if (lp->payload_len)
		memcpy(q->arena_mem + lp->payload_off,
		       q->arena_copy + lp->payload_off, lp->payload_len);
}

/* A lease in flight that a worker holds: progress when newly seen; queued
 * again when its holder is gone or idles for stall_ms (it does not run
 * the task: the word was written by someone else). */
static void check_held(struct dq *q, struct audit *a, uint32_t i,
		       uint32_t holder, uint64_t word)
{
	struct dq_lpriv *lp = &q->lp[i];
	if (!lp->taken || lp->holder != holder) {
		lp->taken = true;
		lp->holder = holder;
		lp->idle_since_ms = 0;
		q->progress++;
	}
	if (!fields_ok(q, i)) {
		/* restored, not queued again: its holder read them at take
		 * (a holder that found garbage skipped the task, and idles:
		 * see below) */
		note(q, a, "lease %u: task fields or payload overwritten", i);
		restore_fields(q, i);
	}
	/* attached is no evidence either way (it may be overwritten, and a
	 * dead worker is the pool's to reclaim); idle is: a worker sleeps
	 * for a task only when it holds none. (A worker whose flag was
	 * overwritten sets it again when the audit wakes it: see below.) */
	const struct bq_worker *wk = &q->workers[holder];
	bool idle = atomic_load(&wk->task_sleeping) && !atomic_load(&wk->held);
	if (!idle || bq_word_state(word) == BQ_DONE) {
		lp->idle_since_ms = 0;
		return;
	}
	if (!lp->idle_since_ms) {
		lp->idle_since_ms = a->now;
		return;
	}
	if (a->now - lp->idle_since_ms < q->stall_ms)
		return;
	note(q, a, "lease %u: held by worker %u, which idles", i, holder);
	dq_lease_requeue_locked(q, i);
}

/* True when the ticket of lease i waits in the ring, unclaimed. The
 * ring is read once an audit, into q->pending (the tickets it holds). */
static bool ticket_pending(struct dq *q, struct audit *a, uint32_t i)
{
	if (!a->pending_read) {
		a->pending_read = true;
		memset(q->pending, 0, q->cap * sizeof(*q->pending));
		uint64_t deq = atomic_load(&q->hdr->deq_pos);
		for (uint32_t k = 0; k < q->cap; k++) {
			uint64_t seq = atomic_load(&q->ring[k].seq);
			uint64_t t = q->slot_ticket[k];
			if (seq - 1 >= deq && seq - 1 < q->enq &&
			    ((seq - 1) & q->mask) == k &&
			    bq_ticket_lease(t) < q->cap)
				q->pending[bq_ticket_lease(t)] = t;
		}
	}
	return q->pending[i] == bq_ticket(i, q->lp[i].gen);
}

/* The word of lease i in flight was overwritten. What the books know is
 * put back: the holder seen last (its task runs on, its result counts),
 * or QUEUED when the ticket still waits in the ring. A lease taken since
 * the last audit by a worker not known yet is left alone for stall_ms
 * (its holder's result is accepted from the books meanwhile), then queued
 * again. */
static void restore_word(struct dq *q, struct audit *a, uint32_t i, uint64_t w)
{
	struct dq_lpriv *lp = &q->lp[i];
	struct bq_lease *l = &q->leases[i];
	/* once, not at every audit that waits for the timer */
	if (lp->taken || !lp->idle_since_ms)
		note(q, a,
		     "lease %u: word 0x%llx, not queued at gen %u nor held at "
		     "gen %u",
		     i, (unsigned long long)w, lp->gen, lp->gen + 1);
	if (lp->taken) {
		atomic_store(&l->word,
			     bq_lease_word(BQ_LEASED, lp->holder, lp->gen + 1));
		return;
	}
	if (ticket_pending(q, a, i)) {
		atomic_store(&l->word, bq_lease_word(BQ_QUEUED, 0, lp->gen));
		a->waiting++;
		return;
	}
	if (!lp->idle_since_ms) {
		lp->idle_since_ms = a->now;
		return;
	}
	if (a->now - lp->idle_since_ms >= q->stall_ms) {
		note(q, a,
		     "lease %u: no result %u ms after its word was "
		     "overwritten",
		     i, q->stall_ms);
		dq_lease_requeue_locked(q, i);
		a->waiting++;
	}
}

static void check_leases(struct dq *q, struct audit *a)
{
	for (uint32_t i = 0; i < q->cap; i++) {
		struct dq_lpriv *lp = &q->lp[i];
		uint64_t w = atomic_load(&q->leases[i].word);
		if (lp->state != DQ_LP_QUEUED) {
			uint64_t want = bq_lease_word(BQ_FREE, 0, lp->gen);
			if (w != want) {
				note(q, a,
				     "lease %u: word 0x%llx on a free "
				     "entry",
				     i, (unsigned long long)w);
				atomic_store(&q->leases[i].word, want);
			}
			continue;
		}
		uint32_t holder;
		if (!dq_word_valid(q, i, w, &holder) ||
		    (holder != UINT32_MAX && lp->taken &&
		     holder != lp->holder)) {
			restore_word(q, a, i, w);
		} else if (holder == UINT32_MAX) {
			if (!fields_ok(q, i)) {
				note(q, a,
				     "lease %u: task fields or payload "
				     "overwritten",
				     i);
				dq_lease_requeue_locked(q, i);
			}
			a->waiting++;
		} else {
			check_held(q, a, i, holder, w);
		}
	}
}

static void look_for_idle(struct dq *q, struct audit *a)
{
	uint32_t n = atomic_load(&q->high);
	for (uint32_t w = 0; w < n && w < q->max_workers; w++)
		if (atomic_load(&q->workers[w].attached) &&
		    atomic_load(&q->workers[w].task_sleeping))
			a->idle_worker = true;
}

/* True when lease i is held, by the books and the word, by a worker that
 * does not idle: it runs the task, which may take hours. */
static bool running(struct dq *q, uint32_t i)
{
	const struct dq_lpriv *lp = &q->lp[i];
	uint32_t holder;
	if (!lp->taken ||
	    !dq_word_valid(q, i, atomic_load(&q->leases[i].word), &holder) ||
	    holder != lp->holder)
		return false;
	const struct bq_worker *wk = &q->workers[holder];
	return !atomic_load(&wk->task_sleeping) || atomic_load(&wk->held);
}

/* Abandons with -EIO every task in flight that no worker runs. */
static void give_up(struct dq *q)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < q->cap; i++) {
		struct dq_lpriv *lp = &q->lp[i];
		if (lp->state != DQ_LP_QUEUED || running(q, i))
			continue;
		dq_lease_abandon(q, i, lp->taken ? lp->holder : UINT32_MAX,
				 -EIO);
		n++;
	}
	atomic_fetch_add(&q->st.given_up, n);
	size_t len = strlen(q->last_repair);
	snprintf(q->last_repair + len, sizeof(q->last_repair) - len,
		 "; no progress: gave up on %u task%s", n, n == 1 ? "" : "s");
}

static void audit_locked(struct dq *q, struct audit *a)
{
	char why[128];
	restore_header(q, a);
	restore_heads(q, a);
	check_leases(q, a);
	if (!dq_ring_sane(q, why, sizeof(why))) {
		note(q, a, "%s", why);
		dq_ring_reset_locked(q);
	}
	if (q->progress != q->progress_seen) {
		q->progress_seen = q->progress;
		q->last_progress_ms = a->now;
	}
	/* results are the progress that counts against giving up: tasks
	 * taken again and again without a result are none */
	uint64_t results =
		atomic_load(&q->st.completed) + atomic_load(&q->st.abandoned);
	if (results != q->results_seen) {
		q->results_seen = results;
		q->last_result_ms = a->now;
		q->bad_rounds = 0;
	}
	bool stuck = a->now - q->last_progress_ms >= q->stall_ms;
	look_for_idle(q, a);
	if (stuck && a->waiting && a->idle_worker) {
		/* tickets lost in a ring that looks sane, or wakes lost */
		note(q, a,
		     "no progress for %u ms while %u tasks wait and a "
		     "worker idles",
		     q->stall_ms, a->waiting);
		dq_ring_reset_locked(q);
		q->last_progress_ms = a->now;
	}
	/* no progress with tasks in flight: every stall_ms, wake the
	 * workers, so that a sleeper whose flags were overwritten says
	 * again that it idles (and one that missed a wake looks again) */
	if (stuck && atomic_load(&q->unresolved) &&
	    a->now - q->last_stuck_wake_ms >= q->stall_ms) {
		q->last_stuck_wake_ms = a->now;
		a->wake = true;
	}
	if (a->repairs) {
		q->last_repair_ms = a->now;
		atomic_fetch_add(&q->st.repairs, 1);
		/* the tasks queued again at stall_ms had stall_ms more to
		 * make progress */
		if (++q->bad_rounds >= GIVE_UP_ROUNDS &&
		    a->now - q->last_result_ms >= GIVE_UP_STALLS * q->stall_ms)
			give_up(q);
	}
}

bool dq_audit_found_recently(struct dq *q)
{
	q->last_audit_ms = 0;
	dq_audit(q);
	return q->last_repair_ms &&
	       dq_now_ms() - q->last_repair_ms <= (int64_t)q->stall_ms;
}

void dq_audit(struct dq *q)
{
	struct audit a = {.now = dq_now_ms()};
	if (a.now - q->last_audit_ms < DQ_AUDIT_MS)
		return;
	q->last_audit_ms = a.now;
	pthread_mutex_lock(&q->alloc_lock);
	audit_locked(q, &a);
	pthread_mutex_unlock(&q->alloc_lock);
	if (!a.wake)
		return;
	/* every worker looks at the ring again; sleepers re-count */
	atomic_store(&q->hdr->wake_pending, 0);
	bq_futex_bump_wake(&q->hdr->task_futex, INT_MAX);
}
