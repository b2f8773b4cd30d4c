/* dist/: the task queue (dq_*) and the worker library (bw_*), one process
 * or a coordinator with forked workers. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "dist/berth-queue-layout.h"
#include "tests/unit/test-dist.h"

static void set_env(struct dq *q, uint32_t id)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", dq_fd(q));
	setenv(BW_ENV_FD, buf, 1);
	int wfd = dq_worker_fd(q, id);
	snprintf(buf, sizeof(buf), "%d", wfd < 0 ? dq_worker_fd(q, 0) : wfd);
	setenv(BW_ENV_WORKER_FD, buf, 1);
	snprintf(buf, sizeof(buf), "%u", id);
	setenv(BW_ENV_WORKER, buf, 1);
}

/* Forks a worker that attaches through the environment like a real one
 * and runs fn; its exit status is fn's return value. */
static pid_t spawn(struct dq *q, uint32_t id, int (*fn)(struct bw *w))
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		set_env(q, id);
		struct bw *w;
		char err[256];
		if (bw_open(&w, err, sizeof(err)) < 0) {
			fprintf(stderr, "worker: %s\n", err);
			_exit(100);
		}
		_exit(fn(w));
	}
	return pid;
}

static int exit_status(pid_t pid)
{
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST(round_trip)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	uint64_t id = 0;
	ASSERT_EQ(dq_submit(q, "hello", 5, 0, &id), 0);
	ASSERT_EQ(id, 1);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t);
	ASSERT_EQ(t->id, 1);
	ASSERT_EQ(t->len, 5);
	ASSERT_EQ(t->attempt, 1);
	ASSERT_TRUE(!memcmp(t->data, "hello", 5));
	ASSERT_EQ(bw_done(w, t, 7, "world!", 6), 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, 1);
	ASSERT_EQ(res.error, 0);
	ASSERT_EQ(res.status, 7);
	ASSERT_EQ(res.worker, 0);
	ASSERT_EQ(res.attempts, 1);
	ASSERT_EQ(res.len, 6);
	ASSERT_TRUE(!memcmp(res.data, "world!", 6));
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	/* an empty task and an empty result */
	ASSERT_EQ(dq_submit(q, NULL, 0, 0, &id), 0);
	ASSERT_EQ(id, 2);
	t = bw_next(w);
	ASSERT_TRUE(t && t->len == 0 && t->id == 2);
	ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_TRUE(res.task_id == 2 && res.len == 0 && !res.data);
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.submitted, 2);
	ASSERT_EQ(st.completed, 2);
	ASSERT_EQ(st.in_flight, 0);
	ASSERT_EQ(st.worker_tasks, 2);
	bw_close(w);
	dq_destroy(q);
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static bool has_pattern(const uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 31 + seed))
			return false;
	return true;
}

TEST(payload_larger_than_a_slot)
{
	struct dq *q = mkq(&(struct dq_params){.arena_size = 4 << 20});
	struct bw *w = attach(q, 0);
	size_t n = 3 << 20;
	uint8_t *buf = malloc(n);
	fill_pattern(buf, n, 5);
	ASSERT_EQ(dq_submit(q, buf, n, 0, NULL), 0);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t && t->len == n);
	ASSERT_TRUE(has_pattern(t->data, n, 5));
	/* results up to half the worker's ring */
	size_t max = bw_max_result(w);
	ASSERT_EQ(max, (256 << 10) / 2 - 32);
	ASSERT_EQ(bw_done(w, t, 0, buf, max + 1), -EMSGSIZE);
	ASSERT_EQ(bw_done(w, t, 0, buf, max), 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.len, max);
	ASSERT_TRUE(has_pattern(res.data, max, 5));
	/* never fits */
	ASSERT_EQ(dq_submit(q, buf, (4 << 20) + 1, 0, NULL), -EMSGSIZE);
	free(buf);
	bw_close(w);
	dq_destroy(q);
}

/* A steady flow of small payloads stays in the arena's first MiB, so that
 * the coordinator does not fault in (and the kernel clear) all of it. */
TEST(arena_small_payloads_stay_in_its_first_mib)
{
	struct dq *q = mkq(&(struct dq_params){.arena_size = 16 << 20});
	struct bw *w = attach(q, 0);
	size_t size;
	const uint8_t *base = dq_mapping(q, &size);
	const struct bq_config *cfg = (const void *)base;
	uint8_t buf[1000];
	uint64_t highest = 0;
	/* four in flight: the arena is never empty, so never restarts at
	 * 0 for that reason */
	for (uint32_t i = 0; i < 20000 + 4; i++) {
		if (i < 20000) {
			fill_pattern(buf, sizeof(buf), i);
			ASSERT_EQ(dq_submit(q, buf, sizeof(buf), 0, NULL), 0);
		}
		if (i < 4)
			continue;
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t && has_pattern(t->data, sizeof(buf), i - 4));
		uint64_t off = (uint64_t)((const uint8_t *)t->data - base) -
			       cfg->arena_off;
		highest = off > highest ? off : highest;
		ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
		struct dq_result res;
		ASSERT_EQ(dq_collect(q, &res, 0), 0);
	}
	/* 20 MB went through it */
	ASSERT_TRUE(highest < (1 << 20) + 1024);
	ASSERT_TRUE(stats(q).arena_wraps >= 10);
	bw_close(w);
	dq_destroy(q);
}

TEST(arena_wraps_around)
{
	struct dq *q = mkq(&(struct dq_params){.arena_size = 4096});
	struct bw *w = attach(q, 0);
	uint8_t buf[4096];
	uint64_t ids[4];
	/* 1000 bytes take 1024: four fill the arena, a fifth must wait */
	for (int i = 0; i < 4; i++) {
		fill_pattern(buf, 1000, (uint32_t)i);
		ASSERT_EQ(dq_submit(q, buf, 1000, 0, &ids[i]), 0);
	}
	ASSERT_EQ(dq_submit(q, buf, 1000, 0, NULL), -EAGAIN);
	for (int i = 0; i < 4; i++) {
		const struct bw_task *t = bw_next(w);
		ASSERT_TRUE(t && t->id == ids[i]);
		ASSERT_TRUE(has_pattern(t->data, 1000, (uint32_t)i));
		ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
	}
	struct dq_result res;
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(dq_collect(q, &res, 0), 0);
	/* odd sizes, three in flight, many laps: every payload intact */
	for (uint32_t round = 0; round < 200; round++) {
		size_t len[3];
		for (int i = 0; i < 3; i++) {
			len[i] = 700 + (round * 37 + (uint32_t)i * 101) % 600;
			fill_pattern(buf, len[i], round + (uint32_t)i);
			ASSERT_EQ(dq_submit(q, buf, len[i], 0, NULL), 0);
		}
		for (int i = 0; i < 3; i++) {
			const struct bw_task *t = bw_next(w);
			ASSERT_TRUE(t && t->len == len[i]);
			ASSERT_TRUE(has_pattern(t->data, len[i],
						round + (uint32_t)i));
			ASSERT_EQ(bw_done(w, t, 0, t->data, t->len), 0);
		}
		for (int i = 0; i < 3; i++) {
			ASSERT_EQ(dq_collect(q, &res, 0), 0);
			ASSERT_TRUE(has_pattern(res.data, len[i],
						round + (uint32_t)i));
		}
	}
	struct dq_stats st = stats(q);
	ASSERT_TRUE(st.arena_wraps >= 100);
	ASSERT_EQ(st.arena_used, 0);
	/* an empty arena takes a payload of its whole size */
	fill_pattern(buf, 4096, 9);
	ASSERT_EQ(dq_submit(q, buf, 4096, 0, NULL), 0);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t && has_pattern(t->data, 4096, 9));
	bw_close(w);
	dq_destroy(q);
}

/* Collects one result after 50 ms, from another thread. */
static void *late_collector(void *arg)
{
	struct dq_result res;
	usleep(50000);
	return (void *)(intptr_t)dq_collect(arg, &res, 1000);
}

TEST(full_queue_pushes_back)
{
	struct dq *q = mkq(&(struct dq_params){.capacity = 4});
	struct bw *w = attach(q, 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(dq_submit(q, "x", 1, 0, NULL), 0);
	ASSERT_EQ(dq_submit(q, "x", 1, 0, NULL), -EAGAIN);
	long t0 = now_ms();
	ASSERT_EQ(dq_submit(q, "x", 1, 60, NULL), -EAGAIN);
	ASSERT_TRUE(now_ms() - t0 >= 50);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t);
	ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
	/* a blocking submit returns once another thread collected */
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, late_collector, q), 0);
	uint64_t id = 0;
	ASSERT_EQ(dq_submit(q, "y", 1, -1, &id), 0);
	ASSERT_EQ(id, 5);
	void *rv;
	pthread_join(th, &rv);
	ASSERT_EQ((intptr_t)rv, 0);
	/* the ring laps: ten more rounds through four slots */
	for (int i = 0; i < 40; i++) {
		t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
		struct dq_result res;
		ASSERT_EQ(dq_collect(q, &res, 0), 0);
		ASSERT_EQ(dq_submit(q, "z", 1, 0, NULL), 0);
	}
	ASSERT_EQ(stats(q).in_flight, 4);
	bw_close(w);
	dq_destroy(q);
}

static int run_until_end(struct bw *w)
{
	int n = 0;
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		if (bw_done(w, t, (int32_t)t->id * 10, t->data, t->len) < 0)
			return 2;
		n++;
	}
	return errno == 0 ? n : 3;
}

TEST(close_ends_workers)
{
	alarm(30);
	struct dq *q = mkq(NULL);
	ASSERT_EQ(dq_submit(q, "a", 1, 0, NULL), 0);
	ASSERT_EQ(dq_submit(q, "b", 1, 0, NULL), 0);
	pid_t pid = spawn(q, 0, run_until_end);
	dq_close(q);
	ASSERT_EQ(dq_submit(q, "c", 1, 0, NULL), -EPIPE);
	struct dq_result res;
	int got = 0;
	while (dq_collect(q, &res, 5000) == 0) {
		ASSERT_EQ(res.status, (int32_t)res.task_id * 10);
		got++;
	}
	ASSERT_EQ(got, 2);
	/* the worker ends once every result is collected */
	ASSERT_EQ(exit_status(pid), 2);
	dq_destroy(q);
}

TEST(destroy_ends_workers)
{
	alarm(30);
	struct dq *q = mkq(NULL);
	pid_t pid = spawn(q, 0, run_until_end);
	usleep(20000);
	dq_destroy(q);
	ASSERT_EQ(exit_status(pid), 0);
}

static int take_and_die(struct bw *w)
{
	const struct bw_task *t = bw_next(w);
	_exit(t ? 0 : 1); /* no bw_done, no bw_close */
}

TEST(reclaim_after_worker_death)
{
	alarm(30);
	struct dq *q = mkq(NULL);
	uint64_t id;
	ASSERT_EQ(dq_submit(q, "job", 3, 0, &id), 0);
	pid_t pid = spawn(q, 0, take_and_die);
	struct dq_result res;
	/* the task goes to the worker once it is attached: the collector
	 * gives it */
	ASSERT_EQ(dq_collect(q, &res, 300), -EAGAIN);
	ASSERT_EQ(exit_status(pid), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	/* the dead worker still holds its id until reclaimed */
	size_t size;
	void *base = dq_mapping(q, &size);
	struct bw *w0;
	char err[256];
	ASSERT_EQ(bw_attach(base, size, 0, &w0, err, sizeof(err)), -EBUSY);
	ASSERT_CONTAINS(err, "already attached");
	/* tasks go to attached workers: reclaim gives it to this one */
	struct bw *w1 = attach(q, 1);
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	ASSERT_EQ(stats(q).requeued, 1);
	const struct bw_task *t = bw_next(w1);
	ASSERT_TRUE(t);
	ASSERT_EQ(t->id, id);
	ASSERT_EQ(t->attempt, 2);
	ASSERT_TRUE(!memcmp(t->data, "job", 3));
	ASSERT_EQ(bw_done(w1, t, 0, "ok", 2), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, id);
	ASSERT_EQ(res.worker, 1);
	ASSERT_EQ(res.attempts, 2);
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	ASSERT_EQ(stats(q).completed, 1);
	/* the id is free for a successor */
	w0 = attach(q, 0);
	bw_close(w0);
	bw_close(w1);
	dq_destroy(q);
}

struct waiting_collect {
	struct dq *q;
	struct dq_result res;
	int r;
};

static void *collect_5s(void *arg)
{
	struct waiting_collect *c = arg;
	c->r = dq_collect(c->q, &c->res, 5000);
	return NULL;
}

TEST(reclaim_while_collect_waits)
{
	alarm(30);
	struct dq *q = mkq(&(struct dq_params){.max_attempts = 1});
	uint64_t id;
	ASSERT_EQ(dq_submit(q, "job", 3, 0, &id), 0);
	pid_t pid = spawn(q, 0, take_and_die);
	struct dq_result res;
	/* the collector gives the task to the worker once it attached */
	ASSERT_EQ(dq_collect(q, &res, 300), -EAGAIN);
	ASSERT_EQ(exit_status(pid), 0);
	struct waiting_collect c = {.q = q};
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, collect_5s, &c), 0);
	usleep(20000);
	ASSERT_TRUE(stats(q).collect_sleeps >= 1);
	/* this thread reaps the worker while the collector sleeps */
	long t0 = now_ms();
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	pthread_join(th, NULL);
	ASSERT_TRUE(now_ms() - t0 < 2000);
	ASSERT_EQ(c.r, 0);
	ASSERT_EQ(c.res.task_id, id);
	ASSERT_EQ(c.res.error, -EOWNERDEAD);
	dq_destroy(q);
}

TEST(stale_result_is_rejected)
{
	struct dq *q = mkq(NULL);
	struct bw *wa = attach(q, 0), *wb = attach(q, 1);
	uint64_t id;
	ASSERT_EQ(dq_submit(q, "t", 1, 0, &id), 0);
	struct bw_task ta = *bw_next(wa);
	/* the coordinator declares worker 0 dead while it still runs */
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	const struct bw_task *tb = bw_next(wb);
	ASSERT_TRUE(tb && tb->id == id && tb->attempt == 2);
	ASSERT_EQ(bw_done(wa, &ta, 1, "A", 1), 0);
	ASSERT_EQ(bw_done(wb, tb, 2, "B", 1), 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, id);
	ASSERT_EQ(res.status, 2);
	ASSERT_EQ(res.worker, 1);
	ASSERT_TRUE(!memcmp(res.data, "B", 1));
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.stale, 1);
	ASSERT_EQ(st.completed, 1);
	bw_close(wa);
	bw_close(wb);
	dq_destroy(q);
}

TEST(only_the_current_lease_counts)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	uint64_t id;
	ASSERT_EQ(dq_submit(q, "t", 1, 0, &id), 0);
	struct bw_task first = *bw_next(w);
	/* taken back, then delivered to the same worker id again (a
	 * successor: tasks go to attached workers, the collector gives it) */
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	bw_close(w);
	w = attach(q, 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	struct bw_task second = *bw_next(w);
	ASSERT_EQ(second.id, id);
	ASSERT_EQ(second.attempt, 2);
	ASSERT_EQ(bw_done(w, &first, 1, NULL, 0), 0);
	ASSERT_EQ(bw_done(w, &second, 2, NULL, 0), 0);
	/* and a task reported twice counts once */
	ASSERT_EQ(bw_done(w, &second, 3, NULL, 0), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.status, 2);
	ASSERT_EQ(res.attempts, 2);
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	ASSERT_EQ(stats(q).stale, 2);
	bw_close(w);
	dq_destroy(q);
}

TEST(reclaim_keeps_published_results)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 0);
	ASSERT_EQ(dq_submit(q, "t", 1, 0, NULL), 0);
	ASSERT_EQ(dq_submit(q, "u", 1, 0, NULL), 0);
	const struct bw_task *t = bw_next(w);
	ASSERT_EQ(bw_done(w, t, 5, "r", 1), 0);
	ASSERT_TRUE(bw_next(w) != NULL);
	/* dies holding the second task, the first one's result published */
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, 1);
	ASSERT_EQ(res.status, 5);
	ASSERT_EQ(res.attempts, 1);
	bw_close(w);
	w = attach(q, 0);
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	t = bw_next(w);
	ASSERT_TRUE(t && t->id == 2 && t->attempt == 2);
	bw_close(w);
	dq_destroy(q);
}

TEST(abandoned_after_max_attempts)
{
	struct dq *q = mkq(&(struct dq_params){.max_attempts = 2});
	struct bw *w0 = attach(q, 0), *w1 = attach(q, 1);
	uint64_t id;
	ASSERT_EQ(dq_submit(q, "poison", 6, 0, &id), 0);
	ASSERT_TRUE(bw_next(w0));
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	const struct bw_task *t = bw_next(w1);
	ASSERT_TRUE(t && t->attempt == 2);
	struct bw_task copy = *t;
	ASSERT_EQ(dq_reclaim(q, 1), 1);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, id);
	ASSERT_EQ(res.error, -EOWNERDEAD);
	ASSERT_EQ(res.attempts, 2);
	ASSERT_EQ(res.worker, 1);
	ASSERT_TRUE(!res.data);
	/* a late result of the last holder does not count twice */
	ASSERT_EQ(bw_done(w1, &copy, 0, "late", 4), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), -ENODATA);
	struct dq_stats st = stats(q);
	ASSERT_EQ(st.abandoned, 1);
	ASSERT_EQ(st.completed, 0);
	ASSERT_EQ(st.in_flight, 0);
	bw_close(w0);
	bw_close(w1);
	dq_destroy(q);
}

TEST(untaken_task_of_dead_worker_is_not_a_delivery)
{
	struct dq *q = mkq(&(struct dq_params){.capacity = 4});
	struct bw *w0 = attach(q, 0);
	uint64_t id;
	/* given to worker 0 (the only one attached), which dies before it
	 * takes it */
	ASSERT_EQ(dq_submit(q, "t", 1, 0, &id), 0);
	bw_close(w0);
	ASSERT_EQ(dq_reclaim(q, 0), 1);
	ASSERT_EQ(stats(q).requeued, 0);
	struct bw *w = attach(q, 1);
	struct dq_result res;
	/* the collector gives it to the worker attached since */
	ASSERT_EQ(dq_collect(q, &res, 0), -EAGAIN);
	const struct bw_task *t = bw_next(w);
	ASSERT_TRUE(t && t->id == id && t->attempt == 1);
	ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
	ASSERT_EQ(dq_collect(q, &res, 0), 0);
	ASSERT_EQ(res.task_id, id);
	ASSERT_EQ(res.attempts, 1);
	/* and the ring keeps going for several laps */
	for (int i = 0; i < 40; i++) {
		ASSERT_EQ(dq_submit(q, "x", 1, 0, NULL), 0);
		t = bw_next(w);
		ASSERT_TRUE(t);
		ASSERT_EQ(bw_done(w, t, 0, NULL, 0), 0);
		ASSERT_EQ(dq_collect(q, &res, 0), 0);
	}
	ASSERT_EQ(stats(q).dispatched, 42);
	bw_close(w);
	dq_destroy(q);
}

TEST(bad_magic_or_version_refused)
{
	struct dq *q = mkq(NULL);
	struct bq_header *h = dq_mapping(q, NULL);
	struct bw *w = NULL;
	char err[256];
	set_env(q, 0);
	h->cfg.magic ^= 1;
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -EPROTO);
	ASSERT_CONTAINS(err, "bad magic number");
	h->cfg.magic ^= 1;
	h->cfg.version = 99;
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -EPROTONOSUPPORT);
	ASSERT_CONTAINS(err, "version 99");
	h->cfg.version = BQ_VERSION;
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), 0);
	ASSERT_EQ(bw_worker_id(w), 0);
	bw_close(w);
	dq_destroy(q);
}

TEST(environment_errors_are_clear)
{
	struct dq *q = mkq(&(struct dq_params){.max_workers = 2});
	struct bw *w = NULL;
	char err[256];
	set_env(q, 0);
	unsetenv(BW_ENV_FD);
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "BERTH_QUEUE_FD is not set");
	setenv(BW_ENV_FD, "3x", 1);
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "BERTH_QUEUE_FD=`3x`");
	setenv(BW_ENV_FD, "987", 1);
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -EBADF);
	ASSERT_CONTAINS(err, "not open");
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(bw_open_fd(null, 0, &w, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "not a sealed memfd");
	close(null);
	set_env(q, 2);
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "worker id 2 out of range");
	unsetenv(BW_ENV_WORKER);
	ASSERT_EQ(bw_open(&w, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "BERTH_WORKER_ID is not set");
	dq_destroy(q);
}

TEST(worker_id_taken_once)
{
	struct dq *q = mkq(NULL);
	struct bw *w = attach(q, 3), *again;
	char err[256];
	size_t size;
	void *base = dq_mapping(q, &size);
	ASSERT_EQ(bw_attach(base, size, 3, &again, err, sizeof(err)), -EBUSY);
	bw_close(w);
	ASSERT_EQ(bw_attach(base, size, 3, &again, err, sizeof(err)), 0);
	bw_close(again);
	dq_destroy(q);
}

/* CPU time (user + system) of pid in clock ticks. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	ASSERT_TRUE(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, stt = 0;
	ASSERT_TRUE(p && sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
				"%lu %lu",
				&ut, &stt) == 2);
	return (long)(ut + stt);
}

TEST(idle_workers_sleep_and_wake)
{
	alarm(30);
	struct dq *q = mkq(NULL);
	pid_t pid = spawn(q, 0, run_until_end);
	usleep(50000);
	long before = cpu_ticks(pid);
	usleep(300000);
	/* asleep in the kernel, not spinning: far less than 300 ms of CPU */
	ASSERT_TRUE(cpu_ticks(pid) - before < 10);
	ASSERT_TRUE(stats(q).worker_sleeps >= 1);
	ASSERT_EQ(dq_submit(q, "wake", 4, 0, NULL), 0);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 5000), 0);
	ASSERT_TRUE(stats(q).wakes >= 1);
	dq_close(q);
	ASSERT_EQ(exit_status(pid), 1);
	dq_destroy(q);
}

TEST(collect_sleeps_until_timeout)
{
	struct dq *q = mkq(NULL);
	struct dq_result res;
	ASSERT_EQ(dq_collect(q, &res, 100), -ENODATA);
	ASSERT_EQ(dq_submit(q, "t", 1, 0, NULL), 0);
	long t0 = now_ms();
	ASSERT_EQ(dq_collect(q, &res, 100), -EAGAIN);
	ASSERT_TRUE(now_ms() - t0 >= 90);
	ASSERT_TRUE(stats(q).collect_sleeps >= 1);
	dq_destroy(q);
}

#define BIG_RESULTS 40
#define BIG_LEN 1500

static int big_results(struct bw *w)
{
	uint8_t buf[BIG_LEN];
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		fill_pattern(buf, BIG_LEN, (uint32_t)t->id);
		if (bw_done(w, t, 0, buf, BIG_LEN) < 0)
			return 2;
	}
	return 0;
}

TEST(result_ring_wraps_and_waits_for_space)
{
	alarm(30);
	/* 4 KiB result ring: two 1.5 KiB results fill it */
	struct dq *q = mkq(&(struct dq_params){.result_size = 4096});
	for (int i = 0; i < BIG_RESULTS; i++)
		ASSERT_EQ(dq_submit(q, NULL, 0, 0, NULL), 0);
	dq_close(q);
	pid_t pid = spawn(q, 0, big_results);
	struct dq_result res;
	int got = 0;
	while (dq_collect(q, &res, 5000) == 0) {
		ASSERT_EQ(res.len, BIG_LEN);
		ASSERT_TRUE(
			has_pattern(res.data, BIG_LEN, (uint32_t)res.task_id));
		got++;
		usleep(2000); /* slower than the worker: it waits for room */
	}
	ASSERT_EQ(got, BIG_RESULTS);
	ASSERT_EQ(exit_status(pid), 0);
	ASSERT_TRUE(stats(q).worker_sleeps >= 1);
	dq_destroy(q);
}

TEST(bad_parameters_refused)
{
	struct dq *q = NULL;
	struct berr err = {0};
	ASSERT_EQ(dq_create(&(struct dq_params){.capacity = 100}, &q, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "capacity 100");
	ASSERT_EQ(dq_create(&(struct dq_params){.result_size = 5000}, &q, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "result ring");
	ASSERT_TRUE(q == NULL);
}
