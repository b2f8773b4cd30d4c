/* worker-primes: a berth worker that counts primes.
 *
 * A task's payload is "LO HI" (decimal): the result is the number of
 * primes p with LO <= p < HI. A payload of one number N is block N, the
 * range [N*B, N*B+B) with B from $PRIMES_BLOCK (default 10), so that
 * `berth par --range 0:999999` counts the primes below 10,000,000 in a
 * million tasks. The result is the count in decimal with status 0, or an
 * error text with status 1. Run it as the program of `berth par --mode
 * lib`, which sets BERTH_QUEUE_FD, BERTH_WORKER_FD and BERTH_WORKER_ID.
 *
 * `worker-primes --local FIRST END` does blocks FIRST..END-1 itself, with
 * no queue and no container, and prints their sum: the same work on the
 * host, for comparison.
 *
 * Build against the worker library alone:
 *     cc -O2 -I. examples/worker-primes.c build/libberthworker.a */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/berth-worker.h"

static int is_prime(uint64_t n)
{
	if (n < 2)
		return 0;
	if (n % 2 == 0)
		return n == 2;
	for (uint64_t d = 3; d <= n / d; d += 2)
		if (n % d == 0)
			return 0;
	return 1;
}

static uint64_t count_primes(uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	for (uint64_t v = lo; v < hi; v++)
		n += (uint64_t)is_prime(v);
	return n;
}

static uint64_t block_size(void)
{
	const char *s = getenv("PRIMES_BLOCK");
	uint64_t b = s ? strtoull(s, NULL, 10) : 0;
	return b ? b : 10;
}

/* "LO HI" or "N" from a payload that is not NUL-terminated. */
static int parse_range(const struct bw_task *t, uint64_t block, uint64_t *lo,
		       uint64_t *hi)
{
	char buf[64];
	if (t->len == 0 || t->len >= sizeof(buf))
		return -1;
	memcpy(buf, t->data, t->len);
	buf[t->len] = 0;
	char *end;
	*lo = strtoull(buf, &end, 10);
	if (end == buf)
		return -1;
	if (*end == '\0' || *end == '\n') {
		*hi = (*lo + 1) * block;
		*lo *= block;
		return 0;
	}
	if (*end != ' ')
		return -1;
	char *p = end + 1;
	*hi = strtoull(p, &end, 10);
	if (end == p || (*end && *end != '\n') || *hi < *lo)
		return -1;
	return 0;
}

static int run_local(const char *first, const char *end)
{
	uint64_t a = strtoull(first, NULL, 10), b = strtoull(end, NULL, 10);
	uint64_t block = block_size();
	printf("%" PRIu64 "\n", count_primes(a * block, b * block));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--local"))
		return run_local(argv[2], argv[3]);
	char err[256];
	struct bw *w;
	if (bw_open(&w, err, sizeof(err)) < 0) {
		fprintf(stderr, "worker-primes: %s\n", err);
		return 1;
	}
	uint64_t block = block_size();
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		char out[64];
		uint64_t lo, hi;
		int status = 0;
		if (parse_range(t, block, &lo, &hi) < 0) {
			status = 1;
			snprintf(out, sizeof(out), "not a range \"LO HI\"\n");
		} else {
			snprintf(out, sizeof(out), "%" PRIu64 "\n",
				 count_primes(lo, hi));
		}
		int r = bw_done(w, t, status, out, strlen(out));
		if (r < 0) {
			fprintf(stderr, "worker-primes: task %" PRIu64 ": %s\n",
				t->id, strerror(-r));
			break;
		}
	}
	bw_close(w);
	return 0;
}
