/* The create <-> init handshake: fixed-size messages on a SOCK_SEQPACKET
 * pair, so that each send is one whole message and EOF means the peer
 * died. */
#include <string.h>
#include <sys/socket.h>

#include "runtime/runtime-internal.h"

int rt_sync_send(int fd, int type, int64_t value, const struct berr *err)
{
	struct rt_sync_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.value = value;
	if (err)
		m.err = *err;
	ssize_t n;
	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(m) ? 0 : -EIO;
}

int rt_sync_expect(int fd, int type, int64_t *value, struct berr *err)
{
	struct rt_sync_msg m;
	ssize_t n;
	do
		n = recv(fd, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return berr_set(err, errno, "container init handshake");
	if (n == 0)
		return berr_setx(err, EPIPE,
				 "container init exited "
				 "unexpectedly during setup");
	if (n != sizeof(m))
		return berr_setx(err, EPROTO,
				 "container init handshake: "
				 "short message");
	if (m.type == RT_SYNC_ERROR) {
		m.err.msg[sizeof(m.err.msg) - 1] = '\0';
		if (err)
			*err = m.err;
		return -(m.err.code > 0 ? m.err.code : EIO);
	}
	if (m.type != type)
		return berr_setx(err, EPROTO,
				 "container init handshake: "
				 "expected message %d, got %d",
				 type, m.type);
	if (value)
		*value = m.value;
	return 0;
}

int rt_sync_take_error(int fd, struct berr *err)
{
	struct rt_sync_msg m;
	ssize_t n;
	do
		n = recv(fd, &m, sizeof(m), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(m) || m.type != RT_SYNC_ERROR)
		return 0;
	m.err.msg[sizeof(m.err.msg) - 1] = '\0';
	if (err)
		*err = m.err;
	return -(m.err.code > 0 ? m.err.code : EIO);
}
