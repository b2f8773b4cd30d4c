/* dist/: the coordinator against a worker that writes garbage over the
 * queue's shared memory. Each test corrupts one part of the mapping between
 * two coordinator steps and checks that collection ends in bounded time,
 * that every task yields exactly one result and that the coordinator's own
 * memory stays intact (run it under ASan/UBSan too). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "dist/berth-queue-layout.h"
#include "dist/berth-worker.h"
#include "dist/dist.h"
#include "tests/unit/test.h"

#define NTASKS 8
/* how long a corrupted queue may take to come back */
#define BOUND_MS 5000

static struct dq *mkq(uint32_t cap, uint32_t workers)
{
	struct dq *q = NULL;
	struct berr err = {0};
	struct dq_params p = {
		.capacity = cap, .max_workers = workers, .stall_ms = 200};
	if (dq_create(&p, &q, &err) < 0)
		test_fail(__FILE__, __LINE__, "dq_create: %s", err.msg);
	return q;
}

static struct bq_header *hdr_of(struct dq *q)
{
	return dq_mapping(q, NULL);
}

/* The regions, from the coordinator's own numbers (the header in the
 * mapping may be garbage by then). */
struct regions {
	uint8_t *base;
	size_t size;
	struct bq_config cfg;
	struct bq_slot *ring;
	struct bq_lease *leases;
	struct bq_worker *workers;
};

static struct regions regions(struct dq *q)
{
	struct regions r;
	r.base = dq_mapping(q, &r.size);
	r.cfg = ((struct bq_header *)r.base)->cfg;
	r.ring = (struct bq_slot *)(r.base + r.cfg.ring_off);
	r.leases = (struct bq_lease *)(r.base + r.cfg.lease_off);
	r.workers = (struct bq_worker *)(r.base + r.cfg.worker_off);
	return r;
}

static void scribble(void *p, size_t n, uint32_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* ---- echo workers in threads ---- */

struct echo {
	struct dq *q;
	uint32_t id;
	pthread_t th;
	_Atomic bool attached;
};

static _Atomic bool echo_stop;

/* An echo worker; started again when it ends before the test does (as
 * berth par restarts a worker), e.g. because the flags said "closed". */
static void *echo_main(void *arg)
{
	struct echo *e = arg;
	size_t size;
	void *base = dq_mapping(e->q, &size);
	char err[256];
	while (!atomic_load(&echo_stop)) {
		struct bw *w = NULL;
		/* a header overwritten a moment ago is restored by the
		 * coordinator */
		if (bw_attach(base, size, e->id, &w, err, sizeof(err)) < 0) {
			usleep(1000);
			continue;
		}
		atomic_store(&e->attached, true);
		const struct bw_task *t;
		while ((t = bw_next(w)))
			bw_done(w, t, 0, t->data, t->len);
		bw_close(w);
		usleep(1000);
	}
	return NULL;
}

static void echo_start(struct echo *e, struct dq *q, uint32_t id)
{
	*e = (struct echo){.q = q, .id = id};
	atomic_store(&echo_stop, false);
	ASSERT_EQ(pthread_create(&e->th, NULL, echo_main, e), 0);
}

/* Ends the echo threads (whatever the flags word says now) and the
 * queue. */
static void finish(struct dq *q, struct echo *e, size_t n)
{
	struct bq_header *h = hdr_of(q);
	atomic_store(&echo_stop, true);
	for (int i = 0; i < 100; i++) {
		atomic_fetch_or(&h->flags, BQ_CLOSED | BQ_SHUTDOWN);
		bq_futex_bump_wake(&h->task_futex, INT_MAX);
		usleep(1000);
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(e[i].th, NULL);
	dq_destroy(q);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a collection brought: each task id at most once. */
struct tally {
	int got, ok, failed, badmsg;
	uint8_t seen[64];
	int error;
};

/* Collects until n results arrived or the bound passed. An echo result
 * must carry the task's payload ("task <id>"). */
static void drain(struct dq *q, int n, struct tally *t)
{
	long end = now_ms() + BOUND_MS;
	while (t->got < n && now_ms() < end) {
		struct dq_result res;
		int r = dq_collect(q, &res, 10);
		if (r == -EBADMSG) {
			t->badmsg++;
			continue;
		}
		if (r == -ENODATA)
			break;
		if (r < 0)
			continue;
		ASSERT_TRUE(res.task_id >= 1 && res.task_id < 64);
		ASSERT_EQ(t->seen[res.task_id], 0);
		t->seen[res.task_id] = 1;
		t->got++;
		if (res.error) {
			t->failed++;
			t->error = res.error;
			continue;
		}
		char want[32];
		snprintf(want, sizeof(want), "task %llu",
			 (unsigned long long)res.task_id);
		ASSERT_EQ(res.len, strlen(want));
		ASSERT_TRUE(!memcmp(res.data, want, res.len));
		t->ok++;
	}
}

static void submit_n(struct dq *q, int n)
{
	static uint64_t next = 1;
	for (int i = 0; i < n; i++) {
		uint64_t id;
		char buf[32];
		struct dq_stats st;
		dq_stats(q, &st);
		next = st.submitted + 1;
		int len = snprintf(buf, sizeof(buf), "task %llu",
				   (unsigned long long)next);
		ASSERT_EQ(dq_submit(q, buf, (size_t)len, 0, &id), 0);
		ASSERT_EQ(id, next);
	}
}

/* Submits NTASKS with no worker attached, lets corrupt() scribble, then
 * starts two echo workers: every task must come back, once, intact. */
static void survive(void (*corrupt)(struct dq *q))
{
	alarm(30);
	struct dq *q = mkq(16, 2);
	submit_n(q, NTASKS);
	corrupt(q);
	struct echo e[2];
	echo_start(&e[0], q, 0);
	echo_start(&e[1], q, 1);
	struct tally t = {0};
	drain(q, NTASKS, &t);
	ASSERT_EQ(t.got, NTASKS);
	ASSERT_EQ(t.ok, NTASKS);
	/* and the queue still works */
	submit_n(q, NTASKS);
	struct tally t2 = {0};
	drain(q, NTASKS, &t2);
	ASSERT_EQ(t2.ok, NTASKS);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	finish(q, e, 2);
	alarm(0);
}

static void zero_header(struct dq *q)
{
	memset(hdr_of(q), 0, sizeof(struct bq_header));
}

TEST(zeroed_header)
{
	survive(zero_header);
}

static void zero_everything(struct dq *q)
{
	size_t size;
	void *base = dq_mapping(q, &size);
	memset(base, 0, size);
}

TEST(zeroed_mapping)
{
	survive(zero_everything);
}

static void garbage_positions(struct dq *q)
{
	struct bq_header *h = hdr_of(q);
	atomic_store(&h->enq_pos, 0x123456789ull);
	atomic_store(&h->deq_pos, 0xfedcba987ull);
}

TEST(garbage_ring_positions)
{
	survive(garbage_positions);
}

static void deq_ahead(struct dq *q)
{
	struct bq_header *h = hdr_of(q);
	atomic_fetch_add(&h->deq_pos, 5);
}

TEST(consumer_position_skips_tickets)
{
	survive(deq_ahead);
}

static void garbage_ring(struct dq *q)
{
	struct regions r = regions(q);
	scribble(r.ring, r.cfg.capacity * sizeof(struct bq_slot), 7);
}

TEST(garbage_ring)
{
	survive(garbage_ring);
}

static void garbage_tickets(struct dq *q)
{
	struct regions r = regions(q);
	for (uint32_t i = 0; i < r.cfg.capacity; i++)
		atomic_store(&r.ring[i].ticket, bq_ticket(i ^ 5, 77));
}

TEST(garbage_tickets)
{
	survive(garbage_tickets);
}

static void zero_leases(struct dq *q)
{
	struct regions r = regions(q);
	memset(r.leases, 0, r.cfg.capacity * sizeof(struct bq_lease));
}

TEST(zeroed_lease_table)
{
	survive(zero_leases);
}

static void garbage_leases(struct dq *q)
{
	struct regions r = regions(q);
	scribble(r.leases, r.cfg.capacity * sizeof(struct bq_lease), 11);
}

TEST(garbage_lease_table)
{
	survive(garbage_leases);
}

static void garbage_payload_fields(struct dq *q)
{
	struct regions r = regions(q);
	for (uint32_t i = 0; i < r.cfg.capacity; i++) {
		r.leases[i].payload_off = UINT64_MAX - 3;
		r.leases[i].payload_len = UINT32_MAX;
		r.leases[i].task_id = 999;
	}
}

TEST(garbage_payload_offsets)
{
	survive(garbage_payload_fields);
}

/* Every queued task's lease names worker 1, which never took it. */
static void foreign_claims(struct dq *q)
{
	struct regions r = regions(q);
	for (uint32_t i = 0; i < r.cfg.capacity; i++) {
		uint64_t w = atomic_load(&r.leases[i].word);
		if (bq_word_state(w) == BQ_QUEUED)
			atomic_store(&r.leases[i].word,
				     bq_lease_word(BQ_LEASED, 1,
						   bq_word_gen(w) + 1));
	}
}

TEST(lease_claimed_by_a_non_owner)
{
	survive(foreign_claims);
}

static void counters_zeroed(struct dq *q)
{
	struct bq_header *h = hdr_of(q);
	atomic_store(&h->unresolved, 0);
	atomic_store(&h->worker_high, 0);
	atomic_store(&h->flags, 0);
	atomic_store(&h->task_sleepers, 0);
	atomic_store(&h->wake_pending, 1);
}

TEST(zeroed_counters)
{
	survive(counters_zeroed);
}

static void closed_flag(struct dq *q)
{
	atomic_store(&hdr_of(q)->flags, BQ_CLOSED);
	atomic_store(&hdr_of(q)->unresolved, 0);
}

TEST(closed_by_a_worker)
{
	survive(closed_flag);
}

/* Nothing in flight, and the unresolved count says so too: collection
 * must not report -ENODATA while tasks are in flight. */
TEST(unresolved_zeroed_while_tasks_run)
{
	alarm(30);
	struct dq *q = mkq(16, 1);
	submit_n(q, 2);
	atomic_store(&hdr_of(q)->unresolved, 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	struct echo e;
	echo_start(&e, q, 0);
	struct tally t = {0};
	drain(q, 2, &t);
	ASSERT_EQ(t.ok, 2);
	finish(q, &e, 1);
	alarm(0);
}

/* ---- result rings ---- */

static const struct bw_task *take(struct bw *w)
{
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t);
	return t;
}

static struct bw *attach(struct dq *q, uint32_t id)
{
	size_t size;
	void *base = dq_mapping(q, &size);
	struct bw *w = NULL;
	char err[256] = "";
	if (bw_attach(base, size, id, &w, err, sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "bw_attach %u: %s", id, err);
	return w;
}

static void echo_done(struct bw *w, const struct bw_task *t)
{
	ASSERT_EQ(bw_done(w, t, 0, t->data, t->len), 0);
}

/* Worker 0 publishes a result, then scribbles on what corrupt() names;
 * worker 1 runs the rest. Worker 0's tasks fail (its ring is corrupt),
 * the others' do not, and nothing is reported twice. */
static void bad_ring(void (*corrupt)(struct regions *r), bool blamed)
{
	alarm(30);
	struct dq *q = mkq(16, 2);
	submit_n(q, NTASKS);
	struct bw *w0 = attach(q, 0), *w1 = attach(q, 1);
	const struct bw_task *t = take(w0);
	struct bw_task t1 = *t; /* still held */
	t = take(w0);
	echo_done(w0, t);
	struct regions r = regions(q);
	corrupt(&r);
	struct tally tl = {0};
	for (int i = 0; i < NTASKS - 2; i++)
		echo_done(w1, take(w1));
	/* the corrupt ring is reported once, then ignored */
	long end = now_ms() + BOUND_MS;
	while (tl.got < NTASKS - 2 && now_ms() < end) {
		struct dq_result res;
		int rr = dq_collect(q, &res, 10);
		if (rr == -EBADMSG) {
			ASSERT_EQ(res.worker, 0);
			tl.badmsg++;
			/* the test kills it: it never writes again */
			bw_close(w0);
			w0 = NULL;
			ASSERT_TRUE(dq_reclaim(q, 0) >= 0);
			continue;
		}
		if (rr < 0)
			continue;
		ASSERT_EQ(tl.seen[res.task_id], 0);
		tl.seen[res.task_id] = 1;
		tl.got++;
		if (res.error) {
			tl.failed++;
			tl.error = res.error;
		} else {
			/* a corrupt ring's records are dropped */
			ASSERT_TRUE(res.worker == 1 || !blamed);
			tl.ok++;
		}
	}
	if (blamed) {
		ASSERT_EQ(tl.badmsg, 1);
		/* worker 0's two tasks failed with the reason */
		drain(q, NTASKS, &tl);
		ASSERT_EQ(tl.got, NTASKS);
		ASSERT_EQ(tl.failed, 2);
		ASSERT_EQ(tl.error, -EBADMSG);
	} else {
		/* coordinator-owned lines: restored, nobody blamed */
		ASSERT_EQ(tl.badmsg, 0);
		echo_done(w0, &t1);
		drain(q, NTASKS, &tl);
		ASSERT_EQ(tl.got, NTASKS);
		ASSERT_EQ(tl.failed, 0);
	}
	ASSERT_EQ(tl.ok + tl.failed, NTASKS);
	bw_close(w0);
	bw_close(w1);
	dq_destroy(q);
	alarm(0);
}

static void tail_far_ahead(struct regions *r)
{
	atomic_fetch_add(&r->workers[0].res_tail, 1ull << 40);
}

TEST(result_tail_garbage)
{
	bad_ring(tail_far_ahead, true);
}

static void record_size_bogus(struct regions *r)
{
	uint8_t *ring = r->base + r->cfg.result_off;
	uint32_t size = 0x7ffffff8;
	memcpy(ring, &size, sizeof(size));
}

TEST(result_record_size_bogus)
{
	bad_ring(record_size_bogus, true);
}

static void record_len_bogus(struct regions *r)
{
	struct bq_record *rec = (void *)(r->base + r->cfg.result_off);
	rec->len = 1u << 30;
}

TEST(result_record_length_bogus)
{
	bad_ring(record_len_bogus, true);
}

static void record_lease_bogus(struct regions *r)
{
	struct bq_record *rec = (void *)(r->base + r->cfg.result_off);
	rec->lease = 0xffffff00u;
}

TEST(result_record_lease_out_of_range)
{
	bad_ring(record_lease_bogus, true);
}

static void head_misaligned(struct regions *r)
{
	atomic_store(&r->workers[0].res_head, 3);
	atomic_store(&r->workers[1].res_head, 12345);
}

TEST(result_head_overwritten)
{
	bad_ring(head_misaligned, false);
}

/* A worker publishes a record for a task another worker holds: it is
 * dropped, the holder's result counts. */
TEST(forged_result_for_anothers_task)
{
	alarm(30);
	struct dq *q = mkq(16, 2);
	submit_n(q, 1);
	struct bw *w0 = attach(q, 0), *w1 = attach(q, 1);
	const struct bw_task *t = take(w0);
	struct bw_task forged = *t;
	ASSERT_EQ(bw_done(w1, &forged, 0, "forged", 6), 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	echo_done(w0, t);
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.worker, 0);
	ASSERT_EQ(res.len, 6);
	ASSERT_TRUE(!memcmp(res.data, "task 1", 6));
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	bw_close(w0);
	bw_close(w1);
	dq_destroy(q);
	alarm(0);
}

/* A free lease made to look LEASED by a worker that is then reclaimed
 * must not be freed twice (that would overflow the free-lease stack). */
TEST(forged_lease_of_a_free_entry)
{
	alarm(30);
	struct dq *q = mkq(4, 2);
	struct regions r = regions(q);
	for (int round = 0; round < 8; round++) {
		for (uint32_t i = 0; i < r.cfg.capacity; i++)
			atomic_store(&r.leases[i].word,
				     bq_lease_word(BQ_LEASED, 0, 5));
		ASSERT_TRUE(dq_reclaim(q, 0) >= 0);
		struct dq_result res;
		ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	}
	struct echo e;
	echo_start(&e, q, 1);
	submit_n(q, 4);
	struct tally t = {0};
	drain(q, 4, &t);
	ASSERT_EQ(t.ok, 4);
	finish(q, &e, 1);
	alarm(0);
}

/* A worker that keeps scribbling over the ring: the coordinator gives up
 * on the tasks it cannot deliver rather than wait forever. */
static _Atomic bool vandal_stop;

static void *vandal(void *arg)
{
	struct regions *r = arg;
	uint32_t seed = 1;
	while (!atomic_load(&vandal_stop)) {
		scribble(r->ring, r->cfg.capacity * sizeof(struct bq_slot),
			 seed++);
		scribble(r->leases, r->cfg.capacity * sizeof(struct bq_lease),
			 seed++);
		usleep(200);
	}
	return NULL;
}

TEST(persistent_vandal_ends_in_bounded_time)
{
	alarm(30);
	struct dq *q = mkq(16, 1);
	struct regions r = regions(q);
	submit_n(q, NTASKS);
	pthread_t th;
	atomic_store(&vandal_stop, false);
	ASSERT_EQ(pthread_create(&th, NULL, vandal, &r), 0);
	struct tally t = {0};
	long t0 = now_ms();
	drain(q, NTASKS, &t);
	atomic_store(&vandal_stop, true);
	pthread_join(th, NULL);
	ASSERT_EQ(t.got, NTASKS);
	ASSERT_EQ(t.failed, NTASKS);
	ASSERT_EQ(t.error, -EIO);
	ASSERT_TRUE(now_ms() - t0 < BOUND_MS);
	dq_destroy(q);
	alarm(0);
}

/* Another worker zeroes this one's published count: a count going
 * backwards is no publication, nobody is blamed, and the next record the
 * worker publishes (its own count) is collected. */
TEST(result_tail_zeroed_is_not_blamed)
{
	alarm(30);
	struct dq *q = mkq(16, 1);
	submit_n(q, 2);
	struct bw *w = attach(q, 0);
	echo_done(w, take(w));
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	struct regions r = regions(q);
	atomic_store(&r.workers[0].res_tail, 0);
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	echo_done(w, take(w));
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, 2);
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	bw_close(w);
	dq_destroy(q);
	alarm(0);
}

/* A published result is wiped with the whole worker table (its count,
 * attached and idle flags) before the coordinator read it: the worker
 * idles holding the lease. The coordinator wakes it, sees it idle and
 * queues the task again. */
TEST(result_wiped_with_the_worker_table)
{
	alarm(30);
	struct dq *q = mkq(16, 1);
	struct regions r = regions(q);
	struct echo e;
	echo_start(&e, q, 0);
	while (!atomic_load(&e.attached))
		usleep(1000);
	submit_n(q, 1);
	long end = now_ms() + BOUND_MS;
	while (!atomic_load(&r.workers[0].res_tail) && now_ms() < end)
		usleep(1000);
	/* wait until it sleeps again, then wipe */
	while (!atomic_load(&r.workers[0].task_sleeping) && now_ms() < end)
		usleep(1000);
	memset(r.workers, 0, sizeof(struct bq_worker));
	memset(r.base + r.cfg.result_off, 0, r.cfg.result_size);
	struct tally t = {0};
	drain(q, 1, &t);
	ASSERT_EQ(t.ok, 1);
	finish(q, &e, 1);
	alarm(0);
}

/* A worker may hold several tasks at once: one that sleeps for the next
 * task while it holds one is not idle, and its task is not queued
 * again. */
static void *hold_two(void *arg)
{
	struct dq *q = arg;
	struct bw *w = attach(q, 0);
	struct bw_task a = *take(w);
	struct bw_task b = *take(w); /* sleeps until the second comes */
	echo_done(w, &a);
	echo_done(w, &b);
	bw_close(w);
	return NULL;
}

TEST(worker_holding_a_task_while_it_waits_keeps_it)
{
	alarm(30);
	struct dq *q = mkq(16, 1);
	submit_n(q, 1);
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, hold_two, q), 0);
	/* several stall times: nothing comes, nothing is repaired */
	long end = now_ms() + 1000;
	struct dq_result res;
	while (now_ms() < end)
		ASSERT_EQ(dq_collect(q, &res, 10), -EAGAIN);
	struct dq_stats st;
	dq_stats(q, &st);
	ASSERT_EQ(st.repairs, 0);
	submit_n(q, 1);
	struct tally t = {0};
	drain(q, 2, &t);
	ASSERT_EQ(t.ok, 2);
	pthread_join(th, NULL);
	dq_destroy(q);
	alarm(0);
}
