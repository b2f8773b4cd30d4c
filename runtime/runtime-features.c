/* `berth features`: the runtime-spec features document (features.md),
 * printed as `runc features` does (4-space indentation, one array element a
 * line).
 *
 * The JSON is written by hand: cJSON stays inside oci/, and this document
 * is a fixed shape of strings and booleans. Every list here must say what
 * berth really implements; a feature not implemented yet reports
 * "enabled": false. */
#include <linux/capability.h>
#include <string.h>

#include "runtime/runtime-process-internal.h"

struct jw {
	char *s;
	size_t len, cap;
	int depth;
	bool first; /* no element written yet at this depth */
};

static void jw_raw(struct jw *w, const char *p, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 1024;
		while (w->len + n + 1 > cap)
			cap *= 2;
		w->s = base_realloc(w->s, cap, 1);
		w->cap = cap;
	}
	memcpy(w->s + w->len, p, n);
	w->len += n;
	w->s[w->len] = '\0';
}

static void jw_puts(struct jw *w, const char *p)
{
	jw_raw(w, p, strlen(p));
}

static void jw_string(struct jw *w, const char *v)
{
	jw_puts(w, "\"");
	for (const char *p = v; *p; p++) {
		char esc[8];
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_raw(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jw_puts(w, esc);
		} else {
			jw_raw(w, p, 1);
		}
	}
	jw_puts(w, "\"");
}

/* Comma, newline and indentation before a member, then "key": . */
static void jw_member(struct jw *w, const char *key)
{
	jw_puts(w, w->first ? "\n" : ",\n");
	w->first = false;
	for (int i = 0; i < w->depth; i++)
		jw_puts(w, "    ");
	if (key) {
		jw_string(w, key);
		jw_puts(w, ": ");
	}
}

static void jw_open(struct jw *w, const char *key, char bracket)
{
	if (w->depth > 0)
		jw_member(w, key);
	jw_raw(w, &bracket, 1);
	w->depth++;
	w->first = true;
}

static void jw_close(struct jw *w, char bracket)
{
	w->depth--;
	if (!w->first) {
		jw_puts(w, "\n");
		for (int i = 0; i < w->depth; i++)
			jw_puts(w, "    ");
	}
	jw_raw(w, &bracket, 1);
	w->first = false;
}

static void jw_str(struct jw *w, const char *key, const char *v)
{
	jw_member(w, key);
	jw_string(w, v);
}

static void jw_bool(struct jw *w, const char *key, bool v)
{
	jw_member(w, key);
	jw_puts(w, v ? "true" : "false");
}

static void jw_strv(struct jw *w, const char *key, const char *const *v,
		    size_t n)
{
	jw_open(w, key, '[');
	for (size_t i = 0; i < n; i++)
		jw_str(w, NULL, v[i]);
	jw_close(w, ']');
}

static void jw_enabled(struct jw *w, const char *key, bool v)
{
	jw_open(w, key, '{');
	jw_bool(w, "enabled", v);
	jw_close(w, '}');
}

static const char *const hooks[] = {
	"prestart",	  "createRuntime", "createContainer",
	"startContainer", "poststart",	   "poststop",
};

/* Exactly the options runtime-mountopts.c understands (keep in step). */
static const char *const mount_options[] = {
	"async",
	"atime",
	"bind",
	"defaults",
	"dev",
	"diratime",
	"dirsync",
	"exec",
	"iversion",
	"lazytime",
	"loud",
	"mand",
	"noatime",
	"nodev",
	"nodiratime",
	"noexec",
	"noiversion",
	"nolazytime",
	"nomand",
	"norelatime",
	"nostrictatime",
	"nosuid",
	"nosymfollow",
	"private",
	"ratime",
	"rbind",
	"rdev",
	"rdiratime",
	"relatime",
	"remount",
	"rexec",
	"rnoatime",
	"rnodev",
	"rnodiratime",
	"rnoexec",
	"rnorelatime",
	"rnostrictatime",
	"rnosuid",
	"rnosymfollow",
	"ro",
	"rprivate",
	"rrelatime",
	"rro",
	"rrw",
	"rshared",
	"rslave",
	"rstrictatime",
	"rsuid",
	"rsymfollow",
	"runbindable",
	"rw",
	"shared",
	"silent",
	"slave",
	"strictatime",
	"suid",
	"sync",
	"tmpcopyup",
	"unbindable",
};

static const char *const namespaces[] = {
	"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
};

static void write_capabilities(struct jw *w)
{
	jw_open(w, "capabilities", '[');
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		char name[64];
		rt_cap_name(cap, name, sizeof(name));
		jw_str(w, NULL, name);
	}
	jw_close(w, ']');
}

static void write_seccomp_list(struct jw *w, const char *key,
			       enum rt_seccomp_list which)
{
	const char *v[64];
	jw_strv(w, key, v, rt_seccomp_list(which, v, ARRAY_SIZE(v)));
}

static void write_seccomp(struct jw *w)
{
	jw_open(w, "seccomp", '{');
	jw_bool(w, "enabled", true);
	write_seccomp_list(w, "actions", RT_SECCOMP_ACTIONS);
	write_seccomp_list(w, "operators", RT_SECCOMP_OPERATORS);
	write_seccomp_list(w, "archs", RT_SECCOMP_ARCHS);
	write_seccomp_list(w, "knownFlags", RT_SECCOMP_KNOWN_FLAGS);
	write_seccomp_list(w, "supportedFlags", RT_SECCOMP_SUPPORTED_FLAGS);
	jw_close(w, '}');
}

static void write_linux(struct jw *w)
{
	jw_open(w, "linux", '{');
	jw_strv(w, "namespaces", namespaces, ARRAY_SIZE(namespaces));
	write_capabilities(w);
	jw_open(w, "cgroup", '{');
	jw_bool(w, "v1", true);
	jw_bool(w, "v2", true);
	jw_bool(w, "systemd", true);
	jw_bool(w, "systemdUser", false);
	jw_bool(w, "rdma", true);
	jw_close(w, '}');
	write_seccomp(w);
	jw_enabled(w, "apparmor", true);
	jw_enabled(w, "selinux", true);
	jw_enabled(w, "intelRdt", false);
	jw_open(w, "mountExtensions", '{');
	jw_enabled(w, "idmap", false);
	jw_close(w, '}');
	jw_close(w, '}');
}

char *rt_features_json(void)
{
	struct jw w = {0};
	jw_open(&w, NULL, '{');
	jw_str(&w, "ociVersionMin", "1.0.0");
	jw_str(&w, "ociVersionMax", OCI_SPEC_VERSION);
	jw_strv(&w, "hooks", hooks, ARRAY_SIZE(hooks));
	jw_strv(&w, "mountOptions", mount_options, ARRAY_SIZE(mount_options));
	write_linux(&w);
	jw_open(&w, "annotations", '{');
	jw_str(&w, "io.github.berth.version", BERTH_VERSION);
	jw_close(&w, '}');
	jw_close(&w, '}');
	return w.s;
}
