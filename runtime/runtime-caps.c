/* The container process's capabilities, through libcap.
 *
 * The order follows runc: the bounding set is reduced while berth is still
 * root with every capability effective (dropping needs CAP_SETPCAP); the
 * user is then switched with PR_SET_KEEPCAPS so that the permitted set
 * survives setresuid(); last, effective/permitted/inheritable are set and
 * the ambient capabilities raised. */
#include <ctype.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "runtime/runtime-process-internal.h"

static void cap_freep(cap_t *c)
{
	if (*c)
		cap_free(*c);
}

void rt_cap_name(int cap, char *buf, size_t len)
{
	char *n = cap_to_name(cap);
	/* libcap prints numbers it cannot name as plain decimals */
	if (!n || isdigit((unsigned char)n[0])) {
		snprintf(buf, len, "CAP_%d", cap);
	} else {
		size_t i;
		for (i = 0; n[i] && i + 1 < len; i++)
			buf[i] = (char)toupper((unsigned char)n[i]);
		buf[i] = '\0';
	}
	if (n)
		cap_free(n);
}

static const struct oci_capset *capsets(const struct oci_process *p, int i)
{
	const struct oci_capabilities *c = &p->capabilities;
	const struct oci_capset *v[] = {&c->bounding, &c->effective,
					&c->inheritable, &c->permitted,
					&c->ambient};
	return i < (int)ARRAY_SIZE(v) ? v[i] : NULL;
}

/* runc skips (with a warning) capabilities the running kernel does not
 * know, so that one config works on older kernels. */
static bool cap_known(int cap)
{
	return cap >= 0 && cap < cap_max_bits();
}

static int check_in_bounding(const struct oci_process *p, struct berr *err)
{
	const struct oci_capset *s;
	for (int i = 0; (s = capsets(p, i)); i++) {
		for (size_t j = 0; j < s->n; j++) {
			int cap = s->caps[j];
			if (!cap_known(cap)) {
				blog_debug(
					"capability %d unknown to the kernel, "
					"ignored",
					cap);
				continue;
			}
			if (cap_get_bound(cap) == 1)
				continue;
			char name[64];
			rt_cap_name(cap, name, sizeof(name));
			return berr_setx(err, EPERM,
					 "capability %s: not in berth's "
					 "bounding set",
					 name);
		}
	}
	return 0;
}

static bool set_has(const struct oci_capset *s, int cap)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->caps[i] == cap)
			return true;
	return false;
}

int rt_caps_bound(const struct oci_process *p, struct berr *err)
{
	int r = check_in_bounding(p, err);
	if (r < 0)
		return r;
	int max = cap_max_bits();
	for (int cap = 0; cap < max; cap++) {
		if (p->has_capabilities &&
		    set_has(&p->capabilities.bounding, cap))
			continue;
		if (cap_get_bound(cap) != 1)
			continue;
		if (cap_drop_bound(cap) < 0) {
			char name[64];
			rt_cap_name(cap, name, sizeof(name));
			return berr_set(err, errno,
					"drop %s from the bounding set", name);
		}
	}
	return 0;
}

static int fill_flag(cap_t c, cap_flag_t flag, const struct oci_capset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		cap_value_t v = s->caps[i];
		if (!cap_known(v))
			continue;
		if (cap_set_flag(c, flag, 1, &v, CAP_SET) < 0)
			return -errno;
	}
	return 0;
}

static void raise_ambient(const struct oci_capset *s)
{
	/* Ambient capabilities need the kernel (4.3+) and the capability in
	 * both permitted and inheritable; runc only warns when raising one
	 * fails, and so does berth. */
	if (cap_reset_ambient() < 0 && s->n == 0)
		return;
	for (size_t i = 0; i < s->n; i++) {
		if (!cap_known(s->caps[i]))
			continue;
		if (cap_set_ambient(s->caps[i], CAP_SET) < 0) {
			char name[64];
			rt_cap_name(s->caps[i], name, sizeof(name));
			blog_debug("cannot raise ambient capability %s: %s",
				   name, strerror(errno));
		}
	}
}

int rt_caps_apply(const struct oci_process *p, struct berr *err)
{
	_cleanup_(cap_freep) cap_t c = cap_init();
	if (!c)
		return berr_set(err, errno, "cap_init");
	const struct oci_capabilities *caps = &p->capabilities;
	static const struct oci_capset empty;
	const struct oci_capset *eff = &empty, *prm = &empty, *inh = &empty,
				*amb = &empty;
	if (p->has_capabilities) {
		eff = &caps->effective;
		prm = &caps->permitted;
		inh = &caps->inheritable;
		amb = &caps->ambient;
	}
	if (fill_flag(c, CAP_EFFECTIVE, eff) < 0 ||
	    fill_flag(c, CAP_PERMITTED, prm) < 0 ||
	    fill_flag(c, CAP_INHERITABLE, inh) < 0)
		return berr_set(err, errno, "cap_set_flag");
	if (cap_set_proc(c) < 0)
		return berr_set(err, errno, "apply capabilities");
	raise_ambient(amb);
	return 0;
}
