/* Chunks: one lease, one ring entry and one wake-up for a run of tasks.
 *
 * The payloads of a chunk are packed in one arena block (struct bq_packed,
 * then the bytes, for each); the worker library walks them and answers
 * each task with a record of its own, or a run of them with one record.
 * The coordinator keeps a bit per task: a record counts when its tasks'
 * bits are clear, so each task has one result however often it runs. A chunk
 * taken back from a dead worker is issued again from its first task without a
 * result: the tasks after it that the dead worker had answered (its records not
 * collected yet) may run again, and whichever result comes first counts.
 *
 * Its results come from its holder alone, with the gen it was given; a
 * dead holder's published ones are taken by dq_reclaim() before the rest
 * goes back (dq_result_stash_dead). */
#include <string.h>
#include <sys/uio.h>

#include "dist/dist-internal.h"

static uint64_t *bits_of(struct dq *q, uint32_t lease)
{
	return q->chunk_bits + (uint64_t)lease * DQ_CHUNK_WORDS;
}

static bool bit_test(const uint64_t *b, uint32_t k)
{
	return b[k / 64] >> (k % 64) & 1;
}

static void bit_set(uint64_t *b, uint32_t k)
{
	b[k / 64] |= 1ull << (k % 64);
}

/* The first clear bit of b below count, or count. */
static uint32_t first_clear(const uint64_t *b, uint32_t count)
{
	for (uint32_t i = 0; i * 64 < count; i++)
		if (~b[i]) {
			uint32_t k = i * 64 + (uint32_t)__builtin_ctzll(~b[i]);
			return k < count ? k : count;
		}
	return count;
}

uint32_t dq_chunk_match(struct dq *q, uint32_t w, const struct bq_record *rec)
{
	const struct dq_lpriv *lp = &q->lp[rec->lease];
	if (!lp->count || lp->state != DQ_LP_GIVEN || lp->holder != w ||
	    rec->gen != lp->gen)
		return DQ_NO_TASK;
	uint64_t k = rec->task_id - lp->task_id;
	uint32_t n = dq_record_tasks(rec);
	if (k >= lp->count || n > lp->count - k)
		return DQ_NO_TASK;
	/* a run counts whole or not at all: one of its tasks with a
	 * result already (a re-issue's) makes it stale */
	const uint64_t *b = bits_of(q, rec->lease);
	for (uint32_t i = 0; i < n; i++)
		if (bit_test(b, (uint32_t)k + i))
			return DQ_NO_TASK;
	return (uint32_t)k;
}

bool dq_chunk_answer(struct dq *q, uint32_t lease, uint32_t k, uint32_t n)
{
	struct dq_lpriv *lp = &q->lp[lease];
	uint64_t *b = bits_of(q, lease);
	for (uint32_t i = 0; i < n; i++)
		bit_set(b, k + i);
	lp->answered += n;
	if (lp->answered < lp->count)
		return false;
	dq_lease_release_locked(q, lease);
	return true;
}

uint32_t dq_chunk_next_unanswered(struct dq *q, uint32_t lease)
{
	struct dq_lpriv *lp = &q->lp[lease];
	uint64_t *b = bits_of(q, lease);
	uint32_t k = first_clear(b, lp->count);
	if (k == lp->count)
		return DQ_NO_TASK;
	bit_set(b, k);
	lp->answered++;
	return k;
}

void dq_chunk_take_back(struct dq *q, uint32_t lease, uint32_t w, bool taken)
{
	struct dq_lpriv *lp = &q->lp[lease];
	uint64_t *b = bits_of(q, lease);
	uint32_t k0 = first_clear(b, lp->count);
	if (taken && k0 < lp->count) {
		/* its deliveries: this issue's, and the ones before when
		 * this issue began with it */
		uint32_t d = k0 == lp->start ? lp->attempt : 1;
		lp->attempt = d + 1;
		if (d >= q->max_attempts) {
			bit_set(b, k0);
			lp->answered++;
			dq_abandoned_push(q,
					  &(struct dq_abandoned){
						  .lease = lease,
						  .worker = w,
						  .error = -EOWNERDEAD,
						  .index = k0,
						  .attempts = d,
						  .task_id = lp->task_id + k0,
						  .chunk_id = lp->task_id,
					  });
			lp->attempt = 1;
		}
		atomic_fetch_add(&q->st.requeued, 1);
	}
	lp->start = first_clear(b, lp->count);
	if (lp->start == lp->count)
		dq_lease_release_locked(q, lease);
	else
		dq_wait_add_locked(q, lease);
}

void dq_chunk_publish(struct dq *q, uint32_t lease, struct bq_task *t)
{
	struct dq_lpriv *lp = &q->lp[lease];
	uint64_t off = lp->payload_off;
	uint32_t len = lp->payload_len;
	/* the coordinator packed them: the heads are sound */
	for (uint32_t i = 0; i < lp->start; i++) {
		struct bq_packed h;
		memcpy(&h, q->arena_mem + off, sizeof(h));
		off += sizeof(h) + h.len;
		len -= (uint32_t)sizeof(h) + h.len;
	}
	t->task_id = lp->task_id + lp->start;
	t->payload_off = off;
	t->payload_len = len;
	t->count = lp->count - lp->start;
}

/* The bits of every lease, allocated with the first chunk. */
static int bits_ready(struct dq *q)
{
	pthread_mutex_lock(&q->alloc_lock);
	if (!q->chunk_bits)
		q->chunk_bits = calloc((size_t)q->cap * DQ_CHUNK_WORDS,
				       sizeof(*q->chunk_bits));
	bool ok = q->chunk_bits != NULL;
	pthread_mutex_unlock(&q->alloc_lock);
	return ok ? 0 : -ENOMEM;
}

/* The bytes the packed payloads take, or -errno. */
static int64_t packed_size(const struct iovec *iov, uint32_t count)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			return -EINVAL;
		if (iov[i].iov_len > UINT32_MAX)
			return -EMSGSIZE;
		total += sizeof(struct bq_packed) + iov[i].iov_len;
	}
	return total > UINT32_MAX ? -EMSGSIZE : (int64_t)total;
}

static void pack(uint8_t *p, const struct iovec *iov, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		struct bq_packed h = {.len = (uint32_t)iov[i].iov_len};
		memcpy(p, &h, sizeof(h));
		p += sizeof(h);
		if (h.len)
			memcpy(p, iov[i].iov_base, h.len);
		p += h.len;
	}
}

/* Takes a lease and total bytes of arena for a chunk of count tasks;
 * returns with alloc_lock held (fill the bytes, then commit_chunk). */
static int take_chunk(struct dq *q, uint64_t total, int timeout_ms,
		      uint32_t *lease, uint64_t *off)
{
	if (!q->chunk_bits && bits_ready(q) < 0)
		return -ENOMEM;
	return dq_lease_alloc(q, total, timeout_ms, lease, off);
}

/* Puts the chunk whose payloads fill the lease's bytes on the books and in
 * a worker's ring; releases alloc_lock. */
static void commit_chunk(struct dq *q, uint32_t lease, uint64_t off,
			 uint32_t total, uint32_t count, uint64_t *first_id)
{
	uint64_t tid = atomic_fetch_add_explicit(&q->next_id, count,
						 memory_order_relaxed);
	struct dq_lpriv *lp = &q->lp[lease];
	*lp = (struct dq_lpriv){
		.task_id = tid,
		.payload_off = off,
		.payload_len = total,
		.attempt = 1,
		.gen = lp->gen,
		.count = count,
	};
	/* only the words of its count are ever read */
	memset(bits_of(q, lease), 0, (count + 63) / 64 * sizeof(uint64_t));
	atomic_fetch_add(&q->unresolved, count);
	atomic_store(&q->hdr->unresolved, atomic_load(&q->unresolved));
	dq_wait_add_locked(q, lease);
	dq_dispatch_locked(q);
	pthread_mutex_unlock(&q->alloc_lock);
	if (first_id)
		*first_id = tid;
}

int dq_submit_chunk(struct dq *q, const struct iovec *payloads, uint32_t count,
		    int timeout_ms, uint64_t *first_id)
{
	if (!count || count > DQ_CHUNK_MAX || !payloads)
		return -EINVAL;
	int64_t total = packed_size(payloads, count);
	if (total < 0)
		return (int)total;
	uint32_t lease;
	uint64_t off;
	int r = take_chunk(q, (uint64_t)total, timeout_ms, &lease, &off);
	if (r < 0)
		return r;
	pack(q->arena_mem + off, payloads, count);
	commit_chunk(q, lease, off, (uint32_t)total, count, first_id);
	return 0;
}

int dq_submit_chunk_packed(struct dq *q, const void *packed, size_t len,
			   uint32_t count, int timeout_ms, uint64_t *first_id)
{
	if (!count || count > DQ_CHUNK_MAX || !packed || len > UINT32_MAX)
		return -EINVAL;
	/* the workers walk the heads (dq_chunk_publish too): they must
	 * cover len exactly */
	size_t at = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct bq_packed h;
		if (len - at < sizeof(h))
			return -EINVAL;
		memcpy(&h, (const uint8_t *)packed + at, sizeof(h));
		if (h.len > len - at - sizeof(h))
			return -EINVAL;
		at += sizeof(h) + h.len;
	}
	if (at != len)
		return -EINVAL;
	uint32_t lease;
	uint64_t off;
	int r = take_chunk(q, len, timeout_ms, &lease, &off);
	if (r < 0)
		return r;
	memcpy(q->arena_mem + off, packed, len);
	commit_chunk(q, lease, off, (uint32_t)len, count, first_id);
	return 0;
}
