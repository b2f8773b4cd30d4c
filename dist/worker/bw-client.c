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
	uint8_t *base;
	size_t size;
	bool unmap;
	uint32_t id;
	uint32_t tid;
	struct bq_header *hdr;
	struct bq_slot *ring;
	struct bq_lease *leases;
	struct bq_worker *me;
	uint8_t *results; /* this worker's result ring */
	const uint8_t *arena;
	uint64_t arena_size;
	uint32_t cap;
	uint32_t mask;
	uint32_t result_size;
	uint32_t spin;
	uint64_t tail; /* our copy of me->res_tail: we are its only writer */
	uint64_t head; /* me->res_head when last read: room known to exist */
	bool woken;    /* back from a futex sleep: pass the wake on */
	struct bw_task cur;
};

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

/* Checks the header of a mapping of size bytes; what names the queue in
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
	uint64_t cap = c->capacity, nw = c->max_workers;
	bool ok = c->header_size == sizeof(struct bq_header) &&
		  c->slot_size == sizeof(struct bq_slot) &&
		  c->lease_size == sizeof(struct bq_lease) &&
		  c->worker_size == sizeof(struct bq_worker) && cap >= 2 &&
		  (cap & (cap - 1)) == 0 && cap <= (1u << 30) && nw >= 1 &&
		  nw <= 0xffffff && c->result_size >= 256 &&
		  (c->result_size & (c->result_size - 1)) == 0 &&
		  c->total_size <= size &&
		  region_ok(c->ring_off, cap * BQ_LINE, size) &&
		  region_ok(c->lease_off, cap * BQ_LINE, size) &&
		  region_ok(c->worker_off, nw * 2 * BQ_LINE, size) &&
		  region_ok(c->result_off, nw * c->result_size, size) &&
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

static void set_pointers(struct bw *w)
{
	const struct bq_config *c = &w->hdr->cfg;
	w->ring = (struct bq_slot *)(w->base + c->ring_off);
	w->leases = (struct bq_lease *)(w->base + c->lease_off);
	w->me = (struct bq_worker *)(w->base + c->worker_off) + w->id;
	w->results = w->base + c->result_off + (uint64_t)w->id * c->result_size;
	w->arena = w->base + c->arena_off;
	w->arena_size = c->arena_size;
	w->cap = c->capacity;
	w->mask = c->capacity - 1;
	w->result_size = c->result_size;
	w->spin = c->spin;
}

/* Takes the worker id (one live handle per id) and publishes it. */
static int claim_id(struct bw *w, const char *what, char *err, size_t errlen)
{
	uint32_t tid = (uint32_t)syscall(SYS_gettid), none = 0;
	if (!atomic_compare_exchange_strong(&w->me->attached, &none, tid))
		return fail(err, errlen, EBUSY,
			    "%s: worker id %u is already attached (thread %u)",
			    what, w->id, none);
	w->tid = tid;
	w->tail = atomic_load(&w->me->res_tail);
	w->head = atomic_load(&w->me->res_head);
	uint32_t high = atomic_load(&w->hdr->worker_high);
	while (high < w->id + 1 &&
	       !atomic_compare_exchange_weak(&w->hdr->worker_high, &high,
					     w->id + 1))
		;
	return 0;
}

static int attach(void *base, size_t size, bool unmap, uint32_t id,
		  const char *what, struct bw **out, char *err, size_t errlen)
{
	struct bq_header *hdr = base;
	int r = check_config(&hdr->cfg, size, id, what, err, errlen);
	if (r < 0)
		return r;
	struct bw *w = calloc(1, sizeof(*w));
	if (!w)
		return fail(err, errlen, ENOMEM, "%s: out of memory", what);
	w->base = base;
	w->size = size;
	w->id = id;
	w->hdr = hdr;
	set_pointers(w);
	r = claim_id(w, what, err, errlen);
	if (r < 0) {
		free(w);
		return r;
	}
	w->unmap = unmap;
	*out = w;
	return 0;
}

int bw_attach(void *base, size_t size, uint32_t worker_id, struct bw **out,
	      char *err, size_t errlen)
{
	if (!base || !out)
		return fail(err, errlen, EINVAL, "bw_attach: NULL argument");
	return attach(base, size, false, worker_id, "queue mapping", out, err,
		      errlen);
}

int bw_open_fd(int fd, uint32_t worker_id, struct bw **out, char *err,
	       size_t errlen)
{
	char what[32];
	struct stat st;
	snprintf(what, sizeof(what), "queue fd %d", fd);
	if (!out)
		return fail(err, errlen, EINVAL, "bw_open_fd: NULL argument");
	if (fstat(fd, &st) < 0)
		return fail(err, errlen, errno, "%s: %s", what,
			    strerror(errno));
	/* a queue that can shrink could fault us with SIGBUS */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return fail(err, errlen, EINVAL,
			    "%s: not a sealed memfd: not a berth queue", what);
	if (st.st_size < (off_t)sizeof(struct bq_header))
		return fail(err, errlen, EINVAL,
			    "%s: %lld bytes, too small for a berth queue", what,
			    (long long)st.st_size);
	size_t size = (size_t)st.st_size;
	void *base =
		mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return fail(err, errlen, errno, "%s: mmap: %s", what,
			    strerror(errno));
	int r = attach(base, size, true, worker_id, what, out, err, errlen);
	if (r < 0)
		munmap(base, size);
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

int bw_open(struct bw **out, char *err, size_t errlen)
{
	long fd, id;
	int r = parse_env(BW_ENV_FD, INT_MAX, &fd, err, errlen);
	if (r < 0)
		return r;
	r = parse_env(BW_ENV_WORKER, 0xffffff, &id, err, errlen);
	if (r < 0)
		return r;
	int fl = fcntl((int)fd, F_GETFD);
	if (fl < 0)
		return fail(err, errlen, EBADF,
			    "%s=%ld: file descriptor not open", BW_ENV_FD, fd);
	r = bw_open_fd((int)fd, (uint32_t)id, out, err, errlen);
	if (r == 0)
		fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
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

void bw_close(struct bw *w)
{
	if (!w)
		return;
	uint32_t tid = w->tid;
	atomic_compare_exchange_strong(&w->me->attached, &tid, 0);
	if (w->unmap)
		munmap(w->base, w->size);
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

/* Fills w->cur from lease l, which this worker now holds. */
static int view_task(struct bw *w, uint32_t lease, uint32_t gen)
{
	const struct bq_lease *l = &w->leases[lease];
	if (!region_ok(l->payload_off, l->payload_len, w->arena_size))
		return -EBADMSG;
	w->cur = (struct bw_task){
		.id = l->task_id,
		.data = l->payload_len ? w->arena + l->payload_off : NULL,
		.len = l->payload_len,
		.attempt = l->attempt,
		.priv_lease = lease,
		.priv_gen = gen,
	};
	return 0;
}

/* Takes the next task from the ring. Returns 1 (w->cur is set), or 0 when
 * the ring is empty. */
static int take_one(struct bw *w)
{
	uint64_t pos, ticket;
	while (bq_ring_take(w->ring, w->mask, &w->hdr->deq_pos, &pos,
			    &ticket)) {
		uint32_t lease = bq_ticket_lease(ticket);
		uint32_t gen = bq_ticket_gen(ticket);
		bool ok = false;
		if (lease < w->cap) {
			/* the lease moves first: dying after this line
			 * leaves the task LEASED to us, where reclaim
			 * finds it; dying before it leaves a claimed slot,
			 * which reclaim finds as well */
			uint64_t expect = bq_lease_word(BQ_QUEUED, 0, gen);
			ok = atomic_compare_exchange_strong(
				&w->leases[lease].word, &expect,
				bq_lease_word(BQ_LEASED, w->id, gen + 1));
		}
		bq_ring_release(w->ring, w->mask, pos);
		if (!ok)
			continue; /* a stale ticket: reclaim re-queued it */
		count(&w->me->tasks);
		/* fields another worker wrote garbage over: the coordinator
		 * finds them and, once we idle, queues the task again */
		if (view_task(w, lease, gen + 1) < 0)
			continue;
		uint32_t held = atomic_load_explicit(&w->me->held,
						     memory_order_relaxed);
		atomic_store_explicit(&w->me->held, held + 1,
				      memory_order_relaxed);
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

/* Waits until the ring may hold a task. Returns false at the end. */
static bool wait_for_task(struct bw *w)
{
	struct bq_header *h = w->hdr;
	for (uint32_t i = 0; i < w->spin; i++) {
		if (bq_ring_ready(w->ring, w->mask, &h->deq_pos))
			return true;
		if ((i & 63) == 0 && at_end(w))
			return false;
		bq_cpu_relax();
	}
	uint32_t seq = atomic_load(&h->task_futex);
	/* counted first, flagged second: dying in between leaves one extra
	 * count (spurious wakes), never a missing one (lost wakes) */
	atomic_fetch_add(&h->task_sleepers, 1);
	atomic_store(&w->me->task_sleeping, 1);
	/* see bq_header.wake_pending */
	atomic_store(&h->wake_pending, 0);
	w->woken = true;
	bool end = false;
	if (!bq_ring_ready(w->ring, w->mask, &h->deq_pos)) {
		end = at_end(w);
		if (!end) {
			count(&w->me->sleeps);
			bq_futex_wait(&h->task_futex, seq, NULL);
			atomic_store(&h->wake_pending, 0);
		}
	}
	/* reclaim may have uncounted us already (it thought us dead) */
	if (atomic_exchange(&w->me->task_sleeping, 0))
		atomic_fetch_sub(&h->task_sleepers, 1);
	return !end;
}

const struct bw_task *bw_next(struct bw *w)
{
	for (;;) {
		if (take_one(w)) {
			/* back from the sleep path: tasks published while
			 * we were on our way may wait for another sleeper */
			if (w->woken) {
				w->woken = false;
				if (bq_ring_ready(w->ring, w->mask,
						  &w->hdr->deq_pos))
					bq_wake_one_worker(w->hdr);
			}
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
	uint32_t spins = 0;
	/* res_head is the coordinator's line: read it only when the room
	 * seen last time does not suffice */
	if (end - w->head <= w->result_size)
		return 0;
	for (;;) {
		w->head = atomic_load(&me->res_head);
		if (end - w->head <= w->result_size)
			return 0;
		if (atomic_load(&w->hdr->flags) & BQ_SHUTDOWN)
			return -ESHUTDOWN;
		if (spins++ < w->spin) {
			bq_cpu_relax();
			continue;
		}
		uint32_t seq = atomic_load(&me->space_futex);
		atomic_store(&me->space_sleepers, 1);
		if (end - atomic_load(&me->res_head) > w->result_size &&
		    !(atomic_load(&w->hdr->flags) & BQ_SHUTDOWN)) {
			count(&me->sleeps);
			bq_futex_wait(&me->space_futex, seq, NULL);
		}
		atomic_store(&me->space_sleepers, 0);
	}
}

int bw_done(struct bw *w, const struct bw_task *t, int32_t status,
	    const void *result, size_t len)
{
	if (!w || !t || (len && !result))
		return -EINVAL;
	if (len > bw_max_result(w))
		return -EMSGSIZE;
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
	memcpy(w->results + off, &rec, sizeof(rec));
	if (len)
		memcpy(w->results + off + sizeof(rec), result, len);
	w->tail += waste + need;
	uint32_t held =
		atomic_load_explicit(&w->me->held, memory_order_relaxed);
	if (held)
		atomic_store_explicit(&w->me->held, held - 1,
				      memory_order_relaxed);
	/* seq_cst: publish, then look for a sleeping coordinator */
	atomic_store(&w->me->res_tail, w->tail);
	if (atomic_load(&w->hdr->result_sleepers))
		bq_futex_bump_wake(&w->hdr->result_futex, 1);
	return 0;
}
