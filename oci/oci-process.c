/* The process object: of config.json, or alone for `exec --process`. */
#include <string.h>

#include "oci/oci-internal.h"

static int parse_box(struct oj *j, const cJSON *v, void *out)
{
	struct oci_process *p = out;
	return oj_u32(j, v, "height", &p->console_height, NULL)
		       ?: oj_u32(j, v, "width", &p->console_width, NULL);
}

static int gid_items(struct oj *j, const cJSON *arr, struct oci_user *u)
{
	if (!cJSON_IsArray(arr))
		return oj_fail(j, "expected an array");
	size_t n = (size_t)cJSON_GetArraySize(arr);
	u->additional_gids = base_calloc(n, sizeof(uint32_t));
	for (const cJSON *c = arr->child; c; c = c->next) {
		uint64_t gid;
		size_t mark = oj_enter_index(j, u->n_additional_gids);
		int r = oj_v_u64(j, c, UINT32_MAX, &gid);
		oj_leave(j, mark);
		if (r < 0)
			return r;
		u->additional_gids[u->n_additional_gids++] = (uint32_t)gid;
	}
	return 0;
}

static int parse_gids(struct oj *j, const cJSON *obj, struct oci_user *u)
{
	const cJSON *v = oj_get(obj, "additionalGids");
	if (!v)
		return 0;
	size_t mark = oj_enter(j, "additionalGids");
	int r = gid_items(j, v, u);
	oj_leave(j, mark);
	return r;
}

static int parse_user(struct oj *j, const cJSON *v, void *out)
{
	struct oci_user *u = out;
	return oj_u32(j, v, "uid", &u->uid, NULL)
		?: oj_u32(j, v, "gid", &u->gid, NULL)
		?: oj_u32(j, v, "umask", &u->umask, &u->has_umask)
		?: parse_gids(j, v, u)
		?: oj_str(j, v, "username", &u->username);
}

static int add_cap(struct oj *j, const char *name, void *ctx)
{
	struct oci_capset *set = ctx;
	int cap = oci_cap_from_name(name);
	if (cap < 0)
		return oj_fail(j, "unknown capability \"%s\"", name);
	set->caps = base_realloc(set->caps, set->n + 1, sizeof(int));
	set->caps[set->n++] = cap;
	return 0;
}

static int parse_capset(struct oj *j, const cJSON *v, const char *key,
			struct oci_capset *set)
{
	return oj_each_str(j, v, key, add_cap, set, &set->present);
}

static int parse_caps(struct oj *j, const cJSON *v, void *out)
{
	struct oci_capabilities *c = out;
	return parse_capset(j, v, "bounding", &c->bounding)
		?: parse_capset(j, v, "effective", &c->effective)
		?: parse_capset(j, v, "inheritable", &c->inheritable)
		?: parse_capset(j, v, "permitted", &c->permitted)
		?: parse_capset(j, v, "ambient", &c->ambient);
}

static int parse_rlimit(struct oj *j, const cJSON *v, void *item)
{
	struct oci_rlimit *rl = item;
	return oj_enum(j, v, "type", oci_rlimit_from_name, "rlimit", true,
		       &rl->resource)
		?: oj_u64(j, v, "soft", UINT64_MAX, &rl->soft, NULL)
		?: oj_u64(j, v, "hard", UINT64_MAX, &rl->hard, NULL);
}

/* The spec: "If multiple rlimits share the same type, the runtime MUST
 * generate an error". */
static int check_rlimits(struct oj *j, const struct oci_process *p)
{
	for (size_t i = 1; i < p->n_rlimits; i++) {
		for (size_t k = 0; k < i; k++) {
			if (p->rlimits[k].resource != p->rlimits[i].resource)
				continue;
			oj_enter(j, "rlimits");
			oj_enter_index(j, i);
			oj_enter(j, "type");
			return oj_fail(j, "duplicate rlimit \"%s\"",
				       oci_rlimit_name(p->rlimits[i].resource));
		}
	}
	return 0;
}

static int add_sched_flag(struct oj *j, const char *name, void *ctx)
{
	int bit = oci_sched_flag_from_name(name);
	if (bit < 0)
		return oj_fail(j, "unknown flag \"%s\"", name);
	*(uint64_t *)ctx |= (uint64_t)bit;
	return 0;
}

static int parse_scheduler(struct oj *j, const cJSON *v, void *out)
{
	struct oci_scheduler *s = out;
	s->present = true;
	return oj_enum(j, v, "policy", oci_sched_policy_from_name, "policy",
		       true, &s->policy)
		?: oj_int(j, v, "nice", &s->nice, NULL)
		?: oj_int(j, v, "priority", &s->priority, NULL)
		?: oj_each_str(j, v, "flags", add_sched_flag, &s->flags, NULL)
		?: oj_u64(j, v, "runtime", UINT64_MAX, &s->runtime, NULL)
		?: oj_u64(j, v, "deadline", UINT64_MAX, &s->deadline, NULL)
		?: oj_u64(j, v, "period", UINT64_MAX, &s->period, NULL);
}

static int parse_ioprio(struct oj *j, const cJSON *v, void *out)
{
	struct oci_io_priority *io = out;
	int64_t prio = 0;
	io->present = true;
	int r = oj_enum(j, v, "class", oci_ioprio_class_from_name, "class",
			true, &io->klass)
			?: oj_i64(j, v, "priority", 0, 7, &prio, NULL);
	io->priority = (int)prio;
	return r;
}

static int parse_affinity(struct oj *j, const cJSON *v, void *out)
{
	struct oci_cpu_affinity *a = out;
	return oj_str(j, v, "initial", &a->initial)
		       ?: oj_str(j, v, "final", &a->final);
}

static int check_process(struct oj *j, const struct oci_process *p,
			 bool for_exec)
{
	if (!p->args || !p->args[0]) {
		oj_enter(j, "args");
		return oj_fail(j, "must not be empty");
	}
	if (!p->cwd)
		return for_exec ? 0 : oj_fail_required(j, "cwd");
	if (p->cwd[0] != '/') {
		oj_enter(j, "cwd");
		return oj_fail(j, "must be an absolute path");
	}
	return 0;
}

int oci_parse_process(struct oj *j, const cJSON *v, struct oci_process *p,
		      bool for_exec)
{
	int r = oj_bool(j, v, "terminal", &p->terminal, NULL)
		?: oj_object(j, v, "consoleSize", parse_box, p,
			     &p->has_console_size)
		?: oj_object(j, v, "user", parse_user, &p->user, NULL)
		?: oj_strv(j, v, "args", &p->args)
		?: oj_strv(j, v, "env", &p->env)
		?: oj_str(j, v, "cwd", &p->cwd)
		?: oj_object(j, v, "capabilities", parse_caps,
			     &p->capabilities, &p->has_capabilities)
		?: OJ_LIST(j, v, "rlimits", p->rlimits, p->n_rlimits,
			   parse_rlimit)
		?: check_rlimits(j, p)
		?: oj_bool(j, v, "noNewPrivileges", &p->no_new_privileges,
			   NULL)
		?: oj_str(j, v, "apparmorProfile", &p->apparmor_profile)
		?: oj_int(j, v, "oomScoreAdj", &p->oom_score_adj,
			  &p->has_oom_score_adj)
		?: oj_object(j, v, "scheduler", parse_scheduler, &p->scheduler,
			     NULL)
		?: oj_str(j, v, "selinuxLabel", &p->selinux_label)
		?: oj_object(j, v, "ioPriority", parse_ioprio, &p->io_priority,
			     NULL)
		?: oj_object(j, v, "execCPUAffinity", parse_affinity,
			     &p->exec_cpu_affinity, NULL);
	return r ?: check_process(j, p, for_exec);
}

static void capset_clear(struct oci_capset *s)
{
	free(s->caps);
}

void oci_process_clear(struct oci_process *p)
{
	free(p->cwd);
	base_strv_free(p->env);
	base_strv_free(p->args);
	free(p->rlimits);
	free(p->apparmor_profile);
	capset_clear(&p->capabilities.bounding);
	capset_clear(&p->capabilities.effective);
	capset_clear(&p->capabilities.inheritable);
	capset_clear(&p->capabilities.permitted);
	capset_clear(&p->capabilities.ambient);
	free(p->selinux_label);
	free(p->exec_cpu_affinity.initial);
	free(p->exec_cpu_affinity.final);
	free(p->user.additional_gids);
	free(p->user.username);
}

void oci_process_free(struct oci_process *p)
{
	if (!p)
		return;
	oci_process_clear(p);
	free(p);
}

int oci_process_parse(const char *json, size_t len, struct oci_process **out,
		      struct berr *err)
{
	struct oj j;
	oj_init(&j, err, "process", false, "process");
	_cleanup_json_ cJSON *doc = NULL;
	int r = oj_parse_doc(&j, json, len, &doc);
	if (r < 0)
		return r;
	_cleanup_(oci_process_freep) struct oci_process *p =
		base_calloc(1, sizeof(*p));
	r = oci_parse_process(&j, doc, p, true);
	if (r < 0)
		return r;
	*out = TAKE_PTR(p);
	return 0;
}
