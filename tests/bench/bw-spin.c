/* bw-spin: a libberthworker program whose task I (its payload, decimal)
 * costs work proportional to I mod 1000: (I mod 1000) * $SPIN_UNIT
 * rounds of a loop the compiler cannot remove (default 100), a fixed
 * amount of work rather than of time, so that a worker whose CPU is
 * shared takes longer. The result is empty. tests/bench/balance.sh runs
 * it to see how `berth par`'s chunks divide uneven work.
 *
 * `bw-spin --local FIRST END` runs tasks FIRST..END-1 itself, with no
 * queue and no container: the static split that balance.sh compares
 * berth with. Static, to run in any rootfs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/berth-worker.h"

static uint64_t unit(void)
{
	const char *s = getenv("SPIN_UNIT");
	uint64_t u = s ? strtoull(s, NULL, 10) : 0;
	return u ? u : 100;
}

static void spin(uint64_t task, uint64_t u)
{
	volatile uint64_t x = 0;
	for (uint64_t k = (task % 1000) * u; k > 0; k--)
		x += k;
}

static uint64_t task_of(const struct bw_task *t)
{
	char buf[32];
	size_t n = t->len < sizeof(buf) - 1 ? t->len : sizeof(buf) - 1;
	memcpy(buf, t->data, n);
	buf[n] = 0;
	return strtoull(buf, NULL, 10);
}

int main(int argc, char **argv)
{
	uint64_t u = unit();
	if (argc == 4 && !strcmp(argv[1], "--local")) {
		uint64_t a = strtoull(argv[2], NULL, 10);
		uint64_t b = strtoull(argv[3], NULL, 10);
		for (uint64_t i = a; i < b; i++)
			spin(i, u);
		return 0;
	}
	char err[256];
	struct bw *w;
	if (bw_open(&w, err, sizeof(err)) < 0) {
		fprintf(stderr, "bw-spin: %s\n", err);
		return 1;
	}
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		spin(task_of(t), u);
		if (bw_done(w, t, 0, NULL, 0) < 0)
			break;
	}
	bw_close(w);
	return 0;
}
