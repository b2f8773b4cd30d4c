/* The parts of a parsed config that berth itself fills in (the security
 * profile of `berth launch`) written back as runtime-spec JSON, so that
 * the config.json of a launched container says exactly what applies. */
#include <string.h>

#include "oci/oci-internal.h"

static cJSON *capset_json(const struct oci_capset *s)
{
	cJSON *v = oj_new_array();
	for (size_t i = 0; i < s->n; i++) {
		const char *name = oci_cap_name(s->caps[i]);
		if (name)
			oj_append(v, oj_new_str(name));
	}
	return v;
}

struct cJSON *oci_capabilities_json(const struct oci_capabilities *c)
{
	cJSON *v = oj_new_object();
	const struct {
		const char *key;
		const struct oci_capset *set;
	} sets[] = {
		{"bounding", &c->bounding},	  {"effective", &c->effective},
		{"inheritable", &c->inheritable}, {"permitted", &c->permitted},
		{"ambient", &c->ambient},
	};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		if (sets[i].set->present)
			oj_put(v, sets[i].key, capset_json(sets[i].set));
	return v;
}

static cJSON *syscall_json(const struct oci_seccomp_syscall *sc)
{
	cJSON *v = oj_new_object();
	oj_put(v, "names", oj_new_strv((const char *const *)sc->names));
	oj_put(v, "action", oj_new_str(oci_seccomp_action_name(sc->action)));
	if (sc->has_errno_ret)
		oj_put(v, "errnoRet", oj_new_u64(sc->errno_ret));
	if (sc->n_args) {
		cJSON *args = oj_new_array();
		for (size_t i = 0; i < sc->n_args; i++) {
			const struct oci_seccomp_arg *a = &sc->args[i];
			cJSON *o = oj_new_object();
			oj_put(o, "index", oj_new_u64(a->index));
			oj_put(o, "value", oj_new_u64(a->value));
			if (a->value_two)
				oj_put(o, "valueTwo", oj_new_u64(a->value_two));
			oj_put(o, "op", oj_new_str(oci_seccomp_op_name(a->op)));
			oj_append(args, o);
		}
		oj_put(v, "args", args);
	}
	return v;
}

struct cJSON *oci_seccomp_json(const struct oci_seccomp *s)
{
	cJSON *v = oj_new_object();
	oj_put(v, "defaultAction",
	       oj_new_str(oci_seccomp_action_name(s->default_action)));
	if (s->has_default_errno_ret)
		oj_put(v, "defaultErrnoRet", oj_new_u64(s->default_errno_ret));
	if (s->architectures)
		oj_put(v, "architectures",
		       oj_new_strv((const char *const *)s->architectures));
	if (s->flags)
		oj_put(v, "flags", oj_new_strv((const char *const *)s->flags));
	if (s->listener_path)
		oj_put(v, "listenerPath", oj_new_str(s->listener_path));
	if (s->listener_metadata)
		oj_put(v, "listenerMetadata", oj_new_str(s->listener_metadata));
	cJSON *calls = oj_new_array();
	for (size_t i = 0; i < s->n_syscalls; i++)
		oj_append(calls, syscall_json(&s->syscalls[i]));
	oj_put(v, "syscalls", calls);
	return v;
}
