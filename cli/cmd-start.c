/* berth start ID */
#include "cli/cli.h"

int cli_cmd_start(struct cli *cli, int argc, char **argv)
{
	const char *id = NULL;
	int r = cli_parse(cli, NULL, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	r = rt_start(&cli->ctx, id, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
