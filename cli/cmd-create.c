/* berth create [options] ID */
#include <string.h>

#include "cli/cli.h"

size_t cli_create_opts(struct cli_opt *tab, struct rt_create_opts *o)
{
	const struct cli_opt opts[] = {
		{"bundle", "b", CLI_STR, &o->bundle, "DIR",
		 "bundle directory with config.json (default .)"},
		{"pid-file", NULL, CLI_STR, &o->pid_file, "FILE",
		 "write the container's init pid to FILE"},
		{"console-socket", NULL, CLI_STR, &o->console_socket, "PATH",
		 "socket that receives the terminal's master fd"},
		{"pidfd-socket", NULL, CLI_STR, &o->pidfd_socket, "PATH",
		 "socket that receives a pidfd of the init"},
		{"no-pivot", NULL, CLI_BOOL, &o->no_pivot, NULL,
		 "do not use pivot_root (for a rootfs on ramfs)"},
		{"no-new-keyring", NULL, CLI_BOOL, &o->no_new_keyring, NULL,
		 "do not create a new session keyring"},
		{"preserve-fds", NULL, CLI_COUNT, &o->preserve_fds, "N",
		 "pass N extra fds (3 .. 3+N-1) to the container"},
	};
	_Static_assert(ARRAY_SIZE(opts) == CLI_CREATE_NOPTS,
		       "CLI_CREATE_NOPTS is the size of the table");
	memcpy(tab, opts, sizeof(opts));
	return ARRAY_SIZE(opts);
}

int cli_cmd_create(struct cli *cli, int argc, char **argv)
{
	struct rt_create_opts o = {.bundle = "."};
	struct cli_opt opts[CLI_CREATE_NOPTS + 1];
	size_t n = cli_create_opts(opts, &o);
	opts[n] = (struct cli_opt)CLI_OPT_END;

	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;

	struct berr err = {0};
	r = rt_create(&cli->ctx, id, &o, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
