/* The growing buffers of `berth par` (struct dp_buf, declared in
 * dist/dist-par-internal.h): the output it batches, and JSON strings for
 * the results file. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dist/dist-par-internal.h"

static void buf_grow(struct dp_buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + more + 1)
		cap *= 2;
	b->p = base_realloc(b->p, cap, 1);
	b->cap = cap;
}

void dp_buf_reserve(struct dp_buf *b, size_t more)
{
	buf_grow(b, more);
}

void *dp_buf_append(struct dp_buf *b, size_t len)
{
	buf_grow(b, len);
	void *at = b->p + b->len;
	b->len += len;
	b->p[b->len] = '\0';
	return at;
}

void dp_buf_add(struct dp_buf *b, const void *data, size_t len)
{
	buf_grow(b, len);
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void dp_buf_addc(struct dp_buf *b, char c)
{
	dp_buf_add(b, &c, 1);
}

void dp_buf_adds(struct dp_buf *b, const char *s)
{
	dp_buf_add(b, s, strlen(s));
}

void dp_buf_printf(struct dp_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void dp_buf_free(struct dp_buf *b)
{
	free(b->p);
	*b = (struct dp_buf){0};
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k;
	uint32_t c;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, c = s[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (k == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return k;
}

void dp_buf_json(struct dp_buf *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	dp_buf_addc(b, '"');
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		if (c == '"' || c == '\\') {
			dp_buf_addc(b, '\\');
			dp_buf_addc(b, (char)c);
		} else if (c == '\n') {
			dp_buf_adds(b, "\\n");
		} else if (c == '\t') {
			dp_buf_adds(b, "\\t");
		} else if (c == '\r') {
			dp_buf_adds(b, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			dp_buf_printf(b, "\\u%04x", c);
		} else if (c >= 0x80) {
			size_t k = utf8_len(u + i, len - i);
			if (k == 0) {
				dp_buf_adds(b, "\\ufffd");
				i++;
				continue;
			}
			dp_buf_add(b, u + i, k);
			i += k;
			continue;
		} else {
			dp_buf_addc(b, (char)c);
		}
		i++;
	}
	dp_buf_addc(b, '"');
}
