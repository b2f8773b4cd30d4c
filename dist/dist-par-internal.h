/* Private to dist/: `berth par`'s pool of worker containers
 * (dist-pool.c), its engine (dist-par.c), the CPU lists (dist-cpus.c) and
 * what the coordinator and the agent (dist/agent/berth-agent.c) say to
 * each other through the queue.
 *
 * The agent is a static program built from libc and the worker library
 * alone: the part of this header it includes (everything above
 * DP_COORDINATOR_ONLY) is plain data and static inline functions. */
#ifndef BERTH_DIST_PAR_INTERNAL_H
#define BERTH_DIST_PAR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dist/berth-queue-layout.h"

/* ---- the agent's protocol ----------------------------------------------
 *
 * The agent is bind-mounted read-only here: /dev is the container's own
 * tmpfs, so the mount point is made there and never in the (shared,
 * read-only) root filesystem. */
#define DP_AGENT_PATH "/dev/.berth-agent"

/* An exec-mode payload is NUL-terminated fields: the job's sequence number
 * in decimal, then the words of the command. In a word DP_MARK_SLOT stands
 * for the worker's slot ({%}, known only to the worker) and DP_MARK_ESC
 * makes the next byte literal. Line and lib payloads are the argument's
 * bytes as they are. */
#define DP_MARK_SLOT '\x01'
#define DP_MARK_ESC '\x02'

/* The head of every exec- and line-mode result, followed by out_len bytes
 * of the task's stdout, then err_len bytes of its stderr. The status
 * bw_done() carries is the exit status, or 128 + the signal. */
struct dp_agent_result {
	int32_t exit;	  /* 0..255; -1 when a signal ended the task */
	int32_t signal;	  /* the signal that ended it, 0 if none */
	uint32_t flags;	  /* DP_RES_* */
	uint32_t out_len; /* bytes of stdout that follow */
	uint32_t err_len; /* bytes of stderr after those */
	uint32_t reserved;
	uint64_t start_us; /* CLOCK_REALTIME when it started */
	uint64_t run_us;   /* how long it ran */
};
_Static_assert(sizeof(struct dp_agent_result) == 40, "agent result head");

#define DP_RES_TIMEOUT 1u   /* killed after --timeout */
#define DP_RES_TRUNCATED 2u /* output beyond the result size was dropped */

/* Decodes one payload word into out (at least strlen(word) + 20 bytes),
 * the slot written for DP_MARK_SLOT. Returns the length written. */
static inline size_t dp_word_decode(const char *word, unsigned slot, char *out)
{
	size_t n = 0;
	for (const char *s = word; *s; s++) {
		if (*s == DP_MARK_ESC && s[1]) {
			out[n++] = *++s;
		} else if (*s == DP_MARK_SLOT) {
			char num[16];
			size_t k = 0;
			unsigned v = slot;
			do {
				num[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			while (k)
				out[n++] = num[--k];
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return n;
}

#ifndef DP_AGENT_ONLY /* ---- the coordinator ------------------------------   \
		       */

#include <sys/types.h>

#include "dist/dist.h"
#include "runtime/runtime.h"

/* ---- a growing buffer (dist-buf.c) ---- */

struct dp_buf {
	char *p;
	size_t len, cap;
};

void dp_buf_add(struct dp_buf *b, const void *data, size_t len);
/* Room for more bytes and the NUL after them. */
void dp_buf_reserve(struct dp_buf *b, size_t more);
/* len more bytes at the end, to fill (NUL-terminated after them). */
void *dp_buf_append(struct dp_buf *b, size_t len);
void dp_buf_addc(struct dp_buf *b, char c);
void dp_buf_adds(struct dp_buf *b, const char *s);
void dp_buf_printf(struct dp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string, quotes included; invalid UTF-8 becomes U+FFFD. */
void dp_buf_json(struct dp_buf *b, const char *s, size_t len);
void dp_buf_free(struct dp_buf *b);

/* ---- the joblog (dist-par.c, dist-shard.c) ----
 *
 * GNU parallel's: this header line, then a line a task, tab-separated,
 * starting with the task's sequence number. */
#define DP_JOBLOG_HEAD                                                         \
	"Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\t"   \
	"Command\n"
/* Every line of the results file starts so, the seq follows. */
#define DP_RESULT_HEAD "{\"seq\":"

/* ---- claims: a shard's chunks taken from a shared file (dist-claim.c) ----
 *
 * With --claims FILE the shards of a run divide its tasks as they go:
 * each claims a chunk of consecutive seqs when it needs work, so that a
 * faster node takes more. FILE, on a filesystem every node mounts, is
 * the only thing they share. It is text, appended to and never
 * rewritten, and is also the record of which shard has which task:
 *
 *   berth-par-claims 1 shards=N tasks=T input=H    the run (line 1)
 *   FIRST COUNT SHARD                              a chunk (every line after)
 *
 * T is the input's number of tasks and H a digest of the input (FNV-1a,
 * 16 hex digits); both are "-" for stdin, whose end no shard knows in
 * advance. A chunk gives seqs FIRST .. FIRST + COUNT - 1 to shard SHARD
 * (0 .. N - 1). The first chunk starts at seq 1 and each at the end of the
 * one before, so that the chunks divide 1 .. the next free seq with no
 * gap and no overlap, and the next free seq is the end of the last one.
 *
 * A shard appends a chunk under a POSIX record lock on the whole file
 * (fcntl F_SETLKW, which NFS carries to the server through lockd or
 * NFSv4, where flock may stay local to a node), having first read what
 * the others appended; it reads and writes at offsets, never through
 * O_APPEND, whose end an NFS client may not know. The file is written by
 * other nodes, and maybe by a crashed or stale berth: every line is
 * checked before it is believed (a header of this run, each chunk where
 * the one before ends, counts and shards in range, numbers of digits
 * alone, lines of at most 128 bytes with their newline), and a line that
 * is not so, or cut short, is an error naming the file and the line.
 *
 * Chunk sizes: --claim-size N; else, when the input's tasks are known
 * (arguments, a file, a range), guided: the tasks no chunk has / (4 N),
 * at least 1, so that the chunks shrink as the run nears its end and no
 * shard is left with a large one while the others idle; for stdin, a
 * fixed size (the pool's window of tasks ahead). */
struct dp_claims;

/* What names a run in line 1. */
struct dp_claims_run {
	uint32_t shards; /* N */
	bool known;	 /* the input's tasks are known (not stdin) */
	uint64_t tasks;	 /* T, when known */
	uint64_t input;	 /* H, when known */
};

/* A chunk of the file. */
struct dp_claim {
	uint64_t first, count;
	uint32_t shard;
	size_t line; /* the file's line that gives it */
};

struct dp_claims_opts {
	const char *path;
	struct dp_shard shard; /* the claiming shard (count >= 1) */
	struct dp_claims_run run;
	uint64_t size;	/* every chunk's tasks (--claim-size); 0: guided
			   when the tasks are known, else fixed */
	uint64_t fixed; /* the chunk for an unknown number of tasks (>= 1) */
	bool resume;	/* the shard may have chunks there already */
	/* set by a signal handler: a signal while waiting for the lock
	 * ends the wait (-EINTR); NULL: waits on */
	volatile int *stop;
};

/* Opens the claims file of o->path for shard o->shard, creating it with
 * line 1 of o->run when it is new or empty, and reads it whole under the
 * lock: every line checked, line 1 the same run as o->run, and without
 * o->resume none of the shard's chunks there (the file of an earlier
 * run). Returns 0 with *out (dp_claims_close), or -errno with err. */
int dp_claims_open(const struct dp_claims_opts *o, struct dp_claims **out,
		   struct berr *err);
/* Opens a claims file to read (`berth par merge`): every chunk of every
 * shard, checked as above, under a read lock; the run is line 1's. */
int dp_claims_load(const char *path, struct dp_claims **out, struct berr *err);
/* Whether seq is the shard's (1) or another's (0), asked for seqs in
 * increasing order (a shard's input, one by one). A seq past every chunk
 * read so far takes the lock, reads the chunks the others appended, and
 * when seq is still free claims the next chunk, which starts at it.
 * -EINTR: a signal came while waiting for the lock with *o->stop set
 * (err untouched); other -errno with err: the file cannot be read or
 * written, or holds a bad line (then every later call fails so too). One
 * process at a time per dp_claims; any number of processes and nodes on
 * one file. */
int dp_claims_has(struct dp_claims *c, uint64_t seq, struct berr *err);
/* The chunk that has seq, among those read (every shard's when loaded,
 * the shard's own when opened), or NULL. */
const struct dp_claim *dp_claims_chunk(const struct dp_claims *c, uint64_t seq);
/* The shard's first seq after seq in its chunks so far; 0: none yet. */
uint64_t dp_claims_next_own(const struct dp_claims *c, uint64_t seq);
const struct dp_claims_run *dp_claims_run(const struct dp_claims *c);
const char *dp_claims_path(const struct dp_claims *c);
/* Of the chunks read: how many (the shard's when opened, every one when
 * loaded), how many this process claimed, and how many of their seqs
 * are at most upto. */
void dp_claims_count(const struct dp_claims *c, uint64_t upto, size_t *chunks,
		     size_t *taken, uint64_t *tasks);
/* How many of the chunks read are shard's. */
size_t dp_claims_chunks_of(const struct dp_claims *c, uint32_t shard);
/* Closes the file; accepts NULL. */
void dp_claims_close(struct dp_claims *c);
static inline void dp_claims_closep(struct dp_claims **c)
{
	dp_claims_close(*c);
}
/* The text of line 1 for run, its newline included, into buf. */
void dp_claims_header(const struct dp_claims_run *run, char *buf, size_t len);

/* ---- the tasks a run makes (dist-shard.c) ----
 *
 * The run makes a task of the input's seq s when s is its shard's (round-
 * robin, or in one of its chunks with --claims) and, with --resume, its
 * joblog does not have s (GNU parallel's --resume: a task the joblog
 * records, failed or not, is not run again). */
struct dp_mine {
	struct dp_shard shard;
	struct dp_claims *claims; /* --claims; NULL: round-robin */
	uint64_t *done;		  /* the joblog's seqs, sorted */
	size_t n_done;
};

struct dp_source;

/* Sets m up for o's run, whose input src is open: o's shard; with
 * o->resume the seqs of joblog (the shard's own file, or NULL); with
 * o->claims the claims file opened (dp_claims_open; window is the fixed
 * chunk for stdin), and every seq of the joblog checked to be in one of
 * the shard's chunks. A claims file is created only when the joblog is
 * empty. Returns 0 or -errno with err. */
int dp_mine_open(struct dp_mine *m, const struct dp_par_opts *o,
		 const struct dp_source *src, const char *joblog,
		 uint64_t window, struct berr *err);
/* Whether the input's seq is the shard's (1) or not (0), asked in
 * increasing order: with claims, dp_claims_has (which may claim a chunk,
 * and returns its errors). */
int dp_mine_has(struct dp_mine *m, uint64_t seq, struct berr *err);
/* How many of the input's total tasks the shard runs; 0: not known (with
 * claims, or total 0). */
uint64_t dp_mine_tasks(const struct dp_mine *m, uint64_t total);
/* The summary line of a divided run, "shard I/N: ...", its tasks among
 * the input's seqs 1..seqs; false when the run is not divided. */
bool dp_mine_describe(const struct dp_mine *m, uint64_t seqs, char *buf,
		      size_t len);

/* Adds the seqs of the joblog at path (the shard's own file) to m. The
 * header, and a last line cut short by a kill, are not tasks; a missing
 * file is a first run (0). Returns 0 or -errno with err. */
int dp_mine_read_joblog(struct dp_mine *m, const char *path, struct berr *err);
/* Whether the joblog has seq. */
bool dp_mine_done(const struct dp_mine *m, uint64_t seq);
/* Whether every seq of the input is the run's to make a task of: not
 * divided, nothing journaled. Inline: asked once a task. */
static inline bool dp_mine_all(const struct dp_mine *m)
{
	return m->shard.count <= 1 && !m->claims && !m->n_done;
}
/* The first seq after seq that the run makes a task of (0: its first):
 * -k prints in this order. 0: not known yet (with claims, past the
 * shard's chunks so far: the next task made is the next to print). */
uint64_t dp_mine_next(const struct dp_mine *m, uint64_t seq);
/* Frees the joblog's seqs and closes the claims. */
void dp_mine_free(struct dp_mine *m);

/* A file that --resume appends to: when its last line lacks its newline
 * (the run before was killed while writing it), that line goes, rather
 * than have the next one glued to it. fd is open for reading and
 * writing. Returns 0, or -1 with errno. */
int dp_drop_cut_line(int fd);

/* The tasks o makes, in order, without starting anything: each(seq, arg)
 * for each, the input read to its end (stdin too), o's shard and, with
 * o->resume, its joblog applied. For tests. Returns 0 or -errno with err
 * (a bad source, an unreadable joblog). */
int dp_par_tasks(const struct dp_par_opts *o,
		 void (*each)(uint64_t seq, const char *arg, void *data),
		 void *data, struct berr *err);

/* ---- replacement strings (dist-expand.c) ----
 *
 * Appends the exec-mode payload of one job to out: its sequence number,
 * then each template word with {} {.} {/} {//} {/.} {#} replaced and {%}
 * marked for the worker. When no word holds a replacement string the
 * argument is appended as one more word, as GNU parallel does. */
void dp_expand(char *const *tmpl, const char *arg, uint64_t seq,
	       struct dp_buf *out);
/* The command line a payload stands for, words joined by spaces, for
 * the joblog. Caller frees. */
char *dp_payload_command(const char *payload, size_t len, unsigned slot);

/* ---- CPUs and cgroup directories (dist-cpus.c) ---- */

/* The directory of the caller's own group in the hierarchy that holds the
 * cpuset controller, from the text of /proc/self/cgroup and
 * /proc/self/mountinfo; *v2 tells which file names apply. -ENOENT when no
 * hierarchy has cpuset. Caller frees *dir. */
int dp_cpuset_dir(const char *self_cgroup, const char *mountinfo, char **dir,
		  bool *v2);

/* ---- the pool of worker containers (dist-pool.c) ---- */

struct dp_worker {
	uint32_t id;	 /* the queue's worker id; the container is w<id> */
	int cpu;	 /* the CPU it is pinned to */
	pid_t helper;	 /* the process that created it and waits for it */
	int fd;		 /* read end of the helper's message pipe */
	pid_t init;	 /* the container's init, once started */
	bool up;	 /* created and started */
	bool gave_up;	 /* failed too often: not restarted any more */
	int fails;	 /* exits in a row before a first task */
	int starts;	 /* times started */
	uint64_t tasks;	 /* results since the last start */
	uint64_t total;	 /* results in all */
	uint64_t cpu_ns; /* CPU time of its processes, summed over starts */
};

struct dp_pool;

/* A worker that ended: its index and how. */
struct dp_exit {
	size_t index;
	int status;	   /* the init's wait status; -1 unknown */
	bool start_failed; /* create or start failed (err says why) */
	struct berr err;
};

/* The tasks of `berth par`'s input, one argument each (dist-source.c):
 * `::: args`, a file read whole, a range, or a stream read as it comes. */
enum dp_src_kind { DP_SRC_ARGS, DP_SRC_RANGE, DP_SRC_BUF, DP_SRC_FD };

struct dp_source {
	enum dp_src_kind kind;
	char *const *args;
	size_t next;
	int64_t cur, end, step;
	char *buf; /* DP_SRC_BUF: the whole file; DP_SRC_FD: what was read */
	size_t len, off;
	int fd;
	bool eof, ended;
	uint64_t total;	 /* tasks in all, 0 while unknown */
	uint64_t digest; /* FNV-1a of the input when known whole (the
			    arguments, the file, the range), else 0 */
	char num[32];
	uint8_t num_at; /* DP_SRC_RANGE: where the last number starts in num */
};

/* Opens o's input (args, -a/:::: file, --range, or stdin). */
int dp_source_open(const struct dp_par_opts *o, struct dp_source *src,
		   struct berr *err);
/* The next argument in *arg (valid until the next call): 1; 0: none yet
 * (a stream has no complete line ready); -1: the input has ended. */
int dp_source_next(struct dp_source *src, const char **arg);
/* dp_source_next(), with the argument's length in *len. */
int dp_source_next_len(struct dp_source *src, const char **arg, size_t *len);
/* The input ends here: dp_source_next returns -1 from now on. */
void dp_source_stop(struct dp_source *src);

/* ---- chunks of tasks (dist-par-chunk.c) ----
 *
 * Line and lib mode send a task's argument as its payload: such tasks go
 * to the queue a chunk at a time (dq_submit_chunk). */

/* The most work a chunk holds, in one worker's milliseconds, once the
 * workers' pace is known. */
#define DP_CHUNK_MS 4
/* A chunk stops taking tasks past this many bytes of arguments: far
 * below the queue's arena (16 MiB), which must also hold the chunks
 * ahead of it, and within the part of it that stays in the cache. */
#define DP_CHUNK_BYTES (1u << 20)
/* Chunks in flight a worker: one it runs, the next ones ready. */
#define DP_CHUNKS_AHEAD 3

struct dp_chunk {
	uint64_t id0;	      /* the queue id of its first task */
	uint32_t count, left; /* tasks, tasks without a result */
	uint32_t cap;	      /* tasks the arrays hold */
	/* the arguments packed as the queue takes them (a struct bq_packed,
	 * then the bytes, for each): copied to the arena at once */
	struct dp_buf text;
	uint32_t *off;	       /* of each argument's bytes in text */
	uint64_t *seq;	       /* of each task */
	uint64_t *answered;    /* a bit a task */
	struct dp_chunk *next; /* in its dp_chunks slot, or spare */
};

/* memcpy without a call, for the short arguments of most tasks (numbers,
 * short lines): two copies of a fixed size that overlap cover every
 * length from that size to twice it, touching only the len bytes. */
static inline void dp_copy_short(char *dst, const char *src, size_t len)
{
	if (len >= 16 && len <= 32) {
		memcpy(dst, src, 16);
		memcpy(dst + len - 16, src + len - 16, 16);
	} else if (len >= 8 && len < 16) {
		memcpy(dst, src, 8);
		memcpy(dst + len - 8, src + len - 8, 8);
	} else if (len >= 4 && len < 8) {
		memcpy(dst, src, 4);
		memcpy(dst + len - 4, src + len - 4, 4);
	} else if (len && len < 4) {
		dst[0] = src[0];
		dst[len / 2] = src[len / 2];
		dst[len - 1] = src[len - 1];
	} else if (len) {
		memcpy(dst, src, len);
	}
}

/* Appends a task, arg of len bytes (count < cap). Inline: it runs once a
 * task of a range or a file, in the coordinator's one thread. */
static inline void dp_chunk_add(struct dp_chunk *c, uint64_t seq,
				const char *arg, size_t len)
{
	/* an argument is a line or a number: far below 4 GiB */
	struct bq_packed h = {.len = (uint32_t)len};
	size_t need = sizeof(h) + len;
	struct dp_buf *t = &c->text;
	/* a call only to grow: this runs once a task, for 10 ns tasks */
	if (t->len + need >= t->cap)
		dp_buf_reserve(t, need);
	char *at = t->p + t->len;
	t->len += need;
	t->p[t->len] = '\0';
	memcpy(at, &h, sizeof(h));
	dp_copy_short(at + sizeof(h), arg, len);
	c->seq[c->count] = seq;
	c->off[c->count] = (uint32_t)(at + sizeof(h) - c->text.p);
	c->count++;
}
/* Task k's argument: len bytes, not NUL-terminated. */
const char *dp_chunk_arg(const struct dp_chunk *c, uint32_t k);
size_t dp_chunk_arg_len(const struct dp_chunk *c, uint32_t k);
/* Notes task k's result; false when k is out of range or had one. */
bool dp_chunk_answer(struct dp_chunk *c, uint32_t k);
/* Submits the chunk without waiting: as dq_submit_chunk(). */
int dp_chunk_submit(struct dq *q, struct dp_chunk *c);
/* The next chunk's size: left tasks for workers that each do per_ms
 * tasks a millisecond (0: not known yet). */
uint32_t dp_chunk_size(uint64_t left, size_t workers, double per_ms);

/* Chunks in flight by id0 (a chained hash), and the ones done, to use
 * again: a chunk of a thousand tasks is some 50 KiB of arrays and text. */
struct dp_chunks {
	struct dp_chunk **b;
	size_t mask, n;
	struct dp_chunk *spare, *last; /* last: the one found last */
	size_t nspare;
};
/* An empty chunk for up to cap tasks, a spare one if there is. */
struct dp_chunk *dp_chunk_new(struct dp_chunks *m, uint32_t cap);
/* Frees a chunk that was never put. */
void dp_chunk_free(struct dp_chunk *c);
void dp_chunks_init(struct dp_chunks *m, size_t n);
void dp_chunks_put(struct dp_chunks *m, struct dp_chunk *c);
/* The chunk of id0, or NULL; the last one found is tried first (a
 * worker's results come a chunk at a time). */
struct dp_chunk *dp_chunks_find(struct dp_chunks *m, uint64_t id0);
/* Takes c out, to use again or free. */
void dp_chunks_drop(struct dp_chunks *m, struct dp_chunk *c);
/* One of the chunks, or NULL. */
struct dp_chunk *dp_chunks_any(const struct dp_chunks *m);
void dp_chunks_free(struct dp_chunks *m);

/* One line on how a worker ended ("worker w3 exited with status 127: its
 * command was not found in the container"). */
void dp_describe_exit(const struct dp_exit *ev, char *buf, size_t len);

/* Makes the pool's state root (<root>/par-<pid>), its cgroup and the
 * workers' table: worker i gets cpus[i]. Nothing is started. */
int dp_pool_open(const struct rt_ctx *ctx, const struct dp_par_opts *o,
		 const int *cpus, size_t n, struct dq *q, struct dp_pool **out,
		 struct berr *err);
/* Starts every worker at once and waits until each runs or fails. On
 * error dp_pool_close() stops and removes the ones that run. */
int dp_pool_start_all(struct dp_pool *p, struct berr *err);
/* Starts worker i again (after it ended), without waiting. */
int dp_pool_restart(struct dp_pool *p, size_t i, struct berr *err);
/* Takes one worker that ended, without blocking: 1 with *ev, 0 none. */
int dp_pool_reap(struct dp_pool *p, struct dp_exit *ev);
/* SIGKILL to every running worker (the helpers clean up after them). */
void dp_pool_kill(struct dp_pool *p);
void dp_pool_kill_one(struct dp_pool *p, size_t i);
struct dp_worker *dp_pool_worker(struct dp_pool *p, size_t i);
size_t dp_pool_running(const struct dp_pool *p);
/* Waits up to wait_ms for the workers to end by themselves (their CPU
 * time is then known). */
void dp_pool_wait(struct dp_pool *p, int wait_ms);
/* Waits up to wait_ms for the workers to end by themselves, kills the
 * rest, removes the containers, the pool's cgroup and its state root, and
 * frees p. Returns 0 or the first cleanup error. Accepts NULL. */
int dp_pool_close(struct dp_pool *p, int wait_ms, struct berr *err);

/* The config.json of worker i (for dp_pool and its tests). Caller
 * frees. */
char *dp_pool_config(const struct dp_pool *p, size_t i,
		     const struct dp_net *net);

#endif /* DP_AGENT_ONLY */
#endif
