/* Sleeping and waking on the coordinator's side. A worker sleeps on its
 * own wake word of the queue region; the coordinator sleeps on every
 * worker's result word at once (futex_waitv(2)). The protocol (announce,
 * re-check, FUTEX_WAIT; publish, then wake only if announced) is described
 * in dist/berth-queue-layout.h.
 *
 * Why futex_waitv: the words are already there, in memory the waker owns
 * (a worker bumps a word of its own region), so waking the coordinator
 * costs the worker no fd and no extra system call, and a worker can wake
 * it only as often as it publishes. An eventfd per worker in an epoll set
 * would need a second fd passed to each worker and a write(2) per wake.
 * futex_waitv takes at most 128 words: with more workers the coordinator
 * waits on the first 127 and wakes every millisecond to look at the rest. */
#include <linux/futex.h>
#include <time.h>

#include "dist/dist-internal.h"

void dq_wake_worker(struct dq *q, uint32_t w, bool force)
{
	const struct bq_worker *r = q->wp[w].reg;
	/* seq_cst load after the caller's seq_cst publication */
	if (!r || (!force && !atomic_load(&r->sleeping)))
		return;
	bq_futex_bump_wake(&q->ctl[w].wake, INT_MAX);
	atomic_fetch_add_explicit(&q->st.wakes, 1, memory_order_relaxed);
}

struct timespec *dq_deadline(struct timespec *ts, int ms)
{
	if (ms < 0)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	return ts;
}

/* The time left until deadline; false when it has passed. */
static bool time_left(const struct timespec *deadline, struct timespec *rel)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	rel->tv_sec = deadline->tv_sec - now.tv_sec;
	rel->tv_nsec = deadline->tv_nsec - now.tv_nsec;
	if (rel->tv_nsec < 0) {
		rel->tv_sec--;
		rel->tv_nsec += 1000000000;
	}
	return rel->tv_sec > 0 || (rel->tv_sec == 0 && rel->tv_nsec > 0);
}

bool dq_deadline_passed(const struct timespec *deadline)
{
	struct timespec rel;
	return deadline && !time_left(deadline, &rel);
}

/* The words to wait on: the collector's own, then each worker's result
 * word with the value it has now. Returns how many; *more when some
 * workers did not fit. */
static unsigned wait_words(struct dq *q, struct futex_waitv *v, bool *more)
{
	unsigned n = 0;
	v[n++] = (struct futex_waitv){
		.val = atomic_load(&q->hdr->collect_futex),
		.uaddr = (uintptr_t)&q->hdr->collect_futex,
		.flags = FUTEX_32,
	};
	*more = false;
	for (uint32_t w = 0; w < q->max_workers; w++) {
		struct bq_worker *r = q->wp[w].reg;
		if (!r ||
		    atomic_load_explicit(&q->corrupt[w], memory_order_relaxed))
			continue;
		if (n == FUTEX_WAITV_MAX) {
			*more = true;
			break;
		}
		v[n++] = (struct futex_waitv){
			.val = atomic_load(&r->result_futex),
			.uaddr = (uintptr_t)&r->result_futex,
			.flags = FUTEX_32,
		};
	}
	return n;
}

int dq_sleep_results(struct dq *q, const struct timespec *deadline,
		     bool (*ready)(struct dq *q))
{
	struct futex_waitv v[FUTEX_WAITV_MAX];
	struct timespec soon;
	const struct timespec *dl = deadline;
	bool more;
	int r = 0;
	atomic_store(&q->hdr->collecting, 1);
	unsigned n = wait_words(q, v, &more);
	if (more) {
		dq_deadline(&soon, 1);
		if (!dl || soon.tv_sec < dl->tv_sec ||
		    (soon.tv_sec == dl->tv_sec && soon.tv_nsec < dl->tv_nsec))
			dl = &soon;
	}
	if (!ready(q)) {
		if (dq_deadline_passed(dl)) {
			r = -ETIMEDOUT;
		} else {
			atomic_fetch_add_explicit(&q->st.collect_sleeps, 1,
						  memory_order_relaxed);
			if (bq_futex_waitv(v, n, dl) == -ETIMEDOUT)
				r = -ETIMEDOUT;
		}
	}
	atomic_store(&q->hdr->collecting, 0);
	return r;
}
