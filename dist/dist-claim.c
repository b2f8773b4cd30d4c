/* `berth par --shard I/N --claims FILE`: the shards of a run take chunks
 * of its tasks from one file on a filesystem every node mounts, under a
 * POSIX record lock, as each needs work. dist-par-internal.h describes
 * the file; this is its reader and writer.
 *
 * The file is hostile input: other nodes write it, and so may a crashed
 * or stale berth, or a hand. Nothing is believed that was not checked:
 * every line is bounded, parsed digit by digit, and must continue the
 * chunks before it; a line that does not is an error naming the file and
 * the line, and the file is then neither read on nor written. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dist/dist-par-internal.h"

#define CLAIMS_MAGIC "berth-par-claims"
#define CLAIMS_VERSION 1
/* a line, its newline included, is at most this long */
#define LINE_MAX_LEN 128
/* the highest seq a chunk may reach: far from 2^64, so that no sum of a
 * first and a count overflows */
#define SEQ_MAX ((uint64_t)1 << 62)
/* the file, at most (some 100 million chunks) */
#define FILE_MAX ((uint64_t)1 << 32)
/* guided: a chunk is the tasks left / (GUIDED_K * N) */
#define GUIDED_K 4
/* dp_claims_load: every shard's chunks */
#define ALL_SHARDS UINT32_MAX

struct dp_claims {
	char *path;
	int fd;
	struct dp_claims_run run; /* line 1's, checked against ours */
	uint32_t shard;		  /* ours; ALL_SHARDS: loaded to read */
	uint64_t size, fixed;	  /* see dp_claims_opts */
	volatile int *stop;
	uint64_t next;	    /* the first seq no chunk read has */
	uint64_t off;	    /* the bytes read and checked */
	size_t lines;	    /* the lines read */
	struct dp_claim *v; /* ours (every one when loaded), by first */
	size_t n, cap;
	size_t taken;	    /* chunks this process appended */
	struct berr broken; /* set: every later call fails with it */
};

static struct dp_claims *claims_new(const char *path)
{
	struct dp_claims *c = base_calloc(1, sizeof(*c));
	c->path = base_strdup(path);
	c->fd = -1;
	c->next = 1;
	return c;
}

void dp_claims_close(struct dp_claims *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c->v);
	free(c);
}

void dp_claims_header(const struct dp_claims_run *run, char *buf, size_t len)
{
	if (run->known)
		snprintf(buf, len,
			 CLAIMS_MAGIC
			 " %d shards=%u tasks=%llu input=%016llx\n",
			 CLAIMS_VERSION, run->shards,
			 (unsigned long long)run->tasks,
			 (unsigned long long)run->input);
	else
		snprintf(buf, len,
			 CLAIMS_MAGIC " %d shards=%u tasks=- input=-\n",
			 CLAIMS_VERSION, run->shards);
}

/* ---- reading a line
 * ------------------------------------------------------------------ */

/* A line as an error may quote it: printable ASCII, at most 60 bytes. */
static void shown(const char *line, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 5 < size && i < 60; i++)
		out[n++] = line[i] >= ' ' && line[i] <= '~' && line[i] != '"'
				   ? line[i]
				   : '?';
	if (len > 60 && n + 4 < size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* The error for line lineno of the file, text of len bytes (no newline):
 * why, and the line. Always -EINVAL. */
static int bad_line(const struct dp_claims *c, size_t lineno, const char *line,
		    size_t len, struct berr *err, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static int bad_line(const struct dp_claims *c, size_t lineno, const char *line,
		    size_t len, struct berr *err, const char *fmt, ...)
{
	char why[256], text[80];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	shown(line, len, text, sizeof(text));
	return berr_setx(err, EINVAL, "claims file %s, line %zu: %s (\"%s\")",
			 c->path, lineno, why, text);
}

/* A number of a line: decimal digits alone, no leading zero, at most
 * max. */
static bool num_of(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The words of a line, separated by one space each: how many (at most
 * max), or -1 when spaces are doubled, lead or trail, or there are more. */
static int words(const char *line, size_t len, const char **w, size_t *wl,
		 int max)
{
	int n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start || n == max)
			return -1;
		w[n] = line + start;
		wl[n++] = i - start;
		start = i + 1;
	}
	return n;
}

/* "key=value": the value, or NULL. */
static const char *value_of(const char *word, size_t len, const char *key,
			    size_t *vlen)
{
	size_t k = strlen(key);
	if (len <= k || strncmp(word, key, k) || word[k] != '=')
		return NULL;
	*vlen = len - k - 1;
	return word + k + 1;
}

static bool hex_of(const char *s, size_t len, uint64_t *out)
{
	if (len != 16)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
			: s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
						     : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

/* Line 1 into *run. */
static bool parse_header(const char *line, size_t len,
			 struct dp_claims_run *run)
{
	const char *w[5];
	size_t wl[5], tl, il;
	uint64_t shards;
	if (words(line, len, w, wl, 5) != 5 || wl[0] != strlen(CLAIMS_MAGIC) ||
	    memcmp(w[0], CLAIMS_MAGIC, wl[0]) || wl[1] != 1 ||
	    w[1][0] != '0' + CLAIMS_VERSION)
		return false;
	const char *s = value_of(w[2], wl[2], "shards", &tl);
	if (!s || !num_of(s, tl, DP_SHARDS_MAX, &shards) || !shards)
		return false;
	const char *t = value_of(w[3], wl[3], "tasks", &tl);
	const char *in = value_of(w[4], wl[4], "input", &il);
	if (!t || !in)
		return false;
	*run = (struct dp_claims_run){.shards = (uint32_t)shards};
	if (tl == 1 && *t == '-')
		return il == 1 && *in == '-';
	run->known = true;
	return num_of(t, tl, SEQ_MAX, &run->tasks) &&
	       hex_of(in, il, &run->input);
}

/* Line 1 of a file that an opening shard checks against its own run. */
static int check_run(const struct dp_claims *c, const struct dp_claims_run *f,
		     struct berr *err)
{
	const struct dp_claims_run *o = &c->run;
	char what[160] = "";
	if (f->shards != o->shards)
		snprintf(what, sizeof(what),
			 "it divides the tasks between %u shards, this run "
			 "between %u",
			 f->shards, o->shards);
	else if (f->known != o->known)
		snprintf(what, sizeof(what), "its input is %s, this run's %s",
			 f->known ? "arguments, a file or a range" : "stdin",
			 o->known ? "arguments, a file or a range" : "stdin");
	else if (f->known && f->tasks != o->tasks)
		snprintf(what, sizeof(what),
			 "its input has %llu tasks, this run's %llu",
			 (unsigned long long)f->tasks,
			 (unsigned long long)o->tasks);
	else if (f->known && f->input != o->input)
		snprintf(what, sizeof(what),
			 "its input of %llu tasks has digest %016llx, this "
			 "run's %016llx",
			 (unsigned long long)f->tasks,
			 (unsigned long long)f->input,
			 (unsigned long long)o->input);
	if (!what[0])
		return 0;
	return berr_setx(err, EINVAL,
			 "claims file %s is another run's: %s; give each run "
			 "a claims file of its own (and the same one to every "
			 "shard of a run)",
			 c->path, what);
}

/* The chunk a line gives, checked against the chunks before it. */
static int take_chunk(struct dp_claims *c, const char *line, size_t len,
		      struct berr *err)
{
	const char *w[3];
	size_t wl[3];
	uint64_t first, count, shard;
	size_t no = c->lines;
	if (words(line, len, w, wl, 3) != 3 ||
	    !num_of(w[0], wl[0], SEQ_MAX, &first) ||
	    !num_of(w[1], wl[1], DP_CLAIM_SIZE_MAX, &count) ||
	    !num_of(w[2], wl[2], UINT32_MAX, &shard))
		return bad_line(c, no, line, len, err,
				"not a chunk (FIRST COUNT SHARD, numbers "
				"alone)");
	if (first != c->next && c->next == 1)
		return bad_line(c, no, line, len, err,
				"the first chunk starts at seq %llu, not 1",
				(unsigned long long)first);
	if (first != c->next)
		return bad_line(c, no, line, len, err,
				"the chunk starts at seq %llu, but the chunks "
				"before end at %llu",
				(unsigned long long)first,
				(unsigned long long)c->next - 1);
	if (!count)
		return bad_line(c, no, line, len, err, "a chunk of no tasks");
	if (count > SEQ_MAX - first ||
	    (c->run.known && first + count - 1 > c->run.tasks))
		return bad_line(c, no, line, len, err,
				"a chunk of %llu tasks from seq %llu: past "
				"the run's %llu tasks",
				(unsigned long long)count,
				(unsigned long long)first,
				(unsigned long long)(c->run.known ? c->run.tasks
								  : SEQ_MAX));
	if (shard >= c->run.shards)
		return bad_line(c, no, line, len, err,
				"shard %llu in a run of %u shards",
				(unsigned long long)shard, c->run.shards);
	c->next = first + count;
	if (c->shard != ALL_SHARDS && shard != c->shard)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = base_realloc(c->v, c->cap, sizeof(*c->v));
	}
	c->v[c->n++] = (struct dp_claim){first, count, (uint32_t)shard, no};
	return 0;
}

static int take_line(struct dp_claims *c, const char *line, size_t len,
		     struct berr *err)
{
	c->lines++;
	if (c->lines > 1)
		return take_chunk(c, line, len, err);
	struct dp_claims_run f;
	if (!parse_header(line, len, &f))
		return bad_line(c, 1, line, len, err,
				"not the line of a berth par claims file (%s "
				"%d shards=N tasks=T input=H)",
				CLAIMS_MAGIC, CLAIMS_VERSION);
	if (c->shard == ALL_SHARDS) {
		c->run = f;
		return 0;
	}
	return check_run(c, &f, err);
}

/* Reads and checks the lines after c->off, to the end of the file: under
 * the lock, so that a line without its newline at the end is cut short,
 * not being written. */
static int claims_read(struct dp_claims *c, struct berr *err)
{
	struct stat st;
	if (fstat(c->fd, &st) < 0)
		return berr_set(err, errno, "claims file %s", c->path);
	if ((uint64_t)st.st_size < c->off)
		return berr_setx(err, EINVAL,
				 "claims file %s shrank from %llu to %llu "
				 "bytes: something else rewrote it",
				 c->path, (unsigned long long)c->off,
				 (unsigned long long)st.st_size);
	char buf[65536];
	size_t have = 0; /* bytes from c->off in buf */
	for (;;) {
		if (c->off + have > FILE_MAX)
			return berr_setx(err, EFBIG,
					 "claims file %s is over %llu bytes: "
					 "not a claims file",
					 c->path, (unsigned long long)FILE_MAX);
		ssize_t n = pread(c->fd, buf + have, sizeof(buf) - have,
				  (off_t)(c->off + have));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "read claims file %s",
					c->path);
		if (n == 0)
			break;
		have += (size_t)n;
		size_t used = 0;
		for (char *nl; (nl = memchr(buf + used, '\n', have - used));) {
			size_t len = (size_t)(nl - buf) - used;
			if (len >= LINE_MAX_LEN)
				break;
			int r = take_line(c, buf + used, len, err);
			if (r < 0)
				return r;
			used += len + 1;
			c->off += len + 1;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
		if (have >= LINE_MAX_LEN)
			return bad_line(c, c->lines + 1, buf, have, err,
					"a line longer than %d bytes",
					LINE_MAX_LEN - 1);
	}
	if (have)
		return bad_line(c, c->lines + 1, buf, have, err,
				"a line cut short (no newline at the end of "
				"the file): its writer died while writing "
				"it, or it is not a claims file");
	return 0;
}

/* ---- the lock
 * ------------------------------------------------------------------------ */

static int claims_lock(struct dp_claims *c, short type, struct berr *err)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
	while (fcntl(c->fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR)
			return berr_set(err, errno,
					"lock claims file %s (the claims need "
					"POSIX record locks that every node "
					"sees: NFS with lockd, or NFSv4)",
					c->path);
		if (c->stop && *c->stop)
			return -EINTR;
	}
	return 0;
}

static void claims_unlock(struct dp_claims *c)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
	(void)fcntl(c->fd, F_SETLK, &fl);
}

/* ---- claiming
 * ------------------------------------------------------------------------ */

/* Writes len bytes at the end (c->off, under the lock); a short write is
 * taken back, so that no line is left cut short. */
static int write_end(struct dp_claims *c, const char *text, size_t len,
		     struct berr *err)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(c->fd, text + done, len - done,
				   (off_t)(c->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			(void)ftruncate(c->fd, (off_t)c->off);
			return berr_set(err, e, "write claims file %s",
					c->path);
		}
		done += (size_t)n;
	}
	return 0;
}

static uint64_t chunk_size(const struct dp_claims *c)
{
	uint64_t n = c->size;
	if (c->run.known) {
		uint64_t left = c->run.tasks - (c->next - 1);
		if (!n)
			n = left / ((uint64_t)GUIDED_K * c->run.shards);
		if (n > left)
			n = left;
		return n ? n : 1;
	}
	return n ? n : c->fixed;
}

/* Appends the next chunk, c->next .. , under the lock. */
static int claim_next(struct dp_claims *c, struct berr *err)
{
	if (c->run.known && c->next > c->run.tasks)
		return berr_setx(err, EINVAL,
				 "claims file %s: seq %llu is beyond the "
				 "run's %llu tasks",
				 c->path, (unsigned long long)c->next,
				 (unsigned long long)c->run.tasks);
	uint64_t count = chunk_size(c);
	char rec[LINE_MAX_LEN];
	int len = snprintf(rec, sizeof(rec), "%llu %llu %u\n",
			   (unsigned long long)c->next,
			   (unsigned long long)count, c->shard);
	int r = write_end(c, rec, (size_t)len, err);
	if (r < 0)
		return r;
	c->lines++;
	r = take_chunk(c, rec, (size_t)len - 1, err);
	c->off += (size_t)len;
	c->taken++;
	return r;
}

const struct dp_claim *dp_claims_chunk(const struct dp_claims *c, uint64_t seq)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dp_claim *k = &c->v[mid];
		if (seq < k->first)
			hi = mid;
		else if (seq - k->first >= k->count)
			lo = mid + 1;
		else
			return k;
	}
	return NULL;
}

int dp_claims_has(struct dp_claims *c, uint64_t seq, struct berr *err)
{
	if (c->broken.code) {
		*err = c->broken;
		return -c->broken.code;
	}
	if (dp_claims_chunk(c, seq))
		return 1;
	if (seq < c->next)
		return 0;
	int r = claims_lock(c, F_WRLCK, err);
	if (r < 0)
		return r;
	r = claims_read(c, err);
	while (r == 0 && seq >= c->next)
		r = claim_next(c, err);
	claims_unlock(c);
	if (r < 0) {
		c->broken = *err;
		return r;
	}
	return dp_claims_chunk(c, seq) != NULL;
}

/* ---- opening
 * ------------------------------------------------------------------------- */

/* The open file, under the lock: line 1 written when it is empty, then
 * every line read. */
static int open_locked(struct dp_claims *c, bool resume, struct berr *err)
{
	struct stat st;
	if (fstat(c->fd, &st) < 0)
		return berr_set(err, errno, "claims file %s", c->path);
	if (!S_ISREG(st.st_mode))
		return berr_setx(err, EINVAL,
				 "claims file %s: not a regular file", c->path);
	if (st.st_size == 0) {
		char head[LINE_MAX_LEN];
		dp_claims_header(&c->run, head, sizeof(head));
		int r = write_end(c, head, strlen(head), err);
		if (r < 0)
			return r;
	}
	int r = claims_read(c, err);
	if (r < 0 || resume || !c->n)
		return r;
	return berr_setx(err, EEXIST,
			 "claims file %s: shard %u has chunks there already "
			 "(line %zu: %llu tasks from seq %llu): it is the "
			 "file of an earlier run; give --resume to go on "
			 "with that run, or remove the file to start anew",
			 c->path, c->shard, c->v[0].line,
			 (unsigned long long)c->v[0].count,
			 (unsigned long long)c->v[0].first);
}

int dp_claims_open(const struct dp_claims_opts *o, struct dp_claims **out,
		   struct berr *err)
{
	*out = NULL;
	if (!o->shard.count || o->shard.index >= o->shard.count ||
	    o->run.shards != o->shard.count)
		return berr_setx(err, EINVAL,
				 "claims file %s: no shard, or not one of "
				 "the run's",
				 o->path);
	if (o->size > DP_CLAIM_SIZE_MAX || (!o->size && !o->fixed))
		return berr_setx(err, EINVAL,
				 "--claim-size %llu: a chunk is 1 to %llu "
				 "tasks",
				 (unsigned long long)o->size,
				 (unsigned long long)DP_CLAIM_SIZE_MAX);
	_cleanup_(dp_claims_closep) struct dp_claims *c = claims_new(o->path);
	c->run = o->run;
	c->shard = o->shard.index;
	c->size = o->size;
	c->fixed = o->fixed;
	c->stop = o->stop;
	c->fd = open(o->path, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
	if (c->fd < 0)
		return berr_set(err, errno, "claims file %s", o->path);
	int r = claims_lock(c, F_WRLCK, err);
	if (r == -EINTR)
		return berr_setx(err, EINTR,
				 "claims file %s: interrupted while waiting "
				 "for its lock",
				 o->path);
	if (r < 0)
		return r;
	r = open_locked(c, o->resume, err);
	claims_unlock(c);
	if (r < 0)
		return r;
	*out = TAKE_PTR(c);
	return 0;
}

int dp_claims_load(const char *path, struct dp_claims **out, struct berr *err)
{
	*out = NULL;
	_cleanup_(dp_claims_closep) struct dp_claims *c = claims_new(path);
	c->shard = ALL_SHARDS;
	c->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (c->fd < 0)
		return berr_set(err, errno, "claims file %s", path);
	struct stat st;
	if (fstat(c->fd, &st) < 0)
		return berr_set(err, errno, "claims file %s", path);
	if (!S_ISREG(st.st_mode) || !st.st_size)
		return berr_setx(err, EINVAL, "claims file %s: %s", path,
				 st.st_size ? "not a regular file"
					    : "empty: no shard opened it");
	int r = claims_lock(c, F_RDLCK, err);
	if (r < 0)
		return r;
	r = claims_read(c, err);
	claims_unlock(c);
	if (r < 0)
		return r;
	*out = TAKE_PTR(c);
	return 0;
}

/* ---- what was read
 * ------------------------------------------------------------------- */

uint64_t dp_claims_next_own(const struct dp_claims *c, uint64_t seq)
{
	const struct dp_claim *k = dp_claims_chunk(c, seq + 1);
	if (k)
		return seq + 1;
	/* the first chunk that starts after seq */
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->v[mid].first <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n ? c->v[lo].first : 0;
}

const struct dp_claims_run *dp_claims_run(const struct dp_claims *c)
{
	return &c->run;
}

const char *dp_claims_path(const struct dp_claims *c)
{
	return c->path;
}

void dp_claims_count(const struct dp_claims *c, uint64_t upto, size_t *chunks,
		     size_t *taken, uint64_t *tasks)
{
	*chunks = c->n;
	*taken = c->taken;
	*tasks = 0;
	for (size_t i = 0; i < c->n && c->v[i].first <= upto; i++) {
		uint64_t end = c->v[i].first + c->v[i].count - 1;
		*tasks += (end < upto ? end : upto) - c->v[i].first + 1;
	}
}

size_t dp_claims_chunks_of(const struct dp_claims *c, uint32_t shard)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		n += c->v[i].shard == shard;
	return n;
}
