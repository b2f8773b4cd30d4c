/* The container process: limits, scheduling, user, capabilities, cwd, and
 * the final execve().
 *
 * Runs on the init side (after pivot_root, as root, in the container's
 * namespaces) and in `berth exec`'s child. The order of rt_process_apply()
 * follows runc: what needs privileges (rlimits, oom_score_adj, scheduler,
 * the bounding set) comes before the user switch; the capability sets are
 * applied after it; no_new_privs comes last. */
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <grp.h>

#include "runtime/runtime-process-internal.h"

#define DEFAULT_PATH                                                           \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_CPUS 8192

/* ---- rlimits, oom_score_adj, scheduling ------------------------------- */

static const char *const rlimit_names[] = {
	[RLIMIT_CPU] = "RLIMIT_CPU",
	[RLIMIT_FSIZE] = "RLIMIT_FSIZE",
	[RLIMIT_DATA] = "RLIMIT_DATA",
	[RLIMIT_STACK] = "RLIMIT_STACK",
	[RLIMIT_CORE] = "RLIMIT_CORE",
	[RLIMIT_RSS] = "RLIMIT_RSS",
	[RLIMIT_NPROC] = "RLIMIT_NPROC",
	[RLIMIT_NOFILE] = "RLIMIT_NOFILE",
	[RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK",
	[RLIMIT_AS] = "RLIMIT_AS",
	[RLIMIT_LOCKS] = "RLIMIT_LOCKS",
	[RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
	[RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE",
	[RLIMIT_NICE] = "RLIMIT_NICE",
	[RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",
	[RLIMIT_RTTIME] = "RLIMIT_RTTIME",
};

static int apply_rlimits(const struct oci_process *p, struct berr *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		const struct oci_rlimit *l = &p->rlimits[i];
		struct rlimit rl = {.rlim_cur = l->soft, .rlim_max = l->hard};
		if (setrlimit(l->resource, &rl) == 0)
			continue;
		int e = errno;
		if (l->resource >= 0 &&
		    l->resource < (int)ARRAY_SIZE(rlimit_names))
			return berr_set(err, e, "setrlimit %s",
					rlimit_names[l->resource]);
		return berr_set(err, e, "setrlimit %d", l->resource);
	}
	return 0;
}

/* The write goes through an fd checked to be on procfs: a container image
 * could otherwise have us write through a path it controls (the
 * CVE-2025-52881 class of attacks on /proc writes). */
static int apply_oom_score_adj(int adj, struct berr *err)
{
	_cleanup_close_ int fd =
		rt_procfs_open("self/oom_score_adj", O_WRONLY, err);
	if (fd < 0)
		return fd;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", adj);
	int r = base_write_all(fd, buf, (size_t)n);
	if (r < 0)
		return berr_set(err, -r, "write oomScoreAdj %d", adj);
	return 0;
}

/* glibc 2.36 has no sched_setattr(); this is the kernel's layout. */
struct rt_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static int apply_scheduler(const struct oci_scheduler *s, struct berr *err)
{
	struct rt_sched_attr a = {
		.size = sizeof(a),
		.sched_policy = (uint32_t)s->policy,
		.sched_flags = s->flags,
		.sched_nice = s->nice,
		.sched_priority = (uint32_t)s->priority,
		.sched_runtime = s->runtime,
		.sched_deadline = s->deadline,
		.sched_period = s->period,
	};
	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		return berr_set(err, errno,
				"scheduler: sched_setattr policy %d",
				s->policy);
	return 0;
}

static int apply_io_priority(const struct oci_io_priority *io, struct berr *err)
{
	enum { IOPRIO_WHO_PROCESS = 1, IOPRIO_CLASS_SHIFT = 13 };
	int v = (io->klass << IOPRIO_CLASS_SHIFT) | io->priority;
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) < 0)
		return berr_set(err, errno,
				"ioPriority: ioprio_set class %d priority %d",
				io->klass, io->priority);
	return 0;
}

static int parse_cpu(const char *s, char **end, long *cpu)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*cpu = strtol(s, end, 10);
	if (errno || *cpu >= MAX_CPUS)
		return -EINVAL;
	return 0;
}

int rt_cpulist_parse(const char *s, cpu_set_t **set, size_t *size)
{
	cpu_set_t *cs = CPU_ALLOC(MAX_CPUS);
	if (!cs)
		return -ENOMEM;
	size_t sz = CPU_ALLOC_SIZE(MAX_CPUS);
	CPU_ZERO_S(sz, cs);
	const char *p = s;
	while (*p) {
		char *end;
		long lo, hi;
		if (parse_cpu(p, &end, &lo) < 0)
			goto bad;
		hi = lo;
		if (*end == '-' && parse_cpu(end + 1, &end, &hi) < 0)
			goto bad;
		if (hi < lo || (*end && *end != ','))
			goto bad;
		for (long c = lo; c <= hi; c++)
			CPU_SET_S((size_t)c, sz, cs);
		p = *end ? end + 1 : end;
		if (*end && !*p)
			goto bad;
	}
	if (p == s)
		goto bad;
	*set = cs;
	*size = sz;
	return 0;
bad:
	CPU_FREE(cs);
	return -EINVAL;
}

/* execCPUAffinity: "initial" holds while berth sets the container up
 * (rt_process_initial_affinity, at the start of the init); "final" is set
 * last, after the cgroup join that resets a process's affinity to its
 * cpuset, just before the user's program runs. */
static int apply_cpu_affinity(const char *what, const char *list,
			      struct berr *err)
{
	cpu_set_t *set;
	size_t size;
	if (rt_cpulist_parse(list, &set, &size) < 0)
		return berr_setx(err, EINVAL,
				 "execCPUAffinity.%s `%s`: invalid CPU list",
				 what, list);
	int r = sched_setaffinity(0, size, set);
	int e = errno;
	CPU_FREE(set);
	if (r < 0)
		return berr_set(err, e, "execCPUAffinity.%s `%s`", what, list);
	return 0;
}

int rt_process_initial_affinity(const struct oci_process *p, struct berr *err)
{
	if (!p->exec_cpu_affinity.initial)
		return 0;
	return apply_cpu_affinity("initial", p->exec_cpu_affinity.initial, err);
}

bool rt_cpu_other(const cpu_set_t *mask, int cpu, cpu_set_t *one)
{
	for (int k = 1; k < CPU_SETSIZE; k++) {
		int d = (cpu + k) % CPU_SETSIZE;
		if (!CPU_ISSET(d, mask))
			continue;
		CPU_ZERO(one);
		CPU_SET(d, one);
		return true;
	}
	return false;
}

/* Without "final", "initial" is set again: the cgroup join may have
 * reset it. */
static int final_affinity(const struct oci_process *p, struct berr *err)
{
	const struct oci_cpu_affinity *a = &p->exec_cpu_affinity;
	if (a->final)
		return apply_cpu_affinity("final", a->final, err);
	if (a->initial)
		return apply_cpu_affinity("initial", a->initial, err);
	return 0;
}

/* ---- user ------------------------------------------------------------- */

/* Inside a user namespace whose gid map was written without privileges,
 * setgroups(2) is denied for good. */
static bool setgroups_allowed(void)
{
	_cleanup_free_ char *s = NULL;
	if (base_read_file_at(AT_FDCWD, "/proc/self/setgroups", &s, NULL, 64) <
	    0)
		return true;
	return !base_str_has_prefix(s, "deny");
}

/* Hands fds 0-2 to the container user so that it can reopen them through
 * /proc/self/fd (e.g. /dev/stdout). Only pipes, fifos and sockets, and the
 * pty berth made for the container: a device the caller shares (the host's
 * /dev/null, the caller's terminal) must never change owner on the host.
 * The group stays: the pty's is the tty group of the devpts mount (gid=5),
 * as runc leaves it. */
static int fix_stdio_owner(uid_t uid, bool own_pty, struct berr *err)
{
	for (int fd = 0; fd <= 2; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		if ((S_ISCHR(st.st_mode) && !own_pty) || S_ISBLK(st.st_mode))
			continue;
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
			continue;
		if (st.st_uid == uid)
			continue;
		if (fchown(fd, uid, (gid_t)-1) < 0 && errno != EINVAL &&
		    errno != EPERM && errno != EROFS)
			return berr_set(err, errno, "fchown fd %d to uid %u",
					fd, uid);
	}
	return 0;
}

static int switch_user(const struct oci_user *u, bool own_pty, struct berr *err)
{
	int r = fix_stdio_owner(u->uid, own_pty, err);
	if (r < 0)
		return r;
	if (setgroups_allowed()) {
		_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t");
		if (setgroups(u->n_additional_gids,
			      (const gid_t *)u->additional_gids) < 0)
			return berr_set(err, errno, "setgroups");
	}
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return berr_set(err, errno, "setresgid %u", u->gid);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return berr_set(err, errno, "prctl PR_SET_KEEPCAPS");
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return berr_set(err, errno, "setresuid %u", u->uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return berr_set(err, errno, "prctl PR_SET_KEEPCAPS");
	return 0;
}

/* ---- cwd -------------------------------------------------------------- */

static int cwd_error(const char *cwd, int code, struct berr *err)
{
	return berr_set(err, code,
			"chdir to cwd (`%s`) set in config.json failed", cwd);
}

/* getcwd() fails with ENOENT (the kernel says "(unreachable)") when the
 * cwd is outside the root, e.g. an fd to a host directory leaked into the
 * container (CVE-2024-21626). */
static int verify_cwd(struct berr *err)
{
	char buf[PATH_MAX];
	if (!getcwd(buf, sizeof(buf))) {
		if (errno == ENOENT)
			return berr_setx(
				err, EPERM,
				"current working directory is outside "
				"of container mount namespace root -- "
				"possible container breakout detected");
		return berr_set(err, errno, "verify current working directory");
	}
	if (buf[0] != '/')
		return berr_setx(err, EPERM,
				 "current working directory is not absolute "
				 "-- possible container breakout detected: "
				 "cwd is `%s`",
				 buf);
	return 0;
}

/* ---- rt_process_apply ------------------------------------------------- */

static int apply_privileged(const struct oci_process *p, struct berr *err)
{
	int r = apply_rlimits(p, err);
	if (r == 0 && p->has_oom_score_adj)
		r = apply_oom_score_adj(p->oom_score_adj, err);
	if (r < 0)
		return r;
	umask(p->user.has_umask ? (mode_t)p->user.umask : 0022);
	if (p->scheduler.present)
		r = apply_scheduler(&p->scheduler, err);
	if (r == 0 && p->io_priority.present)
		r = apply_io_priority(&p->io_priority, err);
	return r;
}

int rt_process_apply(const struct oci_process *p, struct berr *err)
{
	return rt_process_apply_seccomp(p, NULL, err);
}

int rt_process_apply_seccomp(const struct oci_process *p,
			     const struct rt_seccomp_load *l, struct berr *err)
{
	int r = apply_privileged(p, err);
	if (r < 0)
		return r;
	/* As root first; a cwd only the container user may enter (a volume
	 * chowned to it) is tried again after the user switch. */
	const char *cwd = p->cwd && *p->cwd ? p->cwd : "/";
	bool cwd_later = false;
	if (chdir(cwd) < 0) {
		if (errno != EACCES && errno != EPERM)
			return cwd_error(cwd, errno, err);
		cwd_later = true;
	}
	r = rt_caps_bound(p, err);
	if (r < 0)
		return r;
	/* without no_new_privs only CAP_SYS_ADMIN may load a filter */
	r = rt_seccomp_load_early(l, err);
	if (r < 0)
		return r;
	r = switch_user(&p->user, p->terminal, err);
	if (r < 0)
		return r;
	if (cwd_later && chdir(cwd) < 0)
		return cwd_error(cwd, errno, err);
	r = verify_cwd(err);
	if (r < 0)
		return r;
	r = rt_caps_apply(p, err);
	if (r < 0)
		return r;
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return berr_set(err, errno, "prctl PR_SET_NO_NEW_PRIVS");
	return final_affinity(p, err);
}

/* ---- fds -------------------------------------------------------------- */

int rt_process_cloexec_walk(int first, struct berr *err)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
	if (!d)
		return berr_set(err, errno, "open /proc/self/fd");
	struct dirent *de;
	while ((de = readdir(d))) {
		int fd;
		if (base_parse_int(de->d_name, &fd) < 0 || fd < first ||
		    fd == dirfd(d))
			continue;
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		if (fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
			return berr_set(err, errno, "set FD_CLOEXEC on fd %d",
					fd);
	}
	return 0;
}

int rt_process_close_fds(int preserve_fds, struct berr *err)
{
	int first = 3 + (preserve_fds > 0 ? preserve_fds : 0);
	if (close_range((unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	/* Before Linux 5.11 (ENOSYS, or EINVAL for the flag) */
	if (errno != ENOSYS && errno != EINVAL)
		return berr_set(err, errno, "close_range");
	return rt_process_cloexec_walk(first, err);
}

/* ---- exec ------------------------------------------------------------- */

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) &&
	       (st.st_mode & 0111);
}

/* PATH lookup as Go's exec.LookPath does it (runc's behaviour): the first
 * entry holding a non-directory with an execute bit; "" means ".". */
static int lookup_path(const char *file, const char *path_env, char **out)
{
	if (strchr(file, '/')) {
		*out = base_strdup(file);
		return 0;
	}
	const char *p = path_env;
	for (;;) {
		const char *colon = strchrnul(p, ':');
		int dlen = (int)(colon - p);
		_cleanup_free_ char *cand =
			dlen ? base_sprintf("%.*s/%s", dlen, p, file)
			     : base_sprintf("./%s", file);
		if (is_executable(cand)) {
			*out = TAKE_PTR(cand);
			return 0;
		}
		if (!*colon)
			return -ENOENT;
		p = colon + 1;
	}
}

/* HOME from the container's /etc/passwd entry of the current uid, "/"
 * when there is none (runc sets it when process.env lacks it). */
static char *home_for_uid(uid_t uid)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f)) {
		char *fields[7] = {0}, *s = line;
		int n = 0;
		line[strcspn(line, "\n")] = '\0';
		/* strsep keeps empty fields, which passwd has (gecos) */
		while (n < 7 && (fields[n] = strsep(&s, ":")))
			n++;
		unsigned long v;
		char *end;
		if (n < 6 || !*fields[2])
			continue;
		v = strtoul(fields[2], &end, 10);
		if (*end || v != uid || !*fields[5])
			continue;
		return base_sprintf("HOME=%s", fields[5]);
	}
	return base_strdup("HOME=/");
}

int rt_process_exec_prepare(const struct oci_process *p,
			    struct rt_exec_plan *plan, struct berr *err)
{
	*plan = (struct rt_exec_plan){NULL, NULL};
	if (!p->args || !p->args[0] || !*p->args[0])
		return berr_setx(err, EINVAL, "process.args must not be empty");
	for (char **e = p->env; e && *e; e++)
		base_strv_push(&plan->env, *e);
	if (!env_get(plan->env, "HOME")) {
		_cleanup_free_ char *home = home_for_uid(getuid());
		base_strv_push(&plan->env, home);
	}
	const char *path_env = env_get(plan->env, "PATH");
	if (lookup_path(p->args[0], path_env ? path_env : DEFAULT_PATH,
			&plan->path) < 0) {
		rt_exec_plan_free(plan);
		return berr_setx(err, ENOENT,
				 "exec `%s`: executable file not found in "
				 "$PATH",
				 p->args[0]);
	}
	return 0;
}

int rt_process_execve(const struct oci_process *p, struct rt_exec_plan *plan,
		      struct berr *err)
{
	execve(plan->path, p->args, plan->env);
	return berr_set(err, errno, "exec `%s`", plan->path);
}

void rt_exec_plan_free(struct rt_exec_plan *plan)
{
	free(plan->path);
	base_strv_free(plan->env);
	*plan = (struct rt_exec_plan){NULL, NULL};
}
