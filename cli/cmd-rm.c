/* berth rm [-f] NAME...: removes launched containers, as docker rm. */
#include "cli/cli.h"

int cli_cmd_rm(struct cli *cli, int argc, char **argv)
{
	bool force = false;
	const struct cli_opt opts[] = {
		{"force", "f", CLI_BOOL, &force, NULL,
		 "remove running containers too (killed first)"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	const char *id;
	if (r == CLI_CONTINUE)
		r = cli_take_id(cli, 0, &id);
	if (r != CLI_CONTINUE)
		return r;
	int status = 0;
	for (size_t i = 0; i < cli->nargs; i++) {
		struct berr err = {0};
		r = eng_ctr_rm(&cli->ctx, cli->args[i], force, &err);
		if (r < 0)
			status = cli_fail(r, &err);
		else
			printf("%s\n", cli->args[i]);
	}
	return status;
}
