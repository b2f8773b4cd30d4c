/* berth containers [-a] [-q] [--format table|json]: the launched
 * containers, as docker ps lists them (`list` and `ps` stay runc's). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define NCOLS 7

static char *ports_text(char *const *v)
{
	char *s = base_strdup("");
	for (size_t i = 0; v && v[i]; i++) {
		char *n = base_sprintf("%s%s%s", s, i ? ", " : "", v[i]);
		free(s);
		s = n;
	}
	return s;
}

static void row_of(const struct eng_ctr_info *c, int64_t now,
		   char *cells[NCOLS])
{
	char d[48];
	eng_human_duration(now - c->created_s, d, sizeof(d));
	cells[0] = base_sprintf("%.12s", c->id);
	cells[1] = base_strdup(c->image);
	cells[2] = strlen(c->command) > 20
			   ? base_sprintf("\"%.19s…\"", c->command)
			   : base_sprintf("\"%s\"", c->command);
	cells[3] = base_sprintf("%s ago", d);
	cells[4] = base_strdup(c->status_text);
	cells[5] = ports_text(c->ports);
	cells[6] = base_strdup(c->id);
}

static void print_table(const struct eng_ctr_info *v, size_t n)
{
	static const char *head[NCOLS] = {"CONTAINER ID", "IMAGE",  "COMMAND",
					  "CREATED",	  "STATUS", "PORTS",
					  "NAMES"};
	int64_t now = (int64_t)time(NULL);
	char *(*cells)[NCOLS] = base_calloc(n + 1, sizeof(*cells));
	size_t w[NCOLS] = {0};
	for (size_t c = 0; c < NCOLS; c++)
		cells[0][c] = base_strdup(head[c]);
	for (size_t i = 0; i < n; i++)
		row_of(&v[i], now, cells[i + 1]);
	for (size_t i = 0; i <= n; i++)
		for (size_t c = 0; c < NCOLS; c++)
			if (strlen(cells[i][c]) > w[c])
				w[c] = strlen(cells[i][c]);
	for (size_t i = 0; i <= n; i++) {
		for (size_t c = 0; c < NCOLS; c++) {
			if (c == NCOLS - 1)
				printf("%s\n", cells[i][c]);
			else
				printf("%-*s   ", (int)w[c], cells[i][c]);
			free(cells[i][c]);
		}
	}
	free(cells);
}

static void print_json(const struct eng_ctr_info *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "ID", v[i].id);
		cJSON_AddStringToObject(o, "Names", v[i].id);
		cJSON_AddStringToObject(o, "Image", v[i].image);
		cJSON_AddStringToObject(o, "Command", v[i].command);
		cJSON_AddStringToObject(o, "CreatedAt", v[i].created);
		cJSON_AddStringToObject(o, "State",
					oci_status_name(v[i].status));
		cJSON_AddStringToObject(o, "Status", v[i].status_text);
		if (v[i].exit_code >= 0)
			cJSON_AddNumberToObject(o, "ExitCode", v[i].exit_code);
		cJSON *p = cJSON_AddArrayToObject(o, "Ports");
		for (size_t k = 0; v[i].ports && v[i].ports[k]; k++)
			cJSON_AddItemToArray(p,
					     cJSON_CreateString(v[i].ports[k]));
		cJSON_AddStringToObject(o, "RestartPolicy", v[i].restart);
		cJSON_AddNumberToObject(o, "RestartCount", v[i].restarts);
		cJSON_AddItemToArray(a, o);
	}
	char *s = cJSON_PrintUnformatted(a);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(a);
}

int cli_cmd_containers(struct cli *cli, int argc, char **argv)
{
	bool all = false, quiet = false;
	const char *format = NULL;
	const struct cli_opt opts[] = {
		{"all", "a", CLI_BOOL, &all, NULL,
		 "stopped containers too (default: running ones)"},
		{"quiet", "q", CLI_BOOL, &quiet, NULL, "only the names"},
		{"format", NULL, CLI_STR, &format, "table|json",
		 "the output's form (default table)"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs)
		return cli_error("containers: unexpected argument \"%s\"",
				 cli->args[0]);
	if (format && strcmp(format, "table") && strcmp(format, "json"))
		return cli_error("containers: --format `%s`: expected table "
				 "or json",
				 format);
	struct eng_ctr_info *v = NULL;
	size_t n = 0;
	struct berr err = {0};
	r = eng_ctr_list(&cli->ctx, all, &v, &n, &err);
	if (r < 0)
		return cli_fail(r, &err);
	if (quiet)
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i].id);
	else if (format && !strcmp(format, "json"))
		print_json(v, n);
	else
		print_table(v, n);
	eng_ctr_info_free(v, n);
	return 0;
}
