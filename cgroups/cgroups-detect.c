/* Which cgroup hierarchies the host mounts, and where.
 *
 * The layout comes from /proc/self/mountinfo (mount points, mount roots,
 * super options) matched against /proc/self/cgroup (hierarchy ids and the
 * kernel's own spelling of each hierarchy's controllers). Nothing assumes
 * /sys/fs/cgroup: a host may mount its hierarchies anywhere. */
#include <fcntl.h>
#include <string.h>

#include "cgroups/cgroups-internal.h"

struct cg_mount {
	char *root, *mount, *fstype, *opts;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Splits one mountinfo line in place:
 * "id parent maj:min root mountpoint opts [optional...] - fstype src sopts"
 * Returns false for a malformed line. */
static bool split_mountinfo(char *line, struct cg_mount *m)
{
	char *save = NULL, *f[6];
	for (int i = 0; i < 6; i++) {
		f[i] = strtok_r(i ? NULL : line, " ", &save);
		if (!f[i])
			return false;
	}
	char *tok;
	while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-"))
		;
	if (!tok)
		return false;
	m->root = f[3];
	m->mount = f[4];
	m->fstype = strtok_r(NULL, " ", &save);
	if (!m->fstype || !strtok_r(NULL, " ", &save))
		return false;
	m->opts = strtok_r(NULL, " ", &save);
	if (!m->opts)
		return false;
	unescape_octal(m->root);
	unescape_octal(m->mount);
	return true;
}

static bool opts_have(const char *opts, const char *word, size_t len)
{
	for (const char *p = opts; p && *p;) {
		const char *end = strchrnul(p, ',');
		if ((size_t)(end - p) == len && !strncmp(p, word, len))
			return true;
		p = *end ? end + 1 : NULL;
	}
	return false;
}

/* True when every controller of the comma list ctrls is a super option. */
static bool opts_have_all(const char *opts, const char *ctrls)
{
	for (const char *p = ctrls; *p;) {
		const char *end = strchrnul(p, ',');
		if (!opts_have(opts, p, (size_t)(end - p)))
			return false;
		p = *end ? end + 1 : end;
	}
	return true;
}

/* The first cgroup mount of the wanted kind that carries ctrls. */
static const struct cg_mount *find_mount(const struct cg_mount *mnts, size_t n,
					 bool v2, const char *ctrls)
{
	for (size_t i = 0; i < n; i++) {
		bool is_v2 = !strcmp(mnts[i].fstype, "cgroup2");
		if (is_v2 != v2)
			continue;
		if (v2 || opts_have_all(mnts[i].opts, ctrls))
			return &mnts[i];
	}
	return NULL;
}

static struct cg_mount *collect_mounts(char *text, size_t *n)
{
	struct cg_mount *v = NULL;
	size_t cap = 0;
	*n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct cg_mount m;
		if (!split_mountinfo(line, &m))
			continue;
		if (strcmp(m.fstype, "cgroup") && strcmp(m.fstype, "cgroup2"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = base_realloc(v, cap, sizeof(*v));
		}
		v[(*n)++] = m;
	}
	return v;
}

/* Parses "hid:controllers:path" in place. */
static bool split_cgroup_line(char *line, int *hid, char **ctrls, char **path)
{
	char *c1 = strchr(line, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return false;
	*c1 = *c2 = '\0';
	*ctrls = c1 + 1;
	*path = c2 + 1;
	return base_parse_int(line, hid) == 0;
}

static void add_hier(struct cg_layout *lo, const struct cg_mount *m, int hid,
		     const char *ctrls)
{
	for (size_t i = 0; i < lo->n; i++)
		if (lo->hiers[i].hid == hid)
			return;
	lo->hiers = base_realloc(lo->hiers, lo->n + 1, sizeof(*lo->hiers));
	lo->hiers[lo->n++] = (struct cg_hier){
		.mount = base_strdup(m->mount),
		.root = base_strdup(m->root),
		.controllers = base_strdup(ctrls),
		.hid = hid,
		.v2 = hid == 0,
	};
}

static void set_mode(struct cg_layout *lo)
{
	lo->v2 = -1;
	size_t v1 = 0;
	for (size_t i = 0; i < lo->n; i++) {
		if (lo->hiers[i].v2)
			lo->v2 = (int)i;
		else
			v1++;
	}
	if (v1 == 0) {
		lo->mode = CG_MODE_V2;
		lo->drv = &cg_driver_v2;
	} else if (lo->v2 < 0) {
		lo->mode = CG_MODE_V1;
		lo->drv = &cg_driver_v1;
	} else {
		lo->mode = CG_MODE_HYBRID;
		lo->drv = &cg_driver_hybrid;
	}
	lo->freezer = cg_layout_find(lo, "freezer");
}

int cg_layout_parse(const char *mountinfo, const char *self_cgroup,
		    struct cg_layout **out, struct berr *err)
{
	_cleanup_free_ char *mi = base_strdup(mountinfo);
	_cleanup_free_ char *sc = base_strdup(self_cgroup);
	size_t nm = 0;
	_cleanup_free_ struct cg_mount *mnts = collect_mounts(mi, &nm);
	struct cg_layout *lo = base_calloc(1, sizeof(*lo));

	char *save = NULL;
	for (char *line = strtok_r(sc, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int hid;
		char *ctrls, *path;
		if (!split_cgroup_line(line, &hid, &ctrls, &path))
			continue;
		if (hid != 0 && !*ctrls)
			continue;
		const struct cg_mount *m =
			find_mount(mnts, nm, hid == 0, ctrls);
		if (m)
			add_hier(lo, m, hid, hid == 0 ? "" : ctrls);
	}
	/* A cgroup2 mount without a "0::" line (a kernel that lists no
	 * unified entry) is still the unified hierarchy. */
	const struct cg_mount *m2 = find_mount(mnts, nm, true, "");
	if (m2)
		add_hier(lo, m2, 0, "");
	if (lo->n == 0) {
		cg_layout_free(lo);
		return berr_setx(
			err, ENOENT,
			"no cgroup filesystem in /proc/self/mountinfo");
	}
	set_mode(lo);
	*out = lo;
	return 0;
}

void cg_layout_free(struct cg_layout *lo)
{
	if (!lo)
		return;
	for (size_t i = 0; i < lo->n; i++) {
		free(lo->hiers[i].mount);
		free(lo->hiers[i].root);
		free(lo->hiers[i].controllers);
	}
	free(lo->hiers);
	free(lo);
}

int cg_layout_find(const struct cg_layout *lo, const char *controller)
{
	for (size_t i = 0; i < lo->n; i++)
		if (!lo->hiers[i].v2 &&
		    opts_have_all(lo->hiers[i].controllers, controller))
			return (int)i;
	return -1;
}

/* The path below the mount point: a mount whose root is not the
 * hierarchy's root (a container's bind mount) hides that prefix. */
static char *below_mount(const struct cg_hier *h, const char *path)
{
	size_t rl = strlen(h->root);
	if (strcmp(h->root, "/") && !strncmp(path, h->root, rl) &&
	    (path[rl] == '/' || path[rl] == '\0'))
		path += rl;
	return base_strdup(*path ? path : "/");
}

void cg_layout_own(const struct cg_layout *lo, const char *self_cgroup,
		   char **own)
{
	_cleanup_free_ char *sc = base_strdup(self_cgroup);
	char *save = NULL;
	for (char *line = strtok_r(sc, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int hid;
		char *ctrls, *path;
		if (!split_cgroup_line(line, &hid, &ctrls, &path))
			continue;
		for (size_t i = 0; i < lo->n; i++) {
			if (lo->hiers[i].hid != hid || own[i])
				continue;
			own[i] = below_mount(&lo->hiers[i], path);
		}
	}
}

static struct cg_layout *g_layout; /* per-process cache, never freed */

int cg_layout_get(const struct cg_layout **out, struct berr *err)
{
	if (!g_layout) {
		_cleanup_free_ char *mi = NULL, *sc = NULL;
		int r = base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi,
					  NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "read /proc/self/mountinfo");
		r = base_read_file_at(AT_FDCWD, "/proc/self/cgroup", &sc, NULL,
				      0);
		if (r < 0)
			return berr_set(err, -r, "read /proc/self/cgroup");
		r = cg_layout_parse(mi, sc, &g_layout, err);
		if (r < 0)
			return r;
	}
	*out = g_layout;
	return 0;
}

int cg_detect(enum cg_mode *mode, struct berr *err)
{
	const struct cg_layout *lo;
	int r = cg_layout_get(&lo, err);
	if (r < 0)
		return r;
	*mode = lo->mode;
	return 0;
}

const char *cg_default_parent(void)
{
	struct berr err = {0};
	enum cg_mode mode;
	return cg_detect(&mode, &err) == 0 && mode == CG_MODE_V2 ? "/" : "";
}

const char *cg_mode_name(enum cg_mode mode)
{
	switch (mode) {
	case CG_MODE_V1:
		return "v1";
	case CG_MODE_V2:
		return "v2";
	case CG_MODE_HYBRID:
		return "hybrid";
	}
	return "unknown";
}
