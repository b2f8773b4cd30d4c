/* The payload arena: a ring of bytes in the shared mapping that only the
 * coordinator allocates in. Its bookkeeping lives in the coordinator's own
 * memory, so a worker scribbling on shared memory cannot corrupt it.
 *
 * Blocks are cut in order at `tail`; the space of a freed block returns
 * when every older block is free too (head moves over them in order).
 * That is the simplest allocator that handles any payload size without
 * fragmentation; its cost is that one slow task holds back the space of
 * the tasks submitted after it, which a generous arena absorbs. */
#include <errno.h>
#include <stdlib.h>

#include "dist/dist-internal.h"

/* Payloads start on a cache line: the coordinator writing the next payload
 * must not share a line with one a worker is reading. */
#define ARENA_ALIGN 64u
/* Past this offset the ring restarts at 0 as soon as the blocks alive
 * leave room there: a steady flow of small payloads (chunks of a range)
 * then cycles through the first MiB instead of the whole arena, whose
 * every page the coordinator would otherwise fault in and the kernel
 * clear (16 MiB of first touches cost a run of a million tasks 40 ms of
 * the coordinator's CPU in a VM). */
#define ARENA_HOT (1ull << 20)

int dq_arena_init(struct dq_arena *a, uint64_t size, uint64_t nblocks)
{
	*a = (struct dq_arena){.size = size, .blocks_mask = nblocks - 1};
	a->blocks = calloc(nblocks, sizeof(*a->blocks));
	return a->blocks ? 0 : -ENOMEM;
}

void dq_arena_fini(struct dq_arena *a)
{
	free(a->blocks);
	a->blocks = NULL;
}

int dq_arena_alloc(struct dq_arena *a, uint64_t n, uint64_t *off, uint64_t *blk)
{
	if (n == 0) {
		*off = 0;
		*blk = DQ_NO_BLOCK;
		return 0;
	}
	n = (n + ARENA_ALIGN - 1) & ~(uint64_t)(ARENA_ALIGN - 1);
	if (n > a->size)
		return -EMSGSIZE;
	if (a->next - a->first > a->blocks_mask)
		return -EAGAIN; /* too many blocks alive */
	if (a->head == a->tail && a->tail % a->size) {
		/* empty: restart at offset 0, so that a block as large as
		 * the arena fits */
		a->tail += a->size - a->tail % a->size;
		a->head = a->tail;
		a->wraps++;
	}
	uint64_t at = a->tail % a->size;
	uint64_t skip = at + n > a->size ? a->size - at : 0;
	if (!skip && at >= ARENA_HOT &&
	    a->tail - a->head + (a->size - at) + n <= a->size)
		skip = a->size - at;
	if (a->tail - a->head + skip + n > a->size)
		return -EAGAIN;
	if (skip || (at == 0 && a->tail && a->head != a->tail))
		a->wraps++;
	*off = skip ? 0 : at;
	a->tail += skip + n;
	a->blocks[a->next & a->blocks_mask] =
		(struct dq_block){.size = skip + n, .freed = false};
	*blk = a->next++;
	return 0;
}

void dq_arena_free(struct dq_arena *a, uint64_t blk)
{
	if (blk == DQ_NO_BLOCK)
		return;
	a->blocks[blk & a->blocks_mask].freed = true;
	while (a->first != a->next &&
	       a->blocks[a->first & a->blocks_mask].freed) {
		a->head += a->blocks[a->first & a->blocks_mask].size;
		a->first++;
	}
}
