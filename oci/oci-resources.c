/* linux.resources: the cgroup settings, in config.json or alone for
 * `update --resources`. */
#include <string.h>

#include "oci/oci-internal.h"

static int check_device_rule(struct oj *j, struct oci_device_rule *d,
			     const char *type)
{
	/* runc's configs wrote -1 for "any"; the struct says that by absence */
	if (d->has_major && d->major == -1)
		d->has_major = false;
	if (d->has_minor && d->minor == -1)
		d->has_minor = false;
	if (type && *type) {
		if (strlen(type) != 1 || !strchr("acb", type[0])) {
			oj_enter(j, "type");
			return oj_fail(j, "unknown device type \"%s\"", type);
		}
		d->type = type[0];
	}
	if (d->access && strspn(d->access, "rwm") != strlen(d->access)) {
		oj_enter(j, "access");
		return oj_fail(j, "invalid access \"%s\"", d->access);
	}
	return 0;
}

static int parse_device_rule(struct oj *j, const cJSON *v, void *item)
{
	struct oci_device_rule *d = item;
	_cleanup_free_ char *type = NULL;
	int r = oj_bool(j, v, "allow", &d->allow, NULL)
		?: oj_str(j, v, "type", &type)
		?: oj_i64(j, v, "major", INT64_MIN, INT64_MAX, &d->major,
			  &d->has_major)
		?: oj_i64(j, v, "minor", INT64_MIN, INT64_MAX, &d->minor,
			  &d->has_minor)
		?: oj_str(j, v, "access", &d->access);
	return r ?: check_device_rule(j, d, type);
}

#define I64(key, field, has)                                                   \
	oj_i64(j, v, key, INT64_MIN, INT64_MAX, &(field), &(has))
#define U64(key, field, has) oj_u64(j, v, key, UINT64_MAX, &(field), &(has))

static int parse_memory(struct oj *j, const cJSON *v, void *out)
{
	struct oci_memory *m = out;
	return I64("limit", m->limit, m->has_limit)
		?: I64("reservation", m->reservation, m->has_reservation)
		?: I64("swap", m->swap, m->has_swap)
		?: I64("kernel", m->kernel, m->has_kernel)
		?: I64("kernelTCP", m->kernel_tcp, m->has_kernel_tcp)
		?: U64("swappiness", m->swappiness, m->has_swappiness)
		?: oj_bool(j, v, "disableOOMKiller", &m->disable_oom_killer,
			   &m->has_disable_oom_killer)
		?: oj_bool(j, v, "useHierarchy", &m->use_hierarchy,
			   &m->has_use_hierarchy)
		?: oj_bool(j, v, "checkBeforeUpdate", &m->check_before_update,
			   &m->has_check_before_update);
}

static int parse_cpu(struct oj *j, const cJSON *v, void *out)
{
	struct oci_cpu *c = out;
	return U64("shares", c->shares, c->has_shares)
		?: I64("quota", c->quota, c->has_quota)
		?: U64("burst", c->burst, c->has_burst)
		?: U64("period", c->period, c->has_period)
		?: I64("realtimeRuntime", c->realtime_runtime,
		       c->has_realtime_runtime)
		?: U64("realtimePeriod", c->realtime_period,
		       c->has_realtime_period)
		?: oj_str(j, v, "cpus", &c->cpus)
		?: oj_str(j, v, "mems", &c->mems)
		?: I64("idle", c->idle, c->has_idle);
}

static int parse_pids(struct oj *j, const cJSON *v, void *out)
{
	struct oci_resources *r = out;
	return I64("limit", r->pids_limit, r->has_pids);
}

static int parse_weight_device(struct oj *j, const cJSON *v, void *item)
{
	struct oci_weight_device *d = item;
	bool has;
	return I64("major", d->major, has)
		?: I64("minor", d->minor, has)
		?: oj_u16(j, v, "weight", &d->weight, &d->has_weight)
		?: oj_u16(j, v, "leafWeight", &d->leaf_weight,
			  &d->has_leaf_weight);
}

static int parse_throttle_device(struct oj *j, const cJSON *v, void *item)
{
	struct oci_throttle_device *d = item;
	bool has;
	return I64("major", d->major, has)
		?: I64("minor", d->minor, has)
		?: U64("rate", d->rate, has);
}

#define THROTTLE(key, list)                                                    \
	OJ_LIST(j, v, key, (list).v, (list).n, parse_throttle_device)

static int parse_blkio(struct oj *j, const cJSON *v, void *out)
{
	struct oci_blkio *b = out;
	return oj_u16(j, v, "weight", &b->weight, &b->has_weight)
		?: oj_u16(j, v, "leafWeight", &b->leaf_weight,
			  &b->has_leaf_weight)
		?: OJ_LIST(j, v, "weightDevice", b->weight_devices,
			   b->n_weight_devices, parse_weight_device)
		?: THROTTLE("throttleReadBpsDevice", b->read_bps)
		?: THROTTLE("throttleWriteBpsDevice", b->write_bps)
		?: THROTTLE("throttleReadIOPSDevice", b->read_iops)
		?: THROTTLE("throttleWriteIOPSDevice", b->write_iops);
}

static int parse_hugepage(struct oj *j, const cJSON *v, void *item)
{
	struct oci_hugepage_limit *h = item;
	bool has;
	int r = oj_str(j, v, "pageSize", &h->page_size)
			?: U64("limit", h->limit, has);
	if (r == 0 && !h->page_size)
		r = oj_fail_required(j, "pageSize");
	return r;
}

static int parse_priority(struct oj *j, const cJSON *v, void *item)
{
	struct oci_net_priority *p = item;
	return oj_str(j, v, "name", &p->name)
		       ?: oj_u32(j, v, "priority", &p->priority, NULL);
}

static int parse_network(struct oj *j, const cJSON *v, void *out)
{
	struct oci_resources *r = out;
	return oj_u32(j, v, "classID", &r->class_id, &r->has_class_id)
		       ?: OJ_LIST(j, v, "priorities", r->net_priorities,
				  r->n_net_priorities, parse_priority);
}

static int parse_rdma_limit(struct oj *j, const cJSON *v, struct oci_rdma *d)
{
	return oj_want_object(j, v)
		?: oj_u32(j, v, "hcaHandles", &d->hca_handles,
			  &d->has_hca_handles)
		?: oj_u32(j, v, "hcaObjects", &d->hca_objects,
			  &d->has_hca_objects);
}

static int rdma_items(struct oj *j, const cJSON *o, struct oci_resources *r)
{
	if (!cJSON_IsObject(o))
		return oj_fail(j, "expected an object");
	size_t n = (size_t)cJSON_GetArraySize(o);
	r->rdma = base_calloc(n, sizeof(*r->rdma));
	for (const cJSON *c = o->child; c; c = c->next) {
		struct oci_rdma *d = &r->rdma[r->n_rdma++];
		d->device = base_strdup(c->string);
		size_t mark = oj_enter_mapkey(j, c->string);
		int ret = parse_rdma_limit(j, c, d);
		oj_leave(j, mark);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int parse_rdma(struct oj *j, const cJSON *obj, struct oci_resources *r)
{
	const cJSON *v = oj_get(obj, "rdma");
	if (!v)
		return 0;
	size_t mark = oj_enter(j, "rdma");
	int ret = rdma_items(j, v, r);
	oj_leave(j, mark);
	return ret;
}

int oci_parse_resources(struct oj *j, const cJSON *v, void *out)
{
	struct oci_resources *r = out;
	return OJ_LIST(j, v, "devices", r->devices, r->n_devices,
		       parse_device_rule)
		?: oj_object(j, v, "memory", parse_memory, &r->memory,
			     &r->has_memory)
		?: oj_object(j, v, "cpu", parse_cpu, &r->cpu, &r->has_cpu)
		?: oj_object(j, v, "pids", parse_pids, r, NULL)
		?: oj_object(j, v, "blockIO", parse_blkio, &r->blkio,
			     &r->has_blkio)
		?: OJ_LIST(j, v, "hugepageLimits", r->hugepage_limits,
			   r->n_hugepage_limits, parse_hugepage)
		?: oj_object(j, v, "network", parse_network, r,
			     &r->has_network)
		?: parse_rdma(j, v, r)
		?: oj_kv(j, v, "unified", &r->unified, &r->n_unified);
}

void oci_resources_clear(struct oci_resources *r)
{
	for (size_t i = 0; i < r->n_devices; i++)
		free(r->devices[i].access);
	free(r->devices);
	free(r->cpu.cpus);
	free(r->cpu.mems);
	free(r->blkio.weight_devices);
	free(r->blkio.read_bps.v);
	free(r->blkio.write_bps.v);
	free(r->blkio.read_iops.v);
	free(r->blkio.write_iops.v);
	for (size_t i = 0; i < r->n_hugepage_limits; i++)
		free(r->hugepage_limits[i].page_size);
	free(r->hugepage_limits);
	for (size_t i = 0; i < r->n_net_priorities; i++)
		free(r->net_priorities[i].name);
	free(r->net_priorities);
	for (size_t i = 0; i < r->n_rdma; i++)
		free(r->rdma[i].device);
	free(r->rdma);
	oci_kv_free(r->unified, r->n_unified);
}

void oci_resources_free(struct oci_resources *r)
{
	if (!r)
		return;
	oci_resources_clear(r);
	free(r);
}

static void resources_freep(struct oci_resources **r)
{
	oci_resources_free(*r);
}

int oci_resources_parse(const char *json, size_t len,
			struct oci_resources **out, struct berr *err)
{
	struct oj j;
	oj_init(&j, err, "resources", false, "resources");
	_cleanup_json_ cJSON *doc = NULL;
	int r = oj_parse_doc(&j, json, len, &doc);
	if (r < 0)
		return r;
	_cleanup_(resources_freep) struct oci_resources *res =
		base_calloc(1, sizeof(*res));
	r = oci_parse_resources(&j, doc, res);
	if (r < 0)
		return r;
	*out = TAKE_PTR(res);
	return 0;
}
