/* Commands with subcommands (job, network, image): one way to find the
 * subcommand, parse its options, check its arguments and list them all. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct cli_sub *find_sub(const struct cli_sub *subs, size_t n,
				      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(subs[i].name, name))
			return &subs[i];
	return NULL;
}

static void list_subs(const struct cli_sub *subs, size_t n, const char *note,
		      FILE *out)
{
	fprintf(out, "\nCommands:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-8s %-22s %s\n", subs[i].name,
			subs[i].synopsis, subs[i].summary);
	if (note)
		fprintf(out, "\n%s\n", note);
}

int cli_parse_sub(struct cli *cli, const struct cli_sub *subs, size_t n,
		  const char *note, const struct cli_opt *opts, int argc,
		  char **argv, const struct cli_sub **sub)
{
	const char *cmd = cli->cmd->name;
	*sub = argc > 0 && argv[0][0] != '-' ? find_sub(subs, n, argv[0])
					     : NULL;
	/* the entered command outlives this call: messages name it */
	static char name[32];
	static struct cli_command entered;
	if (*sub) {
		cli_enter_subcommand(cli, &entered, name, sizeof(name),
				     (*sub)->name, (*sub)->synopsis,
				     (*sub)->summary);
		argc--;
		argv++;
	}
	int r = cli_parse(cli, opts, *sub ? (*sub)->flags : 0, argc, argv);
	if (r != CLI_CONTINUE) {
		if (cli->help && !*sub)
			list_subs(subs, n, note, stdout);
		return r;
	}
	if (!*sub && cli->nargs == 0) {
		cli_usage(cli, opts, stderr);
		list_subs(subs, n, note, stderr);
		return 1;
	}
	if (!*sub) {
		if (!(*sub = find_sub(subs, n, cli->args[0])))
			return cli_error("%s: unknown command \"%s\" (see "
					 "'berth %s --help')",
					 cmd, cli->args[0], cmd);
		cli->args++;
		cli->nargs--;
	}
	const struct cli_sub *s = *sub;
	if (cli->nargs < s->min_args || cli->nargs > s->max_args)
		return cli_error("%s %s: wrong number of arguments (usage: "
				 "berth %s %s [options] %s)",
				 cmd, s->name, cmd, s->name, s->synopsis);
	return CLI_CONTINUE;
}
