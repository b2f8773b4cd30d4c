/* berth network create|ls|inspect|rm|prune: docker network's commands for
 * berth's bridge networks (eng_network_*). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

struct net_flags {
	const char *subnet, *gateway, *ipv6, *format;
	bool internal, quiet;
};

typedef int net_fn(struct cli *cli, const struct net_flags *f);

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

static const struct cli_sub net_cmds[] = {
	{"create", "[--subnet CIDR] [--internal] NAME",
	 "create a bridge network", 1, 1, net_create, 0},
	{"ls", "[-q]", "list the networks", 0, 0, net_ls, 0},
	{"inspect", "NAME...", "print networks as JSON", 1, CLI_ANY_ARGS,
	 net_inspect, 0},
	{"rm", "NAME...", "remove networks no container uses", 1, CLI_ANY_ARGS,
	 net_rm, 0},
	{"prune", "", "remove every network no container uses", 0, 0, net_prune,
	 0},
};

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
	const struct cli_sub *sub;
	int r = cli_parse_sub(cli, net_cmds, ARRAY_SIZE(net_cmds), NULL, opts,
			      argc, argv, &sub);
	return r != CLI_CONTINUE ? r : ((net_fn *)sub->impl)(cli, &f);
}
