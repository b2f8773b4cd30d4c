/* berth job run [-d] FILE.json | ps [-a] NAME | logs [-f] NAME [GROUP...] |
 * scale NAME GROUP=N... | stop [-t S] NAME [GROUP...] | start NAME
 * [GROUP...] | rm NAME
 *
 * A coordinator service and pools of workers from a job file: the file is
 * parsed and the job run by dist/ (eng_job_*); this file parses the flags,
 * prints, and turns ^C into a stop. */
#include <limits.h>
#include <signal.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "engine/engine.h"

struct job_flags {
	bool detach, all, follow, timestamps;
	const char *format, *tail, *since, *timeout;
};

typedef int job_fn(struct cli *cli, const struct job_flags *f);

static volatile int stop_requests;
static volatile sig_atomic_t last_signal;

static void on_stop(int sig)
{
	stop_requests++;
	last_signal = sig;
}

static int job_run(struct cli *cli, const struct job_flags *f)
{
	const char *file = cli->args[0];
	struct berr err = {0};
	_cleanup_(eng_job_freep) struct eng_job *j = NULL;
	int r = eng_job_load(file, &j, &err);
	if (r < 0)
		return cli_fail(r, &err);
	const char *store = getenv("BERTH_STORE");
	if (!j->store && store && *store)
		j->store = base_strdup(store);
	_cleanup_free_ char *agent = cli_agent_path();
	struct eng_job_opts o = {.file = file,
				 .agent = agent,
				 .detach = f->detach,
				 .stop = &stop_requests};
	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fflush(stdout);
	r = eng_job_run(&cli->ctx, j, &o, &err);
	if (r == -EINTR) {
		cli_fail(r, &err);
		return 128 + (last_signal ? last_signal : SIGTERM);
	}
	if (r < 0)
		return cli_error("job %s: %s", j->name,
				 err.msg[0] ? err.msg : strerror(-r));
	if (f->detach)
		printf("%s\n", j->name);
	return 0;
}

static void cJSON_Deletep(cJSON **j)
{
	cJSON_Delete(*j);
}

static int ps_json(const struct eng_job_entry *v, size_t n)
{
	_cleanup_(cJSON_Deletep) cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddStringToObject(o, "group", v[i].group) ||
		    !cJSON_AddStringToObject(o, "id", v[i].id) ||
		    !cJSON_AddStringToObject(o, "status",
					     oci_status_name(v[i].status)) ||
		    !cJSON_AddNumberToObject(o, "pid", v[i].pid) ||
		    !(v[i].cpus ? cJSON_AddStringToObject(o, "cpus", v[i].cpus)
				: cJSON_AddNullToObject(o, "cpus")) ||
		    !cJSON_AddStringToObject(o, "root", v[i].root) ||
		    !cJSON_AddStringToObject(o, "address", v[i].ip) ||
		    !(v[i].exit_code >= 0
			      ? cJSON_AddNumberToObject(o, "exit_code",
							v[i].exit_code)
			      : cJSON_AddNullToObject(o, "exit_code")))
			return cli_error("job ps: %s", strerror(ENOMEM));
	}
	_cleanup_free_ char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
	if (!s)
		return cli_error("job ps: %s", strerror(ENOMEM));
	printf("%s\n", s);
	return 0;
}

void cli_job_status(const struct eng_job_entry *e, char *buf, size_t len)
{
	if (e->exit_code >= 0)
		snprintf(buf, len, "exited(%d)", e->exit_code);
	else
		snprintf(buf, len, "%s", oci_status_name(e->status));
}

static void ps_table(const struct eng_job_entry *v, size_t n)
{
	size_t wg = strlen("GROUP"), wi = strlen("ID");
	for (size_t i = 0; i < n; i++) {
		if (strlen(v[i].group) > wg)
			wg = strlen(v[i].group);
		if (strlen(v[i].id) > wi)
			wi = strlen(v[i].id);
	}
	printf("%-*s   %-*s   %-12s %-9s %-6s %s\n", (int)wg, "GROUP", (int)wi,
	       "ID", "STATUS", "PID", "CPU", "ADDRESS");
	for (size_t i = 0; i < n; i++) {
		char status[32];
		cli_job_status(&v[i], status, sizeof(status));
		printf("%-*s   %-*s   %-12s %-9d %-6s %s\n", (int)wg,
		       v[i].group, (int)wi, v[i].id, status, (int)v[i].pid,
		       v[i].cpus ? v[i].cpus : "-", v[i].ip[0] ? v[i].ip : "-");
	}
}

static int job_ps(struct cli *cli, const struct job_flags *f)
{
	bool json = !strcmp(f->format, "json");
	if (!json && strcmp(f->format, "table"))
		return cli_error("job ps: invalid format \"%s\": expected "
				 "table or json",
				 f->format);
	struct berr err = {0};
	struct eng_job_entry *v = NULL;
	size_t n = 0;
	int r = eng_job_ps(&cli->ctx, cli->args[0], f->all, &v, &n, &err);
	if (r < 0)
		return cli_fail(r, &err);
	if (json)
		r = ps_json(v, n);
	else
		ps_table(v, n);
	eng_job_entries_free(v, n);
	return r < 0 ? 1 : r;
}

static int job_logs(struct cli *cli, const struct job_flags *f)
{
	struct cli_log_print pr = {
		.sep = "| ", .timestamps = f->timestamps, .follow = f->follow};
	return cli_job_logs(cli, cli->args[0], cli->args + 1, &pr, f->tail,
			    f->since, false);
}

int cli_job_scale(struct cli *cli, const char *job, char *const *specs,
		  const char *what)
{
	for (size_t i = 0; specs && specs[i]; i++) {
		_cleanup_free_ char *group = base_strdup(specs[i]);
		char *eq = strchr(group, '=');
		int n;
		if (!eq || eq == group || base_parse_int(eq + 1, &n) < 0 ||
		    n < 0)
			return cli_error("%s: `%s`: expected GROUP=N", what,
					 specs[i]);
		*eq = '\0';
		struct berr err = {0};
		int r = eng_job_scale(&cli->ctx, job, group, n, &err);
		if (r < 0)
			return cli_fail(r, &err);
	}
	return 0;
}

/* scale NAME GROUP=N... */
static int job_scale(struct cli *cli, const struct job_flags *f)
{
	(void)f;
	return cli_job_scale(cli, cli->args[0], cli->args + 1, "job scale");
}

/* start NAME [GROUP...]: those groups, or (none named) every one held */
static int job_start(struct cli *cli, const struct job_flags *f)
{
	(void)f;
	size_t n = cli->nargs > 1 ? cli->nargs - 1 : 1;
	for (size_t i = 0; i < n; i++) {
		struct berr err = {0};
		const char *g = cli->nargs > 1 ? cli->args[1 + i] : NULL;
		int r = eng_job_start_group(&cli->ctx, cli->args[0], g, &err);
		if (r < 0)
			return cli_fail(r, &err);
	}
	return 0;
}

/* stop NAME: the whole job; stop NAME GROUP...: those groups, kept
 * stopped until `job start`. */
static int job_stop(struct cli *cli, const struct job_flags *f)
{
	int grace = -1;
	if (f->timeout && (base_parse_int(f->timeout, &grace) < 0 || grace < 0))
		return cli_error("job stop: -t %s: expected seconds",
				 f->timeout);
	struct berr err = {0};
	if (cli->nargs == 1) {
		if (f->timeout)
			return cli_error("job stop: -t goes with GROUP (a "
					 "whole job stops at once)");
		int r = eng_job_stop(&cli->ctx, cli->args[0], &err);
		return r < 0 ? cli_fail(r, &err) : 0;
	}
	for (size_t i = 1; i < cli->nargs; i++) {
		int r = eng_job_stop_group(&cli->ctx, cli->args[0],
					   cli->args[i], grace, &err);
		if (r < 0)
			return cli_fail(r, &err);
	}
	return 0;
}

static int job_rm(struct cli *cli, const struct job_flags *f)
{
	(void)f;
	struct berr err = {0};
	int r = eng_job_rm(&cli->ctx, cli->args[0], &err);
	return r < 0 ? cli_fail(r, &err) : 0;
}

static const struct cli_sub job_cmds[] = {
	{"run", "[-d] FILE.json", "run the job a file describes", 1, 1, job_run,
	 0},
	{"ps", "[-a] [-f table|json] NAME",
	 "list the containers of a running job (-a: and those that ended)", 1,
	 1, job_ps, 0},
	{"logs", "[-f] [--tail N] [-t] [--since T] NAME [GROUP...]",
	 "print the logs of a job's containers", 1, CLI_ANY_ARGS, job_logs, 0},
	{"scale", "NAME GROUP=N...", "run N containers of a service group", 2,
	 CLI_ANY_ARGS, job_scale, 0},
	{"stop", "[-t S] NAME [GROUP...]",
	 "stop a running job and remove its containers, or stop its service "
	 "groups",
	 1, CLI_ANY_ARGS, job_stop, 0},
	{"start", "NAME [GROUP...]", "start the service groups stopped", 1,
	 CLI_ANY_ARGS, job_start, 0},
	{"rm", "NAME", "remove the logs of a job that ended", 1, 1, job_rm, 0},
};

/* Whether SUB is logs: there -f is --follow, as in docker, and
 * elsewhere --format. */
static bool is_logs(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (argv[i][0] != '-')
			return !strcmp(argv[i], "logs");
	return false;
}

int cli_cmd_job(struct cli *cli, int argc, char **argv)
{
	struct job_flags f = {.format = "table"};
	bool logs = is_logs(argc, argv);
	const struct cli_opt opts[] = {
		{"detach", "d", CLI_BOOL, &f.detach, NULL,
		 "run: start the job in the background and print its name"},
		{"format", logs ? NULL : "f", CLI_STR, &f.format, "FORMAT",
		 "ps: table or json (default table)"},
		{"all", "a", CLI_BOOL, &f.all, NULL,
		 "ps: the containers that ended too"},
		{"follow", logs ? "f" : NULL, CLI_BOOL, &f.follow, NULL,
		 "logs: follow until the job has ended"},
		{"tail", "n", CLI_STR, &f.tail, "N",
		 "logs: the last N lines of each container"},
		{"timestamps", logs ? "t" : NULL, CLI_BOOL, &f.timestamps, NULL,
		 "logs: show each line's time"},
		{"since", NULL, CLI_STR, &f.since, "TIME",
		 "logs: lines since TIME"},
		{"timeout", logs ? NULL : "t", CLI_STR, &f.timeout, "S",
		 "stop: seconds before SIGKILL"},
		CLI_OPT_END,
	};
	const struct cli_sub *sub;
	int r = cli_parse_sub(cli, job_cmds, ARRAY_SIZE(job_cmds), NULL, opts,
			      argc, argv, &sub);
	return r != CLI_CONTINUE ? r : ((job_fn *)sub->impl)(cli, &f);
}
