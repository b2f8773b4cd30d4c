/* `berth par`'s chunks: in line and lib mode, tasks whose payload is their
 * argument go to the queue a run at a time (dq_submit_chunk), so that a
 * task costs the coordinator no lease, no ring entry, no wake-up and no
 * allocation of its own. A chunk keeps what the engine needs to finish
 * each of its tasks (sequence number, argument) until every one has its
 * result.
 *
 * Sizes follow OpenMP's guided schedule: a worker's share of what is
 * left, halved, so that chunks shrink as the input runs out and the last
 * ones cannot hold a worker back for long; and, once the workers' pace is
 * known, no more than DP_CHUNK_MS of one worker's work, so that a slow
 * worker (a busy CPU) or a run of costly tasks delays the end by a few
 * milliseconds at most. */
#include <string.h>
#include <sys/uio.h>

#include "dist/berth-queue-layout.h"
#include "dist/dist-par-internal.h"

/* Spare chunks kept for the next ones: a few a worker in flight. */
#define SPARE_MAX 16

struct dp_chunk *dp_chunk_new(struct dp_chunks *m, uint32_t cap)
{
	struct dp_chunk *c = m->spare;
	if (c) {
		m->spare = c->next;
		m->nspare--;
	} else {
		c = base_calloc(1, sizeof(*c));
	}
	if (c->cap < cap) {
		c->off = base_realloc(c->off, cap, sizeof(*c->off));
		c->seq = base_realloc(c->seq, cap, sizeof(*c->seq));
		free(c->answered);
		c->answered = base_calloc((cap + 63) / 64, sizeof(uint64_t));
		c->cap = cap;
	} else {
		memset(c->answered, 0, (c->count + 63) / 64 * sizeof(uint64_t));
	}
	c->count = c->left = 0;
	c->id0 = 0;
	c->text.len = 0;
	c->next = NULL;
	return c;
}

void dp_chunk_free(struct dp_chunk *c)
{
	if (!c)
		return;
	dp_buf_free(&c->text);
	free(c->off);
	free(c->seq);
	free(c->answered);
	free(c);
}

const char *dp_chunk_arg(const struct dp_chunk *c, uint32_t k)
{
	return c->text.p + c->off[k];
}

size_t dp_chunk_arg_len(const struct dp_chunk *c, uint32_t k)
{
	struct bq_packed h;
	memcpy(&h, c->text.p + c->off[k] - sizeof(h), sizeof(h));
	return h.len;
}

bool dp_chunk_answer(struct dp_chunk *c, uint32_t k)
{
	if (k >= c->count || (c->answered[k / 64] >> (k % 64) & 1))
		return false;
	c->answered[k / 64] |= 1ull << (k % 64);
	c->left--;
	return true;
}

int dp_chunk_submit(struct dq *q, struct dp_chunk *c)
{
	int r = dq_submit_chunk_packed(q, c->text.p, c->text.len, c->count, 0,
				       &c->id0);
	if (r == 0)
		c->left = c->count;
	return r;
}

uint32_t dp_chunk_size(uint64_t left, size_t workers, double per_ms)
{
	uint64_t n = left / (2 * (workers ? workers : 1));
	if (per_ms > 0 && (double)n > per_ms * DP_CHUNK_MS)
		n = (uint64_t)(per_ms * DP_CHUNK_MS);
	if (n > DQ_CHUNK_MAX)
		n = DQ_CHUNK_MAX;
	return n ? (uint32_t)n : 1;
}

/* ---- chunks in flight, by the id of their first task ---- */

static size_t slot_of(const struct dp_chunks *m, uint64_t id0)
{
	return (id0 * 0x9e3779b97f4a7c15ull >> 20) & m->mask;
}

void dp_chunks_init(struct dp_chunks *m, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	m->b = base_calloc(cap, sizeof(*m->b));
	m->mask = cap - 1;
	m->n = 0;
}

void dp_chunks_put(struct dp_chunks *m, struct dp_chunk *c)
{
	struct dp_chunk **slot = &m->b[slot_of(m, c->id0)];
	c->next = *slot;
	*slot = c;
	m->n++;
}

struct dp_chunk *dp_chunks_find(struct dp_chunks *m, uint64_t id0)
{
	if (!m->n)
		return NULL;
	if (m->last && m->last->id0 == id0)
		return m->last;
	for (struct dp_chunk *c = m->b[slot_of(m, id0)]; c; c = c->next)
		if (c->id0 == id0)
			return m->last = c;
	return NULL;
}

void dp_chunks_drop(struct dp_chunks *m, struct dp_chunk *c)
{
	for (struct dp_chunk **pp = &m->b[slot_of(m, c->id0)]; *pp;
	     pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			m->n--;
			if (m->last == c)
				m->last = NULL;
			if (m->nspare >= SPARE_MAX) {
				dp_chunk_free(c);
				return;
			}
			c->next = m->spare;
			m->spare = c;
			m->nspare++;
			return;
		}
}

struct dp_chunk *dp_chunks_any(const struct dp_chunks *m)
{
	for (size_t i = 0; m->n && i <= m->mask; i++)
		if (m->b[i])
			return m->b[i];
	return NULL;
}

void dp_chunks_free(struct dp_chunks *m)
{
	struct dp_chunk *c;
	while (m->b && (c = dp_chunks_any(m)))
		dp_chunks_drop(m, c);
	while ((c = m->spare)) {
		m->spare = c->next;
		dp_chunk_free(c);
	}
	m->nspare = 0;
	free(m->b);
	m->b = NULL;
}
