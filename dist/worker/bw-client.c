/* The worker side of the task queue: attach, take a task, report it.
 * Builds standalone into libberthworker (libc only). The protocol and the
 * layout are described in dist/berth-queue-layout.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist/berth-queue-layout.h"
#include "dist/berth-worker.h"

struct bw {
	const uint8_t *base; /* the queue region, read-only */
	size_t size;
	uint8_t *wbase; /* this worker's region */
	size_t wsize;
	bool unmap;  /* the queue region is ours to unmap */
	bool wunmap; /* the worker region is */
	uint32_t id;
	uint32_t tid;
	const struct bq_header *hdr;
	const struct bq_wctl *ctl;   /* this worker's line */
	const struct bq_entry *ring; /* this worker's task ring */
	const struct bq_task *tasks;
	struct bq_worker *me;
	uint8_t *results; /* this worker's result ring */
	const uint8_t *arena;
	uint64_t arena_size;
	uint32_t cap;
	uint32_t depth;
	uint32_t result_size;
	uint32_t spin;
	uint64_t deq;  /* our copy of me->deq: we are its only writer */
	uint64_t tail; /* our copy of me->res_tail */
	uint64_t head; /* ctl->res_head when last read: room known to exist */
	uint64_t woke; /* tail when we last woke the coordinator */
	/* the chunk being walked: its tasks not handed out yet, from ck_p */
	const uint8_t *ck_p, *ck_end;
	uint32_t ck_left;
	uint32_t ck_lease, ck_gen, ck_attempt;
	uint64_t ck_id;
	struct bw_task cur;
	/* results: runs accepted (BQ_FEAT_RUNS); the run open, if any: the
	 * last record written, at byte counter run_at, not yet published,
	 * answering run_n tasks of lease run_lease (gen run_gen) up to
	 * run_next - 1 */
	bool runs, run_open;
	uint32_t run_n, run_lease, run_gen;
	uint64_t run_at, run_next;
};

/* bw_task.priv_flags: the task is one of a chunk's */
#define TASK_OF_CHUNK 1u

__attribute__((format(printf, 4, 5))) static int
fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -code;
}

static bool region_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Checks the header of the queue region (size bytes); what names it in
 * messages. */
static int check_config(const struct bq_config *c, size_t size, uint32_t id,
			const char *what, char *err, size_t errlen)
{
	if (size < sizeof(struct bq_header))
		return fail(err, errlen, EINVAL,
			    "%s: %zu bytes, too small for a berth queue", what,
			    size);
	if (c->magic != BQ_MAGIC)
		return fail(err, errlen, EPROTO,
			    "%s: bad magic number 0x%016llx: not a berth queue",
			    what, (unsigned long long)c->magic);
	if (c->version != BQ_VERSION)
		return fail(err, errlen, EPROTONOSUPPORT,
			    "%s: queue layout version %u, this worker library "
			    "speaks version %u",
			    what, c->version, BQ_VERSION);
	uint64_t cap = c->capacity, nw = c->max_workers, d = c->depth;
	bool ok = c->header_size == sizeof(struct bq_header) &&
		  c->ctl_size == sizeof(struct bq_wctl) &&
		  c->entry_size == sizeof(struct bq_entry) &&
		  c->task_size == sizeof(struct bq_task) && cap >= 1 &&
		  cap <= (1u << 30) && d >= 1 && (d & (d - 1)) == 0 &&
		  d <= (1u << 20) && nw >= 1 && nw <= 0xffffff &&
		  c->result_size >= 256 &&
		  (c->result_size & (c->result_size - 1)) == 0 &&
		  c->total_size <= size &&
		  region_ok(c->ctl_off, nw * sizeof(struct bq_wctl), size) &&
		  region_ok(c->ring_off, nw * d * sizeof(struct bq_entry),
			    size) &&
		  region_ok(c->task_off, cap * sizeof(struct bq_task), size) &&
		  region_ok(c->arena_off, c->arena_size, size);
	if (!ok)
		return fail(err, errlen, EINVAL,
			    "%s: inconsistent queue header (sizes or offsets)",
			    what);
	if (id >= c->max_workers)
		return fail(err, errlen, EINVAL,
			    "%s: worker id %u out of range (the queue has %u "
			    "workers)",
			    what, id, c->max_workers);
	return 0;
}

/* Checks the head of this worker's region (wsize bytes). */
static int check_region(const struct bq_worker *r, size_t wsize,
			const struct bq_config *c, uint32_t id, char *err,
			size_t errlen)
{
	if (wsize < sizeof(*r) || r->magic != BQ_WMAGIC)
		return fail(err, errlen, EPROTO,
			    "worker region: not a berth worker region");
	if (r->version != BQ_VERSION || r->head_size != sizeof(*r) ||
	    r->worker_id != id || r->result_size != c->result_size ||
	    r->result_off != BQ_PAGE ||
	    !region_ok(r->result_off, r->result_size, wsize))
		return fail(err, errlen, EINVAL,
			    "worker region: made for worker %u (version %u, "
			    "%u result bytes), not for worker %u",
			    r->worker_id, r->version, r->result_size, id);
	return 0;
}

static void set_pointers(struct bw *w)
{
	const struct bq_config *c = &w->hdr->cfg;
	w->ctl = (const struct bq_wctl *)(w->base + c->ctl_off) + w->id;
	w->ring = (const struct bq_entry *)(w->base + c->ring_off) +
		  (uint64_t)w->id * c->depth;
	w->tasks = (const struct bq_task *)(w->base + c->task_off);
	w->me = (struct bq_worker *)w->wbase;
	w->results = w->wbase + w->me->result_off;
	w->arena = w->base + c->arena_off;
	w->arena_size = c->arena_size;
	w->cap = c->capacity;
	w->depth = c->depth;
	w->result_size = c->result_size;
	w->spin = c->spin;
	w->runs = c->features & BQ_FEAT_RUNS;
}

/* Takes the worker id (one live handle per id) and tells a sleeping
 * coordinator, which gives tasks to attached workers only. */
static int claim_id(struct bw *w, const char *what, char *err, size_t errlen)
{
	uint32_t tid = (uint32_t)syscall(SYS_gettid), none = 0;
	if (!atomic_compare_exchange_strong(&w->me->attached, &none, tid))
		return fail(err, errlen, EBUSY,
			    "%s: worker id %u is already attached (thread %u)",
			    what, w->id, none);
	w->tid = tid;
	w->deq = atomic_load(&w->me->deq);
	w->tail = atomic_load(&w->me->res_tail);
	w->head = atomic_load(&w->ctl->res_head);
	w->woke = w->tail;
	if (atomic_load(&w->hdr->collecting))
		bq_futex_bump_wake(&w->me->result_futex, 1);
	return 0;
}

static int attach(const void *base, size_t size, void *wbase, size_t wsize,
		  bool unmap, bool wunmap, uint32_t id, const char *what,
		  struct bw **out, char *err, size_t errlen)
{
	const struct bq_header *hdr = base;
	int r = check_config(&hdr->cfg, size, id, what, err, errlen);
	if (r < 0)
		return r;
	r = check_region(wbase, wsize, &hdr->cfg, id, err, errlen);
	if (r < 0)
		return r;
	struct bw *w = calloc(1, sizeof(*w));
	if (!w)
		return fail(err, errlen, ENOMEM, "%s: out of memory", what);
	w->base = base;
	w->size = size;
	w->wbase = wbase;
	w->wsize = wsize;
	w->id = id;
	w->hdr = hdr;
	set_pointers(w);
	r = claim_id(w, what, err, errlen);
	if (r < 0) {
		free(w);
		return r;
	}
	w->unmap = unmap;
	w->wunmap = wunmap;
	*out = w;
	return 0;
}

/* Maps fd (a sealed memfd of at least min bytes); writable or not. */
static int map_fd(int fd, bool writable, size_t min, const char *what,
		  void **base, size_t *size, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail(err, errlen, errno, "%s: %s", what,
			    strerror(errno));
	/* a region that can shrink could fault us with SIGBUS */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return fail(err, errlen, EINVAL,
			    "%s: not a sealed memfd: not a berth queue", what);
	if (st.st_size < (off_t)min)
		return fail(err, errlen, EINVAL,
			    "%s: %lld bytes, too small for a berth queue", what,
			    (long long)st.st_size);
	*size = (size_t)st.st_size;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	*base = mmap(NULL, *size, prot, MAP_SHARED, fd, 0);
	if (*base == MAP_FAILED)
		return fail(err, errlen, errno, "%s: mmap: %s", what,
			    strerror(errno));
	return 0;
}

int bw_attach(void *base, size_t size, uint32_t worker_id, struct bw **out,
	      char *err, size_t errlen)
{
	if (!base || !out)
		return fail(err, errlen, EINVAL, "bw_attach: NULL argument");
	const struct bq_header *hdr = base;
	int r = check_config(&hdr->cfg, size, worker_id, "queue mapping", err,
			     errlen);
	if (r < 0)
		return r;
	/* in the coordinator's own process: its fd of our region */
	const struct bq_wctl *ctl =
		(const struct bq_wctl *)((const uint8_t *)base +
					 hdr->cfg.ctl_off) +
		worker_id;
	void *wbase;
	size_t wsize;
	r = map_fd(ctl->wfd, true, sizeof(struct bq_worker), "worker region",
		   &wbase, &wsize, err, errlen);
	if (r < 0)
		return r;
	r = attach(base, size, wbase, wsize, false, true, worker_id,
		   "queue mapping", out, err, errlen);
	if (r < 0)
		munmap(wbase, wsize);
	return r;
}

int bw_attach_region(void *base, size_t size, void *wbase, size_t wsize,
		     uint32_t worker_id, struct bw **out, char *err,
		     size_t errlen)
{
	if (!base || !wbase || !out)
		return fail(err, errlen, EINVAL,
			    "bw_attach_region: NULL argument");
	return attach(base, size, wbase, wsize, false, false, worker_id,
		      "queue mapping", out, err, errlen);
}

int bw_open_fds(int queue_fd, int worker_fd, uint32_t worker_id,
		struct bw **out, char *err, size_t errlen)
{
	char what[32];
	snprintf(what, sizeof(what), "queue fd %d", queue_fd);
	if (!out)
		return fail(err, errlen, EINVAL, "bw_open_fd: NULL argument");
	void *base, *wbase;
	size_t size, wsize;
	/* read-only: the kernel refuses a writable mapping anyway */
	int r = map_fd(queue_fd, false, sizeof(struct bq_header), what, &base,
		       &size, err, errlen);
	if (r < 0)
		return r;
	r = map_fd(worker_fd, true, sizeof(struct bq_worker), "worker region",
		   &wbase, &wsize, err, errlen);
	if (r < 0) {
		munmap(base, size);
		return r;
	}
	r = attach(base, size, wbase, wsize, true, true, worker_id, what, out,
		   err, errlen);
	if (r < 0) {
		munmap(base, size);
		munmap(wbase, wsize);
	}
	return r;
}

static int parse_env(const char *name, long max, long *out, char *err,
		     size_t errlen)
{
	const char *s = getenv(name);
	if (!s)
		return fail(err, errlen, ENOENT,
			    "%s is not set: this program must be started as a "
			    "berth worker (berth par)",
			    name);
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > max)
		return fail(err, errlen, EINVAL,
			    "%s=`%s`: not a number between 0 and %ld", name, s,
			    max);
	*out = v;
	return 0;
}

int bw_open_fd(int fd, uint32_t worker_id, struct bw **out, char *err,
	       size_t errlen)
{
	long wfd;
	int r = parse_env(BW_ENV_WORKER_FD, INT_MAX, &wfd, err, errlen);
	if (r < 0)
		return r;
	return bw_open_fds(fd, (int)wfd, worker_id, out, err, errlen);
}

int bw_open(struct bw **out, char *err, size_t errlen)
{
	long fd, wfd, id;
	int r = parse_env(BW_ENV_FD, INT_MAX, &fd, err, errlen);
	if (r < 0)
		return r;
	r = parse_env(BW_ENV_WORKER_FD, INT_MAX, &wfd, err, errlen);
	if (r < 0)
		return r;
	r = parse_env(BW_ENV_WORKER, 0xffffff, &id, err, errlen);
	if (r < 0)
		return r;
	int fl = fcntl((int)fd, F_GETFD);
	if (fl < 0)
		return fail(err, errlen, EBADF,
			    "%s=%ld: file descriptor not open", BW_ENV_FD, fd);
	int wfl = fcntl((int)wfd, F_GETFD);
	if (wfl < 0)
		return fail(err, errlen, EBADF,
			    "%s=%ld: file descriptor not open",
			    BW_ENV_WORKER_FD, wfd);
	r = bw_open_fds((int)fd, (int)wfd, (uint32_t)id, out, err, errlen);
	if (r == 0) {
		/* programs the worker runs do not inherit the queue */
		fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
		fcntl((int)wfd, F_SETFD, wfl | FD_CLOEXEC);
	}
	return r;
}

uint32_t bw_worker_id(const struct bw *w)
{
	return w->id;
}

size_t bw_max_result(const struct bw *w)
{
	return w->result_size / 2 - sizeof(struct bq_record);
}

static void close_run(struct bw *w);

void bw_close(struct bw *w)
{
	if (!w)
		return;
	close_run(w);
	uint32_t tid = w->tid;
	atomic_compare_exchange_strong(&w->me->attached, &tid, 0);
	if (w->unmap)
		munmap((void *)w->base, w->size);
	if (w->wunmap)
		munmap(w->wbase, w->wsize);
	free(w);
}

/* ---- taking tasks ------------------------------------------------------ */

/* Statistics this worker alone writes: no locked instruction needed. */
static void count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Counts a task handed out: taken, and held until bw_done(). */
static void count_taken(struct bw *w)
{
	count(&w->me->tasks);
	uint32_t held =
		atomic_load_explicit(&w->me->held, memory_order_relaxed);
	atomic_store_explicit(&w->me->held, held + 1, memory_order_relaxed);
}

/* Fills w->cur with the next task of the chunk being walked. Returns 1,
 * or 0 when the chunk is used up. The packed heads are the coordinator's
 * (the queue region is sealed), but a chunk taken back meanwhile may be
 * rewritten under us: each length is checked against the chunk's bytes
 * (a task read across a rewrite answers a stale gen, and is dropped). */
static int chunk_next(struct bw *w)
{
	struct bq_packed h;
	if (!w->ck_left)
		return 0;
	if ((size_t)(w->ck_end - w->ck_p) < sizeof(h)) {
		w->ck_left = 0;
		return 0;
	}
	memcpy(&h, w->ck_p, sizeof(h));
	const uint8_t *data = w->ck_p + sizeof(h);
	if (h.len > (size_t)(w->ck_end - data)) {
		w->ck_left = 0;
		return 0;
	}
	w->cur = (struct bw_task){
		.id = w->ck_id++,
		.data = h.len ? data : NULL,
		.len = h.len,
		.attempt = w->ck_attempt,
		.priv_lease = w->ck_lease,
		.priv_gen = w->ck_gen,
		.priv_flags = TASK_OF_CHUNK,
	};
	w->ck_p = data + h.len;
	w->ck_left--;
	count_taken(w);
	return 1;
}

/* Fills w->cur from the ticket at ring position pos (a chunk: starts
 * walking it). Returns 1, or 0 when the entry is not (or no longer) that
 * position's: skipped. */
static int view_task(struct bw *w, const struct bq_entry *e, uint64_t pos)
{
	uint64_t ticket =
		atomic_load_explicit(&e->ticket, memory_order_relaxed);
	uint32_t lease = bq_ticket_lease(ticket), gen = bq_ticket_gen(ticket);
	if (lease >= w->cap)
		return 0;
	const struct bq_task *t = &w->tasks[lease];
	if (atomic_load_explicit(&t->gen, memory_order_acquire) != gen)
		return 0;
	struct bq_task copy = {
		.task_id = t->task_id,
		.payload_off = t->payload_off,
		.payload_len = t->payload_len,
		.attempt = t->attempt,
		.count = t->count,
	};
	/* the coordinator moves gen on before it rewrites an entry: a copy
	 * taken across a rewrite answers an old gen, and is dropped */
	if (atomic_load_explicit(&t->gen, memory_order_acquire) != gen ||
	    atomic_load_explicit(&e->pos, memory_order_relaxed) != pos ||
	    !region_ok(copy.payload_off, copy.payload_len, w->arena_size))
		return 0;
	const uint8_t *data = w->arena + copy.payload_off;
	if (copy.count) {
		w->ck_p = data;
		w->ck_end = data + copy.payload_len;
		w->ck_left = copy.count;
		w->ck_id = copy.task_id;
		w->ck_lease = lease;
		w->ck_gen = gen;
		w->ck_attempt = copy.attempt;
		return chunk_next(w);
	}
	w->cur = (struct bw_task){
		.id = copy.task_id,
		.data = copy.payload_len ? data : NULL,
		.len = copy.payload_len,
		.attempt = copy.attempt,
		.priv_lease = lease,
		.priv_gen = gen,
	};
	count_taken(w);
	return 1;
}

static bool ring_ready(const struct bw *w)
{
	return (int64_t)(atomic_load(&w->ctl->prod) - w->deq) > 0;
}

/* Takes the next task from our ring. Returns 1 (w->cur is set), or 0 when
 * the ring is empty. */
static int take_one(struct bw *w)
{
	while ((int64_t)(atomic_load_explicit(&w->ctl->prod,
					      memory_order_acquire) -
			 w->deq) > 0) {
		uint64_t pos = w->deq;
		const struct bq_entry *e = &w->ring[pos & (w->depth - 1)];
		int ok = atomic_load_explicit(&e->pos, memory_order_acquire) ==
				 pos &&
			 view_task(w, e, pos);
		w->deq = pos + 1;
		/* release: the coordinator may read how far we got */
		atomic_store_explicit(&w->me->deq, w->deq,
				      memory_order_release);
		if (!ok)
			continue; /* taken back meanwhile */
		return 1;
	}
	return 0;
}

static bool at_end(const struct bw *w)
{
	uint32_t fl = atomic_load(&w->hdr->flags);
	if (fl & BQ_SHUTDOWN)
		return true;
	return (fl & BQ_CLOSED) && atomic_load(&w->hdr->unresolved) == 0;
}

/* Wakes a coordinator asleep for results (seq_cst: after publishing). */
static void wake_collector(struct bw *w)
{
	if (w->woke != w->tail && atomic_load(&w->hdr->collecting)) {
		w->woke = w->tail;
		count(&w->me->wakes);
		bq_futex_bump_wake(&w->me->result_futex, 1);
	}
}

/* Waits until the ring may hold a task. Returns false at the end. */
static bool wait_for_task(struct bw *w)
{
	/* idle from now on: what we answered must not wait for a chunk's
	 * end that will not come */
	close_run(w);
	wake_collector(w);
	for (uint32_t i = 0; i < w->spin; i++) {
		if (ring_ready(w))
			return true;
		if ((i & 63) == 0 && at_end(w))
			return false;
		bq_cpu_relax();
	}
	uint32_t seq = atomic_load(&w->ctl->wake);
	/* seq_cst: announce, then re-check (see the layout's comment) */
	atomic_store(&w->me->sleeping, 1);
	bool end = false;
	if (!ring_ready(w)) {
		end = at_end(w);
		if (!end) {
			count(&w->me->sleeps);
			bq_futex_wait((_Atomic uint32_t *)&w->ctl->wake, seq,
				      NULL);
		}
	}
	atomic_store(&w->me->sleeping, 0);
	return !end;
}

const struct bw_task *bw_next(struct bw *w)
{
	for (;;) {
		if (chunk_next(w) || take_one(w)) {
			errno = 0;
			return &w->cur;
		}
		if (!wait_for_task(w)) {
			errno = 0;
			return NULL;
		}
	}
}

/* ---- reporting results ------------------------------------------------- */

/* Waits until the ring has room up to byte counter `end`. */
static int wait_space(struct bw *w, uint64_t end)
{
	struct bq_worker *me = w->me;
	const struct bq_wctl *c = w->ctl;
	uint32_t spins = 0;
	/* res_head is the coordinator's line: read it only when the room
	 * seen last time does not suffice */
	if (end - w->head <= w->result_size)
		return 0;
	for (;;) {
		w->head = atomic_load(&c->res_head);
		if (end - w->head <= w->result_size)
			return 0;
		if (atomic_load(&w->hdr->flags) & BQ_SHUTDOWN)
			return -ESHUTDOWN;
		if (spins++ < w->spin) {
			bq_cpu_relax();
			continue;
		}
		uint32_t seq = atomic_load(&c->space_futex);
		atomic_store(&me->space_sleepers, 1);
		if (end - atomic_load(&c->res_head) > w->result_size &&
		    !(atomic_load(&w->hdr->flags) & BQ_SHUTDOWN)) {
			count(&me->sleeps);
			bq_futex_wait((_Atomic uint32_t *)&c->space_futex, seq,
				      NULL);
		}
		atomic_store(&me->space_sleepers, 0);
	}
}

/* Publishes what was written: every record up to w->tail. seq_cst:
 * publish, then look for a sleeping coordinator. */
static void publish(struct bw *w)
{
	w->run_open = false;
	atomic_store(&w->me->res_tail, w->tail);
}

/* Publishes the open run, which is the last record written. */
static void close_run(struct bw *w)
{
	if (w->run_open)
		publish(w);
}

static void count_answered(struct bw *w)
{
	uint32_t held =
		atomic_load_explicit(&w->me->held, memory_order_relaxed);
	if (held)
		atomic_store_explicit(&w->me->held, held - 1,
				      memory_order_relaxed);
}

/* The count of the record at byte counter at. A record's count is
 * stored last, and zeroed before the rest: should we die with a run open
 * (written, not published), the coordinator takes the run from what it
 * finds, and a count of 0 there is a record half written. */
static _Atomic uint32_t *count_of(struct bw *w, uint64_t at)
{
	return (_Atomic uint32_t *)(w->results + (at & (w->result_size - 1)) +
				    offsetof(struct bq_record, count));
}

/* Whether a result of status and len bytes for t may join a run. */
static bool runnable(const struct bw *w, const struct bw_task *t,
		     int32_t status, size_t len)
{
	return w->runs && status == 0 && len == 0 &&
	       (t->priv_flags & TASK_OF_CHUNK);
}

/* Adds t to the open run when it continues it: the run's record counts
 * one more task, in place (unpublished, so unseen). Returns whether it
 * did. */
static bool run_extend(struct bw *w, const struct bw_task *t)
{
	if (!w->run_open || t->priv_lease != w->run_lease ||
	    t->priv_gen != w->run_gen || t->id != w->run_next ||
	    w->run_n >= BQ_RUN_MAX)
		return false;
	w->run_n++;
	w->run_next++;
	atomic_store_explicit(count_of(w, w->run_at), w->run_n,
			      memory_order_release);
	return true;
}

/* After a record for t at byte counter at: opens a run with it when later
 * tasks of its chunk may continue it (the chunk has more, handed out or
 * not). Returns whether it did, leaving the record unpublished. */
static bool start_run(struct bw *w, const struct bw_task *t, uint64_t at)
{
	if (!w->ck_left || t->priv_lease != w->ck_lease ||
	    t->priv_gen != w->ck_gen)
		return false;
	w->run_open = true;
	w->run_at = at;
	w->run_n = 1;
	w->run_lease = t->priv_lease;
	w->run_gen = t->priv_gen;
	w->run_next = t->id + 1;
	return true;
}

/* After a result: the coordinator is woken once a ring entry (a task, a
 * chunk's last), or a quarter of our ring. */
static void maybe_wake(struct bw *w)
{
	if (!w->ck_left || w->tail - w->woke >= w->result_size / 4)
		wake_collector(w);
}

int bw_done(struct bw *w, const struct bw_task *t, int32_t status,
	    const void *result, size_t len)
{
	if (!w || !t || (len && !result))
		return -EINVAL;
	if (len > bw_max_result(w))
		return -EMSGSIZE;
	bool run = runnable(w, t, status, len);
	if (run && run_extend(w, t)) {
		count_answered(w);
		/* the chunk's last, or the run's: out now */
		if (!w->ck_left || w->run_n >= BQ_RUN_MAX) {
			publish(w);
			maybe_wake(w);
		}
		return 0;
	}
	/* a record after the run: the run goes out first, whole */
	close_run(w);
	uint32_t need = (uint32_t)((sizeof(struct bq_record) + len + 7) & ~7ul);
	uint32_t off = (uint32_t)(w->tail & (w->result_size - 1));
	uint32_t waste = w->result_size - off < need ? w->result_size - off : 0;
	int r = wait_space(w, w->tail + waste + need);
	if (r < 0)
		return r;
	if (waste) {
		struct bq_record wrap = {.size = BQ_REC_WRAP};
		memcpy(w->results + off, &wrap, sizeof(wrap.size));
		off = 0;
	}
	struct bq_record rec = {
		.size = need,
		.lease = t->priv_lease,
		.gen = t->priv_gen,
		.status = status,
		.task_id = t->id,
		.len = (uint32_t)len,
	};
	_Atomic uint32_t *count = count_of(w, off);
	atomic_store_explicit(count, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(w->results + off, &rec, offsetof(struct bq_record, count));
	if (len)
		memcpy(w->results + off + sizeof(rec), result, len);
	atomic_store_explicit(count, 1, memory_order_release);
	w->tail += waste + need;
	count_answered(w);
	if (run && start_run(w, t, w->tail - need))
		return 0;
	publish(w);
	maybe_wake(w);
	return 0;
}
