/* Namespaces: clone flags, joining by path, id mappings. */
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>

#include "runtime/runtime-internal.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int rt_ns_clone_flag(enum oci_ns_type t)
{
	static const int flags[OCI_NS__COUNT] = {
		[OCI_NS_PID] = CLONE_NEWPID,
		[OCI_NS_NETWORK] = CLONE_NEWNET,
		[OCI_NS_MOUNT] = CLONE_NEWNS,
		[OCI_NS_IPC] = CLONE_NEWIPC,
		[OCI_NS_UTS] = CLONE_NEWUTS,
		[OCI_NS_USER] = CLONE_NEWUSER,
		[OCI_NS_CGROUP] = CLONE_NEWCGROUP,
		[OCI_NS_TIME] = CLONE_NEWTIME,
	};
	return flags[t];
}

const struct oci_namespace *rt_ns_find(const struct oci_config *c,
				       enum oci_ns_type t)
{
	for (size_t i = 0; i < c->linux_.n_namespaces; i++)
		if (c->linux_.namespaces[i].type == t)
			return &c->linux_.namespaces[i];
	return NULL;
}

static int write_map(pid_t pid, const char *file, const struct oci_idmap *m,
		     size_t n, struct berr *err)
{
	if (n == 0)
		return 0;
	char buf[4096];
	size_t len = 0;
	for (size_t i = 0; i < n && len < sizeof(buf) - 40; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"%u %u %u\n", m[i].container_id,
					m[i].host_id, m[i].size);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	int r = base_write_file_at(AT_FDCWD, path, buf, len, 0);
	if (r < 0)
		return berr_set(err, -r, "write %s", path);
	return 0;
}

int rt_ns_write_idmaps(pid_t pid, const struct oci_linux *l, struct berr *err)
{
	int r = write_map(pid, "uid_map", l->uid_mappings, l->n_uid_mappings,
			  err);
	if (r < 0)
		return r;
	return write_map(pid, "gid_map", l->gid_mappings, l->n_gid_mappings,
			 err);
}

void rt_ns_close_fds(int fds[OCI_NS__COUNT])
{
	for (int i = 0; i < OCI_NS__COUNT; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int rt_ns_open_paths(const struct oci_config *c, int fds[OCI_NS__COUNT],
		     struct berr *err)
{
	for (int i = 0; i < OCI_NS__COUNT; i++)
		fds[i] = -1;
	for (size_t i = 0; i < c->linux_.n_namespaces; i++) {
		const struct oci_namespace *ns = &c->linux_.namespaces[i];
		if (!ns->path)
			continue;
		int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			rt_ns_close_fds(fds);
			return berr_set(err, e, "open %s namespace path `%s`",
					oci_ns_type_name(ns->type), ns->path);
		}
		/* a path of the wrong kind would make setns() fail late, in
		 * the init: check it here where the message can name it */
		int kind = ioctl(fd, NS_GET_NSTYPE);
		if (kind >= 0 && kind != rt_ns_clone_flag(ns->type)) {
			close(fd);
			rt_ns_close_fds(fds);
			return berr_setx(err, EINVAL,
					 "namespace path `%s` is not a %s "
					 "namespace",
					 ns->path, oci_ns_type_name(ns->type));
		}
		if (kind < 0 && errno == ENOTTY) {
			close(fd);
			rt_ns_close_fds(fds);
			return berr_setx(err, EINVAL,
					 "namespace path `%s` is not a "
					 "namespace file",
					 ns->path);
		}
		fds[ns->type] = fd;
	}
	return 0;
}
