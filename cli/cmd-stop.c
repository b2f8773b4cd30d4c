/* berth stop [-t S] NAME... and berth restart [-t S] NAME...: docker's,
 * for launched containers. */
#include <string.h>

#include "cli/cli.h"

static int stop_or_restart(struct cli *cli, int argc, char **argv, bool restart)
{
	const char *timeout = NULL;
	const struct cli_opt opts[] = {
		{"time", "t", CLI_STR, &timeout, "S",
		 "seconds to wait for the stop signal before SIGKILL "
		 "(default 10)"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	const char *id;
	if (r == CLI_CONTINUE)
		r = cli_take_id(cli, 0, &id);
	if (r != CLI_CONTINUE)
		return r;
	int secs = 10;
	if (timeout && (base_parse_int(timeout, &secs) < 0 || secs < 0))
		return cli_error("%s: --time `%s`: expected seconds",
				 cli->cmd->name, timeout);
	int status = 0;
	for (size_t i = 0; i < cli->nargs; i++) {
		struct berr err = {0};
		id = cli->args[i];
		r = restart ? eng_ctr_restart(&cli->ctx, id, secs, &err)
			    : eng_ctr_stop(&cli->ctx, id, secs, &err);
		if (r < 0)
			status = cli_fail(r, &err);
		else
			printf("%s\n", id);
	}
	return status;
}

int cli_cmd_stop(struct cli *cli, int argc, char **argv)
{
	return stop_or_restart(cli, argc, argv, false);
}

int cli_cmd_restart(struct cli *cli, int argc, char **argv)
{
	return stop_or_restart(cli, argc, argv, true);
}
