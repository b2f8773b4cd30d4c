/* berth checkpoint / berth restore: runc's CRIU commands. berth has no
 * CRIU support, so both refuse, whatever the flags, with the reason. */
#include <string.h>

#include "cli/cli.h"

static int refuse(struct cli *cli, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cli_usage(cli, NULL, stdout);
			printf("\nberth has no CRIU support: this command "
			       "always fails.\n");
			return 0;
		}
	}
	return cli_error("%s: checkpoint and restore need CRIU, which berth "
			 "does not support; stop the container and run it "
			 "again instead",
			 cli->cmd->name);
}

int cli_cmd_checkpoint(struct cli *cli, int argc, char **argv)
{
	return refuse(cli, argc, argv);
}

int cli_cmd_restore(struct cli *cli, int argc, char **argv)
{
	return refuse(cli, argc, argv);
}
