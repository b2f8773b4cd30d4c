/* The tasks of `berth par`'s input, one argument each: the `:::`
 * arguments, a file (-a, ::::) read whole, a range (--range, END
 * included, as seq), or a stream (stdin) read as it comes, a line a task.
 * The engine (dist-par.c) numbers them; a shard (dist-shard.c) skips
 * those of others. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist/dist-par-internal.h"

/* FNV-1a, 64 bits: what names the input in a claims file (dist-claim.c),
 * not a defence against anyone. */
#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *s = data;
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The arguments and a file of the same lines have one digest: each
 * argument followed by a newline. A range is its three numbers. */
static uint64_t digest_args(char *const *args)
{
	uint64_t h = FNV_INIT;
	for (size_t i = 0; args[i]; i++)
		h = fnv(fnv(h, args[i], strlen(args[i])), "\n", 1);
	return h;
}

static uint64_t digest_text(const char *s, size_t len)
{
	uint64_t h = fnv(FNV_INIT, s, len);
	return len && s[len - 1] != '\n' ? fnv(h, "\n", 1) : h;
}

static int parse_range(const char *s, struct dp_source *src, struct berr *err)
{
	_cleanup_free_ char *copy = base_strdup(s);
	char *f[4] = {copy, NULL, NULL, NULL};
	int n = 1;
	for (char *p = copy; *p && n < 4; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	int64_t v[3] = {0, 0, 0};
	bool ok = n == 2 || n == 3;
	for (int i = 0; ok && i < n; i++)
		ok = base_parse_i64(f[i], &v[i]) == 0;
	if (ok && n == 2)
		v[2] = v[0] <= v[1] ? 1 : -1;
	int64_t span;
	if (ok && __builtin_sub_overflow(v[1], v[0], &span))
		ok = false;
	if (!ok || v[2] == 0 || span / v[2] < 0 || (v[2] > 0 && v[0] > v[1]) ||
	    (v[2] < 0 && v[0] < v[1]))
		return berr_setx(err, EINVAL,
				 "--range %s: expected START:END[:STEP] "
				 "(integers, STEP not 0 and going from START "
				 "towards END)",
				 s);
	src->cur = v[0];
	src->end = v[1];
	src->step = v[2];
	src->total = (uint64_t)(span / v[2]) + 1;
	char text[80];
	int tl = snprintf(text, sizeof(text), "range %lld:%lld:%lld",
			  (long long)v[0], (long long)v[1], (long long)v[2]);
	src->digest = fnv(FNV_INIT, text, (size_t)tl);
	return 0;
}

static uint64_t count_lines(const char *s, size_t len)
{
	uint64_t n = 0;
	for (const char *p = s; (p = memchr(p, '\n', len - (size_t)(p - s)));
	     p++)
		n++;
	return n + (len && s[len - 1] != '\n');
}

int dp_source_open(const struct dp_par_opts *o, struct dp_source *src,
		   struct berr *err)
{
	int given = !!o->args + !!o->arg_file + !!o->range;
	if (given > 1)
		return berr_setx(err, EINVAL,
				 "give one source of tasks: ::: ARGS, -a FILE "
				 "or --range");
	src->fd = -1;
	if (o->args) {
		src->kind = DP_SRC_ARGS;
		src->args = o->args;
		src->total = base_strv_len(o->args);
		src->digest = digest_args(o->args);
	} else if (o->range) {
		src->kind = DP_SRC_RANGE;
		return parse_range(o->range, src, err);
	} else if (o->arg_file && strcmp(o->arg_file, "-")) {
		src->kind = DP_SRC_BUF;
		int r = base_read_file_at(AT_FDCWD, o->arg_file, &src->buf,
					  &src->len, (size_t)1 << 34);
		if (r < 0)
			return berr_set(err, -r, "-a %s", o->arg_file);
		src->total = count_lines(src->buf, src->len);
		src->digest = digest_text(src->buf, src->len);
	} else {
		src->kind = DP_SRC_FD;
		src->fd = o->input_fd;
	}
	return 0;
}

/* The next line in buf[off..len); with final, a last line without a
 * newline counts too. */
static bool take_line(struct dp_source *src, bool final, const char **arg,
		      size_t *len)
{
	if (!src->buf)
		return false;
	char *s = src->buf + src->off;
	size_t left = src->len - src->off;
	char *nl = memchr(s, '\n', left);
	if (!nl && (!final || !left))
		return false;
	if (nl)
		*nl = '\0';
	else
		s[left] = '\0';
	*len = nl ? (size_t)(nl - s) : left;
	src->off += nl ? *len + 1 : left;
	*arg = s;
	return true;
}

/* Reads what stdin has now, without blocking. */
static void source_fill(struct dp_source *src)
{
	if (src->off) {
		memmove(src->buf, src->buf + src->off, src->len - src->off);
		src->len -= src->off;
		src->off = 0;
	}
	struct pollfd pf = {.fd = src->fd, .events = POLLIN};
	if (poll(&pf, 1, 0) <= 0)
		return;
	src->buf = base_realloc(src->buf, src->len + 65537, 1);
	ssize_t n = read(src->fd, src->buf + src->len, 65536);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		src->eof = true;
	else
		src->len += (size_t)n;
}

/* 1 and *arg (valid until the next call), 0 when nothing is ready yet,
 * -1 at the end. */
/* v in decimal, ending at end (the NUL's place; 21 bytes before it are
 * enough): where it starts. snprintf for a million numbers costs the
 * coordinator more than the rest of their tasks. */
static char *format_i64(int64_t v, char *end)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char *s = end;
	*s = '\0';
	do {
		*--s = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--s = '-';
	return s;
}

/* The decimal number from s to end (not negative) plus one, in place:
 * where it starts. A range's next number is mostly a change of its last
 * digit. */
static char *increment(char *s, char *end)
{
	char *d = end - 1;
	while (d >= s && *d == '9')
		*d-- = '0';
	if (d >= s) {
		(*d)++;
		return s;
	}
	*--s = '1';
	return s;
}

int dp_source_next_len(struct dp_source *src, const char **arg, size_t *len)
{
	if (src->ended)
		return -1;
	bool got;
	switch (src->kind) {
	case DP_SRC_ARGS:
		if (!src->args[src->next])
			return -1;
		*arg = src->args[src->next++];
		*len = strlen(*arg);
		return 1;
	case DP_SRC_RANGE: {
		if (src->next == src->total)
			return -1;
		char *end = src->num + sizeof(src->num) - 1;
		int64_t v = src->cur + (int64_t)src->next * src->step;
		*arg = src->next && src->step == 1 && v > 0
			       ? increment(src->num + src->num_at, end)
			       : format_i64(v, end);
		src->num_at = (uint8_t)(*arg - src->num);
		*len = (size_t)(end - *arg);
		src->next++;
		return 1;
	}
	case DP_SRC_BUF:
		got = take_line(src, true, arg, len);
		return got ? 1 : -1;
	case DP_SRC_FD:
		if (take_line(src, src->eof, arg, len))
			return 1;
		if (src->eof)
			return -1;
		source_fill(src);
		if (take_line(src, src->eof, arg, len))
			return 1;
		return src->eof ? -1 : 0;
	}
	return -1;
}

int dp_source_next(struct dp_source *src, const char **arg)
{
	size_t len;
	return dp_source_next_len(src, arg, &len);
}

void dp_source_stop(struct dp_source *src)
{
	src->ended = true;
}
