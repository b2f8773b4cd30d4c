/* berth network create|ls|inspect|rm|prune: docker network's commands for
 * berth's bridge networks (eng_network_*). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct net_flags {
	const char *subnet, *gateway, *ipv6, *format;
	bool internal, quiet;
};

struct net_cmd {
	const char *name, *synopsis, *summary;
	size_t min_args, max_args;
	int (*fn)(struct cli *cli, const struct net_flags *f);
};

static int net_create(struct cli *cli, const struct net_flags *f)
{
	struct eng_network_opts o = {.name = cli->args[0],
				     .subnet = f->subnet,
				     .gateway = f->gateway,
				     .subnet6 = f->ipv6,
				     .internal = f->internal};
	struct eng_network n;
	struct berr err = {0};
	int r = eng_network_create(&cli->ctx, &o, &n, &err);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", n.id);
	return 0;
}

static int net_ls(struct cli *cli, const struct net_flags *f)
{
	struct eng_network *v = NULL;
	size_t n = 0;
	struct berr err = {0};
	int r = eng_network_list(&cli->ctx, &v, &n, &err);
	if (r < 0)
		return cli_fail(r, &err);
	if (!f->quiet)
		printf("%-12s  %-20s  %-15s  %-18s  %-10s  %s\n", "NETWORK ID",
		       "NAME", "BRIDGE", "SUBNET", "CONTAINERS", "INTERNAL");
	for (size_t i = 0; i < n; i++) {
		if (f->quiet) {
			printf("%.12s\n", v[i].id);
			continue;
		}
		printf("%-12.12s  %-20s  %-15s  %-18s  %-10zu  %s\n", v[i].id,
		       v[i].name, v[i].bridge, v[i].subnet, v[i].n_endpoints,
		       v[i].internal ? "true" : "false");
	}
	free(v);
	return 0;
}

static int net_inspect(struct cli *cli, const struct net_flags *f)
{
	(void)f;
	int rc = 0;
	printf("[");
	for (size_t i = 0; i < cli->nargs; i++) {
		_cleanup_free_ char *json = NULL;
		struct berr err = {0};
		int r = eng_network_inspect(&cli->ctx, cli->args[i], &json,
					    &err);
		if (r < 0) {
			rc = cli_fail(r, &err);
			continue;
		}
		printf("%s%s", i ? ",\n" : "\n", json);
	}
	printf("\n]\n");
	return rc;
}

static int net_rm(struct cli *cli, const struct net_flags *f)
{
	(void)f;
	int rc = 0;
	for (size_t i = 0; i < cli->nargs; i++) {
		struct berr err = {0};
		int r = eng_network_rm(&cli->ctx, cli->args[i], &err);
		if (r < 0)
			rc = cli_fail(r, &err);
		else
			printf("%s\n", cli->args[i]);
	}
	return rc;
}

static int net_prune(struct cli *cli, const struct net_flags *f)
{
	(void)f;
	_cleanup_strv_ char **removed = NULL;
	struct berr err = {0};
	int r = eng_network_prune(&cli->ctx, &removed, &err);
	if (removed && removed[0])
		printf("Deleted Networks:\n");
	for (size_t i = 0; removed && removed[i]; i++)
		printf("%s\n", removed[i]);
	return r < 0 ? cli_fail(r, &err) : 0;
}

static const struct net_cmd net_cmds[] = {
	{"create",
	 "[--subnet CIDR] [--gateway IP] [--ipv6 CIDR] [--internal] NAME",
	 "create a bridge network", 1, 1, net_create},
	{"ls", "[-q]", "list the networks", 0, 0, net_ls},
	{"inspect", "NAME...", "print networks as JSON", 1, 64, net_inspect},
	{"rm", "NAME...", "remove networks no container uses", 1, 64, net_rm},
	{"prune", "", "remove every network no container uses", 0, 0,
	 net_prune},
	{NULL, NULL, NULL, 0, 0, NULL},
};

static void list_net_cmds(FILE *out)
{
	fprintf(out, "\nCommands:\n");
	for (const struct net_cmd *c = net_cmds; c->name; c++)
		fprintf(out, "  %-8s %s\n", c->name, c->summary);
}

static const struct net_cmd *find_net_cmd(const char *name)
{
	if (!strcmp(name, "list"))
		name = "ls";
	if (!strcmp(name, "remove"))
		name = "rm";
	for (const struct net_cmd *c = net_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int check_args(const struct cli *cli, const struct net_cmd *sub)
{
	if (cli->nargs < sub->min_args)
		return cli_error("network %s: expected %s (see 'berth network "
				 "%s --help')",
				 sub->name, sub->synopsis, sub->name);
	if (cli->nargs > sub->max_args)
		return cli_error("network %s: unexpected argument \"%s\"",
				 sub->name, cli->args[sub->max_args]);
	return CLI_CONTINUE;
}

int cli_cmd_network(struct cli *cli, int argc, char **argv)
{
	struct net_flags f = {0};
	const struct cli_opt opts[] = {
		{"subnet", NULL, CLI_STR, &f.subnet, "CIDR",
		 "create: the IPv4 subnet (default: a free /24 of "
		 "10.89.0.0/16)"},
		{"gateway", NULL, CLI_STR, &f.gateway, "IP",
		 "create: the gateway (default: the subnet's first address)"},
		{"ipv6", NULL, CLI_STR, &f.ipv6, "CIDR",
		 "create: an IPv6 subnet as well"},
		{"internal", NULL, CLI_BOOL, &f.internal, NULL,
		 "create: no way out of the network"},
		{"quiet", "q", CLI_BOOL, &f.quiet, NULL, "ls: ids only"},
		CLI_OPT_END,
	};
	const struct net_cmd *sub =
		argc > 0 && argv[0][0] != '-' ? find_net_cmd(argv[0]) : NULL;
	char name[32];
	struct cli_command cmd;
	if (sub) {
		cli_enter_subcommand(cli, &cmd, name, sizeof(name), sub->name,
				     sub->synopsis, sub->summary);
		argc--;
		argv++;
	}
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE) {
		if (cli->help && !sub)
			list_net_cmds(stdout);
		return r;
	}
	if (!sub) {
		if (cli->nargs)
			return cli_error("network: unknown command \"%s\" "
					 "(create, ls, inspect, rm, prune)",
					 cli->args[0]);
		cli_usage(cli, opts, stderr);
		list_net_cmds(stderr);
		return 1;
	}
	r = check_args(cli, sub);
	return r != CLI_CONTINUE ? r : sub->fn(cli, &f);
}
