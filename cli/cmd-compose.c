/* berth compose [-f FILE]... [-p NAME] [--env-file F] COMMAND [ARGS]:
 * docker compose's commands for a compose project, which berth runs as a
 * job (eng_compose_*). Options before COMMAND are the project's, those
 * after it the command's (so that `logs -f` follows while `-f` before
 * names a file, as in docker compose). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

struct compose_flags {
	char **files, **env_files, **scale;
	const char *project, *format, *tail, *since, *timeout, *signal, *index;
	bool detach, build, volumes, all, follow, timestamps, orphans, no_start,
		rm, no_tty;
};

static volatile int stop_requests;

static void on_stop(int sig)
{
	(void)sig;
	stop_requests++;
}

/* up on a project that runs: its --scale applies to the running job,
 * and nothing else changes. 1: it runs; 0: it does not; or the exit
 * status. */
static int up_running(struct cli *cli, struct eng_compose *c,
		      struct compose_flags *f)
{
	if (!eng_job_running(&cli->ctx, eng_compose_name(c)))
		return 0;
	int r = cli_job_scale(cli, eng_compose_name(c), f->scale,
			      "compose up --scale");
	return r ? r : 1;
}

static int c_up(struct cli *cli, struct eng_compose *c, struct compose_flags *f)
{
	if (f->no_start && !f->detach)
		return cli_error("compose up: --no-start goes with -d (the "
				 "services wait for `compose start`)");
	if (f->detach && !f->build) {
		int up = up_running(cli, c, f);
		if (up != 0)
			return up == 1 ? 0 : up;
	}
	_cleanup_free_ char *agent = cli_agent_path();
	struct eng_compose_up o = {.scale = f->scale,
				   .build = f->build,
				   .detach = f->detach,
				   .no_start = f->no_start,
				   .store = getenv("BERTH_STORE"),
				   .agent = agent,
				   .stop = &stop_requests};
	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct berr err = {0};
	int r = eng_compose_up(&cli->ctx, c, &o, &err);
	if (r == -EINTR)
		return 130;
	return r < 0 ? cli_fail(r, &err) : 0;
}

static int c_down(struct cli *cli, struct eng_compose *c,
		  struct compose_flags *f)
{
	struct berr err = {0};
	int r = eng_compose_down(&cli->ctx, c, f->volumes, &err);
	return r < 0 ? cli_fail(r, &err) : 0;
}

static int c_ps(struct cli *cli, struct eng_compose *c, struct compose_flags *f)
{
	struct eng_job_entry *v = NULL;
	size_t n = 0;
	struct berr err = {0};
	int r = eng_job_ps(&cli->ctx, eng_compose_name(c), f->all, &v, &n,
			   &err);
	if (r == -ESRCH || r == -ENOENT) /* not up: nothing runs */
		r = 0;
	if (r < 0)
		return cli_fail(r, &err);
	bool json = f->format && !strcmp(f->format, "json");
	if (!json)
		printf("%-24s %-12s %-12s %s\n", "NAME", "SERVICE", "STATUS",
		       "ADDRESS");
	for (size_t i = 0; i < n; i++) {
		char status[32];
		cli_job_status(&v[i], status, sizeof(status));
		if (json)
			printf("{\"Name\":\"%s\",\"Service\":\"%s\","
			       "\"State\":\"%s\",\"ExitCode\":%d,"
			       "\"Address\":\"%s\"}\n",
			       v[i].id, v[i].group,
			       v[i].exit_code >= 0
				       ? "exited"
				       : oci_status_name(v[i].status),
			       v[i].exit_code >= 0 ? v[i].exit_code : 0,
			       v[i].ip);
		else
			printf("%-24s %-12s %-12s %s\n", v[i].id, v[i].group,
			       status, v[i].ip[0] ? v[i].ip : "-");
	}
	eng_job_entries_free(v, n);
	return 0;
}

/* logs [-f] [--tail N] [-t] [SERVICE...] */
static int c_logs(struct cli *cli, struct eng_compose *c,
		  struct compose_flags *f)
{
	struct cli_log_print pr = {
		.sep = " | ", .timestamps = f->timestamps, .follow = f->follow};
	return cli_job_logs(cli, eng_compose_name(c), cli->args, &pr, f->tail,
			    f->since, !cli->nargs);
}

/* stop|start|restart [SERVICE...]: through the runner, which keeps the
 * project (its network, its stopped containers' logs and exit codes)
 * until `down`. */
static int c_stop(struct cli *cli, struct eng_compose *c,
		  struct compose_flags *f)
{
	int grace = -1;
	if (f->timeout && (base_parse_int(f->timeout, &grace) < 0 || grace < 0))
		return cli_error("compose: -t %s: expected seconds",
				 f->timeout);
	for (size_t i = 0; i < cli->nargs || i == 0; i++) {
		struct berr err = {0};
		int r = eng_job_stop_group(&cli->ctx, eng_compose_name(c),
					   cli->nargs ? cli->args[i] : NULL,
					   grace, &err);
		if (r == -ESRCH) /* not up: nothing to stop */
			return 0;
		if (r < 0)
			return cli_fail(r, &err);
	}
	return 0;
}

static int c_start(struct cli *cli, struct eng_compose *c,
		   struct compose_flags *f)
{
	(void)f;
	for (size_t i = 0; i < cli->nargs || i == 0; i++) {
		struct berr err = {0};
		int r = eng_job_start_group(&cli->ctx, eng_compose_name(c),
					    cli->nargs ? cli->args[i] : NULL,
					    &err);
		if (r == -ESRCH)
			return cli_error("compose start: project %s is not up "
					 "(start it with `berth compose up "
					 "-d`)",
					 eng_compose_name(c));
		if (r < 0)
			return cli_fail(r, &err);
	}
	return 0;
}

static int c_restart(struct cli *cli, struct eng_compose *c,
		     struct compose_flags *f)
{
	int r = c_stop(cli, c, f);
	return r ? r : c_start(cli, c, f);
}

static int c_config(struct cli *cli, struct eng_compose *c,
		    struct compose_flags *f)
{
	(void)cli;
	(void)f;
	_cleanup_free_ char *yaml = NULL;
	struct berr err = {0};
	int r = eng_compose_config(c, &yaml, &err);
	if (r < 0)
		return cli_fail(r, &err);
	fputs(yaml, stdout);
	return 0;
}

/* The project's containers (of service svc, NULL: all), as the job
 * lists them; -ESRCH and -ENOENT (not up) are an empty list. */
static int containers(struct cli *cli, struct eng_compose *c, const char *svc,
		      struct eng_job_entry **v, size_t *n)
{
	struct berr err = {0};
	*v = NULL;
	*n = 0;
	int r = eng_job_ps(&cli->ctx, eng_compose_name(c), false, v, n, &err);
	if (r == -ESRCH || r == -ENOENT)
		return 0;
	if (r < 0)
		return cli_fail(r, &err);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (svc && strcmp((*v)[i].group, svc)) {
			/* dropped: its strings freed, the array kept */
			free((*v)[i].group);
			free((*v)[i].id);
			free((*v)[i].root);
			free((*v)[i].cpus);
			continue;
		}
		(*v)[k++] = (*v)[i];
	}
	*n = k;
	return 0;
}

/* exec SVC CMD...: in the service's container --index (default 0). */
static int c_exec(struct cli *cli, struct eng_compose *c,
		  struct compose_flags *f)
{
	int index = 0;
	if (f->index && (base_parse_int(f->index, &index) < 0 || index < 0))
		return cli_error("compose exec: --index %s: a number",
				 f->index);
	struct eng_job_entry *v;
	size_t n;
	int r = containers(cli, c, cli->args[0], &v, &n);
	if (r != 0)
		return r;
	_cleanup_free_ char *id = base_sprintf("%s.%d", cli->args[0], index);
	const struct eng_job_entry *e = NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			e = &v[i];
	if (!e) {
		eng_job_entries_free(v, n);
		return cli_error("compose exec: service %s has no running "
				 "container %s",
				 cli->args[0], id);
	}
	struct rt_ctx ctx = cli->ctx;
	ctx.root = e->root;
	struct rt_exec_opts eo = {.args = cli->args + 1};
	struct berr err = {0};
	int status = 0;
	r = rt_exec(&ctx, id, &eo, &status, &err);
	eng_job_entries_free(v, n);
	if (r < 0) {
		cli_fail(r, &err);
		return 255;
	}
	return status;
}

/* Whether the command's SERVICE... arguments take group (none: all). */
static bool named(const struct cli *cli, const char *group)
{
	bool want = cli->nargs == 0;
	for (size_t k = 0; k < cli->nargs; k++)
		want |= !strcmp(cli->args[k], group);
	return want;
}

/* kill [-s SIGNAL] [SERVICE...] */
static int c_kill(struct cli *cli, struct eng_compose *c,
		  struct compose_flags *f)
{
	int sig = SIGKILL;
	if (f->signal && rt_parse_signal(f->signal, &sig) < 0)
		return cli_error("compose kill: -s %s: not a signal",
				 f->signal);
	struct eng_job_entry *v;
	size_t n;
	int rc = containers(cli, c, NULL, &v, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!named(cli, v[i].group))
			continue;
		struct rt_ctx ctx = cli->ctx;
		ctx.root = v[i].root;
		struct berr err = {0};
		if (rt_kill(&ctx, v[i].id, sig, false, &err) < 0)
			rc = cli_fail(-ESRCH, &err);
	}
	eng_job_entries_free(v, n);
	return rc;
}

/* top [SERVICE...]: each container's processes, as host pids. */
static int c_top(struct cli *cli, struct eng_compose *c,
		 struct compose_flags *f)
{
	(void)f;
	struct eng_job_entry *v;
	size_t n;
	int rc = containers(cli, c, NULL, &v, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct rt_ctx ctx = cli->ctx;
		ctx.root = v[i].root;
		_cleanup_free_ pid_t *pids = NULL;
		size_t np = 0;
		if (!named(cli, v[i].group) ||
		    rt_ps(&ctx, v[i].id, &pids, &np, NULL) < 0)
			continue;
		printf("%s\n%-8s %s\n", v[i].id, "PID", "CMD");
		for (size_t p = 0; p < np; p++) {
			_cleanup_free_ char *path =
				base_sprintf("/proc/%d/cmdline", (int)pids[p]);
			_cleanup_free_ char *cmd = NULL;
			size_t len = 0;
			if (base_read_file_at(AT_FDCWD, path, &cmd, &len,
					      4096) < 0)
				continue;
			for (size_t k = 0; k + 1 < len; k++)
				if (!cmd[k])
					cmd[k] = ' ';
			printf("%-8d %s\n", (int)pids[p], cmd);
		}
		printf("\n");
	}
	eng_job_entries_free(v, n);
	return rc;
}

/* images: each service's image, as the store has it. */
static int c_images(struct cli *cli, struct eng_compose *c,
		    struct compose_flags *f)
{
	(void)f;
	const char *dir = getenv("BERTH_STORE");
	struct berr err = {0};
	_cleanup_(oci_store_closep) struct oci_store *s = NULL;
	int r = oci_store_open(dir && *dir ? dir : OCI_STORE_DEFAULT,
			       OCI_STORE_READ, &s, &err);
	if (r < 0)
		return cli_fail(r, &err);
	_cleanup_strv_ char **v = eng_compose_images(c);
	printf("%-16s %-32s %-12s %s\n", "SERVICE", "IMAGE", "IMAGE ID",
	       "SIZE");
	for (size_t i = 0; v && v[i] && v[i + 1]; i += 2) {
		if (!named(cli, v[i]))
			continue;
		_cleanup_(oci_image_freep) struct oci_image *img = NULL;
		char id[13] = "-", size[32] = "-";
		if (oci_image_find(s, v[i + 1], &img, NULL) == 0) {
			const char *hex = strchr(img->id, ':');
			snprintf(id, sizeof(id), "%s", hex ? hex + 1 : img->id);
			cli_human_size(img->size, size, sizeof(size));
		}
		printf("%-16s %-32s %-12s %s\n", v[i], v[i + 1], id, size);
	}
	return 0;
}

/* run [--rm] [-T] SERVICE [CMD...]: a one-off container of the service
 * on the project's network, attached; it goes at its end. */
static int c_run(struct cli *cli, struct eng_compose *c,
		 struct compose_flags *f)
{
	_cleanup_strv_ char **v = eng_compose_images(c);
	bool known = false;
	for (size_t i = 0; v && v[i] && v[i + 1]; i += 2)
		known |= !strcmp(v[i], cli->args[0]);
	if (!known)
		return cli_error("compose run: no such service: %s",
				 cli->args[0]);
	_cleanup_free_ char *agent = cli_agent_path();
	struct eng_job_one o = {.group = cli->args[0],
				.args = cli->args + 1,
				.tty = !f->no_tty && isatty(0) && isatty(1),
				.agent = agent};
	struct berr err = {0};
	int status = 0;
	int r = eng_job_run_one(&cli->ctx, eng_compose_name(c), &o, &status,
				&err);
	if (r == -ESRCH)
		return cli_error("compose run: project %s is not up (start it "
				 "with `berth compose up -d`)",
				 eng_compose_name(c));
	if (r < 0) {
		cli_fail(r, &err);
		return 125;
	}
	return status;
}

typedef int compose_fn(struct cli *cli, struct eng_compose *c,
		       struct compose_flags *f);

static const struct cli_sub compose_cmds[] = {
	{"up", "[-d] [--scale SVC=N] [--build] [--no-start]",
	 "create and start the project's containers (up: scale them)", 0, 0,
	 c_up, 0},
	{"down", "[-v]", "stop and remove them, and the networks", 0, 0, c_down,
	 0},
	{"stop", "[-t S] [SERVICE...]",
	 "stop the containers, kept until start or down", 0, CLI_ANY_ARGS,
	 c_stop, 0},
	{"start", "[SERVICE...]", "start what stop stopped", 0, CLI_ANY_ARGS,
	 c_start, 0},
	{"restart", "[-t S] [SERVICE...]", "stop and start", 0, CLI_ANY_ARGS,
	 c_restart, 0},
	{"ps", "[-a] [--format json]",
	 "list the project's containers (-a: those that ended too)", 0, 0, c_ps,
	 0},
	{"logs", "[-f] [--tail N] [-t] [SERVICE...]",
	 "print the containers' output", 0, CLI_ANY_ARGS, c_logs, 0},
	{"config", "", "print the project as berth reads it", 0, 0, c_config,
	 0},
	{"exec", "[--index N] SERVICE CMD [ARG...]",
	 "run a command in a service's container", 2, CLI_ANY_ARGS, c_exec,
	 CLI_STOP_AT_ARG},
	{"kill", "[-s SIGNAL] [SERVICE...]", "signal the containers", 0,
	 CLI_ANY_ARGS, c_kill, 0},
	{"top", "[SERVICE...]", "the containers' processes", 0, CLI_ANY_ARGS,
	 c_top, 0},
	{"images", "[SERVICE...]", "the services' images", 0, CLI_ANY_ARGS,
	 c_images, 0},
	{"run", "[--rm] [-T] SERVICE [CMD...]",
	 "a one-off container of a service, removed at its end", 1,
	 CLI_ANY_ARGS, c_run, CLI_STOP_AT_ARG},
};

/* The index of COMMAND: the first argument that is no project option's. */
static int find_command(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			return i;
		if (!strcmp(a, "-f") || !strcmp(a, "-p") ||
		    !strcmp(a, "--file") || !strcmp(a, "--project-name") ||
		    !strcmp(a, "--env-file"))
			i++;
	}
	return argc;
}

static int run(struct cli *cli, struct compose_flags *f, int argc, char **argv)
{
	int k = find_command(argc, argv);
	/* -t: logs' timestamps, the others' timeout, as in docker compose */
	bool logs = k < argc && !strcmp(argv[k], "logs");
	const struct cli_opt proj[] = {
		{"file", "f", CLI_STRV, &f->files, "FILE", "a compose file"},
		{"project-name", "p", CLI_STR, &f->project, "NAME",
		 "the project's name"},
		{"env-file", NULL, CLI_STRV, &f->env_files, "FILE",
		 "variables, after the project's .env"},
		CLI_OPT_END,
	};
	const struct cli_opt cmd[] = {
		{"detach", "d", CLI_BOOL, &f->detach, NULL,
		 "up: in the background"},
		{"scale", NULL, CLI_STRV, &f->scale, "SVC=N",
		 "up: containers of a service"},
		{"build", NULL, CLI_BOOL, &f->build, NULL,
		 "up: build the images first"},
		{"no-start", NULL, CLI_BOOL, &f->no_start, NULL,
		 "up -d: the services wait for `compose start`"},
		{"volumes", "v", CLI_BOOL, &f->volumes, NULL,
		 "down: remove the named volumes"},
		{"remove-orphans", NULL, CLI_BOOL, &f->orphans, NULL,
		 "down: (every container of the project goes anyway)"},
		{"format", NULL, CLI_STR, &f->format, "table|json", "ps"},
		{"all", "a", CLI_BOOL, &f->all, NULL,
		 "ps: the containers that ended too"},
		{"follow", "f", CLI_BOOL, &f->follow, NULL,
		 "logs: follow until the project is down"},
		{"tail", "n", CLI_STR, &f->tail, "N",
		 "logs: the last N lines of each container"},
		{"since", NULL, CLI_STR, &f->since, "TIME",
		 "logs: lines since TIME"},
		{"timestamps", logs ? "t" : NULL, CLI_BOOL, &f->timestamps,
		 NULL, "logs: show each line's time"},
		{"timeout", logs ? NULL : "t", CLI_STR, &f->timeout, "S",
		 "stop, restart: seconds before SIGKILL"},
		{"index", NULL, CLI_STR, &f->index, "N",
		 "exec: the service's container N (default 0)"},
		{"rm", NULL, CLI_BOOL, &f->rm, NULL,
		 "run: remove the container at its end (it always is)"},
		{"no-TTY", "T", CLI_BOOL, &f->no_tty, NULL,
		 "run: no terminal, even on one"},
		{"signal", "s", CLI_STR, &f->signal, "SIGNAL",
		 "kill: the signal (default KILL)"},
		CLI_OPT_END,
	};
	/* the parser ends what it parses with a NULL: the project's options
	 * get an array of their own */
	_cleanup_free_ char **head = base_calloc((size_t)k + 1, sizeof(char *));
	memcpy(head, argv, (size_t)k * sizeof(char *));
	int r = cli_parse(cli, proj, 0, k, head);
	const struct cli_sub *sub = NULL;
	if (r == CLI_CONTINUE)
		r = cli_parse_sub(cli, compose_cmds, ARRAY_SIZE(compose_cmds),
				  NULL, cmd, argc - k, argv + k, &sub);
	if (r != CLI_CONTINUE)
		return r;
	struct eng_compose_opts o = {.files = f->files,
				     .project = f->project,
				     .env_files = f->env_files};
	struct berr err = {0};
	_cleanup_(eng_compose_freep) struct eng_compose *c = NULL;
	if ((r = eng_compose_load(&o, &c, &err)) < 0)
		return cli_fail(r, &err);
	for (char *const *w = eng_compose_warnings(c); w && *w; w++)
		fprintf(stderr, "berth: warning: %s\n", *w);
	return ((compose_fn *)sub->impl)(cli, c, f);
}

int cli_cmd_compose(struct cli *cli, int argc, char **argv)
{
	struct compose_flags f = {0};
	int r = run(cli, &f, argc, argv);
	base_strv_free(f.files);
	base_strv_free(f.env_files);
	base_strv_free(f.scale);
	return r;
}
