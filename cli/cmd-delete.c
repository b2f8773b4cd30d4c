/* berth delete [--force] ID */
#include "cli/cli.h"

int cli_cmd_delete(struct cli *cli, int argc, char **argv)
{
	bool force = false;
	const struct cli_opt opts[] = {
		{"force", "f", CLI_BOOL, &force, NULL,
		 "kill the container first if it is running"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	r = rt_delete(&cli->ctx, id, force, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
