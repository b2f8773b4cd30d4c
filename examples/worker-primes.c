/* worker-primes: a berth worker that counts the primes in a range.
 *
 * Each task's payload is "LO HI" (decimal); the result is the number of
 * primes p with LO <= p < HI, in decimal, with status 0, or an error text
 * with status 1 when the payload is not a range. Run it as the program of
 * `berth par`, which sets BERTH_QUEUE_FD and BERTH_WORKER_ID.
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

/* Parses "LO HI" from a payload that is not NUL-terminated. */
static int parse_range(const struct bw_task *t, uint64_t *lo, uint64_t *hi)
{
	char buf[64];
	if (t->len == 0 || t->len >= sizeof(buf))
		return -1;
	memcpy(buf, t->data, t->len);
	buf[t->len] = 0;
	char *end;
	*lo = strtoull(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -1;
	char *p = end + 1;
	*hi = strtoull(p, &end, 10);
	if (end == p || (*end && *end != '\n') || *hi < *lo)
		return -1;
	return 0;
}

int main(void)
{
	char err[256];
	struct bw *w;
	if (bw_open(&w, err, sizeof(err)) < 0) {
		fprintf(stderr, "worker-primes: %s\n", err);
		return 1;
	}
	const struct bw_task *t;
	while ((t = bw_next(w)) != NULL) {
		char out[64];
		uint64_t lo, hi, n = 0;
		int status = 0;
		if (parse_range(t, &lo, &hi) < 0) {
			status = 1;
			snprintf(out, sizeof(out), "not a range \"LO HI\"");
		} else {
			for (uint64_t v = lo; v < hi; v++)
				n += (uint64_t)is_prime(v);
			snprintf(out, sizeof(out), "%" PRIu64, n);
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
