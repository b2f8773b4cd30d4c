/* engine/: -p parsing, named networks and endpoints. The network tests
 * run in a fresh network namespace each (the host's namespace, routes and
 * firewall are never touched) with a private state root. */
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine-internal.h"
#include "tests/unit/test.h"

static struct eng_port *parse(const char *s, size_t *n, int *r, char *msg)
{
	struct eng_port *v = NULL;
	struct berr e = {0};
	*n = 0;
	*r = eng_port_parse(s, &v, n, &e);
	snprintf(msg, 256, "%s", e.msg);
	return v;
}

TEST(port_forms_docker_accepts)
{
	size_t n;
	int r;
	char msg[256];
	_cleanup_free_ struct eng_port *a = parse("8000:80", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(a[0].host_port, 8000);
	ASSERT_EQ(a[0].ctr_port, 80);
	ASSERT_EQ(a[0].proto, IPPROTO_TCP);
	ASSERT_STREQ(a[0].host_ip, "");
	_cleanup_free_ struct eng_port *b =
		parse("127.0.0.1:5353:53/udp", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(b[0].host_ip, "127.0.0.1");
	ASSERT_EQ(b[0].proto, IPPROTO_UDP);
	_cleanup_free_ struct eng_port *c =
		parse("9000-9002:80-82", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(n, 3);
	ASSERT_EQ(c[2].host_port, 9002);
	ASSERT_EQ(c[2].ctr_port, 82);
	/* the container port alone: any free host port */
	_cleanup_free_ struct eng_port *d = parse("7000", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(d[0].host_port, 0);
	/* IP::CTR: any host port of IP */
	_cleanup_free_ struct eng_port *f = parse("127.0.0.1::80", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(f[0].host_port, 0);
	ASSERT_STREQ(f[0].host_ip, "127.0.0.1");
	/* 0.0.0.0 is every address */
	_cleanup_free_ struct eng_port *e = parse("0.0.0.0:1:2", &n, &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_STREQ(e[0].host_ip, "");
}

TEST(port_forms_refused_name_the_text)
{
	const char *bad[] = {"80:90:100:5",
			     "0:80",
			     "80:0",
			     "70000:80",
			     "a:80",
			     "8000-8002:80-81",
			     "80/sctp",
			     "1.2.3:80:80",
			     ":80",
			     "80-79:1-2",
			     ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;
		int r;
		char msg[256];
		_cleanup_free_ struct eng_port *v = parse(bad[i], &n, &r, msg);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "`%s` accepted", bad[i]);
		ASSERT_CONTAINS(msg, "-p `");
	}
}

/* A fresh network namespace and state root for a network test. */
static struct rt_ctx world(char *root, size_t len)
{
	if (geteuid() != 0)
		test_skip("needs root");
	if (unshare(CLONE_NEWNET) < 0)
		test_skip("unshare(CLONE_NEWNET): %s", strerror(errno));
	snprintf(root, len, "/tmp/berth-test-engine.XXXXXX");
	ASSERT_TRUE(mkdtemp(root) != NULL);
	return (struct rt_ctx){.root = root};
}

static void rm_root(const char *root)
{
	_cleanup_free_ char *cmd = base_sprintf("rm -rf '%s'", root);
	ASSERT_EQ(system(cmd), 0);
}

TEST(network_create_picks_free_subnets_and_refuses_overlaps)
{
	char root[64];
	struct rt_ctx ctx = world(root, sizeof(root));
	struct berr e = {0};
	struct eng_network a, b;
	struct eng_network_opts o = {.name = "a"};
	ASSERT_EQ(eng_network_create(&ctx, &o, &a, &e), 0);
	ASSERT_STREQ(a.subnet, "10.89.0.0/24");
	ASSERT_STREQ(a.gateway, "10.89.0.1");
	ASSERT_EQ(strlen(a.id), 64);
	o.name = "b";
	ASSERT_EQ(eng_network_create(&ctx, &o, &b, &e), 0);
	ASSERT_STREQ(b.subnet, "10.89.1.0/24");
	o = (struct eng_network_opts){.name = "c", .subnet = "10.89.0.0/16"};
	ASSERT_EQ(eng_network_create(&ctx, &o, NULL, &e), -EADDRINUSE);
	ASSERT_CONTAINS(e.msg, "overlaps 10.89.0.0/24 of network a");
	o = (struct eng_network_opts){.name = "a", .subnet = "10.1.0.0/24"};
	ASSERT_EQ(eng_network_create(&ctx, &o, NULL, &e), -EEXIST);
	o = (struct eng_network_opts){
		.name = "d", .subnet = "10.2.0.0/24", .subnet6 = "10.3.0.0/24"};
	ASSERT_EQ(eng_network_create(&ctx, &o, NULL, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--ipv6 10.3.0.0/24: an IPv6 subnet");
	o = (struct eng_network_opts){
		.name = "d", .subnet = "10.2.0.0/24", .gateway = "10.2.0.255"};
	ASSERT_EQ(eng_network_create(&ctx, &o, NULL, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "not a host address of subnet 10.2.0.0/24");
	struct eng_network *v = NULL;
	size_t n = 0;
	ASSERT_EQ(eng_network_list(&ctx, &v, &n, &e), 0);
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(v[0].name, "a");
	free(v);
	_cleanup_strv_ char **gone = NULL;
	ASSERT_EQ(eng_network_prune(&ctx, &gone, &e), 0);
	ASSERT_EQ(base_strv_len(gone), 2);
	rm_root(root);
}

TEST(endpoint_attach_and_release_leave_nothing)
{
	char root[64];
	struct rt_ctx ctx = world(root, sizeof(root));
	struct berr e = {0};
	struct eng_network_opts no = {.name = "n", .subnet = "10.5.0.0/29"};
	ASSERT_EQ(eng_network_create(&ctx, &no, NULL, &e), 0);
	struct eng_net_opts o = {.mode = "n", .hostname = "h1"};
	struct eng_endpoint *ep = NULL;
	if (eng_endpoint_attach(&ctx, "c1", "c1", root, &o, &ep, &e) < 0)
		test_fail(__FILE__, __LINE__, "attach: %s", e.msg);
	ASSERT_STREQ(ep->ip, "10.5.0.2");
	ASSERT_TRUE(ep->netns != NULL);
	_cleanup_free_ char *hosts = NULL;
	ASSERT_EQ(base_read_file_at(AT_FDCWD, ep->hosts, &hosts, NULL, 0), 0);
	ASSERT_CONTAINS(hosts, "10.5.0.2\th1 c1\n");
	_cleanup_free_ char *dir = base_strdup(ep->dir);
	eng_endpoint_free(ep);
	/* c1 has no state in root: once its lock went, it is dead */
	struct eng_network *v = NULL;
	size_t n = 0;
	ASSERT_EQ(eng_network_list(&ctx, &v, &n, &e), 0);
	ASSERT_EQ(v[0].n_endpoints, 0);
	free(v);
	ASSERT_TRUE(access(dir, F_OK) < 0);
	ASSERT_EQ(eng_network_rm(&ctx, "n", &e), 0);
	rm_root(root);
}

/* ---- Dockerfiles ----------------------------------------------------------
 */

static struct eng_dockerfile *df_parse(const char *text, int *r, char *msg)
{
	struct eng_dockerfile *df = NULL;
	struct berr e = {0};
	*r = eng_dockerfile_parse(text, strlen(text), "Dockerfile", &df, &e);
	snprintf(msg, 256, "%s", e.msg);
	return df;
}

TEST(dockerfile_stages_forms_continuations_and_comments)
{
	int r;
	char msg[256];
	_cleanup_(eng_dockerfile_freep) struct eng_dockerfile *df =
		df_parse("# syntax=docker/dockerfile:1\n"
			 "ARG BASE=busybox\n"
			 "FROM ${BASE} AS build\n"
			 "# a comment\n"
			 "run echo one \\\n"
			 "  # dropped inside the continuation\n"
			 "  two\n"
			 "COPY --chown=1:2 --from=x a b /dst/\n"
			 "CMD [\"sh\", \"-c\", \"echo hi\"]\n"
			 "ENTRYPOINT [not json\n"
			 "\n"
			 "from scratch\n"
			 "COPY --from=build /x /y\n",
			 &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(df->n_global, 1);
	ASSERT_EQ(df->n_stages, 2);
	struct eng_df_stage *s = &df->stages[0];
	ASSERT_STREQ(s->base, "${BASE}");
	ASSERT_STREQ(s->name, "build");
	ASSERT_EQ(s->n, 4);
	ASSERT_EQ(s->v[0].kind, ENG_DF_RUN);
	ASSERT_EQ(s->v[0].line, 5);
	ASSERT_STREQ(s->v[0].raw, "echo one   two");
	ASSERT_STREQ(eng_df_flag(&s->v[1], "chown"), "1:2");
	ASSERT_STREQ(eng_df_flag(&s->v[1], "from"), "x");
	ASSERT_STREQ(s->v[1].raw, "a b /dst/");
	ASSERT_TRUE(s->v[2].json);
	ASSERT_STREQ(s->v[2].args[2], "echo hi");
	ASSERT_TRUE(!s->v[3].json); /* not JSON: the shell form */
	ASSERT_STREQ(df->stages[1].base, "scratch");
	ASSERT_EQ(df->stages[1].v[0].line, 13);
}

TEST(dockerfile_escape_directive_and_errors_name_the_line)
{
	int r;
	char msg[256];
	_cleanup_(eng_dockerfile_freep) struct eng_dockerfile *df = df_parse(
		"# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n", &r, msg);
	ASSERT_EQ(r, 0);
	ASSERT_EQ(df->escape, '`');
	ASSERT_STREQ(df->stages[0].v[0].raw, "dir c:\\   && echo");
	struct eng_dockerfile *bad1 = df_parse("FROM x\n\nFOO bar\n", &r, msg);
	ASSERT_EQ(r, -EINVAL);
	ASSERT_TRUE(bad1 == NULL);
	ASSERT_STREQ(msg, "Dockerfile:3: unknown instruction: FOO");
	df_parse("RUN x\nFROM y\n", &r, msg);
	ASSERT_CONTAINS(msg, "Dockerfile:1: RUN before FROM");
	df_parse("# just a comment\n", &r, msg);
	ASSERT_CONTAINS(msg, "no FROM instruction");
	df_parse("FROM a AS one\nFROM b AS one\n", &r, msg);
	ASSERT_CONTAINS(msg, "Dockerfile:2: FROM: a stage named `one`");
	df_parse("FROM a b\n", &r, msg);
	ASSERT_CONTAINS(msg, "expected IMAGE [AS NAME]");
}

static char *lex1(const char *s, char *const *env, int *r, char *msg)
{
	char **w = NULL;
	struct berr e = {0};
	*r = eng_df_lex(s, env, '\\', false, "Dockerfile", 1, &w, &e);
	snprintf(msg, 256, "%s", e.msg);
	char *one = w && w[0] ? base_strdup(w[0]) : NULL;
	base_strv_free(w);
	return one;
}

TEST(dockerfile_words_quotes_and_variables)
{
	char *env[] = {"A=1", "B=two words", "E=", "A=3", NULL};
	int r;
	char msg[256];
	_cleanup_free_ char *a = lex1("x$A${B}y", env, &r, msg);
	ASSERT_STREQ(a, "x3two wordsy"); /* the last A wins */
	_cleanup_free_ char *b =
		lex1("${E:-dflt} ${A:+set} ${NONE:+no}|", env, &r, msg);
	ASSERT_STREQ(b, "dflt set |");
	_cleanup_free_ char *c = lex1("'$A' \"$A\" \\$A", env, &r, msg);
	ASSERT_STREQ(c, "$A 3 $A");
	_cleanup_free_ char *d = lex1("${A", env, &r, msg);
	ASSERT_EQ(r, -EINVAL);
	ASSERT_CONTAINS(msg, "missing '}'");
	_cleanup_free_ char *e2 = lex1("\"open", env, &r, msg);
	ASSERT_CONTAINS(msg, "unterminated quote");
	char **w = NULL;
	struct berr e = {0};
	ASSERT_EQ(eng_df_lex("K=\"v 1\" L=$A  M", env, '\\', true, "D", 1, &w,
			     &e),
		  0);
	ASSERT_EQ(base_strv_len(w), 3);
	ASSERT_STREQ(w[0], "K=v 1");
	ASSERT_STREQ(w[1], "L=3");
	base_strv_free(w);
}

/* ---- containers: log records, rotation, restart policies ---------------- */

TEST(log_record_is_docker_json_file)
{
	struct timespec ts = {1700000000, 123456789};
	_cleanup_free_ char *r =
		eng_log_record("stderr", "a \"q\"\tb\n", 8, &ts);
	ASSERT_STREQ(r, "{\"log\":\"a \\\"q\\\"\\tb\\n\",\"stream\":\"stderr\","
			"\"time\":\"2023-11-14T22:13:20.123456789Z\"}");
	/* a NUL byte does not cut the record short */
	_cleanup_free_ char *n = eng_log_record("stdout", "x\0y\n", 4, &ts);
	ASSERT_CONTAINS(n, "\"log\":\"x y\\n\"");
}

TEST(log_file_names)
{
	char b[64];
	eng_log_file_name(0, b, sizeof(b));
	ASSERT_STREQ(b, "container.log");
	eng_log_file_name(2, b, sizeof(b));
	ASSERT_STREQ(b, "container.log.2");
}

static int count_rec(const char *stream, const char *text, size_t len,
		     const char *time, void *data)
{
	char **out = data;
	char *n = base_sprintf("%s%c%.*s", *out ? *out : "", stream[3],
			       (int)len, text);
	free(*out);
	*out = n;
	return 0;
}

TEST(log_writer_rotates_and_reader_reads_in_order)
{
	char dir[] = "/tmp/berth-test-log-XXXXXX";
	ASSERT_TRUE(mkdtemp(dir));
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct eng_log_writer w;
	struct berr e = {0};
	ASSERT_EQ(eng_log_writer_open(&w, dfd, 300, 3, &e), 0);
	for (int i = 0; i < 20; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "line %02d\n", i);
		ASSERT_EQ(eng_log_write(&w, i % 2 ? "stderr" : "stdout", line,
					(size_t)n, &e),
			  0);
	}
	eng_log_writer_close(&w);
	struct stat st;
	ASSERT_EQ(fstatat(dfd, "container.log.2", &st, 0), 0);
	ASSERT_TRUE(st.st_size <= 300);
	ASSERT_TRUE(fstatat(dfd, "container.log.3", &st, 0) < 0);
	/* oldest first, the newest last, consecutive; --tail 2 */
	_cleanup_free_ char *all = NULL, *tail = NULL;
	struct eng_logs_opts o = {
		.tail = -1, .record = count_rec, .data = &all};
	ASSERT_EQ(eng_ctr_read_log(dfd, &o), 0);
	ASSERT_CONTAINS(all, "eline 19\n");
	ASSERT_TRUE(strstr(all, "line 00") == NULL); /* rotated away */
	o = (struct eng_logs_opts){
		.tail = 2, .record = count_rec, .data = &tail};
	ASSERT_EQ(eng_ctr_read_log(dfd, &o), 0);
	ASSERT_STREQ(tail, "oline 18\neline 19\n");
	base_rm_rf_at(AT_FDCWD, dir);
}

TEST(restart_policies)
{
	struct eng_restart p;
	struct berr e = {0};
	char b[32];
	ASSERT_EQ(eng_restart_parse("on-failure:3", &p, &e), 0);
	ASSERT_EQ(p.kind, ENG_RESTART_ON_FAILURE);
	ASSERT_EQ(p.max, 3);
	eng_restart_format(&p, b, sizeof(b));
	ASSERT_STREQ(b, "on-failure:3");
	ASSERT_TRUE(eng_restart_wanted(&p, 1, 2, false));
	ASSERT_TRUE(!eng_restart_wanted(&p, 1, 3, false)); /* N restarts */
	ASSERT_TRUE(!eng_restart_wanted(&p, 0, 0, false)); /* success */
	ASSERT_EQ(eng_restart_parse("always", &p, &e), 0);
	ASSERT_TRUE(eng_restart_wanted(&p, 0, 100, false));
	ASSERT_TRUE(!eng_restart_wanted(&p, 1, 0, true)); /* stop said so */
	ASSERT_EQ(eng_restart_parse("unless-stopped", &p, &e), 0);
	ASSERT_EQ(p.kind, ENG_RESTART_UNLESS_STOPPED);
	ASSERT_EQ(eng_restart_parse("no", &p, &e), 0);
	ASSERT_TRUE(!eng_restart_wanted(&p, 1, 0, false));
	ASSERT_EQ(eng_restart_parse("on-failure:-1", &p, &e), -EINVAL);
	ASSERT_EQ(eng_restart_parse("sometimes", &p, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--restart `sometimes`");
}

TEST(human_durations_and_since)
{
	char b[48];
	eng_human_duration(0, b, sizeof(b));
	ASSERT_STREQ(b, "Less than a second");
	eng_human_duration(5, b, sizeof(b));
	ASSERT_STREQ(b, "5 seconds");
	eng_human_duration(90, b, sizeof(b));
	ASSERT_STREQ(b, "About a minute");
	eng_human_duration(150, b, sizeof(b));
	ASSERT_STREQ(b, "2 minutes");
	eng_human_duration(3 * 3600, b, sizeof(b));
	ASSERT_STREQ(b, "3 hours");
	struct timespec now = {1700000000, 0};
	int64_t ns;
	ASSERT_EQ(eng_parse_since("10m", &now, &ns), 0);
	ASSERT_EQ(ns, (1700000000LL - 600) * 1000000000LL);
	ASSERT_EQ(eng_parse_since("1h30m", &now, &ns), 0);
	ASSERT_EQ(ns, (1700000000LL - 5400) * 1000000000LL);
	ASSERT_EQ(eng_parse_since("1699999999.5", &now, &ns), 0);
	ASSERT_EQ(ns, 1699999999500000000LL);
	ASSERT_EQ(eng_parse_since("2023-11-14T22:13:20Z", &now, &ns), 0);
	ASSERT_EQ(ns, 1700000000LL * 1000000000LL);
	ASSERT_EQ(eng_parse_since("2023-11-14T23:13:20.5+01:00", &now, &ns), 0);
	ASSERT_EQ(ns, 1700000000LL * 1000000000LL + 500000000);
	ASSERT_TRUE(eng_parse_since("yesterday", &now, &ns) < 0);
}

TEST(ulimit_parse_and_fit)
{
	struct eng_ulimit u;
	struct berr e = {0};
	ASSERT_EQ(eng_ulimit_parse("nofile=1024:2048", &u, &e), 0);
	ASSERT_EQ(u.resource, RLIMIT_NOFILE);
	ASSERT_STREQ(u.name, "nofile");
	ASSERT_EQ(u.soft, 1024);
	ASSERT_EQ(u.hard, 2048);
	ASSERT_EQ(eng_ulimit_parse("nproc=50", &u, &e), 0);
	ASSERT_EQ(u.soft, 50);
	ASSERT_EQ(u.hard, 50);
	ASSERT_EQ(eng_ulimit_parse("core=-1", &u, &e), 0);
	ASSERT_TRUE(u.hard == RLIM_INFINITY);
	ASSERT_EQ(eng_ulimit_parse("nofile=2:1", &u, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "soft limit is above");
	ASSERT_EQ(eng_ulimit_parse("bogus=1", &u, &e), -EINVAL);
	ASSERT_EQ(eng_ulimit_parse("nofile", &u, &e), -EINVAL);
	ASSERT_EQ(eng_ulimit_parse("nofile=x", &u, &e), -EINVAL);
	/* 1048576 where berth's hard limit is 20000 and it cannot raise */
	u = (struct eng_ulimit){RLIMIT_NOFILE, "nofile", 1048576, 1048576};
	ASSERT_TRUE(!eng_ulimit_fit(&u, 20000, true));
	ASSERT_EQ(u.hard, 1048576);
	ASSERT_TRUE(eng_ulimit_fit(&u, 20000, false));
	ASSERT_EQ(u.hard, 20000);
	ASSERT_EQ(u.soft, 20000);
	u = (struct eng_ulimit){RLIMIT_NOFILE, "nofile", 100, 30000};
	ASSERT_TRUE(eng_ulimit_fit(&u, 20000, false));
	ASSERT_EQ(u.soft, 100); /* a soft limit below stays */
	ASSERT_TRUE(!eng_ulimit_fit(&u, 20000, false));
}

/* compose config prints what it read: a string that a YAML reader would
 * take for a number, a boolean or a null is quoted, so that "60" in a
 * command stays a string for docker-compose and for berth itself. */
TEST(yaml_print_keeps_strings_strings)
{
	static const char in[] = "a:\n"
				 "  - '60'\n"
				 "  - \"yes\"\n"
				 "  - ''\n"
				 "  - '1.5e3'\n"
				 "  - '0x1F'\n"
				 "  - 'null'\n"
				 "  - hello\n"
				 "  - 60\n"
				 "b: ~\n";
	_cleanup_cjson_ cJSON *doc = NULL;
	struct berr e = {0};
	ASSERT_EQ(eng_yaml_parse(in, sizeof(in) - 1, "t.yaml", &doc, &e), 0);
	_cleanup_free_ char *out = NULL;
	ASSERT_EQ(eng_yaml_print(doc, &out, &e), 0);
	static const char *const quoted[] = {"'60'",	"'yes'",  "''",
					     "'1.5e3'", "'0x1F'", "'null'"};
	for (size_t i = 0; i < ARRAY_SIZE(quoted); i++)
		ASSERT_CONTAINS(out, quoted[i]);
	ASSERT_CONTAINS(out, "- hello\n");
	ASSERT_CONTAINS(out, "b: null\n");
	/* read back, every scalar is the string it was */
	_cleanup_cjson_ cJSON *back = NULL;
	ASSERT_EQ(eng_yaml_parse(out, strlen(out), "t.yaml", &back, &e), 0);
	ASSERT_TRUE(cJSON_Compare(doc, back, true));
	ASSERT_STREQ(cJSON_GetArrayItem(cJSON_GetObjectItem(back, "a"), 7)
			     ->valuestring,
		     "60");
}
