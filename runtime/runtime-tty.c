/* The terminal proxy of `run` in the foreground: berth holds the pty
 * master and copies bytes between it and its own stdio. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include "runtime/runtime-internal.h"

struct tty_proxy {
	int master;
	int pidfd;
	int sfd;
	bool raw;
	struct termios saved;
	bool stdin_open;
};

static void sync_winsize(struct tty_proxy *t)
{
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(t->master, TIOCSWINSZ, &ws);
}

static void enter_raw(struct tty_proxy *t)
{
	if (!isatty(0) || tcgetattr(0, &t->saved) < 0)
		return;
	struct termios raw = t->saved;
	cfmakeraw(&raw);
	/* keep output post-processing: the container's pty does its own */
	raw.c_oflag = t->saved.c_oflag;
	if (tcsetattr(0, TCSANOW, &raw) == 0)
		t->raw = true;
	sync_winsize(t);
}

/* Copies what is readable on from to to; false at EOF or error. */
static bool pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	return base_write_all(to, buf, (size_t)n) == 0;
}

static void on_signal(struct tty_proxy *t)
{
	struct signalfd_siginfo si;
	if (read(t->sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH)
		sync_winsize(t);
	else
		syscall(SYS_pidfd_send_signal, t->pidfd, (int)si.ssi_signo,
			NULL, 0);
}

static void proxy_loop(struct tty_proxy *t)
{
	for (;;) {
		struct pollfd p[4] = {
			{.fd = t->pidfd, .events = POLLIN},
			{.fd = t->master, .events = POLLIN},
			{.fd = t->sfd, .events = POLLIN},
			{.fd = t->stdin_open ? 0 : -1, .events = POLLIN},
		};
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			return;
		if (p[1].revents & POLLIN)
			pump(t->master, 1);
		else if (p[1].revents & (POLLHUP | POLLERR) && p[0].revents)
			return;
		if (p[2].revents)
			on_signal(t);
		if (p[3].revents && !pump(0, t->master))
			t->stdin_open = false;
		/* the process exited: drain what it wrote, then stop */
		if (p[0].revents && !(p[1].revents & POLLIN))
			return;
	}
}

int rt_tty_proxy(int console_peer, int pidfd, pid_t pid, int *status,
		 struct berr *err)
{
	struct tty_proxy t = {.pidfd = pidfd, .stdin_open = true};
	char name[64];
	int r = base_recv_fd(console_peer, &t.master, name, sizeof(name));
	if (r < 0)
		return berr_set(err, -r, "receive the container's terminal");
	sigset_t set;
	sigemptyset(&set);
	static const int fwd[] = {SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
				  SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaddset(&set, fwd[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	t.sfd = signalfd(-1, &set, SFD_CLOEXEC);
	enter_raw(&t);
	proxy_loop(&t);
	if (t.raw)
		tcsetattr(0, TCSANOW, &t.saved);
	close(t.master);
	if (t.sfd >= 0)
		close(t.sfd);
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return berr_set(err, errno, "wait for container");
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}
