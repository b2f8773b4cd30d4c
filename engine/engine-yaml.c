/* YAML documents as cJSON trees (compose files), and the way back (compose
 * config), through Debian's libyaml, loaded with dlopen the first time:
 * the runtime's own commands never map it.
 *
 * Mappings become objects, sequences arrays and every scalar a string
 * (compose gives types per key: "80" and 80 mean one port); a plain null
 * (`~`, `null`, empty) becomes JSON null. Anchors and aliases are copied,
 * and the merge key `<<` (a mapping or a sequence of them) adds the keys
 * the mapping does not set itself. Errors carry libyaml's line and column
 * ("compose.yaml:3:5: mapping values are not allowed in this context"). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "engine/engine-internal.h"

#define YAML_SONAME "libyaml-0.so.2"
/* deeper nesting than any compose file, a bound for hostile ones */
#define YAML_MAX_DEPTH 64
#define YAML_MAX_ANCHORS 1024

static struct {
	__typeof__(&yaml_parser_initialize) p_init;
	__typeof__(&yaml_parser_delete) p_delete;
	__typeof__(&yaml_parser_set_input_string) p_input;
	__typeof__(&yaml_parser_parse) p_parse;
	__typeof__(&yaml_event_delete) e_delete;
	__typeof__(&yaml_emitter_initialize) m_init;
	__typeof__(&yaml_emitter_delete) m_delete;
	__typeof__(&yaml_emitter_set_output) m_output;
	__typeof__(&yaml_emitter_emit) m_emit;
	__typeof__(&yaml_stream_start_event_initialize) ev_stream_start;
	__typeof__(&yaml_stream_end_event_initialize) ev_stream_end;
	__typeof__(&yaml_document_start_event_initialize) ev_doc_start;
	__typeof__(&yaml_document_end_event_initialize) ev_doc_end;
	__typeof__(&yaml_mapping_start_event_initialize) ev_map_start;
	__typeof__(&yaml_mapping_end_event_initialize) ev_map_end;
	__typeof__(&yaml_sequence_start_event_initialize) ev_seq_start;
	__typeof__(&yaml_sequence_end_event_initialize) ev_seq_end;
	__typeof__(&yaml_scalar_event_initialize) ev_scalar;
	char dlerr[200];
} Y;
static pthread_once_t y_once = PTHREAD_ONCE_INIT;

#define SYM(f, name) (*(void **)&Y.f = dlsym(h, name))

static void y_load(void)
{
	void *h = dlopen(YAML_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(Y.dlerr, sizeof(Y.dlerr), "%s", dlerror());
		return;
	}
	bool ok = SYM(p_init, "yaml_parser_initialize") &&
		  SYM(p_delete, "yaml_parser_delete") &&
		  SYM(p_input, "yaml_parser_set_input_string") &&
		  SYM(p_parse, "yaml_parser_parse") &&
		  SYM(e_delete, "yaml_event_delete") &&
		  SYM(m_init, "yaml_emitter_initialize") &&
		  SYM(m_delete, "yaml_emitter_delete") &&
		  SYM(m_output, "yaml_emitter_set_output") &&
		  SYM(m_emit, "yaml_emitter_emit") &&
		  SYM(ev_stream_start, "yaml_stream_start_event_initialize") &&
		  SYM(ev_stream_end, "yaml_stream_end_event_initialize") &&
		  SYM(ev_doc_start, "yaml_document_start_event_initialize") &&
		  SYM(ev_doc_end, "yaml_document_end_event_initialize") &&
		  SYM(ev_map_start, "yaml_mapping_start_event_initialize") &&
		  SYM(ev_map_end, "yaml_mapping_end_event_initialize") &&
		  SYM(ev_seq_start, "yaml_sequence_start_event_initialize") &&
		  SYM(ev_seq_end, "yaml_sequence_end_event_initialize") &&
		  SYM(ev_scalar, "yaml_scalar_event_initialize");
	if (!ok)
		snprintf(Y.dlerr, sizeof(Y.dlerr), "%s: a function is missing",
			 YAML_SONAME);
}

static int y_ready(struct berr *err)
{
	pthread_once(&y_once, y_load);
	if (Y.dlerr[0])
		return berr_setx(
			err, ENOENT,
			"YAML needs libyaml (Debian's libyaml-0-2): %s",
			Y.dlerr);
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

struct anchor {
	char *name;
	cJSON *node;
};

struct reader {
	yaml_parser_t p;
	const char *file;
	struct anchor *anchors;
	size_t n_anchors;
	struct berr *err;
};

static int y_error(struct reader *R, const yaml_mark_t *m, const char *what)
{
	return berr_setx(R->err, EINVAL, "%s:%zu:%zu: %s", R->file, m->line + 1,
			 m->column + 1, what);
}

static int next(struct reader *R, yaml_event_t *ev)
{
	if (!Y.p_parse(&R->p, ev))
		return y_error(R, &R->p.problem_mark,
			       R->p.problem ? R->p.problem : "invalid YAML");
	return 0;
}

static int node(struct reader *R, yaml_event_t *ev, int depth, cJSON **out);

static void remember(struct reader *R, const yaml_char_t *anchor, cJSON *n)
{
	if (!anchor || R->n_anchors >= YAML_MAX_ANCHORS)
		return;
	R->anchors =
		base_realloc(R->anchors, R->n_anchors + 1, sizeof(*R->anchors));
	R->anchors[R->n_anchors++] =
		(struct anchor){.name = base_strdup((const char *)anchor),
				.node = cJSON_Duplicate(n, true)};
}

/* `<<: *base` or `<<: [*a, *b]`: keys obj lacks, from the mapping(s). */
static void merge_into(cJSON *obj, const cJSON *src)
{
	if (cJSON_IsArray(src)) {
		const cJSON *e;
		cJSON_ArrayForEach(e, src) merge_into(obj, e);
		return;
	}
	const cJSON *kv;
	cJSON_ArrayForEach(
		kv, src) if (!cJSON_GetObjectItemCaseSensitive(obj, kv->string))
		cJSON_AddItemToObject(obj, kv->string,
				      cJSON_Duplicate(kv, true));
}

static int mapping(struct reader *R, int depth, cJSON **out)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *merges = cJSON_CreateArray();
	int r = 0;
	for (;;) {
		yaml_event_t k;
		if ((r = next(R, &k)) < 0)
			break;
		if (k.type == YAML_MAPPING_END_EVENT) {
			Y.e_delete(&k);
			break;
		}
		_cleanup_cjson_ cJSON *key = NULL;
		r = node(R, &k, depth + 1, &key);
		if (r == 0 && !cJSON_IsString(key))
			r = y_error(R, &k.start_mark, "a key must be a scalar");
		yaml_mark_t at = k.start_mark;
		Y.e_delete(&k);
		yaml_event_t v;
		cJSON *val = NULL;
		if (r == 0 && (r = next(R, &v)) == 0) {
			r = node(R, &v, depth + 1, &val);
			Y.e_delete(&v);
		}
		if (r < 0)
			break;
		if (!strcmp(key->valuestring, "<<")) {
			cJSON_AddItemToArray(merges, val);
		} else if (cJSON_GetObjectItemCaseSensitive(obj,
							    key->valuestring)) {
			cJSON_Delete(val);
			_cleanup_free_ char *m = base_sprintf(
				"duplicate key `%s`", key->valuestring);
			r = y_error(R, &at, m);
			break;
		} else {
			cJSON_AddItemToObject(obj, key->valuestring, val);
		}
	}
	if (r == 0)
		merge_into(obj, merges);
	cJSON_Delete(merges);
	if (r < 0) {
		cJSON_Delete(obj);
		return r;
	}
	*out = obj;
	return 0;
}

static int sequence(struct reader *R, int depth, cJSON **out)
{
	cJSON *arr = cJSON_CreateArray();
	for (;;) {
		yaml_event_t e;
		int r = next(R, &e);
		if (r == 0 && e.type == YAML_SEQUENCE_END_EVENT) {
			Y.e_delete(&e);
			*out = arr;
			return 0;
		}
		cJSON *item = NULL;
		if (r == 0) {
			r = node(R, &e, depth + 1, &item);
			Y.e_delete(&e);
		}
		if (r < 0) {
			cJSON_Delete(arr);
			return r;
		}
		cJSON_AddItemToArray(arr, item);
	}
}

static cJSON *scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (plain && (n == 0 || !strcmp(v, "~") || !strcmp(v, "null") ||
		      !strcmp(v, "Null") || !strcmp(v, "NULL")))
		return cJSON_CreateNull();
	_cleanup_free_ char *s = strndup(v, n);
	return cJSON_CreateString(s);
}

static int node(struct reader *R, yaml_event_t *ev, int depth, cJSON **out)
{
	*out = NULL;
	if (depth > YAML_MAX_DEPTH)
		return y_error(R, &ev->start_mark, "nested too deep");
	int r = 0;
	const yaml_char_t *anchor = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		*out = scalar(ev);
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		r = mapping(R, depth, out);
		anchor = ev->data.mapping_start.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		r = sequence(R, depth, out);
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_ALIAS_EVENT:
		for (size_t i = R->n_anchors; i-- > 0;)
			if (!strcmp(R->anchors[i].name,
				    (const char *)ev->data.alias.anchor)) {
				*out = cJSON_Duplicate(R->anchors[i].node,
						       true);
				return 0;
			}
		return y_error(R, &ev->start_mark, "unknown alias");
	default:
		return y_error(R, &ev->start_mark, "unexpected YAML event");
	}
	if (r == 0)
		remember(R, anchor, *out);
	return r;
}

int eng_yaml_parse(const char *text, size_t len, const char *file, cJSON **out,
		   struct berr *err)
{
	*out = NULL;
	int r = y_ready(err);
	if (r < 0)
		return r;
	struct reader R = {.file = file, .err = err};
	if (!Y.p_init(&R.p))
		return berr_setx(err, ENOMEM, "%s: libyaml", file);
	Y.p_input(&R.p, (const unsigned char *)text, len);
	yaml_event_t e;
	cJSON *doc = NULL;
	/* stream start, document start, the root node */
	while ((r = next(&R, &e)) == 0 && e.type != YAML_STREAM_END_EVENT) {
		if (e.type == YAML_STREAM_START_EVENT ||
		    e.type == YAML_DOCUMENT_START_EVENT ||
		    e.type == YAML_DOCUMENT_END_EVENT) {
			Y.e_delete(&e);
			continue;
		}
		if (doc) {
			r = y_error(&R, &e.start_mark,
				    "more than one document");
			Y.e_delete(&e);
			break;
		}
		r = node(&R, &e, 0, &doc);
		Y.e_delete(&e);
		if (r < 0)
			break;
	}
	if (r == 0)
		Y.e_delete(&e);
	Y.p_delete(&R.p);
	for (size_t i = 0; i < R.n_anchors; i++) {
		free(R.anchors[i].name);
		cJSON_Delete(R.anchors[i].node);
	}
	free(R.anchors);
	if (r < 0) {
		cJSON_Delete(doc);
		return r;
	}
	*out = doc ? doc : cJSON_CreateNull();
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

struct sink {
	char *buf;
	size_t len;
};

static int write_out(void *data, unsigned char *buf, size_t n)
{
	struct sink *s = data;
	s->buf = base_realloc(s->buf, s->len + n + 1, 1);
	memcpy(s->buf + s->len, buf, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return 1;
}

static int emit_node(yaml_emitter_t *m, const cJSON *v);

/* Whether a reader would take the plain scalar s for something else than
 * a string (YAML 1.1, as PyYAML and docker-compose read it): a number,
 * a boolean, a null. Those strings are printed quoted; quoting one more
 * than needed changes nothing for a reader. */
static bool looks_typed(const char *s)
{
	static const char *const words[] = {"y",    "n",   "yes",  "no",
					    "on",   "off", "true", "false",
					    "null", "~",   ".inf", ".nan"};
	if (!*s)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcasecmp(s, words[i]) ||
		    ((*s == '-' || *s == '+') && !strcasecmp(s + 1, ".inf")))
			return true;
	if (!strchr("+-.0123456789", *s))
		return false;
	/* digits with signs, dots, exponents, bases and sexagesimal
	 * colons */
	return s[strspn(s, "+-._:0123456789abcdefABCDEFxXoO")] == '\0';
}

static int emit_scalar(yaml_emitter_t *m, const char *s, bool plain)
{
	yaml_event_t e;
	bool quote = plain && looks_typed(s);
	Y.ev_scalar(&e, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
		    plain && !quote, plain,
		    quote ? YAML_SINGLE_QUOTED_SCALAR_STYLE
			  : YAML_ANY_SCALAR_STYLE);
	return Y.m_emit(m, &e) ? 0 : -EIO;
}

static int emit_node(yaml_emitter_t *m, const cJSON *v)
{
	yaml_event_t e;
	int r = 0;
	if (cJSON_IsObject(v)) {
		Y.ev_map_start(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		r = Y.m_emit(m, &e) ? 0 : -EIO;
		const cJSON *kv;
		cJSON_ArrayForEach(kv, v)
		{
			if (r == 0)
				r = emit_scalar(m, kv->string, true);
			if (r == 0)
				r = emit_node(m, kv);
		}
		Y.ev_map_end(&e);
		return r == 0 && Y.m_emit(m, &e) ? 0 : -EIO;
	}
	if (cJSON_IsArray(v)) {
		Y.ev_seq_start(&e, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		r = Y.m_emit(m, &e) ? 0 : -EIO;
		const cJSON *it;
		cJSON_ArrayForEach(it, v) if (r == 0) r = emit_node(m, it);
		Y.ev_seq_end(&e);
		return r == 0 && Y.m_emit(m, &e) ? 0 : -EIO;
	}
	if (cJSON_IsString(v))
		return emit_scalar(m, v->valuestring, true);
	/* null, numbers and booleans (set by berth, not read) as such */
	_cleanup_free_ char *s = cJSON_IsNull(v) ? base_strdup("null")
						 : cJSON_PrintUnformatted(v);
	Y.ev_scalar(&e, NULL, NULL, (yaml_char_t *)(s ? s : ""),
		    (int)strlen(s ? s : ""), 1, 0, YAML_PLAIN_SCALAR_STYLE);
	return Y.m_emit(m, &e) ? 0 : -EIO;
}

int eng_yaml_print(const cJSON *doc, char **out, struct berr *err)
{
	*out = NULL;
	int r = y_ready(err);
	if (r < 0)
		return r;
	yaml_emitter_t m;
	if (!Y.m_init(&m))
		return berr_setx(err, ENOMEM, "libyaml emitter");
	struct sink s = {0};
	Y.m_output(&m, write_out, &s);
	yaml_event_t e;
	Y.ev_stream_start(&e, YAML_UTF8_ENCODING);
	r = Y.m_emit(&m, &e) ? 0 : -EIO;
	Y.ev_doc_start(&e, NULL, NULL, NULL, 1);
	if (r == 0)
		r = Y.m_emit(&m, &e) ? 0 : -EIO;
	if (r == 0)
		r = emit_node(&m, doc);
	Y.ev_doc_end(&e, 1);
	if (r == 0)
		r = Y.m_emit(&m, &e) ? 0 : -EIO;
	Y.ev_stream_end(&e);
	if (r == 0)
		r = Y.m_emit(&m, &e) ? 0 : -EIO;
	if (r < 0)
		r = berr_setx(err, EIO, "write YAML: %s",
			      m.problem ? m.problem : "libyaml");
	Y.m_delete(&m);
	if (r < 0) {
		free(s.buf);
		return r;
	}
	*out = s.buf ? s.buf : base_strdup("");
	return 0;
}
