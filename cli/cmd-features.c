/* berth features: the runtime-spec features document. */
#include <string.h>

#include "cli/cli.h"

int cli_cmd_features(struct cli *cli, int argc, char **argv)
{
	int r = cli_parse(cli, NULL, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs > 0)
		return cli_error("features: unexpected argument \"%s\"",
				 cli->args[0]);

	_cleanup_free_ char *json = rt_features_json();
	if (!json)
		return cli_error("features: %s", strerror(ENOMEM));
	printf("%s\n", json);
	return 0;
}
