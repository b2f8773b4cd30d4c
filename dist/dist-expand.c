/* `berth par`'s replacement strings: the exec-mode payload of a job,
 * {} {.} {/} {//} {/.} {#} replaced and {%} marked for the worker, and
 * the command line a payload stands for (for the joblog). */
#include <string.h>

#include "dist/dist-par-internal.h"

/* The replacement strings, longest first so that {/.} wins over {/}. */
static const char *const rstrings[] = {"{//}", "{/.}", "{/}", "{.}",
				       "{#}",  "{%}",  "{}"};

static const char *find_rstring(const char *s, size_t *which)
{
	for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{'))
		for (size_t k = 0; k < ARRAY_SIZE(rstrings); k++)
			if (!strncmp(p, rstrings[k], strlen(rstrings[k]))) {
				*which = k;
				return p;
			}
	return NULL;
}

/* Appends s, quoting the marker bytes. */
static void add_escaped(struct dp_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == DP_MARK_SLOT || s[i] == DP_MARK_ESC)
			dp_buf_addc(b, DP_MARK_ESC);
		dp_buf_addc(b, s[i]);
	}
}

/* {.}: without the extension of the last path component. */
static size_t no_ext_len(const char *arg, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		if (arg[i] == '/')
			break;
		if (arg[i] == '.')
			return i;
	}
	return len;
}

static void add_dirname(struct dp_buf *b, const char *arg)
{
	size_t len = strlen(arg);
	while (len > 1 && arg[len - 1] == '/')
		len--;
	const char *slash = memrchr(arg, '/', len);
	if (!slash) {
		dp_buf_addc(b, '.');
		return;
	}
	size_t n = (size_t)(slash - arg);
	while (n > 1 && arg[n - 1] == '/')
		n--;
	add_escaped(b, arg, n ? n : 1);
}

static void add_rstring(struct dp_buf *b, size_t which, const char *arg,
			uint64_t seq)
{
	const char *base = strrchr(arg, '/');
	base = base ? base + 1 : arg;
	const char *r = rstrings[which];
	if (!strcmp(r, "{}"))
		add_escaped(b, arg, strlen(arg));
	else if (!strcmp(r, "{.}"))
		add_escaped(b, arg, no_ext_len(arg, strlen(arg)));
	else if (!strcmp(r, "{/}"))
		add_escaped(b, base, strlen(base));
	else if (!strcmp(r, "{/.}"))
		add_escaped(b, base, no_ext_len(base, strlen(base)));
	else if (!strcmp(r, "{//}"))
		add_dirname(b, arg);
	else if (!strcmp(r, "{#}"))
		dp_buf_printf(b, "%llu", (unsigned long long)seq);
	else
		dp_buf_addc(b, DP_MARK_SLOT);
}

void dp_expand(char *const *tmpl, const char *arg, uint64_t seq,
	       struct dp_buf *out)
{
	dp_buf_printf(out, "%llu", (unsigned long long)seq);
	dp_buf_addc(out, '\0');
	bool used = false;
	for (size_t i = 0; tmpl[i]; i++) {
		const char *s = tmpl[i];
		size_t which;
		for (const char *p; (p = find_rstring(s, &which));) {
			add_escaped(out, s, (size_t)(p - s));
			add_rstring(out, which, arg, seq);
			s = p + strlen(rstrings[which]);
			used = true;
		}
		add_escaped(out, s, strlen(s));
		dp_buf_addc(out, '\0');
	}
	if (!used) {
		add_escaped(out, arg, strlen(arg));
		dp_buf_addc(out, '\0');
	}
}

char *dp_payload_command(const char *payload, size_t len, unsigned slot)
{
	struct dp_buf b = {0};
	dp_buf_adds(&b, "");
	const char *end = payload + len;
	const char *s = memchr(payload, '\0', len); /* after the seq */
	for (s = s ? s + 1 : end; s < end; s += strlen(s) + 1) {
		_cleanup_free_ char *w = base_calloc(strlen(s) * 10 + 20, 1);
		dp_word_decode(s, slot, w);
		if (b.len)
			dp_buf_addc(&b, ' ');
		dp_buf_adds(&b, w);
	}
	return b.p;
}
