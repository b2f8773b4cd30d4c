/* berth state ID: the state JSON on stdout. */
#include "cli/cli.h"

int cli_cmd_state(struct cli *cli, int argc, char **argv)
{
	const char *id = NULL;
	int r = cli_parse(cli, NULL, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	_cleanup_free_ char *json = NULL;
	r = rt_state(&cli->ctx, id, &json, &err);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", json);
	return 0;
}
