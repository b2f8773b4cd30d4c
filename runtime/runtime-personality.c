/* linux.personality: the execution domain and its flags, set with
 * personality(2) in the container process before its execve, which keeps
 * them. LINUX32 makes uname(2) report a 32-bit machine (i686 on x86_64),
 * which 32-bit build environments rely on.
 *
 * The runtime-spec defines no flag values yet; berth takes the names of
 * <sys/personality.h> and refuses any other at create, rather than
 * ignoring what the config asked for. */
#include <string.h>
#include <sys/personality.h>

#include "runtime/runtime-internal.h"

static const struct {
	const char *name;
	unsigned long flag;
} flag_names[] = {
	{"ADDR_COMPAT_LAYOUT", ADDR_COMPAT_LAYOUT},
	{"ADDR_LIMIT_32BIT", ADDR_LIMIT_32BIT},
	{"ADDR_LIMIT_3GB", ADDR_LIMIT_3GB},
	{"ADDR_NO_RANDOMIZE", ADDR_NO_RANDOMIZE},
	{"FDPIC_FUNCPTRS", FDPIC_FUNCPTRS},
	{"MMAP_PAGE_ZERO", MMAP_PAGE_ZERO},
	{"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
	{"SHORT_INODE", SHORT_INODE},
	{"STICKY_TIMEOUTS", STICKY_TIMEOUTS},
	{"UNAME26", UNAME26},
	{"WHOLE_SECONDS", WHOLE_SECONDS},
};

static const struct oci_personality *personality_of(const struct oci_config *c)
{
	return c->has_linux && c->linux_.personality.present
		       ? &c->linux_.personality
		       : NULL;
}

/* The persona personality(2) takes; the parser accepted only the two
 * domains. */
static int persona(const struct oci_personality *p, unsigned long *out,
		   struct berr *err)
{
	unsigned long v = p->domain && !strcmp(p->domain, "LINUX32")
				  ? PER_LINUX32
				  : PER_LINUX;
	for (size_t i = 0; p->flags && p->flags[i]; i++) {
		size_t j = 0;
		while (j < ARRAY_SIZE(flag_names) &&
		       strcmp(flag_names[j].name, p->flags[i]))
			j++;
		if (j == ARRAY_SIZE(flag_names))
			return berr_setx(
				err, EINVAL,
				"linux.personality.flags[%zu]: unknown "
				"flag `%s`",
				i, p->flags[i]);
		v |= flag_names[j].flag;
	}
	*out = v;
	return 0;
}

int rt_personality_check(const struct oci_config *c, struct berr *err)
{
	const struct oci_personality *p = personality_of(c);
	unsigned long v;
	return p ? persona(p, &v, err) : 0;
}

int rt_personality_apply(const struct oci_config *c, struct berr *err)
{
	const struct oci_personality *p = personality_of(c);
	if (!p)
		return 0;
	unsigned long v;
	int r = persona(p, &v, err);
	if (r < 0)
		return r;
	if (personality(v) < 0)
		return berr_set(err, errno,
				"linux.personality: set domain %s "
				"(0x%lx)",
				p->domain, v);
	return 0;
}
