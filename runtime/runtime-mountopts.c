/* The mount options of the runtime-spec (config.md, "Mounts"): each one
 * either sets or clears an MS_* flag, changes propagation, sets a
 * recursive mount attribute (mount_setattr with AT_RECURSIVE), or is an
 * extension (tmpcopyup, idmap). Everything else belongs to the filesystem
 * and is passed on as mount(2) data. */
#include <string.h>
#include <sys/mount.h>

#include "runtime/runtime-rootfs-internal.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_RELATIME 0x00000000
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif

enum opt_kind { OPT_SET, OPT_CLEAR, OPT_PROP, OPT_REC_SET, OPT_REC_CLR };

struct opt {
	const char *name;
	enum opt_kind kind;
	unsigned long flag; /* MS_* or MOUNT_ATTR_* */
};

/* The atime options replace each other: setting one clears the rest. */
#define ATIME_MS (MS_NOATIME | MS_RELATIME | MS_STRICTATIME)

static const struct opt opts[] = {
	{"async", OPT_CLEAR, MS_SYNCHRONOUS},
	{"atime", OPT_CLEAR, MS_NOATIME},
	{"bind", OPT_SET, MS_BIND},
	{"defaults", OPT_SET, 0},
	{"dev", OPT_CLEAR, MS_NODEV},
	{"diratime", OPT_CLEAR, MS_NODIRATIME},
	{"dirsync", OPT_SET, MS_DIRSYNC},
	{"exec", OPT_CLEAR, MS_NOEXEC},
	{"iversion", OPT_SET, MS_I_VERSION},
	{"lazytime", OPT_SET, MS_LAZYTIME},
	{"loud", OPT_CLEAR, MS_SILENT},
	{"mand", OPT_SET, MS_MANDLOCK},
	{"noatime", OPT_SET, MS_NOATIME},
	{"nodev", OPT_SET, MS_NODEV},
	{"nodiratime", OPT_SET, MS_NODIRATIME},
	{"noexec", OPT_SET, MS_NOEXEC},
	{"noiversion", OPT_CLEAR, MS_I_VERSION},
	{"nolazytime", OPT_CLEAR, MS_LAZYTIME},
	{"nomand", OPT_CLEAR, MS_MANDLOCK},
	{"norelatime", OPT_CLEAR, MS_RELATIME},
	{"nostrictatime", OPT_CLEAR, MS_STRICTATIME},
	{"nosuid", OPT_SET, MS_NOSUID},
	{"nosymfollow", OPT_SET, MS_NOSYMFOLLOW},
	{"rbind", OPT_SET, MS_BIND | MS_REC},
	{"relatime", OPT_SET, MS_RELATIME},
	{"remount", OPT_SET, MS_REMOUNT},
	{"ro", OPT_SET, MS_RDONLY},
	{"rw", OPT_CLEAR, MS_RDONLY},
	{"silent", OPT_SET, MS_SILENT},
	{"strictatime", OPT_SET, MS_STRICTATIME},
	{"suid", OPT_CLEAR, MS_NOSUID},
	{"sync", OPT_SET, MS_SYNCHRONOUS},
	{"private", OPT_PROP, MS_PRIVATE},
	{"rprivate", OPT_PROP, MS_PRIVATE | MS_REC},
	{"shared", OPT_PROP, MS_SHARED},
	{"rshared", OPT_PROP, MS_SHARED | MS_REC},
	{"slave", OPT_PROP, MS_SLAVE},
	{"rslave", OPT_PROP, MS_SLAVE | MS_REC},
	{"unbindable", OPT_PROP, MS_UNBINDABLE},
	{"runbindable", OPT_PROP, MS_UNBINDABLE | MS_REC},
	{"rro", OPT_REC_SET, MOUNT_ATTR_RDONLY},
	{"rrw", OPT_REC_CLR, MOUNT_ATTR_RDONLY},
	{"rnosuid", OPT_REC_SET, MOUNT_ATTR_NOSUID},
	{"rsuid", OPT_REC_CLR, MOUNT_ATTR_NOSUID},
	{"rnodev", OPT_REC_SET, MOUNT_ATTR_NODEV},
	{"rdev", OPT_REC_CLR, MOUNT_ATTR_NODEV},
	{"rnoexec", OPT_REC_SET, MOUNT_ATTR_NOEXEC},
	{"rexec", OPT_REC_CLR, MOUNT_ATTR_NOEXEC},
	{"rnodiratime", OPT_REC_SET, MOUNT_ATTR_NODIRATIME},
	{"rdiratime", OPT_REC_CLR, MOUNT_ATTR_NODIRATIME},
	{"rnosymfollow", OPT_REC_SET, MOUNT_ATTR_NOSYMFOLLOW},
	{"rsymfollow", OPT_REC_CLR, MOUNT_ATTR_NOSYMFOLLOW},
};

/* The recursive atime options: an enum in mount_setattr, so each one
 * clears the whole field and sets its value. */
static const struct {
	const char *name;
	uint64_t value;
} rec_atime[] = {
	{"rrelatime", MOUNT_ATTR_RELATIME},
	{"rnorelatime", MOUNT_ATTR_STRICTATIME},
	{"rnoatime", MOUNT_ATTR_NOATIME},
	{"ratime", MOUNT_ATTR_RELATIME},
	{"rstrictatime", MOUNT_ATTR_STRICTATIME},
	{"rnostrictatime", MOUNT_ATTR_RELATIME},
};

static void apply_set(struct rt_mntopts *o, unsigned long flag)
{
	if (flag & ATIME_MS) {
		o->flags &= ~ATIME_MS;
		o->clear &= ~ATIME_MS;
	}
	o->flags |= flag;
	o->clear &= ~flag;
}

static void apply_clear(struct rt_mntopts *o, unsigned long flag)
{
	o->flags &= ~flag;
	o->clear |= flag;
}

static int apply_opt(struct rt_mntopts *o, const struct opt *p)
{
	switch (p->kind) {
	case OPT_SET:
		apply_set(o, p->flag);
		break;
	case OPT_CLEAR:
		apply_clear(o, p->flag);
		break;
	case OPT_PROP:
		if (o->n_prop == RT_MNTOPTS_MAX_PROP)
			return -E2BIG;
		o->prop[o->n_prop++] = p->flag;
		break;
	case OPT_REC_SET:
		o->rec_set |= p->flag;
		o->rec_clr &= ~(uint64_t)p->flag;
		break;
	case OPT_REC_CLR:
		o->rec_clr |= p->flag;
		o->rec_set &= ~(uint64_t)p->flag;
		break;
	}
	return 0;
}

static bool apply_rec_atime(struct rt_mntopts *o, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rec_atime); i++) {
		if (strcmp(rec_atime[i].name, name))
			continue;
		o->rec_clr |= MOUNT_ATTR__ATIME;
		o->rec_set = (o->rec_set & ~(uint64_t)MOUNT_ATTR__ATIME) |
			     rec_atime[i].value;
		return true;
	}
	return false;
}

static void add_data(struct rt_mntopts *o, const char *opt)
{
	if (!o->data) {
		o->data = base_strdup(opt);
		return;
	}
	char *d = base_sprintf("%s,%s", o->data, opt);
	free(o->data);
	o->data = d;
}

static const struct opt *find_opt(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (!strcmp(opts[i].name, name))
			return &opts[i];
	return NULL;
}

int rt_mntopts_parse(char *const *options, struct rt_mntopts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; options && options[i]; i++) {
		const char *name = options[i];
		const struct opt *p = find_opt(name);
		if (p) {
			int r = apply_opt(out, p);
			if (r < 0)
				return r;
		} else if (apply_rec_atime(out, name)) {
			continue;
		} else if (!strcmp(name, "tmpcopyup")) {
			out->tmpcopyup = true;
		} else if (!strcmp(name, "idmap") || !strcmp(name, "ridmap")) {
			out->idmap = true;
		} else if (*name) {
			add_data(out, name);
		}
	}
	return 0;
}

void rt_mntopts_free(struct rt_mntopts *o)
{
	free(o->data);
	o->data = NULL;
}

bool rt_mount_is_bind(const struct oci_mount *m)
{
	if (m->type && !strcmp(m->type, "bind"))
		return true;
	for (size_t i = 0; m->options && m->options[i]; i++)
		if (!strcmp(m->options[i], "bind") ||
		    !strcmp(m->options[i], "rbind"))
			return true;
	return false;
}
