/* cli/: the Go-style flag parser. The command line is not part of
 * libberth.a, so its self-contained parser is compiled into this test. */
#include "cli/cli-args.c"
#include "tests/unit/test.h"

const struct cli_command cli_commands[] = {
	{NULL, NULL, NULL, NULL},
};

struct flags {
	const char *bundle;
	bool detach;
	int fds;
	char **env;
};

/* Parses a NULL-terminated copy of args (argv[argc] must be writable). */
static int parse(struct cli *cli, struct flags *f, unsigned how, char **args)
{
	const struct cli_opt opts[] = {
		{"bundle", "b", CLI_STR, &f->bundle, "DIR", ""},
		{"detach", "d", CLI_BOOL, &f->detach, NULL, ""},
		{"preserve-fds", NULL, CLI_COUNT, &f->fds, "N", ""},
		{"env", "e", CLI_STRV, &f->env, "K=V", ""},
		CLI_OPT_END,
	};
	return cli_args_parse(cli, opts, how, (int)base_strv_len(args), args);
}

TEST(go_style_forms_are_one_flag)
{
	char *a[] = {"-b",
		     "/x",
		     "c1",
		     "--root=/r",
		     "-bundle=/y",
		     "--detach",
		     "-preserve-fds",
		     "3",
		     NULL};
	struct cli cli = {0};
	struct flags f = {0};
	ASSERT_EQ(parse(&cli, &f, 0, a), 0);
	ASSERT_STREQ(f.bundle, "/y");
	ASSERT_TRUE(f.detach);
	ASSERT_EQ(f.fds, 3);
	ASSERT_STREQ(cli.ctx.root, "/r");
	ASSERT_EQ(cli.nargs, 1);
	ASSERT_STREQ(cli.args[0], "c1");
	ASSERT_TRUE(cli.args[1] == NULL);
}

TEST(bool_takes_explicit_value_only_after_equals)
{
	char *a[] = {"--detach=false", "--debug", "true", NULL};
	struct cli cli = {0};
	struct flags f = {.detach = true};
	ASSERT_EQ(parse(&cli, &f, 0, a), 0);
	ASSERT_TRUE(!f.detach);
	ASSERT_TRUE(cli.ctx.debug);
	ASSERT_EQ(cli.nargs, 1);
	ASSERT_STREQ(cli.args[0], "true");
}

TEST(stop_at_arg_keeps_command_flags)
{
	char *a[] = {"-e", "A=1", "--env=B=2", "c1",
		     "ls", "-l",  "--root",    NULL};
	struct cli cli = {0};
	struct flags f = {0};
	ASSERT_EQ(parse(&cli, &f, CLI_STOP_AT_ARG, a), 0);
	ASSERT_EQ(base_strv_len(f.env), 2);
	ASSERT_STREQ(f.env[1], "B=2");
	ASSERT_EQ(cli.nargs, 4);
	ASSERT_STREQ(cli.args[3], "--root");
	ASSERT_TRUE(cli.ctx.root == NULL);
	base_strv_free(f.env);
}

TEST(double_dash_ends_flags)
{
	char *a[] = {"--", "-d", NULL};
	struct cli cli = {0};
	struct flags f = {0};
	ASSERT_EQ(parse(&cli, &f, 0, a), 0);
	ASSERT_TRUE(!f.detach);
	ASSERT_EQ(cli.nargs, 1);
	ASSERT_STREQ(cli.args[0], "-d");
}

TEST(bad_flags_are_refused)
{
	struct cli cli = {0};
	struct flags f = {0};
	char *unknown[] = {"--foo", "c1", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, unknown), -1);
	char *abbrev[] = {"--bund", "x", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, abbrev), -1);
	char *missing[] = {"c1", "--bundle", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, missing), -1);
	char *negative[] = {"--preserve-fds", "-1", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, negative), -1);
	char *badbool[] = {"--detach=yes", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, badbool), -1);
	char *triple[] = {"---detach", NULL};
	ASSERT_EQ(parse(&cli, &f, 0, triple), -1);
}

TEST(parse_bool_matches_go)
{
	bool b = false;
	ASSERT_EQ(cli_parse_bool("T", &b), 0);
	ASSERT_TRUE(b);
	ASSERT_EQ(cli_parse_bool("False", &b), 0);
	ASSERT_TRUE(!b);
	ASSERT_EQ(cli_parse_bool("yes", &b), -EINVAL);
}

struct short_flags {
	bool i, t, d;
	char **publish;
	const char *name;
};

static int parse_short(struct cli *cli, struct short_flags *f, char **args)
{
	const struct cli_opt opts[] = {
		{"interactive", "i", CLI_BOOL, &f->i, NULL, ""},
		{"tty", "t", CLI_BOOL, &f->t, NULL, ""},
		{"detach", "d", CLI_BOOL, &f->d, NULL, ""},
		{"publish", "p", CLI_STRV, &f->publish, "P", ""},
		{"name", "n", CLI_STR, &f->name, "N", ""},
		/* a long flag spelt like a bundle wins over the bundle */
		{"dt", NULL, CLI_STR, &f->name, "N", ""},
		CLI_OPT_END,
	};
	return cli_args_parse(cli, opts, CLI_STOP_AT_ARG,
			      (int)base_strv_len(args), args);
}

TEST(short_flags_bundle_as_docker_s)
{
	char *a[] = {"-it", "img", "-dit", NULL};
	struct cli cli = {0};
	struct short_flags f = {0};
	ASSERT_EQ(parse_short(&cli, &f, a), 0);
	ASSERT_TRUE(f.i && f.t && !f.d);
	ASSERT_EQ(cli.nargs, 2); /* -dit after the image is its argument */
	ASSERT_STREQ(cli.args[1], "-dit");

	char *b[] = {"-dit", "-ti", "img", NULL};
	struct short_flags g = {0};
	ASSERT_EQ(parse_short(&cli, &g, b), 0);
	ASSERT_TRUE(g.i && g.t && g.d);
}

TEST(short_flag_bundle_value_last_takes_next_argument)
{
	char *a[] = {"-dp", "80:80", "-ip8080:80", "-dn", "web", "img", NULL};
	struct cli cli = {0};
	struct short_flags f = {0};
	ASSERT_EQ(parse_short(&cli, &f, a), 0);
	ASSERT_TRUE(f.d && f.i);
	ASSERT_EQ(base_strv_len(f.publish), 2);
	ASSERT_STREQ(f.publish[0], "80:80");
	ASSERT_STREQ(f.publish[1], "8080:80"); /* the rest of the word */
	ASSERT_STREQ(f.name, "web");
	ASSERT_EQ(cli.nargs, 1);
	base_strv_free(f.publish);

	char *b[] = {"-dt", "x", "img", NULL}; /* the long flag -dt */
	struct short_flags g = {0};
	ASSERT_EQ(parse_short(&cli, &g, b), 0);
	ASSERT_STREQ(g.name, "x");
	ASSERT_TRUE(!g.d && !g.t);
}

TEST(short_flag_bundle_errors)
{
	char *a[] = {"-ix", "img", NULL};
	struct cli cli = {0};
	struct short_flags f = {0};
	ASSERT_EQ(parse_short(&cli, &f, a), -1);
	char *b[] = {"-dp", NULL};
	struct short_flags g = {0};
	ASSERT_EQ(parse_short(&cli, &g, b), -1);
}
