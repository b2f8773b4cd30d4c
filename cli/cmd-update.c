/* berth update [options] ID
 *
 * The limits come from --resources FILE ("-": stdin, as Docker sends
 * them) or from the flags, which are runc's (--cpu-share, with
 * --cpu-shares accepted too). */
#include "cli/cli.h"

int cli_cmd_update(struct cli *cli, int argc, char **argv)
{
	struct rt_update_opts o = {0};
	const char *l3 = NULL, *mba = NULL;
	const struct cli_opt opts[] = {
		{"resources", "r", CLI_STR, &o.resources_file, "FILE",
		 "linux.resources JSON to apply (\"-\" reads stdin); the "
		 "other flags are then ignored"},
		{"memory", NULL, CLI_STR, &o.memory, "BYTES",
		 "memory limit (k, m, g suffixes; -1 unlimited)"},
		{"memory-reservation", NULL, CLI_STR, &o.memory_reservation,
		 "BYTES", "memory soft limit"},
		{"memory-swap", NULL, CLI_STR, &o.memory_swap, "BYTES",
		 "memory plus swap limit (-1 unlimited)"},
		{"kernel-memory", NULL, CLI_STR, &o.kernel_memory, "BYTES",
		 "kernel memory limit (ignored)"},
		{"kernel-memory-tcp", NULL, CLI_STR, &o.kernel_memory_tcp,
		 "BYTES", "kernel TCP memory limit (ignored)"},
		{"cpu-share", "cpu-shares", CLI_STR, &o.cpu_shares, "N",
		 "CPU shares (relative weight)"},
		{"cpu-quota", NULL, CLI_STR, &o.cpu_quota, "USEC",
		 "CPU time per period (-1 no limit)"},
		{"cpu-period", NULL, CLI_STR, &o.cpu_period, "USEC",
		 "CPU CFS period"},
		{"cpu-rt-period", NULL, CLI_STR, &o.cpu_rt_period, "USEC",
		 "real-time scheduling period"},
		{"cpu-rt-runtime", NULL, CLI_STR, &o.cpu_rt_runtime, "USEC",
		 "real-time scheduling runtime"},
		{"cpuset-cpus", NULL, CLI_STR, &o.cpuset_cpus, "LIST",
		 "CPUs to run on, e.g. 0-3,5"},
		{"cpuset-mems", NULL, CLI_STR, &o.cpuset_mems, "LIST",
		 "memory nodes to use"},
		{"pids-limit", NULL, CLI_STR, &o.pids_limit, "N",
		 "maximum number of tasks (-1 unlimited)"},
		{"blkio-weight", NULL, CLI_STR, &o.blkio_weight, "N",
		 "block I/O weight, 10 to 1000"},
		{"l3-cache-schema", NULL, CLI_STR, &l3, "SCHEMA",
		 "Intel RDT (not supported)"},
		{"mem-bw-schema", NULL, CLI_STR, &mba, "SCHEMA",
		 "Intel RDT (not supported)"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;
	if (l3 || mba)
		return cli_error("update --%s: Intel RDT is not supported",
				 l3 ? "l3-cache-schema" : "mem-bw-schema");

	struct berr err = {0};
	r = rt_update(&cli->ctx, id, &o, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
