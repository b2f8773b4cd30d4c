/* cli: the `berth` command line. Private to cli/.
 *
 * Each cmd-*.c parses its flags with cli_parse() and then makes one library
 * call; nothing here touches a namespace, a cgroup or the state root.
 *
 * Flags follow Go's flag package as used by runc, because containerd,
 * Docker, podman and Slurm build runc command lines: `-x`, `--x`, `-long`
 * and `--long` are the same flag; values come as `--flag value` or
 * `--flag=value`; a boolean takes `--flag=true|false` but never consumes
 * the next argument; names are never abbreviated. The global flags (--root,
 * --log, ...) are accepted before the command and among its flags. getopt
 * cannot express this (prefix matching, `-long` ambiguities), hence a small
 * parser of our own.
 *
 * Exit statuses: 0 success, 1 any error (printed once), or the container's
 * status for `run` and `exec`. */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "engine/engine.h"
#include "runtime/runtime.h"

/* berth's DT_FINI (the link's -fini=cli_fini), which does nothing. The
 * usual one, crti's _fini, is as empty but sits past all the text, and
 * calling it at exit costs a 64 KiB fault-around window of its own. */
void cli_fini(void);

enum cli_kind {
	CLI_BOOL,  /* bool *; `--x`, `--x=true`, `--x=false` */
	CLI_STR,   /* const char **; the last one given wins */
	CLI_COUNT, /* int *; a decimal >= 0 */
	CLI_STRV,  /* char ***; repeatable, appended (caller frees) */
};

struct cli_opt {
	const char *name;  /* long name, without dashes */
	const char *alias; /* usually one letter; NULL when none */
	enum cli_kind kind;
	void *dest;
	const char *metavar; /* shown in --help for valued flags */
	const char *help;
};

#define CLI_OPT_END                                                            \
	{                                                                      \
		NULL, NULL, CLI_BOOL, NULL, NULL, NULL                         \
	}

struct cli;
typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

struct cli_command {
	const char *name;
	const char *synopsis; /* after "berth NAME [options] " */
	const char *summary;
	cli_cmd_fn fn;
};

/* Everything the global flags set, plus the positional arguments of the
 * command once cli_parse() has run. */
struct cli {
	struct rt_ctx ctx;	/* --root, --systemd-cgroup, --debug */
	const char *log_path;	/* --log */
	const char *log_format; /* --log-format: "text" or "json" */
	const char *criu;	/* --criu: accepted, unused */
	const char *rootless;	/* --rootless VALUE: accepted, unused */
	bool help;
	bool version;
	const struct cli_command *cmd; /* NULL while parsing the globals */
	char **args; /* positional arguments, NULL-terminated */
	size_t nargs;
};

/* Parse stop rules for cli_args_parse(). */
enum {
	/* Everything from the first positional argument on is positional
	 * (`exec ID CMD -x`, `ps ID -ef`). Otherwise flags and positional
	 * arguments may be interleaved, as runc's reordering allows. */
	CLI_STOP_AT_ARG = 1 << 0,
};

/* cli_parse() and cli_take_id() return this when the command goes on;
 * anything else is the exit status to return at once. */
#define CLI_CONTINUE (-1)

/* ---- cli-args.c: flags and usage (no library calls) ---------------------- */

/* Parses argv[0..argc) against opts (may be NULL) and the global flags.
 * argv[argc] must be writable (main's argv or a suffix of it). Positional
 * arguments are moved to the front of argv, NULL-terminated and recorded in
 * cli->args/nargs. Returns 0, or -1 after printing the problem to stderr
 * ("berth: unknown flag: --foo" and a hint). */
int cli_args_parse(struct cli *cli, const struct cli_opt *opts, unsigned flags,
		   int argc, char **argv);
/* 512, 64k, 1.5g, 2GiB: bytes, powers of 1024 (docker's -m). */
int cli_parse_size(const char *s, int64_t *out);
/* berth-agent for par and job: $BERTH_AGENT, else next to the berth
 * binary. Caller frees. */
char *cli_agent_path(void);
/* `berth image load --help` shows load's usage: cli->cmd becomes *cmd,
 * named "<command> <sub>" in name[len]. */
void cli_enter_subcommand(struct cli *cli, struct cli_command *cmd, char *name,
			  size_t len, const char *sub, const char *synopsis,
			  const char *summary);
/* Go's strconv.ParseBool. */
int cli_parse_bool(const char *s, bool *out);

/* A subcommand (`berth job run`, `berth network ls`). */
struct cli_sub {
	const char *name, *synopsis, *summary;
	size_t min_args, max_args; /* arguments after SUB */
	const void *impl;	   /* the command's own: what runs it */
	unsigned flags;		   /* cli_parse's (CLI_STOP_AT_ARG) */
};
#define CLI_ANY_ARGS ((size_t)-1)

/* Parses `berth CMD SUB [options] [ARG...]` (SUB may also follow the
 * options) for the n subcommands of subs: `CMD SUB --help` shows SUB's
 * usage, `CMD --help`, a missing SUB or an unknown one list them all
 * (then note, when not NULL). Checks SUB's number of arguments. Returns
 * CLI_CONTINUE with *sub set, or the exit status. */
int cli_parse_sub(struct cli *cli, const struct cli_sub *subs, size_t n,
		  const char *note, const struct cli_opt *opts, int argc,
		  char **argv, const struct cli_sub **sub);
/* The --help of a command (cli->cmd) or, with no command, of berth. */
void cli_usage(const struct cli *cli, const struct cli_opt *opts, FILE *out);
void cli_main_usage(FILE *out);

/* Docker's sizes: powers of 1000, three significant digits ("4.26MB"). */
void cli_human_size(uint64_t n, char *buf, size_t len);

/* How `job logs` and `compose logs` print: "LABEL<sep>[TIME ]TEXT", each
 * line flushed when following. */
struct cli_log_print {
	const char *sep;
	bool timestamps, follow;
};
/* cmd-job.c, for compose's too: a container's STATUS ("running",
 * "exited(3)"), and `job scale`'s GROUP=N... of a running job (what: the
 * command, for messages); the exit status. */
void cli_job_status(const struct eng_job_entry *e, char *buf, size_t len);
int cli_job_scale(struct cli *cli, const char *job, char *const *specs,
		  const char *what);

/* `job logs` and `compose logs`: the logs of job's groups (all when
 * groups is empty) as pr prints them, with --tail and --since; none_ok:
 * a job that never ran has no logs, and that is no error. Returns the
 * exit status. */
int cli_job_logs(struct cli *cli, const char *job, char *const *groups,
		 const struct cli_log_print *pr, const char *tail,
		 const char *since, bool none_ok);

/* The --tail (a number or "all"; *tail_out kept for "all" and NULL)
 * and --since of a logs command, as `berth logs` takes them (cmd-logs.c,
 * for job and compose logs too). Returns CLI_CONTINUE or the exit
 * status. */
int cli_logs_window(const char *tail, const char *since, long *tail_out,
		    int64_t *since_ns);

/* ---- main.c: commands, set-up, errors ------------------------------------ */

extern const struct cli_command cli_commands[];

/* cli_args_parse(), then --help, then the log (blog_open). Returns
 * CLI_CONTINUE or the exit status. */
int cli_parse(struct cli *cli, const struct cli_opt *opts, unsigned flags,
	      int argc, char **argv);
/* Checks that there are 1..max_args positional arguments (max_args 0: no
 * limit) and that the first is a valid container id. */
int cli_take_id(struct cli *cli, size_t max_args, const char **id);
/* Prints "berth: MSG" to stderr and, when --log names a file, an error line
 * there too; stderr's last line is the error. Returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_error() of a library error; r is the function's return value, used
 * when err holds no message. */
int cli_fail(int r, const struct berr *err);

/* ---- the commands (cmd-*.c) ---------------------------------------------- */

int cli_cmd_create(struct cli *cli, int argc, char **argv);
int cli_cmd_start(struct cli *cli, int argc, char **argv);
int cli_cmd_run(struct cli *cli, int argc, char **argv);
int cli_cmd_state(struct cli *cli, int argc, char **argv);
int cli_cmd_kill(struct cli *cli, int argc, char **argv);
int cli_cmd_delete(struct cli *cli, int argc, char **argv);
int cli_cmd_checkpoint(struct cli *cli, int argc, char **argv);
int cli_cmd_restore(struct cli *cli, int argc, char **argv);
int cli_cmd_list(struct cli *cli, int argc, char **argv);
int cli_cmd_ps(struct cli *cli, int argc, char **argv);
int cli_cmd_exec(struct cli *cli, int argc, char **argv);
int cli_cmd_spec(struct cli *cli, int argc, char **argv);
int cli_cmd_features(struct cli *cli, int argc, char **argv);
int cli_cmd_pause(struct cli *cli, int argc, char **argv);
int cli_cmd_resume(struct cli *cli, int argc, char **argv);
int cli_cmd_update(struct cli *cli, int argc, char **argv);
int cli_cmd_events(struct cli *cli, int argc, char **argv);
int cli_cmd_par(struct cli *cli, int argc, char **argv);
int cli_cmd_launch(struct cli *cli, int argc, char **argv);
int cli_cmd_job(struct cli *cli, int argc, char **argv);
int cli_cmd_network(struct cli *cli, int argc, char **argv);
int cli_cmd_build(struct cli *cli, int argc, char **argv);
int cli_cmd_compose(struct cli *cli, int argc, char **argv);
int cli_cmd_logs(struct cli *cli, int argc, char **argv);
int cli_cmd_stop(struct cli *cli, int argc, char **argv);
int cli_cmd_restart(struct cli *cli, int argc, char **argv);
int cli_cmd_rm(struct cli *cli, int argc, char **argv);
int cli_cmd_containers(struct cli *cli, int argc, char **argv);

/* Writes the flags `create` and `run` share, pointing into o, to
 * tab[0 .. CLI_CREATE_NOPTS) and returns CLI_CREATE_NOPTS. */
#define CLI_CREATE_NOPTS 7
size_t cli_create_opts(struct cli_opt *tab, struct rt_create_opts *o);

#endif
