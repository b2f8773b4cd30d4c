/* dist/: a million tasks through the queue with concurrent producers
 * (threads of the coordinator) and consumers (worker processes, or worker
 * threads for ThreadSanitizer, which does not follow processes). Every task
 * must be run once (a bitmap in shared memory) and its result collected
 * once; with workers killed at random points, run at least once. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "dist/berth-worker.h"
#include "dist/dist.h"
#include "tests/unit/test.h"

#ifdef __SANITIZE_THREAD__
#define NTASKS 100000u
#else
#define NTASKS 1000000u
#endif
#define MAX_WORKERS 4
#define PRODUCERS 2

/* In MAP_SHARED memory: workers write it from their processes. */
struct shared {
	_Atomic uint64_t dups;
	_Atomic uint64_t seen[];
};

struct run {
	struct dq *q;
	struct shared *sh;
	uint32_t ntasks;
	uint32_t nworkers;
	uint32_t spin;
	bool pace; /* producers pause often: workers keep falling asleep */
	bool threads;
	pid_t pids[MAX_WORKERS];
	pthread_t wth[MAX_WORKERS];
	struct bw *bws[MAX_WORKERS];
	pthread_t pth[PRODUCERS];
	uint8_t *collected; /* by task index */
	uint8_t *ids;	    /* by task id */
	_Atomic int producer_err;
};

static uint64_t mix(uint64_t idx)
{
	return idx * 0x9e3779b97f4a7c15ull ^ 7;
}

static int work(struct bw *w, struct shared *sh)
{
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		uint64_t idx, out;
		if (t->len != sizeof(idx))
			return 2;
		memcpy(&idx, t->data, sizeof(idx));
		uint64_t bit = 1ull << (idx & 63);
		if (atomic_fetch_or(&sh->seen[idx >> 6], bit) & bit)
			atomic_fetch_add(&sh->dups, 1);
		out = mix(idx);
		if (bw_done(w, t, (int32_t)idx, &out, sizeof(out)) < 0)
			return 3;
	}
	return errno == 0 ? 0 : 4;
}

static void spawn_process(struct run *r, uint32_t id)
{
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct bw *w;
		char err[256];
		if (bw_open_fds(dq_fd(r->q), dq_worker_fd(r->q, id), id, &w,
				err, sizeof(err)) < 0) {
			fprintf(stderr, "worker %u: %s\n", id, err);
			_exit(100);
		}
		_exit(work(w, r->sh));
	}
	r->pids[id] = pid;
}

struct wargs {
	struct run *r;
	uint32_t id;
};

static void *worker_thread(void *arg)
{
	struct wargs *a = arg;
	int rc = work(a->r->bws[a->id], a->r->sh);
	return (void *)(intptr_t)rc;
}

static void *producer(void *arg)
{
	struct wargs *a = arg;
	struct run *r = a->r;
	for (uint64_t i = a->id; i < r->ntasks; i += PRODUCERS) {
		if (r->pace && i % 64 == 0)
			usleep(20);
		int rc = dq_submit(r->q, &i, sizeof(i), -1, NULL);
		if (rc < 0) {
			atomic_store(&r->producer_err, rc);
			break;
		}
	}
	return NULL;
}

static void start(struct run *r, struct wargs *args)
{
	struct dq_params p = {.max_workers = r->nworkers,
			      .capacity = 1024,
			      .max_attempts = 1000,
			      .spin = r->spin};
	struct berr err;
	ASSERT_EQ(dq_create(&p, &r->q, &err), 0);
	size_t shsize = sizeof(struct shared) + (r->ntasks / 64 + 1) * 8;
	r->sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(r->sh != MAP_FAILED);
	r->collected = calloc(r->ntasks, 1);
	r->ids = calloc(r->ntasks + 1, 1);
	size_t size;
	void *base = dq_mapping(r->q, &size);
	/* workers first: no fork() once threads run */
	for (uint32_t i = 0; i < r->nworkers; i++) {
		args[i] = (struct wargs){r, i};
		if (!r->threads) {
			spawn_process(r, i);
			continue;
		}
		size_t wsize;
		void *wbase = dq_worker_mapping(r->q, i, &wsize);
		ASSERT_EQ(bw_attach_region(base, size, wbase, wsize, i,
					   &r->bws[i], NULL, 0),
			  0);
		ASSERT_EQ(pthread_create(&r->wth[i], NULL, worker_thread,
					 &args[i]),
			  0);
	}
	for (uint32_t i = 0; i < PRODUCERS; i++) {
		args[MAX_WORKERS + i] = (struct wargs){r, i};
		ASSERT_EQ(pthread_create(&r->pth[i], NULL, producer,
					 &args[MAX_WORKERS + i]),
			  0);
	}
}

static void check_result(struct run *r, const struct dq_result *res)
{
	ASSERT_EQ(res->error, 0);
	ASSERT_EQ(res->len, 8);
	uint64_t idx = (uint32_t)res->status, out;
	ASSERT_TRUE(idx < r->ntasks);
	memcpy(&out, res->data, sizeof(out));
	ASSERT_EQ(out, mix(idx));
	ASSERT_EQ(r->collected[idx], 0);
	r->collected[idx] = 1;
	ASSERT_TRUE(res->task_id >= 1 && res->task_id <= r->ntasks);
	ASSERT_EQ(r->ids[res->task_id], 0);
	r->ids[res->task_id] = 1;
}

/* Kills worker id (processes only) where it stands, and replaces it. */
static void kill_and_replace(struct run *r, uint32_t id)
{
	int st;
	kill(r->pids[id], SIGKILL);
	ASSERT_EQ(waitpid(r->pids[id], &st, 0), r->pids[id]);
	ASSERT_TRUE(dq_reclaim(r->q, id) >= 0);
	spawn_process(r, id);
}

static long now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void collect_all(struct run *r, uint32_t kill_every)
{
	long deadline = now_s() + 60;
	uint32_t got = 0, kills = 0;
	struct dq_result res;
	while (got < r->ntasks) {
		int rc = dq_collect(r->q, &res, 200);
		ASSERT_TRUE(now_s() < deadline);
		ASSERT_EQ(atomic_load(&r->producer_err), 0);
		if (rc == -EAGAIN || rc == -ENODATA) {
			if (rc == -ENODATA)
				usleep(100);
			continue;
		}
		ASSERT_EQ(rc, 0);
		check_result(r, &res);
		got++;
		if (kill_every && got % kill_every == 0)
			kill_and_replace(r, kills++ % r->nworkers);
	}
}

static void finish(struct run *r, bool exact)
{
	dq_close(r->q);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		pthread_join(r->pth[i], NULL);
	for (uint32_t i = 0; i < r->nworkers; i++) {
		int st = 0;
		if (r->threads) {
			void *rv;
			pthread_join(r->wth[i], &rv);
			ASSERT_EQ((intptr_t)rv, 0);
			bw_close(r->bws[i]);
			continue;
		}
		ASSERT_EQ(waitpid(r->pids[i], &st, 0), r->pids[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (uint32_t i = 0; i < r->ntasks; i++)
		ASSERT_TRUE(atomic_load(&r->sh->seen[i >> 6]) &
			    (1ull << (i & 63)));
	struct dq_stats st;
	dq_stats(r->q, &st);
	ASSERT_EQ(st.completed, r->ntasks);
	ASSERT_EQ(st.in_flight, 0);
	ASSERT_EQ(st.abandoned, 0);
	if (exact) {
		ASSERT_EQ(atomic_load(&r->sh->dups), 0);
		ASSERT_EQ(st.stale, 0);
		ASSERT_EQ(st.worker_tasks, r->ntasks);
	}
	printf("    %u tasks: %llu worker sleeps, %llu collect sleeps, "
	       "%llu wakes, %llu requeued, %llu run twice\n",
	       r->ntasks, (unsigned long long)st.worker_sleeps,
	       (unsigned long long)st.collect_sleeps,
	       (unsigned long long)st.wakes, (unsigned long long)st.requeued,
	       (unsigned long long)atomic_load(&r->sh->dups));
	dq_destroy(r->q);
	free(r->collected);
	free(r->ids);
}

static void stress(bool threads, uint32_t nworkers, uint32_t ntasks,
		   uint32_t kill_every, uint32_t spin)
{
	struct run r = {.ntasks = ntasks,
			.nworkers = nworkers,
			.threads = threads,
			.spin = spin,
			.pace = spin == 1};
	struct wargs args[MAX_WORKERS + PRODUCERS];
	alarm(90);
	start(&r, args);
	collect_all(&r, kill_every);
	finish(&r, kill_every == 0);
}

TEST(stress_processes)
{
	stress(false, 3, NTASKS, 0, 0);
}

TEST(stress_threads)
{
	stress(true, 3, NTASKS, 0, 0);
}

TEST(stress_threads_sleep_at_once)
{
	/* no spinning: every idle moment goes through the futex path */
	stress(true, 4, NTASKS / 5, 0, 1);
}

TEST(stress_processes_killed)
{
	/* a worker killed every 1000 results: 200 deaths */
	stress(false, 3, 200000, 1000, 0);
}
