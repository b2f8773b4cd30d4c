/* Creating, closing and destroying a task queue: the memfd, its layout and
 * the coordinator's private bookkeeping. */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>

#include "dist/dist-internal.h"

#define DEF_CAPACITY 4096u
#define DEF_WORKERS 64u
#define DEF_ARENA (16ull << 20)
#define DEF_RESULT (256u << 10)
#define DEF_ATTEMPTS 3u
#define DEF_SPIN 2000u
#define DEF_STALL_MS 2000u
#define DEF_DEPTH 256u

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static uint64_t page_up(uint64_t v)
{
	return (v + BQ_PAGE - 1) & ~(uint64_t)(BQ_PAGE - 1);
}

static int resolve_params(const struct dq_params *in, struct dq_params *p,
			  struct berr *err)
{
	*p = in ? *in : (struct dq_params){0};
	if (!p->capacity)
		p->capacity = DEF_CAPACITY;
	if (!p->max_workers)
		p->max_workers = DEF_WORKERS;
	if (!p->arena_size)
		p->arena_size = DEF_ARENA;
	if (!p->result_size)
		p->result_size = DEF_RESULT;
	if (!p->max_attempts)
		p->max_attempts = DEF_ATTEMPTS;
	if (!p->spin)
		p->spin = DEF_SPIN;
	if (!p->collect_spin)
		p->collect_spin = p->spin;
	if (!p->stall_ms)
		p->stall_ms = DEF_STALL_MS;
	if (!p->depth)
		p->depth = DEF_DEPTH < p->capacity ? DEF_DEPTH : p->capacity;
	if (!pow2(p->capacity) || p->capacity < 2 || p->capacity > (1u << 20))
		return berr_setx(err, EINVAL,
				 "task queue: capacity %u is not a power of "
				 "two between 2 and 2^20",
				 p->capacity);
	if (!pow2(p->depth) || p->depth > p->capacity)
		return berr_setx(err, EINVAL,
				 "task queue: ring depth %u is not a power of "
				 "two up to the capacity",
				 p->depth);
	if (p->max_workers > 4096)
		return berr_setx(err, EINVAL,
				 "task queue: %u workers, at most 4096",
				 p->max_workers);
	if (p->arena_size < 4096 || p->arena_size > (1ull << 40))
		return berr_setx(err, EINVAL,
				 "task queue: arena of %llu bytes, not "
				 "between 4096 and 2^40",
				 (unsigned long long)p->arena_size);
	if (!pow2(p->result_size) || p->result_size < 4096 ||
	    p->result_size > (1u << 30))
		return berr_setx(err, EINVAL,
				 "task queue: result ring of %u bytes is not "
				 "a power of two between 4096 and 1 GiB",
				 p->result_size);
	return 0;
}

/* Fills the configuration block: the offsets of every region. */
static void layout(const struct dq_params *p, struct bq_config *c)
{
	uint64_t off = page_up(sizeof(struct bq_header));
	*c = (struct bq_config){
		.magic = BQ_MAGIC,
		.version = BQ_VERSION,
		.header_size = sizeof(struct bq_header),
		.capacity = p->capacity,
		.depth = p->depth,
		.ctl_size = sizeof(struct bq_wctl),
		.entry_size = sizeof(struct bq_entry),
		.task_size = sizeof(struct bq_task),
		.max_workers = p->max_workers,
		.result_size = p->result_size,
		.wregion_size = BQ_PAGE + p->result_size,
		.arena_size = p->arena_size,
		.spin = p->spin,
		.max_attempts = p->max_attempts,
		.features = p->runs ? BQ_FEAT_RUNS : 0,
	};
	c->ctl_off = off;
	off = page_up(off + (uint64_t)p->max_workers * sizeof(struct bq_wctl));
	c->ring_off = off;
	off = page_up(off + (uint64_t)p->max_workers * p->depth *
				    sizeof(struct bq_entry));
	c->task_off = off;
	off = page_up(off + (uint64_t)p->capacity * sizeof(struct bq_task));
	c->arena_off = off;
	c->total_size = page_up(off + p->arena_size);
}

static int make_memfd(const char *name, uint64_t size, struct berr *err)
{
	_cleanup_close_ int fd =
		memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return berr_set(err, errno, "task queue: memfd_create");
	if (ftruncate(fd, (off_t)size) < 0)
		return berr_set(err, errno, "task queue: size memfd to %llu",
				(unsigned long long)size);
	/* workers map it too: neither side may shrink it under the other */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return berr_set(err, errno, "task queue: seal memfd");
	return TAKE_FD(fd);
}

/* After the coordinator's own writable mapping exists: every mapping made
 * from now on, by anyone, is read-only, and write() fails. */
static int seal_readonly(int fd, struct berr *err)
{
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		return berr_set(err, errno, "task queue: seal memfd read-only");
	return 0;
}

static void init_shared(struct dq *q, const struct bq_config *c,
			const struct dq_params *p)
{
	q->hdr = (struct bq_header *)q->base;
	q->hdr->cfg = *c;
	q->cfg = *c;
	q->ctl = (struct bq_wctl *)(q->base + c->ctl_off);
	q->rings = (struct bq_entry *)(q->base + c->ring_off);
	q->tasks = (struct bq_task *)(q->base + c->task_off);
	q->arena_mem = q->base + c->arena_off;
	for (uint64_t i = 0; i < c->max_workers; i++)
		q->ctl[i].wfd = -1;
	/* no entry is valid at position 0 before it is written */
	for (uint64_t i = 0; i < (uint64_t)c->max_workers * c->depth; i++)
		atomic_init(&q->rings[i].pos, UINT64_MAX);
	q->cap = c->capacity;
	q->depth = c->depth;
	q->max_workers = c->max_workers;
	q->result_size = c->result_size;
	q->wregion_size = c->wregion_size;
	q->max_attempts = c->max_attempts;
	q->spin = c->spin;
	q->stall_ms = p->stall_ms;
	q->collect_spin = p->collect_spin;
	q->runs = p->runs;
}

static int init_private(struct dq *q, struct berr *err)
{
	q->free_leases = calloc(q->cap, sizeof(*q->free_leases));
	q->lease_blk = calloc(q->cap, sizeof(*q->lease_blk));
	q->waiting = calloc(q->cap, sizeof(*q->waiting));
	q->abandoned = calloc(q->cap, sizeof(*q->abandoned));
	q->abandoned_cap = q->cap;
	q->corrupt = calloc(q->max_workers, sizeof(*q->corrupt));
	q->reported = calloc(q->max_workers, sizeof(*q->reported));
	q->tail_seen = calloc(q->max_workers, sizeof(*q->tail_seen));
	q->res_head = calloc(q->max_workers, sizeof(*q->res_head));
	q->lp = calloc(q->cap, sizeof(*q->lp));
	q->wp = calloc(q->max_workers, sizeof(*q->wp));
	if (!q->free_leases || !q->lease_blk || !q->waiting || !q->abandoned ||
	    !q->corrupt || !q->reported || !q->tail_seen || !q->res_head ||
	    !q->lp || !q->wp ||
	    dq_arena_init(&q->arena, q->cfg.arena_size, 4ull * q->cap) < 0)
		return berr_setx(err, ENOMEM, "task queue: out of memory");
	for (uint32_t i = 0; i < q->max_workers; i++)
		q->wp[i].fd = -1;
	/* lease 0 on top of the stack: the first tasks use low indices */
	for (uint32_t i = 0; i < q->cap; i++) {
		q->free_leases[i] = q->cap - 1 - i;
		q->lp[i].holder = DQ_NO_WORKER;
	}
	q->nfree = q->cap;
	q->pending_worker = -1;
	atomic_init(&q->next_id, 1);
	return 0;
}

/* Writes the coordinator's line of a worker region: what the worker
 * checks when it attaches. */
void dq_region_head(struct dq *q, uint32_t w)
{
	struct bq_worker *r = q->wp[w].reg;
	r->magic = BQ_WMAGIC;
	r->version = BQ_VERSION;
	r->worker_id = w;
	r->size = q->wregion_size;
	r->result_off = BQ_PAGE;
	r->result_size = q->result_size;
	r->head_size = sizeof(*r);
}

int dq_region_create(struct dq *q, uint32_t w, struct berr *err)
{
	struct dq_wpriv *wp = &q->wp[w];
	if (wp->fd >= 0)
		return 0;
	_cleanup_close_ int fd =
		make_memfd("berth-worker", q->wregion_size, err);
	if (fd < 0)
		return fd;
	uint32_t *slot = calloc(q->depth, sizeof(*slot));
	if (!slot)
		return berr_setx(err, ENOMEM, "task queue: out of memory");
	void *m = mmap(NULL, q->wregion_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		free(slot);
		return berr_set(err, errno, "task queue: mmap worker %u", w);
	}
	for (uint32_t i = 0; i < q->depth; i++)
		slot[i] = UINT32_MAX;
	wp->slot = slot;
	wp->reg = m;
	wp->results = (uint8_t *)m + BQ_PAGE;
	dq_region_head(q, w);
	wp->fd = TAKE_FD(fd);
	q->ctl[w].wfd = wp->fd;
	return 0;
}

int dq_worker_fd(const struct dq *q, uint32_t w)
{
	return w < q->max_workers ? q->wp[w].fd : -EINVAL;
}

void *dq_worker_mapping(const struct dq *q, uint32_t w, size_t *size)
{
	if (w >= q->max_workers)
		return NULL;
	if (size)
		*size = q->wregion_size;
	return q->wp[w].reg;
}

int dq_create(const struct dq_params *in, struct dq **out, struct berr *err)
{
	struct dq_params p;
	struct bq_config c;
	int r = resolve_params(in, &p, err);
	if (r < 0)
		return r;
	layout(&p, &c);
	struct dq *q = base_calloc(1, sizeof(*q));
	pthread_mutex_init(&q->alloc_lock, NULL);
	pthread_mutex_init(&q->collect_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->room, &ca);
	pthread_condattr_destroy(&ca);
	q->fd = make_memfd("berth-queue", c.total_size, err);
	if (q->fd < 0) {
		r = q->fd;
		dq_destroy(q);
		return r;
	}
	q->size = c.total_size;
	q->base = mmap(NULL, q->size, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd,
		       0);
	if (q->base == MAP_FAILED) {
		r = berr_set(err, errno, "task queue: mmap %zu bytes", q->size);
		q->base = NULL;
		dq_destroy(q);
		return r;
	}
	init_shared(q, &c, &p);
	r = seal_readonly(q->fd, err);
	if (r == 0)
		r = init_private(q, err);
	for (uint32_t w = 0; r == 0 && w < q->max_workers; w++)
		r = dq_region_create(q, w, err);
	if (r < 0) {
		dq_destroy(q);
		return r;
	}
	blog_debug("task queue: %u slots, %u workers, %llu arena bytes, "
		   "memfd of %zu bytes",
		   q->cap, q->max_workers, (unsigned long long)c.arena_size,
		   q->size);
	*out = q;
	return 0;
}

static void free_regions(struct dq *q)
{
	for (uint32_t i = 0; q->wp && i < q->max_workers; i++) {
		struct dq_wpriv *wp = &q->wp[i];
		if (wp->reg)
			munmap(wp->reg, q->wregion_size);
		if (wp->fd >= 0)
			close(wp->fd);
		free(wp->slot);
	}
	free(q->wp);
}

void dq_destroy(struct dq *q)
{
	if (!q)
		return;
	if (q->hdr) {
		atomic_fetch_or(&q->hdr->flags, BQ_CLOSED | BQ_SHUTDOWN);
		for (uint32_t i = 0; i < q->max_workers; i++) {
			bq_futex_bump_wake(&q->ctl[i].wake, INT_MAX);
			bq_futex_bump_wake(&q->ctl[i].space_futex, INT_MAX);
		}
		munmap(q->base, q->size);
	}
	pthread_mutex_destroy(&q->alloc_lock);
	pthread_mutex_destroy(&q->collect_lock);
	pthread_cond_destroy(&q->room);
	if (q->fd >= 0)
		close(q->fd);
	dq_arena_fini(&q->arena);
	free_regions(q);
	free(q->free_leases);
	free(q->lease_blk);
	free(q->waiting);
	free(q->abandoned);
	free((void *)q->corrupt);
	free((void *)q->reported);
	free(q->tail_seen);
	free((void *)q->res_head);
	free(q->lp);
	free(q->chunk_bits);
	dq_result_stash_free(q);
	free(q);
}

int dq_fd(const struct dq *q)
{
	return q->fd;
}

void *dq_mapping(const struct dq *q, size_t *size)
{
	if (size)
		*size = q->size;
	return q->base;
}

void dq_close(struct dq *q)
{
	pthread_mutex_lock(&q->alloc_lock);
	q->closed = true;
	atomic_fetch_or(&q->hdr->flags, BQ_CLOSED);
	/* submitters waiting for room return -EPIPE */
	pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->alloc_lock);
	/* idle workers re-check: they end once nothing is unresolved */
	for (uint32_t i = 0; i < q->max_workers; i++)
		dq_wake_worker(q, i, true);
}

enum dq_worker_state dq_worker_state(struct dq *q, uint32_t w)
{
	if (w >= q->max_workers || !q->wp[w].reg)
		return DQ_WORKER_GONE;
	/* the worker's own words: it can only lie about itself */
	const struct bq_worker *me = q->wp[w].reg;
	if (!atomic_load_explicit(&me->attached, memory_order_relaxed))
		return DQ_WORKER_GONE;
	return atomic_load_explicit(&me->sleeping, memory_order_relaxed)
		       ? DQ_WORKER_IDLE
		       : DQ_WORKER_BUSY;
}

void dq_stats(struct dq *q, struct dq_stats *st)
{
	*st = (struct dq_stats){
		.submitted = atomic_load(&q->next_id) - 1,
		.completed = atomic_load(&q->st.completed),
		.abandoned = atomic_load(&q->st.abandoned),
		.requeued = atomic_load(&q->st.requeued),
		.stale = atomic_load(&q->st.stale),
		.in_flight = atomic_load(&q->unresolved),
		.collect_sleeps = atomic_load(&q->st.collect_sleeps),
		.wakes = atomic_load(&q->st.wakes),
		.dispatched = atomic_load(&q->st.dispatched),
		.corrupt = atomic_load(&q->st.corrupt),
	};
	pthread_mutex_lock(&q->alloc_lock);
	st->arena_used = q->arena.tail - q->arena.head;
	st->arena_wraps = q->arena.wraps;
	uint32_t n = q->max_workers;
	pthread_mutex_unlock(&q->alloc_lock);
	for (uint32_t i = 0; i < n; i++) {
		const struct bq_worker *r = q->wp[i].reg;
		if (!r)
			continue;
		st->worker_tasks +=
			atomic_load_explicit(&r->tasks, memory_order_relaxed);
		st->worker_sleeps +=
			atomic_load_explicit(&r->sleeps, memory_order_relaxed);
		st->worker_wakes +=
			atomic_load_explicit(&r->wakes, memory_order_relaxed);
	}
}

void dq_corrupt_reason(struct dq *q, uint32_t w, char *buf, size_t len)
{
	pthread_mutex_lock(&q->collect_lock);
	snprintf(buf, len, "%s", w < q->max_workers ? q->wp[w].why : "");
	pthread_mutex_unlock(&q->collect_lock);
}
