/* A job group's dependencies and health check (what compose's depends_on
 * and healthcheck become): read from the job file, and the runner's view
 * of when a group may start.
 *
 *   "depends_on": {"db": "service_healthy", "init":
 * "service_completed_successfully"} "depends_on": ["db"] (service_started)
 *   "healthcheck": {"test": ["CMD", "nc", "-z", "localhost", "6379"]
 *                          | ["CMD-SHELL", "..."] | "...",
 *                   "interval": "500ms", "retries": 10}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-internal.h"

static const char *const conds[] = {
	[ENG_DEP_STARTED] = "service_started",
	[ENG_DEP_HEALTHY] = "service_healthy",
	[ENG_DEP_COMPLETED] = "service_completed_successfully",
};

static int dep_add(struct eng_job_group *g, const char *name, const char *cond,
		   struct berr *err, const char *at)
{
	int c = -1;
	for (size_t i = 0; i < ARRAY_SIZE(conds); i++)
		if (!strcmp(cond, conds[i]))
			c = (int)i;
	if (c < 0)
		return berr_setx(
			err, EINVAL,
			"%s.%s: unknown condition `%s` (service_started, "
			"service_healthy or service_completed_successfully)",
			at, name, cond);
	g->deps = base_realloc(g->deps, g->n_deps + 1, sizeof(*g->deps));
	g->deps[g->n_deps++] =
		(struct eng_job_dep){.group = base_strdup(name),
				     .cond = (enum eng_job_cond)c,
				     .index = -1};
	return 0;
}

/* A duration as compose writes them: 500ms, 2s, 1m30s; bare numbers are
 * seconds. */
int eng_duration_ms(const char *s, int *ms)
{
	double total = 0;
	const char *p = s;
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -EINVAL;
		double mul = !strncmp(end, "ms", 2) ? 1
			     : *end == 'h'	    ? 3600e3
			     : *end == 'm'	    ? 60e3
			     : *end == 's' || !*end ? 1e3
						    : -1;
		if (mul < 0)
			return -EINVAL;
		total += v * mul;
		p = end + (!strncmp(end, "ms", 2) ? 2 : *end ? 1 : 0);
	}
	if (total > 86400e3)
		return -ERANGE;
	*ms = (int)total;
	return 0;
}

static int health(struct eng_job_group *g, const cJSON *h, const char *at,
		  struct berr *err)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(h, "test");
	if (cJSON_IsString(t)) {
		base_strv_push(&g->health, "/bin/sh");
		base_strv_push(&g->health, "-c");
		base_strv_push(&g->health, t->valuestring);
	} else if (cJSON_IsArray(t) && cJSON_GetStringValue(t->child)) {
		const char *kind = t->child->valuestring;
		bool shell = !strcmp(kind, "CMD-SHELL");
		if (!shell && strcmp(kind, "CMD") && strcmp(kind, "NONE"))
			return berr_setx(
				err, EINVAL,
				"%s.test: CMD, CMD-SHELL or NONE first", at);
		if (shell) {
			base_strv_push(&g->health, "/bin/sh");
			base_strv_push(&g->health, "-c");
		}
		for (const cJSON *e = t->child->next; e; e = e->next)
			if (cJSON_GetStringValue(e))
				base_strv_push(&g->health, e->valuestring);
		if (!strcmp(kind, "NONE")) {
			base_strv_free(g->health);
			g->health = NULL;
		}
	} else {
		return berr_setx(err, EINVAL, "%s.test: a command", at);
	}
	const char *iv = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(h, "interval"));
	g->health_interval_ms = 30000; /* docker's default */
	if (iv && eng_duration_ms(iv, &g->health_interval_ms) < 0)
		return berr_setx(err, EINVAL,
				 "%s.interval: `%s`: a duration "
				 "such as 500ms or 2s",
				 at, iv);
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(h, "retries");
	g->health_retries = 3;
	if (re && (!cJSON_IsNumber(re) || re->valuedouble < 1 ||
		   re->valuedouble > 10000))
		return berr_setx(err, EINVAL, "%s.retries: a positive number",
				 at);
	if (re)
		g->health_retries = (int)re->valuedouble;
	return 0;
}

int eng_job_parse_deps(const cJSON *obj, const char *path,
		       struct eng_job_group *g, struct berr *err)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "depends_on");
	_cleanup_free_ char *at = base_sprintf("%s.depends_on", path);
	int r = 0;
	const cJSON *e;
	if (cJSON_IsArray(d)) {
		cJSON_ArrayForEach(e, d) if (r == 0) r =
			cJSON_GetStringValue(e)
				? dep_add(g, e->valuestring, conds[0], err, at)
				: berr_setx(err, EINVAL, "%s: group names", at);
	} else if (cJSON_IsObject(d)) {
		cJSON_ArrayForEach(e, d) if (r == 0) r =
			cJSON_GetStringValue(e)
				? dep_add(g, e->string, e->valuestring, err, at)
				: berr_setx(err, EINVAL, "%s.%s: a condition",
					    at, e->string);
	} else if (d) {
		r = berr_setx(err, EINVAL, "%s: a list or a mapping", at);
	}
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(obj, "healthcheck");
	_cleanup_free_ char *hat = base_sprintf("%s.healthcheck", path);
	if (r == 0 && h)
		r = cJSON_IsObject(h)
			    ? health(g, h, hat, err)
			    : berr_setx(err, EINVAL, "%s: a mapping", hat);
	return r;
}

/* Dependencies name groups, a healthy one has a health check, and no
 * group waits for itself through others. */
int eng_job_link_deps(struct eng_job *j, const char *file, struct berr *err)
{
	for (size_t g = 0; g < j->ngroups; g++)
		for (size_t k = 0; k < j->groups[g].n_deps; k++) {
			struct eng_job_dep *d = &j->groups[g].deps[k];
			for (size_t o = 0; o < j->ngroups; o++)
				if (!strcmp(j->groups[o].name, d->group))
					d->index = (int)o;
			if (d->index < 0)
				return berr_setx(err, EINVAL,
						 "%s: groups[%zu].depends_on: "
						 "unknown group `%s`",
						 file, g, d->group);
			if (d->cond == ENG_DEP_HEALTHY &&
			    !j->groups[d->index].health)
				return berr_setx(
					err, EINVAL,
					"%s: groups[%zu].depends_on.%s: "
					"service_healthy, but `%s` has "
					"no healthcheck",
					file, g, d->group, d->group);
		}
	_cleanup_free_ bool *ok = base_calloc(j->ngroups + 1, sizeof(bool));
	for (size_t round = 0; round < j->ngroups; round++)
		for (size_t g = 0; g < j->ngroups; g++) {
			bool ready = true;
			for (size_t k = 0; k < j->groups[g].n_deps; k++)
				ready &= ok[j->groups[g].deps[k].index];
			ok[g] |= ready;
		}
	for (size_t g = 0; g < j->ngroups; g++)
		if (!ok[g])
			return berr_setx(err, EINVAL,
					 "%s: groups[%zu].depends_on: a cycle "
					 "(`%s` waits for itself)",
					 file, g, j->groups[g].name);
	return 0;
}

void eng_job_deps_free(struct eng_job_group *g)
{
	for (size_t k = 0; k < g->n_deps; k++)
		free(g->deps[k].group);
	free(g->deps);
	base_strv_free(g->health);
}
