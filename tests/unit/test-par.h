/* What par's tests share: the tasks an input makes, as text. */
#ifndef BERTH_TEST_PAR_H
#define BERTH_TEST_PAR_H

#include <stdio.h>

#include "dist/dist-par-internal.h"
#include "tests/unit/test.h"

/* The tasks of o's input, "seq:arg " each (dp_par_tasks). */
struct listing {
	char text[4096];
	size_t len;
};

static inline void list_task(uint64_t seq, const char *arg, void *data)
{
	struct listing *l = data;
	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len,
				   "%llu:%s ", (unsigned long long)seq, arg);
}

static inline int listing(struct dp_par_opts *o, struct listing *l,
			  struct berr *err)
{
	l->len = 0;
	l->text[0] = '\0';
	*err = (struct berr){0};
	return dp_par_tasks(o, list_task, l, err);
}

#endif
