/* Passing fds with a small payload over AF_UNIX (SCM_RIGHTS). */
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"

/* room for BASE_MAX_FDS fds in one control message */
union fd_cmsg {
	char buf[CMSG_SPACE(sizeof(int) * BASE_MAX_FDS)];
	struct cmsghdr align;
};

int base_send_fds(int sock, const int *fds, size_t nfds, const void *data,
		  size_t len)
{
	if (nfds > BASE_MAX_FDS)
		return -E2BIG;
	char dummy = 0;
	struct iovec iov = {.iov_base = len ? (void *)data : &dummy,
			    .iov_len = len ? len : 1};
	union fd_cmsg u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)iov.iov_len ? 0 : -EIO;
}

int base_send_fd(int sock, int fd, const void *data, size_t len)
{
	return base_send_fds(sock, &fd, fd >= 0 ? 1 : 0, data, len);
}

/* Keeps at most max of the fds that came; closes the others. */
static size_t take_fds(struct msghdr *msg, int *fds, size_t max)
{
	size_t n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
	     c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (n < max)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

ssize_t base_recv_fds(int sock, int *fds, size_t max, size_t *nfds, void *data,
		      size_t len)
{
	char dummy;
	struct iovec iov = {.iov_base = len ? data : &dummy,
			    .iov_len = len ? len : 1};
	union fd_cmsg u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (n < 0)
		return -errno;
	*nfds = take_fds(&msg, fds, max);
	return n;
}

int base_recv_fd(int sock, int *fd, void *data, size_t len)
{
	size_t k = 0;
	ssize_t n = base_recv_fds(sock, fd, 1, &k, data, len);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -EPIPE;
	if (k == 0) {
		*fd = -1;
		return -EBADMSG;
	}
	return 0;
}
