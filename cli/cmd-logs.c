/* berth logs [-f] [--tail N] [-t] [--since T] NAME: a launched container's
 * log, stdout's records to stdout and stderr's to stderr, as docker logs
 * prints them. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

struct print {
	bool timestamps;
};

static int print_record(const char *stream, const char *text, size_t len,
			const char *time, void *data)
{
	const struct print *p = data;
	FILE *f = strcmp(stream, "stderr") ? stdout : stderr;
	if (p->timestamps)
		fprintf(f, "%s ", time);
	fwrite(text, 1, len, f);
	/* a follower sees each line as it comes */
	fflush(f);
	return ferror(f) ? -EPIPE : 0;
}

int cli_logs_window(const char *tail, const char *since, long *tail_out,
		    int64_t *since_ns)
{
	int n;
	if (tail && strcmp(tail, "all")) {
		if (base_parse_int(tail, &n) < 0 || n < 0)
			return cli_error("logs: --tail `%s`: expected a number "
					 "or all",
					 tail);
		*tail_out = n;
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (since && eng_parse_since(since, &now, since_ns) < 0)
		return cli_error("logs: --since `%s`: expected RFC 3339, Unix "
				 "seconds or a duration such as 10m",
				 since);
	return CLI_CONTINUE;
}

static int print_log_record(const char *label, const char *stream,
			    const char *text, size_t len, const char *time,
			    void *data)
{
	(void)stream;
	const struct cli_log_print *p = data;
	if (len && text[len - 1] == '\n')
		len--;
	if (p->timestamps && *time)
		printf("%s%s%s %.*s\n", label, p->sep, time, (int)len, text);
	else
		printf("%s%s%.*s\n", label, p->sep, (int)len, text);
	/* a follower sees each line as it comes */
	if (p->follow)
		fflush(stdout);
	return ferror(stdout) ? -EPIPE : 0;
}

int cli_job_logs(struct cli *cli, const char *job, char *const *groups,
		 const struct cli_log_print *pr, const char *tail,
		 const char *since, bool none_ok)
{
	struct eng_job_logs_opts o = {.groups = groups,
				      .follow = pr->follow,
				      .tail = -1,
				      .record = print_log_record,
				      .data = (void *)pr};
	int r = cli_logs_window(tail, since, &o.tail, &o.since_ns);
	if (r != CLI_CONTINUE)
		return r;
	signal(SIGPIPE, SIG_IGN);
	struct berr err = {0};
	r = eng_job_logs(&cli->ctx, job, &o, &err);
	if (r == -ENOENT && none_ok)
		return 0;
	return r < 0 ? cli_fail(r, &err) : 0;
}

int cli_cmd_logs(struct cli *cli, int argc, char **argv)
{
	bool follow = false;
	struct print p = {0};
	const char *tail = NULL, *since = NULL;
	const struct cli_opt opts[] = {
		{"follow", "f", CLI_BOOL, &follow, NULL,
		 "follow the log until the container has exited"},
		{"tail", "n", CLI_STR, &tail, "N",
		 "only the last N lines (default all)"},
		{"timestamps", "t", CLI_BOOL, &p.timestamps, NULL,
		 "show each line's time"},
		{"since", NULL, CLI_STR, &since, "TIME",
		 "lines since TIME (RFC 3339, Unix seconds or 10m, 2h)"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	const char *id;
	if (r == CLI_CONTINUE)
		r = cli_take_id(cli, 1, &id);
	if (r != CLI_CONTINUE)
		return r;
	struct eng_logs_opts o = {.follow = follow,
				  .tail = -1,
				  .record = print_record,
				  .data = &p};
	r = cli_logs_window(tail, since, &o.tail, &o.since_ns);
	if (r != CLI_CONTINUE)
		return r;
	struct berr err = {0};
	r = eng_ctr_logs(&cli->ctx, id, &o, &err);
	return r < 0 ? cli_fail(r, &err) : 0;
}
