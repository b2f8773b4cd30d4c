/* The JSON layer under every oci parser: path tracking for error messages,
 * typed field access with Go's null/absent semantics, exact integers, and a
 * printer that writes what Go's encoding/json writes. */
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "oci/oci-internal.h"

/* ---- path --------------------------------------------------------------- */

void oj_init(struct oj *j, struct berr *err, const char *doc, bool doc_prefix,
	     const char *root)
{
	j->err = err;
	j->doc = doc;
	j->doc_prefix = doc_prefix;
	j->len = 0;
	j->path[0] = '\0';
	if (root && *root)
		oj_enter(j, root);
}

static size_t __attribute__((format(printf, 2, 3)))
path_append(struct oj *j, const char *fmt, ...)
{
	size_t mark = j->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(j->path + j->len, sizeof(j->path) - j->len, fmt, ap);
	va_end(ap);
	/* a path too long for the buffer is cut, never overrun */
	if (n > 0)
		j->len += (size_t)n;
	if (j->len >= sizeof(j->path))
		j->len = sizeof(j->path) - 1;
	return mark;
}

size_t oj_enter(struct oj *j, const char *key)
{
	return path_append(j, j->len ? ".%s" : "%s", key);
}

size_t oj_enter_index(struct oj *j, size_t i)
{
	return path_append(j, "[%zu]", i);
}

size_t oj_enter_mapkey(struct oj *j, const char *key)
{
	return path_append(j, "[\"%s\"]", key);
}

void oj_leave(struct oj *j, size_t mark)
{
	j->len = mark;
	j->path[mark] = '\0';
}

int oj_fail(struct oj *j, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!j->len)
		return berr_setx(j->err, EINVAL, "%s: %s", j->doc, msg);
	if (j->doc_prefix)
		return berr_setx(j->err, EINVAL, "%s: %s: %s", j->doc, j->path,
				 msg);
	return berr_setx(j->err, EINVAL, "%s: %s", j->path, msg);
}

/* ---- parsing a document ------------------------------------------------- */

struct numtok {
	const char *p;
	size_t n;
};

/* Finds the text of every number in document order. cJSON keeps numbers
 * only as doubles, which cannot hold every uint64 (RLIM_INFINITY, seccomp
 * masks); the text lets us convert them exactly. The scan only needs to
 * skip strings: in a document cJSON accepted, a '-' or digit outside a
 * string starts a number that runs over [0-9+-.eE]. */
static size_t scan_numbers(const char *s, size_t len, struct numtok **out)
{
	struct numtok *v = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < len;) {
		char c = s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			size_t start = i;
			while (i < len && s[i] &&
			       strchr("0123456789+-.eE", s[i]))
				i++;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = base_realloc(v, cap, sizeof(*v));
			}
			v[n++] = (struct numtok){s + start, i - start};
		} else {
			i++;
		}
	}
	*out = v;
	return n;
}

static size_t count_numbers(const cJSON *v)
{
	size_t n = cJSON_IsNumber(v) ? 1 : 0;
	for (const cJSON *c = v->child; c; c = c->next)
		n += count_numbers(c);
	return n;
}

/* cJSON_Delete() frees valuestring whatever the type, so a number node
 * can own its text there. */
static void attach_numbers(cJSON *v, const struct numtok *tok, size_t *i)
{
	if (cJSON_IsNumber(v)) {
		char *t = base_calloc(tok[*i].n + 1, 1);
		memcpy(t, tok[*i].p, tok[*i].n);
		v->valuestring = t;
		(*i)++;
	}
	for (cJSON *c = v->child; c; c = c->next)
		attach_numbers(c, tok, i);
}

static void keep_number_text(cJSON *root, const char *s, size_t len)
{
	_cleanup_free_ struct numtok *tok = NULL;
	size_t n = scan_numbers(s, len, &tok);
	/* should never differ; the doubles remain usable if it does */
	if (n != count_numbers(root))
		return;
	size_t i = 0;
	attach_numbers(root, tok, &i);
}

bool oj_too_deep(const char *json, size_t len, size_t *at)
{
	size_t depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		if (in_str) {
			if (c == '\\')
				i++; /* the escaped character is never a quote
				      */
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > CJSON_NESTING_LIMIT) {
				*at = i;
				return true;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return false;
}

int oj_parse_doc(struct oj *j, const char *json, size_t len, cJSON **out)
{
	if (!json)
		json = "";
	const char *nul = memchr(json, '\0', len);
	if (nul)
		return berr_setx(j->err, EINVAL,
				 "%s: invalid JSON near byte %zu", j->doc,
				 (size_t)(nul - json));
	/* a private NUL-terminated copy: callers may pass a bare buffer */
	_cleanup_free_ char *buf = base_calloc(len + 1, 1);
	memcpy(buf, json, len);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (!root) {
		size_t at = end && end >= buf ? (size_t)(end - buf) : 0;
		/* cJSON says nothing of why; the depth limit is the one
		 * failure a valid document can meet */
		size_t deep = 0;
		if (oj_too_deep(buf, at < len ? at + 1 : len, &deep))
			return berr_setx(j->err, EINVAL,
					 "%s: JSON nesting deeper than %d "
					 "levels near byte %zu",
					 j->doc, CJSON_NESTING_LIMIT, deep);
		return berr_setx(j->err, EINVAL,
				 "%s: invalid JSON near byte %zu", j->doc, at);
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return berr_setx(j->err, EINVAL, "%s: expected a JSON object",
				 j->doc);
	}
	keep_number_text(root, buf, len);
	*out = root;
	return 0;
}

/* ---- values -------------------------------------------------------------- */

int oj_want_object(struct oj *j, const cJSON *v)
{
	return cJSON_IsObject(v) ? 0 : oj_fail(j, "expected an object");
}

int oj_v_str(struct oj *j, const cJSON *v, char **out)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return oj_fail(j, "expected a string");
	free(*out);
	*out = base_strdup(v->valuestring);
	return 0;
}

/* 2^53: every integer up to here is exact in a double */
#define EXACT_DOUBLE 9007199254740992.0

int oj_v_u64(struct oj *j, const cJSON *v, uint64_t max, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return oj_fail(j, "expected an unsigned integer");
	uint64_t u;
	if (v->valuestring) {
		int r = base_parse_u64(v->valuestring, &u);
		if (r == -ERANGE)
			return oj_fail(
				j, "%s is out of range (at most %" PRIu64 ")",
				v->valuestring, max);
		if (r < 0)
			return oj_fail(j, "expected an unsigned integer");
	} else {
		double d = v->valuedouble;
		if (!(d >= 0 && d <= EXACT_DOUBLE) || d != (double)(uint64_t)d)
			return oj_fail(j, "expected an unsigned integer");
		u = (uint64_t)d;
	}
	if (u > max)
		return oj_fail(
			j, "%" PRIu64 " is out of range (at most %" PRIu64 ")",
			u, max);
	*out = u;
	return 0;
}

int oj_v_i64(struct oj *j, const cJSON *v, int64_t min, int64_t max,
	     int64_t *out)
{
	if (!cJSON_IsNumber(v))
		return oj_fail(j, "expected an integer");
	int64_t x;
	if (v->valuestring) {
		int r = base_parse_i64(v->valuestring, &x);
		if (r == -ERANGE)
			return oj_fail(j,
				       "%s is out of range (%" PRId64
				       " to %" PRId64 ")",
				       v->valuestring, min, max);
		if (r < 0)
			return oj_fail(j, "expected an integer");
	} else {
		double d = v->valuedouble;
		if (!(d >= -EXACT_DOUBLE && d <= EXACT_DOUBLE) ||
		    d != (double)(int64_t)d)
			return oj_fail(j, "expected an integer");
		x = (int64_t)d;
	}
	if (x < min || x > max)
		return oj_fail(j,
			       "%" PRId64 " is out of range (%" PRId64
			       " to %" PRId64 ")",
			       x, min, max);
	*out = x;
	return 0;
}

/* ---- fields -------------------------------------------------------------- */

const cJSON *oj_get(const cJSON *obj, const char *key)
{
	const cJSON *found = NULL;
	for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
		if (c->string && !strcmp(c->string, key))
			found = c;
	return found && !cJSON_IsNull(found) ? found : NULL;
}

int oj_str(struct oj *j, const cJSON *obj, const char *key, char **out)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = oj_v_str(j, v, out);
	oj_leave(j, mark);
	return r;
}

int oj_bool(struct oj *j, const cJSON *obj, const char *key, bool *out,
	    bool *has)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	if (!cJSON_IsBool(v)) {
		size_t mark = oj_enter(j, key);
		int r = oj_fail(j, "expected a boolean");
		oj_leave(j, mark);
		return r;
	}
	*out = cJSON_IsTrue(v);
	if (has)
		*has = true;
	return 0;
}

int oj_u64(struct oj *j, const cJSON *obj, const char *key, uint64_t max,
	   uint64_t *out, bool *has)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = oj_v_u64(j, v, max, out);
	oj_leave(j, mark);
	if (r == 0 && has)
		*has = true;
	return r;
}

int oj_i64(struct oj *j, const cJSON *obj, const char *key, int64_t min,
	   int64_t max, int64_t *out, bool *has)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = oj_v_i64(j, v, min, max, out);
	oj_leave(j, mark);
	if (r == 0 && has)
		*has = true;
	return r;
}

int oj_u32(struct oj *j, const cJSON *obj, const char *key, uint32_t *out,
	   bool *has)
{
	uint64_t u = *out;
	int r = oj_u64(j, obj, key, UINT32_MAX, &u, has);
	*out = (uint32_t)u;
	return r;
}

int oj_u16(struct oj *j, const cJSON *obj, const char *key, uint16_t *out,
	   bool *has)
{
	uint64_t u = *out;
	int r = oj_u64(j, obj, key, UINT16_MAX, &u, has);
	*out = (uint16_t)u;
	return r;
}

int oj_int(struct oj *j, const cJSON *obj, const char *key, int *out, bool *has)
{
	int64_t x = *out;
	int r = oj_i64(j, obj, key, INT_MIN, INT_MAX, &x, has);
	*out = (int)x;
	return r;
}

static int strv_items(struct oj *j, const cJSON *arr, char ***out)
{
	if (!cJSON_IsArray(arr))
		return oj_fail(j, "expected an array");
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	base_strv_free(*out);
	*out = base_calloc(n + 1, sizeof(char *));
	for (const cJSON *c = arr->child; c; c = c->next, i++) {
		size_t mark = oj_enter_index(j, i);
		int r = oj_v_str(j, c, &(*out)[i]);
		oj_leave(j, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int oj_strv(struct oj *j, const cJSON *obj, const char *key, char ***out)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = strv_items(j, v, out);
	oj_leave(j, mark);
	return r;
}

void oci_kv_free(struct oci_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static int kv_order(const void *a, const void *b)
{
	const struct oci_kv *x = *(const struct oci_kv *const *)a;
	const struct oci_kv *y = *(const struct oci_kv *const *)b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x > y) - (x < y);
}

/* A repeated key keeps its last value, as a Go map does; the survivors
 * keep document order. Sorting keeps this n log n for huge maps. */
static void kv_dedup(struct oci_kv *kv, size_t *n)
{
	if (*n < 2)
		return;
	_cleanup_free_ struct oci_kv **sorted =
		base_calloc(*n, sizeof(*sorted));
	for (size_t i = 0; i < *n; i++)
		sorted[i] = &kv[i];
	qsort(sorted, *n, sizeof(*sorted), kv_order);
	for (size_t i = 0; i + 1 < *n; i++) {
		if (strcmp(sorted[i]->key, sorted[i + 1]->key))
			continue;
		free(sorted[i]->key);
		free(sorted[i]->value);
		sorted[i]->key = sorted[i]->value = NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < *n; i++)
		if (kv[i].key)
			kv[k++] = kv[i];
	*n = k;
}

static int kv_items(struct oj *j, const cJSON *o, struct oci_kv **out,
		    size_t *n)
{
	if (!cJSON_IsObject(o))
		return oj_fail(j, "expected an object");
	struct oci_kv *kv =
		base_calloc((size_t)cJSON_GetArraySize(o), sizeof(*kv));
	*out = kv;
	*n = 0;
	for (const cJSON *c = o->child; c; c = c->next) {
		size_t mark = oj_enter_mapkey(j, c->string);
		int r = oj_v_str(j, c, &kv[*n].value);
		oj_leave(j, mark);
		if (r < 0)
			return r;
		kv[(*n)++].key = base_strdup(c->string);
	}
	kv_dedup(kv, n);
	return 0;
}

int oj_kv(struct oj *j, const cJSON *obj, const char *key, struct oci_kv **out,
	  size_t *n)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	oci_kv_free(*out, *n);
	*out = NULL;
	*n = 0;
	size_t mark = oj_enter(j, key);
	int r = kv_items(j, v, out, n);
	oj_leave(j, mark);
	return r;
}

static int list_items(struct oj *j, const cJSON *arr, size_t size, void **out,
		      size_t *n, oj_item_fn fn)
{
	if (!cJSON_IsArray(arr))
		return oj_fail(j, "expected an array");
	size_t count = (size_t)cJSON_GetArraySize(arr), i = 0;
	if (!count)
		return 0;
	char *items = base_calloc(count, size);
	*out = items;
	*n = count;
	for (const cJSON *c = arr->child; c; c = c->next, i++) {
		size_t mark = oj_enter_index(j, i);
		int r = oj_want_object(j, c);
		if (r == 0)
			r = fn(j, c, items + i * size);
		oj_leave(j, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int oj_list(struct oj *j, const cJSON *obj, const char *key, size_t size,
	    void **out, size_t *n, oj_item_fn fn)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = list_items(j, v, size, out, n, fn);
	oj_leave(j, mark);
	return r;
}

int oj_object(struct oj *j, const cJSON *obj, const char *key, oj_item_fn fn,
	      void *out, bool *has)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	size_t mark = oj_enter(j, key);
	int r = oj_want_object(j, v);
	if (r == 0) {
		if (has)
			*has = true;
		r = fn(j, v, out);
	}
	oj_leave(j, mark);
	return r;
}

int oj_fail_required(struct oj *j, const char *key)
{
	size_t mark = oj_enter(j, key);
	int r = oj_fail(j, "required");
	oj_leave(j, mark);
	return r;
}

int oj_enum(struct oj *j, const cJSON *obj, const char *key,
	    int (*from_name)(const char *), const char *what, bool required,
	    int *out)
{
	_cleanup_free_ char *s = NULL;
	int r = oj_str(j, obj, key, &s);
	if (r < 0)
		return r;
	if (!s)
		return required ? oj_fail_required(j, key) : 0;
	int v = from_name(s);
	if (v < 0) {
		size_t mark = oj_enter(j, key);
		r = oj_fail(j, "unknown %s \"%s\"", what, s);
		oj_leave(j, mark);
		return r;
	}
	*out = v;
	return 0;
}

static int each_str(struct oj *j, const cJSON *arr, oj_str_fn fn, void *ctx)
{
	if (!cJSON_IsArray(arr))
		return oj_fail(j, "expected an array");
	size_t i = 0;
	for (const cJSON *c = arr->child; c; c = c->next, i++) {
		size_t mark = oj_enter_index(j, i);
		int r = cJSON_IsString(c) && c->valuestring
				? fn(j, c->valuestring, ctx)
				: oj_fail(j, "expected a string");
		oj_leave(j, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int oj_each_str(struct oj *j, const cJSON *obj, const char *key, oj_str_fn fn,
		void *ctx, bool *has)
{
	const cJSON *v = oj_get(obj, key);
	if (!v)
		return 0;
	if (has)
		*has = true;
	size_t mark = oj_enter(j, key);
	int r = each_str(j, v, fn, ctx);
	oj_leave(j, mark);
	return r;
}

/* ---- building ------------------------------------------------------------ */

static cJSON *must(cJSON *v)
{
	if (!v) {
		static const char m[] = "berth: out of memory\n";
		(void)!write(2, m, sizeof(m) - 1);
		abort();
	}
	return v;
}

cJSON *oj_new_object(void)
{
	return must(cJSON_CreateObject());
}

cJSON *oj_new_array(void)
{
	return must(cJSON_CreateArray());
}

void oj_put(cJSON *obj, const char *key, cJSON *item)
{
	if (!cJSON_AddItemToObject(obj, key, item))
		must(NULL);
}

void oj_append(cJSON *arr, cJSON *item)
{
	if (!cJSON_AddItemToArray(arr, item))
		must(NULL);
}

cJSON *oj_new_str(const char *s)
{
	return must(cJSON_CreateString(s ? s : ""));
}

/* Raw items print their text as is: exact for the whole 64-bit range. */
cJSON *oj_new_u64(uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return must(cJSON_CreateRaw(buf));
}

cJSON *oj_new_i64(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return must(cJSON_CreateRaw(buf));
}

cJSON *oj_new_bool(bool v)
{
	return must(cJSON_CreateBool(v));
}

cJSON *oj_new_strv(const char *const *v)
{
	cJSON *a = oj_new_array();
	for (size_t i = 0; v && v[i]; i++)
		oj_append(a, oj_new_str(v[i]));
	return a;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct oci_kv *const *x = a, *const *y = b;
	return strcmp((*x)->key, (*y)->key);
}

cJSON *oj_new_kv(const struct oci_kv *kv, size_t n)
{
	_cleanup_free_ const struct oci_kv **sorted =
		base_calloc(n, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = &kv[i];
	qsort(sorted, n, sizeof(*sorted), kv_cmp);
	cJSON *o = oj_new_object();
	for (size_t i = 0; i < n; i++)
		oj_put(o, sorted[i]->key, oj_new_str(sorted[i]->value));
	return o;
}

/* ---- printing ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* Go's escaping: HTML-safe, U+2028/U+2029 escaped, bad UTF-8 as U+FFFD. */
static void print_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	fputc('"', f);
	while (*s) {
		unsigned char c = *s;
		size_t n = utf8_seq(s);
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			fprintf(f, "\\u%04x", c);
		else if (n == 0)
			fputs("\\ufffd", f);
		else if (n == 3 && c == 0xe2 && s[1] == 0x80 &&
			 (s[2] == 0xa8 || s[2] == 0xa9))
			fprintf(f, "\\u202%c", s[2] == 0xa8 ? '8' : '9');
		else
			fwrite(s, 1, n, f);
		s += n ? n : 1;
	}
	fputc('"', f);
}

static void print_number(FILE *f, const cJSON *v)
{
	double d = v->valuedouble;
	if (v->valuestring)
		fputs(v->valuestring, f);
	else if (d >= -EXACT_DOUBLE && d <= EXACT_DOUBLE &&
		 d == (double)(int64_t)d)
		fprintf(f, "%" PRId64, (int64_t)d);
	else
		fprintf(f, "%.17g", d);
}

static void newline(FILE *f, const char *indent, int depth)
{
	if (!indent)
		return;
	fputc('\n', f);
	for (int i = 0; i < depth; i++)
		fputs(indent, f);
}

static void print_value(FILE *f, const cJSON *v, const char *indent, int depth);

static void print_container(FILE *f, const cJSON *v, const char *indent,
			    int depth)
{
	bool obj = cJSON_IsObject(v);
	fputc(obj ? '{' : '[', f);
	for (const cJSON *c = v->child; c; c = c->next) {
		newline(f, indent, depth + 1);
		if (obj) {
			print_string(f, c->string ? c->string : "");
			fputs(indent ? ": " : ":", f);
		}
		print_value(f, c, indent, depth + 1);
		if (c->next)
			fputc(',', f);
	}
	if (v->child)
		newline(f, indent, depth);
	fputc(obj ? '}' : ']', f);
}

static void print_value(FILE *f, const cJSON *v, const char *indent, int depth)
{
	switch (v->type & 0xff) {
	case cJSON_False:
		fputs("false", f);
		break;
	case cJSON_True:
		fputs("true", f);
		break;
	case cJSON_Number:
		print_number(f, v);
		break;
	case cJSON_String:
		print_string(f, v->valuestring ? v->valuestring : "");
		break;
	case cJSON_Raw:
		fputs(v->valuestring ? v->valuestring : "null", f);
		break;
	case cJSON_Array:
	case cJSON_Object:
		print_container(f, v, indent, depth);
		break;
	default:
		fputs("null", f);
		break;
	}
}

char *oj_print(const cJSON *v, const char *indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		must(NULL);
	print_value(f, v, indent, 0);
	if (fclose(f) != 0 || !buf)
		must(NULL);
	return buf;
}
