/* berth image COMMAND: load, import, save, pull, ls, inspect, rm, prune,
 * tag, unpack.
 *
 * Images live in a store (--store DIR, else $BERTH_STORE, else
 * /var/lib/berth); no daemon is involved. Each subcommand parses its
 * arguments and makes one library call (oci_image_*). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "oci/oci.h"

/* Declared here and in main.c's command table (cli.h lists the others). */
int cli_cmd_image(struct cli *cli, int argc, char **argv);
int cli_image_pull(struct oci_store *s, const char *ref, bool insecure,
		   bool quiet, uint64_t max_size); /* cmd-pull.c */
int cli_image_push(struct oci_store *s, const char *image, const char *dst,
		   bool insecure, bool quiet); /* cmd-push.c */

struct image_opts {
	const char *store;
	bool quiet;
	bool allow_devices;
	bool insecure;
	bool force;
	const char *max_size_arg;
	uint64_t max_size; /* parsed; 0: the library's default */
	char **changes;	   /* import --change */
	const char *message;
	const char *output; /* save -o */
	const char *format; /* save --format */
};

/* what runs a subcommand (cli_sub.impl) */
struct image_impl {
	enum oci_store_mode mode;
	int (*fn)(struct cli *cli, struct oci_store *s,
		  const struct image_opts *o);
};

/* ---- printing
 * ---------------------------------------------------------------- */

/* "3 weeks ago" from an RFC 3339 time, with Docker's steps and rounding
 * (integer division); "N/A" when there is no time. */
static void human_age(const char *created, char *buf, size_t len)
{
	struct tm tm = {0};
	const char *end =
		created ? strptime(created, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end) {
		snprintf(buf, len, "N/A");
		return;
	}
	long long s = (long long)difftime(time(NULL), timegm(&tm));
	long long m = s / 60, h = m / 60;
	if (s < 1)
		snprintf(buf, len, "Less than a second ago");
	else if (s < 60)
		snprintf(buf, len, "%lld second%s ago", s, s == 1 ? "" : "s");
	else if (m == 1)
		snprintf(buf, len, "About a minute ago");
	else if (m < 60)
		snprintf(buf, len, "%lld minutes ago", m);
	else if (h == 1)
		snprintf(buf, len, "About an hour ago");
	else if (h < 48)
		snprintf(buf, len, "%lld hours ago", h);
	else if (h < 24 * 7 * 2)
		snprintf(buf, len, "%lld days ago", h / 24);
	else if (h < 24 * 30 * 2)
		snprintf(buf, len, "%lld weeks ago", h / 24 / 7);
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lld months ago", h / 24 / 30);
	else
		snprintf(buf, len, "%lld years ago", h / 24 / 365);
}

static void short_id(const char *digest, char out[13])
{
	const char *hex = strchr(digest, ':');
	snprintf(out, 13, "%s", hex ? hex + 1 : digest);
}

struct ls_row {
	char *repo, *tag;
	char id[13], size[32], age[64];
};

static void ls_rows(struct oci_image **v, struct ls_row **rows, size_t *n)
{
	*rows = NULL;
	*n = 0;
	for (size_t i = 0; v[i]; i++) {
		size_t k = 0;
		do {
			const char *t = v[i]->repo_tags[k];
			*rows = base_realloc(*rows, *n + 1, sizeof(**rows));
			struct ls_row *r = &(*rows)[(*n)++];
			*r = (struct ls_row){0};
			/* name@sha256:...: a digest reference has no tag */
			const char *at = t ? strchr(t, '@') : NULL;
			const char *slash = t ? strrchr(t, '/') : NULL;
			const char *colon =
				t && !at ? strrchr(slash ? slash : t, ':')
					 : NULL;
			const char *end = at ? at : colon;
			r->repo = end ? strndup(t, (size_t)(end - t))
				      : base_strdup("<none>");
			r->tag = base_strdup(colon ? colon + 1 : "<none>");
			short_id(v[i]->id, r->id);
			cli_human_size(v[i]->size, r->size, sizeof(r->size));
			human_age(v[i]->created, r->age, sizeof(r->age));
		} while (v[i]->repo_tags[k] && v[i]->repo_tags[++k]);
	}
}

/* ---- subcommands
 * ------------------------------------------------------------- */

static int do_load(struct cli *cli, struct oci_store *s,
		   const struct image_opts *o)
{
	struct oci_image_load_opts lo = {.allow_devices = o->allow_devices,
					 .max_size = o->max_size};
	_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
	struct berr err = {0};
	int r = oci_image_load(s, cli->args[0], &lo, &v, &err);
	if (r < 0)
		return cli_fail(r, &err);
	for (size_t i = 0; !o->quiet && v[i]; i++) {
		if (!v[i]->repo_tags[0])
			printf("Loaded image ID: %s\n", v[i]->id);
		for (char **t = v[i]->repo_tags; *t; t++)
			printf("Loaded image: %s\n", *t);
	}
	return 0;
}

/* The layer of `image import`: a directory, a tar file, or stdin. */
static int import_layer(struct oci_store *s, const char *src,
			struct oci_new_layer *l, struct berr *err)
{
	if (!strcmp(src, "-"))
		return oci_layer_from_tar(s, STDIN_FILENO, l, err);
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return berr_set(err, errno, "image import: open %s", src);
	if (S_ISDIR(st.st_mode))
		return oci_layer_from_dir(s, src, NULL, l, err);
	int r = oci_layer_from_tar(s, fd, l, err);
	return r < 0 ? berr_wrap(err, "image import: %s", src) : r;
}

static int do_import(struct cli *cli, struct oci_store *s,
		     const struct image_opts *o)
{
	struct berr err = {0};
	_cleanup_free_ char *cfg = NULL, *ref = NULL;
	/* the name and the changes first: the source may be large */
	int r = oci_image_ref_normalize(cli->args[1], &ref, &err);
	if (r == 0)
		r = oci_image_import_config(o->changes, o->message, &cfg, &err);
	if (r < 0)
		return cli_fail(r, &err);
	struct oci_new_layer l = {0};
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	r = import_layer(s, cli->args[0], &l, &err);
	if (r == 0)
		r = oci_image_create(s, NULL, &l, 1, cfg, cli->args[1], &img,
				     &err);
	if (r == 0 && l.skipped)
		fprintf(stderr,
			"note: %zu device node%s or socket%s left out (%s%s): "
			"a container gets its /dev from berth\n",
			l.skipped, l.skipped == 1 ? "" : "s",
			l.skipped == 1 ? "" : "s", l.skipped_first,
			l.skipped == 1 ? "" : ", ...");
	oci_new_layer_clear(&l);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", img->id);
	return 0;
}

static int do_save(struct cli *cli, struct oci_store *s,
		   const struct image_opts *o)
{
	const char *fmt = o->format ? o->format : "docker";
	if (strcmp(fmt, "docker") && strcmp(fmt, "oci"))
		return cli_error("image save: unknown --format \"%s\" (docker "
				 "or oci)",
				 fmt);
	if (!o->output && isatty(STDOUT_FILENO))
		return cli_error("image save: refusing to write an archive to "
				 "a terminal: use -o FILE or a redirection");
	_cleanup_close_ int fd = -1;
	if (o->output) {
		fd = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0644);
		if (fd < 0)
			return cli_error("image save: create %s: %s", o->output,
					 strerror(errno));
	}
	struct berr err = {0};
	int r = oci_image_save(s, cli->args, !strcmp(fmt, "oci"),
			       o->output ? fd : STDOUT_FILENO, &err);
	if (r < 0 && o->output)
		(void)unlink(o->output);
	return r < 0 ? cli_fail(r, &err) : 0;
}

static int do_pull(struct cli *cli, struct oci_store *s,
		   const struct image_opts *o)
{
	return cli_image_pull(s, cli->args[0], o->insecure, o->quiet,
			      o->max_size);
}

static int do_push(struct cli *cli, struct oci_store *s,
		   const struct image_opts *o)
{
	return cli_image_push(s, cli->args[0],
			      cli->nargs > 1 ? cli->args[1] : NULL, o->insecure,
			      o->quiet);
}

static int do_ls(struct cli *cli, struct oci_store *s,
		 const struct image_opts *o)
{
	_cleanup_(oci_image_list_freep) struct oci_image **v = NULL;
	struct berr err = {0};
	int r = oci_image_list(s, &v, &err);
	if (r < 0)
		return cli_fail(r, &err);
	if (o->quiet) {
		for (size_t i = 0; v[i]; i++) {
			char id[13];
			short_id(v[i]->id, id);
			printf("%s\n", id);
		}
		return 0;
	}
	struct ls_row *rows = NULL;
	size_t n = 0;
	ls_rows(v, &rows, &n);
	int wr = (int)strlen("REPOSITORY"), wt = (int)strlen("TAG"), ws = 4;
	for (size_t i = 0; i < n; i++) {
		wr = (int)strlen(rows[i].repo) > wr ? (int)strlen(rows[i].repo)
						    : wr;
		wt = (int)strlen(rows[i].tag) > wt ? (int)strlen(rows[i].tag)
						   : wt;
		ws = (int)strlen(rows[i].size) > ws ? (int)strlen(rows[i].size)
						    : ws;
	}
	printf("%-*s   %-*s   %-12s   %-*s   %s\n", wr, "REPOSITORY", wt, "TAG",
	       "IMAGE ID", ws, "SIZE", "CREATED");
	for (size_t i = 0; i < n; i++) {
		printf("%-*s   %-*s   %-12s   %-*s   %s\n", wr, rows[i].repo,
		       wt, rows[i].tag, rows[i].id, ws, rows[i].size,
		       rows[i].age);
		free(rows[i].repo);
		free(rows[i].tag);
	}
	free(rows);
	return 0;
}

static int do_inspect(struct cli *cli, struct oci_store *s,
		      const struct image_opts *o)
{
	struct berr err = {0};
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	int r = oci_image_find(s, cli->args[0], &img, &err);
	_cleanup_free_ char *json = NULL;
	if (r == 0)
		r = oci_image_inspect_json(s, img, &json, &err);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", json);
	return 0;
}

static int do_rm(struct cli *cli, struct oci_store *s,
		 const struct image_opts *o)
{
	int status = 0;
	for (size_t i = 0; i < cli->nargs; i++) {
		struct berr err = {0};
		_cleanup_strv_ char **rep = NULL;
		int r = oci_image_remove(s, cli->args[i], o->force, &rep, &err);
		for (char **l = rep; l && *l; l++)
			printf("%s\n", *l);
		if (r < 0)
			status = cli_fail(r, &err);
	}
	return status;
}

static int do_prune(struct cli *cli, struct oci_store *s,
		    const struct image_opts *o)
{
	struct oci_prune_report rep;
	struct berr err = {0};
	int r = oci_image_prune(s, &rep, &err);
	if (r < 0)
		return cli_fail(r, &err);
	char size[32];
	cli_human_size(rep.bytes, size, sizeof(size));
	if (!o->quiet)
		printf("Deleted %zu images, %zu blobs, %zu layers\n"
		       "Total reclaimed space: %s\n",
		       rep.images, rep.blobs, rep.layers, size);
	return 0;
}

static int do_tag(struct cli *cli, struct oci_store *s,
		  const struct image_opts *o)
{
	struct berr err = {0};
	int r = oci_image_tag(s, cli->args[0], cli->args[1], &err);
	return r < 0 ? cli_fail(r, &err) : 0;
}

static int do_unpack(struct cli *cli, struct oci_store *s,
		     const struct image_opts *o)
{
	struct berr err = {0};
	_cleanup_(oci_image_freep) struct oci_image *img = NULL;
	int r = oci_image_find(s, cli->args[0], &img, &err);
	if (r == 0)
		r = oci_image_unpack(s, img, cli->args[1], &err);
	return r < 0 ? cli_fail(r, &err) : 0;
}

#define IMPL(m, f) (&(const struct image_impl){m, f})
static const struct cli_sub image_cmds[] = {
	{"load", "FILE|-", "load a Docker archive or an OCI layout (- = stdin)",
	 1, 1, IMPL(OCI_STORE_WRITE, do_load), 0},
	{"import", "SOURCE NAME[:TAG]",
	 "make an image of one layer from a root filesystem: a tar (plain "
	 "or compressed), a directory, or - (stdin)",
	 2, 2, IMPL(OCI_STORE_WRITE, do_import), 0},
	{"save", "IMAGE...",
	 "write images as a Docker archive (or --format oci: an OCI layout "
	 "tar) to -o FILE or stdout",
	 1, CLI_ANY_ARGS, IMPL(OCI_STORE_READ, do_save), 0},
	{"pull", "REF", "pull an image from a registry", 1, 1,
	 IMPL(OCI_STORE_READ, do_pull), 0},
	{"push", "IMAGE [REF]",
	 "push an image to a registry (REF: IMAGE when absent; --insecure, -q "
	 "as for pull)",
	 1, 2, IMPL(OCI_STORE_READ, do_push), 0},
	{"ls", "", "list the images", 0, 0, IMPL(OCI_STORE_READ, do_ls), 0},
	{"inspect", "IMAGE", "print an image's details as JSON", 1, 1,
	 IMPL(OCI_STORE_READ, do_inspect), 0},
	{"rm", "IMAGE...", "remove references (and untagged images)", 1,
	 CLI_ANY_ARGS, IMPL(OCI_STORE_WRITE, do_rm), 0},
	{"prune", "", "remove untagged images and unused blobs and layers", 0,
	 0, IMPL(OCI_STORE_WRITE, do_prune), 0},
	{"tag", "IMAGE NAME[:TAG]", "give an image another name", 2, 2,
	 IMPL(OCI_STORE_WRITE, do_tag), 0},
	{"unpack", "IMAGE DIR", "write a runtime bundle (config.json, rootfs)",
	 2, 2, IMPL(OCI_STORE_READ, do_unpack), 0},
};

/* Runs sub once the arguments are parsed. */
static int run_image_cmd(struct cli *cli, const struct cli_sub *sub,
			 struct image_opts *o)
{
	const struct image_impl *impl = sub->impl;
	int64_t max = 0;
	if (o->max_size_arg && cli_parse_size(o->max_size_arg, &max) < 0)
		return cli_error("image %s: invalid --max-size \"%s\" (bytes, "
				 "or with k, m, g, t: 64g)",
				 sub->name, o->max_size_arg);
	o->max_size = (uint64_t)max;
	const char *dir = o->store;
	if (!dir || !dir[0])
		dir = getenv("BERTH_STORE");
	if (!dir || !dir[0])
		dir = OCI_STORE_DEFAULT;
	struct berr err = {0};
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(dir, impl->mode, &s, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return impl->fn(cli, s, o);
}

int cli_cmd_image(struct cli *cli, int argc, char **argv)
{
	struct image_opts o = {0};
	const struct cli_opt opts[] = {
		{"store", NULL, CLI_STR, &o.store, "DIR",
		 "image store (default $BERTH_STORE or " OCI_STORE_DEFAULT ")"},
		{"quiet", "q", CLI_BOOL, &o.quiet, NULL,
		 "ls: only the ids; load, prune: print nothing; pull: only "
		 "the name"},
		{"allow-devices", NULL, CLI_BOOL, &o.allow_devices, NULL,
		 "load: accept device nodes in layers (privileged images)"},
		{"insecure", NULL, CLI_BOOL, &o.insecure, NULL,
		 "pull: plain http, to a loopback registry only"},
		{"force", "f", CLI_BOOL, &o.force, NULL,
		 "rm: remove an image by id even when names in several "
		 "repositories share it"},
		{"max-size", NULL, CLI_STR, &o.max_size_arg, "SIZE",
		 "load, pull: refuse an archive or an image that expands to "
		 "more than SIZE (64k, 2g, 1TiB; default 64GiB)"},
		{"change", "c", CLI_STRV, &o.changes, "'INSTR ...'",
		 "import: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME or "
		 "WORKDIR for the image config (repeatable)"},
		{"message", "m", CLI_STR, &o.message, "MSG",
		 "import: the history entry's comment"},
		{"output", "o", CLI_STR, &o.output, "FILE",
		 "save: write to FILE instead of stdout"},
		{"format", NULL, CLI_STR, &o.format, "docker|oci",
		 "save: a Docker archive (default) or an OCI layout tar"},
		CLI_OPT_END,
	};
	const struct cli_sub *sub;
	int r = cli_parse_sub(
		cli, image_cmds, ARRAY_SIZE(image_cmds),
		"IMAGE is a name (busybox:latest), an id or digest "
		"(prefix), or the path of an archive or layout.",
		opts, argc, argv, &sub);
	if (r == CLI_CONTINUE)
		r = run_image_cmd(cli, sub, &o);
	base_strv_free(o.changes);
	return r;
}
