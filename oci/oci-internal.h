/* Private to oci/: the JSON layer every field parser stands on, the name
 * tables, and the per-section parsers and destructors.
 *
 * struct oj carries the JSON path of the value being parsed so that each
 * parser only says what is wrong ("expected a string") and the message
 * names where ("process.args[2]: expected a string"). The oj_<type>()
 * helpers look a key up in an object, step into it, check and convert the
 * value, and step out again; an absent key or a JSON null leaves the output
 * untouched, as Go's encoding/json does for runc. */
#ifndef BERTH_OCI_INTERNAL_H
#define BERTH_OCI_INTERNAL_H

#include <cjson/cJSON.h>

#include "oci/oci.h"

static inline void oj_deletep(cJSON **v)
{
	if (*v)
		cJSON_Delete(*v);
}
#define _cleanup_json_ _cleanup_(oj_deletep)

/* ---- parse context and path ------------------------------------------- */

#define OJ_PATH_MAX 256

struct oj {
	struct berr *err;
	const char *doc; /* names the document in whole-document errors */
	bool doc_prefix; /* also put doc in front of field errors */
	size_t len;
	char path[OJ_PATH_MAX];
};

void oj_init(struct oj *j, struct berr *err, const char *doc, bool doc_prefix,
	     const char *root);
/* Step into a key, an array index or a map key ("a.b", "a[3]", "a["k"]").
 * Each returns a mark to hand to oj_leave(). */
size_t oj_enter(struct oj *j, const char *key);
size_t oj_enter_index(struct oj *j, size_t i);
size_t oj_enter_mapkey(struct oj *j, const char *key);
void oj_leave(struct oj *j, size_t mark);
/* Sets err to "<path>: <message>" and returns -EINVAL. */
int oj_fail(struct oj *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses a whole document, which must be a JSON object. Numbers keep their
 * source text so that 64-bit integers convert exactly. */
int oj_parse_doc(struct oj *j, const char *json, size_t len, cJSON **out);
/* Whether json (len bytes) nests arrays and objects deeper than cJSON
 * parses (CJSON_NESTING_LIMIT); *at is then the offset of the bracket that
 * goes over. Brackets inside strings do not count. */
bool oj_too_deep(const char *json, size_t len, size_t *at);

/* ---- values at the current path ---------------------------------------- */

int oj_want_object(struct oj *j, const cJSON *v);
int oj_v_str(struct oj *j, const cJSON *v, char **out);
int oj_v_u64(struct oj *j, const cJSON *v, uint64_t max, uint64_t *out);
int oj_v_i64(struct oj *j, const cJSON *v, int64_t min, int64_t max,
	     int64_t *out);

/* ---- fields of an object ----------------------------------------------- */

/* The value of key, NULL when absent or null. A repeated key yields the
 * last one, as in Go. */
const cJSON *oj_get(const cJSON *obj, const char *key);
int oj_str(struct oj *j, const cJSON *obj, const char *key, char **out);
int oj_bool(struct oj *j, const cJSON *obj, const char *key, bool *out,
	    bool *has);
int oj_u64(struct oj *j, const cJSON *obj, const char *key, uint64_t max,
	   uint64_t *out, bool *has);
int oj_i64(struct oj *j, const cJSON *obj, const char *key, int64_t min,
	   int64_t max, int64_t *out, bool *has);
int oj_u32(struct oj *j, const cJSON *obj, const char *key, uint32_t *out,
	   bool *has);
int oj_u16(struct oj *j, const cJSON *obj, const char *key, uint16_t *out,
	   bool *has);
int oj_int(struct oj *j, const cJSON *obj, const char *key, int *out,
	   bool *has);
/* An array of strings into a NULL-terminated vector. */
int oj_strv(struct oj *j, const cJSON *obj, const char *key, char ***out);
/* An object of strings into key/value pairs (a repeated key keeps the
 * last value). */
int oj_kv(struct oj *j, const cJSON *obj, const char *key, struct oci_kv **out,
	  size_t *n);

typedef int (*oj_item_fn)(struct oj *j, const cJSON *v, void *item);
/* An array of objects: allocates n zeroed items of size bytes, publishes
 * them in *out and *n before filling them (so that the owner's destructor
 * frees a half-parsed list), and calls fn on each at its own path. */
int oj_list(struct oj *j, const cJSON *obj, const char *key, size_t size,
	    void **out, size_t *n, oj_item_fn fn);
#define OJ_LIST(j, obj, key, arr, n, fn)                                       \
	oj_list(j, obj, key, sizeof(*(arr)), (void **)&(arr), &(n), fn)
/* An object-valued field: checks the type and calls fn at its path. *has
 * (may be NULL) is set when the field is present. */
int oj_object(struct oj *j, const cJSON *obj, const char *key, oj_item_fn fn,
	      void *out, bool *has);

/* A string field mapped to a number by from_name (-1: unknown). Messages:
 * "<key>: unknown <what> \"x\"", and "<key>: required" when required. */
int oj_enum(struct oj *j, const cJSON *obj, const char *key,
	    int (*from_name)(const char *), const char *what, bool required,
	    int *out);
typedef int (*oj_str_fn)(struct oj *j, const char *s, void *ctx);
/* Calls fn on each string of an array field, at the element's path. */
int oj_each_str(struct oj *j, const cJSON *obj, const char *key, oj_str_fn fn,
		void *ctx, bool *has);
/* "<key>: required" */
int oj_fail_required(struct oj *j, const char *key);

void oci_kv_free(struct oci_kv *kv, size_t n);

/* ---- building and printing ---------------------------------------------- */

/* Constructors that treat allocation failure as fatal, like base_*. */
cJSON *oj_new_object(void);
cJSON *oj_new_array(void);
void oj_put(cJSON *obj, const char *key, cJSON *item);
void oj_append(cJSON *arr, cJSON *item);
cJSON *oj_new_str(const char *s); /* NULL prints as "" */
cJSON *oj_new_u64(uint64_t v);
cJSON *oj_new_i64(int64_t v);
cJSON *oj_new_bool(bool v);
cJSON *oj_new_strv(const char *const *v);
/* An object of the pairs sorted by key, as Go prints a map. */
cJSON *oj_new_kv(const struct oci_kv *kv, size_t n);

/* Prints v as Go's encoding/json does: compact when indent is NULL, else
 * one member per line with indent per level and ": " after keys; strings
 * escaped HTML-safe. Caller frees. */
char *oj_print(const cJSON *v, const char *indent);

/* ---- name tables (oci-names.c) ------------------------------------------ */

int oci_ns_type_from_name(const char *name);
const char *oci_rlimit_name(int resource);
int oci_seccomp_action_from_name(const char *name);
int oci_seccomp_op_from_name(const char *name);
bool oci_seccomp_arch_valid(const char *name);
int oci_sched_policy_from_name(const char *name);
int oci_sched_flag_from_name(const char *name); /* the flag's bit */
int oci_ioprio_class_from_name(const char *name);
int oci_propagation_from_name(const char *name);
int oci_status_from_name(const char *name);

/* ---- sections ----------------------------------------------------------- */

/* for_exec: the process of `exec --process`, where cwd may be absent. */
int oci_parse_process(struct oj *j, const cJSON *v, struct oci_process *p,
		      bool for_exec);
void oci_process_clear(struct oci_process *p);

int oci_parse_idmap(struct oj *j, const cJSON *v, void *item);

int oci_parse_linux(struct oj *j, const cJSON *v, void *out);
void oci_linux_clear(struct oci_linux *l);

int oci_parse_resources(struct oj *j, const cJSON *v, void *out);
void oci_resources_clear(struct oci_resources *r);

int oci_parse_seccomp(struct oj *j, const cJSON *v, void *out);
void oci_seccomp_clear(struct oci_seccomp *s);

#endif
