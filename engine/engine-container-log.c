/* The log of a launched container: docker's json-file format, written by
 * the container's monitor and read by `berth logs`.
 *
 * A record is one line, {"log":"text\n","stream":"stdout","time":"..."}.
 * The writer rotates before a record would take container.log past its
 * size: container.log.(N-1) goes, each container.log.I becomes .I+1 and
 * container.log starts again. A reader takes the files from the oldest;
 * following, it reads on at the end of container.log and, when a rotation
 * replaced it, drains the old one and reopens the name. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine-internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

char *eng_log_record(const char *stream, const char *text, size_t len,
		     const struct timespec *ts)
{
	_cleanup_free_ char *copy = base_calloc(1, len + 1);
	memcpy(copy, text, len);
	/* cJSON stops at a NUL: a container's NUL bytes become U+0000's
	 * neighbours' problem, not a truncated record */
	for (size_t i = 0; i < len; i++)
		if (!copy[i])
			copy[i] = ' ';
	char when[64];
	base_rfc3339(ts, when, sizeof(when));
	_cleanup_cjson_ cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "log", copy);
	cJSON_AddStringToObject(o, "stream", stream);
	cJSON_AddStringToObject(o, "time", when);
	char *s = cJSON_PrintUnformatted(o);
	if (!s)
		abort(); /* ENOMEM is fatal, as in base_* */
	return s;
}

void eng_log_file_name(unsigned n, char *buf, size_t len)
{
	if (n == 0)
		snprintf(buf, len, "%s", ENG_LOG_FILE);
	else
		snprintf(buf, len, "%s.%u", ENG_LOG_FILE, n);
}

/* ---- the writer ---------------------------------------------------------- */

static int open_current(struct eng_log_writer *w, struct berr *err)
{
	w->fd = openat(w->dirfd, ENG_LOG_FILE,
		       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	struct stat st;
	if (w->fd < 0 || fstat(w->fd, &st) < 0)
		return berr_set(err, errno, "open the log %s", ENG_LOG_FILE);
	w->size = st.st_size;
	return 0;
}

int eng_log_writer_open(struct eng_log_writer *w, int dirfd, int64_t max_size,
			int max_file, struct berr *err)
{
	*w = (struct eng_log_writer){
		.dirfd = dirfd,
		.fd = -1,
		.max_size = max_size > 0 ? max_size : ENG_LOG_MAX_SIZE_DEFAULT,
		.max_file = max_file > 0 ? max_file : ENG_LOG_MAX_FILE_DEFAULT};
	return open_current(w, err);
}

static int rotate(struct eng_log_writer *w, struct berr *err)
{
	char from[64], to[64];
	close(w->fd);
	w->fd = -1;
	if (w->max_file == 1) {
		if (unlinkat(w->dirfd, ENG_LOG_FILE, 0) < 0 && errno != ENOENT)
			return berr_set(err, errno, "rotate the log");
		return open_current(w, err);
	}
	for (int i = w->max_file - 1; i > 0; i--) {
		eng_log_file_name((unsigned)i - 1, from, sizeof(from));
		eng_log_file_name((unsigned)i, to, sizeof(to));
		if (renameat(w->dirfd, from, w->dirfd, to) < 0 &&
		    errno != ENOENT)
			return berr_set(err, errno, "rotate the log %s", from);
	}
	return open_current(w, err);
}

int eng_log_write(struct eng_log_writer *w, const char *stream,
		  const char *text, size_t len, struct berr *err)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	_cleanup_free_ char *rec = eng_log_record(stream, text, len, &ts);
	size_t n = strlen(rec);
	rec[n++] = '\n'; /* over the NUL: the record is written by length */
	if (w->size > 0 && w->size + (int64_t)n > w->max_size) {
		int r = rotate(w, err);
		if (r < 0)
			return r;
	}
	int r = base_write_all(w->fd, rec, n);
	if (r < 0)
		return berr_set(err, -r, "write the log");
	w->size += (int64_t)n;
	return 0;
}

void eng_log_writer_close(struct eng_log_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* ---- --since ------------------------------------------------------------- */

static int parse_duration(const char *s, int64_t *ns)
{
	int64_t total = 0;
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v = strtod(s, &end);
		if (end == s || v < 0)
			return -EINVAL;
		double unit;
		if (!strncmp(end, "ms", 2)) {
			unit = 1e6;
			end += 2;
		} else if (*end == 's' || *end == 'm' || *end == 'h') {
			unit = *end == 's' ? 1e9 : *end == 'm' ? 60e9 : 3600e9;
			end++;
		} else {
			return -EINVAL;
		}
		if (v * unit > 1e18)
			return -ERANGE;
		total += (int64_t)(v * unit);
		s = end;
	}
	*ns = total;
	return 0;
}

/* RFC 3339 with optional fraction and Z or +HH:MM. */
static int parse_rfc3339(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	int64_t frac = 0, scale = 100000000;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += scale > 0 ? (*p - '0') * scale : 0;
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = atoi(p + 1), m = atoi(p + 4);
		off = (int64_t)(h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	if (*p)
		return -EINVAL;
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000 + frac;
	return 0;
}

int eng_parse_since(const char *s, const struct timespec *now, int64_t *ns)
{
	int64_t d;
	if (parse_duration(s, &d) == 0) {
		*ns = (int64_t)now->tv_sec * 1000000000 + now->tv_nsec - d;
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (end != s && !*end && v >= 0 && v < 1e11 && s[0] >= '0' &&
	    s[0] <= '9') {
		*ns = (int64_t)(v * 1e9);
		return 0;
	}
	return parse_rfc3339(s, ns);
}

/* ---- the pump ------------------------------------------------------------ */

/* A stream's bytes not yet logged (a line in the making). */
struct stream {
	const char *name;
	int fd;
	char buf[ENG_LOG_LINE_MAX];
	size_t len;
};

/* Logs the complete lines of s (and, with all, the rest); a full buffer
 * is logged as a piece without a newline. */
static void emit(struct eng_log_writer *w, struct stream *s, bool all)
{
	size_t start = 0;
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] == '\n') {
			eng_log_write(w, s->name, s->buf + start, i + 1 - start,
				      NULL);
			start = i + 1;
		}
	if (start < s->len &&
	    (all || (start == 0 && s->len == sizeof(s->buf)))) {
		eng_log_write(w, s->name, s->buf + start, s->len - start, NULL);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
}

static void read_stream(struct eng_log_writer *w, struct stream *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		emit(w, s, true);
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->len += (size_t)n;
	emit(w, s, false);
}

static int exit_code(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status;
	return 128 + si->si_status;
}

int eng_log_pump(struct eng_log_writer *w, int out, int errfd, int pidfd)
{
	struct stream *s = base_calloc(2, sizeof(*s));
	s[0] = (struct stream){.name = "stdout", .fd = out};
	s[1] = (struct stream){.name = "stderr", .fd = errfd};
	int code = -1;
	bool exited = pidfd < 0;
	while (s[0].fd >= 0 || s[1].fd >= 0 || !exited) {
		struct pollfd p[3] = {
			{.fd = s[0].fd, .events = POLLIN},
			{.fd = s[1].fd, .events = POLLIN},
			{.fd = exited ? -1 : pidfd, .events = POLLIN}};
		int n = poll(p, 3, exited ? 2000 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].revents)
				read_stream(w, &s[i]);
		siginfo_t si = {0};
		if (p[2].revents &&
		    waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) == 0) {
			code = exit_code(&si);
			exited = true;
		}
	}
	for (int i = 0; i < 2; i++)
		if (s[i].fd >= 0) {
			emit(w, &s[i], true);
			close(s[i].fd);
		}
	free(s);
	if (pidfd >= 0)
		close(pidfd);
	/* no pidfd (the init had exited when it was asked for one): the
	 * init is the monitor's only child */
	int st;
	if (code < 0 && waitpid(-1, &st, 0) > 0)
		code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return code;
}

/* ---- the reader ---------------------------------------------------------- */

struct rec {
	char *stream, *text, *time;
	size_t len;
};

struct reader {
	const struct eng_logs_opts *o;
	struct rec *ring; /* --tail: the last o->tail records */
	size_t nring, next;
	bool ring_full;
	bool replay; /* still collecting what was there before -f */
};

static void rec_clear(struct rec *r)
{
	free(r->stream);
	free(r->text);
	free(r->time);
	*r = (struct rec){0};
}

/* One JSON line; what is no record (a torn line) is skipped. */
static int take_line(struct reader *rd, const char *line, size_t len)
{
	_cleanup_cjson_ cJSON *o = cJSON_ParseWithLength(line, len);
	const char *log = cJSON_GetStringValue(cJSON_GetObjectItem(o, "log"));
	const char *stream =
		cJSON_GetStringValue(cJSON_GetObjectItem(o, "stream"));
	const char *time = cJSON_GetStringValue(cJSON_GetObjectItem(o, "time"));
	if (!log || !stream || !time)
		return 0;
	int64_t t;
	if (rd->o->since_ns && parse_rfc3339(time, &t) == 0 &&
	    t < rd->o->since_ns)
		return 0;
	if (rd->replay && rd->o->tail >= 0) {
		if (rd->o->tail == 0)
			return 0;
		struct rec *r = &rd->ring[rd->next];
		rec_clear(r);
		*r = (struct rec){base_strdup(stream), base_strdup(log),
				  base_strdup(time), strlen(log)};
		rd->next = (rd->next + 1) % rd->nring;
		rd->ring_full |= rd->next == 0;
		return 0;
	}
	return rd->o->record(stream, log, strlen(log), time, rd->o->data);
}

/* Hands on the complete lines of buf[0..*len) and keeps the rest. */
static int take_lines(struct reader *rd, char *buf, size_t *len)
{
	size_t start = 0;
	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		int r = take_line(rd, buf + start, i - start);
		if (r < 0)
			return r;
		start = i + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	return 0;
}

/* A record is at most about 6 times ENG_LOG_LINE_MAX (escapes). */
#define READ_BUF (8 * ENG_LOG_LINE_MAX)

struct tailfd {
	int fd;
	char buf[READ_BUF];
	size_t len;
};

/* Reads fd to its end. */
static int drain(struct reader *rd, struct tailfd *t)
{
	for (;;) {
		if (t->len == sizeof(t->buf))
			t->len = 0; /* no record is that long: skip it */
		ssize_t n =
			read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		t->len += (size_t)n;
		int r = take_lines(rd, t->buf, &t->len);
		if (r < 0)
			return r;
	}
}

static int flush_ring(struct reader *rd)
{
	size_t n = rd->ring_full ? rd->nring : rd->next;
	size_t first = rd->ring_full ? rd->next : 0;
	int r = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct rec *x = &rd->ring[(first + i) % rd->nring];
		r = rd->o->record(x->stream, x->text, x->len, x->time,
				  rd->o->data);
	}
	for (size_t i = 0; i < rd->nring; i++)
		rec_clear(&rd->ring[i]);
	rd->replay = false;
	return r;
}

/* The rotated files, oldest first; then container.log, left open in
 * *cur for following. */
static int read_all(struct reader *rd, int dirfd, struct tailfd *cur)
{
	char name[64];
	for (int i = ENG_LOG_MAX_FILES_LIMIT; i > 0; i--) {
		eng_log_file_name((unsigned)i, name, sizeof(name));
		struct tailfd *t = base_calloc(1, sizeof(*t));
		t->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
		int r = t->fd < 0 ? 0 : drain(rd, t);
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		if (r < 0)
			return r;
	}
	cur->fd = openat(dirfd, ENG_LOG_FILE, O_RDONLY | O_CLOEXEC);
	return cur->fd < 0 ? 0 : drain(rd, cur);
}

/* Whether a monitor still runs: it holds monitor.lock. */
static bool monitor_alive(int dirfd)
{
	_cleanup_close_ int fd =
		openat(dirfd, ENG_MONITOR_LOCK, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* After a rotation the name is a new file: the old one is drained, then
 * the new one read from its start. */
static int follow_step(struct reader *rd, int dirfd, struct tailfd *cur)
{
	int r = cur->fd >= 0 ? drain(rd, cur) : 0;
	if (r < 0)
		return r;
	struct stat a, b;
	if (fstatat(dirfd, ENG_LOG_FILE, &b, 0) < 0)
		return 0;
	if (cur->fd >= 0 && fstat(cur->fd, &a) == 0 && a.st_ino == b.st_ino)
		return 0;
	if (cur->fd >= 0)
		close(cur->fd);
	cur->len = 0;
	cur->fd = openat(dirfd, ENG_LOG_FILE, O_RDONLY | O_CLOEXEC);
	return cur->fd < 0 ? 0 : drain(rd, cur);
}

#define TAIL_MAX (4L << 20)

struct eng_log_follower {
	struct reader rd;
	struct tailfd cur;
	int dirfd;
};

struct eng_log_follower *
eng_log_follow_open(int dirfd, const struct eng_logs_opts *o, int *r)
{
	struct eng_log_follower *f = base_calloc(1, sizeof(*f));
	f->rd = (struct reader){.o = o, .replay = true};
	f->dirfd = dirfd;
	if (o->tail > 0) {
		/* the ring is bounded (4M records, more than the default
		 * 3 x 10 MiB of records of 60 bytes at least can hold) */
		f->rd.nring = (size_t)(o->tail < TAIL_MAX ? o->tail : TAIL_MAX);
		f->rd.ring = base_calloc(f->rd.nring, sizeof(*f->rd.ring));
	}
	f->cur.fd = -1;
	*r = read_all(&f->rd, dirfd, &f->cur);
	int r2 = flush_ring(&f->rd);
	if (*r == 0)
		*r = r2;
	free(f->rd.ring);
	f->rd.ring = NULL;
	return f;
}

int eng_log_follow_step(struct eng_log_follower *f)
{
	return follow_step(&f->rd, f->dirfd, &f->cur);
}

void eng_log_follow_close(struct eng_log_follower *f)
{
	if (!f)
		return;
	if (f->cur.fd >= 0)
		close(f->cur.fd);
	free(f);
}

int eng_inotify_wait(int in, int ms)
{
	struct pollfd p = {.fd = in, .events = POLLIN};
	if (poll(&p, 1, ms) < 0 && errno != EINTR)
		return -errno;
	char ev[4096];
	while (read(in, ev, sizeof(ev)) > 0)
		;
	return 0;
}

static int follow(struct reader *rd, int dirfd, struct tailfd *cur)
{
	_cleanup_close_ int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in < 0)
		return -errno;
	_cleanup_free_ char *self = base_sprintf("/proc/self/fd/%d", dirfd);
	if (inotify_add_watch(in, self,
			      IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				      IN_DELETE_SELF) < 0)
		return -errno;
	for (;;) {
		/* the monitor's end is checked before the last read: what
		 * it wrote before it ended is read then */
		bool alive = monitor_alive(dirfd);
		int r = follow_step(rd, dirfd, cur);
		if (r < 0 || !alive)
			return r;
		if ((r = eng_inotify_wait(in, 250)) < 0)
			return r;
		struct stat st;
		if (fstat(dirfd, &st) == 0 && st.st_nlink == 0)
			return 0; /* removed */
	}
}

int eng_ctr_read_log(int dirfd, const struct eng_logs_opts *o)
{
	int r;
	struct eng_log_follower *f = eng_log_follow_open(dirfd, o, &r);
	if (r == 0 && o->follow)
		r = follow(&f->rd, dirfd, &f->cur);
	eng_log_follow_close(f);
	return r;
}
