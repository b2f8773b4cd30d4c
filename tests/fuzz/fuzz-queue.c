/* libFuzzer target: the coordinator of a task queue against a worker that
 * wrote anything over its own region (the only memory a worker can write:
 * the queue region is sealed read-only). A small queue gets a few tasks,
 * given to worker 1, which answers one and holds another; then the input
 * is written over worker 1's region; the coordinator then collects,
 * audits, reclaims and submits for a bounded number of rounds. It must not
 * crash, hang or read outside its mappings (ASan), it must report every
 * task at most once, with result bytes inside the worker's region (or in
 * the queue's own copy, for a result taken when the worker was
 * reclaimed), and the queue region's configuration stays as it was.
 *
 * Input: byte 0 picks how the rest is applied.
 *   even: the rest is copied over one part of the region (0 its head
 *         page, 1 its result ring), from its start;
 *   odd:  the rest is a list of patches: offset (2 bytes, little-endian,
 *         modulo the region), length (1 byte), that many bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/berth-worker.h"
#include "dist/dist-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TASKS 3
#define ROUNDS 24

struct seen {
	uint64_t ids[64];
	size_t n;
};

static void check_result(struct dq *q, const struct dq_result *res,
			 struct seen *s)
{
	size_t msize;
	const uint8_t *base = dq_worker_mapping(q, res->worker, &msize);
	if (!base)
		abort();
	if (res->task_id == 0 || res->task_id > s->n + 64)
		abort();
	for (size_t i = 0; i < s->n; i++)
		if (s->ids[i] == res->task_id)
			abort(); /* reported twice */
	if (s->n < 64)
		s->ids[s->n++] = res->task_id;
	if (res->data) {
		const uint8_t *d = res->data;
		bool inside = d >= base && res->len <= msize &&
			      (size_t)(d - base) <= msize - res->len;
		/* outside: a copy on the heap, as long as ASan knows it */
		if (!inside && res->len > msize)
			abort();
		/* every byte is readable (ASan checks the mapping's end) */
		volatile uint8_t sum = 0;
		for (size_t i = 0; i < res->len; i++)
			sum ^= d[i];
		(void)sum;
	}
}

static void apply(struct dq *q, const uint8_t *data, size_t size)
{
	size_t msize;
	uint8_t *base = dq_worker_mapping(q, 1, &msize);
	if (size < 1)
		return;
	if (!(data[0] & 1)) {
		size_t off = (data[0] >> 1) % 2 ? BQ_PAGE : 0;
		size_t len = off ? msize - BQ_PAGE : BQ_PAGE;
		memcpy(base + off, data + 1, size - 1 < len ? size - 1 : len);
		return;
	}
	for (size_t i = 1; i + 3 <= size;) {
		size_t off = (data[i] | (size_t)data[i + 1] << 8) % msize;
		size_t len = data[i + 2];
		i += 3;
		if (len > size - i)
			len = size - i;
		if (len > msize - off)
			len = msize - off;
		memcpy(base + off, data + i, len);
		i += len;
	}
}

/* The audit runs every few milliseconds: here at once. */
static void audit_now(struct dq *q)
{
	pthread_mutex_lock(&q->collect_lock);
	q->last_audit_ms = 0;
	dq_audit(q);
	pthread_mutex_unlock(&q->collect_lock);
}

static void setup(struct dq *q)
{
	size_t msize;
	void *base = dq_mapping(q, &msize);
	/* tasks go to attached workers: worker 1 gets them all */
	struct bw *w;
	char err[128];
	if (bw_attach(base, msize, 1, &w, err, sizeof(err)) < 0)
		abort();
	for (int i = 0; i < TASKS; i++)
		if (dq_submit(q, "payload", 7, 0, NULL) < 0)
			abort();
	/* it takes the first task and answers it; the result waits */
	const struct bw_task *t = bw_next(w);
	if (!t || bw_done(w, t, 0, "result", 6) < 0)
		abort();
	/* a second one is taken and held */
	if (!bw_next(w))
		abort();
	bw_close(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dq *q = NULL;
	struct berr err = {0};
	struct dq_params p = {.capacity = 4,
			      .max_workers = 2,
			      .arena_size = 4096,
			      .result_size = 4096,
			      .max_attempts = 2,
			      .spin = 1,
			      .stall_ms = 1,
			      /* records that claim runs: checked either way */
			      .runs = size && (data[size - 1] & 1)};
	if (dq_create(&p, &q, &err) < 0)
		abort();
	setup(q);
	struct bq_config cfg = *(struct bq_config *)dq_mapping(q, NULL);
	apply(q, data, size);
	struct seen s = {.n = 0};
	for (int round = 0; round < ROUNDS; round++) {
		struct dq_result res;
		audit_now(q);
		int r = dq_collect(q, &res, 0);
		if (r == 0)
			check_result(q, &res, &s);
		else if (r == -EBADMSG)
			dq_reclaim(q, res.worker);
		else if (r != -EAGAIN && r != -ENODATA)
			abort();
		if (round == ROUNDS / 3)
			dq_reclaim(q, 1);
		if (round == ROUNDS / 2) {
			/* past stall_ms: a worker asleep on its tasks */
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
			dq_submit(q, "more", 4, 0, NULL);
		}
	}
	struct dq_stats st;
	dq_stats(q, &st);
	if (st.in_flight > st.submitted ||
	    st.completed + st.abandoned > st.submitted)
		abort();
	if (memcmp(&cfg, dq_mapping(q, NULL), sizeof(cfg)))
		abort();
	dq_destroy(q);
	return 0;
}
