/* dist/ job: the job file's parser and its messages. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/unit/test.h"

static const char good[] =
	"{\"name\": \"primes\", \"store\": \"/s\", \"queues\": {\"tasks\": {},"
	" \"nums\": {\"range\": \"1:10\"}},"
	" \"groups\": ["
	"  {\"name\": \"coordinator\", \"image\": \"img\", \"command\": "
	"[\"sh\","
	"   \"-c\", \"seq 10\"], \"produces\": \"tasks\"},"
	"  {\"name\": \"workers\", \"image\": \"img\", \"command\": [\"w\"],"
	"   \"count\": 2, \"cpus\": \"0-1\", \"memory\": \"64m\", "
	"\"pids_limit\":"
	"   64, \"env\": {\"K\": \"V\"}, \"volumes\": [\"/h:/c:ro\"], \"mode\":"
	"   \"lib\", \"consumes\": \"tasks\"},"
	"  {\"name\": \"sq\", \"rootfs\": \"/r\", \"command\": [\"echo\"],"
	"   \"consumes\": \"nums\"},"
	"  {\"name\": \"db\", \"image\": \"img\"}]}";

/* The message of parsing text, or NULL when it parses. */
static char *parse_msg(const char *text)
{
	struct eng_job *j = NULL;
	struct berr err = {0};
	int r = eng_job_parse(text, strlen(text), "dir/job.json", &j, &err);
	eng_job_free(j);
	if (r == 0)
		return NULL;
	ASSERT_EQ(r, -EINVAL);
	return strdup(err.msg);
}

#define ASSERT_MSG(text, want)                                                 \
	do {                                                                   \
		char *_m = parse_msg(text);                                    \
		ASSERT_TRUE(_m != NULL);                                       \
		ASSERT_STREQ(_m, want);                                        \
		free(_m);                                                      \
	} while (0)

TEST(job_parse_good)
{
	struct eng_job *j = NULL;
	struct berr err = {0};
	ASSERT_EQ(eng_job_parse(good, strlen(good), "x.json", &j, &err), 0);
	ASSERT_STREQ(j->name, "primes");
	ASSERT_STREQ(j->store, "/s");
	ASSERT_EQ(j->ngroups, 4);
	ASSERT_EQ(j->nqueues, 2);
	const struct eng_job_group *w = &j->groups[1];
	ASSERT_EQ(j->groups[0].role, ENG_JOB_PRODUCER);
	ASSERT_EQ(w->role, ENG_JOB_CONSUMER);
	ASSERT_EQ(j->groups[3].role, ENG_JOB_SERVICE);
	ASSERT_EQ(w->count, 2);
	ASSERT_EQ(w->memory, 64 << 20);
	ASSERT_EQ(w->pids_limit, 64);
	ASSERT_EQ(w->mode, DP_MODE_LIB);
	ASSERT_STREQ(w->cpus, "0-1");
	ASSERT_STREQ(w->env[0], "K=V");
	ASSERT_STREQ(w->volumes[0], "/h:/c:ro");
	ASSERT_EQ(j->groups[2].mode, DP_MODE_EXEC);
	ASSERT_STREQ(j->groups[2].rootfs, "/r");
	int t = w->queue;
	ASSERT_STREQ(j->queues[t].name, "tasks");
	ASSERT_EQ(j->queues[t].producer, 0);
	ASSERT_EQ(j->queues[t].consumer, 1);
	ASSERT_STREQ(j->queues[j->groups[2].queue].range, "1:10");
	ASSERT_EQ(j->text_len, strlen(good));
	eng_job_free(j);
}

TEST(job_default_name)
{
	struct eng_job *j = NULL;
	struct berr err = {0};
	const char *t = "{\"groups\": [{\"name\": \"a\", \"image\": \"i\"}]}";
	ASSERT_EQ(eng_job_parse(t, strlen(t), "/tmp/x/my-job.json", &j, &err),
		  0);
	ASSERT_STREQ(j->name, "my-job");
	ASSERT_EQ(j->groups[0].count, 1);
	ASSERT_TRUE(j->groups[0].command == NULL);
	eng_job_free(j);
}

TEST(job_malformed)
{
	ASSERT_MSG("{\"groups\": [\n}",
		   "dir/job.json: malformed JSON at line 2, column 1");
	ASSERT_MSG("[]", "dir/job.json: expected a JSON object at the top");
	ASSERT_MSG("{\"group\": []}", "dir/job.json: group: unknown field");
	ASSERT_MSG("{\"groups\": []}",
		   "dir/job.json: groups: expected a non-empty array");
	ASSERT_MSG("{\"name\": \"a/b\", \"groups\": [{\"name\": \"a\", "
		   "\"image\": \"i\"}]}",
		   "dir/job.json: name: `a/b`: a job name must match "
		   "[A-Za-z0-9][A-Za-z0-9_.-]*");
}

TEST(job_group_errors)
{
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\"}, "
		   "{\"name\": \"b\", \"image\": \"i\", \"count\": \"2\"}]}",
		   "dir/job.json: groups[1].count: expected a positive "
		   "integer (at most 4096)");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"count\": 0}]}",
		   "dir/job.json: groups[0].count: expected a positive "
		   "integer (at most 4096)");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\"}]}",
		   "dir/job.json: groups[0]: give one of \"image\" or "
		   "\"rootfs\"");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"imag\": 1}]}",
		   "dir/job.json: groups[0].imag: unknown field");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"cpus\": \"0-\"}]}",
		   "dir/job.json: groups[0].cpus: `0-` is not a CPU list "
		   "(like 0-3,6)");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"memory\": \"64q\"}]}",
		   "dir/job.json: groups[0].memory: expected a size like 64m "
		   "or 2g");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"env\": {\"K\": 1}}]}",
		   "dir/job.json: groups[0].env: K: expected a string");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\"}, "
		   "{\"name\": \"a\", \"image\": \"i\"}]}",
		   "dir/job.json: groups[1].name: a is the name of groups[0] "
		   "already");
	ASSERT_MSG("{\"queues\": {\"q\": {\"args\": [\"1\"]}}, \"groups\": "
		   "[{\"name\": \"a\", \"image\": \"i\", \"command\": [\"x\"], "
		   "\"consumes\": \"q\", \"mode\": \"fast\"}]}",
		   "dir/job.json: groups[0].mode: unknown mode `fast`: "
		   "expected exec, line or lib");
}

TEST(job_service_init_ulimits_cpu_quota)
{
	static const char text[] =
		"{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		"\"init\": true, \"cpu_quota\": 0.5, \"ulimits\": "
		"[\"nofile=1000:2000\", \"nproc=512\"], \"stop_signal\": "
		"\"SIGUSR1\", \"stop_grace_period\": \"1m30s\", \"restart\": "
		"\"on-failure:3\"}]}";
	struct eng_job *j = NULL;
	struct berr err = {0};
	char *m0 = NULL;
	ASSERT_EQ(eng_job_parse(text, strlen(text), "job.json", &j, &err), 0);
	const struct eng_job_group *g = &j->groups[0];
	ASSERT_TRUE(g->init);
	ASSERT_TRUE(g->cpu_quota == 0.5);
	ASSERT_EQ(g->n_ulimits, 2u);
	ASSERT_STREQ(g->ulimits[0].name, "nofile");
	ASSERT_EQ(g->ulimits[0].soft, 1000u);
	ASSERT_EQ(g->ulimits[0].hard, 2000u);
	ASSERT_STREQ(g->ulimits[1].name, "nproc");
	ASSERT_EQ(g->stop_signal, SIGUSR1);
	ASSERT_EQ(g->stop_grace_ms, 90000);
	ASSERT_EQ(g->restart.kind, ENG_RESTART_ON_FAILURE);
	ASSERT_EQ(g->restart.max, 3);
	eng_job_free(j);
	m0 = parse_msg("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		       "\"restart\": \"sometimes\"}]}");
	ASSERT_TRUE(m0 != NULL);
	ASSERT_CONTAINS(m0, "dir/job.json: groups[0]: ");
	ASSERT_CONTAINS(m0, "sometimes");
	free(m0);
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"stop_signal\": \"SIGNOPE\"}]}",
		   "dir/job.json: groups[0]: stop_signal: `SIGNOPE` is not a "
		   "signal");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"stop_grace_period\": \"soon\"}]}",
		   "dir/job.json: groups[0]: stop_grace_period: `soon`: a "
		   "duration like 10s");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"init\": \"yes\"}]}",
		   "dir/job.json: groups[0].init: expected true or false");
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"cpu_quota\": 0}]}",
		   "dir/job.json: groups[0].cpu_quota: expected a number of "
		   "CPUs above 0");
	char *m = parse_msg("{\"groups\": [{\"name\": \"a\", \"image\": "
			    "\"i\", \"ulimits\": [\"bogus=1\"]}]}");
	ASSERT_TRUE(m != NULL);
	ASSERT_CONTAINS(m, "dir/job.json: groups[0].ulimits: ");
	ASSERT_CONTAINS(m, "bogus");
	free(m);
}

TEST(job_queue_errors)
{
	ASSERT_MSG("{\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
		   "\"command\": [\"x\"], \"consumes\": \"q\"}]}",
		   "dir/job.json: groups[0]: consumes: unknown queue `q`");
	ASSERT_MSG("{\"queues\": {\"q\": {}}, \"groups\": [{\"name\": \"a\", "
		   "\"image\": \"i\", \"command\": [\"x\"], \"consumes\": "
		   "\"q\"}]}",
		   "dir/job.json: queues.q: no group produces it and it has "
		   "no input (\"range\", \"args\" or \"file\")");
	ASSERT_MSG("{\"queues\": {\"q\": {}}, \"groups\": [{\"name\": \"a\", "
		   "\"image\": \"i\", \"produces\": \"q\"}, {\"name\": \"b\", "
		   "\"image\": \"i\", \"produces\": \"q\"}]}",
		   "dir/job.json: groups[1]: produces: two producers: queue "
		   "`q` has one already: groups[0]");
	ASSERT_MSG("{\"queues\": {\"q\": {\"range\": \"1:x\"}}, \"groups\": "
		   "[]}",
		   "dir/job.json: queues.q: range: `1:x`: expected "
		   "START:END[:STEP] (integers, STEP not 0)");
	ASSERT_MSG("{\"queues\": {\"q\": {\"range\": \"1:2\"}}, \"groups\": "
		   "[{\"name\": \"a\", \"image\": \"i\"}]}",
		   "dir/job.json: queues.q: no group consumes it");
	ASSERT_MSG("{\"queues\": {\"q\": {\"range\": \"1:2\", \"args\": "
		   "[\"a\"]}}, \"groups\": []}",
		   "dir/job.json: queues.q: give one input: \"range\", "
		   "\"args\" or \"file\"");
}

TEST(job_file_input_is_relative_to_the_job)
{
	struct eng_job *j = NULL;
	struct berr err = {0};
	const char *t = "{\"queues\": {\"q\": {\"file\": \"in.txt\"}}, "
			"\"groups\": [{\"name\": \"a\", \"image\": \"i\", "
			"\"command\": [\"x\"], \"consumes\": \"q\"}]}";
	ASSERT_EQ(eng_job_parse(t, strlen(t), "/tmp/job.json", &j, &err), 0);
	ASSERT_STREQ(j->queues[0].file, "/tmp/in.txt");
	eng_job_free(j);
}
