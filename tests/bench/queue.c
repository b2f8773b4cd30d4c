/* bench-queue: what a task costs in berth's shared-memory queue.
 *
 * Two processes pinned to the first two CPUs of the allowed set (never to
 * host CPU numbers) measure, side by side:
 *   - a cache line bouncing between them (the floor of any handoff),
 *   - the raw task ring (dist/berth-queue-layout.h), pipelined and as a
 *     round trip,
 *   - empty tasks through the full API (dq_submit, bw_next, bw_done,
 *     dq_collect) with 1..W workers, as processes and as threads of the
 *     coordinator (lib mode, no containers), and one task in flight at a
 *     time (latency);
 *   - chunked dispatch, what `berth par` uses in line and lib mode: runs
 *     of empty tasks through dq_submit_chunk, each task taken and answered
 *     with bw_next and bw_done, the results drained with dq_collect_many,
 *     next to the raw ring's pipelined handoff measured again with as
 *     many tasks in the same run (the floor of a handoff of one ring
 *     entry a task, which a chunk of tasks in one entry may go below), as
 *     the median of several runs and its ratio to that floor. The raw
 *     ring is bimodal on some machines (a consumer that chases the
 *     producer entry by entry, or one that reads a run of entries
 *     behind it): compare the ranges.
 * Prints tables; it reports only and never judges a timing.
 *
 *   bench-queue [-n tasks] [-w max_workers] [-r runs]
 *               [-c chunked_tasks] [-R chunked_runs] [-f]
 *
 * -f prints the floor alone, as a number of ns (the median of -R runs of
 * -c tasks), for tests/bench/par.sh to set `berth par` against. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/berth-queue-layout.h"
#include "dist/berth-worker.h"
#include "dist/dist.h"

static int g_cpus[CPU_SETSIZE];
static int g_ncpus;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-queue: %s: %s\n", what, strerror(err));
	exit(1);
}

static void allowed_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		die("sched_getaffinity", errno);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			g_cpus[g_ncpus++] = c;
}

/* Pins the calling thread to the i-th allowed CPU (modulo their number). */
static void pin(int i)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(g_cpus[i % g_ncpus], &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity", errno);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *shared_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	return p;
}

static pid_t fork_pinned(int cpu_index)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(cpu_index);
	}
	return pid;
}

static void wait_child(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench-queue: a child failed\n");
		exit(1);
	}
}

/* ---- a cache line between two processes --------------------------------- */

static double pingpong(uint64_t rounds)
{
	_Atomic uint64_t *line = shared_map(BQ_PAGE);
	pid_t pid = fork_pinned(1);
	if (pid == 0) {
		for (uint64_t i = 0; i < rounds; i++) {
			while (atomic_load_explicit(
				       line, memory_order_acquire) != 2 * i + 1)
				;
			atomic_store_explicit(line, 2 * i + 2,
					      memory_order_release);
		}
		_exit(0);
	}
	pin(0);
	double t0 = now_ns();
	for (uint64_t i = 0; i < rounds; i++) {
		atomic_store_explicit(line, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(line, memory_order_acquire) !=
		       2 * i + 2)
			;
	}
	double dt = now_ns() - t0;
	wait_child(pid);
	munmap((void *)line, BQ_PAGE);
	return dt / (2.0 * rounds);
}

/* ---- the raw ring ---------------------------------------------------------
 */

#define RING_CAP 1024u

/* A worker's task ring: entries the producer writes, its position on the
 * producer's line, the consumer's on its own line (in berth the two lines
 * are in different memfds). */
struct raw_ring {
	BQ_ALIGNED _Atomic uint64_t prod;
	BQ_ALIGNED _Atomic uint64_t cons;
	BQ_ALIGNED struct bq_entry e[RING_CAP];
};

static struct raw_ring *raw_ring_new(void)
{
	struct raw_ring *r = shared_map(sizeof(*r));
	for (uint32_t i = 0; i < RING_CAP; i++)
		atomic_init(&r->e[i].pos, UINT64_MAX);
	return r;
}

static void raw_push(struct raw_ring *r, uint64_t t)
{
	uint64_t pos = atomic_load_explicit(&r->prod, memory_order_relaxed);
	while (pos - atomic_load_explicit(&r->cons, memory_order_acquire) >=
	       RING_CAP)
		bq_cpu_relax();
	struct bq_entry *e = &r->e[pos & (RING_CAP - 1)];
	atomic_store_explicit(&e->ticket, t, memory_order_relaxed);
	atomic_store_explicit(&e->pos, pos, memory_order_release);
	atomic_store_explicit(&r->prod, pos + 1, memory_order_release);
}

static uint64_t raw_take(struct raw_ring *r)
{
	uint64_t pos = atomic_load_explicit(&r->cons, memory_order_relaxed);
	while (atomic_load_explicit(&r->prod, memory_order_acquire) == pos)
		bq_cpu_relax();
	struct bq_entry *e = &r->e[pos & (RING_CAP - 1)];
	uint64_t t = atomic_load_explicit(&e->ticket, memory_order_relaxed);
	atomic_store_explicit(&r->cons, pos + 1, memory_order_release);
	return t;
}

static double ring_pipelined(uint64_t n)
{
	struct raw_ring *r = raw_ring_new();
	pid_t pid = fork_pinned(1);
	if (pid == 0) {
		for (uint64_t i = 0; i < n; i++)
			if (raw_take(r) != i)
				_exit(2); /* one producer, one consumer: FIFO */
		_exit(0);
	}
	pin(0);
	double t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		raw_push(r, i);
	/* the consumer's last take ends the handoff */
	wait_child(pid);
	double dt = now_ns() - t0;
	munmap(r, sizeof(*r));
	return dt / n;
}

static double ring_roundtrip(uint64_t n)
{
	struct raw_ring *there = raw_ring_new(), *back = raw_ring_new();
	pid_t pid = fork_pinned(1);
	if (pid == 0) {
		for (uint64_t i = 0; i < n; i++)
			raw_push(back, raw_take(there));
		_exit(0);
	}
	pin(0);
	double t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		raw_push(there, i);
		if (raw_take(back) != i)
			die("ring round trip", EPROTO);
	}
	double dt = now_ns() - t0;
	wait_child(pid);
	munmap(there, sizeof(*there));
	munmap(back, sizeof(*back));
	return dt / (2.0 * n);
}

/* ---- the full API ------------------------------------------------------- */

static int serve(struct bw *w)
{
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL)
		if (bw_done(w, t, 0, NULL, 0) < 0)
			return 2;
	return errno ? 3 : 0;
}

static void *serve_thread(void *arg)
{
	struct bw *w = arg;
	pin((int)bw_worker_id(w) + 1);
	return (void *)(intptr_t)serve(w);
}

/* Submits n empty tasks, keeping the queue full, and collects them. */
static void drive(struct dq *q, uint64_t n, uint64_t window)
{
	uint64_t sent = 0, got = 0;
	struct dq_result res;
	while (got < n) {
		bool full = false;
		while (sent < n && sent - got < window) {
			int r = dq_submit(q, NULL, 0, 0, NULL);
			if (r == -EAGAIN) {
				full = true;
				break;
			}
			if (r < 0)
				die("dq_submit", -r);
			sent++;
		}
		full = full || sent == n || sent - got >= window;
		int r = dq_collect(q, &res, full ? -1 : 0);
		if (r == 0)
			got++;
		else if (r != -EAGAIN)
			die("dq_collect", -r);
	}
}

struct pool {
	struct dq *q;
	uint32_t nworkers;
	bool threads;
	pid_t pids[64];
	pthread_t th[64];
	struct bw *bws[64];
};

/* Starts the pool's workers on its queue: threads sharing the
 * coordinator's mappings, or processes that open the queue's fds; then
 * pins the coordinator to the first CPU. */
static void pool_fork(struct pool *p)
{
	size_t size;
	void *base = dq_mapping(p->q, &size);
	for (uint32_t i = 0; i < p->nworkers; i++) {
		if (p->threads) {
			size_t wsize;
			void *wbase = dq_worker_mapping(p->q, i, &wsize);
			if (bw_attach_region(base, size, wbase, wsize, i,
					     &p->bws[i], NULL, 0) < 0 ||
			    pthread_create(&p->th[i], NULL, serve_thread,
					   p->bws[i]))
				die("worker thread", EIO);
			continue;
		}
		p->pids[i] = fork_pinned((int)i + 1);
		if (p->pids[i] == 0) {
			struct bw *w;
			char msg[256];
			if (bw_open_fds(dq_fd(p->q), dq_worker_fd(p->q, i), i,
					&w, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "worker: %s\n", msg);
				_exit(1);
			}
			_exit(serve(w));
		}
	}
	pin(0);
}

static void pool_start(struct pool *p)
{
	struct berr err;
	struct dq_params prm = {.max_workers = p->nworkers, .capacity = 4096};
	if (dq_create(&prm, &p->q, &err) < 0)
		die(err.msg, err.code);
	pool_fork(p);
}

static void pool_stop(struct pool *p)
{
	dq_close(p->q);
	for (uint32_t i = 0; i < p->nworkers; i++) {
		if (p->threads) {
			pthread_join(p->th[i], NULL);
			bw_close(p->bws[i]);
		} else {
			wait_child(p->pids[i]);
		}
	}
	dq_destroy(p->q);
}

static double full_api(uint32_t nworkers, bool threads, uint64_t n,
		       uint64_t window, struct dq_stats *st)
{
	struct pool p = {.nworkers = nworkers, .threads = threads};
	pool_start(&p);
	drive(p.q, n / 100 + 1, window); /* warm up: fault pages in */
	double t0 = now_ns();
	drive(p.q, n, window);
	double dt = now_ns() - t0;
	dq_stats(p.q, st);
	pool_stop(&p);
	return dt / n;
}

/* ---- chunks: one ring entry for a run of tasks -------------------------- */

/* Submits n empty tasks in chunks of up to chunk tasks while the queue has
 * room, and drains their results in batches, as `berth par` does. */
static void drive_chunks(struct dq *q, uint64_t n, uint32_t chunk)
{
	static const struct iovec empty[DQ_CHUNK_MAX];
	struct dq_result res[64];
	uint64_t sent = 0, got = 0;
	while (got < n) {
		while (sent < n) {
			uint32_t c =
				n - sent < chunk ? (uint32_t)(n - sent) : chunk;
			int r = dq_submit_chunk(q, empty, c, 0, NULL);
			if (r == -EAGAIN)
				break;
			if (r < 0)
				die("dq_submit_chunk", -r);
			sent += c;
		}
		int r = dq_collect_many(q, res, 64, -1);
		if (r > 0)
			got += (uint64_t)r;
		else if (r != -EAGAIN)
			die("dq_collect_many", -r);
	}
}

/* ns a task of n empty tasks in chunks, worker processes pinned one a
 * CPU after the coordinator's; the queue as `berth par` sizes it in lib
 * mode (a few chunks in flight a worker, the collector asleep until a
 * worker ends a chunk). */
static double chunked(uint32_t nworkers, uint64_t n, uint32_t chunk,
		      struct dq_stats *st)
{
	struct pool p = {.nworkers = nworkers};
	struct berr err;
	struct dq_params prm = {.max_workers = nworkers,
				.capacity = 64,
				.spin = 200,
				.collect_spin = 1};
	if (dq_create(&prm, &p.q, &err) < 0)
		die(err.msg, err.code);
	pool_fork(&p);
	drive_chunks(p.q, n / 100 + 1, chunk); /* warm up: fault pages in */
	double t0 = now_ns();
	drive_chunks(p.q, n, chunk);
	double dt = now_ns() - t0;
	dq_stats(p.q, st);
	pool_stop(&p);
	return dt / n;
}

enum kind { PINGPONG, RING_PIPE, RING_RTT, API };

struct bench_case {
	const char *what;
	enum kind kind;
	uint32_t workers;
	bool threads;
	bool latency; /* one task in flight */
};

static double run_case(const struct bench_case *c, uint64_t n,
		       struct dq_stats *st)
{
	*st = (struct dq_stats){0};
	switch (c->kind) {
	case PINGPONG:
		return pingpong(n);
	case RING_PIPE:
		return ring_pipelined(n);
	case RING_RTT:
		return ring_roundtrip(n);
	case API:
		break;
	}
	if (c->latency)
		return full_api(c->workers, c->threads, n / 10, 1, st);
	return full_api(c->workers, c->threads, n, UINT64_MAX, st);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Runs a case reps times; prints the best and the median (a shared host
 * adds noise, never speed). */
static void bench(const struct bench_case *c, uint64_t n, int reps)
{
	double ns[16];
	struct dq_stats st, best_st = {0};
	for (int i = 0; i < reps; i++) {
		ns[i] = run_case(c, n, &st);
		if (i == 0 || ns[i] < ns[0]) {
			double t = ns[0];
			ns[0] = ns[i];
			ns[i] = t;
			best_st = st;
		}
	}
	double best = ns[0];
	qsort(ns, (size_t)reps, sizeof(ns[0]), cmp_double);
	printf("%-54s %8.1f %8.1f", c->what, best, ns[reps / 2]);
	if (c->kind == API)
		printf("   %llu/%llu/%llu",
		       (unsigned long long)best_st.worker_sleeps,
		       (unsigned long long)best_st.collect_sleeps,
		       (unsigned long long)best_st.wakes);
	printf("\n");
	fflush(stdout);
}

/* The chunked rows: the floor (the raw ring, one entry a task) and the
 * chunks, each the median of reps runs of n tasks with its range, and
 * the chunks' ratio to the floor's median. */
static void bench_chunked(uint64_t n, int reps, uint32_t maxw)
{
	printf("\nchunked dispatch: %llu empty tasks, median of %d runs "
	       "(range)\n",
	       (unsigned long long)n, reps);
	if (maxw + 1 > (uint32_t)g_ncpus)
		printf("(%d CPUs: from %d workers on, a worker shares a CPU "
		       "with "
		       "the coordinator)\n",
		       g_ncpus, g_ncpus);
	printf("%-54s %8s %17s %8s\n", "ns per task", "median", "range",
	       "x floor");
	double floor_ns = 0;
	struct {
		uint32_t workers, chunk;
	} rows[2 * 64 + 1] = {{0, 0}};
	size_t nrows = 1;
	for (uint32_t w = 1; w <= maxw; w++) {
		rows[nrows++] = (typeof(rows[0])){w, DQ_CHUNK_MAX};
		rows[nrows++] = (typeof(rows[0])){w, 64};
	}
	for (size_t k = 0; k < nrows; k++) {
		double ns[16];
		struct dq_stats st;
		for (int i = 0; i < reps; i++)
			ns[i] = rows[k].workers ? chunked(rows[k].workers, n,
							  rows[k].chunk, &st)
						: ring_pipelined(n);
		qsort(ns, (size_t)reps, sizeof(ns[0]), cmp_double);
		double med = ns[reps / 2];
		char what[96];
		if (!rows[k].workers) {
			floor_ns = med;
			snprintf(what, sizeof(what),
				 "floor: raw task ring, pipelined handoff");
		} else {
			snprintf(what, sizeof(what),
				 "chunks of %u, %u worker process%s",
				 rows[k].chunk, rows[k].workers,
				 rows[k].workers > 1 ? "es" : "");
		}
		char range[40];
		snprintf(range, sizeof(range), "%.1f-%.1f", ns[0],
			 ns[reps - 1]);
		printf("%-54s %8.1f %17s", what, med, range);
		if (rows[k].workers && floor_ns > 0)
			printf(" %7.2fx", med / floor_ns);
		printf("\n");
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000;
	uint64_t cn = 10000000;
	uint32_t maxw = 2;
	int reps = 3, creps = 5, opt;
	bool floor_only = false;
	while ((opt = getopt(argc, argv, "n:w:r:c:R:f")) != -1) {
		if (opt == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (opt == 'w')
			maxw = (uint32_t)strtoul(optarg, NULL, 10);
		else if (opt == 'r')
			reps = atoi(optarg);
		else if (opt == 'c')
			cn = strtoull(optarg, NULL, 10);
		else if (opt == 'R')
			creps = atoi(optarg);
		else if (opt == 'f')
			floor_only = true;
		else
			return 2;
	}
	if (!n || !maxw || maxw > 64 || reps < 1 || reps > 16 || creps < 1 ||
	    creps > 16 || (floor_only && !cn))
		return 2;
	allowed_cpus();
	if (floor_only) {
		double ns[16];
		for (int i = 0; i < creps; i++)
			ns[i] = ring_pipelined(cn);
		qsort(ns, (size_t)creps, sizeof(ns[0]), cmp_double);
		printf("%.1f\n", ns[creps / 2]);
		return 0;
	}
	printf("berth queue benchmark: %llu tasks, best and median of %d "
	       "runs; %d CPUs allowed, coordinator on CPU %d, first worker "
	       "on CPU %d\n",
	       (unsigned long long)n, reps, g_ncpus, g_cpus[0],
	       g_cpus[1 % g_ncpus]);
	if (g_ncpus < 2)
		printf("(one CPU only: both sides share it; the numbers "
		       "measure scheduling, not handoff)\n");
	printf("%-54s %8s %8s   %s\n", "ns per task", "best", "median",
	       "sleeps: worker/collect/wakes");
	struct bench_case fixed[] = {
		{"cache line ping-pong, one way", PINGPONG, 0, false, false},
		{"raw task ring, pipelined handoff", RING_PIPE, 0, false,
		 false},
		{"raw task ring, round trip / 2", RING_RTT, 0, false, false},
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		bench(&fixed[i], n, reps);
	for (int threads = 0; threads < 2; threads++) {
		for (uint32_t w = 1; w <= maxw; w++) {
			char what[96];
			snprintf(what, sizeof(what),
				 "full API, %u worker %s, pipelined", w,
				 threads ? (w > 1 ? "threads" : "thread")
					 : (w > 1 ? "processes" : "process"));
			struct bench_case c = {what, API, w, threads, false};
			bench(&c, n, reps);
		}
	}
	struct bench_case lat = {"full API, 1 worker process, round trip "
				 "(1 in flight)",
				 API, 1, false, true};
	bench(&lat, n, reps);
	if (cn)
		bench_chunked(cn, creps, maxw);
	return 0;
}
