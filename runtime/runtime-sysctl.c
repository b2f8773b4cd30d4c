/* linux.sysctl: which keys a container may set, and setting them.
 *
 * The init writes each key through its own /proc/sys after it has entered
 * its namespaces. A key that no namespace isolates (kernel.core_pattern,
 * vm.*, most of kernel.*) would be written to the host's setting: a
 * core_pattern of "|/x" runs /x as root on the host at the next core dump.
 * So create refuses, before anything exists, every key that is not
 * isolated by a namespace the container has of its own, as runc's
 * validator does. A namespace given by a path that is the runtime's own
 * (/proc/self/ns/...) counts as the host's. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime-internal.h"

/* The kernel's ipc_sysctl.c table: per IPC namespace. */
static const char *const ipc_keys[] = {
	"msgmax", "msgmnb",	 "msgmni",	    "msg_next_id",
	"sem",	  "sem_next_id", "shmall",	    "shmmax",
	"shmmni", "shm_next_id", "shm_rmid_forced",
};

/* The first two components of a key, written with dots
 * ("net.ipv4.ip_forward") or with slashes ("net/ipv4/conf/eth0.1/rp_filter",
 * whose dots belong to the name). False for an empty, ".", ".." or
 * absolute component, or a key of one component. */
static bool sysctl_split(const char *key, char top[32], char second[64])
{
	char sep = strchr(key, '/') ? '/' : '.';
	size_t n = 0;
	for (const char *p = key;; p++) {
		const char *e = strchr(p, sep);
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (n == 0)
			snprintf(top, 32, "%.*s", (int)len, p);
		else if (n == 1)
			snprintf(second, 64, "%.*s", (int)len, p);
		n++;
		if (!e)
			break;
		p = e;
	}
	return n >= 2;
}

/* Which namespace isolates the key; OCI_NS__COUNT for none. */
static enum oci_ns_type sysctl_ns(const char *top, const char *second)
{
	if (!strcmp(top, "net"))
		return OCI_NS_NETWORK;
	if (!strcmp(top, "fs") && !strcmp(second, "mqueue"))
		return OCI_NS_IPC;
	if (!strcmp(top, "user"))
		return OCI_NS_USER;
	if (strcmp(top, "kernel"))
		return OCI_NS__COUNT;
	for (size_t i = 0; i < ARRAY_SIZE(ipc_keys); i++)
		if (!strcmp(second, ipc_keys[i]))
			return OCI_NS_IPC;
	if (!strcmp(second, "hostname") || !strcmp(second, "domainname"))
		return OCI_NS_UTS;
	if (!strcmp(second, "ns_last_pid"))
		return OCI_NS_PID;
	return OCI_NS__COUNT;
}

/* A namespace of type t that is the container's own: listed, and either
 * new or given by a path that is not the runtime's own namespace. */
static int ns_private(const struct oci_config *c, enum oci_ns_type t,
		      bool *priv, struct berr *err)
{
	const struct oci_namespace *ns = rt_ns_find(c, t);
	*priv = ns != NULL;
	if (!ns || !ns->path)
		return 0;
	struct stat a, b;
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/ns/%s",
		 t == OCI_NS_NETWORK ? "net" : oci_ns_type_name(t));
	if (stat(ns->path, &a) < 0)
		return berr_set(err, errno, "config.json: %s namespace `%s`",
				oci_ns_type_name(t), ns->path);
	if (stat(self, &b) < 0)
		return berr_set(err, errno, "%s", self);
	*priv = a.st_dev != b.st_dev || a.st_ino != b.st_ino;
	return 0;
}

/* kernel.hostname and kernel.domainname may not contradict the config's
 * own hostname and domainname fields, which the init also sets. */
static const char *uts_conflict(const struct oci_config *c,
				const struct oci_kv *kv, const char *second)
{
	const char *field =
		!strcmp(second, "hostname") ? c->hostname : c->domainname;
	if (!field || !*field || !strcmp(field, kv->value ? kv->value : ""))
		return NULL;
	return !strcmp(second, "hostname") ? "hostname" : "domainname";
}

static int check_key(const struct oci_config *c, const struct oci_kv *kv,
		     struct berr *err)
{
	char top[32], second[64];
	if (!sysctl_split(kv->key, top, second))
		return berr_setx(err, EINVAL,
				 "config.json: linux.sysctl[\"%s\"]: "
				 "invalid key",
				 kv->key);
	enum oci_ns_type t = sysctl_ns(top, second);
	if (t == OCI_NS__COUNT)
		return berr_setx(err, EPERM,
				 "config.json: linux.sysctl[\"%s\"]: no "
				 "namespace isolates this key; setting it "
				 "would change the host's",
				 kv->key);
	bool priv = false;
	int r = ns_private(c, t, &priv, err);
	if (r < 0)
		return r;
	if (!priv)
		return berr_setx(err, EPERM,
				 "config.json: linux.sysctl[\"%s\"]: the "
				 "container has no %s namespace of its own; "
				 "setting this key would change the host's",
				 kv->key, oci_ns_type_name(t));
	const char *field =
		t == OCI_NS_UTS ? uts_conflict(c, kv, second) : NULL;
	if (field)
		return berr_setx(err, EINVAL,
				 "config.json: linux.sysctl[\"%s\"]: "
				 "conflicts with %s \"%s\"",
				 kv->key, field,
				 !strcmp(field, "hostname") ? c->hostname
							    : c->domainname);
	return 0;
}

int rt_sysctl_check(const struct oci_config *c, struct berr *err)
{
	for (size_t i = 0; c->has_linux && i < c->linux_.n_sysctl; i++) {
		int r = check_key(c, &c->linux_.sysctl[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "net.ipv4.ip_forward" -> "net/ipv4/ip_forward"; a key already written
 * with slashes keeps its dots (interface names such as eth0.100). */
static char *sysctl_path(const char *key)
{
	char *p = base_strdup(key);
	if (!strchr(p, '/'))
		for (char *s = p; *s; s++)
			if (*s == '.')
				*s = '/';
	return p;
}

/* Through rt_procfs_open(): neither a mount over /proc/sys nor a bind of
 * another procfs file over the key may take the write (CVE-2025-52881). */
static int write_sysctl(const struct oci_kv *kv, struct berr *err)
{
	_cleanup_free_ char *rel = sysctl_path(kv->key);
	if (!*rel || rel[0] == '/' || strstr(rel, ".."))
		return berr_setx(err, EINVAL, "sysctl `%s`: invalid key",
				 kv->key);
	_cleanup_free_ char *path = base_sprintf("sys/%s", rel);
	_cleanup_close_ int fd = rt_procfs_open(path, O_WRONLY, err);
	if (fd == -ENOENT || fd == -EACCES)
		return berr_set(err, -fd, "sysctl `%s`", kv->key);
	if (fd < 0)
		return berr_wrap(err, "sysctl `%s`", kv->key);
	const char *v = kv->value ? kv->value : "";
	ssize_t n = write(fd, v, strlen(v));
	if (n < 0)
		return berr_set(err, errno, "sysctl `%s`", kv->key);
	if ((size_t)n != strlen(v))
		return berr_set(err, EIO, "sysctl `%s`", kv->key);
	return 0;
}

int rt_sysctl_apply(const struct oci_config *c, struct berr *err)
{
	for (size_t i = 0; c->has_linux && i < c->linux_.n_sysctl; i++) {
		int r = write_sysctl(&c->linux_.sysctl[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}
