/* Dockerfiles: the reference's syntax, read into stages and instructions
 * (eng_dockerfile_parse), and the shell-like words of an instruction's
 * arguments with variables expanded (eng_df_lex). No library reads this
 * format: BuildKit's parser is Go. What it follows, from the Dockerfile
 * reference:
 *   - parser directives (`# escape=` and `# syntax=`) only before the
 *     first instruction, comment or blank line; the escape character is
 *     `\` or a backtick;
 *   - an instruction is a keyword (any case) and its arguments; a line
 *     ending in the escape character continues on the next, and comment
 *     lines inside a continuation are dropped;
 *   - RUN, CMD, ENTRYPOINT, SHELL (and COPY, ADD, VOLUME) take a JSON
 *     array (exec form) or text (shell form);
 *   - `--name=value` flags lead the arguments of FROM, RUN, COPY, ADD and
 *     HEALTHCHECK;
 *   - variables ($V, ${V}, ${V:-word}, ${V:+word}) are expanded by the
 *     builder, with the environment of the moment, in the arguments of
 *     ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR (and
 *     ARG's default), never in RUN, CMD or ENTRYPOINT (the shell's job). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"

/* Longest Dockerfile and instruction read: far above real ones, a bound
 * on what a hostile context can make berth hold. */
#define DF_MAX_LEN (4u << 20)

static const char *const kinds[] = {
	[ENG_DF_FROM] = "FROM",
	[ENG_DF_RUN] = "RUN",
	[ENG_DF_CMD] = "CMD",
	[ENG_DF_LABEL] = "LABEL",
	[ENG_DF_MAINTAINER] = "MAINTAINER",
	[ENG_DF_EXPOSE] = "EXPOSE",
	[ENG_DF_ENV] = "ENV",
	[ENG_DF_ADD] = "ADD",
	[ENG_DF_COPY] = "COPY",
	[ENG_DF_ENTRYPOINT] = "ENTRYPOINT",
	[ENG_DF_VOLUME] = "VOLUME",
	[ENG_DF_USER] = "USER",
	[ENG_DF_WORKDIR] = "WORKDIR",
	[ENG_DF_ARG] = "ARG",
	[ENG_DF_ONBUILD] = "ONBUILD",
	[ENG_DF_STOPSIGNAL] = "STOPSIGNAL",
	[ENG_DF_HEALTHCHECK] = "HEALTHCHECK",
	[ENG_DF_SHELL] = "SHELL",
};

const char *eng_df_kind_name(enum eng_df_kind k)
{
	return k < ARRAY_SIZE(kinds) && kinds[k] ? kinds[k] : "?";
}

static int kind_of(const char *word, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i] && strlen(kinds[i]) == n &&
		    !strncasecmp(kinds[i], word, n))
			return (int)i;
	return -1;
}

static int bad(struct berr *err, const char *file, unsigned line,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(struct berr *err, const char *file, unsigned line,
	       const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_setx(err, EINVAL, "%s:%u: %s", file, line, msg);
}

/* ---- words and variables ---------------------------------------------- */

struct lex {
	const char *s;
	size_t i;
	char esc;
	char *const *env; /* K=V */
	const char *file;
	unsigned line;
	struct berr *err;
};

static const char *env_get(char *const *env, const char *k, size_t n)
{
	const char *found = NULL; /* the last one wins, as in a later ENV */
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], k, n) && env[i][n] == '=')
			found = env[i] + n + 1;
	return found;
}

static void put(char **w, size_t *len, const char *s, size_t n)
{
	*w = base_realloc(*w, *len + n + 1, 1);
	memcpy(*w + *len, s, n);
	*len += n;
	(*w)[*len] = '\0';
}

static int lex_word(struct lex *L, char **w, size_t *len, char stop);

/* After '$': a name, {name}, {name:-word} or {name:+word}. */
static int lex_var(struct lex *L, char **w, size_t *len)
{
	const char *s = L->s;
	bool brace = s[L->i] == '{';
	size_t start = L->i + brace, k = start;
	while (isalnum((unsigned char)s[k]) || s[k] == '_')
		k++;
	if (k == start) { /* a lone '$' stays */
		put(w, len, "$", 1);
		return 0;
	}
	const char *val = env_get(L->env, s + start, k - start);
	L->i = k;
	if (!brace) {
		if (val)
			put(w, len, val, strlen(val));
		return 0;
	}
	char mod = 0;
	if (s[L->i] == ':' && (s[L->i + 1] == '-' || s[L->i + 1] == '+')) {
		mod = s[L->i + 1];
		L->i += 2;
	}
	char *word = NULL;
	size_t wl = 0;
	put(&word, &wl, "", 0);
	int r = mod ? lex_word(L, &word, &wl, '}') : 0;
	if (r == 0 && s[L->i] != '}')
		r = bad(L->err, L->file, L->line, "missing '}' in `%s`", s);
	L->i++;
	if (r == 0) {
		bool set = val && val[0];
		const char *out = mod == '-'   ? (set ? val : word)
				  : mod == '+' ? (set ? word : "")
					       : (val ? val : "");
		put(w, len, out, strlen(out));
	}
	free(word);
	return r;
}

/* Appends to *w until an unquoted blank (stop 0) or stop. */
static int lex_word(struct lex *L, char **w, size_t *len, char stop)
{
	const char *s = L->s;
	char quote = 0;
	while (s[L->i]) {
		char c = s[L->i];
		if (!quote && (stop ? c == stop : isspace((unsigned char)c)))
			break;
		L->i++;
		if (quote == '\'' && c != '\'') {
			put(w, len, &c, 1);
		} else if (c == quote) {
			quote = 0;
		} else if (!quote && (c == '\'' || c == '"')) {
			quote = c;
		} else if (c == L->esc && s[L->i] &&
			   (!quote || strchr("\"$`\\", s[L->i]) ||
			    s[L->i] == L->esc)) {
			put(w, len, &s[L->i++], 1);
		} else if (c == '$' && L->env != ENG_DF_NO_EXPAND) {
			int r = lex_var(L, w, len);
			if (r < 0)
				return r;
		} else {
			put(w, len, &c, 1);
		}
	}
	if (quote)
		return bad(L->err, L->file, L->line,
			   "unterminated quote in `%s`", s);
	return 0;
}

int eng_df_lex(const char *s, char *const *env, char esc, bool split,
	       const char *file, unsigned line, char ***out, struct berr *err)
{
	*out = NULL;
	struct lex L = {.s = s,
			.esc = esc,
			.env = env,
			.file = file,
			.line = line,
			.err = err};
	while (s[L.i]) {
		while (split && isspace((unsigned char)s[L.i]))
			L.i++;
		if (!s[L.i])
			break;
		char *w = NULL;
		size_t len = 0;
		put(&w, &len, "", 0);
		int r = lex_word(&L, &w, &len, 0);
		while (r == 0 && !split && s[L.i]) { /* blanks are part of it */
			put(&w, &len, &s[L.i++], 1);
			r = lex_word(&L, &w, &len, 0);
		}
		if (r < 0) {
			free(w);
			base_strv_free(TAKE_PTR(*out));
			return r;
		}
		base_strv_push(out, w);
		free(w);
	}
	return 0;
}

/* ---- instructions ------------------------------------------------------ */

/* A JSON array of strings, as the exec form is; NULL when it is not one. */
char **eng_df_json_strings(const char *s)
{
	_cleanup_cjson_ cJSON *a = cJSON_Parse(s);
	if (!cJSON_IsArray(a))
		return NULL;
	char **v = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, a)
	{
		if (!cJSON_IsString(e)) {
			base_strv_free(v);
			return NULL;
		}
		base_strv_push(&v, e->valuestring);
	}
	if (!v) /* [] */
		v = base_calloc(1, sizeof(char *));
	return v;
}

static bool takes_flags(enum eng_df_kind k)
{
	return k == ENG_DF_FROM || k == ENG_DF_RUN || k == ENG_DF_COPY ||
	       k == ENG_DF_ADD || k == ENG_DF_HEALTHCHECK;
}

static bool takes_json(enum eng_df_kind k)
{
	return k == ENG_DF_RUN || k == ENG_DF_CMD || k == ENG_DF_ENTRYPOINT ||
	       k == ENG_DF_SHELL || k == ENG_DF_COPY || k == ENG_DF_ADD ||
	       k == ENG_DF_VOLUME;
}

/* Splits "--a=b --c=d rest" into flags and the rest. */
static const char *take_flags(const char *s, char ***flags)
{
	while (!strncmp(s, "--", 2)) {
		size_t n = strcspn(s, " \t");
		_cleanup_free_ char *f = strndup(s + 2, n - 2);
		base_strv_push(flags, f);
		s += n;
		s += strspn(s, " \t");
	}
	return s;
}

/* FROM [--platform=P] IMAGE [AS NAME] */
static int add_stage(struct eng_dockerfile *df, struct eng_df_instr *in,
		     const char *file, struct berr *err)
{
	_cleanup_strv_ char **w = NULL;
	int r = eng_df_lex(in->raw, ENG_DF_NO_EXPAND, df->escape, true, file,
			   in->line, &w, err);
	size_t n = base_strv_len(w);
	if (r == 0 && n != 1 && !(n == 3 && !strcasecmp(w[1], "AS")))
		r = bad(err, file, in->line,
			"FROM: expected IMAGE [AS NAME], got `%s`", in->raw);
	if (r == 0 && n == 3 && rt_validate_id(w[2], NULL) < 0)
		r = bad(err, file, in->line, "FROM: bad stage name `%s`", w[2]);
	for (size_t i = 0; r == 0 && i < df->n_stages && n == 3; i++)
		if (df->stages[i].name && !strcasecmp(df->stages[i].name, w[2]))
			r = bad(err, file, in->line,
				"FROM: a stage named `%s` exists already",
				w[2]);
	if (r < 0) {
		eng_df_instr_clear(in);
		return r;
	}
	df->stages =
		base_realloc(df->stages, df->n_stages + 1, sizeof(*df->stages));
	df->stages[df->n_stages++] =
		(struct eng_df_stage){.from = *in,
				      .base = base_strdup(w[0]),
				      .name = n == 3 ? base_strdup(w[2]) : NULL,
				      .line = in->line};
	return 0;
}

static int add_instr(struct eng_dockerfile *df, const char *text, unsigned line,
		     const char *file, struct berr *err)
{
	size_t kn = strcspn(text, " \t");
	int k = kind_of(text, kn);
	if (k < 0) {
		_cleanup_free_ char *w = strndup(text, kn);
		return bad(err, file, line, "unknown instruction: %s", w);
	}
	const char *rest = text + kn;
	rest += strspn(rest, " \t");
	struct eng_df_instr in = {.kind = (enum eng_df_kind)k, .line = line};
	in.text = base_sprintf("%s %s", kinds[k], rest);
	if (takes_flags(in.kind))
		rest = take_flags(rest, &in.flags);
	in.raw = base_strdup(rest);
	if (takes_json(in.kind) && rest[0] == '[' &&
	    (in.args = eng_df_json_strings(rest)))
		in.json = true;
	struct eng_df_stage *st =
		df->n_stages ? &df->stages[df->n_stages - 1] : NULL;
	if (in.kind == ENG_DF_FROM)
		return add_stage(df, &in, file, err);
	if (!st && in.kind != ENG_DF_ARG) {
		eng_df_instr_clear(&in);
		return bad(err, file, line,
			   "%s before FROM: only ARG may come first", kinds[k]);
	}
	struct eng_df_instr **v = st ? &st->v : &df->global;
	size_t *n = st ? &st->n : &df->n_global;
	*v = base_realloc(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = in;
	return 0;
}

/* `# key=value` at the top: *esc for escape; false once it is not one. */
static bool directive(const char *line, char *esc)
{
	const char *p = line + strspn(line, " \t");
	if (*p != '#')
		return false;
	p++;
	p += strspn(p, " \t");
	if (!strncasecmp(p, "escape", 6)) {
		const char *v = p + 6 + strspn(p + 6, " \t");
		if (*v == '=') {
			v++;
			v += strspn(v, " \t");
			if (*v == '`' || *v == '\\')
				*esc = *v;
			return true;
		}
	}
	return !strncasecmp(p, "syntax", 6) && strchr(p, '=');
}

struct reader {
	char *text; /* mutable copy, split at newlines */
	char *pos;
	unsigned line;
};

static char *next_line(struct reader *R)
{
	if (!R->pos || !*R->pos)
		return NULL;
	char *l = R->pos, *nl = strchr(l, '\n');
	R->pos = nl ? nl + 1 : l + strlen(l);
	if (nl)
		*nl = '\0';
	size_t n = strlen(l);
	if (n && l[n - 1] == '\r')
		l[n - 1] = '\0';
	R->line++;
	return l;
}

/* Ends in the escape character (blanks after it allowed): cut it off. */
static bool continues(char *l, char esc)
{
	size_t n = strlen(l);
	while (n && isspace((unsigned char)l[n - 1]))
		n--;
	if (!n || l[n - 1] != esc)
		return false;
	l[n - 1] = '\0';
	return true;
}

static bool blank_or_comment(const char *l)
{
	l += strspn(l, " \t");
	return !*l || *l == '#';
}

/* The line of the first byte that is not UTF-8, or 0. */
static unsigned bad_utf8(const unsigned char *p, size_t len)
{
	unsigned line = 1;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = c < 0x80		? 1
			   : (c & 0xe0) == 0xc0 ? 2
			   : (c & 0xf0) == 0xe0 ? 3
			   : (c & 0xf8) == 0xf0 ? 4
						: 0;
		if (n == 0 || i + n > len || (n == 2 && c < 0xc2) ||
		    (n == 4 && c > 0xf4))
			return line;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return line;
		line += c == '\n';
		i += n;
	}
	return 0;
}

int eng_dockerfile_parse(const char *text, size_t len, const char *file,
			 struct eng_dockerfile **out, struct berr *err)
{
	*out = NULL;
	if (len > DF_MAX_LEN || memchr(text, '\0', len))
		return berr_setx(err, EINVAL, "%s: not a Dockerfile (%s)", file,
				 len > DF_MAX_LEN ? "over 4 MiB" : "NUL bytes");
	unsigned bad_line = bad_utf8((const unsigned char *)text, len);
	if (bad_line)
		return berr_setx(err, EINVAL, "%s:%u: not UTF-8", file,
				 bad_line);
	struct eng_dockerfile *df = base_calloc(1, sizeof(*df));
	df->escape = '\\';
	struct reader R = {.text = strndup(text, len)};
	R.pos = R.text;
	bool directives = true;
	int r = 0;
	char *l;
	while (r == 0 && (l = next_line(&R))) {
		if (directives && directive(l, &df->escape))
			continue;
		directives = false;
		if (blank_or_comment(l))
			continue;
		unsigned first = R.line;
		char *instr = NULL;
		size_t n = 0;
		bool more = continues(l, df->escape);
		put(&instr, &n, l + strspn(l, " \t"),
		    strlen(l + strspn(l, " \t")));
		while (more && (l = next_line(&R))) {
			if (blank_or_comment(l) && l[strspn(l, " \t")] == '#')
				continue; /* comments inside are dropped */
			more = continues(l, df->escape);
			put(&instr, &n, l, strlen(l));
		}
		r = add_instr(df, instr, first, file, err);
		free(instr);
	}
	free(R.text);
	if (r == 0 && df->n_stages == 0)
		r = berr_setx(err, EINVAL, "%s: no FROM instruction", file);
	if (r < 0) {
		eng_dockerfile_free(df);
		return r;
	}
	*out = df;
	return 0;
}

void eng_df_instr_clear(struct eng_df_instr *in)
{
	free(in->text);
	free(in->raw);
	base_strv_free(in->flags);
	base_strv_free(in->args);
	*in = (struct eng_df_instr){0};
}

void eng_dockerfile_free(struct eng_dockerfile *df)
{
	if (!df)
		return;
	for (size_t i = 0; i < df->n_global; i++)
		eng_df_instr_clear(&df->global[i]);
	for (size_t s = 0; s < df->n_stages; s++) {
		struct eng_df_stage *st = &df->stages[s];
		eng_df_instr_clear(&st->from);
		free(st->base);
		free(st->name);
		for (size_t i = 0; i < st->n; i++)
			eng_df_instr_clear(&st->v[i]);
		free(st->v);
	}
	free(df->global);
	free(df->stages);
	free(df);
}

const char *eng_df_flag(const struct eng_df_instr *in, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; in->flags && in->flags[i]; i++)
		if (!strncmp(in->flags[i], name, n) && in->flags[i][n] == '=')
			return in->flags[i] + n + 1;
	return NULL;
}
