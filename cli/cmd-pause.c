/* berth pause ID / berth resume ID */
#include "cli/cli.h"

static int pause_or_resume(struct cli *cli, int argc, char **argv, bool pause)
{
	const char *id = NULL;
	int r = cli_parse(cli, NULL, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	r = rt_pause(&cli->ctx, id, pause, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}

int cli_cmd_pause(struct cli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, argc, argv, true);
}

int cli_cmd_resume(struct cli *cli, int argc, char **argv)
{
	return pause_or_resume(cli, argc, argv, false);
}
