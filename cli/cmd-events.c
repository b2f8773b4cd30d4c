/* berth events [--stats] [--interval 5s] ID
 *
 * Prints one JSON object per line: the container's statistics (once with
 * --stats, else every interval) and its OOM kills, until it stops. The
 * interval is a Go duration, as runc takes it: "5s", "500ms", "1m30s". */
#include <string.h>

#include "cli/cli.h"

/* Go's time.ParseDuration, to milliseconds (at least 1 for any positive
 * duration). -EINVAL when malformed, -ERANGE when absurdly long. */
static int parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{"ns", 1},  {"us", 1e3}, {"\u00b5s", 1e3}, {"ms", 1e6},
		{"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
	};
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	if (!strcmp(p, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		char *end = NULL;
		if ((*p < '0' || *p > '9') && *p != '.')
			return -EINVAL;
		double v = strtod(p, &end);
		if (end == p)
			return -EINVAL;
		p = end;
		size_t best = 0, best_len = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].unit);
			if (!strncmp(p, units[i].unit, l) && l > best_len) {
				best = i;
				best_len = l;
			}
		}
		if (!best_len)
			return -EINVAL;
		total += v * units[best].ns;
		p += best_len;
	}
	if (total > 1e18)
		return -ERANGE;
	*ms = (uint64_t)(total / 1e6);
	if (*ms == 0 && total > 0)
		*ms = 1;
	return 0;
}

static int print_event(const char *json, void *data)
{
	(void)data;
	if (fputs(json, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF)
		return -(errno ? errno : EIO);
	return 0;
}

int cli_cmd_events(struct cli *cli, int argc, char **argv)
{
	bool stats = false;
	const char *interval = "5s";
	const struct cli_opt opts[] = {
		{"stats", NULL, CLI_BOOL, &stats, NULL,
		 "print the container's statistics once, then exit"},
		{"interval", NULL, CLI_STR, &interval, "DURATION",
		 "time between statistics (default 5s)"},
		CLI_OPT_END,
	};
	const char *id = NULL;
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;
	uint64_t ms = 0;
	if (parse_duration_ms(interval, &ms) < 0 || ms > UINT32_MAX)
		return cli_error("invalid value \"%s\" for --interval: "
				 "expected a duration such as 5s or 500ms",
				 interval);
	if (ms == 0)
		return cli_error("duration interval must be greater than 0");

	struct rt_events_opts o = {
		.stats = stats,
		.interval_ms = (unsigned)ms,
		.emit = print_event,
	};
	struct berr err = {0};
	r = rt_events(&cli->ctx, id, &o, &err);
	if (r < 0)
		return cli_fail(r, &err);
	return 0;
}
