/* cgroupsPath checks and the resolved form kept in the container state (the
 * format is described in cgroups-internal.h). */
#include <string.h>

#include "cgroups/cgroups-internal.h"

int cg_path_clean(const char *path, char **out, struct berr *err)
{
	if (strchr(path, ';'))
		return berr_setx(err, EINVAL,
				 "cgroupsPath \"%s\": must not contain \";\"",
				 path);
	bool absolute = path[0] == '/';
	_cleanup_free_ char *copy = base_strdup(path);
	char *res = base_calloc(1, strlen(path) + 2);
	char *w = res;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			free(res);
			return berr_setx(err, EINVAL,
					 "cgroupsPath \"%s\": must not contain "
					 "\"..\"",
					 path);
		}
		if (w != res || absolute)
			*w++ = '/';
		w = stpcpy(w, c);
	}
	if (w == res) {
		/* the root, or the caller's own group: destroying either
		 * would kill far more than a container */
		free(res);
		return berr_setx(
			err, EINVAL,
			"cgroupsPath \"%s\": must name a group below %s", path,
			absolute ? "the root" : "the caller's cgroup");
	}
	*out = res;
	return 0;
}

char *cg_path_join(const char *base, const char *rel)
{
	while (*rel == '/')
		rel++;
	if (!strcmp(base, "/"))
		return base_sprintf("/%s", rel);
	return base_sprintf("%s/%s", base, rel);
}

/* The path most hierarchies share: printed once, the others as overrides. */
static const char *common_rel(const struct cg_group *g)
{
	const char *best = g->dirs[0].rel;
	size_t best_n = 0;
	for (size_t i = 0; i < g->n; i++) {
		size_t c = 0;
		for (size_t j = 0; j < g->n; j++)
			c += !strcmp(g->dirs[i].rel, g->dirs[j].rel);
		if (c > best_n) {
			best_n = c;
			best = g->dirs[i].rel;
		}
	}
	return best;
}

char *cg_path_format(const struct cg_group *g)
{
	const char *def = common_rel(g);
	size_t len = strlen(def) + 32;
	int parents = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (strcmp(g->dirs[i].rel, def))
			len += strlen(g->dirs[i].h->mount) +
			       strlen(g->dirs[i].rel) + 2;
		if (g->dirs[i].parents > parents)
			parents = g->dirs[i].parents;
	}
	char *s = base_calloc(1, len);
	char *w = stpcpy(s, def);
	for (size_t i = 0; i < g->n; i++) {
		if (!strcmp(g->dirs[i].rel, def))
			continue;
		w += sprintf(w, ";%s=%s", g->dirs[i].h->mount, g->dirs[i].rel);
	}
	if (parents > 0)
		w += sprintf(w, ";parents=%d", parents);
	if (g->unit) {
		char *u = base_sprintf("%s;unit=%s", s, g->unit);
		free(s);
		s = u;
	}
	return s;
}

/* A stored path must still be absolute and free of "..": the state file
 * is not trusted more than the config was. */
static int stored_path(const char *resolved, const char *p, char **out,
		       struct berr *err)
{
	if (p[0] != '/')
		return berr_setx(err, EINVAL,
				 "cgroup path \"%s\": \"%s\" is "
				 "not absolute",
				 resolved, p);
	return cg_path_clean(p, out, err);
}

static int parse_entry(struct cg_group *g, const char *resolved, char *e,
		       struct berr *err)
{
	if (base_str_has_prefix(e, "parents=")) {
		int n;
		if (base_parse_int(e + 8, &n) < 0 || n < 0)
			return berr_setx(err, EINVAL,
					 "cgroup path \"%s\": bad \"%s\"",
					 resolved, e);
		for (size_t i = 0; i < g->n; i++)
			g->dirs[i].parents = n;
		return 0;
	}
	if (base_str_has_prefix(e, "unit=")) {
		size_t n = strlen(e + 5);
		if (n <= 6 || strcmp(e + 5 + n - 6, ".scope") ||
		    strcspn(e + 5, "/ \t\n") != n)
			return berr_setx(err, EINVAL,
					 "cgroup path \"%s\": bad \"%s\"",
					 resolved, e);
		free(g->unit);
		g->unit = base_strdup(e + 5);
		return 0;
	}
	char *eq = strstr(e, "=/");
	if (e[0] != '/' || !eq)
		return berr_setx(err, EINVAL, "cgroup path \"%s\": bad \"%s\"",
				 resolved, e);
	*eq = '\0';
	for (size_t i = 0; i < g->n; i++) {
		if (strcmp(g->dirs[i].h->mount, e))
			continue;
		free(g->dirs[i].rel);
		g->dirs[i].rel = NULL;
		return stored_path(resolved, eq + 1, &g->dirs[i].rel, err);
	}
	/* a hierarchy that is no longer mounted has nothing to clean */
	return 0;
}

int cg_path_parse(struct cg_group *g, const char *resolved, struct berr *err)
{
	_cleanup_free_ char *copy = base_strdup(resolved);
	char *save = NULL;
	char *first = strtok_r(copy, ";", &save);
	if (!first)
		return berr_setx(err, EINVAL, "cgroup path is empty");
	for (size_t i = 0; i < g->n; i++) {
		int r = stored_path(resolved, first, &g->dirs[i].rel, err);
		if (r < 0)
			return r;
	}
	for (char *e = strtok_r(NULL, ";", &save); e;
	     e = strtok_r(NULL, ";", &save)) {
		int r = parse_entry(g, resolved, e, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < g->n; i++)
		g->dirs[i].path = base_sprintf("%s%s", g->dirs[i].h->mount,
					       g->dirs[i].rel);
	return 0;
}
