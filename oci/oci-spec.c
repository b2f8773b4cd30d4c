/* The config.json `berth spec` writes: the same document as `runc spec`,
 * fields in the order Go marshals them, indented with tabs. */
#include <string.h>

#include "oci/oci-internal.h"

struct default_mount {
	const char *destination, *type, *source;
	const char *options[8];
};

static const struct default_mount default_mounts[] = {
	{"/proc", "proc", "proc", {NULL}},
	{"/dev",
	 "tmpfs",
	 "tmpfs",
	 {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
	{"/dev/pts",
	 "devpts",
	 "devpts",
	 {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
	  "gid=5", NULL}},
	{"/dev/shm",
	 "tmpfs",
	 "shm",
	 {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
	{"/dev/mqueue",
	 "mqueue",
	 "mqueue",
	 {"nosuid", "noexec", "nodev", NULL}},
	{"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro", NULL}},
	{"/sys/fs/cgroup",
	 "cgroup",
	 "cgroup",
	 {"nosuid", "noexec", "nodev", "relatime", "ro", NULL}},
};

/* Without privileges sysfs cannot be mounted: bind the host's instead. */
static const struct default_mount rootless_sys = {
	"/sys",
	"none",
	"/sys",
	{"rbind", "nosuid", "noexec", "nodev", "ro", NULL}};

static const char *const default_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL",
					   "CAP_NET_BIND_SERVICE", NULL};

static const char *const masked_paths[] = {"/proc/acpi",
					   "/proc/asound",
					   "/proc/kcore",
					   "/proc/keys",
					   "/proc/latency_stats",
					   "/proc/timer_list",
					   "/proc/timer_stats",
					   "/proc/sched_debug",
					   "/sys/firmware",
					   "/proc/scsi",
					   NULL};

static const char *const readonly_paths[] = {"/proc/bus",	    "/proc/fs",
					     "/proc/irq",	    "/proc/sys",
					     "/proc/sysrq-trigger", NULL};

static cJSON *spec_process(void)
{
	static const char *const args[] = {"sh", NULL};
	static const char *const env[] = {"PATH=/usr/local/sbin:/usr/local/"
					  "bin:/usr/sbin:/usr/bin:/sbin:/bin",
					  "TERM=xterm", NULL};
	cJSON *p = oj_new_object();
	oj_put(p, "terminal", oj_new_bool(true));
	cJSON *user = oj_new_object();
	oj_put(user, "uid", oj_new_u64(0));
	oj_put(user, "gid", oj_new_u64(0));
	oj_put(p, "user", user);
	oj_put(p, "args", oj_new_strv(args));
	oj_put(p, "env", oj_new_strv(env));
	oj_put(p, "cwd", oj_new_str("/"));
	cJSON *caps = oj_new_object();
	oj_put(caps, "bounding", oj_new_strv(default_caps));
	oj_put(caps, "effective", oj_new_strv(default_caps));
	oj_put(caps, "permitted", oj_new_strv(default_caps));
	oj_put(caps, "ambient", oj_new_strv(default_caps));
	oj_put(p, "capabilities", caps);
	cJSON *rl = oj_new_object();
	oj_put(rl, "type", oj_new_str("RLIMIT_NOFILE"));
	oj_put(rl, "hard", oj_new_u64(1024));
	oj_put(rl, "soft", oj_new_u64(1024));
	cJSON *rlimits = oj_new_array();
	oj_append(rlimits, rl);
	oj_put(p, "rlimits", rlimits);
	oj_put(p, "noNewPrivileges", oj_new_bool(true));
	return p;
}

static cJSON *spec_mount(const struct default_mount *dm, bool rootless)
{
	cJSON *m = oj_new_object();
	oj_put(m, "destination", oj_new_str(dm->destination));
	oj_put(m, "type", oj_new_str(dm->type));
	oj_put(m, "source", oj_new_str(dm->source));
	if (!dm->options[0])
		return m;
	cJSON *opts = oj_new_array();
	for (size_t i = 0; dm->options[i]; i++) {
		/* ids on the host mean nothing inside a rootless container */
		if (rootless && (base_str_has_prefix(dm->options[i], "gid=") ||
				 base_str_has_prefix(dm->options[i], "uid=")))
			continue;
		oj_append(opts, oj_new_str(dm->options[i]));
	}
	oj_put(m, "options", opts);
	return m;
}

static cJSON *spec_mounts(bool rootless)
{
	cJSON *mounts = oj_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
		const struct default_mount *dm = &default_mounts[i];
		if (rootless && !strcmp(dm->destination, "/sys"))
			dm = &rootless_sys;
		oj_append(mounts, spec_mount(dm, rootless));
	}
	return mounts;
}

static cJSON *spec_idmap(uint32_t host_id)
{
	cJSON *map = oj_new_object();
	oj_put(map, "containerID", oj_new_u64(0));
	oj_put(map, "hostID", oj_new_u64(host_id));
	oj_put(map, "size", oj_new_u64(1));
	cJSON *a = oj_new_array();
	oj_append(a, map);
	return a;
}

static cJSON *spec_resources(void)
{
	cJSON *rule = oj_new_object();
	oj_put(rule, "allow", oj_new_bool(false));
	oj_put(rule, "access", oj_new_str("rwm"));
	cJSON *devices = oj_new_array();
	oj_append(devices, rule);
	cJSON *res = oj_new_object();
	oj_put(res, "devices", devices);
	return res;
}

/* runc's default namespaces: no cgroup namespace, so that tooling that
 * adds one to a generated config does not list it twice. A rootless
 * container gets a user namespace and keeps the host's network, which
 * needs privileges to set up. */
static cJSON *spec_namespaces(bool rootless)
{
	static const char *const all[] = {"pid", "network", "ipc", "uts",
					  "mount"};
	cJSON *a = oj_new_array();
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (rootless && !strcmp(all[i], "network"))
			continue;
		cJSON *ns = oj_new_object();
		oj_put(ns, "type", oj_new_str(all[i]));
		oj_append(a, ns);
	}
	if (rootless) {
		cJSON *ns = oj_new_object();
		oj_put(ns, "type", oj_new_str("user"));
		oj_append(a, ns);
	}
	return a;
}

static cJSON *spec_linux(bool rootless, uid_t uid, gid_t gid)
{
	cJSON *l = oj_new_object();
	if (rootless) {
		oj_put(l, "uidMappings", spec_idmap(uid));
		oj_put(l, "gidMappings", spec_idmap(gid));
	} else {
		oj_put(l, "resources", spec_resources());
	}
	oj_put(l, "namespaces", spec_namespaces(rootless));
	oj_put(l, "maskedPaths", oj_new_strv(masked_paths));
	oj_put(l, "readonlyPaths", oj_new_strv(readonly_paths));
	return l;
}

char *oci_spec_default(bool rootless, uid_t uid, gid_t gid)
{
	_cleanup_json_ cJSON *spec = oj_new_object();
	oj_put(spec, "ociVersion", oj_new_str(OCI_SPEC_VERSION));
	oj_put(spec, "process", spec_process());
	cJSON *root = oj_new_object();
	oj_put(root, "path", oj_new_str("rootfs"));
	oj_put(root, "readonly", oj_new_bool(true));
	oj_put(spec, "root", root);
	oj_put(spec, "hostname", oj_new_str("berth"));
	oj_put(spec, "mounts", spec_mounts(rootless));
	oj_put(spec, "linux", spec_linux(rootless, uid, gid));
	return oj_print(spec, "\t");
}
