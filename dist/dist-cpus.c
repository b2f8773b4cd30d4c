/* CPU lists and the set of CPUs `berth par` may pin its workers to.
 *
 * The allowed set is what the scheduler lets this process use
 * (sched_getaffinity) and what its own cgroup's cpuset grants: a process
 * in a container, a Slurm job or a systemd slice often sees every host CPU
 * in /proc/cpuinfo but may use only a few, and pinning a worker outside
 * its cpuset fails. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "dist/dist-par-internal.h"

bool dp_cpus_has(const struct dp_cpus *c, int cpu)
{
	if (cpu < 0 || cpu >= DP_CPUS_MAX)
		return false;
	return c->bits[cpu / 64] >> (cpu % 64) & 1;
}

void dp_cpus_set(struct dp_cpus *c, int cpu)
{
	if (cpu >= 0 && cpu < DP_CPUS_MAX)
		c->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

int dp_cpus_count(const struct dp_cpus *c)
{
	int n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(c->bits); i++)
		n += __builtin_popcountll(c->bits[i]);
	return n;
}

int dp_cpus_next(const struct dp_cpus *c, int after)
{
	for (int cpu = after < 0 ? 0 : after + 1; cpu < DP_CPUS_MAX; cpu++) {
		uint64_t w = c->bits[cpu / 64] >> (cpu % 64);
		if (!w) {
			cpu |= 63; /* the rest of this word is empty */
			continue;
		}
		return cpu + __builtin_ctzll(w);
	}
	return -1;
}

static int parse_cpu(const char **s, int *cpu)
{
	if (!isdigit((unsigned char)**s))
		return -EINVAL;
	long v = 0;
	while (isdigit((unsigned char)**s)) {
		v = v * 10 + (**s - '0');
		if (v >= DP_CPUS_MAX)
			return -ERANGE;
		(*s)++;
	}
	*cpu = (int)v;
	return 0;
}

int dp_cpus_parse(const char *list, struct dp_cpus *out)
{
	memset(out, 0, sizeof(*out));
	const char *s = list;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	for (;;) {
		int lo, hi, r = parse_cpu(&s, &lo);
		if (r < 0)
			return r;
		hi = lo;
		if (*s == '-') {
			s++;
			if ((r = parse_cpu(&s, &hi)) < 0)
				return r;
			if (hi < lo)
				return -EINVAL;
		}
		for (int c = lo; c <= hi; c++)
			dp_cpus_set(out, c);
		if (*s != ',')
			break;
		s++;
	}
	while (isspace((unsigned char)*s))
		s++;
	return *s ? -EINVAL : 0;
}

char *dp_cpus_format(const struct dp_cpus *c)
{
	struct dp_buf b = {0};
	dp_buf_adds(&b, "");
	for (int lo = dp_cpus_next(c, -1); lo >= 0;) {
		int hi = lo;
		while (hi + 1 < DP_CPUS_MAX && dp_cpus_has(c, hi + 1))
			hi++;
		dp_buf_printf(&b, "%s%d", b.len ? "," : "", lo);
		if (hi > lo)
			dp_buf_printf(&b, "-%d", hi);
		lo = dp_cpus_next(c, hi);
	}
	return b.p;
}

/* ---- the caller's cpuset ----------------------------------------------- */

/* Field i (0-based) of a space-separated line, copied and unescaped
 * (mountinfo writes " " as \040). */
static char *field(const char *line, int i)
{
	const char *s = line;
	for (; i > 0 && s; i--) {
		s = strchr(s, ' ');
		if (s)
			s++;
	}
	if (!s)
		return NULL;
	size_t n = strcspn(s, " \n");
	char *out = base_calloc(n + 1, 1), *o = out;
	for (size_t k = 0; k < n; k++) {
		if (s[k] == '\\' && k + 3 < n &&
		    isdigit((unsigned char)s[k + 1])) {
			*o++ = (char)((s[k + 1] - '0') * 64 +
				      (s[k + 2] - '0') * 8 + (s[k + 3] - '0'));
			k += 3;
		} else {
			*o++ = s[k];
		}
	}
	return out;
}

/* True when the comma-separated list holds word. */
static bool list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *s = list; s && *s;) {
		size_t k = strcspn(s, ",");
		if (k == n && !strncmp(s, word, n))
			return true;
		s += k;
		if (*s)
			s++;
	}
	return false;
}

/* Our group's path in the hierarchy with controller ctl ("" matches v2's
 * "0::" line). */
static char *own_path(const char *self_cgroup, const char *ctl)
{
	for (const char *l = self_cgroup; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		_cleanup_free_ char *line = strndup(l, len);
		char *c1 = line ? strchr(line, ':') : NULL;
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2) {
			*c2 = '\0';
			bool hit = *ctl ? list_has(c1 + 1, ctl)
					: (!strcmp(line, "0:") || !c1[1]);
			if (hit && (*ctl || !strncmp(line, "0:", 2)))
				return base_strdup(c2 + 1);
		}
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* The mount point and root of the hierarchy of fstype whose super options
 * hold ctl (any, for cgroup2). */
static int find_mount(const char *mountinfo, const char *fstype,
		      const char *ctl, char **mnt, char **root)
{
	for (const char *l = mountinfo; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		_cleanup_free_ char *line = strndup(l, len);
		const char *dash = line ? strstr(line, " - ") : NULL;
		if (dash) {
			_cleanup_free_ char *type = field(dash + 3, 0);
			_cleanup_free_ char *opts = field(dash + 3, 2);
			if (type && !strcmp(type, fstype) &&
			    (!*ctl || (opts && list_has(opts, ctl)))) {
				*root = field(line, 3);
				*mnt = field(line, 4);
				return *root && *mnt ? 0 : -EINVAL;
			}
		}
		l = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* mount + (path less the mount's root). */
static char *join_mount(const char *mnt, const char *root, const char *path)
{
	size_t rl = strlen(root);
	if (strcmp(root, "/") && !strncmp(path, root, rl) &&
	    (path[rl] == '/' || !path[rl]))
		path += rl;
	while (*path == '/')
		path++;
	return *path ? base_sprintf("%s/%s", mnt, path) : base_strdup(mnt);
}

int dp_cpuset_dir(const char *self_cgroup, const char *mountinfo, char **dir,
		  bool *v2)
{
	_cleanup_free_ char *mnt = NULL, *root = NULL;
	_cleanup_free_ char *path = own_path(self_cgroup, "cpuset");
	if (path &&
	    find_mount(mountinfo, "cgroup", "cpuset", &mnt, &root) == 0) {
		*dir = join_mount(mnt, root, path);
		*v2 = false;
		return 0;
	}
	free(path);
	path = own_path(self_cgroup, "");
	if (path && find_mount(mountinfo, "cgroup2", "", &mnt, &root) == 0) {
		*dir = join_mount(mnt, root, path);
		*v2 = true;
		return 0;
	}
	return -ENOENT;
}

/* The cpuset's CPUs: v1 names the effective set cpuset.effective_cpus
 * (cpuset.cpus when mounted with noprefix-less old kernels); v2 has
 * cpuset.cpus.effective only where the controller is enabled, so the
 * nearest ancestor that has it answers. */
static int read_cpuset(const char *dir, bool v2, struct dp_cpus *out)
{
	_cleanup_free_ char *d = base_strdup(dir);
	for (;;) {
		static const char *const v1files[] = {"cpuset.effective_cpus",
						      "cpuset.cpus"};
		for (size_t i = 0; i < (v2 ? 1 : 2); i++) {
			const char *name =
				v2 ? "cpuset.cpus.effective" : v1files[i];
			_cleanup_free_ char *p = base_sprintf("%s/%s", d, name);
			_cleanup_free_ char *s = NULL;
			if (base_read_file_at(AT_FDCWD, p, &s, NULL, 65536) < 0)
				continue;
			if (dp_cpus_parse(s, out) == 0 && dp_cpus_count(out))
				return 0;
		}
		char *slash = strrchr(d, '/');
		if (!v2 || !slash || slash == d || !strcmp(d, "/sys/fs/cgroup"))
			return -ENOENT;
		*slash = '\0';
	}
}

int dp_cpus_allowed(struct dp_cpus *out, struct berr *err)
{
	memset(out, 0, sizeof(*out));
	size_t size = CPU_ALLOC_SIZE(DP_CPUS_MAX);
	cpu_set_t *set = CPU_ALLOC(DP_CPUS_MAX);
	if (!set)
		return berr_set(err, ENOMEM, "sched_getaffinity");
	if (sched_getaffinity(0, size, set) < 0) {
		int e = errno;
		CPU_FREE(set);
		return berr_set(err, e, "sched_getaffinity");
	}
	for (int c = 0; c < DP_CPUS_MAX; c++)
		if (CPU_ISSET_S((size_t)c, size, set))
			dp_cpus_set(out, c);
	CPU_FREE(set);

	_cleanup_free_ char *cg = NULL, *mi = NULL, *dir = NULL;
	bool v2 = false;
	struct dp_cpus cs;
	if (base_read_file_at(AT_FDCWD, "/proc/self/cgroup", &cg, NULL, 0) ==
		    0 &&
	    base_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL, 0) ==
		    0 &&
	    dp_cpuset_dir(cg, mi, &dir, &v2) == 0 &&
	    read_cpuset(dir, v2, &cs) == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(out->bits); i++)
			out->bits[i] &= cs.bits[i];
	}
	if (!dp_cpus_count(out))
		return berr_setx(err, ENOENT,
				 "no CPU is both in this process's affinity "
				 "and in its cgroup's cpuset");
	return 0;
}

/* ---- NUMA nodes -----------------------------------------------------------
 */

int dp_cpu_node(const char *sysfs, int cpu, int *nodes)
{
	*nodes = 0;
	_cleanup_free_ char *dir =
		base_sprintf("%s/devices/system/node", sysfs ? sysfs : "/sys");
	_cleanup_closedir_ DIR *d = opendir(dir);
	int found = -1;
	for (struct dirent *e; d && (e = readdir(d));) {
		int n;
		char tail;
		if (sscanf(e->d_name, "node%d%c", &n, &tail) != 1 || n < 0)
			continue;
		_cleanup_free_ char *path =
			base_sprintf("%s/%s/cpulist", dir, e->d_name);
		_cleanup_free_ char *s = NULL;
		struct dp_cpus c;
		if (base_read_file_at(AT_FDCWD, path, &s, NULL, 65536) < 0 ||
		    dp_cpus_parse(s, &c) < 0)
			continue;
		/* a node without CPUs (memory only) binds no worker */
		if (!dp_cpus_count(&c))
			continue;
		(*nodes)++;
		if (dp_cpus_has(&c, cpu))
			found = n;
	}
	return found;
}
