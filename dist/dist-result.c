/* Collecting results: each worker publishes records in its own ring; the
 * coordinator checks every record against the lease table (the result of a
 * worker that lost its lease is dropped) and hands out a view of the
 * bytes, released on the next call. Records come from worker memory, so
 * every field is checked before use. */
#include <string.h>

#include "dist/dist-internal.h"

static uint8_t *ring_of(struct dq *q, uint32_t w)
{
	return q->wp[w].results;
}

void dq_result_set_head(struct dq *q, uint32_t w, uint64_t head)
{
	struct bq_wctl *c = &q->ctl[w];
	atomic_store_explicit(&q->res_head[w], head, memory_order_relaxed);
	/* seq_cst: publish the space, then look for a worker waiting on it
	 * (its own flag: a worker that lies gets woken, or not, itself) */
	atomic_store(&c->res_head, head);
	if (atomic_load(&q->wp[w].reg->space_sleepers)) {
		bq_futex_bump_wake(&c->space_futex, 1);
		atomic_fetch_add_explicit(&q->st.wakes, 1,
					  memory_order_relaxed);
	}
}

void dq_result_release_pending(struct dq *q)
{
	free(q->stash_out);
	q->stash_out = NULL;
	if (q->pending_worker < 0)
		return;
	dq_result_set_head(q, (uint32_t)q->pending_worker, q->pending_head);
	q->pending_worker = -1;
}

/* A run (more than one task) is the queue's to allow, and is of tasks
 * that succeeded with no bytes: anything else does not parse. */
static bool record_ok(const struct dq *q, const struct bq_record *rec,
		      uint32_t off, uint64_t avail)
{
	return rec->size >= sizeof(*rec) && rec->size % 8 == 0 &&
	       rec->size <= avail && rec->size <= q->result_size - off &&
	       rec->len <= rec->size - sizeof(*rec) && rec->lease < q->cap &&
	       (rec->count <= 1 || (q->runs && rec->count <= BQ_RUN_MAX &&
				    rec->len == 0 && rec->status == 0));
}

/* Reads the record at *head of ring w into *rec (*at: its offset),
 * stepping over wrap markers. Returns 1, 0 when the ring is empty,
 * -EBADMSG when the published count is impossible, or -EPROTO when a
 * record is. */
static int peek_record(struct dq *q, uint32_t w, uint64_t *head, uint64_t tail,
		       struct bq_record *rec, uint32_t *at)
{
	const uint8_t *ring = ring_of(q, w);
	for (;;) {
		/* a tail behind the head is no publication (the worker
		 * republishes its own count with its next record) */
		if ((int64_t)(tail - *head) <= 0)
			return 0;
		uint64_t avail = tail - *head;
		if (avail > q->result_size)
			return -EBADMSG;
		uint32_t off = (uint32_t)(*head & (q->result_size - 1));
		uint32_t size;
		memcpy(&size, ring + off, sizeof(size));
		if (size == BQ_REC_WRAP) {
			uint32_t skip = q->result_size - off;
			if (off == 0 || skip > avail)
				return -EPROTO;
			*head += skip;
			continue;
		}
		if (q->result_size - off < sizeof(*rec))
			return -EPROTO;
		memcpy(rec, ring + off, sizeof(*rec));
		if (!record_ok(q, rec, off, avail))
			return -EPROTO;
		*at = off;
		return 1;
	}
}

/* Worker w's published result count. Its line is read only when the
 * records seen are used up. */
static uint64_t published(struct dq *q, uint32_t w, uint64_t head)
{
	uint64_t tail = q->tail_seen[w];
	if ((int64_t)(tail - head) <= 0) {
		tail = atomic_load_explicit(&q->wp[w].reg->res_tail,
					    memory_order_acquire);
		q->tail_seen[w] = tail;
	}
	return tail;
}

/* True when the record answers a task the coordinator gave worker w, as
 * its books have it (same task, the gen of the ticket it got). Caller
 * holds alloc_lock. */
static bool record_matches(struct dq *q, uint32_t w,
			   const struct bq_record *rec)
{
	const struct dq_lpriv *lp = &q->lp[rec->lease];
	return lp->state == DQ_LP_GIVEN && lp->holder == w && !lp->count &&
	       lp->task_id == rec->task_id && rec->gen == lp->gen &&
	       dq_record_tasks(rec) == 1;
}

static void fill(struct dq *q, uint32_t w, const struct bq_record *rec,
		 uint32_t at, struct dq_result *res)
{
	*res = (struct dq_result){
		.task_id = rec->task_id,
		.chunk_id = rec->task_id,
		.status = rec->status,
		.worker = w,
		.attempts = q->lp[rec->lease].attempt,
		.data = rec->len ? ring_of(q, w) + at + sizeof(*rec) : NULL,
		.len = rec->len,
		.count = dq_record_tasks(rec),
	};
}

/* The result counts once: the task leaves the books here (a single task
 * with its lease; a chunk's, its bit, and the lease with its last).
 * *freed tells that a lease was. Caller holds alloc_lock. */
static bool accept_locked(struct dq *q, uint32_t w, const struct bq_record *rec,
			  uint32_t at, struct dq_result *res, bool *freed)
{
	if (!q->lp[rec->lease].count) {
		if (!record_matches(q, w, rec))
			return false;
		fill(q, w, rec, at, res);
		dq_lease_release_locked(q, rec->lease);
		*freed = true;
		return true;
	}
	uint32_t k = dq_chunk_match(q, w, rec);
	if (k == DQ_NO_TASK)
		return false;
	fill(q, w, rec, at, res);
	res->chunk_id = q->lp[rec->lease].task_id;
	res->index = k;
	*freed |= dq_chunk_answer(q, rec->lease, k, res->count);
	return true;
}

/* Takes the results that count, up to n, and leaves the books. */
static bool accept(struct dq *q, uint32_t w, const struct bq_record *rec,
		   uint32_t at, struct dq_result *res)
{
	bool freed = false;
	pthread_mutex_lock(&q->alloc_lock);
	bool ok = accept_locked(q, w, rec, at, res, &freed);
	if (ok)
		dq_tasks_resolved(q, res->count);
	/* its ring has room again */
	if (freed)
		dq_dispatch_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
	return ok;
}

static void drop_stale(struct dq *q, uint32_t w, const struct bq_record *rec)
{
	blog_debug("task queue: worker %u: result for lease %u gen %u task "
		   "%llu dropped: stale",
		   w, rec->lease, rec->gen, (unsigned long long)rec->task_id);
	dq_count(&q->st.stale);
}

/* Takes up to n acceptable records of ring w, under one lock. Returns how
 * many, or 0 (none; the ring may now be ignored). */
static int take_from(struct dq *q, uint32_t w, struct dq_result *res,
		     unsigned n)
{
	uint64_t head =
		atomic_load_explicit(&q->res_head[w], memory_order_relaxed);
	uint64_t start = head;
	struct bq_record rec;
	uint32_t at;
	unsigned got = 0;
	uint64_t tasks = 0;
	bool freed = false;
	int r = 0;
	pthread_mutex_lock(&q->alloc_lock);
	while (got < n && (r = peek_record(q, w, &head, published(q, w, head),
					   &rec, &at)) > 0) {
		if (accept_locked(q, w, &rec, at, &res[got], &freed))
			tasks += res[got++].count;
		else
			drop_stale(q, w, &rec);
		head += rec.size;
	}
	if (got)
		dq_tasks_resolved(q, tasks);
	if (freed)
		dq_dispatch_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
	if (got) {
		/* the bytes stay until the next call releases them */
		q->pending_worker = w;
		q->pending_head = head;
		dq_count_n(&q->st.completed, tasks);
		return (int)got;
	}
	if (head != start)
		dq_result_set_head(q, w, head);
	if (r < 0)
		/* only the worker writes its ring: it is to blame */
		dq_mark_corrupt(q, w,
				r == -EBADMSG
					? "result count out of its ring"
					: "a result record does not parse");
	return 0;
}

/* A corrupt worker's count is worthless, but the records it published
 * before may be sound, each the result of a task that ran: up to one ring
 * past where collection stood, each record that parses and answers a task
 * the worker was given is delivered (a lie there concerns its own tasks
 * only, and accepting one ends its lease, so none counts twice). The
 * first record that does not ends the salvage. Returns 1 or 0 (done). */
static int salvage(struct dq *q, uint32_t w, struct dq_result *res)
{
	struct dq_wpriv *wp = &q->wp[w];
	uint64_t head =
		atomic_load_explicit(&q->res_head[w], memory_order_relaxed);
	if (wp->salvage == DQ_SALVAGE_DONE)
		return 0;
	if (wp->salvage == DQ_SALVAGE_NONE) {
		wp->salvage = DQ_SALVAGE_ON;
		wp->salvage_end = head + q->result_size;
	}
	struct bq_record rec;
	uint32_t at;
	if (peek_record(q, w, &head, wp->salvage_end, &rec, &at) > 0 &&
	    accept(q, w, &rec, at, res)) {
		q->pending_worker = w;
		q->pending_head = head + rec.size;
		dq_count_n(&q->st.completed, res->count);
		return 1;
	}
	wp->salvage = DQ_SALVAGE_DONE;
	return 0;
}

/* ---- the stash: results of reclaimed workers ---- */

static void stash_push(struct dq *q, const struct dq_result *res)
{
	uint32_t n = atomic_load(&q->nstash);
	if (q->stash_head + n == q->stash_cap) {
		/* move the live ones down, or grow */
		if (n && q->stash_head)
			memmove(q->stash, q->stash + q->stash_head,
				n * sizeof(*q->stash));
		q->stash_head = 0;
		if (n == q->stash_cap) {
			q->stash_cap = q->stash_cap ? 2 * q->stash_cap : 64;
			q->stash = base_realloc(q->stash, q->stash_cap,
						sizeof(*q->stash));
		}
	}
	struct dq_stashed *s = &q->stash[q->stash_head + n];
	s->res = *res;
	s->data = NULL;
	if (res->len) {
		s->data = base_realloc(NULL, res->len, 1);
		memcpy(s->data, res->data, res->len);
	}
	s->res.data = s->data;
	atomic_store(&q->nstash, n + 1);
}

/* Whether the record counted: stashed for the collector. */
static bool stash_accepted(struct dq *q, uint32_t w,
			   const struct bq_record *rec, uint32_t at,
			   bool *freed)
{
	struct dq_result res;
	if (!accept_locked(q, w, rec, at, &res, freed))
		return false;
	dq_tasks_resolved(q, res.count);
	dq_count_n(&q->st.completed, res.count);
	stash_push(q, &res);
	return true;
}

/* The run a dead worker had open at head: written, not published (a run
 * goes out when it ends), its count stored last and zeroed first (see
 * bw_done), so a count of 1 or more is that many tasks that ran and
 * succeeded bare, and 0 a record half written. Without it the first of
 * them would go back as the task the worker died on, and be blamed for
 * its death. Checked as any record of the worker's: what was stale bytes
 * of an older lap answers no task it holds (and is not counted stale: no
 * result was sent). The head stays: a successor writes from the
 * published count on. */
static void stash_open_run(struct dq *q, uint32_t w, uint64_t head, bool *freed)
{
	struct bq_record rec;
	uint32_t at;
	if (q->runs &&
	    peek_record(q, w, &head, head + q->result_size, &rec, &at) > 0 &&
	    rec.count >= 1 && rec.len == 0 && rec.status == 0)
		stash_accepted(q, w, &rec, at, freed);
}

void dq_result_stash_dead(struct dq *q, uint32_t w)
{
	uint64_t head =
		atomic_load_explicit(&q->res_head[w], memory_order_relaxed);
	struct bq_record rec;
	uint32_t at;
	bool freed = false;
	int r;
	pthread_mutex_lock(&q->alloc_lock);
	while ((r = peek_record(q, w, &head, published(q, w, head), &rec,
				&at)) > 0) {
		if (!stash_accepted(q, w, &rec, at, &freed))
			drop_stale(q, w, &rec);
		head += rec.size;
	}
	if (r == 0)
		stash_open_run(q, w, head, &freed);
	pthread_mutex_unlock(&q->alloc_lock);
	/* a record that does not parse is left to collection, which finds
	 * the region corrupt */
	dq_result_set_head(q, w, head);
}

/* The oldest stashed result; its bytes are freed by the next call. */
static int take_stashed(struct dq *q, struct dq_result *res)
{
	uint32_t n = atomic_load(&q->nstash);
	if (!n)
		return 0;
	struct dq_stashed *s = &q->stash[q->stash_head++];
	*res = s->res;
	q->stash_out = s->data;
	atomic_store(&q->nstash, n - 1);
	if (n == 1)
		q->stash_head = 0;
	return 1;
}

void dq_result_stash_free(struct dq *q)
{
	for (uint32_t i = 0; i < atomic_load(&q->nstash); i++)
		free(q->stash[q->stash_head + i].data);
	free(q->stash);
	free(q->stash_out);
}

/* One abandoned task: a single task's lease leaves the abandoned list
 * with it; a chunk's, with its last task without a result. */
static int take_abandoned(struct dq *q, struct dq_result *res)
{
	uint32_t n = atomic_load(&q->nabandoned);
	if (!n)
		return 0;
	pthread_mutex_lock(&q->alloc_lock);
	struct dq_abandoned a = q->abandoned[n - 1];
	if (a.index != DQ_NO_TASK) {
		/* one task of a chunk: its lease went on without it */
		*res = (struct dq_result){.task_id = a.task_id,
					  .chunk_id = a.chunk_id,
					  .index = a.index,
					  .error = a.error,
					  .worker = a.worker,
					  .attempts = a.attempts,
					  .count = 1};
		atomic_store(&q->nabandoned, n - 1);
		dq_count(&q->st.abandoned);
		dq_tasks_resolved(q, 1);
		pthread_mutex_unlock(&q->alloc_lock);
		return 1;
	}
	const struct dq_lpriv *lp = &q->lp[a.lease];
	uint32_t k = lp->count ? dq_chunk_next_unanswered(q, a.lease) : 0;
	*res = (struct dq_result){
		.task_id = lp->task_id + (k == DQ_NO_TASK ? 0 : k),
		.chunk_id = lp->task_id,
		.index = k == DQ_NO_TASK ? 0 : k,
		.error = a.error,
		.worker = a.worker,
		.attempts = lp->attempt,
		.count = 1,
	};
	bool last = !lp->count || lp->answered == lp->count;
	if (last) {
		atomic_store(&q->nabandoned, n - 1);
		dq_lease_release_locked(q, a.lease);
	}
	if (k != DQ_NO_TASK) {
		dq_count(&q->st.abandoned);
		dq_tasks_resolved(q, 1);
	}
	pthread_mutex_unlock(&q->alloc_lock);
	/* a chunk whose every task had its result: nothing to return */
	return k == DQ_NO_TASK ? take_abandoned(q, res) : 1;
}

/* A corrupt worker is reported once (-EBADMSG), so that its caller kills
 * and reclaims it, after the sound results it published. */
static int take_corrupt(struct dq *q, struct dq_result *res)
{
	for (uint32_t w = 0; w < q->max_workers; w++)
		if (atomic_load(&q->corrupt[w]) &&
		    !atomic_load(&q->reported[w])) {
			if (salvage(q, w, res))
				return 1;
			atomic_store(&q->reported[w], true);
			*res = (struct dq_result){.worker = w, .count = 1};
			return -EBADMSG;
		}
	return 0;
}

static int take_result(struct dq *q, struct dq_result *res, unsigned n)
{
	if (take_stashed(q, res) || take_abandoned(q, res))
		return 1;
	int r = take_corrupt(q, res);
	if (r != 0)
		return r;
	uint32_t nw = q->max_workers;
	for (uint32_t k = 0; k < nw; k++) {
		uint32_t w = q->next_worker + k;
		if (w >= nw)
			w -= nw;
		if (atomic_load_explicit(&q->corrupt[w], memory_order_relaxed))
			continue;
		r = take_from(q, w, res, n);
		if (r != 0) {
			/* round robin: the next call starts after w */
			q->next_worker = w + 1 < nw ? w + 1 : 0;
			return r;
		}
	}
	return 0;
}

/* Something to take (or nothing left to wait for). seq_cst loads: called
 * after the collector counted itself in result_sleepers, without
 * collect_lock. */
static bool results_ready(struct dq *q)
{
	if (atomic_load(&q->nabandoned) || atomic_load(&q->nstash) ||
	    atomic_load(&q->unresolved) == 0)
		return true;
	for (uint32_t w = 0; w < q->max_workers; w++) {
		if (atomic_load_explicit(&q->corrupt[w], memory_order_relaxed))
			return !atomic_load(&q->reported[w]);
		if ((int64_t)(atomic_load(&q->wp[w].reg->res_tail) -
			      atomic_load_explicit(&q->res_head[w],
						   memory_order_relaxed)) > 0)
			return true;
	}
	return dq_dispatch_possible(q);
}

static void wait_results(struct dq *q, const struct timespec *deadline)
{
	for (uint32_t i = 0; i < q->collect_spin; i++) {
		if (results_ready(q))
			return;
		bq_cpu_relax();
	}
	/* the audit runs every few ms while tasks are in flight */
	struct timespec soon;
	const struct timespec *dl = deadline;
	{
		dq_deadline(&soon, DQ_AUDIT_MS);
		if (!dl || soon.tv_sec < dl->tv_sec ||
		    (soon.tv_sec == dl->tv_sec && soon.tv_nsec < dl->tv_nsec))
			dl = &soon;
	}
	pthread_mutex_unlock(&q->collect_lock);
	dq_sleep_results(q, dl, results_ready);
	pthread_mutex_lock(&q->collect_lock);
}

static int collect_locked(struct dq *q, struct dq_result *res, unsigned n,
			  int timeout_ms)
{
	/* the deadline is read from the clock when there is first nothing
	 * to take, not on every call (one a result) */
	struct timespec ts;
	const struct timespec *deadline = NULL;
	bool timed = false;
	for (;;) {
		if (atomic_load_explicit(&q->waiting_hint,
					 memory_order_relaxed)) {
			pthread_mutex_lock(&q->alloc_lock);
			dq_dispatch_locked(q);
			pthread_mutex_unlock(&q->alloc_lock);
		}
		dq_audit(q);
		int r = take_result(q, res, n);
		if (r != 0)
			return r;
		/* nothing to take: the workers given a few tasks since they
		 * slept must run them now */
		pthread_mutex_lock(&q->alloc_lock);
		dq_wake_due_locked(q);
		pthread_mutex_unlock(&q->alloc_lock);
		if (atomic_load(&q->unresolved) == 0)
			return -ENODATA;
		if (timeout_ms == 0)
			return -EAGAIN;
		if (!timed) {
			deadline = dq_deadline(&ts, timeout_ms);
			timed = true;
		} else if (dq_deadline_passed(deadline)) {
			return -EAGAIN;
		}
		wait_results(q, deadline);
	}
}

int dq_collect_many(struct dq *q, struct dq_result *res, unsigned n,
		    int timeout_ms)
{
	if (!n)
		return -EINVAL;
	pthread_mutex_lock(&q->collect_lock);
	dq_result_release_pending(q);
	int r = collect_locked(q, res, n, timeout_ms);
	pthread_mutex_unlock(&q->collect_lock);
	return r;
}

int dq_collect(struct dq *q, struct dq_result *res, int timeout_ms)
{
	int r = dq_collect_many(q, res, 1, timeout_ms);
	return r > 0 ? 0 : r;
}
