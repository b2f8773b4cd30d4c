/* `berth par --shard I/N` and `berth par merge`: one run's tasks divided
 * between N pools (a Slurm job step's tasks, a Kubernetes Indexed Job's
 * pods), and their joblogs and results put back together.
 *
 * The division is round-robin by sequence number (dist.h says why): seq s
 * is shard (s - 1) % N's. A shard reads the whole input and keeps every
 * task's global sequence number, so its joblog and results lines are the
 * very lines a single run writes for those tasks; merging is sorting them
 * back by seq and checking that each is there once. With --claims the
 * shards take chunks from a shared file instead (dist-claim.c), and whose
 * each seq is comes from that file, here and in the merge. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "dist/dist-par-internal.h"

/* ---- --shard
 * -------------------------------------------------------------------- */

#define SHARD_FORMS "I/N (0 <= I < N), auto or auto/N"

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* A decimal number from 0 to max, no sign, nothing around it. */
static bool parse_num(const char *s, uint64_t max, uint64_t *out)
{
	return base_parse_u64(s, out) == 0 && *out <= max;
}

/* I (and N) of --shard auto[/N] from the environment: a Slurm job step's
 * SLURM_PROCID and SLURM_NTASKS, or an Indexed Job's
 * JOB_COMPLETION_INDEX with N given. want_n is N, 0 when not given. */
static int shard_auto(const char *spec, uint64_t want_n, char *const *envp,
		      struct dp_shard *out, struct berr *err)
{
	const char *procid = env_get(envp, "SLURM_PROCID");
	const char *ntasks = env_get(envp, "SLURM_NTASKS");
	const char *step = env_get(envp, "SLURM_STEP_ID");
	const char *kube = env_get(envp, "JOB_COMPLETION_INDEX");
	uint64_t i, n = want_n;
	if (procid && !step && !kube)
		return berr_setx(err, EINVAL,
				 "--shard %s: this is a Slurm batch script, "
				 "not a job step: start berth par with srun "
				 "(srun berth par --shard %s ...), one task a "
				 "shard",
				 spec, spec);
	if (procid && step) {
		if (!ntasks || !parse_num(ntasks, DP_SHARDS_MAX, &n) || !n)
			return berr_setx(err, EINVAL,
					 "--shard %s: SLURM_NTASKS=%s is not "
					 "a number of tasks (1 to %u)",
					 spec, ntasks ? ntasks : "(unset)",
					 DP_SHARDS_MAX);
		if (want_n && want_n != n)
			return berr_setx(err, EINVAL,
					 "--shard %s: the job step has "
					 "SLURM_NTASKS=%s tasks, not %llu",
					 spec, ntasks,
					 (unsigned long long)want_n);
		if (!parse_num(procid, n - 1, &i))
			return berr_setx(err, EINVAL,
					 "--shard %s: SLURM_PROCID=%s is not "
					 "a task of 0 to %llu",
					 spec, procid,
					 (unsigned long long)n - 1);
	} else if (kube) {
		if (!want_n)
			return berr_setx(err, EINVAL,
					 "--shard %s: JOB_COMPLETION_INDEX=%s "
					 "gives the index but not the number "
					 "of shards: give --shard auto/N (N "
					 "the Job's completions)",
					 spec, kube);
		if (!parse_num(kube, n - 1, &i))
			return berr_setx(err, EINVAL,
					 "--shard %s: JOB_COMPLETION_INDEX=%s "
					 "is not an index of 0 to %llu",
					 spec, kube, (unsigned long long)n - 1);
	} else {
		return berr_setx(err, EINVAL,
				 "--shard %s: neither a Slurm job step "
				 "(SLURM_PROCID, SLURM_NTASKS) nor a "
				 "Kubernetes Indexed Job (JOB_COMPLETION_INDEX)"
				 ": give --shard I/N",
				 spec);
	}
	*out = (struct dp_shard){(uint32_t)i, (uint32_t)n};
	return 0;
}

int dp_shard_parse(const char *spec, char *const *envp, struct dp_shard *out,
		   struct berr *err)
{
	*out = (struct dp_shard){0, 0};
	if (!spec)
		spec = "";
	_cleanup_free_ char *copy = base_strdup(spec);
	char *slash = strchr(copy, '/');
	if (slash)
		*slash = '\0';
	uint64_t i = 0, n = 0;
	bool is_auto = !strcmp(copy, "auto");
	if ((!slash && !is_auto) || (slash && strchr(slash + 1, '/')) ||
	    (!is_auto && base_parse_u64(copy, &i) < 0) ||
	    (slash && base_parse_u64(slash + 1, &n) < 0))
		return berr_setx(err, EINVAL, "--shard %s: expected %s", spec,
				 SHARD_FORMS);
	if (slash && (n < 1 || n > DP_SHARDS_MAX))
		return berr_setx(err, EINVAL,
				 "--shard %s: N, the number of shards, must "
				 "be 1 to %u",
				 spec, DP_SHARDS_MAX);
	if (is_auto)
		return shard_auto(spec, n, envp, out, err);
	if (i >= n)
		return berr_setx(err, EINVAL,
				 "--shard %s: I must be below N: shards are "
				 "numbered from 0 (0/%llu to %llu/%llu)",
				 spec, (unsigned long long)n,
				 (unsigned long long)n - 1,
				 (unsigned long long)n);
	*out = (struct dp_shard){(uint32_t)i, (uint32_t)n};
	return 0;
}

bool dp_shard_has(const struct dp_shard *s, uint64_t seq)
{
	return seq && (!s->count || (seq - 1) % s->count == s->index);
}

uint64_t dp_shard_next(const struct dp_shard *s, uint64_t seq)
{
	if (!s->count)
		return seq + 1;
	/* seq + 1 is 0-based index seq; the shard's indexes are index mod
	 * count */
	uint64_t r = seq % s->count;
	return seq + (s->index + s->count - r) % s->count + 1;
}

uint64_t dp_shard_tasks(const struct dp_shard *s, uint64_t total)
{
	if (!s->count)
		return total;
	return total > s->index ? (total - s->index - 1) / s->count + 1 : 0;
}

char *dp_shard_path(const char *path, const struct dp_shard *s)
{
	if (!path)
		return NULL;
	if (!s->count)
		return base_strdup(path);
	return base_sprintf("%s.shard-%u-of-%u", path, s->index, s->count);
}

/* ---- the tasks a run makes
 * ---------------------------------------------------------- */

/* A shard's joblog, read whole: a million tasks' lines may be past the
 * default 64 MiB. */
#define JOBLOG_MAX ((size_t)1 << 36)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int dp_mine_read_joblog(struct dp_mine *m, const char *path, struct berr *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = base_read_file_at(AT_FDCWD, path, &text, &len, JOBLOG_MAX);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return berr_set(err, -r, "read --joblog %s", path);
	size_t cap = m->n_done;
	for (char *line = text, *nl;
	     (nl = memchr(line, '\n', len - (size_t)(line - text)));
	     line = nl + 1) {
		char *end;
		errno = 0;
		unsigned long long seq = strtoull(line, &end, 10);
		if (end == line || *end != '\t' || errno || seq == 0)
			continue; /* the header, or not a job line */
		if (m->n_done == cap) {
			cap = cap ? cap * 2 : 1024;
			m->done = base_realloc(m->done, cap, sizeof(uint64_t));
		}
		m->done[m->n_done++] = seq;
	}
	if (m->n_done)
		qsort(m->done, m->n_done, sizeof(uint64_t), cmp_u64);
	return 0;
}

bool dp_mine_done(const struct dp_mine *m, uint64_t seq)
{
	size_t lo = 0, hi = m->n_done;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->done[mid] == seq)
			return true;
		if (m->done[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

uint64_t dp_mine_next(const struct dp_mine *m, uint64_t seq)
{
	do
		seq = m->claims ? dp_claims_next_own(m->claims, seq)
				: dp_shard_next(&m->shard, seq);
	while (seq && dp_mine_done(m, seq));
	return seq;
}

void dp_mine_free(struct dp_mine *m)
{
	free(m->done);
	m->done = NULL;
	m->n_done = 0;
	dp_claims_close(TAKE_PTR(m->claims));
}

/* --resume with claims: every seq of the shard's joblog is in one of its
 * chunks (else the joblog, or the claims file, is another run's). */
static int check_joblog(const struct dp_mine *m, const char *joblog,
			struct berr *err)
{
	for (size_t i = 0; i < m->n_done; i++)
		if (!dp_claims_chunk(m->claims, m->done[i]))
			return berr_setx(
				err, EINVAL,
				"--resume: --joblog %s has seq %llu, which is "
				"in none of shard %u's chunks in claims file "
				"%s: the joblog or the claims file is another "
				"run's",
				joblog, (unsigned long long)m->done[i],
				m->shard.index, dp_claims_path(m->claims));
	return 0;
}

int dp_mine_open(struct dp_mine *m, const struct dp_par_opts *o,
		 const struct dp_source *src, const char *joblog,
		 uint64_t window, struct berr *err)
{
	*m = (struct dp_mine){.shard = o->shard};
	if (o->claim_size && !o->claims)
		return berr_setx(err, EINVAL,
				 "--claim-size needs --claims FILE");
	if (o->claims && !o->shard.count)
		return berr_setx(err, EINVAL,
				 "--claims %s needs --shard (I/N or auto): "
				 "the file divides the tasks between the "
				 "shards of a run",
				 o->claims);
	int r = 0;
	if (o->resume && joblog && (r = dp_mine_read_joblog(m, joblog, err)))
		return berr_wrap(err, "--resume");
	if (!o->claims)
		return 0;
	if (m->n_done && access(o->claims, F_OK) < 0)
		return berr_setx(err, ENOENT,
				 "--resume: --joblog %s has tasks, but the "
				 "claims file %s that gave them is not there",
				 joblog, o->claims);
	struct dp_claims_opts co = {
		.path = o->claims,
		.shard = o->shard,
		.run = {.shards = o->shard.count,
			.known = src->kind != DP_SRC_FD,
			.tasks = src->total,
			.input = src->digest},
		.size = o->claim_size,
		.fixed = window ? window : 1,
		.resume = o->resume,
		.stop = o->stop,
	};
	if ((r = dp_claims_open(&co, &m->claims, err)) < 0)
		return r;
	return check_joblog(m, joblog, err);
}

int dp_mine_has(struct dp_mine *m, uint64_t seq, struct berr *err)
{
	if (!m->claims)
		return dp_shard_has(&m->shard, seq);
	return dp_claims_has(m->claims, seq, err);
}

uint64_t dp_mine_tasks(const struct dp_mine *m, uint64_t total)
{
	return m->claims ? 0 : dp_shard_tasks(&m->shard, total);
}

bool dp_mine_describe(const struct dp_mine *m, uint64_t seqs, char *buf,
		      size_t len)
{
	const struct dp_shard *s = &m->shard;
	if (!s->count)
		return false;
	if (!m->claims) {
		snprintf(buf, len,
			 "shard %u/%u: %llu of the input's %llu tasks",
			 s->index, s->count,
			 (unsigned long long)dp_shard_tasks(s, seqs),
			 (unsigned long long)seqs);
		return true;
	}
	size_t chunks, taken;
	uint64_t tasks;
	dp_claims_count(m->claims, seqs, &chunks, &taken, &tasks);
	char before[64] = "";
	if (chunks > taken)
		snprintf(before, sizeof(before),
			 " (%zu of them claimed before)", chunks - taken);
	snprintf(buf, len,
		 "shard %u/%u: %llu of the input's %llu tasks, in %zu "
		 "chunk%s of claims file %s%s",
		 s->index, s->count, (unsigned long long)tasks,
		 (unsigned long long)seqs, chunks, chunks == 1 ? "" : "s",
		 dp_claims_path(m->claims), before);
	return true;
}

int dp_drop_cut_line(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	char buf[4096];
	for (off_t end = st.st_size; end > 0;) {
		off_t at =
			end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
		ssize_t n = pread(fd, buf, (size_t)(end - at), at);
		if (n <= 0)
			return n < 0 ? -1 : 0;
		char *nl = memrchr(buf, '\n', (size_t)n);
		if (nl && at + (nl - buf) + 1 == st.st_size)
			return 0; /* it ends in a newline */
		if (nl)
			return ftruncate(fd, at + (nl - buf) + 1);
		end = at;
	}
	return st.st_size ? ftruncate(fd, 0) : 0;
}

/* ---- merge
 * ---------------------------------------------------------------------- */

/* The files of the shards are read whole, up to this size each. */
#define MERGE_FILE_MAX ((size_t)1 << 38)

struct mline {
	uint64_t seq;
	size_t order; /* in the order read: a later line of a seq wins */
	const char *p;
	size_t len; /* its newline included */
};

/* One kind of file (the joblog or the results) of every shard. */
struct mset {
	const char *what; /* "--joblog", "--results" */
	const char *path; /* F; NULL: not merged */
	bool joblog;
	uint32_t shards;
	const struct dp_claims *claims; /* who has which seq; NULL: the
					   division is round-robin */
	char **texts;			/* each shard's file */
	struct mline *v;
	size_t n, cap;
	uint64_t max_seq;
};

static void mset_free(struct mset *m)
{
	for (uint32_t i = 0; m->texts && i < m->shards; i++)
		free(m->texts[i]);
	free(m->texts);
	free(m->v);
}

/* The shard of seq: its chunk's in the claims file, or round-robin's;
 * -1 when no chunk has it. */
static int64_t mset_owner(const struct mset *m, uint64_t seq)
{
	if (!m->claims)
		return (int64_t)((seq - 1) % m->shards);
	const struct dp_claim *k = dp_claims_chunk(m->claims, seq);
	return k ? (int64_t)k->shard : -1;
}

/* A line of seq in the file of shard s, which is not its shard's. */
static int misplaced(const struct mset *m, const struct dp_shard *s,
		     const char *path, size_t lineno, uint64_t seq,
		     struct berr *err)
{
	int64_t owner = mset_owner(m, seq);
	if (!m->claims)
		return berr_setx(err, EINVAL,
				 "%s %s, line %zu: seq %llu is shard %lld's, "
				 "not %u's (a file of another --shard? a run "
				 "with --claims needs merge --claims FILE)",
				 m->what, path, lineno, (unsigned long long)seq,
				 (long long)owner, s->index);
	if (owner < 0)
		return berr_setx(err, EINVAL,
				 "%s %s, line %zu: seq %llu is in no chunk of "
				 "claims file %s (a file of another run?)",
				 m->what, path, lineno, (unsigned long long)seq,
				 dp_claims_path(m->claims));
	return berr_setx(err, EINVAL,
			 "%s %s, line %zu: seq %llu is shard %lld's (claims "
			 "file %s, line %zu), not %u's",
			 m->what, path, lineno, (unsigned long long)seq,
			 (long long)owner, dp_claims_path(m->claims),
			 dp_claims_chunk(m->claims, seq)->line, s->index);
}

/* The seq a line starts with: "SEQ\t" in a joblog, {"seq":SEQ, in
 * results. */
static bool line_seq(const struct mset *m, const char *line, uint64_t *seq)
{
	const char *s = line;
	if (!m->joblog) {
		if (strncmp(s, DP_RESULT_HEAD, strlen(DP_RESULT_HEAD)))
			return false;
		s += strlen(DP_RESULT_HEAD);
	}
	if (*s < '1' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	*seq = v;
	return !errno && *end == (m->joblog ? '\t' : ',');
}

/* The lines of shard s's file, text of len bytes. A last line without
 * its newline was cut short by a kill: its task is missing (and reported
 * so when no other line has it). */
static int mset_lines(struct mset *m, const struct dp_shard *s,
		      const char *path, char *text, size_t len,
		      struct berr *err)
{
	size_t lineno = 0;
	for (char *line = text, *nl;
	     (nl = memchr(line, '\n', len - (size_t)(line - text)));
	     line = nl + 1) {
		lineno++;
		size_t n = (size_t)(nl - line) + 1;
		if (m->joblog && lineno == 1 &&
		    !strncmp(line, DP_JOBLOG_HEAD, n))
			continue;
		uint64_t seq;
		if (!line_seq(m, line, &seq))
			return berr_setx(err, EINVAL,
					 "%s %s, line %zu: not a %s line",
					 m->what, path, lineno,
					 m->joblog ? "joblog" : "results");
		if (mset_owner(m, seq) != s->index)
			return misplaced(m, s, path, lineno, seq, err);
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 4096;
			m->v = base_realloc(m->v, m->cap, sizeof(*m->v));
		}
		m->v[m->n] = (struct mline){seq, m->n, line, n};
		m->n++;
		if (seq > m->max_seq)
			m->max_seq = seq;
	}
	return 0;
}

static int mset_load(struct mset *m, uint32_t shards, struct berr *err)
{
	m->shards = shards;
	m->texts = base_calloc(shards, sizeof(char *));
	for (uint32_t i = 0; i < shards; i++) {
		struct dp_shard s = {i, shards};
		_cleanup_free_ char *path = dp_shard_path(m->path, &s);
		size_t len = 0;
		int r = base_read_file_at(AT_FDCWD, path, &m->texts[i], &len,
					  MERGE_FILE_MAX);
		/* with claims, a shard that had no chunk needs no file */
		if (r == -ENOENT && m->claims &&
		    !dp_claims_chunks_of(m->claims, i))
			continue;
		if (r == -ENOENT)
			return berr_setx(err, ENOENT,
					 "%s %s is missing: shard %u/%u did "
					 "not run, or wrote it elsewhere",
					 m->what, path, i, shards);
		if (r < 0)
			return berr_set(err, -r, "%s %s", m->what, path);
		if ((r = mset_lines(m, &s, path, m->texts[i], len, err)) < 0)
			return r;
	}
	return 0;
}

static int cmp_mline(const void *a, const void *b)
{
	const struct mline *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The error for the seqs of 1..last that no line has (m->v sorted, each
 * seq once): how many, and the first few with their shards. */
static int missing_error(const struct mset *m, uint64_t last, struct berr *err)
{
	char list[320] = "";
	size_t len = 0, shown = 0, i = 0;
	for (uint64_t seq = 1; seq <= last && shown < 5; seq++) {
		if (i < m->n && m->v[i].seq == seq) {
			i++;
			continue;
		}
		int64_t owner = mset_owner(m, seq);
		char whose[48] = "in no chunk";
		if (owner >= 0)
			snprintf(whose, sizeof(whose), "shard %lld/%u",
				 (long long)owner, m->shards);
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%s%llu (%s)", shown ? ", " : "",
					(unsigned long long)seq, whose);
		shown++;
	}
	uint64_t lost = last - m->n;
	return berr_setx(err, ENODATA,
			 "%s %s: %llu of %llu tasks are in no shard's file: "
			 "seq %s%s; run their shards again with --resume",
			 m->what, m->path, (unsigned long long)lost,
			 (unsigned long long)last, list,
			 lost > shown ? ", ..." : "");
}

/* Sorts by seq, keeps one line a seq (a joblog may not have two), and
 * checks that the seqs are 1..last. */
static int mset_check(struct mset *m, uint64_t last, uint64_t *replaced,
		      struct berr *err)
{
	qsort(m->v, m->n, sizeof(*m->v), cmp_mline);
	size_t w = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (w && m->v[w - 1].seq == m->v[i].seq) {
			uint64_t seq = m->v[i].seq;
			struct dp_shard s = {(uint32_t)mset_owner(m, seq),
					     m->shards};
			_cleanup_free_ char *path = dp_shard_path(m->path, &s);
			if (m->joblog)
				return berr_setx(err, EINVAL,
						 "%s %s: seq %llu is there "
						 "twice",
						 m->what, path,
						 (unsigned long long)seq);
			(*replaced)++;
			w--;
		}
		m->v[w++] = m->v[i];
	}
	m->n = w;
	if (w && m->v[w - 1].seq > last)
		return berr_setx(err, EINVAL,
				 "%s %s: seq %llu is beyond the run's %llu "
				 "tasks",
				 m->what, m->path,
				 (unsigned long long)m->v[w - 1].seq,
				 (unsigned long long)last);
	return m->n == last ? 0 : missing_error(m, last, err);
}

/* F, under a temporary name first. */
static int mset_write(const struct mset *m, struct berr *err)
{
	_cleanup_free_ char *tmp =
		base_sprintf("%s.merge-%d", m->path, (int)getpid());
	_cleanup_close_ int fd =
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return berr_set(err, errno, "%s %s", m->what, tmp);
	struct dp_buf b = {0};
	if (m->joblog)
		dp_buf_adds(&b, DP_JOBLOG_HEAD);
	int r = 0;
	for (size_t i = 0; i < m->n && r == 0; i++) {
		dp_buf_add(&b, m->v[i].p, m->v[i].len);
		if (b.len >= (1u << 20)) {
			r = base_write_all(fd, b.p, b.len);
			b.len = 0;
		}
	}
	if (r == 0)
		r = base_write_all(fd, b.p, b.len);
	dp_buf_free(&b);
	if (r == 0 && rename(tmp, m->path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return berr_set(err, -r, "%s %s", m->what, m->path);
	}
	return 0;
}

/* N from the names of path's shard files, path.shard-I-of-N, when they
 * all say the same. */
static int find_shards(const char *path, uint32_t *shards, struct berr *err)
{
	_cleanup_free_ char *copy = base_strdup(path);
	char *slash = strrchr(copy, '/');
	const char *dir = ".", *base = copy;
	if (slash) {
		*slash = '\0';
		dir = slash == copy ? "/" : copy;
		base = slash + 1;
	}
	_cleanup_(base_closedirp) DIR *d = opendir(dir);
	if (!d)
		return berr_set(err, errno, "find the shards of %s", path);
	size_t blen = strlen(base);
	unsigned found = 0;
	for (struct dirent *e; (e = readdir(d));) {
		unsigned i, n;
		int end = 0;
		if (strncmp(e->d_name, base, blen) ||
		    sscanf(e->d_name + blen, ".shard-%u-of-%u%n", &i, &n,
			   &end) != 2 ||
		    e->d_name[blen + (size_t)end] || !n || n > DP_SHARDS_MAX)
			continue;
		if (found && found != n)
			return berr_setx(err, EINVAL,
					 "%s: there are files of %u and of %u "
					 "shards: give --shards N",
					 path, found, n);
		found = n;
	}
	if (!found)
		return berr_setx(err, ENOENT,
				 "%s: no shard files (%s.shard-I-of-N) found",
				 path, path);
	*shards = found;
	return 0;
}

/* merge --claims FILE: the file, and N and the run's tasks from its
 * line 1, which --shards and --tasks must not contradict. */
static int merge_claims(const struct dp_merge_opts *o, struct dp_claims **c,
			uint32_t *shards, uint64_t *tasks, struct berr *err)
{
	int r = dp_claims_load(o->claims, c, err);
	if (r < 0)
		return r;
	const struct dp_claims_run *run = dp_claims_run(*c);
	if (o->shards && o->shards != run->shards)
		return berr_setx(err, EINVAL,
				 "--shards %u: claims file %s is of a run of "
				 "%u shards",
				 o->shards, o->claims, run->shards);
	if (o->tasks && run->known && o->tasks != run->tasks)
		return berr_setx(err, EINVAL,
				 "--tasks %llu: claims file %s is of a run of "
				 "%llu tasks",
				 (unsigned long long)o->tasks, o->claims,
				 (unsigned long long)run->tasks);
	*shards = run->shards;
	if (run->known)
		*tasks = run->tasks;
	return 0;
}

int dp_par_merge(const struct dp_merge_opts *o, struct dp_merge_stats *st,
		 struct berr *err)
{
	*st = (struct dp_merge_stats){0};
	if (!o->joblog && !o->results)
		return berr_setx(err, EINVAL,
				 "give --joblog FILE, --results FILE or both");
	if (o->shards > DP_SHARDS_MAX)
		return berr_setx(err, EINVAL,
				 "--shards %u: the number of shards must be 1 "
				 "to %u",
				 o->shards, DP_SHARDS_MAX);
	_cleanup_(dp_claims_closep) struct dp_claims *claims = NULL;
	uint32_t n = o->shards;
	uint64_t last = o->tasks;
	int r = o->claims ? merge_claims(o, &claims, &n, &last, err)
		: n	  ? 0
		    : find_shards(o->joblog ? o->joblog : o->results, &n, err);
	struct mset sets[2] = {
		{.what = "--joblog", .path = o->joblog, .joblog = true},
		{.what = "--results", .path = o->results},
	};
	for (size_t k = 0; k < 2 && r == 0; k++)
		if (sets[k].path) {
			sets[k].claims = claims;
			r = mset_load(&sets[k], n, err);
		}
	for (size_t k = 0; k < 2 && !last; k++)
		if (sets[k].max_seq > last)
			last = sets[k].max_seq;
	for (size_t k = 0; k < 2 && r == 0; k++)
		if (sets[k].path)
			r = mset_check(&sets[k], last, &st->replaced, err);
	/* nothing is written unless every file is whole */
	for (size_t k = 0; k < 2 && r == 0; k++)
		if (sets[k].path)
			r = mset_write(&sets[k], err);
	for (size_t k = 0; k < 2; k++)
		mset_free(&sets[k]);
	st->shards = n;
	st->tasks = last;
	return r;
}
