/* What the queue's tests share: a queue in this process, and a worker
 * attached to it in this process (a thread or the test itself). */
#ifndef BERTH_TEST_DIST_H
#define BERTH_TEST_DIST_H

#include "dist/berth-worker.h"
#include "dist/dist.h"
#include "tests/unit/test.h"

static inline struct dq *mkq(const struct dq_params *p)
{
	struct dq *q = NULL;
	struct berr err = {0};
	if (dq_create(p, &q, &err) < 0)
		test_fail(__FILE__, __LINE__, "dq_create: %s", err.msg);
	return q;
}

/* Worker id of q, sharing the coordinator's mappings. */
static inline struct bw *attach(struct dq *q, uint32_t id)
{
	size_t size, wsize;
	void *base = dq_mapping(q, &size);
	void *wbase = dq_worker_mapping(q, id, &wsize);
	struct bw *w = NULL;
	char err[256] = "";
	if (bw_attach_region(base, size, wbase, wsize, id, &w, err,
			     sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "bw_attach %u: %s", id, err);
	return w;
}

static inline struct dq_stats stats(struct dq *q)
{
	struct dq_stats st;
	dq_stats(q, &st);
	return st;
}

#endif
