/* berth build [options] CONTEXT: docker build without a daemon; the work
 * is eng_build(). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void progress(const char *line, void *data)
{
	(void)data;
	fprintf(stderr, "%s\n", line);
}

int cli_cmd_build(struct cli *cli, int argc, char **argv)
{
	struct eng_build_opts o = {.progress = progress};
	_cleanup_strv_ char **args = NULL;
	const char *prog = "plain";
	bool quiet = false;
	const struct cli_opt opts[] = {
		{"tag", "t", CLI_STR, &o.tag, "NAME[:TAG]", "name the image"},
		{"file", "f", CLI_STR, &o.file, "FILE",
		 "the Dockerfile (default CONTEXT/Dockerfile)"},
		{"build-arg", NULL, CLI_STRV, &args, "K=V",
		 "a value for an ARG"},
		{"target", NULL, CLI_STR, &o.target, "STAGE",
		 "build up to this stage"},
		{"no-cache", NULL, CLI_BOOL, &o.no_cache, NULL,
		 "do not reuse the results of earlier builds"},
		{"network", NULL, CLI_STR, &o.network, "none|host|NAME",
		 "RUN's network (default host)"},
		{"progress", NULL, CLI_STR, &prog, "plain|tty",
		 "the progress output (both are plain lines)"},
		{"quiet", "q", CLI_BOOL, &quiet, NULL,
		 "print only the image id"},
		{"store", NULL, CLI_STR, &o.store, "DIR",
		 "image store (default $BERTH_STORE or " OCI_STORE_DEFAULT ")"},
		{"cgroup-parent", NULL, CLI_STR, &o.cgroup_parent, "PATH",
		 "the cgroup RUN's containers go below"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs != 1)
		return cli_error(
			"build: expected one CONTEXT directory (usage: "
			"berth build [options] CONTEXT)");
	if (strcmp(prog, "plain") && strcmp(prog, "tty") &&
	    strcmp(prog, "auto"))
		return cli_error("build: --progress %s: plain or tty", prog);
	o.context = cli->args[0];
	o.build_args = args;
	if (quiet)
		o.progress = NULL;
	if (!o.store || !o.store[0])
		o.store = getenv("BERTH_STORE");
	struct berr err = {0};
	_cleanup_free_ char *id = NULL;
	r = eng_build(&cli->ctx, &o, &id, &err);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", id);
	return 0;
}
