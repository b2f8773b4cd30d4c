/* Sleeping and waking on the coordinator's side. Workers sleep on
 * task_futex, the coordinator on result_futex; the protocol (count
 * yourself in, re-check, FUTEX_WAIT; publish, then wake only if someone is
 * counted) is described in dist/berth-queue-layout.h. */
#include <time.h>

#include "dist/dist-internal.h"

void dq_wake_workers(struct dq *q, int n)
{
	if (n == 1) {
		if (bq_wake_one_worker(q->hdr))
			atomic_fetch_add_explicit(&q->st.wakes, 1,
						  memory_order_relaxed);
		return;
	}
	/* seq_cst load after the caller's seq_cst publication */
	if (!atomic_load(&q->hdr->task_sleepers))
		return;
	bq_futex_bump_wake(&q->hdr->task_futex, n);
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

int dq_sleep_results(struct dq *q, const struct timespec *deadline,
		     bool (*ready)(struct dq *q))
{
	struct bq_header *h = q->hdr;
	struct timespec rel;
	int r = 0;
	uint32_t seq = atomic_load(&h->result_futex);
	atomic_fetch_add(&h->result_sleepers, 1);
	if (!ready(q)) {
		if (deadline && !time_left(deadline, &rel)) {
			r = -ETIMEDOUT;
		} else {
			atomic_fetch_add_explicit(&q->st.collect_sleeps, 1,
						  memory_order_relaxed);
			if (bq_futex_wait(&h->result_futex, seq,
					  deadline ? &rel : NULL) == -ETIMEDOUT)
				r = -ETIMEDOUT;
		}
	}
	atomic_fetch_sub(&h->result_sleepers, 1);
	return r;
}
