/* Allocation that treats ENOMEM as fatal, string vectors and strict number
 * parsing. */
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

static void __attribute__((noreturn)) oom(void)
{
	static const char m[] = "berth: out of memory\n";
	(void)!write(2, m, sizeof(m) - 1);
	abort();
}

char *base_sprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

char *base_strdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		oom();
	return d;
}

void *base_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom();
	return p;
}

void *base_realloc(void *p, size_t n, size_t sz)
{
	size_t total;
	if (__builtin_mul_overflow(n, sz, &total))
		oom();
	void *q = realloc(p, total ? total : 1);
	if (!q)
		oom();
	return q;
}

void base_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t base_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void base_strv_push(char ***v, const char *s)
{
	size_t n = base_strv_len(*v);
	*v = base_realloc(*v, n + 2, sizeof(char *));
	(*v)[n] = base_strdup(s);
	(*v)[n + 1] = NULL;
}

bool base_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int base_parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int base_parse_u64(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int base_parse_int(const char *s, int *out)
{
	int64_t v;
	int r = base_parse_i64(s, &v);
	if (r < 0)
		return r;
	if (v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

void base_random_hex(char *out, size_t n)
{
	unsigned char b[32];
	size_t k = (n + 1) / 2 < sizeof(b) ? (n + 1) / 2 : sizeof(b);
	if (getrandom(b, k, 0) != (ssize_t)k) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		for (size_t i = 0; i < k; i++)
			b[i] = (unsigned char)((ts.tv_nsec >> (i % 4 * 8)) ^
					       getpid() ^ (int)i);
	}
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[(b[i / 2 % sizeof(b)] >>
					     (i % 2 ? 0 : 4)) &
					    15];
	out[n] = '\0';
}
