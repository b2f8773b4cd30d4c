/* dist/: chunks, one ring entry for a run of tasks (dq_submit_chunk). The
 * worker library hands their tasks out one at a time; each has one result
 * however its workers die; a dead worker's chunk goes back from its first
 * task without a result. Worker threads share the coordinator's mappings
 * (ThreadSanitizer follows them, not processes). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>

#include "dist/berth-queue-layout.h"
#include "tests/unit/test-dist.h"

/* Submits payloads "0", "1", ... "n-1" (shifted by base) as one chunk. */
static uint64_t submit_numbers(struct dq *q, uint32_t base, uint32_t n)
{
	static char text[DQ_CHUNK_MAX][12];
	static struct iovec iov[DQ_CHUNK_MAX];
	for (uint32_t i = 0; i < n; i++) {
		int len = snprintf(text[i], sizeof(text[i]), "%u", base + i);
		iov[i] = (struct iovec){text[i], (size_t)len};
	}
	uint64_t id = 0;
	ASSERT_EQ(dq_submit_chunk(q, iov, n, 0, &id), 0);
	return id;
}

/* The number a task's payload holds. */
static uint32_t number(const struct bw_task *t)
{
	char buf[16];
	ASSERT_TRUE(t->len > 0 && t->len < sizeof(buf));
	memcpy(buf, t->data, t->len);
	buf[t->len] = '\0';
	return (uint32_t)strtoul(buf, NULL, 10);
}

/* Answers the next n tasks of w with their number as the status. */
static void answer(struct bw *w, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(bw_done(w, t, (int32_t)number(t), t->data, t->len),
			  0);
	}
}

TEST(chunk_round_trip)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	const char *words[] = {"a", "bb", "", "dddd", "e"};
	struct iovec iov[5];
	for (int i = 0; i < 5; i++)
		iov[i] = (struct iovec){(void *)words[i], strlen(words[i])};
	uint64_t id = 0;
	ASSERT_EQ(dq_submit_chunk(q, iov, 5, 0, &id), 0);
	ASSERT_EQ(id, 1);
	ASSERT_EQ(dq_submit(q, "x", 1, 0, &id), 0);
	ASSERT_EQ(id, 6);
	for (int i = 0; i < 6; i++) {
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(t->id, (uint64_t)i + 1);
		ASSERT_EQ(t->attempt, 1);
		const char *want = i < 5 ? words[i] : "x";
		ASSERT_EQ(t->len, strlen(want));
		ASSERT_TRUE(!t->len || !memcmp(t->data, want, t->len));
		ASSERT_EQ(bw_done(w, t, i, want, strlen(want)), 0);
	}
	struct dq_result res[8];
	ASSERT_EQ(dq_collect_many(q, res, 8, 0), 6);
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(res[i].task_id, (uint64_t)i + 1);
		ASSERT_EQ(res[i].status, i);
		ASSERT_EQ(res[i].chunk_id, i < 5 ? 1 : 6);
		ASSERT_EQ(res[i].index, i < 5 ? i : 0);
		ASSERT_EQ(res[i].error, 0);
	}
	ASSERT_TRUE(!memcmp(res[3].data, "dddd", 4));
	ASSERT_EQ(dq_collect_many(q, res, 8, 0), -ENODATA);
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.submitted, 6);
	ASSERT_EQ(st.completed, 6);
	ASSERT_EQ(st.dispatched, 2); /* one ring entry for the chunk */
	ASSERT_EQ(st.worker_tasks, 6);
	ASSERT_EQ(st.in_flight, 0);
	/* bad chunks */
	ASSERT_EQ(dq_submit_chunk(q, iov, 0, 0, NULL), -EINVAL);
	ASSERT_EQ(dq_submit_chunk(q, iov, DQ_CHUNK_MAX + 1, 0, NULL), -EINVAL);
	iov[0].iov_base = NULL;
	ASSERT_EQ(dq_submit_chunk(q, iov, 1, 0, NULL), -EINVAL);
	bw_close(w);
	dq_destroy(q);
}

/* A collect that finds nothing: it gives waiting tasks to workers that
 * attached since (the tests' workers run in this thread). */
static void kick(struct dq *q)
{
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
}

/* Collects every result there is; got[index] counts them. */
static void collect_into(struct dq *q, uint64_t first, uint32_t n,
			 uint32_t *got, int *errors)
{
	struct dq_result res[16];
	int r;
	while ((r = dq_collect_many(q, res, 16, 0)) > 0)
		for (int i = 0; i < r; i++) {
			uint64_t k = res[i].task_id - first;
			ASSERT_TRUE(k < n);
			ASSERT_EQ(res[i].chunk_id, first);
			ASSERT_EQ(res[i].index, k);
			got[k]++;
			if (errors)
				errors[k] = res[i].error;
		}
}

/* Worker 0 dies; worker 1 comes and takes the first task given back. */
static const struct bw_task *die_and_take_over(struct dq *q, struct bw *w0,
					       struct bw **w1)
{
	bw_close(w0);
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	*w1 = attach(q, 1);
	kick(q);
	const struct bw_task *t = bw_next(*w1);
	ASSERT_TRUE(t);
	return t;
}

/* Collects what is left: every one of the n tasks has exactly one result,
 * and none is in flight. */
static void collect_each_once(struct dq *q, uint64_t first, uint32_t n,
			      uint32_t *got)
{
	collect_into(q, first, n, got, NULL);
	for (uint32_t i = 0; i < n; i++)
		ASSERT_EQ(got[i], 1);
	ASSERT_EQ(stats(q).in_flight, 0);
}

TEST(chunk_of_a_dead_worker_goes_back_from_its_first_unanswered_task)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2});
	struct bw *w0 = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 8);
	uint32_t got[8] = {0};
	/* three answered and collected, the fourth taken, then death */
	answer(w0, 3);
	collect_into(q, first, 8, got, NULL);
	ASSERT_TRUE(bw_next(w0));
	struct bw *w1;
	const struct bw_task *t = die_and_take_over(q, w0, &w1);
	ASSERT_EQ(t->id, first + 3);
	ASSERT_EQ(number(t), 3);
	ASSERT_EQ(t->attempt, 2);
	ASSERT_EQ(bw_done(w1, t, 3, NULL, 0), 0);
	answer(w1, 4);
	collect_each_once(q, first, 8, got);
	ASSERT_EQ(stats(q).requeued, 1);
	bw_close(w1);
	dq_destroy(q);
}

/* Payloads packed by the caller go in as they are; heads that do not
 * cover the bytes exactly are refused before anything is queued. */
TEST(chunk_packed_round_trip_and_bad_heads)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	const char *words[] = {"a", "bb", "", "dddd"};
	uint8_t packed[64];
	size_t len = 0;
	for (int i = 0; i < 4; i++) {
		uint32_t n = (uint32_t)strlen(words[i]);
		memcpy(packed + len, &n, sizeof(n));
		memcpy(packed + len + sizeof(n), words[i], n);
		len += sizeof(n) + n;
	}
	/* refused: a count the heads do not match, bytes past the last
	 * head, a head past the end, no tasks, too many, no bytes */
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len, 3, 0, NULL), -EINVAL);
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len, 5, 0, NULL), -EINVAL);
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len - 1, 4, 0, NULL),
		  -EINVAL);
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len, 0, 0, NULL), -EINVAL);
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len, DQ_CHUNK_MAX + 1, 0,
					 NULL),
		  -EINVAL);
	ASSERT_EQ(dq_submit_chunk_packed(q, NULL, len, 4, 0, NULL), -EINVAL);
	ASSERT_EQ(stats(q).submitted, 0);
	uint64_t id = 0;
	ASSERT_EQ(dq_submit_chunk_packed(q, packed, len, 4, 0, &id), 0);
	for (int i = 0; i < 4; i++) {
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(t->id, id + (uint64_t)i);
		ASSERT_EQ(t->len, strlen(words[i]));
		ASSERT_TRUE(!t->len || !memcmp(t->data, words[i], t->len));
		ASSERT_EQ(bw_done(w, t, i, NULL, 0), 0);
	}
	uint32_t got[4] = {0};
	collect_each_once(q, id, 4, got);
	bw_close(w);
	dq_destroy(q);
}

/* The largest chunk: every task's bit, past the first thousand too, and
 * a dead worker's chunk going back from deep inside it. */
TEST(chunk_of_the_largest_size)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2});
	struct bw *w0 = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, DQ_CHUNK_MAX);
	static uint32_t got[DQ_CHUNK_MAX];
	memset(got, 0, sizeof(got));
	uint32_t done = DQ_CHUNK_MAX - 7;
	for (uint32_t i = 0; i < done; i += 100) {
		answer(w0, done - i < 100 ? done - i : 100);
		collect_into(q, first, DQ_CHUNK_MAX, got, NULL);
	}
	struct bw *w1;
	const struct bw_task *t = die_and_take_over(q, w0, &w1);
	ASSERT_EQ(number(t), done);
	ASSERT_EQ(bw_done(w1, t, 0, NULL, 0), 0);
	answer(w1, 6);
	collect_each_once(q, first, DQ_CHUNK_MAX, got);
	bw_close(w1);
	dq_destroy(q);
}

/* Results published by a worker that died before they were collected
 * count: its chunk goes back from the first task it had not answered. */
TEST(chunk_results_a_dead_worker_published_count)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2});
	struct bw *w0 = attach(q, 0);
	uint64_t first = submit_numbers(q, 100, 6);
	answer(w0, 2);
	bw_close(w0);
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	struct bw *w1 = attach(q, 1);
	uint32_t got[6] = {0};
	collect_into(q, first, 6, got, NULL); /* the dead one's, and a kick */
	ASSERT_EQ(got[0] + got[1], 2);
	const struct bw_task *t = bw_next(w1);
	ASSERT_TRUE(t);
	ASSERT_EQ(number(t), 102);
	ASSERT_EQ(bw_done(w1, t, 0, NULL, 0), 0);
	answer(w1, 3);
	collect_into(q, first, 6, got, NULL);
	for (int i = 0; i < 6; i++)
		ASSERT_EQ(got[i], 1);
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.completed, 6);
	ASSERT_EQ(st.stale, 0);
	ASSERT_EQ(st.in_flight, 0);
	bw_close(w1);
	dq_destroy(q);
}

/* A worker that dies out of attempts fails the task it ran, alone: the
 * tasks after it in its chunk were not delivered, and run elsewhere. */
TEST(chunk_task_a_worker_died_on_is_abandoned_alone)
{
	struct dq *q =
		mkq(&(struct dq_params){.max_workers = 2, .max_attempts = 1});
	struct bw *w = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 4);
	answer(w, 1);
	ASSERT_TRUE(bw_next(w)); /* task 1: it dies running it */
	bw_close(w);
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	uint32_t got[4] = {0};
	int errors[4] = {0};
	collect_into(q, first, 4, got, errors);
	ASSERT_EQ(got[0] + got[1], 2);
	ASSERT_EQ(got[2] + got[3], 0);
	struct bw *w1 = attach(q, 1);
	kick(q);
	const struct bw_task *t = bw_next(w1);
	ASSERT_TRUE(t && number(t) == 2);
	ASSERT_EQ(t->attempt, 1); /* never delivered before */
	ASSERT_EQ(bw_done(w1, t, 2, NULL, 0), 0);
	answer(w1, 1);
	collect_into(q, first, 4, got, errors);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(got[i], 1);
		ASSERT_EQ(errors[i], i == 1 ? -EOWNERDEAD : 0);
	}
	ASSERT_EQ(stats(q).abandoned, 1);
	ASSERT_EQ(stats(q).in_flight, 0);
	bw_close(w1);
	dq_destroy(q);
}

/* A worker answering a task twice, or one its chunk does not have, is
 * heard once, or not at all. */
TEST(chunk_second_and_foreign_answers_are_dropped)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 3);
	const struct bw_task *t = bw_next(w);
	struct bw_task copy = *t, beyond = *t;
	ASSERT_EQ(bw_done(w, &copy, 0, NULL, 0), 0);
	ASSERT_EQ(bw_done(w, &copy, 0, NULL, 0), 0);
	beyond.id = first + 3;
	ASSERT_EQ(bw_done(w, &beyond, 0, NULL, 0), 0);
	beyond.id = first - 1;
	ASSERT_EQ(bw_done(w, &beyond, 0, NULL, 0), 0);
	answer(w, 2);
	uint32_t got[3] = {0};
	collect_into(q, first, 3, got, NULL);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(got[i], 1);
	ASSERT_EQ(stats(q).stale, 3);
	ASSERT_EQ(stats(q).in_flight, 0);
	bw_close(w);
	dq_destroy(q);
}

/* ---- runs: one record for consecutive tasks that succeed bare --------- */

/* Answers task i of a chunk of ten: 4 fails, 7 answers with bytes, the
 * rest succeed with nothing. With runs, the records are 0-3, 4, 5-6, 7,
 * 8-9; without, one a task. Either way each task has one result. */
static void answer_ten(struct dq *q, bool runs)
{
	struct bw *w = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 10);
	for (uint32_t i = 0; i < 10; i++) {
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(bw_done(w, t, i == 4, i == 7 ? "x" : NULL, i == 7),
			  0);
	}
	struct dq_result res[16];
	int r = dq_collect_many(q, res, 16, 0);
	static const uint32_t index[] = {0, 4, 5, 7, 8};
	static const uint32_t count[] = {4, 1, 2, 1, 2};
	ASSERT_EQ(r, runs ? 5 : 10);
	uint32_t got[10] = {0};
	for (int i = 0; i < r; i++) {
		ASSERT_EQ(res[i].index, runs ? index[i] : (uint32_t)i);
		ASSERT_EQ(res[i].count, runs ? count[i] : 1);
		ASSERT_EQ(res[i].task_id, first + res[i].index);
		ASSERT_EQ(res[i].status, res[i].index == 4);
		ASSERT_EQ(res[i].len, res[i].index == 7);
		for (uint32_t k = 0; k < res[i].count; k++)
			got[res[i].index + k]++;
	}
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(got[i], 1);
	ASSERT_EQ(stats(q).completed, 10);
	ASSERT_EQ(stats(q).in_flight, 0);
	bw_close(w);
}

TEST(chunk_runs_answer_consecutive_bare_successes_in_one_record)
{
	struct dq *q = mkq(&(struct dq_params){.runs = true});
	answer_ten(q, true);
	dq_destroy(q);
	q = mkq(NULL);
	answer_ten(q, false);
	dq_destroy(q);
}

/* A worker that dies running task 3 of a chunk, after three bare
 * successes whose run it had not published: the run counts (its tasks
 * ran), and the task it died on is the one that goes back, with its
 * second delivery, as without runs. The dead handle is closed only at
 * the end, its region by then another worker's to ignore. */
TEST(chunk_run_a_dead_worker_had_open_counts)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2, .runs = true});
	struct bw *w0 = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 8);
	for (int i = 0; i < 3; i++) {
		const struct bw_task *t = bw_next(w0);
		ASSERT_TRUE(t);
		ASSERT_EQ(bw_done(w0, t, 0, NULL, 0), 0);
	}
	ASSERT_TRUE(bw_next(w0)); /* task 3, which kills it */
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	struct bw *w1 = attach(q, 1);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.index, 0);
	ASSERT_EQ(res.count, 3);
	const struct bw_task *t = bw_next(w1);
	ASSERT_TRUE(t);
	ASSERT_EQ(t->id, first + 3);
	ASSERT_EQ(t->attempt, 2);
	ASSERT_EQ(bw_done(w1, t, 3, NULL, 0), 0);
	answer(w1, 4);
	uint32_t got[8] = {1, 1, 1};
	collect_each_once(q, first, 8, got);
	bw_close(w1);
	bw_close(w0);
	dq_destroy(q);
}

/* A record written by hand into worker 0's ring and published, as a
 * hostile worker could (the worker library's own count is left behind:
 * the caller answers nothing through it after). */
static void forge(struct dq *q, struct bq_record rec)
{
	size_t wsize;
	uint8_t *m = dq_worker_mapping(q, 0, &wsize);
	struct bq_worker *r = (struct bq_worker *)m;
	uint64_t tail = atomic_load(&r->res_tail);
	if (!rec.size)
		rec.size = sizeof(rec);
	memcpy(m + r->result_off + (tail & (r->result_size - 1)), &rec,
	       sizeof(rec));
	atomic_store(&r->res_tail, tail + rec.size);
}

/* The result of the forged record, if it counts; 0 when it is dropped. */
static int forged_result(struct dq *q, struct dq_result *res)
{
	int r = dq_collect(q, res, 0);
	ASSERT_TRUE(r == 0 || r == -EAGAIN);
	return r == 0;
}

/* Worker 0's records claiming runs: one that leaves its chunk, or
 * answers a task that has its result, is dropped whole; one the queue
 * did not allow, longer than BQ_RUN_MAX, or with bytes or a failure,
 * does not parse: the worker is corrupt. */
TEST(chunk_forged_runs_are_checked)
{
	struct dq *q = mkq(&(struct dq_params){.runs = true});
	struct bw *w = attach(q, 0);
	uint64_t first = submit_numbers(q, 0, 8);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t);
	struct bq_record rec = {
		.lease = t->priv_lease, .gen = t->priv_gen, .task_id = first};
	struct dq_result res;
	rec.count = 9; /* past the chunk's 8 */
	forge(q, rec);
	ASSERT_EQ(forged_result(q, &res), 0);
	rec.count = 3;
	forge(q, rec);
	ASSERT_EQ(forged_result(q, &res), 1);
	ASSERT_EQ(res.index, 0);
	ASSERT_EQ(res.count, 3);
	rec.task_id = first + 2; /* task 2 has its result */
	rec.count = 2;
	forge(q, rec);
	ASSERT_EQ(forged_result(q, &res), 0);
	rec.task_id = first + 3;
	rec.count = 5;
	forge(q, rec);
	ASSERT_EQ(forged_result(q, &res), 1);
	ASSERT_EQ(res.index, 3);
	ASSERT_EQ(res.count, 5);
	ASSERT_EQ(stats(q).stale, 2);
	ASSERT_EQ(stats(q).completed, 8);
	ASSERT_EQ(stats(q).in_flight, 0);
	bw_close(w);
	dq_destroy(q);
	/* records that do not parse */
	struct bq_record bad[] = {
		{.count = BQ_RUN_MAX + 1},
		{.count = 2, .len = 8, .size = sizeof(rec) + 8},
		{.count = 2, .status = 1},
		{.count = 2}, /* on a queue without runs */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		bool off = i == 3;
		q = mkq(off ? NULL : &(struct dq_params){.runs = true});
		w = attach(q, 0);
		first = submit_numbers(q, 0, 8);
		t = bw_next(w);
		ASSERT_TRUE(t);
		bad[i].lease = t->priv_lease;
		bad[i].gen = t->priv_gen;
		bad[i].task_id = first;
		forge(q, bad[i]);
		int r = 0;
		for (int k = 0; k < 3 && r != -EBADMSG; k++)
			r = dq_collect(q, &res, 0);
		ASSERT_EQ(r, -EBADMSG);
		ASSERT_EQ(res.worker, 0);
		bw_close(w);
		dq_destroy(q);
	}
}

/* ---- many rounds, eight worker threads that die at random ------------- */

#ifdef __SANITIZE_THREAD__
#define ROUNDS 10000u
#define MAX_RUN 12u
#else
#define ROUNDS 10000u
#define MAX_RUN 64u
#endif
#define THREADS 8u

struct slot {
	struct dq *q;
	uint32_t id;
	struct bw *w;
	pthread_t th;
	uint64_t seed;
	bool runs; /* answer bare (status 0, nothing) where v % 5 != 0 */
	_Atomic bool dead;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint32_t mix(uint32_t v)
{
	return v * 2654435761u ^ 0x5bd1e995u;
}

/* Answers tasks with mix(number), or bare (s->runs); about one task in 300
 * it dies instead: stops where it stands, with the rest of its chunk
 * unanswered. */
static void *chunk_worker(void *arg)
{
	struct slot *s = arg;
	const struct bw_task *t;
	while ((t = bw_next(s->w)) != NULL) {
		if (rnd(&s->seed) % 300 == 0)
			break;
		uint32_t v = number(t), out = mix(v);
		bool bare = s->runs && v % 5;
		if (bw_done(s->w, t, bare ? 0 : (int32_t)v, bare ? NULL : &out,
			    bare ? 0 : sizeof(out)) < 0)
			break;
	}
	atomic_store(&s->dead, true);
	return NULL;
}

static void slot_start(struct slot *s)
{
	s->w = attach(s->q, s->id);
	atomic_store(&s->dead, false);
	ASSERT_EQ(pthread_create(&s->th, NULL, chunk_worker, s), 0);
}

/* The dead are reclaimed and replaced; returns how many. */
static uint32_t replace_dead(struct slot *slots, bool restart)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < THREADS; i++) {
		if (!slots[i].w || !atomic_load(&slots[i].dead))
			continue;
		pthread_join(slots[i].th, NULL);
		/* every other death as a crash: reclaimed before the handle
		 * closes (and publishes a run it had open), as a process
		 * killed would be; the late publication is stale bytes to
		 * the queue by then */
		bool crash = rnd(&slots[i].seed) % 2;
		if (!crash)
			bw_close(slots[i].w);
		ASSERT_TRUE(dq_reclaim(slots[i].q, i) >= 0);
		if (crash)
			bw_close(slots[i].w);
		slots[i].w = NULL;
		if (restart)
			slot_start(&slots[i]);
		n++;
	}
	return n;
}

struct tally {
	uint8_t *seen;	     /* by number: results collected */
	uint32_t total, got; /* numbers submitted, results */
	bool runs;
};

/* Task v's result, once: bare where the workers answer so, else its
 * number and mix(v). Task ids are the numbers + 1 (checked at submit). */
static void take_one(struct tally *ty, const struct dq_result *res, uint32_t k)
{
	uint32_t v = (uint32_t)(res->task_id + k - 1), out;
	ASSERT_TRUE(v < ty->total);
	if (ty->runs && v % 5) {
		ASSERT_EQ(res->status, 0);
		ASSERT_EQ(res->len, 0);
	} else {
		ASSERT_EQ(res->count, 1);
		ASSERT_EQ((uint32_t)res->status, v);
		ASSERT_EQ(res->len, sizeof(out));
		memcpy(&out, res->data, sizeof(out));
		ASSERT_EQ(out, mix(v));
	}
	ASSERT_EQ(ty->seen[v], 0);
	ty->seen[v] = 1;
	ty->got++;
}

static void take(struct dq *q, struct tally *ty, int timeout_ms)
{
	struct dq_result res[32];
	int r = dq_collect_many(q, res, 32, timeout_ms);
	ASSERT_TRUE(r > 0 || r == -EAGAIN || r == -ENODATA);
	for (int i = 0; i < r; i++) {
		ASSERT_EQ(res[i].error, 0);
		ASSERT_TRUE(res[i].count >= 1 && res[i].count <= BQ_RUN_MAX);
		for (uint32_t k = 0; k < res[i].count; k++)
			take_one(ty, &res[i], k);
	}
}

static void stress(bool runs)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = THREADS,
					       .capacity = 256,
					       .max_attempts = 1000,
					       .runs = runs});
	struct slot slots[THREADS];
	for (uint32_t i = 0; i < THREADS; i++) {
		slots[i] = (struct slot){
			.q = q, .id = i, .seed = 77 + i, .runs = runs};
		slot_start(&slots[i]);
	}
	uint64_t seed = 12345;
	struct tally ty = {.seen = calloc(ROUNDS * MAX_RUN, 1), .runs = runs};
	uint32_t deaths = 0;
	time_t deadline = time(NULL) + 120;
	alarm(180);
	for (uint32_t round = 0; round < ROUNDS; round++) {
		uint32_t n = 1 + (uint32_t)(rnd(&seed) % MAX_RUN);
		static char text[MAX_RUN][12];
		struct iovec iov[MAX_RUN];
		for (uint32_t i = 0; i < n; i++) {
			int len = snprintf(text[i], sizeof(text[i]), "%u",
					   ty.total + i);
			iov[i] = (struct iovec){text[i], (size_t)len};
		}
		uint64_t id = 0;
		while (dq_submit_chunk(q, iov, n, 0, &id) == -EAGAIN) {
			take(q, &ty, 5);
			deaths += replace_dead(slots, true);
			ASSERT_TRUE(time(NULL) < deadline);
		}
		ASSERT_EQ(id, (uint64_t)ty.total + 1);
		ty.total += n;
		if (round % 8 == 0) {
			take(q, &ty, 0);
			deaths += replace_dead(slots, true);
		}
	}
	while (ty.got < ty.total) {
		take(q, &ty, 5);
		deaths += replace_dead(slots, true);
		ASSERT_TRUE(time(NULL) < deadline);
	}
	dq_close(q);
	for (uint32_t i = 0; i < THREADS; i++) {
		if (!slots[i].w)
			continue;
		pthread_join(slots[i].th, NULL);
		bw_close(slots[i].w);
	}
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.completed, ty.total);
	ASSERT_EQ(st.abandoned, 0);
	ASSERT_EQ(st.in_flight, 0);
	ASSERT_TRUE(deaths > 10);
	printf("    %u chunks, %u tasks, %u deaths, %llu requeued, %llu "
	       "stale\n",
	       ROUNDS, ty.total, deaths, (unsigned long long)st.requeued,
	       (unsigned long long)st.stale);
	free(ty.seen);
	dq_destroy(q);
}

TEST(chunk_stress_every_task_once_with_deaths)
{
	stress(false);
}

/* The same where most tasks succeed bare: their results come in runs,
 * and a worker that dies leaves its run unpublished or whole. */
TEST(chunk_stress_runs_every_task_once_with_deaths)
{
	stress(true);
}

/* ---- wake-ups: one a chunk, not one a task --------------------------- */

static void *answer_all(void *arg)
{
	struct bw *w = arg;
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL)
		if (bw_done(w, t, 0, NULL, 0) < 0)
			break;
	return NULL;
}

TEST(chunk_wakes_the_collector_once_a_chunk)
{
	enum { TASKS = 200000, RUN = 500 };
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2});
	struct bw *w[2] = {attach(q, 0), attach(q, 1)};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, answer_all, w[i]), 0);
	static struct iovec iov[RUN];
	uint32_t sent = 0, got = 0;
	struct dq_result res[64];
	while (got < TASKS) {
		/* a few chunks ahead, then sleep for results */
		while (sent < TASKS && sent - got < 4 * RUN &&
		       dq_submit_chunk(q, iov, RUN, 0, NULL) == 0)
			sent += RUN;
		int r = dq_collect_many(q, res, 64, 1000);
		ASSERT_TRUE(r > 0);
		got += (uint32_t)r;
	}
	dq_close(q);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		bw_close(w[i]);
	}
	struct dq_stats st = stats(q);
	printf("    %d tasks: %llu collector wakes by workers, %llu collect "
	       "sleeps, %llu worker sleeps, %llu wakes of workers\n",
	       TASKS, (unsigned long long)st.worker_wakes,
	       (unsigned long long)st.collect_sleeps,
	       (unsigned long long)st.worker_sleeps,
	       (unsigned long long)st.wakes);
	/* a wake-up a chunk at most, each way, and a few at the end */
	ASSERT_TRUE(st.worker_wakes <= TASKS / RUN + 8);
	ASSERT_TRUE(st.wakes <= TASKS / RUN + 8);
	ASSERT_TRUE(st.collect_sleeps <= TASKS / RUN + 8);
	dq_destroy(q);
}
