/* The engine of `berth par`: reads the tasks (::: arguments, a file, a
 * range or stdin, one argument each), turns each into a payload, keeps a
 * bounded window of them in the queue, collects the results, prints the
 * output (as each task completes, or in input order with -k), writes the
 * results and the joblog, retries and halts as GNU parallel does, and
 * restarts workers that die.
 *
 * One thread does everything: submissions never block (dq_submit with no
 * wait), the collector waits at most a few milliseconds, and in between
 * the loop looks at the input, the workers' helpers and the signals. */
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "dist/dist-par-internal.h"

/* ---- tasks and their outcomes
 * -------------------------------------------------- */

struct outcome {
	int exit, sig;
	int error; /* abandoned: the queue's reason (dq_result.error) */
	uint32_t flags, worker, attempts; /* attempts: of this run */
	uint32_t deliveries; /* to workers, over every run of the task */
	int cpu;
	bool abandoned, timed; /* timed: start_us/run_us are known */
	/* killed (or its worker lost) after berth was told to stop: not
	 * journaled, so that --resume runs it again */
	bool interrupted;
	uint64_t start_us, run_us;
	const char *out, *err;
	size_t out_len, err_len;
};

struct task {
	uint64_t seq, qid;
	/* arg_len bytes; NUL-terminated in a task of its own, not in one
	 * that points into its chunk (on_chunk_result) */
	char *arg;
	size_t arg_len;
	char *payload;
	size_t payload_len;
	uint32_t runs, deliveries;
	struct task *qnext; /* by queue id; the retry list */
	struct task *snext; /* by sequence number, finished (-k) */
	struct outcome oc;  /* finished, waiting for its turn (-k) or held */
	char *out_copy;
	int64_t until; /* held: finished then (mono_ms) */
};

struct tmap {
	struct task **b;
	size_t mask;
};

static void tmap_init(struct tmap *m, size_t n)
{
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	m->b = base_calloc(cap, sizeof(*m->b));
	m->mask = cap - 1;
}

static void tmap_put(struct tmap *m, struct task *t, bool by_seq)
{
	uint64_t k = by_seq ? t->seq : t->qid;
	struct task **slot = &m->b[(k * 0x9e3779b97f4a7c15ull >> 20) & m->mask];
	if (by_seq)
		t->snext = *slot;
	else
		t->qnext = *slot;
	*slot = t;
}

static struct task *tmap_take(struct tmap *m, uint64_t k, bool by_seq)
{
	struct task **pp = &m->b[(k * 0x9e3779b97f4a7c15ull >> 20) & m->mask];
	for (; *pp; pp = by_seq ? &(*pp)->snext : &(*pp)->qnext) {
		struct task *t = *pp;
		if ((by_seq ? t->seq : t->qid) != k)
			continue;
		*pp = by_seq ? t->snext : t->qnext;
		return t;
	}
	return NULL;
}

static void task_free(struct task *t)
{
	if (!t)
		return;
	if (t->payload != t->arg)
		free(t->payload);
	free(t->arg);
	free(t->out_copy);
	free(t);
}

static void tmap_free(struct tmap *m, bool by_seq)
{
	for (size_t i = 0; m->b && i <= m->mask; i++)
		while (m->b[i]) {
			struct task *t = m->b[i];
			m->b[i] = by_seq ? t->snext : t->qnext;
			task_free(t);
		}
	free(m->b);
}

/* ---- the engine's state
 * ---------------------------------------------------------- */

struct par {
	const struct dp_par_opts *o;
	struct dq *q;
	struct dp_pool *pool;
	struct dp_source src;
	struct tmap by_qid, by_seq;
	struct task *retry_head, *retry_tail, *pending;
	/* line and lib mode: tasks go out a chunk at a time */
	bool chunked;
	struct dp_chunks chunks;
	struct dp_chunk *pending_chunk; /* made, not taken by the queue yet */
	/* ended by a signal or lost their worker: see hold_task() */
	struct task *held_head, *held_tail;
	uint64_t held;
	int *cpus; /* of the workers */
	size_t nworkers;
	char *cpulist;	     /* the workers' CPUs, for messages */
	uint64_t next_seq;   /* the last sequence number given out */
	uint64_t next_print; /* -k: the next one to print */
	uint64_t made;	     /* tasks made from the input (this run's) */
	uint64_t inflight, window;
	uint64_t finished, failed, run_us;
	bool input_done, stopping, halted, closing, out_broken, workers_gone;
	int halt_status;
	/* per worker: killed for writing garbage over the queue */
	bool *corrupted;
	int results_fd, joblog_fd;
	/* --results and --joblog, with the shard's suffix */
	char *results_path, *joblog_path;
	/* the tasks' stdout, written in large pieces: a million results
	 * must not cost a million write()s */
	struct dp_buf out;
	/* the results and joblog lines, flushed after the output they
	 * record: a SIGKILL loses a task's journal line rather than leave
	 * a journal line whose output was never written (--resume redoes
	 * the first kind) */
	struct dp_buf results, joblog;
	struct dp_mine mine; /* the input's tasks this run makes */
	uint64_t skipped;
	int64_t t0, t_up, t_last_report;
	uint64_t start_ms; /* how long the pool took to start */
	struct berr fatal;
};

/* for the loop's every pass (a result each): a read of the vDSO page,
 * good to a few ms, which is all housekeeping needs */
static int64_t mono_ms_coarse(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report(struct par *p, enum dp_report kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void flush_out(struct par *p);

/* lib mode: tasks in flight a worker, the depth below which the collector
 * sleeps until woken, and its nap above it */
#define LIB_WINDOW 256u
/* line mode: a task is a pipe round trip, cheap enough that a worker
 * waiting for the coordinator's next one costs more than the task; a few
 * queued a worker keep it busy while --halt soon starts little more */
#define LINE_WINDOW 16u
#define LIB_BATCH_LOW 32u
#define LIB_BATCH_NAP_NS 50000

static void report(struct par *p, enum dp_report kind, const char *fmt, ...)
{
	flush_out(p);
	if (!p->o->report)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->o->report(kind, line, p->o->report_data);
}

/* ---- output: the tasks' own, the results file, the joblog
 * -------------------------- */

static void write_fd(struct par *p, int fd, const char *s, size_t n)
{
	if (!n || p->out_broken)
		return;
	if (base_write_all(fd, s, n) == -EPIPE) {
		/* `berth par ... | head`: nobody reads any more */
		p->out_broken = true;
		p->stopping = true;
	}
}

/* Called before anything else is written, and every few milliseconds, so
 * that output is never held back for long. */
static void flush_out(struct par *p)
{
	write_fd(p, p->o->out_fd, p->out.p, p->out.len);
	p->out.len = 0;
	if (p->results.len)
		(void)base_write_all(p->results_fd, p->results.p,
				     p->results.len);
	p->results.len = 0;
	if (p->joblog.len)
		(void)base_write_all(p->joblog_fd, p->joblog.p, p->joblog.len);
	p->joblog.len = 0;
}

#define OUT_FLUSH_AT (64u << 10)

static void write_out(struct par *p, int fd, const char *s, size_t n)
{
	/* nothing to write flushes nothing: a task's empty stderr must not
	 * cost its stdout a write() of its own */
	if (!n)
		return;
	if (fd != p->o->out_fd) {
		flush_out(p);
		write_fd(p, fd, s, n);
		return;
	}
	if (p->out_broken)
		return;
	dp_buf_add(&p->out, s, n);
	if (p->out.len >= OUT_FLUSH_AT)
		flush_out(p);
}

static void flush_if_big(struct par *p)
{
	if (p->results.len >= OUT_FLUSH_AT || p->joblog.len >= OUT_FLUSH_AT)
		flush_out(p);
}

static void write_result_line(struct par *p, const struct task *t,
			      const struct outcome *oc)
{
	struct dp_buf *b = &p->results;
	dp_buf_printf(
		b, DP_RESULT_HEAD "%llu,\"task\":", (unsigned long long)t->seq);
	dp_buf_json(b, t->arg, t->arg_len);
	dp_buf_printf(b,
		      ",\"worker\":%u,\"slot\":%u,\"cpu\":%d,\"exit\":%d,"
		      "\"signal\":%d,\"attempts\":%u,",
		      oc->worker, oc->worker + 1, oc->cpu, oc->exit, oc->sig,
		      oc->deliveries);
	if (oc->timed)
		dp_buf_printf(b, "\"start\":%.6f,\"time_ms\":%.3f,",
			      (double)oc->start_us / 1e6,
			      (double)oc->run_us / 1e3);
	else
		dp_buf_adds(b, "\"start\":null,\"time_ms\":null,");
	dp_buf_printf(b, "\"timeout\":%s,\"abandoned\":%s,\"output\":",
		      oc->flags & DP_RES_TIMEOUT ? "true" : "false",
		      oc->abandoned ? "true" : "false");
	dp_buf_json(b, oc->out, oc->out_len);
	dp_buf_adds(b, ",\"stderr\":");
	dp_buf_json(b, oc->err, oc->err_len);
	dp_buf_adds(b, "}\n");
}

/* GNU parallel's joblog: tab-separated, "%10.3f" times, ":" for this
 * host. */
static void write_joblog_line(struct par *p, const struct task *t,
			      const struct outcome *oc)
{
	_cleanup_free_ char *cmd = NULL;
	if (p->o->mode == DP_MODE_EXEC) {
		cmd = dp_payload_command(t->payload, t->payload_len,
					 oc->worker + 1);
	} else {
		struct dp_buf b = {0};
		for (size_t i = 0; p->o->command[i]; i++)
			dp_buf_printf(&b, "%s%s", i ? " " : "",
				      p->o->command[i]);
		dp_buf_addc(&b, ' ');
		dp_buf_add(&b, t->arg, t->arg_len);
		cmd = b.p;
	}
	dp_buf_printf(&p->joblog,
		      "%llu\t:\t%10.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t%s\n",
		      (unsigned long long)t->seq, (double)oc->start_us / 1e6,
		      (double)oc->run_us / 1e6, t->payload_len,
		      oc->out_len + oc->err_len, oc->exit, oc->sig, cmd);
}

/* Why the queue gave a task up, as one line. */
static void abandoned_why(const struct task *t, const struct outcome *oc,
			  char *buf, size_t len)
{
	unsigned long long seq = t->seq;
	if (oc->error == -EBADMSG)
		snprintf(buf, len,
			 "berth: par: task %llu failed: its worker w%u wrote "
			 "garbage over its own queue region and was killed\n",
			 seq, oc->worker);
	else if (oc->error == -EIO)
		snprintf(buf, len,
			 "berth: par: task %llu failed: the task queue made "
			 "no progress (a worker kept writing over its shared "
			 "memory)\n",
			 seq);
	else
		snprintf(buf, len,
			 "berth: par: task %llu was abandoned: its worker "
			 "died %u times\n",
			 seq, oc->attempts);
}

/* A task with nothing to show and no file to record it in. */
static bool emits_nothing(const struct par *p, const struct outcome *oc)
{
	return !oc->out_len && !oc->err_len && !oc->flags && !oc->interrupted &&
	       !oc->abandoned && p->results_fd < 0 && p->joblog_fd < 0;
}

static void emit(struct par *p, const struct task *t, const struct outcome *oc)
{
	if (emits_nothing(p, oc))
		return;
	/* the progress bar shares the terminal: clear it first */
	if (p->o->tty && !p->o->quiet && p->o->report &&
	    (oc->out_len || oc->err_len || oc->abandoned))
		p->o->report(DP_REPORT_DONE, "", p->o->report_data);
	write_out(p, p->o->out_fd, oc->out, oc->out_len);
	write_out(p, p->o->err_fd, oc->err, oc->err_len);
	if (oc->flags & DP_RES_TRUNCATED) {
		char msg[160];
		int n = snprintf(msg, sizeof(msg),
				 "berth: par: task %llu: output truncated to "
				 "%zu bytes\n",
				 (unsigned long long)t->seq,
				 oc->out_len + oc->err_len);
		write_out(p, p->o->err_fd, msg, (size_t)n);
	}
	char msg[256];
	if (oc->interrupted) {
		snprintf(msg, sizeof(msg),
			 "berth: par: task %llu was interrupted: not "
			 "journaled, --resume runs it again\n",
			 (unsigned long long)t->seq);
		write_out(p, p->o->err_fd, msg, strlen(msg));
		return;
	}
	if (oc->abandoned) {
		abandoned_why(t, oc, msg, sizeof(msg));
		write_out(p, p->o->err_fd, msg, strlen(msg));
	}
	if (p->results_fd >= 0)
		write_result_line(p, t, oc);
	if (p->joblog_fd >= 0)
		write_joblog_line(p, t, oc);
	flush_if_big(p);
}

/* -k: holds a finished task until every earlier one was printed. */
/* Copies t->oc's output out of the queue's memory, which the next
 * dq_collect() reuses, into the task (once). */
static void keep_output(struct task *t)
{
	const struct outcome *oc = &t->oc;
	if (t->out_copy)
		return;
	t->out_copy = base_calloc(oc->out_len + oc->err_len + 1, 1);
	memcpy(t->out_copy, oc->out, oc->out_len);
	memcpy(t->out_copy + oc->out_len, oc->err, oc->err_len);
	t->oc.out = t->out_copy;
	t->oc.err = t->out_copy + oc->out_len;
}

static void emit_in_order(struct par *p, struct task *t)
{
	keep_output(t);
	tmap_put(&p->by_seq, t, true);
	struct task *n;
	while ((n = tmap_take(&p->by_seq, p->next_print, true))) {
		emit(p, n, &n->oc);
		task_free(n);
		p->next_print = dp_mine_next(&p->mine, p->next_print);
	}
}

/* ---- results
 * ---------------------------------------------------------------------- */

/* Blank structs to copy from: gcc zero-fills a struct literal of this size
 * with `rep stos`, which costs more than the rest of a lib-mode task's
 * handling; a copy is a few vector moves. */
static const struct outcome outcome_zero;
static const struct task task_zero;

/* Fills oc from res; returns whether the task failed (from what was just
 * stored rather than read back: an 8-byte load of two 4-byte fields just
 * written stalls the store buffer, which measured a twentieth of a
 * lib-mode task's cost). */
static bool decode(struct par *p, const struct dq_result *res,
		   struct outcome *oc)
{
	*oc = outcome_zero;
	oc->worker = res->worker;
	oc->attempts = res->attempts;
	oc->cpu = res->worker < p->nworkers ? p->cpus[res->worker] : -1;
	if (res->error) {
		oc->abandoned = true;
		oc->error = res->error;
		oc->exit = -1;
		return true;
	}
	/* the result lies in the worker's memory, at any alignment: the
	 * head is copied once, and only the copy is checked and used */
	struct dp_agent_result h;
	if (p->o->mode != DP_MODE_LIB && res->len >= sizeof(h))
		memcpy(&h, res->data, sizeof(h));
	if (p->o->mode == DP_MODE_LIB || res->len < sizeof(h) ||
	    (uint64_t)h.out_len + h.err_len > res->len - sizeof(h)) {
		oc->exit = res->status;
		oc->out = res->data;
		oc->out_len = res->len;
		return res->status != 0;
	}
	oc->exit = h.exit;
	oc->sig = h.signal;
	oc->flags = h.flags;
	oc->timed = true;
	oc->start_us = h.start_us;
	oc->run_us = h.run_us;
	oc->out = (const char *)res->data + sizeof(h);
	oc->out_len = h.out_len;
	oc->err = oc->out + h.out_len;
	oc->err_len = h.err_len;
	return h.exit != 0 || h.signal != 0;
}

static void check_halt(struct par *p, const struct outcome *oc)
{
	const struct dp_par_opts *o = p->o;
	if (o->halt == DP_HALT_NEVER || p->halted ||
	    p->failed < (uint64_t)o->halt_fail)
		return;
	p->halted = true;
	p->stopping = true;
	p->halt_status = oc->exit > 0 ? oc->exit : oc->sig ? 128 + oc->sig : 1;
	report(p, DP_REPORT_WARNING,
	       "berth: par: halting after %llu failed task%s%s",
	       (unsigned long long)p->failed, p->failed == 1 ? "" : "s",
	       o->halt == DP_HALT_NOW ? ": killing the running tasks"
				      : ": waiting for the running tasks");
	if (o->halt == DP_HALT_NOW)
		dp_pool_kill(p->pool);
}

/* A task is over: counted, its output emitted (in input order with -k),
 * and a failure checked against --halt. */
static void finish_task(struct par *p, struct task *t, const struct outcome *oc,
			bool failed)
{
	p->finished++;
	if (failed)
		p->failed++;
	if (p->o->keep_order) {
		t->oc = *oc;
		emit_in_order(p, t);
	} else {
		emit(p, t, oc);
		task_free(t);
	}
	if (failed)
		check_halt(p, oc);
}

/* A task ended by a signal (or that lost its worker) before berth was told
 * to stop is finished HOLD_MS later, or found interrupted if berth is
 * stopped meanwhile: scancel signals berth and its tasks at once, in no
 * set order, and --resume must run what it interrupted. */
#define HOLD_MS 250

static bool stop_requested(const struct par *p)
{
	return p->o->stop && *p->o->stop;
}

static void hold_task(struct par *p, struct task *t, const struct outcome *oc)
{
	t->oc = *oc;
	keep_output(t);
	t->until = mono_ms() + HOLD_MS;
	t->qnext = NULL;
	if (p->held_tail)
		p->held_tail->qnext = t;
	else
		p->held_head = t;
	p->held_tail = t;
	p->held++;
}

/* Finishes the held tasks whose time came (with all, every one). */
static void release_held(struct par *p, bool all)
{
	bool stop = stop_requested(p);
	int64_t now = mono_ms();
	while (p->held_head && (all || stop || p->held_head->until <= now)) {
		struct task *t = p->held_head;
		p->held_head = t->qnext;
		if (!p->held_head)
			p->held_tail = NULL;
		p->held--;
		t->oc.interrupted = stop;
		struct outcome oc = t->oc; /* t may be freed before halt */
		finish_task(p, t, &oc, true);
	}
}

/* n tasks of res have their results. */
static void count_result(struct par *p, const struct dq_result *res, uint32_t n)
{
	p->inflight -= n;
	if (res->worker < p->nworkers) {
		struct dp_worker *w = dp_pool_worker(p->pool, res->worker);
		w->tasks += n;
		w->total += n;
		w->fails = 0;
	}
}

/* A task has a result (oc): finished, retried or held. */
static void settle(struct par *p, struct task *t, struct outcome oc)
{
	t->runs++;
	t->deliveries += oc.attempts;
	oc.deliveries = t->deliveries;
	bool failed = oc.abandoned || oc.exit != 0 || oc.sig != 0;
	/* a signal to berth (^C, scancel) that reached the task too, or
	 * ended its worker: the task did not finish, it was interrupted */
	bool killed = (oc.abandoned || oc.sig) && !(oc.flags & DP_RES_TIMEOUT);
	oc.interrupted = killed && stop_requested(p);
	int retries = p->o->retries > 1 ? p->o->retries : 1;
	if (failed && (int)t->runs < retries && !p->stopping) {
		t->qnext = NULL;
		if (p->retry_tail)
			p->retry_tail->qnext = t;
		else
			p->retry_head = t;
		p->retry_tail = t;
		return;
	}
	p->run_us += oc.run_us;
	if (killed && !oc.interrupted)
		hold_task(p, t, &oc);
	else
		finish_task(p, t, &oc, failed);
}

/* Task k of chunk c as a task of its own (to hold, retry or keep in
 * order). */
static struct task *chunk_task(const struct dp_chunk *c, uint32_t k)
{
	struct task *t = base_calloc(1, sizeof(*t));
	t->seq = c->seq[k];
	t->qid = c->id0 + k;
	t->arg_len = dp_chunk_arg_len(c, k);
	t->arg = base_calloc(t->arg_len + 1, 1);
	memcpy(t->arg, dp_chunk_arg(c, k), t->arg_len);
	t->payload = t->arg;
	t->payload_len = t->arg_len;
	return t;
}

/* The result of a chunk's task, or of a run of them (res->count). One
 * that succeeded, without -k, is printed from the chunk as it is: no
 * allocation a task. */
static void on_chunk_result(struct par *p, struct dp_chunk *c,
			    const struct dq_result *res)
{
	struct outcome oc;
	bool failed = decode(p, res, &oc);
	oc.deliveries = oc.attempts;
	/* the queue checked the run against the chunk it gave: a task
	 * outside this chunk is dp_chunk_answer's to refuse all the same */
	if (!failed && !p->o->keep_order && emits_nothing(p, &oc)) {
		/* finished, and nothing to write: counted, the run at once */
		uint32_t n = 0;
		for (uint32_t i = 0; i < res->count; i++)
			n += dp_chunk_answer(c, res->index + i);
		if (n)
			count_result(p, res, n);
		p->finished += n;
		p->run_us += n * oc.run_us;
		if (!c->left)
			dp_chunks_drop(&p->chunks, c);
		return;
	}
	for (uint32_t i = 0; i < res->count; i++) {
		uint32_t k = res->index + i;
		if (!dp_chunk_answer(c, k))
			continue;
		count_result(p, res, 1);
		if (!failed && !p->o->keep_order) {
			/* as settle() would: a first run, finished */
			struct task t = task_zero;
			t.seq = c->seq[k];
			t.arg = t.payload = (char *)dp_chunk_arg(c, k);
			t.arg_len = t.payload_len = dp_chunk_arg_len(c, k);
			p->finished++;
			p->run_us += oc.run_us;
			emit(p, &t, &oc);
		} else {
			settle(p, chunk_task(c, k), oc);
		}
	}
	if (!c->left)
		dp_chunks_drop(&p->chunks, c);
}

static void on_result(struct par *p, const struct dq_result *res)
{
	struct dp_chunk *c = dp_chunks_find(&p->chunks, res->chunk_id);
	if (c) {
		on_chunk_result(p, c, res);
		return;
	}
	struct task *t = tmap_take(&p->by_qid, res->task_id, false);
	if (!t)
		return;
	count_result(p, res, 1);
	struct outcome oc;
	(void)decode(p, res, &oc);
	settle(p, t, oc);
}

/* ---- feeding the queue
 * --------------------------------------------------------------- */

/* Whether the input's next argument is not this run's task: another
 * shard's, or one the joblog has. Its sequence number is used up. With
 * --claims, asking may claim a chunk; when that fails (p->fatal), or a
 * signal stops the wait for the file's lock, the input ends here. */
static bool not_mine(struct par *p)
{
	uint64_t seq = p->next_seq + 1;
	if (dp_mine_all(&p->mine)) {
		if (!p->next_print)
			p->next_print = seq;
		return false;
	}
	int has = dp_mine_has(&p->mine, seq, &p->fatal);
	if (has < 0) {
		dp_source_stop(&p->src);
		return true;
	}
	if (has && !dp_mine_done(&p->mine, seq)) {
		if (!p->next_print) /* -k: the first of a chunk just claimed */
			p->next_print = seq;
		return false;
	}
	p->next_seq++;
	p->skipped += has;
	return true;
}

static struct task *next_task(struct par *p)
{
	if (p->pending)
		return TAKE_PTR(p->pending);
	if (p->retry_head) {
		struct task *t = p->retry_head;
		p->retry_head = t->qnext;
		if (!p->retry_head)
			p->retry_tail = NULL;
		return t;
	}
	if (p->input_done)
		return NULL;
	const char *arg;
	int r;
	while ((r = dp_source_next(&p->src, &arg)) > 0 && not_mine(p))
		;
	if (r < 0)
		p->input_done = true;
	if (r <= 0)
		return NULL;
	struct task *t = base_calloc(1, sizeof(*t));
	t->seq = ++p->next_seq;
	p->made++;
	t->arg = base_strdup(arg);
	t->arg_len = strlen(arg);
	if (p->o->mode == DP_MODE_EXEC) {
		struct dp_buf b = {0};
		dp_expand(p->o->command, arg, t->seq, &b);
		t->payload = b.p;
		t->payload_len = b.len;
	} else {
		/* line and lib mode send the argument as it is */
		t->payload = t->arg;
		t->payload_len = t->arg_len;
	}
	return t;
}

/* A task the queue cannot take (too big): it fails without running. */
static void refuse(struct par *p, struct task *t, int r)
{
	char msg[160];
	int n = snprintf(
		msg, sizeof(msg), "berth: par: task %llu: %s (%zu bytes)\n",
		(unsigned long long)t->seq, strerror(-r), t->payload_len);
	struct outcome oc = {
		.exit = -1, .cpu = -1, .err = msg, .err_len = (size_t)n};
	finish_task(p, t, &oc, true);
}

/* The size of the next chunk: guided, and a few milliseconds of a
 * worker's pace once known. */
static uint32_t next_chunk_size(struct par *p)
{
	/* unknown (a shard that claims its tasks, a stream): as many as
	 * the pace allows */
	uint64_t total = dp_mine_tasks(&p->mine, p->src.total);
	uint64_t left = !total		  ? UINT64_MAX
			: total > p->made ? total - p->made
					  : 1;
	double ms = (double)(mono_ms_coarse() - p->t_up);
	double per_ms = p->finished >= 64 && ms >= 10
				? (double)p->finished / ms / (double)p->nworkers
				: 0;
	uint32_t n = dp_chunk_size(left, p->nworkers, per_ms);
	/* before the pace is known, one task a chunk: the tasks may take
	 * seconds each, and with --claims a chunk's tasks are claimed from
	 * the shared file as it is made, away from the other shards */
	return per_ms > 0 ? n : 1;
}

/* Makes the next chunk from the input and submits it. Returns 1 (one went
 * out, or failed), 0 (no input now) or -EAGAIN (the queue is full). */
static int feed_chunk(struct par *p)
{
	struct dp_chunk *c = TAKE_PTR(p->pending_chunk);
	if (!c && p->input_done)
		return 0;
	if (!c) {
		uint32_t want = next_chunk_size(p);
		c = dp_chunk_new(&p->chunks, want);
		const char *arg;
		size_t len;
		int r = 1;
		while (c->count < want && c->text.len < DP_CHUNK_BYTES &&
		       (r = dp_source_next_len(&p->src, &arg, &len)) > 0)
			if (!not_mine(p)) {
				dp_chunk_add(c, ++p->next_seq, arg, len);
				p->made++;
			}
		if (r < 0)
			p->input_done = true;
	}
	int r = c->count ? dp_chunk_submit(p->q, c) : 0;
	if (r == -EAGAIN) {
		p->pending_chunk = c;
		return -EAGAIN;
	}
	if (r == 0 && c->count) {
		dp_chunks_put(&p->chunks, c);
		p->inflight += c->count;
		return 1;
	}
	for (uint32_t k = 0; k < c->count; k++) /* too big for the queue */
		refuse(p, chunk_task(c, k), r);
	bool some = c->count;
	dp_chunk_free(c);
	return some;
}

static void feed(struct par *p)
{
	while (p->chunked && !p->stopping && !p->pending && !p->retry_head &&
	       p->chunks.n < DP_CHUNKS_AHEAD * p->nworkers)
		if (feed_chunk(p) <= 0)
			break;
	while (!p->stopping && p->inflight < p->window) {
		if (p->chunked && !p->pending && !p->retry_head)
			return;
		struct task *t = next_task(p);
		if (!t)
			return;
		uint64_t id;
		int r = dq_submit(p->q, t->payload, t->payload_len, 0, &id);
		if (r == -EAGAIN) {
			p->pending = t;
			return;
		}
		if (r < 0) {
			refuse(p, t, r);
			continue;
		}
		t->qid = id;
		tmap_put(&p->by_qid, t, false);
		p->inflight++;
	}
}

int dp_par_tasks(const struct dp_par_opts *o,
		 void (*each)(uint64_t seq, const char *arg, void *data),
		 void *data, struct berr *err)
{
	if (!o->command || !o->command[0])
		return berr_setx(err, EINVAL, "no command given");
	struct par p = {.o = o};
	_cleanup_free_ char *joblog = dp_shard_path(o->joblog, &o->shard);
	int r = dp_source_open(o, &p.src, err);
	/* claims for stdin: chunks of 8, a small pool's */
	if (r == 0)
		r = dp_mine_open(&p.mine, o, &p.src, joblog, 8, err);
	while (r == 0 && !p.input_done) {
		struct task *t = next_task(&p);
		if (t) {
			each(t->seq, t->arg, data);
			task_free(t);
		} else if (!p.input_done) { /* stdin has no line ready */
			struct pollfd pf = {.fd = p.src.fd, .events = POLLIN};
			poll(&pf, 1, 100);
		}
	}
	if (r == 0 && p.fatal.code) {
		*err = p.fatal;
		r = -p.fatal.code;
	}
	dp_mine_free(&p.mine);
	free(p.src.buf);
	return r;
}

/* ---- workers that end
 * ----------------------------------------------------------------- */

static bool work_left(const struct par *p)
{
	return !p->stopping && (p->inflight || p->retry_head || p->pending ||
				p->pending_chunk || !p->input_done);
}

static void on_worker_exit(struct par *p, const struct dp_exit *ev)
{
	struct dp_worker *w = dp_pool_worker(p->pool, ev->index);
	dq_reclaim(p->q, w->id);
	if (p->closing || !work_left(p)) {
		/* stopping: what the dead workers held will not run */
		if (dp_pool_running(p->pool) == 0)
			p->workers_gone = true;
		return;
	}
	char why[BERR_MSG_MAX];
	bool corrupted = p->corrupted[ev->index];
	p->corrupted[ev->index] = false;
	if (corrupted) {
		char what[128];
		dq_corrupt_reason(p->q, w->id, what, sizeof(what));
		snprintf(why, sizeof(why),
			 "worker w%zu wrote garbage over its own queue region "
			 "(%s) and was killed; the tasks it had taken failed",
			 ev->index, what);
	} else
		dp_describe_exit(ev, why, sizeof(why));
	int st = ev->status;
	/* a worker that broke the queue is replaced like one that died,
	 * but does not count as failing to start */
	bool early = w->tasks == 0 && !corrupted;
	bool hopeless = ev->start_failed ||
			(early && st >= 0 && !corrupted && WIFEXITED(st) &&
			 (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127));
	if (early)
		w->fails++;
	if (hopeless || w->fails >= 3) {
		w->gave_up = true;
	} else {
		report(p, DP_REPORT_WARNING, "berth: par: %s; restarting it",
		       why);
		struct berr err = {0};
		if (dp_pool_restart(p->pool, ev->index, &err) < 0) {
			w->gave_up = true;
			snprintf(why, sizeof(why), "%s", err.msg);
		}
	}
	if (!w->gave_up)
		return;
	size_t alive = 0;
	for (size_t i = 0; i < p->nworkers; i++)
		alive += !dp_pool_worker(p->pool, i)->gave_up;
	if (alive == 0)
		berr_setx(&p->fatal, EIO, "every worker failed: %s", why);
	else
		report(p, DP_REPORT_WARNING,
		       "berth: par: %s; continuing with %zu worker%s", why,
		       alive, alive == 1 ? "" : "s");
}

/* ---- progress
 * ----------------------------------------------------------------------- */

static void progress(struct par *p, bool force)
{
	const struct dp_par_opts *o = p->o;
	int64_t now = mono_ms();
	int every = o->tty ? 200 : 5000;
	if (o->quiet || (!force && now - p->t_last_report < every))
		return;
	p->t_last_report = now;
	double secs = (double)(now - p->t_up) / 1000.0;
	double rate = secs > 0 ? (double)p->finished / secs : 0;
	uint64_t total = dp_mine_tasks(&p->mine, p->src.total);
	char eta[32] = "";
	if (total && rate > 0 && total >= p->finished) {
		uint64_t left =
			(uint64_t)((double)(total - p->finished) / rate);
		snprintf(eta, sizeof(eta), ", ETA %llu:%02llu",
			 (unsigned long long)(left / 60),
			 (unsigned long long)(left % 60));
	}
	char done[64];
	if (total)
		snprintf(done, sizeof(done), "%llu/%llu",
			 (unsigned long long)p->finished,
			 (unsigned long long)total);
	else
		snprintf(done, sizeof(done), "%llu",
			 (unsigned long long)p->finished);
	if (!o->tty) {
		report(p, DP_REPORT_STATUS,
		       "berth: par: %s tasks done, %llu failed, %llu running, "
		       "%.1f/s%s",
		       done, (unsigned long long)p->failed,
		       (unsigned long long)p->inflight, rate, eta);
		return;
	}
	char bar[33];
	int fill = total ? (int)(32 * p->finished / (total ? total : 1)) : 0;
	for (int i = 0; i < 32; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[32] = '\0';
	/* one letter a worker: o busy, . idle, x not running; the first 64 */
	char row[68];
	size_t k = 0;
	for (size_t w = 0; w < p->nworkers && k < 64; w++) {
		enum dq_worker_state st = dq_worker_state(p->q, (uint32_t)w);
		row[k++] = st == DQ_WORKER_BUSY	  ? 'o'
			   : st == DQ_WORKER_IDLE ? '.'
						  : 'x';
	}
	if (k < p->nworkers)
		row[k++] = '+';
	row[k] = '\0';
	report(p, DP_REPORT_PROGRESS, "[%s] %s, %.1f/s%s, %llu failed  [%s]",
	       total ? bar : "", done, rate, eta, (unsigned long long)p->failed,
	       row);
}

/* ---- the loop
 * ---------------------------------------------------------------------------
 */

static void check_signals(struct par *p)
{
	int s = p->o->stop ? *p->o->stop : 0;
	if (s >= 1 && !p->stopping) {
		p->stopping = true;
		report(p, DP_REPORT_WARNING,
		       "berth: par: interrupted: starting no new task, waiting "
		       "for the %llu in flight (again to kill them)",
		       (unsigned long long)p->inflight);
	}
	if (s >= 2 && !p->halted) {
		p->halted = true;
		dp_pool_kill(p->pool);
	}
}

static bool loop_done(const struct par *p)
{
	if (p->halted && p->o->halt == DP_HALT_NOW)
		return true;
	if (p->halted && p->o->stop && *p->o->stop >= 2)
		return true;
	if (p->inflight)
		return p->workers_gone;
	if (p->held)
		return false;
	return p->stopping || (p->input_done && !p->retry_head && !p->pending &&
			       !p->pending_chunk);
}

static void fail_lost_task(struct par *p, struct task *t)
{
	p->inflight--;
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
			 "berth: par: task %llu failed: the task queue lost "
			 "it\n",
			 (unsigned long long)t->seq);
	struct outcome oc = {
		.exit = -1, .cpu = -1, .err = msg, .err_len = (size_t)n};
	finish_task(p, t, &oc, true);
}

/* The queue has nothing in flight while tasks wait for their result: it
 * lost them (it must not; the tasks fail rather than wait forever). */
static void fail_lost(struct par *p)
{
	for (size_t i = 0; i <= p->by_qid.mask; i++)
		while (p->by_qid.b[i]) {
			struct task *t = p->by_qid.b[i];
			p->by_qid.b[i] = t->qnext;
			fail_lost_task(p, t);
		}
	struct dp_chunk *c;
	while ((c = dp_chunks_any(&p->chunks))) {
		for (uint32_t k = 0; k < c->count; k++)
			if (dp_chunk_answer(c, k))
				fail_lost_task(p, chunk_task(c, k));
		dp_chunks_drop(&p->chunks, c);
	}
}

static void housekeeping(struct par *p)
{
	flush_out(p);
	struct dp_exit ev;
	while (!p->fatal.code && dp_pool_reap(p->pool, &ev) == 1)
		on_worker_exit(p, &ev);
	check_signals(p);
	release_held(p, false);
	progress(p, false);
}

#define COLLECT_BATCH 64

/* Takes the results there are (a batch), or sleeps until some come: a
 * worker wakes us at the end of a chunk, or of a task sent alone. */
static void collect(struct par *p)
{
	int wait = p->src.kind == DP_SRC_FD && !p->input_done ? 5
		   : p->chunked				      ? 10
							      : 20;
	/* lib mode with a deep queue of single tasks: rather than have a
	 * worker wake us for each result, look again a little later, when
	 * many are there */
	bool batch = !p->chunked && p->o->mode == DP_MODE_LIB &&
		     p->inflight > p->nworkers * LIB_BATCH_LOW;
	struct dq_result res[COLLECT_BATCH];
	int r = dq_collect_many(p->q, res, COLLECT_BATCH, batch ? 0 : wait);
	if (r == -EAGAIN && batch) {
		struct timespec ts = {0, LIB_BATCH_NAP_NS};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < r; i++)
		on_result(p, &res[i]);
	if (r == -EBADMSG && res[0].worker < p->nworkers) {
		p->corrupted[res[0].worker] = true;
		dp_pool_kill_one(p->pool, res[0].worker);
	} else if (r == -ENODATA) {
		fail_lost(p);
	}
}

static int run_loop(struct par *p, struct berr *err)
{
	int64_t next_house = 0;
	for (;;) {
		feed(p);
		if (loop_done(p))
			return 0;
		if (p->inflight) {
			collect(p);
		} else if (!p->input_done && p->src.kind == DP_SRC_FD) {
			struct pollfd pf = {.fd = p->src.fd, .events = POLLIN};
			poll(&pf, 1, 20);
		} else {
			/* retries waiting for a worker to come back */
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
		int64_t now = mono_ms_coarse();
		if (now >= next_house) {
			housekeeping(p);
			next_house = now + 10;
		}
		if (p->fatal.code) {
			*err = p->fatal;
			return -p->fatal.code;
		}
	}
}

/* ---- setting up
 * ----------------------------------------------------------------------------
 */

static int pick_cpus(struct par *p, struct berr *err)
{
	const struct dp_par_opts *o = p->o;
	struct dp_cpus allowed, want;
	int r = dp_cpus_allowed(&allowed, err);
	if (r < 0)
		return r;
	if (o->cpus) {
		r = dp_cpus_parse(o->cpus, &want);
		if (r < 0 || !dp_cpus_count(&want))
			return berr_setx(err, EINVAL,
					 "--cpus %s: not a CPU list (like "
					 "0-3,6)",
					 o->cpus);
		for (int c = dp_cpus_next(&want, -1); c >= 0;
		     c = dp_cpus_next(&want, c)) {
			if (dp_cpus_has(&allowed, c))
				continue;
			_cleanup_free_ char *a = dp_cpus_format(&allowed);
			return berr_setx(err, EINVAL,
					 "--cpus %s: CPU %d is not in the "
					 "allowed set %s",
					 o->cpus, c, a);
		}
	} else {
		want = allowed;
	}
	int ncpu = dp_cpus_count(&want);
	if (o->jobs < 0 || o->jobs > 4096)
		return berr_setx(err, EINVAL,
				 "-j %d: the number of workers must be "
				 "between 1 and 4096",
				 o->jobs);
	p->nworkers = o->jobs ? (size_t)o->jobs : (size_t)ncpu;
	p->cpus = base_calloc(p->nworkers, sizeof(int));
	p->corrupted = base_calloc(p->nworkers, sizeof(bool));
	int c = -1;
	for (size_t i = 0; i < p->nworkers; i++) {
		c = dp_cpus_next(&want, c);
		if (c < 0)
			c = dp_cpus_next(&want, -1);
		p->cpus[i] = c;
	}
	struct dp_cpus used = {{0}};
	for (size_t i = 0; i < p->nworkers; i++)
		dp_cpus_set(&used, p->cpus[i]);
	p->cpulist = dp_cpus_format(&used);
	return 0;
}

static int check_opts(const struct dp_par_opts *o, struct berr *err)
{
	if (!o->command || !o->command[0])
		return berr_setx(err, EINVAL, "no command given");
	if (!!o->rootfs + !!o->bundle + !!o->image != 1)
		return berr_setx(err, EINVAL,
				 "give the workers' root filesystem with one "
				 "of --image IMAGE, --bundle DIR or --rootfs "
				 "DIR");
	if (o->mode == DP_MODE_LIB && o->timeout > 0)
		return berr_setx(err, EINVAL,
				 "--timeout is not supported in lib mode (the "
				 "program runs its tasks itself)");
	if (o->resume && !o->joblog)
		return berr_setx(err, EINVAL, "--resume needs --joblog FILE");
	if (o->shard.count && o->shard.index >= o->shard.count)
		return berr_setx(err, EINVAL,
				 "--shard %u/%u: I must be below N",
				 o->shard.index, o->shard.count);
	if (o->timeout < 0 || o->timeout > 1e7)
		return berr_setx(err, EINVAL, "--timeout %g: out of range",
				 o->timeout);
	if (o->halt != DP_HALT_NEVER && o->halt_fail < 1)
		return berr_setx(err, EINVAL, "--halt: fail=N needs N >= 1");
	if (o->mode != DP_MODE_LIB) {
		if (!o->agent || access(o->agent, X_OK) < 0)
			return berr_setx(
				err, ENOENT,
				"the worker agent `%s` is missing or "
				"not executable (build it with `make`, "
				"or set BERTH_AGENT)",
				o->agent ? o->agent : "berth-agent");
	}
	return 0;
}

static int open_out(const char *path, const char *what, bool append, int *fd,
		    struct berr *err)
{
	*fd = -1;
	if (!path)
		return 0;
	/* appending reads the last line first (dp_drop_cut_line) */
	*fd = open(path,
		   O_CREAT | O_CLOEXEC |
			   (append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC),
		   0644);
	if (*fd < 0)
		return berr_set(err, errno, "%s %s", what, path);
	if (append && dp_drop_cut_line(*fd) < 0)
		return berr_set(err, errno, "%s %s: drop a last line cut short",
				what, path);
	return 0;
}

/* Each worker's result ring: 1 MiB (a task's output may be half of it)
 * for up to 256 workers, less beyond, so that the queue stays below 256
 * MiB. */
static uint32_t result_size(size_t workers)
{
	uint32_t sz = 1u << 20;
	while (sz > (64u << 10) && (uint64_t)sz * workers > (256u << 20))
		sz /= 2;
	return sz;
}

static int setup(struct par *p, struct berr *err)
{
	const struct dp_par_opts *o = p->o;
	int r = check_opts(o, err);
	if (r == 0)
		r = dp_source_open(o, &p->src, err);
	if (r == 0)
		r = pick_cpus(p, err);
	if (r < 0)
		return r;
	/* exec mode: about one task ahead a worker, as GNU parallel starts
	 * jobs; line and lib mode: a deeper queue, so that a task costs a
	 * ring slot and not a wake-up */
	size_t ahead = o->mode == DP_MODE_LIB	 ? LIB_WINDOW
		       : o->mode == DP_MODE_LINE ? LINE_WINDOW
						 : 0;
	p->window = ahead ? (p->nworkers * ahead < 4096 ? p->nworkers * ahead
							: 4096)
			  : p->nworkers + (p->nworkers + 3) / 4;
	uint32_t cap = 64;
	while (cap < p->window)
		cap *= 2;
	/* a task whose payload is its argument goes out in a chunk; stdin
	 * is read as it comes, a task at a time */
	p->chunked = o->mode != DP_MODE_EXEC && p->src.kind != DP_SRC_FD;
	struct dq_params qp = {
		.capacity = cap,
		.max_workers = (uint32_t)p->nworkers,
		.result_size = result_size(p->nworkers),
		/* a task of exec and line mode costs a fork or a pipe round
		 * trip: sleeping at once leaves the CPUs to the tasks */
		.spin = o->mode == DP_MODE_LIB ? 200 : 1,
		/* a chunk's results come in a run, and a worker wakes us at
		 * its end: spinning for them would only burn a CPU */
		.collect_spin = p->chunked ? 1 : 0,
		/* each worker's ring holds its share of the window (the
		 * guided limit shrinks it as the tasks run out); a task that
		 * costs a fork needs just the next one ready */
		.depth = o->mode == DP_MODE_LIB	   ? LIB_WINDOW
			 : o->mode == DP_MODE_LINE ? LINE_WINDOW
						   : 2,
		.max_attempts = o->retries > 1 ? (uint32_t)o->retries : 1,
		/* a chunk's tasks that succeed with no output: one record
		 * for a run of them (lib mode; the agent's have a head) */
		.runs = true,
	};
	tmap_init(&p->by_qid, cap);
	tmap_init(&p->by_seq, cap);
	dp_chunks_init(&p->chunks, DP_CHUNKS_AHEAD * p->nworkers);
	if ((r = dq_create(&qp, &p->q, err)) < 0)
		return r;
	p->results_path = dp_shard_path(o->results, &o->shard);
	p->joblog_path = dp_shard_path(o->joblog, &o->shard);
	if ((r = dp_mine_open(&p->mine, o, &p->src, p->joblog_path, p->window,
			      err)) < 0)
		return r;
	p->next_print = dp_mine_next(&p->mine, 0);
	if ((r = open_out(p->results_path, "--results", o->resume,
			  &p->results_fd, err)) < 0 ||
	    (r = open_out(p->joblog_path, "--joblog", o->resume, &p->joblog_fd,
			  err)) < 0)
		return r;
	if (p->joblog_fd >= 0 && lseek(p->joblog_fd, 0, SEEK_END) == 0) {
		static const char head[] = DP_JOBLOG_HEAD;
		(void)base_write_all(p->joblog_fd, head, sizeof(head) - 1);
	}
	return 0;
}

static void summary(struct par *p)
{
	if (p->o->quiet)
		return;
	int64_t wall = mono_ms() - p->t0;
	double secs = (double)(mono_ms() - p->t_up) / 1000.0;
	/* what a task cost beyond its own run time, with as many workers
	 * busy as there were tasks for them */
	double busy =
		(double)(p->finished < p->nworkers ? p->finished : p->nworkers);
	double per = p->finished ? (secs * busy - (double)p->run_us / 1e6) /
					   (double)p->finished * 1000.0
				 : 0;
	report(p, DP_REPORT_SUMMARY,
	       "berth: par: %llu task%s, %llu failed; %zu worker%s on CPU%s %s "
	       "up in %llu ms; wall %.2f s, %.1f tasks/s, overhead %.3f ms a "
	       "task",
	       (unsigned long long)p->finished, p->finished == 1 ? "" : "s",
	       (unsigned long long)p->failed, p->nworkers,
	       p->nworkers == 1 ? "" : "s",
	       strpbrk(p->cpulist, ",-") ? "s" : "", p->cpulist,
	       (unsigned long long)p->start_ms, (double)wall / 1000.0,
	       secs > 0 ? (double)p->finished / secs : 0.0,
	       per > 0 ? per : 0.0);
	char shard[BERR_MSG_MAX];
	if (dp_mine_describe(&p->mine, p->next_seq, shard, sizeof(shard)))
		report(p, DP_REPORT_SUMMARY, "berth: par: %s", shard);
	if (p->skipped)
		report(p, DP_REPORT_SUMMARY,
		       "berth: par: --resume: %llu task%s already in the "
		       "joblog "
		       "skipped",
		       (unsigned long long)p->skipped,
		       p->skipped == 1 ? "" : "s");
	struct rusage self;
	getrusage(RUSAGE_SELF, &self);
	struct dp_buf b = {0};
	dp_buf_printf(&b, "berth: par: CPU time: berth %.2fs; per worker:",
		      (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
			      (double)(self.ru_utime.tv_usec +
				       self.ru_stime.tv_usec) /
				      1e6);
	for (size_t i = 0; i < p->nworkers; i++) {
		struct dp_worker *w = dp_pool_worker(p->pool, i);
		dp_buf_printf(&b, " w%zu@%d %.2fs/%llu", i, w->cpu,
			      (double)w->cpu_ns / 1e9,
			      (unsigned long long)w->total);
	}
	report(p, DP_REPORT_SUMMARY, "%s", b.p);
	dp_buf_free(&b);
	uint64_t left = p->made - p->finished;
	if (p->stopping && (left || !p->input_done))
		report(p, DP_REPORT_SUMMARY,
		       "berth: par: stopped early: %llu task%s in flight did "
		       "not finish%s",
		       (unsigned long long)left, left == 1 ? "" : "s",
		       p->input_done ? ""
				     : ", the rest of the input was "
				       "not started");
}

static void teardown(struct par *p)
{
	tmap_free(&p->by_qid, false);
	tmap_free(&p->by_seq, true);
	while (p->retry_head) {
		struct task *t = p->retry_head;
		p->retry_head = t->qnext;
		task_free(t);
	}
	task_free(p->pending);
	dp_chunk_free(p->pending_chunk);
	dp_chunks_free(&p->chunks);
	flush_out(p);
	dp_buf_free(&p->out);
	dp_buf_free(&p->results);
	dp_buf_free(&p->joblog);
	dp_mine_free(&p->mine);
	free(p->results_path);
	free(p->joblog_path);
	if (p->results_fd >= 0)
		close(p->results_fd);
	if (p->joblog_fd >= 0)
		close(p->joblog_fd);
	free(p->src.buf);
	free(p->cpus);
	free(p->corrupted);
	free(p->cpulist);
}

int dp_par_run(const struct rt_ctx *ctx, const struct dp_par_opts *o,
	       int *exit_status, struct berr *err)
{
	struct par p = {
		.o = o, .results_fd = -1, .joblog_fd = -1, .t0 = mono_ms()};
	*exit_status = 0;
	int r = setup(&p, err);
	if (r == 0)
		r = dp_pool_open(ctx, o, p.cpus, p.nworkers, p.q, &p.pool, err);
	if (r == 0 && (r = dp_pool_start_all(p.pool, err)) < 0)
		berr_wrap(err, "start the workers");
	p.t_up = mono_ms();
	p.start_ms = (uint64_t)(p.t_up - p.t0);
	p.t_last_report = p.t_up;
	if (r == 0)
		r = run_loop(&p, err);
	if (r == 0 && p.fatal.code) { /* a claims error ended the input */
		*err = p.fatal;
		r = -p.fatal.code;
	}
	release_held(&p, true);
	p.closing = true;
	flush_out(&p);
	if (p.q)
		dq_close(p.q);
	if (o->tty && !o->quiet && o->report)
		o->report(DP_REPORT_DONE, "", o->report_data);
	struct berr cerr = {0};
	/* the workers end by themselves once the queue is closed and
	 * drained; after a halt or an interrupt they are told to stop */
	if (p.pool && (p.stopping || r < 0))
		dq_destroy(TAKE_PTR(p.q));
	if (p.pool)
		dp_pool_wait(p.pool, r < 0 ? 0 : 10000);
	if (r == 0)
		summary(&p);
	int cr = dp_pool_close(p.pool, 0, &cerr);
	dq_destroy(p.q);
	teardown(&p);
	if (r == 0 && cr < 0) {
		*err = cerr;
		r = cr;
	}
	if (r == 0)
		*exit_status = p.halted && p.halt_status
				       ? p.halt_status
				       : (int)(p.failed > 101 ? 101 : p.failed);
	return r;
}
