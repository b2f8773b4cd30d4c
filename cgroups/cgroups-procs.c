/* The processes of a group: listing, signalling, waiting for them to go. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "cgroups/cgroups-internal.h"

void cg_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void push_pid(pid_t **pids, size_t *n, pid_t pid)
{
	/* capacity: 16, then doubled whenever n reaches a power of two */
	if (*n == 0 || (*n >= 16 && (*n & (*n - 1)) == 0))
		*pids = base_realloc(*pids, *n ? *n * 2 : 16, sizeof(**pids));
	(*pids)[(*n)++] = pid;
}

static int read_procs_file(const char *dir, pid_t **pids, size_t *n)
{
	_cleanup_free_ char *f = base_sprintf("%s/cgroup.procs", dir);
	_cleanup_free_ char *text = NULL;
	int r = base_read_file_at(AT_FDCWD, f, &text, NULL, 0);
	if (r < 0)
		return r;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		int pid;
		if (base_parse_int(l, &pid) == 0 && pid > 0)
			push_pid(pids, n, pid);
	}
	return 0;
}

static int read_pids_rec(const char *dir, bool recursive, pid_t **pids,
			 size_t *n)
{
	int r = read_procs_file(dir, pids, n);
	if (r < 0 || !recursive)
		return r;
	_cleanup_closedir_ DIR *dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	while ((de = readdir(dp))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *sub =
			base_sprintf("%s/%s", dir, de->d_name);
		r = read_pids_rec(sub, true, pids, n);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

int cg_read_pids(const char *dir, bool recursive, pid_t **pids, size_t *n)
{
	*pids = NULL;
	*n = 0;
	int r = read_pids_rec(dir, recursive, pids, n);
	if (r == -ENOENT)
		r = 0; /* the group is gone: nobody is in it */
	if (r < 0) {
		free(*pids);
		*pids = NULL;
		*n = 0;
	}
	return r;
}

/* A pidfd names the process itself, so a pid recycled between reading
 * cgroup.procs and signalling is never hit. */
static int signal_one(pid_t pid, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		if (errno == ESRCH)
			return 0;
		if (errno != ENOSYS)
			return -errno;
		return kill(pid, sig) < 0 && errno != ESRCH ? -errno : 0;
	}
	int r = (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	int e = errno;
	close(fd);
	return r < 0 && e != ESRCH ? -e : 0;
}

int cg_signal_pids(const pid_t *pids, size_t n, int sig)
{
	int res = 0;
	for (size_t i = 0; i < n; i++) {
		int r = signal_one(pids[i], sig);
		if (r < 0)
			res = r;
	}
	return res;
}

struct cg_dir *cg_procs_dir(struct cg_group *g)
{
	if (g->lo->mode == CG_MODE_V2)
		return &g->dirs[g->lo->v2];
	static const char *const prefer[] = {"pids", "freezer", "memory"};
	for (size_t i = 0; i < ARRAY_SIZE(prefer); i++) {
		struct cg_dir *d = cg_group_dir(g, prefer[i]);
		if (d)
			return d;
	}
	return &g->dirs[0];
}

int cg_wait_empty(struct cg_group *g, int timeout_ms)
{
	const char *dir = cg_procs_dir(g)->path;
	int waited = 0, step = 1;
	for (;;) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = 0;
		int r = cg_read_pids(dir, true, &pids, &n);
		if (r < 0)
			return r;
		if (n == 0)
			return 0;
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		cg_sleep_ms(step);
		waited += step;
		if (step < 20)
			step *= 2;
	}
}
