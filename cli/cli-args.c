/* Go-style flag parsing and --help text for the berth command line. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* The global flags, pointing into cli. --version is only meaningful before
 * the command, but accepting it anywhere is harmless. */
#define NGLOBALS 10 /* with the terminator */

static void global_opts(struct cli *cli, struct cli_opt out[NGLOBALS])
{
	const struct cli_opt g[] = {
		{"root", NULL, CLI_STR, &cli->ctx.root, "DIR",
		 "container state directory (default " RT_DEFAULT_ROOT ")"},
		{"log", NULL, CLI_STR, &cli->log_path, "FILE",
		 "log to FILE instead of stderr"},
		{"log-format", NULL, CLI_STR, &cli->log_format, "FORMAT",
		 "format of the log: text or json (default text)"},
		{"debug", NULL, CLI_BOOL, &cli->ctx.debug, NULL,
		 "log debug messages"},
		{"systemd-cgroup", NULL, CLI_BOOL, &cli->ctx.systemd_cgroup,
		 NULL, "read cgroupsPath as slice:prefix:name (systemd)"},
		{"criu", NULL, CLI_STR, &cli->criu, "PATH",
		 "accepted for compatibility; unused"},
		{"rootless", NULL, CLI_STR, &cli->rootless, "VALUE",
		 "accepted for compatibility; unused"},
		{"help", "h", CLI_BOOL, &cli->help, NULL, "show help"},
		{"version", "v", CLI_BOOL, &cli->version, NULL,
		 "print the version"},
		CLI_OPT_END,
	};
	_Static_assert(ARRAY_SIZE(g) == NGLOBALS, "NGLOBALS is out of date");
	memcpy(out, g, sizeof(g));
}

int cli_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1",	  "t",	  "T",
					  "TRUE", "true", "True"};
	static const char *const no[] = {"0",	  "f",	   "F",
					 "FALSE", "false", "False"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct cli_opt *find_opt(const struct cli_opt *opts,
				      const char *name, size_t len)
{
	for (; opts && opts->name; opts++) {
		if (strlen(opts->name) == len &&
		    !strncmp(opts->name, name, len))
			return opts;
		if (opts->alias && strlen(opts->alias) == len &&
		    !strncmp(opts->alias, name, len))
			return opts;
	}
	return NULL;
}

static void usage_hint(const struct cli *cli)
{
	if (cli->cmd)
		fprintf(stderr, "Run 'berth %s --help' for usage.\n",
			cli->cmd->name);
	else
		fprintf(stderr, "Run 'berth --help' for usage.\n");
}

/* Stores value (NULL: none given) into o's destination. */
static int set_opt(const struct cli_opt *o, const char *flag, const char *value)
{
	bool b;
	int n;

	switch (o->kind) {
	case CLI_BOOL:
		if (value && cli_parse_bool(value, &b) < 0) {
			fprintf(stderr,
				"berth: invalid boolean value \"%s\" for flag "
				"%s\n",
				value, flag);
			return -EINVAL;
		}
		*(bool *)o->dest = value ? b : true;
		return 0;
	case CLI_STR:
		*(const char **)o->dest = value;
		return 0;
	case CLI_COUNT:
		if (base_parse_int(value, &n) < 0 || n < 0) {
			fprintf(stderr,
				"berth: invalid value \"%s\" for flag %s: "
				"expected a number >= 0\n",
				value, flag);
			return -EINVAL;
		}
		*(int *)o->dest = n;
		return 0;
	case CLI_STRV:
		base_strv_push((char ***)o->dest, value);
		return 0;
	}
	return -EINVAL;
}

/* docker's bundled short flags, for a single-dash word that names no
 * flag: -it is -i -t, -dit is -d -i -t. Each letter is a one-letter
 * flag; one that takes a value takes the rest of the word (-p80:80) or,
 * last in the word, the next argument (-dp 80:80). */
static int parse_bundle(const struct cli_opt *opts,
			const struct cli_opt *globals, int argc, char **argv,
			int *i)
{
	const char *word = argv[*i];
	for (const char *c = word + 1; *c; c++) {
		const struct cli_opt *o = find_opt(opts, c, 1);
		if (!o)
			o = find_opt(globals, c, 1);
		if (!o) {
			fprintf(stderr,
				"berth: unknown flag: %s (no flag -%c)\n", word,
				*c);
			return -EINVAL;
		}
		char flag[4] = {'-', *c, '\0'};
		if (o->kind == CLI_BOOL) {
			if (set_opt(o, flag, NULL) < 0)
				return -EINVAL;
			continue;
		}
		const char *value = c[1] ? c + 1 : NULL;
		if (!value) {
			if (*i + 1 >= argc) {
				fprintf(stderr,
					"berth: flag needs an argument: -%c "
					"(in %s)\n",
					*c, word);
				return -EINVAL;
			}
			value = argv[++*i];
		}
		return set_opt(o, flag, value);
	}
	return 0;
}

/* One flag at argv[*i]; advances *i past a separate value. */
static int parse_flag(struct cli *cli, const struct cli_opt *opts,
		      const struct cli_opt *globals, int argc, char **argv,
		      int *i)
{
	const char *arg = argv[*i];
	const char *name = arg + (arg[1] == '-' ? 2 : 1);
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	int flen = (int)(name - arg) + (int)len;

	const struct cli_opt *o = NULL;
	if (len > 0 && name[0] != '-' && name[0] != '=') {
		o = find_opt(opts, name, len);
		if (!o)
			o = find_opt(globals, name, len);
	}
	if (!o && name == arg + 1 && !eq && len > 1)
		return parse_bundle(opts, globals, argc, argv, i);
	if (!o) {
		fprintf(stderr, "berth: unknown flag: %.*s\n", flen, arg);
		usage_hint(cli);
		return -EINVAL;
	}

	char flag[128];
	snprintf(flag, sizeof(flag), "%.*s", flen, arg);
	const char *value = eq ? eq + 1 : NULL;
	if (!value && o->kind != CLI_BOOL) {
		if (*i + 1 >= argc) {
			fprintf(stderr, "berth: flag needs an argument: %s\n",
				flag);
			usage_hint(cli);
			return -EINVAL;
		}
		value = argv[++*i];
	}
	return set_opt(o, flag, value);
}

int cli_args_parse(struct cli *cli, const struct cli_opt *opts, unsigned flags,
		   int argc, char **argv)
{
	struct cli_opt globals[NGLOBALS];
	global_opts(cli, globals);

	/* Positional arguments are compacted to the front of argv: the
	 * write index never passes the read index. */
	int npos = 0;
	bool only_args = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (only_args || a[0] != '-' || a[1] == '\0') {
			argv[npos++] = argv[i];
			if (flags & CLI_STOP_AT_ARG)
				only_args = true;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (parse_flag(cli, opts, globals, argc, argv, &i) < 0)
			return -1;
	}
	/* argv is a suffix of main's, so argv[argc] exists and is NULL. */
	argv[npos] = NULL;
	cli->args = argv;
	cli->nargs = (size_t)npos;
	return 0;
}

static void print_opts(const struct cli_opt *o, FILE *out)
{
	for (; o && o->name; o++) {
		char lhs[64];
		int n = 0;
		if (o->alias)
			n = snprintf(lhs, sizeof(lhs), "-%s, ", o->alias);
		else
			n = snprintf(lhs, sizeof(lhs), "    ");
		snprintf(lhs + n, sizeof(lhs) - (size_t)n, "--%s%s%s", o->name,
			 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		if (o->kind == CLI_STRV)
			snprintf(lhs + strlen(lhs), sizeof(lhs) - strlen(lhs),
				 " ...");
		if (strlen(lhs) > 26)
			fprintf(out, "  %s\n  %-26s  %s\n", lhs, "", o->help);
		else
			fprintf(out, "  %-26s  %s\n", lhs, o->help);
	}
}

void cli_usage(const struct cli *cli, const struct cli_opt *opts, FILE *out)
{
	if (!cli->cmd) {
		cli_main_usage(out);
		return;
	}
	fprintf(out, "Usage: berth %s [options]%s%s\n\n%s\n", cli->cmd->name,
		cli->cmd->synopsis[0] ? " " : "", cli->cmd->synopsis,
		cli->cmd->summary);
	if (opts && opts->name) {
		fprintf(out, "\nOptions:\n");
		print_opts(opts, out);
	}
	fprintf(out, "\nThe global options (see 'berth --help') are accepted "
		     "here too.\n");
}

void cli_main_usage(FILE *out)
{
	struct cli dummy = {0};
	struct cli_opt globals[NGLOBALS];
	global_opts(&dummy, globals);

	fprintf(out, "Usage: berth [global options] COMMAND [options] "
		     "[arguments]\n\n"
		     "berth is an OCI container runtime; it is called like "
		     "runc.\n\nCommands:\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		fprintf(out, "  %-10s  %s\n", c->name, c->summary);
	fprintf(out, "\nGlobal options (before or after the command):\n");
	print_opts(globals, out);
	fprintf(out, "\nRun 'berth COMMAND --help' for a command's options.\n");
}

int cli_parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v > 0))
		return -EINVAL;
	double mul = 1;
	switch (tolower((unsigned char)*end)) {
	case 'k':
		mul = 1024.0;
		break;
	case 'm':
		mul = 1024.0 * 1024;
		break;
	case 'g':
		mul = 1024.0 * 1024 * 1024;
		break;
	case 't':
		mul = 1024.0 * 1024 * 1024 * 1024;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
			end += strlen(end);
	}
	if (*end || v * mul > (double)INT64_MAX)
		return -EINVAL;
	*out = (int64_t)(v * mul);
	return 0;
}

char *cli_agent_path(void)
{
	const char *env = getenv("BERTH_AGENT");
	if (env && *env)
		return base_strdup(env);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return base_strdup("berth-agent");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return base_sprintf("%s/berth-agent", exe);
}

void cli_enter_subcommand(struct cli *cli, struct cli_command *cmd, char *name,
			  size_t len, const char *sub, const char *synopsis,
			  const char *summary)
{
	snprintf(name, len, "%s %s", cli->cmd->name, sub);
	*cmd = (struct cli_command){name, synopsis, summary, cli->cmd->fn};
	cli->cmd = cmd;
}

void cli_human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)n;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, "%.3g%s", v, units[u]);
}
