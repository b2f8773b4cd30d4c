/* berth: the command table, global set-up and error reporting. */
#include <string.h>

#include "cli/cli.h"

int cli_cmd_image(struct cli *cli, int argc, char **argv); /* cmd-image.c */
int cli_cmd_pull(struct cli *cli, int argc, char **argv);  /* cmd-pull.c */
int cli_cmd_push(struct cli *cli, int argc, char **argv);  /* cmd-push.c */

const struct cli_command cli_commands[] = {
	{"create", "<container-id>", "create a container", cli_cmd_create},
	{"start", "<container-id>", "start a created container", cli_cmd_start},
	{"run", "<container-id>", "create and start a container", cli_cmd_run},
	{"state", "<container-id>", "print the state of a container",
	 cli_cmd_state},
	{"kill", "<container-id> [SIGNAL]",
	 "send a signal (default SIGTERM) to a container", cli_cmd_kill},
	{"delete", "<container-id>", "delete a container", cli_cmd_delete},
	{"list", "", "list the containers", cli_cmd_list},
	{"ps", "<container-id> [ps options]",
	 "show the processes of a container", cli_cmd_ps},
	{"exec", "<container-id> [COMMAND [ARG...]]",
	 "run a new process inside a container", cli_cmd_exec},
	{"spec", "", "write a default config.json", cli_cmd_spec},
	{"features", "", "print the features this runtime supports",
	 cli_cmd_features},
	{"pause", "<container-id>", "freeze every process of a container",
	 cli_cmd_pause},
	{"resume", "<container-id>", "thaw a paused container", cli_cmd_resume},
	{"update", "<container-id>",
	 "change the resource limits of a container", cli_cmd_update},
	{"checkpoint", "<container-id>",
	 "not supported: berth has no CRIU support", cli_cmd_checkpoint},
	{"restore", "<container-id>",
	 "not supported: berth has no CRIU support", cli_cmd_restore},
	{"image", "COMMAND [ARG...]",
	 "manage images: load, pull, ls, inspect, rm, prune, tag, unpack",
	 cli_cmd_image},
	{"pull", "REF", "pull an image from a registry (berth image pull)",
	 cli_cmd_pull},
	{"push", "IMAGE [REF]",
	 "push an image to a registry (berth image push)", cli_cmd_push},
	{"events", "<container-id>",
	 "print a container's resource usage and OOM events", cli_cmd_events},
	{"launch", "IMAGE [COMMAND [ARG...]]",
	 "run a container from an image, like docker run", cli_cmd_launch},
	{"par", "[--] COMMAND [ARG...] [::: ARG...]",
	 "run tasks in a pool of pinned worker containers, like GNU parallel",
	 cli_cmd_par},
	{"job", "run|ps|logs|stop|rm [ARG...]",
	 "run a coordinator and worker pools from a job file", cli_cmd_job},
	{"build", "[options] CONTEXT",
	 "build an image from a Dockerfile, like docker build", cli_cmd_build},
	{"compose", "[-f FILE]... [-p NAME] up|down|ps|logs|config",
	 "run a Compose project, like docker compose", cli_cmd_compose},
	{"network", "create|ls|inspect|rm|prune [ARG...]",
	 "manage bridge networks, like docker network", cli_cmd_network},
	{"logs", "NAME", "print a launched container's log, like docker logs",
	 cli_cmd_logs},
	{"stop", "NAME...", "stop launched containers, like docker stop",
	 cli_cmd_stop},
	{"restart", "NAME...",
	 "stop and start launched containers again, like docker restart",
	 cli_cmd_restart},
	{"rm", "NAME...", "remove launched containers, like docker rm",
	 cli_cmd_rm},
	{"containers", "", "list launched containers, like docker ps",
	 cli_cmd_containers},
	{NULL, NULL, NULL, NULL},
};

static void print_version(void)
{
	static const char v[] = "berth version " BERTH_VERSION "\n"
				"spec: " OCI_SPEC_VERSION "\n";
	(void)base_write_all(1, v, sizeof(v) - 1);
}

static void vreport(const char *fmt, va_list ap)
{
	char msg[BERR_MSG_MAX + 256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* The log file is what containerd reads; stderr is what people and
	 * the other clients read, and it must end with the error. */
	if (blog_to_file())
		blog_error("%s", msg);
	fflush(stdout);
	fprintf(stderr, "berth: %s\n", msg);
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return 1;
}

int cli_fail(int r, const struct berr *err)
{
	if (err && err->msg[0])
		return cli_error("%s", err->msg);
	return cli_error("%s", strerror(r < 0 ? -r : EIO));
}

/* Applies the global flags once the command's flags are known. */
static int setup(struct cli *cli)
{
	bool json = false;
	if (cli->log_format) {
		if (!strcmp(cli->log_format, "json"))
			json = true;
		else if (strcmp(cli->log_format, "text"))
			return cli_error("invalid log format \"%s\": expected "
					 "text or json",
					 cli->log_format);
	}
	int r = blog_open(cli->log_path, json, cli->ctx.debug);
	if (r < 0)
		return cli_error("open log file %s: %s", cli->log_path,
				 strerror(-r));
	if (!cli->ctx.root || !cli->ctx.root[0])
		cli->ctx.root = RT_DEFAULT_ROOT;
	blog_debug("berth %s: root %s", cli->cmd ? cli->cmd->name : "",
		   cli->ctx.root);
	return CLI_CONTINUE;
}

int cli_parse(struct cli *cli, const struct cli_opt *opts, unsigned flags,
	      int argc, char **argv)
{
	if (cli_args_parse(cli, opts, flags, argc, argv) < 0)
		return 1;
	if (cli->help) {
		cli_usage(cli, opts, stdout);
		return 0;
	}
	return setup(cli);
}

int cli_take_id(struct cli *cli, size_t max_args, const char **id)
{
	if (cli->nargs == 0)
		return cli_error("%s requires a container id", cli->cmd->name);
	if (max_args && cli->nargs > max_args)
		return cli_error("%s: unexpected argument \"%s\" (see 'berth "
				 "%s --help')",
				 cli->cmd->name, cli->args[max_args],
				 cli->cmd->name);
	struct berr err = {0};
	int r = rt_validate_id(cli->args[0], &err);
	if (r < 0)
		return cli_fail(r, &err);
	*id = cli->args[0];
	return CLI_CONTINUE;
}

static const struct cli_command *find_command(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

/* `berth help [COMMAND]` */
static int help_command(struct cli *cli)
{
	if (cli->nargs > 1) {
		cli->cmd = find_command(cli->args[1]);
		if (!cli->cmd)
			return cli_error("unknown command \"%s\"",
					 cli->args[1]);
		char *argv[] = {(char *)"--help", NULL};
		return cli->cmd->fn(cli, 1, argv);
	}
	cli_main_usage(stdout);
	return 0;
}

static int dispatch(int argc, char **argv)
{
	struct cli cli = {
		.ctx = {.root = RT_DEFAULT_ROOT, .release = eng_release}};

	/* The globals before the command; the command name is the first
	 * positional argument. */
	if (cli_args_parse(&cli, NULL, CLI_STOP_AT_ARG, argc, argv) < 0)
		return 1;
	if (cli.version) {
		print_version();
		return 0;
	}
	if (cli.nargs == 0) {
		if (cli.help) {
			cli_main_usage(stdout);
			return 0;
		}
		cli_main_usage(stderr);
		return 1;
	}
	if (!strcmp(cli.args[0], "help"))
		return help_command(&cli);
	cli.cmd = find_command(cli.args[0]);
	if (!cli.cmd) {
		fprintf(stderr, "berth: unknown command \"%s\"\n", cli.args[0]);
		fprintf(stderr,
			"Run 'berth --help' for the list of commands.\n");
		return 1;
	}
	return cli.cmd->fn(&cli, (int)cli.nargs - 1, cli.args + 1);
}

void cli_fini(void) {}

int main(int argc, char **argv)
{
	/* Clients probe the runtime with --version; answer before anything
	 * else happens. */
	if (argc == 2 &&
	    (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-version") ||
	     !strcmp(argv[1], "-v"))) {
		print_version();
		return 0;
	}

	int status = dispatch(argc - 1, argv + 1);
	if (fflush(stdout) != 0 && status == 0)
		status = cli_error("write to stdout: %s", strerror(errno));
	blog_close();
	return status;
}
