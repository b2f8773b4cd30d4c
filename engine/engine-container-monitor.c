/* A launched container's monitor: what conmon is to podman, without a
 * daemon behind it.
 *
 * launch -d (and restart) fork it as a grandchild in its own session, so
 * that it outlives berth and no terminal signal reaches it. It runs the
 * container itself (rt_run, detached): the init is its child, so that its
 * exit status can be waited for, and the init's stdout and stderr are
 * pipes whose read ends only the monitor holds. It reports the start's
 * outcome to the berth that forked it, then writes the log, records the
 * exit status in state.json, applies the restart policy (deleting the
 * runtime's stopped container, never its bundle, and running it again
 * from that bundle) and, for --rm, deletes the container at the end. It
 * holds monitor.lock for as long as it lives. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* What the monitor tells the berth that forked it: the first start. */
struct report {
	int r;
	struct berr err;
};

struct mon {
	const struct rt_ctx *ctx; /* with eng_release */
	struct rt_ctx keep;	  /* deletes that keep the bundle */
	const struct eng_ctr_record *rec;
	int dirfd, lockfd, null;
	int report; /* -1 once reported */
	int go;	    /* closed once the monitor outlives the launcher */
	struct eng_log_writer w;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* Every fd but those in keep (sorted, >= 3) is closed: the launcher's
 * locks and whatever else berth held. */
static void close_others(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned)keep[i] < lo)
			continue;
		if ((unsigned)keep[i] > lo)
			syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, lo, ~0U, 0);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

#define CONSOLE_SOCK "console.sock"

/* -t: the runtime hands the terminal's master over to a socket of the
 * record (connecting before rt_run returns: the connection waits in the
 * backlog). */
static int console_listen(struct mon *m, char **path, struct berr *err)
{
	const char *root = m->ctx->root ? m->ctx->root : RT_DEFAULT_ROOT;
	*path = base_sprintf("%s/%s/%s/%s", root, ENG_CTR_DIR, m->rec->id,
			     CONSOLE_SOCK);
	unlinkat(m->dirfd, CONSOLE_SOCK, 0);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	/* short whatever the state root's length */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
		 m->dirfd, CONSOLE_SOCK);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 1) < 0)
		return berr_set(err, errno, "console socket %s", *path);
	return TAKE_FD(s);
}

static int console_take(struct mon *m, int s, struct berr *err)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	_cleanup_close_ int c = poll(&p, 1, 5000) == 1
					? accept4(s, NULL, NULL, SOCK_CLOEXEC)
					: -1;
	int fd = -1;
	char buf[64];
	int r = c < 0 ? -ETIMEDOUT : base_recv_fd(c, &fd, buf, sizeof(buf));
	unlinkat(m->dirfd, CONSOLE_SOCK, 0);
	if (r < 0 || fd < 0)
		return berr_set(err, r < 0 ? -r : EIO,
				"receive the terminal of %s", m->rec->id);
	return fd;
}

/* -t: the container's terminal is its stdout (docker logs it so). */
static int start_tty(struct mon *m, int *out, int *pidfd, struct berr *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int s = console_listen(m, &path, err);
	if (s < 0)
		return s;
	struct rt_create_opts co = {.bundle = m->rec->bundle,
				    .console_socket = path,
				    .detach = true,
				    .keep = true,
				    .seccomp_cache = m->rec->seccomp_cache};
	int status = 0;
	int r = rt_run(m->ctx, m->rec->id, &co, &status, err);
	if (r == 0 && (*out = console_take(m, s, err)) < 0) {
		r = *out;
		rt_delete(&m->keep, m->rec->id, true, NULL);
	}
	*pidfd = r < 0 ? -1 : rt_pidfd(m->ctx, m->rec->id, NULL);
	return r;
}

/* Runs the container with its stdout and stderr on new pipes; *out and
 * *errfd get the read ends, *pidfd the init's. */
static int start(struct mon *m, int *out, int *errfd, int *pidfd,
		 struct berr *err)
{
	if (m->rec->tty)
		return start_tty(m, out, pidfd, err);
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return berr_set(err, errno, "pipe");
	}
	/* the init inherits 1 and 2; dup2 clears O_CLOEXEC there */
	dup2(po[1], 1);
	dup2(pe[1], 2);
	close(po[1]);
	close(pe[1]);
	struct rt_create_opts co = {.bundle = m->rec->bundle,
				    .detach = true,
				    .keep = true,
				    .seccomp_cache = m->rec->seccomp_cache};
	int status = 0;
	int r = rt_run(m->ctx, m->rec->id, &co, &status, err);
	dup2(m->null, 1);
	dup2(m->null, 2);
	*out = po[0];
	*errfd = pe[0];
	*pidfd = r < 0 ? -1 : rt_pidfd(m->ctx, m->rec->id, NULL);
	if (r < 0) {
		close(po[0]);
		close(pe[0]);
	}
	return r;
}

static void send_report(struct mon *m, int r, const struct berr *err, int out,
			int errfd, int pidfd)
{
	if (m->report < 0)
		return;
	/* from here on the monitor outlives the launcher: its middle
	 * process may go */
	prctl(PR_SET_PDEATHSIG, 0);
	close(m->go);
	m->go = -1;
	struct report rep = {.r = r};
	if (r < 0)
		rep.err = *err;
	(void)base_write_all(m->report, &rep, sizeof(rep));
	close(m->report);
	m->report = -1;
	int keep[] = {m->dirfd, m->lockfd, m->null, m->w.fd, out, errfd, pidfd};
	qsort(keep, ARRAY_SIZE(keep), sizeof(keep[0]), cmp_int);
	close_others(keep, ARRAY_SIZE(keep));
}

/* stop asked for it, or the container (or its directory) is gone. */
static bool stopped(struct mon *m)
{
	struct stat st;
	if (fstat(m->dirfd, &st) < 0 || st.st_nlink == 0)
		return true;
	if (faccessat(m->dirfd, ENG_STOPPED_FILE, F_OK, 0) == 0)
		return true;
	_cleanup_free_ char *json = NULL;
	return rt_state(m->ctx, m->rec->id, &json, NULL) < 0;
}

/* docker's back-off: 100 ms, doubled each restart, at most a minute;
 * sliced so that a stop is seen within 100 ms. */
static bool wait_backoff(struct mon *m, int restarts)
{
	int64_t ms = 100;
	for (int i = 0; i < restarts && ms < 60000; i++)
		ms *= 2;
	for (int64_t t = 0; t < ms; t += 100) {
		struct timespec ts = {0, 100 * 1000000};
		nanosleep(&ts, NULL);
		if (stopped(m))
			return false;
	}
	return true;
}

static void run(struct mon *m)
{
	int restarts = 0;
	for (;;) {
		int out = -1, errfd = -1, pidfd = -1;
		struct berr err = {0};
		int r = start(m, &out, &errfd, &pidfd, &err);
		flock(m->dirfd, LOCK_UN);
		send_report(m, r, &err, out, errfd, pidfd);
		if (r < 0) {
			eng_log_write(&m->w, "stderr", err.msg, strlen(err.msg),
				      NULL);
			eng_ctr_state_write(m->dirfd, 0, now_s(), 127,
					    restarts);
			return;
		}
		int64_t started = now_s();
		eng_ctr_state_write(m->dirfd, started, 0, -1, restarts);
		int code = eng_log_pump(&m->w, out, errfd, pidfd);
		eng_ctr_state_write(m->dirfd, started, now_s(), code, restarts);
		if (!eng_restart_wanted(&m->rec->restart, code, restarts,
					stopped(m)) ||
		    !wait_backoff(m, restarts))
			return;
		restarts++;
		/* no launch takes the record for a dead one's meanwhile */
		flock(m->dirfd, LOCK_EX);
		if (rt_delete(&m->keep, m->rec->id, true, NULL) < 0)
			return;
	}
}

static void monitor_main(const struct rt_ctx *ctx,
			 const struct eng_ctr_record *rec, int report, int go)
{
	prctl(PR_SET_NAME, "berth-monitor");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	const char *root = ctx->root ? ctx->root : RT_DEFAULT_ROOT;
	struct mon m = {.ctx = ctx,
			.keep = *ctx,
			.rec = rec,
			.report = report,
			.go = go};
	m.keep.release = NULL;
	m.null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (m.null >= 0)
		dup2(m.null, 0);
	struct berr err = {0};
	m.dirfd = eng_ctr_dir_open(root, rec->id);
	m.lockfd = m.dirfd < 0 ? -1
			       : openat(m.dirfd, ENG_MONITOR_LOCK,
					O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int r = m.lockfd < 0 ? berr_set(&err, errno, "open %s/%s/%s/%s", root,
					ENG_CTR_DIR, rec->id, ENG_MONITOR_LOCK)
			     : 0;
	/* a monitor before this one (restart) finishes first */
	if (r == 0 && flock(m.lockfd, LOCK_EX) < 0)
		r = berr_set(&err, errno, "lock the monitor of %s", rec->id);
	if (r == 0)
		r = eng_log_writer_open(&m.w, m.dirfd, rec->log_max_size,
					rec->log_max_file, &err);
	if (r < 0) {
		send_report(&m, r, &err, -1, -1, -1);
		_exit(1);
	}
	run(&m);
	eng_log_writer_close(&m.w);
	close(m.lockfd); /* the delete below waits for no monitor */
	if (rec->rm)
		rt_delete(ctx, rec->id, true, NULL);
	_exit(0);
}

/* Between the launcher and the monitor, in a session of its own: until
 * the container has started, a launcher killed takes this process with
 * it (PR_SET_PDEATHSIG) and this one the monitor, as a killed `berth
 * launch` took its container's creation with it before; then it goes and
 * the monitor, no longer anybody's child but init's, outlives berth. */
static _Noreturn void middle(const struct rt_ctx *ctx,
			     const struct eng_ctr_record *rec, int report,
			     pid_t launcher)
{
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int go[2];
	if (getppid() != launcher || pipe2(go, O_CLOEXEC) < 0)
		_exit(1);
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		close(go[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(1);
		monitor_main(ctx, rec, report, go[1]);
		_exit(0);
	}
	close(go[1]);
	close(report);
	char c;
	while (pid > 0 && read(go[0], &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

int eng_ctr_monitor_spawn(const struct rt_ctx *ctx,
			  const struct eng_ctr_record *rec, struct berr *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	pid_t launcher = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return berr_set(err, errno, "fork the monitor of %s", rec->id);
	}
	if (pid == 0) {
		close(p[0]);
		middle(ctx, rec, p[1], launcher);
	}
	close(p[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	struct report rep;
	int r = base_read_all(p[0], &rep, sizeof(rep));
	close(p[0]);
	if (r < 0)
		return berr_setx(err, EIO,
				 "the monitor of %s ended before "
				 "the container started",
				 rec->id);
	if (rep.r < 0 && err)
		*err = rep.err;
	return rep.r;
}
