/* cgbench: the cost of a container's cgroup through berth's driver.
 *
 *   cgbench PARENT [N] [BATCH]
 *
 * Creates N groups /PARENT/g<i> (cg_create: every hierarchy), configures
 * each (cg_apply: a 64 MiB memory limit and a pids limit) and then removes
 * them all (cg_destroy), timing each step of each group. It prints the
 * mean microseconds per group of each step, overall and for the first and
 * the last BATCH groups: the last batch is made while the N - BATCH
 * earlier groups still exist, so the two show whether the cost grows with
 * the number of siblings. Reports only; nothing is asserted. Built and
 * run by tests/bench/cgroups.sh. */
#include <string.h>
#include <time.h>

#include "cgroups/cgroups.h"

enum step { CREATE, CONFIGURE, REMOVE, NSTEPS };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double mean_us(const uint64_t *ns, size_t from, size_t to)
{
	uint64_t sum = 0;
	for (size_t i = from; i < to; i++)
		sum += ns[i];
	return to > from ? (double)sum / (double)(to - from) / 1000.0 : 0;
}

static int fail(const char *what, size_t i, const struct berr *e)
{
	fprintf(stderr, "cgbench: %s of group %zu: %s\n", what, i, e->msg);
	return 1;
}

static int run(const char *parent, size_t n, struct cg_group **g,
	       uint64_t *t[NSTEPS])
{
	const struct cg_resources res = {
		.has_memory_limit = true,
		.memory_limit = 64 << 20,
		.has_pids_limit = true,
		.pids_limit = 100,
	};
	struct berr e = {0};
	for (size_t i = 0; i < n; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/%s/g%zu", parent, i);
		uint64_t a = now_ns();
		if (cg_create(path, NULL, &g[i], &e) < 0)
			return fail("create", i, &e);
		uint64_t b = now_ns();
		if (cg_apply(g[i], &res, &e) < 0)
			return fail("configure", i, &e);
		t[CREATE][i] = b - a;
		t[CONFIGURE][i] = now_ns() - b;
	}
	/* the earliest first, so that the first batch is removed among the
	 * most siblings */
	for (size_t i = 0; i < n; i++) {
		uint64_t a = now_ns();
		if (cg_destroy(g[i], &e) < 0)
			return fail("remove", i, &e);
		t[REMOVE][i] = now_ns() - a;
		cg_group_free(g[i]);
		g[i] = NULL;
	}
	return 0;
}

static void report(const char *mode, size_t n, size_t batch,
		   uint64_t *t[NSTEPS])
{
	static const char *const names[NSTEPS] = {"create", "configure",
						  "remove"};
	printf("berth driver (%s), %zu groups: mean us per group\n", mode, n);
	printf("  %-10s %10s %14s %14s\n", "step", "all", "first batch",
	       "last batch");
	double all = 0, first = 0, last = 0;
	for (int s = 0; s < NSTEPS; s++) {
		double a = mean_us(t[s], 0, n), f = mean_us(t[s], 0, batch),
		       l = mean_us(t[s], n - batch, n);
		printf("  %-10s %10.1f %14.1f %14.1f\n", names[s], a, f, l);
		all += a;
		first += f;
		last += l;
	}
	printf("  %-10s %10.1f %14.1f %14.1f\n", "total", all, first, last);
	printf("  batches: groups 1-%zu and %zu-%zu; last/first = %.2f\n",
	       batch, n - batch + 1, n, first > 0 ? last / first : 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: cgbench PARENT [N] [BATCH]\n");
		return 2;
	}
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
	size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 100;
	if (n == 0 || batch == 0 || batch > n) {
		fprintf(stderr, "cgbench: need 0 < BATCH <= N\n");
		return 2;
	}
	enum cg_mode mode;
	struct berr e = {0};
	if (cg_detect(&mode, &e) < 0) {
		fprintf(stderr, "cgbench: %s\n", e.msg);
		return 1;
	}
	/* the parent exists before the first timed group, as a container
	 * manager's parent would */
	struct cg_group *top = NULL;
	char top_path[256];
	snprintf(top_path, sizeof(top_path), "/%s", argv[1]);
	if (cg_create(top_path, NULL, &top, &e) < 0) {
		fprintf(stderr, "cgbench: %s\n", e.msg);
		return 1;
	}
	struct cg_group **g = base_calloc(n, sizeof(*g));
	uint64_t *t[NSTEPS];
	for (int s = 0; s < NSTEPS; s++)
		t[s] = base_calloc(n, sizeof(uint64_t));
	int r = run(argv[1], n, g, t);
	if (r == 0)
		report(cg_mode_name(mode), n, batch, t);
	for (size_t i = 0; i < n; i++)
		if (g[i]) {
			cg_destroy(g[i], NULL);
			cg_group_free(g[i]);
		}
	cg_destroy(top, NULL);
	cg_group_free(top);
	for (int s = 0; s < NSTEPS; s++)
		free(t[s]);
	free(g);
	return r;
}
