/* berth pull [--store DIR] [--insecure] [--max-size SIZE] [-q] REF, the same
 * command as `berth image pull`: fetches an image from a registry into the
 * store.
 *
 * `image` parses the flags and opens the store for both spellings, so
 * that they cannot drift apart; this file draws the progress (on a
 * terminal only: stderr of a script stays clean) and prints the result. */
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "oci/oci.h"

int cli_cmd_pull(struct cli *cli, int argc, char **argv);
int cli_cmd_image(struct cli *cli, int argc, char **argv); /* cmd-image.c */
int cli_image_pull(struct oci_store *s, const char *ref, bool insecure,
		   bool quiet, uint64_t max_size);

struct bar {
	int64_t last_ms; /* when the line was last drawn */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mbytes(uint64_t n, char *buf, size_t len)
{
	if (n < 1000000)
		snprintf(buf, len, "%.1fkB", (double)n / 1e3);
	else
		snprintf(buf, len, "%.1fMB", (double)n / 1e6);
}

/* One line per blob, redrawn in place while it downloads. */
static void draw(const struct oci_pull_event *ev, void *arg)
{
	struct bar *b = arg;
	char done[32], total[32];
	mbytes(ev->done, done, sizeof(done));
	mbytes(ev->total, total, sizeof(total));
	/* "sha256:" and 12 digits, as `docker pull` names layers */
	const char *id = ev->digest;
	if (ev->phase == OCI_PULL_EXISTS) {
		fprintf(stderr, "%.19s %-6s already in the store\n", id,
			ev->role);
		return;
	}
	if (ev->phase == OCI_PULL_LOAD) {
		fprintf(stderr, "%.19s unpacking and verifying the layers\n",
			id);
		return;
	}
	if (ev->phase == OCI_PULL_DONE) {
		fprintf(stderr, "\r%.19s %-6s done %s\033[K\n", id, ev->role,
			total);
		return;
	}
	int64_t t = now_ms();
	if (ev->phase == OCI_PULL_BYTES && t - b->last_ms < 100)
		return;
	b->last_ms = t;
	enum { WIDTH = 30 };
	int fill = ev->total ? (int)(ev->done * WIDTH / ev->total) : 0;
	fprintf(stderr, "\r%.19s %-6s [%.*s%*s] %s / %s\033[K", id, ev->role,
		fill, "==============================", WIDTH - fill, "", done,
		total);
}

int cli_image_pull(struct oci_store *s, const char *ref, bool insecure,
		   bool quiet, uint64_t max_size)
{
	struct bar bar = {0};
	struct oci_pull_opts po = {.insecure = insecure, .max_size = max_size};
	if (!quiet && isatty(STDERR_FILENO)) {
		po.progress = draw;
		po.progress_arg = &bar;
	}
	_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
	struct berr err = {0};
	int r = oci_image_pull(s, ref, &po, &v, &err);
	if (r < 0)
		return cli_fail(r, &err);
	const char *name = v[0]->repo_tags[0] ? v[0]->repo_tags[0] : v[0]->id;
	if (quiet)
		printf("%s\n", name);
	else
		printf("Pulled image: %s\n", name);
	return 0;
}

int cli_cmd_pull(struct cli *cli, int argc, char **argv)
{
	/* `image pull ARGS...`: argv stays writable for the parser */
	_cleanup_free_ char **v = base_calloc((size_t)argc + 2, sizeof(char *));
	v[0] = (char *)"pull";
	memcpy(v + 1, argv, (size_t)argc * sizeof(char *));
	return cli_cmd_image(cli, argc + 1, v);
}
