/* berth par [options] [--] COMMAND [ARG...] [::: ARG... | :::: FILE]
 * berth par merge [--joblog F] [--results F] [--shards N] [--tasks T]
 *                  [--claims FILE]
 *
 * GNU parallel over a pool of pinned worker containers: the options are
 * parsed here, the pool and the tasks are dist/'s (dp_par_run); merge puts
 * the files of a run's --shard pools together (dp_par_merge). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "cli/cli.h"
#include "dist/dist.h"

extern char **environ;

struct par_flags {
	const char *image, *jobs, *memory, *pids, *network, *mode, *timeout,
		*halt, *shard, *claim_size;
	char **env, **volumes;
	int retries;
	struct dp_par_opts o;
	struct eng_par_net net; /* --network NAME */
};

static volatile int stop_requests;
static volatile sig_atomic_t last_signal;

static void on_stop(int sig)
{
	stop_requests++;
	last_signal = sig;
}

/* The progress bar shares stderr with everything else: a message first
 * clears the bar's line. */
static void report(enum dp_report kind, const char *text, void *data)
{
	bool *bar = data;
	switch (kind) {
	case DP_REPORT_PROGRESS:
		fprintf(stderr, "\r%s\033[K", text);
		*bar = true;
		break;
	case DP_REPORT_DONE:
		if (*bar)
			fputs("\r\033[K", stderr);
		*bar = false;
		break;
	default:
		if (*bar)
			fputs("\r\033[K", stderr);
		*bar = false;
		fprintf(stderr, "%s\n", text);
	}
	fflush(stderr);
}

static int parse_halt(const char *s, struct dp_par_opts *o)
{
	if (!strcmp(s, "never")) {
		o->halt = DP_HALT_NEVER;
		return 0;
	}
	const char *rest;
	if (!strncmp(s, "now,fail=", 9)) {
		o->halt = DP_HALT_NOW;
		rest = s + 9;
	} else if (!strncmp(s, "soon,fail=", 10)) {
		o->halt = DP_HALT_SOON;
		rest = s + 10;
	} else {
		return -EINVAL;
	}
	return base_parse_int(rest, &o->halt_fail) < 0 || o->halt_fail < 1
		       ? -EINVAL
		       : 0;
}

/* COMMAND [ARG...] [::: ARG... | :::: FILE]: splits the positional
 * arguments in place. */
static int split_args(struct cli *cli, struct dp_par_opts *o)
{
	char **a = cli->args;
	size_t n = cli->nargs, i = 0;
	while (i < n && strcmp(a[i], ":::") && strcmp(a[i], "::::"))
		i++;
	if (i == 0)
		return cli_error("par: a command is required (see 'berth par "
				 "--help')");
	o->command = a;
	if (i == n)
		return CLI_CONTINUE;
	bool file = !strcmp(a[i], "::::");
	a[i] = NULL;
	size_t j = i + 1;
	while (j < n && strcmp(a[j], ":::") && strcmp(a[j], "::::"))
		j++;
	if (j < n)
		return cli_error("par: one input source only: more than one "
				 "::: or :::: is not supported yet");
	if (file) {
		if (j - i != 2)
			return cli_error("par: :::: takes one FILE");
		if (o->arg_file)
			return cli_error("par: give -a FILE or :::: FILE, "
					 "not both");
		o->arg_file = a[i + 1];
		return CLI_CONTINUE;
	}
	o->args = a + i + 1;
	return CLI_CONTINUE;
}

static int apply_flags(struct par_flags *f)
{
	struct dp_par_opts *o = &f->o;
	o->image = f->image;
	if (!o->store || !o->store[0])
		o->store = getenv("BERTH_STORE");
	if (f->jobs && strcmp(f->jobs, "auto")) {
		if (base_parse_int(f->jobs, &o->jobs) < 0 || o->jobs < 1)
			return cli_error("par: -j %s: the number of workers "
					 "must be at least 1 (or auto)",
					 f->jobs);
	}
	if (f->memory && cli_parse_size(f->memory, &o->memory) < 0)
		return cli_error("par: invalid value \"%s\" for --memory "
				 "(like 512m or 2g)",
				 f->memory);
	if (f->pids &&
	    (base_parse_i64(f->pids, &o->pids_limit) < 0 || o->pids_limit < 1))
		return cli_error("par: invalid value \"%s\" for --pids-limit",
				 f->pids);
	o->network_host = f->network && !strcmp(f->network, "host");
	if (f->network && strcmp(f->network, "none") && !o->network_host) {
		/* every worker on a network, through the engine's endpoints */
		f->net.o.mode = f->network;
		o->net_attach = eng_par_net_attach;
		o->net_detach = eng_par_net_detach;
		o->net_data = &f->net;
	}
	static const char *const modes[] = {"exec", "line", "lib"};
	for (size_t i = 0; f->mode && i <= ARRAY_SIZE(modes); i++) {
		if (i == ARRAY_SIZE(modes))
			return cli_error("par: --mode %s: expected exec, line "
					 "or lib",
					 f->mode);
		if (!strcmp(f->mode, modes[i])) {
			o->mode = (enum dp_mode)i;
			break;
		}
	}
	if (f->timeout) {
		char *end;
		o->timeout = strtod(f->timeout, &end);
		if (*end || !(o->timeout > 0) || !isfinite(o->timeout))
			return cli_error("par: invalid value \"%s\" for "
					 "--timeout (seconds)",
					 f->timeout);
	}
	if (f->halt && parse_halt(f->halt, o) < 0)
		return cli_error("par: --halt %s: expected never, "
				 "now,fail=N or soon,fail=N",
				 f->halt);
	if (f->shard) {
		struct berr err = {0};
		if (dp_shard_parse(f->shard, environ, &o->shard, &err) < 0)
			return cli_error("par: %s", err.msg);
	}
	if (f->claim_size &&
	    (base_parse_u64(f->claim_size, &o->claim_size) < 0 ||
	     o->claim_size < 1 || o->claim_size > DP_CLAIM_SIZE_MAX))
		return cli_error("par: --claim-size %s: expected a number of "
				 "tasks, 1 to %llu",
				 f->claim_size,
				 (unsigned long long)DP_CLAIM_SIZE_MAX);
	o->retries = f->retries;
	o->env = f->env;
	o->volumes = f->volumes;
	return CLI_CONTINUE;
}

static void par_flags_free(struct par_flags *f)
{
	base_strv_free(f->env);
	base_strv_free(f->volumes);
}

#define OPT(n, a, k, d, m, h)                                                  \
	{                                                                      \
		n, a, k, d, m, h                                               \
	}

static int run_par(struct cli *cli, struct par_flags *f)
{
	int r = split_args(cli, &f->o);
	if (r == CLI_CONTINUE)
		r = apply_flags(f);
	if (r != CLI_CONTINUE)
		return r;
	_cleanup_free_ char *agent = cli_agent_path();
	bool bar = false;
	f->o.agent = agent;
	f->o.input_fd = 0;
	f->o.out_fd = 1;
	f->o.err_fd = 2;
	f->o.tty = isatty(2);
	f->o.stop = &stop_requests;
	f->o.report = report;
	f->o.report_data = &bar;

	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fflush(stdout);

	struct berr err = {0};
	int status = 0;
	f->net.ctx = &cli->ctx;
	r = dp_par_run(&cli->ctx, &f->o, &status, &err);
	if (r < 0)
		return cli_error("par: %s",
				 err.msg[0] ? err.msg : strerror(-r));
	if (last_signal)
		return 128 + last_signal;
	return status;
}

/* berth par merge: the files of a run's shards into one. */
static int par_merge(struct cli *cli, int argc, char **argv)
{
	static struct cli_command entered;
	static char name[32];
	cli_enter_subcommand(cli, &entered, name, sizeof(name), "merge",
			     "[--joblog FILE] [--results FILE] [--shards N] "
			     "[--claims FILE]",
			     "write the joblog and results of one run from "
			     "those of its --shard pools");
	const char *shards = NULL, *tasks = NULL;
	bool quiet = false;
	struct dp_merge_opts o = {0};
	const struct cli_opt opts[] = {
		OPT("joblog", NULL, CLI_STR, &o.joblog, "FILE",
		    "write FILE from FILE.shard-I-of-N, I = 0 .. N-1"),
		OPT("results", NULL, CLI_STR, &o.results, "FILE",
		    "write FILE from FILE.shard-I-of-N, I = 0 .. N-1"),
		OPT("shards", NULL, CLI_STR, &shards, "N",
		    "the number of shards (default: the N of the files "
		    "found, or of the claims file)"),
		OPT("claims", NULL, CLI_STR, &o.claims, "FILE",
		    "the run's --claims FILE, which says whose each task is "
		    "(and its number of tasks)"),
		OPT("tasks", NULL, CLI_STR, &tasks, "T",
		    "the run had T tasks: check that none of 1..T is "
		    "missing (default: the claims file's, else up to the "
		    "highest seq found)"),
		OPT("quiet", NULL, CLI_BOOL, &quiet, NULL, "no summary line"),
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs)
		return cli_error("par merge: unexpected argument \"%s\"",
				 cli->args[0]);
	uint64_t v;
	if (shards &&
	    (base_parse_u64(shards, &v) < 0 || v < 1 || v > DP_SHARDS_MAX))
		return cli_error("par merge: --shards %s: expected 1 to %u",
				 shards, DP_SHARDS_MAX);
	o.shards = shards ? (uint32_t)v : 0;
	if (tasks && base_parse_u64(tasks, &o.tasks) < 0)
		return cli_error("par merge: --tasks %s: not a number", tasks);
	struct dp_merge_stats st;
	struct berr err = {0};
	r = dp_par_merge(&o, &st, &err);
	if (r < 0)
		return cli_error("par merge: %s",
				 err.msg[0] ? err.msg : strerror(-r));
	if (!quiet)
		fprintf(stderr,
			"berth: par merge: %llu tasks from %u shards into "
			"%s%s%s\n",
			(unsigned long long)st.tasks, st.shards,
			o.joblog ? o.joblog : "",
			o.joblog && o.results ? ", " : "",
			o.results ? o.results : "");
	if (!quiet && st.replaced)
		fprintf(stderr,
			"berth: par merge: %llu results line%s of runs killed "
			"before they journaled the task, run again by "
			"--resume, left out\n",
			(unsigned long long)st.replaced,
			st.replaced == 1 ? "" : "s");
	return 0;
}

int cli_cmd_par(struct cli *cli, int argc, char **argv)
{
	if (argc > 0 && !strcmp(argv[0], "merge"))
		return par_merge(cli, argc - 1, argv + 1);
	_cleanup_(par_flags_free) struct par_flags f = {.env = NULL};
	struct dp_par_opts *o = &f.o;
	const struct cli_opt opts[] = {
		OPT("rootfs", NULL, CLI_STR, &o->rootfs, "DIR",
		    "the workers' root filesystem (read-only)"),
		OPT("bundle", "b", CLI_STR, &o->bundle, "DIR",
		    "take the root filesystem, env, cwd and user from a "
		    "bundle"),
		OPT("image", NULL, CLI_STR, &f.image, "IMAGE",
		    "take the root filesystem, env, cwd and user from an "
		    "image (a name, or an archive or layout path)"),
		OPT("store", NULL, CLI_STR, &o->store, "DIR",
		    "image store (default $BERTH_STORE or " OCI_STORE_DEFAULT
		    ")"),
		OPT("jobs", "j", CLI_STR, &f.jobs, "N|auto",
		    "workers (default: one per allowed CPU)"),
		OPT("cpus", NULL, CLI_STR, &o->cpus, "LIST",
		    "pin the workers to these CPUs (default: the allowed set)"),
		OPT("memory", NULL, CLI_STR, &f.memory, "SIZE",
		    "memory limit of each worker (512m, 2g)"),
		OPT("pids-limit", NULL, CLI_STR, &f.pids, "N",
		    "process limit of each worker"),
		OPT("network", NULL, CLI_STR, &f.network, "none|host|NAME",
		    "each worker's network: a private namespace with loopback "
		    "alone (default), the host's, or a bridge network"),
		OPT("mode", NULL, CLI_STR, &f.mode, "exec|line|lib",
		    "run COMMAND per task (default), feed it lines, or run "
		    "it as a libberthworker program"),
		OPT("keep-order", "k", CLI_BOOL, &o->keep_order, NULL,
		    "print the output in the order of the input"),
		OPT("arg-file", "a", CLI_STR, &o->arg_file, "FILE",
		    "read the tasks from FILE, one a line"),
		OPT("range", NULL, CLI_STR, &o->range, "START:END[:STEP]",
		    "the tasks are these numbers"),
		OPT("results", NULL, CLI_STR, &o->results, "FILE",
		    "write one JSON line a task to FILE"),
		OPT("joblog", NULL, CLI_STR, &o->joblog, "FILE",
		    "write GNU parallel's joblog to FILE"),
		OPT("resume", NULL, CLI_BOOL, &o->resume, NULL,
		    "skip the jobs --joblog FILE has (an earlier, interrupted "
		    "run) and append to it"),
		OPT("shard", NULL, CLI_STR, &f.shard, "I/N|auto|auto/N",
		    "run only the tasks whose seq s has (s - 1) % N == I "
		    "(with --claims, the chunks it claims), "
		    "into FILE.shard-I-of-N of --joblog and --results (then "
		    "'berth par merge'); auto: I and N of the Slurm job "
		    "step, auto/N: I of it or JOB_COMPLETION_INDEX"),
		OPT("claims", NULL, CLI_STR, &o->claims, "FILE",
		    "with --shard: rather than round-robin, claim chunks of "
		    "the input as the pool has room, from FILE on a "
		    "filesystem every shard sees (a POSIX lock), so that a "
		    "faster node takes more; FILE records whose each task is "
		    "(--resume, 'berth par merge --claims FILE')"),
		OPT("claim-size", NULL, CLI_STR, &f.claim_size, "N",
		    "with --claims: N tasks a chunk (default: the tasks left "
		    "/ 4N, shrinking; for stdin, the pool's window)"),
		OPT("retries", NULL, CLI_COUNT, &f.retries, "N",
		    "run a failing task up to N times"),
		OPT("timeout", NULL, CLI_STR, &f.timeout, "SECONDS",
		    "kill a task that runs longer"),
		OPT("halt", NULL, CLI_STR, &f.halt, "WHEN",
		    "never, now,fail=N or soon,fail=N"),
		OPT("env", "e", CLI_STRV, &f.env, "K=V",
		    "set an environment variable in the workers"),
		OPT("volume", "v", CLI_STRV, &f.volumes, "HOST:CTR[:ro]",
		    "bind-mount a host path into the workers"),
		OPT("cgroup-parent", NULL, CLI_STR, &o->cgroup_parent, "PATH",
		    "create the pool's cgroup below PATH"),
		OPT("quiet", NULL, CLI_BOOL, &o->quiet, NULL,
		    "no progress and no summary"),
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, CLI_STOP_AT_ARG, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	return run_par(cli, &f);
}
