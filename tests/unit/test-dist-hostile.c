/* dist/: a worker can at worst spoil its own tasks. Workers here are
 * forked processes that attach with the two fds a berth worker gets; one
 * of them (the vandal) writes garbage over everything it can reach. The
 * kernel keeps the queue region read-only for it; what it writes in its
 * own region fails its own tasks only: every other task yields exactly one
 * result, from its first delivery. Run it under ASan/UBSan too. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dist/berth-queue-layout.h"
#include "dist/berth-worker.h"
#include "dist/dist.h"
#include "tests/unit/test.h"

#define NWORKERS 4
#define VANDAL 1
#define NTASKS 200

static struct dq *mkq(void)
{
	struct dq *q = NULL;
	struct berr err = {0};
	struct dq_params p = {
		.capacity = 256, .max_workers = NWORKERS, .stall_ms = 200};
	if (dq_create(&p, &q, &err) < 0)
		test_fail(__FILE__, __LINE__, "dq_create: %s", err.msg);
	return q;
}

static void scribble(void *p, size_t n, uint32_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

/* What a worker process gets: the two fds (as fd numbers of this
 * process: the fork inherits them) and its handle. */
struct wctx {
	int qfd, wfd;
	uint32_t id;
	struct bw *w;
};

typedef int (*worker_fn)(struct wctx *c);

static pid_t start(struct dq *q, uint32_t id, worker_fn fn)
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct wctx c = {.qfd = dq_fd(q), .wfd = dq_worker_fd(q, id), .id = id};
	/* a real worker has no other worker's fd: close them */
	for (uint32_t i = 0; i < NWORKERS; i++)
		if (i != id)
			close(dq_worker_fd(q, i));
	char err[256];
	if (bw_open_fds(c.qfd, c.wfd, id, &c.w, err, sizeof(err)) < 0) {
		fprintf(stderr, "worker %u: %s\n", id, err);
		_exit(100);
	}
	_exit(fn(&c));
}

static int echo(struct wctx *c)
{
	const struct bw_task *t;
	while ((t = bw_next(c->w)) != NULL)
		if (bw_done(c->w, t, 0, t->data, t->len) < 0)
			return 2;
	bw_close(c->w);
	return 0;
}

/* ---- the kernel keeps the queue region read-only ----------------------- */

/* Every way a worker (or a task it runs) could write the queue region;
 * returns a bit for each that worked. */
static int try_queue_writes(int qfd)
{
	int worked = 0;
	struct stat st;
	if (fstat(qfd, &st) < 0)
		return 64;
	size_t size = (size_t)st.st_size;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, qfd, 0);
	if (m != MAP_FAILED)
		worked |= 1;
	char zero[64] = {0};
	if (pwrite(qfd, zero, sizeof(zero), 0) >= 0)
		worked |= 2;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", qfd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		void *m2 = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
				rw, 0);
		if (m2 != MAP_FAILED)
			worked |= 4;
		if (pwrite(rw, zero, sizeof(zero), 0) >= 0)
			worked |= 8;
		close(rw);
	}
	void *ro = mmap(NULL, size, PROT_READ, MAP_SHARED, qfd, 0);
	if (ro == MAP_FAILED)
		return worked | 64;
	if (mprotect(ro, size, PROT_READ | PROT_WRITE) == 0)
		worked |= 16;
	/* the seals cannot be taken off or added to */
	if (fcntl(qfd, F_ADD_SEALS, F_SEAL_WRITE) == 0)
		worked |= 32;
	return worked;
}

static int writer(struct wctx *c)
{
	return try_queue_writes(c->qfd);
}

TEST(queue_region_is_read_only_for_workers)
{
	alarm(30);
	struct dq *q = mkq();
	size_t size;
	struct bq_header *h = dq_mapping(q, &size);
	struct bq_config before = h->cfg;
	pid_t pid = start(q, 0, writer);
	int st = 0;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_TRUE(WIFEXITED(st));
	/* no bit: mmap writable, write(), reopen O_RDWR, mprotect and new
	 * seals all failed */
	ASSERT_EQ(WEXITSTATUS(st), 0);
	ASSERT_TRUE(!memcmp(&before, &h->cfg, sizeof(before)));
	/* the worker's own region is its to write */
	void *m = mmap(NULL, BQ_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       dq_worker_fd(q, 0), 0);
	ASSERT_TRUE(m != MAP_FAILED);
	munmap(m, BQ_PAGE);
	dq_destroy(q);
}

/* ---- vandals ------------------------------------------------------------ */

/* Maps this worker's own region read-write, as a vandal would. */
static uint8_t *own_region(struct wctx *c, size_t *size)
{
	struct stat st;
	if (fstat(c->wfd, &st) < 0)
		_exit(90);
	*size = (size_t)st.st_size;
	void *m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, c->wfd,
		       0);
	if (m == MAP_FAILED)
		_exit(91);
	return m;
}

static void hang(void)
{
	for (;;)
		pause();
}

/* Takes a task, then writes garbage over its whole region, again and
 * again, and tries the queue region. */
static int scribble_all(struct wctx *c)
{
	if (!bw_next(c->w))
		return 1;
	size_t size;
	uint8_t *m = own_region(c, &size);
	try_queue_writes(c->qfd);
	for (uint32_t seed = 1;; seed++) {
		scribble(m, size, seed);
		usleep(1000);
	}
}

/* Its ring position past anything the coordinator produced. */
static int position_past(struct wctx *c)
{
	if (!bw_next(c->w))
		return 1;
	size_t size;
	struct bq_worker *r = (struct bq_worker *)own_region(c, &size);
	atomic_store(&r->deq, UINT64_MAX / 2);
	hang();
	return 0;
}

/* A record that does not parse, published. */
static int garbage_record(struct wctx *c)
{
	if (!bw_next(c->w))
		return 1;
	size_t size;
	uint8_t *m = own_region(c, &size);
	struct bq_worker *r = (struct bq_worker *)m;
	uint64_t tail = atomic_load(&r->res_tail);
	scribble(m + r->result_off + (tail & (r->result_size - 1)), 32, 7);
	struct bq_record bad = {.size = 12345, .lease = 1u << 30};
	memcpy(m + r->result_off + (tail & (r->result_size - 1)), &bad,
	       sizeof(bad));
	atomic_store(&r->res_tail, tail + 64);
	hang();
	return 0;
}

/* A published count no ring holds. */
static int tail_out_of_ring(struct wctx *c)
{
	if (!bw_next(c->w))
		return 1;
	size_t size;
	struct bq_worker *r = (struct bq_worker *)own_region(c, &size);
	atomic_store(&r->res_tail, atomic_load(&r->res_tail) + (1ull << 40));
	hang();
	return 0;
}

/* Answers its first task with a sound record, then, in the same store
 * that would publish it, says its count is one no ring holds: the record
 * is still a result (salvaged), and the tasks it had not taken run
 * elsewhere, so none fails. */
static int answers_then_lies(struct wctx *c)
{
	const struct bw_task *t = bw_next(c->w);
	if (!t)
		return 1;
	size_t size;
	uint8_t *m = own_region(c, &size);
	struct bq_worker *r = (struct bq_worker *)m;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "task-%llu",
			 (unsigned long long)t->id);
	struct bq_record rec = {.size = (uint32_t)(sizeof(rec) + 32),
				.lease = t->priv_lease,
				.gen = t->priv_gen,
				.task_id = t->id,
				.len = (uint32_t)n};
	uint64_t tail = atomic_load(&r->res_tail);
	uint8_t *at = m + r->result_off + (tail & (r->result_size - 1));
	memcpy(at, &rec, sizeof(rec));
	memcpy(at + sizeof(rec), buf, (size_t)n);
	atomic_store(&r->res_tail, tail + (1ull << 40));
	hang();
	return 0;
}

/* Says it sleeps while its ring holds tasks. */
static int sleeps_on_its_tasks(struct wctx *c)
{
	if (!bw_next(c->w))
		return 1;
	size_t size;
	struct bq_worker *r = (struct bq_worker *)own_region(c, &size);
	for (;;) {
		atomic_store(&r->sleeping, 1);
		usleep(1000);
	}
}

/* Answers, in its own ring, the tasks other workers were given: it reads
 * their tickets in the (read-only) queue region and forges records with
 * the right task index, gen and id. Then it answers its own tasks. */
static int forger(struct wctx *c)
{
	struct stat st;
	if (fstat(c->qfd, &st) < 0)
		return 90;
	const uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ,
				   MAP_SHARED, c->qfd, 0);
	if (base == MAP_FAILED)
		return 91;
	const struct bq_header *h = (const void *)base;
	const struct bq_task *tasks = (const void *)(base + h->cfg.task_off);
	for (int round = 0; round < 50; round++) {
		for (uint32_t i = 0; i < h->cfg.capacity; i++) {
			const struct bq_task *t = &tasks[i];
			struct bw_task fake = {.id = t->task_id,
					       .priv_lease = i,
					       .priv_gen =
						       atomic_load(&t->gen)};
			if (fake.id)
				bw_done(c->w, &fake, 66, "forged", 6);
		}
		usleep(2000);
	}
	return echo(c);
}

struct outcome {
	int results;
	int error;
	uint32_t worker;
	uint32_t attempts;
	int32_t status;
	bool data_ok;
};

/* Runs NTASKS tasks on NWORKERS workers, VANDAL being `vandal`; kills and
 * reclaims whichever worker the queue names corrupt. Checks that every
 * task has exactly one result, that only the vandal's tasks failed, that
 * no other task ran twice, and that the queue region is intact. Returns
 * how many tasks failed. */
static int run_with(worker_fn vandal, bool expect_corrupt)
{
	alarm(60);
	struct dq *q = mkq();
	struct bq_header *h = dq_mapping(q, NULL);
	struct bq_config cfg = h->cfg;
	pid_t pids[NWORKERS];
	for (uint32_t i = 0; i < NWORKERS; i++)
		pids[i] = start(q, i, i == VANDAL ? vandal : echo);
	/* every worker gets tasks: wait until all are attached */
	for (uint32_t i = 0; i < NWORKERS; i++)
		while (dq_worker_state(q, i) == DQ_WORKER_GONE)
			usleep(1000);
	static struct outcome oc[NTASKS + 1];
	memset(oc, 0, sizeof(oc));
	char buf[32];
	for (int i = 1; i <= NTASKS; i++) {
		int n = snprintf(buf, sizeof(buf), "task-%d", i);
		uint64_t id;
		ASSERT_EQ(dq_submit(q, buf, (size_t)n, -1, &id), 0);
		ASSERT_EQ(id, (uint64_t)i);
	}
	dq_close(q);
	bool killed = false;
	struct dq_result res;
	int r;
	while ((r = dq_collect(q, &res, 10000)) != -ENODATA) {
		if (r == -EBADMSG) {
			ASSERT_EQ(res.worker, VANDAL);
			ASSERT_TRUE(!killed);
			kill(pids[VANDAL], SIGKILL);
			waitpid(pids[VANDAL], NULL, 0);
			killed = true;
			ASSERT_TRUE(dq_reclaim(q, VANDAL) >= 0);
			continue;
		}
		ASSERT_EQ(r, 0);
		ASSERT_TRUE(res.task_id >= 1 && res.task_id <= NTASKS);
		struct outcome *o = &oc[res.task_id];
		o->results++;
		o->error = res.error;
		o->worker = res.worker;
		o->attempts = res.attempts;
		o->status = res.status;
		int n = snprintf(buf, sizeof(buf), "task-%llu",
				 (unsigned long long)res.task_id);
		o->data_ok = res.len == (size_t)n && !memcmp(res.data, buf, n);
	}
	ASSERT_EQ(killed, expect_corrupt);
	int failed = 0;
	for (int i = 1; i <= NTASKS; i++) {
		struct outcome *o = &oc[i];
		ASSERT_EQ(o->results, 1);
		if (o->error) {
			/* only the vandal's own tasks fail */
			ASSERT_EQ(o->error, -EBADMSG);
			ASSERT_EQ(o->worker, VANDAL);
			failed++;
			continue;
		}
		/* what the vandal answers for its own tasks is its affair */
		if (o->worker == VANDAL)
			continue;
		/* every other task: its correct result, first delivery */
		ASSERT_EQ(o->status, 0);
		ASSERT_TRUE(o->data_ok);
		ASSERT_EQ(o->attempts, 1);
	}
	struct dq_stats st;
	dq_stats(q, &st);
	ASSERT_EQ(st.requeued, 0);
	ASSERT_EQ(st.completed + st.abandoned, NTASKS);
	ASSERT_TRUE(!memcmp(&cfg, &h->cfg, sizeof(cfg)));
	/* a worker still waiting for room in its result ring ends too */
	dq_destroy(q);
	for (uint32_t i = 0; i < NWORKERS; i++) {
		if (i == VANDAL && killed)
			continue;
		int wst = 0;
		ASSERT_EQ(waitpid(pids[i], &wst, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	}
	return failed;
}

TEST(vandal_lying_about_its_count_keeps_the_result_it_wrote)
{
	ASSERT_EQ(run_with(answers_then_lies, true), 0);
}

TEST(vandal_scribbling_everything_spoils_only_its_own_tasks)
{
	/* the tasks in its ring at most: its share of the tasks, the
	 * deepest ring the queue gives (those it had not taken, by its own
	 * word, run elsewhere) */
	ASSERT_TRUE(run_with(scribble_all, true) <=
		    (NTASKS + NWORKERS - 1) / NWORKERS);
}

TEST(vandal_position_past_the_ring)
{
	ASSERT_TRUE(run_with(position_past, true) >= 1);
}

TEST(vandal_garbage_record)
{
	ASSERT_TRUE(run_with(garbage_record, true) >= 1);
}

TEST(vandal_result_count_out_of_its_ring)
{
	ASSERT_TRUE(run_with(tail_out_of_ring, true) >= 1);
}

TEST(vandal_sleeping_on_its_tasks)
{
	ASSERT_TRUE(run_with(sleeps_on_its_tasks, true) >= 1);
}

TEST(forged_results_for_others_tasks_are_dropped)
{
	/* nothing fails: the forgeries do not answer the forger's tasks,
	 * and it answers its own properly in the end */
	ASSERT_EQ(run_with(forger, false), 0);
}
