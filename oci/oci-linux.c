/* The linux section of config.json, but for resources and seccomp. */
#include <string.h>

#include "oci/oci-internal.h"

static int parse_namespace(struct oj *j, const cJSON *v, void *item)
{
	struct oci_namespace *ns = item;
	int type = 0;
	int r = oj_enum(j, v, "type", oci_ns_type_from_name, "namespace type",
			true, &type);
	ns->type = (enum oci_ns_type)type;
	return r ?: oj_str(j, v, "path", &ns->path);
}

static int check_namespaces(struct oj *j, const struct oci_linux *l)
{
	for (size_t i = 1; i < l->n_namespaces; i++) {
		for (size_t k = 0; k < i; k++) {
			if (l->namespaces[k].type != l->namespaces[i].type)
				continue;
			oj_enter(j, "namespaces");
			oj_enter_index(j, i);
			oj_enter(j, "type");
			return oj_fail(j, "duplicate namespace type \"%s\"",
				       oci_ns_type_name(l->namespaces[i].type));
		}
	}
	return 0;
}

static int parse_time_offset(struct oj *j, const cJSON *v, void *out)
{
	struct oci_time_offset *t = out;
	t->present = true;
	return oj_i64(j, v, "secs", INT64_MIN, INT64_MAX, &t->secs, NULL)
		       ?: oj_u32(j, v, "nanosecs", &t->nanosecs, NULL);
}

static int time_offset_items(struct oj *j, const cJSON *o, struct oci_linux *l)
{
	if (!cJSON_IsObject(o))
		return oj_fail(j, "expected an object");
	for (const cJSON *c = o->child; c; c = c->next) {
		if (strcmp(c->string, "monotonic") &&
		    strcmp(c->string, "boottime"))
			return oj_fail(j, "unknown clock \"%s\"", c->string);
	}
	return oj_object(j, o, "monotonic", parse_time_offset,
			 &l->time_monotonic, NULL)
		       ?: oj_object(j, o, "boottime", parse_time_offset,
				    &l->time_boottime, NULL);
}

static int parse_time_offsets(struct oj *j, const cJSON *obj,
			      struct oci_linux *l)
{
	const cJSON *v = oj_get(obj, "timeOffsets");
	if (!v)
		return 0;
	size_t mark = oj_enter(j, "timeOffsets");
	int r = time_offset_items(j, v, l);
	oj_leave(j, mark);
	return r;
}

static int check_device(struct oj *j, struct oci_device *d, const char *type,
			bool has_major, bool has_minor)
{
	if (!d->path)
		return oj_fail_required(j, "path");
	if (!type)
		return oj_fail_required(j, "type");
	if (strlen(type) != 1 || !strchr("cbup", type[0])) {
		oj_enter(j, "type");
		return oj_fail(j, "unknown device type \"%s\"", type);
	}
	d->type = type[0];
	if (d->type != 'p' && !(has_major && has_minor)) {
		oj_enter(j, has_major ? "minor" : "major");
		return oj_fail(j, "required for type \"%s\"", type);
	}
	return 0;
}

static int parse_device(struct oj *j, const cJSON *v, void *item)
{
	struct oci_device *d = item;
	_cleanup_free_ char *type = NULL;
	bool has_major = false, has_minor = false;
	int r = oj_str(j, v, "path", &d->path)
		?: oj_str(j, v, "type", &type)
		?: oj_i64(j, v, "major", INT64_MIN, INT64_MAX, &d->major,
			  &has_major)
		?: oj_i64(j, v, "minor", INT64_MIN, INT64_MAX, &d->minor,
			  &has_minor)
		?: oj_u32(j, v, "fileMode", &d->file_mode, &d->has_file_mode)
		?: oj_u32(j, v, "uid", &d->uid, &d->has_uid)
		?: oj_u32(j, v, "gid", &d->gid, &d->has_gid);
	return r ?: check_device(j, d, type, has_major, has_minor);
}

/* An empty string is the Go zero value: unset. */
static int propagation_from_name(const char *name)
{
	return *name ? oci_propagation_from_name(name) : OCI_PROPAGATION_UNSET;
}

static int parse_propagation(struct oj *j, const cJSON *v, struct oci_linux *l)
{
	int prop = OCI_PROPAGATION_UNSET;
	int r = oj_enum(j, v, "rootfsPropagation", propagation_from_name,
			"propagation", false, &prop);
	l->rootfs_propagation = (enum oci_propagation)prop;
	return r;
}

static int parse_personality(struct oj *j, const cJSON *v, void *out)
{
	struct oci_personality *p = out;
	p->present = true;
	int r = oj_str(j, v, "domain", &p->domain)
			?: oj_strv(j, v, "flags", &p->flags);
	if (r < 0)
		return r;
	if (!p->domain)
		return oj_fail_required(j, "domain");
	if (strcmp(p->domain, "LINUX") && strcmp(p->domain, "LINUX32")) {
		oj_enter(j, "domain");
		return oj_fail(j, "unknown domain \"%s\"", p->domain);
	}
	return 0;
}

/* intelRdt is only noted: the runtime refuses it as unsupported. */
static int parse_present(struct oj *j, const cJSON *v, void *out)
{
	return 0;
}

int oci_parse_linux(struct oj *j, const cJSON *v, void *out)
{
	struct oci_linux *l = out;
	return OJ_LIST(j, v, "namespaces", l->namespaces, l->n_namespaces,
		       parse_namespace)
		?: check_namespaces(j, l)
		?: OJ_LIST(j, v, "uidMappings", l->uid_mappings,
			   l->n_uid_mappings, oci_parse_idmap)
		?: OJ_LIST(j, v, "gidMappings", l->gid_mappings,
			   l->n_gid_mappings, oci_parse_idmap)
		?: parse_time_offsets(j, v, l)
		?: OJ_LIST(j, v, "devices", l->devices, l->n_devices,
			   parse_device)
		?: oj_str(j, v, "cgroupsPath", &l->cgroups_path)
		?: oj_object(j, v, "resources", oci_parse_resources,
			     &l->resources, &l->has_resources)
		?: oj_kv(j, v, "sysctl", &l->sysctl, &l->n_sysctl)
		?: oj_object(j, v, "seccomp", oci_parse_seccomp, &l->seccomp,
			     &l->has_seccomp)
		?: parse_propagation(j, v, l)
		?: oj_strv(j, v, "maskedPaths", &l->masked_paths)
		?: oj_strv(j, v, "readonlyPaths", &l->readonly_paths)
		?: oj_str(j, v, "mountLabel", &l->mount_label)
		?: oj_object(j, v, "personality", parse_personality,
			     &l->personality, NULL)
		?: oj_object(j, v, "intelRdt", parse_present, NULL,
			     &l->has_intel_rdt);
}

void oci_linux_clear(struct oci_linux *l)
{
	for (size_t i = 0; i < l->n_namespaces; i++)
		free(l->namespaces[i].path);
	free(l->namespaces);
	free(l->uid_mappings);
	free(l->gid_mappings);
	for (size_t i = 0; i < l->n_devices; i++)
		free(l->devices[i].path);
	free(l->devices);
	free(l->cgroups_path);
	oci_resources_clear(&l->resources);
	oci_kv_free(l->sysctl, l->n_sysctl);
	oci_seccomp_clear(&l->seccomp);
	base_strv_free(l->masked_paths);
	base_strv_free(l->readonly_paths);
	free(l->mount_label);
	free(l->personality.domain);
	base_strv_free(l->personality.flags);
}
