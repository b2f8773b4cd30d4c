/* berth ps [--format table|json] ID [ps options]
 *
 * json prints the container's pids; table runs ps(1) with the given options
 * (default -ef) and keeps its header and the lines of the container's
 * processes, found through the header's PID column, as runc does. */
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/cli.h"

extern char **environ;

struct pid_set {
	pid_t *v;
	size_t n;
};

static bool pid_set_has(const struct pid_set *s, long pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == pid)
			return true;
	return false;
}

/* Runs ps with args, returning its stdout and stderr together. */
static int run_ps(char **args, char **out)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cli_error("ps: pipe: %s", strerror(errno));
	_cleanup_close_ int rd = p[0];
	_cleanup_close_ int wr = p[1];

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, wr, 1);
	posix_spawn_file_actions_adddup2(&fa, wr, 2);
	pid_t pid;
	int r = posix_spawnp(&pid, "ps", &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return cli_error("ps: %s", strerror(r));
	close(TAKE_FD(wr));

	size_t len = 0, cap = 4096;
	_cleanup_free_ char *buf = base_calloc(cap, 1);
	for (;;) {
		if (cap - len < 2048) {
			buf = base_realloc(buf, cap * 2, 1);
			cap *= 2;
		}
		ssize_t k = read(rd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	buf[len] = '\0';

	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return cli_error("ps: wait: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* ps's own complaint first: stderr must end with ours. */
		fputs(buf, stderr);
		return cli_error("ps: exit status %d",
				 WIFEXITED(status) ? WEXITSTATUS(status)
						   : 128 + WTERMSIG(status));
	}
	*out = TAKE_PTR(buf);
	return 0;
}

/* The index of the PID column in ps's header, or -1. */
static int pid_column(const char *header)
{
	_cleanup_free_ char *h = base_strdup(header);
	char *save = NULL;
	int i = 0;
	for (char *f = strtok_r(h, " \t", &save); f;
	     f = strtok_r(NULL, " \t", &save), i++)
		if (!strcmp(f, "PID"))
			return i;
	return -1;
}

/* The idx-th whitespace-separated field of line as a pid, or -1. */
static long field_pid(const char *line, int idx)
{
	_cleanup_free_ char *l = base_strdup(line);
	char *save = NULL;
	char *f = strtok_r(l, " \t", &save);
	for (int i = 0; f && i < idx; i++)
		f = strtok_r(NULL, " \t", &save);
	int64_t v;
	if (!f || base_parse_i64(f, &v) < 0)
		return -1;
	return (long)v;
}

static int print_table(const struct cli *cli, const struct pid_set *pids)
{
	_cleanup_strv_ char **args = NULL;
	base_strv_push(&args, "ps");
	for (size_t i = 1; i < cli->nargs; i++)
		base_strv_push(&args, cli->args[i]);
	if (cli->nargs < 2)
		base_strv_push(&args, "-ef");

	_cleanup_free_ char *out = NULL;
	if (run_ps(args, &out) != 0)
		return 1;
	char *save = NULL;
	char *header = strtok_r(out, "\n", &save);
	int col = header ? pid_column(header) : -1;
	if (col < 0)
		return cli_error("ps: couldn't find PID field in ps output");
	printf("%s\n", header);
	for (char *l = strtok_r(NULL, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		long pid = field_pid(l, col);
		if (pid < 0)
			return cli_error("ps: unable to parse pid in \"%s\"",
					 l);
		if (pid_set_has(pids, pid))
			printf("%s\n", l);
	}
	return 0;
}

static void pid_set_free(struct pid_set *s)
{
	free(s->v);
}

int cli_cmd_ps(struct cli *cli, int argc, char **argv)
{
	const char *format = "table";
	const struct cli_opt opts[] = {
		{"format", "f", CLI_STR, &format, "FORMAT",
		 "table or json (default table)"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, CLI_STOP_AT_ARG, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 0, &id);
	if (r != CLI_CONTINUE)
		return r;
	bool json = !strcmp(format, "json");
	if (!json && strcmp(format, "table"))
		return cli_error(
			"invalid format \"%s\": expected table or json",
			format);

	struct berr err = {0};
	_cleanup_(pid_set_free) struct pid_set pids = {NULL, 0};
	r = rt_ps(&cli->ctx, id, &pids.v, &pids.n, &err);
	if (r < 0)
		return cli_fail(r, &err);

	if (!json)
		return print_table(cli, &pids);
	printf("[");
	for (size_t i = 0; i < pids.n; i++)
		printf("%s%d", i ? "," : "", (int)pids.v[i]);
	printf("]\n");
	return 0;
}
