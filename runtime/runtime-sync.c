/* The create <-> init handshake: fixed-size messages on a SOCK_SEQPACKET
 * pair, so that each send is one whole message and EOF means the peer
 * died. */
#include <string.h>
#include <sys/socket.h>

#include "runtime/runtime-internal.h"

static int send_msg(int fd, int type, int64_t value, const struct berr *err,
		    const int *fds, size_t nfds)
{
	struct rt_sync_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.value = value;
	if (err)
		m.err = *err;
	return base_send_fds(fd, fds, nfds, &m, sizeof(m));
}

int rt_sync_send_fds(int fd, int type, int64_t value, const int *fds,
		     size_t nfds)
{
	return send_msg(fd, type, value, NULL, fds, nfds);
}

int rt_sync_send(int fd, int type, int64_t value, const struct berr *err)
{
	return send_msg(fd, type, value, err, NULL, 0);
}

int rt_sync_expect_fds(int fd, int type, int64_t *value, int *fds, size_t max,
		       size_t *nfds, struct berr *err)
{
	struct rt_sync_msg m;
	size_t got = 0;
	ssize_t n = base_recv_fds(fd, fds, max, &got, &m, sizeof(m));
	/* the reset is reported once, before what the peer sent (its error) */
	if (n == -ECONNRESET)
		n = base_recv_fds(fd, fds, max, &got, &m, sizeof(m));
	if (nfds)
		*nfds = got;
	if (n < 0)
		return berr_set(err, (int)-n, "container init handshake");
	if (n == 0)
		return berr_setx(err, EPIPE,
				 "container init exited "
				 "unexpectedly during setup");
	int r = 0;
	if (n != sizeof(m))
		r = berr_setx(err, EPROTO,
			      "container init handshake: "
			      "short message");
	else if (m.type == RT_SYNC_ERROR) {
		m.err.msg[sizeof(m.err.msg) - 1] = '\0';
		if (err)
			*err = m.err;
		r = -(m.err.code > 0 ? m.err.code : EIO);
	} else if (m.type != type)
		r = berr_setx(err, EPROTO,
			      "container init handshake: "
			      "expected message %d, got %d",
			      type, m.type);
	if (r < 0) {
		for (size_t i = 0; i < got; i++)
			close(fds[i]);
		if (nfds)
			*nfds = 0;
		return r;
	}
	if (value)
		*value = m.value;
	return 0;
}

int rt_sync_expect(int fd, int type, int64_t *value, struct berr *err)
{
	return rt_sync_expect_fds(fd, type, value, NULL, 0, NULL, err);
}

int rt_sync_take_error(int fd, struct berr *err)
{
	struct rt_sync_msg m;
	ssize_t n;
	int resets = 0;
	do
		n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && !resets++)));
	if (n != sizeof(m) || m.type != RT_SYNC_ERROR)
		return 0;
	m.err.msg[sizeof(m.err.msg) - 1] = '\0';
	if (err)
		*err = m.err;
	return -(m.err.code > 0 ? m.err.code : EIO);
}
