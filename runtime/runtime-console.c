/* The container's terminal: a pty created inside the container (so that it
 * belongs to the container's devpts), whose master goes to the
 * --console-socket listener as runc sends it. */
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include "runtime/runtime-internal.h"

/* runc sends the name of the master's file, which is the ptmx it opened;
 * clients (recvtty, containerd) use it only to name the received fd. */
#define PTMX_PATH "/dev/ptmx"

int rt_console_connect(const char *path, struct berr *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int dfd = -1;
	if (strlen(path) < sizeof(sa.sun_path)) {
		strcpy(sa.sun_path, path);
	} else {
		/* Too long for sun_path: reach it through an O_PATH fd of
		 * its directory. */
		_cleanup_free_ char *d = base_strdup(path);
		_cleanup_free_ char *b = base_strdup(path);
		dfd = open(dirname(d), O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return berr_set(err, errno,
					"open the directory of console socket "
					"`%s`",
					path);
		int n = snprintf(sa.sun_path, sizeof(sa.sun_path),
				 "/proc/self/fd/%d/%s", dfd, basename(b));
		if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
			return berr_set(err, ENAMETOOLONG,
					"connect to console socket `%s`", path);
	}
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return berr_set(err, errno, "connect to console socket `%s`",
				path);
	return TAKE_FD(fd);
}

/* The peer is opened through the master (TIOCGPTPEER) rather than by the
 * name ptsname() gives, which a container could redirect; older kernels
 * (before 4.13) fall back to the name. */
static int open_peer(int master, struct berr *err)
{
	int fd = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno != EINVAL && errno != ENOTTY)
		return berr_set(err, errno, "open the pty peer");
	char name[64];
	int r = ptsname_r(master, name, sizeof(name));
	if (r)
		return berr_set(err, r, "ptsname");
	fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "open %s", name);
	return fd;
}

static int open_pty(const struct oci_process *p, int *slave, struct berr *err)
{
	_cleanup_close_ int master =
		open(PTMX_PATH, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return berr_set(err, errno, "open %s", PTMX_PATH);
	if (grantpt(master) < 0)
		return berr_set(err, errno, "grantpt");
	if (unlockpt(master) < 0)
		return berr_set(err, errno, "unlockpt");
	if (p->has_console_size) {
		struct winsize ws = {
			.ws_row = (unsigned short)p->console_height,
			.ws_col = (unsigned short)p->console_width};
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			return berr_set(err, errno, "set the console size");
	}
	int fd = open_peer(master, err);
	if (fd < 0)
		return fd;
	*slave = fd;
	return TAKE_FD(master);
}

static int make_controlling(int slave, struct berr *err)
{
	/* The init may already lead its session (it called setsid()); it
	 * still has no controlling terminal then. */
	if (setsid() < 0 && getsid(0) != getpid())
		return berr_set(err, errno, "setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return berr_set(err, errno, "set the controlling terminal");
	for (int i = 0; i <= 2; i++) {
		/* dup2() onto itself would keep O_CLOEXEC */
		int r = i == slave ? fcntl(slave, F_SETFD, 0) : dup2(slave, i);
		if (r < 0)
			return berr_set(err, errno, "dup2 the pty to fd %d", i);
	}
	return 0;
}

int rt_console_setup(int console_sock, const struct oci_process *p,
		     struct berr *err)
{
	_cleanup_close_ int slave = -1;
	_cleanup_close_ int master = open_pty(p, &slave, err);
	if (master < 0)
		return master;
	int r = base_send_fd(console_sock, master, PTMX_PATH,
			     strlen(PTMX_PATH));
	if (r < 0)
		return berr_set(err, -r,
				"send the pty master to the console "
				"socket");
	r = make_controlling(slave, err);
	if (r < 0)
		return r;
	if (slave <= 2)
		TAKE_FD(slave);
	return 0;
}
