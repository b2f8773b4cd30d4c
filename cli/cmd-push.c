/* berth push [--store DIR] [--insecure] [-q] IMAGE [REF], the same command
 * as `berth image push`: sends an image of the store to a registry.
 *
 * `image` parses the flags and opens the store for both spellings; this
 * file prints what docker push prints: a line per blob on stdout ("Pushed",
 * "Mounted from REPO", "Layer already exists"), a bar while a large blob goes
 * up (on a terminal only), and the manifest's digest at the end. */
#include <string.h>

#include "cli/cli.h"
#include "oci/oci.h"

int cli_cmd_push(struct cli *cli, int argc, char **argv);
int cli_cmd_image(struct cli *cli, int argc, char **argv); /* cmd-image.c */
int cli_image_push(struct oci_store *s, const char *image, const char *dst,
		   bool insecure, bool quiet);

struct push_out {
	bool tty; /* stderr is a terminal: bars there */
};

static void on_event(const struct oci_push_event *ev, void *arg)
{
	const struct push_out *po = arg;
	/* 12 hex digits, as docker names blobs */
	const char *hex = strchr(ev->digest, ':');
	hex = hex ? hex + 1 : ev->digest;
	if (ev->phase == OCI_PUSH_EXISTS || ev->phase == OCI_PUSH_DONE ||
	    ev->phase == OCI_PUSH_MOUNTED) {
		if (po->tty)
			fprintf(stderr, "\r\033[K");
		printf("%.12s: %s%s\n", hex,
		       ev->phase == OCI_PUSH_DONE      ? "Pushed"
		       : ev->phase == OCI_PUSH_MOUNTED ? "Mounted from "
						       : "Layer already exists",
		       ev->phase == OCI_PUSH_MOUNTED ? ev->from : "");
		fflush(stdout);
		return;
	}
	if (!po->tty)
		return;
	enum { WIDTH = 30 };
	int fill = ev->total ? (int)(ev->done * WIDTH / ev->total) : 0;
	fprintf(stderr, "\r%.12s: Pushing [%.*s%*s] %.1fMB / %.1fMB\033[K", hex,
		fill, "==============================", WIDTH - fill, "",
		(double)ev->done / 1e6, (double)ev->total / 1e6);
}

/* "127.0.0.1:5000/mini" of "127.0.0.1:5000/mini:1" */
static void print_repository(const char *dst)
{
	_cleanup_free_ char *repo = base_strdup(dst);
	char *slash = strrchr(repo, '/');
	char *colon = strrchr(slash ? slash : repo, ':');
	if (colon)
		*colon = '\0';
	printf("The push refers to repository [%s]\n", repo);
}

int cli_image_push(struct oci_store *s, const char *image, const char *dst,
		   bool insecure, bool quiet)
{
	struct push_out out = {.tty = isatty(STDERR_FILENO)};
	struct oci_push_opts po = {.insecure = insecure};
	if (!quiet) {
		po.progress = on_event;
		po.progress_arg = &out;
		print_repository(dst ? dst : image);
		fflush(stdout);
	}
	struct oci_push_result res = {0};
	struct berr err = {0};
	int r = oci_image_push(s, image, dst, &po, &res, &err);
	if (r < 0)
		return cli_fail(r, &err);
	if (quiet)
		printf("%s\n", res.name);
	else
		printf("%s: digest: %s size: %llu\n", res.tag, res.digest,
		       (unsigned long long)res.size);
	oci_push_result_clear(&res);
	return 0;
}

int cli_cmd_push(struct cli *cli, int argc, char **argv)
{
	/* `image push ARGS...`: argv stays writable for the parser */
	_cleanup_free_ char **v = base_calloc((size_t)argc + 2, sizeof(char *));
	v[0] = (char *)"push";
	memcpy(v + 1, argv, (size_t)argc * sizeof(char *));
	return cli_cmd_image(cli, argc + 1, v);
}
