/* The systemd cgroup driver (--systemd-cgroup): the container's group is a
 * transient scope unit that systemd, as PID 1, creates over D-Bus.
 *
 * cgroupsPath reads "slice:prefix:name", as with runc: the unit is
 * "prefix-name.scope" in slice (default system.slice, prefix "berth"), and
 * its cgroup is the slice's path ("a-b.slice" lies at /a.slice/a-b.slice)
 * plus the unit. systemd makes that cgroup when it moves the first process
 * into the scope, so the group is created with the init's pid. Delegate=yes
 * hands the cgroup to berth: limits are written to the cgroup files as for
 * any group, and the ones systemd knows are also set as unit properties,
 * since systemd writes its own values back on daemon-reload.
 *
 * libsystemd is loaded with dlopen on first use: only containers that ask
 * for systemd pay for it. As root, berth talks to systemd's private socket
 * (/run/systemd/private, as systemctl does), so no D-Bus daemon is needed;
 * otherwise the system bus. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "cgroups/cgroups-internal.h"

#define SD_FUNCS(X)                                                            \
	X(sd_bus_new)                                                          \
	X(sd_bus_set_address)                                                  \
	X(sd_bus_start)                                                        \
	X(sd_bus_open_system)                                                  \
	X(sd_bus_flush_close_unref)                                            \
	X(sd_bus_message_new_method_call)                                      \
	X(sd_bus_message_append)                                               \
	X(sd_bus_message_open_container)                                       \
	X(sd_bus_message_close_container)                                      \
	X(sd_bus_message_append_array)                                         \
	X(sd_bus_message_unref)                                                \
	X(sd_bus_call)                                                         \
	X(sd_bus_error_free)                                                   \
	X(sd_bus_error_has_name)

struct sd_api {
#define SD_FIELD(f) __typeof__(&f) f;
	SD_FUNCS(SD_FIELD)
#undef SD_FIELD
};

static const struct sd_api *sd_load(struct berr *err)
{
	static struct sd_api api;
	static bool loaded;
	if (loaded)
		return &api;
	void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		berr_setx(err, ENOENT,
			  "--systemd-cgroup needs libsystemd "
			  "(apt-get install libsystemd0)");
		return NULL;
	}
#define SD_SYM(f) #f,
	static const char *const names[] = {SD_FUNCS(SD_SYM)};
#undef SD_SYM
	void *slots[ARRAY_SIZE(names)];
	_Static_assert(sizeof(api) == sizeof(slots), "one pointer a function");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(slots[i] = dlsym(h, names[i]))) {
			berr_setx(err, ENOENT,
				  "--systemd-cgroup: libsystemd.so.0 has no "
				  "%s",
				  names[i]);
			return NULL;
		}
	}
	memcpy(&api, slots, sizeof(api));
	loaded = true;
	return &api;
}

struct sd_conn {
	const struct sd_api *sd;
	sd_bus *bus;
};

static void conn_close(struct sd_conn *c)
{
	if (c->bus)
		c->sd->sd_bus_flush_close_unref(c->bus);
	c->bus = NULL;
}

static int conn_open(struct sd_conn *c, struct berr *err)
{
	if (!(c->sd = sd_load(err)))
		return -(err && err->code ? err->code : ENOENT);
	const struct sd_api *sd = c->sd;
	if (geteuid() == 0 && access("/run/systemd/private", F_OK) == 0) {
		if (sd->sd_bus_new(&c->bus) >= 0 &&
		    sd->sd_bus_set_address(
			    c->bus, "unix:path=/run/systemd/private") >= 0 &&
		    sd->sd_bus_start(c->bus) >= 0)
			return 0;
		conn_close(c);
	}
	int r = sd->sd_bus_open_system(&c->bus);
	if (r < 0) {
		c->bus = NULL;
		return berr_set(err, -r, "connect to systemd over D-Bus");
	}
	return 0;
}

/* One connection a process: create makes the scope and sets its limits
 * on it. sd-bus connections do not survive fork(), so a child (launch's
 * monitor, say) opens its own and leaves its parent's alone. */
static struct sd_conn *conn_get(struct berr *err)
{
	static struct sd_conn c;
	static pid_t owner;
	if (c.bus && owner == getpid())
		return &c;
	c.bus = NULL;
	if (conn_open(&c, err) < 0)
		return NULL;
	owner = getpid();
	return &c;
}

static int new_call(struct sd_conn *c, const char *method, sd_bus_message **m)
{
	return c->sd->sd_bus_message_new_method_call(
		c->bus, m, "org.freedesktop.systemd1",
		"/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
		method);
}

/* Sends m, which r < 0 says could not be built; a D-Bus error becomes err,
 * naming what and the unit. m is freed either way. */
static int do_call(struct sd_conn *c, sd_bus_message *m, int r,
		   const char *what, const char *unit, const char *ignore,
		   struct berr *err)
{
	if (r < 0) {
		if (m)
			c->sd->sd_bus_message_unref(m);
		return berr_set(err, -r, "systemd: %s %s: build the request",
				what, unit);
	}
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	r = c->sd->sd_bus_call(c->bus, m, 30 * 1000000ULL, &e, &reply);
	c->sd->sd_bus_message_unref(m);
	if (reply)
		c->sd->sd_bus_message_unref(reply);
	if (r < 0 && ignore && c->sd->sd_bus_error_has_name(&e, ignore))
		r = 0;
	else if (r < 0)
		berr_setx(err, -r, "systemd: %s %s: %s", what, unit,
			  e.message ? e.message : strerror(-r));
	c->sd->sd_bus_error_free(&e);
	return r;
}

/* ---- names --------------------------------------------------------------- */

static bool unit_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(":_.\\-@", *s)))
			return false;
	return true;
}

/* "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice", the root, -> "". */
static int slice_path(const char *slice, char **out, struct berr *err)
{
	size_t n = strlen(slice);
	if (n <= 6 || strcmp(slice + n - 6, ".slice") || !unit_chars_ok(slice))
		return berr_setx(err, EINVAL,
				 "cgroupsPath: \"%s\" is not a slice unit "
				 "name (NAME.slice)",
				 slice);
	if (!strcmp(slice, "-.slice")) {
		*out = base_strdup("");
		return 0;
	}
	_cleanup_free_ char *name = base_sprintf("%.*s", (int)(n - 6), slice);
	if (name[0] == '-' || name[strlen(name) - 1] == '-' ||
	    strstr(name, "--"))
		return berr_setx(err, EINVAL, "cgroupsPath: bad slice \"%s\"",
				 slice);
	size_t cap = 2 * n * n + 1, len = 0;
	char *p = base_calloc(1, cap);
	for (char *d = name;; d++) {
		if (*d != '-' && *d != '\0')
			continue;
		len += (size_t)snprintf(p + len, cap - len, "/%.*s.slice",
					(int)(d - name), name);
		if (*d == '\0')
			break;
	}
	*out = p;
	return 0;
}

int cg_systemd_parse(const char *cgroups_path, const char *id, char **slice,
		     char **unit, char **path, struct berr *err)
{
	const char *cp = cgroups_path && *cgroups_path ? cgroups_path : NULL;
	_cleanup_free_ char *copy =
		cp ? base_strdup(cp) : base_sprintf(":berth:%s", id ? id : "");
	char *c1 = strchr(copy, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || strchr(c2 + 1, ':'))
		return berr_setx(err, EINVAL,
				 "cgroupsPath \"%s\": with --systemd-cgroup it "
				 "reads slice:prefix:name",
				 cp);
	*c1 = *c2 = '\0';
	const char *sl = *copy ? copy : "system.slice", *prefix = c1 + 1,
		   *name = c2 + 1;
	if (!*name || !unit_chars_ok(name) || !unit_chars_ok(prefix))
		return berr_setx(err, EINVAL,
				 "cgroupsPath \"%s\": the name must be a "
				 "unit name part ([A-Za-z0-9:_.\\-@])",
				 cp ? cp : copy);
	_cleanup_free_ char *sp = NULL;
	int r = slice_path(sl, &sp, err);
	if (r < 0)
		return r;
	*unit = *prefix ? base_sprintf("%s-%s.scope", prefix, name)
			: base_sprintf("%s.scope", name);
	*path = base_sprintf("%s/%s", sp, *unit);
	*slice = base_strdup(sl);
	return 0;
}

/* ---- properties -------------------------------------------------------- */

#define SD_INFINITY UINT64_MAX

/* Appends ("Name", t value). */
static int prop_u64(struct sd_conn *c, sd_bus_message *m, const char *name,
		    uint64_t v)
{
	return c->sd->sd_bus_message_append(m, "(sv)", name, "t", v);
}

/* "0-3,5" -> systemd's CPU or node mask: bit i of byte i / 8. */
#define SD_MASK_MAX 1024 /* bytes: 8192 CPUs */
static int list_mask(const char *list, uint8_t *mask, size_t *len)
{
	memset(mask, 0, SD_MASK_MAX);
	*len = 0;
	for (const char *p = list; *p;) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (end == p)
			return -EINVAL;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p)
				return -EINVAL;
		}
		if (b < a || b >= SD_MASK_MAX * 8)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			mask[i / 8] |= (uint8_t)(1u << (i % 8));
		if (b / 8 + 1 > *len)
			*len = b / 8 + 1;
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		p = end;
	}
	return 0;
}

/* Appends ("Name", ay mask of list). */
static int prop_mask(struct sd_conn *c, sd_bus_message *m, const char *name,
		     const char *list)
{
	uint8_t mask[SD_MASK_MAX];
	size_t len;
	if (list_mask(list, mask, &len) < 0)
		return -EINVAL;
	const struct sd_api *sd = c->sd;
	int r = sd->sd_bus_message_open_container(m, 'r', "sv");
	if (r >= 0)
		r = sd->sd_bus_message_append(m, "s", name);
	if (r >= 0)
		r = sd->sd_bus_message_open_container(m, 'v', "ay");
	if (r >= 0)
		r = sd->sd_bus_message_append_array(m, 'y', mask, len);
	if (r >= 0)
		r = sd->sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd->sd_bus_message_close_container(m);
	return r;
}

/* The limits systemd also knows, as unit properties; n counts them. */
static int append_limits(struct sd_conn *c, sd_bus_message *m,
			 const struct cg_resources *res, int *n)
{
	int r = 0;
	*n = 0;
	if (res->has_memory_limit && r >= 0 && ++*n)
		r = prop_u64(c, m, "MemoryMax",
			     res->memory_limit < 0
				     ? SD_INFINITY
				     : (uint64_t)res->memory_limit);
	if (res->has_pids_limit && r >= 0 && ++*n)
		r = prop_u64(c, m, "TasksMax",
			     res->pids_limit < 0 ? SD_INFINITY
						 : (uint64_t)res->pids_limit);
	if (res->has_cpu_shares && r >= 0 && ++*n)
		r = prop_u64(c, m, "CPUWeight",
			     cg_cpu_shares_to_weight(res->cpu_shares));
	uint64_t period = res->has_cpu_period && res->cpu_period
				  ? res->cpu_period
				  : 100000;
	if (res->has_cpu_period && r >= 0 && ++*n)
		r = prop_u64(c, m, "CPUQuotaPeriodUSec", period);
	if (res->has_cpu_quota && r >= 0 && ++*n)
		r = prop_u64(c, m, "CPUQuotaPerSecUSec",
			     res->cpu_quota <= 0 ? SD_INFINITY
						 : (uint64_t)res->cpu_quota *
							   1000000 / period);
	if (res->cpuset_cpus && *res->cpuset_cpus && r >= 0 && ++*n)
		r = prop_mask(c, m, "AllowedCPUs", res->cpuset_cpus);
	if (res->cpuset_mems && *res->cpuset_mems && r >= 0 && ++*n)
		r = prop_mask(c, m, "AllowedMemoryNodes", res->cpuset_mems);
	if (res->blkio_weight && r >= 0 && ++*n)
		r = prop_u64(c, m, "IOWeight",
			     cg_blkio_weight_to_io_weight(res->blkio_weight));
	return r;
}

int cg_systemd_set(struct cg_group *g, const struct cg_resources *res,
		   struct berr *err)
{
	if (!g->unit)
		return 0;
	struct sd_conn *c = conn_get(err);
	if (!c)
		return -(err && err->code ? err->code : EIO);
	sd_bus_message *m = NULL;
	int n = 0;
	int r = new_call(c, "SetUnitProperties", &m);
	if (r >= 0)
		r = c->sd->sd_bus_message_append(m, "sb", g->unit, 1);
	if (r >= 0)
		r = c->sd->sd_bus_message_open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = append_limits(c, m, res, &n);
	if (r >= 0)
		r = c->sd->sd_bus_message_close_container(m);
	if (r >= 0 && n == 0) {
		c->sd->sd_bus_message_unref(m);
		return 0;
	}
	r = do_call(c, m, r, "set the limits of", g->unit, NULL, err);
	return r < 0 ? r : 0;
}

/* ---- the scope ----------------------------------------------------------- */

static int append_scope(struct sd_conn *c, sd_bus_message *m, const char *unit,
			const char *slice, const char *id, pid_t pid)
{
	const struct sd_api *sd = c->sd;
	_cleanup_free_ char *desc = base_sprintf("berth container %s", id);
	int r = sd->sd_bus_message_append(m, "ss", unit, "replace");
	if (r >= 0)
		r = sd->sd_bus_message_open_container(m, 'a', "(sv)");
	if (r >= 0)
		r = sd->sd_bus_message_append(
			m, "(sv)(sv)(sv)(sv)(sv)", "Description", "s", desc,
			"Slice", "s", slice, "Delegate", "b", 1, "PIDs", "au",
			1, (uint32_t)pid, "DefaultDependencies", "b", 0);
	/* accounting on, so that every controller is enabled down to us */
	if (r >= 0)
		r = sd->sd_bus_message_append(
			m, "(sv)(sv)(sv)(sv)", "MemoryAccounting", "b", 1,
			"CPUAccounting", "b", 1, "IOAccounting", "b", 1,
			"TasksAccounting", "b", 1);
	if (r >= 0)
		r = sd->sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd->sd_bus_message_append(m, "a(sa(sv))", 0);
	return r;
}

/* systemd runs the start job after it answered: wait for it to have moved
 * pid into the scope's cgroup. */
static int wait_moved(pid_t pid, const char *path, const char *unit,
		      struct berr *err)
{
	char file[64];
	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	_cleanup_free_ char *want = base_sprintf(":%s\n", path);
	for (int waited = 0; waited < 10000; waited += 1) {
		_cleanup_free_ char *text = NULL;
		int r = base_read_file_at(AT_FDCWD, file, &text, NULL, 0);
		if (r < 0)
			return berr_set(err, -r, "read %s", file);
		if (strstr(text, want))
			return 0;
		cg_sleep_ms(1);
	}
	return berr_setx(err, ETIMEDOUT,
			 "systemd: %s: pid %d not in %s after 10 s", unit,
			 (int)pid, path);
}

static int start_scope(const char *unit, const char *slice, const char *id,
		       pid_t pid, struct berr *err)
{
	struct sd_conn *c = conn_get(err);
	if (!c)
		return -(err && err->code ? err->code : EIO);
	sd_bus_message *m = NULL;
	int r = new_call(c, "StartTransientUnit", &m);
	if (r >= 0)
		r = append_scope(c, m, unit, slice, id, pid);
	return do_call(c, m, r, "create scope", unit, NULL, err);
}

int cg_create_systemd(const char *cgroups_path, const char *id, pid_t pid,
		      struct cg_group **out, struct berr *err)
{
	if (access("/run/systemd/system", F_OK) < 0)
		return berr_setx(err, EOPNOTSUPP,
				 "--systemd-cgroup: systemd is not running "
				 "as PID 1 here (no /run/systemd/system); "
				 "drop --systemd-cgroup to use the cgroupfs "
				 "driver");
	_cleanup_free_ char *slice = NULL, *unit = NULL, *path = NULL;
	int r = cg_systemd_parse(cgroups_path, id, &slice, &unit, &path, err);
	if (r < 0)
		return r;
	if ((r = start_scope(unit, slice, id, pid, err)) < 0)
		return r;
	struct cg_group *g = NULL;
	if ((r = wait_moved(pid, path, unit, err)) < 0 ||
	    (r = cg_create(path, id, &g, err)) < 0) {
		cg_systemd_stop(unit);
		return r;
	}
	g->unit = TAKE_PTR(unit);
	free(g->resolved);
	g->resolved = cg_path_format(g);
	*out = g;
	return 0;
}

void cg_systemd_stop(const char *unit)
{
	struct sd_conn *c = conn_get(NULL);
	if (!c)
		return;
	static const char *const calls[] = {"StopUnit", "ResetFailedUnit"};
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		sd_bus_message *m = NULL;
		int r = new_call(c, calls[i], &m);
		if (r >= 0)
			r = c->sd->sd_bus_message_append(m, i == 0 ? "ss" : "s",
							 unit, "replace");
		/* a scope whose processes are gone goes away on its own */
		do_call(c, m, r, calls[i], unit,
			"org.freedesktop.systemd1.NoSuchUnit", NULL);
	}
}
