/* berth-agent: the process of every worker container of `berth par` in
 * exec and line modes. Static (libc and the worker library only), and
 * bind-mounted read-only into the container, so that it runs in any root
 * filesystem.
 *
 *   berth-agent exec [--timeout-ms MS]
 *       per task: runs the command the payload holds (its own process
 *       group, stdin /dev/null, stdout and stderr captured up to the
 *       result size), replaces the worker slot ({%}), reports the exit
 *       status, the signal, the times and the output.
 *   berth-agent line [--timeout-ms MS] -- COMMAND [ARG...]
 *       starts COMMAND once with pipes; per task writes the argument as
 *       one line to its stdin and reports the line it answers. A command
 *       that dies or times out fails its task and is started again.
 *
 *   berth-agent init -- COMMAND [ARG...]
 *       `berth launch --init`'s PID 1 (bind-mounted as /sbin/berth-init):
 *       runs COMMAND, forwards every signal it gets to it, reaps every
 *       orphan, and exits with COMMAND's status (128+N for a signal).
 *
 * The agent is PID 1 of the container: it reaps whatever the tasks leave
 * behind, and it dies with its parent (the helper berth forked), which
 * dies with berth. Exit statuses: 0 at the end of the queue, 1 when the
 * queue cannot be used, 126/127 when the line command cannot be run. */
#define DP_AGENT_ONLY
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dist/berth-worker.h"
#include "dist/dist-par-internal.h"

extern char **environ;

struct agent {
	struct bw *w;
	unsigned slot;
	long long timeout_ms; /* 0: none */
	size_t cap;	      /* output bytes a result may carry */
	char *res;	      /* head + stdout + stderr */
	char *errbuf;	      /* stderr while it is read */
	/* line mode */
	char **cmd;
	pid_t prog;
	int to_prog, from_prog;
	char *lbuf;
	size_t llen;
};

/* line mode: set by SIGCHLD, so that a task costs no waitpid() while
 * the program lives */
static volatile sig_atomic_t child_exited;

static void on_child(int sig)
{
	(void)sig;
	child_exited = 1;
}

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void reap_orphans(pid_t keep, int *keep_status, bool *kept)
{
	int st;
	pid_t p;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		if (p == keep) {
			*keep_status = st;
			*kept = true;
		}
}

/* The task's process gets default signal dispositions and an empty mask
 * (the agent ignores SIGPIPE), and its own process group, so that a
 * timeout kills everything it started. */
static void spawn_attr(posix_spawnattr_t *at)
{
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_init(at);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
					     POSIX_SPAWN_SETSIGDEF |
					     POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(at, 0);
	posix_spawnattr_setsigdefault(at, &all);
	posix_spawnattr_setsigmask(at, &none);
}

static int spawn(char **argv, int in, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	if (err >= 0)
		posix_spawn_file_actions_adddup2(&fa, err, 2);
	spawn_attr(&at);
	int r = posix_spawnp(pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r;
}

/* A message as the task's stderr, the way a shell words it. */
static size_t spawn_error(char *buf, size_t cap, const char *cmd, int e)
{
	int n = e == ENOENT
			? snprintf(buf, cap,
				   "berth-agent: %s: command not found\n", cmd)
			: snprintf(buf, cap, "berth-agent: %s: %s\n", cmd,
				   strerror(e));
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
}

/* ---- exec mode -------------------------------------------------------------
 */

struct sink {
	char *buf;
	size_t len, cap;
	bool truncated;
	int fd;
};

/* Reads what fd has; false at EOF. */
static bool drain(struct sink *s)
{
	char tmp[16384];
	ssize_t n = read(s->fd, tmp, sizeof(tmp));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	size_t room = s->cap - s->len, k = (size_t)n < room ? (size_t)n : room;
	memcpy(s->buf + s->len, tmp, k);
	s->len += k;
	if (k < (size_t)n)
		s->truncated = true;
	return true;
}

/* Reads both pipes to their end and waits for the task, returning its
 * wait status. At the deadline its process group gets SIGTERM, a second
 * later SIGKILL, and a second after that the agent stops reading (a
 * process that left the group may keep the pipes open). */
static int collect(struct agent *a, pid_t pid, struct sink *s, uint32_t *flags)
{
	uint64_t now = clock_us(CLOCK_MONOTONIC);
	uint64_t deadline = a->timeout_ms ? now + a->timeout_ms * 1000 : 0;
	int stage = 0, st = 0;
	bool open[2] = {true, true}, exited = false;
	for (;;) {
		if (!open[0] && !open[1]) {
			if (!deadline)
				break;
			if (waitpid(pid, &st, WNOHANG) == pid) {
				exited = true;
				break;
			}
		}
		now = clock_us(CLOCK_MONOTONIC);
		if (deadline && now >= deadline) {
			if (stage == 2) {
				open[0] = open[1] = false;
				deadline = 0;
				continue;
			}
			kill(-pid, stage ? SIGKILL : SIGTERM);
			kill(pid, stage ? SIGKILL : SIGTERM);
			*flags |= DP_RES_TIMEOUT;
			stage++;
			deadline = now + 1000000;
			continue;
		}
		struct pollfd pf[2];
		nfds_t n = 0;
		int map[2];
		for (int i = 0; i < 2; i++)
			if (open[i]) {
				pf[n] = (struct pollfd){.fd = s[i].fd,
							.events = POLLIN};
				map[n++] = i;
			}
		int wait = -1;
		if (deadline)
			wait = n ? (int)((deadline - now + 999) / 1000) : 10;
		if (poll(pf, n, wait) < 0 && errno != EINTR)
			break;
		for (nfds_t j = 0; j < n; j++)
			if (pf[j].revents && !drain(&s[map[j]]))
				open[map[j]] = false;
	}
	while (!exited && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* The command's words from the payload, {%} made the slot. */
static char **payload_argv(const struct agent *a, const struct bw_task *t,
			   char **seq)
{
	const char *p = t->data, *end = p + t->len;
	size_t n = 0;
	for (const char *s = p; s < end; s++)
		n += *s == '\0';
	char **argv = calloc(n + 1, sizeof(*argv));
	if (!argv || !n || end[-1] != '\0') {
		free(argv);
		return NULL;
	}
	*seq = (char *)p;
	size_t k = 0;
	for (const char *s = p + strlen(p) + 1; s < end; s += strlen(s) + 1) {
		argv[k] = malloc(strlen(s) * 10 + 20);
		if (!argv[k])
			break;
		dp_word_decode(s, a->slot, argv[k++]);
	}
	argv[k] = NULL;
	return argv;
}

static void free_argv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Head, stdout, stderr in a->res; stderr is cut first when both do not
 * fit. Returns the bytes to report. */
static size_t pack(struct agent *a, struct dp_agent_result *h, struct sink *out,
		   struct sink *err)
{
	size_t elen = err->len;
	if (out->len + elen > a->cap) {
		elen = a->cap - out->len;
		h->flags |= DP_RES_TRUNCATED;
	}
	if (out->truncated || err->truncated)
		h->flags |= DP_RES_TRUNCATED;
	h->out_len = (uint32_t)out->len;
	h->err_len = (uint32_t)elen;
	memcpy(a->res, h, sizeof(*h));
	memcpy(a->res + sizeof(*h) + out->len, err->buf, elen);
	return sizeof(*h) + out->len + elen;
}

static void set_status(struct dp_agent_result *h, int st, int32_t *status)
{
	if (WIFSIGNALED(st)) {
		h->exit = -1;
		h->signal = WTERMSIG(st);
		*status = 128 + h->signal;
	} else {
		h->exit = WEXITSTATUS(st);
		*status = h->exit;
	}
}

static void run_exec(struct agent *a, const struct bw_task *t)
{
	struct dp_agent_result h = {0};
	struct sink out = {.buf = a->res + sizeof(h), .cap = a->cap, .fd = -1};
	struct sink err = {.buf = a->errbuf, .cap = a->cap, .fd = -1};
	int32_t status = 0;
	char *seq = NULL;
	char **argv = payload_argv(a, t, &seq);
	h.start_us = clock_us(CLOCK_REALTIME);
	uint64_t t0 = clock_us(CLOCK_MONOTONIC);
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	if (!argv || !argv[0]) {
		err.len = (size_t)snprintf(err.buf, err.cap,
					   "berth-agent: malformed task\n");
		h.exit = status = 2;
	} else if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		err.len = spawn_error(err.buf, err.cap, "pipe", errno);
		if (po[1] >= 0)
			close(po[1]);
		h.exit = status = 126;
	} else {
		char slot[16];
		snprintf(slot, sizeof(slot), "%u", a->slot);
		setenv("PARALLEL_SEQ", seq, 1);
		setenv("PARALLEL_JOBSLOT", slot, 1);
		pid_t pid;
		int r = spawn(argv, -1, po[1], pe[1], &pid);
		close(po[1]);
		close(pe[1]);
		if (r != 0) {
			err.len = spawn_error(err.buf, err.cap, argv[0], r);
			h.exit = status = r == ENOENT ? 127 : 126;
		} else {
			struct sink s[2];
			out.fd = po[0];
			err.fd = pe[0];
			s[0] = out;
			s[1] = err;
			int st = collect(a, pid, s, &h.flags);
			out = s[0];
			err = s[1];
			set_status(&h, st, &status);
		}
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	int dummy;
	bool kept;
	reap_orphans(0, &dummy, &kept);
	h.run_us = clock_us(CLOCK_MONOTONIC) - t0;
	free_argv(argv);
	bw_done(a->w, t, status, a->res, pack(a, &h, &out, &err));
}

/* ---- line mode
 * --------------------------------------------------------------- */

static int line_start(struct agent *a)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		return e;
	}
	int r = spawn(a->cmd, in[0], out[1], -1, &a->prog);
	close(in[0]);
	close(out[1]);
	if (r != 0) {
		close(in[1]);
		close(out[0]);
		a->prog = 0;
		return r;
	}
	a->to_prog = in[1];
	a->from_prog = out[0];
	a->llen = 0;
	return 0;
}

/* Ends the line program (EOF on its stdin, then SIGKILL after
 * grace_ms) and returns its wait status. */
static int line_stop(struct agent *a, int grace_ms)
{
	if (!a->prog)
		return 0;
	close(a->to_prog);
	close(a->from_prog);
	int st = 0;
	bool got = false;
	for (int i = 0; i < grace_ms / 10 && !got; i++) {
		reap_orphans(a->prog, &st, &got);
		if (!got)
			usleep(10000);
	}
	if (!got) {
		kill(-a->prog, SIGKILL);
		kill(a->prog, SIGKILL);
		while (waitpid(a->prog, &st, 0) < 0 && errno == EINTR)
			;
	}
	a->prog = 0;
	return st;
}

/* One answer line into out: 1, 0 at EOF, -ETIMEDOUT. */
static int line_read(struct agent *a, struct sink *out, uint64_t deadline)
{
	for (;;) {
		char *nl = memchr(a->lbuf, '\n', a->llen);
		if (nl) {
			size_t n = (size_t)(nl - a->lbuf) + 1;
			size_t k = n < out->cap ? n : out->cap;
			memcpy(out->buf, a->lbuf, k);
			out->len = k;
			out->truncated = k < n;
			memmove(a->lbuf, nl + 1, a->llen - n);
			a->llen -= n;
			return 1;
		}
		if (a->llen == a->cap) /* an endless line: cut it */
			a->llen = 0;
		int wait = -1;
		if (deadline) {
			uint64_t now = clock_us(CLOCK_MONOTONIC);
			if (now >= deadline)
				return -ETIMEDOUT;
			wait = (int)((deadline - now + 999) / 1000);
		}
		/* without a deadline the read itself waits */
		struct pollfd pf = {.fd = a->from_prog, .events = POLLIN};
		int r = deadline ? poll(&pf, 1, wait) : 1;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		ssize_t n =
			read(a->from_prog, a->lbuf + a->llen, a->cap - a->llen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		a->llen += (size_t)n;
	}
}

/* One write a task: the line and its newline together. */
static bool line_write(struct agent *a, const struct bw_task *t)
{
	const char *d = t->data;
	bool nl = t->len && d[t->len - 1] == '\n';
	struct iovec iov[2] = {{(void *)d, t->len}, {"\n", nl ? 0 : 1}};
	ssize_t want = (ssize_t)(t->len + (nl ? 0 : 1));
	ssize_t n = writev(a->to_prog, iov, 2);
	if (n == want)
		return true;
	/* a long line the pipe took in part: the rest, plainly */
	for (size_t off = n > 0 ? (size_t)n : 0; n >= 0 || errno == EINTR;) {
		if (off >= (size_t)want)
			return true;
		const char *src = off < t->len ? d + off : "\n";
		size_t len = off < t->len ? t->len - off : 1;
		n = write(a->to_prog, src, len);
		if (n > 0)
			off += (size_t)n;
	}
	return false;
}

static void run_line(struct agent *a, const struct bw_task *t)
{
	struct dp_agent_result h = {.start_us = clock_us(CLOCK_REALTIME)};
	struct sink out = {.buf = a->res + sizeof(h), .cap = a->cap};
	struct sink err = {.buf = a->errbuf, .cap = a->cap};
	uint64_t t0 = clock_us(CLOCK_MONOTONIC);
	int32_t status = 0;
	int r = a->prog ? 0 : line_start(a);
	if (r != 0) {
		err.len = spawn_error(err.buf, err.cap, a->cmd[0], r);
		h.exit = status = r == ENOENT ? 127 : 126;
	} else {
		uint64_t dl = a->timeout_ms ? t0 + a->timeout_ms * 1000 : 0;
		r = line_write(a, t) ? line_read(a, &out, dl) : 0;
		if (r == -ETIMEDOUT) {
			h.flags |= DP_RES_TIMEOUT;
			line_stop(a, 0);
			h.exit = -1;
			h.signal = SIGKILL;
			status = 128 + SIGKILL;
		} else if (r == 0) {
			int st = line_stop(a, 1000);
			set_status(&h, st, &status);
			if (!status)
				h.exit = status = 1;
			err.len = (size_t)snprintf(
				err.buf, err.cap,
				"berth-agent: `%s` ended without answering "
				"(%s %d)\n",
				a->cmd[0],
				WIFSIGNALED(st) ? "signal" : "exit status",
				WIFSIGNALED(st) ? WTERMSIG(st)
						: WEXITSTATUS(st));
		}
	}
	h.run_us = clock_us(CLOCK_MONOTONIC) - t0;
	/* what the program left behind; if it died itself, the next task
	 * starts it again */
	int st;
	bool gone = false;
	if (child_exited) {
		child_exited = 0;
		reap_orphans(a->prog, &st, &gone);
	}
	if (gone && a->prog) {
		close(a->to_prog);
		close(a->from_prog);
		a->prog = 0;
	}
	bw_done(a->w, t, status, a->res, pack(a, &h, &out, &err));
}

/* ---- init: launch --init's PID 1 -------------------------------------- */

static int status_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Every signal is blocked and taken with sigwaitinfo: SIGCHLD reaps,
 * anything else goes to the command (PID 1 of a namespace gets no
 * default action, so SIGTERM would otherwise do nothing). */
static int init_main(char **cmd)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t child = fork();
	if (child < 0) {
		perror("berth-init: fork");
		return 1;
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		fprintf(stderr, "berth-init: %s: %s\n", cmd[0],
			strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			if (p == child)
				return status_code(st);
	}
}

/* ---- main
 * -------------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr, "usage: berth-agent exec [--timeout-ms MS]\n"
			"       berth-agent line [--timeout-ms MS] -- COMMAND "
			"[ARG...]\n"
			"       berth-agent init -- COMMAND [ARG...]\n"
			"(run by `berth par` inside its worker containers)\n");
	return 2;
}

static int parse_args(struct agent *a, int argc, char **argv, bool *line)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "line"))
		*line = true;
	else if (strcmp(argv[1], "exec"))
		return -1;
	int i = 2;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			a->timeout_ms = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			return -1;
	}
	if (*line && i >= argc)
		return -1;
	a->cmd = argv + i;
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a = {0};
	bool line = false;
	/* the init lives as long as its command, whatever its parent does */
	if (argc > 3 && !strcmp(argv[1], "init") && !strcmp(argv[2], "--"))
		return init_main(argv + 3);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(&a, argc, argv, &line) < 0)
		return usage();
	if (line) {
		struct sigaction sa = {.sa_handler = on_child,
				       .sa_flags = SA_RESTART | SA_NOCLDSTOP};
		sigaction(SIGCHLD, &sa, NULL);
		/* a command that cannot run fails the worker at once, before
		 * it takes any task */
		int r = line_start(&a);
		if (r != 0) {
			char msg[512];
			spawn_error(msg, sizeof(msg), a.cmd[0], r);
			fputs(msg, stderr);
			return r == ENOENT ? 127 : 126;
		}
	}
	char err[256];
	int r = bw_open(&a.w, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "berth-agent: %s\n", err);
		return 1;
	}
	a.slot = bw_worker_id(a.w) + 1;
	a.cap = bw_max_result(a.w) - sizeof(struct dp_agent_result);
	a.res = malloc(bw_max_result(a.w));
	a.errbuf = malloc(a.cap);
	a.lbuf = malloc(a.cap);
	if (!a.res || !a.errbuf || !a.lbuf) {
		fprintf(stderr, "berth-agent: out of memory\n");
		return 1;
	}
	const struct bw_task *t;
	while ((t = bw_next(a.w)) != NULL) {
		struct bw_task copy = *t;
		if (line)
			run_line(&a, &copy);
		else
			run_exec(&a, &copy);
	}
	if (line)
		line_stop(&a, 2000);
	bw_close(a.w);
	return 0;
}
