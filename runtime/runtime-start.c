/* start and run. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "runtime/runtime-internal.h"

static int connect_start_socket(struct rt_container *c, struct berr *err)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path),
		 "/proc/self/fd/%d/start.sock", c->dirfd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return berr_setx(err, ESRCH,
				 "cannot start a container that has stopped");
	}
	return fd;
}

static void run_poststart(struct rt_container *c)
{
	_cleanup_(oci_config_freep) struct oci_config *cfg = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct berr err = {0};
	if (c->state->hooks_known && !c->state->has_poststart)
		return;
	if (base_read_file_at(c->dirfd, "config.json", &buf, &len, 0) < 0 ||
	    oci_config_parse(buf, len, &cfg, &err) < 0 ||
	    cfg->hooks.poststart.n == 0)
		return;
	_cleanup_free_ char *json =
		oci_state_hook_json(c->state, OCI_STATUS_RUNNING);
	/* the spec: a failing poststart hook is a warning, not a failure */
	if (rt_hooks_run(&cfg->hooks.poststart, "poststart", json, NULL, &err) <
	    0)
		blog_warn("%s", err.msg);
}

/* What the init answers once told to start: nothing, the socket closing
 * with its exec, or why it could not exec. Records the outcome. */
static int start_outcome(struct rt_container *c, int fd, struct berr *err)
{
	char msg[BERR_MSG_MAX];
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, msg + n, sizeof(msg) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || (n += (size_t)k) == sizeof(msg) - 1)
			break;
	}
	msg[n] = '\0';
	unlinkat(c->dirfd, "start.sock", 0);
	if (n > 0) {
		c->state->status = OCI_STATUS_STOPPED;
		rt_container_save(c, NULL);
		return berr_setx(err, ENOEXEC, "%s", msg);
	}
	if (!c->state->started) { /* run recorded it before the exec */
		c->state->started = true;
		c->state->status = OCI_STATUS_RUNNING;
		int r = rt_container_save(c, err);
		if (r < 0)
			return r;
	}
	run_poststart(c);
	return 0;
}

int rt_start_container(struct rt_container *c, struct berr *err)
{
	_cleanup_close_ int fd = connect_start_socket(c, err);
	if (fd < 0)
		return fd;
	if (base_write_all(fd, "s", 1) < 0)
		return berr_setx(err, ESRCH,
				 "cannot start a container that has stopped");
	return start_outcome(c, fd, err);
}

int rt_start(const struct rt_ctx *ctx, const char *id, struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, true, &c, err);
	if (r < 0)
		return r;
	switch (rt_container_status(c)) {
	case OCI_STATUS_CREATED:
		return rt_start_container(c, err);
	case OCI_STATUS_STOPPED:
		return berr_setx(err, EINVAL,
				 "cannot start a container that has stopped");
	case OCI_STATUS_CREATING:
		return berr_setx(err, EBUSY,
				 "container %s is still being "
				 "created",
				 id);
	default:
		return berr_setx(err, EINVAL,
				 "cannot start an already running container");
	}
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/* Forwards the signals a terminal or a supervisor sends to `berth run`
 * to the container's init, until it exits. */
static int wait_forwarding(int pidfd, pid_t pid, int *status)
{
	sigset_t set;
	sigemptyset(&set);
	static const int fwd[] = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
				  SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		int n = poll(p, sfd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (p[0].revents)
			break;
		struct signalfd_siginfo si;
		if (sfd >= 0 && p[1].revents &&
		    read(sfd, &si, sizeof(si)) == sizeof(si))
			syscall(SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo,
				NULL, 0);
	}
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

int rt_run(const struct rt_ctx *ctx, const char *id,
	   const struct rt_create_opts *opts, int *exit_status,
	   struct berr *err)
{
	struct rt_handoff h = {.proxy = !opts->detach};
	int r = rt_create_container(ctx, id, opts, &h, err);
	if (r < 0)
		return r;
	_cleanup_close_ int pidfd = h.pidfd;
	_cleanup_close_ int console_peer = h.console_peer;
	_cleanup_(rt_container_freep) struct rt_container *c = h.c;
	r = start_outcome(c, h.start_fd, err);
	close(h.start_fd);
	if (r < 0 || opts->detach) {
		if (r < 0)
			rt_container_destroy(c, NULL);
		return r;
	}
	pid_t pid = c->state->pid;
	/* the lock would block `berth state`/`kill` callers' changes while
	 * the container runs: drop it and take it again to delete */
	rt_container_free(TAKE_PTR(c));
	int status = 0;
	if (console_peer >= 0)
		r = rt_tty_proxy(console_peer, pidfd, pid, &status, err);
	else if ((r = wait_forwarding(pidfd, pid, &status)) < 0)
		berr_set(err, -r, "wait for container %s", id);
	if (r < 0)
		return r;
	*exit_status = exit_code(status);
	if (opts->keep)
		return 0;
	r = rt_container_open(ctx, id, true, &c, err);
	if (r < 0)
		return r == -ENOENT ? 0 : r; /* deleted meanwhile */
	return rt_container_destroy(c, err);
}
