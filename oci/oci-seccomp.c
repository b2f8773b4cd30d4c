/* linux.seccomp: names are checked here, the filter is built by the
 * runtime. */
#include "oci/oci-internal.h"

/* errnoRet picks the errno of SCMP_ACT_ERRNO or the message of
 * SCMP_ACT_TRACE; anywhere else it would be silently ignored. */
static int check_errno_ret(struct oj *j, const char *key, bool has, int action)
{
	if (!has || action == OCI_SCMP_ACT_ERRNO ||
	    action == OCI_SCMP_ACT_TRACE)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = oj_fail(j, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
	oj_leave(j, mark);
	return r;
}

static int parse_arg(struct oj *j, const cJSON *v, void *item)
{
	struct oci_seccomp_arg *a = item;
	uint64_t index = 0;
	int op = 0;
	/* a system call has at most six arguments */
	int r = oj_u64(j, v, "index", 5, &index, NULL)
		?: oj_u64(j, v, "value", UINT64_MAX, &a->value, NULL)
		?: oj_u64(j, v, "valueTwo", UINT64_MAX, &a->value_two, NULL)
		?: oj_enum(j, v, "op", oci_seccomp_op_from_name, "operator",
			   true, &op);
	a->index = (uint32_t)index;
	a->op = (enum oci_seccomp_op)op;
	return r;
}

static int check_names(struct oj *j, const struct oci_seccomp_syscall *s)
{
	if (s->names && s->names[0])
		return 0;
	size_t mark = oj_enter(j, "names");
	int r = oj_fail(j, "must not be empty");
	oj_leave(j, mark);
	return r;
}

static int parse_syscall(struct oj *j, const cJSON *v, void *item)
{
	struct oci_seccomp_syscall *s = item;
	int action = 0;
	int r = oj_strv(j, v, "names", &s->names)
		?: check_names(j, s)
		?: oj_enum(j, v, "action", oci_seccomp_action_from_name,
			   "action", true, &action);
	s->action = (enum oci_seccomp_action)action;
	return r
		?: oj_u32(j, v, "errnoRet", &s->errno_ret, &s->has_errno_ret)
		?: check_errno_ret(j, "errnoRet", s->has_errno_ret, action)
		?: OJ_LIST(j, v, "args", s->args, s->n_args, parse_arg);
}

static int add_arch(struct oj *j, const char *name, void *ctx)
{
	if (!oci_seccomp_arch_valid(name))
		return oj_fail(j, "unknown architecture \"%s\"", name);
	base_strv_push(ctx, name);
	return 0;
}

int oci_parse_seccomp(struct oj *j, const cJSON *v, void *out)
{
	struct oci_seccomp *s = out;
	int action = 0;
	int r = oj_enum(j, v, "defaultAction", oci_seccomp_action_from_name,
			"action", true, &action);
	s->default_action = (enum oci_seccomp_action)action;
	return r
		?: oj_u32(j, v, "defaultErrnoRet", &s->default_errno_ret,
			  &s->has_default_errno_ret)
		?: check_errno_ret(j, "defaultErrnoRet",
				   s->has_default_errno_ret, action)
		?: oj_each_str(j, v, "architectures", add_arch,
			       &s->architectures, NULL)
		?: oj_strv(j, v, "flags", &s->flags)
		?: oj_str(j, v, "listenerPath", &s->listener_path)
		?: oj_str(j, v, "listenerMetadata", &s->listener_metadata)
		?: OJ_LIST(j, v, "syscalls", s->syscalls, s->n_syscalls,
			   parse_syscall);
}

void oci_seccomp_clear(struct oci_seccomp *s)
{
	base_strv_free(s->architectures);
	base_strv_free(s->flags);
	free(s->listener_path);
	free(s->listener_metadata);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		base_strv_free(s->syscalls[i].names);
		free(s->syscalls[i].args);
	}
	free(s->syscalls);
}
