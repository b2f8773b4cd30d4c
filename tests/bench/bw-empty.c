/* bw-empty: a libberthworker program that answers every task at once with
 * an empty result, so that `berth par --mode lib` measures its own cost
 * per task (tests/bench/par.sh). Static, to run in any rootfs. */
#include <stdio.h>

#include "dist/berth-worker.h"

int main(void)
{
	char err[256];
	struct bw *w;
	if (bw_open(&w, err, sizeof(err)) < 0) {
		fprintf(stderr, "bw-empty: %s\n", err);
		return 1;
	}
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL)
		if (bw_done(w, t, 0, NULL, 0) < 0)
			break;
	bw_close(w);
	return 0;
}
