/* berth exec [options] ID [COMMAND [ARG...]]
 *
 * The process comes from --process FILE (a runtime-spec process object, as
 * containerd sends it) or from the arguments after the id. */
#include <string.h>

#include "cli/cli.h"

struct exec_flags {
	struct rt_exec_opts o;
	char **env;
	char **caps;
	char **gids;
	uint32_t *gid_values;
	char **cgroups;
	const char *process_label;
	const char *apparmor;
};

static void exec_flags_free(struct exec_flags *f)
{
	base_strv_free(f->env);
	base_strv_free(f->caps);
	base_strv_free(f->gids);
	base_strv_free(f->cgroups);
	free(f->gid_values);
}

/* --additional-gids: numbers, as runc takes them. */
static int parse_gids(struct exec_flags *f)
{
	size_t n = base_strv_len(f->gids);
	f->gid_values = base_calloc(n ? n : 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		char *end;
		errno = 0;
		unsigned long g = strtoul(f->gids[i], &end, 10);
		if (errno || end == f->gids[i] || *end ||
		    f->gids[i][0] == '-' || g >= UINT32_MAX)
			return cli_error("invalid value \"%s\" for flag "
					 "--additional-gids: not a group id",
					 f->gids[i]);
		f->gid_values[i] = (uint32_t)g;
	}
	f->o.additional_gids = f->gid_values;
	f->o.n_additional_gids = n;
	return 0;
}

static int run_exec(struct cli *cli, struct exec_flags *f, const char *id)
{
	/* `exec ID -- CMD` is what some clients send. */
	size_t first = 1;
	if (cli->nargs > 1 && !strcmp(cli->args[1], "--"))
		first = 2;
	if (cli->nargs > first)
		f->o.args = cli->args + first;
	if (!f->o.process_file && !f->o.args)
		return cli_error("exec: a command or --process FILE is "
				 "required");
	f->o.process_label = f->process_label;
	f->o.apparmor = f->apparmor;
	f->o.env = f->env;
	f->o.caps = f->caps;
	if (parse_gids(f) != 0)
		return 1;
	f->o.cgroups = f->cgroups;

	struct berr err = {0};
	int status = 0;
	int r = rt_exec(&cli->ctx, id, &f->o, &status, &err);
	if (r < 0) {
		/* runc's exec: its own failures exit 255, apart from the
		 * program's statuses */
		cli_fail(r, &err);
		return 255;
	}
	return f->o.detach ? 0 : status;
}

int cli_cmd_exec(struct cli *cli, int argc, char **argv)
{
	_cleanup_(exec_flags_free) struct exec_flags f = {.env = NULL};
	const struct cli_opt opts[] = {
		{"process", "p", CLI_STR, &f.o.process_file, "FILE",
		 "JSON process object to run instead of COMMAND"},
		{"detach", "d", CLI_BOOL, &f.o.detach, NULL,
		 "do not wait for the process"},
		{"pid-file", NULL, CLI_STR, &f.o.pid_file, "FILE",
		 "write the process's pid to FILE"},
		{"console-socket", NULL, CLI_STR, &f.o.console_socket, "PATH",
		 "socket that receives the terminal's master fd"},
		{"pidfd-socket", NULL, CLI_STR, &f.o.pidfd_socket, "PATH",
		 "socket that receives a pidfd of the process"},
		{"tty", "t", CLI_BOOL, &f.o.tty, NULL,
		 "allocate a pseudo-terminal"},
		{"env", "e", CLI_STRV, &f.env, "K=V",
		 "set an environment variable (repeatable)"},
		{"cwd", NULL, CLI_STR, &f.o.cwd, "DIR",
		 "working directory inside the container"},
		{"user", "u", CLI_STR, &f.o.user, "UID[:GID]",
		 "user (and group) to run as"},
		{"cap", "c", CLI_STRV, &f.caps, "CAP",
		 "add a capability, e.g. CAP_NET_ADMIN (repeatable)"},
		{"no-new-privs", NULL, CLI_BOOL, &f.o.no_new_privs, NULL,
		 "set no_new_privs for the process"},
		{"additional-gids", "g", CLI_STRV, &f.gids, "GID",
		 "add a supplementary group (repeatable)"},
		{"ignore-paused", NULL, CLI_BOOL, &f.o.ignore_paused, NULL,
		 "exec even when the container is paused"},
		{"cgroup", NULL, CLI_STRV, &f.cgroups, "[CTRL:]SUB",
		 "run in an existing sub-cgroup of the container's "
		 "(repeatable)"},
		{"preserve-fds", NULL, CLI_COUNT, &f.o.preserve_fds, "N",
		 "pass N extra fds (3 .. 3+N-1) to the process"},
		{"process-label", NULL, CLI_STR, &f.process_label, "LABEL",
		 "SELinux label (not supported)"},
		{"apparmor", NULL, CLI_STR, &f.apparmor, "PROFILE",
		 "AppArmor profile (not supported)"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, CLI_STOP_AT_ARG, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 0, &id);
	if (r != CLI_CONTINUE)
		return r;
	return run_exec(cli, &f, id);
}
