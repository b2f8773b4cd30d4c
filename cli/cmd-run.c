/* berth run [options] ID: create, start and (unless detached) wait. The
 * exit status is the container's. */
#include "cli/cli.h"

int cli_cmd_run(struct cli *cli, int argc, char **argv)
{
	struct rt_create_opts o = {.bundle = "."};
	bool no_subreaper = false;
	struct cli_opt opts[CLI_CREATE_NOPTS + 4];
	size_t n = cli_create_opts(opts, &o);
	opts[n++] = (struct cli_opt){
		.name = "detach",
		.alias = "d",
		.kind = CLI_BOOL,
		.dest = &o.detach,
		.help = "return once the container has started",
	};
	opts[n++] = (struct cli_opt){
		.name = "keep",
		.kind = CLI_BOOL,
		.dest = &o.keep,
		.help = "leave the stopped container for delete",
	};
	opts[n++] = (struct cli_opt){
		.name = "no-subreaper",
		.kind = CLI_BOOL,
		.dest = &no_subreaper,
		.help = "accepted for compatibility; unused",
	};
	opts[n] = (struct cli_opt)CLI_OPT_END;

	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	int status = 0;
	r = rt_run(&cli->ctx, id, &o, &status, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return o.detach ? 0 : status;
}
