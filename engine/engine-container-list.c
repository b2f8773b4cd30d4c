/* `berth containers`: the launched containers of a state root as docker
 * ps shows them, from the runtime's list, the engine's records and the
 * endpoints' published ports. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

void eng_human_duration(int64_t s, char *buf, size_t len)
{
	int64_t m = s / 60, h = s / 3600, d = h / 24;
	if (s < 1)
		snprintf(buf, len, "Less than a second");
	else if (s == 1)
		snprintf(buf, len, "1 second");
	else if (s < 60)
		snprintf(buf, len, "%lld seconds", (long long)s);
	else if (m == 1)
		snprintf(buf, len, "About a minute");
	else if (m < 60)
		snprintf(buf, len, "%lld minutes", (long long)m);
	else if (h == 1)
		snprintf(buf, len, "About an hour");
	else if (h < 48)
		snprintf(buf, len, "%lld hours", (long long)h);
	else if (d < 14)
		snprintf(buf, len, "%lld days", (long long)d);
	else if (d < 60)
		snprintf(buf, len, "%lld weeks", (long long)(d / 7));
	else if (d < 730)
		snprintf(buf, len, "%lld months", (long long)(d / 30));
	else
		snprintf(buf, len, "%lld years", (long long)(d / 365));
}

static const char *kv(const struct rt_list_entry *e, const char *key)
{
	for (size_t i = 0; i < e->n_annotations; i++)
		if (!strcmp(e->annotations[i].key, key))
			return e->annotations[i].value;
	return NULL;
}

static cJSON *read_json(int dirfd, const char *name)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (base_read_file_at(dirfd, name, &text, &len, 1 << 20) < 0)
		return NULL;
	return cJSON_ParseWithLength(text, len);
}

static double num(const cJSON *o, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* The args as one line, each quoted when it holds a blank, as docker
 * ps shows COMMAND. */
static char *command_line(const cJSON *args)
{
	char *s = base_strdup("");
	const cJSON *a;
	cJSON_ArrayForEach(a, args)
	{
		const char *v = cJSON_GetStringValue(a);
		if (!v)
			continue;
		bool q = strpbrk(v, " \t") != NULL;
		char *n = base_sprintf("%s%s%s%s%s", s, *s ? " " : "",
				       q ? "\"" : "", v, q ? "\"" : "");
		free(s);
		s = n;
	}
	return s;
}

/* The ports endpoint.json records for the endpoint the annotation names
 * (only a directory of endpoints: the annotation is the container's). */
static char **ports_of(const struct rt_list_entry *e)
{
	const char *dir = kv(e, ENG_ENDPOINT_ANNOTATION);
	if (!dir || dir[0] != '/' || !strstr(dir, "/.net/endpoints/") ||
	    strstr(dir, "/../"))
		return NULL;
	_cleanup_close_ int fd =
		open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_cjson_ cJSON *o =
		fd < 0 ? NULL : read_json(fd, "endpoint.json");
	char **v = NULL;
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(o, "ports"))
	{
		if (cJSON_GetStringValue(p))
			base_strv_push(&v, cJSON_GetStringValue(p));
	}
	return v;
}

static void status_text(struct eng_ctr_info *c, int64_t now)
{
	char d[48];
	switch (c->status) {
	case OCI_STATUS_RUNNING:
	case OCI_STATUS_PAUSED:
		eng_human_duration(
			now - (c->started_s ? c->started_s : c->created_s), d,
			sizeof(d));
		snprintf(c->status_text, sizeof(c->status_text), "Up %s%s", d,
			 c->status == OCI_STATUS_PAUSED ? " (Paused)" : "");
		break;
	case OCI_STATUS_STOPPED:
		eng_human_duration(now - (c->finished_s ? c->finished_s : now),
				   d, sizeof(d));
		snprintf(c->status_text, sizeof(c->status_text),
			 "Exited (%d) %s ago",
			 c->exit_code < 0 ? 0 : c->exit_code, d);
		break;
	default:
		snprintf(c->status_text, sizeof(c->status_text), "Created");
	}
}

static void fill(const char *root, const struct rt_list_entry *e,
		 struct eng_ctr_info *c, int64_t now)
{
	c->id = base_strdup(e->id);
	c->status = e->status;
	c->created = base_strdup(e->created);
	c->exit_code = -1;
	c->ports = ports_of(e);
	_cleanup_close_ int fd = eng_ctr_dir_open(root, e->id);
	_cleanup_cjson_ cJSON *cfg =
		fd < 0 ? NULL : read_json(fd, "config.json");
	_cleanup_cjson_ cJSON *st = fd < 0 ? NULL : read_json(fd, "state.json");
	const char *image =
		cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "image"));
	const char *restart =
		cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "restart"));
	c->image = base_strdup(image ? image : "");
	c->restart = base_strdup(restart ? restart : "no");
	c->command = command_line(cJSON_GetObjectItem(cfg, "command"));
	c->created_s = (int64_t)num(cfg, "created_s", 0);
	c->started_s = (int64_t)num(st, "started", 0);
	c->finished_s = (int64_t)num(st, "finished", 0);
	c->exit_code = (int)num(st, "exit_code", -1);
	c->restarts = (int)num(st, "restarts", 0);
	/* a running container's last exit was an earlier run's */
	if (c->status != OCI_STATUS_STOPPED)
		c->exit_code = -1;
	status_text(c, now);
}

int eng_ctr_list(const struct rt_ctx *ctx, bool all, struct eng_ctr_info **out,
		 size_t *n, struct berr *err)
{
	*out = NULL;
	*n = 0;
	struct rt_list_entry *v = NULL;
	size_t nv = 0;
	int r = rt_list(ctx, &v, &nv, err);
	if (r < 0)
		return r;
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	int64_t now = (int64_t)time(NULL);
	struct eng_ctr_info *res = nv ? base_calloc(nv, sizeof(*res)) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < nv; i++) {
		const char *owner = kv(&v[i], ENG_LAUNCH_ANNOTATION);
		if (!owner || strcmp(owner, v[i].id))
			continue;
		if (!all && v[i].status == OCI_STATUS_STOPPED)
			continue;
		fill(root, &v[i], &res[k++], now);
	}
	rt_list_free(v, nv);
	*out = res;
	*n = k;
	return 0;
}

void eng_ctr_info_free(struct eng_ctr_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].image);
		free(v[i].command);
		free(v[i].created);
		free(v[i].restart);
		base_strv_free(v[i].ports);
	}
	free(v);
}
