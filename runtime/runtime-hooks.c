/* OCI hooks: each one a child process that reads the container state on
 * its stdin, with a timeout.
 *
 * The parent never blocks on a hook: the state goes through a non-blocking
 * pipe while the hook's stdout and stderr are drained and its exit watched
 * through a pidfd, all in one poll() loop. A hook that ignores its stdin or
 * leaves a background process holding its stderr cannot hang berth. */
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "runtime/runtime-internal.h"

#define TAIL_MAX 1024

struct tail {
	char buf[TAIL_MAX];
	size_t len;
};

struct hook_run {
	pid_t pid;
	int pidfd;	   /* -1 without pidfd_open (Linux < 5.3) */
	int in, out, errp; /* parent ends; -1 once closed */
	const char *data;  /* the state, written to in */
	const char *cwd;   /* the hook's working directory; NULL: berth's */
	size_t len, off;
	struct tail out_tail, err_tail;
	bool reaped;
	int status;
};

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- child ------------------------------------------------------------- */

static int move_high(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static void hook_child(const struct oci_hook *h, const char *cwd, int in,
		       int out, int errp, int report)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* move the pipe ends above 2 first so that no dup2() clobbers one */
	int fds[3] = {move_high(in), move_high(out), move_high(errp)};
	for (int i = 0; i < 3; i++)
		if (fds[i] < 0 || dup2(fds[i], i) < 0)
			goto fail;
	/* a hook gets stdio only, like any child Go's os/exec starts; fds
	 * berth was asked to preserve for the container are not its own */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (cwd && chdir(cwd) < 0)
		goto fail;
	char *argv0[] = {h->path, NULL};
	char *const *argv = h->args && h->args[0] ? h->args : argv0;
	/* a hook without "env" gets berth's environment, as runc's (Go's
	 * exec.Cmd with a nil Env) do; "env": [] is an empty one */
	execve(h->path, argv, h->env ? h->env : environ);
fail:;
	int e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

/* ---- parent ------------------------------------------------------------ */

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		p += n - TAIL_MAX;
		n = TAIL_MAX;
	}
	if (t->len + n > TAIL_MAX) {
		size_t drop = t->len + n - TAIL_MAX;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/* The last non-empty line, NUL-terminated in place; "" when none. */
static const char *tail_last_line(struct tail *t)
{
	size_t n = t->len;
	while (n && (t->buf[n - 1] == '\n' || t->buf[n - 1] == '\r'))
		n--;
	if (n == TAIL_MAX)
		n--;
	t->buf[n] = '\0';
	char *nl = memrchr(t->buf, '\n', n);
	return nl ? nl + 1 : t->buf;
}

/* Reads what is there; closes fd at EOF or error. */
static void drain(int *fd, struct tail *t)
{
	char buf[4096];
	while (*fd >= 0) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		if (n > 0) {
			tail_add(t, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		closep(fd);
	}
}

static void feed(struct hook_run *h)
{
	while (h->in >= 0 && h->off < h->len) {
		ssize_t n = write(h->in, h->data + h->off, h->len - h->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) /* EPIPE: the hook does not read its stdin */
			break;
		h->off += (size_t)n;
	}
	closep(&h->in);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool check_exit(struct hook_run *h)
{
	pid_t r;
	do
		r = waitpid(h->pid, &h->status, WNOHANG);
	while (r < 0 && errno == EINTR);
	h->reaped = r == h->pid;
	return h->reaped;
}

/* Returns false when the deadline passed before the hook exited. */
static bool hook_wait(struct hook_run *h, int64_t deadline)
{
	for (;;) {
		struct pollfd p[4] = {
			{.fd = h->pidfd, .events = POLLIN},
			{.fd = h->in, .events = POLLOUT},
			{.fd = h->out, .events = POLLIN},
			{.fd = h->errp, .events = POLLIN},
		};
		int timeout = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return false;
			timeout = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		if (h->pidfd < 0 && (timeout < 0 || timeout > 10))
			timeout = 10; /* no pidfd: poll for the exit */
		if (poll(p, 4, timeout) < 0 && errno != EINTR)
			return true; /* cannot happen; fall back to waitpid */
		if (p[1].revents)
			feed(h);
		if (p[2].revents)
			drain(&h->out, &h->out_tail);
		if (p[3].revents)
			drain(&h->errp, &h->err_tail);
		if ((h->pidfd >= 0 && p[0].revents) ||
		    (h->pidfd < 0 && check_exit(h)))
			return true;
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Forks the hook with three pipes plus one that reports a failed execve
 * (it closes on success, being O_CLOEXEC). */
static int hook_spawn(const struct oci_hook *o, struct hook_run *h,
		      int report[2])
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
	int r = 0;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(er, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0) {
		h->pid = fork();
		if (h->pid == 0)
			hook_child(o, h->cwd, in[0], out[1], er[1], report[1]);
		if (h->pid < 0)
			r = -errno;
	}
	closep(&in[0]);
	closep(&out[1]);
	closep(&er[1]);
	closep(&report[1]);
	h->in = in[1];
	h->out = out[0];
	h->errp = er[0];
	if (r < 0)
		return r;
	set_nonblock(h->in);
	set_nonblock(h->out);
	set_nonblock(h->errp);
	h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
	return 0;
}

static void hook_finish(struct hook_run *h, bool timed_out)
{
	if (h->pid <= 0)
		h->reaped = true; /* never forked: nothing to wait for */
	else if (timed_out)
		kill(h->pid, SIGKILL);
	while (!h->reaped) {
		pid_t r = waitpid(h->pid, &h->status, 0);
		if (r == h->pid || (r < 0 && errno != EINTR))
			h->reaped = true;
	}
	/* what is already buffered; a background child of the hook may keep
	 * the pipes open, so no waiting for EOF */
	drain(&h->out, &h->out_tail);
	drain(&h->errp, &h->err_tail);
	closep(&h->in);
	closep(&h->out);
	closep(&h->errp);
	closep(&h->pidfd);
}

static int hook_report(const struct oci_hook *o, struct hook_run *h,
		       const char *name, bool timed_out, int exec_errno,
		       struct berr *err)
{
	if (timed_out)
		return berr_setx(err, ETIMEDOUT,
				 "%s hook `%s`: timed out after %ds", name,
				 o->path, o->timeout);
	if (exec_errno)
		return berr_set(err, exec_errno, "%s hook `%s`", name, o->path);
	if (WIFEXITED(h->status) && WEXITSTATUS(h->status) == 0)
		return 0;
	char what[64];
	if (WIFEXITED(h->status))
		snprintf(what, sizeof(what), "exit status %d",
			 WEXITSTATUS(h->status));
	else
		snprintf(what, sizeof(what), "killed by signal %d",
			 WTERMSIG(h->status));
	const char *line = tail_last_line(&h->err_tail);
	const char *src = "stderr";
	if (!*line) {
		line = tail_last_line(&h->out_tail);
		src = "stdout";
	}
	if (*line)
		return berr_setx(err, EIO, "%s hook `%s`: %s, %s: %s", name,
				 o->path, what, src, line);
	return berr_setx(err, EIO, "%s hook `%s`: %s", name, o->path, what);
}

static int hook_run_one(const struct oci_hook *o, const char *name,
			const char *state, const char *cwd, struct berr *err)
{
	struct hook_run h = {.pid = -1,
			     .pidfd = -1,
			     .data = state,
			     .len = strlen(state),
			     .cwd = cwd};
	int report[2] = {-1, -1};
	int r = hook_spawn(o, &h, report);
	if (r < 0) {
		closep(&report[0]);
		hook_finish(&h, false);
		return berr_set(err, -r, "%s hook `%s`: spawn", name, o->path);
	}
	feed(&h);
	int64_t deadline =
		o->has_timeout ? now_ms() + (int64_t)o->timeout * 1000 : -1;
	bool timed_out = !hook_wait(&h, deadline);
	hook_finish(&h, timed_out);
	int e = 0;
	if (read(report[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
		e = 0;
	closep(&report[0]);
	return hook_report(o, &h, name, timed_out, e, err);
}

bool rt_hooks_in_runtime_ns(const struct oci_config *c)
{
	return c->hooks.prestart.n > 0 || c->hooks.create_runtime.n > 0;
}

/* A hook that exits without reading its stdin makes our write fail with
 * EPIPE; SIGPIPE is held for the duration and a pending one we caused is
 * consumed, so that the caller's disposition does not matter. */
int rt_hooks_run(const struct oci_hook_list *l, const char *name,
		 const char *state_json, const char *cwd, struct berr *err)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	int r = 0;
	for (size_t i = 0; i < l->n && r == 0; i++) {
		blog_debug("running %s hook %s", name, l->v[i].path);
		r = hook_run_one(&l->v[i], name, state_json ? state_json : "",
				 cwd, err);
	}
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}
