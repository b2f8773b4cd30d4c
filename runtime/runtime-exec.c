/* exec: a new process in an existing container.
 *
 * berth forks a helper that joins the container's cgroup and, through the
 * init's pidfd, its namespaces; the helper clones the process with
 * CLONE_PARENT so that it is berth's own child (waitable) and, once berth
 * exits in detached mode, the child of berth's subreaper (containerd's
 * shim). The process reports a failure before exec over a CLOEXEC pipe:
 * EOF without a message means the exec succeeded. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cgroups/cgroups.h"
#include "runtime/runtime-internal.h"

struct exec_job {
	const char *id;
	const struct rt_exec_opts *o;
	struct oci_config *cfg; /* its process is the one to run */
	struct cg_group *cg;
	bool cg_placed; /* the helper was cloned into its cgroup2 dir */
	int pidfd;	/* the init's */
	int ns_flags;
	int console_fd;
	int console_peer; /* berth's end when it proxies the terminal */
	int seccomp_fd;	  /* connected to listenerPath, or -1 */
	const struct oci_state *state;
	int err_pipe[2];
	int pid_pipe[2];
};

static int set_env(char ***env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (char **e = *env; e && *e; e++) {
		if (!strncmp(*e, kv, klen) && (*e)[klen] == '=') {
			free(*e);
			*e = base_strdup(kv);
			return 0;
		}
	}
	base_strv_push(env, kv);
	return 0;
}

/* --additional-gids: added to the process's groups. */
static void add_gids(struct oci_user *u, const uint32_t *gids, size_t n)
{
	if (!n)
		return;
	u->additional_gids = base_realloc(
		u->additional_gids, u->n_additional_gids + n, sizeof(uint32_t));
	memcpy(u->additional_gids + u->n_additional_gids, gids,
	       n * sizeof(uint32_t));
	u->n_additional_gids += n;
}

static int add_cap(struct oci_capset *s, int cap)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->caps[i] == cap)
			return 0;
	s->caps = base_realloc(s->caps, s->n + 1, sizeof(int));
	s->caps[s->n++] = cap;
	s->present = true;
	return 0;
}

static int parse_user(const char *u, struct oci_user *out, struct berr *err)
{
	_cleanup_free_ char *copy = base_strdup(u);
	char *colon = strchr(copy, ':');
	if (colon)
		*colon = '\0';
	uint64_t uid, gid = 0;
	if (base_parse_u64(copy, &uid) < 0 || uid > UINT32_MAX ||
	    (colon &&
	     (base_parse_u64(colon + 1, &gid) < 0 || gid > UINT32_MAX)))
		return berr_setx(err, EINVAL,
				 "invalid --user `%s`: expected "
				 "UID[:GID]",
				 u);
	out->uid = (uint32_t)uid;
	out->gid = (uint32_t)gid;
	return 0;
}

/* Replaces the config's process by what exec was asked to run. */
static int build_process(struct exec_job *j, struct berr *err)
{
	struct oci_process *p = &j->cfg->process;
	const struct rt_exec_opts *o = j->o;
	if (o->process_file) {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		int r = base_read_file_at(AT_FDCWD, o->process_file, &buf, &len,
					  0);
		if (r < 0)
			return berr_set(err, -r, "read process file `%s`",
					o->process_file);
		struct oci_process *np = NULL;
		if ((r = oci_process_parse(buf, len, &np, err)) < 0)
			return berr_wrap(err, "%s", o->process_file);
		/* swap the parsed process into the config so one free
		 * releases both */
		struct oci_process tmp = *p;
		*p = *np;
		*np = tmp;
		oci_process_free(np);
		if (!p->cwd)
			p->cwd = base_strdup("/");
	} else {
		if (!o->args || !o->args[0])
			return berr_setx(err, EINVAL, "exec: no command given");
		base_strv_free(p->args);
		p->args = NULL;
		for (char *const *a = o->args; *a; a++)
			base_strv_push(&p->args, *a);
		p->terminal = o->tty;
	}
	for (char *const *e = o->env; e && *e; e++)
		set_env(&p->env, *e);
	if (o->cwd) {
		free(p->cwd);
		p->cwd = base_strdup(o->cwd);
	}
	if (o->user) {
		int r = parse_user(o->user, &p->user, err);
		if (r < 0)
			return r;
	}
	add_gids(&p->user, o->additional_gids, o->n_additional_gids);
	for (char *const *c = o->caps; c && *c; c++) {
		int cap = oci_cap_from_name(*c);
		if (cap < 0)
			return berr_setx(err, EINVAL, "unknown capability `%s`",
					 *c);
		struct oci_capabilities *cs = &p->capabilities;
		add_cap(&cs->bounding, cap);
		add_cap(&cs->effective, cap);
		add_cap(&cs->permitted, cap);
		add_cap(&cs->inheritable, cap);
		add_cap(&cs->ambient, cap);
		p->has_capabilities = true;
	}
	if (o->no_new_privs)
		p->no_new_privileges = true;
	if (o->apparmor) {
		free(p->apparmor_profile);
		p->apparmor_profile = base_strdup(o->apparmor);
	}
	if (o->process_label) {
		free(p->selinux_label);
		p->selinux_label = base_strdup(o->process_label);
	}
	return 0;
}

/* Only namespaces that differ from ours: setns() into our own user
 * namespace is EINVAL. */
static int ns_flags_to_join(pid_t pid)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {
		{"user", CLONE_NEWUSER},     {"mnt", CLONE_NEWNS},
		{"pid", CLONE_NEWPID},	     {"net", CLONE_NEWNET},
		{"ipc", CLONE_NEWIPC},	     {"uts", CLONE_NEWUTS},
		{"cgroup", CLONE_NEWCGROUP}, {"time", 0x00000080},
	};
	int flags = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		char a[64];
		struct stat sa, sb;
		snprintf(a, sizeof(a), "/proc/%d/ns/%s", pid, ns[i].name);
		char b[64];
		snprintf(b, sizeof(b), "/proc/self/ns/%s", ns[i].name);
		if (stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
		    (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev))
			flags |= ns[i].flag;
	}
	return flags;
}

static __attribute__((noreturn)) void exec_process(struct exec_job *j)
{
	struct berr err = {0};
	struct oci_process *p = &j->cfg->process;
	/* pid 0: the exec process does not know its pid outside the
	 * container; the listener is told getpid() */
	struct rt_seccomp_load sl = {
		.seccomp = rt_seccomp_of(j->cfg),
		.no_new_privs = p->no_new_privileges,
		.listener_fd = j->seccomp_fd,
		.state = j->state,
		.status = OCI_STATUS_RUNNING,
	};
	/* berth's binary in the container until execve (CVE-2019-5736) */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* its own session, as the init's (rt_init_main) */
	setsid();
	int r = 0;
	if (p->terminal)
		r = rt_console_setup(j->console_fd, p, &err);
	if (r == 0)
		r = rt_lsm_apply(p, &err);
	if (r == 0)
		r = rt_personality_apply(j->cfg, &err);
	if (r == 0)
		r = rt_process_apply_seccomp(p, &sl, &err);
	if (r == 0)
		r = rt_process_close_fds(j->o->preserve_fds, &err);
	struct rt_exec_plan plan = {NULL, NULL};
	if (r == 0)
		r = rt_process_exec_prepare(p, &plan, &err);
	/* with no_new_privs the filter comes last: execve is the only call
	 * the profile must allow */
	if (r == 0)
		r = rt_seccomp_load_late(&sl, &err);
	if (r == 0)
		rt_process_execve(p, &plan, &err);
	(void)base_write_all(j->err_pipe[1], err.msg, strlen(err.msg));
	_exit(err.code == ENOENT ? 127 : 126);
}

static __attribute__((noreturn)) void helper_main(struct exec_job *j)
{
	struct berr err = {0};
	close(j->err_pipe[0]);
	close(j->pid_pipe[0]);
	/* alone in its thread group: it moves itself, no grace period (see
	 * cg_open_join_fds()) */
	if (cg_join(j->cg, j->cg_placed, &err) < 0 ||
	    (j->ns_flags && setns(j->pidfd, j->ns_flags) < 0 &&
	     berr_set(&err, errno, "join the namespaces of container %s",
		      j->id) < 0)) {
		(void)base_write_all(j->err_pipe[1], err.msg, strlen(err.msg));
		_exit(1);
	}
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL,
				   NULL, 0);
	if (pid == 0)
		exec_process(j);
	if (pid < 0) {
		berr_set(&err, errno, "clone exec process");
		(void)base_write_all(j->err_pipe[1], err.msg, strlen(err.msg));
		_exit(1);
	}
	(void)base_write_all(j->pid_pipe[1], &pid, sizeof(pid));
	_exit(0);
}

/* Reads the helper's report: the process's pid, or why it failed. */
static int collect(struct exec_job *j, pid_t helper, pid_t *pid,
		   struct berr *err)
{
	int st;
	while (waitpid(helper, &st, 0) < 0 && errno == EINTR)
		;
	*pid = 0;
	ssize_t n = read(j->pid_pipe[0], pid, sizeof(*pid));
	char msg[BERR_MSG_MAX];
	size_t len = 0;
	for (;;) {
		ssize_t k =
			read(j->err_pipe[0], msg + len, sizeof(msg) - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || (len += (size_t)k) == sizeof(msg) - 1)
			break;
	}
	msg[len] = '\0';
	if (len > 0) {
		if (n == sizeof(*pid) && *pid > 0)
			while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
				;
		return berr_setx(err, ENOEXEC, "%s", msg);
	}
	if (n != sizeof(*pid) || *pid <= 0)
		return berr_setx(err, EIO,
				 "exec in container %s: the helper "
				 "exited without a process",
				 j->id);
	return 0;
}

/* The terminal's master goes to --console-socket, or, in the foreground
 * without one, to berth's end of a socket pair: berth then proxies it. */
static int connect_console(struct exec_job *j, struct berr *err)
{
	if (j->o->console_socket) {
		j->console_fd = rt_console_connect(j->o->console_socket, err);
		return j->console_fd < 0 ? j->console_fd : 0;
	}
	if (j->o->detach)
		return berr_setx(err, EINVAL,
				 "exec --detach with a terminal needs "
				 "--console-socket");
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return berr_set(err, errno, "console socketpair");
	j->console_peer = sp[0];
	j->console_fd = sp[1];
	return 0;
}

static int prepare_exec(struct exec_job *j, struct rt_container *c,
			struct berr *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = base_read_file_at(c->dirfd, "config.json", &buf, &len, 0);
	if (r < 0)
		return berr_set(err, -r, "read %s/config.json", c->dir);
	if ((r = oci_config_parse(buf, len, &j->cfg, err)) < 0)
		return r;
	if ((r = build_process(j, err)) < 0)
		return r;
	if ((r = rt_lsm_check(j->cfg, err)) < 0)
		return r;
	if (j->cfg->process.terminal && (r = connect_console(j, err)) < 0)
		return r;
	j->state = c->state;
	r = rt_seccomp_listener_open(j->cfg, &j->seccomp_fd, err);
	if (r < 0)
		return r;
	if ((r = cg_open(c->state->cgroup_path, &j->cg, err)) < 0)
		return r;
	if ((r = cg_descend(j->cg, j->o->cgroups, err)) < 0)
		return r;
	j->pidfd = rt_container_pidfd(c);
	if (j->pidfd < 0)
		return berr_setx(err, ESRCH, "container not running");
	j->ns_flags = ns_flags_to_join(c->state->pid);
	if (pipe2(j->err_pipe, O_CLOEXEC) < 0 ||
	    pipe2(j->pid_pipe, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	return 0;
}

static int exit_code_of(int st)
{
	return WIFEXITED(st)	 ? WEXITSTATUS(st)
	       : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
				 : 255;
}

static int wait_process(pid_t pid, int *exit_status)
{
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	sigset_t set;
	sigemptyset(&set);
	static const int fwd[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
				  SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	_cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	while (pfd >= 0 && sfd >= 0) {
		struct pollfd p[2] = {{.fd = pfd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		struct signalfd_siginfo si;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si))
			syscall(SYS_pidfd_send_signal, pfd, (int)si.ssi_signo,
				NULL, 0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	*exit_status = exit_code_of(st);
	return 0;
}

static void job_close(struct exec_job *j)
{
	for (int i = 0; i < 2; i++) {
		if (j->err_pipe[i] >= 0)
			close(j->err_pipe[i]);
		if (j->pid_pipe[i] >= 0)
			close(j->pid_pipe[i]);
	}
	if (j->pidfd >= 0)
		close(j->pidfd);
	if (j->console_fd >= 0)
		close(j->console_fd);
	if (j->console_peer >= 0)
		close(j->console_peer);
	if (j->seccomp_fd >= 0)
		close(j->seccomp_fd);
	cg_group_free(j->cg);
	oci_config_free(j->cfg);
}

static int proxy_and_wait(struct exec_job *j, pid_t pid, int *exit_status,
			  struct berr *err)
{
	/* the process holds the other end now: EOF if it dies early */
	close(j->console_fd);
	j->console_fd = -1;
	_cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return berr_set(err, errno, "pidfd_open %d", pid);
	int st = 0;
	int r = rt_tty_proxy(j->console_peer, pfd, pid, &st, err);
	if (r < 0)
		return r;
	*exit_status = exit_code_of(st);
	return 0;
}

static int run_exec(struct exec_job *j, struct rt_container *c,
		    int *exit_status, struct berr *err)
{
	int r = prepare_exec(j, c, err);
	if (r < 0)
		return r;
	/* into the cgroup2 directory at once, where there is one */
	_cleanup_close_ int cgfd = cg_open_v2_clone_fd(j->cg, NULL);
	pid_t helper = rt_clone(0, cgfd, NULL, &j->cg_placed);
	if (helper < 0)
		return berr_set(err, errno, "fork");
	if (helper == 0)
		helper_main(j);
	close(j->err_pipe[1]);
	close(j->pid_pipe[1]);
	j->err_pipe[1] = j->pid_pipe[1] = -1;
	pid_t pid;
	if ((r = collect(j, helper, &pid, err)) < 0)
		return r;
	if (j->o->pid_file) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d", pid);
		r = base_write_file_at(AT_FDCWD, j->o->pid_file, buf, (size_t)n,
				       O_CREAT);
		if (r < 0)
			return berr_set(err, -r, "write pid file `%s`",
					j->o->pid_file);
	}
	if (j->o->detach)
		return 0;
	if (j->console_peer >= 0)
		return proxy_and_wait(j, pid, exit_status, err);
	if ((r = wait_process(pid, exit_status)) < 0)
		return berr_set(err, -r, "wait for exec process %d", pid);
	return 0;
}

int rt_exec(const struct rt_ctx *ctx, const char *id,
	    const struct rt_exec_opts *opts, int *exit_status, struct berr *err)
{
	_cleanup_(rt_container_freep) struct rt_container *c = NULL;
	int r = rt_container_open(ctx, id, false, &c, err);
	if (r < 0)
		return r;
	enum oci_status st = rt_container_status(c);
	if (st == OCI_STATUS_STOPPED)
		return berr_setx(err, EINVAL,
				 "cannot exec in a stopped container");
	if (st == OCI_STATUS_PAUSED && !opts->ignore_paused)
		return berr_setx(err, EINVAL,
				 "cannot exec in a paused container (use "
				 "--ignore-paused to override)");
	struct exec_job j = {.id = id,
			     .o = opts,
			     .pidfd = -1,
			     .console_fd = -1,
			     .console_peer = -1,
			     .seccomp_fd = -1,
			     .err_pipe = {-1, -1},
			     .pid_pipe = {-1, -1}};
	if (exit_status)
		*exit_status = 0;
	int dummy;
	r = run_exec(&j, c, exit_status ? exit_status : &dummy, err);
	job_close(&j);
	return r;
}
