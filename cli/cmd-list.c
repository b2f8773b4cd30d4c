/* berth list [--format table|json] [--quiet] */
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

enum { NCOLS = 6 };

struct list_result {
	struct rt_list_entry *v;
	size_t n;
};

static void list_result_free(struct list_result *l)
{
	rt_list_free(l->v, l->n);
}

/* Columns as runc's tabwriter (minwidth 12, padding 3) lays them out: each
 * but the last is as wide as its longest cell plus 3, at least 12. */
static void print_table(const struct rt_list_entry *v, size_t n)
{
	static const char *const head[NCOLS] = {"ID",	  "PID",     "STATUS",
						"BUNDLE", "CREATED", "OWNER"};
	char pid[24];
	size_t width[NCOLS];
	for (size_t c = 0; c < NCOLS; c++)
		width[c] = strlen(head[c]);
	for (size_t i = 0; i < n; i++) {
		snprintf(pid, sizeof(pid), "%d", (int)v[i].pid);
		const char *cell[NCOLS] = {
			v[i].id,     pid,	   oci_status_name(v[i].status),
			v[i].bundle, v[i].created, v[i].owner};
		for (size_t c = 0; c < NCOLS; c++)
			if (cell[c] && strlen(cell[c]) > width[c])
				width[c] = strlen(cell[c]);
	}
	for (size_t c = 0; c < NCOLS; c++)
		width[c] = width[c] + 3 < 12 ? 12 : width[c] + 3;

	for (size_t c = 0; c < NCOLS - 1; c++)
		printf("%-*s", (int)width[c], head[c]);
	printf("%s\n", head[NCOLS - 1]);
	for (size_t i = 0; i < n; i++) {
		snprintf(pid, sizeof(pid), "%d", (int)v[i].pid);
		printf("%-*s%-*s%-*s%-*s%-*s%s\n", (int)width[0], v[i].id,
		       (int)width[1], pid, (int)width[2],
		       oci_status_name(v[i].status), (int)width[3],
		       v[i].bundle ? v[i].bundle : "", (int)width[4],
		       v[i].created ? v[i].created : "",
		       v[i].owner ? v[i].owner : "");
	}
}

static void cJSON_Deletep(cJSON **j)
{
	cJSON_Delete(*j);
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
	return cJSON_AddStringToObject(o, k, v ? v : "") != NULL;
}

/* runc's fields in runc's order; annotations only when there are some. */
static bool add_entry(cJSON *o, const struct rt_list_entry *e)
{
	if (!add_str(o, "ociVersion", e->oci_version) ||
	    !add_str(o, "id", e->id) ||
	    !cJSON_AddNumberToObject(o, "pid", e->pid) ||
	    !add_str(o, "status", oci_status_name(e->status)) ||
	    !add_str(o, "bundle", e->bundle) ||
	    !add_str(o, "rootfs", e->rootfs) ||
	    !add_str(o, "created", e->created))
		return false;
	if (e->n_annotations) {
		cJSON *a = cJSON_AddObjectToObject(o, "annotations");
		for (size_t k = 0; a && k < e->n_annotations; k++)
			if (!add_str(a, e->annotations[k].key,
				     e->annotations[k].value))
				return false;
		if (!a)
			return false;
	}
	return add_str(o, "owner", e->owner);
}

static int print_json(const struct rt_list_entry *v, size_t n)
{
	_cleanup_(cJSON_Deletep) cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o) || !add_entry(o, &v[i]))
			return -ENOMEM;
	}
	_cleanup_free_ char *s = cJSON_PrintUnformatted(arr);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	return 0;
}

int cli_cmd_list(struct cli *cli, int argc, char **argv)
{
	const char *format = "table";
	bool quiet = false;
	const struct cli_opt opts[] = {
		{"format", "f", CLI_STR, &format, "FORMAT",
		 "table or json (default table)"},
		{"quiet", "q", CLI_BOOL, &quiet, NULL,
		 "print only the container ids"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs > 0)
		return cli_error("list: unexpected argument \"%s\"",
				 cli->args[0]);
	bool json = !strcmp(format, "json");
	if (!json && strcmp(format, "table"))
		return cli_error(
			"invalid format \"%s\": expected table or json",
			format);

	struct berr err = {0};
	_cleanup_(list_result_free) struct list_result l = {NULL, 0};
	r = rt_list(&cli->ctx, &l.v, &l.n, &err);
	if (r < 0)
		return cli_fail(r, &err);

	if (quiet) {
		for (size_t i = 0; i < l.n; i++)
			printf("%s\n", l.v[i].id);
	} else if (json) {
		if (print_json(l.v, l.n) < 0)
			return cli_error("list: %s", strerror(ENOMEM));
	} else {
		print_table(l.v, l.n);
	}
	return 0;
}
