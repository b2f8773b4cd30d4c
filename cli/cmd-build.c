/* berth build [options] CONTEXT: docker build without a daemon; the work
 * is eng_build().
 *
 * The progress is docker's. plain: one line an event ("#3 [2/5] RUN
 * make", "#3 DONE 0.3s") and RUN's output as it comes. tty: a display on
 * the terminal that is drawn again in place (with ANSI escapes) as the
 * events come: a line a step, the running one with its clock and the last
 * lines of its output, finished ones collapsed to one line; at the end
 * every step, and the whole output of a step that failed. auto: tty when
 * stderr is a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static void progress(const char *line, void *data)
{
	(void)data;
	fprintf(stderr, "%s\n", line);
}

/* ---- the tty display ------------------------------------------------------
 */

#define TAIL_LINES 6	   /* of the running step's output */
#define LOG_MAX (4u << 20) /* of a step's output kept for a failure */
#define REDRAW_EVERY 0.1   /* seconds, at most, while output comes */
#define TIME_WIDTH 8	   /* " 1234.5s" at the end of a step's line */

struct tty_step {
	unsigned seq;
	char *name;
	double t0, secs;
	int result; /* as step_end gives it */
	bool running;
};

struct tty_view {
	struct tty_step *steps;
	size_t n;
	char *log; /* the last step's output: lines, each with \n */
	size_t log_len, log_cap;
	bool log_cut;	 /* its start was dropped (over LOG_MAX) */
	unsigned drawn;	 /* lines of the last frame: where to go back */
	double t0, last; /* the build's start, the last frame's time */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* s without control characters and CSI sequences (they would move the
 * cursor or colour the display), in at most width columns (a UTF-8
 * sequence counts one); returns the columns written. */
static size_t put_clipped(FILE *f, const char *s, size_t len, size_t width)
{
	size_t cols = 0;
	bool keep = false; /* whether the character at hand is written */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool cont = (c & 0xc0) == 0x80;
		if (c == 0x1b && i + 1 < len && s[i + 1] == '[') {
			/* up to the sequence's final byte */
			for (i += 2; i < len && (s[i] < 0x40 || s[i] > 0x7e);)
				i++;
			continue;
		}
		if (!cont)
			keep = cols < width && (c >= 0x20 || c == '\t') &&
			       c != 0x7f;
		if (!keep)
			continue;
		fputc(c == '\t' ? ' ' : c, f);
		cols += !cont;
	}
	return cols;
}

/* " => [2/5] RUN make          0.3s" in cols - 1 columns (a character
 * in the last column would wrap the line on some terminals). */
static void put_step(FILE *f, const struct tty_step *s, size_t cols, double now)
{
	char t[32];
	snprintf(t, sizeof(t), "%.1fs", s->running ? now - s->t0 : s->secs);
	const char *what = s->running	   ? ""
			   : s->result < 0 ? "ERROR "
			   : s->result > 0 ? "CACHED "
					   : "";
	char head[16];
	snprintf(head, sizeof(head), " => %s", what);
	size_t width = cols > TIME_WIDTH + 1 ? cols - 1 - TIME_WIDTH : 1;
	size_t used = put_clipped(f, head, strlen(head), width);
	used += put_clipped(f, s->name, strlen(s->name), width - used);
	fprintf(f, "%*s%*s\x1b[K\n", (int)(width - used), "", TIME_WIDTH, t);
}

/* The last n lines of the log, each " => => # LINE". */
static unsigned put_tail(FILE *f, const struct tty_view *v, unsigned n,
			 size_t cols)
{
	const char *end = v->log + v->log_len, *p = end;
	unsigned k = 0;
	while (p > v->log && k < n) {
		const char *q = p - 1; /* the \n that ends the line before p */
		while (q > v->log && q[-1] != '\n')
			q--;
		p = q;
		k++;
	}
	for (unsigned i = 0; i < k; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		fputs(" => => # ", f);
		put_clipped(f, p, (size_t)(nl - p), cols > 10 ? cols - 10 : 0);
		fputs("\x1b[K\n", f);
		p = nl + 1;
	}
	return k;
}

static void term_size(size_t *cols, size_t *rows)
{
	struct winsize ws = {0};
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col)
		ws.ws_col = 80, ws.ws_row = 24;
	*cols = ws.ws_col;
	*rows = ws.ws_row > 4 ? ws.ws_row : 4;
}

/* The frame, over the last one: the header, the steps (while building,
 * as many of the last as the terminal holds) and the running step's last
 * lines of output. */
static void redraw(struct tty_view *v, bool final)
{
	size_t cols, rows, done = 0;
	term_size(&cols, &rows);
	double now = now_s();
	v->last = now;
	for (size_t i = 0; i < v->n; i++)
		done += !v->steps[i].running;
	bool running = v->n && v->steps[v->n - 1].running;
	unsigned tail = running && !final ? TAIL_LINES : 0;
	if (tail > rows - 3)
		tail = (unsigned)rows - 3;
	size_t first = 0;
	if (!final && v->n > rows - 2 - tail)
		first = v->n - (rows - 2 - tail);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	if (v->drawn)
		fprintf(f, "\x1b[%uA\r", v->drawn);
	fprintf(f, "[+] Building %.1fs (%zu/%zu)%s\x1b[K\n", now - v->t0, done,
		v->n, final ? " FINISHED" : "");
	for (size_t i = first; i < v->n; i++)
		put_step(f, &v->steps[i], cols, now);
	unsigned lines = 1 + (unsigned)(v->n - first);
	lines += put_tail(f, v, tail, cols);
	fputs("\x1b[J", f);
	fclose(f);
	v->drawn = lines;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(STDERR_FILENO, buf + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(buf);
}

static void tty_start(unsigned seq, const char *name, void *data)
{
	struct tty_view *v = data;
	v->steps = base_realloc(v->steps, v->n + 1, sizeof(*v->steps));
	v->steps[v->n++] = (struct tty_step){.seq = seq,
					     .name = base_strdup(name),
					     .t0 = now_s(),
					     .running = true};
	v->log_len = 0;
	v->log_cut = false;
	redraw(v, false);
}

static void tty_end(unsigned seq, int result, double secs, void *data)
{
	struct tty_view *v = data;
	for (size_t i = 0; i < v->n; i++)
		if (v->steps[i].seq == seq) {
			v->steps[i].running = false;
			v->steps[i].result = result;
			v->steps[i].secs = secs;
		}
	redraw(v, false);
}

/* Appends the line to the log; over LOG_MAX, its first half goes. */
static void log_append(struct tty_view *v, const char *line)
{
	size_t n = strlen(line);
	if (n + 1 > LOG_MAX / 2)
		n = LOG_MAX / 2 - 1;
	if (v->log_len + n + 1 > LOG_MAX) {
		size_t half = v->log_len / 2;
		const char *nl = memchr(v->log + half, '\n', v->log_len - half);
		size_t drop = nl ? (size_t)(nl + 1 - v->log) : v->log_len;
		memmove(v->log, v->log + drop, v->log_len - drop);
		v->log_len -= drop;
		v->log_cut = true;
	}
	if (v->log_len + n + 1 > v->log_cap) {
		v->log_cap = v->log_cap ? v->log_cap * 2 : 4096;
		if (v->log_cap < v->log_len + n + 1)
			v->log_cap = v->log_len + n + 1;
		v->log = base_realloc(v->log, v->log_cap, 1);
	}
	memcpy(v->log + v->log_len, line, n);
	v->log_len += n;
	v->log[v->log_len++] = '\n';
}

static void tty_output(unsigned seq, const char *line, void *data)
{
	struct tty_view *v = data;
	(void)seq; /* the last step's: steps run one at a time */
	if (line)
		log_append(v, line);
	if (now_s() - v->last >= REDRAW_EVERY)
		redraw(v, false);
}

/* The last frame, with every step; then the output of a step that
 * failed, as docker shows it, above berth's error line. */
static void tty_finish(struct tty_view *v)
{
	if (v->n)
		redraw(v, true);
	const struct tty_step *last = v->n ? &v->steps[v->n - 1] : NULL;
	if (last && last->result < 0 && v->log_len) {
		fprintf(stderr, "------\n > %s:\n%s", last->name,
			v->log_cut ? "[... the output before this was not "
				     "kept]\n"
				   : "");
		fwrite(v->log, 1, v->log_len, stderr);
		fputs("------\n", stderr);
	}
	for (size_t i = 0; i < v->n; i++)
		free(v->steps[i].name);
	free(v->steps);
	free(v->log);
}

/* ---- the command ----------------------------------------------------------
 */

/* --progress: auto is tty on a terminal (and not TERM=dumb), as docker
 * decides; tty elsewhere is an error, as docker's is. */
static int progress_mode(const char *prog, bool *tty)
{
	bool term = isatty(STDERR_FILENO);
	const char *t = getenv("TERM");
	*tty = !strcmp(prog, "tty") ||
	       (!strcmp(prog, "auto") && term && !(t && !strcmp(t, "dumb")));
	if (strcmp(prog, "plain") && strcmp(prog, "tty") &&
	    strcmp(prog, "auto"))
		return cli_error("build: --progress %s: expected auto, plain "
				 "or tty",
				 prog);
	if (*tty && !term)
		return cli_error("build: --progress tty: stderr is not a "
				 "terminal (use plain or auto)");
	return 0;
}

int cli_cmd_build(struct cli *cli, int argc, char **argv)
{
	struct eng_build_opts o = {.progress = progress};
	_cleanup_strv_ char **args = NULL;
	const char *prog = "auto";
	bool quiet = false;
	const struct cli_opt opts[] = {
		{"tag", "t", CLI_STR, &o.tag, "NAME[:TAG]", "name the image"},
		{"file", "f", CLI_STR, &o.file, "FILE",
		 "the Dockerfile (default CONTEXT/Dockerfile)"},
		{"build-arg", NULL, CLI_STRV, &args, "K=V",
		 "a value for an ARG"},
		{"target", NULL, CLI_STR, &o.target, "STAGE",
		 "build up to this stage"},
		{"no-cache", NULL, CLI_BOOL, &o.no_cache, NULL,
		 "do not reuse the results of earlier builds"},
		{"network", NULL, CLI_STR, &o.network, "none|host|NAME",
		 "RUN's network (default host)"},
		{"progress", NULL, CLI_STR, &prog, "auto|plain|tty",
		 "plain lines, or a display drawn again in place on the "
		 "terminal (default auto: tty when stderr is a terminal)"},
		{"quiet", "q", CLI_BOOL, &quiet, NULL,
		 "print only the image id"},
		{"store", NULL, CLI_STR, &o.store, "DIR",
		 "image store (default $BERTH_STORE or " OCI_STORE_DEFAULT ")"},
		{"cgroup-parent", NULL, CLI_STR, &o.cgroup_parent, "PATH",
		 "the cgroup RUN's containers go below"},
		CLI_OPT_END,
	};
	int r = cli_parse(cli, opts, 0, argc, argv);
	if (r != CLI_CONTINUE)
		return r;
	if (cli->nargs != 1)
		return cli_error(
			"build: expected one CONTEXT directory (usage: "
			"berth build [options] CONTEXT)");
	bool tty = false;
	if (!quiet && (r = progress_mode(prog, &tty)) != 0)
		return r;
	o.context = cli->args[0];
	o.build_args = args;
	struct tty_view view = {.t0 = now_s()};
	if (quiet) {
		o.progress = NULL;
	} else if (tty) {
		o.progress = NULL;
		o.step_start = tty_start;
		o.step_end = tty_end;
		o.step_output = tty_output;
		o.data = &view;
	}
	if (!o.store || !o.store[0])
		o.store = getenv("BERTH_STORE");
	struct berr err = {0};
	_cleanup_free_ char *id = NULL;
	r = eng_build(&cli->ctx, &o, &id, &err);
	if (tty)
		tty_finish(&view);
	if (r < 0)
		return cli_fail(r, &err);
	printf("%s\n", id);
	return 0;
}
