/* berth kill [--all] ID [SIGNAL] */
#include <signal.h>

#include "cli/cli.h"

int cli_cmd_kill(struct cli *cli, int argc, char **argv)
{
	bool all = false;
	const struct cli_opt opts[] = {
		{"all", "a", CLI_BOOL, &all, NULL,
		 "signal every process of the container"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 2, &id);
	if (r != CLI_CONTINUE)
		return r;

	int sig = SIGTERM;
	if (cli->nargs > 1 && rt_parse_signal(cli->args[1], &sig) < 0)
		return cli_error("invalid signal \"%s\"", cli->args[1]);

	struct berr err = {0};
	r = rt_kill(&cli->ctx, id, sig, all, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
