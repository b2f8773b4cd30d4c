/* The container state: the persisted state.json, what `state` prints and
 * what hooks read on stdin. */
#include <limits.h>

#include "oci/oci-internal.h"

static void put_opt_str(cJSON *o, const char *key, const char *s)
{
	if (s)
		oj_put(o, key, oj_new_str(s));
}

static const char *version_of(const struct oci_state *s)
{
	return s->oci_version ? s->oci_version : OCI_SPEC_VERSION;
}

/* runc's `state`: its containerState fields in their order, annotations
 * only when there are some, and no pid once the container stopped. */
char *oci_state_to_json(const struct oci_state *s, enum oci_status live)
{
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "ociVersion", oj_new_str(version_of(s)));
	oj_put(o, "id", oj_new_str(s->id));
	oj_put(o, "pid",
	       oj_new_i64(live == OCI_STATUS_STOPPED ? 0 : (int64_t)s->pid));
	oj_put(o, "status", oj_new_str(oci_status_name(live)));
	oj_put(o, "bundle", oj_new_str(s->bundle));
	oj_put(o, "rootfs", oj_new_str(s->rootfs));
	oj_put(o, "created", oj_new_str(s->created));
	if (s->n_annotations)
		oj_put(o, "annotations",
		       oj_new_kv(s->annotations, s->n_annotations));
	oj_put(o, "owner", oj_new_str(s->owner));
	return oj_print(o, "  ");
}

/* The spec's state object, as Go marshals specs.State. */
char *oci_state_hook_json(const struct oci_state *s, enum oci_status status)
{
	_cleanup_json_ cJSON *o = oj_new_object();
	oj_put(o, "ociVersion", oj_new_str(version_of(s)));
	oj_put(o, "id", oj_new_str(s->id));
	oj_put(o, "status", oj_new_str(oci_status_name(status)));
	if (s->pid)
		oj_put(o, "pid", oj_new_i64(s->pid));
	oj_put(o, "bundle", oj_new_str(s->bundle));
	if (s->n_annotations)
		oj_put(o, "annotations",
		       oj_new_kv(s->annotations, s->n_annotations));
	return oj_print(o, NULL);
}

char *oci_state_serialize(const struct oci_state *s)
{
	_cleanup_json_ cJSON *o = oj_new_object();
	put_opt_str(o, "ociVersion", s->oci_version);
	oj_put(o, "id", oj_new_str(s->id));
	oj_put(o, "status", oj_new_str(oci_status_name(s->status)));
	oj_put(o, "pid", oj_new_i64(s->pid));
	put_opt_str(o, "bundle", s->bundle);
	oj_put(o, "annotations", oj_new_kv(s->annotations, s->n_annotations));
	put_opt_str(o, "rootfs", s->rootfs);
	put_opt_str(o, "created", s->created);
	put_opt_str(o, "owner", s->owner);
	oj_put(o, "pidStartTime", oj_new_u64(s->pid_start_time));
	put_opt_str(o, "cgroupPath", s->cgroup_path);
	oj_put(o, "systemdCgroup", oj_new_bool(s->systemd_cgroup));
	put_opt_str(o, "configPath", s->config_path);
	oj_put(o, "started", oj_new_bool(s->started));
	if (s->hooks_known) {
		oj_put(o, "poststartHooks", oj_new_bool(s->has_poststart));
		oj_put(o, "poststopHooks", oj_new_bool(s->has_poststop));
	}
	return oj_print(o, NULL);
}

static int parse_state(struct oj *j, const cJSON *v, struct oci_state *s)
{
	int status = OCI_STATUS_CREATING;
	int64_t pid = 0;
	bool known_start = false, known_stop = false;
	int r = oj_str(j, v, "ociVersion", &s->oci_version)
		?: oj_str(j, v, "id", &s->id)
		?: oj_enum(j, v, "status", oci_status_from_name, "status",
			   false, &status)
		?: oj_i64(j, v, "pid", 0, INT_MAX, &pid, NULL)
		?: oj_str(j, v, "bundle", &s->bundle)
		?: oj_kv(j, v, "annotations", &s->annotations,
			 &s->n_annotations)
		?: oj_str(j, v, "rootfs", &s->rootfs)
		?: oj_str(j, v, "created", &s->created)
		?: oj_str(j, v, "owner", &s->owner)
		?: oj_u64(j, v, "pidStartTime", UINT64_MAX, &s->pid_start_time,
			  NULL)
		?: oj_str(j, v, "cgroupPath", &s->cgroup_path)
		?: oj_bool(j, v, "systemdCgroup", &s->systemd_cgroup, NULL)
		?: oj_str(j, v, "configPath", &s->config_path)
		?: oj_bool(j, v, "started", &s->started, NULL)
		?: oj_bool(j, v, "poststartHooks", &s->has_poststart,
			   &known_start)
		?: oj_bool(j, v, "poststopHooks", &s->has_poststop,
			   &known_stop);
	s->hooks_known = known_start && known_stop;
	s->status = (enum oci_status)status;
	s->pid = (pid_t)pid;
	if (r == 0 && !s->id)
		r = oj_fail_required(j, "id");
	return r;
}

int oci_state_parse(const char *json, size_t len, struct oci_state **out,
		    struct berr *err)
{
	struct oj j;
	oj_init(&j, err, "state.json", false, NULL);
	_cleanup_json_ cJSON *doc = NULL;
	int r = oj_parse_doc(&j, json, len, &doc);
	if (r < 0)
		return r;
	_cleanup_(oci_state_freep) struct oci_state *s =
		base_calloc(1, sizeof(*s));
	r = parse_state(&j, doc, s);
	if (r < 0)
		return r;
	*out = TAKE_PTR(s);
	return 0;
}

void oci_state_free(struct oci_state *s)
{
	if (!s)
		return;
	free(s->oci_version);
	free(s->id);
	free(s->bundle);
	oci_kv_free(s->annotations, s->n_annotations);
	free(s->rootfs);
	free(s->created);
	free(s->owner);
	free(s->cgroup_path);
	free(s->config_path);
	free(s);
}
