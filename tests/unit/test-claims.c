/* dist/ par --claims: shards that take chunks of a run from one shared
 * file under a POSIX lock (dist-claim.c), the tasks a shard makes of them
 * (dp_mine, dp_par_tasks) and the merge of such a run. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test-par.h"

static char *tmpdir(void)
{
	char tmp[] = "/tmp/berth-test-claims.XXXXXX";
	ASSERT_TRUE(mkdtemp(tmp) != NULL);
	return base_strdup(tmp);
}

static void write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(base_write_all(fd, text, len), 0);
	close(fd);
}

static char *read_text(const char *path)
{
	char *text = NULL;
	return base_read_file_at(AT_FDCWD, path, &text, NULL, 0) < 0 ? NULL
								     : text;
}

/* A run of n shards over `tasks` tasks (0: stdin) of input digest 42. */
static struct dp_claims_run run_of(uint32_t n, uint64_t tasks)
{
	return (struct dp_claims_run){
		.shards = n, .known = tasks > 0, .tasks = tasks, .input = 42};
}

static int open_claims(const char *path, uint32_t i,
		       const struct dp_claims_run *run, uint64_t size,
		       bool resume, struct dp_claims **c, struct berr *err)
{
	struct dp_claims_opts o = {.path = path,
				   .shard = {i, run->shards},
				   .run = *run,
				   .size = size,
				   .fixed = 7,
				   .resume = resume};
	*err = (struct berr){0};
	return dp_claims_open(&o, c, err);
}

static struct dp_claims *must_open(const char *path, uint32_t i,
				   const struct dp_claims_run *run,
				   uint64_t size, bool resume)
{
	struct dp_claims *c;
	struct berr err;
	if (open_claims(path, i, run, size, resume, &c, &err) < 0)
		test_fail(__FILE__, __LINE__, "open: %s", err.msg);
	return c;
}

static int has(struct dp_claims *c, uint64_t seq)
{
	struct berr err = {0};
	int r = dp_claims_has(c, seq, &err);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "seq %llu: %s",
			  (unsigned long long)seq, err.msg);
	return r;
}

static char *header(const struct dp_claims_run *run)
{
	char buf[160];
	dp_claims_header(run, buf, sizeof(buf));
	return base_strdup(buf);
}

/* One shard alone takes every task, in guided chunks: the tasks no chunk
 * has / (4 N), shrinking to 1, each where the one before ends. */
TEST(claims_guided_chunks_shrink)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(3, 100);
	struct dp_claims *c = must_open(path, 0, &run, 0, false);
	for (uint64_t seq = 1; seq <= 100; seq++)
		ASSERT_EQ(has(c, seq), 1);
	size_t chunks, taken;
	uint64_t tasks;
	dp_claims_count(c, 100, &chunks, &taken, &tasks);
	ASSERT_EQ(tasks, 100);
	ASSERT_EQ(chunks, taken);
	dp_claims_close(c);

	char *text = read_text(path), *head = header(&run);
	ASSERT_TRUE(!strncmp(text, head, strlen(head)));
	ASSERT_STREQ(head, "berth-par-claims 1 shards=3 tasks=100 "
			   "input=000000000000002a\n");
	/* 100 / 12 = 8, then 92 / 12 = 7, ... */
	const char *start = "1 8 0\n9 7 0\n16 7 0\n23 6 0\n";
	ASSERT_TRUE(!strncmp(text + strlen(head), start, strlen(start)));
	uint64_t next = 1, last = UINT64_MAX;
	size_t n = 0;
	for (char *l = strchr(text, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		unsigned long long first, count;
		unsigned shard;
		ASSERT_EQ(sscanf(l, "%llu %llu %u", &first, &count, &shard), 3);
		ASSERT_EQ(first, next);
		ASSERT_TRUE(count <= last && count >= 1);
		ASSERT_EQ(shard, 0);
		next = first + count;
		last = count;
		n++;
	}
	ASSERT_EQ(next, 101);
	ASSERT_EQ(last, 1);
	ASSERT_EQ(n, chunks);
	free(text);
	free(head);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* --claim-size: every chunk N, the last cut to the run's end; stdin (no
 * total): the fixed size, and a chunk may pass the input's end. */
TEST(claims_fixed_sizes)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/a", dir);
	struct dp_claims_run run = run_of(2, 25);
	struct dp_claims *c = must_open(path, 1, &run, 10, false);
	for (uint64_t seq = 1; seq <= 25; seq++)
		ASSERT_EQ(has(c, seq), 1);
	dp_claims_close(c);
	char *text = read_text(path), *head = header(&run);
	char *want = base_sprintf("%s1 10 1\n11 10 1\n21 5 1\n", head);
	ASSERT_STREQ(text, want);
	free(text);
	free(head);
	free(want);
	free(path);

	path = base_sprintf("%s/b", dir);
	run = run_of(2, 0);
	c = must_open(path, 0, &run, 0, false);
	for (uint64_t seq = 1; seq <= 15; seq++)
		ASSERT_EQ(has(c, seq), 1);
	dp_claims_close(c);
	text = read_text(path);
	ASSERT_STREQ(text, "berth-par-claims 1 shards=2 tasks=- input=-\n"
			   "1 7 0\n8 7 0\n15 7 0\n");
	free(text);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* Two shards: each sees the other's chunks once it passes its own, and
 * claims the chunk after them; -k's order follows the shard's chunks. */
TEST(claims_two_shards_take_turns)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/c", dir);
	struct dp_claims_run run = run_of(2, 20);
	struct dp_claims *a = must_open(path, 0, &run, 4, false);
	struct dp_claims *b = must_open(path, 1, &run, 3, false);
	ASSERT_EQ(has(a, 1), 1); /* a: 1-4 */
	ASSERT_EQ(has(b, 1), 0); /* b reads a's chunk */
	ASSERT_EQ(has(b, 4), 0);
	ASSERT_EQ(has(b, 5), 1); /* b: 5-7 */
	ASSERT_EQ(has(a, 2), 1);
	ASSERT_EQ(has(a, 4), 1);
	ASSERT_EQ(has(a, 5), 0);
	ASSERT_EQ(has(a, 7), 0);
	ASSERT_EQ(has(a, 8), 1); /* a: 8-11 */
	ASSERT_EQ(has(b, 6), 1);
	ASSERT_EQ(has(b, 8), 0);
	ASSERT_EQ(has(b, 12), 1); /* b: 12-14 */
	ASSERT_EQ(dp_claims_next_own(a, 0), 1);
	ASSERT_EQ(dp_claims_next_own(a, 4), 8);
	ASSERT_EQ(dp_claims_next_own(a, 11), 0);
	ASSERT_EQ(dp_claims_next_own(b, 7), 12);
	dp_claims_close(a);
	dp_claims_close(b);
	char *text = read_text(path);
	ASSERT_CONTAINS(text, "\n1 4 0\n5 3 1\n8 4 0\n12 3 1\n");
	free(text);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* Child i of a concurrent run: asks every seq 1..total in order and
 * writes the ones it got to out, a line each; with sleep_us, as if each
 * task took that long. */
static void claim_child(const char *path, uint32_t i, uint32_t n,
			uint64_t total, bool known, uint64_t size,
			unsigned sleep_us, const char *out)
{
	struct dp_claims_run run = run_of(n, known ? total : 0);
	struct dp_claims *c;
	struct berr err;
	if (open_claims(path, i, &run, size, false, &c, &err) < 0) {
		fprintf(stderr, "child %u: %s\n", i, err.msg);
		_exit(2);
	}
	FILE *f = fopen(out, "we");
	for (uint64_t seq = 1; seq <= total && f; seq++) {
		int r = dp_claims_has(c, seq, &err);
		if (r < 0) {
			fprintf(stderr, "child %u: %s\n", i, err.msg);
			_exit(3);
		}
		if (r == 1) {
			fprintf(f, "%llu\n", (unsigned long long)seq);
			if (sleep_us)
				usleep(sleep_us);
		}
	}
	_exit(f && fclose(f) == 0 ? 0 : 4);
}

/* 8 processes claim from one file at once: every seq is claimed exactly
 * once, by the process the file names. */
static void claim_concurrently(uint64_t total, bool known, uint64_t size,
			       unsigned sleep_us)
{
	enum { PROCS = 8 };
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	pid_t pids[PROCS];
	char *outs[PROCS];
	for (uint32_t i = 0; i < PROCS; i++) {
		outs[i] = base_sprintf("%s/out%u", dir, i);
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0)
			claim_child(path, i, PROCS, total, known, size,
				    sleep_us, outs[i]);
	}
	for (uint32_t i = 0; i < PROCS; i++) {
		int st;
		ASSERT_EQ(waitpid(pids[i], &st, 0), pids[i]);
		ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	struct dp_claims *all;
	struct berr err;
	if (dp_claims_load(path, &all, &err) < 0)
		test_fail(__FILE__, __LINE__, "load: %s", err.msg);
	uint32_t *owner = base_calloc(total + 1, sizeof(uint32_t));
	int shards_with_work = 0;
	for (uint32_t i = 0; i < PROCS; i++) {
		char *text = read_text(outs[i]);
		ASSERT_TRUE(text != NULL);
		shards_with_work += text[0] != '\0';
		for (char *l = text; *l; l = strchr(l, '\n') + 1) {
			unsigned long long seq = strtoull(l, NULL, 10);
			ASSERT_TRUE(seq >= 1 && seq <= total);
			if (owner[seq])
				test_fail(__FILE__, __LINE__,
					  "seq %llu claimed by %u and %u", seq,
					  owner[seq] - 1, i);
			owner[seq] = i + 1;
			const struct dp_claim *k = dp_claims_chunk(all, seq);
			ASSERT_TRUE(k != NULL);
			ASSERT_EQ(k->shard, i);
		}
		free(text);
		free(outs[i]);
	}
	for (uint64_t seq = 1; seq <= total; seq++)
		if (!owner[seq])
			test_fail(__FILE__, __LINE__, "seq %llu: no one",
				  (unsigned long long)seq);
	ASSERT_TRUE(shards_with_work >= 2);
	free(owner);
	dp_claims_close(all);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

TEST(claims_eight_processes_guided)
{
	claim_concurrently(4000, true, 0, 200);
}

TEST(claims_eight_processes_one_task_a_chunk)
{
	claim_concurrently(3000, true, 1, 0);
}

TEST(claims_eight_processes_stdin)
{
	claim_concurrently(2000, false, 0, 50);
}

/* Lines after this run's line 1 that are no chunk of it. */
static const struct {
	const char *body;
	size_t len; /* 0: strlen */
	const char *msg;
} bad_bodies[] = {
	{"1 10 0\n11 5", 0,
	 "line 3: a line cut short (no newline at the end of the file)"},
	{"1 10 0\nxyz\n", 0,
	 "line 3: not a chunk (FIRST COUNT SHARD, numbers alone) (\"xyz\")"},
	{"1 10 0\n5 5 1\n", 0,
	 "line 3: the chunk starts at seq 5, but the chunks before end at "
	 "10"},
	{"1 10 0\n12 5 1\n", 0,
	 "line 3: the chunk starts at seq 12, but the chunks before end at "
	 "10"},
	{"2 10 0\n", 0, "line 2: the first chunk starts at seq 2, not 1"},
	{"1 10 3\n", 0, "line 2: shard 3 in a run of 3 shards"},
	{"1 0 0\n", 0, "line 2: a chunk of no tasks (\"1 0 0\")"},
	{"1 101 0\n", 0,
	 "line 2: a chunk of 101 tasks from seq 1: past the run's 100 tasks"},
	{"1 4294967296 0\n", 0, "line 2: a chunk of 4294967296 tasks"},
	{"1 99999999999999999999999 0\n", 0, "line 2: not a chunk"},
	{"1 18446744073709551616 0\n", 0, "line 2: not a chunk"},
	{"1 10 4294967296\n", 0, "line 2: not a chunk"},
	{"01 10 0\n", 0, "line 2: not a chunk"},
	{"+1 10 0\n", 0, "line 2: not a chunk"},
	{"1 10 0 7\n", 0, "line 2: not a chunk"},
	{"1  10 0\n", 0, "line 2: not a chunk"},
	{" 1 10 0\n", 0, "line 2: not a chunk"},
	{"1 10 0\r\n", 0, "line 2: not a chunk"},
	{"\n", 0, "line 2: not a chunk"},
	{"1 10\0 0\n", 8,
	 "line 2: not a chunk (FIRST COUNT SHARD, numbers alone) "
	 "(\"1 10? 0\")"},
	{"1 10 0\n"
	 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	 0, "line 3: a line longer than 127 bytes"},
};

/* Lines 1 that are not one. */
static const char *const bad_heads[] = {
	"1 10 0\n",
	"berth-par-claims 2 shards=3 tasks=100 input=000000000000002a\n",
	"berth-par-claims 1 shards=3 tasks=100 input=2a\n",
	"berth-par-claims 1 shards=0 tasks=100 input=000000000000002a\n",
	"berth-par-claims 1 shards=3 tasks=- input=000000000000002a\n",
	"berth-par-claims 1 shards=3 tasks=100 input=000000000000002A\n",
	"berth-par-claims 1 shards=3 tasks=100\n",
	"hello\n",
	"\n",
	"\x7f"
	"ELF\x02\x01\x01\n",
};

/* The file of text (len bytes) is refused with "claims file PATH, msg",
 * by a shard and by a merge, and is left as it was. */
static void refused(const char *path, const struct dp_claims_run *run,
		    const char *text, size_t len, const char *msg)
{
	write_text(path, text, len);
	struct dp_claims *c = NULL;
	struct berr err;
	ASSERT_EQ(open_claims(path, 0, run, 0, true, &c, &err), -EINVAL);
	ASSERT_TRUE(c == NULL);
	char *want = base_sprintf("claims file %s, %s", path, msg);
	if (!strstr(err.msg, want))
		test_fail(__FILE__, __LINE__, "\"%s\", not \"%s\"", err.msg,
			  want);
	free(want);
	ASSERT_EQ(dp_claims_load(path, &c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, msg);
	char *after = NULL;
	size_t n = 0;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, path, &after, &n, 0), 0);
	ASSERT_EQ(n, len);
	ASSERT_TRUE(!memcmp(after, text, len));
	free(after);
}

static volatile int lock_stop, lock_signals;
static bool lock_sets_stop;

static void on_alarm(int sig)
{
	lock_signals++;
	if (lock_sets_stop)
		lock_stop = 1;
}

/* A child that holds a write lock on path for hold_ms, then ends; the
 * call returns once it holds it. */
static pid_t hold_lock(const char *path, int hold_ms)
{
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fd < 0 || fcntl(fd, F_SETLKW, &fl) < 0)
			_exit(1);
		(void)!write(fds[1], "l", 1);
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	char c;
	close(fds[1]);
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

/* A shard waits for the lock while another process holds it: a signal
 * with the stop flag set ends the wait (-EINTR, no error); one without
 * it does not, and the claim goes through once the lock is free. */
TEST(claims_signal_while_waiting_for_the_lock)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(2, 10);
	struct dp_claims_opts o = {.path = path,
				   .shard = {0, 2},
				   .run = run,
				   .fixed = 1,
				   .stop = &lock_stop};
	struct dp_claims *c;
	struct berr err = {0};
	ASSERT_EQ(dp_claims_open(&o, &c, &err), 0);
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
	ASSERT_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval in100ms = {.it_value = {0, 100000}};

	pid_t holder = hold_lock(path, 5000);
	lock_sets_stop = true;
	ASSERT_EQ(setitimer(ITIMER_REAL, &in100ms, NULL), 0);
	ASSERT_EQ(dp_claims_has(c, 1, &err), -EINTR);
	ASSERT_EQ(err.code, 0);
	ASSERT_EQ(lock_signals, 1);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	char *text = read_text(path), *h = header(&run);
	ASSERT_STREQ(text, h); /* nothing claimed */
	free(text);

	lock_stop = 0;
	lock_sets_stop = false;
	holder = hold_lock(path, 300);
	ASSERT_EQ(setitimer(ITIMER_REAL, &in100ms, NULL), 0);
	ASSERT_EQ(dp_claims_has(c, 1, &err), 1);
	ASSERT_EQ(lock_signals, 2);
	waitpid(holder, NULL, 0);
	dp_claims_close(c);
	free(h);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* Files that are not the claims of a run, or not claims at all: an error
 * naming the file and the line, and the file as it was. */
TEST(claims_hostile_files)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(3, 100);
	char *h = header(&run);
	for (size_t i = 0; i < ARRAY_SIZE(bad_bodies); i++) {
		struct dp_buf b = {0};
		dp_buf_adds(&b, h);
		dp_buf_add(&b, bad_bodies[i].body,
			   bad_bodies[i].len ? bad_bodies[i].len
					     : strlen(bad_bodies[i].body));
		refused(path, &run, b.p, b.len, bad_bodies[i].msg);
		dp_buf_free(&b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_heads); i++)
		refused(path, &run, bad_heads[i], strlen(bad_heads[i]),
			"line 1: not the line of a berth par claims file "
			"(berth-par-claims 1 shards=N tasks=T input=H)");
	refused(path, &run, h, strlen(h) - 1,
		"line 1: a line cut short (no newline at the end of the "
		"file)");
	/* an empty file is one no shard opened yet: a merge has nothing */
	write_text(path, "", 0);
	struct dp_claims *c;
	struct berr err;
	ASSERT_EQ(dp_claims_load(path, &c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "empty: no shard opened it");
	ASSERT_EQ(dp_claims_load(dir, &c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "not a regular file");
	ASSERT_EQ(open_claims(dir, 0, &run, 0, false, &c, &err), -EISDIR);
	free(h);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* What another writer does while a shard runs: a bad line, a file cut
 * shorter. The shard stops claiming, with the error every time after. */
TEST(claims_file_broken_under_a_running_shard)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(2, 100);
	struct dp_claims *c = must_open(path, 0, &run, 5, false);
	ASSERT_EQ(has(c, 1), 1);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ASSERT_EQ(write(fd, "6 5 1\n", 6), 6);
	ASSERT_EQ(has(c, 6), 0);
	ASSERT_EQ(write(fd, "11 x 1\n", 7), 7);
	close(fd);
	struct berr err = {0};
	ASSERT_EQ(dp_claims_has(c, 11, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/claims, line 4: not a chunk");
	err = (struct berr){0};
	ASSERT_EQ(dp_claims_has(c, 12, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/claims, line 4: not a chunk");
	ASSERT_EQ(dp_claims_has(c, 2, &err), -EINVAL);
	dp_claims_close(c);
	char *text = read_text(path);
	ASSERT_TRUE(strstr(text, "11 x 1\n") && !strstr(text, "\n11 5 0\n"));
	free(text);

	unlink(path);
	c = must_open(path, 0, &run, 5, false);
	ASSERT_EQ(has(c, 1), 1);
	ASSERT_EQ(truncate(path, 10), 0);
	ASSERT_EQ(dp_claims_has(c, 6, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "shrank from ");
	ASSERT_CONTAINS(err.msg, " to 10 bytes: something else rewrote it");
	dp_claims_close(c);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

/* The claims file of another run (shards, tasks, input), or of an earlier
 * run of this one without --resume: refused, and left as it was. */
TEST(claims_file_of_another_run)
{
	char *dir = tmpdir(), *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(3, 100);
	struct {
		struct dp_claims_run file;
		const char *msg;
	} other[] = {
		{{4, true, 100, 42},
		 "it divides the tasks between 4 shards, this run between 3"},
		{{3, true, 120, 42}, "its input has 120 tasks, this run's 100"},
		{{3, true, 100, 43},
		 "its input of 100 tasks has digest 000000000000002b, this "
		 "run's 000000000000002a"},
		{{3, false, 0, 0},
		 "its input is stdin, this run's arguments, a file or a "
		 "range"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(other); i++) {
		char *h = header(&other[i].file);
		write_text(path, h, strlen(h));
		struct dp_claims *c = NULL;
		struct berr err;
		ASSERT_EQ(open_claims(path, 0, &run, 0, true, &c, &err),
			  -EINVAL);
		char *want = base_sprintf("claims file %s is another run's: %s",
					  path, other[i].msg);
		ASSERT_CONTAINS(err.msg, want);
		char *after = read_text(path);
		ASSERT_STREQ(after, h);
		free(after);
		free(want);
		free(h);
	}
	/* this run's file, with chunks of shard 1: an earlier run */
	char *h = header(&run), *body = base_sprintf("%s1 5 2\n6 5 1\n", h);
	write_text(path, body, strlen(body));
	struct dp_claims *c = NULL;
	struct berr err;
	ASSERT_EQ(open_claims(path, 1, &run, 0, false, &c, &err), -EEXIST);
	ASSERT_CONTAINS(err.msg, "shard 1 has chunks there already (line 3: "
				 "5 tasks from seq 6): it is the file of an "
				 "earlier run; give --resume");
	/* shard 0 has none there: it joins the run */
	c = must_open(path, 0, &run, 0, false);
	ASSERT_EQ(has(c, 11), 1);
	dp_claims_close(c);
	/* with --resume, shard 1 goes on from its chunks */
	c = must_open(path, 1, &run, 0, true);
	ASSERT_EQ(dp_claims_next_own(c, 0), 6);
	ASSERT_EQ(has(c, 8), 1);
	ASSERT_EQ(has(c, 11), 0);
	dp_claims_close(c);
	char *after = read_text(path);
	ASSERT_CONTAINS(after, "\n6 5 1\n11 ");
	free(after);
	free(h);
	free(body);
	base_rm_rf_at(AT_FDCWD, dir);
	free(path);
	free(dir);
}

static uint64_t digest_of(const struct dp_par_opts *o)
{
	struct dp_source src = {0};
	struct berr err;
	ASSERT_EQ(dp_source_open(o, &src, &err), 0);
	free(src.buf);
	return src.digest;
}

/* The digest names the input's lines: `::: a b c` and a file of those
 * lines are one input; another line, or a range, is another. */
TEST(claims_input_digest)
{
	char *dir = tmpdir(), *file = base_sprintf("%s/args", dir);
	char *cmd[] = {"echo", NULL};
	char *abc[] = {"a", "b", "c", NULL}, *abd[] = {"a", "b", "d", NULL};
	struct dp_par_opts o = {.command = cmd, .args = abc};
	uint64_t d = digest_of(&o);
	write_text(file, "a\nb\nc", 5);
	o = (struct dp_par_opts){.command = cmd, .arg_file = file};
	ASSERT_EQ(digest_of(&o), d);
	write_text(file, "a\nb\nc\n", 6);
	ASSERT_EQ(digest_of(&o), d);
	o = (struct dp_par_opts){.command = cmd, .args = abd};
	ASSERT_TRUE(digest_of(&o) != d);
	o = (struct dp_par_opts){.command = cmd, .range = "1:3"};
	uint64_t r = digest_of(&o);
	o.range = "1:3:1";
	ASSERT_EQ(digest_of(&o), r);
	o.range = "1:4";
	ASSERT_TRUE(digest_of(&o) != r);
	base_rm_rf_at(AT_FDCWD, dir);
	free(file);
	free(dir);
}

/* --resume with claims: the shard first makes what its chunks have and
 * its joblog lacks, then claims the rest; a joblog seq in no chunk of the
 * shard, or a joblog without its claims file, is refused. */
TEST(claims_resume_makes_its_chunks_first)
{
	char *dir = tmpdir(), *claims = base_sprintf("%s/claims", dir),
	     *log = base_sprintf("%s/log", dir),
	     *own = base_sprintf("%s/log.shard-1-of-3", dir);
	char *cmd[] = {"echo", NULL};
	struct dp_par_opts o = {.command = cmd,
				.range = "1:30",
				.shard = {1, 3},
				.claims = claims,
				.joblog = log,
				.resume = true};
	struct dp_claims_run run = {3, true, 30, digest_of(&o)};
	char *h = header(&run);
	char *body = base_sprintf("%s1 5 0\n6 5 1\n11 5 2\n16 4 1\n", h);
	write_text(claims, body, strlen(body));
	const char *jl = DP_JOBLOG_HEAD "6\t:\t1.0\t0.1\t0\t0\t0\t0\te\n"
					"16\t:\t1.0\t0.1\t0\t0\t0\t0\te\n"
					"8\t:\t1.0\t0.1\t0\t0\t0\t0\te\n";
	write_text(own, jl, strlen(jl));
	struct listing l;
	struct berr err;
	if (listing(&o, &l, &err) < 0)
		test_fail(__FILE__, __LINE__, "tasks: %s", err.msg);
	/* its chunks less its joblog, then every chunk after (it is alone:
	 * 11 left, a chunk of 1 each) */
	ASSERT_STREQ(l.text, "7:7 9:9 10:10 17:17 18:18 19:19 20:20 21:21 "
			     "22:22 23:23 24:24 25:25 26:26 27:27 28:28 "
			     "29:29 30:30 ");
	char *text = read_text(claims);
	ASSERT_CONTAINS(text, "\n16 4 1\n20 1 1\n21 1 1\n");
	ASSERT_CONTAINS(text, "\n30 1 1\n");
	free(text);

	/* a joblog seq of shard 0's chunk */
	jl = DP_JOBLOG_HEAD "3\t:\t1.0\t0.1\t0\t0\t0\t0\te\n";
	write_text(own, jl, strlen(jl));
	ASSERT_EQ(listing(&o, &l, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "--resume: --joblog ");
	ASSERT_CONTAINS(err.msg, "/log.shard-1-of-3 has seq 3, which is in "
				 "none of shard 1's chunks in claims file ");
	/* the claims file gone: refused, and not made anew */
	unlink(claims);
	ASSERT_EQ(listing(&o, &l, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "has tasks, but the claims file ");
	ASSERT_TRUE(access(claims, F_OK) < 0);
	/* without --resume, a new file: shard 1 alone takes every task */
	o.resume = false;
	ASSERT_EQ(listing(&o, &l, &err), 0);
	ASSERT_CONTAINS(l.text, "1:1 2:2 ");
	ASSERT_CONTAINS(l.text, " 30:30 ");
	/* and a second first run of it is refused */
	ASSERT_EQ(listing(&o, &l, &err), -EEXIST);
	ASSERT_CONTAINS(err.msg, "shard 1 has chunks there already");

	/* options */
	o = (struct dp_par_opts){
		.command = cmd, .range = "1:3", .claims = claims};
	ASSERT_EQ(listing(&o, &l, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "--claims ");
	ASSERT_CONTAINS(err.msg, " needs --shard (I/N or auto)");
	o = (struct dp_par_opts){
		.command = cmd, .range = "1:3", .claim_size = 3};
	ASSERT_EQ(listing(&o, &l, &err), -EINVAL);
	ASSERT_STREQ(err.msg, "--claim-size needs --claims FILE");
	free(h);
	free(body);
	base_rm_rf_at(AT_FDCWD, dir);
	free(claims);
	free(log);
	free(own);
	free(dir);
}

/* stdin with claims: chunks of the fixed size, none past the input's
 * end. */
TEST(claims_stdin)
{
	char *dir = tmpdir(), *claims = base_sprintf("%s/claims", dir);
	char *cmd[] = {"echo", NULL};
	int fds[2];
	ASSERT_EQ(pipe(fds), 0);
	ASSERT_EQ(write(fds[1], "a\nb\nc\nd\ne\n", 10), 10);
	close(fds[1]);
	struct dp_par_opts o = {.command = cmd,
				.input_fd = fds[0],
				.shard = {0, 2},
				.claims = claims,
				.claim_size = 2};
	struct listing l;
	struct berr err;
	ASSERT_EQ(listing(&o, &l, &err), 0);
	close(fds[0]);
	ASSERT_STREQ(l.text, "1:a 2:b 3:c 4:d 5:e ");
	char *text = read_text(claims);
	ASSERT_STREQ(text, "berth-par-claims 1 shards=2 tasks=- input=-\n"
			   "1 2 0\n3 2 0\n5 2 0\n");
	free(text);
	base_rm_rf_at(AT_FDCWD, dir);
	free(claims);
	free(dir);
}

/* ---- merge with a claims file */

static void add_line(struct dp_buf *log, struct dp_buf *res, uint64_t seq)
{
	dp_buf_printf(log, "%llu\t:\t100.0\t0.001\t4\t2\t0\t0\techo %llu\n",
		      (unsigned long long)seq, (unsigned long long)seq);
	dp_buf_printf(res, DP_RESULT_HEAD "%llu,\"task\":\"%llu\"}\n",
		      (unsigned long long)seq, (unsigned long long)seq);
}

/* The shards' files of a run of 10 tasks, seq s shard owner[s]'s; less
 * skip; with move in shard `to`'s file. */
static void write_run_of(const char *dir, const uint32_t *owner, uint64_t skip,
			 uint64_t move, uint32_t to)
{
	for (uint32_t i = 0; i < 3; i++) {
		struct dp_buf log = {0}, res = {0};
		dp_buf_adds(&log, DP_JOBLOG_HEAD);
		dp_buf_adds(&res, "");
		for (uint64_t seq = 10; seq >= 1; seq--)
			if (seq != skip && (seq == move ? to : owner[seq]) == i)
				add_line(&log, &res, seq);
		char *p = base_sprintf("%s/log.shard-%u-of-3", dir, i);
		write_text(p, log.p, log.len);
		free(p);
		p = base_sprintf("%s/res.shard-%u-of-3", dir, i);
		write_text(p, res.p, res.len);
		free(p);
		dp_buf_free(&log);
		dp_buf_free(&res);
	}
}

/* ... whose chunks are 1-4 (shard 2), 5-7 (0), 8-9 (1), 10 (0) */
static void write_run(const char *dir, uint64_t skip, uint64_t move,
		      uint32_t to)
{
	static const uint32_t owner[11] = {0, 2, 2, 2, 2, 0, 0, 0, 1, 1, 0};
	write_run_of(dir, owner, skip, move, to);
}

static int merge(const char *dir, const char *claims, uint32_t shards,
		 uint64_t tasks, struct berr *err)
{
	char *log = base_sprintf("%s/log", dir),
	     *res = base_sprintf("%s/res", dir);
	struct dp_merge_opts o = {.joblog = log,
				  .results = res,
				  .shards = shards,
				  .tasks = tasks,
				  .claims = claims};
	struct dp_merge_stats st;
	*err = (struct berr){0};
	int r = dp_par_merge(&o, &st, err);
	free(log);
	free(res);
	return r;
}

/* The claims file of the run that write_run() writes the files of. */
static char *run_claims(const char *dir, const char *chunks)
{
	char *path = base_sprintf("%s/claims", dir);
	struct dp_claims_run run = run_of(3, 10);
	char *h = header(&run), *body = base_sprintf("%s%s", h, chunks);
	write_text(path, body, strlen(body));
	free(h);
	free(body);
	return path;
}

/* What one run with -k writes of write_run()'s tasks. */
static void want_joblog(struct dp_buf *want)
{
	struct dp_buf res = {0};
	dp_buf_adds(want, DP_JOBLOG_HEAD);
	for (uint64_t seq = 1; seq <= 10; seq++)
		add_line(want, &res, seq);
	dp_buf_free(&res);
}

/* Whose each seq is comes from the claims file: the merge of such a run
 * is every task once, in order, its number of tasks the file's; a shard
 * that had no chunk may have no file. */
TEST(claims_merge)
{
	char *dir = tmpdir();
	char *claims = run_claims(dir, "1 4 2\n5 3 0\n8 2 1\n10 1 0\n");
	struct berr err;
	struct dp_buf want = {0};
	want_joblog(&want);
	write_run(dir, 0, 0, 0);
	if (merge(dir, claims, 0, 0, &err) < 0)
		test_fail(__FILE__, __LINE__, "merge: %s", err.msg);
	char *log = base_sprintf("%s/log", dir), *text = read_text(log);
	ASSERT_STREQ(text, want.p);
	free(text);
	ASSERT_EQ(unlink(log), 0);

	static const uint32_t no1[11] = {0, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0};
	free(claims);
	claims = run_claims(dir, "1 4 2\n5 6 0\n");
	write_run_of(dir, no1, 0, 0, 0);
	char *p1 = base_sprintf("%s/log.shard-1-of-3", dir),
	     *r1 = base_sprintf("%s/res.shard-1-of-3", dir);
	ASSERT_EQ(unlink(p1), 0);
	ASSERT_EQ(unlink(r1), 0);
	if (merge(dir, claims, 0, 0, &err) < 0)
		test_fail(__FILE__, __LINE__, "merge: %s", err.msg);
	text = read_text(log);
	ASSERT_STREQ(text, want.p);
	free(text);
	free(p1);
	free(r1);
	free(log);
	dp_buf_free(&want);
	base_rm_rf_at(AT_FDCWD, dir);
	free(claims);
	free(dir);
}

/* A seq in the wrong shard's file, or missing, is named with the shard
 * the claims file gives it; a file of a shard with chunks must be there;
 * the files of such a run do not merge as round-robin's; --shards and
 * --tasks must agree with the file. Nothing is written. */
TEST(claims_merge_refuses)
{
	char *dir = tmpdir();
	char *claims = run_claims(dir, "1 4 2\n5 3 0\n8 2 1\n10 1 0\n");
	char *log = base_sprintf("%s/log", dir);
	struct berr err;
	write_run(dir, 0, 0, 0);
	char *p1 = base_sprintf("%s/log.shard-1-of-3", dir);
	ASSERT_EQ(unlink(p1), 0);
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "/log.shard-1-of-3 is missing: shard 1/3");
	free(p1);
	write_run(dir, 0, 0, 0);
	ASSERT_EQ(merge(dir, NULL, 3, 0, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/log.shard-0-of-3, line 4: seq 6 is shard "
				 "2's, not 0's (a file of another --shard? a "
				 "run with --claims needs merge --claims "
				 "FILE)");
	/* seq 6 in shard 1's file */
	write_run(dir, 0, 6, 1);
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "/log.shard-1-of-3, line 4: seq 6 is shard "
				 "0's (claims file ");
	ASSERT_CONTAINS(err.msg, "/claims, line 3), not 1's");
	/* seq 9 missing: shard 1's */
	write_run(dir, 9, 0, 0);
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -ENODATA);
	ASSERT_CONTAINS(err.msg, "1 of 10 tasks are in no shard's file: seq 9 "
				 "(shard 1/3); run their shards again with "
				 "--resume");
	/* the last one missing, found from the file's tasks */
	write_run(dir, 10, 0, 0);
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -ENODATA);
	ASSERT_CONTAINS(err.msg, "seq 10 (shard 0/3)");
	ASSERT_EQ(merge(dir, claims, 4, 0, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "--shards 4: claims file ");
	ASSERT_CONTAINS(err.msg, " is of a run of 3 shards");
	ASSERT_EQ(merge(dir, claims, 0, 11, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, " is of a run of 10 tasks");
	/* a run cut short before every seq was claimed */
	free(claims);
	claims = run_claims(dir, "1 4 2\n5 3 0\n");
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "seq 9 is in no chunk of claims file ");
	write_run_of(dir, (const uint32_t[11]){0, 2, 2, 2, 2, 0, 0, 0, 9, 9, 9},
		     0, 0, 0);
	ASSERT_EQ(merge(dir, claims, 0, 0, &err), -ENODATA);
	ASSERT_CONTAINS(err.msg, "3 of 10 tasks are in no shard's file: seq 8 "
				 "(in no chunk), 9 (in no chunk), 10 (in no "
				 "chunk)");
	ASSERT_TRUE(access(log, F_OK) < 0);
	free(log);
	base_rm_rf_at(AT_FDCWD, dir);
	free(claims);
	free(dir);
}
